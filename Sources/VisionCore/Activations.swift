import Foundation

// Activation functions, each one graph node with a hand-written derivative.

/// A pointwise activation: its value and its derivative expressed with the input `x` and output `y`.
/// Ops are small structs so that `pointwise` is specialised for each (no closure call per element).
private protocol PointwiseActivation {
    func value(_ x: Float) -> Float
    func derivative(x: Float, y: Float) -> Float
}

private struct ReluActivation: PointwiseActivation {
    /// NaN passes through (as in PyTorch), so a diverged network still produces a non-finite loss.
    func value(_ x: Float) -> Float { x <= 0 ? 0 : x }
    func derivative(x: Float, y: Float) -> Float { x > 0 ? 1 : 0 }
}

private struct LeakyReluActivation: PointwiseActivation {
    let negativeSlope: Float
    func value(_ x: Float) -> Float { x > 0 ? x : x * negativeSlope }
    func derivative(x: Float, y: Float) -> Float { x > 0 ? 1 : negativeSlope }
}

/// `scale · (x > 0 ? x : alpha·(eˣ − 1))`: ELU with `scale = 1`, SELU with its constants.
private struct ScaledEluActivation: PointwiseActivation {
    let alpha: Float, scale: Float
    func value(_ x: Float) -> Float { x > 0 ? scale * x : scale * alpha * Foundation.expm1(x) }
    func derivative(x: Float, y: Float) -> Float { x > 0 ? scale : y + scale * alpha }
}

private struct SigmoidActivation: PointwiseActivation {
    func value(_ x: Float) -> Float { stableSigmoid(x) }
    func derivative(x: Float, y: Float) -> Float { y * (1 - y) }
}

private struct TanhActivation: PointwiseActivation {
    func value(_ x: Float) -> Float { Foundation.tanh(x) }
    func derivative(x: Float, y: Float) -> Float { 1 - y * y }
}

/// `x · σ(x)` (SiLU, "swish"); `dy/dx = σ(x) · (1 + x · (1 − σ(x)))`.
private struct SiluActivation: PointwiseActivation {
    func value(_ x: Float) -> Float { x * stableSigmoid(x) }
    func derivative(x: Float, y: Float) -> Float {
        let s = stableSigmoid(x)
        return s * (1 + x * (1 - s))
    }
}

/// GELU `x · Φ(x)` with the normal CDF by `erf`; `dy/dx = Φ(x) + x · φ(x)`.
private struct GeluActivation: PointwiseActivation {
    func value(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * Float(0.5.squareRoot()))) }
    func derivative(x: Float, y: Float) -> Float {
        let cdf = 0.5 * (1 + Foundation.erf(x * Float(0.5.squareRoot())))
        return cdf + x * Foundation.exp(-0.5 * x * x) * Float(1 / (2 * Double.pi).squareRoot())
    }
}

/// GELU's tanh approximation `½x · (1 + tanh(√(2/π) · (x + 0.044715x³)))`.
private struct GeluTanhActivation: PointwiseActivation {
    static let k = Float((2 / Double.pi).squareRoot())
    func value(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.tanh(Self.k * (x + 0.044715 * x * x * x))) }
    func derivative(x: Float, y: Float) -> Float {
        let t = Foundation.tanh(Self.k * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Self.k * (1 + 3 * 0.044715 * x * x)
    }
}

/// `x · relu6(x + 3) / 6`; the gradient is 0 for `x ≤ −3`, `x/3 + ½` strictly between, 1 from 3 on (PyTorch 2.15's).
private struct HardswishActivation: PointwiseActivation {
    func value(_ x: Float) -> Float { x * Swift.min(Swift.max(x + 3, 0), 6) / 6 }
    func derivative(x: Float, y: Float) -> Float { x <= -3 ? 0 : (x < 3 ? x / 3 + 0.5 : 1) }
}

/// `relu6(x + 3) / 6`; the gradient is 1/6 strictly inside (−3, 3), 0 elsewhere (bounds included, as PyTorch).
private struct HardsigmoidActivation: PointwiseActivation {
    func value(_ x: Float) -> Float { Swift.min(Swift.max(x + 3, 0), 6) / 6 }
    func derivative(x: Float, y: Float) -> Float { x > -3 && x < 3 ? 1 / 6 : 0 }
}

