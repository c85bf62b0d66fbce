import Foundation

/// A safetensors file that cannot be read, parsed or written. Every case names the file (or the
/// `source` label given for in-memory bytes) and says what is wrong.
public enum SafeTensorsError: Error, CustomStringConvertible, LocalizedError {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The length prefix or the JSON header is malformed.
    case invalidHeader(path: String, reason: String)
    /// One tensor's entry is malformed: its shape, offsets or size.
    case invalidTensor(path: String, key: String, reason: String)
    /// A tensor's dtype is not one of the dtypes this reader converts.
    case unsupportedDtype(path: String, key: String, dtype: String)
    /// The file could not be written.
    case unwritable(path: String, reason: String)

    /// The file path or source label.
    public var path: String {
        switch self {
        case let .unreadable(path, _), let .invalidHeader(path, _), let .invalidTensor(path, _, _),
             let .unsupportedDtype(path, _, _), let .unwritable(path, _):
            return path
        }
    }

    /// What went wrong, without the path.
    public var reason: String {
        switch self {
        case let .unreadable(_, reason): return "cannot read: \(reason)"
        case let .invalidHeader(_, reason): return reason
        case let .invalidTensor(_, key, reason): return "tensor '\(key)': \(reason)"
        case let .unsupportedDtype(_, key, dtype): return "tensor '\(key)': unsupported dtype '\(dtype)'"
        case let .unwritable(_, reason): return "cannot write: \(reason)"
        }
    }

    public var description: String { "safetensors \(path): \(reason)" }
    public var errorDescription: String? { description }
}

