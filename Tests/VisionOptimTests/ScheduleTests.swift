import TestSupport
import VisionCore
import VisionOptim
import XCTest

/// Hand-computed values for every schedule; PyTorch parity is checked by `ReferenceTrajectoryTests`.
final class ScheduleTests: XCTestCase {
    private func check(_ schedule: LRSchedule, _ expected: [Float], _ message: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        assertClose(schedule.learningRates(count: expected.count), expected, rtol: 1e-6, atol: 1e-7, message,
                    file: file, line: line)
    }

    func testStepMultiStepExponentialAndLinear() {
        check(StepLR(baseLR: 1, stepSize: 3, gamma: 0.5), [1, 1, 1, 0.5, 0.5, 0.5, 0.25], "step")
        check(MultiStepLR(baseLR: 1, milestones: [2, 5], gamma: 0.1), [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01], "multi-step")
        check(ExponentialLR(baseLR: 2, gamma: 0.5), [2, 1, 0.5, 0.25], "exponential")
        // PyTorch defaults: factor 1/3 → 1 over 5 steps, then constant.
        check(LinearLR(baseLR: 0.3), [0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3], "linear")
        check(LinearLR(baseLR: 1, startFactor: 1, endFactor: 0.5, totalSteps: 2), [1, 0.75, 0.5, 0.5], "linear decay")
        check(ConstantLR(baseLR: 0.2), [0.2, 0.2], "constant")
    }

    func testCosineAnnealingAndWarmRestarts() {
        // (1 + cos(πk/4))/2 for k = 0…5: past the period the cosine rises again, as in PyTorch.
        check(CosineAnnealingLR(baseLR: 1, period: 4), [1, 0.8535534, 0.5, 0.1464466, 0, 0.1464466], "cosine")
        check(CosineAnnealingLR(baseLR: 1.1, period: 2, minLR: 0.1), [1.1, 0.6, 0.1], "cosine with floor")
        check(CosineAnnealingWarmRestarts(baseLR: 1, firstPeriod: 2), [1, 0.5, 1, 0.5, 1], "restarts every 2")
        // Cycles of 1, 3, 9 steps.
        let growing = CosineAnnealingWarmRestarts(baseLR: 1, firstPeriod: 1, periodMultiplier: 3)
        check(growing, [1, 1, 0.75, 0.25, 1], "restarts with T_mult 3")
        XCTAssertEqual(growing.cyclePosition(at: 12).position, 8)
        XCTAssertEqual(growing.cyclePosition(at: 12).length, 9)
    }

    func testCyclicModes() {
        let triangular = CyclicLR(baseLR: 0, maxLR: 1, stepSizeUp: 2)
        check(triangular, [0, 0.5, 1, 0.5, 0, 0.5, 1], "triangular")
        check(CyclicLR(baseLR: 0, maxLR: 1, stepSizeUp: 2, mode: .triangular2), [0, 0.5, 1, 0.5, 0, 0.25, 0.5, 0.25, 0],
              "triangular2 halves the amplitude each cycle")
        check(CyclicLR(baseLR: 0, maxLR: 1, stepSizeUp: 2, mode: .exponentialRange(gamma: 0.5)), [0, 0.25, 0.25, 0.0625],
              "exp_range scales by γ^step")
        check(CyclicLR(baseLR: 0, maxLR: 1, stepSizeUp: 1, stepSizeDown: 3), [0, 1, 2.0 / 3, 1.0 / 3, 0], "asymmetric")
    }

    func testOneCycle() {
        // Three phases, linear: 0.1 → 1 by step 2, back to 0.1 by step 4, down to 0.01 by step 9.
        let threePhase = OneCycleLR(maxLR: 1, totalSteps: 10, pctStart: 0.3, annealing: .linear, divFactor: 10,
                                    finalDivFactor: 10, threePhase: true)
        check(threePhase, [0.1, 0.55, 1, 0.55, 0.1, 0.082, 0.064, 0.046, 0.028, 0.01], "three-phase linear")
        XCTAssertEqual(threePhase.learningRate(at: 50), 0.01, accuracy: 1e-8, "past the end holds the final rate")
        // Two phases, cosine: peak at step pct·total − 1 = 3.
        let twoPhase = OneCycleLR(maxLR: 1, totalSteps: 10, pctStart: 0.4, divFactor: 4, finalDivFactor: 100)
        XCTAssertEqual(twoPhase.learningRate(at: 0), 0.25, accuracy: 1e-7)
        XCTAssertEqual(twoPhase.learningRate(at: 3), 1, accuracy: 1e-7)
        XCTAssertEqual(twoPhase.learningRate(at: 9), 0.0025, accuracy: 1e-8)
        XCTAssertEqual(twoPhase.learningRate(at: 6), 0.0025 + (1 - 0.0025) * 0.5, accuracy: 1e-6, "half-way down")
    }

