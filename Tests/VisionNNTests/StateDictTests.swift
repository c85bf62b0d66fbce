import Foundation
import TestSupport
import VisionCore
import VisionNN
import XCTest

/// `y = x·Wᵀ + b`, enough of a layer to own two parameters.
private final class Affine: Module {
    let weight: Tensor
    let bias: Tensor

    init(inputs: Int, outputs: Int, generator: inout SeededGenerator) {
        weight = Tensor.normal([outputs, inputs], generator: &generator)
        bias = Tensor.normal([outputs], generator: &generator)
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    override func forward(_ input: Tensor) -> Tensor { input.matmul(weight, transposeOther: true) + bias }
}

/// A batch-norm-like holder of buffers, including PyTorch's `num_batches_tracked`.
private final class Normalizer: Module {
    let weight: Tensor
    let runningMean: Tensor
    let runningVar: Tensor

    init(features: Int, generator: inout SeededGenerator) {
        weight = Tensor.uniform([features], low: 0.5, high: 1.5, generator: &generator)
        runningMean = Tensor.normal([features], generator: &generator)
        runningVar = Tensor.uniform([features], low: 0.5, high: 2, generator: &generator)
        super.init()
        registerParameter("weight", weight)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
        registerBuffer("num_batches_tracked", Tensor(scalar: 0))
    }

    override func forward(_ input: Tensor) -> Tensor { input }
}

/// Two direct children, a Sequential and a buffer of its own.
private final class TinyNet: Module {
    let stem: Affine
    let body: Sequential
    let head: Affine
    let scale: Tensor

    init(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        stem = Affine(inputs: 3, outputs: 4, generator: &generator)
        body = Sequential(Affine(inputs: 4, outputs: 4, generator: &generator), Normalizer(features: 4, generator: &generator))
        head = Affine(inputs: 4, outputs: 2, generator: &generator)
        scale = Tensor.uniform([1], generator: &generator)
        super.init()
        registerModule("stem", stem)
        registerModule("body", body)
        registerModule("head", head)
        registerBuffer("scale", scale)
    }

    override func forward(_ input: Tensor) -> Tensor { head(body(stem(input))) * scale }
}

private func values(of module: Module) -> [String: [Float]] {
    Dictionary(uniqueKeysWithValues: module.stateDict().map { ($0.name, $0.tensor.storage) })
}

private func tensors(of module: Module) -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: module.stateDict().map { ($0.name, $0.tensor.detach()) })
}

final class StateDictTests: XCTestCase {
    private var directory: URL!

    override func setUp() { directory = temporaryDirectory("state-dict-test") }
    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func testKeysFollowPyTorchNaming() {
        XCTAssertEqual(TinyNet(seed: 1).stateDict().map(\.name).sorted(), [
            "body.0.bias", "body.0.weight", "body.1.num_batches_tracked", "body.1.running_mean", "body.1.running_var",
            "body.1.weight", "head.bias", "head.weight", "scale", "stem.bias", "stem.weight",
        ])
    }

    func testSaveThenLoadIntoAFreshInstanceGivesIdenticalStorageInPlace() throws {
        let source = TinyNet(seed: 1)
        let url = directory.appendingPathComponent("tiny.safetensors")
        try source.saveStateDict(to: url, metadata: ["epoch": "3"])
        XCTAssertEqual(try SafeTensors.readMetadata(contentsOf: url), ["epoch": "3"])

        let target = TinyNet(seed: 2)
        XCTAssertNotEqual(values(of: target), values(of: source))
        let stemWeight = target.stem.weight
        let report = try target.loadStateDict(contentsOf: url)
        XCTAssertEqual(values(of: target), values(of: source))
        XCTAssertEqual(report.loaded.count, 11)
        XCTAssertTrue(report.isComplete)
        XCTAssertTrue(target.stem.weight === stemWeight, "the stored property is the same tensor object")
        XCTAssertEqual(stemWeight.storage, source.stem.weight.storage)
        XCTAssertTrue(stemWeight.requiresGrad, "parameters stay trainable")
        let x = Tensor([0.5, -1, 2, 1, 0, -0.5], shape: [2, 3])
        XCTAssertEqual(target(x).storage, source(x).storage, "same weights, same outputs")
    }

    func testFloat16CheckpointLoadsWithinHalfPrecision() throws {
        let source = TinyNet(seed: 1)
        let url = directory.appendingPathComponent("tiny-f16.safetensors")
        try source.saveStateDict(to: url, dtype: .float16)
        let target = TinyNet(seed: 2)
        try target.loadStateDict(contentsOf: url)
        for (name, tensor) in target.stateDict() {
            assertClose(tensor.storage, values(of: source)[name]!, rtol: 1.0 / 2048, atol: 1e-7, name)
        }
    }

    func testStrictLoadNamesTheMissingKeyAndLoadsNothing() {
        var dict = tensors(of: TinyNet(seed: 1))
        dict["head.bias"] = nil
        let target = TinyNet(seed: 2)
        let before = values(of: target)
        XCTAssertThrowsError(try target.loadStateDict(dict)) { error in
            guard case StateDictError.missingKeys(let keys) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(keys, ["head.bias"])
            XCTAssertTrue("\(error)".contains("head.bias"), "\(error)")
        }
        XCTAssertEqual(values(of: target), before, "a failed strict load changes nothing")
    }

    func testStrictLoadNamesTheUnexpectedKey() {
        var dict = tensors(of: TinyNet(seed: 1))
        dict["tail.weight"] = Tensor.zeros([2, 2])
        XCTAssertThrowsError(try TinyNet(seed: 2).loadStateDict(dict)) { error in
            guard case StateDictError.unexpectedKeys(let keys) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(keys, ["tail.weight"])
            XCTAssertTrue(error.localizedDescription.contains("tail.weight"), error.localizedDescription)
        }
    }

