/// Resampling filter for resizing images (masks always use nearest).
public enum Interpolation: Sendable, Equatable {
    /// Nearest neighbour at pixel centres (`nearest-exact`): source `⌊(i + ½)·in/out⌋`.
    case nearest
    /// Bilinear with half-pixel centres (`align_corners=False`): source `(i + ½)·in/out − ½`.
    case bilinear
}

extension ImageOps {
    /// Resizes to `(height, width)`. Bilinear downscaling with `antialias` widens the triangle filter to
    /// the scale factor (as torchvision's `antialias=True`); upscaling is plain bilinear either way.
    public static func resize(_ image: FloatImage, to size: (Int, Int), interpolation: Interpolation = .bilinear,
                              antialias: Bool = true) -> FloatImage {
        let (outH, outW) = size
        precondition(outH > 0 && outW > 0, "resize: output size must be positive, got \(size)")
        precondition(image.height > 0 && image.width > 0, "resize: cannot resize an empty image")
        if outH == image.height && outW == image.width { return image }
        if interpolation == .nearest {
            return resizeNearestRaster(image, outH, outW)
        }
        let rowsFilter = ResampleFilter(input: image.height, output: outH, antialias: antialias)
        let columnsFilter = ResampleFilter(input: image.width, output: outW, antialias: antialias)
        let (c, h, w) = (image.channels, image.height, image.width)
        // Horizontal pass: [C, H, W] → [C, H, outW]; then vertical: → [C, outH, outW].
        var horizontal = [Float](repeating: 0, count: c * h * outW)
        image.pixels.withUnsafeBufferPointer { src in
            horizontal.withUnsafeMutableBufferPointer { dst in
                for row in 0..<(c * h) {
                    let sourceRow = row * w, targetRow = row * outW
                    for x in 0..<outW {
                        let start = columnsFilter.starts[x], taps = columnsFilter.taps
                        var sum: Float = 0
                        for k in 0..<columnsFilter.counts[x] {
                            sum += columnsFilter.weights[x * taps + k] * src[sourceRow + start + k]
                        }
                        dst[targetRow + x] = sum
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: c * outH * outW)
        horizontal.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<c {
                    for y in 0..<outH {
                        let start = rowsFilter.starts[y], taps = rowsFilter.taps
                        let targetRow = (plane * outH + y) * outW
                        for k in 0..<rowsFilter.counts[y] {
                            let weight = rowsFilter.weights[y * taps + k]
                            let sourceRow = (plane * h + start + k) * outW
                            for x in 0..<outW { dst[targetRow + x] += weight * src[sourceRow + x] }
                        }
                    }
                }
            }
        }
        return FloatImage(channels: c, height: outH, width: outW, pixels: out)
    }

    /// Nearest-neighbour resize of a mask (`nearest-exact`, matching pixel centres with the image).
    public static func resize(_ mask: LabelMask, to size: (Int, Int)) -> LabelMask {
        precondition(size.0 > 0 && size.1 > 0, "resize: output size must be positive, got \(size)")
        precondition(mask.height > 0 && mask.width > 0, "resize: cannot resize an empty mask")
        if size.0 == mask.height && size.1 == mask.width { return mask }
        return resizeNearestRaster(mask, size.0, size.1)
    }

    /// The size that makes the shorter side `shorterSide` and keeps the aspect ratio (longer side truncated),
    /// as torchvision's `Resize(int)`.
    public static func sizeForShorterSide(_ shorterSide: Int, height: Int, width: Int) -> (Int, Int) {
        precondition(shorterSide > 0, "shorter side must be positive, got \(shorterSide)")
        if height <= width {
            return (shorterSide, max(1, Int(Double(shorterSide) * Double(width) / Double(height))))
        }
        return (max(1, Int(Double(shorterSide) * Double(height) / Double(width))), shorterSide)
    }

    static func resizeNearestRaster<R: PlanarRaster>(_ raster: R, _ outH: Int, _ outW: Int) -> R {
        let (h, w) = (raster.height, raster.width)
        let rows = (0..<outH).map { min(Int((Double($0) + 0.5) * Double(h) / Double(outH)), h - 1) }
        let columns = (0..<outW).map { min(Int((Double($0) + 0.5) * Double(w) / Double(outW)), w - 1) }
        let source = raster.values
        var out = [R.Value]()
        out.reserveCapacity(raster.planeCount * outH * outW)
        for plane in 0..<raster.planeCount {
            for y in 0..<outH {
                let row = (plane * h + rows[y]) * w
                for x in 0..<outW { out.append(source[row + columns[x]]) }
            }
        }
        return R(planeCount: raster.planeCount, height: outH, width: outW, values: out)
    }
}

/// Per-output-index source window and normalised weights along one axis.
struct ResampleFilter {
    var starts: [Int]
    var counts: [Int]
    /// `weights[i·taps + k]` for source `starts[i] + k`.
    var weights: [Float]
    var taps: Int

    init(input: Int, output: Int, antialias: Bool) {
        let scale = Double(input) / Double(output)
        starts = [Int](repeating: 0, count: output)
        counts = [Int](repeating: 0, count: output)
        if antialias && scale > 1 {
            // Triangle filter of half-width `scale` around the output pixel's centre in input coordinates.
            let support = scale
            taps = Int(support.rounded(.up)) * 2 + 1
            weights = [Float](repeating: 0, count: output * taps)
            for i in 0..<output {
                let centre = scale * (Double(i) + 0.5)
                let first = max(Int(centre - support + 0.5), 0)
                let last = min(Int(centre + support + 0.5), input)
                var raw = [Double]()
                for j in first..<last { raw.append(max(0, 1 - abs((Double(j) - centre + 0.5) / scale))) }
                let total = raw.reduce(0, +)
                starts[i] = first
                counts[i] = raw.count
                for (k, value) in raw.enumerated() { weights[i * taps + k] = Float(total > 0 ? value / total : 0) }
            }
        } else {
            taps = 2
            weights = [Float](repeating: 0, count: output * 2)
            for i in 0..<output {
                let source = max(0, (Double(i) + 0.5) * scale - 0.5)
                let i0 = min(Int(source), input - 1)
                let lambda = Float(source - Double(i0))
                starts[i] = i0
                if i0 + 1 < input && lambda > 0 {
                    counts[i] = 2
                    weights[i * 2] = 1 - lambda
                    weights[i * 2 + 1] = lambda
                } else {
                    counts[i] = 1
                    weights[i * 2] = 1
                }
            }
        }
    }
}
