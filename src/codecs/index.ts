import * as avifDecoder from '@jsquash/avif/decode.js';
import * as jsquashAvifEncoder from '@jsquash/avif/encode.js';
import * as jpegEncoder from '@jsquash/jpeg/encode.js';
import * as pngModule from '@jsquash/png/codec/pkg/squoosh_png.js';
import * as png from '@jsquash/png/index.js';
import * as webpDecoder from '@jsquash/webp/decode.js';
import * as webpEncoder from '@jsquash/webp/encode.js';
import type { FormatOptions } from '../core/config.ts';
import { CodecError, describeError, InvalidImageError, type InvalidReason } from '../core/errors.ts';
import type { InputFormat, OutputFormat } from '../core/formats.ts';
import type { RawImage } from '../image/raw.ts';
import { dropsUnflaggedAlpha, firstWebpFrame } from '../image/webp-frame.ts';
import * as simdAvifEncoder from './avif-simd.ts';
import { ColourEngine, ColourError, type PixelLayout, type ProfileInfo } from './colour.ts';
import { EmscriptenCodec } from './emscripten.ts';
import { decodeGifFirstFrame, GifError } from './gif.ts';
import { HeifDecoder, HeifError } from './heif.ts';
import { heapSizes, lazyInstance, register, releaseIfGrown, replace } from './instances.ts';
import { type JpegRows, TurboJpeg, TurboJpegError } from './jpeg-turbo.ts';
import { diagnosePng } from './png-check.ts';
import { PngDecoder } from './png-decoder.ts';
import { SimdResampler } from './resample.ts';
import { type ResizeCall, Resizer } from './resizer.ts';
import { compileWasm, ensureImageData, readData, WASM_SIMD } from './wasm.ts';
import { CodecTimeoutError, runUntil } from './watchdog.ts';

export type { PixelLayout, ProfileInfo, ProfileSpace } from './colour.ts';
export { ColourError, LAYOUT_SPACE } from './colour.ts';
export { HEAP_RELEASE_BYTES } from './instances.ts';
export type { JpegRows } from './jpeg-turbo.ts';
export type { ResizeCall } from './resizer.ts';
export { CodecTimeoutError } from './watchdog.ts';

/**
 * The codec surface the pipeline uses: decode, resize, encode. Each is a table from format to the
 * codec that does it; the instances and their heaps are instances.ts's business.
 *
 * Failures are handled here, once for every codec: whatever a call throws (an Error, a WebAssembly
 * trap, emscripten's abort() or exit(), a bare number or object) becomes an error with a readable
 * message (core/errors.ts describeError), and the instance that failed is replaced by a fresh one
 * before the error leaves, so no state of a failed call reaches the next image: its outputs are
 * byte-identical to a fresh process's. A decoder's failure is an InvalidImageError naming the
 * decoder's own reason (the file is quarantined); an encoder's or the resampler's is a CodecError.
 */

ensureImageData();

const codec = {
  jpegEnc: register('jpegEnc', new EmscriptenCodec('jpegEnc', jpegEncoder.init)),
  webpDec: register('webpDec', new EmscriptenCodec('webpDec', webpDecoder.init)),
  webpEnc: register('webpEnc', new EmscriptenCodec('webpEnc', webpEncoder.init)),
  avifDec: register('avifDec', new EmscriptenCodec('avifDec', avifDecoder.init)),
  avifEnc: register(
    'avifEnc',
    new EmscriptenCodec('avifEnc', simdAvifEncoder.init, {
      releaseBytes: simdAvifEncoder.AVIF_HEAP_RELEASE_BYTES,
    }),
  ),
  avifEncScalar: register('avifEncScalar', new EmscriptenCodec('avifEncScalar', jsquashAvifEncoder.init)),
};
const jpegTurbo = lazyInstance(
  'jpegTurbo',
  async () => new TurboJpeg(await compileWasm(WASM_SIMD ? 'jpegTurbo' : 'jpegTurboScalar')),
);
const pngDecoder = lazyInstance('pngDec', async () => new PngDecoder(await compileWasm('png')));
const resizer = lazyInstance('resize', async () => new Resizer(await compileWasm('resize')));
const resampler = lazyInstance('resample', async () => new SimdResampler(await compileWasm('resample')));
const heifDecoder = lazyInstance('heifDec', async () => new HeifDecoder(await compileWasm('heif')));
const colourEngine = lazyInstance('lcms', async () => {
  const engine = new ColourEngine(await compileWasm('lcms'));
  await engine.ready();
  return engine;
});
// jSquash's PNG encoder keeps its wasm-bindgen instance to itself (it only writes small outputs).
let pngEncoderReady: Promise<void> | undefined;
const pngEncoder = () => {
  pngEncoderReady ??= compileWasm('png').then((module) => void pngModule.initSync(module));
  return pngEncoderReady;
};

