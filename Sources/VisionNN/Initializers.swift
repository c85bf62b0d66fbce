import Foundation
import VisionCore

/// Weight initialisers, in place on a tensor's storage, with PyTorch's formulas (`torch.nn.init`).
///
/// Fans follow PyTorch: for a weight of shape `[out, in, k₁, k₂, …]` the receptive field is
/// `k₁·k₂·…`, `fanIn = in·receptive` and `fanOut = out·receptive` (a ConvTranspose2d weight
/// `[C, K, kh, kw]` therefore has `fanIn = K·kh·kw`, as in PyTorch). Every draw comes from the
/// caller's `SeededGenerator`, in storage order, so one seed reproduces the same weights.
public enum Init {
    /// Which fan scales the variance: `fanIn` preserves it in the forward pass, `fanOut` in backward.
    public enum FanMode: Sendable { case fanIn, fanOut }

    /// The nonlinearity that follows the layer, for the recommended gain.
    public enum Nonlinearity: Sendable {
        case linear, relu, leakyRelu(negativeSlope: Float), tanh, sigmoid, selu

        /// `calculate_gain`: linear 1, ReLU √2, leaky ReLU √(2 / (1 + a²)), tanh 5/3, sigmoid 1, SELU 3/4.
        public var gain: Float {
            switch self {
            case .linear, .sigmoid: return 1
            case .relu: return Float(2).squareRoot()
            case let .leakyRelu(slope): return (2 / (1 + slope * slope)).squareRoot()
            case .tanh: return 5.0 / 3.0
            case .selu: return 0.75
            }
        }
    }

    /// `(fanIn, fanOut)` of a weight with at least two axes.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fans need a weight with at least 2 axes, got shape \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    // MARK: Xavier / Glorot (Glorot & Bengio 2010)

    /// `U(−b, b)` with `b = gain · √(6 / (fanIn + fanOut))`.
    public static func xavierUniform(_ t: Tensor, gain: Float = 1, generator: inout SeededGenerator) {
        let (fanIn, fanOut) = fans(t.shape)
        let bound = gain * (6 / Float(fanIn + fanOut)).squareRoot()
        uniform(t, low: -bound, high: bound, generator: &generator)
    }

    /// `N(0, σ²)` with `σ = gain · √(2 / (fanIn + fanOut))`.
    public static func xavierNormal(_ t: Tensor, gain: Float = 1, generator: inout SeededGenerator) {
        let (fanIn, fanOut) = fans(t.shape)
        normal(t, mean: 0, std: gain * (2 / Float(fanIn + fanOut)).squareRoot(), generator: &generator)
    }

    // MARK: Kaiming / He (He et al. 2015)

    /// `U(−b, b)` with `b = gain · √(3 / fan)`.
    ///
    /// As in PyTorch, `a` is the negative slope used when `nonlinearity` is leaky ReLU: the default
    /// `a: 0, nonlinearity: .leakyRelu(negativeSlope: 0)` gives the ReLU gain √2, and `a: √5` gives
    /// PyTorch's layer default `1/√fanIn`. A slope may be given either way, not two different ones.
    public static func kaimingUniform(_ t: Tensor, a: Float = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu(negativeSlope: 0),
                                      generator: inout SeededGenerator) {
        guard t.count > 0 else { return } // PyTorch: a no-op on zero-element tensors
        var resolved = nonlinearity
        if case let .leakyRelu(slope) = nonlinearity, a != 0 {
            precondition(slope == 0 || slope == a, "kaimingUniform got slope a = \(a) and leakyRelu(\(slope))")
            resolved = .leakyRelu(negativeSlope: a)
        }
        let bound = resolved.gain * (3 / Float(fan(t.shape, mode))).squareRoot()
        uniform(t, low: -bound, high: bound, generator: &generator)
    }

    /// `N(0, σ²)` with `σ = gain / √fan`.
    public static func kaimingNormal(_ t: Tensor, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .relu,
                                     generator: inout SeededGenerator) {
        guard t.count > 0 else { return }
        normal(t, mean: 0, std: nonlinearity.gain / Float(fan(t.shape, mode)).squareRoot(), generator: &generator)
    }

    /// PyTorch's default for Conv and Linear layers: the weight from `kaimingUniform(a: √5)`, which
    /// is `U(−1/√fanIn, 1/√fanIn)`, and the bias from the same bound (0 when `fanIn` is 0).
    public static func pytorchDefault(weight: Tensor, bias: Tensor?, generator: inout SeededGenerator) {
        kaimingUniform(weight, a: Float(5).squareRoot(), generator: &generator)
        guard let bias else { return }
        let fanIn = fans(weight.shape).fanIn
        let bound: Float = fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
        uniform(bias, low: -bound, high: bound, generator: &generator)
    }

    // MARK: Simple fills

    /// Sets every element to `value`.
    public static func constant(_ t: Tensor, _ value: Float) {
        t.withUnsafeMutableBufferPointer { $0.update(repeating: value) }
    }

    public static func zeros(_ t: Tensor) { constant(t, 0) }

    public static func ones(_ t: Tensor) { constant(t, 1) }

    /// Draws from `U(low, high)`.
    public static func uniform(_ t: Tensor, low: Float = 0, high: Float = 1, generator: inout SeededGenerator) {
        precondition(low <= high, "uniform needs low ≤ high, got \(low) > \(high)")
        let width = high - low
        t.withUnsafeMutableBufferPointer { values in
            for i in values.indices { values[i] = low + width * generator.nextUniform() }
        }
    }

    /// Draws from `N(mean, std²)`.
    public static func normal(_ t: Tensor, mean: Float = 0, std: Float = 1, generator: inout SeededGenerator) {
        precondition(std >= 0, "normal needs std ≥ 0, got \(std)")
        t.withUnsafeMutableBufferPointer { values in
            for i in values.indices { values[i] = mean + std * generator.nextNormal() }
        }
    }

    private static func fan(_ shape: [Int], _ mode: FanMode) -> Int {
        let (fanIn, fanOut) = fans(shape)
        let chosen = mode == .fanIn ? fanIn : fanOut
        precondition(chosen > 0, "cannot initialise a weight with zero \(mode) (shape \(shape))")
        return chosen
    }
}
