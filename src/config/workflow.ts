import type { Env } from '../core/config.ts';
import { invalidSetting } from '../core/errors.ts';
import { envIntegerSetting, envRequired, envString, envStringAllowEmpty } from './env.ts';
import { ENV, SETTINGS } from './settings.ts';

/**
 * The settings of the workflow mode's checks, read by their task functions only (the moderation
 * task and the malware scanner); the pipeline's own settings are loadRuntimeConfig's.
 */

export interface ModerationConfig {
  /** Rekognition's MinConfidence, 0-100. */
  readonly minConfidence: number;
  /**
   * Label names that reject an image, matched against a label's own name and its parents' (any
   * level of Rekognition's taxonomy: `Explicit`, `Violence`, `Graphic Violence`...). Empty: any label.
   */
  readonly categories: readonly string[];
  /** The most tiles an elongated image is moderated in (IMGPIPE_MODERATION_MAX_TILES), 1-16. */
  readonly maxTiles: number;
}

export function loadModerationConfig(env: Env): ModerationConfig {
  const raw = envString(env, ENV.moderationCategories);
  const categories = raw === undefined ? [] : raw.split(',').map((name) => name.trim());
  if (categories.some((name) => name === '' || name.length > 128)) {
    throw invalidSetting(
      ENV.moderationCategories,
      'comma-separated moderation label names such as "Explicit,Violence", each 1-128 characters',
      raw,
    );
  }
  return Object.freeze({
    minConfidence: envIntegerSetting(env, SETTINGS.moderationMinConfidence),
    categories: Object.freeze([...new Set(categories)]),
    maxTiles: envIntegerSetting(env, SETTINGS.moderationMaxTiles),
  });
}

export interface SignaturesConfig {
  readonly bucket: string;
  /** Empty, or ending in `/`. */
  readonly prefix: string;
}

export const DEFAULT_SIGNATURES_PREFIX = 'clamav/';

export function loadSignaturesConfig(env: Env): SignaturesConfig {
  const bucket = envRequired(env, ENV.signaturesBucket, 'the bucket holding the ClamAV signature database');
  const prefix = envStringAllowEmpty(env, ENV.signaturesPrefix, DEFAULT_SIGNATURES_PREFIX);
  if (prefix !== '' && (!prefix.endsWith('/') || prefix.startsWith('/')))
    throw invalidSetting(ENV.signaturesPrefix, 'an empty prefix or one ending in / (e.g. clamav/)', prefix);
  return Object.freeze({ bucket, prefix });
}
