#ifndef CJPEG_SHIM_H
#define CJPEG_SHIM_H

/*
 * A small C layer over libjpeg(-turbo) for the VisionImage Swift target.
 *
 * libjpeg reports fatal errors by calling `error_exit`, which must not return. The shim installs an
 * error manager that copies the library's message into the decoder/encoder context and longjmps
 * back to a setjmp taken inside the same shim function, so no longjmp ever crosses a Swift frame.
 * Warnings are never printed: "premature end of file" is promoted to an error, other warnings are
 * counted and the first one kept.
 *
 * Every function returns CJPEG_OK or an error code; the message is read with
 * `cjpeg_decoder_message` / written into the caller's buffer for the encoder.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CJPEG_OK = 0,
    /// libjpeg reported an error (corrupt or truncated data, out of memory…).
    CJPEG_ERROR_LIBRARY = 1,
    /// The file is valid but uses something the shim does not decode (colour space, components).
    CJPEG_ERROR_UNSUPPORTED = 2,
    /// malloc failed in the shim itself.
    CJPEG_ERROR_MEMORY = 3,
    /// The call was made out of order (e.g. decode before a successful header read).
    CJPEG_ERROR_STATE = 4,
    /// The frame header is beyond libjpeg's own dimension limit (65500 per side).
    CJPEG_ERROR_TOO_LARGE = 5,
};

/// Colour space of the stored data (a subset of libjpeg's J_COLOR_SPACE).
enum {
    CJPEG_SPACE_UNKNOWN = 0,
    CJPEG_SPACE_GRAY = 1,
    CJPEG_SPACE_RGB = 2,
    CJPEG_SPACE_YCBCR = 3,
    CJPEG_SPACE_CMYK = 4,
    CJPEG_SPACE_YCCK = 5,
};

typedef struct cjpeg_header {
    int width;
    int height;
    /// Components stored in the file (1, 3 or 4).
    int components;
    /// One of CJPEG_SPACE_*.
    int color_space;
    /// Channels the decoder writes: 1 for grayscale, 3 otherwise (CMYK/YCCK are converted to RGB).
    int channels;
    int progressive;
    /// Whether an Adobe APP14 marker was seen (CMYK data is then stored inverted).
    int adobe_marker;
} cjpeg_header;

typedef struct cjpeg_decoder cjpeg_decoder;

/// A fresh decoder, or NULL when memory is exhausted. Free it with `cjpeg_decoder_destroy`.
cjpeg_decoder *cjpeg_decoder_create(void);

/// Reads the headers of the JPEG in `data[0..<size]` (which must stay valid until destroy).
/// With `save_exif` the APP1 segments are kept for `cjpeg_decoder_exif`.
/// `max_scans` bounds the number of progressive scans (0 = no bound); `max_memory` bounds
/// libjpeg's working memory in bytes (0 = no bound).
int cjpeg_decoder_read_header(cjpeg_decoder *decoder, const unsigned char *data, size_t size,
                              int save_exif, int max_scans, long max_memory, cjpeg_header *header);

/// The body of the first APP1 segment that starts with "Exif\0\0" (the bytes after the marker
/// length), or NULL. Valid until the decoder is decoded or destroyed.
const unsigned char *cjpeg_decoder_exif(const cjpeg_decoder *decoder, size_t *length);

/// Decodes the image into `pixels`, row-major interleaved, `height * width * channels` bytes.
int cjpeg_decoder_decode(cjpeg_decoder *decoder, unsigned char *pixels, size_t capacity);

/// The last error message (empty when none).
const char *cjpeg_decoder_message(const cjpeg_decoder *decoder);

/// Number of libjpeg warnings seen so far (corrupt-data warnings that libjpeg recovered from).
int cjpeg_decoder_warning_count(const cjpeg_decoder *decoder);

void cjpeg_decoder_destroy(cjpeg_decoder *decoder);

/// Input layouts for `cjpeg_encode`.
enum {
    CJPEG_INPUT_GRAY = 1,
    CJPEG_INPUT_RGB = 3,
    /// Adobe-style inverted CMYK (255 = no ink), written as YCCK with an Adobe marker.
    CJPEG_INPUT_CMYK = 4,
};

/// Compresses `height * width * input` bytes. On success `*output` is a malloc'd buffer of
/// `*output_size` bytes that the caller releases with `cjpeg_free`. On failure the message is
/// copied into `message` (NUL-terminated, at most `message_capacity` bytes).
int cjpeg_encode(const unsigned char *pixels, int width, int height, int input, int quality,
                 int progressive, int subsample_chroma, unsigned char **output, size_t *output_size,
                 char *message, size_t message_capacity);

void cjpeg_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
