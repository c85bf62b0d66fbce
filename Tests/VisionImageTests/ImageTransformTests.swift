import TestSupport
import VisionCore
import VisionImage
import XCTest

final class ImageTransformTests: XCTestCase {
    // MARK: Tensor conversion

    func testToTensorIsPlanarAndScaledToUnitRange() {
        // 1×2 RGB: pixels (0, 51, 255) and (102, 153, 204).
        let image = Image(height: 1, width: 2, channels: 3, pixels: [0, 51, 255, 102, 153, 204])
        let tensor = image.toTensor()
        XCTAssertEqual(tensor.shape, [3, 1, 2])
        assertClose(tensor.storage, [0, 0.4, 0.2, 0.6, 1, 0.8], rtol: 0, atol: 1e-7)
    }

    func testTensorRoundTripIsExactForEveryByte() {
        let image = Image(height: 16, width: 16, channels: 1, pixels: (0..<256).map { UInt8($0) })
        XCTAssertEqual(Image(tensor: image.toTensor()), image)
        var numbers = TestNumbers(state: 8)
        let rgba = Image(height: 5, width: 7, channels: 4, pixels: (0..<140).map { _ in UInt8(numbers.next(below: 256)) })
        XCTAssertEqual(Image(tensor: rgba.toTensor()), rgba)
        let batched = Tensor(shape: [1] + rgba.toTensor().shape, storage: rgba.toTensor().storage)
        XCTAssertEqual(Image(tensor: batched), rgba)
    }

    func testTensorValuesAreClampedAndRounded() {
        let tensor = Tensor([-0.5, 1.5, .nan, 0.5, 0.2, 1 / 255 * 0.49], shape: [1, 2, 3])
        XCTAssertEqual(Image(tensor: tensor).pixels, [0, 255, 0, 128, 51, 0])
    }

    // MARK: Channel conversion

    func testColourToGrayUsesLumaWeights() {
        let rgb = Image(height: 1, width: 4, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
        // 0.299·255 = 76.245, 0.587·255 = 149.685, 0.114·255 = 29.07, 2.99 + 11.74 + 3.42 = 18.15
        XCTAssertEqual(rgb.converted(toChannels: 1).pixels, [76, 150, 29, 18])
        let rgba = Image(height: 1, width: 1, channels: 4, pixels: [10, 20, 30, 99])
        XCTAssertEqual(rgba.converted(toChannels: 1).pixels, [18])
        XCTAssertEqual(rgba.converted(toChannels: 2).pixels, [18, 99])
        XCTAssertEqual(rgba.converted(toChannels: 3).pixels, [10, 20, 30], "alpha is dropped")
    }

    func testGrayToColourRepeatsAndAddsOpaqueAlpha() {
        let gray = Image(height: 1, width: 2, channels: 1, pixels: [7, 200])
        XCTAssertEqual(gray.converted(toChannels: 3).pixels, [7, 7, 7, 200, 200, 200])
        XCTAssertEqual(gray.converted(toChannels: 4).pixels, [7, 7, 7, 255, 200, 200, 200, 255])
        XCTAssertEqual(gray.converted(toChannels: 2).pixels, [7, 255, 200, 255])
        let grayAlpha = Image(height: 1, width: 1, channels: 2, pixels: [9, 40])
        XCTAssertEqual(grayAlpha.converted(toChannels: 4).pixels, [9, 9, 9, 40])
        XCTAssertEqual(grayAlpha.converted(toChannels: 3).pixels, [9, 9, 9])
        XCTAssertEqual(grayAlpha.converted(toChannels: 1).pixels, [9])
        XCTAssertEqual(gray.converted(toChannels: 3).converted(toChannels: 1), gray, "gray → RGB → gray is identity")
    }

    // MARK: Resize

    func testNearestRepeatsAndPicksPixels() {
        let small = Image(height: 2, width: 2, channels: 1, pixels: [1, 2, 3, 4])
        XCTAssertEqual(small.resized(height: 4, width: 4, method: .nearest).pixels,
                       [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        let large = Image(height: 4, width: 4, channels: 1, pixels: (0..<16).map { UInt8($0) })
        XCTAssertEqual(large.resized(height: 2, width: 2, method: .nearest).pixels, [0, 2, 8, 10])
        // floor(i · 3 / 2) = 0, 1
        let row = Image(height: 1, width: 3, channels: 2, pixels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(row.resized(height: 1, width: 2, method: .nearest).pixels, [1, 2, 3, 4])
    }

    func testBilinearUsesHalfPixelCentres() {
        // x = (i + 0.5)·0.5 − 0.5 = −0.25→0, 0.25, 0.75, 1.25→clamped to the last pixel.
        let row = Image(height: 1, width: 2, channels: 1, pixels: [0, 100])
        XCTAssertEqual(row.resized(height: 1, width: 4, method: .bilinear).pixels, [0, 25, 75, 100])
        // Halving: x = 0.5, 2.5 → means of neighbouring pairs.
        let four = Image(height: 1, width: 4, channels: 1, pixels: [10, 20, 30, 40])
        XCTAssertEqual(four.resized(height: 1, width: 2, method: .bilinear).pixels, [15, 35])
        // Two dimensions: value = 100·(x + y) at x, y ∈ {0, 0.25, 0.75, 1}.
        let square = Image(height: 2, width: 2, channels: 1, pixels: [0, 100, 100, 200])
        XCTAssertEqual(square.resized(height: 4, width: 4).pixels,
                       [0, 25, 75, 100, 25, 50, 100, 125, 75, 100, 150, 175, 100, 125, 175, 200])
        // Channels are resampled independently.
        let rgb = Image(height: 1, width: 2, channels: 3, pixels: [0, 200, 40, 100, 0, 40])
        XCTAssertEqual(rgb.resized(height: 1, width: 4).pixels, [0, 200, 40, 25, 150, 40, 75, 50, 40, 100, 0, 40])
    }

    func testAreaAveragesCoveredFractions() {
        // Scale 1.5: [0,1.5) → (0 + 30·0.5)/1.5 = 10, [1.5,3) → (15 + 60)/1.5 = 50, then 100, 140.
        let row = Image(height: 1, width: 6, channels: 1, pixels: [0, 30, 60, 90, 120, 150])
        XCTAssertEqual(row.resized(height: 1, width: 4, method: .area).pixels, [10, 50, 100, 140])
        // 2× block means 2.5, 4.5, 10.5, 12.5 round half up.
        let block = Image(height: 4, width: 4, channels: 1, pixels: (0..<16).map { UInt8($0) })
        XCTAssertEqual(block.resized(height: 2, width: 2, method: .area).pixels, [3, 5, 11, 13])
        let nine = Image(height: 3, width: 3, channels: 1, pixels: [9, 0, 0, 0, 9, 0, 0, 0, 9])
        XCTAssertEqual(nine.resized(height: 1, width: 1, method: .area).pixels, [3])
    }

    func testResizeKeepsSizeChannelsAndConstantImages() {
        let constant = Image(height: 37, width: 23, channels: 3, repeating: 77)
        for method in [ResizeMethod.nearest, .bilinear, .area] {
            for (height, width) in [(10, 9), (50, 61), (37, 23), (1, 1)] {
                let resized = constant.resized(height: height, width: width, method: method)
                XCTAssertEqual([resized.height, resized.width, resized.channels], [height, width, 3])
                XCTAssertTrue(resized.pixels.allSatisfy { $0 == 77 }, "\(method) \(height)×\(width)")
            }
        }
    }
}
