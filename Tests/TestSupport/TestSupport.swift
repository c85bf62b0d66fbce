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
