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

  it.each([
    [2, 2],
    [2, 3],
    [3, 3],
    [4, 1],
  ])('matches a per-channel mean on noise at %ix%i, odd sizes included', (fx, fy) => {
    const width = 37;
    const height = 23;
    const data = new Uint8ClampedArray(width * height * 4);
    let seed = 12345;
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      data[i] = seed >>> 24;
    }
    const out = boxShrink({ width, height, data }, fx, fy);
    const w = Math.floor(width / fx);
    const h = Math.floor(height / fy);
    const expected = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 4; c++) {
          let sum = 0;
          for (let dy = 0; dy < fy; dy++)
            for (let dx = 0; dx < fx; dx++) sum += data[((y * fy + dy) * width + x * fx + dx) * 4 + c]!;
          expected[(y * w + x) * 4 + c] = Math.floor((sum + ((fx * fy) >> 1)) / (fx * fy));
        }
    expect([out.width, out.height]).toEqual([w, h]);
    expect(Buffer.from(out.data).equals(Buffer.from(expected))).toBe(true);
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
