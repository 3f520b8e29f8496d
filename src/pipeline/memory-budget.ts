import {
  baselineMb,
  coefficientBytes,
  DECODE_FILE_COPIES,
  DECODER_HEAP_FILE_COPIES,
  DECODER_HEAP_MAX_BYTES,
  type DecodeCost,
  decodeCost,
  ENCODE_COST,
  ICC_PROFILE_BYTES_PER_BYTE,
  MAX_DECODE_BYTES_PER_PIXEL,
  RESIZE_BYTES,
  STANDARD_CMYK_PROFILE_BYTES,
} from '../codecs/memory.ts';
import type { MemoryBudget } from '../core/config.ts';
import { InvalidImageError } from '../core/errors.ts';
import type { InputFormat } from '../core/formats.ts';
import type { ImageHeader } from '../image/probe.ts';
import { integerShrink } from '../image/shrink.ts';
import type { Size, Step } from './plan.ts';

/**
 * The memory an image will take, estimated from its header and the plan before a pixel is
 * decoded, and checked against the memory the process has. A pixel limit alone does not bound
 * memory: a 16-bit RGBA PNG costs more than twice what a JPEG of the same size does, and a
 * variant near full size makes the resampler and the encoders work on a large image too.
 *
 * Peak RSS is modelled as the baseline (per thread), plus the file itself (the caller's copy, held
 * until the image is done), plus the larger of two phases, with the per-pixel figures of
 * codecs/memory.ts:
 *
 * - decoding: decoded pixels x the decoder's bytes per pixel (its heap and our RGBA copy), and for
 *   a JPEG of several scans its coefficients at full size (codecs/memory.ts coefficientBytes),
 *   and the decoder's copies of the file in its heap (codecs/memory.ts DECODE_FILE_COPIES);
 * - processing, once the decoder's heap is given back: the decoded RGBA image, the largest
 *   resize step's working set (crop copy, box shrink, the resampler's heap), every variant's
 *   pixels (kept until encoded; a flattened copy for JPEG of a transparent image), and the
 *   encodes that can run at once (one in this thread; with a pool, one per worker, each with its
 *   own copy of the pixels).
 *
 * An embedded ICC profile adds to both: Little CMS reads it before the decode (its description)
 * and again for each conversion (codecs/memory.ts ICC_PROFILE_BYTES_PER_BYTE), and its heap keeps
 * the room until it is replaced. A 64x64 PNG of 81 KB whose iCCP profile inflates to 16 MB took
 * 235-248 MB more than without it.
 */
export interface MemoryEstimate {
  /** Estimated peak RSS. */
  readonly bytes: number;
  readonly baselineBytes: number;
  /** Encoder threads (1: encodes in the calling thread). */
  readonly workers: number;
  /** Pixels the decoder produces (after shrink-on-load). */
  readonly decoded: Size;
  readonly decode: DecodeCost & { readonly bytes: number };
  /** Part of the decode's bytes: a multi-scan JPEG's coefficients, held at full size (else 0). */
  readonly coefficientBytes: number;
  /** Part of the decode's bytes: the decoder's copies of the file in its heap (DECODE_FILE_COPIES). */
  readonly fileCopyBytes: number;
  /**
   * The file as the caller holds it, through both phases: the per-pixel figures and the decoder's
   * copies were measured with it already read, so none of them holds it.
   */
  readonly sourceBytes: number;
  /** Resizing and encoding, the decoded image included. */
  readonly processingBytes: number;
  /**
   * Reading the ICC profiles (their bytes x ICC_PROFILE_BYTES_PER_BYTE; 0 without one): the
   * embedded one, and for a CMYK or YCCK JPEG the standard CMYK profile it may be converted through.
   */
  readonly profileBytes: number;
}

const MiB = 1024 * 1024;
const RGBA = 4;
/** The most a PNG's rewritten PLTE and tRNS chunks hold (ImageHeader.pngPaletteChunks): 256 entries each. */
const PNG_PALETTE_CHUNK_BYTES = 12 + 256 * 3 + 12 + 256;

/**
 * The profile bytes Little CMS may read for the image: the embedded profile, and for a CMYK or
 * YCCK JPEG the standard CMYK profile, which it is converted through unless its own is CMYK.
 */
