import { decode, encode, resize } from '../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { readFixture } from './fixtures.ts';

/**
 * Progressive JPEGs for the scan-count tests: a fixture photo re-encoded by MozJPEG (the pipeline's
 * own encoder, progressive as the default configuration writes it), and copies of one of its scans
 * spliced in after the original. A repeated scan is how the hostile-input test built its CPU bomb:
 * every copy is another pass of the decoder over the whole image.
 */
export async function progressiveJpeg(path: string, width: number, height: number): Promise<Uint8Array> {
  const source = await decode('jpeg', readFixture(path));
  const pixels = await resize(source, width, height, {
    method: 'lanczos3',
    linearRGB: false,
    premultiply: false,
  });
  const { formatOptions } = parsePipelineConfig({ formats: { jpeg: { progressive: true } } });
  return encode('jpeg', pixels, formatOptions);
}

export interface ScanSegment {
  /** The 0xFF of the SOS marker. */
  readonly start: number;
  /** The 0xFF of the marker after the scan's entropy-coded data. */
  readonly end: number;
}

/** Each SOS segment with its entropy-coded data, walked byte by byte (independent of image/probe.ts). */
export function scanSegments(jpeg: Uint8Array): ScanSegment[] {
  const scans: ScanSegment[] = [];
  let at = 2;
  while (at < jpeg.length) {
    if (jpeg[at] !== 0xff) throw new Error(`No marker at byte ${at}`);
    const marker = jpeg[at + 1]!;
    if (marker === 0xd9) return scans;
    let end = at + 2 + ((jpeg[at + 2]! << 8) | jpeg[at + 3]!);
    if (marker === 0xda) {
      // Entropy-coded data ends at the first 0xFF that is not a stuffed 0xFF00 or a restart marker.
      while (!(jpeg[end] === 0xff && jpeg[end + 1] !== 0x00 && (jpeg[end + 1]! & 0xf8) !== 0xd0)) end++;
      scans.push({ start: at, end });
    }
    at = end;
  }
  throw new Error('No end-of-image marker');
}

/** The JPEG with `copies` more copies of scan number `index` (0-based; -1 is the last) after it. */
export function withRepeatedScan(jpeg: Uint8Array, index: number, copies: number): Uint8Array {
  const scans = scanSegments(jpeg);
  const scan = scans.at(index);
  if (!scan) throw new Error(`The JPEG has ${scans.length} scans, not ${index}`);
  const copy = jpeg.subarray(scan.start, scan.end);
  const out = new Uint8Array(jpeg.length + copies * copy.length);
  out.set(jpeg.subarray(0, scan.end));
  for (let i = 0; i < copies; i++) out.set(copy, scan.end + i * copy.length);
  out.set(jpeg.subarray(scan.end), scan.end + copies * copy.length);
  return out;
}
