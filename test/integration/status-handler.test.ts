import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventBridgePublisher } from '../../src/bus/eventbridge.ts';
import schema from '../../src/bus/image-event.schema.json' with { type: 'json' };
import type { ImageEventDetail } from '../../src/bus/types.ts';
import { type LocalDynamo, startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { buildS3Notification } from '../../src/cli/local-s3.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { InvalidImageError, StorageError } from '../../src/core/errors.ts';
import { BucketLayout } from '../../src/core/layout.ts';
import { parseS3Event } from '../../src/handlers/events.ts';
import { createLambdaDeps, functionVariables } from '../../src/handlers/lambda.ts';
import { createObjectHandling, type HandlerDeps } from '../../src/handlers/objects.ts';
import { createS3EventHandler, RecordsFailedError } from '../../src/handlers/s3-event.ts';
import { defaultWorkers } from '../../src/pipeline/cpus.ts';
import { encoderThreadsFor } from '../../src/pipeline/memory-budget.ts';
import { processObject } from '../../src/pipeline/process-object.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import type { StatusStore } from '../../src/status/types.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import type { Storage } from '../../src/storage/types.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';
import { throttledFinish } from '../support/status.ts';

/**
 * The S3 event handler with the status table and outcome events on: S3 and DynamoDB are real API
 * servers over HTTP (s3rver, dynalite); EventBridge and SSM have no local server, so their clients
 * are aws-sdk-client-mock mocks, and the events are checked against the published schema.
 */
const SOURCE = 'status-uploads';
const OUTPUT = 'status-variants';
const QUARANTINE = 'status-rejected';

let s3: Awaited<ReturnType<typeof startTestS3>>;
let dynamo: LocalDynamo;
let tables = 0;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE]);
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await s3?.stop();
  await dynamo?.close();
});

const validate = new Ajv2020({ strict: true, strictRequired: false, validateFormats: false }).compile(schema);

async function setup(
  options: {
    /** PutEvents refused (access denied): always, or while `failing` is true. */
    failEvents?: boolean | { failing: boolean };
    sourceStorage?: (bucket: string) => Storage;
    env?: Record<string, string>;
    withoutTable?: boolean;
    /** Wraps the table's store (to make its writes fail). */
    wrapStatus?: (store: StatusStore) => StatusStore;
    output?: Storage;
  } = {},
) {
  const table = `imgpipe-handler-${++tables}`;
  await dynamo.createStatusTable(table);
  const status = new DynamoStatusStore(dynamo.client, table);
  const store = options.wrapStatus ? options.wrapStatus(status) : status;
  const bus = new EventBridgeClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const details: ImageEventDetail[] = [];
  const mock = mockClient(bus);
  const refusing =
    typeof options.failEvents === 'object' ? options.failEvents : { failing: options.failEvents === true };
  mock.on(PutEventsCommand).callsFake((input: PutEventsCommand['input']) => {
    if (refusing.failing) throw new Error('AccessDeniedException: not allowed');
    for (const entry of input.Entries ?? []) {
      const detail = JSON.parse(entry.Detail!) as ImageEventDetail;
      expect(validate(detail), JSON.stringify(validate.errors)).toBe(true);
      expect(entry.DetailType).toBe(
        {
          processed: 'Image Processed',
          quarantined: 'Image Quarantined',
          failed: 'Image Failed',
          deleted: 'Image Deleted',
        }[detail.status],
      );
      details.push(detail);
    }
    return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map(() => ({ EventId: 'x' })) };
  });
  const config = loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
    IMGPIPE_QUARANTINE_PREFIX: '',
    IMGPIPE_STATUS_TABLE: table,
    IMGPIPE_EVENT_BUS: 'imgpipe-test',
    IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'small', width: 160 }], formats: { webp: {} } }),
    ...options.env,
  });
  const logger = new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' });
  const metrics = new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' });
  const deps: HandlerDeps = {
    config,
    sourceStorage: options.sourceStorage ?? ((bucket) => new S3Storage(s3.client, bucket)),
    output: options.output ?? new S3Storage(s3.client, OUTPUT),
    quarantine: new S3Storage(s3.client, QUARANTINE),
    logger,
    metrics,
    ...(options.withoutTable ? {} : { status: store }),
    events: new EventBridgePublisher(bus, 'imgpipe-test', { retryDelayMs: 1 }),
  };
  // Bulk reprocessing (handlers/reprocess.ts) hands each object to the same handling, without a sequencer.
  return {
    handler: createS3EventHandler(deps),
    objects: createObjectHandling(deps),
    deps,
    status,
    details,
    metrics,
  };
}

/**
 * An attempt at `event` that stops (a timeout, a crash) once its outputs and manifest are written,
 * before its status item and its event: the work of the handler up to there, as it does it.
 */
async function stopAfterManifest(deps: HandlerDeps, event: unknown): Promise<void> {
  const parsed = parseS3Event(event);
  const ref = parsed.kind === 'records' ? parsed.changes[0]!.object : undefined;
  expect(ref).toBeDefined();
  await deps.status?.begin(ref!);
  const { config } = deps;
  const outcome = await processObject(ref!, {
    config: config.pipeline,
    layout: new BucketLayout(config.pipeline, config.quarantinePrefix),
    source: deps.sourceStorage,
    output: deps.output,
    quarantine: deps.quarantine,
  });
  expect(outcome.status).toBe('processed');
}

async function upload(key: string, body: Uint8Array, sequencer: string) {
  const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
  return buildS3Notification({ bucket: SOURCE, key, size: body.length, etag: put.ETag, sequencer });
}

/** Source storage whose first read returns only once `release()` is called; `read()` says it has read. */
function heldFirstRead(): {
  sourceStorage: (bucket: string) => Storage;
  read: () => boolean;
  release: () => void;
} {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let gets = 0;
  let read = false;
  const sourceStorage = (bucket: string): Storage => {
    const real = new S3Storage(s3.client, bucket);
    return new Proxy(real, {
      get(target, property, receiver) {
        if (property === 'get' && gets++ === 0)
          return async (...args: Parameters<Storage['get']>) => {
            const object = await real.get(...args);
            read = true;
            await held;
            return object;
          };
        return Reflect.get(target, property, receiver);
      },
    });
  };
  return { sourceStorage, read: () => read, release: () => release() };
}

/** The ETag of the source content the key's manifest names. */
async function manifestEtag(key: string): Promise<string> {
  const manifest = JSON.parse(
    new TextDecoder().decode((await new S3Storage(s3.client, OUTPUT).get(`manifests/${key}.json`)).body),
  ) as { source: { etag: string } };
  return manifest.source.etag;
}

/**
 * Uploads two contents to `key`: the older one's event reads it and is held (heldFirstRead) until
 * the newer one's event has been processed and recorded, then finishes. The older event must come
 * out stale, the manifest naming the newer content; its records and the newer ETag are returned.
 */
async function olderFinishingAfterNewer(
  { handler }: Awaited<ReturnType<typeof setup>>,
  { read, release }: Pick<ReturnType<typeof heldFirstRead>, 'read' | 'release'>,
  key: string,
  [olderSequencer, newerSequencer]: [string, string],
) {
  const older = await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), olderSequencer);
  const first = handler(older);
  while (!read()) await new Promise((resolve) => setTimeout(resolve, 5));
  const newer = await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), newerSequencer);
  expect((await handler(newer)).records[0]?.status).toBe('processed');
  const newerEtag = (await new S3Storage(s3.client, SOURCE).head(key))?.etag;
  release();
  const { records } = await first;
  expect(records[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^stale event/) });
  expect(await manifestEtag(key)).toBe(newerEtag);
  return { records, newerEtag };
}

/** Source storage whose reads S3 throttles (SlowDown) while `failing` is true. */
function throttledGets(): { failing: boolean; sourceStorage: (bucket: string) => Storage } {
  const gets = {
    failing: true,
    sourceStorage: (bucket: string): Storage =>
      new Proxy(new S3Storage(s3.client, bucket), {
        get(target, property, receiver) {
          if (property === 'get' && gets.failing)
            return () => Promise.reject(Object.assign(new Error('SlowDown'), { name: 'SlowDown' }));
          return Reflect.get(target, property, receiver);
        },
      }),
  };
  return gets;
}

/** A backfill of `key` a minute later (only Date is faked), so that a write by it shows in updatedAt. */
async function backfillAMinuteLater(
  objects: Awaited<ReturnType<typeof setup>>['objects'],
  key: string,
): Promise<{ status: string }> {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 60_000);
  try {
    return (await objects.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess' })).result;
  } finally {
    vi.useRealTimers();
  }
}

