import ArgumentParser
import Foundation
import VisionCore
import VisionData
import VisionImage
import VisionModels
import VisionNN
import VisionTools

/// Test-time augmentation of `evaluate`, `predict` and `segment`.
enum TestTimeAugmentation: String, ExpressibleByArgument, CaseIterable {
    /// The image as it is.
    case none
    /// The image and its mirror image (left–right), their softmax outputs averaged (segmentation maps mirrored back).
    case flip
}

/// An error already worded for the user.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`, turning any library error into one line on standard error and a non-zero exit.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError(describe(error))
        throw ExitCode(1)
    }
}

/// Checks every given output path (nil: not asked for) before a command does its work.
/// Two options naming the same file are refused (the second output would silently replace the first).
func checkDestinations(_ outputs: [(option: String, path: String?)]) throws {
    var seen: [String: String] = [:]
    for case let (option, path?) in outputs {
        try FileWriting.checkDestination(URL(fileURLWithPath: path), option: option)
        let identity = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        if let earlier = seen[identity] {
            throw CLIError("\(earlier) and \(option) both name \(path); each output needs its own file")
        }
        seen[identity] = option
    }
}

/// Writes a command's several outputs as one (`FileWriting.writeAllAtomically`): a failure while writing replaces none.
func writeOutputs(_ files: [(data: Data, url: URL)]) throws {
    do {
        try FileWriting.writeAllAtomically(files)
    } catch {
        throw CLIError(describe(error))
    }
}

func describe(_ error: Error) -> String {
    if let e = error as? LocalizedError, let text = e.errorDescription { return text }
    return String(describing: error)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("vision: error: \(message)\n".utf8))
}

/// Whether standard output is a terminal (live progress lines) or a file/pipe (plain periodic lines).
let stdoutIsTerminal = isatty(STDOUT_FILENO) != 0

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// Prints training events: a live line on a terminal, a line every ~10% otherwise.
final class ProgressPrinter {
    var lastPrinted = Date.distantPast
    var lastFraction = -1.0

    func handle(_ event: TrainingEvent) {
        switch event {
        case let .started(train, validation, source, batches, parameters, trainable, first):
            print("training on \(train) images, \(batches) batches per epoch; validating on \(validation > 0 ? source : "nothing")")
            print("model: \(parameters) parameters (\(trainable) trainable); starting at epoch \(first)")
        case let .batch(epoch, index, of, loss, accuracy, speed, eta):
            let line = String(format: "epoch %d  batch %d/%d  loss %.4f  acc %.4f  %.0f img/s  ETA %@",
                              epoch, index, of, loss, accuracy, speed, formatDuration(eta))
            if stdoutIsTerminal {
                if Date().timeIntervalSince(lastPrinted) > 0.2 || index == of {
                    print("\r\u{1B}[2K" + line, terminator: "")
                    fflush(stdout)
                    lastPrinted = Date()
                }
            } else {
                let fraction = Double(index) / Double(of)
                if index == 1 || fraction - lastFraction >= 0.1 || index == of {
                    print(line)
                    lastFraction = fraction
                }
            }
        case .validating:
            if stdoutIsTerminal { print("\r\u{1B}[2K", terminator: "") }
        case let .epochFinished(r, isBest):
            lastFraction = -1
            var line = String(format: "epoch %d done in %@: train loss %.4f acc %.4f", r.epoch, formatDuration(r.seconds), r.trainLoss, r.trainAccuracy)
            if let vl = r.validationLoss, let va = r.validationAccuracy { line += String(format: " | val loss %.4f acc %.4f", vl, va) }
            if let iou = r.validationMeanIoU, let dice = r.validationDice { line += String(format: " mIoU %.4f dice %.4f", iou, dice) }
            line += String(format: " | %.0f img/s, lr %.4g", r.imagesPerSecond, r.learningRate)
            if isBest { line += "  (best)" }
            print(line)
        }
    }
}

