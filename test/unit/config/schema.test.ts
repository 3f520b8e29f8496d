import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PIPELINE_DOCUMENT, parsePipelineConfig } from '../../../src/config/document.ts';
import { PIPELINE_SCHEMA_PATH, pipelineDocumentSchema } from '../../../src/config/schema.ts';
import { REPO_ROOT } from '../../support/cli.ts';

/**
 * The published JSON Schema of the pipeline document (docs/pipeline.schema.json) is generated from
 * the parser's own tables, and a set of documents must be judged alike by the schema (with ajv, the
 * validator editors and CI tools use) and by the parser.
 */
const published = JSON.parse(readFileSync(`${REPO_ROOT}${PIPELINE_SCHEMA_PATH}`, 'utf8'));

/** A PNG in the repository, for the watermark (paths are relative to the repository: vitest's directory). */
const PNG = 'fixtures/edge/formats/1x1.png';

const VALID: unknown[] = [
  {},
  { watermark: { image: PNG } },
  { watermark: { image: PNG, position: 'top-left', margin: 0, size: 1, opacity: 0, minWidth: 16384 } },
  { watermark: { image: PNG, position: 'center', margin: 0.5, size: 0.01, opacity: 0.5 } },
  { watermark: null },
  DEFAULT_PIPELINE_DOCUMENT,
  { $schema: './docs/pipeline.schema.json', formats: { webp: {} } },
  {
    variants: [{ name: 'thumb', width: 64, height: 64, fit: 'cover', formats: ['jpg'] }],
    formats: { jpg: true },
  },
  { formats: { avif: { speed: 0, quality: 0, chromaSubsampling: '4:4:4' }, png: null } },
  { resize: { method: 'mitchell', linearRGB: true }, background: '#10203040', limits: { maxBytes: 1 } },
  { variants: [{ name: 'full' }], outputPrefix: 'out/', keyTemplate: '{format}/{variant}/{dir}{name}.{ext}' },
  { resize: null, limits: null },
];

/** Invalid documents both must refuse. */
const INVALID: unknown[] = [
  [],
  'config',
  { formts: {} },
  { $schema: 5 },
  { $schema: null },
  { variants: [] },
  { variants: [{ width: 10 }] },
  { variants: [{ name: 'a', widht: 10 }] },
  { variants: [{ name: 'a b' }] },
  { variants: [{ name: 'a', width: 0 }] },
  { variants: [{ name: 'a', width: 16385 }] },
  { variants: [{ name: 'a', width: 10.5 }] },
  { variants: [{ name: 'a', width: 10, fit: 'cover' }] },
  { variants: [{ name: 'a', fit: 'fill' }] },
  { variants: [{ name: 'a', upscale: 'yes' }] },
  { variants: [{ name: 'a', formats: [] }] },
  { variants: [{ name: 'a', formats: ['webp', 'webp'] }] },
  { formats: {} },
  { formats: { gif: {} } },
  { formats: { jpeg: {}, jpg: {} } },
  { formats: { jpeg: { quality: 0 } } },
  { formats: { webp: { quality: 101 } } },
  { formats: { webp: { effort: 7 } } },
  { formats: { avif: { speed: 11 } } },
  { formats: { avif: { chromaSubsampling: '4:2:2' } } },
  { formats: { jpeg: { progressive: 1 } } },
  { formats: { png: { quality: 5 } } },
  { formats: { webp: 'fast' } },
  { resize: { method: 'bicubic' } },
  { resize: { gamma: true } },
  { background: 'white' },
  { background: '#fff' },
  { keyTemplate: '' },
  { keyTemplate: ' ' },
  { outputPrefix: '/out' },
  { outputPrefix: '../out/' },
  { outputPrefix: 'out/./' },
  { outputPrefix: 'out//' },
  // Not a folder: every key starting with "out" (outdoor/cat.jpg) would be taken for an output.
  { outputPrefix: 'out' },
  { outputPrefix: 'a/b' },
  // A line break before the fault: the schema's `.` stopped there, and it accepted these.
  { outputPrefix: 'a\n//b/' },
  { outputPrefix: 'a\n/../b/' },
  { cacheControl: 5 },
  { cacheControl: '' },
  { cacheControl: 'max-age=60\r\nx-amz-acl: public-read' },
  { cacheControl: 'max-age=60 – stale' },
  { limits: { maxPixels: 0 } },
  { limits: { maxBytes: 6 * 1024 ** 3 } },
  { limits: { pixels: 1 } },
  { limits: { maxSecondsPerImage: 0 } },
  { watermark: 'logo.png' },
  { watermark: {} },
  { watermark: { image: '' } },
  { watermark: { image: PNG, position: 'middle' } },
  { watermark: { image: PNG, opacity: 1.1 } },
  { watermark: { image: PNG, size: 0 } },
  { watermark: { image: PNG, margin: 0.6 } },
  { watermark: { image: PNG, margin: '2%' } },
  { watermark: { image: PNG, minWidth: 1.5 } },
  { watermark: { image: PNG, minWidth: -1 } },
  { watermark: { image: PNG, opactiy: 1 } },
];

