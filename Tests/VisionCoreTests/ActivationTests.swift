import Foundation
import TestSupport
import VisionCore
import XCTest

final class ActivationTests: XCTestCase {
    /// Inputs at least 0.1 away from 0, so finite differences never straddle a kink.
    private func inputsAwayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let t = Tensor.normal(shape, generator: &g)
        return Tensor(t.storage.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }, shape: shape)
    }

    func testPointwiseActivationValues() {
        let x = Tensor([-2, -0.5, 0, 1.5], shape: [4])
        XCTAssertEqual(x.relu().storage, [0, 0, 0, 1.5])
        assertClose(x.leakyRelu().storage, [-0.02, -0.005, 0, 1.5])
        assertClose(x.leakyRelu(negativeSlope: 0.2).storage, [-0.4, -0.1, 0, 1.5])
        let alpha: Float = 1.6732632423543772, scale: Float = 1.0507009873554805
        let em2: Float = Foundation.exp(-2), emHalf: Float = Foundation.exp(-0.5)
        assertClose(x.elu().storage, [em2 - 1, emHalf - 1, 0, 1.5])
        assertClose(x.elu(alpha: 2).storage, [2 * (em2 - 1), 2 * (emHalf - 1), 0, 1.5])
        assertClose(x.selu().storage, [scale * alpha * (em2 - 1), scale * alpha * (emHalf - 1), 0, scale * 1.5])
        let sigmoidOf: (Float) -> Float = { 1 / (1 + Foundation.exp(-$0)) }
        assertClose(x.sigmoid().storage, [sigmoidOf(-2), sigmoidOf(-0.5), 0.5, sigmoidOf(1.5)])
        assertClose(x.tanh().storage, [Foundation.tanh(-2), Foundation.tanh(-0.5), 0, Foundation.tanh(1.5)])
    }

    /// PyTorch 2.15 (float64, `torch.nn.functional`) values and gradients of `y.sum()` at
    /// x = [−4, −3, −1.5, −0.5, 0, 0.3, 1, 2.5, 3, 6, 7], the kinks of hardswish, hardsigmoid and relu6 included.
    func testNewerActivationsMatchPyTorch() {
        let xs: [Float] = [-4, -3, -1.5, -0.5, 0, 0.3, 1, 2.5, 3, 6, 7]
        let cases: [(String, (Tensor) -> Tensor, [Float], [Float])] = [
            ("silu", { $0.silu() },
             [-0.0719448398, -0.14227762, -0.273638286, -0.188770334, 0.0, 0.172332755, 0.731058579, 2.31035455, 2.85772238, 5.98516426, 6.99362264],
             [-0.0526646149, -0.088104106, -0.0412941543, 0.260038813, 0.5, 0.64778001, 0.927670512, 1.09940111, 1.08810411, 1.01232643, 1.0054605]),
            ("gelu", { $0.gelu() },
             [-0.000126684967, -0.00404969409, -0.100210802, -0.154268769, 0.0, 0.185373427, 0.841344746, 2.48447584, 2.99595031, 5.99999999, 7.0],
             [-0.000503649661, -0.0119456472, -0.127469192, 0.132504875, 0.5, 0.732327767, 1.08331547, 1.03761109, 1.01194565, 1.00000004, 1.0]),
            ("gelu tanh", { $0.gelu(approximateTanh: true) },
             [-7.02459482e-05, -0.00363739208, -0.100428423, -0.15428599, 0.0, 0.185370924, 0.841191991, 2.48491573, 2.99636261, 6.0, 7.0],
             [-0.000335123197, -0.0115841666, -0.127710793, 0.132630096, 0.5, 0.732295452, 1.08296408, 1.03795158, 1.01158417, 1.0, 1.0]),
            ("hardswish", { $0.hardswish() },
             [0, 0, -0.375, -0.208333333, 0.0, 0.165, 0.666666667, 2.29166667, 3.0, 6.0, 7.0],
             [0.0, 0.0, 0.0, 0.333333333, 0.5, 0.6, 0.833333333, 1.33333333, 1.0, 1.0, 1.0]),
            ("hardsigmoid", { $0.hardsigmoid() },
             [0.0, 0.0, 0.25, 0.416666667, 0.5, 0.55, 0.666666667, 0.916666667, 1.0, 1.0, 1.0],
             [0.0, 0.0, 0.166666672, 0.166666672, 0.166666672, 0.166666672, 0.166666672, 0.166666672, 0.0, 0.0, 0.0]),
            ("relu6", { $0.relu6() },
             [0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 1.0, 2.5, 3.0, 6.0, 6.0],
             [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]),
            ("softplus", { $0.softplus() },
             [0.0181499279, 0.0485873516, 0.201413278, 0.474076984, 0.693147181, 0.854355244, 1.31326169, 2.57888973, 3.04858735, 6.00247569, 7.00091147],
             [0.01798621, 0.0474258732, 0.182425524, 0.377540669, 0.5, 0.574442517, 0.731058579, 0.92414182, 0.952574127, 0.997527377, 0.999088949]),
            ("mish", { $0.mish() },
             [-0.0725917408, -0.145647461, -0.298099742, -0.220743775, 0.0, 0.208001372, 0.865098388, 2.4713923, 2.986535, 5.99992663, 6.99998838],
             [-0.0537732098, -0.0933931145, -0.0640978159, 0.289510678, 0.6, 0.7828273, 1.04903622, 1.04112953, 1.02110691, 1.00013414, 1.00002156]),
        ]
        for (name, f, values, gradients) in cases {
            let x = Tensor(xs, shape: [xs.count], requiresGrad: true)
            let y = f(x)
            y.sum().backward()
            assertClose(y.storage, values, rtol: 1e-5, atol: 1e-6, name)
            assertClose(x.grad?.storage ?? [], gradients, rtol: 1e-5, atol: 1e-6, "\(name) gradient")
        }
        // Softplus's linear region (βx > threshold) and a large negative input, as PyTorch: [25, 9.36e-14], gradient [1, 9.36e-14].
        let wide = Tensor([25, -30], shape: [2], requiresGrad: true)
        let y = wide.softplus()
        y.sum().backward()
        assertClose(y.storage, [25, 9.357623e-14], rtol: 1e-5, atol: 0)
        assertClose(wide.grad?.storage ?? [], [1, 9.357623e-14], rtol: 1e-5, atol: 0)
        assertClose(Tensor([1, -2], shape: [2]).softplus(beta: 2, threshold: 1).storage, [1, Float(Foundation.log1p(Foundation.exp(-4.0)) / 2)])
        XCTAssertTrue(Tensor([.nan], shape: [1]).relu6().storage[0].isNaN, "NaN passes through relu6, as relu")
    }

    func testNewerActivationGradients() {
        let x = inputsAwayFromZero([2, 3, 4], seed: 22)
        checkGradients([x]) { $0[0].silu() }
        checkGradients([x]) { $0[0].gelu() }
        checkGradients([x]) { $0[0].gelu(approximateTanh: true) }
        checkGradients([x]) { $0[0].softplus(beta: 1.5) }
        checkGradients([x]) { $0[0].mish() }
        let awayFromKinks = Tensor([-4, -2.2, -0.7, 0.4, 1.3, 2.6, 4.5, 7], shape: [8])
        checkGradients([awayFromKinks]) { $0[0].hardswish() }
        checkGradients([awayFromKinks]) { $0[0].hardsigmoid() }
        checkGradients([awayFromKinks]) { $0[0].relu6() }
    }

    func testReluGradientIsZeroAtTheKink() {
        let x = Tensor([-1, 0, 2], shape: [3], requiresGrad: true)
        x.relu().sum().backward()
        XCTAssertEqual(x.grad!.storage, [0, 0, 1])
    }

    func testPointwiseActivationGradients() {
        let x = inputsAwayFromZero([2, 3, 4], seed: 21)
        checkGradients([x]) { $0[0].relu() }
        checkGradients([x]) { $0[0].leakyRelu(negativeSlope: 0.1) }
        checkGradients([x]) { $0[0].elu(alpha: 1.5) }
        checkGradients([x]) { $0[0].selu() }
        checkGradients([x]) { $0[0].sigmoid() }
        checkGradients([x]) { $0[0].tanh() }
    }

    func testClampValues() {
        let x = Tensor([-3, -1.5, -0.2, 0, 0.7, 2, 5], shape: [7])
        // Below the bounds → low, inside → unchanged, at a bound → the bound, above → high.
        XCTAssertEqual(x.clamp(min: -1.5, max: 2).storage, [-1.5, -1.5, -0.2, 0, 0.7, 2, 2])
        // One-sided: the other bound defaults to ∓∞.
        XCTAssertEqual(x.clamp(min: 0).storage, [0, 0, 0, 0, 0.7, 2, 5])
        XCTAssertEqual(x.clamp(max: 0.5).storage, [-3, -1.5, -0.2, 0, 0.5, 0.5, 0.5])
        XCTAssertEqual(x.clamp().storage, x.storage)
        // A degenerate interval maps everything to its single point.
        XCTAssertEqual(x.clamp(min: 1, max: 1).storage, [1, 1, 1, 1, 1, 1, 1])
    }

    func testClampGradientIsOneInsideAndZeroOutside() {
        // Values kept at least 0.05 from the bounds −1 and 1.
        let values: [Float] = [-2.3, -1.4, -0.9, -0.3, 0, 0.45, 0.8, 1.2, 1.7, 3.1, -0.6, 0.95]
        let x = Tensor(values, shape: [3, 4], requiresGrad: true)
        x.clamp(min: -1, max: 1).sum().backward()
        XCTAssertEqual(x.grad!.storage, values.map { (v: Float) -> Float in v > -1 && v < 1 ? 1 : 0 })
        XCTAssertEqual(x.grad!.storage, [0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1])
        checkGradients([Tensor(values, shape: [3, 4])]) { $0[0].clamp(min: -1, max: 1) }
        checkGradients([Tensor(values, shape: [3, 4])]) { $0[0].clamp(min: 0.2) }
        checkGradients([Tensor(values, shape: [3, 4])]) { $0[0].clamp(max: -0.5) }
    }

    /// At a bound the gradient is 0, as PyTorch 2.15 computes it (finite differences cannot see this):
    /// `torch.tensor([-1., 0., 0.5, 1., 2.]).clamp(0, 1)` → [0, 0, 1, 0, 0]; `clamp(min=0)` → [0, 0, 1, 1, 1];
    /// `clamp(max=1)` → [1, 1, 1, 0, 0].
    func testClampGradientAtTheBoundsMatchesPyTorch() {
        let values: [Float] = [-1, 0, 0.5, 1, 2]
        for (low, high, expected) in [(Float(0), Float(1), [Float(0), 0, 1, 0, 0]), (0, .infinity, [0, 0, 1, 1, 1]),
                                      (-.infinity, 1, [1, 1, 1, 0, 0])] {
            let x = Tensor(values, shape: [5], requiresGrad: true)
            x.clamp(min: low, max: high).sum().backward()
            XCTAssertEqual(x.grad?.storage, expected, "clamp(\(low), \(high))")
        }
    }

    func testSigmoidAndTanhSaturateWithoutOverflow() {
        let x = Tensor([-100, 100, -1000, 1000], shape: [4])
        let s = x.sigmoid().storage
        XCTAssertTrue(s.allSatisfy(\.isFinite))
        XCTAssertEqual(s[1], 1)
        XCTAssertEqual(s[3], 1)
        XCTAssertLessThan(s[0], 1e-37)
        XCTAssertEqual(x.tanh().storage, [-1, 1, -1, 1])
    }

    func testSoftmaxSumsToOneAlongTheAxisAndMatchesHandValues() {
        let x = Tensor([0, Foundation.log(3 as Float), 1, 1], shape: [2, 2])
        assertClose(x.softmax(axis: 1).storage, [0.25, 0.75, 0.5, 0.5], rtol: 1e-6, atol: 1e-6)
        let e: Float = Foundation.exp(1)
        assertClose(x.softmax(axis: 0).storage, [1 / (1 + e), 3 / (3 + e), e / (1 + e), e / (3 + e)], rtol: 1e-6, atol: 1e-6)
        var g = SeededGenerator(seed: 22)
        let y = Tensor.normal([2, 3, 4], generator: &g)
        let sums = y.softmax(axis: 1).sum(axis: 1)
        assertClose(sums.storage, [Float](repeating: 1, count: 8), rtol: 1e-6, atol: 1e-6)
        // log-softmax is the log of softmax.
        assertClose(y.logSoftmax(axis: -1).storage, y.softmax(axis: -1).storage.map { Foundation.log($0) },
                    rtol: 1e-5, atol: 1e-6)
    }

    func testLogSoftmaxIsStableForLargeLogits() {
        let x = Tensor([1000, 0, -1000, -1000], shape: [2, 2])
        XCTAssertEqual(x.logSoftmax(axis: 1).storage, [0, -1000, -Foundation.log(2), -Foundation.log(2)])
        XCTAssertEqual(x.softmax(axis: 1).storage, [1, 0, 0.5, 0.5])
    }

    func testSoftmaxAndLogSoftmaxGradients() {
        var g = SeededGenerator(seed: 23)
        let x = Tensor.normal([2, 3, 4], generator: &g)
        checkGradients([x]) { $0[0].softmax(axis: 1) }
        checkGradients([x]) { $0[0].softmax(axis: -1) }
        checkGradients([x]) { $0[0].logSoftmax(axis: 1) }
        checkGradients([x]) { $0[0].logSoftmax(axis: -1) }
    }

    func testLargeTensorsSplitOverCoresMatchElementwiseResults() {
        var g = SeededGenerator(seed: 26)
        let x = Tensor.normal([16, 8, 32, 32], generator: &g, requiresGrad: true)
        let y = x.relu()
        XCTAssertEqual(y.storage, x.storage.map { Swift.max($0, 0) })
        y.sum().backward()
        XCTAssertEqual(x.grad!.storage, x.storage.map { $0 > 0 ? 1 : 0 })
        // Softmax over the 8 channels: every pixel's probabilities sum to 1 and match exp(logSoftmax).
        let p = x.detach().softmax(axis: 1)
        assertClose(p.sum(axis: 1).storage, [Float](repeating: 1, count: 16 * 32 * 32), rtol: 1e-5, atol: 1e-5)
        assertClose(x.detach().logSoftmax(axis: 1).storage.map { Foundation.exp($0) }, p.storage, rtol: 1e-5, atol: 1e-6)
        XCTAssertEqual(p[3, 5, 7, 11], Foundation.exp(x[3, 5, 7, 11]) / (0..<8).map { Foundation.exp(x[3, $0, 7, 11]) }.reduce(0, +),
                       accuracy: 1e-6)
    }

    func testPreluValuesAndGradients() {
        let x = Tensor([-1, 2, -3, 4,
                        5, -6, 7, -8], shape: [2, 2, 2])
        let weight = Tensor([0.1, 0.5], shape: [2])
        assertClose(prelu(x, weight: weight).storage, [-0.1, 2, -1.5, 4, 5, -0.6, 7, -4])
        assertClose(prelu(x, weight: Tensor([0.25], shape: [1])).storage, [-0.25, 2, -0.75, 4, 5, -1.5, 7, -2])

        let input = inputsAwayFromZero([2, 3, 2, 2], seed: 24)
        var g = SeededGenerator(seed: 25)
        let slopes = Tensor.uniform([3], low: 0.05, high: 0.5, generator: &g)
        checkGradients([input, slopes]) { t in prelu(t[0], weight: t[1]) }
        let shared = Tensor([0.2], shape: [1])
        checkGradients([input, shared]) { t in prelu(t[0], weight: t[1]) }
    }
}
