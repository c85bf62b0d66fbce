import Foundation
import VisionCore

/// Errors from the tools layer; each names the file or value at fault.
public enum ToolError: Error, CustomStringConvertible, LocalizedError {
    case nonFiniteLoss(epoch: Int, batch: Int, value: Float, checkpoint: String?)
    /// Every training batch of the epoch was finite, but the weights it ended with score a non-finite validation loss.
    case nonFiniteValidationLoss(epoch: Int, value: Double, checkpoint: String?)
    case invalidOption(String)
    case invalidRun(path: String, reason: String)
    case incompatibleData(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, batch, value, checkpoint):
            return "training stopped: loss became \(value.isNaN ? "nan" : "\(value)") at epoch \(epoch), batch \(batch)"
                + (checkpoint.map { "; the last good checkpoint is kept at \($0)" } ?? "; no checkpoint had been written yet")
                + " (try a lower learning rate)"
        case let .nonFiniteValidationLoss(epoch, value, checkpoint):
            return "training stopped: the validation loss became \(value.isNaN ? "nan" : "\(value)") after epoch \(epoch) (every training batch was finite)"
                + (checkpoint.map { "; the last good checkpoint is kept at \($0)" } ?? "; no checkpoint had been written yet")
                + " (try a lower learning rate)"
        case .invalidOption(let message): return message
        case let .invalidRun(path, reason): return "\(path): \(reason)"
        case .incompatibleData(let message): return message
        }
    }

    public var errorDescription: String? { description }
}

/// Writes `data` to `url` atomically (temporary file, then rename).
func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try FileWriting.writeAtomically(data, to: url)
    } catch {
        throw ToolError.invalidRun(path: url.path, reason: "cannot write: \(error)")
    }
}
