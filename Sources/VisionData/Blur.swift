import Foundation
import VisionCore

extension ImageOps {
    /// torchvision's `F.gaussian_blur(img, kernel_size, sigma)` on a float image: each channel convolved with a
    /// `kernelSize.x × kernelSize.y` Gaussian (standard deviations `sigma.x`, `sigma.y` in pixels, each 1-D
    /// kernel normalised to sum 1) over the image reflected at its borders (torch's `reflect`, edge pixel not
    /// repeated). The 2-D kernel is the product of the two 1-D ones, so it runs as two 1-D passes. A kernel reaching
    /// past a whole side, which torch refuses ("padding size should be less than the input dimension"), reflects
    /// again at the far border (the image mirrored periodically); a side of one pixel repeats it.
    public static func gaussianBlur(_ image: FloatImage, kernelSize: (x: Int, y: Int), sigma: (x: Double, y: Double)) -> FloatImage {
        precondition(kernelSize.x > 0 && kernelSize.y > 0 && kernelSize.x % 2 == 1 && kernelSize.y % 2 == 1,
                     "gaussianBlur: kernel sizes must be positive and odd, got \(kernelSize)")
        precondition(sigma.x > 0 && sigma.y > 0, "gaussianBlur: sigma must be positive, got \(sigma)")
        let (c, h, w) = (image.channels, image.height, image.width)
        let kx = gaussianKernel(kernelSize.x, sigma: sigma.x), ky = gaussianKernel(kernelSize.y, sigma: sigma.y)
        let rx = kernelSize.x / 2, ry = kernelSize.y / 2
        // Source columns and rows of every tap, reflected once up front.
        let columns = (0..<w).map { x in (-rx...rx).map { sourceIndex(x + $0, w, .reflect)! } }
        let rows = (0..<h).map { y in (-ry...ry).map { sourceIndex(y + $0, h, .reflect)! } }
        var horizontal = [Float](repeating: 0, count: image.pixels.count)
        var out = [Float](repeating: 0, count: image.pixels.count)
        for k in 0..<c {
            let plane = k * h * w
            for y in 0..<h {
                let row = plane + y * w
                for x in 0..<w {
                    var sum: Float = 0
                    for (tap, column) in columns[x].enumerated() { sum += kx[tap] * image.pixels[row + column] }
                    horizontal[row + x] = sum
                }
            }
            for y in 0..<h {
                for x in 0..<w {
                    var sum: Float = 0
                    for (tap, source) in rows[y].enumerated() { sum += ky[tap] * horizontal[plane + source * w + x] }
                    out[plane + y * w + x] = sum
                }
            }
        }
        return FloatImage(channels: c, height: h, width: w, pixels: out)
    }

    /// torchvision's `_get_gaussian_kernel1d` in float32: `exp(−½(x/σ)²)` at `x = linspace(−(k−1)/2, (k−1)/2, k)`,
    /// divided by its sum.
    public static func gaussianKernel(_ size: Int, sigma: Double) -> [Float] {
        let half = Float(size - 1) * 0.5
        let s = Float(sigma)
        let pdf = linspace(-half, half, size).map { x -> Float in
            let z = x / s
            return Foundation.exp(-0.5 * z * z)
        }
        let total = pdf.reduce(0, +)
        return pdf.map { $0 / total }
    }
}

/// torchvision's `GaussianBlur(kernel_size, sigma)`: blurs each image with a Gaussian whose standard deviation
/// (the same along both axes) is drawn uniformly from `sigma` per image. Masks are left as they are.
public struct GaussianBlur: Transform {
    public let kernelSize: (x: Int, y: Int)
    public let sigma: ClosedRange<Double>

    /// - Parameters:
    ///   - kernelSize: odd, positive sizes along x (width) and y (height).
    ///   - sigma: the standard deviation's range in pixels (torchvision's default `0.1…2`).
    public init(kernelSize: (x: Int, y: Int), sigma: ClosedRange<Double> = 0.1...2) {
        precondition(kernelSize.x > 0 && kernelSize.y > 0 && kernelSize.x % 2 == 1 && kernelSize.y % 2 == 1,
                     "GaussianBlur: kernel sizes must be positive and odd, got \(kernelSize)")
        precondition(sigma.lowerBound > 0, "GaussianBlur: sigma must be positive, got \(sigma)")
        self.kernelSize = kernelSize; self.sigma = sigma
    }

    /// A square kernel.
    public init(kernelSize: Int, sigma: ClosedRange<Double> = 0.1...2) {
        self.init(kernelSize: (kernelSize, kernelSize), sigma: sigma)
    }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        let s = generator.uniform(sigma.lowerBound, sigma.upperBound)
        image = ImageOps.gaussianBlur(image, kernelSize: kernelSize, sigma: (s, s))
    }
}