function profilesRead(header: ImageHeader): number {
  return (header.colour.icc?.length ?? 0) + (header.cmyk ? STANDARD_CMYK_PROFILE_BYTES : 0);
}

export function estimateMemory(
  header: ImageHeader,
  decoded: Size,
  steps: readonly Step[],
  workers: number,
  workerRows = 0,
  fileBytes = 0,
): MemoryEstimate {
  const threads = Math.max(1, workers);
  const baselineBytes = baselineMb(threads) * MiB;
  const cost = decodeCost(header.format, header.layout);
  const decodedPixels = decoded.width * decoded.height;
  // A decode shared with a worker (process-image.ts decodeInBands): the worker's band is in its
  // heap and in the copy it sends, and the file is sent to it (a copy, and one in its heap); this
  // thread's band goes from its heap into the whole image.
  const shared = workerRows > 0 ? workerRows * decoded.width * RGBA + 2 * fileBytes : 0;
  // An AVIF or HEIC with a clean aperture, an AVIF without `pixi` (with its rebuilt meta box), or a
  // PNG with chunks its decoder is not given or is given rewritten (its palette's, at most 1,048
  // bytes: PNG_PALETTE_CHUNK_BYTES), is decoded from one copy of the file
  // (process-image.ts decoderCopy). An animated WebP's
  // first frame is cut out as a still file (a copy of its data) and placed on its canvas (a copy of
  // the picture: codecs/index.ts decodeWebp), which the figure for a still WebP does not hold (a
  // 24 MP lossless one took 14.9 bytes a pixel against its 13). A GIF is given to omggif in at most
  // one copy (codecs/gif.ts: cut after its first frame, its colour table grown, its screen grown or
  // its rows in stored order), with the 768 bytes of a grown table: a 1x1 GIF whose first frame
  // carries 32 MiB of data held 64 MiB of copies before that, outside its 6 bytes a pixel.
  const copied =
    (header.avifPixiMeta
      ? fileBytes + header.avifPixiMeta.box.length
      : header.clapOffset !== undefined || header.pngSkippedChunks || header.pngPaletteChunks
        ? fileBytes + (header.pngPaletteChunks ? PNG_PALETTE_CHUNK_BYTES : 0)
        : header.format === 'gif'
          ? fileBytes + 768
          : 0) + (header.format === 'webp' && header.animated ? fileBytes + decodedPixels * RGBA : 0);
  const coefficients = coefficientBytes(header.format, header.width, header.height, header.layout);
  // The decoder's own copies of the file in its heap (codecs/memory.ts DECODE_FILE_COPIES).
  const fileCopyBytes = fileBytes * DECODE_FILE_COPIES[header.format];
  const decodeBytes = decodedPixels * cost.bytesPerPixel + shared + copied + coefficients + fileCopyBytes;

  // Steps are planned in display coordinates at full size; the decoded image may be smaller.
  const scale = decoded.width / header.width;
  const outputs = steps.map((step) => step.output.width * step.output.height);
  let largestStep = 0;
  steps.forEach((step, index) => {
    const input =
      step.from === 'source'
        ? {
            width: Math.max(1, Math.round(step.region.width * scale)),
            height: Math.max(1, Math.round(step.region.height * scale)),
          }
        : steps[step.from]!.output;
    // A region smaller than the image (cover, or a HEIF clean aperture) is cropped: a copy, unless
    // it spans whole rows.
    const whole =
      !header.crop &&
      step.region.width === header.displayWidth &&
      step.region.height === header.displayHeight;
    const fx = integerShrink(step.resizeTo.width / input.width);
    const fy = integerShrink(step.resizeTo.height / input.height);
    const shrunk = { width: Math.floor(input.width / fx), height: Math.floor(input.height / fy) };
    const out = step.resizeTo;
    let bytes = whole ? 0 : input.width * input.height * RGBA;
    if (fx > 1 || fy > 1) bytes += shrunk.width * shrunk.height * RGBA;
    if (shrunk.width !== out.width || shrunk.height !== out.height) {
      bytes +=
        shrunk.width * shrunk.height * RESIZE_BYTES.input +
        out.width * out.height * RESIZE_BYTES.output +
        Math.max(out.width * shrunk.height, shrunk.width * out.height) * RESIZE_BYTES.intermediate;
    }
    // The result is oriented (a copy) and may be padded onto its canvas (another).
    bytes += outputs[index]! * RGBA;
    largestStep = Math.max(largestStep, bytes);
  });
  const flattened = (step: Step) => header.hasAlpha && step.variant.formats.includes('jpeg');
  const kept = steps.reduce(
    (sum, step, index) => sum + outputs[index]! * RGBA * (flattened(step) ? 2 : 1),
    0,
  );
  const encodes = steps
    .flatMap((step, index) =>
      step.variant.formats.map((format) => {
        const cost = ENCODE_COST[format];
        // In a pool, the worker has its own copy of the pixels.
        return cost.fixedMb * MiB + outputs[index]! * (cost.bytesPerPixel + (threads > 1 ? RGBA : 0));
      }),
    )
    .sort((a, b) => b - a)
    .slice(0, threads)
    .reduce((sum, bytes) => sum + bytes, 0);
  const processingBytes = decodedPixels * RGBA + largestStep + kept + encodes;
  const profileBytes = profilesRead(header) * ICC_PROFILE_BYTES_PER_BYTE;
  return {
    bytes: baselineBytes + fileBytes + Math.max(decodeBytes, processingBytes) + profileBytes,
    baselineBytes,
    workers: threads,
    decoded,
    decode: { ...cost, bytes: decodeBytes },
    coefficientBytes: coefficients,
    fileCopyBytes,
    sourceBytes: fileBytes,
    processingBytes,
    profileBytes,
  };
}

