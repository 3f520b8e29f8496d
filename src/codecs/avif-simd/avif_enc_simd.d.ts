/** Types of the emscripten glue that scripts/codecs/avif-simd/build.sh generates beside this file. */
export interface AvifSimdOptions {
  quality: number;
  qualityAlpha: number;
  tileRowsLog2: number;
  tileColsLog2: number;
  speed: number;
  subsample: number;
  chromaDeltaQ: boolean;
  sharpness: number;
  tune: number;
  denoiseLevel: number;
  enableSharpYUV: boolean;
  bitDepth: number;
  threads: number;
}

export interface AvifSimdModule {
  /** Encodes RGBA (8-bit, or 16-bit little-endian words for 10/12 bits); null on failure (the reason went to printErr). */
  encode(data: Uint8Array, width: number, height: number, options: AvifSimdOptions): Uint8Array | null;
}

export default function factory(overrides: Record<string, unknown>): Promise<AvifSimdModule>;
