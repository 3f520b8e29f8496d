import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Codec instances and their heaps. Every codec runs in a WebAssembly instance, one per thread,
 * created on first use from a module compiled once (wasm.ts). A WASM heap never shrinks: after a
 * 16 MP decode the decoder would keep ~100 MB for the life of the process. So an instance whose
 * heap has grown past HEAP_RELEASE_BYTES is replaced by a fresh one before the call returns
 * (instantiating a compiled module again takes milliseconds), and garbage is collected so the old
 * heap is returned now: otherwise, in an encoder thread that allocates little JavaScript, dropped
 * heaps wait for a collection that comes late, and peak RSS creeps up by hundreds of megabytes over
 * a few large images. Only large images pay for the collection.
 */
export const HEAP_RELEASE_BYTES = 48 * 1024 * 1024;

/** An instance whose heap we can measure and replace. */
export interface CodecInstance {
  /** Size of its linear memory now; 0 before it is started. */
  heapBytes(): number;
  /** Its linear memory; undefined before it is started. For diagnostics and tests. */
  memory(): WebAssembly.Memory | undefined;
  /** A fresh instance from the compiled module: after a failure, or to give back a heap that grew. */
  restart(): void | Promise<void>;
  /** Heap size past which releaseIfGrown() replaces it; HEAP_RELEASE_BYTES when absent. */
  readonly releaseBytes?: number;
}

const instances = new Map<string, CodecInstance>();

/** Makes an instance known by name, for heapSizes(). */
export function register<T extends CodecInstance>(name: string, instance: T): T {
  instances.set(name, instance);
  return instance;
}

/** A getter for the instance named `name` in this thread, created by `create` on first use. */
export function lazyInstance<T extends CodecInstance>(
  name: string,
  create: () => Promise<T>,
): () => Promise<T> {
  let instance: Promise<T> | undefined;
  return () => {
    instance ??= create().then((created) => register(name, created));
    return instance;
  };
}

/** The instance registered as `name` in this thread, once started: for tests and diagnostics. */
export function registeredInstance(name: string): CodecInstance | undefined {
  return instances.get(name);
}

/** Current heap size of each started instance in this thread, for tests and diagnostics. */
export function heapSizes(): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const [name, instance] of instances) {
    const bytes = instance.heapBytes();
    if (bytes > 0) sizes[name] = bytes;
  }
  return sizes;
}

/**
 * Replaces the instance if its heap has grown past its releaseBytes (HEAP_RELEASE_BYTES unless it
 * says otherwise), then collects garbage.
 */
export async function releaseIfGrown(instance: CodecInstance): Promise<void> {
  if (instance.heapBytes() > (instance.releaseBytes ?? HEAP_RELEASE_BYTES)) {
    await instance.restart();
    collectGarbage();
  }
}

/** Starts the instance over after an interrupted call (watchdog.ts) and gives its heap back now. */
export async function replace(instance: CodecInstance): Promise<void> {
  await instance.restart();
  collectGarbage();
}

let gc: (() => void) | undefined;
function collectGarbage(): void {
  // V8's collector without starting Node with --expose-gc (which Lambda's runtime does not pass):
  // enable the flag at run time, then fetch the gc function from a fresh context.
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
