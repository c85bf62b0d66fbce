import ArgumentParser
import Foundation
import VisionCore
import VisionImage
import VisionModels
import VisionNN
import VisionTools

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment an image with a U-Net and write the class mask as a PNG.",
        discussion: """
        Uses the U-Net shipped in pretrained/ (unet-isbi2012.safetensors; looked up in $VISION_PRETRAINED, ./pretrained, then the package the executable was built in) unless --weights is given. Any image size works (the network pads and crops); one too large for a single pass in memory is segmented in tiles, each with enough context around it that the result is the same (--tile sets their size). The mask stores class c as the gray level c·255/(classes−1) (0 and 255 for two classes) unless --class-indices is given.
        """)

    @Argument(help: "The image to segment (PNG or JPEG).")
    var image: String

    @Option(name: .shortAndLong, help: "Output mask PNG.")
    var output: String

    @Option(help: "A run directory or weights file of a U-Net (default: the shipped one).")
    var weights: String?

    @Option(help: "Also write the input with the mask blended over it in colour to this PNG.")
    var overlay: String?

    @Option(help: "Also write per-class probabilities [C, H, W] as Float32 to this .npy file.")
    var probabilities: String?

    @Flag(name: .customLong("class-indices"), help: "Write raw class indices (0, 1, …) instead of spread gray levels.")
    var classIndices = false

    @Option(help: "Segment in tiles of this many pixels a side, each with enough context around it for the same result (automatic when the whole image would not fit in memory).")
    var tile: Int?

    @Option(help: "Test-time augmentation: none, or flip (the image also segmented mirrored left–right, the two softmax maps averaged).")
    var tta: TestTimeAugmentation = .none

    func validate() throws {
        if let tile, !(16...16384).contains(tile) { throw ValidationError("--tile must be between 16 and 16384 pixels") }
    }

    func run() throws {
        try guarded {
            try checkDestinations([("-o", output), ("--overlay", overlay), ("--probabilities", probabilities)])
            let path = try weights ?? defaultUNet()
            let (config, model) = try Checkpoint.loadModel(path)
            guard config.task == .segmentation else { throw CLIError("\(path) is a classifier; use `vision predict`") }
            let (input, original) = try loadInput(image, preprocessing: config.preprocessing)
            var logits = try segmentationLogits(model, input: input, channels: config.preprocessing.channels)
            if tta == .flip {
                let mirrored = try segmentationLogits(model, input: input.flip(axes: [-1]), channels: config.preprocessing.channels,
                                                      announce: false)
                logits = Evaluator.averagedSoftmax(logits, mirrored.flip(axes: [-1]))
            }
            let (classes, h, w) = (logits.shape[1], logits.shape[2], logits.shape[3])
            let labels = logits.argmax(axis: 1)
            // Class c → c·255/(classes − 1), so the last class is always 255 (0, 127, 255 for three classes).
            let spread = !classIndices && classes >= 2
            let mask = Image(height: h, width: w, channels: 1,
                             pixels: labels.map { UInt8(clamping: spread ? $0 * 255 / (classes - 1) : $0) })
            // Every output is encoded first and written as one (a failure leaves the old files, not a mix).
            var files: [(data: Data, url: URL)] = [(Data(try ImageIO.encodePNG(mask)), URL(fileURLWithPath: output))]
            var written = ["mask \(w)×\(h), \(classes) classes → \(output)"]
            if let probabilities {
                let p = Autograd.noGrad { logits.softmax(axis: 1) }.reshape([classes, h, w])
                files.append((Npy.encode(p), URL(fileURLWithPath: probabilities)))
                written.append("probabilities [\(classes), \(h), \(w)] → \(probabilities)")
            }
            if let overlay {
                let rgb = original.converted(toChannels: 3)
                var pixels = rgb.pixels
                let palette: [(Float, Float, Float)] = [(0, 0, 0), (255, 64, 64), (64, 200, 64), (64, 96, 255), (255, 200, 0), (200, 64, 255)]
                for i in 0..<(h * w) where labels[i] > 0 {
                    let color = palette[labels[i] % palette.count]
                    for (k, v) in [color.0, color.1, color.2].enumerated() {
                        pixels[3 * i + k] = UInt8(clamping: Int((0.5 * Float(pixels[3 * i + k]) + 0.5 * v).rounded()))
                    }
                }
                files.append((Data(try ImageIO.encodePNG(Image(height: h, width: w, channels: 3, pixels: pixels))), URL(fileURLWithPath: overlay)))
                written.append("overlay → \(overlay)")
            }
            try writeOutputs(files)
            print(written[0])
            var counts = [Int](repeating: 0, count: classes)
            for l in labels { counts[l] += 1 }
            for (c, n) in counts.enumerated() {
                let name = c < config.classNames.count ? config.classNames[c] : "class \(c)"
                print(String(format: "  %@: %.1f%%", name, 100 * Double(n) / Double(max(labels.count, 1))))
            }
            for line in written.dropFirst() { print(line) }
        }
    }
}