describe('the S3 handler with the status table and events', () => {
  it('records a processed image with its facts and announces it with every output', async () => {
    const { handler, status, details } = await setup();
    const event = await upload('a/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0100');
    await handler(event);
    const item = await status.get(SOURCE, 'a/photo.jpg');
    expect(item).toMatchObject({
      status: 'processed',
      format: 'jpeg',
      width: 1600,
      height: 1082,
      outputs: 1,
      manifestKey: 'manifests/a/photo.jpg.json',
      attempts: 1,
    });
    expect(item?.timings?.decode).toBeGreaterThan(0);
    expect(details).toEqual([
      expect.objectContaining({
        status: 'processed',
        bucket: SOURCE,
        key: 'a/photo.jpg',
        outputBucket: OUTPUT,
        sequencer: '0100',
        outputs: [expect.objectContaining({ key: 'small/a/photo.jpg.webp', width: 160, format: 'webp' })],
      }),
    ]);
    // A duplicate delivery leaves the item as it was and announces nothing new.
    await handler(event);
    expect((await status.get(SOURCE, 'a/photo.jpg'))?.attempts).toBe(1);
    expect(details).toHaveLength(1);
  });

  it('records and announces a quarantined upload, and lists it', async () => {
    const { handler, status, details } = await setup();
    await handler(await upload('b/notes.jpg', new TextEncoder().encode('plain text'), '0200'));
    expect(await status.get(SOURCE, 'b/notes.jpg')).toMatchObject({
      status: 'quarantined',
      reason: 'unsupported-format',
    });
    expect((await status.list({ status: 'quarantined' })).items.map((i) => i.key)).toEqual(['b/notes.jpg']);
    expect(details[0]).toMatchObject({
      status: 'quarantined',
      reason: 'unsupported-format',
      quarantineKey: 'objects/b/notes.jpg',
    });
  });

  it.each([
    ['an image processed', 'photos/colour-fig-red-bowl.jpg', 'processed', 'duplicate'],
    ['a quarantine', 'edge/broken/text-named.jpg', 'quarantined', 'duplicate'],
  ])(
    'leaves the item of %s as it is when S3 delivers its event again',
    async (_, fixture, recorded, again) => {
      // The redelivery's write of the outcome it found done replaced the item's: a duplicate has no
      // timings, so `imgpipe status` lost the image's, and updatedAt moved to the redelivery, which
      // listed an old quarantine again under --quarantined --since.
      const { handler, status, details } = await setup();
      const key = `b2/${recorded}.jpg`;
      const event = await upload(key, readFixture(fixture), '0220');
      await handler(event);
      const item = await status.get(SOURCE, key);
      expect(item?.status).toBe(recorded);
      if (recorded === 'processed') expect(item?.timings?.total).toBeGreaterThan(0);
      // A minute later (only Date is faked), so a write at the redelivery would show in updatedAt.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 60_000);
      try {
        expect((await handler(event)).records[0]?.status).toBe(again);
      } finally {
        vi.useRealTimers();
      }
      expect(await status.get(SOURCE, key)).toEqual(item);
      // What is announced again is as before: a quarantine's alert with each delivery, an image once.
      expect(details.map((d) => d.status)).toEqual(
        recorded === 'processed' ? ['processed'] : ['quarantined', 'quarantined'],
      );
    },
  );

  it('records the size of an upload quarantined as too large, which is never read', async () => {
    const { handler, status, details } = await setup({ env: { IMGPIPE_MAX_BYTES: '100000' } });
    const body = readFixture('photos/landscape-picos-de-europa.jpg');
    const event = await upload('b/huge.jpg', body, '0210');
    expect((await handler(event)).records[0]).toMatchObject({ status: 'quarantined', reason: 'too-large' });
    expect(await status.get(SOURCE, 'b/huge.jpg')).toMatchObject({
      status: 'quarantined',
      reason: 'too-large',
      etag: event.Records[0]!.s3.object.eTag,
      size: body.length,
    });
    expect(details.map((d) => d.status)).toEqual(['quarantined']);
  });

  it('ignores an event older than the one recorded, without reading the object', async () => {
    let reads = 0;
    const sourceStorage = (bucket: string): Storage => {
      const real = new S3Storage(s3.client, bucket);
      return new Proxy(real, {
        get(target, property, receiver) {
          if (property === 'get') reads++;
          return Reflect.get(target, property, receiver);
        },
      });
    };
    const { handler, status } = await setup({ sourceStorage });
    const body = readFixture('photos/colour-fig-red-bowl.jpg');
    const newer = await upload('c/photo.jpg', body, '0300');
    await handler(newer);
    const older = buildS3Notification({ bucket: SOURCE, key: 'c/photo.jpg', etag: 'old', sequencer: '02FF' });
    const readsBefore = reads;
    const { records } = await handler(older);
    expect(records[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/stale event/) });
    expect(reads).toBe(readsBefore);
    expect((await status.get(SOURCE, 'c/photo.jpg'))?.status).toBe('processed');
  });

  it('skips an EventBridge event whose sequencer is not hexadecimal, naming it, before any I/O', async () => {
    const { handler, status } = await setup();
    const key = 'c2/photo.jpg';
    await s3.client.send(
      new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: readFixture('photos/colour-fig-red-bowl.jpg') }),
    );
    const event = {
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { bucket: { name: SOURCE }, object: { key, sequencer: 'zz-not-hex' } },
    };
    const { records } = await handler(event);
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: 'the sequencer "zz-not-hex" is not 1 to 64 hexadecimal digits',
    });
    expect(await status.get(SOURCE, key)).toBeUndefined();
  });

  it('records a failure and announces it, then the retry succeeds and replaces it', async () => {
    const gets = throttledGets();
    const { sourceStorage } = gets;
    const { handler, status, details } = await setup({ sourceStorage });
    const event = await upload('d/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0400');
    await expect(handler(event)).rejects.toThrow(/record\(s\) failed/);
    expect(await status.get(SOURCE, 'd/photo.jpg')).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(/SlowDown/),
    });
    expect((await status.list({ status: 'failed' })).items.map((i) => i.key)).toEqual(['d/photo.jpg']);
    expect(details.map((d) => d.status)).toEqual(['failed']);
    gets.failing = false;
    await handler(event);
    expect(await status.get(SOURCE, 'd/photo.jpg')).toMatchObject({ status: 'processed', attempts: 2 });
    expect((await status.list({ status: 'failed' })).items).toEqual([]);
  });

  it('announces a failure with the event’s versionId, as its other outcomes are announced', async () => {
    // A versioned bucket's upload whose read S3 throttles past the SDK's retries: Image Failed
    // named the key, ETag and sequencer but not the version, which every other detail carries.
    const { sourceStorage } = throttledGets();
    const { handler, status, details } = await setup({ sourceStorage });
    const key = 'd2/photo.jpg';
    const body = readFixture('photos/colour-fig-red-bowl.jpg');
    const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    const versionId = '3HL4kqtJlcpXroDTDmjVBH40Nrjfkd';
    const event = buildS3Notification({
      bucket: SOURCE,
      key,
      size: body.length,
      etag: put.ETag,
      versionId,
      sequencer: '0410',
    });
    await expect(handler(event)).rejects.toThrow(/record\(s\) failed/);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'failed', versionId });
    expect(details).toEqual([
      expect.objectContaining({
        status: 'failed',
        key,
        versionId,
        sequencer: '0410',
        message: 'SlowDown: SlowDown',
      }),
    ]);
  });

  it('records a backfill of the current content over an unfinished item of older content whose replacement sent no event', async () => {
    const gets = throttledGets();
    const { sourceStorage } = gets;
    // The upload's attempt fails, and so does the write of its failure (the table throttled): the
    // item stays `processing`, naming that upload's ETag, as after an invocation that timed out.
    const wrapStatus = (store: StatusStore) => throttledFinish(store, 'failed', 1);
    const { handler, objects, status } = await setup({ sourceStorage, wrapStatus });
    const key = 'd2/photo.jpg';
    await expect(
      handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0450')),
    ).rejects.toThrow(/record\(s\) failed/);
    const old = await status.get(SOURCE, key);
    expect(old).toMatchObject({ status: 'processing', etag: expect.any(String) });
    gets.failing = false;
    // Replaced, and the replacement's event is lost: a backfill (imgpipe reprocess) processes it.
    const body = readFixture('photos/portrait-friends-dogs.jpg');
    const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    const etag = put.ETag!.replaceAll('"', '');
    expect(etag).not.toBe(old!.etag);
    const { result } = await objects.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess' });
    expect(result.status).toBe('processed');
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag, size: body.length });
    // The old upload's event, delivered again, cannot take the item back.
    await handler(buildS3Notification({ bucket: SOURCE, key, etag: old!.etag, sequencer: '0450' }));
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag });
  });

  it('leaves the item of an image as it is when a backfill finds its outputs current', async () => {
    // The backfill's begin() started the item over and its duplicate's final status, which has no
    // timings, replaced it: `imgpipe reprocess` removed every current image's timings from
    // `imgpipe status`, and moved its updatedAt.
    const { handler, objects, status, details } = await setup();
    const key = 'd3/photo.jpg';
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0460'));
    const item = await status.get(SOURCE, key);
    expect(item?.status).toBe('processed');
    expect(item?.timings?.total).toBeGreaterThan(0);
    const result = await backfillAMinuteLater(objects, key);
    expect(result.status).toBe('duplicate');
    expect(await status.get(SOURCE, key)).toEqual(item);
    expect(details.map((d) => d.status)).toEqual(['processed']);
  });

  it('announces no known quarantine again when a backfill finds it quarantined for the same reason, and announces a quarantine a changed configuration makes', async () => {
    // Each bulk reprocessing announced Image Quarantined again for every object already quarantined
    // for its content and reason: the image alerts mailed every known malware finding of a prefix
    // again with each `imgpipe reprocess`.
    const { handler, objects, deps, status, details } = await setup();
    const known = 'd5/notes.jpg';
    await handler(await upload(known, readFixture('edge/broken/text-named.jpg'), '0480'));
    const item = await status.get(SOURCE, known);
    expect(item?.status).toBe('quarantined');
    const backfill = await objects.handle({ bucket: SOURCE, key: known }, { trigger: 'Reprocess' });
    // Its result is as before: a duplicate with the quarantine's reason.
    expect(backfill.result).toEqual({
      bucket: SOURCE,
      key: known,
      status: 'duplicate',
      reason: item?.reason,
    });
    expect(backfill.announced).toBeUndefined();
    expect(details.map((d) => [d.status, d.key])).toEqual([['quarantined', known]]);
    expect(await status.get(SOURCE, known)).toEqual(item);
    // Content processed before and refused by the configuration now is a new quarantine: announced.
    const taken = 'd5/photo.jpg';
    await handler(await upload(taken, readFixture('photos/colour-fig-red-bowl.jpg'), '0481'));
    expect((await status.get(SOURCE, taken))?.status).toBe('processed');
    const config = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
      IMGPIPE_QUARANTINE_PREFIX: '',
      IMGPIPE_STATUS_TABLE: deps.config.statusTable!,
      IMGPIPE_MAX_BYTES: '100000',
      // Other variants too, so that the outputs are no longer current and the content is judged again.
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'small', width: 200 }], formats: { webp: {} } }),
    });
    const stricter = createObjectHandling({ ...deps, config });
    const refused = await stricter.handle({ bucket: SOURCE, key: taken }, { trigger: 'Reprocess' });
    expect(refused.result).toMatchObject({ status: 'quarantined', reason: 'too-large' });
    expect(details.map((d) => [d.status, d.key])).toEqual([
      ['quarantined', known],
      ['processed', taken],
      ['quarantined', taken],
    ]);
    // Reprocessed again under that configuration, it is a known quarantine: not announced again.
    expect(
      (await stricter.handle({ bucket: SOURCE, key: taken }, { trigger: 'Reprocess' })).result,
    ).toMatchObject({
      status: 'duplicate',
      reason: 'too-large',
    });
    expect(details).toHaveLength(3);
  });

  it('leaves the item of a quarantine as it is when a backfill finds its content quarantined again, and records what a changed configuration makes of it', async () => {
    // The backfill's begin() started the item over and its repeated quarantine was written again,
    // moving updatedAt: `imgpipe reprocess` listed every old quarantine again under
    // `imgpipe status --quarantined --since`.
    const { handler, objects, deps, status } = await setup({ env: { IMGPIPE_MAX_BYTES: '100000' } });
    const key = 'd4/huge.jpg';
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0470'));
    const item = await status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'quarantined', reason: 'too-large' });
    const result = await backfillAMinuteLater(objects, key);
    expect(result.status).toBe('duplicate');
    expect(await status.get(SOURCE, key)).toEqual(item);
    const since = new Date(Date.parse(item!.updatedAt) + 1);
    expect((await status.list({ status: 'quarantined', since })).items).toEqual([]);
    // Under a configuration that takes it, the same backfill processes it and records that.
    const config = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
      IMGPIPE_QUARANTINE_PREFIX: '',
      IMGPIPE_STATUS_TABLE: deps.config.statusTable!,
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'small', width: 160 }], formats: { webp: {} } }),
    });
    const larger = createObjectHandling({ ...deps, config });
    expect((await larger.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess' })).result.status).toBe(
      'processed',
    );
    expect(await status.get(SOURCE, key)).toMatchObject({
      status: 'processed',
      etag: item?.etag,
      timings: expect.objectContaining({ total: expect.any(Number) }),
    });
  });

  it.each([
    ['processed, when the manifest cannot be read', 'photos/colour-fig-red-bowl.jpg', 'processed'],
    ['quarantined, when the source cannot be read', 'edge/broken/text-named.jpg', 'quarantined'],
  ])(
    'announces no failure of a backfill that leaves the item of an image %s',
    async (_, fixture, recorded) => {
      // The item, which the failure leaves as it is, says the image is processed (or quarantined),
      // its outputs (or quarantine) in place; Image Failed said otherwise, to the image alerts
      // too. The failure is the reprocessing's: its result, log line and ObjectsFailed.
      const gets = throttledGets();
      gets.failing = false;
      // The manifest's reads answer SlowDown while `failing`, after the first (the backfill's look).
      const manifests = { failing: false, reads: 0 };
      const output = new Proxy(new S3Storage(s3.client, OUTPUT), {
        get(target, property, receiver) {
          if (property === 'get' && manifests.failing)
            return (key: string, ...rest: unknown[]) =>
              key.startsWith('manifests/') && manifests.reads++ > 0
                ? Promise.reject(Object.assign(new Error('SlowDown'), { name: 'SlowDown' }))
                : (target.get as (...args: unknown[]) => unknown)(key, ...rest);
          return Reflect.get(target, property, receiver);
        },
      });
      const { handler, objects, status, details } = await setup({
        sourceStorage: gets.sourceStorage,
        output,
      });
      const key = `d5/${recorded}.jpg`;
      await handler(await upload(key, readFixture(fixture), '0480'));
      const item = await status.get(SOURCE, key);
      expect(item?.status).toBe(recorded);
      if (recorded === 'processed') manifests.failing = true;
      else gets.failing = true;
      const handled = await objects.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess' });
      expect(handled.result).toMatchObject({ status: 'failed', reason: expect.stringMatching(/SlowDown/) });
      expect(handled.event).toBeUndefined();
      expect(handled.announced).toBeUndefined();
      expect(details.map((d) => d.status)).toEqual([recorded]);
      expect(await status.get(SOURCE, key)).toEqual(item);
    },
  );

  it.each([
    ['with', false],
    ['without', true],
  ])(
    'announces an image whose earlier attempt stopped between its manifest and its event, %s a status table',
    async (_, withoutTable) => {
      const { handler, deps, status, details } = await setup({ withoutTable });
      const key = `e1${withoutTable ? 'b' : 'a'}/photo.jpg`;
      const event = await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0540');
      await stopAfterManifest(deps, event);
      expect(details).toEqual([]);
      // Lambda retries the event: the manifest is current (a duplicate), and the image is announced.
      const { records } = await handler(event);
      expect(records[0]?.status).toBe('duplicate');
      expect(details).toEqual([
        expect.objectContaining({
          status: 'processed',
          key,
          sequencer: '0540',
          manifestKey: `manifests/${key}.json`,
          outputs: [expect.objectContaining({ key: `small/${key}.webp` })],
        }),
      ]);
      if (!withoutTable) {
        expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', attempts: 2 });
        // Delivered once more, its final status recorded: announced no second time.
        await handler(event);
        expect(details).toHaveLength(1);
      }
    },
  );

  it('announces each record as its status is recorded, so an invocation stopped by a later record of its batch loses no event', async () => {
    // The second record's read never returns, as in an invocation that times out on it.
    const stuckKey = 'e4/stuck.jpg';
    const sourceStorage = (bucket: string): Storage =>
      new Proxy(new S3Storage(s3.client, bucket), {
        get(target, property, receiver) {
          if (property === 'get')
            return (key: string, ...rest: unknown[]) =>
              key === stuckKey ? new Promise(() => {}) : Reflect.apply(target.get, target, [key, ...rest]);
          return Reflect.get(target, property, receiver);
        },
      });
    const { handler, status, details } = await setup({ sourceStorage });
    const first = await upload('e4/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0570');
    const second = await upload(stuckKey, readFixture('photos/colour-fig-red-bowl.jpg'), '0571');
    const event = { Records: [...first.Records, ...second.Records] };
    void handler(event);
    // Lambda ends the invocation here: the first record's status is final.
    await vi.waitFor(async () => expect((await status.get(SOURCE, stuckKey))?.status).toBe('processing'), {
      timeout: 30_000,
    });
    expect(await status.get(SOURCE, 'e4/photo.jpg')).toMatchObject({ status: 'processed' });
    expect(details.map((d) => [d.status, d.key])).toEqual([['processed', 'e4/photo.jpg']]);
    // The retry finds it finished (announced): it announces it no second time.
    const { records } = await handler(first);
    expect(records[0]?.status).toBe('duplicate');
    expect(details).toHaveLength(1);
  });

  it('announces an image processed when its status item could not be written, and again with the retry that records it', async () => {
    const wrapStatus = (store: StatusStore) => throttledFinish(store, 'processed', 1);
    const { handler, status, details } = await setup({ wrapStatus });
    const event = await upload('e2/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0550');
    // The outputs are written; only the item failed: the record fails (Lambda retries it) and the
    // image is announced as processed, not failed.
    await expect(handler(event)).rejects.toThrow(/record\(s\) failed.*ProvisionedThroughputExceeded/);
    expect(details.map((d) => d.status)).toEqual(['processed']);
    expect(await status.get(SOURCE, 'e2/photo.jpg')).toMatchObject({ status: 'failed' });
    // The retry finds the outputs current: a duplicate, recorded as processed, and announced again
    // (the item, not final, cannot tell whether an attempt got as far as its event).
    const retried = await handler(event);
    expect(retried.records[0]?.status).toBe('duplicate');
    expect(await status.get(SOURCE, 'e2/photo.jpg')).toMatchObject({ status: 'processed', attempts: 2 });
    expect(details.map((d) => d.status)).toEqual(['processed', 'processed']);
    // Its final status recorded, a further delivery announces nothing.
    await handler(event);
    expect(details.map((d) => d.status)).toEqual(['processed', 'processed']);
  });

  it('announces a quarantine with each attempt while its status item keeps failing', async () => {
    const wrapStatus = (store: StatusStore) => throttledFinish(store, 'quarantined', 2);
    const { handler, status, details } = await setup({ wrapStatus });
    const event = await upload('e3/notes.jpg', readFixture('edge/broken/text-named.jpg'), '0560');
    // Each attempt announces it: none can tell whether an earlier one got as far as its event (it
    // may have timed out first), and a malware alert must not be lost; duplicates are allowed.
    await expect(handler(event)).rejects.toThrow(/ProvisionedThroughputExceeded/);
    await expect(handler(event)).rejects.toThrow(/ProvisionedThroughputExceeded/);
    expect((await handler(event)).records[0]?.status).toBe('duplicate');
    expect(details.map((d) => d.status)).toEqual(['quarantined', 'quarantined', 'quarantined']);
    expect(await status.get(SOURCE, 'e3/notes.jpg')).toMatchObject({ status: 'quarantined', attempts: 3 });
  });

  it('ends two concurrent invocations for one object with one processed item', async () => {
    const { handler, status } = await setup();
    const event = await upload('e/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0500');
    const results = await Promise.all([handler(event), handler(event)]);
    // Each delivery ends processed, or duplicate if the other one's manifest was there first.
    for (const result of results) expect(['processed', 'duplicate']).toContain(result.records[0]?.status);
    const item = await status.get(SOURCE, 'e/photo.jpg');
    expect(item).toMatchObject({ status: 'processed', outputs: 1 });
  });

  it('leaves processed, announced once, when a concurrent delivery of the same event runs out of time after the other recorded it', async () => {
    const { handler, deps, status, details } = await setup();
    const event = await upload('e/slow.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0510');
    // Two deliveries of one event. The first, mid-image, sees the second process the image and
    // record it, then runs out of time itself: its encoder stands for an image past its deadline.
    let other: Awaited<ReturnType<typeof handler>> | undefined;
    const outOfTime = createS3EventHandler({
      ...deps,
      encoder: {
        parallel: false,
        async encode() {
          other ??= await handler(event);
          throw new InvalidImageError(
            'too-slow',
            'Processing took longer than the 60 s allowed for one image',
            {
              boundBy: 'image',
            },
          );
        },
      },
    });
    const slow = await outOfTime(event);
    expect(other?.records[0]?.status).toBe('processed');
    expect(slow.records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringMatching(/^stale outcome: .*too-slow/),
    });
    expect(await status.get(SOURCE, 'e/slow.jpg')).toMatchObject({ status: 'processed', outputs: 1 });
    expect(details.map((detail) => detail.status)).toEqual(['processed']);
    expect(await new S3Storage(s3.client, OUTPUT).head('small/e/slow.jpg.webp')).toBeDefined();
  });

  it('counts as quarantined, not duplicate, a too-slow of content processed since its earlier too-slow', async () => {
    const { handler, deps, status, details } = await setup();
    const tooSlow = {
      parallel: false,
      async encode(): Promise<never> {
        throw new InvalidImageError(
          'too-slow',
          'Processing took longer than the 60 s allowed for one image',
          {
            boundBy: 'image',
          },
        );
      },
    };
    const key = 'e/again-slow.jpg';
    const body = readFixture('photos/colour-fig-red-bowl.jpg');
    // A delivery runs out of time (quarantined too-slow); S3 delivers the event again, and that
    // delivery has the time: processed, the decision replacing the run-time failure.
    const event = await upload(key, body, '0520');
    const first = await createS3EventHandler({ ...deps, encoder: tooSlow })(event);
    expect(first.records[0]).toMatchObject({ status: 'quarantined', reason: 'too-slow' });
    expect((await handler(event)).records[0]?.status).toBe('processed');
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed' });
    // The same content uploaded again under a configuration that asks for more, and that upload
    // runs out of time: the item goes from processed to quarantined, and Image Quarantined goes out
    // for it. A quarantine of its own, not a redelivery of the first: counted and reported as
    // quarantined (ObjectsQuarantined, a reprocessing's summary), with a record of this time.
    const wider = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
      IMGPIPE_CONFIG: JSON.stringify({ variants: [{ name: 'small', width: 320 }], formats: { webp: {} } }),
    }).pipeline;
    const again = await upload(key, body, '0530');
    const slowAgain = createS3EventHandler({
      ...deps,
      config: { ...deps.config, pipeline: wider },
      encoder: tooSlow,
    });
    const before = JSON.parse(
      new TextDecoder().decode((await deps.quarantine.get(`reasons/${key}.json`)).body),
    ) as { quarantinedAt: string };
    const { records } = await slowAgain(again);
    expect(records[0]).toMatchObject({ status: 'quarantined', reason: 'too-slow' });
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'quarantined', reason: 'too-slow' });
    expect(details.map((d) => d.status)).toEqual(['quarantined', 'processed', 'quarantined']);
    const record = JSON.parse(
      new TextDecoder().decode((await deps.quarantine.get(`reasons/${key}.json`)).body),
    ) as { quarantinedAt: string };
    expect(Date.parse(record.quarantinedAt)).toBeGreaterThan(Date.parse(before.quarantinedAt));
    // A redelivery of that upload's event is a duplicate of it.
    expect((await slowAgain(again)).records[0]).toMatchObject({ status: 'duplicate', reason: 'too-slow' });
  });

  it('brings the outputs in line when the retry of an attempt stopped after writing them over a newer version’s is stale', async () => {
    // The older event's first attempt reads its version, is held until the newer upload has been
    // processed and recorded, writes its outputs and manifest over the newer one's, and stops (a
    // timeout, a crash) before its status item.
    const { sourceStorage, read, release } = heldFirstRead();
    const { handler, deps, status, details } = await setup({ sourceStorage });
    const key = 'k4/photo.jpg';
    const older = await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0D00');
    const stopped = stopAfterManifest(deps, older);
    while (!read()) await new Promise((resolve) => setTimeout(resolve, 5));
    const newer = await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0D01');
    expect((await handler(newer)).records[0]?.status).toBe('processed');
    const newerEtag = (await new S3Storage(s3.client, SOURCE).head(key))?.etag;
    release();
    await stopped;
    expect(await manifestEtag(key)).not.toBe(newerEtag);
    // Lambda's retry of the older event: stale, and the key's outputs are its content's again.
    const { records } = await handler(older);
    expect(records[0]).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^stale event/) });
    expect(await manifestEtag(key)).toBe(newerEtag);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag: newerEtag });
    expect(details.map((d) => [d.status, d.sequencer])).toEqual([['processed', '0D01']]);
  });

  it('leaves the newer version’s outputs when an older event finishes after it and the table throttles its status write', async () => {
    // The older event's read is held until the newer upload has been processed and recorded; then
    // the write of its final status is throttled past the SDK's retries.
    const { sourceStorage, read, release } = heldFirstRead();
    const wrapStatus = (store: StatusStore): StatusStore => {
      const throttled = throttledFinish(store, 'processed', 1);
      return {
        ...store,
        begin: store.begin.bind(store),
        get: store.get.bind(store),
        list: store.list.bind(store),
        eventSent: store.eventSent.bind(store),
        finish: (ref, ...rest) => (ref.sequencer === '0C00' ? throttled : store).finish(ref, ...rest),
      };
    };
    const handling = await setup({ sourceStorage, wrapStatus });
    const { status, details } = handling;
    const key = 'k3/photo.jpg';
    // Not failed for a retry the table would ignore as stale, and not announced.
    const { newerEtag } = await olderFinishingAfterNewer(handling, { read, release }, key, ['0C00', '0C01']);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag: newerEtag });
    expect(details.map((d) => [d.status, d.sequencer])).toEqual([['processed', '0C01']]);
  });

  it('announces a processed image whose status write went through but whose answer was lost', async () => {
    // The table applies the write and the SDK's last attempt still fails (a timeout: its answer
    // lost). The failure's own write is then refused, as the item holds this very outcome: that is
    // not a later event. It was taken for one, ignored as stale, and Image Processed never went
    // out; the retry finds the item final and announces nothing either.
    let lost = 1;
    const wrapStatus = (store: StatusStore): StatusStore => ({
      begin: (...args) => store.begin(...args),
      get: (...args) => store.get(...args),
      list: (...args) => store.list(...args),
      eventSent: (...args) => store.eventSent(...args),
      finish: async (...args) => {
        const written = await store.finish(...args);
        if (args[1].status === 'processed' && lost-- > 0)
          throw Object.assign(new Error('Socket timed out without establishing a connection'), {
            name: 'TimeoutError',
          });
        return written;
      },
    });
    const { handler, status, details } = await setup({ wrapStatus });
    const key = 'k4/photo.jpg';
    const { records } = await handler(
      await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0C10'),
    );
    expect(lost).toBe(0);
    expect(records).toEqual([{ bucket: SOURCE, key, status: 'processed' }]);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', attempts: 1 });
    expect(details.map((d) => [d.status, d.key, d.sequencer])).toEqual([['processed', key, '0C10']]);
  });

  it.each([
    ['with', false],
    ['without', true],
  ])(
    'leaves the newer version’s outputs when an older event finishes after it, %s a status table',
    async (_, withoutTable) => {
      // The older event's read is held until the newer upload has been processed and recorded.
      const { sourceStorage, read, release } = heldFirstRead();
      const handling = await setup({ sourceStorage, withoutTable });
      const { status, details } = handling;
      const key = `k${withoutTable ? 2 : 1}/photo.jpg`;
      const { newerEtag } = await olderFinishingAfterNewer(handling, { read, release }, key, [
        '0B00',
        '0B01',
      ]);
      if (!withoutTable)
        expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag: newerEtag });
      expect(details.map((d) => [d.status, d.sequencer])).toEqual([['processed', '0B01']]);
    },
  );

  it.each([
    ['another delivery of the same event', false],
    ['a later event of the key', true],
  ])(
    'announces no failure, and does not fail the record, when %s is recorded before this delivery fails',
    async (_, later) => {
      // The first read is held until the other delivery has been processed and recorded, then
      // fails as a throttled S3 does once the SDK's retries are spent.
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let gets = 0;
      let reading = false;
      const sourceStorage = (bucket: string): Storage =>
        new Proxy(new S3Storage(s3.client, bucket), {
          get(target, property, receiver) {
            if (property === 'get' && gets++ === 0)
              return async () => {
                reading = true;
                await held;
                throw Object.assign(new Error('SlowDown'), { name: 'SlowDown' });
              };
            return Reflect.get(target, property, receiver);
          },
        });
      const { handler, status, details } = await setup({ sourceStorage });
      const key = `stale-failure-${later ? 'later' : 'same'}/photo.jpg`;
      const first = await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0C00');
      const failing = handler(first);
      while (!reading) await new Promise((resolve) => setTimeout(resolve, 5));
      const other = later
        ? await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0C01')
        : first;
      expect((await handler(other)).records[0]?.status).toBe('processed');
      release();
      const { records } = await failing;
      expect(records[0]).toMatchObject({
        status: 'ignored',
        reason: expect.stringMatching(/^stale event: .*SlowDown/),
      });
      const etag = (await new S3Storage(s3.client, SOURCE).head(key))?.etag;
      expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag });
      expect(await manifestEtag(key)).toBe(etag);
      expect(details.map((d) => [d.status, d.sequencer])).toEqual([['processed', later ? '0C01' : '0C00']]);
    },
  );

  it('fails the record of a quarantine whose Image Quarantined could not be sent, so that the retry announces it', async () => {
    const events = { failing: true };
    const { handler, status, details } = await setup({ failEvents: events });
    const event = await upload('f/notes.jpg', new TextEncoder().encode('plain text'), '0610');
    // The quarantine stands (copy, record, item); only its alert is missing: Lambda's retry,
    // which finds it quarantined for the same reason, announces it (a repeated quarantine is).
    await expect(handler(event)).rejects.toThrow(
      /s3:\/\/status-uploads\/f\/notes\.jpg is quarantined \(unsupported-format\), but its Image Quarantined event could not be sent/,
    );
    expect(await status.get(SOURCE, 'f/notes.jpg')).toMatchObject({ status: 'quarantined' });
    expect(details).toEqual([]);
    events.failing = false;
    const { records } = await handler(event);
    expect(records[0]).toMatchObject({ status: 'duplicate', reason: 'unsupported-format' });
    expect(details.map((d) => [d.status, d.key, d.reason])).toEqual([
      ['quarantined', 'f/notes.jpg', 'unsupported-format'],
    ]);
  });

  it('counts events it could not send, keeps the image processed, and fails the record for the retry to send it', async () => {
    // EventBridge is mocked (aws-sdk-client-mock: no local server): it refuses PutEvents, then takes it.
    const refusing = { failing: true };
    const { handler, status, metrics, details } = await setup({ failEvents: refusing });
    const added: string[] = [];
    const addMetric = metrics.addMetric.bind(metrics);
    vi.spyOn(metrics, 'addMetric').mockImplementation((name, unit, value) => {
      added.push(`${name}=${value}`);
      return addMetric(name, unit, value);
    });
    const event = await upload('f/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0600');
    // The record succeeded, and its Image Processed was lost for good: the retry found the outcome
    // recorded and announced nothing. It fails now, naming the event, and the status stays processed.
    await expect(handler(event)).rejects.toThrow(
      /f\/photo\.jpg is processed, but its Image Processed event could not be sent/,
    );
    expect(added).toContain('EventsFailed=1');
    const item = await status.get(SOURCE, 'f/photo.jpg');
    expect(item).toMatchObject({ status: 'processed', pendingEvent: { time: expect.any(String) } });
    vi.restoreAllMocks();
    // Lambda's retry: a duplicate, which sends the recorded event as it was, once, and clears the mark.
    refusing.failing = false;
    expect((await handler(event)).records[0]?.status).toBe('duplicate');
    expect(details).toHaveLength(1);
    expect(details[0]).toMatchObject({
      status: 'processed',
      key: 'f/photo.jpg',
      sequencer: '0600',
      time: item?.pendingEvent?.time,
    });
    const after = await status.get(SOURCE, 'f/photo.jpg');
    expect(after?.pendingEvent).toBeUndefined();
    expect(after?.updatedAt).toBe(item?.updatedAt);
    // Another redelivery announces nothing: the event is out.
    expect((await handler(event)).records[0]?.status).toBe('duplicate');
    expect(details).toHaveLength(1);
  });
});

