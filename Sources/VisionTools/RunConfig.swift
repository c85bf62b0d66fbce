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

    public init(config: RunConfig, state: RunState) { self.config = config; self.state = state }
}

import VisionNN
