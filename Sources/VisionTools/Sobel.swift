import VisionCore

/// Sobel edge maps computed with the library's `conv2d` as a fixed-weight convolution.
///
/// Conventions: gray = 0.299R + 0.587G + 0.114B on 0–255 values (gray input as is);
/// cross-correlation with Sx = [[−1,0,1],[−2,0,2],[−1,0,1]] and Sy = [[−1,−2,−1],[0,0,0],[1,2,1]];
/// magnitude = √(Gx² + Gy²). `valid` padding turns H×W into (H−2)×(W−2); `same` zero-pads by 1.
public enum Sobel {
    public enum Direction: String, CaseIterable, Sendable { case x, y, magnitude }
    public enum Padding: String, CaseIterable, Sendable { case valid, same }

    public static let kernelX: [Float] = [-1, 0, 1, -2, 0, 2, -1, 0, 1]
    public static let kernelY: [Float] = [-1, -2, -1, 0, 0, 0, 1, 2, 1]

    /// Luma of a `[C, H, W]` tensor holding 0–255 values: C = 1 is returned as is, C ≥ 3 uses the
    /// first three channels (alpha ignored), C = 2 (gray + alpha) uses the first.
    public static func grayscale(_ image: Tensor) -> Tensor {
        precondition(image.rank == 3, "grayscale expects [C, H, W], got \(image.shape)")
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        if c < 3 { return Tensor(shape: [h, w], storage: Array(image.storage[0..<(h * w)])) }
        var out = [Float](repeating: 0, count: h * w)
        image.withUnsafeBufferPointer { x in
            for i in 0..<(h * w) { out[i] = 0.299 * x[i] + 0.587 * x[h * w + i] + 0.114 * x[2 * h * w + i] }
        }
        return Tensor(shape: [h, w], storage: out)
    }

    /// The edge map of a `[H, W]` gray image.
    public static func edges(_ gray: Tensor, direction: Direction = .magnitude, padding: Padding = .valid) -> Tensor {
        precondition(gray.rank == 2, "Sobel expects a [H, W] gray image, got \(gray.shape)")
        let (h, w) = (gray.shape[0], gray.shape[1])
        precondition(padding == .same || (h >= 3 && w >= 3), "valid Sobel needs at least 3×3 pixels, got \(h)×\(w)")
        let x = gray.reshape([1, 1, h, w])
        let weight = Tensor(kernelX + kernelY, shape: [2, 1, 3, 3])
        let pad = padding == .same ? 1 : 0
        let both = Autograd.noGrad { conv2d(x, weight: weight, padding: (pad, pad)) }
        let (oh, ow) = (both.shape[2], both.shape[3])
        let gx = Array(both.storage[0..<(oh * ow)]), gy = Array(both.storage[(oh * ow)...])
        switch direction {
        case .x: return Tensor(shape: [oh, ow], storage: gx)
        case .y: return Tensor(shape: [oh, ow], storage: gy)
        case .magnitude:
            return Tensor(shape: [oh, ow], storage: zip(gx, gy).map { ($0 * $0 + $1 * $1).squareRoot() })
        }
    }

    /// Min–max normalisation to 0–255, rounded half up; a constant map becomes all zeros.
    public static func normalizedBytes(_ map: Tensor) -> [UInt8] {
        guard let lo = map.storage.min(), let hi = map.storage.max(), hi > lo else {
            return [UInt8](repeating: 0, count: map.count)
        }
        let scale = 255 / (Double(hi) - Double(lo))
        return map.storage.map { UInt8(min(255, max(0, ((Double($0) - Double(lo)) * scale + 0.5).rounded(.down)))) }
    }
}
