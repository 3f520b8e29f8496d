import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { decode, encode } from '../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { InvalidImageError } from '../../src/core/errors.ts';
import { INPUT_FORMATS } from '../../src/core/formats.ts';
import { createObjectHandling } from '../../src/handlers/objects.ts';
import {
  createTransformHandler,
  MAX_BUFFERED_BYTES,
  parameterKeys,
  SIGNING_KEYS_MAX_AGE_SECONDS,
  SIGNING_KEYS_PLACEHOLDER,
} from '../../src/handlers/transform.ts';
import { signature, TRANSFORM_PARAMS } from '../../src/handlers/transform-request.ts';
import { createS3Client, S3Storage } from '../../src/storage/s3.ts';
import type { Storage } from '../../src/storage/types.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';

/**
 * index.transform called with the events a Lambda function URL sends, over a real S3 API (s3rver):
 * the signing keys read once from Parameter Store, sources the pipeline refuses (413, 415), and
 * parameter fuzzing (thousands of random queries from a fixed seed: never a 500). Real HTTP through
 * imgpipe dev is test/integration/transform.test.ts.
 */
const SOURCE = 'tr-source';
const OUTPUT = 'tr-output';
const KEY_A = 'a'.repeat(40);
const KEY_B = 'b'.repeat(40);

let s3: Awaited<ReturnType<typeof startTestS3>>;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT]);
  const source = new S3Storage(s3.client, SOURCE);
  const type = { contentType: 'application/octet-stream' };
  const tiny = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c04020' } })
    .jpeg()
    .toBuffer();
  await source.put('tiny.jpg', tiny, type);
  await source.put('text.jpg', readFixture('edge/broken/text-named.jpg'), type);
  // 1500 x 1500 = 2.25 MP, over the 2 MP limit below; small on disk.
  const wide = await sharp({ create: { width: 1500, height: 1500, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  await source.put('many-pixels.png', wide, type);
  await source.put('big.bin', new Uint8Array(1_100_000), type);
}, 60_000);
afterAll(async () => {
  await s3?.stop();
});

/** A 64 x 48 PNG of one colour, put in the source bucket as `name`. */
async function putSolidPng(name: string, background: string): Promise<void> {
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background } })
    .png()
    .toBuffer();
  await new S3Storage(s3.client, SOURCE).put(name, png, { contentType: 'image/png' });
}

function deps() {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const config = loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_MAX_PIXELS: '2000000',
    IMGPIPE_MAX_BYTES: '1000000',
  });
  return {
    config,
    sourceStorage: (bucket: string) => new S3Storage(s3.client, bucket),
    output: new S3Storage(s3.client, OUTPUT),
    quarantine: new S3Storage(s3.client, OUTPUT),
    logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
    metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
  };
}

function event(path: string, query = '', headers: Record<string, string> = {}): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...headers },
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc',
      domainName: 'abc.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'r',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

const body = (response: { body?: string }) => JSON.parse(response.body ?? '{}');

describe('signing keys from Parameter Store', () => {
  it('reads the SecureString once for many requests, with decryption, and accepts both keys while rotating', async () => {
    const ssm = new SSMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const mock = mockClient(ssm);
    mock
      .on(GetParameterCommand, { Name: '/imgpipe/test/transform-keys', WithDecryption: true })
      .resolves({ Parameter: { Value: `${KEY_B}\n${KEY_A}\n` } });
    const handlerDeps = deps();
    const handler = createTransformHandler(handlerDeps, {
      env: {
        IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
        IMGPIPE_TRANSFORM_KEYS_PARAMETER: '/imgpipe/test/transform-keys',
      },
      ssm,
    });
    const signed = (secret: string) => `w=40&sig=${signature(secret, 'tiny.jpg', { w: '40' })}`;
    // The request is logged without its signature: reading the logs gives no working URL.
    const logged = vi.spyOn(handlerDeps.logger, 'info');
    expect((await handler(event('/t/tiny.jpg', signed(KEY_A)))).statusCode).toBe(200);
    expect(logged).toHaveBeenCalledWith(
      'Transform',
      expect.objectContaining({ path: '/t/tiny.jpg?w=40&sig=-' }),
    );
    expect(JSON.stringify(logged.mock.calls)).not.toContain(signature(KEY_A, 'tiny.jpg', { w: '40' }));
    expect((await handler(event('/t/tiny.jpg', signed(KEY_B)))).statusCode).toBe(200);
    const other = await handler(event('/t/tiny.jpg', signed('c'.repeat(40))));
    expect([other.statusCode, body(other).error.field]).toEqual([403, 'sig']);
    expect((await handler(event('/t/tiny.jpg', 'w=40'))).statusCode).toBe(403);
    expect(mock.commandCalls(GetParameterCommand)).toHaveLength(1);
  });

  it('sees a rotation and a revoked key within SIGNING_KEYS_MAX_AGE_SECONDS, without a new container', async () => {
    const ssm = new SSMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const mock = mockClient(ssm);
    const name = '/imgpipe/test/rotated-keys';
    mock.on(GetParameterCommand).resolves({ Parameter: { Value: KEY_A } });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const handler = createTransformHandler(deps(), {
        env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_KEYS_PARAMETER: name },
        ssm,
      });
      const status = async (secret: string) =>
        (await handler(event('/t/tiny.jpg', `w=40&sig=${signature(secret, 'tiny.jpg', { w: '40' })}`)))
          .statusCode;
      expect([await status(KEY_A), await status(KEY_B)]).toEqual([200, 403]);
      // KEY_A leaked: the operator replaces it with KEY_B alone.
      mock.on(GetParameterCommand).resolves({ Parameter: { Value: KEY_B } });
      // Within the cache's age, the keys read stand (one read for every request so far).
      vi.setSystemTime(Date.now() + (SIGNING_KEYS_MAX_AGE_SECONDS - 1) * 1000);
      expect([await status(KEY_A), await status(KEY_B)]).toEqual([200, 403]);
      expect(mock.commandCalls(GetParameterCommand)).toHaveLength(1);
      // Past it, the leaked key verifies nothing and the new one works; it stayed for the container's life.
      vi.setSystemTime(Date.now() + 2000);
      expect([await status(KEY_A), await status(KEY_B)]).toEqual([403, 200]);
      expect(mock.commandCalls(GetParameterCommand)).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails closed, 500, while the parameter holds the module’s placeholder or a key with whitespace', async () => {
    const values = [SIGNING_KEYS_PLACEHOLDER, `${KEY_A}\n${KEY_B.slice(0, 20)} ${KEY_B.slice(20)}`];
    const messages = [
      /still holds the placeholder "unset: set the signing keys/,
      /whitespace within the key on line 2/,
    ];
    for (const [i, value] of values.entries()) {
      const ssm = new SSMClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      });
      mockClient(ssm)
        .on(GetParameterCommand)
        .resolves({ Parameter: { Value: value } });
      const name = '/imgpipe/test/unset-keys';
      await expect(parameterKeys(name, ssm)()).rejects.toThrow(messages[i]!);
      const handler = createTransformHandler(deps(), {
        env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_KEYS_PARAMETER: name },
        ssm,
      });
      // Signed with the (public) placeholder, or with either line: never served.
      for (const secret of value.split('\n')) {
        const reply = await handler(
          event('/t/tiny.jpg', `w=40&sig=${signature(secret, 'tiny.jpg', { w: '40' })}`),
        );
        expect([reply.statusCode, body(reply).error.code], value).toEqual([500, 'internal']);
      }
    }
  });

  it('fails closed, 500, naming the parameter and the command, while the parameter does not exist', async () => {
    // Terraform no longer creates it (modules/transform): a deployment answers this until the
    // operator does. Parameter Store has no local server here: the SSM client is mocked.
    const ssm = new SSMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    mockClient(ssm)
      .on(GetParameterCommand)
      .rejects(new ParameterNotFound({ message: '', $metadata: {} }));
    const name = '/imgpipe/test/missing-keys';
    await expect(parameterKeys(name, ssm)()).rejects.toThrow(
      `The parameter ${name} does not exist: the signing keys were never set: it must hold one or two signing keys of at least 32 characters without whitespace, one a line (aws ssm put-parameter --name ${name} --type SecureString`,
    );
    const handler = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_KEYS_PARAMETER: name },
      ssm,
    });
    const reply = await handler(
      event('/t/tiny.jpg', `w=40&sig=${signature(KEY_A, 'tiny.jpg', { w: '40' })}`),
    );
    expect([reply.statusCode, body(reply).error.code]).toEqual([500, 'internal']);
  });

  it('answers 503 with Retry-After, not 500, while Parameter Store throttles the read, and reads again', async () => {
    // Many containers starting at once share the account's GetParameter rate. Parameter Store has
    // no local server here: the SSM client is mocked (without the SDK's retries).
    const ssm = new SSMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const mock = mockClient(ssm);
    mock.on(GetParameterCommand).rejects(
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const handler = createTransformHandler(deps(), {
      env: {
        IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
        IMGPIPE_TRANSFORM_KEYS_PARAMETER: '/imgpipe/test/busy',
      },
      ssm,
    });
    const request = event('/t/tiny.jpg', `w=40&sig=${signature(KEY_A, 'tiny.jpg', { w: '40' })}`);
    const busy = await handler(request);
    expect([busy.statusCode, body(busy).error.code, busy.headers?.['retry-after']]).toEqual([
      503,
      'unavailable',
      '1',
    ]);
    expect(body(busy).error.message).toMatch(/Parameter Store is busy \(ThrottlingException\)/);
    mock.on(GetParameterCommand).resolves({ Parameter: { Value: KEY_A } });
    expect((await handler(request)).statusCode).toBe(200);
    expect(mock.commandCalls(GetParameterCommand)).toHaveLength(2);
  });

  it('answers 503 with Retry-After, not 500, while S3 cannot be reached', async () => {
    // A port nothing listens on: every S3 request is refused (ECONNREFUSED), as while S3 fails.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      forcePathStyle: true,
      maxAttempts: 1,
    });
    const handlerDeps = {
      ...deps(),
      sourceStorage: (bucket: string) => new S3Storage(unreachable, bucket),
    };
    const handler = createTransformHandler(handlerDeps, {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });
    const down = await handler(event('/t/tiny.jpg', 'w=40'));
    expect([down.statusCode, body(down).error.code, down.headers?.['retry-after']]).toEqual([
      503,
      'unavailable',
      '1',
    ]);
    expect(down.headers?.['cache-control']).toMatch(/no-store/);
  });

  it('refuses to start with signing on and no keys, naming the setting', () => {
    expect(() =>
      createTransformHandler(deps(), {
        env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, _HANDLER: 'index.transform' },
      }),
    ).toThrow(/set IMGPIPE_TRANSFORM_KEYS_PARAMETER/);
  });
});

