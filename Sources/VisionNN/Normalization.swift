import VisionCore

/// Batch normalisation over the channel axis of `[N, C, H, W]` (or `[N, C]`).
///
/// Training uses batch statistics and updates `running_mean` / `running_var` with `momentum`
/// (PyTorch convention, unbiased variance); evaluation uses the running statistics.
/// Keys: `weight`, `bias`, `running_mean`, `running_var` (and `num_batches_tracked` is ignored on load).
public final class BatchNorm2d: Module {
    public let numFeatures: Int
    public let eps: Float, momentum: Float
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor
    /// When true the running statistics are used even in training mode (a frozen backbone).
    public var freezeStatistics = false

    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        self.numFeatures = numFeatures; self.eps = eps; self.momentum = momentum
        weight = Tensor.ones([numFeatures]); bias = Tensor.zeros([numFeatures])
        runningMean = Tensor.zeros([numFeatures]); runningVar = Tensor.ones([numFeatures])
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank >= 2 && input.shape[1] == numFeatures,
                     "BatchNorm2d expects [N, \(numFeatures), …], got \(input.shape)")
        return batchNorm2d(input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                           training: isTraining && !freezeStatistics, momentum: momentum, eps: eps)
    }
}

/// Group normalisation (`groupNorm`), PyTorch's `nn.GroupNorm(num_groups, num_channels, eps, affine)`:
/// statistics per sample and group of channels, the same in training and evaluation, so it suits small
/// batches. Keys: `weight`, `bias` (when `affine`).
public final class GroupNorm: Module {
    public let numGroups: Int, numChannels: Int
    public let eps: Float
    public let weight: Tensor?, bias: Tensor?

    public init(numGroups: Int, numChannels: Int, eps: Float = 1e-5, affine: Bool = true) {
        requireShape(numGroups > 0 && numChannels % numGroups == 0,
                     "GroupNorm: \(numChannels) channels do not split into \(numGroups) groups")
        self.numGroups = numGroups; self.numChannels = numChannels; self.eps = eps
        (weight, bias) = affine ? (Tensor.ones([numChannels]), Tensor.zeros([numChannels])) : (nil, nil)
        super.init()
        registerAffine(weight, bias)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank >= 2 && input.shape[1] == numChannels,
                     "GroupNorm expects [N, \(numChannels), …], got \(input.shape)")
        return groupNorm(input, groups: numGroups, weight: weight, bias: bias, eps: eps)
    }
}

extension Module {
    /// Registers a normalisation layer's optional per-channel scale and shift as `weight` and `bias`.
    fileprivate func registerAffine(_ weight: Tensor?, _ bias: Tensor?) {
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
    }
}

/// Instance normalisation, PyTorch's `nn.InstanceNorm2d(num_features, eps, affine)` with its default
/// `track_running_stats=False`: each sample's channel normalised over its own pixels (group
/// normalisation with one channel per group), on `[N, C, H, W]` or unbatched `[C, H, W]`. Keys: `weight`, `bias` (when `affine`; off by default, as in PyTorch).
public final class InstanceNorm2d: Module {
    public let numFeatures: Int
    public let eps: Float
    public let weight: Tensor?, bias: Tensor?

    public init(_ numFeatures: Int, eps: Float = 1e-5, affine: Bool = false) {
        self.numFeatures = numFeatures; self.eps = eps
        (weight, bias) = affine ? (Tensor.ones([numFeatures]), Tensor.zeros([numFeatures])) : (nil, nil)
        super.init()
        registerAffine(weight, bias)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape((input.rank == 4 && input.shape[1] == numFeatures) || (input.rank == 3 && input.shape[0] == numFeatures),
                     "InstanceNorm2d expects [N, \(numFeatures), H, W] or [\(numFeatures), H, W], got \(input.shape)")
        // As PyTorch, an unbatched [C, H, W] input is one sample.
        if input.rank == 3 { return forward(input.reshape([1] + input.shape)).reshape(input.shape) }
        // As PyTorch: one pixel per channel would normalise to the bias alone.
        requireShape(input.shape[2] * input.shape[3] > 1,
                     "InstanceNorm2d needs more than one pixel per channel, got \(input.shape)")
        return groupNorm(input, groups: numFeatures, weight: weight, bias: bias, eps: eps)
    }
}

/// Layer normalisation (`layerNorm`), PyTorch's `nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias)`:
/// statistics over the last `normalizedShape.count` dimensions of the input, the same in training and
/// evaluation. Keys: `weight` (when `elementwiseAffine`), `bias` (when `elementwiseAffine` and `bias`), both of
/// shape `normalizedShape`.
public final class LayerNorm: Module {
    public let normalizedShape: [Int]
    public let eps: Float
    public let weight: Tensor?, bias: Tensor?

