import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { type Column, renderTable } from '../../src/cli/table.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { loadTransformConfig } from '../../src/config/transform.ts';
import { createTransformHandler, oneVariant, type TransformLogEntry } from '../../src/handlers/transform.ts';
import { parseQuery, parseRequest, resultSpec, signUrl } from '../../src/handlers/transform-request.ts';
import { Deadline } from '../../src/pipeline/deadline.ts';
import { inThreadEncoder, processImage } from '../../src/pipeline/process-image.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import type { Storage } from '../../src/storage/types.ts';
import { J1_INPUT, j1Document, sharpSettings } from '../lib/jobs.ts';
import { type SettingRow, settingsMapping } from '../lib/peers.ts';
import { startS3Process } from '../lib/s3rver-process.ts';
import { percentile } from '../sweep/stats.ts';

/**
 * The on-demand transformation path (issue 13, "Speed"): the real index.transform handler
 * (createTransformHandler) called in this process with Lambda function URL events, signed with a
 * bench key, over s3rver (the source and the results bucket), the handler's in-thread encoder (one
 * thread: one vCPU), against sharp doing the same resize and encode with one libvips thread.
 *
 * Per format (w=640&fmt=webp, w=640&fmt=avif), each run, interleaved:
 * - miss: the stored result deleted first, so the request reads the source, decodes and encodes;
 * - hit: the same request again: GET of the stored result beside the source's HEAD, base64 body, no decode
 *   (checked: the handler's decode counter does not move and it logs `cache: hit`);
 * - codecs: the handler's processImage call alone (the one variant a miss asks for, its options, a
 *   deadline, in this thread) on the source bytes already in memory: the floor a miss cannot go
 *   under, so that miss / sharp splits into the codecs' share (codecs / sharp) and the handler's
 *   glue (storage calls, SDK, the rest); checked to give the bytes the miss stored;
 * - sharp: the source bytes (already in memory) resized to 640 wide and encoded;
 * - source GET: the source read from s3rver alone, the part of a miss that sharp is not given.
 * Wall and CPU time per request, and for miss and hit the wall time inside the handler's storage
 * calls (s3rver here; network round trips to S3 in a region; concurrent calls counted once), so that the handler's own work can be
 * read apart from the storage's. s3rver runs in a process of its own (on the last CPU where there
 * are two or more), as S3 is another service: CPU time is this process's, the handler's and its
 * SDK's, not the storage server's.
 */
export const TRANSFORM_WIDTH = 640;
export const TRANSFORM_FORMATS = ['webp', 'avif'] as const;
export type TransformFormat = (typeof TRANSFORM_FORMATS)[number];
export const HIT_TARGET = 0.05;

export interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
  /** Wall time inside the handler's storage calls (HEAD, GET, PUT to s3rver), for miss and hit. */
  readonly storageMs?: number;
}

export interface TransformSamples {
  readonly format: TransformFormat;
  readonly miss: readonly Sample[];
  readonly hit: readonly Sample[];
  /** processImage alone, as a miss calls it, on the source bytes in memory: the codecs' floor. */
  readonly codecs: readonly Sample[];
  readonly sharp: readonly Sample[];
  /** The source's GET alone (through S3Storage, as the miss reads it): the part of a miss sharp is not given. */
  readonly read: readonly Sample[];
  /** Bytes of imgpipe's result and of sharp's output. */
  readonly bytes: { readonly imgpipe: number; readonly sharp: number };
}

export const TRANSFORM_PATHS = ['miss', 'hit', 'codecs', 'sharp', 'read'] as const;
export type TransformPath = (typeof TRANSFORM_PATHS)[number];

export interface TransformRow {
  readonly format: TransformFormat;
  readonly path: TransformPath;
  readonly runs: number;
  readonly wallP50: number;
  readonly wallP95: number;
  readonly cpuP50: number;
  readonly cpuP95: number;
  /** p50 of the wall time in storage calls, and of the wall time less it (miss and hit). */
  readonly storageP50?: number;
  readonly ownP50?: number;
  readonly bytes?: number;
}

