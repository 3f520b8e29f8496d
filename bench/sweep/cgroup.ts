import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Enforcement } from './model.ts';

/**
 * Lambda's CPU share enforced on this machine with a cgroup CPU quota (CFS bandwidth control):
 * quota / period = the share in CPUs. cgroup v1 (`cpu` controller: cpu.cfs_period_us,
 * cpu.cfs_quota_us) and v2 (`cpu.max`, with +cpu in the parent's cgroup.subtree_control) are both
 * supported. Only the cpu controller is touched; the memory controller is left alone.
 *
 * Each sized run gets a group of its own, created before the child starts and removed after it
 * exits. The child joins the group before it executes anything (see wrapInCgroup).
 */

/** The file operations we need, so tests can stand in for cgroupfs. */
export interface CgroupFs {
  readFile(path: string): string;
  writeFile(path: string, data: string): void;
  mkdir(path: string): void;
  rmdir(path: string): void;
  /** The entries of a folder (stale groups); without it, none are looked for. */
  readdir?(path: string): string[];
}

export const realCgroupFs: CgroupFs = {
  readFile: (path) => readFileSync(path, 'utf8'),
  writeFile: (path, data) => writeFileSync(path, data),
  mkdir: (path) => mkdirSync(path),
  rmdir: (path) => rmdirSync(path),
  readdir: (path) => readdirSync(path),
};

export interface CpuMount {
  readonly version: 1 | 2;
  /**
   * Where groups are created: from findCpuMount, where the hierarchy with the cpu controller is
   * mounted; from detectCgroup, this process's own cgroup in it (ownCgroupFolder).
   */
  readonly path: string;
}

export const CFS_PERIOD_US = 100_000;
/** The kernel refuses quotas below 1 ms. */
const MIN_QUOTA_US = 1_000;

/**
 * Finds the hierarchy with the cpu controller from /proc/self/mounts: a cgroup2 mount whose
 * cgroup.controllers lists `cpu` (pure v2), else a v1 `cgroup` mount with the `cpu` option (v1, or
 * the hybrid layout where v2 is mounted but holds no controllers).
 */
export function findCpuMount(mounts: string, fs: CgroupFs): CpuMount | undefined {
  const entries = mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields.length >= 4)
    .map(([, path, type, options]) => ({
      path: unescapeMount(path!),
      type: type!,
      options: options!.split(','),
    }));
  for (const entry of entries) {
    if (entry.type !== 'cgroup2') continue;
    let controllers = '';
    try {
      controllers = fs.readFile(join(entry.path, 'cgroup.controllers'));
    } catch {
      continue;
    }
    if (controllers.split(/\s+/).includes('cpu')) return { version: 2, path: entry.path };
  }
  const v1 = entries.find((entry) => entry.type === 'cgroup' && entry.options.includes('cpu'));
  return v1 ? { version: 1, path: v1.path } : undefined;
}

/**
 * This process's own cgroup in the hierarchy mounted at `mount.path`, as `self` (/proc/self/cgroup)
 * names it: v2 `0::/path`, v1 the line whose controllers include `cpu`. Groups made there stay
 * inside what this process is held to: its container's or slice's CPU quota and (v2) cpuset.
 * Groups made at the hierarchy's root escaped both: on a v2 machine a sweep run in a slice or
 * container limited to some CPUs ran its children on all of them, and took CPU time that limit
 * kept for others. Where the path is not below the mount (a container that mounts its own cgroup
 * as the root, without a cgroup namespace), the mount is the process's cgroup.
 */
export function ownCgroupFolder(mount: CpuMount, self: string, fs: CgroupFs): string {
  const lines = self.split('\n').map((line) => line.split(':'));
  const own =
    mount.version === 2
      ? lines
          .find(([id, controllers]) => id === '0' && controllers === '')
          ?.slice(2)
          .join(':')
      : lines
          .find(([, controllers]) => controllers?.split(',').includes('cpu'))
          ?.slice(2)
          .join(':');
  const parts = (own ?? '').split('/').filter(Boolean);
  if (parts.length === 0) return mount.path;
  const folder = join(mount.path, ...parts);
  try {
    fs.readFile(join(folder, 'cgroup.procs'));
    return folder;
  } catch {
    return mount.path;
  }
}

