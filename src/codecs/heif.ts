// libheif-js's emscripten glue (CommonJS). The default entry of the package is a 3 MB asm.js
// build; this file is the glue of its WebAssembly build, whose .wasm wasm.ts compiles once per thread.
import libheif from 'libheif-js/libheif-wasm/libheif.js';
import type { RawImage } from '../image/raw.ts';
import type { CodecInstance } from './instances.ts';

/**
 * HEIC/HEIF decoding with libheif (and libde265 for HEVC), from libheif-js's WebAssembly build
 * (LGPL-3.0: the module stays its own file, wasm/libheif.wasm, replaceable in the image).
 *
 * We call libheif's C API ourselves, as we do TurboJPEG's: the package's JavaScript wrapper decodes
 * every top-level image through a canvas-style callback; we want the primary image only, in stored
 * orientation (the pipeline applies `irot`/`imir` from the header probe, as for AVIF), and the
 * errors in libheif's own words. Functions that return a `struct heif_error` take a pointer to
 * its 12 bytes first (the wasm32 C ABI): { code, subcode, message }.
 *
 * Auxiliary images: the alpha plane of the primary image is decoded into RGBA by libheif; depth
 * maps, thumbnails, gain maps and any other item are never decoded. 10- and 12-bit images are
 * decoded to 16 bits a sample and reduced to 8 here, rounding (v * 255 / max), not truncating.
 * An image whose colour is premultiplied by its alpha (a `prem` reference to the alpha item,
 * ISO/IEC 23008-12 6.6.2.1) is given back with straight alpha, as the pipeline and the other
 * decoders (libavif) give it: libheif hands over the premultiplied values as stored.
 */

const HEIF_COLORSPACE_RGB = 1;
const HEIF_CHROMA_INTERLEAVED_RGBA = 11;
const HEIF_CHROMA_INTERLEAVED_RRGGBBAA_LE = 15;
const HEIF_CHANNEL_INTERLEAVED = 10;
/** struct heif_decoding_options: byte 0 is its version, byte 1 `ignore_transformations`. */
const OPTION_IGNORE_TRANSFORMATIONS = 1;

/** libheif refused the file, in its own words ("Invalid input: No 'ftyp' box"). */
export class HeifError extends Error {
  override readonly name = 'HeifError';
}

interface HeifModule {
  _malloc(size: number): number;
  _free(ptr: number): void;
  _heif_get_version(): number;
  _heif_context_alloc(): number;
  _heif_context_free(ctx: number): void;
  _heif_context_read_from_memory_without_copy(
    err: number,
    ctx: number,
    data: number,
    size: number,
    options: number,
  ): void;
  _heif_context_get_primary_image_handle(err: number, ctx: number, handle: number): void;
  _heif_image_handle_get_luma_bits_per_pixel(handle: number): number;
  _heif_image_handle_has_alpha_channel(handle: number): number;
  _heif_image_handle_is_premultiplied_alpha(handle: number): number;
  _heif_image_handle_release(handle: number): void;
  _heif_decoding_options_alloc(): number;
  _heif_decoding_options_free(options: number): void;
  _heif_decode_image(
    err: number,
    handle: number,
    image: number,
    colorspace: number,
    chroma: number,
    options: number,
  ): void;
  _heif_image_get_width(image: number, channel: number): number;
  _heif_image_get_height(image: number, channel: number): number;
  _heif_image_get_bits_per_pixel_range(image: number, channel: number): number;
  _heif_image_get_plane_readonly(image: number, channel: number, stride: number): number;
  _heif_image_get_decoding_warnings(image: number, first: number, warnings: number, max: number): number;
  _heif_image_release(image: number): void;
}

type Factory = (overrides: Record<string, unknown>) => HeifModule;

export class HeifDecoder implements CodecInstance {
  readonly #module: WebAssembly.Module;
  #heif!: HeifModule;
  #memory!: WebAssembly.Memory;
  /** What libheif printed during the current call (it rarely does). */
  readonly #messages: string[] = [];

