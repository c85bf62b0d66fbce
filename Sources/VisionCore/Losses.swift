import Foundation

// Loss functions with PyTorch's three reductions. Each returns one graph node; the gradient with respect
// to the input is computed alongside the loss and scaled by the upstream gradient in the backward pass.

/// How a loss combines its terms, PyTorch's `reduction` argument.
public enum LossReduction: Sendable {
    /// The mean of the terms (for cross-entropy with class weights, divided by the targets' total weight).
    /// Nothing to average over — an empty input, every target ignored, or class weights of the valid targets
    /// summing to 0 or less — gives 0 with a zero gradient, where PyTorch gives NaN.
    case mean
    /// The sum of the terms.
    case sum
    /// No reduction: one term per element (regression and binary losses), per position (cross-entropy: `[N]`
    /// or `[N, H, W]`) or per sample (hinge losses).
    case none
}

/// A loss node over `terms` (of shape `termShape`), reduced as asked. `gradient` holds each input element's
/// derivative of its own term, already multiplied by `gradientScale(reduction, denominator)`. Input element
/// `i` belongs to term `(i / (classes·inner))·inner + i % inner` — the position of an `[N, C, inner…]` tensor
/// reduced over its class axis, or element `i` itself when `classes` and `inner` are 1.
private func lossNode(terms: [Double], termShape: [Int], reduction: LossReduction, denominator: Double,
                      input: Tensor, gradient: [Float], classes: Int = 1, inner: Int = 1,
                      other: Tensor? = nil, otherGradient: [Float]? = nil) -> Tensor {
    var inputs = [input]
    if let other { inputs.append(other) }
    let shape: [Int], storage: [Float]
    switch reduction {
    case .none:
        (shape, storage) = (termShape, terms.map { Float($0) })
    case .sum:
        (shape, storage) = ([], [Float(terms.reduce(0, +))])
    case .mean:
        (shape, storage) = ([], [denominator > 0 ? Float(terms.reduce(0, +) / denominator) : 0])
    }
    return Tensor.record(shape: shape, storage: storage, inputs: inputs) { g in
        func scaled(_ local: [Float]) -> [Float] {
            if reduction != .none {
                let scale = g.storage[0]
                return scale == 1 ? local : local.map { $0 * scale }
            }
            let span = classes * inner, upstream = g.storage
            return local.indices.map { i in local[i] * upstream[(i / span) * inner + i % inner] }
        }
        input.accumulateGrad(storage: scaled(gradient))
        if let other, other.requiresGrad, let otherGradient {
            other.accumulateGrad(storage: scaled(otherGradient))
        }
    }
}

/// What a term's derivative is multiplied by in the loss's gradient: `1/denominator` for the mean (0 when
/// nothing is averaged), 1 for the sum and for unreduced terms.
private func gradientScale(_ reduction: LossReduction, denominator: Double) -> Float {
    guard reduction == .mean else { return 1 }
    return denominator > 0 ? Float(1 / denominator) : 0
}

