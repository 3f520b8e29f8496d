/**
 * `npm run bench -- memory`'s flags. Every case has a bad --phases after the --sizes under test:
 * the flags are checked before anything is measured, so a --sizes that passed would be reported
 * as the --phases error, and nothing here runs a measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../../bench/memory/main.ts';

let stderr: string;
beforeEach(() => {
  stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('npm run bench -- memory --sizes', () => {
  it('refuses two sizes of the same pixel count, naming them: the slope between them is 0 / 0', async () => {
    expect(await main(['--sizes', '4000x3000,3000x4000', '--phases', 'none'])).toBe(2);
    expect(stderr).toMatch(
      /--sizes takes two sizes of different pixel counts .* received 4000x3000,3000x4000/,
    );
    expect(await main(['--sizes', '4000x3000,4000x3000', '--phases', 'none'])).toBe(2);
    expect(stderr).toMatch(/12,000,000 pixels each/);
  });

  it('refuses a size that is not in whole pixels, naming it', async () => {
    for (const sizes of ['4000.5x3000,6000x4000', '4000x3000,6000x4000x2', '4000x3000,1e4x4000']) {
      stderr = '';
      expect(await main(['--sizes', sizes, '--phases', 'none'])).toBe(2);
      expect(stderr).toContain(
        `--sizes takes two WxH sizes in whole pixels, e.g. 4000x3000,6000x4000; received ${sizes}`,
      );
    }
  });

  it('refuses a side WebP cannot encode, naming the size, before making any image', async () => {
    expect(await main(['--sizes', '4000x3000,100000x100000', '--phases', 'none'])).toBe(2);
    expect(stderr).toContain(
      "--sizes takes sides of at most 16383 pixels (WebP's largest, one of the formats measured); received 100000x100000 in 4000x3000,100000x100000",
    );
    stderr = '';
    expect(await main(['--sizes', '16384x100,16383x200', '--phases', 'none'])).toBe(2);
    expect(stderr).toContain('received 16384x100 in');
    stderr = '';
    expect(await main(['--sizes', '16383x100,16383x200', '--phases', 'none'])).toBe(2);
    expect(stderr).toMatch(/--phases takes .* received "none"/);
  });

  it('names the list and its empty item when --phases ends with a comma', async () => {
    expect(await main(['--sizes', '400x300,600x400', '--phases', 'decode,'])).toBe(2);
    expect(stderr).toContain('received "decode,", whose empty item is none of them');
  });

  it('accepts two sizes of different pixel counts (and then checks the next flag)', async () => {
    expect(await main(['--sizes', '400x300,600x400', '--phases', 'none'])).toBe(2);
    expect(stderr).toMatch(/--phases takes .* received "none"/);
  });
});

describe('npm run bench -- memory --images and --out', () => {
  it('refuses an empty folder (an unset variable), naming the flag', async () => {
    // --images '' died of "ENOENT: no such file or directory, mkdir ''" with a stack trace.
    for (const flag of ['--images', '--out']) {
      stderr = '';
      expect(await main([flag, '', '--phases', 'none'])).toBe(2);
      expect(stderr).toContain(`npm run bench -- memory: ${flag} takes a folder; received ""`);
    }
  });
});

describe('npm run bench -- memory without the tools that make its inputs', () => {
  it('names the missing tool and its package, with exit status 1, instead of a stack trace', async () => {
    // The synthetic inputs are made with ImageMagick, cwebp, avifenc and heif-enc: without one,
    // the suite died of an unhandled "spawn cwebp ENOENT" with a Node stack trace.
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-memory-test-'));
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-tools-here');
    try {
      const code = await main([
        '--sizes',
        '40x30,60x40',
        '--phases',
        'decode',
        '--only',
        '^jpeg 4:2:0$',
        '--images',
        join(dir, 'images'),
        '--out',
        join(dir, 'out'),
      ]);
      expect(stderr).toMatch(
        /^npm run bench -- memory: \S*convert was not found \(is it installed\? Debian: imagemagick\)/,
      );
      expect(code).toBe(1);
    } finally {
      process.env.PATH = path;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
