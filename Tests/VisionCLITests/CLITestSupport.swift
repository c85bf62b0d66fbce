import Foundation
import TestSupport
import VisionCore
import VisionImage
import XCTest

/// The result of one run of the `vision` executable.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Non-empty lines of standard error.
    var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }
}

/// Finds and runs the built `vision` executable (the products directory holds it beside the test bundle).
enum VisionCLI {
    /// The `vision` executable next to the test bundle, or nil.
    static let executable: URL? = {
        let fm = FileManager.default
        var directories: [URL] = []
        if let path = ProcessInfo.processInfo.environment["VISION_EXECUTABLE"] {
            return fm.isExecutableFile(atPath: path) ? URL(fileURLWithPath: path) : nil
        }
        // macOS: the .xctest bundle is a directory inside the products directory.
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        // Linux: the .xctest "bundle" is the running executable itself.
        directories.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        if let main = Bundle.main.executableURL { directories.append(main.resolvingSymlinksInPath().deletingLastPathComponent()) }
        directories.append(Bundle.main.bundleURL)
        for directory in directories {
            let candidate = directory.appendingPathComponent("vision")
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               fm.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        return nil
    }()

    static var searchedDirectories: String {
        if let path = ProcessInfo.processInfo.environment["VISION_EXECUTABLE"] { return "VISION_EXECUTABLE=\(path)" }
        var list = Bundle.allBundles.map(\.bundleURL.path)
        list.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path)
        return list.joined(separator: ", ")
    }

    /// Runs `vision <arguments>` with `VISION_NO_REEXEC=1` plus `environment`, in `directory`.
    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
                    timeout: TimeInterval = 120, file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        guard let executable else {
            XCTFail("the built `vision` executable was not found beside the test bundle (looked in \(searchedDirectories)); "
                    + "build it with `swift build` or set VISION_EXECUTABLE", file: file, line: line)
            throw XCTSkip("no vision executable")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["VISION_NO_REEXEC"] = "1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        // Files, not pipes: a chatty child can never block on a full pipe.
        let scratch = temporaryDirectory("vision-cli-output")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                XCTFail("vision \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s", file: file, line: line)
                break
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return CLIResult(status: process.terminationStatus,
                         stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
                         stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    }

    /// Runs and asserts a zero exit status, reporting the output otherwise.
    @discardableResult
    static func succeed(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
                        file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        let result = try run(arguments, environment: environment, in: directory, file: file, line: line)
        XCTAssertEqual(result.status, 0, "vision \(arguments.joined(separator: " ")) failed:\n\(result.stdout)\n\(result.stderr)",
                       file: file, line: line)
        return result
    }

    /// Runs and asserts a non-zero exit whose standard error is one `vision: error:` line containing every
    /// string of `mentions`.
    static func fail(_ arguments: [String], mentioning mentions: [String], environment: [String: String] = [:],
                     in directory: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try run(arguments, environment: environment, in: directory, file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "vision \(arguments.joined(separator: " ")) should fail", file: file, line: line)
        let lines = result.errorLines
        XCTAssertEqual(lines.count, 1, "expected one error line, got:\n\(result.stderr)", file: file, line: line)
        let message = lines.first ?? ""
        XCTAssertTrue(message.hasPrefix("vision: error: "), "unexpected error line: \(message)", file: file, line: line)
        for text in mentions {
            XCTAssertTrue(message.contains(text), "the error '\(message)' should mention '\(text)'", file: file, line: line)
        }
        XCTAssertFalse(result.stderr.contains("Fatal error"), "crashed instead of reporting: \(result.stderr)", file: file, line: line)
    }
}

// MARK: - Test data written by the tests

enum TestData {
    /// Class folders `root/<class>/NN.png` of `side`×`side` RGB images: each class a distinct base colour
    /// with seeded noise, so a small network separates them quickly.
    static func writeClassFolder(_ root: URL, classes: [(name: String, color: (Int, Int, Int))], perClass: Int,
                                 side: Int, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        for (name, color) in classes {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for k in 0..<perClass {
                var pixels = [UInt8](repeating: 0, count: side * side * 3)
                for i in 0..<(side * side) {
                    for (c, base) in [color.0, color.1, color.2].enumerated() {
                        let noise = Int(g.nextUniform() * 60) - 30
                        pixels[3 * i + c] = UInt8(clamping: base + noise)
                    }
                }
                try ImageIO.writePNG(Image(height: side, width: side, channels: 3, pixels: pixels),
                                     to: folder.appendingPathComponent(String(format: "%02d.png", k)))
            }
        }
    }

