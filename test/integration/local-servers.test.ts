import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalApi } from '../../src/cli/local-api.ts';
import { startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { LocalIssuer } from '../../src/cli/local-oidc.ts';
import { startLocalS3 } from '../../src/cli/local-s3.ts';
import { startLocalStepFunctions } from '../../src/cli/local-sfn-api.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';

/** One request on the agent: whether it went over a connection an earlier request had opened. */
function get(agent: Agent, endpoint: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request(`${endpoint}/`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(req.reusedSocket));
    });
    req.on('error', reject);
    req.end();
  });
}

// imgpipe dev runs the pipeline in the process that serves: an image's decode pauses the event
// loop for seconds, and a server that closed a connection after Node's default 5 s idle reset the
// request a client had sent on it meanwhile (imgpipe reprocess --endpoint lost track of its run
// with ECONNRESET on a loaded machine). Every local server keeps an idle connection as AWS does.
describe("imgpipe dev's servers keep an idle connection open past Node's default 5 s", () => {
  const directory = mkdtempSync(join(tmpdir(), 'imgpipe-keepalive-'));
  const closing: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(closing.map((close) => close()));
    rmSync(directory, { recursive: true, force: true });
  });

  it('S3, DynamoDB, Step Functions and the API each serve a request 6 s later on the same connection', async () => {
    const s3 = await startLocalS3({ directory, buckets: ['keepalive'] });
    const dynamo = await startLocalDynamo();
    const sfn = await startLocalStepFunctions({ host: '127.0.0.1', port: 0, machines: [] });
    const api = await startLocalApi({ host: '127.0.0.1', port: 0 });
    closing.push(s3.close, dynamo.close, sfn.close, api.close);
    const servers = { s3: s3.endpoint, dynamodb: dynamo.endpoint, stepfunctions: sfn.endpoint, api: api.url };
    const reused = await Promise.all(
      Object.entries(servers).map(async ([name, endpoint]) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        try {
          expect(await get(agent, endpoint), `${name}: the first request`).toBe(false);
          await new Promise((resolve) => setTimeout(resolve, 6_000));
          return [name, await get(agent, endpoint)] as const;
        } finally {
          agent.destroy();
        }
      }),
    );
    expect(Object.fromEntries(reused)).toEqual({ s3: true, dynamodb: true, stepfunctions: true, api: true });
  }, 30_000);
});

describe("imgpipe dev's DynamoDB", () => {
  it('gives the status table once it is ACTIVE: a write right after is not refused as a missing table', async () => {
    // dynalite answers CreateTable with the table CREATING; a write before it is ACTIVE is refused
    // ResourceNotFoundException, as DynamoDB does. Its delay is 0 in imgpipe dev, which a loaded
    // machine still lost once; here it is long enough to be seen.
    const dynamo = await startLocalDynamo({ createTableMs: 400 });
    try {
      await dynamo.createStatusTable('imgpipe-active');
      const store = new DynamoStatusStore(dynamo.client, 'imgpipe-active');
      await expect(store.begin({ bucket: 'b', key: 'k.jpg', etag: 'e', sequencer: '01' })).resolves.toBe(
        'applied',
      );
    } finally {
      await dynamo.close();
    }
  });
});

describe("imgpipe dev's Step Functions API", () => {
  it('answers StartExecution with the same name and input as a running execution with that execution, as AWS does, and refuses other input or a closed one', async () => {
    let release!: () => void;
    const ended = new Promise<void>((resolve) => {
      release = resolve;
    });
    let starts = 0;
    const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:held';
    const sfn = await startLocalStepFunctions({
      host: '127.0.0.1',
      port: 0,
      machines: [
        {
          arn,
          maps: {},
          start: () => {
            starts++;
            return {
              result: ended.then(() => ({ output: {}, invoked: [], retried: [], caught: [] })),
              abort: () => undefined,
            };
          },
        },
      ],
    });
    const client = new SFNClient({
      endpoint: sfn.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      const start = (input: string) =>
        client.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'run-1', input }));
      const first = await start('{"a":1}');
      // A retry of the same request (its response was lost): the same execution, not a second one.
      const again = await start('{"a":1}');
      expect(again.executionArn).toBe(first.executionArn);
      expect(again.startDate).toEqual(first.startDate);
      expect(starts).toBe(1);
      await expect(start('{"a":2}')).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
      release();
      await sfn.idle();
      await expect(start('{"a":1}')).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
      expect(starts).toBe(1);
    } finally {
      release();
      client.destroy();
      await sfn.close();
    }
  });
});

describe("imgpipe dev's HTTP API", () => {
  it("answers 500 Internal Server Error, as API Gateway does, when the function's answer is over Lambda's 6 MB", async () => {
    // Lambda refuses a synchronous response over 6 MB, and API Gateway answers the failed
    // invocation 500: dev handed such an answer to the client whole, so an answer that is a 500 in
    // AWS (an error echoing megabytes of a request, until e689578) passed locally.
    const directory = mkdtempSync(join(tmpdir(), 'imgpipe-api-limit-'));
    const api = await startLocalApi({ host: '127.0.0.1', port: 0 });
    try {
      const issuer = await LocalIssuer.open(directory, `${api.url}/oidc`);
      const body = (bytes: number) => JSON.stringify({ items: [], padding: 'x'.repeat(bytes) });
      let size = 0;
      api.serve({
        handler: async () => ({
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body: body(size),
        }),
        issuer,
        files: new Map(),
        throttle: { rate: 100, burst: 100 },
      });
      const get = async (bytes: number) => {
        size = bytes;
        const response = await fetch(`${api.url}/images?status=failed`, {
          headers: { authorization: `Bearer ${issuer.token({ sub: 'alice' })}` },
        });
        return [response.status, (await response.text()).length];
      };
      expect(await get(5 * 1024 * 1024)).toEqual([200, body(5 * 1024 * 1024).length]);
      const [status, length] = await get(7 * 1024 * 1024);
      expect([status, length]).toEqual([500, JSON.stringify({ message: 'Internal Server Error' }).length]);
    } finally {
      await api.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
