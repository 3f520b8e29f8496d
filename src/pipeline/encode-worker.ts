import { parentPort } from 'node:worker_threads';
import { type DecodeShrink, decodeJpegRows, encode, type JpegRows, warmUp } from '../codecs/index.ts';
import type { FormatOptions } from '../core/config.ts';
import { InvalidImageError } from '../core/errors.ts';
import type { OutputFormat } from '../core/formats.ts';

/**
 * One encoder thread: its own instance of each codec (WASM modules compiled in this thread), one
 * task at a time. Messages: { id, format, width, height, data, options } in, { id, bytes, ms } or
 * { id, error } out; or a band of a JPEG to decode, { id, decode: { bytes, shrink, rows, cmyk } } in,
 * { id, image, ms } out. Encoded bytes and decoded pixels are transferred back, not copied.
 */
export interface EncodeRequest {
  readonly id: number;
  readonly format: OutputFormat;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
  readonly options: FormatOptions;
}

export interface DecodeRowsRequest {
  readonly id: number;
  readonly decode: {
    readonly bytes: Uint8Array;
    readonly shrink: DecodeShrink;
    readonly rows: JpegRows;
    readonly cmyk: boolean;
  };
}

/** A failure as it crosses threads; an InvalidImageError keeps its reason and details. */
export interface WorkerError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly reason?: InvalidImageError['reason'];
  readonly details?: Readonly<Record<string, unknown>>;
}

export type EncodeReply =
  | { readonly id: number; readonly bytes: Uint8Array; readonly ms: number }
  | {
      readonly id: number;
      readonly image: { width: number; height: number; data: Uint8ClampedArray };
      readonly ms: number;
    }
  | { readonly id: number; readonly error: WorkerError };

const port = parentPort;
if (!port) throw new Error('encode-worker.ts runs as a worker thread');

port.on(
  'message',
  async (message: EncodeRequest | DecodeRowsRequest | { warmUp: readonly OutputFormat[] }) => {
    if ('warmUp' in message) {
      await warmUp(message.warmUp);
      port.postMessage({ ready: true });
      return;
    }
    const started = performance.now();
    try {
      if ('decode' in message) {
        const { bytes, shrink, rows, cmyk } = message.decode;
        const image = await decodeJpegRows(bytes, shrink, rows, { cmyk });
        const reply: EncodeReply = { id: message.id, image, ms: performance.now() - started };
        port.postMessage(reply, [image.data.buffer as ArrayBuffer]);
        return;
      }
      const bytes = await encode(
        message.format,
        { width: message.width, height: message.height, data: message.data },
        message.options,
      );
      const reply: EncodeReply = { id: message.id, bytes, ms: performance.now() - started };
      port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
    } catch (error) {
      const { name, message: text, stack } = error as Error;
      const invalid = error instanceof InvalidImageError && { reason: error.reason, details: error.details };
      port.postMessage({
        id: message.id,
        error: { name, message: text, stack, ...invalid },
      } satisfies EncodeReply);
    }
  },
);
