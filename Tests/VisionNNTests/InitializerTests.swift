import Foundation
import TestSupport
import VisionCore
import VisionNN
import XCTest

/// Mean, standard deviation and extremes, accumulated in Double.
private func statistics(_ t: Tensor) -> (mean: Double, std: Double, min: Float, max: Float) {
    let n = Double(t.count)
    let mean = t.storage.reduce(0) { $0 + Double($1) } / n
    let variance = t.storage.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    return (mean, variance.squareRoot(), t.storage.min()!, t.storage.max()!)
}

final class InitializerTests: XCTestCase {
    /// A conv weight large enough (294,912 elements) for the sample std to sit within 0.3 % of σ.
    private let convShape = [256, 128, 3, 3] // fanIn 1152, fanOut 2304

    private func assertUniform(_ t: Tensor, bound: Float, file: StaticString = #filePath, line: UInt = #line) {
        let s = statistics(t)
        XCTAssertGreaterThanOrEqual(s.min, -bound, file: file, line: line)
        XCTAssertLessThanOrEqual(s.max, bound, file: file, line: line)
        XCTAssertGreaterThan(s.max, 0.99 * bound, "draws reach the bound", file: file, line: line)
        XCTAssertLessThan(s.min, -0.99 * bound, file: file, line: line)
        XCTAssertEqual(s.mean, 0, accuracy: 0.01 * Double(bound), file: file, line: line)
        // U(−b, b) has σ = b/√3.
        XCTAssertEqual(s.std, Double(bound) / 3.0.squareRoot(), accuracy: 0.02 * Double(bound) / 3.0.squareRoot(),
                       file: file, line: line)
    }

    private func assertNormal(_ t: Tensor, mean: Double = 0, std: Double, file: StaticString = #filePath, line: UInt = #line) {
        let s = statistics(t)
        XCTAssertEqual(s.mean, mean, accuracy: 0.01 * std, file: file, line: line)
        XCTAssertEqual(s.std, std, accuracy: 0.02 * std, file: file, line: line)
    }

    func testFansFollowPyTorch() {
        XCTAssertTrue(Init.fans([10, 512]) == (512, 10), "Linear [out, in]")
        XCTAssertTrue(Init.fans([64, 3, 3, 3]) == (27, 576), "Conv2d [K, C, kh, kw]")
        XCTAssertTrue(Init.fans([16, 8, 4, 4]) == (128, 256), "ConvTranspose2d [C, K, kh, kw] uses shape[1] too")
        XCTAssertTrue(Init.fans([8, 4, 5]) == (20, 40), "Conv1d")
    }

    func testGainsMatchCalculateGain() {
        XCTAssertEqual(Init.Nonlinearity.linear.gain, 1)
        XCTAssertEqual(Init.Nonlinearity.sigmoid.gain, 1)
        XCTAssertEqual(Init.Nonlinearity.relu.gain, Float(2).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Init.Nonlinearity.leakyRelu(negativeSlope: 0.2).gain, Float(2 / 1.04).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Init.Nonlinearity.leakyRelu(negativeSlope: 0).gain, Float(2).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Init.Nonlinearity.tanh.gain, 5.0 / 3.0, accuracy: 1e-6)
        XCTAssertEqual(Init.Nonlinearity.selu.gain, 0.75)
    }

    func testXavierUniformAndNormal() {
        var generator = SeededGenerator(seed: 1)
        let t = Tensor.zeros(convShape)
        Init.xavierUniform(t, gain: 2, generator: &generator)
        assertUniform(t, bound: 2 * (6 / Float(1152 + 2304)).squareRoot())
        Init.xavierNormal(t, gain: 0.5, generator: &generator)
        assertNormal(t, std: 0.5 * (2 / Double(1152 + 2304)).squareRoot())
    }

