import Foundation

/// An `.npy` file that cannot be read, parsed or written; every case names the file and the problem.
public enum NpyError: Error, CustomStringConvertible, LocalizedError {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The magic string, header or data size is malformed.
    case invalid(path: String, reason: String)
    /// The array's `descr` is not a numeric type this reader converts.
    case unsupportedDtype(path: String, descr: String)
    /// The file could not be written.
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "npy \(path): cannot read: \(reason)"
        case let .invalid(path, reason): return "npy \(path): \(reason)"
        case let .unsupportedDtype(path, descr): return "npy \(path): unsupported dtype '\(descr)'"
        case let .unwritable(path, reason): return "npy \(path): cannot write: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// NumPy's `.npy` format: the magic `\x93NUMPY`, a version, a little-endian header length, a
/// Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with
/// spaces and a newline to a multiple of 64 bytes, then the raw elements.
///
/// Writing always produces version 1.0 (2.0 for headers over 65535 bytes) with `'<f4'` in C order,
/// which `numpy.load` reads directly. Reading accepts versions 1–3, float (`f2`, `f4`, `f8`),
/// integer (`i1`…`i8`, `u1`…`u8`) and bool (`b1`) types of either byte order, converting to Float32,
/// and Fortran-order arrays (reordered to row-major).
public enum Npy {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    // MARK: Writing

    /// The `.npy` bytes of a tensor as little-endian Float32 in C order.
    public static func encode(_ tensor: Tensor) -> Data {
        let shape: String
        switch tensor.shape.count {
        case 0: shape = "()"
        case 1: shape = "(\(tensor.shape[0]),)"
        default: shape = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let prefixLength = header.count + 64 < 65_536 ? 10 : 12
        while (prefixLength + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)

        var bytes = magic
        if prefixLength == 10 {
            bytes += [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
        } else {
            bytes += [2, 0] + (0..<4).map { UInt8((header.count >> (8 * $0)) & 0xFF) }
        }
        bytes += header
        let dataStart = bytes.count
        bytes += [UInt8](repeating: 0, count: tensor.count * 4)
        bytes.withUnsafeMutableBytes { out in
            tensor.withUnsafeBufferPointer {
                encodeElements($0, as: .float32, into: UnsafeMutableRawBufferPointer(rebasing: out[dataStart...]))
            }
        }
        return Data(bytes)
    }

    /// Writes a tensor as `.npy`, atomically (temporary file, then rename).
    public static func write(_ tensor: Tensor, to url: URL) throws {
        do {
            try FileWriting.writeAtomically(encode(tensor), to: url)
        } catch {
            throw NpyError.unwritable(path: url.path, reason: "\(error)")
        }
    }

    // MARK: Reading

    /// Reads an `.npy` file into a Float32 tensor.
    public static func read(contentsOf url: URL) throws -> Tensor {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw NpyError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try read(data, source: url.path)
    }

    /// Parses `.npy` bytes; `source` names them in errors.
    public static func read(_ data: Data, source: String = "<memory>") throws -> Tensor {
        try data.withUnsafeBytes { raw in
            func invalid(_ reason: String) -> NpyError { .invalid(path: source, reason: reason) }
            guard raw.count >= 10, Array(raw[0..<6]) == magic else { throw invalid("not an npy file (bad magic string)") }
            let major = raw[6]
            let headerStart: Int, headerLength: Int
            switch major {
            case 1:
                headerStart = 10
                headerLength = Int(raw[8]) | Int(raw[9]) << 8
            case 2, 3:
                guard raw.count >= 12 else { throw invalid("file too short for a version \(major) header") }
                headerStart = 12
                headerLength = (0..<4).reduce(0) { $0 | Int(raw[8 + $1]) << (8 * $1) }
            default:
                throw invalid("unsupported format version \(major).\(raw[7])")
            }
            guard headerLength <= raw.count - headerStart else {
                throw invalid("header length \(headerLength) exceeds the \(raw.count - headerStart) bytes that follow")
            }
            let headerBytes = Array(raw[headerStart..<(headerStart + headerLength)])
            let header = try parseHeader(headerBytes, source: source)

            var count = 1
            for extent in header.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw invalid("shape \(header.shape) is too large") }
                count = product
            }
            let dataStart = headerStart + headerLength
            let available = raw.count - dataStart
            let (needed, overflow) = count.multipliedReportingOverflow(by: header.dtype.byteSize)
            guard !overflow, needed == available else {
                throw invalid("shape \(header.shape) of '\(header.descr)' needs \(overflow ? "too many" : String(needed)) "
                              + "bytes of data but the file holds \(available)")
            }
            let storage = decodeElements(UnsafeRawBufferPointer(rebasing: raw[dataStart...]), as: header.dtype,
                                         count: count, bigEndian: header.bigEndian)
            if header.fortranOrder && header.shape.count > 1 {
                // Fortran order is C order of the reversed shape: reverse the axes back.
                let reversed = Tensor(shape: header.shape.reversed(), storage: storage)
                return Tensor(shape: header.shape, storage: reversingAxes(reversed))
            }
            return Tensor(shape: header.shape, storage: storage)
        }
    }

