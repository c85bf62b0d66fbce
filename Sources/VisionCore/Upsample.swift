// Nearest, bilinear and bicubic upsampling of NCHW planes, with PyTorch's source-index rules.

/// How `upsample` picks source pixels (`I` input and `O` output extent of an axis, `o` an output index).
public enum UpsampleMode: Sendable {
    /// The source pixel `floor(o · I / O)` (PyTorch `mode="nearest"`).
    case nearest
    /// The source pixel `floor((o + 0.5) · I / O)`, the one whose centre is nearest (PyTorch `mode="nearest-exact"`).
    case nearestExact
    /// Linear interpolation per axis between the two pixels around the source coordinate
    /// `max(0, (o + 0.5) · I / O − 0.5)`, or with `alignCorners` `o · (I − 1) / (O − 1)` (PyTorch `mode="bilinear"`).
    case bilinear
    /// Keys' cubic convolution (a = −0.75) per axis over the four pixels around the source coordinate
    /// `(o + 0.5) · I / O − 0.5` (not clamped), or with `alignCorners` `o · (I − 1) / (O − 1)`; taps past the edge read
    /// the edge pixel (PyTorch `mode="bicubic"`, which can overshoot the input's range).
    case bicubic
}

/// Upsamples `[N, C, H, W]` to `[N, C, H·s, W·s]`.
/// - Parameter alignCorners: bilinear and bicubic only: the corner pixels of input and output coincide
///   (PyTorch's `align_corners=True`, and `nn.UpsamplingBilinear2d`); the scale factor then only sets the size.
public func upsample(_ x: Tensor, scaleFactor: Int, mode: UpsampleMode, alignCorners: Bool = false) -> Tensor {
    precondition(x.rank == 4, "upsample expects input [N, C, H, W], got \(x.shape)")
    precondition(scaleFactor > 0, "upsample: scale factor \(scaleFactor) must be positive")
    precondition(!alignCorners || mode == .bilinear || mode == .bicubic, "upsample: alignCorners applies to bilinear and bicubic modes only")
    let scale = 1 / Float(scaleFactor)
    if mode == .bicubic {
        return cubicInterpolate(x, rowTaps: cubicTaps(x.shape[2], x.shape[2] * scaleFactor, scale: scale, alignCorners: alignCorners),
                                columnTaps: cubicTaps(x.shape[3], x.shape[3] * scaleFactor, scale: scale, alignCorners: alignCorners))
    }
    return interpolate(x, rowTaps: taps(x.shape[2], x.shape[2] * scaleFactor, scale: scale, mode: mode,
                                        factor: scaleFactor, alignCorners: alignCorners),
                       columnTaps: taps(x.shape[3], x.shape[3] * scaleFactor, scale: scale, mode: mode,
                                        factor: scaleFactor, alignCorners: alignCorners))
}

