import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/codecs/index.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { type InputFormat, isInputFormat } from '../../../src/core/formats.ts';
import { parseSequenceHeader } from '../../../src/image/av1.ts';
import { inspectImage } from '../../../src/image/inspect.ts';
import {
  MAX_JPEG_MARKERS,
  MAX_JPEG_SCANS,
  MAX_PNG_CHUNKS,
  MAX_WEBP_CHUNKS,
  probeImage,
} from '../../../src/image/probe.ts';
import { buildAvif, findBox, topLevelBox, withTrack } from '../../support/avif.ts';
import { fixtures, readFixture } from '../../support/fixtures.ts';
import { inFreshProcess } from '../../support/fresh.ts';
import { alphaAuxC, box, buildHeif, clap, heifParts, ispe } from '../../support/heif.ts';
import { chunk, writePng } from '../../support/png.ts';
import { progressiveJpeg, scanSegments, withRepeatedScan } from '../../support/scans.ts';
import { animation, riff, vp8l, chunk as webpChunk } from '../../support/webp.ts';

const probeable = fixtures(
  (f) =>
    f.format !== null &&
    isInputFormat(f.format as InputFormat) &&
    ['ok', 'too-many-pixels'].includes(f.expect) === true,
);

/** 4:2:0: luma at twice the chroma's resolution both ways. */
const SAMPLING_420 = [
  [2, 2],
  [1, 1],
  [1, 1],
];

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

  it('names a box or chunk type of hostile bytes escaped in its message, never as the raw bytes', () => {
    // A type is four bytes of the file: terminal control sequences (ESC [ 2 J clears the screen),
    // C1 controls and NUL reached the message, and with it every log and status record.
    const avif = readFixture('edge/formats/avif-8bit-420.avif');
    const webp = readFixture('edge/formats/lossy.webp');
    const type = '\x1b[2J';
    const hostile = (message: string, details: Record<string, unknown>) => {
      expect(message).toMatch(/^[ -~]*$/);
      expect(JSON.stringify(details)).toMatch(/^[ -~]*$/);
      expect(JSON.stringify(details)).not.toContain('\\u00');
    };
    // A top-level box that runs past the file's end, one smaller than its header, one of size 1
    // whose 64-bit size is cut off.
    const overrun = Buffer.concat([avif, Buffer.from([0, 0, 1, 0]), Buffer.from(type, 'latin1')]);
    const small = Buffer.concat([avif, Buffer.from([0, 0, 0, 4]), Buffer.from(type, 'latin1')]);
    const large = Buffer.concat([avif, Buffer.from([0, 0, 0, 1]), Buffer.from(`${type}\x9b`, 'latin1')]);
    for (const file of [overrun, small, large]) {
      const error = catchError(() => probeImage('avif', file));
      expect(error.message).toContain('\\x1b[2J');
      hostile(error.message, error.details);
    }
    // A WebP chunk that runs past the RIFF's end.
    const chunked = Buffer.concat([webp, Buffer.from(type, 'latin1'), Buffer.from([0xff, 0xff, 0, 0])]);
    chunked.writeUInt32LE(chunked.length - 8, 4);
    const error = catchError(() => probeImage('webp', chunked));
    expect(error.message).toContain('\\x1b[2J chunk');
    hostile(error.message, error.details);
  });

  it('reads a four-component JPEG as YCCK when Adobe APP14 says transform 2, Adobe-inverted', () => {
    // ImageMagick (libjpeg) writes CMYK as YCCK with the APP14 marker, transform 2.
    const header = probeImage('jpeg', readFixture('edge/formats/cmyk.jpg'));
    expect(header.cmyk).toEqual({ model: 'YCCK', inverted: true });
    expect(header.colour).toEqual({ warnings: [] });
    expect(probeImage('jpeg', readFixture('edge/formats/grayscale.jpg')).cmyk).toBeUndefined();
  });

  it('reads a four-component JPEG by the Adobe transform as libjpeg does: 0 is CMYK, 1 and others YCCK', () => {
    const bytes = readFixture('edge/formats/cmyk.jpg');
    const app14 = Buffer.from(bytes).indexOf(Buffer.from('Adobe', 'latin1'));
    expect(app14).toBeGreaterThan(0);
    // The transform is the last byte of the 12-byte APP14 body ('Adobe', version, flags0, flags1).
    expect(bytes[app14 + 11]).toBe(2);
    const withTransform = (transform: number) => {
      const copy = Uint8Array.from(bytes);
      copy[app14 + 11] = transform;
      return probeImage('jpeg', copy).cmyk;
    };
    expect(withTransform(0)).toEqual({ model: 'CMYK', inverted: true });
    expect(withTransform(1)).toEqual({ model: 'YCCK', inverted: true });
    expect(withTransform(7)).toEqual({ model: 'YCCK', inverted: true });
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
      expect(probeImage('jpeg', jpeg).layout.scans).toBe(scans);
      const atLimit = withRepeatedScan(jpeg, -1, MAX_JPEG_SCANS - scans);
      expect(probeImage('jpeg', atLimit)).toMatchObject({ width: 320, height: 240 });
      expect(probeImage('jpeg', atLimit).layout.scans).toBe(MAX_JPEG_SCANS);

      const error = catchError(() =>
        probeImage('jpeg', withRepeatedScan(jpeg, -1, MAX_JPEG_SCANS + 1 - scans)),
      );
      expect(error.reason).toBe('too-many-scans');
      expect(error.message).toMatch(/^The jpeg file has more than 100 scans/);
      expect(error.details).toMatchObject({ format: 'jpeg', maxScans: MAX_JPEG_SCANS });
    });

    it('tells a sequential JPEG (one scan) from a progressive one in its layout', () => {
      expect(probeImage('jpeg', readFixture('photos/colour-fig-red-bowl.jpg')).layout).toEqual({
        bitDepth: 8,
        channels: 3,
        scans: 1,
        coefficientsHeld: false,
        sampling: SAMPLING_420,
      });
      const progressive = probeImage('jpeg', readFixture('edge/formats/progressive.jpg')).layout;
      expect(progressive.scans).toBeGreaterThan(1);
      expect(progressive.coefficientsHeld).toBe(true);
    });

    it('reports one channel for a one-component (grey) JPEG', () => {
      expect(probeImage('jpeg', readFixture('edge/formats/grayscale.jpg')).layout.channels).toBe(1);
      expect(probeImage('jpeg', readFixture('edge/formats/cmyk.jpg')).layout.channels).toBe(3);
    });

    it("reads each component's sampling factors, and refuses factors libjpeg refuses", () => {
      expect(probeImage('jpeg', readFixture('edge/formats/chroma-444.jpg')).layout.sampling).toEqual([
        [1, 1],
        [1, 1],
        [1, 1],
      ]);
      const bytes = Uint8Array.from(readFixture('edge/formats/progressive.jpg'));
      const sof = Buffer.from(bytes).indexOf(Buffer.from([0xff, 0xc2]));
      bytes[sof + 11] = 0x50; // the first component's factors: 5x0
      const error = catchError(() => probeImage('jpeg', bytes));
      expect(error.reason).toBe('corrupt');
      expect(error.message).toBe(
        'The jpeg file is malformed: component 1 has the sampling factors 5x0 (1 to 4 are defined)',
      );
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

    it('refuses a second frame header (SOF): libjpeg allocates by the first', () => {
      const sof = (width: number, height: number) => [
        0xff,
        0xc0,
        0,
        11,
        8,
        height >> 8,
        height & 0xff,
        width >> 8,
        width & 0xff,
        1,
        1,
        0x11,
        0,
      ];
      const sos = [0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0];
      const jpeg = (...frames: number[][]) =>
        new Uint8Array([0xff, 0xd8, ...frames.flat(), ...sos, 0x12, 0x34, 0xff, 0xd9]);
      expect(probeImage('jpeg', jpeg(sof(16, 16)))).toMatchObject({ width: 16, height: 16 });
      const error = catchError(() => probeImage('jpeg', jpeg(sof(10000, 10000), sof(16, 16))));
      expect(error.reason).toBe('corrupt');
      expect(error.message).toBe(
        'The jpeg file is malformed: a second frame header (SOF) at byte 15, after one of 10000x10000',
      );
      expect(error.details).toMatchObject({ first: [10000, 10000] });
    });

    it(`refuses a file of more than ${MAX_JPEG_MARKERS} markers, naming the count, and takes one of that many`, () => {
      // Empty COM segments, one every 4 bytes: 8.4 million in 32 MiB took seconds to walk, before any deadline.
      const sof = [0xff, 0xc0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0];
      const sos = [0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0];
      // SOF, SOS and EOI are markers too.
      const withMarkers = (total: number) =>
        new Uint8Array(
          Buffer.concat([
            Buffer.from([0xff, 0xd8]),
            Buffer.alloc((total - 3) * 4, Buffer.from([0xff, 0xfe, 0x00, 0x02])),
            Buffer.from([...sof, ...sos, 0x12, 0x34, 0xff, 0xd9]),
          ]),
        );
      expect(probeImage('jpeg', withMarkers(MAX_JPEG_MARKERS))).toMatchObject({ width: 16, height: 16 });
      const over = withMarkers(MAX_JPEG_MARKERS + 1);
      const error = catchError(() => probeImage('jpeg', over));
      expect(error).toMatchObject({
        reason: 'corrupt',
        message: `The jpeg file is malformed: it has more than ${MAX_JPEG_MARKERS} markers (marker ${MAX_JPEG_MARKERS + 1} at byte ${over.length - 2}, of ${over.length} bytes)`,
        details: { format: 'jpeg', markers: MAX_JPEG_MARKERS + 1, maxMarkers: MAX_JPEG_MARKERS },
      });
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

describe('probeImage on AVIF: the AV1 sequence header against ispe', () => {
  const small = readFixture('edge/formats/avif-8bit-420.avif'); // 480x325, 8-bit 4:2:0
  const large = readFixture('edge/bombs/avif-7000x7000-ispe-64x64.avif'); // a 7000x7000 frame
  const frame = (file: Uint8Array, width: number, height: number) => ({
    data: topLevelBox(file, 'mdat'),
    av1C: findBox(file, 'av1C'),
    width,
    height,
  });

  it('reads the bit depth and chroma subsampling of the AV1 frames', () => {
    expect(probeImage('avif', small).layout).toEqual({ bitDepth: 8, channels: 3, chroma: '4:2:0' });
    expect(probeImage('avif', readFixture('edge/formats/avif-10bit-444.avif')).layout).toEqual({
      bitDepth: 10,
      channels: 3,
      chroma: '4:4:4',
    });
  });

  it('refuses an ispe of 64x64 in front of a 7000x7000 frame, naming both sizes', () => {
    const error = catchError(() => probeImage('avif', large));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      "The avif file is malformed: item 1's ispe declares 64x64 but its AV1 sequence header declares frames of up to 7000x7000",
    );
    expect(error.details).toMatchObject({ declared: [64, 64], coded: [7000, 7000] });
  });

  it('refuses a real file whose ispe was rewritten, smaller or larger than its frame', () => {
    for (const [width, height] of [
      [64, 64],
      [960, 650],
    ] as const) {
      const error = catchError(() => probeImage('avif', buildAvif(frame(small, width, height))));
      expect(error.message).toBe(
        `The avif file is malformed: item 1's ispe declares ${width}x${height} but its AV1 sequence header declares frames of up to 480x325`,
      );
    }
    expect(probeImage('avif', buildAvif(frame(small, 480, 325))).width).toBe(480);
  });

  it('refuses an alpha item whose frame is larger than its ispe', () => {
    const error = catchError(() =>
      probeImage('avif', buildAvif(frame(small, 480, 325), frame(large, 480, 325))),
    );
    expect(error.message).toBe(
      "The avif file is malformed: item 2's ispe declares 480x325 but its AV1 sequence header declares frames of up to 7000x7000",
    );
  });

  it('reads AV1 data stored in the idat box', () => {
    const header = probeImage('avif', buildAvif({ ...frame(small, 480, 325), inIdat: true }));
    expect([header.width, header.height, header.layout.chroma]).toEqual([480, 325, '4:2:0']);
    const error = catchError(() => probeImage('avif', buildAvif({ ...frame(large, 64, 64), inIdat: true })));
    expect(error.message).toMatch(/ispe declares 64x64 but .* up to 7000x7000$/);
  });

  it('refuses a sequence without a meta box as unsupported, saying so: only its track holds frames', async () => {
    const file = readFixture('edge/formats/avif-8bit-420.avif');
    const frame = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
    const sequence = Buffer.from(withTrack(buildAvif(frame), frame));
    sequence.write('free', sequence.indexOf('meta'), 'latin1'); // the meta box skipped, offsets kept
    await expect(decode('avif', sequence)).rejects.toThrow(InvalidImageError); // our libavif refuses it
    const error = catchError(() => probeImage('avif', sequence));
    expect(error.reason).toBe('unsupported-format');
    expect(error.message).toBe(
      'The avif file is an image sequence (major brand "avis") without a meta box: its frames are only in a track, and imgpipe decodes the image a meta box names (MIAF requires one in every file; libavif and ffmpeg write one, and libheif and our libavif decoder refuse a file without it)',
    );
    expect(error.details).toMatchObject({ brand: 'avis' });
    // Without a track either, the file is only malformed.
    const bare = Buffer.from(buildAvif(frame));
    bare.write('free', bare.indexOf('meta'), 'latin1');
    expect(catchError(() => probeImage('avif', bare)).message).toBe(
      'The avif file is malformed: there is no meta box',
    );
  });

  it("refuses a sequence whose track, which libavif decodes, codes another size than the primary item's", async () => {
    const other = readFixture('edge/formats/avif-10bit-444.avif'); // 192x128
    const sequence = withTrack(buildAvif(frame(small, 480, 325)), frame(other, 192, 128));
    // The decoder takes the track's frame, not the primary item the header describes.
    const decoded = await decode('avif', sequence);
    expect([decoded.width, decoded.height]).toEqual([192, 128]);
    const error = catchError(() => probeImage('avif', sequence));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      "The avif file is malformed: track 1's AV1 sequence header declares frames of up to 192x128 but the primary item is 480x325",
    );
    expect(error.details).toMatchObject({ track: 1, coded: [192, 128], declared: [480, 325] });
    // The av01 sample entry need not be the first.
    const behind = withTrack(buildAvif(frame(small, 480, 325)), frame(other, 192, 128), ['mp4v', 'av01']);
    expect((await decode('avif', behind)).width).toBe(192);
    expect(catchError(() => probeImage('avif', behind)).message).toMatch(
      /up to 192x128 but the primary item is 480x325$/,
    );
    // A track of the primary item's size is the sequence encoders write.
    const header = probeImage('avif', withTrack(buildAvif(frame(small, 480, 325)), frame(small, 480, 325)));
    expect([header.width, header.height, header.animated]).toEqual([480, 325, true]);
  });

  it('refuses AV1 data without a sequence header: its frame size cannot be known', () => {
    // The fixture's data: a temporal delimiter (2 bytes), the sequence header OBU, then the frame.
    const data = topLevelBox(small, 'mdat');
    expect([data[0], data[2]! >> 3]).toEqual([0x12, 1]);
    const withoutHeader = new Uint8Array([...data.subarray(0, 2), ...data.subarray(4 + data[3]!)]);
    const error = catchError(() =>
      probeImage('avif', buildAvif({ ...frame(small, 480, 325), data: withoutHeader })),
    );
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      "The avif file is malformed: item 1's AV1 data has no sequence header, so its frame size is unknown",
    );
  });

  it('refuses an OBU whose size runs past the item data', () => {
    const data = topLevelBox(small, 'mdat').slice();
    data[3] = 0x7f; // the sequence header OBU's size
    const error = catchError(() =>
      probeImage('avif', buildAvif({ ...frame(small, 480, 325), data: data.subarray(0, 60) })),
    );
    expect(error.reason).toBe('corrupt');
    expect(error.message).toMatch(
      /^The avif file is malformed: item 1's AV1 data: the OBU at byte 2 declares 127 bytes/,
    );
  });
});

describe('probeImage on AVIF and HEIC: the clean aperture (clap)', () => {
  const small = readFixture('edge/formats/avif-8bit-420.avif'); // 480x325, 8-bit 4:2:0
  const withProperties = (...properties: Uint8Array[]) =>
    buildAvif({
      data: topLevelBox(small, 'mdat'),
      av1C: findBox(small, 'av1C'),
      width: 480,
      height: 325,
      properties,
    });
  const kept = { left: 100, top: 50, width: 200, height: 150 };
  const rawClap = (...values: number[]) =>
    box('clap', ...values.map((v) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255)));

  it('reads the rectangle the primary item keeps; the displayed size is its size, turned by irot', () => {
    const header = probeImage('avif', withProperties(clap(kept, 480, 325)));
    expect(header.crop).toEqual(kept);
    expect([header.width, header.height, header.displayWidth, header.displayHeight]).toEqual([
      480, 325, 200, 150,
    ]);
    const turned = probeImage('avif', withProperties(clap(kept, 480, 325), box('irot', Uint8Array.of(1))));
    expect([turned.orientation, turned.displayWidth, turned.displayHeight]).toEqual([8, 150, 200]);
    expect(probeImage('avif', withProperties()).crop).toBeUndefined();
  });

  it('rounds and clamps as libheif does: a rectangle reaching past the image keeps what is inside', () => {
    // 200x150 centred 180 px right of the image's centre: columns 320-519 of 0-479.
    const header = probeImage('avif', withProperties(rawClap(200, 1, 150, 1, 180, 1, 0, 1)));
    expect(header.crop).toEqual({ left: 320, top: 88, width: 160, height: 150 });
    // Odd halves: left rounds down, top to nearest (libheif's left_rounded and top_rounded).
    // (239.5 - 50 = 189.5 and 162 - 49.5 = 112.5.)
    const halves = probeImage('avif', withProperties(rawClap(101, 1, 100, 1, 0, 1, 0, 1)));
    expect(halves.crop).toEqual({ left: 189, top: 113, width: 101, height: 100 });
  });

  it('refuses a clap with a zero denominator, or one that keeps nothing, naming the box', () => {
    const zero = catchError(() => probeImage('avif', withProperties(rawClap(200, 0, 150, 1, 0, 1, 0, 1))));
    expect(zero.reason).toBe('corrupt');
    expect(zero.message).toBe(
      "The avif file is malformed: the primary item's clean aperture (clap) has a zero denominator",
    );
    expect(zero.details).toMatchObject({ clap: { width: [200, 0] }, size: [480, 325] });
    // Centred 1000 px to the left of the image: nothing of it is inside.
    const outside = catchError(() =>
      probeImage('avif', withProperties(rawClap(100, 1, 100, 1, -1000, 1, 0, 1))),
    );
    expect(outside.message).toBe(
      "The avif file is malformed: the primary item's clean aperture (clap) keeps nothing of the 480x325 image (columns -810 to -711, rows 113 to 212)",
    );
  });
});

