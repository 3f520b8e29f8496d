import { crc32, inflateSync } from 'node:zlib';
import { InvalidImageError } from '../core/errors.ts';
import { FORMAT_META, type InputFormat } from '../core/formats.ts';
import {
  type Av1SequenceHeader,
  Av1SyntaxError,
  type ChromaLayout,
  type CodePoints,
  findSequenceHeaders,
} from './av1.ts';
import { readExifOrientation } from './exif.ts';
import {
  type HeifTransform,
  isOrientation,
  type Orientation,
  orientationFromHeifTransforms,
  storedRegion,
  swapsAxes,
} from './orientation.ts';

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
  /**
   * AVIF and HEIC: the primary item's clean aperture (`clap`), in stored coordinates. The decoder
   * decodes the whole `width` x `height`; the picture is this part of it, before orientation.
   */
  readonly crop?: {
    readonly left: number;
    readonly top: number;
    readonly width: number;
    readonly height: number;
  };
  /**
   * AVIF and HEIC with `crop`: where its `clap` box starts. The decoder is given a copy without the
   * box, as the pipeline crops: libheif, which decodes in stored geometry here (ignoring
   * transformations), still checks the decoded size against the clean aperture's, and refuses any
   * crop of more than 64 px; libavif, in its strict mode, refuses a clap whose offset or size is odd
   * in a subsampled image, or not a whole number, which libheif rounds (`avifenc --crop` writes
   * only even ones; other tools need not).
   */
  readonly clapOffset?: number;
  /**
   * With `clapOffset`: the ipma bytes of the associations that mark that box essential, as libavif
   * writes its clap. The copy's `free` is an unknown property to the decoder, and libavif refuses an
   * item with an unknown essential one, so the copy's associations with it are not essential.
   */
  readonly clapEssentialAt?: readonly number[];
  /**
   * AVIF whose image items (the primary image, a grid item rather than its tiles, and the alpha image) lack the `pixi`
   * property: our decoder is libavif in its strict mode, which no option of jSquash's turns off, and
   * refuses them ("Decoding error"), where libheif and viewers that turn libavif's strict mode off
   * (SDL_image, SDWebImage, Qt's plugin) decode them. libheif 1.11 and older wrote no `pixi`
   * (libavif's AVIF_STRICT_PIXI_REQUIRED says so), nor did the tools built on it. The decoder is
   * given a copy whose meta box is renamed `free` (so nothing after it moves, and the item locations
   * hold) and this meta box, with a `pixi` for each such item as its `av1C` declares it, is
   * appended at the end. `toEnd`: the last top-level box's start where its size is 0, "to the end of
   * the file" (the meta box, or an mdat as streaming writers leave it): the copy writes its size out,
   * or the appended meta box would be read as part of it.
   */
  readonly avifPixiMeta?: {
    readonly start: number;
    readonly end: number;
    readonly box: Uint8Array;
    readonly toEnd?: number;
    /**
     * Where the last top-level box ends, when fewer bytes than a box header follow it (a writer's
     * padding, or a cut): the appended meta box goes there, over them, or the decoder would read
     * them as the start of a box.
     */
    readonly appendAt?: number;
  };
  /**
   * PNG: the chunks before the image data that its decoder does not need (each one's first byte and
   * the byte after it): all but PLTE, tRNS and APNG's acTL and fcTL, the probe having read what we
   * use of them (the iCCP profile, the eXIf orientation). The png crate refuses the whole file for
   * any such chunk over 1 MiB (a large XMP or EXIF block), and for a second iCCP, gAMA, cHRM, sRGB
   * or pHYs, one too short, a value out of range, or a text chunk it cannot parse, where libpng reads
   * the image and ignores the chunk with a warning; its refusal reached us as "`unwrap_throw`
   * failed". The decoder is given a copy without them.
   */
  readonly pngSkippedChunks?: readonly { readonly start: number; readonly end: number }[];
  /**
   * An indexed-colour PNG: its PLTE or tRNS chunk as the decoder is given it, where the png crate
   * would read it otherwise than Chrome 156 (its Rust PNG decoder) shows it (each chunk's first byte,
   * the byte after it, and the chunk to put there, CRC included). A tRNS chunk listing more alphas
   * than the palette has entries is cut to the palette's length: the png crate dropped it whole (as
   * libpng does) and the image came out opaque, where Chrome reads the palette's alphas. A palette
   * of fewer entries than the bit depth can index (2^n) is padded with its last entry, colour and
   * alpha (its tRNS chunk too where it gives that entry an alpha), as Chrome's colour table is: the
   * png crate made pixels whose index is past the palette opaque black.
   */
  readonly pngPaletteChunks?: readonly PngChunkEdit[];
  /** Dimensions as displayed, after cropping and orientation. */
  readonly displayWidth: number;
  readonly displayHeight: number;
  readonly hasAlpha: boolean;
  readonly animated: boolean;
  /** Frames of an animation (1 for a still image); the pipeline makes its variants from the first. */
  readonly frames: number;
  /** A four-component JPEG: CMYK or YCCK (decoded to CMYK), taken as Adobe-inverted with or without the APP14 marker. */
  readonly cmyk?: { readonly model: 'CMYK' | 'YCCK'; readonly inverted: boolean };
  /**
   * JPEG, PNG, GIF and WebP: bytes after the image's end (its EOI marker, its IEND chunk, the GIF
   * trailer, the size its RIFF header declares), which no decoder reads: a phone's gain map or motion photo, or a file appended to make a polyglot. Where they
   * start, and how many.
   */
  readonly trailing?: { readonly offset: number; readonly bytes: number };
  /**
   * Bytes inside the file that no decoder reads and that may hold any content: JPEG COM and APPn
   * segments' payloads (but those that start with the identifier of a segment the probe or a
   * decoder reads: JFIF, Exif, XMP, ICC_PROFILE, MPF, Adobe, Photoshop), PNG chunks of a type the
   * PNG specification does not define (private ones included), WebP chunks of a type its container
   * does not define, HEIF top-level boxes other than
   * ftyp, meta, mdat and moov (free, skip, any unknown one). clamd identifies a stream by its first
   * bytes and does not look for a gzip or bzip2 file inside an image, so the scanner scans each
   * of these as a stream of its own (handlers/scanner.ts). In file order.
   */
  readonly opaque?: readonly { readonly offset: number; readonly bytes: number }[];
  /** The colour description the file carries (ICC profile, HEIF nclx), read from the header. */
  readonly colour: ColourFacts;
  /** How the pixels are coded, as far as the memory a decode takes depends on it. */
  readonly layout: PixelLayout;
}

/** A chunk of a PNG replaced in the copy its decoder is given (ImageHeader.pngPaletteChunks). */
export interface PngChunkEdit {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
}

/**
 * The embedded colour description. No profile means sRGB. A profile that cannot be read is left
 * out with a warning (the image is then taken as sRGB): a broken profile never rejects an image.
 */
export interface ColourFacts {
  /** The embedded ICC profile, whole: JPEG APP2 segments joined in order, PNG iCCP inflated. */
  readonly icc?: Uint8Array;
  /** Where the profile was: `APP2` (JPEG), `iCCP` (PNG), `ICCP` (WebP), `colr` (AVIF, HEIC). */
  readonly iccSource?: 'APP2' | 'iCCP' | 'ICCP' | 'colr';
  /**
   * A HEIF `nclx` colour description (ITU-T H.273 code points), when there is no ICC profile: the
   * `colr` box's, or without one the coded image's (AV1 sequence header, HEVC VUI). A PNG's `cICP`
   * chunk, beside `icc` when the file has an iCCP chunk too: cICP wins (PNG third edition), the
   * profile is the fallback where its code points describe what is not converted (HDR).
   */
  readonly nclx?: { readonly primaries: number; readonly transfer: number; readonly matrix: number };
  /**
   * Where `nclx` was read: a `colr` box, the AV1 sequence header (`av1`), the HEVC VUI (`hevc`) or
   * a PNG `cICP` chunk (`cicp`).
   */
  readonly nclxSource?: 'colr' | 'av1' | 'hevc' | 'cicp';
  /** What was wrong with the colour information, for the manifest. */
  readonly warnings: readonly string[];
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
  /**
   * JPEG: its scans. One (sequential, all components interleaved) decodes row by row; more
   * (progressive, or components in separate scans) hold every coefficient until the last scan.
   */
  readonly scans?: number;
  /**
   * JPEG: libjpeg holds every DCT coefficient of the image until its last scan (its
   * `has_multiple_scans`): a progressive frame, whatever its number of scans, or a first scan
   * without every component; several scans of a sequential frame imply the latter.
   */
  readonly coefficientsHeld?: boolean;
  /**
   * JPEG: each component's sampling factors, horizontal and vertical (1-4), in frame order. With
   * more than one scan the decoder holds every component's coefficients at this sampling.
   */
  readonly sampling?: readonly (readonly [number, number])[];
}

/**
 * Sizes a format allows that its decoder refuses, before decoding, with a message that names
 * neither the size nor the file's: libjpeg's JPEG_MAX_DIMENSION (65500 a side, where JPEG allows
 * 65535: "Maximum supported image dimension is 65500 pixels"), libavif's default dimension and
 * size limits (32768 a side, 16384 x 16384 pixels: "Decoding error"). FORMAT_META holds them.
 */
const DECODER_LIMITS: Partial<
  Record<InputFormat, { readonly decoder: string; readonly maxSide: number; readonly maxPixels?: number }>
> = {
  jpeg: { decoder: 'TurboJPEG', ...FORMAT_META.jpeg.limits },
  avif: { decoder: 'libavif', ...FORMAT_META.avif.limits },
};

/**
 * Refuses, as bad-dimensions, a size the format allows and its decoder does not (DECODER_LIMITS),
 * naming the size and the limit. inspectImage calls it after the pixel limit: an image over
 * maxPixels is too-many-pixels, as in any other format.
 */
export function checkDecoderLimits(format: InputFormat, width: number, height: number): void {
  const limit = DECODER_LIMITS[format];
  if (limit) {
    const { decoder, maxSide, maxPixels } = limit;
    const pixels = width * height;
    const over =
      width > maxSide || height > maxSide
        ? `the ${maxSide} a side`
        : maxPixels !== undefined && pixels > maxPixels
          ? `the ${maxPixels} pixels`
          : undefined;
    if (over)
      throw new InvalidImageError(
        'bad-dimensions',
        `The ${format} header declares ${width}x${height} pixels, more than ${over} our decoder (${decoder}) decodes`,
        {
          format,
          width,
          height,
          maxSide,
          ...(maxPixels !== undefined && { maxPixels }),
        },
      );
  }
}

/**
 * `checkTime`: called every PROBE_CHECK_BYTES of bytes walked, to stop the probe by throwing (the
 * image's deadline, pipeline/deadline.ts). The walks are linear in the file, but a file of 5 GiB
 * (maxBytes allows it) of GIF sub-blocks or JPEG 0xFF00 pairs took about 10 s to walk, and the
 * counts the probe limits (markers, chunks, entries) cannot bound that.
 */
export function probeImage(format: InputFormat, bytes: Uint8Array, checkTime?: () => void): ImageHeader {
  const facts = PROBES[format](new Reader(bytes, format, checkTime));
  const orientation = facts.orientation ?? 1;
  if (facts.width < 1 || facts.height < 1) {
    throw new InvalidImageError(
      'bad-dimensions',
      `The ${format} header declares ${facts.width}x${facts.height} pixels`,
      { format, width: facts.width, height: facts.height },
    );
  }
  const swap = swapsAxes(orientation);
  const shown = facts.crop ?? facts;
  return {
    format,
    width: facts.width,
    height: facts.height,
    orientation,
    ...(facts.crop && { crop: facts.crop }),
    ...(facts.clapOffset !== undefined && { clapOffset: facts.clapOffset }),
    ...(facts.clapEssentialAt && { clapEssentialAt: facts.clapEssentialAt }),
    ...(facts.avifPixiMeta && { avifPixiMeta: facts.avifPixiMeta }),
    ...(facts.pngSkippedChunks && { pngSkippedChunks: facts.pngSkippedChunks }),
    ...(facts.pngPaletteChunks && { pngPaletteChunks: facts.pngPaletteChunks }),
    displayWidth: swap ? shown.height : shown.width,
    displayHeight: swap ? shown.width : shown.height,
    hasAlpha: facts.hasAlpha ?? false,
    animated: facts.animated ?? false,
    frames: facts.frames ?? 1,
    ...(facts.cmyk && { cmyk: facts.cmyk }),
    ...(facts.end !== undefined &&
      facts.end < bytes.length && { trailing: { offset: facts.end, bytes: bytes.length - facts.end } }),
    ...(facts.opaque?.length && { opaque: facts.opaque }),
    colour: facts.colour ?? { warnings: [] },
    layout: facts.layout ?? { bitDepth: 8, channels: facts.hasAlpha ? 4 : 3 },
  };
}

interface Facts {
  width: number;
  height: number;
  orientation?: Orientation;
  crop?: ImageHeader['crop'];
  clapOffset?: number;
  clapEssentialAt?: ImageHeader['clapEssentialAt'];
  avifPixiMeta?: ImageHeader['avifPixiMeta'];
  pngSkippedChunks?: ImageHeader['pngSkippedChunks'];
  pngPaletteChunks?: ImageHeader['pngPaletteChunks'];
  hasAlpha?: boolean;
  animated?: boolean;
  frames?: number;
  cmyk?: ImageHeader['cmyk'];
  colour?: ColourFacts;
  layout?: PixelLayout | undefined;
  /** JPEG, PNG, GIF and WebP: where the image ends (after its EOI marker, IEND chunk, trailer, RIFF size). */
  end?: number;
  opaque?: { offset: number; bytes: number }[];
}

/** How many bytes the probe walks between two calls of its `checkTime`: 1 MiB, about 2 ms. */
export const PROBE_CHECK_BYTES = 1 << 20;

const PROBES: Record<InputFormat, (r: Reader) => Facts> = {
  jpeg: probeJpeg,
  png: probePng,
  webp: probeWebp,
  avif: probeHeif,
  heic: probeHeif,
  gif: probeGif,
};

