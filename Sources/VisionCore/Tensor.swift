/// A dense Float32 tensor: contiguous row-major storage and a shape.
///
/// Images are NCHW. A tensor is a reference type because autograd needs identity: the graph links
/// tensors, and `grad` accumulates into the same object across paths. Storage is a Swift array, so
/// tensors produced by `reshape` share it copy-on-write and in-place updates never alias by surprise.
public final class Tensor {
    /// The extent of each axis; `[]` is a scalar.
    public let shape: [Int]
    /// Elements in row-major order; `storage.count == shape.reduce(1, *)`.
    public var storage: [Float]
    /// Whether gradients flow into this tensor. Set it on leaves (parameters, inputs under test).
    public var requiresGrad: Bool
    /// The accumulated gradient after `backward()`; same shape as the tensor.
    public var grad: Tensor?
    /// The operation that produced this tensor, while its graph is alive.
    var gradFn: Node?

    public init(shape: [Int], storage: [Float], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        precondition(storage.count == Tensor.count(of: shape),
                     "storage of \(storage.count) elements does not fit shape \(shape)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor from nested-free values: `Tensor([1, 2, 3, 4], shape: [2, 2])`.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: values, requiresGrad: requiresGrad)
    }

    /// A scalar tensor.
    public convenience init(scalar: Float, requiresGrad: Bool = false) {
        self.init(shape: [], storage: [scalar], requiresGrad: requiresGrad)
    }

    public static func count(of shape: [Int]) -> Int { shape.reduce(1, *) }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    /// Whether this tensor was made by an operation that is recorded in a live graph.
    public var isLeaf: Bool { gradFn == nil }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(storage.count == 1, "item needs a one-element tensor, got shape \(shape)")
        return storage[0]
    }

    /// Row-major strides in elements.
    public var strides: [Int] { Tensor.strides(of: shape) }

    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Normalises a possibly negative axis (`-1` is the last).
    public func axis(_ axis: Int) -> Int {
        let normalised = axis < 0 ? axis + rank : axis
        precondition(normalised >= 0 && normalised < Swift.max(rank, 1), "axis \(axis) out of range for shape \(shape)")
        return normalised
    }

    // MARK: Creation

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: [Float](repeating: 0, count: count(of: shape)), requiresGrad: requiresGrad)
    }

    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }

    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: [Float](repeating: value, count: count(of: shape)), requiresGrad: requiresGrad)
    }

    /// Values drawn uniformly from `[low, high)`.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1,
                               generator: inout SeededGenerator, requiresGrad: Bool = false) -> Tensor {
        let n = count(of: shape)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = low + (high - low) * generator.nextUniform() }
        return Tensor(shape: shape, storage: values, requiresGrad: requiresGrad)
    }

    /// Values drawn from a normal distribution with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1,
                              generator: inout SeededGenerator, requiresGrad: Bool = false) -> Tensor {
        let n = count(of: shape)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = mean + std * generator.nextNormal() }
        return Tensor(shape: shape, storage: values, requiresGrad: requiresGrad)
    }

    /// `[0, 1, …, n-1]` as Float.
    public static func arange(_ n: Int) -> Tensor {
        Tensor(shape: [n], storage: (0..<n).map(Float.init))
    }

    /// A new tensor with the same values, outside any graph.
    public func detach() -> Tensor {
        Tensor(shape: shape, storage: storage)
    }

    /// A deep copy that records a graph node (gradient passes through unchanged).
    public func clone() -> Tensor {
        Tensor.record(shape: shape, storage: storage, inputs: [self]) { [self] g in
            self.accumulateGrad(g)
        }
    }

    // MARK: Raw access

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    public func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Element at a full multi-index (slow; for tests and small work).
    public subscript(_ index: Int...) -> Float {
        get { storage[flatIndex(index)] }
        set { storage[flatIndex(index)] = newValue }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == rank, "index \(index) does not match shape \(shape)")
        var flat = 0
        for (axis, i) in index.enumerated() {
            precondition(i >= 0 && i < shape[axis], "index \(index) out of bounds for shape \(shape)")
            flat = flat * shape[axis] + i
        }
        return flat
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = storage.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(preview)\(storage.count > 8 ? ", …" : "")])"
    }
}

#if canImport(Foundation)
import Foundation
#endif
