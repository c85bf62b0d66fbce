/// The one EXIF field the decoders use: IFD0's Orientation tag (0x0112).
enum EXIF {
    static let orientationTag = 0x0112

    /// The Orientation (1–8) in the body of an APP1 segment (`"Exif\0\0"` then a TIFF header and
    /// IFD0), or nil when it is absent, out of range or the segment is malformed. Every offset is
    /// bounds-checked; a bad segment is ignored rather than failing the decode.
    static func orientation(app1 data: UnsafeRawBufferPointer) -> Int? {
        let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
        guard data.count >= exifHeader.count + 8, data.starts(with: exifHeader) else { return nil }
        let tiff = UnsafeRawBufferPointer(rebasing: data[exifHeader.count...])
        let littleEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): littleEndian = true   // "II"
        case (0x4D, 0x4D): littleEndian = false  // "MM"
        default: return nil
        }
        func read16(_ offset: Int) -> Int? {
            guard offset >= 0, offset + 2 <= tiff.count else { return nil }
            let (a, b) = (Int(tiff[offset]), Int(tiff[offset + 1]))
            return littleEndian ? a | b << 8 : a << 8 | b
        }
        func read32(_ offset: Int) -> Int? {
            guard let low = read16(littleEndian ? offset : offset + 2),
                  let high = read16(littleEndian ? offset + 2 : offset) else { return nil }
            return high << 16 | low
        }
        guard read16(2) == 42, let ifd = read32(4), let entries = read16(ifd) else { return nil }
        for entry in 0..<entries {
            let position = ifd + 2 + 12 * entry
            guard let tag = read16(position) else { return nil }
            guard tag == orientationTag else { continue }
            let value: Int?
            switch read16(position + 2) {
            case 3: value = read16(position + 8)  // SHORT, stored left-justified in the value field
            case 4: value = read32(position + 8)  // LONG, tolerated
            default: value = nil
            }
            guard let value, (1...8).contains(value) else { return nil }
            return value
        }
        return nil
    }
}

extension Image {
    /// The image as it should be displayed given an EXIF Orientation value:
    ///
    /// | value | stored image → displayed | output (row r, column c) reads input |
    /// |---|---|---|
    /// | 1 | unchanged | (r, c) |
    /// | 2 | mirrored left–right | (r, W−1−c) |
    /// | 3 | rotated 180° | (H−1−r, W−1−c) |
    /// | 4 | mirrored top–bottom | (H−1−r, c) |
    /// | 5 | transposed (mirror about the main diagonal) | (c, r) |
    /// | 6 | rotated 90° clockwise | (H−1−c, r) |
    /// | 7 | transversed (mirror about the anti-diagonal) | (H−1−c, W−1−r) |
    /// | 8 | rotated 90° counter-clockwise | (c, W−1−r) |
    ///
    /// Values 5–8 swap height and width.
    public func applyingEXIFOrientation(_ orientation: Int) -> Image {
        precondition((1...8).contains(orientation), "EXIF orientation is 1–8, got \(orientation)")
        let (h, w) = (height, width)
        // Input pixel index = base + r·rowStep + c·columnStep, in pixels.
        let (base, rowStep, columnStep): (Int, Int, Int)
        switch orientation {
        case 1: return self
        case 2: (base, rowStep, columnStep) = (w - 1, w, -1)
        case 3: (base, rowStep, columnStep) = ((h - 1) * w + w - 1, -w, -1)
        case 4: (base, rowStep, columnStep) = ((h - 1) * w, -w, 1)
        case 5: (base, rowStep, columnStep) = (0, 1, w)
        case 6: (base, rowStep, columnStep) = ((h - 1) * w, 1, -w)
        case 7: (base, rowStep, columnStep) = ((h - 1) * w + w - 1, -1, -w)
        default: (base, rowStep, columnStep) = (w - 1, -1, w)
        }
        let swapsSides = orientation >= 5
        let (outHeight, outWidth) = swapsSides ? (w, h) : (h, w)
        let channels = self.channels
        var output = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                var o = 0
                for r in 0..<outHeight {
                    var pixel = base + r * rowStep
                    for _ in 0..<outWidth {
                        let s = pixel * channels
                        for k in 0..<channels { target[o + k] = source[s + k] }
                        o += channels
                        pixel += columnStep
                    }
                }
            }
        }
        return Image(height: outHeight, width: outWidth, channels: channels, pixels: output)
    }
}
