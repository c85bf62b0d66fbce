import Foundation
import TestSupport
import VisionCore
import XCTest

final class LossTests: XCTestCase {
    // MARK: Cross-entropy

    func testCrossEntropyOfATwoClassExample() {
        // logits [1, 2]: −log p₁ = log(1 + e⁻¹), −log p₀ = log(1 + e).
        let logits = Tensor([1, 2, 1, 2], shape: [2, 2], requiresGrad: true)
        let loss = crossEntropy(logits, targets: [1, 0])
        let l1 = Foundation.log(1 + Foundation.exp(-1.0)), l0 = Foundation.log(1 + Foundation.exp(1.0))
        XCTAssertEqual(Double(loss.item), (l0 + l1) / 2, accuracy: 1e-6)
        loss.backward()
        // (softmax − one-hot) / N
        let p1 = Float(1 / (1 + Foundation.exp(-1.0)))
        assertClose(logits.grad!.storage, [(1 - p1) / 2, (p1 - 1) / 2, (1 - p1 - 1) / 2, p1 / 2], rtol: 1e-5, atol: 1e-6)
    }

    func testCrossEntropyLabelSmoothingMatchesItsDefinition() {
        // (1 − ε)·nll + ε·mean_c(−log p_c) with ε = 0.2, target 1.
        let logits = Tensor([1, 2], shape: [1, 2])
        let l1 = Foundation.log(1 + Foundation.exp(-1.0)), l0 = Foundation.log(1 + Foundation.exp(1.0))
        let loss = crossEntropy(logits, targets: [1], labelSmoothing: 0.2)
        XCTAssertEqual(Double(loss.item), 0.8 * l1 + 0.2 * (l0 + l1) / 2, accuracy: 1e-6)
    }

    func testCrossEntropyIgnoreIndexAndClassWeights() {
        var g = SeededGenerator(seed: 31)
        let logits = Tensor.normal([4, 3], generator: &g)
        let perSample = (0..<4).map { i in crossEntropy(logits.select(rows: [i]), targets: [[2, 0, 1, 2][i]]).item }
        // Ignored rows leave the mean.
        let ignored = crossEntropy(logits, targets: [2, -100, 1, -100], ignoreIndex: -100)
        XCTAssertEqual(ignored.item, (perSample[0] + perSample[2]) / 2, accuracy: 1e-5)
        // Class weights give a weighted mean over the targets' weights.
        let weights: [Float] = [0.5, 2, 1]
        let weighted = crossEntropy(logits, targets: [2, 0, 1, 2], classWeights: weights)
        let expected = (1 * perSample[0] + 0.5 * perSample[1] + 2 * perSample[2] + 1 * perSample[3]) / (1 + 0.5 + 2 + 1)
        XCTAssertEqual(weighted.item, expected, accuracy: 1e-5)
    }

    func testCrossEntropyWithEveryPositionIgnoredIsZeroWithZeroGradient() {
        let logits = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        let loss = crossEntropy(logits, targets: [255, 255], labelSmoothing: 0.1, ignoreIndex: 255)
        XCTAssertEqual(loss.item, 0)
        loss.backward()
        XCTAssertEqual(logits.grad!.storage, [0, 0, 0, 0])
    }

    func testCrossEntropyOverPixelsEqualsCrossEntropyOverRows() {
        var g = SeededGenerator(seed: 32)
        let logits = Tensor.normal([2, 3, 2, 2], generator: &g)
        let targets = [0, 2, 1, 1, 2, 0, 0, 1]
        let rows = logits.permute([0, 2, 3, 1]).reshape([-1, 3])
        XCTAssertEqual(crossEntropy(logits, targets: targets, labelSmoothing: 0.1).item,
                       crossEntropy(rows, targets: targets, labelSmoothing: 0.1).item, accuracy: 1e-6)
    }

    func testCrossEntropyWithClassWeightsAndLabelSmoothingMatchesPyTorch() {
        let logits = Tensor([0.5, -1.2, 2.0, 0.3, 1.1, 0.0, -0.7, 0.9, -0.4, 1.6, 0.2, -1.5], shape: [3, 4], requiresGrad: true)
        let weights: [Float] = [0.5, 2.0, 1.0, 1.5]
        // torch 2.x: F.cross_entropy(logits, tensor([2, 0, 3]), weight=w, label_smoothing=0.1)
        let loss = crossEntropy(logits, targets: [2, 0, 3], labelSmoothing: 0.1, classWeights: weights)
        XCTAssertEqual(loss.item, 2.0324214, accuracy: 1e-5)
        loss.backward()
        // ... .backward(); logits.grad.flatten()
        assertClose(logits.grad!.storage, [0.048534427, -0.0070390459, -0.072143383, 0.030648002,
                                           -0.071441203, 0.010870246, 0.0053410917, 0.055229865,
                                           0.042463124, 0.32788348, 0.07663168, -0.44697827], rtol: 1e-4, atol: 1e-6)
        logits.zeroGrad()
        // torch 2.x: F.cross_entropy(logits, tensor([2, -100, 3]), weight=w, label_smoothing=0.1)  (ignore_index=-100)
        let ignored = crossEntropy(logits, targets: [2, -100, 3], labelSmoothing: 0.1, ignoreIndex: -100, classWeights: weights)
        XCTAssertEqual(ignored.item, 2.2026527, accuracy: 1e-5)
        ignored.backward()
        assertClose(logits.grad!.storage, [0.058241315, -0.0084468536, -0.086572066, 0.036777604,
                                           0, 0, 0, 0,
                                           0.050955743, 0.39346012, 0.091958009, -0.53637391], rtol: 1e-4, atol: 1e-6)
    }

