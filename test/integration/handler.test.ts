import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventPublisher, ImageEvent } from '../../src/bus/types.ts';
import { startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { buildS3Notification } from '../../src/cli/local-s3.ts';
import { decode } from '../../src/codecs/index.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import type { RuntimeConfig } from '../../src/core/config.ts';
import { StorageError } from '../../src/core/errors.ts';
import type { InputFormat } from '../../src/core/formats.ts';
import { BucketLayout } from '../../src/core/layout.ts';
import { createS3EventHandler, RecordsFailedError } from '../../src/handlers/s3-event.ts';
import { createTransformHandler } from '../../src/handlers/transform.ts';
import { sniffFormat } from '../../src/image/sniff.ts';
import type { Encoder } from '../../src/pipeline/process-image.ts';
import type { Manifest, QuarantineRecord } from '../../src/pipeline/records.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import { classifyS3Error, S3Storage } from '../../src/storage/s3.ts';
import { getJson } from '../../src/storage/types.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';

/**
 * The S3 event handler against a real S3 API server over HTTP, driven with S3 notification
 * payloads shaped as S3 sends them (URL-encoded keys, unquoted eTags).
 */
const SOURCE = 'uploads';
const OUTPUT = 'variants';
const QUARANTINE = 'rejected';

let s3: Awaited<ReturnType<typeof startTestS3>>;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE, 'shared']);
});
afterAll(async () => {
  await s3?.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const config = (env: Record<string, string> = {}): RuntimeConfig =>
  loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
    IMGPIPE_QUARANTINE_PREFIX: '',
    IMGPIPE_CONFIG: JSON.stringify({
      variants: [
        { name: 'large', width: 1600 },
        { name: 'small', width: 320 },
      ],
      formats: { jpeg: {}, webp: {}, avif: { speed: 9 } },
    }),
    ...env,
  });

function handlerFor(
  runtime: RuntimeConfig,
  sourceStorage = (bucket: string) => new S3Storage(s3.client, bucket),
  events?: EventPublisher,
  status?: DynamoStatusStore,
) {
  return createS3EventHandler({
    config: runtime,
    sourceStorage,
    ...(events && { events }),
    ...(status && { status }),
    output: new S3Storage(s3.client, runtime.outputBucket),
    quarantine: new S3Storage(s3.client, runtime.quarantineBucket),
    logger: new Logger({ serviceName: 'imgpipe-test' }),
    metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
  });
}

async function upload(bucket: string, key: string, body: Uint8Array) {
  const put = await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return buildS3Notification({ bucket, key, size: body.length, etag: put.ETag });
}

/** Runs the handler while collecting the JSON lines it writes to stdout (logs and EMF metrics). */
async function capture<T>(run: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  // Powertools writes INFO to stdout and WARN/ERROR to stderr; CloudWatch gets both.
  const collect = (chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n'))
      if (line.trim().startsWith('{')) lines.push(JSON.parse(line));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(collect);
  vi.spyOn(process.stderr, 'write').mockImplementation(collect);
  try {
    return { result: await run(), lines };
  } finally {
    vi.restoreAllMocks();
  }
}

/** The on-demand transformation handler over the same buckets, signing off: it stores results. */
function unsignedTransformHandler() {
  return createTransformHandler(
    {
      config: config(),
      sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
      output: new S3Storage(s3.client, OUTPUT),
      quarantine: new S3Storage(s3.client, QUARANTINE),
      logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    },
    { env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: SOURCE, IMGPIPE_TRANSFORM_SIGNING: 'off' } },
  );
}

