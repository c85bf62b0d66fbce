import ArgumentParser
import Foundation
import VisionModels
import VisionNN
import VisionTools

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transfer learning: start from trained weights, replace the head for the new classes, and train.",
        discussion: """
        --freeze backbone trains only the new head (frozen batch-norm statistics stay fixed); --freeze-until layer3 freezes the top-level layers up to and including layer3; --backbone-lr-scale 0.1 trains everything with the backbone at a tenth of the head's rate. Images are prepared with the source model's normalisation and input size (--image-size overrides the size where the network allows it: the ResNets take any size, a VGG with the small head only 32–63 pixels). Writes the same run directory as `train`.
        """)

    @Option(name: .customLong("from"), help: "A run directory or weights file written by vision.")
    var source: String

    @OptionGroup var options: TrainingOptions

    @Option(help: "backbone (train only the head) or none.")
    var freeze: String = "none"

    @Option(name: .customLong("freeze-until"), help: "Freeze top-level layers up to and including this one (e.g. layer3).")
    var freezeUntil: String?

    @Option(name: .customLong("backbone-lr-scale"), help: "Learning-rate multiplier for the pretrained backbone (the head uses --lr).")
    var backboneLearningRateScale: Float?

    @Option(help: "auto (a new head unless the data has exactly the source's class names), new, or keep (the trained head; the class count must match).")
    var head: String = "auto"

    func validate() throws {
        if options.data == nil { throw ValidationError("--data is required") }
        if !["auto", "new", "keep"].contains(head) { throw ValidationError("--head must be auto, new or keep") }
        if !["backbone", "none"].contains(freeze) { throw ValidationError("--freeze must be backbone or none") }
        if freeze == "backbone" && freezeUntil != nil { throw ValidationError("use either --freeze backbone or --freeze-until") }
        if freeze == "backbone" && backboneLearningRateScale != nil {
            throw ValidationError("--backbone-lr-scale has no effect with --freeze backbone (the backbone does not train); use one or the other")
        }
        if let scale = backboneLearningRateScale, !(scale > 0 && scale.isFinite) {
            throw ValidationError("--backbone-lr-scale must be positive and finite (--freeze backbone keeps the backbone fixed)")
        }
    }

    func run() throws {
        try guarded {
            let (sourceConfig, weightsURL) = try Checkpoint.resolve(source)
            let model = try sourceConfig.buildModel()
            try model.loadStateDict(contentsOf: weightsURL, strict: true)
            let dataName = options.data!
            let imageSize = try inputSize(source: sourceConfig, model: model)
            let data = try DataSetup.prepare(data: dataName, augmentation: options.augmentation, seed: options.seed,
                                             limit: options.limit, validationSplit: options.validationSplit,
                                             imageSize: imageSize,
                                             normalization: (sourceConfig.preprocessing.mean, sourceConfig.preprocessing.std),
                                             erasing: options.erasing, cropPadding: options.cropPadding)
            guard data.task == sourceConfig.task else {
                throw CLIError("\(source) was trained for \(sourceConfig.task.rawValue) but \(dataName) is \(data.task.rawValue) data")
            }
            // A new head unless the data has exactly the source's classes (then training simply continues).
            let classes = data.classNames.count
            if head == "keep" && classes != sourceConfig.modelOptions.numClasses {
                throw CLIError("--head keep: \(source) predicts \(sourceConfig.modelOptions.numClasses) classes but \(dataName) has \(classes)")
            }
            let newHead = head == "new" || (head == "auto" && data.classNames != sourceConfig.classNames)
            if newHead { try replaceHead(model, numClasses: classes, seed: options.seed) }
            var modelOptions = sourceConfig.modelOptions
            modelOptions.numClasses = classes
            var config = options.runConfig(model: sourceConfig.model, modelOptions: modelOptions, data: dataName, prepared: data,
                                           imageSize: imageSize)
            config.freeze = freeze == "backbone" ? "backbone" : freezeUntil
            config.backboneLearningRateScale = backboneLearningRateScale
            config.initialWeights = weightsURL.path
            let directory = try options.runDirectory(model: "\(sourceConfig.model)-finetune", data: dataName)
            // The source run's folder (or the folder of a weights file) would be emptied by --force, or mixed into.
            func identity(_ url: URL) -> String { url.resolvingSymlinksInPath().standardizedFileURL.path }
            if identity(weightsURL.deletingLastPathComponent()) == identity(directory) {
                throw CLIError("-o \(directory.path) holds the weights being fine-tuned (\(weightsURL.lastPathComponent)); write the new run to another directory")
            }
            let trainer = try Trainer(config: config, data: data, directory: directory, model: model, replacingRun: options.force)
            print("fine-tuning \(sourceConfig.model) from \(source) on \(dataName): \(classes) classes"
                  + (newHead ? ", new head" : ", the source's head kept")
                  + (imageSize != sourceConfig.preprocessing.size ? imageSize.map { ", \($0)×\($0) inputs" } ?? "" : "")
                  + (config.freeze.map { ", frozen: \($0)" } ?? "")
                  + (backboneLearningRateScale.map { ", backbone lr × \($0)" } ?? ""))
            try runTrainer(trainer)
        }
    }
}

extension Finetune {
    /// The classification input side: the source's, or --image-size where the network takes it
    /// (segmentation sources have no fixed size; there --image-size is the training crop).
    func inputSize(source: RunConfig, model: Module) throws -> Int? {
        guard let size = options.imageSize, let trained = source.preprocessing.size, size != trained else {
            return options.imageSize ?? source.preprocessing.size
        }
        if let vgg = model as? VGG, vgg.head == .small, !(32...63).contains(size) {
            throw CLIError("--image-size \(size): \(self.source) is a VGG with the small head (one Linear layer on 1×1 features), "
                           + "which takes 32–63 pixel inputs; it was trained at \(trained)")
        }
        try ModelRegistry.entry(source.model).checkInputSize(size)
        return size
    }
}

func replaceHead(_ model: Module, numClasses: Int, seed: UInt64) throws {
    switch model {
    case let m as ResNet: m.replaceHead(numClasses: numClasses, seed: seed)
    case let m as CIFARResNet: m.replaceHead(numClasses: numClasses, seed: seed)
    case let m as VGG: m.replaceHead(numClasses: numClasses, seed: seed)
    case let m as UNet: m.replaceHead(numClasses: numClasses, seed: seed)
    default: throw CLIError("do not know how to replace the head of \(type(of: model))")
    }
}
