import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { ConfigError, StorageError } from '../../src/core/errors.ts';
import { createApiHandler, FAILED_MESSAGE } from '../../src/handlers/api.ts';
import type { ApiEvent } from '../../src/handlers/http.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import type { StatusStore } from '../../src/status/types.ts';
import { createS3Client, S3Storage } from '../../src/storage/s3.ts';
import { startTestS3 } from '../support/s3.ts';

/**
 * index.api called with the events API Gateway sends, over a real S3 API (s3rver) and DynamoDB API
 * (dynalite): what real HTTP through imgpipe dev cannot bring about on demand (an image caught
 * mid-processing, a throttled or broken dependency, an API deployed without auth), and the claims
 * as API Gateway's JWT authorizer passes them.
 */
const SOURCE = 'api-uploads';
const OUTPUT = 'api-variants';

let s3: Awaited<ReturnType<typeof startTestS3>>;
let dynamo: LocalDynamo;
let tables = 0;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT]);
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await s3?.stop();
  await dynamo?.close();
});

async function setup(
  options: {
    env?: Record<string, string>;
    /** The processing function's settings the API function is given too (terraform/modules/api). */
    runtime?: Record<string, string>;
    status?: (real: StatusStore) => StatusStore;
    /** The S3 client of the output storage, which presigns (default: the test's). */
    client?: S3Client;
  } = {},
) {
  const table = `imgpipe-api-${++tables}`;
  await dynamo.createStatusTable(table);
  const real = new DynamoStatusStore(dynamo.client, table);
  const config = loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_STATUS_TABLE: table,
    ...options.runtime,
  });
  const logger = new Logger({ serviceName: 'imgpipe-test', logLevel: 'INFO' });
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const handler = createApiHandler(
    {
      config,
      sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
      output: new S3Storage(options.client ?? s3.client, OUTPUT),
      quarantine: new S3Storage(s3.client, OUTPUT),
      logger,
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
      status: options.status ? options.status(real) : real,
    },
    { env: { IMGPIPE_UPLOAD_BUCKET: SOURCE, ...options.env } },
  );
  return { handler, status: real };
}

