import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildS3Notification, LOCAL_CREDENTIALS, type S3Notification } from '../../src/cli/local-s3.ts';
import { decode } from '../../src/codecs/index.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import type { InputFormat } from '../../src/core/formats.ts';
import { BucketLayout } from '../../src/core/layout.ts';
import { createS3EventHandler, type HandlerResult } from '../../src/handlers/s3-event.ts';
import { sniffFormat } from '../../src/image/sniff.ts';
import type { Manifest, QuarantineRecord } from '../../src/pipeline/records.ts';
import { createS3Client, S3Storage } from '../../src/storage/s3.ts';
import { perBucket } from '../../src/storage/types.ts';
import { type FaultProxy, seededRandom, startFaultProxy } from '../support/fault-proxy.ts';
import { FIXTURES, readFixture } from '../support/fixtures.ts';
import { deliverAsync } from '../support/lambda-async.ts';
import { startTestS3 } from '../support/s3.ts';
import { hasTool, metadataTagsUnder } from '../support/tools.ts';

/**
 * Faults and load: the S3 handler, as Lambda runs it for S3 notifications (asynchronous, eight
 * invocations at once, two retries, then the dead-letter queue), against s3rver behind a proxy
 * that answers a seeded share of requests with 500 InternalError or 503 SlowDown, resets
 * connections while the request or the response is on the wire, or delays them. The SDK keeps its
 * production settings (createS3Client: standard retry mode, 3 attempts, the timeouts).
 *
 * 520 object-created events for 200 sources (170 images, 30 invalid files; 20 keys overwritten,
 * both events delivered; 300 repeated deliveries), shuffled, then every event delivered again.
 *
 * Other seeds, shares or sizes: IMGPIPE_FAULT_SEED, IMGPIPE_FAULT_SHARE (0-1),
 * IMGPIPE_FAULT_SOURCES, IMGPIPE_FAULT_CONCURRENCY; a soak of 5,000 events: npm run soak.
 */
const SOURCE = 'uploads';
const OUTPUT = 'variants';
const QUARANTINE = 'rejected';

const SEED = Number(process.env.IMGPIPE_FAULT_SEED ?? 16);
const SHARE = Number(process.env.IMGPIPE_FAULT_SHARE ?? 0.1);
const SOURCES = Number(process.env.IMGPIPE_FAULT_SOURCES ?? 120);
const CONCURRENCY = Number(process.env.IMGPIPE_FAULT_CONCURRENCY ?? 8);
const OVERWRITTEN = Math.round(SOURCES / 10);
const REPEATS = SOURCES * 3;

const config = loadRuntimeConfig({
  IMGPIPE_OUTPUT_BUCKET: OUTPUT,
  IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
  IMGPIPE_QUARANTINE_PREFIX: '',
  IMGPIPE_MAX_BYTES: '100000',
  IMGPIPE_WORKERS: '1',
  IMGPIPE_CONFIG: JSON.stringify({
    variants: [
      { name: 'm', width: 64 },
      { name: 's', width: 24 },
    ],
    formats: { jpeg: {}, webp: {}, avif: { speed: 9 } },
  }),
});
const layout = new BucketLayout(config.pipeline, config.quarantinePrefix);
const OUTPUTS_PER_IMAGE = 6;

/** Small inputs: every readable format, EXIF orientations with GPS and XMP, ICC profiles, animation. */
const VALID = FIXTURES.filter(
  (f) => f.expect === 'ok' && f.bytes <= 20_000 && (f.width ?? 0) <= 200 && !f.path.startsWith('bench/'),
).map((f) => f.path);
/** Invalid inputs, each with the reason it must get; a photo over IMGPIPE_MAX_BYTES is `too-large`. */
const INVALID: [string, string][] = [
  ...FIXTURES.filter((f) => f.expect !== 'ok' && f.bytes <= 60_000).map((f): [string, string] => [
    f.path,
    f.expect,
  ]),
  ['photos/portrait-friends-dogs.jpg', 'too-large'],
];

