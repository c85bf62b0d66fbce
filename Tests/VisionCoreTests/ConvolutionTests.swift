import TestSupport
import VisionCore
import XCTest

/// A convolution configuration for the sweeps (per-axis pairs are (height, width)).
private struct ConvCase {
    var batch = 2, channels = 4, height = 7, width = 6, outChannels = 6
    var kernel = (3, 3), stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1
    var bias = true
}

/// The definition of `conv2d`, seven nested loops accumulated in Double.
private func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ c: ConvCase) -> Tensor {
    let outHeight = (c.height + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1) / c.stride.0 + 1
    let outWidth = (c.width + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1) / c.stride.1 + 1
    let inPerGroup = c.channels / c.groups, outPerGroup = c.outChannels / c.groups
    let y = Tensor.zeros([c.batch, c.outChannels, outHeight, outWidth])
    for n in 0..<c.batch {
        for k in 0..<c.outChannels {
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    var total = Double(b?.storage[k] ?? 0)
                    for ci in 0..<inPerGroup {
                        let channel = (k / outPerGroup) * inPerGroup + ci
                        for i in 0..<c.kernel.0 {
                            for j in 0..<c.kernel.1 {
                                let iy = oh * c.stride.0 - c.padding.0 + i * c.dilation.0
                                let ix = ow * c.stride.1 - c.padding.1 + j * c.dilation.1
                                guard iy >= 0 && iy < c.height && ix >= 0 && ix < c.width else { continue }
                                total += Double(w[k, ci, i, j]) * Double(x[n, channel, iy, ix])
                            }
                        }
                    }
                    y[n, k, oh, ow] = Float(total)
                }
            }
        }
    }
    return y
}

/// The definition of `convTranspose2d` (PyTorch's `conv_transpose2d`): every input pixel scatters
/// `x[n, c, ih, iw] · w[c, k, i, j]` to `y[n, group·K/G + k, ih·S − P + i·D, iw·S − P + j·D]`, in Double.
private func naiveConvTranspose2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int),
                                  outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                  groups: Int = 1) -> Tensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let outPerGroup = w.shape[1], outChannels = outPerGroup * groups, inPerGroup = channels / groups
    let (kh, kw) = (w.shape[2], w.shape[3])
    let outHeight = (height - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
    let outWidth = (width - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
    var total = [Double](repeating: 0, count: batch * outChannels * outHeight * outWidth)
    for n in 0..<batch {
        for c in 0..<channels {
            for k in 0..<outPerGroup {
                let o = (c / inPerGroup) * outPerGroup + k
                for ih in 0..<height {
                    for iw in 0..<width {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let oy = ih * stride.0 - padding.0 + i * dilation.0
                                let ox = iw * stride.1 - padding.1 + j * dilation.1
                                guard oy >= 0 && oy < outHeight && ox >= 0 && ox < outWidth else { continue }
                                total[((n * outChannels + o) * outHeight + oy) * outWidth + ox] +=
                                    Double(x[n, c, ih, iw]) * Double(w[c, k, i, j])
                            }
                        }
                    }
                }
            }
        }
    }
    let plane = outHeight * outWidth
    var values = [Float](repeating: 0, count: total.count)
    for index in 0..<total.count {
        values[index] = Float(total[index] + Double(b?.storage[(index / plane) % outChannels] ?? 0))
    }
    return Tensor(values, shape: [batch, outChannels, outHeight, outWidth])
}

/// Column buffer limits forcing one-row bands, exactly one image per chunk, and the whole batch.
private func columnLimits(_ c: ConvCase) -> [Int] {
    let outHeight = (c.height + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1) / c.stride.0 + 1
    let outWidth = (c.width + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1) / c.stride.1 + 1
    return [1, c.channels * c.kernel.0 * c.kernel.1 * outHeight * outWidth, 1 << 21]
}

