import { Worker } from 'node:worker_threads';
import { type DecodeShrink, type JpegRows, warmUp } from '../codecs/index.ts';
import type { FormatOptions } from '../core/config.ts';
import { InvalidImageError } from '../core/errors.ts';
import type { OutputFormat } from '../core/formats.ts';
import { BUNDLED } from '../core/runtime.ts';
import type { RawImage } from '../image/raw.ts';
import type { DecodeRowsRequest, EncodeReply, EncodeRequest, WorkerError } from './encode-worker.ts';
import { type EncodeResult, type Encoder, inThreadEncoder } from './process-image.ts';

/**
 * Encoding in parallel: a pool of worker threads, each with its own codec instances. Tasks wait in
 * a queue and an idle worker takes the most expensive one first (AVIF of the largest variant before
 * JPEG of the thumbnail), which keeps the longest encode from starting last.
 *
 * A task given an AbortSignal (the image's deadline) stops when it is aborted: taken out of the
 * queue if it is waiting, or, if it is running, by terminating its worker, which is replaced by a
 * fresh one; nothing of the interrupted encode survives into the next task.
 */
export interface PooledEncoder extends Encoder {
  readonly workers: number;
  close(): Promise<void>;
}

type Request = Omit<EncodeRequest, 'id'> | Omit<DecodeRowsRequest, 'id'>;
type Success = Exclude<EncodeReply, { error: WorkerError }>;

/** Relative cost per pixel, measured on the J1 job (bench/): AVIF at speed 6 is ~3x WebP and JPEG. */
const COST_PER_PIXEL: Record<OutputFormat, number> = { avif: 10, webp: 3, jpeg: 3, png: 4 };

const WORKER_URL = BUNDLED
  ? new URL('./encode-worker.mjs', import.meta.url)
  : new URL('./encode-worker.ts', import.meta.url);

interface Task {
  readonly request: Request;
  readonly cost: number;
  readonly signal?: AbortSignal;
  /** Buffers moved to the worker with the request (copies made for it), not cloned again. */
  readonly transfer: ArrayBuffer[];
  resolve(reply: Success): void;
  reject(error: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  task?: Task;
  /** The id of the task's request, to match the reply. */
  id?: number;
  /** Terminated on purpose (an aborted task): its exit is not a crash. */
  retired?: boolean;
}

/** One worker or fewer encodes in the calling thread; more gives a pool. */
export async function createEncoder(
  workers: number,
  formats: readonly OutputFormat[],
): Promise<PooledEncoder> {
  if (workers <= 1) {
    await warmUp(formats);
    return { ...inThreadEncoder, workers: 1, close: async () => undefined };
  }
  const pool = new EncoderPool(workers);
  // This thread still decodes and resizes; the workers encode.
  await Promise.all([warmUp([]), pool.warmUp(formats)]);
  return pool;
}

/** Exported for tests; use createEncoder, which also warms the workers up. */
export class EncoderPool implements PooledEncoder {
  readonly parallel = true;
  readonly workers: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private dispatchQueued = false;
  private formats: readonly OutputFormat[] = [];

  constructor(workers: number) {
    this.workers = workers;
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn());
  }

  async warmUp(formats: readonly OutputFormat[]): Promise<void> {
    this.formats = formats;
    await Promise.all(this.slots.map((slot) => this.warm(slot)));
  }

