import VisionCore
import VisionNN

/// Options understood by every registry entry (each family reads the ones that apply).
public struct ModelOptions: Codable, Equatable, Sendable {
    public var numClasses: Int
    public var inChannels: Int
    /// ResNet stem; nil chooses `.small` when `inputSize` ≤ 64, else `.imagenet`.
    public var stem: Stem?
    /// VGG head; nil chooses `.small` when `inputSize` < 64 (1×1 features), else `.imagenet`.
    public var head: VGG.Head?
    /// U-Net base width and depth.
    public var base: Int
    public var depth: Int
    public var zeroInitResidual: Bool
    public var seed: UInt64
    /// The side of the (square) input images, used to choose stems and heads.
    public var inputSize: Int?

    public init(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem? = nil, head: VGG.Head? = nil,
                base: Int = 32, depth: Int = 4, zeroInitResidual: Bool = false, seed: UInt64 = 0, inputSize: Int? = nil) {
        self.numClasses = numClasses; self.inChannels = inChannels; self.stem = stem; self.head = head
        self.base = base; self.depth = depth; self.zeroInitResidual = zeroInitResidual; self.seed = seed
        self.inputSize = inputSize
    }

    var resolvedStem: Stem { stem ?? ((inputSize ?? 224) <= 64 ? .small : .imagenet) }
    var resolvedHead: VGG.Head { head ?? ((inputSize ?? 224) < 64 ? .small : .imagenet) }

    /// What makes these options (read from a file, perhaps edited) unfit to build `entry` for inputs of
    /// side `imageSize` (nil: any size): each names the field and value. Empty when they fit.
    public func problems(for entry: ModelEntry, imageSize: Int?) -> [String] {
        var found: [String] = []
        func check(_ ok: Bool, _ message: @autoclosure () -> String) { if !ok { found.append(message()) } }
        check((1...100_000).contains(numClasses), "modelOptions.numClasses \(numClasses) is not between 1 and 100000")
        check([1, 3].contains(inChannels), "modelOptions.inChannels \(inChannels) is not 1 or 3")
        check(inputSize.map { (1...4096).contains($0) } ?? true, "modelOptions.inputSize \(inputSize ?? 0) is not between 1 and 4096")
        if let size = imageSize {
            check(size >= entry.minimumInputSize, "\(entry.name) needs inputs of at least \(entry.minimumInputSize) pixels, the images are \(size)")
        }
        switch entry.family {
        case "unet":
            check((1...8).contains(depth), "modelOptions.depth \(depth) is not between 1 and 8")
            check((1...4096).contains(base) && (1...8).contains(depth) && base << depth <= 4096,
                  "modelOptions.base \(base) × 2^depth is not between 1 and 4096 channels")
        case "vgg":
            if resolvedHead == .small, let size = imageSize {
                check((32...63).contains(size), "a VGG with the small head takes 32–63 pixel inputs, the images are \(size)")
            }
        default: break
        }
        return found
    }
}

extension Stem: Codable {}
extension VGG.Head: Codable {}

public enum ModelError: Error, CustomStringConvertible {
    case unknownModel(String, available: [String])
    case inputTooSmall(model: String, size: Int, minimum: Int)

    public var description: String {
        switch self {
        case let .unknownModel(name, available):
            return "unknown model '\(name)'; available: \(available.joined(separator: ", "))"
        case let .inputTooSmall(model, size, minimum):
            return "\(model) needs inputs of at least \(minimum)×\(minimum) pixels, got \(size)×\(size)"
        }
    }
}

/// One buildable architecture.
public struct ModelEntry: Sendable {
    public let name: String
    public let family: String
    public let summary: String
    /// A typical input `[C, H, W]` for listing FLOPs.
    public let defaultInput: [Int]
    let make: @Sendable (ModelOptions) -> Module

    public func build(_ options: ModelOptions) -> Module { make(options) }

    /// The smallest input side the network accepts: VGG's five 2×2 max-pools need 32 pixels; the
    /// others pad (ResNet stems, U-Net) and take any size.
    public var minimumInputSize: Int { family == "vgg" ? 32 : 1 }

    /// Throws `ModelError.inputTooSmall` for a side below `minimumInputSize`.
    public func checkInputSize(_ size: Int) throws {
        if size < minimumInputSize { throw ModelError.inputTooSmall(model: name, size: size, minimum: minimumInputSize) }
    }
}

