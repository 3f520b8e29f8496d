import { mean } from './stats.ts';
import type { Architecture, ImageResult, Prices } from './types.ts';

/**
 * Lambda's on-demand price of an invocation: duration rounded up to the millisecond, times the
 * memory in GB (1,024 MB) and the price per GB-second of the architecture, plus the request charge.
 * Prices: https://aws.amazon.com/lambda/pricing/ (us-east-1, first tier).
 *
 * Cold starts: the INIT phase is billed. Container-image functions (ours) always had it billed;
 * since 2025-08-01 it is billed for every on-demand function ("AWS Lambda standardizes billing for
 * INIT Phase", AWS Compute Blog). A cold invocation therefore bills init + its duration.
 */
export const DEFAULT_PRICES: Prices = {
  x86_64: 0.0000166667,
  arm64: 0.0000133334,
  requestPerMillion: 0.2,
  // Same page, "Provisioned Concurrency Pricing", us-east-1: the concurrency configured, per
  // GB-second, and the duration of the invocations it serves, per GB-second, x86 and Arm. The page
  // fills its price tables in client-side; these figures were checked (2026-12-03) against copies
  // that quote it, e.g. https://awsnegotiations.com/lambda-provisioned-concurrency-cost.html.
  provisioned: { x86_64: 0.0000041667, arm64: 0.0000033334 },
  provisionedDuration: { x86_64: 0.0000097222, arm64: 0.0000077778 },
};

export function invocationCost(
  durationMs: number,
  memoryMb: number,
  pricePerGbSecond: number,
  requestPerMillion: number,
): number {
  const billedMs = Math.ceil(durationMs);
  return (billedMs / 1000) * (memoryMb / 1024) * pricePerGbSecond + requestPerMillion / 1_000_000;
}

/**
 * Expected cost of one invocation for an image: a fraction `coldStartRate` of invocations is cold
 * (init + first run), the rest warm (the mean over the warm runs' costs).
 */
export function expectedImageCost(
  image: Pick<ImageResult, 'initMs' | 'first' | 'warm'>,
  memoryMb: number,
  architecture: Architecture,
  prices: Prices,
  coldStartRate: number,
): number {
  const cost = (ms: number) => invocationCost(ms, memoryMb, prices[architecture], prices.requestPerMillion);
  const warm =
    image.warm.length > 0 ? mean(image.warm.map((run) => cost(run.wallMs))) : cost(image.first.wallMs);
  const cold = cost(image.initMs + image.first.wallMs);
  return (1 - coldStartRate) * warm + coldStartRate * cold;
}

/** Cost of 1,000 images drawn evenly from the corpus. */
export function costPer1000Images(
  images: readonly Pick<ImageResult, 'initMs' | 'first' | 'warm'>[],
  memoryMb: number,
  architecture: Architecture,
  prices: Prices,
  coldStartRate: number,
): number {
  return (
    1000 *
    mean(images.map((image) => expectedImageCost(image, memoryMb, architecture, prices, coldStartRate)))
  );
}

/**
 * Cost of 1,000 images drawn evenly from the corpus at `requestsPerSecond`, on a function with
 * `provisionedConcurrency` configured (the sweep's rps x p95 x 1.1, derive.ts). Provisioned
 * concurrency bills differently from on-demand (https://aws.amazon.com/lambda/pricing/, "Provisioned
 * Concurrency Pricing"): the concurrency itself per GB-second for as long as it is configured,
 * whether used or not, and the invocations it serves at a lower duration price, plus the request
 * charge. 1,000 requests at N per second take 1000 / N seconds of the configured concurrency:
 *
 *   1000 / N x P x memory / 1,024 x provisioned price
 *   + 1,000 x (duration x memory / 1,024 x provisioned duration price + request price)
 *
 * There are no cold starts: the environments are initialised before they serve, and the mean
 * concurrency (N x mean duration) stays within P (at least N x p95 x 1.1), so none spills over to
 * on-demand. The duration is the mean over the warm runs (the first run without them), billed by
 * the millisecond as on-demand.
 */
export function provisionedCostPer1000Images(
  images: readonly Pick<ImageResult, 'first' | 'warm'>[],
  memoryMb: number,
  architecture: Architecture,
  prices: Prices,
  requestsPerSecond: number,
  provisionedConcurrency: number,
): number {
  if (!(requestsPerSecond > 0)) {
    throw new RangeError(
      `requestsPerSecond must be above 0 with provisioned concurrency, got ${requestsPerSecond}`,
    );
  }
  const gb = memoryMb / 1024;
  const configured =
    (1000 / requestsPerSecond) * provisionedConcurrency * gb * prices.provisioned[architecture];
  const cost = (ms: number) =>
    invocationCost(ms, memoryMb, prices.provisionedDuration[architecture], prices.requestPerMillion);
  const invocations = mean(
    images.map((image) =>
      image.warm.length > 0 ? mean(image.warm.map((run) => cost(run.wallMs))) : cost(image.first.wallMs),
    ),
  );
  return configured + 1000 * invocations;
}

/** Expected duration of one invocation (same weighting as the cost): what the strategies compare. */
export function expectedDurationMs(
  images: readonly Pick<ImageResult, 'initMs' | 'first' | 'warm'>[],
  coldStartRate: number,
): number {
  return mean(
    images.map((image) => {
      const warm = image.warm.length > 0 ? mean(image.warm.map((run) => run.wallMs)) : image.first.wallMs;
      return (1 - coldStartRate) * warm + coldStartRate * (image.initMs + image.first.wallMs);
    }),
  );
}
