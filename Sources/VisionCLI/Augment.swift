import ArgumentParser
import Foundation
import VisionCore
import VisionData
import VisionImage
import VisionTools

struct Augment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment",
        abstract: "Preview training augmentation: one image augmented several times, tiled into a PNG grid.",
        discussion: """
        The first tile is the image as training sees it without augmentation (resized and centre-cropped to the side); \
        the others are independent draws of the --augment preset, as `vision train` applies it to an image folder \
        (RGB, the same side, crop padding and erasing rules), before normalisation. Values outside 0–1 (random \
        erasing's noise) are clipped for display.
        """)

    @Argument(help: "Input image (PNG or JPEG).")
    var image: String

    @Option(name: .shortAndLong, help: "Output PNG grid.")
    var output: String

    @Option(name: .customLong("augment"), help: "Classification preset, as `vision train --augment`: \(DataSetup.augmentationPresets.joined(separator: ", ")).")
    var augmentation: String = "standard"

    @Option(name: [.customShort("n"), .long], help: "Augmented copies to draw.")
    var count: Int = 15

    @Option(name: .customLong("image-size"), help: "Side of the square training input (default: the shorter side if ≤ 64, else 128, as for image folders).")
    var imageSize: Int?

    @Option(name: .customLong("crop-padding"), help: "Zero padding before the random crop (default: an eighth of the side, at least 2).")
    var cropPadding: Int?

    @Option(help: "Random-erasing probability (default: 0.25 with --augment strong, else 0).")
    var erasing: Float?

    @Option(help: "Seed of the draws.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-exif"), help: "Ignore the EXIF orientation of JPEGs.")
    var noEXIF = false

    func validate() throws {
        if !DataSetup.augmentationPresets.contains(augmentation) {
            throw ValidationError("--augment must be one of \(DataSetup.augmentationPresets.joined(separator: ", ")), got '\(augmentation)'")
        }
        if !(1...256).contains(count) { throw ValidationError("--count must be between 1 and 256") }
        if let size = imageSize, !(1...1024).contains(size) { throw ValidationError("--image-size must be between 1 and 1024") }
        if let p = cropPadding, !(0...1024).contains(p) { throw ValidationError("--crop-padding must be between 0 and 1024") }
        if let e = erasing, !(e >= 0 && e <= 1) { throw ValidationError("--erasing must be in [0, 1]") }
    }

    func run() throws {
        try guarded {
            try checkDestinations([("-o", output)])
            let decoded = try ImageIO.decode(contentsOf: URL(fileURLWithPath: image), applyEXIFOrientation: !noEXIF)
            guard decoded.height > 0 && decoded.width > 0 else { throw CLIError("\(image): the image is empty") }
            // Image folders train on RGB, gray images converted.
            let source = decoded.pixels.withUnsafeBufferPointer {
                FloatImage(interleavedBytes: $0, channels: decoded.channels, height: decoded.height, width: decoded.width)
            }
            let (side, padding) = DataSetup.folderGeometry(height: decoded.height, width: decoded.width, imageSize: imageSize,
                                                           cropPadding: cropPadding)
            let (zero, one) = ([Float](repeating: 0, count: 3), [Float](repeating: 1, count: 3))
            let plain = DataSetup.classificationTransform("none", size: side, padding: 0, channels: 3, largeImages: false,
                                                          mean: zero, std: one, erasing: 0)
            let augment = DataSetup.classificationTransform(augmentation, size: side, padding: padding, channels: 3,
                                                            largeImages: side > 64, mean: zero, std: one, erasing: erasing)
            var generator = SeededGenerator(seed: seed)
            var tiles = [rgbBytes(plain(source, generator: &generator))]
            for _ in 0..<count { tiles.append(rgbBytes(augment(source, generator: &generator))) }
            let grid = FeatureGrid.tile(tiles, height: side, width: side, border: 2, borderColor: (255, 255, 255))
            try writeOutputs([(Data(try ImageIO.encodePNG(grid.image)), URL(fileURLWithPath: output))])
            print("\(count) draws of --augment \(augmentation) at \(side)×\(side) (seed \(seed)), after the unaugmented image → \(output)")
        }
    }

    /// A `[3, side, side]` image as interleaved RGB bytes, values clipped to 0–1.
    private func rgbBytes(_ image: FloatImage) -> [UInt8] {
        let plane = image.height * image.width
        return (0..<plane).flatMap { i in (0..<3).map { k in UInt8((min(max(image.pixels[k * plane + i], 0), 1) * 255).rounded()) } }
    }
}