describe('the watermark on results', () => {
  /**
   * A black 400 x 200 PNG source and a handler whose document has a white 10 x 10 mark, 0.1 of the
   * width, 0.1 of the shorter side from the bottom-right corner: at 200 x 100 it covers
   * [170, 190) x [70, 90).
   */
  async function marked(minWidth = 0) {
    const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });
    const black = new Uint8ClampedArray(400 * 200 * 4);
    for (let i = 3; i < black.length; i += 4) black[i] = 255;
    await new S3Storage(s3.client, SOURCE).put(
      'black.png',
      await encode('png', { width: 400, height: 200, data: black }, formatOptions),
      { contentType: 'image/png' },
    );
    const mark = join(mkdtempSync(join(tmpdir(), 'imgpipe-wm-')), 'mark.png');
    writeFileSync(
      mark,
      await encode(
        'png',
        { width: 10, height: 10, data: new Uint8ClampedArray(400).fill(255) },
        formatOptions,
      ),
    );
    const base = deps();
    const config = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_CONFIG: JSON.stringify({ watermark: { image: mark, margin: 0.1, size: 0.1, minWidth } }),
    });
    return (signing: 'required' | 'off') =>
      createTransformHandler(
        { ...base, config },
        {
          env: {
            IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
            IMGPIPE_TRANSFORM_SIGNING: signing,
            IMGPIPE_TRANSFORM_FORMATS: 'png,jpeg',
          },
          keys: [KEY_A],
        },
      );
  }
  const pixel = async (
    response: { body?: string; isBase64Encoded?: boolean },
    x: number,
    y: number,
    size = [200, 100],
  ) => {
    const image = await decode('png', new Uint8Array(Buffer.from(response.body ?? '', 'base64')));
    expect([image.width, image.height]).toEqual(size);
    return Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 4));
  };

  it('marks every result, and leaves it off only for wm=0 on a signed URL', async () => {
    const handler = await marked();
    const signed = handler('required');
    const query = (params: Record<string, string>) =>
      `${new URLSearchParams(params)}&sig=${signature(KEY_A, 'black.png', params)}`;
    const marked200 = await signed(event('/t/black.png', query({ w: '200', fmt: 'png' })));
    expect(marked200.statusCode).toBe(200);
    expect(await pixel(marked200, 180, 80)).toEqual([255, 255, 255, 255]);
    expect(await pixel(marked200, 169, 80)).toEqual([0, 0, 0, 255]);
    const plain = await signed(event('/t/black.png', query({ w: '200', fmt: 'png', wm: '0' })));
    expect(plain.statusCode).toBe(200);
    expect(await pixel(plain, 180, 80)).toEqual([0, 0, 0, 255]);
    // Unsigned URLs get the mark and cannot take it off.
    const open = handler('off');
    expect(await pixel(await open(event('/t/black.png', 'w=200&fmt=png')), 180, 80)).toEqual([
      255, 255, 255, 255,
    ]);
    const refused = await open(event('/t/black.png', 'w=200&fmt=png&wm=0'));
    expect([refused.statusCode, body(refused).error.field]).toEqual([403, 'wm']);
  });

  it('serves wm=0 narrower than minWidth the result wm=1 gives, made and stored once', async () => {
    // At w=100, under the mark's minWidth of 150, neither URL gets a mark: wm=0 was made and
    // stored a second time under its own -nowm key, for the same pixels.
    const signed = (await marked(150))('required');
    const query = (params: Record<string, string>) =>
      `${new URLSearchParams(params)}&sig=${signature(KEY_A, 'black.png', params)}`;
    const before = [signed.stats.decodes, signed.stats.hits];
    const usual = await signed(event('/t/black.png', query({ w: '100', fmt: 'png' })));
    const unmarked = await signed(event('/t/black.png', query({ w: '100', fmt: 'png', wm: '0' })));
    expect([usual.statusCode, unmarked.statusCode]).toEqual([200, 200]);
    expect(await pixel(usual, 90, 40, [100, 50])).toEqual([0, 0, 0, 255]);
    expect(unmarked.headers?.etag).toBe(usual.headers?.etag);
    expect([signed.stats.decodes - before[0]!, signed.stats.hits - before[1]!]).toEqual([1, 1]);
    const stored: string[] = [];
    for await (const info of new S3Storage(s3.client, OUTPUT).list('transforms/black.png/'))
      if (info.key.includes('/100x')) stored.push(info.key);
    expect(stored).toHaveLength(1);
    // Wide enough for the mark, wm=0 is a result of its own.
    const wide = await signed(event('/t/black.png', query({ w: '200', fmt: 'png', wm: '0' })));
    expect(await pixel(wide, 180, 80)).toEqual([0, 0, 0, 255]);
    expect(signed.stats.decodes - before[0]!).toBe(2);
  });

  it('marks the picture of a contain box of another shape, not the padding around it', async () => {
    // A square box around the 400 x 200 source: the picture fills [0, 400) x [100, 300), padding
    // above and below. On the picture alone the mark is 40 x 40, 20 px from its bottom-right
    // corner: [340, 380) x [240, 280) of the output. Placed on the whole box (40 px from its
    // corner, in the padding), every pixel of the source came out unmarked.
    const open = (await marked())('off');
    const reply = await open(event('/t/black.png', 'w=400&h=400&fit=contain&fmt=png'));
    expect(reply.statusCode, reply.body).toBe(200);
    expect(await pixel(reply, 360, 260, [400, 400])).toEqual([255, 255, 255, 255]);
    expect(await pixel(reply, 339, 260, [400, 400])).toEqual([0, 0, 0, 255]);
    expect(await pixel(reply, 360, 281, [400, 400])).toEqual([0, 0, 0, 255]);
  });
});

