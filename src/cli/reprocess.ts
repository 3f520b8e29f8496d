import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeMapRunCommand,
  type DescribeMapRunCommandOutput,
  ListMapRunsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import cliProgress from 'cli-progress';
import { describeError } from '../core/errors.ts';
import { failureText, mapFailureIn, summaryIn } from '../handlers/reprocess.ts';
import { awsCallFailure, UsageError } from './args.ts';
import { LOCAL_CREDENTIALS } from './local-s3.ts';
import { formatMs, printable } from './table.ts';

/**
 * `imgpipe reprocess s3://bucket/prefix`: starts the bulk reprocessing state machine
 * (terraform/modules/workflow, `<name>-reprocess`) with StartExecution and follows it to the end:
 * progress from its Distributed Map run's item counts (ListMapRuns, DescribeMapRun), the end and the
 * summary from DescribeExecution (the Summarize task's output). Against AWS (the SDK's
 * credentials; the region of the state machine's ARN) or `imgpipe dev` (`--endpoint`), which
 * answers the same calls.
 */
const COMMAND = 'imgpipe reprocess';
/** Where the state machine's ARN comes from when --state-machine is not given. */
export const STATE_MACHINE_ENV = 'IMGPIPE_REPROCESS_STATE_MACHINE';
/** imgpipe dev's reprocess state machine (local-sfn-api.ts). */
export const DEV_REPROCESS_STATE_MACHINE =
  'arn:aws:states:us-east-1:000000000000:stateMachine:imgpipe-dev-reprocess';

