import { readFileSync } from 'node:fs';
import { cpus as osCpus } from 'node:os';

/**
 * The CPUs this process may run on (its affinity, `Cpus_allowed_list` in /proc/self/status, as
 * taskset or a container's cpuset sets it) that are online, or null where the affinity cannot be
 * read. The affinity may list CPUs that are not online (by default every possible CPU, e.g. 0-127
 * on a VM with CPU hot-add), which /proc/stat does not list and the scheduler leaves out
 * (sched_getaffinity, hence availableParallelism): so are they here.
 */
export function allowedCpus(
  status = '/proc/self/status',
  online = '/sys/devices/system/cpu/online',
): number[] | null {
  const text = readText(status);
  const line = text === undefined ? undefined : /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(text)?.[1];
  const ids = line === undefined ? null : cpuList(line);
  if (ids === null) return null;
  const onlineText = readText(online);
  const up = onlineText === undefined ? null : cpuList(onlineText.trim());
  const allowed = up === null ? ids : ids.filter((id) => up.includes(id));
  return allowed.length > 0 ? allowed : null;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A kernel CPU list (`0-1,4,6-7`), or null if it is not one. */
function cpuList(text: string): number[] | null {
  const ids: number[] = [];
  for (const part of text.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!range) return null;
    const first = Number(range[1]);
    const last = Number(range[2] ?? range[1]);
    for (let id = first; id <= last; id++) ids.push(id);
  }
  return ids.length > 0 ? ids : null;
}

/**
 * What the rest of the machine is doing. Measurements on a shared machine are only as good as its
 * quiet: other processes that run on the cores a measured child would use make it slower than the
 * quota would. /proc/stat counts busy time per CPU (steal included: the hypervisor's share); only
 * the CPUs this process may run on count (`cpus`, its affinity): a process busy on a core the sweep
 * is not pinned to takes nothing from it. Without an affinity, every CPU's (the `cpu` line).
 */
export function machineBusySeconds(
  stat = '/proc/stat',
  cpus: readonly number[] | null = allowedCpus(),
): number | undefined {
  try {
    const lines = readFileSync(stat, 'utf8').split('\n');
    const wanted = cpus === null ? ['cpu'] : cpus.map((id) => `cpu${id}`);
    let ticks = 0;
    for (const name of wanted) {
      const line = lines.find((row) => row.startsWith(`${name} `));
      if (line === undefined) return undefined;
      const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
      ticks += (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    }
    // USER_HZ is 100 on every Linux the sweep supports.
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/** How many CPUs machineBusySeconds counts: those this process may run on, else all of them. */
export function countedCpus(cpus: readonly number[] | null = allowedCpus()): number {
  return cpus?.length ?? osCpus().length;
}

/** Share of the CPUs this process may use busy over `windowMs` while it idles: everyone else's load (0..1). */
export async function machineLoad(windowMs = 1000): Promise<number | undefined> {
  const cpus = allowedCpus();
  const before = machineBusySeconds('/proc/stat', cpus);
  const own = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = machineBusySeconds('/proc/stat', cpus);
  if (before === undefined || after === undefined) return undefined;
  const used = process.cpuUsage(own);
  const ownSeconds = (used.user + used.system) / 1e6;
  return Math.min(1, Math.max(0, (after - before - ownSeconds) / ((windowMs / 1000) * countedCpus(cpus))));
}

/**
 * How much of the machine other processes may use while a measured child runs before it counts as
 * contended: what the child's quota leaves free, plus a tolerance (`--max-foreign-cpu`). A child
 * limited to 0.29 of 2 CPUs does not notice another process on one core; one limited to 2 of 2
 * CPUs notices anything. Shares of the whole machine (0..1).
 */
export function foreignAllowance(cpuQuota: number, machineCpus: number, tolerance: number): number {
  return Math.max(0, 1 - cpuQuota / machineCpus) + tolerance;
}
