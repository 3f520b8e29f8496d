import { performance } from 'node:perf_hooks';

/** Durations as we record them: milliseconds with one decimal. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Milliseconds since a `performance.now()` mark, rounded. */
export function msSince(start: number): number {
  return roundMs(performance.now() - start);
}

/**
 * Whether a date names a day its month has (Date takes 2026-11-31 for 1 December). Years 0-99 are
 * those years, not 1900-1999 as Date.UTC reads them (0001-01-01 is Go's and .NET's zero time).
 */
export function isCalendarDay(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(2000, 0, 1));
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
