import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../../../../bench/sweep/cost.ts';
import { decide } from '../../../../bench/sweep/decide.ts';
import { deriveProvisionedConcurrency, MAX_PROVISIONED_CONCURRENCY } from '../../../../bench/sweep/derive.ts';
import { summariseRow } from '../../../../bench/sweep/rows.ts';
import { type Candidate, chooseMemory } from '../../../../bench/sweep/strategy.ts';
import { buildTfvars } from '../../../../bench/sweep/tfvars.ts';
import type { SweepRow } from '../../../../bench/sweep/types.ts';
import { pixelsWithinMemory } from '../../../../src/pipeline/memory-budget.ts';
import { image, pricesWith, row, run } from './helpers.ts';

const c = (memoryMb: number, cost: number, durationMs: number): Candidate => ({ memoryMb, cost, durationMs });

describe('chooseMemory', () => {
  const candidates = [c(512, 0.05, 4000), c(1024, 0.04, 1800), c(2048, 0.06, 900), c(4096, 0.1, 700)];

  it('cost: picks the cheapest', () => {
    expect(chooseMemory(candidates, 'cost')?.memoryMb).toBe(1024);
  });

  it('cost: breaks a tie in cost by speed', () => {
    expect(chooseMemory([c(1024, 0.04, 1800), c(2048, 0.04, 900)], 'cost')?.memoryMb).toBe(2048);
    // Equal up to floating-point noise counts as equal.
    expect(chooseMemory([c(1024, 0.1 + 0.2, 1800), c(2048, 0.3, 900)], 'cost')?.memoryMb).toBe(2048);
  });

  it('speed: picks the fastest, and the cheaper of two equally fast', () => {
    expect(chooseMemory(candidates, 'speed')?.memoryMb).toBe(4096);
    expect(chooseMemory([c(4096, 0.1, 700), c(6144, 0.15, 700)], 'speed')?.memoryMb).toBe(4096);
  });

  it("balanced: minimises weight x cost / max cost + (1 - weight) x duration / max duration (Power Tuning's formula)", () => {
    // 512: .5 x .5 + .5 x 1 = .75; 1024: .5 x .4 + .5 x .45 = .425; 2048: .5 x .6 + .5 x .225 = .4125;
    // 4096: .5 x 1 + .5 x .175 = .5875.
    expect(chooseMemory(candidates, 'balanced', 0.5)?.memoryMb).toBe(2048);
    expect(chooseMemory(candidates, 'balanced', 0.7)?.memoryMb).toBe(1024);
    expect(chooseMemory(candidates, 'balanced', 1)?.memoryMb).toBe(
      chooseMemory(candidates, 'cost')?.memoryMb,
    );
    expect(chooseMemory(candidates, 'balanced', 0)?.memoryMb).toBe(
      chooseMemory(candidates, 'speed')?.memoryMb,
    );
  });

  it('has nothing to choose from no candidates', () => {
    expect(chooseMemory([], 'cost')).toBeUndefined();
  });
});

