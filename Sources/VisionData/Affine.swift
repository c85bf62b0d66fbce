import Foundation
import VisionCore

// Warps as torchvision's tensor functions compute them: a sampling grid in normalised coordinates (from an
// inverse affine matrix about the image centre, as `affine_grid`, or a displacement field), sampled as
// `grid_sample(align_corners=False)`.

extension ImageOps {
    /// torchvision's `_get_inverse_affine_matrix(center, angle, translate, scale, shear)`: the 2×3 matrix
    /// (row-major) taking an output pixel to its input pixel, both relative to the image centre plus
    /// `center`. Rotation and shears in degrees; the angle as `F.affine` takes it (`F.rotate` negates its own).
    public static func inverseAffineMatrix(center: (Double, Double) = (0, 0), angle: Double = 0,
                                           translate: (Double, Double) = (0, 0), scale: Double = 1,
                                           shear: (Double, Double) = (0, 0)) -> [Double] {
        precondition(scale > 0, "affine: scale \(scale) must be positive")
        let radians = Double.pi / 180  // math.radians(x) is x · (π/180)
        let rot = angle * radians, sx = shear.0 * radians, sy = shear.1 * radians
        let a = Foundation.cos(rot - sy) / Foundation.cos(sy)
        let b = -Foundation.cos(rot - sy) * Foundation.tan(sx) / Foundation.cos(sy) - Foundation.sin(rot)
        let c = Foundation.sin(rot - sy) / Foundation.cos(sy)
        let d = -Foundation.sin(rot - sy) * Foundation.tan(sx) / Foundation.cos(sy) + Foundation.cos(rot)
        var m = [d, -b, 0, -c, a, 0].map { $0 / scale }
        let (cx, cy) = center, (tx, ty) = translate
        m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
        m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
        m[2] += cx
        m[5] += cy
        return m
    }

    /// Warps `image` by the inverse `matrix` (from `inverseAffineMatrix`), keeping its size: `gridSample` on
    /// `affineGrid`.
    public static func affine(_ image: FloatImage, matrix: [Double], interpolation: Interpolation = .nearest,
                              fill: [Float] = [0]) -> FloatImage {
        gridSample(image, grid: affineGrid(height: image.height, width: image.width, matrix: matrix),
                   interpolation: interpolation, fill: fill)
    }

    /// Warps a mask by the inverse `matrix` with nearest sampling (the geometry of the image warp); outside → `fill`.
    public static func affine(_ mask: LabelMask, matrix: [Double], fill: Int = 0) -> LabelMask {
        gridSample(mask, grid: affineGrid(height: mask.height, width: mask.width, matrix: matrix), fill: fill)
    }

    /// The sampling grid of an inverse affine `matrix`, in float32 as `affine_grid` computes it: pixel centres
    /// relative to the image centre go through the matrix and are normalised by half the size.
    public static func affineGrid(height h: Int, width w: Int, matrix: [Double]) -> SamplingGrid {
        precondition(matrix.count == 6, "affine: the matrix needs 6 values, got \(matrix.count)")
        let theta = matrix.map(Float.init)
        let halfW = Float(0.5) * Float(w), halfH = Float(0.5) * Float(h)
        let r = [theta[0] / halfW, theta[3] / halfH, theta[1] / halfW, theta[4] / halfH, theta[2] / halfW, theta[5] / halfH]
        var grid = SamplingGrid(height: h, width: w)
        for y in 0..<h {
            let by = -Float(h) * 0.5 + 0.5 + Float(y)
            for x in 0..<w {
                let bx = -Float(w) * 0.5 + 0.5 + Float(x)
                grid.x[y * w + x] = bx * r[0] + by * r[2] + r[4]
                grid.y[y * w + x] = bx * r[1] + by * r[3] + r[5]
            }
        }
        return grid
    }

