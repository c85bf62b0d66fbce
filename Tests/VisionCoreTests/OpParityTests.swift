import Foundation
import TestSupport
import VisionCore
import XCTest

/// Replays PyTorch golden cases (`ops.json` + `ops.safetensors`): forward outputs and every stored
/// gradient, at the file's tolerance. Runs on the copy bundled with the tests and, when present, on
/// `VISION_REFERENCE` (default `../shared/reference`). Any case of a listed op must pass whatever its
/// shapes and parameters; an unknown op or parameter value fails loudly.
final class OpParityTests: XCTestCase {
    func testBundledFixtures() throws {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            return XCTFail("Fixtures folder missing from the test bundle")
        }
        let count = try replay(directory: url)
        XCTAssertGreaterThan(count, 0)
    }

    func testReferenceDirectory() throws {
        guard let dir = referenceDirectory(),
              FileManager.default.fileExists(atPath: dir.appendingPathComponent("ops.json").path) else {
            throw XCTSkip("no PyTorch reference directory (set VISION_REFERENCE or place ../shared/reference)")
        }
        let count = try replay(directory: dir)
        XCTAssertGreaterThan(count, 0)
    }

    /// Runs every case of `ops.json` in `directory`; returns the number of cases checked.
    func replay(directory: URL) throws -> Int {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("ops.json"))) as! [String: Any]
        let tensors = try SafeTensors.read(contentsOf: directory.appendingPathComponent("ops.safetensors"))
        let tolerance = json["tolerance"] as? [String: Double] ?? [:]
        let rtol = Float(tolerance["rtol"] ?? 1e-4), atol = Float(tolerance["atol"] ?? 1e-4)
        let cases = json["cases"] as? [[String: Any]] ?? []
        for c in cases {
            let reference = OpCase(json: c, tensors: tensors)
            try reference.check(rtol: rtol, atol: atol)
        }
        return cases.count
    }
}

struct ParityError: Error, CustomStringConvertible {
    let description: String
}

/// One golden case and the code that replays it.
struct OpCase {
    let name: String, op: String
    let params: [String: Any]
    let inputs: [String: String], outputs: [String: String]
    let tensors: [String: Tensor]

    init(json: [String: Any], tensors: [String: Tensor]) {
        name = json["name"] as? String ?? "?"
        op = json["op"] as? String ?? "?"
        params = json["params"] as? [String: Any] ?? [:]
        inputs = json["inputs"] as? [String: String] ?? [:]
        outputs = json["outputs"] as? [String: String] ?? [:]
        self.tensors = tensors
    }

    func input(_ role: String, grad: Bool = false) throws -> Tensor? {
        guard let key = inputs[role] else { return nil }
        guard let t = tensors[key] else { throw ParityError(description: "\(name): tensor \(key) missing") }
        return Tensor(shape: t.shape, storage: t.storage, requiresGrad: grad)
    }

    func required(_ role: String, grad: Bool = false) throws -> Tensor {
        guard let t = try input(role, grad: grad) else { throw ParityError(description: "\(name): input '\(role)' missing") }
        return t
    }

    func expected(_ role: String) -> Tensor? { outputs[role].flatMap { tensors[$0] } }

    func pair(_ key: String, default value: (Int, Int)) throws -> (Int, Int) {
        switch params[key] {
        case nil, is NSNull: return value
        case let v as Int: return (v, v)
        case let v as [Int] where v.count == 2: return (v[0], v[1])
        case let v as [Int] where v.count == 1: return (v[0], v[0])
        default: throw ParityError(description: "\(name): cannot read \(key) = \(String(describing: params[key]))")
        }
    }

    func number(_ key: String, default value: Double) -> Double {
        (params[key] as? NSNumber)?.doubleValue ?? value
    }

    func targets() throws -> [Int] { try required("target").storage.map { Int($0) } }

