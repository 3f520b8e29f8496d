/**
 * What we know about each image format without loading any codec: names, MIME types, extensions,
 * and which formats we can read and write. Aliases (`jpg` -> `jpeg`) resolve here and nowhere else.
 */

export const INPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const;
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
}

export const FORMAT_META: Readonly<Record<InputFormat | OutputFormat, FormatMeta>> = {
  jpeg: { label: 'JPEG (MozJPEG)', mimeType: 'image/jpeg', extension: 'jpg' },
  png: { label: 'PNG', mimeType: 'image/png', extension: 'png' },
  webp: { label: 'WebP', mimeType: 'image/webp', extension: 'webp' },
  avif: { label: 'AVIF', mimeType: 'image/avif', extension: 'avif' },
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
  return ALIASES[name.toLowerCase()];
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
