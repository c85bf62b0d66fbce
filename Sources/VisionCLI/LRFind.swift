import ArgumentParser
import Foundation
import VisionCore
import VisionData
import VisionImage
import VisionModels
import VisionOptim
import VisionTools

struct LRFind: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lr-find",
        abstract: "Learning-rate range test: raise the rate exponentially per batch, record the smoothed loss, suggest a rate.",
        discussion: "The model is freshly initialised and nothing is saved but the plot. The suggestion is the rate of steepest loss descent.")

    @Argument(help: "Model name (see `vision models`).")
    var model: String

    @Option(help: "Dataset name or folder.")
    var data: String

    @Option(name: .customLong("start-lr"), help: "First learning rate.")
    var startLR: Float = 1e-7

    @Option(name: .customLong("end-lr"), help: "Last learning rate.")
    var endLR: Float = 10

    @Option(help: "Number of batches (one learning rate each).")
    var steps: Int = 100

    @Option(name: .customLong("batch-size"), help: "Images per batch.")
    var batchSize: Int = 64

    @Option(help: "Optimizer: sgd, nesterov, adam, adamw, rmsprop, adagrad.")
    var optimizer: String = "sgd"

    @Option(help: "Data loader worker threads.")
    var workers: Int = 2

    @Option(help: "Seed.")
    var seed: UInt64 = 0

    @Option(name: .customLong("image-size"), help: "Input side for image folders or training crop for segmentation, as for `train`.")
    var imageSize: Int?

    @Option(name: .shortAndLong, help: "Plot PNG (default: lr-find-<model>-<data>.png in the current directory).")
    var output: String?

    func validate() throws {
        if !(startLR > 0 && startLR.isFinite && endLR.isFinite && endLR > startLR) {
            throw ValidationError("--start-lr and --end-lr must be finite with 0 < --start-lr < --end-lr")
        }
        if !(5...10_000).contains(steps) { throw ValidationError("--steps must be between 5 and 10000") }
        if !(1...100_000).contains(batchSize) { throw ValidationError("--batch-size must be between 1 and 100000") }
        if !(0...RunConfig.maxWorkers).contains(workers) { throw ValidationError("--workers must be between 0 and \(RunConfig.maxWorkers)") }
        if let size = imageSize, !(1...4096).contains(size) { throw ValidationError("--image-size must be between 1 and 4096") }
    }

    func run() throws {
        try guarded {
            let plot = output ?? "lr-find-\(model)-\(URL(fileURLWithPath: data).lastPathComponent).png"
            let entry = try ModelRegistry.entry(model)
            try checkDestinations([("-o", plot)])
            let prepared = try DataSetup.prepare(data: data, augmentation: "standard", seed: seed, limit: steps * batchSize,
                                                 imageSize: imageSize)
            try checkTaskMatches(entry: entry, task: prepared.task, data: data)
            if let size = prepared.preprocessing.size {
                try checkInputSize(entry, height: size, width: size, source: data, hint: "; pass --image-size \(entry.minimumInputSize)")
            }
            let network = entry.build(ModelOptions(numClasses: prepared.classNames.count, inChannels: prepared.preprocessing.channels,
                                                   seed: seed, inputSize: prepared.preprocessing.size ?? imageSize ?? 256))
            let config = RunConfig(model: entry.name, modelOptions: ModelOptions(), data: data, task: prepared.task,
                                   classNames: prepared.classNames, preprocessing: prepared.preprocessing,
                                   batchSize: batchSize, optimizer: optimizer, learningRate: startLR, weightDecay: 0)
            let opt = try Trainer.makeOptimizer(config, model: network)
            let loader = DataLoader(prepared.train, batchSize: batchSize, shuffle: true, dropLast: prepared.train.count > batchSize,
                                    workers: workers, seed: seed, transform: prepared.trainTransform)
            var epoch = 0
            var iterator = loader.epoch(epoch)
            network.train()
            let result = try lrRangeTest(startLR: startLR, endLR: endLR, steps: steps) { lr in
                var batch = try iterator.next()
                if batch == nil {
                    epoch += 1
                    iterator = loader.epoch(epoch)
                    batch = try iterator.next()
                }
                guard let batch else { throw CLIError("\(data): no batches") }
                opt.learningRate = lr
                opt.zeroGrad()
                let targets = prepared.task == .segmentation ? (batch.masks ?? []) : batch.labels
                let loss = crossEntropy(network(batch.images), targets: targets,
                                        ignoreIndex: prepared.task == .segmentation ? LabelMask.ignored : nil)
                let value = loss.item
                if value.isFinite {
                    loss.backward()
                    opt.step()
                }
                return value
            }
            iterator.close()
            print("     lr        loss   smoothed")
            let every = max(1, result.points.count / 25)
            for (i, p) in result.points.enumerated() where i % every == 0 || i == result.points.count - 1 {
                print(String(format: "%10.3e  %8.4f  %8.4f", p.learningRate, p.loss, p.smoothedLoss))
            }
            if result.diverged { print("stopped early: the loss diverged") }
            if let s = result.suggestion {
                print(String(format: "suggested learning rate: %.3e (steepest descent of the smoothed loss)", s))
            } else {
                print("no suggestion: the loss never fell")
            }
            let chart = Plot.lineChart(title: "lr range test", series: [Plot.Series("smoothed loss", result.points.map { Double($0.smoothedLoss) })],
                                       xLabel: "learning rate (log)", xValues: result.points.map { Double($0.learningRate) }, logX: true)
            try ImageIO.writePNG(chart.image, to: URL(fileURLWithPath: plot))
            print("plot → \(plot)")
        }
    }
}
