import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * A local Lambda Runtime API (the endpoint the Lambda service serves inside every execution
 * environment), enough for a runtime interface client to run a function: it hands out queued events
 * on GET /2018-06-01/runtime/invocation/next (long-polling, as Lambda does) and collects what the
 * function answers on /response and /error, and init failures on /runtime/init/error.
 */
export interface InvocationResult {
  readonly requestId: string;
  readonly ok: boolean;
  readonly body: unknown;
  readonly errorType?: string;
}

export interface RuntimeApi {
  readonly address: string;
  /** When the runtime client first asked for an event (performance.now() clock), if it has. */
  readonly firstNextAt: () => number | undefined;
  readonly initError: () => unknown;
  invoke(event: unknown, timeoutMs?: number): Promise<InvocationResult>;
  close(): Promise<void>;
}

const PREFIX = '/2018-06-01/runtime';

export async function startRuntimeApi(functionArn: string): Promise<RuntimeApi> {
  const queue: { requestId: string; event: unknown }[] = [];
  const waiting: ((item: { requestId: string; event: unknown }) => void)[] = [];
  const pending = new Map<string, (result: InvocationResult) => void>();
  let firstNextAt: number | undefined;
  let initError: unknown;

  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  };

  const server: Server = createServer(async (req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      firstNextAt ??= performance.now();
      const item =
        queue.shift() ??
        (await new Promise<{ requestId: string; event: unknown }>((resolve) => waiting.push(resolve)));
      res.writeHead(200, {
        'content-type': 'application/json',
        'lambda-runtime-aws-request-id': item.requestId,
        'lambda-runtime-deadline-ms': String(Date.now() + 900_000),
        'lambda-runtime-invoked-function-arn': functionArn,
        'lambda-runtime-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)};Sampled=0`,
      });
      res.end(JSON.stringify(item.event));
      return;
    }
    const match = url.match(new RegExp(`^${PREFIX}/invocation/([^/]+)/(response|error)$`));
    if (req.method === 'POST' && match) {
      const requestId = decodeURIComponent(match[1]!);
      const body = await readBody(req);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
      pending.get(requestId)?.({
        requestId,
        ok: match[2] === 'response',
        body,
        errorType: req.headers['lambda-runtime-function-error-type'] as string | undefined,
      });
      pending.delete(requestId);
      return;
    }
    if (req.method === 'POST' && url === `${PREFIX}/init/error`) {
      initError = await readBody(req);
      res.writeHead(202).end('{"status":"OK"}');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    address: `127.0.0.1:${port}`,
    firstNextAt: () => firstNextAt,
    initError: () => initError,
    invoke(event, timeoutMs = 120_000) {
      const requestId = randomUUID();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`No answer to invocation ${requestId} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        pending.set(requestId, (result) => {
          clearTimeout(timer);
          resolve(result);
        });
        const item = { requestId, event };
        const next = waiting.shift();
        if (next) next(item);
        else queue.push(item);
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
