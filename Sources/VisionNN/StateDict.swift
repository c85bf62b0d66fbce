import Foundation
import VisionCore

/// A state dict that does not fit a module, or a weights file that cannot be read or written.
public enum StateDictError: Error, CustomStringConvertible, LocalizedError {
    /// Keys the module has but the state dict lacks.
    case missingKeys([String])
    /// Keys the state dict has but the module lacks.
    case unexpectedKeys([String])
    /// A key whose tensor has a different shape in the state dict than in the module.
    case shapeMismatch(key: String, expected: [Int], got: [Int])
    /// The weights file could not be read, parsed or written.
    case file(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missingKeys(keys): return "state dict is missing \(keys.count) key(s): \(Self.list(keys))"
        case let .unexpectedKeys(keys): return "state dict has \(keys.count) unexpected key(s): \(Self.list(keys))"
        case let .shapeMismatch(key, expected, got):
            return "state dict key '\(key)' has shape \(got) but the module expects \(expected)"
        case let .file(path, reason): return "weights file \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }

    private static func list(_ keys: [String]) -> String {
        let shown = keys.prefix(20).joined(separator: ", ")
        return keys.count > 20 ? shown + ", … (\(keys.count - 20) more)" : shown
    }
}

/// What `loadStateDict` did with each key.
public struct LoadReport {
    /// Module keys whose values were copied from the state dict.
    public var loaded: [String] = []
    /// Module keys absent from the state dict (left unchanged).
    public var missing: [String] = []
    /// State-dict keys the module does not have (ignored).
    public var unexpected: [String] = []
    /// Keys present in both with different shapes (left unchanged).
    public var mismatched: [(key: String, expected: [Int], got: [Int])] = []

    public init() {}

    /// Whether every key matched: nothing missing, unexpected or mis-shaped.
    public var isComplete: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }
}

extension Module {
    /// Copies tensors into this module's parameters and buffers by state-dict key
    /// (`layer1.0.conv1.weight`). Values are copied into the existing tensors' storage, so the
    /// module's stored properties (and an optimizer holding the same tensors) see them.
    ///
    /// Keys ending in `num_batches_tracked` are never reported missing or unexpected (PyTorch's
    /// batch-norm counter, often absent on one side); they are loaded when both sides have them.
    ///
    /// - Parameter strict: when true, any missing, unexpected or mis-shaped key throws and nothing
    ///   is loaded; when false, every matching key is loaded and the rest is listed in the report.
    @discardableResult
    public func loadStateDict(_ tensors: [String: Tensor], strict: Bool = true) throws -> LoadReport {
        var report = LoadReport()
        var copies: [(target: Tensor, source: Tensor)] = []
        var ownKeys = Set<String>()
        for (key, target) in stateDict() {
            ownKeys.insert(key)
            guard let source = tensors[key] else {
                if !Self.isBatchCounter(key) { report.missing.append(key) }
                continue
            }
            guard source.shape == target.shape else {
                if !Self.isBatchCounter(key) { report.mismatched.append((key, target.shape, source.shape)) }
                continue
            }
            copies.append((target, source))
            report.loaded.append(key)
        }
        report.unexpected = tensors.keys.filter { !ownKeys.contains($0) && !Self.isBatchCounter($0) }.sorted()

        if strict {
            if !report.missing.isEmpty { throw StateDictError.missingKeys(report.missing) }
            if !report.unexpected.isEmpty { throw StateDictError.unexpectedKeys(report.unexpected) }
            if let first = report.mismatched.first {
                throw StateDictError.shapeMismatch(key: first.key, expected: first.expected, got: first.got)
            }
        }
        for (target, source) in copies {
            source.withUnsafeBufferPointer { values in
                target.withUnsafeMutableBufferPointer { destination in
                    _ = destination.update(fromContentsOf: values)
                }
            }
        }
        return report
    }

    /// Loads a safetensors file whose keys are `prefix` + state-dict key (the reference files
    /// store several models under `resnet18_cifar/…`). Keys without the prefix are ignored.
    @discardableResult
    public func loadStateDict(contentsOf url: URL, strict: Bool = true, prefix: String = "") throws -> LoadReport {
        let stored: [String: Tensor]
        do {
            stored = try SafeTensors.read(contentsOf: url, including: { $0.hasPrefix(prefix) })
        } catch let error as SafeTensorsError {
            throw StateDictError.file(path: url.path, reason: error.reason)
        }
        var tensors: [String: Tensor] = [:]
        for (key, tensor) in stored { tensors[String(key.dropFirst(prefix.count))] = tensor }
        do {
            return try loadStateDict(tensors, strict: strict)
        } catch let error as StateDictError {
            throw StateDictError.file(path: url.path, reason: "does not fit the model: \(error.description)")
        }
    }

    /// Saves every parameter and buffer under its state-dict key as safetensors, atomically
    /// (temporary file, then rename). `dtype` may be `.float16` to ship smaller weights.
    public func saveStateDict(to url: URL, metadata: [String: String] = [:],
                              dtype: SafeTensors.DType = .float32) throws {
        var seen = Set<String>()
        let unique = stateDict().filter { seen.insert($0.name).inserted }
        do {
            try SafeTensors.write(unique, to: url, metadata: metadata, dtype: dtype)
        } catch let error as SafeTensorsError {
            throw StateDictError.file(path: url.path, reason: error.reason)
        }
    }

    private static func isBatchCounter(_ key: String) -> Bool {
        key == "num_batches_tracked" || key.hasSuffix(".num_batches_tracked")
    }
}
