import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import type { RawImage } from '../../../src/image/raw.ts';
import {
  applyWatermark,
  keptMarkBytes,
  MARK_BYTES_KEPT,
  processImage,
} from '../../../src/pipeline/process-image.ts';
import { chunk as pngChunk } from '../../support/png.ts';

const folder = mkdtempSync(join(tmpdir(), 'imgpipe-watermark-'));
const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });

function solid(width: number, height: number, rgba: readonly number[]): RawImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set(rgba, i * 4);
  return { width, height, data };
}

async function pngFile(name: string, image: RawImage): Promise<string> {
  const path = join(folder, name);
  writeFileSync(path, await encode('png', image, formatOptions));
  return path;
}

const px = (image: RawImage, x: number, y: number) =>
  Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 4));

/** The bounding box of the pixels that are not black. */
function markBox(image: RawImage): { left: number; top: number; right: number; bottom: number } {
  let [left, top, right, bottom] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const [r, g, b] = px(image, x, y);
      if (r! + g! + b! === 0) continue;
      left = Math.min(left, x);
      top = Math.min(top, y);
      right = Math.max(right, x + 1);
      bottom = Math.max(bottom, y + 1);
    }
  }
  return { left, top, right, bottom };
}

describe('watermark configuration', () => {
  it('reads the PNG, applies the defaults and hashes its bytes', async () => {
    const image = await pngFile('white.png', solid(10, 10, [255, 255, 255, 255]));
    const config = parsePipelineConfig({ watermark: { image } });
    expect(config.watermark).toMatchObject({
      image,
      position: 'bottom-right',
      margin: 0.02,
      size: 0.2,
      opacity: 1,
      minWidth: 0,
    });
    expect(config.watermark!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.isFrozen(config.watermark)).toBe(true);
  });

  it('changes the configuration hash when a setting or the image bytes change, not when nothing does', async () => {
    const none = parsePipelineConfig({}).hash;
    const path = join(folder, 'changing.png');
    writeFileSync(path, await encode('png', solid(4, 4, [255, 255, 255, 255]), formatOptions));
    const first = parsePipelineConfig({ watermark: { image: path } }).hash;
    expect(parsePipelineConfig({ watermark: { image: path } }).hash).toBe(first);
    expect(first).not.toBe(none);
    expect(parsePipelineConfig({ watermark: { image: path, opacity: 0.5 } }).hash).not.toBe(first);
    expect(parsePipelineConfig({ watermark: { image: path, position: 'center' } }).hash).not.toBe(first);
    writeFileSync(path, await encode('png', solid(4, 4, [255, 0, 0, 255]), formatOptions));
    expect(parsePipelineConfig({ watermark: { image: path } }).hash).not.toBe(first);
    // Absent or null: the hash of a configuration without watermarks, as before they existed.
    expect(parsePipelineConfig({ watermark: null }).hash).toBe(none);
  });

  it('refuses bad settings, naming the setting and the value', async () => {
    const image = await pngFile('ok.png', solid(2, 2, [0, 0, 0, 255]));
    const text = join(folder, 'not.png');
    writeFileSync(text, 'hello');
    // The header of a 20000x100 PNG: refused by its IHDR, before any decode.
    const huge = join(folder, 'huge.png');
    const ihdr = Buffer.alloc(25);
    ihdr.writeUInt32BE(13, 0);
    ihdr.write('IHDR', 4, 'latin1');
    ihdr.writeUInt32BE(20000, 8);
    ihdr.writeUInt32BE(100, 12);
    ihdr.set([8, 6, 0, 0, 0], 16);
    writeFileSync(huge, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr]));
    const cases: [unknown, RegExp][] = [
      ['logo.png', /Expected an object like .* for watermark but received "logo.png"/],
      [{}, /Expected the path of a PNG file for watermark.image but received nothing/],
      [
        { image: join(folder, 'missing.png') },
        /Expected a readable PNG file for watermark.image .*missing.png.*ENOENT/,
      ],
      [{ image: text }, /Expected a PNG file for watermark.image .*not.png.*PNG signature/],
      [
        { image: huge },
        /Expected a PNG of at most 4096x4096 pixels for watermark.image .*huge.png.*it is 20000x100: the mark is decoded whole/,
      ],
      [
        { image, position: 'middle' },
        /Expected one of bottom-right, .* for watermark.position but received "middle"/,
      ],
      [{ image, opacity: 1.5 }, /Expected a number between 0 and 1 for watermark.opacity but received 1.5/],
      [{ image, size: 0 }, /Expected a number between 0.01 and 1 for watermark.size but received 0/],
      [{ image, margin: '2%' }, /Expected a number between 0 and 0.5 for watermark.margin but received "2%"/],
      [
        { image, minWidth: 10.5 },
        /Expected integer between 0 and 16384 for watermark.minWidth but received 10.5/,
      ],
      [{ image, opactiy: 1 }, /watermark.opactiy.*opacity/],
    ];
    for (const [watermark, message] of cases) {
      expect(() => parsePipelineConfig({ watermark }, 'doc.json'), JSON.stringify(watermark)).toThrow(
        message,
      );
      expect(() => parsePipelineConfig({ watermark }, 'doc.json')).toThrow(ConfigError);
    }
  });
});