describe('parseSequenceHeader', () => {
  /** Writes fields MSB first, as f(n) reads them. */
  function bits(fields: [value: number, width: number][]): Uint8Array {
    const out: number[] = [];
    let current = 0;
    let used = 0;
    for (const [value, width] of fields)
      for (let i = width - 1; i >= 0; i--) {
        current = (current << 1) | (Math.floor(value / 2 ** i) & 1);
        if (++used === 8) {
          out.push(current);
          current = 0;
          used = 0;
        }
      }
    if (used > 0) out.push(current << (8 - used));
    return Uint8Array.from(out);
  }

  it('reads a full (not reduced) header with timing, decoder model and two operating points', () => {
    const header = bits([
      [2, 3], // seq_profile 2
      [0, 1], // still_picture
      [0, 1], // reduced_still_picture_header
      [1, 1], // timing_info_present_flag
      [1001, 32], // num_units_in_display_tick
      [60000, 32], // time_scale
      [1, 1], // equal_picture_interval
      [0b00101, 5], // uvlc: two leading zeros, then 1, then 01 -> 4
      [1, 1], // decoder_model_info_present_flag
      [9, 5], // buffer_delay_length_minus_1 -> 10 bits
      [1, 32], // num_units_in_decoding_tick
      [4, 5], // buffer_removal_time_length_minus_1
      [4, 5], // frame_presentation_time_length_minus_1
      [1, 1], // initial_display_delay_present_flag
      [1, 5], // operating_points_cnt_minus_1 -> 2
      [0x101, 12], // operating_point_idc[0]
      [9, 5], // seq_level_idx[0] > 7
      [1, 1], // seq_tier[0]
      [1, 1], // decoder_model_present_for_this_op[0]
      [100, 10], // decoder_buffer_delay
      [200, 10], // encoder_buffer_delay
      [0, 1], // low_delay_mode_flag
      [1, 1], // initial_display_delay_present_for_this_op[0]
      [3, 4], // initial_display_delay_minus_1
      [0, 12], // operating_point_idc[1]
      [5, 5], // seq_level_idx[1]
      [0, 1], // decoder_model_present_for_this_op[1]
      [0, 1], // initial_display_delay_present_for_this_op[1]
      [12, 4], // frame_width_bits_minus_1 -> 13 bits
      [11, 4], // frame_height_bits_minus_1 -> 12 bits
      [6999, 13], // max_frame_width_minus_1
      [3999, 12], // max_frame_height_minus_1
      [1, 1], // frame_id_numbers_present_flag
      [5, 4], // delta_frame_id_length_minus_2
      [2, 3], // additional_frame_id_length_minus_1
      [0b111, 3], // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
      [0b1111, 4], // interintra, masked compound, warped motion, dual filter
      [1, 1], // enable_order_hint
      [0b11, 2], // enable_jnt_comp, enable_ref_frame_mvs
      [0, 1], // seq_choose_screen_content_tools
      [1, 1], // seq_force_screen_content_tools
      [0, 1], // seq_choose_integer_mv
      [1, 1], // seq_force_integer_mv
      [6, 3], // order_hint_bits_minus_1
      [0b011, 3], // enable_superres, enable_cdef, enable_restoration
      [1, 1], // high_bitdepth
      [1, 1], // twelve_bit
      [0, 1], // mono_chrome
      [1, 1], // color_description_present_flag
      [9, 8], // color_primaries BT.2020
      [16, 8], // transfer_characteristics PQ
      [9, 8], // matrix_coefficients BT.2020 NCL
      [0, 1], // color_range
      [1, 1], // subsampling_x
      [0, 1], // subsampling_y
      [0, 1], // separate_uv_delta_q
      [0, 1], // film_grain_params_present
    ]);
    expect(parseSequenceHeader(header)).toEqual({
      profile: 2,
      maxWidth: 7000,
      maxHeight: 4000,
      bitDepth: 12,
      monochrome: false,
      chroma: '4:2:2',
      colour: { primaries: 9, transfer: 16, matrix: 9 },
      fullRange: false,
    });
    // Cut anywhere, it reports where it ran out instead of reading past the end.
    expect(() => parseSequenceHeader(header.subarray(0, 20))).toThrow(
      'the sequence header ends after 20 bytes, inside a field',
    );
  });

  it('reads a reduced still-picture header of a monochrome image', () => {
    const header = bits([
      [0, 3],
      [1, 1], // still_picture
      [1, 1], // reduced_still_picture_header
      [8, 5], // seq_level_idx[0]
      [15, 4],
      [15, 4],
      [65535, 16], // 65536 wide
      [0, 16], // 1 high
      [0, 3],
      [0, 3],
      [0, 1], // high_bitdepth
      [1, 1], // mono_chrome
      [0, 1], // color_description_present_flag
      [1, 1], // color_range
      [0, 1], // film_grain_params_present
    ]);
    expect(parseSequenceHeader(header)).toMatchObject({ maxWidth: 65536, maxHeight: 1, chroma: '4:0:0' });
  });
});