    func testSpatialCrossEntropyWithClassWeightsAndLabelSmoothingMatchesPyTorch() {
        let logits = Tensor([0.3, -0.8, 1.2, 0.1, -1.1, 0.6, 0.0, 2.1, 0.9, -0.2, -1.4, 0.7,
                             1.5, 0.4, -0.6, -0.9, 0.2, 1.8, -0.3, 0.5, -1.0, 0.8, 1.1, -0.5], shape: [2, 3, 2, 2])
        let weights: [Float] = [1.0, 0.5, 2.0]
        // torch 2.x: F.cross_entropy(logits, tensor([0, 2, 1, 1, 2, 0, 0, 1]).reshape(2, 2, 2),
        //                            weight=tensor([1.0, 0.5, 2.0]), label_smoothing=0.1)
        let loss = crossEntropy(logits, targets: [0, 2, 1, 1, 2, 0, 0, 1], labelSmoothing: 0.1, classWeights: weights)
        XCTAssertEqual(loss.item, 1.6966249, accuracy: 1e-5)
        // Same with target 255 at (n 0, h 1, w 0) and ignore_index=255.
        let ignored = crossEntropy(logits, targets: [0, 2, 255, 1, 2, 0, 0, 1], labelSmoothing: 0.1, ignoreIndex: 255,
                                   classWeights: weights)
        XCTAssertEqual(ignored.item, 1.6884159, accuracy: 1e-5)
    }

    func testCrossEntropyGradients() {
        var g = SeededGenerator(seed: 33)
        let logits = Tensor.normal([5, 4], generator: &g)
        checkGradients([logits]) { crossEntropy($0[0], targets: [3, 0, 1, 2, 1]) }
        checkGradients([logits]) { crossEntropy($0[0], targets: [3, 0, -1, 2, 1], labelSmoothing: 0.1, ignoreIndex: -1) }
        checkGradients([logits]) {
            crossEntropy($0[0], targets: [3, 0, 7, 2, 1], labelSmoothing: 0.2, ignoreIndex: 7, classWeights: [1, 0.5, 2, 1.5])
        }
        let pixels = Tensor.normal([2, 3, 2, 2], generator: &g)
        let targets = [0, 2, 255, 1, 2, 0, 0, 255]
        checkGradients([pixels]) { crossEntropy($0[0], targets: [0, 2, 1, 1, 2, 0, 0, 1]) }
        checkGradients([pixels]) { crossEntropy($0[0], targets: targets, labelSmoothing: 0.1, ignoreIndex: 255) }
        // Per-pixel logits with class weights (the spatial gradient loop weighs each position by its class).
        checkGradients([pixels]) { crossEntropy($0[0], targets: [0, 2, 1, 1, 2, 0, 0, 1], classWeights: [0.5, 2, 1.25]) }
        checkGradients([pixels]) {
            crossEntropy($0[0], targets: targets, labelSmoothing: 0.2, ignoreIndex: 255, classWeights: [0.5, 2, 1.25])
        }
    }

    func testCrossEntropyWithProbabilityTargetsMatchesPyTorch() {
        let logits = Tensor([0.5, -1.2, 2.0, 0.3, 1.1, 0.0, -0.7, 0.9, -0.4, 1.6, 0.2, -1.5], shape: [3, 4], requiresGrad: true)
        let q = Tensor([0.7, 0, 0.3, 0, 0, 0, 0, 1, 0.25, 0.25, 0.25, 0.25], shape: [3, 4])
        // torch 2.x: F.cross_entropy(logits, q, label_smoothing=0.1); loss.backward(); logits.grad.flatten()
        let loss = crossEntropy(logits, probabilities: q, labelSmoothing: 0.1)
        XCTAssertEqual(loss.item, 1.5174971, accuracy: 1e-5)
        loss.backward()
        assertClose(logits.grad!.storage, [-0.16691762, 0.0010594688, 0.13209587, 0.033762284,
                                           0.13553703, 0.039556954, 0.015448277, -0.19054225,
                                           -0.051719915, 0.15026, -0.02572993, -0.072810143], rtol: 1e-4, atol: 1e-6)
        // Over pixels: F.cross_entropy(x [1, 2, 2, 2], q [1, 2, 2, 2]) averages over the 4 positions.
        let pixels = Tensor([0.5, -1.2, 2.0, 0.3, 1.1, 0.0, -0.7, 0.9], shape: [1, 2, 2, 2], requiresGrad: true)
        let pixelTargets = Tensor([0.6, 1.0, 0.0, 0.5, 0.4, 0.0, 1.0, 0.5], shape: [1, 2, 2, 2])
        let pixelLoss = crossEntropy(pixels, probabilities: pixelTargets)
        XCTAssertEqual(pixelLoss.item, 1.4408256, accuracy: 1e-5)
        pixelLoss.backward()
        assertClose(pixels.grad!.storage, [-0.061414085, -0.19213119, 0.23425665, -0.036414079,
                                           0.06141407, 0.19213121, -0.23425667, 0.036414072], rtol: 1e-4, atol: 1e-6)
    }