    static let rgbClasses: [(name: String, color: (Int, Int, Int))] = [
        ("blue", (40, 60, 220)), ("green", (40, 200, 60)), ("red", (220, 50, 40)),
    ]

    /// A segmentation folder `root/image/NN.png` (gray) with `root/label/NN.png` (0/255): a bright
    /// rectangle (label 255) on a dark noisy background.
    static func writeSegmentationFolder(_ root: URL, count: Int, side: Int, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let images = root.appendingPathComponent("image"), labels = root.appendingPathComponent("label")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        for k in 0..<count {
            let top = 2 + k % 5, left = 1 + (3 * k) % 6
            let height = side / 2, width = side / 2 - 1
            var pixels = [UInt8](repeating: 0, count: side * side), mask = pixels
            for y in 0..<side {
                for x in 0..<side {
                    let inside = y >= top && y < top + height && x >= left && x < left + width
                    pixels[y * side + x] = UInt8(clamping: (inside ? 200 : 50) + Int(g.nextUniform() * 40) - 20)
                    mask[y * side + x] = inside ? 255 : 0
                }
            }
            let name = String(format: "%02d.png", k)
            try ImageIO.writePNG(Image(height: side, width: side, channels: 1, pixels: pixels), to: images.appendingPathComponent(name))
            try ImageIO.writePNG(Image(height: side, width: side, channels: 1, pixels: mask), to: labels.appendingPathComponent(name))
        }
    }

    /// CIFAR-10 binary batches under `root/cifar-10-batches-bin`: `perBatch` records in each of
    /// `data_batch_1…5.bin` and `testRecords` in `test_batch.bin` (record = label byte + 3072 planar bytes).
    static func writeCIFAR10(_ root: URL, perBatch: Int, testRecords: Int, seed: UInt64) throws {
        let folder = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: seed)
        func batch(_ records: Int) -> Data {
            var bytes = [UInt8]()
            for r in 0..<records {
                let label = r % 10
                bytes.append(UInt8(label))
                for plane in 0..<3 {
                    let base = (label * 25 + plane * 70) % 256
                    for _ in 0..<1024 { bytes.append(UInt8(clamping: base + Int(g.nextUniform() * 30))) }
                }
            }
            return Data(bytes)
        }
        for k in 1...5 { try batch(perBatch).write(to: folder.appendingPathComponent("data_batch_\(k).bin")) }
        try batch(testRecords).write(to: folder.appendingPathComponent("test_batch.bin"))
    }

    /// Writes an RGB PNG filled by `pixel(y, x)`.
    static func writeRGB(_ url: URL, height: Int, width: Int, _ pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) throws {
        var bytes = [UInt8]()
        for y in 0..<height {
            for x in 0..<width { let p = pixel(y, x); bytes += [p.0, p.1, p.2] }
        }
        try ImageIO.writePNG(Image(height: height, width: width, channels: 3, pixels: bytes), to: url)
    }

    /// Decodes a PNG written by the CLI.
    static func decode(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> Image {
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.path), "\(url.path) was not written", file: file, line: line)
        return try ImageIO.decode(contentsOf: url)
    }

    /// The parsed JSON object in `url`.
    static func json(_ url: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }
}
