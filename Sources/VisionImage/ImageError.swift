import Foundation

/// Why an image could not be read, decoded, encoded or written.
///
/// Every case carries the file (or the `source` label given for in-memory bytes) and a reason, so
/// the message alone tells a user which file is bad and how:
/// `"data/cat.png: corrupt PNG: IDAT: CRC error"`.
public enum ImageError: Error, Equatable, Sendable {
    /// The file could not be opened or read (missing, a directory, no permission…).
    case unreadable(source: String, reason: String)
    /// The file or byte buffer holds no bytes at all.
    case empty(source: String)
    /// The bytes are neither PNG nor JPEG (the format is sniffed from the magic bytes, never the extension).
    case unrecognizedFormat(source: String, reason: String)
    /// libpng or libjpeg rejected the data: bad signature, CRC mismatch, truncated or corrupt stream.
    case corrupt(source: String, format: String, reason: String)
    /// A valid file using something this package does not decode (e.g. a 2-component JPEG).
    case unsupported(source: String, format: String, reason: String)
    /// The header claims more pixels (or bytes) than the limits allow; nothing was allocated for it.
    case tooLarge(source: String, reason: String)
    /// The encoder failed (the reason is the library's message).
    case encodingFailed(format: String, reason: String)
    /// The encoded bytes could not be written to the destination.
    case unwritable(destination: String, reason: String)

    /// The file or label the error is about.
    public var source: String {
        switch self {
        case .unreadable(let source, _), .empty(let source), .unrecognizedFormat(let source, _),
             .corrupt(let source, _, _), .unsupported(let source, _, _), .tooLarge(let source, _):
            return source
        case .encodingFailed(let format, _):
            return "\(format) encoder"
        case .unwritable(let destination, _):
            return destination
        }
    }
}

extension ImageError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case .unreadable(let source, let reason):
            return "\(source): cannot read file: \(reason)"
        case .empty(let source):
            return "\(source): empty (0 bytes)"
        case .unrecognizedFormat(let source, let reason):
            return "\(source): not a PNG or JPEG image: \(reason)"
        case .corrupt(let source, let format, let reason):
            return "\(source): corrupt \(format): \(reason)"
        case .unsupported(let source, let format, let reason):
            return "\(source): unsupported \(format): \(reason)"
        case .tooLarge(let source, let reason):
            return "\(source): image too large: \(reason)"
        case .encodingFailed(let format, let reason):
            return "\(format) encoding failed: \(reason)"
        case .unwritable(let destination, let reason):
            return "\(destination): cannot write file: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
