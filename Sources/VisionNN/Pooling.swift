import VisionCore

/// 2-D max pooling (`maxPool2d`), PyTorch's `nn.MaxPool2d`.
public final class MaxPool2d: Module {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    public let ceilMode: Bool

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
        self.dilation = dilation; self.ceilMode = ceilMode
    }

    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1,
                            ceilMode: Bool = false) {
        self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                  dilation: (dilation, dilation), ceilMode: ceilMode)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
}

/// 2-D average pooling (`avgPool2d`), PyTorch's `nn.AvgPool2d`.
public final class AvgPool2d: Module {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)
    public let ceilMode: Bool, countIncludePad: Bool
    public let divisorOverride: Int?

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                ceilMode: Bool = false, countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
        self.ceilMode = ceilMode; self.countIncludePad = countIncludePad; self.divisorOverride = divisorOverride
    }

    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
                            countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                  ceilMode: ceilMode, countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                  countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }
}

public final class AdaptiveAvgPool2d: Module {
    public let outputSize: (Int, Int)

    public init(_ outputSize: (Int, Int)) { self.outputSize = outputSize }

    public override func forward(_ input: Tensor) -> Tensor { adaptiveAvgPool2d(input, outputSize: outputSize) }
}

public final class AdaptiveMaxPool2d: Module {
    public let outputSize: (Int, Int)

    public init(_ outputSize: (Int, Int)) { self.outputSize = outputSize }

    public override func forward(_ input: Tensor) -> Tensor { adaptiveMaxPool2d(input, outputSize: outputSize) }
}

/// Upsampling by an integer factor (`upsample`), PyTorch's `nn.Upsample(scale_factor=…)`;
/// `alignCorners` with `.bilinear` is `nn.UpsamplingBilinear2d`.
public final class Upsample: Module {
    public let scaleFactor: Int
    public let mode: UpsampleMode
    public let alignCorners: Bool

    public init(scaleFactor: Int, mode: UpsampleMode = .nearest, alignCorners: Bool = false) {
        self.scaleFactor = scaleFactor; self.mode = mode; self.alignCorners = alignCorners
    }

    public override func forward(_ input: Tensor) -> Tensor {
        upsample(input, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners)
    }
}

/// Flattens all axes after the first: `[N, C, H, W]` → `[N, C·H·W]`.
public final class Flatten: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.flatten(startAxis: 1) }
}

/// Passes its input through (a placeholder slot, e.g. a removed max-pool).
public final class Identity: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input }
}
