import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { loadPipelineConfig, loadRuntimeConfig, loadWorkers } from '../../../src/config/index.ts';
import { ConfigError } from '../../../src/core/errors.ts';

/** One precedence everywhere: command-line flags > environment > document > defaults. */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function documentFile(document: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'imgpipe-config-')), 'config.json');
  writeFileSync(path, JSON.stringify(document));
  return path;
}

describe('loadPipelineConfig precedence', () => {
  const file = documentFile({ limits: { maxPixels: 1000 }, cacheControl: 'no-cache', formats: { webp: {} } });

  it('applies the environment over a document given by a flag', () => {
    const config = loadPipelineConfig(
      { IMGPIPE_MAX_PIXELS: '2000', IMGPIPE_CACHE_CONTROL: 'max-age=1' },
      { file: { path: file, setting: '--config' } },
    );
    expect(config.limits.maxPixels).toBe(2000);
    expect(config.cacheControl).toBe('max-age=1');
    expect(config.formats).toEqual(['webp']);
  });

  it('checks the environment when a document is given by a flag', () => {
    const error = configError(() =>
      loadPipelineConfig({ IMGPIPE_MAX_PIXELS: 'abc' }, { file: { path: file, setting: '--config' } }),
    );
    expect(error.setting).toBe('IMGPIPE_MAX_PIXELS');
  });

  it("checks the document's values that the environment overrides", () => {
    // Terraform always sets IMGPIPE_MAX_PIXELS and IMGPIPE_OUTPUT_PREFIX: the document's own
    // limits.maxPixels and outputPrefix were never checked in Lambda, and the same document was then
    // refused by imgpipe process --config and the schema.
    const env = {
      IMGPIPE_MAX_PIXELS: '1000',
      IMGPIPE_MAX_BYTES: '1000',
      IMGPIPE_MAX_SECONDS_PER_IMAGE: '10',
      IMGPIPE_OUTPUT_PREFIX: '',
      IMGPIPE_KEY_TEMPLATE: '{variant}/{key}.{ext}',
      IMGPIPE_MANIFEST_TEMPLATE: 'manifests/{key}.json',
      IMGPIPE_CACHE_CONTROL: 'no-cache',
      IMGPIPE_ANIMATION: 'quarantine',
    };
    const refused: [unknown, string, string][] = [
      [{ limits: { maxPixels: 'lots' } }, 'limits.maxPixels', 'Expected integer between 1 and 1000000000'],
      [{ limits: { maxBytes: 0 } }, 'limits.maxBytes', 'Expected integer between 1 and 5368709120'],
      [
        { limits: { maxSecondsPerImage: 901 } },
        'limits.maxSecondsPerImage',
        'Expected integer between 1 and 900',
      ],
      [{ outputPrefix: '/out/' }, 'outputPrefix', 'Expected a key prefix'],
      [{ keyTemplate: 5 }, 'keyTemplate', 'Expected a key template'],
      [{ manifestTemplate: '' }, 'manifestTemplate', 'Expected a key template'],
      [{ cacheControl: 'max-age=60\r\nx: y' }, 'cacheControl', 'Expected a Cache-Control value'],
      [{ animation: 'loop' }, 'animation', 'Expected one of first-frame, quarantine'],
    ];
    for (const [document, setting, message] of refused) {
      const error = configError(() =>
        loadPipelineConfig({ ...env, IMGPIPE_CONFIG: JSON.stringify(document) }),
      );
      expect(error.setting, JSON.stringify(document)).toBe(`IMGPIPE_CONFIG: ${setting}`);
      expect(error.message).toContain(`IMGPIPE_CONFIG: ${message}`);
    }
    // A valid document still gives way to the variables.
    const config = loadPipelineConfig({
      ...env,
      IMGPIPE_CONFIG: JSON.stringify({
        limits: { maxPixels: 5 },
        outputPrefix: 'v2/',
        animation: 'first-frame',
      }),
    });
    expect(config.limits.maxPixels).toBe(1000);
    expect(config.keys.prefix).toBe('');
    expect(config.animation).toBe('quarantine');
  });

  it('leaves IMGPIPE_STATUS_TABLE and IMGPIPE_EVENT_BUS optional, and refuses a value DynamoDB or EventBridge would, naming it', () => {
    const bucket = { IMGPIPE_OUTPUT_BUCKET: 'media' };
    const unset = loadRuntimeConfig(bucket);
    expect([unset.statusTable, unset.eventBus]).toEqual([undefined, undefined]);
    const arns = loadRuntimeConfig({
      ...bucket,
      IMGPIPE_STATUS_TABLE: 'arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-prod-status',
      IMGPIPE_EVENT_BUS: 'arn:aws:events:eu-west-1:123456789012:event-bus/default',
    });
    expect([arns.statusTable, arns.eventBus]).toEqual([
      'arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-prod-status',
      'arn:aws:events:eu-west-1:123456789012:event-bus/default',
    ]);
    const names = loadRuntimeConfig({
      ...bucket,
      IMGPIPE_STATUS_TABLE: 'imgpipe.status_1',
      IMGPIPE_EVENT_BUS: 'imgpipe-bus',
    });
    expect([names.statusTable, names.eventBus]).toEqual(['imgpipe.status_1', 'imgpipe-bus']);
    const table = configError(() => loadRuntimeConfig({ ...bucket, IMGPIPE_STATUS_TABLE: 'st' }));
    expect(table.setting).toBe('IMGPIPE_STATUS_TABLE');
    expect(table.message).toBe(
      'Expected a DynamoDB table name (3-255 letters, digits, _, - and .) or table ARN for IMGPIPE_STATUS_TABLE but received "st" of type string',
    );
    const bus = configError(() => loadRuntimeConfig({ ...bucket, IMGPIPE_EVENT_BUS: 'imgpipe bus' }));
    expect(bus.setting).toBe('IMGPIPE_EVENT_BUS');
    expect(bus.message).toBe(
      'Expected an EventBridge event bus name (letters, digits, /, ., - and _) or event bus ARN for IMGPIPE_EVENT_BUS but received "imgpipe bus" of type string',
    );
  });

  it('reads IMGPIPE_SOURCE_BUCKETS as bucket names, refusing one that is not, naming it', () => {
    const bucket = { IMGPIPE_OUTPUT_BUCKET: 'media' };
    expect(loadRuntimeConfig(bucket).sourceBuckets).toBeUndefined();
    expect(
      loadRuntimeConfig({ ...bucket, IMGPIPE_SOURCE_BUCKETS: ' uploads, more.uploads ' }).sourceBuckets,
    ).toEqual(['uploads', 'more.uploads']);
    const error = configError(() =>
      loadRuntimeConfig({ ...bucket, IMGPIPE_SOURCE_BUCKETS: 'uploads,Uploads_2' }),
    );
    expect(error.setting).toBe('IMGPIPE_SOURCE_BUCKETS');
    expect(error.message).toBe(
      'Expected comma-separated S3 bucket names (3-63 lowercase letters, digits, dots and hyphens) for IMGPIPE_SOURCE_BUCKETS but received "uploads,Uploads_2" of type string ("Uploads_2" is not a bucket name)',
    );
  });

  it('takes output and quarantine prefixes only as folders (empty or ending in /), naming the setting', () => {
    // "out" put outputs at outlarge/... and took every key starting with it, such as an upload
    // outdoor/cat.jpg in a bucket shared with the outputs, for the function's own: never processed.
    const bucket = { IMGPIPE_OUTPUT_BUCKET: 'media' };
    const refusal = (setting: string, value: string) =>
      `Expected an empty prefix or one ending in / for ${setting} but received ${JSON.stringify(value)} of type string (every key that starts with it, not only those under ${JSON.stringify(`${value}/`)}, is taken for the function's own and never processed)`;
    expect(configError(() => loadRuntimeConfig({ ...bucket, IMGPIPE_OUTPUT_PREFIX: 'out' })).message).toBe(
      refusal('IMGPIPE_OUTPUT_PREFIX', 'out'),
    );
    expect(
      configError(() => loadRuntimeConfig({ ...bucket, IMGPIPE_QUARANTINE_PREFIX: 'quarantine' })).message,
    ).toBe(refusal('IMGPIPE_QUARANTINE_PREFIX', 'quarantine'));
    const fromDocument = configError(() =>
      loadRuntimeConfig({ ...bucket, IMGPIPE_CONFIG: JSON.stringify({ outputPrefix: 'img/v2' }) }),
    );
    expect(fromDocument.setting).toBe('IMGPIPE_CONFIG: outputPrefix');
    expect(fromDocument.message).toBe(`IMGPIPE_CONFIG: ${refusal('outputPrefix', 'img/v2')}`);
    const config = loadRuntimeConfig({
      ...bucket,
      IMGPIPE_OUTPUT_PREFIX: 'out/',
      IMGPIPE_QUARANTINE_PREFIX: 'quarantine/',
    });
    expect([config.pipeline.keys.prefix, config.quarantinePrefix]).toEqual(['out/', 'quarantine/']);
    expect(
      loadRuntimeConfig({
        ...bucket,
        IMGPIPE_OUTPUT_PREFIX: '',
        IMGPIPE_QUARANTINE_BUCKET: 'rejected',
        IMGPIPE_QUARANTINE_PREFIX: '',
      }).quarantinePrefix,
    ).toBe('');
  });

  it('lets a document given by a flag win over the documents the environment names', () => {
    const config = loadPipelineConfig(
      { IMGPIPE_CONFIG: JSON.stringify({ formats: { avif: {} } }) },
      { file: { path: file, setting: '--config' } },
    );
    expect(config.formats).toEqual(['webp']);
  });

  it('applies flags over the environment, the document and the defaults', () => {
    const config = loadPipelineConfig(
      { IMGPIPE_CONFIG: JSON.stringify({ formats: { jpeg: { quality: 90 } }, limits: { maxPixels: 5 } }) },
      { flags: { width: 400, formats: ['webp', 'jpg'], quality: 70 } },
    );
    expect(config.variants).toEqual([
      {
        name: 'w400',
        width: 400,
        height: undefined,
        fit: 'inside',
        upscale: false,
        formats: ['webp', 'jpeg'],
      },
    ]);
    expect(config.formats).toEqual(['webp', 'jpeg']);
    expect(config.formatOptions.webp.quality).toBe(70);
    expect(config.formatOptions.jpeg.quality).toBe(70);
    expect(config.formatOptions.jpeg.progressive).toBe(true);
    expect(config.limits.maxPixels).toBe(5);
  });

  it('names the flag whose value is wrong', () => {
    expect(
      configError(() => loadPipelineConfig({}, { flags: { quality: 0, formats: ['jpeg'] } })).setting,
    ).toBe('--quality');
    expect(configError(() => loadPipelineConfig({}, { flags: { width: 0 } })).message).toBe(
      'Expected integer between 1 and 16384 for --width but received 0 of type number',
    );
  });

  it('names --fit, not a document path, when cover or contain lacks a side', () => {
    // It was "config: ... for variants[0].fit": a document and a setting the user never wrote.
    for (const flags of [
      { width: 800, fit: 'cover' },
      { height: 600, fit: 'contain' },
    ]) {
      const error = configError(() => loadPipelineConfig({}, { flags }));
      expect(error.setting).toBe('--fit');
      expect(error.message).toBe(
        `Expected inside unless both --width and --height are given for --fit but received "${flags.fit}" of type string`,
      );
    }
    expect(loadPipelineConfig({}, { flags: { width: 800, fit: 'inside' } }).variants[0]!.fit).toBe('inside');
    expect(loadPipelineConfig({}, { flags: { width: 80, height: 60, fit: 'cover' } }).variants[0]!.fit).toBe(
      'cover',
    );
  });
});

