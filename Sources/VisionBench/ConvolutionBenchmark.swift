import VisionCore

/// (batch, channels, height = width, output channels) of the single-layer cases of torch_baseline.py.
let convolutionCases = [(64, 64, 32, 64), (64, 128, 16, 128), (64, 256, 8, 256), (64, 512, 4, 512)]

/// The single-layer cases of `torch_baseline.py`: 3×3 convolutions, padding 1, no bias, batch 64,
/// then its dilated case (64 channels, 32×32, dilation 2, padding 2, forward only).
/// Forward flops are `2·N·K·C·9·OH·OW`; forward+backward (input and weight gradients) counts 3×.
/// Each figure is also given as a fraction of the 1024³ sgemm rate measured right after it;
/// PyTorch's oneDNN convolutions ran at 0.8–1.1× its sgemm on this machine (ARCHITECTURE.md).
/// Options: `--seconds S` minimum timed seconds per case, `--channels C` only the case with C
/// channels, `--column-limit F` the im2col buffer limit in floats.
func runConvolutionBenchmark(_ options: BenchmarkOptions) {
    if let limit = options.int("column-limit") { ConvolutionTuning.columnBufferLimit = limit }
    // The reference rate is re-measured next to each case so that a shared machine's changing load
    // affects both sides of the ratio alike.
    func ratio(_ flops: Double, _ timing: Timing) -> String {
        let sgemm = 2 * 1024 * 1024 * 1024 / 1e9 / timeSgemm(size: 1024, seconds: 0.3).median
        return "= " + String(format: "%.2f", flops / timing.median / sgemm) + "× sgemm_1024"
    }
    var generator = SeededGenerator(seed: 0)
    for (batch, channels, size, outChannels) in convolutionCases where options.int("channels").map({ $0 == channels }) ?? true {
        let x = Tensor.normal([batch, channels, size, size], generator: &generator, requiresGrad: true)
        let bound = 1 / Float(channels * 9).squareRoot()
        let weight = Tensor.uniform([outChannels, channels, 3, 3], low: -bound, high: bound,
                                    generator: &generator, requiresGrad: true)
        let flops = 2.0 * Double(batch * outChannels * channels * 9 * size * size) / 1e9
        let tag = "n\(batch)_c\(channels)_h\(size)_k\(outChannels)"
        let forward = measure(minSeconds: options.seconds) {
            _ = Autograd.noGrad { conv2d(x, weight: weight, padding: (1, 1)) }
        }
        report("conv3x3_fwd_\(tag)", work: flops, forward, "GFLOP/s", note: ratio(flops, forward))
        // As in PyTorch's loop, gradients accumulate into x.grad and weight.grad across iterations.
        let ones = Tensor.ones([batch, outChannels, size, size])
        let both = measure(minSeconds: options.seconds) {
            conv2d(x, weight: weight, padding: (1, 1)).backward(ones)
        }
        report("conv3x3_fwdbwd_\(tag)", work: 3 * flops, both, "GFLOP/s", note: ratio(3 * flops, both))
    }
    if options.int("channels") == nil {
        let x = Tensor.normal([64, 64, 32, 32], generator: &generator)
        let weight = Tensor.normal([64, 64, 3, 3], std: 0.04, generator: &generator)
        let flops = 2.0 * 64 * 64 * 32 * 32 * 64 * 9 / 1e9
        let forward = measure(minSeconds: options.seconds) {
            _ = conv2d(x, weight: weight, padding: (2, 2), dilation: (2, 2))
        }
        report("conv3x3_dil2_fwd", work: flops, forward, "GFLOP/s", note: ratio(flops, forward))
    }
    // ResNet-18's downsampling convolutions (stride 2, doubling the channels): windows that do not
    // shift along a row, so the kernel's panels are gathered.
    for (channels, size) in [(64, 32), (128, 16), (256, 8)] where options.int("channels").map({ $0 == channels }) ?? true {
        let x = Tensor.normal([64, channels, size, size], generator: &generator)
        let weight = Tensor.normal([2 * channels, channels, 3, 3], std: 0.04, generator: &generator)
        let flops = 2.0 * 64 * Double(2 * channels * channels * 9 * size * size / 4) / 1e9
        let forward = measure(minSeconds: options.seconds) {
            _ = conv2d(x, weight: weight, stride: (2, 2), padding: (1, 1))
        }
        report("conv3x3_s2_fwd_c\(channels)_h\(size)", work: flops, forward, "GFLOP/s", note: ratio(flops, forward))
    }
}

