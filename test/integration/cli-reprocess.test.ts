import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeExecution } from '../../src/cli/dev.ts';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { startLocalStepFunctions } from '../../src/cli/local-sfn-api.ts';
import type { Run } from '../../src/cli/local-stepfunctions.ts';
import { runCli, startCli } from '../support/cli.ts';
import { readFixture } from '../support/fixtures.ts';
import { runInPty } from '../support/pty.ts';
import { hasTool } from '../support/tools.ts';

/**
 * `imgpipe reprocess` through the real command against `imgpipe dev --workflow`: uploads go through
 * the per-upload state machine, and the command starts and follows the bulk reprocessing state
 * machine over imgpipe dev's Step Functions API (StartExecution, ListMapRuns, DescribeMapRun,
 * DescribeExecution over HTTP, as against AWS). Both machines are the workflow module's definition
 * files on aws-local-stepfunctions with the real tasks; the map's S3 item reader is a listing of the
 * local server and each object a batch of one (src/cli/local-stepfunctions.ts).
 */
const COUNT = 200;
const CURRENT = 20;
const SOURCE = 'imgpipe-source';
const SLOW = { timeoutMs: 120_000 };
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
// biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape sequences are the point
const plain = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replaceAll('\r', '');

interface Dev {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly s3: string;
  readonly dynamo: string;
  readonly sfn?: string;
}

let work: string;
let dataDir: string;
const keys: string[] = [];
const running = new Set<ChildProcess>();

async function startDev(args: readonly string[]): Promise<Dev> {
  const { child, output } = await startCli(
    ['dev', '--port', '0', '--no-samples', ...args],
    /Watching for uploads|Exit after/,
  );
  running.add(child);
  const text = output();
  expect(text, 'no samples, so no line about uploading them').not.toMatch(/Uploading \d+ sample/);
  const url = (pattern: RegExp) => text.match(pattern)?.[1];
  return {
    child,
    output,
    s3: url(/Local S3 at (http:\/\/\S+)/)!,
    dynamo: url(/Status table \S+ at (http:\/\/\S+?);/)!,
    ...(url(/Step Functions at (http:\/\/[^\s:]+:\d+)/)
      ? { sfn: url(/Step Functions at (http:\/\/[^\s:]+:\d+)/)! }
      : {}),
  };
}

async function stopDev(dev: Dev): Promise<void> {
  const closed = new Promise((resolveClose) => dev.child.once('close', resolveClose));
  dev.child.kill('SIGINT');
  await closed;
  running.delete(dev.child);
}

/** Waits (as long as the test's timeout allows) until imgpipe dev has printed `count` lines matching. */
async function printed(dev: Dev, line: RegExp, count: number): Promise<void> {
  const global = new RegExp(line.source, 'gm');
  while ((dev.output().match(global) ?? []).length < count) await new Promise((r) => setTimeout(r, 100));
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
}

function config(name: string, width: number): string {
  const path = join(work, `${name}.json`);
  writeFileSync(path, JSON.stringify({ variants: [{ name, width, upscale: true }], formats: { webp: {} } }));
  return path;
}

/** The keys of the `Image Processed` events imgpipe dev appended after `from` lines. */
function processedEvents(from: number): { lines: number; keys: string[] } {
  const lines = readFileSync(join(dataDir, 'events.jsonl'), 'utf8').trim().split('\n');
  return {
    lines: lines.length,
    keys: lines
      .slice(from)
      .map((line) => JSON.parse(line) as { 'detail-type': string; detail: { key: string } })
      .filter((event) => event['detail-type'] === 'Image Processed')
      .map((event) => event.detail.key),
  };
}