describe('processImage with a watermark', () => {
  it('composites the mark over each variant at its place, after resizing, skipping those below minWidth', async () => {
    const source = await encode('png', solid(400, 200, [0, 0, 0, 255]), formatOptions);
    const image = await pngFile('mark.png', solid(10, 10, [255, 255, 255, 255]));
    const config = parsePipelineConfig({
      variants: [
        { name: 'large', width: 200 },
        { name: 'medium', width: 100 },
        { name: 'small', width: 40 },
      ],
      formats: { png: {}, jpeg: {} },
      watermark: { image, position: 'bottom-right', margin: 0.1, size: 0.1, minWidth: 100 },
    });
    const result = await processImage(source, config);
    const outputs = Object.fromEntries(
      await Promise.all(
        result.outputs.map(async (o) => [
          `${o.variant}.${o.format}`,
          await decode(o.format as 'png', o.bytes),
        ]),
      ),
    );
    // 200x100: margin 10 px, mark 20x20 -> [170, 190) x [70, 90); 100x50: margin 5, mark 10x10.
    const large = outputs['large.png']!;
    expect(markBox(large)).toEqual({ left: 170, top: 70, right: 190, bottom: 90 });
    expect(px(large, 170, 70)).toEqual([255, 255, 255, 255]);
    expect(px(large, 189, 89)).toEqual([255, 255, 255, 255]);
    expect(markBox(outputs['medium.png']!)).toEqual({ left: 85, top: 35, right: 95, bottom: 45 });
    // 40 px wide is below minWidth: no mark at all.
    expect(markBox(outputs['small.png']!).right).toBe(-1);
    // The JPEG carries the mark too (lossy: near white inside, near black away from it).
    const jpeg = outputs['large.jpeg']!;
    expect(px(jpeg, 180, 80)[0]).toBeGreaterThan(240);
    expect(px(jpeg, 100, 50)[0]).toBeLessThan(15);
  });

  it('reads a watermark PNG as an input PNG is read: a chunk the png crate refuses the file for is left out', async () => {
    // An XMP packet of over 1 MiB, as an editor with a long history writes it: the crate alone refuses the file.
    const white = await encode('png', solid(10, 10, [255, 255, 255, 255]), formatOptions);
    const xmp = Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0\0\0\0'), Buffer.alloc(1024 * 1024, 0x20)]);
    const image = join(folder, 'mark-with-xmp.png');
    writeFileSync(
      image,
      Buffer.concat([
        Buffer.from(white).subarray(0, 33),
        pngChunk('iTXt', xmp),
        Buffer.from(white).subarray(33),
      ]),
    );
    await expect(decode('png', readFileSync(image))).rejects.toThrow(/rejected the file/);
    const config = parsePipelineConfig({
      variants: [{ name: 'a', width: 100 }],
      formats: { png: {} },
      watermark: { image, size: 0.5 },
    });
    const source = await encode('png', solid(100, 50, [0, 0, 0, 255]), formatOptions);
    const out = await decode('png', (await processImage(source, config)).outputs[0]!.bytes);
    expect(markBox(out).right).toBeGreaterThan(0); // the white mark is on the output
  });

  it('fails an image for a watermark PNG the decoder refuses, naming watermark.image, instead of quarantining the image as corrupt', async () => {
    // The PNG signature and nothing a decoder can read: it passes the configuration's check.
    const image = join(folder, 'broken-mark.png');
    writeFileSync(
      image,
      Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        Buffer.from('no chunks'),
      ]),
    );
    const config = parsePipelineConfig({
      variants: [{ name: 'a', width: 100 }],
      formats: { png: {} },
      watermark: { image },
    });
    const source = await encode('png', solid(200, 100, [0, 0, 0, 255]), formatOptions);
    const failure = await processImage(source, config).catch((error: unknown) => error);
    // It was an InvalidImageError (corrupt: "The png decoder rejected the file"), blaming the input.
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as ConfigError).message).toMatch(
      new RegExp(
        `^Expected a PNG file the decoder reads for watermark\\.image but received "${image.replaceAll('/', '\\/')}" of type string \\(`,
      ),
    );
  });

  it('applies opacity on the output pixels: a 50% white mark over black gives 128', async () => {
    const source = await encode('png', solid(100, 100, [0, 0, 0, 255]), formatOptions);
    const image = await pngFile('half.png', solid(8, 8, [255, 255, 255, 255]));
    const config = parsePipelineConfig({
      variants: [{ name: 'v', width: 100 }],
      formats: { png: {} },
      watermark: { image, position: 'center', margin: 0, size: 0.5, opacity: 0.5 },
    });
    const out = await decode('png', (await processImage(source, config)).outputs[0]!.bytes);
    expect(px(out, 50, 50)).toEqual([128, 128, 128, 255]);
    expect(px(out, 25, 25)).toEqual([128, 128, 128, 255]);
    expect(px(out, 24, 24)).toEqual([0, 0, 0, 255]);
    expect(markBox(out)).toEqual({ left: 25, top: 25, right: 75, bottom: 75 });
  });

  it("leaves a transparent output's alpha to the mark where it lies, and a mark's transparent pixels show nothing", async () => {
    const source = await encode('png', solid(50, 50, [0, 0, 0, 0]), formatOptions);
    // Left half opaque white, right half fully transparent.
    const mark = solid(10, 10, [255, 255, 255, 255]);
    for (let y = 0; y < 10; y++) for (let x = 5; x < 10; x++) mark.data.set([0, 0, 0, 0], (y * 10 + x) * 4);
    const image = await pngFile('split.png', mark);
    const config = parsePipelineConfig({
      variants: [{ name: 'v', width: 50 }],
      formats: { png: {} },
      watermark: { image, position: 'top-left', margin: 0, size: 0.2 },
    });
    const out = await decode('png', (await processImage(source, config)).outputs[0]!.bytes);
    expect(px(out, 0, 0)).toEqual([255, 255, 255, 255]);
    expect(px(out, 9, 9)).toEqual([0, 0, 0, 0]);
    expect(px(out, 20, 20)).toEqual([0, 0, 0, 0]);
  });

  it('puts the mark of a contain output on the picture, not on its translucent padding, which a JPEG flattens', async () => {
    // An opaque 100 x 20 source in a 100 x 100 box padded with transparent white: the picture is
    // [0, 100) x [40, 60). The mark is sized and placed as on the picture alone: 20 x 20 at its
    // bottom-right corner, [80, 100) x [40, 60). On the whole box it lay in the padding, and the
    // picture came out unmarked.
    const source = await encode('png', solid(100, 20, [0, 0, 255, 255]), formatOptions);
    const image = await pngFile('red.png', solid(8, 8, [255, 0, 0, 255]));
    const config = parsePipelineConfig({
      variants: [{ name: 'v', width: 100, height: 100, fit: 'contain' }],
      formats: { jpeg: { quality: 100, chromaSubsampling: '4:4:4' }, png: {} },
      background: '#ffffff00',
      watermark: { image, position: 'bottom-right', margin: 0, size: 0.2, opacity: 0.5 },
    });
    const result = await processImage(source, config);
    const output = (format: string) => result.outputs.find((o) => o.format === format)!.bytes;
    const png = await decode('png', output('png'));
    // Half red over the blue picture; the padding below it left as it was.
    expect(px(png, 90, 50)).toEqual([128, 0, 128, 255]);
    expect(px(png, 79, 50)).toEqual([0, 0, 255, 255]);
    expect(px(png, 90, 90)).toEqual([255, 255, 255, 0]);
    const jpeg = await decode('jpeg', output('jpeg'));
    // The JPEG flattens the translucent padding onto the background, white.
    for (const [[r, g, b], expected] of [
      [px(jpeg, 90, 50), [128, 0, 128]],
      [px(jpeg, 90, 90), [255, 255, 255]],
    ] as const)
      for (const [i, channel] of [r, g, b].entries())
        expect(Math.abs(channel! - expected[i]!), `${[r, g, b]}`).toBeLessThan(4);
  });
});

