import Foundation
import VisionModels

/// What a network learns to predict.
public enum Task: String, Codable, Sendable {
    case classification, segmentation
}

/// How raw images become network inputs; stored with every checkpoint so `predict` and `segment`
/// prepare images exactly as training did.
public struct Preprocessing: Codable, Equatable, Sendable {
    /// Channels the network expects (images are converted: gray ↔ RGB, alpha dropped).
    public var channels: Int
    /// Side of the square input for classification (images are resized so the shorter side equals
    /// it, then centre-cropped); nil for segmentation, which keeps every image at its own size.
    public var size: Int?
    /// Per-channel normalisation applied to values in [0, 1].
    public var mean: [Float]
    public var std: [Float]

    public init(channels: Int, size: Int?, mean: [Float], std: [Float]) {
        self.channels = channels; self.size = size; self.mean = mean; self.std = std
    }
}

/// Everything needed to rebuild a run's model and data pipeline and to continue it.
public struct RunConfig: Codable, Equatable, Sendable {
    public var model: String
    public var modelOptions: ModelOptions
    /// Dataset name (`cifar`, `fashion-mnist`, …) or folder path.
    public var data: String
    public var task: Task
    public var classNames: [String]
    public var preprocessing: Preprocessing
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: String
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    /// Weight decay of batch-norm scales (`--norm-weight-decay`, named after torchvision's reference-script
    /// option); nil: 0, not decayed (torchvision's nil means `weightDecay`).
    public var normWeightDecay: Float?
    /// Weight decay of every bias, batch-norm shifts included (`--bias-weight-decay`, which torchvision's
    /// scripts also apply before the norm rule); nil: 0, not decayed.
    public var biasWeightDecay: Float?
    public var schedule: String
    public var warmupEpochs: Int
    public var labelSmoothing: Float
    public var augmentation: String
    /// Random-erasing probability for classification training; nil keeps the preset's (0.25 with `strong`, else none).
    public var erasing: Float?
    /// Padding on each side before the random crop of classification training; nil keeps the default
    /// (about an eighth of the side, at least 2 pixels; unused above 64 px, where a random resized crop is taken).
    public var cropPadding: Int?
    /// MixUp Beta concentration for classification training (torchvision's `--mixup-alpha`); nil or 0: off.
    public var mixupAlpha: Float?
    /// CutMix Beta concentration for classification training (`--cutmix-alpha`); nil or 0: off. With both,
    /// each batch takes one of the two at random.
    public var cutmixAlpha: Float?
    public var workers: Int
    /// The most data-loader worker threads a run may ask for (each holds decoded batches in memory).
    public static let maxWorkers = 256
    public var seed: UInt64
    public var limit: Int?
    /// Fraction of the training set held out for validation; nil uses the dataset's test split when it has one.
    public var validationSplit: Double?
    /// Classification input side / segmentation training crop as requested (nil: per-dataset default).
    public var imageSize: Int?
    /// Transfer learning: learning-rate multiplier for the pretrained backbone (nil: one group).
    public var backboneLearningRateScale: Float?
    /// Transfer learning: `backbone` freezes everything but the head; a layer name freezes up to and including it.
    public var freeze: String?
    /// Where the starting weights came from (fine-tuning), for the record.
    public var initialWeights: String?

    public init(model: String, modelOptions: ModelOptions, data: String, task: Task, classNames: [String],
                preprocessing: Preprocessing, epochs: Int = 10, batchSize: Int = 64, optimizer: String = "sgd",
                learningRate: Float = 0.1, momentum: Float = 0.9, weightDecay: Float = 5e-4, schedule: String = "cosine",
                warmupEpochs: Int = 0, labelSmoothing: Float = 0, augmentation: String = "standard", workers: Int = 2,
                seed: UInt64 = 0, limit: Int? = nil, validationSplit: Double? = nil, imageSize: Int? = nil) {
        self.model = model; self.modelOptions = modelOptions; self.data = data; self.task = task
        self.classNames = classNames; self.preprocessing = preprocessing; self.epochs = epochs
        self.batchSize = batchSize; self.optimizer = optimizer; self.learningRate = learningRate
        self.momentum = momentum; self.weightDecay = weightDecay; self.schedule = schedule
        self.warmupEpochs = warmupEpochs; self.labelSmoothing = labelSmoothing; self.augmentation = augmentation
        self.workers = workers; self.seed = seed; self.limit = limit; self.validationSplit = validationSplit
        self.imageSize = imageSize
    }

    /// What makes a configuration read from a file (a weights file's metadata, or run.json, either
    /// possibly edited by hand) unusable for building the model and preparing its inputs: each entry names
    /// the field and the value. Empty when it is usable. Converted weights carry no training options, so
    /// those are checked separately (`trainingProblems`).
    public var problems: [String] {
        var found: [String] = []
        func check(_ ok: Bool, _ message: @autoclosure () -> String) { if !ok { found.append(message()) } }
        let p = preprocessing
        check([1, 3].contains(p.channels), "preprocessing.channels \(p.channels) is not 1 or 3")
        check(p.channels == modelOptions.inChannels,
              "preprocessing.channels \(p.channels) differs from the model's modelOptions.inChannels \(modelOptions.inChannels)")
        check(p.mean.count == p.channels && p.std.count == p.channels,
              "preprocessing.mean and .std need \(p.channels) values each, have \(p.mean.count) and \(p.std.count)")
        check(p.mean.allSatisfy(\.isFinite) && p.std.allSatisfy { $0 > 0 && $0.isFinite },
              "preprocessing.std must be positive and mean finite, got mean \(p.mean), std \(p.std)")
        check(p.size.map { (1...4096).contains($0) } ?? true, "preprocessing.size \(p.size ?? 0) is not between 1 and 4096")
        check(imageSize.map { (1...4096).contains($0) } ?? true, "imageSize \(imageSize ?? 0) is not between 1 and 4096")
        check((task == .classification) == (p.size != nil),
              "preprocessing.size must be set for classification and absent for segmentation (task \(task.rawValue))")
        check(classNames.count == modelOptions.numClasses,
              "\(classNames.count) classNames for a model of modelOptions.numClasses \(modelOptions.numClasses)")
        if let entry = try? ModelRegistry.entry(model) {
            check((entry.family == "unet") == (task == .segmentation),
                  "task \(task.rawValue) does not fit model \(model) (\(entry.family == "unet" ? "a segmenter" : "a classifier"))")
            found += modelOptions.problems(for: entry, imageSize: p.size)
        } else {
            found.append("model '\(model)' is not in the zoo (\(ModelRegistry.names.joined(separator: ", ")))")
        }
        return found
    }

