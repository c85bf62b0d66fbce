import VisionCore

public final class MaxPool2d: Module {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
    }

    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
    }

    public override func forward(_ input: Tensor) -> Tensor {
        maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

public final class AvgPool2d: Module {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)
    public let countIncludePad: Bool

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                countIncludePad: Bool = true) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
        self.countIncludePad = countIncludePad
    }

    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true) {
        self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                  countIncludePad: countIncludePad)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad)
    }
}

public final class AdaptiveAvgPool2d: Module {
    public let outputSize: (Int, Int)

    public init(_ outputSize: (Int, Int)) { self.outputSize = outputSize }

    public override func forward(_ input: Tensor) -> Tensor { adaptiveAvgPool2d(input, outputSize: outputSize) }
}

public final class Upsample: Module {
    public let scaleFactor: Int
    public let mode: UpsampleMode

    public init(scaleFactor: Int, mode: UpsampleMode = .nearest) {
        self.scaleFactor = scaleFactor; self.mode = mode
    }

    public override func forward(_ input: Tensor) -> Tensor { upsample(input, scaleFactor: scaleFactor, mode: mode) }
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
