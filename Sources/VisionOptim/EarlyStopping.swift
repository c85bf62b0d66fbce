/// Stops training when a monitored metric has not improved for `patience` consecutive evaluations.
///
/// An evaluation improves when it beats the best so far by more than `minDelta`: `value < best − minDelta`
/// in `.min` mode (losses), `value > best + minDelta` in `.max` mode (accuracies). The first finite
/// value always improves; NaN never does. `shouldStop` turns true after `patience` evaluations in a
/// row without improvement (Keras / Lightning semantics). The struct is `Codable` so it can be stored
/// with a checkpoint and a resumed run keeps its patience count.
public struct EarlyStopping: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable { case min, max }

    public let mode: Mode
    public let patience: Int
    public let minDelta: Float
    /// The best value seen, or nil before the first finite one.
    public private(set) var best: Float?
    /// The index (0-based count of `update` calls) of the best value.
    public private(set) var bestIndex: Int?
    /// Evaluations since the last improvement.
    public private(set) var evaluationsWithoutImprovement = 0
    /// How many values `update` has seen.
    public private(set) var evaluations = 0

    public init(mode: Mode = .min, patience: Int, minDelta: Float = 0) {
        precondition(patience >= 0, "patience must be non-negative, got \(patience)")
        precondition(minDelta >= 0, "minDelta must be non-negative, got \(minDelta)")
        self.mode = mode
        self.patience = patience
        self.minDelta = minDelta
    }

    /// Whether `value` would count as an improvement over the best so far.
    public func isImprovement(_ value: Float) -> Bool {
        guard !value.isNaN else { return false }
        guard let best else { return true }
        switch mode {
        case .min: return value < best - minDelta
        case .max: return value > best + minDelta
        }
    }

    /// Records one evaluation; returns true when it is a new best (save the best checkpoint then).
    @discardableResult
    public mutating func update(_ value: Float) -> Bool {
        defer { evaluations += 1 }
        if isImprovement(value) {
            best = value
            bestIndex = evaluations
            evaluationsWithoutImprovement = 0
            return true
        }
        evaluationsWithoutImprovement += 1
        return false
    }

    /// Whether training should stop now.
    public var shouldStop: Bool { evaluationsWithoutImprovement >= patience && evaluations > 0 }
}
