import { crc32, deflateSync } from 'node:zlib';
import { readFixture } from './fixtures.ts';
import { pngRgba16, writePng } from './png.ts';
import { progressiveJpeg } from './scans.ts';

/**
 * Hostile inputs for the fuzz test (test/integration/fuzz.test.ts, run by fuzz-child.ts): small
 * seed files of every supported format and mutators that understand their containers (JPEG
 * segments, PNG chunks with their CRCs, RIFF chunks with the RIFF size, ISOBMFF boxes), besides
 * blind ones (truncation, bit flips), other formats named as images and polyglots.
 *
 * Case `index` of seed `seed` depends on nothing else (its own PRNG stream), so one case can be
 * replayed alone: `fuzzCase(seed, index)`.
 */

/** mulberry32: a 32-bit PRNG, small and good enough to pick mutations; the same seed, the same stream. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** [0, 1) */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The PRNG stream of one case: the seed and the index mixed (splitmix-like), so neighbours differ. */
export function caseRng(seed: number, index: number): Rng {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return new Rng(h ^ (h >>> 16));
}

const text = (s: string) => new TextEncoder().encode(s);
const concat = (parts: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const u16 = (n: number) => Uint8Array.of((n >> 8) & 0xff, n & 0xff);
const u32 = (n: number) => Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const u32le = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
const readU32 = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const readU32le = (b: Uint8Array, at: number) =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
/** Flips bits of one byte (an index past the end changes nothing, as for a plain assignment). */
const xorAt = (b: Uint8Array, at: number, bits: number) => {
  if (at < b.length) b[at] = b[at]! ^ bits;
};
const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** Sizes a header may declare: edges of every field width and of our limits, and plain small values. */
function dimension(rng: Rng, bits: number): number {
  const max = 2 ** bits - 1;
  return (
    rng.pick([
      0,
      1,
      2,
      rng.range(1, 64),
      rng.range(1, 2000),
      7071,
      16383,
      16384,
      16385,
      32768,
      65500,
      65535,
      rng.int(max + 1),
      max,
    ]) %
    (max + 1)
  );
}

/** Moves, copies or drops whole parts of a list (segments, chunks, boxes); undefined when there are none. */
function shuffleParts<T>(
  rng: Rng,
  parts: readonly T[],
  kind: string,
): { parts: T[]; what: string } | undefined {
  if (parts.length === 0) return undefined;
  const out = [...parts];
  const i = rng.int(out.length);
  switch (rng.int(3)) {
    case 0:
      out.splice(i, 1);
      return { parts: out, what: `drop-${kind}-${i}` };
    case 1: {
      const copies = rng.pick([1, 1, 2, 5, 50]);
      out.splice(rng.int(out.length + 1), 0, ...Array(copies).fill(out[i]!));
      return { parts: out, what: `dup-${kind}-${i}x${copies}` };
    }
    default: {
      const j = rng.int(out.length);
      [out[i], out[j]] = [out[j]!, out[i]!];
      return { parts: out, what: `swap-${kind}-${i}-${j}` };
    }
  }
}

/** The run's defaults (fuzz-child.ts reads IMGPIPE_FUZZ_SEED, IMGPIPE_FUZZ_CASES, IMGPIPE_FUZZ_MEMORY_MB). */
export const DEFAULT_SEED = 20261130;
export const DEFAULT_CASES = 2000;
export const DEFAULT_MEMORY_MB = 512;

export type CaseLine =
  | { readonly start: number; readonly name: string; readonly bytes: number }
  | {
      readonly end: number;
      readonly status: string;
      readonly reason?: string;
      readonly message?: string;
      readonly ms: number;
    };

export interface Summary {
  readonly seed: number;
  readonly cases: number;
  /** `processed`, `quarantined/<reason>` or `failed` -> count. */
  readonly outcomes: Record<string, number>;
  /** Cases that did not end in exactly one valid outcome: index, name, what went wrong. */
  readonly failures: readonly { index: number; name: string; problem: string }[];
  readonly slowest: { readonly name: string; readonly ms: number };
  readonly peakRssBytes: number;
  readonly memoryMb: number;
}

// ---------------------------------------------------------------------------------------------
// JPEG: markers and segments

interface JpegSegment {
  readonly marker: number;
  /** The whole segment from its 0xFF, with the entropy-coded data after an SOS. */
  readonly bytes: Uint8Array;
}

/** The segments between SOI and EOI (or the end), tolerant: stops at the first thing that is not a marker. */
export function jpegSegments(jpeg: Uint8Array): { segments: JpegSegment[]; tail: Uint8Array } {
  const segments: JpegSegment[] = [];
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xd9) break;
    let end = at + 2 + ((jpeg[at + 2]! << 8) | jpeg[at + 3]!);
    if (marker === 0xda) {
      while (
        end + 1 < jpeg.length &&
        !(jpeg[end] === 0xff && jpeg[end + 1] !== 0 && (jpeg[end + 1]! & 0xf8) !== 0xd0)
      )
        end++;
    }
    end = Math.min(end, jpeg.length);
    segments.push({ marker, bytes: jpeg.subarray(at, end) });
    at = end;
  }
  return { segments, tail: jpeg.subarray(at) };
}

const SOI = Uint8Array.of(0xff, 0xd8);
const EOI = Uint8Array.of(0xff, 0xd9);
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpegSegment(marker: number, body: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(0xff, marker), u16(body.length + 2), body]);
}

function joinJpeg(segments: readonly Uint8Array[], tail: Uint8Array): Uint8Array {
  return concat([SOI, ...segments, tail]);
}

/** A TIFF structure for an Exif segment or chunk: an IFD of random entries, an orientation among them. */
function exifTiff(rng: Rng): Uint8Array {
  const count = rng.pick([1, 2, 5, 40, 0, 65535]);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < Math.min(count, 60); i++) {
    const tag = i === 0 ? 0x0112 : rng.pick([0x0112, 0x8769, 0x8825, 0x010f, rng.int(65536)]);
    const type = rng.pick([3, 3, 4, 2, 7, rng.int(20)]);
    const n = rng.pick([1, 1, 2, 0xffffffff, rng.int(1 << 20)]);
    const value = rng.pick([rng.range(0, 9), rng.int(65536) << 16, rng.int(2 ** 32), 8]);
    entries.push(concat([u16(tag), u16(type), u32(n), u32(value >>> 0)]));
  }
  // Big-endian TIFF, first IFD at 8 (or wherever the dice say), next-IFD offset back to itself sometimes.
  const first = rng.pick([8, 8, 8, 0, 0xfffffff0, rng.int(200)]);
  const next = rng.pick([0, 0, 8, rng.int(2 ** 32)]);
  return concat([text('MM\0*'), u32(first), u16(count), ...entries, u32(next >>> 0), rng.bytes(rng.int(64))]);
}

