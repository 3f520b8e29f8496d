import { describe, expect, it } from 'vitest';
import { sniffFormat } from '../../../src/image/sniff.ts';
import { FIXTURES, readFixture } from '../../support/fixtures.ts';

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
  });

  it('names text, HTML and SVG', () => {
    expect(sniffFormat(Buffer.from('\uFEFF  <svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe('svg');
    expect(sniffFormat(Buffer.from('<!DOCTYPE html><html></html>'))).toBe('html');
    expect(sniffFormat(Buffer.from('just words\n'))).toBe('text');
    expect(sniffFormat(new Uint8Array([0, 1, 2, 3, 200, 201]))).toBe('unknown');
  });
});
