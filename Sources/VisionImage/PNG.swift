import CPNG
import Foundation

/// PNG through libpng, via the CPNG shim (which keeps libpng's longjmps inside C).
enum PNGCodec {
    /// Opens a decoder on `buffer`, reads the header, checks it against `limits`, then hands the
    /// decoder to `body`; the decoder is destroyed on every path.
    private static func withDecoder<Result>(_ buffer: UnsafeRawBufferPointer, source: String, limits: ImageDecodeLimits,
                                            _ body: (OpaquePointer, cpng_header) throws -> Result) throws -> Result {
        guard let decoder = cpng_decoder_create() else {
            throw ImageError.corrupt(source: source, format: "PNG", reason: "out of memory creating the decoder")
        }
        defer { cpng_decoder_destroy(decoder) }
        var header = cpng_header()
        let status = cpng_decoder_read_header(decoder, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                              buffer.count, &header)
        try check(status, decoder, source: source)
        try limits.check(width: Int(header.width), height: Int(header.height), source: source, format: .png)
        return try body(decoder, header)
    }

    private static func check(_ status: Int32, _ decoder: OpaquePointer, source: String) throws {
        guard Int(status) != CPNG_OK else { return }
        throw ImageError.corrupt(source: source, format: "PNG", reason: String(cString: cpng_decoder_message(decoder)))
    }

    /// Decodes to 8 bits per sample.
    static func decode(_ buffer: UnsafeRawBufferPointer, source: String, limits: ImageDecodeLimits) throws -> Image {
        try withDecoder(buffer, source: source, limits: limits) { decoder, header in
            let (height, width, channels) = (Int(header.height), Int(header.width), Int(header.channels))
            let count = height * width * channels
            var status: Int32 = 0
            let pixels = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
                status = cpng_decoder_decode(decoder, storage.baseAddress, count, 0)
                initialized = count
            }
            try check(status, decoder, source: source)
            return Image(height: height, width: width, channels: channels, pixels: pixels)
        }
    }

    /// Decodes to 16 bits per sample.
    static func decode16(_ buffer: UnsafeRawBufferPointer, source: String, limits: ImageDecodeLimits) throws -> Image16 {
        try withDecoder(buffer, source: source, limits: limits) { decoder, header in
            let (height, width, channels) = (Int(header.height), Int(header.width), Int(header.channels))
            let count = height * width * channels
            var status: Int32 = 0
            let values = [UInt16](unsafeUninitializedCapacity: count) { storage, initialized in
                status = cpng_decoder_decode(decoder, storage.baseAddress, count * 2, 1)
                initialized = count
            }
            try check(status, decoder, source: source)
            return Image16(height: height, width: width, channels: channels, values: values)
        }
    }

    /// The stored values of a palette or gray PNG (palette indices; gray values at their own bit depth,
    /// up to 65535), or nil for an RGB or RGBA one.
    static func decodeValues(_ buffer: UnsafeRawBufferPointer, source: String, limits: ImageDecodeLimits) throws -> LabelImage? {
        try withDecoder(buffer, source: source, limits: limits) { decoder, header in
            guard [3, 0, 4].contains(header.color_type) else { return nil }  // palette, gray, gray + alpha
            let (height, width) = (Int(header.height), Int(header.width))
            let count = height * width
            var status: Int32 = 0
            let values: [Int]
            if header.bit_depth == 16 {
                let wide = [UInt16](unsafeUninitializedCapacity: count) { storage, initialized in
                    status = cpng_decoder_decode_values(decoder, storage.baseAddress, count * 2)
                    initialized = count
                }
                try check(status, decoder, source: source)
                values = wide.map(Int.init)
            } else {
                let bytes = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
                    status = cpng_decoder_decode_values(decoder, storage.baseAddress, count)
                    initialized = count
                }
                try check(status, decoder, source: source)
                // 1-bit gray is black and white: 0/255, as a binary mask written at 8 bits (PIL's mode "1").
                let oneBitGray = header.bit_depth == 1 && header.color_type != 3
                values = oneBitGray ? bytes.map { $0 == 0 ? 0 : 255 } : bytes.map(Int.init)
            }
            return LabelImage(height: height, width: width, values: values)
        }
    }

    /// Encodes `height · width · channels` samples of `bitDepth` 8 (bytes) or 16 (native UInt16).
    static func encode(_ samples: UnsafeRawBufferPointer, height: Int, width: Int, channels: Int, bitDepth: Int,
                       compressionLevel: Int) throws -> [UInt8] {
        precondition(height > 0 && width > 0, "cannot encode an empty \(height)×\(width) PNG")
        precondition(height <= ImageIO.maximumPNGSide && width <= ImageIO.maximumPNGSide,
                     "PNG sides are limited to \(ImageIO.maximumPNGSide), got \(height)×\(width)")
        precondition((-1...9).contains(compressionLevel), "PNG compression level is 0–9 (or -1 for zlib's default), got \(compressionLevel)")
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = cpng_encode(samples.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(bitDepth),
                                 Int32(compressionLevel), &output, &size, &message, message.count)
        defer { cpng_free(output) }
        guard Int(status) == CPNG_OK, let output else {
            throw ImageError.encodingFailed(format: "PNG", reason: String(cString: message))
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}

extension ImageIO {
    /// The longest side libpng writes by default (its user limit of 10⁶).
    public static let maximumPNGSide = 1_000_000

    /// The image as an 8-bit PNG (colour type gray, gray+alpha, RGB or RGBA by channel count).
    /// - Parameter compressionLevel: zlib level 0–9 (6 is zlib's default balance of size and speed).
    public static func encodePNG(_ image: Image, compressionLevel: Int = 6) throws -> [UInt8] {
        try image.pixels.withUnsafeBytes {
            try PNGCodec.encode($0, height: image.height, width: image.width, channels: image.channels,
                                bitDepth: 8, compressionLevel: compressionLevel)
        }
    }

    /// Writes the image as an 8-bit PNG (via a temporary file renamed into place).
    public static func writePNG(_ image: Image, to url: URL, compressionLevel: Int = 6) throws {
        try write(encodePNG(image, compressionLevel: compressionLevel), to: url)
    }

    /// The 16-bit image as a 16-bit PNG.
    public static func encodePNG16(_ image: Image16, compressionLevel: Int = 6) throws -> [UInt8] {
        try image.values.withUnsafeBytes {
            try PNGCodec.encode($0, height: image.height, width: image.width, channels: image.channels,
                                bitDepth: 16, compressionLevel: compressionLevel)
        }
    }

    /// A 16-bit gray PNG of `height · width` row-major values (e.g. a depth or label map).
    public static func encodePNG16Gray(height: Int, width: Int, values: [UInt16], compressionLevel: Int = 6) throws -> [UInt8] {
        try encodePNG16(Image16(height: height, width: width, channels: 1, values: values), compressionLevel: compressionLevel)
    }

    /// Writes the 16-bit image as a 16-bit PNG (via a temporary file renamed into place).
    public static func writePNG16(_ image: Image16, to url: URL, compressionLevel: Int = 6) throws {
        try write(encodePNG16(image, compressionLevel: compressionLevel), to: url)
    }
}