export interface ReprocessCommandOptions {
  /** `s3://bucket/prefix` (`s3://bucket` or `s3://bucket/` for the whole bucket). */
  readonly target: string;
  /** Redo objects whose manifest is current, or quarantined already; otherwise (the default, --only-stale) they are skipped. */
  readonly force: boolean;
  readonly concurrency?: number;
  readonly batchSize?: number;
  readonly stateMachine: string;
  readonly endpoint?: string;
  /** The execution's name (default imgpipe-reprocess-<time>). */
  readonly name?: string;
  /** How often the run is polled (default 2 s; 0.5 s against an endpoint). */
  readonly pollMs?: number;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:[A-Za-z0-9_-]{1,80}$/;

/** `s3://bucket/prefix` as bucket and prefix ("" for the whole bucket). */
export function parseTarget(text: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(text);
  const bucket = match?.[1] ?? '';
  if (!match || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..'))
    throw new UsageError(
      COMMAND,
      `Expected s3://<bucket>/<prefix> (a bucket name: 3-63 lowercase letters, digits, dots and hyphens) but received ${JSON.stringify(text)}`,
    );
  return { bucket, prefix: match[2] ?? '' };
}

export function checkStateMachineArn(arn: string): { region: string } {
  const match = STATE_MACHINE_ARN.exec(arn);
  if (!match)
    throw new UsageError(
      COMMAND,
      `Expected a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>, the deployment's reprocess_state_machine_arn output) for --state-machine but received ${JSON.stringify(arn)}`,
    );
  return { region: match[1]! };
}

/**
 * --name: Step Functions takes 1-80 characters for an execution's name, and logs to CloudWatch
 * (as the deployment's machines do) only for letters, digits, `-` and `_`. Checked before anything
 * starts: StartExecution would refuse it with InvalidName after the credentials were looked up.
 */
export function checkExecutionName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
    throw new UsageError(
      COMMAND,
      `Expected 1-80 letters, digits, - and _ (a Step Functions execution name) for --name but received ${JSON.stringify(name)}`,
    );
  return name;
}

interface Progress {
  readonly total: number;
  readonly done: number;
  readonly running: number;
  readonly failed: number;
}

export async function runReprocessCommand(options: ReprocessCommandOptions): Promise<number> {
  const { bucket, prefix } = parseTarget(options.target);
  const { region } = checkStateMachineArn(options.stateMachine);
  if (options.name !== undefined) checkExecutionName(options.name);
  const out = (line = '') => options.stdout.write(`${line}\n`);
  const err = (line = '') => options.stderr.write(`${line}\n`);
  const client = new SFNClient(
    options.endpoint
      ? { endpoint: options.endpoint, region, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 }
      : { region },
  );
  const pollMs = options.pollMs ?? (options.endpoint ? 500 : 2_000);
  const request = {
    bucket,
    prefix,
    force: options.force,
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
  };
  const name =
    options.name ?? `imgpipe-reprocess-${new Date().toISOString().replace(/[-:.]/g, '').replace('T', '-')}`;
  const started = performance.now();
  // The execution's ARN follows from the machine's and the name: known before it starts, so an
  // interruption at any point can name it.
  const executionArn = `${options.stateMachine.replace(':stateMachine:', ':execution:')}:${name}`;
  const where = options.endpoint ? ` --endpoint-url ${options.endpoint}` : ` --region ${region}`;
  const stop = `aws stepfunctions stop-execution --execution-arn ${executionArn}${where}`;
  let startedRun = false;
  let bar: cliProgress.SingleBar | undefined;
  // Ctrl-C stops following, not the run: it goes on in Step Functions (a Standard execution), so say
  // so and how to stop it, instead of leaving the user to guess. SIGTERM too (timeout(1), a CI
  // job's cancel), which ended the command with no word of the run and the cursor hidden.
  const onInterrupt = (signal: NodeJS.Signals) => {
    bar?.stop();
    err();
    if (startedRun) {
      err(
        `${COMMAND}: stopped following; the run continues ${options.endpoint ? 'in imgpipe dev' : 'on AWS'}: ${executionArn}`,
      );
    } else {
      err(
        `${COMMAND}: interrupted while starting ${executionArn}; it may have started. Check: aws stepfunctions describe-execution --execution-arn ${executionArn}${where}`,
      );
    }
    err(`To stop it: ${stop}`);
    if (!options.endpoint)
      err(
        `To follow it: https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`,
      );
    process.exit(signal === 'SIGTERM' ? 143 : 130);
  };
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  try {
    await call(
      () =>
        client.send(
          new StartExecutionCommand({
            stateMachineArn: options.stateMachine,
            name,
            input: JSON.stringify(request),
          }),
        ),
      options,
    );
  } catch (error) {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    throw error;
  }
  startedRun = true;
  out(
    `Reprocessing ${printable(`s3://${bucket}/${prefix}`)} (${options.force ? 'every object, --force' : 'objects whose outputs are not current'}) on ${options.stateMachine}`,
  );
  out(`Execution ${executionArn}`);

  const tty = 'isTTY' in options.stderr && (options.stderr as NodeJS.WriteStream).isTTY === true;
  bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: options.stderr as NodeJS.WriteStream,
          format: '{bar} {value}/{total} items | {running} running | {failed} failed',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let barStarted = false;
  let execution: DescribeExecutionCommandOutput;
  let mapRunArn: string | undefined;
  let last: Progress | undefined;
  let lastLine = '';
  try {
    for (;;) {
      execution = await call(() => client.send(new DescribeExecutionCommand({ executionArn })), options);
      if (mapRunArn === undefined) {
        const runs = await call(() => client.send(new ListMapRunsCommand({ executionArn })), options);
        mapRunArn = runs.mapRuns?.[0]?.mapRunArn;
      }
      if (mapRunArn !== undefined) {
        const run = await call(() => client.send(new DescribeMapRunCommand({ mapRunArn })), options);
        last = progressOf(run);
        if (bar) {
          if (!barStarted) bar.start(last.total, last.done, { running: last.running, failed: last.failed });
          barStarted = true;
          bar.setTotal(last.total);
          bar.update(last.done, { running: last.running, failed: last.failed });
        } else {
          const line = `[${formatMs(performance.now() - started)}] ${last.done}/${last.total} items done, ${last.running} running, ${last.failed} failed`;
          if (line.replace(/^\[[^\]]*\] /, '') !== lastLine) err(line);
          lastLine = line.replace(/^\[[^\]]*\] /, '');
        }
      }
      if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') break;
      await new Promise((resolveWait) => setTimeout(resolveWait, pollMs));
    }
  } catch (error) {
    // Following failed (throttled past the SDK's retries, the network): the run does not stop.
    bar?.stop();
    err(`${COMMAND}: lost track of the run (${describeError(error)}); it continues: ${executionArn}`);
    err(`To stop it: ${stop}`);
    return 1;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    bar?.stop();
  }
  return report(execution, last, performance.now() - started, options, out, err);
}