  constructor(module: WebAssembly.Module) {
    this.#module = module;
    this.restart();
  }

  /** A fresh instance: after a failure, or to give back a heap that grew. */
  restart(): void {
    const capture = (line: unknown) => void this.#messages.push(String(line));
    // The glue instantiates synchronously when instantiateWasm calls back at once.
    this.#heif = (libheif as unknown as Factory)({
      print: capture,
      printErr: capture,
      instantiateWasm: (imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) => {
        const instance = new WebAssembly.Instance(this.#module, imports);
        this.#memory = Object.values(instance.exports).find(
          (value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory,
        )!;
        done(instance);
        return instance.exports;
      },
    });
    if (!this.#memory) throw new Error('libheif-js did not instantiate its WebAssembly module');
  }

  heapBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  memory(): WebAssembly.Memory {
    return this.#memory;
  }

  /** libheif's version, e.g. "1.23.2". */
  version(): string {
    return this.#string(this.#heif._heif_get_version());
  }

  /** What libheif printed since the last call began. */
  said(): string {
    return this.#messages.join('; ').trim();
  }

  /**
   * The primary image as 8-bit RGBA, in stored orientation. Throws HeifError with libheif's text
   * when it refuses the file; anything else (a trap) is the caller's to handle. The instance is
   * left as it was after a HeifError (every allocation is released); after anything else, the
   * caller restarts it.
   */
  decode(bytes: Uint8Array): RawImage {
    const x = this.#heif;
    this.#messages.length = 0;
    const scratch = x._malloc(32); // heif_error (12 bytes), two out-pointers, the stride
    const err = scratch;
    const out = scratch + 16;
    const stride = scratch + 24;
    const input = x._malloc(bytes.length);
    const context = x._heif_context_alloc();
    const options = x._heif_decoding_options_alloc();
    let handle = 0;
    let image = 0;
    try {
      if (!scratch || !input || !context || !options)
        throw new HeifError('out of memory in the HEIF decoder');
      new Uint8Array(this.#memory.buffer, input, bytes.length).set(bytes);
      x._heif_context_read_from_memory_without_copy(err, context, input, bytes.length, 0);
      this.#check(err);
      x._heif_context_get_primary_image_handle(err, context, out);
      this.#check(err);
      handle = this.#i32(out);
      const deep = x._heif_image_handle_get_luma_bits_per_pixel(handle) > 8;
      const premultiplied =
        x._heif_image_handle_has_alpha_channel(handle) !== 0 &&
        x._heif_image_handle_is_premultiplied_alpha(handle) !== 0;
      new Uint8Array(this.#memory.buffer)[options + OPTION_IGNORE_TRANSFORMATIONS] = 1;
      const chroma = deep ? HEIF_CHROMA_INTERLEAVED_RRGGBBAA_LE : HEIF_CHROMA_INTERLEAVED_RGBA;
      x._heif_decode_image(err, handle, out, HEIF_COLORSPACE_RGB, chroma, options);
      this.#check(err);
      image = this.#i32(out);
      // Warnings are what libheif could only paper over (a missing grid tile): the variant would be
      // silently damaged, so they reject the file, as libjpeg's do.
      if (x._heif_image_get_decoding_warnings(image, 0, err, 1) > 0)
        throw new HeifError(`damaged image data: ${this.#errorText(err)}`);
      const width = x._heif_image_get_width(image, HEIF_CHANNEL_INTERLEAVED);
      const height = x._heif_image_get_height(image, HEIF_CHANNEL_INTERLEAVED);
      const plane = x._heif_image_get_plane_readonly(image, HEIF_CHANNEL_INTERLEAVED, stride);
      if (!plane || width <= 0 || height <= 0) throw new HeifError('the decoded image has no pixels');
      const rowBytes = this.#i32(stride);
      const data = deep
        ? reduceTo8Bits(
            this.#memory,
            plane,
            rowBytes,
            width,
            height,
            x._heif_image_get_bits_per_pixel_range(image, HEIF_CHANNEL_INTERLEAVED),
            premultiplied,
          )
        : copyRows(this.#memory, plane, rowBytes, width, height);
      if (premultiplied && !deep) unpremultiply(data);
      return { width, height, data };
    } finally {
      if (image) x._heif_image_release(image);
      if (handle) x._heif_image_handle_release(handle);
      if (options) x._heif_decoding_options_free(options);
      if (context) x._heif_context_free(context);
      if (input) x._free(input);
      if (scratch) x._free(scratch);
    }
  }

  #check(err: number): void {
    if (this.#i32(err) !== 0) throw new HeifError(this.#errorText(err));
  }

  #errorText(err: number): string {
    const [code, subcode, message] = new Int32Array(this.#memory.buffer, err, 3) as unknown as [
      number,
      number,
      number,
    ];
    const text = message ? this.#string(message) : '';
    return text || `libheif error ${code}.${subcode}`;
  }

  #i32(ptr: number): number {
    return new Int32Array(this.#memory.buffer, ptr, 1)[0]!;
  }

  #string(ptr: number): string {
    const heap = new Uint8Array(this.#memory.buffer);
    let end = ptr;
    while (end < heap.length && heap[end] !== 0 && end - ptr < 500) end++;
    return Buffer.from(heap.subarray(ptr, end)).toString('utf8');
  }
}

function copyRows(
  memory: WebAssembly.Memory,
  plane: number,
  stride: number,
  width: number,
  height: number,
): Uint8ClampedArray {
  const data = new Uint8ClampedArray(width * height * 4);
  const heap = new Uint8Array(memory.buffer);
  for (let y = 0; y < height; y++)
    data.set(heap.subarray(plane + y * stride, plane + y * stride + width * 4), y * width * 4);
  return data;
}

/**
 * Straight alpha from premultiplied 8-bit RGBA, in place: each colour value times 255 / alpha,
 * rounded, at most 255 (as libavif unpremultiplies); a fully transparent pixel has no colour.
 */
function unpremultiply(data: Uint8ClampedArray): void {
  for (let i = 0; i < data.length; i += 4) {
    const alpha = data[i + 3]!;
    if (alpha === 255) continue;
    for (let c = i; c < i + 3; c++)
      data[c] = alpha === 0 ? 0 : Math.min(255, Math.round((data[c]! * 255) / alpha));
  }
}

/**
 * 16-bit little-endian samples holding `bits`-bit values, to 8 bits: round(v * 255 / (2^bits - 1)).
 * With `premultiplied`, colour is divided by alpha at full depth first: round(v * 255 / alpha).
 */
function reduceTo8Bits(
  memory: WebAssembly.Memory,
  plane: number,
  stride: number,
  width: number,
  height: number,
  bits: number,
  premultiplied: boolean,
): Uint8ClampedArray {
  const max = 2 ** bits - 1;
  const table = new Uint8Array(max + 1);
  for (let v = 0; v <= max; v++) table[v] = Math.round((v * 255) / max);
  const data = new Uint8ClampedArray(width * height * 4);
  const view = new DataView(memory.buffer);
  let at = 0;
  for (let y = 0; y < height; y++) {
    const row = plane + y * stride;
    if (!premultiplied) {
      for (let x = 0; x < width * 4; x++) data[at++] = table[view.getUint16(row + x * 2, true) & max]!;
      continue;
    }
    for (let x = 0; x < width * 4; x += 4, at += 4) {
      const alpha = view.getUint16(row + x * 2 + 6, true) & max;
      data[at + 3] = table[alpha]!;
      for (let c = 0; c < 3; c++) {
        const value = view.getUint16(row + (x + c) * 2, true) & max;
        data[at + c] =
          alpha === max ? table[value]! : alpha === 0 ? 0 : Math.min(255, Math.round((value * 255) / alpha));
      }
    }
  }
  return data;
}
