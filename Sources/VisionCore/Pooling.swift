// Max, average and adaptive pooling over NCHW planes (parallel over the N·C planes).

/// Output extent of one pooled axis, PyTorch's rule: `floor((I + 2P − d·(k − 1) − 1) / S) + 1`, or with
/// `ceilMode` the ceiling, less one when the last window would start in the right padding (so every
/// window starts inside the input or its left padding). In ceil mode a window longer than the padded
/// input still gives one output, as in PyTorch.
private func pooledExtent(_ name: String, _ extent: Int, kernel: Int, stride: Int, padding: Int, dilation: Int,
                          ceilMode: Bool) -> Int {
    let numerator = extent + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0)
    var out = numerator < 0 ? 0 : numerator / stride + 1
    if ceilMode && out > 0 && (out - 1) * stride >= extent + padding { out -= 1 }
    precondition(out > 0, "\(name): a window of \(kernel) taps \(dilation) apart does not fit in \(extent) "
                 + "input positions padded by \(padding)")
    return out
}

/// Validates a pooling window and returns the output size per axis (see `pooledExtent`).
private func poolingOutputSize(_ name: String, _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int),
                               padding: (Int, Int), dilation: (Int, Int) = (1, 1),
                               ceilMode: Bool) -> (Int, Int) {
    precondition(x.rank == 4, "\(name) expects input [N, C, H, W], got \(x.shape)")
    precondition(kernelSize.0 > 0 && kernelSize.1 > 0 && stride.0 > 0 && stride.1 > 0,
                 "\(name): kernel size \(kernelSize) and stride \(stride) must be positive")
    precondition(dilation.0 > 0 && dilation.1 > 0, "\(name): dilation \(dilation) must be positive")
    precondition(padding.0 >= 0 && padding.1 >= 0 && padding.0 <= kernelSize.0 / 2 && padding.1 <= kernelSize.1 / 2,
                 "\(name): padding \(padding) must be between 0 and half the kernel size \(kernelSize)")
    return (pooledExtent(name, x.shape[2], kernel: kernelSize.0, stride: stride.0, padding: padding.0,
                         dilation: dilation.0, ceilMode: ceilMode),
            pooledExtent(name, x.shape[3], kernel: kernelSize.1, stride: stride.1, padding: padding.1,
                         dilation: dilation.1, ceilMode: ceilMode))
}

/// Runs `body(plane)` for each of `planes` planes, spread over the cores when the work is large.
private func forEachPlane(_ planes: Int, work: Int, _ body: (Int) -> Void) {
    Parallel.forEach(planes, grain: max(1, 32_768 / max(work, 1))) { range in
        for plane in range { body(plane) }
    }
}

/// The input positions one output reads along one axis: `first + i·step` for `i < count`, all inside the input.
private struct Taps {
    var first: Int, count: Int, step: Int
}

/// The taps of each output along one axis of a `kernel`-wide window, `dilation` apart, starting at
/// `o·stride − padding`, that fall inside `0 ..< extent`.
private func windowTaps(_ outExtent: Int, _ extent: Int, kernel: Int, stride: Int, padding: Int,
                        dilation: Int) -> [Taps] {
    (0..<outExtent).map { o in
        let start = o * stride - padding
        let skipped = start < 0 ? (-start + dilation - 1) / dilation : 0
        let end = min(kernel, (extent - start + dilation - 1) / dilation)
        return Taps(first: start + skipped * dilation, count: max(0, end - skipped), step: dilation)
    }
}

/// 2-D max pooling. Padding counts as `−∞`; the gradient of each output flows to the first maximum
/// of its window in a row-major scan (the last NaN if it holds any), as in PyTorch. A dilated window
/// none of whose taps lands on the input is `−∞` and passes no gradient (PyTorch also gives `−∞`, but
/// routes the gradient to a pixel outside the window).
/// - Parameters:
///   - stride: defaults to `kernelSize`.
///   - padding: at most half the kernel size per axis.
///   - dilation: the spacing of a window's taps (PyTorch's `dilation`).
///   - ceilMode: round the output size up (PyTorch's `ceil_mode`), so a partial window at the end counts.
/// - Returns: `[N, C, OH, OW]` with `O = floor((I + 2P − d·(k − 1) − 1) / S) + 1` (see `ceilMode`).
public func maxPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                      ceilMode: Bool = false) -> Tensor {
    maxPoolWindows(x, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding, dilation: dilation,
                   ceilMode: ceilMode).output
}

