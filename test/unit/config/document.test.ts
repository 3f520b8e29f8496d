import { describe, expect, it } from 'vitest';
import { DEFAULT_PIPELINE_DOCUMENT, parsePipelineConfig } from '../../../src/config/document.ts';
import { loadPipelineConfig, loadRuntimeConfig } from '../../../src/config/index.ts';
import { loadTransformConfig } from '../../../src/config/transform.ts';
import { ConfigError } from '../../../src/core/errors.ts';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parsePipelineConfig', () => {
  it('produces the documented defaults from an empty document', () => {
    const config = parsePipelineConfig({});
    expect(config.variants.map((v) => [v.name, v.width, v.fit, v.upscale])).toEqual([
      ['large', 1600, 'inside', false],
      ['medium', 800, 'inside', false],
      ['small', 320, 'inside', false],
    ]);
    expect(config.formats).toEqual(['jpeg', 'webp', 'avif']);
    expect(config.formatOptions.avif).toEqual(DEFAULT_PIPELINE_DOCUMENT.formats.avif);
    expect(config.limits).toEqual({
      maxPixels: 50_000_000,
      maxBytes: 32 * 1024 * 1024,
      maxSecondsPerImage: 60,
    });
    expect(config.background).toEqual({ r: 255, g: 255, b: 255, a: 255 });
    expect(Object.isFrozen(config.variants[0])).toBe(true);
  });

  it('names the setting, the expectation and the value when a quality is out of range', () => {
    const error = configError(() => parsePipelineConfig({ formats: { jpeg: { quality: 150 } } }, 'my.json'));
    expect(error.message).toBe(
      'my.json: Expected integer between 1 and 100 for formats.jpeg.quality but received 150 of type number',
    );
    expect(error.setting).toBe('my.json: formats.jpeg.quality');
  });

  it('rejects unknown keys so typos do not pass silently', () => {
    const error = configError(() => parsePipelineConfig({ variants: [{ name: 'a', widht: 10 }] }));
    expect(error.message).toContain('config: unknown setting variants[0].widht');
  });

  it('accepts format aliases and per-variant format subsets', () => {
    const config = parsePipelineConfig({
      variants: [{ name: 'thumb', width: 100, height: 100, fit: 'cover', formats: ['jpg'] }],
      formats: { jpg: {}, webp: { quality: 70 } },
    });
    expect(config.formats).toEqual(['jpeg', 'webp']);
    expect(config.variants[0]!.formats).toEqual(['jpeg']);
    expect(config.formatOptions.webp.quality).toBe(70);
  });

  it('requires both dimensions for cover and contain', () => {
    const error = configError(() =>
      parsePipelineConfig({ variants: [{ name: 'a', width: 10, fit: 'cover' }] }),
    );
    expect(error.message).toBe(
      'config: Expected "inside" unless both width and height are set for variants[0].fit but received "cover" of type string',
    );
  });

  it('rejects duplicate variant names and formats not configured', () => {
    expect(() => parsePipelineConfig({ variants: [{ name: 'a' }, { name: 'a' }] })).toThrow(
      /variants\[1\]\.name/,
    );
    expect(() => parsePipelineConfig({ variants: [{ name: 'a', formats: ['png'] }] })).toThrow(
      /one of the configured formats/,
    );
  });

  it('rejects a variant that lists a format twice, which would list one output twice', () => {
    expect(
      configError(() => parsePipelineConfig({ variants: [{ name: 'a', formats: ['webp', 'webp'] }] }))
        .message,
    ).toBe(
      'config: Expected each format once (formats[0] is webp) for variants[0].formats[1] but received "webp" of type string',
    );
    expect(() =>
      parsePipelineConfig({ variants: [{ name: 'a', formats: ['jpeg', 'avif', 'jpg'] }] }),
    ).toThrow(/variants\[0\]\.formats\[2\]/);
  });

  it('rejects key templates that would write two outputs to one key', () => {
    const error = configError(() => parsePipelineConfig({ keyTemplate: '{variant}/{key}' }));
    expect(error.message).toMatch(/would both be written to large\/sample\/dir\/photo\.jpg/);
    expect(() => parsePipelineConfig({ keyTemplate: '{variant}/{format}.{ext}' })).toThrow(
      /must contain \{key\}/,
    );
    expect(() => parsePipelineConfig({ keyTemplate: '{variant}/{key}.{size}' })).toThrow(
      /unknown token \{size\}/,
    );
  });

  it('changes its hash when an output-shaping setting changes, not when a limit does', () => {
    const base = parsePipelineConfig({});
    expect(parsePipelineConfig({ formats: { jpeg: { quality: 81 } } }).hash).not.toBe(base.hash);
    expect(parsePipelineConfig({ limits: { maxPixels: 10 } }).hash).toBe(base.hash);
  });

  it('changes its hash with Cache-Control, written on every output, and not at its default', () => {
    const base = parsePipelineConfig({});
    const year = parsePipelineConfig({ cacheControl: 'public, max-age=31536000' });
    expect(year.hash).not.toBe(base.hash);
    // Set through the environment's override, the same as in the document.
    const overridden = parsePipelineConfig({}, 'config', {
      cacheControl: { value: year.cacheControl, setting: 'IMGPIPE_CACHE_CONTROL' },
    });
    expect(overridden.hash).toBe(year.hash);
    expect(parsePipelineConfig({ cacheControl: base.cacheControl }).hash).toBe(base.hash);
  });

  it('refuses a Cache-Control no output could be written with, naming the setting and the value', () => {
    // Node refuses a header with a line break or a character past U+00FF ("Invalid character in
    // header content"): every output's write would fail, upload after upload.
    for (const value of ['public,\r\nx-amz-acl: public-read', 'max-age=60 – stale', '', '  '])
      expect(() => parsePipelineConfig({ cacheControl: value }, 'config.json'), value).toThrow(
        `config.json: Expected a Cache-Control value of printable ASCII characters for cacheControl but received ${JSON.stringify(value)}`,
      );
    expect(() => loadPipelineConfig({ IMGPIPE_CACHE_CONTROL: 'max-age=60 \u2013 x' })).toThrow(
      'Expected a Cache-Control value of printable ASCII characters for IMGPIPE_CACHE_CONTROL but received "max-age=60 – x"',
    );
    expect(parsePipelineConfig({ cacheControl: 'public,\tmax-age=60, immutable' }).cacheControl).toBe(
      'public,\tmax-age=60, immutable',
    );
  });

  it('refuses a format named like a property every object has, naming the setting', () => {
    // They resolved to Object's own constructor and prototype: the parser failed with "Cannot
    // convert undefined or null to object", and the transform's list took Object as a format.
    for (const name of ['constructor', '__proto__'])
      expect(() => parsePipelineConfig(JSON.parse(`{"formats":{"${name}":{}}}`), 'config.json')).toThrow(
        `config.json: Expected a format name (jpeg, webp, avif, png) for formats.${name} but received "${name}"`,
      );
    expect(() => loadPipelineConfig({}, { flags: { formats: 'webp,constructor' } })).toThrow(
      'Expected one or more of jpg, jpeg, webp, avif, png for --format but received "webp,constructor"',
    );
    expect(() =>
      loadTransformConfig({
        IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'src',
        IMGPIPE_TRANSFORM_FORMATS: 'jpeg,constructor',
      }),
    ).toThrow(
      'Expected a list of jpeg, webp, avif, png for IMGPIPE_TRANSFORM_FORMATS but received "jpeg,constructor"',
    );
  });

  it('parses colours with and without alpha', () => {
    expect(parsePipelineConfig({ background: '#10203040' }).background).toEqual({
      r: 16,
      g: 32,
      b: 48,
      a: 64,
    });
    expect(() => parsePipelineConfig({ background: 'white' })).toThrow(/colour like "#ffffff"/);
  });
});

