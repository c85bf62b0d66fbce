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
    case .posterize: return (posterizeBits(bins: bins, top: 8, divisions: 4), false)
    case .solarize: return (linspace(255, 0, bins), false)
    }
}

/// `torch.linspace(start, end, steps)` in float32 as torch's CPU kernel computes it element by element: the first
/// half stepped up from `start`, the rest stepped down from `end`. This equals torch for fewer than 16 steps
/// (AutoAugment's and AugMix's 10 bins); from 16 on, torch computes its first 16 values in vector form and a few
/// land an ulp away — at a bin on a whole number of pixels, such as TrivialAugmentWide's 16 px, torch gives
/// 15.999999 and translates by 15 where this translates by 16.
func linspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
    guard steps > 1 else { return steps == 1 ? [start] : [] }
    let step = (end - start) / Float(steps - 1)
    let half = steps / 2
    return (0..<steps).map { $0 < half ? start + step * Float($0) : end - step * Float(steps - 1 - $0) }
}

/// Posterize's bits per bin as torchvision computes them: `top − round(k / ((bins − 1)/divisions))`, the quotient in
/// float32 and rounded half to even.
func posterizeBits(bins: Int, top: Float, divisions: Double) -> [Float] {
    let divisor = Float(Double(bins - 1) / divisions)
    return (0..<bins).map { top - (Float($0) / divisor).rounded(.toNearestOrEven) }
}

/// RandAugment (Cubuk et al. 2019) as torchvision's `transforms.RandAugment(num_ops, magnitude,
/// num_magnitude_bins)`: `numOps` times, one of the fourteen operations of `TrivialAugmentWide` drawn
/// uniformly, at the one fixed `magnitude` bin of `autoAugmentMagnitudes` (negated with probability ½ where
/// signed). torchvision's reference scripts call it `--auto-augment ra`. Classification only.
public struct RandAugment: Transform {
    public let numOps: Int, magnitude: Int, bins: Int
    /// How shears, translations and rotations sample (torchvision's default: nearest; its reference scripts: bilinear).
    public let interpolation: Interpolation

