import Foundation
import VisionCore
import XCTest

/// Asserts two float arrays agree within `atol + rtol·|expected|` elementwise; reports the worst element.
public func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-5,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(message()): \(actual.count) elements vs expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    for i in 0..<actual.count {
        let diff = abs(actual[i] - expected[i])
        let allowed = atol + rtol * abs(expected[i])
        if !(diff <= allowed) {
            let excess = diff.isNaN ? .infinity : diff - allowed
            if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess }
        }
    }
    if worst >= 0 {
        XCTFail("\(message()): element \(worst) is \(actual[worst]), expected \(expected[worst]) (rtol \(rtol), atol \(atol))",
                file: file, line: line)
    }
}

public func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-5,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(message()): shape", file: file, line: line)
    assertClose(actual.storage, expected.storage, rtol: rtol, atol: atol, message(), file: file, line: line)
}

/// Central-difference gradient check.
///
/// `f` maps the inputs to a tensor; the scalar checked is `Σ f(inputs) · w` for a fixed random `w`
/// (so every output element matters). Analytic gradients from `backward()` are compared to
/// `(L(x+ε) − L(x−ε)) / 2ε` computed in Double accumulation. Keep shapes tiny and inputs away from kinks.
public func checkGradients(_ inputs: [Tensor], eps: Float = 1e-3, rtol: Float = 2e-2, atol: Float = 2e-3,
                           seed: UInt64 = 99, file: StaticString = #filePath, line: UInt = #line,
                           _ f: ([Tensor]) -> Tensor) {
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let probe = f(inputs)
    var g = SeededGenerator(seed: seed)
    let weights = Tensor.normal(probe.shape, generator: &g)
    func loss() -> Double {
        let out = Autograd.noGrad { f(inputs) }
        var total = 0.0
        for i in 0..<out.count { total += Double(out.storage[i]) * Double(weights.storage[i]) }
        return total
    }
    (probe * weights).sum().backward()
    for (k, t) in inputs.enumerated() {
        guard let analytic = t.grad else {
            XCTFail("input \(k) received no gradient", file: file, line: line)
            continue
        }
        var numeric = [Float](repeating: 0, count: t.count)
        for i in 0..<t.count {
            let saved = t.storage[i]
            t.storage[i] = saved + eps
            let up = loss()
            t.storage[i] = saved - eps
            let down = loss()
            t.storage[i] = saved
            numeric[i] = Float((up - down) / (2 * Double(eps)))
        }
        assertClose(analytic.storage, numeric, rtol: rtol, atol: atol, "gradient of input \(k)", file: file, line: line)
    }
}

/// The PyTorch reference directory (`VISION_REFERENCE`, default `../shared/reference` from the package root), or nil.
public func referenceDirectory() -> URL? {
    if let env = ProcessInfo.processInfo.environment["VISION_REFERENCE"] {
        let url = URL(fileURLWithPath: env)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }
    let root = packageRoot()
    let url = root.deletingLastPathComponent().appendingPathComponent("shared/reference")
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}

/// The package root, found from this source file's location.
public func packageRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A fresh temporary directory removed by the caller.
public func temporaryDirectory(_ label: String = "vision-test") -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The 48 input values of the normalisation golden tests: `((37·i) mod 48 − 24)/9 + 0.3·((i mod 5) − 2)`.
public let normalizationTestValues = (0..<48).map { (i: Int) -> Float in Float((37 * i) % 48 - 24) / 9 + 0.3 * Float(i % 5 - 2) }

/// Checks a normalisation's output against golden values, runs its backward with the upstream gradient
/// `sin(0.37·i)`, and checks the gradients of `x` and, when `affine`, of `weight` and `bias` (else that the
/// weight got none).
public func assertNormalization(_ y: Tensor, equals expected: [Float], x: Tensor, dx: [Float], weight: Tensor, dWeight: [Float],
                                bias: Tensor, dBias: [Float], affine: Bool, _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) {
    assertClose(y.storage, expected, rtol: 1e-4, atol: 1e-5, "\(label): output", file: file, line: line)
    y.backward(Tensor((0..<y.count).map { Float(sin(0.37 * Double($0))) }, shape: y.shape))
    assertClose(x.grad?.storage ?? [], dx, rtol: 1e-4, atol: 1e-5, "\(label): input gradient", file: file, line: line)
    if affine {
        assertClose(weight.grad?.storage ?? [], dWeight, rtol: 1e-4, atol: 1e-5, "\(label): weight gradient", file: file, line: line)
        assertClose(bias.grad?.storage ?? [], dBias, rtol: 1e-4, atol: 1e-5, "\(label): bias gradient", file: file, line: line)
    } else {
        XCTAssertNil(weight.grad, label, file: file, line: line)
    }
}
