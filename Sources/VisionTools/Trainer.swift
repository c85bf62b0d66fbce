import Foundation
import VisionCore
import VisionData
import VisionImage
import VisionModels
import VisionNN
import VisionOptim

/// What the trainer reports while it works (the CLI prints it; the library never prints).
public enum TrainingEvent {
    case started(trainCount: Int, validationCount: Int, validationSource: String, batchesPerEpoch: Int,
                 parameters: Int, trainable: Int, firstEpoch: Int)
    case batch(epoch: Int, index: Int, of: Int, loss: Double, accuracy: Double, imagesPerSecond: Double, etaSeconds: Double)
    case validating(epoch: Int)
    case epochFinished(EpochRecord, isBest: Bool)
}

/// Trains a model on prepared data, writing checkpoints, metrics and plots into a run directory.
///
/// Every epoch ends with `last.safetensors`, `optimizer.safetensors`, `run.json`, `metrics.csv`,
/// `loss.png` and `accuracy.png` (and `best.safetensors` when validation improved), each written
/// atomically, in an order that leaves the run resumable wherever a crash stops it (`saveCheckpoint`).
/// Data order, augmentation and dropout are functions of (seed, epoch), and the learning
/// rate a function of the global step, so a resumed run continues exactly as an uninterrupted one.
public final class Trainer {
    public let config: RunConfig
    public let directory: URL
    public let model: Module
    public let data: PreparedData
    public private(set) var state: RunState
    public let optimizer: GradientOptimizer
    let trainLoader: DataLoader
    let validationLoader: DataLoader?
    let schedule: any LRSchedule
    /// MixUp / CutMix for classification training, when configured.
    let mixing: BatchMixing?
    /// The run directory's lock, held from `resume` (or `--force`'s claim) until `run` ends, so that no other
    /// process can take the directory in between.
    private var directoryLock: RunDirectoryLock?
    /// Where `--force` moved the old run, until this run commits its first epoch.
    private var setAside: URL?

    /// Starts a new run in `directory` (created if needed). Pass `model` to start from given weights.
    /// With `replacingRun` (`--force`) a run already there is removed, but only once every option has
    /// been checked: a mistyped option must not cost the old run.
    public init(config: RunConfig, data: PreparedData, directory: URL, model: Module? = nil, replacingRun: Bool = false) throws {
        guard config.epochs > 0 else { throw ToolError.invalidOption("--epochs must be positive, got \(config.epochs)") }
        guard config.batchSize > 0 else { throw ToolError.invalidOption("--batch-size must be positive, got \(config.batchSize)") }
        guard config.learningRate > 0, config.learningRate.isFinite else {
            throw ToolError.invalidOption("--lr must be a positive number, got \(config.learningRate)")
        }
        for (name, value) in [("--weight-decay", config.weightDecay), ("--norm-weight-decay", config.normWeightDecay),
                              ("--bias-weight-decay", config.biasWeightDecay)] {
            if let value, !(value >= 0 && value.isFinite) {
                throw ToolError.invalidOption("\(name) must be a finite number ≥ 0, got \(value)")
            }
        }
        for (name, value) in [("--mixup-alpha", config.mixupAlpha), ("--cutmix-alpha", config.cutmixAlpha)] {
            guard let value, value != 0 else { continue }
            guard value > 0, value.isFinite else {
                throw ToolError.invalidOption("\(name) must be a finite number ≥ 0 (0 turns it off), got \(value)")
            }
            guard data.task == .classification else {
                throw ToolError.invalidOption("\(name) mixes whole images and their labels; it applies to classification, not segmentation")
            }
        }
        if data.task == .segmentation {
            // Segmentation training crops, flips and turns image and mask together; these are classification options.
            let unused = [config.erasing.map { _ in "--erasing" }, config.cropPadding.map { _ in "--crop-padding" },
                          DataSetup.segmentationPresets.contains(config.augmentation) ? nil : "--augment \(config.augmentation)"]
                .compactMap { $0 }
            if !unused.isEmpty {
                throw ToolError.invalidOption("\(unused.joined(separator: ", ")) \(unused.count == 1 ? "applies" : "apply") to classification; segmentation training takes --augment standard (random crop, flips, quarter turns), strong (+ small rotations), elastic (+ an elastic deformation) or none")
            }
        }
        if config.warmupEpochs > 0 && config.warmupEpochs >= config.epochs {
            throw ToolError.invalidOption("--warmup-epochs \(config.warmupEpochs) leaves no epoch of the schedule (--epochs \(config.epochs)); warm up for fewer epochs")
        }
        if data.task == .classification && config.modelOptions.numClasses != data.classNames.count {
            throw ToolError.invalidOption("the model predicts \(config.modelOptions.numClasses) classes but \(config.data) has \(data.classNames.count) (\(Trainer.listed(data.classNames))); the labels would not fit its outputs")
        }
        let mixing = BatchMixing(mixupAlpha: Double(config.mixupAlpha ?? 0), cutmixAlpha: Double(config.cutmixAlpha ?? 0))
        self.mixing = mixing.isEnabled ? mixing : nil
        self.config = config
        self.directory = directory
        self.data = data
        self.model = try model ?? config.buildModel()
        state = RunState()
        try Trainer.applyFreezing(config.freeze, to: self.model)
        trainLoader = DataLoader(data.train, batchSize: config.batchSize, shuffle: true, dropLast: data.train.count > config.batchSize,
                                 workers: config.workers, seed: config.seed, transform: data.trainTransform)
        validationLoader = data.validation.map {
            // Segmentation images are validated whole, one at a time: their sizes may differ.
            DataLoader($0, batchSize: data.task == .segmentation ? 1 : max(config.batchSize, 128),
                       workers: config.workers, seed: config.seed, transform: data.evalTransform)
        }
        optimizer = try Trainer.makeOptimizer(config, model: self.model)
        schedule = try Trainer.makeSchedule(config, batchesPerEpoch: trainLoader.batchCount)
        if min(config.batchSize, data.train.count) == 1 {
            try Trainer.checkBatchNormalizationOfSingleImages(self.model, data: data, batchSize: config.batchSize)
        }
        if replacingRun, let claimed = try Trainer.claimRunDirectory(directory, overwrite: true) {
            directoryLock = claimed.lock
            setAside = claimed.setAside
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ToolError.invalidRun(path: directory.path, reason: "cannot create the run directory: \(error.localizedDescription)")
        }
    }

