import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/codecs/index.ts';
import { decodeCost } from '../../../src/codecs/memory.ts';
import { diagnosePng } from '../../../src/codecs/png-check.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { inFreshProcess } from '../../support/fresh.ts';
import { pngChunk, pngChunks } from '../../support/fuzz.ts';
import { writePng } from '../../support/png.ts';

/**
 * The PNG decoder's glue throws "`unwrap_throw` failed" for every file it refuses (src/codecs/
 * png-check.ts): each refusal here must instead name its fault, through the real decoder.
 */

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const WIDTH = 300;
const HEIGHT = 200;
// Grey, 8-bit, not interlaced: 200 rows of a filter byte and 300 samples.
const ROWS_BYTES = HEIGHT * (1 + WIDTH);
const source = writePng(WIDTH, HEIGHT, { pixel: (x, y) => [(x * 7 + y * 3) & 0xff] });

/** The PNG with its IDAT data replaced (its CRC computed, so only the data is at fault). */
function withData(png: Uint8Array, data: Uint8Array): Uint8Array {
  const { chunks } = pngChunks(png);
  const parts = chunks.map((c) => pngChunk(c.type, c.type === 'IDAT' ? data : c.data));
  return Buffer.concat([SIGNATURE, ...parts]);
}

const idatOf = (png: Uint8Array) => pngChunks(png).chunks.find((c) => c.type === 'IDAT')!.data;

async function refusal(bytes: Uint8Array): Promise<InvalidImageError> {
  const error = await decode('png', bytes).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidImageError);
  return error as InvalidImageError;
}

describe('a PNG the decoder refuses is refused in words that name the fault', () => {
  it('a chunk whose CRC does not match, with both values', async () => {
    const bytes = Buffer.from(source);
    const at = Buffer.from(bytes).indexOf('IDAT') + 40; // inside the data, CRC left as it was
    bytes[at] = bytes[at]! ^ 0xff;
    const error = await refusal(bytes);
    expect(error.message).toMatch(
      /^The png decoder rejected the file: its IDAT chunk at byte 33 fails its CRC check \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/,
    );
    expect(error.reason).toBe('corrupt');
  });

  it('image data that is not a zlib stream', async () => {
    const data = Buffer.from(idatOf(source));
    data[0] = 0x79; // a compression method zlib does not know
    const error = await refusal(withData(source, data));
    expect(error.message).toMatch(
      /^The png decoder rejected the file: its image data \(IDAT\) is not a valid zlib stream: /,
    );
    expect(error.reason).toBe('corrupt');
  });

  it('a zlib stream cut short, with how much of the rows it holds', async () => {
    const data = idatOf(source);
    const cut = data.subarray(0, data.length - 200);
    const error = await refusal(withData(source, cut));
    expect(error.message).toMatch(
      new RegExp(
        `^The png decoder rejected the file: its image data \\(IDAT\\) is truncated: it inflates to \\d+ of the ${ROWS_BYTES} bytes its rows need$`,
      ),
    );
    expect(error.reason).toBe('truncated');
  });

  it('a complete stream with fewer rows than the header says, counted pass by pass when interlaced', async () => {
    // 5x3 grey, Adam7: passes of 1x1, 1x1, none, 1x1, 3x1, 2x2 and 5x1 pixels, each row with its
    // filter byte: 2 + 2 + 2 + 4 + 3 + 3 + 6 = 22 bytes.
    const ihdr = Buffer.from([0, 0, 0, 5, 0, 0, 0, 3, 8, 0, 0, 0, 1]);
    const png = (rows: Uint8Array) =>
      Buffer.concat([
        SIGNATURE,
        pngChunk('IHDR', ihdr),
        pngChunk('IDAT', deflateSync(rows)),
        pngChunk('IEND', new Uint8Array(0)),
      ]);
    expect((await decode('png', png(new Uint8Array(22)))).height).toBe(3); // all of it: decodes
    const error = await refusal(png(new Uint8Array(10)));
    expect(error.message).toBe(
      'The png decoder rejected the file: its image data (IDAT) is truncated: it inflates to 10 of the 22 bytes its rows need',
    );
  });

  it('names nothing, and throws nothing, for a cut stream that holds more than the rows need', async () => {
    // 1x1 grey needs 2 bytes; this stream, cut short, inflates to many more (a fuzz case threw here).
    const long = deflateSync(Buffer.alloc(4000, 7));
    const tiny = writePng(1, 1);
    expect(await diagnosePng(withData(tiny, long.subarray(0, long.length - 4)))).toBeUndefined();
  });

  it('a row with an undefined filter type, by its index', async () => {
    const rows = inflateSync(idatOf(source));
    rows[17 * (1 + WIDTH)] = 9;
    const error = await refusal(withData(source, deflateSync(rows)));
    expect(error.message).toBe(
      'The png decoder rejected the file: row 17 of its image data has the filter type 9 (0 to 4 are defined)',
    );
  });

  it('names the fault within the memory the decode is estimated at, whatever the image size', async () => {
    // 24000x1000 16-bit RGBA (192 MB of rows, 280 KB of file) whose last row has filter type 5:
    // the rows inflated whole for the diagnosis, beside the failed decoder's heap, took 450 MiB.
    const [width, height] = [24000, 1000];
    const rowBytes = 1 + width * 8;
    const rows = Buffer.alloc(rowBytes * height);
    for (let y = 0; y < height; y++) rows[y * rowBytes] = y === height - 1 ? 5 : 0;
    const ihdr = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 16, 6, 0, 0, 0]);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    const png = Buffer.concat([
      SIGNATURE,
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', deflateSync(rows)),
      pngChunk('IEND', new Uint8Array(0)),
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'png-check-'));
    try {
      const file = join(dir, 'bad-last-row.png');
      writeFileSync(file, png);
      const { result, peakRssBytes } = await inFreshProcess<{ message: string; readyRssBytes: number }>(
        { decode: 'src/codecs/index.ts', readFileSync: 'node:fs' },
        `const bytes = readFileSync(${JSON.stringify(file)});
         await decode('png', new Uint8Array(8)).catch(() => undefined); // the decoder compiled and started
         const readyRssBytes = process.memoryUsage().rss;
         const error = await decode('png', bytes).catch((e) => e);
         return { message: error.message, readyRssBytes };`,
      );
      expect(result.message).toBe(
        'The png decoder rejected the file: row 999 of its image data has the filter type 5 (0 to 4 are defined)',
      );
      const estimate = width * height * decodeCost('png', { bitDepth: 16, channels: 4 }).bytesPerPixel;
      expect(peakRssBytes - result.readyRssBytes).toBeLessThan(estimate);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
