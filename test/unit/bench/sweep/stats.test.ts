import { describe, expect, it } from 'vitest';
import { leastSquares, mean, median, percentile } from '../../../../bench/sweep/stats.ts';

describe('percentile', () => {
  it('uses the nearest rank: always an observed value', () => {
    const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 95)).toBe(10);
    expect(percentile(values, 100)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
  });

  it('refuses no values and ranks outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 0)).toThrow(RangeError);
  });
});

describe('median and mean', () => {
  it('handle odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(mean([1, 2, 3, 6])).toBe(3);
  });
});

describe('leastSquares', () => {
  it('recovers a line', () => {
    const line = leastSquares([1, 2, 3, 4].map((x) => ({ x, y: 3 + 2 * x })));
    expect(line?.intercept).toBeCloseTo(3, 12);
    expect(line?.slope).toBeCloseTo(2, 12);
  });

  it('has no line through points that share one x', () => {
    expect(
      leastSquares([
        { x: 1, y: 1 },
        { x: 1, y: 2 },
      ]),
    ).toBeUndefined();
    expect(leastSquares([{ x: 1, y: 1 }])).toBeUndefined();
  });
});
