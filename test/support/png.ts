import { crc32, deflateSync } from 'node:zlib';

/**
 * A 16-bit RGBA PNG (colour type 6, depth 16) written here because our encoder writes 8-bit only.
 * `pixel(x, y)` gives the four 16-bit samples. With `headerOnly`, the IDAT holds a single row of
 * a stream that never ends: the header of a large image without its megabytes, for tests that
 * must refuse it before decoding (a decoder would call it truncated).
 */
export function pngRgba16(
  width: number,
  height: number,
  options: { pixel?: (x: number, y: number) => [number, number, number, number]; headerOnly?: boolean } = {},
): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
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
