import { describe, expect, it } from 'vitest';
import { codecHeapBytes, decode, HEAP_RELEASE_BYTES, resize } from '../../../src/codecs/index.ts';
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

  it('replaces the resampler after a large resize, and the next resize gives the same pixels', async () => {
    const source = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'));
    const call = { method: 'lanczos3', linearRGB: false, premultiply: false } as const;
    const small = await resize(source, 400, 270, call);
    expect(codecHeapBytes().resize).toBeLessThan(HEAP_RELEASE_BYTES);
    // Upscaling 1600x1082 to 3200x2164 needs input, float intermediate and 27 MB of output.
    const large = await resize(source, 3200, 2164, call);
    expect(large.data.length).toBe(3200 * 2164 * 4);
    expect(codecHeapBytes().resize).toBeLessThan(HEAP_RELEASE_BYTES);
    const again = await resize(source, 400, 270, call);
    expect(Buffer.from(again.data).equals(Buffer.from(small.data))).toBe(true);
  });
});
