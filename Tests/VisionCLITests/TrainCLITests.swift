import Foundation
import TestSupport
import VisionCore
import VisionImage
import VisionTools
import XCTest

/// `vision train` and the commands that use its run directory (evaluate, predict, features, finetune,
/// lr-find). One small run (CIFAR ResNet-20, 2 epochs on 36 12×12 images) is trained once and shared.
final class TrainCLITests: XCTestCase {
    static var workspace: URL?
    static var trained: Result<(data: URL, run: URL, output: CLIResult), Error>?

    override class func tearDown() {
        if let workspace { try? FileManager.default.removeItem(at: workspace) }
        workspace = nil
        trained = nil
        super.tearDown()
    }

    /// The shared workspace (created on first use).
    func workspace() -> URL {
        if let w = Self.workspace { return w }
        let w = temporaryDirectory("vision-cli-train")
        Self.workspace = w
        return w
    }

    /// The shared trained run: `(data folder, run directory, train output)`.
    func trainedRun(file: StaticString = #filePath, line: UInt = #line) throws -> (data: URL, run: URL, output: CLIResult) {
        if let trained = Self.trained { return try trained.get() }
        let root = workspace()
        let data = root.appendingPathComponent("colours"), run = root.appendingPathComponent("run")
        let result = Result { () throws -> (data: URL, run: URL, output: CLIResult) in
            try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 12, side: 12, seed: 7)
            let output = try VisionCLI.run(["train", "resnet20", "--data", data.path, "--epochs", "2", "--batch-size", "8",
                                            "--workers", "0", "--seed", "1", "--mixup-alpha", "0.2", "--cutmix-alpha", "1", "--augment", "trivial",
                                            "--norm-weight-decay", "5e-4", "--bias-weight-decay", "0", "-o", run.path])
            guard output.status == 0 else {
                throw CLIError("vision train failed (status \(output.status)):\n\(output.stdout)\n\(output.stderr)")
            }
            return (data, run, output)
        }
        Self.trained = result
        return try result.get()
    }

    struct CLIError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: train

    /// A second `train` into the same directory must not replace the first run's checkpoints.
    func testTrainRefusesADirectoryHoldingARunUnlessForced() throws {
        let (data, run, _) = try trainedRun()
        let before = try Data(contentsOf: run.appendingPathComponent("last.safetensors"))
        let again = try VisionCLI.run(["train", "resnet20", "--data", data.path, "--epochs", "1", "--batch-size", "8",
                                       "--workers", "0", "--limit", "8", "-o", run.path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains(run.path) && again.stderr.contains("--resume") && again.stderr.contains("--force"), again.stderr)
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("last.safetensors")), before, "the run is untouched")

        let copy = workspace().appendingPathComponent("forced")
        try FileManager.default.copyItem(at: run, to: copy)
        let forced = try VisionCLI.run(["train", "resnet20", "--data", data.path, "--epochs", "1", "--batch-size", "8",
                                        "--workers", "0", "--limit", "8", "--force", "-o", copy.path])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try Checkpoint.readRecord(copy).config.epochs, 1, "--force starts a new run there")

        // --force removes the old run only once every option has been checked: a bad one costs nothing.
        let kept = try Data(contentsOf: copy.appendingPathComponent("last.safetensors"))
        try VisionCLI.fail(["finetune", "--from", run.path, "--data", data.path, "--freeze-until", "layer9", "--force",
                            "--workers", "0", "-o", copy.path], mentioning: ["--freeze-until layer9"])
        try VisionCLI.fail(["train", "resnet20", "--data", data.path, "--force", "--stem", "small", "-o", copy.path], mentioning: ["--stem"])
        XCTAssertEqual(try Data(contentsOf: copy.appendingPathComponent("last.safetensors")), kept, "the run survives a refused --force")
        XCTAssertNoThrow(try Checkpoint.readRecord(copy))
    }

    func testTrainWritesCheckpointsRunRecordMetricsAndPlots() throws {
        let (_, run, output) = try trainedRun()
        for name in ["last.safetensors", "best.safetensors", "optimizer.safetensors", "run.json", "metrics.csv",
                     "loss.png", "accuracy.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(name).path), "\(name) missing")
        }
        XCTAssertTrue(output.stdout.contains("epoch 2 done"), output.stdout)
        XCTAssertTrue(output.stdout.contains("finished 2 epochs"), output.stdout)

        // run.json, read as plain JSON (what other tools would see) and through the library.
        let json = try TestData.json(run.appendingPathComponent("run.json"))
        XCTAssertEqual(json["format"] as? String, "vision-run-1")
        let config = try XCTUnwrap(json["config"] as? [String: Any])
        XCTAssertEqual(config["model"] as? String, "resnet20")
        XCTAssertEqual(config["epochs"] as? Int, 2)
        XCTAssertEqual(config["batchSize"] as? Int, 8)
        XCTAssertEqual(config["classNames"] as? [String], ["blue", "green", "red"])
        XCTAssertEqual(config["augmentation"] as? String, "trivial")
        XCTAssertEqual(try XCTUnwrap(config["mixupAlpha"] as? Double), 0.2, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(config["cutmixAlpha"] as? Double), 1, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(config["normWeightDecay"] as? Double), 5e-4, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(config["biasWeightDecay"] as? Double), 0)
        let preprocessing = try XCTUnwrap(config["preprocessing"] as? [String: Any])
        XCTAssertEqual(preprocessing["size"] as? Int, 12, "folders of small images keep their native size")
        XCTAssertEqual(preprocessing["channels"] as? Int, 3)
        let state = try XCTUnwrap(json["state"] as? [String: Any])
        XCTAssertEqual(state["epochsCompleted"] as? Int, 2)
        XCTAssertEqual((state["history"] as? [Any])?.count, 2)
        let record = try Checkpoint.readRecord(run)
        XCTAssertEqual(record.state.epochsCompleted, 2)
        XCTAssertEqual(record.config.task, .classification)
        XCTAssertNotNil(record.state.bestEpoch)

        // metrics.csv: the header and one line per epoch.
        let csv = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, csv)
        XCTAssertEqual(lines.first, EpochRecord.csvHeader)
        let columns = EpochRecord.csvHeader.split(separator: ",").count
        for (k, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(fields.count, columns, line)
            XCTAssertEqual(Int(fields[0]), k + 1)
            let trainLoss = try XCTUnwrap(Double(fields[2]), line)
            XCTAssertTrue(trainLoss.isFinite && trainLoss > 0, line)
            let accuracy = try XCTUnwrap(Double(fields[5]), "validation accuracy missing: \(line)")
            XCTAssertTrue((0...1).contains(accuracy), line)
            XCTAssertEqual(fields[6], "", "no IoU for classification")
        }

        // Plots decode as 640×400 RGB.
        for name in ["loss.png", "accuracy.png"] {
            let image = try TestData.decode(run.appendingPathComponent(name))
            XCTAssertEqual([image.width, image.height, image.channels], [640, 400, 3], name)
            XCTAssertTrue(image.pixels.contains { $0 < 128 }, "\(name) is blank")
        }

        // Checkpoints load, from the directory and from the single files.
        let (loadedConfig, model) = try Checkpoint.loadModel(run.path)
        XCTAssertEqual(loadedConfig.model, "resnet20")
        XCTAssertEqual(loadedConfig.modelOptions.numClasses, 3)
        for name in ["last.safetensors", "best.safetensors"] {
            let (_, fromFile) = try Checkpoint.loadModel(run.appendingPathComponent(name).path)
            XCTAssertEqual(fromFile.parameterCount, model.parameterCount)
        }
        XCTAssertEqual(try SafeTensors.readMetadata(contentsOf: run.appendingPathComponent("last.safetensors"))["vision.epoch"], "2")
        let optimizerState = try SafeTensors.read(contentsOf: run.appendingPathComponent("optimizer.safetensors"))
        XCTAssertFalse(optimizerState.isEmpty, "SGD with momentum keeps state")
        // --norm-weight-decay / --bias-weight-decay: three groups — 20 weights, 19 batch-norm scales, 20 biases
        // (19 batch-norm shifts and fc's) — each parameter with its momentum buffer.
        for (group, size) in [20, 19, 20].enumerated() {
            let prefix = "state.\(group)."
            XCTAssertEqual(Set(optimizerState.keys.filter { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count).split(separator: ".")[0] }).count,
                           size, "group \(group): \(optimizerState.keys.sorted().prefix(5))")
        }
        XCTAssertFalse(optimizerState.keys.contains { $0.hasPrefix("state.3.") })
    }

    func testResumeOfAFinishedRunSucceedsAndChangesNothing() throws {
        let (_, run, _) = try trainedRun()
        let names = ["last.safetensors", "best.safetensors", "optimizer.safetensors", "run.json", "metrics.csv"]
        let before = try names.map { try Data(contentsOf: run.appendingPathComponent($0)) }
        let result = try VisionCLI.succeed(["train", "--resume", run.path, "--workers", "0"])
        XCTAssertTrue(result.stdout.contains("after epoch 2 of 2"), result.stdout)
        let after = try names.map { try Data(contentsOf: run.appendingPathComponent($0)) }
        for (k, name) in names.enumerated() { XCTAssertEqual(before[k], after[k], "\(name) changed") }
        // Options the run already recorded are refused, not silently ignored; so is another model.
        try VisionCLI.fail(["train", "--resume", run.path, "--epochs", "5", "--lr=0.3"], mentioning: ["--epochs", "--lr", "run.json"])
        try VisionCLI.fail(["train", "resnet18", "--resume", run.path, "--workers", "0"], mentioning: ["resnet20", "resnet18"])
        // A run killed in its first epoch left an empty directory: the CLI says so (it reaches Trainer.resume's repair).
        let killed = run.deletingLastPathComponent().appendingPathComponent("killed-in-epoch-1")
        try FileManager.default.createDirectory(at: killed, withIntermediateDirectories: true)
        try VisionCLI.fail(["train", "--resume", killed.path], mentioning: ["no epoch", "start the run again"])
        let same = try VisionCLI.succeed(["train", "resnet20", "--resume", run.path, "--workers=0"])
        XCTAssertTrue(same.stdout.contains("after epoch 2 of 2"), same.stdout)
        let unchanged = try names.map { try Data(contentsOf: run.appendingPathComponent($0)) }
        for (k, name) in names.enumerated() { XCTAssertEqual(before[k], unchanged[k], "\(name) changed") }
    }

    // MARK: evaluate

    func testEvaluatePrintsMetricsAndWritesTheConfusionImage() throws {
        let (data, run, _) = try trainedRun()
        let out = temporaryDirectory("vision-cli-eval")
        defer { try? FileManager.default.removeItem(at: out) }
        let png = out.appendingPathComponent("matrix.png")
        let result = try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", data.path, "--workers", "0",
                                            "--confusion-png", png.path])
        XCTAssertTrue(result.stdout.contains("images: 36"), "a plain folder is scored whole:\n\(result.stdout)")
        for text in ["accuracy:", "per-class accuracy:", "confusion matrix", "blue", "green", "red"] {
            XCTAssertTrue(result.stdout.contains(text), "missing '\(text)':\n\(result.stdout)")
        }
        XCTAssertFalse(result.stdout.contains("top-5"), "three classes have no top-5 accuracy")
        let image = try TestData.decode(png)
        XCTAssertEqual(image.channels, 3)
        XCTAssertGreaterThan(image.width, 3 * 28)

        // A single weights file: the image goes beside it, named after it.
        let weights = out.appendingPathComponent("model.safetensors")
        try FileManager.default.copyItem(at: run.appendingPathComponent("last.safetensors"), to: weights)
        try VisionCLI.succeed(["evaluate", "--weights", weights.path, "--data", data.path, "--workers", "0", "--limit", "5"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.confusion.png").path))
    }

    /// --held-out scores the images the run held out (same seed and split); a run that validated on a
    /// test split held none out, and says so instead of silently scoring the test split.
    func testEvaluateHeldOutScoresTheRunsValidationImagesOrSaysThereAreNone() throws {
        let (data, run, _) = try trainedRun()
        let held = try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", data.path, "--workers", "0", "--held-out",
                                          "--confusion-png", workspace().appendingPathComponent("held.png").path])
        XCTAssertTrue(held.stdout.contains("4 held-out training images") && held.stdout.contains("images: 4"), held.stdout)

        let split = workspace().appendingPathComponent("split")
        for part in ["train", "test"] {
            try TestData.writeClassFolder(split.appendingPathComponent(part), classes: TestData.rgbClasses, perClass: 2, side: 12,
                                          seed: part == "train" ? 21 : 22)
        }
        let tuned = workspace().appendingPathComponent("split-run")
        try VisionCLI.succeed(["finetune", "--from", run.path, "--data", split.path, "--epochs", "1", "--batch-size", "8",
                               "--workers", "0", "-o", tuned.path])
        try VisionCLI.fail(["evaluate", "--weights", tuned.path, "--data", split.path, "--workers", "0", "--held-out"],
                           mentioning: ["--held-out", "held no training images out", "test"])
    }

    /// A fine-tuned run may not be written into the run (or weights folder) it starts from: --force would
    /// empty it before the first epoch. A folder holding files a run writes (a plot) is not taken over
    /// without --force either.
    func testRunsDoNotOverwriteTheirSourceOrForeignFiles() throws {
        let (data, run, _) = try trainedRun()
        let before = try Data(contentsOf: run.appendingPathComponent("last.safetensors"))
        for (extra, message) in [([], "already holds a run"), (["--force"], "holds the weights being fine-tuned")] {
            try VisionCLI.fail(["finetune", "--from", run.path, "--data", data.path, "--epochs", "1", "--workers", "0", "-o", run.path] + extra,
                               mentioning: [message])
            try VisionCLI.fail(["finetune", "--from", run.appendingPathComponent("last.safetensors").path, "--data", data.path, "--epochs", "1",
                                "--workers", "0", "-o", run.path] + extra, mentioning: [message])
        }
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("last.safetensors")), before)

        let plots = workspace().appendingPathComponent("plots")
        try FileManager.default.createDirectory(at: plots, withIntermediateDirectories: true)
        try Data([7]).write(to: plots.appendingPathComponent("loss.png"))
        let train = ["train", "resnet20", "--data", data.path, "--epochs", "1", "--batch-size", "8", "--workers", "0", "-o", plots.path]
        try VisionCLI.fail(train, mentioning: ["loss.png", "--force"])
        XCTAssertEqual(try Data(contentsOf: plots.appendingPathComponent("loss.png")), Data([7]))
        try VisionCLI.succeed(train + ["--force"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: plots.appendingPathComponent("run.json").path))
    }

    /// The confusion image's place is checked before the evaluation runs.
    func testEvaluateRefusesAConfusionImageItCouldNotWrite() throws {
        let (data, run, _) = try trainedRun()
        let missing = workspace().appendingPathComponent("missing-dir/matrix.png")
        try VisionCLI.fail(["evaluate", "--weights", run.path, "--data", data.path, "--workers", "0", "--confusion-png", missing.path],
                           mentioning: ["--confusion-png", "missing-dir", "does not exist"])
    }

    func testEvaluateNamesItsDefaultConfusionImageSoNoUserFileIsReplaced() throws {
        let (data, run, _) = try trainedRun()
        // In a run directory confusion.png is the run's own artefact: a stale one is replaced.
        let inRun = run.appendingPathComponent("confusion.png")
        try Data("stale".utf8).write(to: inRun)
        try VisionCLI.succeed(["evaluate", "--weights", run.path, "--data", data.path, "--workers", "0", "--limit", "5"])
        XCTAssertEqual(try TestData.decode(inRun).channels, 3)
        // Beside a bare weights file the image is named after it; a user's confusion.png there stays,
        // and evaluating again replaces the named image.
        let folder = workspace().appendingPathComponent("bare-weights")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let weights = folder.appendingPathComponent("model.safetensors"), mine = folder.appendingPathComponent("confusion.png")
        try FileManager.default.copyItem(at: run.appendingPathComponent("last.safetensors"), to: weights)
        try Data("my own file".utf8).write(to: mine)
        for _ in 0..<2 {
            let result = try VisionCLI.succeed(["evaluate", "--weights", weights.path, "--data", data.path, "--workers", "0", "--limit", "5"])
            XCTAssertTrue(result.stdout.contains("model.confusion.png"), result.stdout)
        }
        XCTAssertEqual(try TestData.decode(folder.appendingPathComponent("model.confusion.png")).channels, 3)
        XCTAssertEqual(try Data(contentsOf: mine), Data("my own file".utf8))
    }

    func testEvaluateRejectsDataWithOtherClasses() throws {
        let (_, run, _) = try trainedRun()
        let other = workspace().appendingPathComponent("other-classes-eval")
        try TestData.writeClassFolder(other, classes: [("cat", (10, 10, 10)), ("dog", (200, 200, 200))], perClass: 2, side: 12, seed: 3)
        try VisionCLI.fail(["evaluate", "--weights", run.path, "--data", other.path, "--workers", "0"],
                           mentioning: ["cat", "dog", "blue"])
    }

    // MARK: predict

    func testPredictListsTopKClassesPerImage() throws {
        let (data, run, _) = try trainedRun()
        let images = [data.appendingPathComponent("red/00.png").path, data.appendingPathComponent("blue/03.png").path]
        let result = try VisionCLI.succeed(["predict"] + images + ["--weights", run.path, "--top-k", "2"])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, "a path line and two class lines per image:\n\(result.stdout)")
        XCTAssertEqual(lines[0], images[0] + ":")
        XCTAssertEqual(lines[3], images[1] + ":")
        for line in [lines[1], lines[2], lines[4], lines[5]] {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, line)
            XCTAssertTrue(["blue", "green", "red"].contains(String(parts[0])), line)
            let p = try XCTUnwrap(Double(parts[1]), line)
            XCTAssertTrue((0...1).contains(p), line)
        }
        XCTAssertGreaterThanOrEqual(Double(lines[1].split(separator: " ")[1])!, Double(lines[2].split(separator: " ")[1])!,
                                    "classes are listed most probable first")
        // With test-time flips, each class's probability is the mean of the image's and its mirror image's.
        let source = try TestData.decode(URL(fileURLWithPath: images[0]))
        let mirror = workspace().appendingPathComponent("mirror-red-00.png")
        try TestData.writeRGB(mirror, height: source.height, width: source.width) { y, x in
            let i = 3 * (y * source.width + source.width - 1 - x)
            return (source.pixels[i], source.pixels[i + 1], source.pixels[i + 2])
        }
        func probabilities(_ arguments: [String]) throws -> [String: Double] {
            let output = try VisionCLI.succeed(["predict"] + arguments + ["--weights", run.path, "--top-k", "3"]).stdout
            var result: [String: Double] = [:]
            for line in output.split(separator: "\n").dropFirst() {
                let parts = line.split(separator: " ")
                result[String(parts[0])] = Double(parts[1])
            }
            return result
        }
        let plain = try probabilities([images[0]]), mirrored = try probabilities([mirror.path])
        let averaged = try probabilities([images[0], "--tta", "flip"])
        XCTAssertEqual(Set(averaged.keys), ["red", "green", "blue"])
        for (name, p) in averaged { XCTAssertEqual(p, (plain[name]! + mirrored[name]!) / 2, accuracy: 2e-4, name) }
    }

    func testPredictNamesAMissingImageFile() throws {
        let (_, run, _) = try trainedRun()
        let missing = workspace().appendingPathComponent("no-such-image.png").path
        try VisionCLI.fail(["predict", missing, "--weights", run.path], mentioning: ["no-such-image.png"])
    }

    func testCorruptCheckpointIsReportedWithItsPath() throws {
        let (data, run, _) = try trainedRun()
        let bytes = try Data(contentsOf: run.appendingPathComponent("last.safetensors"))
        let dir = workspace().appendingPathComponent("corrupt")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let image = data.appendingPathComponent("green/01.png").path
        // Cut inside the tensor data (the header with the configuration survives) and inside the header.
        for (name, length) in [("half.safetensors", bytes.count / 2), ("stub.safetensors", 5)] {
            let url = dir.appendingPathComponent(name)
            try bytes.prefix(length).write(to: url)
            try VisionCLI.fail(["predict", image, "--weights", url.path], mentioning: [name])
            try VisionCLI.fail(["evaluate", "--weights", url.path, "--data", data.path, "--workers", "0"], mentioning: [name])
        }
    }

    // MARK: features

    func testFeaturesWritesChannelImagesAndGrids() throws {
        let (data, run, _) = try trainedRun()
        let out = workspace().appendingPathComponent("features")
        let image = data.appendingPathComponent("red/02.png").path
        let result = try VisionCLI.succeed(["features", image, "--weights", run.path, "--layer", "layer1", "--layers", "layer2.0",
                                            "-o", out.path])
        XCTAssertTrue(result.stdout.contains("layer1: 16 channels of 12×12"), result.stdout)
        // layer1: 16 channels of 12×12 (small stem, no down-sampling); layer2.0: 32 channels of 6×6.
        for (layer, channels, side) in [("layer1", 16, 12), ("layer2.0", 32, 6)] {
            let files = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent(layer).path)
            XCTAssertEqual(files.filter { $0.hasPrefix("channel-") && $0.hasSuffix(".png") }.count, channels, layer)
            let first = try TestData.decode(out.appendingPathComponent(layer).appendingPathComponent("channel-000.png"))
            XCTAssertEqual([first.width, first.height, first.channels], [side, side, 1])
            // A near-square grid with a 1-pixel frame: 16 → 4×4 tiles, 32 → 6 columns × 6 rows.
            let columns = Int(Double(channels).squareRoot().rounded(.up)), rows = (channels + columns - 1) / columns
            let grid = try TestData.decode(out.appendingPathComponent("\(layer)-grid.png"))
            XCTAssertEqual([grid.width, grid.height], [columns * (side + 1) + 1, rows * (side + 1) + 1], layer)
        }
    }

    func testFeaturesListsLayersAndRendersFilters() throws {
        let (_, run, _) = try trainedRun()
        let list = try VisionCLI.succeed(["features", "--weights", run.path, "--list"])
        for name in ["conv1", "bn1", "layer1", "layer1.0", "layer2.0.conv1", "layer3.2", "fc"] {
            XCTAssertTrue(list.stdout.contains("  \(name) "), "--list should name \(name):\n\(list.stdout)")
        }
        XCTAssertTrue(list.stdout.contains("[1, 16, 12, 12]"), "--list shows output shapes:\n\(list.stdout)")
        XCTAssertTrue(list.stdout.contains("[1, 3]"), "the head's output shape:\n\(list.stdout)")

        let out = workspace().appendingPathComponent("filters")
        try VisionCLI.succeed(["features", "--weights", run.path, "--filters", "-o", out.path])
        // conv1 holds 16 RGB 3×3 filters, enlarged 8× with a 2-pixel frame, in a 4×4 grid.
        let filters = try TestData.decode(out.appendingPathComponent("filters.png"))
        XCTAssertEqual([filters.width, filters.height, filters.channels], [4 * 26 + 2, 4 * 26 + 2, 3])
    }

    func testFeaturesRejectsAnUnknownLayer() throws {
        let (data, run, _) = try trainedRun()
        try VisionCLI.fail(["features", data.appendingPathComponent("red/02.png").path, "--weights", run.path,
                            "--layer", "layer9", "-o", workspace().appendingPathComponent("nope").path],
                           mentioning: ["layer9"])
    }

    // MARK: finetune

    /// A second folder with two other classes for fine-tuning.
    func otherFolder() throws -> URL {
        let url = workspace().appendingPathComponent("two-classes")
        if !FileManager.default.fileExists(atPath: url.path) {
            try TestData.writeClassFolder(url, classes: [("cyan", (40, 200, 210)), ("yellow", (230, 220, 40))],
                                          perClass: 9, side: 12, seed: 11)
        }
        return url
    }

    func testFinetuneWithFrozenBackboneTrainsOnlyTheNewHead() throws {
        let (_, run, _) = try trainedRun()
        let other = try otherFolder()
        let out = workspace().appendingPathComponent("finetune-frozen")
        let result = try VisionCLI.succeed(["finetune", "--from", run.path, "--data", other.path, "--freeze", "backbone",
                                            "--epochs", "1", "--batch-size", "8", "--workers", "0", "-o", out.path])
        XCTAssertTrue(result.stdout.contains("frozen: backbone"), result.stdout)
        XCTAssertTrue(result.stdout.contains("new head"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(130 trainable)"), "only fc (64·2 + 2) trains:\n\(result.stdout)")

        let config = try XCTUnwrap(try TestData.json(out.appendingPathComponent("run.json"))["config"] as? [String: Any])
        XCTAssertEqual(config["freeze"] as? String, "backbone")
        XCTAssertNil(config["backboneLearningRateScale"] as? Double)
        XCTAssertEqual(config["classNames"] as? [String], ["cyan", "yellow"])
        XCTAssertEqual((config["modelOptions"] as? [String: Any])?["numClasses"] as? Int, 2)
        XCTAssertTrue((config["initialWeights"] as? String)?.hasSuffix("best.safetensors") ?? false)

        let source = try SafeTensors.read(contentsOf: run.appendingPathComponent("best.safetensors"))
        let tuned = try SafeTensors.read(contentsOf: out.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(Set(source.keys), Set(tuned.keys))
        var compared = 0
        for (key, tensor) in source where !key.hasPrefix("fc.") {
            XCTAssertEqual(tuned[key]?.storage, tensor.storage, "\(key) changed although the backbone is frozen")
            compared += 1
        }
        XCTAssertGreaterThan(compared, 50, "weights and batch-norm statistics of the backbone")
        XCTAssertEqual(tuned["fc.weight"]?.shape, [2, 64])
        XCTAssertEqual(tuned["fc.bias"]?.shape, [2])
        // Only the head's parameters (fc.weight with decay, fc.bias without) have optimizer state.
        let optimizer = try SafeTensors.read(contentsOf: out.appendingPathComponent("optimizer.safetensors"))
        let momentum = optimizer.filter { $0.key.hasSuffix("momentum_buffer") }.map(\.value.count).sorted()
        XCTAssertEqual(momentum, [2, 128])
    }

    /// Three classes again, but other ones: the head is replaced all the same (a head keyed to blue,
    /// green and red knows nothing of amber, cyan and white); on the source's own classes it is kept.
    func testFinetuneReplacesTheHeadForOtherClassesOfTheSameCount() throws {
        let (data, run, _) = try trainedRun()
        let other = workspace().appendingPathComponent("three-others")
        try TestData.writeClassFolder(other, classes: [("amber", (230, 160, 20)), ("cyan", (40, 200, 210)), ("white", (240, 240, 240))],
                                      perClass: 4, side: 12, seed: 12)
        let source = try SafeTensors.read(contentsOf: run.appendingPathComponent("best.safetensors"))
        for (folder, replaced) in [(other, true), (data, false)] {
            let out = workspace().appendingPathComponent("finetune-\(replaced ? "new" : "kept")-head")
            let result = try VisionCLI.succeed(["finetune", "--from", run.path, "--data", folder.path, "--freeze", "backbone",
                                                "--epochs", "1", "--batch-size", "8", "--lr", "1e-9", "--workers", "0", "-o", out.path])
            XCTAssertEqual(result.stdout.contains("new head"), replaced, result.stdout)
            XCTAssertEqual(result.stdout.contains("head kept"), !replaced, result.stdout)
            // At a learning rate of 1e-9 one epoch leaves the head where it started: the source's, or a new one.
            let tuned = try SafeTensors.read(contentsOf: out.appendingPathComponent("last.safetensors"))
            let weight = try XCTUnwrap(tuned["fc.weight"]), before = try XCTUnwrap(source["fc.weight"])
            let moved = zip(weight.storage, before.storage).map { abs($0 - $1) }.max() ?? 0
            if replaced { XCTAssertGreaterThan(moved, 1e-3, "a new head") } else { XCTAssertLessThan(moved, 1e-6, "the source's head") }
        }
        // --head keep: the trained head on other class names of the same count; a different count is refused.
        let kept = try VisionCLI.succeed(["finetune", "--from", run.path, "--data", other.path, "--head", "keep", "--epochs", "1",
                                          "--batch-size", "8", "--workers", "0", "-o", workspace().appendingPathComponent("finetune-keep").path])
        XCTAssertTrue(kept.stdout.contains("head kept"), kept.stdout)
        try VisionCLI.fail(["finetune", "--from", run.path, "--data", try otherFolder().path, "--head", "keep", "--workers", "0",
                            "-o", workspace().appendingPathComponent("finetune-keep-2").path],
                           mentioning: ["--head keep", "3 classes", "2"])
    }

    /// --image-size changes a ResNet's input size (global pooling takes any); the run records it and evaluate uses it.
    func testFinetuneAtAnotherImageSize() throws {
        let (_, run, _) = try trainedRun()
        let other = try otherFolder()
        let out = workspace().appendingPathComponent("finetune-16px")
        let result = try VisionCLI.succeed(["finetune", "--from", run.path, "--data", other.path, "--image-size", "16",
                                            "--epochs", "1", "--batch-size", "8", "--workers", "0", "-o", out.path])
        XCTAssertTrue(result.stdout.contains("16×16 inputs"), result.stdout)
        let record = try Checkpoint.readRecord(out)
        XCTAssertEqual(record.config.preprocessing.size, 16)
        XCTAssertEqual(record.config.imageSize, 16)
        try VisionCLI.succeed(["evaluate", "--weights", out.path, "--data", other.path, "--workers", "0", "--limit", "4"])
        // The source's own size needs no --image-size and is kept.
        let same = workspace().appendingPathComponent("finetune-12px")
        let kept = try VisionCLI.succeed(["finetune", "--from", run.path, "--data", other.path, "--image-size", "12",
                                          "--epochs", "1", "--batch-size", "8", "--workers", "0", "-o", same.path])
        XCTAssertFalse(kept.stdout.contains("inputs"), kept.stdout)
        XCTAssertEqual(try Checkpoint.readRecord(same).config.preprocessing.size, 12)
    }

    /// A VGG with the small head (one Linear on 1×1 features) takes 32–63 pixels only; other sizes are refused up front.
    func testFinetuneRefusesSizesAVGGSmallHeadCannotTake() throws {
        let data = workspace().appendingPathComponent("vgg-data")
        try TestData.writeClassFolder(data, classes: TestData.rgbClasses, perClass: 2, side: 32, seed: 31)
        let source = workspace().appendingPathComponent("vgg-run")
        try VisionCLI.succeed(["train", "vgg11", "--data", data.path, "--epochs", "1", "--batch-size", "4",
                               "--workers", "0", "-o", source.path])
        for size in ["64", "16"] {
            try VisionCLI.fail(["finetune", "--from", source.path, "--data", data.path, "--image-size", size, "--workers", "0",
                                "-o", workspace().appendingPathComponent("vgg-tuned-\(size)").path],
                               mentioning: ["--image-size \(size)", "small head", "32–63"])
        }
    }

    func testFinetuneWithBackboneLearningRateScaleTrainsEverything() throws {
        let (_, run, _) = try trainedRun()
        let other = try otherFolder()
        let out = workspace().appendingPathComponent("finetune-scaled")
        let result = try VisionCLI.succeed(["finetune", "--from", run.path, "--data", other.path, "--backbone-lr-scale", "0.1",
                                            "--epochs", "1", "--batch-size", "8", "--workers", "0", "-o", out.path])
        XCTAssertTrue(result.stdout.contains("backbone lr × 0.1"), result.stdout)
        let config = try XCTUnwrap(try TestData.json(out.appendingPathComponent("run.json"))["config"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(config["backboneLearningRateScale"] as? Double), 0.1, accuracy: 1e-6)
        XCTAssertNil(config["freeze"] as? String)

        let source = try SafeTensors.read(contentsOf: run.appendingPathComponent("best.safetensors"))
        let tuned = try SafeTensors.read(contentsOf: out.appendingPathComponent("last.safetensors"))
        XCTAssertNotEqual(tuned["conv1.weight"]?.storage, source["conv1.weight"]?.storage, "the backbone trains")
        XCTAssertNotEqual(tuned["layer3.2.bn2.running_mean"]?.storage, source["layer3.2.bn2.running_mean"]?.storage,
                          "batch-norm statistics adapt when not frozen")
        // Four parameter groups (backbone and head, each with and without weight decay) hold optimizer state.
        let optimizerKeys = try SafeTensors.read(contentsOf: out.appendingPathComponent("optimizer.safetensors")).keys
        let groups = Set(optimizerKeys.filter { $0.hasPrefix("state.") }.map { $0.split(separator: ".")[1] })
        XCTAssertEqual(groups, ["0", "1", "2", "3"])

    }

    // MARK: lr-find

    func testLRFindWritesThePlotAndASuggestion() throws {
        let (data, _, _) = try trainedRun()
        let out = workspace().appendingPathComponent("lr-find.png")
        let result = try VisionCLI.succeed(["lr-find", "resnet20", "--data", data.path, "--steps", "6", "--batch-size", "8",
                                            "--start-lr", "1e-4", "--end-lr", "1", "--workers", "0", "-o", out.path])
        XCTAssertTrue(result.stdout.contains("suggested learning rate") || result.stdout.contains("no suggestion"), result.stdout)
        XCTAssertTrue(result.stdout.contains("1.000e-04"), "the first rate is listed:\n\(result.stdout)")
        let plot = try TestData.decode(out)
        XCTAssertEqual([plot.width, plot.height], [640, 400])
    }
}
