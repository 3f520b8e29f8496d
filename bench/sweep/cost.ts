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