/// `maxPool2d` that also returns where each maximum came from, PyTorch's `return_indices=True`: for every output,
/// the flat index `h·W + w` of its input position within its own `[H, W]` plane (−1 for a window with no tap on the
/// input), in the output's `[N, C, OH, OW]` order — what `maxUnpool2d` takes.
public func maxPool2dWithIndices(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                 ceilMode: Bool = false) -> (output: Tensor, indices: [Int]) {
    let (output, indices) = maxPoolWindows(x, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding,
                                           dilation: dilation, ceilMode: ceilMode)
    return (output, indices.map { Int($0) })
}

/// Max pooling with the plane positions of the maxima as `windowMax` records them.
private func maxPoolWindows(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                            dilation: (Int, Int), ceilMode: Bool) -> (output: Tensor, indices: [Int32]) {
    let (outHeight, outWidth) = poolingOutputSize("maxPool2d", x, kernelSize: kernelSize, stride: stride,
                                                  padding: padding, dilation: dilation, ceilMode: ceilMode)
    let rows = windowTaps(outHeight, x.shape[2], kernel: kernelSize.0, stride: stride.0, padding: padding.0,
                          dilation: dilation.0)
    let columns = windowTaps(outWidth, x.shape[3], kernel: kernelSize.1, stride: stride.1, padding: padding.1,
                             dilation: dilation.1)
    return windowMax(x, rows: rows, columns: columns, work: kernelSize.0 * kernelSize.1)
}

