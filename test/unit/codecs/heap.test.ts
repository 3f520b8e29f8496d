import { initSync } from '@jsquash/png/codec/pkg/squoosh_png.js';
import * as jsquashPng from '@jsquash/png/index.js';
import { describe, expect, it } from 'vitest';
import { codecHeapBytes, decode, encode, HEAP_RELEASE_BYTES, resize } from '../../../src/codecs/index.ts';
import { compileWasm } from '../../../src/codecs/wasm.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { readFixture } from '../../support/fixtures.ts';

describe('codec heaps', () => {
  it('replaces a decoder whose heap grew past the limit, and the next decode still works', async () => {
    const big = readFixture('bench/seeding-5312x2988.jpg');
    const first = await decode('jpeg', big);
    expect([first.width, first.height]).toEqual([5312, 2988]);
    // The 16 MP decode needs ~64 MB of heap; the instance that grew was swapped for a fresh one
    // before decode() returned, so the old heap is not resident beside the next stage's buffers.
    expect(codecHeapBytes().jpegTurbo).toBeLessThan(HEAP_RELEASE_BYTES);
    const again = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'));
    expect([again.width, again.height]).toEqual([1600, 1082]);
  });

  it('decodes PNG on its own instance: the same pixels as jSquash, and a large heap is let go', async () => {
    const small = readFixture('edge/formats/alpha-rgba8.png');
    initSync(await compileWasm('png')); // jSquash's own glue, for comparison (it cannot fetch() in Node)
    const ours = await decode('png', small);
    const theirs = await jsquashPng.decode(
      small.buffer.slice(small.byteOffset, small.byteOffset + small.length) as ArrayBuffer,
    );
    expect([ours.width, ours.height]).toEqual([theirs.width, theirs.height]);
    expect(Buffer.from(ours.data).equals(Buffer.from(theirs.data))).toBe(true);
    // 5000x3000 RGBA: 60 MB of pixels in the decoder's heap.
    const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });
    const flat = { width: 5000, height: 3000, data: new Uint8ClampedArray(5000 * 3000 * 4).fill(77) };
    const big = await encode('png', flat, formatOptions);
    const decoded = await decode('png', big);
    expect([decoded.width, decoded.height, decoded.data[0], decoded.data.at(-1)]).toEqual([
      5000, 3000, 77, 77,
    ]);
    expect(codecHeapBytes().pngDec).toBeLessThan(HEAP_RELEASE_BYTES);
    // A corrupt PNG is refused with the decoder's words, and the next one decodes.
    const corrupt = Buffer.from(small);
    corrupt.fill(0, 60, 200);
    await expect(decode('png', corrupt)).rejects.toThrow(/The png decoder rejected the file: /);
    expect((await decode('png', small)).width).toBe(ours.width);
  });

  // Opaque sRGB images go through Pillow's resampler (its instance is `resample`), the others
  // through jSquash's (`resize`).
  it.each([
    ['resample', false],
    ['resize', true],
  ] as const)(
    'replaces the resampler (%s) after a large resize, and the next resize gives the same pixels',
    async (name, premultiply) => {
      const source = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'));
      const call = { method: 'lanczos3', linearRGB: false, premultiply } as const;
      const small = await resize(source, 400, 270, call);
      expect(codecHeapBytes()[name]).toBeLessThan(HEAP_RELEASE_BYTES);
      // Upscaling 1600x1082 to 3200x2164 needs input, intermediate and 27 MB of output.
      const large = await resize(source, 3200, 2164, call);
      expect(large.data.length).toBe(3200 * 2164 * 4);
      expect(codecHeapBytes()[name]).toBeLessThan(HEAP_RELEASE_BYTES);
      const again = await resize(source, 400, 270, call);
      expect(Buffer.from(again.data).equals(Buffer.from(small.data))).toBe(true);
    },
  );
});