const reprocess = (args: readonly string[], dev: Dev) =>
  runCli(['reprocess', ...args, '--endpoint', dev.sfn!], SLOW);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'imgpipe-reprocess-cli-'));
  dataDir = join(work, 'dev');
});

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('imgpipe reprocess against imgpipe dev --workflow', () => {
  it('after a configuration change reprocesses each object once with --only-stale, skips current ones, redoes them with --force, and names a failed key', async () => {
    // Uploads through the per-upload workflow, with the first configuration.
    const first = await startDev(['--workflow', '--no-scan', '--dir', dataDir, '-c', config('small', 16)]);
    expect(first.output()).toContain('Uploads go through the per-upload workflow');
    const s3 = s3Client(first.s3);
    const png = readFixture('edge/formats/1x1.png');
    const jpeg = readFixture('edge/formats/1x1.jpg');
    for (let i = 0; i < COUNT; i++) {
      const folder = i < CURRENT ? 'archive/a' : 'archive/b';
      const key = `${folder}/${String(i).padStart(3, '0')}.${i % 2 ? 'png' : 'jpg'}`;
      keys.push(key);
      await s3.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: i % 2 ? png : jpeg }));
    }
    await s3.send(new PutObjectCommand({ Bucket: SOURCE, Key: 'broken/one.png', Body: png }));
    await printed(first, /^ {2}\+ \S+: processed/, COUNT + 1);
    expect(first.output()).toMatch(/\+ archive\/a\/001\.png: processed, png 1x1 -> 1 outputs/);
    expect(first.output()).toContain('    states: Inspect > Process\n');
    const status = await runCli(['status', `s3://${SOURCE}/archive/b/100.jpg`, '--endpoint', first.dynamo]);
    expect(status.stdout.split('\n')[0]).toBe(`s3://${SOURCE}/archive/b/100.jpg: processed`);
    s3.destroy();
    await stopDev(first);

    // The configuration changes: a wider variant under a new name.
    const dev = await startDev(['--workflow', '--no-scan', '--dir', dataDir, '-c', config('medium', 24)]);
    expect(dev.sfn).toBeDefined();
    expect(dev.output()).toContain(`npx imgpipe reprocess s3://${SOURCE}/samples/ --endpoint ${dev.sfn}`);
    const before = processedEvents(0).lines;

    // Part of the prefix is brought up to date first...
    const part = await reprocess([`s3://${SOURCE}/archive/a/`], dev);
    expect(part.stderr).toBe(part.stderr.replace(/imgpipe:/, ''));
    expect(part.code, part.stdout + part.stderr).toBe(0);
    expect(part.stdout).toMatch(new RegExp(`^ {2}processed +${CURRENT}$`, 'm'));

    // ...then the whole prefix with --only-stale: every stale object once, the current ones skipped.
    const stale = await reprocess([`s3://${SOURCE}/archive/`, '--only-stale', '--concurrency', '4'], dev);
    expect(stale.code, stale.stdout + stale.stderr).toBe(0);
    expect(stale.stdout).toContain(
      `Reprocessing s3://${SOURCE}/archive/ (objects whose outputs are not current)`,
    );
    expect(stale.stdout).toMatch(/^SUCCEEDED in /m);
    expect(stale.stdout).toMatch(new RegExp(`^ {2}objects +${COUNT}$`, 'm'));
    expect(stale.stdout).toMatch(new RegExp(`^ {2}processed +${COUNT - CURRENT}$`, 'm'));
    expect(stale.stdout).toMatch(
      new RegExp(`^ {2}current +${CURRENT} {2}\\(skipped: outputs current, or quarantined already\\)$`, 'm'),
    );
    expect(stale.stdout).toMatch(/^ {2}failed +0$/m);
    expect(stale.stdout).toMatch(
      /^Results: s3:\/\/imgpipe-workflow\/reprocess\/imgpipe-reprocess-[0-9-]+Z\/summary\.json$/m,
    );
    // Progress came from the map run's item counts (not a terminal: periodic lines).
    expect(stale.stderr).toMatch(new RegExp(`\\] ${COUNT}/${COUNT} items done, 0 running, 0 failed$`, 'm'));
    // Each object was processed exactly once over the two runs.
    const events = processedEvents(before);
    expect(events.keys.sort()).toEqual([...keys].sort());

    // Forced: the current ones are processed again.
    const forced = await reprocess([`s3://${SOURCE}/archive/a/`, '--force'], dev);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(forced.stdout).toContain('(every object, --force)');
    expect(forced.stdout).toMatch(new RegExp(`^ {2}processed +${CURRENT}$`, 'm'));
    expect(forced.stdout).toMatch(/^ {2}current +0 /m);

    // At a terminal: a progress bar from the map run's item counts, the cursor given back at the end.
    const tty = await runInPty(
      ['reprocess', `s3://${SOURCE}/archive/a/`, '--force', '--endpoint', dev.sfn!],
      SLOW,
    );
    expect(tty.code, tty.stdout + tty.stderr).toBe(0);
    expect(tty.stdout).toContain(HIDE_CURSOR);
    expect(tty.stdout.lastIndexOf(SHOW_CURSOR)).toBeGreaterThan(tty.stdout.lastIndexOf(HIDE_CURSOR));
    expect(plain(tty.stdout)).toMatch(new RegExp(`\\d+/${CURRENT} items \\| \\d+ running \\| 0 failed`));
    expect(plain(tty.stdout)).toMatch(new RegExp(`^ {2}processed +${CURRENT}$`, 'm'));

    // Ctrl-C stops following, not the run, and says how to stop it; that command's call stops it.
    const follow = await startCli(
      ['reprocess', `s3://${SOURCE}/archive/`, '--force', '-j', '1', '--endpoint', dev.sfn!],
      /^Execution (\S+)$/m,
    );
    const interrupted = new Promise<number | null>((resolveExit) => follow.child.once('close', resolveExit));
    follow.child.kill('SIGINT');
    expect(await interrupted).toBe(130);
    const execution = follow.match[1]!;
    expect(follow.output()).toContain(
      `imgpipe reprocess: stopped following; the run continues in imgpipe dev: ${execution}\nTo stop it: aws stepfunctions stop-execution --execution-arn ${execution} --endpoint-url ${dev.sfn}\n`,
    );
    const sfn = new SFNClient({ endpoint: dev.sfn, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: execution }))).status).toBe(
      'RUNNING',
    );
    await sfn.send(new StopExecutionCommand({ executionArn: execution }));
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: execution }))).status).toBe(
      'ABORTED',
    );
    await printed(dev, new RegExp(`^ {2}reprocess ${execution.split(':').at(-1)}: ABORTED`), 1);
    sfn.destroy();

    // An object whose outputs cannot be written (a file stands where the output folder must be)
    // fails: the run says which, and exits 1.
    mkdirSync(join(dataDir, 'imgpipe-output', 'medium'), { recursive: true });
    writeFileSync(join(dataDir, 'imgpipe-output', 'medium', 'broken'), 'in the way');
    const failed = await reprocess([`s3://${SOURCE}/broken/`], dev);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^ {2}failed +1$/m);
    expect(failed.stdout).toMatch(/^Failed objects:\n {2}s3:\/\/imgpipe-source\/broken\/one\.png: /m);
    expect(failed.stdout).toContain('Run it again to retry what failed');

    // A prefix with nothing under it (a typo) succeeds, and says that nothing was reprocessed.
    const empty = await reprocess([`s3://${SOURCE}/Archive/`, '--name', 'rerun-archive'], dev);
    expect(empty.code, empty.stdout + empty.stderr).toBe(0);
    expect(empty.stdout).toMatch(/^ {2}objects +0$/m);
    expect(empty.stderr).toContain(
      `imgpipe reprocess: no objects under s3://${SOURCE}/Archive/: nothing was reprocessed (check the prefix; keys are case-sensitive)\n`,
    );
    // A shell-style pattern is a prefix too, which nothing begins with: the message says why.
    const pattern = await reprocess([`s3://${SOURCE}/broken/*`], dev);
    expect(pattern.code, pattern.stdout + pattern.stderr).toBe(0);
    expect(pattern.stderr).toContain(
      `imgpipe reprocess: no objects under s3://${SOURCE}/broken/*: nothing was reprocessed (check the prefix; keys are case-sensitive; a prefix is not a pattern: * and ? match only themselves)\n`,
    );
    // Its name is taken: a second run under it is refused as a usage mistake naming --name.
    const again = await reprocess([`s3://${SOURCE}/archive/`, '--name', 'rerun-archive'], dev);
    expect(again.code, again.stdout + again.stderr).toBe(2);
    expect(again.stderr.split('\n')[0]).toMatch(
      /^imgpipe reprocess: an execution named "rerun-archive" already exists on arn:aws:states:[a-z0-9-]+:\d{12}:stateMachine:\S+ \(Step Functions keeps a name for 90 days after its run\): choose another --name, or leave --name out for a new one$/,
    );
    await stopDev(dev);
  }, 600_000);

  it('refuses bad arguments with the value named, before starting anything', async () => {
    const [bad, upper, both, none, arn, name, scanAlone, scanWithout, many, batch] = await Promise.all([
      runCli(['reprocess', 'imgpipe-source/photos/', '--endpoint', 'http://127.0.0.1:9']),
      runCli(['reprocess', 's3://Photos/x', '--endpoint', 'http://127.0.0.1:9']),
      runCli(['reprocess', 's3://b-1/x', '--force', '--only-stale']),
      runCli(['reprocess', 's3://b-1/x'], { env: { IMGPIPE_REPROCESS_STATE_MACHINE: '' } }),
      runCli(['reprocess', 's3://b-1/x', '--state-machine', 'imgpipe-prod-reprocess']),
      runCli([
        'reprocess',
        's3://b-1/x',
        '--state-machine',
        'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-prod-reprocess',
        '--name',
        'photos/2024 rerun',
        '--endpoint',
        'http://127.0.0.1:9',
      ]),
      runCli(['dev', '--scan', '--port', '0', '--dir', join(work, 'dev-args')]),
      runCli([
        'dev',
        '--workflow',
        '--scan',
        '--clamav-db',
        join(work, 'none'),
        '--no-samples',
        '--port',
        '0',
        '--dir',
        join(work, 'dev-args'),
      ]),
      // Without a state machine too: the number is named, not "which state machine?".
      runCli(['reprocess', 's3://b-1/x', '--concurrency', '0'], {
        env: { IMGPIPE_REPROCESS_STATE_MACHINE: '' },
      }),
      runCli(['reprocess', 's3://b-1/x', '--batch-size', 'many'], {
        env: { IMGPIPE_REPROCESS_STATE_MACHINE: '' },
      }),
    ]);
    expect([many.code, many.stderr.split('\n')[0]]).toEqual([
      2,
      'imgpipe reprocess: Expected integer between 1 and 10000 for --concurrency but received "0" of type string',
    ]);
    expect([batch.code, batch.stderr.split('\n')[0]]).toEqual([
      2,
      'imgpipe reprocess: Expected integer between 1 and 100 for --batch-size but received "many" of type string',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe(
      'imgpipe reprocess: Expected s3://<bucket>/<prefix> (a bucket name: 3-63 lowercase letters, digits, dots and hyphens) but received "imgpipe-source/photos/"',
    );
    expect(upper.stderr).toContain('but received "s3://Photos/x"');
    expect(both.stderr.split('\n')[0]).toBe('imgpipe reprocess: choose --only-stale or --force, not both');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^imgpipe reprocess: which state machine\? Give --state-machine <arn> or set IMGPIPE_REPROCESS_STATE_MACHINE/,
    );
    expect(arn.code).toBe(2);
    expect(arn.stderr).toContain('for --state-machine but received "imgpipe-prod-reprocess"');
    expect(name.code).toBe(2);
    expect(name.stderr.split('\n')[0]).toBe(
      'imgpipe reprocess: Expected 1-80 letters, digits, - and _ (a Step Functions execution name) for --name but received "photos/2024 rerun"',
    );
    expect(scanAlone.code).toBe(2);
    expect(scanAlone.stderr.split('\n')[0]).toBe(
      'imgpipe dev: --scan is for the per-upload workflow: add --workflow',
    );
    // --scan demands a scanner: without clamd or a database imgpipe dev says which and stops.
    expect(scanWithout.code).toBe(2);
    expect(scanWithout.stderr.split('\n')[0]).toMatch(
      /^imgpipe dev: --scan: (no ClamAV signature database in s3:\/\/imgpipe-workflow\/clamav\/|clamd is not installed)/,
    );
  }, 60_000);

  it('says when there are no credentials, and when the state machine does not exist', async () => {
    const empty = join(work, 'no-aws');
    mkdirSync(empty, { recursive: true });
    const noCredentials = await runCli(
      [
        'reprocess',
        's3://b-1/x',
        '--state-machine',
        'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-prod-reprocess',
      ],
      {
        env: {
          HOME: empty,
          AWS_ACCESS_KEY_ID: '',
          AWS_SECRET_ACCESS_KEY: '',
          AWS_SESSION_TOKEN: '',
          AWS_PROFILE: '',
          AWS_CONFIG_FILE: join(empty, 'config'),
          AWS_SHARED_CREDENTIALS_FILE: join(empty, 'credentials'),
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
          AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
          AWS_WEB_IDENTITY_TOKEN_FILE: '',
        },
      },
    );
    // One line after the command's name: it was "imgpipe: Error: ..." and asked for the stack.
    expect([noCredentials.code, noCredentials.stderr]).toEqual([
      1,
      'imgpipe reprocess: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login; for imgpipe dev give --endpoint\n',
    ]);
    const nobody = await runCli(['reprocess', 's3://b-1/x', '--endpoint', 'http://127.0.0.1:9']);
    expect([nobody.code, nobody.stderr]).toEqual([
      1,
      'imgpipe reprocess: cannot reach --endpoint http://127.0.0.1:9 (ECONNREFUSED): is imgpipe dev running there?\n',
    ]);

    const dev = await startDev(['--dir', join(work, 'dev-unknown')]);
    const unknown = 'arn:aws:states:us-east-1:000000000000:stateMachine:imgpipe-prod-reprocess';
    const run = await runCli([
      'reprocess',
      's3://imgpipe-source/x',
      '--state-machine',
      unknown,
      '--endpoint',
      dev.sfn!,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      `imgpipe reprocess: state machine ${unknown} does not exist at ${dev.sfn}: check --state-machine or IMGPIPE_REPROCESS_STATE_MACHINE (terraform output reprocess_state_machine_arn)`,
    );
    await stopDev(dev);
  }, 120_000);
});

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

