import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Env, MemoryBudget } from '../core/config.ts';
import { envIntegerSetting } from './env.ts';
import { SETTINGS } from './settings.ts';

/**
 * The memory this process has, for the per-image memory check: IMGPIPE_MEMORY_MB when set (above
 * 0); else the least of what Lambda gives (AWS_LAMBDA_FUNCTION_MEMORY_SIZE: the function is
 * stopped when it uses more), the memory limit of the process's cgroup (a container's) and the
 * machine's memory.
 */
export function resolveMemory(
  env: Env,
  cgroupRoot = '/sys/fs/cgroup',
  cgroupSelf = '/proc/self/cgroup',
  machineBytes = totalmem(),
): MemoryBudget {
  const setting = SETTINGS.memoryMb;
  const explicit = envIntegerSetting(env, setting);
  if (explicit > 0) return { mb: explicit, source: setting.env };
  const candidates: MemoryBudget[] = [{ mb: Math.floor(machineBytes / MiB), source: "the machine's memory" }];
  const cgroup = readCgroupMemoryLimit(cgroupRoot, cgroupSelf);
  if (cgroup !== undefined)
    candidates.push({ mb: Math.floor(cgroup / MiB), source: 'the cgroup memory limit' });
  const lambda = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (Number.isSafeInteger(lambda) && lambda > 0)
    candidates.push({ mb: lambda, source: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' });
  // The least wins; on a tie the more specific source (Lambda, then the cgroup) names it.
  return candidates.reduce((least, next) => (next.mb <= least.mb ? next : least));
}

const MiB = 1024 * 1024;

/**
 * The memory limit of this process's own cgroup, in bytes: v2 `memory.max`, v1
 * `memory.limit_in_bytes`. Undefined when there is none ("max", or v1's page-rounded 2^63).
 */
export function readCgroupMemoryLimit(root: string, self: string): number | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const membership = read(self) ?? '';
  const join = (...parts: string[]) => parts.join('/').replace(/\/+/g, '/');
  const v2Path = /^0::(.*)$/m.exec(membership)?.[1];
  const v1Path = membership
    .split('\n')
    .map((line) => line.split(':'))
    .find(([, controllers]) => controllers?.split(',').includes('memory'))?.[2];
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