/// Builds any zoo model by name.
public enum ModelRegistry {
    public static let entries: [ModelEntry] = {
        var list: [ModelEntry] = []
        let resnets: [(String, String, @Sendable (Int, Int, Stem, Bool, UInt64) -> ResNet)] = [
            ("resnet18", "ResNet (He et al. 2015), BasicBlock [2,2,2,2]", { resnet18(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnet34", "ResNet (He et al. 2015), BasicBlock [3,4,6,3]", { resnet34(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnet50", "ResNet (He et al. 2015), Bottleneck [3,4,6,3]", { resnet50(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnet101", "ResNet (He et al. 2015), Bottleneck [3,4,23,3]", { resnet101(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnet152", "ResNet (He et al. 2015), Bottleneck [3,8,36,3]", { resnet152(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnext50_32x4d", "ResNeXt (Xie et al. 2017), Bottleneck [3,4,6,3], 32 groups × 4", { resnext50_32x4d(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnext101_32x8d", "ResNeXt (Xie et al. 2017), Bottleneck [3,4,23,3], 32 groups × 8", { resnext101_32x8d(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("resnext101_64x4d", "ResNeXt (Xie et al. 2017), Bottleneck [3,4,23,3], 64 groups × 4", { resnext101_64x4d(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("wide_resnet50_2", "Wide ResNet (Zagoruyko & Komodakis 2016), Bottleneck [3,4,6,3], 2× inner width", { wide_resnet50_2(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
            ("wide_resnet101_2", "Wide ResNet (Zagoruyko & Komodakis 2016), Bottleneck [3,4,23,3], 2× inner width", { wide_resnet101_2(numClasses: $0, inChannels: $1, stem: $2, zeroInitResidual: $3, seed: $4) }),
        ]
        for (name, summary, make) in resnets {
            list.append(ModelEntry(name: name, family: "resnet", summary: summary,
                                   defaultInput: [3, 224, 224]) { o in
                make(o.numClasses, o.inChannels, o.resolvedStem, o.zeroInitResidual, o.seed)
            })
        }
        for depth in [20, 32, 44, 56, 110] {
            list.append(ModelEntry(name: "resnet\(depth)", family: "cifar-resnet",
                                   summary: "CIFAR ResNet-\(depth) (He et al. 2015 §4.2), 16-32-64 channels",
                                   defaultInput: [3, 32, 32]) { o in
                CIFARResNet(depth: depth, numClasses: o.numClasses, inChannels: o.inChannels, seed: o.seed)
            })
        }
        for depth in [11, 13, 16, 19] {
            for bn in [false, true] {
                list.append(ModelEntry(name: "vgg\(depth)\(bn ? "_bn" : "")", family: "vgg",
                                       summary: "VGG-\(depth)\(bn ? " with batch-norm" : "") (Simonyan & Zisserman 2014)",
                                       defaultInput: [3, 224, 224]) { o in
                    VGG(depth: depth, batchNorm: bn, numClasses: o.numClasses, inChannels: o.inChannels,
                        head: o.resolvedHead, seed: o.seed)
                })
            }
        }
        list.append(ModelEntry(name: "unet", family: "unet", summary: "U-Net (Ronneberger et al. 2015), BN, transposed-conv up",
                               defaultInput: [1, 256, 256]) { o in
            UNet(inChannels: o.inChannels, numClasses: o.numClasses, base: o.base, depth: o.depth, seed: o.seed)
        })
        return list
    }()

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> ModelEntry {
        guard let e = entries.first(where: { $0.name == name.lowercased() }) else {
            throw ModelError.unknownModel(name, available: names)
        }
        return e
    }

    /// Builds `name`, refusing an `options.inputSize` the network cannot take.
    public static func build(_ name: String, options: ModelOptions = ModelOptions()) throws -> Module {
        let e = try entry(name)
        if let size = options.inputSize { try e.checkInputSize(size) }
        return e.build(options)
    }

    /// Forward FLOPs for one input of shape `[C, H, W]`: 2 × multiply-adds of every convolution,
    /// transposed convolution and linear layer (batch-norm, activations and pooling are not counted).
    public static func flops(of model: Module, input: [Int]) throws -> Int {
        let layers = model.namedModules().filter { $0.module is Conv2d || $0.module is ConvTranspose2d || $0.module is Linear }
        let outputs = try Autograd.noGrad {
            try model.captureOutputs(of: layers.map(\.name)) {
                let wasTraining = model.isTraining
                model.eval()
                _ = model(Tensor.zeros([1] + input))
                model.train(wasTraining)
            }
        }
        var total = 0
        for (name, module) in layers {
            guard let out = outputs[name] else { continue }
            if let conv = module as? Conv2d {
                total += 2 * out.count * (conv.inChannels / conv.groups) * conv.kernelSize.0 * conv.kernelSize.1
            } else if let convT = module as? ConvTranspose2d {
                let inH = (out.shape[2] + 2 * convT.padding.0 - convT.kernelSize.0 - convT.outputPadding.0) / convT.stride.0 + 1
                let inW = (out.shape[3] + 2 * convT.padding.1 - convT.kernelSize.1 - convT.outputPadding.1) / convT.stride.1 + 1
                total += 2 * convT.inChannels * inH * inW * convT.outChannels * convT.kernelSize.0 * convT.kernelSize.1
            } else if let fc = module as? Linear {
                total += 2 * fc.inFeatures * fc.outFeatures
            }
        }
        return total
    }
}
