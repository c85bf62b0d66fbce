import Foundation

// MARK: - Binary arithmetic with broadcasting

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (shape, out) = zipBroadcast(a, b, +)
        return record(shape: shape, storage: out, inputs: [a, b]) { [a, b] g in
            a.accumulateGrad(storage: Broadcast.reduce(g.storage, from: shape, to: a.shape))
            b.accumulateGrad(storage: Broadcast.reduce(g.storage, from: shape, to: b.shape))
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (shape, out) = zipBroadcast(a, b, -)
        return record(shape: shape, storage: out, inputs: [a, b]) { [a, b] g in
            a.accumulateGrad(storage: Broadcast.reduce(g.storage, from: shape, to: a.shape))
            if b.requiresGrad {
                b.accumulateGrad(storage: Broadcast.reduce(g.map { -$0 }, from: shape, to: b.shape))
            }
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (shape, out) = zipBroadcast(a, b, *)
        return record(shape: shape, storage: out, inputs: [a, b]) { [a, b] g in
            let gt = Tensor(shape: shape, storage: g.storage)
            if a.requiresGrad {
                let ga = zipBroadcast(gt, b, *).storage
                a.accumulateGrad(storage: Broadcast.reduce(ga, from: shape, to: a.shape))
            }
            if b.requiresGrad {
                let gb = zipBroadcast(gt, a, *).storage
                b.accumulateGrad(storage: Broadcast.reduce(gb, from: shape, to: b.shape))
            }
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (shape, out) = zipBroadcast(a, b, /)
        return record(shape: shape, storage: out, inputs: [a, b]) { [a, b] g in
            let gt = Tensor(shape: shape, storage: g.storage)
            if a.requiresGrad {
                let ga = zipBroadcast(gt, b, /).storage
                a.accumulateGrad(storage: Broadcast.reduce(ga, from: shape, to: a.shape))
            }
            if b.requiresGrad {
                // d(a/b)/db = -a/b² = -out/b
                let outT = Tensor(shape: shape, storage: out)
                let q = zipBroadcast(outT, b, /)
                let gb = zipBroadcast(gt, Tensor(shape: q.shape, storage: q.storage)) { -$0 * $1 }.storage
                b.accumulateGrad(storage: Broadcast.reduce(gb, from: shape, to: b.shape))
            }
        }
    }

    // MARK: Scalars

    public static func + (a: Tensor, s: Float) -> Tensor {
        record(shape: a.shape, storage: a.map { $0 + s }, inputs: [a]) { [a] g in a.accumulateGrad(g) }
    }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor { (-a) + s }

    public static func * (a: Tensor, s: Float) -> Tensor {
        record(shape: a.shape, storage: a.map { $0 * s }, inputs: [a]) { [a] g in
            a.accumulateGrad(storage: g.map { $0 * s })
        }
    }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }

    public static prefix func - (a: Tensor) -> Tensor { a * -1 }

    // MARK: Unary maths

    /// Builds a unary op from its value and its derivative expressed with input and output.
    @inline(__always)
    func unary(_ f: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        let out = map(f)
        return Tensor.record(shape: shape, storage: out, inputs: [self]) { [self] g in
            var gx = [Float](repeating: 0, count: out.count)
            gx.withUnsafeMutableBufferPointer { d in
                self.storage.withUnsafeBufferPointer { x in
                    out.withUnsafeBufferPointer { y in
                        g.storage.withUnsafeBufferPointer { gy in
                            for i in 0..<d.count { d[i] = gy[i] * derivative(x[i], y[i]) }
                        }
                    }
                }
            }
            self.accumulateGrad(storage: gx)
        }
    }

    public func exp() -> Tensor { unary(Foundation.exp) { _, y in y } }
    public func log() -> Tensor { unary(Foundation.log) { x, _ in 1 / x } }
    public func sqrt() -> Tensor { unary(Foundation.sqrt) { _, y in 0.5 / y } }
    public func abs() -> Tensor { unary(Swift.abs) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) } }
    public func square() -> Tensor { unary({ $0 * $0 }) { x, _ in 2 * x } }
    /// `x^p`; for p = 0 the gradient is 0 everywhere, x = 0 included (not 0 · 0⁻¹ = NaN), as PyTorch's.
    public func pow(_ p: Float) -> Tensor {
        unary({ Foundation.pow($0, p) }) { x, _ in p == 0 ? 0 : p * Foundation.pow(x, p - 1) }
    }
    /// Clamps into `[low, high]`; the gradient is 1 strictly inside and 0 at a bound or beyond it, as
    /// PyTorch 2's `clamp` (`clamp(min: 0)` then has ReLU's gradient, 0 at 0).
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        unary({ Swift.min(Swift.max($0, low), high) }) { x, _ in x > low && x < high ? 1 : 0 }
    }
}
