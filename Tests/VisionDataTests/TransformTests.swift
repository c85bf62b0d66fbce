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
}
