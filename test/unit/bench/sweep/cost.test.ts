import { describe, expect, it } from 'vitest';
import {
  costPer1000Images,
  DEFAULT_PRICES,
  expectedDurationMs,
  expectedImageCost,
  invocationCost,
} from '../../../../bench/sweep/cost.ts';
import { image, run } from './helpers.ts';

describe('invocationCost', () => {
  it('bills duration in GB-seconds (1 GB = 1,024 MB) plus the request charge', () => {
    // 1 s at 1,024 MB on x86_64: one GB-second plus $0.20 per million requests.
    expect(invocationCost(1000, 1024, 0.0000166667, 0.2)).toBeCloseTo(0.0000166667 + 0.0000002, 15);
    expect(invocationCost(1000, 2048, 0.0000133334, 0)).toBeCloseTo(2 * 0.0000133334, 15);
  });

  it('rounds the duration up to the next millisecond', () => {
    expect(invocationCost(1000.2, 1024, 1, 0)).toBe(invocationCost(1001, 1024, 1, 0));
    expect(invocationCost(1000, 1024, 1, 0)).toBeLessThan(invocationCost(1000.01, 1024, 1, 0));
  });
});

describe('expectedImageCost', () => {
  const img = image({ initMs: 400, first: run(1600), warm: [run(900), run(1100)] });

  it('weights the cold invocation (init + first run, both billed) by the cold-start rate', () => {
    const warm = (invocationCost(900, 1024, 1, 0.2) + invocationCost(1100, 1024, 1, 0.2)) / 2;
    const cold = invocationCost(2000, 1024, 1, 0.2);
    const prices = { x86_64: 1, arm64: 1, requestPerMillion: 0.2 };
    expect(expectedImageCost(img, 1024, 'x86_64', prices, 0.25)).toBeCloseTo(0.75 * warm + 0.25 * cold, 12);
    expect(expectedImageCost(img, 1024, 'x86_64', prices, 0)).toBeCloseTo(warm, 12);
    expect(expectedImageCost(img, 1024, 'x86_64', prices, 1)).toBeCloseTo(cold, 12);
  });

  it('prices arm64 and x86_64 by their own GB-second price and the same request charge', () => {
    const x86 = expectedImageCost(img, 2048, 'x86_64', DEFAULT_PRICES, 0.01);
    const arm = expectedImageCost(img, 2048, 'arm64', DEFAULT_PRICES, 0.01);
    const request = DEFAULT_PRICES.requestPerMillion / 1e6;
    expect((arm - request) / (x86 - request)).toBeCloseTo(DEFAULT_PRICES.arm64 / DEFAULT_PRICES.x86_64, 9);
  });
});

describe('costPer1000Images', () => {
  it('is 1,000 times the mean expected cost over the images', () => {
    const images = [image({ warm: [run(1000)] }), image({ warm: [run(3000)] })];
    const each = images.map((i) => expectedImageCost(i, 1024, 'arm64', DEFAULT_PRICES, 0.01));
    expect(costPer1000Images(images, 1024, 'arm64', DEFAULT_PRICES, 0.01)).toBeCloseTo(
      1000 * ((each[0]! + each[1]!) / 2),
      12,
    );
  });

  it('uses the first run when there are no warm runs', () => {
    const cold = image({ warm: [], first: run(1500), initMs: 0 });
    expect(costPer1000Images([cold], 1024, 'x86_64', DEFAULT_PRICES, 0)).toBeCloseTo(
      1000 * invocationCost(1500, 1024, DEFAULT_PRICES.x86_64, DEFAULT_PRICES.requestPerMillion),
      12,
    );
  });
});

describe('expectedDurationMs', () => {
  it('mixes warm and cold durations like the cost does', () => {
    const img = image({ initMs: 500, first: run(1500), warm: [run(1000)] });
    expect(expectedDurationMs([img], 0.1)).toBeCloseTo(0.9 * 1000 + 0.1 * 2000, 9);
  });
});
