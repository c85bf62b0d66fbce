import Foundation
import VisionCore

/// Updates parameters from their accumulated gradients.
///
/// Use: `loss.backward(); optimizer.step(); optimizer.zeroGrad()`. A schedule drives
/// `learningRate` (`optimizer.learningRate = schedule.learningRate(at: step)`), which scales every
/// group by its `learningRateScale`. State (moments, momentum buffers, step counts) round-trips
/// through `stateDict()` / `loadStateDict(_:)` so a resumed run continues exactly.
public protocol Optimizer: AnyObject {
    /// The parameter groups; each parameter is identified by its (group, index) position.
    var groups: [ParameterGroup] { get set }
    /// The base learning rate; group `g` uses `learningRate · groups[g].learningRateScale`.
    var learningRate: Float { get set }
    /// Applies one update to every parameter that has a gradient.
    func step()
    /// Clears the gradients of every parameter in every group.
    func zeroGrad()
    /// The optimizer state as named tensors, e.g. `state.0.3.exp_avg` (group 0, parameter 3).
    func stateDict() -> [(name: String, tensor: Tensor)]
    /// Restores state saved by `stateDict()`; throws on keys or shapes that do not fit the groups.
    func loadStateDict(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// The learning rate group `index` uses at the next step.
    public func learningRate(ofGroup index: Int) -> Float {
        learningRate * groups[index].learningRateScale
    }

    public func zeroGrad() {
        for group in groups {
            for parameter in group.parameters { parameter.zeroGrad() }
        }
    }
}

/// Why optimizer state could not be loaded.
public enum OptimizerStateError: Error, LocalizedError, CustomStringConvertible, Equatable {
    /// A key that is not `learning_rate` nor `state.<group>.<parameter>.<slot>` with a slot this optimizer keeps.
    case unknownKey(String)
    /// A parameter has buffers but no step count (or the reverse is incomplete).
    case missingKey(String)
    /// The key names a group or parameter index that the optimizer does not have.
    case indexOutOfRange(key: String, groupSizes: [Int])
    /// A state tensor whose shape differs from its parameter's.
    case shapeMismatch(key: String, expected: [Int], got: [Int])
    /// A value that cannot be what it stands for (a step count that is not a whole number, say).
    case invalidValue(key: String, reason: String)