/// PyTorch's `F.max_unpool2d`: each value of `x` `[N, C, H, W]` is written at its plane position `indices` (as
/// `maxPool2dWithIndices` gives them) of a zero `[N, C, OH, OW]` output, `outputSize` defaulting to
/// `((H − 1)·S − 2P + k, (W − 1)·S − 2P + k)`. Where two values share a position the later one stays. Index −1 (a
/// pooling window with no tap on the input) writes nothing, where PyTorch refuses it. The gradient of `x` reads the
/// output gradient at its own position.
public func maxUnpool2d(_ x: Tensor, indices: [Int], kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                        padding: (Int, Int) = (0, 0), outputSize: (Int, Int)? = nil) -> Tensor {
    precondition(x.rank == 4, "maxUnpool2d expects input [N, C, H, W], got \(x.shape)")
    precondition(indices.count == x.count, "maxUnpool2d: \(indices.count) indices for input \(x.shape)")
    let stride = stride ?? kernelSize
    precondition(kernelSize.0 > 0 && kernelSize.1 > 0 && stride.0 > 0 && stride.1 > 0 && padding.0 >= 0 && padding.1 >= 0,
                 "maxUnpool2d: kernel \(kernelSize) and stride \(stride) must be positive, padding \(padding) not negative")
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let size = outputSize ?? ((height - 1) * stride.0 - 2 * padding.0 + kernelSize.0,
                              (width - 1) * stride.1 - 2 * padding.1 + kernelSize.1)
    precondition(size.0 >= 0 && size.1 >= 0, "maxUnpool2d: output size \(size) is negative")
    let (inPlane, outPlane) = (height * width, size.0 * size.1)
    // Checked in release builds too: an index past the plane would write outside the output.
    if let bad = indices.first(where: { $0 < -1 || $0 >= outPlane }) {
        fatalError("maxUnpool2d: index \(bad) lies outside the \(size.0)×\(size.1) output plane")
    }
    let planes = batch * channels
    var output = [Float](repeating: 0, count: planes * outPlane)
    output.withUnsafeMutableBufferPointer { out in
        x.storage.withUnsafeBufferPointer { values in
            for p in 0..<planes {
                for i in 0..<inPlane where indices[p * inPlane + i] >= 0 {
                    out[p * outPlane + indices[p * inPlane + i]] = values[p * inPlane + i]
                }
            }
        }
    }
    return Tensor.record(shape: [batch, channels, size.0, size.1], storage: output, inputs: [x]) { g in
        var gx = [Float](repeating: 0, count: x.count)
        gx.withUnsafeMutableBufferPointer { dx in
            g.storage.withUnsafeBufferPointer { dy in
                for p in 0..<planes {
                    for i in 0..<inPlane where indices[p * inPlane + i] >= 0 {
                        dx[p * inPlane + i] = dy[p * outPlane + indices[p * inPlane + i]]
                    }
                }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}

/// 2-D adaptive max pooling to `outputSize` (height, width), over the bins of `adaptiveAvgPool2d`;
/// the gradient flows to each bin's first maximum in a row-major scan (the last NaN if it holds any),
/// as in PyTorch.
public func adaptiveMaxPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
    precondition(x.rank == 4, "adaptiveMaxPool2d expects input [N, C, H, W], got \(x.shape)")
    precondition(outputSize.0 > 0 && outputSize.1 > 0, "adaptiveMaxPool2d: output size \(outputSize) must be positive")
    precondition(x.shape[2] > 0 && x.shape[3] > 0, "adaptiveMaxPool2d: input \(x.shape) has an empty plane")
    func taps(_ outExtent: Int, _ extent: Int) -> [Taps] {
        adaptiveBins(outExtent, extent).map { Taps(first: $0.lowerBound, count: $0.count, step: 1) }
    }
    let (height, width) = (x.shape[2], x.shape[3])
    return windowMax(x, rows: taps(outputSize.0, height), columns: taps(outputSize.1, width),
                     work: max(1, height * width / (outputSize.0 * outputSize.1))).output
}

/// Adaptive pooling's bins along one axis: output `i` of `outExtent` covers input
/// `floor(i·I/O) ..< ceil((i + 1)·I/O)` of `extent` `I`.
private func adaptiveBins(_ outExtent: Int, _ extent: Int) -> [Range<Int>] {
    (0..<outExtent).map { i in
        (i * extent / outExtent)..<(((i + 1) * extent + outExtent - 1) / outExtent)
    }
}

/// Maximum over separable windows of taps, recording each output's first maximum (every NaN replaces the
/// maximum, so the last NaN wins, as PyTorch's scan does); an output whose window holds no input position
/// is `−∞` and passes no gradient.
private func windowMax(_ x: Tensor, rows: [Taps], columns: [Taps], work: Int) -> (output: Tensor, indices: [Int32]) {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (rows.count, columns.count)
    let inPlane = height * width, outPlane = outHeight * outWidth
    let count = batch * channels * outPlane
    if count == 0 { return (Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: [], inputs: [x]) { _ in }, []) }
    var indices = [Int32](repeating: 0, count: count)
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        let y = buffer.baseAddress!
        indices.withUnsafeMutableBufferPointer { argmax in
            let arg = argmax.baseAddress!
            x.storage.withUnsafeBufferPointer { px in
                forEachPlane(batch * channels, work: outPlane * work) { p in
                    let src = px.baseAddress! + p * inPlane
                    for (oh, r) in rows.enumerated() {
                        for (ow, c) in columns.enumerated() {
                            var best = -Float.infinity
                            var bestIndex = r.count > 0 && c.count > 0 ? r.first * width + c.first : -1
                            var iy = r.first
                            for _ in 0..<r.count {
                                var ix = c.first
                                for _ in 0..<c.count {
                                    let value = src[iy * width + ix]
                                    if value > best || value.isNaN {
                                        best = value
                                        bestIndex = iy * width + ix
                                    }
                                    ix += c.step
                                }
                                iy += r.step
                            }
                            let o = p * outPlane + oh * outWidth + ow
                            y[o] = best
                            arg[o] = Int32(bestIndex)
                        }
                    }
                }
            }
        }
        initialized = count
    }
    let result = Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: output, inputs: [x]) { g in
        var gradInput = [Float](repeating: 0, count: x.count)
        gradInput.withUnsafeMutableBufferPointer { dx in
            g.storage.withUnsafeBufferPointer { dy in
                indices.withUnsafeBufferPointer { arg in
                    forEachPlane(batch * channels, work: outPlane) { p in
                        let dst = dx.baseAddress! + p * inPlane
                        for o in (p * outPlane)..<((p + 1) * outPlane) where arg[o] >= 0 { dst[Int(arg[o])] += dy[o] }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gradInput)
    }
    return (result, indices)
}

/// 2-D average pooling.
///
/// Window `[oh·S − P, oh·S − P + k)` clipped to the padded input; the divisor is the clipped window's
/// area including padding when `countIncludePad` (PyTorch's default), else the number of real pixels.
/// - Parameters:
///   - stride: defaults to `kernelSize`.
///   - padding: zeros, at most half the kernel size per axis.
///   - ceilMode: round the output size up (PyTorch's `ceil_mode`); a window past the padded edge is clipped to it.
///   - divisorOverride: when given (non-zero), every window's sum is divided by it instead (PyTorch's `divisor_override`).
public func avgPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      ceilMode: Bool = false, countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
    precondition(divisorOverride != 0, "avgPool2d: divisor override must not be zero")
    let stride = stride ?? kernelSize
    let (outHeight, outWidth) = poolingOutputSize("avgPool2d", x, kernelSize: kernelSize, stride: stride,
                                                  padding: padding, ceilMode: ceilMode)
    let (height, width) = (x.shape[2], x.shape[3])
    /// The input range and divisor of output index `o` along one axis.
    func windows(_ outExtent: Int, _ extent: Int, _ k: Int, _ s: Int, _ p: Int) -> [(Range<Int>, Int)] {
        (0..<outExtent).map { o in
            let start = o * s - p
            let end = min(start + k, extent + p)
            let clipped = max(start, 0)..<min(end, extent)
            return (clipped, countIncludePad ? end - start : clipped.count)
        }
    }
    var rowWindows = windows(outHeight, height, kernelSize.0, stride.0, padding.0)
    var columnWindows = windows(outWidth, width, kernelSize.1, stride.1, padding.1)
    if let divisorOverride {
        // The divisor is the product of the two axes' divisors: put all of it on the rows.
        rowWindows = rowWindows.map { ($0.0, divisorOverride) }
        columnWindows = columnWindows.map { ($0.0, 1) }
    }
    return windowPool(x, rowWindows: rowWindows, columnWindows: columnWindows,
                      work: kernelSize.0 * kernelSize.1)
}

/// 2-D adaptive average pooling to `outputSize` (height, width): output bin `i` of an axis of extent
/// `I` averages input indices `floor(i·I/O) ..< ceil((i + 1)·I/O)`, as PyTorch does.
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
    precondition(x.rank == 4, "adaptiveAvgPool2d expects input [N, C, H, W], got \(x.shape)")
    precondition(outputSize.0 > 0 && outputSize.1 > 0, "adaptiveAvgPool2d: output size \(outputSize) must be positive")
    func bins(_ outExtent: Int, _ extent: Int) -> [(Range<Int>, Int)] {
        adaptiveBins(outExtent, extent).map { ($0, $0.count) }
    }
    let (height, width) = (x.shape[2], x.shape[3])
    return windowPool(x, rowWindows: bins(outputSize.0, height), columnWindows: bins(outputSize.1, width),
                      work: max(1, height * width / (outputSize.0 * outputSize.1)))
}

