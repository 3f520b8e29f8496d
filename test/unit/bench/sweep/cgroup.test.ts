import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CFS_PERIOD_US,
  type CgroupFs,
  CpuCgroup,
  detectCgroup,
  enforcementOf,
  findCpuMount,
  liveCgroups,
  removeAllCgroups,
  wrapInCgroup,
} from '../../../../bench/sweep/cgroup.ts';

/**
 * An in-memory stand-in for cgroupfs: mkdir creates a group with its control files, rmdir removes
 * it, and chosen operations fail with the errno a real kernel gives.
 */
class FakeCgroupFs implements CgroupFs {
  readonly files = new Map<string, string>();
  readonly groups = new Set<string>();
  failMkdir?: string;
  failWrite?: { path: RegExp; code: string };

  constructor(mounts: string, extra: Record<string, string> = {}) {
    this.files.set('/proc/self/mounts', mounts);
    for (const [path, text] of Object.entries(extra)) this.files.set(path, text);
  }

  readFile(path: string): string {
    const text = this.files.get(path);
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  }

  writeFile(path: string, data: string): void {
    if (this.failWrite?.path.test(path)) {
      throw Object.assign(new Error(`${this.failWrite.code}: ${path}`), { code: this.failWrite.code });
    }
    if (path.endsWith('cgroup.subtree_control')) {
      const current = this.files.get(path) ?? '';
      this.files.set(path, `${current} ${data.replace('+', '')}`.trim());
      return;
    }
    this.files.set(path, data);
  }

  mkdir(path: string): void {
    if (this.failMkdir)
      throw Object.assign(new Error(`${this.failMkdir}: ${path}`), { code: this.failMkdir });
    if (this.groups.has(path)) throw Object.assign(new Error(`EEXIST: ${path}`), { code: 'EEXIST' });
    this.groups.add(path);
  }

