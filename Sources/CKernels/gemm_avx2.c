// AVX2 + FMA matrix product with the column matrix of a convolution packed on the fly, for CPUs without
// AVX-512 (AMD Zen 2/3, Intel cores before Ice Lake); the contract of `ck_gemm` (see ckernels.h).
//
// Blocking as in gemm.c: k-blocks of at most KC_MAX rows of B, column blocks of NB columns, A packed in
// 8-row panels. B's block is packed into panels of PW = 24 columns (three 8-lane vectors; the im2col
// done here), and every 8-row panel of A sweeps them as two 4 × 24 register tiles: 12 accumulators,
// 3 vector loads and 4 broadcasts per step of r, as many as the 16 ymm registers hold. Stride-1
// windows whose output rows are as wide as the input are packed with masked loads, other windows with
// gathers (or element by element). A tile that is cut short, or whose vectors cross from one image
// into the next, goes through a buffer and is stored element by element.

#include "gemm_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#define CK_AVX2 __attribute__((target("avx2,fma")))

enum { PW = 24, TR = 4, MAX_SEGMENTS8 = 3 * 8 };

/// The lanes `bits` of an 8-lane vector as the all-ones / zero lanes `maskload` takes.
CK_AVX2 static inline __m256i lane_mask(unsigned bits) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), bit), bit);
}

// Masked loads (`vmaskmovps`) here only ever span memory inside the plane or buffer they read: Intel
// guarantees that masked-off lanes never fault, but AMD leaves it to the implementation. Where the
// eight lanes would reach past a plane, the lanes are read one by one instead.

/// The lanes `bits` of the 8 floats at `address`, read one by one (the others zero): only those lanes'
/// memory is touched.
CK_AVX2 static inline __m256 load_lanes(uintptr_t address, unsigned bits) {
    const float *p = (const float *)address;
    float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int t = 0; t < 8; ++t) {
        if (bits >> t & 1) v[t] = p[t];
    }
    return _mm256_loadu_ps(v);
}

// MARK: - Packing B

/// Lanes of one 8-column vector of a panel that belong to one image: lane t reads position base + t of
/// image `image`; `rows[ky]` / `columns[kx]` mark the lanes whose tap stays inside the image.
typedef struct {
    uint8_t lanes;
    int vector;
    long image, base;
    uint8_t rows[MAX_TAPS], columns[MAX_TAPS];
} segment8;

/// The segments of the panel of `count` ≤ PW columns from `column` (a shift geometry), in vector order.
static int shift_segments8(const ck_patches *b, long column, long count, segment8 *segments) {
    const long plane = b->out_h * b->out_w, width = b->width, height = b->height;
    int n_segments = 0;
    for (int v = 0; v < PW / 8; ++v) {
        long t = 0;
        while (t < 8 && 8 * v + t < count) {
            const long q = b->first_column + column + 8 * v + t;
            const long image = q / plane, p = q - image * plane;
            long lanes = 8 - t;
            if (plane - p < lanes) lanes = plane - p;
            if (count - (8 * v + t) < lanes) lanes = count - (8 * v + t);
            segment8 *s = &segments[n_segments++];
            s->vector = v;
            s->image = image;
            s->base = p - t;
            s->lanes = (uint8_t)(((1u << lanes) - 1) << t);
            // Output row and column of each lane, stepped along the segment; then per tap the lanes whose
            // input row (column) oh + ky·dilation − pad lies in [0, height).
            long output_row[8], output_column[8], oh = p / width, ow = p - oh * width;
            for (long u = t; u < t + lanes; ++u) {
                output_row[u] = oh;
                output_column[u] = ow;
                if (++ow == width) { ow = 0; ++oh; }
            }
            for (long ky = 0; ky < b->kernel_h; ++ky) {
                const long low = b->pad_h - ky * b->dilation_h;
                unsigned m = 0;
                for (long u = t; u < t + lanes; ++u) m |= (unsigned)(output_row[u] >= low && output_row[u] < low + height) << u;
                s->rows[ky] = (uint8_t)m;
            }
            for (long kx = 0; kx < b->kernel_w; ++kx) {
                const long low = b->pad_w - kx * b->dilation_w;
                unsigned m = 0;
                for (long u = t; u < t + lanes; ++u) m |= (unsigned)(output_column[u] >= low && output_column[u] < low + width) << u;
                s->columns[kx] = (uint8_t)m;
            }
            t += lanes;
        }
    }
    return n_segments;
}

