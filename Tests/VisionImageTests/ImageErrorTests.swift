import Foundation
import TestSupport
import VisionImage
import XCTest

/// Bad input of every kind must throw an `ImageError` whose message names the file, never crash.
final class ImageErrorTests: XCTestCase {
    private var directory: URL!

    override func setUp() { directory = temporaryDirectory("image-errors") }
    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func testEmptyBytesAndEmptyFile() throws {
        let error = expectError { try ImageIO.decode([UInt8](), source: "nothing.png") }
        XCTAssertEqual(error, .empty(source: "nothing.png"))
        let url = try write([], named: "empty.png")
        XCTAssertEqual(expectError { try ImageIO.decode(contentsOf: url) }, .empty(source: url.path))
        XCTAssertTrue("\(ImageError.empty(source: url.path))".contains(url.path))
    }

    func testRandomBytesAndTextFileWithImageExtension() throws {
        var numbers = TestNumbers(state: 5)
        let random = [0x42] + (0..<500).map { _ in UInt8(numbers.next(below: 256)) }
        guard case .unrecognizedFormat? = expectError({ try ImageIO.decode(random, source: "noise.bin") }) else {
            return XCTFail("random bytes should be unrecognized")
        }
        let url = try write(Array("hello, I am not a picture\n".utf8), named: "notes.png")
        let error = expectError { try ImageIO.decode(contentsOf: url) }
        guard case .unrecognizedFormat(let source, let reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(source, url.path)
        XCTAssertTrue(reason.contains("68 65 6C 6C"), reason)  // "hell"
        XCTAssertTrue(error!.description.contains("notes.png"))
    }

    func testMissingFileAndDirectory() {
        let missing = directory.appendingPathComponent("absent.jpg")
        let error = expectError { try ImageIO.decode(contentsOf: missing) }
        guard case .unreadable(let source, let reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(source, missing.path)
        XCTAssertTrue(reason.lowercased().contains("no such file"), reason)
        guard case .unreadable? = expectError({ try ImageIO.decode(contentsOf: self.directory) }) else {
            return XCTFail("a directory should be unreadable")
        }
    }

    /// A named pipe with no writer (a stray FIFO called *.png in a dataset) reads as empty instead of
    /// blocking the program forever in `open`.
    func testFIFOWithoutAWriterIsEmptyNotAHang() throws {
        let fifo = directory.appendingPathComponent("pipe.png")
        guard mkfifo(fifo.path, 0o644) == 0 else { throw XCTSkip("mkfifo failed: \(String(cString: strerror(errno)))") }
        XCTAssertEqual(expectError { try ImageIO.decode(contentsOf: fifo) }, .empty(source: fifo.path))
    }

    /// Writing onto a directory or into a missing one names the destination and the reason, plainly.
    func testUnwritableDestinationsAreNamed() {
        let image = Image(height: 2, width: 2, channels: 1, pixels: [0, 64, 128, 255])
        XCTAssertThrowsError(try ImageIO.writePNG(image, to: directory)) { error in
            XCTAssertTrue("\(error)".contains(self.directory.path) && "\(error)".contains("is a directory"), "\(error)")
        }
        let nowhere = directory.appendingPathComponent("missing/out.png")
        XCTAssertThrowsError(try ImageIO.writePNG(image, to: nowhere)) { error in
            XCTAssertTrue("\(error)".contains("out.png") && "\(error)".contains("No such file"), "\(error)")
            XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain"), "\(error)")
        }
    }

    func testTruncatedPNGAtEveryStage() throws {
        let png = try ImageIO.encodePNG(noiseImage(channels: 3))
        for cut in [8, 20, 33, 41, png.count / 2, png.count - 12, png.count - 1] {
            let error = expectError { try ImageIO.decode(Array(png[0..<cut]), source: "cut\(cut).png") }
            guard case .corrupt(let source, "PNG", _)? = error else { XCTFail("cut \(cut): \(String(describing: error))"); continue }
            XCTAssertEqual(source, "cut\(cut).png")
        }
    }

    func testCorruptedPNGChecksumAndDeflateData() throws {
        var png = try ImageIO.encodePNG(noiseImage(channels: 1))
        // Damage the stored CRC of the first IDAT chunk (its data stays intact).
        let idat = try XCTUnwrap(find(Array("IDAT".utf8), in: png))
        let length = png[idat - 4..<idat].reduce(0) { $0 << 8 | Int($1) }
        png[idat + 4 + length] ^= 0x55
        let error = expectError { try ImageIO.decode(png, source: "crc.png") }
        guard case .corrupt(_, _, let reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("CRC"), reason)

        // A stored deflate block whose length check (NLEN) is wrong, with a valid chunk CRC.
        let source = TestPNG(width: 4, height: 2, bitDepth: 8, colorType: 0, samples: Array(0..<8))
        var stream = TestPNG.zlibStored(source.filteredData())
        stream[5] ^= 0xFF
        let bad = Array(source.encode().prefix(33)) + TestPNG.chunk("IDAT", stream) + TestPNG.chunk("IEND", [])
        guard case .corrupt? = expectError({ try ImageIO.decode(bad, source: "deflate.png") }) else {
            return XCTFail("bad deflate data should be corrupt")
        }
    }

    func testAbsurdDimensionsAreRejectedBeforeAllocation() throws {
        // IHDR claims 1000000 × 1000000 8-bit RGB (3 TB of pixels).
        let header = TestPNG.bigEndian32(1_000_000) + TestPNG.bigEndian32(1_000_000) + [8, 2, 0, 0, 0]
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + TestPNG.chunk("IHDR", header)
            + TestPNG.chunk("IDAT", TestPNG.zlibStored([0, 1, 2])) + TestPNG.chunk("IEND", [])
        let url = try write(png, named: "huge.png")
        let error = expectError { try ImageIO.decode(contentsOf: url) }
        guard case .tooLarge(let source, let reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(source, url.path)
        XCTAssertTrue(reason.contains("1000000×1000000"), reason)
        XCTAssertTrue(error!.description.hasPrefix(url.path))

        // JPEG frame headers patched to 65000² (within the per-side limit, over the pixel limit) and
        // 65535² (over libjpeg's own limit of 65500).
        let jpeg = try ImageIO.encodeJPEG(noiseImage(channels: 3))
        let frame = try XCTUnwrap(find([0xFF, 0xC0], in: jpeg))
        for side in [65_000, 65_535] {
            var patched = jpeg
            for offset in [5, 7] { patched[frame + offset] = UInt8(side >> 8); patched[frame + offset + 1] = UInt8(side & 0xFF) }
            guard case .tooLarge? = expectError({ try ImageIO.decode(patched, source: "huge.jpg") }) else {
                return XCTFail("\(side)² JPEG should be too large")
            }
        }
    }

    func testConfigurablePixelLimit() throws {
        let image = noiseImage(channels: 3)  // 32 × 32
        let limits = ImageDecodeLimits(maxPixelCount: 1000)
        for bytes in [try ImageIO.encodePNG(image), try ImageIO.encodeJPEG(image)] {
            guard case .tooLarge? = expectError({ try ImageIO.decode(bytes, source: "limited", limits: limits) }) else {
                return XCTFail("1024 pixels exceed a limit of 1000")
            }
            XCTAssertNoThrow(try ImageIO.decode(bytes, source: "default limits"))
        }
        let url = try write(try ImageIO.encodePNG(image), named: "big-file.png")
        guard case .tooLarge? = expectError({ try ImageIO.decode(contentsOf: url, limits: ImageDecodeLimits(maxFileBytes: 100)) }) else {
            return XCTFail("file over the byte limit")
        }
    }

    func testTruncatedAndGarbledJPEG() throws {
        let jpeg = try ImageIO.encodeJPEG(noiseImage(channels: 3), quality: 90)
        // libjpeg would pad a truncated stream with grey; the decoder treats a premature end as an error.
        for cut in [3, 20, 200, jpeg.count / 2, jpeg.count - 2] {
            let error = expectError { try ImageIO.decode(Array(jpeg[0..<cut]), source: "cut\(cut).jpg") }
            guard case .corrupt(let source, "JPEG", _)? = error else { XCTFail("cut \(cut): \(String(describing: error))"); continue }
            XCTAssertEqual(source, "cut\(cut).jpg")
        }
        var numbers = TestNumbers(state: 6)
        let garbage: [UInt8] = [0xFF, 0xD8, 0xFF] + (0..<300).map { _ in UInt8(numbers.next(below: 256)) }
        guard case .corrupt? = expectError({ try ImageIO.decode(garbage, source: "garbage.jpg") }) else {
            return XCTFail("garbage after SOI should be corrupt")
        }
    }

    func testUnsupportedJPEGVariantsAndSixteenBitPathRejectingJPEG() throws {
        let jpeg = try ImageIO.encodeJPEG(noiseImage(channels: 1))
        // A frame header claiming 12-bit samples (this libjpeg is built for 8).
        var twelveBit = jpeg
        twelveBit[try XCTUnwrap(find([0xFF, 0xC0], in: jpeg)) + 4] = 12
        let error = expectError { try ImageIO.decode(twelveBit, source: "twelve.jpg") }
        guard case .unsupported(_, "JPEG", let reason)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.contains("12"), reason)
        guard case .unsupported? = expectError({ try ImageIO.decodePNG16(jpeg, source: "a.jpg") }) else {
            return XCTFail("decodePNG16 reads PNG only")
        }
    }

    func testDamageTheLibrariesOnlyWarnAboutIsToleratedSilently() throws {
        // An ancillary tEXt chunk with a bad CRC is discarded (a libpng warning, not an error).
        let image = noiseImage(channels: 3)
        let png = try ImageIO.encodePNG(image)
        var text = TestPNG.chunk("tEXt", Array("Comment\0hello".utf8))
        text[text.count - 1] ^= 0xFF
        let withBadText = Array(png[0..<33]) + text + Array(png[33...])
        XCTAssertEqual(try ImageIO.decode(Data(withBadText), source: "text.png"), image)

        // Two stray bytes before a JPEG marker ("extraneous bytes": a libjpeg warning).
        let jpeg = try ImageIO.encodeJPEG(image, quality: 90)
        let afterAPP0 = 4 + (Int(jpeg[4]) << 8 | Int(jpeg[5]))
        let stray = Array(jpeg[0..<afterAPP0]) + [0x12, 0x34] + Array(jpeg[afterAPP0...])
        XCTAssertEqual(try ImageIO.decode(Data(stray), source: "stray.jpg"), try ImageIO.decode(jpeg, source: "clean.jpg"))
    }

    func testRandomlyDamagedFilesDecodeOrThrowButNeverCrash() throws {
        let image = noiseImage(channels: 3)
        let interlaced = TestPNG(width: 9, height: 7, bitDepth: 4, colorType: 3, interlaced: true,
                                 palette: (0..<16).map { [UInt8($0 * 16), 0, UInt8(255 - $0 * 16)] }, transparency: [0, 99],
                                 samples: (0..<63).map { $0 % 16 })
        let originals = [try ImageIO.encodePNG(image), interlaced.encode(), try ImageIO.encodeJPEG(image),
                         try ImageIO.encodeJPEG(image, progressive: true), spliceEXIF(into: try ImageIO.encodeJPEG(image), orientation: 6, bigEndian: true)]
        var numbers = TestNumbers(state: 10)
        var failures = 0
        for round in 0..<400 {
            var bytes = originals[round % originals.count]
            for _ in 0..<(1 + numbers.next(below: 4)) {
                let position = numbers.next(below: bytes.count)
                bytes[position] = UInt8(numbers.next(below: 256))
            }
            if numbers.next(below: 4) == 0 { bytes.removeLast(numbers.next(below: bytes.count)) }
            do {
                let decoded = try ImageIO.decode(bytes, source: "damaged", applyEXIFOrientation: true)
                XCTAssertEqual(decoded.pixels.count, decoded.height * decoded.width * decoded.channels)
            } catch let error as ImageError {
                XCTAssertEqual(error.source, "damaged")
                failures += 1
            }
        }
        XCTAssertGreaterThan(failures, 0, "some damage must be detected")
    }

    // MARK: Helpers

    private func expectError(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) -> ImageError? {
        do {
            _ = try body()
            XCTFail("expected an ImageError", file: file, line: line)
        } catch let error as ImageError {
            return error
        } catch {
            XCTFail("expected an ImageError, got \(error)", file: file, line: line)
        }
        return nil
    }

    private func write(_ bytes: [UInt8], named name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    private func noiseImage(channels: Int) -> Image {
        var numbers = TestNumbers(state: 9)
        return Image(height: 32, width: 32, channels: channels,
                     pixels: (0..<32 * 32 * channels).map { _ in UInt8(numbers.next(below: 256)) })
    }

    private func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        return (0...(bytes.count - pattern.count)).first { Array(bytes[$0..<$0 + pattern.count]) == pattern }
    }
}
