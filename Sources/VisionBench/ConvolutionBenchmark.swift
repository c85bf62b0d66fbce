import VisionCore

/// The single-layer cases of `torch_baseline.py`: 3×3 convolutions, padding 1, no bias, batch 64.
/// Forward flops are `2·N·K·C·9·OH·OW`; forward+backward (input and weight gradients) counts 3×.
/// Options: `--seconds S` minimum timed seconds per case, `--column-limit F` column buffer floats,
/// `--channels C` only the case with C channels.
/// (batch, channels, height = width, output channels) of the single-layer cases.
let convolutionCases = [(64, 64, 32, 64), (64, 128, 16, 128), (64, 256, 8, 256), (64, 512, 4, 512)]

func runConvolutionBenchmark(_ options: BenchmarkOptions) {
    if let limit = options.int("column-limit") { ConvolutionTuning.columnBufferLimit = limit }
    let seconds = options.double("seconds", default: 1.5)
    var generator = SeededGenerator(seed: 0)
    for (batch, channels, size, outChannels) in convolutionCases where options.int("channels").map({ $0 == channels }) ?? true {
        let x = Tensor.normal([batch, channels, size, size], generator: &generator, requiresGrad: true)
        let bound = 1 / Float(channels * 9).squareRoot()
        let weight = Tensor.uniform([outChannels, channels, 3, 3], low: -bound, high: bound,
                                    generator: &generator, requiresGrad: true)
        let flops = 2.0 * Double(batch * outChannels * channels * 9 * size * size)
        let tag = "n\(batch)_c\(channels)_h\(size)_k\(outChannels)"
        let forward = measure(minSeconds: seconds) {
            _ = Autograd.noGrad { conv2d(x, weight: weight, padding: (1, 1)) }
        }
        report("conv3x3_fwd_\(tag)", work: flops / 1e9, forward, "GFLOP/s")
        let ones = Tensor.ones([batch, outChannels, size, size])
        let both = measure(minSeconds: seconds) {
            let y = conv2d(x, weight: weight, padding: (1, 1))
            y.backward(ones)
        }
        report("conv3x3_fwdbwd_\(tag)", work: 3 * flops / 1e9, both, "GFLOP/s")
    }
}

/// `C = A·B` for 1024×1024 matrices, flops `2·1024³`.
func runSgemmBenchmark(_ options: BenchmarkOptions) {
    let n = 1024
    var generator = SeededGenerator(seed: 1)
    let a = Tensor.normal([n, n], generator: &generator)
    let b = Tensor.normal([n, n], generator: &generator)
    var c = [Float](repeating: 0, count: n * n)
    let time = measure(minSeconds: options.double("seconds", default: 1.5)) {
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                               c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
    report("sgemm_1024", work: 2 * Double(n * n * n) / 1e9, time, "GFLOP/s", note: "core \(BLAS.coreName)")
}

/// Where the time of one convolution goes: the im2col pass and the bare GEMMs of the forward and
/// backward passes at the shapes the convolution runs them (one chunk of the column buffer), each
/// measured on its own, next to the whole-batch GEMMs for comparison.
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
                            let (px, pw, col, py, pdw) = (px.baseAddress!, pw.baseAddress!, col.baseAddress!, py.baseAddress!, pdw.baseAddress!)
                            let total = batch * geometry.outputHeight
                            let im2colTime = measure(minSeconds: seconds) {
                                im2col(px, geometry: geometry, outputRows: 0..<total, columns: col)
                            }
                            report("im2col_whole_batch_\(tag)", work: Double(rows * batch * geometry.outputPlane) * 4 / 1e9, im2colTime, "GB/s written")
                            for width in [imagesPerChunk * geometry.outputPlane, batch * geometry.outputPlane] {
                                let flops = 2.0 * Double(outChannels * rows * width)
                                let nn = measure(minSeconds: seconds) {
                                    BLAS.sgemm(m: outChannels, n: width, k: rows, a: pw, lda: rows, b: col, ldb: width, c: py, ldc: width)
                                }
                                report("gemm_fwd_NN_\(outChannels)x\(width)x\(rows)", work: flops / 1e9, nn, "GFLOP/s")
                                let tt = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeA: true, transposeB: true, m: width, n: outChannels, k: rows, a: col, lda: width,
                                               b: pw, ldb: rows, c: py, ldc: outChannels)
                                }
                                report("gemm_fwdT_TT_\(width)x\(outChannels)x\(rows)", work: flops / 1e9, tt, "GFLOP/s")
                                let nt = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeB: true, m: outChannels, n: rows, k: width, a: py, lda: width, b: col, ldb: width,
                                               beta: 1, c: pdw, ldc: rows)
                                }
                                report("gemm_dW_NT_\(outChannels)x\(rows)x\(width)", work: flops / 1e9, nt, "GFLOP/s")
                                let ntT = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeB: true, m: rows, n: outChannels, k: width, a: col, lda: width, b: py, ldb: width,
                                               beta: 1, c: pdw, ldc: outChannels)
                                }
                                report("gemm_dWT_NT_\(rows)x\(outChannels)x\(width)", work: flops / 1e9, ntT, "GFLOP/s")
                                let tn = measure(minSeconds: seconds) {
                                    BLAS.sgemm(transposeA: true, m: rows, n: width, k: outChannels, a: pw, lda: rows, b: py, ldb: width,
                                               c: col, ldc: width)
                                }
                                report("gemm_dcol_TN_\(rows)x\(width)x\(outChannels)", work: flops / 1e9, tn, "GFLOP/s")
                            }
                        }
                    }
                }
            }
        }
    }
}
