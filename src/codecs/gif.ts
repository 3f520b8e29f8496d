import { GifReader } from 'omggif';
import type { RawImage } from '../image/raw.ts';

/**
 * GIF decoding with omggif (pure JavaScript, the decoder gifwrap and so Jimp use). A still image
 * is made from the first frame only: the logical screen, transparent where the frame has its
 * transparent colour or does not reach (browsers show the first frame that way), the frame's
 * pixels from its local or the global colour table. Later frames are never decoded. The header
 * probe (image/probe.ts) has already counted the frames and checked the first against the screen.
 */

/** omggif refused the file, or found its image data damaged, in its own words. */
export class GifError extends Error {
  override readonly name = 'GifError';
}

/**
 * The first frame as RGBA. `guard` runs the decoding (the watchdog, with a deadline): omggif's
 * console.log is captured around it, here, so a call stopped mid-way (which skips its own finally
 * blocks) still gives console.log back.
 */
export function decodeGifFirstFrame(
  bytes: Uint8Array,
  guard: <T>(call: () => T) => T = (call) => call(),
): RawImage {
  // omggif reports a frame whose LZW data ends early only by console.log, and leaves the rest of the
  // frame at colour 0: listen for it during the (synchronous) call, and refuse the damaged frame.
  const warnings: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void warnings.push(args.map(String).join(' '));
  let image: RawImage;
  try {
    image = guard(() => decodeFrame(bytes));
  } finally {
    console.log = log;
  }
  const short = warnings.find((warning) => /shorter than expected/.test(warning));
  if (short) throw new GifError(`damaged image data: ${short.replace(/^Warning, /, '')}`);
  return image;
}

function decodeFrame(bytes: Uint8Array): RawImage {
  // The cut keeps what comes before its end where it was: the descriptor is at the same offset.
  // At most one copy of the file is made (the memory estimate counts one): the cut, or the cut
  // grown by a colour table, made from the file in one step.
  const first = firstImageDescriptor(bytes);
  const end = first === undefined ? undefined : imageEnd(bytes, first);
  const widened = first === undefined ? undefined : withFullColourTable(bytes, first, end!);
  let input = widened?.bytes ?? cutAt(bytes, end);
  const descriptor = widened?.descriptor ?? first;
  // omggif's own de-interlacing skips a pass only once: in a frame of 2 to 4 rows, where a pass has
  // no row, it writes the next pass's rows 4 rows too low (outside the frame, or lost) and leaves a
  // row of the frame empty. So it is given the frame as if not interlaced, rows in the order they are
  // stored, and they are put in their places here.
  const interlaced = descriptor !== undefined && ((input[descriptor + 9] ?? 0) & 0x40) !== 0;
  if (interlaced) {
    input = input === bytes ? bytes.slice() : input;
    input[descriptor + 9] = input[descriptor + 9]! & ~0x40;
  }
  // A first frame that reaches past the logical screen grows it to the frame's right and bottom
  // edges, as Chrome shows it (and as the probe measured it): omggif is given the grown screen.
  if (descriptor !== undefined && descriptor + 9 <= input.length) {
    const u16 = (at: number) => input[at]! | (input[at + 1]! << 8);
    const right = u16(descriptor + 1) + u16(descriptor + 5);
    const bottom = u16(descriptor + 3) + u16(descriptor + 7);
    if ((right > u16(6) || bottom > u16(8)) && right <= 0xffff && bottom <= 0xffff) {
      input = input === bytes ? bytes.slice() : input;
      const grown = [Math.max(u16(6), right), Math.max(u16(8), bottom)];
      input.set([grown[0]! & 0xff, grown[0]! >> 8, grown[1]! & 0xff, grown[1]! >> 8], 6);
    }
  }
  let reader: GifReader;
  try {
    reader = new GifReader(input);
  } catch (error) {
    throw new GifError((error as Error).message, { cause: error });
  }
  if (reader.numFrames() === 0) throw new GifError('there is no frame');
  const frame = reader.frameInfo(0);
  if (frame.palette_offset === null) throw new GifError('the first frame has no colour table');
  const data = new Uint8ClampedArray(reader.width * reader.height * 4);
  try {
    reader.decodeAndBlitFrameRGBA(0, data);
  } catch (error) {
    throw new GifError((error as Error).message, { cause: error });
  }
  if (interlaced) deinterlace(data, reader.width, frame);
  return { width: reader.width, height: reader.height, data };
}

/**
 * Moves the rows of a frame decoded in their stored order to where GIF's interlacing puts them
 * (every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd from 1), in place: each cycle
 * of the permutation is followed with one row held aside, so it costs a row, not a copy of the frame.
 */
