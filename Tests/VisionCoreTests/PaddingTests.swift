import TestSupport
import VisionCore
import XCTest

final class PaddingTests: XCTestCase {
    /// [[1, 2, 3], [4, 5, 6]] as [1, 1, 2, 3].
    let small = Tensor([1, 2, 3, 4, 5, 6], shape: [1, 1, 2, 3])

    func testZeroPaddingByHand() {
        let y = pad2d(small, top: 1, bottom: 1, left: 2, right: 1)
        XCTAssertEqual(y.shape, [1, 1, 4, 6])
        XCTAssertEqual(y.storage, [0, 0, 0, 0, 0, 0,
                                   0, 0, 1, 2, 3, 0,
                                   0, 0, 4, 5, 6, 0,
                                   0, 0, 0, 0, 0, 0])
    }

    func testReflectPaddingMirrorsWithoutRepeatingTheEdge() {
        // Columns: left 2 → 3 2 | 1 2 3 | right 1 → 2; rows: above → row 1, below → row 0.
        let y = pad2d(small, top: 1, bottom: 1, left: 2, right: 1, mode: .reflect)
        XCTAssertEqual(y.shape, [1, 1, 4, 6])
        XCTAssertEqual(y.storage, [6, 5, 4, 5, 6, 5,
                                   3, 2, 1, 2, 3, 2,
                                   6, 5, 4, 5, 6, 5,
                                   3, 2, 1, 2, 3, 2])
    }

    func testReplicatePaddingRepeatsTheEdge() {
        let y = pad2d(small, top: 1, bottom: 1, left: 2, right: 1, mode: .replicate)
        XCTAssertEqual(y.storage, [1, 1, 1, 2, 3, 3,
                                   1, 1, 1, 2, 3, 3,
                                   4, 4, 4, 5, 6, 6,
                                   4, 4, 4, 5, 6, 6])
        // Asymmetric padding on one side only.
        XCTAssertEqual(pad2d(small, top: 0, bottom: 2, left: 0, right: 0, mode: .replicate).storage,
                       [1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5, 6])
    }

    func testZeroPaddingIsTheIdentityAndPlanesStaySeparate() {
        XCTAssertEqual(pad2d(small, top: 0, bottom: 0, left: 0, right: 0, mode: .reflect).storage, small.storage)
        // Two planes: replicated values never leak from one plane into the other.
        let two = Tensor([1, 2, 3, 4, 10, 20, 30, 40], shape: [2, 1, 2, 2])
        XCTAssertEqual(pad2d(two, top: 0, bottom: 0, left: 1, right: 0, mode: .replicate).storage,
                       [1, 1, 2, 3, 3, 4, 10, 10, 20, 30, 30, 40])
    }

    func testPaddingGradientSumsOverEveryCopyOfAPixel() {
        // With an all-ones output gradient each input receives the number of times it was copied.
        let x = small.clone()
        x.requiresGrad = true
        pad2d(x, top: 1, bottom: 1, left: 2, right: 1, mode: .reflect).sum().backward()
        // Source rows [1, 0, 1, 0] → each row twice; source columns [2, 1, 0, 1, 2, 1] → 1, 3, 2 times.
        XCTAssertEqual(x.grad?.storage, [2, 6, 4, 2, 6, 4])
        x.grad = nil
        pad2d(x, top: 1, bottom: 1, left: 2, right: 1).sum().backward()
        XCTAssertEqual(x.grad?.storage, [1, 1, 1, 1, 1, 1], "zero padding copies each pixel once")
        x.grad = nil
        pad2d(x, top: 1, bottom: 1, left: 2, right: 1, mode: .replicate).sum().backward()
        // Rows [0, 0, 1, 1]; columns [0, 0, 0, 1, 2, 2].
        XCTAssertEqual(x.grad?.storage, [6, 2, 4, 6, 2, 4])
    }

    func testPaddingGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 11)
        for mode in [PaddingMode.zeros, .reflect, .replicate] {
            let x = Tensor.normal([2, 2, 3, 4], generator: &g)
            checkGradients([x]) { t in pad2d(t[0], top: 2, bottom: 1, left: 1, right: 3, mode: mode) }
        }
    }

    func testCropByHand() {
        // [1, 1, 3, 4] holding 0…11; the 2×2 window at (1, 1) is 5, 6 / 9, 10.
        let x = Tensor((0..<12).map(Float.init), shape: [1, 1, 3, 4])
        let y = crop2d(x, top: 1, left: 1, height: 2, width: 2)
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.storage, [5, 6, 9, 10])
        XCTAssertEqual(crop2d(x, top: 0, left: 3, height: 3, width: 1).storage, [3, 7, 11])
        XCTAssertTrue(crop2d(x, top: 0, left: 0, height: 3, width: 4) === x, "a full-size crop is the input itself")
    }

    func testCropUndoesPadding() {
        var g = SeededGenerator(seed: 12)
        let x = Tensor.normal([2, 3, 5, 4], generator: &g)
        for mode in [PaddingMode.zeros, .reflect, .replicate] {
            let padded = pad2d(x, top: 3, bottom: 1, left: 2, right: 2, mode: mode)
            XCTAssertEqual(crop2d(padded, top: 3, left: 2, height: 5, width: 4).storage, x.storage)
        }
    }

    func testCropGradientIsZeroOutsideTheWindow() {
        let x = Tensor((0..<12).map(Float.init), shape: [1, 1, 3, 4], requiresGrad: true)
        crop2d(x, top: 1, left: 1, height: 2, width: 2).sum().backward()
        XCTAssertEqual(x.grad?.storage, [0, 0, 0, 0,
                                         0, 1, 1, 0,
                                         0, 1, 1, 0])
        var g = SeededGenerator(seed: 13)
        let y = Tensor.normal([2, 2, 4, 5], generator: &g)
        checkGradients([y]) { t in crop2d(t[0], top: 1, left: 2, height: 2, width: 3) }
    }
}
