import { parentPort } from 'node:worker_threads';
import { encode, warmUp } from '../codecs/index.ts';
import type { FormatOptions } from '../core/config.ts';
import type { OutputFormat } from '../core/formats.ts';

/**
 * One encoder thread: its own instance of each codec (WASM modules compiled in this thread), one
 * encode at a time. Messages: { id, format, width, height, data, options } in, { id, bytes, ms } or
 * { id, error } out. The encoded bytes are transferred back, not copied.
 */
export interface EncodeRequest {
  readonly id: number;
  readonly format: OutputFormat;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
  readonly options: FormatOptions;
}

export type EncodeReply =
  | { readonly id: number; readonly bytes: Uint8Array; readonly ms: number }
  | { readonly id: number; readonly error: { name: string; message: string; stack?: string } };

const port = parentPort;
if (!port) throw new Error('encode-worker.ts runs as a worker thread');

port.on('message', async (message: EncodeRequest | { warmUp: readonly OutputFormat[] }) => {
  if ('warmUp' in message) {
    await warmUp(message.warmUp);
    port.postMessage({ ready: true });
    return;
  }
  const started = performance.now();
  try {
    const bytes = await encode(
      message.format,
      { width: message.width, height: message.height, data: message.data },
      message.options,
    );
    const reply: EncodeReply = { id: message.id, bytes, ms: performance.now() - started };
    port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  } catch (error) {
    const { name, message: text, stack } = error as Error;
    port.postMessage({ id: message.id, error: { name, message: text, stack } } satisfies EncodeReply);
  }
});
