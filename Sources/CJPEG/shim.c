// libjpeg(-turbo) behind setjmp: every libjpeg call happens inside a function of this file that
// has taken a setjmp, and the error manager longjmps only back to it.

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "cjpeg_shim.h"

#define SHIM_MESSAGE_CAPACITY 256

// MARK: - Error manager

typedef struct shim_error_manager {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[SHIM_MESSAGE_CAPACITY];
    int warnings;
} shim_error_manager;

static void shim_error_exit(j_common_ptr cinfo) {
    shim_error_manager *error = (shim_error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->message, sizeof error->message, "%s", text);
    longjmp(error->jump, 1);
}

/// Warnings (level -1) are kept silent; a premature end of data becomes an error because
/// libjpeg would otherwise pad the image with grey and report success.
static void shim_emit_message(j_common_ptr cinfo, int level) {
    shim_error_manager *error = (shim_error_manager *)cinfo->err;
    if (level >= 0) return;  // trace messages
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        snprintf(error->message, sizeof error->message, "premature end of JPEG data (file truncated)");
        longjmp(error->jump, 1);
    }
    cinfo->err->num_warnings++;
    error->warnings++;
}

static void shim_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void shim_install_error_manager(shim_error_manager *error) {
    jpeg_std_error(&error->pub);
    error->pub.error_exit = shim_error_exit;
    error->pub.emit_message = shim_emit_message;
    error->pub.output_message = shim_output_message;
    error->message[0] = '\0';
    error->warnings = 0;
}

// MARK: - Decoder

typedef struct shim_progress {
    struct jpeg_progress_mgr pub;
    int max_scans;
} shim_progress;

struct cjpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    shim_error_manager error;
    shim_progress progress;
    int created;
    int header_read;
    int convert_cmyk;
    int inverted_cmyk;
    int channels;
};

/// Bounds the number of progressive scans: a crafted file with thousands of tiny scans would
/// otherwise make decoding arbitrarily slow.
static void shim_progress_monitor(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    struct cjpeg_decoder *decoder = (struct cjpeg_decoder *)cinfo;  // cinfo is the first member
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (decoder->progress.max_scans > 0 && dinfo->input_scan_number > decoder->progress.max_scans) {
        snprintf(decoder->error.message, sizeof decoder->error.message,
                 "more than %d progressive scans", decoder->progress.max_scans);
        longjmp(decoder->error.jump, 1);
    }
}

cjpeg_decoder *cjpeg_decoder_create(void) {
    cjpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) return NULL;
    shim_install_error_manager(&decoder->error);
    decoder->cinfo.err = &decoder->error.pub;
    if (setjmp(decoder->error.jump)) {
        cjpeg_decoder_destroy(decoder);
        return NULL;
    }
    jpeg_create_decompress(&decoder->cinfo);
    decoder->created = 1;
    return decoder;
}

static int shim_fail(cjpeg_decoder *decoder, int code, const char *message) {
    snprintf(decoder->error.message, sizeof decoder->error.message, "%s", message);
    return code;
}

int cjpeg_decoder_read_header(cjpeg_decoder *decoder, const unsigned char *data, size_t size,
                              int save_exif, int max_scans, long max_memory, cjpeg_header *header) {
    if (decoder == NULL || !decoder->created || decoder->header_read) return CJPEG_ERROR_STATE;
    if (data == NULL || size == 0) return shim_fail(decoder, CJPEG_ERROR_LIBRARY, "empty JPEG data");
    if (setjmp(decoder->error.jump)) {
        switch (decoder->error.pub.msg_code) {
        case JERR_IMAGE_TOO_BIG: return CJPEG_ERROR_TOO_LARGE;
        case JERR_BAD_PRECISION:     // 12-bit data in an 8-bit build
        case JERR_SOF_UNSUPPORTED:   // lossless or hierarchical JPEG
            return CJPEG_ERROR_UNSUPPORTED;
        default: return CJPEG_ERROR_LIBRARY;
        }
    }

    struct jpeg_decompress_struct *cinfo = &decoder->cinfo;
    if (max_memory > 0) cinfo->mem->max_memory_to_use = max_memory;
    decoder->progress.pub.progress_monitor = shim_progress_monitor;
    decoder->progress.max_scans = max_scans;
    cinfo->progress = &decoder->progress.pub;

    jpeg_mem_src(cinfo, data, (unsigned long)size);
    if (save_exif) jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);

    memset(header, 0, sizeof *header);
    header->width = (int)cinfo->image_width;
    header->height = (int)cinfo->image_height;
    header->components = cinfo->num_components;
    header->progressive = cinfo->progressive_mode ? 1 : 0;
    header->adobe_marker = cinfo->saw_Adobe_marker ? 1 : 0;

    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        header->color_space = CJPEG_SPACE_GRAY;
        cinfo->out_color_space = JCS_GRAYSCALE;
        decoder->channels = 1;
        break;
    case JCS_RGB:
    case JCS_YCbCr:
        header->color_space = cinfo->jpeg_color_space == JCS_RGB ? CJPEG_SPACE_RGB : CJPEG_SPACE_YCBCR;
        cinfo->out_color_space = JCS_RGB;
        decoder->channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        header->color_space = cinfo->jpeg_color_space == JCS_CMYK ? CJPEG_SPACE_CMYK : CJPEG_SPACE_YCCK;
        cinfo->out_color_space = JCS_CMYK;
        decoder->convert_cmyk = 1;
        decoder->inverted_cmyk = cinfo->saw_Adobe_marker ? 1 : 0;
        decoder->channels = 3;
        break;
    default:
        header->color_space = CJPEG_SPACE_UNKNOWN;
        snprintf(decoder->error.message, sizeof decoder->error.message,
                 "unsupported JPEG colour space with %d components", cinfo->num_components);
        return CJPEG_ERROR_UNSUPPORTED;
    }
    header->channels = decoder->channels;
    decoder->header_read = 1;
    return CJPEG_OK;
}

