import CKernels
import Dispatch
import Foundation
import Synchronization

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
        forEachIndex(chunks) { chunk in
            let start = chunk * per
            let end = min(count, start + per)
            if start < end { body(start..<end) }
        }
    }

    /// Calls `body(i)` for each `i` in `0..<count`, spreading indices over the cores.
    ///
    /// Runs on `SpinPool`: its workers poll for the next job for a while before sleeping, so the
    /// hundreds of parallel sections of a training step do not each pay a thread wake-up (on a VM that
    /// can take longer than the section). A call made while the pool is busy — from a pool job, or from
    /// another thread such as a data-loader worker — runs on Dispatch's threads instead.
    public static func forEachIndex(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 || threads == 1 {
            for i in 0..<count { body(i) }
            return
        }
        if !SpinPool.shared.run(count, body) {
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
    }
}

/// `threads − 1` worker threads that, with the calling thread, share out the indices of one job at a time.
///
/// A job is published by storing its closure and bumping `generation`. Workers poll `generation` for
/// about `spinNanoseconds` after their last job, then sleep on a condition variable. To take part in a
/// job a worker joins it (increments `state` unless the job is closed); the caller, once no indices are
/// left, closes the job and waits only for the workers that joined — a worker that wakes late never
/// touches a job that has returned.
final class SpinPool: @unchecked Sendable {
    static let shared = SpinPool(workers: Parallel.threads - 1)

    /// How long an idle worker polls for the next job before sleeping.
    static let spinNanoseconds: UInt64 = 200_000

    private let workers: Int
    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let nextIndex = Atomic<Int>(0)
    /// Joined workers in the low bits, `closed` once the caller has stopped admitting workers.
    private let state = Atomic<Int>(SpinPool.closed)
    private let done = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private static let closed = 1 << 40
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    nonisolated(unsafe) private var count = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(workers: Int) {
        self.workers = max(0, workers)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in 0..<self.workers {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.name = "vision-pool-\(index + 1)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs `body` over `0..<count` on the calling thread and the workers; false (and nothing run)
    /// when another job holds the pool.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard workers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.count = count
            nextIndex.store(0, ordering: .relaxed)
            done.store(0, ordering: .relaxed)
            state.store(0, ordering: .releasing)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            while case let i = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue, i < count { body(i) }
            let joined = state.bitwiseOr(SpinPool.closed, ordering: .acquiringAndReleasing).oldValue
            var spins = 0
            while done.load(ordering: .acquiring) < joined {
                spins += 1
                if spins < 1 << 16 { ck_cpu_relax() } else { sched_yield() }
            }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func workerLoop() {
        var seen = 0
        while true {
            seen = waitForJob(after: seen)
            if join() {
                work()
                done.wrappingAdd(1, ordering: .releasing)
            }
        }
    }

    /// Waits until `generation` differs from `seen` (polling, then sleeping) and returns it.
    private func waitForJob(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var polls = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            polls += 1
            if polls & 255 != 0 || DispatchTime.now().uptimeNanoseconds - start < SpinPool.spinNanoseconds {
                ck_cpu_relax()
                continue
            }
            pthread_mutex_lock(mutex)
            sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                pthread_cond_wait(condition, mutex)
            }
            sleepers.wrappingSubtract(1, ordering: .relaxed)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Admits this worker to the open job, if there is one.
    private func join() -> Bool {
        var current = state.load(ordering: .acquiring)
        while current & SpinPool.closed == 0 {
            let (exchanged, original) = state.compareExchange(expected: current, desired: current + 1,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Takes indices of the joined job until none are left. A separate function, so that the worker's
    /// reference to the closure is released before it reports done.
    @inline(never)
    private func work() {
        guard let body else { return }
        let count = self.count
        while case let i = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue, i < count { body(i) }
    }
}
