// AVX-512 matrix product with the column matrix of a convolution packed on the fly (see ckernels.h).
//
// Blocking: the product is cut into k-blocks of at most KC_MAX rows of B and column blocks of NB
// columns. For each pair, B's block is packed into panels of NR columns (kc × NR floats each, the
// im2col done here), then every 8-row panel of the packed A (kept in L1) sweeps the B panels
// (kept in L2) with an 8 × 48 register tile: 24 accumulators, 3 vector loads and 8 broadcasts per
// step of r. Products with few rows skip packing the panels of stride-1 windows that lie in one
// image per vector: the kernel reads them from the images (`direct_panel`). The finished tile goes
// through an optional epilogue (`ck_epilogue`) as it is stored.

#include "gemm_internal.h"

#include <stdint.h>
#include <stdlib.h>

enum { MAX_SEGMENTS = 3 * 16 };

long ck_packed_a_size(long m, long k) { return ((m + MR - 1) / MR) * MR * k; }

void ck_pack_a(long m, long k, const float *a, long lda, int transpose, float *packed) {
    long padded = ((m + MR - 1) / MR) * MR;
    for (long block = 0, blocks = k_blocks(k); block < blocks; ++block) {
        long r0 = k_block_start(k, block), kc = k_block_start(k, block + 1) - r0;
        float *out = packed + padded * r0;
        for (long i0 = 0; i0 < padded; i0 += MR) {
            for (long r = 0; r < kc; ++r) {
                for (long i = 0; i < MR; ++i) {
                    long row = i0 + i;
                    float value = 0;
                    if (row < m) value = transpose ? a[(r0 + r) * lda + row] : a[row * lda + r0 + r];
                    out[r * MR + i] = value;
                }
            }
            out += kc * MR;
        }
    }
}

void ck_winograd_filter_packed(const float *w, long m, long channels, float *const *packed, long row0, long row1) {
    const long padded = ((m + MR - 1) / MR) * MR, blocks = k_blocks(channels);
    if (row1 > padded) row1 = padded;
    for (long block = 0; block < blocks; ++block) {
        const long r0 = k_block_start(channels, block), kc = k_block_start(channels, block + 1) - r0;
        for (long i0 = row0; i0 < row1; i0 += MR) {
            const long offset = padded * r0 + (i0 / MR) * kc * MR;
            for (long c = r0; c < r0 + kc; ++c) {
                // The 8 rows of a panel are adjacent in each packed matrix.
                float u[16][MR];
                for (long i = 0; i < MR; ++i) {
                    const long k = i0 + i;
                    if (k >= m) {
                        for (int xi = 0; xi < 16; ++xi) u[xi][i] = 0;
                        continue;
                    }
                    const float *g = w + (k * channels + c) * 9;
                    float t[4][3];  // G·g
                    for (int j = 0; j < 3; ++j) {
                        t[0][j] = g[j];
                        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                        t[3][j] = g[6 + j];
                    }
                    for (int r = 0; r < 4; ++r) {  // (G·g)·Gᵀ
                        u[4 * r][i] = t[r][0];
                        u[4 * r + 1][i] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                        u[4 * r + 2][i] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                        u[4 * r + 3][i] = t[r][2];
                    }
                }
                for (int xi = 0; xi < 16; ++xi) {
                    float *out = packed[xi] + offset + (c - r0) * MR;
                    for (long i = 0; i < MR; ++i) out[i] = u[xi][i];
                }
            }
        }
    }
}

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>

#define CK_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

/// 2 with AVX-512 F/BW/DQ/VL, 1 with AVX2 and FMA (and the OS saving their registers), else 0.
static int detect_instruction_set(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & (1u << 27)) || !(ecx & (1u << 28)) || !(ecx & (1u << 12))) return 0;  // OSXSAVE, AVX, FMA
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 0;  // XMM and YMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ebx & (1u << 5))) return 0;  // AVX2
    const unsigned f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
    if ((lo & 0xE6) == 0xE6 && (ebx & (f | dq | bw | vl)) == (f | dq | bw | vl)) return 2;  // + opmask, ZMM state
    return 1;
}

/// The detected level, and the one the kernels use; both set when the library loads (so no thread
/// races to initialise them), the selection read and written atomically.
static int supported_set, selected_set;

__attribute__((constructor)) static void initialise_instruction_set(void) {
    supported_set = detect_instruction_set();
    __atomic_store_n(&selected_set, supported_set, __ATOMIC_RELAXED);
}

int ck_gemm_supported(void) { return supported_set; }

int ck_gemm_instruction_set(void) { return __atomic_load_n(&selected_set, __ATOMIC_RELAXED); }