/// The channels c of rows r = c·taps + tap in [r0, r0 + kc): [*first, *last] (empty when first > last).
static inline void tap_channels(long r0, long kc, long taps, long tap, long *first, long *last) {
    long c = r0 / taps, c_end = (r0 + kc - 1) / taps;
    if (c * taps + tap < r0) ++c;
    if (c_end * taps + tap >= r0 + kc) --c_end;
    *first = c;
    *last = c_end;
}

CK_AVX2 static void pack_panel_shift8(const ck_patches *b, long r0, long kc, long column, long count, float *dst) {
    const long width = b->width, taps = b->kernel_h * b->kernel_w, plane = b->height * b->width;
    segment8 segments[MAX_SEGMENTS8];
    const int n_segments = shift_segments8(b, column, count, segments);
    const int full = n_segments == 3 && segments[0].lanes == 0xFF && segments[1].lanes == 0xFF && segments[2].lanes == 0xFF;
    // Rows are r = c·taps + tap. Walk tap by tap (masks and shift fixed) and channel by channel inside
    // (the source moves by one plane, the destination by `taps` rows).
    for (long tap = 0; tap < taps; ++tap) {
        const long ky = tap / b->kernel_w, kx = tap % b->kernel_w;
        const long shift = (ky * b->dilation_h - b->pad_h) * width + kx * b->dilation_w - b->pad_w;
        long c, c_end;
        tap_channels(r0, kc, taps, tap, &c, &c_end);
        if (c > c_end) continue;
        float *out = dst + (c * taps + tap - r0) * PW;
        const long out_step = taps * PW;
        // Byte addresses: masked-off lanes are not read, so lane 0 may lie outside the plane.
        uintptr_t source = (uintptr_t)b->data + sizeof(float) * (uintptr_t)(c * b->channel_stride + shift);
        const uintptr_t source_step = sizeof(float) * (uintptr_t)b->channel_stride;
        // Whether the eight lanes of segment s stay inside the input plane for this tap.
        #define WINDOW_INSIDE(s) (segments[s].base + shift >= 0 && segments[s].base + shift + 8 <= plane)
        if (full && WINDOW_INSIDE(0) && WINDOW_INSIDE(1) && WINDOW_INSIDE(2)) {
            const __m256i m0 = lane_mask(segments[0].rows[ky] & segments[0].columns[kx]);
            const __m256i m1 = lane_mask(segments[1].rows[ky] & segments[1].columns[kx]);
            const __m256i m2 = lane_mask(segments[2].rows[ky] & segments[2].columns[kx]);
            const uintptr_t o0 = sizeof(float) * (uintptr_t)(segments[0].image * b->image_stride + segments[0].base);
            const uintptr_t o1 = sizeof(float) * (uintptr_t)(segments[1].image * b->image_stride + segments[1].base);
            const uintptr_t o2 = sizeof(float) * (uintptr_t)(segments[2].image * b->image_stride + segments[2].base);
            for (; c <= c_end; ++c, out += out_step, source += source_step) {
                _mm256_store_ps(out, _mm256_maskload_ps((const float *)(source + o0), m0));
                _mm256_store_ps(out + 8, _mm256_maskload_ps((const float *)(source + o1), m1));
                _mm256_store_ps(out + 16, _mm256_maskload_ps((const float *)(source + o2), m2));
            }
            continue;
        }
        // Per vector, the loads of the segments that read something (segments come in vector order);
        // their lanes are disjoint and masked-off lanes load as zero, so the parts combine by `or`.
        __m256i masks[MAX_SEGMENTS8];
        uintptr_t offsets[MAX_SEGMENTS8];
        unsigned lanes[MAX_SEGMENTS8];
        int inside[MAX_SEGMENTS8], ends[PW / 8] = {0, 0, 0}, n_loads = 0;
        for (int v = 0, s = 0; v < PW / 8; ++v) {
            for (; s < n_segments && segments[s].vector == v; ++s) {
                const unsigned bits = segments[s].lanes & segments[s].rows[ky] & segments[s].columns[kx];
                if (!bits) continue;
                masks[n_loads] = lane_mask(bits);
                lanes[n_loads] = bits;
                inside[n_loads] = WINDOW_INSIDE(s);
                offsets[n_loads++] = sizeof(float) * (uintptr_t)(segments[s].image * b->image_stride + segments[s].base);
            }
            ends[v] = n_loads;
        }
        #undef WINDOW_INSIDE
        for (; c <= c_end; ++c, out += out_step, source += source_step) {
            for (int v = 0, l = 0; v < PW / 8; ++v) {
                __m256 value = _mm256_setzero_ps();
                for (; l < ends[v]; ++l) {
                    value = _mm256_or_ps(value, inside[l] ? _mm256_maskload_ps((const float *)(source + offsets[l]), masks[l])
                                                          : load_lanes(source + offsets[l], lanes[l]));
                }
                _mm256_store_ps(out + 8 * v, value);
            }
        }
    }
}

