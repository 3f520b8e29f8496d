import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decode, encode, resize } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import type { InputFormat } from '../../../src/core/formats.ts';
import { inspectImage } from '../../../src/image/inspect.ts';
import { probeImage } from '../../../src/image/probe.ts';
import { crop } from '../../../src/image/raw.ts';
import { sniffFormat } from '../../../src/image/sniff.ts';
import { estimateMemory } from '../../../src/pipeline/memory-budget.ts';
import { planSteps } from '../../../src/pipeline/plan.ts';
import { loadShrink, processImage } from '../../../src/pipeline/process-image.ts';
import { buildAvif, buildAvifGrid, findBox, topLevelBox } from '../../support/avif.ts';
import { CARD_QUADRANTS, fixtures, readFixture } from '../../support/fixtures.ts';
import { inFreshProcess } from '../../support/fresh.ts';
import { box, buildHeif, clap, heifParts, ispe } from '../../support/heif.ts';
import { grayProfile, lut8Profile, withIccProfile } from '../../support/icc.ts';
import { indexedPng, chunk as pngChunk, pngRgba16, writePng } from '../../support/png.ts';
import { progressiveJpeg, scanSegments, withRepeatedScan } from '../../support/scans.ts';
import { hasTool, identify, metadataTags } from '../../support/tools.ts';
import { animatedWebp, chunk, riff, vp8l } from '../../support/webp.ts';

const config = parsePipelineConfig({
  variants: [
    { name: 'large', width: 1600 },
    { name: 'medium', width: 800 },
    { name: 'thumb', width: 200, height: 200, fit: 'cover' },
  ],
  formats: { jpeg: {}, webp: {}, avif: { speed: 8 }, png: {} },
});

async function expectQuadrants(bytes: Uint8Array, format: InputFormat): Promise<void> {
  const image = await decode(format, bytes);
  expect([image.width, image.height]).toEqual([96, 64]);
  const at = (x: number, y: number) =>
    Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 3));
  const probes = [at(24, 16), at(72, 16), at(24, 48), at(72, 48)];
  for (const [i, rgb] of probes.entries()) {
    for (const [c, channel] of rgb.entries()) {
      expect(Math.abs(channel! - CARD_QUADRANTS[i]![c]!), `quadrant ${i} channel ${c}`).toBeLessThan(40);
    }
  }
}

