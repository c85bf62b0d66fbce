import Foundation
import VisionCore

/// Deterministic colour adjustments with torchvision's semantics, on images in `[0, 1]`.
/// Each `blend(a, b, f) = clamp(f·a + (1 − f)·b, 0, 1)`.
public enum ColorOps {
    /// ITU-R 601 luma weights used by torchvision's `rgb_to_grayscale`.
    public static let lumaWeights: (Float, Float, Float) = (0.2989, 0.587, 0.114)

    /// `clamp(factor · x, 0, 1)`.
    public static func adjustBrightness(_ image: inout FloatImage, factor: Float) {
        image.pixels.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = min(max(factor * p[i], 0), 1) }
        }
    }

    /// Blends with the mean of the grayscale image (one scalar per image).
    public static func adjustContrast(_ image: inout FloatImage, factor: Float) {
        let gray = grayscalePlane(image)
        let mean = Float(gray.reduce(0.0) { $0 + Double($1) } / Double(max(gray.count, 1)))
        let offset = (1 - factor) * mean
        image.pixels.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = min(max(factor * p[i] + offset, 0), 1) }
        }
    }

    /// Blends each pixel with its own gray value; single-channel images are unchanged.
    public static func adjustSaturation(_ image: inout FloatImage, factor: Float) {
        guard image.channels == 3 else { return }
        let gray = grayscalePlane(image)
        let planeSize = image.planeSize
        image.pixels.withUnsafeMutableBufferPointer { p in
            for c in 0..<3 {
                for i in 0..<planeSize {
                    p[c * planeSize + i] = min(max(factor * p[c * planeSize + i] + (1 - factor) * gray[i], 0), 1)
                }
            }
        }
    }

    /// Shifts hue by `shift` turns (in `[−0.5, 0.5]`) through RGB → HSV → RGB; single-channel images are unchanged.
    public static func adjustHue(_ image: inout FloatImage, shift: Float) {
        precondition(shift >= -0.5 && shift <= 0.5, "adjustHue: shift must be in [-0.5, 0.5], got \(shift)")
        guard image.channels == 3 else { return }
        let n = image.planeSize
        image.pixels.withUnsafeMutableBufferPointer { p in
            for i in 0..<n {
                var (h, s, v) = rgbToHSV(p[i], p[n + i], p[2 * n + i])
                h = (h + shift).truncatingRemainder(dividingBy: 1)
                if h < 0 { h += 1 }
                let (r, g, b) = hsvToRGB(h, s, v)
                p[i] = r
                p[n + i] = g
                p[2 * n + i] = b
            }
        }
    }

    /// torchvision's `_rgb2hsv`: hue in `[0, 1)`, saturation `(max − min)/max`, value `max`.
    public static func rgbToHSV(_ r: Float, _ g: Float, _ b: Float) -> (Float, Float, Float) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        let chroma = maxc - minc
        if chroma == 0 { return (0, 0, maxc) }
        let s = chroma / maxc
        let rc = (maxc - r) / chroma, gc = (maxc - g) / chroma, bc = (maxc - b) / chroma
        var h: Float
        if maxc == r {
            h = bc - gc
        } else if maxc == g {
            h = 2 + rc - bc
        } else {
            h = 4 + gc - rc
        }
        h = (h / 6 + 1).truncatingRemainder(dividingBy: 1)
        return (h, s, maxc)
    }

    /// torchvision's `_hsv2rgb` (sector `⌊6h⌋ mod 6`, components clamped to `[0, 1]`).
    public static func hsvToRGB(_ h: Float, _ s: Float, _ v: Float) -> (Float, Float, Float) {
        let scaled = h * 6
        let sectorFloor = scaled.rounded(.down)
        let f = scaled - sectorFloor
        let sector = ((Int(sectorFloor) % 6) + 6) % 6
        let p = min(max(v * (1 - s), 0), 1)
        let q = min(max(v * (1 - s * f), 0), 1)
        let t = min(max(v * (1 - s * (1 - f)), 0), 1)
        switch sector {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// The luma plane of an RGB image (or the only plane of a one-channel image).
    public static func grayscalePlane(_ image: FloatImage) -> [Float] {
        let n = image.planeSize
        if image.channels != 3 { return Array(image.pixels[0..<n]) }
        let (wr, wg, wb) = lumaWeights
        return image.pixels.withUnsafeBufferPointer { p in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = wr * p[i] + wg * p[n + i] + wb * p[2 * n + i] }
                initialized = n
            }
        }
    }

    /// The luma image with `outputChannels` identical planes.
    public static func grayscale(_ image: FloatImage, outputChannels: Int = 1) -> FloatImage {
        precondition(outputChannels == 1 || outputChannels == 3, "grayscale: 1 or 3 output channels, got \(outputChannels)")
        let plane = grayscalePlane(image)
        var pixels = plane
        if outputChannels == 3 { pixels = plane + plane + plane }
        return FloatImage(channels: outputChannels, height: image.height, width: image.width, pixels: pixels)
    }
}

