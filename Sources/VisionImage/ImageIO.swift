import Foundation
import VisionCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file formats the decoders understand, recognised by their magic bytes.
public enum ImageFormat: String, Sendable {
    case png = "PNG"
    case jpeg = "JPEG"

    /// The format of `bytes` from its signature (`89 50 4E 47 0D 0A 1A 0A` for PNG, `FF D8 FF` for
    /// JPEG), or nil. The file name's extension plays no part.
    public static func sniff<Bytes: Collection>(_ bytes: Bytes) -> ImageFormat? where Bytes.Element == UInt8 {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.starts(with: png) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }
}

/// Bounds on what a decoder accepts, checked from the header before any pixel memory is allocated.
///
/// The defaults: at most 2²⁸ pixels (268 million, a 16384×16384 image), each side at most 65535
/// (the JPEG format's own limit), files up to 1 GiB, progressive JPEGs up to 1000 scans.
public struct ImageDecodeLimits: Sendable {
    public var maxPixelCount: Int
    public var maxDimension: Int
    public var maxFileBytes: Int
    public var maxProgressiveScans: Int

    public init(maxPixelCount: Int = 1 << 28, maxDimension: Int = 65_535,
                maxFileBytes: Int = 1 << 30, maxProgressiveScans: Int = 1000) {
        self.maxPixelCount = maxPixelCount
        self.maxDimension = maxDimension
        self.maxFileBytes = maxFileBytes
        self.maxProgressiveScans = maxProgressiveScans
    }

    public static let `default` = ImageDecodeLimits()

    /// Throws `tooLarge` when a header's size breaks the limits, `corrupt` when it is zero.
    func check(width: Int, height: Int, source: String, format: ImageFormat) throws {
        guard width > 0, height > 0 else {
            throw ImageError.corrupt(source: source, format: format.rawValue, reason: "header claims \(width)×\(height) pixels")
        }
        if width > maxDimension || height > maxDimension {
            throw ImageError.tooLarge(source: source, reason:
                "header claims \(width)×\(height) (width×height) pixels; each side is limited to \(maxDimension)")
        }
        if width * height > maxPixelCount {
            throw ImageError.tooLarge(source: source, reason:
                "header claims \(width)×\(height) (width×height) = \(width * height) pixels; the limit is \(maxPixelCount)")
        }
    }
}

/// Reading and writing PNG and JPEG files.
///
/// Decoding sniffs the format from the magic bytes. PNGs of every colour type and depth decode to
/// 1–4 channels (palette → RGB, tRNS → alpha, 1/2/4-bit scaled to 0…255, 16-bit rounded to 8);
/// JPEGs to gray or RGB (CMYK/YCCK converted). Gamma chunks and ICC profiles are ignored.
/// Failures throw `ImageError` naming the file and the reason; nothing prints.
public enum ImageIO {
    // MARK: Decoding

    /// Decodes the PNG or JPEG file at `url`.
    /// - Parameter applyEXIFOrientation: rotate/mirror a JPEG as its EXIF Orientation tag says.
    public static func decode(contentsOf url: URL, applyEXIFOrientation: Bool = false,
                              limits: ImageDecodeLimits = .default) throws -> Image {
        let bytes = try readFile(url, limits: limits)
        return try decode(bytes, source: url.path, applyEXIFOrientation: applyEXIFOrientation, limits: limits)
    }

    /// Decodes PNG or JPEG bytes; `source` names them in error messages.
    public static func decode(_ bytes: [UInt8], source: String, applyEXIFOrientation: Bool = false,
                              limits: ImageDecodeLimits = .default) throws -> Image {
        try bytes.withUnsafeBytes {
            try decode(buffer: $0, source: source, applyEXIFOrientation: applyEXIFOrientation, limits: limits)
        }
    }

    /// Decodes PNG or JPEG bytes; `source` names them in error messages.
    public static func decode(_ data: Data, source: String, applyEXIFOrientation: Bool = false,
                              limits: ImageDecodeLimits = .default) throws -> Image {
        try data.withUnsafeBytes {
            try decode(buffer: $0, source: source, applyEXIFOrientation: applyEXIFOrientation, limits: limits)
        }
    }

    static func decode(buffer: UnsafeRawBufferPointer, source: String, applyEXIFOrientation: Bool,
                       limits: ImageDecodeLimits) throws -> Image {
        switch try sniff(buffer, source: source) {
        case .png:
            return try PNGCodec.decode(buffer, source: source, limits: limits)
        case .jpeg:
            return try JPEGCodec.decode(buffer, source: source, applyEXIFOrientation: applyEXIFOrientation, limits: limits)
        }
    }

    /// Decodes a PNG keeping 16 bits per sample (8-bit and lower depths are widened by `v · 257`),
    /// for raw maps such as depth or label images.
    public static func decodePNG16(contentsOf url: URL, limits: ImageDecodeLimits = .default) throws -> Image16 {
        let bytes = try readFile(url, limits: limits)
        return try decodePNG16(bytes, source: url.path, limits: limits)
    }

