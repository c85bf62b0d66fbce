import TestSupport
import VisionCore
import XCTest

/// Stochastic depth and DropBlock (torchvision's `ops.stochastic_depth` and `ops.drop_block2d`): their
/// randomness is ours, so the tests check what each draw must satisfy.
final class StochasticRegularizationTests: XCTestCase {
    func testStochasticDepthDropsWholeSamplesAndScalesSurvivors() {
        var g = SeededGenerator(seed: 51)
        let x = Tensor.normal([400, 3, 2], generator: &g)
        let y = stochasticDepth(x, p: 0.3, mode: .row, training: true, generator: &g)
        var kept = 0
        for n in 0..<400 {
            let inRow = Array(y.storage[(n * 6)..<(n * 6 + 6)]), source = Array(x.storage[(n * 6)..<(n * 6 + 6)])
            if inRow.allSatisfy({ $0 == 0 }) { continue }
            kept += 1
            assertClose(inRow, source.map { $0 / 0.7 }, rtol: 1e-6, atol: 0, "sample \(n)")
        }
        XCTAssertTrue((240...320).contains(kept), "about 70 % of 400 samples survive, got \(kept)")
        // Batch mode: all or nothing.
        for _ in 0..<20 {
            let b = stochasticDepth(x, p: 0.5, mode: .batch, training: true, generator: &g)
            XCTAssertTrue(b.storage.allSatisfy { $0 == 0 } || zip(b.storage, x.storage).allSatisfy { abs($0 - 2 * $1) <= 1e-6 * abs($1) })
        }
        XCTAssertTrue(stochasticDepth(x, p: 0.3, training: false, generator: &g) === x)
        XCTAssertTrue(stochasticDepth(x, p: 1, training: true, generator: &g).storage.allSatisfy { $0 == 0 })
        // The gradient is the upstream gradient times each sample's factor.
        let replay = SeededGenerator(seed: 52)
        let small = Tensor.normal([6, 4], generator: &g)
        checkGradients([small]) { inputs in
            var draw = replay
            return stochasticDepth(inputs[0], p: 0.4, training: true, generator: &draw)
        }
    }

    func testDropBlockZeroesWholeBlocksAndKeepsTheMean() {
        var g = SeededGenerator(seed: 54)
        let x = Tensor.full([2, 3, 20, 24], 1)
        let y = dropBlock2d(x, p: 0.1, blockSize: 5, training: true, generator: &g)
        let zeros = y.storage.filter { $0 == 0 }.count
        // Every zero lies in a 5×5 square of zeros inside its map.
        for map in 0..<6 {
            let plane = map * 480
            for row in 0..<20 {
                for column in 0..<24 where y.storage[plane + row * 24 + column] == 0 {
                    let covered = (max(0, row - 4)...min(row, 15)).contains { top in
                        (max(0, column - 4)...min(column, 19)).contains { left in
                            (top..<(top + 5)).allSatisfy { r in (left..<(left + 5)).allSatisfy { y.storage[plane + r * 24 + $0] == 0 } }
                        }
                    }
                    XCTAssertTrue(covered, "zero at map \(map) (\(row), \(column)) outside any 5×5 block")
                }
            }
        }
        // Survivors are scaled by numel / kept, so the mean of an all-ones input stays 1.
        let kept = Float(y.count - zeros)
        XCTAssertGreaterThan(zeros, 0)
        XCTAssertTrue(y.storage.allSatisfy { $0 == 0 || abs($0 - Float(y.count) / kept) < 1e-4 })
        XCTAssertEqual(Double(y.storage.reduce(0, +)) / Double(y.count), 1, accuracy: 1e-4)
        // About a fraction p of the units dropped, over many maps (overlaps make it a little less).
        let many = dropBlock2d(Tensor.full([40, 4, 20, 24], 1), p: 0.1, blockSize: 5, training: true, generator: &g)
        let dropped = Double(many.storage.filter { $0 == 0 }.count) / Double(many.count)
        XCTAssertTrue((0.07...0.11).contains(dropped), "dropped \(dropped)")
        // A block larger than the map shrinks to it; evaluation and p = 0 are the identity.
        let tiny = dropBlock2d(Tensor.full([50, 1, 3, 3], 1), p: 0.5, blockSize: 7, training: true, generator: &g)
        for map in 0..<50 {
            let values = Array(tiny.storage[(map * 9)..<(map * 9 + 9)])
            XCTAssertTrue(values.allSatisfy { $0 == 0 } || values.allSatisfy { $0 > 0 }, "a 3×3 map is dropped whole or kept")
        }
        XCTAssertTrue(dropBlock2d(x, p: 0.1, blockSize: 5, training: false, generator: &g) === x)
        XCTAssertTrue(dropBlock2d(x, p: 0, blockSize: 5, training: true, generator: &g) === x)
        // The gradient is the upstream gradient times the same mask and scale.
        let replay = SeededGenerator(seed: 55)
        let input = Tensor.normal([1, 2, 6, 7], generator: &g)
        checkGradients([input]) { inputs in
            var draw = replay
            return dropBlock2d(inputs[0], p: 0.2, blockSize: 3, training: true, generator: &draw)
        }
    }
}
