import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { loadPipelineConfig } from '../../../src/config/index.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import {
  MODERATION_RENDITION,
  moderationTiles,
  renderJpegs,
  renditionConfig,
  renditionWorkingBytes,
  tilesNeeded,
  tileWorkingBytes,
} from '../../../src/pipeline/rendition.ts';

describe('renditionConfig', () => {
  it('keeps the limits of the configuration it is made from, the memory budget included', () => {
    // The memory budget is the process's, not a document setting: passing it back through the
    // document parser as `limits.memory` refused every moderation rendition.
    const config = loadPipelineConfig({ IMGPIPE_MEMORY_MB: '1024', IMGPIPE_MAX_PIXELS: '20000000' });
    const rendition = renditionConfig(config.limits);
    expect(rendition.limits).toEqual(config.limits);
    expect(rendition.limits.memory).toEqual({ mb: 1024, source: 'IMGPIPE_MEMORY_MB' });
    expect(rendition.variants).toHaveLength(1);
    expect(rendition.variants[0]).toMatchObject({ width: MODERATION_RENDITION.longSide, upscale: true });
  });
});

describe('moderationTiles', () => {
  it('keeps an image of at most 2:1 whole: one rendition, one call', () => {
    for (const [width, height] of [
      [1600, 900],
      [900, 1600],
      [2000, 1000],
      [1000, 2000],
      [1, 1],
      [2, 1],
    ] as const) {
      expect(moderationTiles(width, height)).toEqual([
        { left: 0, top: 0, width, height, index: 1, count: 1 },
      ]);
      expect(tilesNeeded(width, height)).toBe(1);
    }
  });

  it('cuts a longer image into tiles of 2:1 that cover it, each overlapping the next by at least its short side', () => {
    for (const [width, height] of [
      [2001, 1000],
      [500, 20000],
      [20000, 500],
      [400, 3200],
      [3, 1],
      [1000, 9001],
      [777, 5431],
    ] as const) {
      const tiles = moderationTiles(width, height);
      const tall = height > width;
      const [long, short] = tall ? [height, width] : [width, height];
      expect(tiles.length, `${width}x${height}`).toBe(tilesNeeded(width, height));
      expect(tiles.length).toBe(1 + Math.ceil(long / short - 2));
      for (const [i, tile] of tiles.entries()) {
        expect(tile).toMatchObject({ index: i + 1, count: tiles.length });
        // The full short side, twice it along the long side.
        expect(tall ? [tile.left, tile.width, tile.height] : [tile.top, tile.height, tile.width]).toEqual([
          0,
          short,
          2 * short,
        ]);
      }
      const starts = tiles.map((tile) => (tall ? tile.top : tile.left));
      expect(starts[0]).toBe(0);
      expect(starts.at(-1)! + 2 * short).toBe(long);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeLessThanOrEqual(short);
    }
  });

  it('counts 8 tiles up to 9:1, and 39 for a 40:1 strip', () => {
    expect(tilesNeeded(1000, 9000)).toBe(8);
    expect(tilesNeeded(1000, 9001)).toBe(9);
    expect(tilesNeeded(20000, 500)).toBe(39);
  });
});

