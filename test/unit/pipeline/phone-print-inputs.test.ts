import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { decode, encode, nclxProfile, toSrgb } from '../../../src/codecs/index.ts';
import { HEAP_RELEASE_BYTES, registeredInstance } from '../../../src/codecs/instances.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import type { InvalidImageError } from '../../../src/core/errors.ts';
import { probeImage } from '../../../src/image/probe.ts';
import { processImage } from '../../../src/pipeline/process-image.ts';
import { CARD_QUADRANTS, fixturePath, readFixture } from '../../support/fixtures.ts';
import { box, buildHeif, clap, heifParts, ispe } from '../../support/heif.ts';
import { chunk as pngChunk } from '../../support/png.ts';
import { hasTool, metadataTags } from '../../support/tools.ts';

/**
 * Issue 17's inputs: HEIC (libheif), Display P3 and CMYK (Little CMS), GIF and animated first
 * frames. Every output is decoded back by an independent tool (ImageMagick, whose HEIF reader is
 * Debian's libheif 1.15 and whose colour engine is Debian's Little CMS; jpgicc, Little CMS's own
 * JPEG tool) and compared pixel by pixel within the tolerance stated at each check.
 */

const SRGB_PROFILE = '/usr/share/color/icc/sRGB.icc'; // Debian icc-profiles-free
const full = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { png: {} } });
const everyFormat = parsePipelineConfig({
  variants: [{ name: 'full' }],
  formats: { jpeg: {}, webp: {}, avif: { speed: 8 }, png: {} },
});

const dir = mkdtempSync(join(tmpdir(), 'imgpipe-phone-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const temp = (bytes: Uint8Array, ext: string) => {
  const path = join(dir, `${files++}.${ext}`);
  writeFileSync(path, bytes);
  return path;
};

/** ImageMagick's 8-bit RGB of `args` (an input and its operations). */
const magickRgb = (...args: string[]) =>
  new Uint8Array(execFileSync('convert', [...args, '-depth', '8', 'rgb:-'], { maxBuffer: 64 << 20 }));

/** Mean and largest absolute difference of two RGB byte arrays of one size. */
function difference(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  expect(a.length).toBe(b.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / a.length, max };
}

/** The only output of `full`, a lossless PNG, read back by ImageMagick. */
async function processedRgb(fixture: string): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const result = await processImage(readFixture(fixture), full);
  const [output] = result.outputs;
  return { rgb: magickRgb(temp(output!.bytes, 'png')), width: output!.width, height: output!.height };
}

/** The fixtures' Display P3 profile, as a file (from the PNG's iCCP). */
let p3: string | undefined;
const p3Profile = () => {
  p3 ??= temp(
    new Uint8Array(execFileSync('convert', [fixturePath('edge/colour/p3-card.png'), 'icc:-'])),
    'icc',
  );
  return p3;
};

const at = (rgb: Uint8Array, width: number, x: number, y: number) =>
  Array.from(rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));

/** A `colr` box of type nclx (ISO/IEC 23008-12 6.5.5): H.273 primaries, transfer, matrix, full range. */
const nclxBox = (primaries: number, transfer: number, matrix: number) =>
  box('colr', Buffer.from('nclx'), Uint8Array.of(0, primaries, 0, transfer, 0, matrix, 0x80));

/**
 * The P3 card's stored values (its Display P3 pixels, not converted) as an AVIF of ours at quality
 * 100, 4:4:4, whose only colour description is its nclx colr box, given these primaries and transfer.
 */
let cardAvif: Uint8Array | undefined;
async function nclxAvif(primaries: number, transfer: number): Promise<Uint8Array> {
  if (!cardAvif) {
    const pixels = await decode('png', readFixture('edge/colour/p3-card.png'));
    const { formatOptions } = parsePipelineConfig({
      variants: [{ name: 'full' }],
      formats: { avif: { quality: 100, chromaSubsampling: '4:4:4' } },
    });
    cardAvif = await encode('avif', pixels, formatOptions);
  }
  const file = cardAvif.slice();
  const at = Buffer.from(file).indexOf('colrnclx');
  expect(at).toBeGreaterThan(0);
  file.set([0, primaries, 0, transfer], at + 8);
  return file;
}

/** The P3 card fixture's HEVC image (Display P3 values) with an nclx colr box instead of its ICC profile. */
function nclxHeic(primaries: number, transfer: number): Uint8Array {
  const { hvcC, data } = heifParts(readFixture('edge/colour/p3-card.heic'));
  return buildHeif({
    items: [{ id: 1, type: 'hvc1', data }],
    primary: 1,
    properties: [hvcC, ispe(96, 64), nclxBox(primaries, transfer, 6)],
    associations: [[1, [0x81, 2, 3]]],
  });
}

/** sRGB's decoding and encoding functions (IEC 61966-2-1), on 0..1. */
const srgbToLinear = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
const linearToSrgb = (v: number) => (v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055);

const tools = hasTool('convert') && hasTool('jpgicc') && hasSrgbProfile();

function hasSrgbProfile(): boolean {
  if (existsSync(SRGB_PROFILE)) return true;
  if (process.env.IMGPIPE_REQUIRE_TOOLS === '1')
    throw new Error(`${SRGB_PROFILE} is required: apt-get install icc-profiles-free`);
  console.warn(`[skip] ${SRGB_PROFILE} is missing (Debian icc-profiles-free): colour checks are skipped`);
  return false;
}

