import type { InputFormat, OutputFormat } from '../core/formats.ts';
import type { PixelLayout } from '../image/probe.ts';

/**
 * What our codecs cost in memory, per pixel: the figures the per-image memory estimate
 * (pipeline/memory-budget.ts) and the memory sweep's floor (bench/sweep/derive.ts) are made of.
 *
 * Measured with `npm run bench -- memory` (bench/memory/, method in bench/README.md, "Memory per
 * pixel"): synthetic images of each kind at two sizes, each run in a fresh Node process set up as
 * the function is (codecs compiled, encoder threads started) in the container image's environment
 * (MALLOC_MMAP_THRESHOLD_); a figure is the most of the slope of peak RSS over pixels between the
 * two sizes and of each size's (peak - set-up RSS) / pixels, rounded up to a whole byte.
 */

/**
 * Resident memory of a warm process, before its next image: Node, the compiled codecs, and the
 * codec heaps a process keeps between images (instances.ts replaces a heap only once it has grown
 * past 48 MiB; the AVIF encoder's past 128 MiB), and the AVIF encoder's second aom thread, a
 * Worker of its own in every thread that encodes (avif-simd.ts). Measured after one 1600x1200
 * image of each input format (JPEG, PNG, WebP, AVIF) with the default variants, the AVIF encoder
 * with 2 threads: 337 MiB encoding in the one thread (109-116 MiB right after set-up); 465 and 481
 * MiB with 2 and 3 encoder threads (175 and 210 MiB after set-up). Before the threads (one aom
 * thread, its heap released past 48 MiB): 284, 368 and 430 MiB (91, 134 and 152 after set-up).
 * A retained AVIF heap larger than the measured one (up to 128 MiB) is covered by the AVIF encode's
 * own figure below, which the estimate adds on top.
 */
export const BASELINE_MB = 350;
/** With a pool of encoder threads: the main thread's share, and each worker's. */
export const POOL_BASELINE_MB = 300;
export const WORKER_MB = 85;

/** The baseline for encodes in this thread (1) or in a pool of `workers` threads. */
export function baselineMb(workers: number): number {
  return workers <= 1 ? BASELINE_MB : POOL_BASELINE_MB + workers * WORKER_MB;
}

/** Decoding, per decoded pixel: the decoder's heap (its buffers and output) and the RGBA copy. */
export interface DecodeCost {
  /** What the figure is for, e.g. `avif 10-bit 4:4:4 with alpha`. */
  readonly kind: string;
  readonly bytesPerPixel: number;
}

interface DecodeRow {
  readonly format: InputFormat;
  readonly when: (layout: PixelLayout) => boolean;
  readonly bytesPerPixel: number;
}

const any = () => true;
const alpha = (l: PixelLayout) => l.channels === 2 || l.channels === 4;

/**
 * First match wins; each format ends with a row that matches anything. Measured at 12 and 24 MP
 * (bytes per pixel, the most of the slope and of each size's cost; the table rounds up):
 *
 *   jpeg 8.1 (gray 8.1) | png gray 9.2, RGB 11.1, palette 11.3, RGBA 8.1, and the same at 16 bits
 *   (the decoder reduces them to 8 bits row by row) | webp lossy 8.1, lossy with alpha 13.1,
 *   lossless 12.1 (with alpha 12.1) | avif 8-bit 4:0:0 18.3, 4:2:0 19.7, 4:4:4 22.5, 4:2:0 with
 *   alpha 32.8; 10-bit 4:2:0 22.0, 4:4:4 28.5, 4:4:4 with alpha 45.5; 12-bit 4:4:4 28.1 |
 *   heic 8-bit 4:2:0 12.1, with alpha 13.2; 10-bit 4:2:0 29.4 | gif 5.3
 *
 * AVIF rows not measured take the next costlier layout's figure (4:2:2 as 4:4:4) and alpha adds
 * what it added where measured (13.1 at 8 bits, 17.0 at 10). HEIC rows not measured (heif-enc
 * writes 4:2:0): 4:2:2 and 4:4:4 add the larger HEVC frame (1.5 bytes a pixel at 8 bits, 3 above),
 * alpha what it added at 8 bits (1.1, twice that above 8 bits), rounded up.
 */