int ck_set_gemm_instruction_set(int level) {
    const int selected = level < 0 ? 0 : (level > supported_set ? supported_set : level);
    __atomic_store_n(&selected_set, selected, __ATOMIC_RELAXED);
    return selected;
}

// MARK: - Per-thread buffers

static _Thread_local float *panel_buffer;
static _Thread_local float *tile_buffer;

float *ck_thread_panels(void) {
    if (!panel_buffer) panel_buffer = aligned_alloc(64, sizeof(float) * KC_MAX * NB);
    return panel_buffer;
}

static float *thread_tile(void) {
    if (!tile_buffer) tile_buffer = aligned_alloc(64, sizeof(float) * MR * NR);
    return tile_buffer;
}

// MARK: - Packing B

/// Lanes of one 16-column vector of a panel that belong to one image: lane t reads position
/// base + t of image `image`; `rows[ky]` / `columns[kx]` mark the lanes whose tap stays inside.
typedef struct {
    uint16_t lanes;
    int vector;
    long image, base;
    uint16_t rows[MAX_TAPS], columns[MAX_TAPS];
} segment;

/// The segments of the panel of `count` columns from `column` (shift geometry), in vector order.
CK_AVX512 static int shift_segments(const ck_patches *b, long column, long count, segment *segments) {
    const long plane = b->out_h * b->out_w, width = b->width, height = b->height;
    int32_t output_row[16] = {0}, output_column[16] = {0};
    int n_segments = 0;
    for (int v = 0; v < 3; ++v) {
        long t = 0;
        while (t < 16 && 16 * v + t < count) {
            long q = b->first_column + column + 16 * v + t;
            long image = q / plane, p = q - image * plane;
            long lanes = 16 - t;
            if (plane - p < lanes) lanes = plane - p;
            if (count - (16 * v + t) < lanes) lanes = count - (16 * v + t);
            segment *s = &segments[n_segments++];
            s->vector = v;
            s->image = image;
            s->base = p - t;
            s->lanes = (uint16_t)(((1u << lanes) - 1) << t);
            // Output row and column of lane u, stepped along the segment (no division per lane); then
            // per tap, the lanes whose input row (column) lies inside the image, by vector compares.
            long oh = p / width, ow = p - oh * width;
            for (long u = t; u < t + lanes; ++u) {
                output_row[u] = (int32_t)oh;
                output_column[u] = (int32_t)ow;
                if (++ow == width) { ow = 0; ++oh; }
            }
            const __m512i rows = _mm512_loadu_si512(output_row), columns = _mm512_loadu_si512(output_column);
            for (long ky = 0; ky < b->kernel_h; ++ky) {
                // 0 ≤ oh + ky·dilation − pad < height
                const long low = b->pad_h - ky * b->dilation_h;
                __mmask16 m = _mm512_mask_cmpge_epi32_mask(s->lanes, rows, _mm512_set1_epi32((int32_t)low));
                s->rows[ky] = _mm512_mask_cmplt_epi32_mask(m, rows, _mm512_set1_epi32((int32_t)(low + height)));
            }
            for (long kx = 0; kx < b->kernel_w; ++kx) {
                const long low = b->pad_w - kx * b->dilation_w;
                __mmask16 m = _mm512_mask_cmpge_epi32_mask(s->lanes, columns, _mm512_set1_epi32((int32_t)low));
                s->columns[kx] = _mm512_mask_cmplt_epi32_mask(m, columns, _mm512_set1_epi32((int32_t)(low + width)));
            }
            t += lanes;
        }
    }
    return n_segments;
}

/// A full panel (three vectors, each inside one image) of a shift geometry, read by the kernel straight
/// from the images: per tap and vector, the lanes inside the image and the byte offset of lane 0 from
/// the channel's plane.
enum { DIRECT_MAX_TAPS = 25 };
typedef struct {
    __mmask16 mask[DIRECT_MAX_TAPS][3];
    long offset[DIRECT_MAX_TAPS][3];
} direct_panel;

/// Whether the panel at `column` can be read directly (see `direct_panel`); fills `dp` if so.
static int direct_panel_setup(const ck_patches *b, long column, long count, direct_panel *dp) {
    if (count != NR || !is_shift(b) || b->kernel_h * b->kernel_w > DIRECT_MAX_TAPS) return 0;
    segment segments[MAX_SEGMENTS];
    const int n_segments = shift_segments(b, column, count, segments);
    if (n_segments != 3) return 0;
    for (int v = 0; v < 3; ++v) {
        if (segments[v].lanes != 0xFFFF) return 0;
    }
    for (long ky = 0, tap = 0; ky < b->kernel_h; ++ky) {
        for (long kx = 0; kx < b->kernel_w; ++kx, ++tap) {
            const long shift = (ky * b->dilation_h - b->pad_h) * b->width + kx * b->dilation_w - b->pad_w;
            for (int v = 0; v < 3; ++v) {
                dp->mask[tap][v] = segments[v].rows[ky] & segments[v].columns[kx];
                dp->offset[tap][v] = (long)sizeof(float) * (segments[v].image * b->image_stride + segments[v].base + shift);
            }
        }
    }
    return 1;
}

