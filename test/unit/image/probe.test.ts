import { describe, expect, it } from 'vitest';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { type InputFormat, isInputFormat } from '../../../src/core/formats.ts';
import { MAX_JPEG_SCANS, probeImage } from '../../../src/image/probe.ts';
import { fixtures, readFixture } from '../../support/fixtures.ts';
import { progressiveJpeg, scanSegments, withRepeatedScan } from '../../support/scans.ts';

const probeable = fixtures(
  (f) =>
    f.format !== null &&
    isInputFormat(f.format as InputFormat) &&
    ['ok', 'too-many-pixels'].includes(f.expect) === true,
);

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

  it('reads a CMYK JPEG as CMYK, Adobe-inverted when it has the APP14 marker', () => {
    const header = probeImage('jpeg', readFixture('edge/formats/cmyk.jpg'));
    expect(header.cmyk).toEqual({ model: 'CMYK', inverted: true });
    expect(header.colour).toEqual({ warnings: [] });
    expect(probeImage('jpeg', readFixture('edge/formats/grayscale.jpg')).cmyk).toBeUndefined();
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

  describe('JPEG scans', () => {
    it('follows the browsers: at most 100 scans', () => {
      expect(MAX_JPEG_SCANS).toBe(100);
    });

    it(`accepts a progressive JPEG of ${MAX_JPEG_SCANS} scans and refuses one more`, async () => {
      const jpeg = await progressiveJpeg('photos/landscape-picos-de-europa.jpg', 320, 240);
      const scans = scanSegments(jpeg).length;
      expect(scans).toBeGreaterThan(1);
      const atLimit = withRepeatedScan(jpeg, -1, MAX_JPEG_SCANS - scans);
      expect(probeImage('jpeg', atLimit)).toMatchObject({ width: 320, height: 240 });

      const error = catchError(() =>
        probeImage('jpeg', withRepeatedScan(jpeg, -1, MAX_JPEG_SCANS + 1 - scans)),
      );
      expect(error.reason).toBe('too-many-scans');
      expect(error.message).toMatch(/^The jpeg file has more than 100 scans/);
      expect(error.details).toMatchObject({ format: 'jpeg', maxScans: MAX_JPEG_SCANS });
    });

    it('counts the scans of every progressive and baseline fixture within the limit', () => {
      for (const path of ['edge/formats/progressive.jpg', 'photos/colour-fig-red-bowl.jpg']) {
        expect(scanSegments(readFixture(path)).length).toBeLessThanOrEqual(MAX_JPEG_SCANS);
        expect(() => probeImage('jpeg', readFixture(path))).not.toThrow();
      }
    });

    /**
     * A frame header and `count` scans whose entropy-coded data holds everything that looks like a
     * marker but is not one: stuffed bytes (0xFF00, here even 0xFF00 0xDA), restart markers and
     * fill bytes before the next marker, with a table segment and stray bytes between two scans.
     */
    function syntheticJpeg(count: number): Uint8Array {
      const sof = [0xff, 0xc2, 0, 17, 8, 0, 16, 0, 16, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
      const sos = [0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0, 0];
      const data = [0x12, 0xff, 0x00, 0xda, 0xff, 0xd3, 0x34, 0xff, 0x00, 0xff, 0xd7, 0x56, 0xff, 0xff];
      const bytes = [0xff, 0xd8, ...sof];
      for (let i = 0; i < count; i++) {
        bytes.push(...sos, ...data);
        // libjpeg skips stray bytes before a marker (with a warning the decoder lets pass).
        if (i === 0) bytes.push(0xff, 0xc4, 0, 2, 0x00, 0x7f);
      }
      bytes.push(0xff, 0xd9);
      return new Uint8Array(bytes);
    }

    it('skips stuffed bytes, restart markers and fill bytes inside the scan data', () => {
      expect(probeImage('jpeg', syntheticJpeg(MAX_JPEG_SCANS))).toMatchObject({ width: 16, height: 16 });
      const error = catchError(() => probeImage('jpeg', syntheticJpeg(MAX_JPEG_SCANS + 1)));
      expect(error.reason).toBe('too-many-scans');
    });

    it('reports a progressive JPEG cut short in a later scan as truncated', async () => {
      const jpeg = await progressiveJpeg('photos/landscape-picos-de-europa.jpg', 320, 240);
      const last = scanSegments(jpeg).at(-1)!;
      const error = catchError(() => probeImage('jpeg', jpeg.subarray(0, last.end - 10)));
      expect(error.reason).toBe('truncated');
    });
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