describe('the stored result', () => {
  /** A storage that records each call as it starts and as it settles. */
  function recorded(storage: Storage, name: string, calls: string[]): Storage {
    return new Proxy(storage, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (typeof value !== 'function') return value;
        if (!['get', 'head', 'put', 'delete', 'list', 'copyFrom'].includes(String(property)))
          return value.bind(object);
        return (...args: unknown[]) => {
          const call = `${String(property)} ${name} ${String(args[0])}`;
          calls.push(`start ${call}`);
          const settled = () => calls.push(`end ${call}`);
          const result = value.apply(object, args);
          if (result instanceof Promise) result.then(settled, settled);
          return result;
        };
      },
    });
  }

  it('is stored, when requests are signed, under a key the source key and parameters do not give', async () => {
    // The distribution serves stored results without a signature: their keys must not be derivable.
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } })
      .jpeg()
      .toBuffer();
    await new S3Storage(s3.client, SOURCE).put('keyed.jpg', jpeg, { contentType: 'image/jpeg' });
    const output = new S3Storage(s3.client, OUTPUT);
    const params = { w: '30', fmt: 'webp' };
    const stored = async (keys: string[]) => {
      const h = createTransformHandler(deps(), {
        env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'required' },
        keys,
      });
      const query = `${new URLSearchParams(params)}&sig=${signature(keys[0]!, 'keyed.jpg', params)}`;
      const reply = await h(event('/t/keyed.jpg', query));
      expect(reply.statusCode, reply.body).toBe(200);
      const keysNow: string[] = [];
      for await (const info of output.list('transforms/keyed.jpg/')) keysNow.push(info.key);
      return keysNow;
    };
    const first = await stored([KEY_A]);
    expect(first).toEqual([
      expect.stringMatching(/^transforms\/keyed\.jpg\/30x\d+-inside-q\d+-[0-9a-f]{24}\.webp$/),
    ]);
    // A 96-bit HMAC where an unsigned deployment has a digest of public values (12 hex digits),
    // keyed with the newest signing key: a new one (rotation) stores the result under a new key.
    const rotated = await stored([KEY_B, KEY_A]);
    expect(rotated).toHaveLength(2);
    expect(rotated).toContain(first[0]);
  });

  it('is served in one round trip: the result GET and the source HEAD in flight together', async () => {
    const calls: string[] = [];
    const base = deps();
    const h = createTransformHandler(
      {
        ...base,
        sourceStorage: (bucket) => recorded(new S3Storage(s3.client, bucket), 'source', calls),
        output: recorded(base.output, 'output', calls),
      },
      { env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' } },
    );
    const first = await h(event('/t/tiny.jpg', 'w=40&fmt=webp'));
    expect(first.statusCode).toBe(200);
    calls.length = 0;
    const second = await h(event('/t/tiny.jpg', 'w=40&fmt=webp'));
    expect([second.statusCode, second.body]).toEqual([200, first.body]);
    expect(h.stats.hits).toBe(1);
    // Both requests start before either settles, and there is no other.
    expect(calls.slice(0, 2).every((call) => call.startsWith('start '))).toBe(true);
    expect(calls.slice(0, 2).sort()).toEqual([
      expect.stringMatching(
        /^start get output transforms\/tiny\.jpg\/40x\d+-inside-q\d+-[0-9a-f]{12}\.webp$/,
      ),
      'start head source tiny.jpg',
    ]);
    expect(calls).toHaveLength(4);
  });

  it('makes a request without a box again after IMGPIPE_TRANSFORM_MAX_SIZE is lowered', async () => {
    const source = new S3Storage(s3.client, SOURCE);
    const grey = await sharp({ create: { width: 240, height: 120, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    await source.put('boxless.png', grey, { contentType: 'image/png' });
    const size = async (maxSize: number) => {
      const h = createTransformHandler(deps(), {
        env: {
          IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
          IMGPIPE_TRANSFORM_SIGNING: 'off',
          IMGPIPE_TRANSFORM_MAX_SIZE: String(maxSize),
        },
      });
      const reply = await h(event('/t/boxless.png', 'fmt=png'));
      expect(reply.statusCode).toBe(200);
      const image = await decode('png', new Uint8Array(Buffer.from(reply.body ?? '', 'base64')));
      return [image.width, image.height];
    };
    expect(await size(4000)).toEqual([240, 120]);
    // The same output bucket and pipeline document: only the maximum changed.
    expect(await size(100)).toEqual([100, 50]);
    expect(await size(4000)).toEqual([240, 120]);
  });

  it('never serves the result of a replaced source', async () => {
    const source = new S3Storage(s3.client, SOURCE);
    const solid = (background: string) =>
      sharp({ create: { width: 64, height: 48, channels: 3, background } })
        .png()
        .toBuffer();
    const h = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });
    const colour = async (response: { body?: string }) => {
      const image = await decode('png', new Uint8Array(Buffer.from(response.body ?? '', 'base64')));
      return Array.from(image.data.subarray(0, 3));
    };
    await source.put('swap.png', await solid('#ff0000'), { contentType: 'image/png' });
    const red = await h(event('/t/swap.png', 'w=30&fmt=png'));
    expect([red.statusCode, red.body?.slice(0, 200)]).toEqual([200, expect.any(String)]);
    expect(await colour(red)).toEqual([255, 0, 0]);
    expect(await colour(await h(event('/t/swap.png', 'w=30&fmt=png')))).toEqual([255, 0, 0]);
    expect([h.stats.decodes, h.stats.hits]).toEqual([1, 1]);

    await source.put('swap.png', await solid('#0000ff'), { contentType: 'image/png' });
    const blue = await h(event('/t/swap.png', 'w=30&fmt=png'));
    expect(await colour(blue)).toEqual([0, 0, 255]);
    expect(blue.headers?.etag).not.toBe(red.headers?.etag);
    expect([h.stats.decodes, h.stats.hits]).toEqual([2, 1]);
    // The new result is the one stored and served next.
    expect(await colour(await h(event('/t/swap.png', 'w=30&fmt=png')))).toEqual([0, 0, 255]);
    expect([h.stats.decodes, h.stats.hits]).toEqual([2, 2]);
    // If-None-Match with the old result's tag is not a 304.
    const old = await h(event('/t/swap.png', 'w=30&fmt=png', { 'if-none-match': String(red.headers?.etag) }));
    expect(old.statusCode).toBe(200);
  });
});

