import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mozjpeg from '@jsquash/jpeg/decode.js';
import { describe, expect, it } from 'vitest';
import { decode, decodeCmyk, decodeJpegRows } from '../../../src/codecs/index.ts';
import { TurboJpeg, TurboJpegError } from '../../../src/codecs/jpeg-turbo.ts';
import { compileWasm } from '../../../src/codecs/wasm.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { boxShrink } from '../../../src/image/shrink.ts';
import { fixturePath, readFixture } from '../../support/fixtures.ts';
import { hasTool } from '../../support/tools.ts';

const turbo = new TurboJpeg(await compileWasm('jpegTurbo'));
/** @cwasm's scalar build of libjpeg-turbo 2.0.4: the fallback, and an independent reference. */
const scalar = new TurboJpeg(await compileWasm('jpegTurboScalar'));

/** jSquash's MozJPEG decoder, the one the pipeline used before, as an independent reference. */
async function decodeWithMozjpeg(bytes: Uint8Array): Promise<Uint8ClampedArray> {
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const wasm = await readFile(fileURLToPath(import.meta.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
  await mozjpeg.init(await WebAssembly.compile(wasm));
  const image = await mozjpeg.default(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer,
  );
  return image.data;
}

function meanAbsoluteDifference(a: Uint8ClampedArray, b: Uint8ClampedArray): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** Sequential and progressive, colour and grey, 4:2:0 and 4:4:4. */
const JPEG_FIXTURES = [
  'photos/colour-fig-red-bowl.jpg',
  'photos/portrait-friends-dogs.jpg',
  'edge/formats/progressive.jpg',
  'edge/formats/grayscale.jpg',
  'edge/formats/chroma-444.jpg',
];

describe('TurboJPEG decoder', () => {
  it.each([...JPEG_FIXTURES, 'edge/formats/1x1.jpg'])(
    'decodes %s to the same RGBA bytes as MozJPEG',
    async (path) => {
      const bytes = readFixture(path);
      const image = turbo.decode(bytes);
      expect(image.warning).toBeUndefined();
      expect(Buffer.from(image.data).equals(Buffer.from(await decodeWithMozjpeg(bytes)))).toBe(true);
    },
  );

  it.each([2, 4, 8] as const)(
    'decodes at 1/%i in the DCT domain, close to a box shrink of the full decode',
    (shrink) => {
      // 1600x1082: 1082 / 8 is not whole, and libjpeg rounds each side up.
      const bytes = readFixture('photos/colour-fig-red-bowl.jpg');
      const full = turbo.decode(bytes);
      const small = turbo.decode(bytes, shrink);
      expect([small.width, small.height]).toEqual([Math.ceil(1600 / shrink), Math.ceil(1082 / shrink)]);
      const boxed = boxShrink(full, shrink, shrink);
      // Compare the rows and columns both have (the box shrink drops the partial last block).
      const rows = Math.min(boxed.height, small.height);
      const cut = (image: { width: number; data: Uint8ClampedArray }) => {
        const out = new Uint8ClampedArray(boxed.width * rows * 4);
        for (let y = 0; y < rows; y++)
          out.set(
            image.data.subarray(y * image.width * 4, (y * image.width + boxed.width) * 4),
            y * boxed.width * 4,
          );
        return out;
      };
      expect(meanAbsoluteDifference(cut(small), cut(boxed))).toBeLessThan(2.5);
    },
  );

  it('reports truncation and corrupt scan data as warnings with libjpeg text, and decode() rejects them', async () => {
    expect(turbo.decode(readFixture('edge/broken/truncated-half.jpg')).warning).toBe(
      'Premature end of JPEG file',
    );
    expect(turbo.decode(readFixture('edge/broken/corrupt-entropy.jpg')).warning).toBe(
      'Corrupt JPEG data: bad Huffman code',
    );
    const truncated = await decode('jpeg', readFixture('edge/broken/truncated-half.jpg')).catch(
      (e: unknown) => e,
    );
    expect(truncated).toBeInstanceOf(InvalidImageError);
    expect((truncated as InvalidImageError).reason).toBe('truncated');
    expect((truncated as InvalidImageError).message).toBe(
      'The jpeg decoder found damaged image data: Premature end of JPEG file',
    );
  });

  it('decodes a JFIF segment of another revision (2.01) as libjpeg does, and still finds damage after it', async () => {
    const revised = (bytes: Uint8Array) => {
      const copy = Uint8Array.from(bytes);
      expect(Buffer.from(copy.subarray(6, 11)).toString('latin1')).toBe('JFIF\0');
      copy[11] = 2;
      return copy;
    };
    const good = readFixture('photos/colour-fig-red-bowl.jpg');
    const image = await decode('jpeg', revised(good), 2);
    expect(Buffer.from(image.data).equals(Buffer.from((await decode('jpeg', good, 2)).data))).toBe(true);
    const damaged = await decode('jpeg', revised(readFixture('edge/broken/corrupt-entropy.jpg'))).catch(
      (e: unknown) => e,
    );
    expect((damaged as InvalidImageError).message).toBe(
      'The jpeg decoder found damaged image data: Corrupt JPEG data: bad Huffman code',
    );
  });

  it('decodes a four-component JPEG whose Adobe transform is 1 (or undefined) as YCCK, as libjpeg does', async () => {
    // libjpeg warns ("Unknown Adobe color transform code 1") and reads it as YCCK (jdapimin.c), as
    // the probe labels it; TurboJPEG failed its header call on the warning and the file was refused.
    const ycck = readFixture('edge/formats/cmyk.jpg');
    const app14 = ycck.indexOf(Buffer.from('Adobe', 'latin1'));
    expect(ycck[app14 + 11]).toBe(2); // the transform: the last byte of the APP14 body
    const reference = await decodeCmyk(ycck);
    for (const transform of [1, 7]) {
      const copy = Uint8Array.from(ycck);
      copy[app14 + 11] = transform;
      const before = Buffer.from(copy);
      const image = await decodeCmyk(copy);
      expect(Buffer.from(image.data).equals(Buffer.from(reference.data)), `transform ${transform}`).toBe(
        true,
      );
      expect(before.equals(copy)).toBe(true); // the caller's bytes are not changed
    }
  });

  it('decodes a three-component JPEG without JFIF whose Adobe transform is not 0 or 1 as YCbCr, as libjpeg does', async () => {
    // libjpeg warns ("Unknown Adobe color transform code 2") and reads it as YCbCr, as transform 1
    // says; TurboJPEG failed its header call on the warning. With a JFIF marker it is YCbCr unwarned.
    const jfif = readFixture('edge/formats/chroma-444.jpg');
    expect(jfif.subarray(6, 11).toString('latin1')).toBe('JFIF\0');
    const app0End = 4 + jfif.readUInt16BE(4);
    const app14 = (transform: number) =>
      Buffer.concat([
        Buffer.from([0xff, 0xee, 0x00, 0x0e]),
        Buffer.from('Adobe', 'latin1'),
        Buffer.from([0, 100, 0, 0, 0, 0, transform]),
      ]);
    const withAdobe = (transform: number, keepJfif = false) =>
      Buffer.concat([jfif.subarray(0, 2), app14(transform), jfif.subarray(keepJfif ? 2 : app0End)]);
    const reference = await decode('jpeg', jfif);
    for (const [transform, keepJfif] of [
      [1, false],
      [2, false],
      [7, false],
      [2, true],
    ] as const) {
      const copy = withAdobe(transform, keepJfif);
      const before = Buffer.from(copy);
      const image = await decode('jpeg', copy);
      expect(Buffer.from(image.data).equals(Buffer.from(reference.data)), `transform ${transform}`).toBe(
        true,
      );
      expect(before.equals(copy)).toBe(true); // the caller's bytes are not changed
    }
  });

  it('accepts extraneous bytes before a marker, which libjpeg skips', async () => {
    const good = readFixture('edge/formats/chroma-444.jpg');
    const eoi = good.lastIndexOf(Buffer.from([0xff, 0xd9]));
    // 40 bytes: the Huffman decoder's 64-bit buffer may have read a few of them as scan data.
    const garbage = Buffer.alloc(40, 3);
    const padded = Buffer.concat([good.subarray(0, eoi), garbage, good.subarray(eoi)]);
    expect(turbo.decode(padded).warning).toMatch(
      /^Corrupt JPEG data: \d+ extraneous bytes before marker 0xd9$/,
    );
    const image = await decode('jpeg', padded);
    expect(Buffer.from(image.data).equals(Buffer.from(turbo.decode(good).data))).toBe(true);
  });

  it('throws libjpeg fatal errors with their text and keeps working afterwards', () => {
    const png = readFixture('edge/broken/png-named.jpg');
    expect(() => turbo.decode(png)).toThrow(new TurboJpegError('Not a JPEG file: starts with 0x89 0x50'));
    expect(() => turbo.decode(readFixture('edge/unsupported/arithmetic.jpg'))).toThrow(
      'Sorry, arithmetic coding is not implemented',
    );
    expect(() => turbo.decode(new Uint8Array(0))).toThrow('tjDecompressHeader3(): Invalid argument');
    const after = turbo.decode(readFixture('edge/formats/1x1.jpg'));
    expect([after.width, after.height, after.warning]).toEqual([1, 1, undefined]);
  });

  it('rejects arithmetic-coded JPEG as an unsupported format, naming the coding', async () => {
    const error = (await decode('jpeg', readFixture('edge/unsupported/arithmetic.jpg')).catch(
      (e: unknown) => e,
    )) as InvalidImageError;
    expect(error.reason).toBe('unsupported-format');
    expect(error.message).toMatch(/^Arithmetic-coded JPEG is not supported/);
    expect(error.details).toMatchObject({ format: 'jpeg', coding: 'arithmetic' });
  });
});

/**
 * A copy of a JPEG whose quantisation tables are rewritten to 16-bit precision with values from a
 * seeded generator up to 65535: products of coefficient and quantiser then overflow 32 bits in
 * the IDCT, and out-of-range samples wrap through libjpeg's range-limit table. What a hostile
 * file can do to the arithmetic, with an otherwise valid structure.
 */
function withHugeQuantisers(jpeg: Uint8Array, seed: number): Uint8Array {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 8;
  };
  const parts: Buffer[] = [];
  let at = 2;
  let from = 0;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    const length = (jpeg[at + 2]! << 8) | jpeg[at + 3]!;
    if (marker === 0xda) break; // start of scan: the tables are all before it
    if (marker === 0xdb) {
      parts.push(Buffer.from(jpeg.subarray(from, at)));
      const tables: number[] = [];
      for (let p = at + 4; p < at + 2 + length; ) {
        const precision = jpeg[p]! >> 4;
        tables.push(0x10 | (jpeg[p]! & 0x0f));
        for (let i = 0; i < 64; i++) {
          const value = next() % 4 === 0 ? 65535 - (next() % 256) : 1 + (next() % 2000);
          tables.push(value >> 8, value & 0xff);
        }
        p += 1 + 64 * (precision ? 2 : 1);
      }
      parts.push(Buffer.from([0xff, 0xdb, (tables.length + 2) >> 8, (tables.length + 2) & 0xff, ...tables]));
      from = at + 2 + length;
    }
    at += 2 + length;
  }
  parts.push(Buffer.from(jpeg.subarray(from)));
  return new Uint8Array(Buffer.concat(parts));
}