describe('processImage', () => {
  const valid = fixtures((f) => f.expect === 'ok' && f.kind !== 'bench');

  it.each(valid.map((f) => [f.path, f]))(
    'turns %s into every variant and format, decodable and sized as planned',
    async (path, fixture) => {
      const result = await processImage(readFixture(path), config);
      const displayW = fixture.displayWidth ?? fixture.width!;
      const displayH = fixture.displayHeight ?? fixture.height!;
      expect(result.outputs).toHaveLength(3 * 4);
      for (const output of result.outputs) {
        const format = sniffFormat(output.bytes);
        expect(format).toBe(output.format);
        const decoded = await decode(format as InputFormat, output.bytes);
        expect([decoded.width, decoded.height]).toEqual([output.width, output.height]);
        if (output.variant === 'thumb') {
          expect([output.width, output.height]).toEqual([
            Math.min(200, displayW, displayH) === 200 ? 200 : output.width,
            output.height,
          ]);
          expect(output.width).toBeLessThanOrEqual(200);
          expect(output.height).toBeLessThanOrEqual(200);
        } else {
          const box = output.variant === 'large' ? 1600 : 800;
          const expectedW = Math.min(box, displayW);
          expect(output.width).toBe(expectedW);
          expect(Math.abs(output.height - (displayH * expectedW) / displayW)).toBeLessThanOrEqual(1);
        }
      }
    },
  );

  // Every orientation fixture of the test card that a viewer displays upright (96x64).
  const cards = fixtures(
    (f) =>
      f.path.startsWith('edge/orientation/') &&
      !f.path.includes('photo-') &&
      (f.displayWidth ?? f.width) === 96,
  );
  it.each(cards.map((f) => [f.path]))('comes out upright from %s', async (path) => {
    const result = await processImage(readFixture(path), config);
    for (const output of result.outputs.filter((o) => o.variant === 'large')) {
      await expectQuadrants(output.bytes, output.format as InputFormat);
    }
  });

  it('covers all eight EXIF orientations in JPEG, and PNG, WebP and AVIF orientation', () => {
    const covered = new Set(cards.map((f) => `${f.format}:${f.orientation ?? 1}`));
    for (let o = 1; o <= 8; o++) expect(covered).toContain(`jpeg:${o}`);
    for (const entry of ['png:6', 'webp:6', 'avif:6', 'avif:7', 'avif:2']) expect(covered).toContain(entry);
  });

  it('leaves an AVIF with only an Exif orientation as stored, as browsers and libheif display it', async () => {
    const result = await processImage(
      readFixture('edge/orientation/avif-exif-only-no-irot-orientation-6.avif'),
      config,
    );
    expect(result.header.orientation).toBe(1);
    expect(result.outputs.map((o) => [o.width, o.height])).toContainEqual([64, 96]);
  });

  it('turns a sideways-stored photo with orientation 6 into a portrait', async () => {
    const result = await processImage(readFixture('edge/orientation/photo-exif-orientation-6.jpg'), config);
    const large = result.outputs.find((o) => o.variant === 'large' && o.format === 'jpeg')!;
    expect([large.width, large.height]).toEqual([320, 480]);
    expect(result.header.orientation).toBe(6);
  });

  it.skipIf(!hasTool('exiftool'))(
    'writes no EXIF, GPS, XMP or comment into outputs of a file that carries all of them',
    async () => {
      const source = readFixture('edge/orientation/exif-orientation-6.jpg');
      expect(metadataTags(source)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^EXIF:/),
          expect.stringMatching(/^GPS:|^EXIF:GPS/),
          expect.stringMatching(/^XMP/),
        ]),
      );
      const result = await processImage(source, config);
      for (const output of result.outputs)
        expect(metadataTags(output.bytes), `${output.variant} ${output.format}`).toEqual([]);
    },
  );

  it.skipIf(!hasTool('identify'))(
    'produces files that ImageMagick reads with the same format and size',
    async () => {
      const result = await processImage(readFixture('photos/landscape-picos-de-europa.jpg'), config);
      // ImageMagick reads AVIF through libheif and names it HEIC.
      const names: Record<string, string[]> = {
        jpeg: ['JPEG'],
        webp: ['WEBP'],
        avif: ['AVIF', 'HEIC'],
        png: ['PNG'],
      };
      for (const output of result.outputs) {
        const seen = identify(output.bytes);
        expect(names[output.format]).toContain(seen.format);
        expect([seen.width, seen.height]).toEqual([output.width, output.height]);
      }
    },
  );

  it('flattens transparency onto the background for JPEG and keeps it elsewhere', async () => {
    const result = await processImage(readFixture('edge/formats/alpha-rgba8.png'), config);
    expect(result.transparent).toBe(true);
    const corner = async (format: 'jpeg' | 'png') => {
      const output = result.outputs.find((o) => o.variant === 'large' && o.format === format)!;
      const image = await decode(format, output.bytes);
      return Array.from(image.data.subarray(0, 4));
    };
    expect(await corner('png')).toEqual([expect.any(Number), expect.any(Number), expect.any(Number), 0]);
    const [r, g, b, a] = await corner('jpeg');
    expect(a).toBe(255);
    for (const channel of [r!, g!, b!]) expect(channel).toBeGreaterThan(245);
  });

  // On green, each variant's JPEG shows the background at its corner, and its PNG keeps alpha 0.
  const onGreen = parsePipelineConfig({
    variants: [{ name: 'full' }, { name: 'half', width: 32 }],
    formats: { jpeg: { quality: 100, chromaSubsampling: '4:4:4' }, png: {} },
    background: '#00ff00',
  });
  async function expectFlattenedOnGreen(bytes: Uint8Array): Promise<void> {
    const result = await processImage(bytes, onGreen);
    expect(result.transparent).toBe(true);
    for (const variant of ['full', 'half']) {
      const jpeg = result.outputs.find((o) => o.variant === variant && o.format === 'jpeg')!;
      const image = await decode('jpeg', jpeg.bytes);
      const [r, g, b] = Array.from(image.data.subarray(0, 3));
      expect(
        [r!, 255 - g!, b!].every((c) => c < 8),
        `${variant} corner ${[r, g, b]}`,
      ).toBe(true);
      const png = result.outputs.find((o) => o.variant === variant && o.format === 'png')!;
      expect((await decode('png', png.bytes)).data[3]).toBe(0);
    }
  }

  it.each([
    [
      'an opaque first frame that leaves part of the canvas uncovered',
      { x: 16, y: 16, width: 32, height: 32 },
      255,
    ],
    ['a first frame with alpha whose VP8X header does not declare it', { width: 64, height: 64 }, 0],
  ])('flattens an animated WebP with %s onto the background for JPEG', async (_, frame, alpha) => {
    // The VP8X flags say animation only, no alpha: the transparency is the canvas's or the frame's.
    await expectFlattenedOnGreen(
      animatedWebp({ width: 64, height: 64 }, frame, chunk('VP8L', vp8l(frame.width, frame.height, alpha))),
    );
  });

  it('flattens a lossless WebP whose pixels have alpha under a header hint that says none', async () => {
    // VP8L's alpha_is_used bit is a hint that must not change decoding (the VP8L specification):
    // the pixels' alpha is decoded whatever it says, so the pixels decide.
    await expectFlattenedOnGreen(riff([chunk('VP8L', vp8l(64, 64, 0, false))]));
    // An opaque one with the same hint stays opaque.
    const opaque = await processImage(riff([chunk('VP8L', vp8l(64, 64, 255, false))]), onGreen);
    expect(opaque.transparent).toBe(false);
  });

  it("counts an animated WebP's first frame, cut out as a still file, and its canvas in the memory estimate", () => {
    const file = animatedWebp(
      { width: 64, height: 64 },
      { width: 32, height: 32 },
      chunk('VP8L', vp8l(32, 32, 255)),
    );
    const header = probeImage('webp', file);
    expect(header.animated).toBe(true);
    const steps = planSteps({ width: 64, height: 64 }, parsePipelineConfig({}).variants);
    const decoded = { width: 64, height: 64 };
    const estimate = (h: typeof header) => estimateMemory(h, decoded, steps, 1, 0, file.length).decode.bytes;
    // The frame's file, and the canvas's RGBA picture, beside a still image of the same layout.
    expect(estimate(header) - estimate({ ...header, animated: false })).toBe(file.length + 64 * 64 * 4);
  });

  it('gives a variant that keeps the size of the source its pixels, beside an enlarged variant', async () => {
    const pixel = (x: number, y: number) => [(x * 37) % 256, (y * 53) % 256, (x * y) % 256, 255];
    const width = 100;
    const height = 80;
    const data = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 4);
    const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });
    const source = await encode('png', { width, height, data }, formatOptions);
    const upscaling = parsePipelineConfig({
      variants: [
        { name: 'big', width: 1000, upscale: true },
        { name: 'kept', width: 400 },
      ],
      formats: { png: {} },
    });
    const result = await processImage(source, upscaling);
    const kept = result.outputs.find((o) => o.variant === 'kept')!;
    expect([kept.width, kept.height]).toEqual([width, height]);
    expect(Buffer.from((await decode('png', kept.bytes)).data).equals(Buffer.from(data))).toBe(true);
  });

  it('encodes identical variants once when the image is smaller than several boxes', async () => {
    const result = await processImage(readFixture('edge/formats/1x1.png'), config);
    const jpegs = result.outputs.filter((o) => o.format === 'jpeg');
    expect(jpegs.map((o) => [o.width, o.height])).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
    expect(jpegs[0]!.bytes).toBe(jpegs[1]!.bytes);
  });

  const invalid = fixtures((f) => f.expect !== 'ok');
  it.each(invalid.map((f) => [f.path, f.expect]))('rejects %s as %s', async (path, reason) => {
    const error = await processImage(readFixture(path), config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidImageError);
    expect((error as InvalidImageError).reason).toBe(reason);
  });

  it('rejects a 52-byte WebP declaring 268 megapixels without allocating its pixels', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const error = await processImage(readFixture('edge/bombs/webp-16384x16384.webp'), config).catch(
      (e: unknown) => e,
    );
    expect((error as InvalidImageError).message).toBe(
      'The webp header declares 16384x16384 = 268435456 pixels, more than maxPixels (50000000)',
    );
    // Decoding would need 1 GiB for the RGBA buffer alone.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('refuses an AVIF whose ispe hides a 49 MP frame without decoding it', async () => {
    // Decoding the 7000x7000 frame takes ~800 MB; set up and refused from the header, far less.
    const { result, peakRssBytes } = await inFreshProcess<{ reason: string; message: string }>(
      {
        processImage: 'src/pipeline/process-image.ts',
        parsePipelineConfig: 'src/config/document.ts',
        readFileSync: 'node:fs',
      },
      `const bytes = readFileSync('fixtures/edge/bombs/avif-7000x7000-ispe-64x64.avif');
       const error = await processImage(bytes, parsePipelineConfig({})).catch((e) => e);
       return { reason: error.reason, message: error.message };`,
    );
    expect(result).toEqual({
      reason: 'corrupt',
      message:
        "The avif file is malformed: item 1's ispe declares 64x64 but its AV1 sequence header declares frames of up to 7000x7000",
    });
    expect(peakRssBytes).toBeLessThan(300 * 1024 * 1024);
  });

  it('decodes the AVIF files the tests build (their structure is what libavif reads)', async () => {
    const file = readFixture('edge/formats/avif-8bit-420.avif');
    const frame = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
    for (const built of [buildAvif(frame), buildAvif({ ...frame, inIdat: true }), buildAvif(frame, frame)]) {
      const image = await decode('avif', built);
      expect([image.width, image.height]).toEqual([480, 325]);
    }
  });

  it('processes an AVIF whose AV1 items lack the pixi property, as libheif reads it', async () => {
    // libheif 1.11 and older wrote no pixi; our libavif decoder, in its strict mode, refuses such a
    // file ("Decoding error"). It is given a copy with the properties added, as the av1C declares them.
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const output = async (bytes: Uint8Array) => {
      const { outputs } = await processImage(bytes, pngOnly);
      expect(outputs).toHaveLength(1);
      return Buffer.from(outputs[0]!.bytes);
    };
    const itemOf = (path: string, width: number, height: number) => {
      const file = readFixture(path);
      return { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width, height };
    };
    const eight = itemOf('edge/formats/avif-8bit-420.avif', 480, 325);
    const ten = itemOf('edge/formats/avif-10bit-444.avif', 192, 128);
    // 125 more properties make the added pixi the 128th: past the 7-bit indices of the ipma box.
    const extra = Array.from({ length: 125 }, () => Uint8Array.of(0, 0, 0, 8, 0x78, 0x74, 0x72, 0x61));
    const cases = {
      '8-bit 4:2:0': [eight],
      '10-bit 4:4:4 (pixi of 10 bits)': [ten],
      'with an alpha item': [eight, eight],
      'whose pixi would be property 128': [{ ...eight, properties: extra }],
      'in idat': [{ ...eight, inIdat: true }],
    } as const;
    for (const [what, [color, alpha]] of Object.entries(cases)) {
      const withPixi = buildAvif(color, alpha);
      const without = buildAvif({ ...color, withoutPixi: true }, alpha && { ...alpha, withoutPixi: true });
      expect(probeImage('avif', withPixi).avifPixiMeta, what).toBeUndefined();
      expect(probeImage('avif', without).avifPixiMeta, what).toBeDefined();
      await expect(decode('avif', without), what).rejects.toThrow(InvalidImageError); // the decoder alone
      const before = Buffer.from(without);
      expect((await output(without)).equals(await output(withPixi)), what).toBe(true);
      expect(before.equals(without), what).toBe(true); // the source is not changed
    }
  });

  it('processes a grid AVIF without pixi on its grid item: libavif checks the grid, not its tiles', async () => {
    // libavif copies the first tile's av1C to the grid item and requires pixi there; the tiles'
    // pixi it never checks, so a copy with pixi on the tiles alone was still refused.
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const file = readFixture('edge/formats/avif-10bit-444.avif');
    const tile = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 192, height: 128 };
    const output = async (bytes: Uint8Array) =>
      Buffer.from((await processImage(bytes, pngOnly)).outputs[0]!.bytes);
    const reference = await output(buildAvifGrid(tile, 2, 1, { grid: true, tiles: true }));
    for (const tiles of [true, false]) {
      const without = buildAvifGrid(tile, 2, 1, { grid: false, tiles });
      await expect(decode('avif', without)).rejects.toThrow(InvalidImageError); // the decoder alone
      const before = Buffer.from(without);
      expect((await output(without)).equals(reference), `pixi on the tiles: ${tiles}`).toBe(true);
      expect(before.equals(without)).toBe(true); // the source is not changed
    }
    // With pixi on the grid item, the file decodes as it is: no copy is made (nor counted).
    expect(
      probeImage('avif', buildAvifGrid(tile, 2, 1, { grid: true, tiles: false })).avifPixiMeta,
    ).toBeUndefined();
  });

  it('refuses an AVIF without pixi whose ipco box leaves no 15-bit index for one, naming the count', async () => {
    // The added property's index spilled into the essential bit of its ipma entry (index 0x8000
    // read as 0 with the bit set); the copy was then refused by the decoder as "Decoding error".
    const file = readFixture('edge/formats/avif-8bit-420.avif');
    const item = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
    const free = Uint8Array.of(0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65);
    // Its ispe and av1C, then the unassociated ones: the pixi is property 32,768, or 32,767.
    const over = buildAvif({ ...item, withoutPixi: true, unassociated: Array(32_765).fill(free) });
    expect(() => probeImage('avif', over)).toThrow(
      'The avif file is malformed: item 1 has no pixi property, which the decoder requires, and the 32767 properties of its ipco box leave none to add: it would be number 32768, past the 32767 an ipma box can name',
    );
    const last = buildAvif({ ...item, withoutPixi: true, unassociated: Array(32_764).fill(free) });
    const meta = probeImage('avif', last).avifPixiMeta!;
    // The new association is the item's third: index 32,767, not essential.
    const ipma = Buffer.from(meta.box).lastIndexOf('ipma');
    expect([...meta.box.subarray(ipma + 14, ipma + 21)]).toEqual([3, 0x00, 1, 0x80, 2, 0x7f, 0xff]);
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const { outputs } = await processImage(last, pngOnly);
    expect([outputs[0]!.width, outputs[0]!.height]).toEqual([480, 325]);
  });

  it('processes an AVIF without pixi followed by bytes too few for a box, as libavif reads it with pixi', async () => {
    // The meta box rebuilt with pixi was appended after them: the decoder read them as the start
    // of a box and refused the copy ("Decoding error").
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const file = readFixture('edge/formats/avif-8bit-420.avif');
    const item = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
    const output = async (bytes: Uint8Array) =>
      Buffer.from((await processImage(bytes, pngOnly)).outputs[0]!.bytes);
    const reference = await output(buildAvif(item));
    for (const trailing of [1, 7]) {
      const without = Buffer.concat([
        buildAvif({ ...item, withoutPixi: true }),
        Buffer.alloc(trailing, 0xab),
      ]);
      expect(probeImage('avif', without).avifPixiMeta?.appendAt).toBe(without.length - trailing);
      const before = Buffer.from(without);
      expect((await output(without)).equals(reference), `${trailing} trailing`).toBe(true);
      expect(before.equals(without)).toBe(true); // the source is not changed
    }
  });

  it('processes an AVIF without pixi whose mdat runs to the end of the file (size 0)', async () => {
    // The meta box rebuilt with pixi is appended after the last byte: inside such an mdat, unless
    // the copy writes its size out. The decoder reads the file with pixi and a size-0 mdat.
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const file = readFixture('edge/formats/avif-8bit-420.avif');
    const item = { data: topLevelBox(file, 'mdat'), av1C: findBox(file, 'av1C'), width: 480, height: 325 };
    const openMdat = (bytes: Uint8Array) => {
      const copy = Uint8Array.from(bytes);
      copy.set([0, 0, 0, 0], Buffer.from(copy).lastIndexOf('mdat') - 4);
      return copy;
    };
    const output = async (bytes: Uint8Array) =>
      Buffer.from((await processImage(bytes, pngOnly)).outputs[0]!.bytes);
    const withPixi = openMdat(buildAvif(item));
    const without = openMdat(buildAvif({ ...item, withoutPixi: true }));
    expect(probeImage('avif', without).avifPixiMeta?.toEnd).toBe(
      Buffer.from(without).lastIndexOf('mdat') - 4,
    );
    const before = Buffer.from(without);
    expect((await output(without)).equals(await output(withPixi))).toBe(true);
    expect(before.equals(without)).toBe(true); // the source is not changed
  });

  it('processes a PNG whose iCCP profile is larger than its decoder takes, as sRGB with a warning', async () => {
    // 9,000,000 bytes inflated (past the png crate's 8,000,000; 9 kB in the file): the crate refuses
    // the whole file, which was quarantined as "`unwrap_throw` failed"; libpng reads the image with
    // a warning.
    const png = Buffer.from(writePng(40, 30, { pixel: (x, y) => [x * 6, y * 8, 90] }));
    const iccp = pngChunk(
      'iCCP',
      Buffer.concat([Buffer.from('big\0\0', 'latin1'), deflateSync(Buffer.alloc(9_000_000))]),
    );
    const bytes = Buffer.concat([png.subarray(0, 33), iccp, png.subarray(33)]);
    await expect(decode('png', bytes)).rejects.toThrow(InvalidImageError); // the decoder alone
    const before = Buffer.from(bytes);
    const result = await processImage(bytes, config);
    expect(result.outputs).toHaveLength(3 * 4);
    expect(result.colour.converted).toBe(false);
    expect(result.colour.warnings).toEqual([
      'The embedded ICC profile (iCCP, 9000000 bytes) is not a valid profile: the image is taken as sRGB',
    ]);
    const pixels = await decode('png', png);
    const output = result.outputs.find((o) => o.variant === 'large' && o.format === 'png')!;
    expect(Buffer.from((await decode('png', output.bytes)).data)).toEqual(Buffer.from(pixels.data));
    expect(Buffer.from(bytes)).toEqual(before); // the source is not changed
  });

  it('processes a PNG with chunks its decoder refuses the file for, as libpng reads it', async () => {
    // The png crate refuses the whole file ("`unwrap_throw` failed") for any chunk before the image
    // over 1 MiB, and for a second iCCP, gAMA, cHRM, sRGB or pHYs, one too short or out of range,
    // or a text chunk it cannot parse; libpng ignores such a chunk with a warning, and so do we: the
    // decoder is given a copy without the chunks it does not need, and the profile is the first
    // iCCP chunk's (sRGB where it is damaged).
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const grey = Buffer.from(writePng(40, 30, { pixel: (x, y) => [x * 3 + y * 2] }));
    const withChunks = (chunks: readonly Uint8Array[]) =>
      Buffer.concat([grey.subarray(0, 33), ...chunks, grey.subarray(33)]);
    const largePng = async (bytes: Uint8Array) => {
      const { outputs } = await processImage(bytes, pngOnly);
      expect(outputs).toHaveLength(1);
      return outputs[0]!.bytes;
    };
    const u32s = (...values: number[]) => Buffer.from(Uint32Array.from(values).buffer).swap32();
    const chrm = u32s(31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000);
    const phys = (unit: number) => Buffer.concat([u32s(2835, 2835), Buffer.of(unit)]);
    const iccp = (data: Uint8Array) => pngChunk('iCCP', Buffer.from(data));
    const named = (rest: Uint8Array, name = 'p', method = 0) =>
      iccp(Buffer.concat([Buffer.from(`${name}\0`, 'latin1'), Buffer.of(method), rest]));
    const first = grayProfile('first');
    const profile = deflateSync(first);
    const cases = {
      'a second iCCP chunk': [named(profile), named(deflateSync(grayProfile('second')))],
      'iCCP compression method 1': [named(profile, 'p', 1)],
      'a damaged iCCP zlib stream': [named(Buffer.from('not a zlib stream'))],
      'a cut iCCP zlib stream': [named(profile.subarray(0, 40))],
      'an empty iCCP name': [named(profile, '')],
      'an iCCP name of 85 bytes': [named(profile, 'n'.repeat(85))],
      'a second gAMA': [pngChunk('gAMA', u32s(45455)), pngChunk('gAMA', u32s(45455))],
      'a gAMA of 2 bytes': [pngChunk('gAMA', Buffer.alloc(2))],
      'a second sRGB': [pngChunk('sRGB', Buffer.of(0)), pngChunk('sRGB', Buffer.of(0))],
      'sRGB intent 7': [pngChunk('sRGB', Buffer.of(7))],
      'a second cHRM': [pngChunk('cHRM', chrm), pngChunk('cHRM', chrm)],
      'a cHRM of 20 bytes': [pngChunk('cHRM', chrm.subarray(0, 20))],
      'a second pHYs': [pngChunk('pHYs', phys(1)), pngChunk('pHYs', phys(1))],
      'pHYs unit 5': [pngChunk('pHYs', phys(5))],
      'a tEXt without its separator': [pngChunk('tEXt', Buffer.from('Comment'))],
      'an iTXt compression flag of 7': [pngChunk('iTXt', Buffer.from('Comment\0\x07\0\0\0text', 'latin1'))],
      'a zTXt compression method of 5': [pngChunk('zTXt', Buffer.from('Comment\0\x05', 'latin1'))],
      // Valid, and only large: an XMP packet (as Photoshop writes with its history), EXIF, a private chunk.
      'an iTXt of 1 MiB + 1': [
        pngChunk(
          'iTXt',
          Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0\0\0\0'), Buffer.alloc(1024 * 1024 - 21, 0x20)]),
        ),
      ],
      'a private chunk of 2 MiB': [pngChunk('prVt', Buffer.alloc(2 * 1024 * 1024, 1))],
    };
    // What each should give: the file with its first profile alone, or with none.
    const withFirst = await largePng(withChunks([named(profile)]));
    const withNone = await largePng(grey);
    expect(Buffer.from(withFirst)).not.toEqual(Buffer.from(withNone)); // the profile converts the pixels
    for (const [what, chunks] of Object.entries(cases)) {
      const bytes = withChunks(chunks);
      await expect(decode('png', bytes), what).rejects.toThrow(InvalidImageError); // the decoder alone
      const before = Buffer.from(bytes);
      const output = await largePng(bytes);
      expect(Buffer.from(output), what).toEqual(
        Buffer.from(what === 'a second iCCP chunk' ? withFirst : withNone),
      );
      expect(before.equals(bytes), what).toBe(true); // the source is not changed (toEqual: seconds on 2 MB)
      const colour = probeImage('png', bytes).colour;
      if (what === 'a second iCCP chunk') {
        expect(Buffer.from(colour.icc!)).toEqual(Buffer.from(first));
        expect(colour.warnings).toContain(
          'The PNG has 2 iCCP chunks, where one is allowed: the first is read and the others ignored, as libpng does',
        );
      } else if (what.includes('iCCP')) {
        expect(colour.icc, what).toBeUndefined();
        expect(colour.warnings.join(), what).toMatch(/iCCP .*the image is taken as sRGB/);
      }
    }
    // The memory estimate counts the copy: the file's bytes once more.
    const plain = inspectImage(grey, config.limits);
    const gamma = withChunks([pngChunk('gAMA', u32s(45455))]);
    expect(plain.pngSkippedChunks).toBeUndefined();
    expect(inspectImage(gamma, config.limits).pngSkippedChunks).toEqual([{ start: 33, end: 33 + 16 }]);
  });

  it('keeps the transparency of a PNG whose tRNS chunk lists more entries than its palette, as Chrome shows it', async () => {
    // A palette of 2 colours with 4 alphas: libpng drops such a tRNS chunk, and so did the png crate
    // (the image came out opaque), while Chrome 156 (its Rust PNG decoder) reads the first 2 alphas
    // and shows the image half and quarter transparent. The decoder is given a copy whose tRNS chunk
    // is cut to the palette's length.
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const bytes = indexedPng([0, 1, 0, 1], {
      palette: [255, 0, 0, 0, 255, 0],
      transparency: [0x80, 0x40, 0x10, 0x20],
    });
    const before = Buffer.from(bytes);
    const { outputs } = await processImage(bytes, pngOnly);
    const image = await decode('png', outputs[0]!.bytes);
    expect(Array.from(image.data)).toEqual([
      255, 0, 0, 0x80, 0, 255, 0, 0x40, 255, 0, 0, 0x80, 0, 255, 0, 0x40,
    ]);
    expect(Buffer.from(bytes).equals(before)).toBe(true); // the source is not changed
    // A tRNS chunk as long as a full palette, or shorter, is the decoder's as it is: no copy.
    for (const transparency of [[9, 9], [9]]) {
      const full = indexedPng([0, 1], { bitDepth: 1, palette: [1, 2, 3, 4, 5, 6], transparency });
      expect(inspectImage(full, config.limits).pngPaletteChunks).toBeUndefined();
    }
  });

  it('shows colour indices past the end of a PNG palette as its last entry, as Chrome shows them', async () => {
    // Chrome 156 pads the palette to the bit depth's 2^n entries with its last entry, colour and alpha
    // (Skia's colour table); the png crate made such pixels opaque black. The decoder is given a copy
    // whose PLTE (and, where the last entry has an alpha, tRNS) chunk is so padded.
    const pngOnly = parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } });
    const rgba = async (bytes: Uint8Array) => {
      const before = Buffer.from(bytes);
      const { outputs } = await processImage(bytes, pngOnly);
      expect(Buffer.from(bytes).equals(before)).toBe(true); // the source is not changed
      return Array.from((await decode('png', outputs[0]!.bytes)).data);
    };
    const rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255];
    const blue = (alpha: number) => [0, 0, 255, alpha];
    // 8-bit, 3 entries, the last with an alpha: indices 3 to 255 are that blue, at that alpha.
    const alphas = await rgba(
      indexedPng([0, 1, 2, 3, 4, 255], { palette: rgb, transparency: [0x80, 0x40, 0x20] }),
    );
    expect(alphas).toEqual([
      255,
      0,
      0,
      0x80,
      0,
      255,
      0,
      0x40,
      ...blue(0x20),
      ...blue(0x20),
      ...blue(0x20),
      ...blue(0x20),
    ]);
    // A tRNS chunk that stops before the last entry: the padded entries are opaque.
    const opaque = await rgba(indexedPng([0, 1, 2, 3, 255], { palette: rgb, transparency: [0x80] }));
    expect(opaque).toEqual([255, 0, 0, 0x80, 0, 255, 0, 255, ...blue(255), ...blue(255), ...blue(255)]);
    // 1-bit with one entry, 2-bit with two and a tRNS chunk longer than the palette (cut, then padded).
    const oneBit = await rgba(indexedPng([0, 1, 0, 1], { bitDepth: 1, palette: [10, 20, 30] }));
    expect(oneBit).toEqual([10, 20, 30, 255, 10, 20, 30, 255, 10, 20, 30, 255, 10, 20, 30, 255]);
    const twoBit = await rgba(
      indexedPng([0, 1, 2, 3], { bitDepth: 2, palette: [10, 20, 30, 40, 50, 60], transparency: [7, 9, 11] }),
    );
    expect(twoBit).toEqual([10, 20, 30, 7, 40, 50, 60, 9, 40, 50, 60, 9, 40, 50, 60, 9]);
    // A palette of the bit depth's full size needs no copy.
    const full = indexedPng([0, 1], { bitDepth: 1, palette: [1, 2, 3, 4, 5, 6] });
    expect(inspectImage(full, config.limits).pngPaletteChunks).toBeUndefined();
  });

  it('decodes a lossy WebP whose ALPH chunk its VP8X header does not flag as opaque, as Chrome shows it', async () => {
    // libwebp's demuxer (Chrome 156's WebP decoder) drops a still image's ALPH chunk when the VP8X
    // alpha flag is missing and shows the file opaque; libwebp's plain decoder, ours, applied it,
    // and the variants were half transparent. A VP8L image's own alpha Chrome keeps: so do we.
    const data = new Uint8ClampedArray(8 * 4 * 4);
    for (let i = 0; i < data.length; i += 4) data.set([255, 0, 0, 128], i);
    const flagged = await encode('webp', { width: 8, height: 4, data }, config.formatOptions);
    expect(String.fromCharCode(...flagged.subarray(30, 34))).toBe('ALPH'); // VP8X, ALPH, VP8
    expect((await decode('webp', flagged)).data[3]).toBe(128);
    const unflagged = Uint8Array.from(flagged);
    unflagged[20]! &= ~0x10; // VP8X flags: alpha
    const before = Buffer.from(unflagged);
    const decoded = await decode('webp', unflagged);
    expect(decoded.data.filter((_, i) => i % 4 === 3).every((alpha) => alpha === 255)).toBe(true);
    expect(Array.from(decoded.data.subarray(0, 3))).toEqual(
      Array.from((await decode('webp', flagged)).data.subarray(0, 3)),
    );
    expect(Buffer.from(unflagged).equals(before)).toBe(true); // the source is not changed
    const { outputs } = await processImage(
      unflagged,
      parsePipelineConfig({ variants: [{ name: 'large', width: 1600 }], formats: { png: {} } }),
    );
    const output = await decode('png', outputs[0]!.bytes);
    expect(output.data.filter((_, i) => i % 4 === 3).every((alpha) => alpha === 255)).toBe(true);
  });

  describe('memory budget', () => {
    const MiB = 1024 * 1024;
    const variants = [
      { name: 'large', width: 1600 },
      { name: 'small', width: 64 },
    ];
    const withMemory = (mb: number) =>
      parsePipelineConfig({ variants, formats: { webp: { effort: 0 } } }, 'config', {
        memory: { mb, source: 'IMGPIPE_MEMORY_MB' },
      });
    /** The budget in MiB at which this image's estimate just fits. */
    const fittingBudget = (bytes: Uint8Array) => {
      const { variants: specs, limits } = withMemory(1);
      const header = inspectImage(bytes, limits);
      const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, specs);
      const decoded = { width: header.width, height: header.height };
      return Math.ceil(estimateMemory(header, decoded, steps, 1).bytes / MiB);
    };

    it('refuses a 16-bit RGBA PNG of 7071x7071 (50 MP) from its header under 512 MiB', async () => {
      const bytes = pngRgba16(7071, 7071, { headerOnly: true });
      const before = process.memoryUsage().arrayBuffers;
      const error = (await processImage(bytes, withMemory(512)).catch(
        (e: unknown) => e,
      )) as InvalidImageError;
      expect(error.reason).toBe('over-memory-budget');
      expect(error.message).toMatch(
        /^The png image of 7071x7071 needs an estimated [\d,]+ MiB of memory, more than the 512 MiB the process has \(IMGPIPE_MEMORY_MB\): \d+ MiB baseline \(encoding in this thread\) \+ the larger of decoding, 50\.0 MP x \d+ bytes\/pixel for png 16-bit RGBA = [\d,]+ MiB, and resizing and encoding the variants, [\d,]+ MiB$/,
      );
      expect(error.details).toMatchObject({ budgetMb: 512, kind: 'png 16-bit RGBA', width: 7071 });
      // Its header only (the data stops after one row): decoding would have called it truncated.
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * MiB);
    });

    it('refuses a progressive CMYK JPEG of 7000x7000 under 512 MiB: its coefficients are held at full size', async () => {
      // Its header and two empty scans: the decoder would call it corrupt, but it never runs.
      const size = [0x1b, 0x58]; // 7000
      const components = [1, 2, 3, 4].flatMap((id) => [id, 0x11, 0]);
      const sof = [0xff, 0xc2, 0, 20, 8, ...size, ...size, 4, ...components];
      const scan = [0xff, 0xda, 0, 14, 4, 1, 0, 2, 0, 3, 0, 4, 0, 0, 0, 0, 0x00];
      const bytes = new Uint8Array([0xff, 0xd8, ...sof, ...scan, ...scan, 0xff, 0xd9]);
      // A 64-wide variant only: decoded at 1/8 (875x875), 361 MiB without the coefficients.
      const config = parsePipelineConfig({ variants: [{ name: 'small', width: 64 }] }, 'config', {
        memory: { mb: 512, source: 'IMGPIPE_MEMORY_MB' },
      });
      const error = (await processImage(bytes, config).catch((e: unknown) => e)) as InvalidImageError;
      expect(error.reason).toBe('over-memory-budget');
      // 875x875 blocks of 64 two-byte coefficients in each of the four components: 374 MiB.
      expect(error.message).toMatch(
        /^The jpeg image of 7000x7000 \(decoded at 875x875\) needs an estimated [\d,]+ MiB .* for jpeg 8-bit \+ 374 MiB of DCT coefficients held at full size for its 2 scans = [\d,]+ MiB, /,
      );
      expect(error.details).toMatchObject({ coefficientBytes: 875 * 875 * 4 * 128 });
    });

    it('refuses a progressive CMYK JPEG of 7000x7000 and one scan under 512 MiB: libjpeg holds its coefficients too', async () => {
      // One DC scan is a whole progressive JPEG (its AC coefficients are zero), a few hundred
      // kilobytes at 7000x7000; libjpeg decodes every progressive frame through whole-image
      // coefficient buffers. Counted as sequential, it passed at 361 MiB and then took 374 more.
      const size = [0x1b, 0x58]; // 7000
      const components = [1, 2, 3, 4].flatMap((id) => [id, 0x11, 0]);
      const sof = [0xff, 0xc2, 0, 20, 8, ...size, ...size, 4, ...components];
      const scan = [0xff, 0xda, 0, 14, 4, 1, 0, 2, 0, 3, 0, 4, 0, 0, 0, 0, 0x00];
      const bytes = new Uint8Array([0xff, 0xd8, ...sof, ...scan, 0xff, 0xd9]);
      expect(probeImage('jpeg', bytes).layout).toMatchObject({ scans: 1, coefficientsHeld: true });
      const config = parsePipelineConfig({ variants: [{ name: 'small', width: 64 }] }, 'config', {
        memory: { mb: 512, source: 'IMGPIPE_MEMORY_MB' },
      });
      const error = (await processImage(bytes, config).catch((e: unknown) => e)) as InvalidImageError;
      expect(error.reason).toBe('over-memory-budget');
      expect(error.message).toMatch(
        /^The jpeg image of 7000x7000 \(decoded at 875x875\) needs an estimated [\d,]+ MiB .* for jpeg 8-bit \+ 374 MiB of DCT coefficients held at full size for its one scan \(progressive, or not of every component\) = [\d,]+ MiB, /,
      );
    });

    describe('an embedded ICC profile', () => {
      // A 64x64 PNG of 81 KB whose iCCP chunk inflates to a 16.4 MB profile (a lut8 table Little CMS
      // widens to 16 bits and copies): its pixels cost nothing, the profile 235 MB. Uncounted, the
      // estimate let it through at 358 MiB under 512.
      const icc = lut8Profile(176);
      const png = Buffer.from(writePng(64, 64, { rgba: true, pixel: (x, y) => [x * 4, y * 4, 90, 255] }));
      const iccp = pngChunk('iCCP', Buffer.concat([Buffer.from('lut8\0\0', 'latin1'), deflateSync(icc)]));
      const bytes = Buffer.concat([png.subarray(0, 33), iccp, png.subarray(33)]);

      it('refuses the image under 512 MiB, naming the profile and its size', async () => {
        expect(bytes.length).toBeLessThan(100_000);
        const error = (await processImage(bytes, withMemory(512)).catch(
          (e: unknown) => e,
        )) as InvalidImageError;
        expect(error.reason).toBe('over-memory-budget');
        const mib = Math.ceil((icc.length * 18) / MiB);
        expect(error.message).toMatch(
          /^The png image of 64x64 needs an estimated [\d,]+ MiB of memory, more than the 512 MiB /,
        );
        expect(error.message).toContain(
          `; + ${mib} MiB for Little CMS to read the embedded ICC profile (iCCP, ${icc.length.toLocaleString('en-US')} bytes x 18)`,
        );
        expect(error.details).toMatchObject({ profileBytes: icc.length * 18 });
      });

      it('takes what reading and applying it costs in a fresh process, which is at most that figure', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'imgpipe-icc-'));
        const files = { withProfile: join(dir, 'lut8.png'), plain: join(dir, 'plain.png') };
        writeFileSync(files.withProfile, bytes);
        writeFileSync(files.plain, png);
        const { result } = await inFreshProcess<{ grown: number; converted: boolean; profileBytes: number }>(
          {
            processImage: 'src/pipeline/process-image.ts',
            parsePipelineConfig: 'src/config/document.ts',
            inspectImage: 'src/image/inspect.ts',
            estimateMemory: 'src/pipeline/memory-budget.ts',
            readFileSync: 'node:fs',
          },
          `const config = parsePipelineConfig({ variants: [{ name: 'small', width: 64 }], formats: { webp: {} } });
           const bytes = readFileSync(${JSON.stringify(files.withProfile)});
           const plain = readFileSync(${JSON.stringify(files.plain)});
           await processImage(plain, config); // the codecs loaded and warm
           const peak = () => process.resourceUsage().maxRSS * 1024;
           const before = Math.max(peak(), process.memoryUsage().rss);
           const result = await processImage(bytes, config);
           const header = inspectImage(bytes, config.limits);
           const { profileBytes } = estimateMemory(header, { width: 64, height: 64 }, [], 1);
           return { grown: peak() - before, converted: result.colour.converted, profileBytes };`,
        );
        expect(result.converted).toBe(true);
        // Counted at 18 bytes a byte (codecs/memory.ts); 14.3-15.2 measured.
        expect(result.profileBytes).toBe(icc.length * 18);
        expect(result.grown).toBeLessThanOrEqual(result.profileBytes);
        expect(result.grown).toBeGreaterThan(icc.length * 4);
        rmSync(dir, { recursive: true });
      }, 60_000);
    });

    it('a progressive JPEG of its first scan alone holds its coefficients and decodes; a sequential one of one scan holds none', async () => {
      const photo = readFixture('edge/formats/progressive.jpg');
      const dcOnly = (() => {
        const [first] = scanSegments(photo);
        return Buffer.concat([photo.subarray(0, first!.end), Buffer.from([0xff, 0xd9])]);
      })();
      expect(probeImage('jpeg', dcOnly).layout).toMatchObject({ scans: 1, coefficientsHeld: true });
      // It decodes (its AC coefficients are zero), through the same buffers.
      const result = await processImage(
        dcOnly,
        parsePipelineConfig({ variants: [{ name: 's', width: 64 }] }),
      );
      expect(result.outputs.length).toBeGreaterThan(0);
      const sequential = readFixture('edge/formats/chroma-444.jpg');
      expect(probeImage('jpeg', sequential).layout).toMatchObject({ scans: 1, coefficientsHeld: false });
    });

    it.each([
      [
        'a 16-bit RGBA PNG',
        () => pngRgba16(400, 300, { pixel: (x, y) => [x * 160, y * 200, 30000, 65535 - x * 100] }),
      ],
      ['a 10-bit 4:4:4 AVIF', () => readFixture('edge/formats/avif-10bit-444.avif')],
      ['an 8-bit 4:2:0 AVIF', () => readFixture('edge/formats/avif-8bit-420.avif')],
      ['an 8-bit HEIC', () => readFixture('edge/formats/heic.heic')],
      ['a 10-bit HEIC', () => readFixture('edge/formats/heic-10bit.heic')],
      ['a grid HEIC with irot', () => readFixture('edge/orientation/heic-grid-irot3-orientation-6.heic')],
      ['an animated GIF', () => readFixture('edge/animated/card-3-frames.gif')],
      ['a CMYK JPEG with its profile', () => readFixture('edge/colour/cmyk-fogra29-profile.jpg')],
    ])(
      'refuses %s under a budget just below its estimate and processes it at its estimate',
      async (_, make) => {
        const bytes = make();
        const budget = fittingBudget(bytes);
        const error = (await processImage(bytes, withMemory(budget - 1)).catch(
          (e: unknown) => e,
        )) as InvalidImageError;
        expect(error.reason).toBe('over-memory-budget');
        expect(error.message).toContain(
          `, more than the ${budget - 1} MiB the process has (IMGPIPE_MEMORY_MB)`,
        );
        expect(error.message).toMatch(new RegExp(`needs an estimated ${budget.toLocaleString('en-US')} MiB`));
        const result = await processImage(bytes, withMemory(budget));
        expect(result.outputs.map((o) => o.variant)).toEqual(['large', 'small']);
      },
    );
  });

  it('refuses a progressive JPEG with its last scan repeated 3000 times before decoding it', async () => {
    // The hostile-input test's CPU bomb, small: 1000x750 and 18 MB, whose decode takes seconds
    // (3000 more passes over the image) where the original takes a tenth of one.
    const jpeg = await progressiveJpeg('photos/landscape-picos-de-europa.jpg', 1000, 750);
    const bomb = withRepeatedScan(jpeg, -1, 3000);
    expect(scanSegments(bomb).length).toBeGreaterThan(3000);
    // The probe refuses it: inspectImage runs before any decoder is called.
    expect(() => inspectImage(bomb, config.limits)).toThrow(
      expect.objectContaining({ reason: 'too-many-scans' }),
    );
    const error = await processImage(bomb, config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidImageError);
    expect(error).toMatchObject({ reason: 'too-many-scans', details: { maxScans: 100 } });
    // The same image with its scans as MozJPEG wrote them is processed.
    expect((await processImage(jpeg, config)).outputs).toHaveLength(3 * 4);
  });

  it('names the decoder message when the scan data is corrupt', async () => {
    const error = (await processImage(readFixture('edge/broken/corrupt-entropy.jpg'), config).catch(
      (e: unknown) => e,
    )) as InvalidImageError;
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The jpeg decoder found damaged image data: Corrupt JPEG data: bad Huffman code',
    );
  });

  describe('shrink-on-load', () => {
    const shrinkFor = (path: string, variants: unknown[]) => {
      const { limits, variants: specs } = parsePipelineConfig({ variants });
      const header = inspectImage(readFixture(path), limits);
      return loadShrink(
        header,
        planSteps({ width: header.displayWidth, height: header.displayHeight }, specs),
      );
    };

    it('decodes a JPEG at the largest power of two every step from the source would box-shrink anyway', () => {
      const j1 = 'bench/seeding-5312x2988.jpg';
      expect(
        shrinkFor(j1, [
          { name: 'l', width: 1600 },
          { name: 'm', width: 800 },
        ]),
      ).toBe(2);
      // The integer box shrink is round(ratio / 2) (image/shrink.ts): 6.6x gives 3, so 2 here.
      expect(shrinkFor(j1, [{ name: 'm', width: 800 }])).toBe(2);
      expect(shrinkFor(j1, [{ name: 'm', width: 640 }])).toBe(4);
      expect(shrinkFor(j1, [{ name: 's', width: 320 }])).toBe(8);
      // A step near full size reads the source too: no shrink for anyone.
      expect(
        shrinkFor(j1, [
          { name: 'xl', width: 4000 },
          { name: 's', width: 320 },
        ]),
      ).toBe(1);
      // Cover crops: the factor is taken on the cropped region's tighter axis.
      expect(shrinkFor(j1, [{ name: 'sq', width: 600, height: 600, fit: 'cover' }])).toBe(2);
      expect(shrinkFor(j1, [{ name: 'sq', width: 1000, height: 1000, fit: 'cover' }])).toBe(1);
      // Only JPEG decodes smaller.
      expect(shrinkFor('edge/formats/lossy.webp', [{ name: 's', width: 100 }])).toBe(1);
    });

    it('crops the same region of a photo decoded at half size as of the full decode', async () => {
      const path = 'photos/colour-fig-red-bowl.jpg'; // 1600x1082
      const variants = [{ name: 'square', width: 300, height: 300, fit: 'cover' }];
      expect(shrinkFor(path, variants)).toBe(2);
      const config = parsePipelineConfig({ variants, formats: { png: {} } });
      const out = await decode('png', (await processImage(readFixture(path), config)).outputs[0]!.bytes);
      // Reference: full decode, the centred 1082x1082 square, one lanczos pass.
      const full = await decode('jpeg', readFixture(path));
      const square = crop(full, (1600 - 1082) >> 1, 0, 1082, 1082);
      const reference = await resize(square, 300, 300, {
        method: 'lanczos3',
        linearRGB: false,
        premultiply: false,
      });
      let sum = 0;
      for (let i = 0; i < out.data.length; i++) sum += Math.abs(out.data[i]! - reference.data[i]!);
      expect(sum / out.data.length).toBeLessThan(3);
    });

    it.each(cards.filter((f) => f.format === 'jpeg').map((f) => [f.path]))(
      'keeps %s upright and centred when decoded at half size',
      async (path) => {
        const variants = [
          { name: 'small', width: 24 },
          { name: 'square', width: 16, height: 16, fit: 'cover' },
        ];
        expect(shrinkFor(path, variants)).toBe(2);
        const config = parsePipelineConfig({ variants, formats: { png: {} } });
        const outputs = (await processImage(readFixture(path), config)).outputs;
        // The cover square is the middle 64x64 of the 96x64 card: still one quadrant per corner.
        for (const [variant, width, height] of [
          ['small', 24, 16],
          ['square', 16, 16],
        ] as const) {
          const image = await decode('png', outputs.find((o) => o.variant === variant)!.bytes);
          expect([image.width, image.height]).toEqual([width, height]);
          const at = (x: number, y: number) =>
            Array.from(image.data.subarray((y * width + x) * 4, (y * width + x) * 4 + 3));
          const corners = [at(2, 2), at(width - 3, 2), at(2, height - 3), at(width - 3, height - 3)];
          for (const [i, rgb] of corners.entries())
            for (const [c, channel] of rgb.entries())
              expect(
                Math.abs(channel! - CARD_QUADRANTS[i]![c]!),
                `${variant} quadrant ${i} channel ${c}`,
              ).toBeLessThan(40);
        }
      },
    );
  });

  it('keeps the colour of invisible pixels out of a shrunk transparent edge', async () => {
    // 64x64: 33 columns of opaque blue, then fully transparent red; reduced 4x (box 2, lanczos 2).
    // The edge falls inside a 2x2 block, which a plain mean would make half-transparent purple.
    const pixels = new Uint8ClampedArray(64 * 64 * 4);
    for (let i = 0; i < 64 * 64; i++) pixels.set(i % 64 < 33 ? [0, 0, 255, 255] : [255, 0, 0, 0], i * 4);
    const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });
    const { encode } = await import('../../../src/codecs/index.ts');
    const source = await encode('png', { width: 64, height: 64, data: pixels }, formatOptions);
    const config = parsePipelineConfig({ variants: [{ name: 's', width: 16 }], formats: { png: {} } });
    const out = await decode('png', (await processImage(source, config)).outputs[0]!.bytes);
    expect([out.width, out.height]).toEqual([16, 16]);
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        const [r, , b, a] = out.data.subarray((y * 16 + x) * 4, (y * 16 + x) * 4 + 4);
        if (a! > 8) expect([r, b], `pixel ${x},${y} alpha ${a}`).toEqual([0, 255]);
      }
  });

  it('writes no colour under fully transparent pixels: a picture erased to transparency stays erased', async () => {
    // 48x48 of a picture (a red-green gradient), erased to transparency but for an opaque 16x16
    // square in the middle: the colours stay under alpha 0, as an editor that erases leaves them.
    const size = 48;
    const picture = (cleared: boolean) => {
      const pixels = new Uint8ClampedArray(size * size * 4);
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const opaque = x >= 16 && x < 32 && y >= 16 && y < 32;
          const colour = opaque || !cleared ? [200 + (x % 56), 5 * y, 40] : [0, 0, 0];
          pixels.set([...colour, opaque ? 255 : 0], (y * size + x) * 4);
        }
      const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });
      return encode('png', { width: size, height: size, data: pixels }, formatOptions);
    };
    const config = parsePipelineConfig({
      // The image itself and a crop of it (neither resampled), and a reduction.
      variants: [
        { name: 'same', width: 100 },
        { name: 'crop', width: 40, height: 48, fit: 'cover' },
        { name: 'half', width: 24 },
      ],
      formats: { png: {}, webp: {}, avif: { speed: 9 } },
    });
    const erased = await processImage(await picture(false), config);
    const clean = await processImage(await picture(true), config);
    expect(erased.outputs).toHaveLength(9);
    for (const [i, output] of erased.outputs.entries()) {
      const name = `${output.variant} ${output.format}`;
      // Before, the same-size and cropped outputs held the erased picture: exactly in PNG, lossily
      // in AVIF (its lossy alpha let it show faintly), and in WebP as blocks of its colours.
      expect(Buffer.from(output.bytes).equals(Buffer.from(clean.outputs[i]!.bytes)), name).toBe(true);
      if (output.format !== 'png') continue;
      const image = await decode('png', output.bytes);
      let most = 0;
      for (let p = 0; p < image.data.length; p += 4)
        if (image.data[p + 3] === 0)
          most = Math.max(most, image.data[p]!, image.data[p + 1]!, image.data[p + 2]!);
      expect(most, `${name}: the colour under alpha 0`).toBe(0);
    }
  });

  it('records per-stage timings', async () => {
    const { timings } = await processImage(readFixture('photos/colour-fig-red-bowl.jpg'), config);
    expect(timings.probe).toBeGreaterThanOrEqual(0);
    for (const stage of ['decode', 'resize', 'encode', 'total'] as const)
      expect(timings[stage]).toBeGreaterThan(0);
    expect(timings.total).toBeGreaterThanOrEqual(timings.decode + timings.resize);
  });
});

