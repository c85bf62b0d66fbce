import Foundation
import TestSupport
import VisionCore
import VisionOptim
import XCTest

/// Replays every optimizer trajectory and every schedule of `optim.json` (PyTorch reference values).
///
/// Cases are read by PyTorch's parameter names with PyTorch's defaults, so any case of a listed kind
/// works; an unknown optimizer, schedule or parameter name fails the test.
final class ReferenceTrajectoryTests: XCTestCase {
    static let relativeTolerance: Float = 1e-5
    /// Floor for elements that pass near zero.
    static let absoluteTolerance: Float = 1e-6

    func testOptimizerTrajectoriesMatchPyTorch() throws {
        let reference = try loadReference()  // throws XCTSkip when absent
        let cases = try XCTUnwrap(reference["optimizers"] as? [[String: Any]], "optim.json has no optimizers[]")
        XCTAssertFalse(cases.isEmpty, "optim.json lists no optimizer case")
        for entry in cases {
            let name = entry["name"] as? String ?? "?"
            do {
                try replayOptimizerCase(entry, name: name)
            } catch {
                XCTFail("optimizer case '\(name)': \(error)")
            }
        }
    }

    func testSchedulesMatchPyTorch() throws {
        let reference = try loadReference()  // throws XCTSkip when absent
        let cases = try XCTUnwrap(reference["schedules"] as? [[String: Any]], "optim.json has no schedules[]")
        XCTAssertFalse(cases.isEmpty, "optim.json lists no schedule case")
        for entry in cases {
            let name = entry["name"] as? String ?? "?"
            do {
                let params = try ReferenceParameters(entry["params"], caseName: name)
                let baseLR = Float(try XCTUnwrap(entry["base_lr"] as? Double, "case '\(name)' has no base_lr"))
                let expected = try XCTUnwrap(entry["lr_per_step"] as? [Double], "case '\(name)' has no lr_per_step")
                let schedule = try makeSchedule(params, baseLR: baseLR)
                try params.rejectUnused()
                let actual = (0..<expected.count).map { schedule.learningRate(at: $0) }
                assertClose(actual, expected.map(Float.init), rtol: Self.relativeTolerance, atol: Self.absoluteTolerance,
                            "schedule '\(name)'")
            } catch {
                XCTFail("schedule case '\(name)': \(error)")
            }
        }
    }

    // MARK: Optimizers

    /// Runs the case straight through, and again with a state-dict round trip half way.
    private func replayOptimizerCase(_ entry: [String: Any], name: String) throws {
        let params = try ReferenceParameters(entry["params"], caseName: name)
        let (shape, initial) = try flattenNumbers(entry["w0"], what: "w0")
        let grads = try XCTUnwrap(entry["grads"] as? [Any], "no grads").map { try flattenNumbers($0, what: "grads").values }
        let after = try XCTUnwrap(entry["after_each_step"] as? [Any], "no after_each_step")
            .map { try flattenNumbers($0, what: "after_each_step").values }
        XCTAssertEqual(grads.count, after.count, "case '\(name)': one parameter snapshot per gradient")

        let parameter = Tensor(initial, shape: shape, requiresGrad: true)
        let optimizer = try makeOptimizer(params, parameter: parameter)
        try params.rejectUnused()
        let resumeAt = grads.count / 2
        var saved: [String: Tensor] = [:]
        var savedValues: [Float] = []
        for (k, gradient) in grads.enumerated() {
            if k == resumeAt {
                saved = Dictionary(uniqueKeysWithValues: optimizer.stateDict().map { ($0.name, $0.tensor) })
                savedValues = parameter.storage
            }
            parameter.grad = Tensor(gradient, shape: shape)
            optimizer.step()
            assertClose(parameter.storage, after[k], rtol: Self.relativeTolerance, atol: Self.absoluteTolerance,
                        "optimizer '\(name)' after step \(k + 1)")
        }

        // Resume from the mid-run checkpoint in a fresh optimizer: it must continue identically.
        let resumed = Tensor(savedValues, shape: shape, requiresGrad: true)
        let fresh = try makeOptimizer(ReferenceParameters(entry["params"], caseName: name), parameter: resumed)
        try fresh.loadStateDict(saved)
        for k in resumeAt..<grads.count {
            resumed.grad = Tensor(grads[k], shape: shape)
            fresh.step()
            assertClose(resumed.storage, after[k], rtol: Self.relativeTolerance, atol: Self.absoluteTolerance,
                        "optimizer '\(name)' resumed at step \(resumeAt), after step \(k + 1)")
        }
    }

