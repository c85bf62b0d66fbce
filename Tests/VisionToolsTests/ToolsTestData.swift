import Foundation
import TestSupport
import VisionCore
import VisionImage

/// Small image datasets the tools tests write to disk.
enum ToolsTestData {
    /// `root/<class>/NN.png`: `side`×`side` RGB images, each class a base colour plus seeded noise.
    static func writeClassFolder(_ root: URL, classes: [(String, (Int, Int, Int))], perClass: Int, side: Int,
                                 height: Int? = nil, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let rows = height ?? side
        for (name, color) in classes {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for k in 0..<perClass {
                var pixels = [UInt8](repeating: 0, count: rows * side * 3)
                for i in 0..<(rows * side) {
                    for (c, base) in [color.0, color.1, color.2].enumerated() {
                        pixels[3 * i + c] = UInt8(clamping: base + Int(g.nextUniform() * 60) - 30)
                    }
                }
                try ImageIO.writePNG(Image(height: rows, width: side, channels: 3, pixels: pixels),
                                     to: folder.appendingPathComponent(String(format: "%02d.png", k)))
            }
        }
    }

    static let colours: [(String, (Int, Int, Int))] = [("blue", (40, 60, 220)), ("green", (40, 200, 60)), ("red", (220, 50, 40))]

    /// `root/image/NN.png` (gray) and `root/label/NN.png` with the given label values inside a square.
    static func writeSegmentationFolder(_ root: URL, count: Int, side: Int, labelValues: [UInt8] = [0, 255]) throws {
        let images = root.appendingPathComponent("image"), labels = root.appendingPathComponent("label")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        for k in 0..<count {
            var pixels = [UInt8](repeating: 30, count: side * side), mask = [UInt8](repeating: labelValues[0], count: side * side)
            for y in 0..<side {
                for x in 0..<side where x >= side / 4 && y >= side / 4 && x < 3 * side / 4 && y < 3 * side / 4 {
                    pixels[y * side + x] = 200
                    mask[y * side + x] = labelValues[1 + (x + k) % (labelValues.count - 1)]
                }
            }
            let name = String(format: "%02d.png", k)
            try ImageIO.writePNG(Image(height: side, width: side, channels: 1, pixels: pixels), to: images.appendingPathComponent(name))
            try ImageIO.writePNG(Image(height: side, width: side, channels: 1, pixels: mask), to: labels.appendingPathComponent(name))
        }
    }

    /// CIFAR-10 binary batches in `root/cifar-10-batches-bin` with `perBatch` records per training batch.
    static func writeCIFAR10(_ root: URL, perBatch: Int, testRecords: Int) throws {
        let folder = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func batch(_ records: Int) -> Data {
            var bytes = [UInt8]()
            for r in 0..<records {
                bytes.append(UInt8(r % 10))
                bytes += [UInt8](repeating: UInt8(r * 20 % 256), count: 3072)
            }
            return Data(bytes)
        }
        for k in 1...5 { try batch(perBatch).write(to: folder.appendingPathComponent("data_batch_\(k).bin")) }
        try batch(testRecords).write(to: folder.appendingPathComponent("test_batch.bin"))
    }
}
