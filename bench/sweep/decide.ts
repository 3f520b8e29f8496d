import { pixelsWithinMemory } from '../../src/pipeline/memory-budget.ts';
import {
  deriveProvisionedConcurrency,
  deriveTimeout,
  fitMaxPixels,
  MAX_PROVISIONED_CONCURRENCY,
  MAX_TIMEOUT_SECONDS,
  MIN_MAX_PIXELS,
  PIXEL_STEP,
  PROVISIONED_CONCURRENCY_BUFFER,
  requiredTimeout,
  slowestAtPixels,
} from './derive.ts';
import { imagePixels, isEligible } from './rows.ts';
import { chooseMemory } from './strategy.ts';
import type { Architecture, Derived, Strategy, SweepRow } from './types.ts';

export interface DecisionSettings {
  readonly strategy: Strategy;
  readonly weight: number;
  readonly architecture: Architecture;
  readonly requestsPerSecond: number;
  readonly timeoutMargin: number;
  readonly headroom: number;
  /** Sizes whose derived max_input_pixels is below this are not chosen. */
  readonly minPixels: number;
  /** When no image has a known size: the limit the function has now. */
  readonly configuredMaxPixels: number;
  /**
   * limits.maxSecondsPerImage of the configuration the runs used: the function refuses an image
   * whose processing takes longer as too-slow, whatever its timeout. Unknown (AWS mode): unchecked.
   */
  readonly maxSecondsPerImage?: number;
  /**
   * A lower limit on provisioned concurrency than the module's MAX_PROVISIONED_CONCURRENCY, and what
   * sets it: the environment's reserved_concurrent_executions, which Terraform requires to be at
   * least twice the provisioned concurrency (provisionedLimitOf in main.ts).
   */
  readonly provisionedLimit?: ProvisionedLimit;
}

export interface ProvisionedLimit {
  readonly max: number;
  /** Why, for the report: e.g. `reserved_concurrent_executions 4 in <file> must be at least twice it`. */
  readonly because: string;
}

/**
 * Chooses the memory size among the eligible rows (see strategy.ts) and derives the deployment
 * settings from the chosen row. A row is eligible if it ran every input within its memory and the
 * largest input it could take (max_input_pixels, fitted per row) is at least `minPixels`: a size
 * that is cheapest only because it cannot take a normal photo is not a choice. Nor is a size whose
 * slowest invocation x margin is above the longest timeout the deployment accepts
 * (MAX_TIMEOUT_SECONDS): its timeout would have to be cut below what the margin asks for. Undefined,
 * with the reason, when no size is eligible.
 */
