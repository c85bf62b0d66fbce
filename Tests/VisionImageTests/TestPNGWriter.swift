/// A tiny PNG writer for tests, independent of libpng: it can produce what the package's encoder
/// never writes (palettes, tRNS, 1/2/4-bit depths, Adam7 interlacing) so the decoder can be checked
/// against values computed here. The zlib stream uses stored (uncompressed) deflate blocks.
struct TestPNG {
    var width: Int
    var height: Int
    var bitDepth: Int
    /// 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    var colorType: Int
    var interlaced = false
    /// PLTE entries for colour type 3.
    var palette: [[UInt8]] = []
    /// Raw tRNS chunk body, if any.
    var transparency: [UInt8]?
    /// Row-major samples, `samplesPerPixel` per pixel (palette indices for colour type 3).
    var samples: [Int]

    var samplesPerPixel: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType]! }

    /// The encoded file.
    func encode() -> [UInt8] {
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = TestPNG.bigEndian32(width) + TestPNG.bigEndian32(height)
        header += [UInt8(bitDepth), UInt8(colorType), 0, 0, interlaced ? 1 : 0]
        file += TestPNG.chunk("IHDR", header)
        if colorType == 3 { file += TestPNG.chunk("PLTE", palette.flatMap { $0 }) }
        if let transparency { file += TestPNG.chunk("tRNS", transparency) }
        file += TestPNG.chunk("IDAT", TestPNG.zlibStored(filteredData()))
        file += TestPNG.chunk("IEND", [])
        return file
    }

    /// Scanlines (filter byte 0 + packed samples), pass by pass when interlaced.
    func filteredData() -> [UInt8] {
        let passes: [(row: Int, column: Int, rowStep: Int, columnStep: Int)] = interlaced
            ? [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
            : [(0, 0, 1, 1)]
        var data: [UInt8] = []
        for pass in passes {
            let rows = Array(stride(from: pass.row, to: height, by: pass.rowStep))
            let columns = Array(stride(from: pass.column, to: width, by: pass.columnStep))
            if rows.isEmpty || columns.isEmpty { continue }  // empty passes have no scanlines at all
            for row in rows {
                data.append(0)
                var values: [Int] = []
                for column in columns {
                    let start = (row * width + column) * samplesPerPixel
                    values += samples[start..<start + samplesPerPixel]
                }
                data += pack(values)
            }
        }
        return data
    }

    /// Packs samples MSB-first at `bitDepth` bits, padding the last byte; 16-bit is big-endian.
    func pack(_ values: [Int]) -> [UInt8] {
        switch bitDepth {
        case 16: return values.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        case 8: return values.map { UInt8($0) }
        default:
            var bytes: [UInt8] = []
            var current = 0
            var filled = 0
            for value in values {
                current = current << bitDepth | value
                filled += bitDepth
                if filled == 8 { bytes.append(UInt8(current)); current = 0; filled = 0 }
            }
            if filled > 0 { bytes.append(UInt8(current << (8 - filled))) }
            return bytes
        }
    }

    static func bigEndian32(_ value: Int) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian32(body.count) + typeBytes + body + bigEndian32(Int(crc32(typeBytes + body)))
    }

    /// A zlib stream of stored deflate blocks (at most 65535 bytes each) with its Adler-32.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var stream: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let final: UInt8 = offset + length == data.count ? 1 : 0
            stream += [final, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8 & 0xFF)]
            stream += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        return stream + bigEndian32(Int(adler32(data)))
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }
}

/// Deterministic pseudo-random integers for test data (a 64-bit LCG).
struct TestNumbers {
    var state: UInt64
    mutating func next(below bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}
