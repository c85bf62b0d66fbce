import Foundation
import TestSupport
import XCTest

/// Wrong input: a non-zero exit and one line naming the problem (never a crash or a stack trace).
final class ErrorCLITests: XCTestCase {
    var directory: URL!

    override func setUp() {
        super.setUp()
        directory = temporaryDirectory("vision-cli-errors")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    func testMissingImageFileIsNamed() throws {
        let missing = directory.appendingPathComponent("missing.png").path
        try VisionCLI.fail(["sobel", missing, "-o", directory.appendingPathComponent("out.png").path], mentioning: ["missing.png"])
        try VisionCLI.fail(["convert", missing, directory.appendingPathComponent("out.png").path], mentioning: ["missing.png"])
    }

    /// Outputs are checked before the work: sobel, convert and lr-find name the option and the missing directory.
    func testOutputsInMissingDirectoriesAreRefusedBeforeAnyWork() throws {
        let image = directory.appendingPathComponent("in.png")
        try TestData.writeRGB(image, height: 6, width: 7) { y, x in (UInt8(20 * y), UInt8(30 * x), 90) }
        let missing = directory.appendingPathComponent("absent")
        let good = directory.appendingPathComponent("edges.png")
        try VisionCLI.fail(["sobel", image.path, "-o", missing.appendingPathComponent("e.png").path],
                           mentioning: ["-o", missing.path, "does not exist"])
        try VisionCLI.fail(["sobel", image.path, "-o", good.path, "--raw", missing.appendingPathComponent("e.npy").path],
                           mentioning: ["--raw", "does not exist"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: good.path), "nothing is written when one output cannot be")
        try VisionCLI.fail(["convert", image.path, missing.appendingPathComponent("c.jpg").path], mentioning: ["output", "does not exist"])
        // A file where the output's directory should be.
        let file = directory.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        try VisionCLI.fail(["convert", image.path, file.appendingPathComponent("c.png").path], mentioning: [file.path, "is not a directory"])
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        try VisionCLI.fail(["lr-find", "resnet20", "--data", data.path, "-o", missing.appendingPathComponent("lr.png").path],
                           mentioning: ["-o", "does not exist"])
    }

    /// Options that would do nothing are refused at parse time.
    func testOptionsWithoutEffectAreRefused() throws {
        let image = directory.appendingPathComponent("in.png")
        try TestData.writeRGB(image, height: 6, width: 7) { y, x in (UInt8(20 * y), UInt8(30 * x), 90) }
        try VisionCLI.fail(["convert", image.path, directory.appendingPathComponent("out.png").path, "--quality", "50"],
                           mentioningValidation: ["--quality", "PNG"])
        let jpeg = directory.appendingPathComponent("out.jpg")
        try VisionCLI.succeed(["convert", image.path, jpeg.path, "--quality", "50"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: jpeg.path))
        try VisionCLI.fail(["features", "--model", "resnet20", "--filters", "--layer", "layer1", "-o", directory.appendingPathComponent("f").path],
                           mentioningValidation: ["--layer", "image"])
    }

    func testCorruptPNGIsNamed() throws {
        let corrupt = directory.appendingPathComponent("x.png")
        try Data("this is not a PNG file at all".utf8).write(to: corrupt)
        try VisionCLI.fail(["sobel", corrupt.path, "-o", directory.appendingPathComponent("out.png").path], mentioning: ["x.png"])
        // A PNG signature followed by garbage.
        let truncated = directory.appendingPathComponent("truncated.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8]).write(to: truncated)
        try VisionCLI.fail(["convert", truncated.path, directory.appendingPathComponent("out.png").path], mentioning: ["truncated.png"])
    }

    func testCorruptImageInsideADatasetIsNamed() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 3, side: 8, seed: 1)
        try Data("garbage".utf8).write(to: data.appendingPathComponent("red/broken.png"))
        try VisionCLI.fail(["train", "resnet20", "--data", data.path, "--epochs", "1", "--batch-size", "4", "--val-split", "0",
                            "--workers", "0", "-o", directory.appendingPathComponent("run").path],
                           mentioning: ["broken.png"])
    }

