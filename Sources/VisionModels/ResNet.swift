import VisionCore
import VisionNN

/// A residual block: `BasicBlock` (two 3×3 convs, expansion 1) or `Bottleneck` (1×1, 3×3, 1×1,
/// expansion 4, stride on the 3×3 as in torchvision "ResNet v1.5").
protocol ResidualBlock: Module {
    static var expansion: Int { get }
    /// `groups` and `widthPerGroup` set the bottleneck's inner width (ResNeXt, Wide ResNet); the basic block
    /// takes only 1 and 64, as torchvision's does.
    init(inChannels: Int, planes: Int, stride: Int, groups: Int, widthPerGroup: Int, downsample: Module?,
         generator: inout SeededGenerator)
    /// The batch-norm zeroed by `zeroInitResidual`.
    var lastNorm: BatchNorm2d { get }
}

/// He et al. 2015 basic block; keys `conv1`, `bn1`, `conv2`, `bn2`, `downsample.{0,1}`.
public final class BasicBlock: Module, ResidualBlock {
    static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let relu = ReLU()
    let downsample: Module?
    var lastNorm: BatchNorm2d { bn2 }

    init(inChannels: Int, planes: Int, stride: Int, groups: Int = 1, widthPerGroup: Int = 64, downsample: Module?,
         generator: inout SeededGenerator) {
        precondition(groups == 1 && widthPerGroup == 64, "BasicBlock takes only groups 1 and width per group 64")
        conv1 = conv3x3(inChannels, planes, stride: stride, generator: &generator)
        bn1 = BatchNorm2d(planes)
        conv2 = conv3x3(planes, planes, generator: &generator)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        super.init()
        registerModule("conv1", conv1); registerModule("bn1", bn1); registerModule("relu", relu)
        registerModule("conv2", conv2); registerModule("bn2", bn2)
        if let downsample { registerModule("downsample", downsample) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        // relu(bn(conv(·))) and relu(bn(conv(·)) + identity), fused in eval mode (`convBatchNorm`).
        let out = convBatchNorm(input, conv1, bn1, relu: relu)
        let identity = downsample.map { $0(input) } ?? input
        return convBatchNorm(out, conv2, bn2, residual: identity, relu: relu)
    }
}

/// Bottleneck block; keys `conv1..3`, `bn1..3`, `downsample.{0,1}`. Its inner width is
/// `planes · widthPerGroup / 64 · groups` and the 3×3 convolution has `groups` groups (torchvision's rule:
/// 1 × 64 is ResNet, 32 × 4 ResNeXt-50 32×4d, 1 × 128 Wide ResNet-50-2).
public final class Bottleneck: Module, ResidualBlock {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let relu = ReLU()
    let downsample: Module?
    var lastNorm: BatchNorm2d { bn3 }

    init(inChannels: Int, planes: Int, stride: Int, groups: Int, widthPerGroup: Int, downsample: Module?,
         generator: inout SeededGenerator) {
        let width = planes * widthPerGroup / 64 * groups
        conv1 = conv1x1(inChannels, width, generator: &generator)
        bn1 = BatchNorm2d(width)
        conv2 = Conv2d(width, width, kernelSize: 3, stride: stride, padding: 1, groups: groups, bias: false,
                       generator: &generator)
        bn2 = BatchNorm2d(width)
        conv3 = conv1x1(width, planes * Bottleneck.expansion, generator: &generator)
        bn3 = BatchNorm2d(planes * Bottleneck.expansion)
        self.downsample = downsample
        super.init()
        registerModule("conv1", conv1); registerModule("bn1", bn1)
        registerModule("conv2", conv2); registerModule("bn2", bn2)
        registerModule("conv3", conv3); registerModule("bn3", bn3); registerModule("relu", relu)
        if let downsample { registerModule("downsample", downsample) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var out = convBatchNorm(input, conv1, bn1, relu: relu)
        out = convBatchNorm(out, conv2, bn2, relu: relu)
        let identity = downsample.map { $0(input) } ?? input
        return convBatchNorm(out, conv3, bn3, residual: identity, relu: relu)
    }
}

/// ResNet (He et al., "Deep Residual Learning for Image Recognition", 2015) laid out and named
/// exactly as torchvision: `conv1`, `bn1`, `relu`, `maxpool`, `layer1..4`, `avgpool`, `fc`.
public final class ResNet: Module {
    public let stem: Stem
    public let numClasses: Int
    public let inChannels: Int
    let conv1: Conv2d, bn1: BatchNorm2d, relu = ReLU(), maxpool: Module
    let layers: [Sequential]
    let avgpool = AdaptiveAvgPool2d((1, 1))
    /// The classification head (replaceable for fine-tuning).
    public private(set) var fc: Linear

