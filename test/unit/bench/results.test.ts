import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The files `npm run bench` writes, from a real run of its cheapest suite (status, over a 1x1 JPEG:
 * s3rver, dynalite and the S3 handler, a few seconds). Nothing here asserts a duration.
 */
describe('npm run bench results files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-bench-results-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps a full run's bench.json when one suite runs with --only, and says what the numbers were measured on", async () => {
    const corpus = join(dir, 'corpus');
    const out = join(dir, 'out');
    mkdirSync(corpus);
    mkdirSync(out);
    copyFileSync(join(ROOT, 'fixtures/edge/formats/1x1.jpg'), join(corpus, '1x1.jpg'));
    // What a full run (every default suite) left there.
    const full = '{\n  "j1": {"ratio": 0.87}\n}\n';
    writeFileSync(join(out, 'bench.json'), full);
    writeFileSync(join(out, 'bench.md'), '# imgpipe benchmark (full run)\n');

    await promisify(execFile)(
      process.execPath,
      ['--expose-gc', 'bench/cli.ts', '--only', 'status', '--corpus', corpus, '--out', out],
      { cwd: ROOT, timeout: 120_000 },
    );

    expect(readFileSync(join(out, 'bench.json'), 'utf8')).toBe(full);
    expect(readFileSync(join(out, 'bench.md'), 'utf8')).toBe('# imgpipe benchmark (full run)\n');
    const written = JSON.parse(readFileSync(join(out, 'bench-status.json'), 'utf8'));
    expect(written.status).toEqual([expect.objectContaining({ image: '1x1.jpg', sourceReads: 1 })]);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    expect(written.provenance).toMatchObject({
      git: { commit: head },
      node: process.version,
      command: expect.stringContaining('--only status'),
    });
    expect(Number.isNaN(Date.parse(written.provenance.date))).toBe(false);
    expect(written.provenance.loadAverageAtStart).toHaveLength(3);
    expect(readFileSync(join(out, 'bench-status.md'), 'utf8')).toContain(`commit ${head.slice(0, 7)}`);
  }, 150_000);
});
