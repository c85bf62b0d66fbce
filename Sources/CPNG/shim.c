// libpng behind setjmp: every libpng call that can fail happens inside a function of this file
// that has taken setjmp(png_jmpbuf(png)), or in a static helper it calls while that setjmp is active,
// and the error function longjmps only back to it.

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpng_shim.h"

// MARK: - Messages

typedef struct shim_messages {
    char message[256];
    int warnings;
} shim_messages;

static void shim_error(png_structp png, png_const_charp text) {
    shim_messages *messages = (shim_messages *)png_get_error_ptr(png);
    if (messages != NULL) snprintf(messages->message, sizeof messages->message, "%s", text);
    png_longjmp(png, 1);
}

static void shim_warning(png_structp png, png_const_charp text) {
    (void)text;
    shim_messages *messages = (shim_messages *)png_get_error_ptr(png);
    if (messages != NULL) messages->warnings++;
}

static int shim_host_is_little_endian(void) {
    const uint16_t probe = 1;
    return *(const uint8_t *)&probe == 1;
}

// MARK: - Decoder

struct cpng_decoder {
    shim_messages messages;  // first member: the error pointer handed to libpng
    png_structp png;
    png_infop info;
    const unsigned char *data;
    size_t size;
    size_t offset;
    int header_read;
    cpng_header header;
    png_bytep *rows;
};

static void shim_read(png_structp png, png_bytep target, size_t length) {
    cpng_decoder *decoder = (cpng_decoder *)png_get_io_ptr(png);
    if (length > decoder->size - decoder->offset) png_error(png, "unexpected end of PNG data (file truncated)");
    memcpy(target, decoder->data + decoder->offset, length);
    decoder->offset += length;
}

cpng_decoder *cpng_decoder_create(void) {
    cpng_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) return NULL;
    // png_create_read_struct guards its own setup with an internal setjmp.
    decoder->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &decoder->messages, shim_error, shim_warning);
    if (decoder->png == NULL) {
        free(decoder);
        return NULL;
    }
    decoder->info = png_create_info_struct(decoder->png);
    if (decoder->info == NULL) {
        png_destroy_read_struct(&decoder->png, NULL, NULL);
        free(decoder);
        return NULL;
    }
    return decoder;
}

static int shim_fail(cpng_decoder *decoder, int code, const char *message) {
    snprintf(decoder->messages.message, sizeof decoder->messages.message, "%s", message);
    return code;
}

