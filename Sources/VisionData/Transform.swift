import VisionCore

/// An augmentation or preprocessing step on one sample.
///
/// A transform changes the image and, when it is geometric, the mask too with the *same* random
/// parameters (masks use nearest sampling, so labels stay labels); colour transforms leave the mask
/// alone. All randomness comes from `generator`, which the `DataLoader` derives per sample from
/// (seed, epoch, index), so results do not depend on the number of workers.
public protocol Transform: Sendable {
    func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator)
}

extension Transform {
    /// Transforms an image alone.
    public func callAsFunction(_ image: FloatImage, generator: inout SeededGenerator) -> FloatImage {
        var result = image
        var mask: LabelMask? = nil
        apply(&result, mask: &mask, generator: &generator)
        return result
    }

    /// Transforms an image and its mask jointly.
    public func callAsFunction(_ image: FloatImage, mask: LabelMask,
                               generator: inout SeededGenerator) -> (image: FloatImage, mask: LabelMask) {
        var resultImage = image
        var resultMask: LabelMask? = mask
        apply(&resultImage, mask: &resultMask, generator: &generator)
        return (resultImage, resultMask!)
    }

    /// Transforms a sample in place (the mask of a segmentation sample follows the image).
    public func apply(to sample: inout Sample, generator: inout SeededGenerator) {
        var mask = sample.mask
        apply(&sample.image, mask: &mask, generator: &generator)
        if let mask { sample.target = .mask(mask) }
    }
}

/// Applies transforms in order (torchvision's `Compose`).
public struct Compose: Transform {
    public let transforms: [any Transform]

    public init(_ transforms: [any Transform]) {
        self.transforms = transforms
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        for transform in transforms { transform.apply(&image, mask: &mask, generator: &generator) }
    }
}

/// Applies a transform with probability `p` (one uniform draw decides).
public struct RandomApply: Transform {
    public let transform: any Transform
    public let p: Float

    public init(_ transform: any Transform, p: Float = 0.5) {
        precondition(p >= 0 && p <= 1, "RandomApply: p must be in [0, 1], got \(p)")
        self.transform = transform
        self.p = p
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        if generator.nextUniform() < p { transform.apply(&image, mask: &mask, generator: &generator) }
    }
}

/// Applies one transform chosen uniformly at random.
public struct RandomChoice: Transform {
    public let transforms: [any Transform]

    public init(_ transforms: [any Transform]) {
        precondition(!transforms.isEmpty, "RandomChoice needs at least one transform")
        self.transforms = transforms
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        transforms[generator.nextInt(transforms.count)].apply(&image, mask: &mask, generator: &generator)
    }
}

extension SeededGenerator {
    /// A uniform value in `[low, high)` (torch's `uniform_`), drawn in Double.
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * nextDouble()
    }

    /// An integer in `low..<high` (torch's `randint(low, high)`).
    mutating func integer(_ low: Int, _ high: Int) -> Int {
        precondition(high > low, "empty integer range \(low)..<\(high)")
        return low + nextInt(high - low)
    }
}
