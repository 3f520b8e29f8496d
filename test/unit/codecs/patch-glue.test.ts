import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGlue } from '../../../scripts/build.ts';
import { REPO_ROOT } from '../../support/cli.ts';

/**
 * scripts/patch-glue.mjs: emscripten's embind copies a typed array into a std::string argument a
 * byte at a time; the script makes it one TypedArray.set. The copy it replaces is taken from the
 * glue itself, run before and after on the same inputs.
 */
const script = join(REPO_ROOT, 'scripts', 'patch-glue.mjs');
const dir = mkdtempSync(join(tmpdir(), 'imgpipe-glue-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The std::string branch of embind's toWireType, as jSquash's glue has it (unpatched). */
const LOOP = 'for(var i=0;i<length;++i){HEAPU8[ptr+i]=value[i]}';
const GLUE = `function copy(HEAPU8,ptr,value,valueIsOfTypeString){var length=value.length;if(valueIsOfTypeString){for(var i=0;i<length;++i){HEAPU8[ptr+i]=value.charCodeAt(i)}}else{${LOOP}}}`;

function patch(...files: string[]) {
  return spawnSync(process.execPath, [script, ...files], { encoding: 'utf8' });
}

describe('patch-glue', () => {
  it('replaces the copy loop with one TypedArray.set that writes the same bytes', () => {
    const file = join(dir, 'glue.js');
    writeFileSync(file, GLUE);
    expect(patch(file).status).toBe(0);
    const patched = readFileSync(file, 'utf8');
    expect(patched).not.toContain(LOOP);
    expect(patched).toContain('HEAPU8.set(value,ptr)');
    // Both versions, on every kind of typed array embind accepts for std::string.
    const unpatched = new Function(`${GLUE}; return copy;`)();
    const patchedCopy = new Function(`${patched}; return copy;`)();
    const inputs = [
      Uint8ClampedArray.from([0, 1, 128, 255, 7]),
      Uint8Array.from([9, 200, 0]),
      Int8Array.from([-1, -128, 127, 0]),
    ];
    for (const input of inputs) {
      const a = new Uint8Array(16).fill(0xaa);
      const b = new Uint8Array(16).fill(0xaa);
      unpatched(a, 3, input, false);
      patchedCopy(b, 3, input, false);
      expect([...b]).toEqual([...a]);
    }
    // The string branch is left as it was.
    const a = new Uint8Array(8);
    patchedCopy(a, 1, 'ab', true);
    expect([...a.subarray(0, 3)]).toEqual([0, 97, 98]);
  });

  it('leaves a patched file as it is and refuses a file with no embind copy at all', () => {
    const file = join(dir, 'twice.js');
    writeFileSync(file, GLUE);
    patch(file);
    const once = readFileSync(file, 'utf8');
    expect(patch(file).status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(once);
    const other = join(dir, 'other.js');
    writeFileSync(other, 'module.exports = 1;');
    const refused = patch(other);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${other}: no std::string copy loop of emscripten's embind`);
  });

  it('has patched the installed jSquash glue (npm postinstall)', () => {
    const require = createRequire(import.meta.url);
    const files = [
      '@jsquash/webp/codec/enc/webp_enc_simd.js',
      '@jsquash/webp/codec/dec/webp_dec.js',
      '@jsquash/jpeg/codec/enc/mozjpeg_enc.js',
      '@jsquash/avif/codec/dec/avif_dec.js',
      '@jsquash/avif/codec/enc/avif_enc.js',
    ].map((name) => require.resolve(name));
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      // Tested, not matched: a failure should name the file, not print a megabyte of glue.
      expect(/\[ptr(\+4)?\+i\]=value\[i\]/.test(text), `${file} copies byte by byte`).toBe(false);
      expect(/(HEAPU8|GROWABLE_HEAP_U8\(\))\.set\(value,ptr(\+4)?\)/.test(text), file).toBe(true);
    }
    // Running it again over node_modules changes nothing.
    expect(execFileSync(process.execPath, [script], { encoding: 'utf8' })).toContain('already patched');
  });

  it('is what the image build checks: a bundle with the loop is refused, a patched one passes', async () => {
    const out = mkdtempSync(join(dir, 'dist-'));
    writeFileSync(join(out, 'index.mjs'), GLUE);
    await expect(checkGlue(out)).rejects.toThrow(/index\.mjs copies codec inputs byte by byte/);
    patch(join(out, 'index.mjs'));
    await expect(checkGlue(out)).resolves.toBeUndefined();
  });
});
