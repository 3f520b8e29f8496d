/**
 * What we know about each image format without loading any codec: names, MIME types, extensions,
 * and which formats we can read and write. Aliases (`jpg` -> `jpeg`) resolve here and nowhere else.
 */

export const INPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'heic', 'gif'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

export const OUTPUT_FORMATS = ['jpeg', 'webp', 'avif', 'png'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Formats we recognise by their magic bytes but do not process, so the rejection can name them. */
export type RecognisedFormat =
  | InputFormat
  | 'gif'
  | 'svg'
  | 'html'
  | 'pdf'
  | 'heic'
  | 'tiff'
  | 'bmp'
  | 'jxl'
  | 'ico'
  | 'psd'
  | 'xml'
  | 'text'
  | 'unknown';

export interface FormatMeta {
  readonly label: string;
  readonly mimeType: string;
  readonly extension: string;
  /** The largest image we write in this format; the pipeline plans every variant within it. */
  readonly limits: DimensionLimits;
}

export interface DimensionLimits {
  /** Longest side, in pixels. */
  readonly maxSide: number;
  /** Width x height, when the format limits the area as well as each side. */
  readonly maxPixels?: number;
}

export const FORMAT_META: Readonly<Record<InputFormat | OutputFormat, FormatMeta>> = {
  // libjpeg's JPEG_MAX_DIMENSION (jmorecfg.h), "a tad under 64K to prevent overflows": MozJPEG
  // stops with "Maximum supported image dimension is 65500 pixels" at 65501.
  jpeg: { label: 'JPEG (MozJPEG)', mimeType: 'image/jpeg', extension: 'jpg', limits: { maxSide: 65_500 } },
  // The PNG specification: width and height are at most 2^31 - 1.
  png: { label: 'PNG', mimeType: 'image/png', extension: 'png', limits: { maxSide: 2 ** 31 - 1 } },
  // libwebp's WEBP_MAX_DIMENSION (src/webp/encode.h): the bitstream holds 14-bit sizes.
  webp: { label: 'WebP', mimeType: 'image/webp', extension: 'webp', limits: { maxSide: 16_383 } },
  // libaom encodes up to 65536 a side, but libavif's decoder refuses more than 32768 a side or
  // 16384 x 16384 pixels by default (AVIF_DEFAULT_IMAGE_DIMENSION_LIMIT, AVIF_DEFAULT_IMAGE_SIZE_LIMIT
  // in avif.h), our own decoder included (a 1x32769 AVIF). We write only what it reads.
  avif: {
    label: 'AVIF',
    mimeType: 'image/avif',
    extension: 'avif',
    limits: { maxSide: 32_768, maxPixels: 16_384 * 16_384 },
  },
  // Read only. HEIC/HEIF (HEVC) through libheif (codecs/heif.ts); its default security limit is
  // 32768 x 32768 pixels, and the probe checks the grid and tile sizes against it.
  heic: {
    label: 'HEIC',
    mimeType: 'image/heic',
    extension: 'heic',
    limits: { maxSide: 32_768, maxPixels: 32_768 * 32_768 },
  },
  // Read only. The GIF screen size is two 16-bit fields.
  gif: { label: 'GIF', mimeType: 'image/gif', extension: 'gif', limits: { maxSide: 65_535 } },
};

const ALIASES: Readonly<Record<string, OutputFormat>> = {
  jpg: 'jpeg',
  jpeg: 'jpeg',
  webp: 'webp',
  avif: 'avif',
  png: 'png',
};

/** Every name a user may give an output format by (lower case; matching ignores case). */
export const OUTPUT_FORMAT_NAMES: readonly string[] = Object.keys(ALIASES);

/** Resolves a user-supplied format name (case-insensitive, `jpg` allowed) or returns undefined. */
export function resolveOutputFormat(name: string): OutputFormat | undefined {
  const lower = name.toLowerCase();
  // Own names only: `constructor` or `__proto__` would find Object's.
  return Object.hasOwn(ALIASES, lower) ? ALIASES[lower] : undefined;
}

export function isInputFormat(format: RecognisedFormat): format is InputFormat {
  return (INPUT_FORMATS as readonly string[]).includes(format);
}

/** Content types by file extension, for stores that keep no metadata (a folder): ours and JSON. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.values(FORMAT_META).map((meta) => [meta.extension, meta.mimeType])),
  jpeg: FORMAT_META.jpeg.mimeType,
  json: 'application/json',
};

export function contentTypeFor(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  return dot === -1 ? undefined : CONTENT_TYPES[key.slice(dot + 1).toLowerCase()];
}
