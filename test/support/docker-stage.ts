import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { REPO_ROOT } from './cli.ts';

/**
 * Runs a Dockerfile's `build` stage without Docker (no engine here): its build context is what the
 * ignore file lets in (`*`, then its `!` exceptions, a folder's ending in /); the stage is a scratch
 * folder holding each of its COPY instructions' sources, each of which must be in that context, and
 * the repository's node_modules for its `npm ci` (already patched, as the stage's RUN patches it).
 * Then tsc and `scripts/build.ts <buildArgs> --outdir <dir>`, as its RUN does. Returns the names of
 * the files built. Throws naming the source of a COPY the context leaves out, or the build's error.
 */
export function buildStage(dockerfile: string, ignoreFile: string, buildArgs: readonly string[]): string[] {
  const text = readFileSync(join(REPO_ROOT, dockerfile), 'utf8');
  const allowed = readFileSync(join(REPO_ROOT, ignoreFile), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1));
  const inContext = (path: string) =>
    allowed.some(
      (entry) => entry === path || entry === `${path}/` || (entry.endsWith('/') && path.startsWith(entry)),
    );
  const start = text.indexOf(' AS build');
  if (start === -1) throw new Error(`${dockerfile} has no build stage`);
  const next = text.indexOf('\nFROM ', start);
  const stage = text.slice(start, next === -1 ? undefined : next);
  const workdir = mkdtempSync(join(tmpdir(), 'imgpipe-docker-build-'));
  const outdir = mkdtempSync(join(tmpdir(), 'imgpipe-docker-dist-'));
  try {
    for (const line of stage.match(/^COPY (?!--from).*$/gm) ?? []) {
      const args = line.split(/\s+/).slice(1);
      const dest = args.pop()!;
      for (const source of args) {
        if (!inContext(source))
          throw new Error(`${dockerfile}: ${line}: ${source} is outside the build context (${ignoreFile})`);
        const target =
          dest.endsWith('/') && !statSync(join(REPO_ROOT, source)).isDirectory()
            ? join(workdir, dest, basename(source))
            : join(workdir, dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(join(REPO_ROOT, source), target, { recursive: true });
      }
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(workdir, 'node_modules'));
    const run = (args: string[]) =>
      execFileSync(process.execPath, args, { cwd: workdir, encoding: 'utf8', stdio: 'pipe' });
    run([join(workdir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
    run(['scripts/build.ts', ...buildArgs, '--outdir', outdir]);
    return readdirSync(outdir);
  } finally {
    rmSync(workdir, { recursive: true, force: true });
    rmSync(outdir, { recursive: true, force: true });
  }
}