function progressOf(run: DescribeMapRunCommandOutput): Progress {
  const c = run.itemCounts;
  const done = (c?.succeeded ?? 0) + (c?.failed ?? 0) + (c?.timedOut ?? 0) + (c?.aborted ?? 0);
  return {
    total: c?.total ?? 0,
    done,
    running: c?.running ?? 0,
    failed: (c?.failed ?? 0) + (c?.timedOut ?? 0) + (c?.aborted ?? 0),
  };
}

/** The final summary; the exit status: 0 when the run succeeded and no object failed. */
function report(
  execution: DescribeExecutionCommandOutput,
  progress: Progress | undefined,
  ms: number,
  options: ReprocessCommandOptions,
  out: (line?: string) => void,
  err: (line?: string) => void,
): number {
  out(`${execution.status} in ${formatMs(ms)}`);
  // A run whose map failed has no output: its cause is the summary, without the lists (MapFailed).
  const summary = summaryIn(execution.output) ?? mapFailureIn(execution.cause);
  const items = () => {
    if (progress)
      out(`  items     ${progress.done} of ${progress.total} finished, ${progress.failed} in failed batches`);
  };
  if (!summary) {
    items();
    // The cause as one line: a Lambda task's is its error as JSON, and it quotes keys, which may
    // hold control characters (an escape sequence would drive the terminal).
    const failure =
      execution.error || execution.cause
        ? failureText(execution.error ?? 'Error', execution.cause)
        : undefined;
    if (failure !== undefined) out(`  error     ${printable(failure)}`);
    // Plan refused a flag for a limit of the deployment that no API tells before the run: a usage
    // error naming the flag, its value and the limit, as for a value out of the help's range.
    const refusal = failure === undefined ? undefined : planRefusal(failure, options);
    if (refusal !== undefined) {
      err(
        `${COMMAND}: ${refusal.problem}: its Plan step refused the run, nothing was reprocessed; ${refusal.advice}`,
      );
      return 2;
    }
    return 1;
  }
  const counts = summary.counts;
  const total = Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0);
  if (summary.mapFailure !== undefined) {
    // What the map got through, from its run's item counts: the Catch that summarized it was handed
    // its error, not the results of the batches that ran.
    items();
    out(`  error     ${printable(summary.mapFailure)}`);
  }
  const failures = summary.failures ?? [];
  const failedBatches = summary.failedBatches ?? [];
  const rows: [string, number | undefined][] = [
    ['objects', total],
    ['processed', counts.processed ?? 0],
    ['current', counts.duplicate ?? 0],
    ['quarantined', counts.quarantined ?? 0],
    ['missing', counts.missing],
    ['ignored', counts.ignored],
    ['failed', counts.failed ?? 0],
  ];
  // Object counts when some reached the summary (none of a map that failed, whose results are lost).
  for (const [label, value] of summary.mapFailure !== undefined && total === 0 ? [] : rows)
    if (value !== undefined)
      out(
        `  ${label.padEnd(12)}${String(value).padStart(8)}${label === 'current' ? '  (skipped: outputs current, or quarantined already)' : ''}`,
      );
  if (failures.length > 0) {
    out(
      `Failed objects${summary.failuresTotal > failures.length ? ` (first ${failures.length} of ${summary.failuresTotal})` : ''}:`,
    );
    for (const failure of failures.slice(0, 20))
      out(
        `  s3://${summary.bucket}/${printable(failure.key)}${failure.reason ? `: ${printable(failure.reason)}` : ''}`,
      );
    if (failures.length > 20) out(`  ... and ${summary.failuresTotal - 20} more in the summary`);
  }
  for (const batch of failedBatches) {
    // A summary from a deployment older than this command lists every key and no count.
    const objects = batch.objects ?? batch.keys.length;
    out(`Failed batch (${printable(batch.error)}): ${objects} objects not reprocessed`);
    for (const key of batch.keys.slice(0, 20)) out(`  s3://${summary.bucket}/${printable(key)}`);
    if (objects > batch.keys.length) out(`  ... and ${objects - batch.keys.length} more in the summary`);
  }
  const moreBatches = (summary.failedBatchesTotal ?? 0) - failedBatches.length;
  if (moreBatches > 0) out(`... and ${moreBatches} more failed batches in the summary`);
  if (summary.location) out(`Results: ${summary.location}`);
  // A mistyped prefix lists nothing, and the run succeeds: say so rather than report success alone.
  if (total === 0 && execution.status === 'SUCCEEDED') {
    // A prefix is matched as written: `samples/*` lists keys that begin with an asterisk.
    const pattern = /[*?[]/.test(summary.prefix ?? '')
      ? '; a prefix is not a pattern: * and ? match only themselves'
      : '';
    err(
      `${COMMAND}: no objects under s3://${summary.bucket}/${printable(summary.prefix ?? '')}: nothing was reprocessed (check the prefix; keys are case-sensitive${pattern})`,
    );
  }
  const failed = (counts.failed ?? 0) > 0 || failedBatches.length > 0 || summary.mapFailure !== undefined;
  // A forced run's failed object usually still has current outputs (a failed run leaves the
  // manifest it found): run again without --force, it is skipped as current and never redone (in
  // the workflow mode never scanned or moderated, what --force was for), so the advice keeps --force.
  if (failed)
    out(
      options.force
        ? 'Run it again with --force to retry what failed (every object is done again: without --force, an object whose outputs are current is skipped, those that failed here included).'
        : 'Run it again to retry what failed (objects already done are skipped).',
    );
  return execution.status === 'SUCCEEDED' && !failed ? 0 : 1;
}