/** Current heap size of each started codec instance in this thread, for tests and diagnostics. */
export function codecHeapBytes(): Record<string, number> {
  return heapSizes();
}

/** Compiles and instantiates the codecs a configuration needs, so the first image does not pay for it. */
export async function warmUp(formats: readonly OutputFormat[]): Promise<void> {
  const encoders = formats.map((format) => ENCODERS[format].codec?.ready() ?? pngEncoder());
  await Promise.all([
    codec.webpDec.ready(),
    codec.avifDec.ready(),
    jpegTurbo(),
    resampler(),
    resizer(),
    pngEncoder(),
    ...encoders,
  ]);
}

// ------------------------------------------------------------------------------------------- decode

/** Scale factors a decoder can apply while decoding (JPEG only: libjpeg's scaled IDCT). */
export type DecodeShrink = 1 | 2 | 4 | 8;

const DECODERS: Record<
  InputFormat,
  (bytes: Uint8Array, shrink: DecodeShrink, deadline?: number) => Promise<RawImage>
> = {
  jpeg: decodeJpeg,
  png: decodePng,
  webp: decodeWebp,
  avif: (bytes) =>
    decodeEmscripten('avif', codec.avifDec, () => avifDecoder.default(bytes as never, { bitDepth: 8 })),
  heic: decodeHeic,
  gif: decodeGif,
};

/**
 * Decodes to 8-bit RGBA in stored orientation (orientation is applied by the pipeline, after the
 * first resize, where it is cheaper), in the file's own colour space (toSrgb converts). 16-bit PNG
 * and 10/12-bit AVIF and HEIC are reduced to 8 bits. HEIC: the primary image; GIF and animated
 * formats: the first frame. A CMYK JPEG is decodeCmyk's.
 *
 * `shrink` asks for 1/shrink of the size, each side rounded up; JPEG honours it in the DCT domain
 * (shrink-on-load), the other formats decode at full size. Check the returned size.
 *
 * `deadline` (a performance.now() time): a JPEG or PNG decode still running then is stopped
 * (watchdog.ts) with a CodecTimeoutError, and its instance replaced. Those two decoders are
 * synchronous calls into instances of our own; jSquash's WebP and AVIF decoders run behind its
 * asynchronous glue, out of the watchdog's reach, and take time in proportion to the pixels.
 */
export function decode(
  format: InputFormat,
  bytes: Uint8Array,
  shrink: DecodeShrink = 1,
  deadline?: number,
): Promise<RawImage> {
  return DECODERS[format](bytes, shrink, deadline);
}

async function decodeEmscripten(
  format: InputFormat,
  decoder: EmscriptenCodec,
  run: () => Promise<ImageData | null>,
): Promise<RawImage> {
  await decoder.ready();
  let image: ImageData | null;
  try {
    image = await run();
  } catch (error) {
    const said = decoder.said();
    await decoder.restart(); // a fresh instance for the next image
    throw decodeFailure(format, error, said);
  }
  if (!image) throw new InvalidImageError('corrupt', `The ${format} decoder returned no image`, { format });
  await releaseIfGrown(decoder);
  return { width: image.width, height: image.height, data: image.data };
}

/**
 * WebP through jSquash's libwebp decoder, which reads still images: an animated WebP's first frame
 * is cut out as a still WebP (image/webp-frame.ts) and placed on its transparent canvas.
 */