interface Source {
  readonly key: string;
  readonly fixture: string;
  /** The reason it must be quarantined with; undefined for an image. */
  readonly reason?: string;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let s3: Awaited<ReturnType<typeof startTestS3>>;
let proxy: FaultProxy;
let work: string;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE]);
  proxy = await startFaultProxy({ target: s3.endpoint, seed: SEED, share: 0 });
  work = mkdtempSync(join(tmpdir(), 'imgpipe-faults-'));
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The handler as the function builds it, its S3 client pointed at the proxy, logs and metrics off. */
function faultedHandler() {
  const client = createS3Client({
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    region: 'us-east-1',
  });
  const bucket = perBucket((name) => new S3Storage(client, name));
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const metrics = new Metrics({ serviceName: 'imgpipe-faults', namespace: 'imgpipe-faults' });
  if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  return createS3EventHandler({
    config,
    sourceStorage: bucket,
    output: bucket(OUTPUT),
    quarantine: bucket(QUARANTINE),
    logger: new Logger({ serviceName: 'imgpipe-faults', logLevel: 'SILENT' }),
    metrics,
  });
}

async function upload(key: string, body: Uint8Array): Promise<S3Notification> {
  const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
  return buildS3Notification({ bucket: SOURCE, key, size: body.length, etag: put.ETag });
}

async function listAll(bucket: string): Promise<Map<string, { etag: string; modified: number }>> {
  const found = new Map<string, { etag: string; modified: number }>();
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? [])
      found.set(o.Key!, { etag: o.ETag!, modified: o.LastModified!.getTime() });
    token = page.NextContinuationToken;
  } while (token);
  return found;
}

async function read(bucket: string, key: string): Promise<Uint8Array> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body!.transformToByteArray();
}

async function readJson<T>(bucket: string, key: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await read(bucket, key))) as T;
}

async function sourceSnapshot(keys: readonly string[]): Promise<Map<string, string>> {
  const snapshot = new Map<string, string>();
  for (const key of keys) {
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: SOURCE, Key: key }));
    snapshot.set(key, `${head.ETag} ${sha256(await read(SOURCE, key))}`);
  }
  return snapshot;
}

