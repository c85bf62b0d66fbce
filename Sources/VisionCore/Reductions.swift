// Reductions along axes. A reduction over one axis views the tensor as [outer, n, inner].

extension Tensor {
    /// `(outer, n, inner)` for reducing `axis`.
    func split(at axis: Int) -> (outer: Int, n: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    /// Sum of all elements as a scalar tensor.
    public func sum() -> Tensor {
        var total: Float = 0
        storage.withUnsafeBufferPointer { x in for v in x { total += v } }
        return Tensor.record(shape: [], storage: [total], inputs: [self]) { [self] g in
            self.accumulateGrad(storage: [Float](repeating: g.storage[0], count: self.count))
        }
    }

    /// Mean of all elements as a scalar tensor.
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Sum along the given axes (negative axes count from the end).
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let sorted = Set(axes.map { axis($0) }).sorted(by: >)
        var result = self
        for a in sorted { result = result.sumAxis(a) }
        if !keepDims {
            let kept = shape.enumerated().filter { !sorted.contains($0.offset) }.map(\.element)
            result = result.reshape(kept)
        }
        return result
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean along the given axes.
    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let n = Set(axes.map { axis($0) }).reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Sums one axis, keeping it with extent 1.
    private func sumAxis(_ axis: Int) -> Tensor {
        let (outer, n, inner) = split(at: axis)
        var outShape = shape
        outShape[axis] = 1
        var out = [Float](repeating: 0, count: outer * inner)
        out.withUnsafeMutableBufferPointer { o in
            storage.withUnsafeBufferPointer { x in
                for p in 0..<outer {
                    for k in 0..<n {
                        let base = (p * n + k) * inner
                        for q in 0..<inner { o[p * inner + q] += x[base + q] }
                    }
                }
            }
        }
        return Tensor.record(shape: outShape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: self.count)
            gx.withUnsafeMutableBufferPointer { d in
                g.storage.withUnsafeBufferPointer { gy in
                    for p in 0..<outer {
                        for k in 0..<n {
                            let base = (p * n + k) * inner
                            for q in 0..<inner { d[base + q] = gy[p * inner + q] }
                        }
                    }
                }
            }
            self.accumulateGrad(storage: gx)
        }
    }

    /// Maximum along one axis; the gradient flows to the first maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let a = self.axis(axis)
        let (outer, n, inner) = split(at: a)
        precondition(n > 0, "max over an empty axis of shape \(shape)")
        let indices = argmaxFlat(outer: outer, n: n, inner: inner)
        var outShape = shape
        if keepDims { outShape[a] = 1 } else { outShape.remove(at: a) }
        let out = storage.withUnsafeBufferPointer { x in indices.map { x[$0] } }
        return Tensor.record(shape: outShape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: self.count)
            for (o, i) in indices.enumerated() { gx[i] += g.storage[o] }
            self.accumulateGrad(storage: gx)
        }
    }

    /// Maximum of all elements as a scalar tensor; the gradient is shared equally by the elements equal to
    /// it, as PyTorch's full `max()` (unlike `max(axis:)`, which gives it to the first).
    /// A NaN anywhere makes the maximum NaN, its gradient shared by the NaN elements.
    public func max() -> Tensor {
        precondition(count > 0, "max of an empty tensor of shape \(shape)")
        var ties: [Int] = []
        var best = -Float.infinity
        storage.withUnsafeBufferPointer { x in
            if let nan = x.firstIndex(where: \.isNaN) {
                best = .nan
                ties = (nan..<x.count).filter { x[$0].isNaN }
                return
            }
            for i in 0..<x.count {
                if x[i] > best { best = x[i]; ties = [i] } else if x[i] == best { ties.append(i) }
            }
        }
        let first = best
        return Tensor.record(shape: [], storage: [first], inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: self.count)
            let share = g.storage[0] / Float(ties.count)
            for i in ties { gx[i] = share }
            self.accumulateGrad(storage: gx)
        }
    }

    /// Index of the maximum along `axis` (first on ties), shaped as the tensor without that axis.
    public func argmax(axis: Int) -> [Int] {
        let a = self.axis(axis)
        let (outer, n, inner) = split(at: a)
        return argmaxFlat(outer: outer, n: n, inner: inner).map { ($0 / inner) % n }
    }

    /// Flat storage indices of the maxima of each (outer, inner) fibre.
    private func argmaxFlat(outer: Int, n: Int, inner: Int) -> [Int] {
        var result = [Int](repeating: 0, count: outer * inner)
        storage.withUnsafeBufferPointer { x in
            for p in 0..<outer {
                for q in 0..<inner {
                    var best = p * n * inner + q
                    var bestValue = x[best]
                    for k in 1..<Swift.max(n, 1) {
                        let i = (p * n + k) * inner + q
                        // NaN propagates as the maximum, as in PyTorch.
                        if x[i] > bestValue || (x[i].isNaN && !bestValue.isNaN) { best = i; bestValue = x[i] }
                    }
                    result[p * inner + q] = best
                }
            }
        }
        return result
    }
}