/// `min(max(x, 0), 6)`; the gradient is 1 strictly inside (0, 6), 0 at the bounds (as PyTorch's hardtanh).
private struct Relu6Activation: PointwiseActivation {
    /// NaN passes through, as in `relu`.
    func value(_ x: Float) -> Float { x <= 0 ? 0 : (x >= 6 ? 6 : x) }
    func derivative(x: Float, y: Float) -> Float { x > 0 && x < 6 ? 1 : 0 }
}

/// `log(1 + e^(βx)) / β`, and `x` itself where `βx > threshold` (PyTorch's linear region); `dy/dx = σ(βx)`, 1 there.
private struct SoftplusActivation: PointwiseActivation {
    let beta: Float, threshold: Float
    func value(_ x: Float) -> Float {
        let z = beta * x
        return z > threshold ? x : (Swift.max(z, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(z)))) / beta
    }
    func derivative(x: Float, y: Float) -> Float { beta * x > threshold ? 1 : stableSigmoid(beta * x) }
}

/// Mish `x · tanh(softplus(x))`; `dy/dx = tanh(sp) + x · (1 − tanh²(sp)) · σ(x)`.
private struct MishActivation: PointwiseActivation {
    static func softplus(_ x: Float) -> Float { Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    func value(_ x: Float) -> Float { x * Foundation.tanh(Self.softplus(x)) }
    func derivative(x: Float, y: Float) -> Float {
        let t = Foundation.tanh(Self.softplus(x))
        return t + x * (1 - t * t) * stableSigmoid(x)
    }
}

/// An array of `count` elements whose every element `body` writes (no zero-fill pass).
private func uninitializedFloats(_ count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        body(buffer)
        initialized = count
    }
}

extension Tensor {
    /// `y = op.value(x)`, `dx = g · op.derivative(x, y)`, one node; large tensors are split over the cores.
    private func pointwise<Op: PointwiseActivation>(_ op: Op) -> Tensor {
        let input = storage
        let out = input.withUnsafeBufferPointer { xs in
            uninitializedFloats(xs.count) { ys in
                guard let xp = xs.baseAddress, let yp = ys.baseAddress else { return }
                Parallel.forEach(ys.count) { range in
                    for i in range { yp[i] = op.value(xp[i]) }
                }
            }
        }
        return Tensor.record(shape: shape, storage: out, inputs: [self]) { [self] g in
            let gx = input.withUnsafeBufferPointer { xs in
                out.withUnsafeBufferPointer { ys in
                    g.storage.withUnsafeBufferPointer { gs in
                        uninitializedFloats(xs.count) { dx in
                            guard let xp = xs.baseAddress, let yp = ys.baseAddress,
                                  let gp = gs.baseAddress, let dp = dx.baseAddress else { return }
                            Parallel.forEach(dx.count) { range in
                                for i in range { dp[i] = gp[i] * op.derivative(x: xp[i], y: yp[i]) }
                            }
                        }
                    }
                }
            }
            self.accumulateGrad(storage: gx)
        }
    }

    /// `max(x, 0)`; the gradient is 1 where `x > 0` and 0 elsewhere (0 at the kink, as PyTorch).
    public func relu() -> Tensor {
        pointwise(ReluActivation())
    }

    /// `x` for `x > 0`, `negativeSlope · x` otherwise.
    public func leakyRelu(negativeSlope: Float = 0.01) -> Tensor {
        pointwise(LeakyReluActivation(negativeSlope: negativeSlope))
    }

    /// ELU (Clevert et al. 2016): `x` for `x > 0`, `alpha · (eˣ − 1)` otherwise.
    public func elu(alpha: Float = 1) -> Tensor {
        pointwise(ScaledEluActivation(alpha: alpha, scale: 1))
    }

    /// SELU (Klambauer et al. 2017): `scale · elu(x, alpha)` with PyTorch's constants
    /// `alpha = 1.6732632423543772`, `scale = 1.0507009873554805`.
    public func selu() -> Tensor {
        pointwise(ScaledEluActivation(alpha: 1.6732632423543772, scale: 1.0507009873554805))
    }

