/*
 * WebAssembly SIMD for libjpeg-turbo's decompressor: the accurate integer IDCT (jidctint.c), the
 * 4x4 reduced IDCT (jidctred.c) and YCbCr -> RGB conversion (jdcolext.c), the three routines a
 * decode at 1/2 scale spends most of its time in after the Huffman decoder.
 *
 * Bit-exact with the C routines for every input, not only for valid images: the arithmetic is the
 * C code's, in 32-bit lanes that wrap as the C code's int does in WebAssembly; the C shortcuts for
 * all-zero columns and rows (which differ from the full computation only when it overflows) are
 * taken per lane with a select; and the IDCT range limit, a 1024-entry table indexed with
 * `x & RANGE_MASK`, is the same map computed: sign-extend the low 10 bits, add 128, saturate to
 * 0..255 (the table clamps on [-512, 511] and repeats every 1024). test/unit/codecs/jpeg-turbo
 * compares the outputs with the scalar build's.
 *
 * The build (build.sh) puts this file in place of jsimd_none.c, which it includes under other
 * names for every routine not defined here.
 */

#define jsimd_can_idct_islow jsimd_none_can_idct_islow
#define jsimd_idct_islow jsimd_none_idct_islow
#define jsimd_can_idct_4x4 jsimd_none_can_idct_4x4
#define jsimd_idct_4x4 jsimd_none_idct_4x4
#define jsimd_can_ycc_rgb jsimd_none_can_ycc_rgb
#define jsimd_ycc_rgb_convert jsimd_none_ycc_rgb_convert
#include "jsimd_none_orig.c"
#undef jsimd_can_idct_islow
#undef jsimd_idct_islow
#undef jsimd_can_idct_4x4
#undef jsimd_idct_4x4
#undef jsimd_can_ycc_rgb
#undef jsimd_ycc_rgb_convert

#include <string.h>
#include <wasm_simd128.h>

/*
 * Which routines are used, for the tests: bit 1 the 8x8 IDCT, 2 the 4x4 one, 4 the colour
 * conversion; all by default. libjpeg reads it when a decode starts.
 */
static int simd_routines = 7;

__attribute__((export_name("imgpipe_set_simd"))) void imgpipe_set_simd(int routines)
{
  simd_routines = routines;
}

typedef int32_t v4i __attribute__((vector_size(16)));

#define CONST_BITS 13
#define PASS1_BITS 2
#define DESCALE_V(x, n) (((x) + (1 << ((n) - 1))) >> (n))

/*
 * Dequantized coefficients of row k, columns 4h..4h+3. Without libjpeg-turbo's own SIMD,
 * ISLOW_MULT_TYPE is an int (jmorecfg.h), so a quantizer above 32767 stays positive.
 */
_Static_assert(sizeof(ISLOW_MULT_TYPE) == 4, "ISLOW_MULT_TYPE is expected to be an int");

static inline v4i dequant(const JCOEF *coef, const ISLOW_MULT_TYPE *quant, int k, int h)
{
  v128_t c = wasm_v128_load(coef + DCTSIZE * k);
  v4i q = (v4i)wasm_v128_load(quant + DCTSIZE * k + 4 * h);
  return (v4i)(h ? wasm_i32x4_extend_high_i16x8(c) : wasm_i32x4_extend_low_i16x8(c)) * q;
}

/* Lanes (as 32-bit masks) of columns 4h..4h+3 whose raw coefficients in `rows` are all zero. */
static inline v128_t zero_columns(const JCOEF *coef, const int *rows, int n, int h)
{
  v128_t any = wasm_i64x2_splat(0);
  for (int i = 0; i < n; i++) any = wasm_v128_or(any, wasm_v128_load(coef + DCTSIZE * rows[i]));
  v128_t zero = wasm_i16x8_eq(any, wasm_i64x2_splat(0));
  return h ? wasm_i32x4_extend_high_i16x8(zero) : wasm_i32x4_extend_low_i16x8(zero);
}

static inline v4i select_v(v4i if_set, v4i if_clear, v128_t mask)
{
  return (v4i)wasm_v128_bitselect((v128_t)if_set, (v128_t)if_clear, mask);
}

