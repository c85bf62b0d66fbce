import Foundation
import TestSupport
import VisionCore
import VisionModels
import VisionNN
import VisionTools
import XCTest

/// Tile-by-tile U-Net inference gives the whole-image logits when its margins cover the receptive field.
final class TiledSegmentationTests: XCTestCase {
    func unet(depth: Int) throws -> UNet {
        let model = try XCTUnwrap(try ModelRegistry.build("unet", options: ModelOptions(numClasses: 3, inChannels: 1, base: 4, depth: depth, seed: 2)) as? UNet)
        // Running statistics away from 0/1, so batch norm does something in eval mode.
        var g = SeededGenerator(seed: 9)
        for (name, buffer) in model.namedBuffers() {
            if name.hasSuffix("running_mean") { buffer.storage = buffer.storage.map { _ in g.nextUniform() - 0.5 } }
            if name.hasSuffix("running_var") { buffer.storage = buffer.storage.map { _ in 0.5 + g.nextUniform() } }
        }
        model.eval()
        return model
    }

    /// An odd-sized image (so the network pads it, with reflection) in tiles of 16 with the default margin:
    /// the same logits as one pass. With a margin too small for the receptive field they differ, so the
    /// comparison can fail.
    func testTilesWithTheDefaultMarginEqualOnePass() throws {
        for depth in [1, 2] {
            let model = try unet(depth: depth)
            var g = SeededGenerator(seed: UInt64(depth))
            let input = Tensor.uniform([1, 1, 83, 117], low: -1, high: 1, generator: &g)
            let whole = Autograd.noGrad { model(input) }
            let tiled = TiledSegmentation.logits(model, input: input, core: 16)
            XCTAssertEqual(tiled.shape, whole.shape)
            let difference = zip(tiled.storage, whole.storage).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(difference, 1e-5, "depth \(depth)")
            let cramped = TiledSegmentation.logits(model, input: input, core: 16, margin: 1 << depth)
            let crampedDifference = zip(cramped.storage, whole.storage).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(crampedDifference, 1e-4, "depth \(depth): a one-block margin cuts the receptive field")
        }
        XCTAssertEqual(TiledSegmentation.margin(depth: 4), 128)
    }
}
