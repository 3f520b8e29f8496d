import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_BUCKETS, DEV_SIGNING_KEY } from '../../src/cli/dev.ts';
import { signJwt } from '../../src/cli/local-oidc.ts';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { networkUrls } from '../../src/cli/local-url.ts';
import { DEV_STATUS_TABLE } from '../../src/cli/status.ts';
import { UPLOAD_CONTENT_TYPES } from '../../src/handlers/api.ts';
import { signUrl } from '../../src/handlers/transform-request.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import { createS3Client, S3Storage } from '../../src/storage/s3.ts';
import { runCli } from '../support/cli.ts';
import { type DevApi, startDevApi } from '../support/dev-api.ts';
import { fixturePath } from '../support/fixtures.ts';

/**
 * The HTTP API over real HTTP, as a client sees it: `imgpipe dev` plays API Gateway (routes, JWT
 * authorizer, throttling) in front of index.api, with s3rver (POST policies enforced by our patch)
 * and the status table on dynalite behind it.
 */
const PHOTO = fixturePath('photos/colour-fig-red-bowl.jpg');
const TEXT = fixturePath('edge/broken/text-named.jpg');
const MAX_BYTES = 32 * 1024 * 1024;

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  readonly body: any;
}

let dev: DevApi;
let alice: string;
let bob: string;
let admin: string;

beforeAll(async () => {
  dev = await startDevApi();
  // The command a user runs; the other tokens come from the same issuer in-process.
  const printed = await runCli(['dev', 'token', '--dir', dev.dir, '--sub', 'alice']);
  expect(printed.code).toBe(0);
  alice = printed.stdout.trim();
  bob = dev.issuer.token({ sub: 'bob' });
  admin = dev.issuer.token({ sub: 'ops', admin: true });
}, 120_000);

afterAll(async () => {
  await dev?.stop();
});