/** Bounds-checked big/little-endian reads that turn running off the end into a "truncated" rejection. */
class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly format: InputFormat;
  readonly #checkTime: (() => void) | undefined;
  #walked = 0;

  constructor(bytes: Uint8Array, format: InputFormat, checkTime?: () => void) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.format = format;
    this.#checkTime = checkTime;
  }

  /** Counts `bytes` walked, and calls `checkTime` (which may throw) each PROBE_CHECK_BYTES. */
  walked(bytes: number): void {
    this.#walked += bytes;
    if (this.#walked < PROBE_CHECK_BYTES) return;
    this.#walked = 0;
    this.#checkTime?.();
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

  i32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.view.getInt32(offset);
  }

  uint(offset: number, size: number, what: string): number {
    if (size === 0) return 0;
    if (size === 2) return this.u16(offset, what);
    if (size === 4) return this.u32(offset, what);
    if (size === 8) return this.u32(offset, what) * 2 ** 32 + this.u32(offset + 4, what);
    throw this.corrupt(`a ${size}-byte field in the ${what}`);
  }

  /** Four bytes as a string, to compare with known types; messages name it by typeName(). */
  fourcc(offset: number, what: string): string {
    this.need(offset, 4, what);
    const b = this.bytes;
    return String.fromCharCode(b[offset]!, b[offset + 1]!, b[offset + 2]!, b[offset + 3]!);
  }

  corrupt(what: string, details: Record<string, unknown> = {}): InvalidImageError {
    return new InvalidImageError('corrupt', `The ${this.format} file is malformed: ${what}`, {
      format: this.format,
      ...details,
    });
  }
}

/**
 * A box, chunk or brand type for a message: four bytes of the file, so anything. Printable ASCII
 * is kept; any other byte, and `\\` and `"`, is written `\\xNN`. Raw, a type of control bytes put
 * terminal escape sequences, C1 controls or NUL into the message and every log that carried it.
 */
