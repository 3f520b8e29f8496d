import { constants, crc32, inflateSync } from 'node:zlib';

/**
 * What is wrong with a PNG the decoder refused. @jsquash/png's Rust glue ends every decoding error
 * in `unwrap_throw`, which throws "`unwrap_throw` failed" and drops the png crate's message; this
 * finds the fault again, in words that name it: a chunk whose CRC does not match, image data that
 * is not a zlib stream or ends early, a row with an undefined filter type. Run only after a refusal
 * (the probe has already checked the chunk layout and the size against the memory budget, so the
 * inflated rows fit). Undefined when none of these is found.
 */
export function diagnosePng(bytes: Uint8Array): string | undefined {
  try {
    return findFault(bytes);
  } catch {
    return undefined; // a fault this check cannot name: the decoder's words stand
  }
}

function findFault(bytes: Uint8Array): string | undefined {
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
  const rows = rowLayout(header.width, header.height, header.bitDepth, header.colourType, bytes[28] === 1);
  if (!rows) return undefined;
  const needed = rows.reduce((sum, row) => sum + row, 0);
  const data = Buffer.concat(idat);
  let pixels: Buffer;
  try {
    pixels = inflateSync(data, { maxOutputLength: needed + 1 });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof RangeError) return undefined; // more data than the rows need: not the fault
    if (code !== 'Z_BUF_ERROR')
      return `its image data (IDAT) is not a valid zlib stream: ${(error as Error).message}`;
    // Cut short: how much of it there is.
    const partial = inflateSync(data, { maxOutputLength: needed, finishFlush: constants.Z_SYNC_FLUSH });
    return `its image data (IDAT) is truncated: it inflates to ${partial.length} of the ${needed} bytes its rows need`;
  }
  if (pixels.length < needed)
    return `its image data (IDAT) is truncated: it inflates to ${pixels.length} of the ${needed} bytes its rows need`;
  let at = 0;
  for (const [index, row] of rows.entries()) {
    const filter = pixels[at]!;
    if (filter > 4)
      return `row ${index} of its image data has the filter type ${filter} (0 to 4 are defined)`;
    at += row;
  }
  return undefined;
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

/** The bytes of each filtered row (its filter byte included), pass by pass when interlaced. */
function rowLayout(
  width: number,
  height: number,
  bitDepth: number,
  colourType: number,
  interlaced: boolean,
): number[] | undefined {
  const channels = CHANNELS[colourType];
  if (channels === undefined) return undefined;
  const rowBytes = (w: number) => 1 + Math.ceil((w * channels * bitDepth) / 8);
  const passes = interlaced ? ADAM7 : ([[0, 0, 1, 1]] as const);
  const rows: number[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w > 0) for (let y = 0; y < h; y++) rows.push(rowBytes(w));
  }
  return rows;
}

const hex = (value: number) => `0x${value.toString(16).padStart(8, '0')}`;
