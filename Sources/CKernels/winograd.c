// Winograd F(2×2, 3×3) transforms (Lavin & Gray 2015) for 3×3 stride-1 convolutions: each 2×2
// output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 4×4 input tile d, so the products become 16
// matrix products over channels with 16 multiplies per tile instead of 36.
//
// Both transforms run over all tiles of a plane at once, so that every loop is contiguous and
// vectorises whatever the plane's width (an 8×8 plane has 16 tiles: one AVX-512 vector per value):
// the input is first split into even and odd rows and columns (`split_plane`), after which element
// (b, a) of every tile's d is a contiguous run; the output transform writes its four 2×2 positions
// to contiguous runs and then interleaves them into the plane.

#include "ckernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define CK_VECTOR __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#else
#define CK_VECTOR
#endif

// split[a][p] (a = column offset 0..3 within a tile, p = row parity) holds (tiles_h + 1) rows of
// tiles_w floats: split[a][p][r][tw] = x[2r + p − pad][2tw + a − pad], zero outside the plane. So
// d[b][a] of tile t = th·tiles_w + tw is split[a][b mod 2][t + (b div 2)·tiles_w].
static CK_VECTOR void split_plane(const float *restrict plane, long height, long width, long pad,
                                  long tiles_h, long tiles_w, float *restrict split, long split_size,
                                  float *restrict row_even, float *restrict row_odd) {
    for (long r = 0; r <= tiles_h; ++r) {
        for (long p = 0; p < 2; ++p) {
            const long iy = 2 * r + p - pad;
            float *a0 = split + (0 * 2 + p) * split_size + r * tiles_w;
            float *a1 = split + (1 * 2 + p) * split_size + r * tiles_w;
            float *a2 = split + (2 * 2 + p) * split_size + r * tiles_w;
            float *a3 = split + (3 * 2 + p) * split_size + r * tiles_w;
            if (iy < 0 || iy >= height) {
                memset(a0, 0, sizeof(float) * tiles_w);
                memset(a1, 0, sizeof(float) * tiles_w);
                memset(a2, 0, sizeof(float) * tiles_w);
                memset(a3, 0, sizeof(float) * tiles_w);
                continue;
            }
            // row_even[k] = x[iy][2k − pad], row_odd[k] = x[iy][2k + 1 − pad], k in 0...tiles_w.
            const float *src = plane + iy * width;
            for (long k = 0; k <= tiles_w; ++k) {
                const long e = 2 * k - pad, o = e + 1;
                row_even[k] = e >= 0 && e < width ? src[e] : 0.0f;
                row_odd[k] = o >= 0 && o < width ? src[o] : 0.0f;
            }
            memcpy(a0, row_even, sizeof(float) * tiles_w);
            memcpy(a1, row_odd, sizeof(float) * tiles_w);
            memcpy(a2, row_even + 1, sizeof(float) * tiles_w);
            memcpy(a3, row_odd + 1, sizeof(float) * tiles_w);
        }
    }
}

CK_VECTOR void ck_winograd_input(const float *x, long height, long width, long pad, long channel_stride,
                                 long image_stride, long images, long tiles_h, long tiles_w, float *v,
                                 long v_stride, long c0, long c1) {
    const long tiles = tiles_h * tiles_w, columns = images * tiles;
    const long split_size = (tiles_h + 1) * tiles_w;
    float *scratch = malloc(sizeof(float) * (8 * split_size + 2 * (tiles_w + 1)));
    if (!scratch) abort();
    float *split = scratch, *row_even = scratch + 8 * split_size, *row_odd = row_even + tiles_w + 1;
    for (long c = c0; c < c1; ++c) {
        for (long n = 0; n < images; ++n) {
            split_plane(x + n * image_stride + c * channel_stride, height, width, pad, tiles_h, tiles_w,
                        split, split_size, row_even, row_odd);
            // d[b][a] runs: column offset a, row parity b mod 2, shifted down a tile row when b ≥ 2.
#define D(b, a) const float *restrict d##b##a = split + ((a) * 2 + ((b) & 1)) * split_size + ((b) >> 1) * tiles_w
            D(0, 0); D(0, 1); D(0, 2); D(0, 3); D(1, 0); D(1, 1); D(1, 2); D(1, 3);
            D(2, 0); D(2, 1); D(2, 2); D(2, 3); D(3, 0); D(3, 1); D(3, 2); D(3, 3);
#undef D
            float *out = v + c * columns + n * tiles;
#define O(i, j) float *restrict o##i##j = out + ((i) * 4 + (j)) * v_stride
            O(0, 0); O(0, 1); O(0, 2); O(0, 3); O(1, 0); O(1, 1); O(1, 2); O(1, 3);
            O(2, 0); O(2, 1); O(2, 2); O(2, 3); O(3, 0); O(3, 1); O(3, 2); O(3, 3);
#undef O
            for (long t = 0; t < tiles; ++t) {
                // Bᵀ·d, column by column...
                const float t00 = d00[t] - d20[t], t01 = d01[t] - d21[t], t02 = d02[t] - d22[t], t03 = d03[t] - d23[t];
                const float t10 = d10[t] + d20[t], t11 = d11[t] + d21[t], t12 = d12[t] + d22[t], t13 = d13[t] + d23[t];
                const float t20 = d20[t] - d10[t], t21 = d21[t] - d11[t], t22 = d22[t] - d12[t], t23 = d23[t] - d13[t];
                const float t30 = d10[t] - d30[t], t31 = d11[t] - d31[t], t32 = d12[t] - d32[t], t33 = d13[t] - d33[t];
                // ...then (Bᵀ·d)·B, row by row.
                o00[t] = t00 - t02; o01[t] = t01 + t02; o02[t] = t02 - t01; o03[t] = t01 - t03;
                o10[t] = t10 - t12; o11[t] = t11 + t12; o12[t] = t12 - t11; o13[t] = t11 - t13;
                o20[t] = t20 - t22; o21[t] = t21 + t22; o22[t] = t22 - t21; o23[t] = t21 - t23;
                o30[t] = t30 - t32; o31[t] = t31 + t32; o32[t] = t32 - t31; o33[t] = t31 - t33;
            }
        }
    }
    free(scratch);
}

