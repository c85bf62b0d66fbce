import ArgumentParser
import Foundation
import VisionCore
import VisionTools

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images with trained weights; prints the top-k classes with probabilities.",
        discussion: "Images are prepared as in training (channels, size, normalisation from the checkpoint); EXIF orientation is applied.")

    @Argument(help: "Image files (PNG or JPEG).")
    var images: [String]

    @Option(help: "A run directory (its best weights) or a weights file written by vision.")
    var weights: String

    @Option(name: .customLong("top-k"), help: "How many classes to list per image.")
    var topK: Int = 5

    @Option(help: "Test-time augmentation: none, or flip (the softmax of each image and of its mirror image averaged).")
    var tta: TestTimeAugmentation = .none

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if topK <= 0 { throw ValidationError("--top-k must be positive") }
    }

    func run() throws {
        try guarded {
            let (config, model) = try Checkpoint.loadModel(weights)
            guard config.task == .classification else { throw CLIError("\(weights) is a segmentation model; use `vision segment`") }
            var failures = 0
            for path in images {
                do {
                    let (input, _) = try loadInput(path, preprocessing: config.preprocessing)
                    let probabilities = Autograd.noGrad {
                        tta == .flip ? Evaluator.flipAveraged(model, input, task: .classification).exp() : model(input).softmax(axis: 1)
                    }.storage
                    let ranked = probabilities.enumerated().sorted { $0.element > $1.element }.prefix(topK)
                    print("\(path):")
                    for (c, p) in ranked {
                        print(String(format: "  %-20@ %.4f", (c < config.classNames.count ? config.classNames[c] : "\(c)") as NSString, p))
                    }
                } catch {
                    printError(describe(error))
                    failures += 1
                }
            }
            if failures > 0 { throw ExitCode(1) }
        }
    }
}