describe("the JPEG decoder's WebAssembly SIMD routines (scripts/codecs/jpeg-turbo)", () => {
  const decodeWith = (routines: number, bytes: Uint8Array, shrink: 1 | 2 | 4 | 8) => {
    expect(turbo.useSimd(routines)).toBe(true);
    try {
      return turbo.decode(bytes, shrink);
    } finally {
      turbo.useSimd(7);
    }
  };
  const same = (a: { data: Uint8ClampedArray }, b: { data: Uint8ClampedArray }) =>
    Buffer.from(a.data).equals(Buffer.from(b.data));

  it.each([
    'bench/seeding-5312x2988.jpg',
    'photos/colour-fig-red-bowl.jpg',
    'photos/landscape-picos-de-europa.jpg',
    'edge/formats/progressive.jpg',
    'edge/formats/grayscale.jpg',
    'edge/formats/chroma-444.jpg',
    'edge/formats/1x1.jpg',
    'edge/broken/truncated-half.jpg',
  ])("decode %s to the bytes of libjpeg-turbo's C, and of @cwasm's build, at every scale", (path) => {
    const bytes = readFixture(path);
    for (const shrink of [1, 2, 4, 8] as const) {
      const simd = turbo.decode(bytes, shrink);
      expect(same(simd, decodeWith(0, bytes, shrink)), `1/${shrink}, C`).toBe(true);
      expect(same(simd, scalar.decode(bytes, shrink)), `1/${shrink}, @cwasm`).toBe(true);
    }
  });

  it('stay bit-identical when hostile quantisers overflow the IDCT arithmetic', () => {
    // Both IDCTs (8x8 at full size and for chroma at 1/2, 4x4 for luma at 1/2 and chroma at 1/4).
    for (const [path, seed] of [
      ['photos/colour-fig-red-bowl.jpg', 1],
      ['photos/portrait-friends-dogs.jpg', 2],
      ['edge/formats/chroma-444.jpg', 3],
    ] as const) {
      const hostile = withHugeQuantisers(readFixture(path), seed);
      for (const shrink of [1, 2, 4] as const) {
        const simd = turbo.decode(hostile, shrink);
        const c = decodeWith(0, hostile, shrink);
        // The file decodes (16-bit tables are legal), to mostly saturated samples.
        expect(simd.width).toBeGreaterThan(0);
        // (@cwasm's build of 2.0.4 gives other bytes for some of these files at full size: another
        // release and compiler, where the C arithmetic overflows; only our build is compared.)
        expect(same(simd, c), `${path} at 1/${shrink}`).toBe(true);
      }
    }
  });

  it("detect damaged scan data as @cwasm's scalar build does, and decode the rest to its pixels", () => {
    // Seeded byte damage in the entropy-coded data: an error or a warning (which the pipeline
    // refuses) exactly where @cwasm's build gives one. Where both warn, the pixels of the damaged
    // part may differ: libjpeg-turbo 2.1 fills in bad Huffman codes otherwise than 2.0.4 did
    // (our build without the 64-bit buffer patch gives the same pixels as with it).
    const good = readFixture('photos/portrait-friends-dogs.jpg');
    const scan = good.indexOf(Buffer.from([0xff, 0xda])) + 64;
    let state = 7;
    const next = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 8;
    };
    const outcome = (decoder: TurboJpeg, bytes: Uint8Array, shrink: 1 | 2 | 4) => {
      try {
        const image = decoder.decode(bytes, shrink);
        return { warned: image.warning !== undefined, pixels: Buffer.from(image.data) };
      } catch (error) {
        return { error: (error as Error).message };
      }
    };
    let warned = 0;
    for (let i = 0; i < 24; i++) {
      const bad = new Uint8Array(good);
      for (let n = 1 + (next() % 4); n > 0; n--)
        bad[scan + (next() % (bad.length - scan - 2))] = next() & 0xff;
      const shrink = ([1, 2, 4] as const)[i % 3]!;
      const ours = outcome(turbo, bad, shrink);
      const theirs = outcome(scalar, bad, shrink);
      expect(ours.error, `mutant ${i}`).toEqual(theirs.error);
      expect(ours.warned, `mutant ${i}`).toEqual(theirs.warned);
      if (ours.warned) warned++;
      else expect(ours.pixels?.equals(theirs.pixels!) ?? true, `mutant ${i} at 1/${shrink}`).toBe(true);
    }
    expect(warned).toBeGreaterThan(5); // the damage is real
  });

  it('each routine alone gives the same bytes as none (so none hides another)', () => {
    const bytes = readFixture('photos/portrait-friends-dogs.jpg');
    for (const shrink of [1, 2] as const) {
      const none = decodeWith(0, bytes, shrink);
      for (const routine of [1, 2, 4]) expect(same(decodeWith(routine, bytes, shrink), none)).toBe(true);
    }
  });
});

