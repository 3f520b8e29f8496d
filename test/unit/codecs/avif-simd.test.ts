import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as simdAvif from '../../../src/codecs/avif-simd.ts';
import { decode, encode, resize } from '../../../src/codecs/index.ts';
import { compileWasm } from '../../../src/codecs/wasm.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import type { RawImage } from '../../../src/image/raw.ts';
import { REPO_ROOT } from '../../support/cli.ts';
import { readFixture } from '../../support/fixtures.ts';
import { hasTool } from '../../support/tools.ts';

/** The av1C box's chroma subsampling flags: 4:2:0 is [1, 1], 4:4:4 is [0, 0]. */
function av1Subsampling(avif: Uint8Array): [number, number] {
  const at = Buffer.from(avif).indexOf('av1C');
  if (at < 0) throw new Error('no av1C box');
  const flags = avif[at + 4 + 2]!;
  return [(flags >> 3) & 1, (flags >> 2) & 1];
}

/** Number of AV1 image items: two when an alpha plane was written. */
const av01Items = (avif: Uint8Array) => Buffer.from(avif).toString('latin1').split('av01').length - 1;

describe('the SIMD AVIF encoder (avif_enc_simd.wasm)', () => {
  let photo: RawImage;
  beforeAll(async () => {
    await simdAvif.init(await compileWasm('avifEnc'));
    const full = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'), 4);
    photo = await resize(full, 200, 135, { method: 'lanczos3', linearRGB: false, premultiply: false });
  });

  it('takes jSquash’s options: 4:2:0 and 4:4:4 as asked, and quality spends bytes', async () => {
    const q50 = new Uint8Array(await simdAvif.encode(photo, { quality: 50, speed: 8, subsample: 1 }));
    const q80 = new Uint8Array(await simdAvif.encode(photo, { quality: 80, speed: 8, subsample: 1 }));
    const full = new Uint8Array(await simdAvif.encode(photo, { quality: 50, speed: 8, subsample: 3 }));
    expect(av1Subsampling(q50)).toEqual([1, 1]);
    expect(av1Subsampling(full)).toEqual([0, 0]);
    expect(q80.length).toBeGreaterThan(q50.length);
    const back = await decode('avif', q80);
    expect([back.width, back.height]).toEqual([200, 135]);
  });

  it('is lossless at quality 100 (4:4:4, identity matrix): the pixels come back exactly', async () => {
    const avif = await simdAvif.encode(photo, { lossless: true, speed: 9 });
    const back = await decode('avif', new Uint8Array(avif));
    expect(Buffer.from(back.data).equals(Buffer.from(photo.data))).toBe(true);
  });

  it('writes an alpha plane only when some pixel is not opaque, as libavif does', async () => {
    const opaque = new Uint8Array(await simdAvif.encode(photo, { speed: 9 }));
    const holed = { ...photo, data: new Uint8ClampedArray(photo.data) };
    for (let i = 3; i < 4 * 200 * 20; i += 4) holed.data[i] = 0; // the top 20 rows transparent
    const withAlpha = new Uint8Array(await simdAvif.encode(holed, { speed: 9 }));
    expect([av01Items(opaque), av01Items(withAlpha)]).toEqual([1, 2]);
    // The alpha plane is coded lossily at the colour's quality (qualityAlpha -1), as in jSquash.
    const back = await decode('avif', withAlpha);
    expect(back.data[3]).toBeLessThanOrEqual(2);
    expect(back.data[4 * 200 * 30 + 3]).toBeGreaterThanOrEqual(250);
  });

  it('refuses what this build cannot do (4:0:0, sharp YUV) instead of ignoring it', async () => {
    await expect(simdAvif.encode(photo, { subsample: 0 })).rejects.toThrow('Encoding error.');
    await expect(simdAvif.encode(photo, { enableSharpYUV: true })).rejects.toThrow('Encoding error.');
  });

  it('encodes with AVIF_THREADS aom threads: the others wait, loaded, in its pool; init() again ends them', async () => {
    expect(simdAvif.AVIF_THREADS).toBe(2);
    const module = await compileWasm('avifEnc');
    const first = await simdAvif.init(module);
    expect(first.PThread.unusedWorkers).toHaveLength(simdAvif.AVIF_THREADS - 1);
    const [worker] = first.PThread.unusedWorkers;
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    const second = await simdAvif.init(module);
    await exited; // the previous instance's thread is gone, not left running beside the new one
    expect(second.PThread.unusedWorkers).toHaveLength(simdAvif.AVIF_THREADS - 1);
    expect((await simdAvif.encode(photo, { speed: 9 })).byteLength).toBeGreaterThan(0);
    // The thread went back to the pool once the encode joined it.
    expect(second.PThread.unusedWorkers).toHaveLength(simdAvif.AVIF_THREADS - 1);
    expect(second.PThread.runningWorkers).toHaveLength(0);
  });

  it('lets the process end once it is idle: its thread Workers are unreferenced', () => {
    const source = pathToFileURL(join(REPO_ROOT, 'src/codecs/avif-simd.ts')).href;
    const wasm = pathToFileURL(join(REPO_ROOT, 'src/codecs/wasm.ts')).href;
    const script = `
      const simd = await import(${JSON.stringify(source)});
      const { compileWasm } = await import(${JSON.stringify(wasm)});
      await simd.init(await compileWasm('avifEnc'));
      const image = { width: 64, height: 64, data: new Uint8ClampedArray(64 * 64 * 4).fill(200) };
      const bytes = await simd.encode(image, { speed: 9 });
      console.log('encoded', bytes.byteLength);`;
    // A Worker left referenced would keep the child alive until the timeout kills it (and throws).
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(out).toMatch(/^encoded \d+$/m);
  });

  it('is the pipeline’s AVIF encoder, with the pipeline’s options', async () => {
    const { formatOptions } = parsePipelineConfig({ formats: { avif: { quality: 60, speed: 8 } } });
    const viaPipeline = await encode('avif', photo, formatOptions);
    const direct = new Uint8Array(await simdAvif.encode(photo, { quality: 60, speed: 8, subsample: 1 }));
    expect(Buffer.from(viaPipeline).equals(Buffer.from(direct))).toBe(true);
  });
});

