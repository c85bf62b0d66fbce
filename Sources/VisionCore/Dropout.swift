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

/// Which units stochastic depth drops together.
public enum StochasticDepthMode: String, Sendable {
    /// Each sample of the batch separately (torchvision's `"row"`).
    case row
    /// The whole batch at once (`"batch"`).
    case batch
}

/// Stochastic depth (Huang et al. 2016), torchvision's `ops.stochastic_depth`: in training, zeroes the input
/// of a residual branch with probability `p` — per sample (`.row`) or for the whole batch (`.batch`) — and
/// scales the survivors by `1 / (1 − p)`: dropout over runs of one sample (or of the whole batch). Evaluation, or
/// `p == 0`, returns `x` itself; `p == 1` zeroes all. One uniform number per sample (or one per batch) is drawn
/// from `generator`. The gradient is `g` times the same factors.
public func stochasticDepth(_ x: Tensor, p: Float, mode: StochasticDepthMode = .row, training: Bool,
                            generator: inout SeededGenerator) -> Tensor {
    precondition(p >= 0 && p <= 1, "stochasticDepth probability must be in [0, 1], got \(p)")
    precondition(x.rank >= 1, "stochasticDepth needs a batch axis, got shape \(x.shape)")
    if !training || p == 0 || x.count == 0 { return x }
    let runs = mode == .row ? x.shape[0] : 1
    return dropRuns(x, runs: runs, length: x.count / runs, p: p, generator: &generator)
}

/// DropBlock (Ghiasi et al. 2018), torchvision's `ops.drop_block2d`: in training, zeroes `blockSize × blockSize`
/// squares of each feature map of `[N, C, H, W]`, then rescales so the mean is kept. Block corners are drawn
/// independently per map on the `(H − b + 1) × (W − b + 1)` positions where a block fits, with probability
///
///     γ = p·H·W / (b²·(H − b + 1)·(W − b + 1)),   b = min(blockSize, H, W),
///
/// (about a fraction `p` of the units dropped); the output is `x · mask · numel / (eps + Σ mask)`. Evaluation, or
/// `p == 0`, returns `x` itself. One uniform number per possible corner, in storage order, from `generator`.
/// `blockSize` must be odd, as torchvision's; where the map is smaller, the block shrinks to the map's shorter
/// side even when that is even (torchvision fails there).
public func dropBlock2d(_ x: Tensor, p: Float, blockSize: Int, eps: Float = 1e-6, training: Bool,
                        generator: inout SeededGenerator) -> Tensor {
    precondition(p >= 0 && p <= 1, "dropBlock2d probability must be in [0, 1], got \(p)")
    precondition(blockSize > 0 && blockSize % 2 == 1, "dropBlock2d block size must be positive and odd, got \(blockSize)")
    precondition(x.rank == 4, "dropBlock2d expects [N, C, H, W], got \(x.shape)")
    if !training || p == 0 || x.count == 0 { return x }
    let (maps, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let b = min(blockSize, h, w)
    let (rows, columns) = (h - b + 1, w - b + 1)
    let gamma = p * Float(h * w) / (Float(b * b) * Float(rows * columns))
    var mask = [Float](repeating: 1, count: x.count)
    var dropped = 0
    for map in 0..<maps {
        let plane = map * h * w
        for i in 0..<rows {
            for j in 0..<columns where generator.nextUniform() < gamma {
                for y in i..<(i + b) {
                    for xx in j..<(j + b) where mask[plane + y * w + xx] != 0 { mask[plane + y * w + xx] = 0; dropped += 1 }
                }
            }
        }
    }
    // Counted in integers: a Float sum of ones stops growing at 2²⁴.
    let scale = Float(Double(mask.count) / (Double(eps) + Double(mask.count - dropped)))
    return x * Tensor(mask.map { $0 * scale }, shape: x.shape)
}
