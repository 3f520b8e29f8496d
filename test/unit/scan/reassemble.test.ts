import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { archiveStarts, archiveStartsIn } from '../../../src/handlers/scanner.ts';
import { chunksFrom, type Reassembled, reassembledContent } from '../../../src/scan/reassemble.ts';

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
      expect(Buffer.concat([...chunksFrom(joined, offset)]).toString()).toBe(
        data.subarray(offset).toString(),
      );
  });
});

describe('a container’s payload over many pieces', () => {
  it('joins a GIF’s image data of a million sub-blocks, as a GIF of 2 MB has', () => {
    // Header, a logical screen of 1x1 without a colour table, an image descriptor, the LZW code
    // size, a million sub-blocks of one byte, the terminator and the trailer. Joined with a
    // spread over the pieces (Math.min(...offsets)), it threw "Maximum call stack size exceeded".
    const count = 1_000_000;
    const blocks = Buffer.alloc(2 * count);
    for (let i = 0; i < count; i++) blocks.set([1, i & 0xff], 2 * i);
    const gif = Buffer.concat([
      Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00', 'latin1'),
      Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2]),
      blocks,
      Buffer.from([0, 0x3b]),
    ]);
    const [data] = reassembledContent(gif).parts;
    expect(data).toMatchObject({ name: 'the GIF image data', offset: 25, pieces: count, bytes: count });
    let total = 0;
    for (const chunk of data!.chunks) total += chunk.length;
    expect(total).toBe(count);
  });
});