    init<Block: ResidualBlock>(block: Block.Type, layerCounts: [Int], numClasses: Int, inChannels: Int,
                               stem: Stem, groups: Int = 1, widthPerGroup: Int = 64, zeroInitResidual: Bool,
                               seed: UInt64) {
        precondition(!layerCounts.isEmpty && layerCounts.allSatisfy { $0 > 0 }, "ResNet: layer counts \(layerCounts) must be positive")
        precondition(groups > 0 && widthPerGroup > 0,
                     "ResNet: groups \(groups) and width per group \(widthPerGroup) must be positive")
        var g = SeededGenerator(seed: seed)
        self.stem = stem; self.numClasses = numClasses; self.inChannels = inChannels
        switch stem {
        case .imagenet:
            conv1 = Conv2d(inChannels, 64, kernelSize: 7, stride: 2, padding: 3, bias: false, generator: &g)
            maxpool = MaxPool2d(3, stride: 2, padding: 1)
        case .small:
            conv1 = Conv2d(inChannels, 64, kernelSize: 3, stride: 1, padding: 1, bias: false, generator: &g)
            maxpool = Identity()
        }
        bn1 = BatchNorm2d(64)
        var channels = 64
        var built: [Sequential] = []
        for (i, count) in layerCounts.enumerated() {
            let planes = 64 << i
            let stride = i == 0 ? 1 : 2
            var blocks: [Module] = []
            for j in 0..<count {
                let s = j == 0 ? stride : 1
                var downsample: Module?
                if j == 0 && (s != 1 || channels != planes * Block.expansion) {
                    downsample = Sequential(conv1x1(channels, planes * Block.expansion, stride: s, generator: &g),
                                            BatchNorm2d(planes * Block.expansion))
                }
                blocks.append(Block(inChannels: channels, planes: planes, stride: s, groups: groups,
                                    widthPerGroup: widthPerGroup, downsample: downsample, generator: &g))
                channels = planes * Block.expansion
            }
            built.append(Sequential(blocks))
        }
        layers = built
        fc = Linear(channels, numClasses, generator: &g)
        super.init()
        registerModule("conv1", conv1); registerModule("bn1", bn1); registerModule("relu", relu)
        registerModule("maxpool", maxpool)
        for (i, layer) in layers.enumerated() { registerModule("layer\(i + 1)", layer) }
        registerModule("avgpool", avgpool)
        registerModule("fc", fc)
        initialiseConvolutionsAndNorms(self, generator: &g)
        if zeroInitResidual {
            for (_, m) in namedModules() { if let b = m as? any ResidualBlock { Init.constant(b.lastNorm.weight, 0) } }
        }
    }

    /// Features before the head: `[N, 512·expansion]`.
    public func features(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inChannels,
                     "ResNet expects [N, \(inChannels), H, W], got \(input.shape)")
        var x = maxpool(convBatchNorm(input, conv1, bn1, relu: relu))
        for layer in layers { x = layer(x) }
        return avgpool(x).flatten(startAxis: 1)
    }

    public override func forward(_ input: Tensor) -> Tensor { fc(features(input)) }

    /// Replaces `fc` with a fresh `Linear` for `numClasses` outputs (transfer learning).
    public func replaceHead(numClasses: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        fc = Linear(fc.inFeatures, numClasses, generator: &g)
        registerModule("fc", fc)
    }
}

/// The CIFAR ResNets of He et al. 2015 (§4.2): 6n+2 layers, 16-32-64 channels, 3×3 stem, global
/// average pool and `fc`; shortcuts are parameter-free ("option A": subsample and zero-pad channels).
/// Keys: `conv1`, `bn1`, `layer1..3.{i}.{conv1,bn1,conv2,bn2}`, `fc`.
public final class CIFARResNet: Module {
    public let numClasses: Int
    public let inChannels: Int
    let conv1: Conv2d, bn1: BatchNorm2d, relu = ReLU()
    let layers: [Sequential]
    let avgpool = AdaptiveAvgPool2d((1, 1))
    public private(set) var fc: Linear

    public init(depth: Int, numClasses: Int = 10, inChannels: Int = 3, seed: UInt64 = 0) {
        precondition((depth - 2) % 6 == 0, "CIFAR ResNet depth must be 6n+2, got \(depth)")
        let n = (depth - 2) / 6
        var g = SeededGenerator(seed: seed)
        self.numClasses = numClasses; self.inChannels = inChannels
        conv1 = Conv2d(inChannels, 16, kernelSize: 3, padding: 1, bias: false, generator: &g)
        bn1 = BatchNorm2d(16)
        var channels = 16
        var built: [Sequential] = []
        for stage in 0..<3 {
            let planes = 16 << stage
            var blocks: [Module] = []
            for j in 0..<n {
                let stride = stage > 0 && j == 0 ? 2 : 1
                let shortcut: Module? = stride != 1 || channels != planes
                    ? PadShortcut(outChannels: planes, stride: stride) : nil
                blocks.append(BasicBlock(inChannels: channels, planes: planes, stride: stride, downsample: shortcut,
                                         generator: &g))
                channels = planes
            }
            built.append(Sequential(blocks))
        }
        layers = built
        fc = Linear(64, numClasses, generator: &g)
        super.init()
        registerModule("conv1", conv1); registerModule("bn1", bn1); registerModule("relu", relu)
        for (i, layer) in layers.enumerated() { registerModule("layer\(i + 1)", layer) }
        registerModule("avgpool", avgpool)
        registerModule("fc", fc)
        initialiseConvolutionsAndNorms(self, generator: &g)
        // The paper's CIFAR setting initialises the head as He et al. do for all layers.
    }

