import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { probeImage } from '../../../src/image/probe.ts';
import { processImage } from '../../../src/pipeline/process-image.ts';
import { buildAvif, buildAvifGrid, findBox, topLevelBox } from '../../support/avif.ts';
import { fixturePath, readFixture } from '../../support/fixtures.ts';
import { box, buildHeif, heifParts, ispe } from '../../support/heif.ts';
import { hasTool } from '../../support/tools.ts';

/**
 * An AVIF or HEIC without a `colr` box takes its colour from its bitstream, as libavif (the AV1
 * sequence header's color_config) and libheif (the HEVC VUI, through libde265) take it: such a file
 * is converted exactly as the same image with an `nclx` box of those code points, and a `colr` box
 * wins over the bitstream.
 */

const full = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { png: {} } });
const DISPLAY_P3 = {
  profile: 'nclx Display P3 (SMPTE EG 432-1) primaries, sRGB transfer',
  source: 'nclx',
  converted: true,
  warnings: [],
};

/** A `colr` box of type nclx (ISO/IEC 23008-12 6.5.5): H.273 primaries, transfer, matrix, full range. */
const nclxBox = (primaries: number, transfer: number, matrix: number) =>
  box('colr', Buffer.from('nclx'), Uint8Array.of(0, primaries, 0, transfer, 0, matrix, 0x80));

/** The only output of `full`, a lossless PNG, and the colour result. */
async function processed(file: Uint8Array): Promise<{ png: Buffer; colour: unknown }> {
  const result = await processImage(file, full);
  return { png: Buffer.from(result.outputs[0]!.bytes), colour: result.colour };
}

// ------------------------------------------------------------------------------------------- AVIF

/**
 * The P3 card's stored values (not converted) as an AVIF of ours at quality 100, 4:4:4, cut into
 * its AV1 data and av1C. Our encoder writes a reduced still-picture sequence header whose
 * color_config carries a colour description (2/2/0, as its colr box).
 */
let card: { data: Uint8Array; av1C: Uint8Array } | undefined;
async function cardAv1(): Promise<{ data: Uint8Array; av1C: Uint8Array }> {
  if (!card) {
    const pixels = await decode('png', readFixture('edge/colour/p3-card.png'));
    const { formatOptions } = parsePipelineConfig({
      variants: [{ name: 'full' }],
      formats: { avif: { quality: 100, chromaSubsampling: '4:4:4' } },
    });
    const file = await encode('avif', pixels, formatOptions);
    card = { data: topLevelBox(file, 'mdat').slice(), av1C: findBox(file, 'av1C').slice() };
  }
  return card;
}

/**
 * AV1 data whose sequence header (the first OBU, reduced still-picture) says these primaries and
 * transfer in its color_config; the matrix stays the encoder's (0, identity: its values are RGB).
 */
function withSequenceColour(
  data: Uint8Array,
  primaries: number,
  transfer: number,
  range?: 'full' | 'limited',
): Uint8Array {
  const out = data.slice();
  // The OBUs before it (a temporal delimiter): a header byte with its size field, a 1-byte size.
  let at = 0;
  while (((out[at]! >> 3) & 0xf) !== 1) {
    expect(out[at]! & 0x86).toBe(0x02); // no extension, a size field
    expect(out[at + 1]! & 0x80).toBe(0);
    at += 2 + out[at + 1]!;
  }
  let bit = (at + 2) * 8;
  const read = (n: number) => {
    let value = 0;
    for (let i = 0; i < n; i++, bit++) value = value * 2 + ((out[bit >> 3]! >> (7 - (bit & 7))) & 1);
    return value;
  };
  const profile = read(3);
  read(1); // still_picture
  expect(read(1)).toBe(1); // reduced_still_picture_header
  read(5); // seq_level_idx
  const widthBits = read(4) + 1;
  const heightBits = read(4) + 1;
  read(widthBits + heightBits + 6); // sizes; superblock, filter intra, intra edge, superres, cdef, restoration
  const high = read(1);
  if (profile === 2 && high) read(1);
  if (profile !== 1) read(1); // mono_chrome
  expect(read(1)).toBe(1); // color_description_present_flag
  for (const value of [primaries, transfer])
    for (let i = 7; i >= 0; i--, bit++) {
      const mask = 1 << (7 - (bit & 7));
      out[bit >> 3] = (value >> i) & 1 ? out[bit >> 3]! | mask : out[bit >> 3]! & ~mask;
    }
  if (range) {
    // color_range follows matrix_coefficients (the card's 0 is not sRGB's identity case, 1/13/0).
    bit += 8;
    const mask = 1 << (7 - (bit & 7));
    out[bit >> 3] = range === 'full' ? out[bit >> 3]! | mask : out[bit >> 3]! & ~mask;
  }
  return out;
}