function typeName(type: string): string {
  return type.replace(
    /[^\x20-\x21\x23-\x5b\x5d-\x7e]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

// ---------------------------------------------------------------------------------------------- JPEG

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
/** Progressive frames (SOF2, SOF6, SOF10, SOF14). */
const PROGRESSIVE_SOF = new Set([0xc2, 0xc6, 0xca, 0xce]);
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

/**
 * The most markers a JPEG may have between its start and its end-of-image marker, segments and
 * standalone markers alike (the restart markers inside scan data are not counted): 65536. An
 * encoder writes a few dozen (tables, a frame header, APPn metadata, one scan header per scan, at
 * most MAX_JPEG_SCANS); a profile has at most 255 APP2 segments, and 65536 segments of the largest
 * size (65535 bytes) would be 4 GiB of metadata. A hostile file of empty COM segments has one
 * every 4 bytes (8.4 million in 32 MiB, 1.3 billion in 5 GiB), each walked here: 8.4 million took
 * 0.3-2 s to probe on a shared 2-core machine, growing with maxBytes (the image's deadline stops
 * the walk: probeImage's `checkTime`).
 */
export const MAX_JPEG_MARKERS = 65536;

/**
 * The refusal of a file with more JPEG markers, PNG chunks or WebP chunks than the probe walks,
 * naming the one over the limit, where it is and the file's size (details `markers`/`maxMarkers`
 * or `chunks`/`maxChunks`, and `offset`).
 */
function tooMany(r: Reader, unit: 'marker' | 'chunk', count: number, max: number, offset: number) {
  const [key, maxKey] = unit === 'marker' ? ['markers', 'maxMarkers'] : ['chunks', 'maxChunks'];
  return r.corrupt(
    `it has more than ${max} ${unit}s (${unit} ${count} at byte ${offset}, of ${r.length} bytes)`,
    {
      [key]: count,
      [maxKey]: max,
      offset,
    },
  );
}

function probeJpeg(r: Reader): Facts {
  let offset = 2;
  let frame:
    | {
        width: number;
        height: number;
        components: number;
        precision: number;
        marker: number;
        sampling: [number, number][];
      }
    | undefined;
  let orientation: Orientation | undefined;
  let sawExif = false;
  let adobeTransform: number | undefined;
  const iccSegments: IccSegment[] = [];
  let iccExtraSegments = 0;
  let scans = 0;
  let firstScanComponents = 0;
  let markers = 0;
  const opaque: { offset: number; bytes: number }[] = [];
  for (;;) {
    if (r.u8(offset, 'marker') !== 0xff) {
      // Before the first scan a stray byte means a broken header. After it, libjpeg skips stray
      // bytes before a marker (with an "extraneous bytes" warning the decoder lets pass); so do we.
      if (scans === 0) throw r.corrupt(`expected a marker at byte ${offset}`, { offset });
      offset = nextMarker(r, offset);
      continue;
    }
    if (++markers > MAX_JPEG_MARKERS) throw tooMany(r, 'marker', markers, MAX_JPEG_MARKERS, offset);
    let marker = r.u8(offset + 1, 'marker');
    while (marker === 0xff) marker = r.u8(++offset + 1, 'marker'); // fill bytes
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2;
      continue;
    }
    if (marker === EOI) {
      if (scans === 0) throw r.corrupt('the image ends before its first scan');
      offset += 2;
      break;
    }
    const length = r.u16(offset + 2, 'segment length');
    if (length < 2) throw r.corrupt(`segment 0xFF${marker.toString(16)} has length ${length}`);
    r.walked(2 + length);
    const body = offset + 4;
    r.need(offset + 2, length, `segment 0xFF${marker.toString(16).toUpperCase()}`);
    if (
      (marker === COM || (marker >= 0xe0 && marker <= 0xef)) &&
      length > 2 &&
      !isKnownJpegSegment(r.bytes, body, length - 2)
    )
      opaque.push({ offset: body, bytes: length - 2 });
    if (SOF_MARKERS.has(marker)) {
      // libjpeg sizes its buffers by the first and fails at the second ("two SOF markers"), after
      // allocating: a 10000x10000 first frame could hide behind a 16x16 second one.
      if (frame) {
        throw r.corrupt(
          `a second frame header (SOF) at byte ${offset}, after one of ${frame.width}x${frame.height}`,
          { offset, first: [frame.width, frame.height] },
        );
      }
      frame = {
        marker,
        precision: r.u8(body, 'frame header'),
        height: r.u16(body + 1, 'frame header'),
        width: r.u16(body + 3, 'frame header'),
        components: r.u8(body + 5, 'frame header'),
        sampling: [],
      };
      for (let c = 0; c < frame.components; c++) {
        const factors = r.u8(body + 7 + 3 * c, 'frame header');
        const [h, v] = [factors >> 4, factors & 15];
        // libjpeg refuses other factors ("Bogus sampling factors") too.
        if (h < 1 || h > 4 || v < 1 || v > 4)
          throw r.corrupt(`component ${c + 1} has the sampling factors ${h}x${v} (1 to 4 are defined)`, {
            component: c + 1,
            sampling: [h, v],
          });
        frame.sampling.push([h, v]);
      }
    } else if (marker === 0xe1 && !sawExif && isExifApp1(r.bytes, body, length - 2)) {
      // The first Exif segment decides, as in Chrome: one without a valid Orientation means none,
      // however a later segment is oriented.
      sawExif = true;
      const value = readExifOrientation(r.bytes.subarray(body, body + length - 2));
      if (isOrientation(value)) orientation = value;
    } else if (marker === 0xe2 && isIccApp2(r.bytes, body, length - 2)) {
      // A profile has at most 255 segments (their numbers are bytes): past that only the count is
      // kept, so a file of 30 MB of APP2 segments cannot make 1.6 million of them (470 MiB).
      if (iccSegments.length < MAX_ICC_SEGMENTS)
        iccSegments.push({
          sequence: r.bytes[body + 12]!,
          count: r.bytes[body + 13]!,
          data: r.bytes.subarray(body + 14, body + length - 2),
        });
      else iccExtraSegments++;
    } else if (marker === 0xee && length >= 14 && r.fourcc(body, 'APP14') === 'Adob') {
      adobeTransform = r.u8(body + 11, 'APP14');
    } else if (marker === SOS) {
      if (!frame) throw r.corrupt('a scan starts before the frame header (SOF)');
      if (scans === 0) firstScanComponents = r.u8(body, 'scan header');
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
  if (frame.components !== 1 && frame.components !== 3 && frame.components !== 4) {
    throw r.corrupt(`the frame has ${frame.components} components`, { components: frame.components });
  }
  if (frame.components !== 1 && !turboJpegReads(frame.sampling)) {
    const factors = frame.sampling.map(([h, v]) => `${h}x${v}`).join(', ');
    throw new InvalidImageError(
      'unsupported-format',
      `The jpeg file's sampling factors (${factors}) are not a layout our decoder (TurboJPEG 2.1.5) reads: it reads luma of 1x1, 2x1, 2x2, 1x2 or 4x1 over chroma of 1x1 (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1), luma 2x2 over chroma 1x2 or 2x1, and all components alike of up to 3 blocks${frame.components === 4 ? '; in a CMYK or YCCK file, the fourth component (K) sampled as the first (2x2 over 1x2 or 2x1 chroma)' : ''}`,
      { format: 'jpeg', sampling: frame.sampling },
    );
  }
  // Four components are CMYK without Adobe's APP14 marker or with its transform 0, and YCCK with
  // any other transform: 2, and 1 or an undefined one, which libjpeg warns of and reads as YCCK
  // (jdapimin.c). The values are taken as stored inverted, as Photoshop writes them, with or without
  // the marker: Chrome, ImageMagick and Pillow read them so, and a file without it is in practice
  // one whose metadata was stripped (libjpeg writes the marker with every CMYK file). libvips and
  // jpgicc invert only with the marker, and gave such a photo dark, wrong colours, as it was given here.
  const cmyk =
    frame.components === 4
      ? {
          model: adobeTransform === undefined || adobeTransform === 0 ? ('CMYK' as const) : ('YCCK' as const),
          inverted: true,
        }
      : undefined;
  // libjpeg's jdinput.c: a progressive frame, or a first scan of fewer components than the frame,
  // is decoded through whole-image coefficient buffers; a progressive JPEG of one (DC) scan too.
  const coefficientsHeld = PROGRESSIVE_SOF.has(frame.marker) || firstScanComponents < frame.components;
  return {
    width: frame.width,
    height: frame.height,
    end: offset,
    opaque,
    orientation,
    cmyk,
    colour: jpegColour(iccSegments, iccExtraSegments),
    // One component is grey; three are colour; four (CMYK, YCCK) are decoded to colour.
    layout: {
      bitDepth: 8,
      channels: frame.components === 1 ? 1 : 3,
      scans,
      coefficientsHeld,
      sampling: frame.sampling,
    },
  };
}

/**
 * Whether TurboJPEG 2.1.5 reads a three- or four-component JPEG of these sampling factors: its
 * tjDecompressHeader3 refuses any other layout ("Could not determine subsampling type for JPEG
 * image", turbojpeg.c getSubsamp), though libjpeg and browsers decode some (1x1 luma over 2x1
 * chroma). The layouts: luma 1x1, 2x1, 2x2, 1x2 or 4x1 over 1x1 chroma; luma 2x2 over 1x2 or 2x1
 * chroma; all alike, of at most 3 blocks each (D_MAX_BLOCKS_IN_MCU 10 over 3 components). In a
 * four-component file (CMYK or YCCK, as libjpeg reads every one) the fourth, K, is sampled as the
 * first, and 2x2 over 1x2 or 2x1 chroma.
 */
function turboJpegReads(sampling: readonly (readonly [number, number])[]): boolean {
  const [[h, v], ...rest] = sampling as [[number, number], ...[number, number][]];
  const chroma = rest.slice(0, 2);
  const k = rest[2];
  const chromaIs = (ch: number, cv: number) => chroma.every(([x, y]) => x === ch && y === cv);
  const kIs = (kh: number, kv: number) => k === undefined || (k[0] === kh && k[1] === kv);
  const standard = ['1x1', '2x1', '2x2', '1x2', '4x1'].includes(`${h}x${v}`) && chromaIs(1, 1) && kIs(h, v);
  const lumaTwice = h === 2 && v === 2 && (chromaIs(1, 2) || chromaIs(2, 1)) && kIs(2, 2);
  const alike = h * v <= 3 && chromaIs(h, v) && kIs(h, v);
  return standard || lumaTwice || alike;
}

const COM = 0xfe;
/**
 * The identifiers that start the APPn segments a decoder or the probe reads, or that cameras and
 * editors write by the dozen (ICC profiles and extended XMP span many segments): their payload is
 * what the identifier says, not a file clamd would type by its first bytes, and the scan of the
 * whole file runs every signature over their bytes.
 */
const KNOWN_JPEG_SEGMENTS = [
  'JFIF\0',
  'JFXX\0',
  'Exif\0',
  'http://ns.adobe.com/',
  'ICC_PROFILE\0',
  'MPF\0',
  'Adobe',
  'Photoshop 3.0\0',
].map((id) => Buffer.from(id, 'latin1'));

function isKnownJpegSegment(bytes: Uint8Array, start: number, length: number): boolean {
  return KNOWN_JPEG_SEGMENTS.some(
    (id) => length >= id.length && id.every((byte, i) => bytes[start + i] === byte),
  );
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
  // In steps of PROBE_CHECK_BYTES, each counted as walked (which may stop the probe).
  while (at < last) {
    const start = at;
    const stop = Math.min(last, at + PROBE_CHECK_BYTES);
    while (at < stop) {
      if (bytes[at] !== 0xff) {
        // A few bytes here first: a native search per byte would be slow on 0xFF00 0x01 repeated.
        const near = Math.min(at + 32, stop);
        while (at < near && bytes[at] !== 0xff) at++;
        if (at === near) at = bytes.indexOf(0xff, at);
        if (at === -1) at = last;
        continue;
      }
      const next = bytes[at + 1]!;
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
      else if (next === 0xff) at += 1;
      else return at;
    }
    r.walked(at - start);
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
  checkPngHeader(r, bitDepth, colourType);
  let hasAlpha = colourType === 4 || colourType === 6;
  let orientation: Orientation | undefined;
  let animated = false;
  let frames: number | undefined;
  let iccp: Uint8Array | undefined;
  let laterIccpChunks = 0;
  let cicp: Uint8Array | undefined;
  let sawExif = false;
  const skipped: { start: number; end: number }[] = [];
  let sawData = false;
  const opaque: { offset: number; bytes: number }[] = [];
  let paletteAt: number | undefined;
  let paletteLength = 0;
  let transparencyAt: number | undefined;
  let transparencyLength = 0;
  let offset = 8;
  for (let chunks = 1; ; chunks++) {
    if (chunks > MAX_PNG_CHUNKS) throw tooMany(r, 'chunk', chunks, MAX_PNG_CHUNKS, offset);
    const length = r.u32(offset, 'chunk header');
    const type = r.fourcc(offset + 4, 'chunk header');
    if (!/^[A-Za-z]{4}$/.test(type))
      throw r.corrupt(`chunk at byte ${offset} has the invalid type ${JSON.stringify(type)}`);
    r.need(offset + 8, length + 4, `${type} chunk`);
    r.walked(12 + length);
    if (type === 'IEND') {
      offset += 12 + length;
      break;
    }
    if (length > 0 && !PNG_DEFINED_CHUNKS.has(type)) opaque.push({ offset: offset + 8, bytes: length });
    if (!sawData && !PNG_DECODER_CHUNKS.has(type)) {
      // A run of such chunks is one range: a 32 MiB file of 2.8 million empty chunks kept as many
      // ranges (154 MiB, outside the memory estimate).
      const last = skipped.at(-1);
      if (last?.end === offset) last.end = offset + 12 + length;
      else skipped.push({ start: offset, end: offset + 12 + length });
    }
    if (type === 'IDAT') {
      if (colourType === 3 && paletteAt === undefined)
        throw r.corrupt(
          `its image is indexed-colour (colour type 3) but no PLTE chunk comes before its image data (IDAT at byte ${offset})`,
          { colourType, offset },
        );
      sawData = true;
    } else if (type === 'PLTE' && !sawData) {
      // The png crate refuses a second PLTE, and an empty one for indexed colour.
      if (paletteAt !== undefined)
        throw r.corrupt(`it has a second PLTE chunk at byte ${offset} (the first at byte ${paletteAt})`, {
          offset,
        });
      if (colourType === 3 && length === 0)
        throw r.corrupt(
          `its PLTE chunk at byte ${offset} is empty: an indexed-colour image needs 1 to 256 entries`,
          {
            offset,
          },
        );
      // The png crate decoded these (no whole entry: black); Chrome refuses them, as PNG does.
      if (colourType === 3 && (length < 3 || length > 768)) {
        const entries = length > 768 ? ` (${Math.floor(length / 3)} entries)` : '';
        throw r.corrupt(
          `its PLTE chunk at byte ${offset} is ${length} bytes long${entries}: an indexed-colour image needs 1 to 256 entries of 3 bytes`,
          { offset, length },
        );
      }
      paletteAt = offset;
      paletteLength = length;
    }
    // A tRNS or acTL after the image data is out of place and read by no decoder: the png crate reads
    // the chunks only up to the image it decodes, and libpng ignores it with a warning. It neither
    // refuses the file nor makes it transparent or animated.
    else if (type === 'tRNS' && !sawData) {
      if (transparencyAt !== undefined)
        throw r.corrupt(
          `it has a second tRNS chunk at byte ${offset} (the first at byte ${transparencyAt})`,
          {
            offset,
          },
        );
      if (colourType === 3 && paletteAt === undefined)
        throw r.corrupt(
          `its tRNS chunk at byte ${offset} comes before its PLTE chunk: an indexed-colour image's transparency is given for its palette's entries`,
          { colourType, offset },
        );
      transparencyAt = offset;
      transparencyLength = length;
      // The png crate refuses the file (libpng ignores the chunk with a warning).
      if (colourType === 4 || colourType === 6)
        throw r.corrupt(
          `it has a tRNS chunk (at byte ${offset}), which colour type ${colourType} (${PNG_COLOUR_TYPES[colourType]}) may not have: it has an alpha channel`,
          { colourType, offset },
        );
      const needs = colourType === 0 ? 2 : colourType === 2 ? 6 : 0;
      if (length < needs)
        throw r.corrupt(
          `its tRNS chunk at byte ${offset} is ${length} bytes long; colour type ${colourType} (${PNG_COLOUR_TYPES[colourType]}) needs ${needs}, two for each sample`,
          { colourType, offset, length },
        );
      hasAlpha = true;
    } else if (type === 'acTL' && !sawData) {
      // Shorter than its two fields, the png crate refuses it; a longer one it reads by its first
      // 8 bytes, and the file decodes (libpng's APNG patch ignores it).
      if (length < 8)
        throw r.corrupt(`its acTL chunk at byte ${offset} is ${length} bytes long, not 8`, {
          offset,
          length,
        });
      // 0 frames, or more than 2^31 - 1, is not a valid count (APNG): libpng's APNG patch ignores
      // such an acTL, and the file is a still PNG, as Firefox shows it.
      const count = r.u32(offset + 8, 'acTL chunk');
      if (count >= 1 && count <= 0x7fffffff) {
        animated = true;
        frames = count;
      }
    } else if (type === 'fcTL' && !sawData) {
      // The default image's frame control (APNG: it is the first frame) must be the IHDR image at
      // 0,0; the png crate decodes the default image at the fcTL's size and failed on another
      // with only "`unwrap_throw` failed".
      const frame = [0, 4, 8, 12].map((at) => r.u32(offset + 12 + at, 'fcTL chunk'));
      if (frame[0] !== width || frame[1] !== height || frame[2] !== 0 || frame[3] !== 0)
        throw r.corrupt(
          `the default image's fcTL chunk declares ${frame[0]}x${frame[1]} at ${frame[2]},${frame[3]}, not the IHDR image (${width}x${height} at 0,0)`,
          { frame: [frame[0], frame[1]], at: [frame[2], frame[3]], declared: [width, height] },
        );
    } else if (type === 'iCCP' && !sawData) {
      // libpng reads the first and ignores any other, with a warning ("Duplicate iCCP chunk").
      if (iccp) laterIccpChunks++;
      else iccp = r.bytes.subarray(offset + 8, offset + 8 + length);
    } else if (type === 'cICP' && !sawData && !cicp) {
      // Coding-independent code points (PNG third edition 11.3.2.6): before the image data, one.
      cicp = r.bytes.subarray(offset + 8, offset + 8 + length);
    } else if (type === 'eXIf' && !sawExif && !sawData) {
      // PNG allows one eXIf chunk: libpng keeps the first and ignores another ("duplicate"), and
      // Chrome orients by the first, so a second one, whatever its orientation, changes nothing.
      // One after the image data is out of place (PNG third edition: before IDAT) and Chrome
      // shows the image unrotated: it is ignored too.
      sawExif = true;
      const value = readExifOrientation(r.bytes.subarray(offset + 8, offset + 8 + length));
      if (isOrientation(value)) orientation = value;
    }
    offset += 12 + length;
  }
  if (!sawData) throw r.corrupt('there is no IDAT chunk');
  // Colour types 0 gray, 2 RGB, 3 palette (expanded to 8-bit RGB), 4 gray + alpha, 6 RGBA; a tRNS
  // chunk adds an alpha channel to 0, 2 and 3.
  const samples = colourType === 0 || colourType === 4 ? 1 : 3;
  const layout = { bitDepth: colourType === 3 ? 8 : bitDepth, channels: samples + (hasAlpha ? 1 : 0) };
  const colour = pngColour(iccp, laterIccpChunks, cicp);
  const paletteChunks =
    colourType === 3 && paletteAt !== undefined
      ? pngPaletteEdits(
          r.bytes,
          bitDepth,
          { at: paletteAt, length: paletteLength },
          transparencyAt === undefined ? undefined : { at: transparencyAt, length: transparencyLength },
        )
      : [];
  return {
    width,
    height,
    end: offset,
    opaque,
    hasAlpha,
    orientation,
    animated,
    frames,
    colour,
    layout,
    ...(skipped.length > 0 && { pngSkippedChunks: skipped }),
    ...(paletteChunks.length > 0 && { pngPaletteChunks: paletteChunks }),
  };
}

/**
 * An indexed-colour PNG's PLTE and tRNS chunks where the png crate would read them otherwise than
 * Chrome 156 shows them (ImageHeader.pngPaletteChunks): a tRNS chunk longer than the palette cut to
 * its length; a palette shorter than the bit depth can index padded to 2^bitDepth entries with its
 * last entry, and a tRNS chunk that gives that entry an alpha padded with it.
 */
function pngPaletteEdits(
  bytes: Uint8Array,
  bitDepth: number,
  palette: { at: number; length: number },
  transparency: { at: number; length: number } | undefined,
): PngChunkEdit[] {
  const entries = Math.floor(palette.length / 3);
  const indexable = 1 << bitDepth;
  const pad = entries < indexable; // at least one entry: the probe refuses a PLTE without one
  const alphas = Math.min(transparency?.length ?? 0, entries);
  const edits: PngChunkEdit[] = [];
  if (pad) {
    const colours = new Uint8Array(indexable * 3);
    colours.set(bytes.subarray(palette.at + 8, palette.at + 8 + entries * 3));
    const last = bytes.subarray(palette.at + 8 + (entries - 1) * 3, palette.at + 8 + entries * 3);
    for (let entry = entries; entry < indexable; entry++) colours.set(last, entry * 3);
    edits.push({
      start: palette.at,
      end: palette.at + 12 + palette.length,
      bytes: pngChunk('PLTE', colours),
    });
  }
  if (transparency && (transparency.length > entries || (pad && alphas === entries))) {
    const values = new Uint8Array(pad && alphas === entries ? indexable : alphas);
    values.set(bytes.subarray(transparency.at + 8, transparency.at + 8 + alphas));
    values.fill(values[alphas - 1] ?? 255, alphas);
    edits.push({
      start: transparency.at,
      end: transparency.at + 12 + transparency.length,
      bytes: pngChunk('tRNS', values),
    });
  }
  return edits;
}

/** One PNG chunk's bytes: length, type, data and CRC. */
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  chunk.set(new TextEncoder().encode(type), 4);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return chunk;
}

/**
 * The most chunks a PNG may have, IEND included: 2^20. An encoder writes its image data in chunks of
 * 8 KiB (libpng's default) to 64 KiB or one chunk, so a file of the largest maxBytes (5 GiB) has
 * at most about 655,000; a hostile one of empty chunks has one every 12 bytes (2.8 million in
 * 32 MiB, 450 million in 5 GiB), each walked here before any deadline applies (the decode's
 * watchdog starts later): 2.8 million took 2-6 s to probe on a shared 2-core machine.
 */
export const MAX_PNG_CHUNKS = 1 << 20;

/** PNG's colour types (PNG 11.2.2) and the bit depths each allows. */
const PNG_COLOUR_TYPES: Readonly<Record<number, string>> = {
  0: 'greyscale',
  2: 'truecolour',
  3: 'indexed-colour',
  4: 'greyscale with alpha',
  6: 'truecolour with alpha',
};
const PNG_BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/**
 * The IHDR fields PNG defines (11.2.2): a colour type, a bit depth it allows, compression and filter
 * method 0, interlace method 0 or 1. The png crate refuses any other, and its glue said only
 * "`unwrap_throw` failed".
 */
function checkPngHeader(r: Reader, bitDepth: number, colourType: number): void {
  const name = PNG_COLOUR_TYPES[colourType];
  if (name === undefined)
    throw r.corrupt(`its IHDR chunk declares colour type ${colourType} (0, 2, 3, 4 and 6 are defined)`, {
      colourType,
    });
  const depths = PNG_BIT_DEPTHS[colourType]!;
  if (!depths.includes(bitDepth))
    throw r.corrupt(
      `its IHDR chunk declares bit depth ${bitDepth} for colour type ${colourType} (${name}), which allows ${depths.join(', ')}`,
      { colourType, bitDepth },
    );
  const [compression, filter, interlace] = [26, 27, 28].map((at) => r.u8(at, 'IHDR'));
  if (compression !== 0)
    throw r.corrupt(`its IHDR chunk declares compression method ${compression} (0 is defined)`, {
      compression,
    });
  if (filter !== 0)
    throw r.corrupt(`its IHDR chunk declares filter method ${filter} (0 is defined)`, { filter });
  if (interlace !== 0 && interlace !== 1)
    throw r.corrupt(`its IHDR chunk declares interlace method ${interlace} (0 and 1 are defined)`, {
      interlace,
    });
}

/**
 * The chunks the png crate is given (ImageHeader.pngSkippedChunks): the image's own (IHDR, PLTE,
 * tRNS, IDAT; IEND), and APNG's, whose default image it decodes.
 */
const PNG_DECODER_CHUNKS: ReadonlySet<string> = new Set([
  'IHDR',
  'PLTE',
  'tRNS',
  'IDAT',
  'acTL',
  'fcTL',
  'fdAT',
]);

/**
 * The chunks the PNG specification (third edition) and APNG define; any other, private ones
 * included, is read by no decoder and may hold anything (ImageHeader.opaque).
 */
const PNG_DEFINED_CHUNKS: ReadonlySet<string> = new Set([
  ...PNG_DECODER_CHUNKS,
  'IEND',
  'cHRM',
  'cICP',
  'gAMA',
  'iCCP',
  'mDCV',
  'cLLI',
  'sBIT',
  'sRGB',
  'bKGD',
  'hIST',
  'pHYs',
  'sPLT',
  'eXIf',
  'tIME',
  'tEXt',
  'zTXt',
  'iTXt',
]);

// ---------------------------------------------------------------------------------------------- WebP

/**
 * The most chunks a WebP may have in its RIFF container: 2^20, as a PNG (MAX_PNG_CHUNKS). A still
 * image has a few (VP8X, ICCP, ALPH, VP8/VP8L, EXIF, XMP), an animation one ANMF chunk a frame: a
 * million frames is hours of animation at 60 frames a second. A hostile file of empty chunks has one
 * every 8 bytes (4.2 million in 32 MiB, 670 million in 5 GiB), each walked here before any deadline
 * applies: 4.2 million took 180 ms to probe on this machine, growing with maxBytes.
 */
export const MAX_WEBP_CHUNKS = 1 << 20;

function probeWebp(r: Reader): Facts {
  const riffSize = r.u32(4, 'RIFF header', true);
  // A RIFF file announces its own length: fewer bytes than that means the upload was cut short.
  r.need(0, riffSize + 8, 'RIFF container');
  let offset = 12;
  let canvas: { width: number; height: number } | undefined;
  let hasAlpha = false;
  let animated = false;
  let orientation: Orientation | undefined;
  let bitstream: WebpBitstream | undefined;
  let frames = 0;
  let iccp: Uint8Array | undefined;
  let unflaggedIccp: number | undefined;
  let iccFlag = false;
  let lossless = false;
  const opaque: { offset: number; bytes: number }[] = [];
  for (let chunks = 1; offset + 8 <= riffSize + 8; chunks++) {
    if (chunks > MAX_WEBP_CHUNKS) throw tooMany(r, 'chunk', chunks, MAX_WEBP_CHUNKS, offset);
    const type = r.fourcc(offset, 'chunk header');
    const size = r.u32(offset + 4, 'chunk header', true);
    const data = offset + 8;
    r.need(data, size, `${typeName(type)} chunk`);
    r.walked(8 + size);
    switch (type) {
      case 'VP8X': {
        // The container's first chunk, and its only VP8X (libwebp reads the canvas there alone):
        // a second one would give the header another size than the one the frame is decoded on
        // (a 1x1 VP8X after a 9000x9000 frame on a 9000x9000 canvas passed maxPixels and the
        // memory budget, and then decoded 81 MP).
        if (offset !== 12)
          throw r.corrupt(`a VP8X chunk at byte ${offset}; it must be the first chunk, at byte 12`, {
            offset,
          });
        const flags = r.u8(data, 'VP8X chunk');
        hasAlpha ||= (flags & 0x10) !== 0;
        animated ||= (flags & 0x02) !== 0;
        iccFlag = (flags & 0x20) !== 0;
        canvas = { width: r.u24le(data + 4, 'VP8X chunk') + 1, height: r.u24le(data + 7, 'VP8X chunk') + 1 };
        break;
      }
      case 'VP8 ':
      case 'VP8L': {
        const still = webpBitstream(r, type, data);
        bitstream ??= still;
        lossless ||= still.lossless;
        // VP8L's alpha_is_used is a hint that must not change decoding: its pixels carry alpha
        // whatever it says, so a lossless image may have alpha (the pixels decide: transparent).
        hasAlpha ||= still.alpha || still.lossless;
        break;
      }
      case 'ALPH':
        hasAlpha = true;
        break;
      case 'ANIM':
        animated = true;
        break;
      case 'ANMF':
        animated = true;
        if (frames++ === 0) {
          const first = firstWebpFrame(r, data, size, canvas);
          lossless = first.lossless;
          // The canvas is transparent where the first frame does not reach, and the frame's own
          // alpha (ALPH, or VP8L's) is decoded whatever the VP8X flags say.
          hasAlpha ||= first.alpha || !first.coversCanvas;
        } else laterWebpFrame(r, data, size, canvas!, frames); // the first frame checked the canvas
        break;
      case 'ICCP':
        // libwebp's demuxer (Chrome's WebP decoder) keeps it only when the VP8X header flags it.
        // Unflagged, it is read by nothing and may hold anything, as an unknown chunk.
        if (iccFlag) iccp ??= r.bytes.subarray(data, data + size);
        else {
          unflaggedIccp ??= size;
          if (size > 0) opaque.push({ offset: data, bytes: size });
        }
        break;
      case 'EXIF': {
        const value = readExifOrientation(r.bytes.subarray(data, data + size));
        if (isOrientation(value)) orientation = value;
        break;
      }
      case 'XMP ':
        break;
      default:
        // A chunk of a type the WebP container does not define: read by no decoder.
        if (size > 0) opaque.push({ offset: data, bytes: size });
    }
    offset = data + size + (size & 1);
  }
  const dims = canvas ?? bitstream;
  if (!dims) throw r.corrupt('there is no VP8, VP8L or VP8X chunk');
  if (!animated && !bitstream) throw r.corrupt('there is no image data (VP8 or VP8L chunk)');
  if (animated && frames === 0) throw r.corrupt('the animation has no frame (ANMF chunk)');
  // libwebp refuses a still image whose bitstream is not its canvas's size ("Decoding error", with
  // no size named); a 16384x16384 canvas around a 4x4 bitstream was refused as too many pixels.
  if (!animated && canvas && bitstream) {
    const coded = [bitstream.width, bitstream.height];
    if (coded[0] !== canvas.width || coded[1] !== canvas.height)
      throw r.corrupt(
        `the VP8X chunk declares a ${canvas.width}x${canvas.height} canvas but the still image's ${bitstream.lossless ? 'VP8L' : 'VP8'} bitstream codes ${coded[0]}x${coded[1]}`,
        { canvas: [canvas.width, canvas.height], coded },
      );
  }
  const colour: ColourFacts = iccp
    ? iccFacts(iccp, 'ICCP')
    : {
        warnings:
          unflaggedIccp === undefined
            ? []
            : [
                `The ICCP chunk (${unflaggedIccp} bytes) is not flagged in the VP8X header: it is ignored, as libwebp and browsers ignore it, and the image is taken as sRGB`,
              ],
      };
  const layout = { bitDepth: 8, channels: hasAlpha ? 4 : 3, lossless };
  // The file ends where its RIFF header says: riffSize bytes after the header's first 8.
  const end = riffSize + 8;
  return {
    ...dims,
    end,
    opaque,
    hasAlpha,
    animated,
    orientation,
    frames: animated ? frames : 1,
    colour,
    layout,
  };
}

interface WebpBitstream {
  readonly width: number;
  readonly height: number;
  readonly lossless: boolean;
  /** VP8L's alpha hint. */
  readonly alpha: boolean;
}

/** The frame size a VP8 (key frame header) or VP8L (signature and 14-bit sizes) chunk codes. */
function webpBitstream(r: Reader, type: 'VP8 ' | 'VP8L', data: number): WebpBitstream {
  if (type === 'VP8 ') {
    if (
      r.u8(data + 3, 'VP8 frame') !== 0x9d ||
      r.u8(data + 4, 'VP8 frame') !== 0x01 ||
      r.u8(data + 5, 'VP8 frame') !== 0x2a
    ) {
      throw r.corrupt('the VP8 frame has no start code');
    }
    return {
      width: r.u16(data + 6, 'VP8 frame', true) & 0x3fff,
      height: r.u16(data + 8, 'VP8 frame', true) & 0x3fff,
      lossless: false,
      alpha: false,
    };
  }
  if (r.u8(data, 'VP8L header') !== 0x2f) throw r.corrupt('the VP8L chunk has no signature');
  const bits = r.u32(data + 1, 'VP8L header', true);
  return {
    width: (bits & 0x3fff) + 1,
    height: ((bits >>> 14) & 0x3fff) + 1,
    lossless: true,
    alpha: ((bits >>> 28) & 1) === 1,
  };
}

/**
 * The first ANMF chunk of an animation, which is what gets decoded (image/webp-frame.ts cuts it out):
 * its frame must fit the canvas, and its VP8 or VP8L bitstream (after an optional ALPH chunk) must
 * code the frame's size. The decoder allocates by the bitstream's size, so without this a 1x1
 * canvas and frame could hide a 9000x9000 VP8L bitstream that no pixel limit or memory estimate saw.
 */
function firstWebpFrame(
  r: Reader,
  data: number,
  size: number,
  canvas: { width: number; height: number } | undefined,
): WebpBitstream & { readonly coversCanvas: boolean } {
  if (!canvas) throw r.corrupt('an animation frame (ANMF chunk) comes before the canvas (VP8X chunk)');
  const x = r.u24le(data, 'ANMF chunk') * 2;
  const y = r.u24le(data + 3, 'ANMF chunk') * 2;
  const width = r.u24le(data + 6, 'ANMF chunk') + 1;
  const height = r.u24le(data + 9, 'ANMF chunk') + 1;
  if (x + width > canvas.width || y + height > canvas.height) {
    throw r.corrupt(
      `the first frame (${width}x${height} at ${x},${y}) does not fit the ${canvas.width}x${canvas.height} canvas`,
      { frame: [width, height], at: [x, y], canvas: [canvas.width, canvas.height] },
    );
  }
  const { coded, alph } = frameBitstream(r, data, size, 'the first frame');
  if (coded.width !== width || coded.height !== height) {
    throw r.corrupt(
      `the first frame declares ${width}x${height} but its ${coded.lossless ? 'VP8L' : 'VP8'} bitstream codes ${coded.width}x${coded.height}`,
      { frame: [width, height], coded: [coded.width, coded.height] },
    );
  }
  const coversCanvas = x === 0 && y === 0 && width === canvas.width && height === canvas.height;
  // The frame is decoded with an alpha channel when it has ALPH or is VP8L (image/webp-frame.ts).
  return { ...coded, alpha: alph || coded.lossless, coversCanvas };
}

/**
 * An ANMF chunk after the first: never decoded here, but Chrome 156 (libwebp's demuxer) refuses the
 * whole file when any frame has no VP8 or VP8L bitstream (after an optional ALPH chunk), or does not
 * fit the canvas at its offset with its bitstream's size (the demuxer takes the frame's size from
 * the bitstream, not from the ANMF chunk). `number`: the frame's, from 1.
 */
function laterWebpFrame(
  r: Reader,
  data: number,
  size: number,
  canvas: { width: number; height: number },
  number: number,
): void {
  const x = r.u24le(data, 'ANMF chunk') * 2;
  const y = r.u24le(data + 3, 'ANMF chunk') * 2;
  const { coded } = frameBitstream(r, data, size, `frame ${number}`);
  if (x + coded.width > canvas.width || y + coded.height > canvas.height)
    throw r.corrupt(
      `frame ${number} (its ${coded.lossless ? 'VP8L' : 'VP8'} bitstream, ${coded.width}x${coded.height} at ${x},${y}) does not fit the ${canvas.width}x${canvas.height} canvas`,
      {
        frame: number,
        coded: [coded.width, coded.height],
        at: [x, y],
        canvas: [canvas.width, canvas.height],
      },
    );
}

/** An ANMF chunk's image: an optional ALPH chunk, then a VP8 or VP8L chunk inside the ANMF chunk. */
function frameBitstream(
  r: Reader,
  data: number,
  size: number,
  frame: string,
): { coded: WebpBitstream; alph: boolean } {
  const end = data + size;
  let offset = data + 16;
  const alph = offset + 8 <= end && r.fourcc(offset, 'ANMF chunk') === 'ALPH';
  if (alph) {
    const alphSize = r.u32(offset + 4, 'ANMF chunk', true);
    offset += 8 + alphSize + (alphSize & 1);
  }
  const type = offset + 8 <= end ? r.fourcc(offset, 'ANMF chunk') : '';
  if (type !== 'VP8 ' && type !== 'VP8L') throw r.corrupt(`${frame} has no VP8 or VP8L chunk`);
  const chunkSize = r.u32(offset + 4, 'ANMF chunk', true);
  if (offset + 8 + chunkSize > end)
    throw r.corrupt(`${frame}'s ${type} chunk runs past the end of its ANMF chunk`);
  return { coded: webpBitstream(r, type, offset + 8), alph };
}

// ---------------------------------------------------------------------------------------------- AVIF

interface Box {
  type: string;
  start: number;
  /** First byte of the payload (after the header and, for full boxes, version and flags). */
  body: number;
  end: number;
}

/**
 * The most boxes one box may hold, and the most entries an iloc box or the ipma boxes may list:
 * 65536, past the items of the largest grid libavif decodes (256x256 tiles) and far past libheif's
 * security limits (1000 items, 100 children per box). Each costs an object here, tens of times its
 * bytes in the file: a 30 MB AVIF of 3.9 million empty boxes in its ipco box, or of 6 million ipma
 * entries, took 490-530 MiB and 15-25 s to probe, before maxPixels or the memory estimate.
 */
const MAX_HEIF_ENTRIES = 65536;

/** `lists`: "the iloc box lists", "the ipma boxes list". */
function tooManyEntries(r: Reader, lists: string, count: number): InvalidImageError {
  return r.corrupt(`${lists} ${count} entries, more than the ${MAX_HEIF_ENTRIES} read`, {
    entries: count,
    maxEntries: MAX_HEIF_ENTRIES,
  });
}

function readBoxes(r: Reader, start: number, end: number, where: string): Box[] {
  const boxes: Box[] = [];
  let offset = start;
  while (offset + 8 <= end) {
    if (boxes.length === MAX_HEIF_ENTRIES)
      throw r.corrupt(`the ${where} box holds more than the ${MAX_HEIF_ENTRIES} boxes read`, {
        maxEntries: MAX_HEIF_ENTRIES,
      });
    let size = r.u32(offset, `${where} box header`);
    const type = r.fourcc(offset + 4, `${where} box header`);
    let header = 8;
    if (size === 1) {
      size = r.uint(offset + 8, 8, `${typeName(type)} box header`);
      header = 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < header) throw r.corrupt(`box "${typeName(type)}" at byte ${offset} has size ${size}`);
    r.need(offset, size, `${typeName(type)} box`);
    boxes.push({ type, start: offset, body: offset + header, end: offset + size });
    offset += size;
  }
  return boxes;
}

/**
 * AVIF and HEIC: both are HEIF (ISO/IEC 23008-12) containers, read the same way. The primary item
 * only: its `ispe` size, `irot`/`imir` orientation, alpha auxiliary image and colour (`colr`).
 * Other items (thumbnails, depth maps, gain maps, alternative images) are never decoded. A `grid`
 * primary image must agree with its tiles, and every coded image's `ispe` with the frame size its
 * AV1 sequence header or HEVC sequence parameter set codes (checkCodedSizes), so what the header
 * declares is what the decoder allocates.
 */
/**
 * The top-level boxes of a HEIF file that a decoder reads; the body of any other (free, skip, one
 * of no known type) may hold anything (ImageHeader.opaque).
 */
const HEIF_READ_BOXES: ReadonlySet<string> = new Set(['ftyp', 'meta', 'mdat', 'moov']);

function probeHeif(r: Reader): Facts {
  const top = readBoxes(r, 0, r.length, 'top-level');
  const meta = top.find((b) => b.type === 'meta');
  if (!meta) {
    const major = readBrands(r).major;
    if (top.some((b) => b.type === 'moov'))
      throw new InvalidImageError(
        'unsupported-format',
        `The ${r.format} file is an image sequence (major brand "${typeName(major)}") without a meta box: its frames are only in a track, and imgpipe decodes the image a meta box names (MIAF requires one in every file; ${r.format === 'avif' ? 'libavif and ffmpeg write one, and libheif and our libavif decoder refuse a file without it' : 'libheif refuses a file without it'})`,
        { format: r.format, brand: typeName(major) },
      );
    throw r.corrupt('there is no meta box');
  }
  const children = readBoxes(r, meta.body + 4, meta.end, 'meta');
  const find = (type: string) => children.find((b) => b.type === type);

  const pitm = find('pitm');
  if (!pitm) throw r.corrupt('there is no primary item (pitm box)');
  const primary =
    r.u8(pitm.body, 'pitm box') === 0 ? r.u16(pitm.body + 4, 'pitm box') : r.u32(pitm.body + 4, 'pitm box');

  const itemTypes = readItemTypes(r, find('iinf'));
  const properties = readProperties(r, find('iprp'));
  const propertiesOf = (item: number) =>
    (properties.associations.get(item) ?? []).map((i) => properties.boxes[i - 1]).filter((b) => !!b);
  const primaryProps = properties.associations.get(primary) ?? [];
  const ispe = primaryProps.map((i) => properties.boxes[i - 1]).find((b) => b?.type === 'ispe');
  if (!ispe) throw r.corrupt(`the primary item ${primary} has no image size (ispe)`);
  const width = r.u32(ispe.body, 'ispe box');
  const height = r.u32(ispe.body + 4, 'ispe box');

  // The transformative properties apply in the order the ipma entry lists them (ISO/IEC 23008-12
  // 6.5.1): a clean aperture after a rotation or mirror crops the turned image, so its region is
  // taken back to the stored image, which the pipeline crops before it orients it.
  const transforms: HeifTransform[] = [];
  let crop: ImageHeader['crop'];
  let clapOffset: number | undefined;
  let clapEssentialAt: number[] | undefined;
  for (const index of primaryProps) {
    const box = properties.boxes[index - 1];
    if (box?.type === 'irot') transforms.push({ irot: r.u8(box.body, 'irot box') & 3 });
    if (box?.type === 'imir') transforms.push({ imir: r.u8(box.body, 'imir box') & 1 });
    if (box?.type === 'clap') {
      const frame = crop ?? { left: 0, top: 0, width, height };
      const turned = orientationFromHeifTransforms(transforms);
      const [w, h] = swapsAxes(turned) ? [frame.height, frame.width] : [frame.width, frame.height];
      const region = storedRegion(turned, frame.width, frame.height, cleanAperture(r, box, w, h));
      crop = { ...region, left: frame.left + region.left, top: frame.top + region.top };
      clapOffset = box.start;
      clapEssentialAt = properties.essentialAt.get(index);
    }
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
  // An alpha image is the primary's size (as libavif requires): the decoder decodes it whole, so a
  // 9000x9000 alpha item behind a 64x64 primary would pass the pixel limit and the estimate.
  for (const item of alphaItems) {
    const ispe = propertiesOf(item).find((b) => b.type === 'ispe');
    if (!ispe) throw r.corrupt(`item ${item} has no image size (ispe)`, { item });
    const size = [r.u32(ispe.body, 'ispe box'), r.u32(ispe.body + 4, 'ispe box')];
    if (size[0] !== width || size[1] !== height) {
      throw r.corrupt(
        `the alpha item ${item} declares ${size[0]}x${size[1]} but the primary item ${primary} is ${width}x${height}`,
        { item, alpha: size, primary: [width, height] },
      );
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
  const orientation = transforms.length > 0 ? orientationFromHeifTransforms(transforms) : undefined;
  const brands = readBrands(r);
  // An image sequence (AVIF 'avis', HEIF 'msf1'/'hevs'): its still primary item, or the first frame.
  const animated = brands.major === 'avis' || brands.major === 'msf1' || brands.major === 'hevs';
  // libavif decodes an AVIF's first track, not its primary item, unless the major brand is 'avif'.
  if (r.format === 'avif' && brands.major !== 'avif') checkTrackSizes(r, top, width, height);
  const frames = animated ? sequenceSamples(r, top) : 1;
  const last = top.at(-1);
  const toEnd = last && r.u32(last.start, 'box header') === 0 ? last.start : undefined;
  const pixiMeta =
    r.format === 'avif'
      ? metaWithPixi(
          r,
          meta,
          children,
          properties,
          // libavif checks pixi on the items it decodes as the image and its alpha, a grid's on the
          // grid item (with the av1C it copies from its first tile), not on the tiles.
          [primary, ...alphaItems].flatMap((item) => {
            const type = itemTypes.get(item);
            if (type === 'av01') return [{ item, av1CFrom: item }];
            const first = type === 'grid' ? gridTiles(references, item)[0] : undefined;
            return first !== undefined && itemTypes.get(first) === 'av01' ? [{ item, av1CFrom: first }] : [];
          }),
        )
      : undefined;
  const appendAt = last && last.end < r.bytes.length ? last.end : undefined;
  const avifPixiMeta = pixiMeta && {
    ...pixiMeta,
    ...(toEnd !== undefined && { toEnd }),
    ...(appendAt !== undefined && { appendAt }),
  };
  // A grid's colour description may sit on its tiles only.
  const colourSource =
    itemTypes.get(primary) === 'grid' && !propertiesOf(primary).some((b) => b.type === 'colr')
      ? (gridTiles(references, primary)[0] ?? primary)
      : primary;
  return {
    width,
    height,
    orientation,
    ...(crop && { crop }),
    ...(clapOffset !== undefined && { clapOffset }),
    ...(clapEssentialAt && { clapEssentialAt }),
    ...(avifPixiMeta && { avifPixiMeta }),
    opaque: top
      .filter((b) => !HEIF_READ_BOXES.has(b.type) && b.end > b.body)
      .map((b) => ({ offset: b.body, bytes: b.end - b.body })),
    hasAlpha,
    animated,
    frames,
    colour: heifColour(r, propertiesOf(colourSource), coded?.colour),
    layout: coded && {
      bitDepth: coded.bitDepth,
      channels: (coded.chroma === '4:0:0' ? 1 : 3) + (hasAlpha ? 1 : 0),
      chroma: coded.chroma,
    },
  };
}

/**
 * ImageHeader.avifPixiMeta: the meta box again, with a `pixi` property (ISO/IEC 23008-12 6.5.6)
 * for each of these items that has none, as its `av1C` (a grid's: its first tile's) declares it
 * (monochrome: 1 channel, else 3; 8, 10 or 12 bits, libavif's check); undefined when none lacks one. The new properties follow
 * the ipco box's own, and each item's ipma entry gains one, non-essential, association.
 */
function metaWithPixi(
  r: Reader,
  meta: Box,
  children: readonly Box[],
  properties: Properties,
  items: readonly { item: number; av1CFrom: number }[],
): ImageHeader['avifPixiMeta'] {
  const added = new Map<number, number>(); // item -> the index of its new pixi property
  const pixis: Uint8Array[] = [];
  const propertiesOf = (item: number) =>
    (properties.associations.get(item) ?? []).map((i) => properties.boxes[i - 1]);
  for (const { item, av1CFrom } of items) {
    if (added.has(item)) continue;
    const av1C = propertiesOf(av1CFrom).find((b) => b?.type === 'av1C');
    if (!av1C || propertiesOf(item).some((b) => b?.type === 'pixi')) continue;
    // av1C's third byte: seq_tier_0, high_bitdepth, twelve_bit, monochrome, ... (AV1-ISOBMFF 2.3.3).
    const fields = r.u8(av1C.body + 2, 'av1C box');
    const depth = fields & 0x40 ? (fields & 0x20 ? 12 : 10) : 8;
    const channels = fields & 0x10 ? 1 : 3;
    pixis.push(box('pixi', Uint8Array.of(0, 0, 0, 0, channels, ...Array<number>(channels).fill(depth))));
    const index = properties.boxes.length + pixis.length;
    // An ipma entry's index has 15 bits; a larger one would spill into the essential bit.
    if (index > 0x7fff)
      throw r.corrupt(
        `item ${item} has no pixi property, which the decoder requires, and the ${properties.boxes.length} properties of its ipco box leave none to add: it would be number ${index}, past the 32767 an ipma box can name`,
        { item, properties: properties.boxes.length },
      );
    added.set(item, index);
  }
  if (added.size === 0) return undefined;
  const original = (b: Box) => r.bytes.subarray(b.start, b.end);
  // The pipeline crops (ImageHeader.clapOffset): this copy's clap, too, is renamed `free`.
  const withoutClap = (b: Box) => {
    if (b.type !== 'clap') return original(b);
    const renamed = original(b).slice(); // not spread into arguments: the box may be megabytes long
    renamed.set(Buffer.from('free'), 4);
    return renamed;
  };
  const ipma = (b: Box): Uint8Array => {
    const version = r.u8(b.body, 'ipma box');
    const narrow = (r.u8(b.body + 3, 'ipma box') & 1) === 0;
    const count = r.u32(b.body + 4, 'ipma box');
    const entries: { item: number; list: { essential: boolean; index: number }[] }[] = [];
    let offset = b.body + 8;
    for (let i = 0; i < count; i++) {
      const item = version < 1 ? r.u16(offset, 'ipma box') : r.u32(offset, 'ipma box');
      offset += version < 1 ? 2 : 4;
      const n = r.u8(offset++, 'ipma box');
      const list: { essential: boolean; index: number }[] = [];
      for (let j = 0; j < n; j++) {
        const stored = narrow ? r.u8(offset, 'ipma box') : r.u16(offset, 'ipma box');
        const index = stored & (narrow ? 0x7f : 0x7fff);
        // A clap renamed free is unknown to the decoder, which refuses an item with an unknown
        // essential property (ImageHeader.clapEssentialAt).
        const renamed = properties.boxes[index - 1]?.type === 'clap';
        list.push({ essential: stored >> (narrow ? 7 : 15) === 1 && !renamed, index });
        offset += narrow ? 1 : 2;
      }
      const index = added.get(item);
      if (index !== undefined && n < 255) list.push({ essential: false, index });
      entries.push({ item, list });
    }
    // Indices past 127 need the 15-bit form (flag bit 0).
    const wide = !narrow || entries.some(({ list }) => list.some(({ index }) => index > 0x7f));
    const out = [version, r.u8(b.body + 1, 'ipma box'), r.u8(b.body + 2, 'ipma box')];
    out.push((r.u8(b.body + 3, 'ipma box') & 0xfe) | (wide ? 1 : 0), ...u32be(count));
    for (const { item, list } of entries) {
      out.push(...(version < 1 ? [item >> 8, item & 0xff] : u32be(item)), list.length);
      for (const { essential, index } of list)
        out.push(
          ...(wide
            ? [(essential ? 0x80 : 0) | (index >> 8), index & 0xff]
            : [(essential ? 0x80 : 0) | index]),
        );
    }
    return box('ipma', Uint8Array.from(out));
  };
  const iprp = (b: Box): Uint8Array =>
    box(
      'iprp',
      ...readBoxes(r, b.body, b.end, 'iprp').map((child) =>
        child.type === 'ipco'
          ? box('ipco', ...properties.boxes.map(withoutClap), ...pixis)
          : child.type === 'ipma'
            ? ipma(child)
            : original(child),
      ),
    );
  const rebuilt = box(
    'meta',
    r.bytes.subarray(meta.body, meta.body + 4), // version and flags
    ...children.map((child) => (child.type === 'iprp' ? iprp(child) : original(child))),
  );
  return { start: meta.start, end: meta.end, box: rebuilt };
}

/** An ISO BMFF box of these bytes (`body` includes a full box's version and flags). */
function box(type: string, ...body: Uint8Array[]): Uint8Array {
  const size = 8 + body.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(size);
  out.set(u32be(size));
  out.set(Buffer.from(type, 'latin1'), 4);
  let at = 8;
  for (const part of body) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function u32be(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/**
 * The rectangle a `clap` (clean aperture, ISO/IEC 14496-12 12.1.4) keeps of a width x height image,
 * rounded and clamped to the image as libheif does (Box_clap's left/right/top/bottom_rounded): its
 * centre is the image's plus the offsets, its size the aperture's. `avifenc --crop` writes one; a
 * viewer shows the rectangle, and the area outside it may hold what the author cropped away. A
 * zero denominator, or a rectangle outside the image, is refused as `corrupt`, naming the box.
 */
function cleanAperture(r: Reader, box: Box, width: number, height: number): NonNullable<ImageHeader['crop']> {
  // Eight 32-bit numerators and denominators; the offsets' numerators are signed (ISO/IEC 23008-12).
  const values = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
    i === 4 || i === 6 ? r.i32(box.body + i * 4, 'clap box') : r.u32(box.body + i * 4, 'clap box'),
  );
  const [wN, wD, hN, hD, xN, xD, yN, yD] = values as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const clap = { width: [wN, wD], height: [hN, hD], horizOff: [xN, xD], vertOff: [yN, yD] };
  const refuse = (problem: string) =>
    r.corrupt(`the primary item's clean aperture (clap) ${problem}`, { clap, size: [width, height] });
  if (wD === 0 || hD === 0 || xD === 0 || yD === 0) throw refuse('has a zero denominator');
  const round = (x: number) => Math.floor(x + 0.5);
  // left = horizOff + (width - 1) / 2 - (clapWidth - 1) / 2, rounded down; top rounded.
  const left = Math.floor(xN / xD + (width - 1) / 2 - (wN / wD - 1) / 2);
  const right = round(wN / wD - 1 + left);
  const top = round(yN / yD + (height - 1) / 2 - (hN / hD - 1) / 2);
  const bottom = round(hN / hD - 1 + top);
  const [x0, y0, x1, y1] = [
    Math.max(0, left),
    Math.max(0, top),
    Math.min(width - 1, right),
    Math.min(height - 1, bottom),
  ];
  if (x0 > x1 || y0 > y1) {
    throw refuse(
      `keeps nothing of the ${width}x${height} image (columns ${left} to ${right}, rows ${top} to ${bottom})`,
    );
  }
  return { left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

interface HeifItems {
  /** The items to check: the primary item and its alpha items (coded items or grids of them). */
  readonly items: readonly number[];
  readonly itemTypes: ReadonlyMap<number, string>;
  readonly propertiesOf: (item: number) => (Box | undefined)[];
  readonly locations: ReadonlyMap<number, ItemLocation>;
  readonly references: ReadonlyMap<number, { type: string; to: number[] }[]>;
  readonly idat: Box | undefined;
}

/** What a coded image's decoder allocates by, besides its size (for the memory estimate). */
type CodedLayout = { readonly bitDepth: number; readonly chroma: ChromaLayout };

/** The first coded image's layout, and the colour its bitstream describes (for a file without `colr`). */
type FirstCoded = CodedLayout & { readonly colour?: CodePoints & { readonly from: 'av1' | 'hevc' } };

/** The item types of coded images whose frame size is checked against `ispe`: AV1 and HEVC. */
const CODED_ITEMS = new Set(['av01', 'hvc1']);

/**
 * Holds every coded image the decoder will decode to its declared size: an AV1 item's sequence
 * header's largest frame (what libaom allocates by), or a HEVC item's sequence parameter sets
 * (what libde265 allocates by), must be the item's `ispe`, and a grid's canvas and tiles must agree
 * with its `ispe` (MIAF 7.3.11.4.2). Without this, a 64x64 `ispe` in front of a 49 MP frame passes
 * the pixel limit and the decoder allocates ~800 MB before the sizes can be compared. Returns the
 * first coded image's bit depth and chroma layout (for the memory estimate), and the colour its
 * bitstream describes: an AV1 item's first sequence header's, as libavif reads it, or a HEVC
 * item's last sequence parameter set's, the one libde265 decodes with (a later SPS of the same id
 * replaces an earlier one).
 *
 * The primary and alpha items must be AV1 or HEVC images or grids of them. Any other (a derived
 * `iden` or `iovl` image, uncompressed `unci`, JPEG) is refused as unsupported: libheif decodes
 * `iden` and `iovl` by decoding the items they reference, whose sizes this would not check (an
 * `iovl` of a 9000x9000 tile behind a 64x64 `ispe` went past the pixel limit).
 */
function checkCodedSizes(r: Reader, heif: HeifItems): FirstCoded | undefined {
  let first: FirstCoded | undefined;
  for (const item of heif.items) {
    const type = heif.itemTypes.get(item);
    let tiles = [item];
    if (type === 'grid') tiles = checkGrid(r, heif, item);
    else if (!CODED_ITEMS.has(type ?? '')) {
      const role = item === heif.items[0] ? 'primary' : 'alpha';
      const kind = type === undefined ? 'has no item type (infe)' : `is of type "${typeName(type)}"`;
      throw new InvalidImageError(
        'unsupported-format',
        `The ${r.format} file's ${role} item ${item} ${kind}: only AV1 (av01) and HEVC (hvc1) images and grids of them are supported`,
        { format: r.format, item, itemType: type === undefined ? null : typeName(type), role },
      );
    }
    // libavif decodes a grid only if its tiles agree in bit depth, chroma layout and the colour
    // code points their bitstreams give (unspecified, 2, when absent), whatever a colr box says;
    // else it fails with only "Decoding error". libheif takes the first tile's.
    let firstTile: { item: number; header: CodedHeader } | undefined;
    for (const tile of tiles) {
      const size = itemSize(r, heif, tile);
      const hevc = heif.itemTypes.get(tile) === 'hvc1';
      const coding = hevc ? 'HEVC sequence parameter set' : 'AV1 sequence header';
      const headers: readonly CodedHeader[] = hevc
        ? hevcHeaders(r, heif, tile)
        : sequenceHeaders(r, heif, tile);
      for (const header of headers) {
        if (header.maxWidth !== size.width || header.maxHeight !== size.height) {
          throw r.corrupt(
            `item ${tile}'s ispe declares ${size.width}x${size.height} but its ${coding} declares frames of up to ${header.maxWidth}x${header.maxHeight}`,
            { item: tile, declared: [size.width, size.height], coded: [header.maxWidth, header.maxHeight] },
          );
        }
      }
      if (type === 'grid' && r.format === 'avif' && !hevc && headers[0]) {
        if (!firstTile) firstTile = { item: tile, header: headers[0] };
        else checkSameTile(r, item, firstTile, { item: tile, header: headers[0] });
      }
      // libheif pastes a HEVC tile of another bit depth than the grid's first tile as a solid green
      // one (its planes left empty), with no error or warning: the variant shows a wrong picture.
      const decodedWith = headers.at(-1);
      if (type === 'grid' && hevc && decodedWith) {
        if (!firstTile) firstTile = { item: tile, header: decodedWith };
        else if (firstTile.header.bitDepth !== decodedWith.bitDepth)
          throw r.corrupt(
            `grid item ${item}'s tiles differ in bit depth: tile item ${firstTile.item}'s HEVC sequence parameter set says ${firstTile.header.bitDepth}-bit, tile item ${tile}'s ${decodedWith.bitDepth}-bit (libheif decodes a grid at its first tile's bit depth and leaves a tile of another blank)`,
            {
              item,
              tiles: [firstTile.item, tile],
              bitDepths: [firstTile.header.bitDepth, decodedWith.bitDepth],
            },
          );
      }
      const colour = (hevc ? headers.at(-1) : headers[0])?.colour;
      if (!first && headers[0])
        first = {
          bitDepth: headers[0].bitDepth,
          chroma: headers[0].chroma,
          ...(colour && { colour: { ...colour, from: hevc ? 'hevc' : 'av1' } }),
        };
    }
  }
  return first;
}

/**
 * An AV1 tile's layout, colour and range, as libavif compares a grid's tiles (bit depth, yuvFormat,
 * yuvRange and the code points): `10-bit 4:2:0, colour 1/13/6, limited range`.
 */
function tileFacts({ bitDepth, chroma, colour, fullRange }: CodedHeader): string {
  const { primaries, transfer, matrix } = colour ?? { primaries: 2, transfer: 2, matrix: 2 };
  return `${bitDepth}-bit ${chroma}, colour ${primaries}/${transfer}/${matrix}, ${fullRange === false ? 'limited' : 'full'} range`;
}

/** Refuses an AVIF grid whose tile differs from its first in what libavif requires to agree. */
function checkSameTile(
  r: Reader,
  grid: number,
  first: { item: number; header: CodedHeader },
  tile: { item: number; header: CodedHeader },
): void {
  const [a, b] = [tileFacts(first.header), tileFacts(tile.header)];
  if (a === b) return;
  throw r.corrupt(
    `grid item ${grid}'s tiles differ: tile item ${first.item}'s AV1 sequence header says ${a}, tile item ${tile.item}'s ${b} (libavif decodes a grid only when its tiles agree in bit depth, chroma subsampling, colour code points, primaries/transfer/matrix, and colour range)`,
    { item: grid, tiles: [first.item, tile.item], first: a, other: b },
  );
}

/** The tiles a grid item references (`dimg`), in order. */
function gridTiles(references: HeifItems['references'], item: number): number[] {
  return (references.get(item) ?? []).filter((ref) => ref.type === 'dimg').flatMap((ref) => ref.to);
}

function itemSize(r: Reader, heif: HeifItems, item: number): { width: number; height: number } {
  const ispe = heif.propertiesOf(item).find((b) => b?.type === 'ispe');
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
function sequenceHeaders(r: Reader, heif: HeifItems, item: number): Av1SequenceHeader[] {
  const parse = (data: Uint8Array, where: string) => {
    try {
      return findSequenceHeaders(data, (bytes) => r.walked(bytes));
    } catch (error) {
      if (!(error instanceof Av1SyntaxError)) throw error;
      throw r.corrupt(`item ${item}'s ${where}: ${error.message}`, { item });
    }
  };
  const headers = parse(itemData(r, heif, item), 'AV1 data');
  if (headers.length === 0) {
    throw r.corrupt(`item ${item}'s AV1 data has no sequence header, so its frame size is unknown`, { item });
  }
  const av1C = heif.propertiesOf(item).find((b) => b?.type === 'av1C');
  // av1C: 4 bytes of fields (AV1-ISOBMFF 2.3.3), then configOBUs, usually none.
  if (av1C && av1C.end - av1C.body > 4)
    headers.push(...parse(r.bytes.subarray(av1C.body + 4, av1C.end), 'av1C configOBUs'));
  return headers;
}

/** An item's bytes: its extents in the file (construction method 0) or in the idat box (1). */
function itemData(r: Reader, heif: HeifItems, item: number): Uint8Array {
  const location = heif.locations.get(item);
  if (!location) throw r.corrupt(`item ${item} has no location (iloc entry)`, { item });
  let base = 0;
  let end = r.length;
  if (location.method === 1) {
    if (!heif.idat) throw r.corrupt(`item ${item} is stored in an idat box, and there is none`, { item });
    base = heif.idat.body;
    end = heif.idat.end;
  } else if (location.method !== 0) {
    throw new InvalidImageError(
      'unsupported-format',
      `${r.format.toUpperCase()} item ${item} is stored by reference to other items (iloc construction method ${location.method}), which is not supported`,
      { format: r.format, item, constructionMethod: location.method },
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
function checkGrid(r: Reader, heif: HeifItems, item: number): number[] {
  const data = itemData(r, heif, item);
  const grid = new Reader(data, r.format);
  const wide = (grid.u8(1, 'grid item') & 1) === 1;
  const rows = grid.u8(2, 'grid item') + 1;
  const columns = grid.u8(3, 'grid item') + 1;
  const outputWidth = wide ? grid.u32(4, 'grid item') : grid.u16(4, 'grid item');
  const outputHeight = wide ? grid.u32(8, 'grid item') : grid.u16(6, 'grid item');
  const size = itemSize(r, heif, item);
  if (outputWidth !== size.width || outputHeight !== size.height) {
    throw r.corrupt(
      `grid item ${item}'s ispe declares ${size.width}x${size.height} but the grid's output is ${outputWidth}x${outputHeight}`,
      { item, declared: [size.width, size.height], grid: [outputWidth, outputHeight] },
    );
  }
  const tiles = gridTiles(heif.references, item);
  if (tiles.length < rows * columns) {
    throw r.corrupt(`grid item ${item} has ${rows}x${columns} cells but ${tiles.length} tiles`, { item });
  }
  const used = tiles.slice(0, rows * columns);
  const tile = itemSize(r, heif, used[0]!);
  for (const other of used) {
    const s = itemSize(r, heif, other);
    if (s.width !== tile.width || s.height !== tile.height) {
      throw r.corrupt(
        `grid item ${item}'s tiles differ in size (${tile.width}x${tile.height} and ${s.width}x${s.height})`,
        { item },
      );
    }
    const tileType = heif.itemTypes.get(other) ?? '';
    if (!CODED_ITEMS.has(tileType) || tileType !== heif.itemTypes.get(used[0]!)) {
      throw r.corrupt(`grid item ${item}'s tile ${other} is not an AV1 or HEVC image like its first tile`, {
        item,
        tile: other,
        type: tileType,
      });
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
    if (types.has(id)) throw duplicateItem(r, id, 'iinf');
    types.set(id, r.fourcc(typeOffset, 'infe box'));
  }
  return types;
}

/**
 * An item described twice (ISO/IEC 23008-12 allows one entry per item in iinf, iloc and across
 * the ipma boxes): decoders differ in which one they take (libheif the first of two ipma entries),
 * so a probe that took the other would check a size the decoder does not use.
 */
function duplicateItem(r: Reader, item: number, where: 'iinf' | 'iloc' | 'ipma'): InvalidImageError {
  const boxes = where === 'ipma' ? 'the ipma boxes' : `the ${where} box`;
  return r.corrupt(`item ${item} is listed more than once in ${boxes}`, { item, box: where });
}

/**
 * The ipco boxes (1-based in `associations`), each item's property indices, and for each property
 * index the bytes of the ipma entries that associate it as essential.
 */
interface Properties {
  boxes: Box[];
  associations: Map<number, number[]>;
  essentialAt: Map<number, number[]>;
}

function readProperties(r: Reader, iprp: Box | undefined): Properties {
  const associations = new Map<number, number[]>();
  const essentialAt = new Map<number, number[]>();
  if (!iprp) return { boxes: [], associations, essentialAt };
  const children = readBoxes(r, iprp.body, iprp.end, 'iprp');
  const ipco = children.find((b) => b.type === 'ipco');
  const boxes = ipco ? readBoxes(r, ipco.body, ipco.end, 'ipco') : [];
  // Property bodies: skip the full-box version/flags for the ones that have them.
  for (const box of boxes) if (['ispe', 'auxC', 'pixi'].includes(box.type)) box.body += 4;
  let entries = 0;
  for (const ipma of children.filter((b) => b.type === 'ipma')) {
    const version = r.u8(ipma.body, 'ipma box');
    // Flag bit 0 (in the last of the three flag bytes) selects 15-bit property indices.
    const wide = (r.u8(ipma.body + 3, 'ipma box') & 1) === 1;
    let offset = ipma.body + 4;
    const count = r.u32(offset, 'ipma box');
    entries += count;
    if (entries > MAX_HEIF_ENTRIES) throw tooManyEntries(r, 'the ipma boxes list', entries);
    offset += 4;
    // libheif reads an ipma box within its size, and refuses one whose entries run past its end.
    const pastEnd = (i: number) =>
      r.corrupt(`the ipma box's entry ${i + 1} of ${count} runs past the end of the box (byte ${ipma.end})`, {
        entry: i + 1,
        entries: count,
        boxEnd: ipma.end,
      });
    for (let i = 0; i < count; i++) {
      if (offset + (version < 1 ? 3 : 5) > ipma.end) throw pastEnd(i);
      const item = version < 1 ? r.u16(offset, 'ipma box') : r.u32(offset, 'ipma box');
      offset += version < 1 ? 2 : 4;
      const n = r.u8(offset++, 'ipma box');
      if (offset + n * (wide ? 2 : 1) > ipma.end) throw pastEnd(i);
      const list: number[] = [];
      for (let j = 0; j < n; j++) {
        const index = wide ? r.u16(offset, 'ipma box') & 0x7fff : r.u8(offset, 'ipma box') & 0x7f;
        // The essential flag is the high bit of the first byte in both forms.
        if (r.u8(offset, 'ipma box') & 0x80) {
          const at = essentialAt.get(index);
          if (at) at.push(offset);
          else essentialAt.set(index, [offset]);
        }
        list.push(index);
        offset += wide ? 2 : 1;
      }
      if (associations.has(item)) throw duplicateItem(r, item, 'ipma');
      associations.set(item, list);
    }
  }
  return { boxes, associations, essentialAt };
}

interface ItemLocation {
  /** 0: offsets in the file; 1: offsets in the idat box; 2: in other items. */
  readonly method: number;
  /** With the base offset added; a length of 0 means "to the end". */
  readonly extents: readonly { offset: number; length: number }[];
}

/**
 * The iloc box, read within its own bounds. Its offset and length fields may be 0 bytes long, so an
 * extent can take no bytes at all: 65535 items of 65535 such extents fit in a box of a few hundred
 * kilobytes and made billions of entries (a fuzzed file took 33 s and 4 GB before being called
 * truncated). So an item with 0-byte fields may have only one extent (offset 0, the whole data),
 * and every other item's extents are paid for by bytes of the box.
 */
function readItemLocations(r: Reader, iloc: Box | undefined): Map<number, ItemLocation> {
  const locations = new Map<number, ItemLocation>();
  if (!iloc) return locations;
  const version = r.u8(iloc.body, 'iloc box');
  if (version > 2)
    throw r.corrupt(`the iloc box has version ${version} (0, 1 or 2 are defined)`, { version });
  let offset = iloc.body + 4;
  const sizes = r.u16(offset, 'iloc box');
  offset += 2;
  const offsetSize = sizes >> 12;
  const lengthSize = (sizes >> 8) & 0xf;
  const baseOffsetSize = (sizes >> 4) & 0xf;
  const indexSize = version === 1 || version === 2 ? sizes & 0xf : 0;
  const count = version < 2 ? r.u16(offset, 'iloc box') : r.u32(offset, 'iloc box');
  if (count > MAX_HEIF_ENTRIES) throw tooManyEntries(r, 'the iloc box lists', count);
  offset += version < 2 ? 2 : 4;
  const extentSize = indexSize + offsetSize + lengthSize;
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
    if (extentSize === 0 && count > 1) {
      throw r.corrupt(
        `item ${item} has ${count} extents in the iloc box, but its offset and length fields are 0 bytes long`,
        { item, extents: count },
      );
    }
    if (offset + count * extentSize > iloc.end) {
      throw r.corrupt(`item ${item}'s location runs past the end of the iloc box (byte ${iloc.end})`, {
        item,
        extents: count,
        boxEnd: iloc.end,
      });
    }
    const extents: { offset: number; length: number }[] = [];
    for (let e = 0; e < count; e++) {
      offset += indexSize;
      const extentOffset = r.uint(offset, offsetSize, 'iloc box');
      offset += offsetSize;
      const extentLength = r.uint(offset, lengthSize, 'iloc box');
      offset += lengthSize;
      extents.push({ offset: base + extentOffset, length: extentLength });
    }
    if (locations.has(item)) throw duplicateItem(r, item, 'iloc');
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
    // The references are the box's own bytes (libheif reads them within it): read past its end,
    // 65535 of them in a 12-byte box, 400 such boxes in a 146 KB file took 12 s and 400 MiB.
    if (offset + count * size > ref.end)
      throw r.corrupt(
        `the iref box's "${typeName(ref.type)}" reference from item ${from} at byte ${ref.start} lists ${count} items, more than its ${ref.end - ref.start}-byte box holds`,
        { item: from, references: count, offset: ref.start },
      );
    const to: number[] = [];
    for (let i = 0; i < count; i++, offset += size) to.push(r.uint(offset, size, 'iref box'));
    const list = references.get(from) ?? [];
    list.push({ type: ref.type, to });
    references.set(from, list);
  }
  return references;
}

// --------------------------------------------------------------------------------- HEIF: more boxes

/**
 * The ftyp box's major brand (the compatible brands were sniff.ts's to read). Not a list of the
 * compatible brands: a valid file may carry an ftyp box of 30 MB before its meta box, which made 7.8
 * million strings, 487 MiB and 18 s, before maxPixels or the memory estimate was checked.
 */
function readBrands(r: Reader): { major: string } {
  return { major: r.fourcc(8, 'ftyp box') };
}

/**
 * An AVIF whose major brand is not 'avif' (an 'avis' sequence, or another brand with tracks) is
 * decoded by libavif from its first AV1 track (its AVIF_DECODER_SOURCE_AUTO), whose frames are
 * sized by their own sequence headers, not by the primary item's `ispe`: a 2x2 primary item in
 * front of a 4000x4000 track passed the pixel limit and the memory estimate and decoded 16 MP.
 * So the first sample of every AV1 track (colour or alpha) must have a sequence header whose
 * largest frame is the primary item's size, as in the sequences encoders write.
 */
function checkTrackSizes(r: Reader, top: readonly Box[], width: number, height: number): void {
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) return;
  const children = (box: Box | undefined, type: string) => (box ? readBoxes(r, box.body, box.end, type) : []);
  const traks = children(moov, 'moov').filter((b) => b.type === 'trak');
  traks.forEach((trak, index) => {
    const track = index + 1;
    const mdia = children(trak, 'trak').find((b) => b.type === 'mdia');
    const minf = children(mdia, 'mdia').find((b) => b.type === 'minf');
    const stbl = children(minf, 'minf').find((b) => b.type === 'stbl');
    const tables = children(stbl, 'stbl');
    const stsd = tables.find((b) => b.type === 'stsd');
    if (!stsd || !sampleEntryTypes(r, stsd).includes('av01')) return;
    const stsz = tables.find((b) => b.type === 'stsz');
    const stco = tables.find((b) => b.type === 'stco');
    const co64 = tables.find((b) => b.type === 'co64');
    if (!stsz || !(stco || co64))
      throw r.corrupt(`track ${track} has no sample sizes (stsz) or chunk offsets (stco)`, { track });
    // stsz: version and flags, sample_size (0: one size per sample follows), sample_count.
    const fixed = r.u32(stsz.body + 4, 'stsz box');
    const size = fixed !== 0 ? fixed : r.u32(stsz.body + 12, 'stsz box');
    // The first sample starts the first chunk.
    const offset = stco ? r.u32(stco.body + 8, 'stco box') : r.uint(co64!.body + 8, 8, 'co64 box');
    r.need(offset, size, `track ${track}'s first sample`);
    let headers: Av1SequenceHeader[];
    try {
      headers = findSequenceHeaders(r.bytes.subarray(offset, offset + size), (bytes) => r.walked(bytes));
    } catch (error) {
      if (!(error instanceof Av1SyntaxError)) throw error;
      throw r.corrupt(`track ${track}'s first sample: ${error.message}`, { track });
    }
    if (headers.length === 0)
      throw r.corrupt(
        `track ${track}'s first sample has no AV1 sequence header, so its frame size is unknown`,
        {
          track,
        },
      );
    for (const header of headers) {
      if (header.maxWidth !== width || header.maxHeight !== height)
        throw r.corrupt(
          `track ${track}'s AV1 sequence header declares frames of up to ${header.maxWidth}x${header.maxHeight} but the primary item is ${width}x${height}`,
          { track, coded: [header.maxWidth, header.maxHeight], declared: [width, height] },
        );
    }
  });
}

/**
 * The types of an `stsd` box's sample entries: libavif decodes a track if any of them is `av01`.
 * Each entry consumes at least its 8-byte header, so the loop is bounded by the box's bytes.
 */
function sampleEntryTypes(r: Reader, stsd: Box): string[] {
  // stsd: version and flags, an entry count, then sample entries (size and type first).
  const count = r.u32(stsd.body + 4, 'stsd box');
  const types: string[] = [];
  for (let n = 0, at = stsd.body + 8; n < count && at + 8 <= stsd.end; n++) {
    const size = r.u32(at, 'stsd box');
    types.push(r.fourcc(at + 4, 'stsd box'));
    if (size < 8) break;
    at += size;
  }
  return types;
}

/** The samples of the first track of an image sequence (`moov/trak/mdia/minf/stbl/stsz`), else 1. */
function sequenceSamples(r: Reader, top: readonly Box[]): number {
  let boxes: readonly Box[] = top;
  for (const type of ['moov', 'trak', 'mdia', 'minf', 'stbl']) {
    const box = boxes.find((b) => b.type === type);
    if (!box) return 1;
    boxes = readBoxes(r, box.body, box.end, type);
  }
  const stsz = boxes.find((b) => b.type === 'stsz');
  return stsz ? Math.max(1, r.u32(stsz.body + 8, 'stsz box')) : 1;
}

/** What a sequence header or parameter set says the decoder will allocate: AV1's or HEVC's. */
interface CodedHeader extends CodedLayout {
  readonly maxWidth: number;
  readonly maxHeight: number;
  /** The colour description in the AV1 sequence header or the HEVC SPS's VUI, if any. */
  readonly colour?: CodePoints;
  /** The AV1 sequence header's color_range (not read from a HEVC SPS). */
  readonly fullRange?: boolean;
}

/**
 * A HEVC item's sequence parameter sets: those of its configuration (`hvcC`, where HEIF puts them)
 * and any in its data (length-prefixed NAL units), as libheif hands both to libde265. The item must
 * have at least one, or its frame size could not be bounded before decoding.
 */
function hevcHeaders(r: Reader, heif: HeifItems, item: number): CodedHeader[] {
  const hvcC = heif.propertiesOf(item).find((b) => b?.type === 'hvcC');
  if (!hvcC) throw r.corrupt(`item ${item} has no HEVC configuration (hvcC)`, { item });
  const headers: CodedHeader[] = [];
  let offset = hvcC.body + 22;
  const lengthSize = (r.u8(hvcC.body + 21, 'hvcC box') & 3) + 1;
  const arrays = r.u8(offset++, 'hvcC box');
  for (let a = 0; a < arrays; a++) {
    const type = r.u8(offset, 'hvcC box') & 0x3f;
    const count = r.u16(offset + 1, 'hvcC box');
    offset += 3;
    for (let n = 0; n < count; n++) {
      const length = r.u16(offset, 'hvcC box');
      r.need(offset + 2, length, 'hvcC box');
      if (offset + 2 + length > hvcC.end)
        throw r.corrupt(`item ${item}'s hvcC box is shorter than its NAL units`, { item });
      if (type === 33) headers.push(spsHeader(r, item, r.bytes.subarray(offset + 2, offset + 2 + length)));
      offset += 2 + length;
    }
  }
  const data = itemData(r, heif, item);
  for (let at = 0; at + lengthSize <= data.length; ) {
    let length = 0;
    for (let i = 0; i < lengthSize; i++) length = length * 256 + data[at + i]!;
    at += lengthSize;
    r.walked(lengthSize + length);
    if (length === 0 || at + length > data.length) break; // libde265 reports a cut NAL unit itself
    if (((data[at]! >> 1) & 0x3f) === 33) headers.push(spsHeader(r, item, data.subarray(at, at + length)));
    at += length;
  }
  if (headers.length === 0)
    throw r.corrupt(`item ${item} has no HEVC sequence parameter set, so its frame size is unknown`, {
      item,
    });
  return headers;
}

/**
 * A HEVC sequence parameter set's picture size less its conformance window (ITU-T H.265 7.3.2.2),
 * which is what `ispe` declares, with its chroma format and luma bit depth. libde265 allocates the
 * uncropped size, so a window that crops 64 or more luma samples off a side (more than any encoder
 * pads to its coding blocks) is refused: it would hide a frame far larger than `ispe`.
 */
function spsHeader(r: Reader, item: number, nal: Uint8Array): CodedHeader {
  // The RBSP: the payload after the 2-byte NAL header, without emulation-prevention bytes (00 00 03).
  const rbsp: number[] = [];
  let zeros = 0;
  for (let i = 2; i < nal.length; i++) {
    const byte = nal[i]!;
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    rbsp.push(byte);
  }
  const malformed = (what: string) =>
    r.corrupt(`item ${item}'s HEVC sequence parameter set ${what}`, { item });
  let bit = 0;
  const read = (n: number): number => {
    let value = 0;
    for (let i = 0; i < n; i++, bit++) {
      if (bit >> 3 >= rbsp.length) throw malformed('is cut short');
      value = value * 2 + ((rbsp[bit >> 3]! >> (7 - (bit & 7))) & 1);
    }
    return value;
  };
  const golomb = (): number => {
    let leading = 0;
    while (read(1) === 0) if (++leading > 31) throw malformed('has an Exp-Golomb code over 32 bits');
    return 2 ** leading - 1 + read(leading);
  };
  read(4); // sps_video_parameter_set_id
  const subLayers = read(3); // sps_max_sub_layers_minus1
  read(1); // sps_temporal_id_nesting_flag
  read(96); // general profile, tier and level
  const present: [boolean, boolean][] = [];
  for (let i = 0; i < subLayers; i++) present.push([read(1) === 1, read(1) === 1]);
  if (subLayers > 0) for (let i = subLayers; i < 8; i++) read(2);
  for (const [profile, level] of present) {
    if (profile) read(88);
    if (level) read(8);
  }
  golomb(); // sps_seq_parameter_set_id
  const chromaFormat = golomb();
  if (chromaFormat > 3) throw malformed(`has chroma_format_idc ${chromaFormat}`);
  if (chromaFormat === 3) read(1); // separate_colour_plane_flag
  const codedWidth = golomb();
  const codedHeight = golomb();
  let [width, height] = [codedWidth, codedHeight];
  if (read(1) === 1) {
    const [subWidth, subHeight] = chromaFormat === 1 ? [2, 2] : chromaFormat === 2 ? [2, 1] : [1, 1];
    const [left, right, top, bottom] = [golomb(), golomb(), golomb(), golomb()];
    width -= subWidth * (left + right);
    height -= subHeight * (top + bottom);
    if (width <= 0 || height <= 0 || codedWidth - width >= 64 || codedHeight - height >= 64) {
      throw r.corrupt(
        `item ${item}'s HEVC sequence parameter set codes ${codedWidth}x${codedHeight} pixels and crops them to ${width}x${height}: more than coding blocks need`,
        { item, coded: [codedWidth, codedHeight], cropped: [width, height] },
      );
    }
  }
  const bitDepth = golomb() + 8; // bit_depth_luma_minus8
  const chroma = (['4:0:0', '4:2:0', '4:2:2', '4:4:4'] as const)[chromaFormat]!;
  // The rest only leads to the VUI's colour description: one the decoder would refuse gives none.
  let colour: CodePoints | undefined;
  try {
    colour = spsColour(read, golomb, subLayers);
  } catch (error) {
    if (!(error instanceof InvalidImageError)) throw error;
  }
  return { maxWidth: width, maxHeight: height, bitDepth, chroma, ...(colour && { colour }) };
}

/**
 * The colour description of a sequence parameter set's VUI (H.265 7.3.2.2 from
 * bit_depth_chroma_minus8 on, E.2.1), which libheif gives the image when the item has no `colr`
 * box (libde265's colour_primaries, transfer_characteristics, matrix_coeffs); undefined without one.
 */
function spsColour(
  read: (n: number) => number,
  golomb: () => number,
  subLayers: number,
): CodePoints | undefined {
  golomb(); // bit_depth_chroma_minus8
  const pocBits = golomb() + 4; // log2_max_pic_order_cnt_lsb_minus4
  const orderingForAll = read(1) === 1; // sps_sub_layer_ordering_info_present_flag
  for (let i = orderingForAll ? 0 : subLayers; i <= subLayers; i++) {
    golomb(); // sps_max_dec_pic_buffering_minus1
    golomb(); // sps_max_num_reorder_pics
    golomb(); // sps_max_latency_increase_plus1
  }
  for (let i = 0; i < 6; i++) golomb(); // coding and transform block sizes, hierarchy depths
  if (read(1) === 1 && read(1) === 1) {
    // scaling_list_enabled_flag, sps_scaling_list_data_present_flag: scaling_list_data() (7.3.4)
    for (let size = 0; size < 4; size++) {
      for (let matrix = 0; matrix < 6; matrix += size === 3 ? 3 : 1) {
        // scaling_list_pred_mode_flag: a matrix predicted from another (its ue(v) delta), or coded:
        // for 16x16 and 32x32 a DC, then up to 64 coefficients' se(v) deltas (the same bits as ue(v)).
        const coded = read(1) === 1;
        const codes = coded ? (size > 1 ? 1 : 0) + Math.min(64, 1 << (4 + (size << 1))) : 1;
        for (let i = 0; i < codes; i++) golomb();
      }
    }
  }
  read(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
  if (read(1) === 1) {
    read(8); // pcm_sample_bit_depth_luma_minus1, pcm_sample_bit_depth_chroma_minus1
    golomb(); // log2_min_pcm_luma_coding_block_size_minus3
    golomb(); // log2_diff_max_min_pcm_luma_coding_block_size
    read(1); // pcm_loop_filter_disabled_flag
  }
  // st_ref_pic_set() (7.3.7, 7.4.8): a set predicted from the one before it has as many entries
  // as that one's pictures, plus one, so each set's delta POCs are derived as the decoder does.
  const sets = golomb(); // num_short_term_ref_pic_sets
  if (sets > 64) return undefined;
  let previous: { negative: number[]; positive: number[] } | undefined;
  for (let s = 0; s < sets; s++) {
    if (previous && read(1) === 1) {
      const deltaRps = (read(1) === 1 ? -1 : 1) * (golomb() + 1); // delta_rps_sign, abs_delta_rps_minus1
      const reference = [...previous.negative, ...previous.positive];
      const use: boolean[] = [];
      for (let j = 0; j <= reference.length; j++) use.push(read(1) === 1 || read(1) === 1);
      // Each reference picture moved by deltaRps, and deltaRps itself, where its flags keep it;
      // the new set's pictures nearest first, as (7-61) and (7-62) order them.
      const kept = [...reference.map((d) => d + deltaRps), deltaRps].filter((_, j) => use[j]);
      previous = {
        negative: kept.filter((d) => d < 0).sort((a, b) => b - a),
        positive: kept.filter((d) => d > 0).sort((a, b) => a - b),
      };
    } else {
      const negative = golomb(); // num_negative_pics
      const positive = golomb(); // num_positive_pics
      if (negative > 16 || positive > 16) return undefined;
      const set = { negative: [] as number[], positive: [] as number[] };
      for (let i = 0, poc = 0; i < negative; i++) {
        poc -= golomb() + 1; // delta_poc_s0_minus1
        read(1); // used_by_curr_pic_s0_flag
        set.negative.push(poc);
      }
      for (let i = 0, poc = 0; i < positive; i++) {
        poc += golomb() + 1; // delta_poc_s1_minus1
        read(1); // used_by_curr_pic_s1_flag
        set.positive.push(poc);
      }
      previous = set;
    }
  }
  if (read(1) === 1) {
    // long_term_ref_pics_present_flag
    const count = golomb(); // num_long_term_ref_pics_sps
    if (count > 32) return undefined;
    for (let i = 0; i < count; i++) read(pocBits + 1); // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
  }
  read(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
  if (read(1) === 0) return undefined; // vui_parameters_present_flag
  if (read(1) === 1 && read(8) === 255) read(32); // aspect_ratio_info_present_flag, aspect_ratio_idc, sar
  if (read(1) === 1) read(1); // overscan_info_present_flag, overscan_appropriate_flag
  if (read(1) === 0) return undefined; // video_signal_type_present_flag
  read(4); // video_format, video_full_range_flag
  if (read(1) === 0) return undefined; // colour_description_present_flag
  return { primaries: read(8), transfer: read(8), matrix: read(8) };
}

// ----------------------------------------------------------------------------------------------- GIF

/**
 * GIF (87a/89a): the logical screen's size, and its frames, counted without decoding them. Alpha
 * when a frame has a transparent colour or the first frame leaves part of the screen uncovered.
 * A file that ends inside a block is truncated; one that ends without its trailer after a whole
 * block is read as browsers read it.
 */
function probeGif(r: Reader): Facts {
  let width = r.u16(6, 'screen descriptor', true);
  let height = r.u16(8, 'screen descriptor', true);
  const packed = r.u8(10, 'screen descriptor');
  let offset = 13 + ((packed & 0x80) !== 0 ? 3 * 2 ** ((packed & 7) + 1) : 0);
  let frames = 0;
  let hasAlpha = false;
  while (offset < r.length) {
    const introducer = r.u8(offset, 'block');
    if (introducer === 0x3b) break;
    if (introducer === 0x21) {
      const label = r.u8(offset + 1, 'extension');
      // A graphic control extension's transparency flag.
      if (label === 0xf9 && (r.u8(offset + 3, 'graphic control extension') & 1) === 1) hasAlpha = true;
      offset = skipSubBlocks(r, offset + 2);
    } else if (introducer === 0x2c) {
      const left = r.u16(offset + 1, 'image descriptor', true);
      const top = r.u16(offset + 3, 'image descriptor', true);
      const w = r.u16(offset + 5, 'image descriptor', true);
      const h = r.u16(offset + 7, 'image descriptor', true);
      const flags = r.u8(offset + 9, 'image descriptor');
      // A later frame is never decoded here, and decoders clip it to the screen (ImageMagick, which
      // writes such files, and browsers): refusing it lost GIFs that every viewer shows.
      if (frames === 0 && (w === 0 || h === 0))
        throw r.corrupt(
          `frame ${frames + 1} is empty (${w}x${h} at ${left},${top}): there is no first image to decode`,
          {
            frame: [w, h],
            at: [left, top],
          },
        );
      if (frames === 0) {
        // A first frame that reaches past the screen (a screen of 0x0, as some encoders write it)
        // grows it to the frame's right and bottom edges, as Chrome shows the file (gif.ts
        // decodes onto the grown screen); the screen's size fields hold at most 65535.
        if (left + w > 0xffff || top + h > 0xffff)
          throw r.corrupt(
            `frame ${frames + 1} (${w}x${h} at ${left},${top}) reaches past the largest screen a GIF can have (65535x65535)`,
            { frame: [w, h], at: [left, top], screen: [width, height] },
          );
        width = Math.max(width, left + w);
        height = Math.max(height, top + h);
        if (left > 0 || top > 0 || left + w < width || top + h < height) hasAlpha = true;
      }
      offset += 10 + ((flags & 0x80) !== 0 ? 3 * 2 ** ((flags & 7) + 1) : 0);
      // The LZW minimum code size: at most 8 (a colour index is a byte; GIF89a, appendix F, and
      // giflib refuses more). Above it omggif's decoder spins: a 14 kB file with 9 took 20 s.
      const codeSize = r.u8(offset, 'image data');
      if (codeSize < 1 || codeSize > 8)
        throw r.corrupt(`frame ${frames + 1} has the LZW minimum code size ${codeSize} (1 to 8 are defined)`);
      offset = skipSubBlocks(r, offset + 1);
      frames++;
    } else {
      throw r.corrupt(`unknown block 0x${introducer.toString(16)} at byte ${offset}`, { offset });
    }
  }
  if (frames === 0) throw r.corrupt('there is no image (no image descriptor)');
  // After the trailer (0x3B), when the loop stopped at one.
  const end = offset < r.length ? offset + 1 : offset;
  return { width, height, end, hasAlpha, animated: frames > 1, frames };
}

function skipSubBlocks(r: Reader, from: number): number {
  let offset = from;
  let counted = from;
  for (let size = r.u8(offset, 'data sub-block'); size !== 0; size = r.u8(offset, 'data sub-block')) {
    r.need(offset + 1, size, 'data sub-block');
    offset += 1 + size;
    if (offset - counted >= PROBE_CHECK_BYTES) {
      r.walked(offset - counted);
      counted = offset;
    }
  }
  r.walked(offset - counted);
  return offset + 1;
}

// ----------------------------------------------------------------------------------- colour profiles

interface IccSegment {
  readonly sequence: number;
  readonly count: number;
  readonly data: Uint8Array;
}

/** The most APP2 segments one ICC profile can have: each numbers itself, and its count, in a byte. */
const MAX_ICC_SEGMENTS = 255;
const ICC_APP2_SIGNATURE = Buffer.from('ICC_PROFILE\0', 'latin1');

function isIccApp2(bytes: Uint8Array, start: number, length: number): boolean {
  return length > 14 && ICC_APP2_SIGNATURE.every((byte, i) => bytes[start + i] === byte);
}

/**
 * JPEG: the ICC profile split over APP2 segments (ICC.1 annex B.4), each numbered 1..count, joined
 * in their numbers' order. A set with a number missing, repeated or out of range is not used.
 */
function jpegColour(segments: readonly IccSegment[], extra = 0): ColourFacts {
  if (segments.length === 0) return { warnings: [] };
  if (extra > 0)
    return {
      warnings: [
        `The file has ${segments.length + extra} ICC profile APP2 segments, more than the ${MAX_ICC_SEGMENTS} a profile can have: the image is taken as sRGB`,
      ],
    };
  const count = segments[0]!.count;
  const ordered = [...segments].sort((a, b) => a.sequence - b.sequence);
  const complete =
    count > 0 &&
    ordered.length === count &&
    ordered.every((segment, i) => segment.count === count && segment.sequence === i + 1);
  if (!complete) {
    const numbers = segments.map((s) => `${s.sequence}/${s.count}`).join(', ');
    return {
      warnings: [`The ICC profile's APP2 segments are incomplete (${numbers}): the image is taken as sRGB`],
    };
  }
  const icc = ordered.length === 1 ? ordered[0]!.data : Buffer.concat(ordered.map((s) => s.data));
  return iccFacts(icc, 'APP2');
}

/**
 * PNG: the iCCP chunk's profile, zlib-compressed after its name (PNG 11.3.3.3), and the cICP chunk's
 * code points (11.3.2.6), which take precedence over it (PNG third edition, "colour chunk
 * precedence": a decoder that recognises cICP shall ignore iCCP, sRGB, cHRM and gAMA), as Chrome
 * and Firefox show the file. Only RGB code points (matrix 0) at full range are read: the PNG
 * specification allows no other matrix, and narrow-range samples would need scaling.
 */
function pngColour(
  chunk: Uint8Array | undefined,
  laterChunks: number,
  cicp: Uint8Array | undefined,
): ColourFacts {
  let facts = firstIccpColour(chunk);
  if (laterChunks > 0) {
    const warning = `The PNG has ${laterChunks + 1} iCCP chunks, where one is allowed: the first is read and the others ignored, as libpng does`;
    facts = { ...facts, warnings: [warning, ...facts.warnings] };
  }
  if (!cicp) return facts;
  const [primaries, transfer, matrix, fullRange] = cicp;
  const unused = !facts.icc ? 'the image is taken as sRGB' : 'the iCCP profile is used';
  const ignored =
    cicp.length !== 4
      ? `is ${cicp.length} bytes long, not 4`
      : matrix !== 0
        ? `declares matrix coefficients ${matrix}, where PNG allows only 0 (RGB)`
        : fullRange !== 1
          ? `declares narrow-range samples (video full range flag ${fullRange}), which are not supported`
          : undefined;
  if (ignored) return { ...facts, warnings: [...facts.warnings, `The PNG cICP chunk ${ignored}: ${unused}`] };
  return { ...facts, nclx: { primaries: primaries!, transfer: transfer!, matrix: 0 }, nclxSource: 'cicp' };
}

function firstIccpColour(chunk: Uint8Array | undefined): ColourFacts {
  if (!chunk) return { warnings: [] };
  const nul = chunk.indexOf(0);
  if (nul < 1 || nul > 79 || chunk[nul + 1] !== 0)
    return { warnings: ['The PNG iCCP chunk is malformed: the image is taken as sRGB'] };
  try {
    return iccFacts(inflateSync(chunk.subarray(nul + 2), { maxOutputLength: MAX_ICC_BYTES }), 'iCCP');
  } catch (error) {
    return {
      warnings: [
        `The PNG iCCP profile cannot be inflated (${(error as Error).message}): the image is taken as sRGB`,
      ],
    };
  }
}

/**
 * HEIF `colr` (ISO/IEC 23008-12 6.5.5): `prof`/`rICC` carry an ICC profile, `nclx` H.273 code
 * points. Without a `colr` box, the code points the coded image's bitstream carries (`coded`: an AV1
 * sequence header's color_config, a HEVC VUI), as libavif and libheif take them; a `colr` box wins.
 */
function heifColour(r: Reader, properties: readonly Box[], coded?: FirstCoded['colour']): ColourFacts {
  let nclx: ColourFacts['nclx'];
  for (const colr of properties.filter((b) => b.type === 'colr')) {
    const type = r.fourcc(colr.body, 'colr box');
    if (type === 'prof' || type === 'rICC')
      return iccFacts(r.bytes.subarray(colr.body + 4, colr.end), 'colr');
    if (type === 'nclx' && colr.end - colr.body >= 11)
      nclx = {
        primaries: r.u16(colr.body + 4, 'colr box'),
        transfer: r.u16(colr.body + 6, 'colr box'),
        matrix: r.u16(colr.body + 8, 'colr box'),
      };
  }
  if (nclx) return { nclx, nclxSource: 'colr', warnings: [] };
  if (!coded) return { warnings: [] };
  const { from, ...points } = coded;
  return { nclx: points, nclxSource: from, warnings: [] };
}

/** The largest ICC profile we take (CMYK press profiles are a few MB at most). */
const MAX_ICC_BYTES = 16 * 1024 * 1024;

/** An ICC profile whose header (ICC.1 7.2) declares its own size and carries the 'acsp' signature. */
function iccFacts(icc: Uint8Array, source: NonNullable<ColourFacts['iccSource']>): ColourFacts {
  const declared =
    icc.length >= 128 ? new DataView(icc.buffer, icc.byteOffset, icc.byteLength).getUint32(0) : 0;
  const signature =
    icc.length >= 40 ? Buffer.from(icc.buffer, icc.byteOffset + 36, 4).toString('latin1') : '';
  if (
    icc.length < 128 ||
    signature !== 'acsp' ||
    declared < 128 ||
    declared > icc.length ||
    icc.length > MAX_ICC_BYTES
  )
    return {
      warnings: [
        `The embedded ICC profile (${source}, ${icc.length} bytes) is not a valid profile: the image is taken as sRGB`,
      ],
    };
  return { icc: icc.subarray(0, declared), iccSource: source, warnings: [] };
}
