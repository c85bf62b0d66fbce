import Foundation

// Batch and group normalisation, each as one graph node with a hand-written backward pass.

/// Batch normalisation over axis 1 (channels) of `[N, C, H, W]`, `[N, C]` or any `[N, C, …]` tensor
/// (Ioffe & Szegedy 2015), with PyTorch's semantics.
///
/// Each channel `c` is normalised over all its `m = N·H·W` elements:
///
///     y = (x − μ_c) / √(σ²_c + eps) · weight_c + bias_c
///
/// - **Training**: `μ_c` and `σ²_c` are the batch meanValues and the *biased* batch variance. The running
///   statistics, when given, are updated in place (their `storage`) as
///   `r ← (1 − momentum)·r + momentum·batch`, using the *unbiased* variance `σ²_c · m / (m − 1)` for
///   `runningVar`, exactly as PyTorch. The update happens even inside `Autograd.noGrad`.
/// - **Evaluation**: `μ_c` and `σ²_c` are `runningMean` and `runningVar`; when no running statistics
///   are given (PyTorch's `track_running_stats=False`) the batch statistics are used.
///
/// `weight` and `bias` (shape `[C]`) are optional (`affine=false`). Gradients flow to `x`, `weight` and
/// `bias`; in training the backward pass is
/// `dx = weight·invstd·(g − mean(g) − x̂·mean(g·x̂))`, `dweight = Σ g·x̂`, `dbias = Σ g`.
public func batchNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
                        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 2, "batchNorm2d expects [N, C, …], got shape \(x.shape)")
    let batch = x.shape[0], channels = x.shape[1]
    let inner = x.shape[2...].reduce(1, *)
    let perChannel = batch * inner
    for (name, tensor) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)] {
        if let tensor {
            precondition(tensor.count == channels,
                         "batchNorm2d \(name) has shape \(tensor.shape), expected [\(channels)] for input \(x.shape)")
        }
    }
    precondition((runningMean == nil) == (runningVar == nil),
                 "batchNorm2d needs both runningMean and runningVar, or neither")
    let useBatchStatistics = training || runningMean == nil
    if useBatchStatistics {
        precondition(perChannel > 1, "batchNorm2d with batch statistics needs more than one value per channel, got input \(x.shape)")
    }

    let input = x.storage
    var meanValues = [Float](repeating: 0, count: channels)
    var invStdValues = [Float](repeating: 0, count: channels)
    if useBatchStatistics {
        var variance = [Float](repeating: 0, count: channels)
        input.withUnsafeBufferPointer { xs in
            meanValues.withUnsafeMutableBufferPointer { meanOut in
                variance.withUnsafeMutableBufferPointer { varianceOut in
                    Parallel.forEach(channels, grain: max(1, 65_536 / max(perChannel, 1))) { range in
                        for c in range {
                            let (mu, sigma2) = channelMoments(xs, channel: c, channels: channels, batch: batch, inner: inner)
                            meanOut[c] = mu
                            varianceOut[c] = sigma2
                        }
                    }
                }
            }
        }
        for c in 0..<channels { invStdValues[c] = 1 / (variance[c] + eps).squareRoot() }
        if training, let runningMean, let runningVar {
            let unbiasing = Float(perChannel) / Float(perChannel - 1)
            for c in 0..<channels {
                runningMean.storage[c] = (1 - momentum) * runningMean.storage[c] + momentum * meanValues[c]
                runningVar.storage[c] = (1 - momentum) * runningVar.storage[c] + momentum * variance[c] * unbiasing
            }
        }
    } else if let runningMean, let runningVar {
        meanValues = runningMean.storage
        for c in 0..<channels { invStdValues[c] = 1 / (runningVar.storage[c] + eps).squareRoot() }
    }

    // y = x·scale_c + shift_c with scale = weight·invstd, shift = bias − mean·scale.
    var scaleValues = invStdValues
    var shift = [Float](repeating: 0, count: channels)
    for c in 0..<channels {
        if let weight { scaleValues[c] *= weight.storage[c] }
        shift[c] = (bias?.storage[c] ?? 0) - meanValues[c] * scaleValues[c]
    }
    let (mean, invStd, scale) = (meanValues, invStdValues, scaleValues)
    let out = affinePerPlane(input, planes: batch * channels, inner: inner) { plane in
        (scale[plane % channels], shift[plane % channels])
    }

    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return Tensor.record(shape: x.shape, storage: out, inputs: inputs) { g in
        // Per channel: Σg and Σg·x̂, with x̂ = (x − μ)·invstd.
        var sumGrad = [Float](repeating: 0, count: channels)
        var sumGradXHat = [Float](repeating: 0, count: channels)
        input.withUnsafeBufferPointer { xs in
            g.storage.withUnsafeBufferPointer { gs in
                sumGrad.withUnsafeMutableBufferPointer { sg in
                    sumGradXHat.withUnsafeMutableBufferPointer { sgx in
                        Parallel.forEach(channels, grain: max(1, 65_536 / max(perChannel, 1))) { range in
                            for c in range {
                                var total = 0.0, totalCentred = 0.0
                                let mu = mean[c]
                                for n in 0..<batch {
                                    let base = (n * channels + c) * inner
                                    let (rowTotal, rowCentred) = gradientMoments(gs.baseAddress! + base, xs.baseAddress! + base,
                                                                                 count: inner, mean: mu)
                                    total += Double(rowTotal)
                                    totalCentred += Double(rowCentred)
                                }
                                sg[c] = Float(total)
                                sgx[c] = Float(totalCentred) * invStd[c]
                            }
                        }
                    }
                }
            }
        }
        if let weight, weight.requiresGrad { weight.accumulateGrad(storage: sumGradXHat) }
        if let bias, bias.requiresGrad { bias.accumulateGrad(storage: sumGrad) }
        guard x.requiresGrad else { return }
        let inverseCount = 1 / Float(perChannel)
        let gx = input.withUnsafeBufferPointer { xs in
            g.storage.withUnsafeBufferPointer { gs in
                [Float](unsafeUninitializedCapacity: xs.count) { dx, initialized in
                    initialized = xs.count
                    guard let source = xs.baseAddress, let upstream = gs.baseAddress,
                          let destination = dx.baseAddress else { return }
                    Parallel.forEach(batch * channels, grain: max(1, 32_768 / max(inner, 1))) { range in
                        for plane in range {
                            let c = plane % channels
                            let xp = source + plane * inner, gp = upstream + plane * inner
                            let dp = destination + plane * inner
                            let a = scale[c]
                            if useBatchStatistics {
                                // dx = scale·(g − mean(g) − x̂·mean(g·x̂)), x̂ = (x − μ)·invstd
                                let mu = mean[c]
                                let meanGrad = sumGrad[c] * inverseCount
                                let k = sumGradXHat[c] * inverseCount * invStd[c]
                                for s in 0..<inner { dp[s] = a * (gp[s] - meanGrad - (xp[s] - mu) * k) }
                            } else {
                                for s in 0..<inner { dp[s] = a * gp[s] }
                            }
                        }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}

/// Group normalisation (Wu & He 2018) of `[N, C, …]`, PyTorch's `F.group_norm`: the channels of each
/// sample are split into `groups` consecutive groups, and each group's `m = (C / groups)·H·W` elements are
/// normalised by their own mean and biased variance, then scaled and shifted per channel:
///
///     y = (x − μ_ng) / √(σ²_ng + eps) · weight_c + bias_c
///
/// The statistics never depend on the rest of the batch, so training and evaluation agree. `groups = 1`
/// normalises each sample over all its channels; `groups = C` is instance normalisation.
/// `weight` and `bias` (shape `[C]`) are optional. Backward: with `ĝ = g·weight_c` and `x̂ = (x − μ)·invstd`,
/// `dx = invstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))` over the group, `dweight = Σ g·x̂`, `dbias = Σ g`.
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 2, "groupNorm expects [N, C, …], got shape \(x.shape)")
    let batch = x.shape[0], channels = x.shape[1]
    // Checked in release builds too (-Ounchecked drops preconditions): a wrong split or parameter size
    // would index past the statistics or parameters.
    if groups <= 0 || channels % groups != 0 { fatalError("groupNorm: \(channels) channels do not split into \(groups) groups") }
    for (name, tensor) in [("weight", weight), ("bias", bias)] {
        if let tensor, tensor.shape != [channels] {
            fatalError("groupNorm \(name) has shape \(tensor.shape), expected [\(channels)] for input \(x.shape)")
        }
    }
    let inner = x.shape[2...].reduce(1, *)
    let perGroup = channels / groups
    let span = perGroup * inner
    let blocks = batch * groups
    let input = x.storage
    // A group's channels are consecutive, so its elements are one contiguous run.
    let (meanValues, invStdValues) = blockMoments(input, blocks: blocks, span: span, eps: eps)
    let weights = weight?.storage, biases = bias?.storage
    let (mean, invStd) = (meanValues, invStdValues)
    let out = affinePerPlane(input, planes: batch * channels, inner: inner) { plane in
        let c = plane % channels, block = plane / perGroup
        let a = invStd[block] * (weights?[c] ?? 1)
        return (a, (biases?[c] ?? 0) - mean[block] * a)
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return Tensor.record(shape: x.shape, storage: out, inputs: inputs) { g in
        // Per (sample, channel): Σg and Σg·(x − μ).
        let planes = batch * channels
        var sumGrad = [Float](repeating: 0, count: planes)
        var sumGradCentred = [Float](repeating: 0, count: planes)
        input.withUnsafeBufferPointer { xs in
            g.storage.withUnsafeBufferPointer { gs in
                sumGrad.withUnsafeMutableBufferPointer { sg in
                    sumGradCentred.withUnsafeMutableBufferPointer { sgc in
                        guard let source = xs.baseAddress, let upstream = gs.baseAddress else { return }
                        Parallel.forEach(planes, grain: max(1, 32_768 / max(inner, 1))) { range in
                            for plane in range {
                                (sg[plane], sgc[plane]) = gradientMoments(upstream + plane * inner, source + plane * inner,
                                                                          count: inner, mean: mean[plane / perGroup])
                            }
                        }
                    }
                }
            }
        }
        if let weight, weight.requiresGrad {
            var dWeight = [Double](repeating: 0, count: channels)
            for plane in 0..<planes { dWeight[plane % channels] += Double(sumGradCentred[plane] * invStd[plane / perGroup]) }
            weight.accumulateGrad(storage: dWeight.map { Float($0) })
        }
        if let bias, bias.requiresGrad {
            var dBias = [Double](repeating: 0, count: channels)
            for plane in 0..<planes { dBias[plane % channels] += Double(sumGrad[plane]) }
            bias.accumulateGrad(storage: dBias.map { Float($0) })
        }
        guard x.requiresGrad else { return }
        // Per group: A = mean(ĝ), B = mean(ĝ·x̂) with ĝ = g·weight_c.
        var meanGrad = [Float](repeating: 0, count: blocks), meanGradXHat = [Float](repeating: 0, count: blocks)
        for block in 0..<blocks {
            var a = 0.0, b = 0.0
            for plane in (block * perGroup)..<((block + 1) * perGroup) {
                let w = Double(weights?[plane % channels] ?? 1)
                a += w * Double(sumGrad[plane])
                b += w * Double(sumGradCentred[plane])
            }
            meanGrad[block] = Float(a / Double(span))
            meanGradXHat[block] = Float(b / Double(span)) * invStd[block]
        }
        let (groupMeanGrad, groupMeanGradXHat) = (meanGrad, meanGradXHat)
        let gx = input.withUnsafeBufferPointer { xs in
            g.storage.withUnsafeBufferPointer { gs in
                [Float](unsafeUninitializedCapacity: xs.count) { dx, initialized in
                    initialized = xs.count
                    guard let source = xs.baseAddress, let upstream = gs.baseAddress,
                          let destination = dx.baseAddress else { return }
                    Parallel.forEach(planes, grain: max(1, 32_768 / max(inner, 1))) { range in
                        for plane in range {
                            let c = plane % channels, block = plane / perGroup
                            let w = weights?[c] ?? 1, sigma = invStd[block], mu = mean[block]
                            let a = groupMeanGrad[block], k = groupMeanGradXHat[block] * sigma
                            let xp = source + plane * inner, gp = upstream + plane * inner, dp = destination + plane * inner
                            // dx = invstd·(w·g − A − x̂·B), x̂ = (x − μ)·invstd
                            for s in 0..<inner { dp[s] = sigma * (w * gp[s] - a - (xp[s] - mu) * k) }
                        }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}

/// Layer normalisation (Ba et al. 2016), PyTorch's `F.layer_norm(x, normalized_shape, weight, bias, eps)`:
/// every run of the last `normalizedShape.count` dimensions (`D = Π normalizedShape` values) is normalised by
/// its own mean and biased variance, then scaled and shifted element by element:
///
///     y = (x − μ_r) / √(σ²_r + eps) · weight_j + bias_j
///
/// `weight` and `bias` (shape `normalizedShape`) are optional. For `[N, C, H, W]` feature maps normalised
/// over the channels at each pixel (ConvNeXt's LayerNorm2d), permute to `[N, H, W, C]` first. Backward: with
/// `ĝ = g·weight_j` and `x̂ = (x − μ)·invstd`, `dx = invstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))` over the run,
/// `dweight_j = Σ_r g·x̂`, `dbias_j = Σ_r g`.
public func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                      eps: Float = 1e-5) -> Tensor {
    // Checked in release builds too (-Ounchecked drops preconditions): a wrong shape would index past the parameters.
    let k = normalizedShape.count
    if k == 0 || k > x.rank || Array(x.shape.suffix(k)) != normalizedShape {
        fatalError("layerNorm: input \(x.shape) does not end in the normalised shape \(normalizedShape)")
    }
    for (name, tensor) in [("weight", weight), ("bias", bias)] {
        if let tensor, tensor.shape != normalizedShape {
            fatalError("layerNorm \(name) has shape \(tensor.shape), expected \(normalizedShape)")
        }
    }
    let span = normalizedShape.reduce(1, *)
    let rows = span > 0 ? x.count / span : 0
    let input = x.storage
    let (mean, invStd) = blockMoments(input, blocks: rows, span: span, eps: eps)
    let ones = [Float](repeating: 1, count: weight == nil ? span : 0)
    let weights = weight?.storage ?? ones
    let biases = bias?.storage ?? [Float](repeating: 0, count: span)
    let out = input.withUnsafeBufferPointer { xs in
        [Float](unsafeUninitializedCapacity: xs.count) { ys, initialized in
            initialized = xs.count
            guard let source = xs.baseAddress, let destination = ys.baseAddress else { return }
            weights.withUnsafeBufferPointer { ws in
                biases.withUnsafeBufferPointer { bs in
                    guard let w = ws.baseAddress, let b = bs.baseAddress else { return }
                    Parallel.forEach(rows, grain: max(1, 32_768 / max(span, 1))) { range in
                        for row in range {
                            let xp = source + row * span, yp = destination + row * span
                            let mu = mean[row], sigma = invStd[row]
                            for j in 0..<span { yp[j] = (xp[j] - mu) * sigma * w[j] + b[j] }
                        }
                    }
                }
            }
        }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return Tensor.record(shape: x.shape, storage: out, inputs: inputs) { g in
        let upstream = g.storage
        if weight?.requiresGrad == true || bias?.requiresGrad == true {
            var dWeight = [Double](repeating: 0, count: span), dBias = [Double](repeating: 0, count: span)
            for row in 0..<rows {
                let base = row * span, mu = mean[row], sigma = invStd[row]
                for j in 0..<span {
                    let gv = Double(upstream[base + j])
                    dBias[j] += gv
                    dWeight[j] += gv * Double((input[base + j] - mu) * sigma)
                }
            }
            if let weight, weight.requiresGrad { weight.accumulateGrad(storage: dWeight.map { Float($0) }) }
            if let bias, bias.requiresGrad { bias.accumulateGrad(storage: dBias.map { Float($0) }) }
        }
        guard x.requiresGrad else { return }
        var gx = [Float](repeating: 0, count: input.count)
        gx.withUnsafeMutableBufferPointer { dx in
            guard let destination = dx.baseAddress else { return }
            Parallel.forEach(rows, grain: max(1, 32_768 / max(span, 1))) { range in
                for row in range {
                    let base = row * span, mu = mean[row], sigma = invStd[row]
                    // A = mean(ĝ), B = mean(ĝ·x̂) over the run.
                    var a = 0.0, b = 0.0
                    for j in 0..<span {
                        let gHat = Double(upstream[base + j] * weights[j])
                        a += gHat
                        b += gHat * Double((input[base + j] - mu) * sigma)
                    }
                    let meanGrad = Float(a / Double(span)), meanGradXHat = Float(b / Double(span))
                    for j in 0..<span {
                        let xHat = (input[base + j] - mu) * sigma
                        destination[base + j] = sigma * (upstream[base + j] * weights[j] - meanGrad - xHat * meanGradXHat)
                    }
                }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}

/// Mean and `1/√(biased variance + eps)` of `blocks` consecutive runs of `span` values (two passes), spread
/// over the cores.
private func blockMoments(_ input: [Float], blocks: Int, span: Int, eps: Float) -> (mean: [Float], invStd: [Float]) {
    var meanValues = [Float](repeating: 0, count: blocks)
    var invStdValues = [Float](repeating: 0, count: blocks)
    input.withUnsafeBufferPointer { xs in
        meanValues.withUnsafeMutableBufferPointer { meanOut in
            invStdValues.withUnsafeMutableBufferPointer { invStdOut in
                guard let source = xs.baseAddress else { return }
                Parallel.forEach(blocks, grain: max(1, 65_536 / max(span, 1))) { range in
                    for block in range {
                        let start = source + block * span
                        // Float sums over pieces of 4096 values, added up in Double.
                        func total(_ piece: (UnsafePointer<Float>, Int) -> Float) -> Double {
                            stride(from: 0, to: span, by: 4096).reduce(0.0) { $0 + Double(piece(start + $1, min(4096, span - $1))) }
                        }
                        let mu = Float(total { rowSum($0, count: $1) } / Double(span))
                        let variance = total { rowCentredSquares($0, count: $1, mean: mu) } / Double(span)
                        meanOut[block] = mu
                        invStdOut[block] = 1 / (Float(variance) + eps).squareRoot()
                    }
                }
            }
        }
    }
    return (meanValues, invStdValues)
}

/// `y = x·a + b` over `planes` consecutive runs of `inner` values, `(a, b) = coefficients(plane)`,
/// spread over the cores.
private func affinePerPlane(_ input: [Float], planes: Int, inner: Int,
                            _ coefficients: (Int) -> (Float, Float)) -> [Float] {
    input.withUnsafeBufferPointer { xs in
        [Float](unsafeUninitializedCapacity: xs.count) { ys, initialized in
            initialized = xs.count
            // Plain pointers in locals let the loop vectorise (no reload through the captured buffer).
            guard let source = xs.baseAddress, let destination = ys.baseAddress else { return }
            Parallel.forEach(planes, grain: max(1, 32_768 / max(inner, 1))) { range in
                for plane in range {
                    let (a, b) = coefficients(plane)
                    let xp = source + plane * inner, yp = destination + plane * inner
                    for s in 0..<inner { yp[s] = xp[s] * a + b }
                }
            }
        }
    }
}

/// Mean and biased variance of one channel of an `[N, C, inner]` buffer (two passes, Double totals).
private func channelMoments(_ xs: UnsafeBufferPointer<Float>, channel c: Int, channels: Int,
                            batch: Int, inner: Int) -> (mean: Float, variance: Float) {
    let start = xs.baseAddress!
    var total = 0.0
    for n in 0..<batch {
        total += Double(rowSum(start + (n * channels + c) * inner, count: inner))
    }
    let count = Double(batch * inner)
    let mean = Float(total / count)
    var squares = 0.0
    for n in 0..<batch {
        squares += Double(rowCentredSquares(start + (n * channels + c) * inner, count: inner, mean: mean))
    }
    return (mean, Float(squares / count))
}

// Row reductions with SIMD accumulators: the compiler does not reorder a scalar float sum by itself.

private typealias Lanes = SIMD8<Float>

@inline(__always)
private func load(_ p: UnsafePointer<Float>, _ i: Int) -> Lanes {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
}

/// `Σ x`.
private func rowSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var a = Lanes(), b = Lanes()
    var i = 0
    while i + 16 <= count {
        a += load(x, i)
        b += load(x, i + 8)
        i += 16
    }
    var total = (a + b).sum()
    while i < count { total += x[i]; i += 1 }
    return total
}

/// `Σ (x − mean)²`.
private func rowCentredSquares(_ x: UnsafePointer<Float>, count: Int, mean: Float) -> Float {
    var a = Lanes(), b = Lanes()
    let m = Lanes(repeating: mean)
    var i = 0
    while i + 16 <= count {
        let d0 = load(x, i) - m, d1 = load(x, i + 8) - m
        a += d0 * d0
        b += d1 * d1
        i += 16
    }
    var total = (a + b).sum()
    while i < count { let d = x[i] - mean; total += d * d; i += 1 }
    return total
}

/// `(Σ g, Σ g·(x − mean))`.
private func gradientMoments(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int,
                             mean: Float) -> (Float, Float) {
    var sumA = Lanes(), sumB = Lanes(), dotA = Lanes(), dotB = Lanes()
    let m = Lanes(repeating: mean)
    var i = 0
    while i + 16 <= count {
        let g0 = load(g, i), g1 = load(g, i + 8)
        sumA += g0
        sumB += g1
        dotA += g0 * (load(x, i) - m)
        dotB += g1 * (load(x, i + 8) - m)
        i += 16
    }
    var total = (sumA + sumB).sum(), dot = (dotA + dotB).sum()
    while i < count { total += g[i]; dot += g[i] * (x[i] - mean); i += 1 }
    return (total, dot)
}