const DECODE: readonly DecodeRow[] = [
  // TurboJPEG writes RGBA into its heap (4) and we copy it out (4), at the size decoded.
  { format: 'jpeg', when: any, bytesPerPixel: 9 },
  // The png crate's rows in its heap (1 to 4 bytes), its RGBA output (4), our copy (4).
  { format: 'png', when: (l) => l.channels === 4, bytesPerPixel: 9 },
  { format: 'png', when: (l) => l.channels === 1, bytesPerPixel: 10 },
  { format: 'png', when: any, bytesPerPixel: 12 },
  // libwebp: YUV planes (lossy) or ARGB and its transforms (lossless), then RGBA and our copy.
  { format: 'webp', when: (l) => !l.lossless && !alpha(l), bytesPerPixel: 9 },
  { format: 'webp', when: (l) => l.lossless === true, bytesPerPixel: 13 },
  { format: 'webp', when: any, bytesPerPixel: 14 },
  // libavif + libaom: the decoder's frame buffers (with borders; 16-bit samples above 8 bits),
  // libavif's YUV image, its RGBA conversion, our copy; an alpha item is a second AV1 image.
  { format: 'avif', when: (l) => l.bitDepth <= 8 && l.chroma === '4:0:0' && !alpha(l), bytesPerPixel: 19 },
  { format: 'avif', when: (l) => l.bitDepth <= 8 && l.chroma === '4:2:0' && !alpha(l), bytesPerPixel: 20 },
  { format: 'avif', when: (l) => l.bitDepth <= 8 && !alpha(l), bytesPerPixel: 23 },
  {
    format: 'avif',
    when: (l) => l.bitDepth <= 8 && (l.chroma === '4:2:0' || l.chroma === '4:0:0'),
    bytesPerPixel: 34,
  },
  { format: 'avif', when: (l) => l.bitDepth <= 8, bytesPerPixel: 37 },
  {
    format: 'avif',
    when: (l) => (l.chroma === '4:2:0' || l.chroma === '4:0:0') && !alpha(l),
    bytesPerPixel: 23,
  },
  { format: 'avif', when: (l) => !alpha(l), bytesPerPixel: 29 },
  { format: 'avif', when: (l) => l.chroma === '4:2:0' || l.chroma === '4:0:0', bytesPerPixel: 41 },
  { format: 'avif', when: any, bytesPerPixel: 47 },
  // libheif + libde265: the HEVC frame (16-bit samples above 8 bits), libheif's RGBA image
  // (RRGGBBAA above 8 bits), our copy; an alpha item is a second HEVC image.
  {
    format: 'heic',
    when: (l) => l.bitDepth <= 8 && (l.chroma === '4:2:0' || l.chroma === '4:0:0') && !alpha(l),
    bytesPerPixel: 13,
  },
  { format: 'heic', when: (l) => l.bitDepth <= 8 && !alpha(l), bytesPerPixel: 15 },
  { format: 'heic', when: (l) => l.bitDepth <= 8, bytesPerPixel: 16 },
  {
    format: 'heic',
    when: (l) => (l.chroma === '4:2:0' || l.chroma === '4:0:0') && !alpha(l),
    bytesPerPixel: 30,
  },
  { format: 'heic', when: any, bytesPerPixel: 36 },
  // omggif: the screen's RGBA, written straight into our array; the first frame only (gif.ts).
  { format: 'gif', when: any, bytesPerPixel: 6 },
];

/**
 * The copies of the file a decoder holds in its heap while it decodes, besides the caller's (the
 * per-pixel figures were measured on files of a fraction of a byte a pixel, so they do not hold
 * them). Measured as the peak RSS a decode added for a 1x1 (or small) image padded to a 96 MiB
 * file (APP segments in a JPEG, bytes after the image in the others), in a warm process: TurboJPEG
 * 1.05 copies (malloc'd and copied in), the png crate 2.0, libwebp and libavif (jSquash's glue, which
 * copies the buffer into an std::string and again) 3.0, libheif 2.0. omggif reads the file where it
 * is (a GIF's copies are codecs/gif.ts's, counted by the estimate). Without them a 1 GiB file under
 * a larger maxBytes took up to 3 GiB the estimate did not see.
 */
