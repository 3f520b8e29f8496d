import { describe, expect, it } from 'vitest';
import { CodecTimeoutError, decode, encode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { readFixture } from '../../support/fixtures.ts';

/**
 * A decode still running at its deadline is stopped mid-call, and the decoder it ran in does not
 * carry anything over to the next image: the next decode gives the same pixels as before.
 */
describe('decoding against a deadline', () => {
  const soon = () => performance.now() + 50;

  it('stops a JPEG decode mid-way and decodes the next image exactly as before', async () => {
    const next = readFixture('photos/colour-fig-red-bowl.jpg');
    const before = await decode('jpeg', next);
    // 15.9 MP at full size: hundreds of milliseconds of decoding, well past the deadline.
    const large = readFixture('bench/seeding-5312x2988.jpg');
    const error = await decode('jpeg', large, 1, soon()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodecTimeoutError);
    expect((error as Error).message).toMatch(/^The jpeg decode was stopped at its deadline/);

    const after = await decode('jpeg', next);
    expect([after.width, after.height]).toEqual([before.width, before.height]);
    expect(Buffer.compare(Buffer.from(after.data), Buffer.from(before.data))).toBe(0);
    const small = await decode('jpeg', large, 8);
    expect([small.width, small.height]).toEqual([664, 374]);
  });

  it('stops a PNG decode mid-way and decodes the next image exactly as before', async () => {
    const next = readFixture('edge/formats/alpha-rgba8.png');
    const before = await decode('png', next);
    const width = 3000;
    const height = 2000;
    const pixels = new Uint8ClampedArray(width * height * 4);
    let seed = 1;
    for (let i = 0; i < pixels.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      pixels[i] = seed >>> 24;
    }
    const { formatOptions } = parsePipelineConfig({ formats: { png: {} } });
    const large = await encode('png', { width, height, data: pixels }, formatOptions);
    const error = await decode('png', large, 1, soon()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodecTimeoutError);
    expect((error as Error).message).toMatch(/^The png decode was stopped at its deadline/);

    const after = await decode('png', next);
    expect(Buffer.compare(Buffer.from(after.data), Buffer.from(before.data))).toBe(0);
  });

  it('stops a GIF decode mid-way and gives console.log back', async () => {
    const { GifWriter } = await import('omggif');
    const width = 3000;
    const height = 2000;
    const indexed = new Uint8Array(width * height);
    let seed = 1;
    for (let i = 0; i < indexed.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      indexed[i] = seed >>> 24;
    }
    const palette = Array.from({ length: 256 }, (_, i) => i * 0x010101);
    const buffer = new Uint8Array(width * height * 2);
    const writer = new GifWriter(buffer, width, height, { palette });
    writer.addFrame(0, 0, width, height, indexed);
    const gif = buffer.subarray(0, writer.end());
    // Stopped a third of the way through the fastest of three whole decodes: in omggif's pixel loop
    // (its set-up takes about a millisecond), where its console.log is captured (for its
    // damaged-data warning). Half of one decode's time was not enough: one slowed by the machine's
    // other work (2.6 times as long, measured here) gave a deadline the next decode beat.
    let fastest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await decode('gif', gif);
      fastest = Math.min(fastest, performance.now() - started);
    }
    const log = console.log;
    const error = await decode('gif', gif, 1, performance.now() + fastest / 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodecTimeoutError);
    expect((error as Error).message).toMatch(/^The gif decode was stopped at its deadline/);
    expect(console.log).toBe(log);
  });

  it('decodes as usual when the deadline is not reached', async () => {
    const bytes = readFixture('photos/portrait-friends-dogs.jpg');
    const image = await decode('jpeg', bytes, 2, performance.now() + 60_000);
    expect([image.width, image.height]).toEqual([533, 800]);
  });
});
