import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { detectCgroup } from '../../../../bench/sweep/cgroup.ts';

/**
 * A real sweep process (runLocalSweep with the interrupt handlers, as `npm run bench -- sweep`
 * installs them) that dies while its child runs in a real cgroup with a CPU quota: the group must
 * not outlive it. Needs a writable cpu controller (root on cgroup v1, or the v2 root); skipped
 * elsewhere. No duration is asserted: the sweep dies once the child is in its group.
 */
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const cgroups = detectCgroup();

const SCRIPT = `
import { readFileSync } from 'node:fs';
import { detectCgroup } from ${JSON.stringify(join(root, 'bench/sweep/cgroup.ts'))};
import { installInterruptHandlers, runLocalSweep } from ${JSON.stringify(join(root, 'bench/sweep/local.ts'))};
const detection = detectCgroup();
installInterruptHandlers((line) => process.stderr.write(line + '\\n'));
const group = detection.mount.path + '/imgpipe-sweep-' + process.pid + '-1769';
const how = process.argv[2];
// Once the child has joined its group, die as asked.
const poll = setInterval(() => {
  let pid = '';
  try { pid = readFileSync(group + '/cgroup.procs', 'utf8').trim(); } catch {}
  if (!pid) return;
  clearInterval(poll);
  process.stdout.write(JSON.stringify({ group, child: Number(pid.split('\\n')[0]) }) + '\\n');
  if (how === 'throw') throw new Error('an uncaught error in the sweep');
  if (how === 'SIGKILL') return; // the test kills this process: no handler runs
  process.kill(process.pid, how);
}, 20);
await runLocalSweep({
  memories: [1769],
  images: [${JSON.stringify(join(root, 'fixtures/photos/texture-life-forest-stream.jpg'))}],
  runs: 5,
  detection,
  machineCpus: 2,
  maxForeignCpu: 1,
  waitQuietMs: 0,
  progress: { start() {}, step() {}, advance() {}, stop() {} },
});
`;

const leftovers: { group: string; child: number }[] = [];
const dirs: string[] = [];

afterEach(() => {
  // A failing run must not leave the machine with a running child or a group.
  for (const { group, child } of leftovers.splice(0)) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {}
    for (let i = 0; i < 50 && existsSync(group); i++) {
      try {
        rmdirSync(group);
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      }
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts the sweep process and resolves once its child is in its group, with both PIDs. */
async function sweepWithChildInGroup(): Promise<{
  sweep: ReturnType<typeof spawn>;
  closed: Promise<void>;
  group: string;
  child: number;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-interrupt-'));
  dirs.push(dir);
  const script = join(dir, 'sweep.mts');
  writeFileSync(script, SCRIPT);
  const sweep = spawn(process.execPath, [script, 'SIGKILL'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closed = new Promise<void>((resolve) => sweep.on('close', () => resolve()));
  const found = await new Promise<{ group: string; child: number }>((resolve, reject) => {
    let stdout = '';
    sweep.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { group: string; child: number });
    });
    sweep.on('close', (code) =>
      reject(new Error(`The sweep ended before its child joined a group (${code})`)),
    );
  });
  leftovers.push(found);
  return { sweep, closed, ...found };
}

async function dieWhileChildRuns(
  how: 'throw' | NodeJS.Signals,
): Promise<{ code: number | null; group: string; child: number; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-sweep-interrupt-'));
  dirs.push(dir);
  const script = join(dir, 'sweep.mts');
  writeFileSync(script, SCRIPT);
  const sweep = spawn(process.execPath, [script, how], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  sweep.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  sweep.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => sweep.on('close', (c) => resolve(c)));
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`The sweep ended before its child joined a group (${code}): ${stderr}`);
  const found = JSON.parse(line) as { group: string; child: number };
  leftovers.push(found);
  return { code, ...found, stderr };
}

function running(pid: number): boolean {
  try {
    // A zombie has exited: only its exit status is left.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe.runIf(cgroups.available)('the sweep dying with a child running', () => {
  it('removes the child and its cgroup after an uncaught error', async () => {
    // The exit handler killed the child and tried to remove the group at once, while the killed
    // child was still in it (EBUSY): every such crash left an imgpipe-sweep-<pid>-<size> group.
    const { code, group, child, stderr } = await dieWhileChildRuns('throw');
    expect(stderr).toContain('an uncaught error in the sweep');
    expect(code).toBe(1);
    expect(running(child)).toBe(false);
    expect(existsSync(group)).toBe(false);
  }, 120_000);

  it.each([
    ['SIGHUP', 129],
    ['SIGTERM', 143],
  ] as const)(
    'removes the child and its cgroup on %s',
    async (signal, exitCode) => {
      // SIGHUP (the terminal closed) was not handled: the sweep died at once, its child ran on in
      // the group and the group stayed.
      const { code, group, child } = await dieWhileChildRuns(signal);
      expect(code).toBe(exitCode);
      expect(running(child)).toBe(false);
      expect(existsSync(group)).toBe(false);
    },
    120_000,
  );

  it('removes the group of a sweep killed outright when the next sweep starts', async () => {
    // SIGKILL (or the OOM killer) runs no handler: the child is orphaned and its group stayed for
    // good. The next sweep's detectCgroup removes empty groups whose sweep process is gone.
    const { sweep, closed, group, child } = await sweepWithChildInGroup();
    sweep.kill('SIGKILL');
    await closed;
    expect(existsSync(group)).toBe(true);
    process.kill(child, 'SIGKILL');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (!running(child)) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    const detection = detectCgroup();
    expect(detection.available && detection.removedStale).toContain(group);
    expect(existsSync(group)).toBe(false);
  }, 120_000);
});
