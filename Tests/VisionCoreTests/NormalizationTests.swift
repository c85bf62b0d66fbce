import TestSupport
import VisionCore
import XCTest

/// Batch normalisation, the linear kernel and dropout.
final class NormalizationTests: XCTestCase {
    // MARK: Batch normalisation

    /// Channel 0 holds {1, 3, 5, 7} (mean 4, biased variance 5, unbiased 20/3) and channel 1 holds
    /// {0, 0, 2, 2} (mean 1, biased variance 1, unbiased 4/3).
    private func twoChannelBatch() -> Tensor {
        Tensor([1, 3, 0, 0,
                5, 7, 2, 2], shape: [2, 2, 1, 2])
    }

    func testTrainingNormalisesWithBatchStatisticsAndUpdatesRunningStatistics() {
        let x = twoChannelBatch()
        let runningMean = Tensor.zeros([2]), runningVar = Tensor.ones([2])
        let y = batchNorm2d(x, weight: nil, bias: nil, runningMean: runningMean, runningVar: runningVar,
                            training: true, momentum: 0.1, eps: 1e-5)
        let s0 = 1 / (5 + 1e-5 as Float).squareRoot(), s1 = 1 / (1 + 1e-5 as Float).squareRoot()
        assertClose(y.storage, [-3 * s0, -1 * s0, -1 * s1, -1 * s1,
                                1 * s0, 3 * s0, 1 * s1, 1 * s1], rtol: 1e-5, atol: 1e-6)
        // r = 0.9·r + 0.1·batch, with the unbiased variance for runningVar.
        assertClose(runningMean.storage, [0.4, 0.1], rtol: 1e-6, atol: 1e-7)
        assertClose(runningVar.storage, [0.9 + 0.1 * 20 / 3, 0.9 + 0.1 * 4 / 3], rtol: 1e-6, atol: 1e-7)
    }