/**
 * The most pixels an input of any format can have and still be decoded within `memoryMb` by
 * estimateMemory: the baseline for `workers` encoder threads plus the decode at the costliest
 * figure per pixel there is (codecs/memory.ts, 10-bit 4:4:4 AVIF with alpha). A pixel limit above
 * it admits inputs checkMemoryBudget refuses; the memory sweep holds the limits it writes without
 * a fit to it (bench/sweep/decide.ts).
 */
export function pixelsWithinMemory(memoryMb: number, workers: number): number {
  const free = (memoryMb - baselineMb(Math.max(1, workers))) * MiB;
  return Math.max(0, Math.floor(free / MAX_DECODE_BYTES_PER_PIXEL));
}

/**
 * The encoder threads to start when none are configured: `wanted` (what the CPUs give), fewer while
 * the memory would then hold less than `maxPixels` of the costliest input (pixelsWithinMemory), and
 * at least one. Each thread takes its baseline before any image: two threads at 512 MiB left 42 MiB
 * for images, and a 480x320 JPEG was quarantined as over-memory-budget. No budget, no cap.
 */
export function encoderThreadsFor(
  wanted: number,
  memory: MemoryBudget | undefined,
  maxPixels: number,
): number {
  let threads = Math.max(1, wanted);
  if (!memory) return threads;
  const floor = Math.min(maxPixels, pixelsWithinMemory(memory.mb, 1));
  while (threads > 1 && pixelsWithinMemory(memory.mb, threads) < floor) threads--;
  return threads;
}

/**
 * Refuses an image whose estimated peak is more than the memory the process has, with a message
 * naming the estimate, the budget and what they are made of. No budget, no check.
 */