describe('a band of rows (tjDecompressRows, our build)', () => {
  /** A decode in two bands at `split`, as two threads do it (pipeline/process-image.ts). */
  function inBands(bytes: Uint8Array, shrink: 1 | 2 | 4 | 8, split: number, cmyk = false) {
    const whole = turbo.decode(bytes, shrink, cmyk);
    const top = turbo.decode(bytes, shrink, cmyk, { first: 0, count: split });
    const bottom = turbo.decode(bytes, shrink, cmyk, { first: split, count: whole.height - split });
    return { whole, top, bottom, rowBytes: whole.width * 4 };
  }

  function expectSameRows(bytes: Uint8Array, label: string, cmyk = false) {
    for (const shrink of [1, 2, 4, 8] as const) {
      const height = turbo.decode(bytes, shrink, cmyk).height;
      // iMCU boundaries (multiples of 8, 16, 32), rows inside one, and the first and last rows.
      const splits = [
        1,
        7,
        8,
        17,
        32,
        Math.floor(height / 2),
        Math.round((height * 0.6) / 32) * 32,
        height - 1,
      ];
      for (const split of new Set(splits.filter((row) => row > 0 && row < height))) {
        const { whole, top, bottom, rowBytes } = inBands(bytes, shrink, split, cmyk);
        const at = `${label} at 1/${shrink}, split at row ${split} of ${height}`;
        expect([top.width, top.height, bottom.height], at).toEqual([whole.width, split, height - split]);
        expect(Buffer.from(top.data).equals(Buffer.from(whole.data.subarray(0, split * rowBytes))), at).toBe(
          true,
        );
        expect(Buffer.from(bottom.data).equals(Buffer.from(whole.data.subarray(split * rowBytes))), at).toBe(
          true,
        );
        expect([top.warning, bottom.warning], at).toEqual([undefined, undefined]);
      }
    }
  }

  it.each(JPEG_FIXTURES)('gives the whole decode’s rows for %s at every scale and split', (path) => {
    expect(turbo.decodesRows).toBe(true);
    expectSameRows(readFixture(path), path);
  });

  it('gives the whole decode’s CMYK values for a YCCK JPEG', () => {
    expectSameRows(readFixture('edge/formats/cmyk.jpg'), 'cmyk.jpg', true);
  });

  const magick = hasTool('convert');
  it.skipIf(!magick)(
    'gives the whole decode’s rows for every chroma sampling (fancy upsampling needs rows above) and restart intervals',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'imgpipe-rows-'));
      try {
        const source = fixturePath('photos/portrait-friends-dogs.jpg');
        for (const [sampling, extra] of [
          ['4:2:0', []],
          ['4:2:2', []],
          ['4:4:0', []],
          ['4:1:1', []],
          ['4:2:0', ['-define', 'jpeg:restart-interval=3']],
        ] as const) {
          const out = join(dir, 'x.jpg');
          // 997 x 1498: not a multiple of any iMCU size.
          execFileSync('convert', [source, '-resize', '997x', '-sampling-factor', sampling, ...extra, out]);
          expectSameRows(new Uint8Array(readFileSync(out)), `${sampling} ${extra.join(' ')}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('fails where a whole decode fails: the bottom band reads the whole file, the top band its part', async () => {
    const good = readFixture('photos/portrait-friends-dogs.jpg');
    const height = turbo.decode(good, 2).height;
    const split = Math.round((height * 0.6) / 32) * 32;
    // Cut after 60% of the file: the damage is below the top band.
    const cut = good.slice(0, Math.floor(good.length * 0.6));
    const { whole, top, bottom, rowBytes } = inBands(cut, 2, split);
    expect(whole.warning).toBe('Premature end of JPEG file');
    expect(bottom.warning).toBe(whole.warning);
    expect(top.warning).toBeUndefined();
    expect(Buffer.from(bottom.data).equals(Buffer.from(whole.data.subarray(split * rowBytes)))).toBe(true);
    // Cut after 10%: both bands see it. decodeJpegRows rejects the warning as decode() does.
    const early = good.slice(0, Math.floor(good.length * 0.1));
    const failure = (run: Promise<unknown>) =>
      run.then(
        () => undefined,
        (error: unknown) => error as InvalidImageError,
      );
    const rejection = (await failure(decode('jpeg', early, 2)))!;
    for (const rows of [
      { first: 0, count: split },
      { first: split, count: height - split },
    ]) {
      const error = (await failure(decodeJpegRows(early, 2, rows)))!;
      expect(error).toBeInstanceOf(InvalidImageError);
      expect([error.reason, error.message]).toEqual([rejection.reason, rejection.message]);
    }
  });

  it('refuses rows outside the image, and keeps working', () => {
    const bytes = readFixture('photos/colour-fig-red-bowl.jpg');
    expect(() => turbo.decode(bytes, 2, false, { first: 500, count: 100 })).toThrow(
      'Cannot decode rows 500-599 of a 800x541 JPEG',
    );
    expect(() => scalar.decode(bytes, 2, false, { first: 0, count: 10 })).toThrow(/with this build/);
    expect(turbo.decode(bytes, 2, false, { first: 0, count: 541 }).height).toBe(541);
  });
});