describe('loadWorkers', () => {
  it('reads IMGPIPE_WORKERS with the range the function uses', () => {
    expect(loadWorkers({})).toBe(0);
    expect(loadWorkers({ IMGPIPE_WORKERS: '3' })).toBe(3);
    expect(configError(() => loadWorkers({ IMGPIPE_WORKERS: '-1' })).message).toBe(
      'Expected integer between 0 and 64 for IMGPIPE_WORKERS but received "-1" of type string',
    );
  });
});

describe('configuration error messages', () => {
  it('puts the document before the setting, apart', () => {
    const error = configError(() => parsePipelineConfig({ background: 'white' }, '/path/config.json'));
    expect(error.setting).toBe('/path/config.json: background');
    expect(error.message).toBe(
      '/path/config.json: Expected a colour like "#ffffff" or "#ffffff00" for background but received "white" of type string',
    );
  });

  it('suggests the key meant by a typo', () => {
    const error = configError(() => parsePipelineConfig({ formts: {} }, 'config.json'));
    expect(error.message).toMatch(
      /^config\.json: unknown setting formts \(did you mean formats\?\); the settings are \$schema, variants, formats/,
    );
    const nested = configError(() =>
      parsePipelineConfig({ variants: [{ name: 'a', widht: 1 }] }, 'config.json'),
    );
    expect(nested.message).toMatch(
      /^config\.json: unknown setting variants\[0\]\.widht \(did you mean width\?\)/,
    );
  });

  it('names the template setting and its value', () => {
    const error = configError(() =>
      parsePipelineConfig({ manifestTemplate: 'm/{variant}/{key}.json' }, 'c.json'),
    );
    expect(error.setting).toBe('c.json: manifestTemplate');
    expect(error.value).toBe('m/{variant}/{key}.json');
    expect(error.message).toContain('for manifestTemplate but received "m/{variant}/{key}.json"');
    const fromEnv = configError(() => loadPipelineConfig({ IMGPIPE_KEY_TEMPLATE: '{variant}/{key}.{size}' }));
    expect(fromEnv.setting).toBe('IMGPIPE_KEY_TEMPLATE');
    expect(fromEnv.message).toContain('unknown token {size}');
  });
});
