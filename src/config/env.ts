import type { Env } from '../core/config.ts';
import { invalidSetting } from '../core/errors.ts';
import type { IntegerSetting } from './settings.ts';

/**
 * Typed readers for environment variables (after Powertools' `envUtils`). An unset or empty variable
 * means "use the default"; a set variable that does not parse is an error naming the variable.
 */

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function envString(env: Env, name: string, fallback: string): string;
export function envString(env: Env, name: string): string | undefined;
export function envString(env: Env, name: string, fallback?: string): string | undefined {
  return raw(env, name) ?? fallback;
}

/** Like envString, but an empty value is kept (prefixes may legitimately be empty). */
export function envStringAllowEmpty(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined ? fallback : value.trim();
}

export function envRequired(env: Env, name: string, purpose: string): string {
  const value = raw(env, name);
  if (value === undefined) throw invalidSetting(name, `a non-empty value (${purpose})`, env[name]);
  return value;
}

export function envInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  // Digits, grouped by single underscores as in 50_000_000 (not 64_ or 1__0).
  const parsed = /^[+]?\d+(_\d+)*$/.test(value) ? Number(value.replaceAll('_', '')) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw invalidSetting(name, `integer between ${min} and ${max}`, value);
  }
  return parsed;
}

/** An integer setting of the table (settings.ts): its variable, default and range. */
export function envIntegerSetting(env: Env, setting: IntegerSetting): number {
  return envInteger(env, setting.env, setting.default, setting.min, setting.max);
}

export function envBoolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw invalidSetting(name, 'one of true, false, 1, 0', env[name]);
}
