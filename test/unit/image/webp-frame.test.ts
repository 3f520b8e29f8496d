import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/codecs/index.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { probeImage } from '../../../src/image/probe.ts';
import { firstWebpFrame } from '../../../src/image/webp-frame.ts';
import { animatedWebp, chunk, riff, vp8l } from '../../support/webp.ts';

const u24 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff];

function refusal(bytes: Uint8Array): InvalidImageError {
  try {
    probeImage('webp', bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidImageError);
    return error as InvalidImageError;
  }
  throw new Error('expected an InvalidImageError');
}

describe('an animated WebP: its first frame against its bitstream and canvas', () => {
  it('reads a frame whose VP8L bitstream codes the frame size', () => {
    const header = probeImage(
      'webp',
      animatedWebp({ width: 4, height: 4 }, { width: 4, height: 4 }, chunk('VP8L', vp8l(4, 4))),
    );
    expect(header).toMatchObject({ width: 4, height: 4, animated: true, frames: 1 });
    expect(header.layout.lossless).toBe(true);
  });

  it('refuses a 1x1 frame whose VP8L bitstream codes 9000x9000 pixels, before decoding', () => {
    const bomb = animatedWebp(
      { width: 1, height: 1 },
      { width: 1, height: 1 },
      chunk('VP8L', vp8l(9000, 9000)),
    );
    expect(bomb.length).toBeLessThan(100);
    const error = refusal(bomb);
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The webp file is malformed: the first frame declares 1x1 but its VP8L bitstream codes 9000x9000',
    );
    expect(error.details).toMatchObject({ frame: [1, 1], coded: [9000, 9000] });
  });

  it('reads the VP8 bitstream after an ALPH chunk too', () => {
    // A VP8 key frame header: frame tag, start code, 14-bit width and height (the rest not read).
    const vp8 = chunk('VP8 ', [0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x28, 0x23, 0x28, 0x23, 0, 0]);
    const image = new Uint8Array(Buffer.concat([chunk('ALPH', [0, 0]), vp8]));
    const error = refusal(animatedWebp({ width: 2, height: 2 }, { width: 2, height: 2 }, image));
    expect(error.message).toBe(
      'The webp file is malformed: the first frame declares 2x2 but its VP8 bitstream codes 9000x9000',
    );
  });

  it('refuses a first frame that does not fit its canvas', () => {
    const error = refusal(
      animatedWebp({ width: 4, height: 4 }, { x: 2, y: 0, width: 4, height: 4 }, chunk('VP8L', vp8l(4, 4))),
    );
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      'The webp file is malformed: the first frame (4x4 at 2,0) does not fit the 4x4 canvas',
    );
  });

  it('cuts the first frame out behind a VP8X header of its size, which libwebp holds the bitstream to', async () => {
    const bomb = animatedWebp(
      { width: 1, height: 1 },
      { width: 1, height: 1 },
      chunk('VP8L', vp8l(9000, 9000)),
    );
    const still = firstWebpFrame(bomb)!.still;
    expect(Buffer.from(still.subarray(12, 16)).toString('latin1')).toBe('VP8X');
    expect([...still.subarray(24, 30)]).toEqual([0, 0, 0, 0, 0, 0]); // 1x1, as the frame declares
    // Even past the probe, libwebp refuses the 9000x9000 bitstream behind a 1x1 VP8X.
    await expect(decode('webp', bomb)).rejects.toThrow(InvalidImageError);
    const frame = animatedWebp(
      { width: 6, height: 6 },
      { x: 2, y: 2, width: 4, height: 4 },
      chunk('VP8L', vp8l(4, 4)),
    );
    const image = await decode('webp', frame);
    expect([image.width, image.height]).toEqual([6, 6]);
    expect([...image.data.subarray((3 * 6 + 3) * 4, (3 * 6 + 3) * 4 + 4)]).toEqual([128, 0, 255, 255]);
  });
});

describe('a WebP canvas (VP8X) other than its first chunk', () => {
  it('refuses a second VP8X that declares a 1x1 canvas after a 9000x9000 frame, before decoding', () => {
    const vp8x = (width: number, height: number) =>
      chunk('VP8X', [0x12, 0, 0, 0, ...u24(width - 1), ...u24(height - 1)]);
    const animation = animatedWebp(
      { width: 9000, height: 9000 },
      { width: 9000, height: 9000 },
      chunk('VP8L', vp8l(9000, 9000)),
    );
    // The same file with a second, 1x1 VP8X chunk at its end.
    const bomb = riff([animation.subarray(12), vp8x(1, 1)]);
    expect(bomb.length).toBeLessThan(150);
    const error = refusal(bomb);
    expect(error.reason).toBe('corrupt');
    expect(error.message).toBe(
      `The webp file is malformed: a VP8X chunk at byte ${animation.length}; it must be the first chunk, at byte 12`,
    );
    expect(error.details).toMatchObject({ offset: animation.length });
  });
});

describe('a still WebP whose canvas (VP8X) is not its bitstream’s size', () => {
  const still = (canvas: number, coded: number) =>
    riff([
      chunk('VP8X', [0, 0, 0, 0, ...u24(canvas - 1), ...u24(canvas - 1)]),
      chunk('VP8L', vp8l(coded, coded)),
    ]);

  it('decodes one whose canvas is its bitstream’s size', async () => {
    expect(probeImage('webp', still(4, 4))).toMatchObject({ width: 4, height: 4, animated: false });
    expect((await decode('webp', still(4, 4))).width).toBe(4);
  });

  it.each([
    [4, 3000],
    [3000, 4],
    [16384, 4],
  ])(
    'refuses a %i px canvas around a %i px bitstream as corrupt, naming both, as libwebp refuses it',
    async (canvas, coded) => {
      const error = refusal(still(canvas, coded));
      expect(error.reason).toBe('corrupt');
      expect(error.message).toBe(
        `The webp file is malformed: the VP8X chunk declares a ${canvas}x${canvas} canvas but the still image's VP8L bitstream codes ${coded}x${coded}`,
      );
      expect(error.details).toMatchObject({ canvas: [canvas, canvas], coded: [coded, coded] });
      // libwebp refuses it too, without the sizes (a 16384 px canvas was refused as too many pixels).
      await expect(decode('webp', still(canvas, coded))).rejects.toThrow('Decoding error');
    },
  );
});
