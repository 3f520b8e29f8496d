import { type ChildProcess, spawn } from 'node:child_process';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config/settings.ts';
import { IMAGE_ENV } from '../../src/core/runtime.ts';
import { type CgroupDetection, CpuCgroup, enforcementOf, removeAllCgroups, wrapInCgroup } from './cgroup.ts';
import type { ChildMessage, ChildSpec } from './child.ts';
import { foreignAllowance, machineLoad } from './load.ts';
import { modelInitMs, modelWallMs, planRow, type RowPlan } from './model.ts';
import type { Progress } from './progress.ts';
import { median } from './stats.ts';
import type { ImageResult, RowFailure, RunSample, SweepRow } from './types.ts';

/**
 * The local sweep: for each memory size and each image, a fresh child process (child.ts) that
 * emulates the function at that size, inside a cgroup with Lambda's CPU share where this machine
 * can enforce it (measured rows), else without a quota and with durations from the model
 * (modelled rows, see model.ts). Children run one at a time so they do not compete for the CPU.
 */
export interface LocalSweepSettings {
  readonly memories: readonly number[];
  readonly images: readonly string[];
  readonly runs: number;
  readonly detection: CgroupDetection;
  /** CPUs this process may use (cores, cpuset and its own cgroup quota). */
  readonly machineCpus: number;
  /** Pipeline document for the children (IMGPIPE_CONFIG_FILE); else the environment's. */
  readonly configFile?: string;
  /** A child that takes longer is killed and its image recorded as failed. */
  readonly childTimeoutMs?: number;
  /**
   * Tolerance for other processes' load beyond what a measured child's quota leaves free: before
   * each measured child, wait (up to waitQuietMs) until the load is within it (load.ts).
   */
  readonly maxForeignCpu: number;
  readonly waitQuietMs: number;
  /**
   * limits.maxSecondsPerImage of the configuration the children run: the function refuses an image
   * whose processing takes longer (too-slow), so such a run fails the image at that size.
   */
  readonly maxSecondsPerImage?: number;
  readonly progress: Progress;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const DEFAULT_CHILD_TIMEOUT_MS = 15 * 60_000;

const running = new Set<ChildProcess>();

export async function runLocalSweep(settings: LocalSweepSettings): Promise<Omit<SweepRow, 'stats'>[]> {
  const enforcement = enforcementOf(settings.detection);
  const plans = settings.memories.map((memory) => planRow(memory, enforcement, settings.machineCpus));
  settings.progress.start(plans.length * settings.images.length);
  const rows: Omit<SweepRow, 'stats'>[] = [];
  for (const plan of plans) {
    const images: ImageResult[] = [];
    const failures: RowFailure[] = [];
    for (const image of settings.images) {
      const label = relative(process.cwd(), image) || image;
      const step = `${plan.memoryMb} MB ${plan.mode === 'modelled' ? '(modelled) ' : ''}${label}`;
      try {
        images.push(await measureImage(plan, image, label, step, settings));
      } catch (error) {
        failures.push({ image: label, message: error instanceof Error ? error.message : String(error) });
      }
      settings.progress.advance();
    }
    rows.push({
      memoryMb: plan.memoryMb,
      vcpus: plan.vcpus,
      workers: plan.workers,
      mode: plan.mode,
      note: plan.note,
      ...(plan.cpuQuota !== undefined ? { cpuQuota: plan.cpuQuota } : {}),
      images,
      failures,
    });
  }
  settings.progress.stop();
  return rows;
}

/**
 * One image at one size. A measured image whose runs were contended (other processes took more of
 * the machine than its quota leaves free, plus the tolerance) is run once more after waiting for
 * quiet, and the less contended result kept: on a shared machine that removes most of the noise at
 * little cost. Modelled images neither wait nor repeat: their durations come from CPU time.
 */
async function measureImage(
  plan: RowPlan,
  image: string,
  label: string,
  step: string,
  settings: LocalSweepSettings,
): Promise<ImageResult> {
  if (plan.mode === 'modelled') {
    settings.progress.step(step);
    return buildImageResult(plan, label, await runChild(plan, image, settings), settings.maxSecondsPerImage);
  }
  const allowance = foreignAllowance(plan.cpuQuota!, settings.machineCpus, settings.maxForeignCpu);
  let best: ImageResult | undefined;
  for (let attempt = 1; attempt <= CONTENDED_ATTEMPTS; attempt++) {
    await waitForQuiet(settings, step, allowance);
    settings.progress.step(attempt === 1 ? step : `${step} (again: the first try was contended)`);
    const result = buildImageResult(
      plan,
      label,
      await runChild(plan, image, settings),
      settings.maxSecondsPerImage,
    );
    if (best === undefined || foreignOf(result) < foreignOf(best)) best = result;
    if (foreignOf(best) <= allowance) break;
  }
  return best!;
}

const CONTENDED_ATTEMPTS = 2;

function foreignOf(result: ImageResult): number {
  return Math.max(0, ...[result.first, ...result.warm].map((run) => run.foreignCpu ?? 0));
}

/**
 * Other processes on the machine slow a measured child down beyond its quota. Waits until their
 * load is below the threshold, or the wait is up (then the child runs anyway and its runs are
 * flagged as contended from their own load figures).
 */
async function waitForQuiet(settings: LocalSweepSettings, step: string, allowance: number): Promise<void> {
  const deadline = performance.now() + settings.waitQuietMs;
  while (performance.now() < deadline) {
    const load = await machineLoad(1000);
    if (load === undefined || load <= allowance) return;
    settings.progress.step(`${step}: waiting, other processes use ${Math.round(load * 100)}% of the CPU`);
  }
}

async function runChild(plan: RowPlan, image: string, settings: LocalSweepSettings): Promise<ChildMessage[]> {
  const spec: ChildSpec = {
    image,
    runs: settings.runs,
    // Measured: the child decides as the function does (the quota and memory give Lambda's count).
    // Modelled: this machine has fewer cores than Lambda would give, so name Lambda's count.
    ...(plan.mode === 'modelled' ? { workers: plan.workers } : {}),
    profile: plan.workers > 1,
  };
  const env = childEnvironment(plan, process.env, settings.configFile);
  let group: CpuCgroup | undefined;
  let command = process.execPath;
  let args = [CHILD, JSON.stringify(spec)];
  if (plan.mode === 'measured' && settings.detection.available) {
    group = CpuCgroup.create(
      settings.detection.mount,
      `imgpipe-sweep-${process.pid}-${plan.memoryMb}`,
      plan.cpuQuota!,
    );
    ({ command, args } = wrapInCgroup(group.procsPath, command, args));
  }
  try {
    return await collect(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }), settings);
  } finally {
    if (group) await removeGroup(group);
  }
}

