import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED } from '../core/runtime.ts';

/**
 * The jSquash codecs ship browser glue that fetch()es its .wasm, which Node cannot do for file
 * paths. We read each file ourselves, compile it once per process (per worker thread) and hand the
 * WebAssembly.Module to the codec's init(). Compiling is the expensive part (tens of ms for AVIF);
 * instantiating a compiled module again is cheap, which lets a codec start over after a failure.
 */
export const WASM_FILES = {
  // libjpeg-turbo's TurboJPEG (jpeg-turbo.ts): it decodes JPEG at full size or smaller (shrink-on-load).
  // Built by scripts/codecs/jpeg-turbo/build.sh with WebAssembly SIMD IDCTs and colour conversion.
  jpegTurbo: './jpeg-turbo/turbojpeg.wasm',
  // @cwasm's scalar build of the same decoder (same pixels for valid files): the fallback where SIMD is missing.
  jpegTurboScalar: '@cwasm/jpeg-turbo/jpeg-turbo.wasm',
  jpegEnc: '@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm',
  png: '@jsquash/png/codec/pkg/squoosh_png_bg.wasm',
  webpDec: '@jsquash/webp/codec/dec/webp_dec.wasm',
  // libwebp's SIMD build; jSquash picks the matching glue when WebAssembly SIMD is available, as in Node >= 16.
  webpEnc: '@jsquash/webp/codec/enc/webp_enc_simd.wasm',
  avifDec: '@jsquash/avif/codec/dec/avif_dec.wasm',
  // libaom with WebAssembly SIMD and libheif, built by scripts/codecs/avif-simd/build.sh (avif-simd.ts).
  avifEnc: './avif-simd/avif_enc_simd.wasm',
  // jSquash's single-threaded AVIF encoder: the fallback where WebAssembly SIMD is missing.
  avifEncScalar: '@jsquash/avif/codec/enc/avif_enc.wasm',
  // Pillow's resampler with WebAssembly SIMD loops, built by scripts/codecs/resample/build.sh
  // (resample.ts): opaque images in sRGB. jSquash's resize (float) does alpha and linear light.
  resample: './resample/resample.wasm',
  resize: '@jsquash/resize/lib/resize/pkg/squoosh_resize_bg.wasm',
  // libheif with libde265 (HEIC), LGPL-3.0: its own file, replaceable in the image (heif.ts).
  heif: 'libheif-js/libheif-wasm/libheif.wasm',
  // Little CMS 2 (colour.ts).
  lcms: 'lcms-wasm/dist/lcms.wasm',
} as const;
export type WasmName = keyof typeof WASM_FILES;

/**
 * Data files the codecs read at run time, beside the .wasm files in the image: the CMYK profile
 * applied to a CMYK JPEG that embeds none (colour/PROVENANCE.md), and the scripts the AVIF
 * encoder's threads start from.
 */
export const DATA_FILES = {
  cmykProfile: './colour/cmyk-fogra39.icc',
  // The AVIF encoder's emscripten glue and pthread worker (avif-simd.ts): each aom thread is a
  // worker_threads Worker that runs the worker script, which evaluates the glue file itself.
  avifEncGlue: './avif-simd/avif_enc_simd.cjs',
  avifEncWorker: './avif-simd/avif_enc_simd.worker.cjs',
} as const;
export type DataName = keyof typeof DATA_FILES;

/** The path of a data file: in this folder, or in ./wasm beside the bundle. */
export function dataPath(name: DataName): string {
  const specifier = DATA_FILES[name];
  if (BUNDLED) return fileURLToPath(new URL(`./wasm/${basename(specifier)}`, import.meta.url));
  return fileURLToPath(new URL(specifier, import.meta.url));
}

const data = new Map<DataName, Promise<Uint8Array>>();

/** A data file's bytes, read once per thread. */
export function readData(name: DataName): Promise<Uint8Array> {
  let bytes = data.get(name);
  if (!bytes) {
    const path = dataPath(name);
    bytes = readFile(path).then(
      (buffer) => new Uint8Array(buffer),
      (error: Error) => {
        throw new Error(`Cannot read the codecs' ${name} from ${path}: ${error.message}`, { cause: error });
      },
    );
    data.set(name, bytes);
  }
  return bytes;
}

/**
 * Codecs left out of the Lambda image: jSquash's scalar AVIF encoder (3.3 MiB) and @cwasm's scalar
 * JPEG decoder are the fallbacks for engines without WebAssembly SIMD, and the image's Node 24
 * always has it. Leaving them out keeps the artifact under 15 MB with the HEIC decoder and the
 * colour engine in it. Run from node_modules (the CLI, the tests), every codec is there.
 */
export const NOT_IN_IMAGE: readonly WasmName[] = ['avifEncScalar', 'jpegTurboScalar'];

/**
 * The file of a codec: from node_modules (or, for `./` paths, from this folder), or from ./wasm
 * beside the bundle (scripts/build.ts).
 */
export function wasmPath(name: WasmName): string {
  const specifier: string = WASM_FILES[name];
  if (BUNDLED) return fileURLToPath(new URL(`./wasm/${basename(specifier)}`, import.meta.url));
  if (specifier.startsWith('./')) return fileURLToPath(new URL(specifier, import.meta.url));
  return fileURLToPath(import.meta.resolve(specifier));
}

/**
 * Whether this engine runs WebAssembly SIMD (Node 16.4 and later do): the smallest module using a
 * v128 instruction, as wasm-feature-detect tests it.
 */
export const WASM_SIMD = WebAssembly.validate(
  new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98,
    11,
  ]),
);

const compiled = new Map<WasmName, Promise<WebAssembly.Module>>();

export function compileWasm(name: WasmName): Promise<WebAssembly.Module> {
  let module = compiled.get(name);
  if (!module && BUNDLED && NOT_IN_IMAGE.includes(name))
    return Promise.reject(
      new Error(
        `The ${name} codec is not in the image (wasm.ts NOT_IN_IMAGE): this engine lacks WebAssembly SIMD`,
      ),
    );
  if (!module) {
    const path = wasmPath(name);
    module = readFile(path).then(
      (bytes) => WebAssembly.compile(bytes),
      (error: Error) => {
        throw new Error(`Cannot read the ${name} codec from ${path}: ${error.message}`, { cause: error });
      },
    );
    compiled.set(name, module);
  }
  return module;
}

/** Node has no ImageData; the codecs construct and return it, and @jsquash/resize expects it. */
export function ensureImageData(): void {
  if (typeof globalThis.ImageData === 'function') return;
  class ImageDataPolyfill {
    readonly data: Uint8ClampedArray;
    readonly width: number;
    readonly height: number;
    readonly colorSpace = 'srgb';
    constructor(data: Uint8ClampedArray, width: number, height?: number) {
      this.data = data;
      this.width = width;
      this.height = height ?? data.length / 4 / width;
    }
  }
  Object.defineProperty(globalThis, 'ImageData', {
    value: ImageDataPolyfill,
    writable: true,
    configurable: true,
  });
}
