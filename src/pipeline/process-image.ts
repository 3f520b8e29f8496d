import { performance } from 'node:perf_hooks';
import {
  CodecTimeoutError,
  ColourError,
  type DecodeShrink,
  decode,
  decodeCmyk,
  decodeJpegRows,
  decodesJpegRows,
  describeProfile,
  encode,
  type JpegRows,
  NCLX_SOURCE_NAMES,
  type NclxSource,
  nclxProfile,
  type PixelLayout,
  resize,
  SRGB_PRIMARIES,
  srgbTransfer,
  standardCmykProfile,
  toSrgb,
} from '../codecs/index.ts';
import type { FormatOptions, PipelineConfig, Watermark } from '../core/config.ts';
import { describeError, InvalidImageError, invalidSetting } from '../core/errors.ts';
import type { InputFormat, OutputFormat } from '../core/formats.ts';
import { roundMs } from '../core/timing.ts';
import { inspectImage } from '../image/inspect.ts';
import { applyOrientation, swapsAxes } from '../image/orientation.ts';
import { type ImageHeader, probeImage } from '../image/probe.ts';
import { clearInvisible, crop, flatten, hasTransparency, pad, type RawImage } from '../image/raw.ts';
import { boxShrink, boxShrinkPremultiplied, integerShrink } from '../image/shrink.ts';
import { compositeOver, placeMark } from '../image/watermark.ts';
import type { Deadline } from './deadline.ts';
import { checkDecoderHeap, checkMemoryBudget } from './memory-budget.ts';
import { centred, type FormatLimit, planSteps, type Region, type Size, type Step } from './plan.ts';

/**
 * One image through the pipeline, from bytes to encoded variants, with no I/O:
 * sniff -> probe header -> check limits -> plan -> check the memory estimate -> decode once ->
 * resize largest to smallest (orienting the first resize result) -> encode each variant in each of
 * its formats.
 */

export interface EncodeResult {
  readonly bytes: Uint8Array;
  /** Time spent encoding, wherever it ran. */
  readonly ms: number;
}

/** Where encodes run: in this thread, or in a pool of worker threads (encoder-pool.ts). */
export interface Encoder {
  /** An aborted `signal` (the image's deadline) stops the encode if it can and rejects with its reason. */
  encode(
    format: OutputFormat,
    image: RawImage,
    options: FormatOptions,
    signal?: AbortSignal,
  ): Promise<EncodeResult>;
  /** True if encodes run elsewhere: the pipeline keeps resizing while they are in flight. */
  readonly parallel: boolean;
  /** Encodes that can run at once, each with its own codec instances (absent: one). */
  readonly workers?: number;
  /**
   * Rows of a JPEG decoded in another thread (the pool's), so that this thread and a worker share
   * one large decode (decodeInBands). Absent: every decode runs in this thread.
   */
  decodeJpegRows?(
    bytes: Uint8Array,
    shrink: DecodeShrink,
    rows: JpegRows,
    options?: { cmyk?: boolean; signal?: AbortSignal },
  ): Promise<RawImage>;
}

export const inThreadEncoder: Encoder = {
  parallel: false,
  workers: 1,
  async encode(format, image, options, signal) {
    // A running encode holds this thread: the deadline can only stop one before it starts.
    signal?.throwIfAborted();
    const start = performance.now();
    const bytes = await encode(format, image, options);
    return { bytes, ms: performance.now() - start };
  },
};

export interface ImageOutput {
  readonly variant: string;
  readonly format: OutputFormat;
  readonly width: number;
  readonly height: number;
  readonly bytes: Uint8Array;
  /** Set when a format's dimension limit made the variant smaller than configured (plan.ts). */
  readonly limit?: FormatLimit;
}

export interface ImageTimings {
  /** Sniffing and header parsing. */
  probe: number;
  decode: number;
  /** Cropping, resampling, orienting, padding and flattening. */
  resize: number;
  /** Sum of encode times (CPU-bound; can exceed wall time with workers). */
  encode: number;
  /** Wall time of the whole call. */
  total: number;
}