/** /proc/mounts escapes spaces and a few other characters as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export type CgroupDetection =
  | {
      readonly available: true;
      readonly mount: CpuMount;
      /** Groups of earlier sweeps that died without removing them (removeStaleCgroups), now removed. */
      readonly removedStale?: readonly string[];
    }
  | { readonly available: false; readonly reason: string };

export interface DetectOptions {
  readonly fs?: CgroupFs;
  readonly mountsPath?: string;
  /** This process's cgroups (tests); /proc/self/cgroup. */
  readonly selfPath?: string;
  /** Name of the probe group (tests). */
  readonly probeName?: string;
  /** Whether a process is running (tests); a signal 0 to it. */
  readonly isAlive?: (pid: number) => boolean;
}

/**
 * Whether this process can enforce CPU quotas: a cpu hierarchy is mounted, and creating a group,
 * setting a quota and removing the group again works (root, not read-only, delegated...). The probe
 * is real, so the answer is the kernel's, not a guess from the user id.
 */
export function detectCgroup(options: DetectOptions = {}): CgroupDetection {
  const fs = options.fs ?? realCgroupFs;
  let mounts: string;
  try {
    mounts = fs.readFile(options.mountsPath ?? '/proc/self/mounts');
  } catch (error) {
    return { available: false, reason: `cannot read the mount table (${describe(error)}); not Linux?` };
  }
  const found = findCpuMount(mounts, fs);
  if (!found) return { available: false, reason: 'no cgroup hierarchy with the cpu controller is mounted' };
  let self = '';
  try {
    self = fs.readFile(options.selfPath ?? '/proc/self/cgroup');
  } catch {
    // No membership file: the mount's root is all there is to go on.
  }
  const mount: CpuMount = { version: found.version, path: ownCgroupFolder(found, self, fs) };
  try {
    const probe = CpuCgroup.create(mount, options.probeName ?? `imgpipe-sweep-probe-${process.pid}`, 1, fs);
    probe.remove();
  } catch (error) {
    return {
      available: false,
      reason: `cgroup v${mount.version} at ${mount.path} is not usable: ${describe(error)}`,
    };
  }
  const removedStale = removeStaleCgroups(mount.path, fs, options.isAlive ?? isAlive);
  return { available: true, mount, ...(removedStale.length > 0 ? { removedStale } : {}) };
}

/** imgpipe-sweep-<pid>-<size> (a child's group) and imgpipe-sweep-probe-<pid> (detectCgroup's). */
const GROUP_NAME = /^imgpipe-sweep-(?:probe-)?(\d+)(?:-\d+)?$/;

/**
 * Removes the groups of sweeps that are no longer running: a sweep killed outright (SIGKILL, the
 * machine's OOM killer) runs no handler, and its group stayed in the hierarchy for good. Only
 * groups whose sweep process is gone, and only empty ones (rmdir refuses a group with a process in
 * it, such as an orphaned child still running); a sweep that is running keeps its own. Returns the
 * paths removed.
 */
