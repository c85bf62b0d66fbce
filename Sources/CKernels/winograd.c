// Winograd F(2×2, 3×3) transforms (Lavin & Gray 2015) for 3×3 stride-1 convolutions: each 2×2
// output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 4×4 input tile d, so the products become 16
// matrix products over channels with 16 multiplies per tile instead of 36.

#include "ckernels.h"

void ck_winograd_input(const float *x, long height, long width, long pad, long channel_stride, long image_stride,
                       long images, long tiles_h, long tiles_w, float *v, long v_stride, long c0, long c1) {
    const long tiles = tiles_h * tiles_w, columns = images * tiles;
    for (long c = c0; c < c1; ++c) {
        for (long n = 0; n < images; ++n) {
            const float *plane = x + n * image_stride + c * channel_stride;
            for (long th = 0; th < tiles_h; ++th) {
                const long y0 = 2 * th - pad;
                for (long tw = 0; tw < tiles_w; ++tw) {
                    const long x0 = 2 * tw - pad;
                    float d[4][4];
                    if (y0 >= 0 && x0 >= 0 && y0 + 4 <= height && x0 + 4 <= width) {
                        for (int i = 0; i < 4; ++i) {
                            for (int j = 0; j < 4; ++j) d[i][j] = plane[(y0 + i) * width + x0 + j];
                        }
                    } else {
                        for (int i = 0; i < 4; ++i) {
                            for (int j = 0; j < 4; ++j) {
                                long iy = y0 + i, ix = x0 + j;
                                d[i][j] = iy >= 0 && iy < height && ix >= 0 && ix < width ? plane[iy * width + ix] : 0.0f;
                            }
                        }
                    }
                    float t[4][4];  // Bᵀ·d
                    for (int j = 0; j < 4; ++j) {
                        t[0][j] = d[0][j] - d[2][j];
                        t[1][j] = d[1][j] + d[2][j];
                        t[2][j] = d[2][j] - d[1][j];
                        t[3][j] = d[1][j] - d[3][j];
                    }
                    float *out = v + c * columns + n * tiles + th * tiles_w + tw;
                    for (int i = 0; i < 4; ++i) {  // (Bᵀ·d)·B
                        out[(i * 4 + 0) * v_stride] = t[i][0] - t[i][2];
                        out[(i * 4 + 1) * v_stride] = t[i][1] + t[i][2];
                        out[(i * 4 + 2) * v_stride] = t[i][2] - t[i][1];
                        out[(i * 4 + 3) * v_stride] = t[i][1] - t[i][3];
                    }
                }
            }
        }
    }
}

void ck_winograd_output(const float *m, long m_stride, long images, long tiles_h, long tiles_w,
                        float *y, long out_h, long out_w, long channel_stride, long image_stride,
                        int accumulate, long k0, long k1) {
    const long tiles = tiles_h * tiles_w, columns = images * tiles;
    for (long k = k0; k < k1; ++k) {
        for (long n = 0; n < images; ++n) {
            float *plane = y + n * image_stride + k * channel_stride;
            for (long th = 0; th < tiles_h; ++th) {
                for (long tw = 0; tw < tiles_w; ++tw) {
                    const float *in = m + k * columns + n * tiles + th * tiles_w + tw;
                    float s[2][4];  // Aᵀ·M
                    for (int j = 0; j < 4; ++j) {
                        float m0 = in[j * m_stride], m1 = in[(4 + j) * m_stride];
                        float m2 = in[(8 + j) * m_stride], m3 = in[(12 + j) * m_stride];
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    for (int i = 0; i < 2; ++i) {  // (Aᵀ·M)·A, cropped at the bottom and right edges
                        long oy = 2 * th + i;
                        if (oy >= out_h) break;
                        float r[2] = {s[i][0] + s[i][1] + s[i][2], s[i][1] - s[i][2] - s[i][3]};
                        for (int j = 0; j < 2; ++j) {
                            long ox = 2 * tw + j;
                            if (ox >= out_w) break;
                            if (accumulate) plane[oy * out_w + ox] += r[j];
                            else plane[oy * out_w + ox] = r[j];
                        }
                    }
                }
            }
        }
    }
}
