import { instantiate } from 'lcms-wasm';
import type { RawImage } from '../image/raw.ts';
import type { CodecInstance } from './instances.ts';

/**
 * Colour management with Little CMS 2, from lcms-wasm's WebAssembly build (MIT): an embedded ICC
 * profile's pixels to sRGB, rendering intent perceptual (for matrix/TRC profiles, which have no
 * perceptual table, Little CMS uses their colorimetric transform: out-of-gamut colours are clipped
 * per channel, so Display P3's pure red becomes sRGB's pure red).
 *
 * We call Little CMS's exported C functions ourselves on an instance of our own (lcms-wasm's
 * JavaScript wrapper copies every call's pixels through `ccall` arrays), in slices of
 * SLICE_PIXELS so the heap stays small whatever the image's size.
 */

/** Little CMS pixel formats (lcms2.h: COLORSPACE_SH(pt) | EXTRA_SH(e) | CHANNELS_SH(c) | BYTES_SH(1)). */
const format = (space: number, channels: number, extra = 0, flavour = 0) =>
  (space << 16) | (flavour << 13) | (extra << 7) | (channels << 3) | 1;
const PT_GRAY = 3;
const PT_RGB = 4;
const PT_CMYK = 6;
const TYPE_RGB_8 = format(PT_RGB, 3);
const TYPE_GRAY_8 = format(PT_GRAY, 1);
const INTENT_PERCEPTUAL = 0;
/** lcms2.h: evaluate the transform's whole pipeline, without its precalculated tables. */
const cmsFLAGS_NOOPTIMIZE = 0x0100;
const SIGNATURES: Readonly<Record<number, ProfileSpace>> = {
  1380401696: 'RGB', // 'RGB '
  1196573017: 'GRAY', // 'GRAY'
  1129142603: 'CMYK', // 'CMYK'
};
const SLICE_PIXELS = 1 << 18;

export type ProfileSpace = 'RGB' | 'GRAY' | 'CMYK';

/**
 * How the pixels given to `toSrgb` are laid out, four bytes a pixel: RGBA; grey replicated in RGB
 * with alpha (how the decoders hand over a greyscale image); CMYK; or CMYK stored inverted (0 is
 * full ink), as Adobe's applications write CMYK JPEG.
 */
export type PixelLayout = 'rgba' | 'gray' | 'cmyk' | 'cmyk-inverted';

/** The colour space a layout's pixels need their profile to describe. */
export const LAYOUT_SPACE: Readonly<Record<PixelLayout, ProfileSpace>> = {
  rgba: 'RGB',
  gray: 'GRAY',
  cmyk: 'CMYK',
  'cmyk-inverted': 'CMYK',
};

const INPUT_FORMATS: Readonly<Record<PixelLayout, number>> = {
  rgba: format(PT_RGB, 3, 1),
  gray: format(PT_GRAY, 1, 3),
  cmyk: format(PT_CMYK, 4),
  'cmyk-inverted': format(PT_CMYK, 4, 0, 1),
};

/** What Little CMS makes of a profile: its colour space and description. */
export interface ProfileInfo {
  /** The colour space of the device side, or the ICC signature when it is another (e.g. 'Lab '). */
  readonly space: ProfileSpace | string;
  /** The profile's description tag ("Display P3"), empty when it has none. */
  readonly description: string;
}

/** Little CMS could not open the profile, or cannot transform from it. */
export class ColourError extends Error {
  override readonly name = 'ColourError';
}

interface LcmsExports {
  _malloc(size: number): number;
  _free(ptr: number): void;
  _cmsOpenProfileFromMem(data: number, size: number): number;
  _cmsCloseProfile(profile: number): number;
  _cmsCreate_sRGBProfile(): number;
  _cmsGetColorSpace(profile: number): number;
  _cmsGetProfileInfoASCII(
    profile: number,
    info: number,
    language: number,
    country: number,
    buffer: number,
    size: number,
  ): number;
  _cmsCreateTransform(
    input: number,
    inputFormat: number,
    output: number,
    outputFormat: number,
    intent: number,
    flags: number,
  ): number;
  _cmsDeleteTransform(transform: number): void;
  _cmsDoTransform(transform: number, input: number, output: number, pixels: number): void;
}

