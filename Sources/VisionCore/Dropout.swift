// Inverted dropout (Srivastava et al. 2014) as one graph node.

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
