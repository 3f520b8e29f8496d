import * as mozjpeg from '@jsquash/jpeg/decode.js';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/codecs/index.ts';
import { TurboJpeg, TurboJpegError } from '../../../src/codecs/jpeg-turbo.ts';
import { compileWasm } from '../../../src/codecs/wasm.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { boxShrink } from '../../../src/image/shrink.ts';
import { readFixture } from '../../support/fixtures.ts';

const turbo = new TurboJpeg(await compileWasm('jpegTurbo'));

/** jSquash's MozJPEG decoder, the one the pipeline used before, as an independent reference. */
async function decodeWithMozjpeg(bytes: Uint8Array): Promise<Uint8ClampedArray> {
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const wasm = await readFile(fileURLToPath(import.meta.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
  await mozjpeg.init(await WebAssembly.compile(wasm));
  const image = await mozjpeg.default(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer,
  );
  return image.data;
}

function meanAbsoluteDifference(a: Uint8ClampedArray, b: Uint8ClampedArray): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe('TurboJPEG decoder', () => {
  it.each([
    'photos/colour-fig-red-bowl.jpg',
    'photos/portrait-friends-dogs.jpg',
    'edge/formats/progressive.jpg',
    'edge/formats/grayscale.jpg',
    'edge/formats/chroma-444.jpg',
    'edge/formats/1x1.jpg',
  ])('decodes %s to the same RGBA bytes as MozJPEG', async (path) => {
    const bytes = readFixture(path);
    const image = turbo.decode(bytes);
    expect(image.warning).toBeUndefined();
    expect(Buffer.from(image.data).equals(Buffer.from(await decodeWithMozjpeg(bytes)))).toBe(true);
  });

  it.each([2, 4, 8] as const)(
    'decodes at 1/%i in the DCT domain, close to a box shrink of the full decode',
    (shrink) => {
      // 1600x1082: 1082 / 8 is not whole, and libjpeg rounds each side up.
      const bytes = readFixture('photos/colour-fig-red-bowl.jpg');
      const full = turbo.decode(bytes);
      const small = turbo.decode(bytes, shrink);
      expect([small.width, small.height]).toEqual([Math.ceil(1600 / shrink), Math.ceil(1082 / shrink)]);
      const boxed = boxShrink(full, shrink, shrink);
      // Compare the rows and columns both have (the box shrink drops the partial last block).
      const rows = Math.min(boxed.height, small.height);
      const cut = (image: { width: number; data: Uint8ClampedArray }) => {
        const out = new Uint8ClampedArray(boxed.width * rows * 4);
        for (let y = 0; y < rows; y++)
          out.set(
            image.data.subarray(y * image.width * 4, (y * image.width + boxed.width) * 4),
            y * boxed.width * 4,
          );
        return out;
      };
      expect(meanAbsoluteDifference(cut(small), cut(boxed))).toBeLessThan(2.5);
    },
  );

  it('reports truncation and corrupt scan data as warnings with libjpeg text, and decode() rejects them', async () => {
    expect(turbo.decode(readFixture('edge/broken/truncated-half.jpg')).warning).toBe(
      'Premature end of JPEG file',
    );
    expect(turbo.decode(readFixture('edge/broken/corrupt-entropy.jpg')).warning).toBe(
      'Corrupt JPEG data: bad Huffman code',
    );
    const truncated = await decode('jpeg', readFixture('edge/broken/truncated-half.jpg')).catch(
      (e: unknown) => e,
    );
    expect(truncated).toBeInstanceOf(InvalidImageError);
    expect((truncated as InvalidImageError).reason).toBe('truncated');
    expect((truncated as InvalidImageError).message).toBe(
      'The jpeg decoder found damaged image data: Premature end of JPEG file',
    );
  });

  it('accepts extraneous bytes before a marker, which libjpeg skips', async () => {
    const good = readFixture('edge/formats/chroma-444.jpg');
    const eoi = good.lastIndexOf(Buffer.from([0xff, 0xd9]));
    const padded = Buffer.concat([good.subarray(0, eoi), Buffer.from([1, 2, 3]), good.subarray(eoi)]);
    expect(turbo.decode(padded).warning).toMatch(
      /^Corrupt JPEG data: \d+ extraneous bytes before marker 0xd9$/,
    );
    const image = await decode('jpeg', padded);
    expect(Buffer.from(image.data).equals(Buffer.from(turbo.decode(good).data))).toBe(true);
  });

  it('throws libjpeg fatal errors with their text and keeps working afterwards', () => {
    const png = readFixture('edge/broken/png-named.jpg');
    expect(() => turbo.decode(png)).toThrow(new TurboJpegError('Not a JPEG file: starts with 0x89 0x50'));
    expect(() => turbo.decode(readFixture('edge/unsupported/arithmetic.jpg'))).toThrow(
      'Sorry, arithmetic coding is not implemented',
    );
    expect(() => turbo.decode(new Uint8Array(0))).toThrow('tjDecompressHeader3(): Invalid argument');
    const after = turbo.decode(readFixture('edge/formats/1x1.jpg'));
    expect([after.width, after.height, after.warning]).toEqual([1, 1, undefined]);
  });

  it('rejects arithmetic-coded JPEG as an unsupported format, naming the coding', async () => {
    const error = (await decode('jpeg', readFixture('edge/unsupported/arithmetic.jpg')).catch(
      (e: unknown) => e,
    )) as InvalidImageError;
    expect(error.reason).toBe('unsupported-format');
    expect(error.message).toMatch(/^Arithmetic-coded JPEG is not supported/);
    expect(error.details).toMatchObject({ format: 'jpeg', coding: 'arithmetic' });
  });
});
