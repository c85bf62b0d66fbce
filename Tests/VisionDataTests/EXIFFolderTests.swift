import Foundation
import TestSupport
import VisionCore
import VisionData
import VisionImage
import XCTest

final class EXIFFolderTests: XCTestCase {
    /// A JPEG whose APP1 Exif segment says orientation 6 (rotate 90° clockwise to display).
    func rotatedJPEG(width: Int, height: Int) throws -> [UInt8] {
        let image = Image(height: height, width: width, channels: 3, repeating: 128)
        let jpeg = try ImageIO.encodeJPEG(image, quality: 90)
        // "Exif\0\0", big-endian TIFF header, one IFD entry: tag 0x0112 SHORT count 1 value 6, no next IFD.
        let payload: [UInt8] = Array("Exif".utf8) + [0, 0] + [0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8]
            + [0, 1] + [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0] + [0, 0, 0, 0]
        let length = payload.count + 2
        let segment: [UInt8] = [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        return Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
    }

    func testImageFolderAppliesEXIFOrientationOnlyWhenAsked() throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("upright")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(try rotatedJPEG(width: 16, height: 8)).write(to: folder.appendingPathComponent("photo.jpg"))
        var dataset = try ImageFolder(root: root, channels: 3)
        let raw = try dataset.sample(at: 0).image
        XCTAssertEqual([raw.height, raw.width], [8, 16], "stored orientation without the option")
        dataset.applyEXIFOrientation = true
        let upright = try dataset.sample(at: 0).image
        XCTAssertEqual([upright.height, upright.width], [16, 8], "orientation 6 turns the image a quarter")
    }
}
