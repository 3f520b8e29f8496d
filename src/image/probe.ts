import { InvalidImageError } from '../core/errors.ts';
import type { InputFormat } from '../core/formats.ts';
import { type Av1SequenceHeader, Av1SyntaxError, type ChromaLayout, findSequenceHeaders } from './av1.ts';
import { readExifOrientation } from './exif.ts';
import { isOrientation, type Orientation, orientationFromHeifTransforms, swapsAxes } from './orientation.ts';

/**
 * What the file header says, read without decoding a pixel: enough to refuse a decompression bomb
 * (a 1 KB file declaring 100,000 x 100,000 pixels) before any pixel buffer is allocated, and to know
 * the orientation, alpha and structure up front. Walks the container structure (JPEG markers, PNG
 * chunks, RIFF chunks, ISO-BMFF boxes) with bounds checks, so a short file is reported as truncated.
 */
export interface ImageHeader {
  readonly format: InputFormat;
  /** Stored dimensions, before orientation. */
  readonly width: number;
  readonly height: number;
  readonly orientation: Orientation;
  /** Dimensions as displayed, after orientation. */
  readonly displayWidth: number;
  readonly displayHeight: number;
  readonly hasAlpha: boolean;
  readonly animated: boolean;
  /** How the pixels are coded, as far as the memory a decode takes depends on it. */
  readonly layout: PixelLayout;
}

/**
 * What the decoders' memory depends on besides the pixel count (codecs/memory.ts has the figures).
 * JPEG is 8-bit gray or colour; the others say more in their headers.
 */
export interface PixelLayout {
  /** Bits per sample: PNG 1-16 (a palette's entries are 8-bit), AVIF 8, 10 or 12, else 8. */
  readonly bitDepth: number;
  /** Samples per pixel, alpha included: 1 gray, 2 gray + alpha, 3 colour, 4 colour + alpha. */
  readonly channels: number;
  /** AVIF: the AV1 frames' chroma subsampling (4:0:0 is monochrome). */
  readonly chroma?: ChromaLayout;
  /** WebP: VP8L (lossless) rather than VP8. */
  readonly lossless?: boolean;
}

export function probeImage(format: InputFormat, bytes: Uint8Array): ImageHeader {
  const facts = PROBES[format](new Reader(bytes, format));
  const orientation = facts.orientation ?? 1;
  if (facts.width < 1 || facts.height < 1) {
    throw new InvalidImageError(
      'bad-dimensions',
      `The ${format} header declares ${facts.width}x${facts.height} pixels`,
      { format, width: facts.width, height: facts.height },
    );
  }
  const swap = swapsAxes(orientation);
  return {
    format,
    width: facts.width,
    height: facts.height,
    orientation,
    displayWidth: swap ? facts.height : facts.width,
    displayHeight: swap ? facts.width : facts.height,
    hasAlpha: facts.hasAlpha ?? false,
    animated: facts.animated ?? false,
    layout: facts.layout ?? { bitDepth: 8, channels: facts.hasAlpha ? 4 : 3 },
  };
}

interface Facts {
  width: number;
  height: number;
  orientation?: Orientation;
  hasAlpha?: boolean;
  animated?: boolean;
  layout?: PixelLayout | undefined;
}

const PROBES: Record<InputFormat, (r: Reader) => Facts> = {
  jpeg: probeJpeg,
  png: probePng,
  webp: probeWebp,
  avif: probeAvif,
};

/** Bounds-checked big/little-endian reads that turn running off the end into a "truncated" rejection. */
class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly format: InputFormat;

  constructor(bytes: Uint8Array, format: InputFormat) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.format = format;
  }

  get length(): number {
    return this.bytes.length;
  }

  need(offset: number, size: number, what: string): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      throw new InvalidImageError(
        'truncated',
        `The ${this.format} file ends at byte ${this.bytes.length}, inside its ${what} (needs bytes up to ${offset + size})`,
        { format: this.format, bytes: this.bytes.length, needed: offset + size, structure: what },
      );
    }
  }

  u8(offset: number, what: string): number {
    this.need(offset, 1, what);
    return this.bytes[offset]!;
  }

  u16(offset: number, what: string, little = false): number {
    this.need(offset, 2, what);
    return this.view.getUint16(offset, little);
  }

  u24le(offset: number, what: string): number {
    this.need(offset, 3, what);
    return this.bytes[offset]! | (this.bytes[offset + 1]! << 8) | (this.bytes[offset + 2]! << 16);
  }

  u32(offset: number, what: string, little = false): number {
    this.need(offset, 4, what);
    return this.view.getUint32(offset, little);
  }

  uint(offset: number, size: number, what: string): number {
    if (size === 0) return 0;
    if (size === 2) return this.u16(offset, what);
    if (size === 4) return this.u32(offset, what);
    if (size === 8) return this.u32(offset, what) * 2 ** 32 + this.u32(offset + 4, what);
    throw this.corrupt(`a ${size}-byte field in the ${what}`);
  }

  fourcc(offset: number, what: string): string {
    this.need(offset, 4, what);
    return String.fromCharCode(...this.bytes.subarray(offset, offset + 4));
  }

  corrupt(what: string, details: Record<string, unknown> = {}): InvalidImageError {
    return new InvalidImageError('corrupt', `The ${this.format} file is malformed: ${what}`, {
      format: this.format,
      ...details,
    });
  }
}

