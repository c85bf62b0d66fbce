import Dispatch
import Foundation

/// Work splitting over the machine's cores.
public enum Parallel {
    /// Number of worker threads used for element loops (the core count).
    public static let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` on disjoint chunks covering `0..<count`, in parallel when the work is large.
    /// `grain` is the smallest chunk worth a thread.
    public static func forEach(_ count: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(grain, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        let per = (count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * per
            let end = min(count, start + per)
            if start < end { body(start..<end) }
        }
    }

    /// Calls `body(i)` for each `i` in `0..<count`, spreading indices over the cores.
    public static func forEachIndex(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 || threads == 1 {
            for i in 0..<count { body(i) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
