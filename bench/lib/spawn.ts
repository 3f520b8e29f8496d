import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ChildResult } from './child.ts';
import type { JobSpec } from './jobs.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const run = promisify(execFile);

export interface RunOptions {
  /** CPUs the child may use, as a taskset list ("0", "0,1"); all when omitted. */
  readonly cpus?: string;
  readonly warmup: number;
  readonly runs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a job in a fresh Node process (pinned to `cpus` with taskset) and returns its measurements. */
export async function runJob(spec: JobSpec, options: RunOptions): Promise<ChildResult> {
  const node = [
    process.execPath,
    '--expose-gc',
    CHILD,
    JSON.stringify(spec),
    String(options.warmup),
    String(options.runs),
  ];
  const [command, ...args] = options.cpus === undefined ? node : ['taskset', '-c', options.cpus, ...node];
  const { stdout } = await run(command!, args, {
    env: { ...process.env, ...options.env },
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as ChildResult;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
