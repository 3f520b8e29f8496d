/*
 * imgpipe's resampler: Pillow's Resample.c (its two-pass convolution in 8-bit fixed point),
 * compiled unmodified into this translation unit, plus WebAssembly SIMD versions of its two RGBA
 * loops that compute the same integer sums in the same order of taps, so their output is
 * bit-identical to Pillow's own loops (rs_resize's `simd` flag selects either; the tests compare).
 */
#include "Imaging.h" /* the shim beside this file */
#include "Resample.c"

#include <emscripten.h>
#include <stdint.h>
#include <wasm_simd128.h>

void *ImagingError_MemoryError(void) { return NULL; }
void *ImagingError_ModeError(void) { return NULL; }
void *ImagingError_ValueError(const char *message) { (void)message; return NULL; }

/* An RGBA image of xsize x ysize over `data`, or over pixels of its own when data is NULL. */
static Imaging wrap(UINT8 *data, int xsize, int ysize) {
  if (xsize < 1 || ysize < 1 || (uint64_t)xsize * (uint64_t)ysize * 4 >= SIZE_MAX) return NULL;
  Imaging im = calloc(1, sizeof(*im));
  if (!im) return NULL;
  int own = data == NULL;
  if (own) data = malloc((size_t)xsize * ysize * 4 + 1);
  im->image = malloc(sizeof(char *) * ysize);
  if (!data || !im->image) {
    if (own) free(data);
    free(im->image);
    free(im);
    return NULL;
  }
  strcpy(im->mode, "RGBA");
  im->type = IMAGING_TYPE_UINT8;
  im->depth = 8;
  im->bands = 4;
  im->xsize = xsize;
  im->ysize = ysize;
  for (int y = 0; y < ysize; y++) im->image[y] = (char *)data + (size_t)y * xsize * 4;
  im->image32 = (INT32 **)im->image;
  im->block = own ? (char *)data : NULL;
  return im;
}

Imaging ImagingNewDirty(const char *mode, int xsize, int ysize) {
  (void)mode;
  return wrap(NULL, xsize, ysize);
}

void ImagingDelete(Imaging im) {
  if (!im) return;
  free(im->block);
  free(im->image);
  free(im);
}

Imaging ImagingCopy(Imaging im) {
  Imaging out = wrap(NULL, im->xsize, im->ysize);
  if (out)
    for (int y = 0; y < im->ysize; y++) memcpy(out->image[y], im->image[y], (size_t)im->xsize * 4);
  return out;
}

/* (sum >> PRECISION_BITS) clamped to 0..255, as clip8() does, for four sums of four channels. */
static inline v128_t pack4(v128_t a, v128_t b, v128_t c, v128_t d) {
  const v128_t ab = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(a, PRECISION_BITS), wasm_i32x4_shr(b, PRECISION_BITS));
  const v128_t cd = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(c, PRECISION_BITS), wasm_i32x4_shr(d, PRECISION_BITS));
  return wasm_u8x16_narrow_i16x8(ab, cd);
}

/* ImagingResampleHorizontal_8bpc's four-band loop: one output pixel's four channels per vector. */
static void horizontal_rgba_simd(Imaging imOut, Imaging imIn, int offset, int ksize, int *bounds, double *prekk) {
  INT32 *kk = (INT32 *)prekk;
  normalize_coeffs_8bpc(imOut->xsize, ksize, prekk);
  const v128_t half = wasm_i32x4_splat(1 << (PRECISION_BITS - 1));
  for (int yy = 0; yy < imOut->ysize; yy++) {
    const UINT8 *row = (const UINT8 *)imIn->image[yy + offset];
    UINT8 *out = (UINT8 *)imOut->image[yy];
    for (int xx = 0; xx < imOut->xsize; xx++) {
      const int xmin = bounds[xx * 2 + 0], xmax = bounds[xx * 2 + 1];
      const INT32 *k = &kk[xx * ksize];
      const UINT8 *in = row + xmin * 4;
      v128_t ss = half;
      int x = 0;
      for (; x + 4 <= xmax; x += 4) {
        const v128_t px = wasm_v128_load(in + x * 4);
        const v128_t lo = wasm_u16x8_extend_low_u8x16(px), hi = wasm_u16x8_extend_high_u8x16(px);
        ss = wasm_i32x4_add(ss, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(lo), wasm_i32x4_splat(k[x])));
        ss = wasm_i32x4_add(ss, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(lo), wasm_i32x4_splat(k[x + 1])));
        ss = wasm_i32x4_add(ss, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(hi), wasm_i32x4_splat(k[x + 2])));
        ss = wasm_i32x4_add(ss, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(hi), wasm_i32x4_splat(k[x + 3])));
      }
      for (; x < xmax; x++) {
        const v128_t px = wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_v128_load32_zero(in + x * 4)));
        ss = wasm_i32x4_add(ss, wasm_i32x4_mul(px, wasm_i32x4_splat(k[x])));
      }
      wasm_v128_store32_lane(out + xx * 4, pack4(ss, ss, ss, ss), 0);
    }
  }
}

