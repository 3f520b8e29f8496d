import type { CodecInstance } from './instances.ts';
import { compileWasm, type WasmName } from './wasm.ts';

type EmscriptenInit = (module: WebAssembly.Module, overrides: Record<string, unknown>) => Promise<unknown>;

/**
 * A jSquash codec built with emscripten (MozJPEG's encoder, libwebp, libavif). Its `init()` keeps
 * the instance inside jSquash; we instantiate it ourselves (jSquash lets overrides replace its own
 * instantiateWasm) to keep a handle on the heap, and calling `init()` again starts a fresh one.
 *
 * These codecs report failures on stderr and then abort: we capture that text so a rejection can
 * name the decoder's own reason ("Premature end of JPEG file").
 */
export class EmscriptenCodec implements CodecInstance {
  readonly wasm: WasmName;
  readonly #init: EmscriptenInit;
  /** Lines the codec printed during the current call. */
  readonly #messages: string[] = [];
  #memory?: WebAssembly.Memory;
  #ready?: Promise<void>;

  readonly releaseBytes?: number;

  constructor(wasm: WasmName, init: unknown, options: { releaseBytes?: number } = {}) {
    this.wasm = wasm;
    this.#init = init as EmscriptenInit;
    if (options.releaseBytes !== undefined) this.releaseBytes = options.releaseBytes;
  }

  heapBytes(): number {
    return this.#memory?.buffer.byteLength ?? 0;
  }

  memory(): WebAssembly.Memory | undefined {
    return this.#memory;
  }

  restart(): Promise<void> {
    this.#memory = undefined;
    this.#ready = compileWasm(this.wasm).then(async (module) => {
      const capture = (line: string) => {
        this.#messages.push(String(line));
      };
      const instantiateWasm = (
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ) => {
        const instance = new WebAssembly.Instance(module, imports);
        // A threaded build's memory is imported (shared) rather than exported.
        this.#memory = findMemory(instance.exports) ?? Object.values(imports).map(findMemory).find(Boolean);
        // The module too: a threaded build (avif-simd.ts) posts it to its pthread Workers.
        done(instance, module);
        return instance.exports;
      };
      // init() stores the instantiation inside jSquash; awaiting it is enough.
      await this.#init(module, { print: capture, printErr: capture, instantiateWasm });
    });
    return this.#ready;
  }

  /** Started, with the previous call's messages forgotten. */
  async ready(): Promise<void> {
    await (this.#ready ?? this.restart());
    this.#messages.length = 0;
  }

  /** What the codec printed since ready(). */
  said(): string {
    return this.#messages.join('; ').trim();
  }
}

function findMemory(values: object | undefined): WebAssembly.Memory | undefined {
  return Object.values(values ?? {}).find(
    (value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory,
  );
}
