import Foundation
import TestSupport
import VisionCore
import VisionImage
import VisionTools
import XCTest

/// `vision train unet` on a segmentation folder, then `segment` and `evaluate` with the run.
final class SegmentCLITests: XCTestCase {
    static var workspace: URL?
    static var trained: Result<(data: URL, run: URL), Error>?

    override class func tearDown() {
        if let workspace { try? FileManager.default.removeItem(at: workspace) }
        workspace = nil
        trained = nil
        super.tearDown()
    }

    func workspace() -> URL {
        if let w = Self.workspace { return w }
        let w = temporaryDirectory("vision-cli-segment")
        Self.workspace = w
        return w
    }

    struct TrainingFailed: Error, CustomStringConvertible { let description: String }

    /// A tiny U-Net (base 4, depth 2) trained for one epoch on six 16×16 images, shared by the tests.
    func trainedRun() throws -> (data: URL, run: URL) {
        if let trained = Self.trained { return try trained.get() }
        let root = workspace()
        let data = root.appendingPathComponent("cells"), run = root.appendingPathComponent("unet-run")
        let result = Result { () throws -> (data: URL, run: URL) in
            try TestData.writeSegmentationFolder(data, count: 6, side: 16, seed: 5)
            let output = try VisionCLI.run(["train", "unet", "--data", data.path, "--base", "4", "--depth", "2", "--image-size", "16",
                                            "--epochs", "1", "--batch-size", "2", "--lr", "0.01", "--workers", "0", "-o", run.path])
            guard output.status == 0 else {
                throw TrainingFailed(description: "vision train unet failed (status \(output.status)):\n\(output.stdout)\n\(output.stderr)")
            }
            XCTAssertTrue(output.stdout.contains("mIoU"), "segmentation epochs report the mean IoU:\n\(output.stdout)")
            return (data, run)
        }
        Self.trained = result
        return try result.get()
    }

    /// Classification-only augmentation options are refused for segmentation instead of being ignored.
    func testClassificationAugmentationOptionsAreRefusedForSegmentation() throws {
        let (data, _) = try trainedRun()
        let out = workspace().appendingPathComponent("unet-refused")
        let base = ["train", "unet", "--data", data.path, "--base", "4", "--depth", "2", "--workers", "0", "-o", out.path]
        try VisionCLI.fail(base + ["--erasing", "0.5"], mentioning: ["--erasing", "classification"])
        try VisionCLI.fail(base + ["--crop-padding", "4", "--augment", "trivial"], mentioning: ["--crop-padding", "--augment trivial"])
        try VisionCLI.fail(base + ["--augment", "auto-cifar10"], mentioning: ["--augment auto-cifar10", "applies to classification"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("run.json").path))
    }

