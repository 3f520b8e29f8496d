import { totalmem } from 'node:os';
import type { Env, MemoryBudget } from '../core/config.ts';
import { invalidSetting } from '../core/errors.ts';
import { joinCgroupPath, ownCgroup, readTextFile } from './cgroup.ts';
import { envIntegerSetting } from './env.ts';
import { SETTINGS } from './settings.ts';

/**
 * The memory this process has, for the per-image memory check: IMGPIPE_MEMORY_MB when set (above
 * 0, and at most Lambda's and the cgroup's limits: more is an error); else the least of what Lambda
 * gives (AWS_LAMBDA_FUNCTION_MEMORY_SIZE: the function is stopped when it uses more), the memory
 * limit of the process's cgroup (a container's) and the machine's memory.
 */
export function resolveMemory(
  env: Env,
  cgroupRoot = '/sys/fs/cgroup',
  cgroupSelf = '/proc/self/cgroup',
  machineBytes = totalmem(),
): MemoryBudget {
  const setting = SETTINGS.memoryMb;
  const explicit = envIntegerSetting(env, setting);
  // The limits the process is stopped at: the cgroup's (the kernel's OOM killer) and Lambda's.
  const limits: MemoryBudget[] = [];
  const cgroup = readCgroupMemoryLimit(cgroupRoot, cgroupSelf);
  if (cgroup !== undefined) limits.push({ mb: Math.floor(cgroup / MiB), source: 'the cgroup memory limit' });
  const lambda = lambdaMemoryMb(env);
  if (lambda !== undefined) limits.push({ mb: lambda, source: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' });
  // The least wins; on a tie the more specific source (Lambda, then the cgroup) names it.
  const least = (candidates: MemoryBudget[]) =>
    candidates.reduce((low, next) => (next.mb <= low.mb ? next : low));
  if (explicit > 0) {
    // More than the process may use would pass images whose decode gets it killed, instead of
    // quarantining them as over-memory-budget: the variable may say less, never more.
    const limit = limits.length > 0 ? least(limits) : undefined;
    if (limit && explicit > limit.mb)
      throw invalidSetting(
        setting.env,
        `integer between ${setting.min} and ${limit.mb}`,
        env[setting.env],
        `${limit.source} is ${limit.mb} MiB, and the process is stopped above it`,
      );
    return { mb: explicit, source: setting.env };
  }
  return least([{ mb: Math.floor(machineBytes / MiB), source: "the machine's memory" }, ...limits]);
}

const MiB = 1024 * 1024;

/** The function's memory in MB, as Lambda sets it; undefined when unset or not a whole number above 0. */
export function lambdaMemoryMb(env: Env): number | undefined {
  const mb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  return Number.isSafeInteger(mb) && mb > 0 ? mb : undefined;
}

/**
 * The memory limit of this process's own cgroup, in bytes: v2 `memory.max`, v1
 * `memory.limit_in_bytes`. Undefined when there is none ("max", or v1's page-rounded 2^63).
 */
export function readCgroupMemoryLimit(root: string, self: string): number | undefined {
  const read = readTextFile;
  const join = joinCgroupPath;
  const { v2: v2Path, v1: v1Path } = ownCgroup(self, 'memory');
  const limit = (text: string | undefined) => {
    if (text === undefined || text === 'max') return undefined;
    const bytes = Number(text);
    // v1 writes "no limit" as the largest page-aligned 64-bit value (9223372036854771712).
    return Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 62 ? bytes : undefined;
  };
  // A cgroup is also held to its ancestors' limits: the least along the path counts.
  const least = (base: string, path: string, file: string) => {
    const found: number[] = [];
    const parts = path.split('/').filter(Boolean);
    for (let depth = 0; depth <= parts.length; depth++) {
      const bytes = limit(read(join(base, ...parts.slice(0, depth), file)));
      if (bytes !== undefined) found.push(bytes);
    }
    return found.length > 0 ? Math.min(...found) : undefined;
  };
  if (v1Path !== undefined) {
    const found = least(join(root, 'memory'), v1Path, 'memory.limit_in_bytes');
    if (found !== undefined) return found;
  }
  return v2Path === undefined ? undefined : least(root, v2Path, 'memory.max');
}
