import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import eventSchema from '../../../src/bus/image-event.schema.json' with { type: 'json' };
import { decode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { FORMAT_META, type InputFormat } from '../../../src/core/formats.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { outcomeEvent } from '../../../src/handlers/outcomes.ts';
import { sniffFormat } from '../../../src/image/sniff.ts';
import { processImage } from '../../../src/pipeline/process-image.ts';
import { processObject } from '../../../src/pipeline/process-object.ts';
import type { Manifest } from '../../../src/pipeline/records.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import { writePng } from '../../support/png.ts';

/**
 * Shapes an outside hostile-input test found: images no variant enlarges, so a variant kept the
 * source's 20000 px and the encoders refused it, or whose aspect ratio overflowed the box shrink.
 * Each must end in encoded outputs within every format's limits. (A 1x50,000,000 PNG takes the same
 * paths but decodes to 200 MB: plan.test.ts covers its plan; 1x1,000,000 and 1,000,000x1 here.)
 */
const config = parsePipelineConfig({
  variants: [
    { name: 'large', width: 1600 },
    { name: 'small', width: 320 },
  ],
  formats: { jpeg: {}, webp: {}, avif: { speed: 8 } },
});

describe('processImage with extreme dimensions', () => {
  it.each([
    [1, 20_000, { width: 1, height: 16_383 }],
    [3, 16_384, { width: 3, height: 16_383 }],
    [1, 70_000, { width: 1, height: 16_383 }],
    [1, 1_000_000, { width: 1, height: 16_383 }],
    [1_000_000, 1, { width: 1600, height: 1 }],
    [50_000, 3, { width: 1600, height: 1 }],
  ])('turns a %ix%i PNG into variants every encoder accepts', async (width, height, large) => {
    const result = await processImage(writePng(width, height), config);
    expect(result.outputs).toHaveLength(2 * 3);
    for (const output of result.outputs) {
      const { maxSide } = FORMAT_META[output.format].limits;
      expect(Math.max(output.width, output.height)).toBeLessThanOrEqual(maxSide);
      const decoded = await decode(sniffFormat(output.bytes) as InputFormat, output.bytes);
      expect([decoded.width, decoded.height]).toEqual([output.width, output.height]);
    }
    const largest = result.outputs.find((o) => o.variant === 'large')!;
    expect({ width: largest.width, height: largest.height }).toEqual(large);
  });

  it.each([
    // 11x1000 at 200 px high is 2x200 (2.2 wide, rounded down); the 50 px variant is made from it.
    [
      11,
      1000,
      [
        { name: 'a', height: 200 },
        { name: 'b', height: 50 },
      ],
    ],
    // 3x20000 is 2x16383 for both (WebP's limit; 2.46 wide); the second is made from the first.
    [3, 20_000, [{ name: 'a' }, { name: 'b', width: 320 }]],
  ])(
    'keeps the whole picture of a %ix%i PNG in a variant made from an earlier one',
    async (width, height, variants) => {
      // A vertical ramp, 0 in the top row to 255 in the bottom one.
      const ramp = writePng(width, height, { pixel: (_, y) => [Math.round((y * 255) / (height - 1))] });
      const chained = parsePipelineConfig({ variants, formats: { png: {}, webp: {} } });
      const alone = parsePipelineConfig({ variants: [variants[1]!], formats: { png: {}, webp: {} } });
      const png = async (config: typeof chained) => {
        const output = (await processImage(ramp, config)).outputs.find(
          (o) => o.variant === 'b' && o.format === 'png',
        )!;
        return decode('png', output.bytes);
      };
      const [made, reference] = [await png(chained), await png(alone)];
      expect([made.width, made.height]).toEqual([reference.width, reference.height]);
      const row = (image: typeof made, y: number) => image.data[y * image.width * 4]!;
      // Before, the earlier variant's width scale was taken for its height: 18 of its 200 rows, or
      // 3,050 of its 16,383, were cut off, and the ramp ran from 14 to 241 (24 to 231).
      expect([row(made, 0), row(made, made.height - 1)]).toEqual([
        expect.toBeOneOf([0, 1, 2, 3]),
        expect.toBeOneOf([252, 253, 254, 255]),
      ]);
      for (let y = 0; y < made.height; y++)
        expect(Math.abs(row(made, y) - row(reference, y)), `row ${y}`).toBeLessThanOrEqual(3);
    },
  );

  it('resizes and encodes once when the limit makes two variants identical', async () => {
    const result = await processImage(writePng(1, 20_000), config);
    for (const format of ['jpeg', 'webp', 'avif'] as const) {
      const [large, small] = ['large', 'small'].map(
        (variant) => result.outputs.find((o) => o.variant === variant && o.format === format)!,
      );
      expect([small!.width, small!.height]).toEqual([1, 16_383]);
      expect(small!.bytes).toBe(large!.bytes);
    }
  });
});

describe('processObject with a variant reduced to fit a format', () => {
  it('records in the manifest which limit reduced the variant and the size it would have had', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-dims-'));
    const source = new FsStorage(join(root, 'in'));
    const output = new FsStorage(join(root, 'out'));
    const quarantine = new FsStorage(join(root, 'quarantine'));
    writeFileSync(join(root, 'tall.png'), writePng(1, 20_000));
    await source.put('tall.png', readFileSync(join(root, 'tall.png')), { contentType: 'image/png' });
    const layout = new BucketLayout(config, 'quarantine/');
    const outcome = await processObject(
      { bucket: 'in', key: 'tall.png' },
      { config, layout, source: () => source, output, quarantine },
    );
    expect(outcome.status).toBe('processed');
    const manifest = JSON.parse(
      readFileSync(join(root, 'out', layout.manifestKey('tall.png')), 'utf8'),
    ) as Manifest;
    const large = manifest.outputs.filter((o) => o.variant === 'large');
    expect(large.map((o) => [o.format, o.width, o.height])).toEqual([
      ['jpeg', 1, 16_383],
      ['webp', 1, 16_383],
      ['avif', 1, 16_383],
    ]);
    for (const o of large)
      expect(o.limit).toEqual({ format: 'webp', maxSide: 16_383, planned: { width: 1, height: 20_000 } });
    for (const o of manifest.outputs.filter((o) => o.variant === 'small')) expect(o.limit).toBeDefined();

    // The outcome event carries the same outputs, and stays valid against its published schema.
    const event = outcomeEvent({ bucket: 'uploads', key: 'tall.png' }, outcome, {
      outputBucket: 'out',
    } as Parameters<typeof outcomeEvent>[2]);
    const validate = new Ajv2020({
      allErrors: true,
      strict: true,
      strictRequired: false,
      validateFormats: false,
    }).compile(eventSchema);
    expect(validate(event!.detail), JSON.stringify(validate.errors)).toBe(true);
    expect(event!.detail.outputs![0]).toMatchObject({ limit: { format: 'webp', maxSide: 16_383 } });
  });
});
