import { ConfigError } from '../errors.ts';

/**
 * One message shape for every bad setting, after sharp's `lib/is.js`:
 * "Expected integer between 1 and 100 for IMGPIPE_MAX_PIXELS but received "12x" of type string".
 */
export function invalidSetting(
  setting: string,
  expected: string,
  value: unknown,
  hint?: string,
): ConfigError {
  const message = `Expected ${expected} for ${setting} but received ${describeValue(value)}${hint ? ` (${hint})` : ''}`;
  return new ConfigError(setting, value, message);
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  const type = Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  try {
    shown = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return `${shown} of type ${type}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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

/** Rejects keys we do not know, so a typo (`widht`) fails loudly instead of being ignored. */
export function checkKnownKeys(
  setting: string,
  value: Record<string, unknown>,
  known: readonly string[],
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ConfigError(
        `${setting}.${key}`,
        value[key],
        `Unknown setting ${setting}.${key}; expected one of ${known.join(', ')}`,
      );
    }
  }
}
