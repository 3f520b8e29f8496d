/**
 * Runs one benchmark job in this (fresh) process and prints one JSON line with what it measured:
 * init (start of the process to ready), each run's wall and CPU time (all threads), and the
 * process's peak RSS. Usage: node bench/lib/child.ts '<JobSpec JSON>' <warmup runs> <measured runs>
 */
import { performance } from 'node:perf_hooks';
import { type JobSpec, prepare } from './jobs.ts';

export interface ChildResult {
  readonly initMs: number;
  readonly wallMs: number[];
  readonly cpuMs: number[];
  readonly maxRssBytes: number;
  readonly outputs: number;
}

const [specJson, warmupArg, runsArg] = process.argv.slice(2);
const spec = JSON.parse(specJson!) as JobSpec;
const job = await prepare(spec);
const initMs = performance.now();
let outputs = 0;
for (let i = 0; i < Number(warmupArg); i++) await job.run();
const wallMs: number[] = [];
const cpuMs: number[] = [];
for (let i = 0; i < Number(runsArg); i++) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  outputs = await job.run();
  wallMs.push(performance.now() - start);
  const used = process.cpuUsage(cpu);
  cpuMs.push((used.user + used.system) / 1000);
}
await job.close();
const result: ChildResult = {
  initMs,
  wallMs,
  cpuMs,
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
  outputs,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
