import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP proxy that sits between the AWS SDK and a local S3 server and misbehaves as S3 and
 * networks do, on a seeded share of requests:
 *
 *   internal-error   500 InternalError, with S3's XML error body (request never forwarded)
 *   slow-down        503 SlowDown, with S3's XML error body (request never forwarded)
 *   reset-request    the connection reset while the request is being sent: a request with a body
 *                    is forwarded with only its first half, then both sides are reset
 *   reset-response   the request is forwarded and applied, then the connection is reset after half
 *                    of the response (for an empty body: before the status line), so the client
 *                    cannot tell whether a write happened
 *   delay            10-80 ms before the request is forwarded
 *
 * Decisions come from a seeded PRNG, drawn per request in arrival order. The proxy counts what it
 * injected, the SDK's own retries (its `amz-sdk-request: attempt=N` header), and logs every write
 * (PUT, POST, DELETE) the server answered, in the order the server answered them.
 */
export const FAULT_KINDS = [
  'internal-error',
  'slow-down',
  'reset-request',
  'reset-response',
  'delay',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultProxyOptions {
  /** The S3 server, e.g. http://127.0.0.1:4568. */
  readonly target: string;
  readonly seed: number;
  /** Share of requests (0-1) that get a fault, each kind equally likely. */
  readonly share: number;
}

/** A write the server answered: its order, what it was, and whether the client got the answer. */
export interface ServerWrite {
  readonly seq: number;
  readonly method: string;
  readonly bucket: string;
  readonly key: string;
  readonly status: number;
  /** CopyObject: the `x-amz-copy-source` header. */
  readonly copySource?: string;
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Faults injected so far, by kind. */
  readonly injected: Record<FaultKind, number>;
  /** Requests seen, and how many of them were the SDK's retries (attempt 2 or later). */
  readonly counts: { requests: number; sdkRetries: number };
  readonly writes: ServerWrite[];
  /** The share of requests faulted now; setShare changes it from now on (0: a plain proxy). */
  readonly share: number;
  setShare(share: number): void;
  close(): Promise<void>;
}

/** mulberry32: a small, well-distributed 32-bit PRNG, so a seed gives the same decisions. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The error document S3 sends (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). */
function s3ErrorBody(code: string, message: string, resource: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message><Resource>${escapeXml(resource)}</Resource>` +
    `<RequestId>${requestId}</RequestId><HostId>${randomBytes(24).toString('base64')}</HostId></Error>`
  );
}

const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const ERRORS = {
  'internal-error': {
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  },
  'slow-down': { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
} as const;

/** Path-style `/bucket/key?query` to bucket and decoded key. */
function objectOf(url: string): { bucket: string; key: string } {
  const path = url.split('?')[0]!;
  const [, bucket = '', ...rest] = path.split('/');
  return { bucket: decodeURIComponent(bucket), key: decodeURIComponent(rest.join('/')) };
}

function reset(socket: Socket | null | undefined): void {
  if (!socket || socket.destroyed) return;
  socket.resetAndDestroy();
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seededRandom(options.seed);
  let share = options.share;
  const injected = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  const counts = { requests: 0, sdkRetries: 0 };
  const writes: ServerWrite[] = [];
  let seq = 0;

  function choose(): FaultKind | undefined {
    // Two draws per request whatever the share (a delay takes a third, for its length).
    const hit = random() < share;
    const kind = FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)]!;
    return hit ? kind : undefined;
  }

  function forward(req: IncomingMessage, res: ServerResponse, fault: FaultKind | undefined): void {
    const isWrite = req.method === 'PUT' || req.method === 'POST' || req.method === 'DELETE';
    const upstream = request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    upstream.on('response', (answer) => {
      // An answer cut short upstream (s3rver writes files in place, so a GET racing a PUT of the
      // same key can end early) reaches the client as a reset, as over a network, not as silence.
      answer.on('close', () => {
        if (!answer.complete) reset(req.socket);
      });
      const record = () => {
        if (!isWrite) return;
        const copy = req.headers['x-amz-copy-source'];
        writes.push({
          seq: ++seq,
          method: req.method!,
          ...objectOf(req.url!),
          status: answer.statusCode ?? 0,
          ...(typeof copy === 'string' ? { copySource: decodeURIComponent(copy) } : {}),
        });
      };
      if (fault === 'reset-response') {
        // The server has done the work; the client gets at most half of its answer.
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          record();
          const body = Buffer.concat(chunks);
          if (body.length === 0) {
            reset(req.socket);
            return;
          }
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => reset(req.socket));
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 500, answer.headers);
      answer.pipe(res);
      answer.on('end', record);
    });
    upstream.on('error', () => reset(req.socket));
    if (fault === 'reset-request') {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared <= 1) {
        reset(req.socket);
        upstream.destroy();
        return;
      }
      // Half the body reaches the server, then the connection breaks on both sides.
      let sent = 0;
      const half = Math.floor(declared / 2);
      req.on('data', (chunk: Buffer) => {
        if (sent >= half) return;
        const part = chunk.subarray(0, half - sent);
        sent += part.length;
        upstream.write(part);
        if (sent >= half) {
          upstream.destroy();
          reset(req.socket);
        }
      });
      return;
    }
    req.pipe(upstream);
  }

  const server = createServer((req, res) => {
    counts.requests++;
    const attempt = /attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''));
    if (attempt && Number(attempt[1]) > 1) counts.sdkRetries++;
    const fault = choose();
    if (fault) injected[fault]++;
    if (fault === 'internal-error' || fault === 'slow-down') {
      const { status, code, message } = ERRORS[fault];
      const requestId = randomBytes(8).toString('hex').toUpperCase();
      // Read the request to its end first, as S3 does, so the client is not cut off mid-send.
      req.resume();
      req.on('end', () => {
        const body = req.method === 'HEAD' ? '' : s3ErrorBody(code, message, req.url ?? '/', requestId);
        res.writeHead(status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
          'x-amz-request-id': requestId,
        });
        res.end(body);
      });
      return;
    }
    if (fault === 'delay') {
      req.pause();
      setTimeout(() => forward(req, res, fault), 10 + Math.floor(random() * 70));
      return;
    }
    forward(req, res, fault);
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  // Longer than the SDK keeps an idle socket, so no reset comes from the proxy but the injected ones.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    counts,
    writes,
    get share() {
      return share;
    },
    setShare(next) {
      share = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