    public func features(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inChannels,
                     "CIFAR ResNet expects [N, \(inChannels), H, W], got \(input.shape)")
        var x = convBatchNorm(input, conv1, bn1, relu: relu)
        for layer in layers { x = layer(x) }
        return avgpool(x).flatten(startAxis: 1)
    }

    public override func forward(_ input: Tensor) -> Tensor { fc(features(input)) }

    public func replaceHead(numClasses: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        fc = Linear(fc.inFeatures, numClasses, generator: &g)
        registerModule("fc", fc)
    }
}

/// Option-A shortcut: take every `stride`-th pixel and zero-pad the channels up to `outChannels`.
final class PadShortcut: Module {
    let outChannels: Int, stride: Int

    init(outChannels: Int, stride: Int) {
        self.outChannels = outChannels; self.stride = stride
    }

    override func forward(_ input: Tensor) -> Tensor {
        // A 1×1 max-pool with stride s is exactly strided subsampling (and routes the gradient back).
        let sub = stride == 1 ? input : maxPool2d(input, kernelSize: (1, 1), stride: (stride, stride))
        let missing = outChannels - sub.shape[1]
        if missing <= 0 { return sub }
        let before = missing / 2
        var parts: [Tensor] = []
        if before > 0 { parts.append(Tensor.zeros([sub.shape[0], before, sub.shape[2], sub.shape[3]])) }
        parts.append(sub)
        parts.append(Tensor.zeros([sub.shape[0], missing - before, sub.shape[2], sub.shape[3]]))
        return Tensor.concat(parts, axis: 1)
    }
}

// MARK: - Builders

public func resnet18(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: BasicBlock.self, layerCounts: [2, 2, 2, 2], numClasses: numClasses, inChannels: inChannels, stem: stem, zeroInitResidual: zeroInitResidual, seed: seed)
}
public func resnet34(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: BasicBlock.self, layerCounts: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, zeroInitResidual: zeroInitResidual, seed: seed)
}
public func resnet50(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, zeroInitResidual: zeroInitResidual, seed: seed)
}
public func resnet101(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 23, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, zeroInitResidual: zeroInitResidual, seed: seed)
}
public func resnet152(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 8, 36, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, zeroInitResidual: zeroInitResidual, seed: seed)
}

/// ResNeXt-50 32×4d (Xie et al. 2017): ResNet-50 with 32 groups of width 4 in each bottleneck's 3×3 convolution.
public func resnext50_32x4d(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, groups: 32, widthPerGroup: 4, zeroInitResidual: zeroInitResidual, seed: seed)
}
/// ResNeXt-101 32×8d.
public func resnext101_32x8d(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 23, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, groups: 32, widthPerGroup: 8, zeroInitResidual: zeroInitResidual, seed: seed)
}
/// ResNeXt-101 64×4d.
public func resnext101_64x4d(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 23, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, groups: 64, widthPerGroup: 4, zeroInitResidual: zeroInitResidual, seed: seed)
}
/// Wide ResNet-50-2 (Zagoruyko & Komodakis 2016, torchvision's variant): ResNet-50 with bottlenecks twice as wide.
public func wide_resnet50_2(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, widthPerGroup: 128, zeroInitResidual: zeroInitResidual, seed: seed)
}
/// Wide ResNet-101-2.
public func wide_resnet101_2(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    ResNet(block: Bottleneck.self, layerCounts: [3, 4, 23, 3], numClasses: numClasses, inChannels: inChannels, stem: stem, widthPerGroup: 128, zeroInitResidual: zeroInitResidual, seed: seed)
}

/// The residual block a `resnet(block:…)` network stacks.
public enum ResNetBlock: Sendable {
    /// Two 3×3 convolutions (ResNet-18/34).
    case basic
    /// 1×1, 3×3, 1×1 with expansion 4 (ResNet-50 and deeper, ResNeXt, Wide ResNet).
    case bottleneck
}

/// A torchvision-layout ResNet of any depths for its four stages, as torchvision's `ResNet(block, layers, groups=…,
/// width_per_group=…)` builds it; the named builders above are instances of it.
public func resnet(block: ResNetBlock, layers: [Int], numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet,
                   groups: Int = 1, widthPerGroup: Int = 64, zeroInitResidual: Bool = false, seed: UInt64 = 0) -> ResNet {
    precondition(layers.count == 4, "resnet: four stages of blocks, as torchvision's ResNet, got \(layers)")
    switch block {
    case .basic:
        return ResNet(block: BasicBlock.self, layerCounts: layers, numClasses: numClasses, inChannels: inChannels, stem: stem,
                      groups: groups, widthPerGroup: widthPerGroup, zeroInitResidual: zeroInitResidual, seed: seed)
    case .bottleneck:
        return ResNet(block: Bottleneck.self, layerCounts: layers, numClasses: numClasses, inChannels: inChannels, stem: stem,
                      groups: groups, widthPerGroup: widthPerGroup, zeroInitResidual: zeroInitResidual, seed: seed)
    }
}
