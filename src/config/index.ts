import { readFileSync } from 'node:fs';
import { ANIMATION_POLICIES, type Env, type PipelineConfig, type RuntimeConfig } from '../core/config.ts';
import { ConfigError, invalidSetting } from '../core/errors.ts';
import { BucketLayout, DEFAULT_QUARANTINE_PREFIX } from '../core/layout.ts';
import { checkFolderPrefix, checkKeyPrefix, checkOneOf } from './check.ts';
import { type PipelineOverrides, parsePipelineConfig } from './document.ts';
import {
  envBoolean,
  envInteger,
  envIntegerSetting,
  envRequired,
  envString,
  envStringAllowEmpty,
} from './env.ts';
import { applyQuickFlags, type QuickFlags } from './flags.ts';
import { resolveMemory } from './memory.ts';
import { ENV, SETTINGS, TRANSFORM_ENV } from './settings.ts';

export { loadApiConfig } from './api.ts';
export { DEFAULT_PIPELINE_DOCUMENT, parsePipelineConfig } from './document.ts';
export type { QuickFlags } from './flags.ts';
export { API_ENV, API_SETTINGS, ENV, SETTINGS } from './settings.ts';

/**
 * The configuration loaders, one per kind of caller: the Lambda function (loadRuntimeConfig, from
 * the environment), and the command line and the benchmarks (loadPipelineConfig, from a file they
 * were given or else from the environment, and flags). One precedence everywhere: command-line
 * flags win over environment variables, which win over the document, which wins over the defaults.
 */

/** Where loadPipelineConfig finds what the caller was given on its command line. */
export interface CommandLineConfig {
  /** The pipeline document named by a flag such as --config; it replaces IMGPIPE_CONFIG(_FILE). */
  readonly file?: { readonly path: string; readonly setting: string };
  /** Quick flags for a one-off job, applied over the document. */
  readonly flags?: QuickFlags;
  /**
   * The pipeline document's text, read by the caller (the function, from Parameter Store), and
   * what its errors name as its source; it replaces IMGPIPE_CONFIG(_FILE).
   */
  readonly document?: { readonly text: string; readonly source: string };
}

/**
 * The pipeline document from the command line's file when given, otherwise from IMGPIPE_CONFIG or
 * IMGPIPE_CONFIG_FILE (the defaults when none is set); the quick flags over it; the single-value
 * environment overrides (IMGPIPE_MAX_PIXELS, ...) over both, whichever way the document came.
 */
export function loadPipelineConfig(env: Env, commandLine: CommandLineConfig = {}): PipelineConfig {
  let document: unknown = {};
  let source = 'config';
  if (commandLine.file) {
    document = readConfigFile(commandLine.file.path, commandLine.file.setting);
    source = commandLine.file.path;
  } else if (commandLine.document) {
    document = parseJson(commandLine.document.source, commandLine.document.text);
    source = commandLine.document.source;
  } else {
    const inline = envString(env, ENV.config);
    const path = envString(env, ENV.configFile);
    if (inline !== undefined && path !== undefined) {
      throw new ConfigError(ENV.config, inline, `Set only one of ${ENV.config} and ${ENV.configFile}`);
    }
    if (inline !== undefined) {
      document = parseJson(ENV.config, inline);
      source = ENV.config;
    } else if (path !== undefined) {
      document = readConfigFile(path, ENV.configFile);
      source = path;
    }
  }
  if (commandLine.flags) document = applyQuickFlags(document, commandLine.flags);
  return parsePipelineConfig(document, source, environmentOverrides(env));
}

/** The single-value variables that override the document, each named in its own errors. */
function environmentOverrides(env: Env): PipelineOverrides {
  const overrides: PipelineOverrides = {};
  const text = (name: string) => {
    const value = envString(env, name);
    return value === undefined ? undefined : { value, setting: name };
  };
  const prefix = env[ENV.outputPrefix];
  if (prefix !== undefined) {
    overrides.outputPrefix = {
      value: checkFolderPrefix(ENV.outputPrefix, prefix.trim()),
      setting: ENV.outputPrefix,
    };
  }
  const keyTemplate = text(ENV.keyTemplate);
  if (keyTemplate) overrides.keyTemplate = keyTemplate;
  const manifestTemplate = text(ENV.manifestTemplate);
  if (manifestTemplate) overrides.manifestTemplate = manifestTemplate;
  const cacheControl = text(ENV.cacheControl);
  if (cacheControl) overrides.cacheControl = cacheControl;
  const animation = text(ENV.animation);
  if (animation)
    overrides.animation = {
      value: checkOneOf(ENV.animation, animation.value, ANIMATION_POLICIES),
      setting: ENV.animation,
    };
  for (const name of ['maxPixels', 'maxBytes', 'maxSecondsPerImage'] as const) {
    const setting = SETTINGS[name];
    if (env[setting.env]?.trim()) {
      overrides[name] = {
        value: envInteger(env, setting.env, 0, setting.min, setting.max),
        setting: setting.env,
      };
    }
  }
  // The memory is the process's, not the document's: it applies whichever way the document came.
  overrides.memory = resolveMemory(env);
  return overrides;
}

