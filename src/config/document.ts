import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ANIMATION_POLICIES,
  type AnimationPolicy,
  FITS,
  type FormatOptions,
  type KeyTemplates,
  type Limits,
  type MemoryBudget,
  type PipelineConfig,
  RESIZE_METHODS,
  type ResizeOptions,
  type Rgba,
  type VariantSpec,
  WATERMARK_POSITIONS,
  type Watermark,
} from '../core/config.ts';
import { ConfigError, invalidSetting } from '../core/errors.ts';
import { OUTPUT_FORMATS, type OutputFormat, resolveOutputFormat } from '../core/formats.ts';
import { isPlainObject } from '../core/json.ts';
import { DEFAULT_KEY_TEMPLATE, DEFAULT_MANIFEST_TEMPLATE, findTemplateProblem } from '../core/layout.ts';
import {
  checkBoolean,
  checkFolderPrefix,
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  checkString,
  settingPath,
} from './check.ts';
import { SETTINGS } from './settings.ts';

/**
 * The pipeline document: which variants to produce, in which formats, with which encoder settings,
 * and where to write them. It comes from a JSON document (file or environment) merged over the
 * defaults below, and is validated once into a frozen PipelineConfig (core/config.ts).
 */

export const DEFAULT_PIPELINE_DOCUMENT = {
  variants: [
    { name: 'large', width: 1600 },
    { name: 'medium', width: 800 },
    { name: 'small', width: 320 },
  ],
  formats: {
    jpeg: { quality: 80, progressive: true, chromaSubsampling: '4:2:0' },
    webp: { quality: 80, effort: 4, lossless: false },
    avif: { quality: 53, speed: 8, chromaSubsampling: '4:2:0' },
  },
  resize: { method: 'lanczos3', linearRGB: false },
  background: '#ffffff',
  keyTemplate: DEFAULT_KEY_TEMPLATE,
  manifestTemplate: DEFAULT_MANIFEST_TEMPLATE,
  outputPrefix: '',
  cacheControl: 'public, max-age=86400',
  limits: {
    maxPixels: SETTINGS.maxPixels.default,
    maxBytes: SETTINGS.maxBytes.default,
    maxSecondsPerImage: SETTINGS.maxSecondsPerImage.default,
  },
  animation: 'first-frame',
} as const;

const FORMAT_DEFAULTS: FormatOptions = {
  jpeg: DEFAULT_PIPELINE_DOCUMENT.formats.jpeg,
  webp: DEFAULT_PIPELINE_DOCUMENT.formats.webp,
  avif: DEFAULT_PIPELINE_DOCUMENT.formats.avif,
  png: {},
};

export const CHROMA_SUBSAMPLINGS = ['4:2:0', '4:4:4'] as const;

/** One encoder option's values; the parser and the JSON Schema (schema.ts) both read these. */
export type OptionRule =
  | { readonly type: 'integer'; readonly min: number; readonly max: number }
  | { readonly type: 'boolean' }
  | { readonly type: 'enum'; readonly values: readonly string[] };

/** The options of each output format, in the order the configuration (and its hash) keeps them. */
export const FORMAT_OPTION_RULES: Readonly<Record<OutputFormat, Readonly<Record<string, OptionRule>>>> = {
  jpeg: {
    quality: { type: 'integer', min: 1, max: 100 },
    progressive: { type: 'boolean' },
    chromaSubsampling: { type: 'enum', values: CHROMA_SUBSAMPLINGS },
  },
  webp: {
    quality: { type: 'integer', min: 0, max: 100 },
    effort: { type: 'integer', min: 0, max: 6 },
    lossless: { type: 'boolean' },
  },
  avif: {
    quality: { type: 'integer', min: 0, max: 100 },
    speed: { type: 'integer', min: 0, max: 10 },
    chromaSubsampling: { type: 'enum', values: CHROMA_SUBSAMPLINGS },
  },
  png: {},
};

export const DOCUMENT_KEYS = [
  '$schema',
  'variants',
  'formats',
  'resize',
  'background',
  'keyTemplate',
  'manifestTemplate',
  'outputPrefix',
  'cacheControl',
  'limits',
  'animation',
  'watermark',
] as const;