/** What colour management did to one image (recorded in its manifest). */
export interface ColourResult {
  /** The description of the profile the pixels were converted from, when one was. */
  readonly profile?: string;
  /**
   * Where that profile came from: the file (APP2, iCCP, ICCP, colr), a profile made from a HEIF
   * `nclx` colour description (its primaries and transfer), or imgpipe's CMYK default.
   */
  readonly source?: 'APP2' | 'iCCP' | 'ICCP' | 'colr' | 'nclx' | 'default-cmyk';
  /** True when the pixels were converted to sRGB; false when they were taken as sRGB. */
  readonly converted: boolean;
  /** Why a profile, or the file's colour information, was not used. */
  readonly warnings: readonly string[];
}

export interface ProcessedImage {
  readonly header: ImageHeader;
  /** The decoded image had non-opaque pixels. */
  readonly transparent: boolean;
  readonly colour: ColourResult;
  readonly outputs: readonly ImageOutput[];
  readonly timings: ImageTimings;
}

/**
 * `deadline`: the image's time budget (deadline.ts). It is checked before each stage and after the
 * last encode, stops a JPEG or PNG decode that runs past it, and stops encodes running in the
 * pool's threads; past it the image is refused as `too-slow`.
 */
export async function processImage(
  bytes: Uint8Array,
  config: PipelineConfig,
  encoder: Encoder = inThreadEncoder,
  deadline?: Deadline,
): Promise<ProcessedImage> {
  const started = performance.now();
  const timings: ImageTimings = { probe: 0, decode: 0, resize: 0, encode: 0, total: 0 };
  let mark = started;
  const lap = (stage: 'probe' | 'decode' | 'resize') => {
    const now = performance.now();
    timings[stage] += now - mark;
    mark = now;
  };

  // The probe walks the whole file (5 GiB at most): the deadline stops it too.
  const header = inspectImage(
    bytes,
    config.limits,
    config.animation,
    deadline && (() => deadline.check(true)),
  );
  lap('probe');
  checkDecoderHeap(header.format, bytes.length);

  const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, config.variants);
  const lastUse = lastUses(steps);
  const shrink = loadShrink(header, steps);
  const decoded = { width: Math.ceil(header.width / shrink), height: Math.ceil(header.height / shrink) };
  const split = await bandSplit(header, decoded, encoder);
  const workerRows = split === undefined ? 0 : decoded.height - split;
  checkMemoryBudget(
    header,
    decoded,
    steps,
    encoder.workers ?? 1,
    config.limits.memory,
    workerRows,
    bytes.length,
  );
  deadline?.enter('decode');
  const colour = await colourPlan(header);
  let source: RawImage | undefined = await decodeChecked(header, bytes, shrink, deadline, split, encoder);
  if (colour.layout === 'cmyk' || colour.layout === 'cmyk-inverted')
    source = await convertColour(source, colour); // a CMYK image becomes RGBA before anything else
  lap('decode');
  const transparent = header.hasAlpha && hasTransparency(source, pictureArea(source, header));

  const results: (RawImage | undefined)[] = [];
  const outputs: Promise<ImageOutput>[] = [];
  const encodes = new WeakMap<RawImage, Map<OutputFormat, Promise<Uint8Array>>>();
  const marked = new WeakMap<RawImage, RawImage>();
  for (const [index, step] of steps.entries()) {
    deadline?.enter('resize');
    let image: RawImage;
    if (step.from === 'source') {
      image = await fromSource(source!, header, step, config, transparent);
      // An RGB or grey profile is applied to each result made from the source: the small image
      // costs a fraction of the full one (colour.ts explains the order, and what it changes).
      if (colour.layout === 'rgba' || colour.layout === 'gray') image = await convertColour(image, colour);
    } else {
      image = await fromEarlier(results[step.from]!, header, step, config, transparent);
    }
    // The upload's invisible pixels keep no colour (raw.ts clearInvisible): a resized image holds
    // none, one that was not resampled (no larger than its box, a cover crop) the upload's own.
    if (transparent) clearInvisible(image);
    // Padding in a translucent background makes an output transparent where the source was not.
    const padded = step.output !== step.resizeTo;
    // The watermark marks the picture, not the padding around it (contain, a box of another shape).
    const picture = padded ? paddedArea(image, step.output) : undefined;
    if (padded) image = pad(image, step.output.width, step.output.height, config.background);
    const flattens = transparent || (padded && config.background.a < 255);
    results[index] = lastUse.steps.has(index) ? image : undefined;
    // Let the decoded image and intermediates go as soon as no later step needs them.
    if (lastUse.source === index) source = undefined;
    for (const [from, last] of lastUse.steps) if (last === index) results[from] = undefined;
    lap('resize');

    for (const format of step.variant.formats) {
      // Variants that come out identical (an image smaller than several boxes) are encoded once.
      let encoded = encodes.get(image)?.get(format);
      if (!encoded) {
        // The watermark goes over a copy: `image` may still be the base of smaller variants.
        let final = marked.get(image);
        if (!final) {
          final = config.watermark ? await applyWatermark(image, config.watermark, config, picture) : image;
          marked.set(image, final);
        }
        const pixels = format === 'jpeg' && flattens ? flatten(final, config.background) : final;
        lap('resize');
        deadline?.enter('encode');
        encoded = encoder.encode(format, pixels, config.formatOptions, deadline?.signal).then((result) => {
          timings.encode += result.ms;
          return result.bytes;
        });
        encodes.set(image, (encodes.get(image) ?? new Map()).set(format, encoded));
      }
      const size = { width: image.width, height: image.height, ...(step.limit && { limit: step.limit }) };
      const job = encoded.then(
        (bytes): ImageOutput => ({ variant: step.variant.name, format, ...size, bytes }),
      );
      // If this function throws before awaiting it (the deadline, found passed between stages,
      // stops the image's pooled encodes), its rejection is expected: not an unhandled one.
      job.catch(() => undefined);
      outputs.push(job);
      if (!encoder.parallel) {
        await job;
        mark = performance.now();
      }
    }
  }
  const done = await Promise.all(outputs);
  // An encode in this thread cannot be stopped: one that ends past the deadline is refused here.
  deadline?.check();
  timings.total = performance.now() - started;
  for (const key of Object.keys(timings) as (keyof ImageTimings)[]) timings[key] = roundMs(timings[key]);
  return { header, transparent, colour: colour.result(), outputs: done, timings };
}

