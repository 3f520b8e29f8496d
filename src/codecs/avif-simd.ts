import factory, { type AvifSimdModule } from './avif-simd/avif_enc_simd.js';

/**
 * The AVIF encoder built with WebAssembly SIMD (scripts/codecs/avif-simd/build.sh: libaom 3.6.0's
 * SSE2-SSE4.1 intrinsics through emscripten's SIMD headers, libheif 1.15.1 writing the AVIF). It
 * takes jSquash's AVIF options and returns what jSquash's `encode()` returns, so it drops in for
 * `@jsquash/avif/encode.js`: `init(module, overrides)` once, then `encode(image, options)`.
 * `threads` is aom's thread count (this single-threaded build always encodes with one).
 */
export interface AvifEncodeOptions {
  quality: number;
  qualityAlpha: number;
  denoiseLevel: number;
  tileColsLog2: number;
  tileRowsLog2: number;
  speed: number;
  subsample: number;
  chromaDeltaQ: boolean;
  sharpness: number;
  tune: number;
  enableSharpYUV: boolean;
  bitDepth: number;
  lossless: boolean;
}

/** jSquash's defaults (@jsquash/avif meta.js). */
export const DEFAULT_OPTIONS: AvifEncodeOptions = {
  quality: 50,
  qualityAlpha: -1,
  denoiseLevel: 0,
  tileColsLog2: 0,
  tileRowsLog2: 0,
  speed: 6,
  subsample: 1,
  chromaDeltaQ: false,
  sharpness: 0,
  tune: 0,
  enableSharpYUV: false,
  bitDepth: 8,
  lossless: false,
};

let instance: Promise<AvifSimdModule> | undefined;

export function init(module: WebAssembly.Module, overrides: Record<string, unknown> = {}) {
  const instantiateWasm = (imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) => {
    const created = new WebAssembly.Instance(module, imports);
    done(created);
    return created.exports;
  };
  instance = factory({ noInitialRun: true, instantiateWasm, ...overrides });
  return instance;
}

export async function encode(
  image: { data: Uint8ClampedArray | Uint16Array; width: number; height: number },
  options: Partial<AvifEncodeOptions> = {},
): Promise<ArrayBuffer> {
  if (!instance) throw new Error('The SIMD AVIF encoder is not initialised: call init() first');
  const o = { ...DEFAULT_OPTIONS, ...options };
  if (o.bitDepth !== 8 && o.bitDepth !== 10 && o.bitDepth !== 12)
    throw new Error('Invalid bit depth. Supported values are 8, 10, or 12.');
  if (!(image.data instanceof Uint16Array) && o.bitDepth !== 8)
    throw new Error('Invalid image data for bit depth. Must use Uint16Array for bit depths greater than 8.');
  if (o.lossless) Object.assign(o, { quality: 100, qualityAlpha: -1, subsample: 3 });
  const module = await instance;
  const { data } = image;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const output = module.encode(bytes, image.width, image.height, { ...o, threads: 1 });
  if (!output) throw new Error('Encoding error.');
  return output.buffer as ArrayBuffer;
}
