import VisionCore

/// How `Image.resized` maps output pixels to input pixels (scale `s = input / output` per axis).
public enum ResizeMethod: Sendable {
    /// Output `i` copies input `floor(i · s)` (PyTorch's `nearest`); exact for label maps.
    case nearest
    /// Linear interpolation with half-pixel centres: source `x = (i + 0.5) · s − 0.5` clamped at 0,
    /// blending inputs `floor(x)` and `floor(x) + 1` (PyTorch's `bilinear`, `align_corners=False`,
    /// without antialiasing).
    case bilinear
    /// Box filter: output `i` averages the input span `[i·s, (i+1)·s)` weighted by the fraction of
    /// each input pixel it covers (OpenCV's `INTER_AREA`). Meant for downscaling; an integer factor
    /// gives plain block means.
    case area
}

/// Per-axis resampling weights: output `i` = Σₖ `weights[i·taps + k]` · input `first[i] + k`.
struct ResampleTaps {
    var first: [Int]
    var weights: [Float]
    var taps: Int

    init(input: Int, output: Int, method: ResizeMethod) {
        let scale = Double(input) / Double(output)
        var contributions: [[(index: Int, weight: Double)]] = []
        contributions.reserveCapacity(output)
        for i in 0..<output {
            switch method {
            case .nearest:
                contributions.append([(min(i * input / output, input - 1), 1)])
            case .bilinear:
                let x = max((Double(i) + 0.5) * scale - 0.5, 0)
                let low = min(Int(x), input - 1)
                let high = min(low + 1, input - 1)
                let fraction = x - Double(low)
                contributions.append([(low, 1 - fraction), (high, fraction)])
            case .area:
                let start = Double(i) * scale
                let end = Double(i + 1) * scale
                var list: [(index: Int, weight: Double)] = []
                var j = Int(start.rounded(.down))
                while Double(j) < end && j < input {
                    let covered = min(Double(j + 1), end) - max(Double(j), start)
                    if covered > 1e-12 { list.append((j, covered / scale)) }
                    j += 1
                }
                contributions.append(list)
            }
        }
        let span = contributions.map { list in (list.map(\.index).max() ?? 0) - (list.map(\.index).min() ?? 0) + 1 }
        taps = min(span.max() ?? 1, input)
        first = [Int](repeating: 0, count: output)
        weights = [Float](repeating: 0, count: output * taps)
        for (i, list) in contributions.enumerated() {
            let start = max(0, min(list.map(\.index).min() ?? 0, input - taps))
            first[i] = start
            for (index, weight) in list { weights[i * taps + index - start] += Float(weight) }
        }
    }
}

extension Image {
    /// The image resampled to `height × width` (see `ResizeMethod`). Samples are computed in Float
    /// and rounded to the nearest integer; alpha is resampled like any other channel.
    public func resized(height newHeight: Int, width newWidth: Int, method: ResizeMethod = .bilinear) -> Image {
        precondition(newHeight > 0 && newWidth > 0, "resize target must be positive, got \(newHeight)×\(newWidth)")
        precondition(height > 0 && width > 0, "cannot resize an empty \(height)×\(width) image")
        if newHeight == height && newWidth == width { return self }
        if method == .nearest { return resizedNearest(height: newHeight, width: newWidth) }
        let rows = ResampleTaps(input: height, output: newHeight, method: method)
        let columns = ResampleTaps(input: width, output: newWidth, method: method)
        let channels = self.channels
        let rowLength = newWidth * channels

        // Pass 1: resample every input row horizontally into `intermediate[height][newWidth][C]`.
        var intermediate = [Float](repeating: 0, count: height * rowLength)
        pixels.withUnsafeBufferPointer { source in
            intermediate.withUnsafeMutableBufferPointer { target in
                let (src, dst) = (source.baseAddress!, target.baseAddress!)
                Parallel.forEach(height, grain: max(1, 32_768 / max(rowLength * columns.taps, 1))) { range in
                    for y in range {
                        let inRow = src + y * width * channels
                        let outRow = dst + y * rowLength
                        for x in 0..<newWidth {
                            let first = columns.first[x]
                            for c in 0..<channels {
                                var sum: Float = 0
                                for k in 0..<columns.taps {
                                    sum += columns.weights[x * columns.taps + k] * Float(inRow[(first + k) * channels + c])
                                }
                                outRow[x * channels + c] = sum
                            }
                        }
                    }
                }
            }
        }

        // Pass 2: resample columns vertically, rounding to UInt8.
        var output = [UInt8](repeating: 0, count: newHeight * rowLength)
        intermediate.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let (src, dst) = (source.baseAddress!, target.baseAddress!)
                Parallel.forEach(newHeight, grain: max(1, 32_768 / max(rowLength * rows.taps, 1))) { range in
                    for y in range {
                        let first = rows.first[y]
                        let outRow = dst + y * rowLength
                        for i in 0..<rowLength {
                            var sum: Float = 0
                            for k in 0..<rows.taps {
                                sum += rows.weights[y * rows.taps + k] * src[(first + k) * rowLength + i]
                            }
                            outRow[i] = sum <= 0 ? 0 : sum >= 255 ? 255 : UInt8(sum + 0.5)
                        }
                    }
                }
            }
        }
        return Image(height: newHeight, width: newWidth, channels: channels, pixels: output)
    }

    /// Nearest-neighbour resize by direct copying (`floor(i · input / output)` in integer arithmetic).
    private func resizedNearest(height newHeight: Int, width newWidth: Int) -> Image {
        let channels = self.channels
        let sourceColumns = (0..<newWidth).map { $0 * width / newWidth }
        var output = [UInt8](repeating: 0, count: newHeight * newWidth * channels)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                var o = 0
                for y in 0..<newHeight {
                    let inRow = (y * height / newHeight) * width
                    for x in 0..<newWidth {
                        let s = (inRow + sourceColumns[x]) * channels
                        for c in 0..<channels { target[o + c] = source[s + c] }
                        o += channels
                    }
                }
            }
        }
        return Image(height: newHeight, width: newWidth, channels: channels, pixels: output)
    }
}
