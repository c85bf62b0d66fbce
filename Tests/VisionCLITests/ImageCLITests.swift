import Foundation
import TestSupport
import VisionCore
import VisionImage
import VisionTools
import XCTest

/// `vision sobel`, `convert`, `models`, and training on a named dataset (CIFAR-10 binary) found via VISION_DATA.
final class ImageCLITests: XCTestCase {
    var directory: URL!

    override func setUp() {
        super.setUp()
        directory = temporaryDirectory("vision-cli-image")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    func testSobelValidAndSamePaddingSizesAndRawMap() throws {
        // 7×5 gray image with a vertical step edge between columns 3 and 4.
        let input = directory.appendingPathComponent("step.png")
        try TestData.writeRGB(input, height: 5, width: 7) { _, x in x < 4 ? (20, 20, 20) : (220, 220, 220) }
        let valid = directory.appendingPathComponent("valid.png"), raw = directory.appendingPathComponent("valid.npy")
        let result = try VisionCLI.succeed(["sobel", input.path, "-o", valid.path, "--raw", raw.path])
        XCTAssertTrue(result.stdout.contains("magnitude edges 5×3"), result.stdout)
        let validImage = try TestData.decode(valid)
        XCTAssertEqual([validImage.width, validImage.height, validImage.channels], [5, 3, 1])
        // Columns of the valid map straddle the edge at output columns 2 and 3 (|Gx| = 4·200), elsewhere 0.
        for y in 0..<3 { XCTAssertEqual(Array(validImage.pixels[(y * 5)..<(y * 5 + 5)]), [0, 0, 255, 255, 0]) }
        let map = try Npy.read(contentsOf: raw)
        XCTAssertEqual(map.shape, [3, 5])
        XCTAssertEqual(Array(map.storage[0..<5]), [0, 0, 800, 800, 0])

        let same = directory.appendingPathComponent("same.png")
        try VisionCLI.succeed(["sobel", input.path, "-o", same.path, "--padding", "same", "--direction", "x"])
        let sameImage = try TestData.decode(same)
        XCTAssertEqual([sameImage.width, sameImage.height, sameImage.channels], [7, 5, 1])
    }

    /// `vision augment` tiles the unaugmented image and `-n` draws of the preset; a seed fixes the draws.
    func testAugmentPreviewTilesTheImageAndItsDraws() throws {
        let input = directory.appendingPathComponent("square.png")
        try TestData.writeRGB(input, height: 8, width: 8) { y, x in (UInt8(x * 30), UInt8(y * 30), UInt8((x + y) * 15)) }
        let grid = directory.appendingPathComponent("grid.png")
        let result = try VisionCLI.succeed(["augment", input.path, "--augment", "rand", "-n", "3", "--seed", "4", "-o", grid.path])
        XCTAssertTrue(result.stdout.contains("3 draws of --augment rand at 8×8"), result.stdout)
        // Four 8×8 tiles in a 2×2 grid with 2-pixel white borders.
        let image = try TestData.decode(grid)
        XCTAssertEqual([image.width, image.height, image.channels], [22, 22, 3])
        let source = try TestData.decode(input)
        for y in 0..<8 {
            for x in 0..<8 {
                let tile = Array(image.pixels[(((y + 2) * 22 + x + 2) * 3)..<(((y + 2) * 22 + x + 2) * 3 + 3)])
                XCTAssertEqual(tile, Array(source.pixels[((y * 8 + x) * 3)..<((y * 8 + x) * 3 + 3)]), "first tile is the image at (\(x), \(y))")
            }
        }
        let again = directory.appendingPathComponent("again.png"), other = directory.appendingPathComponent("other.png")
        try VisionCLI.succeed(["augment", input.path, "--augment", "rand", "-n", "3", "--seed", "4", "-o", again.path])
        try VisionCLI.succeed(["augment", input.path, "--augment", "rand", "-n", "3", "--seed", "5", "-o", other.path])
        XCTAssertEqual(try Data(contentsOf: grid), try Data(contentsOf: again))
        XCTAssertNotEqual(try Data(contentsOf: grid), try Data(contentsOf: other))
        try VisionCLI.fail(["augment", input.path, "--augment", "autoaugment", "-o", grid.path], mentioningValidation: ["--augment", "augmix"])
        let missing = directory.appendingPathComponent("missing.png").path
        try VisionCLI.fail(["augment", missing, "-o", directory.appendingPathComponent("none.png").path], mentioning: [missing])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("none.png").path))
    }

    /// Nothing is written until every layer is captured and checked; a layer's folder is replaced whole,
    /// so no channel image of an earlier run stays behind; two options naming one output file are refused.
    func testFeaturesWriteNothingUntilEveryLayerIsCheckedAndReplaceLayerFolders() throws {
        let input = directory.appendingPathComponent("photo.png")
        try TestData.writeRGB(input, height: 32, width: 32) { y, x in (UInt8(x * 7 % 256), UInt8(y * 5 % 256), 90) }
        let out = directory.appendingPathComponent("feats")
        try VisionCLI.fail(["features", input.path, "--model", "resnet20", "--filters", "--layers", "layer1,fc", "-o", out.path],
                           mentioning: ["fc", "[N, C, H, W]"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written for a failing layer list")
        let stale = out.appendingPathComponent("layer1/channel-999.png")
        try FileManager.default.createDirectory(at: stale.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data([1]).write(to: stale)
        try VisionCLI.succeed(["features", input.path, "--model", "resnet20", "--layer", "layer1", "-o", out.path])
        let files = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("layer1").path).sorted()
        XCTAssertEqual(files.count, 16, "resnet20's layer1 has 16 channels: \(files)")
        XCTAssertFalse(files.contains("channel-999.png"))
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: out.path).contains { $0.hasSuffix(".tmp") })

        try VisionCLI.fail(["sobel", input.path, "-o", directory.appendingPathComponent("e.png").path,
                            "--raw", directory.appendingPathComponent("e.png").path], mentioning: ["-o", "--raw", "both name"])
    }

    func testSobelRejectsTooSmallImagesForValidPadding() throws {
        let input = directory.appendingPathComponent("tiny.png")
        try TestData.writeRGB(input, height: 2, width: 5) { _, _ in (1, 2, 3) }
        try VisionCLI.fail(["sobel", input.path, "-o", directory.appendingPathComponent("o.png").path],
                           mentioning: ["tiny.png", "too small"])
    }

    func testConvertResizesAndConvertsToGray() throws {
        let input = directory.appendingPathComponent("colour.png")
        try TestData.writeRGB(input, height: 8, width: 12) { _, _ in (100, 50, 200) }
        let output = directory.appendingPathComponent("gray.png")
        let result = try VisionCLI.succeed(["convert", input.path, output.path, "--resize", "6x4", "--gray"])
        XCTAssertTrue(result.stdout.contains("(12×8×3)") && result.stdout.contains("(6×4×1)"), result.stdout)
        let image = try TestData.decode(output)
        XCTAssertEqual([image.width, image.height, image.channels], [6, 4, 1])
        // round(0.299·100 + 0.587·50 + 0.114·200) = round(82.05) = 82 everywhere.
        XCTAssertEqual(image.pixels, [UInt8](repeating: 82, count: 24))

        let jpeg = directory.appendingPathComponent("big.jpg")
        try VisionCLI.succeed(["convert", input.path, jpeg.path, "--resize", "24x16", "--quality", "95"])
        let decoded = try TestData.decode(jpeg)
        XCTAssertEqual([decoded.width, decoded.height, decoded.channels], [24, 16, 3])
        try VisionCLI.fail(["convert", input.path, directory.appendingPathComponent("x.bmp").path], mentioningValidation: [".png"])
    }

    func testConvertRefusesSizesTheOutputFormatCannotHold() throws {
        let input = directory.appendingPathComponent("small.png")
        try TestData.writeRGB(input, height: 4, width: 6) { _, _ in (10, 20, 30) }
        let jpeg = directory.appendingPathComponent("out.jpg"), png = directory.appendingPathComponent("out.png")
        try VisionCLI.fail(["convert", input.path, jpeg.path, "--resize", "70000x10"], mentioning: ["out.jpg", "70000×10", "65500"])
        try VisionCLI.fail(["convert", input.path, png.path, "--resize", "2000000x1"], mentioning: ["out.png", "2000000×1", "1000000"])
        try VisionCLI.fail(["convert", input.path, png.path, "--resize", "20000x20000"], mentioning: ["out.png", "20000×20000", "pixels"])
        // A legitimate 65535-pixel-wide PNG is too wide for JPEG.
        let wide = directory.appendingPathComponent("wide.png")
        try TestData.writeRGB(wide, height: 1, width: 65_535) { _, x in (UInt8(x % 256), 0, 0) }
        try VisionCLI.fail(["convert", wide.path, jpeg.path], mentioning: ["out.jpg", "65535×1", "65500"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: jpeg.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: png.path))
    }

    func testModelsListsEveryRegistryName() throws {
        let result = try VisionCLI.succeed(["models", "--input-size", "32"])
        let names = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
                     "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "resnet20", "resnet32", "resnet44",
                     "resnet56", "resnet110", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
                     "vgg19_bn", "unet"]
        let listed = Set(result.stdout.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) })
        XCTAssertEqual(listed, Set(names), result.stdout)
        // ResNet-20 has 0.27 M parameters (He et al. 2015, table 6).
        let resnet20 = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("resnet20 ") })
        let parameters = try XCTUnwrap(Int(resnet20.split(separator: " ")[1]))
        XCTAssertEqual(Double(parameters), 0.27e6, accuracy: 0.01e6)
    }

    func testTrainAndEvaluateOnCIFAR10BinaryFoundThroughVisionData() throws {
        let dataRoot = directory.appendingPathComponent("data")
        try TestData.writeCIFAR10(dataRoot, perBatch: 4, testRecords: 6, seed: 2)
        let run = directory.appendingPathComponent("run")
        let environment = ["VISION_DATA": dataRoot.path]
        let train = try VisionCLI.succeed(["train", "resnet20", "--data", "cifar", "--epochs", "1", "--batch-size", "8",
                                           "--workers", "1", "-o", run.path], environment: environment, in: directory)
        XCTAssertTrue(train.stdout.contains("training on 20 images"), train.stdout)
        XCTAssertTrue(train.stdout.contains("the test split (6 images)"), train.stdout)
        let config = try Checkpoint.readRecord(run).config
        XCTAssertEqual(config.classNames, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
        XCTAssertEqual(config.preprocessing.size, 32)
        XCTAssertEqual(config.preprocessing.mean, [0.4914, 0.4822, 0.4465], "CIFAR-10's own statistics")
        XCTAssertEqual(config.preprocessing.std, [0.2470, 0.2435, 0.2616])

        let evaluate = try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", "cifar", "--workers", "0"],
                                             environment: environment, in: directory)
        XCTAssertTrue(evaluate.stdout.contains("images: 6"), evaluate.stdout)
        XCTAssertTrue(evaluate.stdout.contains("top-5 accuracy:"), "ten classes report top-5:\n\(evaluate.stdout)")
        // Test-time flips: the same report, its confusion image beside the plain one's rather than over it.
        let plainConfusion = try Data(contentsOf: run.appendingPathComponent("confusion.png"))
        let flipped = try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", "cifar", "--workers", "0", "--tta", "flip"],
                                            environment: environment, in: directory)
        XCTAssertTrue(flipped.stdout.contains("averaged with the mirror images") && flipped.stdout.contains("images: 6"), flipped.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("confusion-flip.png").path))
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("confusion.png")), plainConfusion, "the plain run's image is untouched")
    }
}

extension VisionCLI {
    /// Argument validation errors use the same single `vision: error:` line as library errors.
    static func fail(_ arguments: [String], mentioningValidation mentions: [String], environment: [String: String] = [:],
                     in directory: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        try fail(arguments, mentioning: mentions, environment: environment, in: directory, file: file, line: line)
    }
}