    func testCrossEntropyWithOneHotProbabilitiesEqualsClassTargets() {
        var g = SeededGenerator(seed: 34)
        let logits = Tensor.normal([4, 5], generator: &g)
        let labels = [4, 0, 2, 2]
        var oneHot = [Float](repeating: 0, count: 20)
        for (n, c) in labels.enumerated() { oneHot[n * 5 + c] = 1 }
        let q = Tensor(oneHot, shape: [4, 5])
        XCTAssertEqual(crossEntropy(logits, probabilities: q, labelSmoothing: 0.1).item,
                       crossEntropy(logits, targets: labels, labelSmoothing: 0.1).item, accuracy: 1e-6)
        // A mixture of two one-hot targets is the same mixture of the two losses (what MixUp relies on).
        let partner = [1, 4, 0, 2]
        var mixed = [Float](repeating: 0, count: 20)
        for n in 0..<4 { mixed[n * 5 + labels[n]] += 0.3; mixed[n * 5 + partner[n]] += 0.7 }
        XCTAssertEqual(crossEntropy(logits, probabilities: Tensor(mixed, shape: [4, 5])).item,
                       0.3 * crossEntropy(logits, targets: labels).item + 0.7 * crossEntropy(logits, targets: partner).item,
                       accuracy: 1e-5)
    }

    func testCrossEntropyWithProbabilityTargetsGradients() {
        var g = SeededGenerator(seed: 35)
        let logits = Tensor.normal([3, 4], generator: &g)
        let q = Tensor([0.2, 0.8, 0, 0, 0, 0, 0.5, 0.5, 0.1, 0.2, 0.3, 0.4], shape: [3, 4])
        checkGradients([logits]) { crossEntropy($0[0], probabilities: q) }
        checkGradients([logits]) { crossEntropy($0[0], probabilities: q, labelSmoothing: 0.2) }
        let pixels = Tensor.normal([2, 3, 2, 1], generator: &g)
        let pixelTargets = Tensor([1, 0, 0.3, 0.5, 0, 0, 0.7, 0.5, 0, 1, 0, 0], shape: [2, 3, 2, 1])
        checkGradients([pixels]) { crossEntropy($0[0], probabilities: pixelTargets, labelSmoothing: 0.1) }
    }

    // MARK: Binary cross-entropy, regression losses

    func testBceWithLogitsValuesAndStability() {
        let logits = Tensor([0, 100, -100, 100], shape: [4], requiresGrad: true)
        let targets = Tensor([1, 1, 1, 0], shape: [4])
        // log 2, ≈0, 100, 100
        let loss = bceWithLogits(logits, targets: targets)
        XCTAssertTrue(loss.item.isFinite)
        XCTAssertEqual(loss.item, (Foundation.log(2) + 200) / 4, accuracy: 1e-4)
        loss.backward()
        XCTAssertTrue(logits.grad!.storage.allSatisfy(\.isFinite))
        assertClose(logits.grad!.storage, [-0.125, 0, -0.25, 0.25], rtol: 1e-6, atol: 1e-7)
    }

    func testBceWithLogitsGradients() {
        var g = SeededGenerator(seed: 34)
        let logits = Tensor.normal([3, 4], std: 2, generator: &g)
        let targets = Tensor.uniform([3, 4], generator: &g)
        checkGradients([logits, targets]) { bceWithLogits($0[0], targets: $0[1]) }
    }

