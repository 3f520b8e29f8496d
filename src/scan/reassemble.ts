import { constants, inflateSync } from 'node:zlib';

/**
 * The payloads a container splits, joined as a tool extracting them would join them: a GIF
 * extension's data sub-blocks (at most 255 bytes each, after a length byte), every extension of
 * one label, and the image data of every frame; a JPEG's segments of one marker (a segment holds
 * at most 65533 bytes), an ICC profile's shares over APP2 segments without their headers, in
 * their numbers' order, and Adobe's extended XMP over APP1 segments, by GUID, without their
 * headers, in their offsets' order. In the file, what such a payload holds is broken at each length byte or
 * marker: clamd, unpacking a gzip file from its header, stopped at the first break (ClamAV 1.4.6:
 * EICAR gzipped after 3000 bytes of text, in a GIF comment or over JPEG COM segments, was
 * `stream: OK`), and a signature across a break never matched.
 *
 * Only payloads of two pieces or more: one piece lies in the file as it is, which the scan of the
 * whole and of each region already covers. Pure byte walking, no decoding: a file that breaks off
 * is walked as far as it goes.
 *
 * And what a PNG compresses that every PNG tool inflates: the text of a zTXt chunk and of an iTXt
 * chunk with its compression flag, and the iCCP profile (zlib streams, which clamd does not
 * inflate: the EICAR file as such a text was `stream: OK`, ClamAV 1.4.6). At most
 * MAX_INFLATED_BYTES in all: past it, `inflatedOver` is set and the rest is not inflated.
 */

export interface Reassembled {
  /** What was joined, for messages: `the GIF comment extensions`. */
  readonly name: string;
  /** Where the first piece starts in the bytes given. */
  readonly offset: number;
  /** How many pieces were joined. */
  readonly pieces: number;
  /**
   * The pieces, in the order they are joined (views of the file made as they are read, not
   * copies; iterable again and again), and their bytes.
   */
  readonly chunks: Iterable<Uint8Array>;
  readonly bytes: number;
}

/** The part's chunks from byte `offset` of it on. */
export function chunksFrom(part: Reassembled, offset: number): Iterable<Uint8Array> {
  return {
    *[Symbol.iterator]() {
      let base = 0;
      for (const chunk of part.chunks) {
        if (base + chunk.length > offset) yield chunk.subarray(Math.max(0, offset - base));
        base += chunk.length;
      }
    },
  };
}

/**
 * The most bytes inflated from a PNG's compressed chunks, in all: a profile is at most a few MiB
 * (the probe leaves out one over 16 MiB), a text less; a zlib stream inflates up to 1032 times its
 * size, so a file of a few MiB could otherwise take the function's memory.
 */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

interface Piece {
  readonly offset: number;
  readonly bytes: number;
  /** The order a tool joins the pieces in, where it is not the file's (an ICC share's number). */
  readonly order?: number;
}

const ICC = Buffer.from('ICC_PROFILE\0', 'latin1');
/** Adobe's extended XMP: its namespace, a GUID (32 hex digits), the full length, the offset. */
const EXTENDED_XMP = Buffer.from('http://ns.adobe.com/xmp/extension/\0', 'latin1');
const EXTENDED_XMP_HEADER = EXTENDED_XMP.length + 32 + 8;
/** "ICC_PROFILE\0", the share's number and the count of shares. */
const ICC_HEADER = ICC.length + 2;

/**
 * The payloads of a JPEG or GIF that its container splits, and a PNG's inflated texts and profile
 * (none for other formats). `inflatedOver`: a PNG's compressed chunks inflate to more than
 * `maxInflated` bytes, not all of them inflated.
 */
export function reassembledContent(
  bytes: Uint8Array,
  maxInflated = MAX_INFLATED_BYTES,
): { parts: Reassembled[]; inflatedOver?: boolean } {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return { parts: join(bytes, jpegPieces(bytes)) };
  const signature = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (signature.startsWith('GIF87a') || signature.startsWith('GIF89a'))
    return { parts: join(bytes, gifPieces(bytes)) };
  if (signature === '\x89PNG\r\n\x1a\n') return pngInflated(bytes, maxInflated);
  return { parts: [] };
}

