import CZlib

/// Whether bytes start with the gzip magic number `1f 8b`.
func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
}

/// Streaming gzip decompression through zlib (`inflateInit2` with `16 + MAX_WBITS`), so callers can
/// read a header, learn how much data it implies, and never inflate more than that.
/// Concatenated gzip members are read as one stream.
final class GzipReader {
    private var stream = z_stream()
    private let input: [UInt8]
    private let path: String
    private var finished = false
    private var initialised = false

    init(_ compressed: [UInt8], path: String) throws {
        input = compressed
        self.path = path
        let status = inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw DataError.unreadable(path: path, reason: "zlib inflateInit2 failed (status \(status))")
        }
        initialised = true
    }

    deinit {
        if initialised { inflateEnd(&stream) }
    }

    /// Inflates up to `count` bytes; fewer only when the stream ends.
    func read(_ count: Int) throws -> [UInt8] {
        var output = [UInt8]()
        let chunk = 1 << 20
        while output.count < count && !finished {
            let want = min(chunk, count - output.count)
            var piece = [UInt8](repeating: 0, count: want)
            let produced = try inflateInto(&piece)
            output.append(contentsOf: piece[0..<produced])
        }
        return output
    }

    /// Whether the compressed stream has nothing left to produce.
    func atEnd() throws -> Bool {
        if finished { return true }
        var probe = [UInt8](repeating: 0, count: 1)
        let produced = try inflateInto(&probe)
        return produced == 0 && finished
    }

    private func inflateInto(_ buffer: inout [UInt8]) throws -> Int {
        let capacity = buffer.count
        var produced = 0
        try input.withUnsafeBufferPointer { source in
            try buffer.withUnsafeMutableBufferPointer { target in
                let consumedBefore = Int(stream.total_in)
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress!.advanced(by: consumedBefore))
                stream.avail_in = UInt32(source.count - consumedBefore)
                while produced < capacity && !finished {
                    stream.next_out = target.baseAddress!.advanced(by: produced)
                    stream.avail_out = UInt32(capacity - produced)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced = capacity - Int(stream.avail_out)
                    switch status {
                    case Z_OK:
                        continue
                    case Z_STREAM_END:
                        // Another gzip member may follow; keep reading it as the same stream.
                        let consumed = Int(stream.total_in)
                        if consumed < source.count && source[consumed] == 0x1F {
                            let totalIn = stream.total_in
                            inflateReset(&stream)
                            stream.total_in = totalIn
                        } else {
                            finished = true
                        }
                    case Z_BUF_ERROR:
                        if stream.avail_in == 0 {
                            throw DataError.malformed(path: path, reason: "gzip stream is truncated")
                        }
                        continue
                    default:
                        let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                        throw DataError.malformed(path: path, reason: "gzip data is corrupt (\(message))")
                    }
                }
            }
        }
        return produced
    }
}
