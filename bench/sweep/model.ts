import { lambdaVcpus, MB_PER_VCPU, workersForCpus } from '../../src/pipeline/cpus.ts';

/**
 * Lambda's CPU share, and the model for sizes whose share this machine cannot enforce.
 *
 * Lambda gives a function CPU in proportion to its memory: memory / 1,769 MB vCPUs, at most 6
 * (src/pipeline/cpus.ts). Where the sweep can, it enforces that share with a cgroup CPU quota and
 * measures. Where it cannot (no writable cgroup, or the share is more CPUs than the machine has),
 * it runs the image without a quota, records the CPU time of the process and of its main thread,
 * and computes the duration the share would give:
 *
 *   one thread (workers = 1):  wall(s) = max(C / s, M)
 *   with a pool (workers w):   wall(s) = max(C / s, M, D + max(Emax, (C - M) / w))
 *
 * C is the CPU time of all threads, M that of the main thread, D probe + decode, Emax the largest
 * single encode of the image (measured in a run without workers), s the share in vCPUs. Every row,
 * 1 vCPU or 6, encodes AVIF with the same two aom threads (src/codecs/avif-simd.ts AVIF_THREADS:
 * one output per input on every size); the second runs in a Worker of its own, so its CPU is in C
 * and not in M, and Emax is the calling thread's share of an encode (the floor of its wall time
 * when the two threads run side by side, from 2 vCPUs up).
 * - C / s: s CPUs cannot do C CPU-milliseconds in less time (CFS enforces the share per 100 ms).
 * - M: the main thread decodes and resizes in sequence; more CPUs do not shorten it.
 * - D + ...: encodes start only after the decode; then w workers share C - M, and no encode can be
 *   split, so the largest one is a floor.
 * The terms are lower bounds, so the model is optimistic where scheduling adds waiting; the sweep
 * applies it to its measured rows too and reports the error ("model check").
 * Init is modelled the same way: max(init CPU / s, init main-thread CPU).
 */

export function lambdaShare(memoryMb: number): number {
  return lambdaVcpus(memoryMb);
}

/**
 * Encoder threads the function starts at a size on Lambda: the function's own rule
 * (src/pipeline/cpus.ts) applied to Lambda's share; the host's cores and cgroup are never the
 * limit there.
 */
export function lambdaWorkers(memoryMb: number): number {
  return workersForCpus(lambdaShare(memoryMb));
}

export interface CpuSample {
  readonly cpuMs: number;
  readonly mainCpuMs: number;
  readonly decodeMs: number;
}

export function modelWallMs(sample: CpuSample, vcpus: number, workers: number, maxEncodeCpuMs = 0): number {
  const cpuBound = sample.cpuMs / vcpus;
  if (workers <= 1) return Math.max(cpuBound, sample.mainCpuMs);
  const workersBound =
    sample.decodeMs + Math.max(maxEncodeCpuMs, Math.max(0, sample.cpuMs - sample.mainCpuMs) / workers);
  return Math.max(cpuBound, sample.mainCpuMs, workersBound);
}

export function modelInitMs(initCpuMs: number, initMainCpuMs: number, vcpus: number): number {
  return Math.max(initCpuMs / vcpus, initMainCpuMs);
}

export type Enforcement =
  | { readonly available: true; readonly version: 1 | 2 }
  | { readonly available: false; readonly reason: string };

export interface RowPlan {
  readonly memoryMb: number;
  readonly vcpus: number;
  readonly workers: number;
  readonly mode: 'measured' | 'modelled';
  /** CPUs' worth of quota to enforce (measured rows). */
  readonly cpuQuota?: number;
  readonly note: string;
}

/** Decides per size whether the share can be enforced here (measured) or must be modelled. */
export function planRow(memoryMb: number, enforcement: Enforcement, machineCpus: number): RowPlan {
  const vcpus = lambdaShare(memoryMb);
  const workers = lambdaWorkers(memoryMb);
  const share = `${vcpus.toFixed(2)} vCPU (${memoryMb} / ${MB_PER_VCPU} MB)`;
  if (!enforcement.available) {
    return { memoryMb, vcpus, workers, mode: 'modelled', note: `${share}: ${enforcement.reason}` };
  }
  if (vcpus > machineCpus + 1e-9) {
    return {
      memoryMb,
      vcpus,
      workers,
      mode: 'modelled',
      note: `${share} is more than the ${formatCpus(machineCpus)} CPUs of this machine`,
    };
  }
  return {
    memoryMb,
    vcpus,
    workers,
    mode: 'measured',
    cpuQuota: vcpus,
    note: `${share} enforced by a cgroup v${enforcement.version} CPU quota`,
  };
}

function formatCpus(cpus: number): string {
  return Number.isInteger(cpus) ? String(cpus) : cpus.toFixed(2);
}
