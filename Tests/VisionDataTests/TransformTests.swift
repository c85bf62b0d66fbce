import TestSupport
import VisionCore
import VisionData
import XCTest

/// A `[C, H, W]` image of uniform values in [0, 1).
func randomImage(channels: Int, height: Int, width: Int, seed: UInt64) -> FloatImage {
    var generator = SeededGenerator(seed: seed)
    return FloatImage(channels: channels, height: height, width: width,
                      pixels: (0..<(channels * height * width)).map { _ in generator.nextUniform() })
}

final class TransformTests: XCTestCase {
    func testFlippingTwiceIsIdentityForImageAndMask() {
        let image = randomImage(channels: 3, height: 5, width: 7, seed: 1)
        let mask = LabelMask(height: 5, width: 7, labels: Array(0..<35))
        var generator = SeededGenerator(seed: 2)
        for flip in [RandomHorizontalFlip(p: 1) as any Transform, RandomVerticalFlip(p: 1)] {
            let once = flip(image, mask: mask, generator: &generator)
            XCTAssertNotEqual(once.image, image)
            let twice = flip(once.image, mask: once.mask, generator: &generator)
            XCTAssertEqual(twice.image, image)
            XCTAssertEqual(twice.mask, mask)
        }
        var flipped = FloatImage(channels: 1, height: 2, width: 3, pixels: [1, 2, 3, 4, 5, 6])
        ImageOps.flipHorizontal(&flipped)
        XCTAssertEqual(flipped.pixels, [3, 2, 1, 6, 5, 4])
        ImageOps.flipVertical(&flipped)
        XCTAssertEqual(flipped.pixels, [6, 5, 4, 3, 2, 1])
        // p = 0 never flips.
        XCTAssertEqual(RandomHorizontalFlip(p: 0)(image, generator: &generator), image)
    }