async function cardAvif(sequence: [number, number], properties: Uint8Array[] = []): Promise<Uint8Array> {
  const { data, av1C } = await cardAv1();
  return buildAvif({
    data: withSequenceColour(data, ...sequence),
    av1C,
    width: 96,
    height: 64,
    properties,
  });
}

describe('AVIF without a colr box: the AV1 sequence header’s colour', () => {
  it('reads color_config’s code points when there is no colr box, and the colr box’s when there is', async () => {
    expect(probeImage('avif', await cardAvif([12, 13])).colour).toEqual({
      nclx: { primaries: 12, transfer: 13, matrix: 0 },
      nclxSource: 'av1',
      warnings: [],
    });
    expect(probeImage('avif', await cardAvif([12, 13], [nclxBox(1, 13, 0)])).colour).toEqual({
      nclx: { primaries: 1, transfer: 13, matrix: 0 },
      nclxSource: 'colr',
      warnings: [],
    });
  });

  it('converts Display P3 (12/13) in the sequence header exactly as an nclx box of 12/13', async () => {
    const bitstream = await processed(await cardAvif([12, 13]));
    const box = await processed(await cardAvif([2, 2], [nclxBox(12, 13, 0)]));
    expect(bitstream.colour).toEqual(DISPLAY_P3);
    expect(box.colour).toEqual(DISPLAY_P3);
    expect(bitstream.png.equals(box.png)).toBe(true);
    // Taken as sRGB, the values would be the card's stored ones: the conversion changed them.
    const unconverted = await processed(await cardAvif([2, 2]));
    expect(unconverted.colour).toEqual({ converted: false, warnings: [] });
    expect(unconverted.png.equals(bitstream.png)).toBe(false);
  });

  it('lets a colr box win over the sequence header, as libavif does', async () => {
    const described = await processed(await cardAvif([12, 13], [nclxBox(1, 13, 0)]));
    expect(described.colour).toEqual({ converted: false, warnings: [] });
    expect(described.png.equals((await processed(await cardAvif([2, 2]))).png)).toBe(true);
  });

  it('takes an HDR transfer in the sequence header as sRGB, with a warning naming the sequence header', async () => {
    // The file has no nclx box: the warning names where the code points were read.
    const result = await processImage(await cardAvif([9, 16]), full);
    expect(result.colour).toEqual({
      converted: false,
      warnings: [
        "The AV1 sequence header's transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped: the image is taken as sRGB",
      ],
    });
    // With an nclx box of the same code points, the box is named.
    const boxed = await processImage(await cardAvif([9, 16], [nclxBox(9, 16, 0)]), full);
    expect(boxed.colour.warnings).toEqual([
      "The nclx colour description's transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped: the image is taken as sRGB",
    ]);
  });
});

