import Foundation
import TestSupport
import VisionImage
import XCTest

final class PNGTests: XCTestCase {
    // MARK: Encode → decode with the package's encoder

    func testEightBitRoundTripIsExactForEveryChannelCount() throws {
        var numbers = TestNumbers(state: 1)
        for channels in 1...4 {
            let (height, width) = (17, 23)
            let pixels = (0..<height * width * channels).map { _ in UInt8(numbers.next(below: 256)) }
            let image = Image(height: height, width: width, channels: channels, pixels: pixels)
            for level in [0, 6, 9] {
                let bytes = try ImageIO.encodePNG(image, compressionLevel: level)
                XCTAssertEqual(ImageFormat.sniff(bytes), .png)
                XCTAssertEqual(try ImageIO.decode(bytes, source: "memory"), image, "\(channels) channels, level \(level)")
            }
        }
    }

    func testSixteenBitGrayRoundTripIsExact() throws {
        var numbers = TestNumbers(state: 2)
        let (height, width) = (9, 14)
        var values = (0..<height * width).map { _ in UInt16(numbers.next(below: 65_536)) }
        values[0] = 0
        values[1] = 65_535
        values[2] = 0x0102  // catches byte-order mistakes
        let bytes = try ImageIO.encodePNG16Gray(height: height, width: width, values: values)
        let decoded = try ImageIO.decodePNG16(bytes, source: "depth.png")
        XCTAssertEqual(decoded, Image16(height: height, width: width, channels: 1, values: values))
        // The 8-bit path rounds v / 257.
        let eight = try ImageIO.decode(bytes, source: "depth.png")
        XCTAssertEqual(eight.pixels, values.map { UInt8((Int($0) + 128) / 257) })
    }

    func testSixteenBitRGBARoundTripAndFileWriting() throws {
        var numbers = TestNumbers(state: 3)
        let image = Image16(height: 5, width: 6, channels: 4, values: (0..<120).map { _ in UInt16(numbers.next(below: 65_536)) })
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("map.png")
        try ImageIO.writePNG16(image, to: url)
        XCTAssertEqual(try ImageIO.decodePNG16(contentsOf: url), image)

        let eight = Image(height: 2, width: 3, channels: 3, pixels: Array(0..<18))
        let eightURL = directory.appendingPathComponent("small.png")
        try ImageIO.writePNG(eight, to: eightURL)
        XCTAssertEqual(try ImageIO.decode(contentsOf: eightURL), eight)
        // 8-bit files widen by 257 on the 16-bit path.
        XCTAssertEqual(try ImageIO.decodePNG16(contentsOf: eightURL).values, (0..<18).map { UInt16($0) * 257 })
    }

    // MARK: Every colour type, depth and interlacing from the independent writer

    func testDecodesEveryColourTypeDepthAndInterlace() throws {
        let cases: [(colorType: Int, depth: Int, transparency: Bool)] = [
            (0, 1, false), (0, 2, false), (0, 4, false), (0, 8, false), (0, 16, false),
            (0, 2, true), (0, 8, true), (0, 16, true),
            (2, 8, false), (2, 16, false), (2, 8, true), (2, 16, true),
            (3, 1, false), (3, 2, false), (3, 4, false), (3, 8, false), (3, 1, true), (3, 4, true), (3, 8, true),
            (4, 8, false), (4, 16, false),
            (6, 8, false), (6, 16, false),
        ]
        var numbers = TestNumbers(state: 4)
        for (colorType, depth, transparency) in cases {
            for interlaced in [false, true] {
                for (height, width) in [(13, 11), (1, 1), (3, 2)] {
                    let png = makePNG(colorType: colorType, depth: depth, transparency: transparency,
                                      interlaced: interlaced, height: height, width: width, numbers: &numbers)
                    let label = "type \(colorType) depth \(depth) tRNS \(transparency) interlaced \(interlaced) \(height)×\(width)"
                    let (channels, expected16) = expectedSixteenBit(png)
                    let bytes = png.encode()
                    let image = try ImageIO.decode(bytes, source: label)
                    XCTAssertEqual([image.height, image.width, image.channels], [height, width, channels], label)
                    XCTAssertEqual(image.pixels, expected16.map { UInt8((Int($0) + 128) / 257) }, label)
                    let wide = try ImageIO.decodePNG16(bytes, source: label)
                    XCTAssertEqual(wide.values, expected16, label)
                }
            }
        }
    }

    func testLowDepthGrayScalesToTheFullRange() throws {
        // 2-bit gray 0, 1, 2, 3 → 0, 85, 170, 255; 1-bit 0, 1 → 0, 255.
        let two = TestPNG(width: 4, height: 1, bitDepth: 2, colorType: 0, samples: [0, 1, 2, 3])
        XCTAssertEqual(try ImageIO.decode(two.encode(), source: "two-bit").pixels, [0, 85, 170, 255])
        let one = TestPNG(width: 3, height: 1, bitDepth: 1, colorType: 0, samples: [1, 0, 1])
        XCTAssertEqual(try ImageIO.decode(one.encode(), source: "one-bit").pixels, [255, 0, 255])
    }

    func testPaletteWithShortTransparencyGivesOpaqueTail() throws {
        let png = TestPNG(width: 3, height: 1, bitDepth: 8, colorType: 3,
                          palette: [[10, 20, 30], [40, 50, 60], [70, 80, 90]], transparency: [0, 128],
                          samples: [2, 1, 0])
        let image = try ImageIO.decode(png.encode(), source: "palette")
        XCTAssertEqual(image.channels, 4)
        XCTAssertEqual(image.pixels, [70, 80, 90, 255, 40, 50, 60, 128, 10, 20, 30, 0])
    }

