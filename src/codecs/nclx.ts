/**
 * An ICC profile for a HEIF/AVIF `nclx` colour description (ITU-T H.273 code points), so that an
 * image described by its primaries and transfer alone goes through the same Little CMS conversion
 * to sRGB as one with an embedded profile (`colour.ts`).
 *
 * The profile is an ICC v4 matrix/TRC profile: the colorants are the primaries' XYZ for a white of
 * Y = 1, adapted from the signalled white point to the PCS's D50 with the Bradford transform (as
 * ICC.1 Annex E asks, with the matrix in a `chad` tag), and each channel's curve is the transfer's
 * decoding function as a parametric curve.
 */

/** H.273 colour primaries: red, green, blue and white chromaticities (x, y). */
const PRIMARIES: Readonly<Record<number, { name: string; xy: readonly number[] }>> = {
  1: { name: 'BT.709', xy: [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329] },
  4: { name: 'BT.470 System M', xy: [0.67, 0.33, 0.21, 0.71, 0.14, 0.08, 0.31, 0.316] },
  5: { name: 'BT.470 System B, G', xy: [0.64, 0.33, 0.29, 0.6, 0.15, 0.06, 0.3127, 0.329] },
  6: { name: 'BT.601 (SMPTE 170M)', xy: [0.63, 0.34, 0.31, 0.595, 0.155, 0.07, 0.3127, 0.329] },
  7: { name: 'SMPTE 240M', xy: [0.63, 0.34, 0.31, 0.595, 0.155, 0.07, 0.3127, 0.329] },
  8: { name: 'generic film', xy: [0.681, 0.319, 0.243, 0.692, 0.145, 0.049, 0.31, 0.316] },
  9: { name: 'BT.2020', xy: [0.708, 0.292, 0.17, 0.797, 0.131, 0.046, 0.3127, 0.329] },
  11: { name: 'DCI-P3 (SMPTE RP 431-2)', xy: [0.68, 0.32, 0.265, 0.69, 0.15, 0.06, 0.314, 0.351] },
  12: { name: 'Display P3 (SMPTE EG 432-1)', xy: [0.68, 0.32, 0.265, 0.69, 0.15, 0.06, 0.3127, 0.329] },
  22: { name: 'EBU Tech. 3213-E', xy: [0.63, 0.34, 0.295, 0.605, 0.155, 0.077, 0.3127, 0.329] },
};

/**
 * H.273 primaries that are sRGB's: 1 (BT.709) and 2 (unspecified, which MIAF and browsers take
 * as sRGB).
 */
export const SRGB_PRIMARIES: ReadonlySet<number> = new Set([1, 2]);

/** The ICC parametric curve (type 3: Y = (aX + b)^g for X >= d, else cX) of sRGB. */
const SRGB_CURVE = [2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045];

/**
 * H.273 transfer characteristics we decode, as parametric curves ([g] or type 3's five values).
 * The BT.709 family (1, 6, 14, 15: one OETF) is decoded with sRGB's curve, as Chrome does (its
 * `gfx::ColorSpace` gives these sRGB's function: what displays and players show), and so is 2
 * (unspecified). 4 and 5 are gamma 2.2 and 2.8, 8 linear.
 */
const TRANSFERS: Readonly<Record<number, { name: string; curve: readonly number[] }>> = {
  1: { name: 'BT.709', curve: SRGB_CURVE },
  2: { name: 'unspecified', curve: SRGB_CURVE },
  4: { name: 'gamma 2.2', curve: [2.2] },
  5: { name: 'gamma 2.8', curve: [2.8] },
  6: { name: 'BT.601', curve: SRGB_CURVE },
  8: { name: 'linear', curve: [1] },
  13: { name: 'sRGB', curve: SRGB_CURVE },
  14: { name: 'BT.2020 10-bit', curve: SRGB_CURVE },
  15: { name: 'BT.2020 12-bit', curve: SRGB_CURVE },
};

/** Transfers named in the warning when they are refused. */
const UNSUPPORTED_TRANSFERS: Readonly<Record<number, string>> = {
  7: 'SMPTE 240M',
  9: 'logarithmic',
  10: 'logarithmic',
  11: 'IEC 61966-2-4',
  12: 'BT.1361',
  16: 'PQ (SMPTE ST 2084), HDR',
  17: 'SMPTE ST 428',
  18: 'HLG (ARIB STD-B67), HDR',
};

/** The transfers that give sRGB's curve: with sRGB primaries, such an image needs no conversion. */
export const srgbTransfer = (transfer: number): boolean => TRANSFERS[transfer]?.curve === SRGB_CURVE;

/**
 * Where a file's code points were read, as a warning names it: a HEIF `colr` box of type nclx, or
 * (a file without one) the coded image's AV1 sequence header (color_config) or HEVC VUI.
 */
export type NclxSource = 'colr' | 'av1' | 'hevc' | 'cicp';
export const NCLX_SOURCE_NAMES: Readonly<Record<NclxSource, string>> = {
  colr: 'nclx box',
  av1: 'AV1 sequence header',
  hevc: 'HEVC VUI',
  cicp: 'PNG cICP chunk',
};

export type NclxProfile =
  | { readonly icc: Uint8Array; readonly description: string }
  | { readonly unsupported: string };

/**
 * The profile of an nclx description, for an RGB image or (`gray`) a grey one, whose primaries do
 * not matter; or why there is none: primaries or a transfer we do not decode (HDR's PQ and HLG
 * are not tone-mapped), named with their code points.
 */