/**
 * A child's environment: the sweep's, with the size as the function's memory
 * (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) and the container image's variables (IMAGE_ENV), and without
 * what the deployed function does not get from its deployment:
 * - IMGPIPE_MEMORY_MB: the size is the per-image memory budget, as AWS_LAMBDA_FUNCTION_MEMORY_SIZE
 *   is the function's: one left in this shell (for imgpipe dev) took its place in every child, so a
 *   1 MP photo was refused as over-memory-budget at 1769 MB under 400, and every size failed under
 *   one larger than itself.
 * - IMGPIPE_WORKERS: the deployment never sets it (terraform/modules/imgpipe), so the function
 *   starts the encoder threads its CPU share gives (defaultWorkers). One left in this shell was
 *   dropped for the modelled sizes only: the measured sizes ran with its count while their rows,
 *   the report and the memory check (pixelsWithinMemory) said Lambda's, and with IMGPIPE_WORKERS=1
 *   3008 and 3538 MB were timed on one encoder thread where the function has two.
 */
export function childEnvironment(
  plan: Pick<RowPlan, 'memoryMb'>,
  parent: NodeJS.ProcessEnv,
  configFile?: string,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...parent,
    ...IMAGE_ENV,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(plan.memoryMb),
  };
  delete env[SETTINGS.memoryMb.env];
  delete env[SETTINGS.workers.env];
  if (configFile !== undefined) {
    env.IMGPIPE_CONFIG_FILE = configFile;
    delete env.IMGPIPE_CONFIG;
  }
  return env;
}

/** The kernel may take a moment to move an exited process out of the group. */
async function removeGroup(group: CpuCgroup): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      group.remove();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function collect(child: ChildProcess, settings: LocalSweepSettings): Promise<ChildMessage[]> {
  running.add(child);
  const messages: ChildMessage[] = [];
  let output = '';
  let pending = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const results = child.stdio[3] as NodeJS.ReadableStream;
  results.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) messages.push(JSON.parse(line) as ChildMessage);
  });
  const timeoutMs = settings.childTimeoutMs ?? DEFAULT_CHILD_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const error = messages.find((m) => m.type === 'error');
      if (error) return reject(new Error(error.message));
      if (code !== 0) {
        const why =
          signal === 'SIGKILL' ? `was killed (timeout ${timeoutMs} ms?)` : `exited with ${signal ?? code}`;
        return reject(
          new Error(`The child process ${why}: ${output.trim().split('\n').slice(-3).join(' | ')}`),
        );
      }
      resolve(messages);
    });
  });
}