function count<T extends string>(values: readonly T[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/**
 * Delivers the events as Lambda does; what ends in the dead-letter queue is then redriven as the
 * operator does once the cause is gone (terraform/README.md): here, with the faults off.
 */
async function deliver(events: readonly S3Notification[], handler: ReturnType<typeof faultedHandler>) {
  const run = await deliverAsync(events, handler, { concurrency: CONCURRENCY });
  const results = [...run.results];
  let { invocations } = run;
  if (run.deadLetters.length > 0) {
    const share = proxy.share;
    proxy.setShare(0);
    const redrive = await deliverAsync(
      run.deadLetters.map((d) => d.event),
      handler,
      { concurrency: CONCURRENCY },
    );
    proxy.setShare(share);
    expect(redrive.deadLetters).toEqual([]);
    for (const [i, letter] of run.deadLetters.entries()) results[letter.index] = redrive.results[i];
    invocations += redrive.invocations;
  }
  return { results, invocations, retries: run.retries, deadLettered: run.deadLetters.length };
}

const statuses = (results: readonly (HandlerResult | undefined)[]) =>
  results.flatMap((result) => result?.records.map((r) => r.status) ?? ['lost']);

describe('faults and load against S3', () => {
  it('ends every source in one complete output set or one quarantine record, writes manifests last, never touches a source, and changes nothing on a second delivery', {
    // 2 s per source, about three times what a 2-core machine shared with other jobs took.
    timeout: Math.max(240_000, SOURCES * 2_000),
  }, async () => {
    const random = seededRandom(SEED);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;

    // Sources: one in seven invalid. Ten keys were processed before the run (no faults) and are
    // then replaced, half by another image and half by an invalid file.
    const sources: Source[] = Array.from({ length: SOURCES }, (_, i) => {
      const invalid = i % 7 === 3;
      const [fixture, reason] = invalid ? pick(INVALID) : [pick(VALID), undefined];
      const name = fixture.split('/').pop()!;
      return { key: `load/${String(i).padStart(4, '0')}/${name}`, fixture, ...(reason ? { reason } : {}) };
    });
    const replaced = sources.filter((s) => !s.reason).slice(0, 10);
    const handler = faultedHandler();
    const earlier: S3Notification[] = [];
    for (const source of replaced) earlier.push(await upload(source.key, readFixture(pick(VALID))));
    const before = await deliverAsync(earlier, handler, { concurrency: CONCURRENCY });
    expect(statuses(before.results)).toEqual(replaced.map(() => 'processed'));
    const finalSources = sources.map((source): Source => {
      if (replaced.indexOf(source) % 2 !== 1) return source;
      const [fixture, reason] = pick(INVALID);
      return { ...source, fixture, reason };
    });

    // Uploads: some keys twice (the first version's event is delivered too, and goes stale).
    const events: S3Notification[] = [...earlier];
    for (const [i, source] of finalSources.entries()) {
      if (i >= 10 && i < 10 + OVERWRITTEN) events.push(await upload(source.key, readFixture(pick(VALID))));
      events.push(await upload(source.key, readFixture(source.fixture)));
    }
    const invalidCount = finalSources.filter((s) => s.reason).length;
    for (let i = 0; i < REPEATS; i++) events.push(pick(events));
    // Shuffled (Fisher-Yates): repeats and the versions of one key arrive in any order.
    for (let i = events.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [events[i], events[j]] = [events[j]!, events[i]!];
    }
    expect(events.length).toBeGreaterThanOrEqual(Math.min(500, SOURCES * 4)); // 502 by default
    const sourcesBefore = await sourceSnapshot(finalSources.map((s) => s.key));

    // The run, with faults.
    const writesFrom = proxy.writes.length;
    proxy.setShare(SHARE);
    const first = await deliver(events, handler);
    const firstOutcomes = count(statuses(first.results));
    const writesAfterFirst = proxy.writes.length;

    // 1. Every source: one complete output set and manifest, or one quarantine record.
    const outputs = await listAll(OUTPUT);
    const quarantined = await listAll(QUARANTINE);
    const expectedOutputs = new Set<string>();
    const expectedQuarantine = new Set<string>();
    const reasonRecords = new Map<string, Omit<QuarantineRecord, 'quarantinedAt'>>();
    const decodeDir = join(work, 'outputs');
    let decoded = 0;
    for (const source of finalSources) {
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: SOURCE, Key: source.key }));
      const etag = head.ETag!.replaceAll('"', '');
      const manifestKey = layout.manifestKey(source.key);
      const keys = layout.quarantineKeys(source.key);
      if (source.reason) {
        expect(outputs.has(manifestKey), `no manifest for invalid ${source.key}`).toBe(false);
        const { quarantinedAt: _, ...record } = await readJson<QuarantineRecord>(QUARANTINE, keys.reason);
        expect(record, source.key).toMatchObject({
          reason: source.reason,
          source: { key: source.key, etag },
        });
        reasonRecords.set(source.key, record);
        expect(sha256(await read(QUARANTINE, keys.object))).toBe(sha256(readFixture(source.fixture)));
        expectedQuarantine.add(keys.object).add(keys.reason);
        continue;
      }
      const manifest = await readJson<Manifest>(OUTPUT, manifestKey);
      expect(manifest.source, source.key).toMatchObject({ key: source.key, etag });
      expect(manifest.configHash).toBe(config.pipeline.hash);
      expect(manifest.outputs).toHaveLength(OUTPUTS_PER_IMAGE);
      expectedOutputs.add(manifestKey);
      const bodies = await Promise.all(manifest.outputs.map((entry) => read(OUTPUT, entry.key)));
      for (const [i, entry] of manifest.outputs.entries()) {
        const bytes = bodies[i]!;
        expect(bytes.length, entry.key).toBe(entry.bytes);
        expect(sniffFormat(bytes), entry.key).toBe(entry.format);
        const image = await decode(entry.format as InputFormat, bytes);
        expect([image.width, image.height], entry.key).toEqual([entry.width, entry.height]);
        decoded++;
        expectedOutputs.add(entry.key);
        const path = join(decodeDir, entry.key);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, bytes);
      }
    }
    // Nothing else: no stray or half output set, no quarantine record for an image.
    expect([...outputs.keys()].sort()).toEqual([...expectedOutputs].sort());
    expect([...quarantined.keys()].sort()).toEqual([...expectedQuarantine].sort());

    // 2. Write order as the server saw it: each manifest after every output it lists.
    const okWrites = proxy.writes.slice(writesFrom).filter((w) => w.status === 200);
    let manifestsChecked = 0;
    for (const write of okWrites) {
      if (write.bucket !== OUTPUT || !write.key.startsWith('manifests/')) continue;
      const sourceKey = write.key.slice('manifests/'.length, -'.json'.length);
      const manifest = await readJson<Manifest>(OUTPUT, write.key);
      for (const entry of manifest.outputs) {
        const written = okWrites.find(
          (w) => w.bucket === OUTPUT && w.key === entry.key && w.method === 'PUT' && w.seq < write.seq,
        );
        expect(written, `${entry.key} written before the manifest of ${sourceKey}`).toBeDefined();
      }
      manifestsChecked++;
    }
    expect(manifestsChecked).toBeGreaterThanOrEqual(finalSources.filter((s) => !s.reason).length);

    // 3. No source modified: same bytes and ETags, and no write ever sent to the source bucket.
    expect(await sourceSnapshot(finalSources.map((s) => s.key))).toEqual(sourcesBefore);
    expect(proxy.writes.filter((w) => w.bucket === SOURCE)).toEqual([]);

    // 4. Every event again (another order, faults still on): nothing written, every source a
    // duplicate, the quarantined ones too (counted and announced once, by the first delivery).
    const again = [...events].reverse();
    const second = await deliver(again, handler);
    const secondStatuses = statuses(second.results);
    for (const [i, event] of again.entries()) {
      const key = decodeURIComponent(event.Records[0]!.s3.object.key.replaceAll('+', ' '));
      expect(secondStatuses[i], key).toBe('duplicate');
    }
    const outputWrites = proxy.writes.slice(writesAfterFirst).filter((w) => w.bucket === OUTPUT);
    expect(outputWrites).toEqual([]);
    expect(await listAll(OUTPUT)).toEqual(outputs);
    // An invalid file is read and inspected again, and found quarantined already: nothing written.
    expect(proxy.writes.slice(writesAfterFirst).filter((w) => w.bucket === QUARANTINE)).toEqual([]);
    expect(await listAll(QUARANTINE)).toEqual(quarantined);
    for (const source of finalSources.filter((s) => s.reason)) {
      const { quarantinedAt: _, ...record } = await readJson<QuarantineRecord>(
        QUARANTINE,
        layout.quarantineKeys(source.key).reason,
      );
      expect(record).toEqual(reasonRecords.get(source.key));
    }

    // 5. Privacy: no output carries EXIF, GPS, XMP or an ICC profile (the README's promise).
    if (hasTool('exiftool')) {
      const tags = metadataTagsUnder(decodeDir);
      expect(tags.size).toBe(expectedOutputs.size - finalSources.filter((s) => !s.reason).length);
      const carrying = [...tags].filter(([, found]) => found.length > 0);
      expect(carrying).toEqual([]);
    }

    const secondOutcomes = count(secondStatuses);
    const list = (counts: Record<string, number>) =>
      Object.entries(counts)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(', ');
    const table: [string, string][] = [
      [
        'events',
        `${events.length} for ${SOURCES} sources (${SOURCES - invalidCount} images, ${invalidCount} invalid), then all ${again.length} again`,
      ],
      ['outcomes, first delivery', list(firstOutcomes)],
      ['outcomes, second delivery', `${list(secondOutcomes)}; objects written 0`],
      ['duplicates suppressed', String((firstOutcomes.duplicate ?? 0) + (secondOutcomes.duplicate ?? 0))],
      [
        'faults injected',
        `${list(proxy.injected)} (seed ${SEED}, share ${SHARE} of ${proxy.counts.requests} requests)`,
      ],
      [
        'retries',
        `SDK ${proxy.counts.sdkRetries}; Lambda ${first.retries + second.retries} of ${first.invocations + second.invocations} invocations; dead-lettered and redriven ${first.deadLettered + second.deadLettered}`,
      ],
      ['checked', `${decoded} outputs decoded, ${manifestsChecked} manifests written after their outputs`],
    ];
    console.log(
      `\nFaults and load (test/integration/faults.test.ts)\n${table.map(([k, v]) => `  ${k.padEnd(26)} ${v}`).join('\n')}\n`,
    );
  });
});
