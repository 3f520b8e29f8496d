import { performance } from 'node:perf_hooks';

/** Durations as we record them: milliseconds with one decimal. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Milliseconds since a `performance.now()` mark, rounded. */
export function msSince(start: number): number {
  return roundMs(performance.now() - start);
}
