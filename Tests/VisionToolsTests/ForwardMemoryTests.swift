import Foundation
import TestSupport
import VisionCore
import VisionModels
import VisionNN
import VisionTools
import XCTest

/// The forward-pass memory estimate that refuses images too large for the machine.
final class ForwardMemoryTests: XCTestCase {
    /// A U-Net of base 4: its largest module outputs are the full-resolution 4-channel maps (16 bytes a pixel).
    func testTheProbeMeasuresLayerOutputsPerInputPixel() throws {
        let unet = try ModelRegistry.build("unet", options: ModelOptions(numClasses: 2, inChannels: 1, base: 4, depth: 2))
        unet.train()
        let memory = try ForwardMemory(unet, channels: 1)
        XCTAssertEqual(memory.largestOutputBytesPerPixel, 16, accuracy: 1e-9)
        XCTAssertTrue(unet.isTraining, "the probe restores the module's mode")
        XCTAssertEqual(memory.outputBytesPerPixel["head"], 8, "the 2-class head at full resolution")
        XCTAssertEqual(memory.outputBytesPerPixel["down.1"], 8, "8 channels (32 bytes) at a quarter of the pixels")
        XCTAssertEqual(memory.estimatedBytes(height: 100, width: 50), ForwardMemory.liveOutputs * 16 * 5000, accuracy: 1e-6)
        XCTAssertEqual(memory.estimatedBytes(height: 100, width: 50, keeping: ["head"]),
                       (ForwardMemory.liveOutputs * 16 + 8) * 5000, accuracy: 1e-6)
    }

    /// A U-Net of depth 8 pads its input to a multiple of 256: probed at 64 it would report the padded
    /// 256² outputs as if they were 64² (16× too much); the probe is taken at 256 instead.
    func testADeepUNetIsProbedAtASizeItDoesNotPad() throws {
        let unet = try ModelRegistry.build("unet", options: ModelOptions(numClasses: 2, inChannels: 1, base: 4, depth: 8))
        XCTAssertEqual(try ForwardMemory(unet, channels: 1).largestOutputBytesPerPixel, 16, accuracy: 1e-9)
    }

    func testAnImageOverTheBudgetIsRefusedWithItsSizeAndWhatWouldFit() throws {
        let unet = try ModelRegistry.build("unet", options: ModelOptions(numClasses: 2, inChannels: 1, base: 4, depth: 2))
        let memory = try ForwardMemory(unet, channels: 1)
        let perPixel = ForwardMemory.liveOutputs * 16
        let budget = perPixel * 1000 * 1000
        XCTAssertNoThrow(try memory.check(height: 1000, width: 1000, source: "fits.png", budget: budget))
        XCTAssertThrowsError(try memory.check(height: 1000, width: 1000, images: 2, source: "two.png", budget: budget), "two at once")
        XCTAssertThrowsError(try memory.check(height: 1000, width: 1001, source: "big.png", budget: budget)) { error in
            for text in ["big.png", "1001×1000", "1000×1000 pixels or fewer"] {
                XCTAssertTrue("\(error)".contains(text), "'\(text)' missing: \(error)")
            }
        }
        // The shipped U-Net's size (base 16) on this machine's budget refuses a 16384² image, lets 4096² through.
        let shipped = try ForwardMemory(try ModelRegistry.build("unet", options: ModelOptions(numClasses: 2, inChannels: 1, base: 16, depth: 4)),
                                        channels: 1)
        XCTAssertThrowsError(try shipped.check(height: 16384, width: 16384, source: "huge.png", budget: 12 * 1_073_741_824))
        XCTAssertNoThrow(try shipped.check(height: 4096, width: 4096, source: "large.png", budget: 12 * 1_073_741_824))
    }
}