export const DECODE_FILE_COPIES: Readonly<Record<InputFormat, number>> = {
  jpeg: 1,
  png: 2,
  webp: 3,
  avif: 3,
  heic: 2,
  gif: 0,
};

/**
 * The most each decoder's WebAssembly heap can hold (its memory's maximum, read from the module):
 * TurboJPEG (our SIMD build), libwebp, libavif and libheif 2 GiB, the png crate 4 GiB (no maximum
 * but wasm32's); omggif runs in JavaScript.
 */
export const DECODER_HEAP_MAX_BYTES: Readonly<Record<InputFormat, number>> = {
  jpeg: 2 * 1024 ** 3,
  png: 4 * 1024 ** 3,
  webp: 2 * 1024 ** 3,
  avif: 2 * 1024 ** 3,
  heic: 2 * 1024 ** 3,
  gif: Number.POSITIVE_INFINITY,
};

/**
 * The copies of the file inside that heap (DECODE_FILE_COPIES counts the process's, some of which
 * are JavaScript's): 1x1 images padded with bytes the decoder is given, at 720 MiB to 2.1 GiB.
 * TurboJPEG decoded 1.1 GiB and failed at 2.1 GiB ("out of memory"); libwebp and libavif decoded
 * 720 MiB and crashed at 1.1 GiB (two copies: jSquash's std::string and its own); libheif decoded
 * 1.1 GiB (2.3 GiB peak RSS, one copy in its heap); the png crate decoded 1.1 GiB and crashed at
 * 2.1 GiB in its 4 GiB heap (two copies).
 */
export const DECODER_HEAP_FILE_COPIES: Readonly<Record<InputFormat, number>> = {
  jpeg: 1,
  png: 2,
  webp: 2,
  avif: 2,
  heic: 1,
  gif: 0,
};

export function decodeCost(format: InputFormat, layout: PixelLayout): DecodeCost {
  const row = DECODE.find((r) => r.format === format && r.when(layout))!;
  return { kind: describeLayout(format, layout), bytesPerPixel: row.bytesPerPixel };
}

/**
 * A JPEG of more than one scan (progressive, or components in separate scans), or a progressive one
 * of one scan: libjpeg keeps every DCT coefficient of the whole image until its last scan
 * (jdcoefct.c's whole-image buffers, for jdinput.c's `has_multiple_scans`): 64 two-byte
 * coefficients per 8x8 block of each component at its sampling, the blocks rounded up to whole
 * MCUs, at full size whatever scale it is decoded at (shrink-on-load scales the inverse DCT, not
 * the coefficients). So a 7000x7000 progressive CMYK decoded at 1/8 holds 374 MiB, and so does one
 * of a single DC scan (a few hundred kilobytes). 0 for a sequential JPEG of one scan with every
 * component, which decodes row by row, and for other formats.
 */
export function coefficientBytes(
  format: InputFormat,
  width: number,
  height: number,
  layout: PixelLayout,
): number {
  const held = layout.coefficientsHeld ?? (layout.scans ?? 1) > 1;
  if (format !== 'jpeg' || !held || !layout.sampling?.length) return 0;
  const maxH = Math.max(...layout.sampling.map(([h]) => h));
  const maxV = Math.max(...layout.sampling.map(([, v]) => v));
  const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;
  return layout.sampling.reduce((sum, [h, v]) => {
    const blocksWide = roundUp(Math.ceil((width * h) / (maxH * 8)), h);
    const blocksHigh = roundUp(Math.ceil((height * v) / (maxV * 8)), v);
    return sum + blocksWide * blocksHigh * 64 * 2;
  }, 0);
}

/** The costliest decode per pixel there is: the floor of the memory sweep's fit. */
export const MAX_DECODE_BYTES_PER_PIXEL = Math.max(...DECODE.map((r) => r.bytesPerPixel));

