import type { ResizeMethod } from '../core/config.ts';
import type { CodecInstance } from './instances.ts';

/** rs_resize's filter index (scripts/codecs/resample/resample.c, FILTERS). */
const FILTER_INDEX: Record<ResizeMethod, number> = {
  triangle: 0,
  catrom: 1,
  mitchell: 2,
  lanczos3: 3,
};

/**
 * Pillow's resampler (its Resample.c: a two-pass convolution in 8-bit fixed point, sRGB values,
 * straight alpha) with WebAssembly SIMD loops for RGBA that give Pillow's own bytes, built by
 * scripts/codecs/resample/build.sh. It resamples opaque images in sRGB, the default; resizer.ts
 * (float, premultiplied or linear light) does the rest. One instance per thread, owned like the
 * other codecs' (instances.ts): a standalone module whose one import is a memory-growth notice.
 */
export class SimdResampler implements CodecInstance {
  readonly #module: WebAssembly.Module;
  #exports!: ResampleExports;
  constructor(module: WebAssembly.Module) {
    this.#module = module;
    this.restart();
  }

  restart(): void {
    const imports = { env: { emscripten_notify_memory_growth: () => undefined } };
    this.#exports = new WebAssembly.Instance(this.#module, imports).exports as unknown as ResampleExports;
    this.#exports._initialize(); // a reactor module: its static constructors
  }

  heapBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  memory(): WebAssembly.Memory {
    return this.#exports.memory;
  }

  /**
   * inW x inH RGBA pixels to outW x outH. `simd: false` runs Pillow's own C loops (the reference
   * the SIMD loops are tested against).
   */
  resize(
    input: Uint8Array,
    inW: number,
    inH: number,
    outW: number,
    outH: number,
    method: ResizeMethod,
    simd = true,
  ): Uint8ClampedArray {
    const wasm = this.#exports;
    const at = wasm.rs_malloc(input.length) >>> 0;
    if (at === 0) throw new Error(`The resampler could not allocate ${input.length} bytes for its input`);
    try {
      new Uint8Array(wasm.memory.buffer).set(input, at);
      const out = wasm.rs_resize(at, inW, inH, outW, outH, FILTER_INDEX[method], simd ? 1 : 0) >>> 0;
      if (out === 0)
        throw new Error(`The resampler refused ${inW}x${inH} to ${outW}x${outH} (out of memory or of range)`);
      const output = new Uint8ClampedArray(wasm.memory.buffer, out, outW * outH * 4).slice();
      wasm.rs_free(out);
      return output;
    } finally {
      wasm.rs_free(at);
    }
  }
}

interface ResampleExports {
  readonly memory: WebAssembly.Memory;
  _initialize(): void;
  rs_malloc(size: number): number;
  rs_free(pointer: number): void;
  rs_resize(
    input: number,
    inW: number,
    inH: number,
    outW: number,
    outH: number,
    method: number,
    simd: number,
  ): number;
}
