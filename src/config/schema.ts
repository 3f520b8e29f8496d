import { ANIMATION_POLICIES, FITS, RESIZE_METHODS, WATERMARK_POSITIONS } from '../core/config.ts';
import { OUTPUT_FORMAT_NAMES, type OutputFormat, resolveOutputFormat } from '../core/formats.ts';
import {
  CACHE_CONTROL_PATTERN,
  COLOUR_PATTERN,
  DEFAULT_PIPELINE_DOCUMENT,
  type DOCUMENT_KEYS,
  FORMAT_OPTION_RULES,
  MAX_DIMENSION,
  type OptionRule,
  type VARIANT_KEYS,
  VARIANT_NAME_PATTERN,
  WATERMARK_DEFAULTS,
  WATERMARK_RANGES,
} from './document.ts';
import { SETTINGS } from './settings.ts';

/**
 * The JSON Schema (draft 2020-12) of the pipeline document, built from the tables the parser
 * (document.ts) checks against, so editors complete and check a document as the function would.
 * Published as docs/pipeline.schema.json (written by scripts/schema.ts; a test keeps it current and
 * checks that the schema and the parser judge a set of documents alike). What JSON Schema cannot
 * say is left to the parser: unique variant names, a variant's formats being configured, a format
 * given once under names that differ in case (`JPEG` and `jpg`), and key templates giving every
 * output its own key.
 */
export const PIPELINE_SCHEMA_PATH = 'docs/pipeline.schema.json';

type Schema = Record<string, unknown>;

export function pipelineDocumentSchema(): Schema {
  const d = DEFAULT_PIPELINE_DOCUMENT;
  const nullableObject = (schema: Schema): Schema => ({ ...schema, type: ['object', 'null'] });
  const properties: Record<(typeof DOCUMENT_KEYS)[number], Schema> = {
    $schema: { type: 'string', description: 'The schema this document follows (for editors).' },
    variants: {
      description: 'The sizes to produce, largest first or in any order.',
      type: 'array',
      minItems: 1,
      items: variantSchema(),
      default: d.variants,
    },
    formats: {
      description: 'Output formats and their encoder options; outputs follow this order.',
      type: 'object',
      minProperties: 1,
      patternProperties: Object.fromEntries(
        (Object.keys(FORMAT_OPTION_RULES) as OutputFormat[]).map((format) => [
          namesPattern(OUTPUT_FORMAT_NAMES.filter((name) => resolveOutputFormat(name) === format)),
          {
            description: `${format} encoder options; true or null for the defaults.`,
            anyOf: [{ type: 'boolean', const: true }, { type: 'null' }, optionsSchema(format)],
          },
        ]),
      ),
      additionalProperties: false,
      // The same format twice under its two names.
      not: { required: ['jpeg', 'jpg'] },
      default: d.formats,
    },
    resize: nullableObject({
      description: 'How images are resampled.',
      properties: {
        method: { enum: [...RESIZE_METHODS], default: d.resize.method },
        linearRGB: {
          type: 'boolean',
          description: 'Resample in linear light (about 6x slower); false resamples in sRGB as libvips does.',
          default: d.resize.linearRGB,
        },
      },
      additionalProperties: false,
    }),
    background: {
      description: 'Colour for contain padding and for flattening transparency in JPEG.',
      type: 'string',
      pattern: COLOUR_PATTERN.source.replace('[0-9a-f]', '[0-9a-fA-F]').replace('[0-9a-f]', '[0-9a-fA-F]'),
      default: d.background,
    },
    keyTemplate: templateSchema('Output key template.', d.keyTemplate),
    manifestTemplate: templateSchema('Manifest key template.', d.manifestTemplate),
    outputPrefix: {
      description:
        'Prefix of every output and manifest key: empty, or ending in /, without a leading /, an empty segment (//) or a . or .. segment.',
      type: 'string',
      // [\\s\\S], not `.`, which stops at a line break: the parser reads the whole key.
      pattern: '^(?!/)(?![\\s\\S]*//)(?!([\\s\\S]*/)?\\.\\.?(/|$))([\\s\\S]*/)?$',
      default: d.outputPrefix,
    },
    cacheControl: {
      description: 'Cache-Control of every output: printable ASCII.',
      type: 'string',
      pattern: CACHE_CONTROL_PATTERN.source,
      default: d.cacheControl,
    },
    limits: nullableObject({
      description: 'What is refused before decoding.',
      properties: {
        maxPixels: integerSchema(SETTINGS.maxPixels, 'Largest width x height accepted, from the header.'),
        maxBytes: integerSchema(SETTINGS.maxBytes, 'Largest source object accepted, in bytes.'),
        maxSecondsPerImage: integerSchema(
          SETTINGS.maxSecondsPerImage,
          'Longest an image may take, in seconds, before it is refused as too slow.',
        ),
      },
      additionalProperties: false,
    }),
    animation: {
      description:
        'An animated input (GIF, WebP, APNG, AVIF or HEIF sequence): still variants of its first frame, or quarantined as "animated".',
      enum: [...ANIMATION_POLICIES],
      default: d.animation,
    },
    watermark: {
      description:
        'An image composited over every output (upload variants and on-demand results) after resizing; null or absent: none.',
      type: ['object', 'null'],
      properties: {
        image: {
          type: 'string',
          pattern: '\\S',
          description:
            'Path of a PNG file (with alpha for a see-through mark), relative to the current directory; in Lambda, a file in the container image.',
        },
        position: { enum: [...WATERMARK_POSITIONS], default: WATERMARK_DEFAULTS.position },
        margin: numberSchema(
          WATERMARK_RANGES.margin,
          WATERMARK_DEFAULTS.margin,
          "Space to the output's edges, as a fraction of its shorter side.",
        ),
        size: numberSchema(
          WATERMARK_RANGES.size,
          WATERMARK_DEFAULTS.size,
          "The mark's width as a fraction of the output's width (less if its height would not fit).",
        ),
        opacity: numberSchema(
          WATERMARK_RANGES.opacity,
          WATERMARK_DEFAULTS.opacity,
          "Multiplies the mark's own alpha.",
        ),
        minWidth: {
          type: 'integer',
          minimum: WATERMARK_RANGES.minWidth.min,
          maximum: WATERMARK_RANGES.minWidth.max,
          default: WATERMARK_DEFAULTS.minWidth,
          description: 'Outputs narrower than this many pixels get no mark.',
        },
      },
      required: ['image'],
      additionalProperties: false,
    },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'imgpipe pipeline document',
    description:
      'Variants, formats, encoder options, key templates and limits of the imgpipe image pipeline. Every key is optional.',
    type: 'object',
    properties,
    additionalProperties: false,
  };
}