static inline v128_t all_zero(v4i a)
{
  return wasm_i32x4_eq((v128_t)a, wasm_i64x2_splat(0));
}

/* range_limit[x & RANGE_MASK] of the IDCT, as 32-bit lanes in 0..255. */
static inline v4i range_limit_v(v4i x)
{
  return ((x << 22) >> 22) + CENTERJSAMPLE;
}

static inline void transpose4(v4i *a, v4i *b, v4i *c, v4i *d)
{
  v128_t t0 = wasm_i32x4_shuffle((v128_t)*a, (v128_t)*b, 0, 4, 1, 5);
  v128_t t1 = wasm_i32x4_shuffle((v128_t)*a, (v128_t)*b, 2, 6, 3, 7);
  v128_t t2 = wasm_i32x4_shuffle((v128_t)*c, (v128_t)*d, 0, 4, 1, 5);
  v128_t t3 = wasm_i32x4_shuffle((v128_t)*c, (v128_t)*d, 2, 6, 3, 7);
  *a = (v4i)wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
  *b = (v4i)wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
  *c = (v4i)wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
  *d = (v4i)wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}

/* Two rows of eight 32-bit samples in 0..255 (as lanes) to bytes, stored at the two rows. */
static inline void store_rows8(JSAMPROW r0, JSAMPROW r1, v4i a0, v4i a1, v4i b0, v4i b1)
{
  v128_t bytes = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4((v128_t)a0, (v128_t)a1),
                                         wasm_i16x8_narrow_i32x4((v128_t)b0, (v128_t)b1));
  wasm_v128_store64_lane(r0, bytes, 0);
  wasm_v128_store64_lane(r1, bytes, 1);
}

/*
 * A block whose AC coefficients are all zero (common in chroma): both C passes take their
 * shortcuts, so every sample is range_limit[DESCALE(dc << PASS1_BITS, PASS1_BITS + 3)].
 * Returns that sample, or -1 when the block has AC coefficients.
 */
static inline int dc_only_block(const JCOEF *coef, const ISLOW_MULT_TYPE *quant)
{
  v128_t any = wasm_v128_and(wasm_v128_load(coef), wasm_i16x8_make(0, -1, -1, -1, -1, -1, -1, -1));
  for (int k = 1; k < DCTSIZE; k++) any = wasm_v128_or(any, wasm_v128_load(coef + DCTSIZE * k));
  if (wasm_v128_any_true(any)) return -1;
  int dcval = (int)(((unsigned)coef[0] * (unsigned)quant[0]) << PASS1_BITS); /* wraps as in C */
  int sample = range_limit_v((v4i){ DESCALE_V(dcval, PASS1_BITS + 3) })[0];
  return sample < 0 ? 0 : sample > MAXJSAMPLE ? MAXJSAMPLE : sample;
}

static inline void fill_block(JSAMPARRAY output_buf, JDIMENSION output_col, int size, int value)
{
  for (int r = 0; r < size; r++) memset(output_buf[r] + output_col, value, size);
}

/* ---- jpeg_idct_islow (jidctint.c), 8x8 -> 8x8 ---------------------------------------------- */

GLOBAL(int)
jsimd_can_idct_islow(void)
{
  return (simd_routines & 1) != 0;
}

#define FIX_0_298631336 2446
#define FIX_0_390180644 3196
#define FIX_0_541196100 4433
#define FIX_0_765366865 6270
#define FIX_0_899976223 7373
#define FIX_1_175875602 9633
#define FIX_1_501321110 12299
#define FIX_1_847759065 15137
#define FIX_1_961570560 16069
#define FIX_2_053119869 16819
#define FIX_2_562915447 20995
#define FIX_3_072711026 25172

/*
 * One 1-D 8-point IDCT of jidctint.c, on four columns (pass 1) or four rows (pass 2) at once:
 * in[0..7] are the eight inputs, out[0..7] the eight outputs before descaling, in jidctint.c's
 * order of operations. `shift` is the descale.
 */
