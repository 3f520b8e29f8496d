import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The fixtures index (fixtures/index.json, written by scripts/fixtures/index.py): one entry per file. */
export interface Fixture {
  readonly path: string;
  readonly kind: 'photo' | 'bench' | 'edge';
  readonly format: string | null;
  readonly bytes: number;
  readonly width: number | null;
  readonly height: number | null;
  readonly orientation?: number;
  readonly displayWidth?: number;
  readonly displayHeight?: number;
  readonly expect: string;
  readonly description: string;
}

export const FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const FIXTURES: readonly Fixture[] = JSON.parse(readFileSync(`${FIXTURES_DIR}index.json`, 'utf8'));

export function fixturePath(path: string): string {
  return FIXTURES_DIR + path;
}

export function readFixture(path: string): Buffer {
  if (!FIXTURES.some((f) => f.path === path)) throw new Error(`${path} is not in fixtures/index.json`);
  return readFileSync(fixturePath(path));
}

export function fixtures(filter: (fixture: Fixture) => boolean): Fixture[] {
  return FIXTURES.filter(filter);
}

/** The upright orientation test card: quadrant colours, top-left, top-right, bottom-left, bottom-right. */
export const CARD_QUADRANTS = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 255],
] as const;
