#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H

/*
 * A small C layer over libpng 1.6 for the VisionImage Swift target.
 *
 * libpng reports fatal errors through its error function, which must not return. The shim's error
 * function copies the message into the decoder/encoder context and longjmps (png_jmpbuf) back to a
 * setjmp taken inside the same shim function, so no longjmp crosses a Swift frame. Warnings are
 * counted, never printed.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CPNG_OK = 0,
    /// libpng reported an error (bad signature, CRC mismatch, truncated or corrupt data…).
    CPNG_ERROR_LIBRARY = 1,
    /// malloc failed in the shim itself.
    CPNG_ERROR_MEMORY = 3,
    /// The call was made out of order or with a buffer of the wrong size.
    CPNG_ERROR_STATE = 4,
};

typedef struct cpng_header {
    int width;
    int height;
    /// As stored: 1, 2, 4, 8 or 16.
    int bit_depth;
    /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    int color_type;
    int interlaced;
    /// Whether a tRNS chunk is present (it becomes an alpha channel).
    int has_transparency;
    /// Channels the decoder writes: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    int channels;
} cpng_header;

typedef struct cpng_decoder cpng_decoder;

/// A fresh decoder, or NULL when memory is exhausted. Free it with `cpng_decoder_destroy`.
cpng_decoder *cpng_decoder_create(void);

/// Reads the signature and the chunks up to the first IDAT of the PNG in `data[0..<size]`, which
/// must stay valid until destroy. Image dimensions are not limited here (libpng's own limits are
/// lifted to 2^31−1) so that the caller can check them with its own policy before decoding.
int cpng_decoder_read_header(cpng_decoder *decoder, const unsigned char *data, size_t size,
                             cpng_header *header);

/// Decodes into `pixels`, row-major interleaved, `height * width * channels` samples of
/// `sixteen_bit ? 2 : 1` bytes. Palette, low bit depths and tRNS are expanded; interlacing is
/// undone. 8-bit output scales 16-bit samples with rounding (v/257); 16-bit output widens 8-bit
/// samples (v·257) and is in host byte order. Reads through IEND, so a truncated file is an error.
int cpng_decoder_decode(cpng_decoder *decoder, void *pixels, size_t capacity, int sixteen_bit);

/// Decodes the stored values of a palette or gray PNG (colour types 3, 0, 4), for label masks: palette
/// indices as they are (no expansion to colours), gray values at their own scale (a 2-bit 3 stays 3,
/// not 255; the caller may rescale 1-bit gray), alpha and tRNS ignored. Writes `height * width` values of 1 byte (bit depth ≤ 8) or of
/// 2 bytes in host byte order (16). RGB and RGBA images are refused (CPNG_ERROR_STATE).
int cpng_decoder_decode_values(cpng_decoder *decoder, void *pixels, size_t capacity);

const char *cpng_decoder_message(const cpng_decoder *decoder);
int cpng_decoder_warning_count(const cpng_decoder *decoder);
void cpng_decoder_destroy(cpng_decoder *decoder);

/// Compresses `height * width * channels` samples (`bit_depth` 8: bytes; 16: host-order uint16)
/// as a non-interlaced PNG of colour type gray / gray+alpha / RGB / RGBA for channels 1–4.
/// `compression_level` is zlib's 0–9 (-1 for the default). On success `*output` is a malloc'd
/// buffer of `*output_size` bytes released with `cpng_free`; on failure the message is copied into
/// `message`.
int cpng_encode(const void *pixels, int width, int height, int channels, int bit_depth,
                int compression_level, unsigned char **output, size_t *output_size,
                char *message, size_t message_capacity);

void cpng_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