    private func makeOptimizer(_ p: ReferenceParameters, parameter: Tensor) throws -> Optimizer {
        let kind = try p.string("optimizer", default: p.caseName).lowercased()
        p.ignore(["note", "foreach", "capturable", "differentiable", "fused"])
        let groups = [ParameterGroup([parameter])]
        switch kind {
        case "sgd":
            return SGD(groups, learningRate: try p.float("lr", default: 1e-3), momentum: try p.float("momentum", default: 0),
                       dampening: try p.float("dampening", default: 0), weightDecay: try p.float("weight_decay", default: 0),
                       nesterov: try p.bool("nesterov", default: false), maximize: try p.bool("maximize", default: false))
        case "adagrad":
            return Adagrad(groups, learningRate: try p.float("lr", default: 1e-2),
                           learningRateDecay: try p.float("lr_decay", default: 0),
                           weightDecay: try p.float("weight_decay", default: 0),
                           initialAccumulatorValue: try p.float("initial_accumulator_value", default: 0),
                           epsilon: try p.float("eps", default: 1e-10), maximize: try p.bool("maximize", default: false))
        case "rmsprop":
            return RMSprop(groups, learningRate: try p.float("lr", default: 1e-2), alpha: try p.float("alpha", default: 0.99),
                           epsilon: try p.float("eps", default: 1e-8), weightDecay: try p.float("weight_decay", default: 0),
                           momentum: try p.float("momentum", default: 0), centered: try p.bool("centered", default: false),
                           maximize: try p.bool("maximize", default: false))
        case "adam":
            return Adam(groups, learningRate: try p.float("lr", default: 1e-3),
                        betas: try p.floatPair("betas", default: (0.9, 0.999)), epsilon: try p.float("eps", default: 1e-8),
                        weightDecay: try p.float("weight_decay", default: 0), amsgrad: try p.bool("amsgrad", default: false),
                        decoupledWeightDecay: try p.bool("decoupled_weight_decay", default: false),
                        maximize: try p.bool("maximize", default: false))
        case "adamw":
            return AdamW(groups, learningRate: try p.float("lr", default: 1e-3),
                         betas: try p.floatPair("betas", default: (0.9, 0.999)), epsilon: try p.float("eps", default: 1e-8),
                         weightDecay: try p.float("weight_decay", default: 1e-2), amsgrad: try p.bool("amsgrad", default: false),
                         maximize: try p.bool("maximize", default: false))
        default:
            throw ReferenceError.unknownKind("optimizer '\(kind)'")
        }
    }

    // MARK: Schedules

    private func makeSchedule(_ p: ReferenceParameters, baseLR: Float) throws -> LRSchedule {
        let kind = try p.string("schedule", default: p.caseName).lowercased().replacingOccurrences(of: "_", with: "")
        switch kind {
        case "step", "steplr":
            return StepLR(baseLR: baseLR, stepSize: try p.int("step_size"), gamma: try p.float("gamma", default: 0.1))
        case "multistep", "multisteplr":
            return MultiStepLR(baseLR: baseLR, milestones: try p.intArray("milestones"), gamma: try p.float("gamma", default: 0.1))
        case "exponential", "exponentiallr":
            return ExponentialLR(baseLR: baseLR, gamma: try p.float("gamma"))
        case "linear", "linearlr":
            return LinearLR(baseLR: baseLR, startFactor: try p.float("start_factor", default: 1.0 / 3),
                            endFactor: try p.float("end_factor", default: 1), totalSteps: try p.int("total_iters", default: 5))
        case "cosine", "cosineannealing", "cosineannealinglr":
            return CosineAnnealingLR(baseLR: baseLR, period: try p.int("T_max"), minLR: try p.float("eta_min", default: 0))
        case "cosinewarmrestarts", "cosineannealingwarmrestarts":
            return CosineAnnealingWarmRestarts(baseLR: baseLR, firstPeriod: try p.int("T_0"),
                                               periodMultiplier: try p.int("T_mult", default: 1),
                                               minLR: try p.float("eta_min", default: 0))
        case "cyclic", "cycliclr":
            p.ignore(["cycle_momentum", "base_momentum", "max_momentum", "scale_mode"])
            let mode: CyclicLR.Mode
            switch try p.string("mode", default: "triangular") {
            case "triangular": mode = .triangular
            case "triangular2": mode = .triangular2
            case "exp_range": mode = .exponentialRange(gamma: try p.float("gamma", default: 1))
            case let other: throw ReferenceError.unknownKind("cyclic mode '\(other)'")
            }
            let up = try p.int("step_size_up", default: 2000)
            return CyclicLR(baseLR: try p.float("base_lr"), maxLR: try p.float("max_lr"), stepSizeUp: up,
                            stepSizeDown: try p.optionalInt("step_size_down"), mode: mode)
        case "onecycle", "onecyclelr":
            p.ignore(["cycle_momentum", "base_momentum", "max_momentum"])
            let total: Int
            if let steps = try p.optionalInt("total_steps") {
                total = steps
            } else {
                total = try p.int("epochs") * p.int("steps_per_epoch")
            }
            let anneal = try p.optionalString("anneal_strategy") ?? p.string("anneal", default: "cos")
            guard anneal == "cos" || anneal == "linear" else { throw ReferenceError.unknownKind("anneal strategy '\(anneal)'") }
            return OneCycleLR(maxLR: try p.float("max_lr"), totalSteps: total, pctStart: try p.float("pct_start", default: 0.3),
                              annealing: anneal == "cos" ? .cosine : .linear, divFactor: try p.float("div_factor", default: 25),
                              finalDivFactor: try p.float("final_div_factor", default: 1e4),
                              threePhase: try p.bool("three_phase", default: false))
        default:
            throw ReferenceError.unknownKind("schedule '\(kind)'")
        }
    }

