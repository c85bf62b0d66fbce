import TestSupport
import VisionCore
import XCTest

/// Finite-difference checks for the paths the other gradient tests leave out: batched `linear`,
/// shrinking `upsample`, broadcasting on both sides and against scalars, scalar arithmetic, `max`
/// over the whole tensor and along the outer and inner axes, `concat` along the first and last axes with
/// a constant part, `prelu` on rank-2 and rank-1 inputs, and convolutions whose weight is frozen.
final class GradientCoverageTests: XCTestCase {
    var g = SeededGenerator(seed: 41)

    func normal(_ shape: [Int]) -> Tensor { Tensor.normal(shape, generator: &g) }

    func testLinearOnABatchOfSequences() {
        let x = normal([2, 3, 4]), w = normal([5, 4]), b = normal([5])
        checkGradients([x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) }
    }

    func testUpsampleToASmallerOrPartlyEqualSize() {
        let x = normal([1, 2, 6, 5])
        for mode in [UpsampleMode.bilinear, .nearest, .nearestExact] {
            checkGradients([x]) { upsample($0[0], size: (3, 4), mode: mode) }
            checkGradients([x]) { upsample($0[0], size: (6, 3), mode: mode) }
            checkGradients([x]) { upsample($0[0], size: (4, 5), mode: mode) }
        }
    }

    func testBroadcastingBothSidesPerChannelAndAgainstAScalar() {
        checkGradients([normal([2, 1]), normal([1, 3])]) { $0[0] + $0[1] }
        checkGradients([normal([2, 1]), normal([1, 3])]) { $0[0] * $0[1] }
        checkGradients([normal([2, 3, 2, 2]), normal([1, 3, 1, 1])]) { $0[0] * $0[1] - $0[1] }
        checkGradients([normal([2, 3]), Tensor(scalar: 0.7)]) { $0[0] * $0[1] + $0[1] }
        checkGradients([normal([3]), normal([2, 1])]) { $0[0] - $0[1] }
    }

    func testScalarArithmeticNegationAndClone() {
        let x = normal([2, 3])
        checkGradients([x]) { ($0[0] + 2) * ($0[0] - 1.5) }
        checkGradients([x]) { (3 - $0[0]) * (2 + $0[0]) }
        checkGradients([x]) { -$0[0] * $0[0].clone() }
    }

    func testMaxOverEverythingAndAlongOuterAndInnerAxes() {
        let x = normal([2, 3, 4])
        checkGradients([x]) { $0[0].max() }
        checkGradients([x]) { $0[0].max(axis: 0) }
        checkGradients([x]) { $0[0].max(axis: 2, keepDims: true) }
        checkGradients([x]) { $0[0].max(axis: -1) }
    }

    func testConcatAlongFirstAndLastAxesWithAConstantPart() {
        let a = normal([2, 3]), b = normal([1, 3]), c = normal([3, 3])
        let constant = normal([2, 3])
        checkGradients([a, b, c]) { Tensor.concat([$0[0], constant, $0[1], $0[2]], axis: 0) }
        let d = normal([2, 1]), e = normal([2, 4])
        checkGradients([a, d, e]) { Tensor.concat([$0[0], $0[1], constant, $0[2]], axis: 1) }
        checkGradients([a, d]) { Tensor.concat([$0[0], $0[1]], axis: -1) }
    }

    /// Fine-tuning with a frozen backbone asks convolutions for the input gradient alone.
    func testConvolutionInputGradientWithAFrozenWeight() {
        let x = normal([2, 4, 7, 6])
        let frozen = normal([6, 4, 3, 3]), grouped = normal([6, 2, 3, 3]), pointwise = normal([5, 4, 1, 1])
        checkGradients([x]) { conv2d($0[0], weight: frozen, padding: (1, 1)) }
        checkGradients([x]) { conv2d($0[0], weight: frozen, stride: (2, 2), padding: (1, 1)) }
        checkGradients([x]) { conv2d($0[0], weight: grouped, padding: (2, 2), dilation: (2, 2), groups: 2) }
        checkGradients([x]) { conv2d($0[0], weight: pointwise) }
        XCTAssertFalse(frozen.requiresGrad)
        XCTAssertNil(frozen.grad, "a frozen weight gets no gradient")
    }

    func testPReLUOnRowsAndOnAVector() {
        var rows = normal([4, 3]).storage
        rows = rows.map { Swift.abs($0) < 0.05 ? $0 + 0.2 : $0 }  // away from the kink at 0
        checkGradients([Tensor(rows, shape: [4, 3]), Tensor([0.1, 0.25, -0.3], shape: [3])]) { prelu($0[0], weight: $0[1]) }
        let vector = Tensor([0.8, -1.2, 0.3, -0.4, 1.5], shape: [5])
        checkGradients([vector, Tensor([0.2], shape: [1])]) { prelu($0[0], weight: $0[1]) }
    }

    /// `flip` reverses the chosen axes (torch.flip) and its gradient flips back.
    func testFlipReversesAxesAndItsGradientFlipsBack() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        XCTAssertEqual(Array(x.flip(axes: [-1]).storage[0..<8]), [3, 2, 1, 0, 7, 6, 5, 4])
        XCTAssertEqual(Array(x.flip(axes: [1]).storage[0..<8]), [8, 9, 10, 11, 4, 5, 6, 7])
        XCTAssertEqual(x.flip(axes: [0, 1, 2]).storage, (0..<24).reversed().map(Float.init))
        XCTAssertEqual(x.flip(axes: [0, 2]).flip(axes: [2, 0]).storage, x.storage)
        XCTAssertTrue(x.flip(axes: []) === x)
        XCTAssertEqual(Tensor([1, 2, 3], shape: [3, 1]).flip(axes: [1]).storage, [1, 2, 3], "a size-1 axis flips to itself")
        XCTAssertEqual(Tensor([1, 2, 3], shape: [3, 1]).flip(axes: [0]).storage, [3, 2, 1])
        let scalar = Tensor([5], shape: [])
        XCTAssertTrue(scalar.flip(axes: [0]) === scalar, "a scalar has nothing to flip")
        checkGradients([normal([2, 3, 4])]) { $0[0].flip(axes: [0, 2]) }
    }
}
