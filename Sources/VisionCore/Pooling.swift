// Max, average and adaptive average pooling over NCHW planes (parallel over the N·C planes).

/// Validates a pooling window and returns the output size `floor((I + 2P − k) / S) + 1` per axis.
private func poolingOutputSize(_ name: String, _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int),
                               padding: (Int, Int)) -> (Int, Int) {
    precondition(x.rank == 4, "\(name) expects input [N, C, H, W], got \(x.shape)")
    precondition(kernelSize.0 > 0 && kernelSize.1 > 0 && stride.0 > 0 && stride.1 > 0,
                 "\(name): kernel size \(kernelSize) and stride \(stride) must be positive")
    precondition(padding.0 >= 0 && padding.1 >= 0 && padding.0 <= kernelSize.0 / 2 && padding.1 <= kernelSize.1 / 2,
                 "\(name): padding \(padding) must be between 0 and half the kernel size \(kernelSize)")
    let height = x.shape[2] + 2 * padding.0 - kernelSize.0
    let width = x.shape[3] + 2 * padding.1 - kernelSize.1
    precondition(height >= 0 && width >= 0,
                 "\(name): kernel \(kernelSize) is larger than input \(x.shape) padded by \(padding)")
    return (height / stride.0 + 1, width / stride.1 + 1)
}

/// Runs `body(plane)` for each of `planes` planes, spread over the cores when the work is large.
private func forEachPlane(_ planes: Int, work: Int, _ body: (Int) -> Void) {
    Parallel.forEach(planes, grain: max(1, 32_768 / max(work, 1))) { range in
        for plane in range { body(plane) }
    }
}

/// 2-D max pooling. Padding counts as `−∞`; the gradient of each output flows to the first maximum
/// of its window (row-major scan), as in PyTorch.
/// - Parameters:
///   - stride: defaults to `kernelSize`.
///   - padding: at most half the kernel size per axis.
/// - Returns: `[N, C, OH, OW]` with `O = floor((I + 2P − k) / S) + 1`.
public func maxPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0)) -> Tensor {
    let stride = stride ?? kernelSize
    let (outHeight, outWidth) = poolingOutputSize("maxPool2d", x, kernelSize: kernelSize, stride: stride, padding: padding)
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let inPlane = height * width, outPlane = outHeight * outWidth
    let count = batch * channels * outPlane
    if count == 0 { return Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: [], inputs: [x]) { _ in } }
    var indices = [Int32](repeating: 0, count: count)
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        let y = buffer.baseAddress!
        indices.withUnsafeMutableBufferPointer { argmax in
            let arg = argmax.baseAddress!
            x.storage.withUnsafeBufferPointer { px in
                forEachPlane(batch * channels, work: outPlane * kernelSize.0 * kernelSize.1) { p in
                    let src = px.baseAddress! + p * inPlane
                    for oh in 0..<outHeight {
                        let top = oh * stride.0 - padding.0
                        let rows = max(top, 0)..<min(top + kernelSize.0, height)
                        for ow in 0..<outWidth {
                            let left = ow * stride.1 - padding.1
                            let columns = max(left, 0)..<min(left + kernelSize.1, width)
                            var best = -Float.infinity
                            var bestIndex = rows.lowerBound * width + columns.lowerBound
                            for iy in rows {
                                for ix in columns {
                                    let value = src[iy * width + ix]
                                    if value > best || value.isNaN {
                                        best = value
                                        bestIndex = iy * width + ix
                                        if value.isNaN { break }
                                    }
                                }
                                if best.isNaN { break }
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
    return Tensor.record(shape: [batch, channels, outHeight, outWidth], storage: output, inputs: [x]) { g in
        var gradInput = [Float](repeating: 0, count: x.count)
        gradInput.withUnsafeMutableBufferPointer { dx in
            g.storage.withUnsafeBufferPointer { dy in
                indices.withUnsafeBufferPointer { arg in
                    forEachPlane(batch * channels, work: outPlane) { p in
                        let dst = dx.baseAddress! + p * inPlane
                        for o in (p * outPlane)..<((p + 1) * outPlane) { dst[Int(arg[o])] += dy[o] }
                    }
                }
            }
        }
        x.accumulateGrad(storage: gradInput)
    }
}

/// 2-D average pooling.
///
/// Window `[oh·S − P, oh·S − P + k)` clipped to the padded input; the divisor is the clipped window's
/// area including padding when `countIncludePad` (PyTorch's default), else the number of real pixels.
/// - Parameters:
///   - stride: defaults to `kernelSize`.
///   - padding: zeros, at most half the kernel size per axis.
public func avgPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      countIncludePad: Bool = true) -> Tensor {
    let stride = stride ?? kernelSize
    let (outHeight, outWidth) = poolingOutputSize("avgPool2d", x, kernelSize: kernelSize, stride: stride, padding: padding)
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
    let rowWindows = windows(outHeight, height, kernelSize.0, stride.0, padding.0)
    let columnWindows = windows(outWidth, width, kernelSize.1, stride.1, padding.1)
    return windowPool(x, rowWindows: rowWindows, columnWindows: columnWindows,
                      work: kernelSize.0 * kernelSize.1)
}

/// 2-D adaptive average pooling to `outputSize` (height, width): output bin `i` of an axis of extent
/// `I` averages input indices `floor(i·I/O) ..< ceil((i + 1)·I/O)`, as PyTorch does.
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
    precondition(x.rank == 4, "adaptiveAvgPool2d expects input [N, C, H, W], got \(x.shape)")
    precondition(outputSize.0 > 0 && outputSize.1 > 0, "adaptiveAvgPool2d: output size \(outputSize) must be positive")
    func bins(_ outExtent: Int, _ extent: Int) -> [(Range<Int>, Int)] {
        (0..<outExtent).map { i in
            let start = i * extent / outExtent
            let end = ((i + 1) * extent + outExtent - 1) / outExtent
            return (start..<end, end - start)
        }
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
