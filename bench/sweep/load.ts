import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * What the rest of the machine is doing. Measurements on a shared machine are only as good as its
 * quiet: other processes that run on the cores a measured child would use make it slower than the
 * quota would. /proc/stat counts busy time of all CPUs (steal included: the hypervisor's share).
 */
export function machineBusySeconds(stat = '/proc/stat'): number | undefined {
  try {
    const line = readFileSync(stat, 'utf8').split('\n', 1)[0]!;
    if (!line.startsWith('cpu ')) return undefined;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    // USER_HZ is 100 on every Linux the sweep supports.
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

/** Share of all CPUs busy over `windowMs` while this process idles: everyone else's load (0..1). */
export async function machineLoad(windowMs = 1000): Promise<number | undefined> {
  const before = machineBusySeconds();
  const own = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = machineBusySeconds();
  if (before === undefined || after === undefined) return undefined;
  const used = process.cpuUsage(own);
  const ownSeconds = (used.user + used.system) / 1e6;
  return Math.min(1, Math.max(0, (after - before - ownSeconds) / ((windowMs / 1000) * cpus().length)));
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