/**
 * Shrink-on-load, as libvips does it: a JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's
 * scaled IDCT) when every step that reads the decoded image would box-shrink it at least that much
 * anyway. The rest of the reduction then starts from the smaller image.
 */
export function loadShrink(header: ImageHeader, steps: readonly Step[]): DecodeShrink {
  if (header.format !== 'jpeg') return 1;
  let factor = 8;
  for (const step of steps) {
    if (step.from !== 'source') continue;
    factor = Math.min(
      factor,
      integerShrink(step.resizeTo.width / step.region.width),
      integerShrink(step.resizeTo.height / step.region.height),
    );
  }
  return factor >= 8 ? 8 : factor >= 4 ? 4 : factor >= 2 ? 2 : 1;
}

/** Decoded pixels from which a sequential JPEG is decoded in two bands, with an encoder pool. */
export const BAND_DECODE_MIN_PIXELS = 2_000_000;
/**
 * The share of rows this thread decodes; the worker decodes the rest after skipping these (for a
 * sequential JPEG the skip is entropy decoding alone, 40-45% of a decode with our SIMD IDCTs), so
 * the two end together, at 0.6-0.8 of one thread's time (0.5-0.7 measured as the best share).
 */
const TOP_BAND_SHARE = 0.6;

/**
 * The first row the pool's worker decodes, when the decode is shared (decodeInBands): a sequential
 * JPEG (one scan: a progressive one holds every coefficient in each thread, and its entropy
 * decoding, which both threads would do, is most of its work) of at least
 * BAND_DECODE_MIN_PIXELS decoded, with two or more encoder threads. A multiple of 32 rows, an iMCU
 * row boundary at any scale and sampling. (The memory estimate of bench/memory uses it too.)
 */
export function bandSplitRow(header: ImageHeader, decoded: Size, workers: number): number | undefined {
  if (workers < 2 || header.format !== 'jpeg' || header.layout.scans !== 1 || header.layout.coefficientsHeld)
    return undefined;
  if (decoded.width * decoded.height < BAND_DECODE_MIN_PIXELS || decoded.height < 64) return undefined;
  const row = Math.round((decoded.height * TOP_BAND_SHARE) / 32) * 32;
  return Math.min(Math.floor((decoded.height - 1) / 32) * 32, Math.max(32, row));
}

