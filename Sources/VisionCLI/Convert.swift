import ArgumentParser
import Foundation
import VisionImage

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode and re-encode an image through the library's decoders (EXIF orientation included), optionally resized or grayed.",
        discussion: "The output format follows the extension: .png or .jpg/.jpeg.")

    @Argument(help: "Input image (PNG or JPEG).")
    var input: String

    @Argument(help: "Output image (.png, .jpg or .jpeg).")
    var output: String

    @Option(help: "Resize to WIDTHxHEIGHT (area averaging when both sides shrink, else bilinear).")
    var resize: String?

    @Flag(help: "Convert to gray (0.299R + 0.587G + 0.114B).")
    var gray = false

    @Option(help: "JPEG quality 1–100 (default 90; JPEG output only).")
    var quality: Int?

    @Flag(name: .customLong("no-exif"), help: "Ignore the EXIF orientation of JPEGs.")
    var noEXIF = false

    func validate() throws {
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be 1–100") }
        if let r = resize, parseSize(r) == nil { throw ValidationError("--resize must look like 64x48 (width x height, both positive), got \(r)") }
        if !["png", "jpg", "jpeg"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) {
            throw ValidationError("the output must end in .png, .jpg or .jpeg")
        }
        if quality != nil && URL(fileURLWithPath: output).pathExtension.lowercased() == "png" {
            throw ValidationError("--quality sets JPEG compression; PNG output is lossless")
        }
    }

    func parseSize(_ s: String) -> (Int, Int)? {
        let parts = s.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { return nil }
        return (parts[0], parts[1])
    }

    /// Refuses, before any resizing, sizes the encoder cannot write (JPEG sides up to 65500, PNG sides up to 10⁶)
    /// or that the library would not read back (more than `ImageDecodeLimits.default.maxPixelCount` pixels).
    func checkOutputSize(width: Int, height: Int) throws {
        let isPNG = URL(fileURLWithPath: output).pathExtension.lowercased() == "png"
        let maxSide = isPNG ? ImageIO.maximumPNGSide : ImageIO.maximumJPEGSide
        if width > maxSide || height > maxSide {
            throw CLIError("\(output): \(width)×\(height) is too large for \(isPNG ? "PNG" : "JPEG"); each side is limited to \(maxSide)")
        }
        let maxPixels = ImageDecodeLimits.default.maxPixelCount
        if width * height > maxPixels {
            throw CLIError("\(output): \(width)×\(height) = \(width * height) pixels is more than the limit of \(maxPixels) pixels")
        }
    }

    func run() throws {
        try guarded {
            try checkDestinations([("output", output)])
            var image = try ImageIO.decode(contentsOf: URL(fileURLWithPath: input), applyEXIFOrientation: !noEXIF)
            let before = "\(image.width)×\(image.height)×\(image.channels)"
            let (width, height) = resize.flatMap { parseSize($0) } ?? (image.width, image.height)
            try checkOutputSize(width: width, height: height)
            if gray { image = image.converted(toChannels: 1) }
            if resize != nil {
                let shrinking = width < image.width && height < image.height
                image = image.resized(height: height, width: width, method: shrinking ? .area : .bilinear)
            }
            let url = URL(fileURLWithPath: output)
            if url.pathExtension.lowercased() == "png" {
                try ImageIO.writePNG(image, to: url)
            } else {
                if image.hasAlpha { image = image.converted(toChannels: image.channels - 1) }
                try ImageIO.writeJPEG(image, to: url, quality: quality ?? 90)
            }
            print("\(input) (\(before)) → \(output) (\(image.width)×\(image.height)×\(image.channels))")
        }
    }
}