    /// Decodes PNG bytes keeping 16 bits per sample; `source` names them in error messages.
    public static func decodePNG16(_ bytes: [UInt8], source: String, limits: ImageDecodeLimits = .default) throws -> Image16 {
        try bytes.withUnsafeBytes { buffer in
            let format = try sniff(buffer, source: source)
            guard format == .png else {
                throw ImageError.unsupported(source: source, format: format.rawValue, reason: "16-bit decoding reads PNG only")
            }
            return try PNGCodec.decode16(buffer, source: source, limits: limits)
        }
    }

    /// Decodes a label mask: one value per pixel. A palette PNG gives its palette indices (as PIL's mode
    /// "P" does, PASCAL VOC's masks among them), a gray PNG its stored values at their own depth (a 2-bit 3
    /// stays 3, a 16-bit 300 stays 300; 1-bit gray, black and white, gives 0 and 255), ignoring alpha;
    /// an RGB(A) PNG or a JPEG its gray level (luma).
    /// - Parameter applyEXIFOrientation: rotate/mirror a JPEG as its EXIF Orientation tag says.
    public static func decodeLabels(contentsOf url: URL, applyEXIFOrientation: Bool = false,
                                    limits: ImageDecodeLimits = .default) throws -> LabelImage {
        let bytes = try readFile(url, limits: limits)
        let source = url.path
        return try bytes.withUnsafeBytes { buffer in
            if try sniff(buffer, source: source) == .png, let values = try PNGCodec.decodeValues(buffer, source: source, limits: limits) {
                return values
            }
            var image = try decode(buffer: buffer, source: source, applyEXIFOrientation: applyEXIFOrientation, limits: limits)
            if image.channels != 1 { image = image.converted(toChannels: 1) }
            return LabelImage(height: image.height, width: image.width, values: image.pixels.map(Int.init))
        }
    }

    /// The EXIF Orientation (1–8) of a JPEG file, or nil when it has none (or is a PNG).
    /// Only the headers are read.
    public static func exifOrientation(contentsOf url: URL, limits: ImageDecodeLimits = .default) throws -> Int? {
        let bytes = try readFile(url, limits: limits)
        return try bytes.withUnsafeBytes { buffer in
            guard try sniff(buffer, source: url.path) == .jpeg else { return nil }
            return try JPEGCodec.orientation(buffer, source: url.path, limits: limits)
        }
    }

    static func sniff(_ buffer: UnsafeRawBufferPointer, source: String) throws -> ImageFormat {
        if buffer.isEmpty { throw ImageError.empty(source: source) }
        if let format = ImageFormat.sniff(buffer) { return format }
        let hex = buffer.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
        throw ImageError.unrecognizedFormat(source: source, reason: "unknown signature \(hex)")
    }

    // MARK: Files

    /// Reads a whole file with POSIX calls (no extension checks), refusing files over the limit.
    static func readFile(_ url: URL, limits: ImageDecodeLimits) throws -> [UInt8] {
        let path = url.path
        // Non-blocking open: a FIFO without a writer would otherwise block `open` forever. Reads are made
        // blocking again below, so a pipe with a writer is read to its end and one without reads as empty.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw ImageError.unreadable(source: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ImageError.unreadable(source: path, reason: String(cString: strerror(errno)))
        }
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            throw ImageError.unreadable(source: path, reason: String(cString: strerror(errno)))
        }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw ImageError.unreadable(source: path, reason: "is a directory") }
        let statedSize = Int(status.st_size)
        if statedSize > limits.maxFileBytes {
            throw ImageError.tooLarge(source: path, reason: "file of \(statedSize) bytes exceeds the limit of \(limits.maxFileBytes)")
        }
        // One spare byte lets the final read see end-of-file without growing the buffer.
        var bytes = [UInt8](repeating: 0, count: statedSize > 0 ? statedSize + 1 : 1 << 16)
        var filled = 0
        while true {
            if filled == bytes.count {
                // Not a regular file or it grew: keep reading up to the limit.
                guard bytes.count <= limits.maxFileBytes else {
                    throw ImageError.tooLarge(source: path, reason: "file exceeds the limit of \(limits.maxFileBytes) bytes")
                }
                bytes.append(contentsOf: repeatElement(0, count: bytes.count))
            }
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ImageError.unreadable(source: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            filled += count
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// Writes bytes to a temporary file beside `url` and renames it into place. A new file is not flushed
    /// (images are outputs that can be made again, sometimes thousands at a time); one that replaces an
    /// existing file is, so that a crash just after cannot lose both (`vision convert a.png a.png`).
    static func write(_ bytes: [UInt8], to url: URL) throws {
        do {
            try FileWriting.writeAtomically(Data(bytes), to: url, durable: FileManager.default.fileExists(atPath: url.path))
        } catch {
            throw ImageError.unwritable(destination: url.path, reason: "\(error)")
        }
    }
}