async function decodeWebp(bytes: Uint8Array): Promise<RawImage> {
  const frame = firstWebpFrame(bytes);
  const still = frame?.still ?? bytes;
  const image = await decodeEmscripten('webp', codec.webpDec, () => webpDecoder.default(still as never));
  if (!frame) {
    // Its ALPH chunk unflagged: opaque, as Chrome shows it (image/webp-frame.ts dropsUnflaggedAlpha).
    if (dropsUnflaggedAlpha(bytes)) for (let at = 3; at < image.data.length; at += 4) image.data[at] = 255;
    return image;
  }
  if (image.width !== frame.width || image.height !== frame.height)
    throw new InvalidImageError(
      'corrupt',
      `The webp file's first frame declares ${frame.width}x${frame.height} but decodes to ${image.width}x${image.height}`,
      { format: 'webp', declared: [frame.width, frame.height], decoded: [image.width, image.height] },
    );
  if (frame.x + frame.width > frame.canvas.width || frame.y + frame.height > frame.canvas.height)
    throw new InvalidImageError(
      'corrupt',
      `The webp file's first frame (${frame.width}x${frame.height} at ${frame.x},${frame.y}) does not fit its ${frame.canvas.width}x${frame.canvas.height} canvas`,
      { format: 'webp' },
    );
  return place(image, frame.canvas.width, frame.canvas.height, frame.x, frame.y);
}

/** An image on a transparent canvas, its top-left corner at x, y. */
function place(image: RawImage, width: number, height: number, x: number, y: number): RawImage {
  if (image.width === width && image.height === height) return image;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let row = 0; row < image.height; row++)
    data.set(
      image.data.subarray(row * image.width * 4, (row + 1) * image.width * 4),
      ((y + row) * width + x) * 4,
    );
  return { width, height, data };
}

/** PNG on an instance of our own (png-decoder.ts), replaced after a large image or a failure. */
async function decodePng(bytes: Uint8Array, _shrink: DecodeShrink, deadline?: number): Promise<RawImage> {
  const decoder = await pngDecoder();
  try {
    return runUntil(deadline, 'png decode', () => decoder.decode(bytes));
  } catch (error) {
    if (error instanceof CodecTimeoutError) {
      await replace(decoder);
      throw error;
    }
    // Its heap, which may hold the whole image, is given back before the diagnosis reads the data.
    await replace(decoder);
    // The glue's refusal says only "`unwrap_throw` failed": name the fault ourselves (png-check.ts).
    throw decodeFailure('png', error, isCrash(error) ? '' : ((await diagnosePng(bytes)) ?? ''));
  } finally {
    await releaseIfGrown(decoder);
  }
}

/**
 * JPEG through TurboJPEG (jpeg-turbo.ts). Arithmetic-coded JPEG (rare; neither this build nor
 * jSquash's MozJPEG decoder has the arithmetic decoder) is refused as an unsupported format.
 */
async function decodeJpeg(
  bytes: Uint8Array,
  shrink: DecodeShrink,
  deadline?: number,
  cmyk = false,
  rows?: JpegRows,
  into?: Uint8ClampedArray,
): Promise<RawImage> {
  const decoder = await jpegTurbo();
  let image: ReturnType<TurboJpeg['decode']>;
  try {
    image = runUntil(deadline, 'jpeg decode', () => decoder.decode(bytes, shrink, cmyk, rows, into));
  } catch (error) {
    if (error instanceof CodecTimeoutError) {
      // Stopped mid-call, its finally blocks skipped: a fresh instance for the next image.
      await replace(decoder);
      throw error;
    }
    // Rows or a target that do not fit the image: the caller's mistake, not the file's.
    if (error instanceof RangeError) throw error;
    // Any other failure: TurboJpeg has already replaced its instance (jpeg-turbo.ts).
    if (!(error instanceof TurboJpegError)) throw decodeFailure('jpeg', error);
    if (/arithmetic coding is not implemented/i.test(error.message))
      throw new InvalidImageError(
        'unsupported-format',
        `Arithmetic-coded JPEG is not supported: the WASM JPEG decoder was built without it (${error.message})`,
        { format: 'jpeg', coding: 'arithmetic', decoder: error.message },
        { cause: error },
      );
    throw rejection('jpeg', error.message, reasonOf(error.message), error);
  }
  // libjpeg only warns about damaged scan data and fills in what it could not read; a variant made
  // from that would be silently garbled, so a warning of that kind rejects the file. TurboJPEG
  // keeps the first warning's text, as libjpeg prints only the first.
  if (image.warning && !/extraneous bytes/i.test(image.warning))
    throw rejection('jpeg', image.warning, reasonOf(image.warning));
  await releaseIfGrown(decoder);
  return { width: image.width, height: image.height, data: image.data };
}

