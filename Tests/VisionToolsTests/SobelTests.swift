import Foundation
import TestSupport
import VisionCore
import VisionTools
import XCTest

/// Sobel maps against values computed by hand.
final class SobelTests: XCTestCase {
    /// A 4×4 gray image.
    let gray = Tensor([3, 1, 4, 1,
                       5, 9, 2, 6,
                       5, 3, 5, 8,
                       9, 7, 9, 3], shape: [4, 4])

    func testValidMapsByHand() {
        // Gx at (0, 0) from the window 3 1 4 / 5 9 2 / 5 3 5:
        //   (4 − 3) + 2·(2 − 5) + (5 − 5) = −5;  Gy = (5 + 2·3 + 5) − (3 + 2·1 + 4) = 7.
        let gx = Sobel.edges(gray, direction: .x, padding: .valid)
        let gy = Sobel.edges(gray, direction: .y, padding: .valid)
        XCTAssertEqual(gx.shape, [2, 2])
        assertClose(gx.storage, [-5, -1,
                                 -3, 3])
        assertClose(gy.storage, [7, 11,
                                 7, 9])
        let magnitude = Sobel.edges(gray)
        assertClose(magnitude.storage, [Float(74).squareRoot(), Float(122).squareRoot(),
                                        Float(58).squareRoot(), Float(90).squareRoot()])
    }

    func testSamePaddingMapsByHand() {
        // Zero padding by one pixel: Gx at (0, 0) = 2·(1 − 0) + (9 − 0) = 11; Gy = (0 + 2·5 + 9) − 0 = 19.
        let gx: [Float] = [11, -1, -3, -10,
                           22, -5, -1, -13,
                           22, -3, 3, -21,
                           17, 0, -3, -23]
        let gy: [Float] = [19, 25, 19, 14,
                           6, 7, 11, 15,
                           6, 7, 9, 1,
                           -13, -16, -21, -21]
        XCTAssertEqual(Sobel.edges(gray, direction: .x, padding: .same).shape, [4, 4])
        assertClose(Sobel.edges(gray, direction: .x, padding: .same).storage, gx)
        assertClose(Sobel.edges(gray, direction: .y, padding: .same).storage, gy)
        assertClose(Sobel.edges(gray, direction: .magnitude, padding: .same).storage,
                    zip(gx, gy).map { ($0 * $0 + $1 * $1).squareRoot() })
        // The interior of the same map is the valid map.
        let same = Sobel.edges(gray, direction: .x, padding: .same).storage
        assertClose([same[5], same[6], same[9], same[10]], Sobel.edges(gray, direction: .x).storage)
    }

    func testFlatImageHasNoEdgesAndAStepHasTheTextbookResponse() {
        XCTAssertTrue(Sobel.edges(Tensor.full([5, 5], 7)).storage.allSatisfy { $0 == 0 })
        // A vertical step 0 → 10 between columns 1 and 2 of a 3×4 image: |Gx| = (1 + 2 + 1)·10 where the window straddles it.
        let step = Tensor([0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10], shape: [3, 4])
        XCTAssertEqual(Sobel.edges(step, direction: .x).storage, [40, 40])
        XCTAssertEqual(Sobel.edges(step, direction: .y).storage, [0, 0])
    }

    func testGrayscaleUsesRec601WeightsOnRGBAndIgnoresAlpha() {
        // Pixel 0: (100, 50, 200) → 29.9 + 29.35 + 22.8 = 82.05; pixel 1: (255, 255, 255) → 255.
        let rgb = Tensor([100, 255, 50, 255, 200, 255], shape: [3, 1, 2])
        let gray = Sobel.grayscale(rgb)
        XCTAssertEqual(gray.shape, [1, 2])
        assertClose(gray.storage, [82.05, 255], rtol: 1e-6, atol: 1e-4)
        let rgba = Tensor([100, 255, 50, 255, 200, 255, 7, 9], shape: [4, 1, 2])
        assertClose(Sobel.grayscale(rgba).storage, gray.storage, rtol: 0, atol: 0)
        // One channel (or gray + alpha) is used as it is.
        XCTAssertEqual(Sobel.grayscale(Tensor([1, 2, 3], shape: [1, 1, 3])).storage, [1, 2, 3])
        XCTAssertEqual(Sobel.grayscale(Tensor([1, 2, 9, 9], shape: [2, 1, 2])).storage, [1, 2])
    }

    func testMinMaxNormalisationRoundsHalfUp() {
        // lo 0, hi 510 → scale 0.5: 1 → 0.5 → 1, 253 → 126.5 → 127 (half up, not to even), 255 → 127.5 → 128.
        let map = Tensor([0, 1, 253, 255, 510], shape: [5])
        XCTAssertEqual(Sobel.normalizedBytes(map), [0, 1, 127, 128, 255])
        // The minimum maps to 0 and the maximum to 255 whatever their sign.
        XCTAssertEqual(Sobel.normalizedBytes(Tensor([-3, -1, 1], shape: [3])), [0, 128, 255])
        XCTAssertEqual(Sobel.normalizedBytes(Tensor([-2, 0, 2, 6], shape: [2, 2])), [0, 64, 128, 255])
    }

    func testConstantMapNormalisesToZeros() {
        XCTAssertEqual(Sobel.normalizedBytes(Tensor.full([2, 3], 42)), [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Sobel.normalizedBytes(Tensor.zeros([4])), [0, 0, 0, 0])
    }
}