/// Where the time of a convolution goes: the whole-batch im2col pass, and the bare GEMMs of the
/// forward and backward passes at the shapes the convolution runs them (one chunk of the column
/// buffer) next to the whole-batch shapes. Options as for `conv`.
func runConvolutionBreakdown(_ options: BenchmarkOptions) {
    if let limit = options.int("column-limit") { ConvolutionTuning.columnBufferLimit = limit }
    let seconds = options.double("seconds", default: 0.5)
    var generator = SeededGenerator(seed: 0)
    for (batch, channels, size, outChannels) in convolutionCases where options.int("channels").map({ $0 == channels }) ?? true {
        let geometry = ConvolutionGeometry(channels: channels, height: size, width: size, kernelSize: (3, 3), padding: (1, 1))
        let rows = geometry.rows
        let imagesPerChunk = max(1, min(batch, ConvolutionTuning.columnBufferLimit / (rows * geometry.outputPlane)))
        let x = Tensor.normal([batch, channels, size, size], generator: &generator).storage
        let w = Tensor.normal([outChannels, rows], generator: &generator).storage
        var columns = [Float](repeating: 0, count: rows * batch * geometry.outputPlane)
        var y = [Float](repeating: 0, count: outChannels * batch * geometry.outputPlane)
        var dw = [Float](repeating: 0, count: outChannels * rows)
        let tag = "c\(channels)_h\(size)"
        print("-- \(tag): \(imagesPerChunk) images per chunk")
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                columns.withUnsafeMutableBufferPointer { col in
                    y.withUnsafeMutableBufferPointer { py in
                        dw.withUnsafeMutableBufferPointer { pdw in
                            let (px, pw, col, py, pdw) = (px.baseAddress!, pw.baseAddress!, col.baseAddress!,
                                                          py.baseAddress!, pdw.baseAddress!)
                            let im2colTime = measure(minSeconds: seconds) {
                                im2col(px, geometry: geometry, outputRows: 0..<(batch * geometry.outputHeight), columns: col)
                            }
                            report("im2col_whole_batch_\(tag)", work: Double(rows * batch * geometry.outputPlane) * 4 / 1e9,
                                   im2colTime, "GB/s written")
                            let chunkTime = measure(minSeconds: seconds) {
                                im2col(px, geometry: geometry, outputRows: 0..<(imagesPerChunk * geometry.outputHeight), columns: col)
                            }
                            report("im2col_one_chunk_\(tag)", work: Double(rows * imagesPerChunk * geometry.outputPlane) * 4 / 1e9,
                                   chunkTime, "GB/s written")
                            for width in [imagesPerChunk * geometry.outputPlane, batch * geometry.outputPlane] {
                                let flops = 2.0 * Double(outChannels * rows * width) / 1e9
                                let forward = measure(minSeconds: seconds) {
                                    BLAS.sgemm(m: outChannels, n: width, k: rows, a: pw, lda: rows, b: col, ldb: width,
                                               c: py, ldc: width)
                                }
                                report("gemm_fwd_NN_\(outChannels)x\(width)x\(rows)", work: flops, forward, "GFLOP/s")
                                let weightGradient = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeB: true, m: outChannels, n: rows, k: width, a: py, lda: width,
                                               b: col, ldb: width, beta: 1, c: pdw, ldc: rows)
                                }
                                report("gemm_dW_NT_\(outChannels)x\(rows)x\(width)", work: flops, weightGradient, "GFLOP/s")
                                let transposedWeightGradient = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeB: true, m: rows, n: outChannels, k: width, a: col, lda: width,
                                               b: py, ldb: width, beta: 1, c: pdw, ldc: outChannels)
                                }
                                report("gemm_dWT_NT_\(rows)x\(outChannels)x\(width)", work: flops, transposedWeightGradient, "GFLOP/s")
                                let columnGradient = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeA: true, m: rows, n: width, k: outChannels, a: pw, lda: rows,
                                               b: py, ldb: width, c: col, ldc: width)
                                }
                                report("gemm_dcol_TN_\(rows)x\(width)x\(outChannels)", work: flops, columnGradient, "GFLOP/s")
                            }
                        }
                    }
                }
            }
        }
    }
}