/** `png 16-bit RGBA`, `avif 10-bit 4:4:4 with alpha`, `webp lossless`, `jpeg 8-bit`. */
export function describeLayout(format: InputFormat, layout: PixelLayout): string {
  const depth = `${layout.bitDepth}-bit`;
  const hasAlpha = layout.channels === 2 || layout.channels === 4;
  switch (format) {
    case 'png':
      return `png ${depth} ${['gray', 'gray + alpha', 'RGB', 'RGBA'][layout.channels - 1] ?? `${layout.channels}-channel`}`;
    case 'webp':
      return `webp ${layout.lossless ? 'lossless' : 'lossy'}${hasAlpha ? ' with alpha' : ''}`;
    case 'avif':
      return `avif ${depth} ${layout.chroma ?? ''}${hasAlpha ? ' with alpha' : ''}`.replace('  ', ' ');
    case 'heic':
      return `heic ${depth} ${layout.chroma ?? ''}${hasAlpha ? ' with alpha' : ''}`.replace('  ', ' ');
    case 'jpeg':
      return `jpeg ${depth}`;
    case 'gif':
      return 'gif';
  }
}

/**
 * An embedded ICC profile, per byte of the profile: what Little CMS (colour.ts) holds while it reads
 * it and makes a transform from it, beside the profile's own copy (the JPEG APP2 segments joined, a
 * PNG iCCP inflated). Little CMS copies the profile into its heap and again into its memory reader,
 * widens a lut8 table's 8-bit entries to 16 bits and duplicates the pipeline it reads for the
 * transform. Measured as the peak RSS of processImage on a 64x64 image with a profile whose
 * A2B0 table fills it, less that of the same image without one: a 16.4 MB lut16 profile 8.3 bytes a
 * byte (4.1 MB: 8.2), a 16.4 MB lut8 one 13.4 in a JPEG and 14.3-15.2 in a PNG (an 81 KB file,
 * its iCCP inflated; runs vary), counted at 18 for a margin. The profiles the probe takes are at
 * most 16 MiB (image/probe.ts), so up to 288 MiB.
 */
export const ICC_PROFILE_BYTES_PER_BYTE = 18;

/**
 * The bytes of the standard CMYK profile (colour/cmyk-fogra39.icc), through which a CMYK or YCCK
 * JPEG without a CMYK profile of its own is converted (codecs/index.ts standardCmykProfile).
 */
export const STANDARD_CMYK_PROFILE_BYTES = 184_624;

/**
 * The resampler, per pixel: the input in its heap, the output in its heap and copied out, and the
 * intermediate after the first pass, whose size is the output width by the input height or the
 * other way round. These are jSquash's float resampler's (resizer.ts: four f32 per pixel in the
 * intermediate), fitted to lanczos3 at 1.5x and 1.1x from 6 and 24 MP (22.2 and 29.2 bytes per
 * input pixel measured; this gives 22.2 and 29.2). Pillow's (resample.ts, opaque images) keeps
 * 8-bit RGBA throughout, a quarter of that intermediate: the estimate holds for both.
 */
export const RESIZE_BYTES = { input: 8, output: 8, intermediate: 16 } as const;

/**
 * Encoding: the encoder's heap (its copy of the pixels, YUV planes, analysis buffers) and the
 * encoded result, besides the RGBA image it is given: a fixed part and bytes per pixel. Measured
 * at 1600x900 and 3200x1800, of a smooth gradient and of text-like screen content; the figures
 * cover the worse of the two (bytes per pixel at 3200x1800, screen content): MozJPEG 21.1,
 * libwebp 15.5, the png crate 6.7. libaom spends far more where it takes the image for screen
 * content (intra block copy builds hash tables over every block position): 194 MiB at 1600x900,
 * 584 at 3200x1800 and 1,201 at 4800x2700 (97-141 bytes per pixel), against about 30 bytes per
 * pixel on photos. Its fixed part shows on small images (52 MiB at 320x180).
 */
export const ENCODE_COST: Readonly<
  Record<OutputFormat, { readonly fixedMb: number; readonly bytesPerPixel: number }>
> = {
  jpeg: { fixedMb: 8, bytesPerPixel: 22 },
  webp: { fixedMb: 8, bytesPerPixel: 17 },
  avif: { fixedMb: 80, bytesPerPixel: 100 },
  png: { fixedMb: 8, bytesPerPixel: 9 },
};