// ---------------------------------------------------------------------------------------------- JPEG

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const SOS = 0xda;
const EOI = 0xd9;

/**
 * The most scans a JPEG may have. Each scan of a progressive JPEG is another pass of the decoder
 * over the whole image, and the format lets a scan cover every block in a few bytes (an end-of-band
 * run: "Two Issues with the JPEG Standard", libjpeg-turbo report LJT-01-003), so a small file with
 * thousands of scans decodes for minutes: the hostile-input test's 4000x3000 image with its last scan
 * repeated 3000 times took 99 s. Encoders write about ten scans (libjpeg's simple progression 10 for
 * colour, MozJPEG's scripts up to 11; the pipeline's own MozJPEG wrote 5 to 8 in our tests). The
 * field's limits:
 * - Skia (src/codec/SkJpegDecoderMgr.cpp: Chrome, Android) and Blink's JPEGImageDecoder (seen in
 *   a 2019 Chromium) stop at scan 100: "100 is arbitrary, but much larger than the number of scans
 *   we might expect in a normal image". A JPEG with more does not display there.
 * - libjpeg-turbo: TJPARAM_SCANLIMIT (3.0; default no limit) refuses "more than N scans"; its own
 *   OSS-Fuzz targets use 100 since 2026 (500 before, too slow on fuzzing hardware); the older
 *   TJFLAG_LIMITSCANS and tjbench -limitscans mean 500. djpeg/jpegtran -maxscans (2.1) take any N.
 * - ImageMagick's JPEG coder stops at 1024 (MaxJPEGScans); NVIDIA DALI defaults to 500; libvips has
 *   no scan limit (it gives up after 100 warnings).
 * We take 100, with libjpeg-turbo's meaning (more than 100 is refused; Chrome already fails at 100).
 * 100 scans are still slow on a large image (92 copies of a 16 MP photo's first scan, 24 MB, took
 * 6.6 s to decode on a loaded machine): the time budget (pipeline/deadline.ts) bounds what is left.
 */
export const MAX_JPEG_SCANS = 100;