describe('processImage: a HEIF clean aperture (clap) is the picture', () => {
  // One PNG variant wider than the source, so the output is the picture's pixels, unresampled.
  const whole = parsePipelineConfig({ variants: [{ name: 'whole', width: 1000 }], formats: { png: {} } });
  const avif = readFixture('edge/formats/avif-8bit-420.avif'); // 480x325, a photograph
  const avifWith = (...properties: Uint8Array[]) =>
    buildAvif({
      data: topLevelBox(avif, 'mdat'),
      av1C: findBox(avif, 'av1C'),
      width: 480,
      height: 325,
      properties,
    });
  const heic = heifParts(readFixture('edge/formats/heic.heic')); // 320x216
  const heicWith = (...properties: Uint8Array[]) =>
    buildHeif({
      items: [{ id: 1, type: 'hvc1', data: heic.data }],
      primary: 1,
      properties: [heic.hvcC, ispe(320, 216), ...properties],
      associations: [[1, [1, 2, ...properties.map((_, i) => 3 + i)]]],
    });
  const output = async (bytes: Uint8Array) => {
    const result = await processImage(bytes, whole);
    return decode('png', result.outputs[0]!.bytes);
  };
  const rect = { left: 100, top: 50, width: 200, height: 150 };
  const pixels = (image: { width: number; height: number; data: Uint8ClampedArray }) => [
    image.width,
    image.height,
    Buffer.from(image.data).toString('base64'),
  ];

  it.each([
    ['AVIF', avifWith, 480, 325],
    ['HEIC', heicWith, 320, 216],
  ] as const)('outputs the rectangle a %s clap keeps, not the whole coded image', async (_, build, w, h) => {
    const full = await output(build());
    expect([full.width, full.height]).toEqual([w, h]);
    const file = build(clap(rect, w, h));
    const before = Buffer.from(file);
    const kept = await output(file);
    expect(pixels(kept)).toEqual(pixels(crop(full, rect.left, rect.top, rect.width, rect.height)));
    expect(Buffer.from(file).equals(before)).toBe(true); // libheif is given a copy without the box
  });

  it('outputs the rectangle of an AVIF clap that libavif refuses in its strict mode and libheif rounds', async () => {
    // Odd offsets, or odd sizes, in a 4:2:0 image.
    const full = await output(avifWith());
    for (const kept of [
      { left: 101, top: 51, width: 201, height: 151 },
      { left: 100, top: 50, width: 201, height: 151 },
    ]) {
      const rect = kept;
      const file = avifWith(clap(rect, 480, 325));
      await expect(decode('avif', file)).rejects.toThrow(InvalidImageError); // the decoder alone
      const before = Buffer.from(file);
      expect(pixels(await output(file))).toEqual(
        pixels(crop(full, kept.left, kept.top, kept.width, kept.height)),
      );
      expect(Buffer.from(file).equals(before)).toBe(true);
      // Without pixi as well: the rebuilt meta box has its clap renamed too.
      const bare = buildAvif({
        data: topLevelBox(avif, 'mdat'),
        av1C: findBox(avif, 'av1C'),
        width: 480,
        height: 325,
        withoutPixi: true,
        properties: [clap(rect, 480, 325)],
      });
      expect(pixels(await output(bare))).toEqual(
        pixels(crop(full, kept.left, kept.top, kept.width, kept.height)),
      );
    }
  });

  it('outputs the rectangle of an AVIF clap marked essential, as libavif writes it, with and without pixi', async () => {
    // libavif marks clap essential; the decoder's copy renames the box free, an unknown property,
    // and libavif refuses an item with an unknown essential one ("Decoding error"): the copy's ipma
    // says the association is not essential. The decoder alone read the file, and crops nothing.
    const full = await output(avifWith());
    const item = {
      data: topLevelBox(avif, 'mdat'),
      av1C: findBox(avif, 'av1C'),
      width: 480,
      height: 325,
      properties: [clap(rect, 480, 325)],
      essentialProperties: true,
    };
    const marked = buildAvif(item);
    expect([(await decode('avif', marked)).width, (await decode('avif', marked)).height]).toEqual([480, 325]);
    for (const file of [marked, buildAvif({ ...item, withoutPixi: true })]) {
      const before = Buffer.from(file);
      expect(pixels(await output(file))).toEqual(
        pixels(crop(full, rect.left, rect.top, rect.width, rect.height)),
      );
      expect(Buffer.from(file).equals(before)).toBe(true); // the source is not changed
    }
  });

  it('rebuilds the meta box of an AVIF without pixi whose clap box is long (3 MB of padding)', async () => {
    // The rebuilt meta box's clap, renamed free, was copied through a spread of its bytes as
    // arguments: past V8's limit the probe threw "RangeError: Maximum call stack size exceeded".
    const fields = clap(rect, 480, 325).subarray(8);
    const file = buildAvif({
      data: topLevelBox(avif, 'mdat'),
      av1C: findBox(avif, 'av1C'),
      width: 480,
      height: 325,
      withoutPixi: true,
      properties: [box('clap', fields, new Uint8Array(3_000_000))],
    });
    const full = await output(avifWith());
    expect(pixels(await output(file))).toEqual(
      pixels(crop(full, rect.left, rect.top, rect.width, rect.height)),
    );
  });

  it('crops before it turns: a clap with irot 1 (a quarter turn anticlockwise)', async () => {
    const irot = box('irot', Uint8Array.of(1));
    const turned = await output(avifWith(irot));
    expect([turned.width, turned.height]).toEqual([325, 480]);
    // Stored (x, y) is shown at (y, 479 - x): the kept rectangle at (top, 480 - left - width).
    const kept = await output(avifWith(clap(rect, 480, 325), irot));
    expect(pixels(kept)).toEqual(
      pixels(crop(turned, rect.top, 480 - rect.left - rect.width, rect.height, rect.width)),
    );
  });

  it("counts a HEIC's copy without its clap box in the memory estimate", () => {
    const file = heicWith(clap(rect, 320, 216));
    const header = probeImage('heic', file);
    const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, whole.variants);
    const decoded = { width: 320, height: 216 };
    // Held while the file decodes: the decode's share of the estimate.
    const estimate = (h: typeof header) => estimateMemory(h, decoded, steps, 1, 0, file.length).decode.bytes;
    expect(estimate(header) - estimate({ ...header, clapOffset: undefined })).toBe(file.length);
  });

  it('counts the copy of the rectangle in the memory estimate', () => {
    const header = probeImage('avif', avifWith(clap(rect, 480, 325)));
    const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, whole.variants);
    const uncropped = { ...header, crop: undefined }; // the same sizes, as if its region spanned the image
    const decoded = { width: 480, height: 325 };
    const withCrop = estimateMemory(header, decoded, steps, 1).bytes;
    expect(withCrop - estimateMemory(uncropped, decoded, steps, 1).bytes).toBeGreaterThanOrEqual(
      rect.width * rect.height * 4,
    );
  });
});