describe('the resized marks a process keeps', () => {
  it('keep to MARK_BYTES_KEPT however many sizes on-demand results ask for, a mark of size 1 included', async () => {
    // A full-width mark: each output width is a mark of about its own size. Kept by count alone
    // (32), these 41 widths held some 50 MB of marks after the images were gone.
    const image = await pngFile('full-width.png', solid(8, 8, [255, 255, 255, 255]));
    const config = parsePipelineConfig({ watermark: { image, size: 1, margin: 0 } });
    const watermark = config.watermark!;
    for (let width = 400; width <= 800; width += 10) {
      const marked = await applyWatermark(solid(width, width, [0, 0, 0, 255]), watermark, config);
      // Still marked: the middle pixel is the mark's.
      expect(px(marked, width >> 1, width >> 1), String(width)).toEqual([255, 255, 255, 255]);
      expect(keptMarkBytes(), String(width)).toBeLessThanOrEqual(MARK_BYTES_KEPT);
    }
    expect(keptMarkBytes()).toBeGreaterThan(0);
    // A mark larger than the whole allowance is made for its image and not kept.
    const large = await applyWatermark(solid(2100, 2100, [0, 0, 0, 255]), watermark, config);
    expect(px(large, 1050, 1050)).toEqual([255, 255, 255, 255]);
    expect(keptMarkBytes()).toBeLessThanOrEqual(MARK_BYTES_KEPT);
  });
});