describe('a result over the response limit, behind CloudFront without a custom domain', () => {
  it('redirects to the result path on the same host, versioned by the result ETag', async () => {
    const noise = await sharp(randomBytes(2400 * 1800 * 3), {
      raw: { width: 2400, height: 1800, channels: 3 },
    })
      .jpeg({ quality: 95 })
      .toBuffer();
    const base = deps();
    const config = loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: OUTPUT });
    await new S3Storage(s3.client, SOURCE).put('noise.jpg', noise, { contentType: 'image/jpeg' });
    const h = createTransformHandler(
      { ...base, config },
      {
        env: {
          IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
          IMGPIPE_TRANSFORM_SIGNING: 'off',
          IMGPIPE_TRANSFORM_CDN_URL: '/',
        },
      },
    );
    const reply = await h(event('/t/noise.jpg', 'w=2400&fmt=png'));
    expect(reply.statusCode).toBe(302);
    const location = String(reply.headers?.location);
    const match = /^\/(transforms\/noise\.jpg\/2400x\d+-inside-q0-[0-9a-f]{12}\.png)\?v=([0-9a-f]{32})$/.exec(
      location,
    );
    expect(match, location).not.toBeNull();
    const stored = await new S3Storage(s3.client, OUTPUT).head(match![1]!);
    expect(stored?.etag).toBe(match![2]);
    expect(stored!.size).toBeGreaterThan(MAX_BUFFERED_BYTES);
    expect(reply.headers?.['cache-control']).toBe('public, max-age=86400');
    // The hit (GET or HEAD) redirects to the same place without decoding.
    const decodes = h.stats.decodes;
    expect((await h(event('/t/noise.jpg', 'w=2400&fmt=png'))).headers?.location).toBe(location);
    const head = event('/t/noise.jpg', 'w=2400&fmt=png');
    head.requestContext.http.method = 'HEAD';
    expect((await h(head)).headers?.location).toBe(location);
    expect([h.stats.decodes, h.stats.hits]).toEqual([decodes, 2]);
  }, 120_000);
});

describe('a cached redirect to a large result, revalidated', () => {
  /**
   * A handler whose stored result of /t/<name>?w=30&fmt=png is over the response limit (the small
   * one made first, replaced by large bytes made from the same source version): a hit, redirected.
   */
  async function largeResult(name: string, env: Record<string, string>, keys?: readonly string[]) {
    const output = new S3Storage(s3.client, OUTPUT);
    await putSolidPng(name, '#345678');
    const params = { w: '30', fmt: 'png' };
    const query = `w=30&fmt=png${keys ? `&sig=${signature(keys[0]!, name, params)}` : ''}`;
    const h = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, ...env },
      ...(keys ? { keys } : {}),
    });
    expect((await h(event(`/t/${name}`, query))).statusCode).toBe(200);
    const stored: string[] = [];
    for await (const info of output.list(`transforms/${name}/`)) stored.push(info.key);
    expect(stored).toHaveLength(1);
    const small = await output.get(stored[0]!);
    await output.put(stored[0]!, new Uint8Array(MAX_BUFFERED_BYTES + 1), {
      contentType: 'image/png',
      metadata: small.metadata!,
    });
    return { h, query, resultKey: stored[0]! };
  }

  it('through the CDN, is a 304 carrying the redirect’s Cache-Control, not the image’s year', async () => {
    const { h, query } = await largeResult('revalidated-cdn.png', { IMGPIPE_TRANSFORM_CDN_URL: '/' }, [
      KEY_A,
    ]);
    const redirect = await h(event('/t/revalidated-cdn.png', query));
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers?.['cache-control']).toBe('public, max-age=86400');
    const etag = String(redirect.headers?.etag);
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    // CloudFront revalidating its copy of the redirect once it is stale:
    const revalidated = await h(event('/t/revalidated-cdn.png', query, { 'if-none-match': etag }));
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.headers?.etag).toBe(etag);
    expect(revalidated.headers?.['cache-control']).toBe('public, max-age=86400');
  });

  it('presigned, for a HEAD request, is a presigned HEAD: S3 refuses a HEAD sent to a GET’s URL (403)', async () => {
    const { h, query, resultKey } = await largeResult('presigned-head.png', {
      IMGPIPE_TRANSFORM_SIGNING: 'off',
    });
    const head = event('/t/presigned-head.png', query);
    head.requestContext.http.method = 'HEAD';
    const reply = await h(head);
    expect(reply.statusCode).toBe(302);
    const location = String(reply.headers?.location);
    // The URL S3 takes for a HEAD, signed at the same instant, and not the one for a GET.
    const at = /X-Amz-Date=(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/.exec(location)!;
    const signingDate = new Date(`${at[1]}-${at[2]}-${at[3]}T${at[4]}:${at[5]}:${at[6]}Z`);
    const presigned = (command: GetObjectCommand | HeadObjectCommand) =>
      getSignedUrl(s3.client, command, { expiresIn: 300, signingDate });
    const input = { Bucket: OUTPUT, Key: resultKey };
    expect(location).toBe(await presigned(new HeadObjectCommand(input)));
    expect(location).not.toBe(await presigned(new GetObjectCommand(input)));
  });

  it('presigned, has no ETag and is never a 304: a cached redirect’s URL expires, so each request gets a new one', async () => {
    const { h, query } = await largeResult('revalidated-presigned.png', { IMGPIPE_TRANSFORM_SIGNING: 'off' });
    const redirect = await h(event('/t/revalidated-presigned.png', query));
    expect(redirect.statusCode).toBe(302);
    expect(String(redirect.headers?.location)).toMatch(/X-Amz-Expires=300&/);
    expect(redirect.headers?.['cache-control']).toBe('private, max-age=240');
    expect(redirect.headers?.etag).toBeUndefined();
    // A browser revalidating the redirect it kept, with the tag the stored object has (the one the
    // redirect used to carry), or any:
    const { etag } = (await new S3Storage(s3.client, OUTPUT).head(
      String(redirect.headers?.location)
        .replace(/^.*\/transforms\//, 'transforms/')
        .replace(/\?.*$/, ''),
    ))!;
    for (const tag of [`"${etag}"`, '*']) {
      const again = await h(event('/t/revalidated-presigned.png', query, { 'if-none-match': tag }));
      expect(again.statusCode, tag).toBe(302);
      expect(again.headers?.['cache-control']).toBe('private, max-age=240');
      expect(String(again.headers?.location)).toMatch(/X-Amz-Signature=/);
    }
  });
});

