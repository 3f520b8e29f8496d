import { describe, expect, it } from 'vitest';
import {
  deriveProvisionedConcurrency,
  deriveTimeout,
  fitMaxPixels,
  MAX_TIMEOUT_SECONDS,
  MIN_BYTES_PER_PIXEL,
  requiredTimeout,
  slowestAtPixels,
} from '../../../../bench/sweep/derive.ts';
import { decodeCost, MAX_DECODE_BYTES_PER_PIXEL } from '../../../../src/codecs/memory.ts';
import { Deadline } from '../../../../src/pipeline/deadline.ts';

describe('deriveTimeout', () => {
  it('is the slowest invocation times the margin, rounded up to a second', () => {
    expect(deriveTimeout(6043, 3)).toBe(19);
    expect(deriveTimeout(20_000, 2.5)).toBe(50);
  });

  it('is at least 10 s and at most the 110 s the deployment accepts', () => {
    expect(deriveTimeout(100, 3)).toBe(10);
    expect(MAX_TIMEOUT_SECONDS).toBe(110);
    expect(deriveTimeout(400_000, 3)).toBe(110);
    expect(requiredTimeout(400_000, 3)).toBe(1200);
  });

  it("leaves the slowest invocation its time before the function's deadline, whatever the margin", () => {
    // The function's deadline in an invocation of the derived timeout (src/pipeline/deadline.ts),
    // for a cold invocation of 1 s of init and then processImage: processImage must fit before it.
    for (const [initMs, processMs] of [
      [1000, 20_000],
      [500, 5_000],
      [2000, 60_000],
      [300, 9_000],
    ] as const) {
      for (const margin of [1, 1.2, 1.5]) {
        const timeout = deriveTimeout(initMs + processMs, margin);
        const now = 0;
        const deadline = new Deadline({
          maxSeconds: 900,
          invocationEndsAt: now + timeout * 1000 - initMs,
          now,
        });
        deadline.dispose();
        expect(
          deadline.limitMs,
          `${initMs} + ${processMs} ms, margin ${margin}: ${timeout} s`,
        ).toBeGreaterThanOrEqual(processMs);
      }
    }
    // 21 s with margin 1: 21 s + 5 s of reserve.
    expect(requiredTimeout(21_000, 1)).toBe(26);
    // A short one: a third of it (the quarter of what remains), not 5 s.
    expect(requiredTimeout(9_300, 1)).toBe(13);
  });
});

describe('slowestAtPixels', () => {
  it('extends the slowest invocation per image to the pixel limit along a line on or above every image', () => {
    // 1 s per MP from 2 s, with the 6 MP image 1 s above the line through the others.
    const points = [
      { pixels: 1e6, slowestMs: 3000 },
      { pixels: 6e6, slowestMs: 9000 },
      { pixels: 11e6, slowestMs: 13_000 },
    ];
    const extrapolated = slowestAtPixels(points, 50e6);
    expect(extrapolated).toBeGreaterThan(13_000);
    for (const p of points) expect(extrapolated).toBeGreaterThanOrEqual(p.slowestMs);
    // Least squares slope 1000 ms/MP, raised to pass through the 6 MP image: 9 s + 44 MP x 1 s = 53 s.
    expect(extrapolated).toBeCloseTo(9000 + 1000 * (50 - 6), 6);
  });

  it('is the slowest measured where larger images are not slower', () => {
    const falling = [
      { pixels: 1e6, slowestMs: 4000 },
      { pixels: 16e6, slowestMs: 3000 },
    ];
    expect(slowestAtPixels(falling, 60e6)).toBe(4000);
    expect(slowestAtPixels([], 60e6)).toBe(0);
  });

  it('without a line, scales each image in proportion to its pixels up to the limit, never below it', () => {
    // One input (one --event-object): 16 MP in 3 s, so 60 MP may take 11.25 s, not 3.
    expect(slowestAtPixels([{ pixels: 16e6, slowestMs: 3000 }], 60e6)).toBeCloseTo(11_250, 6);
    // A limit below the input (it was raised to the input's own pixels, or the input is larger).
    expect(slowestAtPixels([{ pixels: 16e6, slowestMs: 3000 }], 16e6)).toBe(3000);
    // Inputs of 1.0 and 1.5 MP: no line (their content decides which is slower), and the 1.0 MP
    // one is the slower per pixel: 12 s x 60.
    const narrow = [
      { pixels: 1.0e6, slowestMs: 12_000 },
      { pixels: 1.5e6, slowestMs: 14_200 },
    ];
    expect(slowestAtPixels(narrow, 60e6)).toBeCloseTo(720_000, 6);
    // Two inputs of one size: no line either.
    const same = [
      { pixels: 2e6, slowestMs: 1000 },
      { pixels: 2e6, slowestMs: 1500 },
    ];
    expect(slowestAtPixels(same, 24e6)).toBeCloseTo(18_000, 6);
  });
});

