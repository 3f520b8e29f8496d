import { costPer1000Images, expectedDurationMs, provisionedCostPer1000Images } from './cost.ts';
import { deriveProvisionedConcurrency } from './derive.ts';
import { foreignAllowance } from './load.ts';
import { modelWallMs } from './model.ts';
import { median, percentile } from './stats.ts';
import type { Architecture, ImageResult, Prices, RowStats, SweepRow } from './types.ts';

export interface SummaryOptions {
  readonly headroom: number;
  readonly prices: Prices;
  readonly coldStartRate: number;
  /**
   * --rps: above 0, the cost is that of the provisioned concurrency the size needs at this rate
   * (rps x p95 x 1.1, as the choice derives it) instead of on-demand. Absent or 0: on-demand.
   */
  readonly requestsPerSecond?: number;
  /** Tolerance for other processes' load beyond what a measured row's quota leaves free (load.ts). */
  readonly maxForeignCpu: number;
  /** CPUs of the machine the measured rows ran on. */
  readonly machineCpus?: number;
}

/** A size's statistics over its images; undefined when no image ran. */
export function summariseRow(row: Omit<SweepRow, 'stats'>, options: SummaryOptions): RowStats | undefined {
  const { images, memoryMb } = row;
  if (images.length === 0) return undefined;
  const warm = images.flatMap((image) => image.warm.map((run) => run.wallMs));
  const durations = warm.length > 0 ? warm : images.map((image) => image.first.wallMs);
  const peakRssMb = Math.max(...images.map((image) => image.peakRssMb));
  const p95Ms = percentile(durations, 95);
  const rps = options.requestsPerSecond ?? 0;
  // With --rps the deployment gets provisioned concurrency, billed otherwise than on-demand: the
  // on-demand price compared sizes by a bill they would not get.
  const cost = (architecture: Architecture) =>
    rps > 0
      ? provisionedCostPer1000Images(
          images,
          memoryMb,
          architecture,
          options.prices,
          rps,
          deriveProvisionedConcurrency(rps, p95Ms),
        )
      : costPer1000Images(images, memoryMb, architecture, options.prices, options.coldStartRate);
  const foreign = images
    .flatMap((image) => [image.first, ...image.warm])
    .map((run) => run.foreignCpu)
    .filter((value): value is number => value !== undefined);
  const modelError = row.mode === 'measured' ? modelErrorPct(row) : undefined;
  return {
    initMs: median(images.map((image) => image.initMs)),
    p50Ms: percentile(durations, 50),
    p95Ms,
    maxMs: Math.max(...durations),
    coldMaxMs: Math.max(...images.map((image) => image.initMs + image.first.wallMs)),
    // With provisioned concurrency no invocation waits for an init (the cost counts none either):
    // the speed and balanced strategies compared sizes by cold starts they would not have.
    expectedMs: expectedDurationMs(images, rps > 0 ? 0 : options.coldStartRate),
    peakRssMb,
    outOfMemory: isOutOfMemory(peakRssMb, memoryMb, options.headroom),
    costPer1000: { arm64: cost('arm64'), x86_64: cost('x86_64') },
    ...(foreign.length > 0 ? { foreignCpu: Math.max(...foreign) } : {}),
    ...(row.mode === 'measured' && foreign.length > 0 && row.cpuQuota !== undefined && options.machineCpus
      ? {
          contended:
            Math.max(...foreign) > foreignAllowance(row.cpuQuota, options.machineCpus, options.maxForeignCpu),
        }
      : {}),
    ...(modelError !== undefined ? { modelErrorPct: modelError } : {}),
  };
}

/** Does a peak fit in the memory with `headroom` (a fraction) left free? */
export function isOutOfMemory(peakRssMb: number, memoryMb: number, headroom: number): boolean {
  return peakRssMb > memoryMb * (1 - headroom);
}

/** How far the CPU-share model is from what the quota gave, over a measured row's warm runs. */
export function modelErrorPct(row: Pick<SweepRow, 'images' | 'vcpus' | 'workers'>): number | undefined {
  const errors: number[] = [];
  for (const image of row.images) {
    for (const run of image.warm) {
      if (run.cpuMs === undefined || run.mainCpuMs === undefined || run.decodeMs === undefined) continue;
      if (row.workers > 1 && image.maxEncodeCpuMs === undefined) continue;
      const modelled = modelWallMs(
        { cpuMs: run.cpuMs, mainCpuMs: run.mainCpuMs, decodeMs: run.decodeMs },
        row.vcpus,
        row.workers,
        image.maxEncodeCpuMs,
      );
      errors.push(((modelled - run.wallMs) / run.wallMs) * 100);
    }
  }
  return errors.length > 0 ? median(errors) : undefined;
}

/** A size can be chosen if it ran every image and its peak fits. */
export function isEligible(row: SweepRow): boolean {
  return row.stats !== undefined && !row.stats.outOfMemory && row.failures.length === 0;
}

export function imagePixels(image: ImageResult): number | undefined {
  return image.pixels ?? (image.width && image.height ? image.width * image.height : undefined);
}
