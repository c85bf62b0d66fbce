// 2-D convolution and transposed convolution: the packed AVX-512 or AVX2 kernels (CKernels) where the
// CPU has them, im2col + OpenBLAS sgemm with the batch folded into the GEMM otherwise and for the weight and
// input gradients those kernels do not cover.
import CKernels

/// The GEMM kernels shared by `conv2d` and `convTranspose2d`.
///
/// A convolution with weight `W [K, C/groups · kh · kw]` over a batch is, per group,
/// `Y[K, N·OH·OW] = W · col` with `col = im2col(x)`. Its input gradient is
/// `col2im(Wᵀ · dY)` and its weight gradient `dY · colᵀ`. A transposed convolution is the input
/// gradient of a convolution, so it reuses `backward` for its forward pass and `forward` for its
/// input gradient.
///
/// The output rows `n·OH + oh` of the batch are processed in chunks whose column buffer stays
/// within `columnBudget` floats (cache-sized, allocated once per call). A chunk is either part of
/// one image, whose output and gradient are addressed in place with a leading dimension of
/// `OH·OW`, or several whole images, whose `[K, images·OH·OW]` result is reordered to
/// `[images, K, OH·OW]`. Folding several small images into one chunk keeps the GEMMs large.
/// Pointwise (1×1, stride 1, unpadded) convolutions need no column matrix: with planes of 64
/// pixels or more they run one GEMM per image directly on the input.
enum ConvolutionEngine {
    /// Largest column buffer (in floats) per chunk.
    nonisolated(unsafe) static var columnBudget = 1 << 21

    /// Planes at least this large make pointwise convolutions run one GEMM per image, straight on the
    /// input and output (no column buffer, no reordering); smaller ones are folded.
    static let pointwisePlaneThreshold = 64

    /// Consecutive ranges of flattened output rows covering the batch.
    static func chunks(batch: Int, geometry g: ConvolutionGeometry) -> [Range<Int>] {
        let outputHeight = g.outputHeight
        if g.isPointwise && g.outputPlane >= pointwisePlaneThreshold {
            return (0..<batch).map { ($0 * outputHeight)..<(($0 + 1) * outputHeight) }
        }
        let rowsPerChunk = max(1, columnBudget / max(1, g.rows * g.outputWidth))
        var result: [Range<Int>] = []
        if rowsPerChunk >= outputHeight {
            let imagesPerChunk = rowsPerChunk / outputHeight
            let count = (batch + imagesPerChunk - 1) / imagesPerChunk
            for chunk in 0..<count {
                let lower = chunk * batch / count, upper = (chunk + 1) * batch / count
                result.append((lower * outputHeight)..<(upper * outputHeight))
            }
        } else {
            let pieces = (outputHeight + rowsPerChunk - 1) / rowsPerChunk
            for n in 0..<batch {
                for piece in 0..<pieces {
                    let lower = piece * outputHeight / pieces, upper = (piece + 1) * outputHeight / pieces
                    result.append((n * outputHeight + lower)..<(n * outputHeight + upper))
                }
            }
        }
        return result
    }

    /// Whether a chunk lies inside one image: then its output is addressed in place.
    @inline(__always)
    static func isSingleImage(_ chunk: Range<Int>, _ g: ConvolutionGeometry) -> Bool {
        chunk.lowerBound / g.outputHeight == (chunk.upperBound - 1) / g.outputHeight
    }

    /// Moves `[K, images·plane]` (a chunk of whole images) to `[images, K, plane]` at `destination`, or back.
    static func reorder(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                        channels: Int, images: Int, plane: Int, toBatchMajor: Bool) {
        Parallel.forEach(channels, grain: max(1, 16_384 / (images * plane))) { range in
            for k in range {
                for n in 0..<images {
                    let batchMajor = (n * channels + k) * plane
                    let channelMajor = (k * images + n) * plane
                    if toBatchMajor {
                        (destination + batchMajor).update(from: source + channelMajor, count: plane)
                    } else {
                        (destination + channelMajor).update(from: source + batchMajor, count: plane)
                    }
                }
            }
        }
    }

