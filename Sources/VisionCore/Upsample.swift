// Nearest and bilinear upsampling of NCHW planes, with PyTorch's source-index rules.

/// How `upsample` picks source pixels (`I` input and `O` output extent of an axis, `o` an output index).
public enum UpsampleMode: Sendable {
    /// The source pixel `floor(o · I / O)` (PyTorch `mode="nearest"`).
    case nearest
    /// The source pixel `floor((o + 0.5) · I / O)`, the one whose centre is nearest (PyTorch `mode="nearest-exact"`).
    case nearestExact
    /// Linear interpolation per axis between the two pixels around the source coordinate
    /// `max(0, (o + 0.5) · I / O − 0.5)`, or with `alignCorners` `o · (I − 1) / (O − 1)` (PyTorch `mode="bilinear"`).
    case bilinear
}

/// Upsamples `[N, C, H, W]` to `[N, C, H·s, W·s]`.
/// - Parameter alignCorners: bilinear only: the corner pixels of input and output coincide
///   (PyTorch's `align_corners=True`, and `nn.UpsamplingBilinear2d`); the scale factor then only sets the size.
public func upsample(_ x: Tensor, scaleFactor: Int, mode: UpsampleMode, alignCorners: Bool = false) -> Tensor {
    precondition(x.rank == 4, "upsample expects input [N, C, H, W], got \(x.shape)")
    precondition(scaleFactor > 0, "upsample: scale factor \(scaleFactor) must be positive")
    precondition(!alignCorners || mode == .bilinear, "upsample: alignCorners applies to bilinear mode only")
    let scale = 1 / Float(scaleFactor)
    return interpolate(x, rowTaps: taps(x.shape[2], x.shape[2] * scaleFactor, scale: scale, mode: mode,
                                        factor: scaleFactor, alignCorners: alignCorners),
                       columnTaps: taps(x.shape[3], x.shape[3] * scaleFactor, scale: scale, mode: mode,
                                        factor: scaleFactor, alignCorners: alignCorners))
}

/// Resizes `[N, C, H, W]` to `[N, C, size.0, size.1]`.
/// - Parameter alignCorners: bilinear only: the corner pixels of input and output coincide (PyTorch's `align_corners=True`).
public func upsample(_ x: Tensor, size: (Int, Int), mode: UpsampleMode, alignCorners: Bool = false) -> Tensor {
    precondition(x.rank == 4, "upsample expects input [N, C, H, W], got \(x.shape)")
    precondition(size.0 > 0 && size.1 > 0, "upsample: size \(size) must be positive")
    precondition(!alignCorners || mode == .bilinear, "upsample: alignCorners applies to bilinear mode only")
    let (height, width) = (x.shape[2], x.shape[3])
    return interpolate(x, rowTaps: taps(height, size.0, scale: Float(height) / Float(size.0), mode: mode, factor: nil,
                                        alignCorners: alignCorners),
                       columnTaps: taps(width, size.1, scale: Float(width) / Float(size.1), mode: mode, factor: nil,
                                        alignCorners: alignCorners))
}

/// One output index along an axis reads `weight0·x[index0] + weight1·x[index1]`.
private struct Tap {
    var index0: Int
    var index1: Int
    var weight0: Float
    var weight1: Float
}

/// Source taps of every output index along one axis (`scale` = input/output as PyTorch computes it).
private func taps(_ inExtent: Int, _ outExtent: Int, scale: Float, mode: UpsampleMode, factor: Int?,
                  alignCorners: Bool) -> [Tap] {
    // With aligned corners PyTorch's scale is (I − 1)/(O − 1), whatever scale factor was asked for.
    let alignedScale = outExtent > 1 ? Float(inExtent - 1) / Float(outExtent - 1) : 0
    return (0..<outExtent).map { o in
        switch mode {
        case .nearest:
            let source: Int
            if let factor {
                source = o / factor
            } else {
                source = inExtent == outExtent ? o : min(Int((Float(o) * scale).rounded(.down)), inExtent - 1)
            }
            return Tap(index0: source, index1: source, weight0: 1, weight1: 0)
        case .nearestExact:
            let source = inExtent == outExtent ? o : min(Int((Float(o) + 0.5) * scale), inExtent - 1)
            return Tap(index0: source, index1: source, weight0: 1, weight1: 0)
        case .bilinear:
            if inExtent == outExtent { return Tap(index0: o, index1: o, weight0: 1, weight1: 0) }
            let real = alignCorners ? alignedScale * Float(o) : max(scale * (Float(o) + 0.5) - 0.5, 0)
            let index0 = min(Int(real.rounded(.down)), inExtent - 1)
            let weight1 = min(max(real - Float(index0), 0), 1)
            let index1 = index0 + (index0 < inExtent - 1 ? 1 : 0)
            return Tap(index0: index0, index1: index1, weight0: 1 - weight1, weight1: weight1)
        }
    }
}

/// Separable two-tap interpolation; the backward pass scatters each output gradient with the same weights.
private func interpolate(_ x: Tensor, rowTaps: [Tap], columnTaps: [Tap]) -> Tensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (rowTaps.count, columnTaps.count)
    let inPlane = height * width, outPlane = outHeight * outWidth
    let planes = batch * channels
    let grain = max(1, 32_768 / max(outPlane, 1))
    let count = planes * outPlane
    if count == 0 { return Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: [], inputs: [x]) { _ in } }
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        let y = buffer.baseAddress!
        x.storage.withUnsafeBufferPointer { px in
            Parallel.forEach(planes, grain: grain) { range in
                for p in range {
                    let src = px.baseAddress! + p * inPlane
                    var dst = y + p * outPlane
                    for r in rowTaps {
                        let row0 = src + r.index0 * width, row1 = src + r.index1 * width
                        for (ow, c) in columnTaps.enumerated() {
                            let top = c.weight0 * row0[c.index0] + c.weight1 * row0[c.index1]
                            let bottom = c.weight0 * row1[c.index0] + c.weight1 * row1[c.index1]
                            dst[ow] = r.weight0 * top + r.weight1 * bottom
                        }
                        dst += outWidth
                    }
                }
            }
        }
        initialized = count
    }
    return Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: output, inputs: [x]) { g in
        var gradInput = [Float](repeating: 0, count: x.count)
        gradInput.withUnsafeMutableBufferPointer { dx in
            g.storage.withUnsafeBufferPointer { dy in
                Parallel.forEach(planes, grain: grain) { range in
                    for p in range {
                        let dst = dx.baseAddress! + p * inPlane
                        var src = dy.baseAddress! + p * outPlane
                        for r in rowTaps {
                            let row0 = dst + r.index0 * width, row1 = dst + r.index1 * width
                            for (ow, c) in columnTaps.enumerated() {
                                let value = src[ow]
                                let top = r.weight0 * value, bottom = r.weight1 * value
                                row0[c.index0] += c.weight0 * top
                                row0[c.index1] += c.weight1 * top
                                row1[c.index0] += c.weight0 * bottom
                                row1[c.index1] += c.weight1 * bottom
                            }
                            src += outWidth
                        }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gradInput)
    }
}
