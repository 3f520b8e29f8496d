import { describe, expect, it } from 'vitest';
import { WATERMARK_POSITIONS } from '../../../src/core/config.ts';
import type { RawImage } from '../../../src/image/raw.ts';
import { compositeOver, placeMark } from '../../../src/image/watermark.ts';

function solid(width: number, height: number, rgba: readonly number[]): RawImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set(rgba, i * 4);
  return { width, height, data };
}

const px = (image: RawImage, x: number, y: number) =>
  Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 4));

describe('placeMark', () => {
  // 200x100 output, margin 0.1 of the shorter side = 10 px, a square mark 0.1 of the width = 20 px.
  const expected = {
    'top-left': { left: 10, top: 10 },
    'top-right': { left: 170, top: 10 },
    'bottom-left': { left: 10, top: 70 },
    'bottom-right': { left: 170, top: 70 },
    center: { left: 90, top: 40 },
  } as const;
  it.each(WATERMARK_POSITIONS.map((p) => [p]))('puts a %s mark its margin from the edges', (position) => {
    const place = placeMark(
      { width: 200, height: 100 },
      { width: 7, height: 7 },
      {
        position,
        margin: 0.1,
        size: 0.1,
      },
    );
    expect(place).toEqual({ ...expected[position], width: 20, height: 20 });
  });

  it("keeps the mark's aspect ratio and shrinks it to fit the height", () => {
    // 0.5 x 200 = 100 wide would make a 1:1 mark 100 tall; only 80 fit between the margins.
    expect(
      placeMark(
        { width: 200, height: 100 },
        { width: 30, height: 30 },
        {
          position: 'bottom-right',
          margin: 0.1,
          size: 0.5,
        },
      ),
    ).toEqual({ left: 110, top: 10, width: 80, height: 80 });
    expect(
      placeMark(
        { width: 400, height: 300 },
        { width: 40, height: 10 },
        {
          position: 'top-left',
          margin: 0,
          size: 0.25,
        },
      ),
    ).toEqual({ left: 0, top: 0, width: 100, height: 25 });
  });

  it('gives no placement when the margins leave no room', () => {
    expect(
      placeMark(
        { width: 3, height: 1 },
        { width: 5, height: 5 },
        { position: 'top-left', margin: 0.5, size: 1 },
      ),
    ).toBeUndefined();
  });
});

describe('compositeOver', () => {
  it('lands the opaque pixels of the mark exactly where placed, and leaves the base unmodified', () => {
    const base = solid(8, 6, [0, 0, 0, 255]);
    const mark = solid(3, 2, [255, 255, 255, 255]);
    const out = compositeOver(base, mark, 4, 3, 1);
    for (let y = 0; y < 6; y++) {
      for (let x = 0; x < 8; x++) {
        const inside = x >= 4 && x < 7 && y >= 3 && y < 5;
        expect(px(out, x, y), `${x},${y}`).toEqual(inside ? [255, 255, 255, 255] : [0, 0, 0, 255]);
      }
    }
    expect(px(base, 4, 3)).toEqual([0, 0, 0, 255]);
  });

  it('multiplies the mark by opacity: 50% white over black is 128', () => {
    const out = compositeOver(solid(2, 2, [0, 0, 0, 255]), solid(2, 2, [255, 255, 255, 255]), 0, 0, 0.5);
    expect(px(out, 1, 1)).toEqual([128, 128, 128, 255]);
  });

  it("uses the mark's own alpha, times opacity: a 50% alpha mark at 50% opacity is a quarter", () => {
    const out = compositeOver(solid(1, 1, [0, 0, 0, 255]), solid(1, 1, [255, 255, 255, 128]), 0, 0, 0.5);
    expect(px(out, 0, 0)).toEqual([64, 64, 64, 255]);
  });

  it('composites over transparency with the "over" operator, in straight alpha', () => {
    // Over a fully transparent base the mark's colour stays; the alpha is the mark's.
    const out = compositeOver(solid(1, 1, [0, 0, 0, 0]), solid(1, 1, [200, 100, 50, 255]), 0, 0, 0.5);
    expect(px(out, 0, 0)).toEqual([200, 100, 50, 128]);
    // Red at alpha 128/255 under blue at opacity 0.5: alpha 0.5 + 0.502 * 0.5 = 0.751 (192/255);
    // red 255 * 0.251 / 0.751 = 85, blue 255 * 0.5 / 0.751 = 170.
    const mixed = compositeOver(solid(1, 1, [255, 0, 0, 128]), solid(1, 1, [0, 0, 255, 255]), 0, 0, 0.5);
    expect(px(mixed, 0, 0)).toEqual([85, 0, 170, 192]);
  });

  it('clips a mark that reaches past the edges', () => {
    const out = compositeOver(solid(4, 4, [0, 0, 0, 255]), solid(3, 3, [255, 255, 255, 255]), 2, 2, 1);
    expect(px(out, 3, 3)).toEqual([255, 255, 255, 255]);
    expect(px(out, 1, 1)).toEqual([0, 0, 0, 255]);
  });
});