    /// `output[N, K, OH·OW] = W · im2col(input)` per group (no bias). `output` is fully overwritten.
    static func forward(input x: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                        weight w: UnsafePointer<Float>, outChannels: Int, groups: Int,
                        output y: UnsafeMutablePointer<Float>) {
        if ConvolutionTuning.usesPackedKernel {
            packedForward(input: x, batch: batch, geometry: g, weight: w, outChannels: outChannels, groups: groups, output: y)
            return
        }
        let chunks = chunks(batch: batch, geometry: g)
        guard let widest = chunks.map(\.count).max() else { return }
        let rowsPerGroup = g.rows / groups, outPerGroup = outChannels / groups
        let plane = g.outputPlane, rowWidth = g.outputWidth
        let maxWidth = widest * rowWidth
        let anyMulti = chunks.contains { !isSingleImage($0, g) }
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: g.isPointwise && !anyMulti ? 0 : g.rows * maxWidth)
        let staging = UnsafeMutablePointer<Float>.allocate(capacity: anyMulti ? outChannels * maxWidth : 0)
        defer { columns.deallocate(); staging.deallocate() }
        for chunk in chunks {
            let width = chunk.count * rowWidth
            let image = chunk.lowerBound / g.outputHeight
            let single = isSingleImage(chunk, g)
            let start = (chunk.lowerBound - image * g.outputHeight) * rowWidth
            let b: UnsafePointer<Float>, ldb: Int
            if single && g.isPointwise {
                (b, ldb) = (x + image * g.imageSize + start, plane)
            } else {
                im2col(x, geometry: g, outputRows: chunk, columns: columns)
                (b, ldb) = (UnsafePointer(columns), width)
            }
            let c = single ? y + image * outChannels * plane + start : staging
            let ldc = single ? plane : width
            for group in 0..<groups {
                BLAS.sgemm(m: outPerGroup, n: width, k: rowsPerGroup,
                           a: w + group * outPerGroup * rowsPerGroup, lda: rowsPerGroup,
                           b: b + group * rowsPerGroup * ldb, ldb: ldb,
                           c: c + group * outPerGroup * ldc, ldc: ldc)
            }
            if !single {
                reorder(staging, y + image * outChannels * plane, channels: outChannels,
                        images: chunk.count / g.outputHeight, plane: plane, toBatchMajor: true)
            }
        }
    }

    /// Forward pass without a column buffer: the packed GEMM reads the windows straight from `x` and
    /// writes NCHW output, the whole batch in one product per group.
    /// `epilogue` (not with `accumulate`) applies to the whole output: its scale and shift are indexed by
    /// output channel, its residual laid out as `y`.
    static func packedForward(input x: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                              weight w: UnsafePointer<Float>, outChannels: Int, groups: Int,
                              output y: UnsafeMutablePointer<Float>, accumulate: Bool = false,
                              epilogue: ck_epilogue? = nil) {
        precondition(!(accumulate && epilogue != nil), "a convolution epilogue cannot follow accumulation")
        let rowsPerGroup = g.rows / groups, outPerGroup = outChannels / groups
        let channelsPerGroup = g.channels / groups, plane = g.outputPlane, inputPlane = g.height * g.width
        // The epilogue of one group: its channels' scale and shift, its planes of the residual.
        func groupEpilogue(_ group: Int) -> ck_epilogue? {
            epilogue.map { e in
                ck_epilogue(scale: e.scale.map { $0 + group * outPerGroup }, shift: e.shift.map { $0 + group * outPerGroup },
                            residual: e.residual.map { $0 + group * outPerGroup * plane }, relu: e.relu)
            }
        }
        if Winograd.applies(g, channels: channelsPerGroup, outChannels: outPerGroup) {
            for group in 0..<groups {
                Winograd.forward(input: x + group * channelsPerGroup * inputPlane, batch: batch, geometry: g,
                                 channels: channelsPerGroup, channelStride: inputPlane, imageStride: g.imageSize,
                                 weight: w + group * outPerGroup * rowsPerGroup, outChannels: outPerGroup,
                                 output: y + group * outPerGroup * plane, outputChannelStride: plane,
                                 outputImageStride: outChannels * plane, accumulate: accumulate,
                                 epilogue: groupEpilogue(group))
            }
            return
        }
        for group in 0..<groups {
            let a = PackedGEMM.PackedMatrix(rows: outPerGroup, depth: rowsPerGroup,
                                            w + group * outPerGroup * rowsPerGroup, lda: rowsPerGroup, transposed: false)
            let b = PackedGEMM.patches(x + group * channelsPerGroup * inputPlane, channels: channelsPerGroup,
                                       channelStride: inputPlane, imageStride: g.imageSize, geometry: g)
            let c = ck_planes(data: y + group * outPerGroup * plane, plane: plane, row_stride: plane,
                              image_stride: outChannels * plane, first_column: 0)
            PackedGEMM.multiply(a, b, into: c, columns: batch * plane, accumulate: accumulate, epilogue: groupEpilogue(group))
        }
    }

    /// For stride 1 the input gradient is itself a convolution: `dx = conv2d(dY, W′)` with
    /// `W′[c, o, i, j] = W[o, c, kh−1−i, kw−1−j]` (per group) and padding `D·(k−1) − P`, so it runs
    /// on the packed forward kernel with no column buffer and no `col2im`. Adds onto `dx`. Returns
    /// false (doing nothing) when the geometry does not allow it.
    static func packedInputGradient(gradOutput dy: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                                    weight w: UnsafePointer<Float>, outChannels: Int, groups: Int,
                                    gradInput dx: UnsafeMutablePointer<Float>) -> Bool {
        let padding = (g.dilationHeight * (g.kernelHeight - 1) - g.paddingHeight,
                       g.dilationWidth * (g.kernelWidth - 1) - g.paddingWidth)
        guard g.strideHeight == 1, g.strideWidth == 1, padding.0 >= 0, padding.1 >= 0 else { return false }
        let flippedGeometry = ConvolutionGeometry(channels: outChannels, height: g.outputHeight, width: g.outputWidth,
                                                  kernelSize: (g.kernelHeight, g.kernelWidth), padding: padding,
                                                  dilation: (g.dilationHeight, g.dilationWidth))
        guard flippedGeometry.outputHeight == g.height, flippedGeometry.outputWidth == g.width else { return false }
        let inPerGroup = g.channels / groups, outPerGroup = outChannels / groups
        let (kh, kw) = (g.kernelHeight, g.kernelWidth), taps = kh * kw
        let flipped = UnsafeMutablePointer<Float>.allocate(capacity: outChannels * inPerGroup * taps)
        defer { flipped.deallocate() }
        for group in 0..<groups {
            for c in 0..<inPerGroup {
                for o in 0..<outPerGroup {
                    let target = flipped + ((group * inPerGroup + c) * outPerGroup + o) * taps
                    let source = w + ((group * outPerGroup + o) * inPerGroup + c) * taps
                    for tap in 0..<taps { target[tap] = source[taps - 1 - tap] }
                }
            }
        }
        packedForward(input: dy, batch: batch, geometry: flippedGeometry, weight: flipped, outChannels: g.channels,
                      groups: groups, output: dx, accumulate: true)
        return true
    }

    /// The weight gradient of a 3×3 stride-1 convolution whose output rows are as wide as its input,
    /// read straight from the images and dY (`ck_weight_gradient_3x3`: no column buffer). Adds onto
    /// `dw`. Returns false (doing nothing) for other geometries, and for planes under
    /// `ConvolutionTuning.packedWeightGradientMinimumPlane` or more channels than
    /// `packedWeightGradientMaximumChannels`, where im2col + OpenBLAS is faster.
    static func packedWeightGradient(gradOutput dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, batch: Int,
                                     geometry g: ConvolutionGeometry, outChannels: Int, groups: Int,
                                     gradWeight dw: UnsafeMutablePointer<Float>) -> Bool {
        guard g.kernelHeight == 3, g.kernelWidth == 3,
              g.strideHeight == 1, g.strideWidth == 1, g.outputWidth == g.width,
              g.outputPlane >= ConvolutionTuning.packedWeightGradientMinimumPlane, batch > 0 else { return false }
        let inPerGroup = g.channels / groups, outPerGroup = outChannels / groups
        guard max(inPerGroup, outPerGroup) <= ConvolutionTuning.packedWeightGradientMaximumChannels else { return false }
        let plane = g.outputPlane, inputPlane = g.height * g.width
        // Each part owns a disjoint set of weights: split the larger of the input and output channels.
        let byChannels = inPerGroup >= outPerGroup
        for group in 0..<groups {
            let b = PackedGEMM.patches(x + group * inPerGroup * inputPlane, channels: inPerGroup,
                                       channelStride: inputPlane, imageStride: g.imageSize, geometry: g)
            let gradOutput = dy + group * outPerGroup * plane, gradWeight = dw + group * outPerGroup * inPerGroup * 9
            withUnsafePointer(to: b) { b in
                Parallel.forEach(byChannels ? inPerGroup : outPerGroup, grain: 1) { part in
                    let (o0, o1) = byChannels ? (0, outPerGroup) : (part.lowerBound, part.upperBound)
                    let (c0, c1) = byChannels ? (part.lowerBound, part.upperBound) : (0, inPerGroup)
                    ck_weight_gradient_3x3(b, gradOutput, outChannels * plane, batch, gradWeight, inPerGroup * 9, o0, o1, c0, c1)
                }
            }
        }
        return true
    }

    /// The weight gradient of a convolution that runs forward as Winograd F(2×2, 3×3) (`Winograd.applies`),
    /// over the same tiles (`Winograd.weightGradient`). Adds onto `dw`. Returns false (doing nothing) otherwise.
    static func winogradWeightGradient(gradOutput dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, batch: Int,
                                       geometry g: ConvolutionGeometry, outChannels: Int, groups: Int,
                                       gradWeight dw: UnsafeMutablePointer<Float>) -> Bool {
        let inPerGroup = g.channels / groups, outPerGroup = outChannels / groups
        guard batch > 0, ConvolutionTuning.winogradWeightGradient,
              Winograd.applies(g, channels: inPerGroup, outChannels: outPerGroup) else { return false }
        let inputPlane = g.height * g.width, plane = g.outputPlane
        for group in 0..<groups {
            Winograd.weightGradient(input: x + group * inPerGroup * inputPlane, batch: batch, geometry: g,
                                    channels: inPerGroup, channelStride: inputPlane, imageStride: g.imageSize,
                                    gradOutput: dy + group * outPerGroup * plane, outChannels: outPerGroup,
                                    gradOutputChannelStride: plane, gradOutputImageStride: outChannels * plane,
                                    gradWeight: dw + group * outPerGroup * inPerGroup * 9)
        }
        return true
    }

    /// Gradients of `forward` given `gradOutput [N, K, OH·OW]`.
    ///
    /// `gradWeight += dY · im2col(input)ᵀ` (needs `input`); `gradInput += col2im(Wᵀ · dY)` (for stride 1
    /// with the packed kernel, a convolution of dY with the flipped kernel).
    /// Both destinations accumulate, so they must be initialised (usually to zeros).
    static func backward(gradOutput dy: UnsafePointer<Float>, input x: UnsafePointer<Float>?, batch: Int,
                         geometry g: ConvolutionGeometry, weight w: UnsafePointer<Float>,
                         outChannels: Int, groups: Int,
                         gradInput dx: UnsafeMutablePointer<Float>?, gradWeight dw: UnsafeMutablePointer<Float>?) {
        precondition(dw == nil || x != nil, "the weight gradient needs the convolution input")
        var dx = dx, dw = dw
        if ConvolutionTuning.usesPackedKernel {
            if let gradInput = dx, packedInputGradient(gradOutput: dy, batch: batch, geometry: g, weight: w,
                                                       outChannels: outChannels, groups: groups, gradInput: gradInput) {
                dx = nil
            }
            if let gradWeight = dw, let x, winogradWeightGradient(gradOutput: dy, input: x, batch: batch, geometry: g,
                                                                  outChannels: outChannels, groups: groups,
                                                                  gradWeight: gradWeight) {
                dw = nil
            }
            if let gradWeight = dw, let x, packedWeightGradient(gradOutput: dy, input: x, batch: batch, geometry: g,
                                                                outChannels: outChannels, groups: groups, gradWeight: gradWeight) {
                dw = nil
            }
        }
        guard dx != nil || dw != nil else { return }
        let chunks = chunks(batch: batch, geometry: g)
        guard let widest = chunks.map(\.count).max() else { return }
        let rowsPerGroup = g.rows / groups, outPerGroup = outChannels / groups
        let plane = g.outputPlane, rowWidth = g.outputWidth
        let maxWidth = widest * rowWidth
        let anyMulti = chunks.contains { !isSingleImage($0, g) }
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: g.isPointwise && !anyMulti ? 0 : g.rows * maxWidth)
        let staging = UnsafeMutablePointer<Float>.allocate(capacity: anyMulti ? outChannels * maxWidth : 0)
        // With few output channels OpenBLAS runs `col · dYᵀ` (M = rows) faster than `dY · colᵀ` (M = K):
        // accumulate the transposed weight gradient and add it back at the end.
        let transposedWeightGradient = dw != nil && outPerGroup <= 64 && rowsPerGroup > outPerGroup
        let weightGradientT = UnsafeMutablePointer<Float>.allocate(capacity: transposedWeightGradient ? outChannels * rowsPerGroup : 0)
        if transposedWeightGradient { weightGradientT.initialize(repeating: 0, count: outChannels * rowsPerGroup) }
        defer { columns.deallocate(); staging.deallocate(); weightGradientT.deallocate() }
        for chunk in chunks {
            let width = chunk.count * rowWidth
            let image = chunk.lowerBound / g.outputHeight
            let single = isSingleImage(chunk, g)
            let start = (chunk.lowerBound - image * g.outputHeight) * rowWidth
            let a: UnsafePointer<Float>, lda: Int
            if single {
                (a, lda) = (dy + image * outChannels * plane + start, plane)
            } else {
                reorder(dy + image * outChannels * plane, staging, channels: outChannels,
                        images: chunk.count / g.outputHeight, plane: plane, toBatchMajor: false)
                (a, lda) = (UnsafePointer(staging), width)
            }
            if let dw, let x {
                let b: UnsafePointer<Float>, ldb: Int
                if single && g.isPointwise {
                    (b, ldb) = (x + image * g.imageSize + start, plane)
                } else {
                    im2col(x, geometry: g, outputRows: chunk, columns: columns)
                    (b, ldb) = (UnsafePointer(columns), width)
                }
                for group in 0..<groups {
                    if transposedWeightGradient {
                        BLAS.sgemm(transposeB: true, m: rowsPerGroup, n: outPerGroup, k: width,
                                   a: b + group * rowsPerGroup * ldb, lda: ldb,
                                   b: a + group * outPerGroup * lda, ldb: lda,
                                   beta: 1, c: weightGradientT + group * outPerGroup * rowsPerGroup, ldc: outPerGroup)
                    } else {
                        BLAS.sgemm(transposeB: true, m: outPerGroup, n: rowsPerGroup, k: width,
                                   a: a + group * outPerGroup * lda, lda: lda,
                                   b: b + group * rowsPerGroup * ldb, ldb: ldb,
                                   beta: 1, c: dw + group * outPerGroup * rowsPerGroup, ldc: rowsPerGroup)
                    }
                }
            }
            if let dx {
                let direct = single && g.isPointwise
                let c = direct ? dx + image * g.imageSize + start : columns
                let ldc = direct ? plane : width
                for group in 0..<groups {
                    BLAS.sgemm(transposeA: true, m: rowsPerGroup, n: width, k: outPerGroup,
                               a: w + group * outPerGroup * rowsPerGroup, lda: rowsPerGroup,
                               b: a + group * outPerGroup * lda, ldb: lda,
                               beta: direct ? 1 : 0, c: c + group * rowsPerGroup * ldc, ldc: ldc)
                }
                if !direct { col2im(overwriting: columns, geometry: g, outputRows: chunk, accumulatingInto: dx) }
            }
        }
        if transposedWeightGradient, let dw {
            for group in 0..<groups {
                let source = weightGradientT + group * outPerGroup * rowsPerGroup
                let destination = dw + group * outPerGroup * rowsPerGroup
                for r in 0..<rowsPerGroup {
                    for k in 0..<outPerGroup { destination[k * rowsPerGroup + r] += source[r * outPerGroup + k] }
                }
            }
        }
    }

    /// A zero-filled array, filled in parallel (gradient buffers of activations are large).
    static func zeros(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = buffer.baseAddress
            Parallel.forEach(count, grain: 1 << 18) { range in
                (base! + range.lowerBound).initialize(repeating: 0, count: range.count)
            }
            initialized = count
        }
    }

    /// `y[n, k, ·] += bias[k]` over `[N, K, plane]`.
    static func addBias(_ bias: [Float], to y: UnsafeMutablePointer<Float>, batch: Int, plane: Int) {
        let channels = bias.count
        bias.withUnsafeBufferPointer { b in
            Parallel.forEach(batch * channels, grain: max(1, 32_768 / plane)) { range in
                for index in range {
                    let value = b[index % channels]
                    let row = y + index * plane
                    for p in 0..<plane { row[p] += value }
                }
            }
        }
    }

    /// `Σ_{n, p} g[n, k, p]` for each channel `k` of `[N, K, plane]`.
    static func biasGradient(_ g: [Float], batch: Int, channels: Int, plane: Int) -> [Float] {
        var result = [Float](repeating: 0, count: channels)
        result.withUnsafeMutableBufferPointer { r in
            g.withUnsafeBufferPointer { dy in
                Parallel.forEach(channels, grain: max(1, 32_768 / (batch * plane))) { range in
                    for k in range {
                        var total: Float = 0
                        for n in 0..<batch {
                            let row = dy.baseAddress! + (n * channels + k) * plane
                            for p in 0..<plane { total += row[p] }
                        }
                        r[k] = total
                    }
                }
            }
        }
        return result
    }
}