export interface TransformRatios {
  readonly format: TransformFormat;
  /** hit / miss, p50 wall time (target under HIT_TARGET). */
  readonly hitOverMiss: number;
  readonly hitOverMissP95: number;
  /** hit / miss, p50 of the wall time less the storage calls: the handler's own work. */
  readonly hitOverMissOwn?: number;
  /** miss / sharp, p50 wall and CPU time (target: at most the J1 ratio). */
  readonly missOverSharp: number;
  readonly missOverSharpCpu: number;
  /**
   * processImage alone / sharp, p50 wall and CPU time: the part of miss / sharp that is the codecs'
   * (the rest is the handler's glue and its storage calls). Absent without codecs samples.
   */
  readonly codecsOverSharp?: number;
  readonly codecsOverSharpCpu?: number;
}

/** p50 and p95 (nearest rank: with 20 runs the 19th value) of each path's samples. */
export function transformRows(samples: readonly TransformSamples[]): TransformRow[] {
  return samples.flatMap((s) =>
    TRANSFORM_PATHS.map((path) => {
      const values = s[path];
      const wall = values.map((v) => v.wallMs);
      const cpu = values.map((v) => v.cpuMs);
      return {
        format: s.format,
        path,
        runs: values.length,
        wallP50: percentile(wall, 50),
        wallP95: percentile(wall, 95),
        cpuP50: percentile(cpu, 50),
        cpuP95: percentile(cpu, 95),
        ...(values.every((v) => v.storageMs !== undefined) && values.length > 0
          ? {
              storageP50: percentile(
                values.map((v) => v.storageMs!),
                50,
              ),
              ownP50: percentile(
                values.map((v) => v.wallMs - v.storageMs!),
                50,
              ),
            }
          : {}),
        ...(path === 'miss' || path === 'codecs'
          ? { bytes: s.bytes.imgpipe }
          : path === 'sharp'
            ? { bytes: s.bytes.sharp }
            : {}),
      };
    }),
  );
}

export function transformRatios(rows: readonly TransformRow[]): TransformRatios[] {
  return TRANSFORM_FORMATS.flatMap((format) => {
    const row = (path: TransformRow['path']) => rows.find((r) => r.format === format && r.path === path);
    const [miss, hit, sharp, codecs] = [row('miss'), row('hit'), row('sharp'), row('codecs')];
    if (!miss || !hit || !sharp) return [];
    return [
      {
        format,
        hitOverMiss: hit.wallP50 / miss.wallP50,
        hitOverMissP95: hit.wallP95 / miss.wallP95,
        ...(hit.ownP50 !== undefined && miss.ownP50 !== undefined
          ? { hitOverMissOwn: hit.ownP50 / miss.ownP50 }
          : {}),
        missOverSharp: miss.wallP50 / sharp.wallP50,
        missOverSharpCpu: miss.cpuP50 / sharp.cpuP50,
        ...(codecs
          ? {
              codecsOverSharp: codecs.wallP50 / sharp.wallP50,
              codecsOverSharpCpu: codecs.cpuP50 / sharp.cpuP50,
            }
          : {}),
      },
    ];
  });
}

/**
 * One line per target. The miss target is "at most the J1 ratio against sharp": J1 is not run by
 * this suite (minutes), so `j1` is the J1 ratio (imgpipe / sharp tune ssim, one CPU) the caller
 * has, or the lines point at bench/README.md's J1 table.
 */