    func testStrictLoadNamesTheMisShapedKey() {
        var dict = tensors(of: TinyNet(seed: 1))
        dict["stem.weight"] = Tensor.zeros([3, 4])
        XCTAssertThrowsError(try TinyNet(seed: 2).loadStateDict(dict)) { error in
            guard case let StateDictError.shapeMismatch(key, expected, got) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(key, "stem.weight")
            XCTAssertEqual(expected, [4, 3])
            XCTAssertEqual(got, [3, 4])
            XCTAssertTrue("\(error)".contains("stem.weight"), "\(error)")
        }
    }

    func testNonStrictLoadSkipsWhatDoesNotFitAndReportsIt() throws {
        let source = TinyNet(seed: 1)
        var dict = tensors(of: source)
        dict["head.bias"] = nil
        dict["extra.weight"] = Tensor.zeros([1])
        dict["stem.weight"] = Tensor.zeros([4, 4])
        let target = TinyNet(seed: 2)
        let oldStemWeight = target.stem.weight.storage
        let oldHeadBias = target.head.bias.storage
        let report = try target.loadStateDict(dict, strict: false)
        XCTAssertEqual(report.missing, ["head.bias"])
        XCTAssertEqual(report.unexpected, ["extra.weight"])
        XCTAssertEqual(report.mismatched.map(\.key), ["stem.weight"])
        XCTAssertEqual(report.mismatched.first?.expected, [4, 3])
        XCTAssertEqual(report.mismatched.first?.got, [4, 4])
        XCTAssertEqual(report.loaded.count, 9)
        XCTAssertFalse(report.isComplete)
        XCTAssertEqual(target.stem.weight.storage, oldStemWeight, "mis-shaped key left alone")
        XCTAssertEqual(target.head.bias.storage, oldHeadBias, "missing key left alone")
        XCTAssertEqual(target.head.weight.storage, source.head.weight.storage, "matching keys loaded")
    }

    func testNumBatchesTrackedIsIgnoredOnEitherSide() throws {
        var dict = tensors(of: TinyNet(seed: 1))
        dict["body.1.num_batches_tracked"] = nil // absent from the file (as in the reference weights)
        dict["other.num_batches_tracked"] = Tensor(scalar: 7) // present in the file, absent from the module
        let report = try TinyNet(seed: 2).loadStateDict(dict)
        XCTAssertTrue(report.isComplete)
        XCTAssertEqual(report.loaded.count, 10)
    }

    func testPrefixSelectsOneModelFromASharedFile() throws {
        let source = TinyNet(seed: 1)
        let url = directory.appendingPathComponent("shared.safetensors")
        let entries = source.stateDict().map { (name: "net_a/" + $0.name, tensor: $0.tensor) }
            + [(name: "net_b/stem.weight", tensor: Tensor.zeros([9])), (name: "net_a.logits", tensor: Tensor.zeros([2]))]
        try SafeTensors.write(entries, to: url)
        let target = TinyNet(seed: 2)
        try target.loadStateDict(contentsOf: url, prefix: "net_a/")
        XCTAssertEqual(values(of: target), values(of: source))
        XCTAssertThrowsError(try TinyNet(seed: 3).loadStateDict(contentsOf: url), "without the prefix every key is unexpected")
    }

    func testWrongShapedWeightsFileIsAnErrorNamingTheFileAndTheKey() throws {
        let url = directory.appendingPathComponent("wrong-shape.safetensors")
        var entries = TinyNet(seed: 1).stateDict()
        let index = try XCTUnwrap(entries.firstIndex { $0.name == "stem.weight" })
        entries[index].tensor = Tensor.zeros([3, 4])
        try SafeTensors.write(entries, to: url)
        let target = TinyNet(seed: 2)
        let before = values(of: target)
        XCTAssertThrowsError(try target.loadStateDict(contentsOf: url)) { error in
            guard case StateDictError.file(let path, let reason) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("stem.weight") && reason.contains("[3, 4]") && reason.contains("[4, 3]"), reason)
            XCTAssertTrue(error.localizedDescription.contains("wrong-shape.safetensors"), error.localizedDescription)
        }
        XCTAssertEqual(values(of: target), before, "a failed strict load changes nothing")
    }

    func testCorruptOrMissingFileIsAnErrorNamingTheFile() throws {
        let corrupt = directory.appendingPathComponent("corrupt.safetensors")
        var bytes = [UInt8](SafeTensors.encode(TinyNet(seed: 1).stateDict()))
        bytes.removeLast(10)
        try Data(bytes).write(to: corrupt)
        XCTAssertThrowsError(try TinyNet(seed: 2).loadStateDict(contentsOf: corrupt)) { error in
            guard case StateDictError.file(let path, let reason) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(path, corrupt.path)
            XCTAssertTrue(reason.contains("past the"), reason)
            XCTAssertTrue(error.localizedDescription.contains("corrupt.safetensors"), error.localizedDescription)
        }
        let absent = directory.appendingPathComponent("absent.safetensors")
        XCTAssertThrowsError(try TinyNet(seed: 2).loadStateDict(contentsOf: absent)) { error in
            XCTAssertTrue("\(error)".contains(absent.path), "\(error)")
        }
        XCTAssertThrowsError(try TinyNet(seed: 2).saveStateDict(to: directory.appendingPathComponent("no/dir/x.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("no/dir/x.safetensors"), "\(error)")
        }
    }
}