    public init(_ normalizedShape: [Int], eps: Float = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        requireShape(!normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 },
                     "LayerNorm: normalised shape \(normalizedShape) must be non-empty with positive sizes")
        self.normalizedShape = normalizedShape; self.eps = eps
        weight = elementwiseAffine ? Tensor.ones(normalizedShape) : nil
        self.bias = elementwiseAffine && bias ? Tensor.zeros(normalizedShape) : nil
        super.init()
        registerAffine(weight, self.bias)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank >= normalizedShape.count && Array(input.shape.suffix(normalizedShape.count)) == normalizedShape,
                     "LayerNorm expects […, \(normalizedShape.map(String.init).joined(separator: ", "))], got \(input.shape)")
        return layerNorm(input, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }
}

/// A layer that draws random numbers in training (dropout and its kin) from its own generator, which a trainer
/// reseeds per epoch so that a resumed run draws the same numbers and no two layers draw in step.
public protocol RandomLayer: AnyObject {
    var generator: SeededGenerator { get set }
}

/// Inverted dropout: zeroes elements with probability `p` and scales the rest by 1/(1−p) in training
/// (`p = 1` zeroes everything, as PyTorch).
public final class Dropout: Module, RandomLayer {
    public let p: Float
    public var generator: SeededGenerator

    public init(p: Float = 0.5, seed: UInt64 = 0) {
        requireShape(p >= 0 && p <= 1, "Dropout probability must be in [0, 1], got \(p)")
        self.p = p
        generator = SeededGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        dropout(input, p: p, training: isTraining, generator: &generator)
    }
}

/// Channel dropout (`dropout2d`), PyTorch's `nn.Dropout2d`: whole feature maps zeroed with probability `p`
/// in training, the rest scaled by 1/(1−p) (`p = 1` zeroes everything); identity in evaluation.
public final class Dropout2d: Module, RandomLayer {
    public let p: Float
    public var generator: SeededGenerator

    public init(p: Float = 0.5, seed: UInt64 = 0) {
        requireShape(p >= 0 && p <= 1, "Dropout2d probability must be in [0, 1], got \(p)")
        self.p = p
        generator = SeededGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank == 4, "Dropout2d expects [N, C, H, W], got \(input.shape)")
        return dropout2d(input, p: p, training: isTraining, generator: &generator)
    }
}

/// Stochastic depth (`stochasticDepth`), torchvision's `ops.StochasticDepth(p, mode)`: in training, drops the
/// input per sample (`.row`) or per batch with probability `p`, survivors scaled by 1/(1−p); identity in
/// evaluation. Placed on a residual branch it skips the branch.
public final class StochasticDepth: Module, RandomLayer {
    public let p: Float
    public let mode: StochasticDepthMode
    public var generator: SeededGenerator

    public init(p: Float, mode: StochasticDepthMode = .row, seed: UInt64 = 0) {
        requireShape(p >= 0 && p <= 1, "StochasticDepth probability must be in [0, 1], got \(p)")
        self.p = p; self.mode = mode
        generator = SeededGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank >= 1, "StochasticDepth needs a batch axis, got \(input.shape)")
        return stochasticDepth(input, p: p, mode: mode, training: isTraining, generator: &generator)
    }
}

/// DropBlock (`dropBlock2d`), torchvision's `ops.DropBlock2d(p, block_size, eps)`: in training, zeroes
/// `blockSize × blockSize` squares of each feature map (about a fraction `p` of the units) and rescales;
/// identity in evaluation.
public final class DropBlock2d: Module, RandomLayer {
    public let p: Float
    public let blockSize: Int
    public let eps: Float
    public var generator: SeededGenerator

    public init(p: Float, blockSize: Int, eps: Float = 1e-6, seed: UInt64 = 0) {
        requireShape(p >= 0 && p <= 1, "DropBlock2d probability must be in [0, 1], got \(p)")
        requireShape(blockSize > 0 && blockSize % 2 == 1, "DropBlock2d block size must be positive and odd, got \(blockSize)")
        self.p = p; self.blockSize = blockSize; self.eps = eps
        generator = SeededGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank == 4, "DropBlock2d expects [N, C, H, W], got \(input.shape)")
        return dropBlock2d(input, p: p, blockSize: blockSize, eps: eps, training: isTraining, generator: &generator)
    }
}