CK_AVX512 static void pack_panel_shift(const ck_patches *b, long r0, long kc, long column, long count, float *dst) {
    const long width = b->width;
    segment segments[MAX_SEGMENTS];
    const int n_segments = shift_segments(b, column, count, segments);
    // Rows are r = c·taps + tap. Walk tap by tap (masks and shift fixed) and channel by channel
    // inside (the source moves by one plane, the destination by `taps` rows).
    const long taps = b->kernel_h * b->kernel_w;
    const long c_first = r0 / taps, c_last = (r0 + kc - 1) / taps;
    const int full = n_segments == 3 && segments[0].lanes == 0xFFFF && segments[1].lanes == 0xFFFF
        && segments[2].lanes == 0xFFFF;
    for (long tap = 0; tap < taps; ++tap) {
        const long ky = tap / b->kernel_w, kx = tap % b->kernel_w;
        const long shift = (ky * b->dilation_h - b->pad_h) * width + kx * b->dilation_w - b->pad_w;
        long c = c_first;
        if (c * taps + tap < r0) ++c;
        long c_end = c_last;
        if (c_end * taps + tap >= r0 + kc) --c_end;
        if (c > c_end) continue;
        float *out = dst + (c * taps + tap - r0) * NR;
        const long out_step = taps * NR;
        uintptr_t source = (uintptr_t)(b->data + c * b->channel_stride + shift);
        const uintptr_t source_step = sizeof(float) * (uintptr_t)b->channel_stride;
        if (full) {
            const __mmask16 m0 = segments[0].rows[ky] & segments[0].columns[kx];
            const __mmask16 m1 = segments[1].rows[ky] & segments[1].columns[kx];
            const __mmask16 m2 = segments[2].rows[ky] & segments[2].columns[kx];
            const uintptr_t o0 = sizeof(float) * (uintptr_t)(segments[0].image * b->image_stride + segments[0].base);
            const uintptr_t o1 = sizeof(float) * (uintptr_t)(segments[1].image * b->image_stride + segments[1].base);
            const uintptr_t o2 = sizeof(float) * (uintptr_t)(segments[2].image * b->image_stride + segments[2].base);
            for (; c <= c_end; ++c, out += out_step, source += source_step) {
                // Masked-off lanes are not read, so the address may point outside the plane.
                _mm512_store_ps(out, _mm512_maskz_loadu_ps(m0, (const float *)(source + o0)));
                _mm512_store_ps(out + 16, _mm512_maskz_loadu_ps(m1, (const float *)(source + o1)));
                _mm512_store_ps(out + 32, _mm512_maskz_loadu_ps(m2, (const float *)(source + o2)));
            }
            continue;
        }
        // Per vector, the loads of the segments that read something (segments come in vector order).
        __mmask16 masks[MAX_SEGMENTS];
        uintptr_t offsets[MAX_SEGMENTS];
        int ends[3] = {0, 0, 0}, n_loads = 0;
        for (int v = 0, s = 0; v < 3; ++v) {
            for (; s < n_segments && segments[s].vector == v; ++s) {
                __mmask16 mask = segments[s].lanes & segments[s].rows[ky] & segments[s].columns[kx];
                if (!mask) continue;
                masks[n_loads] = mask;
                offsets[n_loads++] = sizeof(float) * (uintptr_t)(segments[s].image * b->image_stride + segments[s].base);
            }
            ends[v] = n_loads;
        }
        for (; c <= c_end; ++c, out += out_step, source += source_step) {
            for (int v = 0, l = 0; v < 3; ++v) {
                __m512 value = _mm512_setzero_ps();
                for (; l < ends[v]; ++l) {
                    value = _mm512_mask_loadu_ps(value, masks[l], (const float *)(source + offsets[l]));
                }
                _mm512_store_ps(out + 16 * v, value);
            }
        }
    }
}

int ck_gather_packing = 1;
long ck_direct_max_rows = 64;

void ck_set_direct_max_rows(long rows) { ck_direct_max_rows = rows; }

void ck_set_gather_packing(int on) { ck_gather_packing = on; }