function event(
  routeKey: string,
  options: { key?: string; claims?: Record<string, string> | null; query?: Record<string, string> } = {},
): ApiEvent {
  const claims = options.claims === undefined ? { sub: 'alice' } : options.claims;
  return {
    version: '2.0',
    routeKey,
    rawPath: options.key ? `/images/${options.key}` : '/images',
    rawQueryString: '',
    headers: { host: 'api.example.com' },
    ...(options.key ? { pathParameters: { key: options.key } } : {}),
    ...(options.query ? { queryStringParameters: options.query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      ...(claims === null
        ? {}
        : { authorizer: { principalId: '', integrationLatency: 0, jwt: { claims, scopes: [] } } }),
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: {
        method: 'GET',
        path: '/images',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: 'req-123',
      routeKey,
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  } as unknown as ApiEvent;
}

const parse = (body: string | undefined) => JSON.parse(body ?? '{}');

/** The credentials Lambda puts in a function's environment (s3rver takes any). */
const LAMBDA_ENV = {
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
};

describe('index.api', () => {
  it('refuses to delete an image while it is being processed (409), and deletes it once finished', async () => {
    const { handler, status } = await setup();
    const key = 'uploads/alice/1/photo.jpg';
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: 'x' }));
    await status.begin({ bucket: SOURCE, key, sequencer: '01' });
    const busy = await handler(event('DELETE /images/{key+}', { key }));
    expect(busy.statusCode).toBe(409);
    expect(parse(busy.body).error).toMatchObject({ code: 'conflict' });
    expect(busy.headers?.['retry-after']).toBe('10');
    await status.finish({ bucket: SOURCE, key, sequencer: '01' }, { status: 'failed', message: 'x' });
    const done = await handler(event('DELETE /images/{key+}', { key }));
    expect(done.statusCode).toBe(202);
    expect(await new S3Storage(s3.client, SOURCE).head(key)).toBeUndefined();
  });

  it("answers an upload whose expiresAt is no later than the time S3 refuses it from (the policy's expiration)", async () => {
    // expiresAt was taken from the clock after signing, in milliseconds, while the policy's
    // expiration is the time before signing cut to the second: up to a second (and the signing's
    // own time) later than S3's limit, so a client starting at its expiresAt was refused "Policy expired".
    // The clock stands half way through a second: read after signing in milliseconds, expiresAt
    // would be half a second past the policy's expiration (at a whole second the two would agree).
    const { handler } = await setup();
    const now = new Date();
    now.setUTCMilliseconds(500);
    vi.useFakeTimers({ toFake: ['Date'], now });
    const answer = await handler({
      ...event('POST /uploads'),
      headers: { host: 'api.example.com', 'content-type': 'application/json' },
      body: JSON.stringify({ filename: 'a.jpg', contentType: 'image/jpeg', size: 10 }),
    } as ApiEvent).finally(() => vi.useRealTimers());
    expect(answer.statusCode).toBe(201);
    const { upload } = parse(answer.body);
    const policy = JSON.parse(Buffer.from(upload.fields.Policy, 'base64').toString('utf8'));
    expect(upload.expiresAt).toBe(new Date(policy.expiration).toISOString());
  });

  it('answers an upload that expires no later than the credentials that sign its policy', async () => {
    // A presigned POST stops working when the session of the credentials that signed it ends,
    // whatever its policy's expiration: the function's role credentials (container credentials, a
    // session with AWS_CREDENTIAL_EXPIRATION) may have less left than upload_expires_seconds (up
    // to 3600). The outputs' presigned GETs were already cut so (S3UrlSigner.presignDownload).
    const expiration = new Date(Date.now() + 600_000);
    const client = createS3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: async () => ({ ...LOCAL_CREDENTIALS, sessionToken: 'session', expiration }),
    });
    const { handler } = await setup({
      client,
      env: { IMGPIPE_UPLOAD_EXPIRES_SECONDS: '3600' },
    });
    const answer = await handler({
      ...event('POST /uploads'),
      headers: { host: 'api.example.com', 'content-type': 'application/json' },
      body: JSON.stringify({ filename: 'a.jpg', contentType: 'image/jpeg', size: 3 }),
    } as ApiEvent);
    expect(answer.statusCode).toBe(201);
    const { key, upload } = parse(answer.body);
    const policy = JSON.parse(Buffer.from(upload.fields.Policy, 'base64').toString('utf8'));
    // Not past the credentials' expiration, nor cut short of it by more than the signing took.
    expect(Date.parse(policy.expiration)).toBeLessThanOrEqual(expiration.getTime());
    expect(Date.parse(policy.expiration)).toBeGreaterThan(expiration.getTime() - 100_000);
    expect(upload.expiresAt).toBe(new Date(policy.expiration).toISOString());
    // The POST works: S3 takes it (s3rver does not check the session's expiry).
    const form = new FormData();
    for (const [field, value] of Object.entries(upload.fields as Record<string, string>))
      form.append(field, value);
    form.append('file', new Blob([new Uint8Array([1, 2, 3])]), 'a.jpg');
    expect((await fetch(upload.url, { method: 'POST', body: form })).status).toBe(204);
    expect((await new S3Storage(s3.client, SOURCE).head(key))?.size).toBe(3);
  });

  it("cuts presigned URLs to an hour when signed with Lambda's session credentials, whose expiration the SDK does not know", async () => {
    // Lambda puts its role's credentials in the environment (AWS_SESSION_TOKEN, no
    // AWS_CREDENTIAL_EXPIRATION): the SDK's default chain (fromEnv) gives them no expiration, so a
    // download_expires_seconds of 43,200 made 12-hour URLs that stopped working (ExpiredToken)
    // whenever the session ended. Long-term keys (an IAM user's, no session) keep the setting.
    const key = 'uploads/alice/lambda/photo.jpg';
    const manifest = {
      source: { format: 'jpeg', displayWidth: 4, displayHeight: 3, size: 10 },
      outputs: [
        {
          variant: 'small',
          format: 'jpeg',
          key: `small/${key}.jpg`,
          contentType: 'image/jpeg',
          width: 4,
          height: 3,
          bytes: 5,
        },
      ],
    };
    await s3.client.send(
      new PutObjectCommand({ Bucket: OUTPUT, Key: `manifests/${key}.json`, Body: JSON.stringify(manifest) }),
    );
    const saved = { ...process.env };
    const expiresOf = async (session: string | undefined) => {
      Object.assign(process.env, LAMBDA_ENV);
      if (session) process.env.AWS_SESSION_TOKEN = session;
      else delete process.env.AWS_SESSION_TOKEN;
      delete process.env.AWS_CREDENTIAL_EXPIRATION;
      try {
        // No credentials given: the SDK's default chain, as in the function.
        const client = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' });
        const { handler, status } = await setup({
          client,
          env: { IMGPIPE_DOWNLOAD_EXPIRES_SECONDS: '43200', IMGPIPE_UPLOAD_EXPIRES_SECONDS: '3600' },
        });
        const ref = { bucket: SOURCE, key, sequencer: '01' };
        await status.begin(ref);
        await status.finish(ref, {
          status: 'processed',
          etag: 'e',
          size: 10,
          format: 'jpeg',
          width: 4,
          height: 3,
          manifestKey: `manifests/${key}.json`,
          outputs: 1,
          configHash: 'h',
        });
        const got = parse((await handler(event('GET /images/{key+}', { key }))).body);
        const posted = parse(
          (
            await handler({
              ...event('POST /uploads'),
              headers: { host: 'api.example.com', 'content-type': 'application/json' },
              body: JSON.stringify({ filename: 'a.jpg', contentType: 'image/jpeg', size: 3 }),
            } as ApiEvent)
          ).body,
        );
        const policy = JSON.parse(Buffer.from(posted.upload.fields.Policy, 'base64').toString('utf8'));
        return {
          download: new URL(got.outputs[0].url).searchParams.get('X-Amz-Expires'),
          upload: Math.round((Date.parse(policy.expiration) - Date.now()) / 60_000),
        };
      } finally {
        for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
        Object.assign(process.env, saved);
      }
    };
    expect(await expiresOf('session-token')).toEqual({ download: '3600', upload: 60 });
    expect(await expiresOf(undefined)).toEqual({ download: '43200', upload: 60 });
  });

  it("says that a deleted upload's outputs stay published when the deployment keeps them (IMGPIPE_DELETE_OUTPUTS=false)", async () => {
    // It said they were removed whatever the deployment does with them: a user who deleted a photo
    // was told its variants were going, while they stayed readable at their URLs.
    for (const [setting, removed] of [
      [undefined, true],
      ['true', true],
      ['false', false],
    ] as const) {
      const { handler } = await setup(setting ? { runtime: { IMGPIPE_DELETE_OUTPUTS: setting } } : {});
      const key = `uploads/alice/delete-${setting}/photo.jpg`;
      await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: 'x' }));
      const answer = await handler(event('DELETE /images/{key+}', { key }));
      expect(answer.statusCode, String(setting)).toBe(202);
      const body = parse(answer.body);
      expect(body, String(setting)).toMatchObject({ key, status: 'deleting', removesOutputs: removed });
      expect(body.message, String(setting)).toMatch(
        removed ? /outputs and manifest are removed/ : /outputs stay published/,
      );
    }
  });

  it("tells a failed image's owner that it failed but not the error, which names internal resources; an admin reads the error", async () => {
    const { handler, status } = await setup();
    const key = 'uploads/alice/1/photo.jpg';
    const ref = { bucket: SOURCE, key, sequencer: '01' };
    const error =
      'S3 put of s3://imgpipe-prod-out/large/uploads/alice/1/photo.jpg.jpg failed (AccessDenied, HTTP 403): User: arn:aws:sts::123456789012:assumed-role/imgpipe-prod/imgpipe-prod is not authorized to perform: s3:PutObject';
    await status.begin(ref);
    await status.finish(ref, { status: 'failed', message: error });
    const admin = { sub: 'ops', scope: 'imgpipe/admin' };
    for (const [what, claims] of [
      ['owner', { sub: 'alice' }],
      ['admin', admin],
    ] as const) {
      const one = await handler(event('GET /images/{key+}', { key, claims }));
      const list = await handler(event('GET /images', { query: { status: 'failed' }, claims }));
      expect(one.statusCode, what).toBe(200);
      expect(list.statusCode, what).toBe(200);
      const listed = parse(list.body).items;
      expect(
        listed.map((item: { key: string }) => item.key),
        what,
      ).toEqual([key]);
      for (const item of [parse(one.body), listed[0]]) {
        expect(item.status, what).toBe('failed');
        expect(item.message, what).toBe(claims === admin ? error : FAILED_MESSAGE);
      }
      if (claims !== admin) {
        expect(one.body).not.toContain('123456789012');
        expect(list.body).not.toContain('imgpipe-prod-out');
      }
    }
  });

  it('answers 429 when a dependency stays throttled, 503 when it fails for another passing reason, and 500 with the request id alone otherwise', async () => {
    const slowDown = Object.assign(new Error('Please reduce your request rate.'), {
      name: 'SlowDown',
      $metadata: { httpStatusCode: 503 },
    });
    const throttled = await setup({
      status: (real) => ({
        ...real,
        get: () =>
          Promise.reject(
            new StorageError('get', 's3://x', 'S3 get failed (SlowDown)', {
              retryable: true,
              cause: slowDown,
            }),
          ),
      }),
    });
    const limited = await throttled.handler(event('GET /images/{key+}', { key: 'uploads/alice/1/a.jpg' }));
    expect(limited.statusCode).toBe(429);
    expect(parse(limited.body).error.code).toBe('throttled');

    // Failing for another passing reason (a reset connection, past the SDK's retries): 503.
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const unavailable = await setup({
      status: (real) => ({
        ...real,
        get: () =>
          Promise.reject(
            new StorageError('get', 's3://x', 'S3 get failed (ECONNRESET)', {
              retryable: true,
              cause: reset,
            }),
          ),
      }),
    });
    const down = await unavailable.handler(event('GET /images/{key+}', { key: 'uploads/alice/1/a.jpg' }));
    expect([down.statusCode, parse(down.body).error.code, down.headers?.['retry-after']]).toEqual([
      503,
      'unavailable',
      '1',
    ]);

    const broken = await setup({
      status: (real) => ({
        ...real,
        list: () => Promise.reject(new TypeError('secret detail at /var/task')),
      }),
    });
    // The log (standard output, as in Lambda) keeps what the answer leaves out.
    const lines: string[] = [];
    const streams = [process.stdout, process.stderr] as const;
    const writes = streams.map((stream) => stream.write);
    for (const stream of streams)
      stream.write = ((chunk: string) => lines.push(String(chunk)) > 0) as typeof stream.write;
    const failed = await broken
      .handler(event('GET /images', { query: { status: 'failed' } }), { awsRequestId: 'req-42' } as never)
      .finally(() => {
        streams.forEach((stream, i) => {
          stream.write = writes[i]!;
        });
      });
    expect(failed.statusCode).toBe(500);
    expect(parse(failed.body)).toEqual({
      error: { code: 'internal', message: 'Internal error (request id req-42)', requestId: 'req-42' },
    });
    expect(failed.body).not.toContain('secret');
    expect(lines.join('')).toContain('secret detail at /var/task');
    expect(lines.join('')).toContain('"stack"');
  });

  it("reads groups and scopes as API Gateway flattens them, never a group that merely holds the admin group's name, and refuses a request without claims", async () => {
    const { handler } = await setup();
    const list = (claims: Record<string, string> | null) =>
      handler(event('GET /images/{key+}', { key: 'uploads/bob/1/b.jpg', claims }));
    expect((await list({ sub: 'alice' })).statusCode).toBe(403);
    expect((await list({ sub: 'ops', 'cognito:groups': '[editors admin]' })).statusCode).toBe(404);
    expect((await list({ sub: 'ops', scope: 'openid imgpipe/admin' })).statusCode).toBe(404);
    // `scp`, the array claim Okta and Entra ID put scopes in (API Gateway reads it as it reads scope).
    expect((await list({ sub: 'ops', scp: '[openid imgpipe/admin]' })).statusCode).toBe(404);
    expect((await list({ sub: 'ops', scp: 'imgpipe/admin' })).statusCode).toBe(404);
    expect((await list({ sub: 'ops', scp: '[openid imgpipe/administrators]' })).statusCode).toBe(403);
    expect((await list({ sub: 'ops', 'cognito:groups': '[administrators]' })).statusCode).toBe(403);
    // A group whose name merely holds the admin group's is not it: Cognito's may hold commas,
    // other issuers' spaces (a flattened `groups` claim cannot be split: one group or two?).
    expect((await list({ sub: 'ops', 'cognito:groups': '[ops,admin]' })).statusCode).toBe(403);
    expect((await list({ sub: 'ops', 'cognito:groups': '[editors ops,admin]' })).statusCode).toBe(403);
    expect((await list({ sub: 'ops', groups: '[Marketing admin]' })).statusCode).toBe(403);
    expect((await list({ sub: 'ops', groups: '[editors admin]' })).statusCode).toBe(403);
    expect((await list({ sub: 'ops', groups: 'admin' })).statusCode).toBe(404);
    // A list of that one group, as API Gateway flattens an array claim of one value.
    expect((await list({ sub: 'ops', groups: '[admin]' })).statusCode).toBe(404);
    expect((await list({ sub: 'ops', groups: 'Marketing admin' })).statusCode).toBe(403);
    const anonymous = await list(null);
    expect(anonymous.statusCode).toBe(401);
    expect(parse(anonymous.body).error.code).toBe('unauthorized');
  });

  it('refuses a key longer than the 1,024 bytes S3 stores (400 naming key), for the owner and an admin', async () => {
    const { handler } = await setup();
    // Segments of 199 bytes, as a file system holds them; é is two bytes in UTF-8.
    const longKey = (bytes: number) => {
      let key = 'uploads/alice/1/';
      const segment = `${'é'.repeat(99)}/`;
      while (Buffer.byteLength(key + segment) < bytes) key += segment;
      return key + 'x'.repeat(bytes - Buffer.byteLength(key));
    };
    for (const bytes of [1025, 3000]) {
      const key = longKey(bytes);
      expect(Buffer.byteLength(key)).toBe(bytes);
      for (const [route, claims] of [
        ['GET /images/{key+}', { sub: 'alice' }],
        ['DELETE /images/{key+}', { sub: 'alice' }],
        ['GET /images/{key+}', { sub: 'ops', scope: 'imgpipe/admin' }],
      ] as const) {
        const answer = await handler(event(route, { key, claims }));
        expect(answer.statusCode, `${route} ${bytes} bytes`).toBe(400);
        const { error } = parse(answer.body);
        expect(error.field).toBe('key');
        expect(error.message).toContain(`has ${bytes})`);
        expect(error.message).toContain(key.slice(0, 20));
      }
    }
    // 1,024 bytes is a key S3 can hold: looked up, and not found.
    const longest = longKey(1024);
    expect((await handler(event('GET /images/{key+}', { key: longest }))).statusCode).toBe(404);
  });

  it('refuses a since that is not a whole ISO 8601 time of a real day (400 naming since and the value), and reads those that are', async () => {
    const { handler, status } = await setup();
    const ref = { bucket: SOURCE, key: 'uploads/alice/1/photo.jpg', sequencer: '01' };
    await status.begin(ref, new Date(Date.UTC(2026, 10, 30, 12)));
    await status.finish(ref, { status: 'failed', message: 'x' }, new Date(Date.UTC(2026, 10, 30, 12)));
    const list = (since: string) => handler(event('GET /images', { query: { status: 'failed', since } }));
    // Date alone reads these as other days: 1 December, 3 March, 12 June.
    for (const since of [
      '2026-11-31T00:00:00Z',
      '2026-02-31',
      '2026-12-01 junk',
      '2026-11-30T24:30:00Z',
      '2026-11-30,2026-12-01',
    ]) {
      const answer = await list(since);
      expect(answer.statusCode, since).toBe(400);
      expect(parse(answer.body).error, since).toMatchObject({ code: 'bad-request', field: 'since' });
      expect(parse(answer.body).error.message, since).toContain(JSON.stringify(since));
    }
    const keys = async (since: string) => {
      const answer = await list(since);
      expect(answer.statusCode, since).toBe(200);
      return parse(answer.body).items.map((item: { key: string }) => item.key);
    };
    // 0001-01-01T00:00:00Z: the zero time of Go and .NET, which clients send for "from the start".
    for (const since of [
      '2026-11-30',
      '2026-11-30T11:59:59Z',
      '2026-11-30T13:59+02:00',
      '2026-11-30T11:00',
      '0001-01-01T00:00:00Z',
      '0099-12-31',
    ])
      expect(await keys(since), since).toEqual([ref.key]);
    for (const since of ['2026-12-01', '2026-11-30T12:00:01.5Z', '2027-01-01T00:00:00Z'])
      expect(await keys(since), since).toEqual([]);
  });

  it('answers 400 naming cursor for a cursor that was tampered with or belongs to another listing', async () => {
    const { handler, status } = await setup();
    const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 0, minute));
    for (const [i, owner] of ['alice', 'alice', 'bob', 'alice'].entries()) {
      const ref = { bucket: SOURCE, key: `uploads/${owner}/${i}/photo.jpg`, sequencer: `0${i}` };
      await status.begin(ref, at(i));
      await status.finish(ref, { status: 'failed', message: 'x' }, at(i));
    }
    const list = (query: Record<string, string>, claims: Record<string, string> = { sub: 'alice' }) =>
      handler(event('GET /images', { query, claims }));
    const first = await list({ status: 'failed', limit: '1' });
    expect(first.statusCode).toBe(200);
    const { cursor } = parse(first.body);
    const opened = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const seal = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    // The cursor itself leads on.
    const second = await list({ status: 'failed', limit: '1', cursor });
    expect(second.statusCode).toBe(200);
    expect(parse(second.body).items).toHaveLength(1);

    const bad: [string, Record<string, string>, Record<string, string>?][] = [
      ['an empty object', { status: 'failed', cursor: seal({}) }],
      ['a number for id', { status: 'failed', cursor: seal({ ...opened, id: 5 }) }],
      ['an extra field', { status: 'failed', cursor: seal({ ...opened, status: 'failed' }) }],
      ['a time that is not one', { status: 'failed', cursor: seal({ ...opened, updatedAt: 'soon' }) }],
      ['an array', { status: 'failed', cursor: seal([opened]) }],
      [
        'a resume time with a bad hash',
        { status: 'failed', cursor: seal({ listStatus: 'failed', before: opened.updatedAt, shown: [5] }) },
      ],
      ['another status', { status: 'quarantined', cursor }],
      ['a later since', { status: 'failed', since: '2099-01-01T00:00:00Z', cursor }],
      ['another bucket', { status: 'failed', cursor: seal({ ...opened, id: `elsewhere/${opened.id}` }) }],
      [
        "another owner's key",
        { status: 'failed', cursor: seal({ ...opened, id: `${SOURCE}/uploads/bob/2/photo.jpg` }) },
      ],
      ['another owner', { status: 'failed', cursor }, { sub: 'bob' }],
    ];
    for (const [what, query, claims] of bad) {
      const reply = await list(query, claims);
      expect(reply.statusCode, what).toBe(400);
      expect(parse(reply.body).error, what).toMatchObject({ code: 'bad-request', field: 'cursor' });
      expect(parse(reply.body).error.message, what).toContain(query.cursor!.slice(0, 20));
    }
    // An admin lists every owner's items: the cursor of any of them leads on.
    const admin = await list(
      { status: 'failed', limit: '1', cursor },
      { sub: 'ops', scope: 'imgpipe/admin' },
    );
    expect(admin.statusCode).toBe(200);
  });

  it('answers a refused upload request within what Lambda returns (6 MB), naming the field and value however long they are', async () => {
    // The 400 of an unknown field held its name twice and the 415 the whole contentType: a body of
    // a few MB (API Gateway takes 10) made an answer over Lambda's 6 MB, which API Gateway turns
    // into a 500 (and the API's 5xx alarm) for a bad request.
    const { handler } = await setup();
    const long = 'x'.repeat(4_000_000);
    const post = (body: unknown) =>
      handler({
        ...event('POST /uploads'),
        headers: { host: 'api.example.com', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      } as ApiEvent);
    const field = await post({ filename: 'a.jpg', contentType: 'image/jpeg', size: 1, [long]: 1 });
    const type = await post({ filename: 'a.jpg', contentType: `image/${long}`, size: 1 });
    for (const [reply, status, name] of [
      [field, 400, 'xxxxxxxx'],
      [type, 415, 'contentType'],
    ] as const) {
      expect(reply.statusCode).toBe(status);
      expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThan(4096);
      const error = parse(reply.body).error;
      expect(error.field).toMatch(new RegExp(`^${name}`));
      expect(error.message).toMatch(/x{10}/);
    }
    expect(parse(type.body).error).toMatchObject({ value: expect.stringMatching(/^image\/x{100,}…$/) });
    expect(parse(field.body).error.field).toMatch(/^x{100,}…$/);
  });

  it('never answers a processed image without its outputs as if it had none: read again when its manifest is gone, else said why', async () => {
    // The item said processed and the manifest read after it missed (a removal, or a newer version,
    // deleting or replacing the outputs between the two reads): the answer was `processed` with no
    // outputs and nothing to say why, which the page showed as "0 variants".
    const key = 'uploads/alice/race/photo.jpg';
    const processed = {
      status: 'processed',
      etag: 'e1',
      size: 10,
      format: 'jpeg',
      width: 4,
      height: 3,
      manifestKey: `manifests/${key}.json`,
      outputs: 9,
      configHash: 'h',
    } as const;
    let reads = 0;
    const { handler, status } = await setup({
      status: (real) => ({
        ...real,
        begin: real.begin.bind(real),
        finish: real.finish.bind(real),
        list: real.list.bind(real),
        get: async (bucket, key) => {
          const item = await real.get(bucket, key);
          // The removal's event is taken just after the first read, before the manifest is read.
          if (++reads === 1) await real.begin({ bucket: SOURCE, key, sequencer: '02' });
          return item;
        },
      }),
    });
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: 'x' }));
    await status.begin({ bucket: SOURCE, key, sequencer: '01' });
    await status.finish({ bucket: SOURCE, key, sequencer: '01' }, processed);
    const raced = parse((await handler(event('GET /images/{key+}', { key }))).body);
    expect(raced).toMatchObject({ key, status: 'processing' });
    expect(raced.outputs).toBeUndefined();

    // Still processed once read again (the manifest deleted, or not yet back): no outputs, not an
    // empty list, and a message saying why.
    const still = 'uploads/alice/still/photo.jpg';
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: still, Body: 'x' }));
    await status.begin({ bucket: SOURCE, key: still, sequencer: '01' });
    await status.finish({ bucket: SOURCE, key: still, sequencer: '01' }, processed);
    const answer = parse((await handler(event('GET /images/{key+}', { key: still }))).body);
    expect(answer).toMatchObject({ key: still, status: 'processed', outputCount: 9 });
    expect(answer.outputs).toBeUndefined();
    expect(answer.message).toMatch(/outputs cannot be listed now/);
  });

  it('lets a deployment without auth act as the owner "anonymous" when allowed', async () => {
    const { handler } = await setup({ env: { IMGPIPE_API_ANONYMOUS: 'true' } });
    const own = await handler(
      event('GET /images/{key+}', { key: 'uploads/anonymous/1/a.jpg', claims: null }),
    );
    expect(own.statusCode).toBe(404);
    const other = await handler(event('GET /images/{key+}', { key: 'uploads/alice/1/a.jpg', claims: null }));
    expect(other.statusCode).toBe(403);
  });

  it('fails the init of an index.api function on a bad setting, naming it', async () => {
    await expect(
      setup({ env: { _HANDLER: 'index.api', IMGPIPE_UPLOAD_EXPIRES_SECONDS: '5' } }),
    ).rejects.toThrow(
      new ConfigError(
        'IMGPIPE_UPLOAD_EXPIRES_SECONDS',
        '5',
        'Expected integer between 60 and 3600 for IMGPIPE_UPLOAD_EXPIRES_SECONDS but received "5" of type string',
      ),
    );
    // Elsewhere (the S3 handler's function) the API is only unconfigured: it answers 500.
    const { handler } = await setup({ env: { IMGPIPE_UPLOAD_BUCKET: '' } });
    expect((await handler(event('GET /images', { query: { status: 'failed' } }))).statusCode).toBe(500);
  });
});