/** What JSON Schema cannot say; only the parser refuses these. */
const PARSER_ONLY: [unknown, string][] = [
  [{ variants: [{ name: 'a' }, { name: 'a' }] }, 'unique variant names'],
  [{ variants: [{ name: 'a', formats: ['png'] }] }, 'a variant format must be one of the configured formats'],
  [
    { variants: [{ name: 'a', formats: ['jpg', 'jpeg'] }] },
    'a variant lists each format once, by either name',
  ],
  [
    { formats: { JPEG: {}, jpg: {} } },
    'a format once, by either name in any case (the schema refuses only jpeg with jpg)',
  ],
  [{ keyTemplate: '{variant}/{key}' }, 'templates must give every output its own key'],
  [{ keyTemplate: '{variant}/{key}.{size}' }, 'known template tokens'],
  [{ keyTemplate: '/{variant}/{key}.{ext}' }, 'templates make keys without a leading /'],
  [{ manifestTemplate: '../manifests/{key}.json' }, 'templates make keys without a . or .. segment'],
  [{ keyTemplate: '{variant}//{key}.{ext}' }, 'templates make keys without an empty segment'],
  [{ watermark: { image: 'fixtures/no-such-watermark.png' } }, 'the watermark image must be readable'],
  [{ watermark: { image: 'fixtures/edge/broken/text-named.jpg' } }, 'the watermark image must be a PNG'],
];

const parses = (document: unknown) => {
  try {
    parsePipelineConfig(document);
    return true;
  } catch {
    return false;
  }
};

const ajv = new Ajv2020({ allErrors: true });

describe('the pipeline document schema', () => {
  it('is published as generated from the parser (node scripts/schema.ts writes it)', () => {
    expect(published).toEqual(pipelineDocumentSchema());
  });

  it('carries the defaults the parser uses', () => {
    expect(published.properties.formats.default).toEqual(DEFAULT_PIPELINE_DOCUMENT.formats);
    expect(published.properties.limits.properties.maxPixels.default).toBe(
      DEFAULT_PIPELINE_DOCUMENT.limits.maxPixels,
    );
  });

  it('is judged by the parser as by its cases', () => {
    for (const document of VALID) expect(parses(document), JSON.stringify(document)).toBe(true);
    for (const document of [...INVALID, ...PARSER_ONLY.map(([d]) => d)])
      expect(parses(document), JSON.stringify(document)).toBe(false);
  });

  it('agrees with the parser on every case (ajv)', () => {
    const validate = ajv.compile(published);
    for (const document of VALID) expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
    for (const document of INVALID) expect(validate(document), JSON.stringify(document)).toBe(false);
    for (const [document, why] of PARSER_ONLY) expect(validate(document), why).toBe(true);
  });
});
