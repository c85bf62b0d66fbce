import Foundation
import VisionCore

/// The image operations of torchvision's automatic augmentation policies (`AutoAugment`, `RandAugment`,
/// `TrivialAugmentWide`, `AugMix`; `invert` is AutoAugment's only), as its `_apply_op` runs them on 8-bit tensors —
/// the form the policies were designed for: their solarize thresholds run from 255 to 0.
///
/// The image, whose values are bytes over 255 when it comes from a decoder, is taken to bytes, transformed
/// with torchvision's arithmetic (float32 blends truncated to bytes, a rounded 3×3 blur for sharpness, byte
/// histograms for equalize), and returned over 255. Shears, translations and rotations sample as `F.affine` /
/// `F.rotate` do, nearest (the policies' default) or bilinear (rounded back to bytes), filling with 0.
public enum AugmentOperation: String, CaseIterable, Sendable {
    case identity, shearX, shearY, translateX, translateY, rotate, brightness, color, contrast, sharpness
    case posterize, solarize, autoContrast, equalize, invert

    /// The inverse affine matrix of a geometric operation, as torchvision's `_apply_op` builds it: shears about
    /// the top-left corner (F.affine's centre moved there), translations by whole pixels (truncated), rotations
    /// counter-clockwise (F.rotate). The identity for the other operations.
    func inverseMatrix(magnitude: Float, height h: Int, width w: Int) -> [Double] {
        let corner = (-Double(w) / 2, -Double(h) / 2)
        switch self {
        case .shearX: return ImageOps.inverseAffineMatrix(center: corner, shear: (atanDegrees(magnitude), 0))
        case .shearY: return ImageOps.inverseAffineMatrix(center: corner, shear: (0, atanDegrees(magnitude)))
        case .translateX: return ImageOps.inverseAffineMatrix(translate: (Double(Int(magnitude)), 0))
        case .translateY: return ImageOps.inverseAffineMatrix(translate: (0, Double(Int(magnitude))))
        case .rotate: return ImageOps.inverseAffineMatrix(angle: -Double(magnitude))
        default: return ImageOps.inverseAffineMatrix()
        }
    }

    /// The operation at one magnitude (degrees for `rotate`, pixels for translations, the shear factor,
    /// `factor − 1` for the colour operations, bits kept for `posterize`, the byte threshold for `solarize`;
    /// ignored by `identity`, `autoContrast`, `equalize` and `invert`). Shears, translations and rotations
    /// sample with `interpolation` (bilinear results rounded to bytes, as torchvision does for uint8 images).
    public func apply(magnitude: Float, to image: FloatImage, interpolation: Interpolation = .nearest) -> FloatImage {
        var bytes = image.pixels.map { Swift.min(Swift.max(($0 * 255).rounded(), 0), 255) }
        let (c, h, w) = (image.channels, image.height, image.width)
        let plane = h * w
        switch self {
        case .identity: return image
        case .shearX, .shearY, .translateX, .translateY, .rotate:
            bytes = warp(bytes, channels: c, height: h, width: w, matrix: inverseMatrix(magnitude: magnitude, height: h, width: w),
                         interpolation: interpolation)
        case .brightness:
            bytes = bytes.map { blend($0, 0, 1 + Double(magnitude)) }
        case .color:
            guard c == 3 else { return image }
            let gray = grayBytes(bytes, plane: plane)
            for k in 0..<c { for i in 0..<plane { bytes[k * plane + i] = blend(bytes[k * plane + i], gray[i], 1 + Double(magnitude)) } }
        case .contrast:
            let gray = c == 3 ? grayBytes(bytes, plane: plane) : Array(bytes[0..<plane])
            let mean = Float(gray.reduce(0.0) { $0 + Double($1) } / Double(Swift.max(gray.count, 1)))
            bytes = bytes.map { blend($0, mean, 1 + Double(magnitude)) }
        case .sharpness:
            guard h > 2 && w > 2 else { return image }
            var blurred = bytes
            for k in 0..<c {
                for y in 1..<(h - 1) {
                    for x in 1..<(w - 1) {
                        var sum: Float = 0
                        for dy in -1...1 { for dx in -1...1 { sum += bytes[k * plane + (y + dy) * w + x + dx] * (dy == 0 && dx == 0 ? 5 : 1) } }
                        blurred[k * plane + y * w + x] = (sum / 13).rounded(.toNearestOrEven)
                    }
                }
            }
            for i in 0..<bytes.count { bytes[i] = blend(bytes[i], blurred[i], 1 + Double(magnitude)) }
        case .posterize:
            let keep = UInt8(truncatingIfNeeded: 0xFF << (8 - Swift.min(Swift.max(Int(magnitude), 0), 8)))
            bytes = bytes.map { Float(UInt8($0) & keep) }
        case .solarize:
            bytes = bytes.map { $0 >= magnitude ? 255 - $0 : $0 }
        case .autoContrast:
            for k in 0..<c {
                let channel = bytes[(k * plane)..<((k + 1) * plane)]
                guard var low = channel.min(), let high = channel.max() else { continue }
                var scale = 255 * (1 / (high - low))  // `bound / tensor` is PyTorch's reciprocal(tensor) · bound
                if !scale.isFinite { low = 0; scale = 1 }
                for i in (k * plane)..<((k + 1) * plane) { bytes[i] = clampTruncate((bytes[i] - low) * scale) }
            }
        case .equalize:
            for k in 0..<c { equalizeChannel(&bytes, range: (k * plane)..<((k + 1) * plane)) }
        case .invert:
            bytes = bytes.map { 255 - $0 }
        }
        return FloatImage(channels: c, height: h, width: w, pixels: bytes.map { $0 / 255 })
    }
}