export const MAX_DIMENSION = 16_384;
export const VARIANT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const COLOUR_PATTERN = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i;
/**
 * A Cache-Control value every output can be written with: printable ASCII (spaces and tabs too),
 * not blank. Node refuses a header with a line break or a character past U+00FF, so such a value
 * would fail every output's write.
 */
export const CACHE_CONTROL_PATTERN = /^[\t -~]*[!-~][\t -~]*$/;
const CACHE_CONTROL_EXPECTED = 'a Cache-Control value of printable ASCII characters';

/** The watermark's settings besides `image`, with their defaults and ranges (the schema reads these). */
export const WATERMARK_DEFAULTS = {
  position: 'bottom-right',
  margin: 0.02,
  size: 0.2,
  opacity: 1,
  minWidth: 0,
} as const;
export const WATERMARK_RANGES = {
  margin: { min: 0, max: 0.5 },
  size: { min: 0.01, max: 1 },
  opacity: { min: 0, max: 1 },
  minWidth: { min: 0, max: MAX_DIMENSION },
} as const;
export const WATERMARK_KEYS = ['image', 'position', 'margin', 'size', 'opacity', 'minWidth'] as const;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/**
 * The watermark's largest side: it is decoded whole once per process (at init in Lambda) and
 * scaled to a fraction of each output, at most 16384 px wide; a larger mark only costs memory
 * (a one-colour 20000x20000 PNG of a few kilobytes decodes to 1.6 GB).
 */
export const WATERMARK_MAX_SIDE = 4096;

/** A value that overrides the document, and the setting it came from (a variable or a flag). */
export interface Override<T> {
  readonly value: T;
  readonly setting: string;
}

/** Values that override the document, e.g. from environment variables or command-line flags. */
export interface PipelineOverrides {
  keyTemplate?: Override<string>;
  manifestTemplate?: Override<string>;
  outputPrefix?: Override<string>;
  cacheControl?: Override<string>;
  maxPixels?: Override<number>;
  maxBytes?: Override<number>;
  maxSecondsPerImage?: Override<number>;
  animation?: Override<AnimationPolicy>;
  /** Not a document setting: the memory of the process the configuration is for (config/memory.ts). */
  memory?: MemoryBudget;
}

/**
 * Validates a configuration document (already parsed from JSON). `source` names where it came from
 * (a file path or an environment variable) and starts every error about the document's settings:
 * `config.json: Expected ... for formats.webp.quality ...`. Overrides win over the document, and
 * errors about them name their own setting.
 */
