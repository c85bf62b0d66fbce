import Foundation

// Loss functions with mean reduction. Each returns a scalar tensor that is one graph node; the
// gradient with respect to the input is computed alongside the loss and scaled by the upstream
// gradient in the backward pass.

/// A scalar loss node whose input gradient (for an upstream gradient of 1) is already known.
private func lossNode(_ value: Double, input: Tensor, gradient: [Float],
                      other: Tensor? = nil, otherGradient: [Float]? = nil) -> Tensor {
    var inputs = [input]
    if let other { inputs.append(other) }
    return Tensor.record(shape: [], storage: [Float(value)], inputs: inputs) { g in
        let scale = g.storage[0]
        input.accumulateGrad(storage: scale == 1 ? gradient : gradient.map { $0 * scale })
        if let other, other.requiresGrad, let otherGradient {
            other.accumulateGrad(storage: scale == 1 ? otherGradient : otherGradient.map { $0 * scale })
        }
    }
}

/// Softmax cross-entropy with class-index targets, PyTorch's `F.cross_entropy` with mean reduction.
///
/// - Parameters:
///   - logits: `[N, C]` with `targets.count == N`, or `[N, C, H, W]` (any `[N, C, …]`) with
///     `targets.count == N·H·W` in row-major `(N, H, W)` order, for segmentation.
///   - targets: class indices in `0..<C`, or `ignoreIndex`.
///   - labelSmoothing: `ε`; the loss becomes `(1 − ε)·nll + ε·mean_c(−log p_c)`.
///   - ignoreIndex: positions with this target contribute nothing and are excluded from the mean.
///     When every position is ignored the loss is 0 with a zero gradient (PyTorch gives NaN).
///   - classWeights: optional `[C]` weights `w`, as PyTorch's `weight`.
///
/// With `log p = logSoftmax(logits)` over axis 1, and the valid positions `i` (target not ignored):
///
///     loss = Σ_i [ (1 − ε)·w_{y_i}·(−log p_{i,y_i}) + (ε/C)·Σ_c w_c·(−log p_{i,c}) ] / Σ_i w_{y_i}
///
/// (`w ≡ 1` without weights, so the denominator is the number of valid positions). Writing the bracket
/// as `−Σ_c q_{i,c} log p_{i,c}`, the gradient is `(p_{i,c}·Σ_c q_{i,c} − q_{i,c}) / Σ_i w_{y_i}`.
public func crossEntropy(_ logits: Tensor, targets: [Int], labelSmoothing: Float = 0, ignoreIndex: Int? = nil,
                         classWeights: [Float]? = nil) -> Tensor {
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
    var total = 0.0, denominator = 0.0
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
            total += term
            denominator += Double(weights[target])
        }
    }
    let loss = denominator > 0 ? total / denominator : 0

    var gradient = [Float](repeating: 0, count: logits.count)
    if Tensor.shouldRecord([logits]) && denominator > 0 {
        let inverse = Float(1 / denominator)
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
                    gradient[index] = (Foundation.exp(logProbabilities[index]) * mass - q) * inverse
                }
            }
        }
    }
    return lossNode(loss, input: logits, gradient: gradient)
}

/// Softmax cross-entropy with class-probability targets (PyTorch's `F.cross_entropy` given a float
/// target of the logits' shape, mean reduction), as MixUp and CutMix produce.
///
/// With `log p = logSoftmax(logits)` over axis 1, `q' = (1 − ε)·q + ε/C` and `M` positions (`N`, or `N·H·W`):
///
///     loss = Σ_i Σ_c −q'_{i,c} log p_{i,c} / M,   ∂loss/∂logits_{i,c} = (p_{i,c}·Σ_c q'_{i,c} − q'_{i,c}) / M
///
/// The targets are constants (no gradient flows to them); rows need not sum to 1.
public func crossEntropy(_ logits: Tensor, probabilities targets: Tensor, labelSmoothing: Float = 0) -> Tensor {
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
    var total = 0.0
    for i in 0..<logits.count {
        total -= Double((1 - labelSmoothing) * q[i] + smoothing) * Double(logProbabilities[i])
    }
    let loss = positions > 0 ? total / Double(positions) : 0

    var gradient = [Float](repeating: 0, count: logits.count)
    if Tensor.shouldRecord([logits]) && positions > 0 {
        let inverse = 1 / Float(positions)
        for n in 0..<batch {
            for s in 0..<inner {
                let base = n * classes * inner + s
                var mass: Float = 0  // Σ_c q'_c
                for c in 0..<classes { mass += (1 - labelSmoothing) * q[base + c * inner] + smoothing }
                for c in 0..<classes {
                    let index = base + c * inner
                    let target = (1 - labelSmoothing) * q[index] + smoothing
                    gradient[index] = (Foundation.exp(logProbabilities[index]) * mass - target) * inverse
                }
            }
        }
    }
    return lossNode(loss, input: logits, gradient: gradient)
}