/** IMGPIPE_WORKERS, checked as the function checks it: 0 means "derive from the CPUs". */
export function loadWorkers(env: Env): number {
  return envIntegerSetting(env, SETTINGS.workers);
}

/**
 * The Lambda function's configuration, read once at cold start; `document` is the pipeline
 * document when the function read it from elsewhere (Parameter Store), named by `source`.
 */
export function loadRuntimeConfig(env: Env, document?: CommandLineConfig['document']): RuntimeConfig {
  const pipeline = loadPipelineConfig(env, document ? { document } : {});
  const outputBucket = envRequired(env, ENV.outputBucket, 'the bucket that receives variants and manifests');
  const quarantineBucket = envString(env, ENV.quarantineBucket, outputBucket);
  const quarantinePrefix = checkFolderPrefix(
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
  const transformPrefixText = envString(env, TRANSFORM_ENV.prefix);
  const transformPrefix =
    transformPrefixText === undefined ? undefined : checkKeyPrefix(TRANSFORM_ENV.prefix, transformPrefixText);
  if (transformPrefix !== undefined && !transformPrefix.endsWith('/'))
    throw invalidSetting(TRANSFORM_ENV.prefix, 'a key prefix ending in /', transformPrefix);
  // Results under it are deleted with their source (and served unsigned by the CDN): outputs,
  // manifests or quarantined copies there would be deleted (and served) with them.
  if (transformPrefix !== undefined) {
    const sharesQuarantine =
      quarantineBucket === outputBucket &&
      (transformPrefix.startsWith(quarantinePrefix) || quarantinePrefix.startsWith(transformPrefix));
    const clash = sharesQuarantine
      ? `the quarantine prefix ${JSON.stringify(quarantinePrefix)} of the same bucket overlaps it`
      : new BucketLayout(pipeline, quarantinePrefix).outputsUnder(transformPrefix);
    if (clash)
      throw invalidSetting(
        TRANSFORM_ENV.prefix,
        'a key prefix of its own in the output bucket, under which no output, manifest or quarantined copy falls',
        transformPrefix,
        clash,
      );
  }
  return Object.freeze({
    pipeline,
    outputBucket,
    quarantineBucket,
    quarantinePrefix,
    workers: loadWorkers(env),
    s3ForcePathStyle: envBoolean(env, ENV.s3ForcePathStyle, false),
    ...loadSourceBuckets(env),
    ...loadDestinationNames(env),
    deleteOutputs: envBoolean(env, ENV.deleteOutputs, true),
    ...(transformPrefix === undefined ? {} : { transformPrefix }),
  });
}

/** A name or ARN DynamoDB takes as TableName: 3-255 letters, digits, `_`, `-` and `.`. */
const STATUS_TABLE = /^(arn:aws[\w-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/)?[A-Za-z0-9_.-]{3,255}$/;
/** A name or ARN EventBridge takes as an entry's EventBusName (its documented pattern). */
const EVENT_BUS = /^(arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus\/)?[/.\-_A-Za-z0-9]+$/;

/**
 * IMGPIPE_STATUS_TABLE and IMGPIPE_EVENT_BUS: optional by design (unset: no status, no events),
 * but a value set is checked at cold start. One DynamoDB or EventBridge refuses failed every
 * record (the table) or every event (the bus, counted only as EventsFailed) at run time instead.
 */
function loadDestinationNames(env: Env): { statusTable?: string; eventBus?: string } {
  const statusTable = envString(env, ENV.statusTable);
  if (statusTable !== undefined && !STATUS_TABLE.test(statusTable))
    throw invalidSetting(
      ENV.statusTable,
      'a DynamoDB table name (3-255 letters, digits, _, - and .) or table ARN',
      statusTable,
    );
  const eventBus = envString(env, ENV.eventBus);
  if (eventBus !== undefined && !EVENT_BUS.test(eventBus))
    throw invalidSetting(
      ENV.eventBus,
      'an EventBridge event bus name (letters, digits, /, ., - and _) or event bus ARN',
      eventBus,
    );
  return {
    ...(statusTable === undefined ? {} : { statusTable }),
    ...(eventBus === undefined ? {} : { eventBus }),
  };
}

/** S3's bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots, hyphens. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** IMGPIPE_SOURCE_BUCKETS: comma-separated bucket names, each checked; unset or empty: any bucket. */
function loadSourceBuckets(env: Env): { sourceBuckets?: readonly string[] } {
  const text = envString(env, ENV.sourceBuckets);
  if (text === undefined) return {};
  const names = text.split(',').map((name) => name.trim());
  for (const name of names)
    if (!BUCKET_NAME.test(name))
      throw invalidSetting(
        ENV.sourceBuckets,
        'comma-separated S3 bucket names (3-63 lowercase letters, digits, dots and hyphens)',
        text,
        `${JSON.stringify(name)} is not a bucket name`,
      );
  return { sourceBuckets: Object.freeze(names) };
}

function readConfigFile(path: string, setting: string): unknown {
  if (path === '')
    throw new ConfigError(
      setting,
      path,
      `${setting} is the empty string '' (an unset shell variable?), which names no file: give the pipeline document's path`,
    );
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
