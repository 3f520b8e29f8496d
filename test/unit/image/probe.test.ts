import { describe, expect, it } from 'vitest';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { type InputFormat, isInputFormat } from '../../../src/core/formats.ts';
import { probeImage } from '../../../src/image/probe.ts';
import { fixtures, readFixture } from '../../support/fixtures.ts';

const probeable = fixtures(
  (f) =>
    f.format !== null &&
    isInputFormat(f.format as InputFormat) &&
    ['ok', 'too-many-pixels', 'unsupported-colorspace'].includes(f.expect) === true,
).filter((f) => f.expect !== 'unsupported-colorspace');

describe('probeImage', () => {
  it.each(probeable.map((f) => [f.path, f]))('reads the header of %s', (path, fixture) => {
    const header = probeImage(fixture.format as InputFormat, readFixture(path));
    expect([header.width, header.height]).toEqual([fixture.width, fixture.height]);
    expect(header.orientation).toBe(fixture.orientation ?? 1);
    expect([header.displayWidth, header.displayHeight]).toEqual([
      fixture.displayWidth ?? fixture.width,
      fixture.displayHeight ?? fixture.height,
    ]);
  });

  it('reads a decompression bomb header without trusting it', () => {
    const png = probeImage('png', readFixture('edge/bombs/png-100000x100000.png'));
    expect([png.width, png.height]).toEqual([100_000, 100_000]);
    const webp = probeImage('webp', readFixture('edge/bombs/webp-16384x16384.webp'));
    expect([webp.width, webp.height]).toEqual([16_384, 16_384]);
  });

  it('detects alpha from the header', () => {
    expect(probeImage('png', readFixture('edge/formats/alpha-rgba8.png')).hasAlpha).toBe(true);
    expect(probeImage('png', readFixture('edge/orientation/upright-reference-96x64.png')).hasAlpha).toBe(
      false,
    );
    expect(probeImage('webp', readFixture('edge/formats/lossy.webp')).hasAlpha).toBe(false);
  });

  it.each([
    ['edge/broken/truncated-half.jpg', 'jpeg'],
    ['edge/broken/truncated-half.png', 'png'],
  ] as const)('reports %s as truncated', (path, format) => {
    expect(() => probeImage(format, readFixture(path))).toThrow(
      expect.objectContaining({ reason: 'truncated', name: 'InvalidImageError' }),
    );
  });

  it('reports a WebP and an AVIF cut short as truncated', () => {
    for (const [path, format] of [
      ['edge/formats/lossy.webp', 'webp'],
      ['edge/formats/avif-8bit-420.avif', 'avif'],
    ] as const) {
      const bytes = readFixture(path);
      const error = catchError(() => probeImage(format, bytes.subarray(0, Math.floor(bytes.length * 0.7))));
      expect(error.reason).toBe('truncated');
      expect(error.message).toMatch(new RegExp(`The ${format} file ends at byte \\d+`));
    }
  });

  it('refuses CMYK JPEG by name before decoding', () => {
    const error = catchError(() => probeImage('jpeg', readFixture('edge/formats/cmyk.jpg')));
    expect(error.reason).toBe('unsupported-colorspace');
    expect(error.message).toMatch(/^(CMYK|YCCK) JPEG is not supported/);
  });

  it('reports garbage after a JPEG signature as corrupt', () => {
    const error = catchError(() =>
      probeImage(
        'jpeg',
        new Uint8Array([
          0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x00, 0x13,
        ]),
      ),
    );
    expect(error.reason).toBe('corrupt');
  });
});

function catchError(run: () => unknown): InvalidImageError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidImageError);
    return error as InvalidImageError;
  }
  throw new Error('expected an InvalidImageError');
}
