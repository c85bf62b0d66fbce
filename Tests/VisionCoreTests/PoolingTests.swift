import Foundation
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

    /// `ceil_mode`, `dilation`, `divisor_override` and adaptive max pooling against PyTorch 2.15 (float64): on the 6×7 plane
    /// `x[i] = ((37·i) mod 42 − 20) / 4` (distinct values), outputs `y` and the gradient `dx` of `(y · g).sum()`
    /// with `g = 1, 2, …` in output order.
    func testCeilModeDilationDivisorOverrideAndAdaptiveMaxMatchPyTorch() {
        let plane = (0..<42).map { Float((37 * $0) % 42 - 20) / 4 }
        let cases: [GoldenCase] = [
            // F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
            GoldenCase(shape: [1, 1, 4, 4], run: { maxPool2d($0, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) },
                       y: [4.25, 4.75, 3.5, 1.0, 0.25, 5.25, 5.25, 4.5, 3.75, 2.5, 4.5, 5.0, 3.75, 2.5, 0.0, -2.5],
                       dx: [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 13.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 19.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 12.0, 22.0, 24.0, 0.0, 15.0, 0.0, 16.0, 0.0]),
            // F.max_pool2d(x, 2, 1, dilation=2)
            GoldenCase(shape: [1, 1, 4, 5], run: { maxPool2d($0, kernelSize: (2, 2), stride: (1, 1), dilation: (2, 2)) },
                       y: [3.0, 5.25, 4.0, 5.25, 4.0, 4.75, 3.5, 4.75, 4.5, 3.25, 2.0, 5.25, 4.0, 5.25, 5.0, 3.75, 2.5, 1.25, 4.5, 3.25],
                       dx: [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 14.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 32.0, 21.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 28.0, 30.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0, 15.0, 16.0, 17.0, 18.0, 0.0, 0.0, 0.0, 0.0]),
            // F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True)
            GoldenCase(shape: [1, 1, 3, 3], run: { maxPool2d($0, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), dilation: (2, 2), ceilMode: true) },
                       y: [3.5, 4.5, 4.5, 3.5, 4.5, 4.5, 2.5, 4.5, 4.5],
                       dx: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 33.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            // F.max_pool2d(x, (2, 3), (3, 2), ceil_mode=True)
            GoldenCase(shape: [1, 1, 2, 3], run: { maxPool2d($0, kernelSize: (2, 3), stride: (3, 2), ceilMode: true) },
                       y: [4.75, 4.75, 2.25, 2.0, -0.5, 5.0],
                       dx: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 5.0, 0.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            // F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
            GoldenCase(shape: [1, 1, 4, 4], run: { avgPool2d($0, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) },
                       y: [-0.944444, 1.416667, 0.916667, -0.222222, -1.416667, -0.5, 1.666667, 1.416667, 0.916667, -0.5, -1.833333, 0.25, 1.041667, 0.625, -0.625, -1.041667],
                       dx: [0.111111, 0.333333, 0.222222, 0.555556, 0.333333, 0.777778, 0.444444, 0.666667, 1.555556, 0.888889, 2.0, 1.111111, 2.444444, 1.333333, 0.555556, 1.222222, 0.666667, 1.444444, 0.777778, 1.666667, 0.888889, 1.555556, 3.333333, 1.777778, 3.777778, 2.0, 4.222222, 2.222222, 1.0, 2.111111, 1.111111, 2.333333, 1.222222, 2.555556, 1.333333, 3.166667, 6.611111, 3.444444, 7.166667, 3.722222, 7.722222, 4.0]),
            // F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
            GoldenCase(shape: [1, 1, 4, 4], run: { avgPool2d($0, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false) },
                       y: [-2.125, 2.125, 1.375, -0.5, -2.125, -0.5, 1.666667, 2.125, 1.375, -0.5, -1.833333, 0.375, 3.125, 1.25, -1.25, -3.125],
                       dx: [0.25, 0.583333, 0.333333, 0.833333, 0.5, 1.5, 1.0, 1.083333, 2.083333, 1.0, 2.277778, 1.277778, 3.611111, 2.333333, 0.833333, 1.5, 0.666667, 1.444444, 0.777778, 2.111111, 1.333333, 2.333333, 4.111111, 1.777778, 3.777778, 2.0, 5.333333, 3.333333, 1.5, 2.611111, 1.111111, 2.333333, 1.222222, 3.222222, 2.0, 8.0, 13.777778, 5.777778, 12.0, 6.222222, 16.222222, 10.0]),
            // F.avg_pool2d(x, 2, 2, ceil_mode=True)
            GoldenCase(shape: [1, 1, 3, 4], run: { avgPool2d($0, kernelSize: (2, 2), stride: (2, 2), ceilMode: true) },
                       y: [-2.125, 3.25, 0.75, -1.125, -1.25, -1.125, 1.625, 2.375, 2.25, -0.25, -2.75, 0.625],
                       dx: [0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 2.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 2.0, 1.25, 1.25, 1.5, 1.5, 1.75, 1.75, 4.0, 1.25, 1.25, 1.5, 1.5, 1.75, 1.75, 4.0, 2.25, 2.25, 2.5, 2.5, 2.75, 2.75, 6.0, 2.25, 2.25, 2.5, 2.5, 2.75, 2.75, 6.0]),
            // F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=5)
            GoldenCase(shape: [1, 1, 4, 4], run: { avgPool2d($0, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, divisorOverride: 5) },
                       y: [-1.7, 2.55, 1.65, -0.4, -2.55, -0.9, 3.0, 2.55, 1.65, -0.9, -3.3, 0.45, 1.25, 0.75, -0.75, -1.25],
                       dx: [0.2, 0.6, 0.4, 1.0, 0.6, 1.4, 0.8, 1.2, 2.8, 1.6, 3.6, 2.0, 4.4, 2.4, 1.0, 2.2, 1.2, 2.6, 1.4, 3.0, 1.6, 2.8, 6.0, 3.2, 6.8, 3.6, 7.6, 4.0, 1.8, 3.8, 2.0, 4.2, 2.2, 4.6, 2.4, 4.4, 9.2, 4.8, 10.0, 5.2, 10.8, 5.6]),
            // F.adaptive_max_pool2d(x, (4, 3))
            GoldenCase(shape: [1, 1, 4, 3], run: { adaptiveMaxPool2d($0, outputSize: (4, 3)) },
                       y: [4.75, 4.75, 2.25, 4.75, 5.25, 4.0, 2.0, -0.5, 5.0, 3.75, 1.25, 5.0],
                       dx: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 8.0, 0.0, 0.0, 0.0, 21.0, 10.0, 0.0, 11.0, 0.0, 0.0, 0.0, 0.0]),
            // F.adaptive_max_pool2d(x, (8, 2))
            GoldenCase(shape: [1, 1, 8, 2], run: { adaptiveMaxPool2d($0, outputSize: (8, 2)) },
                       y: [4.25, 1.75, 4.75, 3.5, 5.25, 5.25, 5.25, 5.25, 0.25, 4.5, 2.0, 5.0, 3.75, 5.0, 3.75, 0.0],
                       dx: [0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 26.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0, 26.0, 28.0, 0.0, 0.0, 16.0, 0.0, 0.0, 0.0]),
        ]
        for (n, c) in cases.enumerated() { c.check(on: Tensor(plane, shape: [1, 1, 6, 7], requiresGrad: true), "case \(n)") }
    }

    func testCeilModeDilationAndAdaptiveMaxGradients() {
        let x = distinctValues([2, 2, 7, 6], seed: 5)
        checkGradients([x]) { maxPool2d($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) }
        checkGradients([x]) { maxPool2d($0[0], kernelSize: (2, 3), stride: (2, 1), padding: (1, 1), dilation: (3, 2)) }
        checkGradients([x]) { adaptiveMaxPool2d($0[0], outputSize: (3, 4)) }
        var g = SeededGenerator(seed: 6)
        let y = Tensor.normal([2, 2, 7, 6], generator: &g)
        checkGradients([y]) { avgPool2d($0[0], kernelSize: (2, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) }
        checkGradients([y]) {
            avgPool2d($0[0], kernelSize: (3, 3), stride: (3, 2), padding: (1, 1), ceilMode: true, countIncludePad: false)
        }
    }

    /// With ceil mode a window may start in the last input column but never in the right padding:
    /// 5 inputs, kernel 2, stride 2, padding 1 → ceil((5 + 2 − 2) / 2) + 1 = 4 windows starting at −1, 1, 3, 5;
    /// the fourth starts in the padding, so 3 remain (PyTorch: `F.max_pool2d(x, 2, 2, 1, ceil_mode=True)`).
    func testCeilModeDropsAWindowStartingInThePadding() {
        let x = Tensor([1, 2, 3, 4, 5], shape: [1, 1, 1, 5])
        XCTAssertEqual(maxPool2d(x, kernelSize: (1, 2), stride: (1, 2), padding: (0, 1), ceilMode: true).storage, [1, 3, 5])
        // Without padding the last window starts at 4, inside the input, and holds one pixel.
        XCTAssertEqual(maxPool2d(x, kernelSize: (1, 2), ceilMode: true).storage, [2, 4, 5])
        assertClose(avgPool2d(x, kernelSize: (1, 2), ceilMode: true).storage, [1.5, 3.5, 5])
        XCTAssertEqual(maxPool2d(x, kernelSize: (1, 2)).storage, [2, 4])
    }

    /// A dilated window whose taps all miss the input (kernel 2, dilation 3, padding 1 over 2 pixels: taps at
    /// −1 and 2) is −∞, as in PyTorch, and passes no gradient (PyTorch routes it to a pixel outside the window).
    /// In ceil mode a window longer than the padded input still gives one output (PyTorch 2.15:
    /// `F.max_pool2d(x, 3, 2, ceil_mode=True)` on [[1, 2], [3, 0]] → [[3]], `avg_pool2d` → 1.5); without it, none fits.
    func testCeilModeWindowLargerThanTheInput() {
        let x = Tensor([1, 2, 3, 0], shape: [1, 1, 2, 2])
        XCTAssertEqual(maxPool2d(x, kernelSize: (3, 3), stride: (2, 2), ceilMode: true).storage, [3])
        XCTAssertEqual(avgPool2d(x, kernelSize: (3, 3), stride: (2, 2), ceilMode: true).storage, [1.5])
    }

    /// A window holding NaNs outputs NaN and routes its gradient to the last NaN of the row-major scan, as
    /// PyTorch 2.15 does for `max_pool2d` and `adaptive_max_pool2d` on [[1, nan], [3, nan]] (index 3).
    func testMaxPoolingRoutesTheGradientToTheLastNaN() {
        for pool in [{ maxPool2d($0, kernelSize: (2, 2)) }, { adaptiveMaxPool2d($0, outputSize: (1, 1)) }] as [(Tensor) -> Tensor] {
            let x = Tensor([1, .nan, 3, .nan], shape: [1, 1, 2, 2], requiresGrad: true)
            let y = pool(x)
            XCTAssertTrue(y.storage[0].isNaN)
            y.backward(Tensor([1], shape: [1, 1, 1, 1]))
            XCTAssertEqual(x.grad!.storage, [0, 0, 0, 1])
        }
    }

    func testDilatedWindowWithNoInputTapIsNegativeInfinity() {
        let x = Tensor([1, 2], shape: [1, 1, 1, 2], requiresGrad: true)
        let y = maxPool2d(x, kernelSize: (1, 2), stride: (1, 1), padding: (0, 1), dilation: (1, 3))
        XCTAssertEqual(y.storage, [-.infinity])
        y.backward(Tensor([1], shape: [1, 1, 1, 1]))
        XCTAssertEqual(x.grad!.storage, [0, 0])
    }

    func testEmptyBatchGivesEmptyOutputs() {
        let x = Tensor.zeros([0, 2, 4, 4])
        XCTAssertEqual(maxPool2d(x, kernelSize: (2, 2)).shape, [0, 2, 2, 2])
        XCTAssertEqual(avgPool2d(x, kernelSize: (3, 3), stride: (1, 1), padding: (1, 1)).shape, [0, 2, 4, 4])
        XCTAssertEqual(adaptiveAvgPool2d(x, outputSize: (1, 1)).shape, [0, 2, 1, 1])
        XCTAssertEqual(adaptiveMaxPool2d(x, outputSize: (3, 1)).shape, [0, 2, 3, 1])
        XCTAssertEqual(upsample(x, scaleFactor: 2, mode: .bilinear).shape, [0, 2, 8, 8])
    }

    func testAdaptiveAvgPoolGradients() {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.normal([2, 2, 7, 5], generator: &g)
        checkGradients([x]) { adaptiveAvgPool2d($0[0], outputSize: (3, 2)) }
        checkGradients([x]) { adaptiveAvgPool2d($0[0], outputSize: (1, 1)) }
    }
}