/// Random brightness, contrast, saturation and hue, as torchvision's `ColorJitter`: factors drawn
/// uniformly from `[max(0, 1 − a), 1 + a]` (hue shift from `[−hue, hue]`), applied in a random order.
/// The mask is untouched.
public struct ColorJitter: Transform {
    public let brightness: ClosedRange<Float>?
    public let contrast: ClosedRange<Float>?
    public let saturation: ClosedRange<Float>?
    public let hue: ClosedRange<Float>?

    public init(brightness: Float = 0, contrast: Float = 0, saturation: Float = 0, hue: Float = 0) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0 && hue >= 0 && hue <= 0.5,
                     "ColorJitter: amounts must be non-negative and hue ≤ 0.5")
        func range(_ amount: Float) -> ClosedRange<Float>? { amount == 0 ? nil : max(0, 1 - amount)...(1 + amount) }
        self.init(brightnessRange: range(brightness), contrastRange: range(contrast),
                  saturationRange: range(saturation), hueRange: hue == 0 ? nil : -hue...hue)
    }

    /// Explicit factor ranges (nil leaves that property alone and draws nothing for it).
    public init(brightnessRange: ClosedRange<Float>?, contrastRange: ClosedRange<Float>?,
                saturationRange: ClosedRange<Float>?, hueRange: ClosedRange<Float>?) {
        self.brightness = brightnessRange
        self.contrast = contrastRange
        self.saturation = saturationRange
        self.hue = hueRange
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        var order = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, generator.nextInt(i + 1)) }
        func draw(_ range: ClosedRange<Float>?) -> Float? {
            range.map { Float(generator.uniform(Double($0.lowerBound), Double($0.upperBound))) }
        }
        let factors = [draw(brightness), draw(contrast), draw(saturation), draw(hue)]
        for op in order {
            guard let factor = factors[op] else { continue }
            switch op {
            case 0: ColorOps.adjustBrightness(&image, factor: factor)
            case 1: ColorOps.adjustContrast(&image, factor: factor)
            case 2: ColorOps.adjustSaturation(&image, factor: factor)
            default: ColorOps.adjustHue(&image, shift: factor)
            }
        }
    }
}

/// `(x − mean[c]) / std[c]` per channel (one value broadcasts to every channel).
public struct Normalize: Transform {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(!mean.isEmpty && mean.count == std.count && std.allSatisfy { $0 > 0 },
                     "Normalize: mean \(mean) and std \(std) need equal non-zero counts and positive std")
        self.mean = mean
        self.std = std
    }

    /// The usual ImageNet statistics.
    public static let imageNet = Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// CIFAR-10 training-set statistics.
    public static let cifar10 = Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mean.count == 1 || mean.count == image.channels,
                     "Normalize: \(mean.count) statistics for an image with \(image.channels) channels")
        let n = image.planeSize
        let channels = image.channels
        image.pixels.withUnsafeMutableBufferPointer { p in
            for c in 0..<channels {
                let m = mean.count == 1 ? mean[0] : mean[c]
                let s = std.count == 1 ? std[0] : std[c]
                for i in (c * n)..<((c + 1) * n) { p[i] = (p[i] - m) / s }
            }
        }
    }
}

/// Adds `N(0, std²)` noise to every value, then clips to `[0, 1]` when `clip` is set.
public struct GaussianNoise: Transform {
    public let std: Float
    public let clip: Bool

    public init(std: Float, clip: Bool = true) {
        precondition(std >= 0, "GaussianNoise: std must be non-negative, got \(std)")
        self.std = std
        self.clip = clip
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        let (sigma, clip) = (std, self.clip)
        image.pixels.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let value = p[i] + sigma * generator.nextNormal()
                p[i] = clip ? min(max(value, 0), 1) : value
            }
        }
    }
}

/// Erases a random rectangle, as torchvision's `RandomErasing` (usually after `Normalize`): with
/// probability `p`, up to 10 tries draw an area fraction from `scale` and a log-uniform aspect ratio
/// (height/width) from `ratio`; the first rectangle strictly inside the image is filled. Mask untouched.
public struct RandomErasing: Transform {
    public enum Value: Sendable, Equatable {
        /// One value for every channel, or one per channel.
        case constant([Float])
        /// Standard normal noise per erased value.
        case random
    }

    public let p: Float
    public let scale: (Double, Double)
    public let ratio: (Double, Double)
    public let value: Value

