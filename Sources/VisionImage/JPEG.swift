import CJPEG
import Foundation

/// JPEG through libjpeg(-turbo), via the CJPEG shim (which keeps libjpeg's longjmps inside C).
enum JPEGCodec {
    /// Opens a decoder on `buffer` and reads the headers (saving APP1 segments when `saveEXIF`),
    /// then hands the decoder to `body`; the decoder is destroyed on every path.
    private static func withDecoder<Result>(_ buffer: UnsafeRawBufferPointer, source: String, saveEXIF: Bool,
                                            limits: ImageDecodeLimits,
                                            _ body: (OpaquePointer, cjpeg_header) throws -> Result) throws -> Result {
        guard let decoder = cjpeg_decoder_create() else {
            throw ImageError.corrupt(source: source, format: "JPEG", reason: "out of memory creating the decoder")
        }
        defer { cjpeg_decoder_destroy(decoder) }
        var header = cjpeg_header()
        let status = cjpeg_decoder_read_header(decoder, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                               buffer.count, saveEXIF ? 1 : 0, Int32(clamping: limits.maxProgressiveScans),
                                               0, &header)
        try check(status, decoder, source: source)
        return try body(decoder, header)
    }

    private static func check(_ status: Int32, _ decoder: OpaquePointer, source: String) throws {
        guard Int(status) != CJPEG_OK else { return }
        let reason = String(cString: cjpeg_decoder_message(decoder))
        if Int(status) == CJPEG_ERROR_UNSUPPORTED {
            throw ImageError.unsupported(source: source, format: "JPEG", reason: reason)
        }
        if Int(status) == CJPEG_ERROR_TOO_LARGE {
            throw ImageError.tooLarge(source: source, reason: reason)
        }
        throw ImageError.corrupt(source: source, format: "JPEG", reason: reason)
    }

    /// The Orientation tag of the saved Exif segment, or nil.
    private static func savedOrientation(_ decoder: OpaquePointer) -> Int? {
        var length = 0
        guard let start = cjpeg_decoder_exif(decoder, &length) else { return nil }
        return EXIF.orientation(app1: UnsafeRawBufferPointer(start: start, count: length))
    }

    /// Decodes to gray (1 channel) or RGB (3 channels; CMYK and YCCK are converted).
    static func decode(_ buffer: UnsafeRawBufferPointer, source: String, applyEXIFOrientation: Bool,
                       limits: ImageDecodeLimits) throws -> Image {
        try withDecoder(buffer, source: source, saveEXIF: applyEXIFOrientation, limits: limits) { decoder, header in
            try limits.check(width: Int(header.width), height: Int(header.height), source: source, format: .jpeg)
            let orientation = applyEXIFOrientation ? savedOrientation(decoder) : nil
            let (height, width, channels) = (Int(header.height), Int(header.width), Int(header.channels))
            let count = height * width * channels
            var status: Int32 = 0
            let pixels = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
                status = cjpeg_decoder_decode(decoder, storage.baseAddress, count)
                initialized = count
            }
            try check(status, decoder, source: source)
            let image = Image(height: height, width: width, channels: channels, pixels: pixels)
            if let orientation, orientation != 1 { return image.applyingEXIFOrientation(orientation) }
            return image
        }
    }

    /// Reads only the headers and returns the EXIF orientation, if any.
    static func orientation(_ buffer: UnsafeRawBufferPointer, source: String, limits: ImageDecodeLimits) throws -> Int? {
        try withDecoder(buffer, source: source, saveEXIF: true, limits: limits) { decoder, _ in savedOrientation(decoder) }
    }

    /// Compresses `height · width · input` bytes (input 1 gray, 3 RGB, 4 inverted CMYK).
    static func encode(_ samples: UnsafeRawBufferPointer, height: Int, width: Int, input: Int, quality: Int,
                       progressive: Bool, subsampleChroma: Bool) throws -> [UInt8] {
        precondition(height > 0 && width > 0 && height <= ImageIO.maximumJPEGSide && width <= ImageIO.maximumJPEGSide,
                     "JPEG sides must be 1–\(ImageIO.maximumJPEGSide), got \(height)×\(width)")
        precondition((1...100).contains(quality), "JPEG quality is 1–100, got \(quality)")
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = samples.withMemoryRebound(to: UInt8.self) { bytes in
            cjpeg_encode(bytes.baseAddress, Int32(width), Int32(height), Int32(input), Int32(quality),
                         progressive ? 1 : 0, subsampleChroma ? 1 : 0, &output, &size, &message, message.count)
        }
        defer { cjpeg_free(output) }
        guard Int(status) == CJPEG_OK, let output else {
            throw ImageError.encodingFailed(format: "JPEG", reason: String(cString: message))
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}

extension ImageIO {
    /// The longest side libjpeg encodes (JPEG_MAX_DIMENSION).
    public static let maximumJPEGSide = 65_500

    /// The image as a JPEG (JFIF). Gray images stay gray; RGB is stored as YCbCr.
    ///
    /// - Parameters:
    ///   - quality: 1–100, libjpeg's scale of the standard quantisation tables.
    ///   - progressive: write a progressive JPEG (libjpeg's simple progression script).
    ///   - subsampleChroma: 4:2:0 chroma subsampling (smaller files); false keeps 4:4:4.
    /// - Precondition: 1 or 3 channels — JPEG has no alpha; convert RGBA first.
    public static func encodeJPEG(_ image: Image, quality: Int = 90, progressive: Bool = false,
                                  subsampleChroma: Bool = true) throws -> [UInt8] {
        precondition(image.channels == 1 || image.channels == 3,
                     "JPEG stores 1 or 3 channels, got \(image.channels); use converted(toChannels:) first")
        return try image.pixels.withUnsafeBytes {
            try JPEGCodec.encode($0, height: image.height, width: image.width, input: image.channels, quality: quality,
                                 progressive: progressive, subsampleChroma: subsampleChroma)
        }
    }

    /// Writes the image as a JPEG (via a temporary file renamed into place).
    public static func writeJPEG(_ image: Image, to url: URL, quality: Int = 90, progressive: Bool = false,
                                 subsampleChroma: Bool = true) throws {
        try write(encodeJPEG(image, quality: quality, progressive: progressive, subsampleChroma: subsampleChroma), to: url)
    }

    /// A four-component Adobe JPEG from `height · width · 4` CMYK samples in Adobe's inverted
    /// convention (255 = no ink), written as YCCK as Photoshop does. Decoding such a file gives
    /// `R = C·K/255, G = M·K/255, B = Y·K/255` on the stored values.
    public static func encodeJPEG(cmyk samples: [UInt8], height: Int, width: Int, quality: Int = 90) throws -> [UInt8] {
        precondition(samples.count == height * width * 4, "\(samples.count) samples do not fill a \(height)×\(width)×4 CMYK image")
        return try samples.withUnsafeBytes {
            try JPEGCodec.encode($0, height: height, width: width, input: 4, quality: quality,
                                 progressive: false, subsampleChroma: false)
        }
    }
}
