import { constants, crc32, createInflate } from 'node:zlib';

/**
 * What is wrong with a PNG the decoder refused. @jsquash/png's Rust glue ends every decoding error
 * in `unwrap_throw`, which throws "`unwrap_throw` failed" and drops the png crate's message; this
 * finds the fault again, in words that name it: a chunk whose CRC does not match, image data that
 * is not a zlib stream or ends early, a row with an undefined filter type. Run only after a refusal.
 * The image data is inflated as a stream of which only the rows' filter bytes are read, so the check
 * holds a chunk of it at a time, and rows are counted pass by pass, not listed: the memory estimate
 * counts neither. Inflated whole (beside Node's chunks of it) a 24000x1000 16-bit RGBA PNG with a bad
 * last row took 450 MiB more, where its whole decode is estimated at 206 MiB, and a 1x50,000,000
 * one would have listed 50 million rows. Undefined when none of these is found.
 */
export async function diagnosePng(bytes: Uint8Array): Promise<string | undefined> {
  try {
    return await findFault(bytes);
  } catch {
    return undefined; // a fault this check cannot name: the decoder's words stand
  }
}

async function findFault(bytes: Uint8Array): Promise<string | undefined> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const end = offset + 8 + length;
    if (end + 4 > bytes.length) return undefined; // the probe names a short chunk
    const stored = view.getUint32(end);
    const computed = crc32(bytes.subarray(offset + 4, end));
    if (stored !== computed)
      return `its ${type} chunk at byte ${offset} fails its CRC check (stored ${hex(stored)}, computed ${hex(computed)})`;
    if (type === 'IDAT') idat.push(bytes.subarray(offset + 8, end));
    if (type === 'IEND') break;
    offset = end + 4;
  }
  const header = {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: bytes[24]!,
    colourType: bytes[25]!,
  };
  const passes = rowLayout(header.width, header.height, header.bitDepth, header.colourType, bytes[28] === 1);
  if (!passes) return undefined;
  const needed = passes.reduce((sum, pass) => sum + pass.rowBytes * pass.rows, 0);
  const inflated = await inflateRows(idat, passes, needed);
  if ('error' in inflated) return `its image data (IDAT) is not a valid zlib stream: ${inflated.error}`;
  if (inflated.bytes > needed) return undefined; // more data than the rows need: not the fault
  if (inflated.bytes < needed)
    return `its image data (IDAT) is truncated: it inflates to ${inflated.bytes} of the ${needed} bytes its rows need`;
  if (inflated.badRow)
    return `row ${inflated.badRow.index} of its image data has the filter type ${inflated.badRow.filter} (0 to 4 are defined)`;
  return undefined;
}

/**
 * The image data inflated as a stream, a chunk at a time, up to one byte past what the rows need:
 * how many bytes it gives (all of them when it ends early, cut or not), and the first row whose
 * filter byte is undefined (above 4); or the zlib error that stopped it.
 */
async function inflateRows(
  idat: readonly Uint8Array[],
  passes: readonly RowPass[],
  needed: number,
): Promise<{ bytes: number; badRow?: { index: number; filter: number } } | { error: string }> {
  // A stream cut short ends without an error (sync flush): what it gave is counted.
  const inflater = createInflate({ finishFlush: constants.Z_SYNC_FLUSH, chunkSize: 64 * 1024 });
  inflater.on('error', () => undefined); // read through the iterator below
  for (const part of idat) inflater.write(part);
  inflater.end();
  let bytes = 0;
  let row = 0; // counted over all passes
  let pass = 0;
  let rowInPass = 0;
  let rowStart = 0;
  let badRow: { index: number; filter: number } | undefined;
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) {
      while (!badRow && pass < passes.length && rowStart < bytes + chunk.length) {
        const filter = chunk[rowStart - bytes]!;
        if (filter > 4) badRow = { index: row, filter };
        rowStart += passes[pass]!.rowBytes;
        row++;
        if (++rowInPass === passes[pass]!.rows) {
          pass++;
          rowInPass = 0;
        }
      }
      bytes += chunk.length;
      if (bytes > needed) break;
    }
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    inflater.destroy();
  }
  return { bytes, ...(badRow && { badRow }) };
}

/** Adam7's passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Rows of one bytes' length (the filter byte included): the image's, or an Adam7 pass's. */
interface RowPass {
  readonly rowBytes: number;
  readonly rows: number;
}

/** The filtered rows, pass by pass when interlaced (an empty pass has none). */
function rowLayout(
  width: number,
  height: number,
  bitDepth: number,
  colourType: number,
  interlaced: boolean,
): RowPass[] | undefined {
  const channels = CHANNELS[colourType];
  if (channels === undefined) return undefined;
  const rowBytes = (w: number) => 1 + Math.ceil((w * channels * bitDepth) / 8);
  const passes = interlaced ? ADAM7 : ([[0, 0, 1, 1]] as const);
  const layout: RowPass[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w > 0 && h > 0) layout.push({ rowBytes: rowBytes(w), rows: h });
  }
  return layout;
}

const hex = (value: number) => `0x${value.toString(16).padStart(8, '0')}`;
