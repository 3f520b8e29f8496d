import { ConfigError, invalidSetting } from '../core/errors.ts';
import { keyPathProblem } from '../core/layout.ts';
import { didYouMean } from '../core/suggest.ts';

/** Checks for values of the pipeline document; each error names the setting and the value. */

/**
 * A key prefix is written without a leading `/` (S3 keys have none, and `/x` is another key), an
 * empty segment, or a `.` or `..` segment (keyPathProblem).
 */
export function checkKeyPrefix(setting: string, value: string): string {
  if (keyPathProblem(value))
    throw invalidSetting(setting, 'a key prefix without a leading /, // or a . or .. segment', value);
  return value;
}

/**
 * A prefix that is a folder: empty, or a key prefix ending in `/`. Everything under the output and
 * quarantine prefixes is taken for the function's own (the recursion guard, core/layout.ts), so
 * `out` would also take `outdoor/cat.jpg`, an upload in a shared bucket, and never process it.
 */
export function checkFolderPrefix(setting: string, value: string): string {
  checkKeyPrefix(setting, value);
  if (value !== '' && !value.endsWith('/'))
    throw invalidSetting(
      setting,
      'an empty prefix or one ending in /',
      value,
      `every key that starts with it, not only those under ${JSON.stringify(`${value}/`)}, is taken for the function's own and never processed`,
    );
  return value;
}

export function checkInteger(setting: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidSetting(setting, `integer between ${min} and ${max}`, value);
  }
  return value;
}

export function checkBoolean(setting: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidSetting(setting, 'true or false', value);
  return value;
}

export function checkOneOf<const T extends string>(
  setting: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidSetting(setting, `one of ${allowed.join(', ')}`, value);
  }
  return value as T;
}

export function checkString(
  setting: string,
  value: unknown,
  pattern?: RegExp,
  expected = 'a string',
): string {
  if (typeof value !== 'string' || (pattern && !pattern.test(value)))
    throw invalidSetting(setting, expected, value);
  return value;
}

/** A setting's path in the document: `formats` + `webp` -> `formats.webp`; the root has no path. */
export function settingPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** Rejects keys we do not know, so a typo (`widht`) fails loudly instead of being ignored. */
export function checkKnownKeys(
  setting: string,
  value: Record<string, unknown>,
  known: readonly string[],
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const path = settingPath(setting, key);
      throw new ConfigError(
        path,
        value[key],
        `unknown setting ${path}${didYouMean(key, known)}; the settings${setting === '' ? '' : ` of ${setting}`} are ${known.join(', ')}`,
      );
    }
  }
}