    public init(numOps: Int = 2, magnitude: Int = 9, bins: Int = 31, interpolation: Interpolation = .nearest) {
        precondition(numOps >= 0, "RandAugment: numOps \(numOps) must not be negative")
        precondition(bins >= 2 && (0..<bins).contains(magnitude),
                     "RandAugment: magnitude \(magnitude) must be one of the \(bins) bins 0…\(bins - 1)")
        self.numOps = numOps; self.magnitude = magnitude; self.bins = bins; self.interpolation = interpolation
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mask == nil, "RandAugment is for classification images; it does not move masks")
        for (operation, value) in draw(height: image.height, width: image.width, generator: &generator) {
            image = operation.apply(magnitude: value, to: image, interpolation: interpolation)
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
    /// How shears, translations and rotations sample (torchvision's default: nearest; its reference scripts: bilinear).
    public let interpolation: Interpolation

    public init(policy: Policy = .imagenet, interpolation: Interpolation = .nearest) {
        self.policy = policy
        self.interpolation = interpolation
        subPolicies = AutoAugment.table(policy).map { pair in
            pair.map { Step(operation: $0.0, probability: $0.1, bin: $0.2) }
        }
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mask == nil, "AutoAugment is for classification images; it does not move masks")
        for (operation, value) in draw(height: image.height, width: image.width, generator: &generator) {
            image = operation.apply(magnitude: value, to: image, interpolation: interpolation)
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

/// AugMix (Hendrycks et al. 2020) as torchvision's `transforms.AugMix(severity, mixture_width, chain_depth,
/// alpha, all_ops, interpolation)`: `mixtureWidth` chains of 1–3 random operations (or `chainDepth`) are
/// applied to copies of the image, and the copies are mixed with the original:
///
///     y = m₀·x + m₁·Σ_i w_i·chain_i(x),   (m₀, m₁) ~ Dirichlet(α, α),   w ~ Dirichlet(α, …, α)
///
/// on 8-bit values, the sum truncated to bytes as torchvision's cast back to uint8. Each step draws an operation
/// uniformly from `operations` and a magnitude uniformly from the first `severity` of `augMixMagnitudes`' 10 bins
/// (negated with probability ½ where signed). torchvision's reference scripts call it `--auto-augment augmix`.
/// Classification only.
public struct AugMix: Transform {
    public let severity: Int, mixtureWidth: Int
    /// Operations per chain; nil draws 1, 2 or 3 per chain (torchvision's `chain_depth=-1`).
    public let chainDepth: Int?
    public let alpha: Double
    /// The operations drawn from: shears, translations, rotation, posterize, solarize, autocontrast, equalize,
    /// and with `allOps` brightness, colour, contrast and sharpness (AugMix's paper leaves those out, as they
    /// overlap the corruptions it evaluates on).
    public let operations: [AugmentOperation]
    public let interpolation: Interpolation

    public init(severity: Int = 3, mixtureWidth: Int = 3, chainDepth: Int? = nil, alpha: Double = 1, allOps: Bool = true,
                interpolation: Interpolation = .bilinear) {
        precondition((1...10).contains(severity), "AugMix: severity must be in 1…10, got \(severity)")
        precondition(mixtureWidth >= 1, "AugMix: mixtureWidth must be at least 1, got \(mixtureWidth)")
        precondition(chainDepth.map { $0 >= 1 } ?? true, "AugMix: chainDepth must be at least 1, got \(chainDepth!)")
        precondition(alpha > 0 && alpha.isFinite, "AugMix: alpha must be positive, got \(alpha)")
        self.severity = severity; self.mixtureWidth = mixtureWidth; self.chainDepth = chainDepth; self.alpha = alpha
        self.interpolation = interpolation
        operations = [.shearX, .shearY, .translateX, .translateY, .rotate, .posterize, .solarize, .autoContrast, .equalize]
            + (allOps ? [.brightness, .color, .contrast, .sharpness] : [])
    }

    /// One image's draws: the original's weight `m₀`, and per chain its weight `m₁·w_i` and its operations.
    public struct Plan: Sendable {
        public let originalWeight: Float
        public let chains: [(weight: Float, steps: [(operation: AugmentOperation, magnitude: Float)])]

        public init(originalWeight: Float, chains: [(weight: Float, steps: [(operation: AugmentOperation, magnitude: Float)])]) {
            self.originalWeight = originalWeight; self.chains = chains
        }
    }

    public func draw(height: Int, width: Int, generator: inout SeededGenerator) -> Plan {
        let m = generator.nextDirichlet([alpha, alpha])
        let w = generator.nextDirichlet([Double](repeating: alpha, count: mixtureWidth))
        let chains = w.map { weight in
            let depth = chainDepth ?? generator.integer(1, 4)
            let steps = (0..<depth).map { _ -> (operation: AugmentOperation, magnitude: Float) in
                let operation = operations[generator.nextInt(operations.count)]
                guard let (values, signed) = augMixMagnitudes(operation, height: height, width: width) else { return (operation, 0) }
                let value = values[generator.nextInt(severity)]
                return (operation, signed && generator.nextInt(2) == 1 ? -value : value)
            }
            return (weight: Float(m[1] * weight), steps: steps)
        }
        return Plan(originalWeight: Float(m[0]), chains: chains)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mask == nil, "AugMix is for classification images; it does not move masks")
        image = mix(image, plan: draw(height: image.height, width: image.width, generator: &generator))
    }

    /// The image mixed as `plan` says: `m₀·x + Σ weight_i·chain_i(x)` on bytes, truncated to bytes.
    public func mix(_ image: FloatImage, plan: Plan) -> FloatImage {
        let bytes = image.pixels.map { Swift.min(Swift.max(($0 * 255).rounded(), 0), 255) }
        var mixed = bytes.map { plan.originalWeight * $0 }
        for chain in plan.chains {
            var augmented = FloatImage(channels: image.channels, height: image.height, width: image.width,
                                       pixels: bytes.map { $0 / 255 })
            for (operation, value) in chain.steps {
                augmented = operation.apply(magnitude: value, to: augmented, interpolation: interpolation)
            }
            for i in 0..<mixed.count { mixed[i] += chain.weight * (augmented.pixels[i] * 255).rounded() }
        }
        return FloatImage(channels: image.channels, height: image.height, width: image.width,
                          pixels: mixed.map { Swift.min(Swift.max($0, 0), 255).rounded(.towardZero) / 255 })
    }
}

/// AugMix's magnitude bins (torchvision's `AugMix._augmentation_space` with 10 bins): shears `0…0.3`,
/// translations `0…⅓` of the width (x) or height (y), rotations `0…30°`, colour factors `0…0.9`,
/// posterize `4 − round(k / 2.25)` bits, solarize `255…0`. nil for operations without a magnitude.
public func augMixMagnitudes(_ operation: AugmentOperation, height: Int, width: Int) -> (values: [Float], signed: Bool)? {
    switch operation {
    case .translateX: return (linspace(0, Float(width) / 3, 10), true)
    case .translateY: return (linspace(0, Float(height) / 3, 10), true)
    case .posterize: return (posterizeBits(bins: 10, top: 4, divisions: 4), false)
    default: return autoAugmentMagnitudes(operation, bins: 10, height: height, width: width)
    }
}