    /// `grid_sample(image, grid, align_corners=False)` with constant padding: each output pixel samples the
    /// input at its grid point. Nearest picks the pixel whose centre is closest (ties to even, as `grid_sample`);
    /// bilinear weighs the four around the point. Outside the image the samples read `fill` (one value, or one
    /// per channel) — the image padded with the constant, then sampled; for fill 0 this is `padding_mode="zeros"`.
    public static func gridSample(_ image: FloatImage, grid: SamplingGrid, interpolation: Interpolation = .bilinear,
                                  fill: [Float] = [0]) -> FloatImage {
        precondition(fill.count == 1 || fill.count == image.channels,
                     "gridSample: fill needs 1 or \(image.channels) values, got \(fill.count)")
        let (c, h, w) = (image.channels, image.height, image.width)
        let plane = h * w
        var out = [Float](repeating: 0, count: c * grid.height * grid.width)
        let outPlane = grid.height * grid.width
        image.pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                grid.forEachSourcePoint(inputHeight: h, inputWidth: w) { index, ix, iy in
                    // Far outside (or not a number): only the fill; this also keeps Int() from trapping.
                    guard ix > -2 && ix < Float(w + 1) && iy > -2 && iy < Float(h + 1) else {
                        for k in 0..<c { target[k * outPlane + index] = fill[fill.count == 1 ? 0 : k] }
                        return
                    }
                    switch interpolation {
                    case .nearest:
                        let sx = Int(ix.rounded(.toNearestOrEven)), sy = Int(iy.rounded(.toNearestOrEven))
                        let inside = sx >= 0 && sx < w && sy >= 0 && sy < h
                        for k in 0..<c {
                            target[k * outPlane + index] = inside ? source[k * plane + sy * w + sx] : fill[fill.count == 1 ? 0 : k]
                        }
                    case .bilinear:
                        let x0 = ix.rounded(.down), y0 = iy.rounded(.down)
                        let point = BilinearPoint(x0: Int(x0), y0: Int(y0), fx: ix - x0, fy: iy - y0, width: w, height: h)
                        for k in 0..<c {
                            target[k * outPlane + index] = point.sample(source, plane: k * plane, outside: fill[fill.count == 1 ? 0 : k])
                        }
                    }
                }
            }
        }
        return FloatImage(channels: c, height: grid.height, width: grid.width, pixels: out)
    }

    /// `gridSample` of a mask, nearest; outside → `fill`.
    public static func gridSample(_ mask: LabelMask, grid: SamplingGrid, fill: Int = 0) -> LabelMask {
        let (h, w) = (mask.height, mask.width)
        var out = [Int](repeating: fill, count: grid.height * grid.width)
        grid.forEachSourcePoint(inputHeight: h, inputWidth: w) { index, ix, iy in
            guard ix > -2 && ix < Float(w + 1) && iy > -2 && iy < Float(h + 1) else { return }
            let sx = Int(ix.rounded(.toNearestOrEven)), sy = Int(iy.rounded(.toNearestOrEven))
            if sx >= 0 && sx < w && sy >= 0 && sy < h { out[index] = mask.labels[sy * w + sx] }
        }
        return LabelMask(height: grid.height, width: grid.width, labels: out)
    }
}

/// A sampling grid as `grid_sample` takes it: for each output pixel (row-major), the source point in
/// normalised coordinates — −1 and 1 at the outer edges of the input's first and last pixels (align_corners
/// false) — `x` across, `y` down.
public struct SamplingGrid: Sendable, Equatable {
    public let height: Int, width: Int
    public var x: [Float], y: [Float]

    /// The grid of `height × width` points, all at the input's centre until set.
    public init(height: Int, width: Int) {
        self.height = height; self.width = width
        x = [Float](repeating: 0, count: height * width); y = x
    }

    /// Every output pixel's source point in input pixel coordinates, as `grid_sample` unnormalises it.
    func forEachSourcePoint(inputHeight h: Int, inputWidth w: Int, _ body: (_ index: Int, _ x: Float, _ y: Float) -> Void) {
        for index in 0..<(height * width) {
            body(index, ((x[index] + 1) * Float(w) - 1) / 2, ((y[index] + 1) * Float(h) - 1) / 2)
        }
    }
}

