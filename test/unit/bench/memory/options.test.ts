/**
 * `npm run bench -- memory`'s flags. Every case has a bad --phases after the --sizes under test:
 * the flags are checked before anything is measured, so a --sizes that passed would be reported
 * as the --phases error, and nothing here runs a measurement.
 */
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

  it('accepts two sizes of different pixel counts (and then checks the next flag)', async () => {
    expect(await main(['--sizes', '400x300,600x400', '--phases', 'none'])).toBe(2);
    expect(stderr).toMatch(/--phases takes .* received none/);
  });
});