describe('probeImage on HEIC: the HEVC sequence parameter set and grid against ispe', () => {
  const heic = () => Uint8Array.from(readFixture('edge/formats/heic.heic'));
  const grid = () => Uint8Array.from(readFixture('edge/orientation/heic-grid-irot3-orientation-6.heic'));
  /** The file with the `at`-th box of `type` (a FullBox) holding `values` as u32 after its version. */
  function rewrite(bytes: Uint8Array, type: string, at: number, values: number[]): Uint8Array {
    const text = Buffer.from(bytes).toString('latin1');
    let offset = -1;
    for (let i = 0; i <= at; i++) offset = text.indexOf(type, offset + 1);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    for (const [i, value] of values.entries()) view.setUint32(offset + 8 + 4 * i, value);
    return bytes;
  }

  it('reads the bit depth and chroma subsampling from the SPS', () => {
    expect(probeImage('heic', readFixture('edge/formats/heic.heic')).layout).toEqual({
      bitDepth: 8,
      channels: 3,
      chroma: '4:2:0',
    });
    expect(probeImage('heic', readFixture('edge/formats/heic-10bit.heic')).layout).toMatchObject({
      bitDepth: 10,
    });
    expect(probeImage('heic', readFixture('edge/formats/heic-alpha-thumbnail.heic')).layout).toMatchObject({
      channels: 4,
    });
  });

  it('refuses an ispe of 64x64 in front of a 320x216 HEVC frame, naming both sizes', () => {
    const error = catchError(() => probeImage('heic', rewrite(heic(), 'ispe', 0, [64, 64])));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      "The heic file is malformed: item 1's ispe declares 64x64 but its HEVC sequence parameter set declares frames of up to 320x216",
    );
    expect(error.details).toMatchObject({ declared: [64, 64], coded: [320, 216] });
  });

  it('refuses a HEVC item without a sequence parameter set: its frame size cannot be known', () => {
    const bytes = heic();
    // hvcC's arrays: VPS (32), SPS (33), PPS (34); mark the SPS array as SEI (39).
    const hvcC = Buffer.from(bytes).indexOf('hvcC') + 4 + 22;
    let offset = hvcC + 1;
    for (let a = 0; a < bytes[hvcC]!; a++) {
      const type = bytes[offset]! & 0x3f;
      if (type === 33) bytes[offset] = (bytes[offset]! & 0xc0) | 39;
      let skip = 3;
      for (let n = 0; n < ((bytes[offset + 1]! << 8) | bytes[offset + 2]!); n++)
        skip += 2 + ((bytes[offset + skip]! << 8) | bytes[offset + skip + 1]!);
      offset += skip;
    }
    const error = catchError(() => probeImage('heic', bytes));
    expect(error.message).toBe(
      'The heic file is malformed: item 1 has no HEVC sequence parameter set, so its frame size is unknown',
    );
  });

  it('refuses a grid whose tiles do not make its canvas, or whose output is not its ispe', () => {
    // The four tiles share one ispe property (64x96); made 64x64, they no longer cover 128x192.
    const tile = catchError(() => probeImage('heic', rewrite(grid(), 'ispe', 0, [64, 64])));
    expect(tile.reason).toBe('corrupt');
    expect(tile.message).toBe(
      "The heic file is malformed: grid item 1's 2x2 tiles of 64x64 do not fit its 128x192 canvas",
    );
    // The grid's own description (ImageGrid: 2x2 tiles, output 128x192) says 128x180.
    const bytes = grid();
    const at = Buffer.from(bytes).indexOf(Buffer.from([0, 0, 1, 1, 0, 128, 0, 192]));
    bytes[at + 7] = 180;
    const output = catchError(() => probeImage('heic', bytes));
    expect(output.message).toBe(
      "The heic file is malformed: grid item 1's ispe declares 128x192 but the grid's output is 128x180",
    );
  });
});

describe('probeImage on AVIF: the item locations (iloc)', () => {
  // The fixture's iloc: version 0, 4-byte offsets and lengths, one item with one extent.
  const avif = readFixture('edge/formats/avif-8bit-420.avif');
  const iloc = Buffer.from(avif).indexOf('iloc') + 4; // the version byte
  const patched = (at: number, bytes: number[]) => {
    const copy = new Uint8Array(avif);
    copy.set(bytes, iloc + at);
    return copy;
  };

  it('reads the fixture as it is', () => {
    expect(probeImage('avif', patched(0, [0]))).toMatchObject({ width: 480, height: 325 });
  });

  it('refuses an iloc version the standard does not define, naming it', () => {
    // Found by the fuzz test (seed 3, case 482): version 255 with 0-byte fields took 33 s and 4 GB.
    const error = catchError(() => probeImage('avif', patched(0, [255])));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The avif file is malformed: the iloc box has version 255 (0, 1 or 2 are defined)',
    );
  });

  it('refuses items with more than one extent of 0 bytes, which would cost work without reading a byte', () => {
    // Offset and length fields of 0 bytes (sizes 0x0000), and two extents for item 1: each extent
    // reads nothing, so 65535 items of 65535 such extents fit in a box of a few hundred kilobytes.
    const error = catchError(() =>
      probeImage('avif', patched(4, [0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02])),
    );
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The avif file is malformed: item 1 has 2 extents in the iloc box, but its offset and length fields are 0 bytes long',
    );
  });

  it('refuses an item location that runs past the end of the iloc box', () => {
    // One item declared, then 200 extents of 8 bytes: more than the box holds.
    const error = catchError(() => probeImage('avif', patched(12, [0x00, 0xc8])));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toMatch(
      /^The avif file is malformed: item 1's location runs past the end of the iloc box \(byte \d+\)$/,
    );
  });
});

describe('probeImage on GIF: the LZW minimum code size', () => {
  // Found by the fuzz test (seed 20261130, case 1943): code size 9 kept omggif's decoder busy for
  // 20 s on a 14 kB file, until the time limit stopped it.
  const gif = readFixture('edge/formats/gif.gif');
  const codeSizeAt = (() => {
    const tables = (flags: number) => ((flags & 0x80) !== 0 ? 3 * 2 ** ((flags & 7) + 1) : 0);
    let at = 13 + tables(gif[10]!);
    while (gif[at] === 0x21) {
      at += 2;
      while (gif[at] !== 0) at += 1 + gif[at]!;
      at += 1;
    }
    expect(gif[at]).toBe(0x2c);
    return at + 10 + tables(gif[at + 9]!);
  })();
  const withCodeSize = (size: number) => {
    const copy = new Uint8Array(gif);
    copy[codeSizeAt] = size;
    return copy;
  };

  it('reads the fixture as it is', () => {
    expect(probeImage('gif', withCodeSize(gif[codeSizeAt]!))).toMatchObject({ width: gif.readUInt16LE(6) });
  });

  it.each([0, 9, 12, 255])('refuses the code size %i, naming it', (size) => {
    const error = catchError(() => probeImage('gif', withCodeSize(size)));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      `The gif file is malformed: frame 1 has the LZW minimum code size ${size} (1 to 8 are defined)`,
    );
  });
});