/// torchvision's `RandomAffine(degrees, translate, scale, shear, interpolation, fill)`: per image, an angle
/// uniform in `degrees`, a translation of up to `translate` × the width and height (rounded to whole
/// pixels), a scale uniform in `scale`, and shears (degrees) uniform in `shearX` and `shearY`, about the
/// image centre. The image is sampled with `interpolation` (torchvision's default: nearest) and `fill`
/// outside; a mask moves with it by nearest sampling, `maskFill` outside. Bilinear border pixels differ from
/// torchvision's, as `ImageOps.rotate` says: torchvision always passes a fill here and then blends
/// `sample·m + (1 − m)·fill` with the share `m` of the sample inside the image, which darkens the border a second
/// time; here the image is padded with `fill` and sampled once.
public struct RandomAffine: Transform {
    public let degrees: ClosedRange<Double>
    public let translate: (Double, Double)?
    public let scale: ClosedRange<Double>?
    public let shearX: ClosedRange<Double>?, shearY: ClosedRange<Double>?
    public let interpolation: Interpolation
    public let fill: [Float]
    public let maskFill: Int

    /// - Parameters:
    ///   - degrees: the angle's range; `RandomAffine(degrees: 10)` is `-10...10`.
    ///   - translate: the largest shift as fractions of the width and the height, each in `[0, 1]`.
    ///   - scale: the scale factor's range (positive).
    ///   - shearX, shearY: the shears' ranges in degrees (torchvision's `shear=s` is `shearX: -s...s`).
    public init(degrees: ClosedRange<Double>, translate: (Double, Double)? = nil, scale: ClosedRange<Double>? = nil,
                shearX: ClosedRange<Double>? = nil, shearY: ClosedRange<Double>? = nil,
                interpolation: Interpolation = .nearest, fill: [Float] = [0], maskFill: Int = 0) {
        if let translate {
            precondition((0...1).contains(translate.0) && (0...1).contains(translate.1),
                         "RandomAffine: translate fractions must lie in [0, 1], got \(translate)")
        }
        if let scale { precondition(scale.lowerBound > 0, "RandomAffine: scale must be positive, got \(scale)") }
        for shear in [shearX, shearY].compactMap({ $0 }) {
            precondition(shear.lowerBound > -90 && shear.upperBound < 90, "RandomAffine: shear \(shear) must lie inside (−90°, 90°)")
        }
        self.degrees = degrees; self.translate = translate; self.scale = scale
        self.shearX = shearX; self.shearY = shearY
        self.interpolation = interpolation; self.fill = fill; self.maskFill = maskFill
    }

    /// Angles in `[−degrees, degrees]`, as torchvision's `RandomAffine(degrees)`.
    public init(degrees: Double, translate: (Double, Double)? = nil, scale: ClosedRange<Double>? = nil,
                shearX: ClosedRange<Double>? = nil, shearY: ClosedRange<Double>? = nil,
                interpolation: Interpolation = .nearest, fill: [Float] = [0], maskFill: Int = 0) {
        precondition(degrees >= 0, "RandomAffine: degrees must be non-negative, got \(degrees)")
        self.init(degrees: -degrees...degrees, translate: translate, scale: scale, shearX: shearX, shearY: shearY,
                  interpolation: interpolation, fill: fill, maskFill: maskFill)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomAffine")
        let matrix = draw(height: image.height, width: image.width, generator: &generator)
        image = ImageOps.affine(image, matrix: matrix, interpolation: interpolation, fill: fill)
        if let current = mask { mask = ImageOps.affine(current, matrix: matrix, fill: maskFill) }
    }

