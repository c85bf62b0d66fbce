import Foundation

/// How `ImageOps.crop` fills positions outside the source image.
public enum PaddingMode: Sendable, Equatable {
    /// A constant image value (masks use the transform's `maskFill` instead).
    case constant(Float)
    /// Mirror without repeating the edge pixel (torch's `reflect`: index −1 reads index 1).
    case reflect
    /// Repeat the edge pixel (torch's `replicate`, torchvision's `edge`).
    case replicate
    /// Mirror including the edge pixel (torchvision's `symmetric`: index −1 reads index 0).
    case symmetric

    /// Zero padding.
    public static let zero = PaddingMode.constant(0)
}

/// Channel-major rasters that the geometric kernels work on: images (Float) and masks (Int, one plane).
protocol PlanarRaster {
    associatedtype Value
    var planeCount: Int { get }
    var height: Int { get }
    var width: Int { get }
    var values: [Value] { get }
    init(planeCount: Int, height: Int, width: Int, values: [Value])
}

extension FloatImage: PlanarRaster {
    var planeCount: Int { channels }
    var values: [Float] { pixels }
    init(planeCount: Int, height: Int, width: Int, values: [Float]) {
        self.init(channels: planeCount, height: height, width: width, pixels: values)
    }
}

extension LabelMask: PlanarRaster {
    var planeCount: Int { 1 }
    var values: [Int] { labels }
    init(planeCount: Int, height: Int, width: Int, values: [Int]) {
        self.init(height: height, width: width, labels: values)
    }
}

/// Deterministic geometric kernels behind the random transforms. Rotations are counter-clockwise as
/// displayed (row 0 at the top), about the centre `((W−1)/2, (H−1)/2)`, as torchvision's `rotate`.
public enum ImageOps {
    // MARK: Flips and quarter turns

    /// Mirrors left–right in place.
    public static func flipHorizontal(_ image: inout FloatImage) { flipHorizontalInPlace(&image.pixels, rows: image.channels * image.height, width: image.width) }
    public static func flipHorizontal(_ mask: inout LabelMask) { flipHorizontalInPlace(&mask.labels, rows: mask.height, width: mask.width) }
    /// Mirrors top–bottom in place.
    public static func flipVertical(_ image: inout FloatImage) { flipVerticalInPlace(&image.pixels, planes: image.channels, height: image.height, width: image.width) }
    public static func flipVertical(_ mask: inout LabelMask) { flipVerticalInPlace(&mask.labels, planes: 1, height: mask.height, width: mask.width) }

    /// Rotates by `quarterTurns · 90°` counter-clockwise (`torch.rot90(x, k, dims=(-2, -1))`).
    /// Odd turns swap height and width.
    public static func rotate90(_ image: FloatImage, quarterTurns: Int) -> FloatImage { rotate90Raster(image, quarterTurns) }
    public static func rotate90(_ mask: LabelMask, quarterTurns: Int) -> LabelMask { rotate90Raster(mask, quarterTurns) }

    // MARK: Crops

    /// The window with top-left corner `(top, left)` and the given size, which may extend past the image
    /// (negative `top`/`left` included); outside positions follow `padding` (a constant pads with its value).
    public static func crop(_ image: FloatImage, top: Int, left: Int, height: Int, width: Int,
                            padding: PaddingMode = .zero) -> FloatImage {
        let fill: Float
        if case .constant(let value) = padding { fill = value } else { fill = 0 }
        return cropRaster(image, top: top, left: left, height: height, width: width, mode: padding, fill: fill)
    }

    /// Mask crop; constant padding writes `fill`.
    public static func crop(_ mask: LabelMask, top: Int, left: Int, height: Int, width: Int,
                            padding: PaddingMode = .zero, fill: Int = 0) -> LabelMask {
        cropRaster(mask, top: top, left: left, height: height, width: width, mode: padding, fill: fill)
    }

    // MARK: Rotation by any angle

