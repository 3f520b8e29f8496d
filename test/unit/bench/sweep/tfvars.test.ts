import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTfvars, renderTfvars, TFVARS_KEYS, writeTfvars } from '../../../../bench/sweep/tfvars.ts';
import type { Derived } from '../../../../bench/sweep/types.ts';

const derived: Derived = {
  memoryMb: 1769,
  architecture: 'arm64',
  strategy: 'cost',
  timeoutSeconds: 27,
  timeoutBasisMs: 8800,
  provisionedConcurrency: 4,
  maxInputPixels: 100_000_000,
  pixelFit: { kind: 'fallback', reason: 'test' },
};

describe('tfvars writer', () => {
  it('writes exactly the four tuning keys, in order, pretty-printed with a trailing newline', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'imgpipe-tfvars-')), 'envs', 'dev', 'tuning.tfvars.json');
    await writeTfvars(path, buildTfvars(derived));
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n  "lambda_memory_size": 1769,\n');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([...TFVARS_KEYS]);
    expect(Object.keys(parsed)).toEqual([
      'lambda_memory_size',
      'lambda_timeout',
      'lambda_provisioned_concurrency',
      'max_input_pixels',
    ]);
    expect(parsed).toEqual({
      lambda_memory_size: 1769,
      lambda_timeout: 27,
      lambda_provisioned_concurrency: 4,
      max_input_pixels: 100_000_000,
    });
    for (const value of Object.values(parsed)) expect(Number.isInteger(value)).toBe(true);
  });

  it('refuses values Terraform would reject', () => {
    // The workflow module's Process function takes the same timeout and refuses more than 110 s.
    expect(() => buildTfvars({ ...derived, timeoutSeconds: 111 })).toThrow(
      /lambda_timeout must be an integer between 1 and 110, not 111/,
    );
    expect(buildTfvars({ ...derived, timeoutSeconds: 110 }).lambda_timeout).toBe(110);
    expect(() => buildTfvars({ ...derived, memoryMb: 1769.5 })).toThrow(/lambda_memory_size/);
    // Terraform's floor: below 512 MB the encoder's baseline leaves no room for an image.
    expect(() => buildTfvars({ ...derived, memoryMb: 384 })).toThrow(/lambda_memory_size/);
    expect(buildTfvars({ ...derived, memoryMb: 512 }).lambda_memory_size).toBe(512);
    expect(() => buildTfvars({ ...derived, provisionedConcurrency: 10_001 })).toThrow(
      /lambda_provisioned_concurrency/,
    );
  });

  it('renders the same text every time', () => {
    expect(renderTfvars(buildTfvars(derived))).toBe(
      '{\n  "lambda_memory_size": 1769,\n  "lambda_timeout": 27,\n  "lambda_provisioned_concurrency": 4,\n  "max_input_pixels": 100000000\n}\n',
    );
  });
});
