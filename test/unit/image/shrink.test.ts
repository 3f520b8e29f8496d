import { describe, expect, it } from 'vitest';
import { boxShrink, integerShrink } from '../../../src/image/shrink.ts';

describe('boxShrink', () => {
  it('averages each block per channel, rounding to nearest', () => {
    // 4x2 image: two 2x2 blocks.
    const px = [
      [0, 10, 200, 255],
      [2, 11, 201, 255],
      [100, 0, 0, 0],
      [101, 0, 0, 255],
      [4, 12, 202, 255],
      [6, 13, 203, 255],
      [102, 0, 0, 0],
      [103, 0, 0, 255],
    ];
    const out = boxShrink({ width: 4, height: 2, data: new Uint8ClampedArray(px.flat()) }, 2, 2);
    expect([out.width, out.height]).toEqual([2, 1]);
    expect(Array.from(out.data)).toEqual([3, 12, 202, 255, 102, 0, 0, 128]);
  });

  it('keeps full-white blocks white at the largest factor without overflow', () => {
    const out = boxShrink(
      { width: 16, height: 16, data: new Uint8ClampedArray(16 * 16 * 4).fill(255) },
      16,
      16,
    );
    expect(Array.from(out.data)).toEqual([255, 255, 255, 255]);
  });

  it('drops the remainder columns and rows', () => {
    const out = boxShrink({ width: 5, height: 3, data: new Uint8ClampedArray(5 * 3 * 4) }, 2, 2);
    expect([out.width, out.height]).toEqual([2, 1]);
  });
});

describe('integerShrink', () => {
  it('leaves at most a factor of two for the lanczos step, like vips_resize', () => {
    expect(integerShrink(1600 / 5312)).toBe(2);
    expect(integerShrink(320 / 5312)).toBe(8);
    expect(integerShrink(0.6)).toBe(1);
    expect(integerShrink(2)).toBe(1);
  });
});
