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
  const tiff = (little: boolean, value: number, type = 3) => ifd0(little, [{ tag: 0x0112, type, value }]);
  /** A TIFF header and IFD0 of these entries (count 1 unless given), then an IFD of `sub` at its end. */
  const ifd0 = (
    little: boolean,
    entries: readonly { tag: number; type: number; value: number; count?: number }[],
    sub: readonly { tag: number; type: number; value: number }[] = [],
  ) => {
    const subAt = 8 + 2 + entries.length * 12 + 4;
    const b = Buffer.alloc(subAt + 2 + sub.length * 12 + 4);
    const u16 = (o: number, v: number) => (little ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
    const u32 = (o: number, v: number) => (little ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
    const write = (
      at: number,
      list: readonly { tag: number; type: number; value: number; count?: number }[],
    ) => {
      u16(at, list.length);
      list.forEach(({ tag, type, value, count = 1 }, i) => {
        const entry = at + 2 + i * 12;
        u16(entry, tag);
        u16(entry + 2, type);
        u32(entry + 4, count);
        if (type === 3) u16(entry + 8, value);
        else u32(entry + 8, tag === 0x8769 ? subAt : value);
      });
    };
    b.write(little ? 'II' : 'MM', 0, 'latin1');
    u16(2, 42);
    u32(4, 8);
    write(8, entries);
    write(subAt, sub);
    return new Uint8Array(b);
  };

  it('reads both byte orders, with or without the Exif preamble', () => {
    expect(readExifOrientation(tiff(true, 6))).toBe(6);
    expect(readExifOrientation(tiff(false, 8))).toBe(8);
    expect(
      readExifOrientation(new Uint8Array([...Buffer.from('Exif\0\0', 'latin1'), ...tiff(false, 3)])),
    ).toBe(3);
  });

  // Chrome 156 (JPEG Exif and PNG eXIf alike) reads the Orientation tag only as one SHORT, passes
  // over an entry it cannot use to a later one, and finds the tag in the Exif sub-IFD too. The
  // reader took a LONG or a count of 2 or 0 (the image was turned where Chrome shows it unturned),
  // stopped at an invalid first tag, and read IFD0 alone.
  it.each([
    ['a LONG', [{ tag: 0x0112, type: 4, value: 6 }], [], undefined],
    ['a count of 2', [{ tag: 0x0112, type: 3, value: 6, count: 2 }], [], undefined],
    ['a count of 0', [{ tag: 0x0112, type: 3, value: 6, count: 0 }], [], undefined],
    ['a signed SHORT', [{ tag: 0x0112, type: 8, value: 6 }], [], undefined],
    [
      'value 9, then 6',
      [
        { tag: 0x0112, type: 3, value: 9 },
        { tag: 0x0112, type: 3, value: 6 },
      ],
      [],
      6,
    ],
    [
      'a LONG, then a SHORT 8',
      [
        { tag: 0x0112, type: 4, value: 6 },
        { tag: 0x0112, type: 3, value: 8 },
      ],
      [],
      8,
    ],
    [
      '6, then 8',
      [
        { tag: 0x0112, type: 3, value: 6 },
        { tag: 0x0112, type: 3, value: 8 },
      ],
      [],
      6,
    ],
    [
      'none in IFD0, 6 in the Exif sub-IFD',
      [{ tag: 0x8769, type: 4, value: 0 }],
      [{ tag: 0x0112, type: 3, value: 6 }],
      6,
    ],
    [
      '3 in IFD0 and 6 in the Exif sub-IFD',
      [
        { tag: 0x0112, type: 3, value: 3 },
        { tag: 0x8769, type: 4, value: 0 },
      ],
      [{ tag: 0x0112, type: 3, value: 6 }],
      3,
    ],
  ] as const)('reads the Orientation tag as Chrome does: %s', (_, entries, sub, expected) => {
    for (const little of [true, false])
      expect(readExifOrientation(ifd0(little, entries, sub))).toBe(expected);
  });

  it('ignores out-of-range values and malformed blocks instead of throwing', () => {
    expect(readExifOrientation(tiff(true, 9))).toBeUndefined();
    expect(readExifOrientation(tiff(true, 6).subarray(0, 14))).toBeUndefined();
    expect(readExifOrientation(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });
});
