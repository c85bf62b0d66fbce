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

// The transforms are plain C loops left to the compiler's vectoriser, compiled for AVX-512 and for
// AVX2 (winograd_transforms.inc); the public functions run the copy of the selected instruction set.
#if defined(__x86_64__)
#define CK_VECTOR __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define CK_NAME(name) name##_avx512
#include "winograd_transforms.inc"
#undef CK_VECTOR
#undef CK_NAME
#define CK_VECTOR __attribute__((target("avx2,fma")))
#define CK_NAME(name) name##_avx2
#include "winograd_transforms.inc"
#undef CK_VECTOR
#undef CK_NAME
// The copy for the instruction set `set` selected; none selected means a caller skipped ck_gemm_supported().
#define CK_PICK(set, name) ((set) == 2 ? name##_avx512 : (set) == 1 ? name##_avx2 : (abort(), name##_avx2))
#else
#define CK_VECTOR
#define CK_NAME(name) name##_generic
#include "winograd_transforms.inc"
#define CK_PICK(set, name) ((void)(set), name##_generic)
#endif

void ck_winograd_input(const float *x, long height, long width, long pad, long channel_stride, long image_stride,
                       long images, long tiles_h, long tiles_w, float *v, long v_stride, long c0, long c1) {
    const int set = ck_gemm_instruction_set();
    CK_PICK(set, winograd_input)(x, height, width, pad, channel_stride, image_stride, images, tiles_h, tiles_w, v, v_stride, c0, c1);
}

void ck_winograd_output(const float *m, long m_stride, long images, long tiles_h, long tiles_w,
                        float *y, long out_h, long out_w, long channel_stride, long image_stride,
                        int accumulate, long k0, long k1, const ck_epilogue *epilogue) {
    const int set = ck_gemm_instruction_set();
    CK_PICK(set, winograd_output)(m, m_stride, images, tiles_h, tiles_w, y, out_h, out_w, channel_stride, image_stride,
                             accumulate, k0, k1, epilogue);
}

void ck_winograd_output_gradient(const float *dy, long out_h, long out_w, long channel_stride, long image_stride,
                                 long images, long tiles_h, long tiles_w, float *u, long u_stride, long k0, long k1) {
    const int set = ck_gemm_instruction_set();
    CK_PICK(set, winograd_output_gradient)(dy, out_h, out_w, channel_stride, image_stride, images, tiles_h, tiles_w,
                                      u, u_stride, k0, k1);
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