describe('loadPipelineConfig', () => {
  it('reads inline JSON from IMGPIPE_CONFIG and lets single-value variables override it', () => {
    const config = loadPipelineConfig({
      IMGPIPE_CONFIG: JSON.stringify({ limits: { maxPixels: 1000 }, outputPrefix: 'a/' }),
      IMGPIPE_MAX_PIXELS: '24000000',
      IMGPIPE_OUTPUT_PREFIX: 'out/',
    });
    expect(config.limits.maxPixels).toBe(24_000_000);
    expect(config.keys.prefix).toBe('out/');
  });

  it('takes the time budget per image from the document or IMGPIPE_MAX_SECONDS_PER_IMAGE', () => {
    const document = JSON.stringify({ limits: { maxSecondsPerImage: 30 } });
    expect(loadPipelineConfig({ IMGPIPE_CONFIG: document }).limits.maxSecondsPerImage).toBe(30);
    const both = { IMGPIPE_CONFIG: document, IMGPIPE_MAX_SECONDS_PER_IMAGE: '12' };
    expect(loadPipelineConfig(both).limits.maxSecondsPerImage).toBe(12);
    expect(() => loadPipelineConfig({ IMGPIPE_MAX_SECONDS_PER_IMAGE: '0' })).toThrow(
      'Expected integer between 1 and 900 for IMGPIPE_MAX_SECONDS_PER_IMAGE but received "0" of type string',
    );
  });

  it('names the variable and value when a number does not parse', () => {
    const error = configError(() => loadPipelineConfig({ IMGPIPE_MAX_PIXELS: '12x' }));
    expect(error.message).toBe(
      'Expected integer between 1 and 1000000000 for IMGPIPE_MAX_PIXELS but received "12x" of type string',
    );
  });

  it('reads digits grouped by single underscores, and no stray ones', () => {
    expect(loadPipelineConfig({ IMGPIPE_MAX_PIXELS: '24_000_000' }).limits.maxPixels).toBe(24_000_000);
    for (const value of ['24000000_', '24__000_000', '_24000000'])
      expect(() => loadPipelineConfig({ IMGPIPE_MAX_PIXELS: value })).toThrow(
        `Expected integer between 1 and 1000000000 for IMGPIPE_MAX_PIXELS but received "${value}" of type string`,
      );
  });

  it('reports invalid JSON in IMGPIPE_CONFIG', () => {
    expect(() => loadPipelineConfig({ IMGPIPE_CONFIG: '{"variants": [' })).toThrow(
      /IMGPIPE_CONFIG is not valid JSON/,
    );
  });

  it('reports a missing config file by path and variable', () => {
    expect(() => loadPipelineConfig({ IMGPIPE_CONFIG_FILE: '/nonexistent/imgpipe.json' })).toThrow(
      /Cannot read the config file \/nonexistent\/imgpipe\.json given by IMGPIPE_CONFIG_FILE/,
    );
  });

  it('refuses an empty --config path, naming the flag, instead of a read error with no path in it', () => {
    // imgpipe process -c "$unset" read '' and said "Cannot read the config file  given by --config".
    expect(() => loadPipelineConfig({}, { file: { path: '', setting: '--config' } })).toThrow(
      /^--config is the empty string '' \(an unset shell variable\?\), which names no file: give the pipeline document's path$/,
    );
  });
});