/**
 * Turns a child's report into an image result. Measured rows keep the wall times; modelled rows
 * get durations and init from the model, with the measured unconstrained values beside them.
 * A run longer than `maxSecondsPerImage` (measured, or modelled for the size) is one the function
 * would have stopped and refused as too-slow (src/pipeline/deadline.ts): the image fails at the size.
 */
export function buildImageResult(
  plan: RowPlan,
  label: string,
  messages: readonly ChildMessage[],
  maxSecondsPerImage?: number,
): ImageResult {
  const ready = messages.find((m) => m.type === 'ready');
  const runs = messages.filter((m) => m.type === 'run').sort((a, b) => a.index - b.index);
  const memory = messages.find((m) => m.type === 'memory');
  const profile = messages.find((m) => m.type === 'profile');
  if (!ready || runs.length === 0 || !memory) {
    throw new Error(
      `The child process reported no ${!ready ? 'init' : runs.length === 0 ? 'runs' : 'memory'}`,
    );
  }
  const singleEncodes = profile
    ? [profile.encodeCpuMs]
    : runs.slice(runs.length > 1 ? 1 : 0).flatMap((run) => (run.encodeCpuMs ? [run.encodeCpuMs] : []));
  const maxEncodeCpuMs =
    singleEncodes.length > 0 ? median(singleEncodes.map((list) => Math.max(0, ...list))) : undefined;
  const modelled = plan.mode === 'modelled';
  const sample = (run: (typeof runs)[number]): RunSample => ({
    wallMs: modelled ? modelWallMs(run, plan.vcpus, plan.workers, maxEncodeCpuMs) : run.wallMs,
    ...(modelled ? { unconstrainedWallMs: run.wallMs } : {}),
    cpuMs: run.cpuMs,
    mainCpuMs: run.mainCpuMs,
    decodeMs: run.decodeMs,
    ...(run.encodeCpuMs ? { encodeCpuMs: run.encodeCpuMs } : {}),
    ...(run.foreignCpu !== undefined ? { foreignCpu: run.foreignCpu } : {}),
  });
  const [first, ...warm] = runs;
  const slowest = Math.max(...runs.map((run) => sample(run).wallMs));
  if (maxSecondsPerImage !== undefined && slowest > maxSecondsPerImage * 1000) {
    throw new Error(
      `${label} took ${(slowest / 1000).toFixed(1)} s to process at ${plan.memoryMb} MB${modelled ? ' (modelled)' : ''}, more than limits.maxSecondsPerImage (${maxSecondsPerImage} s): the function refuses it as too-slow`,
    );
  }
  return {
    image: label,
    width: first!.width,
    height: first!.height,
    pixels: first!.width * first!.height,
    initMs: modelled ? modelInitMs(ready.initCpuMs, ready.initMainCpuMs, plan.vcpus) : ready.initMs,
    ...(modelled ? { unconstrainedInitMs: ready.initMs } : {}),
    initCpuMs: ready.initCpuMs,
    initMainCpuMs: ready.initMainCpuMs,
    first: sample(first!),
    warm: warm.map(sample),
    peakRssMb: memory.peakRssKiB / 1024,
    ...(maxEncodeCpuMs !== undefined ? { maxEncodeCpuMs } : {}),
  };
}

const EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
const HANDLED_SIGNALS = Object.keys(EXIT_CODES) as NodeJS.Signals[];
/** How long an exit waits for killed children to leave their groups. */
const EXIT_WAIT_MS = 5000;

/**
 * On Ctrl-C, SIGTERM or SIGHUP (the terminal closed): kill the running child, wait for it to go (a
 * cgroup with a process in it cannot be removed), remove our cgroups, and exit with 130 / 143 /
 * 129. On any other exit (an uncaught error): the same, waiting synchronously. Returns the
 * uninstaller.
 */
export function installInterruptHandlers(write: (line: string) => void): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    write(`\n${signal}: stopping the sweep`);
    const exits = [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    );
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
    void Promise.race([Promise.all(exits), deadline]).then(() => {
      for (const problem of removeAllCgroups()) write(`Could not remove cgroup ${problem}`);
      process.exit(EXIT_CODES[signal] ?? 1);
    });
  };
  const onExit = () => {
    // The process is leaving (an uncaught error, process.exit): the killed child is still in its
    // group for a moment, and the group could not be removed at once (EBUSY), so it stayed behind.
    const killed = [...running].filter((child) => child.kill('SIGKILL'));
    for (const problem of removeAllCgroups(killed.length > 0 ? EXIT_WAIT_MS : 0))
      write(`Could not remove cgroup ${problem}`);
  };
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
  process.on('exit', onExit);
  return () => {
    for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
    process.off('exit', onExit);
  };
}
