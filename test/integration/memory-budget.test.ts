import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { runCli } from '../support/cli.ts';
import { fixturePath } from '../support/fixtures.ts';

/** The memory budget from the entry points: the CLI's environment, and Lambda's memory size. */
describe('the memory budget at the entry points', () => {
  it('quarantines an image over IMGPIPE_MEMORY_MB in imgpipe process, with the estimate in the record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-memory-'));
    mkdirSync(join(dir, 'in'));
    copyFileSync(fixturePath('edge/formats/avif-10bit-444.avif'), join(dir, 'in', 'deep.avif'));
    // Below the baseline alone: whatever the image, it cannot fit.
    const run = await runCli(['process', 'in', '--out', 'out'], {
      cwd: dir,
      env: { IMGPIPE_MEMORY_MB: '100' },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/in\/deep\.avif\s+quarantined \(over-memory-budget\)/);
    const record = JSON.parse(
      readFileSync(join(dir, 'out', 'quarantine', 'reasons', 'deep.avif.json'), 'utf8'),
    );
    expect(record).toMatchObject({ reason: 'over-memory-budget' });
    expect(record.message).toMatch(
      /^The avif image of 192x128 needs an estimated \d+ MiB of memory, more than the 100 MiB the process has \(IMGPIPE_MEMORY_MB\): .* for avif 10-bit 4:4:4 = /,
    );
  });

  it('gives the Lambda function its memory size as the budget', () => {
    const config = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: 'out',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769',
    });
    expect(config.pipeline.limits.memory).toEqual({ mb: 1769, source: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' });
  });
});