export function verdicts(ratios: readonly TransformRatios[], j1?: { wall: number; cpu: number }): string[] {
  return ratios.flatMap((r) => {
    const own = r.hitOverMissOwn === undefined ? '' : `, ${pct(r.hitOverMissOwn)} less the storage calls`;
    const hit = `${r.format}: hit / miss ${pct(r.hitOverMiss)} at p50, ${pct(r.hitOverMissP95)} at p95${own} (target under ${pct(HIT_TARGET)}: ${r.hitOverMiss < HIT_TARGET && r.hitOverMissP95 < HIT_TARGET ? 'met' : 'NOT met'})`;
    const miss = `${r.format}: miss / sharp ${r.missOverSharp.toFixed(2)} wall, ${r.missOverSharpCpu.toFixed(2)} CPU at p50 (target at most the J1 ratio: ${
      j1
        ? `${j1.wall.toFixed(2)} wall, ${j1.cpu.toFixed(2)} CPU in this run: ${r.missOverSharp <= j1.wall ? 'met' : 'NOT met'} in wall time, ${r.missOverSharpCpu <= j1.cpu ? 'met' : 'NOT met'} in CPU time`
        : 'J1 not run in this invocation; compare with the J1 table in bench/README.md'
    })${
      r.codecsOverSharpCpu === undefined
        ? ''
        : `; processImage alone / sharp ${r.codecsOverSharp!.toFixed(2)} wall, ${r.codecsOverSharpCpu.toFixed(2)} CPU: the codecs' floor`
    }`;
    return [hit, miss];
  });
}

const pct = (ratio: number) => `${(100 * ratio).toFixed(1)}%`;

export function transformTable(rows: readonly TransformRow[], style?: 'markdown'): string {
  const ms = (value: number) => value.toFixed(value < 10 ? 1 : 0);
  const columns: Column<TransformRow>[] = [
    { header: 'format', value: (r) => r.format },
    { header: 'path', value: (r) => PATH_NAMES[r.path] },
    { header: 'runs', value: (r) => r.runs, align: 'right' },
    { header: 'wall p50 ms', value: (r) => ms(r.wallP50), align: 'right' },
    { header: 'wall p95 ms', value: (r) => ms(r.wallP95), align: 'right' },
    { header: 'CPU p50 ms', value: (r) => ms(r.cpuP50), align: 'right' },
    { header: 'CPU p95 ms', value: (r) => ms(r.cpuP95), align: 'right' },
    {
      header: 'in storage p50 ms',
      value: (r) => (r.storageP50 === undefined ? '' : ms(r.storageP50)),
      align: 'right',
    },
    {
      header: 'wall less storage p50 ms',
      value: (r) => (r.ownP50 === undefined ? '' : ms(r.ownP50)),
      align: 'right',
    },
    { header: 'bytes', value: (r) => r.bytes ?? '', align: 'right' },
  ];
  return renderTable(columns, rows, style);
}

const PATH_NAMES: Record<TransformPath, string> = {
  miss: 'miss',
  hit: 'hit',
  codecs: 'processImage alone (floor)',
  sharp: 'sharp',
  read: 'source GET (part of a miss)',
};

export function ratioTable(ratios: readonly TransformRatios[], style?: 'markdown'): string {
  const columns: Column<TransformRatios>[] = [
    { header: 'format', value: (r) => r.format },
    { header: 'hit / miss, p50', value: (r) => pct(r.hitOverMiss), align: 'right' },
    { header: 'hit / miss, p95', value: (r) => pct(r.hitOverMissP95), align: 'right' },
    {
      header: 'hit / miss less storage, p50',
      value: (r) => (r.hitOverMissOwn === undefined ? '' : pct(r.hitOverMissOwn)),
      align: 'right',
    },
    { header: 'miss / sharp, wall p50', value: (r) => r.missOverSharp.toFixed(2), align: 'right' },
    { header: 'miss / sharp, CPU p50', value: (r) => r.missOverSharpCpu.toFixed(2), align: 'right' },
    {
      header: 'codecs alone / sharp, wall p50',
      value: (r) => r.codecsOverSharp?.toFixed(2) ?? '',
      align: 'right',
    },
    {
      header: 'codecs alone / sharp, CPU p50',
      value: (r) => r.codecsOverSharpCpu?.toFixed(2) ?? '',
      align: 'right',
    },
  ];
  return renderTable(columns, ratios, style);
}

/** What each peer is told: the resize, WebP and AVIF rows of the J1 mapping (the same settings). */
export function transformMapping(avifSpeed: number): SettingRow[] {
  return settingsMapping(avifSpeed).filter((row) => row.setting !== 'JPEG');
}

const BUCKETS = { source: 'tbench-source', output: 'tbench-output' } as const;
const SOURCE_KEY = 'photos/seeding-5312x2988.jpg';
const BENCH_KEY = 'imgpipe-bench-transform-signing-key-0123456789';
const ACCEPT = 'image/avif,image/webp,*/*';

/** Runs the misses, hits and sharp, interleaved, `runs` times after one warm-up of each. */
export async function runTransformBench(runs: number): Promise<{
  samples: TransformSamples[];
  avifSpeed: number;
}> {
  const folder = mkdtempSync(join(tmpdir(), 'imgpipe-bench-transform-'));
  const s3 = await startS3Process(join(folder, 's3'), [BUCKETS.source, BUCKETS.output]);
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  try {
    const input = readFileSync(J1_INPUT);
    const source = new S3Storage(s3.client, BUCKETS.source);
    await source.put(SOURCE_KEY, input, { contentType: 'image/jpeg' });
    const config = loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: BUCKETS.output });
    // The handler runs the default document; the sharp settings are J1's, from that same document.
    const j1 = parsePipelineConfig(j1Document());
    for (const format of TRANSFORM_FORMATS) {
      if (JSON.stringify(config.pipeline.formatOptions[format]) !== JSON.stringify(j1.formatOptions[format]))
        throw new Error(`The handler's ${format} options differ from J1's: the sharp mapping would not hold`);
    }
    const avifSpeed = config.pipeline.formatOptions.avif.speed;
    let last: TransformLogEntry | undefined;
    const clock: StorageClock = { storageMs: 0, inFlight: 0, since: 0 };
    const output = new S3Storage(s3.client, BUCKETS.output);
    const timedOutput = timedStorage(output, clock);
    const handler = createTransformHandler(
      {
        config,
        sourceStorage: (bucket) => timedStorage(new S3Storage(s3.client, bucket), clock),
        output: timedOutput,
        quarantine: timedOutput,
        logger: new Logger({ serviceName: 'imgpipe-bench', logLevel: 'CRITICAL' }),
        metrics: new Metrics({ serviceName: 'imgpipe-bench', namespace: 'imgpipe-bench' }),
        // No encoder: the handler's in-thread encoder, one thread.
      },
      {
        env: { IMGPIPE_TRANSFORM_SOURCE_BUCKET: BUCKETS.source, IMGPIPE_TRANSFORM_SIGNING: 'required' },
        keys: [BENCH_KEY],
        onRequest: (entry) => {
          last = entry;
        },
      },
    );
    const { default: sharp } = await import('sharp');
    sharp.concurrency(1);
    sharp.cache(false);
    const settings = sharpSettings(avifSpeed, 'ssim');
    // What a miss gives processImage, from the request as the handler parses it (the same calls).
    const transformConfig = loadTransformConfig({
      IMGPIPE_TRANSFORM_SOURCE_BUCKET: BUCKETS.source,
      IMGPIPE_TRANSFORM_SIGNING: 'required',
    });
    const variantConfig = (format: TransformFormat) => {
      const url = signUrl('', SOURCE_KEY, { w: TRANSFORM_WIDTH, fmt: format }, BENCH_KEY);
      const query = parseQuery(url.split('?')[1]!);
      const request = parseRequest(SOURCE_KEY, query, ACCEPT, transformConfig, config.pipeline.formatOptions);
      return oneVariant(config.pipeline, resultSpec(request.spec, config.pipeline));
    };
    const codecsRun = (format: TransformFormat) => {
      const pipeline = variantConfig(format);
      return timed(async () => {
        const deadline = new Deadline({ maxSeconds: pipeline.limits.maxSecondsPerImage });
        try {
          return (await processImage(input, pipeline, inThreadEncoder, deadline)).outputs[0]!.bytes;
        } finally {
          deadline.dispose();
        }
      });
    };

    const request = async (format: TransformFormat, expect: 'hit' | 'miss') => {
      const url = signUrl('', SOURCE_KEY, { w: TRANSFORM_WIDTH, fmt: format }, BENCH_KEY);
      const [path, query] = url.split('?') as [string, string];
      const decodes = handler.stats.decodes;
      clock.storageMs = 0;
      const { result, sample: times } = await timed(() => handler(urlEvent(path, query)));
      const sample = { ...times, storageMs: clock.storageMs };
      const entry = last!;
      if (result.statusCode !== 200 || entry.cache !== expect)
        throw new Error(`${url}: ${result.statusCode} ${entry.cache}, expected 200 and a ${expect}`);
      if ((handler.stats.decodes - decodes === 0) !== (expect === 'hit'))
        throw new Error(`${url}: a ${expect} that ${expect === 'hit' ? 'decoded' : 'did not decode'}`);
      return { sample, key: entry.key!, bytes: entry.bytes!, body: result.body };
    };
    const sharpRun = (format: TransformFormat) =>
      timed(() => {
        const base = sharp(input).resize({ width: TRANSFORM_WIDTH, ...settings.resize });
        return format === 'webp' ? base.webp(settings.webp).toBuffer() : base.avif(settings.avif).toBuffer();
      });

    const samples = TRANSFORM_FORMATS.map((format) => ({
      format,
      miss: [] as Sample[],
      hit: [] as Sample[],
      codecs: [] as Sample[],
      sharp: [] as Sample[],
      read: [] as Sample[],
      bytes: { imgpipe: 0, sharp: 0 },
    }));
    const resultKeys = new Map<TransformFormat, string>();
    for (let i = 0; i <= runs; i++) {
      for (const entry of samples) {
        // A miss every run: the result the previous run stored is removed first.
        if (i > 0) await output.delete(resultKeys.get(entry.format)!);
        const miss = await request(entry.format, 'miss');
        resultKeys.set(entry.format, miss.key);
        const hit = await request(entry.format, 'hit');
        const floor = await codecsRun(entry.format);
        // The floor is the miss's own work: the same bytes as the result the miss stored (the hit's body).
        if (!hit.body || !Buffer.from(hit.body, 'base64').equals(floor.result))
          throw new Error(`${entry.format}: processImage alone did not give the bytes the miss stored`);
        const theirs = await sharpRun(entry.format);
        const read = await timed(async () => (await source.get(SOURCE_KEY)).body);
        if (i === 0) continue; // warm-up
        entry.miss.push(miss.sample);
        entry.hit.push(hit.sample);
        entry.codecs.push(floor.sample);
        entry.sharp.push(theirs.sample);
        entry.read.push(read.sample);
        entry.bytes = { imgpipe: miss.bytes, sharp: theirs.result.length };
      }
    }
    return { samples, avifSpeed };
  } finally {
    if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = previous;
    await s3.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

/**
 * One sample, started from a collected heap (`npm run bench` runs Node with --expose-gc; the
 * collection is not timed): otherwise a miss's garbage (its 1.5 MB source, the 4 MB of pixels
 * decoded at 1/4) is collected during whatever runs next, typically the hit (measured: a hit's CPU
 * 16-37 ms right after a miss, 5 ms alone). A miss's own collection is then counted nowhere, which only makes misses cheaper.
 * V8 sweeps the collected heap on background threads after gc() returns, on the same CPU when the
 * bench is pinned to one: 50 ms of quiet first, or that sweep is timed too (measured: a hit's p50
 * 25 ms wall and 19 ms CPU without the pause, 15 and 9.5 with it; 10 and 6.4 in a loop of hits).
 */
async function timed<T>(work: () => Promise<T>): Promise<{ result: T; sample: Sample }> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = await work();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { result, sample: { wallMs, cpuMs: (used.user + used.system) / 1000 } };
}

/** The pause after each gc(), for V8's background sweeping (timed()). */
const SETTLE_MS = 50;

const TIMED_CALLS: ReadonlySet<string | symbol> = new Set(['head', 'get', 'put', 'delete', 'copyFrom']);

/**
 * The storage with the wall time during which at least one of its requests is in flight added to
 * `clock.storageMs` (concurrent requests, such as a hit's GET and HEAD, count once).
 */
function timedStorage(storage: Storage, clock: StorageClock): Storage {
  return new Proxy(storage, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      if (!TIMED_CALLS.has(property)) return value.bind(object);
      return async (...args: unknown[]) => {
        if (clock.inFlight++ === 0) clock.since = performance.now();
        try {
          return await value.apply(object, args);
        } finally {
          if (--clock.inFlight === 0) clock.storageMs += performance.now() - clock.since;
        }
      };
    },
  });
}

interface StorageClock {
  storageMs: number;
  inFlight: number;
  since: number;
}

function urlEvent(path: string, query: string): LambdaFunctionURLEvent {
  const domainName = 'bench.lambda-url.us-east-1.on.aws';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers: { host: domainName, accept: ACCEPT },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName,
      domainPrefix: 'bench',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'imgpipe-bench' },
      requestId: 'bench',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}