  private warm(slot: Slot): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean }) => {
        if (!message.ready) return;
        slot.worker.off('message', onMessage);
        slot.worker.off('error', reject);
        if (!slot.task) slot.worker.unref();
        resolve();
      };
      slot.worker.on('message', onMessage);
      slot.worker.once('error', reject);
      slot.worker.postMessage({ warmUp: this.formats });
    });
  }

  encode(
    format: OutputFormat,
    image: RawImage,
    options: FormatOptions,
    signal?: AbortSignal,
  ): Promise<EncodeResult> {
    const data = sendable(image.data);
    const request = { format, width: image.width, height: image.height, data: data.view, options };
    const cost = image.width * image.height * COST_PER_PIXEL[format];
    return this.run(
      request,
      cost,
      signal,
      (reply) => {
        if (!('bytes' in reply)) throw new Error('An encoder thread answered an encode with pixels');
        return { bytes: reply.bytes, ms: reply.ms };
      },
      data.transfer,
    );
  }

  /**
   * Rows of a JPEG decoded in a worker (codecs' decodeJpegRows), while this thread decodes others:
   * ahead of every queued encode, which waits for the image anyway, and sent at once.
   */
  decodeJpegRows(
    bytes: Uint8Array,
    shrink: DecodeShrink,
    rows: JpegRows,
    options: { cmyk?: boolean; signal?: AbortSignal } = {},
  ): Promise<RawImage> {
    const file = sendable(bytes);
    const request = { decode: { bytes: file.view, shrink, rows, cmyk: options.cmyk ?? false } };
    return this.run(
      request,
      Number.POSITIVE_INFINITY,
      options.signal,
      (reply) => {
        if (!('image' in reply)) throw new Error('An encoder thread answered a decode with bytes');
        return reply.image;
      },
      file.transfer,
    );
  }

  private run<T>(
    request: Request,
    cost: number,
    signal: AbortSignal | undefined,
    take: (reply: Success) => T,
    transfer: ArrayBuffer[] = [],
  ) {
    if (this.closed) return Promise.reject(new Error('The encoder pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => this.abort(task);
      const settled = () => signal?.removeEventListener('abort', onAbort);
      const task: Task = {
        request,
        cost,
        signal,
        transfer,
        resolve: (reply) => {
          settled();
          try {
            resolve(take(reply));
          } catch (error) {
            reject(error);
          }
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(task);
      if (cost === Number.POSITIVE_INFINITY) {
        this.dispatch();
        return;
      }
      // Dispatch once the caller has queued everything it has now: a step's formats arrive in one
      // synchronous burst, and dispatching each on arrival would hand the first two to the idle
      // workers in arrival order, leaving the most expensive one waiting behind them.
      if (!this.dispatchQueued) {
        this.dispatchQueued = true;
        queueMicrotask(() => {
          this.dispatchQueued = false;
          this.dispatch();
        });
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new Error('The encoder pool was closed'));
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      while (!slot.task && this.queue.length > 0) {
        let best = 0;
        for (let i = 1; i < this.queue.length; i++)
          if (this.queue[i]!.cost > this.queue[best]!.cost) best = i;
        const [task] = this.queue.splice(best, 1) as [Task];
        const id = this.nextId++;
        try {
          slot.worker.postMessage(
            { ...task.request, id } satisfies EncodeRequest | DecodeRowsRequest,
            task.transfer,
          );
        } catch (error) {
          // A request that cannot be sent (a DataCloneError) fails alone; the worker stays free.
          task.reject(error);
          continue;
        }
        slot.task = task;
        slot.id = id;
        // Keep the process alive while a worker holds a task; an idle pool must not.
        slot.worker.ref();
      }
    }
  }

  /** Stops an aborted task: out of the queue, or its worker terminated and replaced. */
  private abort(task: Task): void {
    const reason = task.signal?.reason;
    const queued = this.queue.indexOf(task);
    if (queued !== -1) {
      this.queue.splice(queued, 1);
      task.reject(reason);
      return;
    }
    const slot = this.slots.find((s) => s.task === task);
    if (!slot) return;
    // A WASM encode cannot be interrupted from outside but its thread can: terminate it. The
    // replacement compiles its codecs now, while this thread goes on to record the outcome.
    slot.retired = true;
    slot.task = undefined;
    void slot.worker.terminate();
    task.reject(reason);
    if (!this.closed) this.replaceSlot(slot);
  }

  private replaceSlot(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    const fresh = this.spawn();
    this.slots[index] = fresh;
    // Its codecs compile now rather than in the next image's first encode.
    this.warm(fresh).catch(() => undefined);
    this.dispatch();
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_URL) };
    slot.worker.on('message', (reply: EncodeReply | { ready: true }) => {
      if (slot.retired || !('id' in reply) || !slot.task || reply.id !== slot.id) return;
      const task = slot.task;
      slot.task = undefined;
      slot.worker.unref();
      if ('error' in reply) task.reject(rebuild(reply.error));
      else task.resolve(reply);
      this.dispatch();
    });
    const replace = (error: Error) => {
      if (slot.retired) return;
      slot.retired = true;
      slot.task?.reject(error);
      slot.task = undefined;
      if (this.closed) return;
      // A crashed worker (e.g. out of memory) is replaced so the pool keeps its size.
      this.replaceSlot(slot);
    };
    slot.worker.on('error', replace);
    slot.worker.on('exit', (code) => {
      if (!this.closed && code !== 0) replace(new Error(`An encoder thread exited with code ${code}`));
    });
    return slot;
  }
}

/**
 * How to send pixels or a file to a worker with one copy: a whole buffer is cloned by postMessage;
 * a view into a larger one (which would be cloned whole) is copied into an ArrayBuffer of its own
 * and that is moved (transferred). Not with slice(): a Node Buffer's is a view of the same memory,
 * and transferring it would detach the caller's bytes (or, for Node's pool of small Buffers, which
 * cannot be transferred, make postMessage throw).
 */
function sendable<T extends Uint8Array | Uint8ClampedArray>(view: T): { view: T; transfer: ArrayBuffer[] } {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) return { view, transfer: [] };
  const copy = (view instanceof Uint8ClampedArray ? new Uint8ClampedArray(view) : new Uint8Array(view)) as T;
  return { view: copy, transfer: [copy.buffer as ArrayBuffer] };
}

/** A worker's failure in this thread: an InvalidImageError (a decode's) as it was thrown there. */
function rebuild(error: WorkerError): Error {
  const rebuilt =
    error.reason !== undefined
      ? new InvalidImageError(error.reason, error.message, { ...error.details })
      : Object.assign(new Error(error.message), { name: error.name });
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}