export function parsePipelineConfig(
  document: unknown,
  source = 'config',
  overrides: PipelineOverrides = {},
): PipelineConfig {
  if (!isPlainObject(document)) throw invalidSetting(source, 'a JSON object', document);
  const inDocument = <T>(parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new ConfigError(`${source}: ${error.setting}`, error.value, `${source}: ${error.message}`, {
        cause: error,
      });
    }
  };
  inDocument(() => checkKnownKeys('', document, DOCUMENT_KEYS));
  // Only for editors, but a string, as the published schema says.
  if (document.$schema !== undefined) inDocument(() => checkString('$schema', document.$schema));
  const doc = { ...DEFAULT_PIPELINE_DOCUMENT, ...document } as Record<string, unknown>;

  const { formats, formatOptions } = inDocument(() => parseFormats('formats', doc.formats));
  const variants = inDocument(() => parseVariants('variants', doc.variants, formats));
  const resize = inDocument(() => parseResize('resize', doc.resize));
  const background = inDocument(() => parseColour('background', doc.background));
  const limits = inDocument(() => parseLimits('limits', doc.limits, overrides));
  // The document's own values are checked even where an override wins (Terraform always sets
  // IMGPIPE_MAX_PIXELS and IMGPIPE_OUTPUT_PREFIX): a bad one is refused where it is written, not
  // only where the document is later used without the override (the CLI's --config, the schema).
  const documentAnimation = inDocument(() => checkOneOf('animation', doc.animation, ANIMATION_POLICIES));
  const animation = overrides.animation?.value ?? documentAnimation;

  const documentKeys = {
    prefix: inDocument(() =>
      checkFolderPrefix('outputPrefix', checkString('outputPrefix', doc.outputPrefix)),
    ),
    output: inDocument(() => checkString('keyTemplate', doc.keyTemplate, /\S/, 'a key template')),
    manifest: inDocument(() => checkString('manifestTemplate', doc.manifestTemplate, /\S/, 'a key template')),
  };
  const keys: KeyTemplates = {
    prefix: overrides.outputPrefix?.value ?? documentKeys.prefix,
    output: overrides.keyTemplate?.value ?? documentKeys.output,
    manifest: overrides.manifestTemplate?.value ?? documentKeys.manifest,
  };
  const problem = findTemplateProblem({ keys, variants, formats });
  if (problem) {
    // Which template is at fault: the output template is, if it fails with the default manifest.
    const manifestAlone = findTemplateProblem({
      keys: { ...keys, manifest: DEFAULT_MANIFEST_TEMPLATE },
      variants,
      formats,
    });
    const name = manifestAlone ? 'keyTemplate' : 'manifestTemplate';
    const override = overrides[name];
    const error = (setting: string) =>
      invalidSetting(setting, 'a usable key template', override?.value ?? doc[name], problem);
    if (override) throw error(override.setting);
    inDocument(() => {
      throw error(name);
    });
  }

  const documentCacheControl = inDocument(() =>
    checkString('cacheControl', doc.cacheControl, CACHE_CONTROL_PATTERN, CACHE_CONTROL_EXPECTED),
  );
  const cacheControl = overrides.cacheControl
    ? checkString(
        overrides.cacheControl.setting,
        overrides.cacheControl.value,
        CACHE_CONTROL_PATTERN,
        CACHE_CONTROL_EXPECTED,
      )
    : documentCacheControl;

  const watermark =
    doc.watermark === undefined || doc.watermark === null
      ? undefined
      : inDocument(() => parseWatermark('watermark', doc.watermark));

  // The watermark enters the hash by its settings and its image's sha256 (not its path): a new
  // image under the same name reprocesses, the same image moved does not. Absent, the hash is
  // what it was before watermarks existed. Cache-Control is written on every output, so a new one
  // makes them stale too (reprocess --only-stale rewrites them); at its default the hash is what
  // it was before it counted.
  const { png: _png, image: _image, ...markHashed } = watermark ?? {};
  const shaping = { variants, formats, formatOptions, resize, background, keys };
  const hashed = {
    ...shaping,
    ...(watermark && { watermark: markHashed }),
    ...(cacheControl !== DEFAULT_PIPELINE_DOCUMENT.cacheControl && { cacheControl }),
  };
  const hash = createHash('sha256').update(JSON.stringify(hashed)).digest('hex').slice(0, 16);
  return deepFreeze({ ...shaping, cacheControl, limits, animation, ...(watermark && { watermark }), hash });
}

function parseFormats(
  setting: string,
  value: unknown,
): { formats: OutputFormat[]; formatOptions: FormatOptions } {
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    throw invalidSetting(setting, `an object with at least one of ${OUTPUT_FORMATS.join(', ')}`, value);
  }
  const formats: OutputFormat[] = [];
  const options: Record<string, unknown> = { ...FORMAT_DEFAULTS };
  for (const [name, raw] of Object.entries(value)) {
    const at = settingPath(setting, name);
    const format = resolveOutputFormat(name);
    if (!format) throw invalidSetting(at, `a format name (${OUTPUT_FORMATS.join(', ')})`, name);
    if (formats.includes(format)) throw invalidSetting(at, 'each format once', name);
    const given = raw === true || raw === null ? {} : raw;
    if (!isPlainObject(given)) throw invalidSetting(at, 'an object of encoder options', raw);
    formats.push(format);
    options[format] = parseFormatOptions(at, format, given);
  }
  return { formats, formatOptions: options as unknown as FormatOptions };
}

function parseFormatOptions(setting: string, format: OutputFormat, given: Record<string, unknown>): unknown {
  const rules = FORMAT_OPTION_RULES[format];
  checkKnownKeys(setting, given, Object.keys(rules));
  const merged = { ...FORMAT_DEFAULTS[format], ...given } as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(rules).map(([name, rule]) => [
      name,
      checkOption(`${setting}.${name}`, merged[name], rule),
    ]),
  );
}