/// Any other window (strided, or output rows narrower than the input): per tap, each lane's source
/// index relative to the channel's plane and whether it falls inside, then one masked gather per
/// 16 lanes and channel. Needs every index to fit in 32 bits; returns 0 (doing nothing) otherwise.
CK_AVX512 static int pack_panel_gather(const ck_patches *b, long r0, long kc, long column, long count, float *dst) {
    const long plane = b->out_h * b->out_w, taps = b->kernel_h * b->kernel_w;
    long offset[NR], iy0[NR], ix0[NR];
    for (long t = 0; t < NR; ++t) {
        long q = b->first_column + column + (t < count ? t : 0);
        long image = q / plane, p = q - image * plane;
        long oh = p / b->out_w, ow = p - oh * b->out_w;
        offset[t] = image * b->image_stride;
        iy0[t] = oh * b->stride_h - b->pad_h;
        ix0[t] = ow * b->stride_w - b->pad_w;
        if (offset[t] + (long)b->height * b->width >= (1L << 31)) return 0;
    }
    const long c_first = r0 / taps, c_last = (r0 + kc - 1) / taps;
    const __m512 zero = _mm512_setzero_ps();
    for (long tap = 0; tap < taps; ++tap) {
        const long dy = (tap / b->kernel_w) * b->dilation_h, dx = (tap % b->kernel_w) * b->dilation_w;
        int32_t index[NR] __attribute__((aligned(64)));
        __mmask16 mask[3] = {0, 0, 0};
        for (long t = 0; t < NR; ++t) {
            const long iy = iy0[t] + dy, ix = ix0[t] + dx;
            const int inside = t < count && iy >= 0 && iy < b->height && ix >= 0 && ix < b->width;
            index[t] = inside ? (int32_t)(offset[t] + iy * b->width + ix) : 0;
            if (inside) mask[t / 16] |= (__mmask16)(1u << (t % 16));
        }
        const __m512i i0 = _mm512_load_si512(index), i1 = _mm512_load_si512(index + 16), i2 = _mm512_load_si512(index + 32);
        long c = c_first;
        if (c * taps + tap < r0) ++c;
        long c_end = c_last;
        if (c_end * taps + tap >= r0 + kc) --c_end;
        float *out = dst + (c * taps + tap - r0) * NR;
        for (; c <= c_end; ++c, out += taps * NR) {
            const float *channel = b->data + c * b->channel_stride;
            _mm512_store_ps(out, _mm512_mask_i32gather_ps(zero, mask[0], i0, channel, 4));
            _mm512_store_ps(out + 16, _mm512_mask_i32gather_ps(zero, mask[1], i1, channel, 4));
            _mm512_store_ps(out + 32, _mm512_mask_i32gather_ps(zero, mask[2], i2, channel, 4));
        }
    }
    return 1;
}

/// Packs the panels of columns [column, column + count) whose `skip` entry is 0 (`skip` may be NULL).
static void pack_b(const ck_patches *b, long r0, long kc, long column, long count, float *dst, const int *skip) {
    int shift = is_shift(b);
    for (long j = 0; j < count; j += NR, dst += kc * NR) {
        long n = count - j < NR ? count - j : NR;
        if (skip && skip[j / NR]) continue;
        if (shift) pack_panel_shift(b, r0, kc, column + j, n, dst);
        else if (!ck_gather_packing || !pack_panel_gather(b, r0, kc, column + j, n, dst))
            pack_panel_general(b, r0, kc, column + j, n, NR, dst);
    }
}

// MARK: - Micro-kernel

#define CK_ROW(i)                                                             \
    {                                                                         \
        __m512 a = _mm512_set1_ps(ap[i]);                                     \
        c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                            \
        c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);                            \
        c##i##2 = _mm512_fmadd_ps(a, b2, c##i##2);                            \
    }

