import ArgumentParser
import Foundation
import VisionCore
import VisionImage
import VisionTools

struct SobelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sobel",
        abstract: "Sobel edge map of an image, computed with the library's conv2d.",
        discussion: """
        Gray = 0.299R + 0.587G + 0.114B on 0–255 values (gray images as they are); cross-correlation with Sx = [[−1,0,1],[−2,0,2],[−1,0,1]] and Sy = [[−1,−2,−1],[0,0,0],[1,2,1]]. The PNG is the map min–max normalised to 0–255 (rounded half up); --raw keeps the unnormalised Float32 values.
        """)

    @Argument(help: "Input image (PNG or JPEG).")
    var image: String

    @Option(name: .shortAndLong, help: "Output PNG (8-bit gray).")
    var output: String

    @Option(help: "x, y or magnitude (√(Gx² + Gy²)).")
    var direction: Sobel.Direction = .magnitude

    @Option(help: "valid (H×W → (H−2)×(W−2)) or same (zero padding, same size).")
    var padding: Sobel.Padding = .valid

    @Option(help: "Also write the unnormalised Float32 map to this .npy file.")
    var raw: String?

    @Flag(name: .customLong("no-exif"), help: "Ignore the EXIF orientation of JPEGs.")
    var noEXIF = false

    func run() throws {
        try guarded {
            try checkDestinations([("-o", output), ("--raw", raw)])
            let decoded = try ImageIO.decode(contentsOf: URL(fileURLWithPath: image), applyEXIFOrientation: !noEXIF)
            let rgb = decoded.channels == 2 || decoded.channels == 4 ? decoded.converted(toChannels: decoded.channels - 1) : decoded
            let values = rgb.toTensor() * 255
            guard padding == .same || (rgb.height >= 3 && rgb.width >= 3) else {
                throw CLIError("\(image): \(rgb.width)×\(rgb.height) is too small for a valid 3×3 Sobel map (use --padding same)")
            }
            let map = Sobel.edges(Sobel.grayscale(values), direction: direction, padding: padding)
            let (h, w) = (map.shape[0], map.shape[1])
            let edges = Data(try ImageIO.encodePNG(Image(height: h, width: w, channels: 1, pixels: Sobel.normalizedBytes(map))))
            try writeOutputs([(edges, URL(fileURLWithPath: output))] + (raw.map { [(Npy.encode(map), URL(fileURLWithPath: $0))] } ?? []))
            print("\(direction.rawValue) edges \(w)×\(h) → \(output)")
            if let raw { print("raw map → \(raw)") }
        }
    }
}

extension Sobel.Direction: ExpressibleByArgument {}
extension Sobel.Padding: ExpressibleByArgument {}