CK_VECTOR void ck_winograd_output(const float *m, long m_stride, long images, long tiles_h, long tiles_w,
                                  float *y, long out_h, long out_w, long channel_stride, long image_stride,
                                  int accumulate, long k0, long k1, const ck_epilogue *e) {
    const long tiles = tiles_h * tiles_w, columns = images * tiles;
    float *scratch = malloc(sizeof(float) * 4 * tiles);
    if (!scratch) abort();
    float *restrict r00 = scratch, *restrict r01 = scratch + tiles;
    float *restrict r10 = scratch + 2 * tiles, *restrict r11 = scratch + 3 * tiles;
    for (long k = k0; k < k1; ++k) {
        for (long n = 0; n < images; ++n) {
            const float *in = m + k * columns + n * tiles;
#define M(i, j) const float *restrict m##i##j = in + ((i) * 4 + (j)) * m_stride
            M(0, 0); M(0, 1); M(0, 2); M(0, 3); M(1, 0); M(1, 1); M(1, 2); M(1, 3);
            M(2, 0); M(2, 1); M(2, 2); M(2, 3); M(3, 0); M(3, 1); M(3, 2); M(3, 3);
#undef M
            for (long t = 0; t < tiles; ++t) {
                // Aᵀ·M...
                const float s00 = m00[t] + m10[t] + m20[t], s01 = m01[t] + m11[t] + m21[t];
                const float s02 = m02[t] + m12[t] + m22[t], s03 = m03[t] + m13[t] + m23[t];
                const float s10 = m10[t] - m20[t] - m30[t], s11 = m11[t] - m21[t] - m31[t];
                const float s12 = m12[t] - m22[t] - m32[t], s13 = m13[t] - m23[t] - m33[t];
                // ...then (Aᵀ·M)·A: the 2×2 outputs of tile t.
                r00[t] = s00 + s01 + s02; r01[t] = s01 - s02 - s03;
                r10[t] = s10 + s11 + s12; r11[t] = s11 - s12 - s13;
            }
            if (e) {  // per channel: r·scale + shift (the residual and ReLU once in the plane)
                const float scale = e->scale ? e->scale[k] : 1, shift = e->shift ? e->shift[k] : 0;
                for (long t = 0; t < tiles; ++t) {
                    r00[t] = r00[t] * scale + shift; r01[t] = r01[t] * scale + shift;
                    r10[t] = r10[t] * scale + shift; r11[t] = r11[t] * scale + shift;
                }
            }
            // Interleave into the plane, cropped at the bottom and right edges.
            float *plane = y + n * image_stride + k * channel_stride;
            const long full_w = out_w / 2;  // tiles whose two columns are both inside
            for (long th = 0; th < tiles_h; ++th) {
                for (long i = 0; i < 2; ++i) {
                    const long oy = 2 * th + i;
                    if (oy >= out_h) break;
                    const float *left = (i ? r10 : r00) + th * tiles_w, *right = (i ? r11 : r01) + th * tiles_w;
                    float *row = plane + oy * out_w;
                    if (accumulate) {
                        for (long tw = 0; tw < full_w; ++tw) { row[2 * tw] += left[tw]; row[2 * tw + 1] += right[tw]; }
                        if (full_w < tiles_w) row[2 * full_w] += left[full_w];
                    } else {
                        for (long tw = 0; tw < full_w; ++tw) { row[2 * tw] = left[tw]; row[2 * tw + 1] = right[tw]; }
                        if (full_w < tiles_w) row[2 * full_w] = left[full_w];
                    }
                }
            }
            if (e && (e->residual || e->relu)) {
                const long plane_size = out_h * out_w;
                const float *residual = e->residual ? e->residual + (plane - y) : 0;
                for (long p = 0; p < plane_size; ++p) {
                    float value = plane[p] + (residual ? residual[p] : 0);
                    if (e->relu && value <= 0) value = 0;  // NaN stays, as in ReLU
                    plane[p] = value;
                }
            }
        }
    }
    free(scratch);
}