describe('AVIF grid: tiles whose sequence headers disagree', () => {
  /** A 2x1 grid of the card whose first tile's sequence header says `a`, its second's `b`. */
  async function cardGrid(
    a: [number, number, ('full' | 'limited')?],
    b: [number, number, ('full' | 'limited')?],
  ): Promise<Uint8Array> {
    const { data, av1C } = await cardAv1();
    const [first, second] = [withSequenceColour(data, ...a), withSequenceColour(data, ...b)];
    const file = Buffer.from(
      buildAvifGrid({ data: first, av1C, width: 96, height: 64 }, 2, 1, { grid: true, tiles: true }),
    );
    // buildAvifGrid stores the tile's data once per tile: the second copy becomes the other tile.
    const at = file.indexOf(Buffer.from(first), file.indexOf(Buffer.from(first)) + 1);
    file.set(second, at);
    return file;
  }

  it('decodes a grid whose tiles agree, and refuses one whose tiles differ in colour, naming both', async () => {
    const same = await processImage(await cardGrid([12, 13], [12, 13]), full);
    expect(same.colour).toEqual(DISPLAY_P3);
    expect(same.outputs[0]).toMatchObject({ width: 192, height: 64 });
    // libavif refuses such a grid ("Decoding error", naming nothing), a colr box or not.
    const differing = await cardGrid([12, 13], [1, 13]);
    await expect(processImage(differing, full)).rejects.toThrow(InvalidImageError);
    expect(() => probeImage('avif', differing)).toThrow(
      "The avif file is malformed: grid item 1's tiles differ: tile item 2's AV1 sequence header says 8-bit 4:4:4, colour 12/13/0, full range, tile item 3's 8-bit 4:4:4, colour 1/13/0, full range",
    );
  });

  it('refuses a grid whose tiles differ in colour range only, naming both', async () => {
    expect(
      (await processImage(await cardGrid([12, 13, 'limited'], [12, 13, 'limited']), full)).colour,
    ).toEqual(DISPLAY_P3);
    // libavif compares each tile's yuvRange too ("Decoding error", naming nothing).
    const differing = await cardGrid([12, 13, 'full'], [12, 13, 'limited']);
    const error = await processImage(differing, full).catch((caught) => caught);
    expect(error).toBeInstanceOf(InvalidImageError);
    expect(error).toMatchObject({
      reason: 'corrupt',
      message:
        "The avif file is malformed: grid item 1's tiles differ: tile item 2's AV1 sequence header says 8-bit 4:4:4, colour 12/13/0, full range, tile item 3's 8-bit 4:4:4, colour 12/13/0, limited range (libavif decodes a grid only when its tiles agree in bit depth, chroma subsampling, colour code points, primaries/transfer/matrix, and colour range)",
      details: { item: 1, tiles: [2, 3] },
    });
  });
});

// ------------------------------------------------------------------------------------------- HEIC

describe.skipIf(!hasTool('heif-enc') || !hasTool('convert'))('HEIC grid: tiles of another bit depth', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-heic-depth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a grid whose tiles differ in bit depth, naming both: libheif left the other tile green', async () => {
    // heic-10bit.heic is 192x128 and 10-bit; the same picture written as 8-bit HEVC by heif-enc.
    const png = join(dir, 'tile.png');
    const heic = join(dir, 'tile.heic');
    execFileSync('convert', [fixturePath('edge/formats/heic-10bit.heic'), '-depth', '8', `PNG24:${png}`]);
    execFileSync('heif-enc', ['-q', '90', png, '-o', heic], { stdio: 'ignore' });
    const eight = heifParts(readFileSync(heic));
    const ten = heifParts(readFixture('edge/formats/heic-10bit.heic'));
    /** A 2x1 grid (384x128) of these tiles. */
    const grid = (left: typeof eight, right: typeof eight) =>
      buildHeif({
        items: [
          { id: 1, type: 'grid', data: Uint8Array.of(0, 0, 0, 1, 384 >> 8, 384 & 255, 0, 128) },
          { id: 2, type: 'hvc1', data: left.data, hidden: true },
          { id: 3, type: 'hvc1', data: right.data, hidden: true },
        ],
        primary: 1,
        properties: [ispe(384, 128), left.hvcC, ispe(192, 128), right.hvcC],
        associations: [
          [1, [1]],
          [2, [2, 3]],
          [3, [4, 3]],
        ],
        references: [['dimg', 1, [2, 3]]],
      });
    expect((await processImage(grid(eight, eight), full)).outputs[0]).toMatchObject({
      width: 384,
      height: 128,
    });
    for (const [left, right, depths] of [
      [eight, ten, [8, 10]],
      [ten, eight, [10, 8]],
    ] as const) {
      const error = await processImage(grid(left, right), full).catch((caught) => caught);
      expect(error).toBeInstanceOf(InvalidImageError);
      expect(error).toMatchObject({
        reason: 'corrupt',
        message: `The heic file is malformed: grid item 1's tiles differ in bit depth: tile item 2's HEVC sequence parameter set says ${depths[0]}-bit, tile item 3's ${depths[1]}-bit (libheif decodes a grid at its first tile's bit depth and leaves a tile of another blank)`,
        details: { item: 1, tiles: [2, 3], bitDepths: depths },
      });
    }
  });
});

