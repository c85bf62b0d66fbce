import TestSupport
import VisionCore
import XCTest

/// Distinct values `0.1·permutation` so finite differences never swap a window's maximum.
private func distinctValues(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let count = shape.reduce(1, *)
    var values = (0..<count).map { Float($0) * 0.1 - Float(count) * 0.05 }
    values.shuffle(using: &g)
    return Tensor(values, shape: shape)
}

final class PoolingTests: XCTestCase {
    func testMaxPool4x4HandComputed() {
        let x = Tensor([1, 3, 2, 9,
                        4, 2, 8, 1,
                        0, -1, 5, 5,
                        7, 6, 5, 2], shape: [1, 1, 4, 4], requiresGrad: true)
        let y = maxPool2d(x, kernelSize: (2, 2))
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.storage, [4, 9, 7, 5])
        y.backward(Tensor([10, 20, 30, 40], shape: [1, 1, 2, 2]))
        // The tied window (5, 5, 5, 2) routes its gradient to the first 5 in row-major order.
        XCTAssertEqual(x.grad!.storage, [0, 0, 0, 20,
                                         10, 0, 0, 0,
                                         0, 0, 40, 0,
                                         30, 0, 0, 0])
    }

    func testMaxPoolPaddingIsNegativeInfinityAndStrideOverlaps() {
        // 3×3 windows, stride 2, padding 1 over an all-negative 3×3 input: zeros of padding never win.
        let x = Tensor([-1, -2, -3,
                        -4, -5, -6,
                        -7, -8, -9], shape: [1, 1, 3, 3])
        let y = maxPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.storage, [-1, -2, -4, -5])
        // Overlapping windows (3×3 stride 1) on a 4×4 ramp: each output is its window's bottom-right.
        let ramp = Tensor((0..<16).map(Float.init), shape: [1, 1, 4, 4])
        XCTAssertEqual(maxPool2d(ramp, kernelSize: (3, 3), stride: (1, 1)).storage, [10, 11, 14, 15])
        // Rectangular window with its own stride per axis.
        XCTAssertEqual(maxPool2d(ramp, kernelSize: (1, 2), stride: (2, 1)).storage, [1, 2, 3, 9, 10, 11])
    }

    func testMaxPoolGradients() {
        let x = distinctValues([2, 2, 5, 6], seed: 1)
        checkGradients([x]) { maxPool2d($0[0], kernelSize: (2, 2)) }
        checkGradients([x]) { maxPool2d($0[0], kernelSize: (3, 2), stride: (2, 1), padding: (1, 1)) }
    }

    func testAvgPoolHandComputedWithAndWithoutPadCounting() {
        let x = Tensor((1...9).map(Float.init), shape: [1, 1, 3, 3])
        // 2×2 windows, stride 1: plain means.
        XCTAssertEqual(avgPool2d(x, kernelSize: (2, 2), stride: (1, 1)).storage, [3, 4, 6, 7])
        // 3×3 windows, stride 2, padding 1 → 2×2 outputs, each window holds 4 real pixels.
        // Top-left window covers 1, 2, 4, 5 (sum 12); top-right 2, 3, 5, 6 (16); bottom-left 4, 5, 7, 8 (24);
        // bottom-right 5, 6, 8, 9 (28).
        let included = avgPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        assertClose(included.storage, [12 / 9, 16 / 9, 24 / 9, 28 / 9])
        let excluded = avgPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false)
        assertClose(excluded.storage, [3, 4, 6, 7])
        // A window that runs past the padded edge divides by its clipped size: 2×2 stride 2 padding 1 on 3×3
        // gives windows starting at −1 and 1; the second spans rows 1, 2 (within the padded extent 3 + 1).
        let edge = avgPool2d(x, kernelSize: (2, 2), stride: (2, 2), padding: (1, 1))
        assertClose(edge.storage, [1.0 / 4, (2 + 3) / 4, (4 + 7) / 4, (5 + 6 + 8 + 9) / 4])
    }

    func testAvgPoolGradients() {
        var g = SeededGenerator(seed: 2)
        let x = Tensor.normal([2, 3, 5, 5], generator: &g)
        checkGradients([x]) { avgPool2d($0[0], kernelSize: (2, 2)) }
        checkGradients([x]) { avgPool2d($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1)) }
        checkGradients([x]) { avgPool2d($0[0], kernelSize: (3, 2), stride: (2, 1), padding: (1, 1), countIncludePad: false) }
    }

    func testAdaptiveAvgPoolWithNonDivisibleSizes() {
        // 5 rows into 3 bins: [0, 2), [1, 4), [3, 5); 3 columns into 2 bins: [0, 2), [1, 3).
        let x = Tensor((0..<15).map(Float.init), shape: [1, 1, 5, 3])
        let y = adaptiveAvgPool2d(x, outputSize: (3, 2))
        XCTAssertEqual(y.shape, [1, 1, 3, 2])
        // Rows r hold 3r, 3r+1, 3r+2; a bin's mean is mean(rows)·3 + mean(columns).
        let rowMeans: [Float] = [0.5, 2, 3.5], columnMeans: [Float] = [0.5, 1.5]
        assertClose(y.storage, rowMeans.flatMap { r in columnMeans.map { r * 3 + $0 } })
        // Global pooling is the plane mean.
        assertClose(adaptiveAvgPool2d(x, outputSize: (1, 1)).storage, [7])
        // More bins than pixels repeats pixels.
        XCTAssertEqual(adaptiveAvgPool2d(Tensor([1, 2], shape: [1, 1, 1, 2]), outputSize: (2, 3)).storage,
                       [1, 1.5, 2, 1, 1.5, 2])
    }

    func testEmptyBatchGivesEmptyOutputs() {
        let x = Tensor.zeros([0, 2, 4, 4])
        XCTAssertEqual(maxPool2d(x, kernelSize: (2, 2)).shape, [0, 2, 2, 2])
        XCTAssertEqual(avgPool2d(x, kernelSize: (3, 3), stride: (1, 1), padding: (1, 1)).shape, [0, 2, 4, 4])
        XCTAssertEqual(adaptiveAvgPool2d(x, outputSize: (1, 1)).shape, [0, 2, 1, 1])
        XCTAssertEqual(upsample(x, scaleFactor: 2, mode: .bilinear).shape, [0, 2, 8, 8])
    }

    func testAdaptiveAvgPoolGradients() {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.normal([2, 2, 7, 5], generator: &g)
        checkGradients([x]) { adaptiveAvgPool2d($0[0], outputSize: (3, 2)) }
        checkGradients([x]) { adaptiveAvgPool2d($0[0], outputSize: (1, 1)) }
    }
}

