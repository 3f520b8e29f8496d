import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { IMAGE_ENV } from '../../src/core/runtime.ts';
import { REPO_ROOT } from '../support/cli.ts';
import {
  type CaseLine,
  DEFAULT_CASES,
  DEFAULT_MEMORY_MB,
  DEFAULT_SEED,
  type Summary,
} from '../support/fuzz.ts';

/**
 * The fuzz test of issue 10: a fixed seed, 2,000 hostile inputs built from small files of every
 * supported format (test/support/fuzz.ts), each through processObject in a child process
 * (test/support/fuzz-child.ts). Every case must end in exactly one recorded outcome, processed or
 * quarantined with a listed reason; `failed`, a crash or a hang fails the test, naming the case.
 *
 * Another seed, more cases, or some cases again:
 *   IMGPIPE_FUZZ_SEED=7 IMGPIPE_FUZZ_CASES=20000 npx vitest run test/integration/fuzz.test.ts
 *   IMGPIPE_FUZZ_SEED=7 IMGPIPE_FUZZ_ONLY=123,456 npx vitest run test/integration/fuzz.test.ts
 * and with encodes in a pool of worker threads, as the function has above 1.5 CPUs (with the
 * memory such a function has: two workers' baseline and encodes alone take about 540 MiB):
 *   IMGPIPE_FUZZ_WORKERS=2 IMGPIPE_FUZZ_MEMORY_MB=2048 npx vitest run test/integration/fuzz.test.ts
 */

const seed = process.env.IMGPIPE_FUZZ_SEED ?? String(DEFAULT_SEED);
const cases = process.env.IMGPIPE_FUZZ_CASES ?? String(DEFAULT_CASES);
const only = process.env.IMGPIPE_FUZZ_ONLY;
const memoryMb = Number(process.env.IMGPIPE_FUZZ_MEMORY_MB ?? DEFAULT_MEMORY_MB);
const which = only ? `cases ${only}` : `each of ${cases} hostile inputs`;
const MiB = 1024 * 1024;

/**
 * The peak RSS the run may reach: the memory budget the child's pipeline checks every image
 * against (IMGPIPE_FUZZ_MEMORY_MB, 512 MiB by default). The pipeline's estimate of an image's peak already contains the warm
 * runtime (Node, the compiled codecs and their heaps: 290 MiB, codecs/memory.ts), so a process
 * that keeps the README's promise (an image whose estimate is over the memory the function has is
 * quarantined as over-memory-budget before it is decoded) never goes past its budget, whatever a
 * header claims; the child's own share (the seeds, one case's bytes, the counts) is a few MiB.
 * 512 MiB rather than a larger function's 1-2 GiB: the bound is tighter, and header patches then
 * reach the over-memory-budget refusal (a 16384-pixel-tall lossless WebP needs about 630 MiB).
 * Measured here with the default seed: about 280 MiB.
 */
const RSS_BOUND_BYTES = memoryMb * MiB;

/** No case is that slow (the child's time budget per image is 20 s): no line for this long is a hang. */
const STALL_MS = 120_000;
/** The whole run: generous against the ~2-3 minutes it takes on 2 busy cores. */
const OVERALL_MS = 20 * 60_000;

interface Run {
  readonly summary?: Summary;
  readonly lastStarted?: string;
  readonly error?: string;
  readonly stderr: string;
}

function runChild(): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${REPO_ROOT}test/support/fuzz-child.ts`], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...IMAGE_ENV,
        IMGPIPE_FUZZ_SEED: seed,
        IMGPIPE_FUZZ_CASES: cases,
        IMGPIPE_FUZZ_MEMORY_MB: String(memoryMb),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let summary: Summary | undefined;
    let lastStarted: string | undefined;
    let stderr = '';
    let error: string | undefined;
    const kill = (why: string) => {
      error ??= why;
      child.kill('SIGKILL');
    };
    let stall = setTimeout(() => kill(`no progress for ${STALL_MS / 1000} s (a hang)`), STALL_MS);
    const overall = setTimeout(() => kill(`the run took over ${OVERALL_MS / 60_000} min`), OVERALL_MS);
    child.stderr!.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-20_000);
    });
    createInterface({ input: child.stdout! }).on('line', (text) => {
      clearTimeout(stall);
      stall = setTimeout(() => kill(`no progress for ${STALL_MS / 1000} s (a hang)`), STALL_MS);
      const line = JSON.parse(text) as CaseLine | { summary: Summary };
      if ('summary' in line) summary = line.summary;
      else if ('start' in line) lastStarted = `${line.name} (${line.bytes} bytes)`;
      else if (line.status === 'failed')
        console.error(`fuzz case ${line.end} of seed ${seed} failed: ${line.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(stall);
      clearTimeout(overall);
      if (!summary) error ??= `the child ended (code ${code}, signal ${signal}) before its summary`;
      resolve({ summary, lastStarted, error, stderr });
    });
  });
}

describe('the pipeline under fuzzed input', () => {
  it(`ends ${which} (seed ${seed}) in one recorded outcome, within ${memoryMb} MiB`, {
    timeout: OVERALL_MS + 60_000,
  }, async () => {
    const run = await runChild();
    if (run.error) {
      throw new Error(
        `${run.error}; last case started: ${run.lastStarted ?? 'none'} (replay: IMGPIPE_FUZZ_SEED=${seed} IMGPIPE_FUZZ_ONLY=<its index>)\n${run.stderr}`,
      );
    }
    const summary = run.summary!;
    const byOutcome = Object.entries(summary.outcomes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([outcome, n]) => `  ${outcome.padEnd(36)} ${n}`)
      .join('\n');
    console.log(
      [
        `fuzz: seed ${summary.seed}, ${summary.cases} cases`,
        byOutcome,
        `slowest: ${summary.slowest.name} (${summary.slowest.ms} ms)`,
        `peak RSS: ${(summary.peakRssBytes / MiB).toFixed(0)} MiB (bound ${RSS_BOUND_BYTES / MiB} MiB)`,
      ].join('\n'),
    );
    const failures = summary.failures.map(
      (f) =>
        `case ${f.index} (IMGPIPE_FUZZ_SEED=${summary.seed} IMGPIPE_FUZZ_ONLY=${f.index}) ${f.name}: ${f.problem}`,
    );
    expect(failures).toEqual([]);
    expect(summary.cases).toBe(only ? only.split(',').length : Number(cases));
    expect(Object.values(summary.outcomes).reduce((a, b) => a + b, 0)).toBe(summary.cases);
    expect(summary.outcomes.failed ?? 0).toBe(0);
    expect(summary.peakRssBytes).toBeLessThan(RSS_BOUND_BYTES);
  });
});