export function removeStaleCgroups(
  folder: string,
  fs: CgroupFs,
  alive: (pid: number) => boolean = isAlive,
): string[] {
  if (!fs.readdir) return [];
  let entries: string[];
  try {
    entries = fs.readdir(folder);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of entries) {
    const pid = GROUP_NAME.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || alive(Number(pid))) continue;
    try {
      fs.rmdir(join(folder, name));
      removed.push(join(folder, name));
    } catch {
      // Busy (a process still in it) or not ours to remove: left as it is.
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function enforcementOf(detection: CgroupDetection): Enforcement {
  return detection.available
    ? { available: true, version: detection.mount.version }
    : { available: false, reason: `no CPU quota can be enforced here (${detection.reason})` };
}

/** Groups created by this process and not yet removed: removed on exit and on signals. */
const live = new Set<CpuCgroup>();

export class CpuCgroup {
  readonly path: string;
  readonly procsPath: string;
  readonly cpus: number;
  private readonly fs: CgroupFs;

  private constructor(path: string, cpus: number, fs: CgroupFs) {
    this.path = path;
    this.procsPath = join(path, 'cgroup.procs');
    this.cpus = cpus;
    this.fs = fs;
  }

  /** Creates `<mount>/<name>` with a quota of `cpus` CPUs per 100 ms period. */
  static create(mount: CpuMount, name: string, cpus: number, fs: CgroupFs = realCgroupFs): CpuCgroup {
    if (!(cpus > 0)) throw new RangeError(`A CPU quota must be positive, not ${cpus}`);
    const quotaUs = Math.max(MIN_QUOTA_US, Math.round(cpus * CFS_PERIOD_US));
    if (mount.version === 2) enableCpuController(mount.path, fs);
    const path = join(mount.path, name);
    fs.mkdir(path);
    const group = new CpuCgroup(path, cpus, fs);
    live.add(group);
    try {
      if (mount.version === 1) {
        fs.writeFile(join(path, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        fs.writeFile(join(path, 'cpu.cfs_quota_us'), String(quotaUs));
      } else {
        fs.writeFile(join(path, 'cpu.max'), `${quotaUs} ${CFS_PERIOD_US}`);
      }
    } catch (error) {
      group.remove();
      throw error;
    }
    return group;
  }

  /** Removes the group; it must have no processes left (the child has exited). */
  remove(): void {
    try {
      this.fs.rmdir(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    live.delete(this);
  }
}

/** v2 hands a controller to child groups only if the parent lists it in cgroup.subtree_control. */
function enableCpuController(parent: string, fs: CgroupFs): void {
  const control = join(parent, 'cgroup.subtree_control');
  if (fs.readFile(control).split(/\s+/).includes('cpu')) return;
  fs.writeFile(control, '+cpu');
}

/**
 * Removes every group this process still holds, ignoring failures: for exit paths. A group whose
 * process was killed a moment ago is still busy (EBUSY) until the kernel has taken the process out
 * of it; with `waitMs`, such a group is tried again until then, blocking, since an 'exit' handler
 * cannot wait otherwise. Without the wait, a sweep that died of an uncaught error with a child
 * running killed the child and left its group behind.
 */
export function removeAllCgroups(waitMs = 0): string[] {
  const until = performance.now() + waitMs;
  const problems: string[] = [];
  for (const group of [...live]) {
    for (;;) {
      try {
        group.remove();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EBUSY' && performance.now() < until) {
          sleepSync(BUSY_RETRY_MS);
          continue;
        }
        problems.push(`${group.path}: ${describe(error)}`);
        break;
      }
    }
  }
  return problems;
}

const BUSY_RETRY_MS = 20;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function liveCgroups(): string[] {
  return [...live].map((group) => group.path);
}

/**
 * The command that runs `command args` inside the group: a shell writes its own PID into
 * cgroup.procs and then execs the command, so the process is in the group before its first
 * instruction (and its threads with it).
 */
export function wrapInCgroup(
  procsPath: string,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', procsPath, command, ...args] };
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' || e?.code === 'EPERM')
    return `${e.code}: permission denied (run the sweep as root)`;
  if (e?.code === 'EROFS') return 'EROFS: the cgroup filesystem is mounted read-only';
  if (e?.code === 'EBUSY' && /subtree_control/.test(e.message ?? ''))
    return `${e.message} (cgroup v2 hands no controller to child groups of a group that has processes of its own, as this process's own cgroup has, other than the root; the sweep does not move its children out of its own cgroup, whose CPU limits they would escape, so its sizes are modelled)`;
  return error instanceof Error ? error.message : String(error);
}