describe.skipIf(!tools)('phone and print inputs, checked against independent tools', () => {
  it('decodes HEIC (8-bit, 10-bit) as ImageMagick’s libheif does, within HEVC decoders’ rounding', async () => {
    // libheif 1.23 (ours) and 1.15 (ImageMagick's) upsample chroma slightly differently; measured
    // here: mean 1.07 / max 14 (8-bit), mean 0.68 / max 6 (10-bit, reduced to 8 by both).
    for (const fixture of ['edge/formats/heic.heic', 'edge/formats/heic-10bit.heic']) {
      const ours = await processedRgb(fixture);
      const { mean, max } = difference(ours.rgb, magickRgb(fixturePath(fixture)));
      expect(mean, fixture).toBeLessThan(1.5);
      expect(max, fixture).toBeLessThanOrEqual(16);
    }
  });

  it('shows a grid-tiled HEIC with irot 3 upright, from its primary item only', async () => {
    const fixture = 'edge/orientation/heic-grid-irot3-orientation-6.heic';
    const header = probeImage('heic', readFixture(fixture));
    expect(header).toMatchObject({
      width: 128,
      height: 192,
      orientation: 6,
      displayWidth: 192,
      displayHeight: 128,
    });
    const { rgb, width, height } = await processedRgb(fixture);
    expect([width, height]).toEqual([192, 128]);
    const probes = [
      at(rgb, width, 48, 32),
      at(rgb, width, 144, 32),
      at(rgb, width, 48, 96),
      at(rgb, width, 144, 96),
    ];
    for (const [i, pixel] of probes.entries())
      for (const [c, value] of pixel.entries())
        expect(Math.abs(value! - CARD_QUADRANTS[i]![c]!), `quadrant ${i}`).toBeLessThan(24);
    // ImageMagick applies irot itself (libheif): the same upright picture.
    const { mean } = difference(rgb, magickRgb(fixturePath(fixture)));
    expect(mean).toBeLessThan(2);
  });

  it('decodes a HEIC’s primary image with its alpha, never its 48x32 thumbnail', async () => {
    const fixture = 'edge/formats/heic-alpha-thumbnail.heic';
    const header = probeImage('heic', readFixture(fixture));
    expect(header).toMatchObject({ width: 320, height: 216, hasAlpha: true });
    const image = await decode('heic', readFixture(fixture));
    expect([image.width, image.height]).toEqual([320, 216]);
    // The alpha of the PNG it was made from (a transparent rounded border, a gradient 255 to 64),
    // coded losslessly enough to be within a few steps.
    const png = await decode('png', readFixture('edge/formats/alpha-rgba8.png'));
    const alpha = (data: Uint8ClampedArray) =>
      Uint8Array.from({ length: data.length / 4 }, (_, i) => data[i * 4 + 3]!);
    expect(image.data[3]).toBe(0);
    const { mean } = difference(alpha(image.data), alpha(png.data));
    expect(mean).toBeLessThan(2);
  });

  it.each(['png', 'jpg', 'webp', 'avif', 'heic'])(
    'converts the Display P3 card in %s to sRGB: pure P3 red comes out as sRGB-clipped red',
    async (ext) => {
      const fixture = `edge/colour/p3-card.${ext}`;
      const result = await processImage(readFixture(fixture), full);
      expect(result.colour).toMatchObject({
        converted: true,
        profile: 'Display P3 (imgpipe test fixture)',
        warnings: [],
      });
      const rgb = magickRgb(temp(result.outputs[0]!.bytes, 'png'));
      // Quadrants: P3 (255,0,0), (60,200,100), (200,80,40), (70,120,210) in sRGB (Little CMS).
      const expected = [
        [255, 0, 0],
        [0, 203, 87],
        [215, 69, 17],
        [50, 121, 215],
      ];
      const lossy = ext === 'jpg' || ext === 'heic' || ext === 'avif' ? 4 : 2;
      const probes = [at(rgb, 96, 24, 16), at(rgb, 96, 72, 16), at(rgb, 96, 24, 48), at(rgb, 96, 72, 48)];
      for (const [i, pixel] of probes.entries())
        for (const [c, value] of pixel.entries())
          expect(Math.abs(value! - expected[i]![c]!), `quadrant ${i} channel ${c}`).toBeLessThanOrEqual(
            lossy,
          );
      // ImageMagick with Little CMS, perceptual, from the P3 profile (it does not read a HEIF colr
      // profile, so it is given the same one): measured mean 0.33-0.67, max 1-2.
      const reference = magickRgb(
        fixturePath(fixture),
        '-profile',
        p3Profile(),
        '-intent',
        'Perceptual',
        '-profile',
        SRGB_PROFILE,
      );
      const { mean, max } = difference(rgb, reference);
      expect(mean).toBeLessThan(1);
      expect(max).toBeLessThanOrEqual(3);
    },
  );

  it('converts a Display P3 phone photo (HEIC) as ImageMagick with Little CMS does', async () => {
    const fixture = 'edge/colour/p3-photo.heic';
    const ours = await processedRgb(fixture);
    const reference = magickRgb(
      fixturePath(fixture),
      '-profile',
      p3Profile(),
      '-intent',
      'Perceptual',
      '-profile',
      SRGB_PROFILE,
    );
    // HEVC decoders' rounding and the conversion's: measured mean 0.87, max 8.
    const { mean, max } = difference(ours.rgb, reference);
    expect(mean).toBeLessThan(1.5);
    expect(max).toBeLessThanOrEqual(12);
    // Converting changed the pixels: taken as sRGB they differ more (measured: mean 2.75).
    expect(difference(ours.rgb, magickRgb(fixturePath(fixture))).mean).toBeGreaterThan(2);
  });

  it.each([
    ['an AVIF', () => nclxAvif(12, 13), 1, 3],
    ['a HEIC', async () => nclxHeic(12, 13), 1.5, 8],
  ])(
    'converts %s described only by nclx Display P3 (12/13) as ImageMagick does with a P3 profile',
    async (_, file, meanAtMost, maxAtMost) => {
      const result = await processImage(await file(), full);
      expect(result.colour).toEqual({
        profile: 'nclx Display P3 (SMPTE EG 432-1) primaries, sRGB transfer',
        source: 'nclx',
        converted: true,
        warnings: [],
      });
      const ours = magickRgb(temp(result.outputs[0]!.bytes, 'png'));
      // The card's PNG converted from its own Display P3 profile by ImageMagick with Little CMS. Measured:
      // AVIF (quality 100, 4:4:4) mean 0.33, max 1; HEIC (the fixture's lossy HEVC) mean 0.5, max 2.
      const reference = magickRgb(fixturePath('edge/colour/p3-card.png'), '-profile', SRGB_PROFILE);
      const { mean, max } = difference(ours, reference);
      expect(mean).toBeLessThan(meanAtMost);
      expect(max).toBeLessThanOrEqual(maxAtMost);
      // Taken as sRGB, the card's saturated quadrants are far off.
      const unconverted = magickRgb(fixturePath('edge/colour/p3-card.png'), '+profile', '*');
      expect(difference(reference, unconverted).max).toBeGreaterThan(40);
    },
  );

  it.each([
    ['with its own profile (FOGRA29, in three APP2 segments)', 'edge/colour/cmyk-fogra29-profile.jpg', []],
    [
      'without a profile (the default FOGRA39)',
      'edge/formats/cmyk.jpg',
      ['-i', 'src/codecs/colour/cmyk-fogra39.icc'],
    ],
    [
      'coded as plain CMYK (APP14 transform 0, as libvips writes it), without a profile',
      'edge/colour/cmyk-transform0.jpg',
      ['-i', 'src/codecs/colour/cmyk-fogra39.icc'],
    ],
  ])('converts an Adobe-inverted CMYK JPEG %s as Little CMS’s jpgicc does', async (_, fixture, input) => {
    const ours = await processedRgb(fixture);
    const out = join(dir, `${files++}.jpg`);
    // jpgicc: the embedded profile (or -i), perceptual (-t0), to sRGB, quality 100.
    execFileSync('jpgicc', ['-t0', '-q100', ...input, fixturePath(fixture), out], {
      cwd: fixturePath('..'),
      stdio: 'ignore',
    });
    const { mean, max } = difference(ours.rgb, magickRgb(out));
    // Measured: mean 0.09, max 1 (jpgicc's JPEG at quality 100).
    expect(mean).toBeLessThan(0.5);
    expect(max).toBeLessThanOrEqual(3);
  });

  it('processes an image whose ICC profile is broken as sRGB, with the warning in the result', async () => {
    const result = await processImage(readFixture('edge/colour/icc-broken.jpg'), full);
    expect(result.colour.converted).toBe(false);
    expect(result.colour.warnings).toEqual([
      'The embedded ICC profile (APP2, 148 bytes) is not a valid profile: the image is taken as sRGB',
    ]);
    const same = await processImage(readFixture('edge/formats/chroma-444.jpg'), full);
    expect(Buffer.from(result.outputs[0]!.bytes).equals(Buffer.from(same.outputs[0]!.bytes))).toBe(true);
  });

  it.skipIf(!hasTool('exiftool'))('writes every output of a converted source without a profile', async () => {
    for (const fixture of ['edge/colour/p3-card.jpg', 'edge/colour/cmyk-fogra29-profile.jpg']) {
      expect(metadataTags(readFixture(fixture))).toEqual(
        expect.arrayContaining([expect.stringMatching(/^ICC_Profile:/)]),
      );
      const result = await processImage(readFixture(fixture), everyFormat);
      for (const output of result.outputs) expect(metadataTags(output.bytes), output.format).toEqual([]);
    }
  });

  it.each(['gif', 'webp'])('makes still variants of an animated %s’s first frame', async (ext) => {
    const result = await processImage(readFixture(`edge/animated/card-3-frames.${ext}`), full);
    expect(result.header).toMatchObject({ animated: true, frames: 3, width: 96, height: 64 });
    const rgb = magickRgb(temp(result.outputs[0]!.bytes, 'png'));
    const probes = [at(rgb, 96, 24, 16), at(rgb, 96, 72, 16), at(rgb, 96, 24, 48), at(rgb, 96, 72, 48)];
    for (const [i, pixel] of probes.entries()) expect(pixel, `quadrant ${i}`).toEqual(CARD_QUADRANTS[i]);
    // ImageMagick's first frame ([0]) is the same picture.
    expect(difference(rgb, magickRgb(`${fixturePath(`edge/animated/card-3-frames.${ext}`)}[0]`)).max).toBe(0);
  });

  it('quarantines an animated GIF as `animated` when the animation setting says so', async () => {
    const config = parsePipelineConfig({ variants: [{ name: 'full' }], animation: 'quarantine' });
    const error = (await processImage(readFixture('edge/animated/card-3-frames.gif'), config).catch(
      (e: unknown) => e,
    )) as InvalidImageError;
    expect(error.reason).toBe('animated');
    expect(error.message).toBe(
      'The gif file is animated (3 frames) and the animation setting is "quarantine"',
    );
  });
});

