import Foundation
import VisionCore

/// MixUp and CutMix on a classification batch, as torchvision's `transforms.v2.MixUp` and
/// `transforms.v2.CutMix` (and, with both enabled, `RandomChoice([MixUp, CutMix])` as in its reference
/// training script): each sample is mixed with its neighbour in the batch rolled by one (sample `i`
/// with sample `i − 1`, the first with the last), and the targets become class probabilities.
///
/// - MixUp (Zhang et al. 2018): `λ ~ Beta(α, α)`, `x = λ·x_i + (1 − λ)·x_{i−1}`.
/// - CutMix (Yun et al. 2019): `λ ~ Beta(α, α)`; a box of sides `W·√(1 − λ)` × `H·√(1 − λ)` centred on a
///   uniformly drawn pixel, clipped to the image, is pasted from `x_{i−1}`, and `λ` becomes the share of
///   the image left uncovered.
///
/// The targets are `λ·onehot(y_i) + (1 − λ)·onehot(y_{i−1})`, to be used with
/// `crossEntropy(_:probabilities:labelSmoothing:)`. One `λ` (and one box) serves the whole batch.
public struct BatchMixing: Sendable, Equatable {
    public enum Kind: String, Sendable { case mixup, cutmix }

    /// The result of mixing one batch.
    public struct Mixed {
        public let images: Tensor
        /// `[N, classes]` class probabilities.
        public let targets: Tensor
        public let kind: Kind
        /// Weight of each sample's own label (after CutMix's adjustment to the box actually pasted).
        public let lambda: Float
    }

    /// Beta concentration for MixUp; 0 disables it.
    public let mixupAlpha: Double
    /// Beta concentration for CutMix; 0 disables it.
    public let cutmixAlpha: Double

    /// Both concentrations must be finite and ≥ 0 (the trainer checks its options before building one).
    public init(mixupAlpha: Double = 0, cutmixAlpha: Double = 0) {
        precondition(mixupAlpha >= 0 && mixupAlpha.isFinite && cutmixAlpha >= 0 && cutmixAlpha.isFinite,
                     "BatchMixing: alphas must be finite and ≥ 0, got \(mixupAlpha), \(cutmixAlpha)")
        self.mixupAlpha = mixupAlpha
        self.cutmixAlpha = cutmixAlpha
    }

    /// Whether any mixing happens.
    public var isEnabled: Bool { mixupAlpha > 0 || cutmixAlpha > 0 }

    /// The generator for one training step: a function of the run's seed and the global step only,
    /// so a resumed run mixes exactly as an uninterrupted one.
    public static func generator(seed: UInt64, step: Int) -> SeededGenerator {
        SeededGenerator(seed: seed ^ 0x6D69_7875_705F_6375).split(UInt64(step))
    }

    /// Mixes `images` (`[N, C, H, W]`) whose labels are `labels` (in `0..<classes`).
    public func apply(images: Tensor, labels: [Int], classes: Int, generator: inout SeededGenerator) -> Mixed {
        precondition(isEnabled, "BatchMixing.apply needs --mixup-alpha or --cutmix-alpha above 0")
        precondition(images.rank == 4 && images.shape[0] == labels.count,
                     "BatchMixing expects images [N, C, H, W] with one label each, got \(images.shape) and \(labels.count) labels")
        let kind: Kind
        switch (mixupAlpha > 0, cutmixAlpha > 0) {
        case (true, true): kind = generator.nextUniform() < 0.5 ? .mixup : .cutmix
        case (true, false): kind = .mixup
        default: kind = .cutmix
        }
        let alpha = kind == .mixup ? mixupAlpha : cutmixAlpha
        var lambda = Float(generator.nextBeta(alpha, alpha))
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let plane = h * w, sample = c * plane
        let source = images.storage
        var mixed = source
        func partner(_ i: Int) -> Int { (i + n - 1) % n }
        switch kind {
        case .mixup:
            for i in 0..<n {
                let own = i * sample, other = partner(i) * sample
                for k in 0..<sample { mixed[own + k] = lambda * source[own + k] + (1 - lambda) * source[other + k] }
            }
        case .cutmix:
            let centreX = generator.nextInt(w), centreY = generator.nextInt(h)
            let side = 0.5 * (1 - Double(lambda)).squareRoot()
            let halfW = Int(side * Double(w)), halfH = Int(side * Double(h))
            let x0 = max(centreX - halfW, 0), x1 = min(centreX + halfW, w)
            let y0 = max(centreY - halfH, 0), y1 = min(centreY + halfH, h)
            for i in 0..<n {
                for channel in 0..<c {
                    let own = i * sample + channel * plane, other = partner(i) * sample + channel * plane
                    for y in y0..<y1 {
                        for x in x0..<x1 { mixed[own + y * w + x] = source[other + y * w + x] }
                    }
                }
            }
            lambda = 1 - Float((x1 - x0) * (y1 - y0)) / Float(plane)
        }
        var targets = [Float](repeating: 0, count: n * classes)
        for (i, label) in labels.enumerated() {
            precondition(label >= 0 && label < classes, "BatchMixing: label \(label) out of range for \(classes) classes")
            targets[i * classes + label] += lambda
            targets[i * classes + labels[partner(i)]] += 1 - lambda
        }
        return Mixed(images: Tensor(shape: images.shape, storage: mixed), targets: Tensor(shape: [n, classes], storage: targets),
                     kind: kind, lambda: lambda)
    }
}