describe('renderJpegs', () => {
  const strip = (width: number, height: number) =>
    encode(
      'png',
      { width, height, data: new Uint8ClampedArray(width * height * 4).fill(255) },
      parsePipelineConfig({}).formatOptions,
    );
  const limitsWith = (mb: number) => ({
    ...loadPipelineConfig({}).limits,
    memory: { mb, source: 'IMGPIPE_MEMORY_MB' },
  });

  it('renders a tall strip in tiles of 512 x 1024', async () => {
    const renditions = await renderJpegs(await strip(300, 1500), loadPipelineConfig({}).limits);
    // 5:1 -> 4 tiles of 300 x 600, starting every 300 rows.
    expect(renditions.map((r) => [r.width, r.height, r.background, r.tile?.top, r.tile?.index])).toEqual([
      [512, 1024, 'white', 0, 1],
      [512, 1024, 'white', 300, 2],
      [512, 1024, 'white', 600, 3],
      [512, 1024, 'white', 900, 4],
    ]);
  });

  it('checks, before the decode, the memory of the tiles besides that of the scaled image', async () => {
    const png = await strip(300, 1500);
    // The estimate of the scaled image alone, as the refusal of a budget of 1 MiB states it.
    const refused = await renderJpegs(png, limitsWith(1)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidImageError);
    const estimateMb = Math.ceil(((refused as InvalidImageError).details.estimateBytes as number) / 2 ** 20);
    const reserveMb = Math.ceil(tileWorkingBytes() / 2 ** 20);
    // A budget that holds the scaled image but not its tiles refuses it, naming the room kept.
    await expect(renderJpegs(png, limitsWith(estimateMb + reserveMb - 1))).rejects.toMatchObject({
      reason: 'over-memory-budget',
      message: expect.stringContaining(`(IMGPIPE_MEMORY_MB, less ${reserveMb} MiB for the moderation tiles)`),
    });
    expect(await renderJpegs(png, limitsWith(estimateMb + reserveMb))).toHaveLength(4);
  });

  it('renders an image with colours under nearly transparent pixels with its alpha channel dropped too: a picture there shows on no background, and to anyone who drops the alpha', async () => {
    // 300 x 300, every pixel at alpha 1: red on the left, green on the right. On white and on
    // black it is one flat colour; its outputs keep the colours, whole once the alpha is dropped.
    const [width, height] = [300, 300];
    const data = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < width * height; i++)
      data.set(i % width < 150 ? [255, 0, 0, 1] : [0, 255, 0, 1], i * 4);
    const png = await encode('png', { width, height, data }, parsePipelineConfig({}).formatOptions);
    const renditions = await renderJpegs(png, loadPipelineConfig({}).limits);
    expect(renditions.map((r) => r.background)).toEqual(['white', 'black', 'opaque']);
    const pixel = async (bytes: Uint8Array, x: number) => {
      const image = await decode('jpeg', bytes);
      return [...image.data.subarray((512 * image.width + x) * 4, (512 * image.width + x) * 4 + 3)];
    };
    const opaque = renditions[2]!.bytes;
    const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]!) <= 8);
    expect(near(await pixel(opaque, 256), [255, 0, 0])).toBe(true);
    expect(near(await pixel(opaque, 768), [0, 255, 0])).toBe(true);
    // Black under every pixel that is not opaque (a shadow, black type with soft edges): with its
    // alpha dropped it is as it is on black, so two renditions.
    const shadow = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < width * height; i++) shadow.set([0, 0, 0, i % width], i * 4);
    const soft = await encode('png', { width, height, data: shadow }, parsePipelineConfig({}).formatOptions);
    const two = await renderJpegs(soft, loadPipelineConfig({}).limits);
    expect(two.map((r) => r.background)).toEqual(['white', 'black']);
  });

  it('checks, before the decode, the memory of a whole image’s rendition besides that of the scaled image', async () => {
    // 600 x 400, one tile: its 1024 x 683 rendition is flattened (a copy) and encoded as JPEG after
    // processImage, whose estimate holds only the scaled pixels and a PNG encode of them.
    const png = await strip(600, 400);
    const refused = await renderJpegs(png, limitsWith(1)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidImageError);
    const estimateMb = Math.ceil(((refused as InvalidImageError).details.estimateBytes as number) / 2 ** 20);
    const reserveMb = Math.ceil(renditionWorkingBytes() / 2 ** 20);
    expect(reserveMb).toBe(34);
    await expect(renderJpegs(png, limitsWith(estimateMb + reserveMb - 1))).rejects.toMatchObject({
      reason: 'over-memory-budget',
      message: expect.stringContaining(
        `(IMGPIPE_MEMORY_MB, less ${reserveMb} MiB for the moderation rendition)`,
      ),
    });
    const renditions = await renderJpegs(png, limitsWith(estimateMb + reserveMb));
    expect(renditions.map((r) => [r.width, r.height, r.background, r.tile])).toEqual([
      [1024, 683, 'white', undefined],
    ]);
  });
});
