import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { archiveStarts, archiveStartsIn } from '../../../src/handlers/scanner.ts';
import { chunksFrom, type Reassembled } from '../../../src/scan/reassemble.ts';

/** A joined part of `data` cut into pieces of the sizes given, cycled. */
function part(data: Uint8Array, sizes: number[]): Reassembled {
  const chunks: Uint8Array[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(data.subarray(at, at + size));
    at += size;
  }
  return { name: 'test', offset: 0, pieces: chunks.length, chunks, bytes: data.length };
}

describe('archive headers in a joined payload, searched piece by piece', () => {
  it('finds what a search of the joined bytes finds, headers across pieces included', () => {
    const gz = gzipSync('nothing to see');
    const data = Buffer.concat([Buffer.from('junk'), gz, Buffer.from('x'), gz, Buffer.alloc(300), gz]);
    const joined = archiveStarts(data, 64);
    expect(joined.map((s) => s.offset)).toEqual([4, 5 + gz.length, 305 + 2 * gz.length]);
    for (const sizes of [[1], [2, 3], [4, 300], [5], [6, 255], [7, 1, 9], [data.length]])
      expect(archiveStartsIn(part(data, sizes), 64), JSON.stringify(sizes)).toEqual(joined);
  });

  it('gives the chunks from an offset of the joined part', () => {
    const data = Buffer.from('abcdefghij');
    const joined = part(data, [3]);
    for (let offset = 0; offset <= data.length; offset++)
      expect(Buffer.concat(chunksFrom(joined, offset)).toString()).toBe(data.subarray(offset).toString());
  });
});
