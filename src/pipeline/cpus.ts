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
 * (`cpu.max`) and v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`). A cgroup is also held to its
 * ancestors' quotas: the least along the path counts, as for the memory limit (config/memory.ts);
 * a quota on a parent (a container runtime's slice) with none on the process's own was missed.
 */
export function readCgroupQuota(
  root = '/sys/fs/cgroup',
  self = '/proc/self/cgroup',
): CgroupQuota | undefined {
  const read = readTextFile;
  const join = joinCgroupPath;
  const own = ownCgroup(self, 'cpu');
  // The folders from the hierarchy's root down to the process's own cgroup.
  const along = (base: string, path: string | undefined) => {
    const parts = (path ?? '/').split('/').filter(Boolean);
    return Array.from({ length: parts.length + 1 }, (_, depth) => join(base, ...parts.slice(0, depth)));
  };
  const least = (quotas: (number | undefined)[]) => {
    const limited = quotas.filter((cpus): cpus is number => cpus !== undefined);
    return limited.length > 0 ? Math.min(...limited) : undefined;
  };

  const v2 = along(root, own.v2)
    .map((folder) => read(join(folder, 'cpu.max')))
    .filter((text): text is string => text !== undefined);
  if (v2.length > 0) {
    return {
      version: 2,
      cpus: least(
        v2.map((text) => {
          const [quota, period] = text.split(/\s+/);
          return quota === 'max' ? undefined : Number(quota) / Number(period);
        }),
      ),
    };
  }
  for (const mount of ['cpu', 'cpu,cpuacct']) {
    const found: (number | undefined)[] = [];
    for (const folder of along(join(root, mount), own.v1)) {
      const quota = read(join(folder, 'cpu.cfs_quota_us'));
      const period = read(join(folder, 'cpu.cfs_period_us'));
      if (quota !== undefined && period !== undefined)
        found.push(Number(quota) <= 0 ? undefined : Number(quota) / Number(period));
    }
    if (found.length > 0) return { version: 1, cpus: least(found) };
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
