import { describe, expect, it, vi } from 'vitest';
import { main } from '../../../bench/suites/main.ts';
import {
  type Sample,
  type TransformSamples,
  transformMapping,
  transformRatios,
  transformRows,
  verdicts,
} from '../../../bench/suites/transform.ts';

/**
 * The pure parts of the on-demand transformation suite (bench/suites/transform.ts): percentiles per
 * path, the hit / miss and miss / sharp ratios, the verdict lines, and the --only flag. Nothing is
 * timed here; the numbers are made up.
 */
const samples = (wall: number[], cpu = wall): Sample[] => wall.map((w, i) => ({ wallMs: w, cpuMs: cpu[i]! }));

function webp(): TransformSamples {
  return {
    format: 'webp',
    // 20 runs: nearest-rank p50 is the 10th value, p95 the 19th.
    miss: samples(Array.from({ length: 20 }, (_, i) => 100 + i)),
    hit: samples(Array.from({ length: 20 }, (_, i) => 1 + i / 10)),
    codecs: samples(
      Array.from({ length: 20 }, (_, i) => 80 + i),
      Array.from({ length: 20 }, (_, i) => 70 + i),
    ),
    sharp: samples(
      Array.from({ length: 20 }, (_, i) => 50 + i),
      Array.from({ length: 20 }, (_, i) => 40 + i),
    ),
    read: samples(Array.from({ length: 20 }, () => 7)),
    bytes: { imgpipe: 1000, sharp: 990 },
  };
}

describe('transform bench: rows and ratios', () => {
  it('gives p50 and p95 per path, by nearest rank, with the bytes of each peer', () => {
    const rows = transformRows([webp()]);
    expect(rows.map((r) => r.path)).toEqual(['miss', 'hit', 'codecs', 'sharp', 'read']);
    const [miss, hit, codecs, sharp, read] = rows;
    expect(miss).toMatchObject({ runs: 20, wallP50: 109, wallP95: 118, bytes: 1000 });
    // processImage alone makes the miss's bytes.
    expect(codecs).toMatchObject({ runs: 20, wallP50: 89, wallP95: 98, cpuP50: 79, cpuP95: 88, bytes: 1000 });
    expect(hit!.wallP50).toBeCloseTo(1.9);
    expect(hit!.wallP95).toBeCloseTo(2.8);
    expect(hit!.bytes).toBeUndefined();
    expect(sharp).toMatchObject({ wallP50: 59, cpuP50: 49, cpuP95: 58, bytes: 990 });
    expect(read).toMatchObject({ wallP50: 7, wallP95: 7 });
  });

  it('divides hit by miss and miss by sharp, per format, and judges them', () => {
    const ratios = transformRatios(transformRows([webp()]));
    expect(ratios).toHaveLength(1);
    const [r] = ratios;
    expect(r!.hitOverMiss).toBeCloseTo(1.9 / 109);
    expect(r!.hitOverMissP95).toBeCloseTo(2.8 / 118);
    expect(r!.missOverSharp).toBeCloseTo(109 / 59);
    expect(r!.missOverSharpCpu).toBeCloseTo(109 / 49);
    // The codecs' floor: processImage alone against sharp, beside the miss's ratio.
    expect(r!.codecsOverSharp).toBeCloseTo(89 / 59);
    expect(r!.codecsOverSharpCpu).toBeCloseTo(79 / 49);
    const [hitLine, missLine] = verdicts(ratios, { wall: 1.9, cpu: 2.0 });
    expect(hitLine).toContain('target under 5.0%: met');
    expect(missLine).toContain('met in wall time');
    expect(missLine).toContain('NOT met in CPU time');
    expect(missLine).toContain(
      `processImage alone / sharp ${(89 / 59).toFixed(2)} wall, ${(79 / 49).toFixed(2)} CPU`,
    );
    expect(verdicts(ratios)[1]).toContain('bench/README.md');
  });

  it('splits the storage calls off the miss and the hit when they were timed', () => {
    const withStorage = (values: readonly Sample[], storageMs: number) =>
      values.map((v) => ({ ...v, storageMs }));
    const base = webp();
    const split = { ...base, miss: withStorage(base.miss, 9), hit: withStorage(base.hit, 1.5) };
    const rows = transformRows([split]);
    expect(rows[0]).toMatchObject({ storageP50: 9, ownP50: 100 });
    expect(rows[1]!.ownP50).toBeCloseTo(0.4);
    expect(rows[2]!.ownP50).toBeUndefined();
    expect(rows[3]!.ownP50).toBeUndefined();
    expect(transformRatios(rows)[0]!.hitOverMissOwn).toBeCloseTo(0.4 / 100);
    expect(transformRatios(transformRows([base]))[0]!.hitOverMissOwn).toBeUndefined();
  });

  it('leaves the codecs-alone ratio out when there is no processImage row (an older bench.json)', () => {
    const rows = transformRows([webp()]).filter((r) => r.path !== 'codecs');
    const [r] = transformRatios(rows);
    expect(r!.missOverSharpCpu).toBeCloseTo(109 / 49);
    expect(r!.codecsOverSharp).toBeUndefined();
    expect(r!.codecsOverSharpCpu).toBeUndefined();
    expect(verdicts([r!])[1]).not.toContain('processImage alone');
  });

  it('says NOT met when a hit costs 5% of a miss or more', () => {
    const slow = { ...webp(), hit: samples(Array.from({ length: 20 }, () => 6)) };
    expect(verdicts(transformRatios(transformRows([slow])))[0]).toContain('NOT met');
  });

  it('maps the resize, WebP and AVIF settings to sharp (no JPEG row)', () => {
    expect(transformMapping(8).map((r) => r.setting)).toEqual(['resize', 'WebP', 'AVIF']);
    expect(transformMapping(8)[2]!.sharp).toContain('effort 1');
  });
});

describe('npm run bench -- --only', () => {
  it('checks --corpus before any suite runs, naming the flag and the value', async () => {
    // A mistyped corpus was found by the pipeline suite, after the micro-benchmarks had run for
    // minutes, and ended the run with a stack trace; an empty one was the working directory.
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const [corpus, expected] of [
        ['/nonexistent/photoz', 'an existing folder or image file'],
        ['', 'a folder or image file'],
      ] as const) {
        stderr.mockClear();
        expect(await main(['--corpus', corpus, '--only', 'pipeline'])).toBe(2);
        const [first] = stderr.mock.calls
          .map((c) => String(c[0]))
          .join('')
          .split('\n');
        expect(first).toBe(
          `npm run bench: Expected ${expected} for --corpus but received ${JSON.stringify(corpus)} of type string`,
        );
      }
      stderr.mockClear();
      expect(await main(['--out', ' ', '--only', 'transform'])).toBe(2);
      expect(String(stderr.mock.calls[0]?.[0])).toContain('Expected a folder for --out but received " "');
    } finally {
      stderr.mockRestore();
    }
  });

  it('exits with 2 and one line naming the flag and the value for an unknown suite', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--only', 'transfrom'])).toBe(2);
      const text = stderr.mock.calls.map((c) => String(c[0])).join('');
      const [first] = text.split('\n');
      expect(first).toContain('--only');
      expect(first).toContain('transfrom');
      expect(first).toContain('transform');
    } finally {
      stderr.mockRestore();
    }
  });
});