export function decide(
  rows: readonly SweepRow[],
  settings: DecisionSettings,
): { derived: Derived } | { derived?: undefined; reason: string } {
  const ran = rows.filter(isEligible);
  if (ran.length === 0) {
    return { reason: rows.length === 0 ? 'no sizes were swept' : whyNoneRan(rows, settings.headroom) };
  }
  const limits = new Map(ran.map((row) => [row.memoryMb, pixelLimit(row, settings)]));
  // A fitted limit must reach --min-pixels. Without a fit (fewer than two image sizes) the limit is
  // --min-pixels, or the largest image that ran if larger, and the size must hold it by the
  // function's own memory check (pixelsWithinMemory): the one input that ran says nothing about
  // costlier ones, and without this the cheapest size that ran the bench photo was chosen with a
  // limit below --min-pixels (1024 MB and 15,872,256 pixels, for a 24 MP --min-pixels).
  // Nor may the limit refuse an input the sweep ran: a fitted limit kept to what the function's
  // check holds of the costliest format (pixelLimit) fell below the photos the row processed (a
  // 15 MP limit for the 15.9 MP bench photo), and the deployment would refuse them.
  const input = largestInput(ran[0]!);
  const needed = Math.max(settings.minPixels, input?.pixels ?? 0);
  // Nor may the limit be more than its fit allows: a fit under 1 MP is raised to the 1 MP floor of
  // max_input_pixels (derive.ts), and that size was chosen with a 1 MP limit its memory cannot hold.
  const eligible = ran.filter((row) => {
    const limit = limits.get(row.memoryMb)!;
    return limit.maxPixels >= needed && limit.maxPixels <= Math.min(limit.heldPixels, fittedPixels(limit));
  });
  const tooSmall = ran.filter((row) => !eligible.includes(row)).map((row) => row.memoryMb);
  if (eligible.length === 0) {
    const largest = Math.max(
      ...[...limits.values()].map((l) => Math.floor(Math.min(l.maxPixels, l.heldPixels, fittedPixels(l)))),
    );
    const what =
      input && input.pixels > settings.minPixels
        ? `${input.image}, the largest input that ran (${input.pixels.toLocaleString('en-US')} pixels)`
        : `inputs of ${settings.minPixels.toLocaleString('en-US')} pixels (--min-pixels)`;
    return {
      reason: `no size can take ${what}: the largest limit is ${largest.toLocaleString('en-US')}`,
    };
  }
  const timeouts = new Map(
    eligible.map((row) => [
      row.memoryMb,
      requiredTimeout(timeoutBasis(row, limits.get(row.memoryMb)!.maxPixels), settings.timeoutMargin),
    ]),
  );
  const inTime = eligible.filter((row) => timeouts.get(row.memoryMb)! <= MAX_TIMEOUT_SECONDS);
  const tooSlow = eligible.filter((row) => !inTime.includes(row)).map((row) => row.memoryMb);
  if (inTime.length === 0) {
    return {
      reason: `no size fits a timeout of ${MAX_TIMEOUT_SECONDS} s, the longest the deployment accepts (terraform/modules/workflow): slowest invocation (at max_input_pixels) x --timeout-margin ${settings.timeoutMargin} needs at least ${Math.min(...timeouts.values())} s`,
    };
  }
  // The limit admits inputs up to max_input_pixels; one that large must also be processed within
  // limits.maxSecondsPerImage, or the function refuses it as too-slow: with a margin under 110 / 60
  // (or a lower maxSecondsPerImage), the timeout rule alone let such a size be chosen.
  const maxMs = settings.maxSecondsPerImage === undefined ? undefined : settings.maxSecondsPerImage * 1000;
  const processing = new Map(
    inTime.map((row) => [row.memoryMb, processingAtPixels(row, limits.get(row.memoryMb)!.maxPixels)]),
  );
  const inDeadline = inTime.filter((row) => maxMs === undefined || processing.get(row.memoryMb)! <= maxMs);
  const tooSlowForMaxSeconds = inTime.filter((row) => !inDeadline.includes(row)).map((row) => row.memoryMb);
  if (inDeadline.length === 0) {
    return {
      reason: `no size processes an input of its max_input_pixels within limits.maxSecondsPerImage (${settings.maxSecondsPerImage} s), after which the function refuses it as too-slow: the fastest needs ${(Math.min(...processing.values()) / 1000).toFixed(1)} s`,
    };
  }
  // --rps x p95 is the provisioned concurrency a size needs; the deployment accepts at most
  // MAX_PROVISIONED_CONCURRENCY. Over it, the tuning file was refused after the choice (exit 1,
  // "lambda_provisioned_concurrency must be an integer between 0 and 10000"), though a faster size
  // may need less. An environment with reserved concurrency accepts at most half of it: the tuning
  // file was written, and `terraform plan` then refused it.
  const limit = settings.provisionedLimit;
  const maxConcurrency = Math.min(MAX_PROVISIONED_CONCURRENCY, limit?.max ?? Number.POSITIVE_INFINITY);
  const limitedBy =
    limit && limit.max < MAX_PROVISIONED_CONCURRENCY ? limit.because : 'terraform/modules/imgpipe';
  const concurrency = new Map(
    inDeadline.map((row) => [
      row.memoryMb,
      deriveProvisionedConcurrency(settings.requestsPerSecond, row.stats!.p95Ms),
    ]),
  );
  const served = inDeadline.filter((row) => concurrency.get(row.memoryMb)! <= maxConcurrency);
  const tooSlowForRps = inDeadline.filter((row) => !served.includes(row)).map((row) => row.memoryMb);
  if (served.length === 0) {
    return {
      reason: `no size serves --rps ${settings.requestsPerSecond} with at most ${maxConcurrency.toLocaleString('en-US')} provisioned concurrency, the most the deployment accepts (${limitedBy}): rps x p95 x ${PROVISIONED_CONCURRENCY_BUFFER} needs at least ${Math.min(...concurrency.values()).toLocaleString('en-US')}`,
    };
  }
  const chosen = chooseMemory(
    served.map((row) => ({
      memoryMb: row.memoryMb,
      cost: row.stats!.costPer1000[settings.architecture],
      durationMs: row.stats!.expectedMs,
    })),
    settings.strategy,
    settings.weight,
  )!;
  const row = served.find((r) => r.memoryMb === chosen.memoryMb)!;
  const stats = row.stats!;
  const { maxPixels, fit } = limits.get(row.memoryMb)!;
  const timeoutBasisMs = timeoutBasis(row, maxPixels);
  const slowestMeasuredMs = Math.max(stats.coldMaxMs, stats.maxMs);
  return {
    derived: {
      memoryMb: row.memoryMb,
      architecture: settings.architecture,
      strategy: settings.strategy,
      ...(settings.strategy === 'balanced' ? { weight: settings.weight } : {}),
      timeoutSeconds: deriveTimeout(timeoutBasisMs, settings.timeoutMargin),
      timeoutBasisMs,
      ...(timeoutBasisMs > slowestMeasuredMs ? { slowestMeasuredMs } : {}),
      provisionedConcurrency: concurrency.get(row.memoryMb)!,
      maxInputPixels: maxPixels,
      pixelFit: fit,
      minPixels: settings.minPixels,
      ...(tooSmall.length > 0 ? { tooSmallForMinPixels: tooSmall } : {}),
      ...(tooSlow.length > 0 ? { tooSlowForTimeout: tooSlow } : {}),
      ...(tooSlowForMaxSeconds.length > 0 ? { tooSlowForMaxSeconds } : {}),
      ...(tooSlowForRps.length > 0 ? { tooSlowForRps } : {}),
      ...(maxConcurrency < MAX_PROVISIONED_CONCURRENCY
        ? { provisionedLimit: { max: maxConcurrency, because: limitedBy } }
        : {}),
    },
  };
}