    /// PyTorch 2.15 (float64): F.binary_cross_entropy_with_logits on [[1.5, −0.3, 4], [−2, 0.7, −25]] with targets
    /// [[1, 0, 0.25], [0, 1, 1]], per-class weight [0.5, 2, 1] and pos_weight [3, 0.5, 1.5] broadcast over the rows.
    func testBceWithLogitsWeightAndPosWeightMatchPyTorch() {
        let weight = Tensor([0.5, 2, 1], shape: [3]), posWeight = Tensor([3, 0.5, 1.5], shape: [3])
        let cases: [(Tensor?, Tensor?, Float, [Float], [Float])] = [
            (nil, posWeight, 7.001255797, [-0.0912127619, 0.0709262472, 0.1216275856, 0.0198671537, -0.027651019, -0.25],
             [-0.1828622407, -0.0211962704, -0.6651541727, 1.042309337, -0.1502655041, 6.25]),
            (weight, nil, 5.01623386, [-0.015202127, 0.1418524944, 0.1220022983, 0.0099335768, -0.1106040759, -0.1666666667],
             [-0.125, 0.1, -0.6666666667, 0.1666666667, -0.2333333333, 4.1666666667]),
            (weight, posWeight, 7.066316522, [-0.045606381, 0.1418524944, 0.1216275856, 0.0099335768, -0.055302038, -0.25],
             [-0.0914311203, -0.0423925407, -0.6651541727, 0.5211546685, -0.3005310081, 6.25]),
        ]
        for (k, (w, p, value, logitGradient, targetGradient)) in cases.enumerated() {
            let logits = Tensor([1.5, -0.3, 4, -2, 0.7, -25], shape: [2, 3], requiresGrad: true)
            let targets = Tensor([1, 0, 0.25, 0, 1, 1], shape: [2, 3], requiresGrad: true)
            let loss = bceWithLogits(logits, targets: targets, weight: w, posWeight: p)
            XCTAssertEqual(loss.item, value, accuracy: 1e-5, "case \(k)")
            loss.backward()
            assertClose(logits.grad?.storage ?? [], logitGradient, rtol: 1e-5, atol: 1e-7, "case \(k) logits")
            assertClose(targets.grad?.storage ?? [], targetGradient, rtol: 1e-5, atol: 1e-6, "case \(k) targets")
        }
        // Very negative logits with target 0: the gradient is σ(x)/n, not lost to 1 − (1 − σ(x)) (PyTorch: 9.36e-14/2 at −30).
        for (w, p) in [(nil, nil), (Tensor([2], shape: [1]), Tensor([3], shape: [1]))] as [(Tensor?, Tensor?)] {
            let far = Tensor([-30, -10], shape: [2], requiresGrad: true)
            bceWithLogits(far, targets: Tensor([0, 0], shape: [2]), weight: w, posWeight: p).backward()
            let scale: Float = w == nil ? 0.5 : 1
            assertClose(far.grad?.storage ?? [], [9.357623e-14 * scale, 4.5397868e-05 * scale], rtol: 1e-5, atol: 0)
        }
        // Weights broadcast over a [N, C, H, W] map per channel; a weight of ones changes nothing.
        var g = SeededGenerator(seed: 35)
        let logits = Tensor.normal([2, 3, 2, 2], std: 2, generator: &g)
        let targets = Tensor.uniform([2, 3, 2, 2], generator: &g)
        XCTAssertEqual(bceWithLogits(logits, targets: targets, weight: Tensor.full([3, 1, 1], 1)).item,
                       bceWithLogits(logits, targets: targets).item, accuracy: 1e-6)
        let perChannel = Tensor([3, 0.5, 1.5], shape: [3, 1, 1])
        checkGradients([logits, targets]) { bceWithLogits($0[0], targets: $0[1], weight: Tensor([0.5, 2, 1], shape: [3, 1, 1]), posWeight: perChannel) }
    }

