import TestSupport
import VisionCore
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
}