/// Softmax cross-entropy with class-index targets, PyTorch's `F.cross_entropy`.
///
/// - Parameters:
///   - logits: `[N, C]` with `targets.count == N`, or `[N, C, H, W]` (any `[N, C, …]`) with
///     `targets.count == N·H·W` in row-major `(N, H, W)` order, for segmentation.
///   - targets: class indices in `0..<C`, or `ignoreIndex`.
///   - labelSmoothing: `ε`; the loss becomes `(1 − ε)·nll + ε·mean_c(−log p_c)`.
///   - ignoreIndex: positions with this target contribute nothing and are excluded from the mean.
///     When every position is ignored the loss is 0 with a zero gradient (PyTorch gives NaN).
///   - classWeights: optional `[C]` weights `w`, as PyTorch's `weight`.
///   - reduction: `.mean` (default), `.sum`, or `.none` for one term per position, shape `[N]` or
///     `[N, H, W]`, 0 where the target is ignored.
///
/// With `log p = logSoftmax(logits)` over axis 1, each valid position `i` (target not ignored) has the term
///
///     ℓ_i = (1 − ε)·w_{y_i}·(−log p_{i,y_i}) + (ε/C)·Σ_c w_c·(−log p_{i,c})
///
/// and the mean is `Σ_i ℓ_i / Σ_i w_{y_i}` (`w ≡ 1` without weights, so the denominator is the number of
/// valid positions). Writing `ℓ_i = −Σ_c q_{i,c} log p_{i,c}`, its gradient is `p_{i,c}·Σ_c q_{i,c} − q_{i,c}`.
public func crossEntropy(_ logits: Tensor, targets: [Int], labelSmoothing: Float = 0, ignoreIndex: Int? = nil,
                         classWeights: [Float]? = nil, reduction: LossReduction = .mean) -> Tensor {
    precondition(logits.rank >= 2, "crossEntropy expects logits [N, C] or [N, C, H, W], got \(logits.shape)")
    let batch = logits.shape[0], classes = logits.shape[1]
    let inner = logits.shape[2...].reduce(1, *)
    precondition(targets.count == batch * inner,
                 "crossEntropy: \(targets.count) targets for logits \(logits.shape) (expected \(batch * inner))")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "labelSmoothing must be in [0, 1], got \(labelSmoothing)")
    if let classWeights {
        precondition(classWeights.count == classes, "crossEntropy: \(classWeights.count) class weights for \(classes) classes")
    }
    for t in targets where t != ignoreIndex {
        precondition(t >= 0 && t < classes, "crossEntropy target \(t) out of range for \(classes) classes (logits \(logits.shape))")
    }
    let weights = classWeights ?? [Float](repeating: 1, count: classes)
    let smoothing = labelSmoothing / Float(max(classes, 1))

    // log p for every element, then the loss terms.
    let logProbabilities = logits.softmaxStorage(outer: batch, n: classes, inner: inner, logarithm: true)
    var terms = [Double](repeating: 0, count: batch * inner)
    var denominator = 0.0
    for n in 0..<batch {
        for s in 0..<inner {
            let target = targets[n * inner + s]
            if target == ignoreIndex { continue }
            let base = n * classes * inner + s
            var term = Double((1 - labelSmoothing) * weights[target]) * Double(-logProbabilities[base + target * inner])
            if smoothing > 0 {
                var smooth = 0.0
                for c in 0..<classes { smooth += Double(weights[c]) * Double(-logProbabilities[base + c * inner]) }
                term += Double(smoothing) * smooth
            }
            terms[n * inner + s] = term
            denominator += Double(weights[target])
        }
    }

    var gradient = [Float](repeating: 0, count: logits.count)
    let scale = gradientScale(reduction, denominator: denominator)
    if Tensor.shouldRecord([logits]) && scale > 0 {
        let smoothMass = smoothing * weights.reduce(0, +)  // Σ_c (ε/C)·w_c
        for n in 0..<batch {
            for s in 0..<inner {
                let target = targets[n * inner + s]
                if target == ignoreIndex { continue }
                let base = n * classes * inner + s
                let hard = (1 - labelSmoothing) * weights[target]
                let mass = hard + smoothMass  // Σ_c q_c
                for c in 0..<classes {
                    let index = base + c * inner
                    var q = smoothing * weights[c]
                    if c == target { q += hard }
                    gradient[index] = (Foundation.exp(logProbabilities[index]) * mass - q) * scale
                }
            }
        }
    }
    return lossNode(terms: terms, termShape: [batch] + logits.shape[2...], reduction: reduction,
                    denominator: denominator, input: logits, gradient: gradient, classes: classes, inner: inner)
}