/** bandSplitRow, for an encoder that can decode rows, with our libjpeg-turbo build. */
async function bandSplit(header: ImageHeader, decoded: Size, encoder: Encoder): Promise<number | undefined> {
  if (!encoder.decodeJpegRows) return undefined;
  const row = bandSplitRow(header, decoded, encoder.workers ?? 1);
  return row !== undefined && (await decodesJpegRows()) ? row : undefined;
}

async function decodeChecked(
  header: ImageHeader,
  bytes: Uint8Array,
  shrink: DecodeShrink,
  deadline: Deadline | undefined,
  split: number | undefined,
  encoder: Encoder,
): Promise<RawImage> {
  let image: RawImage;
  try {
    if (split !== undefined) image = await decodeInBands(header, bytes, shrink, split, encoder, deadline);
    else if (header.cmyk) image = await decodeCmyk(bytes, shrink, deadline?.at);
    else image = await decode(header.format as InputFormat, decoderCopy(header, bytes), shrink, deadline?.at);
  } catch (error) {
    if (deadline && error instanceof CodecTimeoutError) throw deadline.exceeded(true);
    throw error;
  }
  const width = Math.ceil(header.width / shrink);
  const height = Math.ceil(header.height / shrink);
  if (image.width !== width || image.height !== height) {
    throw new InvalidImageError(
      'corrupt',
      `The ${header.format} header declares ${header.width}x${header.height} but the image decodes to ${image.width}x${image.height}${shrink > 1 ? ` at 1/${shrink} scale` : ''}`,
      {
        format: header.format,
        declared: [header.width, header.height],
        decoded: [image.width, image.height],
        ...(shrink > 1 && { shrink }),
      },
    );
  }
  return image;
}

/**
 * One JPEG decoded by two threads: rows [0, split) here, straight into the whole image's buffer,
 * and the rest in a pool worker, which skips the rows above its band. The pixels are the same as
 * one decode's (test/unit/codecs/jpeg-turbo.test.ts), and so is a failure: the worker's band reads
 * the whole file, so its failure is the one a whole decode would have had; this thread's counts
 * only when the worker's band decoded.
 */
async function decodeInBands(
  header: ImageHeader,
  bytes: Uint8Array,
  shrink: DecodeShrink,
  split: number,
  encoder: Encoder,
  deadline: Deadline | undefined,
): Promise<RawImage> {
  const width = Math.ceil(header.width / shrink);
  const height = Math.ceil(header.height / shrink);
  const cmyk = header.cmyk !== undefined;
  // Sent first, so that the worker starts while this thread decodes its band.
  const below = encoder.decodeJpegRows!(
    bytes,
    shrink,
    { first: split, count: height - split },
    {
      cmyk,
      ...(deadline && { signal: deadline.signal }),
    },
  ).then(
    (image) => ({ image }),
    (error: unknown) => ({ error }),
  );
  // Not zeroed (64 MB of zeros cost 15-20 ms here): both bands write every byte of it.
  const whole = Buffer.allocUnsafeSlow(width * height * 4);
  const data = new Uint8ClampedArray(whole.buffer, whole.byteOffset, whole.length);
  const above = await decodeJpegRows(
    bytes,
    shrink,
    { first: 0, count: split },
    {
      cmyk,
      into: data.subarray(0, split * width * 4),
      ...(deadline && { deadline: deadline.at }),
    },
  ).then(
    (image) => ({ image }),
    (error: unknown) => ({ error }),
  );
  const bottom = await below;
  if ('error' in bottom) throw bottom.error;
  if ('error' in above) throw above.error;
  if (bottom.image.width !== width || bottom.image.height !== height - split) {
    throw new InvalidImageError(
      'corrupt',
      `The jpeg rows ${split}-${height - 1} decode to ${bottom.image.width}x${bottom.image.height}, not ${width}x${height - split}`,
      { format: 'jpeg', decoded: [bottom.image.width, bottom.image.height], rows: [split, height - split] },
    );
  }
  data.set(bottom.image.data, split * width * 4);
  return { width, height, data };
}

/**
 * Resamples from the decoded image, which is still in stored orientation: the geometry is mapped to
 * stored coordinates, and the (much smaller) result is oriented afterwards. Same pixels as orienting
 * first, without rotating a full-size image.
 */