describe('probeImage on GIF: frames and the logical screen', () => {
  /** A 4x4 screen; frames of w x h at 0,0, each one colour of a two-colour global table. */
  const gif = (...frames: readonly (readonly [number, number])[]) => {
    const u16 = (n: number) => [n & 0xff, n >> 8];
    const parts = [...Buffer.from('GIF89a', 'latin1'), ...u16(4), ...u16(4), 0x80, 0, 0, 0, 0, 0, 255, 0, 0];
    for (const [w, h] of frames) {
      // Graphic control (a delay), image descriptor, LZW code size 2, then clear and end codes.
      parts.push(0x21, 0xf9, 4, 0, 10, 0, 0, 0, 0x2c, ...u16(0), ...u16(0), ...u16(w), ...u16(h), 0);
      parts.push(2, 1, 0x2c, 0);
    }
    return Buffer.from([...parts, 0x3b]);
  };

  it('reads a later frame larger than the screen: only the first is decoded, and viewers clip the others', () => {
    // ImageMagick writes these (a frame's page larger than the canvas) and reads them back clipped.
    expect(probeImage('gif', gif([4, 4], [6, 2]))).toMatchObject({ width: 4, height: 4, frames: 2 });
  });

  /** The GIF with its first frame's image data replaced by `count` pixels of colour 0 (black). */
  const withPixels = (bytes: Buffer, count: number) => {
    // LZW of 3-bit codes: a clear code (4) before each index, so no table is built, then the end (5).
    const codes = [...Array.from({ length: count }, () => [4, 0]).flat(), 5];
    const packed: number[] = [];
    let bits = 0;
    let held = 0;
    for (const code of codes) {
      bits |= code << held;
      for (held += 3; held >= 8; held -= 8, bits >>= 8) packed.push(bits & 0xff);
    }
    if (held > 0) packed.push(bits & 0xff);
    const data = bytes.indexOf(Buffer.from([2, 1, 0x2c, 0])); // the first frame's code size and data
    return Buffer.concat([
      bytes.subarray(0, data + 1),
      Buffer.from([packed.length, ...packed, 0]),
      bytes.subarray(data + 4),
    ]);
  };

  // Chrome 156 shows such files on a screen grown to the first frame's right and bottom edges (a 6x4
  // screen with a 12x9 frame, or a 0x0 one, as 12x9; a 4x4 frame at 4,0 on it as 8x4). They were
  // refused as corrupt ("frame 1 (6x2 at 0,0) does not fit the 4x4 screen").
  it('grows the screen to a first frame that reaches past it, as Chrome shows the file', async () => {
    const bytes = withPixels(gif([6, 2], [4, 4]), 12);
    expect(probeImage('gif', bytes)).toMatchObject({ width: 6, height: 4, frames: 2, hasAlpha: true });
    const image = await decode('gif', bytes);
    expect(image).toMatchObject({ width: 6, height: 4 });
    const pixel = (x: number, y: number) =>
      Array.from(image.data.subarray((y * 6 + x) * 4, (y * 6 + x) * 4 + 4));
    expect([pixel(0, 0), pixel(5, 1), pixel(5, 2), pixel(0, 3)]).toEqual([
      [0, 0, 0, 255],
      [0, 0, 0, 255],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    const screen0 = withPixels(gif([3, 2]), 6);
    screen0.set([0, 0, 0, 0], 6);
    expect(probeImage('gif', screen0)).toMatchObject({ width: 3, height: 2, hasAlpha: false });
    expect(await decode('gif', screen0)).toMatchObject({ width: 3, height: 2 });
  });

  it('refuses a first frame that reaches past the largest screen a GIF can have, naming it', () => {
    const bytes = Buffer.from(gif([4, 4]));
    const descriptor = bytes.indexOf(0x2c);
    bytes.writeUInt16LE(65535, descriptor + 1); // left
    const error = catchError(() => probeImage('gif', bytes));
    expect(error.message).toBe(
      'The gif file is malformed: frame 1 (4x4 at 65535,0) reaches past the largest screen a GIF can have (65535x65535)',
    );
    expect(error.details).toMatchObject({ frame: [4, 4], at: [65535, 0], screen: [4, 4] });
  });

  it('refuses an empty first frame as empty, not as one that does not fit', () => {
    // It was "frame 1 (0x3 at 0,0) does not fit the 4x4 screen", which it does.
    for (const [w, h] of [
      [0, 3],
      [3, 0],
      [0, 0],
    ] as const) {
      const error = catchError(() => probeImage('gif', gif([w, h], [4, 4])));
      expect(error.reason).toBe('corrupt');
      expect(error.message).toBe(
        `The gif file is malformed: frame 1 is empty (${w}x${h} at 0,0): there is no first image to decode`,
      );
      expect(error.details).toMatchObject({ frame: [w, h], at: [0, 0] });
    }
  });
});

describe('probeImage on HEIC: items described once', () => {
  // heic.heic codes 320x216, p3-card.heic 96x64; their hvcC boxes carry the sequence parameter sets.
  const large = heifParts(readFixture('edge/formats/heic.heic'));
  const small = heifParts(readFixture('edge/colour/p3-card.heic'));

  it('refuses an item with two ipma entries: libheif takes the first, 320x216 behind a 96x64 one', () => {
    const file = buildHeif({
      items: [{ id: 1, type: 'hvc1', data: large.data }],
      primary: 1,
      properties: [large.hvcC, ispe(320, 216), small.hvcC, ispe(96, 64)],
      associations: [
        [1, [1, 2]],
        [1, [3, 4]],
      ],
    });
    const error = catchError(() => probeImage('heic', file));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The heic file is malformed: item 1 is listed more than once in the ipma boxes',
    );
    expect(error.details).toMatchObject({ item: 1, box: 'ipma' });
  });

  it('refuses an ipma box whose entries run past its end, which libheif refuses too', async () => {
    const file = Buffer.from(
      buildHeif({
        items: [{ id: 1, type: 'hvc1', data: small.data }],
        primary: 1,
        properties: [small.hvcC, ispe(96, 64)],
        associations: [[1, [1, 2]]],
      }),
    );
    expect(probeImage('heic', file)).toMatchObject({ width: 96, height: 64 });
    // The box's size made 5 bytes shorter: its one entry (item 1, 2 properties) lies after its end,
    // in the 5 bytes left over at the end of iprp (too few for a box, so skipped).
    const at = file.indexOf('ipma') - 4;
    const size = file.readUInt32BE(at) - 5;
    file.writeUInt32BE(size, at);
    const error = catchError(() => probeImage('heic', file));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      `The heic file is malformed: the ipma box's entry 1 of 1 runs past the end of the box (byte ${at + size})`,
    );
    expect(error.details).toMatchObject({ entry: 1, entries: 1, boxEnd: at + size });
    await expect(decode('heic', file)).rejects.toThrow();
  });

  it('refuses an item listed twice in iloc or iinf', () => {
    const base = {
      items: [{ id: 1, type: 'hvc1', data: small.data }],
      primary: 1,
      properties: [small.hvcC, ispe(96, 64)],
      associations: [[1, [1, 2]]] as const,
    };
    expect(probeImage('heic', buildHeif(base))).toMatchObject({ width: 96, height: 64 });
    expect(catchError(() => probeImage('heic', buildHeif({ ...base, locations: [1, 1] }))).message).toBe(
      'The heic file is malformed: item 1 is listed more than once in the iloc box',
    );
    expect(catchError(() => probeImage('heic', buildHeif({ ...base, infos: [1, 1] }))).message).toBe(
      'The heic file is malformed: item 1 is listed more than once in the iinf box',
    );
  });
});

describe('probeImage on HEIC: item references', () => {
  const small = heifParts(readFixture('edge/colour/p3-card.heic'));

  it('refuses a reference box listing more items than it holds, naming the count', () => {
    // Item 7 (Exif) describes the primary item; its cdsc box lists one item, or claims 65535.
    const file = Buffer.from(
      buildHeif({
        items: [
          { id: 1, type: 'hvc1', data: small.data },
          { id: 7, type: 'Exif', data: new Uint8Array(8) },
        ],
        primary: 1,
        properties: [small.hvcC, ispe(96, 64)],
        associations: [[1, [1, 2]]],
        references: [['cdsc', 7, [1]]],
      }),
    );
    expect(probeImage('heic', file)).toMatchObject({ width: 96, height: 64 });
    // Read past its box, 400 such 12-byte boxes took 12 s and 400 MiB and the file was accepted.
    const at = file.indexOf('cdsc') - 4;
    file.writeUInt16BE(65535, at + 10);
    const error = catchError(() => probeImage('heic', file));
    expect(error).toMatchObject({
      reason: 'corrupt',
      message: `The heic file is malformed: the iref box's "cdsc" reference from item 7 at byte ${at} lists 65535 items, more than its 14-byte box holds`,
      details: { item: 7, references: 65535, offset: at },
    });
  });
});

describe('probeImage on HEIC: the primary and alpha items are coded images or grids', () => {
  const large = heifParts(readFixture('edge/formats/heic.heic'));
  const small = heifParts(readFixture('edge/colour/p3-card.heic'));
  // Item 1: a hidden 320x216 HEVC image; item 2, the primary, derived from it behind a 96x64 ispe.
  const derived = (type: string, data?: Uint8Array) =>
    buildHeif({
      items: [
        { id: 1, type: 'hvc1', data: large.data, hidden: true },
        { id: 2, type, ...(data && { data }) },
      ],
      primary: 2,
      properties: [large.hvcC, ispe(320, 216), ispe(96, 64)],
      associations: [
        [1, [1, 2]],
        [2, [3]],
      ],
      references: [['dimg', 2, [1]]],
    });

  it('refuses an iden or iovl primary item as unsupported, naming its type', () => {
    const iden = catchError(() => probeImage('heic', derived('iden')));
    expect(iden.reason).toBe('unsupported-format');
    expect(iden.message).toBe(
      'The heic file\'s primary item 2 is of type "iden": only AV1 (av01) and HEVC (hvc1) images and grids of them are supported',
    );
    expect(iden.details).toMatchObject({ item: 2, itemType: 'iden', role: 'primary' });
    // ImageOverlay: version, flags, output 96x64, the one image at 0,0.
    const overlay = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 96, 0, 64, 0, 0, 0, 0);
    const iovl = catchError(() => probeImage('heic', derived('iovl', overlay)));
    expect(iovl.reason).toBe('unsupported-format');
    expect(iovl.details).toMatchObject({ item: 2, itemType: 'iovl' });
  });

  it('refuses an alpha item that is not a coded image or grid', () => {
    const file = buildHeif({
      items: [
        { id: 1, type: 'hvc1', data: small.data },
        { id: 2, type: 'hvc1', data: small.data, hidden: true },
        { id: 3, type: 'iden', hidden: true },
      ],
      primary: 1,
      properties: [small.hvcC, ispe(96, 64), alphaAuxC()],
      associations: [
        [1, [1, 2]],
        [2, [1, 2]],
        [3, [2, 3]],
      ],
      references: [
        ['auxl', 3, [1]],
        ['dimg', 3, [2]],
      ],
    });
    const error = catchError(() => probeImage('heic', file));
    expect(error.reason).toBe('unsupported-format');
    expect(error.details).toMatchObject({ item: 3, itemType: 'iden', role: 'alpha' });
  });
});

describe("probeImage on HEIC: the alpha item is the primary item's size", () => {
  const large = heifParts(readFixture('edge/formats/heic.heic'));
  const small = heifParts(readFixture('edge/colour/p3-card.heic'));
  const withAlpha = (alpha: { hvcC: Uint8Array; data: Uint8Array }, width: number, height: number) =>
    buildHeif({
      items: [
        { id: 1, type: 'hvc1', data: small.data },
        { id: 2, type: 'hvc1', data: alpha.data, hidden: true },
      ],
      primary: 1,
      properties: [small.hvcC, ispe(96, 64), alpha.hvcC, ispe(width, height), alphaAuxC()],
      associations: [
        [1, [1, 2]],
        [2, [3, 4, 5]],
      ],
      references: [['auxl', 2, [1]]],
    });

  it('reads an alpha item of the same size', () => {
    expect(probeImage('heic', withAlpha(small, 96, 64))).toMatchObject({
      width: 96,
      height: 64,
      hasAlpha: true,
    });
  });

  it('refuses a 320x216 alpha item behind a 96x64 primary, naming both sizes', () => {
    const error = catchError(() => probeImage('heic', withAlpha(large, 320, 216)));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The heic file is malformed: the alpha item 2 declares 320x216 but the primary item 1 is 96x64',
    );
    expect(error.details).toMatchObject({ item: 2, alpha: [320, 216], primary: [96, 64] });
  });
});

