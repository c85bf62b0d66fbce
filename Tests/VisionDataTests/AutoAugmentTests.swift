import Foundation
import TestSupport
import VisionCore
import VisionData
import XCTest

/// The automatic augmentation operations against torchvision's (`scripts/make_autoaugment_fixture.py`:
/// `_apply_op` on uint8 tensors, nearest interpolation), and the sampling of TrivialAugmentWide, RandAugment
/// and AutoAugment.
final class AutoAugmentTests: XCTestCase {
    static let fixture = packageRoot().appendingPathComponent("Tests/VisionDataTests/Fixtures/autoaugment.safetensors")

    /// A JSON value of the fixture's metadata.
    func metadata(_ key: String) throws -> Any {
        let metadata = try SafeTensors.readMetadata(contentsOf: Self.fixture)
        return try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(metadata[key]).utf8))
    }

    /// torchvision's operation names.
    static let names: [String: AugmentOperation] = [
        "Identity": .identity, "ShearX": .shearX, "ShearY": .shearY, "TranslateX": .translateX, "TranslateY": .translateY,
        "Rotate": .rotate, "Brightness": .brightness, "Color": .color, "Contrast": .contrast, "Sharpness": .sharpness,
        "Posterize": .posterize, "Solarize": .solarize, "AutoContrast": .autoContrast, "Equalize": .equalize, "Invert": .invert,
    ]

    func testOperationsMatchTorchvision() throws {
        let tensors = try SafeTensors.read(contentsOf: Self.fixture)
        let cases = try XCTUnwrap(try metadata("cases") as? [[Any]])
        XCTAssertEqual(cases.count, 57)
        let names = Self.names
        var covered = Set<AugmentOperation>()
        for entry in cases {
            let (name, imageName, opName) = (entry[0] as! String, entry[1] as! String, entry[2] as! String)
            let magnitude = Float((entry[3] as! NSNumber).doubleValue)
            let input = try XCTUnwrap(tensors["input.\(imageName)"]), expected = try XCTUnwrap(tensors[name])
            let operation = try XCTUnwrap(names[opName], opName)
            covered.insert(operation)
            let image = FloatImage(channels: input.shape[0], height: input.shape[1], width: input.shape[2],
                                   pixels: input.storage.map { $0 / 255 })
            let interpolation: Interpolation = entry[4] as! String == "bilinear" ? .bilinear : .nearest
            let output = operation.apply(magnitude: magnitude, to: image, interpolation: interpolation)
            XCTAssertEqual([output.channels, output.height, output.width], input.shape, name)
            let differences = zip(output.pixels, expected.storage).map { abs(($0 * 255).rounded() - $1) }
            let differing = differences.filter { $0 != 0 }.count
            if interpolation == .nearest {
                XCTAssertEqual(differing, 0, "\(name): \(differing) of \(expected.count) bytes differ from torchvision")
            } else {
                // Bilinear samples round to bytes; where torch's vectorised grid_sample sums its four products in
                // another order, a value within an ulp of a half rounds the other way (1–4 bytes of 429 here).
                XCTAssertLessThanOrEqual(differences.max() ?? 0, 1, name)
                XCTAssertLessThanOrEqual(differing, expected.count / 50, "\(name): \(differing) of \(expected.count) bytes differ")
            }
        }
        XCTAssertEqual(covered, Set(AugmentOperation.allCases))
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
        var counts: [AugmentOperation: Int] = [:], negative: [AugmentOperation: Int] = [:]
        var rotations = Set<Float>()
        for _ in 0..<14_000 {
            let (operation, magnitude) = augment.draw(generator: &g)
            counts[operation, default: 0] += 1
            if magnitude < 0 { negative[operation, default: 0] += 1 }
            if operation == .rotate { rotations.insert(Swift.abs(magnitude)) }
            if augment.magnitudes(operation) == nil { XCTAssertEqual(magnitude, 0) }
        }
        XCTAssertNil(counts[.invert], "invert is AutoAugment's only")
        for operation in TrivialAugmentWide.operations {
            XCTAssertTrue((850...1150).contains(counts[operation, default: 0]), "\(operation): \(counts[operation, default: 0])")
            if augment.magnitudes(operation)?.signed == true {
                let share = Double(negative[operation, default: 0]) / Double(counts[operation, default: 1])
                XCTAssertEqual(share, 0.5, accuracy: 0.08, "\(operation) sign")
            }
        }
        XCTAssertEqual(rotations.count, 31, "every rotation bin is drawn")
    }

    // MARK: RandAugment and AutoAugment

    /// The magnitude bins equal torchvision's `_augmentation_space` (RandAugment: 31 bins, AutoAugment and
    /// AugMix: 10) for a square and an oblong image, translations scaled by width (x) and height (y).
    func testMagnitudeBinsMatchTorchvision() throws {
        let spaces = try XCTUnwrap(try metadata("spaces") as? [String: [String: Any]])
        XCTAssertEqual(spaces.count, 7)
        var offByAnUlp = 0, compared = 0
        for (key, space) in spaces {
            let parts = key.split(separator: "/")
            let size = parts[1] == "any" ? [32, 32] : parts[1].split(separator: "x").map { Int($0)! }
            for (name, values) in space {
                let operation = try XCTUnwrap(Self.names[name], name)
                let ours: (values: [Float], signed: Bool)?
                switch parts[0] {
                case "ta": ours = TrivialAugmentWide().magnitudes(operation)
                case "am": ours = augMixMagnitudes(operation, height: size[0], width: size[1])
                default: ours = autoAugmentMagnitudes(operation, bins: parts[0] == "ra" ? 31 : 10, height: size[0], width: size[1])
                }
                guard let expected = values as? [Double] else {
                    XCTAssertNil(ours, "\(key) \(name)")
                    continue
                }
                let got = try XCTUnwrap(ours, "\(key) \(name)").values
                XCTAssertEqual(got.count, expected.count, "\(key) \(name)")
                // Equal to torch's float32 linspace below 16 bins; from 16 on torch's vector form lands an ulp away
                // at a few bins (see `linspace`).
                if parts[0] == "aa" || parts[0] == "am" {
                    XCTAssertEqual(got, expected.map(Float.init), "\(key) \(name)")
                    continue
                }
                compared += got.count
                for (a, b) in zip(got, expected.map(Float.init)) where a != b {
                    XCTAssertLessThanOrEqual(abs(a - b), max(a.ulp, b.ulp), "\(key) \(name): \(a) vs torch \(b)")
                    offByAnUlp += 1
                }
            }
        }
        XCTAssertLessThan(offByAnUlp * 10, compared, "\(offByAnUlp) of \(compared) bins an ulp from torch's; most are equal")
    }

    /// The three policies' sub-policies equal torchvision's, step by step.
    func testAutoAugmentPoliciesMatchTorchvision() throws {
        let policies = try XCTUnwrap(try metadata("policies") as? [String: [[[Any]]]])
        XCTAssertEqual(Set(policies.keys), Set(AutoAugment.Policy.allCases.map(\.rawValue)))
        for policy in AutoAugment.Policy.allCases {
            let expected = try XCTUnwrap(policies[policy.rawValue])
            let ours = AutoAugment(policy: policy).subPolicies
            XCTAssertEqual(ours.count, 25)
            XCTAssertEqual(ours.count, expected.count)
            for (k, (pair, reference)) in zip(ours, expected).enumerated() {
                XCTAssertEqual(pair.count, 2)
                for (step, entry) in zip(pair, reference) {
                    let label = "\(policy) sub-policy \(k)"
                    XCTAssertEqual(step.operation, Self.names[entry[0] as! String], label)
                    XCTAssertEqual(Double(step.probability), (entry[1] as! NSNumber).doubleValue, accuracy: 1e-7, label)
                    XCTAssertEqual(step.bin, (entry[2] as? NSNumber)?.intValue, label)
                }
            }
        }
    }

    /// `apply` gives what its own draws, replayed from the same seed and applied in order, give.
    func assertAppliesItsDraws(_ apply: (inout FloatImage, inout SeededGenerator) -> Void,
                               draw: (Int, Int, inout SeededGenerator) -> [(operation: AugmentOperation, magnitude: Float)],
                               pixelStep: Int, file: StaticString = #filePath, line: UInt = #line) {
        let base = FloatImage(channels: 3, height: 8, width: 10, pixels: (0..<240).map { Float(($0 * pixelStep) % 256) / 255 })
        for seed in 0..<20 {
            var g = SeededGenerator(seed: UInt64(seed)), replay = g
            var image = base
            apply(&image, &g)
            var expected = base
            for (operation, value) in draw(8, 10, &replay) { expected = operation.apply(magnitude: value, to: expected) }
            XCTAssertEqual(image, expected, "seed \(seed)", file: file, line: line)
        }
    }

    /// RandAugment applies its `numOps` draws in order; each is one of the fourteen operations at the fixed
    /// bin, negative about half the time where signed.
    func testRandAugmentAppliesItsDrawsAtTheFixedMagnitude() {
        let augment = RandAugment(numOps: 2, magnitude: 9)
        assertAppliesItsDraws({ image, g in
            var mask: LabelMask? = nil
            augment.apply(&image, mask: &mask, generator: &g)
        }, draw: { augment.draw(height: $0, width: $1, generator: &$2) }, pixelStep: 37)
        var g = SeededGenerator(seed: 5)
        var counts: [AugmentOperation: Int] = [:], negative = 0, signed = 0
        for _ in 0..<7_000 {
            let draws = augment.draw(height: 32, width: 32, generator: &g)
            XCTAssertEqual(draws.count, 2)
            for (operation, value) in draws {
                counts[operation, default: 0] += 1
                guard let (values, isSigned) = autoAugmentMagnitudes(operation, bins: 31, height: 32, width: 32) else {
                    XCTAssertEqual(value, 0)
                    continue
                }
                XCTAssertEqual(abs(value), values[9], "\(operation)")
                if isSigned { signed += 1; if value < 0 { negative += 1 } }
            }
        }
        XCTAssertEqual(Set(counts.keys), Set(TrivialAugmentWide.operations))
        for (operation, count) in counts { XCTAssertTrue((850...1150).contains(count), "\(operation): \(count)") }
        XCTAssertEqual(Double(negative) / Double(signed), 0.5, accuracy: 0.03)
        XCTAssertTrue(RandAugment(numOps: 0).draw(height: 8, width: 8, generator: &g).isEmpty)
    }

    /// AutoAugment draws sub-policies uniformly; a step applies with its probability, at its bin's magnitude.
    func testAutoAugmentAppliesStepsWithTheirProbabilities() {
        let augment = AutoAugment(policy: .cifar10)
        assertAppliesItsDraws({ image, g in
            var mask: LabelMask? = nil
            augment.apply(&image, mask: &mask, generator: &g)
        }, draw: { augment.draw(height: $0, width: $1, generator: &$2) }, pixelStep: 53)
        // CIFAR-10 sub-policy 21 is (TranslateY 0.9, bin 9), (TranslateY 0.7, bin 9): over many images the
        // translations appear at ±150/331·32 pixels; "Invert 0.0" (sub-policy 14) never applies.
        var g = SeededGenerator(seed: 8)
        var applied: [AugmentOperation: Int] = [:]
        var translations = Set<Float>()
        let images = 25_000
        for _ in 0..<images {
            for (operation, value) in augment.draw(height: 32, width: 32, generator: &g) {
                applied[operation, default: 0] += 1
                if operation == .translateY { translations.insert(abs(value)) }
            }
        }
        // Expected applications per image: Σ over sub-policies of each step's probability, / 25.
        let table = augment.subPolicies.flatMap { $0 }
        for operation in Set(table.map(\.operation)) {
            let expected = Double(images) * table.filter { $0.operation == operation }.map { Double($0.probability) }.reduce(0, +) / 25
            XCTAssertEqual(Double(applied[operation, default: 0]), expected, accuracy: 4 * expected.squareRoot() + 1, "\(operation)")
        }
        let bins = autoAugmentMagnitudes(.translateY, bins: 10, height: 32, width: 32)!.values
        XCTAssertEqual(translations, Set([bins[3], bins[9]]))
    }

    /// AugMix mixes the original with `mixtureWidth` chains as its plan says (weights summing to 1, the sum
    /// truncated to bytes); chains hold 1–3 steps, magnitudes from the first `severity` bins.
    func testAugMixMixesItsChainsAsDrawn() {
        let augment = AugMix(severity: 3, mixtureWidth: 3)
        XCTAssertEqual(augment.operations.count, 13)
        XCTAssertEqual(AugMix(allOps: false).operations.count, 9)
        let base = FloatImage(channels: 3, height: 8, width: 10, pixels: (0..<240).map { Float(($0 * 53) % 256) / 255 })
        var depths = Set<Int>()
        for seed in 0..<30 {
            var g = SeededGenerator(seed: UInt64(seed)), replay = g
            var image = base
            var mask: LabelMask? = nil
            augment.apply(&image, mask: &mask, generator: &g)
            let plan = augment.draw(height: 8, width: 10, generator: &replay)
            XCTAssertEqual(plan.chains.count, 3)
            XCTAssertEqual(plan.originalWeight + plan.chains.map(\.weight).reduce(0, +), 1, accuracy: 1e-5)
            // The definition, computed here from the plan: ⌊m₀·x + Σ wᵢ·chainᵢ(x)⌋ on bytes.
            var expected = base.pixels.map { plan.originalWeight * ($0 * 255).rounded() }
            for chain in plan.chains {
                depths.insert(chain.steps.count)
                var augmented = base
                for (operation, value) in chain.steps {
                    XCTAssertTrue(augment.operations.contains(operation))
                    if let (values, _) = augMixMagnitudes(operation, height: 8, width: 10) {
                        XCTAssertTrue(values[0..<3].contains(abs(value)), "\(operation) \(value) beyond severity 3")
                    }
                    augmented = operation.apply(magnitude: value, to: augmented, interpolation: .bilinear)
                }
                for i in expected.indices { expected[i] += chain.weight * (augmented.pixels[i] * 255).rounded() }
            }
            XCTAssertEqual(image.pixels, expected.map { min(max($0, 0), 255).rounded(.towardZero) / 255 }, "seed \(seed)")
            XCTAssertEqual(augment.mix(base, plan: plan), image)
        }
        XCTAssertEqual(depths, [1, 2, 3])
        var g = SeededGenerator(seed: 3)
        XCTAssertTrue(AugMix(chainDepth: 2).draw(height: 8, width: 8, generator: &g).chains.allSatisfy { $0.steps.count == 2 })
        // A plan of the original alone returns the image (its bytes, unchanged).
        let alone = AugMix.Plan(originalWeight: 1, chains: [(weight: 0, steps: [(operation: .rotate, magnitude: 20)])])
        XCTAssertEqual(augment.mix(base, plan: alone), base)
    }

    /// torchvision's AugMix with its Dirichlet draws fixed (as its own tests override `_sample_dirichlet`) and
    /// the operations it drew recorded: the same plan mixes the image to the same bytes.
    func testAugMixMixesAsTorchvision() throws {
        let tensors = try SafeTensors.read(contentsOf: Self.fixture)
        let record = try XCTUnwrap(try metadata("augmix") as? [String: Any])
        let input = try XCTUnwrap(tensors["input.rgb"]), expected = try XCTUnwrap(tensors["augmix.rgb"])
        let image = FloatImage(channels: 3, height: input.shape[1], width: input.shape[2], pixels: input.storage.map { $0 / 255 })
        let original = Float((record["original"] as! NSNumber).doubleValue), augmented = Float((record["augmented"] as! NSNumber).doubleValue)
        let weights = (record["chains"] as! [NSNumber]).map { Float($0.doubleValue) * augmented }  // float32, as torch multiplies
        let steps = try (record["steps"] as! [[Any]]).map { step -> (operation: AugmentOperation, magnitude: Float) in
            (try XCTUnwrap(Self.names[step[0] as! String]), Float((step[1] as! NSNumber).doubleValue))
        }
        XCTAssertEqual(steps.count, 6)
        let plan = AugMix.Plan(originalWeight: original,
                               chains: (0..<3).map { (weight: weights[$0], steps: Array(steps[(2 * $0)..<(2 * $0 + 2)])) })
        let mixed = AugMix().mix(image, plan: plan)
        let differences = zip(mixed.pixels, expected.storage).map { abs(($0 * 255).rounded() - $1) }
        XCTAssertLessThanOrEqual(differences.max() ?? 0, 1)
        XCTAssertLessThanOrEqual(differences.filter { $0 != 0 }.count, 4, "bytes off by one where a bilinear tie rounds otherwise")
        XCTAssertGreaterThan(zip(mixed.pixels, image.pixels).filter { $0 != $1 }.count, 300, "the mix changes the image")
    }

    /// With α = 1 the original's weight m₀ is uniform on [0, 1] (Beta(1, 1)), and each chain's share of the rest
    /// averages 1/3.
    func testAugMixWeightsFollowTheirDirichletDistributions() {
        var g = SeededGenerator(seed: 17)
        let augment = AugMix(chainDepth: 1)
        var originals: [Double] = [], firstChain = 0.0
        for _ in 0..<4_000 {
            let plan = augment.draw(height: 4, width: 4, generator: &g)
            originals.append(Double(plan.originalWeight))
            firstChain += Double(plan.chains[0].weight / (1 - plan.originalWeight))
        }
        let mean = originals.reduce(0, +) / 4_000
        let variance = originals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4_000
        XCTAssertEqual(mean, 0.5, accuracy: 0.02)
        XCTAssertEqual(variance, 1.0 / 12, accuracy: 0.006)
        XCTAssertEqual(originals.filter { $0 < 0.25 }.count, 1_000, accuracy: 100, "a quarter below 0.25")
        XCTAssertEqual(firstChain / 4_000, 1.0 / 3, accuracy: 0.02)
    }

    // MARK: Random 8-bit photometric transforms

    /// Each applies its operation (checked against torchvision above) with probability `p`: always at 1,
    /// never at 0, about half the time at 0.5; the solarize threshold is in image units (×255 on bytes).
    func testRandomPhotometricTransformsApplyTheirOperationWithProbabilityP() {
        // 1,024 pixels per channel over 97 levels in 60…156: enough for equalize's histogram step (⌊(n − last level's count)/255⌋) to be non-zero.
        let base = FloatImage(channels: 3, height: 32, width: 32, pixels: (0..<3072).map { Float(($0 * 29) % 97 + 60) / 255 })
        let cases: [(String, (Float) -> any Transform, AugmentOperation, Float)] = [
            ("invert", { RandomInvert(p: $0) }, .invert, 0),
            ("posterize", { RandomPosterize(bits: 3, p: $0) }, .posterize, 3),
            ("solarize", { RandomSolarize(threshold: 0.5, p: $0) }, .solarize, 127.5),
            ("sharpness", { RandomAdjustSharpness(sharpnessFactor: 2.5, p: $0) }, .sharpness, 1.5),
            ("autocontrast", { RandomAutocontrast(p: $0) }, .autoContrast, 0),
            ("equalize", { RandomEqualize(p: $0) }, .equalize, 0),
        ]
        var g = SeededGenerator(seed: 21)
        for (name, make, operation, magnitude) in cases {
            let expected = operation.apply(magnitude: magnitude, to: base)
            XCTAssertNotEqual(expected, base, "\(name) changes the test image")
            var none: LabelMask? = nil
            var always = base, never = base
            make(1).apply(&always, mask: &none, generator: &g)
            make(0).apply(&never, mask: &none, generator: &g)
            XCTAssertEqual(always, expected, name)
            XCTAssertEqual(never, base, name)
            var applied = 0
            for _ in 0..<400 {
                var image = base
                make(0.5).apply(&image, mask: &none, generator: &g)
                if image == expected { applied += 1 } else { XCTAssertEqual(image, base, name) }
            }
            XCTAssertTrue((160...240).contains(applied), "\(name): applied \(applied) of 400 at p = 0.5")
        }
        // Solarize at 0.5 inverts exactly the values ≥ 0.5 (bytes ≥ 128).
        var image = FloatImage(channels: 1, height: 1, width: 3, pixels: [127 / 255, 128 / 255, 1])
        var none: LabelMask? = nil
        RandomSolarize(threshold: 0.5, p: 1).apply(&image, mask: &none, generator: &g)
        assertClose(image.pixels, [127 / 255, 127 / 255, 0], rtol: 0, atol: 1e-7)
    }

    /// RandomRotation with nearest sampling is torchvision's F.rotate (checked above through the rotate operation),
    /// and moves a mask with the image pixel for pixel.
    func testNearestRandomRotationIsTorchvisionsRotate() {
        var g = SeededGenerator(seed: 22)
        let (h, w) = (9, 12)
        let image = FloatImage(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { Float($0 + 1) / 255 })
        let mask = LabelMask(height: h, width: w, labels: (0..<(h * w)).map { $0 + 1 })
        for degrees in [30.0, -47.5, 90] {
            let (rotated, rotatedMask) = RandomRotation(degrees: degrees...degrees, interpolation: .nearest)(image, mask: mask, generator: &g)
            XCTAssertEqual(rotated, AugmentOperation.rotate.apply(magnitude: Float(degrees), to: image), "\(degrees)°")
            XCTAssertEqual(rotatedMask.labels, rotated.pixels.map { Int(($0 * 255).rounded()) }, "\(degrees)°")
        }
        // torchvision 0.29: F.rotate(arange(1, 31) as [1, 5, 6], angle, NEAREST).
        let small = FloatImage(channels: 1, height: 5, width: 6, pixels: (1...30).map(Float.init))
        let references: [(Double, [Float])] = [
            (30, [0, 3, 4, 11, 12, 0, 2, 3, 10, 10, 17, 18, 7, 8, 15, 16, 23, 24, 13, 14, 21, 21, 28, 29, 0, 19, 20, 27, 28, 0]),
            (-47.5, [0, 13, 8, 2, 3, 0, 19, 14, 14, 9, 4, 0, 26, 20, 15, 16, 11, 5, 0, 27, 22, 17, 17, 12, 0, 28, 29, 23, 18, 0]),
        ]
        for (degrees, expected) in references {
            XCTAssertEqual(RandomRotation(degrees: degrees...degrees, interpolation: .nearest)(small, generator: &g).pixels, expected, "\(degrees)°")
        }
    }
}
