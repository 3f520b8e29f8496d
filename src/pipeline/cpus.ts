import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Env } from '../config/env.ts';

/**
 * How much CPU this process may use. Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB,
 * up to six at 10,240 MB, and says so only through the memory size; containers may set a cgroup
 * CPU quota; the scheduler may restrict the process to some cores. The smallest of the three wins.
 */
export const MB_PER_VCPU = 1769;
export const MAX_LAMBDA_VCPUS = 6;

export function lambdaVcpus(memoryMb: number): number {
  return Math.min(MAX_LAMBDA_VCPUS, memoryMb / MB_PER_VCPU);
}

export interface CgroupQuota {
  readonly version: 1 | 2;
  /** CPUs' worth of time per period, e.g. 1.5; undefined when unlimited. */
  readonly cpus: number | undefined;
}

/** Reads the CPU quota of this process's cgroup (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`). */
export function readCgroupQuota(root = '/sys/fs/cgroup'): CgroupQuota | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const v2 = read(`${root}/cpu.max`);
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return { version: 2, cpus: quota === 'max' ? undefined : Number(quota) / Number(period) };
  }
  const quota = read(`${root}/cpu/cpu.cfs_quota_us`) ?? read(`${root}/cpu,cpuacct/cpu.cfs_quota_us`);
  const period = read(`${root}/cpu/cpu.cfs_period_us`) ?? read(`${root}/cpu,cpuacct/cpu.cfs_period_us`);
  if (quota === undefined || period === undefined) return undefined;
  return { version: 1, cpus: Number(quota) <= 0 ? undefined : Number(quota) / Number(period) };
}

export function availableCpus(env: Env = process.env, cgroupRoot?: string): number {
  const limits = [availableParallelism()];
  const memory = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (Number.isFinite(memory) && memory > 0) limits.push(lambdaVcpus(memory));
  const quota = readCgroupQuota(cgroupRoot)?.cpus;
  if (quota !== undefined) limits.push(quota);
  return Math.min(...limits);
}

/**
 * Encoder threads for the CPUs we get: one CPU or less encodes in the calling thread (a worker
 * would only add copying); from 1.5 CPUs on, one worker per (rounded) CPU.
 */
export function defaultWorkers(env: Env = process.env, cgroupRoot?: string): number {
  const cpus = availableCpus(env, cgroupRoot);
  return cpus < 1.5 ? 1 : Math.round(cpus);
}