async function call(
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path.startsWith('http') ? path : `${dev.url}${path}`, {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** POST /uploads, then the presigned POST with `bytes` (the declared size unless `declared`). */
async function upload(
  token: string,
  name: string,
  bytes: Uint8Array,
  declared = bytes.length,
): Promise<{ created: Reply; stored: Response }> {
  const created = await call('POST', '/uploads', {
    token,
    json: { filename: name, contentType: 'image/jpeg', size: declared },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const form = new FormData();
  for (const [field, value] of Object.entries(created.body.upload.fields as Record<string, string>))
    form.append(field, value);
  form.append('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  const stored = await fetch(created.body.upload.url, { method: 'POST', body: form });
  return { created, stored };
}

/** Polls the status URL until the image has a final status. */
async function settled(token: string, statusUrl: string): Promise<Reply> {
  for (let i = 0; i < 600; i++) {
    const reply = await call('GET', statusUrl, { token });
    if (reply.status !== 200 || ['processed', 'quarantined', 'failed'].includes(reply.body.status))
      return reply;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${statusUrl} did not settle`);
}

describe('the HTTP API through imgpipe dev', () => {
  let photo: { key: string; statusUrl: string };

  it('answers 401, as the JWT authorizer does, without a token, with another key, and when expired', async () => {
    const none = await call('GET', '/images?status=failed');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ message: 'Unauthorized' });

    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(
      { alg: 'RS256', typ: 'JWT', kid: dev.issuer.kid },
      { iss: dev.issuer.issuer, sub: 'alice', aud: dev.issuer.clientId, iat: now, exp: now + 600 },
      stranger,
    );
    const signed = await call('GET', '/images?status=failed', { token: forged });
    expect(signed.status).toBe(401);
    expect(signed.headers.get('www-authenticate')).toMatch(/invalid_token.*signature/i);

    const expired = dev.issuer.token({ sub: 'alice', now: new Date(Date.now() - 7_200_000) });
    const late = await call('GET', '/images?status=failed', { token: expired });
    expect(late.status).toBe(401);
    expect(late.headers.get('www-authenticate')).toMatch(/expired/i);

    expect((await call('GET', '/images?status=failed', { token: alice })).status).toBe(200);
  });

  it('refuses bad upload requests with the field that is wrong', async () => {
    const cases: [unknown, number, string | undefined][] = [
      [{ filename: 'a.jpg', contentType: 'image/jpeg' }, 400, 'size'],
      [{ filename: '', contentType: 'image/jpeg', size: 10 }, 400, 'filename'],
      [{ filename: 'a.jpg', contentType: 'image/jpeg', size: 1.5 }, 400, 'size'],
      [{ filename: 'a.jpg', contentType: 'image/jpeg', size: 10, acl: 'public-read' }, 400, 'acl'],
      [['a.jpg'], 400, 'body'],
      [{ filename: 'a.tiff', contentType: 'image/tiff', size: 10 }, 415, 'contentType'],
      [{ filename: 'a.jpg', contentType: 'image/jpeg', size: MAX_BYTES + 1 }, 413, 'size'],
    ];
    for (const [json, status, field] of cases) {
      const reply = await call('POST', '/uploads', { token: alice, json });
      expect(reply.status, JSON.stringify(json)).toBe(status);
      expect(reply.body.error.field, JSON.stringify(json)).toBe(field);
      expect(reply.body.error.message).toMatch(/^Expected .* but received /);
    }
    const notJson = await call('POST', '/uploads', {
      token: alice,
      body: '{"filename":',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatchObject({ code: 'bad-request', field: 'body' });
    expect(notJson.body.error.message).toMatch(
      /^The request body is not JSON \(received "\{\\"filename\\":"\): /,
    );
    const form = await call('POST', '/uploads', {
      token: alice,
      body: 'a=b',
      headers: { 'content-type': 'text/plain' },
    });
    expect(form.status).toBe(415);
    expect(form.body.error.field).toBe('Content-Type');
    expect(form.body.error).toMatchObject({ value: 'text/plain', accepted: ['application/json'] });
  });

  it('says beside the message of a refused size its limit and value in bytes, and of a refused type the accepted ones', async () => {
    // A client (the web page) reads these rather than the message, which is for people.
    const huge = await call('POST', '/uploads', {
      token: alice,
      json: { filename: 'huge.jpg', contentType: 'image/jpeg', size: 40_000_000 },
    });
    expect(huge.status).toBe(413);
    expect(huge.body).toEqual({
      error: {
        code: 'too-large',
        message: `Expected at most ${MAX_BYTES} bytes for size but received 40000000: uploads are limited to ${MAX_BYTES} bytes`,
        field: 'size',
        value: 40_000_000,
        limit: MAX_BYTES,
        unit: 'bytes',
      },
    });
    const tiff = await call('POST', '/uploads', {
      token: alice,
      json: { filename: 'scan.tiff', contentType: 'Image/TIFF; q=1', size: 5 },
    });
    expect(tiff.status).toBe(415);
    expect(tiff.body).toEqual({
      error: {
        code: 'unsupported-media-type',
        message: `Expected one of ${UPLOAD_CONTENT_TYPES.join(', ')} for contentType but received "Image/TIFF; q=1" of type string`,
        field: 'contentType',
        value: 'Image/TIFF; q=1',
        accepted: [...UPLOAD_CONTENT_TYPES],
      },
    });
  });

  it('uploads through the presigned POST, which S3 holds to its size, and the image is processed', async () => {
    const bytes = readFileSync(PHOTO);
    // The same request with a larger body: the local S3 refuses it, and nothing is stored.
    const larger = new Uint8Array(bytes.length + 1);
    larger.set(bytes);
    const refused = await upload(alice, 'Fig & bowl.jpg', larger, bytes.length);
    expect(refused.stored.status).toBe(400);
    expect(await refused.stored.text()).toContain('<Code>EntityTooLarge</Code>');
    expect((await call('GET', refused.created.body.statusUrl, { token: alice })).status).toBe(404);

    const { created, stored } = await upload(alice, 'Fig & bowl.jpg', bytes);
    expect(stored.status).toBe(204);
    expect(created.body.key).toMatch(/^uploads\/alice\/[0-9a-f-]{36}\/Fig-bowl\.jpg$/);
    expect(created.headers.get('location')).toBe(created.body.statusUrl);
    expect(created.body.statusUrl).toBe(`${dev.url}/images/${created.body.key}`);
    expect(created.body.maxBytes).toBe(MAX_BYTES);
    photo = { key: created.body.key, statusUrl: created.body.statusUrl };

    const reply = await settled(alice, photo.statusUrl);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ key: photo.key, status: 'processed', format: 'jpeg' });
    expect(reply.body.source).toMatchObject({ format: 'jpeg', bytes: bytes.length });
    expect(reply.body.outputs).toHaveLength(9);
    for (const output of reply.body.outputs) {
      const response = await fetch(output.url);
      expect(response.status, output.url).toBe(200);
      const body = new Uint8Array(await response.arrayBuffer());
      expect(body.length).toBe(output.bytes);
      const decoded = await sharp(body).metadata();
      expect({ format: decoded.format === 'heif' ? 'avif' : decoded.format, width: decoded.width }).toEqual({
        format: output.format,
        width: output.width,
      });
    }
  }, 240_000);

  it("keeps owners apart: another user gets 403 for alice's image, an admin reads it", async () => {
    const path = `/images/${photo.key}`;
    const other = await call('GET', path, { token: bob });
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('forbidden');
    expect((await call('DELETE', path, { token: bob })).status).toBe(403);
    const ops = await call('GET', path, { token: admin });
    expect(ops.status).toBe(200);
    expect(ops.body.status).toBe('processed');
    const missing = await call('GET', '/images/uploads/alice/00000000-0000-0000-0000-000000000000/x.jpg', {
      token: alice,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not-found');
  });

  it('lists quarantined uploads with their reason, a page at a time, each owner their own', async () => {
    const text = readFileSync(TEXT);
    const keys: string[] = [];
    for (const name of ['one.jpg', 'two.jpg', 'three.jpg']) {
      const { created, stored } = await upload(alice, name, text);
      expect(stored.status).toBe(204);
      keys.push(created.body.key);
      const reply = await settled(alice, created.body.statusUrl);
      expect(reply.body).toMatchObject({ status: 'quarantined', reason: 'unsupported-format' });
      expect(reply.body.message).toMatch(/text/i);
    }
    const { created } = await upload(bob, 'bobs.jpg', text);
    await settled(bob, created.body.statusUrl);

    const listed: string[] = [];
    let next: string | undefined = '/images?status=quarantined&limit=1';
    for (let page = 0; next && page < 20; page++) {
      const reply: Reply = await call('GET', next, { token: alice });
      expect(reply.status).toBe(200);
      listed.push(...reply.body.items.map((item: { key: string }) => item.key));
      next = reply.body.next;
      // Bob's newer upload lies between: pages stay full, and no cursor tells alice of bob's key.
      if (next) expect(reply.body.items).toHaveLength(1);
      if (reply.body.cursor)
        expect(Buffer.from(reply.body.cursor, 'base64url').toString('utf8')).not.toContain('/bob/');
    }
    expect(listed).toEqual([...keys].reverse());
    const bobs = await call('GET', '/images?status=quarantined', { token: bob });
    expect(bobs.body.items.map((item: { key: string }) => item.key)).toEqual([created.body.key]);
    const all = await call('GET', '/images?status=quarantined&limit=100', { token: admin });
    expect(all.body.items.map((item: { key: string }) => item.key)).toEqual(
      expect.arrayContaining([...keys, created.body.key]),
    );

    for (const [query, field] of [
      ['status=deleted', 'status'],
      ['status=failed&since=yesterday', 'since'],
      ['status=failed&limit=0', 'limit'],
      ['status=failed&cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['status=failed&owner=bob', 'owner'],
    ] as const) {
      const reply = await call('GET', `/images?${query}`, { token: alice });
      expect(reply.status, query).toBe(400);
      expect(reply.body.error.field, query).toBe(field);
    }
  });

  // API Gateway's HTTP API decodes %XX escapes in queryStringParameters and keeps a + as it is
  // (aws-lambda-rust-runtime reads rawQueryString for that reason: the values are not decoded as
  // application/x-www-form-urlencoded). imgpipe dev read + as a space, so a since with a +01:00
  // offset was a 400 locally and a listing on AWS.
  it('passes a + in a query value on as +, and %20 as a space, as API Gateway does', async () => {
    for (const since of ['2026-01-01T00:00:00+01:00', '2026-01-01T00:00:00%2B01:00']) {
      const reply = await call('GET', `/images?status=failed&since=${since}`, { token: alice });
      expect(reply.status, `${since}: ${JSON.stringify(reply.body)}`).toBe(200);
    }
    const bad = await call('GET', '/images?status=a+b%20c', { token: alice });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ field: 'status' });
    expect(bad.body.error.message).toContain('"a+b c"');
  });

  it('deletes an upload; the function then removes its outputs', async () => {
    const s3 = createS3Client({
      endpoint: dev.s3,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
      region: 'us-east-1',
    });
    const output = new S3Storage(s3, DEV_BUCKETS.output);
    const outputsOf = async () => {
      const keys: string[] = [];
      for await (const object of output.list()) if (object.key.includes(photo.key)) keys.push(object.key);
      return keys;
    };
    expect(await outputsOf()).toHaveLength(10);
    const deleted = await call('DELETE', `/images/${photo.key}`, { token: alice });
    expect(deleted.status).toBe(202);
    expect(deleted.body).toMatchObject({ key: photo.key, status: 'deleting' });
    let after = await call('GET', `/images/${photo.key}`, { token: alice });
    for (let i = 0; i < 400 && after.status !== 404; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      after = await call('GET', `/images/${photo.key}`, { token: alice });
    }
    expect(after.status).toBe(404);
    expect(after.body.error.message).toMatch(/was deleted/);
    // The deletion is recorded once the outputs are gone, and the function then looks once more for
    // outputs a run under way wrote meanwhile (handlers/objects.ts, remove): wait for none left.
    let left = await outputsOf();
    for (let i = 0; i < 400 && left.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      left = await outputsOf();
    }
    expect(left).toEqual([]);
    expect((await call('DELETE', `/images/${photo.key}`, { token: alice })).status).toBe(404);
    s3.destroy();
  }, 120_000);

  it('refuses to delete an image while it is being processed (409)', async () => {
    const { created, stored } = await upload(alice, 'busy.jpg', readFileSync(TEXT));
    expect(stored.status).toBe(204);
    await settled(alice, created.body.statusUrl);
    // A later delivery of the same key starts processing it again: the status table says so.
    const client = new DynamoDBClient({
      endpoint: dev.dynamo,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const status = new DynamoStatusStore(client, DEV_STATUS_TABLE);
    const ref = { bucket: DEV_BUCKETS.source, key: created.body.key, sequencer: 'FFFFFFFFFFFFFFFFFFFF' };
    expect(await status.begin(ref)).toBe('applied');
    const busy = await call('DELETE', `/images/${created.body.key}`, { token: alice });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('conflict');
    expect(busy.headers.get('retry-after')).toBe('10');
    expect((await call('GET', created.body.statusUrl, { token: alice })).body.status).toBe('processing');
    client.destroy();
  });

  it('answers routes it does not have as API Gateway does', async () => {
    const reply = await call('PUT', '/images/x', { token: alice });
    expect(reply.status).toBe(404);
    expect(reply.body).toEqual({ message: 'Not Found' });
  });

  it("refuses a sign-in whose redirect_uri is not a URL, as the issuer's own error (400)", async () => {
    const form = (redirect: string) =>
      new URLSearchParams({
        client_id: 'imgpipe-web',
        redirect_uri: redirect,
        user: 'ida',
        state: 's',
      }).toString();
    for (const redirect of ['http://[', 'https://other.example/']) {
      const reply = await call('POST', '/oidc/authorize', {
        body: form(redirect),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(reply.status, redirect).toBe(400);
      expect(reply.body.error, redirect).toBe('invalid_request');
      expect(reply.body.error_description, redirect).toContain('redirect_uri');
    }
  });

  // Last: it takes the status table away from the running API.
  it('answers 500 with the request id alone when a dependency fails', async () => {
    const client = new DynamoDBClient({
      endpoint: dev.dynamo,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    await client.send(new DeleteTableCommand({ TableName: DEV_STATUS_TABLE }));
    client.destroy();
    const failed = await call('GET', '/images?status=failed', { token: alice });
    expect(failed.status).toBe(500);
    const { requestId } = failed.body.error;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(failed.body).toEqual({
      error: { code: 'internal', message: `Internal error (request id ${requestId})`, requestId },
    });
    expect(JSON.stringify(failed.body)).not.toMatch(/ResourceNotFound|imgpipe-status|\bat /);
  });
});

describe('throttling in imgpipe dev', () => {
  it('answers 429 past the burst, as API Gateway stage throttling does', async () => {
    const throttled = await startDevApi(['--api-rate', '1', '--api-burst', '1']);
    try {
      const token = throttled.issuer.token({ sub: 'alice' });
      const replies = await Promise.all(
        Array.from({ length: 5 }, () =>
          fetch(`${throttled.url}/images?status=failed`, { headers: { authorization: `Bearer ${token}` } }),
        ),
      );
      const statuses = replies.map((reply) => reply.status);
      expect(statuses).toContain(200);
      expect(statuses).toContain(429);
      const limited = replies.find((reply) => reply.status === 429)!;
      expect(await limited.json()).toEqual({ message: 'Too Many Requests' });
    } finally {
      await throttled.stop();
    }
  }, 120_000);
});

describe('stage throttling in imgpipe dev, route by route', () => {
  // The stage's limits (default_route_settings) are each route's default: API Gateway keeps a
  // token bucket per route, so one route spending its burst leaves the others theirs. imgpipe dev
  // held all the stage's routes to one bucket, so a burst of listings throttled the page's status
  // requests locally while the deployment answers them.
  it("gives each route the stage's limits on its own", async () => {
    const api = await startDevApi(['--api-rate', '1', '--api-burst', '1']);
    try {
      const token = api.issuer.token({ sub: 'alice' });
      const headers = { authorization: `Bearer ${token}` };
      const listed = await Promise.all(
        Array.from(
          { length: 5 },
          async () => (await fetch(`${api.url}/images?status=failed`, { headers })).status,
        ),
      );
      expect(listed).toContain(200);
      expect(listed).toContain(429);
      // GET /images spent its burst; GET /images/{key+} and DELETE /images/{key+} have their own.
      expect((await fetch(`${api.url}/images/uploads/alice/none/a.jpg`, { headers })).status).toBe(404);
      const deleted = await fetch(`${api.url}/images/uploads/alice/none/a.jpg`, {
        method: 'DELETE',
        headers,
      });
      expect(deleted.status).toBe(404);
    } finally {
      await api.stop();
    }
  }, 120_000);
});

describe('route throttling in imgpipe dev', () => {
  // The api module holds uploads to their own limits (route_throttling: 10/s, burst 20 by default),
  // which replace the stage's for that route. imgpipe dev held every route to the stage's bucket, so
  // uploads met the stage's limit locally and never their own.
  const upload = (api: DevApi, token: string) =>
    fetch(`${api.url}/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filename: 'burst.jpg', contentType: 'image/jpeg', size: 1000 }),
    });
  const statuses = async (replies: Promise<Response>[]) =>
    Promise.all(replies.map(async (reply) => (await reply).status));

  it("holds uploads to their own limit, not the stage's, and the other routes to the stage's", async () => {
    const stageOnly = await startDevApi(['--api-rate', '1', '--api-burst', '1']);
    try {
      const token = stageOnly.issuer.token({ sub: 'alice' });
      // Five uploads at once fit the uploads' burst of 20, though the stage's burst is 1 ...
      expect(await statuses(Array.from({ length: 5 }, () => upload(stageOnly, token)))).toEqual(
        Array(5).fill(201),
      );
      // ... and did not spend the stage's token: the next status request gets it.
      const listed = await fetch(`${stageOnly.url}/images?status=failed`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(listed.status).toBe(200);
    } finally {
      await stageOnly.stop();
    }
    const uploadsOnly = await startDevApi(['--upload-rate', '1', '--upload-burst', '1']);
    try {
      const token = uploadsOnly.issuer.token({ sub: 'alice' });
      const uploads = await statuses(Array.from({ length: 5 }, () => upload(uploadsOnly, token)));
      expect(uploads).toContain(201);
      expect(uploads).toContain(429);
      // The stage's other routes keep the stage's limits (50/s, burst 100).
      const listed = await statuses(
        Array.from({ length: 5 }, () =>
          fetch(`${uploadsOnly.url}/images?status=failed`, { headers: { authorization: `Bearer ${token}` } }),
        ),
      );
      expect(listed).toEqual(Array(5).fill(200));
    } finally {
      await uploadsOnly.stop();
    }
  }, 180_000);
});

describe('CORS in imgpipe dev --cors-origin', () => {
  // A front end in development on its own origin could not call imgpipe dev at all: no preflight
  // was answered (404) and no answer carried CORS headers, where the deployed API, with that origin
  // in cors_allowed_origins, answers both; the local source bucket took the page's origins only.
  const APP = 'http://app.example:5173';
  let cors: DevApi;
  beforeAll(async () => {
    cors = await startDevApi(['--cors-origin', APP, '--cors-origin', 'http://localhost:3000']);
  }, 120_000);
  afterAll(async () => {
    await cors?.stop();
  });
  const preflight = (url: string, origin: string, method: string) =>
    fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('answers preflights of the API and of the source bucket for that origin, as the deployment does', async () => {
    for (const [path, method] of [
      ['/uploads', 'POST'],
      ['/images?status=failed', 'GET'],
      ['/images/uploads/alice/1/a.jpg', 'DELETE'],
    ] as const) {
      const reply = await preflight(`${cors.url}${path}`, APP, method);
      expect(reply.status, path).toBe(204);
      expect(reply.headers.get('access-control-allow-origin'), path).toBe(APP);
      expect(reply.headers.get('access-control-allow-methods')?.split(','), path).toContain(method);
      expect(reply.headers.get('access-control-allow-headers')?.split(','), path).toEqual(
        expect.arrayContaining(['authorization', 'content-type']),
      );
      // Another origin is not allowed: no CORS headers, so its browser refuses.
      const other = await preflight(`${cors.url}${path}`, 'http://evil.example', method);
      expect(other.headers.get('access-control-allow-origin'), path).toBeNull();
    }
    // The deployment (and imgpipe dev without --cors-origin) has no route for OPTIONS otherwise.
    expect((await preflight(`${dev.url}/uploads`, APP, 'POST')).status).toBe(404);

    const token = cors.issuer.token({ sub: 'alice' });
    const bytes = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    const created = await fetch(`${cors.url}/uploads`, {
      method: 'POST',
      headers: { origin: APP, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filename: 'app.jpg', contentType: 'image/jpeg', size: bytes.length }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(APP);
    // The page reads Location (and Retry-After on a 409 or 429): exposed, as the module exposes them.
    expect(created.headers.get('access-control-expose-headers')?.split(',')).toEqual(
      expect.arrayContaining(['location', 'retry-after']),
    );
    const { upload } = (await created.json()) as { upload: { url: string; fields: Record<string, string> } };
    // The gateway's own answers too, or the page could not tell an expired sign-in (401) from a network error.
    const unauthorized = await fetch(`${cors.url}/images?status=failed`, { headers: { origin: APP } });
    expect([unauthorized.status, unauthorized.headers.get('access-control-allow-origin')]).toEqual([
      401,
      APP,
    ]);

    // The presigned POST goes to the local S3, whose source bucket takes that origin too (s3rver
    // allows a matched origin as *), and not another.
    const s3Preflight = await preflight(upload.url, APP, 'POST');
    expect([s3Preflight.status, s3Preflight.headers.get('access-control-allow-origin')]).toEqual([200, '*']);
    const s3Other = await preflight(upload.url, 'http://evil.example', 'POST');
    expect([s3Other.status, s3Other.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    const form = new FormData();
    for (const [field, value] of Object.entries(upload.fields)) form.append(field, value);
    form.append('file', new Blob([bytes]), 'app.jpg');
    const stored = await fetch(upload.url, { method: 'POST', body: form, headers: { origin: APP } });
    expect(stored.status).toBe(204);
    expect(stored.headers.get('access-control-allow-origin')).not.toBeNull();
  });

  it('refuses an origin a browser never sends, naming it (exit 2)', async () => {
    for (const origin of ['https://App.example.com', 'https://app.example.com:443', 'app.example.com']) {
      const run = await runCli(['dev', '--port', '0', '--no-samples', '--cors-origin', origin]);
      expect(run.code, origin).toBe(2);
      expect(run.stderr, origin).toContain(`--cors-origin but received ${JSON.stringify(origin)}`);
    }
  });
});

describe('presigned URLs of imgpipe dev --host 0.0.0.0', () => {
  let wide: DevApi;
  beforeAll(async () => {
    wide = await startDevApi(['--host', '0.0.0.0'], { ...process.env, IMGPIPE_WORKERS: '1' });
  }, 120_000);
  afterAll(async () => {
    await wide?.stop();
  });
  /** The hosts the API is called at: the loopback ones, and this machine's first network address. */
  const hosts = () => {
    const network = networkUrls('0.0.0.0', Number(new URL(wide.url).port)).map(
      (url) => new URL(url).hostname,
    );
    if (network.length === 0)
      console.warn(
        '[skip] no non-loopback IPv4 address on this machine: only 127.0.0.1 and localhost are checked',
      );
    return ['127.0.0.1', 'localhost', ...network.slice(0, 1)];
  };

  it('name the host the API was called at (127.0.0.1, localhost, the network address), and work there', async () => {
    // They named the S3 endpoint at localhost whatever the caller used: a client on another machine
    // was told to upload to its own localhost.
    const port = Number(new URL(wide.url).port);
    const s3Port = new URL(wide.s3).port;
    const token = wide.issuer.token({ sub: 'alice' });
    const bytes = readFileSync(fixturePath('edge/formats/1x1.jpg'));
    for (const hostname of hosts()) {
      const created = await call('POST', `http://${hostname}:${port}/uploads`, {
        token,
        json: { filename: `at-${hostname}.jpg`, contentType: 'image/jpeg', size: bytes.length },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(new URL(created.body.upload.url).host, hostname).toBe(`${hostname}:${s3Port}`);
      const form = new FormData();
      for (const [field, value] of Object.entries(created.body.upload.fields as Record<string, string>))
        form.append(field, value);
      form.append('file', new Blob([bytes]), `at-${hostname}.jpg`);
      expect((await fetch(created.body.upload.url, { method: 'POST', body: form })).status, hostname).toBe(
        204,
      );
      const done = await settled(token, created.body.statusUrl);
      expect(done.body.status, JSON.stringify(done.body)).toBe('processed');
      const outputs = done.body.outputs as { url: string }[];
      expect(outputs.map((output) => new URL(output.url).host)).toEqual(
        outputs.map(() => `${hostname}:${s3Port}`),
      );
      expect((await fetch(outputs[0]!.url)).status, outputs[0]!.url).toBe(200);
    }
  }, 180_000);

  it('redirect a large transformation result to the host /t/ was called at', async () => {
    // The redirect named the S3 endpoint at localhost, as the API's URLs did.
    const port = Number(new URL(wide.url).port);
    const s3Port = new URL(wide.s3).port;
    const s3 = createS3Client({ endpoint: wide.s3, forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
    // Noise: its PNG at 2400 x 1800 is far over the 6 MB a function URL answers with.
    const noise = await sharp(randomBytes(2400 * 1800 * 3), {
      raw: { width: 2400, height: 1800, channels: 3 },
    })
      .jpeg({ quality: 95 })
      .toBuffer();
    await new S3Storage(s3, DEV_BUCKETS.source).put('tr/noise.jpg', noise, { contentType: 'image/jpeg' });
    s3.destroy();
    for (const hostname of hosts()) {
      const target = signUrl(
        `http://${hostname}:${port}`,
        'tr/noise.jpg',
        { w: 2400, fmt: 'png' },
        DEV_SIGNING_KEY,
      );
      const reply = await fetch(target, { redirect: 'manual' });
      expect(reply.status, hostname).toBe(302);
      const location = reply.headers.get('location')!;
      expect(new URL(location).host, location).toBe(`${hostname}:${s3Port}`);
      const stored = await fetch(location);
      expect([stored.status, stored.headers.get('content-type')], location).toEqual([200, 'image/png']);
      await stored.arrayBuffer();
    }
  }, 180_000);
});

describe('deleting in imgpipe dev --workflow', () => {
  it('records the removal and removes the outputs, as the deployment sends Object Deleted to the function', async () => {
    // The removal was dropped: the item stayed processed, its outputs in place.
    const flow = await startDevApi(['--workflow', '--no-scan']);
    try {
      const token = flow.issuer.token({ sub: 'alice' });
      const bytes = readFileSync(fixturePath('edge/formats/1x1.jpg'));
      const created = await call('POST', `${flow.url}/uploads`, {
        token,
        json: { filename: 'gone.jpg', contentType: 'image/jpeg', size: bytes.length },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const form = new FormData();
      for (const [field, value] of Object.entries(created.body.upload.fields as Record<string, string>))
        form.append(field, value);
      form.append('file', new Blob([bytes]), 'gone.jpg');
      expect((await fetch(created.body.upload.url, { method: 'POST', body: form })).status).toBe(204);
      const done = await settled(token, created.body.statusUrl);
      expect(done.body.status, JSON.stringify(done.body)).toBe('processed');
      const outputs = (done.body.outputs as { url: string }[]).map((entry) => entry.url);
      const output = outputs[0]!;
      expect((await fetch(output)).status).toBe(200);
      expect((await call('DELETE', created.body.statusUrl, { token })).status).toBe(202);
      let after: Reply | undefined;
      for (let i = 0; i < 240 && after?.status !== 404; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        after = await call('GET', created.body.statusUrl, { token });
      }
      expect([after?.status, after?.body.error?.message]).toEqual([
        404,
        expect.stringMatching(/ was deleted \(/),
      ]);
      // As in the direct mode (above): after recording the deletion the function looks once more
      // for outputs a run under way wrote meanwhile, so every output is waited for.
      await expect
        .poll(async () => (await Promise.all(outputs.map(async (url) => (await fetch(url)).status))).join(), {
          timeout: 60_000,
          interval: 250,
        })
        .toBe(outputs.map(() => 404).join());
    } finally {
      await flow.stop();
    }
  }, 180_000);
});