  rmdir(path: string): void {
    if (!this.groups.delete(path)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    for (const file of [...this.files.keys()]) if (file.startsWith(`${path}/`)) this.files.delete(file);
  }
}

// This machine's layout: cgroup v1 controllers, plus an empty v2 hierarchy (hybrid).
const HYBRID = [
  'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
  'cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0',
  'cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0',
  'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
  'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
].join('\n');
const V2 = 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n';

afterEach(() => {
  removeAllCgroups();
});

describe('findCpuMount', () => {
  it('finds the v1 cpu controller in a hybrid layout whose v2 hierarchy has no controllers', () => {
    const fs = new FakeCgroupFs(HYBRID, { '/sys/fs/cgroup/unified/cgroup.controllers': '' });
    expect(findCpuMount(HYBRID, fs)).toEqual({ version: 1, path: '/sys/fs/cgroup/cpu' });
  });

  it('finds a combined cpu,cpuacct v1 mount', () => {
    const mounts = 'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n';
    expect(findCpuMount(mounts, new FakeCgroupFs(mounts))).toEqual({
      version: 1,
      path: '/sys/fs/cgroup/cpu,cpuacct',
    });
  });

  it('prefers v2 when its hierarchy has the cpu controller', () => {
    const fs = new FakeCgroupFs(V2, { '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n' });
    expect(findCpuMount(V2, fs)).toEqual({ version: 2, path: '/sys/fs/cgroup' });
  });

  it('finds nothing without a cpu controller', () => {
    const fs = new FakeCgroupFs(V2, { '/sys/fs/cgroup/cgroup.controllers': 'memory pids\n' });
    expect(findCpuMount(V2, fs)).toBeUndefined();
  });
});

describe('detectCgroup', () => {
  it('reports v1 as usable after creating, limiting and removing a probe group', () => {
    const fs = new FakeCgroupFs(HYBRID);
    const detection = detectCgroup({ fs, probeName: 'probe' });
    expect(detection).toEqual({ available: true, mount: { version: 1, path: '/sys/fs/cgroup/cpu' } });
    expect(fs.groups.size).toBe(0);
    expect(liveCgroups()).toEqual([]);
  });

  it('enables the cpu controller for child groups on v2', () => {
    const fs = new FakeCgroupFs(V2, {
      '/sys/fs/cgroup/cgroup.controllers': 'cpu memory',
      '/sys/fs/cgroup/cgroup.subtree_control': 'memory',
    });
    expect(detectCgroup({ fs, probeName: 'probe' }).available).toBe(true);
    expect(fs.files.get('/sys/fs/cgroup/cgroup.subtree_control')).toBe('memory cpu');
  });

  it('says why when it may not create groups (not root)', () => {
    const fs = new FakeCgroupFs(HYBRID);
    fs.failMkdir = 'EACCES';
    const detection = detectCgroup({ fs, probeName: 'probe' });
    expect(detection).toEqual({
      available: false,
      reason: expect.stringMatching(
        /cgroup v1 at \/sys\/fs\/cgroup\/cpu is not usable: EACCES: permission denied/,
      ),
    });
    expect(enforcementOf(detection)).toEqual({
      available: false,
      reason: expect.stringMatching(/^no CPU quota can be enforced here/),
    });
  });

  it('says why on a read-only cgroup filesystem, and leaves no group behind', () => {
    const fs = new FakeCgroupFs(HYBRID);
    fs.failWrite = { path: /cfs_quota_us$/, code: 'EROFS' };
    expect(detectCgroup({ fs, probeName: 'probe' })).toEqual({
      available: false,
      reason: expect.stringMatching(/read-only/),
    });
    expect(fs.groups.size).toBe(0);
  });

  it('says why when v2 will not hand the cpu controller to child groups', () => {
    const fs = new FakeCgroupFs(V2, {
      '/sys/fs/cgroup/cgroup.controllers': 'cpu memory',
      '/sys/fs/cgroup/cgroup.subtree_control': '',
    });
    fs.failWrite = { path: /subtree_control$/, code: 'EBUSY' };
    expect(detectCgroup({ fs, probeName: 'probe' })).toMatchObject({ available: false });
  });

  it('says why when there is no cpu hierarchy or no mount table', () => {
    expect(detectCgroup({ fs: new FakeCgroupFs('proc /proc proc rw 0 0\n') })).toEqual({
      available: false,
      reason: 'no cgroup hierarchy with the cpu controller is mounted',
    });
    expect(detectCgroup({ fs: new FakeCgroupFs(''), mountsPath: '/nonexistent' })).toMatchObject({
      available: false,
      reason: expect.stringMatching(/cannot read the mount table/),
    });
  });
});

describe('detectCgroup: where the groups go', () => {
  it("makes groups inside this process's own v1 cpu cgroup", () => {
    const own = '/sys/fs/cgroup/cpu/ci/job-7';
    const fs = new FakeCgroupFs(HYBRID, {
      '/proc/self/cgroup': '4:memory:/ci/job-7\n1:cpu:/ci/job-7\n0::/\n',
      [`${own}/cgroup.procs`]: '123\n',
    });
    expect(detectCgroup({ fs, probeName: 'probe' })).toEqual({
      available: true,
      mount: { version: 1, path: own },
    });
  });

  it("uses the mount when it is the process's own cgroup (a container mounting its own as the root)", () => {
    const fs = new FakeCgroupFs(HYBRID, { '/proc/self/cgroup': '1:cpu:/docker/0123abcd\n' });
    expect(detectCgroup({ fs, probeName: 'probe' })).toEqual({
      available: true,
      mount: { version: 1, path: '/sys/fs/cgroup/cpu' },
    });
  });

  it('does not escape to the v2 root: a group with processes hands no controller on, and it says so', () => {
    // A sweep in a session or slice (its cpu.max and cpuset): a group at the root left both, and the
    // root's subtree_control was changed for the whole machine.
    const own = '/sys/fs/cgroup/user.slice/session-3.scope';
    const fs = new FakeCgroupFs(V2, {
      '/sys/fs/cgroup/cgroup.controllers': 'cpu memory',
      '/sys/fs/cgroup/cgroup.subtree_control': 'memory',
      '/proc/self/cgroup': '0::/user.slice/session-3.scope\n',
      [`${own}/cgroup.procs`]: '1\n2\n',
      [`${own}/cgroup.subtree_control`]: '',
    });
    fs.failWrite = { path: /session-3\.scope\/cgroup\.subtree_control$/, code: 'EBUSY' };
    expect(detectCgroup({ fs, probeName: 'probe' })).toEqual({
      available: false,
      reason: expect.stringMatching(/session-3\.scope is not usable: .*processes of its own/),
    });
    expect(fs.files.get('/sys/fs/cgroup/cgroup.subtree_control')).toBe('memory');
    expect(fs.groups.size).toBe(0);
  });
});

describe('CpuCgroup', () => {
  it('sets a v1 quota of memory / 1769 CPUs per 100 ms period', () => {
    const fs = new FakeCgroupFs(HYBRID);
    const group = CpuCgroup.create({ version: 1, path: '/sys/fs/cgroup/cpu' }, 'g512', 512 / 1769, fs);
    expect(fs.files.get('/sys/fs/cgroup/cpu/g512/cpu.cfs_period_us')).toBe(String(CFS_PERIOD_US));
    expect(fs.files.get('/sys/fs/cgroup/cpu/g512/cpu.cfs_quota_us')).toBe('28943');
    expect(group.procsPath).toBe('/sys/fs/cgroup/cpu/g512/cgroup.procs');
    expect(liveCgroups()).toEqual(['/sys/fs/cgroup/cpu/g512']);
    group.remove();
    expect(fs.groups.has('/sys/fs/cgroup/cpu/g512')).toBe(false);
    expect(liveCgroups()).toEqual([]);
  });

  it('writes cpu.max on v2', () => {
    const fs = new FakeCgroupFs(V2, { '/sys/fs/cgroup/cgroup.subtree_control': 'cpu' });
    CpuCgroup.create({ version: 2, path: '/sys/fs/cgroup' }, 'g3538', 2, fs);
    expect(fs.files.get('/sys/fs/cgroup/g3538/cpu.max')).toBe('200000 100000');
  });

  it('is removed by removeAllCgroups on the way out', () => {
    const fs = new FakeCgroupFs(HYBRID);
    CpuCgroup.create({ version: 1, path: '/sys/fs/cgroup/cpu' }, 'a', 1, fs);
    CpuCgroup.create({ version: 1, path: '/sys/fs/cgroup/cpu' }, 'b', 0.5, fs);
    expect(removeAllCgroups()).toEqual([]);
    expect(fs.groups.size).toBe(0);
  });
});

describe('wrapInCgroup', () => {
  it('writes the PID of the process into cgroup.procs and then runs the command as that process', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgpipe-cgroup-'));
    const procs = join(dir, 'cgroup.procs');
    writeFileSync(procs, '');
    const { command, args } = wrapInCgroup(procs, process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]);
    const pid = execFileSync(command, args, { encoding: 'utf8' });
    // exec keeps the PID: the process that joined the group is the one that runs the command.
    expect(readFileSync(procs, 'utf8').trim()).toBe(pid);
  });
});