/// Reads and writes the safetensors format: an 8-byte little-endian header length `n`, `n` bytes
/// of JSON `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
/// {..}}`, then the raw little-endian tensor bytes (offsets are relative to the end of the header).
///
/// Reading converts every floating-point dtype (F32, F16, BF16, F64) and every integer dtype
/// (I8…I64, U8…U64, BOOL as 0/1) to Float32, since `Tensor` is Float32; integers beyond 2²⁴ lose
/// precision. 8-bit float formats (F8_*) and unknown dtypes throw `unsupportedDtype`.
/// The header is validated before any tensor is allocated, so a malformed or hostile file throws.
/// Byte ranges may leave gaps but must not overlap.
public enum SafeTensors {
    /// Element types of the format, with their names on disk.
    public enum DType: String, CaseIterable, Sendable {
        case bool = "BOOL", uint8 = "U8", int8 = "I8", int16 = "I16", uint16 = "U16"
        case float16 = "F16", bfloat16 = "BF16", int32 = "I32", uint32 = "U32", float32 = "F32"
        case float64 = "F64", int64 = "I64", uint64 = "U64"

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .bool, .uint8, .int8: return 1
            case .int16, .uint16, .float16, .bfloat16: return 2
            case .int32, .uint32, .float32: return 4
            case .float64, .int64, .uint64: return 8
            }
        }

        /// Whether `encode` can write this dtype (the floating-point ones).
        public var isFloatingPoint: Bool {
            self == .float16 || self == .bfloat16 || self == .float32 || self == .float64
        }
    }

    /// One header entry: where a tensor's bytes live relative to the start of the data section.
    public struct TensorInfo: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var byteRange: Range<Int>
    }

    /// The largest header accepted (the format's reference implementation uses the same bound).
    public static let maximumHeaderLength = 100_000_000

    // MARK: Reading

    /// Parses safetensors bytes; `source` names them in errors.
    public static func read(_ data: Data, source: String = "<memory>",
                            including include: (String) -> Bool = { _ in true }) throws -> [String: Tensor] {
        try data.withUnsafeBytes { try read(raw: $0, source: source, including: include) }
    }

    /// Parses safetensors bytes held in an array.
    public static func read(_ bytes: [UInt8], source: String = "<memory>") throws -> [String: Tensor] {
        try bytes.withUnsafeBytes { try read(raw: $0, source: source, including: { _ in true }) }
    }

    /// Reads a file, optionally only the tensors whose names pass `include` (the others are
    /// validated but never converted).
    public static func read(contentsOf url: URL,
                            including include: (String) -> Bool = { _ in true }) throws -> [String: Tensor] {
        try read(try load(url), source: url.path, including: include)
    }

    /// The `__metadata__` string map of a file (empty when absent).
    public static func readMetadata(contentsOf url: URL) throws -> [String: String] {
        try readHeader(contentsOf: url).metadata
    }

    /// The validated header of a file: each tensor's dtype, shape and byte range, sorted by name.
    public static func readHeader(contentsOf url: URL) throws -> (tensors: [TensorInfo], metadata: [String: String]) {
        let data = try load(url)
        let header = try data.withUnsafeBytes { try parseHeader($0, source: url.path) }
        return (header.tensors.sorted { $0.name < $1.name }, header.metadata)
    }

    private static func load(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw SafeTensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
    }

    private static func read(raw: UnsafeRawBufferPointer, source: String,
                             including include: (String) -> Bool) throws -> [String: Tensor] {
        let header = try parseHeader(raw, source: source)
        var result: [String: Tensor] = [:]
        for info in header.tensors where include(info.name) {
            let start = header.dataStart + info.byteRange.lowerBound
            let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + info.byteRange.count)])
            let storage = decodeElements(bytes, as: info.dtype, count: Tensor.count(of: info.shape))
            result[info.name] = Tensor(shape: info.shape, storage: storage)
        }
        return result
    }

    /// Validates the length prefix, the JSON and every entry against the byte count of the file.
    static func parseHeader(_ raw: UnsafeRawBufferPointer, source: String)
        throws -> (tensors: [TensorInfo], metadata: [String: String], dataStart: Int) {
        func headerError(_ reason: String) -> SafeTensorsError { .invalidHeader(path: source, reason: reason) }
        guard raw.count >= 8 else {
            throw headerError("file is \(raw.count) bytes, too short for the 8-byte header length")
        }
        let declared = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        let available = raw.count - 8
        guard declared <= UInt64(available) else {
            throw headerError("header length \(declared) exceeds the \(available) bytes that follow it (not a safetensors file, or truncated)")
        }
        guard declared <= UInt64(maximumHeaderLength) else {
            throw headerError("header length \(declared) exceeds the limit of \(maximumHeaderLength) bytes")
        }
        let headerLength = Int(declared)
        let dataStart = 8 + headerLength
        let dataSize = raw.count - dataStart
        let json = Data(UnsafeRawBufferPointer(rebasing: raw[8..<dataStart]))

        let decoded: RawHeader
        do {
            decoded = try JSONDecoder().decode(RawHeader.self, from: json)
        } catch let error as DecodingError {
            throw describe(error, source: source)
        } catch {
            throw headerError("header is not valid JSON: \(error.localizedDescription)")
        }

        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(decoded.entries.count)
        for (name, entry) in decoded.entries {
            func invalid(_ reason: String) -> SafeTensorsError {
                .invalidTensor(path: source, key: name, reason: reason)
            }
            guard let dtype = DType(rawValue: entry.dtype) else {
                throw SafeTensorsError.unsupportedDtype(path: source, key: name, dtype: entry.dtype)
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("negative extent in shape \(entry.shape)") }
            guard entry.dataOffsets.count == 2 else {
                throw invalid("data_offsets \(entry.dataOffsets) is not a [begin, end] pair")
            }
            let begin = entry.dataOffsets[0], end = entry.dataOffsets[1]
            guard begin >= 0, begin <= end else { throw invalid("data_offsets [\(begin), \(end)] are not ordered") }
            guard end <= dataSize else {
                throw invalid("data_offsets end \(end) lies past the \(dataSize) bytes of data (truncated file?)")
            }
            var byteCount = dtype.byteSize
            for extent in entry.shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw invalid("shape \(entry.shape) is too large (element count overflows)") }
                byteCount = product
            }
            guard byteCount == end - begin else {
                throw invalid("shape \(entry.shape) of \(entry.dtype) needs \(byteCount) bytes "
                              + "but data_offsets [\(begin), \(end)] span \(end - begin) (size mismatch)")
            }
            tensors.append(TensorInfo(name: name, dtype: dtype, shape: entry.shape, byteRange: begin..<end))
        }

        let ordered = tensors.filter { !$0.byteRange.isEmpty }.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.byteRange.lowerBound < previous.byteRange.upperBound {
            throw SafeTensorsError.invalidTensor(
                path: source, key: next.name,
                reason: "bytes \(next.byteRange) overlap tensor '\(previous.name)' at \(previous.byteRange)")
        }
        return (tensors, decoded.metadata, dataStart)
    }

    /// Turns a JSON decoding failure into an error naming the tensor and the field.
    private static func describe(_ error: DecodingError, source: String) -> SafeTensorsError {
        let context: DecodingError.Context
        let problem: String
        switch error {
        case let .typeMismatch(_, c): context = c; problem = "has the wrong type"
        case let .valueNotFound(_, c): context = c; problem = "is null"
        case let .keyNotFound(key, c): context = c; problem = "is missing field '\(key.stringValue)'"
        case let .dataCorrupted(c): context = c; problem = "is malformed (\(c.debugDescription))"
        @unknown default: return .invalidHeader(path: source, reason: "header is malformed: \(error)")
        }
        guard let key = context.codingPath.first?.stringValue else {
            if case .dataCorrupted = error {
                return .invalidHeader(path: source, reason: "header is not valid JSON (\(context.debugDescription))")
            }
            return .invalidHeader(path: source, reason: "header is not a JSON object")
        }
        let path = context.codingPath.dropFirst()
            .map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        let field = String(path.drop { $0 == "." })
        let subject = field.isEmpty ? "entry" : "field '\(field)'"
        let reason: String
        if case .typeMismatch = error, field.isEmpty { reason = "entry is not a JSON object" }
        else { reason = "\(subject) \(problem)" }
        if key == "__metadata__" {
            return .invalidHeader(path: source, reason: "__metadata__ \(reason) (it must map strings to strings)")
        }
        return .invalidTensor(path: source, key: key, reason: reason)
    }

    // MARK: Writing

    /// Encodes tensors with their names in sorted order, storing elements as `dtype` (F32, F16,
    /// BF16 or F64; F16 halves the size of shipped weights, values beyond ±65504 become ±inf).
    /// The header is padded with spaces to a multiple of 8 bytes so the data section is aligned.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                              dtype: DType = .float32) -> Data {
        precondition(dtype.isFloatingPoint, "SafeTensors.encode writes floating-point dtypes, not \(dtype.rawValue)")
        let sorted = tensors.sorted { $0.name < $1.name }
        for (previous, next) in zip(sorted, sorted.dropFirst()) {
            precondition(previous.name != next.name, "duplicate tensor name '\(next.name)'")
        }
        precondition(!sorted.contains { $0.name == "__metadata__" }, "'__metadata__' is reserved")

        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in sorted {
            let size = tensor.count * dtype.byteSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],"
                          + "\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }

        var bytes = [UInt8](repeating: 0, count: 8 + header.count + offset)
        bytes.withUnsafeMutableBytes { out in
            out.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self)
            out.baseAddress!.advanced(by: 8).copyMemory(from: header, byteCount: header.count)
            var position = 8 + header.count
            for (_, tensor) in sorted {
                let target = UnsafeMutableRawBufferPointer(rebasing: out[position...])
                tensor.withUnsafeBufferPointer { encodeElements($0, as: dtype, into: target) }
                position += tensor.count * dtype.byteSize
            }
        }
        return Data(bytes)
    }

    /// Writes a file atomically: the bytes go to a temporary file in the same directory, which is
    /// flushed and then renamed over `url`, so a crash never leaves a half-written file there.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], to url: URL,
                             metadata: [String: String] = [:], dtype: DType = .float32) throws {
        let data = encode(tensors, metadata: metadata, dtype: dtype)
        do {
            try FileWriting.writeAtomically(data, to: url)
        } catch {
            throw SafeTensorsError.unwritable(path: url.path, reason: "\(error)")
        }
    }

    private static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

