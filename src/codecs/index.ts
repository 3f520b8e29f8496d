import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as avifDecoder from '@jsquash/avif/decode.js';
import * as avifEncoder from '@jsquash/avif/encode.js';
import * as jpegEncoder from '@jsquash/jpeg/encode.js';
import * as pngModule from '@jsquash/png/codec/pkg/squoosh_png.js';
import * as png from '@jsquash/png/index.js';
import * as webpDecoder from '@jsquash/webp/decode.js';
import * as webpEncoder from '@jsquash/webp/encode.js';
import type { FormatOptions, ResizeMethod } from '../config/pipeline.ts';
import { InvalidImageError } from '../errors.ts';
import type { RawImage } from '../image/raw.ts';
import type { InputFormat, OutputFormat } from './formats.ts';
import { TurboJpeg, TurboJpegError, type TurboJpegImage } from './jpeg-turbo.ts';
import { PngDecoder } from './png-decoder.ts';
import { compileWasm, ensureImageData, type WasmName } from './wasm.ts';

/**
 * The codec surface the pipeline uses: decode, resize, encode, over jSquash's WASM builds. Each
 * thread has one instance of each codec, created from a module compiled once (wasm.ts).
 *
 * The emscripten codecs report failures on stderr and then abort; we capture that text so the
 * rejection names the decoder's own reason ("Premature end of JPEG file"), and we start the codec
 * over from its compiled module, so a corrupt file cannot leave state behind for the next one.
 */

ensureImageData();

type EmscriptenInit = (module: WebAssembly.Module, overrides: Record<string, unknown>) => Promise<unknown>;
type Decoder = (bytes: Uint8Array) => Promise<RawImage | null>;

interface EmscriptenCodec {
  wasm: WasmName;
  init: EmscriptenInit;
  ready?: Promise<void>;
  /** Lines the codec printed to stderr during the current call. */
  messages: string[];
  /** The instance's linear memory, which only ever grows. */
  memory?: WebAssembly.Memory;
}

/**
 * A WASM heap never shrinks: after a 16 MP decode the decoder keeps ~100 MB for the life of the
 * process. A codec whose heap has grown past this is replaced by a fresh instance after the call,
 * so the old heap can be collected. Instantiating a compiled module again takes milliseconds.
 */
export const HEAP_RELEASE_BYTES = 48 * 1024 * 1024;

function emscripten(wasm: WasmName, init: unknown): EmscriptenCodec {
  return { wasm, init: init as EmscriptenInit, messages: [] };
}

const CODECS = {
  jpegEnc: emscripten('jpegEnc', jpegEncoder.init),
  webpDec: emscripten('webpDec', webpDecoder.init),
  webpEnc: emscripten('webpEnc', webpEncoder.init),
  avifDec: emscripten('avifDec', avifDecoder.init),
  avifEnc: emscripten('avifEnc', avifEncoder.init),
};
type CodecName = keyof typeof CODECS;

function start(codec: EmscriptenCodec): Promise<void> {
  codec.ready = compileWasm(codec.wasm).then(async (module) => {
    const capture = (line: string) => {
      codec.messages.push(String(line));
    };
    // Instantiate ourselves (jSquash lets overrides replace its own instantiateWasm) to keep a
    // handle on the heap. init() stores the instantiation inside jSquash; awaiting it is enough.
    const instantiateWasm = (
      imports: WebAssembly.Imports,
      done: (instance: WebAssembly.Instance) => void,
    ) => {
      const instance = new WebAssembly.Instance(module, imports);
      codec.memory = findMemory(instance.exports) ?? Object.values(imports).map(findMemory).find(Boolean);
      done(instance);
      return instance.exports;
    };
    await codec.init(module, { print: capture, printErr: capture, instantiateWasm });
  });
  return codec.ready;
}

