import ArgumentParser
import Foundation
import VisionCore
import VisionImage
import VisionModels
import VisionNN
import VisionTools

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dump a layer's activations for one image as PNGs (one per channel plus a grid), or render first-layer filters.",
        discussion: "Layer names are dotted module paths such as layer1, layer3.1, features.10 or down.2; `--list` names them.")

    @Argument(help: "Input image (PNG or JPEG); not needed with --list.")
    var image: String?

    @Option(help: "Model name from the zoo (random weights unless --weights is given).")
    var model: String?

    @Option(help: "A run directory or weights file written by vision (its model is used).")
    var weights: String?

    @Option(help: "Layer whose output to dump (repeatable).")
    var layer: [String] = []

    @Option(help: "Comma-separated layers to dump.")
    var layers: String?

    @Flag(help: "Render the first convolution's filters as an RGB grid (filters.png).")
    var filters = false

    @Flag(help: "List the model's layers with their output shapes and exit.")
    var list = false

    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String?

    func validate() throws {
        if model == nil && weights == nil { throw ValidationError("pass --model NAME or --weights RUN_OR_FILE") }
        if !list && image == nil && !filters { throw ValidationError("name an input image") }
        if !list && image == nil && !allLayers.isEmpty { throw ValidationError("--layer needs an input image whose activations to dump") }
        if !list && output == nil { throw ValidationError("-o DIR is required") }
        if !list && !filters && allLayers.isEmpty { throw ValidationError("name a --layer (see --list)") }
        if allLayers.contains(where: \.isEmpty) { throw ValidationError("--layer and --layers need layer names, got an empty one (see --list)") }
    }

    var allLayers: [String] { layer + (layers?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } ?? []) }

    func run() throws {
        try guarded {
            let (network, preprocessing) = try loadNetwork()
            network.eval()
            if list {
                let probe = Tensor.zeros([1, preprocessing.channels, preprocessing.size ?? 64, preprocessing.size ?? 64])
                let names = network.namedModules().map(\.name).filter { !$0.isEmpty }
                let outputs = try network.captureOutputs(of: names) { _ = Autograd.noGrad { network(probe) } }
                print("layers of \(model ?? weights ?? "") for a \(probe.shape.dropFirst().map(String.init).joined(separator: "×")) input:")
                for (name, module) in network.namedModules() where !name.isEmpty {
                    print("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(String(describing: type(of: module)).padding(toLength: 18, withPad: " ", startingAt: 0)) \(outputs[name].map { "\($0.shape)" } ?? "-")")
                }
                return
            }
            // Everything is computed and checked before anything is written.
            var maps: [(name: String, maps: Tensor)] = []
            if let image, !allLayers.isEmpty {
                let (input, _) = try loadInput(image, preprocessing: preprocessing)
                if weights == nil, let model {
                    try checkInputSize(try ModelRegistry.entry(model), height: input.shape[2], width: input.shape[3], source: image)
                }
                if preprocessing.size == nil {
                    try ForwardMemory(network, channels: preprocessing.channels)
                        .check(height: input.shape[2], width: input.shape[3], source: image, keeping: allLayers)
                }
                let captured = try network.captureOutputs(of: allLayers) { _ = Autograd.noGrad { network(input) } }
                for name in allLayers {
                    guard let out = captured[name], out.rank == 4 else {
                        throw CLIError("layer \(name) does not produce a [N, C, H, W] map (got \(captured[name].map { "\($0.shape)" } ?? "nothing"))")
                    }
                    maps.append((name, out.reshape(Array(out.shape.dropFirst()))))
                }
            }
            let firstConvolution = network.namedModules().compactMap({ $0.module as? Conv2d }).first
            if filters && firstConvolution == nil { throw CLIError("the model has no convolution") }

            let dir = URL(fileURLWithPath: output!)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory) && !isDirectory.boolValue {
                throw CLIError("-o \(dir.path): exists and is not a directory (features are written into a directory)")
            }
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            } catch {
                throw CLIError("-o \(dir.path): cannot create the directory: \(error.localizedDescription)")
            }
            if filters, let conv = firstConvolution {
                let url = dir.appendingPathComponent("filters.png")
                try ImageIO.writePNG(FeatureGrid.filters(conv.weight).image, to: url)
                print("\(conv.outChannels) first-layer filters \(conv.weight.shape) → \(url.path)")
            }
            for (name, layerMaps) in maps {
                try writeLayer(name, layerMaps, into: dir)
            }
        }
    }

    /// One layer's channels as PNGs in `dir/name/` (built in a staging folder that then replaces the old
    /// one, so no channel file of an earlier run with more channels stays behind) and its grid beside it.
    func writeLayer(_ name: String, _ maps: Tensor, into dir: URL) throws {
        let fm = FileManager.default
        let layerDir = dir.appendingPathComponent(name)
        let staging = dir.appendingPathComponent(".\(name).\(UUID().uuidString).tmp")
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: staging) }
            let (h, w) = (maps.shape[1], maps.shape[2])
            for (c, bytes) in FeatureGrid.channelImages(maps).enumerated() {
                try ImageIO.writePNG(Image(height: h, width: w, channels: 1, pixels: bytes),
                                     to: staging.appendingPathComponent(String(format: "channel-%03d.png", c)))
            }
            if fm.fileExists(atPath: layerDir.path) { try fm.removeItem(at: layerDir) }
            try fm.moveItem(at: staging, to: layerDir)
        } catch let error as ImageError {
            throw error
        } catch {
            throw CLIError("\(layerDir.path): cannot write the layer's channel images: \(error.localizedDescription)")
        }
        let grid = dir.appendingPathComponent("\(name)-grid.png")
        try ImageIO.writePNG(FeatureGrid.grid(maps).image, to: grid)
        print("\(name): \(maps.shape[0]) channels of \(maps.shape[2])×\(maps.shape[1]) → \(layerDir.path)/, grid \(grid.path)")
    }

    func loadNetwork() throws -> (Module, Preprocessing) {
        if let weights {
            let (config, network) = try Checkpoint.loadModel(weights)
            if let model, model.lowercased() != config.model { throw CLIError("\(weights) holds a \(config.model), not a \(model)") }
            return (network, config.preprocessing)
        }
        let entry = try ModelRegistry.entry(model!)
        let channels = entry.family == "unet" ? 1 : 3
        let network = entry.build(ModelOptions(numClasses: entry.family == "unet" ? 2 : 1000, inChannels: channels))
        let (mean, std) = DatasetDefaults.normalization(for: "", channels: channels)
        return (network, Preprocessing(channels: channels, size: nil, mean: mean, std: std))
    }
}
