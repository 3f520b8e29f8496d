import { readFileSync } from 'node:fs';
import type { Env, PipelineConfig, RuntimeConfig } from '../core/config.ts';
import { ConfigError, invalidSetting } from '../core/errors.ts';
import { BucketLayout, DEFAULT_QUARANTINE_PREFIX } from '../core/layout.ts';
import { checkKeyPrefix } from './check.ts';
import { parsePipelineConfig } from './document.ts';
import {
  envBoolean,
  envInteger,
  envIntegerSetting,
  envRequired,
  envString,
  envStringAllowEmpty,
} from './env.ts';
import { resolveMemory } from './memory.ts';
import { ENV, SETTINGS } from './settings.ts';

export { DEFAULT_PIPELINE_DOCUMENT, parsePipelineConfig } from './document.ts';
export { ENV, SETTINGS } from './settings.ts';

/**
 * The configuration loaders, one per kind of caller: the Lambda function (loadRuntimeConfig, from
 * the environment), and the command line and the benchmarks (loadPipelineConfig, from a file they
 * were given or else from the environment). Explicit values win over the environment, which wins
 * over the document, which wins over the defaults.
 */

/**
 * The pipeline document from `file` when given (a flag such as --config, named by `setting` in
 * errors), otherwise from IMGPIPE_CONFIG or IMGPIPE_CONFIG_FILE with the single-value environment
 * overrides applied; the defaults when none is set.
 */
export function loadPipelineConfig(
  env: Env,
  file?: { readonly path: string; readonly setting: string },
): PipelineConfig {
  // The memory is the process's, not the document's: it applies with a --config file too.
  const memory = resolveMemory(env);
  if (file) return parsePipelineConfig(readConfigFile(file.path, file.setting), file.path, { memory });
  const inline = envString(env, ENV.config);
  const path = envString(env, ENV.configFile);
  if (inline !== undefined && path !== undefined) {
    throw new ConfigError(ENV.config, inline, `Set only one of ${ENV.config} and ${ENV.configFile}`);
  }
  let document: unknown = {};
  let source = 'config';
  if (inline !== undefined) {
    document = parseJson(ENV.config, inline);
    source = ENV.config;
  } else if (path !== undefined) {
    document = readConfigFile(path, ENV.configFile);
    source = path;
  }
  const prefix = env[ENV.outputPrefix];
  const { maxPixels, maxBytes } = SETTINGS;
  return parsePipelineConfig(document, source, {
    keyTemplate: envString(env, ENV.keyTemplate),
    manifestTemplate: envString(env, ENV.manifestTemplate),
    outputPrefix: prefix === undefined ? undefined : checkKeyPrefix(ENV.outputPrefix, prefix.trim()),
    cacheControl: envString(env, ENV.cacheControl),
    maxPixels: env[maxPixels.env]?.trim()
      ? envInteger(env, maxPixels.env, 0, maxPixels.min, maxPixels.max)
      : undefined,
    maxBytes: env[maxBytes.env]?.trim()
      ? envInteger(env, maxBytes.env, 0, maxBytes.min, maxBytes.max)
      : undefined,
    memory,
  });
}

/** The Lambda function's configuration, read once at cold start. */
export function loadRuntimeConfig(env: Env): RuntimeConfig {
  const pipeline = loadPipelineConfig(env);
  const outputBucket = envRequired(env, ENV.outputBucket, 'the bucket that receives variants and manifests');
  const quarantineBucket = envString(env, ENV.quarantineBucket, outputBucket);
  const quarantinePrefix = checkKeyPrefix(
    ENV.quarantinePrefix,
    envStringAllowEmpty(env, ENV.quarantinePrefix, DEFAULT_QUARANTINE_PREFIX),
  );
  if (quarantineBucket === outputBucket) {
    const clash = new BucketLayout(pipeline, quarantinePrefix).quarantineClash();
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
    workers: envIntegerSetting(env, SETTINGS.workers),
    s3ForcePathStyle: envBoolean(env, ENV.s3ForcePathStyle, false),
  });
}

function readConfigFile(path: string, setting: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      setting,
      path,
      `Cannot read the config file ${path} given by ${setting}: ${(error as Error).message}`,
      { cause: error },
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