function findMemory(values: object | undefined): WebAssembly.Memory | undefined {
  return Object.values(values ?? {}).find(
    (value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory,
  );
}

/** Current heap size of each instantiated emscripten codec, for tests and diagnostics. */
export function codecHeapBytes(): Partial<Record<CodecName | 'resize' | 'jpegTurbo' | 'pngDec', number>> {
  const sizes: Partial<Record<CodecName | 'resize' | 'jpegTurbo' | 'pngDec', number>> = {};
  for (const [name, codec] of Object.entries(CODECS) as [CodecName, EmscriptenCodec][]) {
    if (codec.memory) sizes[name] = codec.memory.buffer.byteLength;
  }
  if (resizer) sizes.resize = resizer.heapBytes();
  if (turboInstance) sizes.jpegTurbo = turboInstance.heapBytes();
  if (pngInstance) sizes.pngDec = pngInstance.heapBytes();
  return sizes;
}

/**
 * Replaces the codec's instance if its heap has grown past HEAP_RELEASE_BYTES, then collects
 * garbage so the old heap is returned now: otherwise, in an encoder thread that allocates little
 * JavaScript, dropped heaps wait for a collection that comes late, and peak RSS creeps up by
 * hundreds of megabytes over a few large images. Only large images pay for the collection.
 */
async function releaseIfLarge(codec: EmscriptenCodec): Promise<void> {
  if ((codec.memory?.buffer.byteLength ?? 0) > HEAP_RELEASE_BYTES) {
    codec.memory = undefined;
    await start(codec);
    collectGarbage();
  }
}

/** An instance we create ourselves (TurboJPEG, the PNG decoder, the resampler): same rule as above. */
interface OwnInstance {
  heapBytes(): number;
  restart(): void;
}

function releaseIfGrown(instance: OwnInstance): void {
  if (instance.heapBytes() > HEAP_RELEASE_BYTES) {
    instance.restart();
    collectGarbage();
  }
}

let gc: (() => void) | undefined;
function collectGarbage(): void {
  // V8's collector without starting Node with --expose-gc (which Lambda's runtime does not pass):
  // enable the flag at run time, then fetch the gc function from a fresh context.
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

async function ready(codec: EmscriptenCodec): Promise<void> {
  await (codec.ready ?? start(codec));
  codec.messages.length = 0;
}

let wasmBindgenReady: Promise<void> | undefined;
function readyWasmBindgen(): Promise<void> {
  wasmBindgenReady ??= Promise.all([compileWasm('png'), compileWasm('resize')]).then(
    ([pngWasm, resizeWasm]) => {
      pngModule.initSync(pngWasm);
      resizer = new Resizer(resizeWasm);
    },
  );
  return wasmBindgenReady;
}

/** Compiles and instantiates the codecs a configuration needs, so the first image does not pay for it. */
export async function warmUp(formats: readonly OutputFormat[]): Promise<void> {
  const names: CodecName[] = ['webpDec', 'avifDec'];
  for (const format of formats) if (format !== 'png') names.push(`${format}Enc`);
  await Promise.all([...names.map((name) => ready(CODECS[name])), readyWasmBindgen(), startTurbo()]);
}

// ------------------------------------------------------------------------------------------- decode

/** JPEG goes through TurboJPEG (decodeJpeg, below); these are jSquash's. */
const DECODERS: Record<Exclude<InputFormat, 'jpeg'>, { codec?: EmscriptenCodec; decode: Decoder }> = {
  webp: { codec: CODECS.webpDec, decode: (b) => webpDecoder.default(b as never) as never },
  avif: { codec: CODECS.avifDec, decode: (b) => avifDecoder.default(b as never, { bitDepth: 8 }) as never },
  png: { decode: (b) => decodePng(b) },
};

let pngDecoder: Promise<PngDecoder> | undefined;
let pngInstance: PngDecoder | undefined;

/** PNG on an instance of our own (png-decoder.ts), replaced after a large image or a failure. */
async function decodePng(bytes: Uint8Array): Promise<RawImage> {
  pngDecoder ??= compileWasm('png').then((module) => {
    pngInstance = new PngDecoder(module);
    return pngInstance;
  });
  const decoder = await pngDecoder;
  try {
    return decoder.decode(bytes);
  } catch (error) {
    decoder.restart();
    throw error;
  } finally {
    releaseIfGrown(decoder);
  }
}

/** Scale factors a decoder can apply while decoding (JPEG only: libjpeg's scaled IDCT). */
export type DecodeShrink = 1 | 2 | 4 | 8;

/**
 * Decodes to 8-bit RGBA in stored orientation (orientation is applied by the pipeline, after the
 * first resize, where it is cheaper). 16-bit PNG and 10/12-bit AVIF are reduced to 8 bits.
 *
 * `shrink` asks for 1/shrink of the size, each side rounded up; JPEG honours it in the DCT domain
 * (shrink-on-load), the other formats decode at full size. Check the returned size.
 */
export async function decode(
  format: InputFormat,
  bytes: Uint8Array,
  shrink: DecodeShrink = 1,
): Promise<RawImage> {
  if (format === 'jpeg') return decodeJpeg(bytes, shrink);
  const { codec, decode: run } = DECODERS[format];
  if (codec) await ready(codec);
  else await readyWasmBindgen();
  let image: RawImage | null;
  try {
    image = await run(bytes);
  } catch (error) {
    const said = codec?.messages.join('; ').trim();
    if (codec) start(codec); // a fresh instance for the next image
    const reason = /premature end|unexpected end|truncated/i.test(said ?? '') ? 'truncated' : 'corrupt';
    throw new InvalidImageError(
      reason,
      `The ${format} decoder rejected the file: ${said || (error as Error).message}`,
      { format, decoder: said || (error as Error).message },
      { cause: error },
    );
  }
  if (!image) throw new InvalidImageError('corrupt', `The ${format} decoder returned no image`, { format });
  if (codec) await releaseIfLarge(codec);
  return { width: image.width, height: image.height, data: image.data };
}

let turbo: Promise<TurboJpeg> | undefined;
let turboInstance: TurboJpeg | undefined;
function startTurbo(): Promise<TurboJpeg> {
  turbo ??= compileWasm('jpegTurbo').then((module) => {
    turboInstance = new TurboJpeg(module);
    return turboInstance;
  });
  return turbo;
}

/**
 * JPEG through TurboJPEG (jpeg-turbo.ts). Arithmetic-coded JPEG (rare; neither this build nor
 * jSquash's MozJPEG decoder has the arithmetic decoder) is refused as an unsupported format.
 */
async function decodeJpeg(bytes: Uint8Array, shrink: DecodeShrink): Promise<RawImage> {
  const decoder = await startTurbo();
  let image: TurboJpegImage;
  try {
    image = decoder.decode(bytes, shrink);
  } catch (error) {
    if (!(error instanceof TurboJpegError)) throw error;
    if (/arithmetic coding is not implemented/i.test(error.message))
      throw new InvalidImageError(
        'unsupported-format',
        `Arithmetic-coded JPEG is not supported: the WASM JPEG decoder was built without it (${error.message})`,
        { format: 'jpeg', coding: 'arithmetic', decoder: error.message },
        { cause: error },
      );
    throw jpegError(error.message, error);
  }
  // libjpeg only warns about damaged scan data and fills in what it could not read; a variant made
  // from that would be silently garbled, so a warning of that kind rejects the file. TurboJPEG
  // keeps the first warning's text, as libjpeg prints only the first.
  if (image.warning && !/extraneous bytes/i.test(image.warning)) throw jpegError(image.warning);
  releaseIfGrown(decoder);
  return { width: image.width, height: image.height, data: image.data };
}

function jpegError(said: string, cause?: Error): InvalidImageError {
  const reason = /premature end|unexpected end|truncated/i.test(said) ? 'truncated' : 'corrupt';
  return new InvalidImageError(
    reason,
    `The jpeg decoder ${cause ? 'rejected the file' : 'found damaged image data'}: ${said}`,
    { format: 'jpeg', decoder: said },
    cause ? { cause } : undefined,
  );
}

// ------------------------------------------------------------------------------------------- encode

const ENCODERS: Record<
  OutputFormat,
  { codec?: EmscriptenCodec; run(pixels: RawImage, options: FormatOptions): Promise<ArrayBuffer> }
> = {
  jpeg: {
    codec: CODECS.jpegEnc,
    run: (pixels, { jpeg: o }) =>
      jpegEncoder.default(pixels as never, {
        quality: o.quality,
        progressive: o.progressive,
        baseline: !o.progressive,
        optimize_coding: true,
        auto_subsample: o.chromaSubsampling === '4:2:0',
        chroma_subsample: o.chromaSubsampling === '4:2:0' ? 2 : 1,
      }),
  },
  webp: {
    codec: CODECS.webpEnc,
    run: (pixels, { webp: o }) =>
      webpEncoder.default(pixels as never, {
        quality: o.quality,
        method: o.effort,
        lossless: o.lossless ? 1 : 0,
      }),
  },
  avif: {
    codec: CODECS.avifEnc,
    run: (pixels, { avif: o }) =>
      avifEncoder.default(pixels as never, {
        quality: o.quality,
        speed: o.speed,
        subsample: o.chromaSubsampling === '4:2:0' ? 1 : 3,
      }),
  },
  png: { run: (pixels) => png.encode(pixels as never) },
};

/** Encodes RGBA pixels. The result carries no metadata: these encoders write none. */
export async function encode(
  format: OutputFormat,
  image: RawImage,
  options: FormatOptions,
): Promise<Uint8Array> {
  const { codec, run } = ENCODERS[format];
  if (codec) await ready(codec);
  else await readyWasmBindgen();
  const out = new Uint8Array(await run(exact(image), options));
  if (codec) await releaseIfLarge(codec);
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

const RESIZE_METHOD_INDEX: Record<ResizeMethod, number> = {
  triangle: 0,
  catrom: 1,
  mitchell: 2,
  lanczos3: 3,
};

export interface ResizeCall {
  readonly method: ResizeMethod;
  readonly linearRGB: boolean;
  /** Resample with premultiplied alpha; only needed (and only worth its cost) when there is alpha. */
  readonly premultiply: boolean;
}

/** Resamples to exactly width x height (the caller keeps the aspect ratio). */
export async function resize(
  image: RawImage,
  width: number,
  height: number,
  call: ResizeCall,
): Promise<RawImage> {
  await readyWasmBindgen();
  const input = new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const data = resizer!.resize(input, image.width, image.height, width, height, call);
  releaseIfGrown(resizer!);
  return { width, height, data };
}

let resizer: Resizer | undefined;

/**
 * @jsquash/resize's Rust resampler, called through its one export. Not through @jsquash/resize's
 * default export, which reads `data.buffer` whole (wrong for views) and crops by rewriting its
 * input in place; and not through its wasm-bindgen glue either, which keeps a single instance per
 * process: a lanczos pass from a 16 MP photo grows that heap to ~60 MB (input, float intermediate
 * and output), which would then stay resident beside every later decode. Owning the instance lets
 * it be replaced like the emscripten codecs' (releaseIfLarge). The calling convention below is the
 * one wasm-bindgen generated for this build: a 16-byte return slot on the shadow stack holding the
 * output's pointer and length, the input copied in with __wbindgen_malloc.
 */
class Resizer {
  readonly #module: WebAssembly.Module;
  #exports!: ResizeExports;
  constructor(module: WebAssembly.Module) {
    this.#module = module;
    this.restart();
  }

  restart(): void {
    this.#exports = new WebAssembly.Instance(this.#module, { wbg: {} }).exports as unknown as ResizeExports;
  }

  heapBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  resize(input: Uint8Array, inW: number, inH: number, outW: number, outH: number, call: ResizeCall) {
    const wasm = this.#exports;
    const slot = wasm.__wbindgen_add_to_stack_pointer(-16);
    try {
      const at = wasm.__wbindgen_malloc(input.length, 1) >>> 0;
      new Uint8Array(wasm.memory.buffer).set(input, at);
      wasm.resize(
        slot,
        at,
        input.length,
        inW,
        inH,
        outW,
        outH,
        RESIZE_METHOD_INDEX[call.method],
        call.premultiply ? 1 : 0,
        call.linearRGB ? 1 : 0,
      );
      const [ptr, len] = new Int32Array(wasm.memory.buffer, slot, 2);
      const output = new Uint8ClampedArray(wasm.memory.buffer, ptr! >>> 0, len!).slice();
      wasm.__wbindgen_free(ptr!, len!, 1);
      return output;
    } finally {
      wasm.__wbindgen_add_to_stack_pointer(16);
    }
  }
}

interface ResizeExports {
  readonly memory: WebAssembly.Memory;
  __wbindgen_add_to_stack_pointer(delta: number): number;
  __wbindgen_malloc(size: number, align: number): number;
  __wbindgen_free(ptr: number, size: number, align: number): void;
  resize(
    slot: number,
    input: number,
    length: number,
    inW: number,
    inH: number,
    outW: number,
    outH: number,
    method: number,
    premultiply: number,
    linearRGB: number,
  ): void;
}
