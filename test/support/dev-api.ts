import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalIssuer } from '../../src/cli/local-oidc.ts';
import { startCli } from './cli.ts';

/** `imgpipe dev` with its HTTP API, started as a user starts it, and what a test needs of it. */
export interface DevApi {
  /** The API's (and the page's) base URL, without a trailing slash. */
  readonly url: string;
  /** The local S3 endpoint. */
  readonly s3: string;
  /** The local DynamoDB endpoint (the status table, src/cli/status.ts DEV_STATUS_TABLE). */
  readonly dynamo: string;
  readonly dir: string;
  readonly issuer: LocalIssuer;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startDevApi(extra: readonly string[] = [], env?: NodeJS.ProcessEnv): Promise<DevApi> {
  const dir = join(mkdtempSync(join(tmpdir(), 'imgpipe-api-')), 'data');
  const { child, output, match } = await startCli(
    ['dev', '--port', '0', '--no-samples', '--dir', dir, ...extra],
    /Local S3 at (http:\/\/\S+) [\s\S]*?Status table \S+ at (http:\/\/[^\s;]+);[\s\S]*Web page: (http:\/\/\S+)\/\n/,
    env ? { env } : {},
  );
  return {
    url: match[3]!,
    s3: match[1]!,
    dynamo: match[2]!,
    dir,
    issuer: await LocalIssuer.load(dir),
    child,
    output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('close', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
