import Foundation
import VisionCore
import VisionNN

/// An exponential moving average of a model's weights, swapped in for evaluation.
///
/// After each optimizer step, `update()` moves every shadow value toward the live one:
/// `s = d·s + (1 − d)·θ`, with `d = decay`, or with `warmup` `d = min(decay, (1 + n)/(10 + n))`
/// after `n` earlier updates (so early averages are not dominated by the random initialisation).
///
/// Buffers (batch-norm running statistics): with `.average` (the default, as timm's ModelEmaV2) they
/// are averaged like the weights, so the swapped-in model normalises with statistics that drifted
/// along with its averaged weights; with `.keepLive` they are left out and the swapped-in model
/// uses the live running statistics. Buffers whose name ends in `num_batches_tracked` are counters
/// and are never averaged.
///
/// `swapIn()` exchanges the live and averaged values in O(1) per tensor (the storages are swapped),
/// `swapBack()` exchanges them again; `withAveragedWeights { … }` does both around a closure.
public final class ExponentialMovingAverage {
    public enum BufferPolicy: Sendable { case average, keepLive }

    public let decay: Float
    public let warmup: Bool
    /// How many times `update()` has run.
    public private(set) var updateCount = 0
    /// Whether the averaged values are currently in the model.
    public private(set) var isSwappedIn = false
    /// The tracked tensors with their state-dict names.
    public let tracked: [(name: String, tensor: Tensor)]
    private var shadows: [[Float]]

    /// Tracks `module`'s parameters, and its buffers when `buffers` is `.average`.
    public convenience init(_ module: Module, decay: Float = 0.999, warmup: Bool = false,
                            buffers: BufferPolicy = .average) {
        var named = module.namedParameters()
        if buffers == .average {
            named += module.namedBuffers().filter { !$0.name.hasSuffix("num_batches_tracked") }
        }
        self.init(named: named, decay: decay, warmup: warmup)
    }

    /// Tracks the given tensors under the given names.
    public init(named: [(name: String, tensor: Tensor)], decay: Float = 0.999, warmup: Bool = false) {
        precondition(decay >= 0 && decay <= 1, "EMA decay must lie in [0, 1], got \(decay)")
        self.decay = decay
        self.warmup = warmup
        self.tracked = named
        self.shadows = named.map(\.tensor.storage)
    }

    /// The decay the next `update()` will use.
    public var currentDecay: Float {
        warmup ? Swift.min(decay, Float(1 + updateCount) / Float(10 + updateCount)) : decay
    }

    /// Moves the averages toward the live values; call after each optimizer step.
    public func update() {
        precondition(!isSwappedIn, "ExponentialMovingAverage.update() while the averaged weights are swapped in")
        let d = currentDecay
        let mix = 1 - d
        for (k, entry) in tracked.enumerated() {
            precondition(entry.tensor.count == shadows[k].count,
                         "EMA tensor '\(entry.name)' changed size to \(entry.tensor.shape)")
            entry.tensor.withUnsafeBufferPointer { live in
                shadows[k].withUnsafeMutableBufferPointer { shadow in
                    let s = shadow.baseAddress!, x = live.baseAddress!
                    Parallel.forEach(shadow.count) { range in
                        for i in range { s[i] += mix * (x[i] - s[i]) }
                    }
                }
            }
        }
        updateCount += 1
    }

    /// Puts the averaged values into the model, keeping the live ones aside.
    public func swapIn() {
        precondition(!isSwappedIn, "ExponentialMovingAverage.swapIn() twice without swapBack()")
        exchange()
        isSwappedIn = true
    }

    /// Restores the live values saved by `swapIn()`.
    public func swapBack() {
        precondition(isSwappedIn, "ExponentialMovingAverage.swapBack() without swapIn()")
        exchange()
        isSwappedIn = false
    }

    /// Runs `body` with the averaged values swapped in, restoring the live ones afterwards.
    public func withAveragedWeights<R>(_ body: () throws -> R) rethrows -> R {
        swapIn()
        defer { swapBack() }
        return try body()
    }

    /// Overwrites the live values with the averages (e.g. before exporting the final model).
    public func copyToModel() {
        precondition(!isSwappedIn, "ExponentialMovingAverage.copyToModel() while swapped in")
        for (k, entry) in tracked.enumerated() { entry.tensor.storage = shadows[k] }
    }

    private func exchange() {
        for k in tracked.indices {
            precondition(tracked[k].tensor.count == shadows[k].count,
                         "EMA tensor '\(tracked[k].name)' changed size to \(tracked[k].tensor.shape)")
            let tensor = tracked[k].tensor
            swap(&tensor.storage, &shadows[k])
        }
    }

    /// The averaged values under their names (the live ones if swapped in are not included).
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        tracked.enumerated().map { k, entry in
            (entry.name, Tensor(shape: entry.tensor.shape, storage: isSwappedIn ? entry.tensor.storage : shadows[k]))
        } + [("ema_update_count", Tensor(scalar: Float(updateCount)))]
    }

    /// Restores averages saved by `stateDict()`. Every tracked name must be present with its shape.
    public func loadStateDict(_ state: [String: Tensor]) throws {
        precondition(!isSwappedIn, "ExponentialMovingAverage.loadStateDict while swapped in")
        var loaded: [[Float]] = []
        for entry in tracked {
            guard let tensor = state[entry.name] else { throw OptimizerStateError.missingKey(entry.name) }
            guard tensor.shape == entry.tensor.shape else {
                throw OptimizerStateError.shapeMismatch(key: entry.name, expected: entry.tensor.shape, got: tensor.shape)
            }
            loaded.append(tensor.storage)
        }
        shadows = loaded
        if let count = state["ema_update_count"] { updateCount = Int(count.storage.first ?? 0) }
    }
}

/// A copy of some tensors' values that can be written back (e.g. around an LR range test).
public struct ParameterSnapshot {
    private let saved: [(tensor: Tensor, storage: [Float])]

    /// Records the current values of `tensors` (cheap: arrays are copied on write).
    public init(_ tensors: [Tensor]) {
        saved = tensors.map { ($0, $0.storage) }
    }

    /// Records every parameter and buffer of `module`.
    public init(module: Module) {
        self.init(module.stateDict().map(\.tensor))
    }

    /// Writes the recorded values back and clears the gradients.
    public func restore() {
        for (tensor, storage) in saved {
            tensor.storage = storage
            tensor.grad = nil
        }
    }
}
