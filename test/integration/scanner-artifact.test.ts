import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildReport, buildScanner } from '../../scripts/build.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { buildStage } from '../support/docker-stage.ts';

/** The malware scanner's artifact (`node scripts/build.ts --scanner`) and scanner/Dockerfile. */
describe('scanner artifact', () => {
  let report: BuildReport;
  beforeAll(async () => {
    report = await buildScanner(mkdtempSync(join(tmpdir(), 'imgpipe-scanner-dist-')));
  });
  afterAll(() => rmSync(report.outdir, { recursive: true, force: true }));

  it('holds the scanner bundle and its notices, and no codec', () => {
    expect(report.files.map((f) => f.path)).toEqual([
      'scanner.mjs',
      'scanner.mjs.LEGAL.txt',
      'THIRD-PARTY-NOTICES.md',
    ]);
    expect(report.packages.some((name) => name.startsWith('@jsquash/'))).toBe(false);
    const notices = readFileSync(join(report.outdir, 'THIRD-PARTY-NOTICES.md'), 'utf8');
    expect(notices).toContain(
      'The imgpipe malware scanner bundle (scanner.mjs) contains the following packages.',
    );
  });

  it('imports nothing but Node built-ins', () => {
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    for (const specifier of report.externalImports['scanner.mjs'] ?? [])
      expect(builtins, specifier).toContain(specifier);
  });
});

describe('scanner/Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'scanner/Dockerfile'), 'utf8');

  it('passes the Dockerfile linter', () => {
    expect(validate(dockerfile)).toEqual([]);
  });

  it('installs Debian’s ClamAV packages and the runtime interface client, and runs scanner.handler', () => {
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=public\.ecr\.aws\/docker\/library\/node:24-bookworm-slim$/m);
    expect(dockerfile).toMatch(
      /apt-get install -y --no-install-recommends \\\n\s+clamav clamav-daemon clamav-freshclam/,
    );
    // The runtime interface client from the lockfile the runtime-parity test uses.
    expect(dockerfile).toContain(
      'COPY test/lambda-runtime/package.json test/lambda-runtime/package-lock.json ./',
    );
    expect(dockerfile).toContain('node scripts/build.ts --scanner --outdir /dist');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/var\/task\/node_modules\/\.bin\/aws-lambda-ric"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["scanner\.handler"\]$/m);
  });

  it('type-checks and builds the scanner from what its build stage copies out of its build context alone', () => {
    expect(buildStage('scanner/Dockerfile', 'scanner/Dockerfile.dockerignore', ['--scanner'])).toContain(
      'scanner.mjs',
    );
  }, 120_000);

  it('has a build context of its own that lets in what it copies', () => {
    const ignore = readFileSync(join(REPO_ROOT, 'scanner/Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const source of sources!.split(' '))
        expect(
          allowed.some(
            (a) =>
              source === a ||
              source.replace(/\/$/, '').startsWith(`${a}/`) ||
              source.replace(/\/$/, '') === a,
          ),
          source,
        ).toBe(true);
  });
});