export function nclxProfile(
  primaries: number,
  transfer: number,
  gray = false,
  source: NclxSource = 'colr',
): NclxProfile {
  const subject = source === 'colr' ? "The nclx colour description's" : `The ${NCLX_SOURCE_NAMES[source]}'s`;
  const p = PRIMARIES[primaries === 2 ? 1 : primaries];
  const t = TRANSFERS[transfer];
  if (!t) {
    const name = UNSUPPORTED_TRANSFERS[transfer];
    return {
      unsupported: `${subject} transfer characteristics ${transfer}${name ? ` (${name})` : ''} (ITU-T H.273) are not supported${name?.endsWith('HDR') ? ': HDR is not tone-mapped' : ''}`,
    };
  }
  if (!p && !gray)
    return {
      unsupported: `${subject} colour primaries ${primaries} (ITU-T H.273) are not supported`,
    };
  const description = gray
    ? `nclx grey, ${t.name} transfer`
    : `nclx ${p!.name} primaries, ${t.name} transfer`;
  const trc = para(t.curve);
  if (gray) return { icc: profile('GRAY', description, [['kTRC', trc]], IDENTITY), description };
  const [colorants, chad] = colorantsAtD50(p!.xy);
  const xyz = (column: number) =>
    tag('XYZ ', s15(colorants[column]!), s15(colorants[3 + column]!), s15(colorants[6 + column]!));
  return {
    icc: profile(
      'RGB ',
      description,
      [
        ['rXYZ', xyz(0)],
        ['gXYZ', xyz(1)],
        ['bXYZ', xyz(2)],
        ['rTRC', trc],
        ['gTRC', trc],
        ['bTRC', trc],
      ],
      chad,
    ),
    description,
  };
}

/** ICC's D50 PCS illuminant (ICC.1 7.2.16), as Little CMS has it. */
const D50 = [0.9642, 1, 0.8249];
const IDENTITY = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const BRADFORD = [0.8951, 0.2664, -0.1614, -0.7502, 1.7135, 0.0367, 0.0389, -0.0685, 1.0296];

/** Row-major 3x3 matrices. */
const mul = (a: readonly number[], b: readonly number[]) =>
  Array.from({ length: 9 }, (_, i) => {
    const r = Math.floor(i / 3);
    const c = i % 3;
    return a[r * 3]! * b[c]! + a[r * 3 + 1]! * b[3 + c]! + a[r * 3 + 2]! * b[6 + c]!;
  });
const apply = (m: readonly number[], v: readonly number[]) =>
  [0, 1, 2].map((r) => m[r * 3]! * v[0]! + m[r * 3 + 1]! * v[1]! + m[r * 3 + 2]! * v[2]!);
function invert(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    (e * i - f * h) / det,
    (c * h - b * i) / det,
    (b * f - c * e) / det,
    (f * g - d * i) / det,
    (a * i - c * g) / det,
    (c * d - a * f) / det,
    (d * h - e * g) / det,
    (b * g - a * h) / det,
    (a * e - b * d) / det,
  ];
}
const xyToXyz = (x: number, y: number) => [x / y, 1, (1 - x - y) / y];

/** The RGB to XYZ (D50) matrix of these primaries, and the Bradford adaptation from their white. */
function colorantsAtD50(xy: readonly number[]): [number[], number[]] {
  const columns = [0, 1, 2].map((k) => xyToXyz(xy[2 * k]!, xy[2 * k + 1]!));
  const p = [0, 1, 2].flatMap((r) => columns.map((column) => column[r]!));
  const white = xyToXyz(xy[6]!, xy[7]!);
  const scale = apply(invert(p), white);
  const rgbToXyz = p.map((v, i) => v * scale[i % 3]!);
  const from = apply(BRADFORD, white);
  const to = apply(BRADFORD, D50);
  const cone = [to[0]! / from[0]!, 0, 0, 0, to[1]! / from[1]!, 0, 0, 0, to[2]! / from[2]!];
  const chad = mul(invert(BRADFORD), mul(cone, BRADFORD));
  return [mul(chad, rgbToXyz), chad];
}

const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const s15 = (v: number) => u32(Math.round(v * 65536) >>> 0);
const latin = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const concat = (parts: readonly Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};
const tag = (type: string, ...body: Uint8Array[]) => concat([latin(type), u32(0), ...body]);

/** A parametricCurveType (ICC.1 10.18): function 0 (gamma) or 3 (sRGB's shape). */
function para(curve: readonly number[]): Uint8Array {
  const kind = curve.length === 1 ? 0 : 3;
  return tag('para', Uint8Array.of(0, kind, 0, 0), ...curve.map(s15));
}

function profile(
  space: 'RGB ' | 'GRAY',
  description: string,
  tags: readonly [string, Uint8Array][],
  chad: readonly number[],
): Uint8Array {
  const text = Uint8Array.from(Buffer.from(description, 'utf16le').swap16());
  const all: [string, Uint8Array][] = [
    ['desc', tag('mluc', u32(1), u32(12), latin('enUS'), u32(text.length), u32(28), text)],
    ['wtpt', tag('XYZ ', ...D50.map(s15))],
    ['chad', tag('sf32', ...chad.map(s15))],
    ...tags,
  ];
  const pad = (b: Uint8Array) => concat([b, new Uint8Array((4 - (b.length % 4)) % 4)]);
  let offset = 128 + 4 + 12 * all.length;
  const table: Uint8Array[] = [u32(all.length)];
  const data: Uint8Array[] = [];
  for (const [signature, body] of all) {
    table.push(latin(signature), u32(offset), u32(body.length));
    data.push(pad(body));
    offset += pad(body).length;
  }
  const header = new Uint8Array(128);
  header.set(u32(offset), 0);
  header.set(u32(0x04300000), 8);
  header.set(latin(`mntr${space}XYZ `), 12);
  header.set(latin('acsp'), 36);
  header.set(concat(D50.map(s15)), 68);
  return concat([header, ...table, ...data]);
}
