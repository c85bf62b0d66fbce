import Foundation
import VisionCore

/// The magnitude bins AutoAugment and RandAugment share (torchvision's `_augmentation_space`): for `bins`
/// bins, shears `0…0.3`, translations `0…150/331` of the image's width (x) or height (y) in pixels, rotations
/// `0…30°`, colour factors `0…0.9`, posterize `8 − round(k / ((bins − 1)/4))` bits, solarize thresholds
/// `255…0`, each a float32 `torch.linspace`. nil for operations without a magnitude.
public func autoAugmentMagnitudes(_ operation: AugmentOperation, bins: Int, height: Int,
                                  width: Int) -> (values: [Float], signed: Bool)? {
    switch operation {
    case .identity, .autoContrast, .equalize, .invert: return nil
    case .shearX, .shearY: return (linspace(0, 0.3, bins), true)
    case .translateX: return (linspace(0, Float(150.0 / 331.0 * Double(width)), bins), true)
    case .translateY: return (linspace(0, Float(150.0 / 331.0 * Double(height)), bins), true)
    case .rotate: return (linspace(0, 30, bins), true)
    case .brightness, .color, .contrast, .sharpness: return (linspace(0, 0.9, bins), true)
    case .posterize:
        // torch: arange(bins) / ((bins − 1) / 4) in float32, rounded half to even.
        let divisor = Float(Double(bins - 1) / 4)
        return ((0..<bins).map { 8 - (Float($0) / divisor).rounded(.toNearestOrEven) }, false)
    case .solarize: return (linspace(255, 0, bins), false)
    }
}

/// `torch.linspace(start, end, steps)` in float32: the first half stepped up from `start`, the second
/// half stepped down from `end`, so both ends are exact.
func linspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
    guard steps > 1 else { return steps == 1 ? [start] : [] }
    let step = (end - start) / Float(steps - 1)
    let half = steps / 2
    return (0..<steps).map { $0 < half ? start + step * Float($0) : end - step * Float(steps - 1 - $0) }
}

/// RandAugment (Cubuk et al. 2019) as torchvision's `transforms.RandAugment(num_ops, magnitude,
/// num_magnitude_bins)`: `numOps` times, one of the fourteen operations of `TrivialAugmentWide` drawn
/// uniformly, at the one fixed `magnitude` bin of `autoAugmentMagnitudes` (negated with probability ½ where
/// signed). torchvision's reference scripts call it `--auto-augment ra`. Classification only.
public struct RandAugment: Transform {
    public let numOps: Int, magnitude: Int, bins: Int

    public init(numOps: Int = 2, magnitude: Int = 9, bins: Int = 31) {
        precondition(numOps >= 0, "RandAugment: numOps \(numOps) must not be negative")
        precondition(bins >= 2 && (0..<bins).contains(magnitude),
                     "RandAugment: magnitude \(magnitude) must be one of the \(bins) bins 0…\(bins - 1)")
        self.numOps = numOps; self.magnitude = magnitude; self.bins = bins
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mask == nil, "RandAugment is for classification images; it does not move masks")
        for (operation, value) in draw(height: image.height, width: image.width, generator: &generator) {
            image = operation.apply(magnitude: value, to: image)
        }
    }

    /// The `numOps` operations and magnitudes for one image of `height × width`, in the order they apply.
    public func draw(height: Int, width: Int, generator: inout SeededGenerator) -> [(operation: AugmentOperation, magnitude: Float)] {
        (0..<numOps).map { _ in
            let operation = TrivialAugmentWide.operations[generator.nextInt(TrivialAugmentWide.operations.count)]
            guard let (values, signed) = autoAugmentMagnitudes(operation, bins: bins, height: height, width: width) else {
                return (operation, 0)
            }
            var value = values[magnitude]
            if signed && generator.nextInt(2) == 1 { value = -value }
            return (operation, value)
        }
    }
}

