import { randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeS3Key } from '../handlers/events.ts';
import type { HandlerDeps } from '../handlers/objects.ts';
import { createReprocessTasks } from '../handlers/reprocess.ts';
import { createScanTask, DATABASE_FILE, type ScanTask } from '../handlers/scanner.ts';
import { createWorkflowTasks } from '../handlers/workflow.ts';
import type { Storage } from '../storage/types.ts';
import { UsageError } from './args.ts';
import type { S3Notification } from './local-s3.ts';
import {
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LocalStateMachine,
  localStateMachineArn,
} from './local-sfn-api.ts';
import {
  type Binding,
  type Run,
  renderDefinition,
  reprocessBindings,
  runLocally,
  startLocally,
  uploadBindings,
  withLocalBatches,
  withLocalItemReader,
} from './local-stepfunctions.ts';

/**
 * `imgpipe dev --workflow` and the reprocess state machine imgpipe dev serves: the workflow
 * module's definitions run by aws-local-stepfunctions (local-stepfunctions.ts), every task bound to
 * the real entry point in this process, on imgpipe dev's S3 and DynamoDB servers.
 *
 * Locally, the per-upload machine scans with ClamAV when clamd is installed and a signature
 * database is there (s3://imgpipe-workflow/clamav/, filled at start from --clamav-db, by default
 * /var/lib/clamav, the folder Debian's and Homebrew's freshclam write), or when --scan asks for it;
 * moderation is off: Rekognition has no local server.
 */
export const DEV_WORKFLOW_BUCKET = 'imgpipe-workflow';
export const SIGNATURES_PREFIX = 'clamav/';
export const DEFAULT_CLAMAV_DB = '/var/lib/clamav';
export const DEV_REPROCESS_NAME = 'imgpipe-dev-reprocess';
const DEV_UPLOAD_NAME = 'imgpipe-dev-upload';
const functionArn = (name: string) =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:imgpipe-dev-${name}`;

export type ScanChoice = 'auto' | 'on' | 'off';

/** Finds a command on PATH (and in the sbin folders, where Debian puts clamd). */
export async function findCommand(
  command: string,
  path = process.env.PATH ?? '',
): Promise<string | undefined> {
  for (const dir of [...path.split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin']) {
    const candidate = join(dir, command);
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Copies a local ClamAV database folder into the workflow bucket's clamav/ prefix when that prefix
 * has no database yet; returns the number of database files there afterwards.
 */
export async function seedSignatures(signatures: Storage, folder: string | undefined): Promise<number> {
  const present = async () => {
    let n = 0;
    for await (const object of signatures.list(SIGNATURES_PREFIX))
      if (!object.key.slice(SIGNATURES_PREFIX.length).includes('/') && DATABASE_FILE.test(object.key)) n++;
    return n;
  };
  const existing = await present();
  if (existing > 0 || folder === undefined) return existing;
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return 0;
  }
  for (const name of names.filter((n) => DATABASE_FILE.test(n)).sort()) {
    const path = join(folder, name);
    if (!(await stat(path)).isFile()) continue;
    await signatures.put(`${SIGNATURES_PREFIX}${name}`, await readFile(path), {
      contentType: 'application/octet-stream',
    });
  }
  return await present();
}

export interface DevScanner {
  readonly task?: ScanTask;
  /** A sentence for the banner: on and why, or off and why. */
  readonly description: string;
}

/** The Scan task, or why there is none. `on` without clamd or without a database is a usage error. */
export async function devScanner(options: {
  choice: ScanChoice;
  clamavDatabase: string | undefined;
  deps: HandlerDeps;
  signatures: Storage;
  workDir: string;
}): Promise<DevScanner> {
  if (options.choice === 'off') return { description: 'malware scan off (--no-scan)' };
  const clamd = await findCommand('clamd');
  const files = await seedSignatures(options.signatures, options.clamavDatabase);
  const where = `s3://${DEV_WORKFLOW_BUCKET}/${SIGNATURES_PREFIX}`;
  if (!clamd || files === 0) {
    const why = !clamd
      ? 'clamd is not installed (Debian: apt install clamav-daemon; macOS: brew install clamav)'
      : `no ClamAV signature database in ${where} (give --clamav-db <folder>, or run freshclam)`;
    if (options.choice === 'on') throw new UsageError('imgpipe dev', `--scan: ${why}`);
    return { description: `malware scan off: ${why}` };
  }
  const task = createScanTask({
    logger: options.deps.logger,
    metrics: options.deps.metrics,
    sourceStorage: options.deps.sourceStorage,
    signatures: options.signatures,
    signaturesPrefix: SIGNATURES_PREFIX,
    maxBytes: options.deps.config.pipeline.limits.maxBytes,
    workDir: options.workDir,
    clamd,
  });
  return {
    task: stoppedForGood(task),
    description: `malware scan on: ${clamd} with the ${files} database file(s) in ${where}`,
  };
}