/// Softmax cross-entropy with class-probability targets (PyTorch's `F.cross_entropy` given a float
/// target of the logits' shape), as MixUp and CutMix produce.
///
/// With `log p = logSoftmax(logits)` over axis 1 and `q' = (1 − ε)·q + ε/C`, each position `i` (`N` of them,
/// or `N·H·W`) has the term
///
///     ℓ_i = Σ_c −q'_{i,c} log p_{i,c},   ∂ℓ_i/∂logits_{i,c} = p_{i,c}·Σ_c q'_{i,c} − q'_{i,c},
///
/// reduced by `reduction` (the mean divides by the number of positions; `.none` gives shape `[N]` or
/// `[N, H, W]`). The targets are constants (no gradient flows to them); rows need not sum to 1.
public func crossEntropy(_ logits: Tensor, probabilities targets: Tensor, labelSmoothing: Float = 0,
                         reduction: LossReduction = .mean) -> Tensor {
    precondition(logits.rank >= 2, "crossEntropy expects logits [N, C] or [N, C, H, W], got \(logits.shape)")
    precondition(targets.shape == logits.shape,
                 "crossEntropy: probability targets \(targets.shape) must have the logits' shape \(logits.shape)")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "labelSmoothing must be in [0, 1], got \(labelSmoothing)")
    let batch = logits.shape[0], classes = logits.shape[1]
    let inner = logits.shape[2...].reduce(1, *)
    let positions = batch * inner
    let smoothing = labelSmoothing / Float(max(classes, 1))
    let logProbabilities = logits.softmaxStorage(outer: batch, n: classes, inner: inner, logarithm: true)
    let q = targets.storage
    var terms = [Double](repeating: 0, count: positions)
    for n in 0..<batch {
        for c in 0..<classes {
            let base = (n * classes + c) * inner
            for s in 0..<inner {
                terms[n * inner + s] -= Double((1 - labelSmoothing) * q[base + s] + smoothing) * Double(logProbabilities[base + s])
            }
        }
    }

    var gradient = [Float](repeating: 0, count: logits.count)
    let scale = gradientScale(reduction, denominator: Double(positions))
    if Tensor.shouldRecord([logits]) && scale > 0 {
        for n in 0..<batch {
            for s in 0..<inner {
                let base = n * classes * inner + s
                var mass: Float = 0  // Σ_c q'_c
                for c in 0..<classes { mass += (1 - labelSmoothing) * q[base + c * inner] + smoothing }
                for c in 0..<classes {
                    let index = base + c * inner
                    let target = (1 - labelSmoothing) * q[index] + smoothing
                    gradient[index] = (Foundation.exp(logProbabilities[index]) * mass - target) * scale
                }
            }
        }
    }
    return lossNode(terms: terms, termShape: [batch] + logits.shape[2...], reduction: reduction,
                    denominator: Double(positions), input: logits, gradient: gradient, classes: classes, inner: inner)
}