/// The vector instruction sets of the packed convolution kernels (`CKernels`).
public enum PackedKernelInstructionSet: Int, Comparable, Sendable, CustomStringConvertible {
    /// AVX2 with FMA: 4 × 24 register tiles (AMD Zen 2/3, Intel cores before Ice Lake).
    case avx2 = 1
    /// AVX-512 F/BW/DQ/VL: 8 × 48 register tiles; products of few rows read stride-1 windows
    /// straight from the images.
    case avx512 = 2

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String { self == .avx2 ? "AVX2" : "AVX-512" }
}

/// Tuning knobs of the convolution kernels.
public enum ConvolutionTuning {
    /// Whether forward convolutions use the packed kernels (see `PackedGEMM`) rather than
    /// im2col + OpenBLAS. On by default where the CPU supports them (`VISION_GEMM=blas` turns them
    /// off); setting it on elsewhere is ignored.
    public static var usesPackedKernel: Bool {
        get { PackedGEMM.enabled }
        set { PackedGEMM.enabled = newValue && PackedGEMM.instructionSet != nil }
    }

    /// The instruction set this CPU runs the packed kernels with: AVX-512, else AVX2 with FMA, else nil.
    public static var supportedPackedKernelInstructionSet: PackedKernelInstructionSet? { PackedGEMM.supportedInstructionSet }

