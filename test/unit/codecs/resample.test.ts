import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { codecHeapBytes, decode, resize } from '../../../src/codecs/index.ts';
import { SimdResampler } from '../../../src/codecs/resample.ts';
import { compileWasm } from '../../../src/codecs/wasm.ts';
import type { ResizeMethod } from '../../../src/core/config.ts';
import { readFixture } from '../../support/fixtures.ts';

const METHODS: readonly ResizeMethod[] = ['triangle', 'catrom', 'mitchell', 'lanczos3'];

/** A fixed-seed generator (a linear congruential one), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
}

function psnr(a: Uint8Array | Uint8ClampedArray, b: Uint8Array | Uint8ClampedArray): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    const d = a[i]! - b[i]!;
    sum += d * d;
    count++;
  }
  return 10 * Math.log10((255 * 255 * count) / sum);
}

describe("Pillow's resampler with SIMD loops (resample.wasm)", () => {
  it("gives Pillow's own bytes: the SIMD loops against its C loops, 300 random cases from a fixed seed", async () => {
    const resampler = new SimdResampler(await compileWasm('resample'));
    const next = random(20261201);
    const differing: string[] = [];
    for (let i = 0; i < 300; i++) {
      const [w, h] = [1 + Math.floor(next() * 300), 1 + Math.floor(next() * 200)];
      const [ow, oh] = [1 + Math.floor(next() * 400), 1 + Math.floor(next() * 300)];
      const method = METHODS[Math.floor(next() * METHODS.length)]!;
      // Noise with runs of 0 and 255, where the filters' negative lobes overshoot and get clamped.
      const input = new Uint8Array(w * h * 4).map(() =>
        next() < 0.3 ? (next() < 0.5 ? 0 : 255) : Math.floor(next() * 256),
      );
      const simd = resampler.resize(input, w, h, ow, oh, method);
      const c = resampler.resize(input, w, h, ow, oh, method, false);
      expect(simd.length).toBe(ow * oh * 4);
      if (!Buffer.from(simd).equals(Buffer.from(c))) differing.push(`${w}x${h} -> ${ow}x${oh} ${method}`);
    }
    expect(differing).toEqual([]);
  });

  it('resamples a photo as libvips (sharp) does, within rounding', async () => {
    const photo = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'));
    const call = { method: 'lanczos3', linearRGB: false, premultiply: false } as const;
    const ours = await resize(photo, 640, 433, call);
    const theirs = await sharp(Buffer.from(photo.data.buffer, photo.data.byteOffset, photo.data.byteLength), {
      raw: { width: photo.width, height: photo.height, channels: 4 },
    })
      .resize(640, 433, { kernel: 'lanczos3', fit: 'fill' })
      .raw()
      .toBuffer();
    expect(ours.data.length).toBe(theirs.length);
    expect(psnr(ours.data, theirs)).toBeGreaterThan(45);
    // The other resampler (jSquash's, in floats) agrees with it as closely.
    const float = await resize(photo, 640, 433, { ...call, premultiply: true });
    expect(psnr(ours.data, float.data)).toBeGreaterThan(45);
  });

  it('is used for opaque images in sRGB; jSquash’s resampler for alpha and linear light', async () => {
    const opaque = { width: 64, height: 64, data: new Uint8ClampedArray(64 * 64 * 4).fill(200) };
    const before = codecHeapBytes();
    await resize(opaque, 17, 9, { method: 'catrom', linearRGB: false, premultiply: false });
    expect(codecHeapBytes().resample).toBeGreaterThan(0);
    await resize(opaque, 17, 9, { method: 'catrom', linearRGB: true, premultiply: false });
    expect(codecHeapBytes().resize ?? before.resize).toBeGreaterThan(0);
  });

  it('refuses a size of zero, or one whose bytes overflow 32 bits, naming the sizes', async () => {
    const resampler = new SimdResampler(await compileWasm('resample'));
    expect(() => resampler.resize(new Uint8Array(16), 2, 2, 0, 1, 'lanczos3')).toThrow(
      'The resampler refused 2x2 to 0x1 (out of memory or of range)',
    );
    // 40000 x 40000 x 4 bytes wraps around a 32-bit size: refused, not a short buffer overrun.
    expect(() => resampler.resize(new Uint8Array(16), 2, 2, 40_000, 40_000, 'lanczos3')).toThrow(
      'The resampler refused 2x2 to 40000x40000 (out of memory or of range)',
    );
    expect(resampler.resize(new Uint8Array(16).fill(9), 2, 2, 3, 3, 'lanczos3')).toEqual(
      new Uint8ClampedArray(36).fill(9),
    );
  });
});
