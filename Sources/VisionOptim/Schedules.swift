import Foundation

/// A learning rate as a pure function of the step (0-based), so resuming a run needs only the step.
///
/// Whether a step is a mini-batch or an epoch is the caller's choice; `perEpoch(iterationsPerEpoch:)`
/// turns an epoch schedule into one indexed by iteration. Values match `torch.optim.lr_scheduler`:
/// `learningRate(at: k)` is the rate in force after `k` calls of the PyTorch scheduler's `step()`.
/// Computation is in Double; the result is rounded to Float once.
public protocol LRSchedule {
    func learningRate(at step: Int) -> Float
}

extension LRSchedule {
    /// The first `count` learning rates (for printing or plotting a schedule).
    public func learningRates(count: Int) -> [Float] {
        (0..<Swift.max(count, 0)).map { learningRate(at: $0) }
    }

    /// Applies the schedule's learning rate for `step` to `optimizer` and returns it.
    @discardableResult
    public func apply(to optimizer: Optimizer, step: Int) -> Float {
        let rate = learningRate(at: step)
        optimizer.learningRate = rate
        return rate
    }
}

/// The same learning rate at every step.
public struct ConstantLR: LRSchedule, Sendable {
    public var baseLR: Float
    public init(baseLR: Float) { self.baseLR = baseLR }
    public func learningRate(at step: Int) -> Float { baseLR }
}

/// `baseLR · γ^⌊step / stepSize⌋` (PyTorch `StepLR`).
public struct StepLR: LRSchedule, Sendable {
    public var baseLR: Float
    public var stepSize: Int
    public var gamma: Float

    public init(baseLR: Float, stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0, "StepLR stepSize must be positive, got \(stepSize)")
        self.baseLR = baseLR
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(at step: Int) -> Float {
        Float(Double(baseLR) * Foundation.pow(Double(gamma), Double(Swift.max(step, 0) / stepSize)))
    }
}

/// `baseLR · γ^(number of milestones ≤ step)` (PyTorch `MultiStepLR`).
public struct MultiStepLR: LRSchedule, Sendable {
    public var baseLR: Float
    public var milestones: [Int]
    public var gamma: Float

    public init(baseLR: Float, milestones: [Int], gamma: Float = 0.1) {
        self.baseLR = baseLR
        self.milestones = milestones
        self.gamma = gamma
    }

    public func learningRate(at step: Int) -> Float {
        let passed = milestones.filter { $0 <= step }.count
        return Float(Double(baseLR) * Foundation.pow(Double(gamma), Double(passed)))
    }
}

/// `baseLR · γ^step` (PyTorch `ExponentialLR`).
public struct ExponentialLR: LRSchedule, Sendable {
    public var baseLR: Float
    public var gamma: Float

    public init(baseLR: Float, gamma: Float) {
        self.baseLR = baseLR
        self.gamma = gamma
    }

    public func learningRate(at step: Int) -> Float {
        Float(Double(baseLR) * Foundation.pow(Double(gamma), Double(Swift.max(step, 0))))
    }
}

/// Linear change of the factor from `startFactor` to `endFactor` over `totalSteps`, then constant:
/// `baseLR · (s + (e − s)·min(step, N)/N)` (PyTorch `LinearLR`; defaults 1/3, 1, 5 as there).
public struct LinearLR: LRSchedule, Sendable {
    public var baseLR: Float
    public var startFactor: Float
    public var endFactor: Float
    public var totalSteps: Int

    public init(baseLR: Float, startFactor: Float = 1.0 / 3, endFactor: Float = 1, totalSteps: Int = 5) {
        precondition(totalSteps >= 0, "LinearLR totalSteps must be non-negative, got \(totalSteps)")
        self.baseLR = baseLR
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalSteps = totalSteps
    }

    public func learningRate(at step: Int) -> Float {
        guard totalSteps > 0 else { return Float(Double(baseLR) * Double(endFactor)) }
        let progress = Double(Swift.min(Swift.max(step, 0), totalSteps)) / Double(totalSteps)
        let factor = Double(startFactor) + (Double(endFactor) - Double(startFactor)) * progress
        return Float(Double(baseLR) * factor)
    }
}

/// Half-cosine from `baseLR` down to `minLR` over `period` steps (SGDR without restarts):
/// `minLR + (baseLR − minLR)·(1 + cos(π·step/period))/2` (PyTorch `CosineAnnealingLR`, `T_max`,
/// `eta_min`). Past `period` the cosine continues, rising again, exactly as PyTorch's.
public struct CosineAnnealingLR: LRSchedule, Sendable {
    public var baseLR: Float
    public var period: Int
    public var minLR: Float

    public init(baseLR: Float, period: Int, minLR: Float = 0) {
        precondition(period > 0, "CosineAnnealingLR period must be positive, got \(period)")
        self.baseLR = baseLR
        self.period = period
        self.minLR = minLR
    }

    public func learningRate(at step: Int) -> Float {
        Float(cosineAnneal(from: Double(baseLR), to: Double(minLR),
                           fraction: Double(Swift.max(step, 0)) / Double(period)))
    }
}

/// Cosine annealing with warm restarts (Loshchilov & Hutter, SGDR, ICLR 2017): the first cycle lasts
/// `firstPeriod` steps (`T_0`), each next one `periodMultiplier` (`T_mult`) times longer; within a
/// cycle of length `Tᵢ` at position `t`: `minLR + (baseLR − minLR)·(1 + cos(π·t/Tᵢ))/2`
/// (PyTorch `CosineAnnealingWarmRestarts`).
public struct CosineAnnealingWarmRestarts: LRSchedule, Sendable {
    public var baseLR: Float
    public var firstPeriod: Int
    public var periodMultiplier: Int
    public var minLR: Float

    public init(baseLR: Float, firstPeriod: Int, periodMultiplier: Int = 1, minLR: Float = 0) {
        precondition(firstPeriod > 0, "CosineAnnealingWarmRestarts firstPeriod must be positive, got \(firstPeriod)")
        precondition(periodMultiplier >= 1, "periodMultiplier must be ≥ 1, got \(periodMultiplier)")
        self.baseLR = baseLR
        self.firstPeriod = firstPeriod
        self.periodMultiplier = periodMultiplier
        self.minLR = minLR
    }

    /// Position within the current cycle and that cycle's length.
    public func cyclePosition(at step: Int) -> (position: Int, length: Int) {
        var position = Swift.max(step, 0)
        var length = firstPeriod
        if periodMultiplier == 1 { return (position % length, length) }
        while position >= length {
            position -= length
            length *= periodMultiplier
        }
        return (position, length)
    }

    public func learningRate(at step: Int) -> Float {
        let (position, length) = cyclePosition(at: step)
        return Float(cosineAnneal(from: Double(baseLR), to: Double(minLR), fraction: Double(position) / Double(length)))
    }
}

/// `end + (start − end)·(1 + cos(π·fraction))/2`.
@inline(__always)
func cosineAnneal(from start: Double, to end: Double, fraction: Double) -> Double {
    end + (start - end) * (1 + Foundation.cos(Double.pi * fraction)) / 2
}