/// Average over separable windows: `y[oh, ow] = Σ x[rows(oh), columns(ow)] / (divisor(oh)·divisor(ow))`.
private func windowPool(_ x: Tensor, rowWindows: [(Range<Int>, Int)], columnWindows: [(Range<Int>, Int)],
                        work: Int) -> Tensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (rowWindows.count, columnWindows.count)
    let inPlane = height * width, outPlane = outHeight * outWidth
    let count = batch * channels * outPlane
    if count == 0 { return Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: [], inputs: [x]) { _ in } }
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        let y = buffer.baseAddress!
        x.storage.withUnsafeBufferPointer { px in
            forEachPlane(batch * channels, work: outPlane * work) { p in
                let src = px.baseAddress! + p * inPlane
                for (oh, (rows, rowDivisor)) in rowWindows.enumerated() {
                    for (ow, (columns, columnDivisor)) in columnWindows.enumerated() {
                        var total: Float = 0
                        for iy in rows {
                            for ix in columns { total += src[iy * width + ix] }
                        }
                        y[p * outPlane + oh * outWidth + ow] = total / Float(rowDivisor * columnDivisor)
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
                forEachPlane(batch * channels, work: outPlane * work) { p in
                    let dst = dx.baseAddress! + p * inPlane
                    for (oh, (rows, rowDivisor)) in rowWindows.enumerated() {
                        for (ow, (columns, columnDivisor)) in columnWindows.enumerated() {
                            let share = dy[p * outPlane + oh * outWidth + ow] / Float(rowDivisor * columnDivisor)
                            for iy in rows {
                                for ix in columns { dst[iy * width + ix] += share }
                            }
                        }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gradInput)
    }
}
