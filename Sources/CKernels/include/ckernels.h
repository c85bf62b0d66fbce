#ifndef CKERNELS_H
#define CKERNELS_H

/*
 * Single-precision matrix product for convolutions, written for AVX-512 (gemm.c) and for AVX2 with
 * FMA (gemm_avx2.c); `ck_gemm_supported` tells which this CPU runs.
 *
 * C[i, j] (=|+=) Σ_r A[i, r] · B[r, j]
 *
 * A is a plain matrix (the weights), packed once with `ck_pack_a`. B is never materialised: it is
 * the column matrix ("im2col") of a batch of images, read straight into the kernel's packed panels,
 * so a convolution needs no column buffer. A plain row-major matrix is the special case of a 1×1
 * kernel over one image of one row. C is addressed the same way, as a batch of planes, so the
 * forward convolution writes NCHW output directly.
 *
 * Column j of B and C is the flattened output position q = first_column + j = n·plane + p of image n.
 */

#ifdef __cplusplus
extern "C" {
#endif

/// The column matrix of `data` for a convolution window: row r = (c·kernel_h + ky)·kernel_w + kx,
/// column q = (n, oh, ow) holds data[n·image_stride + c·channel_stride + iy·width + ix] with
/// iy = oh·stride_h − pad_h + ky·dilation_h, ix = ow·stride_w − pad_w + kx·dilation_w, or 0 outside
/// the image.
typedef struct {
    const float *data;
    long channels, height, width;
    long channel_stride, image_stride;
    long kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
    long out_h, out_w;
    long first_column;
} ck_patches;

/// A matrix whose column q = n·plane + p lives at data[n·image_stride + row·row_stride + p]
/// (q counted from first_column).
typedef struct {
    float *data;
    long plane, row_stride, image_stride;
    long first_column;
} ck_planes;

/// What happens to each finished output value v of row (channel) k at position p, in this order:
/// v·scale[k] (when `scale`), + shift[k] (when `shift`), + the value at p of `residual` (when set: a matrix
/// laid out as the output, `residual` standing for its `data`), max(v, 0) (when `relu`). `scale` and
/// `shift` are indexed by the rows of this product (for one group of a grouped convolution, callers
/// offset them by the group's first channel).
typedef struct {
    const float *scale, *shift, *residual;
    int relu;
} ck_epilogue;

/// The kernels this CPU runs: 2 for AVX-512 (F, BW, DQ, VL), 1 for AVX2 with FMA, 0 for neither
/// (then callers use BLAS).
int ck_gemm_supported(void);

/// The instruction set `ck_gemm` and `ck_weight_gradient_3x3` use (as `ck_gemm_supported`); the
/// supported one unless lowered with `ck_set_gemm_instruction_set`.
int ck_gemm_instruction_set(void);

/// Selects the kernels' instruction set, clamped to [0, `ck_gemm_supported()`] (so an AVX-512 machine
/// can run the AVX2 kernels, for tests and comparisons); returns the level selected.
int ck_set_gemm_instruction_set(int level);

/// Whether windows other than stride-1 "same-width" ones are packed with gathers (1, the default) or
/// element by element (0); for measuring the difference.
void ck_set_gather_packing(int on);

/// Products with at most this many rows of A (output channels) read stride-1 "same-width" windows
/// straight from the images for every panel that lies inside one image per vector, instead of packing
/// them (0: always pack). Default 64. The AVX-512 kernel only; the AVX2 one always packs.
void ck_set_direct_max_rows(long rows);

/// Floats `ck_pack_a` writes for an m×k matrix.
long ck_packed_a_size(long m, long k);

/// Packs A (m×k, element (i, r) at a[i·lda + r], or a[r·lda + i] when `transpose`) for `ck_gemm`.
void ck_pack_a(long m, long k, const float *a, long lda, int transpose, float *packed);

/// C rows [row0, row1) (row0 a multiple of 8) and columns [column0, column1) of A·B; `accumulate`
/// adds to C instead of overwriting it. `epilogue` (or NULL) applies to the finished values (after
/// any accumulation; callers do not combine the two). Thread-safe: each calling thread uses its own buffers.
void ck_gemm(long m, long k, const float *packed_a, const ck_patches *b, const ck_planes *c,
             int accumulate, long row0, long row1, long column0, long column1, const ck_epilogue *epilogue);

/// Weight gradient of a 3×3 stride-1 convolution whose output rows are as wide as its input (any
/// padding and dilation), read straight from the images: for o in [o0, o1), c in [c0, c1),
/// dw[o·ldw + c·9 + tap] += Σ_n Σ_p dy[n·dy_image_stride + o·plane + p] · (column (c·9 + tap, n·plane + p)
/// of `x`), plane = out_h·out_w. Thread-safe for disjoint (o, c) ranges.
void ck_weight_gradient_3x3(const ck_patches *x, const float *dy, long dy_image_stride, long images,
                            float *dw, long ldw, long o0, long o1, long c0, long c1);

/// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions (winograd.c). The 16 transformed matrices ξν of
/// the input tiles and of the products are `v_stride` / `m_stride` floats apart.
///
/// Filter: weights w[m][channels][3][3] → the 16 matrices u_ξν[k][c] = (G g Gᵀ)[ξ][ν], written to
/// packed[ξν] as `ck_pack_a` packs an m × channels matrix; rows [row0, row1) as for `ck_pack_a`.
/// In gemm.c, which owns the packed layout.
void ck_winograd_filter_packed(const float *w, long m, long channels, float *const *packed, long row0, long row1);

/// Input: for channels [c0, c1) of `images` images (height × width planes), the 4×4 tiles starting at
/// (2·th − pad, 2·tw − pad), zero outside, → v[ξν][c][n·tiles_h·tiles_w + th·tiles_w + tw] = (Bᵀ d B)[ξ][ν].
void ck_winograd_input(const float *x, long height, long width, long pad, long channel_stride, long image_stride,
                       long images, long tiles_h, long tiles_w, float *v, long v_stride, long c0, long c1);

/// Output: m[ξν][k][tile] → the 2×2 tiles Aᵀ M A of output channels [k0, k1), cropped to out_h × out_w,
/// written (or added, with `accumulate`) at y[n·image_stride + k·channel_stride + oy·out_w + ox], after
/// `epilogue` (or NULL; not with `accumulate`; its residual laid out as y, scale and shift indexed by k).
void ck_winograd_output(const float *m, long m_stride, long images, long tiles_h, long tiles_w,
                        float *y, long out_h, long out_w, long channel_stride, long image_stride,
                        int accumulate, long k0, long k1, const ck_epilogue *epilogue);

/// Weight gradient (Winograd F(3×3, 2×2) over the same tiles): y = Aᵀ[(G g Gᵀ) ⊙ V]A makes
/// ∂L/∂g = Σ_tiles Gᵀ[(A dY Aᵀ) ⊙ V]G. This transforms the 2×2 tiles of dY (zero beyond out_h × out_w)
/// of output channels [k0, k1): dy[n·image_stride + k·channel_stride + oy·out_w + ox] →
/// u[ξν][k][n·tiles_h·tiles_w + th·tiles_w + tw] = (A d Aᵀ)[ξ][ν], matrices `u_stride` floats apart.
void ck_winograd_output_gradient(const float *dy, long out_h, long out_w, long channel_stride, long image_stride,
                                 long images, long tiles_h, long tiles_w, float *u, long u_stride, long k0, long k1);

/// …and, given the 16 summed products du[ξν][k][c] (`du_stride` floats apart), adds Gᵀ·du·G to
/// dw[k][c][3][3] for output channels [k0, k1).
void ck_winograd_filter_gradient(const float *du, long du_stride, long channels, float *dw, long k0, long k1);

/// Keeps freed blocks up to 32 MiB in the heap (glibc's mmap threshold at its maximum) and trims the
/// heap only above 1 GiB free, so repeated large allocations do not fault in fresh zeroed pages.
void ck_keep_freed_memory(void);

/// Bytes of freed memory the allocator holds for reuse (glibc's `mallinfo2().fordblks`); -1 elsewhere.
long ck_heap_free_bytes(void);

/// A spin-wait hint to the CPU (`pause` on x86), for threads polling a flag another core will set.
void ck_cpu_relax(void);

#ifdef __cplusplus
}
#endif

#endif