    func testUnknownModelNameListsTheZoo() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        try VisionCLI.fail(["train", "resnet999", "--data", data.path, "-o", directory.appendingPathComponent("run").path],
                           mentioning: ["resnet999", "resnet18", "unet"])
        try VisionCLI.fail(["lr-find", "alexnet", "--data", data.path], mentioning: ["alexnet"])
        try VisionCLI.fail(["features", "--model", "lenet", "--list"], mentioning: ["lenet"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("run").path),
                       "no run directory for a failed start")
    }

    func testBadOptionValuesAreRejectedBeforeAnyWork() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        let base = ["train", "resnet20", "--data", data.path, "-o", directory.appendingPathComponent("run").path]
        try VisionCLI.fail(base + ["--epochs", "0"], mentioningValidation: ["--epochs"])
        try VisionCLI.fail(base + ["--batch-size", "0"], mentioningValidation: ["--batch-size"])
        try VisionCLI.fail(base + ["--lr", "0"], mentioningValidation: ["--lr"])
        try VisionCLI.fail(base + ["--val-split", "1.5"], mentioningValidation: ["--val-split"])
        try VisionCLI.fail(base + ["--erasing", "2"], mentioningValidation: ["--erasing"])
        try VisionCLI.fail(base + ["--augment", "autoaugment"], mentioningValidation: ["--augment", "trivial", "auto-cifar10", "'autoaugment'"])
        try VisionCLI.fail(base + ["--epochs", "many"], mentioningValidation: ["many"])
        // --workers is bounded (a huge count once overflowed the loader's prefetch arithmetic), for every command taking it.
        for huge in ["257", "4611686018427387904"] {
            try VisionCLI.fail(base + ["--workers", huge], mentioningValidation: ["--workers", "256"])
            try VisionCLI.fail(["lr-find", "resnet20", "--data", data.path, "--workers", huge], mentioningValidation: ["--workers", "256"])
            try VisionCLI.fail(["evaluate", "--weights", "w.safetensors", "--data", data.path, "--workers", huge],
                               mentioningValidation: ["--workers", "256"])
        }
        try VisionCLI.fail(["sobel", "a.png", "-o", "b.png", "--direction", "diagonal"], mentioningValidation: ["diagonal"])
        try VisionCLI.fail(["train", "--data", data.path], mentioningValidation: ["model"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("run").path))
        // Options only the library can check.
        try VisionCLI.fail(base + ["--epochs", "1", "--optimizer", "lion", "--workers", "0"], mentioning: ["lion"])
        try VisionCLI.fail(base + ["--epochs", "1", "--schedule", "zigzag", "--workers", "0"], mentioning: ["zigzag"])
    }

    func testOptimizerAndScheduleValuesAreRejectedBeforeAnyWork() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        let run = directory.appendingPathComponent("run")
        let base = ["train", "resnet20", "--data", data.path, "-o", run.path]
        for value in ["-1", "nan", "inf"] {
            try VisionCLI.fail(base + ["--weight-decay=\(value)"], mentioningValidation: ["--weight-decay"])
            try VisionCLI.fail(base + ["--momentum=\(value)"], mentioningValidation: ["--momentum"])
            try VisionCLI.fail(base + ["--norm-weight-decay=\(value)"], mentioningValidation: ["--norm-weight-decay"])
            try VisionCLI.fail(base + ["--bias-weight-decay=\(value)"], mentioningValidation: ["--bias-weight-decay"])
        }
        try VisionCLI.fail(base + ["--optimizer", "nesterov", "--momentum", "0"], mentioningValidation: ["nesterov", "--momentum"])
        try VisionCLI.fail(base + ["--lr", "inf"], mentioningValidation: ["--lr", "finite"])
        try VisionCLI.fail(base + ["--lr", "nan"], mentioningValidation: ["--lr"])
        try VisionCLI.fail(base + ["--warmup-epochs=-1"], mentioningValidation: ["--warmup-epochs"])
        try VisionCLI.fail(base + ["--epochs", "3", "--warmup-epochs", "3"], mentioningValidation: ["--warmup-epochs", "fewer than --epochs"])
        try VisionCLI.fail(base + ["--optimizer", "lion"], mentioningValidation: ["--optimizer", "lion", "adamw"])
        try VisionCLI.fail(base + ["--schedule", "cosin"], mentioningValidation: ["--schedule", "cosin", "onecycle"])
        try VisionCLI.fail(base + ["--warmup-epochs", "1000000000000"], mentioningValidation: ["--warmup-epochs", "100000"])
        try VisionCLI.fail(base + ["--epochs", "1000000000000"], mentioningValidation: ["--epochs", "100000"])
        try VisionCLI.fail(base + ["--erasing", "nan"], mentioningValidation: ["--erasing"])
        try VisionCLI.fail(base + ["--label-smoothing", "nan"], mentioningValidation: ["--label-smoothing"])
        for value in ["-1", "nan", "inf"] {
            try VisionCLI.fail(base + ["--mixup-alpha=\(value)"], mentioningValidation: ["--mixup-alpha"])
            try VisionCLI.fail(base + ["--cutmix-alpha=\(value)"], mentioningValidation: ["--cutmix-alpha"])
        }
        for value in ["-1", "nan", "0"] {
            try VisionCLI.fail(["finetune", "--from", run.path, "--data", data.path, "--backbone-lr-scale=\(value)"],
                               mentioningValidation: ["--backbone-lr-scale"])
        }
        try VisionCLI.fail(["finetune", "--from", run.path, "--data", data.path, "--freeze", "backbone", "--backbone-lr-scale", "0.1"],
                           mentioningValidation: ["--backbone-lr-scale", "--freeze backbone"])
        // Model options the chosen network does not have are refused, not ignored.
        try VisionCLI.fail(base + ["--stem", "small"], mentioning: ["resnet20", "--stem", "resnet18–152"])
        try VisionCLI.fail(base + ["--zero-init-residual"], mentioning: ["resnet20", "--zero-init-residual"])
        try VisionCLI.fail(base + ["--base", "8", "--depth", "3"], mentioning: ["resnet20", "--base or --depth", "unet"])
        try VisionCLI.fail(["train", "unet", "--data", data.path, "-o", run.path, "--stem", "imagenet"], mentioning: ["unet", "--stem"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path))
    }

    func testSizesAndCountsOutsideTheirRangeAreRejected() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        let run = directory.appendingPathComponent("run")
        for value in ["0", "-3", "100000"] {
            try VisionCLI.fail(["train", "resnet20", "--data", data.path, "-o", run.path, "--image-size=\(value)"],
                               mentioningValidation: ["--image-size"])
            try VisionCLI.fail(["lr-find", "resnet20", "--data", data.path, "--image-size=\(value)"], mentioningValidation: ["--image-size"])
            try VisionCLI.fail(["models", "--input-size=\(value)"], mentioningValidation: ["--input-size"])
        }
        try VisionCLI.fail(["models", "--classes=-1"], mentioningValidation: ["--classes"])
        // U-Net shape: base and depth at least 1, the widest layer (base × 2^depth) at most 4096 channels.
        let unet = ["train", "unet", "--data", data.path, "-o", run.path]
        try VisionCLI.fail(unet + ["--base", "0"], mentioningValidation: ["--base"])
        try VisionCLI.fail(unet + ["--depth", "0"], mentioningValidation: ["--depth"])
        try VisionCLI.fail(unet + ["--depth", "64"], mentioningValidation: ["--depth"])
        try VisionCLI.fail(unet + ["--base", "512", "--depth", "4"], mentioningValidation: ["--base", "4096"])
        // evaluate and lr-find check their loader options too.
        let evaluate = ["evaluate", "--weights", run.path, "--data", data.path]
        try VisionCLI.fail(evaluate + ["--batch-size", "0"], mentioningValidation: ["--batch-size"])
        try VisionCLI.fail(evaluate + ["--workers=-1"], mentioningValidation: ["--workers"])
        try VisionCLI.fail(evaluate + ["--limit=-1"], mentioningValidation: ["--limit"])
        let lrFind = ["lr-find", "resnet20", "--data", data.path]
        try VisionCLI.fail(lrFind + ["--batch-size", "0"], mentioningValidation: ["--batch-size"])
        try VisionCLI.fail(lrFind + ["--workers=-1"], mentioningValidation: ["--workers"])
        try VisionCLI.fail(lrFind + ["--steps", "4611686018427387904", "--batch-size", "4"], mentioningValidation: ["--steps"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path))
    }

    func testLRFindRatesMustBeFiniteAndIncreasing() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        let lrFind = ["lr-find", "resnet20", "--data", data.path, "-o", directory.appendingPathComponent("plot.png").path]
        try VisionCLI.fail(lrFind + ["--end-lr", "inf"], mentioningValidation: ["--end-lr", "finite"])
        try VisionCLI.fail(lrFind + ["--start-lr", "nan"], mentioningValidation: ["--start-lr"])
        try VisionCLI.fail(lrFind + ["--start-lr", "0"], mentioningValidation: ["--start-lr"])
        try VisionCLI.fail(lrFind + ["--start-lr", "1", "--end-lr", "0.1"], mentioningValidation: ["--start-lr", "--end-lr"])
    }

    /// The default plot is named after the model and data (a user's own lr-find.png is never
    /// touched), and running the same search again replaces it.
    func testLRFindNamesItsDefaultPlotAfterTheModelAndData() throws {
        let data = directory.appendingPathComponent("folder")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 8, seed: 1)
        let workingDirectory = directory.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
        let mine = workingDirectory.appendingPathComponent("lr-find.png")
        try Data("my own file".utf8).write(to: mine)
        let plot = workingDirectory.appendingPathComponent("lr-find-resnet20-folder.png")
        for _ in 0..<2 {
            let result = try VisionCLI.run(["lr-find", "resnet20", "--data", data.path, "--steps", "5", "--batch-size", "2", "--workers", "0"],
                                           in: workingDirectory)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("lr-find-resnet20-folder.png"), result.stdout)
            XCTAssertEqual(try TestData.decode(plot).channels, 3)
        }
        XCTAssertEqual(try Data(contentsOf: mine), Data("my own file".utf8))
    }

    func testInputsTooSmallForVGGAreRefusedByEveryCommand() throws {
        let data = directory.appendingPathComponent("tiny")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 16, seed: 1)
        try VisionCLI.fail(["train", "vgg11", "--data", data.path, "--workers", "0", "-o", directory.appendingPathComponent("run").path],
                           mentioning: ["vgg11", "32×32", "16×16", "--image-size 32"])
        try VisionCLI.fail(["lr-find", "vgg11", "--data", data.path, "--workers", "0", "-o", directory.appendingPathComponent("p.png").path],
                           mentioning: ["vgg11", "32×32", "16×16", "--image-size 32"])
        try VisionCLI.fail(["features", data.appendingPathComponent("red/00.png").path, "--model", "vgg11", "--layer", "features.0",
                            "-o", directory.appendingPathComponent("features").path],
                           mentioning: ["vgg11", "32×32", "00.png"])
        // The zoo listing still lists every model, with a note for those that cannot take the size.
        let models = try VisionCLI.succeed(["models", "--input-size", "16"])
        let vgg = try XCTUnwrap(models.stdout.split(separator: "\n").first { $0.hasPrefix("vgg11 ") }, models.stdout)
        XCTAssertTrue(vgg.contains("needs inputs of at least 32×32"), String(vgg))
        let resnet = try XCTUnwrap(models.stdout.split(separator: "\n").first { $0.hasPrefix("resnet20 ") }, models.stdout)
        XCTAssertNotNil(Int(resnet.split(separator: " ")[1]), "resnet20 is counted at 16 px: \(resnet)")
    }

    func testMissingNamedDatasetSaysWhereItLooked() throws {
        let empty = directory.appendingPathComponent("empty-data-root")
        let workingDirectory = directory.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
        try VisionCLI.fail(["train", "resnet20", "--data", "cifar", "--epochs", "1", "--workers", "0", "-o", "run"],
                           mentioning: ["cifar", "empty-data-root/cifar-10-batches-bin", "datasets/cifar-10-batches-bin"],
                           environment: ["VISION_DATA": empty.path], in: workingDirectory)
        try VisionCLI.fail(["train", "resnet20", "--data", "imagenet-tiny", "--workers", "0", "-o", "run"],
                           mentioning: ["imagenet-tiny"], environment: ["VISION_DATA": empty.path], in: workingDirectory)
    }

    func testFolderWithoutImagesIsReported() throws {
        let empty = directory.appendingPathComponent("no-images")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("a"), withIntermediateDirectories: true)
        try VisionCLI.fail(["train", "resnet20", "--data", empty.path, "--workers", "0", "-o", directory.appendingPathComponent("run").path],
                           mentioning: ["no-images"])
    }

    func testWeightsThatAreNotARunAreReported() throws {
        let image = directory.appendingPathComponent("i.png")
        try TestData.writeRGB(image, height: 4, width: 4) { _, _ in (1, 2, 3) }
        let notARun = directory.appendingPathComponent("not-a-run")
        try FileManager.default.createDirectory(at: notARun, withIntermediateDirectories: true)
        try VisionCLI.fail(["predict", image.path, "--weights", notARun.path], mentioning: ["not-a-run", "run.json"])
        try VisionCLI.fail(["predict", image.path, "--weights", directory.appendingPathComponent("gone.safetensors").path],
                           mentioning: ["gone.safetensors"])
        try VisionCLI.fail(["train", "--resume", notARun.path], mentioning: ["not-a-run"])
    }
}