    /// The inverse matrix for one image of `height × width`, drawn in torchvision's order (angle, translation,
    /// scale, shears).
    public func draw(height: Int, width: Int, generator: inout SeededGenerator) -> [Double] {
        let angle = generator.uniform(degrees.lowerBound, degrees.upperBound)
        var shift = (0.0, 0.0)
        if let translate {
            let (dx, dy) = (translate.0 * Double(width), translate.1 * Double(height))
            shift = (generator.uniform(-dx, dx).rounded(.toNearestOrEven), generator.uniform(-dy, dy).rounded(.toNearestOrEven))  // Python round()
        }
        let factor = scale.map { generator.uniform($0.lowerBound, $0.upperBound) } ?? 1
        let sx = shearX.map { generator.uniform($0.lowerBound, $0.upperBound) } ?? 0
        let sy = shearY.map { generator.uniform($0.lowerBound, $0.upperBound) } ?? 0
        return ImageOps.inverseAffineMatrix(angle: angle, translate: shift, scale: factor, shear: (sx, sy))
    }
}

extension ImageOps {
    /// torchvision's `F.elastic_transform` grid: the identity grid (pixel centres at `(2i + 1)/s − 1`, as
    /// `torch.linspace((1 − s)/s, (s − 1)/s, s)`) plus a displacement field in the same normalised units,
    /// `dx` and `dy` holding one value per pixel (row-major).
    public static func displacedGrid(height h: Int, width w: Int, dx: [Float], dy: [Float]) -> SamplingGrid {
        precondition(dx.count == h * w && dy.count == h * w,
                     "displacedGrid: displacements need \(h * w) values each, got \(dx.count) and \(dy.count)")
        let xs = linspace(Float(1 - w) / Float(w), Float(w - 1) / Float(w), w)
        let ys = linspace(Float(1 - h) / Float(h), Float(h - 1) / Float(h), h)
        var grid = SamplingGrid(height: h, width: w)
        for y in 0..<h {
            for x in 0..<w {
                grid.x[y * w + x] = xs[x] + dx[y * w + x]
                grid.y[y * w + x] = ys[y] + dy[y * w + x]
            }
        }
        return grid
    }
}

/// torchvision's `ElasticTransform(alpha, sigma, interpolation, fill)` (Simard et al. 2003's smoothed per-pixel
/// field; the U-Net paper deformed images elastically too, from a coarse 3×3 grid): every pixel moves by a random
/// displacement, uniform in `[−1, 1]` per pixel and axis, smoothed by a Gaussian (kernel `8σ + 1` made odd —
/// capped at twice the longer side plus one, where torch refuses kernels reaching past the image —, standard
/// deviations `sigma`, as torchvision blurs both fields with both sigmas) and scaled by `alpha` over the width (x)
/// or height (y) in normalised units — about `alpha/4` pixels on average before smoothing shrinks it. The image is resampled with `interpolation`, `fill` outside; a mask moves with it
/// by nearest sampling, `maskFill` outside. Bilinear border pixels differ from torchvision's with a fill, as
/// `RandomAffine` says.
public struct ElasticTransform: Transform {
    public let alpha: (x: Double, y: Double)
    public let sigma: (x: Double, y: Double)
    public let interpolation: Interpolation
    public let fill: [Float]
    public let maskFill: Int

    /// - Parameters:
    ///   - alpha: the displacement's magnitude along x and y (torchvision's default 50 on both).
    ///   - sigma: the smoothing's standard deviations in pixels (default 5 on both); both 0 leaves the noise raw.
    public init(alpha: (x: Double, y: Double), sigma: (x: Double, y: Double),
                interpolation: Interpolation = .bilinear, fill: [Float] = [0], maskFill: Int = 0) {
        precondition(alpha.x >= 0 && alpha.y >= 0 && alpha.x.isFinite && alpha.y.isFinite,
                     "ElasticTransform: alpha must be finite and ≥ 0, got \(alpha)")
        precondition(sigma.x >= 0 && sigma.y >= 0 && sigma.x.isFinite && sigma.y.isFinite,
                     "ElasticTransform: sigma must be finite and ≥ 0, got \(sigma)")
        // torchvision blurs each field with both sigmas, so one zero and one positive fails there.
        precondition((sigma.x > 0) == (sigma.y > 0), "ElasticTransform: sigmas must both be 0 or both positive, got \(sigma)")
        self.alpha = alpha; self.sigma = sigma; self.interpolation = interpolation
        self.fill = fill; self.maskFill = maskFill
    }

