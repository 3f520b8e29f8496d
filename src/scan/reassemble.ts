/**
 * The payloads a container splits, joined as a tool extracting them would join them: a GIF
 * extension's data sub-blocks (at most 255 bytes each, after a length byte), every extension of
 * one label, and the image data of every frame; a JPEG's segments of one marker (a segment holds
 * at most 65533 bytes), and an ICC profile's shares over APP2 segments without their headers, in
 * their numbers' order. In the file, what such a payload holds is broken at each length byte or
 * marker: clamd, unpacking a gzip file from its header, stopped at the first break (ClamAV 1.4.6:
 * EICAR gzipped after 3000 bytes of text, in a GIF comment or over JPEG COM segments, was
 * `stream: OK`), and a signature across a break never matched.
 *
 * Only payloads of two pieces or more: one piece lies in the file as it is, which the scan of the
 * whole and of each region already covers. Pure byte walking, no decoding: a file that breaks off
 * is walked as far as it goes.
 */

export interface Reassembled {
  /** What was joined, for messages: `the GIF comment extensions`. */
  readonly name: string;
  /** Where the first piece starts in the bytes given. */
  readonly offset: number;
  /** How many pieces were joined. */
  readonly pieces: number;
  readonly bytes: Uint8Array;
}

interface Piece {
  readonly offset: number;
  readonly bytes: number;
  /** The order a tool joins the pieces in, where it is not the file's (an ICC share's number). */
  readonly order?: number;
}

const ICC = Buffer.from('ICC_PROFILE\0', 'latin1');
/** "ICC_PROFILE\0", the share's number and the count of shares. */
const ICC_HEADER = ICC.length + 2;

/** The payloads of a JPEG or GIF that its container splits (none for other formats). */
export function reassembledContent(bytes: Uint8Array): Reassembled[] {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return join(bytes, jpegPieces(bytes));
  const signature = Buffer.from(bytes.subarray(0, 6)).toString('latin1');
  if (signature === 'GIF87a' || signature === 'GIF89a') return join(bytes, gifPieces(bytes));
  return [];
}

function join(bytes: Uint8Array, groups: Map<string, Piece[]>): Reassembled[] {
  const out: Reassembled[] = [];
  for (const [name, pieces] of groups) {
    if (pieces.length < 2) continue;
    const ordered = pieces.some((p) => p.order !== undefined)
      ? [...pieces].sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
      : pieces;
    out.push({
      name,
      offset: Math.min(...pieces.map((p) => p.offset)),
      pieces: pieces.length,
      bytes: Buffer.concat(ordered.map((p) => bytes.subarray(p.offset, p.offset + p.bytes))),
    });
  }
  return out;
}

function add(groups: Map<string, Piece[]>, name: string, piece: Piece): void {
  const group = groups.get(name);
  if (group) group.push(piece);
  else groups.set(name, [piece]);
}

/**
 * The payloads of a JPEG's APPn and COM segments, by marker, and an ICC profile's shares; up to
 * its end-of-image marker (the scan data between segments skipped as a decoder does).
 */
function jpegPieces(bytes: Uint8Array): Map<string, Piece[]> {
  const groups = new Map<string, Piece[]>();
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
function gifPieces(bytes: Uint8Array): Map<string, Piece[]> {
  const groups = new Map<string, Piece[]>();
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
