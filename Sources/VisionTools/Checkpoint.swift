import Foundation
import VisionCore
import VisionModels
import VisionNN

/// Reads and writes run directories and self-describing weight files.
///
/// A run directory holds `run.json` (configuration and progress), `last.safetensors`,
/// `best.safetensors` and `optimizer.safetensors`. Every weight file also carries the configuration
/// in its safetensors metadata (`vision.config`), so a single file is enough to rebuild the model,
/// and the epoch it was saved after (`vision.epoch`, also in the optimizer state).
public enum Checkpoint {
    public static let configKey = "vision.config"
    /// Metadata key of the epoch a run's weights and optimizer state were saved after.
    public static let epochKey = "vision.epoch"

    /// Where a checkpoint file is written before `run.json` commits its epoch: `last.next.safetensors`.
    static func pendingName(_ name: String) -> String {
        let url = URL(fileURLWithPath: name)
        return url.deletingPathExtension().lastPathComponent + ".next." + (url.pathExtension.isEmpty ? "safetensors" : url.pathExtension)
    }

    /// Finishes what a save interrupted after `run.json` was written: a pending weights, optimizer or
    /// best file stamped with the epoch `run.json` records for it is renamed onto its place; one from an
    /// epoch `run.json` never committed is deleted (the committed files are still in place).
    public static func recover(_ directory: URL, record: RunRecord) throws {
        removeStaleTemporaries(directory)
        let expected = [(record.lastWeights, record.state.epochsCompleted), (record.optimizerState, record.state.epochsCompleted),
                        (record.bestWeights, record.state.bestEpoch ?? -1)]
        for (name, expectedEpoch) in expected {
            let pending = directory.appendingPathComponent(pendingName(name))
            guard FileManager.default.fileExists(atPath: pending.path) else { continue }
            let epoch = (try? SafeTensors.readMetadata(contentsOf: pending))?[epochKey].flatMap(Int.init)
            let target = directory.appendingPathComponent(name)
            if epoch == expectedEpoch {
                guard rename(pending.path, target.path) == 0 else {
                    throw ToolError.invalidRun(path: target.path, reason: "cannot move \(pending.lastPathComponent) into place: \(String(cString: strerror(errno)))")
                }
            } else {
                unlink(pending.path)
            }
        }
    }

    /// Deletes the `.<run file>.<uuid>.tmp` files an interrupted atomic write leaves (a kill mid-save); called
    /// with the run directory locked, when no write of this run can be under way.
    static func removeStaleTemporaries(_ directory: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasSuffix(".tmp") && runFiles.contains(where: { name.hasPrefix(".\($0).") }) {
            unlink(directory.appendingPathComponent(name).path)
        }
    }

    /// The files whose presence marks a directory as holding a run.
    static let committedRunFiles = ["run.json", "last.safetensors", "best.safetensors", "optimizer.safetensors"]
    /// Every file a run writes into its directory, `run.json` first (what `--force` removes, in this order).
    static let runFiles: [String] = committedRunFiles + committedRunFiles.dropFirst().map(pendingName)
        + ["metrics.csv", "loss.png", "accuracy.png", "confusion.png"]