describe('nclx colour descriptions without an ICC profile', () => {
  it.each([
    [9, 14],
    [9, 1],
  ])(
    'converts BT.2020 primaries with an SDR transfer (%i/%i) to sRGB, as BT.2087’s matrix does',
    async (primaries, transfer) => {
      const file = await nclxAvif(primaries, transfer);
      const stored = await decode('avif', file);
      const result = await processImage(file, full);
      expect(result.colour).toMatchObject({ source: 'nclx', converted: true, warnings: [] });
      const ours = await decode('png', result.outputs[0]!.bytes);
      // ITU-R BT.2087-0, linear BT.2020 RGB to linear BT.709 RGB (the transfer decoded as sRGB's, as
      // Chrome decodes the BT.709 family), clipped to sRGB's gamut.
      const m = [1.6605, -0.5876, -0.0728, -0.1246, 1.1329, -0.0083, -0.0182, -0.1006, 1.1187];
      let sum = 0;
      let max = 0;
      for (let o = 0; o < stored.data.length; o += 4) {
        const linear = [0, 1, 2].map((c) => srgbToLinear(stored.data[o + c]! / 255));
        for (let c = 0; c < 3; c++) {
          const v = m[c * 3]! * linear[0]! + m[c * 3 + 1]! * linear[1]! + m[c * 3 + 2]! * linear[2]!;
          const expected = Math.round(255 * linearToSrgb(Math.min(1, Math.max(0, v))));
          const d = Math.abs(ours.data[o + c]! - expected);
          sum += d;
          max = Math.max(max, d);
        }
      }
      // Little CMS interpolates in its 8-bit transform, so allow a few units; measured on the card: 0.
      expect(sum / ((stored.data.length / 4) * 3)).toBeLessThan(0.5);
      expect(max).toBeLessThanOrEqual(3);
    },
  );

  it.each([
    [
      9,
      16,
      'transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped',
    ],
    [
      12,
      18,
      'transfer characteristics 18 (HLG (ARIB STD-B67), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped',
    ],
    [
      1,
      16,
      'transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped',
    ],
    [3, 13, 'colour primaries 3 (ITU-T H.273) are not supported'],
  ])('takes %i/%i as sRGB, saying why in a warning', async (primaries, transfer, why) => {
    const file = await nclxAvif(primaries, transfer);
    const result = await processImage(file, full);
    expect(result.colour).toEqual({
      converted: false,
      warnings: [`The nclx colour description's ${why}: the image is taken as sRGB`],
    });
    const stored = await decode('avif', file);
    expect(
      Buffer.from((await decode('png', result.outputs[0]!.bytes)).data).equals(Buffer.from(stored.data)),
    ).toBe(true);
  });

  it.each([
    [1, 13],
    [2, 2],
    [1, 1],
    [1, 6],
  ])(
    'takes sRGB’s primaries with sRGB’s curve (%i/%i) as they are, without a transform',
    async (primaries, transfer) => {
      const result = await processImage(await nclxAvif(primaries, transfer), full);
      expect(result.colour).toEqual({ converted: false, warnings: [] });
    },
  );
  it('makes a grey profile of the transfer alone for a grey image (primaries do not matter)', async () => {
    const made = nclxProfile(3, 8, true);
    expect(made).toMatchObject({ description: 'nclx grey, linear transfer' });
    const data = new Uint8ClampedArray(256 * 4);
    for (let v = 0; v < 256; v++) data.set([v, v, v, 255], v * 4);
    const out = await toSrgb({ width: 256, height: 1, data }, (made as { icc: Uint8Array }).icc, 'gray');
    for (let v = 0; v < 256; v++)
      expect(
        Math.abs(out.data[v * 4]! - Math.round(255 * linearToSrgb(v / 255))),
        `${v}`,
      ).toBeLessThanOrEqual(1);
  });
});