private func inner(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// Runs `body` with a given column buffer limit, restoring the default afterwards.
private func withColumnLimit<R>(_ limit: Int, _ body: () -> R) -> R {
    let saved = ConvolutionTuning.columnBufferLimit
    ConvolutionTuning.columnBufferLimit = limit
    defer { ConvolutionTuning.columnBufferLimit = saved }
    return body()
}

/// A convolution path: im2col + OpenBLAS, or the packed kernels of one instruction set.
private enum ConvolutionPath: CustomStringConvertible {
    case blas
    case packed(PackedKernelInstructionSet)

    var description: String {
        switch self {
        case .blas: "im2col + OpenBLAS"
        case .packed(let set): "packed \(set)"
        }
    }
}

/// Runs `body` on one convolution path, restoring the defaults afterwards.
private func withPath<R>(_ path: ConvolutionPath, _ body: () -> R) -> R {
    let saved = (ConvolutionTuning.packedKernelInstructionSet, ConvolutionTuning.usesPackedKernel)
    defer {
        ConvolutionTuning.packedKernelInstructionSet = saved.0
        ConvolutionTuning.usesPackedKernel = saved.1
    }
    switch path {
    case .blas:
        ConvolutionTuning.usesPackedKernel = false
    case .packed(let set):
        ConvolutionTuning.usesPackedKernel = true
        ConvolutionTuning.packedKernelInstructionSet = set
    }
    return body()
}

/// The packed paths this machine runs: AVX2 where the CPU has AVX2 and FMA, AVX2 and AVX-512 where it has AVX-512.
private let packedPaths: [ConvolutionPath] = [PackedKernelInstructionSet.avx2, .avx512]
    .filter { set in ConvolutionTuning.supportedPackedKernelInstructionSet.map { set <= $0 } ?? false }
    .map { .packed($0) }

/// Every convolution path this machine has: OpenBLAS always, then the packed ones.
private let convolutionPaths: [ConvolutionPath] = [.blas] + packedPaths

private let noPackedKernels = "this CPU has neither AVX-512 nor AVX2 with FMA"

final class ConvolutionTests: XCTestCase {
    private let sweep: [ConvCase] = [
        ConvCase(),
        ConvCase(padding: (1, 1)),
        ConvCase(stride: (2, 2), padding: (1, 1), bias: false),
        ConvCase(kernel: (3, 2), stride: (2, 1), padding: (0, 1), dilation: (1, 2), groups: 2),
        ConvCase(height: 9, width: 8, kernel: (2, 3), stride: (3, 2), padding: (2, 1)),
        ConvCase(dilation: (2, 2), bias: false),
        ConvCase(channels: 6, outChannels: 6, kernel: (3, 3), padding: (1, 1), groups: 6),
        ConvCase(channels: 4, outChannels: 2, kernel: (1, 1)),
        ConvCase(channels: 4, outChannels: 4, kernel: (1, 1), stride: (2, 2), groups: 2, bias: false),
        ConvCase(batch: 1, channels: 1, height: 5, width: 5, outChannels: 1, kernel: (5, 5), padding: (0, 0)),
        ConvCase(batch: 3, channels: 2, height: 4, width: 10, outChannels: 3, kernel: (1, 4), stride: (1, 3), padding: (1, 2)),
        // "Same" convolutions whose taps are shifted copies of the plane, including shifts as wide as the image.
        ConvCase(batch: 3, channels: 2, height: 3, width: 2, outChannels: 2, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
        ConvCase(batch: 2, channels: 3, height: 5, width: 4, outChannels: 4, kernel: (1, 3), padding: (0, 1), groups: 1),
        // More output channels than column rows: the weight gradient is computed untransposed.
        ConvCase(batch: 2, channels: 1, height: 4, width: 5, outChannels: 12, kernel: (2, 2), padding: (1, 0)),
        // A pointwise convolution over planes large enough to run one GEMM per image in place.
        ConvCase(batch: 2, channels: 3, height: 8, width: 9, outChannels: 5, kernel: (1, 1), groups: 1),
    ]

    func testConv2dMatchesNaiveConvolutionOverParameterSweep() {
        var g = SeededGenerator(seed: 10)
        for c in sweep {
            let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g)
            let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g)
            let b = c.bias ? Tensor.normal([c.outChannels], generator: &g) : nil
            let expected = naiveConv2d(x, w, b, c)
            for path in convolutionPaths {
                for limit in columnLimits(c) {
                    let y = withPath(path) {
                        withColumnLimit(limit) {
                            conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
                        }
                    }
                    assertClose(y, expected, rtol: 1e-4, atol: 1e-4, "\(c) column limit \(limit) \(path)")
                }
            }
        }
    }

    /// With the packed kernels, stride-1 input gradients are convolutions with the flipped kernel and 3×3
    /// stride-1 weight gradients are read straight from the images (here on every plane size): both must
    /// equal the im2col + OpenBLAS gradients (other geometries fall back to those in both), on each
    /// instruction set. An infinite input at the end of an image row must make the same weight-gradient
    /// entries non-finite on every path (the AVX2 kernel's masked row tails read nothing past the row).
    func testGradientsAgreeBetweenPackedAndBLASPaths() throws {
        guard !packedPaths.isEmpty else { throw XCTSkip(noPackedKernels) }
        let saved = (ConvolutionTuning.packedWeightGradientMinimumPlane, ConvolutionTuning.packedWeightGradientMaximumChannels)
        (ConvolutionTuning.packedWeightGradientMinimumPlane, ConvolutionTuning.packedWeightGradientMaximumChannels) = (1, .max)
        defer { (ConvolutionTuning.packedWeightGradientMinimumPlane, ConvolutionTuning.packedWeightGradientMaximumChannels) = saved }
        var g = SeededGenerator(seed: 16)
        let cases = sweep + [
            ConvCase(batch: 3, channels: 40, height: 7, width: 7, outChannels: 20, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 2, channels: 12, height: 12, width: 12, outChannels: 24, kernel: (3, 3), padding: (2, 2), dilation: (2, 2), groups: 3),
            ConvCase(batch: 2, channels: 5, height: 9, width: 8, outChannels: 7, kernel: (5, 3), padding: (2, 0)),
            // Weight gradients: a plane of 99 (a part-filled last vector), output rows in threes plus one,
            // one input channel (split by output channels), and several image blocks (planes of 1024).
            ConvCase(batch: 3, channels: 5, height: 9, width: 11, outChannels: 7, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 4, channels: 1, height: 6, width: 6, outChannels: 16, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 3, channels: 40, height: 32, width: 32, outChannels: 40, kernel: (3, 3), padding: (1, 1), bias: false),
            ConvCase(batch: 2, channels: 3, height: 8, width: 8, outChannels: 5, kernel: (3, 3), padding: (0, 1)),
            // AVX2 weight gradients: output planes taller than the input (padding beyond the dilation), then
            // rows of 8 + a 3-lane tail, dilation 2 with 10-wide rows, a 7-lane tail alone.
            ConvCase(batch: 2, channels: 3, height: 6, width: 9, outChannels: 4, kernel: (3, 3), padding: (2, 1)),
            ConvCase(batch: 2, channels: 4, height: 5, width: 11, outChannels: 3, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 2, channels: 3, height: 7, width: 10, outChannels: 4, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
            ConvCase(batch: 3, channels: 2, height: 7, width: 7, outChannels: 2, kernel: (3, 3), padding: (1, 1)),
        ]
        for (index, c) in cases.enumerated() {
            var input = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g).storage
            let withInfinity = index >= cases.count - 3
            if withInfinity { input[c.width - 1] = .infinity }  // image 0, channel 0, end of row 0
            let x = Tensor(input, shape: [c.batch, c.channels, c.height, c.width], requiresGrad: true)
            let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g, requiresGrad: true)
            var gradients: [[Float]] = []
            var upstream: Tensor?
            for path in convolutionPaths {
                x.zeroGrad(); w.zeroGrad()
                withPath(path) {
                    let y = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
                    if upstream == nil { upstream = Tensor.normal(y.shape, generator: &g) }
                    y.backward(upstream!)
                }
                gradients.append(x.grad!.storage + w.grad!.storage)
            }
            for (path, gradient) in zip(convolutionPaths, gradients).dropFirst() {
                if withInfinity {  // dx = Wᵀ·dY does not depend on x, so it stays finite
                    let finite = gradients[0].map(\.isFinite)
                    XCTAssertEqual(gradient.map(\.isFinite), finite, "non-finite gradients, \(path), \(c)")
                    XCTAssertTrue(finite.contains(false) && finite.contains(true), "\(c)")
                    assertClose(zip(gradient, finite).map { $1 ? $0 : 0 }, zip(gradients[0], finite).map { $1 ? $0 : 0 },
                                rtol: 1e-4, atol: 1e-4, "finite gradients, \(path), \(c)")
                } else {
                    assertClose(gradient, gradients[0], rtol: 1e-4, atol: 1e-4, "\(path), \(c)")
                }
            }
        }
    }

    /// Shapes that reach every branch of the packed kernel: several k-blocks (more than 256 column rows),
    /// partial 8-row and 48-column tiles, 16-lane vectors straddling two or more images (planes of 49, 9
    /// and 1), strided and dilated windows, groups, and the split by rows when there are few columns —
    /// each with stride-1 windows both packed and read straight from the images (direct panels: planes
    /// of 16×16 and 8×8 are whole vectors; 64 channels split into k-blocks mid-channel; a 5×5 window).
    func testPackedKernelMatchesNaiveConvolutionOnLargerShapes() throws {
        guard !packedPaths.isEmpty else { throw XCTSkip(noPackedKernels) }
        var g = SeededGenerator(seed: 15)
        let cases = [
            ConvCase(batch: 5, channels: 40, height: 7, width: 7, outChannels: 20, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 3, channels: 9, height: 3, width: 3, outChannels: 13, kernel: (3, 3), padding: (1, 1), bias: false),
            ConvCase(batch: 17, channels: 3, height: 1, width: 1, outChannels: 8, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 4, channels: 30, height: 11, width: 13, outChannels: 17, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
            ConvCase(batch: 2, channels: 12, height: 12, width: 12, outChannels: 24, kernel: (3, 3), padding: (2, 2), dilation: (2, 2), groups: 3),
            ConvCase(batch: 1, channels: 64, height: 2, width: 2, outChannels: 72, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 3, channels: 33, height: 10, width: 10, outChannels: 9, kernel: (1, 1), bias: false),
            ConvCase(batch: 2, channels: 3, height: 15, width: 15, outChannels: 16, kernel: (7, 7), stride: (2, 2), padding: (3, 3)),
            ConvCase(batch: 3, channels: 64, height: 16, width: 16, outChannels: 24, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 5, channels: 7, height: 8, width: 8, outChannels: 11, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
            ConvCase(batch: 2, channels: 4, height: 12, width: 12, outChannels: 8, kernel: (5, 5), padding: (2, 2), groups: 2),
            // Planes of 25 and 196: vectors split between two images inside a full tile and in the last,
            // part-filled one (the masked two-part store), with 8-row tiles and a part-filled one.
            ConvCase(batch: 3, channels: 20, height: 5, width: 5, outChannels: 19, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 3, channels: 16, height: 14, width: 14, outChannels: 16, kernel: (3, 3), padding: (1, 1)),
        ]
        let saved = (ConvolutionTuning.directPanelMaximumRows, ConvolutionTuning.gatherPacking)
        defer { (ConvolutionTuning.directPanelMaximumRows, ConvolutionTuning.gatherPacking) = saved }
        for c in cases {
            let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g)
            let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g)
            let b = c.bias ? Tensor.normal([c.outChannels], generator: &g) : nil
            let expected = naiveConv2d(x, w, b, c)
            // Strided windows (and rows narrower than the input) packed with gathers, then element by element;
            // direct panels (AVX-512 only) off and everywhere.
            for path in packedPaths {
                for gather in [true, false] {
                    ConvolutionTuning.gatherPacking = gather
                    for direct in [0, Int.max] {
                        ConvolutionTuning.directPanelMaximumRows = direct
                        let y = withPath(path) {
                            conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
                        }
                        assertClose(y, expected, rtol: 1e-4, atol: 1e-4,
                                    "\(c), \(path), direct panels up to \(direct) rows, gather packing \(gather)")
                    }
                }
            }
        }
    }

    /// 3×3 stride-1 convolutions as Winograd F(2×2, 3×3): odd output sizes (cropped tiles), padding 0–2,
    /// groups, more than 256 channels (several k-blocks), output channels off the 8-row tile, the batch
    /// in several chunks, the input gradient (a convolution with the flipped kernel) and the weight gradient
    /// (over the same tiles), both against the direct paths; with the transforms of each instruction set.
    func testWinogradMatchesNaiveConvolution() throws {
        guard !packedPaths.isEmpty else { throw XCTSkip(noPackedKernels) }
        let saved = (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels)
        ConvolutionTuning.winogradMaximumPlane = .max
        ConvolutionTuning.winogradMinimumChannels = 0
        defer { (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels) = saved }
        var g = SeededGenerator(seed: 17)
        let cases = [
            ConvCase(padding: (1, 1)),
            ConvCase(batch: 3, channels: 5, height: 7, width: 9, outChannels: 11, kernel: (3, 3), padding: (0, 0)),
            ConvCase(batch: 2, channels: 6, height: 5, width: 4, outChannels: 6, kernel: (3, 3), padding: (2, 2), groups: 3, bias: false),
            ConvCase(batch: 2, channels: 300, height: 4, width: 4, outChannels: 20, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 13, channels: 40, height: 32, width: 32, outChannels: 40, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 1, channels: 3, height: 1, width: 1, outChannels: 4, kernel: (3, 3), padding: (1, 1)),
        ]
        for path in packedPaths {
            withPath(path) {
                for c in cases {
                    let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g, requiresGrad: true)
                    let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g, requiresGrad: true)
                    let b = c.bias ? Tensor.normal([c.outChannels], generator: &g) : nil
                    let y = conv2d(x, weight: w, bias: b, padding: c.padding, groups: c.groups)
                    assertClose(y, naiveConv2d(x, w, b, c), rtol: 1e-4, atol: 1e-4, "\(c), \(path)")
                    let upstream = Tensor.normal(y.shape, generator: &g)
                    y.backward(upstream)
                    let winogradGradient = x.grad!.storage, winogradWeightGradient = w.grad!.storage
                    x.zeroGrad(); w.zeroGrad()
                    ConvolutionTuning.winogradMaximumPlane = 0
                    conv2d(x, weight: w, bias: b, padding: c.padding, groups: c.groups).backward(upstream)
                    ConvolutionTuning.winogradMaximumPlane = .max
                    assertClose(winogradGradient, x.grad!.storage, rtol: 1e-4, atol: 1e-4, "input gradient \(c), \(path)")
                    let scale = w.grad!.storage.map(abs).max()!
                    assertClose(winogradWeightGradient, w.grad!.storage, rtol: 1e-4, atol: 1e-4 * scale, "weight gradient \(c), \(path)")
                }
            }
        }
    }

    /// `fusedConv2d` (scale, shift, residual, ReLU in the convolution's store) against the separate
    /// operations, on both kernels: the direct packed path (edge tiles, several k-blocks, stride 2,
    /// groups, dilation), Winograd (forced on, odd sizes, groups, several image chunks), each epilogue part alone
    /// and all together, and NaN passing through the ReLU as it does through `relu()`.
    func testFusedConvolutionMatchesSeparateOperations() {
        var g = SeededGenerator(seed: 23)
        let cases = [
            ConvCase(batch: 3, channels: 5, height: 7, width: 9, outChannels: 11, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 2, channels: 40, height: 9, width: 9, outChannels: 19, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 2, channels: 6, height: 10, width: 8, outChannels: 9, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
            ConvCase(batch: 2, channels: 6, height: 8, width: 8, outChannels: 6, kernel: (3, 3), padding: (2, 2), dilation: (2, 2), groups: 3),
            ConvCase(batch: 2, channels: 8, height: 5, width: 5, outChannels: 16, kernel: (1, 1), stride: (2, 2)),
            ConvCase(batch: 2, channels: 6, height: 6, width: 7, outChannels: 9, kernel: (3, 3), padding: (1, 1), groups: 3),
            // Vectors crossing into the next image inside full tiles (7×7) and inside the part-filled last tile (5×5).
            ConvCase(batch: 3, channels: 16, height: 7, width: 7, outChannels: 16, kernel: (3, 3), padding: (1, 1)),
            ConvCase(batch: 3, channels: 16, height: 5, width: 5, outChannels: 16, kernel: (3, 3), padding: (1, 1)),
        ]
        let savedWinograd = (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels)
        defer { (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels) = savedWinograd }
        for path in convolutionPaths {
            for winograd in [false, true] {
                (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels) = winograd ? (.max, 0) : (0, 0)
                for c in cases + (winograd ? [ConvCase(batch: 30, channels: 64, height: 17, width: 15, outChannels: 64,
                                                       kernel: (3, 3), padding: (1, 1))] : []) {
                    let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g)
                    let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g)
                    let scale = (0..<c.outChannels).map { Float($0 % 5) * 0.3 - 0.5 }
                    let shift = (0..<c.outChannels).map { Float($0 % 3) * 0.7 - 0.6 }
                    let plain = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
                    var residualValues = Tensor.normal(plain.shape, generator: &g).storage
                    residualValues[residualValues.count / 2] = .nan
                    let residual = Tensor(residualValues, shape: plain.shape)
                    let perChannel = { (v: [Float]) in Tensor(v, shape: [1, c.outChannels, 1, 1]) }
                    let variants: [(String, [Float]?, [Float]?, Tensor?, Bool, Tensor)] = [
                        ("plain", nil, nil, nil, false, plain),
                        ("scale", scale, nil, nil, false, plain * perChannel(scale)),
                        ("shift + relu", nil, shift, nil, true, (plain + perChannel(shift)).relu()),
                        ("all", scale, shift, residual, true, (plain * perChannel(scale) + perChannel(shift) + residual).relu()),
                    ]
                    for (name, scale, shift, residual, relu, expected) in variants {
                        let y = withPath(path) {
                            fusedConv2d(x, weight: w, scale: scale, shift: shift, residual: residual, relu: relu,
                                        stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
                        }
                        let tag = "\(name), \(path), Winograd \(winograd), \(c)"
                        XCTAssertEqual(y.storage.map(\.isNaN), expected.storage.map(\.isNaN), tag)
                        assertClose(y.storage.map { $0.isNaN ? 0 : $0 }, expected.storage.map { $0.isNaN ? 0 : $0 },
                                    rtol: 1e-4, atol: 1e-4, tag)
                    }
                }
            }
        }
    }

    /// The packed kernels' instruction set can be lowered (an AVX-512 machine runs the AVX2 kernels) but
    /// never raised above the CPU's; none turns the packed kernels off.
    func testPackedKernelInstructionSetIsClampedToTheCPU() {
        let supported = ConvolutionTuning.supportedPackedKernelInstructionSet
        let saved = (ConvolutionTuning.packedKernelInstructionSet, ConvolutionTuning.usesPackedKernel)
        defer {
            ConvolutionTuning.packedKernelInstructionSet = saved.0
            ConvolutionTuning.usesPackedKernel = saved.1
        }
        ConvolutionTuning.packedKernelInstructionSet = .avx512
        XCTAssertEqual(ConvolutionTuning.packedKernelInstructionSet, supported)
        ConvolutionTuning.packedKernelInstructionSet = .avx2
        XCTAssertEqual(ConvolutionTuning.packedKernelInstructionSet, supported == nil ? nil : .avx2)
        ConvolutionTuning.usesPackedKernel = true
        XCTAssertEqual(ConvolutionTuning.usesPackedKernel, supported != nil)
        ConvolutionTuning.packedKernelInstructionSet = nil
        XCTAssertNil(ConvolutionTuning.packedKernelInstructionSet)
        XCTAssertFalse(ConvolutionTuning.usesPackedKernel)
        ConvolutionTuning.usesPackedKernel = true
        XCTAssertFalse(ConvolutionTuning.usesPackedKernel, "no instruction set selected")
        var g = SeededGenerator(seed: 37)
        let c = ConvCase(padding: (1, 1))
        let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g)
        let w = Tensor.normal([c.outChannels, c.channels, 3, 3], generator: &g)
        assertClose(conv2d(x, weight: w, padding: (1, 1)), naiveConv2d(x, w, nil, c), rtol: 1e-4, atol: 1e-4, "OpenBLAS")
    }

    func testConv2dGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 11)
        for c in [sweep[1], sweep[3], sweep[4], sweep[6], sweep[8], sweep[13], sweep[14]] {
            let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g)
            let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g)
            let b = Tensor.normal([c.outChannels], generator: &g)
            checkGradients([x, w, b]) { t in
                conv2d(t[0], weight: t[1], bias: t[2], stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            }
        }
    }

    func testConv2dGradientsDoNotDependOnChunking() {
        var g = SeededGenerator(seed: 12)
        for c in [sweep[1], sweep[2], sweep[3], sweep[7], sweep[11], sweep[12], sweep[13], sweep[14]] {
            let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g, requiresGrad: true)
            let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g, requiresGrad: true)
            // With the packed kernel on, stride-1 input gradients bypass the chunked col2im path; with it
            // off every case runs the chunked im2col/col2im products.
            for path in convolutionPaths {
                var gradients: [[Float]] = []
                for limit in columnLimits(c).reversed() {
                    x.zeroGrad(); w.zeroGrad()
                    withPath(path) {
                        withColumnLimit(limit) {
                            let y = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
                            y.backward(Tensor.full(y.shape, 0.5) + y)
                        }
                    }
                    gradients.append(x.grad!.storage + w.grad!.storage)
                }
                assertClose(gradients[1], gradients[0], rtol: 1e-4, atol: 1e-4, "\(c) one image per chunk, \(path)")
                assertClose(gradients[2], gradients[0], rtol: 1e-4, atol: 1e-4, "\(c) row bands, \(path)")
            }
        }
    }

    func testPointwiseConvolutionIsAMatmulPerImage() {
        var g = SeededGenerator(seed: 13)
        // Small planes are folded into one GEMM over the batch; large ones run a GEMM per image.
        for (height, width) in [(4, 2), (8, 10)] {
            let plane = height * width
            let x = Tensor.normal([3, 5, height, width], generator: &g)
            let w = Tensor.normal([7, 5, 1, 1], generator: &g)
            let y = conv2d(x, weight: w)
            let matrix = w.reshape([7, 5])
            for n in 0..<3 {
                let image = Tensor(Array(x.storage[(n * 5 * plane)..<((n + 1) * 5 * plane)]), shape: [5, plane])
                assertClose(Array(y.storage[(n * 7 * plane)..<((n + 1) * 7 * plane)]), matrix.matmul(image).storage,
                            rtol: 1e-5, atol: 1e-5, "\(height)×\(width) image \(n)")
            }
        }
    }

    func testIm2colHandValues() {
        // One 3×3 image, 2×2 kernel, stride 1, padding 0: four windows of four taps.
        let geometry = ConvolutionGeometry(channels: 1, height: 3, width: 3, kernelSize: (2, 2))
        XCTAssertEqual(geometry.rows, 4)
        XCTAssertEqual([geometry.outputHeight, geometry.outputWidth], [2, 2])
        let columns = im2col((1...9).map(Float.init), batch: 1, geometry: geometry)
        XCTAssertEqual(columns, [1, 2, 4, 5,   // tap (0, 0) over the windows
                                 2, 3, 5, 6,   // tap (0, 1)
                                 4, 5, 7, 8,   // tap (1, 0)
                                 5, 6, 8, 9])  // tap (1, 1)
        // The centre pixel is read by all four windows, the corners once.
        XCTAssertEqual(col2im([Float](repeating: 1, count: 16), batch: 1, geometry: geometry),
                       [1, 2, 1, 2, 4, 2, 1, 2, 1])
        // Padding reads zeros.
        let padded = ConvolutionGeometry(channels: 1, height: 1, width: 2, kernelSize: (1, 2), padding: (0, 1))
        XCTAssertEqual(im2col([5, 6], batch: 1, geometry: padded), [0, 5, 6, 5, 6, 0])
    }

    func testCol2imIsTheAdjointOfIm2col() {
        var g = SeededGenerator(seed: 14)
        let geometries = [
            ConvolutionGeometry(channels: 3, height: 7, width: 5, kernelSize: (3, 3), padding: (1, 1)),
            ConvolutionGeometry(channels: 2, height: 8, width: 9, kernelSize: (3, 2), stride: (2, 3), padding: (1, 0), dilation: (2, 1)),
            ConvolutionGeometry(channels: 4, height: 5, width: 5, kernelSize: (1, 1)),
            ConvolutionGeometry(channels: 1, height: 6, width: 4, kernelSize: (4, 3), stride: (1, 2), padding: (2, 1)),
        ]
        for geometry in geometries {
            let batch = 2
            let x = Tensor.normal([batch, geometry.channels, geometry.height, geometry.width], generator: &g).storage
            let y = Tensor.normal([geometry.rows * batch * geometry.outputPlane], generator: &g).storage
            let lhs = inner(im2col(x, batch: batch, geometry: geometry), y)
            let rhs = inner(x, col2im(y, batch: batch, geometry: geometry))
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "\(geometry)")
        }
    }

    func testIm2colAndCol2imOverAnyOutputRowRange() {
        var g = SeededGenerator(seed: 17)
        let geometries = [
            ConvolutionGeometry(channels: 2, height: 4, width: 3, kernelSize: (3, 3), padding: (1, 1)),
            ConvolutionGeometry(channels: 2, height: 7, width: 6, kernelSize: (3, 2), stride: (2, 1), padding: (1, 1)),
        ]
        for geometry in geometries {
            let batch = 4, outHeight = geometry.outputHeight, outWidth = geometry.outputWidth
            let x = Tensor.normal([batch, geometry.channels, geometry.height, geometry.width], generator: &g).storage
            let full = im2col(x, batch: batch, geometry: geometry)
            let fullWidth = batch * outHeight * outWidth
            let y = Tensor.normal([full.count], generator: &g).storage
            // A partial first image, whole images, and a partial last image, then the rest.
            let cuts = [0, outHeight - 1, 3 * outHeight + 1, batch * outHeight]
            var summed = [Float](repeating: 0, count: x.count)
            for (lower, upper) in zip(cuts, cuts.dropFirst()) {
                let width = (upper - lower) * outWidth
                var columns = [Float](repeating: .nan, count: geometry.rows * width)
                var slice = [Float](repeating: 0, count: geometry.rows * width)
                for row in 0..<geometry.rows {
                    for column in 0..<width {
                        slice[row * width + column] = y[row * fullWidth + lower * outWidth + column]
                    }
                }
                x.withUnsafeBufferPointer { px in
                    columns.withUnsafeMutableBufferPointer { col in
                        im2col(px.baseAddress!, geometry: geometry, outputRows: lower..<upper, columns: col.baseAddress!)
                    }
                }
                slice.withUnsafeBufferPointer { col in
                    summed.withUnsafeMutableBufferPointer { dx in
                        col2im(col.baseAddress!, geometry: geometry, outputRows: lower..<upper, accumulatingInto: dx.baseAddress!)
                    }
                }
                for row in 0..<geometry.rows {
                    XCTAssertEqual(Array(columns[(row * width)..<((row + 1) * width)]),
                                   Array(full[(row * fullWidth + lower * outWidth)..<(row * fullWidth + upper * outWidth)]),
                                   "\(geometry) rows \(lower)..<\(upper), column row \(row)")
                }
            }
            assertClose(summed, col2im(y, batch: batch, geometry: geometry), rtol: 1e-5, atol: 1e-5, "\(geometry)")
        }
    }

    func testConvTransposeIsTheAdjointOfConv() {
        var g = SeededGenerator(seed: 15)
        for c in [sweep[0], sweep[2], sweep[3], sweep[4], sweep[6]] {
            let outHeight = (c.height + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1) / c.stride.0 + 1
            let outWidth = (c.width + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1) / c.stride.1 + 1
            // The rows the convolution's last window leaves unread come back as output padding.
            let outputPadding = ((c.height + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1) % c.stride.0,
                                 (c.width + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1) % c.stride.1)
            let x = Tensor.normal([c.batch, c.channels, c.height, c.width], generator: &g)
            let w = Tensor.normal([c.outChannels, c.channels / c.groups, c.kernel.0, c.kernel.1], generator: &g)
            let y = Tensor.normal([c.batch, c.outChannels, outHeight, outWidth], generator: &g)
            let forward = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            let lhs = inner(forward.storage, y.storage)
            // The transposed convolution works on the same column matrix as the convolution.
            for limit in columnLimits(c) {
                let transposed = withColumnLimit(limit) {
                    convTranspose2d(y, weight: w, stride: c.stride, padding: c.padding, outputPadding: outputPadding,
                                    dilation: c.dilation, groups: c.groups)
                }
                XCTAssertEqual(transposed.shape, x.shape, "\(c)")
                let rhs = inner(x.storage, transposed.storage)
                XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "\(c) column limit \(limit)")
            }
        }
    }

    func testConvTransposeGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 16)
        // (input channels, output channels, kernel, stride, padding, output padding, dilation, groups)
        let cases: [(Int, Int, (Int, Int), (Int, Int), (Int, Int), (Int, Int), (Int, Int), Int)] = [
            (3, 2, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1),
            (4, 4, (2, 3), (1, 2), (0, 1), (0, 1), (2, 1), 2),
            (2, 3, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 1),
        ]
        for (channels, outChannels, kernel, stride, padding, outputPadding, dilation, groups) in cases {
            let x = Tensor.normal([2, channels, 3, 4], generator: &g)
            let w = Tensor.normal([channels, outChannels / groups, kernel.0, kernel.1], generator: &g)
            let b = Tensor.normal([outChannels], generator: &g)
            checkGradients([x, w, b]) { t in
                convTranspose2d(t[0], weight: t[1], bias: t[2], stride: stride, padding: padding,
                                outputPadding: outputPadding, dilation: dilation, groups: groups)
            }
        }
    }

    /// Stride 1 is where the transposed convolution's forward (a convolution with the flipped kernel),
    /// its input gradient (a packed convolution) and its weight gradient (`ck_weight_gradient_3x3` for
    /// 3×3 windows with padding 1 on planes of at least `packedWeightGradientMinimumPlane`) take the fast paths.
    func testConvTransposeStrideOneGradientsMatchFiniteDifferences() {
        let saved = (ConvolutionTuning.packedWeightGradientMinimumPlane, ConvolutionTuning.packedWeightGradientMaximumChannels)
        defer { (ConvolutionTuning.packedWeightGradientMinimumPlane, ConvolutionTuning.packedWeightGradientMaximumChannels) = saved }
        var g = SeededGenerator(seed: 18)
        // (input shape, output channels per group, kernel, padding, dilation, groups)
        let cases: [([Int], Int, (Int, Int), (Int, Int), (Int, Int), Int)] = [
            ([1, 3, 10, 10], 2, (3, 3), (1, 1), (1, 1), 1),  // 10×10 = 100 pixels: the default minimum plane
            ([2, 2, 3, 4], 3, (1, 1), (0, 0), (1, 1), 1),
            ([2, 2, 4, 3], 2, (2, 2), (0, 0), (1, 1), 1),
            ([1, 4, 5, 5], 1, (3, 3), (2, 2), (2, 2), 2),
        ]
        for (shape, outPerGroup, kernel, padding, dilation, groups) in cases {
            let x = Tensor.normal(shape, generator: &g)
            let w = Tensor.normal([shape[1], outPerGroup, kernel.0, kernel.1], generator: &g)
            let b = Tensor.normal([outPerGroup * groups], generator: &g)
            for path in convolutionPaths {
                // Defaults, then the direct 3×3 weight gradient on every plane size.
                for thresholds in [saved, (1, Int.max)] {
                    (ConvolutionTuning.packedWeightGradientMinimumPlane, ConvolutionTuning.packedWeightGradientMaximumChannels) = thresholds
                    withPath(path) {
                        checkGradients([x, w, b]) { t in
                            convTranspose2d(t[0], weight: t[1], bias: t[2], padding: padding, dilation: dilation, groups: groups)
                        }
                    }
                }
            }
        }
    }

    func testConvTransposeStrideOneMatchesNaiveFormulation() {
        var g = SeededGenerator(seed: 19)
        let cases: [([Int], Int, (Int, Int), (Int, Int), (Int, Int), Int)] = [
            ([1, 3, 10, 10], 4, (3, 3), (1, 1), (1, 1), 1),
            ([2, 2, 3, 4], 3, (1, 1), (0, 0), (1, 1), 1),
            ([2, 5, 6, 7], 2, (3, 2), (0, 1), (1, 1), 1),
            ([1, 4, 5, 5], 1, (3, 3), (2, 2), (2, 2), 2),
        ]
        for (shape, outPerGroup, kernel, padding, dilation, groups) in cases {
            let x = Tensor.normal(shape, generator: &g)
            let w = Tensor.normal([shape[1], outPerGroup, kernel.0, kernel.1], generator: &g)
            let b = Tensor.normal([outPerGroup * groups], generator: &g)
            let expected = naiveConvTranspose2d(x, w, b, stride: (1, 1), padding: padding, dilation: dilation, groups: groups)
            for path in convolutionPaths {
                let y = withPath(path) {
                    convTranspose2d(x, weight: w, bias: b, padding: padding, dilation: dilation, groups: groups)
                }
                assertClose(y, expected, rtol: 1e-4, atol: 1e-4, "\(shape) kernel \(kernel) padding \(padding) \(path)")
            }
        }
    }

    /// Stride-1 3×3 transposed convolutions reach Winograd through the engine (its forward is the engine's
    /// input-gradient pass; its input gradient the engine's forward); with Winograd forced on — by default
    /// it starts at 128 channels — output and both gradients must match the direct paths and the definition.
    func testConvTransposeThroughWinogradMatchesTheDirectPaths() throws {
        guard !packedPaths.isEmpty else { throw XCTSkip(noPackedKernels) }
        let saved = (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels)
        defer { (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels) = saved }
        var g = SeededGenerator(seed: 29)
        let cases: [([Int], Int, (Int, Int), Int)] = [
            ([2, 24, 9, 7], 16, (1, 1), 1),
            ([3, 130, 6, 6], 12, (0, 0), 1),
            ([2, 12, 8, 8], 6, (1, 1), 3),
        ]
        for path in packedPaths {
            withPath(path) {
                for (shape, outPerGroup, padding, groups) in cases {
                    let x = Tensor.normal(shape, generator: &g, requiresGrad: true)
                    let w = Tensor.normal([shape[1], outPerGroup, 3, 3], generator: &g, requiresGrad: true)
                    let b = Tensor.normal([outPerGroup * groups], generator: &g)
                    var results: [(y: [Float], dx: [Float], dw: [Float])] = []
                    for winograd in [true, false] {
                        (ConvolutionTuning.winogradMaximumPlane, ConvolutionTuning.winogradMinimumChannels) = winograd ? (.max, 0) : (0, 0)
                        x.zeroGrad(); w.zeroGrad()
                        let y = convTranspose2d(x, weight: w, bias: b, padding: padding, groups: groups)
                        if winograd {
                            let expected = naiveConvTranspose2d(x, w, b, stride: (1, 1), padding: padding, dilation: (1, 1), groups: groups)
                            assertClose(y, expected, rtol: 1e-4, atol: 1e-3, "\(shape) padding \(padding) groups \(groups), \(path)")
                        }
                        var upstream = SeededGenerator(seed: 31)
                        y.backward(Tensor.normal(y.shape, generator: &upstream))
                        results.append((y.storage, x.grad!.storage, w.grad!.storage))
                    }
                    let tag = "\(shape) padding \(padding) groups \(groups), \(path)"
                    assertClose(results[0].y, results[1].y, rtol: 1e-4, atol: 1e-3, "output \(tag)")
                    assertClose(results[0].dx, results[1].dx, rtol: 1e-4, atol: 1e-3, "input gradient \(tag)")
                    let scale = results[1].dw.map(abs).max()!
                    assertClose(results[0].dw, results[1].dw, rtol: 1e-4, atol: 1e-4 * scale, "weight gradient \(tag)")
                }
            }
        }
    }

    func testConvTransposeStrideOneMatchesPyTorch() {
        let x = Tensor([1, -2, 0.5, 3, 0, -1, 2, 1.5, -0.5,
                        -1, 0.25, 2, 0, 1, -3, 0.5, -1.5, 1], shape: [1, 2, 3, 3])
        let w = Tensor([0.2, -0.5, 1.0, 0.3, 0.0, -0.7, 0.4, 0.6, -0.1,
                        -0.3, 0.8, 0.1, 0.5, -0.2, 0.9, -0.6, 0.7, 0.25,
                        0.15, -0.4, 0.35, 1.2, 0.05, -0.8, 0.45, -0.25, 0.55,
                        -0.9, 0.3, 0.6, -0.15, 0.75, 0.2, 0.1, -0.35, 0.65], shape: [2, 2, 3, 3])
        let b = Tensor([0.1, -0.2], shape: [2])
        // torch 2.x: F.conv_transpose2d(x, w, b, stride=1, padding=1).flatten()
        let padded: [Float] = [-1.6, 4.7124996, 3.4499998, 0.33750007, -4.5875006, 0.11250008, 1.025, -3.0249999, 1.0000001,
                               -0.68749988, 4.6374998, -1.6500001, 3.9749997, 1.7125, -3.5875001, 2.95, 0.57500011, 2.7]
        // torch 2.x: F.conv_transpose2d(x, w, None, stride=1, padding=0).flatten()  (shape [1, 2, 5, 5])
        let unpadded: [Float] = [0.049999997, -0.46250001, 1.9499999, -2.9625001, 1.2,
                                 -0.30000001, -1.7, 4.6124997, 3.3499999, -4.0,
                                 1.325, 0.23750007, -4.6875005, 0.012500077, 4.0,
                                 2.4000001, 0.92500001, -3.1249998, 0.9000001, -2.0,
                                 1.025, 1.0000001, 1.6000001, -1.5250001, 0.60000002,
                                 0.59999996, 0.875, -3.9749999, 0.94999999, 1.25,
                                 -0.25000006, -0.48749989, 4.8374996, -1.45, -1.0500001,
                                 -0.25, 4.1749997, 1.9125, -3.3875, 0.47499996,
                                 -0.87500006, 3.1500001, 0.7750001, 2.9000001, -2.4499998,
                                 -1.1500001, 0.17499995, 2.8, -1.3, 0.52499998]
        for path in convolutionPaths {
            let y = withPath(path) { convTranspose2d(x, weight: w, bias: b, padding: (1, 1)) }
            XCTAssertEqual(y.shape, [1, 2, 3, 3])
            assertClose(y.storage, padded, rtol: 1e-5, atol: 1e-5, "padding 1, \(path)")
            let z = withPath(path) { convTranspose2d(x, weight: w) }
            XCTAssertEqual(z.shape, [1, 2, 5, 5])
            assertClose(z.storage, unpadded, rtol: 1e-5, atol: 1e-5, "padding 0, \(path)")
        }
    }

    func testEmptyBatchGivesEmptyOutputs() {
        let x = Tensor.zeros([0, 3, 5, 5], requiresGrad: true)
        let w = Tensor.ones([4, 3, 3, 3], requiresGrad: true)
        let y = conv2d(x, weight: w, stride: (2, 2))
        XCTAssertEqual(y.shape, [0, 4, 2, 2])
        y.sum().backward()
        XCTAssertEqual(convTranspose2d(Tensor.zeros([0, 4, 2, 2]), weight: w, stride: (2, 2)).shape, [0, 3, 5, 5])
    }

    func testConvTransposeOutputSizeAndHandValues() {
        // Stride 2, 2×2 kernel of ones: each input pixel becomes a 2×2 block of itself, plus the bias.
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])
        let y = convTranspose2d(x, weight: Tensor.ones([1, 1, 2, 2]), bias: Tensor([10], shape: [1]), stride: (2, 2))
        XCTAssertEqual(y.shape, [1, 1, 4, 4])
        XCTAssertEqual(y.storage, [11, 11, 12, 12, 11, 11, 12, 12, 13, 13, 14, 14, 13, 13, 14, 14])
        // (I − 1)·S − 2P + D·(k − 1) + outputPadding + 1 = 4·2 − 2 + 2 + 1 + 1 = 10.
        let z = convTranspose2d(Tensor.zeros([1, 2, 5, 5]), weight: Tensor.zeros([2, 3, 3, 3]), stride: (2, 2),
                                padding: (1, 1), outputPadding: (1, 1))
        XCTAssertEqual(z.shape, [1, 3, 10, 10])
    }
}
