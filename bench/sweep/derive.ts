import { MAX_DECODE_BYTES_PER_PIXEL } from '../../src/codecs/memory.ts';
import { INVOCATION_RESERVE_MS } from '../../src/pipeline/deadline.ts';
import { leastSquares } from './stats.ts';
import type { PixelFit } from './types.ts';

/**
 * What the chosen memory size implies for the deployment: the function timeout, provisioned
 * concurrency for an expected arrival rate, and the largest input that fits in memory.
 */

/**
 * The longest timeout the deployment accepts. Lambda's own ceiling is 900 s, but the tuned timeout
 * is also the workflow's Process task function's (terraform/deployment/workflow.tf), whose module
 * refuses more than 110 s (terraform/modules/workflow/variables.tf: under the Process state's own
 * 120 s), and that module is deployed in both modes: a higher value fails `terraform plan`.
 */
export const MAX_TIMEOUT_SECONDS = 110;
export const MIN_TIMEOUT_SECONDS = 10;

/**
 * ceil(slowest measured invocation x margin), at least 10 s. The slowest invocation is the worst of
 * a cold one (init + first run) and the warm runs: the margin covers S3 reads and writes (not part
 * of the sweep), larger inputs and slower hosts. It may be above MAX_TIMEOUT_SECONDS: such a size
 * is not chosen (decide.ts).
 *
 * Whatever the margin, the slowest invocation must also fit before the function's own deadline:
 * the function refuses an image as too-slow at the invocation's remaining time less a reserve
 * (src/pipeline/deadline.ts: INVOCATION_RESERVE_MS, or a quarter of what remains if that is less),
 * kept to record the outcome. So the timeout is at least the slowest invocation plus that reserve:
 * with --timeout-margin 1 it was the slowest invocation itself, which the deadline then refused.
 */
export function requiredTimeout(slowestMs: number, margin: number): number {
  const withReserve = slowestMs + deadlineReserveMs(slowestMs);
  return Math.max(MIN_TIMEOUT_SECONDS, Math.ceil(Math.max(slowestMs * margin, withReserve) / 1000));
}

/**
 * What the timeout must leave after the slowest invocation for the function's deadline reserve:
 * with a timeout of slowest + slowest / 3, a quarter of it is slowest / 3.
 */
export function deadlineReserveMs(slowestMs: number): number {
  return Math.min(INVOCATION_RESERVE_MS, slowestMs / 3);
}

/** The timeout written for the chosen size: requiredTimeout, never above MAX_TIMEOUT_SECONDS. */
export function deriveTimeout(slowestMs: number, margin: number): number {
  return Math.min(MAX_TIMEOUT_SECONDS, requiredTimeout(slowestMs, margin));
}

/** How many times the smallest input's pixels the largest must have for a line of duration. */
export const MIN_PIXEL_SPAN = 2;

/**
 * The slowest invocation to expect of an input of `maxPixels`, the largest the function will accept
 * (max_input_pixels): the corpus's slowest invocation per image against its pixels, a line fitted by
 * least squares (slope at least 0) and moved up to lie on or above every image, evaluated at
 * `maxPixels`; never less than the slowest measured. max_input_pixels is usually far above the
 * corpus's largest image (24-100 MP against a 16 MP photo), and the decode and the first resize grow
 * with the pixels: a timeout from the corpus alone would be too short for the inputs the limit
 * admits, which the function then refuses as too-slow. Without inputs whose sizes differ at least
 * MIN_PIXEL_SPAN-fold there is no line (between photos of 1.0 and 1.5 MP the content, not the
 * pixels, decides which is slower, and a line through them, extended 40-fold, is noise), nor with
 * one input: each image's time is then scaled in proportion to its pixels, the most an invocation
 * that grows with its pixels (from a fixed part at least 0) can take. Taking the slowest measured
 * instead set the timeout of a 24 MP limit (--min-pixels) from one 1.5 MP photo.
 */
export function slowestAtPixels(
  points: readonly { pixels: number; slowestMs: number }[],
  maxPixels: number,
): number {
  const measured = Math.max(0, ...points.map((p) => p.slowestMs));
  const proportional = Math.max(
    measured,
    ...points.map((p) => (p.pixels > 0 ? (p.slowestMs * maxPixels) / p.pixels : 0)),
  );
  const sizes = points.map((p) => p.pixels);
  if (points.length < 2 || Math.max(...sizes) < MIN_PIXEL_SPAN * Math.min(...sizes)) return proportional;
  const line = leastSquares(points.map((p) => ({ x: p.pixels, y: p.slowestMs })));
  if (!line) return proportional;
  const slope = Math.max(0, line.slope);
  const intercept = Math.max(...points.map((p) => p.slowestMs - slope * p.pixels));
  return Math.max(measured, intercept + slope * maxPixels);
}

