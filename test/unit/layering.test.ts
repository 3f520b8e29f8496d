import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.ts';

/**
 * The layers of src/, lowest first. A folder may import its own files and the folders of lower
 * layers, never a folder of its own layer or a higher one: the import graph points one way. The
 * README's architecture section and each folder's README say the same; this keeps them true.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['config', 'image', 'storage', 'status', 'bus', 'scan', 'moderation'],
  ['codecs'],
  ['pipeline'],
  ['handlers'],
  ['cli'],
];

const SRC = join(REPO_ROOT, 'src');
const rank = new Map(LAYERS.flatMap((folders, layer) => folders.map((folder) => [folder, layer] as const)));

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm),
    ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((match) => match[1]!);
  return specifiers.filter((specifier) => specifier.startsWith('.'));
}

/** The imports of one file that break the layering, as "file -> specifier". */
function violations(file: string, text: string): string[] {
  const from = folderOf(file)!;
  const wrong: string[] = [];
  for (const specifier of importsOf(text)) {
    const target = resolve(dirname(file), specifier);
    const to = folderOf(target);
    // Outside src/, only the package manifest (for the version) is ours to read.
    const ok =
      to === undefined
        ? relative(REPO_ROOT, target) === 'package.json'
        : to === from || allowed(from).includes(to);
    if (!ok) wrong.push(`${relative(SRC, file).split(sep).join('/')} -> ${specifier}`);
  }
  return wrong;
}

/** The src/ folder a path lies in, or undefined outside src/. */
function folderOf(path: string): string | undefined {
  const inside = relative(SRC, path);
  if (inside.startsWith('..')) return undefined;
  return inside.split(sep)[0];
}

/** The folders a folder may import, as its README states them. */
function allowed(folder: string): string[] {
  const layer = rank.get(folder)!;
  return LAYERS.slice(0, layer).flat();
}

describe('the layering of src/', () => {
  const files = sourceFiles(SRC);

  it('puts every source file in a folder of a known layer', () => {
    const strays = files.map((file) => relative(SRC, file)).filter((file) => !rank.has(file.split(sep)[0]!));
    expect(strays, 'add the folder to LAYERS (and to the README) or move the file').toEqual([]);
  });

  it('imports only from the same folder or a lower layer', () => {
    const wrong = files.flatMap((file) => violations(file, readFileSync(file, 'utf8')));
    expect(wrong, 'imports that point up or sideways').toEqual([]);
  });

  it('gives every folder a README that says what it may import', () => {
    for (const folder of rank.keys()) {
      const readme = readFileSync(join(SRC, folder, 'README.md'), 'utf8');
      const line = /^May import: (.*)$/m.exec(readme)?.[1];
      const expected =
        allowed(folder).length === 0
          ? 'nothing of ours'
          : allowed(folder)
              .map((f) => `\`${f}\``)
              .join(', ');
      expect(line, `src/${folder}/README.md`).toBe(expected);
    }
  });

  it('refuses imports that point up or sideways, and accepts those that point down', () => {
    const codec = join(SRC, 'codecs', 'example.ts');
    expect(violations(codec, "import { planSteps } from '../pipeline/plan.ts';")).toEqual([
      'codecs/example.ts -> ../pipeline/plan.ts',
    ]);
    expect(violations(join(SRC, 'config', 'x.ts'), "export { a } from '../image/raw.ts';")).toHaveLength(1);
    expect(violations(join(SRC, 'core', 'x.ts'), "const m = await import('../storage/s3.ts');")).toHaveLength(
      1,
    );
    expect(
      violations(codec, "import type { RawImage } from '../image/raw.ts';\nimport './wasm.ts';"),
    ).toEqual([]);
  });
});
