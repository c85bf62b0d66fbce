import TestSupport
import VisionCore
import XCTest

final class AutogradTests: XCTestCase {
    func testGradientsSumOverMultiplePaths() {
        // y = x·x + 3x → dy/dx = 2x + 3
        let x = Tensor([1, -2, 0.5], shape: [3], requiresGrad: true)
        let y = (x * x + x * 3).sum()
        y.backward()
        XCTAssertEqual(y.item, 1 + 3 + 4 - 6 + 0.25 + 1.5)
        assertClose(x.grad!.storage, [5, -1, 4])
    }

    func testGradientsAccumulateAcrossBackwardCallsUntilZeroed() {
        let x = Tensor([2], shape: [1], requiresGrad: true)
        (x * 3).sum().backward()
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad!.storage, [6])
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testNoGradScopeRecordsNothingAndDetachCutsTheGraph() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        let y = Autograd.noGrad { x * 2 }
        XCTAssertFalse(y.requiresGrad)
        let z = x.detach() * 2
        XCTAssertFalse(z.requiresGrad)
    }

    func testGraphIsReleasedAfterBackward() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        weak var intermediate: Tensor?
        do {
            let h = x * 2
            intermediate = h
            let loss = (h * h).sum()
            loss.backward()
        }
        XCTAssertNil(intermediate, "the intermediate tensor should be freed with the graph")
        assertClose(x.grad!.storage, [8, 16])
    }

    func testBroadcastArithmeticAndItsGradient() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([10, 20, 30], shape: [3])
        XCTAssertEqual((a + b).storage, [11, 22, 33, 14, 25, 36])
        let c = Tensor([100, 200], shape: [2, 1])
        XCTAssertEqual((a * c).storage, [100, 200, 300, 800, 1000, 1200])
        var g = SeededGenerator(seed: 1)
        let x = Tensor.uniform([2, 3], low: 0.5, high: 2, generator: &g)
        let y = Tensor.uniform([3], low: 0.5, high: 2, generator: &g)
        let z = Tensor.uniform([2, 1], low: 0.5, high: 2, generator: &g)
        checkGradients([x, y, z]) { t in (t[0] + t[1]) * t[2] / t[1] - t[2] }
    }

    func testUnaryGradients() {
        var g = SeededGenerator(seed: 2)
        let x = Tensor.uniform([5], low: 0.3, high: 2, generator: &g)
        checkGradients([x]) { $0[0].exp() }
        checkGradients([x]) { $0[0].log() }
        checkGradients([x]) { $0[0].sqrt() }
        checkGradients([x]) { $0[0].pow(3) }
        checkGradients([x]) { $0[0].square().abs() }
        // abs on both signs (kept 0.3 away from 0), and its gradient 0 at 0 as PyTorch's sign(0).
        checkGradients([Tensor([-1.7, -0.3, 0.4, 2.2, -0.9], shape: [5])]) { $0[0].abs() }
        let zero = Tensor([-2, 0, 3], shape: [3], requiresGrad: true)
        zero.abs().sum().backward()
        XCTAssertEqual(zero.grad?.storage, [-1, 0, 1])
        // pow at 0, as PyTorch: x.pow(0) has gradient 0 (not NaN), x.pow(2) 0, x.pow(0.5) inf.
        for (p, expected) in [(Float(0), [Float(0), 0]), (2, [0, 4]), (0.5, [.infinity, Float(0.5 / 2.0.squareRoot())])] {
            let x = Tensor([0, 2], shape: [2], requiresGrad: true)
            x.pow(p).sum().backward()
            XCTAssertEqual(x.grad?.storage[0], expected[0], "pow(\(p)) at 0")
            XCTAssertEqual(x.grad?.storage[1] ?? .nan, expected[1], accuracy: 1e-6, "pow(\(p)) at 2")
        }
    }

    /// Tied maxima, as PyTorch 2.15: `max(dim)` gives the gradient to the element it returns (the first),
    /// the full `max()` shares it equally. For [[1, 3, 3], [2, 2, 0]]: max(dim=1) → [[0, 1, 0], [1, 0, 0]],
    /// max() → [[0, 0.5, 0.5], [0, 0, 0]].
    func testMaxGradientOnTiesMatchesPyTorch() {
        let x = Tensor([1, 3, 3, 2, 2, 0], shape: [2, 3], requiresGrad: true)
        x.max(axis: 1).sum().backward()
        XCTAssertEqual(x.grad?.storage, [0, 1, 0, 1, 0, 0])
        x.grad = nil
        x.max().backward()
        XCTAssertEqual(x.grad?.storage, [0, 0.5, 0.5, 0, 0, 0])
        XCTAssertEqual(x.max().item, 3)
        checkGradients([Tensor([0.3, -1.2, 2.5, 0.8], shape: [4])]) { $0[0].max() }
        // A NaN makes the maximum NaN and takes the gradient, shared by the NaNs: torch gives nan, [0, 0.5, 0, 0.5].
        let nan = Tensor([1, .nan, 3, .nan], shape: [4], requiresGrad: true)
        let m = nan.max()
        XCTAssertTrue(m.item.isNaN)
        m.backward()
        XCTAssertEqual(nan.grad?.storage, [0, 0.5, 0, 0.5])
    }

    func testReductions() {
        let a = Tensor([1, 5, 3, 4, 2, 6], shape: [2, 3])
        XCTAssertEqual(a.sum(axis: 0).storage, [5, 7, 9])
        XCTAssertEqual(a.sum(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(a.mean(axis: 1).storage, [3, 4])
        XCTAssertEqual(a.max(axis: 1).storage, [5, 6])
        XCTAssertEqual(a.argmax(axis: 1), [1, 2])
        XCTAssertEqual(a.argmax(axis: 0), [1, 0, 1])
        XCTAssertEqual(a.max().item, 6)
        var g = SeededGenerator(seed: 3)
        let x = Tensor.normal([2, 3, 4], generator: &g)
        checkGradients([x]) { $0[0].sum(axes: [0, 2]) }
        checkGradients([x]) { $0[0].mean(axis: -1, keepDims: true) }
        checkGradients([x]) { $0[0].max(axis: 1) }
    }

    func testShapeOpsAndTheirGradients() {
        let a = Tensor((0..<6).map(Float.init), shape: [2, 3])
        XCTAssertEqual(a.transpose(0, 1).storage, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(a.reshape([3, -1]).shape, [3, 2])
        XCTAssertEqual(a.slice(1..<2).storage, [3, 4, 5])
        XCTAssertEqual(Tensor.concat([a, a.slice(0..<1)], axis: 0).shape, [3, 3])
        XCTAssertEqual(Tensor.concat([a, a], axis: 1).storage, [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
        var g = SeededGenerator(seed: 4)
        let x = Tensor.normal([2, 3, 4], generator: &g)
        let y = Tensor.normal([2, 2, 4], generator: &g)
        checkGradients([x]) { $0[0].permute([2, 0, 1]) }
        checkGradients([x, y]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        checkGradients([x]) { $0[0].slice(1..<2).flatten() }
        checkGradients([x]) { $0[0].select(rows: [1, 0, 1]) }
    }

    func testMatmulMatchesHandComputationAndGradients() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
        XCTAssertEqual(a.matmul(b).storage, [58, 64, 139, 154])
        XCTAssertEqual(a.matmul(a, transposeOther: true).storage, [14, 32, 32, 77])
        var g = SeededGenerator(seed: 5)
        let x = Tensor.normal([3, 4], generator: &g)
        let w = Tensor.normal([5, 4], generator: &g)
        let v = Tensor.normal([3, 5], generator: &g)
        let u = Tensor.normal([4, 2], generator: &g)
        let r = Tensor.normal([2, 3], generator: &g)
        // All four transpose combinations of the backward pass (Tensor.matmul's two branches per operand).
        checkGradients([x, u]) { $0[0].matmul($0[1]) }                                           // [3,4]·[4,2]
        checkGradients([x, w]) { $0[0].matmul($0[1], transposeOther: true) }                     // [3,4]·[5,4]ᵀ
        checkGradients([x, v]) { $0[0].matmul($0[1], transposeSelf: true) }                      // [3,4]ᵀ·[3,5]
        checkGradients([x, r]) { $0[0].matmul($0[1], transposeSelf: true, transposeOther: true) } // [3,4]ᵀ·[2,3]ᵀ
    }

    func testMatmulBothTransposedMatchesHandComputation() {
        // Aᵀ·Bᵀ = (B·A)ᵀ. A = [[1,2],[3,4],[5,6]] (3×2), B = [[1,0,2],[−1,3,1]] (2×3).
        // Aᵀ = [[1,3,5],[2,4,6]], Bᵀ = [[1,−1],[0,3],[2,1]]:
        // row 0: [1·1 + 3·0 + 5·2, 1·(−1) + 3·3 + 5·1] = [11, 13]; row 1: [2 + 0 + 12, −2 + 12 + 6] = [14, 16].
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2], requiresGrad: true)
        let b = Tensor([1, 0, 2, -1, 3, 1], shape: [2, 3], requiresGrad: true)
        let c = a.matmul(b, transposeSelf: true, transposeOther: true)
        XCTAssertEqual(c.shape, [2, 2])
        XCTAssertEqual(c.storage, [11, 13, 14, 16])
        // d(ΣC)/dA[i][j] = Σ_m B[m][i] (row i of Bᵀ summed): B's column sums are [0, 3, 3].
        // d(ΣC)/dB[m][i] = Σ_j A[i][j] (row sums of A): [3, 7, 11] for each m.
        c.sum().backward()
        XCTAssertEqual(a.grad!.storage, [0, 0, 3, 3, 3, 3])
        XCTAssertEqual(b.grad!.storage, [3, 7, 11, 3, 7, 11])
    }

    func testSeededGeneratorIsDeterministicAndRoughlyNormal() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
        var g = SeededGenerator(seed: 7)
        let t = Tensor.normal([20000], generator: &g)
        let mean = t.mean().item
        let variance = (t - mean).square().mean().item
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }

    /// Sample moments against the distributions' own: Gamma(k) has mean k and variance k;
    /// Beta(a, b) has mean a/(a+b) and variance ab/((a+b)²(a+b+1)). 40,000 seeded draws each, so the
    /// tolerances (about five standard errors) are never hit by chance.
    func testGammaAndBetaSamplesHaveTheDistributionsMoments() {
        func moments(_ draw: () -> Double) -> (mean: Double, variance: Double) {
            let xs = (0..<40_000).map { _ in draw() }
            let mean = xs.reduce(0, +) / Double(xs.count)
            return (mean, xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1))
        }
        var g = SeededGenerator(seed: 8)
        for k in [0.3, 1.0, 2.5, 9.0] {
            let m = moments { g.nextGamma(shape: k) }
            XCTAssertEqual(m.mean, k, accuracy: 5 * (k / 40_000).squareRoot(), "Gamma(\(k)) mean")
            XCTAssertEqual(m.variance, k, accuracy: 0.05 * k + 0.01, "Gamma(\(k)) variance")
        }
        for (a, b) in [(0.2, 0.2), (1.0, 1.0), (0.4, 2.0)] {
            let m = moments { g.nextBeta(a, b) }
            let mean = a / (a + b), variance = a * b / ((a + b) * (a + b) * (a + b + 1))
            XCTAssertEqual(m.mean, mean, accuracy: 5 * (variance / 40_000).squareRoot(), "Beta(\(a), \(b)) mean")
            XCTAssertEqual(m.variance, variance, accuracy: 0.05 * variance, "Beta(\(a), \(b)) variance")
        }
    }
}