int cpng_decoder_read_header(cpng_decoder *decoder, const unsigned char *data, size_t size,
                             cpng_header *header) {
    if (decoder == NULL || decoder->header_read || decoder->data != NULL) return CPNG_ERROR_STATE;
    if (data == NULL || size == 0) return shim_fail(decoder, CPNG_ERROR_LIBRARY, "empty PNG data");
    decoder->data = data;
    decoder->size = size;
    decoder->offset = 0;
    if (setjmp(png_jmpbuf(decoder->png))) return CPNG_ERROR_LIBRARY;

    png_set_read_fn(decoder->png, decoder, shim_read);
    // The caller applies its own size policy after this call, before anything large is allocated.
    png_set_user_limits(decoder->png, 0x7fffffff, 0x7fffffff);
    png_read_info(decoder->png, decoder->info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(decoder->png, decoder->info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    cpng_header result;
    memset(&result, 0, sizeof result);
    result.width = (int)width;
    result.height = (int)height;
    result.bit_depth = bit_depth;
    result.color_type = color_type;
    result.interlaced = interlace != PNG_INTERLACE_NONE;
    result.has_transparency = png_get_valid(decoder->png, decoder->info, PNG_INFO_tRNS) != 0;
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: result.channels = result.has_transparency ? 2 : 1; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: result.channels = 2; break;
    case PNG_COLOR_TYPE_RGB: result.channels = result.has_transparency ? 4 : 3; break;
    case PNG_COLOR_TYPE_PALETTE: result.channels = result.has_transparency ? 4 : 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: result.channels = 4; break;
    default: return shim_fail(decoder, CPNG_ERROR_LIBRARY, "invalid PNG colour type");
    }
    decoder->header = result;
    *header = result;
    decoder->header_read = 1;
    return CPNG_OK;
}

/// Once the transformations are set: checks the layout libpng will write (channels, bytes per row), then
/// reads every row into `pixels` and the chunks through IEND. Runs under the caller's setjmp, which a
/// libpng error returns to.
static int shim_read_rows(cpng_decoder *decoder, void *pixels, int channels, size_t row_bytes) {
    png_structp png = decoder->png;
    png_infop info = decoder->info;
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if ((int)png_get_channels(png, info) != channels || png_get_rowbytes(png, info) != row_bytes)
        return shim_fail(decoder, CPNG_ERROR_LIBRARY, "unexpected pixel layout after PNG transformations");

    int height = decoder->header.height;
    decoder->rows = malloc((size_t)height * sizeof(png_bytep));
    if (decoder->rows == NULL) return shim_fail(decoder, CPNG_ERROR_MEMORY, "out of memory");
    for (int y = 0; y < height; y++) decoder->rows[y] = (png_bytep)pixels + (size_t)y * row_bytes;
    png_read_image(png, decoder->rows);
    png_read_end(png, NULL);
    return CPNG_OK;
}

int cpng_decoder_decode(cpng_decoder *decoder, void *pixels, size_t capacity, int sixteen_bit) {
    if (decoder == NULL || !decoder->header_read || decoder->rows != NULL) return CPNG_ERROR_STATE;
    const cpng_header *header = &decoder->header;
    size_t row_bytes = (size_t)header->width * (size_t)header->channels * (sixteen_bit ? 2 : 1);
    if (capacity < row_bytes * (size_t)header->height)
        return shim_fail(decoder, CPNG_ERROR_STATE, "output buffer too small");
    png_structp png = decoder->png;
    if (setjmp(png_jmpbuf(png))) return CPNG_ERROR_LIBRARY;

    if (header->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (header->color_type == PNG_COLOR_TYPE_GRAY && header->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (header->has_transparency) png_set_tRNS_to_alpha(png);
    if (sixteen_bit) {
        if (header->bit_depth < 16) png_set_expand_16(png);
        if (shim_host_is_little_endian()) png_set_swap(png);
    } else if (header->bit_depth == 16) {
        png_set_scale_16(png);
    }
    return shim_read_rows(decoder, pixels, header->channels, row_bytes);
}

int cpng_decoder_decode_values(cpng_decoder *decoder, void *pixels, size_t capacity) {
    if (decoder == NULL || !decoder->header_read || decoder->rows != NULL) return CPNG_ERROR_STATE;
    const cpng_header *header = &decoder->header;
    int type = header->color_type;
    if (type != PNG_COLOR_TYPE_PALETTE && type != PNG_COLOR_TYPE_GRAY && type != PNG_COLOR_TYPE_GRAY_ALPHA)
        return shim_fail(decoder, CPNG_ERROR_STATE, "not a palette or gray PNG");
    int wide = header->bit_depth == 16;
    size_t row_bytes = (size_t)header->width * (wide ? 2 : 1);
    if (capacity < row_bytes * (size_t)header->height)
        return shim_fail(decoder, CPNG_ERROR_STATE, "output buffer too small");
    png_structp png = decoder->png;
    if (setjmp(png_jmpbuf(png))) return CPNG_ERROR_LIBRARY;

    if (header->bit_depth < 8) png_set_packing(png);  // one value per byte, not rescaled
    if (type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_strip_alpha(png);
    if (wide && shim_host_is_little_endian()) png_set_swap(png);
    return shim_read_rows(decoder, pixels, 1, row_bytes);
}

const char *cpng_decoder_message(const cpng_decoder *decoder) {
    return decoder == NULL ? "out of memory" : decoder->messages.message;
}

int cpng_decoder_warning_count(const cpng_decoder *decoder) {
    return decoder == NULL ? 0 : decoder->messages.warnings;
}

void cpng_decoder_destroy(cpng_decoder *decoder) {
    if (decoder == NULL) return;
    free(decoder->rows);
    png_destroy_read_struct(&decoder->png, &decoder->info, NULL);
    free(decoder);
}

// MARK: - Encoder

typedef struct shim_encoder {
    shim_messages messages;  // first member: the error pointer handed to libpng
    unsigned char *buffer;
    size_t size;
    size_t capacity;
} shim_encoder;

static void shim_write(png_structp png, png_bytep data, size_t length) {
    shim_encoder *encoder = (shim_encoder *)png_get_io_ptr(png);
    if (length > encoder->capacity - encoder->size) {
        size_t needed = encoder->size + length;
        if (needed < encoder->size) png_error(png, "PNG output too large");
        size_t grown = encoder->capacity < 4096 ? 4096 : encoder->capacity;
        while (grown < needed) grown *= 2;
        unsigned char *buffer = realloc(encoder->buffer, grown);
        if (buffer == NULL) png_error(png, "out of memory");
        encoder->buffer = buffer;
        encoder->capacity = grown;
    }
    memcpy(encoder->buffer + encoder->size, data, length);
    encoder->size += length;
}

static void shim_flush(png_structp png) { (void)png; }

int cpng_encode(const void *pixels, int width, int height, int channels, int bit_depth,
                int compression_level, unsigned char **output, size_t *output_size,
                char *message, size_t message_capacity) {
    *output = NULL;
    *output_size = 0;
    if (message_capacity > 0) message[0] = '\0';
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16)) {
        if (message_capacity > 0) snprintf(message, message_capacity, "invalid PNG size or layout");
        return CPNG_ERROR_STATE;
    }
    // Everything that changes after setjmp lives on the heap.
    shim_encoder *encoder = calloc(1, sizeof *encoder);
    if (encoder == NULL) {
        if (message_capacity > 0) snprintf(message, message_capacity, "out of memory");
        return CPNG_ERROR_MEMORY;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &encoder->messages, shim_error, shim_warning);
    png_infop info = png == NULL ? NULL : png_create_info_struct(png);
    if (png == NULL || info == NULL) {
        if (png != NULL) png_destroy_write_struct(&png, NULL);
        free(encoder);
        if (message_capacity > 0) snprintf(message, message_capacity, "out of memory");
        return CPNG_ERROR_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (message_capacity > 0) snprintf(message, message_capacity, "%s", encoder->messages.message);
        png_destroy_write_struct(&png, &info);
        free(encoder->buffer);
        free(encoder);
        return CPNG_ERROR_LIBRARY;
    }
    static const int color_types[4] = {
        PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA,
    };
    png_set_write_fn(png, encoder, shim_write, shim_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_types[channels - 1],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (compression_level >= 0 && compression_level <= 9) png_set_compression_level(png, compression_level);
    png_write_info(png, info);
    if (bit_depth == 16 && shim_host_is_little_endian()) png_set_swap(png);
    size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)pixels + (size_t)y * row_bytes);
    png_write_end(png, NULL);

    *output = encoder->buffer;
    *output_size = encoder->size;
    png_destroy_write_struct(&png, &info);
    free(encoder);
    return CPNG_OK;
}

void cpng_free(void *pointer) { free(pointer); }
