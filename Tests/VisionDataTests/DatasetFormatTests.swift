import Foundation
import TestSupport
import VisionCore
import VisionData
import XCTest

/// Deterministic record bytes for image `index`.
func syntheticPixels(_ index: Int, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index &* 31) }
}

func writeBytes(_ bytes: [UInt8], to url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
}

func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// Gzips a file with /usr/bin/gzip (kept beside it as `.gz`); nil when gzip is not installed.
func gzipFile(_ url: URL) throws -> URL? {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
    process.arguments = ["-f", "-k", "-n", url.path]
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? URL(fileURLWithPath: url.path + ".gz") : nil
}

final class DatasetFormatTests: XCTestCase {
    var directory: URL!

    override func setUp() { directory = temporaryDirectory("vision-data") }
    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    // MARK: CIFAR

    func writeCIFAR10(_ root: URL, recordsPerBatch: Int) throws {
        for (b, name) in ((1...5).map { "data_batch_\($0).bin" } + ["test_batch.bin"]).enumerated() {
            var bytes = [UInt8]()
            for r in 0..<recordsPerBatch {
                let index = b * recordsPerBatch + r
                bytes.append(UInt8(index % 10))
                bytes += syntheticPixels(index, count: 3072)
            }
            try writeBytes(bytes, to: root.appendingPathComponent(name))
        }
    }