/**
 * The P3 card's PNG with its iCCP chunk replaced by (or, with `keepIccp`, preceded by) a cICP chunk
 * (PNG third edition 11.3.2.6): H.273 primaries, transfer, matrix 0 (RGB), full range.
 */
function cicpPng(primaries: number, transfer: number, keepIccp = false): Uint8Array {
  const png = readFixture('edge/colour/p3-card.png');
  const parts: Buffer[] = [png.subarray(0, 8)];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'iCCP' || type === 'IDAT') {
      if (!parts.some((part) => part.toString('latin1', 4, 8) === 'cICP'))
        parts.push(pngChunk('cICP', Buffer.from([primaries, transfer, 0, 1])));
    }
    if (type !== 'iCCP' || keepIccp) parts.push(png.subarray(at, at + 12 + length));
    at += 12 + length;
  }
  return Buffer.concat(parts);
}

describe('PNG cICP chunk (coding-independent code points)', () => {
  it('converts a Display P3 cICP (12/13) as its iCCP Display P3 profile converts', async () => {
    const file = cicpPng(12, 13);
    expect(probeImage('png', file).colour.icc).toBeUndefined();
    const result = await processImage(file, full);
    expect(result.colour).toMatchObject({ source: 'nclx', converted: true, warnings: [] });
    const ours = await decode('png', result.outputs[0]!.bytes);
    const byProfile = await processImage(readFixture('edge/colour/p3-card.png'), full);
    const reference = await decode('png', byProfile.outputs[0]!.bytes);
    const d = difference(new Uint8Array(ours.data), new Uint8Array(reference.data));
    expect(d.mean).toBeLessThan(1);
    expect(d.max).toBeLessThanOrEqual(3);
  });

  it('lets a cICP chunk win over an iCCP profile, as PNG requires', async () => {
    const file = cicpPng(1, 13, true); // sRGB code points beside the card's Display P3 profile
    expect(probeImage('png', file).colour.icc).toBeDefined();
    const result = await processImage(file, full);
    expect(result.colour).toEqual({ converted: false, warnings: [] });
    const stored = await decode('png', file);
    const out = await decode('png', result.outputs[0]!.bytes);
    expect(Buffer.from(out.data).equals(Buffer.from(stored.data))).toBe(true);
  });

  it('falls back to the iCCP profile, saying why, when the cICP chunk describes HDR', async () => {
    const result = await processImage(cicpPng(9, 16, true), full);
    expect(result.colour).toMatchObject({
      source: 'iCCP',
      converted: true,
      warnings: [
        "The PNG cICP chunk's transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped: the iCCP profile is used",
      ],
    });
    const alone = await processImage(cicpPng(9, 16), full);
    expect(alone.colour).toEqual({
      converted: false,
      warnings: [
        "The PNG cICP chunk's transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped: the image is taken as sRGB",
      ],
    });
  });
});