async function fromSource(
  source: RawImage,
  header: ImageHeader,
  step: Step,
  config: PipelineConfig,
  transparent: boolean,
): Promise<RawImage> {
  const swap = swapsAxes(header.orientation);
  // Regions are centred (or whole), so they stay centred under any orientation. A source decoded
  // smaller (shrink-on-load) holds the same picture at `scale`. The picture is the clean aperture
  // (an AVIF or HEIC `clap`) where there is one: a region of it, from the image decoded whole.
  const scale = source.width / header.width;
  const picture = pictureArea(source, header);
  const w = Math.min(swap ? picture.height : picture.width, Math.round(step.region.width * scale));
  const h = Math.min(swap ? picture.width : picture.height, Math.round(step.region.height * scale));
  const within = swap ? centred(picture, h, w) : centred(picture, w, h);
  const region = { ...within, left: picture.left + within.left, top: picture.top + within.top };
  const size = swap ? { width: step.resizeTo.height, height: step.resizeTo.width } : step.resizeTo;
  const resized = await resample(source, region, size, config, transparent);
  return applyOrientation(resized, header.orientation);
}

async function fromEarlier(
  base: RawImage,
  header: ImageHeader,
  step: Step,
  config: PipelineConfig,
  transparent: boolean,
): Promise<RawImage> {
  // The base is the whole picture, each side rounded on its own (and held at 1 px): its two scales
  // differ, by far more than a pixel's worth on a narrow image (11x1000 made 2x200: the width's
  // scale taken for the height cut 18 of its 200 rows, and the picture's top and bottom with them).
  const scaleX = base.width / header.displayWidth;
  const scaleY = base.height / header.displayHeight;
  const region = centred(
    base,
    Math.min(base.width, Math.round(step.region.width * scaleX)),
    Math.min(base.height, Math.round(step.region.height * scaleY)),
  );
  return resample(base, region, step.resizeTo, config, transparent);
}

/** The watermark's decoded PNG, for the configuration's image (one image per process, in practice). */
let markSource:
  | {
      sha256: string;
      image: Promise<RawImage>;
      sized: Map<string, Promise<RawImage>>;
      /** The RGBA bytes of the sized marks kept. */
      sizedBytes: number;
    }
  | undefined;
/** Sizes kept of the resized mark: upload variants need a few; on-demand results may ask for many. */
const MARK_SIZES_KEPT = 32;
/**
 * The most the resized marks kept take (RGBA bytes), past which they are let go; a mark larger
 * than this is not kept at all. They outlive the image (the memory estimate does not count them):
 * kept by count alone, on-demand results of 32 widths with a mark of `size` 1 held 32 marks of up
 * to maxSize x maxSize pixels (64 MB each at 4000), a container's whole memory.
 */
export const MARK_BYTES_KEPT = 16 * 1024 * 1024;

/** The RGBA bytes of the resized marks this process keeps (at most MARK_BYTES_KEPT). */
export function keptMarkBytes(): number {
  return markSource?.sizedBytes ?? 0;
}

/**
 * The file as its decoder is given it: itself, or at most one copy (the memory estimate counts
 * one). An AVIF without `pixi` gets a rebuilt meta box, in which its clap is already renamed, and
 * its own meta box (with the clap) goes unread.
 */
function decoderCopy(header: ImageHeader, bytes: Uint8Array): Uint8Array {
  if (header.avifPixiMeta) return withAvifPixi(header.avifPixiMeta, bytes);
  if (header.clapOffset !== undefined) return withoutClap(header.clapOffset, header.clapEssentialAt, bytes);
  return pngDecoderCopy(header, bytes);
}

/**
 * An AVIF or HEIC with a clean aperture, as its decoder is given it: a copy whose `clap` box is
 * renamed `free`, so that it decodes the whole coded image (ImageHeader.clapOffset says why), and no
 * longer associated as essential (ImageHeader.clapEssentialAt); the pipeline crops. The source's
 * bytes are never changed.
 */
function withoutClap(clapOffset: number, essentialAt: readonly number[] = [], bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy.set(new TextEncoder().encode('free'), clapOffset + 4);
  for (const at of essentialAt) copy[at] = copy[at]! & 0x7f;
  return copy;
}

/**
 * An AVIF whose AV1 items lack the `pixi` property, as libavif is given it (ImageHeader.avifPixiMeta
 * says why): a copy whose meta box is renamed `free`, the last box's size (the meta box's or an
 * mdat's) written out where it said "to the end of the file", and the meta box with the properties
 * added after the last box (over any bytes too few for a box that follow it). Nothing else moves,
 * so the item locations hold. The source's bytes are never changed.
 */