describe.skipIf(!hasTool('clamd'))('imgpipe dev --workflow --scan', () => {
  it('quarantines an upload carrying the EICAR test string as malware and processes a clean one', async () => {
    const database = join(work, 'clamav');
    mkdirSync(database, { recursive: true });
    // An .ndb body signature (the official database cannot be downloaded here).
    writeFileSync(
      join(database, 'test.ndb'),
      `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}\n`,
    );
    const dev = await startDev([
      '--workflow',
      '--scan',
      '--clamav-db',
      database,
      '--dir',
      join(work, 'dev-scan'),
    ]);
    expect(dev.output()).toMatch(
      /malware scan on: \S*clamd with the 1 database file\(s\) in s3:\/\/imgpipe-workflow\/clamav\//,
    );
    const s3 = s3Client(dev.s3);
    const png = readFixture('edge/formats/1x1.png');
    await s3.send(new PutObjectCommand({ Bucket: SOURCE, Key: 'up/clean.png', Body: png }));
    await s3.send(
      new PutObjectCommand({
        Bucket: SOURCE,
        Key: 'up/eicar.png',
        Body: Buffer.concat([png, Buffer.from(EICAR)]),
      }),
    );
    await printed(dev, /^ {2}[+-] up\//, 2);
    expect(dev.output()).toMatch(/\+ up\/clean\.png: processed/);
    expect(dev.output()).toContain(
      '  - up/eicar.png: quarantined (malware): ClamAV found Eicar-Test-Signature.UNOFFICIAL in the file',
    );
    expect(dev.output()).toContain('    states: Inspect > Scan > Quarantine\n');
    const status = await runCli(['status', `s3://${SOURCE}/up/eicar.png`, '--endpoint', dev.dynamo]);
    expect(status.stdout).toMatch(/^s3:\/\/imgpipe-source\/up\/eicar\.png: quarantined\n {2}reason +malware/);
    s3.destroy();
    await stopDev(dev);
  }, 120_000);
});

/** The processes whose command line contains `text` (Linux /proc), with their state letter. */
function processesWith(text: string): { pid: number; state: string }[] {
  const found: { pid: number; state: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) continue;
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /s, '')[0]!;
      found.push({ pid: Number(entry), state });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

describe.skipIf(!hasTool('clamd') || process.platform !== 'linux')(
  'imgpipe dev --workflow --scan, stopped early',
  () => {
    it.each([
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const)(
      'a %s while the samples are scanned stops clamd and removes its folder (exit %i)',
      async (signal, code) => {
        const database = join(work, `clamav-${signal}`);
        mkdirSync(database, { recursive: true });
        writeFileSync(
          join(database, 'test.ndb'),
          `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}\n`,
        );
        // clamd's folder (its configuration, socket and database copy) goes in this TMPDIR.
        const temp = join(work, `tmp-${signal}`);
        mkdirSync(temp);
        const { child, output } = await startCli(
          [
            'dev',
            '--workflow',
            '--scan',
            '--clamav-db',
            database,
            '--port',
            '0',
            '--once',
            '--dir',
            join(work, `dev-${signal}`),
          ],
          /states: Inspect > Scan/,
          { env: { TMPDIR: temp } },
        );
        running.add(child);
        const clamd = processesWith(`--config-file=${temp}`);
        expect(clamd, output()).toHaveLength(1);
        const closed = new Promise<number | null>((resolveClose) => child.once('close', resolveClose));
        // To imgpipe alone, as `kill` or a service manager sends it (not to its process group).
        child.kill(signal);
        expect(await closed, output()).toBe(code);
        running.delete(child);
        expect(output()).toContain(`${signal}: stopping the servers started so far`);
        // Stopped, not left running (a zombie is one its parent has yet to reap).
        expect(processesWith(`--config-file=${temp}`).filter((p) => p.state !== 'Z')).toEqual([]);
        expect(readdirSync(temp)).toEqual([]);
      },
      300_000,
    );
  },
);

/** imgpipe dev's Step Functions API serving one machine whose every run ends as `result` does. */
function serveMachine(arn: string, result: () => Promise<Run>) {
  return startLocalStepFunctions({
    host: '127.0.0.1',
    port: 0,
    machines: [{ arn, maps: {}, start: () => ({ result: result(), abort: () => undefined }) }],
  });
}

describe("a failed execution's cause", () => {
  // A Lambda task's failure as Step Functions reports it: the function's error as JSON, whose
  // message quotes a key (user-controlled) with an escape sequence and a line break in it.
  const key = 'photos/\x1b[2Jevil\n.jpg';
  const cause = JSON.stringify({
    errorType: 'StorageError',
    errorMessage: `Object ${key} could not be read`,
    trace: ['StorageError: ...', '    at get (file:///var/task/index.mjs:1:1)'],
  });
  const shown = 'States.TaskFailed: Object photos/\\x1b[2Jevil\\n.jpg could not be read';

  it('is printed by imgpipe reprocess as one line, its message escaped', async () => {
    // imgpipe dev's Step Functions API, serving a machine whose run fails as a Lambda task fails.
    const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:fails';
    const sfn = await serveMachine(arn, async () => ({
      error: { name: 'States.TaskFailed', message: cause },
      invoked: [],
      retried: [],
      caught: [],
    }));
    try {
      // The prefix, typed by the user, is printed escaped too (the banner printed it as given).
      const run = await runCli(
        [
          'reprocess',
          's3://imgpipe-source/ph\x1b[2Jotos/',
          '--endpoint',
          sfn.endpoint,
          '--state-machine',
          arn,
        ],
        SLOW,
      );
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toMatch(/^FAILED in /m);
      expect(run.stdout).toContain('Reprocessing s3://imgpipe-source/ph\\x1b[2Jotos/ (');
      expect(run.stdout).toContain(`  error     ${shown}\n`);
      expect(run.stdout).not.toContain('\x1b');
    } finally {
      await sfn.close();
    }
  });

  it("is printed by imgpipe dev's line for the execution as one line, its message escaped", () => {
    const line = describeExecution({
      executionArn: 'arn:aws:states:us-east-1:000000000000:execution:imgpipe-dev-reprocess:run-1',
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:imgpipe-dev-reprocess',
      name: 'run-1',
      input: '{}',
      startDate: 0,
      status: 'FAILED',
      error: 'States.TaskFailed',
      cause,
    });
    expect(line).toBe(`  reprocess run-1: FAILED: ${shown}`);
  });

  it("is the map's error and where the summary is, in imgpipe dev's line, when the map failed", () => {
    // MapFailed's cause: the summary as JSON, without its lists (reprocess.asl.json).
    const summary = {
      bucket: 'imgpipe-source',
      prefix: 'photos/',
      force: false,
      counts: {},
      failuresTotal: 0,
      failedBatchesTotal: 0,
      location: 's3://imgpipe-workflow/reprocess/run-2/summary.json',
      mapFailure:
        'States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded',
    };
    const line = describeExecution({
      executionArn: 'arn:aws:states:us-east-1:000000000000:execution:imgpipe-dev-reprocess:run-2',
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:imgpipe-dev-reprocess',
      name: 'run-2',
      input: '{}',
      startDate: 0,
      status: 'FAILED',
      error: 'Imgpipe.Failed',
      cause: JSON.stringify(summary),
    });
    expect(line).toBe(
      '  reprocess run-2: FAILED: States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded; summary s3://imgpipe-workflow/reprocess/run-2/summary.json',
    );
  });
});

describe('imgpipe reprocess stopped by SIGTERM', () => {
  it('says the run goes on and how to stop it, as on Ctrl-C, and exits 143', async () => {
    // imgpipe dev's Step Functions API, serving a machine whose run goes on until the test ends.
    let release!: () => void;
    const held = new Promise<void>((resolveHeld) => {
      release = resolveHeld;
    });
    const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:held';
    const sfn = await serveMachine(arn, () =>
      held.then(() => ({ output: {}, invoked: [], retried: [], caught: [] })),
    );
    try {
      // As timeout(1) or a CI job's cancel stops it.
      const follow = await startCli(
        ['reprocess', 's3://imgpipe-source/photos/', '--endpoint', sfn.endpoint, '--state-machine', arn],
        /^Execution (\S+)$/m,
      );
      const closed = new Promise<number | null>((resolveExit) => follow.child.once('close', resolveExit));
      follow.child.kill('SIGTERM');
      expect(await closed, follow.output()).toBe(143);
      const execution = follow.match[1]!;
      expect(follow.output()).toContain(
        `imgpipe reprocess: stopped following; the run continues in imgpipe dev: ${execution}\nTo stop it: aws stepfunctions stop-execution --execution-arn ${execution} --endpoint-url ${sfn.endpoint}\n`,
      );
    } finally {
      release();
      await sfn.close();
    }
  }, 120_000);
});

describe("imgpipe reprocess --concurrency over the deployment's cap", () => {
  it('is a usage error naming the value and the cap, from the run its Plan step refused', async () => {
    // The cap (reprocess_max_concurrency) is the plan function's setting: imgpipe dev's Plan reads
    // it from its own environment, as the function does. The run failed with exit 1 and only the
    // request's field (event.concurrency) in its error line, as any failed run.
    const { child, output } = await startCli(
      ['dev', '--port', '0', '--no-samples', '--dir', join(work, 'dev-cap')],
      /Watching for uploads/,
      { env: { IMGPIPE_REPROCESS_MAX_CONCURRENCY: '5' } },
    );
    running.add(child);
    const dev: Dev = {
      child,
      output,
      s3: '',
      dynamo: '',
      sfn: output().match(/Step Functions at (http:\/\/[^\s:]+:\d+)/)![1]!,
    };
    try {
      const over = await reprocess(['s3://imgpipe-source/', '--concurrency', '50'], dev);
      expect(over.code).toBe(2);
      expect(over.stderr.trim().split('\n').at(-1)).toBe(
        "imgpipe reprocess: --concurrency 50 is over this deployment's cap of 5 (Terraform's reprocess_max_concurrency): its Plan step refused the run, nothing was reprocessed; give --concurrency 5 or less",
      );
      // Within the cap: the run goes on (an empty bucket, nothing reprocessed).
      const within = await reprocess(['s3://imgpipe-source/', '--concurrency', '5'], dev);
      expect(within.code).toBe(0);
      expect(within.stdout).toContain('SUCCEEDED');
    } finally {
      await stopDev(dev);
    }
  }, 120_000);
});

describe('imgpipe reprocess --batch-size in the workflow mode', () => {
  it('is a usage error naming the value and the mode, from the run its Plan step refused', async () => {
    // Terraform's mode = "workflow": each object is a batch of its own (one run of the per-upload
    // workflow), and Plan refuses any other batch size. No API tells the mode before the run. The run
    // failed with exit 1 and only the request's field (event.batchSize) in its error line.
    const dev = await startDev(['--workflow', '--no-scan', '--dir', join(work, 'dev-batch')]);
    try {
      const over = await reprocess(['s3://imgpipe-source/', '--batch-size', '10'], dev);
      expect(over.code).toBe(2);
      expect(over.stderr.trim().split('\n').at(-1)).toBe(
        'imgpipe reprocess: --batch-size 10 is not for this deployment\'s workflow mode (Terraform\'s mode = "workflow"), where each object is a batch of its own, one run of the per-upload workflow: its Plan step refused the run, nothing was reprocessed; give --batch-size 1, or leave it out',
      );
      // A batch of one: the run goes on (an empty bucket, nothing reprocessed).
      const one = await reprocess(['s3://imgpipe-source/', '--batch-size', '1'], dev);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain('SUCCEEDED');
    } finally {
      await stopDev(dev);
    }
  }, 120_000);
});