describe('the S3 handler and the buckets it takes', () => {
  it.each([
    ['an upload', 'ObjectCreated:Put'],
    ['a removal', 'ObjectRemoved:Delete'],
  ])(
    'fails %s of a bucket that is not among IMGPIPE_SOURCE_BUCKETS, naming it, with nothing read, recorded or announced',
    async (_, eventName) => {
      // Another bucket's notifications sent to the function: its read ended in AccessDenied, recorded
      // failed and announced as an Image Failed of an object that is not the deployment's.
      const reads: string[] = [];
      const sourceStorage = (bucket: string) => {
        reads.push(bucket);
        return new S3Storage(s3.client, bucket);
      };
      const { handler, status, details } = await setup({
        env: { IMGPIPE_SOURCE_BUCKETS: SOURCE },
        sourceStorage,
      });
      const key = `x1/${eventName}/photo.jpg`;
      const error = await handler(
        buildS3Notification({ bucket: 'elsewhere', key, eventName, sequencer: '0100' }),
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RecordsFailedError);
      expect((error as Error).message).toContain(
        `s3://elsewhere/${key}: the bucket elsewhere is not a source bucket of this function (IMGPIPE_SOURCE_BUCKETS: ${SOURCE})`,
      );
      expect(reads).toEqual([]);
      expect(await status.get('elsewhere', key)).toBeUndefined();
      expect(details).toEqual([]);
      // The function's own outputs are still ignored by the recursion guard, not failed.
      const own = await handler(buildS3Notification({ bucket: OUTPUT, key: `small/${key}.webp`, eventName }));
      expect(own.records).toEqual([expect.objectContaining({ status: 'ignored' })]);
      // A source bucket's event goes through.
      const { records } = await handler(
        await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0101'),
      );
      expect(records).toEqual([{ bucket: SOURCE, key, status: 'processed' }]);
    },
  );
});