function inflateBody(rng: Rng): { body: Uint8Array; what: string } {
  const size = rng.pick([0, 1, 100, 4000, 65533]);
  return rng.chance(0.5)
    ? { body: rng.bytes(size), what: `random${size}` }
    : { body: new Uint8Array(size).fill(rng.pick([0, 0xff, 0x41])), what: `fill${size}` };
}

function mutateJpeg(rng: Rng, jpeg: Uint8Array): { bytes: Uint8Array; what: string } | undefined {
  const { segments, tail } = jpegSegments(jpeg);
  const raw = segments.map((s) => s.bytes);
  const indexOf = (test: (m: number) => boolean) => segments.findIndex((s) => test(s.marker));
  const patch = (i: number, change: (copy: Uint8Array) => void) => {
    const copy = new Uint8Array(raw[i]!);
    change(copy);
    raw[i] = copy;
    return joinJpeg(raw, tail);
  };
  switch (rng.int(10)) {
    case 0: {
      const shuffled = shuffleParts(rng, raw, 'segment');
      return shuffled && { bytes: joinJpeg(shuffled.parts, tail), what: shuffled.what };
    }
    case 1: {
      const sof = indexOf(isSof);
      if (sof < 0) return undefined;
      const [h, w] = [dimension(rng, 16), dimension(rng, 16)];
      const which = rng.int(3);
      return {
        bytes: patch(sof, (s) => {
          if (which !== 1) s.set(u16(h), 5);
          if (which !== 0) s.set(u16(w), 7);
        }),
        what: `sof-dimensions-${which === 1 ? '' : h}x${which === 0 ? '' : w}`,
      };
    }
    case 2: {
      const sof = indexOf(isSof);
      if (sof < 0) return undefined;
      const field = rng.pick(['precision', 'components', 'sampling', 'quant-table', 'marker'] as const);
      return {
        bytes: patch(sof, (s) => {
          if (field === 'precision') s[4] = rng.pick([0, 1, 12, 16, 255]);
          else if (field === 'components') s[9] = rng.pick([0, 2, 3, 4, 5, 255]);
          else if (field === 'sampling') s[11 + 3 * rng.int(Math.max(1, s[9] ?? 1))] = rng.int(256);
          else if (field === 'quant-table') s[12 + 3 * rng.int(Math.max(1, s[9] ?? 1))] = rng.int(256);
          else s[1] = rng.pick([0xc1, 0xc2, 0xc3, 0xc5, 0xc9, 0xca, 0xcb, 0xcf]);
        }),
        what: `sof-${field}`,
      };
    }
    case 3: {
      const table = rng.pick([0xc4, 0xdb] as const);
      const i = indexOf((m) => m === table);
      if (i < 0) return undefined;
      const name = table === 0xc4 ? 'dht' : 'dqt';
      return {
        bytes: patch(i, (s) => {
          const flips = rng.range(1, 6);
          for (let k = 0; k < flips; k++)
            s[4 + rng.int(Math.max(1, s.length - 4))] = rng.pick([0, 0xff, rng.int(256)]);
        }),
        what: `${name}-corrupt`,
      };
    }
    case 4: {
      // A scan (SOS and its data) repeated: the CPU bomb of issue 10, at every count around the limit.
      const scans = segments.map((s, i) => (s.marker === 0xda ? i : -1)).filter((i) => i >= 0);
      if (scans.length === 0) return undefined;
      const i = rng.pick(scans);
      const copies = rng.pick([1, 5, 50, 95, 99, 100, 101, 150, rng.range(1, 400)]);
      raw.splice(i + 1, 0, ...Array(copies).fill(raw[i]!));
      return { bytes: joinJpeg(raw, tail), what: `sos-${scans.indexOf(i)}-repeated-${copies}` };
    }
    case 5: {
      // Metadata inflated: APPn (Exif, ICC, XMP, junk) and COM segments, one or many, large or odd.
      const n = rng.pick([1, 1, 3, 30, 200]);
      const made: Uint8Array[] = [];
      let what = '';
      for (let k = 0; k < n; k++) {
        const kind = rng.int(4);
        if (kind === 0) {
          made.push(jpegSegment(0xe1, concat([text('Exif\0\0'), exifTiff(rng)])));
          what = 'exif';
        } else if (kind === 1) {
          const { body, what: w } = inflateBody(rng);
          made.push(
            jpegSegment(
              0xe2,
              concat([text('ICC_PROFILE\0'), Uint8Array.of(1, rng.range(0, 3)), body.subarray(0, 65500)]),
            ),
          );
          what = `icc-${w}`;
        } else {
          const { body, what: w } = inflateBody(rng);
          made.push(jpegSegment(rng.pick([0xe0, 0xe1, 0xed, 0xee, 0xef, 0xfe]), body.subarray(0, 65533)));
          what = `app-${w}`;
        }
      }
      raw.splice(rng.int(raw.length + 1), 0, ...made);
      return { bytes: joinJpeg(raw, tail), what: `metadata-${what}x${n}` };
    }
    case 6: {
      // A segment's length field lied about (JPEG has no checksum to fix up).
      if (raw.length === 0) return undefined;
      const i = rng.int(raw.length);
      const length = rng.pick([
        0,
        1,
        2,
        3,
        0xffff,
        rng.int(65536),
        ((raw[i]![2]! << 8) | raw[i]![3]!) + rng.range(-4, 4),
      ]);
      return {
        bytes: patch(i, (s) => s.set(u16(length & 0xffff), 2)),
        what: `length-${segments[i]!.marker.toString(16)}-${length & 0xffff}`,
      };
    }
    case 7: {
      // Entropy-coded data flipped, or a restart interval declared that the data does not follow.
      const scans = segments.map((s, i) => (s.marker === 0xda ? i : -1)).filter((i) => i >= 0);
      if (scans.length === 0) return undefined;
      if (rng.chance(0.3)) {
        raw.splice(scans[0]!, 0, jpegSegment(0xdd, u16(rng.pick([0, 1, 7, 65535]))));
        return { bytes: joinJpeg(raw, tail), what: 'dri-inserted' };
      }
      const i = rng.pick(scans);
      const flips = rng.range(1, 20);
      return {
        bytes: patch(i, (s) => {
          for (let k = 0; k < flips; k++) {
            const at = 2 + rng.int(Math.max(1, s.length - 2));
            s[at] = s[at]! ^ (1 << rng.int(8));
          }
        }),
        what: `scan-data-${flips}-flips`,
      };
    }
    case 8: {
      // The end: EOI dropped, garbage after it, a second image after it.
      const kind = rng.int(3);
      const after = [new Uint8Array(0), rng.bytes(rng.range(1, 5000)), jpeg][kind]!;
      const end = kind === 0 ? new Uint8Array(0) : EOI;
      return {
        bytes: concat([joinJpeg(raw, new Uint8Array(0)), end, after]),
        what: ['no-eoi', 'trailing-garbage', 'two-images'][kind]!,
      };
    }
    default: {
      // A scan header's component selectors or spectral selection changed.
      const i = indexOf((m) => m === 0xda);
      if (i < 0) return undefined;
      return {
        bytes: patch(i, (s) => {
          s[4 + rng.int(Math.min(12, s.length - 4))] = rng.int(256);
        }),
        what: 'sos-header',
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PNG: chunks, each with its CRC

interface PngChunk {
  readonly type: string;
  readonly data: Uint8Array;
}

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export function pngChunks(png: Uint8Array): { chunks: PngChunk[]; tail: Uint8Array } {
  const chunks: PngChunk[] = [];
  let at = 8;
  while (at + 12 <= png.length) {
    const length = readU32(png, at);
    if (at + 12 + length > png.length) break;
    chunks.push({ type: ascii(png, at + 4, 4), data: png.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return { chunks, tail: png.subarray(at) };
}

/** A chunk with its CRC computed, or with `length` written in place of the true one (CRC still fixed up). */
export function pngChunk(type: string, data: Uint8Array, length = data.length): Uint8Array {
  const typed = concat([text(type), data]);
  return concat([u32(length), typed, u32(crc32(typed) >>> 0)]);
}

const joinPng = (chunks: readonly Uint8Array[], tail: Uint8Array = new Uint8Array(0)) =>
  concat([PNG_SIGNATURE, ...chunks, tail]);

function mutatePng(rng: Rng, png: Uint8Array): { bytes: Uint8Array; what: string } | undefined {
  const { chunks, tail } = pngChunks(png);
  const encoded = () => chunks.map((c) => pngChunk(c.type, c.data));
  const at = (type: string) => chunks.findIndex((c) => c.type === type);
  const replace = (i: number, data: Uint8Array) => {
    chunks[i] = { type: chunks[i]!.type, data };
    return joinPng(encoded(), tail);
  };
  switch (rng.int(8)) {
    case 0: {
      const shuffled = shuffleParts(rng, encoded(), 'chunk');
      return shuffled && { bytes: joinPng(shuffled.parts, tail), what: shuffled.what };
    }
    case 1: {
      const i = at('IHDR');
      if (i < 0) return undefined;
      const data = new Uint8Array(chunks[i]!.data);
      const field = rng.pick([
        'width',
        'height',
        'both',
        'depth',
        'colour',
        'interlace',
        'compression',
      ] as const);
      if (field === 'width' || field === 'both') data.set(u32(dimension(rng, 31)), 0);
      if (field === 'height' || field === 'both') data.set(u32(dimension(rng, 31)), 4);
      if (field === 'depth') data[8] = rng.pick([0, 1, 2, 4, 8, 16, 3, 255]);
      if (field === 'colour') data[9] = rng.pick([0, 2, 3, 4, 6, 1, 7, 255]);
      if (field === 'interlace') data[12] = rng.pick([1, 1, 2, 255]);
      if (field === 'compression') data[10 + rng.int(2)] = rng.range(1, 255);
      return { bytes: replace(i, data), what: `ihdr-${field}` };
    }
    case 2: {
      // A length field corrupted, the CRC fixed up so that a reader's check passes: either the
      // chunk's data cut or padded to the new length, or only the length field changed and the
      // CRC of what a reader now takes for the chunk's data written where it will look for it.
      if (chunks.length === 0) return undefined;
      const i = rng.int(chunks.length);
      const c = chunks[i]!;
      const length =
        rng.pick([
          0,
          1,
          c.data.length - 1,
          c.data.length + 1,
          c.data.length * 2,
          0x7fffffff,
          0xffffffff,
          rng.int(100000),
        ]) >>> 0;
      const parts = encoded();
      if (rng.chance(0.5) && length < 1_000_000) {
        const data =
          length <= c.data.length
            ? c.data.subarray(0, length)
            : concat([c.data, rng.bytes(length - c.data.length)]);
        parts[i] = pngChunk(c.type, data);
        return { bytes: joinPng(parts, tail), what: `length-${c.type}-${length}-resized` };
      }
      const file = joinPng(parts, tail);
      const start = 8 + parts.slice(0, i).reduce((sum, p) => sum + p.length, 0);
      file.set(u32(length), start);
      if (start + 12 + length <= file.length)
        file.set(u32(crc32(file.subarray(start + 4, start + 8 + length)) >>> 0), start + 8 + length);
      return { bytes: file, what: `length-${c.type}-${length}` };
    }
    case 3: {
      // The compressed data damaged (CRC fixed, so only zlib and the filters can tell), or split.
      const i = at('IDAT');
      if (i < 0) return undefined;
      const data = new Uint8Array(chunks[i]!.data);
      if (rng.chance(0.3)) {
        const pieces: Uint8Array[] = [];
        const size = rng.pick([1, 7, 100]);
        for (let k = 0; k < data.length; k += size) pieces.push(pngChunk('IDAT', data.subarray(k, k + size)));
        const parts = encoded();
        parts.splice(i, 1, ...pieces, ...(rng.chance(0.5) ? [pngChunk('IDAT', new Uint8Array(0))] : []));
        return { bytes: joinPng(parts, tail), what: `idat-split-${size}` };
      }
      const flips = rng.range(1, 10);
      for (let k = 0; k < flips; k++) xorAt(data, rng.int(data.length), 1 << rng.int(8));
      return { bytes: replace(i, data), what: `idat-${flips}-flips-crc-fixed` };
    }
    case 4: {
      // Metadata inflated: text, compressed text (a zlib bomb), ICC, Exif with random orientation.
      const kind = rng.pick(['tEXt', 'zTXt', 'iTXt', 'iCCP', 'eXIf', 'many'] as const);
      const zeros = (n: number) => deflateSync(new Uint8Array(n));
      const made =
        kind === 'tEXt'
          ? [pngChunk('tEXt', concat([text('Comment\0'), inflateBody(rng).body]))]
          : kind === 'zTXt'
            ? [pngChunk('zTXt', concat([text('Comment\0\0'), zeros(rng.pick([1000, 1 << 20, 20 << 20]))]))]
            : kind === 'iTXt'
              ? [pngChunk('iTXt', concat([text('XML:com.adobe.xmp\0\x01\0\0\0'), zeros(1 << 20)]))]
              : kind === 'iCCP'
                ? [
                    pngChunk(
                      'iCCP',
                      concat([text('icc\0\0'), rng.chance(0.5) ? zeros(5 << 20) : rng.bytes(500)]),
                    ),
                  ]
                : kind === 'eXIf'
                  ? [pngChunk('eXIf', exifTiff(rng))]
                  : Array.from({ length: 2000 }, () => pngChunk('tEXt', text('k\0v')));
      const parts = encoded();
      parts.splice(1 + rng.int(Math.max(1, parts.length - 1)), 0, ...made);
      return { bytes: joinPng(parts, tail), what: `metadata-${kind}` };
    }
    case 5: {
      // Palette and transparency: PLTE shortened, tRNS longer than the palette, or an APNG's chunks.
      const kind = rng.pick(['plte-short', 'trns-long', 'apng'] as const);
      const parts = encoded();
      const ihdr = at('IHDR');
      if (kind === 'plte-short') {
        const i = at('PLTE');
        if (i < 0) return undefined;
        return { bytes: replace(i, chunks[i]!.data.subarray(0, 3 * rng.int(3))), what: kind };
      }
      if (kind === 'trns-long') {
        parts.splice(ihdr + 1, 0, pngChunk('tRNS', rng.bytes(rng.pick([1, 6, 300]))));
        return { bytes: joinPng(parts, tail), what: kind };
      }
      const frames = rng.pick([1, 2, 0, 0x7fffffff]);
      parts.splice(
        ihdr + 1,
        0,
        pngChunk('acTL', concat([u32(frames), u32(0)])),
        pngChunk('fcTL', concat([u32(0), rng.bytes(22)])),
      );
      return { bytes: joinPng(parts, tail), what: `${kind}-${frames}-frames` };
    }
    case 6: {
      // CRC left wrong on one chunk (the one case where the checksum is not fixed up).
      if (chunks.length === 0) return undefined;
      const parts = encoded();
      const i = rng.int(parts.length);
      const copy = new Uint8Array(parts[i]!);
      xorAt(copy, copy.length - 1 - rng.int(4), 0xff);
      parts[i] = copy;
      return { bytes: joinPng(parts, tail), what: `bad-crc-${chunks[i]!.type}` };
    }
    default: {
      // IEND gone, or data after it.
      const parts = encoded().filter((_, i) => chunks[i]!.type !== 'IEND' || rng.chance(0.5));
      return { bytes: joinPng(parts, rng.bytes(rng.int(2000))), what: 'end-changed' };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// WebP: RIFF chunks, the RIFF size fixed up

interface RiffChunk {
  readonly fourcc: string;
  readonly data: Uint8Array;
}

export function riffChunks(webp: Uint8Array): RiffChunk[] {
  const chunks: RiffChunk[] = [];
  let at = 12;
  while (at + 8 <= webp.length) {
    const size = readU32le(webp, at + 4);
    chunks.push({
      fourcc: ascii(webp, at, 4),
      data: webp.subarray(at + 8, Math.min(webp.length, at + 8 + size)),
    });
    at += 8 + size + (size & 1);
  }
  return chunks;
}

function riffChunk(fourcc: string, data: Uint8Array, size = data.length): Uint8Array {
  return concat([text(fourcc), u32le(size), data, data.length & 1 ? new Uint8Array(1) : new Uint8Array(0)]);
}

/** The RIFF container around chunks, with its size fixed up (unless `riffSize` says otherwise). */
function joinRiff(chunks: readonly Uint8Array[], riffSize?: number): Uint8Array {
  const body = concat([text('WEBP'), ...chunks]);
  return concat([text('RIFF'), u32le(riffSize ?? body.length), body]);
}

function mutateWebp(rng: Rng, webp: Uint8Array): { bytes: Uint8Array; what: string } | undefined {
  const chunks = riffChunks(webp);
  const encoded = () => chunks.map((c) => riffChunk(c.fourcc, c.data));
  const at = (fourcc: string) => chunks.findIndex((c) => c.fourcc === fourcc);
  const replace = (i: number, data: Uint8Array) => {
    chunks[i] = { fourcc: chunks[i]!.fourcc, data };
    return joinRiff(encoded());
  };
  switch (rng.int(7)) {
    case 0: {
      const shuffled = shuffleParts(rng, encoded(), 'chunk');
      return shuffled && { bytes: joinRiff(shuffled.parts), what: shuffled.what };
    }
    case 1: {
      // VP8 key frame header: 14-bit width and height with 2 scale bits, after the start code.
      const i = at('VP8 ');
      if (i < 0 || chunks[i]!.data.length < 10) return undefined;
      const data = new Uint8Array(chunks[i]!.data);
      const [w, h] = [dimension(rng, 14) | (rng.chance(0.2) ? rng.int(4) << 14 : 0), dimension(rng, 14)];
      data.set(Uint8Array.of(w & 0xff, w >> 8, h & 0xff, h >> 8), 6);
      return { bytes: replace(i, data), what: `vp8-dimensions-${w & 0x3fff}x${h}` };
    }
    case 2: {
      // VP8L header: signature, then 14-bit width-1 and height-1, alpha, 3-bit version.
      const i = at('VP8L');
      if (i < 0 || chunks[i]!.data.length < 5) return undefined;
      const data = new Uint8Array(chunks[i]!.data);
      const [w, h] = [dimension(rng, 14), dimension(rng, 14)];
      const bits = (w | (h << 14) | ((readU32le(data, 1) >>> 28) << 28)) >>> 0;
      data.set(u32le(rng.chance(0.2) ? bits | (rng.range(1, 7) << 29) : bits), 1);
      if (rng.chance(0.1)) data[0] = rng.int(256);
      return { bytes: replace(i, data), what: `vp8l-dimensions-${w + 1}x${h + 1}` };
    }
    case 3: {
      // VP8X: canvas size (24 bits each) and flags; added in front when the file has none.
      const flags = rng.pick([0x02, 0x08, 0x10, 0x20, 0x04, rng.int(256)]);
      const [w, h] = [dimension(rng, 24), dimension(rng, 24)];
      const vp8x = concat([Uint8Array.of(flags, 0, 0, 0), u32le(w).subarray(0, 3), u32le(h).subarray(0, 3)]);
      const i = at('VP8X');
      const parts = encoded();
      if (i >= 0) parts[i] = riffChunk('VP8X', vp8x);
      else parts.unshift(riffChunk('VP8X', vp8x));
      return { bytes: joinRiff(parts), what: `vp8x-flags-${flags.toString(16)}-${w + 1}x${h + 1}` };
    }
    case 4: {
      // Sizes lied about: the RIFF size, or a chunk's size with the RIFF size fixed up around it.
      if (rng.chance(0.5)) {
        const size = rng.pick([
          0,
          4,
          0xffffffff,
          webp.length,
          webp.length - 8 + rng.range(-9, 9),
          rng.int(2 ** 32),
        ]);
        return { bytes: joinRiff(encoded(), size >>> 0), what: `riff-size-${size >>> 0}` };
      }
      if (chunks.length === 0) return undefined;
      const i = rng.int(chunks.length);
      const c = chunks[i]!;
      const size = rng.pick([0, 1, c.data.length + 1, c.data.length - 1, 0xfffffff0, rng.int(1 << 20)]) >>> 0;
      const parts = encoded();
      parts[i] = concat([text(c.fourcc), u32le(size), c.data]);
      return { bytes: joinRiff(parts), what: `chunk-size-${c.fourcc.trim()}-${size}` };
    }
    case 5: {
      // Metadata and animation chunks: EXIF with an orientation, ICCP, XMP, ANIM and ANMF frames.
      const kind = rng.pick(['EXIF', 'ICCP', 'XMP ', 'ANIM', 'ALPH'] as const);
      const data = kind === 'EXIF' ? exifTiff(rng) : kind === 'ANIM' ? rng.bytes(6) : inflateBody(rng).body;
      const parts = encoded();
      parts.splice(rng.int(parts.length + 1), 0, riffChunk(kind, data));
      if (kind === 'ANIM') parts.push(riffChunk('ANMF', concat([rng.bytes(16), ...parts.slice(-2, -1)])));
      return { bytes: joinRiff(parts), what: `chunk-${kind.trim()}-added` };
    }
    default: {
      // Bit flips inside the bitstream (chunk sizes intact).
      const i = chunks.findIndex((c) => c.fourcc === 'VP8 ' || c.fourcc === 'VP8L');
      if (i < 0) return undefined;
      const data = new Uint8Array(chunks[i]!.data);
      const flips = rng.range(1, 12);
      for (let k = 0; k < flips; k++) xorAt(data, rng.int(data.length), 1 << rng.int(8));
      return { bytes: replace(i, data), what: `bitstream-${flips}-flips` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AVIF: ISOBMFF boxes

/** Every box whose type is one of `types`, found by its type's bytes (with a plausible size before it). */
function boxesOf(
  file: Uint8Array,
  types: readonly string[],
): { type: string; start: number; size: number }[] {
  const found: { type: string; start: number; size: number }[] = [];
  const buffer = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  for (const type of types) {
    for (let at = buffer.indexOf(type, 4, 'latin1'); at >= 4; at = buffer.indexOf(type, at + 1, 'latin1')) {
      const size = readU32(file, at - 4);
      if (size >= 8 && at - 4 + size <= file.length) found.push({ type, start: at - 4, size });
    }
  }
  return found;
}

const CONTAINER_BOXES = [
  'ftyp',
  'meta',
  'hdlr',
  'pitm',
  'iloc',
  'iinf',
  'infe',
  'iref',
  'iprp',
  'ipco',
  'ipma',
  'ispe',
  'av1C',
  'pixi',
  'colr',
  'irot',
  'imir',
  'auxC',
  'mdat',
  'idat',
];

function topLevelBoxes(file: Uint8Array): Uint8Array[] {
  const boxes: Uint8Array[] = [];
  for (let at = 0; at + 8 <= file.length; ) {
    const size = readU32(file, at);
    if (size < 8) break;
    boxes.push(file.subarray(at, at + size));
    at += size;
  }
  return boxes;
}

function mutateAvif(rng: Rng, avif: Uint8Array): { bytes: Uint8Array; what: string } | undefined {
  const copy = new Uint8Array(avif);
  const one = (type: string) => {
    const boxes = boxesOf(avif, [type]);
    return boxes.length > 0 ? rng.pick(boxes) : undefined;
  };
  switch (rng.int(7)) {
    case 0: {
      const shuffled = shuffleParts(rng, topLevelBoxes(avif), 'box');
      return shuffled && { bytes: concat(shuffled.parts), what: shuffled.what };
    }
    case 1: {
      const ispe = one('ispe');
      if (!ispe) return undefined;
      const [w, h] = [dimension(rng, 32), dimension(rng, 32)];
      copy.set(u32(w), ispe.start + 12);
      copy.set(u32(h), ispe.start + 16);
      return { bytes: copy, what: `ispe-${w}x${h}` };
    }
    case 2: {
      // av1C: profile, level, tier, bit depth, monochrome, subsampling; or the OBUs it carries.
      const av1C = one('av1C');
      if (!av1C) return undefined;
      const at = av1C.start + 8 + rng.int(Math.max(1, av1C.size - 8));
      copy[at] = rng.chance(0.5) ? copy[at]! ^ (1 << rng.int(8)) : rng.int(256);
      return { bytes: copy, what: `av1C-byte-${at - av1C.start - 8}` };
    }
    case 3: {
      // A box's size field wrong (no checksum in ISOBMFF): too small, too large, 0 (to the end), 1 (64-bit).
      const boxes = boxesOf(avif, CONTAINER_BOXES);
      if (boxes.length === 0) return undefined;
      const box = rng.pick(boxes);
      const size =
        rng.pick([0, 1, 7, 8, box.size - 1, box.size + 1, box.size + 1000, 0xffffffff, rng.int(2 ** 32)]) >>>
        0;
      copy.set(u32(size), box.start);
      return { bytes: copy, what: `size-${box.type}-${size}` };
    }
    case 4: {
      // iloc extents (where the AV1 data is), pitm (which item), irot/imir, pixi fields.
      const box = one(rng.pick(['iloc', 'pitm', 'irot', 'imir', 'pixi', 'ipma', 'iinf', 'infe']));
      if (!box) return undefined;
      const flips = rng.range(1, 3);
      for (let k = 0; k < flips; k++) {
        const at = box.start + 8 + rng.int(Math.max(1, box.size - 8));
        copy[at] = rng.pick([0, 0xff, rng.int(256), copy[at]! + 1]) & 0xff;
      }
      return { bytes: copy, what: `${box.type}-fields` };
    }
    case 5: {
      // The AV1 data: bit flips in the OBUs (sequence header first), or the data cut short.
      const mdat = one('mdat');
      if (!mdat) return undefined;
      if (rng.chance(0.3)) {
        const end = mdat.start + 8 + rng.int(mdat.size - 8);
        return { bytes: avif.subarray(0, end), what: `mdat-cut-at-${end}` };
      }
      const head = rng.chance(0.5) ? Math.min(40, mdat.size - 8) : mdat.size - 8;
      const flips = rng.range(1, 8);
      for (let k = 0; k < flips; k++) xorAt(copy, mdat.start + 8 + rng.int(head), 1 << rng.int(8));
      return { bytes: copy, what: `mdat-${flips}-flips-in-${head}` };
    }
    default: {
      // The brands: avif gone, or avis (a sequence) claimed.
      const ftyp = one('ftyp');
      if (!ftyp) return undefined;
      copy.set(
        text(rng.pick(['avis', 'heic', 'mif1', 'xxxx'])),
        ftyp.start + 8 + 4 * rng.int(Math.max(1, (ftyp.size - 8) / 4)),
      );
      return { bytes: copy, what: 'ftyp-brand' };
    }
  }
}

/**
 * Where a GIF's parts are: the logical screen descriptor at 6, the global colour table after it,
 * then the first image descriptor (0x2c) past any extensions, and the end of that image's data.
 * A RangeError when the file does not have them (the caller skips the mutation).
 */
function gifLayout(gif: Uint8Array): { image: number; imageEnd: number } {
  const at = (i: number) => {
    if (i >= gif.length) throw new RangeError(`GIF byte ${i} past the end`);
    return gif[i]!;
  };
  const subBlocks = (i: number) => {
    while (at(i) !== 0) i += at(i) + 1;
    return i + 1;
  };
  let i = 13 + (at(10) & 0x80 ? 3 * 2 ** ((at(10) & 7) + 1) : 0);
  while (at(i) === 0x21) i = subBlocks(i + 2);
  if (at(i) !== 0x2c) throw new RangeError('no GIF image descriptor');
  const image = i;
  i += 10;
  if (at(image + 9) & 0x80) i += 3 * 2 ** ((at(image + 9) & 7) + 1);
  return { image, imageEnd: subBlocks(i + 1) };
}

function mutateGif(rng: Rng, gif: Uint8Array): { bytes: Uint8Array; what: string } | undefined {
  const copy = new Uint8Array(gif);
  const u16le = (value: number) => Uint8Array.of(value & 0xff, value >> 8);
  const { image, imageEnd } = gifLayout(gif);
  switch (rng.int(5)) {
    case 0: {
      const [w, h] = [dimension(rng, 16), dimension(rng, 16)];
      copy.set(concat([u16le(w), u16le(h)]), 6);
      return { bytes: copy, what: `screen-${w}x${h}` };
    }
    case 1: {
      // The first image's place and size, which must fit the screen.
      const field = rng.int(4);
      const value = dimension(rng, 16);
      copy.set(u16le(value), image + 1 + 2 * field);
      return { bytes: copy, what: `image-field-${field}-${value}` };
    }
    case 2: {
      // The LZW minimum code size (2 to 8 are meaningful; 12 is LZW's own limit).
      const size = rng.pick([0, 1, 9, 12, 13, 255, rng.int(256)]);
      let at = image + 10;
      if (copy[image + 9]! & 0x80) at += 3 * 2 ** ((copy[image + 9]! & 7) + 1);
      if (at >= imageEnd) return undefined;
      copy[at] = size;
      return { bytes: copy, what: `lzw-code-size-${size}` };
    }
    case 3: {
      // The first frame repeated: an animation of thousands of frames in a small file.
      // At most about 4 MB, so the case stays a small upload (the fixture's frame is 14 kB).
      const frame = gif.subarray(image, imageEnd);
      const copies = Math.min(rng.pick([1, 10, 1000, 20_000]), Math.floor(4e6 / frame.length));
      return {
        bytes: concat([gif.subarray(0, imageEnd), ...Array(copies).fill(frame), gif.subarray(imageEnd)]),
        what: `frame-repeated-${copies}`,
      };
    }
    default: {
      // The packed fields: colour table flags and sizes, interlace.
      const at = rng.pick([10, image + 9]);
      copy[at] = copy[at]! ^ (1 << rng.int(8));
      return { bytes: copy, what: `packed-byte-${at}` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds, other formats, polyglots

export interface Seed {
  readonly name: string;
  readonly format: 'jpeg' | 'png' | 'webp' | 'avif' | 'heic' | 'gif';
  readonly bytes: Uint8Array;
}

/** A palette PNG with transparency, which no fixture is: 4 entries, 2 bits per pixel. */
function palettePng(): Uint8Array {
  const [width, height] = [24, 16];
  const stride = 1 + Math.ceil((width * 2) / 8);
  const raw = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) raw[y * stride + 1 + (x >> 2)]! |= ((x + y) & 3) << (6 - 2 * (x & 3));
  const ihdr = concat([u32(width), u32(height), Uint8Array.of(2, 3, 0, 0, 0)]);
  return joinPng([
    pngChunk('IHDR', ihdr),
    pngChunk('PLTE', Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255)),
    pngChunk('tRNS', Uint8Array.of(255, 128, 0)),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * The small files every case starts from: each supported format, layout and bit depth, and a small
 * progressive JPEG of MozJPEG's for the repeated-scan mutations (the fixture is libjpeg's).
 */
export async function fuzzSeeds(): Promise<Seed[]> {
  const fixture = (format: Seed['format'], path: string): Seed => ({
    name: path.split('/').at(-1)!,
    format,
    bytes: new Uint8Array(readFixture(path)),
  });
  return [
    fixture('jpeg', 'edge/orientation/exif-orientation-6.jpg'),
    fixture('jpeg', 'edge/formats/1x1.jpg'),
    fixture('jpeg', 'edge/formats/progressive.jpg'),
    fixture('jpeg', 'edge/formats/grayscale.jpg'),
    fixture('jpeg', 'edge/formats/cmyk.jpg'),
    fixture('png', 'edge/orientation/upright-reference-96x64.png'),
    fixture('png', 'edge/orientation/png-exif-orientation-6.png'),
    fixture('png', 'edge/formats/1x1.png'),
    fixture('png', 'edge/formats/rgb16-png48.png'),
    { name: 'palette-trns-24x16.png', format: 'png', bytes: palettePng() },
    {
      name: 'rgba16-24x16.png',
      format: 'png',
      bytes: pngRgba16(24, 16, { pixel: (x, y) => [x * 2000, y * 3000, 40000, 30000 + x * 1000] }),
    },
    { name: 'grey-40x30.png', format: 'png', bytes: writePng(40, 30, { pixel: (x, y) => [(x * y) & 0xff] }) },
    fixture('webp', 'edge/formats/lossy.webp'),
    fixture('webp', 'edge/formats/lossless.webp'),
    fixture('webp', 'edge/orientation/webp-exif-orientation-6.webp'),
    fixture('avif', 'edge/formats/avif-8bit-420.avif'),
    fixture('avif', 'edge/formats/avif-10bit-444.avif'),
    fixture('avif', 'edge/orientation/avif-irot3-imir0-orientation-7.avif'),
    fixture('avif', 'edge/orientation/avif-exif-orientation-6.avif'),
    fixture('heic', 'edge/formats/heic.heic'),
    fixture('heic', 'edge/formats/heic-alpha-thumbnail.heic'),
    fixture('gif', 'edge/formats/gif.gif'),
    {
      name: 'mozjpeg-progressive-120x90.jpg',
      format: 'jpeg',
      bytes: await progressiveJpeg('edge/formats/progressive.jpg', 120, 90),
    },
  ];
}

/** A ZIP archive with one stored file (what a polyglot appends, and what a .jpg upload may really be). */
function zipArchive(name: string, content: Uint8Array): Uint8Array {
  const crc = crc32(content) >>> 0;
  const n = text(name);
  const local = concat([
    u32le(0x04034b50),
    Uint8Array.of(20, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    u32le(crc),
    u32le(content.length),
    u32le(content.length),
    Uint8Array.of(n.length, 0, 0, 0),
    n,
    content,
  ]);
  const central = concat([
    u32le(0x02014b50),
    Uint8Array.of(20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    u32le(crc),
    u32le(content.length),
    u32le(content.length),
    Uint8Array.of(n.length, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    u32le(0),
    n,
  ]);
  const end = concat([
    u32le(0x06054b50),
    Uint8Array.of(0, 0, 0, 0, 1, 0, 1, 0),
    u32le(central.length),
    u32le(local.length),
    Uint8Array.of(0, 0),
  ]);
  return concat([local, central, end]);
}

const OTHER_FORMATS: readonly [string, () => Uint8Array][] = [
  ['svg', () => new Uint8Array(readFixture('edge/unsupported/image.svg'))],
  ['tiff', () => new Uint8Array(readFixture('edge/unsupported/image.tiff'))],
  ['bmp', () => new Uint8Array(readFixture('edge/unsupported/image.bmp'))],
  ['pdf', () => new Uint8Array(readFixture('edge/unsupported/document.pdf'))],
  ['html', () => new Uint8Array(readFixture('edge/broken/html-named.jpg'))],
  ['text', () => new Uint8Array(readFixture('edge/broken/text-named.jpg'))],
  ['zip', () => zipArchive('a.txt', text('hello'))],
  ['json', () => text('{"image": true, "width": 100000}')],
  ['xml', () => text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')],
  ['elf', () => concat([Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1), new Uint8Array(57)])],
  ['gzip', () => new Uint8Array(deflateSync(new Uint8Array(1 << 16)))],
  ['jxl', () => Uint8Array.of(0xff, 0x0a, 0xfa, 0x7f, 0x01, 0x90, 0x08)],
  ['psd', () => concat([text('8BPS'), Uint8Array.of(0, 1), new Uint8Array(20)])],
  ['ico', () => Uint8Array.of(0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0)],
  ['eicar', () => text('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')],
];

/** Just the magic of an image format, or a little more: what a sniffer sees and a probe must refuse. */
function headersOnly(rng: Rng, seeds: readonly Seed[]): { bytes: Uint8Array; what: string } {
  const seed = rng.pick(seeds);
  const n = rng.pick([2, 3, 4, 8, 12, 16, 20, 30, 33, 40, 64]);
  return { bytes: seed.bytes.subarray(0, n), what: `${seed.name}-first-${n}-bytes` };
}

/**
 * A zlib stream of `n` zero bytes, written directly (fixed Huffman codes: one literal 0, then
 * <length 258, distance 1> copies at 13 bits each), so a bomb of hundreds of megabytes is made in
 * a few megabytes of memory instead of by compressing the zeros.
 */
export function zeroZlib(n: number): Uint8Array {
  // 13 bits per copy, up to 257 literals of 8 bits, header, end of block and checksum.
  const out = new Uint8Array(Math.ceil(((n / 258) * 13) / 8) + 300);
  let at = 2;
  let bit = 0;
  const bits = (value: number, count: number) => {
    // LSB first, as DEFLATE packs fields; Huffman codes are passed reversed by `code`.
    for (let i = 0; i < count; i++) {
      if ((value >> i) & 1) out[at] = out[at]! | (1 << bit);
      if (++bit === 8) [bit, at] = [0, at + 1];
    }
  };
  const code = (value: number, count: number) => {
    let reversed = 0;
    for (let i = 0; i < count; i++) reversed |= ((value >> i) & 1) << (count - 1 - i);
    bits(reversed, count);
  };
  out.set([0x78, 0x01]);
  bits(1, 1); // BFINAL
  bits(1, 2); // BTYPE 01: fixed Huffman codes
  let left = n;
  if (left > 0) {
    code(0x30, 8); // literal 0
    left--;
  }
  for (; left >= 258; left -= 258) {
    code(0xc5, 8); // length 258 (symbol 285, no extra bits)
    code(0, 5); // distance 1
  }
  for (; left > 0; left--) code(0x30, 8);
  code(0, 7); // end of block (symbol 256)
  if (bit > 0) [bit, at] = [0, at + 1];
  // Adler-32 of n zeros: a = 1, b = n (mod 65521).
  out.set(u32((((n % 65521) << 16) | 1) >>> 0), at);
  return out.subarray(0, at + 4);
}

/**
 * Decompression bombs that are valid images: a PNG of zeros (grey, RGB, RGBA, 8 or 16 bits) or a
 * lossless WebP whose prefix codes cost 0 bits a pixel (the 52-byte fixture's bitstream, any size),
 * from half a megapixel to 80, so some pass the memory estimate and are decoded in full and some
 * are refused before: the peak RSS then tests the estimate.
 */
function bomb(rng: Rng): { bytes: Uint8Array; what: string; ext: string } {
  const pixels = Math.round(500_000 * 160 ** rng.next());
  const aspect = 4 ** (rng.next() * 2 - 1);
  const width = Math.max(1, Math.round(Math.sqrt(pixels * aspect)));
  const height = Math.max(1, Math.round(pixels / width));
  if (rng.chance(0.3)) {
    const [w, h] = [Math.min(width, 16384), Math.min(height, 16384)];
    const webp = new Uint8Array(readFixture('edge/bombs/webp-16384x16384.webp'));
    webp.set(u32le(w - 1).subarray(0, 3), 24);
    webp.set(u32le(h - 1).subarray(0, 3), 27);
    webp.set(u32le(((w - 1) | ((h - 1) << 14)) >>> 0), 39);
    return { bytes: webp, what: `bomb-webp-lossless-${w}x${h}`, ext: 'webp' };
  }
  const [colour, depth, channels] = rng.pick([
    [0, 8, 1],
    [2, 8, 3],
    [6, 8, 4],
    [6, 16, 4],
    [0, 16, 1],
  ] as const);
  const raw = height * (1 + (width * channels * depth) / 8);
  const ihdr = concat([u32(width), u32(height), Uint8Array.of(depth, colour, 0, 0, 0)]);
  const png = joinPng([
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zeroZlib(raw)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
  return { bytes: png, what: `bomb-png-${depth}bit-${channels}ch-${width}x${height}`, ext: 'png' };
}

function polyglot(rng: Rng, seeds: readonly Seed[]): { bytes: Uint8Array; what: string } {
  const seed = rng.pick(seeds);
  const [otherName, other] = rng.pick(OTHER_FORMATS);
  switch (rng.int(5)) {
    case 0:
      return {
        bytes: concat([seed.bytes, zipArchive('payload.php', text('<?php echo 1; ?>'))]),
        what: `${seed.name}+zip`,
      };
    case 1:
      return {
        bytes: concat([seed.bytes, text('<html><script>alert(1)</script></html>')]),
        what: `${seed.name}+html`,
      };
    case 2:
      return { bytes: concat([seed.bytes, other()]), what: `${seed.name}+${otherName}` };
    case 3:
      return { bytes: concat([other(), seed.bytes]), what: `${otherName}+${seed.name}` };
    default: {
      // One format's magic in front of another's body.
      const magic = rng.pick(seeds.filter((s) => s.format !== seed.format));
      const n = { jpeg: 3, png: 8, webp: 12, avif: 24, heic: 24, gif: 6 }[magic.format];
      return {
        bytes: concat([magic.bytes.subarray(0, n), seed.bytes.subarray(n)]),
        what: `${magic.format}-magic-on-${seed.name}`,
      };
    }
  }
}

export interface FuzzCase {
  readonly index: number;
  /** What the case is, e.g. `12 exif-orientation-6.jpg sof-dimensions-7071x7071`. */
  readonly name: string;
  /** The object key, with an image extension whatever the bytes are. */
  readonly key: string;
  readonly bytes: Uint8Array;
}

// HEIC is the same container as AVIF (ISOBMFF boxes); the av1C mutation finds no box there.
const MUTATE = {
  jpeg: mutateJpeg,
  png: mutatePng,
  webp: mutateWebp,
  avif: mutateAvif,
  heic: mutateAvif,
  gif: mutateGif,
};
const EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'avif', 'heic', 'gif'];

/**
 * Case `index` of the fuzz run `seed`. About half the cases are container-aware mutations of a
 * seed (one to three stacked), the rest blind truncation and bit flips, headers alone, other
 * formats, zero and one byte, decompression bombs and polyglots.
 */
export function fuzzCase(seed: number, index: number, seeds: readonly Seed[]): FuzzCase {
  const rng = caseRng(seed, index);
  const make = (): { bytes: Uint8Array; what: string; ext: string } => {
    const roll = rng.int(100);
    if (roll < 55) {
      const source = rng.pick(seeds);
      let bytes = source.bytes;
      const steps: string[] = [];
      const depth = rng.pick([1, 1, 1, 2, 3]);
      for (let tries = 0; steps.length < depth && tries < 10; tries++) {
        // A mutation that does not fit what earlier ones left (a field past a shortened
        // segment's end) is skipped; the PRNG has moved on the same way, so the case is still reproducible.
        let mutated: ReturnType<(typeof MUTATE)['jpeg']>;
        try {
          mutated = MUTATE[source.format](rng, bytes);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
          mutated = undefined;
        }
        if (mutated) {
          bytes = mutated.bytes;
          steps.push(mutated.what);
        }
      }
      return { bytes, what: `${source.name} ${steps.join('+')}`, ext: source.name.split('.').at(-1)! };
    }
    if (roll < 67) {
      const source = rng.pick(seeds);
      const at = rng.int(source.bytes.length);
      return {
        bytes: source.bytes.subarray(0, at),
        what: `${source.name} truncated-at-${at}`,
        ext: rng.pick(EXTENSIONS),
      };
    }
    if (roll < 79) {
      const source = rng.pick(seeds);
      const bytes = new Uint8Array(source.bytes);
      const flips = rng.pick([1, 2, 4, 16, 64]);
      // Half of them near the front, where the headers are.
      const span = rng.chance(0.5) ? Math.min(bytes.length, 256) : bytes.length;
      for (let k = 0; k < flips; k++) xorAt(bytes, rng.int(span), 1 << rng.int(8));
      return {
        bytes,
        what: `${source.name} ${flips}-bit-flips-in-${span}`,
        ext: source.name.split('.').at(-1)!,
      };
    }
    if (roll < 85) {
      const [name, make] = rng.pick(OTHER_FORMATS);
      return { bytes: make(), what: `${name}-named-as-image`, ext: rng.pick(EXTENSIONS) };
    }
    if (roll < 89) {
      const bytes = rng.chance(0.3)
        ? new Uint8Array(0)
        : Uint8Array.of(rng.pick([0, 0xff, 0x89, 0x52, rng.int(256)]));
      return {
        bytes,
        what: bytes.length === 0 ? 'zero-bytes' : `one-byte-${bytes[0]!.toString(16)}`,
        ext: rng.pick(EXTENSIONS),
      };
    }
    if (roll < 92) return { ...headersOnly(rng, seeds), ext: rng.pick(EXTENSIONS) };
    if (roll < 94) return bomb(rng);
    return { ...polyglot(rng, seeds), ext: rng.pick(EXTENSIONS) };
  };
  const { bytes, what, ext } = make();
  return { index, name: `${index} ${what}`, key: `case-${String(index).padStart(5, '0')}.${ext}`, bytes };
}
