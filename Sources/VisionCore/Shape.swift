// Shape manipulation: reshape shares storage; permute, slicing and concatenation materialise.

extension Tensor {
    /// The same elements under a new shape; one extent may be -1 (inferred).
    public func reshape(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != hole }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) into \(newShape)")
            resolved[hole] = count / known
        }
        precondition(Tensor.count(of: resolved) == count, "cannot reshape \(shape) (\(count) elements) into \(newShape)")
        if resolved == shape && !Tensor.shouldRecord([self]) { return self }
        let original = shape
        return Tensor.record(shape: resolved, storage: storage, inputs: [self]) { [self] g in
            self.accumulateGrad(Tensor(shape: original, storage: g.storage))
        }
    }

    /// Flattens axes from `startAxis` on into one (`[N, C, H, W]` → `[N, C·H·W]` by default).
    public func flatten(startAxis: Int = 1) -> Tensor {
        let start = axis(startAxis)
        return reshape(Array(shape[..<start]) + [shape[start...].reduce(1, *)])
    }

    /// Inserts an axis of extent 1.
    public func unsqueeze(_ at: Int) -> Tensor {
        var s = shape
        s.insert(1, at: at < 0 ? at + rank + 1 : at)
        return reshape(s)
    }

    /// Removes an axis of extent 1.
    public func squeeze(_ at: Int) -> Tensor {
        let a = axis(at)
        precondition(shape[a] == 1, "squeeze(\(at)) on axis of extent \(shape[a]) in \(shape)")
        var s = shape
        s.remove(at: a)
        return reshape(s)
    }

    /// Reorders axes: output axis i is input axis `order[i]`.
    public func permute(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permutation \(order) is invalid for shape \(shape)")
        let outShape = order.map { shape[$0] }
        let inStrides = strides
        let permutedStrides = order.map { inStrides[$0] }
        let zero = [Int](repeating: 0, count: rank)
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            storage.withUnsafeBufferPointer { x in
                Broadcast.forEach(outShape, permutedStrides, zero) { i, src, _ in o[i] = x[src] }
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in order.enumerated() { inverse[a] = i }
        return Tensor.record(shape: outShape, storage: out, inputs: [self]) { [self] g in
            self.accumulateGrad(g.permute(inverse))
        }
    }

    /// Reverses the order along each of `axes` (PyTorch's `torch.flip`); `flip(axes: [-1])` mirrors images
    /// left–right. The gradient is flipped back the same way.
    public func flip(axes: [Int]) -> Tensor {
        if rank == 0 || axes.isEmpty { return self }
        let flipped = Set(axes.map { axis($0) })
        precondition(flipped.count == axes.count, "flip: axes \(axes) repeat an axis of shape \(shape)")
        if count == 0 { return self }
        let (inShape, inStrides) = (shape, strides)
        // Read index of output element i: a flipped axis runs from its last position with a negative stride.
        var start = 0
        var readStrides = inStrides
        for a in flipped {
            start += (inShape[a] - 1) * inStrides[a]
            readStrides[a] = -inStrides[a]
        }
        let zero = [Int](repeating: 0, count: rank)
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            storage.withUnsafeBufferPointer { x in
                Broadcast.forEach(inShape, readStrides, zero) { i, offset, _ in o[i] = x[start + offset] }
            }
        }
        let sortedAxes = flipped.sorted()
        return Tensor.record(shape: inShape, storage: out, inputs: [self]) { [self] g in
            self.accumulateGrad(g.flip(axes: sortedAxes))
        }
    }

    /// Swaps two axes.
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(axis(a), axis(b))
        return permute(order)
    }

    /// Rows `range` along the first axis.
    public func slice(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "slice \(range) out of bounds for shape \(shape)")
        let row = count / Swift.max(shape[0], 1)
        var outShape = shape
        outShape[0] = range.count
        let out = Array(storage[(range.lowerBound * row)..<(range.upperBound * row)])
        return Tensor.record(shape: outShape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: self.count)
            gx.replaceSubrange((range.lowerBound * row)..<(range.upperBound * row), with: g.storage)
            self.accumulateGrad(storage: gx)
        }
    }

    /// Gathers rows along the first axis (used for batching by index).
    public func select(rows: [Int]) -> Tensor {
        let row = count / Swift.max(shape[0], 1)
        var out = [Float]()
        out.reserveCapacity(rows.count * row)
        for r in rows {
            precondition(r >= 0 && r < shape[0], "row \(r) out of bounds for shape \(shape)")
            out.append(contentsOf: storage[(r * row)..<((r + 1) * row)])
        }
        var outShape = shape
        outShape[0] = rows.count
        return Tensor.record(shape: outShape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: self.count)
            for (k, r) in rows.enumerated() {
                for j in 0..<row { gx[r * row + j] += g.storage[k * row + j] }
            }
            self.accumulateGrad(storage: gx)
        }
    }

    /// Concatenates tensors along `axis`; all other extents must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat of no tensors")
        let first = tensors[0]
        let a = first.axis(axis)
        for t in tensors {
            precondition(t.rank == first.rank && (0..<first.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concat along axis \(axis): shapes \(tensors.map(\.shape)) disagree off that axis")
        }
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let widths = tensors.map { $0.shape[a] * inner }
        let total = widths.reduce(0, +)
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        var out = [Float](repeating: 0, count: outer * total)
        out.withUnsafeMutableBufferPointer { o in
            var column = 0
            for (t, w) in zip(tensors, widths) {
                t.storage.withUnsafeBufferPointer { x in
                    for p in 0..<outer {
                        let dst = p * total + column
                        for j in 0..<w { o[dst + j] = x[p * w + j] }
                    }
                }
                column += w
            }
        }
        return record(shape: outShape, storage: out, inputs: tensors) { g in
            var column = 0
            for (t, w) in zip(tensors, widths) {
                if t.requiresGrad {
                    var gt = [Float](repeating: 0, count: outer * w)
                    for p in 0..<outer {
                        for j in 0..<w { gt[p * w + j] = g.storage[p * total + column + j] }
                    }
                    t.accumulateGrad(storage: gt)
                }
                column += w
            }
        }
    }
}
