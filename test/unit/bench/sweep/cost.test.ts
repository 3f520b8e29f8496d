import { describe, expect, it } from 'vitest';
import {
  costPer1000Images,
  DEFAULT_PRICES,
  expectedDurationMs,
  expectedImageCost,
  invocationCost,
  provisionedCostPer1000Images,
} from '../../../../bench/sweep/cost.ts';
import { summariseRow } from '../../../../bench/sweep/rows.ts';
import { image, pricesWith, row, run } from './helpers.ts';

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
    const prices = pricesWith({ x86_64: 1, arm64: 1, requestPerMillion: 0.2 });
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

describe('provisionedCostPer1000Images', () => {
  // Two images at 1,536 MB (1.5 GB): one with warm runs of 1,000 and 1,200 ms, one without warm
  // runs whose first run took 2,000.5 ms (billed 2,001). 4 requests/s, provisioned concurrency 3.
  const images = [
    image({ initMs: 9000, first: run(5000), warm: [run(1000), run(1200)] }),
    image({ initMs: 9000, first: run(2000.5), warm: [] }),
  ];

  it('bills the concurrency for the 1000 / rps seconds 1,000 images take, and their invocations at the provisioned duration price', () => {
    // arm64, us-east-1: concurrency $0.0000033334 and duration on it $0.0000077778 per GB-s.
    // Concurrency: 1000 / 4 = 250 s x 3 x 1.5 GB x 0.0000033334 = 0.003750075.
    // Invocations: first image (1.0 + 1.2) / 2 x 1.5 GB x 0.0000077778 + 0.0000002 = 0.00001303337;
    // second 2.001 x 1.5 x 0.0000077778 + 0.0000002 = 0.0000235450667; 1,000 x their mean =
    // 0.01828921835. Total 0.02203929335.
    expect(provisionedCostPer1000Images(images, 1536, 'arm64', DEFAULT_PRICES, 4, 3)).toBeCloseTo(
      0.02203929335,
      12,
    );
    // x86_64: $0.0000041667 and $0.0000097222: 0.0046875375 + 0.02281140665.
    expect(provisionedCostPer1000Images(images, 1536, 'x86_64', DEFAULT_PRICES, 4, 3)).toBeCloseTo(
      0.02749894415,
      12,
    );
  });

  it('has no cold starts: init and the first run after it cost nothing where there are warm runs', () => {
    const warmOnly = [image({ initMs: 0, first: run(0), warm: [run(1000), run(1200)] }), images[1]!];
    expect(provisionedCostPer1000Images(warmOnly, 1536, 'arm64', DEFAULT_PRICES, 4, 3)).toBe(
      provisionedCostPer1000Images(images, 1536, 'arm64', DEFAULT_PRICES, 4, 3),
    );
  });

  it('takes the prices it is given', () => {
    const prices = pricesWith({
      requestPerMillion: 0,
      provisioned: { arm64: 1, x86_64: 2 },
      provisionedDuration: { arm64: 10, x86_64: 20 },
    });
    // 1 rps, 1 concurrency at 1 GB: 1,000 s x 1 = 1,000; 1,000 runs of 1 s x 10 = 10,000.
    const one = [image({ warm: [run(1000)] })];
    expect(provisionedCostPer1000Images(one, 1024, 'arm64', prices, 1, 1)).toBeCloseTo(11_000, 6);
    expect(provisionedCostPer1000Images(one, 1024, 'x86_64', prices, 1, 1)).toBeCloseTo(22_000, 6);
  });

  it('refuses a rate of 0 or less, which provisioned concurrency has no cost for', () => {
    expect(() => provisionedCostPer1000Images(images, 1024, 'arm64', DEFAULT_PRICES, 0, 1)).toThrow(
      'requestsPerSecond must be above 0 with provisioned concurrency, got 0',
    );
  });
});

describe('summariseRow costs', () => {
  // One image at 1,024 MB: warm runs of 1,000 ms, cold 500 ms init + 2,000 ms first run.
  const base = row({ memoryMb: 1024, images: [image({ warm: [run(1000), run(1000)] })] });
  const summary = { headroom: 0.15, prices: DEFAULT_PRICES, coldStartRate: 0.01, maxForeignCpu: 0.1 };

  it('without --rps, is the on-demand cost, cold starts weighted in', () => {
    // Warm 1 GB-s x 0.0000133334 + 0.0000002 = 0.0000135334; cold 2.5 GB-s = 0.0000335335.
    // 0.99 x warm + 0.01 x cold = 0.000013733401; x 1,000.
    const stats = summariseRow(base, summary)!;
    expect(stats.costPer1000.arm64).toBeCloseTo(0.013733401, 12);
    expect(summariseRow(base, { ...summary, requestsPerSecond: 0 })!.costPer1000).toEqual(stats.costPer1000);
  });

  it('with --rps, is the cost with the provisioned concurrency the size needs at that rate', () => {
    // p95 1 s at 5 rps: ceil(5 x 1 x 1.1) = 6. Concurrency: 200 s x 6 x 1 GB x 0.0000033334 =
    // 0.00400008; invocations 1,000 x (1 GB-s x 0.0000077778 + 0.0000002) = 0.0079778. The
    // on-demand 0.013733401 was compared and reported instead.
    const stats = summariseRow(base, { ...summary, requestsPerSecond: 5 })!;
    expect(stats.costPer1000.arm64).toBeCloseTo(0.01197788, 12);
    // x86_64: 200 x 6 x 0.0000041667 = 0.00500004; 1,000 x 0.0000099222 = 0.0099222.
    expect(stats.costPer1000.x86_64).toBeCloseTo(0.01492224, 12);
  });

  it('with --rps, expects no cold start in the duration the speed and balanced strategies compare', () => {
    // The warm runs' 1,000 ms; on-demand, 1% of invocations also wait for 500 ms of init and a
    // 2,000 ms first run: 0.99 x 1,000 + 0.01 x 2,500 = 1,015 ms.
    const cold = row({
      memoryMb: 1024,
      images: [image({ initMs: 500, first: run(2000), warm: [run(1000)] })],
    });
    expect(summariseRow(cold, summary)!.expectedMs).toBeCloseTo(1015, 9);
    expect(summariseRow(cold, { ...summary, requestsPerSecond: 5 })!.expectedMs).toBeCloseTo(1000, 9);
  });
});

describe('expectedDurationMs', () => {
  it('mixes warm and cold durations like the cost does', () => {
    const img = image({ initMs: 500, first: run(1500), warm: [run(1000)] });
    expect(expectedDurationMs([img], 0.1)).toBeCloseTo(0.9 * 1000 + 0.1 * 2000, 9);
  });
});
