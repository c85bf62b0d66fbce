import Foundation
import TestSupport
import VisionCore
import VisionData
import VisionImage
import XCTest

final class ImageFolderTests: XCTestCase {
    var directory: URL!

    override func setUp() { directory = temporaryDirectory("vision-folder") }
    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    /// An RGB image whose pixels encode `seed`.
    func pattern(height: Int, width: Int, channels: Int = 3, seed: Int) -> Image {
        Image(height: height, width: width, channels: channels,
              pixels: (0..<(height * width * channels)).map { UInt8(truncatingIfNeeded: $0 * 5 + seed * 17) })
    }

    func write(_ image: Image, _ relative: String) throws {
        let url = directory.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ImageIO.writePNG(image, to: url)
    }

    func testImageFolderSortsClassesAndReadsPixelsExactly() throws {
        let root = directory.appendingPathComponent("train")
        try write(pattern(height: 4, width: 5, seed: 1), "train/zebra/b.png")
        try write(pattern(height: 4, width: 5, seed: 2), "train/zebra/a.PNG")
        try write(pattern(height: 4, width: 5, seed: 3), "train/ant/nested/c.png")
        try write(pattern(height: 4, width: 5, channels: 1, seed: 4), "train/moth/gray.png")
        try Data("not an image".utf8).write(to: root.appendingPathComponent("zebra/notes.txt"))
        let dataset = try ImageFolder(root: root)
        XCTAssertEqual(dataset.classNames, ["ant", "moth", "zebra"])
        XCTAssertEqual(dataset.count, 4)
        XCTAssertEqual(dataset.files.map { $0.url.lastPathComponent }, ["c.png", "gray.png", "a.PNG", "b.png"])
        XCTAssertEqual(dataset.files.map(\.label), [0, 1, 2, 2])
        let sample = try dataset.sample(at: 3)
        XCTAssertEqual(sample.label, 2)
        let expected = pattern(height: 4, width: 5, seed: 1)
        XCTAssertEqual([sample.image.channels, sample.image.height, sample.image.width], [3, 4, 5])
        XCTAssertEqual(sample.image[1, 2, 3], Float(expected[2, 3, 1]) / 255)
        XCTAssertEqual(sample.image.tensor.storage, expected.toTensor().storage)
        // Gray files become RGB by default, stay gray with channels: nil.
        XCTAssertEqual(try dataset.sample(at: 1).image.channels, 3)
        XCTAssertEqual(try ImageFolder(root: root, channels: nil).sample(at: 1).image.channels, 1)
        XCTAssertEqual(try dataset.labelHistogram(), [0: 1, 1: 1, 2: 2])
    }

    func testImageFolderFollowsSymbolicallyLinkedClassFolders() throws {
        // A view of a larger tree built from links, as scripts/transfer-learning.sh does.
        try write(pattern(height: 3, width: 3, seed: 1), "store/cat/1.png")
        try write(pattern(height: 3, width: 3, seed: 2), "store/cat/2.png")
        try write(pattern(height: 3, width: 3, seed: 3), "store/dog/3.png")
        let view = directory.appendingPathComponent("view")
        try FileManager.default.createDirectory(at: view, withIntermediateDirectories: true)
        for name in ["cat", "dog"] {
            try FileManager.default.createSymbolicLink(at: view.appendingPathComponent(name),
                                                       withDestinationURL: directory.appendingPathComponent("store/\(name)"))
        }
        let dataset = try ImageFolder(root: view)
        XCTAssertEqual(dataset.classNames, ["cat", "dog"])
        XCTAssertEqual(dataset.files.map(\.label), [0, 0, 1])
        XCTAssertEqual(try dataset.sample(at: 2).image.tensor.storage, pattern(height: 3, width: 3, seed: 3).toTensor().storage)
    }

    func testImageFolderErrors() throws {
        XCTAssertThrowsError(try ImageFolder(root: directory.appendingPathComponent("missing")))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("root/empty-class"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolder(root: directory.appendingPathComponent("root"))) { error in
            XCTAssertTrue("\(error)".contains("empty-class"), "\(error)")
        }
        // A corrupt file fails when it is decoded, and the loader reports it by name.
        try write(pattern(height: 2, width: 2, seed: 0), "root/empty-class/good.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]).write(
            to: directory.appendingPathComponent("root/empty-class/broken.png"))
        let dataset = try ImageFolder(root: directory.appendingPathComponent("root"))
        let loader = DataLoader(dataset, batchSize: 1, workers: 2)
        XCTAssertThrowsError(try loader.forEachBatch(epoch: 0) { _ in }) { error in
            XCTAssertTrue("\(error)".contains("broken.png"), "\(error)")
        }
    }