    public init(p: Float = 0.5, scale: (Double, Double) = (0.02, 0.33), ratio: (Double, Double) = (0.3, 3.3),
                value: Value = .constant([0])) {
        precondition(p >= 0 && p <= 1 && scale.0 <= scale.1 && ratio.0 > 0 && ratio.0 <= ratio.1,
                     "RandomErasing: bad p \(p), scale \(scale) or ratio \(ratio)")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        guard generator.nextUniform() < p else { return }
        let (height, width) = (image.height, image.width)
        let area = Double(height * width)
        let logRatio = (log(ratio.0), log(ratio.1))
        for _ in 0..<10 {
            let eraseArea = area * generator.uniform(scale.0, scale.1)
            let aspect = exp(generator.uniform(logRatio.0, logRatio.1))
            let h = Int((eraseArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((eraseArea / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width else { continue }
            let top = generator.integer(0, height - h + 1)
            let left = generator.integer(0, width - w + 1)
            for c in 0..<image.channels {
                for y in top..<(top + h) {
                    for x in left..<(left + w) {
                        let fill: Float
                        switch value {
                        case .constant(let values): fill = values.count == 1 ? values[0] : values[c]
                        case .random: fill = generator.nextNormal()
                        }
                        image[c, y, x] = fill
                    }
                }
            }
            return
        }
    }
}

/// Converts to luma with 1 or 3 output channels (torchvision's `Grayscale`).
public struct ToGray: Transform {
    public let outputChannels: Int

    public init(outputChannels: Int = 1) {
        precondition(outputChannels == 1 || outputChannels == 3, "ToGray: 1 or 3 output channels, got \(outputChannels)")
        self.outputChannels = outputChannels
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        image = ColorOps.grayscale(image, outputChannels: outputChannels)
    }
}

/// With probability `p`, converts to luma keeping the channel count (torchvision's `RandomGrayscale`).
public struct RandomGrayscale: Transform {
    public let p: Float

    public init(p: Float = 0.1) { self.p = p }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        guard generator.nextUniform() < p, image.channels == 3 else { return }
        image = ColorOps.grayscale(image, outputChannels: 3)
    }
}

// MARK: torchvision's random 8-bit photometric transforms

/// With probability `p`, one `AugmentOperation` at a fixed magnitude (torchvision's arithmetic on 8-bit
/// images); the mask is left as it is.
private func applyOperation(_ operation: AugmentOperation, magnitude: Float = 0, p: Float, to image: inout FloatImage,
                            generator: inout SeededGenerator) {
    guard generator.nextUniform() < p else { return }
    image = operation.apply(magnitude: magnitude, to: image)
}

/// With probability `p`, inverts the image (`1 − x`; torchvision's `RandomInvert`).
public struct RandomInvert: Transform {
    public let p: Float

    public init(p: Float = 0.5) { self.p = p }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        applyOperation(.invert, p: p, to: &image, generator: &generator)
    }
}

/// With probability `p`, keeps the `bits` highest bits of each 8-bit value (torchvision's `RandomPosterize`).
public struct RandomPosterize: Transform {
    public let bits: Int, p: Float

    public init(bits: Int, p: Float = 0.5) {
        precondition((0...8).contains(bits), "RandomPosterize: bits must be in 0…8, got \(bits)")
        self.bits = bits; self.p = p
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        applyOperation(.posterize, magnitude: Float(bits), p: p, to: &image, generator: &generator)
    }
}

/// With probability `p`, inverts every value at or above `threshold` (in image units, `0…1`; torchvision's
/// `RandomSolarize`, whose threshold on 8-bit images is `threshold × 255`).
public struct RandomSolarize: Transform {
    public let threshold: Float, p: Float

    public init(threshold: Float, p: Float = 0.5) {
        precondition(threshold.isFinite, "RandomSolarize: threshold must be finite, got \(threshold)")
        self.threshold = threshold; self.p = p
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        applyOperation(.solarize, magnitude: threshold * 255, p: p, to: &image, generator: &generator)
    }
}

/// With probability `p`, sharpens (factor > 1) or blurs (factor < 1) against a 3×3 smoothing of the image
/// (torchvision's `RandomAdjustSharpness`; factor 1 leaves it alone).
public struct RandomAdjustSharpness: Transform {
    public let sharpnessFactor: Float, p: Float

    public init(sharpnessFactor: Float, p: Float = 0.5) {
        precondition(sharpnessFactor >= 0 && sharpnessFactor.isFinite, "RandomAdjustSharpness: factor must be ≥ 0, got \(sharpnessFactor)")
        self.sharpnessFactor = sharpnessFactor; self.p = p
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        applyOperation(.sharpness, magnitude: sharpnessFactor - 1, p: p, to: &image, generator: &generator)
    }
}

/// With probability `p`, stretches each channel to the full range (torchvision's `RandomAutocontrast`).
public struct RandomAutocontrast: Transform {
    public let p: Float

    public init(p: Float = 0.5) { self.p = p }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        applyOperation(.autoContrast, p: p, to: &image, generator: &generator)
    }
}

/// With probability `p`, equalises each channel's 8-bit histogram (torchvision's `RandomEqualize`).
public struct RandomEqualize: Transform {
    public let p: Float

    public init(p: Float = 0.5) { self.p = p }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        applyOperation(.equalize, p: p, to: &image, generator: &generator)
    }
}