/// Resizes `[N, C, H, W]` to `[N, C, size.0, size.1]`.
/// - Parameter alignCorners: bilinear and bicubic only: the corner pixels of input and output coincide (PyTorch's
///   `align_corners=True`).
public func upsample(_ x: Tensor, size: (Int, Int), mode: UpsampleMode, alignCorners: Bool = false) -> Tensor {
    precondition(x.rank == 4, "upsample expects input [N, C, H, W], got \(x.shape)")
    precondition(size.0 > 0 && size.1 > 0, "upsample: size \(size) must be positive")
    // As PyTorch: an empty plane has nothing to sample from (the taps would index before it).
    precondition(x.shape[2] > 0 && x.shape[3] > 0, "upsample: input \(x.shape) has an empty plane")
    precondition(!alignCorners || mode == .bilinear || mode == .bicubic, "upsample: alignCorners applies to bilinear and bicubic modes only")
    let (height, width) = (x.shape[2], x.shape[3])
    if mode == .bicubic {
        return cubicInterpolate(x, rowTaps: cubicTaps(height, size.0, scale: Float(height) / Float(size.0), alignCorners: alignCorners),
                                columnTaps: cubicTaps(width, size.1, scale: Float(width) / Float(size.1), alignCorners: alignCorners))
    }
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
        case .bicubic:
            preconditionFailure("bicubic taps come from cubicTaps")
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

/// One output index along an axis reads `Σ_k weights[k]·x[indices[k]]` over four taps.
private struct CubicTap {
    var indices: (Int, Int, Int, Int)
    var weights: (Float, Float, Float, Float)

    @inline(__always) func index(_ k: Int) -> Int {
        switch k { case 0: return indices.0; case 1: return indices.1; case 2: return indices.2; default: return indices.3 }
    }
    @inline(__always) func weight(_ k: Int) -> Float {
        switch k { case 0: return weights.0; case 1: return weights.1; case 2: return weights.2; default: return weights.3 }
    }
}

/// PyTorch's bicubic taps along one axis: source `real = scale·(o + ½) − ½` (aligned: `o·(I − 1)/(O − 1)`), the four
/// pixels `⌊real⌋ − 1 … ⌊real⌋ + 2` clamped to the axis, weighted by Keys' kernel with a = −0.75 at `t = real − ⌊real⌋`.
private func cubicTaps(_ inExtent: Int, _ outExtent: Int, scale: Float, alignCorners: Bool) -> [CubicTap] {
    let a: Float = -0.75
    func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }          // |x| ≤ 1
    func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }      // 1 < |x| < 2
    let alignedScale = outExtent > 1 ? Float(inExtent - 1) / Float(outExtent - 1) : 0
    return (0..<outExtent).map { o in
        let real = alignCorners ? alignedScale * Float(o) : scale * (Float(o) + 0.5) - 0.5
        let floor = real.rounded(.down)
        let t = real - floor
        let base = Int(floor)
        func clamped(_ i: Int) -> Int { Swift.min(Swift.max(i, 0), inExtent - 1) }
        return CubicTap(indices: (clamped(base - 1), clamped(base), clamped(base + 1), clamped(base + 2)),
                        weights: (far(t + 1), near(t), near(1 - t), far(2 - t)))
    }
}

/// Separable four-tap interpolation (rows of taps along x, then combined along y, as PyTorch's kernel); the
/// backward pass scatters each output gradient with the same weights.
private func cubicInterpolate(_ x: Tensor, rowTaps: [CubicTap], columnTaps: [CubicTap]) -> Tensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (rowTaps.count, columnTaps.count)
    let inPlane = height * width, outPlane = outHeight * outWidth
    let planes = batch * channels
    let grain = max(1, 8_192 / max(outPlane, 1))
    /// Every output position of every plane with its row and column taps, the planes spread over the cores.
    func forEachOutput(_ body: (_ plane: Int, _ output: Int, _ row: CubicTap, _ column: CubicTap) -> Void) {
        Parallel.forEach(planes, grain: grain) { range in
            for p in range {
                for (oh, r) in rowTaps.enumerated() {
                    for (ow, c) in columnTaps.enumerated() { body(p, p * outPlane + oh * outWidth + ow, r, c) }
                }
            }
        }
    }
    var output = [Float](repeating: 0, count: planes * outPlane)
    output.withUnsafeMutableBufferPointer { y in
        x.storage.withUnsafeBufferPointer { px in
            guard let out = y.baseAddress, let source = px.baseAddress else { return }
            forEachOutput { p, o, r, c in
                var value: Float = 0
                for i in 0..<4 {
                    let row = source + p * inPlane + r.index(i) * width
                    var along: Float = 0
                    for j in 0..<4 { along += c.weight(j) * row[c.index(j)] }
                    value += r.weight(i) * along
                }
                out[o] = value
            }
        }
    }
    return Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: output, inputs: [x]) { g in
        var gradInput = [Float](repeating: 0, count: x.count)
        gradInput.withUnsafeMutableBufferPointer { dx in
            g.storage.withUnsafeBufferPointer { dy in
                guard let gradient = dx.baseAddress, let upstream = dy.baseAddress else { return }
                // Planes are disjoint, so the scatter of one plane's outputs never meets another thread's.
                forEachOutput { p, o, r, c in
                    for i in 0..<4 {
                        let row = gradient + p * inPlane + r.index(i) * width
                        let scaled = r.weight(i) * upstream[o]
                        for j in 0..<4 { row[c.index(j)] += c.weight(j) * scaled }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gradInput)
    }
}
