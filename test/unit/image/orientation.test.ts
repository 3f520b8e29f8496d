import { describe, expect, it } from 'vitest';
import { readExifOrientation } from '../../../src/image/exif.ts';
import {
  applyOrientation,
  type Orientation,
  orientationFromHeifTransforms,
} from '../../../src/image/orientation.ts';
import type { RawImage } from '../../../src/image/raw.ts';

/** A 3x2 image whose pixels are numbered 0..5 (in the red channel), row by row. */
const stored: RawImage = {
  width: 3,
  height: 2,
  data: new Uint8ClampedArray([0, 1, 2, 3, 4, 5].flatMap((n) => [n, 0, 0, 255])),
};
const numbers = (image: RawImage) =>
  Array.from({ length: image.height }, (_, y) =>
    Array.from({ length: image.width }, (_, x) => image.data[(y * image.width + x) * 4]),
  );

describe('applyOrientation', () => {
  // What a viewer shows for each EXIF orientation of the stored grid [[0,1,2],[3,4,5]].
  const displayed: Record<Orientation, number[][]> = {
    1: [
      [0, 1, 2],
      [3, 4, 5],
    ],
    2: [
      [2, 1, 0],
      [5, 4, 3],
    ],
    3: [
      [5, 4, 3],
      [2, 1, 0],
    ],
    4: [
      [3, 4, 5],
      [0, 1, 2],
    ],
    5: [
      [0, 3],
      [1, 4],
      [2, 5],
    ],
    6: [
      [3, 0],
      [4, 1],
      [5, 2],
    ],
    7: [
      [5, 2],
      [4, 1],
      [3, 0],
    ],
    8: [
      [2, 5],
      [1, 4],
      [0, 3],
    ],
  };
  it.each(Object.entries(displayed))('turns orientation %s upright', (orientation, grid) => {
    expect(numbers(applyOrientation(stored, Number(orientation) as Orientation))).toEqual(grid);
  });

  it('returns the same image for orientation 1 without copying', () => {
    expect(applyOrientation(stored, 1)).toBe(stored);
  });
});

describe('orientationFromHeifTransforms', () => {
  // libavif's mapping (avifImageExtractExifOrientationToIrotImir), applied rotation first.
  it.each([
    [undefined, undefined, 1],
    [undefined, 1, 2],
    [2, undefined, 3],
    [undefined, 0, 4],
    [1, 0, 5],
    [3, undefined, 6],
    [3, 0, 7],
    [1, undefined, 8],
  ] as const)('maps irot %s imir %s to orientation %s', (irot, imir, orientation) => {
    const transforms = [...(irot === undefined ? [] : [{ irot }]), ...(imir === undefined ? [] : [{ imir }])];
    expect(orientationFromHeifTransforms(transforms)).toBe(orientation);
  });
});

describe('readExifOrientation', () => {
  const tiff = (little: boolean, value: number, type = 3) => {
    const b = Buffer.alloc(26);
    const u16 = (o: number, v: number) => (little ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
    const u32 = (o: number, v: number) => (little ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
    b.write(little ? 'II' : 'MM', 0, 'latin1');
    u16(2, 42);
    u32(4, 8);
    u16(8, 1);
    u16(10, 0x0112);
    u16(12, type);
    u32(14, 1);
    if (type === 3) u16(18, value);
    else u32(18, value);
    return new Uint8Array(b);
  };

  it('reads both byte orders, with or without the Exif preamble', () => {
    expect(readExifOrientation(tiff(true, 6))).toBe(6);
    expect(readExifOrientation(tiff(false, 8))).toBe(8);
    expect(
      readExifOrientation(new Uint8Array([...Buffer.from('Exif\0\0', 'latin1'), ...tiff(false, 3)])),
    ).toBe(3);
    expect(readExifOrientation(tiff(true, 5, 4))).toBe(5);
  });

  it('ignores out-of-range values and malformed blocks instead of throwing', () => {
    expect(readExifOrientation(tiff(true, 9))).toBeUndefined();
    expect(readExifOrientation(tiff(true, 6).subarray(0, 14))).toBeUndefined();
    expect(readExifOrientation(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });
});