export class ColourEngine implements CodecInstance {
  readonly #module: WebAssembly.Module;
  #lcms?: LcmsExports;
  #memory?: WebAssembly.Memory;
  #ready?: Promise<void>;

  constructor(module: WebAssembly.Module) {
    this.#module = module;
  }

  /** A fresh instance: after a failure, or to give back a heap that grew. */
  restart(): Promise<void> {
    this.#memory = undefined;
    this.#ready = (async () => {
      const instantiateWasm = (
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance) => void,
      ) => {
        const instance = new WebAssembly.Instance(this.#module, imports);
        this.#memory = Object.values(instance.exports).find(
          (value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory,
        );
        done(instance);
        return instance.exports;
      };
      this.#lcms = (await instantiate({
        instantiateWasm,
        print: () => {},
        printErr: () => {},
      })) as LcmsExports;
    })();
    return this.#ready;
  }

  async ready(): Promise<void> {
    await (this.#ready ?? this.restart());
  }

  heapBytes(): number {
    return this.#memory?.buffer.byteLength ?? 0;
  }

  memory(): WebAssembly.Memory | undefined {
    return this.#memory;
  }

  /** The profile's colour space and description, or a ColourError if Little CMS cannot open it. */
  describe(icc: Uint8Array): ProfileInfo {
    return this.#withProfile(icc, (profile) => ({
      space: this.#space(profile),
      description: this.#description(profile),
    }));
  }

  /**
   * The image's pixels (laid out as `layout` says, described by `icc`) in sRGB, as a new RGBA
   * image; alpha is kept (opaque for CMYK). Throws ColourError if the profile cannot be opened,
   * describes another colour space than the pixels, or gives no transform.
   */
  toSrgb(image: RawImage, icc: Uint8Array, layout: PixelLayout): RawImage {
    const x = this.#lcms!;
    return this.#withProfile(icc, (profile) => {
      const space = this.#space(profile);
      if (space !== LAYOUT_SPACE[layout])
        throw new ColourError(`the profile describes ${space} but the pixels are ${LAYOUT_SPACE[layout]}`);
      if (layout === 'gray') return this.#grayToSrgb(image, profile);
      const srgb = x._cmsCreate_sRGBProfile();
      const transform = x._cmsCreateTransform(
        profile,
        INPUT_FORMATS[layout],
        srgb,
        TYPE_RGB_8,
        INTENT_PERCEPTUAL,
        0,
      );
      x._cmsCloseProfile(srgb);
      if (!transform) throw new ColourError(`Little CMS cannot transform from this ${space} profile to sRGB`);
      const pixels = image.width * image.height;
      const slice = Math.min(pixels, SLICE_PIXELS);
      const input = x._malloc(slice * 4);
      const output = x._malloc(slice * 3);
      try {
        if (!input || !output) throw new ColourError('out of memory in the colour engine');
        const out = new Uint8ClampedArray(pixels * 4);
        const source = image.data;
        const keepAlpha = layout === 'rgba';
        for (let first = 0; first < pixels; first += slice) {
          const count = Math.min(slice, pixels - first);
          new Uint8Array(this.#memory!.buffer, input, count * 4).set(
            source.subarray(first * 4, (first + count) * 4),
          );
          x._cmsDoTransform(transform, input, output, count);
          const rgb = new Uint8Array(this.#memory!.buffer, output, count * 3);
          for (let i = 0, o = first * 4; i < count; i++, o += 4) {
            out[o] = rgb[i * 3]!;
            out[o + 1] = rgb[i * 3 + 1]!;
            out[o + 2] = rgb[i * 3 + 2]!;
            out[o + 3] = keepAlpha ? source[o + 3]! : 255;
          }
        }
        return { width: image.width, height: image.height, data: out };
      } finally {
        x._cmsDeleteTransform(transform);
        if (output) x._free(output);
        if (input) x._free(input);
      }
    });
  }

  /**
   * A grey image has 256 values: each is transformed once, through the whole pipeline, and the
   * pixels are looked up. Little CMS's optimised 8-bit transform from a grey profile samples its
   * curves at a few points and interpolates, which is far off where the curve to sRGB is steep: from
   * a linear (gamma 1.0) grey, 1 came out as 6 and 4 as 25, where the profile says 13 and 34.
   */
  #grayToSrgb(image: RawImage, profile: number): RawImage {
    const x = this.#lcms!;
    const srgb = x._cmsCreate_sRGBProfile();
    const transform = x._cmsCreateTransform(
      profile,
      TYPE_GRAY_8,
      srgb,
      TYPE_RGB_8,
      INTENT_PERCEPTUAL,
      cmsFLAGS_NOOPTIMIZE,
    );
    x._cmsCloseProfile(srgb);
    if (!transform) throw new ColourError('Little CMS cannot transform from this GRAY profile to sRGB');
    const buffer = x._malloc(256 + 256 * 3);
    let table: Uint8Array;
    try {
      if (!buffer) throw new ColourError('out of memory in the colour engine');
      new Uint8Array(this.#memory!.buffer, buffer, 256).set(Array.from({ length: 256 }, (_, v) => v));
      x._cmsDoTransform(transform, buffer, buffer + 256, 256);
      table = new Uint8Array(this.#memory!.buffer, buffer + 256, 256 * 3).slice();
    } finally {
      x._cmsDeleteTransform(transform);
      if (buffer) x._free(buffer);
    }
    const source = image.data;
    const out = new Uint8ClampedArray(source.length);
    for (let o = 0; o < source.length; o += 4) {
      const at = source[o]! * 3;
      out[o] = table[at]!;
      out[o + 1] = table[at + 1]!;
      out[o + 2] = table[at + 2]!;
      out[o + 3] = source[o + 3]!;
    }
    return { width: image.width, height: image.height, data: out };
  }

  #withProfile<T>(icc: Uint8Array, use: (profile: number) => T): T {
    const x = this.#lcms!;
    const data = x._malloc(icc.length);
    if (!data) throw new ColourError('out of memory in the colour engine');
    try {
      new Uint8Array(this.#memory!.buffer, data, icc.length).set(icc);
      const profile = x._cmsOpenProfileFromMem(data, icc.length);
      if (!profile) throw new ColourError(`Little CMS cannot read the ICC profile (${icc.length} bytes)`);
      try {
        return use(profile);
      } finally {
        x._cmsCloseProfile(profile);
      }
    } finally {
      x._free(data);
    }
  }

  #space(profile: number): ProfileSpace | string {
    const signature = this.#lcms!._cmsGetColorSpace(profile) >>> 0;
    return (
      SIGNATURES[signature] ??
      String.fromCharCode(
        signature >>> 24,
        (signature >>> 16) & 255,
        (signature >>> 8) & 255,
        signature & 255,
      )
    );
  }

  #description(profile: number): string {
    const x = this.#lcms!;
    const scratch = x._malloc(8 + 256);
    try {
      const heap = new Uint8Array(this.#memory!.buffer);
      heap.set([0x65, 0x6e, 0], scratch); // "en"
      heap.set([0x55, 0x53, 0], scratch + 4); // "US"
      const length = x._cmsGetProfileInfoASCII(profile, 0, scratch, scratch + 4, scratch + 8, 256);
      if (length <= 1) return '';
      const text = new Uint8Array(this.#memory!.buffer, scratch + 8, Math.min(length, 256) - 1);
      return Buffer.from(text).toString('latin1').trim();
    } finally {
      x._free(scratch);
    }
  }
}