function withAvifPixi(
  { start, box, toEnd, appendAt: at }: NonNullable<ImageHeader['avifPixiMeta']>,
  bytes: Uint8Array,
): Uint8Array {
  const appendAt = at ?? bytes.length;
  const copy = new Uint8Array(appendAt + box.length);
  copy.set(bytes.subarray(0, appendAt));
  const view = new DataView(copy.buffer);
  if (toEnd !== undefined) view.setUint32(toEnd, appendAt - toEnd);
  copy.set(new TextEncoder().encode('free'), start + 4);
  copy.set(box, appendAt);
  return copy;
}

/**
 * A PNG as its decoder is given it: a copy without the chunks it does not need and may refuse the
 * whole file for (ImageHeader.pngSkippedChunks), and with its palette chunks as Chrome reads them
 * (ImageHeader.pngPaletteChunks). The probe read what we use of the chunks left out; the source's
 * bytes are never changed.
 */
function pngDecoderCopy(header: ImageHeader, bytes: Uint8Array): Uint8Array {
  if (!header.pngSkippedChunks && !header.pngPaletteChunks) return bytes;
  const edits = [
    ...(header.pngSkippedChunks ?? []).map(({ start, end }) => ({ start, end, bytes: new Uint8Array(0) })),
    ...(header.pngPaletteChunks ?? []),
  ].sort((a, b) => a.start - b.start);
  const length = edits.reduce((sum, edit) => sum - (edit.end - edit.start) + edit.bytes.length, bytes.length);
  const copy = new Uint8Array(length);
  let from = 0;
  let to = 0;
  for (const edit of edits) {
    copy.set(bytes.subarray(from, edit.start), to);
    to += edit.start - from;
    copy.set(edit.bytes, to);
    to += edit.bytes.length;
    from = edit.end;
  }
  copy.set(bytes.subarray(from), to);
  return copy;
}

/** The part of the decoded image that is the picture: all of it, or a HEIF clean aperture. */
function pictureArea(source: Size, header: ImageHeader): Region {
  if (!header.crop) return { left: 0, top: 0, width: source.width, height: source.height };
  return header.crop; // AVIF and HEIC are decoded at full size: no scale
}

/** Where `pad` puts an image of `image`'s size in an output of `output`'s: centred. */
function paddedArea(image: Size, output: Size): Region {
  return {
    left: Math.floor((output.width - image.width) / 2),
    top: Math.floor((output.height - image.height) / 2),
    width: image.width,
    height: image.height,
  };
}

/**
 * The watermark's PNG, decoded once per process (the function does it at init). A PNG the decoder
 * refuses is the configuration's fault, not the input's: a ConfigError naming watermark.image, so
 * no image is quarantined as corrupt for it; the next image tries again.
 */
export function loadWatermark(watermark: Watermark): Promise<RawImage> {
  if (markSource?.sha256 !== watermark.sha256) {
    // As an input PNG is decoded: without the chunks the png crate may refuse the file for.
    const png = watermark.png;
    const decoded = (async () => decode('png', pngDecoderCopy(probeImage('png', png), png)))().catch(
      (error: unknown) => {
        throw invalidSetting(
          'watermark.image',
          'a PNG file the decoder reads',
          watermark.image,
          describeError(error),
        );
      },
    );
    markSource = { sha256: watermark.sha256, image: decoded, sized: new Map(), sizedBytes: 0 };
    decoded.catch(() => {
      markSource = undefined;
    });
  }
  return markSource.image;
}

/**
 * `image` with the watermark composited over it (image/watermark.ts), or `image` itself when it is
 * narrower than `minWidth` or too small for the mark's margins. With `picture` (the area of a
 * padded output the resized source fills), the mark is sized and placed within that area, as on
 * the picture alone: on the padding it would mark nothing (a `contain` box of another shape, or
 * larger than the source, gave the whole source unmarked). The PNG is decoded once per process and
 * resized once per size with the configured resampler (premultiplied alpha), in sRGB like the
 * outputs (an ICC profile in the PNG is not applied).
 */