describe('decide', () => {
  const summary = {
    headroom: 0.15,
    prices: pricesWith({ x86_64: 1e-5, arm64: 1e-5, requestPerMillion: 0 }),
    coldStartRate: 0,
    maxForeignCpu: 0.1,
  };
  const settings = {
    strategy: 'cost' as const,
    weight: 0.5,
    architecture: 'arm64' as const,
    requestsPerSecond: 0,
    timeoutMargin: 3,
    headroom: 0.15,
    configuredMaxPixels: 50_000_000,
    minPixels: 1_000_000,
  };
  const sized = (
    memoryMb: number,
    ms: number,
    peakRssMb: number,
    extra: Partial<SweepRow> = {},
    larger = { pixels: 11e6, addedRssMb: 100 },
  ): SweepRow => {
    const base = row({
      memoryMb,
      images: [
        image({ warm: [run(ms)], first: run(ms), peakRssMb, pixels: 1e6 }),
        image({
          image: 'b.jpg',
          warm: [run(ms)],
          first: run(ms),
          peakRssMb: peakRssMb + larger.addedRssMb,
          pixels: larger.pixels,
        }),
      ],
      ...extra,
    });
    return { ...base, stats: summariseRow(base, summary)! };
  };

  it('never chooses a size that is out of memory, even the cheapest', () => {
    const rows = [sized(512, 1000, 500), sized(1024, 1000, 300)];
    expect(rows[0]!.stats!.outOfMemory).toBe(true);
    const result = decide(rows, settings);
    expect(result.derived?.memoryMb).toBe(1024);
  });

  it('never chooses a size where an input failed', () => {
    const rows = [
      sized(1024, 1000, 300, { failures: [{ image: 'c.jpg', message: 'boom' }] }),
      sized(2048, 1000, 300),
    ];
    expect(decide(rows, settings).derived?.memoryMb).toBe(2048);
  });

  it('says why when no size is eligible', () => {
    const result = decide([sized(512, 1000, 500)], settings);
    expect(result.derived).toBeUndefined();
    expect('reason' in result && result.reason).toMatch(/out of memory/);
  });

  it('names the input that failed at every size, its error, and the sizes out of memory', () => {
    const broken = {
      image: 'photos/broken.jpg',
      message: 'InvalidImageError: The jpeg file ends at byte 103000',
    };
    const rows = [
      sized(512, 1000, 500, { failures: [broken] }),
      sized(1024, 1000, 300, { failures: [broken] }),
    ];
    const result = decide(rows, settings);
    expect(result.derived).toBeUndefined();
    const reason = 'reason' in result ? result.reason : '';
    expect(reason).toContain(
      'photos/broken.jpg failed at every size (InvalidImageError: The jpeg file ends at byte 103000)',
    );
    expect(reason).toContain('out of memory at 512 MB (peak 600 MiB above 435 MiB');
    expect(reason).not.toContain('1024 MB (peak');
  });

  it('never chooses a size whose fit is under the 1 MP floor of the pixel limit', () => {
    // At 1024 MB the fit of these peaks allows 0.6 MP: (870.4 - 840) MiB at 50 MiB/MP. Raised to the
    // 1 MP floor of max_input_pixels, it read as holding --min-pixels' 1 MP and was the cheapest.
    const small = (memoryMb: number, peakRssMb: number) => {
      const base = row({
        memoryMb,
        images: [
          image({ warm: [run(1000)], first: run(1000), peakRssMb: peakRssMb, pixels: 200_000 }),
          image({
            image: 'b.jpg',
            warm: [run(1000)],
            first: run(1000),
            peakRssMb: peakRssMb + 15,
            pixels: 500_000,
          }),
        ],
      });
      return { ...base, stats: summariseRow(base, summary)! };
    };
    const rows = [small(1024, 850), small(2048, 300)];
    expect(rows[0]!.stats!.outOfMemory).toBe(false);
    expect(decide(rows, settings).derived?.memoryMb).toBe(2048);
    const none = decide([rows[0]!], settings);
    expect('reason' in none && none.reason).toMatch(/the largest limit is 60\d,\d{3}$/);
  });

  it('chooses by the architecture asked for', () => {
    const prices = pricesWith({ x86_64: 1e-5, arm64: 1e-5, requestPerMillion: 0 });
    const a = {
      ...row({ memoryMb: 1024 }),
      stats: {
        ...summariseRow(row({ memoryMb: 1024 }), { ...summary, prices })!,
        costPer1000: { arm64: 1, x86_64: 3 },
      },
    };
    const b = {
      ...row({ memoryMb: 2048 }),
      stats: {
        ...summariseRow(row({ memoryMb: 2048 }), { ...summary, prices })!,
        costPer1000: { arm64: 2, x86_64: 2 },
      },
    };
    expect(decide([a, b], settings).derived?.memoryMb).toBe(1024);
    expect(decide([a, b], { ...settings, architecture: 'x86_64' }).derived?.memoryMb).toBe(2048);
  });

  it('passes over a cheaper size whose input limit would be below --min-pixels, and says so', () => {
    // Equal speed: 1024 MB is cheaper. Peak RSS 300 MiB at 1 MP and 400 at 11 MP; with the floor of
    // MIN_BYTES_PER_PIXEL the 1024 MB limit is ~21 MP and the 2048 MB one ~53 MP.
    const rows = [sized(1024, 1000, 300), sized(2048, 1000, 300)];
    expect(decide(rows, settings).derived?.memoryMb).toBe(1024);
    const limited = decide(rows, { ...settings, minPixels: 24_000_000 }).derived;
    expect(limited?.memoryMb).toBe(2048);
    expect(limited?.maxInputPixels).toBeGreaterThanOrEqual(24_000_000);
    expect(limited?.tooSmallForMinPixels).toEqual([1024]);
    const none = decide(rows, { ...settings, minPixels: 90_000_000 });
    expect(none.derived).toBeUndefined();
    expect('reason' in none && none.reason).toMatch(
      /^no size can take inputs of 90,000,000 pixels \(--min-pixels\)/,
    );
  });

  it('passes over a cheaper size that needs a timeout above the 110 s the deployment accepts, and says so', () => {
    // 1024 MB: init 0.5 s + 39 s cold, x 3 = 118.5 s; 2048 MB: 20.5 s x 3 = 61.5 s. 1024 MB is the
    // cheaper (1 GB x 39 s against 2 GB x 20 s).
    const rows = [sized(1024, 39_000, 300), sized(2048, 20_000, 300)];
    expect(rows[0]!.stats!.costPer1000.arm64).toBeLessThan(rows[1]!.stats!.costPer1000.arm64);
    const derived = decide(rows, settings).derived;
    expect(derived?.memoryMb).toBe(2048);
    expect(derived?.timeoutSeconds).toBe(62);
    expect(derived?.tooSlowForTimeout).toEqual([1024]);
    // With a margin of 2, 1024 MB needs 79 s and is chosen.
    const cheap = decide(rows, { ...settings, timeoutMargin: 2 }).derived;
    expect(cheap?.memoryMb).toBe(1024);
    expect(cheap?.timeoutSeconds).toBe(79);
    expect(cheap?.tooSlowForTimeout).toBeUndefined();
    const none = decide([rows[0]!], settings);
    expect(none.derived).toBeUndefined();
    expect('reason' in none && none.reason).toMatch(
      /^no size fits a timeout of 110 s, .* needs at least 119 s/,
    );
  });

  it('sets the timeout for an input of max_input_pixels, not only for the corpus', () => {
    // Slowest invocation 2.5 s at 1 MP and 12.5 s at 11 MP: 1.5 s + 1 s per MP. The memory fit lets
    // 2048 MB take 33 MP, which would take 34.5 s, not the 12.5 s of the largest image measured.
    const base = row({
      memoryMb: 2048,
      images: [
        image({ pixels: 1e6, first: run(2000), warm: [run(1000)], peakRssMb: 300 }),
        image({ image: 'b.png', pixels: 11e6, first: run(12_000), warm: [run(11_000)], peakRssMb: 400 }),
      ],
    });
    const rows = [{ ...base, stats: summariseRow(base, summary)! }];
    const { derived } = decide(rows, { ...settings, timeoutMargin: 2 });
    expect(derived?.maxInputPixels).toBe(33_000_000);
    expect(derived?.slowestMeasuredMs).toBe(12_500);
    expect(derived?.timeoutBasisMs).toBeCloseTo(34_500, 6);
    expect(derived?.timeoutSeconds).toBe(69);
  });

  it('passes over a size where an input of its max_input_pixels would outlast limits.maxSecondsPerImage', () => {
    // 1.5 s + 1 s per MP at 2048 MB, whose limit is 33 MP: 34.5 s; at 10240 MB 0.4 s + 0.25 s per MP,
    // and its 100 MP take 25.4 s. With a 30 s maxSecondsPerImage the function refuses a 33 MP input
    // at 2048 MB as too-slow, though a timeout of 69 s (margin 2) would let it run.
    const at = (memoryMb: number, perMp: number, fixed: number) => {
      const base = row({
        memoryMb,
        images: [
          image({ pixels: 1e6, first: run(fixed + perMp), warm: [run(fixed + perMp)], peakRssMb: 300 }),
          image({
            image: 'b.png',
            pixels: 11e6,
            first: run(fixed + 11 * perMp),
            warm: [run(fixed + 11 * perMp)],
            peakRssMb: 400,
          }),
        ],
      });
      return { ...base, stats: summariseRow(base, summary)! };
    };
    const rows = [at(2048, 1000, 1500), at(10240, 250, 400)];
    expect(rows[0]!.stats!.costPer1000.arm64).toBeLessThan(rows[1]!.stats!.costPer1000.arm64);
    const unchecked = decide(rows, { ...settings, timeoutMargin: 2 }).derived;
    expect(unchecked?.memoryMb).toBe(2048);
    expect(unchecked?.maxInputPixels).toBe(33_000_000);
    const { derived } = decide(rows, { ...settings, timeoutMargin: 2, maxSecondsPerImage: 30 });
    expect(derived?.memoryMb).toBe(10240);
    expect(derived?.maxInputPixels).toBe(100_000_000);
    expect(derived?.tooSlowForMaxSeconds).toEqual([2048]);
    // The default 60 s holds 2048 MB's 34.5 s.
    expect(decide(rows, { ...settings, timeoutMargin: 2, maxSecondsPerImage: 60 }).derived?.memoryMb).toBe(
      2048,
    );
    const none = decide([rows[0]!], { ...settings, timeoutMargin: 2, maxSecondsPerImage: 30 });
    expect(none.derived).toBeUndefined();
    expect('reason' in none && none.reason).toMatch(
      /limits\.maxSecondsPerImage \(30 s\).* the fastest needs 34\.5 s$/,
    );

    // --rps x p95 x 1.1 is the provisioned concurrency a size needs, and the deployment takes at most
    // 10,000: at 1,000 rps 2048 MB needs more, 10240 MB less. The cheaper size was chosen, and its
    // tuning file then refused (exit 1) though the faster one serves the rate.
    const rps = 1000;
    expect(deriveProvisionedConcurrency(rps, rows[0]!.stats!.p95Ms)).toBeGreaterThan(
      MAX_PROVISIONED_CONCURRENCY,
    );
    const needed = deriveProvisionedConcurrency(rps, rows[1]!.stats!.p95Ms);
    expect(needed).toBeLessThanOrEqual(MAX_PROVISIONED_CONCURRENCY);
    const busy = decide(rows, { ...settings, timeoutMargin: 2, requestsPerSecond: rps }).derived;
    expect(busy?.memoryMb).toBe(10240);
    expect(busy?.provisionedConcurrency).toBe(needed);
    expect(busy?.tooSlowForRps).toEqual([2048]);
    expect(() => buildTfvars(busy!)).not.toThrow();
    const unserved = decide([rows[0]!], { ...settings, timeoutMargin: 2, requestsPerSecond: rps });
    expect(unserved.derived).toBeUndefined();
    expect('reason' in unserved && unserved.reason).toBe(
      `no size serves --rps 1000 with at most 10,000 provisioned concurrency, the most the deployment accepts (terraform/modules/imgpipe): rps x p95 x 1.1 needs at least ${deriveProvisionedConcurrency(rps, rows[0]!.stats!.p95Ms).toLocaleString('en-US')}`,
    );
  });

  it('with one input, sets the timeout for the --min-pixels limit, its run in proportion to the pixels', () => {
    // One 8 MP input (one --event-object), 2.5 s cold (0.5 s of init, a 2 s run): the limit is the
    // 24 MP of --min-pixels, so a run the function admits may take 3 times as long, 6 s, after the
    // same init: 6.5 s; x margin 3 = 20 s, not 10 s.
    const base = row({
      memoryMb: 10240,
      images: [image({ width: 4000, height: 2000, pixels: 8e6, first: run(2000), warm: [run(1000)] })],
    });
    const rows = [{ ...base, stats: summariseRow(base, summary)! }];
    const { derived } = decide(rows, { ...settings, minPixels: 24_000_000 });
    expect(derived?.maxInputPixels).toBe(24_000_000);
    expect(derived?.slowestMeasuredMs).toBe(2500);
    expect(derived?.timeoutBasisMs).toBeCloseTo(6500, 6);
    expect(derived?.timeoutSeconds).toBe(20);
  });

  it('adds the init once, not scaled with the pixels: a long init beside a small photo still fits a timeout', () => {
    // A 1.5 MP photo after 5 s of init (encoder threads starting), a 1 s run; the limit is 15 MP.
    // The run at 15 MP: 10 s, after the 5 s init: 15 s, x margin 3 = 45 s. Scaling the cold
    // invocation (6 s) tenfold asked 180 s, past the 110 s the deployment accepts: no size at all.
    const base = row({
      memoryMb: 3008,
      images: [
        image({ width: 1500, height: 1000, pixels: 1.5e6, initMs: 5000, first: run(1000), warm: [run(800)] }),
      ],
    });
    const rows = [{ ...base, stats: summariseRow(base, summary)! }];
    const { derived } = decide(rows, { ...settings, minPixels: 15_000_000 });
    expect(derived?.maxInputPixels).toBe(15_000_000);
    expect(derived?.timeoutBasisMs).toBeCloseTo(15_000, 6);
    expect(derived?.timeoutSeconds).toBe(45);
  });

  it('without a fit, sets max_input_pixels to the largest input that ran, not below it', () => {
    // One input, as bench.yml's AWS sweep runs: the bench photo, 5312 x 2988 = 15,872,256 pixels.
    const pixels = 5312 * 2988;
    const base = row({ memoryMb: 2048, images: [image({ width: 5312, height: 2988, pixels })] });
    const { derived } = decide([{ ...base, stats: summariseRow(base, summary)! }], settings);
    expect(derived?.pixelFit.kind).toBe('fallback');
    expect(derived?.maxInputPixels).toBe(pixels);
    // Two inputs of the same size: no line either.
    const same = row({
      memoryMb: 2048,
      images: [image({ pixels }), image({ image: 'b.jpg', pixels, peakRssMb: 350 })],
    });
    expect(decide([{ ...same, stats: summariseRow(same, summary)! }], settings).derived?.maxInputPixels).toBe(
      pixels,
    );
  });

  it('without a fit, passes over a size whose memory cannot hold --min-pixels, and writes at least --min-pixels', () => {
    // bench.yml's AWS sweep of the bench photo alone, replayed from docs/benchmarks/sweep.json's
    // rows: 1024 MB ran it and is the cheapest, but the function's estimate for a 24 MP input of
    // the costliest format (350 MiB + 24 MP x 47 bytes = 1,426 MiB) is above 1,024 MB.
    const pixels = 5312 * 2988;
    const single = (memoryMb: number, ms: number, workers: number) => {
      const base = row({
        memoryMb,
        workers,
        images: [
          image({ width: 5312, height: 2988, pixels, first: run(ms), warm: [run(ms)], peakRssMb: 265 }),
        ],
      });
      return { ...base, stats: summariseRow(base, summary)! };
    };
    const rows = [single(1024, 4300, 1), single(1536, 2900, 1), single(3008, 1600, 2)];
    expect(rows[0]!.stats!.costPer1000.arm64).toBeLessThan(rows[1]!.stats!.costPer1000.arm64);
    expect(pixelsWithinMemory(1024, 1)).toBeLessThan(24_000_000);
    expect(pixelsWithinMemory(1536, 1)).toBeGreaterThanOrEqual(24_000_000);
    const { derived } = decide(rows, { ...settings, minPixels: 24_000_000 });
    expect(derived?.pixelFit.kind).toBe('fallback');
    expect(derived?.memoryMb).toBe(1536);
    expect(derived?.maxInputPixels).toBe(24_000_000);
    expect(derived?.tooSmallForMinPixels).toEqual([1024]);
    // Unconstrained, the limit is the input that ran, on a size that holds it: 1024 MB holds
    // 15,036,... pixels of the costliest format, not the photo's 15,872,256.
    expect(pixelsWithinMemory(1024, 1)).toBeLessThan(pixels);
    const free = decide(rows, settings).derived;
    expect(free?.memoryMb).toBe(1536);
    expect(free?.maxInputPixels).toBe(pixels);
    expect(free?.tooSmallForMinPixels).toEqual([1024]);
    // No size holds --min-pixels: nothing is chosen, and the reason names what they hold.
    const none = decide(rows, { ...settings, minPixels: 80_000_000 });
    expect(none.derived).toBeUndefined();
    expect('reason' in none && none.reason).toMatch(
      new RegExp(`the largest limit is ${pixelsWithinMemory(3008, 2).toLocaleString('en-US')}$`),
    );
  });

  it('without any input size (--payload files), keeps the function’s limit only on a size that holds it', () => {
    // AWS mode with payload files: no pixel counts, so max_input_pixels stays the function's
    // IMGPIPE_MAX_PIXELS (50 MP). 1024 MB is the cheapest but its memory check holds 15 MP of
    // the costliest format: choosing it wrote a 50 MP limit the function refuses as over-memory-budget.
    const unsized = (memoryMb: number, ms: number, workers: number) => {
      const base = row({
        memoryMb,
        workers,
        images: [
          image({ width: undefined, height: undefined, pixels: undefined, first: run(ms), warm: [run(ms)] }),
        ],
      });
      return { ...base, stats: summariseRow(base, summary)! };
    };
    const rows = [unsized(1024, 4300, 1), unsized(3008, 1600, 2)];
    expect(rows[0]!.stats!.costPer1000.arm64).toBeLessThan(rows[1]!.stats!.costPer1000.arm64);
    expect(pixelsWithinMemory(1024, 1)).toBeLessThan(50_000_000);
    expect(pixelsWithinMemory(3008, 2)).toBeGreaterThanOrEqual(50_000_000);
    const { derived } = decide(rows, settings);
    expect(derived?.pixelFit.kind).toBe('fallback');
    expect(derived?.memoryMb).toBe(3008);
    expect(derived?.maxInputPixels).toBe(50_000_000);
    expect(derived?.tooSmallForMinPixels).toEqual([1024]);
  });

  it('keeps a fitted limit to what the function’s memory check holds of the costliest input', () => {
    // 512 MB, peaks 180 and 230 MiB at 1 and 2 MP: the line meets 435 MiB (512 MB less 15%) at
    // 6.1 MP, but the function's estimate, 350 MiB + 47 bytes a pixel, holds 3.6 MP of a 10-bit
    // 4:4:4 AVIF with alpha: a 6 MP limit admitted inputs it refused.
    const small = sized(512, 1000, 180, {}, { pixels: 2e6, addedRssMb: 50 });
    const { derived } = decide([small], settings);
    expect(derived?.pixelFit.kind).toBe('fit');
    expect(pixelsWithinMemory(512, 1)).toBeLessThan(4_000_000);
    expect(derived?.maxInputPixels).toBe(3_000_000);
    expect(derived?.pixelFit).toMatchObject({ heldPixels: pixelsWithinMemory(512, 1) });
    expect(derived!.pixelFit).toMatchObject({ rawPixels: expect.toSatisfy((p: number) => p > 4_000_000) });
    // Where the fit is below what the check holds, it stands.
    const large = decide([sized(2048, 1000, 300)], settings).derived;
    expect(large?.maxInputPixels).toBeLessThanOrEqual(pixelsWithinMemory(2048, 1));
    expect(large?.pixelFit).not.toHaveProperty('heldPixels');
  });

  it('passes over a cheaper size whose limit would refuse an input it ran, and says so', () => {
    // 512 MB ran the 11 MP b.jpg (peak 280 MiB), but holds 3 MP of the costliest format by the
    // function's check: its limit would refuse b.jpg. 1024 MB holds 15 MP.
    const rows = [sized(512, 1000, 180), sized(1024, 1000, 180)];
    expect(rows[0]!.stats!.costPer1000.arm64).toBeLessThan(rows[1]!.stats!.costPer1000.arm64);
    const { derived } = decide(rows, settings);
    expect(derived?.memoryMb).toBe(1024);
    expect(derived?.maxInputPixels).toBeGreaterThanOrEqual(11e6);
    expect(derived?.tooSmallForMinPixels).toEqual([512]);
    const none = decide([rows[0]!], settings);
    expect(none.derived).toBeUndefined();
    expect('reason' in none && none.reason).toBe(
      'no size can take b.jpg, the largest input that ran (11,000,000 pixels): the largest limit is 3,000,000',
    );
  });

  it('derives timeout, provisioned concurrency and max pixels from the chosen row', () => {
    const rows = [sized(2048, 2000, 400)];
    const { derived } = decide(rows, { ...settings, requestsPerSecond: 10 });
    // Slowest: init 500 + first 2000 = 2.5 s; x 3 = 7.5 s -> at least 10 s.
    expect(derived?.timeoutSeconds).toBe(10);
    expect(derived?.timeoutBasisMs).toBe(2500);
    // 10 rps x 2 s x 1.1 = 22.
    expect(derived?.provisionedConcurrency).toBe(22);
    expect(derived?.pixelFit.kind).toBe('fit');
    expect(derived?.maxInputPixels).toBeGreaterThan(11e6);
  });

  it('with --rps, compares the sizes by their cost with provisioned concurrency, not on-demand', () => {
    // 1024 MB takes 1,000 ms, 1536 MB 700 ms (init 500 ms each), list prices, arm64.
    const priced = (memoryMb: number, ms: number, requestsPerSecond: number): SweepRow => {
      const base = row({
        memoryMb,
        images: [
          image({ warm: [run(ms)], first: run(ms), peakRssMb: 300, pixels: 1e6 }),
          image({ image: 'b.jpg', warm: [run(ms)], first: run(ms), peakRssMb: 400, pixels: 11e6 }),
        ],
      });
      const options = { ...summary, prices: DEFAULT_PRICES, coldStartRate: 0.01, requestsPerSecond };
      return { ...base, stats: summariseRow(base, options)! };
    };
    // On-demand, 1% cold: 1024 MB 0.99 x (1 GB-s x 0.0000133334 + 0.0000002) + 0.01 x (1.5 GB-s ...)
    // = $0.013600067 per 1,000; 1536 MB 0.99 x (1.05 GB-s ...) + 0.01 x (1.8 GB-s ...) =
    // $0.0143000705. 1024 MB is the cheaper.
    const onDemand = [priced(1024, 1000, 0), priced(1536, 700, 0)];
    expect(onDemand.map((r) => r.stats!.costPer1000.arm64)).toEqual([
      expect.closeTo(0.013600067, 12),
      expect.closeTo(0.0143000705, 12),
    ]);
    expect(decide(onDemand, settings).derived?.memoryMb).toBe(1024);
    // At 1 rps 1024 MB needs ceil(1 x 1.0 x 1.1) = 2 provisioned concurrency, 1536 MB ceil(0.77) = 1.
    // 1024 MB: 1,000 s x 2 x 1 GB x 0.0000033334 + 1,000 x (1 GB-s x 0.0000077778 + 0.0000002) =
    // $0.0146446; 1536 MB: 1,000 x 1 x 1.5 x 0.0000033334 + 1,000 x (1.05 x 0.0000077778 +
    // 0.0000002) = $0.01336679. The on-demand prices chose 1024 MB, the dearer as deployed.
    const provisioned = [priced(1024, 1000, 1), priced(1536, 700, 1)];
    expect(provisioned.map((r) => r.stats!.costPer1000.arm64)).toEqual([
      expect.closeTo(0.0146446, 12),
      expect.closeTo(0.01336679, 12),
    ]);
    const { derived } = decide(provisioned, { ...settings, requestsPerSecond: 1 });
    expect(derived?.memoryMb).toBe(1536);
    expect(derived?.provisionedConcurrency).toBe(1);
  });
});