    /// The instruction set the packed kernels run with: the supported one unless lowered, e.g. to
    /// `.avx2` on an AVX-512 machine (`VISION_GEMM=avx2` at start-up), for tests and comparisons.
    /// A value above the supported one selects the supported one; nil also turns the packed kernels off
    /// (`usesPackedKernel` stays false until set again, after an instruction set is). Direct panels
    /// (`directPanelMaximumRows`) are AVX-512 only: the AVX2 kernel always packs.
    public static var packedKernelInstructionSet: PackedKernelInstructionSet? {
        get { PackedGEMM.instructionSet }
        set { PackedGEMM.instructionSet = newValue }
    }

    /// Whether the packed kernels read strided windows (and others whose output rows are narrower than
    /// the input) with gathers rather than element by element. On by default.
    nonisolated(unsafe) public static var gatherPacking = true {
        didSet { ck_set_gather_packing(gatherPacking ? 1 : 0) }
    }

    /// Up to how many output channels (rows of the product) the packed kernel reads stride-1 windows
    /// straight from the images rather than packing them first (`ck_set_direct_max_rows`; 0 never).
    nonisolated(unsafe) public static var directPanelMaximumRows = 64 {
        didSet { ck_set_direct_max_rows(directPanelMaximumRows) }
    }

    /// Where the packed kernel is on, 3×3 stride-1 weight gradients read the images directly
    /// (`ck_weight_gradient_3x3`) from this output plane (pixels) on: 100. Below it each image adds too few
    /// products per reduction (`vision-bench conv`: 256 channels at 8×8 and 512 at 4×4 slower).
    nonisolated(unsafe) public static var packedWeightGradientMinimumPlane = 100

