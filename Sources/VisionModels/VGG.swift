import VisionCore
import VisionNN

/// VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks", 2014) with torchvision's keys:
/// `features.N.*` where N counts every conv, batch-norm, ReLU and pool slot, and
/// `classifier.{0,3,6}.*` (ImageNet head) or `classifier.*` (small-image head: one Linear(512, classes)).
public final class VGG: Module {
    /// Configuration tables: channel counts, `nil` = 2×2 max-pool.
    public static let configurations: [Int: [Int?]] = [
        11: [64, nil, 128, nil, 256, 256, nil, 512, 512, nil, 512, 512, nil],
        13: [64, 64, nil, 128, 128, nil, 256, 256, nil, 512, 512, nil, 512, 512, nil],
        16: [64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil, 512, 512, 512, nil],
        19: [64, 64, nil, 128, 128, nil, 256, 256, 256, 256, nil, 512, 512, 512, 512, nil, 512, 512, 512, 512, nil],
    ]

    /// `imagenet`: adaptive 7×7 pool + three Linear layers with dropout 0.5 (any input of at least 32×32).
    /// `small`: flatten the 512×1×1 features of a 32–63 pixel input into one Linear(512, classes).
    public enum Head: String, Sendable, CaseIterable { case imagenet, small }

    public let depth: Int, batchNorm: Bool, head: Head, numClasses: Int, inChannels: Int
    let features: Sequential
    let avgpool: Module
    public private(set) var classifier: Module

    public init(depth: Int, batchNorm: Bool, numClasses: Int = 1000, inChannels: Int = 3, head: Head = .imagenet,
                dropout: Float = 0.5, seed: UInt64 = 0) {
        guard let config = VGG.configurations[depth] else { preconditionFailure("VGG depth must be 11, 13, 16 or 19, got \(depth)") }
        var g = SeededGenerator(seed: seed)
        self.depth = depth; self.batchNorm = batchNorm; self.head = head
        self.numClasses = numClasses; self.inChannels = inChannels
        var layers: [Module] = []
        var channels = inChannels
        for entry in config {
            if let width = entry {
                layers.append(Conv2d(channels, width, kernelSize: 3, padding: 1, generator: &g))
                if batchNorm { layers.append(BatchNorm2d(width)) }
                layers.append(ReLU())
                channels = width
            } else {
                layers.append(MaxPool2d(2, stride: 2))
            }
        }
        features = Sequential(layers)
        switch head {
        case .imagenet:
            avgpool = AdaptiveAvgPool2d((7, 7))
            classifier = Sequential(Linear(512 * 7 * 7, 4096, generator: &g), ReLU(), Dropout(p: dropout, seed: seed &+ 1),
                                    Linear(4096, 4096, generator: &g), ReLU(), Dropout(p: dropout, seed: seed &+ 2),
                                    Linear(4096, numClasses, generator: &g))
        case .small:
            avgpool = Identity()
            classifier = Linear(512, numClasses, generator: &g)
        }
        super.init()
        registerModule("features", features)
        registerModule("avgpool", avgpool)
        registerModule("classifier", classifier)
        initialiseConvolutionsAndNorms(self, generator: &g)
        for (_, m) in classifier.namedModules() {
            if let l = m as? Linear {
                Init.normal(l.weight, mean: 0, std: 0.01, generator: &g)
                if let b = l.bias { Init.constant(b, 0) }
            }
        }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inChannels,
                     "VGG expects [N, \(inChannels), H, W], got \(input.shape)")
        let x = avgpool(features(input)).flatten(startAxis: 1)
        if head == .small {
            precondition(x.shape[1] == 512, "VGG small head expects 512×1×1 features (32–63 pixel input), got \(x.shape[1]) values")
        }
        return classifier(x)
    }

    /// Replaces the last Linear layer for `numClasses` outputs.
    public func replaceHead(numClasses: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        if let seq = classifier as? Sequential, let last = seq.layers.last as? Linear {
            let fresh = Linear(last.inFeatures, numClasses, generator: &g)
            seq.replace(at: seq.layers.count - 1, with: fresh)
        } else if let l = classifier as? Linear {
            classifier = Linear(l.inFeatures, numClasses, generator: &g)
            registerModule("classifier", classifier)
        }
    }
}