describe('loadRuntimeConfig', () => {
  it('requires the output bucket and names it', () => {
    const error = configError(() => loadRuntimeConfig({}));
    expect(error.setting).toBe('IMGPIPE_OUTPUT_BUCKET');
  });

  it('defaults quarantine to the output bucket under quarantine/', () => {
    const config = loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out' });
    expect(config).toMatchObject({
      outputBucket: 'out',
      quarantineBucket: 'out',
      quarantinePrefix: 'quarantine/',
      workers: 0,
    });
  });

  it('reads where transformation results are, only when told, and refuses a prefix without /', () => {
    expect(loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out' }).transformPrefix).toBeUndefined();
    expect(
      loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out', IMGPIPE_TRANSFORM_PREFIX: 'transforms/' })
        .transformPrefix,
    ).toBe('transforms/');
    const error = configError(() =>
      loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out', IMGPIPE_TRANSFORM_PREFIX: 'transforms' }),
    );
    expect([error.setting, error.message]).toEqual([
      'IMGPIPE_TRANSFORM_PREFIX',
      expect.stringContaining('ending in /'),
    ]);
  });

  it('refuses a transformation prefix that outputs, manifests or quarantined copies fall under, naming one', () => {
    const load =
      (prefix: string, extra: Record<string, string> = {}) =>
      () =>
        loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out', IMGPIPE_TRANSFORM_PREFIX: prefix, ...extra });
    expect(load('large/')).toThrow(
      'Expected a key prefix of its own in the output bucket, under which no output, manifest or quarantined copy falls for IMGPIPE_TRANSFORM_PREFIX but received "large/" of type string (output keys such as large/sample/photo.jpg.jpg fall under it)',
    );
    expect(load('manifests/')).toThrow(
      /output keys such as manifests\/sample\/photo\.jpg\.json fall under it/,
    );
    expect(load('quarantine/')).toThrow(
      /the quarantine prefix "quarantine\/" of the same bucket overlaps it/,
    );
    // The quarantine in a bucket of its own: its prefix is no concern.
    expect(load('quarantine/', { IMGPIPE_QUARANTINE_BUCKET: 'held' })().transformPrefix).toBe('quarantine/');
    expect(load('transforms/')().transformPrefix).toBe('transforms/');
  });

  it('refuses a quarantine prefix that output keys fall under in a shared bucket', () => {
    expect(() =>
      loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out', IMGPIPE_QUARANTINE_PREFIX: 'large/' }),
    ).toThrow(/output keys such as large\/sample\/photo\.jpg\.jpg fall under it/);
    expect(() => loadRuntimeConfig({ IMGPIPE_OUTPUT_BUCKET: 'out', IMGPIPE_QUARANTINE_PREFIX: '' })).toThrow(
      /empty prefix/,
    );
    // A separate quarantine bucket may use the whole bucket.
    expect(
      loadRuntimeConfig({
        IMGPIPE_OUTPUT_BUCKET: 'out',
        IMGPIPE_QUARANTINE_BUCKET: 'q',
        IMGPIPE_QUARANTINE_PREFIX: '',
      }).quarantinePrefix,
    ).toBe('');
  });
});