    /// A run.json whose model options cannot build the network is refused with the field named (not a trap).
    func testModelOptionsFromAFileAreChecked() throws {
        let (data, run) = try trainedRun()
        let copy = workspace().appendingPathComponent("unet-edited")
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: run, to: copy)
        let url = copy.appendingPathComponent("run.json")
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var config = try XCTUnwrap(json["config"] as? [String: Any])
        var options = try XCTUnwrap(config["modelOptions"] as? [String: Any])
        options["depth"] = 0
        config["modelOptions"] = options
        json["config"] = config
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        try VisionCLI.fail(["evaluate", "--weights", copy.path, "--data", data.path, "--workers", "0"], mentioning: ["modelOptions.depth 0"])
    }

    func testTrainingASegmentationFolderRecordsTheTaskAndIoU() throws {
        let (_, run) = try trainedRun()
        let record = try Checkpoint.readRecord(run)
        XCTAssertEqual(record.config.task, .segmentation)
        XCTAssertEqual(record.config.classNames, ["background", "foreground"], "0/255 masks are two classes")
        XCTAssertEqual(record.config.preprocessing.channels, 1)
        XCTAssertNil(record.config.preprocessing.size, "segmentation keeps the image size")
        XCTAssertEqual(record.config.modelOptions.base, 4)
        XCTAssertEqual(record.config.modelOptions.depth, 2)
        let epoch = try XCTUnwrap(record.state.history.first)
        XCTAssertNotNil(epoch.validationMeanIoU)
        XCTAssertNotNil(epoch.validationDice)
        let csv = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let line = try XCTUnwrap(csv.split(separator: "\n").dropFirst().first)
        XCTAssertNotEqual(line.split(separator: ",", omittingEmptySubsequences: false)[6], "", "val_mean_iou is filled")
    }

    /// --tile segments in tiles with context margins and writes the same mask and (to rounding) probabilities.
    func testSegmentInTilesMatchesTheWholeImage() throws {
        let (_, run) = try trainedRun()
        let out = workspace().appendingPathComponent("segment-tiles")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let input = out.appendingPathComponent("wide.png")
        try TestData.writeRGB(input, height: 90, width: 130) { y, x in ((x / 9 + y / 7) % 3 == 0) ? (220, 210, 200) : (30, 40, 50) }
        var masks: [[UInt8]] = [], probabilities: [[Float]] = []
        for tile in [nil, "16"] as [String?] {
            let mask = out.appendingPathComponent("mask-\(tile ?? "whole").png"), npy = out.appendingPathComponent("p-\(tile ?? "whole").npy")
            let result = try VisionCLI.succeed(["segment", input.path, "--weights", run.path, "-o", mask.path, "--probabilities", npy.path]
                                               + (tile.map { ["--tile", $0] } ?? []))
            XCTAssertEqual(result.stdout.contains("in tiles of 16×16 pixels"), tile != nil, result.stdout)
            masks.append(try TestData.decode(mask).pixels)
            probabilities.append(try Npy.read(contentsOf: npy).storage)
        }
        XCTAssertLessThan(zip(probabilities[0], probabilities[1]).map { abs($0 - $1) }.max() ?? 1, 1e-4)
        // The same mask wherever the two classes are not tied to within rounding.
        for i in masks[0].indices where abs(probabilities[0][i] - 0.5) > 1e-4 {
            XCTAssertEqual(masks[0][i], masks[1][i], "pixel \(i)")
        }
        try VisionCLI.fail(["segment", input.path, "--weights", run.path, "-o", out.appendingPathComponent("m.png").path, "--tile", "8"],
                           mentioningValidation: ["--tile"])

        // --tta flip (here in tiles) is the mean of the image's probabilities and the mirrored image's, mirrored back.
        let mirror = out.appendingPathComponent("mirror.png")
        try TestData.writeRGB(mirror, height: 90, width: 130) { y, x in (((129 - x) / 9 + y / 7) % 3 == 0) ? (220, 210, 200) : (30, 40, 50) }
        let mirroredProbabilities = out.appendingPathComponent("p-mirror.npy"), flipped = out.appendingPathComponent("p-flip.npy")
        try VisionCLI.succeed(["segment", mirror.path, "--weights", run.path, "-o", out.appendingPathComponent("m1.png").path,
                               "--probabilities", mirroredProbabilities.path])
        try VisionCLI.succeed(["segment", input.path, "--weights", run.path, "-o", out.appendingPathComponent("m2.png").path,
                               "--probabilities", flipped.path, "--tta", "flip", "--tile", "64"])
        let back = try Npy.read(contentsOf: mirroredProbabilities).flip(axes: [-1]).storage
        let expected = zip(probabilities[0], back).map { ($0 + $1) / 2 }
        XCTAssertLessThan(zip(try Npy.read(contentsOf: flipped).storage, expected).map { abs($0 - $1) }.max() ?? 1, 1e-4)
    }

    func testSegmentWritesMaskOverlayAndProbabilitiesAtTheInputSize() throws {
        let (_, run) = try trainedRun()
        let out = workspace().appendingPathComponent("segment-out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // An RGB image of an odd size (the network pads and crops; colour becomes gray).
        let (width, height) = (19, 13)
        let input = out.appendingPathComponent("input.png")
        try TestData.writeRGB(input, height: height, width: width) { y, x in
            (x > 5 && x < 14 && y > 3 && y < 10) ? (210, 200, 190) : (40, 50, 60)
        }
        let mask = out.appendingPathComponent("mask.png"), overlay = out.appendingPathComponent("overlay.png")
        let npy = out.appendingPathComponent("probabilities.npy")
        // Every output is checked before any is written: a mistyped --overlay directory leaves no mask behind.
        let missing = out.appendingPathComponent("no-such-dir/overlay.png")
        try VisionCLI.fail(["segment", input.path, "--weights", run.path, "-o", mask.path, "--overlay", missing.path],
                           mentioning: ["--overlay", "no-such-dir", "does not exist"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: mask.path), "no mask is written when an output cannot be")
        try VisionCLI.fail(["segment", input.path, "--weights", run.path, "-o", out.path],
                           mentioning: ["-o", out.path, "is a directory"])
        let result = try VisionCLI.succeed(["segment", input.path, "--weights", run.path, "-o", mask.path,
                                            "--overlay", overlay.path, "--probabilities", npy.path])
        XCTAssertTrue(result.stdout.contains("mask \(width)×\(height), 2 classes"), result.stdout)

        let maskImage = try TestData.decode(mask)
        XCTAssertEqual([maskImage.width, maskImage.height, maskImage.channels], [width, height, 1])
        XCTAssertTrue(maskImage.pixels.allSatisfy { $0 == 0 || $0 == 255 }, "two classes are stored as 0 and 255")
        let overlayImage = try TestData.decode(overlay)
        XCTAssertEqual([overlayImage.width, overlayImage.height, overlayImage.channels], [width, height, 3])

        // The .npy header declares little-endian Float32 [classes, H, W] and the file holds exactly that.
        let bytes = [UInt8](try Data(contentsOf: npy))
        XCTAssertEqual(Array(bytes[0..<6]), [0x93] + Array("NUMPY".utf8))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'descr': '<f4'"), header)
        XCTAssertTrue(header.contains("'shape': (2, \(height), \(width))"), header)
        XCTAssertEqual(bytes.count, 10 + headerLength + 2 * height * width * 4)
        let probabilities = try Npy.read(contentsOf: npy)
        XCTAssertEqual(probabilities.shape, [2, height, width])
        let plane = height * width
        for i in 0..<plane {
            let (p0, p1) = (probabilities.storage[i], probabilities.storage[plane + i])
            XCTAssertEqual(p0 + p1, 1, accuracy: 1e-5)
            // The mask is the argmax of the probabilities.
            if abs(p0 - p1) > 1e-4 { XCTAssertEqual(maskImage.pixels[i], p1 > p0 ? 255 : 0, "pixel \(i)") }
        }

        // --class-indices stores 0/1.
        let indices = out.appendingPathComponent("indices.png")
        try VisionCLI.succeed(["segment", input.path, "--weights", run.path, "-o", indices.path, "--class-indices"])
        let indexImage = try TestData.decode(indices)
        XCTAssertEqual(indexImage.pixels, maskImage.pixels.map { $0 == 255 ? 1 : 0 })
    }

    func testThreeClassMasksSpreadGrayLevelsUpTo255() throws {
        // A three-class folder (masks hold class indices 0, 1, 2), a one-epoch U-Net, then weights whose head
        // ignores its input (zero weight) and prefers one class through its bias: the whole mask is that class.
        let root = workspace().appendingPathComponent("three-classes")
        let images = root.appendingPathComponent("image"), labels = root.appendingPathComponent("label")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        for k in 0..<4 {
            let classOf = { (x: Int) in x < 5 ? 0 : (x < 11 ? 1 : 2) }
            var pixels = [UInt8](), mask = [UInt8]()
            for _ in 0..<16 {
                for x in 0..<16 { pixels.append(UInt8(30 + 90 * classOf(x) + k)); mask.append(UInt8(classOf(x))) }
            }
            let name = "\(k).png"
            try ImageIO.writePNG(Image(height: 16, width: 16, channels: 1, pixels: pixels), to: images.appendingPathComponent(name))
            try ImageIO.writePNG(Image(height: 16, width: 16, channels: 1, pixels: mask), to: labels.appendingPathComponent(name))
        }
        let run = workspace().appendingPathComponent("three-class-run")
        try VisionCLI.succeed(["train", "unet", "--data", root.path, "--base", "4", "--depth", "2", "--image-size", "16",
                               "--epochs", "1", "--batch-size", "2", "--workers", "0", "-o", run.path])
        let (config, model) = try Checkpoint.loadModel(run.path)
        XCTAssertEqual(config.classNames, ["class0", "class1", "class2"])
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor) })
        let weight = try XCTUnwrap(parameters["head.weight"]), bias = try XCTUnwrap(parameters["head.bias"])
        weight.storage = [Float](repeating: 0, count: weight.count)
        let input = images.appendingPathComponent("0.png")
        for (winner, gray) in [(0, 0), (1, 127), (2, 255)] {
            bias.storage = (0..<3).map { $0 == winner ? 5 : 0 }
            let weights = workspace().appendingPathComponent("class\(winner).safetensors")
            try Checkpoint.saveWeights(model, config: config, to: weights)
            let mask = workspace().appendingPathComponent("mask\(winner).png"), indices = workspace().appendingPathComponent("indices\(winner).png")
            try VisionCLI.succeed(["segment", input.path, "--weights", weights.path, "-o", mask.path])
            try VisionCLI.succeed(["segment", input.path, "--weights", weights.path, "-o", indices.path, "--class-indices"])
            XCTAssertEqual(Set(try TestData.decode(mask).pixels), [UInt8(gray)], "class \(winner) of 3 is gray level \(gray)")
            XCTAssertEqual(Set(try TestData.decode(indices).pixels), [UInt8(winner)])
        }
    }

    func testEvaluateReportsIoUAndDiceForSegmentation() throws {
        let (data, run) = try trainedRun()
        let result = try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", data.path, "--workers", "0"])
        for text in ["pixel accuracy:", "mean IoU:", "mean Dice:", "background", "foreground"] {
            XCTAssertTrue(result.stdout.contains(text), "missing '\(text)':\n\(result.stdout)")
        }
        // Test-time flips: the same report, scored with the mirror images averaged in.
        let flipped = try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", data.path, "--workers", "0", "--tta", "flip"])
        XCTAssertTrue(flipped.stdout.contains("averaged with the mirror images"), flipped.stdout)
        XCTAssertTrue(flipped.stdout.contains("mean IoU:"), flipped.stdout)
        try VisionCLI.fail(["evaluate", "--weights", run.path, "--data", data.path, "--tta", "five-crop"], mentioningValidation: ["--tta", "flip"])
    }

    func testEvaluateRefusesMasksWithMoreClassesThanTheModel() throws {
        let (_, run) = try trainedRun()
        // Class-index masks 0…4 against the two-class run.
        let root = workspace().appendingPathComponent("five-classes")
        let images = root.appendingPathComponent("image"), labels = root.appendingPathComponent("label")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        for k in 0..<2 {
            let mask = (0..<(16 * 16)).map { UInt8($0 % 5) }
            try ImageIO.writePNG(Image(height: 16, width: 16, channels: 1, pixels: mask.map { 40 * $0 + UInt8(k) }),
                                 to: images.appendingPathComponent("\(k).png"))
            try ImageIO.writePNG(Image(height: 16, width: 16, channels: 1, pixels: mask), to: labels.appendingPathComponent("\(k).png"))
        }
        try VisionCLI.fail(["evaluate", "--weights", run.path, "--data", root.path, "--workers", "0"],
                           mentioning: ["five-classes", "up to 4", "2 classes"])
    }

    func testClassifierAndSegmenterMismatchesAreExplained() throws {
        let (data, run) = try trainedRun()
        try VisionCLI.fail(["train", "resnet20", "--data", data.path, "--epochs", "1", "--workers", "0",
                            "-o", workspace().appendingPathComponent("never").path],
                           mentioning: ["resnet20", "segmentation"])
        try VisionCLI.fail(["train", "unet", "--data", data.path, "--base", "4", "--depth", "2", "--image-size", "16", "--epochs", "1",
                            "--workers", "0", "--mixup-alpha", "0.2", "-o", workspace().appendingPathComponent("never").path],
                           mentioning: ["--mixup-alpha", "segmentation"])
        try VisionCLI.fail(["predict", data.appendingPathComponent("image/00.png").path, "--weights", run.path],
                           mentioning: ["segment"])
        // RGB class folders against a 1-channel U-Net: the kind of data is the problem, not the channels.
        let colours = workspace().appendingPathComponent("colours-for-unet")
        try TestData.writeClassFolder(colours, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 2)
        try VisionCLI.fail(["evaluate", "--weights", run.path, "--data", colours.path, "--workers", "0"],
                           mentioning: ["segmentation", "classification"])
    }
}