export async function applyWatermark(
  image: RawImage,
  watermark: Watermark,
  config: PipelineConfig,
  picture: Region = { left: 0, top: 0, width: image.width, height: image.height },
): Promise<RawImage> {
  if (picture.width < watermark.minWidth) return image;
  const loading = loadWatermark(watermark);
  const source = markSource!;
  const mark = await loading;
  const place = placeMark(picture, mark, watermark);
  if (!place) return image;
  const sizeKey = `${place.width}x${place.height}`;
  let sized = source.sized.get(sizeKey);
  if (!sized) {
    const full = { left: 0, top: 0, width: mark.width, height: mark.height };
    sized = resample(mark, full, place, config, true);
    const bytes = place.width * place.height * 4;
    if (bytes <= MARK_BYTES_KEPT) {
      if (source.sized.size >= MARK_SIZES_KEPT || source.sizedBytes + bytes > MARK_BYTES_KEPT) {
        source.sized.clear();
        source.sizedBytes = 0;
      }
      source.sized.set(sizeKey, sized);
      source.sizedBytes += bytes;
    }
  }
  return compositeOver(
    image,
    await sized,
    picture.left + place.left,
    picture.top + place.top,
    watermark.opacity,
  );
}

async function resample(
  image: RawImage,
  region: Region,
  size: Size,
  config: PipelineConfig,
  transparent: boolean,
): Promise<RawImage> {
  const cropped = crop(image, region.left, region.top, region.width, region.height);
  if (cropped.width === size.width && cropped.height === size.height) return cropped;
  // Large reductions start with an integer box shrink, as libvips does, so the lanczos step only
  // handles the last factor of two or less. With transparency the box mean is weighted by alpha
  // (a plain mean would bleed the colour of invisible pixels into the edges).
  const fx = integerShrink(size.width / cropped.width);
  const fy = integerShrink(size.height / cropped.height);
  const shrunk = transparent ? boxShrinkPremultiplied(cropped, fx, fy) : boxShrink(cropped, fx, fy);
  if (shrunk.width === size.width && shrunk.height === size.height) return shrunk;
  return resize(shrunk, size.width, size.height, { ...config.resize, premultiply: transparent });
}

function lastUses(steps: readonly Step[]): { source: number; steps: Map<number, number> } {
  let source = -1;
  const uses = new Map<number, number>();
  steps.forEach((step, index) => {
    if (step.from === 'source') source = index;
    else uses.set(step.from, index);
  });
  return { source, steps: uses };
}

// ------------------------------------------------------------------------------------------- colour

/**
 * How an image's colours reach sRGB, decided from its header before decoding:
 *
 * - no profile, and no nclx description or one of sRGB's primaries and curve: the pixels are
 *   sRGB, no transform and no cost;
 * - an nclx description of other primaries or another transfer (Display P3, BT.2020 SDR, a
 *   linear or gamma 2.2 curve): converted through a profile made from it (`codecs/nclx.ts`); one
 *   it cannot describe (HDR's PQ or HLG, reserved code points): taken as sRGB with a warning;
 * - a profile whose description names sRGB ("sRGB IEC61966-2.1", as most cameras embed): the same,
 *   without the transform's cost;
 * - any other RGB profile of an RGB image, or grey profile of a grey one: the pixels are converted
 *   to sRGB (Little CMS, perceptual);
 * - a CMYK or YCCK JPEG: its embedded CMYK profile, or imgpipe's default CMYK profile when it has
 *   none or an unusable one;
 * - a profile Little CMS cannot read, or of another colour space than the pixels: ignored, with a
 *   warning in the manifest; never a failure.
 */
interface ColourPlan {
  readonly layout?: PixelLayout;
  icc?: Uint8Array;
  profile?: string;
  source?: ColourResult['source'];
  /** Where a made profile's code points were read (`source` 'nclx'), for its warnings. */
  nclxSource?: NclxSource;
  readonly warnings: string[];
  converted: boolean;
  result(): ColourResult;
}

const SRGB_DESCRIPTIONS = /^(sRGB|sRGB IEC61966-2[.-]1|sRGB built-in|sRGB IEC61966-2\.1 \(lcms internal\))$/i;