    /// Checks the epoch stamped into a checkpoint file against the one `run.json` records
    /// (`required`: a file without a stamp is an error too).
    static func checkEpoch(of url: URL, is expected: Int, required: Bool) throws {
        let metadata: [String: String]
        do {
            metadata = try SafeTensors.readMetadata(contentsOf: url)
        } catch let error as SafeTensorsError {
            throw ToolError.invalidRun(path: url.path, reason: error.reason)
        }
        let stamped = metadata[epochKey].flatMap(Int.init)
        if stamped == nil && !required { return }
        guard stamped == expected else {
            throw ToolError.invalidRun(path: url.path, reason: "holds epoch \(stamped.map(String.init) ?? "?") but run.json records \(expected); the run directory was changed by hand or by another program")
        }
    }

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(value)
    }

    /// Saves the model's state dict with the configuration (and any `extra` metadata) embedded (atomic).
    public static func saveWeights(_ model: Module, config: RunConfig, to url: URL, extra: [String: String] = [:]) throws {
        let json = String(decoding: try encode(config), as: UTF8.self)
        try model.saveStateDict(to: url, metadata: extra.merging([configKey: json]) { $1 })
    }

    public static func readRecord(_ directory: URL) throws -> RunRecord {
        let url = directory.appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ToolError.invalidRun(path: url.path, reason: "missing (not a vision run directory)")
        }
        let record: RunRecord
        do {
            record = try JSONDecoder().decode(RunRecord.self, from: data)
        } catch {
            throw ToolError.invalidRun(path: url.path, reason: "unreadable run description: \(error)")
        }
        // Training options are checked where training resumes (`Trainer.resume`), so a run stays readable for
        // evaluate, predict and finetune whatever they say.
        var problems = record.config.problems.map { "config: \($0)" }
        if !(0...max(record.config.epochs, 0)).contains(record.state.epochsCompleted) {
            problems.append("state: epochsCompleted \(record.state.epochsCompleted) is not between 0 and the run's \(record.config.epochs) epochs")
        }
        guard problems.isEmpty else {
            throw ToolError.invalidRun(path: url.path, reason: "inconsistent run description: " + problems.joined(separator: "; "))
        }
        return record
    }

    public static func writeRecord(_ record: RunRecord, to directory: URL) throws {
        try writeAtomically(try encode(record), to: directory.appendingPathComponent("run.json"))
    }

    /// Resolves a run directory or a weights file to (configuration, weights file).
    /// For a directory, `best.safetensors` is preferred over `last.safetensors`.
    public static func resolve(_ path: String) throws -> (config: RunConfig, weights: URL) {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ToolError.invalidRun(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            let record = try readRecord(url)
            for name in [record.bestWeights, record.lastWeights] {
                let w = url.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: w.path) { return (record.config, w) }
            }
            throw ToolError.invalidRun(path: path, reason: "holds no weights (\(record.bestWeights) or \(record.lastWeights))")
        }
        let metadata = try SafeTensors.readMetadata(contentsOf: url)
        guard let json = metadata[configKey] else {
            throw ToolError.invalidRun(path: path, reason: "carries no vision configuration (no vision.config in its metadata): it was not written by vision; convert torchvision weights with scripts/convert_torchvision.py, which records one")
        }
        let config: RunConfig
        do {
            config = try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        } catch {
            throw ToolError.invalidRun(path: path, reason: "unreadable embedded configuration: \(error)")
        }
        let problems = config.problems
        guard problems.isEmpty else {
            throw ToolError.invalidRun(path: path, reason: "inconsistent embedded configuration: " + problems.joined(separator: "; "))
        }
        return (config, url)
    }

    /// Builds the network a run or weights file describes and loads its weights (strict).
    public static func loadModel(_ path: String) throws -> (config: RunConfig, model: Module) {
        let (config, weights) = try resolve(path)
        let model = try config.buildModel()
        try model.loadStateDict(contentsOf: weights, strict: true)
        model.eval()
        return (config, model)
    }
}

/// An exclusive advisory lock (`flock`) on a run directory, held while a process trains in it or
/// repairs an interrupted save, so that a second `vision train --resume` (or `--force`) on the same
/// directory is refused instead of deleting the first one's pending files. Released on deinit.
public final class RunDirectoryLock {
    private let descriptor: Int32

    public init(_ directory: URL) throws {
        descriptor = open(directory.path, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else {
            throw ToolError.invalidRun(path: directory.path, reason: "cannot open the run directory: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ToolError.invalidRun(path: directory.path, reason: "another vision process is training in this run directory")
        }
    }

    deinit { close(descriptor) }
}
