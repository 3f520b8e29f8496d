import { availableParallelism } from 'node:os';
import { joinCgroupPath, ownCgroup, readTextFile } from '../config/cgroup.ts';
import type { Env } from '../core/config.ts';

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

/**
 * Reads the CPU quota of this process's own cgroup (as /proc/self/cgroup names it), for v2
 * (`cpu.max`) and v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`).
 */
export function readCgroupQuota(
  root = '/sys/fs/cgroup',
  self = '/proc/self/cgroup',
): CgroupQuota | undefined {
  const read = readTextFile;
  const join = joinCgroupPath;
  const own = ownCgroup(self, 'cpu');
  const v2Path = own.v2 ?? '/';
  const v1Path = own.v1 ?? '/';

  const v2 = read(join(root, v2Path, 'cpu.max')) ?? read(join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return { version: 2, cpus: quota === 'max' ? undefined : Number(quota) / Number(period) };
  }
  for (const mount of ['cpu', 'cpu,cpuacct']) {
    for (const path of [v1Path, '/']) {
      const quota = read(join(root, mount, path, 'cpu.cfs_quota_us'));
      const period = read(join(root, mount, path, 'cpu.cfs_period_us'));
      if (quota !== undefined && period !== undefined) {
        return { version: 1, cpus: Number(quota) <= 0 ? undefined : Number(quota) / Number(period) };
      }
    }
  }
  return undefined;
}

export function availableCpus(env: Env = process.env, cgroupRoot?: string, cgroupSelf?: string): number {
  const limits = [availableParallelism()];
  const memory = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (Number.isFinite(memory) && memory > 0) limits.push(lambdaVcpus(memory));
  const quota = readCgroupQuota(cgroupRoot, cgroupSelf)?.cpus;
  if (quota !== undefined) limits.push(quota);
  return Math.min(...limits);
}

/**
 * Encoder threads for the CPUs we get: one CPU or less encodes in the calling thread (a worker
 * would only add copying); from 1.5 CPUs on, one worker per (rounded) CPU.
 */
export function defaultWorkers(env: Env = process.env, cgroupRoot?: string): number {
  return workersForCpus(availableCpus(env, cgroupRoot));
}

export function workersForCpus(cpus: number): number {
  return cpus < 1.5 ? 1 : Math.round(cpus);
}