describe('a presigned redirect to a large result, on a signed URL with exp', () => {
  it('works, and is kept, no longer than the URL is valid, nor kept longer than IMGPIPE_TRANSFORM_MAX_AGE_SECONDS', async () => {
    const at = new Date('2030-01-01T00:00:00Z');
    const now = () => at;
    const name = 'expiring-redirect.png';
    await putSolidPng(name, '#456789');
    const env = { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE };
    const request = (exp: number) => {
      const params = { w: '30', fmt: 'png', exp: String(at.getTime() / 1000 + exp) };
      return event(`/t/${name}`, `w=30&fmt=png&exp=${params.exp}&sig=${signature(KEY_A, name, params)}`);
    };
    const h = createTransformHandler(deps(), { env, keys: [KEY_A], now });
    const first = await h(request(30));
    expect(first.statusCode).toBe(200);
    expect(first.headers?.['cache-control']).toBe('public, max-age=30, immutable');
    // The stored result made large (from the same source version): a hit, redirected.
    const output = new S3Storage(s3.client, OUTPUT);
    const stored: string[] = [];
    for await (const info of output.list(`transforms/${name}/`)) stored.push(info.key);
    const small = await output.get(stored[0]!);
    await output.put(stored[0]!, new Uint8Array(MAX_BUFFERED_BYTES + 1), {
      contentType: 'image/png',
      metadata: small.metadata!,
    });
    const expiring = await h(request(30));
    expect(expiring.statusCode).toBe(302);
    // The presigned URL works no longer than the signed one it answers (it worked the 300 s of
    // IMGPIPE_TRANSFORM_REDIRECT_EXPIRES_SECONDS, past exp), and is kept a minute less than it works.
    expect(new URL(String(expiring.headers?.location)).searchParams.get('X-Amz-Expires')).toBe('30');
    expect(expiring.headers?.['cache-control']).toBe('private, max-age=0');
    const lasting = await h(request(3600));
    expect(new URL(String(lasting.headers?.location)).searchParams.get('X-Amz-Expires')).toBe('300');
    expect(lasting.headers?.['cache-control']).toBe('private, max-age=240');
    const short = createTransformHandler(deps(), {
      env: { ...env, IMGPIPE_TRANSFORM_MAX_AGE_SECONDS: '60' },
      keys: [KEY_A],
      now,
    });
    expect((await short(request(3600))).headers?.['cache-control']).toBe('private, max-age=60');
  });
});

describe('a presigned redirect signed with credentials that expire before it would', () => {
  it('is valid, and kept, no longer than the credentials that sign it', async () => {
    // A presigned URL stops working when the session of the credentials that signed it ends,
    // whatever its X-Amz-Expires: the function's role credentials (container credentials, a
    // session with AWS_CREDENTIAL_EXPIRATION) may have less left than redirect_expires_seconds.
    const name = 'expiring-credentials.png';
    await putSolidPng(name, '#56789a');
    const expiration = new Date(Date.now() + 600_000);
    const client = createS3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: async () => ({ ...LOCAL_CREDENTIALS, sessionToken: 'session', expiration }),
    });
    const output = new S3Storage(client, OUTPUT);
    const h = createTransformHandler(
      { ...deps(), output },
      {
        env: {
          IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
          IMGPIPE_TRANSFORM_SIGNING: 'off',
          IMGPIPE_TRANSFORM_REDIRECT_EXPIRES_SECONDS: '3600',
        },
      },
    );
    expect((await h(event(`/t/${name}`, 'w=30&fmt=png'))).statusCode).toBe(200);
    // The stored result made large (from the same source version): a hit, redirected.
    const stored: string[] = [];
    for await (const info of output.list(`transforms/${name}/`)) stored.push(info.key);
    const small = await output.get(stored[0]!);
    await output.put(stored[0]!, new Uint8Array(MAX_BUFFERED_BYTES + 1), {
      contentType: 'image/png',
      metadata: small.metadata!,
    });
    for (const method of ['GET', 'HEAD']) {
      const request = event(`/t/${name}`, 'w=30&fmt=png');
      request.requestContext.http.method = method;
      const redirect = await h(request);
      expect(redirect.statusCode, method).toBe(302);
      const location = new URL(String(redirect.headers?.location));
      const at = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(location.searchParams.get('X-Amz-Date')!)!;
      const signedAt = Date.parse(`${at[1]}-${at[2]}-${at[3]}T${at[4]}:${at[5]}:${at[6]}Z`);
      const expires = Number(location.searchParams.get('X-Amz-Expires'));
      // Not past the credentials' expiration, nor cut short of it by more than the signing took.
      expect(signedAt + expires * 1000, method).toBeLessThanOrEqual(expiration.getTime());
      expect(expires, method).toBeGreaterThan(500);
      // Kept a minute less than the URL works, as with redirect_expires_seconds.
      const cacheControl = String(redirect.headers?.['cache-control']);
      expect(cacheControl, method).toMatch(/^private, max-age=\d+$/);
      expect(Number(cacheControl.replace(/^.*=/, '')), method).toBeLessThanOrEqual(expires - 60);
      // The URL works: S3 answers it (s3rver does not check the session's expiry).
      const answer = await fetch(location, { method });
      expect(answer.status, method).toBe(200);
    }
  });
});

describe('a stored result replaced between its GET and its HEAD', () => {
  it('is answered with bytes: a large result made again small is not a 200 without a body', async () => {
    const output = new S3Storage(s3.client, OUTPUT);
    await putSolidPng('regrown.png', '#123456');
    const env = { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' };
    const first = await createTransformHandler(deps(), { env })(event('/t/regrown.png', 'w=30&fmt=png'));
    expect(first.statusCode).toBe(200);
    const keys: string[] = [];
    for await (const info of output.list('transforms/regrown.png/')) keys.push(info.key);
    expect(keys).toHaveLength(1);
    const resultKey = keys[0]!;
    const small = await output.get(resultKey);
    const stored = { contentType: 'image/png', metadata: small.metadata! };
    // A result too large to answer with (an earlier version of the source's), current for the source:
    await output.put(resultKey, new Uint8Array(MAX_BUFFERED_BYTES + 1), stored);
    // its GET finds it large; before the HEAD that follows, it is made again, small.
    const racing = new Proxy(output, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (typeof value !== 'function') return value;
        if (property !== 'head') return value.bind(object);
        return async (key: string) => {
          if (key === resultKey) await object.put(key, small.body, stored);
          return value.call(object, key);
        };
      },
    });
    const h = createTransformHandler({ ...deps(), output: racing }, { env });
    const reply = await h(event('/t/regrown.png', 'w=30&fmt=png'));
    expect(reply.statusCode).toBe(200);
    const bytes = Buffer.from(reply.body ?? '', 'base64');
    expect(bytes.length).toBeGreaterThan(0);
    expect(reply.headers?.['content-length']).toBe(String(bytes.length));
    const image = await decode('png', new Uint8Array(bytes));
    expect([image.width, image.height]).toEqual([30, 23]);
  });
});

