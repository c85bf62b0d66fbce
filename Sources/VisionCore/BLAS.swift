import CBLAS
import Dispatch
import Foundation

/// Thin, shape-explicit wrappers over OpenBLAS.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, row-major; `op(A)` is M×K, `op(B)` is K×N.
    @inline(__always)
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let orderA = transposeA ? CblasTrans : CblasNoTrans, orderB = transposeB ? CblasTrans : CblasNoTrans
        guard splitsAcrossCores && m * n * k >= 1 << 21 else {
            cblas_sgemm(CblasRowMajor, orderA, orderB, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                        b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        // OpenBLAS runs single-threaded: give each core a slab of C's columns (or rows, when taller).
        let parts = Parallel.threads, byColumns = n >= m
        let extent = byColumns ? n : m
        Parallel.forEachIndex(parts) { part in
            let lower = part * extent / parts, upper = (part + 1) * extent / parts
            guard lower < upper else { return }
            let (rows, columns) = byColumns ? (m, upper - lower) : (upper - lower, n)
            let slabA = byColumns ? a : a + (transposeA ? lower : lower * lda)
            let slabB = byColumns ? b + (transposeB ? lower * ldb : lower) : b
            let slabC = c + (byColumns ? lower : lower * ldc)
            cblas_sgemm(CblasRowMajor, orderA, orderB, Int32(rows), Int32(columns), Int32(k), alpha, slabA, Int32(lda),
                        slabB, Int32(ldb), beta, slabC, Int32(ldc))
        }
    }

    /// Whether OpenBLAS runs on one thread and `sgemm` splits large products over the cores itself
    /// (the default; `VISION_BLAS_SPLIT=0` leaves threading to OpenBLAS). OpenBLAS's own workers
    /// spin and yield between calls, taking a core from the element-wise kernels and the data
    /// loader; measured on 2 cores, training ran about 7 % faster without them.
    nonisolated(unsafe) static var splitsAcrossCores: Bool = {
        guard ProcessInfo.processInfo.environment["VISION_BLAS_SPLIT"] != "0", Parallel.threads > 1 else { return false }
        openblas_set_num_threads(1)
        return true
    }()

    /// The OpenBLAS kernel family in use (e.g. "Haswell", "SkylakeX").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's own thread count (1 when `sgemm` splits products over the cores itself).
    public static var threads: Int {
        _ = splitsAcrossCores
        return Int(openblas_get_num_threads())
    }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}

extension Tensor {
    /// Matrix product of 2-D tensors: `[M, K] · [K, N] → [M, N]`, optionally transposing either side.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        precondition(rank == 2 && other.rank == 2, "matmul needs 2-D tensors, got \(shape) and \(other.shape)")
        let m = transposeSelf ? shape[1] : shape[0]
        let k = transposeSelf ? shape[0] : shape[1]
        let k2 = transposeOther ? other.shape[1] : other.shape[0]
        let n = transposeOther ? other.shape[0] : other.shape[1]
        precondition(k == k2, "matmul inner extents differ: \(shape)\(transposeSelf ? "ᵀ" : "") · \(other.shape)\(transposeOther ? "ᵀ" : "")")
        var out = [Float](repeating: 0, count: m * n)
        let a = self, b = other
        Tensor.gemm(a.storage, transposeA: transposeSelf, b.storage, transposeB: transposeOther,
                    m: m, n: n, k: k, into: &out, lda: a.shape[1], ldb: b.shape[1])
        return Tensor.record(shape: [m, n], storage: out, inputs: [a, b]) { g in
            if a.requiresGrad {
                // dA = dC · Bᵀ (or its transpose when A was transposed).
                var ga = [Float](repeating: 0, count: a.count)
                if transposeSelf {
                    Tensor.gemm(b.storage, transposeA: transposeOther, g.storage, transposeB: true,
                                m: k, n: m, k: n, into: &ga, lda: b.shape[1], ldb: n)
                } else {
                    Tensor.gemm(g.storage, transposeA: false, b.storage, transposeB: !transposeOther,
                                m: m, n: k, k: n, into: &ga, lda: n, ldb: b.shape[1])
                }
                a.accumulateGrad(storage: ga)
            }
            if b.requiresGrad {
                var gb = [Float](repeating: 0, count: b.count)
                if transposeOther {
                    Tensor.gemm(g.storage, transposeA: true, a.storage, transposeB: transposeSelf,
                                m: n, n: k, k: m, into: &gb, lda: n, ldb: a.shape[1])
                } else {
                    Tensor.gemm(a.storage, transposeA: !transposeSelf, g.storage, transposeB: false,
                                m: k, n: n, k: m, into: &gb, lda: a.shape[1], ldb: n)
                }
                b.accumulateGrad(storage: gb)
            }
        }
    }

    static func gemm(_ a: [Float], transposeA: Bool, _ b: [Float], transposeB: Bool,
                     m: Int, n: Int, k: Int, into c: inout [Float], lda: Int, ldb: Int) {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                               a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                               c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
}
