import VisionCore

/// One sample's image as planar Float32 values: channel-major `[C, H, W]`, normally in `[0, 1]`.
///
/// Transforms work on this value type rather than on `Tensor`: it is `Sendable`, so worker threads
/// can decode and augment samples, and it records no autograd graph. `tensor` turns it into a
/// `Tensor` of shape `[C, H, W]`; the `DataLoader` copies samples straight into `[N, C, H, W]` batches.
public struct FloatImage: Sendable, Equatable {
    public var channels: Int
    public var height: Int
    public var width: Int
    /// `pixels[(c·height + y)·width + x]`.
    public var pixels: [Float]

    public init(channels: Int, height: Int, width: Int, pixels: [Float]) {
        precondition(channels > 0 && height >= 0 && width >= 0,
                     "FloatImage needs positive channels and non-negative extents, got [\(channels), \(height), \(width)]")
        precondition(pixels.count == channels * height * width,
                     "FloatImage [\(channels), \(height), \(width)] needs \(channels * height * width) values, got \(pixels.count)")
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// An image filled with one value.
    public init(channels: Int, height: Int, width: Int, value: Float = 0) {
        self.init(channels: channels, height: height, width: width,
                  pixels: [Float](repeating: value, count: channels * height * width))
    }

    /// Planar 8-bit values (`[C, H, W]` order) scaled by 1/255, as torchvision's `ToTensor`.
    public init(planarBytes bytes: UnsafeBufferPointer<UInt8>, channels: Int, height: Int, width: Int) {
        precondition(bytes.count == channels * height * width,
                     "planar bytes: expected \(channels * height * width) values for [\(channels), \(height), \(width)], got \(bytes.count)")
        let values = [Float](unsafeUninitializedCapacity: bytes.count) { out, initialized in
            for i in 0..<bytes.count { out[i] = Float(bytes[i]) / 255 }
            initialized = bytes.count
        }
        self.init(channels: channels, height: height, width: width, pixels: values)
    }

    /// Interleaved 8-bit values (`[H, W, C]` order, as decoders produce) scaled by 1/255 into planes.
    public init(interleavedBytes bytes: UnsafeBufferPointer<UInt8>, channels: Int, height: Int, width: Int) {
        let planeSize = height * width
        precondition(bytes.count == planeSize * channels,
                     "interleaved bytes: expected \(planeSize * channels) values for [\(height), \(width), \(channels)], got \(bytes.count)")
        let values = [Float](unsafeUninitializedCapacity: bytes.count) { out, initialized in
            for c in 0..<channels {
                var source = c
                let base = c * planeSize
                for p in 0..<planeSize {
                    out[base + p] = Float(bytes[source]) / 255
                    source += channels
                }
            }
            initialized = bytes.count
        }
        self.init(channels: channels, height: height, width: width, pixels: values)
    }

    /// From a `[C, H, W]` tensor.
    public init(_ tensor: Tensor) {
        precondition(tensor.rank == 3, "FloatImage expects a [C, H, W] tensor, got shape \(tensor.shape)")
        self.init(channels: tensor.shape[0], height: tensor.shape[1], width: tensor.shape[2], pixels: tensor.storage)
    }

    /// A `[C, H, W]` tensor with these values.
    public var tensor: Tensor { Tensor(shape: [channels, height, width], storage: pixels) }

    /// `height · width`.
    public var planeSize: Int { height * width }
    /// `(height, width)`.
    public var size: (Int, Int) { (height, width) }

    /// The value at channel `c`, row `y`, column `x` (slow; for tests and small work).
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { pixels[(c * height + y) * width + x] }
        set { pixels[(c * height + y) * width + x] = newValue }
    }
}

/// A segmentation target: one class index per pixel, row-major `[H, W]`.
public struct LabelMask: Sendable, Equatable {
    /// The label of pixels that carry none (a crop reaching past the image): losses and metrics skip it.
    public static let ignored = -1

    public var height: Int
    public var width: Int
    /// `labels[y·width + x]`.
    public var labels: [Int]

    public init(height: Int, width: Int, labels: [Int]) {
        precondition(height >= 0 && width >= 0, "LabelMask extents must be non-negative, got [\(height), \(width)]")
        precondition(labels.count == height * width,
                     "LabelMask [\(height), \(width)] needs \(height * width) labels, got \(labels.count)")
        self.height = height
        self.width = width
        self.labels = labels
    }

    public init(height: Int, width: Int, value: Int = 0) {
        self.init(height: height, width: width, labels: [Int](repeating: value, count: height * width))
    }

    /// `(height, width)`.
    public var size: (Int, Int) { (height, width) }

    public subscript(y: Int, x: Int) -> Int {
        get { labels[y * width + x] }
        set { labels[y * width + x] = newValue }
    }

    /// The labels as a `[H, W]` Float tensor.
    public var tensor: Tensor { Tensor(shape: [height, width], storage: labels.map(Float.init)) }
}