/// Binary cross-entropy on logits, mean over all elements, as PyTorch's `binary_cross_entropy_with_logits`:
///
///     l = w · ((1 − t)·x + (1 + (p − 1)·t) · softplus(−x)),   softplus(−x) = max(−x, 0) + log(1 + e^(−|x|))
///
/// with `weight` w (rescaling each element) and `posWeight` p (weighting the positive term, per class)
/// broadcast to the logits' shape, both 1 when absent (then `l = max(x, 0) − x·t + log(1 + e^(−|x|))`).
/// Gradients: `w·((1 + (p − 1)·t)·σ(x) − p·t)/n` for the logits (exactly `(σ(x) − t)/n` without weights, no
/// cancellation for very negative x), `w·((p − 1)·softplus(−x) − x)/n` for the targets. `weight` and `posWeight`
/// are constants: they get no gradient.
public func bceWithLogits(_ logits: Tensor, targets: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil) -> Tensor {
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
    let inverse = 1 / Float(max(n, 1))
    var total = 0.0
    var gradient = [Float](repeating: 0, count: n)
    var targetGradient = [Float](repeating: 0, count: targets.requiresGrad ? n : 0)
    Broadcast.forEach(logits.shape, weights.strides, posWeights.strides) { i, wi, pi in
        let x = logits.storage[i], t = targets.storage[i]
        let w = weights.values[wi], p = posWeights.values[pi]
        let softplusOfMinusX = max(-x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        let positiveWeight = 1 + (p - 1) * t
        total += Double(w * ((1 - t) * x + positiveWeight * softplusOfMinusX))
        gradient[i] = w * (positiveWeight * stableSigmoid(x) - p * t) * inverse
        if targets.requiresGrad { targetGradient[i] = w * ((p - 1) * softplusOfMinusX - x) * inverse }
    }
    return lossNode(total / Double(max(n, 1)), input: logits, gradient: gradient,
                    other: targets, otherGradient: targets.requiresGrad ? targetGradient : nil)
}

/// Mean squared error `mean((x − t)²)`; gradient `2(x − t)/n` (and its negative for `t`).
public func mseLoss(_ x: Tensor, _ target: Tensor) -> Tensor {
    elementwiseLoss("mseLoss", x, target) { d in (d * d, 2 * d) }
}

/// Mean absolute error `mean|x − t|`; gradient `sign(x − t)/n`, 0 where `x == t` (as PyTorch).
public func l1Loss(_ x: Tensor, _ target: Tensor) -> Tensor {
    elementwiseLoss("l1Loss", x, target) { d in (Swift.abs(d), d > 0 ? 1 : (d < 0 ? -1 : 0)) }
}

/// Smooth L1 loss, PyTorch's `F.smooth_l1_loss` (mean): per element, with `d = x − t`,
/// `0.5·d²/β` where `|d| < β`, else `|d| − 0.5·β`; gradient `d/(β·n)` or `sign(d)/n`. `β = 0` is the L1 loss.
public func smoothL1Loss(_ x: Tensor, _ target: Tensor, beta: Float = 1) -> Tensor {
    precondition(beta >= 0, "smoothL1Loss: beta \(beta) must not be negative")
    return robustLoss("smoothL1Loss", x, target, threshold: beta, quadraticScale: beta > 0 ? 1 / beta : 0, linearScale: 1)
}

/// Huber loss, PyTorch's `F.huber_loss` (mean): per element, with `d = x − t`, `0.5·d²` where `|d| < δ`,
/// else `δ·(|d| − 0.5·δ)`; gradient `d/n` or `δ·sign(d)/n`. It is `δ ×` the smooth L1 loss with `β = δ`.
public func huberLoss(_ x: Tensor, _ target: Tensor, delta: Float = 1) -> Tensor {
    precondition(delta > 0, "huberLoss: delta \(delta) must be positive")
    return robustLoss("huberLoss", x, target, threshold: delta, quadraticScale: 1, linearScale: delta)
}

/// Mean of `0.5·q·d²` where `|d| < threshold`, else `l·(|d| − 0.5·threshold)`, with `q = quadraticScale`
/// and `l = linearScale` (the two pieces meet when `q·threshold = l`).
private func robustLoss(_ name: String, _ x: Tensor, _ target: Tensor, threshold: Float, quadraticScale: Float,
                        linearScale: Float) -> Tensor {
    elementwiseLoss(name, x, target) { d in
        let magnitude = Swift.abs(d)
        if magnitude < threshold { return (0.5 * quadraticScale * d * d, quadraticScale * d) }
        return (linearScale * (magnitude - 0.5 * threshold), d > 0 ? linearScale : (d < 0 ? -linearScale : 0))
    }
}

/// `mean_i loss(d_i)` over the elements' differences `d = x − t` (same shapes), where `perElement(d)` gives
/// the loss and its derivative; the gradient is `derivative/n` for `x` and its negative for `t`.
private func elementwiseLoss(_ name: String, _ x: Tensor, _ target: Tensor,
                             _ perElement: (Float) -> (loss: Float, derivative: Float)) -> Tensor {
    precondition(x.shape == target.shape, "\(name): input \(x.shape) and target \(target.shape) differ")
    let n = x.count
    let inverse = 1 / Float(max(n, 1))
    var total = 0.0
    var gradient = [Float](repeating: 0, count: n)
    for i in 0..<n {
        let (loss, derivative) = perElement(x.storage[i] - target.storage[i])
        total += Double(loss)
        gradient[i] = derivative * inverse
    }
    return lossNode(total / Double(max(n, 1)), input: x, gradient: gradient,
                    other: target, otherGradient: target.requiresGrad ? gradient.map { -$0 } : nil)
}

/// Multi-class hinge loss, PyTorch's `F.multi_margin_loss` with `p = 1` and mean reduction:
///
///     loss = mean_i Σ_{j ≠ y_i} max(0, margin − x_{i,y_i} + x_{i,j}) / C
///
/// The multi-class SVM loss of CS231n, `Σ_{j≠y} max(0, s_j − s_y + 1)` averaged over the batch, is
/// `C ×` this value; `svmHingeLoss` computes it directly. `x` is `[N, C]`, `targets.count == N`.
public func multiMarginLoss(_ x: Tensor, targets: [Int], margin: Float = 1) -> Tensor {
    precondition(x.rank == 2, "multiMarginLoss expects scores [N, C], got \(x.shape)")
    return hingeLoss(x, targets: targets, margin: margin, divisor: Float(x.shape[1]))
}

/// The multi-class SVM (Weston–Watkins) hinge loss `mean_i Σ_{j ≠ y_i} max(0, margin − x_{i,y_i} + x_{i,j})`,
/// i.e. `C × multiMarginLoss`. `x` is `[N, C]`, `targets.count == N`.
public func svmHingeLoss(_ x: Tensor, targets: [Int], margin: Float = 1) -> Tensor {
    precondition(x.rank == 2, "svmHingeLoss expects scores [N, C], got \(x.shape)")
    return hingeLoss(x, targets: targets, margin: margin, divisor: 1)
}

/// `Σ_i Σ_{j≠y_i} max(0, margin − x_{i,y_i} + x_{i,j}) / (divisor · N)`; the gradient is `±1/(divisor·N)`
/// for each active term (0 exactly at the hinge, as PyTorch).
private func hingeLoss(_ x: Tensor, targets: [Int], margin: Float, divisor: Float) -> Tensor {
    let batch = x.shape[0], classes = x.shape[1]
    precondition(targets.count == batch, "hinge loss: \(targets.count) targets for scores \(x.shape)")
    let step = 1 / (divisor * Float(max(batch, 1)))
    var total = 0.0
    var gradient = [Float](repeating: 0, count: x.count)
    for i in 0..<batch {
        let y = targets[i]
        precondition(y >= 0 && y < classes, "hinge loss target \(y) out of range for \(classes) classes")
        let row = i * classes
        let correct = x.storage[row + y]
        for j in 0..<classes where j != y {
            let z = margin - correct + x.storage[row + j]
            if z > 0 {
                total += Double(z)
                gradient[row + j] += step
                gradient[row + y] -= step
            }
        }
    }
    return lossNode(total * Double(step), input: x, gradient: gradient)
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
    return lossNode(1 - meanDice, input: logits, gradient: gradient)
}