describe.skipIf(!hasTool('heif-enc') || !hasTool('convert'))(
  'HEIC grid: tiles of another chroma format',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-heic-chroma-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('is refused by libheif, naming the chroma format, never decoded with a tile wrong-coloured', async () => {
      // The same 192x128 picture written by heif-enc as 4:2:0 (its default), 4:2:2 and 4:4:4 HEVC.
      const png = join(dir, 'tile.png');
      execFileSync('convert', [fixturePath('edge/formats/heic-10bit.heic'), '-depth', '8', `PNG24:${png}`]);
      const tile = (chroma: string) => {
        const heic = join(dir, `${chroma}.heic`);
        execFileSync('heif-enc', ['-q', '90', '-p', `chroma=${chroma}`, png, '-o', heic], {
          stdio: 'ignore',
        });
        return heifParts(readFileSync(heic));
      };
      const [t420, t422, t444] = [tile('420'), tile('422'), tile('444')];
      /** A 2x1 grid (384x128) of these tiles. */
      const grid = (left: typeof t420, right: typeof t420) =>
        buildHeif({
          items: [
            { id: 1, type: 'grid', data: Uint8Array.of(0, 0, 0, 1, 384 >> 8, 384 & 255, 0, 128) },
            { id: 2, type: 'hvc1', data: left.data, hidden: true },
            { id: 3, type: 'hvc1', data: right.data, hidden: true },
          ],
          primary: 1,
          properties: [ispe(384, 128), left.hvcC, ispe(192, 128), right.hvcC],
          associations: [
            [1, [1]],
            [2, [2, 3]],
            [3, [4, 3]],
          ],
          references: [['dimg', 1, [2, 3]]],
        });
      expect((await processImage(grid(t420, t420), full)).outputs[0]).toMatchObject({
        width: 384,
        height: 128,
      });
      for (const [left, right] of [
        [t420, t444],
        [t444, t420],
        [t420, t422],
        [t422, t444],
      ] as const) {
        const error = await processImage(grid(left, right), full).catch((caught) => caught);
        expect(error).toBeInstanceOf(InvalidImageError);
        expect(error).toMatchObject({
          reason: 'corrupt',
          message: expect.stringContaining('Image tile has different chroma format than combined image'),
        });
      }
    });
  },
);