/// Decodes an image and prepares it as a `[1, C, H, W]` network input with the run's preprocessing.
func loadInput(_ path: String, preprocessing: Preprocessing, exif: Bool = true) throws -> (tensor: Tensor, image: Image) {
    let image = try ImageIO.decode(contentsOf: URL(fileURLWithPath: path), applyEXIFOrientation: exif)
    var float = FloatImage(image.toTensor())
    var mask: LabelMask?
    var g = SeededGenerator(seed: 0)
    var steps: [any Transform] = [MatchChannels(channels: preprocessing.channels)]
    if let size = preprocessing.size { steps.append(FitSize(size: size)) }
    steps.append(Normalize(mean: preprocessing.mean, std: preprocessing.std))
    Compose(steps).apply(&float, mask: &mask, generator: &g)
    return (float.tensor.unsqueeze(0), image)
}

/// Refuses inputs smaller than `entry` takes (VGG's five 2×2 poolings need 32×32 pixels) before it is built.
func checkInputSize(_ entry: ModelEntry, height: Int, width: Int, source: String, hint: String = "") throws {
    let minimum = entry.minimumInputSize
    if min(height, width) < minimum {
        throw CLIError("\(entry.name) needs inputs of at least \(minimum)×\(minimum) pixels, but \(source) gives \(width)×\(height)\(hint)")
    }
}

