import VisionCore

/// The single-layer cases of `torch_baseline.py`: 3×3 convolutions, padding 1, no bias, batch 64.
/// Forward flops are `2·N·K·C·9·OH·OW`; forward+backward (input and weight gradients) counts 3×.
/// Options: `--seconds S` minimum timed seconds per case, `--column-limit F` column buffer floats.
func runConvolutionBenchmark(_ options: BenchmarkOptions) {
    if let limit = options.int("column-limit") { ConvolutionTuning.columnBufferLimit = limit }
    let seconds = options.double("seconds", default: 1.5)
    var generator = SeededGenerator(seed: 0)
    for (batch, channels, size, outChannels) in [(64, 64, 32, 64), (64, 128, 16, 128), (64, 256, 8, 256), (64, 512, 4, 512)] {
        let x = Tensor.normal([batch, channels, size, size], generator: &generator, requiresGrad: true)
        let bound = 1 / Float(channels * 9).squareRoot()
        let weight = Tensor.uniform([outChannels, channels, 3, 3], low: -bound, high: bound,
                                    generator: &generator, requiresGrad: true)
        let flops = 2.0 * Double(batch * outChannels * channels * 9 * size * size)
        let tag = "n\(batch)_c\(channels)_h\(size)_k\(outChannels)"
        let forward = medianSeconds(minSeconds: seconds) {
            _ = Autograd.noGrad { conv2d(x, weight: weight, padding: (1, 1)) }
        }
        report("conv3x3_fwd_\(tag)", flops / forward / 1e9, "GFLOP/s")
        let ones = Tensor.ones([batch, outChannels, size, size])
        let both = medianSeconds(minSeconds: seconds) {
            let y = conv2d(x, weight: weight, padding: (1, 1))
            y.backward(ones)
        }
        report("conv3x3_fwdbwd_\(tag)", 3 * flops / both / 1e9, "GFLOP/s")
    }
}

/// `C = A·B` for 1024×1024 matrices, flops `2·1024³`.
func runSgemmBenchmark(_ options: BenchmarkOptions) {
    let n = 1024
    var generator = SeededGenerator(seed: 1)
    let a = Tensor.normal([n, n], generator: &generator)
    let b = Tensor.normal([n, n], generator: &generator)
    var c = [Float](repeating: 0, count: n * n)
    let time = medianSeconds(minSeconds: options.double("seconds", default: 1.5)) {
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                               c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
    report("sgemm_1024", 2 * Double(n * n * n) / time / 1e9, "GFLOP/s", note: "core \(BLAS.coreName)")
}
