import Foundation
import TestSupport
import VisionImage
import XCTest

final class JPEGTests: XCTestCase {
    // MARK: Round trips

    func testGrayRoundTripStaysWithinTolerance() throws {
        let image = smoothImage(height: 32, width: 40, channels: 1)
        let bytes = try ImageIO.encodeJPEG(image, quality: 95)
        XCTAssertEqual(ImageFormat.sniff(bytes), .jpeg)
        let decoded = try ImageIO.decode(bytes, source: "gray.jpg")
        XCTAssertEqual([decoded.height, decoded.width, decoded.channels], [32, 40, 1])
        XCTAssertLessThanOrEqual(maxDifference(decoded, image), 3)
    }

    func testRGBRoundTripStaysWithinToleranceWithAndWithoutSubsampling() throws {
        let image = smoothImage(height: 24, width: 40, channels: 3)
        for (subsample, tolerance) in [(false, 4), (true, 8)] {
            let decoded = try ImageIO.decode(ImageIO.encodeJPEG(image, quality: 95, subsampleChroma: subsample), source: "rgb.jpg")
            XCTAssertEqual([decoded.height, decoded.width, decoded.channels], [24, 40, 3])
            XCTAssertLessThanOrEqual(maxDifference(decoded, image), tolerance, "subsampling \(subsample)")
        }
    }

    func testLowerQualityMakesSmallerFiles() throws {
        let image = smoothImage(height: 64, width: 64, channels: 3, noise: 40)
        let small = try ImageIO.encodeJPEG(image, quality: 20)
        let large = try ImageIO.encodeJPEG(image, quality: 95)
        XCTAssertLessThan(small.count, large.count)
    }

    func testProgressiveJPEGDecodesLikeBaseline() throws {
        let image = smoothImage(height: 40, width: 48, channels: 3, noise: 20)
        let baseline = try ImageIO.encodeJPEG(image, quality: 90)
        let progressive = try ImageIO.encodeJPEG(image, quality: 90, progressive: true)
        XCTAssertTrue(containsMarker(progressive, 0xC2), "progressive file should carry SOF2")
        XCTAssertFalse(containsMarker(baseline, 0xC2))
        let a = try ImageIO.decode(baseline, source: "baseline.jpg")
        let b = try ImageIO.decode(progressive, source: "progressive.jpg")
        // Same quantised coefficients, sent in a different order.
        XCTAssertLessThanOrEqual(maxDifference(a, b), 1)
        XCTAssertLessThanOrEqual(meanDifference(b, image), 6, "noisy input, 4:2:0 chroma")
    }

    func testAdobeCMYKIsConvertedToRGB() throws {
        let rgb = smoothImage(height: 16, width: 24, channels: 3)
        // Inverted CMYK with no black ink (K' = 255): the stored C', M', Y' are R, G, B.
        var cmyk: [UInt8] = []
        for i in 0..<rgb.pixelCount { cmyk += rgb.pixels[i * 3..<i * 3 + 3] + [255] }
        let decoded = try ImageIO.decode(ImageIO.encodeJPEG(cmyk: cmyk, height: 16, width: 24, quality: 95), source: "cmyk.jpg")
        XCTAssertEqual([decoded.height, decoded.width, decoded.channels], [16, 24, 3])
        XCTAssertLessThanOrEqual(maxDifference(decoded, rgb), 4)

        // Half black ink (K' = 128) scales each channel by 128/255.
        for i in 0..<rgb.pixelCount { cmyk[i * 4 + 3] = 128 }
        let darker = try ImageIO.decode(ImageIO.encodeJPEG(cmyk: cmyk, height: 16, width: 24, quality: 95), source: "cmyk.jpg")
        let expected = Image(height: 16, width: 24, channels: 3, pixels: rgb.pixels.map { UInt8((Int($0) * 128 + 127) / 255) })
        XCTAssertLessThanOrEqual(maxDifference(darker, expected), 4)
    }