    /// Label masks keep their stored values: palette indices (not colours), gray values at their own depth
    /// (not rescaled to 0…255 or rounded from 16 bits; 1-bit gray alone gives 0/255), alpha and tRNS ignored —
    /// at every depth, interlaced or not.
    func testDecodeLabelsKeepsPaletteIndicesAndGrayValues() throws {
        let directory = temporaryDirectory("vision-labels")
        defer { try? FileManager.default.removeItem(at: directory) }
        var numbers = TestNumbers(state: 11)
        let cases: [(colorType: Int, depths: [Int])] = [(0, [1, 2, 4, 8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16])]
        for (colorType, depths) in cases {
            for depth in depths {
                for interlaced in [false, true] {
                    let transparency = colorType != 4 && depth != 16
                    let png = makePNG(colorType: colorType, depth: depth, transparency: transparency, interlaced: interlaced,
                                      height: 5, width: 7, numbers: &numbers)
                    let url = directory.appendingPathComponent("mask-\(colorType)-\(depth)-\(interlaced).png")
                    try Data(png.encode()).write(to: url)
                    let labels = try ImageIO.decodeLabels(contentsOf: url)
                    let stride = png.samplesPerPixel
                    // 1-bit gray is black and white: 0 and 255, like an 8-bit binary mask.
                    let scale = colorType == 0 && depth == 1 ? 255 : 1
                    let expected = (0..<35).map { png.samples[$0 * stride] * scale }
                    XCTAssertEqual([labels.height, labels.width], [5, 7])
                    XCTAssertEqual(labels.values, expected, "colour type \(colorType), depth \(depth), interlaced \(interlaced)")
                }
            }
        }
        // A 16-bit class value above 255 stays itself (the 8-bit decode would round 300 to 1).
        let wide = TestPNG(width: 2, height: 1, bitDepth: 16, colorType: 0, samples: [300, 1])
        let url = directory.appendingPathComponent("wide.png")
        try Data(wide.encode()).write(to: url)
        XCTAssertEqual(try ImageIO.decodeLabels(contentsOf: url).values, [300, 1])
        // An RGB mask gives its gray level, as the colour decode converted to one channel does.
        let rgb = TestPNG(width: 2, height: 1, bitDepth: 8, colorType: 2, samples: [255, 0, 0, 10, 200, 30])
        let rgbURL = directory.appendingPathComponent("rgb.png")
        try Data(rgb.encode()).write(to: rgbURL)
        XCTAssertEqual(try ImageIO.decodeLabels(contentsOf: rgbURL).values,
                       try ImageIO.decode(contentsOf: rgbURL).converted(toChannels: 1).pixels.map(Int.init))
        // A damaged file is still an error naming it.
        let truncated = directory.appendingPathComponent("truncated.png")
        try Data(wide.encode().dropLast(20)).write(to: truncated)
        XCTAssertThrowsError(try ImageIO.decodeLabels(contentsOf: truncated)) { error in
            XCTAssertTrue("\(error)".contains("truncated.png"), "\(error)")
        }
    }

    // MARK: Helpers

    private func makePNG(colorType: Int, depth: Int, transparency: Bool, interlaced: Bool,
                         height: Int, width: Int, numbers: inout TestNumbers) -> TestPNG {
        var png = TestPNG(width: width, height: height, bitDepth: depth, colorType: colorType, interlaced: interlaced, samples: [])
        let levels = 1 << depth
        if colorType == 3 {
            let entries = min(levels, 7)
            png.palette = (0..<entries).map { _ in (0..<3).map { _ in UInt8(numbers.next(below: 256)) } }
            png.samples = (0..<height * width).map { _ in numbers.next(below: entries) }
            if transparency { png.transparency = (0..<max(1, entries - 1)).map { _ in UInt8(numbers.next(below: 256)) } }
        } else {
            png.samples = (0..<height * width * png.samplesPerPixel).map { _ in numbers.next(below: levels) }
            if transparency {
                // Make the first pixel's colour the transparent key, so some alpha is 0.
                png.transparency = png.samples[0..<png.samplesPerPixel].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
            }
        }
        return png
    }

    /// The decoded samples at 16 bits: low depths scale to 8 bits by `v · 255 / (2^d − 1)` and
    /// then widen by 257; 16-bit samples are kept; palette and tRNS are expanded.
    private func expectedSixteenBit(_ png: TestPNG) -> (channels: Int, values: [UInt16]) {
        let maximum = (1 << png.bitDepth) - 1
        func widen(_ sample: Int) -> UInt16 {
            png.bitDepth == 16 ? UInt16(sample) : UInt16(sample * 255 / maximum * 257)
        }
        let perPixel = png.samplesPerPixel
        var values: [UInt16] = []
        var channels = 0
        for pixel in 0..<png.width * png.height {
            let samples = Array(png.samples[pixel * perPixel..<(pixel + 1) * perPixel])
            var out: [UInt16]
            if png.colorType == 3 {
                out = png.palette[samples[0]].map { UInt16($0) * 257 }
                if let alphas = png.transparency {
                    out.append(UInt16(samples[0] < alphas.count ? alphas[samples[0]] : 255) * 257)
                }
            } else {
                out = samples.map(widen)
                if let key = png.transparency {
                    let keySamples = stride(from: 0, to: key.count, by: 2).map { Int(key[$0]) << 8 | Int(key[$0 + 1]) }
                    out.append(keySamples == samples ? 0 : 65_535)
                }
            }
            channels = out.count
            values += out
        }
        return (channels, values)
    }
}