describe('HEIF transformative properties, in the order the ipma entry lists them', () => {
  type Raw = { width: number; height: number; data: Uint8ClampedArray };
  /** Each output pixel from the input pixel `from` names: an independent reference of each step. */
  const remap = (
    image: Raw,
    width: number,
    height: number,
    from: (x: number, y: number) => [number, number],
  ) => {
    const data = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const [sx, sy] = from(x, y);
        data.set(
          image.data.subarray((sy * image.width + sx) * 4, (sy * image.width + sx) * 4 + 4),
          (y * width + x) * 4,
        );
      }
    return { width, height, data };
  };
  // irot 1: a quarter turn anticlockwise (the top right corner comes to the top left).
  const turn = (i: Raw) => remap(i, i.height, i.width, (x, y) => [i.width - 1 - y, x]);
  // imir 0: top and bottom exchanged; imir 1: left and right.
  const mirror = (axis: number) => (i: Raw) =>
    remap(i, i.width, i.height, (x, y) => (axis === 0 ? [x, i.height - 1 - y] : [i.width - 1 - x, y]));
  const cut = (c: { left: number; top: number; width: number; height: number }) => (i: Raw) =>
    remap(i, c.width, c.height, (x, y) => [c.left + x, c.top + y]);

  const { hvcC, data } = heifParts(readFixture('edge/colour/p3-card.heic'));
  /** The card's HEVC image (96x64, no colour description) with these properties after its ispe, essential. */
  const card = (...properties: Uint8Array[]) =>
    buildHeif({
      items: [{ id: 1, type: 'hvc1', data }],
      primary: 1,
      properties: [hvcC, ispe(96, 64), ...properties],
      associations: [[1, [0x81, 2, ...properties.map((_, i) => 0x80 | (3 + i))]]],
    });
  const irot = (angle: number) => box('irot', Uint8Array.of(angle));
  const imir = (axis: number) => box('imir', Uint8Array.of(axis));
  const rotatedCrop = { left: 8, top: 16, width: 32, height: 48 }; // of the 64x96 turned card
  const mirroredCrop = { left: 10, top: 6, width: 60, height: 40 }; // of the 96x64 mirrored card

  it.each([
    ['irot 1 then imir 0 (MIAF’s order)', [irot(1), imir(0)], [turn, mirror(0)]],
    ['imir 0 then irot 1', [imir(0), irot(1)], [mirror(0), turn]],
    ['imir 1 then irot 1', [imir(1), irot(1)], [mirror(1), turn]],
    [
      'irot 1 then clap (a crop of the turned image)',
      [irot(1), clap(rotatedCrop, 64, 96)],
      [turn, cut(rotatedCrop)],
    ],
    [
      'imir 1, clap, then irot 3',
      [imir(1), clap(mirroredCrop, 96, 64), irot(3)],
      [mirror(1), cut(mirroredCrop), turn, turn, turn],
    ],
  ] as const)('applies %s', async (_, properties, steps) => {
    const stored = await decode('heic', card());
    const expected = steps.reduce<Raw>((image, step) => step(image), stored);
    const file = card(...properties);
    const result = await processImage(file, full);
    const ours = await decode('png', result.outputs[0]!.bytes);
    expect([ours.width, ours.height]).toEqual([expected.width, expected.height]);
    expect(Buffer.from(ours.data).equals(Buffer.from(expected.data))).toBe(true);
    if (!tools) return;
    // ImageMagick's libheif 1.15 applies them in the listed order too; HEVC decoders' rounding
    // apart (measured: mean 0.75-0.83, max 1-2), the same picture.
    const { mean, max } = difference(
      magickRgb(temp(result.outputs[0]!.bytes, 'png')),
      magickRgb(temp(file, 'heic')),
    );
    expect(mean).toBeLessThan(1.5);
    expect(max).toBeLessThanOrEqual(4);
  });
});