/// Options shared by `train` and `finetune`.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Dataset name (cifar, cifar100, fashion-mnist, mnist, isbi2012) or folder path.")
    var data: String?

    @Option(help: "Number of epochs.")
    var epochs: Int = 10

    @Option(name: .customLong("batch-size"), help: "Images per batch.")
    var batchSize: Int = 64

    @Option(help: "Optimizer: sgd, nesterov, adam, adamw, rmsprop, adagrad.")
    var optimizer: String = "sgd"

    @Option(name: .customLong("lr"), help: "Peak learning rate (default: 0.1 × batch-size / 128 for sgd/nesterov — the linear scaling rule —, 0.001 for adam/adamw, 0.01 otherwise).")
    var learningRate: Float?

    @Option(help: "Momentum for sgd, nesterov and rmsprop.")
    var momentum: Float = 0.9

    @Option(help: "Learning-rate schedule, stepped per batch: cosine, step (÷10 at 50% and 75%), onecycle, linear, exponential, constant.")
    var schedule: String = "cosine"

    @Option(name: .customLong("warmup-epochs"), help: "Linear warm-up epochs before the schedule.")
    var warmupEpochs: Int = 0

    @Option(name: .customLong("weight-decay"), help: "Weight decay (L2 added to the gradient for sgd/adam/rmsprop/adagrad, decoupled for adamw); biases and batch-norm are not decayed unless --norm-weight-decay / --bias-weight-decay say so.")
    var weightDecay: Float = 5e-4

    @Option(name: .customLong("norm-weight-decay"), help: "Weight decay of batch-norm scales (named after torchvision's reference-script option, whose unset value means --weight-decay; here unset is 0). He et al. decayed every parameter: pass the --weight-decay value here and to --bias-weight-decay for that.")
    var normWeightDecay: Float?

    @Option(name: .customLong("bias-weight-decay"), help: "Weight decay of every bias, batch-norm shifts included, as torchvision's scripts apply it (default 0).")
    var biasWeightDecay: Float?

    @Option(name: .customLong("label-smoothing"), help: "Label smoothing for the cross-entropy loss.")
    var labelSmoothing: Float = 0

    @Option(name: .customLong("augment"), help: "Augmentation preset: standard (crop + flip; segmentation: crop, flips, quarter turns), strong (classification: + colour jitter on RGB images and random erasing p = 0.25; segmentation: + rotation up to ±15°), elastic (+ an elastic deformation, torchvision's ElasticTransform with alpha 50, sigma 5), trivial, rand, auto-imagenet, auto-cifar10, auto-svhn, augmix (classification only: crop + flip, then torchvision's TrivialAugmentWide — one of 14 operations per image at a random strength —, RandAugment — 2 operations at magnitude 9 of 31 —, AutoAugment with the policy learnt on ImageNet, CIFAR-10 or SVHN, or AugMix — three chains of operations mixed with the image —, sampling bilinearly as torchvision's reference scripts), none (no augmentation; segmentation still takes random crops).")
    var augmentation: String = "standard"

    @Option(help: "Random-erasing probability for classification training (default: 0.25 with --augment strong, else 0).")
    var erasing: Float?

    @Option(name: .customLong("crop-padding"), help: "Zero padding on each side before the random training crop of classification (default: about an eighth of the side, at least 2 pixels — 2 for Fashion-MNIST's 28; images above 64 px take a random resized crop instead, without padding).")
    var cropPadding: Int?

    @Option(name: .customLong("mixup-alpha"), help: "MixUp for classification training: mix each batch with itself rolled by one, weights from Beta(α, α) (torchvision's MixUp; 0.2 is a common choice; default 0: off).")
    var mixupAlpha: Float?

    @Option(name: .customLong("cutmix-alpha"), help: "CutMix for classification training: paste a box from the neighbouring image, area from Beta(α, α) (torchvision's CutMix; 1.0 is usual; default 0: off). With --mixup-alpha too, each batch takes one of them at random.")
    var cutmixAlpha: Float?

    @Option(help: "Data loader worker threads.")
    var workers: Int = 2

    @Option(help: "Seed for weights, shuffling, augmentation and dropout.")
    var seed: UInt64 = 0

    @Option(help: "Train on only this many images (a seeded subset; validation is capped the same way).")
    var limit: Int?

    @Option(name: .customLong("val-split"), help: "Fraction of the training set held out for validation (default: the dataset's test split if it has one, else 0.1; 0.2 for segmentation).")
    var validationSplit: Double?

    @Option(name: .customLong("image-size"), help: "Input side for image folders (default: native if ≤ 64, else 128) or training crop for segmentation (default 256).")
    var imageSize: Int?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Run directory (default: runs/<model>-<data>-<timestamp>).")
    var output: String?

    @Flag(help: "Start over in a run directory that already holds a run (the old run's files are set aside, deleted once the new run has saved its first epoch, and put back if it fails before).")
    var force = false

    func validate() throws {
        if !(1...100_000).contains(epochs) { throw ValidationError("--epochs must be between 1 and 100000") }
        if !(1...100_000).contains(batchSize) { throw ValidationError("--batch-size must be between 1 and 100000") }
        if let lr = learningRate, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be positive and finite") }
        if !(momentum >= 0 && momentum.isFinite) { throw ValidationError("--momentum must be finite and ≥ 0") }
        if optimizer.lowercased() == "nesterov" && !(momentum > 0) { throw ValidationError("--optimizer nesterov needs --momentum > 0") }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be finite and ≥ 0") }
        if let d = normWeightDecay, !(d >= 0 && d.isFinite) { throw ValidationError("--norm-weight-decay must be finite and ≥ 0") }
        if let d = biasWeightDecay, !(d >= 0 && d.isFinite) { throw ValidationError("--bias-weight-decay must be finite and ≥ 0") }
        if !(0...100_000).contains(warmupEpochs) { throw ValidationError("--warmup-epochs must be between 0 and 100000") }
        if warmupEpochs > 0 && warmupEpochs >= epochs {
            throw ValidationError("--warmup-epochs (\(warmupEpochs)) must be fewer than --epochs (\(epochs)), or the schedule never starts")
        }
        if !Trainer.optimizerNames.contains(optimizer.lowercased()) {
            throw ValidationError("--optimizer must be one of \(Trainer.optimizerNames.joined(separator: ", ")), got '\(optimizer)'")
        }
        if !Trainer.scheduleNames.contains(schedule.lowercased()) {
            throw ValidationError("--schedule must be one of \(Trainer.scheduleNames.joined(separator: ", ")), got '\(schedule)'")
        }
        if !(0...RunConfig.maxWorkers).contains(workers) { throw ValidationError("--workers must be between 0 and \(RunConfig.maxWorkers)") }
        if let size = imageSize, !(1...4096).contains(size) { throw ValidationError("--image-size must be between 1 and 4096") }
        if !(DataSetup.augmentationPresets + ["off"]).contains(augmentation) {
            throw ValidationError("--augment must be one of \(DataSetup.augmentationPresets.joined(separator: ", ")), got '\(augmentation)'")
        }
        if let l = limit, l <= 0 { throw ValidationError("--limit must be positive") }
        if let v = validationSplit, !(v >= 0 && v < 1) { throw ValidationError("--val-split must be in [0, 1)") }
        if !(labelSmoothing >= 0 && labelSmoothing < 1) { throw ValidationError("--label-smoothing must be in [0, 1)") }
        if let e = erasing, !(e >= 0 && e <= 1) { throw ValidationError("--erasing must be in [0, 1]") }
        if let p = cropPadding, !(0...1024).contains(p) { throw ValidationError("--crop-padding must be between 0 and 1024") }
        if let a = mixupAlpha, !(a >= 0 && a.isFinite) { throw ValidationError("--mixup-alpha must be finite and ≥ 0") }
        if let a = cutmixAlpha, !(a >= 0 && a.isFinite) { throw ValidationError("--cutmix-alpha must be finite and ≥ 0") }
    }

    var resolvedLearningRate: Float {
        learningRate ?? (["sgd", "nesterov"].contains(optimizer.lowercased()) ? 0.1 * Float(batchSize) / 128
            : (["adam", "adamw"].contains(optimizer.lowercased()) ? 0.001 : 0.01))
    }

    /// The run configuration these options describe for `model` on prepared data.
    func runConfig(model: String, modelOptions: ModelOptions, data: String, prepared: PreparedData, imageSize: Int?) -> RunConfig {
        var config = RunConfig(model: model, modelOptions: modelOptions, data: data, task: prepared.task,
                  classNames: prepared.classNames, preprocessing: prepared.preprocessing, epochs: epochs,
                  batchSize: batchSize, optimizer: optimizer, learningRate: resolvedLearningRate, momentum: momentum,
                  weightDecay: weightDecay, schedule: schedule, warmupEpochs: warmupEpochs, labelSmoothing: labelSmoothing,
                  augmentation: augmentation, workers: workers, seed: seed, limit: limit,
                  validationSplit: validationSplit, imageSize: imageSize)
        config.erasing = erasing
        config.cropPadding = cropPadding
        config.mixupAlpha = mixupAlpha
        config.cutmixAlpha = cutmixAlpha
        config.normWeightDecay = normWeightDecay
        config.biasWeightDecay = biasWeightDecay
        return config
    }

    /// The run directory for a new run, refused if it already holds one unless --force (then the
    /// Trainer, created with `replacingRun: force`, sets the old run aside once every option is checked).
    func runDirectory(model: String, data: String) throws -> URL {
        let directory: URL
        if let output {
            directory = URL(fileURLWithPath: output)
        } else {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            let dataName = URL(fileURLWithPath: data).lastPathComponent
            directory = URL(fileURLWithPath: "runs/\(model)-\(dataName)-\(formatter.string(from: Date()))")
        }
        if !force { try Trainer.claimRunDirectory(directory, overwrite: false) }
        return directory
    }
}

/// Runs a trainer with console progress and reports where the artefacts are.
func runTrainer(_ trainer: Trainer) throws {
    print("run directory: \(trainer.directory.path)")
    let printer = ProgressPrinter()
    let state = try trainer.run(onEvent: printer.handle)
    if let best = state.bestEpoch, let metric = state.bestMetric {
        // Without validation data the best epoch is the one of lowest training loss (the metric is its negative).
        let (name, value) = trainer.data.validation == nil ? ("train loss", -metric)
            : (trainer.data.task == .segmentation ? "val mIoU" : "val accuracy", metric)
        print(String(format: "finished %d epochs; best epoch %d (%@ %.4f); checkpoints in %@", state.epochsCompleted, best,
                     name, value, trainer.directory.path))
    }
}