    // MARK: Loading

    /// `optim.json` from the reference folder when there is one, else the copy bundled with the tests
    /// (Fixtures/), so the trajectories are never silently skipped.
    private func loadReference() throws -> [String: Any] {
        let shared = referenceDirectory().map { $0.appendingPathComponent("optim.json") }
        let bundled = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent("optim.json")
        let url = try XCTUnwrap([shared, bundled].compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0.path) },
                                "no optim.json in the reference folder nor in the tests' Fixtures/")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try XCTUnwrap(json as? [String: Any], "optim.json is not a JSON object")
    }
}

enum ReferenceError: Error, CustomStringConvertible {
    case unknownKind(String)
    case badValue(key: String, value: String)
    case missing(String)
    case unusedKeys([String])

    var description: String {
        switch self {
        case .unknownKind(let what): return "unknown \(what): the test does not know how to build it"
        case .badValue(let key, let value): return "parameter '\(key)' has an unusable value \(value)"
        case .missing(let key): return "required parameter '\(key)' is missing"
        case .unusedKeys(let keys): return "unknown parameters \(keys.sorted()): the test would ignore them"
        }
    }
}

/// A case's `params` object read by PyTorch name; every key must be consumed or explicitly ignored.
final class ReferenceParameters {
    let values: [String: Any]
    let caseName: String
    private var used: Set<String> = []

    init(_ raw: Any?, caseName: String) throws {
        guard let values = raw as? [String: Any] else { throw ReferenceError.missing("params") }
        self.values = values
        self.caseName = caseName
    }

    func ignore(_ keys: Set<String>) { used.formUnion(keys) }

    func rejectUnused() throws {
        let unused = Set(values.keys).subtracting(used)
        if !unused.isEmpty { throw ReferenceError.unusedKeys(Array(unused)) }
    }

    private func take(_ key: String) -> Any? {
        used.insert(key)
        guard let value = values[key], !(value is NSNull) else { return nil }
        return value
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let value = take(key) else { return nil }
        if let number = value as? Double { return number }
        if let number = value as? Int { return Double(number) }
        throw ReferenceError.badValue(key: key, value: "\(value)")
    }

    func float(_ key: String, default fallback: Float? = nil) throws -> Float {
        if let value = try optionalDouble(key) { return Float(value) }
        guard let fallback else { throw ReferenceError.missing(key) }
        return fallback
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = try optionalDouble(key) else { return nil }
        guard value == value.rounded() else { throw ReferenceError.badValue(key: key, value: "\(value)") }
        return Int(value)
    }

    func int(_ key: String, default fallback: Int? = nil) throws -> Int {
        if let value = try optionalInt(key) { return value }
        guard let fallback else { throw ReferenceError.missing(key) }
        return fallback
    }

    func intArray(_ key: String) throws -> [Int] {
        guard let list = take(key) as? [Any] else { throw ReferenceError.missing(key) }
        return try list.map { item in
            guard let number = item as? Double, number == number.rounded() else {
                throw ReferenceError.badValue(key: key, value: "\(item)")
            }
            return Int(number)
        }
    }

    func floatPair(_ key: String, default fallback: (Float, Float)) throws -> (Float, Float) {
        guard let value = take(key) else { return fallback }
        guard let list = value as? [Double], list.count == 2 else { throw ReferenceError.badValue(key: key, value: "\(value)") }
        return (Float(list[0]), Float(list[1]))
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = take(key) else { return fallback }
        guard let flag = value as? Bool else { throw ReferenceError.badValue(key: key, value: "\(value)") }
        return flag
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = take(key) else { return nil }
        guard let text = value as? String else { throw ReferenceError.badValue(key: key, value: "\(value)") }
        return text
    }

    func string(_ key: String, default fallback: String) throws -> String {
        try optionalString(key) ?? fallback
    }
}

/// Flattens a (possibly nested) JSON array of numbers into its shape and row-major values.
func flattenNumbers(_ raw: Any?, what: String) throws -> (shape: [Int], values: [Float]) {
    if let number = raw as? Double { return ([], [Float(number)]) }
    guard let list = raw as? [Any] else { throw ReferenceError.badValue(key: what, value: "\(String(describing: raw))") }
    var values: [Float] = []
    var inner: [Int]?
    for item in list {
        let (shape, flat) = try flattenNumbers(item, what: what)
        if let inner, inner != shape { throw ReferenceError.badValue(key: what, value: "ragged array") }
        inner = shape
        values += flat
    }
    return ([list.count] + (inner ?? []), values)
}
