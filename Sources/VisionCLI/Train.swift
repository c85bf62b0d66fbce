import ArgumentParser
import Foundation
import VisionModels
import VisionTools

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from the zoo on a dataset.",
        discussion: """
        Example: vision train resnet18 --data cifar. Every epoch writes last.safetensors, optimizer.safetensors, run.json, metrics.csv, loss.png and accuracy.png to the run directory, and best.safetensors when validation improved; `vision train --resume DIR` continues a stopped run from its last completed epoch, exactly as it would have gone on (bit for bit on the same machine).
        """)

    @Argument(help: "Model name (see `vision models`); not needed with --resume.")
    var model: String?

    @OptionGroup var options: TrainingOptions

    @Option(help: "Continue the run in this directory from its last completed epoch.")
    var resume: String?

    @Option(help: "Stem of the torchvision ResNets (resnet18–152): auto (small 3×3 stem for inputs ≤ 64 px), small, imagenet.")
    var stem: String?

    @Flag(name: .customLong("zero-init-residual"), help: "Zero the last batch-norm of each residual block (torchvision ResNets, resnet18–152).")
    var zeroInitResidual = false

    @Option(help: "U-Net base width (default 32).")
    var base: Int?

    @Option(help: "U-Net depth, the number of down-sampling steps (default 4).")
    var depth: Int?

    func validate() throws {
        if resume == nil && model == nil { throw ValidationError("name a model (e.g. resnet18) or pass --resume DIR") }
        if resume == nil && options.data == nil { throw ValidationError("--data is required (e.g. --data cifar)") }
        if let stem, !["auto", "small", "imagenet"].contains(stem) { throw ValidationError("--stem must be auto, small or imagenet") }
        let (base, depth) = (self.base ?? 32, self.depth ?? 4)
        if !(1...8).contains(depth) { throw ValidationError("--depth must be between 1 and 8") }
        if !(1...4096).contains(base) || base << depth > 4096 {
            throw ValidationError("--base must be positive and --base × 2^depth (the widest U-Net layer) at most 4096, got \(base) × 2^\(depth)")
        }
    }

    func run() throws {
        try guarded {
            if let resume {
                // A resumed run continues with its recorded options; silently ignoring new ones would mislead.
                let ignored = Train.optionNames(in: Array(CommandLine.arguments.dropFirst()))
                    .filter { !["--resume", "--workers"].contains($0) }
                if !ignored.isEmpty {
                    throw CLIError("--resume continues \(resume) with the options recorded in its run.json; \(ignored.joined(separator: ", ")) cannot change them (only --workers can) — start a new run with -o to train differently")
                }
                // Trainer.resume first: it locks the directory before reading run.json and repairs what a kill left.
                let trainer = try Trainer.resume(URL(fileURLWithPath: resume), workers: options.workers)
                if let model, model.lowercased() != trainer.config.model.lowercased() {
                    throw CLIError("--resume \(resume) holds a \(trainer.config.model) run, not \(model)")
                }
                print("resuming \(trainer.config.model) on \(trainer.config.data) after epoch \(trainer.state.epochsCompleted) of \(trainer.config.epochs)")
                try runTrainer(trainer)
                return
            }
            guard let model, let dataName = options.data else { return }
            let entry = try ModelRegistry.entry(model)
            try checkModelOptions(entry)
            let data = try DataSetup.prepare(data: dataName, augmentation: options.augmentation, seed: options.seed,
                                             limit: options.limit, validationSplit: options.validationSplit, imageSize: options.imageSize,
                                             erasing: options.erasing, cropPadding: options.cropPadding)
            try checkTaskMatches(entry: entry, task: data.task, data: dataName)
            let modelOptions = ModelOptions(numClasses: data.classNames.count, inChannels: data.preprocessing.channels,
                                            stem: stem.flatMap { $0 == "auto" ? nil : Stem(rawValue: $0) }, base: base ?? 32, depth: depth ?? 4,
                                            zeroInitResidual: zeroInitResidual, seed: options.seed,
                                            inputSize: data.preprocessing.size ?? options.imageSize ?? 256)
            if let size = data.preprocessing.size {
                try checkInputSize(entry, height: size, width: size, source: dataName, hint: "; pass --image-size \(entry.minimumInputSize)")
            }
            let config = options.runConfig(model: entry.name, modelOptions: modelOptions, data: dataName, prepared: data,
                                           imageSize: options.imageSize)
            let trainer = try Trainer(config: config, data: data, directory: try options.runDirectory(model: entry.name, data: dataName),
                                      replacingRun: options.force)
            print("\(entry.name) on \(dataName): \(data.classNames.count) classes, \(data.preprocessing.channels) channel(s)"
                  + (data.preprocessing.size.map { ", \($0)×\($0) inputs" } ?? ""))
            try runTrainer(trainer)
        }
    }
}

extension Train {
    /// The option names (`--name` or `-o`, without `=value`) among the arguments after the subcommand.
    static func optionNames(in arguments: [String]) -> [String] {
        arguments.dropFirst().prefix { $0 != "--" }.compactMap { argument in
            guard argument.hasPrefix("-"), argument.count > 1, Double(argument) == nil else { return nil }
            return String(argument.split(separator: "=", maxSplits: 1)[0])
        }
    }
}

/// Classifiers need labelled images; U-Nets need masks.
func checkTaskMatches(entry: ModelEntry, task: Task, data: String) throws {
    if entry.family == "unet" && task != .segmentation {
        throw CLIError("\(entry.name) segments images, but \(data) is a classification dataset; use a segmentation folder (image/ + label/) or isbi2012")
    }
    if entry.family != "unet" && task == .segmentation {
        throw CLIError("\(entry.name) is a classifier, but \(data) holds segmentation masks; use unet")
    }
}

extension Train {
    /// Refuses model options the chosen network does not have (they would be silently ignored).
    func checkModelOptions(_ entry: ModelEntry) throws {
        var unused: [String] = []
        if entry.family != "resnet" {
            if stem != nil { unused.append("--stem") }
            if zeroInitResidual { unused.append("--zero-init-residual") }
        }
        if entry.family != "unet" {
            if base != nil { unused.append("--base") }
            if depth != nil { unused.append("--depth") }
        }
        guard unused.isEmpty else {
            let owners = "--stem and --zero-init-residual apply to the torchvision ResNets (resnet18–152), --base and --depth to unet"
            throw CLIError("\(entry.name) has no \(unused.joined(separator: " or ")) option (\(owners))")
        }
    }
}