/**
 * The zlib streams of a PNG's zTXt chunks, compressed iTXt chunks and iCCP chunk, inflated (a
 * stream cut short or corrupt: what inflates before the fault, as a tool would show it).
 */
function pngInflated(
  bytes: Uint8Array,
  maxInflated: number,
): { parts: Reassembled[]; inflatedOver?: boolean } {
  const parts: Reassembled[] = [];
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let left = maxInflated;
  for (let at = 8; at + 12 <= view.length; ) {
    const length = view.readUInt32BE(at);
    const type = view.toString('latin1', at + 4, at + 8);
    const data = at + 8;
    const end = Math.min(data + length, view.length);
    if (type === 'IEND') break;
    // Where the zlib stream starts: after the keyword (or name), its NUL and the method byte;
    // an iTXt's after its compression flag and method, language tag and translated keyword.
    let stream: number | undefined;
    const keyword = view.indexOf(0, data);
    if (keyword !== -1 && keyword < end) {
      if (type === 'zTXt' || type === 'iCCP') stream = keyword + 2;
      else if (type === 'iTXt' && view[keyword + 1] === 1) {
        const language = view.indexOf(0, keyword + 3);
        const translated = language === -1 ? -1 : view.indexOf(0, language + 1);
        if (translated !== -1 && translated < end) stream = translated + 1;
      }
    }
    if (stream !== undefined && stream < end) {
      if (left <= 0) return { parts, inflatedOver: true };
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(view.subarray(stream, end), {
          finishFlush: constants.Z_SYNC_FLUSH,
          maxOutputLength: left + 1,
        });
      } catch (error) {
        if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
          return { parts, inflatedOver: true };
        inflated = new Uint8Array(0);
      }
      if (inflated.length > left) return { parts, inflatedOver: true };
      left -= inflated.length;
      if (inflated.length > 0)
        parts.push({
          name: `the PNG ${type} chunk inflated`,
          offset: data,
          pieces: 1,
          chunks: [inflated],
          bytes: inflated.length,
        });
    }
    at = data + length + 4;
  }
  return { parts };
}

function join(bytes: Uint8Array, groups: Map<string, Pieces>): Reassembled[] {
  const out: Reassembled[] = [];
  for (const [name, { offsets, sizes, orders }] of groups) {
    if (offsets.length < 2) continue;
    // The file's order, or the order its numbers or offsets give (an ICC profile's shares).
    const order = orders ? offsets.map((_, i) => i).sort((a, b) => orders[a]! - orders[b]!) : undefined;
    const chunks: Iterable<Uint8Array> = {
      *[Symbol.iterator]() {
        for (let n = 0; n < offsets.length; n++) {
          const i = order ? order[n]! : n;
          yield bytes.subarray(offsets[i]!, offsets[i]! + sizes[i]!);
        }
      },
    };
    let first = Number.POSITIVE_INFINITY;
    let total = 0;
    for (let i = 0; i < offsets.length; i++) {
      first = Math.min(first, offsets[i]!);
      total += sizes[i]!;
    }
    out.push({ name, offset: first, pieces: offsets.length, chunks, bytes: total });
  }
  return out;
}

/**
 * A group's pieces, as numbers rather than an object each: a GIF's image data is a piece every 256
 * bytes, millions in a large file.
 */
interface Pieces {
  readonly offsets: number[];
  readonly sizes: number[];
  /** The order a tool joins them in, where it is not the file's (an ICC share's number). */
  orders?: number[];
}

function add(groups: Map<string, Pieces>, name: string, piece: Piece): void {
  let group = groups.get(name);
  if (!group) {
    group = { offsets: [], sizes: [] };
    groups.set(name, group);
  }
  group.offsets.push(piece.offset);
  group.sizes.push(piece.bytes);
  if (piece.order !== undefined) {
    group.orders ??= [];
    group.orders.push(piece.order);
  }
}

/**
 * The payloads of a JPEG's APPn and COM segments, by marker, and an ICC profile's shares; up to
 * its end-of-image marker (the scan data between segments skipped as a decoder does).
 */