    func testCropWithReflectAndZeroPaddingByHand() {
        let image = FloatImage(channels: 1, height: 2, width: 3, pixels: [1, 2, 3, 4, 5, 6])
        // Rows −1…2 and columns −2…2 of the 2×3 image.
        let reflect = ImageOps.crop(image, top: -1, left: -2, height: 4, width: 5, padding: .reflect)
        XCTAssertEqual(reflect.pixels, [6, 5, 4, 5, 6,
                                        3, 2, 1, 2, 3,
                                        6, 5, 4, 5, 6,
                                        3, 2, 1, 2, 3])
        let zero = ImageOps.crop(image, top: -1, left: -2, height: 4, width: 5, padding: .zero)
        XCTAssertEqual(zero.pixels, [0, 0, 0, 0, 0,
                                     0, 0, 1, 2, 3,
                                     0, 0, 4, 5, 6,
                                     0, 0, 0, 0, 0])
        let replicate = ImageOps.crop(image, top: 1, left: 1, height: 2, width: 3, padding: .replicate)
        XCTAssertEqual(replicate.pixels, [5, 6, 6, 5, 6, 6])
        let mask = LabelMask(height: 2, width: 3, labels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(ImageOps.crop(mask, top: 1, left: 2, height: 2, width: 2, padding: .zero, fill: -1).labels,
                       [6, -1, -1, -1])
    }

    func testRandomCropIsAPaddedWindowOfTheImage() {
        let image = randomImage(channels: 3, height: 8, width: 8, seed: 3)
        for mode in [PaddingMode.zero, .reflect] {
            var generator = SeededGenerator(seed: 4)
            for _ in 0..<10 {
                let out = RandomCrop(size: 8, padding: 2, paddingMode: mode)(image, generator: &generator)
                XCTAssertEqual(out.size.0, 8)
                let matches = (-2...2).flatMap { top in (-2...2).map { (top, $0) } }.filter { top, left in
                    ImageOps.crop(image, top: top, left: left, height: 8, width: 8, padding: mode) == out
                }
                XCTAssertEqual(matches.count, 1, "crop must equal exactly one padded window")
            }
        }
    }

    /// torchvision's `pad_if_needed`: an image smaller than the crop lands somewhere inside the window,
    /// the rest is padding (the mask's padding is `maskFill`); an image that fits crops as before.
    func testRandomCropPadsAnImageSmallerThanTheCropIfAsked() {
        let image = randomImage(channels: 2, height: 3, width: 5, seed: 6)
        let mask = LabelMask(height: 3, width: 5, labels: Array(0..<15))
        var generator = SeededGenerator(seed: 7)
        var placements = Set<[Int]>()
        for _ in 0..<40 {
            var out = image
            var outMask: LabelMask? = mask
            RandomCrop(size: (6, 4), padIfNeeded: true, maskFill: LabelMask.ignored).apply(&out, mask: &outMask, generator: &generator)
            XCTAssertEqual([out.height, out.width], [6, 4])
            let matches = (-3...0).flatMap { top in (0...1).map { [top, $0] } }.filter { p in
                ImageOps.crop(image, top: p[0], left: p[1], height: 6, width: 4) == out
                    && ImageOps.crop(mask, top: p[0], left: p[1], height: 6, width: 4, fill: LabelMask.ignored) == outMask
            }
            XCTAssertEqual(matches.count, 1, "one window: rows 3 short (image inside), columns 1 too many (window inside)")
            placements.formUnion(matches)
            XCTAssertEqual(outMask?.labels.filter { $0 == LabelMask.ignored }.count, 3 * 4, "the padded rows carry no label")
        }
        XCTAssertEqual(placements.count, 8, "every placement occurs: \(placements.sorted { $0.lexicographicallyPrecedes($1) })")
        // An image that fits draws the same windows with or without the option.
        var a = SeededGenerator(seed: 8), b = SeededGenerator(seed: 8)
        for _ in 0..<5 {
            XCTAssertEqual(RandomCrop(size: 2)(image, generator: &a), RandomCrop(size: 2, padIfNeeded: true)(image, generator: &b))
        }
    }

    func testRotationBy90EqualsQuarterTurns() {
        let square = FloatImage(channels: 1, height: 2, width: 2, pixels: [1, 2, 3, 4])
        XCTAssertEqual(ImageOps.rotate90(square, quarterTurns: 1).pixels, [2, 4, 1, 3])  // torch.rot90
        let wide = FloatImage(channels: 1, height: 2, width: 3, pixels: [1, 2, 3, 4, 5, 6])
        let turned = ImageOps.rotate90(wide, quarterTurns: 1)
        XCTAssertEqual([turned.height, turned.width], [3, 2])
        XCTAssertEqual(turned.pixels, [3, 6, 2, 5, 1, 4])
        XCTAssertEqual(ImageOps.rotate90(wide, quarterTurns: -1), ImageOps.rotate90(wide, quarterTurns: 3))

        let image = randomImage(channels: 3, height: 6, width: 6, seed: 5)
        let mask = LabelMask(height: 6, width: 6, labels: Array(0..<36))
        for turns in 1...3 {
            let degrees = Double(90 * turns)
            assertClose(ImageOps.rotate(image, degrees: degrees).pixels,
                        ImageOps.rotate90(image, quarterTurns: turns).pixels, "bilinear \(degrees)°")
            XCTAssertEqual(ImageOps.rotate(mask, degrees: degrees), ImageOps.rotate90(mask, quarterTurns: turns))
            var generator = SeededGenerator(seed: 6)
            let random = RandomRotation(degrees: degrees...degrees)(image, mask: mask, generator: &generator)
            var quarterGenerator = SeededGenerator(seed: 6)
            let quarter = RandomRotation90(quarterTurns: [turns])(image, mask: mask, generator: &quarterGenerator)
            assertClose(random.image.pixels, quarter.image.pixels)
            XCTAssertEqual(random.mask, quarter.mask)
        }
    }

    /// Masks rotated as torchvision.transforms.v2.functional.rotate(Mask(arange(h·w).reshape(1, h, w)), degrees,
    /// fill=-1) rotates them (torchvision 0.29.2): the same pixel wherever the source position is not exactly
    /// half-way between two pixels. At those ties torchvision's float32 grid lands a rounding error to either
    /// side (in a quarter turn of a 10×13 mask every position is one, and it repeats and skips columns);
    /// here they round half to even, as in TrivialAugment.
    func testMaskRotationMatchesTorchvision() {
        let cases: [(h: Int, w: Int, degrees: Double, expected: [Int])] = [
            (10, 13, 90, [-1, 10, 10, 23, 36, 62, 62, 88, 88, 114, 114, -1, -1, -1, 10, 10, 23, 36, 62, 62, 88, 88, 114, 114, -1, -1, -1, 8, 8, 21, 34, 60, 60, 86, 86, 112, 112, -1, -1, -1, 8, 8, 21, 34, 60, 60, 86, 86, 112, 112, -1, -1, -1, 7, 7, 20, 33, 59, 59, 85, 85, 111, 111, -1, -1, -1, 6, 6, 19, 32, 58, 58, 84, 84, 110, 110, -1, -1, -1, 4, 4, 17, 30, 56, 56, 82, 82, 108, 108, -1, -1, -1, 3, 3, 16, 29, 55, 55, 81, 81, 107, 107, -1, -1, -1, 2, 2, 15, 28, 54, 54, 80, 80, 106, 106, -1, -1, -1, 1, 1, 14, 27, 53, 53, 79, 79, 105, 105, -1, -1]),
            (7, 7, 30, [-1, -1, 4, 4, 12, 13, -1, 1, 2, 10, 11, 19, 20, -1, 8, 9, 17, 18, 25, 26, 34, 7, 15, 16, 24, 32, 33, 34, 14, 22, 23, 30, 31, 39, 40, -1, 28, 29, 37, 38, 46, 47, -1, 35, 36, 43, 44, -1, -1]),
            (6, 9, 15, [-1, -1, 3, 4, 5, 6, 16, 17, -1, 1, 1, 11, 12, 13, 14, 24, 25, 26, 9, 10, 11, 21, 22, 23, 33, 34, 35, 18, 19, 20, 30, 31, 32, 42, 43, 44, 27, 28, 29, 39, 40, 41, 42, 52, 52, -1, 36, 37, 47, 48, 49, 50, -1, -1]),
        ]
        for c in cases {
            let mask = LabelMask(height: c.h, width: c.w, labels: Array(0..<(c.h * c.w)))
            let rotated = ImageOps.rotate(mask, degrees: c.degrees, fill: -1).labels
            let radians = c.degrees * .pi / 180
            var ties = 0
            for y in 0..<c.h {
                for x in 0..<c.w where rotated[y * c.w + x] != c.expected[y * c.w + x] {
                    let (dx, dy) = (Double(x) - Double(c.w - 1) / 2, Double(y) - Double(c.h - 1) / 2)
                    let source = [dx * cos(radians) - dy * sin(radians) + Double(c.w - 1) / 2,
                                  dx * sin(radians) + dy * cos(radians) + Double(c.h - 1) / 2]
                    let isTie = source.contains { abs($0 - $0.rounded(.down) - 0.5) < 1e-9 }
                    XCTAssertTrue(isTie, "\(c.h)×\(c.w) at \(c.degrees)°, pixel (\(y), \(x)): \(rotated[y * c.w + x]) vs torchvision's \(c.expected[y * c.w + x]) at source \(source)")
                    ties += isTie ? 1 : 0
                }
            }
            XCTAssertLessThanOrEqual(ties, c.degrees == 90 ? c.h * c.w : 2, "\(c.h)×\(c.w) at \(c.degrees)°")
        }
        // The ties by hand: a quarter turn of [[0, 1, 2], [3, 4, 5]] samples x = 1.5 − y, y = x − 0.5, every one a
        // tie; half to even gives columns 2, 0 and rows 0, 0, (2: outside). Rounding away from zero would give
        // [-1, 5, -1, -1, 4, -1].
        XCTAssertEqual(ImageOps.rotate(LabelMask(height: 2, width: 3, labels: Array(0..<6)), degrees: 90, fill: -1).labels,
                       [2, 2, -1, 0, 0, -1])
    }

    func testRotationFillsOutsideWithFillValue() {
        let image = FloatImage(channels: 2, height: 9, width: 9, value: 0.5)
        let rotated = ImageOps.rotate(image, degrees: 45, fill: [1, 0])
        // Corner (0, 0) samples x = 4, y = 4 − 4√2: all four neighbours lie above the image. The centre stays.
        XCTAssertEqual(rotated[0, 0, 0], 1)
        XCTAssertEqual(rotated[1, 0, 0], 0)
        XCTAssertEqual(rotated[0, 4, 4], 0.5, accuracy: 1e-6)
        // Row 0, column 4 samples x = 4 + 2√2, y = 4 − 2√2 (inside), so no fill leaks in.
        XCTAssertEqual(rotated[0, 0, 4], 0.5, accuracy: 1e-6)
        XCTAssertEqual(ImageOps.rotate(LabelMask(height: 9, width: 9, value: 3), degrees: 45, fill: 9)[0, 0], 9)
    }

    func testNormalizeValues() {
        var image = FloatImage(channels: 2, height: 1, width: 2, pixels: [0, 1, 0.5, 0.75])
        var mask: LabelMask? = nil
        var generator = SeededGenerator(seed: 0)
        Normalize(mean: [0.5, 0.25], std: [0.5, 0.25]).apply(&image, mask: &mask, generator: &generator)
        assertClose(image.pixels, [-1, 1, 1, 2])
    }

    func testColorJitterWithUnitFactorsAndZeroHueIsIdentity() {
        let image = randomImage(channels: 3, height: 6, width: 5, seed: 7)
        var generator = SeededGenerator(seed: 8)
        let jitter = ColorJitter(brightnessRange: 1...1, contrastRange: 1...1, saturationRange: 1...1, hueRange: 0...0)
        assertClose(jitter(image, generator: &generator).pixels, image.pixels, atol: 2e-6)
        XCTAssertEqual(ColorJitter()(image, generator: &generator), image)
    }

    func testColorAdjustmentsByHand() {
        let pixel = FloatImage(channels: 3, height: 1, width: 2, pixels: [1, 0.2, 0, 0.4, 0, 0.6])
        var brighter = pixel
        ColorOps.adjustBrightness(&brighter, factor: 1.5)
        assertClose(brighter.pixels, [1, 0.3, 0, 0.6, 0, 0.9])
        var flat = pixel
        ColorOps.adjustContrast(&flat, factor: 0)
        let gray0 = 0.2989 * 1 + 0.587 * 0 + 0.114 * 0 as Float
        let gray1 = 0.2989 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6 as Float
        assertClose(flat.pixels, [Float](repeating: (gray0 + gray1) / 2, count: 6))
        var desaturated = pixel
        ColorOps.adjustSaturation(&desaturated, factor: 0)
        assertClose(desaturated.pixels, [gray0, gray1, gray0, gray1, gray0, gray1])
        // Pure red shifted by a third of a turn is pure green.
        var red = FloatImage(channels: 3, height: 1, width: 1, pixels: [1, 0, 0])
        ColorOps.adjustHue(&red, shift: 1.0 / 3)
        assertClose(red.pixels, [0, 1, 0], atol: 1e-5)
        let (h, s, v) = ColorOps.rgbToHSV(0.2, 0.4, 0.6)
        let back = ColorOps.hsvToRGB(h, s, v)
        assertClose([back.0, back.1, back.2], [0.2, 0.4, 0.6])
    }

    func testGaussianNoiseIsClippedToUnitRange() {
        let image = FloatImage(channels: 1, height: 10, width: 10,
                               pixels: (0..<100).map { $0 % 2 == 0 ? 0 : 1 })
        var generator = SeededGenerator(seed: 9)
        let noisy = GaussianNoise(std: 0.5)(image, generator: &generator)
        XCTAssertTrue(noisy.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertTrue(noisy.pixels.contains { $0 > 0 && $0 < 1 }, "noise moved some values inside the range")
        let unclipped = GaussianNoise(std: 0.5, clip: false)(image, generator: &generator)
        XCTAssertTrue(unclipped.pixels.contains { $0 < 0 || $0 > 1 })
    }

    func testResizeBilinearAndAntialiasedByHand() {
        let ramp = FloatImage(channels: 1, height: 1, width: 2, pixels: [0, 1])
        assertClose(ImageOps.resize(ramp, to: (1, 4)).pixels, [0, 0.25, 0.75, 1])
        let four = FloatImage(channels: 1, height: 1, width: 4, pixels: [0, 1, 2, 3])
        assertClose(ImageOps.resize(four, to: (1, 2), antialias: false).pixels, [0.5, 2.5])
        // Triangle filter of half-width 2: weights (0.75, 0.75, 0.25) / 1.75 around centre 1.
        assertClose(ImageOps.resize(four, to: (1, 2)).pixels, [1.25 / 1.75, 3 - 1.25 / 1.75], rtol: 1e-5)
        XCTAssertEqual(ImageOps.resize(four, to: (1, 2), interpolation: .nearest).pixels, [1, 3])
        var generator = SeededGenerator(seed: 0)
        let resized = Resize(shorterSide: 4)(randomImage(channels: 3, height: 8, width: 12, seed: 1), generator: &generator)
        XCTAssertEqual([resized.channels, resized.height, resized.width], [3, 4, 6])
    }

    func testCenterCropMatchesTorchvisionRounding() {
        let image = FloatImage(channels: 1, height: 1, width: 5, pixels: [0, 1, 2, 3, 4])
        var generator = SeededGenerator(seed: 0)
        XCTAssertEqual(CenterCrop(size: (1, 2))(image, generator: &generator).pixels, [2, 3])  // round(1.5) = 2
        XCTAssertEqual(CenterCrop(size: (1, 3))(image, generator: &generator).pixels, [1, 2, 3])
        XCTAssertEqual(CenterCrop(size: (1, 7))(image, generator: &generator).pixels, [0, 0, 1, 2, 3, 4, 0])
    }

    func testRandomResizedCropRegionsAndFallback() {
        let crop = RandomResizedCrop(size: 8)
        var generator = SeededGenerator(seed: 10)
        for _ in 0..<200 {
            let (top, left, h, w) = crop.cropRegion(height: 20, width: 30, generator: &generator)
            XCTAssertTrue(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= 20 && left + w <= 30)
        }
        // An impossible scale falls back to the central crop clamped to the ratio range.
        let impossible = RandomResizedCrop(size: (8, 8), scale: (2, 3))
        let region = impossible.cropRegion(height: 10, width: 40, generator: &generator)
        XCTAssertEqual([region.0, region.1, region.2, region.3], [0, 13, 10, 13])
        let out = crop(randomImage(channels: 3, height: 20, width: 30, seed: 11), generator: &generator)
        XCTAssertEqual([out.channels, out.height, out.width], [3, 8, 8])
    }

    func testRandomErasingFillsOneRectangle() {
        let image = FloatImage(channels: 2, height: 20, width: 20, value: 1)
        var generator = SeededGenerator(seed: 12)
        for _ in 0..<20 {
            let erased = RandomErasing(p: 1)(image, generator: &generator)
            let zeros = (0..<400).filter { erased.pixels[$0] == 0 }
            XCTAssertFalse(zeros.isEmpty)
            let rows = Set(zeros.map { $0 / 20 }), columns = Set(zeros.map { $0 % 20 })
            XCTAssertEqual(zeros.count, rows.count * columns.count, "erased region is a rectangle")
            XCTAssertEqual(erased.pixels[400...].filter { $0 == 0 }.count, zeros.count, "every channel erased")
            XCTAssertLessThanOrEqual(Double(zeros.count) / 400, 0.33 * 1.2)
        }
        XCTAssertEqual(RandomErasing(p: 0)(image, generator: &generator), image)
    }

    func testToGrayUsesLumaWeights() {
        let image = FloatImage(channels: 3, height: 1, width: 1, pixels: [1, 0.5, 0.25])
        var generator = SeededGenerator(seed: 0)
        let gray = ToGray(outputChannels: 3)(image, generator: &generator)
        let luma: Float = 0.2989 + 0.587 * 0.5 + 0.114 * 0.25
        assertClose(gray.pixels, [luma, luma, luma])
    }

    /// The mask is the index of each pixel; exact geometric transforms must keep `mask = index(image)`.
    func testJointExactTransformsKeepImageAndMaskAligned() {
        let (h, w) = (9, 12)
        let image = FloatImage(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { Float($0 + 1) })
        let mask = LabelMask(height: h, width: w, labels: Array(1...(h * w)))
        let pipeline = Compose([
            RandomHorizontalFlip(), RandomVerticalFlip(), RandomRotation90(),
            RandomCrop(size: (8, 8), padding: 3, paddingMode: .reflect),
            RandomCrop(size: (7, 7), padding: 2, paddingMode: .zero, maskFill: 0),
            ColorJitter(brightness: 0),
        ])
        for seed in 0..<30 {
            var generator = SeededGenerator(seed: UInt64(seed))
            let out = pipeline(image, mask: mask, generator: &generator)
            XCTAssertEqual(out.mask.labels, out.image.pixels.map { Int($0) }, "seed \(seed)")
        }
    }

    /// The mask is a threshold of a blocky image; after resampling transforms it must still agree with
    /// the image wherever the image is clearly on one side.
    func testJointResamplingTransformsKeepImageAndMaskAligned() {
        let (h, w) = (32, 32)
        let values: [Float] = (0..<(h * w)).map { ((($0 / w) / 8) + (($0 % w) / 8)) % 2 == 0 ? 0 : 1 }
        let image = FloatImage(channels: 1, height: h, width: w, pixels: values)
        let mask = LabelMask(height: h, width: w, labels: values.map { Int($0) })
        let pipeline = Compose([
            RandomRotation(degrees: 40, fill: [0], maskFill: 0),
            RandomResizedCrop(size: (24, 24), scale: (0.3, 1)),
            ColorJitter(brightness: 0.3, contrast: 0.3),
        ])
        for seed in 0..<10 {
            var generator = SeededGenerator(seed: UInt64(seed))
            let out = pipeline(image, mask: mask, generator: &generator)
            XCTAssertEqual(out.mask.height, 24)
            // Brightness/contrast move levels, so compare with the image's own midpoint.
            let low = out.image.pixels.min()!, high = out.image.pixels.max()!
            var disagreements = 0, decided = 0
            for i in 0..<out.image.pixels.count {
                let t = (out.image.pixels[i] - low) / max(high - low, 1e-6)
                guard t < 0.1 || t > 0.9 else { continue }
                decided += 1
                if (t > 0.5 ? 1 : 0) != out.mask.labels[i] { disagreements += 1 }
            }
            XCTAssertGreaterThan(decided, 200)
            XCTAssertLessThanOrEqual(disagreements, decided / 50, "seed \(seed)")
        }
    }

    // MARK: Golden values from torchvision

    /// `((i·7) mod 11) / 10` at flat index i. The golden scripts build the same image with
    /// `img = torch.tensor([((i*7)%11)/10 for i in range(c*h*w)]).reshape(c, h, w)` (float32), and use
    /// `F = torchvision.transforms.v2.functional`, `IM = torchvision.transforms.InterpolationMode` (torchvision 0.29).
    private func patternImage(channels: Int, height: Int, width: Int) -> FloatImage {
        FloatImage(channels: channels, height: height, width: width,
                   pixels: (0..<(channels * height * width)).map { Float(($0 * 7) % 11) / 10 })
    }

    /// Every pixel of 30° and 45° bilinear rotations. torchvision's zero-padded sampling (`fill=None`) is
    /// exactly the documented "each outside neighbour contributes fill × its weight" with fill 0, and with a
    /// fill f it is f + (rotation of img − f with zero padding). (torchvision's explicit-`fill` path instead
    /// returns mask·sample + (1 − mask)·fill, which differs at the border by up to 0.23 here.)
    func testRotateAtNonRightAnglesMatchesTorchvision() {
        let square = patternImage(channels: 1, height: 5, width: 5)
        // F.rotate(img, 30, interpolation=IM.BILINEAR, fill=None) for img of shape (1, 5, 5)
        assertClose(ImageOps.rotate(square, degrees: 30).pixels, [
            0.15884578, 0.30240473, 0.7588457, 0.6940054, 0.22871904,
            0.56435937, 0.5732051, 0.32679492, 0.48301256, 0.675352,
            0.38756445, 0.47009617, 0.7, 0.45358983, 0.20717964,
            0.28660256, 0.21961518, 0.5232051, 0.5715391, 0.58038485,
            0.14641021, 0.5928203, 0.34641019, 0.041154254, 0.13730691,
        ], rtol: 0, atol: 2e-6, "5×5 at 30°, fill 0")
        // F.rotate(img - 1, 30, interpolation=IM.BILINEAR, fill=None) + 1
        assertClose(ImageOps.rotate(square, degrees: 30, fill: [1]).pixels, [
            0.8908965, 0.53445554, 0.7588457, 0.6940055, 0.9607695,
            0.5643594, 0.5732051, 0.32679492, 0.48301256, 0.90740293,
            0.38756448, 0.47009617, 0.7, 0.4535898, 0.20717967,
            0.51865333, 0.21961516, 0.52320504, 0.5715391, 0.58038485,
            0.87846094, 0.5928203, 0.34641016, 0.27320516, 0.86935735,
        ], rtol: 0, atol: 2e-6, "5×5 at 30°, fill 1")

        let wide = patternImage(channels: 2, height: 4, width: 6)
        // F.rotate(img, 45, interpolation=IM.BILINEAR, fill=None) for img of shape (2, 4, 6)
        assertClose(ImageOps.rotate(wide, degrees: 45).pixels, [
            0.0, 0.24614184, 0.9, 0.47573587, 0.3931981, 0.57659835,
            0.25208157, 0.36568543, 0.49142137, 0.6171573, 0.19289322, 0.45208174,
            0.30654943, 0.50710684, 0.51893395, 0.7585786, 0.33431455, 0.012994221,
            0.47923708, 0.64852816, 0.31862915, 0.6721825, 0.22720785, 0.0,
            0.0, 0.1514719, 0.32781747, 0.6813709, 0.3514717, 0.19233598,
            0.3656855, 0.6656854, 0.24142137, 0.48106602, 0.49289322, 0.6934508,
            0.54791844, 0.80710685, 0.38284275, 0.50857866, 0.63431454, 0.12659815,
            0.09497478, 0.6068019, 0.52426416, 0.1, 0.13253792, 0.0,
        ], rtol: 0, atol: 2e-6, "2×4×6 at 45°, fill 0")
        // fv = torch.tensor([1.0, 0.25]).view(2, 1, 1); F.rotate(img - fv, 45, interpolation=IM.BILINEAR, fill=None) + fv
        assertClose(ImageOps.rotate(wide, degrees: 45, fill: [1, 0.25]).pixels, [
            1.0, 0.8674621, 0.9, 0.47573584, 0.39319807, 0.9050252,
            0.8734018, 0.36568546, 0.4914214, 0.6171573, 0.19289327, 0.4520818,
            0.30654943, 0.5071068, 0.518934, 0.75857866, 0.33431453, 0.6343144,
            0.80766404, 0.6485281, 0.31862915, 0.6721825, 0.8485281, 1.0,
            0.25, 0.30680197, 0.3278175, 0.6813709, 0.35147172, 0.27444267,
            0.5210155, 0.6656854, 0.24142137, 0.48106602, 0.49289322, 0.6934508,
            0.5479185, 0.8071068, 0.38284272, 0.50857866, 0.63431454, 0.2819282,
            0.17708153, 0.606802, 0.5242641, 0.099999994, 0.28786796, 0.25,
        ], rtol: 0, atol: 2e-6, "2×4×6 at 45°, per-channel fill")
    }

    /// Antialiased bilinear downscaling at non-integer ratios 7 → 3 and 5 → 3.
    func testAntialiasedResizeAtNonIntegerRatiosMatchesTorchvision() {
        // By hand, 7 → 3 along a column 0…6 (scale s = 7/3, triangle weights 1 − |j + ½ − centre|/s, normalised):
        // row 0: centre 7/6, taps j = 0, 1, 2 weigh 5/7, 6/7, 3/7 → (0·5 + 1·6 + 2·3)/14 = 6/7;
        // row 1: centre 7/2, taps j = 1…5 weigh (1, 4, 7, 4, 1)/7 → (1 + 8 + 21 + 16 + 5)/17 = 3;
        // row 2: the mirror of row 0, 6 − 6/7.
        let column = FloatImage(channels: 1, height: 7, width: 1, pixels: [0, 1, 2, 3, 4, 5, 6])
        assertClose(ImageOps.resize(column, to: (3, 1)).pixels, [6.0 / 7, 3, 6 - 6.0 / 7], rtol: 1e-6, atol: 1e-6,
                    "7 → 3 by hand")
        // F.resize(img, [3, 3], interpolation=IM.BILINEAR, antialias=True) for img of shape (1, 7, 5)
        assertClose(ImageOps.resize(patternImage(channels: 1, height: 7, width: 5), to: (3, 3)).pixels, [
            0.37040812, 0.5063492, 0.63979584,
            0.45630258, 0.4901961, 0.45630255,
            0.63265306, 0.3857143, 0.53163266,
        ], rtol: 0, atol: 1e-6, "(1, 7, 5) → (3, 3)")
        // F.resize(img, [3, 3], interpolation=IM.BILINEAR, antialias=True) for img of shape (2, 5, 7)
        assertClose(ImageOps.resize(patternImage(channels: 2, height: 5, width: 7), to: (3, 3)).pixels, [
            0.37653062, 0.5579832, 0.48061225,
            0.51746035, 0.53333336, 0.45317462,
            0.44387752, 0.5117647, 0.42448983,
            0.5755102, 0.48823532, 0.5561225,
            0.54682535, 0.4666667, 0.48253968,
            0.5193877, 0.44201687, 0.62346935,
        ], rtol: 0, atol: 1e-6, "(2, 5, 7) → (3, 3)")
    }

    /// One pixel in each hue sector (R ≥ G ≥ B, G ≥ R ≥ B, G ≥ B ≥ R, B ≥ G ≥ R, B ≥ R ≥ G, R ≥ B ≥ G) plus a
    /// gray pixel, against `F.adjust_hue(img, shift)` for
    /// `img = torch.tensor([(0.9, 0.5, 0.2), (0.6, 0.8, 0.1), (0.2, 0.7, 0.4), (0.1, 0.5, 0.9), (0.5, 0.3, 0.8),
    /// (0.7, 0.1, 0.4), (0.5, 0.5, 0.5)]).T.reshape(3, 1, 7)`. The shifts wrap hue past 1 and below 0.
    func testAdjustHueInEverySectorMatchesTorchvision() {
        let image = FloatImage(channels: 3, height: 1, width: 7, pixels: [
            0.9, 0.6, 0.2, 0.1, 0.5, 0.7, 0.5,  // R
            0.5, 0.8, 0.7, 0.5, 0.3, 0.1, 0.5,  // G
            0.2, 0.1, 0.4, 0.9, 0.8, 0.4, 0.5,  // B
        ])
        let cases: [(Float, [Float])] = [
            // F.adjust_hue(img, 0.1)
            (0.1, [0.8800002, 0.18000002, 0.19999999, 0.18000035, 0.8, 0.7, 0.5,
                   0.9, 0.8, 0.69999963, 0.100000046, 0.3, 0.15999997, 0.5,
                   0.19999999, 0.1, 0.7, 0.9, 0.8, 0.10000003, 0.5]),
            // F.adjust_hue(img, -0.2)
            (-0.2, [0.9, 0.8, 0.5999997, 0.100000046, 0.3, 0.28000012, 0.5,
                    0.19999999, 0.16000007, 0.7, 0.9, 0.69999987, 0.10000003, 0.5,
                    0.74, 0.1, 0.19999999, 0.34000018, 0.8, 0.7, 0.5]),
            // F.adjust_hue(img, 0.5)
            (0.5, [0.19999999, 0.29999992, 0.7, 0.9, 0.59999996, 0.10000003, 0.5,
                   0.6000001, 0.1, 0.19999999, 0.50000024, 0.8, 0.7, 0.5,
                   0.9, 0.8, 0.49999967, 0.100000046, 0.3, 0.4000003, 0.5]),
        ]
        for (shift, expected) in cases {
            var shifted = image
            ColorOps.adjustHue(&shifted, shift: shift)
            assertClose(shifted.pixels, expected, rtol: 0, atol: 3e-6, "hue shift \(shift)")
        }
    }

    /// With no clipping the added noise is N(0, σ²): over n = 65 536 values the sample mean has standard
    /// error σ/256 and the sample std ≈ σ/√(2n) ≈ 0.28 % of σ; a normal puts 68.27 % of its mass within 1σ
    /// (standard error √(0.6827·0.3173/n) ≈ 0.0018).
    func testGaussianNoiseHasTheRequestedMeanAndStd() {
        let image = FloatImage(channels: 1, height: 256, width: 256, value: 0.5)
        var generator = SeededGenerator(seed: 21)
        for sigma in [0.1, 0.5] {
            let noisy = GaussianNoise(std: Float(sigma), clip: false)(image, generator: &generator)
            let noise = noisy.pixels.map { Double($0) - 0.5 }
            let n = Double(noise.count)
            let mean = noise.reduce(0, +) / n
            let variance = noise.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
            XCTAssertEqual(mean, 0, accuracy: 5 * sigma / 256, "σ = \(sigma)")
            XCTAssertEqual(variance.squareRoot(), sigma, accuracy: 0.02 * sigma, "σ = \(sigma)")
            let withinOneSigma = Double(noise.filter { abs($0) <= sigma }.count) / n
            XCTAssertEqual(withinOneSigma, 0.6827, accuracy: 0.01, "σ = \(sigma)")
        }
    }

    // MARK: Random wrappers

    func testRandomGrayscaleAlwaysNeverAndAtRateP() {
        // Pixels (0.2, 0.4, 0.6) and (1, 0, 0.5); torchvision's rgb_to_grayscale weights (0.2989, 0.587, 0.114):
        // 0.2989·0.2 + 0.587·0.4 + 0.114·0.6 = 0.05978 + 0.2348 + 0.0684 = 0.36298,
        // 0.2989·1 + 0 + 0.114·0.5 = 0.3559 (F.rgb_to_grayscale(img, 3) gives 0.36298, 0.3559 too).
        let image = FloatImage(channels: 3, height: 1, width: 2, pixels: [0.2, 1, 0.4, 0, 0.6, 0.5])
        var generator = SeededGenerator(seed: 13)
        let gray = RandomGrayscale(p: 1)(image, generator: &generator)
        XCTAssertEqual([gray.channels, gray.height, gray.width], [3, 1, 2], "keeps three channels")
        assertClose(gray.pixels, [0.36298, 0.3559, 0.36298, 0.3559, 0.36298, 0.3559], rtol: 1e-6, atol: 1e-6)
        XCTAssertEqual(RandomGrayscale(p: 0)(image, generator: &generator), image)
        let single = randomImage(channels: 1, height: 3, width: 3, seed: 14)
        XCTAssertEqual(RandomGrayscale(p: 1)(single, generator: &generator), single, "one channel is already gray")
        // p = 0.3 over 2000 draws: 600 expected, standard deviation √(2000·0.3·0.7) ≈ 20.5.
        let draws = (0..<2000).filter { _ in RandomGrayscale(p: 0.3)(image, generator: &generator) != image }.count
        XCTAssertLessThanOrEqual(abs(draws - 600), 100, "\(draws) of 2000")
    }

    func testRandomApplyAppliesTheTransformWithProbabilityP() {
        let image = randomImage(channels: 3, height: 4, width: 5, seed: 15)
        let mask = LabelMask(height: 4, width: 5, labels: Array(0..<20))
        // The mirrored image by hand: column x of each row moves to column 4 − x.
        func mirrored(_ i: Int) -> Int { (i / 5) * 5 + 4 - i % 5 }
        let flippedPixels: [Float] = (0..<60).map { (i: Int) -> Float in image.pixels[mirrored(i)] }
        let flippedLabels: [Int] = (0..<20).map(mirrored)
        var generator = SeededGenerator(seed: 16)
        let always = RandomApply(RandomHorizontalFlip(p: 1), p: 1)(image, mask: mask, generator: &generator)
        XCTAssertEqual(always.image.pixels, flippedPixels)
        XCTAssertEqual(always.mask.labels, flippedLabels)
        let never = RandomApply(RandomHorizontalFlip(p: 1), p: 0)(image, mask: mask, generator: &generator)
        XCTAssertEqual(never.image, image)
        XCTAssertEqual(never.mask, mask)
        // p = 0.25 over 4000 draws: 1000 expected, standard deviation √(4000·0.25·0.75) ≈ 27.4.
        var applied = 0
        for _ in 0..<4000 {
            let out = RandomApply(RandomHorizontalFlip(p: 1), p: 0.25)(image, mask: mask, generator: &generator)
            if out.image.pixels == flippedPixels && out.mask.labels == flippedLabels {
                applied += 1
            } else {
                XCTAssertEqual(out.image, image)
                XCTAssertEqual(out.mask, mask)
            }
        }
        XCTAssertLessThanOrEqual(abs(applied - 1000), 140, "\(applied) of 4000")
    }

    func testRandomChoiceAppliesExactlyOneUniformlyChosenTransform() {
        let image = randomImage(channels: 2, height: 3, width: 4, seed: 17)
        let mask = LabelMask(height: 3, width: 4, labels: Array(0..<12))
        // Candidates by hand: mirror left–right (x → 3 − x), mirror top–bottom (y → 2 − y), and
        // Normalize(mean 0.5, std 0.25) = (x − 0.5)/0.25, which leaves the mask alone.
        func mirrored(_ i: Int) -> Int { (i / 4) * 4 + 3 - i % 4 }
        func flipped(_ i: Int) -> Int { (i / 12) * 12 + (2 - (i % 12) / 4) * 4 + i % 4 }
        let candidates: [([Float], [Int])] = [
            ((0..<24).map { image.pixels[mirrored($0)] }, (0..<12).map(mirrored)),
            ((0..<24).map { image.pixels[flipped($0)] }, (0..<12).map(flipped)),
            (image.pixels.map { ($0 - 0.5) / 0.25 }, Array(0..<12)),
        ]
        let choice = RandomChoice([RandomHorizontalFlip(p: 1), RandomVerticalFlip(p: 1),
                                   Normalize(mean: [0.5], std: [0.25])])
        var generator = SeededGenerator(seed: 18)
        var counts = [0, 0, 0]
        for _ in 0..<3000 {
            let out = choice(image, mask: mask, generator: &generator)
            let matches = candidates.indices.filter { k in
                out.mask.labels == candidates[k].1
                    && zip(out.image.pixels, candidates[k].0).allSatisfy { abs($0 - $1) <= 1e-6 }
            }
            XCTAssertEqual(matches.count, 1, "the output is exactly one candidate")
            if let k = matches.first { counts[k] += 1 }
        }
        // 1000 expected each, standard deviation √(3000·⅓·⅔) ≈ 25.8.
        for k in 0..<3 { XCTAssertLessThanOrEqual(abs(counts[k] - 1000), 130, "option \(k): \(counts)") }
    }

    /// torchvision 0.29: T.Pad((2, 1, 1, 0), fill=9, padding_mode=…) on arange(12) shaped [1, 3, 4]; beyond a whole
    /// side (which torchvision's symmetric mode refuses) the mirror repeats.
    func testPadMatchesTorchvision() {
        let image = FloatImage(channels: 1, height: 3, width: 4, pixels: (0..<12).map(Float.init))
        let expected: [(VisionData.PaddingMode, [Float])] = [
            (.constant(9), [9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 1, 2, 3, 9, 9, 9, 4, 5, 6, 7, 9, 9, 9, 8, 9, 10, 11, 9]),
            (.replicate, [0, 0, 0, 1, 2, 3, 3, 0, 0, 0, 1, 2, 3, 3, 4, 4, 4, 5, 6, 7, 7, 8, 8, 8, 9, 10, 11, 11]),
            (.reflect, [6, 5, 4, 5, 6, 7, 6, 2, 1, 0, 1, 2, 3, 2, 6, 5, 4, 5, 6, 7, 6, 10, 9, 8, 9, 10, 11, 10]),
            (.symmetric, [1, 0, 0, 1, 2, 3, 3, 1, 0, 0, 1, 2, 3, 3, 5, 4, 4, 5, 6, 7, 7, 9, 8, 8, 9, 10, 11, 11]),
        ]
        var g = SeededGenerator(seed: 1)
        for (mode, values) in expected {
            let mask = LabelMask(height: 3, width: 4, labels: (0..<12).map { $0 })
            let (padded, paddedMask) = Pad(left: 2, top: 1, right: 1, bottom: 0, mode: mode, maskFill: 255)(image, mask: mask, generator: &g)
            XCTAssertEqual([padded.height, padded.width], [4, 7], "\(mode)")
            XCTAssertEqual(padded.pixels, values, "\(mode)")
            // The mask moves alike; where the image takes a constant, the mask takes maskFill.
            let maskValues = values.map { Int($0) }
            if case .constant = mode {
                XCTAssertEqual(paddedMask.labels, zip(maskValues, padded.pixels.indices).map { value, i in
                    let (y, x) = (i / 7, i % 7)
                    return y >= 1 && x >= 2 && x < 6 ? value : 255
                })
            } else {
                XCTAssertEqual(paddedMask.labels, maskValues, "\(mode)")
            }
        }
        XCTAssertEqual(Pad(3)(image, generator: &g).width, 10)
        let row = FloatImage(channels: 1, height: 1, width: 3, pixels: [1, 2, 3])
        XCTAssertEqual(Pad(left: 5, top: 0, right: 0, bottom: 0, mode: .symmetric)(row, generator: &g).pixels, [2, 3, 3, 2, 1, 1, 2, 3])
        XCTAssertEqual(Pad(horizontal: 1, vertical: 2)(image, generator: &g).height, 7)
    }
}
