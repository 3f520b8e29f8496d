/**
 * A minimal ICC v2 grey profile (monitor class, XYZ PCS): a description, the D50 white point and
 * a gamma curve (2.2 unless given). Little CMS reads it as a GRAY profile; no encoder embeds one in
 * an RGB image, which is what the tests that use it need.
 */
export function grayProfile(description = 'Test grey, gamma 2.2', gamma = 2.2): Uint8Array {
  const ascii = Buffer.from(`${description}\0`, 'latin1');
  const desc = Buffer.concat([
    Buffer.from('desc\0\0\0\0', 'latin1'),
    u32(ascii.length),
    ascii,
    u32(0), // Unicode language
    u32(0), // Unicode count
    Buffer.alloc(2 + 1 + 67), // ScriptCode code, count and its 67 bytes
  ]);
  const s15 = (v: number) => u32(Math.round(v * 65536));
  const wtpt = Buffer.concat([Buffer.from('XYZ \0\0\0\0', 'latin1'), s15(0.9642), s15(1), s15(0.8249)]);
  const kTRC = Buffer.concat([Buffer.from('curv\0\0\0\0', 'latin1'), u32(1), u16(Math.round(gamma * 256))]);
  const tags: [string, Buffer][] = [
    ['desc', desc],
    ['wtpt', wtpt],
    ['kTRC', kTRC],
  ];
  return profile('mntrGRAYXYZ ', tags);
}

/**
 * An ICC v2 RGB input profile (scanner class, Lab PCS) whose A2B0 is a lut8 table (ICC.1 10.8) with
 * `grid` points a side: grid^3 x 3 bytes of CLUT, nearly all of the profile (176: 16.4 MB). Little
 * CMS reads it and transforms through it; its table is widened to 16 bits when read. Its bytes
 * repeat, so a PNG iCCP chunk deflates it to a few tens of kilobytes.
 */
export function lut8Profile(grid: number): Uint8Array {
  const s15 = (v: number) => u32(Math.round(v * 65536));
  const desc = Buffer.concat([
    Buffer.from('desc\0\0\0\0', 'latin1'),
    u32(11),
    Buffer.from('Large lut8\0', 'latin1'),
    u32(0),
    u32(0),
    Buffer.alloc(2 + 1 + 67),
  ]);
  const wtpt = Buffer.concat([Buffer.from('XYZ \0\0\0\0', 'latin1'), s15(0.9642), s15(1), s15(0.8249)]);
  const identity = Buffer.concat([1, 0, 0, 0, 1, 0, 0, 0, 1].map(s15));
  const curves = Buffer.concat([0, 1, 2].map(() => Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
  const clut = Buffer.alloc(grid ** 3 * 3, 128);
  for (let i = 0; i < clut.length; i += 3) clut[i] = (i * 7) & 255; // L* varies, a* and b* neutral
  const a2b0 = Buffer.concat([
    Buffer.from('mft1\0\0\0\0', 'latin1'),
    Buffer.from([3, 3, grid, 0]),
    identity,
    curves,
    clut,
    curves,
  ]);
  return profile('scnrRGB Lab ', [
    ['desc', desc],
    ['wtpt', wtpt],
    ['A2B0', a2b0],
  ]);
}

function profile(classSpacePcs: string, tags: [string, Buffer][]): Uint8Array {
  const s15 = (v: number) => u32(Math.round(v * 65536));
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  let offset = 128 + 4 + 12 * tags.length;
  const table: Buffer[] = [u32(tags.length)];
  const data: Buffer[] = [];
  for (const [signature, body] of tags) {
    table.push(Buffer.from(signature, 'latin1'), u32(offset), u32(body.length));
    data.push(pad(body));
    offset += pad(body).length;
  }
  const header = Buffer.alloc(128);
  header.writeUInt32BE(offset, 0);
  header.writeUInt32BE(0x02100000, 8);
  header.write(classSpacePcs, 12, 'latin1');
  header.write('acsp', 36, 'latin1');
  s15(0.9642).copy(header, 68);
  s15(1).copy(header, 72);
  s15(0.8249).copy(header, 76);
  return new Uint8Array(Buffer.concat([header, ...table, ...data]));
}

/** A JPEG with an ICC profile in one APP2 segment right after its SOI marker. */
export function withIccProfile(jpeg: Uint8Array, icc: Uint8Array): Uint8Array {
  const body = Buffer.concat([Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.from([1, 1]), icc]);
  const app2 = Buffer.concat([Buffer.from([0xff, 0xe2]), u16(body.length + 2), body]);
  return new Uint8Array(Buffer.concat([jpeg.subarray(0, 2), app2, jpeg.subarray(2)]));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