// MARK: Byte arithmetic as torchvision's tensor functions do it

/// `(ratio·a + (1 − ratio)·b).clamp(0, 255).to(uint8)`: the factor and its complement are Python
/// doubles (`1.0 + magnitude`, `1.0 − ratio`) that meet the image as float32.
@inline(__always) private func blend(_ a: Float, _ b: Float, _ ratio: Double) -> Float {
    clampTruncate(Float(ratio) * a + Float(1 - ratio) * b)
}

@inline(__always) private func clampTruncate(_ v: Float) -> Float { Swift.min(Swift.max(v, 0), 255).rounded(.towardZero) }

/// `rgb_to_grayscale` on bytes: `0.2989 r + 0.587 g + 0.114 b`, truncated.
private func grayBytes(_ bytes: [Float], plane: Int) -> [Float] {
    (0..<plane).map { i in
        let r = Float(0.2989) * bytes[i], g = Float(0.587) * bytes[plane + i], b = Float(0.114) * bytes[2 * plane + i]
        return (r + g + b).rounded(.towardZero)
    }
}

/// torchvision's `_scale_channel`: a lookup table from the cumulative histogram, with step
/// `⌊(pixels − count of the last non-empty level) / 255⌋`; a step of 0 leaves the channel alone.
private func equalizeChannel(_ bytes: inout [Float], range: Range<Int>) {
    var histogram = [Int](repeating: 0, count: 256)
    for i in range { histogram[Int(bytes[i])] += 1 }
    let nonEmpty = histogram.filter { $0 != 0 }
    let step = nonEmpty.dropLast().reduce(0, +) / 255
    guard step > 0 else { return }
    var table = [Float](repeating: 0, count: 256)
    var cumulative = 0
    for level in 0..<255 {
        cumulative += histogram[level]
        table[level + 1] = Float(Swift.min((cumulative + step / 2) / step, 255))
    }
    for i in range { bytes[i] = table[Int(bytes[i])] }
}

private func atanDegrees(_ v: Float) -> Double { Foundation.atan(Double(v)) * (180 / Double.pi) }  // math.degrees

/// `F_t.affine` with zero fill on the byte values; bilinear samples are rounded half to even, as torchvision
/// casts a uint8 image's `grid_sample` result back.
private func warp(_ bytes: [Float], channels: Int, height: Int, width: Int, matrix: [Double],
                  interpolation: Interpolation) -> [Float] {
    let warped = ImageOps.affine(FloatImage(channels: channels, height: height, width: width, pixels: bytes), matrix: matrix,
                                 interpolation: interpolation).pixels
    return interpolation == .nearest ? warped : warped.map { $0.rounded(.toNearestOrEven) }
}