    /// The same `alpha` and `sigma` on both axes.
    public init(alpha: Double = 50, sigma: Double = 5, interpolation: Interpolation = .bilinear, fill: [Float] = [0],
                maskFill: Int = 0) {
        self.init(alpha: (alpha, alpha), sigma: (sigma, sigma), interpolation: interpolation, fill: fill, maskFill: maskFill)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "ElasticTransform")
        let grid = draw(height: image.height, width: image.width, generator: &generator)
        image = ImageOps.gridSample(image, grid: grid, interpolation: interpolation, fill: fill)
        if let current = mask { mask = ImageOps.gridSample(current, grid: grid, fill: maskFill) }
    }

    /// The displaced grid for one image of `height × width`: the x field, then the y field, drawn in storage order.
    public func draw(height h: Int, width w: Int, generator: inout SeededGenerator) -> SamplingGrid {
        func field(_ sigmaAlong: Double, scale: Double) -> [Float] {
            var values = (0..<(h * w)).map { _ in generator.nextUniform() * 2 - 1 }
            if sigmaAlong > 0 && h > 0 && w > 0 {
                var size = Int(min(8 * sigmaAlong + 1, Double(2 * max(h, w) + 1)))
                if size % 2 == 0 { size += 1 }
                values = ImageOps.gaussianBlur(FloatImage(channels: 1, height: h, width: w, pixels: values),
                                               kernelSize: (size, size), sigma: (sigma.x, sigma.y)).pixels
            }
            return values.map { $0 * Float(scale) }
        }
        let dx = field(sigma.x, scale: alpha.x / Double(max(w, 1)))
        let dy = field(sigma.y, scale: alpha.y / Double(max(h, 1)))
        return ImageOps.displacedGrid(height: h, width: w, dx: dx, dy: dy)
    }
}

