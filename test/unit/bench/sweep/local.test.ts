import { afterEach, describe, expect, it, vi } from 'vitest';
import { childEnvironment, runLocalSweep } from '../../../../bench/sweep/local.ts';
import { planRow } from '../../../../bench/sweep/model.ts';

/**
 * One real child process (modelled: no cgroup asked for), for what the child is given. Durations
 * are not asserted.
 */
describe('runLocalSweep', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("budgets each image with the size swept, not an IMGPIPE_MEMORY_MB left in the sweep's environment", async () => {
    // 400 MiB is less than the 1.0 MP photo's estimate (about 550 MiB): the child refused it as
    // over-memory-budget at 1769 MB.
    vi.stubEnv('IMGPIPE_MEMORY_MB', '400');
    const rows = await runLocalSweep({
      memories: [1769],
      images: ['fixtures/photos/texture-life-forest-stream.jpg'],
      runs: 1,
      detection: { available: false, reason: 'not asked for in this test' },
      machineCpus: 1,
      maxForeignCpu: 1,
      waitQuietMs: 0,
      progress: { start() {}, step() {}, advance() {}, stop() {} },
    });
    expect(rows[0]!.failures).toEqual([]);
    expect(rows[0]!.images).toHaveLength(1);
  }, 120_000);

  it("runs every size, measured or modelled, with the encoder threads the function starts there, not an IMGPIPE_WORKERS left in the sweep's environment", () => {
    // The deployment never sets IMGPIPE_WORKERS: the function starts defaultWorkers() threads, two
    // at 3538 MB. A measured child (in a cgroup: not run here, whose quota needs root) honoured the
    // shell's count while its row said Lambda's.
    const parent = { PATH: '/usr/bin', IMGPIPE_WORKERS: '1', IMGPIPE_MEMORY_MB: '400' };
    const measured = planRow(3538, { available: true, version: 1 }, 2);
    const modelled = planRow(3538, { available: false, reason: 'test' }, 2);
    expect([measured.mode, measured.workers, modelled.mode, modelled.workers]).toEqual([
      'measured',
      2,
      'modelled',
      2,
    ]);
    for (const plan of [measured, modelled]) {
      const env = childEnvironment(plan, parent);
      expect(env.IMGPIPE_WORKERS).toBeUndefined();
      expect(env.IMGPIPE_MEMORY_MB).toBeUndefined();
      expect(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE).toBe('3538');
      expect(env.PATH).toBe('/usr/bin');
    }
    expect(parent.IMGPIPE_WORKERS).toBe('1');
  });
});
