import ArgumentParser
import Foundation
import VisionCore
import VisionData
import VisionImage
import VisionTools

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score trained weights on labelled data: loss, accuracy, top-5, per-class accuracy, confusion matrix; IoU and Dice for segmentation.")

    @Option(help: "A run directory (its best weights) or a weights file written by vision.")
    var weights: String

    @Option(help: "Dataset name or folder (named datasets use their test split; a plain folder is scored whole).")
    var data: String

    @Option(name: .customLong("batch-size"), help: "Images per batch (classification; segmentation images are scored one at a time, their sizes may differ).")
    var batchSize: Int = 128

    @Option(help: "Data loader worker threads.")
    var workers: Int = 2

    @Option(help: "Score only this many images (a seeded subset).")
    var limit: Int?

    @Flag(name: .customLong("held-out"), help: "Score the images the training run held out for validation (same seed and split) instead of the test split / whole folder.")
    var heldOut = false

    @Option(help: "Test-time augmentation: none, or flip (each image also scored mirrored left–right, the two softmax outputs averaged; segmentation maps mirrored back; the confusion image is then confusion-flip.png by default).")
    var tta: TestTimeAugmentation = .none

    @Option(name: .customLong("confusion-png"), help: "Where to write the confusion matrix image (default: confusion.png in a run directory; beside a weights file, <weights name>.confusion.png; with --tta flip, confusion-flip.png).")
    var confusionPNG: String?

    func validate() throws {
        if !(1...100_000).contains(batchSize) { throw ValidationError("--batch-size must be between 1 and 100000") }
        if !(0...RunConfig.maxWorkers).contains(workers) { throw ValidationError("--workers must be between 0 and \(RunConfig.maxWorkers)") }
        if let l = limit, l <= 0 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try guarded {
            let (config, model) = try Checkpoint.loadModel(weights)
            let png = try confusionOutput()
            try FileWriting.checkDestination(png, option: "--confusion-png")
            var prepared: PreparedData
            do {
                prepared = heldOut
                    ? try DataSetup.heldOutSet(data: data, config: config)
                    : try DataSetup.evaluationSet(data: data, config: config)
            } catch let error as ToolError {
                // A channel mismatch often means the wrong kind of data altogether; say that when it is so.
                if let plain = try? DataSetup.prepare(data: data, augmentation: "none", seed: config.seed), plain.task != config.task {
                    throw CLIError("\(weights) was trained for \(config.task.rawValue) but \(data) is \(plain.task.rawValue) data")
                }
                throw error
            }
            if heldOut && !prepared.validationIsHeldOut {
                throw CLIError("--held-out: the run in \(weights) held no training images out; it validated on \(prepared.validationSource)"
                               + " (score that without --held-out)")
            }
            guard var dataset = prepared.validation else { throw CLIError("\(data): no labelled evaluation images") }
            if prepared.task != config.task {
                throw CLIError("\(weights) was trained for \(config.task.rawValue) but \(data) is \(prepared.task.rawValue) data")
            }
            if prepared.task == .classification && prepared.classNames != config.classNames {
                throw CLIError("\(data) has classes \(prepared.classNames) but the model was trained on \(config.classNames)")
            }
            if prepared.task == .segmentation && prepared.classNames.count > config.classNames.count {
                throw CLIError("\(data): the masks hold class values up to \(prepared.classNames.count - 1), "
                               + "but the model predicts \(config.classNames.count) classes (0–\(config.classNames.count - 1))")
            }
            if let limit { dataset = DataSetup.head(dataset, limit, seed: config.seed) }
            prepared.validation = dataset
            // Segmentation images are scored whole, one at a time: their sizes may differ.
            let loader = DataLoader(dataset, batchSize: config.task == .segmentation ? 1 : batchSize, workers: workers,
                                    seed: config.seed, transform: prepared.evalTransform)
            print("evaluating \(config.model) from \(weights) on \(prepared.validationSource)"
                  + (tta == .flip ? ", averaged with the mirror images" : ""))
            let result = try Evaluator.evaluate(model, loader: loader, task: config.task, classes: config.classNames.count,
                                                flipTTA: tta == .flip)
            let names = config.classNames
            print(String(format: "images: %d  loss: %.4f  %@: %.4f", result.count, result.meanLoss,
                         config.task == .segmentation ? "pixel accuracy" : "accuracy", result.accuracy))
            if let top5 = result.top5Accuracy { print(String(format: "top-5 accuracy: %.4f", top5)) }
            if config.task == .segmentation {
                print(String(format: "mean IoU: %.4f  mean Dice: %.4f", result.confusion.meanIoU, result.confusion.meanDice))
                for (c, name) in names.enumerated() {
                    print(String(format: "  %-14@ IoU %@  Dice %@", name as NSString,
                                 format(result.confusion.intersectionOverUnion[c]), format(result.confusion.dice[c])))
                }
            }
            print("per-class accuracy:")
            for (c, acc) in result.confusion.perClassAccuracy.enumerated() {
                print(String(format: "  %-14@ %@  (%d %@)", (c < names.count ? names[c] : "\(c)") as NSString, format(acc),
                             result.confusion.counts[c].reduce(0, +), config.task == .segmentation ? "pixels" : "images"))
            }
            print("confusion matrix (rows: truth, columns: prediction):")
            print(confusionText(result.confusion, names: names))
            try ImageIO.writePNG(Plot.confusionMatrix(result.confusion, classNames: names).image, to: png)
            print("confusion matrix image: \(png.path)")
        }
    }

    func format(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "  n/a " }

    /// --confusion-png, else `confusion.png` in a run directory (the run's own), or `<weights>.confusion.png`
    /// beside a weights file (named after it, so a user's own `confusion.png` there is never replaced).
    func confusionOutput() throws -> URL {
        if let confusionPNG { return URL(fileURLWithPath: confusionPNG) }
        // A flip-averaged evaluation does not replace the plain one's image.
        let name = tta == .flip ? "confusion-flip.png" : "confusion.png"
        var isDirectory: ObjCBool = false
        let url = URL(fileURLWithPath: weights)
        if FileManager.default.fileExists(atPath: weights, isDirectory: &isDirectory) && isDirectory.boolValue {
            return url.appendingPathComponent(name)
        }
        if FileManager.default.fileExists(atPath: url.deletingLastPathComponent().appendingPathComponent("run.json").path) {
            return url.deletingLastPathComponent().appendingPathComponent(name)
        }
        return url.deletingLastPathComponent().appendingPathComponent(url.deletingPathExtension().lastPathComponent + "." + name)
    }
}

func confusionText(_ m: ConfusionMatrix, names: [String]) -> String {
    let width = max(6, (m.counts.flatMap { $0 }.max() ?? 0).description.count + 1)
    let label = min(12, names.map(\.count).max() ?? 4)
    var lines = [String(repeating: " ", count: label + 1) + (0..<m.classes).map { String($0).leftPad(width) }.joined()]
    for t in 0..<m.classes {
        let name = String((t < names.count ? names[t] : "\(t)").prefix(label))
        lines.append(name.padding(toLength: label + 1, withPad: " ", startingAt: 0) + m.counts[t].map { String($0).leftPad(width) }.joined())
    }
    return lines.joined(separator: "\n")
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