describe('processImage: a colour profile of another colour space than the pixels', () => {
  const config = parsePipelineConfig({ variants: [{ name: 'small', width: 96 }], formats: { png: {} } });
  const card = readFixture('edge/orientation/exif-orientation-1.jpg'); // RGB, red top-left
  const gray = readFixture('edge/formats/grayscale.jpg'); // one component

  it('ignores a grey profile on an RGB image, with a warning, instead of turning it grey', async () => {
    const result = await processImage(withIccProfile(card, grayProfile()), config);
    expect(result.colour).toEqual({
      profile: 'Test grey, gamma 2.2',
      source: 'APP2',
      converted: false,
      warnings: ["The embedded ICC profile describes GRAY, not the image's RGB; it was ignored"],
    });
    const out = await decode('png', result.outputs[0]!.bytes);
    const [r, g, b] = out.data.subarray(0, 3);
    expect(r).toBeGreaterThan(240);
    expect(Math.max(g!, b!)).toBeLessThan(16);
  });

  it('ignores an RGB profile on a grey image, and converts a grey one', async () => {
    const p3 = probeImage('jpeg', readFixture('edge/colour/p3-card.jpg')).colour.icc!;
    const rgb = await processImage(withIccProfile(gray, p3), config);
    expect(rgb.colour.converted).toBe(false);
    expect(rgb.colour.warnings).toEqual([
      "The embedded ICC profile describes RGB, not the image's GRAY; it was ignored",
    ]);
    const grey = await processImage(withIccProfile(gray, grayProfile()), config);
    expect(grey.colour).toMatchObject({ converted: true, warnings: [] });
  });
  // Little CMS's optimised 8-bit transform from a grey profile interpolates between a few samples of
  // its curves: from a linear grey, 1 came out as 6 (the profile says 13) and 4 as 25 (34), up to
  // 8 off ImageMagick's conversion with the same Little CMS, all in the darkest shades.
  it('converts grey through a linear (gamma 1.0) profile as the profile says, in the darkest shades too', async () => {
    const ramp = writePng(256, 1, { pixel: (x) => [x] });
    const profile = Buffer.concat([
      Buffer.from('Linear grey\0\0', 'latin1'),
      deflateSync(grayProfile('Linear grey', 1)),
    ]);
    const png = Buffer.concat([ramp.subarray(0, 33), pngChunk('iCCP', profile), ramp.subarray(33)]);
    const full = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { png: {} } });
    const result = await processImage(png, full);
    expect(result.colour).toMatchObject({ profile: 'Linear grey', converted: true, warnings: [] });
    const out = await decode('png', result.outputs[0]!.bytes);
    // Linear light v / 255, written with sRGB's transfer curve (IEC 61966-2-1).
    const srgb = (linear: number) =>
      linear <= 0.0031308 ? 12.92 * linear : 1.055 * linear ** (1 / 2.4) - 0.055;
    const off: number[][] = [];
    for (let v = 0; v < 256; v++) {
      const expected = Math.round(255 * srgb(v / 255));
      const [r, g, b, a] = out.data.subarray(v * 4, v * 4 + 4);
      if ([r, g, b].some((c) => Math.abs(c! - expected) > 1) || a !== 255)
        off.push([v, expected, r!, g!, b!, a!]);
    }
    expect(off).toEqual([]);
  });
});
