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
    return dropRuns(x, runs: x.count, length: 1, p: p, generator: &generator)
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
    return dropRuns(x, runs: x.shape[0] * x.shape[1], length: x.shape[2] * x.shape[3], p: p, generator: &generator)
}

/// Splits `x`'s storage into `runs` consecutive runs of `length` values, draws one uniform number per run in
/// order, and multiplies each run by 0 (probability `p`) or `1 / (1 − p)`, as `x · mask` (so a NaN stays NaN,
/// as in PyTorch); the gradient is `g` times the same factors.
private func dropRuns(_ x: Tensor, runs: Int, length: Int, p: Float, generator: inout SeededGenerator) -> Tensor {
    let keepScale: Float = p < 1 ? 1 / (1 - p) : 0
    var factors = [Float](repeating: 0, count: runs)
    for run in 0..<runs where generator.nextUniform() >= p { factors[run] = keepScale }
    /// `values` with each run multiplied by its factor.
    func scaled(_ values: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            factors.withUnsafeBufferPointer { factor in
                out.withUnsafeMutableBufferPointer { destination in
                    if length == 1 {
                        for i in 0..<destination.count { destination[i] = source[i] * factor[i] }
                    } else {
                        for run in 0..<runs {
                            for i in (run * length)..<((run + 1) * length) { destination[i] = source[i] * factor[run] }
                        }
                    }
                }
            }
        }
        return out
    }
    return Tensor.record(shape: x.shape, storage: scaled(x.storage), inputs: [x]) { g in
        x.accumulateGrad(storage: scaled(g.storage))
    }
}
