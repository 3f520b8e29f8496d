import type { ResizeMethod } from '../core/config.ts';
import type { CodecInstance } from './instances.ts';

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

/**
 * @jsquash/resize's Rust resampler, called through its one export. Not through @jsquash/resize's
 * default export, which reads `data.buffer` whole (wrong for views) and crops by rewriting its
 * input in place; and not through its wasm-bindgen glue either, which keeps a single instance per
 * process: a lanczos pass from a 16 MP photo grows that heap to ~60 MB (input, float intermediate
 * and output), which would then stay resident beside every later decode. Owning the instance lets
 * it be replaced like the other codecs' (instances.ts). The calling convention below is the
 * one wasm-bindgen generated for this build: a 16-byte return slot on the shadow stack holding the
 * output's pointer and length, the input copied in with __wbindgen_malloc.
 */
export class Resizer implements CodecInstance {
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

  memory(): WebAssembly.Memory {
    return this.#exports.memory;
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
