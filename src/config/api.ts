import type { ApiConfig, Env } from '../core/config.ts';
import { invalidSetting } from '../core/errors.ts';
import { checkKeyPrefix } from './check.ts';
import { envBoolean, envInteger, envRequired, envString, envStringAllowEmpty } from './env.ts';
import { API_ENV, API_SETTINGS } from './settings.ts';

/** The HTTP API function's settings (API_SETTINGS), each error naming the variable and the value. */
export function loadApiConfig(env: Env): ApiConfig {
  const s = API_SETTINGS;
  const uploadPrefix = checkKeyPrefix(
    API_ENV.uploadPrefix,
    envStringAllowEmpty(env, API_ENV.uploadPrefix, s.uploadPrefix.default),
  );
  if (uploadPrefix !== '' && !uploadPrefix.endsWith('/'))
    throw invalidSetting(API_ENV.uploadPrefix, 'a key prefix ending in /, or nothing', uploadPrefix);
  const cdnUrl = envString(env, API_ENV.cdnUrl);
  if (cdnUrl !== undefined && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(cdnUrl))
    throw invalidSetting(API_ENV.cdnUrl, 'a URL such as https://images.example.com', cdnUrl);
  const integer = (name: 'uploadExpiresSeconds' | 'downloadExpiresSeconds') =>
    envInteger(env, s[name].env, s[name].default, s[name].min, s[name].max);
  return Object.freeze({
    uploadBucket: envRequired(env, API_ENV.uploadBucket, 'the source bucket that uploads go to'),
    uploadPrefix,
    uploadExpiresSeconds: integer('uploadExpiresSeconds'),
    downloadExpiresSeconds: integer('downloadExpiresSeconds'),
    ...(cdnUrl === undefined ? {} : { cdnUrl: cdnUrl.replace(/\/+$/, '') }),
    adminGroup: envString(env, API_ENV.adminGroup, s.adminGroup.default),
    adminScope: envString(env, API_ENV.adminScope, s.adminScope.default),
    anonymous: envBoolean(env, API_ENV.anonymous, false),
  });
}