export function checkOption(setting: string, value: unknown, rule: OptionRule): unknown {
  switch (rule.type) {
    case 'integer':
      return checkInteger(setting, value, rule.min, rule.max);
    case 'boolean':
      return checkBoolean(setting, value);
    case 'enum':
      return checkOneOf(setting, value, rule.values);
  }
}

export const VARIANT_KEYS = ['name', 'width', 'height', 'fit', 'upscale', 'formats'] as const;

function parseVariants(setting: string, value: unknown, formats: readonly OutputFormat[]): VariantSpec[] {
  if (!Array.isArray(value) || value.length === 0)
    throw invalidSetting(setting, 'a non-empty array of variants', value);
  const names = new Set<string>();
  return value.map((raw, index): VariantSpec => {
    const at = `${setting}[${index}]`;
    if (!isPlainObject(raw)) throw invalidSetting(at, 'an object like {"name": "large", "width": 1600}', raw);
    checkKnownKeys(at, raw, VARIANT_KEYS);
    const name = checkString(
      `${at}.name`,
      raw.name,
      VARIANT_NAME_PATTERN,
      'a name of letters, digits, _ . -',
    );
    if (names.has(name)) throw invalidSetting(`${at}.name`, 'a name not used by another variant', name);
    names.add(name);
    const width =
      raw.width === undefined ? undefined : checkInteger(`${at}.width`, raw.width, 1, MAX_DIMENSION);
    const height =
      raw.height === undefined ? undefined : checkInteger(`${at}.height`, raw.height, 1, MAX_DIMENSION);
    const fit = raw.fit === undefined ? 'inside' : checkOneOf(`${at}.fit`, raw.fit, FITS);
    if (fit !== 'inside' && (width === undefined || height === undefined)) {
      throw invalidSetting(`${at}.fit`, `"inside" unless both width and height are set`, fit);
    }
    const upscale = raw.upscale === undefined ? false : checkBoolean(`${at}.upscale`, raw.upscale);
    let variantFormats: OutputFormat[] = [...formats];
    if (raw.formats !== undefined) {
      if (!Array.isArray(raw.formats) || raw.formats.length === 0) {
        throw invalidSetting(`${at}.formats`, `a non-empty array of ${formats.join(', ')}`, raw.formats);
      }
      const listed: unknown[] = raw.formats;
      variantFormats = listed.map((f, i) => {
        const format = typeof f === 'string' ? resolveOutputFormat(f) : undefined;
        if (!format || !formats.includes(format)) {
          throw invalidSetting(
            `${at}.formats[${i}]`,
            `one of the configured formats (${formats.join(', ')})`,
            f,
          );
        }
        // Twice (or as jpg and jpeg) would list one output, with one key, twice in the manifest.
        const first = listed.findIndex((g) => typeof g === 'string' && resolveOutputFormat(g) === format);
        if (first !== i)
          throw invalidSetting(`${at}.formats[${i}]`, `each format once (formats[${first}] is ${format})`, f);
        return format;
      });
    }
    return { name, width, height, fit, upscale, formats: variantFormats };
  });
}

function parseResize(setting: string, value: unknown): ResizeOptions {
  const given = value ?? {};
  if (!isPlainObject(given)) throw invalidSetting(setting, 'an object like {"method": "lanczos3"}', value);
  checkKnownKeys(setting, given, ['method', 'linearRGB']);
  const merged = { ...DEFAULT_PIPELINE_DOCUMENT.resize, ...given };
  return {
    method: checkOneOf(`${setting}.method`, merged.method, RESIZE_METHODS),
    linearRGB: checkBoolean(`${setting}.linearRGB`, merged.linearRGB),
  };
}

export function parseColour(setting: string, value: unknown): Rgba {
  const text = typeof value === 'string' ? value : '';
  const match = COLOUR_PATTERN.exec(text);
  if (!match) throw invalidSetting(setting, 'a colour like "#ffffff" or "#ffffff00"', value);
  const rgb = Number.parseInt(match[1]!, 16);
  return {
    r: rgb >> 16,
    g: (rgb >> 8) & 0xff,
    b: rgb & 0xff,
    a: match[2] ? Number.parseInt(match[2], 16) : 255,
  };
}

