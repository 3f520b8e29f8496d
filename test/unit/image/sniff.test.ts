import { describe, expect, it } from 'vitest';
import { sniffFormat } from '../../../src/image/sniff.ts';
import { FIXTURES, readFixture } from '../../support/fixtures.ts';
import { inFreshProcess } from '../../support/fresh.ts';

describe('sniffFormat', () => {
  it.each(FIXTURES.map((f) => [f.path, f.format] as const))(
    'recognises %s as %s by content',
    (path, format) => {
      const expected = format === 'empty' || format === null ? 'unknown' : format;
      expect(sniffFormat(readFixture(path))).toBe(expected);
    },
  );

  it('ignores the extension: a PNG named .jpg is a PNG', () => {
    expect(sniffFormat(readFixture('edge/broken/png-named.jpg'))).toBe('png');
  });

  it('tells AVIF from HEIC by the ftyp brands', () => {
    const ftyp = (major: string, ...compatible: string[]) =>
      new Uint8Array(
        Buffer.concat([
          Buffer.from([0, 0, 0, 16 + 4 * compatible.length]),
          Buffer.from(`ftyp${major}\0\0\0\0${compatible.join('')}`),
        ]),
      );
    expect(sniffFormat(ftyp('mif1', 'mif1', 'avif'))).toBe('avif');
    expect(sniffFormat(ftyp('heic', 'mif1', 'heic'))).toBe('heic');
    expect(sniffFormat(ftyp('isom', 'mp41'))).toBe('unknown');
    expect(sniffFormat(ftyp('isom', 'mp41', 'heic', 'avis'))).toBe('avif');
  });

  it('names text, HTML and SVG', () => {
    expect(sniffFormat(Buffer.from('\uFEFF  <svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe('svg');
    expect(sniffFormat(Buffer.from('<!DOCTYPE html><html></html>'))).toBe('html');
    expect(sniffFormat(Buffer.from('just words\n'))).toBe('text');
    expect(sniffFormat(new Uint8Array([0, 1, 2, 3, 200, 201]))).toBe('unknown');
  });

  it('reads a 32 MB ftyp box of brands without listing them', async () => {
    // The box's size is the file's word: one ftyp box of the whole upload (maxBytes' default) made
    // a list of 8 million brands, 478 MiB, before any limit was checked.
    const { result, peakRssBytes } = await inFreshProcess<{ format: string; readyRssBytes: number }>(
      { sniffFormat: 'src/image/sniff.ts' },
      `const bytes = Buffer.alloc(32 * 1024 * 1024, 0x61);
       bytes.writeUInt32BE(0xffffffff, 0);
       bytes.write('ftypisom', 4, 'latin1');
       const readyRssBytes = process.memoryUsage().rss;
       return { format: sniffFormat(bytes), readyRssBytes };`,
    );
    expect(result.format).toBe('unknown');
    expect(peakRssBytes - result.readyRssBytes).toBeLessThan(64 * 1024 * 1024);
  });
});
