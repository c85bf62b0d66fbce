import Foundation
import TestSupport
import VisionCore
import XCTest

/// Builds a safetensors file by hand: the length prefix (or a lying one), the header text, the data.
private func safetensorsBytes(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    let length = declaredLength ?? UInt64(headerBytes.count)
    return (0..<8).map { UInt8((length >> (8 * UInt64($0))) & 0xFF) } + headerBytes + data
}

private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value.littleEndian >> (8 * $0)) } }
}

final class SafeTensorsTests: XCTestCase {
    private var directory: URL!

    override func setUp() { directory = temporaryDirectory("safetensors-test") }
    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func sampleTensors() -> [(name: String, tensor: Tensor)] {
        var generator = SeededGenerator(seed: 7)
        return [
            ("conv.weight", Tensor.normal([4, 3, 3, 3], generator: &generator)),
            ("bn.running_var", Tensor.uniform([4], low: 0.5, high: 2, generator: &generator)),
            ("scalar", Tensor(scalar: -3.25)),
            ("empty", Tensor.zeros([0, 5])),
            ("fc.bias", Tensor([1, -1, 0.5, 1e-3, 65504, -7], shape: [6])),
        ]
    }

    // MARK: Round trips and layout

    func testFloat32RoundTripIsExactAndKeepsMetadata() throws {
        let tensors = sampleTensors()
        let url = directory.appendingPathComponent("model.safetensors")
        try SafeTensors.write(tensors, to: url, metadata: ["format": "pt", "note": "quote \" and \\ and\nnewline"])
        let loaded = try SafeTensors.read(contentsOf: url)
        XCTAssertEqual(Set(loaded.keys), Set(tensors.map(\.name)))
        for (name, tensor) in tensors {
            XCTAssertEqual(loaded[name]?.shape, tensor.shape, name)
            XCTAssertEqual(loaded[name]?.storage, tensor.storage, name)
        }
        XCTAssertEqual(try SafeTensors.readMetadata(contentsOf: url),
                       ["format": "pt", "note": "quote \" and \\ and\nnewline"])
        let header = try SafeTensors.readHeader(contentsOf: url)
        XCTAssertEqual(header.tensors.map(\.name), tensors.map(\.name).sorted())
        XCTAssertTrue(header.tensors.allSatisfy { $0.dtype == .float32 })
    }

    func testFloat16AndBFloat16RoundTripsWithinTheirPrecision() throws {
        var generator = SeededGenerator(seed: 3)
        let values = Tensor.normal([1000], std: 3, generator: &generator)
        let specials = Tensor([0, -0.0, 1, -2, 65504, 1e-7, .infinity, -.infinity], shape: [8])
        for (dtype, relative) in [(SafeTensors.DType.float16, Float(1) / 2048), (.bfloat16, Float(1) / 256)] {
            let data = SafeTensors.encode([("values", values), ("specials", specials)], dtype: dtype)
            XCTAssertLessThan(data.count, 8 + 300 + 1008 * 2, "\(dtype) stores 2 bytes per element")
            let loaded = try SafeTensors.read(data)
            assertClose(loaded["values"]!.storage, values.storage, rtol: relative, atol: 1e-6, "\(dtype)")
            let special = loaded["specials"]!.storage
            XCTAssertEqual(Array(special[0..<4]), [0, 0, 1, -2], "\(dtype)")
            XCTAssertEqual(special[0].sign, .plus)
            XCTAssertEqual(special[1].sign, .minus, "negative zero survives \(dtype)")
            XCTAssertEqual(special[6], .infinity)
            XCTAssertEqual(special[7], -.infinity)
            if dtype == .float16 {
                XCTAssertEqual(special[4], 65504, "largest half is exact")
                XCTAssertEqual(special[5], 1.1920929e-7, "1e-7 rounds to the nearest subnormal half, 2 × 2⁻²⁴")
            }
        }
        // Beyond the half range: overflow to infinity, never a crash.
        let huge = try SafeTensors.read(SafeTensors.encode([("x", Tensor([1e6, -70000], shape: [2]))], dtype: .float16))
        XCTAssertEqual(huge["x"]?.storage, [.infinity, -.infinity])
    }