/**
 * The same encoder code (scripts/codecs/avif-simd/avif_encode.h) built natively against the
 * system's libheif 1.15.1 and libaom 3.6.0 (x86 assembly, AVX2): libaom's SIMD is bit-exact with its
 * C code, so the WebAssembly SIMD build must write the same bytes. Needs g++ and libheif-dev
 * (.ci/run installs them).
 */
describe('the SIMD AVIF encoder against native libaom', () => {
  const native = hasTool('g++') && hasLibheifDev();
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-avif-native-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!native)(
    'writes the same bytes at speeds 6 and 9, 4:2:0 and 4:4:4, qualities 30 and 75, with 1 to 4 threads',
    async () => {
      const module = await compileWasm('avifEnc');
      const binary = join(dir, 'avif-encode');
      const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libheif'], { encoding: 'utf8' })
        .trim()
        .split(/\s+/);
      execFileSync('g++', [
        '-O2',
        '-std=c++17',
        join(REPO_ROOT, 'bench/native/avif-encode.cpp'),
        ...flags,
        '-o',
        binary,
      ]);
      const full = await decode('jpeg', readFixture('photos/texture-life-forest-stream.jpg'), 4);
      const image = await resize(full, 256, 170, {
        method: 'lanczos3',
        linearRGB: false,
        premultiply: false,
      });
      writeFileSync(join(dir, 'image.rgba'), image.data);
      const encoders = new Map<number, simdAvif.AvifSimdEncoder>();
      for (const threads of [1, 2, 3, 4])
        encoders.set(threads, new simdAvif.AvifSimdEncoder(module, threads));
      try {
        for (const [speed, subsample, quality] of [
          [6, 1, 75],
          [9, 3, 30],
        ] as const) {
          const outputs = new Map<number, Buffer>();
          for (const [threads, encoder] of encoders) {
            const out = join(dir, `native-${speed}-${threads}.avif`);
            const args = [`${quality}`, `${speed}`, `${subsample}`, '1', out, `${threads}`];
            execFileSync(binary, [join(dir, 'image.rgba'), `${image.width}`, `${image.height}`, ...args]);
            const wasm = Buffer.from(await encoder.encode(image, { quality, speed, subsample }));
            const setting = `speed ${speed}, subsample ${subsample}, quality ${quality}, ${threads} threads`;
            expect(wasm.equals(readFileSync(out)), setting).toBe(true);
            outputs.set(threads, wasm);
          }
          // libaom writes other bytes with one thread than with several (here at speed 6; at speed
          // 9 this image comes out the same), and 2, 3 and 4 threads agree: the pipeline fixes the
          // count rather than following the CPUs.
          if (speed === 6) expect(outputs.get(1)!.equals(outputs.get(2)!)).toBe(false);
          expect(outputs.get(3)!.equals(outputs.get(2)!)).toBe(true);
          expect(outputs.get(4)!.equals(outputs.get(2)!)).toBe(true);
          // The pipeline's encoder (init(), AVIF_THREADS) is the 2-thread one.
          await simdAvif.init(module);
          expect(
            Buffer.from(await simdAvif.encode(image, { quality, speed, subsample })).equals(outputs.get(2)!),
          ).toBe(true);
        }
      } finally {
        await Promise.all([...encoders.values()].map((encoder) => encoder.terminate()));
      }
    },
    180_000,
  );
});

/** libheif-dev is there, with the versions the module is built from (Debian bookworm's). */
function hasLibheifDev(): boolean {
  let versions: string[];
  try {
    versions = ['libheif', 'aom'].map((lib) =>
      execFileSync('pkg-config', ['--modversion', lib], { encoding: 'utf8' }).trim(),
    );
  } catch {
    if (process.env.IMGPIPE_REQUIRE_TOOLS === '1')
      throw new Error(
        'libheif-dev is required (IMGPIPE_REQUIRE_TOOLS=1) but is not installed; .ci/run installs it',
      );
    console.warn('[skip] libheif-dev is not installed: the native libaom comparison is skipped');
    return false;
  }
  if (versions[0] !== '1.15.1' || !versions[1]!.startsWith('3.6.0')) {
    // Another libaom makes other choices: the comparison means something only for the same version.
    console.warn(`[skip] native libheif ${versions[0]} / libaom ${versions[1]} are not 1.15.1 / 3.6.0`);
    return false;
  }
  return true;
}
