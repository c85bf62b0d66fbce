import Foundation
import TestSupport
import VisionCore
import VisionNN
import VisionTools
import XCTest

final class MetricsTests: XCTestCase {
    func testConfusionMatrixMetricsByHand() {
        var m = ConfusionMatrix(classes: 3)
        // truth:      0 0 0 1 1 2
        // prediction: 0 0 1 1 2 2
        m.add(predictions: [0, 0, 1, 1, 2, 2], targets: [0, 0, 0, 1, 1, 2])
        XCTAssertEqual(m.total, 6)
        XCTAssertEqual(m.accuracy, 4.0 / 6.0, accuracy: 1e-12)
        XCTAssertEqual(m.perClassAccuracy.map { $0! }, [2.0 / 3, 0.5, 1.0])
        // class 0: TP 2, FN 1, FP 0 → IoU 2/3, Dice 4/5; class 1: TP 1, FN 1, FP 1 → 1/3, 1/2; class 2: TP 1, FP 1 → 1/2, 2/3
        let iou = m.intersectionOverUnion.map { $0! }, dice = m.dice.map { $0! }
        for (a, b) in zip(iou, [2.0 / 3, 1.0 / 3, 0.5]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        for (a, b) in zip(dice, [0.8, 0.5, 2.0 / 3]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        m.add(predictions: [1], targets: [255], ignoreIndex: 255)
        XCTAssertEqual(m.total, 6, "ignored targets are not counted")
    }

    func testTopKCountsTargetsAmongTheLargestLogits() {
        let logits = Tensor([0.1, 0.5, 0.4, 0.9, 0.0, 0.2], shape: [2, 3])
        XCTAssertEqual(Metrics.topKCorrect(logits, targets: [2, 2], k: 1), 0)
        XCTAssertEqual(Metrics.topKCorrect(logits, targets: [2, 2], k: 2), 2)
        XCTAssertEqual(Metrics.predictions(logits), [1, 0])
    }

    /// Test-time flips average the two softmax outputs; a segmentation output is mirrored back first, so a model
    /// that commutes with mirroring (a left–right symmetric kernel) scores exactly as without flips.
    func testFlipAveragingMirrorsSegmentationBackAndAveragesProbabilities() {
        var g = SeededGenerator(seed: 18)
        let images = Tensor.normal([2, 1, 3, 4], generator: &g)
        let symmetric = Conv2d(1, 2, kernelSize: (1, 3), padding: (0, 1), generator: &g)
        symmetric.weight.storage = [0.5, -1, 0.5, 2, 0.25, 2]
        let plain = Autograd.noGrad { symmetric(images).logSoftmax(axis: 1) }
        assertClose(Autograd.noGrad { Evaluator.flipAveraged(symmetric, images, task: .segmentation) }.storage, plain.storage,
                    rtol: 1e-5, atol: 1e-6)
        // Classification: log of the mean of softmax(model(x)) and softmax(model(mirror of x)).
        let classifier = Sequential(Flatten(), Linear(12, 3, generator: &g))
        let averaged = Autograd.noGrad { Evaluator.flipAveraged(classifier, images, task: .classification) }
        let a = Autograd.noGrad { classifier(images).softmax(axis: 1) }.storage
        let b = Autograd.noGrad { classifier(images.flip(axes: [3])).softmax(axis: 1) }.storage
        assertClose(averaged.storage, zip(a, b).map { Foundation.log(($0 + $1) / 2) }, rtol: 1e-5, atol: 1e-6)
        assertClose(averaged.exp().sum(axis: 1).storage, [1, 1], rtol: 0, atol: 1e-5)
        // Where one prediction gives a class no probability at all, the mean keeps the other's half of it:
        // log((1 + 0)/2), not a log of 0.
        let certain = Tensor([200, 0], shape: [1, 2]), opposite = Tensor([0, 200], shape: [1, 2])
        assertClose(Evaluator.averagedSoftmax(certain, opposite).storage, [Foundation.log(0.5), Foundation.log(0.5)], rtol: 1e-6, atol: 1e-6)
        // A class both predictions give a probability below Float's range keeps its log-probability (≈ −400), not a
        // clamp at log(leastNormalMagnitude) ≈ −87.3.
        let sure = Tensor([200, 0, -200], shape: [1, 3])
        let both = Evaluator.averagedSoftmax(sure, sure).storage
        XCTAssertEqual(both[2], -400, accuracy: 1e-3)
        XCTAssertEqual(both[0], 0, accuracy: 1e-6)
    }
}
