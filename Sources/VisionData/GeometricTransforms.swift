import Foundation
import VisionCore

@inline(__always)
func checkMaskAligned(_ image: FloatImage, _ mask: LabelMask?, _ name: String) {
    if let mask {
        precondition(mask.height == image.height && mask.width == image.width,
                     "\(name): mask [\(mask.height), \(mask.width)] does not match image [\(image.height), \(image.width)]")
    }
}

/// Mirrors left–right with probability `p` (image and mask together).
public struct RandomHorizontalFlip: Transform {
    public let p: Float

    public init(p: Float = 0.5) { self.p = p }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomHorizontalFlip")
        guard generator.nextUniform() < p else { return }
        ImageOps.flipHorizontal(&image)
        if mask != nil { ImageOps.flipHorizontal(&mask!) }
    }
}

/// Mirrors top–bottom with probability `p` (image and mask together).
public struct RandomVerticalFlip: Transform {
    public let p: Float

    public init(p: Float = 0.5) { self.p = p }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomVerticalFlip")
        guard generator.nextUniform() < p else { return }
        ImageOps.flipVertical(&image)
        if mask != nil { ImageOps.flipVertical(&mask!) }
    }
}

/// Rotates by a multiple of 90° counter-clockwise, chosen uniformly from `quarterTurns`
/// (odd turns swap height and width; exact, no resampling).
public struct RandomRotation90: Transform {
    public let quarterTurns: [Int]

    public init(quarterTurns: [Int] = [0, 1, 2, 3]) {
        precondition(!quarterTurns.isEmpty, "RandomRotation90 needs at least one choice")
        self.quarterTurns = quarterTurns
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomRotation90")
        let turns = quarterTurns[generator.nextInt(quarterTurns.count)]
        guard turns % 4 != 0 else { return }
        image = ImageOps.rotate90(image, quarterTurns: turns)
        if let current = mask { mask = ImageOps.rotate90(current, quarterTurns: turns) }
    }
}

/// Rotates by an angle drawn uniformly from `degrees` (counter-clockwise positive), keeping the size.
/// The image is sampled with `interpolation` (default bilinear; torchvision's default is nearest, which samples
/// exactly as its `F.rotate`) and `fill` outside; the mask by nearest neighbour with `maskFill`.
public struct RandomRotation: Transform {
    public let degrees: ClosedRange<Double>
    public let interpolation: Interpolation
    public let fill: [Float]
    public let maskFill: Int

    public init(degrees: ClosedRange<Double>, interpolation: Interpolation = .bilinear, fill: [Float] = [0], maskFill: Int = 0) {
        self.degrees = degrees
        self.interpolation = interpolation
        self.fill = fill
        self.maskFill = maskFill
    }

    /// Angles in `[−degrees, degrees]`, as torchvision's `RandomRotation(degrees)`.
    public init(degrees: Double, interpolation: Interpolation = .bilinear, fill: [Float] = [0], maskFill: Int = 0) {
        precondition(degrees >= 0, "RandomRotation: degrees must be non-negative, got \(degrees)")
        self.init(degrees: -degrees...degrees, interpolation: interpolation, fill: fill, maskFill: maskFill)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomRotation")
        let angle = generator.uniform(degrees.lowerBound, degrees.upperBound)
        if interpolation == .nearest {
            // torchvision's grid for image and mask alike, so both pick the same pixels.
            let matrix = ImageOps.inverseAffineMatrix(angle: -angle)
            image = ImageOps.affine(image, matrix: matrix, interpolation: .nearest, fill: fill)
            if let current = mask { mask = ImageOps.affine(current, matrix: matrix, fill: maskFill) }
            return
        }
        image = ImageOps.rotate(image, degrees: angle, fill: fill)
        if let current = mask { mask = ImageOps.rotate(current, degrees: angle, fill: maskFill) }
    }
}

/// Pads by `padding` on every side, then crops a `size` window at a uniform position (torchvision's
/// `RandomCrop(size, padding, pad_if_needed, padding_mode)`). Constant padding fills the mask with
/// `maskFill`. With `padIfNeeded`, an image smaller than the crop lands at a uniform position inside
/// the window instead (padded as `paddingMode` says).
public struct RandomCrop: Transform {
    public let size: (Int, Int)
    public let padding: Int
    public let paddingMode: PaddingMode
    public let maskFill: Int
    public let padIfNeeded: Bool