    /// Rotates by `degrees` counter-clockwise, keeping the size. Bilinear: each of the four neighbours that
    /// lies outside the image contributes `fill` (one value, or one per channel) with its weight — the
    /// image padded with the constant `fill`, then sampled. For fill 0 this is torchvision's
    /// `rotate(..., fill=None)`; torchvision with an explicit fill instead blends `mask·sample + (1 − mask)·fill`,
    /// which darkens the border pixels a second time (up to 0.23 apart at 30° on a 5×5 image).
    public static func rotate(_ image: FloatImage, degrees: Double, fill: [Float] = [0]) -> FloatImage {
        precondition(fill.count == 1 || fill.count == image.channels,
                     "rotate: fill needs 1 or \(image.channels) values, got \(fill.count)")
        let (h, w, planeSize) = (image.height, image.width, image.planeSize)
        var out = [Float](repeating: 0, count: image.pixels.count)
        let (cosine, sine) = rotationCosineSine(degrees)
        let centreX = Double(w - 1) / 2, centreY = Double(h - 1) / 2
        image.pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for y in 0..<h {
                    let dy = Double(y) - centreY
                    for x in 0..<w {
                        let dx = Double(x) - centreX
                        let sx = dx * cosine - dy * sine + centreX
                        let sy = dx * sine + dy * cosine + centreY
                        let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                        let point = BilinearPoint(x0: x0, y0: y0, fx: Float(sx - Double(x0)), fy: Float(sy - Double(y0)),
                                                  width: w, height: h)
                        for c in 0..<image.channels {
                            target[c * planeSize + y * w + x] = point.sample(source, plane: c * planeSize,
                                                                             outside: fill.count == 1 ? fill[0] : fill[c])
                        }
                    }
                }
            }
        }
        return FloatImage(channels: image.channels, height: h, width: w, pixels: out)
    }

    /// Nearest-neighbour rotation of a mask with the same geometry as the image rotation; outside → `fill`.
    /// A source position exactly between two pixels (every one, for a quarter turn of a mask whose sides
    /// differ in parity) rounds half to even, as torchvision's nearest `grid_sample`.
    public static func rotate(_ mask: LabelMask, degrees: Double, fill: Int = 0) -> LabelMask {
        let (h, w) = (mask.height, mask.width)
        var out = [Int](repeating: fill, count: h * w)
        let (cosine, sine) = rotationCosineSine(degrees)
        let centreX = Double(w - 1) / 2, centreY = Double(h - 1) / 2
        for y in 0..<h {
            let dy = Double(y) - centreY
            for x in 0..<w {
                let dx = Double(x) - centreX
                let sx = Int((dx * cosine - dy * sine + centreX).rounded(.toNearestOrEven))
                let sy = Int((dx * sine + dy * cosine + centreY).rounded(.toNearestOrEven))
                if sx >= 0 && sx < w && sy >= 0 && sy < h { out[y * w + x] = mask.labels[sy * w + sx] }
            }
        }
        return LabelMask(height: h, width: w, labels: out)
    }

    /// cos and sin of an angle in degrees, exact at multiples of 90° so quarter turns sample whole pixels.
    static func rotationCosineSine(_ degrees: Double) -> (Double, Double) {
        let turns = degrees / 90
        if turns == turns.rounded() {
            switch ((Int(turns) % 4) + 4) % 4 {
            case 0: return (1, 0)
            case 1: return (0, 1)
            case 2: return (-1, 0)
            default: return (0, -1)
            }
        }
        let radians = degrees * Double.pi / 180
        return (cos(radians), sin(radians))
    }

    /// The four pixels around a source point and their bilinear weights; a pixel outside the image reads `outside`.
    struct BilinearPoint {
        let x0: Int, y0: Int, width: Int
        let weights: (Float, Float, Float, Float)
        let inside: (Bool, Bool, Bool, Bool)  // column x0, column x0 + 1, row y0, row y0 + 1

        init(x0: Int, y0: Int, fx: Float, fy: Float, width w: Int, height h: Int) {
            self.x0 = x0; self.y0 = y0; width = w
            weights = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
            inside = (x0 >= 0 && x0 < w, x0 + 1 >= 0 && x0 + 1 < w, y0 >= 0 && y0 < h, y0 + 1 >= 0 && y0 + 1 < h)
        }

        @inline(__always)
        func sample(_ source: UnsafeBufferPointer<Float>, plane base: Int, outside: Float) -> Float {
            let w = width
            let v00 = inside.0 && inside.2 ? source[base + y0 * w + x0] : outside
            let v01 = inside.1 && inside.2 ? source[base + y0 * w + x0 + 1] : outside
            let v10 = inside.0 && inside.3 ? source[base + (y0 + 1) * w + x0] : outside
            let v11 = inside.1 && inside.3 ? source[base + (y0 + 1) * w + x0 + 1] : outside
            return weights.0 * v00 + weights.1 * v01 + weights.2 * v10 + weights.3 * v11
        }
    }

    // MARK: Generic kernels

    static func flipHorizontalInPlace<Value>(_ values: inout [Value], rows: Int, width: Int) {
        values.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<rows {
                var left = row * width, right = left + width - 1
                while left < right {
                    buffer.swapAt(left, right)
                    left += 1
                    right -= 1
                }
            }
        }
    }

    static func flipVerticalInPlace<Value>(_ values: inout [Value], planes: Int, height: Int, width: Int) {
        values.withUnsafeMutableBufferPointer { buffer in
            for plane in 0..<planes {
                let base = plane * height * width
                var top = 0, bottom = height - 1
                while top < bottom {
                    for x in 0..<width { buffer.swapAt(base + top * width + x, base + bottom * width + x) }
                    top += 1
                    bottom -= 1
                }
            }
        }
    }

    static func rotate90Raster<R: PlanarRaster>(_ raster: R, _ quarterTurns: Int) -> R {
        let turns = ((quarterTurns % 4) + 4) % 4
        let (h, w, planes) = (raster.height, raster.width, raster.planeCount)
        if turns == 0 { return raster }
        let (outH, outW) = turns == 2 ? (h, w) : (w, h)
        let source = raster.values
        var out = [R.Value]()
        out.reserveCapacity(source.count)
        for plane in 0..<planes {
            let base = plane * h * w
            for y in 0..<outH {
                for x in 0..<outW {
                    let (sy, sx): (Int, Int)
                    switch turns {
                    case 1: (sy, sx) = (x, w - 1 - y)
                    case 2: (sy, sx) = (h - 1 - y, w - 1 - x)
                    default: (sy, sx) = (h - 1 - x, y)
                    }
                    out.append(source[base + sy * w + sx])
                }
            }
        }
        return R(planeCount: planes, height: outH, width: outW, values: out)
    }

    /// Maps an index outside `0..<n` into it according to `mode` (nil: use the constant).
    @inline(__always)
    static func sourceIndex(_ i: Int, _ n: Int, _ mode: PaddingMode) -> Int? {
        if i >= 0 && i < n { return i }
        switch mode {
        case .constant:
            return nil
        case .replicate:
            return i < 0 ? 0 : n - 1
        case .reflect:
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var j = i % period
            if j < 0 { j += period }
            return j < n ? j : period - j
        case .symmetric:
            let period = 2 * n
            var j = i % period
            if j < 0 { j += period }
            return j < n ? j : period - 1 - j
        }
    }

    static func cropRaster<R: PlanarRaster>(_ raster: R, top: Int, left: Int, height: Int, width: Int,
                                            mode: PaddingMode, fill: R.Value) -> R {
        precondition(height >= 0 && width >= 0, "crop size must be non-negative, got (\(height), \(width))")
        let (h, w, planes) = (raster.height, raster.width, raster.planeCount)
        precondition(h > 0 && w > 0 || height * width == 0, "cannot crop an empty image [\(h), \(w)]")
        // Source column for every output column (nil → fill), computed once for all rows and planes.
        let columns = (0..<width).map { sourceIndex(left + $0, w, mode) }
        let interiorStart = max(0, -left), interiorEnd = min(width, w - left)
        let source = raster.values
        var out = [R.Value](repeating: fill, count: planes * height * width)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<planes {
                    for y in 0..<height {
                        guard let sy = sourceIndex(top + y, h, mode) else { continue }
                        let sourceRow = (plane * h + sy) * w
                        let targetRow = (plane * height + y) * width
                        if interiorStart < interiorEnd {
                            for x in interiorStart..<interiorEnd { dst[targetRow + x] = src[sourceRow + left + x] }
                        }
                        for x in 0..<min(interiorStart, width) {
                            if let sx = columns[x] { dst[targetRow + x] = src[sourceRow + sx] }
                        }
                        for x in max(interiorEnd, 0)..<width {
                            if let sx = columns[x] { dst[targetRow + x] = src[sourceRow + sx] }
                        }
                    }
                }
            }
        }
        return R(planeCount: planes, height: height, width: width, values: out)
    }
}
