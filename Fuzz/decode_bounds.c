/*
 * Checks that rada_probe_image's decode-memory bound covers what a decode really takes
 * (`make decode-bounds`). `decode_bounds write KIND W H FILE` writes a large image of one of
 * the kinds below with libpng / libjpeg; `decode_bounds check FILE` probes and decodes it in a
 * fresh process and compares the growth of the peak RSS (getrusage) with the bound, exiting 1
 * when the decode took more. The server reserves that bound from its decode budget before
 * decoding, so an under-estimate here would be a hole in the budget.
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jpeglib.h>

#include "image_codecs.h"

static int write_jpeg(const char *path, int w, int h, int components, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)components);
    for (int y = 0; y < h; y++) {
        for (size_t x = 0; x < (size_t)w * (size_t)components; x++) row[x] = (unsigned char)((x * 7 + (size_t)y * 3) ^ (x >> 3));
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
    return 0;
}

static int write_png(const char *path, int w, int h, int colour_type, int depth, int interlaced) {
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) return 1;
    png_set_user_limits(p, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, colour_type,
                 interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, 0, 0);
    if (colour_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[256];
        png_byte alpha[256];
        for (int k = 0; k < 256; k++) {
            palette[k].red = (png_byte)k, palette[k].green = (png_byte)(255 - k), palette[k].blue = (png_byte)(k / 2);
            alpha[k] = (png_byte)k;
        }
        png_set_PLTE(p, info, palette, 256);
        png_set_tRNS(p, info, alpha, 256, NULL);
    }
    png_write_info(p, info);
    int channels = png_get_channels(p, info);
    size_t row_bytes = ((size_t)w * (size_t)channels * (size_t)depth + 7) / 8;
    png_bytep row = calloc(row_bytes, 1);
    int passes = png_set_interlace_handling(p);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) {
            for (size_t x = 0; x < row_bytes; x++) row[x] = (png_byte)(x * 13 + (size_t)y);
            png_write_row(p, row);
        }
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    free(row);
    fclose(f);
    return 0;
}

static int check(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *file = malloc((size_t)len);
    if (fread(file, 1, (size_t)len, f) != (size_t)len) return 2;
    fclose(f);
    rada_image_info info;
    rada_image image;
    char err[256];
    if (rada_probe_image(file, (size_t)len, 1ull << 40, &info, err, sizeof err) != RADA_IMAGE_OK) {
        printf("%s: probe failed: %s\n", path, err);
        return 2;
    }
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    int status = rada_decode_image(file, (size_t)len, 1ull << 40, &image, err, sizeof err);
    getrusage(RUSAGE_SELF, &after);
    double bound = (double)info.decode_bytes / 1048576.0, peak = (double)(after.ru_maxrss - before.ru_maxrss) / 1024.0;
    int ok = status == RADA_IMAGE_OK && peak <= bound;
    printf("%-28s %6ux%-6u bound %7.1f MiB  decode peak growth %7.1f MiB  %s\n", path, info.width,
           info.height, bound, peak, ok ? "ok" : "OVER THE BOUND");
    rada_image_free(&image);
    free(file);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "check") == 0) return check(argv[2]);
    if (argc == 6 && strcmp(argv[1], "write") == 0) {
        int w = atoi(argv[3]), h = atoi(argv[4]);
        const char *kind = argv[2], *path = argv[5];
        if (strcmp(kind, "jpeg-rgb") == 0) return write_jpeg(path, w, h, 3, 0);
        if (strcmp(kind, "jpeg-rgb-progressive") == 0) return write_jpeg(path, w, h, 3, 1);
        if (strcmp(kind, "jpeg-gray-progressive") == 0) return write_jpeg(path, w, h, 1, 1);
        if (strcmp(kind, "png-gray8") == 0) return write_png(path, w, h, PNG_COLOR_TYPE_GRAY, 8, 0);
        if (strcmp(kind, "png-gray1-interlaced") == 0) return write_png(path, w, h, PNG_COLOR_TYPE_GRAY, 1, 1);
        if (strcmp(kind, "png-gray16-interlaced") == 0) return write_png(path, w, h, PNG_COLOR_TYPE_GRAY, 16, 1);
        if (strcmp(kind, "png-rgb8") == 0) return write_png(path, w, h, PNG_COLOR_TYPE_RGB, 8, 0);
        if (strcmp(kind, "png-rgba16-interlaced") == 0) return write_png(path, w, h, PNG_COLOR_TYPE_RGB_ALPHA, 16, 1);
        if (strcmp(kind, "png-palette-trns-interlaced") == 0) return write_png(path, w, h, PNG_COLOR_TYPE_PALETTE, 8, 1);
    }
    fprintf(stderr, "usage: decode_bounds write KIND W H FILE | decode_bounds check FILE\n");
    return 2;
}
