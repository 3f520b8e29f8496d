import { copyFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * A disk that fills up half way through a write: no real filesystem here can be made to do that on
 * demand, so writeFile of node:fs/promises is wrapped (and only while `full` is set) to write the
 * first half of what it is given and then fail with ENOSPC, as a full disk does. Every other file
 * operation is the real one.
 */
let full = false;
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof real.writeFile = async (path, data, options) => {
    if (!full) return real.writeFile(path, data, options);
    const text = String(data);
    await real.writeFile(path, text.slice(0, Math.floor(text.length / 2)), options);
    throw Object.assign(new Error(`ENOSPC: no space left on device, write '${String(path)}'`), {
      code: 'ENOSPC',
    });
  };
  return { ...real, default: { ...real, writeFile }, writeFile };
});

const { main } = await import('../../../../bench/sweep/main.ts');
const { buildTfvars, writeTfvars } = await import('../../../../bench/sweep/tfvars.ts');

afterEach(() => {
  full = false;
});

describe('the sweep writes its outputs atomically', () => {
  it('a tuning file whose write fails keeps the previous one whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-tfvars-atomic-'));
    const path = join(dir, 'tuning.tfvars.json');
    copyFileSync('terraform/envs/dev/tuning.tfvars.json', path);
    const before = readFileSync(path, 'utf8');
    full = true;
    await expect(
      writeTfvars(
        path,
        buildTfvars({
          memoryMb: 3008,
          architecture: 'arm64',
          strategy: 'cost',
          timeoutSeconds: 20,
          timeoutBasisMs: 6000,
          provisionedConcurrency: 2,
          maxInputPixels: 50_000_000,
          pixelFit: { kind: 'fallback', reason: 'test' },
        }),
      ),
    ).rejects.toThrow(/ENOSPC/);
    // It was cut in half in place, which `terraform plan -var-file` then refused as invalid JSON.
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(dir)).toEqual(['tuning.tfvars.json']);
  });

  it('--from with --out its own folder keeps the stored sweep.json whole when a write fails', async () => {
    // The published sweep is chosen again in place (bench/README.md: --from docs/benchmarks/sweep.json
    // --out docs/benchmarks): the file read is the file rewritten, its rows those of a 10-minute run.
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-atomic-'));
    for (const file of ['sweep.json', 'sweep.md', 'sweep.svg'])
      copyFileSync(join('docs/benchmarks', file), join(dir, file));
    copyFileSync('terraform/envs/dev/tuning.tfvars.json', join(dir, 'tuning.tfvars.json'));
    const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    try {
      full = true;
      code = await main([
        '--from',
        join(dir, 'sweep.json'),
        '--out',
        dir,
        '--tfvars',
        join(dir, 'tuning.tfvars.json'),
        '--strategy',
        'speed',
      ]);
    } finally {
      full = false;
      stderr.mockRestore();
      stdout.mockRestore();
    }
    expect(code).toBe(1);
    const after = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
    expect(after).toEqual(before);
    expect(JSON.parse(after['sweep.json']!).rows).toHaveLength(10);
  });
});
