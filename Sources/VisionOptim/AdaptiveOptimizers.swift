import Foundation
import VisionCore

/// Adagrad (Duchi, Hazan & Singer, JMLR 2011), as `torch.optim.Adagrad`.
///
/// ```
/// d = g + λ·θ
/// S = S + d²                            (S starts at initialAccumulatorValue)
/// θ = θ − α / (1 + (t − 1)·lrDecay) · d / (√S + ε)
/// ```
public final class Adagrad: GradientOptimizer {
    public var learningRateDecay: Float
    public let initialAccumulatorValue: Float
    public var epsilon: Float

    /// Parameters keep PyTorch's names: `lr` (default 0.01), `lr_decay`, `weight_decay`,
    /// `initial_accumulator_value`, `eps` (default 1e-10), `maximize`.
    public init(_ groups: [ParameterGroup], learningRate: Float = 0.01, learningRateDecay: Float = 0,
                weightDecay: Float = 0, initialAccumulatorValue: Float = 0, epsilon: Float = 1e-10,
                maximize: Bool = false) {
        precondition(initialAccumulatorValue >= 0, "initialAccumulatorValue must be non-negative")
        self.learningRateDecay = learningRateDecay
        self.initialAccumulatorValue = initialAccumulatorValue
        self.epsilon = epsilon
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay, maximize: maximize,
                   slotNames: ["sum"])
    }

    override func update(_ parameter: Tensor, gradient: Tensor, state: ParameterState, learningRate: Float,
                         weightDecay: Float) {
        let sign: Float = maximize ? -1 : 1
        let eps = epsilon
        let rate = Float(Double(learningRate) / (1 + Double(state.step - 1) * Double(learningRateDecay)))
        let sum = state.buffer("sum", like: parameter, initial: initialAccumulatorValue).tensor
        withPointers(parameter, gradient, [sum]) { p, buffers in
            let theta = p.parameter, g = p.gradient, s = buffers[0]
            Parallel.forEach(p.count) { range in
                for i in range {
                    let d = sign * g[i] + weightDecay * theta[i]
                    s[i] += d * d
                    theta[i] -= rate * (d / (nonNegativeSquareRoot(s[i]) + eps))
                }
            }
        }
    }
}

/// RMSprop (Hinton's lecture 6e; centred variant from Graves 2013), as `torch.optim.RMSprop`.
///
/// ```
/// d = g + λ·θ
/// v = a·v + (1 − a)·d²
/// centred:  m̄ = m̄ + (1 − a)·(d − m̄);  s = √(v − m̄²) + ε     otherwise s = √v + ε
/// momentum: b = μ·b + d / s;  θ = θ − α·b                     otherwise θ = θ − α·d / s
/// ```
public final class RMSprop: GradientOptimizer {
    /// Smoothing constant `alpha` of the squared-gradient average.
    public var alpha: Float
    public var epsilon: Float
    public let momentum: Float
    public let centered: Bool

    /// Parameters keep PyTorch's names: `lr` (default 0.01), `alpha` (0.99), `eps` (1e-8),
    /// `weight_decay`, `momentum`, `centered`, `maximize`.
    public init(_ groups: [ParameterGroup], learningRate: Float = 0.01, alpha: Float = 0.99, epsilon: Float = 1e-8,
                weightDecay: Float = 0, momentum: Float = 0, centered: Bool = false, maximize: Bool = false) {
        precondition(alpha >= 0 && alpha <= 1, "alpha must lie in [0, 1], got \(alpha)")
        precondition(momentum >= 0, "momentum must be non-negative, got \(momentum)")
        self.alpha = alpha
        self.epsilon = epsilon
        self.momentum = momentum
        self.centered = centered
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay, maximize: maximize,
                   slotNames: ["square_avg", "grad_avg", "momentum_buffer"])
    }

    override func update(_ parameter: Tensor, gradient: Tensor, state: ParameterState, learningRate: Float,
                         weightDecay: Float) {
        let sign: Float = maximize ? -1 : 1
        let a = alpha, eps = epsilon, mu = momentum, centered = centered
        var buffers = [state.buffer("square_avg", like: parameter).tensor]
        if centered { buffers.append(state.buffer("grad_avg", like: parameter).tensor) }
        if mu > 0 { buffers.append(state.buffer("momentum_buffer", like: parameter).tensor) }
        withPointers(parameter, gradient, buffers) { p, pointers in
            let theta = p.parameter, g = p.gradient, v = pointers[0]
            let mean = centered ? pointers[1] : v
            let velocity = mu > 0 ? pointers[pointers.count - 1] : v
            // One specialised loop per variant keeps branches out of the element loop.
            Parallel.forEach(p.count) { range in
                switch (centered, mu > 0) {
                case (false, false):
                    rmspropLoop(range, theta, g, v, mean, velocity, centered: false, momentum: false, sign: sign,
                                weightDecay: weightDecay, alpha: a, epsilon: eps, mu: mu, learningRate: learningRate)
                case (true, false):
                    rmspropLoop(range, theta, g, v, mean, velocity, centered: true, momentum: false, sign: sign,
                                weightDecay: weightDecay, alpha: a, epsilon: eps, mu: mu, learningRate: learningRate)
                case (false, true):
                    rmspropLoop(range, theta, g, v, mean, velocity, centered: false, momentum: true, sign: sign,
                                weightDecay: weightDecay, alpha: a, epsilon: eps, mu: mu, learningRate: learningRate)
                case (true, true):
                    rmspropLoop(range, theta, g, v, mean, velocity, centered: true, momentum: true, sign: sign,
                                weightDecay: weightDecay, alpha: a, epsilon: eps, mu: mu, learningRate: learningRate)
                }
            }
        }
    }
}

/// The RMSprop element loop; `centered` and `momentum` are constants at each call site so the
/// inlined copies carry no branches (`mean` / `velocity` are unused when their flag is off).
@inline(__always)
private func rmspropLoop(_ range: Range<Int>, _ theta: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                         _ v: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                         _ velocity: UnsafeMutablePointer<Float>, centered: Bool, momentum: Bool, sign: Float,
                         weightDecay: Float, alpha a: Float, epsilon eps: Float, mu: Float, learningRate: Float) {
    for i in range {
        let d = sign * g[i] + weightDecay * theta[i]
        let square = v[i] * a + (1 - a) * d * d
        v[i] = square
        var average: Float
        if centered {
            let m = mean[i] + (1 - a) * (d - mean[i])
            mean[i] = m
            average = nonNegativeSquareRoot(square - m * m)
        } else {
            average = nonNegativeSquareRoot(square)
        }
        average += eps
        if momentum {
            let b = velocity[i] * mu + d / average
            velocity[i] = b
            theta[i] -= learningRate * b
        } else {
            theta[i] -= learningRate * (d / average)
        }
    }
}