/**
 * The flag the Plan step refused for a limit of the deployment (parseReprocessRequest's error): the
 * problem, naming the flag, its value and the limit, and what to give instead; undefined for any
 * other failure (the run's own error then stands). Two such limits, neither told by any API before
 * a run: --concurrency over the cap (reprocess_max_concurrency), and a --batch-size other than 1 in
 * the workflow mode, where each object is a batch of its own.
 */
export function planRefusal(
  failure: string,
  options: Pick<ReprocessCommandOptions, 'concurrency' | 'batchSize'>,
): { readonly problem: string; readonly advice: string } | undefined {
  const cap = concurrencyCap(failure);
  if (cap !== undefined && options.concurrency !== undefined && options.concurrency > cap)
    return {
      problem: `--concurrency ${options.concurrency} is over this deployment's cap of ${cap} (Terraform's reprocess_max_concurrency)`,
      advice: `give --concurrency ${cap} or less`,
    };
  if (
    options.batchSize !== undefined &&
    options.batchSize !== 1 &&
    /Expected 1 \(in the workflow mode [^)]*\) for event\.batchSize /.test(failure)
  )
    return {
      problem: `--batch-size ${options.batchSize} is not for this deployment's workflow mode (Terraform's mode = "workflow"), where each object is a batch of its own, one run of the per-upload workflow`,
      advice: 'give --batch-size 1, or leave it out',
    };
  return undefined;
}

/**
 * The deployment's cap on --concurrency, from the Plan step's refusal of a request over it
 * (parseReprocessRequest: "Expected an integer between 1 and <cap> (the deployment’s cap, …) for
 * event.concurrency"), or undefined for any other failure.
 */
export function concurrencyCap(failure: string): number | undefined {
  const match = /between 1 and (\d+) \(the deployment.s cap[^)]*\) for event\.concurrency /.exec(failure);
  return match ? Number(match[1]) : undefined;
}

/** An SDK call, its errors in words: a state machine that does not exist, no credentials, no server. */
async function call<T>(send: () => Promise<T>, options: ReprocessCommandOptions): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const e = error as Error;
    // Step Functions keeps a Standard execution's name for 90 days after it ends; the same name with
    // the same input while it runs is that run (StartExecution returns it, and we follow it).
    if (e.name === 'ExecutionAlreadyExists' && options.name !== undefined)
      throw new UsageError(
        COMMAND,
        `an execution named ${JSON.stringify(options.name)} already exists on ${options.stateMachine} (Step Functions keeps a name for 90 days after its run): choose another --name, or leave --name out for a new one`,
      );
    if (e.name === 'StateMachineDoesNotExist')
      throw new UsageError(
        COMMAND,
        `state machine ${options.stateMachine} does not exist${options.endpoint ? ` at ${options.endpoint}` : ' (in that account and region, for these credentials)'}: check --state-machine or ${STATE_MACHINE_ENV} (terraform output reprocess_state_machine_arn)`,
      );
    throw awsCallFailure(COMMAND, error, options.endpoint) ?? error;
  }
}