/** The most provisioned concurrency the deployment accepts (modules/imgpipe provisioned_concurrent_executions). */
export const MAX_PROVISIONED_CONCURRENCY = 10_000;

/** AWS's estimate plus its recommended 10% buffer. */
export const PROVISIONED_CONCURRENCY_BUFFER = 1.1;

/**
 * Concurrency = requests per second x duration in seconds (AWS Lambda Developer Guide, "Understanding
 * Lambda function scaling"), with a 10% buffer as the provisioned-concurrency guide recommends. We
 * take the p95 duration rather than the mean so bursts of large images are covered. 0 rps gives 0.
 */
export function deriveProvisionedConcurrency(requestsPerSecond: number, p95Ms: number): number {
  if (requestsPerSecond <= 0) return 0;
  // Round before ceil so that floating-point noise (2 x 0.5 x 1.1 = 1.1000000000000003) cannot add one.
  const exact = Number((requestsPerSecond * (p95Ms / 1000) * PROVISIONED_CONCURRENCY_BUFFER).toFixed(9));
  return Math.ceil(exact);
}

export const PIXEL_STEP = 1_000_000;
/**
 * Bytes each input pixel costs at least, whatever the corpus says. The limit the sweep derives
 * (`IMGPIPE_MAX_PIXELS`) applies to every format the function accepts, while a corpus of photos is
 * JPEG, whose cost per pixel is the lowest (shrink-on-load decodes it at 1/2 to 1/8 size). So the
 * floor is the costliest decode there is, per decoded pixel, from the one table of what our codecs
 * cost (src/codecs/memory.ts, measured by `npm run bench -- memory`), rounded up. The function's
 * own per-image memory check (IMGPIPE_MEMORY_MB) uses the same table, per format, bit depth and
 * channels; a deployment that only ever receives JPEG can set a higher IMGPIPE_MAX_PIXELS by hand
 * (bench/README.md, "max_input_pixels").
 */
export const MIN_BYTES_PER_PIXEL = Math.ceil(MAX_DECODE_BYTES_PER_PIXEL);
export const MIN_MAX_PIXELS = 1_000_000;
export const MAX_MAX_PIXELS = 100_000_000;

/**
 * Fits peak RSS = a + b x pixels over the corpus at the chosen size (least squares) and solves
 * a + b x P = memory x (1 - headroom): the largest input whose peak still leaves the headroom free.
 * The slope is at least MIN_BYTES_PER_PIXEL; with that slope the line is moved up to the highest
 * point, so that it lies on or above every measured image.
 * P is rounded down to whole megapixels and kept within 1-100 MP. Without at least two different
 * image sizes there is nothing to fit: `fallbackPixels` is used and the reason is reported.
 */
export function fitMaxPixels(
  points: readonly { pixels: number; rssMb: number }[],
  memoryMb: number,
  headroom: number,
  fallbackPixels: number,
): { maxPixels: number; fit: PixelFit } {
  const budgetMb = memoryMb * (1 - headroom);
  const line = leastSquares(points.map((p) => ({ x: p.pixels, y: p.rssMb })));
  const fallback = (reason: string) => ({
    maxPixels: fallbackPixels,
    fit: { kind: 'fallback', reason } as const,
  });
  if (!line) {
    return fallback(
      points.length < 2
        ? `${points.length} image(s) with a known size; a fit needs two sizes`
        : 'all images have the same pixel count',
    );
  }
  // A line that does not rise (the encoder threads' baseline varies more than the images' cost)
  // still gets the floor: what a pixel costs is known from the formats, not from this corpus.
  const floor = MIN_BYTES_PER_PIXEL / (1024 * 1024);
  const slope = Math.max(line.slope, floor);
  const intercept =
    slope === line.slope ? line.intercept : Math.max(...points.map((p) => p.rssMb - slope * p.pixels));
  const rawPixels = (budgetMb - intercept) / slope;
  const rounded = Math.floor(rawPixels / PIXEL_STEP) * PIXEL_STEP;
  const maxPixels = Math.min(MAX_MAX_PIXELS, Math.max(MIN_MAX_PIXELS, rounded));
  return {
    maxPixels,
    fit: {
      kind: 'fit',
      interceptMb: intercept,
      slopeMbPerMp: slope * 1_000_000,
      fittedSlopeMbPerMp: line.slope * 1_000_000,
      budgetMb,
      rawPixels,
      points: points.map((p) => ({ pixels: p.pixels, rssMb: p.rssMb })),
    },
  };
}
