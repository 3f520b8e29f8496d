/*
 * Run by build.sh: the WebAssembly SIMD IDCTs (jsimd_wasm.c) against libjpeg-turbo's C ones on
 * random coefficient blocks, from sparse and small to dense with 16-bit quantizers whose products
 * overflow, and all-zero-AC columns. Exits 1 on the first difference in a byte.
 */
#define JPEG_INTERNALS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jinclude.h"
#include "jpeglib.h"
#include "jdct.h"
void jpeg_idct_islow(j_decompress_ptr, jpeg_component_info *, JCOEFPTR, JSAMPARRAY, JDIMENSION);
void jpeg_idct_4x4(j_decompress_ptr, jpeg_component_info *, JCOEFPTR, JSAMPARRAY, JDIMENSION);
void jsimd_idct_islow(j_decompress_ptr, jpeg_component_info *, JCOEFPTR, JSAMPARRAY, JDIMENSION);
void jsimd_idct_4x4(j_decompress_ptr, jpeg_component_info *, JCOEFPTR, JSAMPARRAY, JDIMENSION);
static JSAMPLE tablemem[5 * 256 + 128];
static unsigned rng = 12345;
static unsigned next(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }
int main(int argc, char **argv)
{
  struct jpeg_decompress_struct cinfo; jpeg_component_info comp;
  memset(&cinfo, 0, sizeof cinfo); memset(&comp, 0, sizeof comp);
  JSAMPLE *table = tablemem + 256; cinfo.sample_range_limit = table;
  memset(table - 256, 0, 256); for (int i = 0; i < 256; i++) table[i] = i;
  table += 128; for (int i = 128; i < 512; i++) table[i] = 255;
  memset(table + 512, 0, 512 - 128); memcpy(table + 1024 - 128, cinfo.sample_range_limit, 128);
  static ISLOW_MULT_TYPE quant[64]; comp.dct_table = quant;
  JSAMPLE a[8][8], b[8][8]; JSAMPROW ra[8], rb[8]; for (int i = 0; i < 8; i++) { ra[i] = a[i]; rb[i] = b[i]; }
  long bad = 0; int n = argc > 1 ? atoi(argv[1]) : 100000;
  for (int t = 0; t < n; t++) {
    JCOEF coef[64]; int mode = t % 4;
    for (int i = 0; i < 64; i++) {
      quant[i] = mode == 3 ? (short)next() : (short)(1 + next() % 64);
      int z = next() % 100 < (mode == 0 ? 85 : mode == 1 ? 50 : 10);
      coef[i] = z ? 0 : mode >= 2 ? (short)next() : (short)((int)(next() % 201) - 100);
      if (mode == 0 && i > 0 && next() % 4) coef[i] = 0;
    }
    if (t % 8 == 1) for (int i = 1; i < 64; i++) if (i % 8) coef[i] = 0;   /* zero columns except DC row */
    for (int f = 0; f < 2; f++) {
      memset(a, 0x55, 64); memset(b, 0x55, 64);
      if (f == 0) { jpeg_idct_islow(&cinfo, &comp, coef, ra, 0); jsimd_idct_islow(&cinfo, &comp, coef, rb, 0); }
      else { jpeg_idct_4x4(&cinfo, &comp, coef, ra, 0); jsimd_idct_4x4(&cinfo, &comp, coef, rb, 0); }
      if (memcmp(a, b, 64)) { if (bad++ < 3) { printf("mismatch %s t=%d mode=%d\n", f ? "4x4" : "islow", t, mode);
        for (int r = 0; r < (f ? 4 : 8); r++) { for (int c = 0; c < (f ? 4 : 8); c++) printf("%3d/%3d ", a[r][c], b[r][c]); printf("\n"); } } }
    }
  }
  printf("%d cases, %ld mismatches\n", n, bad);
  return bad != 0;
}