describe.skipIf(!hasTool('heif-enc') || !hasTool('convert'))(
  'HEIC without a colr box: the HEVC VUI’s colour',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-vui-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /**
     * The P3 card's stored values as a HEIC written by heif-enc (x265), whose SPS's VUI says these
     * x265 colour names, rebuilt with only its hvcC, ispe and the given properties (no colr box).
     */
    const vuiHeic = (x265: string[], properties: Uint8Array[] = []) => {
      const png = join(dir, 'card.png');
      const heic = join(dir, 'card.heic');
      execFileSync('convert', [fixturePath('edge/colour/p3-card.png'), '+profile', '*', `PNG24:${png}`]);
      execFileSync('heif-enc', ['-q', '90', ...x265.flatMap((p) => ['-p', `x265:${p}`]), png, '-o', heic], {
        stdio: 'ignore',
      });
      const { hvcC, data } = heifParts(readFileSync(heic));
      return buildHeif({
        items: [{ id: 1, type: 'hvc1', data }],
        primary: 1,
        properties: [hvcC, ispe(96, 64), ...properties],
        associations: [[1, [0x81, 2, ...properties.map((_, i) => 3 + i)]]],
      });
    };
    const P3 = ['colorprim=smpte432', 'transfer=iec61966-2-1', 'colormatrix=smpte170m'];

    it('reads the VUI’s code points, past scaling lists and reference picture sets', () => {
      for (const extra of [[], ['scaling-list=default'], ['preset=veryslow'], ['ref=4', 'bframes=3']]) {
        expect(probeImage('heic', vuiHeic([...P3, ...extra])).colour, extra.join()).toEqual({
          nclx: { primaries: 12, transfer: 13, matrix: 6 },
          nclxSource: 'hevc',
          warnings: [],
        });
      }
      expect(probeImage('heic', vuiHeic(['colorprim=bt2020', 'transfer=bt2020-10'])).colour).toMatchObject({
        nclx: { primaries: 9, transfer: 14 },
      });
    });

    it('converts Display P3 (12/13) in the VUI exactly as an nclx box of 12/13', async () => {
      const bitstream = await processed(vuiHeic(P3));
      const box = await processed(vuiHeic([], [nclxBox(12, 13, 6)]));
      expect(bitstream.colour).toEqual(DISPLAY_P3);
      expect(box.colour).toEqual(DISPLAY_P3);
      expect(bitstream.png.equals(box.png)).toBe(true);
      expect((await processed(vuiHeic([]))).png.equals(bitstream.png)).toBe(false);
    });

    it('names the HEVC VUI in the warning for a transfer it cannot take', async () => {
      const result = await processImage(vuiHeic(['colorprim=bt2020', 'transfer=smpte2084']), full);
      expect(result.colour).toEqual({
        converted: false,
        warnings: [
          "The HEVC VUI's transfer characteristics 16 (PQ (SMPTE ST 2084), HDR) (ITU-T H.273) are not supported: HDR is not tone-mapped: the image is taken as sRGB",
        ],
      });
    });

    it('lets a colr box win over the VUI, as libheif does', async () => {
      const described = await processed(vuiHeic(P3, [nclxBox(1, 13, 6)]));
      expect(described.colour).toEqual({ converted: false, warnings: [] });
      expect(described.png.equals((await processed(vuiHeic([]))).png)).toBe(true);
    });
  },
);