function probeJpeg(r: Reader): Facts {
  let offset = 2;
  let frame:
    | { width: number; height: number; components: number; precision: number; marker: number }
    | undefined;
  let orientation: Orientation | undefined;
  let adobeTransform: number | undefined;
  let scans = 0;
  for (;;) {
    if (r.u8(offset, 'marker') !== 0xff) {
      // Before the first scan a stray byte means a broken header. After it, libjpeg skips stray
      // bytes before a marker (with an "extraneous bytes" warning the decoder lets pass); so do we.
      if (scans === 0) throw r.corrupt(`expected a marker at byte ${offset}`, { offset });
      offset = nextMarker(r, offset);
      continue;
    }
    let marker = r.u8(offset + 1, 'marker');
    while (marker === 0xff) marker = r.u8(++offset + 1, 'marker'); // fill bytes
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2;
      continue;
    }
    if (marker === EOI) {
      if (scans === 0) throw r.corrupt('the image ends before its first scan');
      break;
    }
    const length = r.u16(offset + 2, 'segment length');
    if (length < 2) throw r.corrupt(`segment 0xFF${marker.toString(16)} has length ${length}`);
    const body = offset + 4;
    r.need(offset + 2, length, `segment 0xFF${marker.toString(16).toUpperCase()}`);
    if (SOF_MARKERS.has(marker)) {
      frame = {
        marker,
        precision: r.u8(body, 'frame header'),
        height: r.u16(body + 1, 'frame header'),
        width: r.u16(body + 3, 'frame header'),
        components: r.u8(body + 5, 'frame header'),
      };
    } else if (marker === 0xe1 && orientation === undefined && isExifApp1(r.bytes, body, length - 2)) {
      const value = readExifOrientation(r.bytes.subarray(body, body + length - 2));
      if (isOrientation(value)) orientation = value;
    } else if (marker === 0xee && length >= 14 && r.fourcc(body, 'APP14') === 'Adob') {
      adobeTransform = r.u8(body + 11, 'APP14');
    } else if (marker === SOS) {
      if (!frame) throw r.corrupt('a scan starts before the frame header (SOF)');
      if (++scans > MAX_JPEG_SCANS) {
        throw new InvalidImageError(
          'too-many-scans',
          `The jpeg file has more than ${MAX_JPEG_SCANS} scans (found scan ${scans} at byte ${offset}); encoders write about 10, and each one is another decoding pass over the whole image`,
          { format: 'jpeg', maxScans: MAX_JPEG_SCANS, scans, offset },
        );
      }
      // The scan's entropy-coded data follows its header, up to the next marker.
      offset = nextMarker(r, offset + 2 + length);
      continue;
    }
    offset += 2 + length;
  }
  if (!frame) throw r.corrupt('there is no frame header (SOF)');
  if (frame.precision !== 8) {
    throw new InvalidImageError(
      'unsupported-format',
      `${frame.precision}-bit JPEG is not supported (only 8-bit)`,
      {
        format: 'jpeg',
        precision: frame.precision,
      },
    );
  }
  if (frame.marker === 0xc3 || frame.marker === 0xc7 || frame.marker === 0xcb || frame.marker === 0xcf) {
    throw new InvalidImageError('unsupported-format', 'Lossless JPEG is not supported', { format: 'jpeg' });
  }
  if (frame.components === 4) {
    const colourSpace = adobeTransform === 2 ? 'YCCK' : 'CMYK';
    throw new InvalidImageError(
      'unsupported-colorspace',
      `${colourSpace} JPEG is not supported: the WASM decoder only converts grayscale and YCbCr/RGB to RGBA`,
      { format: 'jpeg', components: 4, colourSpace },
    );
  }
  if (frame.components !== 1 && frame.components !== 3) {
    throw r.corrupt(`the frame has ${frame.components} components`, { components: frame.components });
  }
  return { width: frame.width, height: frame.height, orientation };
}

function isExifApp1(bytes: Uint8Array, start: number, length: number): boolean {
  return (
    length > 6 &&
    bytes[start] === 0x45 &&
    bytes[start + 1] === 0x78 &&
    bytes[start + 2] === 0x69 &&
    bytes[start + 3] === 0x66
  );
}

/**
 * Where the next marker is, from inside entropy-coded data (or stray bytes between segments): the
 * first 0xFF followed by neither 0x00 (a stuffed 0xFF data byte), nor 0xD0-0xD7 (a restart marker,
 * part of the scan), nor 0xFF (fill). Linear: the native byte search jumps between 0xFF bytes,
 * which entropy-coded data holds about once in 256 bytes, and dense ones are stepped through here,
 * so 32 MB of 0xFF00 pairs costs one pass, not 16 million searches. No marker before the end means
 * the upload was cut short: a JPEG ends with an end-of-image marker.
 */
function nextMarker(r: Reader, from: number): number {
  const bytes = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  const last = bytes.length - 1;
  let at = from;
  while (at < last) {
    if (bytes[at] !== 0xff) {
      // A few bytes here first: a native search per byte would be slow on 0xFF00 0x01 repeated.
      const near = Math.min(at + 32, last);
      while (at < near && bytes[at] !== 0xff) at++;
      if (at === near) at = bytes.indexOf(0xff, at);
      if (at === -1) break;
      continue;
    }
    const next = bytes[at + 1]!;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
    else if (next === 0xff) at += 1;
    else return at;
  }
  throw new InvalidImageError(
    'truncated',
    `The jpeg file has no end-of-image marker after its scan data: it was cut short at ${r.length} bytes`,
    { format: 'jpeg', bytes: r.length },
  );
}

// ----------------------------------------------------------------------------------------------- PNG