    func testKaimingUniformGainsAndModes() {
        var generator = SeededGenerator(seed: 2)
        let t = Tensor.zeros(convShape)
        Init.kaimingUniform(t, generator: &generator) // leaky ReLU with slope 0: gain √2
        assertUniform(t, bound: (6 / Float(1152)).squareRoot())
        Init.kaimingUniform(t, mode: .fanOut, nonlinearity: .relu, generator: &generator)
        assertUniform(t, bound: (6 / Float(2304)).squareRoot())
        Init.kaimingUniform(t, nonlinearity: .leakyRelu(negativeSlope: 0.2), generator: &generator)
        assertUniform(t, bound: (2 / 1.04 as Float).squareRoot() * (3 / Float(1152)).squareRoot())
        // PyTorch's `a` argument means the same slope.
        Init.kaimingUniform(t, a: 0.2, generator: &generator)
        assertUniform(t, bound: (2 / 1.04 as Float).squareRoot() * (3 / Float(1152)).squareRoot())
    }

    func testKaimingNormalGainsAndModes() {
        var generator = SeededGenerator(seed: 3)
        let t = Tensor.zeros(convShape)
        Init.kaimingNormal(t, generator: &generator)
        assertNormal(t, std: (2 / 1152.0).squareRoot())
        Init.kaimingNormal(t, mode: .fanOut, nonlinearity: .relu, generator: &generator) // torchvision ResNet conv init
        assertNormal(t, std: (2 / 2304.0).squareRoot())
        Init.kaimingNormal(t, nonlinearity: .tanh, generator: &generator)
        assertNormal(t, std: 5.0 / 3.0 / 1152.0.squareRoot())
    }

    func testPyTorchDefaultBoundsWeightAndBiasByOneOverRootFanIn() {
        var generator = SeededGenerator(seed: 4)
        let weight = Tensor.zeros(convShape)
        let bias = Tensor.zeros([20_000])
        Init.pytorchDefault(weight: weight, bias: bias, generator: &generator)
        let bound = 1 / Float(1152).squareRoot()
        assertUniform(weight, bound: bound * (1 + 1e-6))
        assertUniform(bias, bound: bound * (1 + 1e-6))
        let linear = Tensor.zeros([1000, 300])
        Init.pytorchDefault(weight: linear, bias: nil, generator: &generator)
        assertUniform(linear, bound: 1 / Float(300).squareRoot() * (1 + 1e-6))
    }

    func testSimpleFillsAndDistributions() {
        var generator = SeededGenerator(seed: 5)
        let t = Tensor.zeros([100_000])
        Init.uniform(t, low: 2, high: 5, generator: &generator)
        let s = statistics(t)
        XCTAssertGreaterThanOrEqual(s.min, 2)
        XCTAssertLessThan(s.max, 5)
        XCTAssertEqual(s.mean, 3.5, accuracy: 0.02)
        XCTAssertEqual(s.std, 3 / 12.0.squareRoot(), accuracy: 0.02 * 3 / 12.0.squareRoot())
        Init.normal(t, mean: -1, std: 0.1, generator: &generator)
        assertNormal(t, mean: -1, std: 0.1)
        Init.constant(t, 0.25)
        XCTAssertTrue(t.storage.allSatisfy { $0 == 0.25 })
        Init.ones(t)
        XCTAssertTrue(t.storage.allSatisfy { $0 == 1 })
        Init.zeros(t)
        XCTAssertTrue(t.storage.allSatisfy { $0 == 0 })
    }

    func testSameSeedGivesTheSameWeightsInPlace() {
        let a = Tensor.zeros([16, 8, 3, 3]), b = Tensor.zeros([16, 8, 3, 3])
        var first = SeededGenerator(seed: 42), second = SeededGenerator(seed: 42)
        let before = ObjectIdentifier(a)
        Init.kaimingNormal(a, generator: &first)
        Init.kaimingNormal(b, generator: &second)
        XCTAssertEqual(a.storage, b.storage)
        XCTAssertEqual(ObjectIdentifier(a), before)
        XCTAssertFalse(a.storage.allSatisfy { $0 == 0 })
        Init.kaimingNormal(b, generator: &second)
        XCTAssertNotEqual(a.storage, b.storage, "the generator advances")
    }
}
