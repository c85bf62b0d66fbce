// The GEMM engine behind conv2d and convTranspose2d: im2col + OpenBLAS sgemm with the batch folded into
// the GEMM, or the packed AVX-512 / AVX2 kernels (CKernels) for the forward products they cover.
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

    /// The chunks one call lowers the batch in, with the buffers they need, allocated once: the column
    /// matrix (none when every chunk is part of one image of a pointwise convolution, read in place) and
    /// the `[K, images·plane]` staging of multi-image chunks.
    struct Lowering {
        let chunks: [Range<Int>]
        let geometry: ConvolutionGeometry
        let columnBuffer: UnsafeMutablePointer<Float>
        let staging: UnsafeMutablePointer<Float>

        /// nil for an empty batch.
        init?(batch: Int, geometry g: ConvolutionGeometry, outChannels: Int) {
            chunks = ConvolutionEngine.chunks(batch: batch, geometry: g)
            guard let widest = chunks.map(\.count).max() else { return nil }
            geometry = g
            let maxWidth = widest * g.outputWidth
            let anyMulti = chunks.contains { !isSingleImage($0, g) }
            columnBuffer = .allocate(capacity: g.isPointwise && !anyMulti ? 0 : g.rows * maxWidth)
            staging = .allocate(capacity: anyMulti ? outChannels * maxWidth : 0)
        }

        func deallocate() { columnBuffer.deallocate(); staging.deallocate() }

        /// A chunk's GEMM width (`rows · OW`), its first image, whether it lies within that image, and its
        /// offset in that image's output plane.
        func position(of chunk: Range<Int>) -> (width: Int, image: Int, single: Bool, start: Int) {
            let image = chunk.lowerBound / geometry.outputHeight
            return (chunk.count * geometry.outputWidth, image, isSingleImage(chunk, geometry),
                    (chunk.lowerBound - image * geometry.outputHeight) * geometry.outputWidth)
        }

        /// The chunk's column matrix `[rows, width]` and its leading dimension: the input itself for a
        /// pointwise convolution within one image, else `im2col` into the column buffer.
        func columns(of x: UnsafePointer<Float>, chunk: Range<Int>) -> (UnsafePointer<Float>, Int) {
            let (width, image, single, start) = position(of: chunk)
            if single && geometry.isPointwise { return (x + image * geometry.imageSize + start, geometry.outputPlane) }
            im2col(x, geometry: geometry, outputRows: chunk, columns: columnBuffer)
            return (UnsafePointer(columnBuffer), width)
        }
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
        guard let workspace = Lowering(batch: batch, geometry: g, outChannels: outChannels) else { return }
        defer { workspace.deallocate() }
        let rowsPerGroup = g.rows / groups, outPerGroup = outChannels / groups
        let plane = g.outputPlane, staging = workspace.staging
        for chunk in workspace.chunks {
            let (width, image, single, start) = workspace.position(of: chunk)
            let (b, ldb) = workspace.columns(of: x, chunk: chunk)
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
        guard let workspace = Lowering(batch: batch, geometry: g, outChannels: outChannels) else { return }
        let rowsPerGroup = g.rows / groups, outPerGroup = outChannels / groups
        let plane = g.outputPlane, columns = workspace.columnBuffer, staging = workspace.staging
        // With few output channels OpenBLAS runs `col · dYᵀ` (M = rows) faster than `dY · colᵀ` (M = K):
        // accumulate the transposed weight gradient and add it back at the end.
        let transposedWeightGradient = dw != nil && outPerGroup <= 64 && rowsPerGroup > outPerGroup
        let weightGradientT = UnsafeMutablePointer<Float>.allocate(capacity: transposedWeightGradient ? outChannels * rowsPerGroup : 0)
        if transposedWeightGradient { weightGradientT.initialize(repeating: 0, count: outChannels * rowsPerGroup) }
        defer { workspace.deallocate(); weightGradientT.deallocate() }
        for chunk in workspace.chunks {
            let (width, image, single, start) = workspace.position(of: chunk)
            let a: UnsafePointer<Float>, lda: Int
            if single {
                (a, lda) = (dy + image * outChannels * plane + start, plane)
            } else {
                reorder(dy + image * outChannels * plane, staging, channels: outChannels,
                        images: chunk.count / g.outputHeight, plane: plane, toBatchMajor: false)
                (a, lda) = (UnsafePointer(staging), width)
            }
            if let dw, let x {
                let (b, ldb) = workspace.columns(of: x, chunk: chunk)
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
