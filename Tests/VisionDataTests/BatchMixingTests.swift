import TestSupport
import VisionCore
import VisionData
import XCTest

/// MixUp and CutMix against their definitions (torchvision.transforms.v2 semantics).
final class BatchMixingTests: XCTestCase {
    let (n, c, h, w, classes) = (4, 2, 6, 5, 3)
    let labels = [0, 2, 1, 2]

    /// Sample i, channel k, pixel p holds (i + 1)·1000 + k·100 + p: every value says where it came from.
    var images: Tensor {
        var values: [Float] = []
        for i in 0..<n { for k in 0..<c { for p in 0..<(h * w) { values.append(Float((i + 1) * 1000 + k * 100 + p)) } } }
        return Tensor(values, shape: [n, c, h, w])
    }

    func assertTargets(_ mixed: BatchMixing.Mixed, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(mixed.targets.shape, [n, classes], file: file, line: line)
        for i in 0..<n {
            var expected = [Float](repeating: 0, count: classes)
            expected[labels[i]] += mixed.lambda
            expected[labels[(i + n - 1) % n]] += 1 - mixed.lambda
            assertClose(Array(mixed.targets.storage[(i * classes)..<((i + 1) * classes)]), expected, rtol: 0, atol: 1e-6,
                        "targets of sample \(i)", file: file, line: line)
        }
    }

    func testMixUpBlendsEachImageWithItsNeighbourRolledByOne() {
        let x = images
        var g = SeededGenerator(seed: 1)
        var blended = 0
        for _ in 0..<20 {
            let mixed = BatchMixing(mixupAlpha: 0.4).apply(images: x, labels: labels, classes: classes, generator: &g)
            XCTAssertEqual(mixed.kind, .mixup)
            XCTAssertTrue((0...1).contains(mixed.lambda))
            let l = mixed.lambda
            var expected: [Float] = []
            let sample = c * h * w
            for i in 0..<n {
                let partner = (i + n - 1) % n
                for k in 0..<sample { expected.append(l * x.storage[i * sample + k] + (1 - l) * x.storage[partner * sample + k]) }
            }
            assertClose(mixed.images.storage, expected, rtol: 1e-6, atol: 1e-3)
            XCTAssertEqual(mixed.images.shape, x.shape)
            assertTargets(mixed)
            if (0.05...0.95).contains(mixed.lambda) {
                blended += 1
                XCTAssertGreaterThan(abs(mixed.images.storage[0] - x.storage[0]), 10, "the first image takes in the last one")
            }
        }
        // Beta(0.4, 0.4) puts about 60 % of its mass in [0.05, 0.95]: λ is drawn, not fixed at 1.
        XCTAssertGreaterThan(blended, 5)
    }

    func testCutMixPastesOneBoxFromTheNeighbourAndWeighsLabelsByArea() {
        let x = images
        var g = SeededGenerator(seed: 2)
        var sawPartialBox = false
        for _ in 0..<50 {
            let mixed = BatchMixing(cutmixAlpha: 1.0).apply(images: x, labels: labels, classes: classes, generator: &g)
            XCTAssertEqual(mixed.kind, .cutmix)
            var boxes: Set<[Int]> = []
            for i in 0..<n {
                let partner = (i + n - 1) % n
                for k in 0..<c {
                    var pasted: [Int] = []
                    for p in 0..<(h * w) {
                        let value = Int(mixed.images.storage[(i * c + k) * h * w + p])
                        let own = (i + 1) * 1000 + k * 100 + p, other = (partner + 1) * 1000 + k * 100 + p
                        XCTAssertTrue(value == own || value == other, "pixel \(p) of sample \(i) came from neither image")
                        if value == other { pasted.append(p) }
                    }
                    // The pasted pixels form a rectangle.
                    if let first = pasted.first, let last = pasted.last {
                        let (y0, x0, y1, x1) = (first / w, first % w, last / w, last % w)
                        XCTAssertEqual(pasted.count, (y1 - y0 + 1) * (x1 - x0 + 1), "pasted pixels form a box")
                    }
                    boxes.insert(pasted)
                    XCTAssertEqual(mixed.lambda, 1 - Float(pasted.count) / Float(h * w), accuracy: 1e-6, "λ is the uncovered share")
                }
            }
            XCTAssertEqual(boxes.count, 1, "one box for every image and channel")
            if let box = boxes.first, !box.isEmpty, box.count < h * w { sawPartialBox = true }
            assertTargets(mixed)
        }
        XCTAssertTrue(sawPartialBox)
    }

    func testBothTogetherPickOneAtRandomAndAreReproducible() {
        let x = images
        let mixing = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1.0)
        var kinds: [BatchMixing.Kind: Int] = [:]
        for step in 0..<200 {
            var g = BatchMixing.generator(seed: 9, step: step)
            let mixed = mixing.apply(images: x, labels: labels, classes: classes, generator: &g)
            kinds[mixed.kind, default: 0] += 1
            var again = BatchMixing.generator(seed: 9, step: step)
            let repeated = mixing.apply(images: x, labels: labels, classes: classes, generator: &again)
            XCTAssertEqual(repeated.images.storage, mixed.images.storage)
            XCTAssertEqual(repeated.lambda, mixed.lambda)
        }
        XCTAssertGreaterThan(kinds[.mixup, default: 0], 70)
        XCTAssertGreaterThan(kinds[.cutmix, default: 0], 70)
        var a = BatchMixing.generator(seed: 9, step: 0), b = BatchMixing.generator(seed: 9, step: 1)
        XCTAssertNotEqual(a.next(), b.next(), "each step draws its own λ")
        XCTAssertFalse(BatchMixing().isEnabled)
    }
}