    public var description: String {
        switch self {
        case .unknownKey(let key):
            return "optimizer state key '\(key)' is not known to this optimizer"
        case .missingKey(let key):
            return "optimizer state is missing '\(key)'"
        case .indexOutOfRange(let key, let sizes):
            return "optimizer state key '\(key)' does not match the parameter groups (sizes \(sizes))"
        case .shapeMismatch(let key, let expected, let got):
            return "optimizer state '\(key)' has shape \(got), expected \(expected)"
        case .invalidValue(let key, let reason):
            return "optimizer state '\(key)' \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// Per-parameter optimizer state: the number of updates applied and named buffers shaped like the parameter.
final class ParameterState {
    var step = 0
    var buffers: [String: Tensor] = [:]

    /// The buffer `name`, created filled with `initial` when absent; `created` tells which.
    func buffer(_ name: String, like parameter: Tensor, initial: Float = 0) -> (tensor: Tensor, created: Bool) {
        if let existing = buffers[name] { return (existing, false) }
        let tensor = Tensor.full(parameter.shape, initial)
        buffers[name] = tensor
        return (tensor, true)
    }
}

/// Shared machinery of the optimizers in this module: groups, learning rate, per-parameter state and
/// its serialisation. Subclasses implement `update`, the element loop for one parameter.
public class GradientOptimizer: Optimizer {
    public var groups: [ParameterGroup]
    public var learningRate: Float
    /// Weight decay for groups whose own `weightDecay` is nil.
    public var weightDecay: Float
    /// Ascend instead of descend (PyTorch's `maximize`): the gradient's sign is flipped.
    public var maximize: Bool
    /// State per group, per parameter; nil until the parameter's first update.
    var states: [[ParameterState?]] = []
    /// The buffer names this optimizer may keep (checked on load).
    let slotNames: Set<String>

    init(groups: [ParameterGroup], learningRate: Float, weightDecay: Float, maximize: Bool, slotNames: Set<String>) {
        precondition(learningRate >= 0, "learning rate must be non-negative, got \(learningRate)")
        precondition(weightDecay >= 0, "weight decay must be non-negative, got \(weightDecay)")
        self.groups = groups
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.maximize = maximize
        self.slotNames = slotNames
    }

    /// The state of parameter `index` in group `group`, created on first use.
    private func state(group: Int, index: Int) -> ParameterState {
        while states.count <= group { states.append([]) }
        while states[group].count <= index { states[group].append(nil) }
        if let existing = states[group][index] { return existing }
        let fresh = ParameterState()
        states[group][index] = fresh
        return fresh
    }

    public func step() {
        Autograd.noGrad {
            for (g, group) in groups.enumerated() {
                let rate = learningRate * group.learningRateScale
                let decay = group.weightDecay ?? weightDecay
                for (i, parameter) in group.parameters.enumerated() {
                    guard let gradient = parameter.grad else { continue }
                    precondition(gradient.count == parameter.count,
                                 "gradient of shape \(gradient.shape) for parameter of shape \(parameter.shape)")
                    guard parameter.count > 0 else { continue }
                    let state = state(group: g, index: i)
                    state.step += 1
                    update(parameter, gradient: gradient, state: state, learningRate: rate, weightDecay: decay)
                }
            }
        }
    }

    /// Updates one parameter in place; `state.step` already counts this update.
    func update(_ parameter: Tensor, gradient: Tensor, state: ParameterState, learningRate: Float, weightDecay: Float) {
        preconditionFailure("\(type(of: self)) does not implement update")
    }

    /// Forgets every moment, buffer and step count (the next step starts as the first).
    public func resetState() { states = [] }

    /// How many updates parameter `index` of group `group` has received.
    public func stepCount(group: Int = 0, index: Int = 0) -> Int {
        group < states.count && index < states[group].count ? states[group][index]?.step ?? 0 : 0
    }

    // MARK: State dict

    /// Step counts are stored as two floats `[step / 2²⁴, step mod 2²⁴]` so they stay exact in Float32.
    static let stepRadix = 1 << 24

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        var entries: [(name: String, tensor: Tensor)] = [("learning_rate", Tensor(scalar: learningRate))]
        for (g, row) in states.enumerated() {
            for (i, state) in row.enumerated() {
                guard let state else { continue }
                let prefix = "state.\(g).\(i)."
                let radix = GradientOptimizer.stepRadix
                entries.append((prefix + "step",
                                Tensor([Float(state.step / radix), Float(state.step % radix)], shape: [2])))
                for name in state.buffers.keys.sorted() {
                    entries.append((prefix + name, state.buffers[name]!.detach()))
                }
            }
        }
        return entries
    }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        var loaded: [[ParameterState?]] = groups.map { [ParameterState?](repeating: nil, count: $0.parameters.count) }
        var hasStep = Set<String>()
        var newLearningRate = learningRate
        for (key, tensor) in state {
            if key == "learning_rate" {
                guard tensor.count == 1 else { throw OptimizerStateError.shapeMismatch(key: key, expected: [], got: tensor.shape) }
                newLearningRate = tensor.storage[0]
                continue
            }
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "state", let g = Int(parts[1]), let i = Int(parts[2]) else {
                throw OptimizerStateError.unknownKey(key)
            }
            guard g >= 0, g < groups.count, i >= 0, i < groups[g].parameters.count else {
                throw OptimizerStateError.indexOutOfRange(key: key, groupSizes: groups.map(\.parameters.count))
            }
            let slot = String(parts[3])
            let parameterState = loaded[g][i] ?? ParameterState()
            loaded[g][i] = parameterState
            if slot == "step" {
                guard tensor.shape == [2] else { throw OptimizerStateError.shapeMismatch(key: key, expected: [2], got: tensor.shape) }
                // Two base-2^24 digits, each exact in a Float (see `stateDict`).
                let digits = [tensor.storage[0], tensor.storage[1]]
                guard digits.allSatisfy({ $0 >= 0 && $0 < Float(GradientOptimizer.stepRadix) && $0.rounded() == $0 }) else {
                    throw OptimizerStateError.invalidValue(key: key, reason: "holds \(digits), not a step count (two whole numbers from 0 to 2^24 - 1)")
                }
                parameterState.step = Int(digits[0]) * GradientOptimizer.stepRadix + Int(digits[1])
                hasStep.insert("state.\(g).\(i)")
            } else if slotNames.contains(slot) {
                let parameter = groups[g].parameters[i]
                guard tensor.shape == parameter.shape else {
                    throw OptimizerStateError.shapeMismatch(key: key, expected: parameter.shape, got: tensor.shape)
                }
                parameterState.buffers[slot] = tensor.detach()
            } else {
                throw OptimizerStateError.unknownKey(key)
            }
        }
        for (g, row) in loaded.enumerated() {
            for (i, parameterState) in row.enumerated() where parameterState != nil && !hasStep.contains("state.\(g).\(i)") {
                throw OptimizerStateError.missingKey("state.\(g).\(i).step")
            }
        }
        states = loaded
        learningRate = newLearningRate
    }
}

/// Raw pointers to a parameter's values and its gradient, for update loops.
struct UpdatePointers {
    let parameter: UnsafeMutablePointer<Float>
    let gradient: UnsafePointer<Float>
    let count: Int
}

extension GradientOptimizer {
    /// Runs `body` with raw pointers to the parameter's values, the gradient and the given buffers
    /// (each made unique first, so copy-on-write never fires inside the loop).
    func withPointers(_ parameter: Tensor, _ gradient: Tensor, _ buffers: [Tensor],
                      _ body: (UpdatePointers, [UnsafeMutablePointer<Float>]) -> Void) {
        parameter.withUnsafeMutableBufferPointer { values in
            let count = values.count
            let parameterPointer = values.baseAddress!
            gradient.withUnsafeBufferPointer { grads in
                let gradientPointer = grads.baseAddress!
                var pointers: [UnsafeMutablePointer<Float>] = []
                func nest(_ k: Int) {
                    if k == buffers.count {
                        body(UpdatePointers(parameter: parameterPointer, gradient: gradientPointer, count: count), pointers)
                        return
                    }
                    buffers[k].withUnsafeMutableBufferPointer { buffer in
                        pointers.append(buffer.baseAddress!)
                        nest(k + 1)
                    }
                }
                nest(0)
            }
        }
    }
}

/// `√x` for `x ≥ 0` (NaN stays NaN; a tiny negative rounding residue gives 0 instead of NaN).
///
/// On Linux `Float.squareRoot()` keeps a libm fallback for negative inputs (to set errno), which stops
/// the loop vectoriser; clamping at 0 first lets it prove the input non-negative and emit `sqrtps`.
@inline(__always)
func nonNegativeSquareRoot(_ x: Float) -> Float {
    Swift.max(x, 0).squareRoot()
}
