import VisionCore

/// Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as `torch.optim.SGD`.
///
/// With gradient `g`, weight decay `λ`, momentum `μ`, dampening `τ` and learning rate `α`:
/// ```
/// d = g + λ·θ                         (L2 decay, coupled: the default)
/// b = d on the first step, else μ·b + (1 − τ)·d
/// d = d + μ·b (Nesterov)  or  d = b   (when μ ≠ 0)
/// θ = θ − α·d
/// ```
/// With `decoupledWeightDecay` the decay leaves the gradient alone and shrinks the weights directly,
/// as SGDW in Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019):
/// `θ = θ − η·λ·θ` before the gradient step, where `η = learningRate / baseLearningRate` is the
/// schedule multiplier (1 while the learning rate is unchanged). `λ` is then a per-step fraction: for
/// plain SGD, L2 decay `λ` equals decoupled decay `λ' = α·λ`.
public final class SGD: GradientOptimizer {
    /// Momentum factor `μ` (0 disables the momentum buffer).
    public var momentum: Float
    /// Dampening `τ` of the gradient added to the momentum buffer.
    public var dampening: Float
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    public let nesterov: Bool
    /// Shrink weights directly instead of adding `λ·θ` to the gradient.
    public var decoupledWeightDecay: Bool
    /// The learning rate `α` the decoupled decay is relative to: the one given at construction.
    public var baseLearningRate: Float

    /// - Parameters:
    ///   - groups: the parameter groups (see `ParameterGroup.splittingWeightDecay`).
    ///   - learningRate: `lr`.
    ///   - momentum: `momentum` (PyTorch default 0).
    ///   - dampening: `dampening` (default 0).
    ///   - weightDecay: `weight_decay` for groups without their own (default 0).
    ///   - nesterov: `nesterov` (default false).
    ///   - decoupledWeightDecay: SGDW-style decay (default false: PyTorch's L2 decay).
    ///   - maximize: `maximize` (default false).
    public init(_ groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false, decoupledWeightDecay: Bool = false,
                maximize: Bool = false) {
        precondition(momentum >= 0, "momentum must be non-negative, got \(momentum)")
        precondition(!nesterov || (momentum > 0 && dampening == 0),
                     "Nesterov momentum needs momentum > 0 and dampening 0, got momentum \(momentum), dampening \(dampening)")
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.decoupledWeightDecay = decoupledWeightDecay
        self.baseLearningRate = learningRate
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay, maximize: maximize,
                   slotNames: ["momentum_buffer"])
    }

    override func update(_ parameter: Tensor, gradient: Tensor, state: ParameterState, learningRate: Float,
                         weightDecay: Float) {
        let sign: Float = maximize ? -1 : 1
        let coupled: Float = decoupledWeightDecay ? 0 : weightDecay
        let multiplier = baseLearningRate > 0 ? self.learningRate / baseLearningRate : 1
        let keep: Float = decoupledWeightDecay ? 1 - multiplier * weightDecay : 1
        let mu = momentum, carry = 1 - dampening, nesterov = nesterov
        guard mu != 0 else {
            withPointers(parameter, gradient, []) { p, _ in
                let theta = p.parameter, g = p.gradient
                Parallel.forEach(p.count) { range in
                    for i in range {
                        let w = theta[i] * keep
                        let d = sign * g[i] + coupled * w
                        theta[i] = w - learningRate * d
                    }
                }
            }
            return
        }
        let (buffer, created) = state.buffer("momentum_buffer", like: parameter)
        withPointers(parameter, gradient, [buffer]) { p, buffers in
            let theta = p.parameter, g = p.gradient, b = buffers[0]
            Parallel.forEach(p.count) { range in
                if created {
                    // PyTorch starts the buffer at the first (decayed) gradient, undamped.
                    for i in range {
                        let w = theta[i] * keep
                        let d = sign * g[i] + coupled * w
                        b[i] = d
                        theta[i] = w - learningRate * (nesterov ? d + mu * d : d)
                    }
                    return
                }
                for i in range {
                    let w = theta[i] * keep
                    let d = sign * g[i] + coupled * w
                    let velocity = b[i] * mu + carry * d
                    b[i] = velocity
                    theta[i] = w - learningRate * (nesterov ? d + mu * velocity : velocity)
                }
            }
        }
    }
}