    func testTrainingAppliesAffineParametersAndUpdatesRunningStatisticsWithoutGrad() {
        let x = twoChannelBatch()
        let runningMean = Tensor([1, -1], shape: [2]), runningVar = Tensor([2, 3], shape: [2])
        let weight = Tensor([2, 3], shape: [2]), bias = Tensor([0.5, -0.5], shape: [2])
        let y = Autograd.noGrad {
            batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                        training: true, momentum: 0.5, eps: 0)
        }
        // Per channel the output has mean `bias` and (biased) standard deviation `weight`.
        for c in 0..<2 {
            let values = [y[0, c, 0, 0], y[0, c, 0, 1], y[1, c, 0, 0], y[1, c, 0, 1]]
            let mean = values.reduce(0, +) / 4
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            XCTAssertEqual(mean, bias.storage[c], accuracy: 1e-5)
            XCTAssertEqual(variance.squareRoot(), weight.storage[c], accuracy: 1e-4)
        }
        assertClose(runningMean.storage, [0.5 * 1 + 0.5 * 4, 0.5 * -1 + 0.5 * 1], rtol: 1e-6, atol: 1e-6)
        assertClose(runningVar.storage, [0.5 * 2 + 0.5 * 20 / 3, 0.5 * 3 + 0.5 * 4 / 3], rtol: 1e-6, atol: 1e-6)
    }

    func testEvaluationUsesRunningStatisticsAndLeavesThemUnchanged() {
        let x = twoChannelBatch()
        let runningMean = Tensor([2, 1], shape: [2]), runningVar = Tensor([4, 0.25], shape: [2])
        let weight = Tensor([3, 1], shape: [2]), bias = Tensor([1, 0], shape: [2])
        let y = batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                            training: false, eps: 0)
        // channel 0: (x − 2)/2·3 + 1; channel 1: (x − 1)/0.5
        assertClose(y.storage, [-0.5, 2.5, -2, -2,
                                5.5, 8.5, 2, 2], rtol: 1e-6, atol: 1e-6)
        XCTAssertEqual(runningMean.storage, [2, 1])
        XCTAssertEqual(runningVar.storage, [4, 0.25])
    }

    func testEvaluationWithoutRunningStatisticsUsesTheBatch() {
        let x = twoChannelBatch()
        let evaluated = batchNorm2d(x, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: false)
        let trained = batchNorm2d(x, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true)
        XCTAssertEqual(evaluated.storage, trained.storage)
    }

    func testTrainingGradientsForInputWeightAndBias() {
        var g = SeededGenerator(seed: 11)
        let x = Tensor.normal([3, 2, 2, 3], generator: &g)
        let weight = Tensor.uniform([2], low: 0.5, high: 1.5, generator: &g)
        let bias = Tensor.normal([2], generator: &g)
        checkGradients([x, weight, bias]) { t in
            batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: nil, runningVar: nil, training: true)
        }
        // Without affine parameters, and on a 2-D [N, C] input (BatchNorm1d).
        checkGradients([x]) { t in
            batchNorm2d(t[0], weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true)
        }
        let features = Tensor.normal([5, 3], generator: &g)
        let weight3 = Tensor.uniform([3], low: 0.5, high: 1.5, generator: &g)
        let bias3 = Tensor.normal([3], generator: &g)
        checkGradients([features, weight3, bias3]) { t in
            batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: nil, runningVar: nil, training: true)
        }
    }

    func testEvaluationGradientsForInputWeightAndBias() {
        var g = SeededGenerator(seed: 12)
        let x = Tensor.normal([2, 3, 2, 2], generator: &g)
        let weight = Tensor.uniform([3], low: 0.5, high: 1.5, generator: &g)
        let bias = Tensor.normal([3], generator: &g)
        let runningMean = Tensor.normal([3], generator: &g)
        let runningVar = Tensor.uniform([3], low: 0.5, high: 2, generator: &g)
        checkGradients([x, weight, bias]) { t in
            batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: runningMean, runningVar: runningVar, training: false)
        }
    }

    func testLargeBatchSplitOverCoresMatchesANaiveComputation() {
        // 131,072 elements: large enough for the kernels to split the work over the cores.
        var g = SeededGenerator(seed: 14)
        let (batch, channels, spatial) = (8, 16, 32 * 32)
        let x = Tensor.normal([batch, channels, 32, 32], mean: 0.5, std: 2, generator: &g, requiresGrad: true)
        let weight = Tensor.uniform([channels], low: 0.5, high: 1.5, generator: &g, requiresGrad: true)
        let upstream = Tensor.normal(x.shape, generator: &g)
        let y = batchNorm2d(x, weight: weight, bias: nil, runningMean: nil, runningVar: nil, training: true)
        y.backward(upstream)
        var expectedY = [Float](repeating: 0, count: x.count), expectedGrad = expectedY
        let m = Double(batch * spatial)
        for c in 0..<channels {
            var indices: [Int] = []
            for n in 0..<batch {
                let start = (n * channels + c) * spatial
                indices += Array(start..<(start + spatial))
            }
            var mean = 0.0, variance = 0.0
            for i in indices { mean += Double(x.storage[i]) }
            mean /= m
            for i in indices { variance += (Double(x.storage[i]) - mean) * (Double(x.storage[i]) - mean) }
            variance /= m
            let invStd = 1 / (variance + 1e-5).squareRoot()
            let w = Double(weight.storage[c])
            var sumGrad = 0.0, sumGradXHat = 0.0
            for i in indices {
                let xHat = (Double(x.storage[i]) - mean) * invStd
                expectedY[i] = Float(xHat * w)
                sumGrad += Double(upstream.storage[i])
                sumGradXHat += Double(upstream.storage[i]) * xHat
            }
            for i in indices {
                let xHat = (Double(x.storage[i]) - mean) * invStd
                expectedGrad[i] = Float(w * invStd * (Double(upstream.storage[i]) - sumGrad / m - xHat * sumGradXHat / m))
            }
        }
        assertClose(y.storage, expectedY, rtol: 1e-4, atol: 1e-5, "output")
        assertClose(x.grad!.storage, expectedGrad, rtol: 1e-3, atol: 1e-5, "input gradient")
    }

    // MARK: Linear

    func testLinearMatchesHandComputation() {
        let x = Tensor([1, 2, 3,
                        -1, 0, 2], shape: [2, 3])
        let weight = Tensor([1, 0, -1,
                             2, 1, 0.5], shape: [2, 3])
        let bias = Tensor([10, -10], shape: [2])
        XCTAssertEqual(linear(x, weight: weight).storage, [-2, 5.5, -3, -1])
        let y = linear(x, weight: weight, bias: bias)
        XCTAssertEqual(y.shape, [2, 2])
        XCTAssertEqual(y.storage, [8, -4.5, 7, -11])
        // Leading axes are batch axes: [2, 1, 3] → [2, 1, 2].
        XCTAssertEqual(linear(x.reshape([2, 1, 3]), weight: weight, bias: bias).shape, [2, 1, 2])
    }

    func testLinearGradients() {
        var g = SeededGenerator(seed: 13)
        let x = Tensor.normal([4, 5], generator: &g)
        let weight = Tensor.normal([3, 5], generator: &g)
        let bias = Tensor.normal([3], generator: &g)
        checkGradients([x, weight, bias]) { t in linear(t[0], weight: t[1], bias: t[2]) }
        checkGradients([x, weight]) { t in linear(t[0], weight: t[1]) }
    }

    // MARK: Dropout

    func testDropoutKeepsTheExpectationAndZeroesAboutPOfTheElements() {
        var generator = SeededGenerator(seed: 2024)
        let x = Tensor.ones([20_000])
        let y = dropout(x, p: 0.3, training: true, generator: &generator)
        let zeros = y.storage.filter { $0 == 0 }.count
        XCTAssertEqual(Float(zeros) / Float(x.count), 0.3, accuracy: 0.015)
        XCTAssertEqual(y.mean().item, 1, accuracy: 0.03)
        // Survivors are scaled by 1/(1 − p).
        XCTAssertTrue(y.storage.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.7) < 1e-6 })
    }

    func testDropoutIsIdentityInEvaluationAndForZeroProbability() {
        var generator = SeededGenerator(seed: 1)
        let x = Tensor([1, 2, 3], shape: [3])
        XCTAssertTrue(dropout(x, p: 0.5, training: false, generator: &generator) === x)
        XCTAssertTrue(dropout(x, p: 0, training: true, generator: &generator) === x)
        XCTAssertEqual(dropout(x, p: 1, training: true, generator: &generator).storage, [0, 0, 0])
        // Nothing passes p = 1, gradients included.
        let w = Tensor([1, 2, 3], shape: [3], requiresGrad: true)
        dropout(w, p: 1, training: true, generator: &generator).sum().backward()
        XCTAssertEqual(w.grad?.storage, [0, 0, 0])
    }

    /// Whole planes are dropped: every (n, c) plane is all zeros or the input scaled by 1/(1 − p); about p
    /// of 2,000 planes are dropped; the gradient carries each plane's factor; evaluation is the identity.
    func testChannelDropoutZeroesWholePlanes() {
        var g = SeededGenerator(seed: 78), again = SeededGenerator(seed: 78)
        let x = Tensor((0..<(40 * 50 * 6)).map { Float($0 % 7) + 1 }, shape: [40, 50, 2, 3], requiresGrad: true)
        let y = dropout2d(x, p: 0.3, training: true, generator: &g)
        XCTAssertEqual(y.storage, dropout2d(x.detach(), p: 0.3, training: true, generator: &again).storage, "seeded")
        var dropped = 0
        for plane in 0..<2000 {
            let range = (plane * 6)..<((plane + 1) * 6)
            let ratios = range.map { y.storage[$0] / x.storage[$0] }
            if ratios.allSatisfy({ $0 == 0 }) { dropped += 1 } else {
                for r in ratios { XCTAssertEqual(r, 1 / 0.7, accuracy: 1e-6, "plane \(plane) kept whole, scaled") }
            }
        }
        // Binomial(2000, 0.3): mean 600, standard deviation 20.5.
        XCTAssertEqual(Double(dropped), 600, accuracy: 100)
        y.sum().backward()
        assertClose(x.grad!.storage, zip(y.storage, x.storage).map { $0 / $1 }, rtol: 1e-6, atol: 0)
        XCTAssertTrue(dropout2d(x, p: 0.3, training: false, generator: &g) === x)
        var h = SeededGenerator(seed: 5)
        let z = Tensor.normal([2, 3, 2, 2], generator: &h)
        checkGradients([z]) { t in
            var generator = SeededGenerator(seed: 9)
            return dropout2d(t[0], p: 0.4, training: true, generator: &generator)
        }
    }

    func testDropoutIsSeededAndItsGradientIsTheMask() {
        var a = SeededGenerator(seed: 77), b = SeededGenerator(seed: 77)
        let x = Tensor.full([64], 2, requiresGrad: true)
        let y = dropout(x, p: 0.5, training: true, generator: &a)
        XCTAssertEqual(y.storage, dropout(x.detach(), p: 0.5, training: true, generator: &b).storage)
        y.sum().backward()
        // dy/dx is 0 or 1/(1 − p) = 2, i.e. y / x.
        XCTAssertEqual(x.grad!.storage, y.storage.map { $0 / 2 })
        var g = SeededGenerator(seed: 5)
        let z = Tensor.normal([3, 4], generator: &g)
        checkGradients([z]) { t in
            var generator = SeededGenerator(seed: 9)
            return dropout(t[0], p: 0.4, training: true, generator: &generator)
        }
    }
}
