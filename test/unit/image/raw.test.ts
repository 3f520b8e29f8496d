import { describe, expect, it } from 'vitest';
import { clearInvisible } from '../../../src/image/raw.ts';

describe('clearInvisible', () => {
  // Three pixels: invisible red, half-transparent green, invisible black already clear.
  const pixels = [255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 0, 0];
  const cleared = [0, 0, 0, 0, 0, 255, 0, 128, 0, 0, 0, 0];

  it('sets the colour of fully transparent pixels to 0, in place, and leaves the others', () => {
    const data = new Uint8ClampedArray(pixels);
    clearInvisible({ width: 3, height: 1, data });
    expect(Array.from(data)).toEqual(cleared);
  });

  it('does the same in a view that does not start on a 4-byte boundary, without writing outside it', () => {
    const buffer = new Uint8ClampedArray([9, ...pixels, 9]);
    const data = buffer.subarray(1, 13);
    clearInvisible({ width: 3, height: 1, data });
    expect(Array.from(buffer)).toEqual([9, ...cleared, 9]);
  });
});
