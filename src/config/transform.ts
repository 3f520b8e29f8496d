import type { Env, TransformConfig } from '../core/config.ts';
import { invalidSetting } from '../core/errors.ts';
import { OUTPUT_FORMATS, type OutputFormat, resolveOutputFormat } from '../core/formats.ts';
import { checkKeyPrefix } from './check.ts';
import { envBoolean, envIntegerSetting, envRequired, envString, envStringAllowEmpty } from './env.ts';
import { TRANSFORM_ENV, TRANSFORM_SETTINGS } from './settings.ts';

/** The transformation function's settings (TRANSFORM_SETTINGS), each error naming the variable. */
export function loadTransformConfig(env: Env): TransformConfig {
  const s = TRANSFORM_SETTINGS;
  const sizesText = envString(env, TRANSFORM_ENV.sizes);
  const maxSize = envIntegerSetting(env, s.maxSize);
  const sizes =
    sizesText === undefined
      ? []
      : sizesText.split(',').map((part) => {
          const size = /^\s*\d{1,5}\s*$/.test(part) ? Number(part) : Number.NaN;
          if (!(size >= 1 && size <= maxSize))
            throw invalidSetting(
              TRANSFORM_ENV.sizes,
              `comma-separated sizes from 1 to ${maxSize} (${TRANSFORM_ENV.maxSize})`,
              sizesText,
            );
          return size;
        });
  const qualityMin = envIntegerSetting(env, s.qualityMin);
  const qualityMax = envIntegerSetting(env, s.qualityMax);
  if (qualityMin > qualityMax)
    throw invalidSetting(
      TRANSFORM_ENV.qualityMax,
      `a quality of at least ${TRANSFORM_ENV.qualityMin} (${qualityMin})`,
      qualityMax,
    );
  const formatsText = envString(env, TRANSFORM_ENV.formats, s.formats.default);
  const formats: OutputFormat[] = [];
  for (const name of formatsText.split(',')) {
    const format = resolveOutputFormat(name.trim().toLowerCase());
    if (!format)
      throw invalidSetting(TRANSFORM_ENV.formats, `a list of ${OUTPUT_FORMATS.join(', ')}`, formatsText);
    if (!formats.includes(format)) formats.push(format);
  }
  // fmt=auto answers a client that decodes neither AVIF nor WebP with JPEG, else PNG.
  if (!formats.includes('jpeg') && !formats.includes('png'))
    throw invalidSetting(
      TRANSFORM_ENV.formats,
      'a list with jpeg or png',
      formatsText,
      'fmt=auto falls back to one of them for clients that accept neither AVIF nor WebP',
    );
  const signingText = envString(env, TRANSFORM_ENV.signing, s.signing.default).toLowerCase();
  if (signingText !== 'required' && signingText !== 'off')
    throw invalidSetting(TRANSFORM_ENV.signing, 'required or off', env[TRANSFORM_ENV.signing]);
  const prefix = checkKeyPrefix(
    TRANSFORM_ENV.prefix,
    envStringAllowEmpty(env, TRANSFORM_ENV.prefix, s.prefix.default),
  );
  if (!prefix.endsWith('/')) throw invalidSetting(TRANSFORM_ENV.prefix, 'a key prefix ending in /', prefix);
  const cdnUrl = envString(env, TRANSFORM_ENV.cdnUrl);
  // `/`: the results' paths on the host the request came to (CloudFront without a custom domain).
  if (cdnUrl !== undefined && cdnUrl !== '/' && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(cdnUrl))
    throw invalidSetting(
      TRANSFORM_ENV.cdnUrl,
      'a URL such as https://d111111abcdef8.cloudfront.net, or / for the host the request came to',
      cdnUrl,
    );
  const keysParameter = envString(env, TRANSFORM_ENV.keysParameter);
  return Object.freeze({
    sourceBucket: envRequired(env, TRANSFORM_ENV.sourceBucket, 'the bucket source images are read from'),
    sizes: Object.freeze([...new Set(sizes)].sort((a, b) => a - b)),
    sizeStep: envIntegerSetting(env, s.sizeStep),
    maxSize,
    qualityMin,
    qualityMax,
    formats: Object.freeze(formats),
    signing: signingText === 'required',
    ...(keysParameter === undefined ? {} : { keysParameter }),
    prefix,
    ...(cdnUrl === undefined ? {} : { cdnUrl: cdnUrl.replace(/\/+$/, '') }),
    redirectExpiresSeconds: envIntegerSetting(env, s.redirectExpiresSeconds),
    maxAgeSeconds: envIntegerSetting(env, s.maxAgeSeconds),
    concurrency: envIntegerSetting(env, s.concurrency),
    checkedOnly: envBoolean(env, TRANSFORM_ENV.checkedOnly, false),
  });
}