static inline void idct8(const v4i in[8], v4i out[8], int shift)
{
  v4i z1, z2, z3, z4, z5, tmp0, tmp1, tmp2, tmp3, tmp10, tmp11, tmp12, tmp13;

  z2 = in[2];
  z3 = in[6];
  z1 = (z2 + z3) * FIX_0_541196100;
  tmp2 = z1 + z3 * -FIX_1_847759065;
  tmp3 = z1 + z2 * FIX_0_765366865;

  tmp0 = (in[0] + in[4]) << CONST_BITS;
  tmp1 = (in[0] - in[4]) << CONST_BITS;

  tmp10 = tmp0 + tmp3;
  tmp13 = tmp0 - tmp3;
  tmp11 = tmp1 + tmp2;
  tmp12 = tmp1 - tmp2;

  tmp0 = in[7];
  tmp1 = in[5];
  tmp2 = in[3];
  tmp3 = in[1];

  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  z4 = tmp1 + tmp3;
  z5 = (z3 + z4) * FIX_1_175875602;

  tmp0 = tmp0 * FIX_0_298631336;
  tmp1 = tmp1 * FIX_2_053119869;
  tmp2 = tmp2 * FIX_3_072711026;
  tmp3 = tmp3 * FIX_1_501321110;
  z1 = z1 * -FIX_0_899976223;
  z2 = z2 * -FIX_2_562915447;
  z3 = z3 * -FIX_1_961570560;
  z4 = z4 * -FIX_0_390180644;

  z3 += z5;
  z4 += z5;

  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;

  out[0] = DESCALE_V(tmp10 + tmp3, shift);
  out[7] = DESCALE_V(tmp10 - tmp3, shift);
  out[1] = DESCALE_V(tmp11 + tmp2, shift);
  out[6] = DESCALE_V(tmp11 - tmp2, shift);
  out[2] = DESCALE_V(tmp12 + tmp1, shift);
  out[5] = DESCALE_V(tmp12 - tmp1, shift);
  out[3] = DESCALE_V(tmp13 + tmp0, shift);
  out[4] = DESCALE_V(tmp13 - tmp0, shift);
}

static const int AC_ROWS_ISLOW[7] = { 1, 2, 3, 4, 5, 6, 7 };

GLOBAL(void)
jsimd_idct_islow(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                 JCOEFPTR coef_block, JSAMPARRAY output_buf,
                 JDIMENSION output_col)
{
  const ISLOW_MULT_TYPE *quant = (const ISLOW_MULT_TYPE *)compptr->dct_table;
  /* ws[h][k]: workspace row k (wsptr[DCTSIZE * k]) for columns 4h..4h+3. */
  v4i ws[2][8];
  (void)cinfo;
  int flat = dc_only_block(coef_block, quant);
  if (flat >= 0) {
    fill_block(output_buf, output_col, 8, flat);
    return;
  }

  /* Pass 1: columns. */
  for (int h = 0; h < 2; h++) {
    v4i in[8], out[8];
    for (int k = 0; k < 8; k++) in[k] = dequant(coef_block, quant, k, h);
    idct8(in, out, CONST_BITS - PASS1_BITS);
    v128_t dc_only = zero_columns(coef_block, AC_ROWS_ISLOW, 7, h);
    v4i dcval = in[0] << PASS1_BITS;
    for (int k = 0; k < 8; k++) ws[h][k] = select_v(dcval, out[k], dc_only);
  }

  /* Pass 2: rows, four at a time after a transpose: rows[g][j] = wsptr[row 4g..4g+3][j]. */
  v4i rows[2][8];
  for (int g = 0; g < 2; g++)
    for (int h = 0; h < 2; h++) {
      v4i a = ws[h][4 * g], b = ws[h][4 * g + 1], c = ws[h][4 * g + 2], d = ws[h][4 * g + 3];
      transpose4(&a, &b, &c, &d);
      rows[g][4 * h] = a;
      rows[g][4 * h + 1] = b;
      rows[g][4 * h + 2] = c;
      rows[g][4 * h + 3] = d;
    }

  v4i pix[2][8]; /* pix[g][j]: output column j of rows 4g..4g+3, in 0..255 */
  for (int g = 0; g < 2; g++) {
    v4i out[8];
    idct8(rows[g], out, CONST_BITS + PASS1_BITS + 3);
    v4i ac = rows[g][1] | rows[g][2] | rows[g][3] | rows[g][4] | rows[g][5] | rows[g][6] |
             rows[g][7];
    v128_t dc_only = all_zero(ac);
    v4i dcval = range_limit_v(DESCALE_V(rows[g][0], PASS1_BITS + 3));
    for (int j = 0; j < 8; j++) pix[g][j] = select_v(dcval, range_limit_v(out[j]), dc_only);
  }

  /* Back to rows of pixels: transpose each 4x4 quarter, then narrow to bytes. */
  for (int g = 0; g < 2; g++) {
    for (int h = 0; h < 2; h++)
      transpose4(&pix[g][4 * h], &pix[g][4 * h + 1], &pix[g][4 * h + 2], &pix[g][4 * h + 3]);
    /* pix[g][4h + r] is now row 4g + r, columns 4h..4h+3. */
    for (int r = 0; r < 4; r += 2)
      store_rows8(output_buf[4 * g + r] + output_col, output_buf[4 * g + r + 1] + output_col,
                  pix[g][r], pix[g][4 + r], pix[g][r + 1], pix[g][4 + r + 1]);
  }
}

