import Foundation
import VisionCore

/// Adam (Kingma & Ba, ICLR 2015) with bias correction, as `torch.optim.Adam`; `AdamW` is the
/// decoupled-decay variant.
///
/// At step `t` with `β₁, β₂`:
/// ```
/// coupled (Adam, L2):   d = g + λ·θ
/// decoupled (AdamW):    θ = θ·(1 − α·λ),  d = g
/// m = m + (1 − β₁)·(d − m)
/// v = β₂·v + (1 − β₂)·d²                 (AMSGrad keeps v̂ = max(v̂, v) and uses it below)
/// θ = θ − α / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
/// With coupled L2 the decay term is divided by `√v` like the gradient, so weights with large
/// gradient history are barely decayed; decoupled decay shrinks every weight by the same fraction
/// `α·λ` per step (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019). As in
/// PyTorch, AdamW's `λ` multiplies the current learning rate, so decay follows the schedule.
public class Adam: GradientOptimizer {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// AMSGrad (Reddi, Kale & Kumar, ICLR 2018): normalise by the running maximum of `v`.
    public let amsgrad: Bool
    /// Decoupled (AdamW) instead of coupled L2 weight decay.
    public let decoupledWeightDecay: Bool

    /// Parameters keep PyTorch's names: `lr` (default 0.001), `betas` (0.9, 0.999), `eps` (1e-8),
    /// `weight_decay` (0), `amsgrad`, `maximize`, `decoupled_weight_decay` (false).
    public init(_ groups: [ParameterGroup], learningRate: Float = 0.001, betas: (Float, Float) = (0.9, 0.999),
                epsilon: Float = 1e-8, weightDecay: Float = 0, amsgrad: Bool = false,
                decoupledWeightDecay: Bool = false, maximize: Bool = false) {
        precondition(betas.0 >= 0 && betas.0 < 1 && betas.1 >= 0 && betas.1 < 1,
                     "betas must lie in [0, 1), got \(betas)")
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.decoupledWeightDecay = decoupledWeightDecay
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay, maximize: maximize,
                   slotNames: ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"])
    }

    override func update(_ parameter: Tensor, gradient: Tensor, state: ParameterState, learningRate: Float,
                         weightDecay: Float) {
        let sign: Float = maximize ? -1 : 1
        let b1 = beta1, b2 = beta2, eps = epsilon
        // Bias corrections in Double, as PyTorch computes them in Python floats.
        let t = Double(state.step)
        let stepSize = Float(Double(learningRate) / (1 - Foundation.pow(Double(b1), t)))
        let correction2 = Float((1 - Foundation.pow(Double(b2), t)).squareRoot())
        let keep: Float = decoupledWeightDecay ? 1 - learningRate * weightDecay : 1
        let coupled: Float = decoupledWeightDecay ? 0 : weightDecay
        var buffers = [state.buffer("exp_avg", like: parameter).tensor, state.buffer("exp_avg_sq", like: parameter).tensor]
        if amsgrad { buffers.append(state.buffer("max_exp_avg_sq", like: parameter).tensor) }
        let amsgrad = amsgrad
        withPointers(parameter, gradient, buffers) { p, pointers in
            let theta = p.parameter, g = p.gradient, m = pointers[0], v = pointers[1]
            let vMax = amsgrad ? pointers[2] : nil
            if let vMax {
                Parallel.forEach(p.count) { range in
                    for i in range {
                        let w = theta[i] * keep
                        let d = sign * g[i] + coupled * w
                        m[i] += (1 - b1) * (d - m[i])
                        v[i] = v[i] * b2 + (1 - b2) * d * d
                        vMax[i] = Swift.max(vMax[i], v[i])
                        theta[i] = w - stepSize * (m[i] / (nonNegativeSquareRoot(vMax[i]) / correction2 + eps))
                    }
                }
                return
            }
            Parallel.forEach(p.count) { range in
                adamKernel(range, theta: theta, gradient: g, mean: m, second: v, keep: keep, sign: sign,
                           coupled: coupled, beta1: b1, beta2: b2, stepSize: stepSize, correction2: correction2,
                           epsilon: eps)
            }
        }
    }
}

/// The Adam element loop without AMSGrad, a free function so the pointers are plain arguments
/// (captured closure context would be reloaded every iteration and block vectorisation).
@inline(never)
func adamKernel(_ range: Range<Int>, theta: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
                mean m: UnsafeMutablePointer<Float>, second v: UnsafeMutablePointer<Float>, keep: Float, sign: Float,
                coupled: Float, beta1 b1: Float, beta2 b2: Float, stepSize: Float, correction2: Float, epsilon eps: Float) {
    for i in range {
        let w = theta[i] * keep
        let d = sign * g[i] + coupled * w
        let mean = m[i] + (1 - b1) * (d - m[i])
        let second = v[i] * b2 + (1 - b2) * d * d
        m[i] = mean
        v[i] = second
        theta[i] = w - stepSize * (mean / (nonNegativeSquareRoot(second) / correction2 + eps))
    }
}

/// AdamW: Adam with decoupled weight decay, as `torch.optim.AdamW` (default `weight_decay` 0.01).
public final class AdamW: Adam {
    public init(_ groups: [ParameterGroup], learningRate: Float = 0.001, betas: (Float, Float) = (0.9, 0.999),
                epsilon: Float = 1e-8, weightDecay: Float = 0.01, amsgrad: Bool = false, maximize: Bool = false) {
        super.init(groups, learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay,
                   amsgrad: amsgrad, decoupledWeightDecay: true, maximize: maximize)
    }
}
