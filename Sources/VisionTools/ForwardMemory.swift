import Foundation
import VisionCore
import VisionModels
import VisionNN

/// What one forward pass of a network costs in memory per input pixel, measured once on a small probe,
/// so that an image too large for the machine is refused with its size named instead of the process
/// being killed part-way (a fully convolutional network such as the U-Net runs at any size).
public struct ForwardMemory: Sendable {
    /// Bytes of the largest single layer output, per input pixel.
    public let largestOutputBytesPerPixel: Double
    /// Bytes of each layer output, per input pixel, by module path.
    public let outputBytesPerPixel: [String: Double]

    /// Layer outputs, skip connections and kernel buffers alive at the same time, as a multiple of the largest
    /// single output: `vision segment` with the shipped U-Net peaks at about 5× (323 bytes per pixel measured
    /// on 1024² and 2048² images, against 64 for its largest module output).
    public static let liveOutputs = 8.0

    /// Runs `model` (in eval mode, without gradients) on a `side`×`side` zero image of `channels` channels
    /// (default 64, or a U-Net's 2^depth when larger: it pads its input to that multiple, and the padded
    /// size would be taken for the input's).
    public init(_ model: Module, channels: Int, side: Int? = nil) throws {
        let side = side ?? max(64, (model as? UNet).map { 1 << $0.depth } ?? 64)
        let names = model.namedModules().map(\.name).filter { !$0.isEmpty }
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let probe = Tensor.zeros([1, channels, side, side])
        let outputs = try model.captureOutputs(of: names) { _ = Autograd.noGrad { model(probe) } }
        let pixels = Double(side * side)
        var perPixel: [String: Double] = [:]
        for (name, output) in outputs { perPixel[name] = Double(output.count) * 4 / pixels }
        outputBytesPerPixel = perPixel
        largestOutputBytesPerPixel = perPixel.values.max() ?? Double(channels) * 4
    }

    /// Estimated peak bytes of a forward pass on a `height`×`width` input that also keeps the outputs of `kept` layers.
    public func estimatedBytes(height: Int, width: Int, keeping kept: [String] = []) -> Double {
        let perPixel = Self.liveOutputs * largestOutputBytesPerPixel + kept.reduce(0) { $0 + (outputBytesPerPixel[$1] ?? 0) }
        return perPixel * Double(height) * Double(width)
    }

    /// Half of this machine's physical memory: what one forward pass may take.
    public static var defaultBudget: Double { Double(ProcessInfo.processInfo.physicalMemory) / 2 }

    /// Throws, naming `source`, its size and the largest square that would fit, when a forward pass on it
    /// (`images` of that size at once) would need more than `budget` bytes.
    public func check(height: Int, width: Int, images: Int = 1, source: String, keeping kept: [String] = [],
                      budget: Double = ForwardMemory.defaultBudget) throws {
        let needed = estimatedBytes(height: height, width: width, keeping: kept) * Double(max(images, 1))
        guard needed > budget else { return }
        let side = Int((budget / max(needed / (Double(height) * Double(width)), 1)).squareRoot())
        func gigabytes(_ b: Double) -> String { String(format: "%.1f GB", b / 1_073_741_824) }
        throw ToolError.incompatibleData("\(source): a \(width)×\(height) image needs about \(gigabytes(needed)) for one pass of this network,"
            + " more than the \(gigabytes(budget)) it may take here (half the memory); scale it down to about \(side)×\(side) pixels or fewer, or cut it into tiles")
    }
}
