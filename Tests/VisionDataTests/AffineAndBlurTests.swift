import Foundation
import TestSupport
import VisionCore
import VisionData
import XCTest

/// Affine warps and Gaussian blur against torchvision's tensor `F.affine` and `F.gaussian_blur`
/// (`scripts/make_transform_fixture.py`), and the `RandomAffine` and `GaussianBlur` transforms.
final class AffineAndBlurTests: XCTestCase {
    static let fixture = packageRoot().appendingPathComponent("Tests/VisionDataTests/Fixtures/transforms.safetensors")

    /// The fixture's tensors, the JSON case list under `key`, and its input image.
    func fixture(_ key: String) throws -> (tensors: [String: Tensor], cases: [[Any]], image: FloatImage) {
        let metadata = try SafeTensors.readMetadata(contentsOf: Self.fixture)
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(metadata[key]).utf8)) as? [[Any]])
        let tensors = try SafeTensors.read(contentsOf: Self.fixture)
        let input = try XCTUnwrap(tensors["input"])
        return (tensors, cases, FloatImage(channels: input.shape[0], height: input.shape[1], width: input.shape[2], pixels: input.storage))
    }

    /// Nearest warps equal torchvision's exactly; bilinear ones within `rtol`/`atol` (float32 sums in another order).
    func assertWarp(_ output: FloatImage, equals expected: Tensor, nearest: Bool, rtol: Float, atol: Float, _ name: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        if nearest {
            let differing = zip(output.pixels, expected.storage).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(name): \(differing) of \(expected.count) values differ from torchvision", file: file, line: line)
        } else {
            assertClose(output.pixels, expected.storage, rtol: rtol, atol: atol, name, file: file, line: line)
        }
    }

    func testWarpsMatchTorchvision() throws {
        let (tensors, cases, image) = try fixture("affine")
        XCTAssertEqual(cases.count, 10)
        for entry in cases {
            let name = entry[0] as! String
            let number = { (value: Any) in (value as! NSNumber).doubleValue }
            let translate = (entry[2] as! [Any]).map(number), shear = (entry[4] as! [Any]).map(number)
            let matrix = ImageOps.inverseAffineMatrix(angle: number(entry[1]), translate: (translate[0], translate[1]),
                                                      scale: number(entry[3]), shear: (shear[0], shear[1]))
            let nearest = entry[5] as! String == "nearest"
            assertWarp(ImageOps.affine(image, matrix: matrix, interpolation: nearest ? .nearest : .bilinear),
                       equals: try XCTUnwrap(tensors[name]), nearest: nearest, rtol: 1e-5, atol: 2e-6, name)
        }
    }

    /// The mask follows the image pixel for pixel (nearest sampling of the same matrix), `maskFill` outside.
    func testRandomAffineMovesTheMaskWithTheImage() {
        let (h, w) = (11, 14)
        let image = FloatImage(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { Float($0 + 1) })
        let mask = LabelMask(height: h, width: w, labels: (0..<(h * w)).map { $0 + 1 })
        let augment = RandomAffine(degrees: 40, translate: (0.2, 0.1), scale: 0.7...1.3, shearX: -15...15, shearY: -5...5,
                                   fill: [0], maskFill: 0)
        var g = SeededGenerator(seed: 12)
        var moved = 0
        for _ in 0..<30 {
            var warped = image
            var warpedMask: LabelMask? = mask
            augment.apply(&warped, mask: &warpedMask, generator: &g)
            XCTAssertEqual(warped.pixels, warpedMask!.labels.map(Float.init))
            if warped != image { moved += 1 }
        }
        XCTAssertEqual(moved, 30)
    }

    /// Parameters are drawn in their ranges: a pure translation moves by whole pixels up to the fraction of
    /// the side, a pure scale keeps the centre, and a zero range is the identity.
    func testRandomAffineDrawsWithinItsRanges() {
        var g = SeededGenerator(seed: 13)
        let shift = RandomAffine(degrees: 0...0, translate: (0.25, 0.5))
        var seen = Set<[Double]>()
        for _ in 0..<3_000 {  // the rarest pair, (±3, ±5), has probability 1/240
            let m = shift.draw(height: 10, width: 12, generator: &g)
            XCTAssertEqual(Array(m[0..<2]) + Array(m[3..<5]), [1, 0, 0, 1])
            // The inverse matrix moves back by the drawn shift: −tx, −ty, whole pixels within ±3 and ±5.
            XCTAssertEqual(m[2], m[2].rounded())
            XCTAssertTrue((-3...3).contains(-m[2]) && (-5...5).contains(-m[5]), "\(m)")
            seen.insert([m[2], m[5]])
        }
        XCTAssertEqual(seen.count, 7 * 11, "every whole shift is drawn")
        let scale = RandomAffine(degrees: 0...0, scale: 0.5...2)
        for _ in 0..<50 {
            let m = scale.draw(height: 8, width: 8, generator: &g)
            XCTAssertTrue((0.5...2).contains(1 / m[0]) && m[0] == m[4] && m[1] == 0 && m[2] == 0 && m[5] == 0, "\(m)")
        }
        let image = FloatImage(channels: 3, height: 7, width: 9, pixels: (0..<189).map { Float($0) / 189 })
        var still = image
        var none: LabelMask? = nil
        RandomAffine(degrees: 0).apply(&still, mask: &none, generator: &g)
        XCTAssertEqual(still, image)
        // A scale so small that every source point but the centre's lies far outside gives the fill, not a trap.
        let vanishing = ImageOps.affine(image, matrix: ImageOps.inverseAffineMatrix(scale: 1e-30), fill: [0.5])
        let centre = [0, 1, 2].map { $0 * 63 + 3 * 9 + 4 }
        XCTAssertEqual(centre.map { vanishing.pixels[$0] }, centre.map { image.pixels[$0] })
        XCTAssertEqual(vanishing.pixels.enumerated().filter { !centre.contains($0.offset) && $0.element != 0.5 }.count, 0)
    }

    func testGaussianBlurMatchesTorchvision() throws {
        let (tensors, cases, image) = try fixture("blur")
        XCTAssertEqual(cases.count, 4)
        for entry in cases {
            let name = entry[0] as! String
            let kernel = (entry[1] as! [NSNumber]).map(\.intValue), sigma = (entry[2] as! [NSNumber]).map(\.doubleValue)
            let output = ImageOps.gaussianBlur(image, kernelSize: (kernel[0], kernel[1]), sigma: (sigma[0], sigma[1]))
            assertClose(output.pixels, try XCTUnwrap(tensors[name]).storage, rtol: 1e-5, atol: 1e-6, name)
        }
    }

    /// The sigma is drawn per image from the range: a 1-wide kernel is the identity, a constant image stays
    /// constant, and the blur spreads a single bright pixel symmetrically; masks pass unchanged.
    func testGaussianBlurTransform() {
        var g = SeededGenerator(seed: 14)
        let spike = FloatImage(channels: 1, height: 7, width: 7, pixels: (0..<49).map { $0 == 24 ? 1 : 0 })
        var mask: LabelMask? = LabelMask(height: 7, width: 7, labels: (0..<49).map { $0 % 3 })
        let original = mask
        var blurred = spike
        GaussianBlur(kernelSize: 5, sigma: 0.5...1.5).apply(&blurred, mask: &mask, generator: &g)
        XCTAssertEqual(mask, original)
        XCTAssertEqual(blurred.pixels.reduce(0, +), 1, accuracy: 1e-5, "a spike away from the border keeps its mass")
        for (a, b) in [(23, 25), (17, 31), (10, 38), (16, 32)] { XCTAssertEqual(blurred.pixels[a], blurred.pixels[b], accuracy: 1e-7) }
        XCTAssertLessThan(blurred.pixels[24], 1)
        var none: LabelMask? = nil
        var same = spike
        GaussianBlur(kernelSize: (1, 1)).apply(&same, mask: &none, generator: &g)
        XCTAssertEqual(same, spike)
        var flat = FloatImage(channels: 2, height: 4, width: 6, pixels: [Float](repeating: 0.3, count: 48))
        GaussianBlur(kernelSize: (3, 5)).apply(&flat, mask: &none, generator: &g)
        assertClose(flat.pixels, [Float](repeating: 0.3, count: 48), rtol: 1e-6, atol: 1e-7)
    }

    /// Kernels reaching past a whole side (torch refuses them) mirror the image again: a 1-pixel row repeats
    /// its value, and a 2-pixel row [a, b] reads … b a b a b … so a 5-tap kernel centred on a sees b, a, b weighted.
    func testGaussianBlurWithAKernelLargerThanTheImage() {
        let single = FloatImage(channels: 1, height: 1, width: 1, pixels: [0.7])
        XCTAssertEqual(ImageOps.gaussianBlur(single, kernelSize: (9, 9), sigma: (2, 2)).pixels[0], 0.7, accuracy: 1e-6)
        let pair = FloatImage(channels: 1, height: 1, width: 2, pixels: [0, 1])
        let k = ImageOps.gaussianKernel(5, sigma: 1)
        let blurred = ImageOps.gaussianBlur(pair, kernelSize: (5, 1), sigma: (1, 1))
        // Taps at offsets −2…2 from pixel 0 read indices 2→0, 1, 0, 1, 2→0: values 0, 1, 0, 1, 0.
        XCTAssertEqual(blurred.pixels[0], k[1] + k[3], accuracy: 1e-6)
        XCTAssertEqual(blurred.pixels[1], k[0] + k[2] + k[4], accuracy: 1e-6)
    }

    // MARK: Elastic

    func testElasticGridSampleMatchesTorchvision() throws {
        let (tensors, _, image) = try fixture("blur")
        let field = try XCTUnwrap(tensors["elastic.displacement"])
        let (h, w) = (image.height, image.width)
        let dx = (0..<(h * w)).map { field.storage[2 * $0] }, dy = (0..<(h * w)).map { field.storage[2 * $0 + 1] }
        let grid = ImageOps.displacedGrid(height: h, width: w, dx: dx, dy: dy)
        for (mode, nearest) in [("nearest", true), ("bilinear", false)] {
            assertWarp(ImageOps.gridSample(image, grid: grid, interpolation: nearest ? .nearest : .bilinear),
                       equals: try XCTUnwrap(tensors["elastic.\(mode)"]), nearest: nearest, rtol: 1e-5, atol: 2e-6, "elastic \(mode)")
        }
    }

    /// Zero alpha is the identity grid; the mask follows the image; displacements grow with alpha and shrink
    /// with sigma.
    func testElasticTransformDisplacesImageAndMaskTogether() {
        let (h, w) = (16, 20)
        let image = FloatImage(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { Float($0 + 1) })
        let mask = LabelMask(height: h, width: w, labels: (0..<(h * w)).map { $0 + 1 })
        var g = SeededGenerator(seed: 15)
        var still = image
        var none: LabelMask? = nil
        ElasticTransform(alpha: 0, sigma: 3).apply(&still, mask: &none, generator: &g)
        assertClose(still.pixels, image.pixels, rtol: 1e-5, atol: 1e-4)
        let nearest = ElasticTransform(alpha: 30, sigma: 2, interpolation: .nearest)
        for _ in 0..<10 {
            var warped = image
            var warpedMask: LabelMask? = mask
            nearest.apply(&warped, mask: &warpedMask, generator: &g)
            XCTAssertEqual(warped.pixels, warpedMask!.labels.map(Float.init))
            XCTAssertNotEqual(warped, image)
        }
        /// Mean absolute displacement in pixels along x, and along y.
        func meanShift(_ transform: ElasticTransform) -> (x: Double, y: Double) {
            var (totalX, totalY) = (0.0, 0.0)
            let identity = ImageOps.displacedGrid(height: h, width: w, dx: [Float](repeating: 0, count: h * w),
                                                  dy: [Float](repeating: 0, count: h * w))
            for _ in 0..<20 {
                let grid = transform.draw(height: h, width: w, generator: &g)
                totalX += zip(grid.x, identity.x).map { Double(abs($0 - $1)) * Double(w) / 2 }.reduce(0, +) / Double(h * w)
                totalY += zip(grid.y, identity.y).map { Double(abs($0 - $1)) * Double(h) / 2 }.reduce(0, +) / Double(h * w)
            }
            return (totalX / 20, totalY / 20)
        }
        // Unsmoothed, |U(−1, 1)|·alpha/4 pixels on average along each axis (alpha over the width for x, the height for y).
        let shifts = meanShift(ElasticTransform(alpha: (10, 20), sigma: (0, 0)))
        XCTAssertEqual(shifts.x, 2.5, accuracy: 0.3)
        XCTAssertEqual(shifts.y, 5, accuracy: 0.5)
        let small = meanShift(ElasticTransform(alpha: 10, sigma: 0)).x, large = meanShift(ElasticTransform(alpha: 40, sigma: 0)).x
        XCTAssertEqual(large / small, 4, accuracy: 0.5)
        XCTAssertLessThan(meanShift(ElasticTransform(alpha: 10, sigma: 3)).x, small / 2, "smoothing averages the noise away")
        // A huge sigma is capped (no kernel beyond twice the image), not a trap or an exhausted memory.
        XCTAssertEqual(ElasticTransform(alpha: 10, sigma: 1e12).draw(height: 3, width: 4, generator: &g).x.count, 12)
    }

    // MARK: Perspective

    func testPerspectiveMatchesTorchvision() throws {
        let (tensors, cases, image) = try fixture("perspective")
        XCTAssertEqual(cases.count, 4)
        for entry in cases {
            let name = entry[0] as! String
            let points = { (value: Any) in (value as! [[NSNumber]]).map { ($0[0].doubleValue, $0[1].doubleValue) } }
            let coefficients = try XCTUnwrap(ImageOps.perspectiveCoefficients(from: points(entry[1]), to: points(entry[2])))
            let grid = ImageOps.perspectiveGrid(height: image.height, width: image.width, coefficients: coefficients)
            let nearest = entry[3] as! String == "nearest"
            assertWarp(ImageOps.gridSample(image, grid: grid, interpolation: nearest ? .nearest : .bilinear),
                       equals: try XCTUnwrap(tensors[name]), nearest: nearest, rtol: 1e-4, atol: 1e-5, name)
        }
    }

    /// Corners move inwards within the distortion bound; the mask follows the image; p = 0 and a zero
    /// distortion leave the image as it is; collinear points have no perspective map.
    func testRandomPerspective() {
        var g = SeededGenerator(seed: 16)
        let augment = RandomPerspective(distortionScale: 0.5, p: 1, interpolation: .nearest)
        for _ in 0..<50 {
            let (start, end) = augment.corners(height: 20, width: 30, generator: &g)
            XCTAssertEqual(start.map(\.0), [0, 29, 29, 0])
            for (k, (x, y)) in end.enumerated() {
                XCTAssertTrue(k == 0 || k == 3 ? (0...7).contains(x) : (22...29).contains(x), "corner \(k) x \(x)")
                XCTAssertTrue(k < 2 ? (0...5).contains(y) : (14...19).contains(y), "corner \(k) y \(y)")
            }
        }
        let (h, w) = (12, 15)
        let image = FloatImage(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { Float($0 + 1) })
        let mask = LabelMask(height: h, width: w, labels: (0..<(h * w)).map { $0 + 1 })
        for _ in 0..<10 {
            var warped = image
            var warpedMask: LabelMask? = mask
            augment.apply(&warped, mask: &warpedMask, generator: &g)
            XCTAssertEqual(warped.pixels, warpedMask!.labels.map(Float.init))
        }
        var none: LabelMask? = nil
        var same = image
        RandomPerspective(p: 0).apply(&same, mask: &none, generator: &g)
        RandomPerspective(distortionScale: 0, p: 1, interpolation: .nearest).apply(&same, mask: &none, generator: &g)
        XCTAssertEqual(same, image)
        XCTAssertNil(ImageOps.perspectiveCoefficients(from: [(0, 0), (1, 0), (2, 0), (0, 1)], to: [(0, 0), (1, 0), (2, 0), (3, 0)]))
    }
}