CK_VECTOR void ck_winograd_output_gradient(const float *dy, long out_h, long out_w, long channel_stride,
                                           long image_stride, long images, long tiles_h, long tiles_w, float *u,
                                           long u_stride, long k0, long k1) {
    const long tiles = tiles_h * tiles_w, columns = images * tiles;
    // e[i][j][t]: element (i, j) of tile t's 2×2 block of dY, zero beyond the plane.
    float *scratch = malloc(sizeof(float) * 4 * tiles);
    if (!scratch) abort();
    float *restrict e00 = scratch, *restrict e01 = scratch + tiles;
    float *restrict e10 = scratch + 2 * tiles, *restrict e11 = scratch + 3 * tiles;
    const long full_w = out_w / 2;  // tiles whose two columns are both inside
    for (long k = k0; k < k1; ++k) {
        for (long n = 0; n < images; ++n) {
            const float *plane = dy + n * image_stride + k * channel_stride;
            for (long th = 0; th < tiles_h; ++th) {
                for (long i = 0; i < 2; ++i) {
                    const long oy = 2 * th + i;
                    float *left = (i ? e10 : e00) + th * tiles_w, *right = (i ? e11 : e01) + th * tiles_w;
                    if (oy >= out_h) {
                        memset(left, 0, sizeof(float) * tiles_w);
                        memset(right, 0, sizeof(float) * tiles_w);
                        continue;
                    }
                    const float *row = plane + oy * out_w;
                    for (long tw = 0; tw < full_w; ++tw) { left[tw] = row[2 * tw]; right[tw] = row[2 * tw + 1]; }
                    if (full_w < tiles_w) { left[full_w] = row[2 * full_w]; right[full_w] = 0; }
                }
            }
            float *out = u + k * columns + n * tiles;
#define O(i, j) float *restrict o##i##j = out + ((i) * 4 + (j)) * u_stride
            O(0, 0); O(0, 1); O(0, 2); O(0, 3); O(1, 0); O(1, 1); O(1, 2); O(1, 3);
            O(2, 0); O(2, 1); O(2, 2); O(2, 3); O(3, 0); O(3, 1); O(3, 2); O(3, 3);
#undef O
            for (long t = 0; t < tiles; ++t) {
                // A·d with A = (Aᵀ)ᵀ = [1 0; 1 1; 1 −1; 0 −1], row by row...
                const float a0 = e00[t], b0 = e01[t];
                const float a1 = e00[t] + e10[t], b1 = e01[t] + e11[t];
                const float a2 = e00[t] - e10[t], b2 = e01[t] - e11[t];
                const float a3 = -e10[t], b3 = -e11[t];
                // ...then (A·d)·Aᵀ: (a, b) → (a, a + b, a − b, −b).
                o00[t] = a0; o01[t] = a0 + b0; o02[t] = a0 - b0; o03[t] = -b0;
                o10[t] = a1; o11[t] = a1 + b1; o12[t] = a1 - b1; o13[t] = -b1;
                o20[t] = a2; o21[t] = a2 + b2; o22[t] = a2 - b2; o23[t] = -b2;
                o30[t] = a3; o31[t] = a3 + b3; o32[t] = a3 - b3; o33[t] = -b3;
            }
        }
    }
    free(scratch);
}

void ck_winograd_filter_gradient(const float *du, long du_stride, long channels, float *dw, long k0, long k1) {
    for (long k = k0; k < k1; ++k) {
        for (long c = 0; c < channels; ++c) {
            const float *x = du + k * channels + c;
            float t[3][4];  // Gᵀ·du, column by column; Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]
            for (int j = 0; j < 4; ++j) {
                const float x0 = x[j * du_stride], x1 = x[(4 + j) * du_stride];
                const float x2 = x[(8 + j) * du_stride], x3 = x[(12 + j) * du_stride];
                t[0][j] = x0 + 0.5f * (x1 + x2);
                t[1][j] = 0.5f * (x1 - x2);
                t[2][j] = 0.5f * (x1 + x2) + x3;
            }
            float *g = dw + (k * channels + c) * 9;
            for (int a = 0; a < 3; ++a) {  // (Gᵀ·du)·G, row by row
                g[3 * a] += t[a][0] + 0.5f * (t[a][1] + t[a][2]);
                g[3 * a + 1] += 0.5f * (t[a][1] - t[a][2]);
                g[3 * a + 2] += 0.5f * (t[a][1] + t[a][2]) + t[a][3];
            }
        }
    }
}
