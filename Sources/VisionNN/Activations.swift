import VisionCore

public final class ReLU: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.relu() }
}

public final class LeakyReLU: Module {
    public let negativeSlope: Float
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
    public override func forward(_ input: Tensor) -> Tensor { input.leakyRelu(negativeSlope: negativeSlope) }
}

public final class ELU: Module {
    public let alpha: Float
    public init(alpha: Float = 1) { self.alpha = alpha }
    public override func forward(_ input: Tensor) -> Tensor { input.elu(alpha: alpha) }
}

public final class SELU: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.selu() }
}

/// Parametric ReLU with one learned slope per channel (`numParameters` = channels, or 1 shared).
public final class PReLU: Module {
    public let weight: Tensor

    public init(numParameters: Int = 1, initial: Float = 0.25) {
        weight = Tensor.full([numParameters], initial)
        super.init()
        registerParameter("weight", weight)
    }

    public override func forward(_ input: Tensor) -> Tensor { prelu(input, weight: weight) }
}

public final class Sigmoid: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.sigmoid() }
}

public final class Tanh: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.tanh() }
}

public final class SiLU: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.silu() }
}

/// GELU; `approximate: "tanh"` selects the tanh approximation, as `torch.nn.GELU(approximate=...)`.
public final class GELU: Module {
    public let approximate: String
    public init(approximate: String = "none") {
        precondition(["none", "tanh"].contains(approximate), "GELU: approximate must be \"none\" or \"tanh\", got \"\(approximate)\"")
        self.approximate = approximate
    }
    public override func forward(_ input: Tensor) -> Tensor { input.gelu(approximateTanh: approximate == "tanh") }
}

public final class Hardswish: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.hardswish() }
}

public final class Hardsigmoid: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.hardsigmoid() }
}

public final class ReLU6: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.relu6() }
}

public final class Softplus: Module {
    public let beta: Float, threshold: Float
    public init(beta: Float = 1, threshold: Float = 20) { self.beta = beta; self.threshold = threshold }
    public override func forward(_ input: Tensor) -> Tensor { input.softplus(beta: beta, threshold: threshold) }
}

public final class Mish: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.mish() }
}

public final class Softmax: Module {
    public let axis: Int
    public init(axis: Int = 1) { self.axis = axis }
    public override func forward(_ input: Tensor) -> Tensor { input.softmax(axis: axis) }
}

public final class LogSoftmax: Module {
    public let axis: Int
    public init(axis: Int = 1) { self.axis = axis }
    public override func forward(_ input: Tensor) -> Tensor { input.logSoftmax(axis: axis) }
}
