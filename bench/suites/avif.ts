import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as jsquashAvif from '@jsquash/avif/encode.js';
import * as simdAvif from '../../src/codecs/avif-simd.ts';
import { compileWasm } from '../../src/codecs/wasm.ts';
import type { RawImage } from '../../src/image/raw.ts';

/**
 * One AVIF encode at equal settings in four encoders: the 1600x900 centre crop of the bench photo
 * (resized to 1600 wide), quality 50, speed 6 (aom cpu-used 6), tune SSIM, 4:2:0; one thread, and
 * two for ours and native aom (the pipeline encodes with AVIF_THREADS = 2).
 *
 * - our SIMD module (avif_enc_simd.wasm: libaom 3.6.0 + libheif 1.15.1, WebAssembly SIMD, threads
 *   as emscripten pthreads);
 * - jSquash's scalar module (libaom 3.7.0 + libavif 1.0.1, no SIMD), the encoder we had before;
 * - native aom: the same encoder code (scripts/codecs/avif-simd/avif_encode.h) compiled natively
 *   against the system's libheif and libaom (Debian: 1.15.1 and 3.6.0, with assembly and AVX2),
 *   so the same versions and settings as the SIMD module: it must write the same bytes;
 * - sharp (libheif 1.23 + aom 3.15, native), effort 3, tune ssim: the peer of J1.
 *
 * CPU time (of every thread) and wall time of the encode alone, runs interleaved, median. The
 * native build needs g++ and libheif-dev (`apt-get install g++ libheif-dev pkg-config`); without
 * them its rows are skipped.
 */
const NATIVE_SOURCE = fileURLToPath(new URL('../native/avif-encode.cpp', import.meta.url));
const run = promisify(execFile);

export interface AvifEncodeRow {
  readonly encoder: string;
  /** aom threads. */
  readonly threads: number;
  readonly cpuMs: number[];
  readonly wallMs: number[];
  readonly bytes: number;
  /** Same bytes as the SIMD module's output with the same thread count. */
  readonly sameAsSimd: boolean;
}

export const SIMD_ONE_THREAD = 'imgpipe SIMD (libaom 3.6.0, WASM SIMD), 1 thread';
export const SIMD_TWO_THREADS = 'imgpipe SIMD (libaom 3.6.0, WASM SIMD), 2 threads (the pipeline)';
export const NATIVE_ONE_THREAD = 'native aom 3.6.0 (same code, x86-64 AVX2), 1 thread';
export const NATIVE_TWO_THREADS = 'native aom 3.6.0 (same code, x86-64 AVX2), 2 threads';

export const AVIF_SETTINGS = { quality: 50, speed: 6, subsample: 1, tune: 2 } as const;

export async function avifEncodeComparison(image: RawImage, runs: number): Promise<AvifEncodeRow[]> {
  const module = await compileWasm('avifEnc');
  const simd1 = new simdAvif.AvifSimdEncoder(module, 1);
  const simd2 = new simdAvif.AvifSimdEncoder(module, 2);
  await Promise.all([simd1.ready, simd2.ready]);
  await jsquashAvif.init(await compileWasm('avifEncScalar'));
  const { default: sharp } = await import('sharp');
  sharp.concurrency(1);
  sharp.cache(false);
  const native = await nativeEncoder(image);
  type Timed = { cpu: number; wall: number; bytes: Uint8Array };
  const timed = async (encode: () => Promise<Uint8Array>): Promise<Timed> => {
    const before = process.cpuUsage();
    const started = performance.now();
    const bytes = await encode();
    const used = process.cpuUsage(before);
    return { cpu: (used.user + used.system) / 1000, wall: performance.now() - started, bytes };
  };
  const encoders: [string, number, () => Promise<Timed>][] = [
    [SIMD_ONE_THREAD, 1, () => timed(async () => new Uint8Array(await simd1.encode(image, AVIF_SETTINGS)))],
    [SIMD_TWO_THREADS, 2, () => timed(async () => new Uint8Array(await simd2.encode(image, AVIF_SETTINGS)))],
    [
      'jSquash (libaom 3.7.0, WASM scalar)',
      1,
      () => timed(async () => new Uint8Array(await jsquashAvif.default(image as never, AVIF_SETTINGS))),
    ],
    [
      'sharp (aom 3.15.1 native, effort 3, tune ssim)',
      1,
      () =>
        timed(async () =>
          sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
            raw: { width: image.width, height: image.height, channels: 4 },
          })
            .avif({ quality: 50, effort: 3, chromaSubsampling: '4:2:0', tune: 'ssim' })
            .toBuffer(),
        ),
    ],
  ];
  if (native)
    encoders.push([NATIVE_ONE_THREAD, 1, () => native(1)], [NATIVE_TWO_THREADS, 2, () => native(2)]);
  const results = new Map<string, { threads: number; cpu: number[]; wall: number[]; bytes: Uint8Array }>();
  for (let i = 0; i <= runs; i++) {
    for (const [name, threads, encode] of encoders) {
      const { cpu, wall, bytes } = await encode();
      if (i === 0) continue; // warm-up
      const entry = results.get(name) ?? { threads, cpu: [], wall: [], bytes };
      entry.cpu.push(cpu);
      entry.wall.push(wall);
      results.set(name, entry);
    }
  }
  await Promise.all([simd1.terminate(), simd2.terminate()]);
  const simdBytes = (threads: number) =>
    results.get(threads === 1 ? SIMD_ONE_THREAD : SIMD_TWO_THREADS)!.bytes;
  return [...results].map(([encoder, { threads, cpu, wall, bytes }]) => ({
    encoder,
    threads,
    cpuMs: cpu,
    wallMs: wall,
    bytes: bytes.length,
    sameAsSimd: Buffer.compare(Buffer.from(bytes), Buffer.from(simdBytes(threads))) === 0,
  }));
}

/** The native build of avif_encode.h, or undefined (with the reason printed) where it cannot be built. */
async function nativeEncoder(image: RawImage) {
  const dir = await mkdtemp(join(tmpdir(), 'imgpipe-avif-native-'));
  const binary = join(dir, 'avif-encode');
  try {
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libheif'], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    await run('g++', ['-O2', '-std=c++17', NATIVE_SOURCE, ...flags, '-o', binary]);
  } catch (error) {
    console.warn(
      `[skip] native aom row: cannot build bench/native/avif-encode.cpp (${(error as Error).message.split('\n')[0]}); apt-get install g++ libheif-dev pkg-config`,
    );
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const rgba = join(dir, 'image.rgba');
  await writeFile(rgba, image.data);
  const out = join(dir, 'out.avif');
  const { quality, speed, subsample } = AVIF_SETTINGS;
  process.on('exit', () => execFileSync('rm', ['-rf', dir]));
  return async (threads: number) => {
    const args = [rgba, image.width, image.height, quality, speed, subsample, 1, out, threads].map(String);
    const { stdout } = await run(binary, args);
    const [cpu, wall] = stdout.trim().split(' ').map(Number) as [number, number];
    return { cpu, wall, bytes: new Uint8Array(await readFile(out)) };
  };
}
