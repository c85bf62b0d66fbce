/// Spatial padding and cropping of NCHW tensors (used to run U-Nets on any image size).

public enum PaddingMode: Sendable { case zeros, reflect, replicate }

/// Pads the last two axes of `[N, C, H, W]`: `top`/`bottom` rows and `left`/`right` columns.
/// `.reflect` mirrors without repeating the edge (PyTorch's "reflect"); it needs pad < extent.
public func pad2d(_ x: Tensor, top: Int, bottom: Int, left: Int, right: Int, mode: PaddingMode = .zeros) -> Tensor {
    precondition(x.rank == 4, "pad2d expects [N, C, H, W], got \(x.shape)")
    precondition(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "pad2d needs non-negative padding")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if mode == .reflect {
        precondition(top < h && bottom < h && left < w && right < w,
                     "reflect padding (\(top), \(bottom), \(left), \(right)) must be smaller than the input \(h)×\(w)")
    }
    let oh = h + top + bottom, ow = w + left + right
    // Source index for each output row/column (-1 = zero).
    func source(_ i: Int, _ before: Int, _ extent: Int) -> Int {
        let s = i - before
        if s >= 0 && s < extent { return s }
        switch mode {
        case .zeros: return -1
        case .replicate: return Swift.min(Swift.max(s, 0), extent - 1)
        case .reflect: return s < 0 ? -s : 2 * (extent - 1) - s
        }
    }
    let rows = (0..<oh).map { source($0, top, h) }
    let cols = (0..<ow).map { source($0, left, w) }
    var out = [Float](repeating: 0, count: n * c * oh * ow)
    out.withUnsafeMutableBufferPointer { o in
        x.storage.withUnsafeBufferPointer { src in
            for plane in 0..<(n * c) {
                for i in 0..<oh where rows[i] >= 0 {
                    let srow = plane * h * w + rows[i] * w
                    let drow = plane * oh * ow + i * ow
                    for j in 0..<ow where cols[j] >= 0 { o[drow + j] = src[srow + cols[j]] }
                }
            }
        }
    }
    return Tensor.record(shape: [n, c, oh, ow], storage: out, inputs: [x]) { g in
        var gx = [Float](repeating: 0, count: x.count)
        for plane in 0..<(n * c) {
            for i in 0..<oh where rows[i] >= 0 {
                for j in 0..<ow where cols[j] >= 0 {
                    gx[plane * h * w + rows[i] * w + cols[j]] += g.storage[plane * oh * ow + i * ow + j]
                }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}

/// The `height`×`width` window of `[N, C, H, W]` starting at (`top`, `left`).
public func crop2d(_ x: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4 && top >= 0 && left >= 0 && top + height <= x.shape[2] && left + width <= x.shape[3],
                 "crop (\(top), \(left), \(height)×\(width)) outside input \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if top == 0 && left == 0 && height == h && width == w { return x }
    var out = [Float](repeating: 0, count: n * c * height * width)
    out.withUnsafeMutableBufferPointer { o in
        x.storage.withUnsafeBufferPointer { src in
            for plane in 0..<(n * c) {
                for i in 0..<height {
                    let s = plane * h * w + (top + i) * w + left
                    let d = (plane * height + i) * width
                    for j in 0..<width { o[d + j] = src[s + j] }
                }
            }
        }
    }
    return Tensor.record(shape: [n, c, height, width], storage: out, inputs: [x]) { g in
        var gx = [Float](repeating: 0, count: x.count)
        for plane in 0..<(n * c) {
            for i in 0..<height {
                let s = plane * h * w + (top + i) * w + left
                let d = (plane * height + i) * width
                for j in 0..<width { gx[s + j] = g.storage[d + j] }
            }
        }
        x.accumulateGrad(storage: gx)
    }
}