    /// Scale turning a mean-reduced loss into the requested reduction.
    func reductionScale(count: Int) throws -> Float {
        switch params["reduction"] as? String ?? "mean" {
        case "mean": return 1
        case "sum": return Float(count)
        case let other: throw ParityError(description: "\(name): unsupported reduction \(other)")
        }
    }

    func check(rtol: Float, atol: Float) throws {
        var differentiable: [String: Tensor] = [:]
        func grad(_ role: String) throws -> Tensor? {
            guard let t = try input(role, grad: true) else { return nil }
            differentiable[role] = t
            return t
        }
        var y: Tensor
        var isLoss = false
        switch op {
        case "conv2d":
            y = conv2d(try grad("x")!, weight: try grad("weight")!, bias: try grad("bias"),
                       stride: try pair("stride", default: (1, 1)), padding: try pair("padding", default: (0, 0)),
                       dilation: try pair("dilation", default: (1, 1)), groups: params["groups"] as? Int ?? 1)
        case "conv_transpose2d":
            y = convTranspose2d(try grad("x")!, weight: try grad("weight")!, bias: try grad("bias"),
                                stride: try pair("stride", default: (1, 1)), padding: try pair("padding", default: (0, 0)),
                                outputPadding: try pair("output_padding", default: (0, 0)),
                                dilation: try pair("dilation", default: (1, 1)), groups: params["groups"] as? Int ?? 1)
        case "batch_norm2d":
            let training = params["training"] as? Bool ?? true
            let mean = try required("running_mean"), variance = try required("running_var")
            y = batchNorm2d(try grad("x")!, weight: try grad("weight"), bias: try grad("bias"),
                            runningMean: mean, runningVar: variance, training: training,
                            momentum: Float(number("momentum", default: 0.1)), eps: Float(number("eps", default: 1e-5)))
            // When a case stores the updated statistics under the same name as the initial ones, the
            // initial values are lost and the update cannot be checked here (NormalizationTests checks
            // it by hand); otherwise compare the updated buffers.
            if let m = expected("running_mean"), outputs["running_mean"] != inputs["running_mean"] {
                assertClose(mean, m, rtol: rtol, atol: atol, "\(name) running_mean")
            }
            if let v = expected("running_var"), outputs["running_var"] != inputs["running_var"] {
                assertClose(variance, v, rtol: rtol, atol: atol, "\(name) running_var")
            }
        case "max_pool2d":
            let k = try pair("kernel_size", default: (1, 1))
            y = maxPool2d(try grad("x")!, kernelSize: k, stride: try pair("stride", default: k), padding: try pair("padding", default: (0, 0)),
                          dilation: try pair("dilation", default: (1, 1)), ceilMode: params["ceil_mode"] as? Bool ?? false)
        case "avg_pool2d":
            let k = try pair("kernel_size", default: (1, 1))
            y = avgPool2d(try grad("x")!, kernelSize: k, stride: try pair("stride", default: k),
                          padding: try pair("padding", default: (0, 0)), ceilMode: params["ceil_mode"] as? Bool ?? false,
                          countIncludePad: params["count_include_pad"] as? Bool ?? true,
                          divisorOverride: params["divisor_override"] as? Int)
        case "adaptive_avg_pool2d":
            y = adaptiveAvgPool2d(try grad("x")!, outputSize: try pair("output_size", default: (1, 1)))
        case "upsample":
            let mode: UpsampleMode
            switch params["mode"] as? String {
            case "nearest": mode = .nearest
            case "nearest-exact": mode = .nearestExact
            case "bilinear": mode = .bilinear
            case let other: throw ParityError(description: "\(name): unsupported upsample mode \(String(describing: other))")
            }
            let alignCorners = params["align_corners"] as? Bool ?? false
            let x = try grad("x")!
            if let s = params["scale_factor"] as? NSNumber, Double(s.intValue) == s.doubleValue {
                y = upsample(x, scaleFactor: s.intValue, mode: mode, alignCorners: alignCorners)
            } else if params["size"] != nil {
                y = upsample(x, size: try pair("size", default: (1, 1)), mode: mode, alignCorners: alignCorners)
            } else {
                throw ParityError(description: "\(name): unsupported upsample parameters \(params)")
            }
        case "linear": y = linear(try grad("x")!, weight: try grad("weight")!, bias: try grad("bias"))
        case "relu": y = try grad("x")!.relu()
        case "leaky_relu": y = try grad("x")!.leakyRelu(negativeSlope: Float(number("negative_slope", default: 0.01)))
        case "elu": y = try grad("x")!.elu(alpha: Float(number("alpha", default: 1)))
        case "selu": y = try grad("x")!.selu()
        case "sigmoid": y = try grad("x")!.sigmoid()
        case "tanh": y = try grad("x")!.tanh()
        case "softmax": y = try grad("x")!.softmax(axis: params["dim"] as? Int ?? -1)
        case "log_softmax": y = try grad("x")!.logSoftmax(axis: params["dim"] as? Int ?? -1)
        case "prelu": y = prelu(try grad("x")!, weight: try grad("weight")!)
        case "cross_entropy":
            let x = try grad("x")!
            let t = try targets()
            let ignore = params["ignore_index"] as? Int
            let loss = crossEntropy(x, targets: t, labelSmoothing: Float(number("label_smoothing", default: 0)), ignoreIndex: ignore)
            y = loss * (try reductionScale(count: t.filter { $0 != ignore }.count))
            isLoss = true
        case "bce_with_logits":
            let x = try grad("x")!
            y = bceWithLogits(x, targets: try required("target")) * (try reductionScale(count: x.count))
            isLoss = true
        case "mse":
            let x = try grad("x")!
            y = mseLoss(x, try required("target")) * (try reductionScale(count: x.count))
            isLoss = true
        case "l1":
            let x = try grad("x")!
            y = l1Loss(x, try required("target")) * (try reductionScale(count: x.count))
            isLoss = true
        case "multi_margin":
            if let p = params["p"] as? Int, p != 1 { throw ParityError(description: "\(name): multi_margin p=\(p) unsupported") }
            let x = try grad("x")!
            y = multiMarginLoss(x, targets: try targets(), margin: Float(number("margin", default: 1))) * (try reductionScale(count: x.shape[0]))
            isLoss = true
        default:
            throw ParityError(description: "\(name): unknown op '\(op)' — the parity test must learn it")
        }

        if let expectedY = expected(isLoss ? "loss" : "y") {
            assertClose(y.storage, expectedY.storage, rtol: rtol, atol: atol, "\(name) forward")
            if !isLoss { XCTAssertEqual(y.shape, expectedY.shape, "\(name) output shape") }
        } else {
            XCTFail("\(name): case stores no forward output")
        }
        if isLoss {
            y.backward()
        } else if let gy = try input("grad_y") {
            y.backward(gy)
        } else {
            return
        }
        for (role, key) in outputs where role.hasPrefix("grad_") {
            let inputRole = String(role.dropFirst(5))
            guard let expectedGrad = tensors[key] else { throw ParityError(description: "\(name): tensor \(key) missing") }
            guard let t = differentiable[inputRole], let g = t.grad else {
                XCTFail("\(name): no gradient computed for '\(inputRole)'")
                continue
            }
            assertClose(g.storage, expectedGrad.storage, rtol: rtol, atol: atol, "\(name) \(role)")
        }
    }

    /// Fails loudly when a case uses a parameter value this port does not implement.
    func requireDefaults(_ defaults: [String: Any]) throws {
        for (key, value) in defaults {
            guard let given = params[key], !(given is NSNull) else { continue }
            let same: Bool
            switch (given, value) {
            case let (g as Bool, v as Bool): same = g == v
            case let (g as Int, v as Int): same = g == v
            case let (g as [Int], v as Int): same = g.allSatisfy { $0 == v }
            default: same = false
            }
            if !same { throw ParityError(description: "\(name): unsupported \(key) = \(given)") }
        }
    }
}