describe('probeImage on PNG: chunks its decoder is not given', () => {
  it('keeps a run of them as one range, so that many small chunks cost one entry', async () => {
    const png = Buffer.from(writePng(4, 4));
    const empty = chunk('zzZz', Buffer.alloc(0));
    const text = chunk('tEXt', Buffer.from('a\0b'));
    const run = [...Array(50_000).fill(empty), text, ...Array(50_000).fill(empty)];
    const runLength = run.reduce((sum, c) => sum + c.length, 0);
    // Between IHDR and IDAT, and again after a PLTE-less image's tRNS (a chunk it is given).
    const trns = chunk('tRNS', Buffer.from([0, 1]));
    const bytes = Buffer.concat([png.subarray(0, 33), ...run, trns, empty, empty, png.subarray(33)]);
    const header = probeImage('png', bytes);
    const afterTrns = 33 + runLength + trns.length;
    expect(header.pngSkippedChunks).toEqual([
      { start: 33, end: 33 + runLength },
      { start: afterTrns, end: afterTrns + 2 * empty.length },
    ]);
    expect(header).toMatchObject({ width: 4, height: 4, hasAlpha: true });
  });
});

describe('probeImage on PNG: the number of chunks', () => {
  /** A 4x4 PNG of `total` chunks: its own (IHDR, IDAT, IEND) and empty ones after IHDR. */
  const withChunks = (total: number) => {
    const png = Buffer.from(writePng(4, 4));
    let own = 0;
    for (let at = 8; at < png.length; at += 12 + png.readUInt32BE(at)) own++;
    const empty = chunk('zzZz', Buffer.alloc(0));
    return Buffer.concat([
      png.subarray(0, 33),
      Buffer.alloc((total - own) * empty.length, empty),
      png.subarray(33),
    ]);
  };

  it(`refuses a file of more than ${MAX_PNG_CHUNKS} chunks, naming the count, and takes one of that many`, () => {
    // Empty chunks, one every 12 bytes: 2.8 million in 32 MiB took seconds to walk, before any deadline.
    expect(probeImage('png', withChunks(MAX_PNG_CHUNKS))).toMatchObject({ width: 4, height: 4 });
    const over = withChunks(MAX_PNG_CHUNKS + 1);
    const error = (() => {
      try {
        probeImage('png', over);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(InvalidImageError);
    expect(error).toMatchObject({
      reason: 'corrupt',
      message: `The png file is malformed: it has more than ${MAX_PNG_CHUNKS} chunks (chunk ${MAX_PNG_CHUNKS + 1} at byte ${over.length - 12}, of ${over.length} bytes)`,
      details: { format: 'png', chunks: MAX_PNG_CHUNKS + 1, maxChunks: MAX_PNG_CHUNKS },
    });
  });
});

describe('probeImage on PNG: header fields and chunks the decoder refuses are named', () => {
  // The png crate refuses each of these, and its glue said only "`unwrap_throw` failed".
  const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  /** A 4x4 PNG: IHDR from its fields, `before` chunks, then rows of zeros. */
  const png = (
    fields: { depth: number; type: number; compression?: number; filter?: number; interlace?: number },
    before: Buffer[] = [],
  ) => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(4, 0);
    ihdr.writeUInt32BE(4, 4);
    ihdr.set(
      [fields.depth, fields.type, fields.compression ?? 0, fields.filter ?? 0, fields.interlace ?? 0],
      8,
    );
    const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[fields.type] ?? 3;
    const rows = Buffer.alloc(4 * (1 + Math.ceil((4 * channels * fields.depth) / 8)));
    return new Uint8Array(
      Buffer.concat([
        SIGNATURE,
        chunk('IHDR', ihdr),
        ...before,
        chunk('IDAT', deflateSync(rows)),
        chunk('IEND', Buffer.alloc(0)),
      ]),
    );
  };
  const palette = chunk('PLTE', Buffer.alloc(6));

  it.each([
    [
      'colour type 5',
      png({ depth: 8, type: 5 }),
      'its IHDR chunk declares colour type 5 (0, 2, 3, 4 and 6 are defined)',
    ],
    [
      'bit depth 7',
      png({ depth: 7, type: 2 }),
      'its IHDR chunk declares bit depth 7 for colour type 2 (truecolour), which allows 8, 16',
    ],
    [
      '16-bit indexed colour',
      png({ depth: 16, type: 3 }, [palette]),
      'its IHDR chunk declares bit depth 16 for colour type 3 (indexed-colour), which allows 1, 2, 4, 8',
    ],
    [
      'compression method 1',
      png({ depth: 8, type: 2, compression: 1 }),
      'its IHDR chunk declares compression method 1 (0 is defined)',
    ],
    [
      'filter method 1',
      png({ depth: 8, type: 2, filter: 1 }),
      'its IHDR chunk declares filter method 1 (0 is defined)',
    ],
    [
      'interlace method 2',
      png({ depth: 8, type: 2, interlace: 2 }),
      'its IHDR chunk declares interlace method 2 (0 and 1 are defined)',
    ],
    [
      'indexed colour without PLTE',
      png({ depth: 8, type: 3 }),
      'its image is indexed-colour (colour type 3) but no PLTE chunk comes before its image data (IDAT at byte 33)',
    ],
    [
      'tRNS on RGBA',
      png({ depth: 8, type: 6 }, [chunk('tRNS', Buffer.alloc(6))]),
      'it has a tRNS chunk (at byte 33), which colour type 6 (truecolour with alpha) may not have: it has an alpha channel',
    ],
    [
      'a short tRNS on RGB',
      png({ depth: 8, type: 2 }, [chunk('tRNS', Buffer.alloc(5))]),
      'its tRNS chunk at byte 33 is 5 bytes long; colour type 2 (truecolour) needs 6, two for each sample',
    ],
    [
      'a short tRNS on grey',
      png({ depth: 8, type: 0 }, [chunk('tRNS', Buffer.alloc(1))]),
      'its tRNS chunk at byte 33 is 1 bytes long; colour type 0 (greyscale) needs 2, two for each sample',
    ],
    [
      'a second PLTE',
      png({ depth: 8, type: 2 }, [palette, palette]),
      'it has a second PLTE chunk at byte 51 (the first at byte 33)',
    ],
    [
      'an empty PLTE on indexed colour',
      png({ depth: 8, type: 3 }, [chunk('PLTE', Buffer.alloc(0))]),
      'its PLTE chunk at byte 33 is empty: an indexed-colour image needs 1 to 256 entries',
    ],
    [
      'a second tRNS',
      png({ depth: 8, type: 0 }, [chunk('tRNS', Buffer.alloc(2)), chunk('tRNS', Buffer.alloc(2))]),
      'it has a second tRNS chunk at byte 47 (the first at byte 33)',
    ],
    [
      'an indexed-colour tRNS before PLTE',
      png({ depth: 8, type: 3 }, [chunk('tRNS', Buffer.alloc(2)), palette]),
      "its tRNS chunk at byte 33 comes before its PLTE chunk: an indexed-colour image's transparency is given for its palette's entries",
    ],
    [
      'a short acTL',
      png({ depth: 8, type: 2 }, [chunk('acTL', Buffer.alloc(2))]),
      'its acTL chunk at byte 33 is 2 bytes long, not 8',
    ],
  ])('%s', async (_name, bytes, fault) => {
    await expect(decode('png', bytes)).rejects.toThrow(InvalidImageError); // the decoder refuses it
    const error = catchError(() => probeImage('png', bytes));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(`The png file is malformed: ${fault}`);
  });

  it('refuses an indexed-colour PLTE without a whole entry or with more than 256, which Chrome does not decode', async () => {
    // The png crate decoded both (the first as black), so they were published; Chrome 156 refuses
    // them ("The source image cannot be decoded"), as PNG does (1 to 256 entries). A length that
    // is not a multiple of 3 past the first entry Chrome reads by its whole entries: passed.
    const entries = (count: number) => chunk('PLTE', Buffer.alloc(count));
    for (const [bytes, fault] of [
      [
        2,
        'its PLTE chunk at byte 33 is 2 bytes long: an indexed-colour image needs 1 to 256 entries of 3 bytes',
      ],
      [
        771,
        'its PLTE chunk at byte 33 is 771 bytes long (257 entries): an indexed-colour image needs 1 to 256 entries of 3 bytes',
      ],
    ] as const) {
      const error = catchError(() => probeImage('png', png({ depth: 8, type: 3 }, [entries(bytes)])));
      expect(error.reason).toBe('corrupt');
      expect(error.message).toBe(`The png file is malformed: ${fault}`);
    }
    for (const bytes of [3, 4, 768])
      expect(probeImage('png', png({ depth: 8, type: 3 }, [entries(bytes)]))).toMatchObject({ width: 4 });
    // A suggested palette on truecolour is read by no decoder here.
    expect(probeImage('png', png({ depth: 8, type: 2 }, [entries(2)]))).toMatchObject({ width: 4 });
  });

  it('passes what the decoder takes: a palette, a grey or RGB tRNS of its size, 1-bit grey, a long acTL', async () => {
    const longAcTL = Buffer.alloc(12);
    longAcTL.writeUInt32BE(1, 0); // one frame: the png crate reads the first 8 bytes
    for (const bytes of [
      png({ depth: 8, type: 2 }, [chunk('acTL', longAcTL)]),
      png({ depth: 8, type: 3 }, [palette, chunk('tRNS', Buffer.alloc(2))]),
      png({ depth: 8, type: 0 }, [chunk('tRNS', Buffer.alloc(2))]),
      png({ depth: 16, type: 2 }, [chunk('tRNS', Buffer.alloc(6))]),
      png({ depth: 1, type: 0 }),
      png({ depth: 8, type: 2 }, [palette]), // a suggested palette
      png({ depth: 8, type: 2 }, [chunk('PLTE', Buffer.alloc(0))]),
    ]) {
      expect(probeImage('png', bytes)).toMatchObject({ width: 4, height: 4 });
      expect(await decode('png', bytes)).toMatchObject({ width: 4, height: 4 });
    }
    const animated = png({ depth: 8, type: 2 }, [chunk('acTL', longAcTL)]);
    expect(probeImage('png', animated)).toMatchObject({ animated: true, frames: 1 });
  });

  it('ignores a tRNS or acTL after the image data, which no decoder reads, as the decoder does', async () => {
    // They were refused as corrupt ("it has a tRNS chunk (at byte 73), which colour type 6 ... may
    // not have") though the png crate stops reading at the image and decoded each file.
    const outOfPlace = (fields: { depth: number; type: number }, late: Buffer) => {
      const bytes = Buffer.from(png(fields));
      return new Uint8Array(Buffer.concat([bytes.subarray(0, -12), late, bytes.subarray(-12)]));
    };
    const cases = [
      [outOfPlace({ depth: 8, type: 6 }, chunk('tRNS', Buffer.alloc(6))), true],
      [outOfPlace({ depth: 8, type: 2 }, chunk('tRNS', Buffer.alloc(2))), false],
      [outOfPlace({ depth: 8, type: 2 }, chunk('tRNS', Buffer.alloc(6))), false],
      [outOfPlace({ depth: 8, type: 2 }, chunk('acTL', Buffer.alloc(2))), false],
    ] as const;
    for (const [bytes, alpha] of cases) {
      expect(probeImage('png', bytes)).toMatchObject({
        width: 4,
        height: 4,
        hasAlpha: alpha,
        animated: false,
      });
      expect(await decode('png', bytes)).toMatchObject({ width: 4, height: 4 });
    }
  });
});

/** inspectImage with limits no test image reaches: only the decoders' own limits apply. */
const unlimited = (bytes: Uint8Array) =>
  inspectImage(bytes, { maxBytes: 1 << 30, maxPixels: 1_000_000_000, maxSecondsPerImage: 60 });

describe('inspectImage on JPEG: a side over 65500 pixels', () => {
  /** The fixture with its frame header's height set to `height`. */
  const tall = (height: number) => {
    const bytes = Buffer.from(readFixture('edge/formats/chroma-444.jpg'));
    let at = 2;
    while (!(bytes[at] === 0xff && bytes[at + 1] === 0xc0)) at += 2 + bytes.readUInt16BE(at + 2);
    bytes.writeUInt16BE(height, at + 5);
    return bytes;
  };

  it('refuses one as libjpeg does, naming the size, before decoding', async () => {
    expect(unlimited(tall(65500)).height).toBe(65500);
    const error = catchError(() => unlimited(tall(65501)));
    expect(error.reason).toBe('bad-dimensions');
    expect(error.message).toBe(
      'The jpeg header declares 480x65501 pixels, more than the 65500 a side our decoder (TurboJPEG) decodes',
    );
    expect(error.details).toMatchObject({ width: 480, height: 65501, maxSide: 65500 });
    // The decoder's own refusal names its limit but not the file's size.
    await expect(decode('jpeg', tall(65501))).rejects.toThrow(
      'Maximum supported image dimension is 65500 pixels',
    );
  });
});

describe('inspectImage on AVIF: sizes libavif refuses', () => {
  /** An AVIF whose ispe and (reduced still-picture) AV1 sequence header both declare width x height. */
  const sized = (width: number, height: number) => {
    const fields: [number, number][] = [
      [0, 3], // seq_profile
      [1, 1], // still_picture
      [1, 1], // reduced_still_picture_header
      [31, 5], // seq_level_idx
      [15, 4], // frame_width_bits_minus_1
      [15, 4], // frame_height_bits_minus_1
      [width - 1, 16],
      [height - 1, 16],
      [0, 6], // superblock, filter intra, intra edge, superres, cdef, restoration
      [0, 3], // high_bitdepth, mono_chrome, color_description_present_flag
      [0, 4], // color_range, chroma_sample_position, separate_uv_delta_q
      [0, 1], // film_grain_params_present
    ];
    const bits = fields.flatMap(([value, n]) =>
      Array.from({ length: n }, (_, i) => (value >> (n - 1 - i)) & 1),
    );
    while (bits.length % 8) bits.push(0);
    const payload = Array.from({ length: bits.length / 8 }, (_, i) =>
      Number.parseInt(bits.slice(i * 8, i * 8 + 8).join(''), 2),
    );
    const data = Uint8Array.from([0x0a, payload.length, ...payload]);
    const av1C = findBox(readFixture('edge/formats/avif-8bit-420.avif'), 'av1C');
    return buildAvif({ data, av1C, width, height });
  };

  it('refuses a side over 32768 or more than 16384 x 16384 pixels, naming the size, before decoding', () => {
    expect(unlimited(sized(32768, 2)).width).toBe(32768);
    // heif-enc's 32769x2 AVIF passed the pixel limit, and libavif refused it as "Decoding error".
    const side = catchError(() => unlimited(sized(32769, 2)));
    expect(side.reason).toBe('bad-dimensions');
    expect(side.message).toBe(
      'The avif header declares 32769x2 pixels, more than the 32768 a side our decoder (libavif) decodes',
    );
    expect(side.details).toMatchObject({ width: 32769, height: 2, maxSide: 32768, maxPixels: 16384 * 16384 });
    const area = catchError(() => unlimited(sized(16385, 16384)));
    expect(area.message).toBe(
      'The avif header declares 16385x16384 pixels, more than the 268435456 pixels our decoder (libavif) decodes',
    );
  });

  it('refuses one over maxPixels as too-many-pixels first, as in every other format', () => {
    const limits = { maxBytes: 1 << 30, maxPixels: 50_000_000, maxSecondsPerImage: 60 };
    const error = catchError(() => inspectImage(sized(16385, 16384), limits));
    expect(error.reason).toBe('too-many-pixels');
    expect(error.details).toMatchObject({ width: 16385, height: 16384, maxPixels: 50_000_000 });
  });
});

describe('probeImage on JPEG: sampling factors TurboJPEG does not read', () => {
  // TurboJPEG 2.1.5 refused them with "tjDecompressHeader3(): Could not determine subsampling type
  // for JPEG image", quarantined as corrupt without the factors.
  const base = readFixture('edge/formats/1x1.jpg');
  const sof = Buffer.from(base).indexOf(Buffer.from([0xff, 0xc0]));
  const withSampling = (factors: readonly (readonly [number, number])[]) => {
    const bytes = Buffer.from(base);
    for (const [c, [h, v]] of factors.entries()) bytes[sof + 11 + 3 * c] = (h << 4) | v;
    return bytes;
  };
  const range = [1, 2, 3, 4];
  const pairs = range.flatMap((h) => range.map((v) => [h, v] as const));

  it('refuses, naming the factors, exactly the layouts the decoder refuses (luma by chroma, chroma alike)', async () => {
    const cases = [
      // Every luma over chroma alike of the factors encoders write and a few past them (each refusal
      // restarts the decoder: the whole grid took 45 s), and 2x2 luma over unlike chroma.
      ...pairs.flatMap((luma) =>
        (
          [
            [1, 1],
            [1, 2],
            [2, 1],
            [2, 2],
            [1, 3],
            [3, 1],
          ] as const
        ).map((chroma) => [luma, chroma, chroma] as const),
      ),
      ...pairs.map((chroma) => [[2, 2], [1, 1], chroma] as const),
    ];
    for (const factors of cases) {
      const bytes = withSampling(factors);
      const said = await decode('jpeg', bytes).then(
        () => '',
        (e: Error) => e.message,
      );
      const refusedByDecoder = said.includes('Could not determine subsampling type');
      let probed: InvalidImageError | undefined;
      try {
        probeImage('jpeg', bytes);
      } catch (error) {
        probed = error as InvalidImageError;
      }
      const name = factors.map(([h, v]) => `${h}x${v}`).join(', ');
      expect({ name, refused: probed?.reason === 'unsupported-format' }).toEqual({
        name,
        refused: refusedByDecoder,
      });
      if (refusedByDecoder)
        expect(probed!.message).toMatch(
          new RegExp(
            `^The jpeg file's sampling factors \\(${name}\\) are not a layout our decoder \\(TurboJPEG 2\\.1\\.5\\) reads: `,
          ),
        );
    }
  }, 120_000);

  it('refuses exactly the CMYK and YCCK layouts the decoder refuses: K sampled as the first component', async () => {
    // A four-component file whose K is not sampled as its first component (2x2, 1x1, 1x1, 1x1, as
    // ImageMagick writes -sampling-factor 2x2 in CMYK) was quarantined as corrupt with the same
    // "Could not determine subsampling type" and no factor.
    const cmyk = readFixture('edge/formats/cmyk.jpg');
    const at = Buffer.from(cmyk).indexOf(Buffer.from([0xff, 0xc0]));
    const lumas = [
      [1, 1],
      [2, 1],
      [1, 2],
      [2, 2],
      [4, 1],
      [3, 1],
    ] as const;
    for (const luma of lumas)
      for (const chroma of [[1, 1], [1, 2], [2, 1], luma] as const)
        for (const k of [[1, 1], [2, 2], luma] as const) {
          const factors = [luma, chroma, chroma, k];
          const bytes = Buffer.from(cmyk);
          for (const [c, [h, v]] of factors.entries()) bytes[at + 11 + 3 * c] = (h << 4) | v;
          const said = await decode('jpeg', bytes).then(
            () => '',
            (e: Error) => e.message,
          );
          const name = factors.map(([h, v]) => `${h}x${v}`).join(', ');
          let probed: InvalidImageError | undefined;
          try {
            probeImage('jpeg', bytes);
          } catch (error) {
            probed = error as InvalidImageError;
          }
          expect({ name, refused: probed?.reason === 'unsupported-format' }).toEqual({
            name,
            refused: said.includes('Could not determine subsampling type'),
          });
          if (probed) expect(probed.message).toContain(`sampling factors (${name})`);
        }
  }, 120_000);
});

describe('probeImage on JPEG: orientation from the first Exif segment', () => {
  /** exif-orientation-1.jpg (96x64, its own Exif segment says 1) with APP1 Exif segments put first. */
  function withExif(...segments: (number | undefined)[]): Uint8Array {
    const app1 = (value: number | undefined) => {
      // One IFD0 entry: Orientation (SHORT) with the value, or Make (0x010f) when undefined.
      const tiff = [
        0x4d,
        0x4d,
        0,
        42,
        0,
        0,
        0,
        8,
        0,
        1,
        0x01,
        value === undefined ? 0x0f : 0x12,
        0,
        3,
        0,
        0,
        0,
        1,
      ];
      const body = [...Buffer.from('Exif\0\0', 'latin1'), ...tiff, 0, value ?? 1, 0, 0, 0, 0, 0, 0];
      return [0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
    };
    const jpeg = readFixture('edge/orientation/exif-orientation-1.jpg');
    return Uint8Array.from([...jpeg.subarray(0, 2), ...segments.flatMap(app1), ...jpeg.subarray(2)]);
  }

  it('orients by an Exif segment put before the file’s own', () => {
    expect(probeImage('jpeg', withExif(6))).toMatchObject({
      orientation: 6,
      displayWidth: 64,
      displayHeight: 96,
    });
  });

  // Chrome 156 shows these files unturned (96x64), then turned (64x96): only the first Exif segment
  // counts. The probe took the first segment with a valid Orientation, and turned the first two.
  it.each([
    ['no Orientation tag', [undefined, 6], 1],
    ['Orientation 9', [9, 6], 1],
    ['Orientation 0', [0, 6], 1],
    ['Orientation 6', [6, 1], 6],
  ] as const)(
    'orients by the first Exif segment when it has %s and a later one another',
    (_, segments, expected) => {
      expect(probeImage('jpeg', withExif(...segments)).orientation).toBe(expected);
    },
  );
});

describe('probeImage on PNG: orientation from the eXIf chunk', () => {
  /** A 6x4 PNG with an eXIf chunk before (or, `late`, after) its image data for each orientation given. */
  function withExif(...orientations: number[]): Uint8Array {
    return withExifAt(false, ...orientations);
  }
  function withExifAt(late: boolean, ...orientations: number[]): Uint8Array {
    const exif = (value: number) =>
      Buffer.from([
        0x4d,
        0x4d,
        0,
        42,
        0,
        0,
        0,
        8,
        0,
        1,
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        value,
        0,
        0,
        0,
        0,
        0,
        0,
      ]);
    const png = Buffer.from(writePng(6, 4));
    const at = late ? png.length - 12 : 8 + 12 + 13; // before IEND, or after IHDR
    return Buffer.concat([
      png.subarray(0, at),
      ...orientations.map((value) => chunk('eXIf', exif(value))),
      png.subarray(at),
    ]);
  }

  it('orients by the eXIf chunk', () => {
    expect(probeImage('png', withExif(6))).toMatchObject({
      orientation: 6,
      displayWidth: 4,
      displayHeight: 6,
    });
  });

  // libpng keeps the first eXIf chunk and ignores a duplicate; Chrome 156 shows these two files as
  // their first chunk says (4x6, then 6x4). The probe took the last.
  it('orients by the first of two eXIf chunks, as libpng and Chrome do', () => {
    expect(probeImage('png', withExif(6, 1))).toMatchObject({
      orientation: 6,
      displayWidth: 4,
      displayHeight: 6,
    });
    expect(probeImage('png', withExif(1, 6))).toMatchObject({
      orientation: 1,
      displayWidth: 6,
      displayHeight: 4,
    });
  });
  // PNG's third edition puts eXIf before the image data; Chrome 156 shows a 6x4 PNG whose eXIf
  // (Orientation 6) follows its IDAT as 6x4, unrotated (WPT image-orientation-exif-png-2: "late
  // EXIF data is ignored"). The probe turned it to 4x6.
  it('ignores an eXIf chunk after the image data, as Chrome does', () => {
    expect(probeImage('png', withExifAt(true, 6))).toMatchObject({
      orientation: 1,
      displayWidth: 6,
      displayHeight: 4,
    });
  });
});

describe('probeImage on APNG: the default image is its first frame', () => {
  /** A PNG made animated: acTL and the default image's fcTL (size and offset) after IHDR. */
  const animate = (png: Uint8Array, frame: { width: number; height: number; x?: number; y?: number }) => {
    const actl = Buffer.alloc(8);
    actl.writeUInt32BE(1, 0); // one frame, played forever
    const fctl = Buffer.alloc(26);
    for (const [i, v] of [0, frame.width, frame.height, frame.x ?? 0, frame.y ?? 0].entries())
      fctl.writeUInt32BE(v, i * 4);
    fctl.writeUInt16BE(1, 22); // delay 1/1 s
    const ihdrEnd = 8 + 25;
    return new Uint8Array(
      Buffer.concat([
        png.subarray(0, ihdrEnd),
        chunk('acTL', actl),
        chunk('fcTL', fctl),
        png.subarray(ihdrEnd),
      ]),
    );
  };

  it('reads an APNG whose first frame is the IHDR image, which the decoder decodes', async () => {
    const apng = animate(writePng(4, 3), { width: 4, height: 3 });
    expect(probeImage('png', apng)).toMatchObject({ width: 4, height: 3, animated: true, frames: 1 });
    const image = await decode('png', apng);
    expect([image.width, image.height]).toEqual([4, 3]);
  });

  it('reads a PNG whose acTL declares 0 frames, or more than 2^31 - 1, as a still image, as libpng does', async () => {
    // It was "animated" with 0 frames (quarantined as animated under IMGPIPE_ANIMATION=quarantine).
    for (const count of [0, 0x80000000]) {
      const bytes = Buffer.from(animate(writePng(4, 3), { width: 4, height: 3 }));
      const at = bytes.indexOf('acTL');
      bytes.writeUInt32BE(count, at + 4);
      bytes.writeUInt32BE(crc32(bytes.subarray(at, at + 12)) >>> 0, at + 12);
      expect(probeImage('png', bytes)).toMatchObject({ width: 4, height: 3, animated: false, frames: 1 });
      expect(await decode('png', bytes)).toMatchObject({ width: 4, height: 3 });
    }
  });

  it("refuses a default image's fcTL of another size or place than IHDR's, naming both", () => {
    const error = catchError(() => probeImage('png', animate(writePng(2, 2), { width: 6000, height: 6000 })));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      "The png file is malformed: the default image's fcTL chunk declares 6000x6000 at 0,0, not the IHDR image (2x2 at 0,0)",
    );
    expect(error.details).toMatchObject({ frame: [6000, 6000], at: [0, 0], declared: [2, 2] });
    const moved = catchError(() => probeImage('png', animate(writePng(4, 4), { width: 4, height: 4, x: 2 })));
    expect(moved.message).toMatch(/declares 4x4 at 2,0, not the IHDR image \(4x4 at 0,0\)$/);
  });
});

describe('probeImage on AVIF: the ftyp box', () => {
  it('reads a 30 MB ftyp box before the meta box without listing its brands', async () => {
    const file = readFixture('edge/formats/avif-8bit-420.avif');
    const frame = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
    const built = buildAvif({ ...frame, inIdat: true }); // no file offsets: the ftyp box may grow
    const ftypSize = Buffer.from(built).readUInt32BE(0);
    const size = 30 * 1024 * 1024;
    const ftyp = Buffer.alloc(size, 0x78); // brands 'xxxx' after avif and mif1
    ftyp.writeUInt32BE(size, 0);
    ftyp.write('ftypavif\0\0\0\0avifmif1', 4, 'latin1');
    const bytes = Buffer.concat([ftyp, built.subarray(ftypSize)]);
    expect(probeImage('avif', bytes)).toMatchObject({ width: 480, height: 325 });
    const dir = mkdtempSync(join(tmpdir(), 'probe-ftyp-'));
    try {
      const path = join(dir, 'long-ftyp.avif');
      writeFileSync(path, bytes);
      const { result, peakRssBytes } = await inFreshProcess<{ width: number; readyRssBytes: number }>(
        { probeImage: 'src/image/probe.ts', readFileSync: 'node:fs' },
        `const bytes = readFileSync(${JSON.stringify(path)});
         const readyRssBytes = process.memoryUsage().rss;
         return { width: probeImage('avif', bytes).width, readyRssBytes };`,
      );
      expect(result.width).toBe(480);
      // 7.8 million brands listed took 487 MiB and 18 s.
      expect(peakRssBytes - result.readyRssBytes).toBeLessThan(64 * 1024 * 1024);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('probeImage on JPEG: ICC profile segments', () => {
  const withApp2 = (segments: number) => {
    const jpeg = readFixture('edge/formats/1x1.jpg');
    const segment = Buffer.from([0xff, 0xe2, 0, 17, ...Buffer.from('ICC_PROFILE\0', 'latin1'), 1, 2, 0]);
    return Buffer.concat([jpeg.subarray(0, 2), ...Array(segments).fill(segment), jpeg.subarray(2)]);
  };

  it('keeps at most the 255 APP2 segments a profile can have, and says how many there were', () => {
    expect(probeImage('jpeg', withApp2(3)).colour.warnings).toEqual([
      "The ICC profile's APP2 segments are incomplete (1/2, 1/2, 1/2): the image is taken as sRGB",
    ]);
    // 30 MB of them listed 1.6 million segments (470 MiB) and an 8 MB warning in the manifest (such
    // a file is now refused for its markers, MAX_JPEG_MARKERS; fewer still make the warning).
    expect(probeImage('jpeg', withApp2(60_000)).colour.warnings).toEqual([
      'The file has 60000 ICC profile APP2 segments, more than the 255 a profile can have: the image is taken as sRGB',
    ]);
  });
});

describe('probeImage on WebP: the number of chunks', () => {
  it(`refuses a file of more than ${MAX_WEBP_CHUNKS} chunks, naming the count, and takes one of that many`, () => {
    // Empty chunks, one every 8 bytes: 4.2 million in 32 MiB, walked before any deadline.
    const withChunks = (total: number) =>
      riff([webpChunk('VP8L', vp8l(4, 4)), ...Array(total - 1).fill(webpChunk('zzzz', []))]);
    expect(probeImage('webp', withChunks(MAX_WEBP_CHUNKS))).toMatchObject({ width: 4, height: 4 });
    const over = withChunks(MAX_WEBP_CHUNKS + 1);
    expect(catchError(() => probeImage('webp', over))).toMatchObject({
      reason: 'corrupt',
      message: `The webp file is malformed: it has more than ${MAX_WEBP_CHUNKS} chunks (chunk ${MAX_WEBP_CHUNKS + 1} at byte ${over.length - 8}, of ${over.length} bytes)`,
      details: { format: 'webp', chunks: MAX_WEBP_CHUNKS + 1, maxChunks: MAX_WEBP_CHUNKS },
    });
  });
});

describe('probeImage on WebP: every frame on the canvas', () => {
  // Chrome 156 (libwebp's demuxer) refuses an animation any of whose frames does not fit the canvas,
  // placed at its offset with its bitstream's size (not the size its ANMF chunk declares), or has no
  // VP8 or VP8L bitstream; only the first frame was checked, so such files were published.
  const first = { width: 4, height: 4 };
  const vp8lOf = (width: number, height: number) => webpChunk('VP8L', vp8l(width, height));
  it.each([
    [
      'a second frame past the canvas',
      [first, { x: 2, y: 2, width: 4, height: 4 }],
      'frame 2 (its VP8L bitstream, 4x4 at 2,2) does not fit the 4x4 canvas',
    ],
    [
      'a second frame declared small around a bitstream larger than the canvas',
      [first, { width: 2, height: 2, image: vp8lOf(8, 8) }],
      'frame 2 (its VP8L bitstream, 8x8 at 0,0) does not fit the 4x4 canvas',
    ],
    [
      'a third frame without image data',
      [first, first, { ...first, image: new Uint8Array(0) }],
      'frame 3 has no VP8 or VP8L chunk',
    ],
    [
      'a second frame of alpha only',
      [first, { ...first, image: webpChunk('ALPH', [0]) }],
      'frame 2 has no VP8 or VP8L chunk',
    ],
    [
      'a second frame whose VP8L chunk has no signature',
      [first, { ...first, image: webpChunk('VP8L', [1, 2, 3, 4, 5]) }],
      'the VP8L chunk has no signature',
    ],
  ])('refuses %s, as Chrome does', (_name, frames, fault) => {
    const error = catchError(() => probeImage('webp', animation({ width: 4, height: 4 }, frames)));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(`The webp file is malformed: ${fault}`);
  });

  it('passes later frames Chrome shows: inside the canvas by their bitstream, whatever their ANMF chunk declares', () => {
    for (const frames of [
      [
        { width: 8, height: 8 },
        { x: 4, y: 4, width: 4, height: 4 },
      ],
      [
        { width: 8, height: 8 },
        { width: 16, height: 16, image: vp8lOf(8, 8) },
      ],
      [
        { width: 8, height: 8 },
        { x: 6, width: 4, height: 4, image: vp8lOf(2, 2) },
      ],
    ])
      expect(probeImage('webp', animation({ width: 8, height: 8 }, frames))).toMatchObject({ frames: 2 });
  });
});

describe('probeImage on WebP: the ICCP chunk', () => {
  /** A 4x4 still WebP (VP8X with the ICC flag, ICCP, VP8L) whose ICCP chunk holds `icc`. */
  const withIccp = (icc: Uint8Array) => {
    const size = Buffer.alloc(8);
    size.write('ICCP');
    size.writeUInt32LE(icc.length, 4);
    const iccp = Buffer.concat([size, icc, Buffer.alloc(icc.length & 1)]);
    const vp8x = webpChunk('VP8X', [0x20, 0, 0, 0, 3, 0, 0, 3, 0, 0]);
    return riff([vp8x, iccp, webpChunk('VP8L', vp8l(4, 4))]);
  };
  /** An ICC header (ICC.1 7.2) declaring `declared` bytes, with the acsp signature, `length` bytes long. */
  const profile = (declared: number, length = declared) => {
    const bytes = Buffer.alloc(length);
    bytes.writeUInt32BE(declared, 0);
    bytes.write('acsp', 36, 'latin1');
    return bytes;
  };

  it('leaves out, with the warning the other formats give, a profile that is not one or is over 16 MiB', () => {
    // Before, the chunk went to Little CMS whatever it held: a 17 MiB one was counted at 18 bytes a
    // byte (306 MiB) in the memory estimate, which holds the probe's profiles to 16 MiB.
    for (const icc of [Buffer.alloc(200, 7), profile(17 << 20)]) {
      const { colour } = probeImage('webp', withIccp(icc));
      expect(colour).toEqual({
        warnings: [
          `The embedded ICC profile (ICCP, ${icc.length} bytes) is not a valid profile: the image is taken as sRGB`,
        ],
      });
    }
  });

  it('ignores, with a warning, an ICCP chunk the VP8X header does not flag, as Chrome does', () => {
    // Chrome 156 (libwebp's demuxer keeps an ICCP chunk only with the flag) shows the P3 card's
    // stored values (60,200,100) with the flag cleared, and converts them (0,203,86) with it; the
    // probe read the profile either way, so the variants' colours differed from the browser's.
    const card = readFixture('edge/colour/p3-card.webp');
    expect(probeImage('webp', card).colour.iccSource).toBe('ICCP');
    const unflagged = Buffer.from(card);
    unflagged[20]! &= ~0x20; // VP8X flags: ICC profile
    expect(probeImage('webp', unflagged).colour).toEqual({
      warnings: [
        'The ICCP chunk (612 bytes) is not flagged in the VP8X header: it is ignored, as libwebp and browsers ignore it, and the image is taken as sRGB',
      ],
    });
    // Read by nothing, it is scanned as a region of its own (ImageHeader.opaque), as an unknown chunk.
    expect(probeImage('webp', unflagged).opaque).toEqual([{ offset: 38, bytes: 612 }]);
    expect(probeImage('webp', card).opaque).toBeUndefined();
  });

  it('takes a profile to the size its header declares', () => {
    const { colour } = probeImage('webp', withIccp(profile(300, 1000)));
    expect(colour.iccSource).toBe('ICCP');
    expect(colour.icc?.length).toBe(300);
  });
});

describe('probeImage on AVIF: entries read', () => {
  const file = readFixture('edge/formats/avif-8bit-420.avif');
  const frame = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
  const built = Buffer.from(buildAvif({ ...frame, inIdat: true })); // no file offsets to move
  const boxesIn = (start: number, end: number) => {
    const boxes: { type: string; at: number; size: number }[] = [];
    for (let at = start; at + 8 <= end; at += built.readUInt32BE(at))
      boxes.push({ type: built.toString('latin1', at + 4, at + 8), at, size: built.readUInt32BE(at) });
    return boxes;
  };
  const meta = boxesIn(0, built.length).find((b) => b.type === 'meta')!;
  const iprp = boxesIn(meta.at + 12, meta.at + meta.size).find((b) => b.type === 'iprp')!;
  const ipco = boxesIn(iprp.at + 8, iprp.at + iprp.size).find((b) => b.type === 'ipco')!;
  /** `extra` inserted at `at`, the sizes of the boxes that hold it grown by its length. */
  const inserted = (at: number, extra: Buffer, parents: readonly number[]) => {
    const out = Buffer.concat([built.subarray(0, at), extra, built.subarray(at)]);
    for (const parent of parents) out.writeUInt32BE(out.readUInt32BE(parent) + extra.length, parent);
    return out;
  };

  it('refuses more than 65536 boxes in a box: each is an object, tens of times its 8 bytes', () => {
    const free = (n: number) => {
      const boxes = Buffer.alloc(n * 8);
      for (let i = 0; i < n; i++) boxes.write('\0\0\0\x08free', i * 8, 'latin1');
      return inserted(ipco.at + ipco.size, boxes, [meta.at, iprp.at, ipco.at]);
    };
    expect(probeImage('avif', free(1000))).toMatchObject({ width: 480, height: 325 });
    expect(() => probeImage('avif', free(70_000))).toThrow(
      'The avif file is malformed: the ipco box holds more than the 65536 boxes read',
    );
  });

  it('refuses more than 65536 ipma entries', () => {
    // A second ipma box (version 1: 32-bit item IDs) of items 1000 and on, without properties.
    const ipma = (n: number) => {
      const box = Buffer.alloc(16 + n * 5);
      box.writeUInt32BE(box.length, 0);
      box.write('ipma', 4, 'latin1');
      box.writeUInt32BE(0x01000000, 8);
      box.writeUInt32BE(n, 12);
      for (let i = 0; i < n; i++) box.writeUInt32BE(1000 + i, 16 + i * 5);
      return inserted(iprp.at + iprp.size, box, [meta.at, iprp.at]);
    };
    expect(probeImage('avif', ipma(1000))).toMatchObject({ width: 480, height: 325 });
    // 30 MB of them (6 million) took 530 MiB and 25 s to read.
    expect(() => probeImage('avif', ipma(70_000))).toThrow(
      'The avif file is malformed: the ipma boxes list 70001 entries, more than the 65536 read',
    );
  });
});

describe('probeImage on JPEG, PNG, GIF and WebP: bytes after the image’s end', () => {
  it('names where they start and how many, for the scanner to scan as a file of their own', () => {
    const jpeg = readFixture('edge/formats/1x1.jpg');
    const png = readFixture('edge/formats/1x1.png');
    const gif = readFixture('edge/formats/gif.gif');
    const webp = readFixture('edge/formats/lossy.webp');
    const tail = Buffer.from('appended bytes');
    for (const [format, image] of [
      ['jpeg', jpeg],
      ['png', png],
      ['gif', gif],
      ['webp', webp],
    ] as const) {
      expect(probeImage(format, image).trailing, format).toBeUndefined();
      expect(probeImage(format, Buffer.concat([image, tail])).trailing, format).toEqual({
        offset: image.length,
        bytes: tail.length,
      });
    }
  });
});

describe('probeImage: regions no decoder reads (ImageHeader.opaque)', () => {
  it('names JPEG COM and APPn payloads, PNG and WebP chunks of no defined type and unknown HEIF top-level boxes, not the segments it reads', () => {
    const payload = Buffer.from('anything at all');
    const jpeg = readFixture('edge/formats/1x1.jpg');
    const segment = (marker: number, body: Uint8Array) => {
      const head = Buffer.from([0xff, marker, 0, 0]);
      head.writeUInt16BE(body.length + 2, 2);
      return Buffer.concat([head, body]);
    };
    const exif = Buffer.concat([Buffer.from('Exif\0\0'), payload]);
    const withSegments = Buffer.concat([
      jpeg.subarray(0, 2),
      segment(0xfe, payload),
      segment(0xe1, exif),
      segment(0xe9, payload),
      jpeg.subarray(2),
    ]);
    expect(probeImage('jpeg', jpeg).opaque).toBeUndefined();
    expect(probeImage('jpeg', withSegments).opaque).toEqual([
      { offset: 6, bytes: payload.length },
      { offset: 6 + payload.length + 4 + exif.length + 4, bytes: payload.length },
    ]);
    const png = readFixture('edge/formats/1x1.png');
    const chunk = (type: string, body: Uint8Array) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(body.length, 0);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
      return Buffer.concat([head, body, crc]);
    };
    const withChunks = Buffer.concat([
      png.subarray(0, 33),
      chunk('tEXt', payload),
      chunk('prVt', payload),
      png.subarray(33),
    ]);
    expect(probeImage('png', withChunks).opaque).toEqual([
      { offset: 33 + 12 + payload.length + 8, bytes: payload.length },
    ]);
    const avif = readFixture('edge/formats/avif-8bit-420.avif');
    const box = Buffer.concat([Buffer.from([0, 0, 0, 8 + payload.length]), Buffer.from('junk'), payload]);
    const webp = readFixture('edge/formats/lossy.webp');
    const junk = Buffer.concat([
      Buffer.from('JUNK'),
      Buffer.from([payload.length, 0, 0, 0]),
      payload,
      Buffer.alloc(1),
    ]);
    const withJunk = Buffer.concat([webp, junk]);
    withJunk.writeUInt32LE(withJunk.length - 8, 4);
    expect(probeImage('webp', webp).opaque).toBeUndefined();
    expect(probeImage('webp', withJunk).opaque).toEqual([{ offset: webp.length + 8, bytes: payload.length }]);
    expect(probeImage('avif', avif).opaque).toBeUndefined();
    expect(probeImage('avif', Buffer.concat([avif, box])).opaque).toEqual([
      { offset: avif.length + 8, bytes: payload.length },
    ]);
  });
});