    /// The logistic function `1 / (1 + e⁻ˣ)`, evaluated without overflow for large `|x|`; `dy/dx = y(1 − y)`.
    public func sigmoid() -> Tensor {
        pointwise(SigmoidActivation())
    }

    /// Hyperbolic tangent; `dy/dx = 1 − y²`.
    public func tanh() -> Tensor {
        pointwise(TanhActivation())
    }

    /// SiLU (swish) `x · σ(x)`, as `torch.nn.functional.silu`.
    public func silu() -> Tensor {
        pointwise(SiluActivation())
    }

    /// GELU `x · Φ(x)` (`approximateTanh`: the tanh approximation, PyTorch's `approximate='tanh'`).
    public func gelu(approximateTanh: Bool = false) -> Tensor {
        approximateTanh ? pointwise(GeluTanhActivation()) : pointwise(GeluActivation())
    }

    /// Hardswish (MobileNetV3) `x · relu6(x + 3) / 6`.
    public func hardswish() -> Tensor {
        pointwise(HardswishActivation())
    }

    /// Hardsigmoid `relu6(x + 3) / 6`.
    public func hardsigmoid() -> Tensor {
        pointwise(HardsigmoidActivation())
    }

    /// ReLU6 `min(max(x, 0), 6)`.
    public func relu6() -> Tensor {
        pointwise(Relu6Activation())
    }

    /// Softplus `log(1 + e^(βx)) / β`, linear where `βx > threshold` (PyTorch's defaults β = 1, threshold 20).
    public func softplus(beta: Float = 1, threshold: Float = 20) -> Tensor {
        precondition(beta > 0, "softplus: beta must be positive, got \(beta)")
        return pointwise(SoftplusActivation(beta: beta, threshold: threshold))
    }

    /// Mish `x · tanh(softplus(x))`.
    public func mish() -> Tensor {
        pointwise(MishActivation())
    }

