// What the AVX-512 (gemm.c) and AVX2 (gemm_avx2.c) convolution products share: the packed layout of A
// and its k-blocks, the column-to-plane addressing of C, the epilogue of one value, the test for
// "shift" windows and the element-by-element packing of a panel of B. Private to CKernels.
#ifndef CK_GEMM_INTERNAL_H
#define CK_GEMM_INTERNAL_H

#include "ckernels.h"

/// MR: rows of a packed A panel (both instruction sets). NR: columns of a packed B panel of the AVX-512
/// kernel (the AVX2 kernel packs panels of 24). KC_MAX: rows of B per k-block. NB: columns per column block.
enum { MR = 8, NR = 48, KC_MAX = 256, NB = 8 * NR, MAX_TAPS = 16 };

static inline long k_blocks(long k) { return (k + KC_MAX - 1) / KC_MAX; }
static inline long k_block_start(long k, long block) { return block * k / k_blocks(k); }

static inline float *plane_address(const ck_planes *c, long column, long row) {
    long q = c->first_column + column;
    long image = q / c->plane, p = q - image * c->plane;
    return c->data + image * c->image_stride + row * c->row_stride + p;
}

/// The epilogue of one finished value v of output row `row`; `residual` points at its residual value
/// (NULL when there is none).
static inline float epilogue_value(const ck_epilogue *e, long row, float v, const float *residual) {
    if (e->scale) v *= e->scale[row];
    if (e->shift) v += e->shift[row];
    if (residual) v += *residual;
    if (e->relu && v <= 0) v = 0;  // NaN stays, as in ReLU
    return v;
}

/// Stride-1 geometry whose output rows are as wide as the input: every tap reads a shifted copy of
/// the plane, so a vector of lanes is one masked load per image it touches.
static inline int is_shift(const ck_patches *b) {
    return b->stride_h == 1 && b->stride_w == 1 && b->out_w == b->width
        && b->kernel_h <= MAX_TAPS && b->kernel_w <= MAX_TAPS
        // shift_segments compares rows and columns in 32 bits
        && b->height + b->pad_h + b->kernel_h * b->dilation_h < (1L << 30)
        && b->width + b->pad_w + b->kernel_w * b->dilation_w < (1L << 30);
}

/// Packs rows [r0, r0 + kc) of the panel of `count` ≤ `width` columns from `column` element by element
/// into `dst` (`width` floats per row; columns past `count` are zero). Any window geometry.
static inline void pack_panel_general(const ck_patches *b, long r0, long kc, long column, long count,
                                      long width, float *dst) {
    const long plane = b->out_h * b->out_w;
    long offset[NR], iy0[NR], ix0[NR];
    for (long t = 0; t < width; ++t) {
        if (t < count) {
            long q = b->first_column + column + t;
            long image = q / plane, p = q - image * plane;
            long oh = p / b->out_w, ow = p - oh * b->out_w;
            offset[t] = image * b->image_stride;
            iy0[t] = oh * b->stride_h - b->pad_h;
            ix0[t] = ow * b->stride_w - b->pad_w;
        } else {
            offset[t] = 0;
            iy0[t] = -(1L << 40);  // never inside
            ix0[t] = 0;
        }
    }
    const long taps = b->kernel_h * b->kernel_w;
    long c = r0 / taps, tap = r0 % taps, ky = tap / b->kernel_w, kx = tap % b->kernel_w;
    for (long r = 0; r < kc; ++r) {
        const float *channel = b->data + c * b->channel_stride;
        long dy = ky * b->dilation_h, dx = kx * b->dilation_w;
        for (long t = 0; t < width; ++t) {
            long iy = iy0[t] + dy, ix = ix0[t] + dx;
            dst[t] = (iy >= 0 && iy < b->height && ix >= 0 && ix < b->width)
                ? channel[offset[t] + iy * b->width + ix] : 0.0f;
        }
        dst += width;
        if (++kx == b->kernel_w) {
            kx = 0;
            if (++ky == b->kernel_h) { ky = 0; ++c; }
        }
    }
}

/// Whether windows other than shift ones are packed with gathers (see `ck_set_gather_packing`).
extern int ck_gather_packing;

#if defined(__x86_64__)
/// This thread's buffer of KC_MAX × NB floats for packed B panels (64-byte aligned; gemm.c).
float *ck_thread_panels(void);

/// The AVX2 + FMA versions of `ck_gemm` and `ck_weight_gradient_3x3` (gemm_avx2.c).
void ck_gemm_avx2(long m, long k, const float *packed_a, const ck_patches *b, const ck_planes *c,
                  int accumulate, long row0, long row1, long column0, long column1, const ck_epilogue *epilogue);
void ck_weight_gradient_3x3_avx2(const ck_patches *x, const float *dy, long dy_image_stride, long images,
                                 float *dw, long ldw, long o0, long o1, long c0, long c1);
#endif

#endif