describe('the HEIC decoder instance', () => {
  it.skipIf(!hasTool('heif-enc'))(
    'gives back libheif’s heap once a decode grows it past the release size',
    async () => {
      // 3000x2000: libheif's RGBA image alone is 24 MB, beside the HEVC frame and the input.
      const png = temp(
        new Uint8Array(
          execFileSync('convert', ['-size', '3000x2000', 'gradient:#e04010-#1040e0', 'png:-'], {
            maxBuffer: 64 << 20,
          }),
        ),
        'png',
      );
      const heic = join(dir, `${files++}.heic`);
      execFileSync('heif-enc', ['-q', '30', png, '-o', heic], { stdio: 'ignore' });
      await decode('heic', readFixture('edge/formats/heic.heic'));
      const heif = registeredInstance('heifDec')!;
      const small = heif.memory();
      const image = await decode('heic', new Uint8Array(readFileSync(heic)));
      expect([image.width, image.height]).toEqual([3000, 2000]);
      expect(heif.memory(), 'a fresh instance').not.toBe(small);
      expect(heif.heapBytes()).toBeLessThanOrEqual(HEAP_RELEASE_BYTES);
    },
  );

  it('decodes HEIC and converts colour in a worker thread, on that thread’s own instances', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.codecs).then(async (codecs) => {
        const image = await codecs.decode('heic', workerData.heic);
        const srgb = await codecs.toSrgb(image, workerData.icc, 'rgba');
        parentPort.postMessage({ size: [image.width, image.height], first: Array.from(srgb.data.subarray(0, 4)) });
      }, (error) => parentPort.postMessage({ error: String(error) }));`;
    const header = probeImage('heic', readFixture('edge/colour/p3-card.heic'));
    const worker = new Worker(code, {
      eval: true,
      workerData: {
        codecs: new URL('../../../src/codecs/index.ts', import.meta.url).href,
        heic: readFixture('edge/colour/p3-card.heic'),
        icc: header.colour.icc,
      },
    });
    const message = await new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(message).toEqual({
      size: [96, 64],
      first: [expect.closeTo(255, 0), expect.any(Number), expect.any(Number), 255],
    });
    expect((message.first as number[])[0]).toBeGreaterThanOrEqual(252);
    expect((message.first as number[])[1]).toBeLessThanOrEqual(3);
  });
});

describe('CMYK JPEG without the APP14 marker', () => {
  /** The bytes without their Adobe APP14 segment, as a metadata stripper that drops every APPn leaves them. */
  function withoutApp14(jpeg: Uint8Array): Uint8Array {
    const kept: number[] = [0xff, 0xd8];
    for (let at = 2; ; ) {
      const marker = jpeg[at + 1]!;
      if (marker === 0xda) return Uint8Array.from([...kept, ...jpeg.subarray(at)]);
      const end = at + 2 + ((jpeg[at + 2]! << 8) | jpeg[at + 3]!);
      if (marker !== 0xee) kept.push(...jpeg.subarray(at, end));
      at = end;
    }
  }

  // Chrome 156 and ImageMagick 6.9 show the file the same with and without the marker; it came out
  // dark and in the wrong colours (a blue sky as 35,23,0), its values read as not inverted.
  it('takes its values as Adobe-inverted, as Chrome shows it: the same picture as with the marker', async () => {
    const jpeg = readFixture('edge/colour/cmyk-transform0.jpg');
    const stripped = withoutApp14(jpeg);
    expect(stripped.length).toBe(jpeg.length - 16);
    expect(probeImage('jpeg', stripped).cmyk).toEqual({ model: 'CMYK', inverted: true });
    const [withMarker, without] = await Promise.all([processImage(jpeg, full), processImage(stripped, full)]);
    expect(without.colour).toMatchObject({ converted: true, source: 'default-cmyk' });
    expect(Buffer.from(without.outputs[0]!.bytes).equals(Buffer.from(withMarker.outputs[0]!.bytes))).toBe(
      true,
    );
  });
});

describe('GIF', () => {
  /** A GIF of `frames` 1x1 frames on a 4x4 screen, the first a red pixel at 0,0. */
  function manyFrames(frames: number): Uint8Array {
    const head = [...Buffer.from('GIF89a'), 4, 0, 4, 0, 0x80, 0, 0, 255, 0, 0, 0, 0, 255];
    // Image descriptor at 0,0, 1x1, then LZW (min code size 2): clear, index 0 or 1, end of information.
    const frame = (index: number) => [
      0x2c,
      0,
      0,
      0,
      0,
      1,
      0,
      1,
      0,
      0,
      2,
      2,
      index === 0 ? 0x44 : 0x4c,
      0x01,
      0,
    ];
    const parts = [head, ...Array.from({ length: frames }, (_, i) => frame(i)), [0x3b]];
    return Uint8Array.from(parts.flat());
  }

  it('hands omggif only the first frame, whatever the frame count', async () => {
    const { GifReader } = await import('omggif');
    const { firstFrameOnly } = await import('../../../src/codecs/gif.ts');
    const bytes = manyFrames(100_000);
    expect(new GifReader(bytes).numFrames()).toBe(100_000);
    const first = firstFrameOnly(bytes);
    expect(new GifReader(first).numFrames()).toBe(1);
    expect(first.length).toBeLessThan(64);
    const header = probeImage('gif', bytes);
    expect(header).toMatchObject({ animated: true, frames: 100_000, width: 4, height: 4, hasAlpha: true });
    const image = await decode('gif', bytes);
    expect(Array.from(image.data.subarray(0, 4))).toEqual([255, 0, 0, 255]);
    expect(image.data[7]).toBe(0); // outside the first frame: transparent
  });

  /**
   * A 5x(h+6) screen with one 3xh frame at 1,1, row r of the frame in colour r mod 16 of a 16-colour grey
   * palette (grey 16r + 8), its rows stored in GIF's interlaced order when `interlaced`. The LZW data
   * puts a clear code before each index, so every code is 5 bits and no table is built.
   */
  function rowsGif(height: number, interlaced: boolean): Uint8Array {
    const palette = Array.from({ length: 16 }, (_, i) => [i * 16 + 8, i * 16 + 8, i * 16 + 8]).flat();
    const head = [...Buffer.from('GIF89a'), 5, 0, height + 6, 0, 0xf3, 0, 0, ...palette];
    const rows = Array.from({ length: height }, (_, row) => row);
    const order = interlaced
      ? [0, 4, 2, 1].flatMap((first, pass) =>
          rows.filter((row) => row >= first && (row - first) % [8, 8, 4, 2][pass]! === 0),
        )
      : rows;
    const codes = [...order.flatMap((row) => [16, row % 16, 16, row % 16, 16, row % 16]), 17];
    const packed: number[] = [];
    let bits = 0;
    let count = 0;
    for (const code of codes) {
      bits |= code << count;
      count += 5;
      for (; count >= 8; count -= 8, bits >>= 8) packed.push(bits & 0xff);
    }
    if (count > 0) packed.push(bits & 0xff);
    const blocks: number[] = [];
    for (let at = 0; at < packed.length; at += 255) {
      const block = packed.slice(at, at + 255);
      blocks.push(block.length, ...block);
    }
    const descriptor = [0x2c, 1, 0, 1, 0, 3, 0, height, 0, interlaced ? 0x40 : 0];
    return Uint8Array.from([...head, ...descriptor, 4, ...blocks, 0, 0x3b]);
  }

  /**
   * A 4x1 GIF whose one frame uses a 4-colour table (red, green, blue, grey 9), local or global, with
   * an LZW minimum code size of 3, so its codes can name 8 colours: they name 0, 5, 3 and 7. A clear
   * code before each index keeps every code 4 bits long.
   */
  function pastTheTable(table: 'local' | 'global'): Uint8Array {
    const colours = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9];
    const global = table === 'global';
    const head = [...Buffer.from('GIF89a'), 4, 0, 1, 0, global ? 0x81 : 0, 0, 0, ...(global ? colours : [])];
    const descriptor = [0x2c, 0, 0, 0, 0, 4, 0, 1, 0, global ? 0 : 0x81, ...(global ? [] : colours)];
    // Codes clear (8), 0, clear, 5, clear, 3, clear, 7, end (9), two to a byte, low bits first.
    const data = [3, 5, 0x08, 0x58, 0x38, 0x78, 0x09, 0];
    return Uint8Array.from([...head, ...descriptor, ...data, 0x3b]);
  }

  // omggif read the colours of indices 5 and 7 from the bytes after the table (the image data, or
  // past the file's end), so they came out in whatever colour those bytes made.
  it.each(['local', 'global'] as const)(
    'shows colour indices past the end of a frame’s %s colour table as opaque black, as Chrome does',
    async (table) => {
      const image = await decode('gif', pastTheTable(table));
      expect(Array.from(image.data)).toEqual([255, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 255, 0, 0, 0, 255]);
    },
  );

  // omggif, given these, left a row of a 2- to 4-row frame empty and wrote a row 4 rows too low.
  it.each([1, 2, 3, 4, 5, 9, 17])(
    'puts every row of an interlaced %i-row frame in its place',
    async (height) => {
      const image = await decode('gif', rowsGif(height, true));
      expect(image).toMatchObject({ width: 5, height: height + 6 });
      const plain = await decode('gif', rowsGif(height, false));
      for (let y = 0; y < height + 6; y++) {
        for (let x = 0; x < 5; x++) {
          const inFrame = x >= 1 && x <= 3 && y >= 1 && y <= height;
          const grey = ((y - 1) % 16) * 16 + 8;
          const at = (y * 5 + x) * 4;
          expect([y, x, ...image.data.subarray(at, at + 4)]).toEqual([
            y,
            x,
            ...(inFrame ? [grey, grey, grey, 255] : [0, 0, 0, 0]),
          ]);
        }
      }
      expect(Buffer.from(image.data).equals(Buffer.from(plain.data))).toBe(true);
    },
  );
});

describe('HEIC with premultiplied alpha (a `prem` reference)', () => {
  /**
   * The alpha fixture with its `thmb` reference (thumbnail 4 to primary 1) made into `prem` (primary
   * 1 to its alpha item 2): the same number of bytes, so nothing moves; the colour values are then
   * to be read as premultiplied by alpha.
   */
  function markedPremultiplied(): Uint8Array {
    const bytes = Uint8Array.from(readFixture('edge/formats/heic-alpha-thumbnail.heic'));
    const thmb = Buffer.from(bytes).indexOf(
      Buffer.from([0, 0, 0, 14, ...Buffer.from('thmb'), 0, 4, 0, 1, 0, 1]),
    );
    expect(thmb).toBeGreaterThan(0);
    bytes.set([...Buffer.from('prem'), 0, 1, 0, 1, 0, 2], thmb + 4);
    return bytes;
  }

  // libheif hands over the stored, premultiplied values: semi-transparent pixels came out darker
  // (half-transparent 200,100,50 as 100,50,25), where libavif gives the same AVIF's straight values.
  it('gives straight alpha: each colour value times 255 / alpha, as libavif unpremultiplies', async () => {
    const stored = await decode('heic', readFixture('edge/formats/heic-alpha-thumbnail.heic'));
    const image = await decode('heic', markedPremultiplied());
    expect([image.width, image.height]).toEqual([stored.width, stored.height]);
    let translucent = 0;
    for (let i = 0; i < stored.data.length; i += 4) {
      const alpha = stored.data[i + 3]!;
      if (alpha > 0 && alpha < 255) translucent++;
      const colour = [0, 1, 2].map((c) =>
        alpha === 0 ? 0 : Math.min(255, Math.round((stored.data[i + c]! * 255) / alpha)),
      );
      const pixel = Array.from(image.data.subarray(i, i + 4));
      if (pixel.some((v, c) => v !== [...colour, alpha][c])) {
        expect({ pixel: i / 4, got: pixel }).toEqual({ pixel: i / 4, got: [...colour, alpha] });
      }
    }
    expect(translucent).toBeGreaterThan(1000);
  });

  it.skipIf(!hasTool('heif-enc') || !hasTool('convert'))(
    'decodes what heif-enc --premultiplied-alpha wrote, 8-bit and 10-bit, to the straight colours it was given',
    async () => {
      const straight = await decode('png', readFixture('edge/formats/alpha-rgba8.png'));
      const { width, height } = straight;
      for (const depth of [8, 16]) {
        // The picture premultiplied, at 8 or 16 bits a sample (heif-enc makes 10-bit HEIC of the latter).
        const samples =
          depth === 8 ? new Uint8Array(width * height * 4) : new Uint16Array(width * height * 4);
        const max = depth === 8 ? 255 : 65535;
        for (let i = 0; i < samples.length; i += 4) {
          const alpha = straight.data[i + 3]! / 255;
          for (let c = 0; c < 3; c++)
            samples[i + c] = Math.round((straight.data[i + c]! / 255) * alpha * max);
          samples[i + 3] = Math.round(alpha * max);
        }
        const raw = Buffer.from(samples.buffer); // 16-bit samples in this machine's order, as ImageMagick reads raw
        const png = temp(
          new Uint8Array(
            execFileSync(
              'convert',
              [
                '-size',
                `${width}x${height}`,
                '-depth',
                String(depth),
                'rgba:-',
                '-define',
                `png:bit-depth=${depth}`,
                '-define',
                'png:color-type=6',
                'png:-',
              ],
              { input: raw, maxBuffer: 64 << 20 },
            ),
          ),
          'png',
        );
        const heic = join(dir, `${files++}.heic`);
        execFileSync(
          'heif-enc',
          ['-q', '100', '-p', 'chroma=444', '--premultiplied-alpha', png, '-o', heic],
          {
            stdio: 'ignore',
          },
        );
        const image = await decode('heic', new Uint8Array(readFileSync(heic)));
        // Where alpha is at least 64 (below it the premultiplied values keep too little of the colour,
        // at 8 bits; HEVC's error is multiplied by up to 4 here): measured mean 1.02 and 0.72, max 12
        // and 10; the premultiplied values as they were stored, mean 32, max 168.
        let sum = 0;
        let count = 0;
        let largest = 0;
        for (let i = 0; i < image.data.length; i += 4) {
          if (straight.data[i + 3]! < 64) continue;
          for (let c = 0; c < 3; c++) {
            const d = Math.abs(image.data[i + c]! - straight.data[i + c]!);
            sum += d;
            largest = Math.max(largest, d);
            count++;
          }
        }
        expect(sum / count, `${depth}-bit`).toBeLessThan(2);
        expect(largest, `${depth}-bit`).toBeLessThanOrEqual(20);
      }
    },
  );
});