// Stores row i of the tile after the epilogue; uses the enclosing kernel's d0–d2, ldc, accumulate,
// e (epilogue or NULL), row (first output row of the tile) and r0–r2 (residual pointers or NULL).
#define CK_STORE(i)                                                                              \
    if (accumulate) {                                                                            \
        c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(d0 + (i) * ldc));                      \
        c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(d1 + (i) * ldc));                      \
        c##i##2 = _mm512_add_ps(c##i##2, _mm512_loadu_ps(d2 + (i) * ldc));                      \
    }                                                                                            \
    if (e) {                                                                                     \
        if (e->scale) {                                                                          \
            const __m512 s = _mm512_set1_ps(e->scale[row + (i)]);                                \
            c##i##0 = _mm512_mul_ps(c##i##0, s);                                                 \
            c##i##1 = _mm512_mul_ps(c##i##1, s);                                                 \
            c##i##2 = _mm512_mul_ps(c##i##2, s);                                                 \
        }                                                                                        \
        if (e->shift) {                                                                          \
            const __m512 t = _mm512_set1_ps(e->shift[row + (i)]);                                \
            c##i##0 = _mm512_add_ps(c##i##0, t);                                                 \
            c##i##1 = _mm512_add_ps(c##i##1, t);                                                 \
            c##i##2 = _mm512_add_ps(c##i##2, t);                                                 \
        }                                                                                        \
        if (r0) {                                                                                \
            c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(r0 + (i) * ldc));                   \
            c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(r1 + (i) * ldc));                   \
            c##i##2 = _mm512_add_ps(c##i##2, _mm512_loadu_ps(r2 + (i) * ldc));                   \
        }                                                                                        \
        if (e->relu) {                                                                           \
            c##i##0 = _mm512_max_ps(_mm512_setzero_ps(), c##i##0);  /* NaN stays */           \
            c##i##1 = _mm512_max_ps(_mm512_setzero_ps(), c##i##1);  /* NaN stays */           \
            c##i##2 = _mm512_max_ps(_mm512_setzero_ps(), c##i##2);  /* NaN stays */           \
        }                                                                                        \
    }                                                                                            \
    _mm512_storeu_ps(d0 + (i) * ldc, c##i##0);                                                   \
    _mm512_storeu_ps(d1 + (i) * ldc, c##i##1);                                                   \
    _mm512_storeu_ps(d2 + (i) * ldc, c##i##2);

#define CK_ZERO(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;

/// An 8 × 48 tile: rows i of vector v go to dv + i·ldc, after the epilogue `e` (or NULL) for output
/// rows row + i, whose residual values for vector v are at rv + i·ldc.
CK_AVX512 static void kernel_8x48(long kc, const float *restrict ap, const float *restrict bp,
                                  float *d0, float *d1, float *d2, long ldc, int accumulate,
                                  const ck_epilogue *e, long row, const float *r0, const float *r1, const float *r2) {
    CK_ZERO(0) CK_ZERO(1) CK_ZERO(2) CK_ZERO(3) CK_ZERO(4) CK_ZERO(5) CK_ZERO(6) CK_ZERO(7)
    for (long r = 0; r < kc; ++r) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16), b2 = _mm512_load_ps(bp + 32);
        CK_ROW(0) CK_ROW(1) CK_ROW(2) CK_ROW(3) CK_ROW(4) CK_ROW(5) CK_ROW(6) CK_ROW(7)
        ap += MR;
        bp += NR;
    }
    CK_STORE(0) CK_STORE(1) CK_STORE(2) CK_STORE(3) CK_STORE(4) CK_STORE(5) CK_STORE(6) CK_STORE(7)
}

// MARK: - Driver

/// `kernel_8x48` with B read straight from the images (`direct_panel`) instead of a packed panel:
/// rows first_row … first_row + kc − 1 of the column matrix, r = c·taps + tap.
CK_AVX512 static void kernel_8x48_direct(long kc, const float *restrict ap, const ck_patches *b, long first_row,
                                         const direct_panel *dp, float *d0, float *d1, float *d2, long ldc,
                                         int accumulate, const ck_epilogue *e, long row,
                                         const float *r0, const float *r1, const float *r2) {
    const long taps = b->kernel_h * b->kernel_w;
    long tap = first_row % taps;
    const char *channel = (const char *)(b->data + (first_row / taps) * b->channel_stride);
    const long channel_bytes = (long)sizeof(float) * b->channel_stride;
    CK_ZERO(0) CK_ZERO(1) CK_ZERO(2) CK_ZERO(3) CK_ZERO(4) CK_ZERO(5) CK_ZERO(6) CK_ZERO(7)
    for (long r = 0; r < kc; ++r) {
        // Masked-off lanes are not read, so the address may point outside the plane.
        __m512 b0 = _mm512_maskz_loadu_ps(dp->mask[tap][0], channel + dp->offset[tap][0]);
        __m512 b1 = _mm512_maskz_loadu_ps(dp->mask[tap][1], channel + dp->offset[tap][1]);
        __m512 b2 = _mm512_maskz_loadu_ps(dp->mask[tap][2], channel + dp->offset[tap][2]);
        CK_ROW(0) CK_ROW(1) CK_ROW(2) CK_ROW(3) CK_ROW(4) CK_ROW(5) CK_ROW(6) CK_ROW(7)
        ap += MR;
        if (++tap == taps) { tap = 0; channel += channel_bytes; }
    }
    CK_STORE(0) CK_STORE(1) CK_STORE(2) CK_STORE(3) CK_STORE(4) CK_STORE(5) CK_STORE(6) CK_STORE(7)
}

/// Stores a finished tile (`rows` × `columns` of the NR-wide buffer `tile`) whose vectors may cross
/// from one image into the next, as the vectorised kernels would: each 16-lane vector goes out in at
/// most two masked parts, the lanes in the image of its first column and those in the next one. Needs
/// planes of at least 16 positions (so that no vector reaches a third image).
CK_AVX512 static void store_split(const ck_planes *c, long row, long rows, long column, long columns,
                                  const float *tile, int accumulate, const ck_epilogue *e) {
    const long ldc = c->row_stride;
    for (long v = 0; v < 3 && 16 * v < columns; ++v) {
        const long lanes = columns - 16 * v < 16 ? columns - 16 * v : 16;
        const __mmask16 valid = (__mmask16)((1u << lanes) - 1);
        const long q = c->first_column + column + 16 * v;
        const long image = q / c->plane, p = q - image * c->plane, first = c->plane - p;
        const __mmask16 m1 = first >= 16 ? valid : (__mmask16)(valid & ((1u << first) - 1));
        const __mmask16 m2 = (__mmask16)(valid & ~m1);
        // Lane t of the vector is at d1 + t (in this image) or d2 + t (in the next one): d2 may point
        // before the next image's plane, but only its lanes t ≥ first are touched.
        const long o1 = image * c->image_stride + row * ldc + p;
        const long o2 = (image + 1) * c->image_stride + row * ldc - first;
        for (long i = 0; i < rows; ++i) {
            __m512 x = _mm512_maskz_loadu_ps(valid, tile + i * NR + 16 * v);
            float *d1 = c->data + o1 + i * ldc, *d2 = c->data + o2 + i * ldc;
            if (accumulate) {
                __m512 old = _mm512_maskz_loadu_ps(m1, d1);
                if (m2) old = _mm512_mask_loadu_ps(old, m2, d2);
                x = _mm512_add_ps(x, old);
            }
            if (e) {
                if (e->scale) x = _mm512_mul_ps(x, _mm512_set1_ps(e->scale[row + i]));
                if (e->shift) x = _mm512_add_ps(x, _mm512_set1_ps(e->shift[row + i]));
                if (e->residual) {
                    __m512 r = _mm512_maskz_loadu_ps(m1, e->residual + o1 + i * ldc);
                    if (m2) r = _mm512_mask_loadu_ps(r, m2, e->residual + o2 + i * ldc);
                    x = _mm512_add_ps(x, r);
                }
                if (e->relu) x = _mm512_max_ps(_mm512_setzero_ps(), x);  // NaN stays
            }
            _mm512_mask_storeu_ps(d1, m1, x);
            if (m2) _mm512_mask_storeu_ps(d2, m2, x);
        }
    }
}

CK_AVX512 static void store_tile(const ck_planes *c, long row, long rows, long column, long columns,
                                 long kc, const float *ap, const float *bp, int accumulate, const ck_epilogue *e,
                                 const ck_patches *b, long r0, const direct_panel *dp) {
    float *d[3] = {0, 0, 0};
    const float *r[3] = {0, 0, 0};
    int direct = rows == MR && columns == NR;
    for (int v = 0; v < 3 && direct; ++v) {
        long q = c->first_column + column + 16 * v;
        if (q % c->plane + 16 > c->plane) direct = 0;  // the vector crosses into the next image
        else d[v] = plane_address(c, column + 16 * v, row);
        if (direct && e && e->residual) r[v] = e->residual + (d[v] - c->data);
    }
    if (direct) {
        if (dp) kernel_8x48_direct(kc, ap, b, r0, dp, d[0], d[1], d[2], c->row_stride, accumulate, e, row, r[0], r[1], r[2]);
        else kernel_8x48(kc, ap, bp, d[0], d[1], d[2], c->row_stride, accumulate, e, row, r[0], r[1], r[2]);
        return;
    }
    float *tile = thread_tile();
    if (dp) kernel_8x48_direct(kc, ap, b, r0, dp, tile, tile + 16, tile + 32, NR, 0, 0, 0, 0, 0, 0);
    else kernel_8x48(kc, ap, bp, tile, tile + 16, tile + 32, NR, 0, 0, 0, 0, 0, 0);
    if (c->plane >= 16) {
        store_split(c, row, rows, column, columns, tile, accumulate, e);
        return;
    }
    for (long t = 0; t < columns; ++t) {
        float *out = plane_address(c, column + t, row);
        for (long i = 0; i < rows; ++i) {
            float value = tile[i * NR + t];
            if (accumulate) value += out[i * c->row_stride];
            if (e) value = epilogue_value(e, row + i, value,
                                          e->residual ? e->residual + (out - c->data) + i * c->row_stride : 0);
            out[i * c->row_stride] = value;
        }
    }
}

/// `ck_gemm` for k > 0 and a non-empty range of rows (row1 ≤ m) and columns.
static void gemm_avx512(long m, long k, const float *packed_a, const ck_patches *b, const ck_planes *c,
                        int accumulate, long row0, long row1, long column0, long column1, const ck_epilogue *epilogue) {
    const long padded = ((m + MR - 1) / MR) * MR;
    float *panels = ck_thread_panels();
    // With few rows of A a packed panel serves few tiles: read full panels straight from the images.
    const int try_direct = m <= ck_direct_max_rows && is_shift(b);
    direct_panel direct[NB / NR];
    int is_direct[NB / NR];
    for (long jb = column0; jb < column1; jb += NB) {
        long nb = column1 - jb < NB ? column1 - jb : NB;
        int all_direct = 1;
        for (long j = 0; j < nb; j += NR) {
            long columns = nb - j < NR ? nb - j : NR;
            is_direct[j / NR] = try_direct && direct_panel_setup(b, jb + j, columns, &direct[j / NR]);
            all_direct &= is_direct[j / NR];
        }
        for (long block = 0, blocks = k_blocks(k); block < blocks; ++block) {
            long r0 = k_block_start(k, block), kc = k_block_start(k, block + 1) - r0;
            if (!all_direct) pack_b(b, r0, kc, jb, nb, panels, is_direct);
            const float *a_block = packed_a + padded * r0;
            int add = accumulate || block > 0;
            const ck_epilogue *e = block == blocks - 1 ? epilogue : 0;  // on the finished sums only
            for (long i = row0; i < row1; i += MR) {
                long rows = row1 - i < MR ? row1 - i : MR;
                const float *ap = a_block + (i / MR) * kc * MR;
                for (long j = 0; j < nb; j += NR) {
                    long columns = nb - j < NR ? nb - j : NR;
                    store_tile(c, i, rows, jb + j, columns, kc, ap, panels + (j / NR) * kc * NR, add, e,
                               b, r0, is_direct[j / NR] ? &direct[j / NR] : 0);
                }
            }
        }
    }
}


// MARK: - Weight gradient of a 3×3 "same" convolution

/// Accumulates dw[o + i][tap] (row stride ldw, i < rows ≤ 3) over `images` images: the dot products
/// along the plane of dY rows o + i with the 9 shifted copies of one input plane, 27 vector
/// accumulators reduced once at the end.
CK_AVX512 static inline __attribute__((always_inline)) void weight_gradient_rows(
    const int rows, const float *x, long x_image_stride, const float *dy, long dy_plane, long dy_image_stride,
    long images, long vectors, const __mmask16 *valid, const uintptr_t *shift, float *dw, long ldw) {
    __m512 acc[3][9];
    for (int i = 0; i < rows; ++i) {
        for (int t = 0; t < 9; ++t) acc[i][t] = _mm512_setzero_ps();
    }
    for (long n = 0; n < images; ++n) {
        const uintptr_t xp = (uintptr_t)(x + n * x_image_stride);
        const float *dp = dy + n * dy_image_stride;
        for (long v = 0; v < vectors; ++v) {
            const __mmask16 *masks = valid + v * 10;
            __m512 d[3];
            for (int i = 0; i < rows; ++i) d[i] = _mm512_maskz_loadu_ps(masks[9], dp + i * dy_plane + 16 * v);
            const uintptr_t base = xp + sizeof(float) * (uintptr_t)(16 * v);
            for (int t = 0; t < 9; ++t) {
                // Masked-off lanes (padding) are not read, so the address may point outside the plane.
                __m512 b = _mm512_maskz_loadu_ps(masks[t], (const float *)(base + shift[t]));
                for (int i = 0; i < rows; ++i) acc[i][t] = _mm512_fmadd_ps(d[i], b, acc[i][t]);
            }
        }
    }
    for (int i = 0; i < rows; ++i) {
        for (int t = 0; t < 9; ++t) dw[i * ldw + t] += _mm512_reduce_add_ps(acc[i][t]);
    }
}

CK_AVX512 static void weight_gradient_3x3_avx512(const ck_patches *x, const float *dy, long dy_image_stride, long images,
                                                float *dw, long ldw, long o0, long o1, long c0, long c1) {
    const long plane = x->out_h * x->out_w, vectors = (plane + 15) / 16;
    if (o0 >= o1 || c0 >= c1 || images == 0 || plane == 0) return;
    // Per vector of the plane: the lanes each tap reads inside the image, then the lanes inside the plane.
    __mmask16 *valid = malloc(sizeof(__mmask16) * (size_t)(vectors * 10));
    uintptr_t shift[9];
    for (long t = 0; t < 9; ++t) {
        const long ky = t / 3, kx = t % 3;
        shift[t] = sizeof(float) * (uintptr_t)((ky * x->dilation_h - x->pad_h) * x->width + kx * x->dilation_w - x->pad_w);
    }
    for (long v = 0; v < vectors; ++v) {
        for (long t = 0; t < 10; ++t) valid[v * 10 + t] = 0;
        for (long u = 0; u < 16 && 16 * v + u < plane; ++u) {
            const long p = 16 * v + u, oh = p / x->out_w, ow = p - oh * x->out_w;
            valid[v * 10 + 9] |= (__mmask16)(1u << u);
            for (long t = 0; t < 9; ++t) {
                const long iy = oh + (t / 3) * x->dilation_h - x->pad_h, ix = ow + (t % 3) * x->dilation_w - x->pad_w;
                if (iy >= 0 && iy < x->height && ix >= 0 && ix < x->width) valid[v * 10 + t] |= (__mmask16)(1u << u);
            }
        }
    }
    // Images in blocks whose dY rows and input planes stay in L2 (reduced once per block).
    long block = (96 * 1024) / ((o1 - o0 + c1 - c0) * plane);
    if (block < 1) block = 1;
    for (long n0 = 0; n0 < images; n0 += block) {
        const long count = images - n0 < block ? images - n0 : block;
        for (long c = c0; c < c1; ++c) {
            const float *xc = x->data + n0 * x->image_stride + c * x->channel_stride;
            for (long o = o0; o < o1; o += 3) {
                const float *dyo = dy + n0 * dy_image_stride + o * plane;
                float *w = dw + o * ldw + c * 9;
                switch (o1 - o < 3 ? o1 - o : 3) {
                case 3:
                    weight_gradient_rows(3, xc, x->image_stride, dyo, plane, dy_image_stride, count, vectors, valid, shift, w, ldw);
                    break;
                case 2:
                    weight_gradient_rows(2, xc, x->image_stride, dyo, plane, dy_image_stride, count, vectors, valid, shift, w, ldw);
                    break;
                default:
                    weight_gradient_rows(1, xc, x->image_stride, dyo, plane, dy_image_stride, count, vectors, valid, shift, w, ldw);
                }
            }
        }
    }
    free(valid);
}

void ck_gemm(long m, long k, const float *packed_a, const ck_patches *b, const ck_planes *c,
             int accumulate, long row0, long row1, long column0, long column1, const ck_epilogue *epilogue) {
    if (row1 > m) row1 = m;
    if (row0 >= row1 || column0 >= column1) return;
    if (k == 0) {  // an empty sum: C keeps its values (accumulate) or becomes 0, then the epilogue
        for (long j = column0; j < column1; ++j) {
            float *out = plane_address(c, j, row0);
            for (long i = 0; i < row1 - row0; ++i) {
                float value = accumulate ? out[i * c->row_stride] : 0;
                if (epilogue) {
                    value = epilogue_value(epilogue, row0 + i, value, epilogue->residual
                                           ? epilogue->residual + (out - c->data) + i * c->row_stride : 0);
                }
                out[i * c->row_stride] = value;
            }
        }
        return;
    }
    const int set = ck_gemm_instruction_set();
    if (set == 2) gemm_avx512(m, k, packed_a, b, c, accumulate, row0, row1, column0, column1, epilogue);
    else if (set == 1) ck_gemm_avx2(m, k, packed_a, b, c, accumulate, row0, row1, column0, column1, epilogue);
    else abort();  // callers check ck_gemm_supported() first
}

void ck_weight_gradient_3x3(const ck_patches *x, const float *dy, long dy_image_stride, long images,
                            float *dw, long ldw, long o0, long o1, long c0, long c1) {
    const int set = ck_gemm_instruction_set();
    if (set == 2) weight_gradient_3x3_avx512(x, dy, dy_image_stride, images, dw, ldw, o0, o1, c0, c1);
    else if (set == 1) ck_weight_gradient_3x3_avx2(x, dy, dy_image_stride, images, dw, ldw, o0, o1, c0, c1);
    else abort();  // callers check ck_gemm_supported() first
}

#else

int ck_gemm_supported(void) { return 0; }

int ck_gemm_instruction_set(void) { return 0; }

int ck_set_gemm_instruction_set(int level) { (void)level; return 0; }

void ck_set_gather_packing(int on) { (void)on; }

void ck_set_direct_max_rows(long rows) { (void)rows; }

void ck_gemm(long m, long k, const float *packed_a, const ck_patches *b, const ck_planes *c,
             int accumulate, long row0, long row1, long column0, long column1, const ck_epilogue *epilogue) {
    (void)m; (void)k; (void)packed_a; (void)b; (void)c; (void)accumulate; (void)epilogue;
    (void)row0; (void)row1; (void)column0; (void)column1;
    abort();  // callers check ck_gemm_supported() first
}

void ck_weight_gradient_3x3(const ck_patches *x, const float *dy, long dy_image_stride, long images,
                            float *dw, long ldw, long o0, long o1, long c0, long c1) {
    (void)x; (void)dy; (void)dy_image_stride; (void)images; (void)dw; (void)ldw; (void)o0; (void)o1; (void)c0; (void)c1;
    abort();  // callers check ck_gemm_supported() first
}

#endif