    func testMseAndL1Values() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        let t = Tensor([1, 0, 4, 7], shape: [2, 2])
        XCTAssertEqual(mseLoss(x, t).item, (0 + 4 + 1 + 9) / 4)
        XCTAssertEqual(l1Loss(x, t).item, (0 + 2 + 1 + 3) / 4)
        l1Loss(x, t).backward()
        // sign(x − t)/n with 0 where x == t.
        XCTAssertEqual(x.grad!.storage, [0, 0.25, -0.25, -0.25])
    }

    func testMseAndL1Gradients() {
        var g = SeededGenerator(seed: 35)
        let x = Tensor.normal([2, 3], generator: &g)
        let target = Tensor(x.storage.enumerated().map { $0.element + ($0.offset.isMultiple(of: 2) ? 0.5 : -0.7) }, shape: [2, 3])
        checkGradients([x, target]) { mseLoss($0[0], $0[1]) }
        checkGradients([x, target]) { l1Loss($0[0], $0[1]) }
    }

    /// PyTorch 2.15 (float64) on d = x − t ≈ [−3, −1, −0.5, 0, 0.25, 1, 2, 0.5]: losses and input gradients on both
    /// pieces (they meet with equal value and slope at |d| = β or δ), β = 0 being the L1 loss.
    func testSmoothL1AndHuberMatchPyTorch() {
        let t = Tensor([0, 0, 0, 0, 0, 0, 0, 0.2], shape: [8])
        let cases: [(String, (Tensor) -> Tensor, Float, [Float])] = [
            ("smooth_l1 beta 1", { smoothL1Loss($0, t) }, 0.66015625, [-0.125, -0.125, -0.0625, 0, 0.03125, 0.125, 0.125, 0.0625]),
            ("smooth_l1 beta 0.5", { smoothL1Loss($0, t, beta: 0.5) }, 0.8203125, [-0.125, -0.125, -0.125, 0, 0.0625, 0.125, 0.125, 0.125]),
            ("smooth_l1 beta 0", { smoothL1Loss($0, t, beta: 0) }, 1.03125, [-0.125, -0.125, -0.125, 0, 0.125, 0.125, 0.125, 0.125]),
            ("huber delta 1", { huberLoss($0, t) }, 0.66015625, [-0.125, -0.125, -0.0625, 0, 0.03125, 0.125, 0.125, 0.0625]),
            ("huber delta 2", { huberLoss($0, t, delta: 2) }, 0.91015625, [-0.25, -0.125, -0.0625, 0, 0.03125, 0.125, 0.25, 0.0625]),
            ("huber delta 0.5", { huberLoss($0, t, delta: 0.5) }, 0.41015625, [-0.0625, -0.0625, -0.0625, 0, 0.03125, 0.0625, 0.0625, 0.0625]),
        ]
        for (name, loss, value, gradient) in cases {
            let x = Tensor([-3, -1, -0.5, 0, 0.25, 1, 2, 0.7], shape: [8], requiresGrad: true)
            let l = loss(x)
            XCTAssertEqual(l.item, value, accuracy: 1e-6, name)
            l.backward()
            assertClose(x.grad!.storage, gradient, rtol: 1e-5, atol: 1e-6, name)
        }
    }

    func testSmoothL1AndHuberGradients() {
        var g = SeededGenerator(seed: 36)
        let x = Tensor.normal([2, 5], generator: &g)
        // Differences kept away from the kinks at ±β and 0, where finite differences straddle two pieces.
        let target = Tensor(x.storage.enumerated().map { $0.element + [0.3, -1.7, 0.6, -0.2, 2.4][$0.offset % 5] }, shape: [2, 5])
        checkGradients([x, target]) { smoothL1Loss($0[0], $0[1]) }
        checkGradients([x, target]) { smoothL1Loss($0[0], $0[1], beta: 0.4) }
        checkGradients([x, target]) { huberLoss($0[0], $0[1], delta: 1.5) }
    }

    // MARK: Multi-class hinge

    func testMultiMarginMatchesPyTorchDocumentationExample() {
        // PyTorch's MultiMarginLoss example: ((1 − 0.7) + (1 − 0.6) + (1 − 0.4)) / 4 = 0.325.
        let x = Tensor([0.1, 0.2, 0.4, 0.8], shape: [1, 4], requiresGrad: true)
        let loss = multiMarginLoss(x, targets: [3])
        XCTAssertEqual(loss.item, 0.325, accuracy: 1e-6)
        XCTAssertEqual(svmHingeLoss(x, targets: [3]).item, 1.3, accuracy: 1e-6)
        loss.backward()
        assertClose(x.grad!.storage, [0.25, 0.25, 0.25, -0.75])
        // Margins already met contribute nothing.
        XCTAssertEqual(multiMarginLoss(Tensor([5, 0, 1], shape: [1, 3]), targets: [0]).item, 0)
    }

    func testMultiMarginGradients() {
        // Scores spaced so that no margin − x_y + x_j lies near 0.
        let x = Tensor([0.3, -1.2, 2.1, 0.9,
                        1.7, 0.2, -0.6, 1.1,
                        -0.4, 0.8, 0.5, -2.0], shape: [3, 4])
        checkGradients([x]) { multiMarginLoss($0[0], targets: [2, 0, 1], margin: 1) }
        checkGradients([x]) { svmHingeLoss($0[0], targets: [3, 1, 0], margin: 0.5) }
    }

    // MARK: Reductions

    /// PyTorch 2.15 (float64), `reduction='sum'` and `'none'` on the inputs of the mean-reduction golden tests above.
    func testSumAndUnreducedLossesMatchPyTorch() {
        let logits = Tensor([0.5, -1.2, 2.0, 0.3, 1.1, 0.0, -0.7, 0.9, -0.4, 1.6, 0.2, -1.5], shape: [3, 4], requiresGrad: true)
        let weights: [Float] = [0.5, 2.0, 1.0, 1.5]
        // F.cross_entropy(logits, tensor([2, -100, 3]), weight=w, label_smoothing=0.1, reduction=…)
        let summed = crossEntropy(logits, targets: [2, -100, 3], labelSmoothing: 0.1, ignoreIndex: -100,
                                  classWeights: weights, reduction: .sum)
        XCTAssertEqual(summed.shape, [])
        XCTAssertEqual(summed.item, 5.506632265, accuracy: 1e-5)
        summed.backward()
        assertClose(logits.grad!.storage, [0.145603295, -0.021117133, -0.216430192, 0.09194403, 0, 0, 0, 0,
                                           0.127389375, 0.983650438, 0.22989506, -1.340934872], rtol: 1e-5, atol: 1e-6)
        logits.zeroGrad()
        let perSample = crossEntropy(logits, targets: [2, -100, 3], labelSmoothing: 0.1, ignoreIndex: -100,
                                     classWeights: weights, reduction: .none)
        XCTAssertEqual(perSample.shape, [3])
        assertClose(perSample.storage, [0.62092929, 0, 4.885702975], rtol: 1e-5, atol: 1e-6)
        // (loss · [1, −2, 0.5]).sum().backward(): each row's gradient scaled by its own upstream value.
        (perSample * Tensor([1, -2, 0.5], shape: [3])).sum().backward()
        assertClose(logits.grad!.storage, [0.145603295, -0.021117133, -0.216430192, 0.09194403, 0, 0, 0, 0,
                                           0.063694687, 0.491825219, 0.11494753, -0.670467436], rtol: 1e-5, atol: 1e-6)

        // Over pixels: one term per (n, h, w), 0 where ignored.
        let pixels = Tensor([0.3, -0.8, 1.2, 0.1, -1.1, 0.6, 0.0, 2.1, 0.9, -0.2, -1.4, 0.7,
                             1.5, 0.4, -0.6, -0.9, 0.2, 1.8, -0.3, 0.5, -1.0, 0.8, 1.1, -0.5], shape: [2, 3, 2, 2])
        let pixelTargets = [0, 2, 255, 1, 2, 0, 0, 1]
        let perPixel = crossEntropy(pixels, targets: pixelTargets, labelSmoothing: 0.1, ignoreIndex: 255,
                                    classWeights: [1, 0.5, 2], reduction: .none)
        XCTAssertEqual(perPixel.shape, [2, 2, 2])
        assertClose(perPixel.storage, [1.123280142, 2.552438652, 0, 0.343306863, 5.270077324, 1.860327542,
                                       1.973124015, 0.384772728], rtol: 1e-5, atol: 1e-6)
        XCTAssertEqual(crossEntropy(pixels, targets: pixelTargets, labelSmoothing: 0.1, ignoreIndex: 255,
                                    classWeights: [1, 0.5, 2], reduction: .sum).item, 13.507327266, accuracy: 1e-4)

        // Probability targets: F.cross_entropy(logits, q, label_smoothing=0.1, reduction=…)
        let q = Tensor([0.7, 0, 0.3, 0, 0, 0, 0, 1, 0.25, 0.25, 0.25, 0.25], shape: [3, 4])
        assertClose(crossEntropy(logits, probabilities: q, labelSmoothing: 0.1, reduction: .none).storage,
                    [1.474199307, 1.097730398, 1.980561339], rtol: 1e-5, atol: 1e-6)
        XCTAssertEqual(crossEntropy(logits, probabilities: q, labelSmoothing: 0.1, reduction: .sum).item,
                       4.552491044, accuracy: 1e-5)
        let probabilityPixels = crossEntropy(Tensor([0.5, -1.2, 2.0, 0.3, 1.1, 0.0, -0.7, 0.9], shape: [1, 2, 2, 2]),
                                             probabilities: Tensor([0.6, 1.0, 0.0, 0.5, 0.4, 0.0, 1.0, 0.5], shape: [1, 2, 2, 2]),
                                             reduction: .none)
        XCTAssertEqual(probabilityPixels.shape, [1, 2, 2])
        assertClose(probabilityPixels.storage, [0.79748795, 1.463282467, 2.765043562, 0.73748795], rtol: 1e-5, atol: 1e-6)

        // F.binary_cross_entropy_with_logits(x, t, weight=[0.5, 2, 1], pos_weight=[3, 0.5, 1.5], reduction=…)
        let bceLogits = Tensor([1.5, -0.3, 4, -2, 0.7, -25], shape: [2, 3])
        let bceTargets = Tensor([1, 0, 0.25, 0, 1, 1], shape: [2, 3])
        let weight = Tensor([0.5, 2, 1], shape: [3]), posWeight = Tensor([3, 0.5, 1.5], shape: [3])
        let bce = bceWithLogits(bceLogits, targets: bceTargets, weight: weight, posWeight: posWeight, reduction: .none)
        XCTAssertEqual(bce.shape, [2, 3])
        assertClose(bce.storage, [0.302119917, 1.108710489, 3.020418669, 0.063464006, 0.403186049, 37.5], rtol: 1e-5, atol: 1e-6)
        XCTAssertEqual(bceWithLogits(bceLogits, targets: bceTargets, weight: weight, posWeight: posWeight, reduction: .sum).item,
                       42.397899129, accuracy: 1e-4)

        // Regression losses on d = x − t ≈ [−3, −1, −0.5, 0, 0.25, 1, 2, 0.5].
        let x = Tensor([-3, -1, -0.5, 0, 0.25, 1, 2, 0.7], shape: [8])
        let t = Tensor([0, 0, 0, 0, 0, 0, 0, 0.2], shape: [8])
        let regression: [(String, (LossReduction) -> Tensor, [Float], Float)] = [
            ("mse", { mseLoss(x, t, reduction: $0) }, [9, 1, 0.25, 0, 0.0625, 1, 4, 0.25], 15.5625),
            ("l1", { l1Loss(x, t, reduction: $0) }, [3, 1, 0.5, 0, 0.25, 1, 2, 0.5], 8.25),
            ("smooth_l1 beta 0.5", { smoothL1Loss(x, t, beta: 0.5, reduction: $0) }, [2.75, 0.75, 0.25, 0, 0.0625, 0.75, 1.75, 0.25], 6.5625),
            ("huber delta 2", { huberLoss(x, t, delta: 2, reduction: $0) }, [4, 0.5, 0.125, 0, 0.03125, 0.5, 2, 0.125], 7.28125),
        ]
        for (name, loss, terms, total) in regression {
            XCTAssertEqual(loss(.none).shape, [8], name)
            assertClose(loss(.none).storage, terms, rtol: 1e-6, atol: 1e-6, name)
            XCTAssertEqual(loss(.sum).item, total, accuracy: 1e-5, name)
        }

        // F.multi_margin_loss(x, tensor([2, 0, 1]), reduction='none'), and margin 1.25 with 'sum' (every
        // margin − x_y + x_j at least 0.05 from the hinge, so float32 and float64 agree on which terms are active).
        let scores = Tensor([0.3, -1.2, 2.1, 0.9, 1.7, 0.2, -0.6, 1.1, -0.4, 0.8, 0.5, -2.0], shape: [3, 4], requiresGrad: true)
        assertClose(multiMarginLoss(scores, targets: [2, 0, 1], reduction: .none).storage, [0, 0.1, 0.175], rtol: 1e-6, atol: 1e-7)
        let margins = multiMarginLoss(scores, targets: [2, 0, 1], margin: 1.25, reduction: .sum)
        XCTAssertEqual(margins.item, 0.425, accuracy: 1e-6)
        margins.backward()
        assertClose(scores.grad!.storage, [0, 0, -0.25, 0.25, -0.25, 0, 0, 0.25, 0.25, -0.5, 0.25, 0], rtol: 1e-6, atol: 1e-7)
        XCTAssertEqual(svmHingeLoss(scores, targets: [2, 0, 1], margin: 1.25, reduction: .sum).item, 4 * 0.425, accuracy: 1e-5)
        // Per sample, C × multi-margin's terms (from the margins listed above: 0.05; 0.65; 0.05 + 0.95).
        assertClose(svmHingeLoss(scores, targets: [2, 0, 1], margin: 1.25, reduction: .none).storage, [0.05, 0.65, 1.0],
                    rtol: 1e-5, atol: 1e-6)
        // Nothing to average: an empty batch gives 0 with the mean, 0 with the sum, and no terms unreduced.
        let empty = Tensor([], shape: [0, 3])
        XCTAssertEqual(mseLoss(empty, empty).item, 0)
        XCTAssertEqual(mseLoss(empty, empty, reduction: .sum).item, 0)
        XCTAssertEqual(mseLoss(empty, empty, reduction: .none).shape, [0, 3])
    }

    func testSumAndUnreducedLossGradients() {
        var g = SeededGenerator(seed: 37)
        let logits = Tensor.normal([4, 3], generator: &g)
        let pixels = Tensor.normal([2, 3, 2, 2], generator: &g)
        let pixelTargets = [0, 2, 255, 1, 2, 0, 0, 255]
        for reduction in [LossReduction.sum, .none] {
            checkGradients([logits]) {
                crossEntropy($0[0], targets: [2, 7, 0, 1], labelSmoothing: 0.2, ignoreIndex: 7, classWeights: [1, 0.5, 2],
                             reduction: reduction)
            }
            checkGradients([pixels]) {
                crossEntropy($0[0], targets: pixelTargets, labelSmoothing: 0.1, ignoreIndex: 255, classWeights: [0.5, 2, 1.25],
                             reduction: reduction)
            }
            let q = Tensor([1, 0, 0.3, 0.5, 0, 0, 0.7, 0.5, 0, 1, 0, 0, 0.2, 0.2, 0.6, 0, 0, 1, 0, 0, 0.4, 0.6, 0, 0],
                           shape: [2, 3, 2, 2])
            checkGradients([pixels]) { crossEntropy($0[0], probabilities: q, labelSmoothing: 0.1, reduction: reduction) }
            let targets = Tensor.uniform([4, 3], generator: &g)
            checkGradients([logits, targets]) {
                bceWithLogits($0[0], targets: $0[1], posWeight: Tensor([2, 0.5, 1], shape: [3]), reduction: reduction)
            }
            let shifted = Tensor(logits.storage.enumerated().map { $0.element + [0.3, -1.7, 0.6, -0.2, 2.4][$0.offset % 5] },
                                 shape: [4, 3])
            checkGradients([logits, shifted]) { mseLoss($0[0], $0[1], reduction: reduction) }
            checkGradients([logits, shifted]) { l1Loss($0[0], $0[1], reduction: reduction) }
            checkGradients([logits, shifted]) { smoothL1Loss($0[0], $0[1], beta: 0.4, reduction: reduction) }
            checkGradients([logits, shifted]) { huberLoss($0[0], $0[1], delta: 1.5, reduction: reduction) }
            let scores = Tensor([0.3, -1.2, 2.1, 0.9, 1.7, 0.2, -0.6, 1.1, -0.4, 0.8, 0.5, -2.0], shape: [3, 4])
            checkGradients([scores]) { multiMarginLoss($0[0], targets: [2, 0, 1], reduction: reduction) }
            checkGradients([scores]) { svmHingeLoss($0[0], targets: [2, 0, 1], margin: 1.25, reduction: reduction) }
        }
    }

    // MARK: Focal loss

    /// torchvision 0.29 (float64): ops.sigmoid_focal_loss on logits [[1.5, −0.3, 4], [−2, 0.7, −6]] with targets
    /// [[1, 0, 0.25], [0, 1, 1]]; the gradient of the loss's sum.
    func testSigmoidFocalLossMatchesTorchvision() {
        let targets = Tensor([1, 0, 0.25, 0, 1, 1], shape: [2, 3])
        let cases: [(Float, Float, LossReduction, [Float], [Float])] = [
            (0.25, 2, .none, [0.00167571173, 0.0752949566, 1.03577476, 0.00135267213, 0.0110976309, 1.49320717],
             [-0.00425777631, 0.144306329, 0.275902784, 0.00365320515, -0.0239636806, -0.255534391]),
            (0.25, 2, .mean, [0.436400483],
             [-0.000709629384, 0.0240510549, 0.0459837974, 0.000608867524, -0.00399394677, -0.0425890652]),
            (-1, 1.5, .sum, [8.15729448], [-0.0334596853, 0.250745674, 0.501347719, 0.0118075659, -0.140659195, -1.01601017]),
            (0.6, 0, .mean, [0.932487629], [-0.0182425524, 0.0283704989, 0.0549010343, 0.00794686147, -0.0331812228, -0.0997527377]),
        ]
        for (alpha, gamma, reduction, value, gradient) in cases {
            let label = "alpha \(alpha), gamma \(gamma), \(reduction)"
            let logits = Tensor([1.5, -0.3, 4, -2, 0.7, -6], shape: [2, 3], requiresGrad: true)
            let loss = sigmoidFocalLoss(logits, targets: targets, alpha: alpha, gamma: gamma, reduction: reduction)
            XCTAssertEqual(loss.shape, reduction == .none ? [2, 3] : [], label)
            assertClose(loss.storage, value, rtol: 1e-5, atol: 1e-7, label)
            loss.sum().backward()
            assertClose(logits.grad!.storage, gradient, rtol: 1e-4, atol: 1e-7, label)
        }
        // γ = 0 without α is the binary cross-entropy.
        let logits = Tensor([1.5, -0.3, 4, -2, 0.7, -6], shape: [2, 3])
        XCTAssertEqual(sigmoidFocalLoss(logits, targets: targets, alpha: -1, gamma: 0, reduction: .mean).item,
                       bceWithLogits(logits, targets: targets).item, accuracy: 1e-6)
        var g = SeededGenerator(seed: 38)
        let x = Tensor.normal([3, 4], generator: &g), t = Tensor.uniform([3, 4], generator: &g)
        checkGradients([x, t]) { sigmoidFocalLoss($0[0], targets: $0[1], alpha: 0.3, gamma: 2) }
    }

    // MARK: Soft Dice

    func testSoftDiceOfUniformAndConfidentPredictions() {
        // Uniform p = 0.5 over 2 pixels with targets [0, 1]: dice_c = (2·0.5 + 1)/(1 + 1 + 1) = 2/3.
        let uniform = Tensor.zeros([1, 2, 1, 2])
        XCTAssertEqual(softDiceLoss(uniform, targets: [0, 1]).item, 1.0 / 3, accuracy: 1e-6)
        // A confident, correct prediction gives a loss near 0.
        let confident = Tensor([50, -50, -50, 50], shape: [1, 2, 1, 2])
        XCTAssertEqual(softDiceLoss(confident, targets: [0, 1]).item, 0, accuracy: 1e-6)
    }

    func testSoftDiceGradients() {
        var g = SeededGenerator(seed: 36)
        let logits = Tensor.normal([2, 3, 2, 2], generator: &g)
        checkGradients([logits]) { softDiceLoss($0[0], targets: [0, 1, 2, 2, 1, 1, 0, 2]) }
        checkGradients([logits]) { softDiceLoss($0[0], targets: [0, 0, 2, 2, 0, 2, 0, 2], eps: 0.1) }
    }
}