export function checkMemoryBudget(
  header: ImageHeader,
  decoded: Size,
  steps: readonly Step[],
  workers: number,
  budget: MemoryBudget | undefined,
  workerRows = 0,
  fileBytes = 0,
): MemoryEstimate | undefined {
  if (!budget) return undefined;
  const estimate = estimateMemory(header, decoded, steps, workers, workerRows, fileBytes);
  if (estimate.bytes <= budget.mb * MiB) return estimate;
  const mib = (bytes: number) => `${Math.ceil(bytes / MiB).toLocaleString('en-US')} MiB`;
  const { decode } = estimate;
  const megapixels = (decoded.width * decoded.height) / 1e6;
  const scaled =
    decoded.width !== header.width || decoded.height !== header.height
      ? ` (decoded at ${decoded.width}x${decoded.height})`
      : '';
  throw new InvalidImageError(
    'over-memory-budget',
    `The ${header.format} image of ${header.width}x${header.height}${scaled} needs an estimated ${mib(estimate.bytes)} of memory, more than the ${mib(budget.mb * MiB)} the process has (${budget.source}): ` +
      `${mib(estimate.baselineBytes)} baseline (${estimate.workers === 1 ? 'encoding in this thread' : `${estimate.workers} encoder threads`})${estimate.sourceBytes >= MiB ? ` + ${mib(estimate.sourceBytes)} for the ${fileBytes.toLocaleString('en-US')}-byte file itself` : ''} + the larger of ` +
      `decoding, ${megapixels.toFixed(1)} MP x ${decode.bytesPerPixel} bytes/pixel for ${decode.kind}${workerRows > 0 ? ` + ${workerRows} of its rows x 4 bytes/pixel and two copies of the file in the encoder thread that decodes them` : ''}${estimate.coefficientBytes > 0 ? ` + ${mib(estimate.coefficientBytes)} of DCT coefficients held at full size for its ${header.layout.scans === 1 ? 'one scan (progressive, or not of every component)' : `${header.layout.scans} scans`}` : ''}${estimate.fileCopyBytes >= MiB ? ` + ${mib(estimate.fileCopyBytes)} for the decoder's ${DECODE_FILE_COPIES[header.format]} ${DECODE_FILE_COPIES[header.format] === 1 ? 'copy' : 'copies'} of the ${fileBytes.toLocaleString('en-US')}-byte file` : ''} = ${mib(decode.bytes)}, ` +
      `and resizing and encoding the variants, ${mib(estimate.processingBytes)}` +
      (estimate.profileBytes > 0
        ? `; + ${mib(estimate.profileBytes)} for Little CMS to read ${header.colour.icc ? `the embedded ICC profile (${header.colour.iccSource}, ${header.colour.icc.length.toLocaleString('en-US')} bytes x ${ICC_PROFILE_BYTES_PER_BYTE})` : ''}${header.colour.icc && header.cmyk ? ' and ' : ''}${header.cmyk ? `the standard CMYK profile (${STANDARD_CMYK_PROFILE_BYTES.toLocaleString('en-US')} bytes x ${ICC_PROFILE_BYTES_PER_BYTE})` : ''}`
        : ''),
    {
      format: header.format,
      width: header.width,
      height: header.height,
      decoded: [decoded.width, decoded.height],
      kind: decode.kind,
      bytesPerPixel: decode.bytesPerPixel,
      estimateBytes: estimate.bytes,
      baselineBytes: estimate.baselineBytes,
      decodeBytes: decode.bytes,
      coefficientBytes: estimate.coefficientBytes,
      fileCopyBytes: estimate.fileCopyBytes,
      sourceBytes: estimate.sourceBytes,
      processingBytes: estimate.processingBytes,
      profileBytes: estimate.profileBytes,
      workers: estimate.workers,
      budgetMb: budget.mb,
      budgetSource: budget.source,
    },
  );
}

/**
 * Refuses a file its decoder cannot hold, whatever memory the process has: the copies of it the
 * decoder makes in its WebAssembly heap alone fill the heap's maximum (codecs/memory.ts
 * DECODER_HEAP_MAX_BYTES, DECODER_HEAP_FILE_COPIES). maxBytes allows 5 GiB; a 1.1 GiB WebP or
 * AVIF, or a 2.1 GiB JPEG, failed in the decoder after its copies were made, and was refused as
 * `corrupt` ("crashed on the file", "out of memory"), which said nothing of its size.
 */
export function checkDecoderHeap(format: InputFormat, fileBytes: number): void {
  const copies = DECODER_HEAP_FILE_COPIES[format];
  const heapBytes = DECODER_HEAP_MAX_BYTES[format];
  if (fileBytes * copies < heapBytes) return;
  const maxFileBytes = Math.ceil(heapBytes / copies) - 1;
  const bytes = (n: number) => n.toLocaleString('en-US');
  throw new InvalidImageError(
    'too-large',
    `The ${format} file is ${bytes(fileBytes)} bytes, more than its decoder can hold: it keeps ${copies === 1 ? 'a copy' : `${copies} copies`} of the file in a WebAssembly heap of at most ${heapBytes / MiB / 1024} GiB, so a ${format} file of at most ${bytes(maxFileBytes)} bytes can be decoded`,
    { format, bytes: fileBytes, maxFileBytes, heapCopies: copies, heapBytes },
  );
}
