import { describe, expect, it } from 'vitest';
import type { ChildMessage } from '../../../../bench/sweep/child.ts';
import { buildImageResult } from '../../../../bench/sweep/local.ts';
import {
  lambdaShare,
  lambdaWorkers,
  modelInitMs,
  modelWallMs,
  planRow,
} from '../../../../bench/sweep/model.ts';

describe("Lambda's share", () => {
  it('is memory / 1769 vCPUs, at most 6', () => {
    expect(lambdaShare(1769)).toBe(1);
    expect(lambdaShare(3538)).toBe(2);
    expect(lambdaShare(10240)).toBeCloseTo(5.79, 2);
  });

  it('gives the worker count defaultWorkers() picks on Lambda: 1 below 1.5 vCPUs, else rounded', () => {
    expect([512, 1769, 2048, 2653, 2654, 3008, 3538, 4096, 6144, 10240].map(lambdaWorkers)).toEqual([
      1, 1, 1, 1, 2, 2, 2, 2, 3, 6,
    ]);
  });
});

describe('planRow', () => {
  const cgroup = { available: true, version: 1 } as const;

  it('measures a size whose share the cgroup can enforce on this machine', () => {
    expect(planRow(1024, cgroup, 2)).toMatchObject({ mode: 'measured', cpuQuota: 1024 / 1769, workers: 1 });
    expect(planRow(3538, cgroup, 2)).toMatchObject({ mode: 'measured', cpuQuota: 2, workers: 2 });
  });

  it('models a size that asks for more CPUs than the machine has, and says so', () => {
    const plan = planRow(4096, cgroup, 2);
    expect(plan.mode).toBe('modelled');
    expect(plan.cpuQuota).toBeUndefined();
    expect(plan.workers).toBe(2);
    expect(plan.note).toBe('2.32 vCPU (4096 / 1769 MB) is more than the 2 CPUs of this machine');
  });

  it('models every size when no quota can be enforced, with the reason', () => {
    const plan = planRow(512, { available: false, reason: 'no CPU quota can be enforced here (EACCES)' }, 8);
    expect(plan.mode).toBe('modelled');
    expect(plan.note).toMatch(/0\.29 vCPU .*EACCES/);
  });
});

describe('modelWallMs', () => {
  it('without workers: CPU time over the share, but never faster than the main thread', () => {
    expect(modelWallMs({ cpuMs: 3000, mainCpuMs: 2900, decodeMs: 200 }, 0.5, 1)).toBe(6000);
    expect(modelWallMs({ cpuMs: 3000, mainCpuMs: 2900, decodeMs: 200 }, 1.2, 1)).toBe(2900);
  });

  it('with workers: the largest of CPU / share, the main thread, and decode + the encode floor', () => {
    const sample = { cpuMs: 2800, mainCpuMs: 300, decodeMs: 150 };
    // CPU-bound at a small share: 2800 / 2 = 1400.
    expect(modelWallMs(sample, 2, 2, 1000)).toBe(1400);
    // Enough CPUs: the largest single encode after the decode bounds it: 150 + 1000.
    expect(modelWallMs(sample, 5.79, 6, 1000)).toBe(1150);
    // Few workers for many CPUs: the encodes shared among them: 150 + 2500 / 2.
    expect(modelWallMs(sample, 5.79, 2, 500)).toBe(1400);
  });

  it('models init the same way', () => {
    expect(modelInitMs(600, 110, 3)).toBe(200);
    expect(modelInitMs(600, 250, 6)).toBe(250);
  });
});

