import Foundation
import VisionCore

/// TrivialAugment (Müller & Hutter 2021) as torchvision's `transforms.TrivialAugmentWide`: each image
/// gets one operation drawn uniformly from fourteen, at a magnitude drawn uniformly from 31 bins (and a
/// random sign where the operation has one).
///
/// The operations (`AugmentOperation`) follow torchvision's tensor implementations on 8-bit images.
/// Classification only: masks are not moved.
public struct TrivialAugmentWide: Transform {
    /// The fourteen operations, in torchvision's order (every `AugmentOperation` but `invert`).
    public static let operations: [AugmentOperation] = AugmentOperation.allCases.filter { $0 != .invert }

    public let bins: Int
    /// How shears, translations and rotations sample (torchvision's default: nearest; its reference scripts: bilinear).
    public let interpolation: Interpolation

    public init(bins: Int = 31, interpolation: Interpolation = .nearest) {
        precondition(bins >= 2, "TrivialAugmentWide needs at least 2 magnitude bins, got \(bins)")
        self.bins = bins
        self.interpolation = interpolation
    }

    /// The magnitudes of an operation (nil: it has none) and whether a random sign applies.
    public func magnitudes(_ operation: AugmentOperation) -> (values: [Float], signed: Bool)? {
        switch operation {
        case .identity, .autoContrast, .equalize, .invert: return nil
        case .shearX, .shearY, .brightness, .color, .contrast, .sharpness: return (linspace(0, 0.99, bins), true)
        case .translateX, .translateY: return (linspace(0, 32, bins), true)
        case .rotate: return (linspace(0, 135, bins), true)
        case .posterize: return (posterizeBits(bins: bins, top: 8, divisions: 6), false)
        case .solarize: return (linspace(255, 0, bins), false)
        }
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        precondition(mask == nil, "TrivialAugmentWide is for classification images; it does not move masks")
        let (operation, magnitude) = draw(generator: &generator)
        image = operation.apply(magnitude: magnitude, to: image, interpolation: interpolation)
    }

    /// The operation (uniform over the fourteen) and its magnitude (uniform over the bins, negated with
    /// probability ½ where signed; 0 for operations without one) for one image.
    public func draw(generator: inout SeededGenerator) -> (operation: AugmentOperation, magnitude: Float) {
        let operation = Self.operations[generator.nextInt(Self.operations.count)]
        var magnitude: Float = 0
        if let (values, signed) = magnitudes(operation) {
            magnitude = values[generator.nextInt(values.count)]
            if signed && generator.nextInt(2) == 1 { magnitude = -magnitude }
        }
        return (operation, magnitude)
    }
}
