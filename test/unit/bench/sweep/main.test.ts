import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SweepDocument } from '../../../../bench/sweep/document.ts';
import { main } from '../../../../bench/sweep/main.ts';

/**
 * The whole local sweep, small: one size and one photo, real child processes (inside a cgroup
 * where this machine allows it, modelled otherwise). Durations are not asserted: only that the
 * four outputs are written and agree with each other.
 */
describe('npm run bench -- sweep', () => {
  it('writes sweep.json, the Markdown report, the SVG chart and the tfvars file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-'));
    const tfvars = join(out, 'envs', 'test', 'tuning.tfvars.json');
    const code = await main([
      '--memory',
      '1769',
      '--corpus',
      'fixtures/photos/portrait-friends-dogs.jpg',
      '--runs',
      '1',
      '--out',
      out,
      '--tfvars',
      tfvars,
      '--wait-quiet',
      '0',
    ]);
    expect(code).toBe(0);
    for (const file of ['sweep.json', 'sweep.md', 'sweep.svg'])
      expect(existsSync(join(out, file))).toBe(true);
    const doc = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as SweepDocument;
    expect(doc.rows).toHaveLength(1);
    const [row] = doc.rows;
    expect(['measured', 'modelled']).toContain(row!.mode);
    expect(row!.images[0]).toMatchObject({
      image: 'fixtures/photos/portrait-friends-dogs.jpg',
      pixels: 1065 * 1600,
    });
    expect(row!.images[0]!.warm).toHaveLength(1);
    expect(doc.provenance.corpusHash).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.choice?.memoryMb).toBe(1769);
    const vars = JSON.parse(readFileSync(tfvars, 'utf8')) as Record<string, number>;
    expect(Object.keys(vars)).toEqual([
      'lambda_memory_size',
      'lambda_timeout',
      'lambda_provisioned_concurrency',
      'max_input_pixels',
    ]);
    expect(vars).toEqual(doc.tfvars);
    expect(readFileSync(join(out, 'sweep.md'), 'utf8')).toContain(
      `| 1769 | 1.00 | 1 | ${row!.mode === 'modelled' ? 'MODELLED' : 'measured'} |`,
    );
  });

  it('exits with 2 and names the flag for a bad value', async () => {
    expect(await main(['--runs', 'many'])).toBe(2);
    expect(await main(['--corpus', 'no/such/folder', '--wait-quiet', '0'])).toBe(2);
    expect(await main(['--from', 'no/such/sweep.json'])).toBe(2);
    expect(await main(['--from', 'x.json', '--memory', '512'])).toBe(2);
  });
});