/**
 * Why no row is eligible, naming what stopped each: the inputs that failed (with the sizes and the
 * first failure's message, so that a corrupt input, which fails at every size, reads as such) and
 * the sizes out of memory (peak against the budget). It said only that every row was out of
 * memory or had a failed input, and the failures were in sweep.md alone.
 */
function whyNoneRan(rows: readonly SweepRow[], headroom: number): string {
  const failed = new Map<string, { sizes: number[]; message: string }>();
  for (const row of rows) {
    for (const failure of row.failures) {
      const entry = failed.get(failure.image) ?? { sizes: [], message: failure.message };
      entry.sizes.push(row.memoryMb);
      failed.set(failure.image, entry);
    }
  }
  const every = (sizes: readonly number[]) =>
    sizes.length === rows.length ? 'at every size' : `at ${sizes.map((mb) => `${mb} MB`).join(', ')}`;
  const parts = [...failed].map(
    ([image, { sizes, message }]) => `${image} failed ${every(sizes)} (${clip(message)})`,
  );
  const oom = rows.filter((row) => row.stats?.outOfMemory);
  if (oom.length > 0) {
    parts.push(
      `out of memory at ${oom
        .map(
          (row) =>
            `${row.memoryMb} MB (peak ${Math.round(row.stats!.peakRssMb)} MiB above ${Math.round(row.memoryMb * (1 - headroom))} MiB, ${row.memoryMb} MB less the headroom ${headroom})`,
        )
        .join(', ')}`,
    );
  }
  return `no size ran every input within its memory: ${parts.length > 0 ? parts.join('; ') : 'no input ran'}`;
}

