import { crc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sniffFormat } from '../../../src/image/sniff.ts';
import { caseRng, DEFAULT_SEED, fuzzCase, fuzzSeeds, jpegSegments, zeroZlib } from '../../support/fuzz.ts';

/**
 * The fuzz test's inputs (test/support/fuzz.ts) must be what their names say, or the fuzz test
 * quietly tests less: reproducible from seed and index, every kind of case present, checksums and
 * container sizes fixed up where the mutation says so.
 */
const seeds = await fuzzSeeds();
const sample = Array.from({ length: 2000 }, (_, i) => fuzzCase(DEFAULT_SEED, i, seeds));
const named = (pattern: RegExp) => sample.filter((c) => pattern.test(c.name));

describe('fuzz cases', () => {
  it('are the same bytes for the same seed and index, and differ between seeds', () => {
    const again = fuzzCase(DEFAULT_SEED, 1234, seeds);
    expect(again).toEqual(sample[1234]);
    expect(caseRng(1, 5).next()).not.toBe(caseRng(2, 5).next());
    expect(caseRng(1, 5).next()).not.toBe(caseRng(1, 6).next());
  });

  it('cover every kind of mutation the issue lists', () => {
    for (const pattern of [
      /truncated-at-/,
      /bit-flips/,
      /(drop|dup|swap)-segment/,
      /(drop|dup|swap)-chunk/,
      /(drop|dup|swap)-box/,
      /\.png .*length-/,
      /sof-dimensions|ihdr-(width|height|both)|vp8l?-dimensions|ispe-/,
      /sos-\d+-repeated-/,
      /metadata-/,
      /-named-as-image/,
      /zero-bytes/,
      /bomb-png-/,
      /bomb-webp-/,
      /one-byte-/,
      /\+zip|\+html|-magic-on-/,
    ]) {
      expect(named(pattern).length, String(pattern)).toBeGreaterThan(5);
    }
  });

  it('fix up the CRC of a PNG chunk whose length field they corrupted', () => {
    const cases = named(/\.png length-\w+-\d+(-resized)?$/);
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      // A reader walking the chunks by their length fields reaches the changed one, and its CRC
      // check passes (unless the length runs past the end of the file).
      const [, type, length] = /length-(\w+)-(\d+)(-resized)?$/.exec(c.name)!;
      const bytes = Buffer.from(c.bytes);
      let checked = false;
      for (let at = 8; at + 12 <= bytes.length && !checked; ) {
        const declared = bytes.readUInt32BE(at);
        const end = at + 8 + declared;
        if (bytes.toString('latin1', at + 4, at + 8) === type && declared === Number(length)) {
          if (end + 4 <= bytes.length)
            expect(bytes.readUInt32BE(end), c.name).toBe(crc32(bytes.subarray(at + 4, end)) >>> 0);
          checked = true;
        }
        at = end + 4;
      }
      expect(checked, c.name).toBe(true);
    }
  });

  it('keep the RIFF size of a WebP right when they change its chunks', () => {
    const cases = named(/\.webp (drop|dup|swap)-chunk-[^+]*$|\.webp vp8x-[^+]*$/);
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      expect(Buffer.from(c.bytes).readUInt32LE(4), c.name).toBe(c.bytes.length - 8);
    }
  });

  it('repeat a JPEG scan as many times as they say', () => {
    const cases = named(/\.jpg sos-\d+-repeated-\d+$/);
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      const seed = seeds.find((s) => c.name.startsWith(`${c.index} ${s.name} `))!;
      const copies = Number(/repeated-(\d+)$/.exec(c.name)![1]);
      const scans = (bytes: Uint8Array) =>
        jpegSegments(bytes).segments.filter((s) => s.marker === 0xda).length;
      expect(scans(c.bytes), c.name).toBe(scans(seed.bytes) + copies);
    }
  });

  it('mutate the GIF and HEIC seeds too: frames repeated behind one header, boxes of a HEIC', () => {
    const gif = named(/ gif\.gif frame-repeated-\d+$/);
    expect(gif.length).toBeGreaterThan(0);
    const seed = seeds.find((s) => s.name === 'gif.gif')!.bytes;
    for (const c of gif) {
      // Each copy is one image descriptor (0x2c) and its data; the header and trailer stay single.
      expect(c.bytes.length, c.name).toBeGreaterThan(seed.length);
      expect(sniffFormat(c.bytes), c.name).toBe('gif');
    }
    const heic = named(/ heic(-alpha-thumbnail)?\.heic (ispe-|size-|drop-box|dup-box|swap-box)/);
    expect(heic.length).toBeGreaterThan(0);
  });

  it('name other formats as images, and they sniff as what they are', () => {
    for (const c of named(/^\d+ (svg|pdf|tiff|zip)-named-as-image/)) {
      expect(c.key, c.name).toMatch(/\.(jpg|jpeg|png|webp|avif|heic|gif)$/);
      expect(sniffFormat(c.bytes), c.name).not.toMatch(/^(jpeg|png|webp|avif|heic|gif)$/);
    }
  });
});

describe('zeroZlib', () => {
  it.each([0, 1, 257, 258, 259, 12_345, 1 << 20])('writes a zlib stream of %i zeros', (n) => {
    const back = inflateSync(zeroZlib(n));
    expect(back.length).toBe(n);
    expect(back.every((b) => b === 0)).toBe(true);
  });
});
