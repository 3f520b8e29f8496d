import { readFileSync } from 'node:fs';

/** A file's trimmed text, or undefined when it cannot be read (cgroup files come and go). */
export function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Joins path parts without doubled slashes ("/sys/fs/cgroup" + "/" + "memory.max"). */
export function joinCgroupPath(...parts: string[]): string {
  return parts.join('/').replace(/\/+/g, '/');
}

/**
 * This process's own cgroup, as `self` (/proc/self/cgroup) names it: v2 `0::/path`; v1
 * `<id>:cpu,cpuacct:/path` for the line whose controller list names `controller`. With a cgroup
 * namespace the process's cgroup is the root of what it sees; without one it is a path below the
 * mount. Undefined where the file has no such line.
 */
export function ownCgroup(self: string, controller: string): { v2?: string; v1?: string } {
  const membership = readTextFile(self) ?? '';
  const v2 = /^0::(.*)$/m.exec(membership)?.[1];
  const v1 = membership
    .split('\n')
    .map((line) => line.split(':'))
    .find(([, controllers]) => controllers?.split(',').includes(controller))?.[2];
  return { v2, v1 };
}