function clip(text: string): string {
  const line = text.split('\n', 1)[0]!;
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/**
 * The slowest invocation of a row (the worse of a cold one, init + first run, and the warm runs),
 * for an input of the row's max_input_pixels (derive.ts slowestAtPixels).
 */
function timeoutBasis(row: SweepRow, maxPixels: number): number {
  // The run grows with the input's pixels, the init (Node, the codecs, the encoder threads) does
  // not: the slowest run is taken to max_input_pixels and the slowest init added once. Scaling the
  // init with the pixels too made 5 s of init 50 s for a limit ten times a 1.5 MP photo.
  const sized = row.images.filter((image) => imagePixels(image) !== undefined);
  if (sized.length === 0) return Math.max(row.stats!.coldMaxMs, row.stats!.maxMs);
  const initMs = Math.max(...sized.map((image) => image.initMs));
  return Math.max(row.stats!.coldMaxMs, row.stats!.maxMs, initMs + processingAtPixels(row, maxPixels));
}

/**
 * The slowest processing of one input (a run, without init: the function's per-image deadline
 * starts after it) for an input of max_input_pixels (derive.ts slowestAtPixels).
 */
function processingAtPixels(row: SweepRow, maxPixels: number): number {
  const points = row.images.flatMap((image) => {
    const pixels = imagePixels(image);
    const slowestMs = Math.max(image.first.wallMs, ...image.warm.map((run) => run.wallMs));
    return pixels === undefined ? [] : [{ pixels, slowestMs }];
  });
  return Math.max(row.stats!.maxMs, slowestAtPixels(points, maxPixels));
}

/** The input of the most pixels among a row's images (every row runs the same inputs). */
function largestInput(row: SweepRow): { image: string; pixels: number } | undefined {
  let largest: { image: string; pixels: number } | undefined;
  for (const image of row.images) {
    const pixels = imagePixels(image);
    if (pixels !== undefined && pixels > (largest?.pixels ?? 0)) largest = { image: image.image, pixels };
  }
  return largest;
}

/** The pixels a row's fit allows before rounding and the 1-100 MP bounds; unbounded without a fit. */
function fittedPixels(limit: ReturnType<typeof fitMaxPixels>): number {
  return limit.fit.kind === 'fit' ? Math.max(0, limit.fit.rawPixels) : Number.POSITIVE_INFINITY;
}

/**
 * max_input_pixels for one row: the fit of its peak RSS against pixels (derive.ts), and the most
 * pixels the row's memory holds by the function's own check, which a limit without a fit must not
 * pass (a fitted one has its floor per pixel and headroom instead).
 */
function pixelLimit(
  row: SweepRow,
  settings: DecisionSettings,
): ReturnType<typeof fitMaxPixels> & { heldPixels: number } {
  const points = row.images.flatMap((image) => {
    const pixels = imagePixels(image);
    return pixels === undefined ? [] : [{ pixels, rssMb: image.peakRssMb }];
  });
  // Without a fit: --min-pixels, or the largest image that ran if larger (rounded down to whole
  // megapixels it would be refused: a 5312x2988 photo, 15.9 MP, under a 15 MP limit). With no
  // sizes at all (--payload inputs), keep the function's limit; either way the size must hold it.
  const largest = Math.max(0, ...points.map((p) => p.pixels));
  const fallbackPixels =
    largest > 0 ? Math.max(MIN_MAX_PIXELS, settings.minPixels, largest) : settings.configuredMaxPixels;
  const fitted = fitMaxPixels(points, row.memoryMb, settings.headroom, fallbackPixels);
  const held = pixelsWithinMemory(row.memoryMb, row.workers);
  // Kept or not, a limit the size's memory check does not hold would be refused as
  // over-memory-budget: 512 MB chosen with the function's 50 MP kept took no input above 3.6 MP.
  if (fitted.fit.kind === 'fallback') return { ...fitted, heldPixels: held };
  // The fit leaves headroom over the measured peaks, but at small sizes the function's baseline is
  // more than the fit's intercept plus that headroom (512 MB: fitted 5 MP, held 3.6 MP): a fitted
  // limit is kept to what the function's check holds, rounded down to whole megapixels.
  const cap = Math.max(MIN_MAX_PIXELS, Math.floor(held / PIXEL_STEP) * PIXEL_STEP);
  if (fitted.maxPixels <= cap) return { ...fitted, heldPixels: Number.POSITIVE_INFINITY };
  return { maxPixels: cap, fit: { ...fitted.fit, heldPixels: held }, heldPixels: Number.POSITIVE_INFINITY };
}
