import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { ImgpipeError, INVALID_REASONS } from '../../src/core/errors.ts';
import { BucketLayout } from '../../src/core/layout.ts';
import { createEncoder } from '../../src/pipeline/encoder-pool.ts';
import { processObject } from '../../src/pipeline/process-object.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import {
  type CaseLine,
  DEFAULT_CASES,
  DEFAULT_MEMORY_MB,
  DEFAULT_SEED,
  type FuzzCase,
  fuzzCase,
  fuzzSeeds,
  type Summary,
} from './fuzz.ts';

/**
 * The fuzz run's child process (started by test/integration/fuzz.test.ts, or by hand:
 * `node test/support/fuzz-child.ts`): every case through processObject with folder storage, one
 * JSON line per case started and ended on stdout, then a summary line. Its own process, so its peak
 * RSS is the pipeline's and a crash or a hang is seen by the parent, which names the last case
 * started.
 *
 * Environment: IMGPIPE_FUZZ_SEED (default 20261130), IMGPIPE_FUZZ_CASES (default 2000),
 * IMGPIPE_FUZZ_ONLY (comma-separated case indexes, to replay some), IMGPIPE_FUZZ_MEMORY_MB (the
 * memory budget the pipeline checks each image against; default 512), IMGPIPE_FUZZ_WORKERS (encoder
 * threads; default 1, encoding in the pipeline's thread).
 */

const env = process.env;
const seed = Number(env.IMGPIPE_FUZZ_SEED ?? DEFAULT_SEED);
const count = Number(env.IMGPIPE_FUZZ_CASES ?? DEFAULT_CASES);
const memoryMb = Number(env.IMGPIPE_FUZZ_MEMORY_MB ?? DEFAULT_MEMORY_MB);
const workers = Number(env.IMGPIPE_FUZZ_WORKERS ?? 1);
for (const [name, value] of Object.entries({ seed, count, memoryMb, workers }))
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`Expected a whole number for ${name}, got ${value}`);
const only = env.IMGPIPE_FUZZ_ONLY?.split(',').map(Number);

// Two small variants (one a cover crop) in every output format: the plan, resize and each encoder
// run on every image that gets that far, and cost milliseconds on the seeds' few hundred pixels.
// The time budget is lowered from 60 s so that a slow case is seen (as too-slow) within the run.
const config = parsePipelineConfig(
  {
    variants: [
      { name: 'small', width: 64 },
      { name: 'thumb', width: 24, height: 24, fit: 'cover' },
    ],
    formats: { jpeg: {}, webp: {}, avif: {}, png: {} },
    limits: { maxSecondsPerImage: 20 },
  },
  'fuzz',
  { memory: { mb: memoryMb, source: 'IMGPIPE_FUZZ_MEMORY_MB' } },
);
const layout = new BucketLayout(config, 'quarantine/');
// Encodes in this thread (the function below 1.5 CPUs), or in a pool of worker threads.
const encoder = await createEncoder(workers, config.formats);

const emit = (line: CaseLine | { summary: Summary }) => process.stdout.write(`${JSON.stringify(line)}\n`);
const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

const seeds = await fuzzSeeds();

/** One case: its outcome, and whether the records that outcome promises are there (and only they). */
async function run(
  c: FuzzCase,
): Promise<{ status: string; reason?: string; message?: string; problem?: string }> {
  const root = mkdtempSync(join(tmpdir(), 'imgpipe-fuzz-'));
  try {
    const source = new FsStorage(join(root, 'source'));
    const output = new FsStorage(join(root, 'output'));
    const quarantine = new FsStorage(join(root, 'quarantine'));
    await source.put(c.key, c.bytes, { contentType: 'application/octet-stream' });
    let outcome: Awaited<ReturnType<typeof processObject>>;
    try {
      outcome = await processObject(
        { bucket: 'source', key: c.key },
        { config, layout, source: () => source, output, quarantine, encoder },
      );
    } catch (error) {
      const text =
        error instanceof ImgpipeError
          ? `${error.name} ${error.code}: ${error.message}`
          : error instanceof Error
            ? `${error.name}: ${error.message}`
            : String(error);
      return { status: 'failed', message: text, problem: `failed: ${text}` };
    }
    const after = await source.get(c.key);
    if (md5(after.body) !== md5(c.bytes))
      return { status: outcome.status, problem: 'the source was modified' };
    const manifest = await output.head(layout.manifestKey(c.key));
    const keys = layout.quarantineKeys(c.key);
    const record = await quarantine.head(keys.reason);
    if (outcome.status === 'processed') {
      if (!manifest || record)
        return { status: 'processed', problem: 'processed without a manifest, or with a quarantine record' };
      return { status: 'processed' };
    }
    if (outcome.status === 'quarantined') {
      const copy = await quarantine.get(keys.object).catch(() => undefined);
      const problem = !INVALID_REASONS.includes(outcome.reason)
        ? `unknown reason ${outcome.reason}`
        : !record || !copy || md5(copy.body) !== md5(c.bytes)
          ? 'quarantined without its record or an exact copy'
          : manifest
            ? 'quarantined and a manifest written'
            : !outcome.message || /\[object Object\]/.test(outcome.message)
              ? `unreadable message ${JSON.stringify(outcome.message)}`
              : undefined;
      return {
        status: 'quarantined',
        reason: outcome.reason,
        message: outcome.message,
        ...(problem && { problem }),
      };
    }
    return { status: outcome.status, problem: `unexpected outcome ${outcome.status}` };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const outcomes: Record<string, number> = {};
const failures: { index: number; name: string; problem: string }[] = [];
let slowest = { name: '', ms: -1 };
const indexes = only ?? Array.from({ length: count }, (_, i) => i);
for (const index of indexes) {
  const c = fuzzCase(seed, index, seeds);
  emit({ start: index, name: c.name, bytes: c.bytes.length });
  const started = performance.now();
  const result = await run(c);
  const ms = Math.round(performance.now() - started);
  const label = result.reason ? `${result.status}/${result.reason}` : result.status;
  outcomes[label] = (outcomes[label] ?? 0) + 1;
  if (result.problem) failures.push({ index, name: c.name, problem: result.problem });
  if (ms > slowest.ms) slowest = { name: c.name, ms };
  emit({ end: index, status: result.status, reason: result.reason, message: result.message, ms });
}
await encoder.close();
emit({
  summary: {
    seed,
    cases: indexes.length,
    outcomes,
    failures,
    slowest,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    memoryMb,
  },
});
