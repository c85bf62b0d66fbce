import VisionCore

/// 2-D convolution over NCHW input (cross-correlation, as PyTorch).
///
/// Weight `[outChannels, inChannels/groups, kh, kw]`, optional bias `[outChannels]`. Initialised as
/// PyTorch does by default: U(−1/√fanIn, 1/√fanIn) for both weight and bias.
public final class Conv2d: Module {
    public let inChannels: Int, outChannels: Int
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                bias: Bool = true, generator: inout SeededGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d channels \(inChannels)→\(outChannels) not divisible by groups \(groups)")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding; self.dilation = dilation
        self.groups = groups
        weight = Tensor.zeros([outChannels, inChannels / groups, kernelSize.0, kernelSize.1])
        self.bias = bias ? Tensor.zeros([outChannels]) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
        Init.pytorchDefault(weight: weight, bias: self.bias, generator: &generator)
    }

    /// Square kernel, stride, padding and dilation.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                            generator: inout SeededGenerator) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias,
                  generator: &generator)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank == 4 && input.shape[1] == inChannels,
                     "Conv2d expects [N, \(inChannels), H, W], got \(input.shape)")
        return conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                      dilation: dilation, groups: groups)
    }
}

/// Transposed 2-D convolution (the adjoint of `Conv2d`); weight `[inChannels, outChannels/groups, kh, kw]`.
public final class ConvTranspose2d: Module {
    public let inChannels: Int, outChannels: Int
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int)
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), bias: Bool = true,
                generator: inout SeededGenerator) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding; self.outputPadding = outputPadding
        weight = Tensor.zeros([inChannels, outChannels, kernelSize.0, kernelSize.1])
        self.bias = bias ? Tensor.zeros([outChannels]) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
        // PyTorch computes fan_in from weight.shape[1] · receptive field for transposed convs too.
        Init.pytorchDefault(weight: weight, bias: self.bias, generator: &generator)
    }

    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Int = 0, outputPadding: Int = 0, bias: Bool = true,
                            generator: inout SeededGenerator) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), outputPadding: (outputPadding, outputPadding), bias: bias,
                  generator: &generator)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank == 4 && input.shape[1] == inChannels,
                     "ConvTranspose2d expects [N, \(inChannels), H, W], got \(input.shape)")
        return convTranspose2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                               outputPadding: outputPadding)
    }
}

/// Fully connected layer `y = x·Wᵀ + b`, weight `[outFeatures, inFeatures]`.
public final class Linear: Module {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout SeededGenerator) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = Tensor.zeros([outFeatures, inFeatures])
        self.bias = bias ? Tensor.zeros([outFeatures]) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
        Init.pytorchDefault(weight: weight, bias: self.bias, generator: &generator)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        requireShape(input.rank == 2 && input.shape[1] == inFeatures,
                     "Linear expects [N, \(inFeatures)], got \(input.shape)")
        return linear(input, weight: weight, bias: bias)
    }
}
