import ArgumentParser
import Foundation
import VisionModels

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the model zoo with parameter counts and forward FLOPs.",
        discussion: "FLOPs count 2 × multiply-adds of convolutions and linear layers for one image.")

    @Option(name: .customLong("input-size"), help: "Image side for FLOPs (default: 224 for ImageNet-style models, 32 for CIFAR ResNets, 256 for U-Net).")
    var inputSize: Int?

    @Option(help: "Number of classes.")
    var classes: Int?

    func validate() throws {
        if let size = inputSize, !(1...4096).contains(size) { throw ValidationError("--input-size must be between 1 and 4096") }
        if let c = classes, !(1...100_000).contains(c) { throw ValidationError("--classes must be between 1 and 100000") }
    }

    func run() throws {
        try guarded {
            let width = max(12, ModelRegistry.names.map(\.count).max() ?? 0)
            func name(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
            print("\(name("model")) params         GFLOPs  input        description")
            for entry in ModelRegistry.entries {
                let side = inputSize ?? entry.defaultInput[1]
                let channels = entry.defaultInput[0]
                if side < entry.minimumInputSize {
                    print("\(name(entry.name)) \("-".leftPad(11))  \("-".leftPad(9))  \("\(channels)×\(side)×\(side)".padding(toLength: 11, withPad: " ", startingAt: 0))  needs inputs of at least \(entry.minimumInputSize)×\(entry.minimumInputSize)")
                    continue
                }
                let options = ModelOptions(numClasses: classes ?? (entry.family == "unet" ? 2 : (entry.family == "cifar-resnet" ? 10 : 1000)),
                                           inChannels: channels, inputSize: side)
                let model = entry.build(options)
                let flops = try ModelRegistry.flops(of: model, input: [channels, side, side])
                print("\(name(entry.name)) \(String(model.parameterCount).leftPad(11))  \(String(format: "%9.3f", Double(flops) / 1e9))  \("\(channels)×\(side)×\(side)".padding(toLength: 11, withPad: " ", startingAt: 0))  \(entry.summary)")
            }
        }
    }
}
