import type { RawImage } from '../image/raw.ts';

/**
 * @jsquash/png's decoder (the Rust `png` crate), on an instance of our own. Its wasm-bindgen glue
 * keeps one instance per process, whose heap grows to the decoded size and never shrinks: after a
 * 40 MP PNG, 160 MB stayed resident for good, beside every later image, and during that image the
 * heap and the pixels' JavaScript copy both counted towards the peak. With our own instance the
 * codecs layer replaces it after a large decode, as it does the emscripten codecs.
 *
 * What follows is the calling convention wasm-bindgen generated for this build, for the one export
 * we call (`decode`): JavaScript objects cross the boundary as indices into a table, the pixels
 * come out through an imported constructor that copies them and frees the Rust buffer, and Rust
 * errors arrive as a thrown string. Imports are matched by name without their build hash.
 */
export class PngDecoder {
  readonly #module: WebAssembly.Module;
  #exports!: PngExports;
  #objects: unknown[] = [];
  #nextFree = 0;

  constructor(module: WebAssembly.Module) {
    this.#module = module;
    this.restart();
  }

  restart(): void {
    // wasm-bindgen's table: 128 reserved slots, then undefined, null, true, false at 128-131.
    this.#objects = new Array(128).fill(undefined);
    this.#objects.push(undefined, null, true, false);
    this.#nextFree = this.#objects.length;
    const handlers: Record<string, (...args: number[]) => unknown> = {
      __wbindgen_memory: () => this.#add(this.#exports.memory),
      __wbg_buffer_: (index) => this.#add((this.#objects[index!] as WebAssembly.Memory).buffer),
      __wbg_newwithbyteoffsetandlength_: (buffer, offset, length) =>
        this.#add(new Uint16Array(this.#objects[buffer!] as ArrayBuffer, offset! >>> 0, length! >>> 0)),
      __wbindgen_object_drop_ref: (index) => {
        this.#take(index!);
      },
      __wbg_newwithownedu8clampedarrayandsh_: (ptr, length, width, height) => {
        const data = new Uint8ClampedArray(this.#exports.memory.buffer, ptr! >>> 0, length! >>> 0).slice();
        this.#exports.__wbindgen_free(ptr!, length!, 1);
        return this.#add({ width: width! >>> 0, height: height! >>> 0, data } satisfies RawImage);
      },
      __wbindgen_throw: (ptr, length) => {
        const bytes = new Uint8Array(this.#exports.memory.buffer, ptr! >>> 0, length! >>> 0);
        throw new Error(new TextDecoder().decode(bytes));
      },
    };
    const wbg: WebAssembly.ModuleImports = {};
    for (const { module, name } of WebAssembly.Module.imports(this.#module)) {
      const handler = Object.entries(handlers).find(([prefix]) => name === prefix || name.startsWith(prefix));
      if (module !== 'wbg' || !handler)
        throw new Error(`@jsquash/png's decoder imports ${module}.${name}, which this glue does not provide`);
      wbg[name] = handler[1] as (...args: number[]) => unknown;
    }
    this.#exports = new WebAssembly.Instance(this.#module, { wbg }).exports as unknown as PngExports;
  }

  heapBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  memory(): WebAssembly.Memory {
    return this.#exports.memory;
  }

  /** 8-bit RGBA (16-bit PNGs are reduced by the decoder). Throws the decoder's message. */
  decode(bytes: Uint8Array): RawImage {
    const x = this.#exports;
    const at = x.__wbindgen_malloc(bytes.length, 1) >>> 0;
    new Uint8Array(x.memory.buffer, at, bytes.length).set(bytes);
    return this.#take(x.decode(at, bytes.length)) as RawImage;
  }

  #add(value: unknown): number {
    if (this.#nextFree === this.#objects.length) this.#objects.push(this.#objects.length + 1);
    const index = this.#nextFree;
    this.#nextFree = this.#objects[index] as number;
    this.#objects[index] = value;
    return index;
  }

  #take(index: number): unknown {
    const value = this.#objects[index];
    if (index >= 132) {
      this.#objects[index] = this.#nextFree;
      this.#nextFree = index;
    }
    return value;
  }
}

interface PngExports {
  readonly memory: WebAssembly.Memory;
  decode(ptr: number, length: number): number;
  __wbindgen_malloc(size: number, align: number): number;
  __wbindgen_free(ptr: number, size: number, align: number): void;
}