    /// The most input or output channels (per group) for which they do: 64 (0 never). `vision-bench models`,
    /// alternating runs: ResNet-20 (16–64 channels) training 1.2–1.3× faster with them. With 128 channels
    /// and more OpenBLAS's products (or Winograd's, where it applies) are faster. 64 channels at 32²:
    /// `vision-bench conv --channels 64 --weight-gradient-channels 32|64`, three alternating pairs,
    /// forward + backward 148.5/143.0/157.6 → 152.9/156.7/162.3 GFLOP/s; ResNet-18 training (`--versus`) 1.02×.
    nonisolated(unsafe) public static var packedWeightGradientMaximumChannels = 64

    /// The largest output plane (pixels) for which 3×3 stride-1 convolutions on the packed kernel run
    /// as Winograd F(2×2, 3×3) (see `Winograd`); 0 never. 256 (16×16), as measured with `vision-bench
    /// conv --winograd-plane P` in alternating runs: 512 channels at 4×4 forward 1.2×; 256 channels at
    /// 8×8 forward 1.1×, forward + backward 1.15× (with the vectorised tile transforms; the scalar ones
    /// cost what the products saved); 128 channels at 16×16, five rounds, forward median 184 → 204,
    /// forward + backward 157 → 188 GFLOP/s (with the products run whole per thread). Those are AVX-512
    /// figures; where the kernels start as AVX2 (the CPU's best, or `VISION_GEMM=avx2`) the default is
    /// 65,536 (256×256), with 64 channels and more
    /// (`winogradMinimumChannels`): on an AMD EPYC Zen 3, U-Net (base 32) training 1.8 → 1.9–2.0 img/s
    /// against a plane of 4,096, two alternating pairs; ResNet-18 training (`--versus`) 1.13× against
    /// the AVX-512 thresholds, 64 channels at 32² forward / forward + backward 146 / 128 → 183 / 175 GFLOP/s.
    nonisolated(unsafe) public static var winogradMaximumPlane = PackedGEMM.instructionSet == .avx2 ? 1 << 16 : 256