function deinterlace(
  data: Uint8ClampedArray,
  screenWidth: number,
  frame: { x: number; y: number; width: number; height: number },
): void {
  const rowBytes = frame.width * 4;
  const start = (row: number) => ((frame.y + row) * screenWidth + frame.x) * 4;
  const place = new Uint32Array(frame.height); // stored row -> displayed row
  let stored = 0;
  for (const [first, step] of [
    [0, 8],
    [4, 8],
    [2, 4],
    [1, 2],
  ] as const) {
    for (let row = first; row < frame.height; row += step) place[stored++] = row;
  }
  const moved = new Uint8Array(frame.height);
  // The row being carried, and the one it displaces: two rows, swapped, whatever the frame's height.
  let held = new Uint8ClampedArray(rowBytes);
  let displaced = new Uint8ClampedArray(rowBytes);
  for (let cycle = 0; cycle < frame.height; cycle++) {
    if (moved[cycle] || place[cycle] === cycle) continue;
    // Row `cycle` holds stored row `cycle`; carry it to its place, and what was there to its own.
    held.set(data.subarray(start(cycle), start(cycle) + rowBytes));
    let from = cycle;
    do {
      const to = place[from]!;
      displaced.set(data.subarray(start(to), start(to) + rowBytes));
      data.set(held, start(to));
      [held, displaced] = [displaced, held];
      moved[from] = 1;
      from = to;
    } while (from !== cycle);
  }
}

/**
 * A frame's LZW codes may give colour indices past the end of its colour table (its minimum code
 * size allows more colours than the table has): omggif reads their colours from whatever bytes
 * follow the table (the image data), where browsers (Wuffs in Chrome) show opaque black. So when
 * the first frame can, omggif is given the bytes with the colour table it uses (its local one, else
 * the global one) grown to 256 entries, the added ones black; undefined when it cannot (or there
 * is no table, which omggif refuses). Returns where the descriptor is then (after a grown global table).
 */
function withFullColourTable(
  bytes: Uint8Array,
  descriptor: number,
  end: number,
): { bytes: Uint8Array; descriptor: number } | undefined {
  const local = ((bytes[descriptor + 9] ?? 0) & 0x80) !== 0;
  const flagsAt = local ? descriptor + 9 : 10;
  const flags = bytes[flagsAt] ?? 0;
  if ((flags & 0x80) === 0) return undefined;
  const tableAt = local ? descriptor + 10 : 13;
  const tableBytes = colourTableBytes(flags);
  const codeSize = bytes[descriptor + 10 + (local ? tableBytes : 0)] ?? 0;
  if (2 ** codeSize <= tableBytes / 3) return undefined;
  const added = 3 * 256 - tableBytes;
  // The file cut after the first image (cutAt), with the table grown: one copy, not two.
  const trailer = end < bytes.length && !onlyTrailerAfter(bytes, end);
  const stop = trailer ? end : bytes.length;
  const grown = new Uint8Array(stop + added + (trailer ? 1 : 0));
  grown.set(bytes.subarray(0, tableAt + tableBytes));
  grown.set(bytes.subarray(tableAt + tableBytes, stop), tableAt + tableBytes + added);
  if (trailer) grown[stop + added] = 0x3b;
  grown[flagsAt] = flags | 7;
  return { bytes: grown, descriptor: local ? descriptor : descriptor + added };
}

/** Where the first image descriptor (0x2c) is, walking the blocks as omggif does; undefined if none. */
function firstImageDescriptor(bytes: Uint8Array): number | undefined {
  let at = 13 + colourTableBytes(bytes[10] ?? 0);
  while (at < bytes.length) {
    const introducer = bytes[at];
    if (introducer === 0x21) at = subBlocksEnd(bytes, at + 2);
    else return introducer === 0x2c ? at : undefined;
  }
  return undefined;
}

const colourTableBytes = (flags: number) => ((flags & 0x80) !== 0 ? 3 * 2 ** ((flags & 7) + 1) : 0);

/** The offset after the sub-blocks starting at `from` and their terminator. */
function subBlocksEnd(bytes: Uint8Array, from: number): number {
  let at = from;
  while (at < bytes.length && bytes[at] !== 0) at += 1 + bytes[at]!;
  return at + 1;
}

/**
 * The GIF up to the end of its first image, with a trailer: what the first frame needs. omggif's
 * reader walks every block when it is made and keeps an object per frame, so a 32 MB GIF of a
 * couple of million tiny frames would cost hundreds of megabytes of JavaScript heap for a frame it
 * never decodes; cut here, a GIF costs its screen's pixels whatever its frame count. The blocks
 * are walked as omggif walks them (the probe has already checked them); a file that ends early is
 * left for omggif to report.
 */
export function firstFrameOnly(bytes: Uint8Array): Uint8Array {
  const first = firstImageDescriptor(bytes);
  return cutAt(bytes, first === undefined ? undefined : imageEnd(bytes, first));
}

/** Where the image whose descriptor is at `at` ends: the offset after its data's terminator. */
function imageEnd(bytes: Uint8Array, at: number): number {
  return subBlocksEnd(bytes, at + 10 + colourTableBytes(bytes[at + 9] ?? 0) + 1);
}

/** Nothing but the trailer follows `end`: the file is already its cut. */
const onlyTrailerAfter = (bytes: Uint8Array, end: number) => end === bytes.length - 1 && bytes[end] === 0x3b;

/** The file cut at `end` (imageEnd) with a trailer; the file itself when there is nothing to cut. */
function cutAt(bytes: Uint8Array, end: number | undefined): Uint8Array {
  if (end === undefined || end >= bytes.length || onlyTrailerAfter(bytes, end)) return bytes;
  const cut = new Uint8Array(end + 1);
  cut.set(bytes.subarray(0, end));
  cut[end] = 0x3b;
  return cut;
}