/// AutoAugment (Cubuk et al. 2018) as torchvision's `transforms.AutoAugment(policy)`: each image gets one of
/// the policy's 25 sub-policies, drawn uniformly; each of its two steps applies with its probability, at its
/// bin of `autoAugmentMagnitudes` with 10 bins (negated with probability ½ where signed). Classification only.
public struct AutoAugment: Transform {
    /// The policies learnt on ImageNet, CIFAR-10 and SVHN (torchvision's `AutoAugmentPolicy`).
    public enum Policy: String, CaseIterable, Sendable {
        case imagenet, cifar10, svhn
    }

    /// One step of a sub-policy: the operation, the probability that it applies, and its magnitude bin
    /// (nil for operations without a magnitude).
    public struct Step: Sendable, Equatable {
        public let operation: AugmentOperation
        public let probability: Float
        public let bin: Int?
    }

    public let policy: Policy
    /// The policy's 25 sub-policies of two steps each.
    public let subPolicies: [[Step]]

    public init(policy: Policy = .imagenet) {
        self.policy = policy
        subPolicies = AutoAugment.table(policy).map { pair in
            pair.map { Step(operation: $0.0, probability: $0.1, bin: $0.2) }
        }
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mask == nil, "AutoAugment is for classification images; it does not move masks")
        for (operation, value) in draw(height: image.height, width: image.width, generator: &generator) {
            image = operation.apply(magnitude: value, to: image)
        }
    }

    /// The operations and magnitudes applied to one image of `height × width`, in order: torchvision draws a
    /// sub-policy, two uniform numbers and two signs, and step `i` applies when its number is at most its
    /// probability, negated when its sign is 0.
    public func draw(height: Int, width: Int, generator: inout SeededGenerator) -> [(operation: AugmentOperation, magnitude: Float)] {
        let steps = subPolicies[generator.nextInt(subPolicies.count)]
        let uniforms = steps.map { _ in generator.nextUniform() }
        let signs = steps.map { _ in generator.nextInt(2) }
        return steps.indices.compactMap { i in
            let step = steps[i]
            guard uniforms[i] <= step.probability else { return nil }
            guard let bin = step.bin,
                  let (values, signed) = autoAugmentMagnitudes(step.operation, bins: 10, height: height, width: width) else {
                return (step.operation, 0)
            }
            return (step.operation, signed && signs[i] == 0 ? -values[bin] : values[bin])
        }
    }

    /// The sub-policies of Cubuk et al. (2018), in torchvision's order: (operation, probability, bin).
    static func table(_ policy: Policy) -> [[(AugmentOperation, Float, Int?)]] {
        switch policy {
        case .imagenet:
            return [
                [(.posterize, 0.4, 8), (.rotate, 0.6, 9)], [(.solarize, 0.6, 5), (.autoContrast, 0.6, nil)],
                [(.equalize, 0.8, nil), (.equalize, 0.6, nil)], [(.posterize, 0.6, 7), (.posterize, 0.6, 6)],
                [(.equalize, 0.4, nil), (.solarize, 0.2, 4)], [(.equalize, 0.4, nil), (.rotate, 0.8, 8)],
                [(.solarize, 0.6, 3), (.equalize, 0.6, nil)], [(.posterize, 0.8, 5), (.equalize, 1.0, nil)],
                [(.rotate, 0.2, 3), (.solarize, 0.6, 8)], [(.equalize, 0.6, nil), (.posterize, 0.4, 6)],
                [(.rotate, 0.8, 8), (.color, 0.4, 0)], [(.rotate, 0.4, 9), (.equalize, 0.6, nil)],
                [(.equalize, 0.0, nil), (.equalize, 0.8, nil)], [(.invert, 0.6, nil), (.equalize, 1.0, nil)],
                [(.color, 0.6, 4), (.contrast, 1.0, 8)], [(.rotate, 0.8, 8), (.color, 1.0, 2)],
                [(.color, 0.8, 8), (.solarize, 0.8, 7)], [(.sharpness, 0.4, 7), (.invert, 0.6, nil)],
                [(.shearX, 0.6, 5), (.equalize, 1.0, nil)], [(.color, 0.4, 0), (.equalize, 0.6, nil)],
                [(.equalize, 0.4, nil), (.solarize, 0.2, 4)], [(.solarize, 0.6, 5), (.autoContrast, 0.6, nil)],
                [(.invert, 0.6, nil), (.equalize, 1.0, nil)], [(.color, 0.6, 4), (.contrast, 1.0, 8)],
                [(.equalize, 0.8, nil), (.equalize, 0.6, nil)],
            ]
        case .cifar10:
            return [
                [(.invert, 0.1, nil), (.contrast, 0.2, 6)], [(.rotate, 0.7, 2), (.translateX, 0.3, 9)],
                [(.sharpness, 0.8, 1), (.sharpness, 0.9, 3)], [(.shearY, 0.5, 8), (.translateY, 0.7, 9)],
                [(.autoContrast, 0.5, nil), (.equalize, 0.9, nil)], [(.shearY, 0.2, 7), (.posterize, 0.3, 7)],
                [(.color, 0.4, 3), (.brightness, 0.6, 7)], [(.sharpness, 0.3, 9), (.brightness, 0.7, 9)],
                [(.equalize, 0.6, nil), (.equalize, 0.5, nil)], [(.contrast, 0.6, 7), (.sharpness, 0.6, 5)],
                [(.color, 0.7, 7), (.translateX, 0.5, 8)], [(.equalize, 0.3, nil), (.autoContrast, 0.4, nil)],
                [(.translateY, 0.4, 3), (.sharpness, 0.2, 6)], [(.brightness, 0.9, 6), (.color, 0.2, 8)],
                [(.solarize, 0.5, 2), (.invert, 0.0, nil)], [(.equalize, 0.2, nil), (.autoContrast, 0.6, nil)],
                [(.equalize, 0.2, nil), (.equalize, 0.6, nil)], [(.color, 0.9, 9), (.equalize, 0.6, nil)],
                [(.autoContrast, 0.8, nil), (.solarize, 0.2, 8)], [(.brightness, 0.1, 3), (.color, 0.7, 0)],
                [(.solarize, 0.4, 5), (.autoContrast, 0.9, nil)], [(.translateY, 0.9, 9), (.translateY, 0.7, 9)],
                [(.autoContrast, 0.9, nil), (.solarize, 0.8, 3)], [(.equalize, 0.8, nil), (.invert, 0.1, nil)],
                [(.translateY, 0.7, 9), (.autoContrast, 0.9, nil)],
            ]
        case .svhn:
            return [
                [(.shearX, 0.9, 4), (.invert, 0.2, nil)], [(.shearY, 0.9, 8), (.invert, 0.7, nil)],
                [(.equalize, 0.6, nil), (.solarize, 0.6, 6)], [(.invert, 0.9, nil), (.equalize, 0.6, nil)],
                [(.equalize, 0.6, nil), (.rotate, 0.9, 3)], [(.shearX, 0.9, 4), (.autoContrast, 0.8, nil)],
                [(.shearY, 0.9, 8), (.invert, 0.4, nil)], [(.shearY, 0.9, 5), (.solarize, 0.2, 6)],
                [(.invert, 0.9, nil), (.autoContrast, 0.8, nil)], [(.equalize, 0.6, nil), (.rotate, 0.9, 3)],
                [(.shearX, 0.9, 4), (.solarize, 0.3, 3)], [(.shearY, 0.8, 8), (.invert, 0.7, nil)],
                [(.equalize, 0.9, nil), (.translateY, 0.6, 6)], [(.invert, 0.9, nil), (.equalize, 0.6, nil)],
                [(.contrast, 0.3, 3), (.rotate, 0.8, 4)], [(.invert, 0.8, nil), (.translateY, 0.0, 2)],
                [(.shearY, 0.7, 6), (.solarize, 0.4, 8)], [(.invert, 0.6, nil), (.rotate, 0.8, 4)],
                [(.shearY, 0.3, 7), (.translateX, 0.9, 3)], [(.shearX, 0.1, 6), (.invert, 0.6, nil)],
                [(.solarize, 0.7, 2), (.translateY, 0.6, 7)], [(.shearY, 0.8, 4), (.invert, 0.8, nil)],
                [(.shearX, 0.7, 9), (.translateY, 0.8, 3)], [(.shearY, 0.8, 5), (.autoContrast, 0.7, nil)],
                [(.shearX, 0.7, 2), (.invert, 0.1, nil)],
            ]
        }
    }
}