    /// What makes a run's training options unusable for continuing it (see `problems`).
    public var trainingProblems: [String] {
        var found: [String] = []
        func check(_ ok: Bool, _ message: @autoclosure () -> String) { if !ok { found.append(message()) } }
        check((1...100_000).contains(epochs), "epochs \(epochs) is not between 1 and 100000")
        check((1...100_000).contains(batchSize), "batchSize \(batchSize) is not between 1 and 100000")
        check((0...100_000).contains(warmupEpochs), "warmupEpochs \(warmupEpochs) is not between 0 and 100000")
        check(learningRate > 0 && learningRate.isFinite, "learningRate \(learningRate) is not a positive number")
        check(momentum >= 0 && momentum.isFinite, "momentum \(momentum) is not a finite number ≥ 0")
        check(optimizer.lowercased() != "nesterov" || momentum > 0, "optimizer nesterov needs momentum > 0, got \(momentum)")
        check(backboneLearningRateScale.map { $0 >= 0 && $0.isFinite } ?? true,
              "backboneLearningRateScale \(backboneLearningRateScale ?? 0) is not a finite number ≥ 0")
        check(mixupAlpha.map { $0 >= 0 && $0.isFinite } ?? true, "mixupAlpha \(mixupAlpha ?? 0) is not a finite number ≥ 0")
        check(cutmixAlpha.map { $0 >= 0 && $0.isFinite } ?? true, "cutmixAlpha \(cutmixAlpha ?? 0) is not a finite number ≥ 0")
        check(weightDecay >= 0 && weightDecay.isFinite, "weightDecay \(weightDecay) is not a finite number ≥ 0")
        check(normWeightDecay.map { $0 >= 0 && $0.isFinite } ?? true, "normWeightDecay \(normWeightDecay ?? 0) is not a finite number ≥ 0")
        check(biasWeightDecay.map { $0 >= 0 && $0.isFinite } ?? true, "biasWeightDecay \(biasWeightDecay ?? 0) is not a finite number ≥ 0")
        check(labelSmoothing >= 0 && labelSmoothing < 1, "labelSmoothing \(labelSmoothing) is not in [0, 1)")
        check(erasing.map { $0 >= 0 && $0 <= 1 } ?? true, "erasing \(erasing ?? 0) is not in [0, 1]")
        check(cropPadding.map { (0...1024).contains($0) } ?? true, "cropPadding \(cropPadding ?? 0) is not between 0 and 1024")
        check(limit.map { $0 > 0 } ?? true, "limit \(limit ?? 0) is not positive")
        check(validationSplit.map { $0 >= 0 && $0 < 1 } ?? true, "validationSplit \(validationSplit ?? 0) is not in [0, 1)")
        check((0...RunConfig.maxWorkers).contains(workers), "workers \(workers) is not between 0 and \(RunConfig.maxWorkers)")
        return found
    }

    /// Builds the (untrained) network this configuration describes.
    public func buildModel() throws -> VisionNN.Module {
        try ModelRegistry.build(model, options: modelOptions)
    }
}

/// One line of `metrics.csv`.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var learningRate: Float
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// Segmentation only.
    public var validationMeanIoU: Double?
    public var validationDice: Double?
    public var seconds: Double
    public var imagesPerSecond: Double

    public static let csvHeader = "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_mean_iou,val_dice,seconds,images_per_second"

    public var csvLine: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
        return "\(epoch),\(learningRate),\(f(trainLoss)),\(f(trainAccuracy)),\(f(validationLoss)),\(f(validationAccuracy)),\(f(validationMeanIoU)),\(f(validationDice)),\(String(format: "%.2f", seconds)),\(String(format: "%.1f", imagesPerSecond))"
    }
}

/// Progress of a run, saved in `run.json` beside the configuration.
public struct RunState: Codable, Equatable, Sendable {
    public var epochsCompleted = 0
    public var bestMetric: Double?
    public var bestEpoch: Int?
    public var history: [EpochRecord] = []
    public init() {}
}

/// The `run.json` document.
public struct RunRecord: Codable, Equatable, Sendable {
    public var format = "vision-run-1"
    public var config: RunConfig
    public var state: RunState
    /// File names inside the run directory.
    public var lastWeights = "last.safetensors"
    public var bestWeights = "best.safetensors"
    public var optimizerState = "optimizer.safetensors"
    /// The training and validation image counts the run was trained on (absent in runs written before
    /// they were recorded); resume refuses data whose counts changed.
    public var trainImages: Int?
    public var validationImages: Int?

    public init(config: RunConfig, state: RunState) { self.config = config; self.state = state }
}

import VisionNN
