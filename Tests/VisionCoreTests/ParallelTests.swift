import Dispatch
import XCTest
import VisionCore

final class ParallelTests: XCTestCase {
    /// Each index of each job runs exactly once and the call returns only after all have run, over many
    /// back-to-back jobs of varied sizes (the pool's workers poll between them, join some and miss others).
    func testEveryIndexRunsOnce() {
        let slots = UnsafeMutableBufferPointer<Int>.allocate(capacity: 257)
        defer { slots.deallocate() }
        var generator = SeededGenerator(seed: 5)
        for job in 0..<5_000 {
            let count = 1 + Int(generator.next() % 257)
            slots.initialize(repeating: 0)
            Parallel.forEachIndex(count) { slots[$0] += busyWork($0) }
            XCTAssertEqual(Array(slots[..<count]), Array(repeating: 1, count: count), "job \(job), \(count) indices")
            XCTAssertEqual(Array(slots[count...]), Array(repeating: 0, count: 257 - count), "job \(job) ran past its count")
        }
    }

    /// A parallel loop inside a parallel loop (the pool is busy: the inner one runs elsewhere) and
    /// parallel loops started from several threads at once all complete.
    func testNestedAndConcurrentCallsComplete() {
        let outer = 8, inner = 64
        let nested = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer * inner)
        defer { nested.deallocate() }
        nested.initialize(repeating: 0)
        Parallel.forEachIndex(outer) { i in
            Parallel.forEachIndex(inner) { j in nested[i * inner + j] += 1 }
        }
        XCTAssertEqual(Array(nested), Array(repeating: 1, count: outer * inner))

        let callers = 4, jobs = 300, count = 37
        let sums = UnsafeMutableBufferPointer<Int>.allocate(capacity: callers)
        defer { sums.deallocate() }
        sums.initialize(repeating: 0)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            let slots = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            defer { slots.deallocate() }
            for _ in 0..<jobs {
                slots.initialize(repeating: 0)
                Parallel.forEachIndex(count) { slots[$0] += $0 }
                sums[caller] += slots.reduce(0, +)
            }
        }
        XCTAssertEqual(Array(sums), Array(repeating: jobs * count * (count - 1) / 2, count: callers))
    }

    /// About a microsecond of arithmetic that returns 1, so that both threads get indices of a job.
    private func busyWork(_ seed: Int) -> Int {
        var x = UInt64(seed) | 1
        for _ in 0..<500 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
        return x == 0 ? 2 : 1
    }

    /// `forEach` covers `0..<count` with disjoint ranges whatever the grain.
    func testForEachCoversTheRangeOnce() {
        for (count, grain) in [(1, 1), (10, 1), (100_000, 1_000), (65_537, 32_768), (5, 100)] {
            let slots = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            defer { slots.deallocate() }
            slots.initialize(repeating: 0)
            Parallel.forEach(count, grain: grain) { range in for i in range { slots[i] += 1 } }
            XCTAssertEqual(Array(slots), Array(repeating: 1, count: count), "count \(count), grain \(grain)")
        }
    }
}
