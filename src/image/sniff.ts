import type { RecognisedFormat } from '../core/formats.ts';

/**
 * Decides what a file is from its first bytes. Never from the key's extension or the Content-Type a
 * client sent: both are whatever the uploader said. Formats we cannot process are still named, so
 * the quarantine record says "gif" rather than "unknown".
 */
export function sniffFormat(bytes: Uint8Array): RecognisedFormat {
  const b = bytes;
  const ascii = (start: number, text: string) => {
    if (b.length < start + text.length) return false;
    for (let i = 0; i < text.length; i++) if (b[start + i] !== text.charCodeAt(i)) return false;
    return true;
  };

  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(4, 'ftyp')) return sniffIsoBmff(b);
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, '%PDF-')) return 'pdf';
  if (ascii(0, 'II*\0') || ascii(0, 'MM\0*')) return 'tiff';
  if (ascii(0, 'BM') && b.length >= 26) return 'bmp';
  if ((b[0] === 0xff && b[1] === 0x0a) || ascii(4, 'JXL \r\n\x87\n')) return 'jxl';
  if (ascii(0, '8BPS')) return 'psd';
  if (b.length >= 6 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0 && b[4]! > 0) return 'ico';
  return sniffText(b);
}

/**
 * ISO base media files: AVIF and HEIF share the container; the brands tell them apart. The brands
 * are looked at one by one, not listed: the ftyp box's size is the file's word, and a 32 MB upload
 * declaring one ftyp box of all of it made a list of 8 million brands, 478 MiB and 2.7 s before any
 * limit was checked; compared as numbers, they cost neither.
 */
function sniffIsoBmff(b: Uint8Array): RecognisedFormat {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = Math.min(view.getUint32(0), b.length);
  let heif = false;
  // major brand at 8, minor version at 12, compatible brands from 16 to the end of the box.
  for (let offset = 8; offset + 4 <= size; offset += offset === 8 ? 8 : 4) {
    const brand = view.getUint32(offset);
    if (AVIF_BRANDS.has(brand)) return 'avif';
    heif ||= HEIF_BRANDS.has(brand);
  }
  return heif ? 'heic' : 'unknown';
}

/** Four-character codes as the big-endian numbers a box holds them as. */
const fourccs = (...codes: string[]) =>
  new Set(codes.map((code) => Buffer.from(code, 'latin1').readUInt32BE(0)));
const AVIF_BRANDS = fourccs('avif', 'avis');
const HEIF_BRANDS = fourccs('heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1');

function sniffText(b: Uint8Array): RecognisedFormat {
  const head = new TextDecoder('utf-8', { fatal: false })
    .decode(b.subarray(0, 1024))
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  if (/^<(!doctype html|html|head|body|script|div|p[ >]|!--)/.test(head)) return 'html';
  if (head.startsWith('<?xml')) return 'xml';
  const sample = b.subarray(0, 512);
  let printable = 0;
  for (const byte of sample)
    if (byte === 9 || byte === 10 || byte === 13 || (byte >= 32 && byte !== 127)) printable++;
  return sample.length > 0 && printable / sample.length > 0.95 ? 'text' : 'unknown';
}