/// One PyTorch golden case of a pooling or upsampling op: its output shape, output `y`, and the input
/// gradient `dx` of `(y · g).sum()` with `g = 1, 2, …` in output order.
private struct GoldenCase {
    let shape: [Int]
    let run: (Tensor) -> Tensor
    let y: [Float], dx: [Float]

    func check(on x: Tensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let output = run(x)
        XCTAssertEqual(output.shape, shape, label, file: file, line: line)
        assertClose(output.storage, y, rtol: 1e-5, atol: 1e-5, "\(label) output", file: file, line: line)
        output.backward(Tensor((1...output.count).map(Float.init), shape: output.shape))
        assertClose(x.grad!.storage, dx, rtol: 1e-5, atol: 1e-5, "\(label) gradient", file: file, line: line)
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

    /// `align_corners=True`, `nearest-exact`, and `nearest` at non-integer ratios against PyTorch 2.15 (float64)
    /// on the two 2×3 planes below: outputs `y` and the gradient `dx` of `(y · g).sum()`, `g = 1, 2, …` in output order.
    func testAlignCornersAndNearestExactMatchPyTorch() {
        let values: [Float] = [1, 2, 4, 3, -1, 0.5, 0, 5, -2, 1.5, 2.5, -0.5]
        let cases: [GoldenCase] = [
            // F.interpolate(x, size=(3, 5), mode='bilinear', align_corners=True)
            GoldenCase(shape: [1, 2, 3, 5], run: { upsample($0, size: (3, 5), mode: .bilinear, alignCorners: true) },
                        y: [1.0, 1.5, 2.0, 3.0, 4.0, 2.0, 1.25, 0.5, 1.375, 2.25, 3.0, 1.0, -1.0, -0.25, 0.5, 0.0, 2.5, 5.0, 1.5, -2.0, 0.75, 2.25, 3.75, 1.25, -1.25, 1.5, 2.0, 2.5, 1.0, -0.5],
                        dx: [6.75, 14.0, 14.25, 21.75, 34.0, 29.25, 40.5, 59.0, 48.0, 55.5, 79.0, 63.0]),
            // F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)
            GoldenCase(shape: [1, 2, 4, 6], run: { upsample($0, scaleFactor: 2, mode: .bilinear, alignCorners: true) },
                        y: [1.0, 1.4, 1.8, 2.4, 3.2, 4.0, 1.666667, 1.4, 1.133333, 1.366667, 2.1, 2.833333, 2.333333, 1.4, 0.466667, 0.333333, 1.0, 1.666667, 3.0, 1.4, -0.2, -0.7, -0.1, 0.5, 0.0, 2.0, 4.0, 3.6, 0.8, -2.0, 0.5, 1.966667, 3.433333, 3.033333, 0.766667, -1.5, 1.0, 1.933333, 2.866667, 2.466667, 0.733333, -1.0, 1.5, 1.9, 2.3, 1.9, 0.7, -0.5],
                        dx: [20.0, 36.0, 34.0, 56.0, 84.0, 70.0, 106.4, 151.2, 120.4, 142.4, 199.2, 156.4]),
            // F.interpolate(x, size=(1, 4), mode='bilinear', align_corners=True)
            GoldenCase(shape: [1, 2, 1, 4], run: { upsample($0, size: (1, 4), mode: .bilinear, alignCorners: true) },
                        y: [1.0, 1.666667, 2.666667, 4.0, 0.0, 3.333333, 2.666667, -2.0],
                        dx: [1.666667, 3.333333, 5.0, 0.0, 0.0, 0.0, 7.0, 8.666667, 10.333333, 0.0, 0.0, 0.0]),
            // F.interpolate(x, size=(3, 5), mode='nearest-exact')
            GoldenCase(shape: [1, 2, 3, 5], run: { upsample($0, size: (3, 5), mode: .nearestExact) },
                        y: [1.0, 1.0, 2.0, 4.0, 4.0, 3.0, 3.0, -1.0, 0.5, 0.5, 3.0, 3.0, -1.0, 0.5, 0.5, 0.0, 0.0, 5.0, -2.0, -2.0, 1.5, 1.5, 2.5, -0.5, -0.5, 1.5, 1.5, 2.5, -0.5, -0.5],
                        dx: [3.0, 3.0, 9.0, 36.0, 21.0, 48.0, 33.0, 18.0, 39.0, 96.0, 51.0, 108.0]),
            // F.interpolate(x, size=(5, 7), mode='nearest-exact')
            GoldenCase(shape: [1, 2, 5, 7], run: { upsample($0, size: (5, 7), mode: .nearestExact) },
                        y: [1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 4.0, 1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 4.0, 3.0, 3.0, -1.0, -1.0, -1.0, 0.5, 0.5, 3.0, 3.0, -1.0, -1.0, -1.0, 0.5, 0.5, 3.0, 3.0, -1.0, -1.0, -1.0, 0.5, 0.5, 0.0, 0.0, 5.0, 5.0, 5.0, -2.0, -2.0, 0.0, 0.0, 5.0, 5.0, 5.0, -2.0, -2.0, 1.5, 1.5, 2.5, 2.5, 2.5, -0.5, -0.5, 1.5, 1.5, 2.5, 2.5, 2.5, -0.5, -0.5, 1.5, 1.5, 2.5, 2.5, 2.5, -0.5, -0.5],
                        dx: [20.0, 45.0, 40.0, 135.0, 225.0, 165.0, 160.0, 255.0, 180.0, 345.0, 540.0, 375.0]),
            // F.interpolate(x, size=(5, 7), mode='nearest')
            GoldenCase(shape: [1, 2, 5, 7], run: { upsample($0, size: (5, 7), mode: .nearest) },
                        y: [1.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 1.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 1.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 3.0, 3.0, 3.0, -1.0, -1.0, 0.5, 0.5, 3.0, 3.0, 3.0, -1.0, -1.0, 0.5, 0.5, 0.0, 0.0, 0.0, 5.0, 5.0, -2.0, -2.0, 0.0, 0.0, 0.0, 5.0, 5.0, -2.0, -2.0, 0.0, 0.0, 0.0, 5.0, 5.0, -2.0, -2.0, 1.5, 1.5, 1.5, 2.5, 2.5, -0.5, -0.5, 1.5, 1.5, 1.5, 2.5, 2.5, -0.5, -0.5],
                        dx: [81.0, 69.0, 81.0, 159.0, 116.0, 124.0, 396.0, 279.0, 291.0, 369.0, 256.0, 264.0]),
        ]
        for (n, c) in cases.enumerated() { c.check(on: Tensor(values, shape: [1, 2, 2, 3], requiresGrad: true), "case \(n)") }
        // At an integer factor nearest-exact picks the same pixels as nearest (floor((o + 0.5) / s) = floor(o / s)).
        let x = Tensor(values, shape: [1, 2, 2, 3])
        XCTAssertEqual(upsample(x, scaleFactor: 3, mode: .nearestExact).storage, upsample(x, scaleFactor: 3, mode: .nearest).storage)
        // By hand: [0, 3] to 4 columns samples o·(2 − 1)/(4 − 1) = o/3 with corners aligned → 0, 1, 2, 3;
        // without, max(0, (o + 0.5)/2 − 0.5) = 0, 0.25, 0.75, 1.25 → 0, 0.75, 2.25, 3.
        let pair = Tensor([0, 3], shape: [1, 1, 1, 2])
        assertClose(upsample(pair, size: (1, 4), mode: .bilinear, alignCorners: true).storage, [0, 1, 2, 3])
        assertClose(upsample(pair, size: (1, 4), mode: .bilinear).storage, [0, 0.75, 2.25, 3])
    }

    func testUpsampleGradients() {
        var g = SeededGenerator(seed: 4)
        let x = Tensor.normal([2, 2, 3, 4], generator: &g)
        checkGradients([x]) { upsample($0[0], scaleFactor: 2, mode: .nearest) }
        checkGradients([x]) { upsample($0[0], scaleFactor: 3, mode: .bilinear) }
        checkGradients([x]) { upsample($0[0], size: (5, 7), mode: .bilinear) }
        checkGradients([x]) { upsample($0[0], size: (7, 5), mode: .nearest) }
        checkGradients([x]) { upsample($0[0], size: (5, 7), mode: .bilinear, alignCorners: true) }
        checkGradients([x]) { upsample($0[0], scaleFactor: 2, mode: .bilinear, alignCorners: true) }
        checkGradients([x]) { upsample($0[0], size: (7, 5), mode: .nearestExact) }
    }

    /// PyTorch 2.15 (float64): F.max_pool2d(x, 2, 2, return_indices=True) and (3, 2, padding 1) on a 4×5 plane with
    /// a tie, then F.max_unpool2d(…, output_size=(4, 5)).
    func testMaxPoolIndicesAndUnpoolMatchPyTorch() {
        let x = Tensor([0.3, -1.2, 2.0, 0.5, 1.1, 0.7, 0.7, -0.4, 2.2, 0.0, 1.5, -0.3, 0.9, 0.9, -2.0, 0.1, 0.6, -0.8, 1.3, 0.4],
                       shape: [1, 1, 4, 5], requiresGrad: true)
        let (y, indices) = maxPool2dWithIndices(x, kernelSize: (2, 2))
        XCTAssertEqual(y.storage, [0.7, 2.2, 1.5, 1.3])
        XCTAssertEqual(indices, [5, 8, 10, 18], "the first maximum of a tie, as PyTorch")
        let (y2, indices2) = maxPool2dWithIndices(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        XCTAssertEqual(y2.storage, [0.7, 2.2, 2.2, 1.5, 2.2, 2.2])
        XCTAssertEqual(indices2, [5, 8, 8, 10, 8, 8])
        let unpooled = maxUnpool2d(y, indices: indices, kernelSize: (2, 2), outputSize: (4, 5))
        XCTAssertEqual(unpooled.shape, [1, 1, 4, 5])
        XCTAssertEqual(unpooled.storage, [0, 0, 0, 0, 0, 0.7, 0, 0, 2.2, 0, 1.5, 0, 0, 0, 0, 0, 0, 0, 1.3, 0])
        XCTAssertEqual(maxUnpool2d(y2, indices: indices2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), outputSize: (4, 5)).storage,
                       [0, 0, 0, 0, 0, 0.7, 0, 0, 2.2, 0, 1.5, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        // The default output size is (H − 1)·S − 2P + k: 4×4 here, which index 18 does not fit (PyTorch refuses it too).
        XCTAssertEqual(maxUnpool2d(y, indices: [5, 8, 10, 15], kernelSize: (2, 2)).shape, [1, 1, 4, 4])
        // Gradients: unpooling reads back each value's position; pooling's indices are where its gradient goes.
        var g = SeededGenerator(seed: 23)
        let values = Tensor.normal([2, 3, 2, 2], generator: &g)
        let positions = (0..<24).map { ($0 * 7) % 16 }
        checkGradients([values]) { maxUnpool2d($0[0], indices: positions, kernelSize: (2, 2)) }
        let upstream = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])
        (y * upstream).sum().backward()
        var routed = [Float](repeating: 0, count: 20)
        for (k, index) in indices.enumerated() { routed[index] += upstream.storage[k] }
        XCTAssertEqual(x.grad!.storage, routed)
    }

    /// PyTorch 2.15 (float64): F.interpolate(x, mode="bicubic", …) on a 3×4 plane — ×2, to 5×7 (also with aligned
    /// corners), down to 2×3 — and the input gradient of `Σ y·sin(k)` over the output's flat index k.
    func testBicubicUpsamplingMatchesPyTorch() {
        let cases: [BicubicCase] = [
            BicubicCase(target: .scale(2), alignCorners: false, shape: [1, 1, 6, 8],
                        y: [0.386064148, -0.274868774, -1.40735779, -0.7151474, 1.44148407, 2.16080322, 1.06868896, 0.432269287, 0.567822266, 0.0883773804, -0.731352234, -0.272688293, 1.23285065, 1.61908112, 0.691471863, 0.146528625, 0.851184082, 0.678730774, 0.387657166, 0.462586975, 0.883378601, 0.716911316, 0.0663101196, -0.324427795, 1.5065567, 1.27677612, 0.898284912, 0.712129211, 0.847581482, 0.468795776, -0.196591187, -0.600558472, 2.16384735, 1.5447937, 0.512176514, 0.335020447, 1.14567413, 1.0148468, 0.0512298584, -0.525930786, 2.56806946, 1.71627045, 0.292732239, 0.115681458, 1.32230072, 1.33472443, 0.193382263, -0.487083435],
                        dx: [1.81762046, -0.372010487, -1.52137346, 1.61170455, -1.40853914, 0.69712612, 0.843725906, -1.38227483, 1.71535265, -1.37655848, -0.594904914, 1.855391]),
            BicubicCase(target: .size(5, 7), alignCorners: false, shape: [1, 1, 5, 7],
                        y: [0.382501968, -0.539582799, -1.4525379, 0.3649, 2.1987828, 1.32628484, 0.433765379, 0.624820663, 0.0958789359, -0.443884329, 0.5456875, 1.44941305, 0.698453863, 0.0151741983, 1.13968659, 0.963702624, 0.722886297, 0.765625, 0.637062682, -0.0251822157, -0.50913812, 1.97192551, 1.30384063, 0.458022267, 0.7594375, 1.04196068, 0.149664759, -0.552385022, 2.54102085, 1.39598156, -0.00737762391, 0.7074, 1.5459059, 0.446938557, -0.475656997],
                        dx: [1.46888271, 1.96336694, -2.20298017, -1.14653781, 2.65316069, -1.11177823, -2.28512312, 1.91659452, 0.303685806, -2.70614256, 0.676296427, 2.42700873]),
            BicubicCase(target: .size(5, 7), alignCorners: true, shape: [1, 1, 5, 7],
                        y: [0.3, -0.75, -1.2, 0.4, 2, 1.55, 0.5, 0.596875, 0.0694335938, -0.184375, 0.587792969, 1.275, 0.794628906, 0.040625, 1.1, 0.9, 0.7, 0.765625, 0.7, 0.15, -0.4, 1.725, 1.084375, 0.528125, 0.773339844, 0.978125, 0.3140625, -0.434375, 2.2, 0.959375, 0, 0.7125, 1.5, 0.740625, -0.3],
                        dx: [0.922858596, 2.08296675, -2.16814306, -0.804030713, 2.66451096, -0.922376391, -2.45207065, 2.04311731, 0.322781256, -2.51417112, 1.02181753, 1.75917347]),
            BicubicCase(target: .size(2, 3), alignCorners: false, shape: [1, 1, 2, 3],
                        y: [0.230096662, 0.48470459, 0.533370859, 1.70905581, 0.737390137, -0.102554434],
                        dx: [-0.067758427, 0.388631735, 0.520878907, 0.567714997, 0.0295556374, 0.0193244822, 0.0104263428, -0.0132016557, 0.151131792, -0.33411939, -0.491467283, -0.604955489]),
        ]
        for c in cases {
            let x = Tensor([0.3, -1.2, 2.0, 0.5, 1.1, 0.7, 0.7, -0.4, 2.2, 0.0, 1.5, -0.3], shape: [1, 1, 3, 4], requiresGrad: true)
            let y: Tensor
            switch c.target {
            case .scale(let s): y = upsample(x, scaleFactor: s, mode: .bicubic, alignCorners: c.alignCorners)
            case .size(let h, let w): y = upsample(x, size: (h, w), mode: .bicubic, alignCorners: c.alignCorners)
            }
            let label = "\(c.target), aligned \(c.alignCorners)"
            XCTAssertEqual(y.shape, c.shape, label)
            assertClose(y.storage, c.y, rtol: 1e-5, atol: 1e-6, label)
            (y * Tensor((0..<y.count).map { Float(Foundation.sin(Double($0))) }, shape: y.shape)).sum().backward()
            assertClose(x.grad!.storage, c.dx, rtol: 1e-5, atol: 1e-6, label)
        }
        var g = SeededGenerator(seed: 24)
        checkGradients([Tensor.normal([2, 2, 3, 3], generator: &g)]) { upsample($0[0], size: (5, 4), mode: .bicubic) }
    }
}

private struct BicubicCase {
    enum Target { case scale(Int), size(Int, Int) }
    let target: Target
    let alignCorners: Bool
    let shape: [Int]
    let y: [Float], dx: [Float]
}