    public init(size: (Int, Int), padding: Int = 0, padIfNeeded: Bool = false, paddingMode: PaddingMode = .zero, maskFill: Int = 0) {
        precondition(size.0 > 0 && size.1 > 0 && padding >= 0,
                     "RandomCrop: size must be positive and padding non-negative, got size \(size), padding \(padding)")
        self.size = size
        self.padding = padding
        self.padIfNeeded = padIfNeeded
        self.paddingMode = paddingMode
        self.maskFill = maskFill
    }

    /// A square crop.
    public init(size: Int, padding: Int = 0, padIfNeeded: Bool = false, paddingMode: PaddingMode = .zero, maskFill: Int = 0) {
        self.init(size: (size, size), padding: padding, padIfNeeded: padIfNeeded, paddingMode: paddingMode, maskFill: maskFill)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomCrop")
        let paddedH = image.height + 2 * padding, paddedW = image.width + 2 * padding
        precondition(padIfNeeded || (size.0 <= paddedH && size.1 <= paddedW),
                     "RandomCrop: crop \(size) larger than padded image (\(paddedH), \(paddedW))")
        // Where the window starts in padded coordinates (negative: the image sits inside it).
        func start(_ padded: Int, _ window: Int) -> Int {
            padded >= window ? generator.integer(0, padded - window + 1) : -generator.integer(0, window - padded + 1)
        }
        let top = start(paddedH, size.0) - padding
        let left = start(paddedW, size.1) - padding
        image = ImageOps.crop(image, top: top, left: left, height: size.0, width: size.1, padding: paddingMode)
        if let current = mask {
            mask = ImageOps.crop(current, top: top, left: left, height: size.0, width: size.1,
                                 padding: paddingMode, fill: maskFill)
        }
    }
}

/// Crops the central `size` window (top `round((H − h)/2)`, half to even, as torchvision); a crop larger
/// than the image pads with zeros (and `maskFill`).
public struct CenterCrop: Transform {
    public let size: (Int, Int)
    public let maskFill: Int

    public init(size: (Int, Int), maskFill: Int = 0) {
        precondition(size.0 > 0 && size.1 > 0, "CenterCrop: size must be positive, got \(size)")
        self.size = size
        self.maskFill = maskFill
    }

    public init(size: Int, maskFill: Int = 0) { self.init(size: (size, size), maskFill: maskFill) }

    static func offset(_ extent: Int, _ crop: Int) -> Int {
        if crop > extent { return -((crop - extent) / 2) }
        return Int((Double(extent - crop) / 2).rounded(.toNearestOrEven))
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "CenterCrop")
        let top = CenterCrop.offset(image.height, size.0), left = CenterCrop.offset(image.width, size.1)
        image = ImageOps.crop(image, top: top, left: left, height: size.0, width: size.1, padding: .zero)
        if let current = mask {
            mask = ImageOps.crop(current, top: top, left: left, height: size.0, width: size.1, padding: .zero, fill: maskFill)
        }
    }
}

/// Pads every side (torchvision's `Pad(padding, fill, padding_mode)`): `left`, `top`, `right`, `bottom` pixels of
/// `fill` (constant), of the edge pixel repeated (`.replicate`, torchvision's `edge`), or of the image mirrored
/// without repeating the edge (`.reflect`) or with it (`.symmetric`). A mask is padded alike, with `maskFill` where the image takes a constant.
public struct Pad: Transform {
    public let left: Int, top: Int, right: Int, bottom: Int
    public let mode: PaddingMode
    public let maskFill: Int

    public init(left: Int, top: Int, right: Int, bottom: Int, mode: PaddingMode = .zero, maskFill: Int = 0) {
        precondition(left >= 0 && top >= 0 && right >= 0 && bottom >= 0,
                     "Pad: padding must not be negative, got left \(left), top \(top), right \(right), bottom \(bottom)")
        self.left = left; self.top = top; self.right = right; self.bottom = bottom
        self.mode = mode; self.maskFill = maskFill
    }

    /// The same padding on every side (torchvision's `Pad(p)`).
    public init(_ padding: Int, mode: PaddingMode = .zero, maskFill: Int = 0) {
        self.init(left: padding, top: padding, right: padding, bottom: padding, mode: mode, maskFill: maskFill)
    }

