import { createHash } from 'node:crypto';
import {
  type AvifOptions,
  FITS,
  type FormatOptions,
  type JpegOptions,
  type KeyTemplates,
  type Limits,
  type MemoryBudget,
  type PipelineConfig,
  RESIZE_METHODS,
  type ResizeOptions,
  type Rgba,
  type VariantSpec,
  type WebpOptions,
} from '../core/config.ts';
import { ConfigError, invalidSetting } from '../core/errors.ts';
import { OUTPUT_FORMATS, type OutputFormat, resolveOutputFormat } from '../core/formats.ts';
import { isPlainObject } from '../core/json.ts';
import { DEFAULT_KEY_TEMPLATE, DEFAULT_MANIFEST_TEMPLATE, findTemplateProblem } from '../core/layout.ts';
import {
  checkBoolean,
  checkInteger,
  checkKeyPrefix,
  checkKnownKeys,
  checkOneOf,
  checkString,
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
    avif: { quality: 50, speed: 6, chromaSubsampling: '4:2:0' },
  },
  resize: { method: 'lanczos3', linearRGB: false },
  background: '#ffffff',
  keyTemplate: DEFAULT_KEY_TEMPLATE,
  manifestTemplate: DEFAULT_MANIFEST_TEMPLATE,
  outputPrefix: '',
  cacheControl: 'public, max-age=86400',
  limits: { maxPixels: SETTINGS.maxPixels.default, maxBytes: SETTINGS.maxBytes.default },
} as const;

const FORMAT_DEFAULTS: FormatOptions = {
  jpeg: DEFAULT_PIPELINE_DOCUMENT.formats.jpeg,
  webp: DEFAULT_PIPELINE_DOCUMENT.formats.webp,
  avif: DEFAULT_PIPELINE_DOCUMENT.formats.avif,
  png: {},
};

const DOCUMENT_KEYS = [
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
] as const;

export const MAX_DIMENSION = 16_384;

/** Values that override the document, e.g. from environment variables or command-line flags. */
export interface PipelineOverrides {
  keyTemplate?: string;
  manifestTemplate?: string;
  outputPrefix?: string;
  cacheControl?: string;
  maxPixels?: number;
  maxBytes?: number;
  /** Not a document setting: the memory of the process the configuration is for (config/memory.ts). */
  memory?: MemoryBudget;
}

/**
 * Validates a configuration document (already parsed from JSON). `source` names where it came from
 * (a file path or an environment variable) and prefixes every setting in error messages.
 */
export function parsePipelineConfig(
  document: unknown,
  source = 'config',
  overrides: PipelineOverrides = {},
): PipelineConfig {
  if (!isPlainObject(document)) throw invalidSetting(source, 'a JSON object', document);
  checkKnownKeys(source, document, DOCUMENT_KEYS);
  const doc = { ...DEFAULT_PIPELINE_DOCUMENT, ...document } as Record<string, unknown>;

  const { formats, formatOptions } = parseFormats(`${source}.formats`, doc.formats);
  const variants = parseVariants(`${source}.variants`, doc.variants, formats);
  const resize = parseResize(`${source}.resize`, doc.resize);
  const background = parseColour(`${source}.background`, doc.background);
  const limits = parseLimits(`${source}.limits`, doc.limits, overrides);

  const keys: KeyTemplates = {
    prefix:
      overrides.outputPrefix ??
      checkKeyPrefix(`${source}.outputPrefix`, checkString(`${source}.outputPrefix`, doc.outputPrefix)),
    output:
      overrides.keyTemplate ?? checkString(`${source}.keyTemplate`, doc.keyTemplate, /\S/, 'a key template'),
    manifest:
      overrides.manifestTemplate ??
      checkString(`${source}.manifestTemplate`, doc.manifestTemplate, /\S/, 'a key template'),
  };
  const problem = findTemplateProblem({ keys, variants, formats });
  if (problem)
    throw new ConfigError(`${source}.keyTemplate`, keys.output, `Key templates are unusable: ${problem}`);

  const cacheControl = overrides.cacheControl ?? checkString(`${source}.cacheControl`, doc.cacheControl);

  const shaping = { variants, formats, formatOptions, resize, background, keys };
  const hash = createHash('sha256').update(JSON.stringify(shaping)).digest('hex').slice(0, 16);
  return deepFreeze({ ...shaping, cacheControl, limits, hash });
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
    const format = resolveOutputFormat(name);
    if (!format)
      throw invalidSetting(`${setting}.${name}`, `a format name (${OUTPUT_FORMATS.join(', ')})`, name);
    if (formats.includes(format)) throw invalidSetting(`${setting}.${name}`, 'each format once', name);
    const given = raw === true || raw === null ? {} : raw;
    if (!isPlainObject(given))
      throw invalidSetting(`${setting}.${name}`, 'an object of encoder options', raw);
    formats.push(format);
    options[format] = parseFormatOptions(`${setting}.${name}`, format, given);
  }
  return { formats, formatOptions: options as unknown as FormatOptions };
}

function parseFormatOptions(setting: string, format: OutputFormat, given: Record<string, unknown>): unknown {
  const merged = { ...FORMAT_DEFAULTS[format], ...given } as Record<string, unknown>;
  checkKnownKeys(setting, given, Object.keys(FORMAT_DEFAULTS[format]));
  switch (format) {
    case 'jpeg':
      return {
        quality: checkInteger(`${setting}.quality`, merged.quality, 1, 100),
        progressive: checkBoolean(`${setting}.progressive`, merged.progressive),
        chromaSubsampling: checkOneOf(`${setting}.chromaSubsampling`, merged.chromaSubsampling, [
          '4:2:0',
          '4:4:4',
        ]),
      } satisfies JpegOptions;
    case 'webp':
      return {
        quality: checkInteger(`${setting}.quality`, merged.quality, 0, 100),
        effort: checkInteger(`${setting}.effort`, merged.effort, 0, 6),
        lossless: checkBoolean(`${setting}.lossless`, merged.lossless),
      } satisfies WebpOptions;
    case 'avif':
      return {
        quality: checkInteger(`${setting}.quality`, merged.quality, 0, 100),
        speed: checkInteger(`${setting}.speed`, merged.speed, 0, 10),
        chromaSubsampling: checkOneOf(`${setting}.chromaSubsampling`, merged.chromaSubsampling, [
          '4:2:0',
          '4:4:4',
        ]),
      } satisfies AvifOptions;
    case 'png':
      return {};
  }
}

const VARIANT_KEYS = ['name', 'width', 'height', 'fit', 'upscale', 'formats'] as const;

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
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
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
      variantFormats = raw.formats.map((f, i) => {
        const format = typeof f === 'string' ? resolveOutputFormat(f) : undefined;
        if (!format || !formats.includes(format)) {
          throw invalidSetting(
            `${at}.formats[${i}]`,
            `one of the configured formats (${formats.join(', ')})`,
            f,
          );
        }
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
  const match = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(text);
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
  checkKnownKeys(setting, given, ['maxPixels', 'maxBytes']);
  const merged = { ...DEFAULT_PIPELINE_DOCUMENT.limits, ...given };
  const { maxPixels, maxBytes } = SETTINGS;
  return {
    maxPixels:
      overrides.maxPixels ??
      checkInteger(`${setting}.maxPixels`, merged.maxPixels, maxPixels.min, maxPixels.max),
    maxBytes:
      overrides.maxBytes ?? checkInteger(`${setting}.maxBytes`, merged.maxBytes, maxBytes.min, maxBytes.max),
    ...(overrides.memory && { memory: overrides.memory }),
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
