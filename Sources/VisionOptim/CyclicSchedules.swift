import Foundation

/// Cyclical learning rates (Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017),
/// as PyTorch `CyclicLR`: the rate climbs linearly from `baseLR` to `maxLR` over `stepSizeUp` steps,
/// falls back over `stepSizeDown`, and repeats. The amplitude is scaled per mode:
/// `triangular` 1, `triangular2` halves each cycle (1/2^(cycle−1)), `exponentialRange(γ)` γ^step.
/// (PyTorch's momentum cycling is not modelled; only the learning rate is scheduled.)
public struct CyclicLR: LRSchedule, Sendable {
    public enum Mode: Sendable, Equatable {
        case triangular
        case triangular2
        /// Amplitude `γ^step` (PyTorch `exp_range`, scaled per iteration).
        case exponentialRange(gamma: Float)
    }

    public var baseLR: Float
    public var maxLR: Float
    public var stepSizeUp: Int
    public var stepSizeDown: Int
    public var mode: Mode

    /// `stepSizeDown` nil means equal to `stepSizeUp` (PyTorch defaults: up 2000, triangular).
    public init(baseLR: Float, maxLR: Float, stepSizeUp: Int = 2000, stepSizeDown: Int? = nil, mode: Mode = .triangular) {
        precondition(stepSizeUp > 0 || (stepSizeDown ?? stepSizeUp) > 0,
                     "CyclicLR needs a positive cycle length, got up \(stepSizeUp), down \(stepSizeDown ?? stepSizeUp)")
        self.baseLR = baseLR
        self.maxLR = maxLR
        self.stepSizeUp = stepSizeUp
        self.stepSizeDown = stepSizeDown ?? stepSizeUp
        self.mode = mode
    }

    public func learningRate(at step: Int) -> Float {
        let total = Double(stepSizeUp + stepSizeDown)
        let upRatio = Double(stepSizeUp) / total
        let position = Double(Swift.max(step, 0))
        let cycle = (1 + position / total).rounded(.down)
        let x = 1 + position / total - cycle
        let fraction = x <= upRatio ? x / upRatio : (x - 1) / (upRatio - 1)
        let height = (Double(maxLR) - Double(baseLR)) * fraction
        let scale: Double
        switch mode {
        case .triangular: scale = 1
        case .triangular2: scale = 1 / Foundation.pow(2, cycle - 1)
        case .exponentialRange(let gamma): scale = Foundation.pow(Double(gamma), position)
        }
        return Float(Double(baseLR) + height * scale)
    }
}

/// The 1cycle policy (Smith & Topin, "Super-Convergence", 2017), as PyTorch `OneCycleLR`: warm up from
/// `maxLR / divFactor` to `maxLR` over the first `pctStart` of `totalSteps`, then anneal to
/// `initial / finalDivFactor` by the last step. With `threePhase` the rate first returns to the
/// initial value (symmetrically) before annealing to the minimum. Steps past the end hold the final rate.
public struct OneCycleLR: LRSchedule, Sendable {
    public enum Annealing: Sendable { case cosine, linear }

    public var maxLR: Float
    public var totalSteps: Int
    public var pctStart: Float
    public var annealing: Annealing
    public var divFactor: Float
    public var finalDivFactor: Float
    public var threePhase: Bool

    /// PyTorch defaults: `pct_start` 0.3, `anneal_strategy` cos, `div_factor` 25, `final_div_factor` 1e4.
    public init(maxLR: Float, totalSteps: Int, pctStart: Float = 0.3, annealing: Annealing = .cosine,
                divFactor: Float = 25, finalDivFactor: Float = 1e4, threePhase: Bool = false) {
        precondition(totalSteps > 0, "OneCycleLR totalSteps must be positive, got \(totalSteps)")
        precondition(pctStart >= 0 && pctStart <= 1, "pctStart must lie in [0, 1], got \(pctStart)")
        self.maxLR = maxLR
        self.totalSteps = totalSteps
        self.pctStart = pctStart
        self.annealing = annealing
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
        self.threePhase = threePhase
    }

    public var initialLR: Double { Double(maxLR) / Double(divFactor) }
    public var minLR: Double { initialLR / Double(finalDivFactor) }

