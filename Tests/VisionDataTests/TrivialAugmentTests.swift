import Foundation
import TestSupport
import VisionCore
import VisionData
import XCTest

/// TrivialAugmentWide's operations against torchvision's (`scripts/make_trivialaugment_fixture.py`:
/// `_apply_op` on uint8 tensors, nearest interpolation), and its sampling.
final class TrivialAugmentTests: XCTestCase {
    func testOperationsMatchTorchvision() throws {
        let url = packageRoot().appendingPathComponent("Tests/VisionDataTests/Fixtures/trivialaugment.safetensors")
        let tensors = try SafeTensors.read(contentsOf: url)
        let metadata = try SafeTensors.readMetadata(contentsOf: url)
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(metadata["cases"]).utf8)) as? [[Any]])
        XCTAssertEqual(cases.count, 50)
        let names: [String: TrivialAugmentWide.Operation] = [
            "Identity": .identity, "ShearX": .shearX, "ShearY": .shearY, "TranslateX": .translateX, "TranslateY": .translateY,
            "Rotate": .rotate, "Brightness": .brightness, "Color": .color, "Contrast": .contrast, "Sharpness": .sharpness,
            "Posterize": .posterize, "Solarize": .solarize, "AutoContrast": .autoContrast, "Equalize": .equalize,
        ]
        var covered = Set<TrivialAugmentWide.Operation>()
        for entry in cases {
            let (name, imageName, opName) = (entry[0] as! String, entry[1] as! String, entry[2] as! String)
            let magnitude = Float((entry[3] as! NSNumber).doubleValue)
            let input = try XCTUnwrap(tensors["input.\(imageName)"]), expected = try XCTUnwrap(tensors[name])
            let operation = try XCTUnwrap(names[opName], opName)
            covered.insert(operation)
            let image = FloatImage(channels: input.shape[0], height: input.shape[1], width: input.shape[2],
                                   pixels: input.storage.map { $0 / 255 })
            let output = TrivialAugmentWide.apply(operation, magnitude: magnitude, to: image)
            XCTAssertEqual([output.channels, output.height, output.width], input.shape, name)
            let differing = zip(output.pixels, expected.storage).filter { ($0 * 255).rounded() != $1 }.count
            XCTAssertEqual(differing, 0, "\(name): \(differing) of \(expected.count) bytes differ from torchvision")
        }
        XCTAssertEqual(covered, Set(TrivialAugmentWide.Operation.allCases))
    }

    /// One operation per image, every operation drawn, magnitudes from the 31 bins (posterize keeps 8…2 bits).
    func testSamplingDrawsEveryOperationAndKeepsValuesInRange() {
        let augment = TrivialAugmentWide()
        XCTAssertEqual(augment.magnitudes(.posterize)?.values.first, 8)
        XCTAssertEqual(augment.magnitudes(.posterize)?.values.last, 2)
        XCTAssertEqual(augment.magnitudes(.solarize)?.values.first, 255)
        XCTAssertEqual(augment.magnitudes(.rotate)?.values.last, 135)
        XCTAssertEqual(augment.magnitudes(.translateX)?.values.count, 31)
        XCTAssertNil(augment.magnitudes(.equalize))
        var g = SeededGenerator(seed: 3)
        let base = FloatImage(channels: 3, height: 8, width: 8, pixels: (0..<192).map { Float(($0 * 37) % 256) / 255 })
        var changed = 0
        for _ in 0..<200 {
            var image = base
            var mask: LabelMask? = nil
            augment.apply(&image, mask: &mask, generator: &g)
            XCTAssertTrue(image.pixels.allSatisfy { (0...1).contains($0) })
            if image != base { changed += 1 }
        }
        // Identity (1 in 14) and a few zero magnitudes leave the image alone; most draws change it.
        XCTAssertGreaterThan(changed, 150)
        XCTAssertLessThan(changed, 200)

        // 14,000 draws: each operation about 1,000 times; signed ones negative about half the time.
        var counts: [TrivialAugmentWide.Operation: Int] = [:], negative: [TrivialAugmentWide.Operation: Int] = [:]
        var rotations = Set<Float>()
        for _ in 0..<14_000 {
            let (operation, magnitude) = augment.draw(generator: &g)
            counts[operation, default: 0] += 1
            if magnitude < 0 { negative[operation, default: 0] += 1 }
            if operation == .rotate { rotations.insert(Swift.abs(magnitude)) }
            if augment.magnitudes(operation) == nil { XCTAssertEqual(magnitude, 0) }
        }
        for operation in TrivialAugmentWide.Operation.allCases {
            XCTAssertTrue((850...1150).contains(counts[operation, default: 0]), "\(operation): \(counts[operation, default: 0])")
            if augment.magnitudes(operation)?.signed == true {
                let share = Double(negative[operation, default: 0]) / Double(counts[operation, default: 1])
                XCTAssertEqual(share, 0.5, accuracy: 0.08, "\(operation) sign")
            }
        }
        XCTAssertEqual(rotations.count, 31, "every rotation bin is drawn")
    }
}
