import Foundation
import TestSupport
import VisionImage
import XCTest

/// Real photographs from `../shared/images` (scikit-image's samples); skipped when absent.
final class SampleImageTests: XCTestCase {
    private func imagesDirectory() throws -> URL {
        let url = packageRoot().deletingLastPathComponent().appendingPathComponent("shared/images")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("sample images not found at \(url.path)")
        }
        return url
    }

    func testSamplePhotosDecodeToTheirKnownSizes() throws {
        let directory = try imagesDirectory()
        // name: (height, width, channels)
        let expected: [String: (Int, Int, Int)] = [
            "camera.png": (512, 512, 1), "astronaut.png": (512, 512, 3), "coffee.png": (400, 600, 3),
            "chelsea.png": (300, 451, 3), "coins.png": (303, 384, 1), "horse.png": (328, 400, 4),
            "brick.png": (512, 512, 1), "page.png": (191, 384, 1),
            "rocket.jpg": (427, 640, 3), "hubble_deep_field.jpg": (872, 1000, 3),
        ]
        var found = 0
        for (name, (height, width, channels)) in expected.sorted(by: { $0.key < $1.key }) {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            found += 1
            let image = try ImageIO.decode(contentsOf: url, applyEXIFOrientation: true)
            XCTAssertEqual([image.height, image.width, image.channels], [height, width, channels], name)
            // A real photo is not flat.
            XCTAssertGreaterThan(Set(image.pixels.prefix(20_000)).count, 16, name)
        }
        if found == 0 { throw XCTSkip("none of the sample images is present") }
    }

    func testCameraPNGReencodesExactlyAndHubbleHasUprightOrientation() throws {
        let directory = try imagesDirectory()
        let camera = directory.appendingPathComponent("camera.png")
        if FileManager.default.fileExists(atPath: camera.path) {
            let image = try ImageIO.decode(contentsOf: camera)
            XCTAssertEqual(try ImageIO.decode(ImageIO.encodePNG(image, compressionLevel: 1), source: "camera copy"), image)
        }
        let hubble = directory.appendingPathComponent("hubble_deep_field.jpg")
        if FileManager.default.fileExists(atPath: hubble.path) {
            // Its Exif block (written by Photoshop) says orientation 1, "top-left".
            XCTAssertEqual(try ImageIO.exifOrientation(contentsOf: hubble), 1)
        }
    }
}
