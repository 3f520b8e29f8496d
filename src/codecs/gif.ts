import { GifReader } from 'omggif';
import type { RawImage } from '../image/raw.ts';

/**
 * GIF decoding with omggif (pure JavaScript, the decoder gifwrap and so Jimp use). A still image
 * is made from the first frame only: the logical screen, transparent where the frame has its
 * transparent colour or does not reach (browsers show the first frame that way), the frame's
 * pixels from its local or the global colour table. Later frames are never decoded. The header
 * probe (image/probe.ts) has already counted the frames and checked that each fits the screen.
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
  let reader: GifReader;
  try {
    reader = new GifReader(firstFrameOnly(bytes));
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
  return { width: reader.width, height: reader.height, data };
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
  const tables = (flags: number) => ((flags & 0x80) !== 0 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  const subBlocks = (from: number) => {
    let at = from;
    while (at < bytes.length && bytes[at] !== 0) at += 1 + bytes[at]!;
    return at + 1;
  };
  let at = 13 + tables(bytes[10] ?? 0);
  while (at < bytes.length) {
    const introducer = bytes[at];
    if (introducer === 0x21) at = subBlocks(at + 2);
    else if (introducer === 0x2c) {
      const end = subBlocks(at + 10 + tables(bytes[at + 9] ?? 0) + 1);
      if (end >= bytes.length) return bytes;
      const cut = new Uint8Array(end + 1);
      cut.set(bytes.subarray(0, end));
      cut[end] = 0x3b;
      return cut;
    } else return bytes;
  }
  return bytes;
}