    func testSegmentationFolderWithThresholdAndClassIndices() throws {
        let (h, w) = (6, 7)
        var labelValues = [UInt8]()
        for i in 0..<3 {
            try write(pattern(height: h, width: w, channels: 1, seed: i), "seg/image/\(i).png")
            labelValues = (0..<(h * w)).map { ($0 + i) % 3 == 0 ? 255 : 0 }
            try write(Image(height: h, width: w, channels: 1, pixels: labelValues), "seg/label/\(i).png")
        }
        let dataset = try SegmentationFolder(root: directory.appendingPathComponent("seg"), encoding: .threshold(128),
                                             classNames: ["membrane", "cell"])
        XCTAssertEqual(dataset.count, 3)
        let sample = try dataset.sample(at: 2)
        XCTAssertEqual(sample.image.channels, 1)
        XCTAssertEqual(sample.mask?.labels, labelValues.map { $0 == 255 ? 1 : 0 })
        XCTAssertEqual(sample.image.pixels, pattern(height: h, width: w, channels: 1, seed: 2).pixels.map { Float($0) / 255 })

        // Class-index masks under mask/, checked against the class count.
        try write(pattern(height: 3, width: 3, seed: 9), "indexed/images/x.jpg.png")
        try write(Image(height: 3, width: 3, channels: 1, pixels: [0, 1, 2, 2, 1, 0, 0, 0, 1]), "indexed/mask/x.jpg.png")
        let indexed = try SegmentationFolder(root: directory.appendingPathComponent("indexed"), classNames: ["a", "b", "c"])
        XCTAssertEqual(try indexed.sample(at: 0).mask?.labels, [0, 1, 2, 2, 1, 0, 0, 0, 1])
        XCTAssertEqual(try indexed.sample(at: 0).image.channels, 3)
        let tooFewClasses = try SegmentationFolder(root: directory.appendingPathComponent("indexed"), classNames: ["a", "b"])
        XCTAssertThrowsError(try tooFewClasses.sample(at: 0)) { error in
            XCTAssertTrue("\(error)".contains("label value 2"), "\(error)")
        }

        // A missing or mis-sized label is an error naming the file.
        try write(pattern(height: h, width: w, channels: 1, seed: 5), "seg/image/orphan.png")
        XCTAssertThrowsError(try SegmentationFolder(root: directory.appendingPathComponent("seg"))) { error in
            XCTAssertTrue("\(error)".contains("orphan.png"), "\(error)")
        }
        try write(Image(height: h, width: w + 1, channels: 1, repeating: 0), "seg/label/orphan.png")
        let misSized = try SegmentationFolder(root: directory.appendingPathComponent("seg"))
        let orphan = try XCTUnwrap(misSized.pairs.firstIndex { $0.image.lastPathComponent == "orphan.png" })
        XCTAssertThrowsError(try misSized.sample(at: orphan)) { error in
            XCTAssertTrue("\(error)".contains("orphan.png"), "\(error)")
        }
    }

    func testCatalogueReadsACIFARImageFolderTree() throws {
        for (k, name) in ["cat", "dog"].enumerated() {
            try write(pattern(height: 32, width: 32, seed: k), "data/cifar10/test/\(name)/0001.png")
        }
        let dataset = try DatasetCatalog.load("cifar", split: .test, environment: ["VISION_DATA": directory.appendingPathComponent("data").path],
                                              workingDirectory: directory)
        XCTAssertEqual(dataset.classNames, ["cat", "dog"])
        XCTAssertEqual(dataset.count, 2)
    }

    func testISBIMembraneTrainingSet() throws {
        let shared = packageRoot().deletingLastPathComponent().appendingPathComponent("shared/datasets")
        guard FileManager.default.fileExists(atPath: shared.appendingPathComponent("isbi2012-membrane/train/image").path) else {
            throw XCTSkip("../shared/datasets/isbi2012-membrane is not present")
        }
        let dataset = try DatasetCatalog.load("isbi2012", split: .train, environment: ["VISION_DATA": shared.path],
                                              workingDirectory: directory)
        XCTAssertEqual(dataset.count, 25)
        XCTAssertEqual(dataset.classNames, ["membrane", "cell"])
        let sample = try dataset.sample(at: 0)
        XCTAssertEqual([sample.image.channels, sample.image.height, sample.image.width], [1, 512, 512])
        let mask = try XCTUnwrap(sample.mask)
        XCTAssertEqual(Set(mask.labels), [0, 1])
        let cellFraction = Double(mask.labels.reduce(0, +)) / Double(mask.labels.count)
        XCTAssertTrue(cellFraction > 0.5 && cellFraction < 0.95, "cells cover most of the slice: \(cellFraction)")
    }
}