    /// Whether the weight gradients of the convolutions that run forward as Winograd F(2×2, 3×3) do too
    /// (over the same tiles, `Winograd.weightGradient`) rather than by im2col + OpenBLAS.
    nonisolated(unsafe) public static var winogradWeightGradient = true

    /// The fewest input and output channels (per group) for which they do. 128: with 64 channels at 8×8
    /// (ResNet-20's last stage) the transforms cost more than the products save — `vision-bench models
    /// --only resnet20 --winograd-plane 16|64`, three alternating pairs: 361/384/392 vs 337/344/371 img/s
    /// per CPU second. Where the kernels start as AVX2, 64: there ResNet-20 trains as fast with 64-channel
    /// Winograd as without (`--versus "--winograd-channels 64"` 1.005), and 32 or 16 channels are slower
    /// (0.93, 0.80 of the speed).
    nonisolated(unsafe) public static var winogradMinimumChannels = PackedGEMM.instructionSet == .avx2 ? 64 : 128

    /// The largest im2col column buffer, in floats, that one convolution call allocates
    /// (default 2²¹ floats = 8 MiB, which stays in cache).
    ///
    /// A batch is processed in chunks of output rows whose column matrix fits this limit: several
    /// whole images per chunk when they fit (the batch folded into the GEMM's N dimension), else
    /// bands of rows of one image. Results do not depend on it beyond float rounding.
    public static var columnBufferLimit: Int {
        get { ConvolutionEngine.columnBudget }
        set {
            precondition(newValue > 0, "column buffer limit must be positive, got \(newValue)")
            ConvolutionEngine.columnBudget = newValue
        }
    }
}

/// 2-D convolution (cross-correlation, as PyTorch's `conv2d`).
///
/// `y[n, k, oh, ow] = bias[k] + Σ_{c, i, j} w[k, c, i, j] · x[n, g·C/G + c, oh·S − P + i·D, ow·S − P + j·D]`
/// where `g` is the group of output channel `k` and samples outside the input are 0.
/// - Parameters:
///   - x: input `[N, C, H, W]`.
///   - weight: `[K, C/groups, kh, kw]`.
///   - bias: optional `[K]`.
/// - Returns: `[N, K, OH, OW]` with `O = floor((I + 2P − D·(k − 1) − 1) / S) + 1` per axis.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let geometry = convolutionGeometry(x, weight: weight, bias: bias, stride: stride, padding: padding,
                                       dilation: dilation, groups: groups)
    let (batch, outChannels) = (x.shape[0], weight.shape[0])
    let plane = geometry.outputPlane
    let count = batch * outChannels * plane
    let outShape = [batch, outChannels, geometry.outputHeight, geometry.outputWidth]
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    if count == 0 { return Tensor.record(shape: outShape, storage: [], inputs: inputs) { _ in } }
    let xs = x.storage, ws = weight.storage, bs = bias?.storage
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        xs.withUnsafeBufferPointer { px in
            ws.withUnsafeBufferPointer { pw in
                ConvolutionEngine.forward(input: px.baseAddress!, batch: batch, geometry: geometry, weight: pw.baseAddress!,
                                          outChannels: outChannels, groups: groups, output: buffer.baseAddress!)
            }
        }
        if let bs { ConvolutionEngine.addBias(bs, to: buffer.baseAddress!, batch: batch, plane: plane) }
        initialized = count
    }
    return Tensor.record(shape: outShape, storage: output, inputs: inputs) { g in
        var gradInput = x.requiresGrad ? ConvolutionEngine.zeros(xs.count) : []
        var gradWeight = weight.requiresGrad ? [Float](repeating: 0, count: ws.count) : []
        if x.requiresGrad || weight.requiresGrad {
            g.storage.withUnsafeBufferPointer { dy in
                xs.withUnsafeBufferPointer { px in
                    ws.withUnsafeBufferPointer { pw in
                        gradInput.withUnsafeMutableBufferPointer { dx in
                            gradWeight.withUnsafeMutableBufferPointer { dw in
                                ConvolutionEngine.backward(
                                    gradOutput: dy.baseAddress!, input: px.baseAddress!, batch: batch, geometry: geometry,
                                    weight: pw.baseAddress!, outChannels: outChannels, groups: groups,
                                    gradInput: x.requiresGrad ? dx.baseAddress! : nil,
                                    gradWeight: weight.requiresGrad ? dw.baseAddress! : nil)
                            }
                        }
                    }
                }
            }
        }
        if x.requiresGrad { x.accumulateGrad(storage: gradInput) }
        if weight.requiresGrad { weight.accumulateGrad(storage: gradWeight) }
        if let bias, bias.requiresGrad {
            bias.accumulateGrad(storage: ConvolutionEngine.biasGradient(g.storage, batch: batch,
                                                                         channels: outChannels, plane: plane))
        }
    }
}