function probePng(r: Reader): Facts {
  if (r.fourcc(12, 'IHDR') !== 'IHDR' || r.u32(8, 'IHDR') !== 13)
    throw r.corrupt('the first chunk is not IHDR');
  const width = r.u32(16, 'IHDR');
  const height = r.u32(20, 'IHDR');
  const bitDepth = r.u8(24, 'IHDR');
  const colourType = r.u8(25, 'IHDR');
  let hasAlpha = colourType === 4 || colourType === 6;
  let orientation: Orientation | undefined;
  let animated = false;
  let sawData = false;
  let offset = 8;
  for (;;) {
    const length = r.u32(offset, 'chunk header');
    const type = r.fourcc(offset + 4, 'chunk header');
    if (!/^[A-Za-z]{4}$/.test(type))
      throw r.corrupt(`chunk at byte ${offset} has the invalid type ${JSON.stringify(type)}`);
    r.need(offset + 8, length + 4, `${type} chunk`);
    if (type === 'IEND') break;
    if (type === 'IDAT') sawData = true;
    else if (type === 'tRNS') hasAlpha = true;
    else if (type === 'acTL') animated = true;
    else if (type === 'eXIf') {
      const value = readExifOrientation(r.bytes.subarray(offset + 8, offset + 8 + length));
      if (isOrientation(value)) orientation = value;
    }
    offset += 12 + length;
  }
  if (!sawData) throw r.corrupt('there is no IDAT chunk');
  // Colour types 0 gray, 2 RGB, 3 palette (expanded to 8-bit RGB), 4 gray + alpha, 6 RGBA; a tRNS
  // chunk adds an alpha channel to 0, 2 and 3.
  const colour = colourType === 0 || colourType === 4 ? 1 : 3;
  const layout = { bitDepth: colourType === 3 ? 8 : bitDepth, channels: colour + (hasAlpha ? 1 : 0) };
  return { width, height, hasAlpha, orientation, animated, layout };
}

// ---------------------------------------------------------------------------------------------- WebP