    /// `exp(x − logsumexp(x))` along `axis`: `y_i = e^(x_i − max) / Σ_j e^(x_j − max)`.
    /// Backward: `dx = y · (g − Σ_j g_j y_j)`.
    public func softmax(axis: Int) -> Tensor {
        let (outer, n, inner) = split(at: self.axis(axis))
        let out = softmaxStorage(outer: outer, n: n, inner: inner, logarithm: false)
        return Tensor.record(shape: shape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: out.count)
            var dot = [Float](repeating: 0, count: inner)
            for p in 0..<outer {
                for q in 0..<inner { dot[q] = 0 }
                for k in 0..<n {
                    let base = (p * n + k) * inner
                    for q in 0..<inner { dot[q] += g.storage[base + q] * out[base + q] }
                }
                for k in 0..<n {
                    let base = (p * n + k) * inner
                    for q in 0..<inner { gx[base + q] = out[base + q] * (g.storage[base + q] - dot[q]) }
                }
            }
            self.accumulateGrad(storage: gx)
        }
    }

    /// `x − max − log Σ_j e^(x_j − max)` along `axis` (subtracting the maximum keeps it finite for
    /// large logits). Backward: `dx = g − softmax(x) · Σ_j g_j`.
    public func logSoftmax(axis: Int) -> Tensor {
        let (outer, n, inner) = split(at: self.axis(axis))
        let out = softmaxStorage(outer: outer, n: n, inner: inner, logarithm: true)
        return Tensor.record(shape: shape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: out.count)
            var total = [Float](repeating: 0, count: inner)
            for p in 0..<outer {
                for q in 0..<inner { total[q] = 0 }
                for k in 0..<n {
                    let base = (p * n + k) * inner
                    for q in 0..<inner { total[q] += g.storage[base + q] }
                }
                for k in 0..<n {
                    let base = (p * n + k) * inner
                    for q in 0..<inner { gx[base + q] = g.storage[base + q] - Foundation.exp(out[base + q]) * total[q] }
                }
            }
            self.accumulateGrad(storage: gx)
        }
    }

    /// Softmax (or log-softmax) of each `[outer, ·, inner]` fibre, vectorised over `inner`.
    func softmaxStorage(outer: Int, n: Int, inner: Int, logarithm: Bool) -> [Float] {
        guard n > 0, count > 0 else { return [Float](repeating: 0, count: count) }
        return storage.withUnsafeBufferPointer { xs in
            [Float](unsafeUninitializedCapacity: xs.count) { ys, initialized in
                initialized = xs.count
                let source = xs.baseAddress!, destination = ys.baseAddress!
                Parallel.forEach(outer, grain: Swift.max(1, 16_384 / (n * inner))) { range in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * inner)
                    defer { scratch.deallocate() }
                    let maximum = scratch, total = scratch + inner
                    for p in range {
                        let xp = source + p * n * inner, yp = destination + p * n * inner
                        for q in 0..<inner { maximum[q] = xp[q]; total[q] = 0 }
                        for k in 1..<n {
                            let row = xp + k * inner
                            for q in 0..<inner { maximum[q] = Swift.max(maximum[q], row[q]) }
                        }
                        for k in 0..<n {
                            let row = xp + k * inner, out = yp + k * inner
                            for q in 0..<inner {
                                let e = Foundation.exp(row[q] - maximum[q])
                                out[q] = e
                                total[q] += e
                            }
                        }
                        if logarithm {
                            // (x − max) − log Σ: subtracting the maximum first keeps full precision.
                            for q in 0..<inner { total[q] = Foundation.log(total[q]) }
                            for k in 0..<n {
                                let row = xp + k * inner, out = yp + k * inner
                                for q in 0..<inner { out[q] = (row[q] - maximum[q]) - total[q] }
                            }
                        } else {
                            for q in 0..<inner { total[q] = 1 / total[q] }
                            for k in 0..<n {
                                let out = yp + k * inner
                                for q in 0..<inner { out[q] *= total[q] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The logistic function without overflow: `1/(1+e⁻ˣ)` for `x ≥ 0`, `eˣ/(1+eˣ)` otherwise.
@inline(__always)
func stableSigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}

/// Parametric ReLU (He et al. 2015): `x` for `x > 0`, `weight_c · x` otherwise, with one slope per
/// channel on axis 1 (`weight` of shape `[C]`) or one shared slope (`weight` of shape `[1]`).
///
/// Gradients: `dx = g` where `x > 0` else `weight_c · g`; `dweight_c = Σ_{x ≤ 0} g · x`.
public func prelu(_ x: Tensor, weight: Tensor) -> Tensor {
    let slopes = weight.count
    let channels = x.rank >= 2 ? x.shape[1] : 1
    precondition(slopes == 1 || (x.rank >= 2 && slopes == channels),
                 "prelu weight of shape \(weight.shape) needs [1] or [\(channels)] for input \(x.shape)")
    let inner = x.rank >= 2 ? x.shape[2...].reduce(1, *) : x.count
    let planes = x.count / Swift.max(inner, 1)
    let input = x.storage
    let w = weight.storage
    // Plane `plane` of the [N·C, inner] view uses slope index `slopeIndex(plane)`.
    let slopeIndex: (Int) -> Int = { plane in slopes == 1 ? 0 : plane % channels }
    var out = [Float](repeating: 0, count: input.count)
    for plane in 0..<planes {
        let a = w[slopeIndex(plane)], base = plane * inner
        for s in 0..<inner {
            let v = input[base + s]
            out[base + s] = v > 0 ? v : a * v
        }
    }
    return Tensor.record(shape: x.shape, storage: out, inputs: [x, weight]) { g in
        var gx = [Float](repeating: 0, count: input.count)
        var gw = [Float](repeating: 0, count: slopes)
        for plane in 0..<planes {
            let c = slopeIndex(plane), a = w[c], base = plane * inner
            var slopeGrad: Float = 0
            for s in 0..<inner {
                let v = input[base + s], gy = g.storage[base + s]
                if v > 0 {
                    gx[base + s] = gy
                } else {
                    gx[base + s] = a * gy
                    slopeGrad += gy * v
                }
            }
            gw[c] += slopeGrad
        }
        x.accumulateGrad(storage: gx)
        weight.accumulateGrad(storage: gw)
    }
}