    /// (last step of the phase, start rate, end rate), as PyTorch lays the phases out.
    private var phases: [(end: Double, start: Double, finish: Double)] {
        let pct = Double(pctStart), total = Double(totalSteps)
        let peak = Double(maxLR)
        if threePhase {
            return [(pct * total - 1, initialLR, peak),
                    (2 * pct * total - 2, peak, initialLR),
                    (total - 1, initialLR, minLR)]
        }
        return [(pct * total - 1, initialLR, peak), (total - 1, peak, minLR)]
    }

    public func learningRate(at step: Int) -> Float {
        let position = Double(Swift.min(Swift.max(step, 0), totalSteps - 1))
        let phases = phases
        var phaseStart = 0.0
        for (k, phase) in phases.enumerated() {
            if position <= phase.end || k == phases.count - 1 {
                let span = phase.end - phaseStart
                let fraction = span > 0 ? (position - phaseStart) / span : 1
                switch annealing {
                case .cosine: return Float(cosineAnneal(from: phase.start, to: phase.finish, fraction: fraction))
                case .linear: return Float(phase.start + (phase.finish - phase.start) * fraction)
                }
            }
            phaseStart = phase.end
        }
        return Float(minLR)
    }
}

/// Linear warm-up composed with any schedule.
///
/// During the first `warmupSteps` steps the factor rises linearly from `startFactor` to 1
/// (`startFactor + (1 − startFactor)·step/warmupSteps`). Then:
/// - `.sequential` (default; PyTorch `SequentialLR([LinearLR, schedule], [warmupSteps])`): the wrapped
///   schedule starts from its own step 0 once the warm-up ends, and during warm-up the factor
///   multiplies the wrapped schedule's step-0 rate;
/// - `.multiplicative` (PyTorch `ChainedScheduler([LinearLR, schedule])`): the factor multiplies the
///   wrapped schedule evaluated at the same step, so warm-up eats into the schedule's first steps.
public struct LinearWarmup: LRSchedule {
    public enum Composition: Sendable { case sequential, multiplicative }

    public var schedule: any LRSchedule
    public var warmupSteps: Int
    public var startFactor: Float
    public var composition: Composition

    public init(_ schedule: any LRSchedule, warmupSteps: Int, startFactor: Float = 0.01,
                composition: Composition = .sequential) {
        precondition(warmupSteps >= 0, "warmupSteps must be non-negative, got \(warmupSteps)")
        self.schedule = schedule
        self.warmupSteps = warmupSteps
        self.startFactor = startFactor
        self.composition = composition
    }

    /// The warm-up factor at `step` (1 once warm-up is over).
    public func factor(at step: Int) -> Double {
        guard step < warmupSteps else { return 1 }
        let start = Double(startFactor)
        return start + (1 - start) * Double(Swift.max(step, 0)) / Double(warmupSteps)
    }

    public func learningRate(at step: Int) -> Float {
        switch composition {
        case .sequential:
            if step < warmupSteps { return Float(factor(at: step) * Double(schedule.learningRate(at: 0))) }
            return schedule.learningRate(at: step - warmupSteps)
        case .multiplicative:
            return Float(factor(at: step) * Double(schedule.learningRate(at: step)))
        }
    }
}

/// An epoch-indexed schedule read per iteration: iteration `i` uses epoch `i / iterationsPerEpoch`.
public struct EpochwiseSchedule: LRSchedule {
    public var schedule: any LRSchedule
    public var iterationsPerEpoch: Int

    public init(_ schedule: any LRSchedule, iterationsPerEpoch: Int) {
        precondition(iterationsPerEpoch > 0, "iterationsPerEpoch must be positive, got \(iterationsPerEpoch)")
        self.schedule = schedule
        self.iterationsPerEpoch = iterationsPerEpoch
    }

    public func learningRate(at step: Int) -> Float {
        schedule.learningRate(at: Swift.max(step, 0) / iterationsPerEpoch)
    }
}

extension LRSchedule {
    /// This schedule preceded by a linear warm-up (see `LinearWarmup`).
    public func withWarmup(steps: Int, startFactor: Float = 0.01,
                           composition: LinearWarmup.Composition = .sequential) -> LinearWarmup {
        LinearWarmup(self, warmupSteps: steps, startFactor: startFactor, composition: composition)
    }

    /// This epoch schedule indexed by iteration (see `EpochwiseSchedule`).
    public func perEpoch(iterationsPerEpoch: Int) -> EpochwiseSchedule {
        EpochwiseSchedule(self, iterationsPerEpoch: iterationsPerEpoch)
    }
}