function probeWebp(r: Reader): Facts {
  const riffSize = r.u32(4, 'RIFF header', true);
  // A RIFF file announces its own length: fewer bytes than that means the upload was cut short.
  r.need(0, riffSize + 8, 'RIFF container');
  let offset = 12;
  let canvas: { width: number; height: number } | undefined;
  let hasAlpha = false;
  let animated = false;
  let orientation: Orientation | undefined;
  let bitstream: { width: number; height: number } | undefined;
  let lossless = false;
  while (offset + 8 <= riffSize + 8) {
    const type = r.fourcc(offset, 'chunk header');
    const size = r.u32(offset + 4, 'chunk header', true);
    const data = offset + 8;
    r.need(data, size, `${type} chunk`);
    switch (type) {
      case 'VP8X': {
        const flags = r.u8(data, 'VP8X chunk');
        hasAlpha ||= (flags & 0x10) !== 0;
        animated ||= (flags & 0x02) !== 0;
        canvas = { width: r.u24le(data + 4, 'VP8X chunk') + 1, height: r.u24le(data + 7, 'VP8X chunk') + 1 };
        break;
      }
      case 'VP8 ': {
        if (
          r.u8(data + 3, 'VP8 frame') !== 0x9d ||
          r.u8(data + 4, 'VP8 frame') !== 0x01 ||
          r.u8(data + 5, 'VP8 frame') !== 0x2a
        ) {
          throw r.corrupt('the VP8 frame has no start code');
        }
        bitstream ??= {
          width: r.u16(data + 6, 'VP8 frame', true) & 0x3fff,
          height: r.u16(data + 8, 'VP8 frame', true) & 0x3fff,
        };
        break;
      }
      case 'VP8L': {
        if (r.u8(data, 'VP8L header') !== 0x2f) throw r.corrupt('the VP8L chunk has no signature');
        const bits = r.u32(data + 1, 'VP8L header', true);
        bitstream ??= { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
        lossless = true;
        hasAlpha ||= ((bits >>> 28) & 1) === 1;
        break;
      }
      case 'ALPH':
        hasAlpha = true;
        break;
      case 'ANIM':
      case 'ANMF':
        animated = true;
        break;
      case 'EXIF': {
        const value = readExifOrientation(r.bytes.subarray(data, data + size));
        if (isOrientation(value)) orientation = value;
        break;
      }
    }
    offset = data + size + (size & 1);
  }
  const dims = canvas ?? bitstream;
  if (!dims) throw r.corrupt('there is no VP8, VP8L or VP8X chunk');
  if (!animated && !bitstream) throw r.corrupt('there is no image data (VP8 or VP8L chunk)');
  const layout = { bitDepth: 8, channels: hasAlpha ? 4 : 3, lossless };
  return { ...dims, hasAlpha, animated, orientation, layout };
}

// ---------------------------------------------------------------------------------------------- AVIF

interface Box {
  type: string;
  start: number;
  /** First byte of the payload (after the header and, for full boxes, version and flags). */
  body: number;
  end: number;
}

function readBoxes(r: Reader, start: number, end: number, where: string): Box[] {
  const boxes: Box[] = [];
  let offset = start;
  while (offset + 8 <= end) {
    let size = r.u32(offset, `${where} box header`);
    const type = r.fourcc(offset + 4, `${where} box header`);
    let header = 8;
    if (size === 1) {
      size = r.uint(offset + 8, 8, `${type} box header`);
      header = 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < header) throw r.corrupt(`box ${JSON.stringify(type)} at byte ${offset} has size ${size}`);
    r.need(offset, size, `${type} box`);
    boxes.push({ type, start: offset, body: offset + header, end: offset + size });
    offset += size;
  }
  return boxes;
}

function probeAvif(r: Reader): Facts {
  const top = readBoxes(r, 0, r.length, 'top-level');
  const meta = top.find((b) => b.type === 'meta');
  if (!meta) throw r.corrupt('there is no meta box');
  const children = readBoxes(r, meta.body + 4, meta.end, 'meta');
  const find = (type: string) => children.find((b) => b.type === type);

  const pitm = find('pitm');
  if (!pitm) throw r.corrupt('there is no primary item (pitm box)');
  const primary =
    r.u8(pitm.body, 'pitm box') === 0 ? r.u16(pitm.body + 4, 'pitm box') : r.u32(pitm.body + 4, 'pitm box');

  const itemTypes = readItemTypes(r, find('iinf'));
  const properties = readProperties(r, find('iprp'));
  const propertiesOf = (item: number) =>
    (properties.associations.get(item) ?? []).map((i) => properties.boxes[i - 1]);
  const primaryProps = properties.associations.get(primary) ?? [];
  const ispe = primaryProps.map((i) => properties.boxes[i - 1]).find((b) => b?.type === 'ispe');
  if (!ispe) throw r.corrupt(`the primary item ${primary} has no image size (ispe)`);
  const width = r.u32(ispe.body, 'ispe box');
  const height = r.u32(ispe.body + 4, 'ispe box');

  let irot: number | undefined;
  let imir: number | undefined;
  for (const index of primaryProps) {
    const box = properties.boxes[index - 1];
    if (box?.type === 'irot') irot = r.u8(box.body, 'irot box') & 3;
    if (box?.type === 'imir') imir = r.u8(box.body, 'imir box') & 1;
  }

  const locations = readItemLocations(r, find('iloc'));
  const references = readReferences(r, find('iref'));
  let hasAlpha = false;
  const alphaItems: number[] = [];
  for (const item of itemTypes.keys()) {
    const refs = references.get(item) ?? [];
    const describesPrimary = refs.some((ref) => ref.to.includes(primary));
    if (describesPrimary && refs.some((ref) => ref.type === 'auxl')) {
      const auxC = propertiesOf(item).find((b) => b?.type === 'auxC');
      const urn = auxC ? new TextDecoder().decode(r.bytes.subarray(auxC.body, auxC.end)) : '';
      if (urn.includes('auxiliary:alpha') || urn.includes('auxid:1')) {
        hasAlpha = true;
        alphaItems.push(item);
      }
    }
  }
  // The primary image's coded data must be in the file: a cut-short upload loses the mdat tail.
  const primaryData = locations.get(primary);
  if (primaryData?.method === 0) {
    for (const { offset, length } of primaryData.extents) r.need(offset, length, 'image data (mdat)');
  }
  const coded = checkCodedSizes(r, {
    items: [primary, ...alphaItems],
    itemTypes,
    propertiesOf,
    locations,
    references,
    idat: find('idat'),
  });
  // In AVIF, irot/imir are the orientation (MIAF 7.3.6.7); an Exif Orientation tag is informative
  // only, and browsers and libheif ignore it. Following them keeps outputs looking like the source.
  const orientation =
    irot !== undefined || imir !== undefined ? orientationFromHeifTransforms(irot, imir) : undefined;
  const majorBrand = r.fourcc(8, 'ftyp box');
  return {
    width,
    height,
    orientation,
    hasAlpha,
    animated: majorBrand === 'avis',
    layout: coded && {
      bitDepth: coded.bitDepth,
      channels: (coded.chroma === '4:0:0' ? 1 : 3) + (hasAlpha ? 1 : 0),
      chroma: coded.chroma,
    },
  };
}

interface AvifItems {
  /** The items to check: the primary item and its alpha items (av01 items or grids of them). */
  readonly items: readonly number[];
  readonly itemTypes: ReadonlyMap<number, string>;
  readonly propertiesOf: (item: number) => (Box | undefined)[];
  readonly locations: ReadonlyMap<number, ItemLocation>;
  readonly references: ReadonlyMap<number, { type: string; to: number[] }[]>;
  readonly idat: Box | undefined;
}

/**
 * Holds every AV1 image the decoder will decode to its declared size: the sequence header's
 * largest frame (what libaom allocates by) must be the item's `ispe`, and a grid's canvas and tiles
 * must agree with its `ispe` (MIAF 7.3.11.4.2). Without this, a 64x64 `ispe` in front of a 49 MP
 * frame passes the pixel limit and the decoder allocates ~800 MB before the sizes can be compared.
 * Returns the first AV1 image's bit depth and chroma layout (for the memory estimate), or nothing
 * if the primary item is not AV1 (libavif then refuses it).
 */
function checkCodedSizes(
  r: Reader,
  avif: AvifItems,
): Pick<Av1SequenceHeader, 'bitDepth' | 'chroma'> | undefined {
  let first: Av1SequenceHeader | undefined;
  for (const item of avif.items) {
    const type = avif.itemTypes.get(item);
    let tiles = [item];
    if (type === 'grid') tiles = checkGrid(r, avif, item);
    else if (type !== 'av01') continue;
    for (const tile of tiles) {
      const size = itemSize(r, avif, tile);
      const headers = sequenceHeaders(r, avif, tile);
      for (const header of headers) {
        if (header.maxWidth !== size.width || header.maxHeight !== size.height) {
          throw r.corrupt(
            `item ${tile}'s ispe declares ${size.width}x${size.height} but its AV1 sequence header declares frames of up to ${header.maxWidth}x${header.maxHeight}`,
            { item: tile, declared: [size.width, size.height], coded: [header.maxWidth, header.maxHeight] },
          );
        }
      }
      first ??= headers[0];
    }
  }
  return first && { bitDepth: first.bitDepth, chroma: first.chroma };
}

function itemSize(r: Reader, avif: AvifItems, item: number): { width: number; height: number } {
  const ispe = avif.propertiesOf(item).find((b) => b?.type === 'ispe');
  // libavif refuses an image item without ispe too ("missing a mandatory ispe property").
  if (!ispe) throw r.corrupt(`item ${item} has no image size (ispe)`, { item });
  return { width: r.u32(ispe.body, 'ispe box'), height: r.u32(ispe.body + 4, 'ispe box') };
}

/**
 * The sequence headers in an AV1 item's data and in its av1C configOBUs. An AV1 image item's data
 * is a temporal unit that starts with one (AV1-ISOBMFF 2.4, AVIF 2.1); libavif hands only the
 * item's data to libaom, which cannot decode a frame without one. So an item whose data has none
 * is refused here: it could not be decoded, and its frame size could not be bounded.
 */
function sequenceHeaders(r: Reader, avif: AvifItems, item: number): Av1SequenceHeader[] {
  const parse = (data: Uint8Array, where: string) => {
    try {
      return findSequenceHeaders(data);
    } catch (error) {
      if (!(error instanceof Av1SyntaxError)) throw error;
      throw r.corrupt(`item ${item}'s ${where}: ${error.message}`, { item });
    }
  };
  const headers = parse(itemData(r, avif, item), 'AV1 data');
  if (headers.length === 0) {
    throw r.corrupt(`item ${item}'s AV1 data has no sequence header, so its frame size is unknown`, { item });
  }
  const av1C = avif.propertiesOf(item).find((b) => b?.type === 'av1C');
  // av1C: 4 bytes of fields (AV1-ISOBMFF 2.3.3), then configOBUs, usually none.
  if (av1C && av1C.end - av1C.body > 4)
    headers.push(...parse(r.bytes.subarray(av1C.body + 4, av1C.end), 'av1C configOBUs'));
  return headers;
}

/** An item's bytes: its extents in the file (construction method 0) or in the idat box (1). */
function itemData(r: Reader, avif: AvifItems, item: number): Uint8Array {
  const location = avif.locations.get(item);
  if (!location) throw r.corrupt(`item ${item} has no location (iloc entry)`, { item });
  let base = 0;
  let end = r.length;
  if (location.method === 1) {
    if (!avif.idat) throw r.corrupt(`item ${item} is stored in an idat box, and there is none`, { item });
    base = avif.idat.body;
    end = avif.idat.end;
  } else if (location.method !== 0) {
    throw new InvalidImageError(
      'unsupported-format',
      `AVIF item ${item} is stored by reference to other items (iloc construction method ${location.method}), which is not supported`,
      { format: 'avif', item, constructionMethod: location.method },
    );
  }
  const parts = location.extents.map(({ offset, length }) => {
    const start = base + offset;
    // An extent length of 0 means "to the end" (ISO/IEC 14496-12, 8.11.3).
    const size = length === 0 ? end - start : length;
    if (start + size > end) {
      if (location.method === 0) r.need(start, size, `item ${item}'s data`);
      throw r.corrupt(`item ${item}'s data runs past the end of its idat box`, { item });
    }
    return r.bytes.subarray(start, start + size);
  });
  if (parts.length === 1) return parts[0]!;
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A grid (ISO/IEC 23008-12, 6.6.2.3): rows x columns of equal tiles, cropped to the output size.
 * The output size must be the grid's ispe, the tiles must all have the same ispe, and the tiles
 * must cover the canvas with only the last row and column reaching past it (MIAF 7.3.11.4.2, which
 * libavif enforces too), so that no tile decodes more than the canvas needs. Returns the tiles.
 */
function checkGrid(r: Reader, avif: AvifItems, item: number): number[] {
  const data = itemData(r, avif, item);
  const grid = new Reader(data, 'avif');
  const wide = (grid.u8(1, 'grid item') & 1) === 1;
  const rows = grid.u8(2, 'grid item') + 1;
  const columns = grid.u8(3, 'grid item') + 1;
  const outputWidth = wide ? grid.u32(4, 'grid item') : grid.u16(4, 'grid item');
  const outputHeight = wide ? grid.u32(8, 'grid item') : grid.u16(6, 'grid item');
  const size = itemSize(r, avif, item);
  if (outputWidth !== size.width || outputHeight !== size.height) {
    throw r.corrupt(
      `grid item ${item}'s ispe declares ${size.width}x${size.height} but the grid's output is ${outputWidth}x${outputHeight}`,
      { item, declared: [size.width, size.height], grid: [outputWidth, outputHeight] },
    );
  }
  const tiles = (avif.references.get(item) ?? [])
    .filter((ref) => ref.type === 'dimg')
    .flatMap((ref) => ref.to);
  if (tiles.length < rows * columns) {
    throw r.corrupt(`grid item ${item} has ${rows}x${columns} cells but ${tiles.length} tiles`, { item });
  }
  const used = tiles.slice(0, rows * columns);
  const tile = itemSize(r, avif, used[0]!);
  for (const other of used) {
    const s = itemSize(r, avif, other);
    if (s.width !== tile.width || s.height !== tile.height) {
      throw r.corrupt(
        `grid item ${item}'s tiles differ in size (${tile.width}x${tile.height} and ${s.width}x${s.height})`,
        { item },
      );
    }
    if (avif.itemTypes.get(other) !== 'av01') {
      throw r.corrupt(`grid item ${item}'s tile ${other} is not an AV1 image`, { item, tile: other });
    }
  }
  const covers = (cells: number, tileSize: number, output: number) =>
    cells * tileSize >= output && (cells - 1) * tileSize < output;
  if (!covers(columns, tile.width, outputWidth) || !covers(rows, tile.height, outputHeight)) {
    throw r.corrupt(
      `grid item ${item}'s ${rows}x${columns} tiles of ${tile.width}x${tile.height} do not fit its ${outputWidth}x${outputHeight} canvas`,
      { item, tiles: [columns, rows], tile: [tile.width, tile.height], grid: [outputWidth, outputHeight] },
    );
  }
  return used;
}

function readItemTypes(r: Reader, iinf: Box | undefined): Map<number, string> {
  const types = new Map<number, string>();
  if (!iinf) return types;
  const version = r.u8(iinf.body, 'iinf box');
  const first = iinf.body + 4 + (version === 0 ? 2 : 4);
  for (const infe of readBoxes(r, first, iinf.end, 'iinf')) {
    if (infe.type !== 'infe') continue;
    const v = r.u8(infe.body, 'infe box');
    if (v < 2) continue;
    const id = v === 2 ? r.u16(infe.body + 4, 'infe box') : r.u32(infe.body + 4, 'infe box');
    const typeOffset = infe.body + 4 + (v === 2 ? 2 : 4) + 2;
    types.set(id, r.fourcc(typeOffset, 'infe box'));
  }
  return types;
}

function readProperties(
  r: Reader,
  iprp: Box | undefined,
): { boxes: Box[]; associations: Map<number, number[]> } {
  const associations = new Map<number, number[]>();
  if (!iprp) return { boxes: [], associations };
  const children = readBoxes(r, iprp.body, iprp.end, 'iprp');
  const ipco = children.find((b) => b.type === 'ipco');
  const boxes = ipco ? readBoxes(r, ipco.body, ipco.end, 'ipco') : [];
  // Property bodies: skip the full-box version/flags for the ones that have them.
  for (const box of boxes) if (['ispe', 'auxC', 'pixi'].includes(box.type)) box.body += 4;
  for (const ipma of children.filter((b) => b.type === 'ipma')) {
    const version = r.u8(ipma.body, 'ipma box');
    // Flag bit 0 (in the last of the three flag bytes) selects 15-bit property indices.
    const wide = (r.u8(ipma.body + 3, 'ipma box') & 1) === 1;
    let offset = ipma.body + 4;
    const count = r.u32(offset, 'ipma box');
    offset += 4;
    for (let i = 0; i < count; i++) {
      const item = version < 1 ? r.u16(offset, 'ipma box') : r.u32(offset, 'ipma box');
      offset += version < 1 ? 2 : 4;
      const n = r.u8(offset++, 'ipma box');
      const list: number[] = [];
      for (let j = 0; j < n; j++) {
        list.push(wide ? r.u16(offset, 'ipma box') & 0x7fff : r.u8(offset, 'ipma box') & 0x7f);
        offset += wide ? 2 : 1;
      }
      associations.set(item, list);
    }
  }
  return { boxes, associations };
}

interface ItemLocation {
  /** 0: offsets in the file; 1: offsets in the idat box; 2: in other items. */
  readonly method: number;
  /** With the base offset added; a length of 0 means "to the end". */
  readonly extents: readonly { offset: number; length: number }[];
}

function readItemLocations(r: Reader, iloc: Box | undefined): Map<number, ItemLocation> {
  const locations = new Map<number, ItemLocation>();
  if (!iloc) return locations;
  const version = r.u8(iloc.body, 'iloc box');
  let offset = iloc.body + 4;
  const sizes = r.u16(offset, 'iloc box');
  offset += 2;
  const offsetSize = sizes >> 12;
  const lengthSize = (sizes >> 8) & 0xf;
  const baseOffsetSize = (sizes >> 4) & 0xf;
  const indexSize = version === 1 || version === 2 ? sizes & 0xf : 0;
  const count = version < 2 ? r.u16(offset, 'iloc box') : r.u32(offset, 'iloc box');
  offset += version < 2 ? 2 : 4;
  for (let i = 0; i < count; i++) {
    const item = version < 2 ? r.u16(offset, 'iloc box') : r.u32(offset, 'iloc box');
    offset += version < 2 ? 2 : 4;
    const method = version === 1 || version === 2 ? r.u16(offset, 'iloc box') & 0xf : 0;
    if (version === 1 || version === 2) offset += 2;
    offset += 2; // data_reference_index
    const base = r.uint(offset, baseOffsetSize, 'iloc box');
    offset += baseOffsetSize;
    const count = r.u16(offset, 'iloc box');
    offset += 2;
    const extents: { offset: number; length: number }[] = [];
    for (let e = 0; e < count; e++) {
      offset += indexSize;
      const extentOffset = r.uint(offset, offsetSize, 'iloc box');
      offset += offsetSize;
      const extentLength = r.uint(offset, lengthSize, 'iloc box');
      offset += lengthSize;
      extents.push({ offset: base + extentOffset, length: extentLength });
    }
    locations.set(item, { method, extents });
  }
  return locations;
}

function readReferences(r: Reader, iref: Box | undefined): Map<number, { type: string; to: number[] }[]> {
  const references = new Map<number, { type: string; to: number[] }[]>();
  if (!iref) return references;
  const version = r.u8(iref.body, 'iref box');
  const size = version === 0 ? 2 : 4;
  for (const ref of readBoxes(r, iref.body + 4, iref.end, 'iref')) {
    let offset = ref.body;
    const from = r.uint(offset, size, 'iref box');
    offset += size;
    const count = r.u16(offset, 'iref box');
    offset += 2;
    const to: number[] = [];
    for (let i = 0; i < count; i++, offset += size) to.push(r.uint(offset, size, 'iref box'));
    const list = references.get(from) ?? [];
    list.push({ type: ref.type, to });
    references.set(from, list);
  }
  return references;
}
