import VisionCore

/// The timing of `C = A·B` for `n×n` matrices (flops `2·n³`).
func timeSgemm(size n: Int, seconds: Double) -> Timing {
    var generator = SeededGenerator(seed: 1)
    let a = Tensor.normal([n, n], generator: &generator).storage
    let b = Tensor.normal([n, n], generator: &generator).storage
    var c = [Float](repeating: 0, count: n * n)
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                measure(minSeconds: seconds) {
                    BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                               c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
}

/// `sgemm_1024` as in torch_baseline.py, with the OpenBLAS kernel family (`BLAS.coreName`).
func runSgemmBenchmark(_ options: BenchmarkOptions) {
    report("sgemm_1024", work: 2 * 1024 * 1024 * 1024 / 1e9, timeSgemm(size: 1024, seconds: options.seconds), "GFLOP/s",
           note: "core \(BLAS.coreName)")
}
