/** Types of the emscripten glue that scripts/codecs/avif-simd/build.sh generates beside this file. */
declare namespace avifEncSimd {
  interface AvifSimdOptions {
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
    /** aom's thread count: this thread and `threads - 1` of the pool started with pthreadPoolSize. */
    threads: number;
  }

  /** emscripten's pthread bookkeeping (library_pthread.js), the parts avif-simd.ts uses. */
  interface PThreads {
    /** Started and loaded Workers waiting for a thread. */
    readonly unusedWorkers: import('node:worker_threads').Worker[];
    /** Workers running a thread. */
    readonly runningWorkers: import('node:worker_threads').Worker[];
    terminateAllThreads(): void;
  }

  interface AvifSimdModule {
    /** Encodes RGBA (8-bit, or 16-bit little-endian words for 10/12 bits); null on failure (the reason went to printErr). */
    encode(data: Uint8Array, width: number, height: number, options: AvifSimdOptions): Uint8Array | null;
    readonly PThread: PThreads;
    readonly wasmMemory: WebAssembly.Memory;
  }
}

declare function avifEncSimd(overrides: Record<string, unknown>): Promise<avifEncSimd.AvifSimdModule>;
export = avifEncSimd;