describe('sources the pipeline refuses, before decoding', () => {
  const handler = () =>
    createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });

  it('answers 413 over the pixel or byte limit and 415 for what is not an image, as JSON', async () => {
    const h = handler();
    const cases: [string, number, RegExp][] = [
      ['/t/many-pixels.png', 413, /too-many-pixels.*2250000/],
      ['/t/big.bin', 413, /1100000 bytes, more than maxBytes \(1000000\)/],
      ['/t/text.jpg', 415, /unsupported-format/],
      ['/t/missing.jpg', 404, /^No image missing.jpg$/], // the bucket is not named: the URL is public
    ];
    for (const [path, status, message] of cases) {
      const response = await h(event(path, 'w=100'));
      expect(response.statusCode, path).toBe(status);
      expect(response.headers?.['content-type']).toBe('application/json');
      expect(body(response).error.message, path).toMatch(message);
    }
    // Refused from the header (or the HEAD): nothing was decoded.
    expect(h.stats.decodes).toBe(0);
  });

  it('answers 415, not 413, for a header declaring no pixels: a malformed image, over no limit', async () => {
    const png = Buffer.from(
      await sharp({ create: { width: 4, height: 3, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
    );
    png.writeUInt32BE(0, 16); // IHDR width
    await new S3Storage(s3.client, SOURCE).put('no-pixels.png', png, { contentType: 'image/png' });
    const h = handler();
    const response = await h(event('/t/no-pixels.png', 'w=100'));
    expect(response.statusCode).toBe(415);
    expect(body(response).error).toMatchObject({ code: 'unsupported-media-type', field: 'key' });
    expect(body(response).error.message).toMatch(/bad-dimensions.*declares 0x3 pixels/);
    expect(h.stats.decodes).toBe(0);
  });

  it('keeps to the invocation’s remaining time, answering 413 too-slow rather than running past Lambda’s timeout', async () => {
    // maxSecondsPerImage is 60 s by default, the module's function timeout 30 s: the budget is cut
    // to what the invocation has left, less the reserve to answer. With nothing left, the source
    // is refused before it is decoded; it was transformed regardless (in Lambda: stopped at the
    // timeout, a 502 from CloudFront, a fresh container for the next request).
    const h = handler();
    const context = { awsRequestId: 'r-late', getRemainingTimeInMillis: () => 0 } as unknown as Context;
    const late = await h(event('/t/tiny.jpg', 'w=20&fmt=png'), context);
    expect([late.statusCode, body(late).error.field]).toEqual([413, 'key']);
    expect(body(late).error.message).toMatch(
      /^The source cannot be transformed \(too-slow\): .*left in the Lambda invocation.*maxSecondsPerImage is 60/,
    );
    expect(h.stats.decodes).toBe(0);
    // With the time, the same request is transformed.
    const context30 = { awsRequestId: 'r', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    expect((await h(event('/t/tiny.jpg', 'w=20&fmt=png'), context30)).statusCode).toBe(200);
  });
});

describe('what a refusal says beside its message, as the upload API does', () => {
  // A client reads these (http.ts ErrorDetails), never the message, which is for people.
  it('names the value refused and the accepted ones (400), or the value, limit and unit (413), and what a source is (415)', async () => {
    const h = createTransformHandler(deps(), {
      env: {
        IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
        IMGPIPE_TRANSFORM_SIGNING: 'off',
        IMGPIPE_TRANSFORM_SIZES: '100,200,1200',
        IMGPIPE_TRANSFORM_MAX_SIZE: '2000',
        IMGPIPE_TRANSFORM_FORMATS: 'webp,jpeg',
      },
    });
    const cases: [string, string, number, Record<string, unknown>][] = [
      [
        '/t/tiny.jpg',
        'w=100&fit=stretch',
        400,
        { field: 'fit', value: 'stretch', accepted: ['inside', 'cover', 'contain'] },
      ],
      [
        '/t/tiny.jpg',
        'w=100&fmt=gif',
        400,
        { field: 'fmt', value: 'gif', accepted: ['webp', 'jpeg', 'auto'] },
      ],
      ['/t/tiny.jpg', 'w=100&dpr=4', 400, { field: 'dpr', value: '4', accepted: [1, 1.5, 2, 2.5, 3] }],
      ['/t/tiny.jpg', 'w=100&wm=2', 400, { field: 'wm', value: '2', accepted: ['0', '1'] }],
      ['/t/tiny.jpg', 'w=300', 400, { field: 'w', value: '300', accepted: [100, 200, 1200] }],
      // 1200 at dpr 2 is 2400 device pixels: the largest at that ratio is 200 CSS pixels.
      ['/t/tiny.jpg', 'h=1200&dpr=2', 400, { field: 'h', value: 1200, limit: 200, unit: 'pixels' }],
      ['/t/tiny.jpg', 'q=5', 400, { field: 'q', value: '5' }],
      ['/t/tiny.jpg', 'width=100', 400, { field: 'width', value: 'width', accepted: [...TRANSFORM_PARAMS] }],
      ['/t/big.bin', 'w=100', 413, { field: 'key', value: 1_100_000, limit: 1_000_000, unit: 'bytes' }],
      [
        '/t/many-pixels.png',
        'w=100',
        413,
        { field: 'key', value: 2_250_000, limit: 2_000_000, unit: 'pixels' },
      ],
      ['/t/text.jpg', 'w=100', 415, { field: 'key', value: 'text', accepted: [...INPUT_FORMATS] }],
    ];
    for (const [path, query, status, details] of cases) {
      const reply = await h(event(path, query));
      expect(reply.statusCode, query).toBe(status);
      const { code, message, ...rest } = body(reply).error;
      expect(typeof message, query).toBe('string');
      expect(rest, `${path}?${query}`).toEqual(details);
    }
  });
});

describe('IMGPIPE_TRANSFORM_CHECKED_ONLY (the workflow mode): only what the pipeline processed', () => {
  it('refuses (403) a version the pipeline has not processed or quarantined for its content, hit or miss, and serves it once processed', async () => {
    const source = new S3Storage(s3.client, SOURCE);
    const solid = (background: string) =>
      sharp({ create: { width: 64, height: 48, channels: 3, background } })
        .png()
        .toBuffer();
    await source.put('flagged.png', await solid('#ff00ff'), { contentType: 'image/png' });
    const env = { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' };
    const h = createTransformHandler(deps(), { env: { ...env, IMGPIPE_TRANSFORM_CHECKED_ONLY: 'true' } });
    const ref = async () => ({
      bucket: SOURCE,
      key: 'flagged.png',
      etag: (await source.head('flagged.png'))!.etag,
    });
    // The workflow's tasks, as they record their verdicts: Process (handle) and Quarantine (reject).
    const tasks = createObjectHandling(deps());
    const refused = async (query: string, why: RegExp) => {
      const reply = await h(event('/t/flagged.png', query));
      expect([reply.statusCode, body(reply).error.field], query).toEqual([403, 'key']);
      expect(body(reply).error.message, query).toMatch(why);
    };
    const unchecked =
      /^The source flagged\.png \(ETag \w+\) has not been through the pipeline \(no manifest names it\)/;

    // Uploaded, not yet scanned and moderated: refused, where the direct mode serves it.
    await refused('w=30&fmt=png', unchecked);
    expect(
      (await createTransformHandler(deps(), { env })(event('/t/flagged.png', 'w=30&fmt=png'))).statusCode,
    ).toBe(200);
    expect((await tasks.handle(await ref(), { trigger: 'test' })).result.status).toBe('processed');
    const served = await h(event('/t/flagged.png', 'w=30&fmt=png'));
    expect(served.statusCode).toBe(200);

    // A forced reprocessing's moderation quarantines this very version: its stored result is no
    // longer served, nor is any other size.
    const verdict = new InvalidImageError('moderation', 'Moderation labels: Explicit Nudity (99%)');
    expect((await tasks.reject(await ref(), verdict, { trigger: 'test', force: true })).result.status).toBe(
      'quarantined',
    );
    const hits = h.stats.hits;
    for (const query of ['w=30&fmt=png', 'w=40&fmt=png'])
      await refused(
        query,
        /^The source flagged\.png \(ETag \w+\) was quarantined \(moderation\) at \S+: it is not transformed$/,
      );
    expect(h.stats.hits).toBe(hits);

    // New content under the key: refused until the pipeline has processed it.
    await source.put('flagged.png', await solid('#00ff00'), { contentType: 'image/png' });
    await refused('w=30&fmt=png', unchecked);
    expect((await tasks.handle(await ref(), { trigger: 'test' })).result.status).toBe('processed');
    expect((await h(event('/t/flagged.png', 'w=30&fmt=png'))).statusCode).toBe(200);
  });
});

describe('IMGPIPE_TRANSFORM_CHECKED_ONLY: a source replaced between its HEAD and its GET', () => {
  it('does not transform, serve or store the unchecked version the GET read', async () => {
    const source = new S3Storage(s3.client, SOURCE);
    const solid = (background: string) =>
      sharp({ create: { width: 64, height: 48, channels: 3, background } })
        .png()
        .toBuffer();
    await source.put('raced.png', await solid('#00ff00'), { contentType: 'image/png' });
    const checked = (await source.head('raced.png'))!.etag;
    const tasks = createObjectHandling(deps());
    const processed = await tasks.handle(
      { bucket: SOURCE, key: 'raced.png', etag: checked },
      { trigger: 'test' },
    );
    expect(processed.result.status).toBe('processed');
    // The HEAD finds the checked version (its manifest names it); a new upload lands before the GET.
    const unchecked = await solid('#ff0000');
    const racing = (storage: Storage): Storage =>
      new Proxy(storage, {
        get(object, property, receiver) {
          const value = Reflect.get(object, property, receiver);
          if (typeof value !== 'function') return value;
          if (property !== 'get') return value.bind(object);
          return async (key: string, options: unknown) => {
            if (key === 'raced.png') await source.put(key, unchecked, { contentType: 'image/png' });
            return value.call(object, key, options);
          };
        },
      });
    const base = deps();
    const h = createTransformHandler(
      { ...base, sourceStorage: (bucket) => racing(new S3Storage(s3.client, bucket)) },
      {
        env: {
          IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
          IMGPIPE_TRANSFORM_SIGNING: 'off',
          IMGPIPE_TRANSFORM_CHECKED_ONLY: 'true',
        },
      },
    );
    const reply = await h(event('/t/raced.png', 'w=30&fmt=png'));
    const now = (await source.head('raced.png'))!.etag;
    expect(now).not.toBe(checked);
    expect([reply.statusCode, body(reply).error?.field]).toEqual([403, 'key']);
    expect(body(reply).error.message).toContain(`(ETag ${now}) has not been through the pipeline`);
    // Nothing was decoded, and no result of it was stored.
    expect(h.stats.decodes).toBe(0);
    const stored: string[] = [];
    for await (const info of new S3Storage(s3.client, OUTPUT).list('transforms/raced.png/'))
      stored.push(info.key);
    expect(stored).toEqual([]);
  });
});

describe('IMGPIPE_TRANSFORM_CHECKED_ONLY: a source key whose manifest or quarantine record key is too long for S3', () => {
  // s3rver stores keys of any length; real S3 answers a request for a key over 1024 bytes 400
  // (KeyTooLongError), which reached the viewer as a 500. What is checked here: no such key is
  // ever asked of the output or quarantine storage, and the answer names the lengths.
  function recording(storage: Storage, asked: string[]): Storage {
    return new Proxy(storage, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (typeof args[0] === 'string') asked.push(args[0]);
          return value.apply(object, args);
        };
      },
    });
  }
  function handler(env: Record<string, string>, asked: string[]) {
    const base = deps();
    const config = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_MAX_PIXELS: '2000000',
      IMGPIPE_MAX_BYTES: '1000000',
      ...env,
    });
    return createTransformHandler(
      {
        ...base,
        config,
        output: recording(base.output, asked),
        quarantine: recording(base.quarantine, asked),
      },
      {
        env: {
          IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
          IMGPIPE_TRANSFORM_SIGNING: 'off',
          IMGPIPE_TRANSFORM_CHECKED_ONLY: 'true',
        },
      },
    );
  }
  const tooLong = (asked: string[]) => asked.filter((key) => Buffer.byteLength(key) > 1024);

  it('answers 400 naming the lengths, before any storage call, when the manifest key would be over 1024 bytes', async () => {
    // Results' keys fit (transforms/<key>/...), the manifest's under a long output prefix does not.
    const key = `${'m'.repeat(900)}.png`;
    await putSolidPng(key, '#123456');
    const asked: string[] = [];
    const h = handler({ IMGPIPE_OUTPUT_PREFIX: `${'p'.repeat(200)}/` }, asked);
    for (const method of ['GET', 'HEAD']) {
      const request = event(`/t/${key}`, 'w=30&fmt=png');
      request.requestContext.http.method = method;
      const reply = await h(request);
      expect([reply.statusCode, body(reply).error?.field], method).toEqual([400, 'key']);
      expect(body(reply).error.message, method).toMatch(
        /^The source key is 904 bytes: its manifest's key would be \d+ bytes, more than the 1024 S3 stores, so the pipeline cannot have processed it \(a source key of at most \d+ bytes can be\)/,
      );
    }
    expect(asked).toEqual([]);
    // The direct mode reads no manifest: it serves the source.
    const direct = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });
    expect((await direct(event(`/t/${key}`, 'w=30&fmt=png'))).statusCode).toBe(200);
  });

  it('refuses an unprocessed source 403 without reading a quarantine record whose key would be over 1024 bytes', async () => {
    const key = `${'q'.repeat(900)}.png`;
    await putSolidPng(key, '#654321');
    const asked: string[] = [];
    const h = handler({ IMGPIPE_QUARANTINE_PREFIX: `${'r'.repeat(200)}/` }, asked);
    const reply = await h(event(`/t/${key}`, 'w=30&fmt=png'));
    expect([reply.statusCode, body(reply).error?.field]).toEqual([403, 'key']);
    expect(body(reply).error.message).toMatch(/has not been through the pipeline \(no manifest names it\)/);
    expect(asked.length).toBeGreaterThan(0);
    expect(tooLong(asked)).toEqual([]);
  });
});