/**
 * The scan task, refusing every scan once stopped: the task starts clamd again for the next scan
 * (as after a crash), so a retry arriving while imgpipe dev stops would leave a clamd running.
 */
function stoppedForGood(task: ScanTask): ScanTask {
  let stopped = false;
  const scan: ScanTask = Object.assign(
    async (event: unknown, context?: Parameters<ScanTask>[1]) => {
      if (stopped) throw new Error('imgpipe dev is stopping: no more scans');
      return task(event, context);
    },
    {
      async stop() {
        stopped = true;
        await task.stop();
      },
    },
  );
  return scan;
}

/** The EventBridge "Object Created" event S3 sends for an upload, from the notification s3rver gave. */
export function objectCreatedEvent(notification: S3Notification): Record<string, unknown> {
  const record = notification.Records[0]!;
  const { bucket, object } = record.s3;
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: LOCAL_ACCOUNT,
    time: record.eventTime,
    region: LOCAL_REGION,
    resources: [`arn:aws:s3:::${bucket.name}`],
    detail: {
      version: '0',
      bucket: { name: bucket.name },
      object: {
        key: decodeS3Key(object.key),
        ...(object.size !== undefined ? { size: object.size } : {}),
        ...(object.eTag ? { etag: object.eTag } : {}),
        sequencer: object.sequencer,
      },
      'request-id': randomUUID(),
      requester: LOCAL_ACCOUNT,
      'source-ip-address': '127.0.0.1',
      reason: 'PutObject',
    },
  };
}

/** The per-upload state machine (definitions/upload.asl.json) with the real tasks; moderation off. */
export function devUploadWorkflow(
  deps: HandlerDeps,
  scan: ScanTask | undefined,
): (event: unknown) => Promise<Run> {
  const definition = renderDefinition('upload', {
    inspect_function_arn: functionArn('inspect'),
    scan_function_arn: functionArn('scan'),
    moderate_function_arn: functionArn('moderate'),
    process_function_arn: functionArn('process'),
    quarantine_function_arn: functionArn('quarantine'),
    fail_function_arn: functionArn('fail'),
    malware_scan: String(scan !== undefined),
    moderation: 'false',
  });
  const bindings: Record<string, Binding> = uploadBindings(createWorkflowTasks(deps), scan);
  return (event) =>
    runLocally(definition, event, bindings, {
      retryWaitMs: 'definition',
      context: { StateMachine: { Name: DEV_UPLOAD_NAME, Id: localStateMachineArn(DEV_UPLOAD_NAME) } },
    });
}

/**
 * The reprocess state machine (definitions/reprocess.asl.json) as imgpipe dev's Step Functions API
 * serves it: the real Plan, batch and Summarize tasks; ByPrefix's item reader a listing of the local
 * S3 server; batches of one; the summary written to s3://imgpipe-workflow/reprocess/<execution>/.
 * With `upload` (imgpipe dev --workflow), each object goes through the per-upload workflow.
 */
export function devReprocessMachine(
  deps: HandlerDeps,
  onEnd?: LocalStateMachine['onEnd'],
  upload?: (event: unknown) => Promise<Run>,
): LocalStateMachine {
  const definition = withLocalBatches(
    withLocalItemReader(
      renderDefinition('reprocess', {
        plan_function_arn: functionArn('reprocess-plan'),
        batch_function_arn: functionArn('reprocess-batch'),
        summarize_function_arn: functionArn('reprocess-summarize'),
        results_bucket: DEV_WORKFLOW_BUCKET,
        upload_state_machine_arn: upload ? localStateMachineArn(DEV_UPLOAD_NAME) : '',
      }),
    ),
  );
  const bindings = reprocessBindings(createReprocessTasks(deps), deps.sourceStorage, upload);
  const arn = localStateMachineArn(DEV_REPROCESS_NAME);
  return {
    arn,
    maps: { ByPrefix: '$.listedObjects', ByKeys: '$.keys' },
    start: (input, execution) =>
      startLocally(definition, input, bindings, {
        retryWaitMs: 'definition',
        onEvent: execution.onEvent,
        context: {
          Execution: {
            Id: `${arn.replace(':stateMachine:', ':execution:')}:${execution.name}`,
            Name: execution.name,
            Input: input,
            StartTime: new Date().toISOString(),
          },
          StateMachine: { Id: arn, Name: DEV_REPROCESS_NAME },
        },
      }),
    ...(onEnd ? { onEnd } : {}),
  };
}