extension Segment {
    /// The whole image at once when it fits in memory (and no --tile is asked), else tile by tile; `announce` prints
    /// the tiling (once per image: the mirrored pass of --tta flip tiles alike).
    func segmentationLogits(_ model: Module, input: Tensor, channels: Int, announce: Bool = true) throws -> Tensor {
        let memory = try ForwardMemory(model, channels: channels)
        let (h, w) = (input.shape[2], input.shape[3])
        let fits = (try? memory.check(height: h, width: w, source: image)) != nil
        guard let unet = model as? UNet, tile != nil || !fits else {
            try memory.check(height: h, width: w, source: image)
            return Autograd.noGrad { model(input) }
        }
        let margin = TiledSegmentation.margin(depth: unet.depth), multiple = 1 << unet.depth
        // The whole-image buffers besides the tiles: the input and its padded copy, the logits, their softmax,
        // the class indices and the mask (the overlay is about as large again as the input for gray images).
        let classes = unet.numClasses
        // With --tta flip, also the mirrored input and its logits, the mirrored-back copy, two log-softmax maps and
        // the averaged map.
        let flipBuffers = tta == .flip ? channels + 5 * classes : 0
        let wholeImage = Double(h) * Double(w) * Double((2 * channels + 2 * classes + flipBuffers) * 4 + 8 + 1 + 3)
        let budget = ForwardMemory.defaultBudget - wholeImage
        func gigabytes(_ b: Double) -> String { String(format: "%.1f GB", b / 1_073_741_824) }
        guard budget > 0 else {
            throw CLIError("\(image): a \(w)×\(h) image needs about \(gigabytes(wholeImage)) for its input and output planes alone,"
                           + " more than the \(gigabytes(ForwardMemory.defaultBudget)) it may take here; scale it down or cut it up first")
        }
        // Automatic: the largest core whose tile (core + two margins) fits what is left, up to 2048.
        let fitting = Int((budget / memory.estimatedBytes(height: 1, width: 1)).squareRoot()) - 2 * margin
        let core = ((tile ?? min(2048, max(multiple, fitting / multiple * multiple))) + multiple - 1) / multiple * multiple
        let paddedH = (h + multiple - 1) / multiple * multiple, paddedW = (w + multiple - 1) / multiple * multiple
        try memory.check(height: min(core + 2 * margin, paddedH), width: min(core + 2 * margin, paddedW),
                         source: "\(image) in tiles of \(core) pixels (+\(margin) of context each side)", budget: budget)
        if announce {
            print("segmenting \(w)×\(h) in tiles of \(core)×\(core) pixels, each with \(margin) pixels of context"
                  + (core < margin ? " (tiles this small recompute their context many times: slow)" : "")
                  + (tta == .flip ? ", and again mirrored" : ""))
        }
        return TiledSegmentation.logits(unet, input: input, core: core, margin: margin)
    }
}

/// The shipped U-Net: $VISION_PRETRAINED, ./pretrained, or pretrained/ of the package the executable was built in.
func defaultUNet() throws -> String {
    let name = "unet-isbi2012.safetensors"
    var candidates: [URL] = []
    if let dir = ProcessInfo.processInfo.environment["VISION_PRETRAINED"] { candidates.append(URL(fileURLWithPath: dir)) }
    candidates.append(URL(fileURLWithPath: "pretrained"))
    // The running binary itself (argv[0] is only `vision` when it was found through $PATH).
    let running = FileManager.default.fileExists(atPath: "/proc/self/exe") ? "/proc/self/exe" : CommandLine.arguments[0]
    var executable = URL(fileURLWithPath: running).resolvingSymlinksInPath()
    for _ in 0..<4 {
        executable.deleteLastPathComponent()
        candidates.append(executable.appendingPathComponent("pretrained"))
    }
    var seen = Set<String>()
    candidates = candidates.filter { seen.insert($0.standardizedFileURL.path).inserted }  // near / the walk repeats itself
    for dir in candidates {
        let file = dir.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: file.path) { return file.path }
    }
    throw CLIError("no shipped U-Net found (looked for \(name) in \(candidates.map(\.path).joined(separator: ", "))); pass --weights RUN_OR_FILE")
}