/// Inference with a convolution's per-channel epilogue fused in: `relu?(conv2d(x, weight)·scale[k] + shift[k]
/// + residual)`, computed in the convolution's own pass over its output. A batch-norm in eval mode folds
/// into `scale = γ/√(var + ε)` and `shift = β − mean·scale` (plus the convolution's bias times `scale`).
/// `residual` has the output's shape. No graph is recorded: call it where none is (under
/// `Autograd.noGrad`, or with inputs that do not require grad). Without the packed kernels it runs as
/// the separate operations.
public func fusedConv2d(_ x: Tensor, weight: Tensor, scale: [Float]? = nil, shift: [Float]? = nil,
                        residual: Tensor? = nil, relu: Bool = false, stride: (Int, Int) = (1, 1),
                        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let geometry = convolutionGeometry(x, weight: weight, bias: nil, stride: stride, padding: padding,
                                       dilation: dilation, groups: groups)
    let (batch, outChannels) = (x.shape[0], weight.shape[0])
    let outShape = [batch, outChannels, geometry.outputHeight, geometry.outputWidth]
    precondition(!Tensor.shouldRecord([x, weight] + (residual.map { [$0] } ?? [])),
                 "fusedConv2d records no graph: call it under Autograd.noGrad or on tensors that do not require grad")
    for (name, values) in [("scale", scale), ("shift", shift)] {
        if let values { precondition(values.count == outChannels, "fusedConv2d: \(name) has \(values.count) values for \(outChannels) channels") }
    }
    if let residual { precondition(residual.shape == outShape, "fusedConv2d: residual \(residual.shape) for output \(outShape)") }
    guard ConvolutionTuning.usesPackedKernel else {
        var y = conv2d(x, weight: weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        if let scale { y = y * Tensor(scale, shape: [1, outChannels, 1, 1]) }
        if let shift { y = y + Tensor(shift, shape: [1, outChannels, 1, 1]) }
        if let residual { y = y + residual }
        return relu ? y.relu() : y
    }
    let count = batch * outChannels * geometry.outputPlane
    if count == 0 { return Tensor(shape: outShape, storage: []) }
    func pointer(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> Void) {
        guard let values else { return body(nil) }
        values.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                pointer(scale) { scale in
                    pointer(shift) { shift in
                        pointer(residual?.storage) { residual in
                            ConvolutionEngine.packedForward(
                                input: px.baseAddress!, batch: batch, geometry: geometry, weight: pw.baseAddress!,
                                outChannels: outChannels, groups: groups, output: buffer.baseAddress!,
                                epilogue: ck_epilogue(scale: scale, shift: shift, residual: residual, relu: relu ? 1 : 0))
                        }
                    }
                }
            }
        }
        initialized = count
    }
    return Tensor(shape: outShape, storage: output)
}

/// Checks the shapes of a `conv2d` call (preconditions naming them) and returns its geometry.
private func convolutionGeometry(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                                 dilation: (Int, Int), groups: Int) -> ConvolutionGeometry {
    precondition(x.rank == 4, "conv2d expects input [N, C, H, W], got \(x.shape)")
    precondition(weight.rank == 4, "conv2d expects weight [K, C/groups, kh, kw], got \(weight.shape)")
    let (channels, outChannels) = (x.shape[1], weight.shape[0])
    precondition(channels > 0 && outChannels > 0, "conv2d: input \(x.shape) and weight \(weight.shape) need channels")
    precondition(groups > 0 && channels % groups == 0 && outChannels % groups == 0,
                 "conv2d: input \(x.shape) and weight \(weight.shape) channels must be divisible by groups \(groups)")
    precondition(weight.shape[1] == channels / groups,
                 "conv2d: weight \(weight.shape) expects \(weight.shape[1] * groups) input channels (groups \(groups)), input is \(x.shape)")
    if let bias { precondition(bias.shape == [outChannels], "conv2d: bias \(bias.shape) does not match weight \(weight.shape)") }
    let kernel = (weight.shape[2], weight.shape[3])
    precondition(ConvolutionGeometry.outputExtent(input: x.shape[2], kernel: kernel.0, stride: max(stride.0, 1),
                                                  padding: padding.0, dilation: dilation.0) > 0
                 && ConvolutionGeometry.outputExtent(input: x.shape[3], kernel: kernel.1, stride: max(stride.1, 1),
                                                     padding: padding.1, dilation: dilation.1) > 0,
                 "conv2d: kernel of weight \(weight.shape) with dilation \(dilation) is larger than input \(x.shape) padded by \(padding)")
    return ConvolutionGeometry(channels: channels, height: x.shape[2], width: x.shape[3], kernelSize: kernel,
                               stride: stride, padding: padding, dilation: dilation)
}

