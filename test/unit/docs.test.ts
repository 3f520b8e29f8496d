import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DEV_PORT, DEV_BUCKETS } from '../../src/cli/dev.ts';
import { TransformLayout } from '../../src/core/layout.ts';
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

describe('the README quick start', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );

  it('has two commands and ends with the web page’s URL, as `imgpipe dev` prints it', () => {
    const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
    // src/cli/dev.ts prints `Web page: <url>/` last; the API and page sit on the S3 port + 2.
    const dev = readFileSync(join(REPO_ROOT, 'src/cli/dev.ts'), 'utf8');
    expect(dev).toContain(`out(\`Web page: ${'$'}{api.url}/\`)`);
    expect(dev).toContain('options.port + 2');
    expect(section.trim().split('\n').at(-1)).toBe(`**<http://127.0.0.1:${DEFAULT_DEV_PORT + 2}/>**.`);
  });

  it('counts the buckets `imgpipe dev` creates, here and under Running it locally', () => {
    const numbers = ['one', 'two', 'three', 'four', 'five', 'six'];
    const counts = [...readme.matchAll(/\b(one|two|three|four|five|six)\s+buckets\b/g)].map(
      (m) => numbers.indexOf(m[1]!) + 1,
    );
    expect(counts.length).toBeGreaterThanOrEqual(2);
    for (const count of counts) expect(count).toBe(Object.keys(DEV_BUCKETS).length);
  });
});

describe('the README’s transformation URLs', () => {
  it('name stored results as a deployment makes them: signed (the default), a 96-bit HMAC', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const spec = { width: 3000, height: 4000, fit: 'inside', format: 'png', quality: 0 } as const;
    const made = new TransformLayout('transforms/').key('photos/cat.jpg', spec, 'hash', 'k'.repeat(40));
    // transforms/photos/cat.jpg/3000x4000-inside-q0-<24 hex digits>.png
    expect(made).toMatch(/-[0-9a-f]{24}\.png$/);
    const name = made.slice(0, -'.png'.length - 24);
    const shown = [...readme.matchAll(/\/(transforms\/photos\/cat\.jpg\/[^?\s]+)\?v=/g)].map(
      (match) => match[1]!,
    );
    expect(shown).toHaveLength(2);
    for (const key of shown) expect(key.replace(/[0-9a-f]{24}\.png$/, '')).toBe(name);
  });
});
