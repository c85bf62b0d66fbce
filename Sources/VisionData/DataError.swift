import Foundation

/// Errors from reading datasets: every case names the file (or place) and the reason.
public enum DataError: Error, Equatable {
    /// A file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// A file's bytes do not match its format (truncated, bad magic, wrong dimensions, bad label…).
    case malformed(path: String, reason: String)
    /// Two files that must agree do not (e.g. image and label counts, image and mask sizes).
    case mismatch(path: String, reason: String)
    /// A named dataset was not found in any of the standard places.
    case datasetNotFound(name: String, searched: [String], hint: String)
    /// A directory holds no usable samples.
    case empty(path: String, reason: String)
    /// Samples in one batch have different shapes.
    case inconsistentBatch(reason: String)
}

extension DataError: LocalizedError, CustomStringConvertible {
    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .malformed(let path, let reason):
            return "malformed file \(path): \(reason)"
        case .mismatch(let path, let reason):
            return "inconsistent data at \(path): \(reason)"
        case .datasetNotFound(let name, let searched, let hint):
            let places = searched.isEmpty ? "(no places to search)" : searched.joined(separator: ", ")
            return "dataset '\(name)' not found; looked in: \(places). \(hint)"
        case .empty(let path, let reason):
            return "no samples in \(path): \(reason)"
        case .inconsistentBatch(let reason):
            return "cannot batch samples: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// Reads a whole file, mapping failures to `DataError.unreadable`.
func readFileBytes(_ url: URL) throws -> [UInt8] {
    do {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        return [UInt8](data)
    } catch {
        throw DataError.unreadable(path: url.path, reason: error.localizedDescription)
    }
}
