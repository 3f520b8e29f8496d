import { writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { envInteger } from '../../src/config/env.ts';
import { loadPipelineConfig } from '../../src/config/index.ts';
import { defaultWorkers } from '../../src/pipeline/cpus.ts';
import { createEncoder } from '../../src/pipeline/encoder-pool.ts';
import { type Encoder, processImage } from '../../src/pipeline/process-image.ts';
import { allowedCpus, countedCpus, machineBusySeconds } from './load.ts';

/**
 * One image at one memory size, in a process of its own, set up the way the Lambda function sets
 * itself up (src/handlers/lambda.ts): AWS_LAMBDA_FUNCTION_MEMORY_SIZE is set by the parent, the
 * configuration comes from the environment (IMGPIPE_CONFIG / IMGPIPE_CONFIG_FILE apply), and the
 * encoder gets IMGPIPE_WORKERS or defaultWorkers() threads (the parent passes no IMGPIPE_WORKERS, as
 * the deployment sets none: local.ts childEnvironment), unless the parent names the count Lambda
 * would use (modelled sizes: this machine has fewer cores than Lambda would give).
 *
 * A fresh process per image because peak RSS never goes down (WASM memories only grow): a small
 * image after a large one would report the large one's peak.
 *
 * Reports JSON lines on file descriptor 3 (stdout and stderr stay free for whatever the codecs say):
 *   ready   init finished: ms since process start, CPU of all threads and of the main thread
 *   run     one processImage(): wall, CPU, main-thread CPU, decode, per-encode CPU (no workers)
 *   memory  peak RSS after the runs
 *   profile (with workers) one more run without workers, for the CPU of each single encode
 *   error   what went wrong
 */
export interface ChildSpec {
  readonly image: string;
  /** Runs after the first (cold) one. */
  readonly runs: number;
  /** Encoder threads; absent: as the function decides (IMGPIPE_WORKERS, else defaultWorkers()). */
  readonly workers?: number;
  /** Measure the single encodes in an extra run without workers (after peak RSS is taken). */
  readonly profile: boolean;
}

export type ChildMessage =
  | {
      readonly type: 'ready';
      readonly initMs: number;
      readonly initCpuMs: number;
      readonly initMainCpuMs: number;
      readonly workers: number;
      readonly defaultWorkers: number;
    }
  | {
      readonly type: 'run';
      readonly index: number;
      readonly wallMs: number;
      readonly cpuMs: number;
      readonly mainCpuMs: number;
      readonly decodeMs: number;
      readonly encodeCpuMs?: readonly number[];
      readonly foreignCpu?: number;
      readonly width: number;
      readonly height: number;
    }
  | { readonly type: 'memory'; readonly peakRssKiB: number }
  | { readonly type: 'profile'; readonly encodeCpuMs: readonly number[] }
  | { readonly type: 'error'; readonly message: string };

const RESULTS_FD = 3;

function send(message: ChildMessage): void {
  writeSync(RESULTS_FD, `${JSON.stringify(message)}\n`);
}

const ms = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

/**
 * Records the CPU time of each encode that runs in this thread (the pipeline awaits each one): of
 * this thread only, so for AVIF the calling thread's share (its second aom thread is a Worker).
 */
function timedEncoder(encoder: Encoder, log: number[]): Encoder {
  return {
    parallel: false,
    async encode(format, image, options) {
      const before = process.threadCpuUsage();
      const result = await encoder.encode(format, image, options);
      log.push(ms(process.threadCpuUsage(before)));
      return result;
    },
  };
}

async function run(spec: ChildSpec): Promise<void> {
  const env = process.env;
  const config = loadPipelineConfig(env);
  const automatic = defaultWorkers(env);
  const workers = spec.workers ?? (envInteger(env, 'IMGPIPE_WORKERS', 0, 0, 64) || automatic);
  const encoder = await createEncoder(workers, config.formats);
  // performance.now() counts from the start of this process: Node's own start-up is part of init.
  send({
    type: 'ready',
    initMs: performance.now(),
    initCpuMs: ms(process.cpuUsage()),
    initMainCpuMs: ms(process.threadCpuUsage()),
    workers: encoder.workers,
    defaultWorkers: automatic,
  });

  const bytes = await readFile(spec.image);
  // The CPUs whose busy time counts (the affinity's), and how many: load.ts.
  const counted = allowedCpus();
  const cores = countedCpus(counted);
  for (let index = 0; index <= spec.runs; index++) {
    const encodes: number[] = [];
    const measured = encoder.parallel ? encoder : timedEncoder(encoder, encodes);
    const busyBefore = machineBusySeconds('/proc/stat', counted);
    const cpuBefore = process.cpuUsage();
    const mainBefore = process.threadCpuUsage();
    const started = performance.now();
    const result = await processImage(bytes, config, measured);
    const wallMs = performance.now() - started;
    const cpuMs = ms(process.cpuUsage(cpuBefore));
    const busyAfter = machineBusySeconds('/proc/stat', counted);
    const foreignCpu =
      busyBefore === undefined || busyAfter === undefined
        ? undefined
        : Math.min(1, Math.max(0, (busyAfter - busyBefore - cpuMs / 1000) / ((wallMs / 1000) * cores)));
    send({
      type: 'run',
      index,
      wallMs,
      cpuMs,
      mainCpuMs: ms(process.threadCpuUsage(mainBefore)),
      decodeMs: result.timings.probe + result.timings.decode,
      ...(encoder.parallel ? {} : { encodeCpuMs: encodes }),
      foreignCpu,
      width: result.header.width,
      height: result.header.height,
    });
  }
  send({ type: 'memory', peakRssKiB: process.resourceUsage().maxRSS });

  if (spec.profile && encoder.parallel) {
    await encoder.close();
    const single = await createEncoder(1, config.formats);
    const encodes: number[] = [];
    await processImage(bytes, config, timedEncoder(single, encodes));
    send({ type: 'profile', encodeCpuMs: encodes });
  } else {
    await encoder.close();
  }
}

try {
  const spec = JSON.parse(process.argv[2] ?? '') as ChildSpec;
  await run(spec);
} catch (error) {
  send({
    type: 'error',
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  process.exitCode = 1;
}
