import VisionCore

/// An 8-bit image in HWC order: `pixels[(row · width + column) · channels + channel]`.
///
/// Channels are 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). Floating-point work happens on
/// `Tensor`s: `toTensor()` gives `[C, H, W]` in `[0, 1]`, `Image(tensor:)` comes back with clamping
/// and rounding. 16-bit raw maps (depth, labels) use `Image16`.
public struct Image: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var channels: Int
    /// Interleaved samples, `height · width · channels` of them.
    public var pixels: [UInt8]

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        precondition(height >= 0 && width >= 0, "image size must be non-negative, got \(height)×\(width)")
        precondition((1...4).contains(channels), "an image has 1–4 channels, got \(channels)")
        precondition(pixels.count == height * width * channels,
                     "\(pixels.count) samples do not fill a \(height)×\(width)×\(channels) image")
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
    }

    /// An image with every sample set to `value`.
    public init(height: Int, width: Int, channels: Int, repeating value: UInt8 = 0) {
        self.init(height: height, width: width, channels: channels,
                  pixels: [UInt8](repeating: value, count: height * width * channels))
    }

    /// Number of pixels (`height · width`).
    public var pixelCount: Int { height * width }

    /// Whether the last channel is alpha (2 or 4 channels).
    public var hasAlpha: Bool { channels == 2 || channels == 4 }

    /// The sample at (row, column, channel). Slow; for tests and small work.
    public subscript(row: Int, column: Int, channel: Int) -> UInt8 {
        get { pixels[index(row, column, channel)] }
        set { pixels[index(row, column, channel)] = newValue }
    }

    private func index(_ row: Int, _ column: Int, _ channel: Int) -> Int {
        precondition(row >= 0 && row < height && column >= 0 && column < width && channel >= 0 && channel < channels,
                     "pixel (\(row), \(column), \(channel)) out of bounds for a \(height)×\(width)×\(channels) image")
        return (row * width + column) * channels + channel
    }
}

// MARK: - Tensor conversion

extension Image {
    /// The image as a `[C, H, W]` tensor with values `pixel / 255` in `[0, 1]`.
    public func toTensor() -> Tensor {
        var storage = [Float](repeating: 0, count: pixels.count)
        storage.withUnsafeMutableBufferPointer { writeCHW(into: $0) }
        return Tensor(shape: [channels, height, width], storage: storage)
    }

    /// Writes the planar `[C, H, W]` values `pixel / 255` into `destination` (at least
    /// `height · width · channels` elements), e.g. one slot of a batch buffer.
    public func writeCHW(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= pixels.count,
                     "destination of \(destination.count) elements is smaller than a \(height)×\(width)×\(channels) image")
        let plane = height * width
        let channels = self.channels
        pixels.withUnsafeBufferPointer { source in
            for channel in 0..<channels {
                let target = destination.baseAddress! + channel * plane
                var position = channel
                for i in 0..<plane {
                    target[i] = Float(source[position]) / 255
                    position += channels
                }
            }
        }
    }

    /// An image from a `[C, H, W]` or `[1, C, H, W]` tensor (C in 1…4) of values in `[0, 1]`:
    /// each sample is `round(clamp(v, 0, 1) · 255)`; NaN becomes 0.
    public init(tensor: Tensor) {
        let shape = tensor.shape
        precondition(shape.count == 3 || (shape.count == 4 && shape[0] == 1),
                     "Image(tensor:) expects [C, H, W] or [1, C, H, W], got \(shape)")
        let dims = Array(shape.suffix(3))
        let (channels, height, width) = (dims[0], dims[1], dims[2])
        precondition((1...4).contains(channels), "Image(tensor:) expects 1–4 channels, got shape \(shape)")
        let plane = height * width
        var pixels = [UInt8](repeating: 0, count: plane * channels)
        tensor.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for channel in 0..<channels {
                    let planeStart = source.baseAddress! + channel * plane
                    var position = channel
                    for i in 0..<plane {
                        let value = planeStart[i]
                        if value >= 1 {
                            target[position] = 255
                        } else if value > 0 {
                            target[position] = UInt8(value * 255 + 0.5)
                        }  // else (≤ 0 or NaN) stays 0
                        position += channels
                    }
                }
            }
        }
        self.init(height: height, width: width, channels: channels, pixels: pixels)
    }
}

// MARK: - Channel conversion

extension Image {
    /// The image with `channels` channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    ///
    /// Colour to gray uses luma `Y = round(0.299 R + 0.587 G + 0.114 B)`; gray to colour repeats
    /// the value. Alpha is dropped without compositing, and added as 255 (opaque).
    public func converted(toChannels target: Int) -> Image {
        precondition((1...4).contains(target), "an image has 1–4 channels, asked for \(target)")
        if target == channels { return self }
        let count = pixelCount
        let sourceChannels = channels
        let sourceColour = channels >= 3
        let sourceAlpha = hasAlpha
        let targetAlpha = target == 2 || target == 4
        var output = [UInt8](repeating: 0, count: count * target)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let s = i * sourceChannels
                    let o = i * target
                    let alpha: UInt8 = sourceAlpha ? source[s + sourceChannels - 1] : 255
                    if target >= 3 {
                        if sourceColour {
                            out[o] = source[s]; out[o + 1] = source[s + 1]; out[o + 2] = source[s + 2]
                        } else {
                            out[o] = source[s]; out[o + 1] = source[s]; out[o + 2] = source[s]
                        }
                    } else {
                        out[o] = sourceColour ? Image.luma(source[s], source[s + 1], source[s + 2]) : source[s]
                    }
                    if targetAlpha { out[o + target - 1] = alpha }
                }
            }
        }
        return Image(height: height, width: width, channels: target, pixels: output)
    }

    /// `round(0.299 R + 0.587 G + 0.114 B)` in exact integer arithmetic (halves round up).
    @inline(__always)
    static func luma(_ red: UInt8, _ green: UInt8, _ blue: UInt8) -> UInt8 {
        let weighted: Int = 299 * Int(red) + 587 * Int(green) + 114 * Int(blue)
        return UInt8((weighted + 500) / 1000)
    }
}

/// A 16-bit image in HWC order, for raw maps (depth, disparity, label ids) stored as 16-bit PNG.
public struct Image16: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var channels: Int
    /// Interleaved samples, `height · width · channels` of them, in native byte order.
    public var values: [UInt16]

    public init(height: Int, width: Int, channels: Int, values: [UInt16]) {
        precondition(height >= 0 && width >= 0, "image size must be non-negative, got \(height)×\(width)")
        precondition((1...4).contains(channels), "an image has 1–4 channels, got \(channels)")
        precondition(values.count == height * width * channels,
                     "\(values.count) samples do not fill a \(height)×\(width)×\(channels) image")
        self.height = height
        self.width = width
        self.channels = channels
        self.values = values
    }
}

/// A label mask as stored: one value per pixel, row-major (`ImageIO.decodeLabels`).
public struct LabelImage: Equatable, Sendable {
    public var height: Int
    public var width: Int
    /// `values[y · width + x]`.
    public var values: [Int]

    public init(height: Int, width: Int, values: [Int]) {
        precondition(height >= 0 && width >= 0 && values.count == height * width,
                     "\(values.count) values do not fill a \(height)×\(width) label image")
        self.height = height
        self.width = width
        self.values = values
    }
}