describe('the S3 handler on removals', () => {
  const output = () => new S3Storage(s3.client, OUTPUT);
  /**
   * The key's processed content (`older`) current again under outputs of other content, which the
   * status item does not record (written directly here, as a deleted current version's are): the
   * removal of that version's event, as S3 announces it.
   */
  async function currentAgainUnderOtherOutputs(
    deps: Awaited<ReturnType<typeof setup>>['deps'],
    key: string,
    older: Uint8Array,
    sequencer: string,
  ) {
    await s3.client.send(
      new PutObjectCommand({
        Bucket: SOURCE,
        Key: key,
        Body: readFixture('photos/portrait-friends-dogs.jpg'),
      }),
    );
    const { config } = deps;
    const other = await processObject(
      { bucket: SOURCE, key },
      {
        config: config.pipeline,
        layout: new BucketLayout(config.pipeline, config.quarantinePrefix),
        source: deps.sourceStorage,
        output: deps.output,
        quarantine: deps.quarantine,
      },
    );
    expect(other.status).toBe('processed');
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    return buildS3Notification({
      bucket: SOURCE,
      key,
      eventName: 'ObjectRemoved:Delete',
      versionId: 'v2',
      sequencer,
    });
  }
  /** The output bucket, its manifest PUTs failing as S3 throttling past the SDK's retries does: no local server fails one PUT. */
  const failingManifests = () =>
    new Proxy(new S3Storage(s3.client, OUTPUT), {
      get(target, property, receiver) {
        if (property === 'put')
          return (...args: Parameters<Storage['put']>) =>
            args[0].startsWith('manifests/')
              ? Promise.reject(
                  new StorageError('put', target.locate(args[0]), `PUT ${args[0]}: 503 SlowDown (injected)`, {
                    retryable: true,
                  }),
                )
              : target.put(...args);
        return Reflect.get(target, property, receiver);
      },
    });
  const exists = async (key: string) => (await output().head(key)) !== undefined;
  const removed = (key: string, sequencer: string) =>
    buildS3Notification({ bucket: SOURCE, key, eventName: 'ObjectRemoved:Delete', sequencer });

  it('deletes the outputs and manifest of a deleted upload, records it and announces it', async () => {
    const { handler, status, details } = await setup();
    await handler(await upload('g/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0700'));
    expect(await exists('small/g/photo.jpg.webp')).toBe(true);
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'g/photo.jpg' }));
    const { records } = await handler(removed('g/photo.jpg', '0701'));
    expect(records).toEqual([{ bucket: SOURCE, key: 'g/photo.jpg', status: 'deleted' }]);
    expect(await exists('small/g/photo.jpg.webp')).toBe(false);
    expect(await exists('manifests/g/photo.jpg.json')).toBe(false);
    expect(await status.get(SOURCE, 'g/photo.jpg')).toMatchObject({ status: 'deleted' });
    expect(details.at(-1)).toMatchObject({ status: 'deleted', key: 'g/photo.jpg', removedOutputs: 2 });
    // The same removal delivered again finds nothing left to delete, and fails nothing.
    expect((await handler(removed('g/photo.jpg', '0701'))).records[0]?.status).toBe('ignored');
  });

  it('leaves the item of a removal as it is, and announces nothing, when S3 delivers its event again', async () => {
    // The redelivery wrote deleted again, moving updatedAt, and announced a second Image Deleted
    // with removedOutputs 0.
    const { handler, status, details } = await setup();
    const key = 'g1/photo.jpg';
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0702'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    expect((await handler(removed(key, '0703'))).records[0]?.status).toBe('deleted');
    const item = await status.get(SOURCE, key);
    expect(item?.status).toBe('deleted');
    // A minute later (only Date is faked), so a write at the redelivery would show in updatedAt.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000);
    let records: readonly { status: string; reason?: string }[];
    try {
      ({ records } = await handler(removed(key, '0703')));
    } finally {
      vi.useRealTimers();
    }
    expect(records).toEqual([
      expect.objectContaining({ status: 'ignored', reason: expect.stringMatching(/^redelivered removal/) }),
    ]);
    expect(await status.get(SOURCE, key)).toEqual(item);
    expect(details.map((d) => d.status)).toEqual(['processed', 'deleted']);
  });

  it('fails a removal whose Image Deleted the bus refused, and its redelivery sends that event, once', async () => {
    // Recorded deleted, the removal's event refused (EventBridge is mocked: no local server): the
    // record succeeded, and its redelivery, which found nothing left to delete, announced nothing.
    const refusing = { failing: false };
    const { handler, status, details } = await setup({ failEvents: refusing });
    const key = 'g0/photo.jpg';
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0704'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    refusing.failing = true;
    await expect(handler(removed(key, '0705'))).rejects.toThrow(
      /g0\/photo\.jpg is deleted, but its Image Deleted event could not be sent/,
    );
    const item = await status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'deleted', pendingEvent: { removedOutputs: 2 } });
    refusing.failing = false;
    expect((await handler(removed(key, '0705'))).records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringMatching(/an earlier attempt did not send, is sent now/),
    });
    expect(details.map((d) => d.status)).toEqual(['processed', 'deleted']);
    expect(details.at(-1)).toMatchObject({
      key,
      sequencer: '0705',
      removedOutputs: 2,
      time: item?.pendingEvent?.time,
    });
    expect((await status.get(SOURCE, key))?.pendingEvent).toBeUndefined();
    expect((await handler(removed(key, '0705'))).records[0]?.status).toBe('ignored');
    expect(details).toHaveLength(2);
  });

  it('announces a removal recorded deleted whose second look failed at once, so an invocation stopped by a later record loses no Image Deleted', async () => {
    // The second look for outputs written after the deletion (the manifest read again) fails once
    // the removal is recorded deleted: the record fails, and its Image Deleted waited for the end
    // of the invocation, which a later record stuck on its read never reaches. The retry found
    // nothing left to delete and announced nothing: the removal was never announced.
    const key = 'g2/photo.jpg';
    const stuckKey = 'g2/stuck.jpg';
    let armed = false;
    let manifestReads = 0;
    const output = new Proxy(new S3Storage(s3.client, OUTPUT), {
      get(target, property, receiver) {
        if (property === 'get')
          return (read: string, ...rest: unknown[]) => {
            if (armed && read === `manifests/${key}.json` && ++manifestReads === 2)
              return Promise.reject(
                new StorageError(
                  'get',
                  `s3://${OUTPUT}/${read}`,
                  'SlowDown: Please reduce your request rate.',
                  {
                    retryable: true,
                  },
                ),
              );
            return Reflect.apply(target.get, target, [read, ...rest]);
          };
        return Reflect.get(target, property, receiver);
      },
    });
    const sourceStorage = (bucket: string): Storage =>
      new Proxy(new S3Storage(s3.client, bucket), {
        get(target, property, receiver) {
          if (property === 'get')
            return (read: string, ...rest: unknown[]) =>
              read === stuckKey ? new Promise(() => {}) : Reflect.apply(target.get, target, [read, ...rest]);
          return Reflect.get(target, property, receiver);
        },
      });
    const { handler, status, details } = await setup({ output, sourceStorage });
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0704'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    armed = true;
    const stuck = await upload(stuckKey, readFixture('photos/colour-fig-red-bowl.jpg'), '0706');
    void handler({ Records: [...removed(key, '0705').Records, ...stuck.Records] });
    // Lambda ends the invocation here: the removal is recorded deleted.
    await vi.waitFor(async () => expect((await status.get(SOURCE, stuckKey))?.status).toBe('processing'), {
      timeout: 30_000,
    });
    expect(manifestReads).toBe(2);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'deleted' });
    expect(details.map((d) => [d.status, d.key])).toEqual([
      ['processed', key],
      ['deleted', key],
    ]);
    // Lambda's retry finds nothing left to delete: announced no second time.
    expect((await handler(removed(key, '0705'))).records[0]?.status).toBe('ignored');
    expect(details).toHaveLength(2);
  });

  it('records and announces a removal whose outputs could not be deleted as failed, and its retry as deleted', async () => {
    // The output bucket's deletes answer SlowDown while `failing`, past the SDK's retries.
    const deletes = { failing: true };
    const failingOutput = new Proxy(new S3Storage(s3.client, OUTPUT), {
      get(target, property, receiver) {
        if (property === 'delete' && deletes.failing)
          return () => Promise.reject(Object.assign(new Error('SlowDown'), { name: 'SlowDown' }));
        return Reflect.get(target, property, receiver);
      },
    });
    const { handler, status, details } = await setup({ output: failingOutput });
    const key = 'g2/photo.jpg';
    deletes.failing = false;
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0710'));
    deletes.failing = true;
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    await expect(handler(removed(key, '0711'))).rejects.toThrow(/1 record\(s\) failed/);
    // The outputs are still there: the item must not say deleted, and the failure is announced.
    expect(await exists(`small/${key}.webp`)).toBe(true);
    expect(await status.get(SOURCE, key)).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(/SlowDown/),
    });
    expect(details.at(-1)).toMatchObject({
      status: 'failed',
      key,
      message: expect.stringMatching(/SlowDown/),
    });
    // Lambda's retry of the same event deletes them and records the removal.
    deletes.failing = false;
    const { records } = await handler(removed(key, '0711'));
    expect(records).toEqual([{ bucket: SOURCE, key, status: 'deleted' }]);
    expect(await exists(`small/${key}.webp`)).toBe(false);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'deleted' });
    expect(details.at(-1)).toMatchObject({ status: 'deleted', key, removedOutputs: 2 });
  });

  it('announces a removal whose status write the table throttled as deleted, and fails it so that the retry records it', async () => {
    const { handler, status, details } = await setup({
      wrapStatus: (store) => throttledFinish(store, 'deleted', 1),
    });
    const key = 'g3/photo.jpg';
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0720'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    await expect(handler(removed(key, '0721'))).rejects.toThrow(/ProvisionedThroughputExceeded/);
    // The outputs are gone: that is what goes out, not a failure.
    expect(await exists(`small/${key}.webp`)).toBe(false);
    expect(details.map((d) => d.status)).toEqual(['processed', 'deleted']);
    expect(details.at(-1)).toMatchObject({ key, removedOutputs: 2 });
    const { records } = await handler(removed(key, '0721'));
    expect(records).toEqual([{ bucket: SOURCE, key, status: 'deleted' }]);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'deleted' });
  });

  it('deletes what a backfill that read the object before its removal wrote while the removal ran', async () => {
    // The backfill (bulk reprocessing: no sequencer) read the object before it was deleted; it
    // writes its outputs and finishes while the removal deletes the outputs, before the removal
    // records deleted. Its status write refuses only `deleted`, so it was recorded over the
    // removal's `processing` and did not withdraw its outputs, which stayed published.
    let releaseRead!: () => void;
    const readHeld = new Promise<void>((resolve) => {
      releaseRead = resolve;
    });
    let read = false;
    let hold = false;
    const sourceStorage = (bucket: string): Storage => {
      const real = new S3Storage(s3.client, bucket);
      return new Proxy(real, {
        get(target, property, receiver) {
          if (property === 'get' && hold)
            return async (...args: Parameters<Storage['get']>) => {
              hold = false;
              const object = await real.get(...args);
              read = true;
              await readHeld;
              return object;
            };
          return Reflect.get(target, property, receiver);
        },
      });
    };
    let backfill: Promise<unknown> | undefined;
    const wrapStatus = (store: StatusStore): StatusStore => ({
      begin: (...args) => store.begin(...args),
      get: (...args) => store.get(...args),
      list: (...args) => store.list(...args),
      eventSent: (...args) => store.eventSent(...args),
      finish: async (...args) => {
        if (args[1].status === 'deleted' && args[0].sequencer === '0712' && backfill) {
          // The removal has deleted the outputs: the backfill writes and records its own now.
          releaseRead();
          await backfill;
        }
        return store.finish(...args);
      },
    });
    const { handler, objects, status } = await setup({ sourceStorage, wrapStatus });
    const key = 'g4/photo.jpg';
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0711'));
    hold = true;
    backfill = objects.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess', force: true });
    while (!read) await new Promise((resolve) => setTimeout(resolve, 5));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    const { records } = await handler(removed(key, '0712'));
    expect(records).toEqual([{ bucket: SOURCE, key, status: 'deleted' }]);
    // Recorded over the removal's processing (or, were its write refused, withdrawn by itself).
    expect((await backfill) as { result: { status: string } }).toMatchObject({
      result: { status: expect.stringMatching(/^(processed|ignored)$/) },
    });
    expect(await exists(`small/${key}.webp`)).toBe(false);
    expect(await exists(`manifests/${key}.json`)).toBe(false);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'deleted' });
  });

  it('brings back the outputs of an upload made while a removal of the key deleted them, and announces no deletion after it', async () => {
    // The key is uploaded again after the removal found it gone, and the new upload is processed
    // before the removal's deletes: they take the new upload's outputs, and its status write then
    // finds the later event recorded. The removal announced Image Deleted after the new upload's
    // Image Processed, and its outputs stayed deleted for good.
    const key = 'g5/photo.jpg';
    let reupload: (() => Promise<void>) | undefined;
    const output = new Proxy(new S3Storage(s3.client, OUTPUT), {
      get(target, property, receiver) {
        if (property === 'delete' && reupload) {
          const before = reupload;
          reupload = undefined;
          return async (...args: Parameters<Storage['delete']>) => {
            await before();
            return target.delete(...args);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const { handler, status, details } = await setup({ output });
    await handler(await upload(key, readFixture('photos/colour-fig-red-bowl.jpg'), '0731'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    const newer = readFixture('photos/portrait-friends-dogs.jpg');
    reupload = async () => {
      const { records } = await handler(await upload(key, newer, '0733'));
      expect(records[0]?.status).toBe('processed');
    };
    const { records } = await handler(removed(key, '0732'));
    expect(reupload).toBeUndefined();
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringMatching(/a later event of this key was recorded while this removal ran/),
    });
    expect(details.map((d) => d.status)).toEqual(['processed', 'processed']);
    const item = await status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'processed', sequencer: expect.stringMatching(/^0733/) });
    expect(await exists(`small/${key}.webp`)).toBe(true);
    expect(await manifestEtag(key)).toBe(item?.etag);
  });

  it('keeps the outputs of a newer upload when a late removal of an older one arrives', async () => {
    const { handler, status } = await setup();
    const body = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload('h/photo.jpg', body, '0800'));
    // Deleted, then uploaded again; the new upload's event is handled before the removal's.
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'h/photo.jpg' }));
    await handler(await upload('h/photo.jpg', body, '0802'));
    const { records } = await handler(removed('h/photo.jpg', '0801'));
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringMatching(/holds an object again/),
    });
    expect(await exists('small/h/photo.jpg.webp')).toBe(true);
    expect(await status.get(SOURCE, 'h/photo.jpg')).toMatchObject({ status: 'processed' });
  });

  it('withdraws the outputs of a deleted current version when the previous one becomes current again, which S3 announces with no event', async () => {
    const { handler, objects, status, details } = await setup();
    const key = 'h2/photo.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload(key, older, '0D00'));
    const replaced = await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0D01');
    await handler(replaced);
    const deletedEtag = (await status.get(SOURCE, key))?.etag;
    // In a versioned bucket, the current version is deleted (DeleteObject with its versionId): the
    // previous version is current again, and S3 sends ObjectRemoved:Delete alone. s3rver keeps no
    // versions: the older content is put back without an event, which is what S3 then serves.
    const restored = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    const { records } = await handler(
      buildS3Notification({
        bucket: SOURCE,
        key,
        eventName: 'ObjectRemoved:Delete',
        versionId: 'v2',
        sequencer: '0D02',
      }),
    );
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringContaining(`its outputs were of other content (ETag ${deletedEtag})`),
    });
    // The deleted content's outputs are no longer published.
    expect(await exists(`small/${key}.webp`)).toBe(false);
    expect(await exists(`manifests/${key}.json`)).toBe(false);
    expect(details.filter((d) => d.status !== 'processed')).toEqual([]);
    // Nor does its status item call it processed: it says deleted, as the removal's.
    expect(await status.get(SOURCE, key)).toMatchObject({
      status: 'deleted',
      sequencer: expect.stringMatching(/^0D02/),
    });
    expect((await status.get(SOURCE, key))?.etag).toBeUndefined();
    // A backfill publishes the current content, and records it.
    const { result } = await objects.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess' });
    expect(result.status).toBe('processed');
    const manifest = JSON.parse(new TextDecoder().decode((await output().get(`manifests/${key}.json`)).body));
    expect(manifest.source.etag).toBe(restored.ETag!.replaceAll('"', ''));
    expect(await status.get(SOURCE, key)).toMatchObject({
      status: 'processed',
      etag: restored.ETag!.replaceAll('"', ''),
    });
  });

  it('records deleted on the retry of a removal that withdrew the outputs of the deleted current version and could not record it', async () => {
    // The first attempt withdrew the outputs and its write of deleted failed (the table throttled):
    // Lambda's retry found no manifest and ended at once, so the item kept calling the deleted
    // content processed.
    const { handler, status, details } = await setup({
      wrapStatus: (store) => throttledFinish(store, 'deleted', 1),
    });
    const key = 'h2b/photo.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload(key, older, '0D10'));
    await handler(await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0D11'));
    const deletedEtag = (await status.get(SOURCE, key))?.etag;
    // The previous version current again (s3rver keeps no versions: put back without an event).
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    const removal = buildS3Notification({
      bucket: SOURCE,
      key,
      eventName: 'ObjectRemoved:Delete',
      versionId: 'v2',
      sequencer: '0D12',
    });
    await expect(handler(removal)).rejects.toThrow(/ProvisionedThroughputExceeded/);
    expect(await exists(`manifests/${key}.json`)).toBe(false);
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag: deletedEtag });
    // Lambda's retry records what the first attempt did.
    const { records } = await handler(removal);
    expect(await status.get(SOURCE, key)).toMatchObject({
      status: 'deleted',
      sequencer: expect.stringMatching(/^0D12/),
    });
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringContaining(
        `of other content (ETag ${deletedEtag}), were withdrawn by an earlier attempt`,
      ),
    });
    expect(await exists(`small/${key}.webp`)).toBe(false);
    expect(details.filter((d) => d.status !== 'processed')).toEqual([]);
  });

  it("keeps the outputs a removal makes again for the key's current content to the invocation's time", async () => {
    // A removal that finds the key holding content the table records processed, under outputs of
    // other content, makes them again from it (realign). That image had no deadline: made after
    // the invocation's earlier records, it could run the function into its timeout, stopped
    // mid-image with nothing recorded. Here the invocation has no time left: the record fails,
    // naming it, for Lambda's retry, and the content is not quarantined as too-slow.
    const { handler, deps, status } = await setup();
    const key = 'h4/photo.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload(key, older, '0F00'));
    expect((await status.get(SOURCE, key))?.status).toBe('processed');
    const removal = await currentAgainUnderOtherOutputs(deps, key, older, '0F01');
    const context = { getRemainingTimeInMillis: () => 0 } as never;
    const error = await handler(removal, context).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RecordsFailedError);
    expect((error as Error).message).toMatch(
      /InvocationTimeError: The invocation's time ran out .* it was made again after another image of the invocation/,
    );
    expect(await new S3Storage(s3.client, QUARANTINE).head(`reasons/${key}.json`)).toBeUndefined();
    // The removal was not recorded (the key holds content again): the item still records that
    // content processed, and Lambda's retry, with time, makes its outputs again.
    const before = await status.get(SOURCE, key);
    expect(before).toMatchObject({ status: 'processed', sequencer: expect.stringMatching(/^0F00/) });
    const retried = await handler(removal);
    expect(retried.records[0]?.status).toBe('ignored');
    expect(await status.get(SOURCE, key)).toMatchObject({ status: 'processed', etag: before!.etag });
    const manifest = await new S3Storage(s3.client, OUTPUT).get(`manifests/${key}.json`);
    expect(JSON.parse(Buffer.from(manifest.body).toString('utf8')).source.etag).toBe(before!.etag);
  });

  it.each([
    ['an error', 'error'],
    ["the invocation's time running out", 'time'],
  ] as const)(
    "makes the key's current content into outputs again on the retry of a removal whose first making of them failed (%s)",
    async (_, failure) => {
      // A removal that finds the key holding content the table records processed, under outputs of
      // other content, makes them again from it (realign). When that failed, the removal recorded
      // failed over the item, with its own sequencer: Lambda's retry then no longer found the
      // content processed and deleted the outputs instead of making them, so the key had none.
      const gets = throttledGets();
      gets.failing = false;
      const { handler, deps, status, details } = await setup({ sourceStorage: gets.sourceStorage });
      const key = `h5-${failure}/photo.jpg`;
      const older = readFixture('photos/colour-fig-red-bowl.jpg');
      await handler(await upload(key, older, '0F10'));
      const item = await status.get(SOURCE, key);
      expect(item?.status).toBe('processed');
      const removal = await currentAgainUnderOtherOutputs(deps, key, older, '0F11');
      // The first attempt: S3 throttles the source's reads, or the invocation has no time left.
      gets.failing = failure === 'error';
      const context = failure === 'time' ? ({ getRemainingTimeInMillis: () => 0 } as never) : undefined;
      await expect(handler(removal, context)).rejects.toThrow(
        failure === 'error' ? /SlowDown/ : /InvocationTimeError/,
      );
      // The item still says the current content is processed, and no failure of the key went out.
      expect(await status.get(SOURCE, key)).toEqual(item);
      expect(details.map((d) => d.status)).toEqual(['processed']);
      // Lambda's retry makes the outputs again from the current content.
      gets.failing = false;
      const { records } = await handler(removal);
      expect(records[0]).toMatchObject({
        status: 'ignored',
        reason: expect.stringMatching(/holds an object again .*\(processed\)$/),
      });
      expect(await manifestEtag(key)).toBe(item?.etag);
      expect(await exists(`small/${key}.webp`)).toBe(true);
      expect(await status.get(SOURCE, key)).toEqual(item);
    },
  );

  it("makes the key's current content into outputs again on the retry of a removal whose first look at the key failed", async () => {
    // The removal's HEAD failed (S3 throttling past the SDK's retries) before the removal was
    // ordered, and it recorded failed over the item with its own sequencer: in a versioned bucket
    // whose previous version, processed, was current again, Lambda's retry then no longer found
    // that content processed and deleted the outputs instead of making them, so the key had none.
    const heads = { failing: false };
    const sourceStorage = (bucket: string): Storage =>
      new Proxy(new S3Storage(s3.client, bucket), {
        get(target, property, receiver) {
          if (property === 'head' && heads.failing)
            return () => Promise.reject(Object.assign(new Error('SlowDown'), { name: 'SlowDown' }));
          return Reflect.get(target, property, receiver);
        },
      });
    const { handler, deps, status, details } = await setup({ sourceStorage });
    const key = 'h6/photo.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload(key, older, '0F20'));
    const item = await status.get(SOURCE, key);
    expect(item?.status).toBe('processed');
    const removal = await currentAgainUnderOtherOutputs(deps, key, older, '0F21');
    heads.failing = true;
    await expect(handler(removal)).rejects.toThrow(/SlowDown/);
    // Lambda's retry makes the outputs again from the current content.
    heads.failing = false;
    const { records } = await handler(removal);
    expect(await manifestEtag(key)).toBe(item?.etag);
    expect(await exists(`small/${key}.webp`)).toBe(true);
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringMatching(/holds an object again .*\(processed\)$/),
    });
    // The item still says the current content is processed, and no failure of the key went out.
    expect(await status.get(SOURCE, key)).toEqual(item);
    expect(details.map((d) => d.status)).toEqual(['processed']);
  });

  it('withdraws the on-demand results of a deleted current version with its outputs when the previous one becomes current again', async () => {
    const { handler } = await setup({ env: { IMGPIPE_TRANSFORM_PREFIX: 'transforms/' } });
    const key = 'h3/photo.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload(key, older, '0E00'));
    await handler(await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0E01'));
    // A result of the content about to be deleted, too large to answer: given out as a redirect to
    // its stored object, which the distribution serves from the bucket without a signature.
    const result = `transforms/${key}/4000x0-inside-q80-0123456789ab.webp`;
    await s3.client.send(new PutObjectCommand({ Bucket: OUTPUT, Key: result, Body: 'a large result' }));
    // The current version deleted (see the test above): the older content is current again.
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    const { records } = await handler(
      buildS3Notification({
        bucket: SOURCE,
        key,
        eventName: 'ObjectRemoved:Delete',
        versionId: 'v2',
        sequencer: '0E02',
      }),
    );
    expect(records[0]).toMatchObject({ status: 'ignored', reason: expect.stringContaining('other content') });
    expect(await exists(`manifests/${key}.json`)).toBe(false);
    expect(await exists(result)).toBe(false);
  });

  it('withdraws the variants a failed run of a deleted current version wrote before its manifest when the previous one becomes current again', async () => {
    // The current version's run wrote its variant and failed on its manifest (S3 throttling past
    // the SDK's and Lambda's retries): published, listed nowhere. That version deleted, the
    // previous one (never processed here) is current again, and S3 announces the removal alone:
    // the removal found no manifest and kept the deleted content's variant published.
    const { deps, handler } = await setup();
    const key = 'h9/unlisted.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    const deleted = await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0F01');
    await expect(createS3EventHandler({ ...deps, output: failingManifests() })(deleted)).rejects.toThrow(
      /SlowDown/,
    );
    expect(await exists(`small/${key}.webp`)).toBe(true);
    expect(await exists(`manifests/${key}.json`)).toBe(false);
    // The current version deleted (see above): the older content is current again.
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    const { records } = await handler(
      buildS3Notification({
        bucket: SOURCE,
        key,
        eventName: 'ObjectRemoved:Delete',
        versionId: 'v2',
        sequencer: '0F02',
      }),
    );
    expect(records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringContaining('listed by no manifest'),
    });
    expect(await exists(`small/${key}.webp`)).toBe(false);
  });

  it('makes the outputs of the previous version again when a failed run of the deleted current version wrote over them', async () => {
    // The previous version processed; the current version's run wrote its variant over the
    // previous one's and failed on its manifest (S3 throttling past the SDK's and Lambda's
    // retries). That version deleted, the previous one is current again under its own manifest,
    // and the removal, finding that manifest current, kept the deleted content's pixels published.
    const { deps, handler } = await setup();
    const key = 'h9/overwritten.jpg';
    const older = readFixture('photos/colour-fig-red-bowl.jpg');
    expect((await handler(await upload(key, older, '0F10'))).records[0]?.status).toBe('processed');
    const olderVariant = (await output().get(`small/${key}.webp`)).body;
    const deleted = await upload(key, readFixture('photos/portrait-friends-dogs.jpg'), '0F11');
    await expect(createS3EventHandler({ ...deps, output: failingManifests() })(deleted)).rejects.toThrow(
      /SlowDown/,
    );
    expect(
      Buffer.from((await output().get(`small/${key}.webp`)).body).equals(Buffer.from(olderVariant)),
    ).toBe(false);
    // The current version deleted (see above): the older content is current again.
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: older }));
    const { records } = await handler(
      buildS3Notification({
        bucket: SOURCE,
        key,
        eventName: 'ObjectRemoved:Delete',
        versionId: 'v2',
        sequencer: '0F12',
      }),
    );
    expect(records[0]).toMatchObject({ status: 'ignored', reason: expect.stringContaining('made again') });
    expect(
      Buffer.from((await output().get(`small/${key}.webp`)).body).equals(Buffer.from(olderVariant)),
    ).toBe(true);
  });

  it('publishes by a backfill an object a versioned bucket brought back by removing its delete marker, which S3 announces as a removal alone', async () => {
    const { handler, objects, status } = await setup();
    const key = 'h3/photo.jpg';
    const body = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload(key, body, '0E00'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    const marker = { bucket: SOURCE, key, eventName: 'ObjectRemoved:DeleteMarkerCreated' };
    expect((await handler(buildS3Notification({ ...marker, sequencer: '0E01' }))).records[0]?.status).toBe(
      'deleted',
    );
    expect(await exists(`manifests/${key}.json`)).toBe(false);
    // The delete marker is deleted: the object is back (s3rver keeps no versions: it is put back
    // without an event), and S3 sends ObjectRemoved:Delete, the marker's removal.
    const back = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    const removal = buildS3Notification({
      bucket: SOURCE,
      key,
      eventName: 'ObjectRemoved:Delete',
      sequencer: '0E02',
    });
    expect((await handler(removal)).records[0]).toMatchObject({
      status: 'ignored',
      reason: expect.stringMatching(/holds an object again/),
    });
    // A backfill (imgpipe reprocess) publishes and records it.
    const { result } = await objects.handle({ bucket: SOURCE, key }, { trigger: 'Reprocess' });
    expect(result.status).toBe('processed');
    expect(await exists(`small/${key}.webp`)).toBe(true);
    expect(await status.get(SOURCE, key)).toMatchObject({
      status: 'processed',
      etag: back.ETag!.replaceAll('"', ''),
    });
  });

  it('keeps the outputs of a newer upload without a status table too, by looking at the key', async () => {
    const { handler } = await setup({ withoutTable: true });
    const body = readFixture('photos/colour-fig-red-bowl.jpg');
    await handler(await upload('i/photo.jpg', body, '0900'));
    const { records } = await handler(removed('i/photo.jpg', '0899'));
    expect(records[0]?.status).toBe('ignored');
    expect(await exists('small/i/photo.jpg.webp')).toBe(true);
  });

  it('ignores the removal of a folder marker, as its upload was, recording and announcing nothing', async () => {
    const { handler, status, details } = await setup();
    const { records } = await handler(removed('l/', '0C00'));
    expect(records).toEqual([
      { bucket: SOURCE, key: 'l/', status: 'ignored', reason: 'folder marker (a key ending in /)' },
    ]);
    expect(await status.get(SOURCE, 'l/')).toBeUndefined();
    expect(details).toEqual([]);
  });

  it('records a removal but keeps the outputs with IMGPIPE_DELETE_OUTPUTS=false', async () => {
    const { handler, status } = await setup({ env: { IMGPIPE_DELETE_OUTPUTS: 'false' } });
    await handler(await upload('j/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), '0A00'));
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'j/photo.jpg' }));
    expect((await handler(removed('j/photo.jpg', '0A01'))).records[0]?.status).toBe('deleted');
    expect(await exists('small/j/photo.jpg.webp')).toBe(true);
    expect((await status.get(SOURCE, 'j/photo.jpg'))?.status).toBe('deleted');
  });
});