/// Any other window: per tap, each lane's source index relative to the channel's plane and whether it
/// falls inside, then one masked gather per 8 lanes and channel. Needs every index to fit in 32 bits;
/// returns 0 (doing nothing) otherwise.
CK_AVX2 static int pack_panel_gather8(const ck_patches *b, long r0, long kc, long column, long count, float *dst) {
    const long plane = b->out_h * b->out_w, taps = b->kernel_h * b->kernel_w;
    long offset[PW], iy0[PW], ix0[PW];
    for (long t = 0; t < PW; ++t) {
        const long q = b->first_column + column + (t < count ? t : 0);
        const long image = q / plane, p = q - image * plane;
        const long oh = p / b->out_w, ow = p - oh * b->out_w;
        offset[t] = image * b->image_stride;
        iy0[t] = oh * b->stride_h - b->pad_h;
        ix0[t] = ow * b->stride_w - b->pad_w;
        if (offset[t] + (long)b->height * b->width >= (1L << 31)) return 0;
    }
    const __m256 zero = _mm256_setzero_ps();
    for (long tap = 0; tap < taps; ++tap) {
        const long dy = (tap / b->kernel_w) * b->dilation_h, dx = (tap % b->kernel_w) * b->dilation_w;
        int32_t index[PW] __attribute__((aligned(32))), inside[PW] __attribute__((aligned(32)));
        for (long t = 0; t < PW; ++t) {
            const long iy = iy0[t] + dy, ix = ix0[t] + dx;
            const int in = t < count && iy >= 0 && iy < b->height && ix >= 0 && ix < b->width;
            index[t] = in ? (int32_t)(offset[t] + iy * b->width + ix) : 0;
            inside[t] = in ? -1 : 0;
        }
        const __m256i i0 = _mm256_load_si256((const __m256i *)index), i1 = _mm256_load_si256((const __m256i *)(index + 8));
        const __m256i i2 = _mm256_load_si256((const __m256i *)(index + 16));
        const __m256 m0 = _mm256_castsi256_ps(_mm256_load_si256((const __m256i *)inside));
        const __m256 m1 = _mm256_castsi256_ps(_mm256_load_si256((const __m256i *)(inside + 8)));
        const __m256 m2 = _mm256_castsi256_ps(_mm256_load_si256((const __m256i *)(inside + 16)));
        long c, c_end;
        tap_channels(r0, kc, taps, tap, &c, &c_end);
        float *out = dst + (c * taps + tap - r0) * PW;
        for (; c <= c_end; ++c, out += taps * PW) {
            const float *channel = b->data + c * b->channel_stride;
            _mm256_store_ps(out, _mm256_mask_i32gather_ps(zero, channel, i0, m0, 4));
            _mm256_store_ps(out + 8, _mm256_mask_i32gather_ps(zero, channel, i1, m1, 4));
            _mm256_store_ps(out + 16, _mm256_mask_i32gather_ps(zero, channel, i2, m2, 4));
        }
    }
    return 1;
}