async function colourPlan(header: ImageHeader): Promise<ColourPlan> {
  const { icc, iccSource, nclx } = header.colour;
  const plan: ColourPlan = {
    warnings: [...header.colour.warnings],
    converted: false,
    result() {
      return {
        ...(this.profile !== undefined && { profile: this.profile }),
        ...(this.source && { source: this.source }),
        converted: this.converted,
        warnings: this.warnings,
      };
    },
  };
  const describe = async (profile: Uint8Array) => {
    try {
      return await describeProfile(profile);
    } catch (error) {
      if (!(error instanceof ColourError)) throw error;
      plan.warnings.push(
        `The embedded ICC profile (${iccSource}) cannot be used: ${error.message}; it was ignored`,
      );
      return undefined;
    }
  };
  if (header.cmyk) {
    const layout: PixelLayout = header.cmyk.inverted ? 'cmyk-inverted' : 'cmyk';
    const info = icc && (await describe(icc));
    if (icc && info && info.space === 'CMYK')
      return Object.assign(plan, { layout, icc, profile: info.description, source: iccSource });
    if (info)
      plan.warnings.push(`The embedded ICC profile describes ${info.space}, not CMYK; it was ignored`);
    const standard = await standardCmykProfile();
    const standardInfo = await describeProfile(standard);
    return Object.assign(plan, {
      layout,
      icc: standard,
      profile: standardInfo.description,
      source: 'default-cmyk',
    });
  }
  // Code points: a HEIF's when it embeds no profile; a PNG's cICP chunk before its iCCP profile (PNG
  // third edition), which is the fallback where the code points describe what is not converted.
  if (nclx && (!icc || header.colour.nclxSource === 'cicp')) {
    const gray = header.layout.channels <= 2;
    if ((gray || SRGB_PRIMARIES.has(nclx.primaries)) && srgbTransfer(nclx.transfer)) return plan;
    const from = header.colour.nclxSource ?? 'colr';
    const made = nclxProfile(nclx.primaries, nclx.transfer, gray, from);
    if ('unsupported' in made) {
      plan.warnings.push(
        `${made.unsupported}: ${icc ? 'the iCCP profile is used' : 'the image is taken as sRGB'}`,
      );
      if (!icc) return plan;
    } else {
      return Object.assign(plan, {
        layout: gray ? 'gray' : 'rgba',
        icc: made.icc,
        profile: made.description,
        source: 'nclx',
        nclxSource: from,
      });
    }
  }
  if (!icc) return plan;
  const info = await describe(icc);
  if (!info) return plan;
  plan.profile = info.description;
  plan.source = iccSource;
  // A grey profile fits grey pixels (1 or 2 channels, alpha included), an RGB profile colour
  // ones: Little CMS reads one channel through a grey profile, so an RGB image would turn grey.
  const space = header.layout.channels <= 2 ? 'GRAY' : 'RGB';
  if (info.space !== space) {
    plan.warnings.push(
      `The embedded ICC profile describes ${info.space}, not the image's ${space}; it was ignored`,
    );
    return plan;
  }
  if (info.space === 'RGB' && SRGB_DESCRIPTIONS.test(info.description)) return plan;
  return Object.assign(plan, { layout: info.space === 'GRAY' ? 'gray' : 'rgba', icc });
}

/** The pixels in sRGB through the plan's profile; as they were, with a warning, if it fails. */
async function convertColour(image: RawImage, plan: ColourPlan): Promise<RawImage> {
  if (!plan.layout || !plan.icc) return image;
  try {
    const converted = await toSrgb(image, plan.icc, plan.layout);
    plan.converted = true;
    return converted;
  } catch (error) {
    if (!(error instanceof ColourError)) throw error;
    if (plan.source !== 'default-cmyk' && (plan.layout === 'cmyk' || plan.layout === 'cmyk-inverted')) {
      // The embedded CMYK profile opened but gives no transform: the default one does.
      plan.warnings.push(
        `The embedded ICC profile cannot be used: ${error.message}; the default CMYK profile was`,
      );
      plan.icc = await standardCmykProfile();
      plan.source = 'default-cmyk';
      plan.profile = (await describeProfile(plan.icc)).description;
      return convertColour(image, plan);
    }
    // A profile built from code points (an nclx box's, or the bitstream's): the file embeds none.
    const what =
      plan.source === 'nclx'
        ? `The colour the ${NCLX_SOURCE_NAMES[plan.nclxSource ?? 'colr']} describes (${plan.profile})`
        : 'The embedded ICC profile';
    plan.warnings.push(`${what} cannot be used: ${error.message}; the image is taken as sRGB`);
    plan.icc = undefined;
    return image;
  }
}
