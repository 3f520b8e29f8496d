import { describe, expect, it } from 'vitest';
import { boxShrink, boxShrinkPremultiplied, integerShrink } from '../../../src/image/shrink.ts';

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
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
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

describe('boxShrink by factors whose 16-bit sums would overflow', () => {
  it('shrinks a 50,000,000x1-style row by 15625x1 without throwing', () => {
    const width = 31250;
    const out = boxShrink({ width, height: 1, data: new Uint8ClampedArray(width * 4).fill(255) }, 15625, 1);
    expect([out.width, out.height]).toEqual([2, 1]);
    expect(Array.from(out.data)).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);
  });

  it.each([
    [300, 1],
    [17, 16],
    [1, 1000],
  ])('matches a per-channel mean on noise at %ix%i', (fx, fy) => {
    // Three by two blocks, plus a remainder column and row that are dropped (when the factor allows one).
    const width = 4 * fx - 1;
    const height = 3 * fy - 1;
    const data = new Uint8ClampedArray(width * height * 4);
    let seed = 777;
    for (let i = 0; i < data.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      data[i] = seed >>> 24;
    }
    const out = boxShrink({ width, height, data }, fx, fy);
    expect([out.width, out.height]).toEqual([3, 2]);
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 3; x++)
        for (let c = 0; c < 4; c++) {
          let sum = 0;
          for (let dy = 0; dy < fy; dy++)
            for (let dx = 0; dx < fx; dx++) sum += data[((y * fy + dy) * width + x * fx + dx) * 4 + c]!;
          expect(out.data[(y * 3 + x) * 4 + c], `pixel ${x},${y} channel ${c}`).toBe(
            Math.floor((sum + ((fx * fy) >> 1)) / (fx * fy)),
          );
        }
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

describe('boxShrinkPremultiplied', () => {
  it('weights colour by alpha, so invisible pixels do not bleed into the edge', () => {
    // A 2x2 block: one opaque blue pixel, three fully transparent red ones.
    const block = [
      [0, 0, 255, 255],
      [255, 0, 0, 0],
      [255, 0, 0, 0],
      [255, 0, 0, 0],
    ];
    const image = { width: 2, height: 2, data: new Uint8ClampedArray(block.flat()) };
    expect(Array.from(boxShrinkPremultiplied(image, 2, 2).data)).toEqual([0, 0, 255, 64]);
    // The plain mean turns the edge purple.
    expect(Array.from(boxShrink(image, 2, 2).data)).toEqual([191, 0, 64, 64]);
  });

  it('equals the plain box shrink on opaque pixels, and gives a transparent block its mean colour', () => {
    const width = 9;
    const height = 6;
    const opaque = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < opaque.length; i++) opaque[i] = i % 4 === 3 ? 255 : (i * 37) % 251;
    const image = { width, height, data: opaque };
    for (const [fx, fy] of [
      [2, 2],
      [3, 2],
    ] as const) {
      const a = boxShrinkPremultiplied(image, fx, fy).data;
      const b = boxShrink(image, fx, fy).data;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1);
    }
    const clear = { width: 2, height: 1, data: new Uint8ClampedArray([10, 20, 30, 0, 30, 40, 50, 0]) };
    expect(Array.from(boxShrinkPremultiplied(clear, 2, 1).data)).toEqual([20, 30, 40, 0]);
  });

  it('matches an alpha-weighted mean on noise', () => {
    const width = 23;
    const height = 17;
    const data = new Uint8ClampedArray(width * height * 4);
    let seed = 99;
    for (let i = 0; i < data.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      data[i] = seed >>> 24;
    }
    const out = boxShrinkPremultiplied({ width, height, data }, 3, 2).data;
    const w = Math.floor(width / 3);
    for (let y = 0; y < Math.floor(height / 2); y++)
      for (let x = 0; x < w; x++) {
        let sa = 0;
        const sc = [0, 0, 0];
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 3; dx++) {
            const i = ((y * 2 + dy) * width + x * 3 + dx) * 4;
            sa += data[i + 3]!;
            for (let c = 0; c < 3; c++) sc[c]! += data[i + c]! * data[i + 3]!;
          }
        const o = (y * w + x) * 4;
        expect(Math.abs(out[o + 3]! - sa / 6)).toBeLessThanOrEqual(0.5);
        for (let c = 0; c < 3; c++) expect(Math.abs(out[o + c]! - sc[c]! / sa)).toBeLessThanOrEqual(0.5);
      }
  });
});