function jpegPieces(bytes: Uint8Array): Map<string, Pieces> {
  const groups = new Map<string, Pieces>();
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) break;
    const marker = bytes[at + 1]!;
    // Fill bytes before a marker, and markers with no length.
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd9) break;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2) break;
    const body = at + 4;
    const size = Math.min(length - 2, bytes.length - body);
    if ((marker >= 0xe0 && marker <= 0xef) || marker === 0xfe) {
      const name = marker === 0xfe ? 'the JPEG COM segments' : `the JPEG APP${marker - 0xe0} segments`;
      add(groups, name, { offset: body, bytes: size });
      if (marker === 0xe2 && size >= ICC_HEADER && ICC.equals(bytes.subarray(body, body + ICC.length)))
        add(groups, 'the JPEG ICC profile', {
          offset: body + ICC_HEADER,
          bytes: size - ICC_HEADER,
          order: bytes[body + ICC.length]!,
        });
      if (
        marker === 0xe1 &&
        size >= EXTENDED_XMP_HEADER &&
        EXTENDED_XMP.equals(bytes.subarray(body, body + EXTENDED_XMP.length))
      ) {
        const guid = Buffer.from(bytes.subarray(body + EXTENDED_XMP.length, body + EXTENDED_XMP.length + 32));
        const text = guid.toString('latin1');
        const at = body + EXTENDED_XMP.length + 32;
        add(groups, `the JPEG extended XMP ${/^[0-9A-Fa-f]{32}$/.test(text) ? text : 'of an invalid GUID'}`, {
          offset: body + EXTENDED_XMP_HEADER,
          bytes: size - EXTENDED_XMP_HEADER,
          order:
            ((bytes[at + 4]! << 24) >>> 0) + (bytes[at + 5]! << 16) + (bytes[at + 6]! << 8) + bytes[at + 7]!,
        });
      }
    }
    at = body + length - 2;
    if (marker === 0xda) {
      // Entropy-coded data: up to the first 0xFF that is neither a stuffed 0xFF00 nor a restart
      // marker.
      while (at + 1 < bytes.length) {
        if (bytes[at] === 0xff) {
          const next = bytes[at + 1]!;
          if (next !== 0x00 && !(next >= 0xd0 && next <= 0xd7)) break;
        }
        at++;
      }
    }
  }
  return groups;
}

/**
 * The data sub-blocks of a GIF's extensions, by label (every comment extension joined, every
 * application extension...), and of its frames' image data, up to its trailer.
 */
function gifPieces(bytes: Uint8Array): Map<string, Pieces> {
  const groups = new Map<string, Pieces>();
  const packed = bytes[10] ?? 0;
  let at = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 7) + 1) : 0);
  /** The sub-blocks from `from` on, added to `name`; where the terminator ends. */
  const subBlocks = (from: number, name: string): number => {
    let offset = from;
    while (offset < bytes.length) {
      const size = bytes[offset]!;
      if (size === 0) return offset + 1;
      add(groups, name, { offset: offset + 1, bytes: Math.min(size, bytes.length - offset - 1) });
      offset += 1 + size;
    }
    return bytes.length;
  };
  while (at < bytes.length) {
    const block = bytes[at];
    if (block === 0x21 && at + 1 < bytes.length) {
      const label = bytes[at + 1]!;
      at = subBlocks(
        at + 2,
        `the GIF ${GIF_EXTENSIONS[label] ?? `0x${label.toString(16).padStart(2, '0')}`} extensions`,
      );
    } else if (block === 0x2c) {
      // Image descriptor (10 bytes), local colour table, LZW minimum code size.
      const local = bytes[at + 9] ?? 0;
      at += 10 + (local & 0x80 ? 3 * 2 ** ((local & 7) + 1) : 0) + 1;
      at = subBlocks(at, 'the GIF image data');
    } else break;
  }
  return groups;
}

const GIF_EXTENSIONS: Record<number, string> = {
  1: 'plain text',
  249: 'graphic control',
  254: 'comment',
  255: 'application',
};