describe('wm=0 without a watermark in the pipeline document', () => {
  it('is the result wm=1 gives, stored once and served from there', async () => {
    const name = 'no-watermark.png';
    await putSolidPng(name, '#567890');
    const h = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE },
      keys: [KEY_A],
    });
    const signed = (params: Record<string, string>) =>
      event(`/t/${name}`, `${new URLSearchParams(params).toString()}&sig=${signature(KEY_A, name, params)}`);
    const marked = await h(signed({ w: '30', fmt: 'png' }));
    const unmarked = await h(signed({ w: '30', fmt: 'png', wm: '0' }));
    expect([marked.statusCode, unmarked.statusCode]).toEqual([200, 200]);
    expect(unmarked.headers?.etag).toBe(marked.headers?.etag);
    expect([h.stats.decodes, h.stats.hits]).toEqual([1, 1]);
    const stored: string[] = [];
    for await (const info of new S3Storage(s3.client, OUTPUT).list(`transforms/${name}/`))
      stored.push(info.key);
    expect(stored).toHaveLength(1);
  });
});

describe('a miss beyond IMGPIPE_TRANSFORM_CONCURRENCY', () => {
  it('is answered 503 with Retry-After while the other runs, never 500, and the next one is served after it', async () => {
    await putSolidPng('busy.png', '#208040');
    // The first miss is held in its source read until the second has been answered: the two run
    // together whatever the machine's speed (over HTTP, two misses raced with a second of margin).
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reads: string[] = [];
    const held = (storage: Storage): Storage =>
      new Proxy(storage, {
        get(object, property, receiver) {
          const value = Reflect.get(object, property, receiver);
          if (typeof value !== 'function') return value;
          if (property !== 'get') return value.bind(object);
          return async (...args: Parameters<Storage['get']>) => {
            reads.push(args[0]);
            if (reads.length === 1) {
              entered();
              await released;
            }
            return storage.get(...args);
          };
        },
      });
    const base = deps();
    const h = createTransformHandler(
      { ...base, sourceStorage: (bucket) => held(new S3Storage(s3.client, bucket)) },
      { env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' } },
    );
    const first = h(event('/t/busy.png', 'w=40&fmt=png'));
    await inside;
    const busy = await h(event('/t/busy.png', 'w=30&fmt=png'));
    expect([busy.statusCode, body(busy).error.code, busy.headers?.['retry-after']]).toEqual([
      503,
      'unavailable',
      '1',
    ]);
    expect(busy.headers?.['cache-control']).toMatch(/no-store/);
    // Refused before its source was read or decoded.
    expect(reads).toEqual(['busy.png']);
    expect(h.stats.decodes).toBe(0);
    release();
    const done = await first;
    expect(done.statusCode).toBe(200);
    expect((await sharp(Buffer.from(done.body!, 'base64')).metadata()).width).toBe(40);
    // Its place is free again: the request refused is served now.
    const again = await h(event('/t/busy.png', 'w=30&fmt=png'));
    expect(again.statusCode).toBe(200);
    expect((await sharp(Buffer.from(again.body!, 'base64')).metadata()).width).toBe(30);
  });
});

describe('methods other than GET and HEAD', () => {
  it('are answered 405 with Allow, as JSON that no cache keeps, before any storage call', async () => {
    const h = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'no-such-bucket', IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const request = event('/t/tiny.jpg', 'w=30&fmt=png');
      request.requestContext.http.method = method;
      const reply = await h(request);
      expect(reply.statusCode, method).toBe(405);
      expect(reply.headers).toMatchObject({
        allow: 'GET, HEAD',
        'content-type': 'application/json',
        'cache-control': 'no-store',
      });
      expect(body(reply).error).toEqual({
        code: 'method-not-allowed',
        message: `Only GET and HEAD are served, not ${method}`,
        field: 'method',
        value: method,
        accepted: ['GET', 'HEAD'],
      });
    }
  });
});