/**
 * Rows [first, first + count) of a JPEG decoded at 1/`shrink` (RGBA, or CMYK with `cmyk`): the
 * bytes of those rows of decode()'s image, with the same errors; so two threads can each decode a
 * band of one image (pipeline/process-image.ts). A damaged file fails in the band that reads past
 * the damage: the bottom band reads the whole file, the top one stops after its last row.
 * `into`: where to write the pixels (a band's view of the whole image), instead of a new array.
 */
export async function decodeJpegRows(
  bytes: Uint8Array,
  shrink: DecodeShrink,
  rows: JpegRows,
  options: { deadline?: number; cmyk?: boolean; into?: Uint8ClampedArray } = {},
): Promise<RawImage> {
  return decodeJpeg(bytes, shrink, options.deadline, options.cmyk, rows, options.into);
}

/** True where decodeJpegRows works: our libjpeg-turbo build (WebAssembly SIMD), not the fallback. */
export async function decodesJpegRows(): Promise<boolean> {
  return (await jpegTurbo()).decodesRows;
}

/**
 * A CMYK or YCCK JPEG to its CMYK values (four bytes a pixel in RawImage's RGBA slots, as stored:
 * Adobe-inverted or not), for toSrgb with a CMYK profile. Shrink-on-load and the deadline as decode.
 */
export async function decodeCmyk(
  bytes: Uint8Array,
  shrink: DecodeShrink = 1,
  deadline?: number,
): Promise<RawImage> {
  return decodeJpeg(bytes, shrink, deadline, true);
}

/**
 * HEIC/HEIF through libheif (heif.ts), on an instance of our own: a synchronous call, so the
 * watchdog can stop it at the deadline, as it does JPEG and PNG.
 */
async function decodeHeic(bytes: Uint8Array, _shrink: DecodeShrink, deadline?: number): Promise<RawImage> {
  const decoder = await heifDecoder();
  try {
    return runUntil(deadline, 'heic decode', () => decoder.decode(bytes));
  } catch (error) {
    if (error instanceof CodecTimeoutError) {
      await replace(decoder);
      throw error;
    }
    if (error instanceof HeifError) throw rejection('heic', error.message, reasonOf(error.message), error);
    const said = decoder.said();
    decoder.restart(); // a trap leaves libheif's heap in an unknown state
    throw decodeFailure('heic', error, said);
  } finally {
    await releaseIfGrown(decoder);
  }
}

/** GIF's first frame (gif.ts): plain JavaScript, under the watchdog like the WASM decoders. */
async function decodeGif(bytes: Uint8Array, _shrink: DecodeShrink, deadline?: number): Promise<RawImage> {
  try {
    return decodeGifFirstFrame(bytes, (call) => runUntil(deadline, 'gif decode', call));
  } catch (error) {
    if (error instanceof CodecTimeoutError) throw error;
    if (error instanceof GifError) throw rejection('gif', error.message, reasonOf(error.message), error);
    throw decodeFailure('gif', error);
  }
}

// ------------------------------------------------------------------------------------------- colour

/**
 * What Little CMS makes of an embedded profile (its colour space and description). Throws
 * ColourError when it cannot read it, whatever the reason (a trap included: the instance is
 * replaced): an unusable profile is the caller's warning, never the image's failure.
 */