/* ---- jpeg_idct_4x4 (jidctred.c), 8x8 -> 4x4 ------------------------------------------------ */

GLOBAL(int)
jsimd_can_idct_4x4(void)
{
  return (simd_routines & 2) != 0;
}

#define FIX_0_211164243 1730
#define FIX_0_509795579 4176
#define FIX_0_601344887 4926
#define FIX_1_061594337 8697
#define FIX_1_451774981 11893
#define FIX_2_172734803 17799

/* One 1-D 4-point reduced IDCT of jidctred.c on in[0..7] (in[4] unused); out[0..3]. */
static inline void idct4(const v4i in[8], v4i out[4], v4i tmp0, int shift)
{
  v4i tmp2, tmp10, tmp12, z1, z2, z3, z4;

  tmp2 = in[2] * FIX_1_847759065 + in[6] * -FIX_0_765366865;
  tmp10 = tmp0 + tmp2;
  tmp12 = tmp0 - tmp2;

  z1 = in[7];
  z2 = in[5];
  z3 = in[3];
  z4 = in[1];

  tmp0 = z1 * -FIX_0_211164243 + z2 * FIX_1_451774981 + z3 * -FIX_2_172734803 +
         z4 * FIX_1_061594337;
  tmp2 = z1 * -FIX_0_509795579 + z2 * -FIX_0_601344887 + z3 * FIX_0_899976223 +
         z4 * FIX_2_562915447;

  out[0] = DESCALE_V(tmp10 + tmp2, shift);
  out[3] = DESCALE_V(tmp10 - tmp2, shift);
  out[1] = DESCALE_V(tmp12 + tmp0, shift);
  out[2] = DESCALE_V(tmp12 - tmp0, shift);
}

static const int AC_ROWS_4X4[6] = { 1, 2, 3, 5, 6, 7 };

