import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allowedCpus,
  countedCpus,
  foreignAllowance,
  machineBusySeconds,
} from '../../../../bench/sweep/load.ts';
import { summariseRow } from '../../../../bench/sweep/rows.ts';
import { image, pricesWith, row, run } from './helpers.ts';

describe('foreignAllowance', () => {
  it('lets other processes use what the quota leaves free, plus the tolerance', () => {
    expect(foreignAllowance(2, 2, 0.1)).toBeCloseTo(0.1, 12);
    expect(foreignAllowance(1, 2, 0.1)).toBeCloseTo(0.6, 12);
    expect(foreignAllowance(512 / 1769, 2, 0.1)).toBeCloseTo(0.955, 3);
  });
});

describe('contended rows', () => {
  const options = {
    headroom: 0.15,
    prices: pricesWith({ x86_64: 1, arm64: 1, requestPerMillion: 0 }),
    coldStartRate: 0,
    maxForeignCpu: 0.1,
    machineCpus: 2,
  };
  const busy = (foreignCpu: number) => [
    image({ warm: [run(1000, { foreignCpu })], first: run(1500, { foreignCpu: 0 }) }),
  ];

  it('flags a measured row whose runs had less CPU than its quota', () => {
    expect(summariseRow(row({ cpuQuota: 2, vcpus: 2, images: busy(0.3) }), options)?.contended).toBe(true);
    expect(summariseRow(row({ cpuQuota: 2, vcpus: 2, images: busy(0.05) }), options)?.contended).toBe(false);
  });

  it('does not flag a small quota that another process on the other core cannot reach', () => {
    expect(summariseRow(row({ cpuQuota: 0.58, images: busy(0.5) }), options)?.contended).toBe(false);
  });

  it('does not flag modelled rows: their durations come from CPU time', () => {
    const stats = summariseRow(row({ mode: 'modelled', images: busy(0.9) }), options);
    expect(stats?.contended).toBeUndefined();
    expect(stats?.foreignCpu).toBe(0.9);
  });
});

describe('machineBusySeconds', () => {
  it('adds the busy columns of the cpu line (user, nice, system, irq, softirq, steal) in seconds', () => {
    const stat = join(mkdtempSync(join(tmpdir(), 'imgpipe-stat-')), 'stat');
    writeFileSync(stat, 'cpu  1000 10 200 5000 30 0 40 5 0 0\ncpu0 500 5 100 2500 15 0 20 2 0 0\n');
    expect(machineBusySeconds(stat, null)).toBeCloseTo((1000 + 10 + 200 + 40 + 5) / 100, 12);
    expect(machineBusySeconds(join(stat, 'missing'), null)).toBeUndefined();
  });

  it('counts only the CPUs this process may run on: a process busy on another core takes nothing from it', () => {
    const folder = mkdtempSync(join(tmpdir(), 'imgpipe-stat-'));
    const stat = join(folder, 'stat');
    // cpu2 and cpu3 are busy with someone else's work; the sweep is pinned to cpu0 and cpu1.
    writeFileSync(
      stat,
      [
        'cpu  90000 0 9000 1000 0 0 0 0 0 0',
        'cpu0 100 0 10 4000 0 0 0 0 0 0',
        'cpu1 200 0 20 4000 0 0 0 0 0 0',
        'cpu2 44000 0 4000 0 0 0 0 0 0 0',
        'cpu3 45700 0 4970 0 0 0 0 0 0 0',
        '',
      ].join('\n'),
    );
    const status = join(folder, 'status');
    writeFileSync(status, 'Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n');
    // The machine's online CPUs: all four here (a missing file would leave the affinity as it is).
    const online = join(folder, 'online');
    writeFileSync(online, '0-3\n');
    expect(allowedCpus(status, online)).toEqual([0, 1]);
    expect(machineBusySeconds(stat, allowedCpus(status, online))).toBeCloseTo(
      (100 + 10 + 200 + 20) / 100,
      12,
    );
    expect(countedCpus(allowedCpus(status, online))).toBe(2);
    writeFileSync(status, 'Cpus_allowed_list:\t0,2-3,7\n');
    expect(allowedCpus(status, join(folder, 'missing'))).toEqual([0, 2, 3, 7]);
    // A CPU the file does not list cannot be counted: no figure rather than a wrong one.
    expect(machineBusySeconds(stat, [0, 7])).toBeUndefined();
    expect(allowedCpus(join(folder, 'missing'), online)).toBeNull();
  });

  it('leaves out CPUs of the affinity that are not online, as the scheduler does', () => {
    // A VM with CPU hot-add: the default affinity lists every possible CPU (0-7), the machine has
    // two online, and /proc/stat lists only those. All eight gave no load figure at all.
    const folder = mkdtempSync(join(tmpdir(), 'imgpipe-stat-'));
    const stat = join(folder, 'stat');
    writeFileSync(
      stat,
      [
        'cpu  300 0 30 8000 0 0 0 0 0 0',
        'cpu0 100 0 10 4000 0 0 0 0 0 0',
        'cpu1 200 0 20 4000 0 0 0 0 0 0',
        '',
      ].join('\n'),
    );
    const status = join(folder, 'status');
    writeFileSync(status, 'Cpus_allowed:\tff\nCpus_allowed_list:\t0-7\n');
    const online = join(folder, 'online');
    writeFileSync(online, '0-1\n');
    const cpus = allowedCpus(status, online);
    expect(cpus).toEqual([0, 1]);
    expect(machineBusySeconds(stat, cpus)).toBeCloseTo((100 + 10 + 200 + 20) / 100, 12);
    expect(countedCpus(cpus)).toBe(2);
  });
});