/// Packs the panels of columns [column, column + count), kc × PW floats each.
static void pack_b8(const ck_patches *b, long r0, long kc, long column, long count, float *dst) {
    const int shift = is_shift(b);
    for (long j = 0; j < count; j += PW, dst += kc * PW) {
        const long n = count - j < PW ? count - j : PW;
        if (shift) pack_panel_shift8(b, r0, kc, column + j, n, dst);
        else if (!ck_gather_packing || !pack_panel_gather8(b, r0, kc, column + j, n, dst))
            pack_panel_general(b, r0, kc, column + j, n, PW, dst);
    }
}

// MARK: - Micro-kernel

// Stores row i of the tile after the epilogue; uses the enclosing kernel's d0–d2, ldc, accumulate,
// e (epilogue or NULL), row (first output row of the tile) and r0–r2 (residual pointers or NULL).
#define K2_STORE(i)                                                                              \
    if (accumulate) {                                                                            \
        c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(d0 + (i) * ldc));                      \
        c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(d1 + (i) * ldc));                      \
        c##i##2 = _mm256_add_ps(c##i##2, _mm256_loadu_ps(d2 + (i) * ldc));                      \
    }                                                                                            \
    if (e) {                                                                                     \
        if (e->scale) {                                                                          \
            const __m256 s = _mm256_set1_ps(e->scale[row + (i)]);                                \
            c##i##0 = _mm256_mul_ps(c##i##0, s);                                                 \
            c##i##1 = _mm256_mul_ps(c##i##1, s);                                                 \
            c##i##2 = _mm256_mul_ps(c##i##2, s);                                                 \
        }                                                                                        \
        if (e->shift) {                                                                          \
            const __m256 t = _mm256_set1_ps(e->shift[row + (i)]);                                \
            c##i##0 = _mm256_add_ps(c##i##0, t);                                                 \
            c##i##1 = _mm256_add_ps(c##i##1, t);                                                 \
            c##i##2 = _mm256_add_ps(c##i##2, t);                                                 \
        }                                                                                        \
        if (r0) {                                                                                \
            c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(r0 + (i) * ldc));                   \
            c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(r1 + (i) * ldc));                   \
            c##i##2 = _mm256_add_ps(c##i##2, _mm256_loadu_ps(r2 + (i) * ldc));                   \
        }                                                                                        \
        if (e->relu) {                                                                           \
            c##i##0 = _mm256_max_ps(_mm256_setzero_ps(), c##i##0);  /* NaN stays */           \
            c##i##1 = _mm256_max_ps(_mm256_setzero_ps(), c##i##1);  /* NaN stays */           \
            c##i##2 = _mm256_max_ps(_mm256_setzero_ps(), c##i##2);  /* NaN stays */           \
        }                                                                                        \
    }                                                                                            \
    _mm256_storeu_ps(d0 + (i) * ldc, c##i##0);                                                   \
    _mm256_storeu_ps(d1 + (i) * ldc, c##i##1);                                                   \
    _mm256_storeu_ps(d2 + (i) * ldc, c##i##2);

#define K2_ZERO(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;

/// A 4 × 24 tile over rows ap[0..3] of an 8-row A panel (MR floats per step): rows i of vector v go to
/// dv + i·ldc, after the epilogue `e` (or NULL) for output rows row + i, whose residual values for
/// vector v are at rv + i·ldc.
CK_AVX2 static void kernel_4x24(long kc, const float *ap, const float *bp,
                                float *d0, float *d1, float *d2, long ldc, int accumulate,
                                const ck_epilogue *e, long row, const float *r0, const float *r1, const float *r2) {
    K2_ZERO(0) K2_ZERO(1) K2_ZERO(2) K2_ZERO(3)
    __m256 b0, b1, b2, x;
    // The loop in assembly: 12 accumulators, 3 loads of B and a broadcast of A take all 16 registers,
    // and clang's allocation of the same loop in intrinsics spills and shuffles registers every step
    // (half the speed). Aligned loads: panels are 32-byte aligned and PW floats wide.
    if (kc > 0) {
        __asm__ volatile(
            "1:\n\t"
            "vmovaps (%[b]), %[b0]\n\t"
            "vmovaps 32(%[b]), %[b1]\n\t"
            "vmovaps 64(%[b]), %[b2]\n\t"
            "vbroadcastss (%[a]), %[x]\n\t"
            "vfmadd231ps %[b0], %[x], %[c00]\n\t"
            "vfmadd231ps %[b1], %[x], %[c01]\n\t"
            "vfmadd231ps %[b2], %[x], %[c02]\n\t"
            "vbroadcastss 4(%[a]), %[x]\n\t"
            "vfmadd231ps %[b0], %[x], %[c10]\n\t"
            "vfmadd231ps %[b1], %[x], %[c11]\n\t"
            "vfmadd231ps %[b2], %[x], %[c12]\n\t"
            "vbroadcastss 8(%[a]), %[x]\n\t"
            "vfmadd231ps %[b0], %[x], %[c20]\n\t"
            "vfmadd231ps %[b1], %[x], %[c21]\n\t"
            "vfmadd231ps %[b2], %[x], %[c22]\n\t"
            "vbroadcastss 12(%[a]), %[x]\n\t"
            "vfmadd231ps %[b0], %[x], %[c30]\n\t"
            "vfmadd231ps %[b1], %[x], %[c31]\n\t"
            "vfmadd231ps %[b2], %[x], %[c32]\n\t"
            "addq $32, %[a]\n\t"  // MR floats
            "addq $96, %[b]\n\t"  // PW floats
            "decq %[k]\n\t"
            "jnz 1b\n\t"
            : [a] "+r"(ap), [b] "+r"(bp), [k] "+r"(kc),
              [c00] "+x"(c00), [c01] "+x"(c01), [c02] "+x"(c02), [c10] "+x"(c10), [c11] "+x"(c11), [c12] "+x"(c12),
              [c20] "+x"(c20), [c21] "+x"(c21), [c22] "+x"(c22), [c30] "+x"(c30), [c31] "+x"(c31), [c32] "+x"(c32),
              [b0] "=&x"(b0), [b1] "=&x"(b1), [b2] "=&x"(b2), [x] "=&x"(x)
            :
            : "memory", "cc");
    }
    K2_STORE(0) K2_STORE(1) K2_STORE(2) K2_STORE(3)
}

// MARK: - Driver

/// Computes and stores the `rows` × `columns` tile at output row `row` and column `column`: straight
/// into the planes when it is whole and each of its vectors lies in one image, else through a buffer,
/// element by element.
CK_AVX2 static void store_tile4(const ck_planes *c, long row, long rows, long column, long columns, long kc,
                                const float *ap, const float *bp, int accumulate, const ck_epilogue *e) {
    if (rows == TR && columns == PW) {
        float *d[3];
        const float *r[3] = {0, 0, 0};
        int direct = 1;
        for (int v = 0; v < 3 && direct; ++v) {
            const long q = c->first_column + column + 8 * v;
            if (q % c->plane + 8 > c->plane) direct = 0;  // the vector crosses into the next image
            else d[v] = plane_address(c, column + 8 * v, row);
            if (direct && e && e->residual) r[v] = e->residual + (d[v] - c->data);
        }
        if (direct) {
            kernel_4x24(kc, ap, bp, d[0], d[1], d[2], c->row_stride, accumulate, e, row, r[0], r[1], r[2]);
            return;
        }
    }
    float tile[TR * PW] __attribute__((aligned(32)));
    kernel_4x24(kc, ap, bp, tile, tile + 8, tile + 16, PW, 0, 0, 0, 0, 0, 0);
    for (long t = 0; t < columns; ++t) {
        float *out = plane_address(c, column + t, row);
        for (long i = 0; i < rows; ++i) {
            float value = tile[i * PW + t];
            if (accumulate) value += out[i * c->row_stride];
            if (e) value = epilogue_value(e, row + i, value,
                                          e->residual ? e->residual + (out - c->data) + i * c->row_stride : 0);
            out[i * c->row_stride] = value;
        }
    }
}

/// `ck_gemm` for k > 0 and a non-empty range of rows (row1 ≤ m) and columns.
void ck_gemm_avx2(long m, long k, const float *packed_a, const ck_patches *b, const ck_planes *c,
                  int accumulate, long row0, long row1, long column0, long column1, const ck_epilogue *epilogue) {
    const long padded = ((m + MR - 1) / MR) * MR;
    float *panels = ck_thread_panels();
    for (long jb = column0; jb < column1; jb += NB) {
        const long nb = column1 - jb < NB ? column1 - jb : NB;
        for (long block = 0, blocks = k_blocks(k); block < blocks; ++block) {
            const long r0 = k_block_start(k, block), kc = k_block_start(k, block + 1) - r0;
            pack_b8(b, r0, kc, jb, nb, panels);
            const float *a_block = packed_a + padded * r0;
            const int add = accumulate || block > 0;
            const ck_epilogue *e = block == blocks - 1 ? epilogue : 0;  // on the finished sums only
            // The 8-row A panel stays in L1 while the B panels stream past it, each used by both halves.
            for (long i = row0; i < row1; i += MR) {
                const float *ap = a_block + (i / MR) * kc * MR;
                for (long j = 0; j < nb; j += PW) {
                    const long columns = nb - j < PW ? nb - j : PW;
                    const float *bp = panels + (j / PW) * kc * PW;
                    for (long h = 0; h < MR && i + h < row1; h += TR) {
                        const long rows = row1 - i - h < TR ? row1 - i - h : TR;
                        store_tile4(c, i + h, rows, jb + j, columns, kc, ap + h, bp, add, e);
                    }
                }
            }
        }
    }
}

// MARK: - Weight gradient of a 3×3 "same" convolution

CK_AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Adds to dw[tap] (tap = 3·ky + kx) the dot products of one output channel's dY planes with the 9
/// shifted copies of one input channel, over `images` images: the input planes are zero-padded copies
/// (`padded`, `padded_size` floats apart, rows `padded_width` wide) in which tap (ky, kx) of output
/// position (oh, ow) is at (oh + ky·dilation_h)·padded_width + ow + kx·dilation_w. Each output row is
/// read in whole vectors and a masked tail (`tail`: its lanes; the padded planes are followed by 8
/// spare floats, and a dY tail that would reach past its plane is read lane by lane), so no load needs
/// a per-tap mask: 9 accumulators, one dY load and 9 input loads per 9 products.
CK_AVX2 static void weight_gradient_channel8(const float *padded, long padded_size, long padded_width,
                                            long dilation_h, long dilation_w, const float *dy, long dy_image_stride,
                                            long images, long out_h, long out_w, __m256i tail, float *dw) {
    __m256 acc[9];
    for (int t = 0; t < 9; ++t) acc[t] = _mm256_setzero_ps();
    const long full = out_w & ~7L;
    long offset[9];
    for (int t = 0; t < 9; ++t) offset[t] = (t / 3) * dilation_h * padded_width + (t % 3) * dilation_w;
    for (long n = 0; n < images; ++n) {
        for (long oh = 0; oh < out_h; ++oh) {
            const float *d = dy + n * dy_image_stride + oh * out_w;
            const float *x = padded + n * padded_size + oh * padded_width;
            long ow = 0;
            for (; ow < full; ow += 8) {
                const __m256 dv = _mm256_loadu_ps(d + ow);
                for (int t = 0; t < 9; ++t) acc[t] = _mm256_fmadd_ps(dv, _mm256_loadu_ps(x + offset[t] + ow), acc[t]);
            }
            if (ow < out_w) {
                // Lanes past the row are zero in both factors (an input's inf or NaN there must not leak in).
                const __m256 dv = oh + 1 < out_h ? _mm256_maskload_ps(d + ow, tail)
                                                 : load_lanes((uintptr_t)(d + ow), (1u << (out_w - ow)) - 1);
                for (int t = 0; t < 9; ++t) acc[t] = _mm256_fmadd_ps(dv, _mm256_maskload_ps(x + offset[t] + ow, tail), acc[t]);
            }
        }
    }
    for (int t = 0; t < 9; ++t) dw[t] += horizontal_sum(acc[t]);
}

CK_AVX2 void ck_weight_gradient_3x3_avx2(const ck_patches *x, const float *dy, long dy_image_stride, long images,
                                         float *dw, long ldw, long o0, long o1, long c0, long c1) {
    const long out_h = x->out_h, out_w = x->out_w, plane = out_h * out_w;
    if (o0 >= o1 || c0 >= c1 || images == 0 || plane == 0) return;
    // Output rows are as wide as the input, so pad_w = dilation_w: input rows −pad_h … out_h − 1 + 2·dilation_h − pad_h
    // and columns −pad_w … width − 1 + pad_w, the parts outside the image zero.
    const long padded_height = out_h + 2 * x->dilation_h, padded_width = x->width + 2 * x->dilation_w;
    const long padded_size = padded_height * padded_width;
    // Images in blocks whose dY planes (every output channel) and padded input planes (one channel at a
    // time) stay in L2 (reduced once per block).
    long block = (96 * 1024) / ((o1 - o0) * plane + padded_size);
    if (block < 1) block = 1;
    if (block > images) block = images;
    // The 8 spare floats after the last plane keep its row tails' masked loads inside the buffer.
    float *padded = aligned_alloc(32, sizeof(float) * (size_t)(((block * padded_size) + 8 + 7) & ~7L));
    if (!padded) abort();
    const __m256i tail = lane_mask((1u << (out_w & 7)) - 1);
    for (long n0 = 0; n0 < images; n0 += block) {
        const long count = images - n0 < block ? images - n0 : block;
        for (long c = c0; c < c1; ++c) {
            for (long n = 0; n < count; ++n) {
                const float *source = x->data + (n0 + n) * x->image_stride + c * x->channel_stride;
                float *target = padded + n * padded_size;
                for (long r = 0; r < padded_height; ++r) {
                    const long iy = r - x->pad_h;
                    float *row = target + r * padded_width;
                    if (iy < 0 || iy >= x->height) {
                        for (long j = 0; j < padded_width; ++j) row[j] = 0;
                        continue;
                    }
                    for (long j = 0; j < x->pad_w; ++j) row[j] = 0;
                    for (long j = 0; j < x->width; ++j) row[x->pad_w + j] = source[iy * x->width + j];
                    for (long j = x->pad_w + x->width; j < padded_width; ++j) row[j] = 0;
                }
            }
            for (long o = o0; o < o1; ++o) {
                weight_gradient_channel8(padded, padded_size, padded_width, x->dilation_h, x->dilation_w,
                                         dy + n0 * dy_image_stride + o * plane, dy_image_stride, count, out_h, out_w,
                                         tail, dw + o * ldw + c * 9);
            }
        }
    }
    free(padded);
}

#endif