describe('createLambdaDeps', () => {
  it('reads the pipeline document from Parameter Store when IMGPIPE_CONFIG_PARAMETER is set', async () => {
    const ssm = new SSMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    mockClient(ssm)
      .on(GetParameterCommand, { Name: '/imgpipe/test/pipeline' })
      .resolves({ Parameter: { Value: JSON.stringify({ variants: [{ name: 'tiny', width: 50 }] }) } });
    const deps = await createLambdaDeps(
      {
        IMGPIPE_OUTPUT_BUCKET: OUTPUT,
        IMGPIPE_CONFIG_PARAMETER: '/imgpipe/test/pipeline',
        IMGPIPE_WORKERS: '1',
      },
      { ssm },
    );
    expect(deps.config.pipeline.variants.map((v) => v.name)).toEqual(['tiny']);
    await (deps.encoder as { close?: () => Promise<void> }).close?.();
  });

  it('names the function with its version in the outcome metrics’ version dimension: the workflow’s task functions number their versions on their own', async () => {
    const deps = await createLambdaDeps({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      AWS_LAMBDA_FUNCTION_NAME: 'imgpipe-prod',
      AWS_LAMBDA_FUNCTION_VERSION: '7',
      _HANDLER: 'index.api',
    });
    expect(deps.functionVersion).toBe('imgpipe-prod:7');
  });

  it('gives its DynamoDB, EventBridge and Parameter Store clients an idle limit: a silent service fails the call instead of hanging', async () => {
    // A server that accepts connections and never answers, as both services' endpoint (the SDK
    // reads AWS_ENDPOINT_URL_* from the process environment, not from the env given here).
    let requests = 0;
    const server = createServer(() => {
      requests++;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // Set on process.env itself and put back as they were (vi.unstubAllEnvs), not a copy swapped in.
    for (const [name, value] of Object.entries({
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint,
      AWS_ENDPOINT_URL_SSM: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_MAX_ATTEMPTS: '1',
    }))
      vi.stubEnv(name, value);
    try {
      const deps = await createLambdaDeps(
        {
          IMGPIPE_OUTPUT_BUCKET: OUTPUT,
          IMGPIPE_STATUS_TABLE: 'silent-table',
          IMGPIPE_EVENT_BUS: 'silent-bus',
          _HANDLER: 'index.api',
        },
        { idleTimeoutMs: 300 },
      );
      const failure = await deps.status!.get(SOURCE, 'k').then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/timed out after 300 ms/);
      const published = await deps.events!.publish([
        { detailType: 'Image Deleted', detail: { bucket: SOURCE, key: 'k' } as unknown as ImageEventDetail },
      ]);
      expect(published.failed).toBe(1);
      expect(published.errors[0]).toMatch(/timed out after 300 ms/);
      // Each was cut by its idle limit (the messages name the 300 ms), not the function's timeout
      // (nor the SDK's none, which would hang past the test's). No clock is read: a loaded machine
      // may take any time to get there.
      expect(requests).toBeGreaterThanOrEqual(2);
      // Powertools Parameters' own SSM client: the pipeline document's parameter, read at start.
      await expect(
        createLambdaDeps(
          {
            IMGPIPE_OUTPUT_BUCKET: OUTPUT,
            IMGPIPE_CONFIG_PARAMETER: '/silent/document',
            _HANDLER: 'index.api',
          },
          { idleTimeoutMs: 300 },
        ),
      ).rejects.toThrow(
        /Cannot read the pipeline document from the parameter \/silent\/document .*timed out after 300 ms/,
      );
      expect(requests).toBeGreaterThanOrEqual(3);
    } finally {
      vi.unstubAllEnvs();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('names the parameter, not IMGPIPE_CONFIG, in the errors of a document read from Parameter Store', async () => {
    // Parameter Store has no local server here: its client is mocked, as above.
    const refused = async (value: string) => {
      const ssm = new SSMClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      });
      mockClient(ssm)
        .on(GetParameterCommand, { Name: '/imgpipe/prod/pipeline' })
        .resolves({ Parameter: { Value: value } });
      const env = { IMGPIPE_OUTPUT_BUCKET: OUTPUT, IMGPIPE_CONFIG_PARAMETER: '/imgpipe/prod/pipeline' };
      return createLambdaDeps({ ...env, _HANDLER: 'index.api' }, { ssm }).then(
        () => undefined,
        (error: Error) => error.message,
      );
    };
    const source = 'the parameter /imgpipe/prod/pipeline (IMGPIPE_CONFIG_PARAMETER)';
    expect(await refused('{"formats": {"webp": {"quality": 101}}}')).toBe(
      `${source}: Expected integer between 0 and 100 for formats.webp.quality but received 101 of type number`,
    );
    expect(await refused('{"variants": [')).toBe(`${source} is not valid JSON: Unexpected end of JSON input`);
    expect(await refused('[]')).toBe(`Expected a JSON object for ${source} but received [] of type array`);
  });

  it('compiles no codecs in the workflow tasks Terraform gives a fixed memory, which decode no image', async () => {
    // terraform/modules/workflow: `memory` null is the tuned memory, for the tasks that decode.
    const tasks = readFileSync(join(REPO_ROOT, 'terraform/modules/workflow/main.tf'), 'utf8');
    const commands = [...tasks.matchAll(/command = "(index\.\w+)",[^}]*? memory = (\w+),/g)];
    const fixed = commands.filter(([, , memory]) => memory !== 'null').map(([, command]) => command!);
    const tuned = commands.filter(([, , memory]) => memory === 'null').map(([, command]) => command!);
    expect(fixed).toContain('index.workflowFail');
    expect(tuned).toContain('index.workflowProcess');
    const encoderOf = async (command: string) => {
      const deps = await createLambdaDeps({
        IMGPIPE_OUTPUT_BUCKET: OUTPUT,
        IMGPIPE_WORKERS: '1',
        _HANDLER: command,
      });
      return deps.encoder;
    };
    for (const command of fixed) expect(await encoderOf(command), command).toBeUndefined();
    for (const command of tuned) expect(await encoderOf(command), command).toBeDefined();
  });

  it('refuses IMGPIPE_WORKERS whose threads leave less room than the automatic count keeps, naming the most that fit', async () => {
    // 4 threads' baseline is 640 MiB: on 512 MB every image would be over the memory budget.
    await expect(
      createLambdaDeps({
        IMGPIPE_OUTPUT_BUCKET: OUTPUT,
        IMGPIPE_WORKERS: '4',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      }),
    ).rejects.toThrow(
      'Expected integer between 0 and 1 for IMGPIPE_WORKERS but received "4" of type string (4 encoder threads take 640 MiB before any image, and the process has 512 MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): every image would be quarantined as over-memory-budget)',
    );
    // 2 threads' 470 MiB fit under 512 MB and left 42 MiB: the init passed, and every image, a
    // 96x64 JPEG too (632 MiB estimated), was quarantined as over-memory-budget. One thread, as the
    // automatic count chooses there, leaves 162 MiB.
    await expect(
      createLambdaDeps({
        IMGPIPE_OUTPUT_BUCKET: OUTPUT,
        IMGPIPE_WORKERS: '2',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      }),
    ).rejects.toThrow(
      'Expected integer between 0 and 1 for IMGPIPE_WORKERS but received "2" of type string (2 encoder threads take 470 MiB before any image, and the process has 512 MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): the rest holds 0.9 MP of the costliest input, where 1 would hold 3.6 MP, so images under maxPixels (50000000) that fewer threads take would be quarantined as over-memory-budget; or set IMGPIPE_MAX_PIXELS to at most 937025)',
    );
    expect(encoderThreadsFor(2, { mb: 512, source: 'test' }, 50_000_000)).toBe(1);
    // Where the memory holds maxPixels with them, the threads asked for start.
    const deps = await createLambdaDeps({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_WORKERS: '2',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      IMGPIPE_MAX_PIXELS: '937025',
    });
    expect(deps.encoder?.workers).toBe(2);
    await (deps.encoder as { close?: () => Promise<void> }).close?.();
  });

  it('refuses a memory that cannot hold one encoder thread, in a function that decodes images', async () => {
    // 256 MB is less than one thread's baseline (350 MiB): every image, even 480x320, was
    // quarantined as over-memory-budget. Functions that decode nothing start as before.
    const small = { IMGPIPE_OUTPUT_BUCKET: OUTPUT, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256' };
    const refused =
      'The process has 256 MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), and encoding takes 350 MiB before any image: every image would be quarantined as over-memory-budget; a function that decodes images needs more than 350 MiB';
    await expect(createLambdaDeps(small)).rejects.toThrow(refused);
    await expect(createLambdaDeps({ ...small, IMGPIPE_WORKERS: '1' })).rejects.toThrow(refused);
    await expect(createLambdaDeps({ ...small, IMGPIPE_WORKERS: '2' })).rejects.toThrow(refused);
    expect((await createLambdaDeps({ ...small, _HANDLER: 'index.workflowInspect' })).encoder).toBeUndefined();
    // Automatic threads are as many as the CPUs give and the memory holds: 2 CPUs' 2 threads
    // (470 MiB) do not fit 400 MiB, one thread (350 MiB) does.
    const large = { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '10240' };
    if (defaultWorkers(large) > 1) {
      const deps = await createLambdaDeps({
        ...large,
        IMGPIPE_OUTPUT_BUCKET: OUTPUT,
        IMGPIPE_MEMORY_MB: '400',
      });
      expect(deps.encoder?.workers).toBe(1);
    }
  });

  it('refuses a maxBytes whose file, read whole, the memory cannot hold beside the baseline', async () => {
    // A 700 MiB upload under a 1 GiB IMGPIPE_MAX_BYTES was read whole beside the 350 MiB baseline
    // of a 1024 MB function: the function was stopped, not the file quarantined as too-large.
    const env = {
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_WORKERS: '1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    };
    const most = (1024 - 350) * 1024 * 1024 - 1;
    await expect(createLambdaDeps({ ...env, IMGPIPE_MAX_BYTES: '1073741824' })).rejects.toThrow(
      `Expected integer between 1 and ${most} for IMGPIPE_MAX_BYTES but received "1073741824" of type string (a source of 1073741824 bytes is read whole beside the 350 MiB encoding takes before any image, and the process has 1024 MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): it would be stopped instead of quarantining the file as too-large)`,
    );
    await expect(
      createLambdaDeps({ ...env, IMGPIPE_CONFIG: JSON.stringify({ limits: { maxBytes: most + 1 } }) }),
    ).rejects.toThrow(
      `Expected integer between 1 and ${most} for limits.maxBytes of the pipeline document but received ${most + 1} of type number`,
    );
    expect(
      (await createLambdaDeps({ ...env, IMGPIPE_MAX_BYTES: String(most) })).config.pipeline.limits.maxBytes,
    ).toBe(most);
    // Inspect reads the source whole too, in its own 512 MB, beside Node and its clients (150 MiB);
    // the API reads none.
    const inspect = { ...env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512', _HANDLER: 'index.workflowInspect' };
    await expect(
      createLambdaDeps({ ...inspect, IMGPIPE_MAX_BYTES: String(400 * 1024 * 1024) }),
    ).rejects.toThrow(
      `Expected integer between 1 and ${(512 - 150) * 1024 * 1024 - 1} for IMGPIPE_MAX_BYTES but received "419430400" of type string (a source of 419430400 bytes is read whole beside the 150 MiB the process takes before it reads one, and the process has 512 MiB`,
    );
    expect(
      (await createLambdaDeps({ ...inspect, IMGPIPE_MAX_BYTES: String(300 * 1024 * 1024) })).config.pipeline
        .limits.maxBytes,
    ).toBe(300 * 1024 * 1024);
    await expect(
      createLambdaDeps({ ...env, IMGPIPE_MAX_BYTES: '1073741824', _HANDLER: 'index.api' }),
    ).resolves.toBeDefined();
    // A memory below what Inspect takes before it reads anything is the memory's fault: the error
    // named limits.maxBytes, which nobody set, and a range of 1 to -52428801.
    await expect(createLambdaDeps({ ...inspect, IMGPIPE_MEMORY_MB: '100' })).rejects.toThrow(
      'The process has 100 MiB (IMGPIPE_MEMORY_MB), and 150 MiB is what the process takes before it reads one: it cannot read a source of any size; it needs more than 150 MiB',
    );
  });

  it('decodes the watermark at init: a PNG the decoder refuses stops it, naming watermark.image', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'imgpipe-mark-'));
    const image = join(folder, 'mark.png');
    writeFileSync(
      image,
      Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('x')]),
    );
    try {
      await expect(
        createLambdaDeps({
          IMGPIPE_OUTPUT_BUCKET: OUTPUT,
          IMGPIPE_WORKERS: '1',
          IMGPIPE_CONFIG: JSON.stringify({ watermark: { image } }),
        }),
      ).rejects.toThrow(
        `Expected a PNG file the decoder reads for watermark.image but received ${JSON.stringify(image)}`,
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses an IMGPIPE_ variable no entry point reads, with the closest one', async () => {
    // A typo in Terraform's environment_variables was ignored: the function ran at 32 MiB.
    const typo = { IMGPIPE_OUTPUT_BUCKET: OUTPUT, IMGPIPE_MAX_BYTE: '67108864', _HANDLER: 'index.api' };
    // Outside Lambda (imgpipe dev, a child process of the tests) the shell's variables pass.
    await expect(createLambdaDeps(typo)).resolves.toBeDefined();
    await expect(createLambdaDeps({ ...typo, AWS_LAMBDA_FUNCTION_NAME: 'imgpipe-prod-api' })).rejects.toThrow(
      'IMGPIPE_MAX_BYTE is not a variable of the function (did you mean IMGPIPE_MAX_BYTES?); every variable: src/config/README.md',
    );
    // Every IMGPIPE_ variable the Terraform configuration sets is one the function reads.
    const tf = readdirSync(join(REPO_ROOT, 'terraform'), { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.tf') && !path.includes('.terraform'))
      .map((path) => readFileSync(join(REPO_ROOT, 'terraform', path), 'utf8'))
      .join('\n');
    const set = new Set(tf.match(/\bIMGPIPE_[A-Z_]+[A-Z]\b/g));
    expect(set.size).toBeGreaterThan(20);
    expect([...set].filter((name) => !functionVariables().includes(name))).toEqual([]);
  });

  it('refuses IMGPIPE_CONFIG_PARAMETER beside IMGPIPE_CONFIG, naming both', async () => {
    await expect(
      createLambdaDeps({
        IMGPIPE_OUTPUT_BUCKET: OUTPUT,
        IMGPIPE_CONFIG_PARAMETER: '/p',
        IMGPIPE_CONFIG: '{}',
      }),
    ).rejects.toThrow('Set only one of IMGPIPE_CONFIG_PARAMETER and IMGPIPE_CONFIG');
  });
});