describe('source keys no URL can name', () => {
  it('answers 400 naming key for a . or .. segment, encoded or not, before any storage call', async () => {
    const h = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });
    for (const path of ['/t/x/../tiny.jpg', '/t/x/%2e%2e/tiny.jpg', '/t/./tiny.jpg']) {
      const reply = await h(event(path, 'w=40'));
      expect([reply.statusCode, body(reply).error.field], path).toEqual([400, 'key']);
      expect(body(reply).error.message).toMatch(/^The source key ".*tiny\.jpg" has a "\.{1,2}" segment/);
    }
    expect([h.stats.decodes, h.stats.hits]).toEqual([0, 0]);
  });
});

describe('exp and sig with signing off', () => {
  it('are not read, as CloudFront drops both: a repeated or malformed one is served as without it', async () => {
    const h = createTransformHandler(deps(), {
      env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' },
    });
    for (const query of ['w=40&exp=1&exp=2', 'w=40&sig=%zz', 'sig=a&w=40&sig=b&exp=x']) {
      const response = await h(event('/t/tiny.jpg', query));
      expect([response.statusCode, response.headers?.['content-type']], query).toEqual([200, 'image/jpeg']);
    }
  });
});

describe('parameter fuzzing', () => {
  it('answers 3000 random requests from a fixed seed without a 500', async () => {
    const h = createTransformHandler(deps(), {
      env: {
        IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE,
        IMGPIPE_TRANSFORM_SIGNING: 'off',
        IMGPIPE_TRANSFORM_FORMATS: 'webp,jpeg,png',
      },
    });
    const random = mulberry32(20261130);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const names = [
      'w',
      'h',
      'fit',
      'fmt',
      'q',
      'dpr',
      'wm',
      'exp',
      'sig',
      'x',
      'W',
      '',
      'w[]',
      '%zz',
      'fmt%00',
    ];
    const values = [
      '',
      '0',
      '10',
      '20',
      '40',
      '64',
      '640',
      '-10',
      '1e3',
      '0x10',
      '4000',
      '4010',
      '99999999999999999999',
      'inside',
      'cover',
      'contain',
      'fill',
      'auto',
      'webp',
      'jpg',
      'avif',
      'gif',
      'PNG',
      '1.5',
      '2',
      '3.0',
      'NaN',
      '%',
      '%zz',
      '%E2%82',
      '🙂',
      '../..',
      'a&b',
      '%00',
      ' 10',
      '10 ',
      '+10',
      '30',
      '90',
      '91',
    ];
    const paths = [
      '/t/tiny.jpg',
      '/t/text.jpg',
      '/t/missing.jpg',
      '/t/',
      '/t//tiny.jpg',
      '/t/%zz',
      '/x/tiny.jpg',
      '/t/tiny.jpg/',
    ];
    const accepts = [undefined, 'image/avif,image/webp,*/*', 'webp', 'other', 'image/*;q=abc', ''];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const parts = Array.from({ length: Math.floor(random() * 5) }, () =>
        random() < 0.1 ? pick(values) : `${pick(names)}=${pick(values)}`,
      );
      const accept = pick(accepts);
      const response = await h(event(pick(paths), parts.join('&'), accept === undefined ? {} : { accept }));
      const status = response.statusCode ?? 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect(status, `${JSON.stringify(parts)}: ${response.body?.slice(0, 200)}`).toBeLessThan(500);
      if (status >= 400) expect(body(response).error.message).toEqual(expect.any(String));
    }
    // The seed reaches successes, refusals of each kind, and cache hits.
    expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([200, 400, 404, 415]));
    expect(h.stats.hits).toBeGreaterThan(0);
  }, 240_000);
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