    func testCIFAR10RoundTrip() throws {
        let root = directory.appendingPathComponent("cifar-10-batches-bin")
        try writeCIFAR10(root, recordsPerBatch: 2)
        let train = try CIFAR10(directory: directory, split: .train)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.classNames, CIFAR10.builtInClassNames)
        for index in [0, 3, 9] {
            let sample = try train.sample(at: index)
            XCTAssertEqual(sample.label, index % 10)
            XCTAssertEqual([sample.image.channels, sample.image.height, sample.image.width], [3, 32, 32])
            let bytes = syntheticPixels(index, count: 3072)
            // Planar R, G, B: byte 1024·c + 32·y + x.
            XCTAssertEqual(sample.image[2, 5, 7], Float(bytes[2048 + 5 * 32 + 7]) / 255)
            XCTAssertEqual(sample.image.pixels, bytes.map { Float($0) / 255 })
        }
        try "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".write(to: root.appendingPathComponent("batches.meta.txt"), atomically: true, encoding: .utf8)
        let test = try CIFAR10(directory: root, split: .test)
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(try test.sample(at: 1).label, 11 % 10)
        XCTAssertEqual(test.classNames.first, "a")
        // A names file that does not list one name per class is an error naming it, not silently replaced.
        for bad in ["a\nb\nc\n", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n", "a\na\nc\nd\ne\nf\ng\nh\ni\nj\n"] {
            try bad.write(to: root.appendingPathComponent("batches.meta.txt"), atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try CIFAR10(directory: root, split: .test)) { error in
                XCTAssertTrue("\(error)".contains("batches.meta.txt"), "\(error)")
            }
        }
    }

    func testTruncatedCIFARFileIsAnErrorNamingIt() throws {
        let file = directory.appendingPathComponent("test_batch.bin")
        try writeBytes([UInt8](repeating: 1, count: 3073 * 2 - 5), to: file)
        XCTAssertThrowsError(try CIFAR10(files: [file])) { error in
            XCTAssertTrue("\(error)".contains("test_batch.bin"), "\(error)")
            XCTAssertTrue("\(error)".contains("3073"), "\(error)")
        }
        try writeBytes([10] + [UInt8](repeating: 0, count: 3072), to: file)
        XCTAssertThrowsError(try CIFAR10(files: [file])) { error in
            XCTAssertTrue("\(error)".contains("label 10"), "\(error)")
        }
        XCTAssertThrowsError(try CIFAR10(directory: directory.appendingPathComponent("nowhere"), split: .train))
    }

    func testCIFAR100RoundTrip() throws {
        let root = directory.appendingPathComponent("cifar-100-binary")
        var bytes = [UInt8]()
        for index in 0..<3 {
            bytes += [UInt8(index * 5), UInt8(index * 33)]
            bytes += syntheticPixels(index, count: 3072)
        }
        try writeBytes(bytes, to: root.appendingPathComponent("train.bin"))
        let fine = try CIFAR100(directory: directory, split: .train)
        XCTAssertEqual(fine.count, 3)
        XCTAssertEqual(fine.classNames.count, 100)
        XCTAssertEqual(try fine.sample(at: 2).label, 66)
        XCTAssertEqual(fine.classNames[66], "raccoon")
        XCTAssertEqual(try fine.sample(at: 1).image.pixels, syntheticPixels(1, count: 3072).map { Float($0) / 255 })
        let coarse = try CIFAR100(directory: root, split: .train, labelKind: .coarse)
        XCTAssertEqual(try coarse.sample(at: 2).label, 10)
        XCTAssertEqual(coarse.classNames.count, 20)
        try writeBytes(bytes.dropLast(), to: root.appendingPathComponent("test.bin"))
        XCTAssertThrowsError(try CIFAR100(directory: root, split: .test)) { error in
            XCTAssertTrue("\(error)".contains("test.bin"), "\(error)")
        }
    }

    // MARK: IDX

    func writeIDX(count: Int, labelCount: Int? = nil, magic: UInt32 = 0x803, prefix: String = "train") throws -> (URL, URL) {
        let images = directory.appendingPathComponent("\(prefix)-images-idx3-ubyte")
        let labels = directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte")
        var imageBytes = bigEndian(magic) + bigEndian(UInt32(count)) + bigEndian(4) + bigEndian(3)
        for index in 0..<count { imageBytes += syntheticPixels(index, count: 12) }
        let n = labelCount ?? count
        try writeBytes(imageBytes, to: images)
        try writeBytes(bigEndian(0x801) + bigEndian(UInt32(n)) + (0..<n).map { UInt8($0 % 10) }, to: labels)
        return (images, labels)
    }

    func checkIDXSamples(_ dataset: MNIST, count: Int) throws {
        XCTAssertEqual(dataset.count, count)
        XCTAssertEqual([dataset.height, dataset.width], [4, 3])
        for index in 0..<count {
            let sample = try dataset.sample(at: index)
            XCTAssertEqual(sample.label, index % 10)
            XCTAssertEqual(sample.image.pixels, syntheticPixels(index, count: 12).map { Float($0) / 255 })
        }
    }

    func testIDXPlainAndGzipRoundTrip() throws {
        let (images, labels) = try writeIDX(count: 5)
        try checkIDXSamples(MNIST(imagesFile: images, labelsFile: labels), count: 5)
        guard let gzImages = try gzipFile(images), let gzLabels = try gzipFile(labels) else {
            throw XCTSkip("/usr/bin/gzip is not available")
        }
        let gzipped = try MNIST(imagesFile: gzImages, labelsFile: gzLabels)
        try checkIDXSamples(gzipped, count: 5)
        // The directory form prefers the plain file and falls back to .gz; names follow the variant.
        try FileManager.default.removeItem(at: images)
        let fashion = try MNIST(directory: directory, split: .train, variant: .fashion)
        try checkIDXSamples(fashion, count: 5)
        XCTAssertEqual(fashion.classNames[9], "Ankle boot")
        XCTAssertEqual(fashion.classNames[0], "T-shirt/top")
        // A truncated gzip stream is an error naming the file.
        let compressed = try Data(contentsOf: gzImages)
        try compressed.prefix(compressed.count - 12).write(to: gzImages)
        XCTAssertThrowsError(try MNIST(imagesFile: gzImages, labelsFile: gzLabels)) { error in
            XCTAssertTrue("\(error)".contains("train-images-idx3-ubyte.gz"), "\(error)")
        }
    }

    func testIDXErrors() throws {
        let (badMagic, labels) = try writeIDX(count: 3, magic: 0x802)
        XCTAssertThrowsError(try MNIST(imagesFile: badMagic, labelsFile: labels)) { error in
            XCTAssertTrue("\(error)".contains("magic"), "\(error)")
            XCTAssertTrue("\(error)".contains("train-images-idx3-ubyte"), "\(error)")
        }
        let (images, mismatched) = try writeIDX(count: 3, labelCount: 4, prefix: "t10k")
        XCTAssertThrowsError(try MNIST(imagesFile: images, labelsFile: mismatched)) { error in
            XCTAssertTrue("\(error)".contains("4 labels for 3 images"), "\(error)")
        }
        var truncated = try Data(contentsOf: images)
        truncated.removeLast()
        try truncated.write(to: images)
        XCTAssertThrowsError(try MNIST(imagesFile: images, labelsFile: mismatched)) { error in
            XCTAssertTrue("\(error)".contains("header implies 36"), "\(error)")
        }
        // No images, or images without pixels: an error naming the file, not a trap when a sample is read.
        let (empty, noLabels) = try writeIDX(count: 0)
        XCTAssertThrowsError(try MNIST(imagesFile: empty, labelsFile: noLabels)) { error in
            XCTAssertTrue("\(error)".contains("train-images-idx3-ubyte") && "\(error)".contains("0 images"), "\(error)")
        }
        let flat = directory.appendingPathComponent("flat-images-idx3-ubyte")
        try writeBytes(bigEndian(0x803) + bigEndian(2) + bigEndian(0) + bigEndian(3), to: flat)
        let (_, twoLabels) = try writeIDX(count: 2, prefix: "two")
        XCTAssertThrowsError(try MNIST(imagesFile: flat, labelsFile: twoLabels)) { error in
            XCTAssertTrue("\(error)".contains("flat-images-idx3-ubyte") && "\(error)".contains("0×3"), "\(error)")
        }
    }

    func testFashionMNISTFromTheDebianPackage() throws {
        let installed = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        guard FileManager.default.fileExists(atPath: installed.path) else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        let test = try DatasetCatalog.load("fashion-mnist", split: .test, environment: [:], workingDirectory: directory)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.classNames, MNIST.fashionClassNames)
        let sample = try test.sample(at: 0)
        XCTAssertEqual([sample.image.channels, sample.image.height, sample.image.width], [1, 28, 28])
        XCTAssertEqual(sample.label, 9)  // the first test image is an ankle boot
        XCTAssertTrue(sample.image.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    // MARK: Catalogue

    func testMissingDatasetSaysWhereItLookedAndHowToGetIt() {
        let dataRoot = directory.appendingPathComponent("data-root")
        XCTAssertThrowsError(try DatasetCatalog.load("cifar", split: .train, environment: ["VISION_DATA": dataRoot.path],
                                                     workingDirectory: directory)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(dataRoot.appendingPathComponent("cifar-10-batches-bin").path), message)
            XCTAssertTrue(message.contains(directory.appendingPathComponent("datasets").path), message)
            XCTAssertTrue(message.contains("scripts/download-cifar10"), message)
        }
        XCTAssertThrowsError(try DatasetCatalog.load("cifar100", split: .train, environment: [:], workingDirectory: directory)) { error in
            XCTAssertTrue("\(error)".contains("cifar-100-binary"), "\(error)")
        }
        XCTAssertThrowsError(try DatasetCatalog.load("no-such-set", split: .train, environment: [:], workingDirectory: directory)) { error in
            XCTAssertTrue("\(error)".contains("fashion-mnist"), "the message lists the known names: \(error)")
        }
    }

    func testCatalogueFindsCIFARUnderVisionDataThenDatasets() throws {
        let local = directory.appendingPathComponent("datasets/cifar-10-batches-bin")
        try writeCIFAR10(local, recordsPerBatch: 1)
        let found = try DatasetCatalog.load("cifar", split: .test, environment: ["VISION_DATA": "/nonexistent"],
                                            workingDirectory: directory)
        XCTAssertEqual(found.count, 1)
        let dataRoot = directory.appendingPathComponent("elsewhere")
        try writeCIFAR10(dataRoot.appendingPathComponent("cifar-10-batches-bin"), recordsPerBatch: 3)
        let preferred = try DatasetCatalog.load("cifar10", split: .train, environment: ["VISION_DATA": dataRoot.path],
                                                workingDirectory: directory)
        XCTAssertEqual(preferred.count, 15)
    }

    // MARK: Splits

    func testRandomSplitIsDeterministicAndDisjoint() throws {
        let dataset = ArrayDataset((0..<23).map { Sample(image: FloatImage(channels: 1, height: 1, width: 1, value: Float($0)), label: $0 % 3) })
        let parts = randomSplit(dataset, fractions: [0.8, 0.2], seed: 42)
        XCTAssertEqual(parts.map(\.count), [19, 4])
        XCTAssertEqual(Set(parts[0].indices).union(parts[1].indices), Set(0..<23))
        XCTAssertTrue(Set(parts[0].indices).isDisjoint(with: parts[1].indices))
        XCTAssertEqual(randomSplit(dataset, fractions: [0.8, 0.2], seed: 42)[1].indices, parts[1].indices)
        XCTAssertNotEqual(randomSplit(dataset, fractions: [0.8, 0.2], seed: 43)[0].indices, parts[0].indices)
        let counted = randomSplit(dataset, counts: [10, 10, 3], seed: 1)
        XCTAssertEqual(counted.map(\.count), [10, 10, 3])
        let index = counted[2].indices[1]
        XCTAssertEqual(try counted[2].sample(at: 1).label, index % 3)
        XCTAssertEqual(try counted[2].sample(at: 1).image.pixels, [Float(index)])
    }
}