    func testWriteJPEGThenDecodeFromFile() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("picture.jpeg")
        let image = smoothImage(height: 8, width: 8, channels: 3)
        try ImageIO.writeJPEG(image, to: url, quality: 95)
        let decoded = try ImageIO.decode(contentsOf: url)
        XCTAssertLessThanOrEqual(maxDifference(decoded, image), 8)
        XCTAssertNil(try ImageIO.exifOrientation(contentsOf: url))
    }

    // MARK: EXIF orientation

    func testEXIFOrientationRotatesAndMirrorsWhenAsked() throws {
        // 16×24 gray made of six flat 8×8 blocks (2 block rows × 3 block columns), values 20…220.
        let blockValue: (Int, Int) -> UInt8 = { blockRow, blockColumn in UInt8(20 + 40 * (blockRow * 3 + blockColumn)) }
        var image = Image(height: 16, width: 24, channels: 1)
        for r in 0..<16 { for c in 0..<24 { image[r, c, 0] = blockValue(r / 8, c / 8) } }
        let jpeg = try ImageIO.encodeJPEG(image, quality: 100)
        let plain = try ImageIO.decode(jpeg, source: "plain.jpg")
        XCTAssertLessThanOrEqual(maxDifference(plain, image), 2)

        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for orientation in 1...8 {
            for bigEndian in [false, true] {
                let tagged = spliceEXIF(into: jpeg, orientation: orientation, bigEndian: bigEndian)
                let label = "orientation \(orientation) \(bigEndian ? "MM" : "II")"
                XCTAssertEqual(try ImageIO.decode(tagged, source: label), plain, "ignored unless asked: \(label)")
                let oriented = try ImageIO.decode(tagged, source: label, applyEXIFOrientation: true)
                XCTAssertEqual(oriented, plain.applyingEXIFOrientation(orientation), label)
                let url = directory.appendingPathComponent("\(orientation)\(bigEndian).jpg")
                try Data(tagged).write(to: url)
                XCTAssertEqual(try ImageIO.exifOrientation(contentsOf: url), orientation, label)
            }
        }
        // Rotated 90° clockwise: 24×16, the top-left comes from the stored bottom-left block.
        let rotated = try ImageIO.decode(spliceEXIF(into: jpeg, orientation: 6, bigEndian: false), source: "six",
                                         applyEXIFOrientation: true)
        XCTAssertEqual([rotated.height, rotated.width], [24, 16])
        XCTAssertEqual(Int(rotated[0, 0, 0]), Int(blockValue(1, 0)), accuracy: 2)
        XCTAssertEqual(Int(rotated[0, 15, 0]), Int(blockValue(0, 0)), accuracy: 2)
        XCTAssertEqual(Int(rotated[23, 0, 0]), Int(blockValue(1, 2)), accuracy: 2)
        // Mirrored left–right: same size, the top-left comes from the stored top-right block.
        let mirrored = try ImageIO.decode(spliceEXIF(into: jpeg, orientation: 2, bigEndian: true), source: "two",
                                          applyEXIFOrientation: true)
        XCTAssertEqual([mirrored.height, mirrored.width], [16, 24])
        XCTAssertEqual(Int(mirrored[0, 0, 0]), Int(blockValue(0, 2)), accuracy: 2)
    }

    func testOrientationTransformsByHand() {
        // [[1, 2, 3], [4, 5, 6]]
        let image = Image(height: 2, width: 3, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        let expected: [Int: (Int, Int, [UInt8])] = [
            1: (2, 3, [1, 2, 3, 4, 5, 6]),
            2: (2, 3, [3, 2, 1, 6, 5, 4]),
            3: (2, 3, [6, 5, 4, 3, 2, 1]),
            4: (2, 3, [4, 5, 6, 1, 2, 3]),
            5: (3, 2, [1, 4, 2, 5, 3, 6]),
            6: (3, 2, [4, 1, 5, 2, 6, 3]),
            7: (3, 2, [6, 3, 5, 2, 4, 1]),
            8: (3, 2, [3, 6, 2, 5, 1, 4]),
        ]
        for (orientation, (height, width, pixels)) in expected {
            XCTAssertEqual(image.applyingEXIFOrientation(orientation), Image(height: height, width: width, channels: 1, pixels: pixels),
                           "orientation \(orientation)")
        }
        let rgb = Image(height: 1, width: 2, channels: 3, pixels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(rgb.applyingEXIFOrientation(2).pixels, [4, 5, 6, 1, 2, 3], "pixels move whole")
    }

    // MARK: Helpers

    /// A smooth test pattern (JPEG-friendly), optionally with deterministic noise.
    private func smoothImage(height: Int, width: Int, channels: Int, noise: Int = 0) -> Image {
        var numbers = TestNumbers(state: 7)
        var image = Image(height: height, width: width, channels: channels)
        for r in 0..<height {
            for c in 0..<width {
                for k in 0..<channels {
                    let base = [40 + 4 * r + 2 * c, 200 - 3 * c, 60 + 2 * r + c][k % 3]
                    let jitter = noise > 0 ? numbers.next(below: noise) - noise / 2 : 0
                    image[r, c, k] = UInt8(clamping: base + jitter)
                }
            }
        }
        return image
    }

    private func maxDifference(_ a: Image, _ b: Image) -> Int {
        XCTAssertEqual([a.height, a.width, a.channels], [b.height, b.width, b.channels])
        return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    private func meanDifference(_ a: Image, _ b: Image) -> Double {
        Double(zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(max(a.pixels.count, 1))
    }

    private func containsMarker(_ bytes: [UInt8], _ marker: UInt8) -> Bool {
        zip(bytes, bytes.dropFirst()).contains { $0 == 0xFF && $1 == marker }
    }
}

/// An APP1 Exif segment whose IFD0 holds an unrelated tag then Orientation, spliced after SOI.
func spliceEXIF(into jpeg: [UInt8], orientation: Int, bigEndian: Bool) -> [UInt8] {
    func u16(_ v: Int) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: Int) -> [UInt8] { bigEndian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16) }
    var tiff: [UInt8] = (bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]) + u16(42) + u32(8)
    tiff += u16(2)
    tiff += u16(0x010F) + u16(2) + u32(4) + Array("abc\0".utf8)  // Make = "abc"
    tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0]
    tiff += u32(0)
    let payload = Array("Exif".utf8) + [0, 0] + tiff
    let segment: [UInt8] = [0xFF, 0xE1, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
    return Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
}
