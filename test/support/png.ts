import { crc32, deflateSync } from 'node:zlib';

/**
 * A minimal PNG writer for crafted inputs (tall, wide, extreme aspect ratios): 8-bit grey or RGBA,
 * every row filter 0, the pixels from `pixel(x, y)` (default: black, or opaque black for RGBA).
 * Node's zlib compresses a row of zeros to almost nothing, so a 1x50,000,000 PNG stays a few tens of
 * kilobytes while its decoded RGBA would be 200 MB.
 */
export function writePng(
  width: number,
  height: number,
  { rgba = false, pixel }: { rgba?: boolean; pixel?: (x: number, y: number) => readonly number[] } = {},
): Uint8Array {
  const channels = rgba ? 4 : 1;
  const stride = 1 + width * channels;
  const raw = Buffer.alloc(stride * height);
  if (pixel) {
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) raw.set(pixel(x, y).slice(0, channels), y * stride + 1 + x * channels);
  } else if (rgba) {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw[y * stride + 1 + x * 4 + 3] = 255;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = rgba ? 6 : 0; // colour type: RGBA or grey
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** One PNG chunk: length, type, data and CRC. */
export function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A 16-bit RGBA PNG (colour type 6, depth 16), which writePng and our encoder do not write.
 * `pixel(x, y)` gives the four 16-bit samples. With `headerOnly`, the IDAT holds a single row of
 * a stream that never ends: the header of a large image without its megabytes, for tests that
 * must refuse it before decoding (a decoder would call it truncated).
 */
export function pngRgba16(
  width: number,
  height: number,
  options: { pixel?: (x: number, y: number) => [number, number, number, number]; headerOnly?: boolean } = {},
): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([16, 6, 0, 0, 0], 8);
  const rows = options.headerOnly ? 1 : height;
  const raw = Buffer.alloc(rows * (1 + width * 8));
  const pixel = options.pixel ?? (() => [0, 0, 0, 0]);
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < width; x++) {
      const at = y * (1 + width * 8) + 1 + x * 8;
      pixel(x, y).forEach((sample, c) => {
        raw.writeUInt16BE(sample, at + c * 2);
      });
    }
  const data = options.headerOnly ? deflateSync(raw).subarray(0, -4) : deflateSync(raw);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', data),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

/**
 * An indexed-colour PNG (colour type 3) of one row: `indices` packed at `bitDepth` (1, 2, 4 or 8),
 * with the given PLTE bytes (3 a colour) and, when given, tRNS bytes (one alpha a palette entry).
 * Neither is checked against the other or the indices: for crafted palettes.
 */
export function indexedPng(
  indices: readonly number[],
  {
    bitDepth = 8,
    palette,
    transparency,
  }: { bitDepth?: number; palette: readonly number[]; transparency?: readonly number[] },
): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(indices.length, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr.set([bitDepth, 3, 0, 0, 0], 8);
  const row = Buffer.alloc(1 + Math.ceil((indices.length * bitDepth) / 8));
  indices.forEach((index, x) => {
    const bit = x * bitDepth;
    row[1 + (bit >> 3)]! |= index << (8 - bitDepth - (bit & 7));
  });
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('PLTE', Buffer.from(palette)),
      ...(transparency ? [chunk('tRNS', Buffer.from(transparency))] : []),
      chunk('IDAT', deflateSync(row)),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}