final class UpsampleTests: XCTestCase {
    private let square = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])

    func testNearestUpsamplingHandValues() {
        XCTAssertEqual(upsample(square, scaleFactor: 2, mode: .nearest).storage,
                       [1, 1, 2, 2,
                        1, 1, 2, 2,
                        3, 3, 4, 4,
                        3, 3, 4, 4])
        // To 3×5: source rows floor(o·2/3) = 0, 0, 1; columns floor(o·2/5) = 0, 0, 0, 1, 1.
        XCTAssertEqual(upsample(square, size: (3, 5), mode: .nearest).storage,
                       [1, 1, 1, 2, 2,
                        1, 1, 1, 2, 2,
                        3, 3, 3, 4, 4])
    }

    func testBilinearUpsamplingHandValues() {
        // Source coordinate (o + 0.5)/2 − 0.5 clamped at 0: 0, 0.25, 0.75, 1.25 (→ last pixel).
        // One axis maps [a, b] to [a, 0.75a + 0.25b, 0.25a + 0.75b, b].
        let y = upsample(square, scaleFactor: 2, mode: .bilinear)
        assertClose(y.storage, [1.0, 1.25, 1.75, 2.0,
                                1.5, 1.75, 2.25, 2.5,
                                2.5, 2.75, 3.25, 3.5,
                                3.0, 3.25, 3.75, 4.0])
        // Same size is the identity; to 1×1 samples coordinate 0.5 between both pixels.
        XCTAssertEqual(upsample(square, size: (2, 2), mode: .bilinear).storage, square.storage)
        assertClose(upsample(square, size: (1, 1), mode: .bilinear).storage, [2.5])
    }

    /// Non-integer ratios (align_corners=False is the only mode `upsample` has). Source coordinates
    /// max(0, (o + 0.5)·I/O − 0.5): 2→3 gives 0, 0.5, 1.1667 (→ 1); 3→5 gives 0, 0.4, 1.0, 1.6, 2.2 (→ 2).
    /// So row [1, 2, 4] → [1, 1 + 0.4·1, 2, 2 + 0.6·2, 4] = [1, 1.4, 2, 3.2, 4].
    func testBilinearUpsamplingAtNonIntegerRatiosMatchesPyTorch() {
        let x = Tensor([1, 2, 4, 3, -1, 0.5, 0, 5, -2, 1.5, 2.5, -0.5], shape: [1, 2, 2, 3])
        // torch 2.x: F.interpolate(x, size=(3, 5), mode='bilinear', align_corners=False).flatten()
        let wide: [Float] = [1.0, 1.4000001, 2.0, 3.2000003, 4.0,
                             2.0, 1.4, 0.5, 1.5500002, 2.25,
                             3.0, 1.3999997, -1.0, -0.099999808, 0.5,
                             0.0, 2.0000002, 5.0, 0.799999, -2.0,
                             0.75, 1.95, 3.75, 0.74999928, -1.25,
                             1.5, 1.9000001, 2.5, 0.69999963, -0.5]
        let y = upsample(x, size: (3, 5), mode: .bilinear)
        XCTAssertEqual(y.shape, [1, 2, 3, 5])
        assertClose(y.storage, wide, rtol: 1e-5, atol: 1e-5, "2×3 → 3×5")
        let tall = Tensor([1, 2, 4, 3, -1, 0.5], shape: [1, 1, 3, 2])
        // torch 2.x: F.interpolate(tall, size=(5, 3), mode='bilinear', align_corners=False).flatten()
        let expected: [Float] = [1.0, 1.5, 2.0,
                                 2.2, 2.3000002, 2.4000001,
                                 4.0, 3.5, 3.0,
                                 0.99999928, 1.2499995, 1.4999996,
                                 -1.0, -0.25, 0.5]
        let z = upsample(tall, size: (5, 3), mode: .bilinear)
        XCTAssertEqual(z.shape, [1, 1, 5, 3])
        assertClose(z.storage, expected, rtol: 1e-5, atol: 1e-5, "3×2 → 5×3")
    }

    func testUpsampleGradients() {
        var g = SeededGenerator(seed: 4)
        let x = Tensor.normal([2, 2, 3, 4], generator: &g)
        checkGradients([x]) { upsample($0[0], scaleFactor: 2, mode: .nearest) }
        checkGradients([x]) { upsample($0[0], scaleFactor: 3, mode: .bilinear) }
        checkGradients([x]) { upsample($0[0], size: (5, 7), mode: .bilinear) }
        checkGradients([x]) { upsample($0[0], size: (7, 5), mode: .nearest) }
    }
}
