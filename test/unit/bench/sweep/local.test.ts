import { afterEach, describe, expect, it, vi } from 'vitest';
import { runLocalSweep } from '../../../../bench/sweep/local.ts';

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
});