    /// The options `../shared/reference/optim.json` has no case for, against torch 2.15's schedulers stepped once
    /// per optimizer step (`opt.param_groups[0]["lr"]` before each `step()`; cycle_momentum off).
    func testSchedulesOnTheirOtherOptionsMatchPyTorch() {
        // MultiStepLR(milestones=[2, 5], gamma=0.1), lr 0.3; ExponentialLR(gamma=0.7), lr 0.3
        check(MultiStepLR(baseLR: 0.3, milestones: [2, 5], gamma: 0.1), [0.3, 0.3, 0.03, 0.03, 0.03, 0.003, 0.003, 0.003], "multi-step")
        check(ExponentialLR(baseLR: 0.3, gamma: 0.7), [0.3, 0.21, 0.147, 0.1029, 0.07203, 0.050421], "exponential")
        // CyclicLR(base_lr=0.05, max_lr=0.45, step_size_up=3, mode="exp_range", gamma=0.9)
        check(CyclicLR(baseLR: 0.05, maxLR: 0.45, stepSizeUp: 3, mode: .exponentialRange(gamma: 0.9)),
              [0.05, 0.17, 0.266, 0.3416, 0.22496, 0.128732, 0.05, 0.11377292, 0.164791256, 0.2049681956], "exp_range")
        // CyclicLR(base_lr=0.05, max_lr=0.45, step_size_up=2, step_size_down=5)
        check(CyclicLR(baseLR: 0.05, maxLR: 0.45, stepSizeUp: 2, stepSizeDown: 5),
              [0.05, 0.25, 0.45, 0.37, 0.29, 0.21, 0.13, 0.05, 0.25, 0.45, 0.37, 0.29], "asymmetric triangle")
        // OneCycleLR(max_lr=0.8, total_steps=13, pct_start=0.25, div_factor=8, final_div_factor=20, three_phase=True),
        // linear and cosine annealing: the phase ends fall between steps (float(pct·total) − 1 = 2.25).
        check(OneCycleLR(maxLR: 0.8, totalSteps: 13, pctStart: 0.25, annealing: .linear, divFactor: 8, finalDivFactor: 20, threePhase: true),
              [0.1, 0.41111111, 0.72222222, 0.56666667, 0.25555556, 0.093666667, 0.081, 0.068333333, 0.055666667,
               0.043, 0.030333333, 0.017666667, 0.005], "one-cycle three-phase linear")
        check(OneCycleLR(maxLR: 0.8, totalSteps: 13, pctStart: 0.25, divFactor: 8, finalDivFactor: 20, threePhase: true),
              [0.1, 0.38922314, 0.77889242, 0.625, 0.18188444, 0.098962011, 0.090928307, 0.07625, 0.057465102,
               0.037821693, 0.020716296, 0.0091065908, 0.005], "one-cycle three-phase cosine")
        // OneCycleLR(max_lr=0.8, total_steps=11, pct_start=0.35, anneal_strategy="linear", div_factor=8, final_div_factor=20)
        check(OneCycleLR(maxLR: 0.8, totalSteps: 11, pctStart: 0.35, annealing: .linear, divFactor: 8, finalDivFactor: 20),
              [0.1, 0.34561404, 0.59122807, 0.78332168, 0.67213287, 0.56094406, 0.44975524, 0.33856643, 0.22737762,
               0.11618881, 0.005], "one-cycle linear")
    }

    func testLinearWarmupComposesSequentiallyOrMultiplicatively() {
        let inner = StepLR(baseLR: 1, stepSize: 2, gamma: 0.5)
        check(inner.withWarmup(steps: 4, startFactor: 0.2), [0.2, 0.4, 0.6, 0.8, 1, 1, 0.5], "sequential warm-up")
        check(inner.withWarmup(steps: 4, startFactor: 0.2, composition: .multiplicative), [0.2, 0.4, 0.3, 0.4, 0.25],
              "multiplicative warm-up")
        check(CosineAnnealingLR(baseLR: 1, period: 2).withWarmup(steps: 0), [1, 0.5, 0], "no warm-up")
    }

    func testPerEpochScheduleAndApply() {
        let schedule = StepLR(baseLR: 1, stepSize: 1, gamma: 0.5).perEpoch(iterationsPerEpoch: 3)
        check(schedule, [1, 1, 1, 0.5, 0.5, 0.5, 0.25], "per-epoch")
        let w = Tensor.zeros([1], requiresGrad: true)
        let optimizer = SGD([ParameterGroup([w], learningRateScale: 0.1)], learningRate: 9)
        XCTAssertEqual(schedule.apply(to: optimizer, step: 4), 0.5)
        XCTAssertEqual(optimizer.learningRate, 0.5)
        XCTAssertEqual(optimizer.learningRate(ofGroup: 0), 0.05, accuracy: 1e-9)
    }
}