/* ImagingResampleVertical_8bpc's four-band loop: four output pixels (16 channels) per step. */
static void vertical_rgba_simd(Imaging imOut, Imaging imIn, int offset, int ksize, int *bounds, double *prekk) {
  (void)offset;
  INT32 *kk = (INT32 *)prekk;
  normalize_coeffs_8bpc(imOut->ysize, ksize, prekk);
  const v128_t half = wasm_i32x4_splat(1 << (PRECISION_BITS - 1));
  const int width = imOut->xsize * 4;
  for (int yy = 0; yy < imOut->ysize; yy++) {
    const INT32 *k = &kk[yy * ksize];
    const int ymin = bounds[yy * 2 + 0], ymax = bounds[yy * 2 + 1];
    UINT8 *out = (UINT8 *)imOut->image[yy];
    int i = 0;
    for (; i + 16 <= width; i += 16) {
      v128_t s0 = half, s1 = half, s2 = half, s3 = half;
      for (int y = 0; y < ymax; y++) {
        const v128_t px = wasm_v128_load((const UINT8 *)imIn->image[y + ymin] + i);
        const v128_t w = wasm_i32x4_splat(k[y]);
        const v128_t lo = wasm_u16x8_extend_low_u8x16(px), hi = wasm_u16x8_extend_high_u8x16(px);
        s0 = wasm_i32x4_add(s0, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(lo), w));
        s1 = wasm_i32x4_add(s1, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(lo), w));
        s2 = wasm_i32x4_add(s2, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(hi), w));
        s3 = wasm_i32x4_add(s3, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(hi), w));
      }
      wasm_v128_store(out + i, pack4(s0, s1, s2, s3));
    }
    for (; i < width; i += 4) {
      v128_t ss = half;
      for (int y = 0; y < ymax; y++) {
        const v128_t px = wasm_u32x4_extend_low_u16x8(
            wasm_u16x8_extend_low_u8x16(wasm_v128_load32_zero((const UINT8 *)imIn->image[y + ymin] + i)));
        ss = wasm_i32x4_add(ss, wasm_i32x4_mul(px, wasm_i32x4_splat(k[y])));
      }
      wasm_v128_store32_lane(out + i, pack4(ss, ss, ss, ss), 0);
    }
  }
}

/* Mitchell-Netravali (B = C = 1/3), which Pillow does not have; the other filters are its own. */
static double mitchell_filter(double x) {
  const double B = 1.0 / 3.0, C = 1.0 / 3.0;
  if (x < 0.0) x = -x;
  if (x < 1.0)
    return ((12.0 - 9.0 * B - 6.0 * C) * x * x * x + (-18.0 + 12.0 * B + 6.0 * C) * x * x + (6.0 - 2.0 * B)) / 6.0;
  if (x < 2.0)
    return ((-B - 6.0 * C) * x * x * x + (6.0 * B + 30.0 * C) * x * x + (-12.0 * B - 48.0 * C) * x + (8.0 * B + 24.0 * C)) / 6.0;
  return 0.0;
}
static struct filter MITCHELL = {mitchell_filter, 2.0};

/* The filters by imgpipe's method index: triangle, catrom, mitchell, lanczos3. */
static struct filter *const FILTERS[] = {&BILINEAR, &BICUBIC, &MITCHELL, &LANCZOS};

EMSCRIPTEN_KEEPALIVE void *rs_malloc(size_t size) { return malloc(size); }
EMSCRIPTEN_KEEPALIVE void rs_free(void *pointer) { free(pointer); }

/*
 * Resamples inW x inH RGBA pixels at `in` to outW x outH with filter `method` (FILTERS), with the
 * SIMD loops or Pillow's own. Returns the output (malloc'd, outW * outH * 4 bytes; free with
 * rs_free) or NULL if memory ran out or an argument is out of range.
 */
EMSCRIPTEN_KEEPALIVE UINT8 *rs_resize(UINT8 *in, int inW, int inH, int outW, int outH, int method, int simd) {
  if (inW < 1 || inH < 1 || outW < 1 || outH < 1 || method < 0 || method > 3) return NULL;
  Imaging src = wrap(in, inW, inH);
  if (!src) return NULL;
  float box[4] = {0, 0, (float)inW, (float)inH};
  Imaging out = ImagingResampleInner(src, outW, outH, FILTERS[method], box,
                                     simd ? horizontal_rgba_simd : ImagingResampleHorizontal_8bpc,
                                     simd ? vertical_rgba_simd : ImagingResampleVertical_8bpc);
  ImagingDelete(src);
  if (!out) return NULL;
  UINT8 *pixels = (UINT8 *)out->block;
  out->block = NULL; /* every image ImagingResampleInner returns owns its pixels */
  ImagingDelete(out);
  return pixels;
}