    private struct Header {
        var descr: String
        var dtype: SafeTensors.DType
        var bigEndian: Bool
        var fortranOrder: Bool
        var shape: [Int]
    }

    /// Parses the header dict literal and its three required keys.
    private static func parseHeader(_ bytes: [UInt8], source: String) throws -> Header {
        func invalid(_ reason: String) -> NpyError { .invalid(path: source, reason: "header \(reason)") }
        var parser = DictLiteralParser(bytes: bytes)
        guard let dict = parser.parseDict() else {
            throw invalid("is not a Python dict literal: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        guard case let .string(descr)? = dict["descr"] else { throw invalid("has no 'descr' string") }
        guard case let .bool(fortranOrder)? = dict["fortran_order"] else { throw invalid("has no 'fortran_order' flag") }
        guard case let .tuple(shape)? = dict["shape"] else { throw invalid("has no 'shape' tuple") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw invalid("has a negative extent in shape \(shape)") }

        let order = descr.first
        let code = String(descr.dropFirst())
        let types: [String: SafeTensors.DType] = [
            "f2": .float16, "f4": .float32, "f8": .float64, "i1": .int8, "i2": .int16, "i4": .int32,
            "i8": .int64, "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64, "b1": .bool,
        ]
        guard let order, "<>|=".contains(order), let dtype = types[code] else {
            throw NpyError.unsupportedDtype(path: source, descr: descr)
        }
        #if _endian(big)
        let bigEndian = order == ">" || order == "="
        #else
        let bigEndian = order == ">"
        #endif
        return Header(descr: descr, dtype: dtype, bigEndian: bigEndian, fortranOrder: fortranOrder, shape: shape)
    }

    /// The storage of `tensor` with its axes in reverse order (a full transpose), row-major.
    private static func reversingAxes(_ tensor: Tensor) -> [Float] {
        let shape = tensor.shape, strides = tensor.strides
        let outputShape = Array(shape.reversed())
        var output = [Float](repeating: 0, count: tensor.count)
        var index = [Int](repeating: 0, count: shape.count) // multi-index into outputShape
        for flat in 0..<tensor.count {
            var source = 0
            for axis in 0..<index.count { source += index[axis] * strides[shape.count - 1 - axis] }
            output[flat] = tensor.storage[source]
            var axis = index.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outputShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return output
    }
}

/// A parser for the small subset of Python literals in `.npy` headers: a dict of quoted string
/// keys to quoted strings, `True`/`False`, integers and tuples of integers.
private struct DictLiteralParser {
    enum Value { case string(String), bool(Bool), integer(Int), tuple([Int]) }

    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDict() -> [String: Value]? {
        skipSpaces()
        guard consume(UInt8(ascii: "{")) else { return nil }
        var result: [String: Value] = [:]
        while true {
            skipSpaces()
            if consume(UInt8(ascii: "}")) { break }
            guard let key = parseString() else { return nil }
            skipSpaces()
            guard consume(UInt8(ascii: ":")) else { return nil }
            skipSpaces()
            guard let value = parseValue() else { return nil }
            result[key] = value
            skipSpaces()
            if consume(UInt8(ascii: ",")) { continue }
            guard consume(UInt8(ascii: "}")) else { return nil }
            break
        }
        skipSpaces()
        return position == bytes.count ? result : nil
    }

    private mutating func parseValue() -> Value? {
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return parseString().map(Value.string)
        case UInt8(ascii: "("):
            position += 1
            var items: [Int] = []
            while true {
                skipSpaces()
                if consume(UInt8(ascii: ")")) { return .tuple(items) }
                guard let item = parseInteger() else { return nil }
                items.append(item)
                skipSpaces()
                if consume(UInt8(ascii: ",")) { continue }
                guard consume(UInt8(ascii: ")")) else { return nil }
                return .tuple(items)
            }
        default:
            if consumeWord("True") { return .bool(true) }
            if consumeWord("False") { return .bool(false) }
            return parseInteger().map(Value.integer)
        }
    }

    private mutating func parseString() -> String? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\"") else {
            return nil
        }
        let quote = bytes[position]
        position += 1
        let start = position
        while position < bytes.count && bytes[position] != quote { position += 1 }
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseInteger() -> Int? {
        let start = position
        while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
        guard position > start, position - start <= 18 else { return nil }
        let value = Int(String(decoding: bytes[start..<position], as: UTF8.self))
        _ = consume(UInt8(ascii: "L")) // Python 2 long suffix
        return value
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func consumeWord(_ word: String) -> Bool {
        let utf8 = Array(word.utf8)
        guard bytes.count - position >= utf8.count, Array(bytes[position..<(position + utf8.count)]) == utf8 else { return false }
        position += utf8.count
        return true
    }

    private mutating func skipSpaces() {
        while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
    }
}
