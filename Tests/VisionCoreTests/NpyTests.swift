import Foundation
import TestSupport
import VisionCore
import XCTest

/// Builds an `.npy` file by hand: magic, version, header length (or a lying one), header, data.
private func npyBytes(_ header: String, data: [UInt8], version: UInt8 = 1, declaredLength: Int? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    let length = declaredLength ?? headerBytes.count
    let lengthBytes = (0..<(version == 1 ? 2 : 4)).map { UInt8((length >> (8 * $0)) & 0xFF) }
    return [0x93] + Array("NUMPY".utf8) + [version, 0] + lengthBytes + headerBytes + data
}

private func bytes<T: FixedWidthInteger>(_ values: [T], bigEndian: Bool = false) -> [UInt8] {
    values.flatMap { value in
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        return (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: ordered >> (8 * $0)) }
    }
}

final class NpyTests: XCTestCase {
    func testRoundTripIsExactForEveryRank() throws {
        var generator = SeededGenerator(seed: 11)
        for shape in [[], [5], [2, 3], [2, 3, 4], [0, 4], [1, 1, 2, 2, 1]] {
            let tensor = Tensor.normal(shape, generator: &generator)
            let loaded = try Npy.read(Npy.encode(tensor))
            XCTAssertEqual(loaded.shape, shape)
            XCTAssertEqual(loaded.storage, tensor.storage, "shape \(shape)")
        }
    }

    func testEncodedHeaderIsWhatNumPyWrites() {
        let data = [UInt8](Npy.encode(Tensor([1, 2, 3, 4, 5], shape: [5])))
        XCTAssertEqual(Array(data[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "data aligned to 64 bytes")
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"), header)
        XCTAssertTrue(header.hasSuffix(" \n"))
        XCTAssertEqual(data.count, 10 + headerLength + 20)
        XCTAssertEqual(Array(data[(10 + headerLength)..<(14 + headerLength)]), [0, 0, 0x80, 0x3F], "1.0 little-endian")
        let scalar = String(decoding: Npy.encode(Tensor(scalar: 1)), as: UTF8.self)
        XCTAssertTrue(scalar.contains("'shape': ()"))
    }

    func testReadsOtherDtypesAndByteOrders() throws {
        let double = try Npy.read(Data(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                                                data: bytes([(0.1 as Double).bitPattern, (-2.5 as Double).bitPattern]))))
        XCTAssertEqual(double.storage, [Float(0.1), -2.5])
        let big = try Npy.read(Data(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2)}",
                                             data: bytes([Float(1.5).bitPattern, Float(-3).bitPattern], bigEndian: true))))
        XCTAssertEqual(big.shape, [1, 2])
        XCTAssertEqual(big.storage, [1.5, -3])
        let half = try Npy.read(Data(npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                                              data: bytes([UInt16(0x3C00), 0xC000]))))
        XCTAssertEqual(half.storage, [1, -2])
        let integers = try Npy.read(Data(npyBytes("{\"descr\": \"<i8\", \"shape\": (3L,), \"fortran_order\": False}",
                                                  data: bytes([Int64(-7), 0, 9]), version: 2)))
        XCTAssertEqual(integers.storage, [-7, 0, 9])
        let pixels = try Npy.read(Data(npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", data: [0, 128, 255])))
        XCTAssertEqual(pixels.storage, [0, 128, 255])
        let mask = try Npy.read(Data(npyBytes("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", data: [1, 0])))
        XCTAssertEqual(mask.storage, [1, 0])
    }

    func testFortranOrderIsReorderedToRowMajor() throws {
        // np.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores the columns one after another.
        let values: [Float] = [1, 4, 2, 5, 3, 6]
        let tensor = try Npy.read(Data(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                                data: bytes(values.map(\.bitPattern)))))
        XCTAssertEqual(tensor.shape, [2, 3])
        XCTAssertEqual(tensor.storage, [1, 2, 3, 4, 5, 6])
        // Three axes: element [i, j, k] sits at i + 2·j + 4·k in Fortran order.
        var fortran = [Float](repeating: 0, count: 16)
        for i in 0..<2 { for j in 0..<2 { for k in 0..<4 { fortran[i + 2 * j + 4 * k] = Float(100 * i + 10 * j + k) } } }
        let cube = try Npy.read(Data(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 4), }",
                                              data: bytes(fortran.map(\.bitPattern)))))
        XCTAssertEqual(cube[1, 0, 3], 103)
        XCTAssertEqual(cube[0, 1, 2], 12)
        let expected: [Float] = (0..<16).map { (flat: Int) -> Float in
            let i = flat / 8, j = flat / 4 % 2, k = flat % 4
            return Float(100 * i + 10 * j + k)
        }
        XCTAssertEqual(cube.storage, expected)
    }

    func testFileRoundTripAndErrorsNameTheFile() throws {
        let directory = temporaryDirectory("npy-test")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("features.npy")
        let tensor = Tensor([1, -2, 3.5, 0, 8, 9], shape: [3, 2])
        try Npy.write(tensor, to: url)
        XCTAssertEqual(try Npy.read(contentsOf: url).storage, tensor.storage)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["features.npy"])

        let absent = directory.appendingPathComponent("absent.npy")
        XCTAssertThrowsError(try Npy.read(contentsOf: absent)) { error in
            guard case NpyError.unreadable(let path, _) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(path, absent.path)
        }
        XCTAssertThrowsError(try Npy.write(tensor, to: directory.appendingPathComponent("missing/dir/x.npy"))) { error in
            XCTAssertTrue("\(error)".contains("missing/dir/x.npy"), "\(error)")
        }
    }

    private func assertRejects(_ data: [UInt8], _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Npy.read(Data(data), source: "bad.npy"), file: file, line: line) { error in
            let message = (error as? NpyError)?.description ?? "not an NpyError: \(error)"
            XCTAssertTrue(message.contains("bad.npy") && message.contains(reason), "\"\(message)\" lacks \"\(reason)\"",
                          file: file, line: line)
        }
    }

    func testRejectsMalformedFiles() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
        let data = [UInt8](repeating: 0, count: 16)
        XCTAssertNoThrow(try Npy.read(Data(npyBytes(header, data: data))))
        assertRejects([], "bad magic")
        assertRejects(Array("PK\u{3}\u{4}not numpy".utf8), "bad magic")
        assertRejects(npyBytes(header, data: Array(data.dropLast(4))), "needs 16 bytes of data but the file holds 12")
        assertRejects(npyBytes(header, data: data + [0]), "the file holds 17")
        assertRejects(npyBytes(header, data: [], declaredLength: 60_000), "header length 60000 exceeds")
        assertRejects(npyBytes(header, data: data, version: 9), "unsupported format version 9")
        assertRejects(npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", data: data), "unsupported dtype '<c8'")
        assertRejects(npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data: data),
                      "not a Python dict literal")
        assertRejects(npyBytes("{'descr': '<f4', 'fortran_order': False}", data: data), "no 'shape' tuple")
        assertRejects(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2)}", data: data), "not a Python dict literal")
        assertRejects(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000, 1000000000)}",
                               data: data), "is too large")
        assertRejects(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 100000000)}", data: data),
                      "needs 40000000000000000 bytes")
    }
}