export async function describeProfile(icc: Uint8Array): Promise<ProfileInfo> {
  return withColourEngine((engine) => engine.describe(icc));
}

/**
 * The image's pixels, described by the ICC profile `icc` and laid out as `layout` says, converted
 * to sRGB (rendering intent perceptual), as a new RGBA image. Throws ColourError when the profile
 * cannot be used; the caller then keeps the pixels as they are, with a warning.
 */
export async function toSrgb(image: RawImage, icc: Uint8Array, layout: PixelLayout): Promise<RawImage> {
  return withColourEngine((engine) => engine.toSrgb(image, icc, layout));
}

export {
  NCLX_SOURCE_NAMES,
  type NclxProfile,
  type NclxSource,
  nclxProfile,
  SRGB_PRIMARIES,
  srgbTransfer,
} from './nclx.ts';

/** The CMYK profile for a CMYK JPEG that embeds none (colour/PROVENANCE.md). */
export function standardCmykProfile(): Promise<Uint8Array> {
  return readData('cmykProfile');
}

async function withColourEngine<T>(use: (engine: ColourEngine) => T): Promise<T> {
  const engine = await colourEngine();
  try {
    return use(engine);
  } catch (error) {
    if (error instanceof ColourError) throw error;
    // A trap on a hostile profile: a fresh instance, and the profile is unusable.
    await engine.restart();
    throw new ColourError(`Little CMS failed on the profile: ${failureText(error)}`, { cause: error });
  } finally {
    await releaseIfGrown(engine);
  }
}

/**
 * A decoder call that threw: a crash (a WebAssembly trap, emscripten's abort() or exit()) on this
 * file, or the decoder refusing it, in its own words (`said`: what it printed) or else the error's.
 */
function decodeFailure(format: InputFormat, error: unknown, said = ''): InvalidImageError {
  if (isCrash(error)) {
    const what = failureText(error, said);
    return new InvalidImageError(
      'corrupt',
      `The ${format} decoder crashed on the file: ${what}`,
      { format, decoder: what, crashed: true },
      { cause: error },
    );
  }
  const text = said || (error instanceof Error ? error.message || error.name : describeError(error));
  return rejection(format, text, reasonOf(text), error);
}

/**
 * A WebAssembly trap (`unreachable`, which is also how a Rust panic or allocation failure ends, an
 * out-of-bounds access, emscripten's abort()) or emscripten's exit(), which throws an ExitStatus.
 */
function isCrash(error: unknown): boolean {
  if (error instanceof WebAssembly.RuntimeError) return true;
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'ExitStatus';
}

/** A failed call in words: what the codec printed, then what it threw, a trap named as one. */
function failureText(error: unknown, said = ''): string {
  const thrown =
    error instanceof WebAssembly.RuntimeError ? `WebAssembly trap: ${error.message}` : describeError(error);
  return said ? `${said} (${thrown})` : thrown;
}

/** What a decoder's own words say about the file: cut short, or otherwise broken. */
function reasonOf(said: string): InvalidReason {
  return /premature end|unexpected end|truncated/i.test(said) ? 'truncated' : 'corrupt';
}

/** A decoder refused the file (`cause` set), or decoded it with damage it could only paper over. */
function rejection(format: InputFormat, said: string, reason: InvalidReason, cause?: unknown) {
  const verb = cause === undefined ? 'found damaged image data' : 'rejected the file';
  return new InvalidImageError(
    reason,
    `The ${format} decoder ${verb}: ${said}`,
    { format, decoder: said },
    cause === undefined ? undefined : { cause },
  );
}

// ------------------------------------------------------------------------------------------- encode

const ENCODERS: Record<
  OutputFormat,
  { codec?: EmscriptenCodec; run(pixels: RawImage, options: FormatOptions): Promise<ArrayBuffer> }
