import { DEFAULT_PRICES } from '../../../../bench/sweep/cost.ts';
import type { ImageResult, Prices, RunSample, SweepRow } from '../../../../bench/sweep/types.ts';

/** Builders for rows and images with made-up numbers: the tests check arithmetic, not the machine. */
export function run(wallMs: number, extra: Partial<RunSample> = {}): RunSample {
  return { wallMs, ...extra };
}

export function image(overrides: Partial<ImageResult> & { image?: string } = {}): ImageResult {
  return {
    image: 'a.jpg',
    width: 1000,
    height: 1000,
    pixels: 1_000_000,
    initMs: 500,
    first: run(2000),
    warm: [run(1000), run(1000)],
    peakRssMb: 300,
    ...overrides,
  };
}

export function row(overrides: Partial<SweepRow> = {}): SweepRow {
  return {
    memoryMb: 1024,
    vcpus: 1024 / 1769,
    workers: 1,
    mode: 'measured',
    note: 'test',
    images: [image()],
    failures: [],
    ...overrides,
  };
}

/** Prices with the given ones changed, the rest (the provisioned-concurrency prices) the defaults. */
export function pricesWith(changed: Partial<Prices>): Prices {
  return { ...DEFAULT_PRICES, ...changed };
}