extension ImageOps {
    /// torchvision's `_get_perspective_coeffs(startpoints, endpoints)`: the 8 coefficients of the perspective map
    /// taking each output point (`endpoints`, pixel coordinates) back to its input point (`startpoints`),
    ///
    ///     x_in = (c₀x + c₁y + c₂) / (c₆x + c₇y + 1),   y_in = (c₃x + c₄y + c₅) / (c₆x + c₇y + 1),
    ///
    /// solved from the four correspondences in Double and rounded to Float as torchvision does. nil when the
    /// points are degenerate (three on a line).
    public static func perspectiveCoefficients(from start: [(Double, Double)], to end: [(Double, Double)]) -> [Float]? {
        precondition(start.count == 4 && end.count == 4, "perspective needs four start and four end points")
        var a = [[Double]](), b = [Double]()
        for ((ex, ey), (sx, sy)) in zip(end, start) {
            a.append([ex, ey, 1, 0, 0, 0, -sx * ex, -sx * ey]); b.append(sx)
            a.append([0, 0, 0, ex, ey, 1, -sy * ex, -sy * ey]); b.append(sy)
        }
        // Gaussian elimination with partial pivoting.
        for column in 0..<8 {
            guard let pivot = (column..<8).max(by: { abs(a[$0][column]) < abs(a[$1][column]) }),
                  abs(a[pivot][column]) > 1e-12 else { return nil }
            a.swapAt(column, pivot); b.swapAt(column, pivot)
            for row in (column + 1)..<8 {
                let factor = a[row][column] / a[column][column]
                if factor == 0 { continue }
                for k in column..<8 { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var solution = [Double](repeating: 0, count: 8)
        for row in stride(from: 7, through: 0, by: -1) {
            var value = b[row]
            for k in (row + 1)..<8 { value -= a[row][k] * solution[k] }
            solution[row] = value / a[row][row]
        }
        return solution.map { Float($0) }
    }

    /// torchvision's `_perspective_grid`: output pixel centres `(x + ½, y + ½)` through the coefficients, in
    /// float32, normalised by half the size.
    public static func perspectiveGrid(height h: Int, width w: Int, coefficients c: [Float]) -> SamplingGrid {
        precondition(c.count == 8, "perspectiveGrid needs 8 coefficients, got \(c.count)")
        let halfW = Float(0.5 * Double(w)), halfH = Float(0.5 * Double(h))
        let (a0, a1, a2) = (c[0] / halfW, c[1] / halfW, c[2] / halfW)
        let (b0, b1, b2) = (c[3] / halfH, c[4] / halfH, c[5] / halfH)
        let xs = linspace(0.5, Float(w) - 0.5, w), ys = linspace(0.5, Float(h) - 0.5, h)
        var grid = SamplingGrid(height: h, width: w)
        for y in 0..<h {
            for x in 0..<w {
                let (px, py) = (xs[x], ys[y])
                let denominator = px * c[6] + py * c[7] + 1
                grid.x[y * w + x] = (px * a0 + py * a1 + a2) / denominator - 1
                grid.y[y * w + x] = (px * b0 + py * b1 + b2) / denominator - 1
            }
        }
        return grid
    }
}

/// torchvision's `RandomPerspective(distortion_scale, p, interpolation, fill)`: with probability `p`, each corner
/// of the image moves inwards by up to `distortionScale` × half the width and height (whole pixels), and the
/// image is warped so the corners land there. When the moved corners leave no perspective map (three on a line:
/// a side of 1 pixel, or corners meeting on a 2-pixel side), the image is left as it is. Sampled with `interpolation` (default bilinear) and `fill` outside;
/// a mask moves with it by nearest sampling, `maskFill` outside. Bilinear border pixels differ from
/// torchvision's with a fill, as `RandomAffine` says.
public struct RandomPerspective: Transform {
    public let distortionScale: Double
    public let p: Float
    public let interpolation: Interpolation
    public let fill: [Float]
    public let maskFill: Int

    public init(distortionScale: Double = 0.5, p: Float = 0.5, interpolation: Interpolation = .bilinear,
                fill: [Float] = [0], maskFill: Int = 0) {
        precondition((0...1).contains(distortionScale), "RandomPerspective: distortionScale must be in [0, 1], got \(distortionScale)")
        self.distortionScale = distortionScale; self.p = p; self.interpolation = interpolation
        self.fill = fill; self.maskFill = maskFill
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomPerspective")
        guard generator.nextUniform() < p, image.height > 0, image.width > 0 else { return }
        let (start, end) = corners(height: image.height, width: image.width, generator: &generator)
        guard let coefficients = ImageOps.perspectiveCoefficients(from: start, to: end) else { return }
        let grid = ImageOps.perspectiveGrid(height: image.height, width: image.width, coefficients: coefficients)
        image = ImageOps.gridSample(image, grid: grid, interpolation: interpolation, fill: fill)
        if let current = mask { mask = ImageOps.gridSample(current, grid: grid, fill: maskFill) }
    }

    /// The image's corners (top-left, top-right, bottom-right, bottom-left) and where they move, drawn as
    /// torchvision's `get_params` does.
    public func corners(height h: Int, width w: Int, generator: inout SeededGenerator) -> (start: [(Double, Double)], end: [(Double, Double)]) {
        let dx = Int(distortionScale * Double(w / 2)), dy = Int(distortionScale * Double(h / 2))
        func draw(_ low: Int, _ high: Int) -> Double { Double(generator.integer(low, high)) }
        let topLeft = (draw(0, dx + 1), draw(0, dy + 1))
        let topRight = (draw(w - dx - 1, w), draw(0, dy + 1))
        let bottomRight = (draw(w - dx - 1, w), draw(h - dy - 1, h))
        let bottomLeft = (draw(0, dx + 1), draw(h - dy - 1, h))
        let start = [(0.0, 0.0), (Double(w - 1), 0.0), (Double(w - 1), Double(h - 1)), (0.0, Double(h - 1))]
        return (start, [topLeft, topRight, bottomRight, bottomLeft])
    }
}