function numberSchema(range: { min: number; max: number }, fallback: number, description: string): Schema {
  return { type: 'number', minimum: range.min, maximum: range.max, default: fallback, description };
}

function variantSchema(): Schema {
  const sides = ['width', 'height'];
  const properties: Record<(typeof VARIANT_KEYS)[number], Schema> = {
    name: {
      type: 'string',
      pattern: VARIANT_NAME_PATTERN.source,
      description: 'Letters, digits, _ . -; unique among the variants.',
    },
    width: { type: 'integer', minimum: 1, maximum: MAX_DIMENSION },
    height: { type: 'integer', minimum: 1, maximum: MAX_DIMENSION },
    fit: {
      enum: [...FITS],
      default: 'inside',
      description: 'inside: fit in the box; cover: fill it, centre crop; contain: fit, pad with background.',
    },
    upscale: { type: 'boolean', default: false, description: 'Enlarge images smaller than the box.' },
    formats: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', pattern: namesPattern(OUTPUT_FORMAT_NAMES) },
      description: 'A subset of the configured formats for this variant.',
    },
  };
  return {
    type: 'object',
    required: ['name'],
    properties,
    additionalProperties: false,
    // cover and contain need the whole box.
    if: { required: ['fit'], properties: { fit: { enum: FITS.filter((fit) => fit !== 'inside') } } },
    // biome-ignore lint/suspicious/noThenProperty: `then` is JSON Schema's keyword
    then: { required: sides },
  };
}

function optionsSchema(format: OutputFormat): Schema {
  const defaults =
    (DEFAULT_PIPELINE_DOCUMENT.formats as Record<string, Record<string, unknown>>)[format] ?? {};
  return {
    type: 'object',
    properties: Object.fromEntries(
      Object.entries(FORMAT_OPTION_RULES[format]).map(([name, rule]) => [
        name,
        { ...ruleSchema(rule), ...(name in defaults ? { default: defaults[name] } : {}) },
      ]),
    ),
    additionalProperties: false,
  };
}

function ruleSchema(rule: OptionRule): Schema {
  switch (rule.type) {
    case 'integer':
      return { type: 'integer', minimum: rule.min, maximum: rule.max };
    case 'boolean':
      return { type: 'boolean' };
    case 'enum':
      return { enum: [...rule.values] };
  }
}

function integerSchema(setting: { min: number; max: number; default: number; env: string }, text: string) {
  return {
    type: 'integer',
    minimum: setting.min,
    maximum: setting.max,
    default: setting.default,
    description: `${text} ${setting.env} overrides it.`,
  };
}

function templateSchema(description: string, fallback: string): Schema {
  return {
    type: 'string',
    pattern: '\\S',
    description: `${description} Tokens: {key} {dir} {name} {srcext} {variant} {format} {ext}.`,
    default: fallback,
  };
}

/** A pattern matching any of the names, ignoring case as the parser does (`JPG` is `jpeg`). */
function namesPattern(names: readonly string[]): string {
  const caseless = (name: string) =>
    [...name].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join('');
  return `^(${names.map(caseless).join('|')})$`;
}