GLOBAL(void)
jsimd_idct_4x4(j_decompress_ptr cinfo, jpeg_component_info *compptr,
               JCOEFPTR coef_block, JSAMPARRAY output_buf,
               JDIMENSION output_col)
{
  const ISLOW_MULT_TYPE *quant = (const ISLOW_MULT_TYPE *)compptr->dct_table;
  v4i ws[2][4]; /* ws[h][k]: workspace row k for columns 4h..4h+3 (column 4 is never read) */
  (void)cinfo;
  int flat = dc_only_block(coef_block, quant);
  if (flat >= 0) {
    fill_block(output_buf, output_col, 4, flat);
    return;
  }

  for (int h = 0; h < 2; h++) {
    v4i in[8], out[4];
    for (int k = 0; k < 8; k++) in[k] = dequant(coef_block, quant, k, h);
    idct4(in, out, in[0] << (CONST_BITS + 1), CONST_BITS - PASS1_BITS + 1);
    v128_t dc_only = zero_columns(coef_block, AC_ROWS_4X4, 6, h);
    v4i dcval = in[0] << PASS1_BITS;
    for (int k = 0; k < 4; k++) ws[h][k] = select_v(dcval, out[k], dc_only);
  }

  /* rows[j]: wsptr[row 0..3][j]. */
  v4i rows[8];
  for (int h = 0; h < 2; h++) {
    rows[4 * h] = ws[h][0];
    rows[4 * h + 1] = ws[h][1];
    rows[4 * h + 2] = ws[h][2];
    rows[4 * h + 3] = ws[h][3];
    transpose4(&rows[4 * h], &rows[4 * h + 1], &rows[4 * h + 2], &rows[4 * h + 3]);
  }

  v4i out[4];
  idct4(rows, out, rows[0] << (CONST_BITS + 1), CONST_BITS + PASS1_BITS + 3 + 1);
  v128_t dc_only = all_zero(rows[1] | rows[2] | rows[3] | rows[5] | rows[6] | rows[7]);
  v4i dcval = range_limit_v(DESCALE_V(rows[0], PASS1_BITS + 3));
  v4i pix[4];
  for (int j = 0; j < 4; j++) pix[j] = select_v(dcval, range_limit_v(out[j]), dc_only);
  transpose4(&pix[0], &pix[1], &pix[2], &pix[3]); /* pix[r]: row r, columns 0..3 */

  v128_t bytes = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4((v128_t)pix[0], (v128_t)pix[1]),
                                         wasm_i16x8_narrow_i32x4((v128_t)pix[2], (v128_t)pix[3]));
  for (int r = 0; r < 4; r++) {
    uint32_t word = (uint32_t)wasm_i32x4_extract_lane(bytes, 0);
    switch (r) {
    case 1: word = (uint32_t)wasm_i32x4_extract_lane(bytes, 1); break;
    case 2: word = (uint32_t)wasm_i32x4_extract_lane(bytes, 2); break;
    case 3: word = (uint32_t)wasm_i32x4_extract_lane(bytes, 3); break;
    }
    memcpy(output_buf[r] + output_col, &word, 4);
  }
}

/* ---- ycc_rgb_convert (jdcolext.c) ------------------------------------------------------------ */

GLOBAL(int)
jsimd_can_ycc_rgb(void)
{
  return (simd_routines & 4) != 0;
}

/* jdcolor.c's tables, computed: FIX(1.40200), FIX(1.77200), FIX(0.71414), FIX(0.34414). */
#define SCALEBITS 16
#define ONE_HALF ((JLONG)1 << (SCALEBITS - 1))
#define CR_R 91881
#define CB_B 116130
#define CR_G 46802
#define CB_G 22554

static inline JSAMPLE clamp255(int v)
{
  return (JSAMPLE)(v < 0 ? 0 : v > MAXJSAMPLE ? MAXJSAMPLE : v);
}

static void ycc_rgb_row_scalar(JSAMPROW y_row, JSAMPROW cb_row, JSAMPROW cr_row, JSAMPROW out,
                               JDIMENSION from, JDIMENSION to, int r_at, int g_at, int b_at,
                               int size)
{
  int alpha_at = size == 4 ? 0 + 1 + 2 + 3 - r_at - g_at - b_at : -1;
  for (JDIMENSION col = from; col < to; col++) {
    int y = y_row[col];
    JLONG cb = (JLONG)cb_row[col] - CENTERJSAMPLE;
    JLONG cr = (JLONG)cr_row[col] - CENTERJSAMPLE;
    JSAMPROW px = out + (size_t)col * size;
    px[r_at] = clamp255(y + (int)((CR_R * cr + ONE_HALF) >> SCALEBITS));
    px[g_at] = clamp255(y + (int)(((-CB_G) * cb + ONE_HALF + (-CR_G) * cr) >> SCALEBITS));
    px[b_at] = clamp255(y + (int)((CB_B * cb + ONE_HALF) >> SCALEBITS));
    if (alpha_at >= 0) px[alpha_at] = MAXJSAMPLE;
  }
}

