import { describe, expect, it } from 'vitest';
import { codecHeapBytes, decode, HEAP_RELEASE_BYTES } from '../../../src/codecs/index.ts';
import { readFixture } from '../../support/fixtures.ts';

describe('codec heaps', () => {
  it('replaces a decoder whose heap grew past the limit, and the next decode still works', async () => {
    const big = readFixture('bench/seeding-5312x2988.jpg');
    const first = await decode('jpeg', big);
    expect([first.width, first.height]).toEqual([5312, 2988]);
    // The 16 MP decode needs ~64 MB of heap; the instance that grew has been swapped for a fresh one.
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(codecHeapBytes().jpegDec).toBeLessThan(HEAP_RELEASE_BYTES);
    const again = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'));
    expect([again.width, again.height]).toEqual([1600, 1082]);
  });
});
