import CKernels
import Foundation

/// The convolution GEMM of `CKernels` (AVX-512, or AVX2 with FMA): weights packed once, the column
/// matrix packed on the fly from the images, the output written straight into NCHW planes.
enum PackedGEMM {
    /// The instruction set of the kernels this CPU runs (nil: neither).
    static let supportedInstructionSet = PackedKernelInstructionSet(rawValue: Int(ck_gemm_supported()))

    /// Whether this CPU runs the kernels.
    static let isSupported = supportedInstructionSet != nil

    /// `VISION_GEMM`: `blas` keeps im2col + OpenBLAS, `avx2` runs the AVX2 kernels on an AVX-512 CPU
    /// (for comparisons); unset or anything else, the best kernels the CPU has.
    private static let environmentChoice = ProcessInfo.processInfo.environment["VISION_GEMM"]?.lowercased()

    /// Whether convolutions use the kernels: supported, and `VISION_GEMM` is not `blas`.
    nonisolated(unsafe) static var enabled: Bool = {
        if environmentChoice == "avx2" { ck_set_gemm_instruction_set(Int32(PackedKernelInstructionSet.avx2.rawValue)) }
        return isSupported && environmentChoice != "blas"
    }()

    /// The instruction set the kernels run with (nil when the CPU has neither, or after setting nil,
    /// which also turns `enabled` off; selecting one again leaves `enabled` as it is).
    static var instructionSet: PackedKernelInstructionSet? {
        get {
            _ = enabled  // applies VISION_GEMM first
            return PackedKernelInstructionSet(rawValue: Int(ck_gemm_instruction_set()))
        }
        set {
            _ = enabled
            if ck_set_gemm_instruction_set(Int32(newValue?.rawValue ?? 0)) == 0 { enabled = false }
        }
    }

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

        /// Room for an `rows × depth` matrix that the caller writes in the packed layout.
        init(rows: Int, depth: Int) {
            self.rows = rows
            self.depth = depth
            storage = .allocate(capacity: max(1, ck_packed_a_size(rows, depth)))
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
    /// when there are few columns), then `epilogue` on every value (see `ck_epilogue`).
    static func multiply(_ a: PackedMatrix, _ b: ck_patches, into c: ck_planes, columns: Int, accumulate: Bool,
                         epilogue: ck_epilogue? = nil) {
        guard columns > 0, a.rows > 0 else { return }
        let threads = Parallel.threads
        let columnTiles = (columns + tileColumns - 1) / tileColumns
        let rowTiles = (a.rows + tileRows - 1) / tileRows
        let add: Int32 = accumulate ? 1 : 0
        // Split the columns unless there are too few of them and more rows: each part is whole tiles.
        let byColumns = columnTiles >= 2 * threads || columnTiles >= rowTiles
        let tiles = byColumns ? columnTiles : rowTiles, tile = byColumns ? tileColumns : tileRows
        let extent = byColumns ? columns : a.rows
        let parts = columnTiles < 2 * threads && rowTiles < 2 * threads ? 1 : min(threads, tiles)
        Parallel.forEachIndex(parts) { part in
            var bp = b, cp = c, ep = epilogue ?? ck_epilogue()
            let lower = part * tiles / parts * tile, upper = min(extent, (part + 1) * tiles / parts * tile)
            withUnsafePointer(to: &ep) { e in
                let e = epilogue == nil ? nil : e
                if byColumns {
                    ck_gemm(a.rows, a.depth, a.storage, &bp, &cp, add, 0, a.rows, lower, upper, e)
                } else {
                    ck_gemm(a.rows, a.depth, a.storage, &bp, &cp, add, lower, upper, 0, columns, e)
                }
            }
        }
    }
}
