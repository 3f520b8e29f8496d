import factory, { type AvifSimdModule } from './avif-simd/avif_enc_simd.cjs';
import { dataPath } from './wasm.ts';

/**
 * The AVIF encoder built with WebAssembly SIMD and threads (scripts/codecs/avif-simd/build.sh:
 * libaom 3.6.0's SSE2-SSE4.1 intrinsics through emscripten's SIMD headers, its threads as
 * emscripten pthreads on worker_threads, libheif 1.15.1 writing the AVIF). It takes jSquash's AVIF
 * options and returns what jSquash's `encode()` returns, so it drops in for
 * `@jsquash/avif/encode.js`: `init(module, overrides)` once, then `encode(image, options)`.
 *
 * Every encode uses AVIF_THREADS aom threads, whatever the CPUs: libaom's output depends on its
 * thread count (one thread writes other bytes than two), so a fixed count keeps one input to one
 * output on every function size and architecture. The calling thread is one of them; the others
 * are Workers started, and loaded, by init() (emscripten's PTHREAD_POOL_SIZE), so none is created
 * while an encode blocks the calling thread, and unreferenced, so an idle encoder does not keep the
 * process alive. On one CPU the two threads take turns (about the same CPU time as one thread); on
 * more, the largest image's encode, the pipeline's longest task, runs on two.
 */
export const AVIF_THREADS = 2;

/**
 * The encoder's heap is kept between images up to this size (instances.ts releases other codecs'
 * past 48 MiB): a fresh instance starts a Worker for each of its threads, about 60-100 ms of CPU,
 * which after every large encode would cost more than the threads save on one CPU. 1600x900 at
 * speed 8 leaves 64 MiB, at speed 6 76 MiB; a 1600x2400 variant or screen content still releases.
 */
export const AVIF_HEAP_RELEASE_BYTES = 128 * 1024 * 1024;

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

/**
 * One instance of the module with its thread pool. The pipeline uses the one behind init() and
 * encode(); the bench and the tests make others to compare thread counts.
 */
export class AvifSimdEncoder {
  /** aom threads per encode: the calling thread and threads - 1 pooled Workers. */
  readonly threads: number;
  /** Resolves once the instance and its threads are loaded. */
  readonly ready: Promise<AvifSimdModule>;

  constructor(
    module: WebAssembly.Module,
    threads: number = AVIF_THREADS,
    overrides: Record<string, unknown> = {},
  ) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 16)
      throw new RangeError(`The AVIF encoder's thread count must be an integer from 1 to 16, not ${threads}`);
    this.threads = threads;
    const instantiateWasm = (
      imports: WebAssembly.Imports,
      done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ) => {
      const created = new WebAssembly.Instance(module, imports);
      // The module goes with the instance: emscripten posts it to the pthread Workers.
      done(created, module);
      return created.exports;
    };
    this.ready = factory({
      noInitialRun: true,
      instantiateWasm,
      // emscripten 3.1.6 resolves the factory only once a pooled Worker has loaded: never with
      // none, so one thread still gets one (idle) Worker.
      pthreadPoolSize: Math.max(1, threads - 1),
      // The pthread Workers run emscripten's worker script, which evaluates the glue's own file.
      locateFile: (path: string) => (path.endsWith('.worker.js') ? dataPath('avifEncWorker') : path),
      mainScriptUrlOrBlob: dataPath('avifEncGlue'),
      // exit() in the codec throws (an error for the caller) instead of ending the process.
      quit: (_status: number, toThrow: unknown) => {
        throw toThrow;
      },
      ...overrides,
    }).then((loaded) => {
      for (const worker of loaded.PThread.unusedWorkers) worker.unref();
      return loaded;
    });
  }

  async encode(
    image: { data: Uint8ClampedArray | Uint16Array; width: number; height: number },
    options: Partial<AvifEncodeOptions> = {},
  ): Promise<ArrayBuffer> {
    const o = { ...DEFAULT_OPTIONS, ...options };
    if (o.bitDepth !== 8 && o.bitDepth !== 10 && o.bitDepth !== 12)
      throw new Error('Invalid bit depth. Supported values are 8, 10, or 12.');
    if (!(image.data instanceof Uint16Array) && o.bitDepth !== 8)
      throw new Error(
        'Invalid image data for bit depth. Must use Uint16Array for bit depths greater than 8.',
      );
    if (o.lossless) Object.assign(o, { quality: 100, qualityAlpha: -1, subsample: 3 });
    const module = await this.ready;
    const { data } = image;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const output = module.encode(bytes, image.width, image.height, { ...o, threads: this.threads });
    if (!output) throw new Error('Encoding error.');
    return output.buffer as ArrayBuffer;
  }

  /**
   * Ends the instance's threads: its Workers are terminated, idle or not (after a failure one may be
   * stuck waiting on a thread that trapped), without calling into the instance. It cannot encode
   * afterwards.
   */
  async terminate(): Promise<void> {
    const module = await this.ready.catch(() => undefined);
    if (!module) return;
    const { runningWorkers, unusedWorkers } = module.PThread;
    await Promise.all([...runningWorkers, ...unusedWorkers].map((worker) => worker.terminate()));
  }
}

let current: AvifSimdEncoder | undefined;

/**
 * jSquash's init(): starts the instance encode() uses, with AVIF_THREADS threads; the previous
 * instance's threads are terminated.
 */
export function init(
  module: WebAssembly.Module,
  overrides: Record<string, unknown> = {},
): Promise<AvifSimdModule> {
  void current?.terminate();
  current = new AvifSimdEncoder(module, AVIF_THREADS, overrides);
  return current.ready;
}

/** jSquash's encode(), on the instance init() started. */
export function encode(
  image: { data: Uint8ClampedArray | Uint16Array; width: number; height: number },
  options: Partial<AvifEncodeOptions> = {},
): Promise<ArrayBuffer> {
  if (!current)
    return Promise.reject(new Error('The SIMD AVIF encoder is not initialised: call init() first'));
  return current.encode(image, options);
}