    /// Reopens a run directory to continue from its last completed epoch.
    public static func resume(_ directory: URL, workers: Int? = nil) throws -> Trainer {
        let runFile = directory.appendingPathComponent("run.json")
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw ToolError.invalidRun(path: runFile.path, reason: "missing (no such run directory)")
        }
        // The lock before the record: no other process may commit an epoch between reading it and repairing.
        let lock = try RunDirectoryLock(directory)
        if let restored = recoverReplacedRun(directory) {
            let back = restored.isEmpty ? "the files of the run it was replacing are back in place;"
                : "the run it was replacing is back in place (\(restored)) — resume that one with the same command, or"
            throw ToolError.invalidRun(path: directory.path, reason: "a run started here with --force stopped before its first epoch, so there is nothing of it to resume; \(back) start the new run again (with --force)")
        }
        guard FileManager.default.fileExists(atPath: runFile.path) else {
            // A run killed during its first epoch leaves its directory empty, or with the pending files of that epoch.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            let isRunLeftover = names.allSatisfy { name in
                name.hasSuffix(".tmp") || Checkpoint.runFiles.contains(name)
            }
            guard isRunLeftover else { throw ToolError.invalidRun(path: runFile.path, reason: "missing (not a vision run directory)") }
            throw ToolError.invalidRun(path: runFile.path, reason: "missing: no epoch of a run has been completed in this directory (a run stopped during its first epoch leaves nothing to resume); start the run again — the same command and seed reproduce it")
        }
        let record = try Checkpoint.readRecord(directory)
        guard record.state.epochsCompleted > 0 else {
            throw ToolError.invalidRun(path: runFile.path, reason: "records no completed epoch, so there is nothing to resume; start the run again — the same command and seed reproduce it")
        }
        try Checkpoint.recover(directory, record: record)
        var config = record.config
        if let workers { config.workers = workers }
        let problems = config.trainingProblems
        guard problems.isEmpty else {
            throw ToolError.invalidRun(path: directory.appendingPathComponent("run.json").path,
                                       reason: "cannot continue the run: " + problems.map { "config: \($0)" }.joined(separator: "; "))
        }
        // The recorded statistics (a fine-tuning run uses its source model's) rebuild the same pipeline.
        let data: PreparedData
        do {
            data = try DataSetup.prepare(data: config.data, augmentation: config.augmentation, seed: config.seed,
                                         limit: config.limit, validationSplit: config.validationSplit, imageSize: config.imageSize,
                                         normalization: (config.preprocessing.mean, config.preprocessing.std),
                                         erasing: config.erasing, cropPadding: config.cropPadding)
        } catch {
            let isPath = config.data.contains("/") || !DatasetCatalog.names.contains(config.data.lowercased())
            let relative = isPath && !config.data.hasPrefix("/") ? " (a relative path is taken from the directory vision runs in)" : ""
            throw ToolError.invalidRun(path: directory.path, reason: "cannot reopen the run's data '\(config.data)'\(relative): \(error)")
        }
        guard data.classNames == config.classNames else {
            throw ToolError.invalidRun(path: directory.path, reason: "was trained on the classes \(Trainer.listed(config.classNames)), but \(config.data) now holds \(Trainer.listed(data.classNames)); resuming would train on shifted labels — start a new run instead")
        }
        guard data.preprocessing.channels == config.preprocessing.channels && data.preprocessing.size == config.preprocessing.size else {
            func inputs(_ p: Preprocessing) -> String { "\(p.channels)-channel" + (p.size.map { " \($0)×\($0)" } ?? "") }
            throw ToolError.invalidRun(path: directory.path, reason: "was trained on \(inputs(config.preprocessing)) inputs, but \(config.data) now gives \(inputs(data.preprocessing)); resuming would feed the network inputs of another shape — start a new run instead")
        }
        // Images added to or removed from the class folders would change the split, the batches per epoch and
        // so the learning rate of every remaining step (runs recorded before the counts were kept are not checked).
        let counts = (train: data.train.count, validation: data.validation?.count ?? 0)
        if let train = record.trainImages, let validation = record.validationImages, (train, validation) != counts {
            throw ToolError.invalidRun(path: directory.path, reason: "was trained on \(train) training and \(validation) validation images, but \(config.data) now gives \(counts.train) and \(counts.validation); resuming would continue on other data with a shifted learning-rate schedule — start a new run instead")
        }
        let model = try config.buildModel()
        let weights = directory.appendingPathComponent(record.lastWeights)
        try model.loadStateDict(contentsOf: weights, strict: true)
        try Checkpoint.checkEpoch(of: weights, is: record.state.epochsCompleted, required: true)
        let trainer = try Trainer(config: config, data: data, directory: directory, model: model)
        trainer.directoryLock = lock
        trainer.state = record.state
        let url = directory.appendingPathComponent(record.optimizerState)
        // Optimizer files written before epochs were stamped into them carry no epoch.
        try Checkpoint.checkEpoch(of: url, is: record.state.epochsCompleted, required: false)
        do {
            try trainer.optimizer.loadStateDict(try SafeTensors.read(contentsOf: url))
        } catch let error as SafeTensorsError {
            throw ToolError.invalidRun(path: url.path, reason: error.reason)
        } catch {
            throw ToolError.invalidRun(path: url.path, reason: "does not fit the run's optimizer: \(error)")
        }
        // A crash between run.json and these leaves them an epoch behind, and a run whose last epoch was
        // that one has no epoch left to rewrite them.
        try trainer.writeProgressFiles()
        return trainer
    }

    /// Batch normalisation cannot normalise one value per channel by its own batch statistics (PyTorch refuses
    /// it too), which batches of one image give wherever the network has shrunk the map to 1×1. Run once,
    /// in eval mode, on a training sample when the batches hold one image, to refuse that before any work.
    static func checkBatchNormalizationOfSingleImages(_ model: Module, data: PreparedData, batchSize: Int) throws {
        let norms = model.namedModules().filter { ($0.module as? BatchNorm2d).map { !$0.freezeStatistics } ?? false }.map(\.name)
        guard !norms.isEmpty else { return }
        let iterator = DataLoader(data.train, batchSize: 1, transform: data.trainTransform).epoch(0)
        defer { iterator.close() }
        guard let batch = try iterator.next() else { return }
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let outputs = try model.captureOutputs(of: norms) { _ = Autograd.noGrad { model(batch.images) } }
        for name in norms {
            guard let map = outputs[name], map.rank >= 2, map.shape[2...].reduce(1, *) == 1 else { continue }
            let input = batch.images.shape.dropFirst().map(String.init).joined(separator: "×")
            throw ToolError.invalidOption("batch norm \(name) would see one value per channel: each training batch holds a single image"
                + " (\(data.train.count) training image\(data.train.count == 1 ? "" : "s"), --batch-size \(batchSize))"
                + " and the network has shrunk its \(input) input to 1×1 there; train on at least 2 images per batch, or on larger inputs (--image-size)")
        }
    }

    static func listed(_ names: [String]) -> String {
        names.count <= 12 ? names.joined(separator: ", ") : names.prefix(12).joined(separator: ", ") + ", … (\(names.count) in all)"
    }

    /// A directory taken over with `overwrite` (`--force`): its lock, and the hidden folder the old run's
    /// files were moved into, deleted once the new run has committed an epoch, moved back if it fails first.
    public struct ClaimedRunDirectory {
        public let lock: RunDirectoryLock
        public let setAside: URL
    }

    /// Refuses to start a new run in a directory that already holds one (its checkpoints would be
    /// replaced after the first epoch); `vision train --resume` continues one. With `overwrite`, the old
    /// run's files are moved into `.replaced-<uuid>/` instead (`run.json` first), so nothing of it mixes
    /// with the new run and nothing of it is lost before the new run has saved an epoch.
    @discardableResult
    public static func claimRunDirectory(_ directory: URL, overwrite: Bool) throws -> ClaimedRunDirectory? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: directory.path) else { return nil }
        if SetAside.any(in: directory) {
            let lock = try RunDirectoryLock(directory)
            recoverReplacedRun(directory)  // an old run a killed --force run left set aside counts as present
            withExtendedLifetime(lock) {}
        }
        let present = Checkpoint.runFiles.filter { fm.fileExists(atPath: directory.appendingPathComponent($0).path) }
        guard !present.isEmpty else { return nil }
        guard overwrite else {
            if present.contains(where: Checkpoint.committedRunFiles.contains) {
                throw ToolError.invalidRun(path: directory.path, reason: "already holds a run (\(present.filter(Checkpoint.committedRunFiles.contains).joined(separator: ", "))); continue it with `vision train --resume \(directory.path)`, choose another -o, or pass --force to replace it")
            }
            throw ToolError.invalidRun(path: directory.path, reason: "holds files a run writes (\(present.joined(separator: ", "))), which it would replace; choose another -o, or pass --force to replace them")
        }
        let lock = try RunDirectoryLock(directory)
        Checkpoint.removeStaleTemporaries(directory)
        let id = UUID().uuidString
        let moving = directory.appendingPathComponent(SetAside.moving + id)
        do {
            try fm.createDirectory(at: moving, withIntermediateDirectories: false)
        } catch {
            throw ToolError.invalidRun(path: moving.path, reason: "cannot set the old run aside (--force): \(error.localizedDescription)")
        }
        for name in Checkpoint.runFiles where fm.fileExists(atPath: directory.appendingPathComponent(name).path) {
            guard rename(directory.appendingPathComponent(name).path, moving.appendingPathComponent(name).path) == 0 else {
                let reason = String(cString: strerror(errno))
                moveBack(moving, into: directory)
                throw ToolError.invalidRun(path: directory.appendingPathComponent(name).path, reason: "cannot set the old run's file aside (--force): \(reason)")
            }
        }
        let aside = directory.appendingPathComponent(SetAside.complete + id)
        guard rename(moving.path, aside.path) == 0 else {
            let reason = String(cString: strerror(errno))
            moveBack(moving, into: directory)
            throw ToolError.invalidRun(path: aside.path, reason: "cannot set the old run aside (--force): \(reason)")
        }
        return ClaimedRunDirectory(lock: lock, setAside: aside)
    }

    /// Names of the folder `--force` moves the old run into: `.replacing-<id>` while its files go in (a kill
    /// then leaves only old files, split between folder and directory), `.replaced-<id>` once all are in (the
    /// directory's run files are then the new run's), `.restoring-<id>` while they are moved back.
    enum SetAside {
        static let moving = ".replacing-", complete = ".replaced-", restoring = ".restoring-"

        static func folders(_ prefix: String, in directory: URL) -> [URL] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.filter { $0.hasPrefix(prefix) }.sorted().map { directory.appendingPathComponent($0) }
        }

        static func any(in directory: URL) -> Bool {
            [moving, complete, restoring].contains { !folders($0, in: directory).isEmpty }
        }
    }

    /// Moves every run file `folder` holds back into `directory` (over a file of the same name there),
    /// `run.json` last, so that its presence means the whole old run is back; then removes the folder.
    static func moveBack(_ folder: URL, into directory: URL) {
        let fm = FileManager.default
        for name in Checkpoint.runFiles.dropFirst() + ["run.json"] where fm.fileExists(atPath: folder.appendingPathComponent(name).path) {
            unlink(directory.appendingPathComponent(name).path)
            rename(folder.appendingPathComponent(name).path, directory.appendingPathComponent(name).path)
        }
        try? fm.removeItem(at: folder)
    }

    /// Puts a completely set-aside run back: the directory's run files (the new run's uncommitted ones) go,
    /// the folder is renamed `.restoring-` (so a kill from here on is finished by `moveBack`), and its files return.
    static func restore(_ aside: URL, into directory: URL) {
        Checkpoint.removeStaleTemporaries(directory)
        for name in Checkpoint.runFiles { unlink(directory.appendingPathComponent(name).path) }
        let id = aside.lastPathComponent.hasPrefix(SetAside.complete) ? String(aside.lastPathComponent.dropFirst(SetAside.complete.count)) : UUID().uuidString
        let restoring = directory.appendingPathComponent(SetAside.restoring + id)
        moveBack(rename(aside.path, restoring.path) == 0 ? restoring : aside, into: directory)
    }

    /// Repairs what a `--force` run killed outright (no error path, no deinit) left. Half-finished moves (a claim
    /// or a restore) are moved back. A complete set-aside folder is deleted if `run.json` is in place (the new
    /// run committed an epoch before the deletion), else its run is put back (the newest, should there be
    /// several; the others stay). Returns a description of a run put back. Call with the directory locked.
    @discardableResult
    static func recoverReplacedRun(_ directory: URL) -> String? {
        let fm = FileManager.default
        var restored = false
        for folder in SetAside.folders(SetAside.moving, in: directory) + SetAside.folders(SetAside.restoring, in: directory) {
            moveBack(folder, into: directory)
            restored = true
        }
        let asides = SetAside.folders(SetAside.complete, in: directory)
        if !asides.isEmpty && !restored {
            if fm.fileExists(atPath: directory.appendingPathComponent("run.json").path) {
                for aside in asides { try? fm.removeItem(at: aside) }
            } else {
                func modified(_ url: URL) -> Date {
                    ((try? fm.attributesOfItem(atPath: url.appendingPathComponent("run.json").path))?[.modificationDate] as? Date) ?? .distantPast
                }
                restore(asides.max { modified($0) < modified($1) }!, into: directory)
                restored = true
            }
        }
        guard restored else { return nil }
        guard let record = try? Checkpoint.readRecord(directory) else { return "" }
        return "\(record.config.model) on \(record.config.data), epoch \(record.state.epochsCompleted) of \(record.config.epochs)"
    }

    /// After a failure before the new run's first committed epoch: the old run comes back.
    func restoreSetAsideRun() {
        guard let aside = setAside else { return }
        Trainer.restore(aside, into: directory)
        setAside = nil
    }

    deinit { restoreSetAsideRun() }

    // MARK: Training

    /// Trains until `config.epochs` epochs are complete (or `stopAfter` more epochs, for tests and
    /// interruption drills). Returns the final state.
    @discardableResult
    public func run(stopAfter: Int? = nil, onEvent: (TrainingEvent) -> Void = { _ in }) throws -> RunState {
        if directoryLock == nil { directoryLock = try RunDirectoryLock(directory) }
        defer { directoryLock = nil }  // released when the run ends, however it ends
        let first = state.epochsCompleted
        let last = min(config.epochs, stopAfter.map { first + $0 } ?? config.epochs)
        let trainable = model.parameters().filter(\.requiresGrad).reduce(0) { $0 + $1.count }
        onEvent(.started(trainCount: data.train.count, validationCount: data.validation?.count ?? 0,
                         validationSource: data.validationSource, batchesPerEpoch: trainLoader.batchCount,
                         parameters: model.parameterCount, trainable: trainable, firstEpoch: first + 1))
        do {
            for epoch in first..<last {
                try trainOneEpoch(epoch, onEvent: onEvent)
            }
        } catch {
            restoreSetAsideRun()  // under the lock still
            throw error
        }
        return state
    }

    func trainOneEpoch(_ epoch: Int, onEvent: (TrainingEvent) -> Void) throws {
        model.train()
        Trainer.reseedRandomLayers(of: model, seed: config.seed, epoch: epoch)
        let batches = trainLoader.batchCount
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0, pixelsSeen = 0
        let iterator = trainLoader.epoch(epoch)
        defer { iterator.close() }
        var index = 0
        var learningRate: Float = 0
        while let batch = try iterator.next() {
            learningRate = schedule.learningRate(at: epoch * batches + index)
            optimizer.learningRate = learningRate
            optimizer.zeroGrad()
            var targets = data.task == .segmentation ? (batch.masks ?? []) : batch.labels
            let logits: Tensor, loss: Tensor
            if let mixing {
                var generator = BatchMixing.generator(seed: config.seed, step: epoch * batches + index)
                let mixed = mixing.apply(images: batch.images, labels: targets, classes: data.classNames.count, generator: &generator)
                logits = model(mixed.images)
                loss = crossEntropy(logits, probabilities: mixed.targets, labelSmoothing: config.labelSmoothing)
                // Training accuracy counts the dominant label of each mixed image (torchvision's reference script).
                targets = Metrics.predictions(mixed.targets)
            } else {
                logits = model(batch.images)
                loss = crossEntropy(logits, targets: targets, labelSmoothing: config.labelSmoothing,
                                    ignoreIndex: data.task == .segmentation ? LabelMask.ignored : nil)
            }
            let value = loss.item
            guard value.isFinite else {
                let kept = directory.appendingPathComponent("last.safetensors")
                throw ToolError.nonFiniteLoss(epoch: epoch + 1, batch: index + 1, value: value,
                                              checkpoint: FileManager.default.fileExists(atPath: kept.path) ? kept.path : nil)
            }
            loss.backward()
            optimizer.step()
            let predictions = Metrics.predictions(logits)
            for (p, t) in zip(predictions, targets) where t != LabelMask.ignored {
                correct += p == t ? 1 : 0
                pixelsSeen += 1
            }
            lossSum += Double(value) * Double(batch.count)
            seen += batch.count
            index += 1
            let elapsed = Date().timeIntervalSince(start)
            onEvent(.batch(epoch: epoch + 1, index: index, of: batches, loss: lossSum / Double(seen),
                           accuracy: Double(correct) / Double(max(pixelsSeen, 1)),
                           imagesPerSecond: Double(seen) / max(elapsed, 1e-9),
                           etaSeconds: elapsed / Double(index) * Double(batches - index)))
        }
        let trainSeconds = Date().timeIntervalSince(start)
        var record = EpochRecord(epoch: epoch + 1, learningRate: learningRate, trainLoss: lossSum / Double(max(seen, 1)),
                                 trainAccuracy: Double(correct) / Double(max(pixelsSeen, 1)), seconds: 0,
                                 imagesPerSecond: Double(seen) / max(trainSeconds, 1e-9))
        if let validationLoader {
            onEvent(.validating(epoch: epoch + 1))
            let result = try Evaluator.evaluate(model, loader: validationLoader, task: data.task, classes: data.classNames.count)
            guard result.meanLoss.isFinite else {
                let kept = directory.appendingPathComponent("last.safetensors")
                throw ToolError.nonFiniteValidationLoss(epoch: epoch + 1, value: result.meanLoss,
                                                        checkpoint: FileManager.default.fileExists(atPath: kept.path) ? kept.path : nil)
            }
            record.validationLoss = result.meanLoss
            record.validationAccuracy = result.accuracy
            if data.task == .segmentation {
                record.validationMeanIoU = result.confusion.meanIoU
                record.validationDice = result.confusion.meanDice
            }
        }
        record.seconds = Date().timeIntervalSince(start)
        let metric = data.task == .segmentation ? (record.validationMeanIoU ?? -record.trainLoss)
                                                : (record.validationAccuracy ?? -record.trainLoss)
        let isBest = state.bestMetric.map { metric > $0 } ?? true
        state.epochsCompleted = epoch + 1
        state.history.append(record)
        if isBest { state.bestMetric = metric; state.bestEpoch = epoch + 1 }
        try saveCheckpoint(isBest: isBest)
        onEvent(.epochFinished(record, isBest: isBest))
    }

    /// Reseeds every `RandomLayer` of `model` (dropout and its kin) from (seed, epoch, the layer's position), so a
    /// resumed run draws the same numbers and no two layers draw in step.
    public static func reseedRandomLayers(of model: Module, seed: UInt64, epoch: Int) {
        for (k, (_, module)) in model.namedModules().enumerated() {
            if let layer = module as? RandomLayer {
                layer.generator = SeededGenerator(seed: seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(k))
            }
        }
    }

    /// Saves the epoch so that a crash at any point leaves a resumable run: the new weights, optimizer
    /// state and (when validation improved) best weights go to `*.next.safetensors` first, `run.json`
    /// then commits the epoch, and the renames onto `last.safetensors` / `optimizer.safetensors` /
    /// `best.safetensors` follow. `Checkpoint.recover` (run by
    /// `resume`) finishes or discards the renames a crash interrupted.
    func saveCheckpoint(isBest: Bool) throws {
        let epoch = [Checkpoint.epochKey: String(state.epochsCompleted)]
        var record = RunRecord(config: config, state: state)
        record.trainImages = data.train.count
        record.validationImages = data.validation?.count ?? 0
        let pendingWeights = directory.appendingPathComponent(Checkpoint.pendingName(record.lastWeights))
        let pendingOptimizer = directory.appendingPathComponent(Checkpoint.pendingName(record.optimizerState))
        try Checkpoint.saveWeights(model, config: config, to: pendingWeights, extra: epoch)
        do {
            try SafeTensors.write(optimizer.stateDict(), to: pendingOptimizer, metadata: epoch)
        } catch let error as SafeTensorsError {
            throw ToolError.invalidRun(path: pendingOptimizer.path, reason: error.reason)
        }
        if isBest {
            try Checkpoint.saveWeights(model, config: config, to: directory.appendingPathComponent(Checkpoint.pendingName(record.bestWeights)),
                                       extra: epoch)
        }
        try Checkpoint.writeRecord(record, to: directory)
        if let aside = setAside {  // run.json commits the new run's first epoch: the old run it replaced goes
            setAside = nil
            try? FileManager.default.removeItem(at: aside)
        }
        try Checkpoint.recover(directory, record: record)
        try writeProgressFiles()
    }

    /// `metrics.csv`, `loss.png` and `accuracy.png` from the history, whole (so a redone epoch replaces its row).
    func writeProgressFiles() throws {
        let csv = ([EpochRecord.csvHeader] + state.history.map(\.csvLine)).joined(separator: "\n") + "\n"
        try writeAtomically(Data(csv.utf8), to: directory.appendingPathComponent("metrics.csv"))
        try writePlots()
    }

    func writePlots() throws {
        let h = state.history
        let loss = Plot.lineChart(title: "loss", series: [Plot.Series("train", h.map(\.trainLoss))]
            + (h.contains { $0.validationLoss != nil } ? [Plot.Series("validation", h.map { $0.validationLoss ?? .nan })] : []))
        var accuracySeries = [Plot.Series("train", h.map(\.trainAccuracy))]
        if h.contains(where: { $0.validationAccuracy != nil }) { accuracySeries.append(Plot.Series("validation", h.map { $0.validationAccuracy ?? .nan })) }
        if data.task == .segmentation { accuracySeries.append(Plot.Series("val mean iou", h.map { $0.validationMeanIoU ?? .nan })) }
        let accuracy = Plot.lineChart(title: data.task == .segmentation ? "pixel accuracy" : "accuracy", series: accuracySeries)
        try ImageIO.writePNG(loss.image, to: directory.appendingPathComponent("loss.png"))
        try ImageIO.writePNG(accuracy.image, to: directory.appendingPathComponent("accuracy.png"))
    }

    // MARK: Construction helpers

    /// Names of head parameters (`fc`, `classifier`, `head`), which fine-tuning trains at full rate.
    public static func isHeadParameter(_ name: String) -> Bool {
        ["fc.", "classifier.", "head."].contains { name.hasPrefix($0) }
    }

    /// The optimizer a configuration names, over the model's trainable parameters (biases and
    /// batch-norm undecayed unless `normWeightDecay` / `biasWeightDecay` say otherwise; a slower
    /// backbone group when `backboneLearningRateScale` is set).
    public static func makeOptimizer(_ config: RunConfig, model: Module) throws -> GradientOptimizer {
        let named = model.namedParameters().filter { $0.tensor.requiresGrad }
        guard !named.isEmpty else { throw ToolError.invalidOption("nothing to train: every parameter is frozen") }
        // Without --norm-weight-decay / --bias-weight-decay, the two groups of earlier runs (their
        // optimizer state is stored by group and index).
        let split: ([(name: String, tensor: Tensor)], Float, String) -> [ParameterGroup]
        if config.normWeightDecay != nil || config.biasWeightDecay != nil {
            split = { ParameterGroup.splittingWeightDecay($0, of: model, normWeightDecay: config.normWeightDecay ?? 0,
                                                          biasWeightDecay: config.biasWeightDecay ?? 0,
                                                          learningRateScale: $1, prefix: $2) }
        } else {
            split = { ParameterGroup.splittingWeightDecay($0, learningRateScale: $1, prefix: $2) }
        }
        if let scale = config.backboneLearningRateScale, !(scale >= 0 && scale.isFinite) {
            throw ToolError.invalidOption("the backbone learning-rate scale must be a finite number ≥ 0, got \(scale)")
        }
        if config.optimizer.lowercased() == "nesterov" && !(config.momentum > 0) {
            throw ToolError.invalidOption("--optimizer nesterov needs --momentum > 0, got \(config.momentum)")
        }
        var groups: [ParameterGroup]
        if let scale = config.backboneLearningRateScale {
            groups = split(named.filter { !isHeadParameter($0.name) }, scale, "backbone_")
                + split(named.filter { isHeadParameter($0.name) }, 1, "head_")
        } else {
            groups = split(named, 1, "")
        }
        let lr = config.learningRate, wd = config.weightDecay
        switch config.optimizer.lowercased() {
        case "sgd": return SGD(groups, learningRate: lr, momentum: config.momentum, weightDecay: wd)
        case "nesterov": return SGD(groups, learningRate: lr, momentum: config.momentum, weightDecay: wd, nesterov: true)
        case "adam": return Adam(groups, learningRate: lr, weightDecay: wd)
        case "adamw": return AdamW(groups, learningRate: lr, weightDecay: wd)
        case "rmsprop": return RMSprop(groups, learningRate: lr, weightDecay: wd, momentum: config.momentum)
        case "adagrad": return Adagrad(groups, learningRate: lr, weightDecay: wd)
        default: throw ToolError.invalidOption("unknown optimizer '\(config.optimizer)'; choose \(optimizerNames.joined(separator: ", "))")
        }
    }

    public static let optimizerNames = ["sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]

    public static let scheduleNames = ["cosine", "step", "onecycle", "linear", "exponential", "constant"]

    public static func makeSchedule(_ config: RunConfig, batchesPerEpoch: Int) throws -> any LRSchedule {
        let total = max(1, config.epochs * batchesPerEpoch)
        let warmup = config.warmupEpochs * batchesPerEpoch
        let lr = config.learningRate
        let base: any LRSchedule
        switch config.schedule.lowercased() {
        case "cosine": base = CosineAnnealingLR(baseLR: lr, period: max(1, total - warmup))
        case "step": base = MultiStepLR(baseLR: lr, milestones: [total / 2 - warmup, total * 3 / 4 - warmup].map { max(1, $0) }, gamma: 0.1)
        case "onecycle": base = OneCycleLR(maxLR: lr, totalSteps: max(1, total - warmup))
        case "linear": base = LinearLR(baseLR: lr, startFactor: 1, endFactor: 0.01, totalSteps: max(1, total - warmup))
        case "exponential": base = ExponentialLR(baseLR: lr, gamma: Float(Foundation.pow(0.01, 1 / Double(max(1, total - warmup)))))
        case "constant": base = ConstantLR(baseLR: lr)
        default: throw ToolError.invalidOption("unknown schedule '\(config.schedule)'; choose \(scheduleNames.joined(separator: ", "))")
        }
        return warmup > 0 ? LinearWarmup(base, warmupSteps: warmup) : base
    }

    /// `backbone` freezes all but the head; a layer name (e.g. `layer3`) freezes the top-level layers
    /// up to and including it. Frozen batch-norm layers keep their running statistics fixed.
    public static func applyFreezing(_ freeze: String?, to model: Module) throws {
        guard let freeze, !freeze.isEmpty, freeze != "none" else { return }
        let children = model.children
        var frozen: [Module] = []
        if freeze == "backbone" {
            frozen = children.filter { !["fc", "classifier", "head"].contains($0.name) }.map(\.module)
        } else {
            guard let end = children.firstIndex(where: { $0.name == freeze }) else {
                throw ToolError.invalidOption("--freeze-until \(freeze): no top-level layer of that name; layers: \(children.map(\.name).joined(separator: ", "))")
            }
            frozen = children[...end].map(\.module)
        }
        for module in frozen {
            module.setTrainable(false)
            for (_, m) in module.namedModules() { (m as? BatchNorm2d)?.freezeStatistics = true }
        }
    }
}

extension Canvas {
    /// The canvas as an RGB `Image` for encoding.
    public var image: Image { Image(height: height, width: width, channels: 3, pixels: pixels) }
}