describe('buildImageResult (the modelled fallback)', () => {
  const messages: ChildMessage[] = [
    { type: 'ready', initMs: 650, initCpuMs: 600, initMainCpuMs: 110, workers: 3, defaultWorkers: 2 },
    {
      type: 'run',
      index: 0,
      wallMs: 4200,
      cpuMs: 3600,
      mainCpuMs: 150,
      decodeMs: 40,
      width: 1065,
      height: 1600,
    },
    {
      type: 'run',
      index: 1,
      wallMs: 3200,
      cpuMs: 2750,
      mainCpuMs: 90,
      decodeMs: 15,
      width: 1065,
      height: 1600,
    },
    { type: 'memory', peakRssKiB: 503_000 },
    { type: 'profile', encodeCpuMs: [160, 130, 1220, 100, 80, 700, 25, 11, 170] },
  ];

  it('computes a modelled row from the CPU times and keeps what was measured beside it', () => {
    const plan = planRow(6144, { available: true, version: 1 }, 2);
    const result = buildImageResult(plan, 'portrait.jpg', messages);
    expect(result.pixels).toBe(1065 * 1600);
    expect(result.maxEncodeCpuMs).toBe(1220);
    expect(result.peakRssMb).toBeCloseTo(503_000 / 1024, 9);
    // Warm run: max(2750 / 3.47, 90, 15 + max(1220, 2660 / 3)) = 1235.
    expect(result.warm[0]!.wallMs).toBeCloseTo(1235, 9);
    expect(result.warm[0]!.unconstrainedWallMs).toBe(3200);
    expect(result.first.unconstrainedWallMs).toBe(4200);
    expect(result.initMs).toBeCloseTo(600 / plan.vcpus, 9);
    expect(result.unconstrainedInitMs).toBe(650);
  });

  it('fails an image whose run takes longer than the per-image time budget the function enforces', () => {
    // The first run took 4.2 s here; the function stops processImage at limits.maxSecondsPerImage.
    const measured = planRow(3538, { available: true, version: 1 }, 2);
    expect(() => buildImageResult(measured, 'portrait.jpg', messages, 4)).toThrow(
      'portrait.jpg took 4.2 s to process at 3538 MB, more than limits.maxSecondsPerImage (4 s): the function refuses it as too-slow',
    );
    expect(buildImageResult(measured, 'portrait.jpg', messages, 5).first.wallMs).toBe(4200);
    // A modelled size is judged by its modelled duration: 3600 ms of CPU at 0.29 vCPU is 12.4 s.
    const small = planRow(512, { available: false, reason: 'not root' }, 2);
    expect(() => buildImageResult(small, 'portrait.jpg', messages, 10)).toThrow(
      /^portrait\.jpg took 12\.4 s to process at 512 MB \(modelled\), more than limits\.maxSecondsPerImage \(10 s\)/,
    );
  });

  it('keeps the measured wall times of a measured row', () => {
    const plan = planRow(3538, { available: true, version: 1 }, 2);
    const result = buildImageResult(plan, 'portrait.jpg', messages);
    expect(result.warm[0]!.wallMs).toBe(3200);
    expect(result.warm[0]!.unconstrainedWallMs).toBeUndefined();
    expect(result.initMs).toBe(650);
  });

  it('takes the largest single encode from runs without workers', () => {
    const plan = planRow(1024, { available: true, version: 1 }, 2);
    const single: ChildMessage[] = [
      messages[0]!,
      {
        type: 'run',
        index: 0,
        wallMs: 9000,
        cpuMs: 5000,
        mainCpuMs: 4900,
        decodeMs: 60,
        encodeCpuMs: [100, 2000],
        width: 10,
        height: 10,
      },
      {
        type: 'run',
        index: 1,
        wallMs: 7000,
        cpuMs: 4000,
        mainCpuMs: 3950,
        decodeMs: 50,
        encodeCpuMs: [90, 1500],
        width: 10,
        height: 10,
      },
      {
        type: 'run',
        index: 2,
        wallMs: 7000,
        cpuMs: 4000,
        mainCpuMs: 3950,
        decodeMs: 50,
        encodeCpuMs: [90, 1700],
        width: 10,
        height: 10,
      },
      { type: 'memory', peakRssKiB: 1024 },
    ];
    // The warm runs only: the first run's encodes include JIT warm-up.
    expect(buildImageResult(plan, 'x.jpg', single).maxEncodeCpuMs).toBe(1600);
  });

  it('refuses an incomplete report', () => {
    const plan = planRow(1024, { available: true, version: 1 }, 2);
    expect(() => buildImageResult(plan, 'x.jpg', messages.slice(0, 1))).toThrow(/reported no runs/);
  });
});
