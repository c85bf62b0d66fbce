import Foundation
import TestSupport
import VisionCore
import VisionData
import VisionImage
import VisionModels
import VisionNN
import VisionTools
import XCTest

/// Serves another dataset's samples, or the same samples filled with NaN once `poisoned` is set.
final class PoisonableDataset: Dataset, @unchecked Sendable {
    let base: any Dataset
    private let lock = NSLock()
    private var isPoisoned = false

    init(_ base: any Dataset) { self.base = base }

    var poisoned: Bool {
        get { lock.lock(); defer { lock.unlock() }; return isPoisoned }
        set { lock.lock(); isPoisoned = newValue; lock.unlock() }
    }

    var count: Int { base.count }
    var classNames: [String] { base.classNames }

    func sample(at index: Int) throws -> Sample {
        var sample = try base.sample(at: index)
        if poisoned { sample.image.pixels = [Float](repeating: .nan, count: sample.image.pixels.count) }
        return sample
    }
}

/// The training loop: exact resume, the NaN stop, freezing, configuration checks.
final class TrainerTests: XCTestCase {
    var directory: URL!
    var data: URL!

    override func setUp() {
        super.setUp()
        directory = temporaryDirectory("vision-trainer")
        data = directory.appendingPathComponent("colours")
        try? ToolsTestData.writeClassFolder(data, classes: ToolsTestData.colours, perClass: 10, side: 8, seed: 4)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    func prepare() throws -> PreparedData {
        try DataSetup.prepare(data: data.path, augmentation: "standard", seed: 3)
    }

    func config(_ prepared: PreparedData, epochs: Int = 2, optimizer: String = "sgd", schedule: String = "cosine",
                cropPadding: Int? = nil, mixupAlpha: Float? = nil, cutmixAlpha: Float? = nil) -> RunConfig {
        var config = RunConfig(model: "resnet20", modelOptions: ModelOptions(numClasses: 3, inChannels: 3, seed: 3, inputSize: 8),
                               data: data.path, task: .classification, classNames: prepared.classNames, preprocessing: prepared.preprocessing,
                               epochs: epochs, batchSize: 8, optimizer: optimizer, learningRate: 0.05, schedule: schedule, workers: 0, seed: 3)
        config.cropPadding = cropPadding
        config.mixupAlpha = mixupAlpha
        config.cutmixAlpha = cutmixAlpha
        return config
    }

    func files(_ run: URL, _ names: [String]) throws -> [Data] {
        try names.map { try Data(contentsOf: run.appendingPathComponent($0)) }
    }

    /// Every random layer gets its own stream per (seed, epoch): dropout, channel dropout, stochastic depth and
    /// DropBlock alike (layers built with the same seed would otherwise draw in step).
    func testRandomLayersAreReseededPerEpochAndLayer() {
        func model() -> Sequential {
            Sequential(Dropout(p: 0.5), Dropout2d(p: 0.5), StochasticDepth(p: 0.5), StochasticDepth(p: 0.5), DropBlock2d(p: 0.5, blockSize: 1))
        }
        func streams(_ m: Sequential) -> [Float] {
            m.namedModules().compactMap { $0.module as? RandomLayer }.map { layer in layer.generator.nextUniform() }
        }
        let a = model(), b = model()
        XCTAssertEqual(Set(streams(model())).count, 1, "freshly built with seed 0, they draw in step")
        Trainer.reseedRandomLayers(of: a, seed: 7, epoch: 3)
        Trainer.reseedRandomLayers(of: b, seed: 7, epoch: 3)
        let drawn = streams(a)
        XCTAssertEqual(drawn.count, 5)
        XCTAssertEqual(Set(drawn).count, 5, "each layer its own stream")
        XCTAssertEqual(drawn, streams(b), "the same (seed, epoch) gives the same streams")
        Trainer.reseedRandomLayers(of: b, seed: 7, epoch: 4)
        XCTAssertNotEqual(drawn, streams(b))
    }

    // MARK: Resume

    func testInterruptedAndResumedRunEqualsAnUninterruptedOneBitForBit() throws {
        try assertResumeIsExact(prepare)
    }

    /// A fine-tuning run normalises with its source model's statistics, not the new data's defaults;
    /// resuming must keep them.
    func testResumeKeepsTheRunsOwnNormalisation() throws {
        let statistics: (mean: [Float], std: [Float]) = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
        try assertResumeIsExact {
            try DataSetup.prepare(data: self.data.path, augmentation: "standard", seed: 3, normalization: statistics)
        }
    }

    /// A run with its own crop padding (5, not the default 2 for 8-pixel images) resumes with it.
    func testResumeKeepsTheRunsCropPadding() throws {
        try assertResumeIsExact(cropPadding: 5) {
            try DataSetup.prepare(data: self.data.path, augmentation: "standard", seed: 3, cropPadding: 5)
        }
    }

    /// MixUp and CutMix draw from (seed, step), so a resumed run mixes as an uninterrupted one did.
    func testResumeWithMixUpAndCutMixIsExact() throws {
        try assertResumeIsExact(mixupAlpha: 0.4, cutmixAlpha: 1.0, prepare)
    }

    func testMixingChangesTrainingAndIsRecordedInTheRun() throws {
        let prepared = try prepare()
        let plain = try Trainer(config: config(prepared, epochs: 1), data: prepared,
                                directory: directory.appendingPathComponent("plain")).run()
        for (mixup, cutmix) in [(Float(0.4), Float?.none), (nil, 1.0)] {
            let run = directory.appendingPathComponent("mixed-\(mixup ?? 0)-\(cutmix ?? 0)")
            let mixed = try Trainer(config: config(prepared, epochs: 1, mixupAlpha: mixup, cutmixAlpha: cutmix), data: prepared,
                                    directory: run).run()
            XCTAssertTrue(mixed.history[0].trainLoss.isFinite)
            // Mixed targets raise the loss well above rounding differences between the two loss functions.
            XCTAssertGreaterThan(abs(mixed.history[0].trainLoss - plain.history[0].trainLoss), 1e-3,
                                 "mixing must change what is trained on")
            let recorded = try Checkpoint.readRecord(run).config
            XCTAssertEqual(recorded.mixupAlpha, mixup)
            XCTAssertEqual(recorded.cutmixAlpha, cutmix)
        }
    }

    /// run.json and the configuration inside weights files may be edited by hand; values that would
    /// crash or silently mistrain are refused with the file and the field named.
    func testHandEditedRunDescriptionsAreRefusedNamingTheField() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("edited")
        try Trainer(config: config(prepared, epochs: 2), data: prepared, directory: run).run()
        let url = run.appendingPathComponent("run.json")
        let original = try Data(contentsOf: url)
        /// Model and input settings are refused wherever the run is read; training options (`onlyResume`)
        /// only when training continues, so evaluate and finetune still read such a run.
        func edit(_ change: (inout [String: Any]) -> Void, mentioning texts: [String], onlyResume: Bool = false,
                  line: UInt = #line) throws {
            var json = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [String: Any])
            change(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: url)
            let reads: [() throws -> Void] = [{ _ = try Checkpoint.readRecord(run) }, { _ = try Checkpoint.resolve(run.path) }]
            for attempt in [{ _ = try Trainer.resume(run) }] + (onlyResume ? [] : reads) {
                XCTAssertThrowsError(try attempt(), line: line) { error in
                    for text in texts + ["run.json"] { XCTAssertTrue("\(error)".contains(text), "\(error)", line: line) }
                }
            }
            if onlyResume { for read in reads { XCTAssertNoThrow(try read(), line: line) } }
        }
        func inConfig(_ json: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
            var c = json["config"] as! [String: Any]
            change(&c)
            json["config"] = c
        }
        // Fewer epochs than already trained (cutting a run short by hand).
        try edit({ j in inConfig(&j) { $0["epochs"] = 1 } }, mentioning: ["epochsCompleted 2", "1 epochs"])
        try edit({ j in inConfig(&j) { c in
            var p = c["preprocessing"] as! [String: Any]; p["std"] = [0, 0, 0]; c["preprocessing"] = p } }, mentioning: ["preprocessing.std"])
        try edit({ j in inConfig(&j) { c in
            var p = c["preprocessing"] as! [String: Any]; p["size"] = 0; c["preprocessing"] = p } }, mentioning: ["preprocessing.size 0"])
        try edit({ j in inConfig(&j) { $0["task"] = "segmentation" } }, mentioning: ["task segmentation", "resnet20"])
        try edit({ j in inConfig(&j) { $0["classNames"] = ["a"] } }, mentioning: ["1 classNames", "numClasses 3"])
        try edit({ j in inConfig(&j) { $0["warmupEpochs"] = 1 << 62 } }, mentioning: ["warmupEpochs"], onlyResume: true)
        try edit({ j in inConfig(&j) { $0["normWeightDecay"] = -1 } }, mentioning: ["normWeightDecay -1"], onlyResume: true)
        // Many loader threads are unusual, not wrong: such a run stays readable and resumable.
        var manyWorkers = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [String: Any])
        inConfig(&manyWorkers) { $0["workers"] = 2000 }
        try JSONSerialization.data(withJSONObject: manyWorkers).write(to: url)
        XCTAssertNoThrow(try Checkpoint.readRecord(run))
        XCTAssertNoThrow(try Trainer.resume(run, workers: 0))
        try original.write(to: url)
        XCTAssertNoThrow(try Checkpoint.readRecord(run))

        // The same checks guard the configuration embedded in a weights file.
        var bad = try Checkpoint.readRecord(run).config
        bad.preprocessing.mean = [0.5, 0.5]
        let weights = directory.appendingPathComponent("edited.safetensors")
        try Checkpoint.saveWeights(try bad.buildModel(), config: bad, to: weights)
        XCTAssertThrowsError(try Checkpoint.resolve(weights.path)) { error in
            XCTAssertTrue("\(error)".contains("edited.safetensors") && "\(error)".contains("preprocessing.mean"), "\(error)")
        }
        // Converted weights carry no training options (epochs 0, batch size 0) and are still usable.
        var converted = bad
        converted.preprocessing.mean = [0.5, 0.5, 0.5]
        converted.epochs = 0
        converted.batchSize = 0
        converted.learningRate = 0
        try Checkpoint.saveWeights(try converted.buildModel(), config: converted, to: weights)
        XCTAssertNoThrow(try Checkpoint.loadModel(weights.path))
    }

    /// The configuration `scripts/convert_torchvision.py` embeds (its `vision_config()` for vgg11_bn, as
    /// JSON) has no training options; it must pass the checks for using weights.
    func testTheConvertersConfigurationIsUsable() throws {
        let classes = (0..<1000).map { "\"class\($0)\"" }.joined(separator: ", ")
        let json = """
        {"model": "vgg11_bn", "modelOptions": {"numClasses": 1000, "inChannels": 3, "stem": null, "head": "imagenet", "base": 32,
         "depth": 4, "zeroInitResidual": false, "seed": 0, "inputSize": 224},
         "data": "imagenet (torchvision pretrained weights)", "task": "classification", "classNames": [\(classes)],
         "preprocessing": {"channels": 3, "size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
         "epochs": 0, "batchSize": 0, "optimizer": "none", "learningRate": 0, "momentum": 0, "weightDecay": 0,
         "schedule": "none", "warmupEpochs": 0, "labelSmoothing": 0, "augmentation": "none", "workers": 0, "seed": 0}
        """
        let config = try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config.problems, [])
        XCTAssertFalse(config.trainingProblems.isEmpty, "not a run that can be continued")
    }

    /// Hand-edited values that would reach a precondition (or, in -Ounchecked release code, run on silently)
    /// are reported by name: an input size by `problems` (evaluate, predict), training options by `trainingProblems` (resume).
    func testEditedRunValuesAreReportedByName() throws {
        let prepared = try prepare()
        var config = config(prepared)
        XCTAssertEqual(config.problems, [])
        XCTAssertEqual(config.trainingProblems, [])
        config.imageSize = 0
        XCTAssertTrue(config.problems.contains { $0.contains("imageSize 0") }, "\(config.problems)")
        config.imageSize = nil
        config.optimizer = "nesterov"
        config.momentum = 0
        config.backboneLearningRateScale = -1
        config.mixupAlpha = .nan
        config.cutmixAlpha = -1
        config.workers = RunConfig.maxWorkers + 1
        let problems = config.trainingProblems
        for field in ["nesterov needs momentum", "backboneLearningRateScale -1", "mixupAlpha nan", "cutmixAlpha -1", "workers 257"] {
            XCTAssertTrue(problems.contains { $0.contains(field) }, "'\(field)' missing from \(problems)")
        }
        // The optimizer is never built from them either.
        let model = try config.buildModel()
        for edit in [{ (c: inout RunConfig) in c.backboneLearningRateScale = -1 }, { (c: inout RunConfig) in c.optimizer = "nesterov"; c.momentum = 0 }] {
            var bad = self.config(prepared)
            edit(&bad)
            XCTAssertThrowsError(try Trainer.makeOptimizer(bad, model: model))
        }
    }

    /// Batches of one image give batch norm a single value per channel where the map is 1×1 (resnet18's
    /// layer4 on 8-pixel images): refused up front, naming the layer, as PyTorch refuses it in training.
    /// Where every map stays larger (resnet20 ends at 2×2), one image per batch is fine.
    func testSingleImageBatchesThatReachA1x1BatchNormAreRefused() throws {
        let prepared = try prepare()
        var single = config(prepared)
        single.batchSize = 1
        let probed = try Trainer(config: single, data: prepared, directory: directory.appendingPathComponent("resnet20-b1"))
        XCTAssertTrue(probed.model.isTraining, "the eval-mode probe restores training mode")
        single.model = "resnet18"
        XCTAssertThrowsError(try Trainer(config: single, data: prepared, directory: directory.appendingPathComponent("resnet18-b1"))) { error in
            for text in ["batch norm layer4", "one value per channel", "--batch-size 1", "3×8×8"] {
                XCTAssertTrue("\(error)".contains(text), "'\(text)' missing: \(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("resnet18-b1").path), "refused before any file")
        single.batchSize = 2
        XCTAssertNoThrow(try Trainer(config: single, data: prepared, directory: directory.appendingPathComponent("resnet18-b2")))
    }

    /// Images that changed size since the run started would be fed to a network built for the old size.
    func testResumeRefusesImagesOfAnotherSize() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("resized")
        try Trainer(config: config(prepared, epochs: 2), data: prepared, directory: run).run(stopAfter: 1)
        try ToolsTestData.writeClassFolder(data, classes: ToolsTestData.colours, perClass: 10, side: 12, seed: 4)
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("3-channel 8×8") && "\(error)".contains("3-channel 12×12"), "\(error)")
        }
    }

    /// A run.json written before MixUp and CutMix existed still reads, with both off.
    func testRunRecordsWithoutMixingOptionsStillRead() throws {
        let prepared = try prepare()
        var recent = config(prepared, mixupAlpha: 0.2, cutmixAlpha: 1)
        (recent.normWeightDecay, recent.biasWeightDecay) = (1e-4, 0)
        let encoded = try JSONEncoder().encode(RunRecord(config: recent, state: RunState()))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        var configJSON = try XCTUnwrap(json["config"] as? [String: Any])
        for key in ["mixupAlpha", "cutmixAlpha", "normWeightDecay", "biasWeightDecay"] {
            XCTAssertNotNil(configJSON.removeValue(forKey: key), key)
        }
        json["config"] = configJSON
        let old = try JSONDecoder().decode(RunRecord.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertNil(old.config.mixupAlpha)
        XCTAssertNil(old.config.cutmixAlpha)
        XCTAssertNil(old.config.normWeightDecay)
        XCTAssertNil(old.config.biasWeightDecay)
        // Such a run keeps the two groups its optimizer state was saved with.
        let groups = try Trainer.makeOptimizer(old.config, model: try old.config.buildModel()).groups
        XCTAssertEqual(groups.map(\.name), ["decay", "no_decay"])
        XCTAssertEqual(old.config.model, "resnet20")
    }

    /// Trains 2 epochs straight, and 1 epoch + a resume from disk (with another number of loader
    /// threads); checkpoints, optimizer state and metrics must agree bit for bit.
    func assertResumeIsExact(cropPadding: Int? = nil, mixupAlpha: Float? = nil, cutmixAlpha: Float? = nil,
                             _ prepare: () throws -> PreparedData,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let straight = directory.appendingPathComponent("straight-\(UUID().uuidString)")
        let interrupted = directory.appendingPathComponent("interrupted-\(UUID().uuidString)")
        let prepared = try prepare()
        let full = try Trainer(config: config(prepared, cropPadding: cropPadding, mixupAlpha: mixupAlpha, cutmixAlpha: cutmixAlpha), data: prepared, directory: straight).run()
        XCTAssertEqual(full.epochsCompleted, 2, file: file, line: line)

        let again = try prepare()
        let first = try Trainer(config: config(again, cropPadding: cropPadding, mixupAlpha: mixupAlpha, cutmixAlpha: cutmixAlpha), data: again, directory: interrupted).run(stopAfter: 1)
        XCTAssertEqual(first.epochsCompleted, 1, file: file, line: line)
        XCTAssertEqual(try Checkpoint.readRecord(interrupted).state.epochsCompleted, 1, file: file, line: line)
        // Reopened from disk alone, with a different number of loader threads.
        let resumed = try Trainer.resume(interrupted, workers: 2)
        XCTAssertEqual(resumed.state.epochsCompleted, 1, file: file, line: line)
        XCTAssertEqual(resumed.data.preprocessing, prepared.preprocessing, "the run's preprocessing", file: file, line: line)
        var events: [TrainingEvent] = []
        let finished = try resumed.run { events.append($0) }
        XCTAssertEqual(finished.epochsCompleted, 2, file: file, line: line)
        if case let .started(_, _, _, _, _, _, firstEpoch) = events.first {
            XCTAssertEqual(firstEpoch, 2, file: file, line: line)
        } else {
            XCTFail("no start event", file: file, line: line)
        }
        XCTAssertEqual(events.filter { if case .epochFinished = $0 { return true } else { return false } }.count, 1,
                       "only the remaining epoch runs", file: file, line: line)

        for name in ["last.safetensors", "optimizer.safetensors"] {
            let a = try SafeTensors.read(contentsOf: straight.appendingPathComponent(name))
            let b = try SafeTensors.read(contentsOf: interrupted.appendingPathComponent(name))
            XCTAssertEqual(Set(a.keys), Set(b.keys), name, file: file, line: line)
            var differing: [String] = []
            for (key, tensor) in a where tensor.storage.map(\.bitPattern) != b[key]?.storage.map(\.bitPattern) { differing.append(key) }
            XCTAssertEqual(differing, [], "\(name): tensors differ", file: file, line: line)
        }
        XCTAssertEqual(full.history.count, finished.history.count, file: file, line: line)
        for (x, y) in zip(full.history, finished.history) {
            XCTAssertEqual(x.epoch, y.epoch, file: file, line: line)
            XCTAssertEqual(x.learningRate, y.learningRate, file: file, line: line)
            XCTAssertEqual(x.trainLoss, y.trainLoss, file: file, line: line)
            XCTAssertEqual(x.trainAccuracy, y.trainAccuracy, file: file, line: line)
            XCTAssertEqual(x.validationLoss, y.validationLoss, file: file, line: line)
            XCTAssertEqual(x.validationAccuracy, y.validationAccuracy, file: file, line: line)
        }
        XCTAssertEqual(full.bestEpoch, finished.bestEpoch, file: file, line: line)
        XCTAssertEqual(full.bestMetric, finished.bestMetric, file: file, line: line)
        let csv = try String(contentsOf: interrupted.appendingPathComponent("metrics.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 3, "the resumed run appends to the same metrics", file: file, line: line)
    }

    func testResumeRefusesWeightsFromAnotherEpoch() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("run")
        try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run).run(stopAfter: 1)
        // run.json claims two epochs, the weights say one (as if the process died between the two writes).
        var record = try Checkpoint.readRecord(run)
        record.state.epochsCompleted = 2
        try Checkpoint.writeRecord(record, to: run)
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("last.safetensors"), "\(error)")
            XCTAssertTrue("\(error)".contains("epoch 1"), "\(error)")
        }
        XCTAssertThrowsError(try Trainer.resume(directory.appendingPathComponent("nowhere"))) { error in
            XCTAssertTrue("\(error)".contains("run.json"), "\(error)")
        }
    }

    /// What the directory holds when a save of epoch 2 stops after each of its steps; resume must
    /// continue from the committed epoch and end exactly where an uninterrupted run ends.
    func testACrashAnywhereInASaveLeavesAResumableRun() throws {
        let prepared = try prepare()
        let straight = directory.appendingPathComponent("straight")
        try Trainer(config: config(prepared), data: prepared, directory: straight).run()
        let run = directory.appendingPathComponent("run")
        let trainer = try Trainer(config: config(prepared), data: prepared, directory: run)
        try trainer.run(stopAfter: 1)
        let names = ["last.safetensors", "optimizer.safetensors", "run.json"]
        let one = try files(run, names)
        try trainer.run(stopAfter: 1)
        let two = try files(run, names)
        let left = try FileManager.default.contentsOfDirectory(atPath: run.path)
        XCTAssertFalse(left.contains { $0.contains(".next.") || $0.hasPrefix(".") }, "a finished save leaves nothing pending: \(left)")

        let (last, optimizer, record) = ("last.safetensors", "optimizer.safetensors", "run.json")
        let (pendingLast, pendingOptimizer) = ("last.next.safetensors", "optimizer.next.safetensors")
        let crashes: [(step: String, files: [String: Data], committed: Int)] = [
            ("the weights' pending file written", [record: one[2], last: one[0], optimizer: one[1], pendingLast: two[0]], 1),
            ("both pending files written", [record: one[2], last: one[0], optimizer: one[1], pendingLast: two[0], pendingOptimizer: two[1]], 1),
            ("run.json committed, nothing renamed", [record: two[2], last: one[0], optimizer: one[1], pendingLast: two[0], pendingOptimizer: two[1]], 2),
            ("the weights renamed, the optimizer state not", [record: two[2], last: two[0], optimizer: one[1], pendingOptimizer: two[1]], 2),
        ]
        for crash in crashes {
            let crashed = directory.appendingPathComponent("crashed-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: crashed, withIntermediateDirectories: true)
            for (name, bytes) in crash.files { try bytes.write(to: crashed.appendingPathComponent(name)) }
            let resumed = try Trainer.resume(crashed)
            XCTAssertEqual(resumed.state.epochsCompleted, crash.committed, crash.step)
            let remaining = try FileManager.default.contentsOfDirectory(atPath: crashed.path)
            XCTAssertFalse(remaining.contains { $0.contains(".next.") }, "\(crash.step): \(remaining)")
            XCTAssertEqual(try resumed.run().epochsCompleted, 2, crash.step)
            for name in [last, optimizer] {
                let a = try SafeTensors.read(contentsOf: straight.appendingPathComponent(name))
                let b = try SafeTensors.read(contentsOf: crashed.appendingPathComponent(name))
                XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), "\(crash.step): \(name)")
                let differing = a.keys.filter { a[$0]?.storage.map(\.bitPattern) != b[$0]?.storage.map(\.bitPattern) }
                XCTAssertEqual(differing, [], "\(crash.step): \(name) differs from the uninterrupted run")
            }
        }
    }

    /// `best.safetensors` too is written pending and committed by `run.json`: a pending best from an
    /// uncommitted epoch is dropped, one whose epoch `run.json` records as best is moved into place.
    func testABestCheckpointIsCommittedWithItsEpoch() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("run")
        let trainer = try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run)
        try trainer.run(stopAfter: 1)
        let one = try files(run, ["run.json", "best.safetensors", "last.safetensors", "optimizer.safetensors"])
        try trainer.run(stopAfter: 1)
        let epochTwoWeights = try Data(contentsOf: run.appendingPathComponent("last.safetensors"))
        let epochTwo = try files(run, ["run.json", "last.safetensors", "optimizer.safetensors"])

        // Stopped before run.json committed epoch 2: the pending best goes, epoch 1's best stays.
        let early = directory.appendingPathComponent("early")
        try FileManager.default.copyItem(at: run, to: early)
        for (k, name) in ["run.json", "best.safetensors", "last.safetensors", "optimizer.safetensors"].enumerated() {
            try one[k].write(to: early.appendingPathComponent(name))
        }
        try epochTwoWeights.write(to: early.appendingPathComponent("best.next.safetensors"))
        XCTAssertEqual(try Trainer.resume(early).state.epochsCompleted, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: early.appendingPathComponent("best.next.safetensors").path))
        XCTAssertEqual(try Data(contentsOf: early.appendingPathComponent("best.safetensors")), one[1])

        // Stopped after run.json committed epoch 2 as the best: the pending best is moved into place.
        let late = directory.appendingPathComponent("late")
        try FileManager.default.copyItem(at: run, to: late)
        try one[1].write(to: late.appendingPathComponent("best.safetensors"))
        try epochTwoWeights.write(to: late.appendingPathComponent("best.next.safetensors"))
        var record = try Checkpoint.readRecord(late)
        XCTAssertEqual(record.state.epochsCompleted, 2)
        record.state.bestEpoch = 2
        try Checkpoint.writeRecord(record, to: late)
        XCTAssertEqual(try Trainer.resume(late).state.epochsCompleted, 2)
        XCTAssertEqual(try Data(contentsOf: late.appendingPathComponent("best.safetensors")), epochTwoWeights)
        XCTAssertEqual(epochTwo[1], epochTwoWeights)
    }

    /// A second process may not resume (and so repair) a run directory another one is training in.
    func testARunDirectoryInUseIsRefused() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("busy")
        try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run).run(stopAfter: 1)
        var holder: RunDirectoryLock? = try RunDirectoryLock(run)
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("another vision process"), "\(error)")
        }
        XCTAssertThrowsError(try Trainer.claimRunDirectory(run, overwrite: true), "--force must not delete a live run's files")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("run.json").path))
        holder = nil
        XCTAssertNil(holder)
        XCTAssertEqual(try Trainer.resume(run).state.epochsCompleted, 1)
        // A resumed trainer keeps the directory from resume until its run ends: no --force in between.
        let resumed = try Trainer.resume(run)
        XCTAssertThrowsError(try Trainer.claimRunDirectory(run, overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains("another vision process"), "\(error)")
        }
        try resumed.run(stopAfter: 1)
        XCTAssertEqual(resumed.state.epochsCompleted, 2)
        XCTAssertNoThrow(try RunDirectoryLock(run), "released when the run ends")
    }

    /// --force keeps the old run until the new one commits an epoch: a first epoch that fails (a NaN loss)
    /// brings it back byte for byte; one that succeeds deletes it.
    func testForceRestoresTheOldRunWhenTheNewOneFailsBeforeItsFirstEpoch() throws {
        var prepared = try prepare()
        let run = directory.appendingPathComponent("replaced")
        try Trainer(config: config(prepared), data: prepared, directory: run).run(stopAfter: 1)
        let names = ["run.json", "last.safetensors", "best.safetensors", "optimizer.safetensors", "metrics.csv"]
        let old = try files(run, names)

        let poisonable = PoisonableDataset(prepared.train)
        poisonable.poisoned = true
        prepared.train = poisonable
        XCTAssertThrowsError(try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run, replacingRun: true).run())
        XCTAssertEqual(try files(run, names), old, "the old run is back")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: run.path).contains { $0.hasPrefix(".replaced-") })
        // A trainer that is never run gives it back too.
        _ = try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run, replacingRun: true)
        XCTAssertEqual(try files(run, names), old)

        poisonable.poisoned = false
        let replacing = try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run, replacingRun: true)
        try replacing.run(stopAfter: 1)
        XCTAssertEqual(try Checkpoint.readRecord(run).config.epochs, 3, "the new run")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: run.path).contains { $0.hasPrefix(".replaced-") },
                       "the old run goes once the new one has an epoch")
    }

    func testANewRunRefusesADirectoryHoldingARun() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("taken")
        try Trainer(config: config(prepared), data: prepared, directory: run).run(stopAfter: 1)
        XCTAssertThrowsError(try Trainer.claimRunDirectory(run, overwrite: false)) { error in
            XCTAssertTrue("\(error)".contains(run.path) && "\(error)".contains("--resume") && "\(error)".contains("--force"), "\(error)")
        }
        try FileManager.default.copyItem(at: run, to: directory.appendingPathComponent("kept"))
        try Data("user file".utf8).write(to: run.appendingPathComponent("notes.txt"))
        let claimed = try XCTUnwrap(try Trainer.claimRunDirectory(run, overwrite: true))
        let left = try FileManager.default.contentsOfDirectory(atPath: run.path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(left, ["notes.txt"], "--force sets the old run's files aside, and only those")
        XCTAssertTrue(FileManager.default.fileExists(atPath: claimed.setAside.appendingPathComponent("run.json").path))
        XCTAssertNoThrow(try Trainer.claimRunDirectory(directory.appendingPathComponent("not-yet"), overwrite: false))
        XCTAssertNoThrow(try Trainer.claimRunDirectory(data, overwrite: false), "a directory holding other files is not a run")
    }

    func testResumeRefusesDataWhoseClassesChanged() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("run")
        try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run).run(stopAfter: 1)
        try ToolsTestData.writeClassFolder(data, classes: [("amber", (230, 160, 20))], perClass: 10, side: 8, seed: 5)
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("amber") && "\(error)".contains("blue, green, red"), "\(error)")
        }
    }

    func testResumeRefusesDataWhoseImageCountChanged() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("run")
        try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run).run(stopAfter: 1)
        let record = try Checkpoint.readRecord(run)
        XCTAssertEqual([record.trainImages, record.validationImages], [prepared.train.count, prepared.validation?.count])
        let red = data.appendingPathComponent("red")
        try FileManager.default.copyItem(at: red.appendingPathComponent("00.png"), to: red.appendingPathComponent("10.png"))
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("\(prepared.train.count) training") && message.contains("start a new run"), message)
        }
        try FileManager.default.removeItem(at: red.appendingPathComponent("10.png"))
        XCTAssertEqual(try Trainer.resume(run).state.epochsCompleted, 1, "the same images again")
    }

    /// A run killed after run.json committed its last epoch but before metrics.csv and the plots followed
    /// has no epoch left to rewrite them: resume does.
    func testResumeRewritesTheProgressFilesACrashLeftBehind() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("run")
        try Trainer(config: config(prepared), data: prepared, directory: run).run()
        let metrics = run.appendingPathComponent("metrics.csv")
        let complete = try String(contentsOf: metrics, encoding: .utf8)
        XCTAssertEqual(complete.split(separator: "\n").count, 3)
        try (complete.split(separator: "\n").prefix(2).joined(separator: "\n") + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: run.appendingPathComponent("loss.png"))
        let resumed = try Trainer.resume(run)
        XCTAssertEqual(try String(contentsOf: metrics, encoding: .utf8), complete)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("loss.png").path))
        XCTAssertEqual(try resumed.run().epochsCompleted, 2)
    }

    /// A run killed during its first epoch has committed nothing; resume says so instead of "not a run".
    func testResumeOfARunThatNeverFinishedAnEpochSaysWhatToDo() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("first-epoch")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("no epoch") && "\(error)".contains("start the run again"), "\(error)")
        }
        try Data().write(to: run.appendingPathComponent(".last.next.safetensors.1234.tmp"))
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("no epoch"), "killed while saving epoch 1: \(error)")
        }
        try Checkpoint.writeRecord(RunRecord(config: config(prepared), state: RunState()), to: run)
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("no completed epoch"), "\(error)")
        }
        // A directory of other things is not called a run.
        XCTAssertThrowsError(try Trainer.resume(data)) { error in
            XCTAssertTrue("\(error)".contains("not a vision run directory"), "\(error)")
        }
    }

    /// `--force` killed outright (no error path, no deinit) before the new run's first epoch leaves the old
    /// run set aside; the next resume or new run in the directory puts it back, byte for byte.
    func testAnOldRunAKilledForceRunSetAsideIsPutBack() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("replaced")
        try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run).run(stopAfter: 1)
        let names = ["run.json", "last.safetensors", "best.safetensors", "optimizer.safetensors", "metrics.csv"]
        let old = try files(run, names)
        func killedForceRun() throws {
            let claimed = try XCTUnwrap(try Trainer.claimRunDirectory(run, overwrite: true))
            XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("run.json").path))
            try Data("half-written".utf8).write(to: run.appendingPathComponent("last.next.safetensors"))
            withExtendedLifetime(claimed) {}  // the process dies: the lock goes, nothing is restored
        }
        func asides() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.hasPrefix(".replaced-") } }

        try killedForceRun()
        XCTAssertThrowsError(try Trainer.resume(run)) { error in
            XCTAssertTrue("\(error)".contains("--force") && "\(error)".contains("epoch 1 of 3"), "\(error)")
        }
        XCTAssertEqual(try files(run, names), old)
        XCTAssertEqual(try asides(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("last.next.safetensors").path))

        try killedForceRun()
        XCTAssertThrowsError(try Trainer.claimRunDirectory(run, overwrite: false)) { error in
            XCTAssertTrue("\(error)".contains("--resume"), "a new run finds the old one back: \(error)")
        }
        XCTAssertEqual(try files(run, names), old)
        XCTAssertEqual(try Trainer.resume(run).state.epochsCompleted, 1)

        // Killed half-way through the claim (run.json and last moved, the rest not) or through a restore
        // (everything but last moved back): what was moved goes back, and nothing of the old run is lost.
        let fm = FileManager.default
        for (prefix, moved) in [(".replacing-", ["run.json", "last.safetensors"]), (".restoring-", ["last.safetensors"])] {
            let folder = run.appendingPathComponent(prefix + UUID().uuidString)
            try fm.createDirectory(at: folder, withIntermediateDirectories: false)
            for name in moved { try fm.moveItem(at: run.appendingPathComponent(name), to: folder.appendingPathComponent(name)) }
            XCTAssertThrowsError(try Trainer.resume(run)) { error in
                XCTAssertTrue("\(error)".contains("--force") && "\(error)".contains("epoch 1 of 3"), "\(prefix): \(error)")
            }
            XCTAssertEqual(try files(run, names), old, prefix)
            XCTAssertFalse(fm.fileExists(atPath: folder.path), prefix)
        }

        // Killed after the new run committed, before the set-aside folder was deleted: the folder just goes.
        let stale = run.appendingPathComponent(".replaced-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: false)
        try old[0].write(to: stale.appendingPathComponent("run.json"))
        XCTAssertEqual(try Trainer.resume(run).state.epochsCompleted, 1)
        XCTAssertEqual(try asides(), [])
    }

    /// Training crops larger than the images: the padding is ignored by the loss and the accuracy,
    /// and the whole images of mixed sizes are validated one at a time.
    func testSegmentationWithCropsLargerThanTheImagesAndMixedSizes() throws {
        let root = directory.appendingPathComponent("cells")
        try ToolsTestData.writeSegmentationFolder(root.appendingPathComponent("train"), count: 4, side: 8)
        try ToolsTestData.writeSegmentationFolder(root.appendingPathComponent("test"), count: 1, side: 8)
        try ToolsTestData.writeSegmentationFolder(directory.appendingPathComponent("wide"), count: 1, side: 12)
        for folder in ["image", "label"] {
            try FileManager.default.moveItem(at: directory.appendingPathComponent("wide/\(folder)/00.png"),
                                             to: root.appendingPathComponent("test/\(folder)/01.png"))
        }
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 1, imageSize: 16)
        XCTAssertEqual(prepared.validation?.count, 2)
        let config = RunConfig(model: "unet", modelOptions: ModelOptions(numClasses: 2, inChannels: 1, base: 4, depth: 2, seed: 1, inputSize: 16),
                               data: root.path, task: .segmentation, classNames: prepared.classNames, preprocessing: prepared.preprocessing,
                               epochs: 1, batchSize: 2, optimizer: "adam", learningRate: 0.01, workers: 0, seed: 1, imageSize: 16)
        let state = try Trainer(config: config, data: prepared, directory: directory.appendingPathComponent("seg-run")).run()
        let record = try XCTUnwrap(state.history.first)
        XCTAssertTrue(record.trainLoss.isFinite)
        // 8×8 images in 16×16 crops: were the 192 padded pixels of each counted, accuracy could not pass 0.25.
        XCTAssertGreaterThan(record.trainAccuracy, 0.25)
        XCTAssertLessThanOrEqual(record.trainAccuracy, 1)
        XCTAssertNotNil(record.validationAccuracy)
        // One RGB image among gray ones is converted to the first image's channel count, in training and
        // validation alike (the network's first convolution takes exactly that many).
        let colour = root.appendingPathComponent("train/image/02.png")
        let gray = try ImageIO.decode(contentsOf: colour)
        try ImageIO.writePNG(Image(height: gray.height, width: gray.width, channels: 3,
                                   pixels: gray.pixels.flatMap { [$0, $0 / 2, 255 - $0] as [UInt8] }), to: colour)
        try ImageIO.writePNG(Image(height: 12, width: 12, channels: 3, pixels: [UInt8](repeating: 90, count: 432)),
                             to: root.appendingPathComponent("test/image/01.png"))
        let mixedChannels = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 1, imageSize: 16)
        XCTAssertEqual(mixedChannels.preprocessing.channels, 1)
        let again = try Trainer(config: config, data: mixedChannels, directory: directory.appendingPathComponent("seg-rgb")).run()
        XCTAssertTrue(again.history[0].trainLoss.isFinite)
        var g = SeededGenerator(seed: 0)
        for i in 0..<mixedChannels.train.count {
            var sample = try mixedChannels.train.sample(at: i)
            mixedChannels.trainTransform.apply(to: &sample, generator: &g)
            XCTAssertEqual(sample.image.channels, 1)
        }
        for i in 0..<(mixedChannels.validation?.count ?? 0) {
            var sample = try mixedChannels.validation!.sample(at: i)
            mixedChannels.evalTransform.apply(to: &sample, generator: &g)
            XCTAssertEqual(sample.image.channels, 1)
        }
        var mixed = config
        mixed.cutmixAlpha = 1
        XCTAssertThrowsError(try Trainer(config: mixed, data: prepared, directory: directory.appendingPathComponent("seg-mixed"))) { error in
            XCTAssertTrue("\(error)".contains("--cutmix-alpha") && "\(error)".contains("segmentation"), "\(error)")
        }
    }

    // MARK: Non-finite loss

    func testNonFiniteLossStopsTrainingAndKeepsTheLastGoodCheckpoint() throws {
        var prepared = try prepare()
        let poisonable = PoisonableDataset(prepared.train)
        prepared.train = poisonable
        let run = directory.appendingPathComponent("run")
        let trainer = try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run)
        try trainer.run(stopAfter: 1)
        let names = ["last.safetensors", "best.safetensors", "optimizer.safetensors", "run.json", "metrics.csv", "loss.png", "accuracy.png"]
        let before = try files(run, names)

        poisonable.poisoned = true
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case let ToolError.nonFiniteLoss(epoch, batch, value, checkpoint) = error else {
                return XCTFail("expected nonFiniteLoss, got \(error)")
            }
            XCTAssertEqual(epoch, 2)
            XCTAssertEqual(batch, 1)
            XCTAssertFalse(value.isFinite)
            XCTAssertEqual(checkpoint, run.appendingPathComponent("last.safetensors").path)
            XCTAssertTrue("\(error)".contains("epoch 2, batch 1"), "\(error)")
            XCTAssertTrue("\(error)".contains("last.safetensors"), "\(error)")
        }
        let after = try files(run, names)
        for (k, name) in names.enumerated() { XCTAssertEqual(before[k], after[k], "\(name) was touched") }
        XCTAssertEqual(trainer.state.epochsCompleted, 1)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: run.path).contains { $0.hasPrefix(".") || $0.contains("tmp") },
                       "no temporary files are left behind")
        // The poisoned batch never reached the optimizer: the parameters are still those saved.
        let saved = try SafeTensors.read(contentsOf: run.appendingPathComponent("last.safetensors"))
        for (name, tensor) in trainer.model.namedParameters() {
            XCTAssertEqual(tensor.storage, saved[name]?.storage, name)
        }
        // The run can be resumed from the good checkpoint.
        XCTAssertEqual(try Trainer.resume(run).state.epochsCompleted, 1)
    }

    /// Weights whose every training batch was finite can still score a non-finite validation loss (the last
    /// step blew them up); training stops with that said, the last good epoch kept, not with a JSON encoding error.
    func testNonFiniteValidationLossStopsTrainingAndKeepsTheLastGoodCheckpoint() throws {
        var prepared = try prepare()
        let poisonable = PoisonableDataset(try XCTUnwrap(prepared.validation))
        prepared.validation = poisonable
        let run = directory.appendingPathComponent("run-validation")
        let trainer = try Trainer(config: config(prepared, epochs: 3), data: prepared, directory: run)
        try trainer.run(stopAfter: 1)
        let names = ["last.safetensors", "best.safetensors", "optimizer.safetensors", "run.json", "metrics.csv"]
        let before = try files(run, names)

        poisonable.poisoned = true
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case let ToolError.nonFiniteValidationLoss(epoch, value, checkpoint) = error else {
                return XCTFail("expected nonFiniteValidationLoss, got \(error)")
            }
            XCTAssertEqual(epoch, 2)
            XCTAssertFalse(value.isFinite)
            XCTAssertEqual(checkpoint, run.appendingPathComponent("last.safetensors").path)
            XCTAssertTrue("\(error)".contains("validation loss became nan after epoch 2"), "\(error)")
        }
        let after = try files(run, names)
        for (k, name) in names.enumerated() { XCTAssertEqual(before[k], after[k], "\(name) was touched") }
        XCTAssertEqual(try Trainer.resume(run).state.epochsCompleted, 1)
    }

    /// A kill during a save leaves `.last.safetensors.<uuid>.tmp`; resuming (under the run's lock) removes it,
    /// and leaves other files alone.
    func testResumeRemovesTemporariesAnInterruptedSaveLeft() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("interrupted-save")
        try Trainer(config: config(prepared), data: prepared, directory: run).run(stopAfter: 1)
        let stale = run.appendingPathComponent(".last.safetensors.\(UUID().uuidString).tmp")
        let foreign = run.appendingPathComponent(".notes.tmp")
        try Data([1, 2, 3]).write(to: stale)
        try Data([4]).write(to: foreign)
        _ = try Trainer.resume(run)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: foreign.path))
    }

    func testNonFiniteLossBeforeAnyCheckpointSaysSo() throws {
        var prepared = try prepare()
        let poisonable = PoisonableDataset(prepared.train)
        poisonable.poisoned = true
        prepared.train = poisonable
        let run = directory.appendingPathComponent("fresh")
        XCTAssertThrowsError(try Trainer(config: config(prepared), data: prepared, directory: run).run()) { error in
            guard case let ToolError.nonFiniteLoss(epoch, batch, _, checkpoint) = error else {
                return XCTFail("expected nonFiniteLoss, got \(error)")
            }
            XCTAssertEqual([epoch, batch], [1, 1])
            XCTAssertNil(checkpoint)
            XCTAssertTrue("\(error)".contains("no checkpoint"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("last.safetensors").path))
    }

    // MARK: Freezing and configuration

    func testFreezingUpToALayerAndTheBackbone() throws {
        let model = try ModelRegistry.build("resnet20", options: ModelOptions(numClasses: 3, inputSize: 8))
        try Trainer.applyFreezing("layer2", to: model)
        for (name, tensor) in model.namedParameters() {
            let shouldTrain = name.hasPrefix("layer3.") || name.hasPrefix("fc.")
            XCTAssertEqual(tensor.requiresGrad, shouldTrain, name)
        }
        for (name, module) in model.namedModules() {
            if let bn = module as? BatchNorm2d {
                XCTAssertEqual(bn.freezeStatistics, !name.hasPrefix("layer3"), name)
            }
        }
        XCTAssertThrowsError(try Trainer.applyFreezing("layer7", to: model)) { error in
            XCTAssertTrue("\(error)".contains("layer7") && "\(error)".contains("layer3"), "\(error)")
        }

        let other = try ModelRegistry.build("resnet20", options: ModelOptions(numClasses: 3, inputSize: 8))
        try Trainer.applyFreezing("backbone", to: other)
        XCTAssertEqual(other.namedParameters().filter(\.tensor.requiresGrad).map(\.name), ["fc.weight", "fc.bias"])
        try Trainer.applyFreezing("none", to: other)
        XCTAssertEqual(other.namedParameters().filter(\.tensor.requiresGrad).count, 2, "none changes nothing")
        XCTAssertTrue(Trainer.isHeadParameter("fc.weight"))
        XCTAssertTrue(Trainer.isHeadParameter("classifier.6.bias"))
        XCTAssertFalse(Trainer.isHeadParameter("layer1.0.conv1.weight"))
    }

    func testInvalidConfigurationsAreRejectedUpFront() throws {
        let prepared = try prepare()
        let run = directory.appendingPathComponent("bad")
        func rejects(_ config: RunConfig, mentioning text: String, line: UInt = #line) {
            XCTAssertThrowsError(try Trainer(config: config, data: prepared, directory: run), line: line) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)", line: line)
            }
        }
        rejects(config(prepared, epochs: 0), mentioning: "--epochs")
        rejects(config(prepared, optimizer: "lion"), mentioning: "lion")
        rejects(config(prepared, schedule: "zigzag"), mentioning: "zigzag")
        var nanRate = config(prepared)
        nanRate.learningRate = .nan
        rejects(nanRate, mentioning: "--lr")
        var frozenSolid = config(prepared)
        frozenSolid.freeze = "fc"
        rejects(frozenSolid, mentioning: "frozen")
        rejects(config(prepared, mixupAlpha: -0.2), mentioning: "--mixup-alpha")
        rejects(config(prepared, cutmixAlpha: .infinity), mentioning: "--cutmix-alpha")
        var wrongHead = config(prepared)
        wrongHead.modelOptions.numClasses = 5
        rejects(wrongHead, mentioning: "5 classes")
        var allWarmup = config(prepared, epochs: 3)
        allWarmup.warmupEpochs = 3
        rejects(allWarmup, mentioning: "--warmup-epochs")
        var negativeDecay = config(prepared)
        negativeDecay.normWeightDecay = -1
        rejects(negativeDecay, mentioning: "--norm-weight-decay")
        negativeDecay.normWeightDecay = nil
        negativeDecay.biasWeightDecay = .nan
        rejects(negativeDecay, mentioning: "--bias-weight-decay")
    }

    /// With --norm-weight-decay / --bias-weight-decay the groups follow torchvision's split, inside the
    /// backbone and head groups of fine-tuning too; ResNet-20 has 19 batch-norms and one bias (fc).
    func testWeightDecayGroupsByLayerKind() throws {
        let prepared = try prepare()
        var c = config(prepared)
        c.biasWeightDecay = 1e-4
        var groups = try Trainer.makeOptimizer(c, model: try c.buildModel()).groups
        XCTAssertEqual(groups.map(\.name), ["decay", "norm", "bias"])
        XCTAssertEqual(groups.map(\.parameters.count), [20, 19, 20])
        XCTAssertEqual(groups.map(\.weightDecay), [nil, 0, 1e-4])
        c.backboneLearningRateScale = 0.1
        groups = try Trainer.makeOptimizer(c, model: try c.buildModel()).groups
        XCTAssertEqual(groups.map(\.name), ["backbone_decay", "backbone_norm", "backbone_bias", "head_decay", "head_bias"])
        XCTAssertEqual(groups.map(\.parameters.count), [19, 19, 19, 1, 1])
        XCTAssertEqual(groups.map(\.learningRateScale), [0.1, 0.1, 0.1, 1, 1])
    }

    /// Every schedule runs its whole course after the warm-up: one-cycle included, it ends near zero
    /// at the last step, and the warm-up climbs linearly to the peak.
    func testSchedulesFinishTheirCourseAfterWarmUp() throws {
        let prepared = try prepare()
        for name in Trainer.scheduleNames where name != "constant" {
            var c = config(prepared, epochs: 10, schedule: name)
            c.warmupEpochs = 2
            let schedule = try Trainer.makeSchedule(c, batchesPerEpoch: 5)
            let last = schedule.learningRate(at: 49)
            XCTAssertLessThan(last, 0.04 * c.learningRate, "\(name) ends at \(last), peak \(c.learningRate)")
            let peak = (0..<50).map { schedule.learningRate(at: $0) }.max() ?? 0
            XCTAssertEqual(peak, c.learningRate, accuracy: 1e-3 * c.learningRate, "\(name) reaches --lr")
        }
    }
}
