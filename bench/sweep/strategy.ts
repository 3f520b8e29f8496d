import type { Strategy } from './types.ts';

/**
 * Picks the memory size the way AWS Lambda Power Tuning does (alexcasalboni/aws-lambda-power-tuning,
 * lambda/analyzer.js), over the sizes that are eligible (not out of memory, no failed image):
 *
 * - `cost`: the cheapest; equal cost goes to the faster.
 * - `speed`: the fastest; equal duration goes to the cheaper.
 * - `balanced`: the smallest weight * cost / maxCost + (1 - weight) * duration / maxDuration, with
 *   the maxima over the candidates; weight 1 is pure cost, 0 pure speed (Power Tuning's default 0.5).
 *
 * "Equal" allows for floating-point noise (nine significant digits). `cost` is the price of 1,000
 * images on the chosen architecture, `durationMs` the expected duration of one invocation.
 */
export interface Candidate {
  readonly memoryMb: number;
  readonly cost: number;
  readonly durationMs: number;
}

export const DEFAULT_BALANCED_WEIGHT = 0.5;

function same(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

export function chooseMemory(
  candidates: readonly Candidate[],
  strategy: Strategy,
  weight = DEFAULT_BALANCED_WEIGHT,
): Candidate | undefined {
  if (candidates.length === 0) return undefined;
  const ranked = [...candidates];
  if (strategy === 'cost') {
    ranked.sort((a, b) => (same(a.cost, b.cost) ? a.durationMs - b.durationMs : a.cost - b.cost));
  } else if (strategy === 'speed') {
    ranked.sort((a, b) => (same(a.durationMs, b.durationMs) ? a.cost - b.cost : a.durationMs - b.durationMs));
  } else {
    const maxCost = Math.max(...ranked.map((c) => c.cost));
    const maxDuration = Math.max(...ranked.map((c) => c.durationMs));
    const value = (c: Candidate) => (weight * c.cost) / maxCost + ((1 - weight) * c.durationMs) / maxDuration;
    ranked.sort((a, b) => value(a) - value(b));
  }
  return ranked[0];
}