function urlEvent(path: string, query: string): LambdaFunctionURLEvent {
  const http = { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' };
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers: {},
    requestContext: {
      accountId: '000000000000',
      apiId: 'x',
      domainName: 'x.lambda-url.us-east-1.on.aws',
      domainPrefix: 'x',
      http,
      requestId: 'r',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

/**
 * The output bucket on the real S3 server, its PUTs of keys under `prefix` failing as S3 throttling
 * past the SDK's retries does: no local server fails one PUT.
 */
function failingPuts(prefix: string, retryable = true): S3Storage {
  return new (class extends S3Storage {
    override async put(target: string, body: Uint8Array, options: Parameters<S3Storage['put']>[2]) {
      if (target.startsWith(prefix))
        throw new StorageError(
          'put',
          this.locate(target),
          `PUT ${target}: ${retryable ? '503 SlowDown' : '403 AccessDenied'} (injected)`,
          { retryable },
        );
      return super.put(target, body, options);
    }
  })(s3.client, OUTPUT);
}

const objectLines = (lines: Record<string, unknown>[]) => lines.filter((l) => typeof l.outcome === 'string');

describe('S3 event handler', () => {
  it('decodes a URL-encoded key, writes every variant and then the manifest', async () => {
    const key = 'photos/2024/a bü+(1).jpg';
    const event = await upload(SOURCE, key, readFixture('photos/portrait-friends-dogs.jpg'));
    expect(event.Records[0]!.s3.object.key).toBe('photos/2024/a+b%C3%BC%2B%281%29.jpg');

    const { result, lines } = await capture(() => handlerFor(config())(event));
    expect(result.records).toEqual([{ bucket: SOURCE, key, status: 'processed', reason: undefined }]);

    const output = new S3Storage(s3.client, OUTPUT);
    const manifest = await getJson<Manifest>(output, `manifests/${key}.json`);
    expect(manifest.source).toMatchObject({
      key,
      format: 'jpeg',
      width: 1065,
      height: 1600,
      etag: event.Records[0]!.s3.object.eTag,
    });
    expect(manifest.outputs.map((o) => [o.key, o.width, o.height])).toEqual([
      [`large/${key}.jpg`, 1065, 1600],
      [`large/${key}.webp`, 1065, 1600],
      [`large/${key}.avif`, 1065, 1600],
      [`small/${key}.jpg`, 320, 481],
      [`small/${key}.webp`, 320, 481],
      [`small/${key}.avif`, 320, 481],
    ]);
    for (const entry of manifest.outputs) {
      const object = await output.get(entry.key);
      expect(object.size).toBe(entry.bytes);
      const format = sniffFormat(object.body);
      expect(format).toBe(entry.format);
      const image = await decode(format as InputFormat, object.body);
      expect([image.width, image.height]).toEqual([entry.width, entry.height]);
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: OUTPUT, Key: entry.key }));
      expect([head.ContentType, head.CacheControl]).toEqual([entry.contentType, 'public, max-age=86400']);
    }
    expect(Object.keys(manifest.timings)).toEqual([
      'read',
      'probe',
      'decode',
      'resize',
      'encode',
      'write',
      'total',
    ]);

    const [line] = objectLines(lines);
    expect(line).toMatchObject({
      level: 'INFO',
      outcome: 'processed',
      bucket: SOURCE,
      key,
      bytesOut: expect.any(Number),
      bytesIn: 196_498,
      outputs: 6,
    });
    expect(Object.keys(line!.durationsMs as object)).toEqual(Object.keys(manifest.timings));
    const emf = lines.find((l) => '_aws' in l)!;
    expect(emf).toMatchObject({ ObjectsProcessed: 1, BytesIn: 196_498, service: 'imgpipe-test' });
  });

  it('skips a duplicate delivery of the same ETag without rewriting anything', async () => {
    const event = await upload(SOURCE, 'dup.jpg', readFixture('photos/colour-fig-red-bowl.jpg'));
    const handler = handlerFor(config());
    await capture(() => handler(event));
    const before = await s3.client.send(
      new HeadObjectCommand({ Bucket: OUTPUT, Key: 'manifests/dup.jpg.json' }),
    );
    const { result, lines } = await capture(() => handler(event));
    expect(result.records[0]!.status).toBe('duplicate');
    expect(objectLines(lines)[0]).toMatchObject({ outcome: 'duplicate', bytesIn: 0 });
    const after = await s3.client.send(
      new HeadObjectCommand({ Bucket: OUTPUT, Key: 'manifests/dup.jpg.json' }),
    );
    expect(after.ETag).toBe(before.ETag);
  });

  it('reprocesses when the object is replaced or the configuration changes', async () => {
    const first = await upload(SOURCE, 'replaced.jpg', readFixture('edge/formats/1x1.jpg'));
    await capture(() => handlerFor(config())(first));
    const second = await upload(SOURCE, 'replaced.jpg', readFixture('edge/formats/grayscale.jpg'));
    const { result } = await capture(() => handlerFor(config())(second));
    expect(result.records[0]!.status).toBe('processed');
    const changed = config({
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'large', width: 100 }], formats: { webp: {} } }),
    });
    const { result: again } = await capture(() => handlerFor(changed)(second));
    expect(again.records[0]!.status).toBe('processed');
  });

  it('deletes the outputs a new configuration no longer writes, so none outlives its manifest', async () => {
    const output = new S3Storage(s3.client, OUTPUT);
    const event = await upload(SOURCE, 'reconfigured.jpg', readFixture('edge/formats/grayscale.jpg'));
    await capture(() => handlerFor(config())(event));
    const before = await getJson<Manifest>(output, 'manifests/reconfigured.jpg.json');
    expect(before.outputs).toHaveLength(6);
    // One variant of the two, in one format of the three; `large` and webp are still written.
    const changed = config({
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'large', width: 100 }], formats: { webp: {} } }),
    });
    const { result } = await capture(() => handlerFor(changed)(event));
    expect(result.records[0]!.status).toBe('processed');
    const after = await getJson<Manifest>(output, 'manifests/reconfigured.jpg.json');
    expect(after.outputs.map((o) => o.key)).toEqual(['large/reconfigured.jpg.webp']);
    for (const { key } of before.outputs)
      expect(await output.head(key), key).toEqual(
        key === 'large/reconfigured.jpg.webp' ? expect.anything() : undefined,
      );
  });

  describe('when a processed image is replaced by an invalid one', () => {
    const output = () => new S3Storage(s3.client, OUTPUT);
    const quarantine = () => new S3Storage(s3.client, QUARANTINE);
    const exists = async (storage: S3Storage, key: string) => (await storage.head(key)) !== undefined;

    async function processValid(key: string) {
      const event = await upload(SOURCE, key, readFixture('edge/orientation/photo-exif-orientation-6.jpg'));
      const { result } = await capture(() => handlerFor(config())(event));
      expect(result.records[0]!.status).toBe('processed');
      const manifest = await getJson<Manifest>(output(), `manifests/${key}.json`);
      expect(manifest.outputs).toHaveLength(6);
      return manifest.outputs.map((o) => o.key);
    }

    it('quarantines the new version and removes the old outputs and manifest; a re-delivery changes nothing', async () => {
      const key = 'replaced/bad.jpg';
      const outputs = await processValid(key);
      const replacement = await upload(SOURCE, key, readFixture('edge/broken/text-named.jpg'));

      const { result, lines } = await capture(() => handlerFor(config())(replacement));
      expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'unsupported-format' });
      for (const output_ of outputs) expect(await exists(output(), output_), output_).toBe(false);
      expect(await exists(output(), `manifests/${key}.json`)).toBe(false);
      expect(await exists(quarantine(), `objects/${key}`)).toBe(true);
      expect(await exists(quarantine(), `reasons/${key}.json`)).toBe(true);
      expect(objectLines(lines)[0]).toMatchObject({
        outcome: 'quarantined',
        detail: expect.stringMatching(/^The file's content is text/),
        removedOutputs: [...outputs, `manifests/${key}.json`],
      });
      // The outcome's message is in the line, so Powertools has no reserved key to drop and warn of.
      expect(lines.filter((line) => String(line.message).includes('reserved key'))).toEqual([]);

      // S3 delivers at least once: the same event again is a duplicate, as a redelivered image is:
      // counted as one, nothing removed. It is announced again (the record cannot tell whether
      // the earlier attempt reached its event; a malware alert must not be lost).
      const announced: ImageEvent[] = [];
      const bus: EventPublisher = {
        publish: async (events) => {
          announced.push(...events);
          return { sent: events.length, failed: 0, errors: [] };
        },
      };
      const again = await capture(() => handlerFor(config(), undefined, bus)(replacement));
      expect(again.result.records[0]).toEqual({
        status: 'duplicate',
        bucket: SOURCE,
        key,
        reason: 'unsupported-format',
      });
      expect(objectLines(again.lines)[0]).toMatchObject({
        outcome: 'duplicate',
        reason: 'unsupported-format',
        detail: expect.stringMatching(/^Already quarantined for this reason: The file's content is text/),
        removedOutputs: [],
      });
      const counted = again.lines.filter((line) => '_aws' in line);
      expect(counted.map((line) => [line.ObjectsDuplicate, line.ObjectsQuarantined])).toEqual([
        [1, undefined],
      ]);
      expect(announced.map((event) => [event.detail.status, event.detail.key])).toEqual([
        ['quarantined', key],
      ]);
      expect(await exists(quarantine(), `objects/${key}`)).toBe(true);
    });

    it('withdraws the variants a failed run of the photo it replaced wrote before its manifest', async () => {
      // The photo's run failed for good after its large/ variants (its small/ PUTs refused): they
      // are published, listed by no manifest. Then the key is overwritten with a file it quarantines.
      const key = 'replaced/half.png';
      const photo = await upload(SOURCE, key, readFixture('edge/formats/1x1.png'));
      const runtime = config();
      await capture(async () => {
        const handler = createS3EventHandler({
          config: runtime,
          sourceStorage: (bucket: string) => new S3Storage(s3.client, bucket),
          output: failingPuts('small/'),
          quarantine: quarantine(),
          logger: new Logger({ serviceName: 'imgpipe-test' }),
          metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
        });
        expect(await handler(photo).catch((e: unknown) => e)).toBeInstanceOf(RecordsFailedError);
      });
      const written = ['jpg', 'webp', 'avif'].map((format) => `large/${key}.${format}`);
      for (const output_ of written) expect(await exists(output(), output_), output_).toBe(true);
      expect(await exists(output(), `manifests/${key}.json`)).toBe(false);

      const replacement = await upload(SOURCE, key, readFixture('edge/broken/text-named.jpg'));
      const { result, lines } = await capture(() => handlerFor(runtime)(replacement));
      expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'unsupported-format' });
      expect(objectLines(lines)[0]).toMatchObject({ outcome: 'quarantined', removedOutputs: written });
      for (const output_ of written) expect(await exists(output(), output_), output_).toBe(false);
    });

    it('withdraws the old outputs when the new version cannot be copied to quarantine for good (over the 5 GiB S3 copies at once)', async () => {
      // S3 copies at most 5 GiB in one CopyObject; an upload larger than that (a multipart upload,
      // far over maxBytes, so too-large without being read) cannot be copied to quarantine, and
      // every retry fails the same. s3rver cannot hold such an object: the quarantine storage
      // answers the copy as S3 does (InvalidRequest, HTTP 400, through S3Storage's own error
      // mapping). The record fails, and the outputs of the photo it replaced stayed published under
      // the key for good, as if the photo were still there.
      const key = 'replaced/huge.jpg';
      const outputs = await processValid(key);
      const replacement = await upload(SOURCE, key, new Uint8Array(4096));
      const runtime = config({ IMGPIPE_MAX_BYTES: '1024' });
      class NoLargeCopies extends S3Storage {
        override async copyFrom(): Promise<void> {
          throw classifyS3Error(
            Object.assign(
              new Error(
                'The specified copy source is larger than the maximum allowable size for a copy source: 5368709120',
              ),
              { name: 'InvalidRequest', $metadata: { httpStatusCode: 400 } },
            ),
            'copy',
            this.locate(`objects/${key}`),
          );
        }
      }
      const handler = createS3EventHandler({
        config: runtime,
        sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
        output: output(),
        quarantine: new NoLargeCopies(s3.client, QUARANTINE),
        logger: new Logger({ serviceName: 'imgpipe-test' }),
        metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
      });
      const { result: error } = await capture(() => handler(replacement).catch((e: unknown) => e));
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect((error as Error).message).toContain('larger than the maximum allowable size for a copy source');
      for (const output_ of outputs) expect(await exists(output(), output_), output_).toBe(false);
      expect(await exists(output(), `manifests/${key}.json`)).toBe(false);
    });

    it('finishes a removal that stopped between the outputs and the manifest', async () => {
      const key = 'replaced/half-done.jpg';
      const outputs = await processValid(key);
      // As if an earlier attempt had removed some outputs and then failed: the manifest still lists them.
      for (const gone of outputs.slice(0, 4)) await output().delete(gone);
      const replacement = await upload(SOURCE, key, readFixture('edge/broken/truncated-half.jpg'));
      const { result } = await capture(() => handlerFor(config())(replacement));
      expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'truncated' });
      for (const output_ of outputs) expect(await exists(output(), output_), output_).toBe(false);
      expect(await exists(output(), `manifests/${key}.json`)).toBe(false);
    });

    it('keeps the outputs of the same content when only the configuration now rejects it', async () => {
      const key = 'replaced/same-content.jpg';
      const outputs = await processValid(key);
      const event = buildS3Notification({ bucket: SOURCE, key });
      // A new configuration (so the manifest is not current) whose pixel limit the same bytes exceed.
      const stricter = config({
        IMGPIPE_MAX_PIXELS: '1000',
        IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'large', width: 1600 }], formats: { webp: {} } }),
      });
      const { result } = await capture(() => handlerFor(stricter)(event));
      expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'too-many-pixels' });
      for (const output_ of outputs) expect(await exists(output(), output_), output_).toBe(true);
      expect(await exists(output(), `manifests/${key}.json`)).toBe(true);
    });
  });

  it('quarantines an invalid upload with a reason record, leaves the source alone, and succeeds', async () => {
    const body = readFixture('edge/broken/text-named.jpg');
    const event = await upload(SOURCE, 'docs/notes.jpg', body);
    const { result, lines } = await capture(() => handlerFor(config())(event));
    expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'unsupported-format' });

    const quarantine = new S3Storage(s3.client, QUARANTINE);
    expect(Buffer.compare(Buffer.from((await quarantine.get('objects/docs/notes.jpg')).body), body)).toBe(0);
    const record = await getJson<QuarantineRecord>(quarantine, 'reasons/docs/notes.jpg.json');
    expect(record).toMatchObject({
      reason: 'unsupported-format',
      message: "The file's content is text; accepted formats are JPEG, PNG, WebP, AVIF, HEIC and GIF",
      details: { detected: 'text' },
      source: {
        location: `s3://${SOURCE}/docs/notes.jpg`,
        etag: event.Records[0]!.s3.object.eTag,
        size: body.length,
      },
    });
    const source = await s3.client.send(new HeadObjectCommand({ Bucket: SOURCE, Key: 'docs/notes.jpg' }));
    expect(source.ETag?.replaceAll('"', '')).toBe(event.Records[0]!.s3.object.eTag);
    expect(objectLines(lines)[0]).toMatchObject({
      level: 'WARN',
      outcome: 'quarantined',
      reason: 'unsupported-format',
    });
  });

  it('quarantines an object over maxBytes by server-side copy, without downloading it', async () => {
    const body = readFixture('photos/landscape-picos-de-europa.jpg');
    const event = await upload(SOURCE, 'huge.jpg', body);
    const { result } = await capture(() => handlerFor(config({ IMGPIPE_MAX_BYTES: '100000' }))(event));
    expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'too-large' });
    const copy = await s3.client.send(new HeadObjectCommand({ Bucket: QUARANTINE, Key: 'objects/huge.jpg' }));
    expect(copy.ContentLength).toBe(body.length);
  });

  it("ignores the S3 console's folder markers (empty keys ending in /) instead of quarantining them", async () => {
    const event = await upload(SOURCE, 'albums/summer/', new Uint8Array(0));
    const { result } = await capture(() => handlerFor(config())(event));
    expect(result.records[0]).toEqual({
      status: 'ignored',
      bucket: SOURCE,
      key: 'albums/summer/',
      reason: 'folder marker (a key ending in /)',
    });
    const quarantine = new S3Storage(s3.client, QUARANTINE);
    expect(await quarantine.head('reasons/albums/summer/.json')).toBeUndefined();
  });

  it('writes nothing when an invalid upload is delivered again', async () => {
    const event = await upload(SOURCE, 'again/text.jpg', readFixture('edge/broken/text-named.jpg'));
    const handler = handlerFor(config());
    await capture(() => handler(event));
    const heads = () =>
      Promise.all(
        ['objects/again/text.jpg', 'reasons/again/text.jpg.json'].map((Key) =>
          s3.client.send(new HeadObjectCommand({ Bucket: QUARANTINE, Key })),
        ),
      );
    const before = await heads();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // S3's LastModified has 1 s resolution
    const { result } = await capture(() => handler(event));
    expect(result.records[0]).toEqual({
      status: 'duplicate',
      bucket: SOURCE,
      key: 'again/text.jpg',
      reason: 'unsupported-format',
    });
    const after = await heads();
    expect(after.map((h) => [h.ETag, h.LastModified])).toEqual(before.map((h) => [h.ETag, h.LastModified]));
  });

  it('records the ETag and size of the object it quarantined, not those of a stale event', async () => {
    // S3 delivers the events of two uploads of one key in any order: the first upload's event may
    // come after the second upload, whose content is what gets read (or measured) and copied.
    for (const [key, replacement] of [
      ['stale/too-large.jpg', 'photos/landscape-picos-de-europa.jpg'],
      ['stale/text.jpg', 'edge/broken/text-named.jpg'],
    ] as const) {
      const stale = await upload(SOURCE, key, readFixture('edge/formats/1x1.jpg'));
      const body = readFixture(replacement);
      const current = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
      const { result } = await capture(() => handlerFor(config({ IMGPIPE_MAX_BYTES: '100000' }))(stale));
      expect(result.records[0]!.status).toBe('quarantined');
      const record = await getJson<QuarantineRecord>(
        new S3Storage(s3.client, QUARANTINE),
        `reasons/${key}.json`,
      );
      expect(record.source, key).toMatchObject({
        etag: current.ETag!.replaceAll('"', ''),
        size: body.length,
      });
    }
  });

  it('quarantines an image that would outlast the invocation, with no output, instead of timing out', async () => {
    // The invocation has 0.4 s left: a quarter of it is kept to record the outcome, which leaves
    // the image 0.3 s. Its encodes never finish on their own (a stand-in for encoder threads busy
    // past the deadline: no assumption about how fast this machine is), so only the deadline,
    // aborting their signal as it does the pool's tasks, ends them.
    const body = readFixture('bench/seeding-5312x2988.jpg');
    const event = await upload(SOURCE, 'slow/big.jpg', body);
    const context = { getRemainingTimeInMillis: () => 400 } as never;
    const runtime = config();
    const stalled = {
      parallel: true,
      encode: (_format: unknown, _image: unknown, _options: unknown, signal?: AbortSignal) =>
        new Promise<never>((_, reject) => {
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    } as unknown as Encoder;
    const handler = createS3EventHandler({
      config: runtime,
      sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
      output: new S3Storage(s3.client, runtime.outputBucket),
      quarantine: new S3Storage(s3.client, runtime.quarantineBucket),
      logger: new Logger({ serviceName: 'imgpipe-test' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
      encoder: stalled,
    });
    const { result, lines } = await capture(() => handler(event, context));
    expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'too-slow' });

    const quarantine = new S3Storage(s3.client, QUARANTINE);
    const record = await getJson<QuarantineRecord>(quarantine, 'reasons/slow/big.jpg.json');
    expect(record).toMatchObject({
      reason: 'too-slow',
      message: expect.stringMatching(/^Processing took longer than the [\d.]+ s allowed for one image/),
      details: { boundBy: 'invocation', maxSecondsPerImage: 60, reserveMs: expect.any(Number) },
    });
    // What was left when the image started: the 0.4 s of the context, less the reads before it.
    expect(record.details.invocationRemainingMs).toBeLessThanOrEqual(400);
    expect((await quarantine.get('objects/slow/big.jpg')).size).toBe(body.length);
    const written = [];
    for await (const object of new S3Storage(s3.client, OUTPUT).list('large/slow/')) written.push(object.key);
    for await (const object of new S3Storage(s3.client, OUTPUT).list('manifests/slow/'))
      written.push(object.key);
    expect(written).toEqual([]);
    expect(objectLines(lines)[0]).toMatchObject({ outcome: 'quarantined', reason: 'too-slow' });
  });

  it('fails an image the invocation has no time left for after a slow status write, to retry it, instead of running into the timeout or quarantining it', async () => {
    // The invocation's remaining time is read when the record starts; the status table's begin
    // (DynamoDB throttled and retried, a lost connection waited out) then takes all of it, more
    // than the 5 s kept for what is not the image. The image's deadline is where the invocation
    // ends (reckoned after the write, it fell that much past Lambda's timeout, which stopped the
    // function mid-image with nothing recorded), and running out of it is not the image's doing:
    // the record fails, for Lambda's retry to give the image an invocation of its own.
    const dynamo = await startLocalDynamo();
    try {
      await dynamo.createStatusTable('imgpipe-status');
      const remainingMs = 5_500;
      let askedAt: number | undefined;
      const context = {
        getRemainingTimeInMillis: () => {
          askedAt ??= performance.now();
          return remainingMs;
        },
      } as never;
      class SlowBegin extends DynamoStatusStore {
        override async begin(...args: Parameters<DynamoStatusStore['begin']>) {
          // Until the time the context gave has passed, and a little more for what ran between
          // the context's answer and this call (the clock, not a guess at a duration).
          const end = askedAt! + remainingMs + 100;
          while (performance.now() < end)
            await new Promise((resolve) => setTimeout(resolve, end - performance.now() + 1));
          return super.begin(...args);
        }
      }
      const status = new SlowBegin(dynamo.client, 'imgpipe-status');
      const runtime = config();
      const handler = handlerFor(runtime, undefined, undefined, status);
      const event = await upload(SOURCE, 'late/tiny.png', readFixture('edge/formats/1x1.png'));
      const { result: error, lines } = await capture(() => handler(event, context).catch((e: unknown) => e));
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect((error as Error).message).toMatch(
        /late\/tiny\.png: InvocationTimeError: The invocation's time ran out before the image was done, after [\d.]+ s of it went before the image started/,
      );
      expect(objectLines(lines)[0]).toMatchObject({ outcome: 'failed', key: 'late/tiny.png' });
      expect(await status.get(SOURCE, 'late/tiny.png')).toMatchObject({ status: 'failed' });
      // Nothing quarantined or written: the retry processes it.
      expect(await new S3Storage(s3.client, QUARANTINE).head('reasons/late/tiny.png.json')).toBeUndefined();
      expect(await new S3Storage(s3.client, OUTPUT).head('manifests/late/tiny.png.json')).toBeUndefined();
    } finally {
      await dynamo.close();
    }
  });

  it('fails a later record the invocation has no time left for after the earlier ones, to retry it, and starts none after it', async () => {
    // One event, three records: the first is processed, and takes the whole invocation (its
    // status write: the clock moves past the invocation's end); the second then has no time left.
    // Running out of it is the earlier record's doing, not the image's: quarantined as too-slow, a
    // valid photo stayed so (its retry finds the quarantine done). It fails, and the retry, which
    // finds what is done, does it. The third is not started: each such record was read, recorded
    // failed and announced as an Image Failed, with no time to be processed.
    const realNow = performance.now.bind(performance);
    const clock = vi.spyOn(performance, 'now');
    const dynamo = await startLocalDynamo();
    try {
      await dynamo.createStatusTable('imgpipe-status');
      const wholeMs = 120_000;
      let invokedAt: number | undefined;
      const context = {
        getRemainingTimeInMillis: () => {
          invokedAt ??= performance.now();
          return Math.max(0, Math.round(invokedAt + wholeMs - performance.now()));
        },
      } as never;
      class SlowFirstFinish extends DynamoStatusStore {
        override async finish(...args: Parameters<DynamoStatusStore['finish']>) {
          // The first record's write, until the invocation's time has passed.
          if (args[0].key === 'later/first.png') clock.mockImplementation(() => realNow() + wholeMs + 100);
          return super.finish(...args);
        }
      }
      const status = new SlowFirstFinish(dynamo.client, 'imgpipe-status');
      const runtime = config();
      const sent: ImageEvent[] = [];
      const handler = handlerFor(
        runtime,
        undefined,
        {
          publish: async (events) => {
            sent.push(...events);
            return { sent: events.length, failed: 0, errors: [] };
          },
        },
        status,
      );
      const png = readFixture('edge/formats/1x1.png');
      const first = await upload(SOURCE, 'later/first.png', png);
      const second = await upload(SOURCE, 'later/second.png', png);
      const third = await upload(SOURCE, 'later/third.png', png);
      const event = { Records: [...first.Records, ...second.Records, ...third.Records] };
      const { result: error, lines } = await capture(() => handler(event, context).catch((e: unknown) => e));
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect(objectLines(lines).map((line) => [line.key, line.outcome])).toEqual([
        ['later/first.png', 'processed'],
        ['later/second.png', 'failed'],
      ]);
      const { failures } = error as RecordsFailedError;
      expect(failures.map((failure) => failure.key)).toEqual(['later/second.png', 'later/third.png']);
      expect(failures[0]!.error).toMatchObject({
        name: 'InvocationTimeError',
        message: expect.stringMatching(/^The invocation's time ran out before the image was done/),
      });
      expect(failures[1]!.error).toMatchObject({
        name: 'InvocationTimeError',
        message: expect.stringMatching(
          /^Not started: the invocation's time ran out during s3:\/\/[^/]+\/later\/second\.png/,
        ),
      });
      expect(
        await new S3Storage(s3.client, QUARANTINE).head('reasons/later/second.png.json'),
      ).toBeUndefined();
      // The third never read, recorded or announced: its retry does it.
      expect(await status.get(SOURCE, 'later/third.png')).toBeUndefined();
      expect(sent.map((e) => [e.detailType, e.detail.key])).toEqual([
        ['Image Processed', 'later/first.png'],
        ['Image Failed', 'later/second.png'],
      ]);
    } finally {
      clock.mockRestore();
      await dynamo.close();
    }
  });

  it("keeps the outputs made again for a key replaced while processing to the invocation's time", async () => {
    // The key is uploaded again while its first version is processed: the status write finds the
    // later event recorded, and the outputs are made again from the key's current content. That
    // second image comes after the first, in the same invocation: with no deadline of its own it
    // ran the function into its timeout. Here the invocation's time is gone by then (the status
    // write took it): the record fails, for the retry to make the outputs again, and the current
    // content, which its own event judges, is not quarantined as too-slow for time it never had.
    // The invocation's time is taken by moving the clock past its end once the first image is done:
    // the first image has the whole of maxSecondsPerImage, whatever the machine's speed.
    const realNow = performance.now.bind(performance);
    const clock = vi.spyOn(performance, 'now');
    const dynamo = await startLocalDynamo();
    try {
      await dynamo.createStatusTable('imgpipe-status');
      // More than the 60 s maxSecondsPerImage and the reserve: the first image is bound by its budget.
      const remainingMs = 120_000;
      const context = { getRemainingTimeInMillis: () => remainingMs } as never;
      const key = 'redo/cat.png';
      let replaced = false;
      class ReplacedWhileProcessing extends DynamoStatusStore {
        override async finish(...args: Parameters<DynamoStatusStore['finish']>) {
          if (!replaced && args[1].status === 'processed') {
            replaced = true;
            // The invocation's time gone (the status write took it), and the key uploaded again
            // meanwhile, its event recorded.
            clock.mockImplementation(() => realNow() + remainingMs + 100);
            const later = (await upload(SOURCE, key, readFixture('edge/formats/1x1.jpg'))).Records[0]!.s3
              .object;
            await super.begin({ bucket: SOURCE, key, etag: later.eTag, sequencer: later.sequencer });
          }
          return super.finish(...args);
        }
      }
      const runtime = config();
      const handler = handlerFor(
        runtime,
        undefined,
        undefined,
        new ReplacedWhileProcessing(dynamo.client, 'imgpipe-status'),
      );
      const event = await upload(SOURCE, key, readFixture('edge/formats/1x1.png'));
      const { result: error } = await capture(() => handler(event, context).catch((e: unknown) => e));
      expect(replaced).toBe(true);
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect((error as Error).message).toMatch(
        /its outputs could not be redone for the current content \(reprocess the key\): InvocationTimeError: The invocation's time ran out .* it was made again after another image of the invocation/,
      );
      expect(await new S3Storage(s3.client, QUARANTINE).head('reasons/redo/cat.png.json')).toBeUndefined();
    } finally {
      clock.mockRestore();
      await dynamo.close();
    }
  });

  it('ignores events for its own outputs and quarantine copies', async () => {
    const own = [
      buildS3Notification({ bucket: OUTPUT, key: 'large/photos/x.jpg.webp' }),
      buildS3Notification({ bucket: OUTPUT, key: 'manifests/x.jpg.json' }),
      buildS3Notification({ bucket: QUARANTINE, key: 'objects/x.jpg' }),
    ];
    for (const event of own) {
      const { result } = await capture(() => handlerFor(config())(event));
      expect(result.records[0]).toMatchObject({
        status: 'ignored',
        reason: expect.stringMatching(/^own output: /),
      });
    }
  });

  it('still guards its outputs when misconfigured to share one bucket with sources', async () => {
    const shared = config({
      IMGPIPE_OUTPUT_BUCKET: 'shared',
      IMGPIPE_QUARANTINE_BUCKET: 'shared',
      IMGPIPE_QUARANTINE_PREFIX: 'quarantine/',
    });
    const handler = handlerFor(shared);
    const upload1 = await upload('shared', 'incoming/cat.jpg', readFixture('edge/formats/1x1.jpg'));
    const { result } = await capture(() => handler(upload1));
    expect(result.records[0]!.status).toBe('processed');
    // S3 would now notify about every object we wrote to the same bucket:
    const manifest = await getJson<Manifest>(
      new S3Storage(s3.client, 'shared'),
      'manifests/incoming/cat.jpg.json',
    );
    for (const key of [...manifest.outputs.map((o) => o.key), 'manifests/incoming/cat.jpg.json']) {
      const { result: echo } = await capture(() => handler(buildS3Notification({ bucket: 'shared', key })));
      expect(echo.records[0]!.status).toBe('ignored');
    }
  });

  it('acknowledges s3:TestEvent and events without records', async () => {
    const handler = handlerFor(config());
    const test = {
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: '2026-11-27T00:00:00.000Z',
      Bucket: SOURCE,
      RequestId: 'X',
      HostId: 'Y',
    };
    expect((await capture(() => handler(test))).result).toEqual({ records: [] });
    expect((await capture(() => handler({ hello: 'world' }))).result).toEqual({ records: [] });
    // Events the pipeline has nothing to do with are acknowledged (removals are handled: see
    // status-handler.test.ts).
    const restored = buildS3Notification({
      bucket: SOURCE,
      key: 'archived.jpg',
      eventName: 'ObjectRestore:Completed',
    });
    expect((await capture(() => handler(restored))).result.records[0]).toMatchObject({ status: 'ignored' });
  });

  it('processes the S3 events SQS messages and SNS notifications carry', async () => {
    // A queue or topic between S3 and the function (S3 -> SQS -> Lambda, S3 -> SNS -> Lambda): its
    // records were "not an S3 record", acknowledged unprocessed, and SQS deleted the messages.
    const handler = handlerFor(config());
    const png = readFixture('edge/formats/alpha-rgba8.png');
    const viaSqs = await upload(SOURCE, 'queued/a b.png', png);
    const viaSns = await upload(SOURCE, 'fanned-out/c.png', png);
    const event = {
      Records: [
        {
          messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
          receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a',
          body: JSON.stringify(viaSqs),
          attributes: { ApproximateReceiveCount: '1' },
          messageAttributes: {},
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:uploads',
          awsRegion: 'us-east-1',
        },
      ],
    };
    const { result } = await capture(() => handler(event));
    expect(result.records).toEqual([
      { bucket: SOURCE, key: 'queued/a b.png', status: 'processed', reason: undefined },
    ]);
    const output = new S3Storage(s3.client, OUTPUT);
    expect((await getJson<Manifest>(output, 'manifests/queued/a b.png.json')).source.etag).toBe(
      viaSqs.Records[0]!.s3.object.eTag,
    );
    const notification = {
      Records: [
        {
          EventSource: 'aws:sns',
          EventVersion: '1.0',
          Sns: { Type: 'Notification', MessageId: '95df01b4', Message: JSON.stringify(viaSns) },
        },
      ],
    };
    expect((await capture(() => handler(notification))).result.records).toEqual([
      { bucket: SOURCE, key: 'fanned-out/c.png', status: 'processed', reason: undefined },
    ]);
    await getJson<Manifest>(output, 'manifests/fanned-out/c.png.json');
  });

  it('deletes the stored on-demand results of a deleted source, and only its own', async () => {
    const transform = unsignedTransformHandler();
    const png = readFixture('edge/formats/1x1.png');
    // A source, and one whose key continues it: its results are under the first one's prefix.
    for (const key of ['gone/a.png', 'gone/a.png/b.png']) {
      await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: png }));
      for (const fmt of ['webp', 'png'])
        expect((await transform(urlEvent(`/t/${key}`, `w=10&fmt=${fmt}`))).statusCode).toBe(200);
    }
    const results = async () => {
      const keys: string[] = [];
      for await (const object of new S3Storage(s3.client, OUTPUT).list('transforms/gone/'))
        keys.push(object.key);
      return keys;
    };
    const before = await results();
    expect(before).toHaveLength(4);
    const own = before.filter((key) => !key.startsWith('transforms/gone/a.png/b.png/'));
    expect(own).toHaveLength(2);

    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'gone/a.png' }));
    const removed = buildS3Notification({
      bucket: SOURCE,
      key: 'gone/a.png',
      eventName: 'ObjectRemoved:Delete',
    });
    const { result, lines } = await capture(() =>
      handlerFor(config({ IMGPIPE_TRANSFORM_PREFIX: 'transforms/' }))(removed),
    );
    expect(result.records[0]!.status).toBe('deleted');
    expect(objectLines(lines)[0]!.removedOutputs).toEqual(expect.arrayContaining(own));
    expect(await results()).toEqual(before.filter((key) => !own.includes(key)));
    // With IMGPIPE_DELETE_OUTPUTS=false the results stay, as the outputs do.
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'gone/a.png/b.png' }));
    const kept = buildS3Notification({
      bucket: SOURCE,
      key: 'gone/a.png/b.png',
      eventName: 'ObjectRemoved:Delete',
    });
    await capture(() =>
      handlerFor(config({ IMGPIPE_DELETE_OUTPUTS: 'false', IMGPIPE_TRANSFORM_PREFIX: 'transforms/' }))(kept),
    );
    expect(await results()).toHaveLength(2);
  });

  it('deletes the variants a failed run wrote before its manifest when the source is deleted', async () => {
    // A run whose PUT of one variant failed for good (Lambda's retries spent) leaves the variants
    // written before it published, with no manifest to list them. The failure is injected in front
    // of the real S3 server (s3rver) for the small/ keys alone: no local server fails one PUT.
    const key = 'half-written/cat.png';
    const created = await upload(SOURCE, key, readFixture('edge/formats/1x1.png'));
    const runtime = config();
    const output = new S3Storage(s3.client, OUTPUT);
    const failing = failingPuts('small/');
    const deps = {
      config: runtime,
      sourceStorage: (bucket: string) => new S3Storage(s3.client, bucket),
      quarantine: new S3Storage(s3.client, runtime.quarantineBucket),
      logger: new Logger({ serviceName: 'imgpipe-test' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    };
    await capture(async () => {
      const error = await createS3EventHandler({ ...deps, output: failing })(created).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RecordsFailedError);
    });
    const written = ['jpg', 'webp', 'avif'].map((format) => `large/${key}.${format}`);
    for (const output of written)
      await s3.client.send(new HeadObjectCommand({ Bucket: OUTPUT, Key: output }));
    expect(await new S3Storage(s3.client, OUTPUT).head(`manifests/${key}.json`)).toBeUndefined();

    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    const removed = buildS3Notification({ bucket: SOURCE, key, eventName: 'ObjectRemoved:Delete' });
    const { result, lines } = await capture(() => createS3EventHandler({ ...deps, output })(removed));
    expect(result.records[0]!.status).toBe('deleted');
    expect(objectLines(lines)[0]!.removedOutputs).toEqual(written);
    for (const output of written) expect(await new S3Storage(s3.client, OUTPUT).head(output)).toBeUndefined();
    // A redelivery finds nothing left.
    const { lines: again } = await capture(() => createS3EventHandler({ ...deps, output })(removed));
    expect(objectLines(again)[0]!.removedOutputs).toEqual([]);
  });

  it('leaves no variant of a run that S3 refused for good published, so no later configuration or removal overlooks it', async () => {
    // The small/ PUTs refused for good (access denied on that prefix; no retry changes it): the
    // large/ variants written before stayed published, listed by no manifest. Once the
    // configuration changed (the operator dropped the refused variant), nothing deleted them, not
    // even the source's removal, which deletes the unlisted keys of its own configuration only.
    const key = 'refused-for-good/cat.png';
    const created = await upload(SOURCE, key, readFixture('edge/formats/1x1.png'));
    const deps = (runtime: RuntimeConfig, output: S3Storage) => ({
      config: runtime,
      sourceStorage: (bucket: string) => new S3Storage(s3.client, bucket),
      output,
      quarantine: new S3Storage(s3.client, runtime.quarantineBucket),
      logger: new Logger({ serviceName: 'imgpipe-test' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    });
    const { result: error } = await capture(() =>
      createS3EventHandler(deps(config(), failingPuts('small/', false)))(created).catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(RecordsFailedError);
    expect(String((error as Error).message)).toMatch(/403 AccessDenied/);
    const written = ['jpg', 'webp', 'avif'].map((format) => `large/${key}.${format}`);
    const output = new S3Storage(s3.client, OUTPUT);
    for (const variant of written) expect(await output.head(variant), variant).toBeUndefined();

    // The source deleted under a configuration without that variant: nothing of the key is left.
    const later = config({
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'large', width: 1600 }], formats: { webp: {} } }),
    });
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    const removed = buildS3Notification({ bucket: SOURCE, key, eventName: 'ObjectRemoved:Delete' });
    const { result } = await capture(() => createS3EventHandler(deps(later, output))(removed));
    expect(result.records[0]!.status).toBe('deleted');
    for (const variant of written) expect(await output.head(variant), variant).toBeUndefined();
  });

  it('fails the record of a removal whose Image Deleted could not be sent, without a status table, so that the retry announces it', async () => {
    // EventBridge has no local server: the bus is an EventPublisher that refuses every event.
    const key = 'unannounced/gone.png';
    const created = await upload(SOURCE, key, readFixture('edge/formats/1x1.png'));
    await capture(() => handlerFor(config())(created));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    const removed = buildS3Notification({ bucket: SOURCE, key, eventName: 'ObjectRemoved:Delete' });
    const refused: ImageEvent[] = [];
    const down: EventPublisher = {
      publish: async (events) => {
        refused.push(...events);
        return { sent: 0, failed: events.length, errors: events.map(() => 'InternalFailure: injected') };
      },
    };
    await capture(async () => {
      const error = await handlerFor(config(), undefined, down)(removed).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect((error as Error).message).toMatch(
        /gone\.png is deleted, but its Image Deleted event could not be sent/,
      );
    });
    expect(refused.map((event) => event.detailType)).toEqual(['Image Deleted']);
    const sent: ImageEvent[] = [];
    const up: EventPublisher = {
      publish: async (events) => {
        sent.push(...events);
        return { sent: events.length, failed: 0, errors: [] };
      },
    };
    const { result } = await capture(() => handlerFor(config(), undefined, up)(removed));
    expect(result.records[0]!.status).toBe('deleted');
    expect(sent.map((event) => [event.detailType, event.detail.key])).toEqual([['Image Deleted', key]]);
  });

  it('withdraws the stored on-demand results with the outputs of a source replaced by a file it quarantines', async () => {
    const transform = unsignedTransformHandler();
    const handler = handlerFor(config({ IMGPIPE_TRANSFORM_PREFIX: 'transforms/' }));
    const key = 'replaced/a.png';
    const put = async (body: Uint8Array) => {
      const { ETag } = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
      return buildS3Notification({ bucket: SOURCE, key, etag: ETag, size: body.length });
    };
    expect(
      (await capture(async () => handler(await put(readFixture('edge/formats/1x1.png'))))).result.records[0],
    ).toMatchObject({ status: 'processed' });
    for (const fmt of ['webp', 'png'])
      expect((await transform(urlEvent(`/t/${key}`, `w=10&fmt=${fmt}`))).statusCode).toBe(200);
    const results = async () => {
      const keys: string[] = [];
      for await (const object of new S3Storage(s3.client, OUTPUT).list('transforms/replaced/'))
        keys.push(object.key);
      return keys;
    };
    const made = await results();
    expect(made).toHaveLength(2);
    // Replaced by text: quarantined, and the earlier content's outputs, manifest and results go.
    const { result, lines } = await capture(async () =>
      handler(await put(new TextEncoder().encode('plain text'))),
    );
    expect(result.records[0]).toMatchObject({ status: 'quarantined', reason: 'unsupported-format' });
    expect(objectLines(lines)[0]!.removedOutputs).toEqual(expect.arrayContaining(made));
    expect(await results()).toEqual([]);
  });

  it('refuses a key too long for its outputs or quarantine record, naming the lengths, before any request for them', async () => {
    // A quarantine prefix longer than the manifest's makes the reason record the longest key.
    const runtime = config({ IMGPIPE_QUARANTINE_PREFIX: 'rejected-files/' });
    const layout = new BucketLayout(runtime.pipeline, runtime.quarantinePrefix);
    const bytes = (keys: readonly string[]) => Math.max(...keys.map((k) => Buffer.byteLength(k)));
    const keyOf = (length: number) => `long/${'k'.repeat(length - 9)}.jpg`;
    // The longest key whose outputs fit; and one whose outputs fit but whose reason record does not.
    let fits = 1024;
    while (bytes(layout.outputKeys(keyOf(fits))) > 1024) fits--;
    const quarantineFits = (length: number) =>
      bytes(Object.values(layout.quarantineKeys(keyOf(length)))) <= 1024;
    const writes: string[] = [];
    const recording = (bucket: string) =>
      new Proxy(new S3Storage(s3.client, bucket), {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function'
            ? (key: string, ...rest: unknown[]) => {
                writes.push(`${String(property)} ${bucket}/${String(key).slice(0, 12)}`);
                return value.call(target, key, ...rest);
              }
            : value;
        },
      });
    const handler = createS3EventHandler({
      config: runtime,
      sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
      output: recording(OUTPUT),
      quarantine: recording(QUARANTINE),
      logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    });
    const photo = readFixture('photos/colour-fig-red-bowl.jpg');
    // One byte more than fits: failed, not retried into S3's "Your key is too long", nothing read.
    const tooLong = await upload(SOURCE, keyOf(fits + 1), photo);
    const error = await handler(tooLong).catch((e: unknown) => e as RecordsFailedError);
    expect(error).toBeInstanceOf(RecordsFailedError);
    expect((error as RecordsFailedError).message).toMatch(
      new RegExp(
        `is ${fits + 1} bytes: its outputs and manifest would have keys of up to 1025 bytes, more than the 1024 S3 stores; it needs a key at least 1 bytes shorter`,
      ),
    );
    expect(((error as RecordsFailedError).failures[0]!.error as StorageError).retryable).toBe(false);
    expect(writes).toEqual([]);
    // The longest that fits is processed, even where a quarantine record would not fit.
    const longest = await upload(SOURCE, keyOf(fits), photo);
    expect((await handler(longest)).records[0]!.status).toBe('processed');
    expect(quarantineFits(fits)).toBe(false);
    const published = async () => {
      const keys: string[] = [];
      for await (const object of new S3Storage(s3.client, OUTPUT).list(''))
        if (object.key.includes('long/kkk')) keys.push(object.key);
      return keys;
    };
    expect((await published()).length).toBeGreaterThan(1);
    // An invalid file under that key cannot be quarantined: failed, naming why, nothing written,
    // and the photo's outputs, of content the key no longer holds, withdrawn.
    writes.length = 0;
    const text = await upload(SOURCE, keyOf(fits), readFixture('edge/broken/text-named.jpg'));
    const refused = await handler(text).catch((e: unknown) => e as RecordsFailedError);
    expect((refused as RecordsFailedError).message).toMatch(
      /is \d+ bytes: its quarantine copy and record would have keys of up to \d+ bytes, more than the 1024 S3 stores/,
    );
    expect(writes.filter((w) => w.startsWith('put') || w.startsWith('copy'))).toEqual([]);
    expect(await published()).toEqual([]);
  });

  it('records an invalid upload deleted before its quarantine copy as missing, not as a failure to retry', async () => {
    // The source is deleted between its read and the copy (a user removing a file they uploaded by
    // mistake): S3 answers the copy with NoSuchKey, which no retry can change.
    const key = 'gone/notes.jpg';
    const event = await upload(SOURCE, key, readFixture('edge/broken/text-named.jpg'));
    const deletesAfterRead = (bucket: string): S3Storage =>
      new Proxy(new S3Storage(s3.client, bucket), {
        get(target, property, receiver) {
          if (property === 'get')
            return async (...args: Parameters<S3Storage['get']>) => {
              const object = await target.get(...args);
              await s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
              return object;
            };
          return Reflect.get(target, property, receiver);
        },
      });
    const { result, lines } = await capture(() => handlerFor(config(), deletesAfterRead)(event));
    expect(result.records).toEqual([{ bucket: SOURCE, key, status: 'missing' }]);
    expect(objectLines(lines)[0]).toMatchObject({
      outcome: 'missing',
      detail: `No object at s3://${SOURCE}/${key} after it was found invalid (unsupported-format); its removal is handled by its own event`,
    });
    const quarantine = new S3Storage(s3.client, QUARANTINE);
    expect(await quarantine.head(`objects/${key}`)).toBeUndefined();
    expect(await quarantine.head(`reasons/${key}.json`)).toBeUndefined();
  });

  it("never publishes an earlier version's outputs for a late event naming it, without a status table", async () => {
    // A versioned source bucket (the module's) without the status table: an event for the
    // version a newer upload replaced (redelivered, or a dead letter redriven) named that version,
    // which the GET read, and its outputs were written over the newer version's (public, cached
    // for a day) before the HEAD after them found the key holding other content and made them
    // again. s3rver keeps no versions: this source serves the replaced version's bytes by its
    // version ID, as S3 does, and anything else from s3rver.
    const key = 'versions/photo.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    const first = await upload(SOURCE, key, older);
    const handler = handlerFor(config());
    await capture(() => handler(first));
    const newer = await upload(SOURCE, key, readFixture('edge/formats/grayscale.jpg'));
    await capture(() => handler(newer));
    const output = new S3Storage(s3.client, OUTPUT);
    const manifest = await getJson<Manifest>(output, `manifests/${key}.json`);
    const s3Source = new S3Storage(s3.client, SOURCE);
    const versioned = Object.create(s3Source) as S3Storage;
    versioned.get = async (k, options) => {
      if (k !== key || options?.versionId !== 'v1') return s3Source.get(k, options);
      const etag = first.Records[0]!.s3.object.eTag!;
      return { key: k, size: older.length, etag, contentType: 'image/jpeg', versionId: 'v1', body: older };
    };
    const written: string[] = [];
    const watched = Object.create(output) as S3Storage;
    watched.put = async (k, body, options) => {
      written.push(k);
      return output.put(k, body, options);
    };
    const late = buildS3Notification({
      bucket: SOURCE,
      key,
      size: older.length,
      etag: first.Records[0]!.s3.object.eTag,
      versionId: 'v1',
    });
    const lateHandler = createS3EventHandler({
      config: config(),
      sourceStorage: (bucket) => (bucket === SOURCE ? versioned : new S3Storage(s3.client, bucket)),
      output: watched,
      quarantine: new S3Storage(s3.client, QUARANTINE),
      logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    });
    const { records } = await lateHandler(late);
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringContaining(
        `the key holds other content (ETag ${newer.Records[0]!.s3.object.eTag})`,
      ),
    });
    expect(written).toEqual([]);
    expect((await getJson<Manifest>(output, `manifests/${key}.json`)).createdAt).toBe(manifest.createdAt);
  });

  it('records a deleted object as missing and succeeds', async () => {
    const event = buildS3Notification({ bucket: SOURCE, key: 'never-uploaded.jpg', etag: 'abc', size: 10 });
    const { result, lines } = await capture(() => handlerFor(config())(event));
    expect(result.records[0]!.status).toBe('missing');
    expect(objectLines(lines)[0]).toMatchObject({ outcome: 'missing' });
  });

  it('processes an EventBridge Object Created event (keys not URL-encoded)', async () => {
    const body = readFixture('edge/formats/1x1.png');
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: 'eb/a b.png', Body: body }));
    const event = {
      version: '0',
      id: 'e',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: '000000000000',
      time: '2026-11-27T00:00:00Z',
      region: 'us-east-1',
      resources: [`arn:aws:s3:::${SOURCE}`],
      detail: {
        version: '0',
        bucket: { name: SOURCE },
        object: { key: 'eb/a b.png', size: body.length, etag: 'x' },
        reason: 'PutObject',
      },
    };
    const { result } = await capture(() => handlerFor(config())(event));
    expect(result.records[0]).toMatchObject({ key: 'eb/a b.png', status: 'processed' });
  });

  it('throws after the other records when S3 fails transiently, so Lambda retries', async () => {
    const good = await upload(SOURCE, 'batch/good.png', readFixture('edge/formats/1x1.png'));
    const failingBucket = 'unreachable-bucket';
    const event = {
      Records: [
        ...buildS3Notification({ bucket: failingBucket, key: 'batch/bad.jpg', etag: 'e' }).Records,
        ...good.Records,
      ],
    };
    const unreachable = new S3Storage(
      (await import('../../src/storage/s3.ts')).createS3Client({
        endpoint: 'http://127.0.0.1:9',
        forcePathStyle: true,
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      }),
      failingBucket,
    );
    const handler = handlerFor(config(), (bucket) =>
      bucket === failingBucket ? unreachable : new S3Storage(s3.client, bucket),
    );
    const { lines } = await capture(async () => {
      const error = await handler(event).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect((error as Error).message).toMatch(
        /^1 record\(s\) failed and will be retried; first: s3:\/\/unreachable-bucket\/batch\/bad\.jpg/,
      );
    });
    expect(objectLines(lines).map((l) => [l.key, l.outcome, l.retryable])).toEqual([
      ['batch/bad.jpg', 'failed', true],
      ['batch/good.png', 'processed', undefined],
    ]);
    await s3.client.send(new GetObjectCommand({ Bucket: OUTPUT, Key: 'manifests/batch/good.png.json' }));
  });
});