    func testEncodedLayoutFollowsTheSpecification() throws {
        let data = [UInt8](SafeTensors.encode(sampleTensors(), metadata: ["format": "pt"]))
        let headerLength = data[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data section starts 8-byte aligned")
        let headerText = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertTrue(headerText.hasPrefix("{\"__metadata__\":{\"format\":\"pt\"}"))
        let trimmed = headerText.trimmingCharacters(in: .whitespaces)
        XCTAssertTrue(trimmed.hasSuffix("}"), "padding is spaces after the JSON")
        let keys = ["bn.running_var", "conv.weight", "empty", "fc.bias", "scalar"]
        let positions = keys.map { headerText.range(of: "\"\($0)\"")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted(), "keys appear in sorted order")
        let json = try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as! [String: Any]
        var expectedBegin = 0
        for key in keys {
            let entry = json[key] as! [String: Any]
            XCTAssertEqual(entry["dtype"] as? String, "F32")
            let offsets = entry["data_offsets"] as! [Int]
            XCTAssertEqual(offsets[0], expectedBegin, "data packed in key order")
            expectedBegin = offsets[1]
        }
        XCTAssertEqual(data.count, 8 + headerLength + expectedBegin)
    }

    func testReadsHandBuiltFloat16BFloat16Float64AndIntegerTensors() throws {
        var data: [UInt8] = []
        // F16: 1, −2, 0.5, 65504, smallest subnormal 2⁻²⁴, +inf
        let half = littleEndianBytes([UInt16(0x3C00), 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00]); data += half
        // BF16: 1, −2.5, 3.140625
        let bfloat = littleEndianBytes([UInt16(0x3F80), 0xC020, 0x4049]); data += bfloat + [0, 0]
        // F64: 0.1, −1e300 (becomes −inf in Float32)
        let double = littleEndianBytes([(0.1 as Double).bitPattern, (-1e300 as Double).bitPattern]); data += double
        let int64 = littleEndianBytes([Int64(-3), 1 << 40]); data += int64
        data += [0, 1, 2] // BOOL
        let header = """
        {"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},
         "b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]},
         "d":{"dtype":"F64","shape":[2],"data_offsets":[20,36]},
         "i":{"dtype":"I64","shape":[2],"data_offsets":[36,52]},
         "flags":{"dtype":"BOOL","shape":[3],"data_offsets":[52,55]},
         "__metadata__":{"k":"v"}}
        """
        let loaded = try SafeTensors.read(safetensorsBytes(header, data: data))
        XCTAssertEqual(loaded["h"]?.shape, [2, 3])
        XCTAssertEqual(loaded["h"]?.storage, [1, -2, 0.5, 65504, 0x1p-24, .infinity])
        XCTAssertEqual(loaded["b"]?.storage, [1, -2.5, 3.140625])
        XCTAssertEqual(loaded["d"]?.storage, [Float(0.1), -.infinity])
        XCTAssertEqual(loaded["i"]?.storage, [-3, 1_099_511_627_776])
        XCTAssertEqual(loaded["flags"]?.storage, [0, 1, 1])
        XCTAssertEqual(loaded.count, 5, "__metadata__ is not a tensor")
    }

    func testReadingASubsetConvertsOnlyTheChosenTensors() throws {
        let url = directory.appendingPathComponent("subset.safetensors")
        try SafeTensors.write(sampleTensors(), to: url)
        let subset = try SafeTensors.read(contentsOf: url, including: { $0.hasPrefix("conv.") })
        XCTAssertEqual(Array(subset.keys), ["conv.weight"])
    }

    func testWriteIsAtomicAndReplacesTheOldFile() throws {
        let url = directory.appendingPathComponent("checkpoint.safetensors")
        try SafeTensors.write([("x", Tensor([1, 2], shape: [2]))], to: url)
        try SafeTensors.write([("x", Tensor([3, 4, 5], shape: [3]))], to: url, dtype: .float16)
        XCTAssertEqual(try SafeTensors.read(contentsOf: url)["x"]?.storage, [3, 4, 5])
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertEqual(names, ["checkpoint.safetensors"], "no temporary file is left behind")

        let missing = directory.appendingPathComponent("no/such/dir/x.safetensors")
        XCTAssertThrowsError(try SafeTensors.write([("x", Tensor([1], shape: [1]))], to: missing)) { error in
            guard case SafeTensorsError.unwritable = error else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue("\(error)".contains("no/such/dir"), "\(error)")
        }
    }

    /// Several outputs written as one: when one of them cannot be written, none of the targets is replaced
    /// and no temporary is left; when all can, all are.
    func testWriteAllReplacesNoTargetWhenOneCannotBeWritten() throws {
        let first = directory.appendingPathComponent("mask.png"), second = directory.appendingPathComponent("p.npy")
        try Data("old mask".utf8).write(to: first)
        try Data("old p".utf8).write(to: second)
        let blocked = directory.appendingPathComponent("overlay.png")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: false)  // a directory: cannot be written
        XCTAssertThrowsError(try FileWriting.writeAllAtomically([(Data("new mask".utf8), first), (Data("new p".utf8), second),
                                                                 (Data("overlay".utf8), blocked)])) { error in
            XCTAssertTrue("\(error)".contains("overlay.png"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: first), Data("old mask".utf8))
        XCTAssertEqual(try Data(contentsOf: second), Data("old p".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["mask.png", "overlay.png", "p.npy"])
        try FileWriting.writeAllAtomically([(Data("new mask".utf8), first), (Data("new p".utf8), second)])
        XCTAssertEqual(try Data(contentsOf: first), Data("new mask".utf8))
        XCTAssertEqual(try Data(contentsOf: second), Data("new p".utf8))
    }

    // MARK: Malformed input

    /// Asserts that reading `bytes` throws a `SafeTensorsError` naming the source and containing `reason`.
    private func assertRejects(_ bytes: [UInt8], _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(bytes, source: "hostile.safetensors"), file: file, line: line) { error in
            guard let error = error as? SafeTensorsError else { return XCTFail("not a SafeTensorsError: \(error)", file: file, line: line) }
            let message = error.localizedDescription
            XCTAssertTrue(message.contains("hostile.safetensors"), "message names the file: \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(reason), "message \"\(message)\" lacks \"\(reason)\"", file: file, line: line)
        }
    }

    func testRejectsFilesTooShortForTheLengthPrefix() {
        assertRejects([], "too short")
        assertRejects([1, 0, 0, 0, 0, 0, 0], "file is 7 bytes, too short")
    }

    func testRejectsHeaderLengthsBeyondTheFile() {
        assertRejects(safetensorsBytes("{}", declaredLength: 3), "header length 3 exceeds the 2 bytes")
        assertRejects(safetensorsBytes("{}", declaredLength: UInt64.max), "exceeds")
    }

    func testRejectsHeadersOverTheSizeLimitWithoutReadingThem() throws {
        // A sparse file just over 100 MB whose prefix claims the whole file as header.
        let url = directory.appendingPathComponent("huge-header.safetensors")
        let length = UInt64(SafeTensors.maximumHeaderLength + 1)
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path,
                                                     contents: Data(safetensorsBytes("{", declaredLength: length))))
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: 8 + length)
        try handle.close()
        XCTAssertThrowsError(try SafeTensors.read(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("exceeds the limit"), "\(error)")
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
    }

    func testRejectsTruncatedDataAndLyingOffsets() {
        let valid = [UInt8](SafeTensors.encode([("a", Tensor([1, 2, 3], shape: [3]))]))
        XCTAssertNoThrow(try SafeTensors.read(valid))
        assertRejects(Array(valid.dropLast(4)), "past the 8 bytes of data")
        let lying = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}"#
        assertRejects(safetensorsBytes(lying, data: [UInt8](repeating: 0, count: 16)), "tensor 'a': data_offsets end 20 lies past")
        let reversed = #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#
        assertRejects(safetensorsBytes(reversed, data: [UInt8](repeating: 0, count: 16)), "not ordered")
        let negative = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#
        assertRejects(safetensorsBytes(negative, data: [UInt8](repeating: 0, count: 16)), "not ordered")
        let triple = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#
        assertRejects(safetensorsBytes(triple, data: [UInt8](repeating: 0, count: 16)), "not a [begin, end] pair")
    }

    func testRejectsOverlappingRanges() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertRejects(safetensorsBytes(header, data: [UInt8](repeating: 0, count: 12)), "overlap tensor 'a'")
    }

    func testRejectsAbsurdShapesWithoutAllocating() {
        let absurd = #"{"a":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,4]}}"#
        assertRejects(safetensorsBytes(absurd, data: [0, 0, 0, 0]), "size mismatch")
        let overflowing = #"{"a":{"dtype":"F64","shape":[10000000,10000000,10000000],"data_offsets":[0,8]}}"#
        assertRejects(safetensorsBytes(overflowing, data: [UInt8](repeating: 0, count: 8)), "overflows")
        let negative = #"{"a":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,4]}}"#
        assertRejects(safetensorsBytes(negative, data: [0, 0, 0, 0]), "negative extent")
    }

    func testRejectsShapesThatDisagreeWithTheirByteRange() {
        let header = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#
        assertRejects(safetensorsBytes(header, data: [UInt8](repeating: 0, count: 16)), "needs 16 bytes but data_offsets [0, 12] span 12")
    }

    func testRejectsMalformedJSON() {
        assertRejects(safetensorsBytes(#"{"a": {"dtype": "F32""#), "not valid JSON")
        assertRejects(safetensorsBytes("[1, 2]"), "not a JSON object")
        assertRejects(safetensorsBytes(#"{"a": 5}"#), "tensor 'a': entry is not a JSON object")
        assertRejects(safetensorsBytes(#"{"a": {"dtype": "F32", "data_offsets": [0, 0]}}"#), "missing field 'shape'")
        assertRejects(safetensorsBytes(#"{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 0]}}"#),
                      "field 'shape[0]' is malformed (1.5 is not an integer")
        assertRejects(safetensorsBytes(#"{"a": {"dtype": "F32", "shape": "big", "data_offsets": [0, 0]}}"#),
                      "field 'shape' has the wrong type")
        assertRejects(safetensorsBytes(#"{"__metadata__": {"epoch": 3}}"#), "__metadata__ field 'epoch' has the wrong type")
        assertRejects(safetensorsBytes("{\"a\u{1}\": \u{FF}}"), "not valid JSON")
    }

    func testRejectsUnknownDtypes() {
        let header = #"{"q":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,2]}}"#
        assertRejects(safetensorsBytes(header, data: [0, 0]), "tensor 'q': unsupported dtype 'Q4_K'")
        let float8 = #"{"q":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#
        assertRejects(safetensorsBytes(float8, data: [0, 0]), "unsupported dtype 'F8_E4M3'")
    }

    func testMissingFileIsAnUnreadableErrorNamingThePath() {
        let url = directory.appendingPathComponent("absent.safetensors")
        XCTAssertThrowsError(try SafeTensors.read(contentsOf: url)) { error in
            guard case SafeTensorsError.unreadable(let path, _) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(path, url.path)
        }
    }

    // MARK: Reference files

    func testLoadsTheReferenceFiles() throws {
        guard let reference = referenceDirectory() else { throw XCTSkip("no reference directory") }
        for name in ["ops", "models"] {
            let url = reference.appendingPathComponent("\(name).safetensors")
            let tensors = try SafeTensors.read(contentsOf: url)
            // An independent parse of the header with JSONSerialization gives the same entries.
            let bytes = try Data(contentsOf: url)
            let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            let json = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
            let entries = json.filter { $0.key != "__metadata__" }.mapValues { $0 as! [String: Any] }
            XCTAssertEqual(tensors.count, entries.count, name)
            XCTAssertGreaterThan(tensors.count, 100, name)
            for (key, entry) in entries {
                XCTAssertEqual(tensors[key]?.shape, entry["shape"] as? [Int], key)
                // The first element decoded by hand from the raw bytes.
                let begin = 8 + headerLength + (entry["data_offsets"] as! [Int])[0]
                guard entry["dtype"] as? String == "F32", let first = tensors[key]?.storage.first else { continue }
                let pattern = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[begin + $1]) << (8 * UInt32($1)) }
                XCTAssertEqual(first.bitPattern, pattern, key)
            }
            // Every tensor a case file names is present.
            let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: reference.appendingPathComponent("\(name).json")))
            let caseList = (cases as! [String: Any])["cases"] as! [[String: Any]]
            for entry in caseList {
                let roles = (entry["inputs"] as? [String: String] ?? [:]).merging(entry["outputs"] as? [String: String] ?? [:]) { a, _ in a }
                let named = ["input", "logits_eval", "target", "loss_train"].compactMap { entry[$0] as? String }
                for tensorName in Array(roles.values) + named { XCTAssertNotNil(tensors[tensorName], "\(name): \(tensorName)") }
            }
        }
        let models = try SafeTensors.read(contentsOf: reference.appendingPathComponent("models.safetensors"),
                                          including: { $0.hasPrefix("resnet18_") })
        XCTAssertEqual(models["resnet18_cifar/conv1.weight"]?.shape, [64, 3, 3, 3])
        XCTAssertEqual(models["resnet18_imagenet/conv1.weight"]?.shape, [64, 3, 7, 7])
        XCTAssertEqual(models["resnet18_imagenet/fc.weight"]?.shape, [1000, 512])
        XCTAssertEqual(models["resnet18_imagenet.x"]?.shape, [2, 3, 224, 224])
        XCTAssertTrue(models.values.allSatisfy { $0.storage.allSatisfy(\.isFinite) })
    }
}