describe('HEVC sequence parameter set: the VUI behind every field before it', () => {
  /**
   * An RBSP written MSB first from fields `u<bits>:<value>`, `ue:<value>` and `se:<value>`
   * (Exp-Golomb), separated by spaces, then its stop bit.
   */
  function rbsp(lines: readonly string[]): number[] {
    const bits: number[] = [];
    const put = (value: number, width: number) => {
      for (let i = width - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) & 1);
    };
    const ue = (value: number) => {
      const length = Math.floor(Math.log2(value + 1));
      put(0, length);
      put(value + 1, length + 1);
    };
    for (const field of lines.join(' ').split(/\s+/).filter(Boolean)) {
      const [kind, text] = field.split(':') as [string, string];
      const value = Number(text);
      if (kind === 'ue') ue(value);
      else if (kind === 'se') ue(value > 0 ? 2 * value - 1 : -2 * value);
      else put(value, Number(kind.slice(1)));
    }
    bits.push(1); // rbsp_stop_one_bit
    while (bits.length % 8) bits.push(0);
    const bytes: number[] = [];
    for (let i = 0; i < bits.length; i += 8) bytes.push(Number.parseInt(bits.slice(i, i + 8).join(''), 2));
    return bytes;
  }
  /** A NAL unit of type 33 (SPS), with emulation prevention bytes. */
  function spsNal(payload: number[]): Uint8Array {
    const out = [0x42, 0x01];
    let zeros = 0;
    for (const byte of payload) {
      if (zeros >= 2 && byte <= 3) {
        out.push(3);
        zeros = 0;
      }
      out.push(byte);
      zeros = byte === 0 ? zeros + 1 : 0;
    }
    return Uint8Array.from(out);
  }
  const u16 = (n: number) => [n >> 8, n & 0xff];
  const heicWith = (sps: Uint8Array) => {
    // hvcC: 21 bytes of profile fields, lengthSizeMinusOne 3, one array (SPS) of one NAL unit.
    const hvcC = box(
      'hvcC',
      Uint8Array.of(1, ...Array(20).fill(0), 0xff, 1, 0x21, ...u16(1), ...u16(sps.length)),
      sps,
    );
    return buildHeif({
      items: [{ id: 1, type: 'hvc1', data: Uint8Array.of(0, 0, 0, 2, 0x26, 0x01) }],
      primary: 1,
      properties: [hvcC, ispe(96, 64)],
      associations: [[1, [0x81, 2]]],
    });
  };
  const times = (n: number, field: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => field(i)).join(' ');
  const START = [
    'u4:0 u3:0 u1:1', // sps_video_parameter_set_id, sps_max_sub_layers_minus1, sps_temporal_id_nesting_flag
    'u2:0 u1:0 u5:1 u32:1610612736 u4:0 u43:0 u1:0 u8:90', // profile_tier_level: Main, level 3
    'ue:0 ue:1', // sps_seq_parameter_set_id, chroma_format_idc 4:2:0
    'ue:96 ue:64 u1:0', // the size, no conformance window
    'ue:0 ue:0', // bit depths
  ];

  it('derives short-term reference picture sets predicted from the one before, as the decoder does', () => {
    const sps = rbsp([
      ...START,
      'ue:4', // log2_max_pic_order_cnt_lsb_minus4: 8-bit POC LSBs
      'u1:1 ue:4 ue:2 ue:0', // sub-layer ordering
      'ue:0 ue:3 ue:0 ue:3 ue:1 ue:1', // block sizes, transform hierarchy depths
      'u1:1 u1:1', // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
      // scaling_list_data: 4x4 matrix 0 coded (16 deltas), 16x16 matrix 0 coded (DC + 64), others predicted.
      `u1:1 ${times(16, (i) => `se:${(i % 3) - 1}`)} ${times(5, () => 'u1:0 ue:0')}`,
      times(6, (matrix) => `u1:0 ue:${matrix}`),
      `u1:1 se:3 ${times(64, (i) => `se:${(i % 5) - 2}`)} ${times(5, () => 'u1:0 ue:0')}`,
      times(2, () => 'u1:0 ue:0'),
      'u1:1 u1:1', // amp_enabled_flag, sample_adaptive_offset_enabled_flag
      'u1:1 u4:7 u4:7 ue:0 ue:1 u1:1', // pcm
      'ue:4', // num_short_term_ref_pic_sets
      'ue:2 ue:1 ue:0 u1:1 ue:1 u1:1 ue:1 u1:0', // 0: S0 -1, -3; S1 +2
      // 1: from 0 by -1: -2 (kept), -4 (use_delta), +1 (dropped), -1 (kept): S0 -1, -2, -4.
      'u1:1 u1:1 ue:0 u1:1 u1:0 u1:1 u1:0 u1:0 u1:1',
      // 2: from 1 (nearest first) by +2: +1 (dropped), 0 (no picture), -2, +2: two pictures.
      'u1:1 u1:0 ue:1 u1:0 u1:0 u1:1 u1:1 u1:1',
      // 3: from 2: one flag for each of its two pictures and one for the delta.
      'u1:1 u1:0 ue:0 u1:1 u1:1 u1:1',
      'u1:1 ue:2 u8:200 u1:1 u8:17 u1:0', // two long-term pictures, 8-bit POC LSBs
      'u1:1 u1:1', // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
      'u1:1', // vui_parameters_present_flag
      'u1:1 u8:255 u16:4 u16:3', // aspect ratio: an extended SAR, 4:3
      'u1:1 u1:1', // overscan
      'u1:1 u3:5 u1:1 u1:1 u8:12 u8:13 u8:6', // video signal type, colour description
      'u8:0', // the rest of the VUI (not read)
    ]);
    expect(probeImage('heic', heicWith(spsNal(sps))).colour).toEqual({
      nclx: { primaries: 12, transfer: 13, matrix: 6 },
      nclxSource: 'hevc',
      warnings: [],
    });
  });

  it('gives no colour, and still the size, for an SPS that ends before its VUI', () => {
    const header = probeImage('heic', heicWith(spsNal(rbsp(START))));
    expect(header).toMatchObject({ width: 96, height: 64, colour: { warnings: [] } });
    expect(header.colour.nclx).toBeUndefined();
  });
});