> = {
  jpeg: {
    codec: codec.jpegEnc,
    run: (pixels, { jpeg: o }) =>
      jpegEncoder.default(pixels as never, {
        quality: o.quality,
        progressive: o.progressive,
        baseline: !o.progressive,
        optimize_coding: true,
        // MozJPEG's auto_subsample picks its own factors (4:2:2 for colour) and ignores
        // chroma_subsample: off, so the file has the subsampling the configuration names.
        auto_subsample: false,
        chroma_subsample: o.chromaSubsampling === '4:2:0' ? 2 : 1,
      }),
  },
  webp: {
    codec: codec.webpEnc,
    run: (pixels, { webp: o }) =>
      webpEncoder.default(pixels as never, {
        quality: o.quality,
        method: o.effort,
        lossless: o.lossless ? 1 : 0,
      }),
  },
  // libaom built with WebAssembly SIMD (avif-simd.ts); jSquash's scalar build where SIMD is missing.
  avif: WASM_SIMD
    ? { codec: codec.avifEnc, run: (pixels, { avif: o }) => simdAvifEncoder.encode(pixels, avifOptions(o)) }
    : {
        codec: codec.avifEncScalar,
        run: (pixels, { avif: o }) => jsquashAvifEncoder.default(pixels as never, avifOptions(o)),
      },
  png: { run: (pixels) => png.encode(pixels as never) },
};

/** jSquash's AVIF options for ours; tune 0 (auto) is SSIM at quality 50 and above. */
function avifOptions(o: FormatOptions['avif']) {
  return { quality: o.quality, speed: o.speed, subsample: o.chromaSubsampling === '4:2:0' ? 1 : 3 };
}

/** Encodes RGBA pixels. The result carries no metadata: these encoders write none. */
export async function encode(
  format: OutputFormat,
  image: RawImage,
  options: FormatOptions,
): Promise<Uint8Array> {
  const { codec: encoder, run } = ENCODERS[format];
  await (encoder?.ready() ?? pngEncoder());
  let out: Uint8Array;
  try {
    out = new Uint8Array(await run(exact(image), options));
  } catch (error) {
    const said = encoder?.said() ?? '';
    // A fresh instance for the next image (jSquash's PNG encoder is instantiated again by initSync).
    if (encoder) await encoder.restart();
    else pngEncoderReady = undefined;
    const what = failureText(error, said);
    throw new CodecError(
      'encode',
      `The ${format} encoder failed on ${image.width}x${image.height} pixels: ${what}`,
      { format, width: image.width, height: image.height, encoder: what },
      { cause: error },
    );
  }
  if (encoder) await releaseIfGrown(encoder);
  return out;
}

/**
 * Some jSquash encoders read `data.buffer` whole, ignoring the view's offset: give them an image
 * whose pixels start at byte 0 of their own buffer (a copy only when the input is a view).
 */
function exact(image: RawImage): RawImage {
  const { data } = image;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return image;
  return { width: image.width, height: image.height, data: new Uint8ClampedArray(data) };
}

// ------------------------------------------------------------------------------------------- resize

/**
 * Resamples to exactly width x height (the caller keeps the aspect ratio). Opaque images in sRGB
 * (the default) go through Pillow's resampler with SIMD loops (resample.ts), 3-4x faster than
 * jSquash's float one, which does premultiplied alpha and linear light (resizer.ts).
 */
export async function resize(
  image: RawImage,
  width: number,
  height: number,
  call: ResizeCall,
): Promise<RawImage> {
  const pillow = !call.premultiply && !call.linearRGB && WASM_SIMD;
  const instance = pillow ? await resampler() : await resizer();
  const input = new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  let data: Uint8ClampedArray;
  try {
    data =
      instance instanceof SimdResampler
        ? instance.resize(input, image.width, image.height, width, height, call.method)
        : instance.resize(input, image.width, image.height, width, height, call);
  } catch (error) {
    instance.restart(); // a trap leaves the instance's stack and allocator in an unknown state
    throw new CodecError(
      'resize',
      `Resampling ${image.width}x${image.height} to ${width}x${height} (${call.method}) failed: ${failureText(error)}`,
      { from: [image.width, image.height], to: [width, height], method: call.method },
      { cause: error },
    );
  }
  await releaseIfGrown(instance);
  return { width, height, data };
}
