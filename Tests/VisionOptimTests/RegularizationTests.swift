import Foundation
import TestSupport
import VisionCore
import VisionNN
import VisionOptim
import XCTest

final class RegularizationTests: XCTestCase {
    // MARK: Penalties

    func testPenaltyValuesAndGradients() {
        let a = Tensor([1, -2, 0.5], shape: [3])
        let b = Tensor([3, -0.25, 1, 2], shape: [2, 2])
        XCTAssertEqual(l1Penalty([a, b], coefficient: 0.1).item, 0.1 * (3.5 + 6.25), accuracy: 1e-6)
        XCTAssertEqual(l2Penalty([a, b], coefficient: 0.1).item, 0.05 * (5.25 + 14.0625), accuracy: 1e-6)
        XCTAssertEqual(l2Penalty([]).item, 0)
        checkGradients([a, b]) { t in l1Penalty(t, coefficient: 0.3) }
        checkGradients([a, b]) { t in l2Penalty(t, coefficient: 0.3) }
        checkGradients([a, b]) { t in l2Penalty([t[0]]) * l1Penalty([t[1]]) + t[0].sum() }
    }

    func testPenaltyOverChosenGroupsOnlyTouchesThoseParameters() {
        let decayed = Tensor([2, -1], shape: [2], requiresGrad: true)
        let skipped = Tensor([5], shape: [1], requiresGrad: true)
        let groups = [ParameterGroup([decayed]), ParameterGroup([skipped], weightDecay: 0)]
        let penalty = l2Penalty(groups: Array(groups.prefix(1)), coefficient: 0.5) + l1Penalty(groups: Array(groups.prefix(1)))
        penalty.backward()
        XCTAssertEqual(penalty.item, 0.25 * 5 + 3, accuracy: 1e-6)
        assertClose(decayed.grad!.storage, [0.5 * 2 + 1, 0.5 * -1 - 1])
        XCTAssertNil(skipped.grad)
    }

    /// With SGD, an L2 penalty with coefficient λ gives exactly the update of weight decay λ.
    func testL2PenaltyMatchesSGDWeightDecay() {
        let x = Tensor([1, 2, 3], shape: [3])
        let viaPenalty = Tensor([0.5, -1, 2], shape: [3], requiresGrad: true)
        let viaDecay = Tensor([0.5, -1, 2], shape: [3], requiresGrad: true)
        let sgdPenalty = SGD([ParameterGroup([viaPenalty])], learningRate: 0.1, momentum: 0.9)
        let sgdDecay = SGD([ParameterGroup([viaDecay])], learningRate: 0.1, momentum: 0.9, weightDecay: 0.3)
        for _ in 0..<5 {
            sgdPenalty.zeroGrad()
            ((viaPenalty * x).sum().square() + l2Penalty([viaPenalty], coefficient: 0.3)).backward()
            sgdPenalty.step()
            sgdDecay.zeroGrad()
            (viaDecay * x).sum().square().backward()
            sgdDecay.step()
        }
        assertClose(viaPenalty.storage, viaDecay.storage, rtol: 1e-5, atol: 1e-6)
    }

    // MARK: Clipping