const unsigned char *cjpeg_decoder_exif(const cjpeg_decoder *decoder, size_t *length) {
    *length = 0;
    if (decoder == NULL || !decoder->header_read) return NULL;
    for (jpeg_saved_marker_ptr marker = decoder->cinfo.marker_list; marker != NULL; marker = marker->next) {
        if (marker->marker == JPEG_APP0 + 1 && marker->data_length >= 6 &&
            memcmp(marker->data, "Exif\0\0", 6) == 0) {
            *length = marker->data_length;
            return marker->data;
        }
    }
    return NULL;
}

/// Adobe CMYK is stored inverted (255 = no ink), so R = C·K/255; plain CMYK gives (255−C)(255−K)/255.
static void shim_cmyk_row_to_rgb(const JSAMPLE *cmyk, unsigned char *rgb, JDIMENSION width, int inverted) {
    for (JDIMENSION x = 0; x < width; x++) {
        unsigned int c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        rgb[3 * x] = (unsigned char)((c * k + 127) / 255);
        rgb[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
        rgb[3 * x + 2] = (unsigned char)((y * k + 127) / 255);
    }
}

int cjpeg_decoder_decode(cjpeg_decoder *decoder, unsigned char *pixels, size_t capacity) {
    if (decoder == NULL || !decoder->header_read) return CJPEG_ERROR_STATE;
    struct jpeg_decompress_struct *cinfo = &decoder->cinfo;
    size_t row_bytes = (size_t)cinfo->image_width * (size_t)decoder->channels;
    if (capacity < row_bytes * (size_t)cinfo->image_height)
        return shim_fail(decoder, CJPEG_ERROR_STATE, "output buffer too small");
    if (setjmp(decoder->error.jump)) return CJPEG_ERROR_LIBRARY;

    jpeg_start_decompress(cinfo);
    if (cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height)
        return shim_fail(decoder, CJPEG_ERROR_LIBRARY, "decoder output size differs from the header");

    if (decoder->convert_cmyk) {
        JSAMPARRAY row = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
                                                      cinfo->output_width * 4, 1);
        while (cinfo->output_scanline < cinfo->output_height) {
            unsigned char *target = pixels + (size_t)cinfo->output_scanline * row_bytes;
            if (jpeg_read_scanlines(cinfo, row, 1) != 1)
                return shim_fail(decoder, CJPEG_ERROR_LIBRARY, "decoder made no progress");
            shim_cmyk_row_to_rgb(row[0], target, cinfo->output_width, decoder->inverted_cmyk);
        }
    } else {
        if (cinfo->output_components != decoder->channels)
            return shim_fail(decoder, CJPEG_ERROR_LIBRARY, "unexpected number of output components");
        JSAMPROW rows[16];
        while (cinfo->output_scanline < cinfo->output_height) {
            JDIMENSION start = cinfo->output_scanline;
            JDIMENSION count = cinfo->output_height - start;
            if (count > 16) count = 16;
            for (JDIMENSION i = 0; i < count; i++) rows[i] = pixels + (size_t)(start + i) * row_bytes;
            if (jpeg_read_scanlines(cinfo, rows, count) == 0)
                return shim_fail(decoder, CJPEG_ERROR_LIBRARY, "decoder made no progress");
        }
    }
    jpeg_finish_decompress(cinfo);
    decoder->header_read = 0;
    return CJPEG_OK;
}

const char *cjpeg_decoder_message(const cjpeg_decoder *decoder) {
    return decoder == NULL ? "out of memory" : decoder->error.message;
}

int cjpeg_decoder_warning_count(const cjpeg_decoder *decoder) {
    return decoder == NULL ? 0 : decoder->error.warnings;
}

