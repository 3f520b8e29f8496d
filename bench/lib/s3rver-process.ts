import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS, startLocalS3 } from '../../src/cli/local-s3.ts';
import { createS3Client } from '../../src/storage/s3.ts';

/**
 * s3rver in a process of its own, as S3 is a service of its own: its CPU time is not the measured
 * process's, and on a machine with more than one CPU it runs pinned to the last one, so a bench
 * pinned to CPU 0 (`taskset -c 0`) shares its CPU with nothing. Run as a script, it is that process:
 * `node s3rver-process.ts <directory> <bucket>...` prints `{"endpoint": ...}` and serves until SIGTERM.
 */
export interface S3Process {
  readonly endpoint: string;
  readonly client: S3Client;
  /** The CPU the server is pinned to, or undefined on a one-CPU machine. */
  readonly cpu: number | undefined;
  close(): Promise<void>;
}

export async function startS3Process(directory: string, buckets: readonly string[]): Promise<S3Process> {
  const script = fileURLToPath(import.meta.url);
  const count = cpus().length;
  const cpu = count > 1 ? count - 1 : undefined;
  const node = [process.execPath, script, directory, ...buckets];
  const [command, ...args] = cpu === undefined ? node : ['taskset', '-c', String(cpu), ...node];
  const child: ChildProcess = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line as string),
    once(child, 'exit').then(([code]) => {
      throw new Error(`The s3rver process exited (${code}) before it printed its endpoint`);
    }),
  ]);
  const { endpoint } = JSON.parse(first) as { endpoint: string };
  const client = createS3Client({
    endpoint,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    region: 'us-east-1',
  });
  return {
    endpoint,
    client,
    cpu,
    async close() {
      client.destroy();
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [directory, ...buckets] = process.argv.slice(2);
  const s3 = await startLocalS3({ port: 0, directory: directory!, buckets });
  process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint })}\n`);
  process.once('SIGTERM', () => {
    void s3.close().then(() => process.exit(0));
  });
}
