// Inverted dropout (Srivastava et al. 2014) and its channel-wise form, each as one graph node.

/// Inverted dropout: in training each element is zeroed with probability `p` and the survivors are
/// scaled by `1 / (1 − p)`, so the expectation of every element is unchanged:
///
///     y_i = x_i · m_i / (1 − p),   m_i ~ Bernoulli(1 − p)
///
/// In evaluation, or when `p == 0`, it is the identity and returns `x` itself. With `p == 1` every
/// element is zeroed (as PyTorch). The mask draws one uniform number per element from `generator`
/// in storage order, so a seed fixes the mask. The gradient is `g · m / (1 − p)`.
public func dropout(_ x: Tensor, p: Float, training: Bool, generator: inout SeededGenerator) -> Tensor {
    precondition(p >= 0 && p <= 1, "dropout probability must be in [0, 1], got \(p)")
    if !training || p == 0 { return x }
    let keepScale: Float = p < 1 ? 1 / (1 - p) : 0
    // The mask holds the factor each element is multiplied by: 0 or 1/(1 − p).
    var mask = [Float](repeating: 0, count: x.count)
    for i in 0..<mask.count where generator.nextUniform() >= p {
        mask[i] = keepScale
    }
    var out = [Float](repeating: 0, count: x.count)
    x.storage.withUnsafeBufferPointer { xs in
        mask.withUnsafeBufferPointer { ms in
            out.withUnsafeMutableBufferPointer { ys in
                for i in 0..<ys.count { ys[i] = xs[i] * ms[i] }
            }
        }
    }
    return Tensor.record(shape: x.shape, storage: out, inputs: [x]) { g in
        var gx = [Float](repeating: 0, count: mask.count)
        g.storage.withUnsafeBufferPointer { gs in
            mask.withUnsafeBufferPointer { ms in
                gx.withUnsafeMutableBufferPointer { dx in
                    for i in 0..<dx.count { dx[i] = gs[i] * ms[i] }
                }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}

/// Channel dropout, PyTorch's `F.dropout2d`: in training each channel of each sample of `[N, C, H, W]`
/// is zeroed whole with probability `p` and the others are scaled by `1 / (1 − p)` (Tompson et al. 2015:
/// neighbouring pixels are correlated, so dropping single pixels hardly regularises a convolution).
/// Evaluation, or `p == 0`, is the identity. One uniform number per `(n, c)` plane is drawn from
/// `generator` in storage order. The gradient is `g` times the plane's factor.
public func dropout2d(_ x: Tensor, p: Float, training: Bool, generator: inout SeededGenerator) -> Tensor {
    precondition(p >= 0 && p <= 1, "dropout2d probability must be in [0, 1], got \(p)")
    precondition(x.rank == 4, "dropout2d expects [N, C, H, W], got \(x.shape)")
    if !training || p == 0 { return x }
    let keepScale: Float = p < 1 ? 1 / (1 - p) : 0
    let planes = x.shape[0] * x.shape[1], inner = x.shape[2] * x.shape[3]
    var factors = [Float](repeating: 0, count: planes)
    for plane in 0..<planes where generator.nextUniform() >= p { factors[plane] = keepScale }
    /// `values` with each plane multiplied by its factor.
    func scaled(_ values: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { destination in
                for plane in 0..<planes where factors[plane] != 0 {
                    let factor = factors[plane]
                    for i in (plane * inner)..<((plane + 1) * inner) { destination[i] = source[i] * factor }
                }
            }
        }
        return out
    }
    return Tensor.record(shape: x.shape, storage: scaled(x.storage), inputs: [x]) { g in
        x.accumulateGrad(storage: scaled(g.storage))
    }
}