void cjpeg_decoder_destroy(cjpeg_decoder *decoder) {
    if (decoder == NULL) return;
    if (decoder->created) jpeg_destroy_decompress(&decoder->cinfo);
    free(decoder);
}

// MARK: - Encoder

typedef struct shim_destination {
    struct jpeg_destination_mgr pub;
    unsigned char *buffer;
    size_t capacity;
} shim_destination;

typedef struct shim_encoder {
    struct jpeg_compress_struct cinfo;
    shim_error_manager error;
    shim_destination destination;
    int created;
} shim_encoder;

static void shim_init_destination(j_compress_ptr cinfo) {
    shim_destination *destination = (shim_destination *)cinfo->dest;
    size_t estimate = (size_t)cinfo->image_width * cinfo->image_height * (size_t)cinfo->input_components / 4;
    destination->capacity = estimate < 4096 ? 4096 : estimate;
    destination->buffer = malloc(destination->capacity);
    if (destination->buffer == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    destination->pub.next_output_byte = destination->buffer;
    destination->pub.free_in_buffer = destination->capacity;
}

static boolean shim_empty_output_buffer(j_compress_ptr cinfo) {
    shim_destination *destination = (shim_destination *)cinfo->dest;
    size_t grown = destination->capacity * 2;
    unsigned char *buffer = realloc(destination->buffer, grown);
    if (buffer == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 2);
    // libjpeg calls this when the buffer is full: the whole old capacity holds data.
    destination->pub.next_output_byte = buffer + destination->capacity;
    destination->pub.free_in_buffer = grown - destination->capacity;
    destination->buffer = buffer;
    destination->capacity = grown;
    return TRUE;
}

static void shim_term_destination(j_compress_ptr cinfo) { (void)cinfo; }

int cjpeg_encode(const unsigned char *pixels, int width, int height, int input, int quality,
                 int progressive, int subsample_chroma, unsigned char **output, size_t *output_size,
                 char *message, size_t message_capacity) {
    *output = NULL;
    *output_size = 0;
    if (message_capacity > 0) message[0] = '\0';
    if (width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION ||
        (input != CJPEG_INPUT_GRAY && input != CJPEG_INPUT_RGB && input != CJPEG_INPUT_CMYK)) {
        if (message_capacity > 0) snprintf(message, message_capacity, "invalid JPEG size or layout");
        return CJPEG_ERROR_UNSUPPORTED;
    }
    // Everything libjpeg touches lives on the heap, so nothing local changes between setjmp and longjmp.
    shim_encoder *encoder = calloc(1, sizeof *encoder);
    if (encoder == NULL) {
        if (message_capacity > 0) snprintf(message, message_capacity, "out of memory");
        return CJPEG_ERROR_MEMORY;
    }
    shim_install_error_manager(&encoder->error);
    struct jpeg_compress_struct *cinfo = &encoder->cinfo;
    cinfo->err = &encoder->error.pub;
    if (setjmp(encoder->error.jump)) {
        if (message_capacity > 0) snprintf(message, message_capacity, "%s", encoder->error.message);
        if (encoder->created) jpeg_destroy_compress(cinfo);
        free(encoder->destination.buffer);
        free(encoder);
        return CJPEG_ERROR_LIBRARY;
    }
    jpeg_create_compress(cinfo);
    encoder->created = 1;

    encoder->destination.pub.init_destination = shim_init_destination;
    encoder->destination.pub.empty_output_buffer = shim_empty_output_buffer;
    encoder->destination.pub.term_destination = shim_term_destination;
    cinfo->dest = &encoder->destination.pub;

    cinfo->image_width = (JDIMENSION)width;
    cinfo->image_height = (JDIMENSION)height;
    cinfo->input_components = input;
    cinfo->in_color_space = input == CJPEG_INPUT_GRAY ? JCS_GRAYSCALE : input == CJPEG_INPUT_RGB ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(cinfo);  // CMYK input is written as YCCK with an Adobe marker
    jpeg_set_quality(cinfo, quality, TRUE);
    if (!subsample_chroma && input != CJPEG_INPUT_GRAY) {
        for (int c = 0; c < cinfo->num_components; c++) {
            cinfo->comp_info[c].h_samp_factor = 1;
            cinfo->comp_info[c].v_samp_factor = 1;
        }
    }
    if (progressive) jpeg_simple_progression(cinfo);

    jpeg_start_compress(cinfo, TRUE);
    size_t row_bytes = (size_t)width * (size_t)input;
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo->next_scanline * row_bytes);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);

    *output = encoder->destination.buffer;
    *output_size = encoder->destination.capacity - encoder->destination.pub.free_in_buffer;
    jpeg_destroy_compress(cinfo);
    free(encoder);
    return CJPEG_OK;
}

void cjpeg_free(void *pointer) { free(pointer); }
