import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.ts';

/**
 * The docs are split by folder (README for a newcomer, details beside what they describe), so they
 * link to each other a lot: every relative link in every Markdown file of ours must lead to a file
 * that exists and, with a #fragment into Markdown, to a heading it has.
 */
const SKIP = new Set(['node_modules', 'dist', 'coverage']);

function markdownFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    if (SKIP.has(name) || name.startsWith('.')) return [];
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** GitHub's anchor of a heading. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1]!.trim())));
}

describe('Markdown links', () => {
  const files = markdownFiles(REPO_ROOT);

  it('finds the docs', () => {
    const names = files.map((file) => relative(REPO_ROOT, file));
    expect(names).toEqual(expect.arrayContaining(['README.md', 'bench/README.md', 'terraform/README.md']));
  });

  it.each(files.map((file) => [relative(REPO_ROOT, file), file]))('resolve in %s', (_, file) => {
    const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?|mailto):/.test(target!)) continue;
      const [path, fragment] = target!.split('#') as [string, string | undefined];
      const resolved = path ? join(dirname(file), decodeURIComponent(path)) : file;
      expect(existsSync(resolved), `${target} from ${relative(REPO_ROOT, file)}`).toBe(true);
      if (fragment !== undefined && resolved.endsWith('.md')) {
        expect([...anchorsOf(resolved)], `${target} from ${relative(REPO_ROOT, file)}`).toContain(fragment);
      }
    }
  });
});