    func testClipGradientNormScalesAllGradientsTogether() {
        let a = Tensor.zeros([2], requiresGrad: true)
        let b = Tensor.zeros([1], requiresGrad: true)
        let untouched = Tensor.zeros([1], requiresGrad: true)
        a.grad = Tensor([3, 4], shape: [2])
        b.grad = Tensor([12], shape: [1])
        let norm = clipGradientNorm([a, b, untouched], maxNorm: 6.5)
        XCTAssertEqual(norm, 13, accuracy: 1e-5)
        assertClose(a.grad!.storage + b.grad!.storage, [1.5, 2, 6], rtol: 1e-5, atol: 1e-6)
        XCTAssertNil(untouched.grad)
        // Below the limit nothing changes; the returned norm is still reported.
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 100), 6.5, accuracy: 1e-5)
        assertClose(a.grad!.storage, [1.5, 2], rtol: 1e-5, atol: 1e-6)
        // Infinity norm: the largest magnitude.
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 3, normType: .infinity), 6, accuracy: 1e-6)
        assertClose(b.grad!.storage, [3], rtol: 1e-5, atol: 1e-6)
        // 1-norm.
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 100, normType: 1), 0.75 + 1 + 3, accuracy: 1e-5)
    }

    func testClipGradientValuesClamps() {
        let a = Tensor.zeros([4], requiresGrad: true)
        a.grad = Tensor([-3, -0.5, 0.2, 9], shape: [4])
        clipGradientValues([a, Tensor.zeros([1])], limit: 1)
        XCTAssertEqual(a.grad!.storage, [-1, -0.5, 0.2, 1])
    }

    // MARK: EMA

    func testEMAAveragesSwapsInAndBack() throws {
        let model = TinyLinear(inFeatures: 1, outFeatures: 2, seed: 2)
        model.weight.storage = [0, 0]
        model.bias.storage = [0, 0]
        let ema = ExponentialMovingAverage(model, decay: 0.5)
        XCTAssertEqual(ema.tracked.map(\.name), ["weight", "bias", "running_mean"], "num_batches_tracked is not averaged")
        model.weight.storage = [1, 2]
        model.runningMean.storage = [4, 4]
        ema.update()
        ema.update()
        // s = 0 → 0.5·θ → 0.75·θ
        ema.withAveragedWeights {
            XCTAssertEqual(model.weight.storage, [0.75, 1.5])
            XCTAssertEqual(model.runningMean.storage, [3, 3], "buffers are averaged by default")
            XCTAssertTrue(ema.isSwappedIn)
        }
        XCTAssertEqual(model.weight.storage, [1, 2], "live weights restored")
        XCTAssertEqual(model.runningMean.storage, [4, 4])
        XCTAssertFalse(ema.isSwappedIn)

        let saved = Dictionary(uniqueKeysWithValues: ema.stateDict().map { ($0.name, $0.tensor) })
        XCTAssertEqual(saved["weight"]?.storage, [0.75, 1.5])
        let restored = ExponentialMovingAverage(model, decay: 0.5)
        try restored.loadStateDict(saved)
        XCTAssertEqual(restored.updateCount, 2)
        restored.swapIn()
        XCTAssertEqual(model.weight.storage, [0.75, 1.5])
        restored.swapBack()
        XCTAssertThrowsError(try restored.loadStateDict(["weight": Tensor.zeros([1, 2])])) { error in
            XCTAssertTrue("\(error)".contains("bias") || "\(error)".contains("weight"), "\(error)")
        }

        ema.copyToModel()
        XCTAssertEqual(model.weight.storage, [0.75, 1.5])
    }

    func testEMAKeepLiveBuffersAndWarmupDecay() {
        let model = TinyLinear(inFeatures: 1, outFeatures: 1, seed: 3)
        let ema = ExponentialMovingAverage(model, decay: 0.999, warmup: true, buffers: .keepLive)
        XCTAssertEqual(ema.tracked.map(\.name), ["weight", "bias"])
        XCTAssertEqual(ema.currentDecay, 0.1, accuracy: 1e-7, "(1 + 0)/(10 + 0)")
        model.bias.storage = [1]
        ema.update()
        XCTAssertEqual(ema.currentDecay, 2.0 / 11, accuracy: 1e-7)
        ema.swapIn()
        XCTAssertEqual(model.bias.storage[0], 0.9, accuracy: 1e-6)
        ema.swapBack()
    }

    // MARK: Early stopping

    func testEarlyStoppingMinModeWithMinDelta() throws {
        var stopper = EarlyStopping(mode: .min, patience: 2, minDelta: 0.005)
        XCTAssertFalse(stopper.shouldStop)
        XCTAssertTrue(stopper.update(1.0))
        XCTAssertTrue(stopper.update(0.9))
        XCTAssertFalse(stopper.update(0.899), "an improvement smaller than minDelta does not count")
        XCTAssertFalse(stopper.shouldStop)
        XCTAssertFalse(stopper.update(.nan))
        XCTAssertTrue(stopper.shouldStop)
        XCTAssertEqual(stopper.best, 0.9)
        XCTAssertEqual(stopper.bestIndex, 1)

        let decoded = try JSONDecoder().decode(EarlyStopping.self, from: JSONEncoder().encode(stopper))
        XCTAssertEqual(decoded, stopper)
    }

    func testEarlyStoppingMaxModeResetsPatienceOnImprovement() {
        var stopper = EarlyStopping(mode: .max, patience: 2)
        for value: Float in [0.5, 0.4, 0.6, 0.6, 0.55] { stopper.update(value) }
        XCTAssertEqual(stopper.best, 0.6)
        XCTAssertEqual(stopper.evaluationsWithoutImprovement, 2)
        XCTAssertTrue(stopper.shouldStop)
        var patient = EarlyStopping(mode: .max, patience: 3)
        for value: Float in [0.5, 0.4, 0.6, 0.59] { patient.update(value) }
        XCTAssertFalse(patient.shouldStop)
    }

    // MARK: LR range test

    /// f(w) = ½ Σ aᵢ wᵢ² with curvatures up to 8: SGD diverges once lr > 2/8.
    func testLRRangeTestStopsOnDivergenceAndSuggestsASensibleRate() throws {
        let curvature = Tensor([1, 2, 4, 8], shape: [4])
        let w = Tensor.ones([4], requiresGrad: true)
        let snapshot = ParameterSnapshot([w])
        let optimizer = SGD([ParameterGroup([w])], learningRate: 0)
        let result = lrRangeTest(startLR: 1e-5, endLR: 10, steps: 100) { rate in
            optimizer.learningRate = rate
            optimizer.zeroGrad()
            let loss = (curvature * w.square()).sum() * 0.5
            loss.backward()
            optimizer.step()
            return loss.item
        }
        XCTAssertTrue(result.diverged)
        XCTAssertLessThan(result.points.count, 100)
        XCTAssertLessThan(result.points.last!.learningRate, 5, "the loss explodes well before endLR")
        XCTAssertGreaterThan(result.points.last!.learningRate, 0.25, "and not before the stability limit 2/8")
        XCTAssertTrue(zip(result.points, result.points.dropFirst()).allSatisfy { $0.learningRate < $1.learningRate })
        let suggestion = try XCTUnwrap(result.suggestion)
        XCTAssertGreaterThan(suggestion, 1e-3)
        XCTAssertLessThan(suggestion, 0.25)
        XCTAssertNotNil(result.minimumLossLearningRate)
        snapshot.restore()
        XCTAssertEqual(w.storage, [1, 1, 1, 1])
        XCTAssertNil(w.grad)
    }

    func testLRRangeTestRunsToTheEndWithoutDivergenceAndStopsOnNaN() {
        let calm = lrRangeTest(startLR: 1e-3, endLR: 1, steps: 10) { rate in 1 / (1 + rate) }
        XCTAssertFalse(calm.diverged)
        XCTAssertEqual(calm.points.count, 10)
        XCTAssertEqual(calm.points.first!.learningRate, 1e-3, accuracy: 1e-9)
        XCTAssertEqual(calm.points.last!.learningRate, 1, accuracy: 1e-6)
        XCTAssertEqual(calm.points.first!.smoothedLoss, calm.points.first!.loss, accuracy: 1e-6, "bias-corrected")

        var calls = 0
        let broken = lrRangeTest(startLR: 1e-3, endLR: 1, steps: 10) { _ in
            calls += 1
            return calls == 4 ? .nan : 1
        }
        XCTAssertTrue(broken.diverged)
        XCTAssertEqual(broken.points.count, 3)
    }

    /// A loss that never falls (one class: always 0; or rising throughout) gives no suggestion rather
    /// than the rate of the least steep rise.
    func testLRRangeTestSuggestsNothingWhenTheLossNeverFalls() {
        XCTAssertNil(lrRangeTest(startLR: 1e-3, endLR: 1, steps: 10) { _ in 0 }.suggestion)
        XCTAssertNil(lrRangeTest(startLR: 1e-3, endLR: 1, steps: 10, divergeFactor: 1e6) { rate in 1 + rate }.suggestion)
        XCTAssertNotNil(lrRangeTest(startLR: 1e-3, endLR: 1, steps: 10) { rate in 1 / (1 + rate) }.suggestion)
    }
}