function parseLimits(setting: string, value: unknown, overrides: PipelineOverrides): Limits {
  const given = value ?? {};
  if (!isPlainObject(given)) throw invalidSetting(setting, 'an object like {"maxPixels": 50000000}', value);
  checkKnownKeys(setting, given, ['maxPixels', 'maxBytes', 'maxSecondsPerImage']);
  const merged = { ...DEFAULT_PIPELINE_DOCUMENT.limits, ...given };
  const { maxPixels, maxBytes, maxSecondsPerImage } = SETTINGS;
  // Checked whether or not a variable overrides them (parsePipelineConfig).
  const documented = {
    maxPixels: checkInteger(`${setting}.maxPixels`, merged.maxPixels, maxPixels.min, maxPixels.max),
    maxBytes: checkInteger(`${setting}.maxBytes`, merged.maxBytes, maxBytes.min, maxBytes.max),
    maxSecondsPerImage: checkInteger(
      `${setting}.maxSecondsPerImage`,
      merged.maxSecondsPerImage,
      maxSecondsPerImage.min,
      maxSecondsPerImage.max,
    ),
  };
  return {
    maxPixels: overrides.maxPixels?.value ?? documented.maxPixels,
    maxBytes: overrides.maxBytes?.value ?? documented.maxBytes,
    maxSecondsPerImage: overrides.maxSecondsPerImage?.value ?? documented.maxSecondsPerImage,
    ...(overrides.memory && { memory: overrides.memory }),
  };
}

/**
 * The watermark: its PNG is read here, once with the configuration (from the current directory for
 * a relative path; in Lambda that is the task root, where the container image holds it).
 */
function parseWatermark(setting: string, value: unknown): Watermark {
  if (!isPlainObject(value))
    throw invalidSetting(setting, 'an object like {"image": "watermark.png"}', value);
  checkKnownKeys(setting, value, WATERMARK_KEYS);
  const image = checkString(`${setting}.image`, value.image, /\S/, 'the path of a PNG file');
  let png: Uint8Array;
  try {
    png = new Uint8Array(readFileSync(image));
  } catch (error) {
    throw invalidSetting(`${setting}.image`, 'a readable PNG file', image, (error as Error).message);
  }
  if (png.length < 8 || PNG_SIGNATURE.some((byte, i) => png[i] !== byte))
    throw invalidSetting(`${setting}.image`, 'a PNG file', image, 'it does not start with the PNG signature');
  // IHDR, the first chunk, holds the size (a PNG without it the decoder refuses at init).
  const header = new DataView(png.buffer, png.byteOffset, png.byteLength);
  if (png.length >= 24 && String.fromCharCode(...png.subarray(12, 16)) === 'IHDR') {
    const [width, height] = [header.getUint32(16), header.getUint32(20)];
    if (width > WATERMARK_MAX_SIDE || height > WATERMARK_MAX_SIDE)
      throw invalidSetting(
        `${setting}.image`,
        `a PNG of at most ${WATERMARK_MAX_SIDE}x${WATERMARK_MAX_SIDE} pixels`,
        image,
        `it is ${width}x${height}: the mark is decoded whole and scaled to a fraction of each output`,
      );
  }
  const merged = { ...WATERMARK_DEFAULTS, ...value } as Record<string, unknown>;
  const fraction = (name: keyof typeof WATERMARK_RANGES) => {
    const { min, max } = WATERMARK_RANGES[name];
    const given = merged[name];
    if (typeof given !== 'number' || !Number.isFinite(given) || given < min || given > max)
      throw invalidSetting(`${setting}.${name}`, `a number between ${min} and ${max}`, given);
    return given;
  };
  const { min, max } = WATERMARK_RANGES.minWidth;
  return {
    image,
    png,
    sha256: createHash('sha256').update(png).digest('hex'),
    position: checkOneOf(`${setting}.position`, merged.position, WATERMARK_POSITIONS),
    margin: fraction('margin'),
    size: fraction('size'),
    opacity: fraction('opacity'),
    minWidth: checkInteger(`${setting}.minWidth`, merged.minWidth, min, max),
  };
}

function deepFreeze<T>(value: T): T {
  // A typed array with elements cannot be frozen (the watermark's bytes); it is left as it is.
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