    /// `horizontal` on the left and right, `vertical` on the top and bottom (torchvision's `Pad((h, v))`).
    public init(horizontal: Int, vertical: Int, mode: PaddingMode = .zero, maskFill: Int = 0) {
        self.init(left: horizontal, top: vertical, right: horizontal, bottom: vertical, mode: mode, maskFill: maskFill)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "Pad")
        let (h, w) = (image.height + top + bottom, image.width + left + right)
        image = ImageOps.crop(image, top: -top, left: -left, height: h, width: w, padding: mode)
        if let current = mask { mask = ImageOps.crop(current, top: -top, left: -left, height: h, width: w, padding: mode, fill: maskFill) }
    }
}

/// Resizes to a fixed size, or so the shorter side has a given length (mask: nearest).
public struct Resize: Transform {
    public enum Target: Sendable {
        case size(Int, Int)
        case shorterSide(Int)
    }

    public let target: Target
    public let interpolation: Interpolation
    public let antialias: Bool

    public init(size: (Int, Int), interpolation: Interpolation = .bilinear, antialias: Bool = true) {
        self.target = .size(size.0, size.1)
        self.interpolation = interpolation
        self.antialias = antialias
    }

    public init(shorterSide: Int, interpolation: Interpolation = .bilinear, antialias: Bool = true) {
        self.target = .shorterSide(shorterSide)
        self.interpolation = interpolation
        self.antialias = antialias
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "Resize")
        let size: (Int, Int)
        switch target {
        case .size(let h, let w): size = (h, w)
        case .shorterSide(let side): size = ImageOps.sizeForShorterSide(side, height: image.height, width: image.width)
        }
        image = ImageOps.resize(image, to: size, interpolation: interpolation, antialias: antialias)
        if let current = mask { mask = ImageOps.resize(current, to: size) }
    }
}

/// Crops a random region and resizes it to `size` (torchvision's `RandomResizedCrop`): up to 10 tries
/// draw an area fraction from `scale` and a log-uniform aspect ratio from `ratio`; the first region that
/// fits is used, otherwise a central crop clamped to the ratio range.
public struct RandomResizedCrop: Transform {
    public let size: (Int, Int)
    public let scale: (Double, Double)
    public let ratio: (Double, Double)
    public let interpolation: Interpolation
    public let antialias: Bool

    public init(size: (Int, Int), scale: (Double, Double) = (0.08, 1), ratio: (Double, Double) = (3.0 / 4, 4.0 / 3),
                interpolation: Interpolation = .bilinear, antialias: Bool = true) {
        precondition(size.0 > 0 && size.1 > 0, "RandomResizedCrop: size must be positive, got \(size)")
        precondition(scale.0 > 0 && scale.0 <= scale.1 && ratio.0 > 0 && ratio.0 <= ratio.1,
                     "RandomResizedCrop: bad scale \(scale) or ratio \(ratio)")
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.interpolation = interpolation
        self.antialias = antialias
    }

    public init(size: Int, scale: (Double, Double) = (0.08, 1), ratio: (Double, Double) = (3.0 / 4, 4.0 / 3)) {
        self.init(size: (size, size), scale: scale, ratio: ratio)
    }

    /// The crop `(top, left, height, width)` for an image of the given size.
    public func cropRegion(height: Int, width: Int, generator: inout SeededGenerator) -> (Int, Int, Int, Int) {
        let area = Double(height * width)
        let logRatio = (log(ratio.0), log(ratio.1))
        for _ in 0..<10 {
            let targetArea = area * generator.uniform(scale.0, scale.1)
            let aspect = exp(generator.uniform(logRatio.0, logRatio.1))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = generator.integer(0, height - h + 1)
                let left = generator.integer(0, width - w + 1)
                return (top, left, h, w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var (h, w) = (height, width)
        if inRatio < ratio.0 {
            h = Int((Double(w) / ratio.0).rounded(.toNearestOrEven))
        } else if inRatio > ratio.1 {
            w = Int((Double(h) * ratio.1).rounded(.toNearestOrEven))
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        checkMaskAligned(image, mask, "RandomResizedCrop")
        let (top, left, h, w) = cropRegion(height: image.height, width: image.width, generator: &generator)
        let cropped = ImageOps.crop(image, top: top, left: left, height: h, width: w)
        image = ImageOps.resize(cropped, to: size, interpolation: interpolation, antialias: antialias)
        if let current = mask {
            mask = ImageOps.resize(ImageOps.crop(current, top: top, left: left, height: h, width: w), to: size)
        }
    }
}
