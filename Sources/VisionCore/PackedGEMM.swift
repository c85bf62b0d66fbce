import CKernels
import Foundation

/// The AVX-512 convolution GEMM of `CKernels`: weights packed once, the column matrix packed on the fly
/// from the images, the output written straight into NCHW planes.
enum PackedGEMM {
    /// Whether this CPU runs the kernel (AVX-512).
    static let isSupported = ck_gemm_supported() != 0

    /// Whether convolutions use it: supported, and `VISION_GEMM` is not `blas` (which keeps OpenBLAS,
    /// for comparisons).
    nonisolated(unsafe) static var enabled = isSupported
        && ProcessInfo.processInfo.environment["VISION_GEMM"]?.lowercased() != "blas"

    /// Register tile of the micro-kernel: rows of A per panel and columns of B per panel.
    static let tileRows = 8, tileColumns = 48

    /// A packed `m × k` matrix (element `(i, r)` at `a[i·lda + r]`, or `a[r·lda + i]` when transposed).
    final class PackedMatrix {
        let rows: Int, depth: Int
        let storage: UnsafeMutablePointer<Float>

        init(rows: Int, depth: Int, _ a: UnsafePointer<Float>, lda: Int, transposed: Bool) {
            self.rows = rows
            self.depth = depth
            storage = .allocate(capacity: max(1, ck_packed_a_size(rows, depth)))
            ck_pack_a(rows, depth, a, lda, transposed ? 1 : 0, storage)
        }

        deinit { storage.deallocate() }
    }

    /// The column matrix of `x` (`[batch, channels, height, width]` with planes `channelStride` and
    /// images `imageStride` apart) for the window of `g`, from flattened output position `firstColumn`.
    static func patches(_ x: UnsafePointer<Float>, channels: Int, channelStride: Int, imageStride: Int,
                        geometry g: ConvolutionGeometry, firstColumn: Int = 0) -> ck_patches {
        ck_patches(data: x, channels: channels, height: g.height, width: g.width,
                   channel_stride: channelStride, image_stride: imageStride,
                   kernel_h: g.kernelHeight, kernel_w: g.kernelWidth, stride_h: g.strideHeight, stride_w: g.strideWidth,
                   pad_h: g.paddingHeight, pad_w: g.paddingWidth, dilation_h: g.dilationHeight, dilation_w: g.dilationWidth,
                   out_h: g.outputHeight, out_w: g.outputWidth, first_column: firstColumn)
    }

    /// Planes `[batch, channels, height · width]` read as the matrix `[channels, batch · height · width]`
    /// (a 1×1 window).
    static func planes(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, imageStride: Int,
                       firstColumn: Int = 0) -> ck_patches {
        ck_patches(data: x, channels: channels, height: height, width: width,
                   channel_stride: height * width, image_stride: imageStride,
                   kernel_h: 1, kernel_w: 1, stride_h: 1, stride_w: 1, pad_h: 0, pad_w: 0, dilation_h: 1, dilation_w: 1,
                   out_h: height, out_w: width, first_column: firstColumn)
    }

    /// `C (=|+=) A · B` for the `columns` columns of `b`, split over the cores by columns (or by rows
    /// when there are few columns).
    static func multiply(_ a: PackedMatrix, _ b: ck_patches, into c: ck_planes, columns: Int, accumulate: Bool) {
        guard columns > 0, a.rows > 0 else { return }
        let threads = Parallel.threads
        let columnTiles = (columns + tileColumns - 1) / tileColumns
        let rowTiles = (a.rows + tileRows - 1) / tileRows
        var bb = b, cc = c
        let add: Int32 = accumulate ? 1 : 0
        if threads == 1 || (columnTiles < 2 * threads && rowTiles < 2 * threads) {
            ck_gemm(a.rows, a.depth, a.storage, &bb, &cc, add, 0, a.rows, 0, columns)
        } else if columnTiles >= 2 * threads || columnTiles >= rowTiles {
            let parts = min(threads, columnTiles)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                var bp = bb, cp = cc
                let lower = part * columnTiles / parts * tileColumns
                let upper = min(columns, (part + 1) * columnTiles / parts * tileColumns)
                ck_gemm(a.rows, a.depth, a.storage, &bp, &cp, add, 0, a.rows, lower, upper)
            }
        } else {
            let parts = min(threads, rowTiles)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                var bp = bb, cp = cc
                let lower = part * rowTiles / parts * tileRows
                let upper = min(a.rows, (part + 1) * rowTiles / parts * tileRows)
                ck_gemm(a.rows, a.depth, a.storage, &bp, &cp, add, lower, upper, 0, columns)
            }
        }
    }
}
