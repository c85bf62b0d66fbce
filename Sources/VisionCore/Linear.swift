// Fully connected layer kernel: one sgemm forward, two sgemms backward, one graph node.

/// `y = x · weightᵀ + bias`, PyTorch's `F.linear`.
///
/// - Parameters:
///   - x: `[N, inFeatures]` (any leading axes are treated as the batch: `[…, inFeatures]`).
///   - weight: `[outFeatures, inFeatures]`, PyTorch's layout.
///   - bias: optional `[outFeatures]`.
/// - Returns: `[N, outFeatures]` (or `[…, outFeatures]`).
///
/// Backward: `dx = g · weight`, `dweight = gᵀ · x`, `dbias = Σ_rows g`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(weight.rank == 2, "linear weight must be [out, in], got \(weight.shape)")
    let outFeatures = weight.shape[0], inFeatures = weight.shape[1]
    precondition(x.rank >= 1 && x.shape[x.rank - 1] == inFeatures,
                 "linear expects input [N, \(inFeatures)] for weight \(weight.shape), got \(x.shape)")
    if let bias {
        precondition(bias.count == outFeatures, "linear bias has shape \(bias.shape), expected [\(outFeatures)]")
    }
    let rows = x.count / max(inFeatures, 1)
    let outShape = Array(x.shape.dropLast()) + [outFeatures]

    var out = [Float](repeating: 0, count: rows * outFeatures)
    if let bias {
        out.withUnsafeMutableBufferPointer { ys in
            bias.storage.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    for o in 0..<outFeatures { ys[r * outFeatures + o] = b[o] }
                }
            }
        }
    }
    let nonEmpty = rows > 0 && inFeatures > 0 && outFeatures > 0
    if nonEmpty {
        x.storage.withUnsafeBufferPointer { xs in
            weight.storage.withUnsafeBufferPointer { ws in
                out.withUnsafeMutableBufferPointer { ys in
                    BLAS.sgemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                               a: xs.baseAddress!, lda: inFeatures, b: ws.baseAddress!, ldb: inFeatures,
                               beta: bias == nil ? 0 : 1, c: ys.baseAddress!, ldc: outFeatures)
                }
            }
        }
    }

    var inputs = [x, weight]
    if let bias { inputs.append(bias) }
    let input = x.storage
    return Tensor.record(shape: outShape, storage: out, inputs: inputs) { g in
        guard rows > 0 && outFeatures > 0 else { return }
        g.storage.withUnsafeBufferPointer { gs in
            if x.requiresGrad && nonEmpty {
                var gx = [Float](repeating: 0, count: rows * inFeatures)
                weight.storage.withUnsafeBufferPointer { ws in
                    gx.withUnsafeMutableBufferPointer { dx in
                        BLAS.sgemm(m: rows, n: inFeatures, k: outFeatures,
                                   a: gs.baseAddress!, lda: outFeatures, b: ws.baseAddress!, ldb: inFeatures,
                                   c: dx.baseAddress!, ldc: inFeatures)
                    }
                }
                x.accumulateGrad(storage: gx)
            }
            if weight.requiresGrad && nonEmpty {
                var gw = [Float](repeating: 0, count: outFeatures * inFeatures)
                input.withUnsafeBufferPointer { xs in
                    gw.withUnsafeMutableBufferPointer { dw in
                        BLAS.sgemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows,
                                   a: gs.baseAddress!, lda: outFeatures, b: xs.baseAddress!, ldb: inFeatures,
                                   c: dw.baseAddress!, ldc: inFeatures)
                    }
                }
                weight.accumulateGrad(storage: gw)
            }
            if let bias, bias.requiresGrad {
                var gb = [Float](repeating: 0, count: outFeatures)
                for r in 0..<rows {
                    for o in 0..<outFeatures { gb[o] += gs[r * outFeatures + o] }
                }
                bias.accumulateGrad(storage: gb)
            }
        }
    }
}