describe('deriveProvisionedConcurrency', () => {
  it('is ceil(requests per second x p95 seconds x 1.1)', () => {
    expect(deriveProvisionedConcurrency(100, 500)).toBe(55);
    expect(deriveProvisionedConcurrency(3, 1234)).toBe(Math.ceil(3 * 1.234 * 1.1));
  });

  it('does not add one for floating-point noise', () => {
    // 2 x 0.5 x 1.1 is 1.1000000000000003 in binary floating point.
    expect(deriveProvisionedConcurrency(2, 500)).toBe(2);
    expect(deriveProvisionedConcurrency(10, 1000)).toBe(11);
  });

  it('is 0 without traffic', () => {
    expect(deriveProvisionedConcurrency(0, 5000)).toBe(0);
  });
});

describe('fitMaxPixels', () => {
  // A line of 60 bytes per pixel (57.22 MiB/MP) from 200 MiB: steeper than the floor.
  const slope = 60 / (1024 * 1024);
  const points = [1e6, 2e6, 16e6].map((pixels) => ({ pixels, rssMb: 200 + slope * pixels }));

  it('solves the fitted line for the memory budget and rounds down to whole megapixels', () => {
    const { maxPixels, fit } = fitMaxPixels(points, 1024, 0.15, 1e6);
    // (1024 x 0.85 - 200) / slope = 11.72 MP -> 11 MP.
    expect(fit.kind).toBe('fit');
    if (fit.kind !== 'fit') return;
    expect(fit.interceptMb).toBeCloseTo(200, 6);
    expect(MIN_BYTES_PER_PIXEL).toBeLessThan(60);
    expect(fit.slopeMbPerMp).toBeCloseTo(60 / 1.048576, 6);
    expect(fit.budgetMb).toBeCloseTo(870.4, 6);
    expect(fit.rawPixels / 1e6).toBeCloseTo(11.72, 1);
    expect(maxPixels).toBe(11_000_000);
  });

  it('keeps the result between 1 MP and 100 MP', () => {
    expect(fitMaxPixels(points, 10240, 0.15, 1e6).maxPixels).toBe(100_000_000);
    expect(fitMaxPixels(points, 230, 0.15, 1e6).maxPixels).toBe(1_000_000);
  });

  it('does not let the corpus make the slope shallower than the worst format measured', () => {
    // The costliest decode of the codecs' memory table, so a JPEG corpus cannot lower it.
    expect(MIN_BYTES_PER_PIXEL).toBe(Math.ceil(MAX_DECODE_BYTES_PER_PIXEL));
    expect(MIN_BYTES_PER_PIXEL).toBeGreaterThan(
      decodeCost('jpeg', { bitDepth: 8, channels: 3 }).bytesPerPixel,
    );
    const flat = [
      { pixels: 1e6, rssMb: 300 },
      { pixels: 2e6, rssMb: 300.5 },
      { pixels: 3e6, rssMb: 301 },
    ];
    const { fit } = fitMaxPixels(flat, 2048, 0.15, 1e6);
    if (fit.kind !== 'fit') throw new Error('expected a fit');
    expect(fit.fittedSlopeMbPerMp).toBeCloseTo(0.5, 6);
    expect(fit.slopeMbPerMp).toBeCloseTo((MIN_BYTES_PER_PIXEL * 1e6) / (1024 * 1024), 6);
    // With the floor's slope the line passes through the highest point (1 MP, 300 MiB) and lies
    // above the others.
    expect(fit.interceptMb + fit.slopeMbPerMp * 1).toBeCloseTo(300, 6);
    for (const p of flat)
      expect(fit.interceptMb + (fit.slopeMbPerMp * p.pixels) / 1e6).toBeGreaterThanOrEqual(p.rssMb);
  });

  it('falls back, with the reason, when there is no line to fit', () => {
    const one = fitMaxPixels([{ pixels: 16e6, rssMb: 500 }], 1024, 0.15, 15_000_000);
    expect(one.maxPixels).toBe(15_000_000);
    expect(one.fit).toEqual({ kind: 'fallback', reason: expect.stringMatching(/two sizes/) });
    const same = fitMaxPixels(
      [
        { pixels: 4e6, rssMb: 300 },
        { pixels: 4e6, rssMb: 310 },
      ],
      1024,
      0.15,
      4e6,
    );
    expect(same.fit).toEqual({ kind: 'fallback', reason: expect.stringMatching(/same pixel count/) });
  });

  it('gives a line that does not rise the floor slope, above every point', () => {
    const falling = fitMaxPixels(
      [
        { pixels: 1e6, rssMb: 400 },
        { pixels: 9e6, rssMb: 300 },
      ],
      1024,
      0.15,
      9e6,
    );
    if (falling.fit.kind !== 'fit') throw new Error('expected a fit');
    expect(falling.fit.fittedSlopeMbPerMp).toBeLessThan(0);
    expect(falling.fit.slopeMbPerMp).toBeCloseTo((MIN_BYTES_PER_PIXEL * 1e6) / (1024 * 1024), 6);
    // Through (1 MP, 400 MiB) at the floor's slope: 1 MP + (870.4 - 400) / slope, whole MP.
    const slope = (MIN_BYTES_PER_PIXEL * 1e6) / (1024 * 1024);
    expect(falling.maxPixels).toBe(Math.floor(1 + (870.4 - 400) / slope) * 1e6);
  });
});
