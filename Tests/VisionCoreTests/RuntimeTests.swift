import XCTest
import VisionCore

final class RuntimeTests: XCTestCase {
    /// After `keepFreedMemory`, a freed 24 MiB block (an activation of a batch-128 ResNet layer) stays in
    /// the heap for the next step instead of going back to the kernel — glibc's defaults map and unmap
    /// it, and every training step then pays page faults and zeroing for it again.
    func testFreedLargeBlocksStayInTheHeap() throws {
        BLASRuntime.keepFreedMemory()
        guard BLASRuntime.heapFreeBytes() != nil else { throw XCTSkip("allocator statistics need glibc ≥ 2.33") }
        let bytes = 24 << 20
        let block = try XCTUnwrap(malloc(bytes))
        memset(block, 1, bytes)
        let heldWhileAllocated = BLASRuntime.heapFreeBytes()!
        free(block)
        let heldAfterFree = BLASRuntime.heapFreeBytes()!
        XCTAssertGreaterThanOrEqual(heldAfterFree - heldWhileAllocated, bytes,
                                    "a freed 24 MiB block was returned to the kernel instead of kept for reuse")
    }
}