/// Binary cross-entropy on logits, PyTorch's `binary_cross_entropy_with_logits`: per element,
///
///     l = w · ((1 − t)·x + (1 + (p − 1)·t) · softplus(−x)),   softplus(−x) = max(−x, 0) + log(1 + e^(−|x|))
///
/// with `weight` w (rescaling each element) and `posWeight` p (weighting the positive term, per class)
/// broadcast to the logits' shape, both 1 when absent (then `l = max(x, 0) − x·t + log(1 + e^(−|x|))`).
/// The terms are reduced by `reduction` (the mean divides by the number of elements `n`). Gradients of the mean:
/// `w·((1 + (p − 1)·t)·σ(x) − p·t)/n` for the logits (exactly `(σ(x) − t)/n` without weights, no
/// cancellation for very negative x), `w·((p − 1)·softplus(−x) − x)/n` for the targets. `weight` and `posWeight`
/// are constants: they get no gradient.
public func bceWithLogits(_ logits: Tensor, targets: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil,
                          reduction: LossReduction = .mean) -> Tensor {
    precondition(logits.shape == targets.shape, "bceWithLogits: logits \(logits.shape) and targets \(targets.shape) differ")
    /// A factor's values and its strides inside the logits' shape (a constant 1 when absent).
    func broadcast(_ factor: Tensor?, _ name: String) -> (values: [Float], strides: [Int]) {
        guard let factor else { return ([1], [Int](repeating: 0, count: logits.rank)) }
        precondition(Broadcast.shape(factor.shape, logits.shape) == logits.shape,
                     "bceWithLogits: \(name) \(factor.shape) does not broadcast to the logits \(logits.shape)")
        return (factor.storage, Broadcast.strides(of: factor.shape, in: logits.shape))
    }
    let weights = broadcast(weight, "weight"), posWeights = broadcast(posWeight, "posWeight")
    let n = logits.count
    let scale = gradientScale(reduction, denominator: Double(n))
    var terms = [Double](repeating: 0, count: n)
    var gradient = [Float](repeating: 0, count: n)
    var targetGradient = [Float](repeating: 0, count: targets.requiresGrad ? n : 0)
    Broadcast.forEach(logits.shape, weights.strides, posWeights.strides) { i, wi, pi in
        let x = logits.storage[i], t = targets.storage[i]
        let w = weights.values[wi], p = posWeights.values[pi]
        let softplusOfMinusX = max(-x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        let positiveWeight = 1 + (p - 1) * t
        terms[i] = Double(w * ((1 - t) * x + positiveWeight * softplusOfMinusX))
        gradient[i] = w * (positiveWeight * stableSigmoid(x) - p * t) * scale
        if targets.requiresGrad { targetGradient[i] = w * ((p - 1) * softplusOfMinusX - x) * scale }
    }
    return lossNode(terms: terms, termShape: logits.shape, reduction: reduction, denominator: Double(n),
                    input: logits, gradient: gradient, other: targets,
                    otherGradient: targets.requiresGrad ? targetGradient : nil)
}

/// Squared error `(x − t)²` per element (PyTorch's `F.mse_loss`); gradient of the mean `2(x − t)/n` (and its
/// negative for `t`).
public func mseLoss(_ x: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    elementwiseLoss("mseLoss", x, target, reduction) { d in (d * d, 2 * d) }
}

/// Absolute error `|x − t|` per element (PyTorch's `F.l1_loss`); gradient of the mean `sign(x − t)/n`, 0 where
/// `x == t` (as PyTorch).
public func l1Loss(_ x: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    elementwiseLoss("l1Loss", x, target, reduction) { d in (Swift.abs(d), d > 0 ? 1 : (d < 0 ? -1 : 0)) }
}

/// Smooth L1 loss, PyTorch's `F.smooth_l1_loss`: per element, with `d = x − t`, `0.5·d²/β` where `|d| < β`,
/// else `|d| − 0.5·β`; gradient of the mean `d/(β·n)` or `sign(d)/n`. `β = 0` is the L1 loss.
public func smoothL1Loss(_ x: Tensor, _ target: Tensor, beta: Float = 1, reduction: LossReduction = .mean) -> Tensor {
    precondition(beta >= 0, "smoothL1Loss: beta \(beta) must not be negative")
    return robustLoss("smoothL1Loss", x, target, reduction, threshold: beta, quadraticScale: beta > 0 ? 1 / beta : 0,
                      linearScale: 1)
}

/// Huber loss, PyTorch's `F.huber_loss`: per element, with `d = x − t`, `0.5·d²` where `|d| < δ`, else
/// `δ·(|d| − 0.5·δ)`; gradient of the mean `d/n` or `δ·sign(d)/n`. It is `δ ×` the smooth L1 loss with `β = δ`.
public func huberLoss(_ x: Tensor, _ target: Tensor, delta: Float = 1, reduction: LossReduction = .mean) -> Tensor {
    precondition(delta > 0, "huberLoss: delta \(delta) must be positive")
    return robustLoss("huberLoss", x, target, reduction, threshold: delta, quadraticScale: 1, linearScale: delta)
}

/// Per element, `0.5·q·d²` where `|d| < threshold`, else `l·(|d| − 0.5·threshold)`, with `q = quadraticScale`
/// and `l = linearScale` (the two pieces meet when `q·threshold = l`).
private func robustLoss(_ name: String, _ x: Tensor, _ target: Tensor, _ reduction: LossReduction, threshold: Float,
                        quadraticScale: Float, linearScale: Float) -> Tensor {
    elementwiseLoss(name, x, target, reduction) { d in
        let magnitude = Swift.abs(d)
        if magnitude < threshold { return (0.5 * quadraticScale * d * d, quadraticScale * d) }
        return (linearScale * (magnitude - 0.5 * threshold), d > 0 ? linearScale : (d < 0 ? -linearScale : 0))
    }
}

/// The terms `loss(d_i)` over the elements' differences `d = x − t` (same shapes), reduced, where
/// `perElement(d)` gives the term and its derivative; the gradient of the mean is `derivative/n` for `x` and
/// its negative for `t`.
private func elementwiseLoss(_ name: String, _ x: Tensor, _ target: Tensor, _ reduction: LossReduction,
                             _ perElement: (Float) -> (loss: Float, derivative: Float)) -> Tensor {
    precondition(x.shape == target.shape, "\(name): input \(x.shape) and target \(target.shape) differ")
    let n = x.count
    let scale = gradientScale(reduction, denominator: Double(n))
    var terms = [Double](repeating: 0, count: n)
    var gradient = [Float](repeating: 0, count: n)
    for i in 0..<n {
        let (loss, derivative) = perElement(x.storage[i] - target.storage[i])
        terms[i] = Double(loss)
        gradient[i] = derivative * scale
    }
    return lossNode(terms: terms, termShape: x.shape, reduction: reduction, denominator: Double(n), input: x,
                    gradient: gradient, other: target, otherGradient: target.requiresGrad ? gradient.map { -$0 } : nil)
}

/// Multi-class hinge loss, PyTorch's `F.multi_margin_loss` with `p = 1`: per sample,
///
///     ℓ_i = Σ_{j ≠ y_i} max(0, margin − x_{i,y_i} + x_{i,j}) / C,
///
/// reduced by `reduction` (`.none` gives shape `[N]`). The multi-class SVM loss of CS231n,
/// `Σ_{j≠y} max(0, s_j − s_y + 1)` averaged over the batch, is `C ×` the mean; `svmHingeLoss` computes it
/// directly. `x` is `[N, C]`, `targets.count == N`.
public func multiMarginLoss(_ x: Tensor, targets: [Int], margin: Float = 1, reduction: LossReduction = .mean) -> Tensor {
    precondition(x.rank == 2, "multiMarginLoss expects scores [N, C], got \(x.shape)")
    return hingeLoss(x, targets: targets, margin: margin, divisor: Float(x.shape[1]), reduction: reduction)
}

/// The multi-class SVM (Weston–Watkins) hinge loss, per sample `Σ_{j ≠ y_i} max(0, margin − x_{i,y_i} + x_{i,j})`,
/// i.e. `C × multiMarginLoss`, reduced by `reduction`. `x` is `[N, C]`, `targets.count == N`.
public func svmHingeLoss(_ x: Tensor, targets: [Int], margin: Float = 1, reduction: LossReduction = .mean) -> Tensor {
    precondition(x.rank == 2, "svmHingeLoss expects scores [N, C], got \(x.shape)")
    return hingeLoss(x, targets: targets, margin: margin, divisor: 1, reduction: reduction)
}

/// Per sample `Σ_{j≠y_i} max(0, margin − x_{i,y_i} + x_{i,j}) / divisor`; each active term's derivative is
/// `±1/divisor` (0 exactly at the hinge, as PyTorch).
private func hingeLoss(_ x: Tensor, targets: [Int], margin: Float, divisor: Float, reduction: LossReduction) -> Tensor {
    let batch = x.shape[0], classes = x.shape[1]
    precondition(targets.count == batch, "hinge loss: \(targets.count) targets for scores \(x.shape)")
    let step = gradientScale(reduction, denominator: Double(batch)) / divisor
    var terms = [Double](repeating: 0, count: batch)
    var gradient = [Float](repeating: 0, count: x.count)
    for i in 0..<batch {
        let y = targets[i]
        precondition(y >= 0 && y < classes, "hinge loss target \(y) out of range for \(classes) classes")
        let row = i * classes
        let correct = x.storage[row + y]
        for j in 0..<classes where j != y {
            let z = margin - correct + x.storage[row + j]
            if z > 0 {
                terms[i] += Double(z) / Double(divisor)
                gradient[row + j] += step
                gradient[row + y] -= step
            }
        }
    }
    return lossNode(terms: terms, termShape: [batch], reduction: reduction, denominator: Double(batch), input: x,
                    gradient: gradient, classes: classes)
}

/// Soft Dice loss for segmentation (Milletari et al. 2016, V-Net), multi-class with softmax.
///
/// `logits` is `[N, C, H, W]` (any `[N, C, …]`) and `targets` holds `N·H·W` class indices in row-major
/// `(N, H, W)` order. With `p = softmax(logits)` over the classes and `t` the one-hot targets, each class
/// gets one Dice score over the whole batch,
///
///     dice_c = (2·Σ p_c·t_c + eps) / (Σ p_c + Σ t_c + eps),      loss = 1 − mean_c dice_c,
///
/// where the sums run over every pixel of every image. `eps` (default 1) smooths the ratio and keeps
/// classes absent from both prediction and target at `dice_c ≈ 1`. The gradient with respect to `p` is
/// `−(2·t_c − dice_c) / (C·(Σ p_c + Σ t_c + eps))`, then back through the softmax.
public func softDiceLoss(_ logits: Tensor, targets: [Int], eps: Float = 1) -> Tensor {
    precondition(logits.rank >= 2, "softDiceLoss expects logits [N, C, H, W], got \(logits.shape)")
    let batch = logits.shape[0], classes = logits.shape[1]
    let inner = logits.shape[2...].reduce(1, *)
    precondition(targets.count == batch * inner,
                 "softDiceLoss: \(targets.count) targets for logits \(logits.shape) (expected \(batch * inner))")
    for t in targets {
        precondition(t >= 0 && t < classes, "softDiceLoss target \(t) out of range for \(classes) classes")
    }
    let probabilities = logits.softmaxStorage(outer: batch, n: classes, inner: inner, logarithm: false)
    var intersection = [Double](repeating: 0, count: classes)
    var predicted = [Double](repeating: 0, count: classes)
    var actual = [Double](repeating: 0, count: classes)
    for n in 0..<batch {
        for c in 0..<classes {
            let base = (n * classes + c) * inner
            var rowSum: Float = 0
            for s in 0..<inner { rowSum += probabilities[base + s] }
            predicted[c] += Double(rowSum)
        }
        for s in 0..<inner {
            let t = targets[n * inner + s]
            actual[t] += 1
            intersection[t] += Double(probabilities[(n * classes + t) * inner + s])
        }
    }
    var dice = [Float](repeating: 0, count: classes)
    var denominators = [Float](repeating: 0, count: classes)
    var meanDice = 0.0
    for c in 0..<classes {
        let denominator = predicted[c] + actual[c] + Double(eps)
        let score = (2 * intersection[c] + Double(eps)) / denominator
        dice[c] = Float(score)
        denominators[c] = Float(denominator)
        meanDice += score
    }
    meanDice /= Double(max(classes, 1))

    var gradient = [Float](repeating: 0, count: logits.count)
    if Tensor.shouldRecord([logits]) {
        // dL/dp, then dx = p·(dL/dp − Σ_c p·dL/dp) at each pixel.
        let scale = 1 / Float(max(classes, 1))
        var dot = [Float](repeating: 0, count: inner)
        for n in 0..<batch {
            for s in 0..<inner { dot[s] = 0 }
            for c in 0..<classes {
                let base = (n * classes + c) * inner
                for s in 0..<inner {
                    let t: Float = targets[n * inner + s] == c ? 1 : 0
                    let gp = -(2 * t - dice[c]) * scale / denominators[c]
                    gradient[base + s] = gp
                    dot[s] += gp * probabilities[base + s]
                }
            }
            for c in 0..<classes {
                let base = (n * classes + c) * inner
                for s in 0..<inner { gradient[base + s] = probabilities[base + s] * (gradient[base + s] - dot[s]) }
            }
        }
    }
    return lossNode(terms: [1 - meanDice], termShape: [], reduction: .sum, denominator: 1, input: logits,
                    gradient: gradient)
}

/// torchvision's `ops.sigmoid_focal_loss` (Lin et al. 2017, RetinaNet): binary cross-entropy on logits scaled
/// down where the prediction is already right,
///
///     ℓ = α_t · (1 − p_t)^γ · BCE(x, t),   p = σ(x),  p_t = p·t + (1 − p)·(1 − t),  α_t = α·t + (1 − α)·(1 − t),
///
/// with no α weighting when `alpha` is −1. Reduced by `reduction` — torchvision's default is `.none`.
/// Built from differentiable ops, so gradients reach the logits and, when they need them, the targets.
public func sigmoidFocalLoss(_ logits: Tensor, targets: Tensor, alpha: Float = 0.25, gamma: Float = 2,
                             reduction: LossReduction = .none) -> Tensor {
    precondition(logits.shape == targets.shape, "sigmoidFocalLoss: logits \(logits.shape) and targets \(targets.shape) differ")
    precondition(gamma >= 0, "sigmoidFocalLoss: gamma \(gamma) must not be negative")
    precondition((0...1).contains(alpha) || alpha == -1, "sigmoidFocalLoss: alpha \(alpha) must be in [0, 1], or −1 for none")
    let p = logits.sigmoid()
    let pT = p * targets + (1 - p) * (1 - targets)
    var loss = bceWithLogits(logits, targets: targets, reduction: .none) * (1 - pT).pow(gamma)
    if alpha != -1 { loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss }
    switch reduction {
    case .none: return loss
    case .sum: return loss.sum()
    case .mean: return loss.mean()
    }
}
