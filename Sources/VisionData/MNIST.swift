import Foundation
import VisionCore

/// MNIST-family datasets in IDX format (plain or gzip): `train-images-idx3-ubyte[.gz]`,
/// `train-labels-idx1-ubyte[.gz]`, `t10k-…` for the test split. Images are 1×28×28 in `[0, 1]`,
/// held in memory as bytes.
public struct MNIST: Dataset {
    public enum Split: String, Sendable { case train, test }

    public enum Variant: String, Sendable {
        /// Handwritten digits 0–9.
        case digits
        /// Zalando's Fashion-MNIST clothing classes.
        case fashion
    }

    public static let digitClassNames = (0..<10).map(String.init)
    public static let fashionClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    public let images: [UInt8]
    public let labels: [UInt8]
    public let height: Int
    public let width: Int
    public let classNames: [String]

    public var count: Int { labels.count }

    /// Loads `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` (each optionally `.gz`) from
    /// `directory`, where the prefix is `train` or `t10k`.
    public init(directory: URL, split: Split, variant: Variant = .digits) throws {
        let prefix = split == .train ? "train" : "t10k"
        let imagesFile = try MNIST.locate(directory, "\(prefix)-images-idx3-ubyte")
        let labelsFile = try MNIST.locate(directory, "\(prefix)-labels-idx1-ubyte")
        try self.init(imagesFile: imagesFile, labelsFile: labelsFile,
                      classNames: variant == .fashion ? MNIST.fashionClassNames : MNIST.digitClassNames)
    }

    /// Loads an IDX image file (magic `0x00000803`, `[N, H, W]` bytes) and label file (`0x00000801`, `[N]`).
    public init(imagesFile: URL, labelsFile: URL, classNames: [String] = MNIST.digitClassNames) throws {
        let (imageDims, imageBytes) = try IDX.read(imagesFile, expectedMagic: 0x0000_0803)
        let (labelDims, labelBytes) = try IDX.read(labelsFile, expectedMagic: 0x0000_0801)
        guard imageDims.allSatisfy({ $0 > 0 }) else {
            throw DataError.malformed(path: imagesFile.path, reason: "holds \(imageDims[0]) images of \(imageDims[1])×\(imageDims[2]) pixels; none can be used")
        }
        guard imageDims[0] == labelDims[0] else {
            throw DataError.mismatch(path: labelsFile.path,
                                     reason: "\(labelDims[0]) labels for \(imageDims[0]) images in \(imagesFile.path)")
        }
        if let bad = labelBytes.firstIndex(where: { Int($0) >= classNames.count }) {
            throw DataError.malformed(path: labelsFile.path,
                                      reason: "label \(labelBytes[bad]) at index \(bad) is not below \(classNames.count)")
        }
        images = imageBytes
        labels = labelBytes
        height = imageDims[1]
        width = imageDims[2]
        self.classNames = classNames
    }

    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < count, "MNIST index \(index) out of range 0..<\(count)")
        let size = height * width
        let image = images.withUnsafeBufferPointer { buffer in
            FloatImage(planarBytes: UnsafeBufferPointer(rebasing: buffer[(index * size)..<((index + 1) * size)]),
                       channels: 1, height: height, width: width)
        }
        return Sample(image: image, label: Int(labels[index]))
    }

    static func locate(_ directory: URL, _ name: String) throws -> URL {
        let manager = FileManager.default
        for candidate in [name, name + ".gz"] {
            let url = directory.appendingPathComponent(candidate)
            if manager.fileExists(atPath: url.path) { return url }
        }
        throw DataError.unreadable(path: directory.appendingPathComponent(name).path,
                                   reason: "neither \(name) nor \(name).gz exists")
    }
}

/// The IDX container of the MNIST files: magic `00 00 <type> <ndims>` (type 0x08 = unsigned byte),
/// `ndims` big-endian UInt32 extents, then the row-major bytes.
public enum IDX {
    /// Reads an unsigned-byte IDX file (gzip-compressed when it starts with `1f 8b`), checking the magic
    /// and that the data length is exactly the product of the dimensions. At most that many bytes are inflated.
    public static func read(_ url: URL, expectedMagic: UInt32) throws -> (dimensions: [Int], bytes: [UInt8]) {
        let raw = try readFileBytes(url)
        let path = url.path
        let dimensionCount = Int(expectedMagic & 0xFF)
        let headerSize = 4 + 4 * dimensionCount
        if isGzip(raw) {
            let reader = try GzipReader(raw, path: path)
            let header = try reader.read(headerSize)
            let dimensions = try parseHeader(header, expectedMagic: expectedMagic, path: path)
            let size = dimensions.reduce(1, *)
            let body = try reader.read(size)
            guard body.count == size else {
                throw DataError.malformed(path: path, reason: "truncated: header implies \(size) data bytes, found \(body.count)")
            }
            guard try reader.atEnd() else {
                throw DataError.malformed(path: path, reason: "more data than the header's \(dimensions) declares")
            }
            return (dimensions, body)
        }
        let dimensions = try parseHeader(Array(raw.prefix(headerSize)), expectedMagic: expectedMagic, path: path)
        let size = dimensions.reduce(1, *)
        guard raw.count - headerSize == size else {
            throw DataError.malformed(path: path, reason: "header implies \(size) data bytes, file holds \(raw.count - headerSize)")
        }
        return (dimensions, Array(raw[headerSize...]))
    }

    static func parseHeader(_ header: [UInt8], expectedMagic: UInt32, path: String) throws -> [Int] {
        func word(_ offset: Int) -> UInt32 {
            header[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard header.count >= 4 else { throw DataError.malformed(path: path, reason: "file too short for an IDX header") }
        let magic = word(0)
        guard magic == expectedMagic else {
            throw DataError.malformed(path: path, reason: String(format: "IDX magic 0x%08X, expected 0x%08X", magic, expectedMagic))
        }
        let dimensionCount = Int(magic & 0xFF)
        guard header.count == 4 + 4 * dimensionCount else {
            throw DataError.malformed(path: path, reason: "file too short for \(dimensionCount) IDX dimensions")
        }
        let dimensions = (0..<dimensionCount).map { Int(word(4 + 4 * $0)) }
        var total = 1
        for extent in dimensions {
            let (product, overflow) = total.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= 1 << 34 else {
                throw DataError.malformed(path: path, reason: "implausible IDX dimensions \(dimensions)")
            }
            total = product
        }
        return dimensions
    }
}
