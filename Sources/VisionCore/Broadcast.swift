/// NumPy-style broadcasting: shapes are aligned from the right; an axis of extent 1 (or a missing
/// axis) stretches to match the other operand.
public enum Broadcast {
    /// The broadcast shape of two shapes, or nil when they are incompatible.
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Strides of `shape` viewed inside `outShape`, with 0 on broadcast axes.
    static func strides(of shape: [Int], in outShape: [Int]) -> [Int] {
        let own = Tensor.strides(of: shape)
        let offset = outShape.count - shape.count
        return (0..<outShape.count).map { i in
            i < offset || shape[i - offset] == 1 ? 0 : own[i - offset]
        }
    }

    /// Visits every element of `outShape` in row-major order, passing the flat output index and
    /// the offsets into two broadcast operands.
    @inline(__always)
    static func forEach(_ outShape: [Int], _ sa: [Int], _ sb: [Int], _ body: (Int, Int, Int) -> Void) {
        let rank = outShape.count
        let total = Tensor.count(of: outShape)
        if total == 0 { return }
        if rank == 0 { body(0, 0, 0); return }
        let inner = outShape[rank - 1]
        let ia = sa[rank - 1], ib = sb[rank - 1]
        var counter = [Int](repeating: 0, count: rank)
        var offA = 0, offB = 0, flat = 0
        while flat < total {
            var a = offA, b = offB
            for _ in 0..<inner {
                body(flat, a, b)
                flat += 1; a += ia; b += ib
            }
            // Advance the outer counter.
            var axis = rank - 2
            while axis >= 0 {
                counter[axis] += 1
                offA += sa[axis]; offB += sb[axis]
                if counter[axis] < outShape[axis] { break }
                offA -= sa[axis] * outShape[axis]; offB -= sb[axis] * outShape[axis]
                counter[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Sums a gradient laid out in `outShape` down to `shape` (the inverse of broadcasting).
    public static func reduce(_ gradient: [Float], from outShape: [Int], to shape: [Int]) -> [Float] {
        if outShape == shape { return gradient }
        var result = [Float](repeating: 0, count: Tensor.count(of: shape))
        let s = strides(of: shape, in: outShape)
        let zero = [Int](repeating: 0, count: outShape.count)
        result.withUnsafeMutableBufferPointer { r in
            gradient.withUnsafeBufferPointer { g in
                forEach(outShape, s, zero) { flat, offset, _ in r[offset] += g[flat] }
            }
        }
        return result
    }
}

extension Tensor {
    /// Applies `f` elementwise over two broadcast operands.
    @inline(__always)
    static func zipBroadcast(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> (shape: [Int], storage: [Float]) {
        if a.shape == b.shape {
            var out = [Float](repeating: 0, count: a.count)
            out.withUnsafeMutableBufferPointer { o in
                a.storage.withUnsafeBufferPointer { x in
                    b.storage.withUnsafeBufferPointer { y in
                        for i in 0..<o.count { o[i] = f(x[i], y[i]) }
                    }
                }
            }
            return (a.shape, out)
        }
        guard let outShape = Broadcast.shape(a.shape, b.shape) else {
            preconditionFailure("shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        var out = [Float](repeating: 0, count: Tensor.count(of: outShape))
        let sa = Broadcast.strides(of: a.shape, in: outShape)
        let sb = Broadcast.strides(of: b.shape, in: outShape)
        out.withUnsafeMutableBufferPointer { o in
            a.storage.withUnsafeBufferPointer { x in
                b.storage.withUnsafeBufferPointer { y in
                    Broadcast.forEach(outShape, sa, sb) { i, ia, ib in o[i] = f(x[ia], y[ib]) }
                }
            }
        }
        return (outShape, out)
    }

    /// Applies `f` to every element.
    @inline(__always)
    public func map(_ f: (Float) -> Float) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            storage.withUnsafeBufferPointer { x in
                for i in 0..<o.count { o[i] = f(x[i]) }
            }
        }
        return out
    }
}