/* Sixteen pixels of one channel: y + ((a * x + b * z + ONE_HALF) >> 16), saturated to bytes. */
static inline v128_t channel16(const v4i y[4], const v4i x[4], int a, const v4i z[4], int b)
{
  v4i c[4];
  for (int i = 0; i < 4; i++) c[i] = y[i] + ((x[i] * a + z[i] * b + (int)ONE_HALF) >> SCALEBITS);
  return wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4((v128_t)c[0], (v128_t)c[1]),
                                 wasm_i16x8_narrow_i32x4((v128_t)c[2], (v128_t)c[3]));
}

static inline void widen16(v128_t bytes, v4i out[4], int minus)
{
  v128_t lo = wasm_u16x8_extend_low_u8x16(bytes), hi = wasm_u16x8_extend_high_u8x16(bytes);
  out[0] = (v4i)wasm_u32x4_extend_low_u16x8(lo) - minus;
  out[1] = (v4i)wasm_u32x4_extend_high_u16x8(lo) - minus;
  out[2] = (v4i)wasm_u32x4_extend_low_u16x8(hi) - minus;
  out[3] = (v4i)wasm_u32x4_extend_high_u16x8(hi) - minus;
}

GLOBAL(void)
jsimd_ycc_rgb_convert(j_decompress_ptr cinfo, JSAMPIMAGE input_buf,
                      JDIMENSION input_row, JSAMPARRAY output_buf,
                      int num_rows)
{
  JDIMENSION width = cinfo->output_width;
  int space = cinfo->out_color_space;
  int r_at = rgb_red[space], g_at = rgb_green[space], b_at = rgb_blue[space];
  int size = rgb_pixelsize[space];
  int rgba = size == 4 && r_at == 0 && g_at == 1 && b_at == 2;
  const v4i zero[4] = { { 0 }, { 0 }, { 0 }, { 0 } };

  while (--num_rows >= 0) {
    JSAMPROW y_row = input_buf[0][input_row];
    JSAMPROW cb_row = input_buf[1][input_row];
    JSAMPROW cr_row = input_buf[2][input_row];
    JSAMPROW out = *output_buf++;
    JDIMENSION col = 0;
    input_row++;
    if (rgba) {
      const v128_t opaque = wasm_i8x16_splat((int8_t)MAXJSAMPLE);
      for (; col + 16 <= width; col += 16) {
        v4i y[4], cb[4], cr[4];
        widen16(wasm_v128_load(y_row + col), y, 0);
        widen16(wasm_v128_load(cb_row + col), cb, CENTERJSAMPLE);
        widen16(wasm_v128_load(cr_row + col), cr, CENTERJSAMPLE);
        v128_t r = channel16(y, cr, CR_R, zero, 0);
        v128_t g = channel16(y, cb, -CB_G, cr, -CR_G);
        v128_t b = channel16(y, cb, CB_B, zero, 0);
        v128_t rg_lo = wasm_i8x16_shuffle(r, g, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        v128_t rg_hi = wasm_i8x16_shuffle(r, g, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        v128_t ba_lo = wasm_i8x16_shuffle(b, opaque, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        v128_t ba_hi = wasm_i8x16_shuffle(b, opaque, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        JSAMPROW px = out + (size_t)col * 4;
        wasm_v128_store(px, wasm_i16x8_shuffle(rg_lo, ba_lo, 0, 8, 1, 9, 2, 10, 3, 11));
        wasm_v128_store(px + 16, wasm_i16x8_shuffle(rg_lo, ba_lo, 4, 12, 5, 13, 6, 14, 7, 15));
        wasm_v128_store(px + 32, wasm_i16x8_shuffle(rg_hi, ba_hi, 0, 8, 1, 9, 2, 10, 3, 11));
        wasm_v128_store(px + 48, wasm_i16x8_shuffle(rg_hi, ba_hi, 4, 12, 5, 13, 6, 14, 7, 15));
      }
    }
    ycc_rgb_row_scalar(y_row, cb_row, cr_row, out, col, width, r_at, g_at, b_at, size);
  }
}