/// 2-D transposed convolution (PyTorch's `conv_transpose2d`): the input gradient of `conv2d`.
///
/// Each input pixel `x[n, c, h, w]` scatters `x · w[c, k, i, j]` onto `y[n, k, h·S − P + i·D, w·S − P + j·D]`,
/// within groups, plus `bias[k]`.
/// - Parameters:
///   - x: input `[N, C, H, W]`.
///   - weight: `[C, K/groups, kh, kw]`, exactly as PyTorch stores it.
///   - bias: optional `[K]`.
///   - outputPadding: extra rows/columns on the bottom/right, smaller than stride or dilation.
/// - Returns: `[N, K, OH, OW]` with `O = (I − 1)·S − 2P + D·(k − 1) + outputPadding + 1` per axis.
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                            padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
                            dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    precondition(x.rank == 4, "convTranspose2d expects input [N, C, H, W], got \(x.shape)")
    precondition(weight.rank == 4, "convTranspose2d expects weight [C, K/groups, kh, kw], got \(weight.shape)")
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(groups > 0 && channels % groups == 0,
                 "convTranspose2d: input \(x.shape) channels must be divisible by groups \(groups)")
    precondition(weight.shape[0] == channels,
                 "convTranspose2d: weight \(weight.shape) expects \(weight.shape[0]) input channels, input is \(x.shape)")
    let outChannels = weight.shape[1] * groups
    precondition(channels > 0 && outChannels > 0, "convTranspose2d: input \(x.shape) and weight \(weight.shape) need channels")
    if let bias { precondition(bias.shape == [outChannels], "convTranspose2d: bias \(bias.shape) does not match \(outChannels) output channels") }
    precondition(stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0,
                 "convTranspose2d: stride \(stride) and dilation \(dilation) must be positive")
    precondition(outputPadding.0 >= 0 && outputPadding.1 >= 0
                 && outputPadding.0 < max(stride.0, dilation.0) && outputPadding.1 < max(stride.1, dilation.1),
                 "convTranspose2d: output padding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
    let kernel = (weight.shape[2], weight.shape[3])
    let outHeight = (height - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kernel.0 - 1) + outputPadding.0 + 1
    let outWidth = (width - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kernel.1 - 1) + outputPadding.1 + 1
    precondition(outHeight > 0 && outWidth > 0,
                 "convTranspose2d: input \(x.shape) with weight \(weight.shape), padding \(padding) gives an empty output \(outHeight)×\(outWidth)")
    // The convolution this transposes maps y [K, OH, OW] to x [C, H, W].
    let geometry = ConvolutionGeometry(channels: outChannels, height: outHeight, width: outWidth, kernelSize: kernel,
                                       stride: stride, padding: padding, dilation: dilation, outputSize: (height, width))
    let plane = outHeight * outWidth
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    if batch == 0 { return Tensor.record(shape: [0, outChannels, outHeight, outWidth], storage: [], inputs: inputs) { _ in } }
    let xs = x.storage, ws = weight.storage
    var output = ConvolutionEngine.zeros(batch * outChannels * plane)
    output.withUnsafeMutableBufferPointer { y in
        xs.withUnsafeBufferPointer { px in
            ws.withUnsafeBufferPointer { pw in
                ConvolutionEngine.backward(gradOutput: px.baseAddress!, input: nil, batch: batch, geometry: geometry,
                                           weight: pw.baseAddress!, outChannels: channels, groups: groups,
                                           gradInput: y.baseAddress!, gradWeight: nil)
            }
        }
        if let bias { ConvolutionEngine.addBias(bias.storage, to: y.baseAddress!, batch: batch, plane: plane) }
    }
    return Tensor.record(shape: [batch, outChannels, outHeight, outWidth], storage: output, inputs: inputs) { g in
        g.storage.withUnsafeBufferPointer { dy in
            ws.withUnsafeBufferPointer { pw in
                if x.requiresGrad {
                    let gradInput = [Float](unsafeUninitializedCapacity: xs.count) { buffer, initialized in
                        ConvolutionEngine.forward(input: dy.baseAddress!, batch: batch, geometry: geometry,
                                                  weight: pw.baseAddress!, outChannels: channels, groups: groups,
                                                  output: buffer.baseAddress!)
                        initialized = xs.count
                    }
                    x.accumulateGrad(storage: gradInput)
                }
                if weight.requiresGrad {
                    var gradWeight = [Float](repeating: 0, count: ws.count)
                    xs.withUnsafeBufferPointer { px in
                        gradWeight.withUnsafeMutableBufferPointer { dw in
                            ConvolutionEngine.backward(gradOutput: px.baseAddress!, input: dy.baseAddress!, batch: batch,
                                                       geometry: geometry, weight: pw.baseAddress!, outChannels: channels,
                                                       groups: groups, gradInput: nil, gradWeight: dw.baseAddress!)
                        }
                    }
                    weight.accumulateGrad(storage: gradWeight)
                }
            }
        }
        if let bias, bias.requiresGrad {
            bias.accumulateGrad(storage: ConvolutionEngine.biasGradient(g.storage, batch: batch,
                                                                         channels: outChannels, plane: plane))
        }
    }
}