// MARK: - Header decoding

private struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// An integer in the header; a fractional or out-of-range number is reported with its field path.
private struct HeaderInteger: Decodable {
    var value: Int

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let integer = try? container.decode(Int.self) {
            value = integer
        } else if let number = try? container.decode(Double.self) {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath,
                                                    debugDescription: "\(number) is not an integer in range"))
        } else {
            value = try container.decode(Int.self) // rethrows the type mismatch
        }
    }
}

private struct RawEntry: Decodable {
    var dtype: String
    var rawShape: [HeaderInteger]
    var rawDataOffsets: [HeaderInteger]
    var shape: [Int] { rawShape.map(\.value) }
    var dataOffsets: [Int] { rawDataOffsets.map(\.value) }

    enum CodingKeys: String, CodingKey {
        case dtype
        case rawShape = "shape"
        case rawDataOffsets = "data_offsets"
    }
}

private struct RawHeader: Decodable {
    var entries: [(String, RawEntry)] = []
    var metadata: [String: String] = [:]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: DynamicKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                entries.append((key.stringValue, try container.decode(RawEntry.self, forKey: key)))
            }
        }
    }
}

// MARK: - Atomic file writing (shared with Npy)

public enum FileWriting {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Throws unless `url` can be written later: not a directory, in an existing directory the process
    /// may write into. Commands call it for every output before their work, so a long evaluation is
    /// not lost to a mistyped output path at the end.
    public static func checkDestination(_ url: URL, option: String? = nil) throws {
        let label = option.map { "\($0) \(url.path)" } ?? url.path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw Failure(description: "\(label) is a directory; name a file to write")
        }
        let directory = url.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw Failure(description: "\(label): the directory \(directory.path) does not exist")
        }
        guard isDirectory.boolValue else {
            throw Failure(description: "\(label): \(directory.path) is not a directory")
        }
        guard access(directory.path, W_OK | X_OK) == 0 else {
            throw Failure(description: "\(label): cannot write into \(directory.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes to `.<name>.<uuid>.tmp` beside `url`, flushes it to disk, renames it over `url` and
    /// flushes the directory, so after a crash `url` holds either the old bytes or all the new ones.
    /// With `durable` false the flushes are skipped (still never a half-written `url` while running):
    /// for outputs written by the thousand, such as feature-map images.
    public static func writeAtomically(_ data: Data, to url: URL, durable: Bool = true) throws {
        try writeAllAtomically([(data, url)], durable: durable)
    }

    /// Writes several files as one output: every temporary is written (and flushed) before any is renamed
    /// over its target, so a failure while writing (a full disk) leaves all the targets as they were rather
    /// than some new beside some old. The renames then follow in order.
    public static func writeAllAtomically(_ files: [(data: Data, url: URL)], durable: Bool = true) throws {
        var temporaries: [URL] = []
        var renamed = 0
        defer { for temporary in temporaries.dropFirst(renamed) { unlink(temporary.path) } }
        for (data, url) in files {
            temporaries.append(try writeTemporary(data, beside: url, durable: durable))
        }
        for (k, file) in files.enumerated() {
            guard rename(temporaries[k].path, file.url.path) == 0 else {
                throw Failure(description: "cannot rename into \(file.url.path): \(String(cString: strerror(errno)))")
            }
            renamed += 1
        }
        guard durable else { return }
        // The renames are durable once the directories are flushed (best effort: some file systems refuse).
        for directory in Set(files.map { $0.url.deletingLastPathComponent().path }) {
            let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY)
            if directoryDescriptor >= 0 {
                _ = fsync(directoryDescriptor)
                close(directoryDescriptor)
            }
        }
    }

    /// `data` in `.<name>.<uuid>.tmp` beside `url`, flushed when `durable`; removed again if any step fails.
    private static func writeTemporary(_ data: Data, beside url: URL, durable: Bool) throws -> URL {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw Failure(description: "\(url.path) is a directory; name a file to write")
        }
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        func failure(_ step: String) -> Failure {
            Failure(description: "\(step) \(url.path) (through \(temporary.lastPathComponent)): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else { throw failure("cannot create") }
        var succeeded = false
        defer { if !succeeded { unlink(temporary.path) } }
        let written: Bool = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let result = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if result < 0 { if errno == EINTR { continue }; return false }
                offset += result
            }
            return true
        }
        guard written else { let error = failure("cannot write"); close(descriptor); throw error }
        guard !durable || fsync(descriptor) == 0 else { let error = failure("cannot flush"); close(descriptor); throw error }
        guard close(descriptor) == 0 else { throw failure("cannot close") }
        succeeded = true
        return temporary
    }
}
