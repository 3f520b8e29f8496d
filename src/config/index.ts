import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { manifestKey, outputKey } from '../pipeline/keys.ts';
import { invalidSetting } from './check.ts';
import { type Env, envBoolean, envInteger, envRequired, envString, envStringAllowEmpty } from './env.ts';
import {
  MAX_PIXELS_CEILING,
  type PipelineConfig,
  type PipelineOverrides,
  parsePipelineConfig,
} from './pipeline.ts';

export type { Env } from './env.ts';
export * from './pipeline.ts';

/**
 * Every environment variable the function reads, in one place: the README's configuration table is
 * checked against this list by a test, so the two cannot drift apart.
 */
export const ENV = {
  outputBucket: 'IMGPIPE_OUTPUT_BUCKET',
  outputPrefix: 'IMGPIPE_OUTPUT_PREFIX',
  quarantineBucket: 'IMGPIPE_QUARANTINE_BUCKET',
  quarantinePrefix: 'IMGPIPE_QUARANTINE_PREFIX',
  config: 'IMGPIPE_CONFIG',
  configFile: 'IMGPIPE_CONFIG_FILE',
  keyTemplate: 'IMGPIPE_KEY_TEMPLATE',
  manifestTemplate: 'IMGPIPE_MANIFEST_TEMPLATE',
  cacheControl: 'IMGPIPE_CACHE_CONTROL',
  maxPixels: 'IMGPIPE_MAX_PIXELS',
  maxBytes: 'IMGPIPE_MAX_BYTES',
  workers: 'IMGPIPE_WORKERS',
  s3ForcePathStyle: 'IMGPIPE_S3_FORCE_PATH_STYLE',
} as const;

export const DEFAULT_QUARANTINE_PREFIX = 'quarantine/';

/** Where results go. Outputs and manifests share a bucket; quarantined inputs may have their own. */
export interface Destinations {
  readonly outputBucket: string;
  readonly quarantineBucket: string;
  readonly quarantinePrefix: string;
}

export interface RuntimeConfig extends Destinations {
  readonly pipeline: PipelineConfig;
  /** Worker threads for encoding; 0 means "decide from the CPUs and memory we are given". */
  readonly workers: number;
  /** Path-style S3 requests, for S3-compatible servers (with AWS_ENDPOINT_URL_S3). */
  readonly s3ForcePathStyle?: boolean;
}

/**
 * Reads the pipeline document from IMGPIPE_CONFIG (inline JSON) or IMGPIPE_CONFIG_FILE (a path),
 * then applies the single-value environment overrides. Explicit `overrides` win over both.
 */
export function loadPipelineConfig(env: Env, overrides: PipelineOverrides = {}): PipelineConfig {
  const inline = envString(env, ENV.config);
  const file = envString(env, ENV.configFile);
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError(ENV.config, inline, `Set only one of ${ENV.config} and ${ENV.configFile}`);
  }
  let document: unknown = {};
  let source = 'config';
  if (inline !== undefined) {
    document = parseJson(ENV.config, inline);
    source = ENV.config;
  } else if (file !== undefined) {
    document = readConfigFile(file, ENV.configFile);
    source = file;
  }
  const prefix = env[ENV.outputPrefix];
  return parsePipelineConfig(document, source, {
    keyTemplate: envString(env, ENV.keyTemplate),
    manifestTemplate: envString(env, ENV.manifestTemplate),
    outputPrefix: prefix === undefined ? undefined : checkPrefix(ENV.outputPrefix, prefix.trim()),
    cacheControl: envString(env, ENV.cacheControl),
    maxPixels: env[ENV.maxPixels]?.trim()
      ? envInteger(env, ENV.maxPixels, 0, 1, MAX_PIXELS_CEILING)
      : undefined,
    maxBytes: env[ENV.maxBytes]?.trim() ? envInteger(env, ENV.maxBytes, 0, 1, 5 * 1024 ** 3) : undefined,
    ...withoutUndefined(overrides),
  });
}

/** The Lambda function's configuration, read once at cold start. */
export function loadRuntimeConfig(env: Env): RuntimeConfig {
  const pipeline = loadPipelineConfig(env);
  const outputBucket = envRequired(env, ENV.outputBucket, 'the bucket that receives variants and manifests');
  const quarantineBucket = envString(env, ENV.quarantineBucket, outputBucket);
  const quarantinePrefix = checkPrefix(
    ENV.quarantinePrefix,
    envStringAllowEmpty(env, ENV.quarantinePrefix, DEFAULT_QUARANTINE_PREFIX),
  );
  if (quarantineBucket === outputBucket) {
    const clash = quarantineClash(pipeline, quarantinePrefix);
    if (clash) {
      throw invalidSetting(
        ENV.quarantinePrefix,
        `a prefix that no output key starts with, since ${ENV.quarantineBucket} is the output bucket ${outputBucket}`,
        quarantinePrefix,
        clash,
      );
    }
  }
  return Object.freeze({
    pipeline,
    outputBucket,
    quarantineBucket,
    quarantinePrefix,
    workers: envInteger(env, ENV.workers, 0, 0, 64),
    s3ForcePathStyle: envBoolean(env, ENV.s3ForcePathStyle, false),
  });
}

export function readConfigFile(path: string, setting: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      setting,
      path,
      `Cannot read the config file ${path} given by ${setting}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseJson(path, text);
}

function parseJson(setting: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(setting, text, `${setting} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function checkPrefix(setting: string, prefix: string): string {
  if (prefix.startsWith('/')) throw invalidSetting(setting, 'a key prefix without a leading /', prefix);
  return prefix;
}

/** Describes how quarantine keys could collide with output keys in a shared bucket, if they can. */
function quarantineClash(pipeline: PipelineConfig, quarantinePrefix: string): string | undefined {
  if (quarantinePrefix === '') return 'an empty prefix would mix quarantined inputs with outputs';
  const sample = 'sample/photo.jpg';
  const keys = [manifestKey(pipeline.keys, sample)];
  for (const variant of pipeline.variants) {
    for (const format of variant.formats) keys.push(outputKey(pipeline.keys, sample, variant.name, format));
  }
  if (pipeline.keys.prefix !== '' && quarantinePrefix.startsWith(pipeline.keys.prefix)) {
    return `it lies under the output prefix ${JSON.stringify(pipeline.keys.prefix)}`;
  }
  const clash = keys.find((key) => key.startsWith(quarantinePrefix));
  return clash === undefined ? undefined : `output keys such as ${clash} fall under it`;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
