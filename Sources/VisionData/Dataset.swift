import VisionCore

/// What a sample is supervised with: a class index or a per-pixel class mask.
public enum SampleTarget: Sendable, Equatable {
    case label(Int)
    case mask(LabelMask)
}

/// One dataset item: an image in `[0, 1]` and its target.
public struct Sample: Sendable, Equatable {
    public var image: FloatImage
    public var target: SampleTarget

    public init(image: FloatImage, label: Int) {
        self.image = image
        self.target = .label(label)
    }

    public init(image: FloatImage, mask: LabelMask) {
        self.image = image
        self.target = .mask(mask)
    }

    public init(image: FloatImage, target: SampleTarget) {
        self.image = image
        self.target = target
    }

    /// The class index, or nil for a segmentation sample.
    public var label: Int? {
        if case .label(let value) = target { return value }
        return nil
    }

    /// The mask, or nil for a classification sample.
    public var mask: LabelMask? {
        get {
            if case .mask(let value) = target { return value }
            return nil
        }
        set {
            if let newValue { target = .mask(newValue) }
        }
    }
}

/// A random-access collection of samples, in the spirit of `torch.utils.data.Dataset`.
///
/// Implementations must be safe to read from several threads at once (`sample(at:)` is called by the
/// `DataLoader`'s workers); the built-in datasets are immutable after loading.
public protocol Dataset: Sendable {
    /// Number of samples.
    var count: Int { get }
    /// Class names indexed by label (or by mask value for segmentation); may be empty.
    var classNames: [String] { get }
    /// Decodes sample `index` in `0..<count`. Errors name the file that failed.
    func sample(at index: Int) throws -> Sample
    /// The file sample `index` is read from, for messages about it; nil when it has none (in-memory data).
    func sourcePath(at index: Int) -> String?
}

extension Dataset {
    public func sourcePath(at index: Int) -> String? { nil }
}

extension Dataset {
    /// Class counts by label for classification datasets (decodes every sample; meant for small sets).
    public func labelHistogram() throws -> [Int: Int] {
        var histogram: [Int: Int] = [:]
        for index in 0..<count {
            if let label = try sample(at: index).label { histogram[label, default: 0] += 1 }
        }
        return histogram
    }
}

/// A dataset of samples already held in memory (handy for tests and synthetic data).
public struct ArrayDataset: Dataset {
    public let samples: [Sample]
    public let classNames: [String]

    public init(_ samples: [Sample], classNames: [String] = []) {
        self.samples = samples
        self.classNames = classNames
    }

    public var count: Int { samples.count }

    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < samples.count, "index \(index) out of range 0..<\(samples.count)")
        return samples[index]
    }
}
