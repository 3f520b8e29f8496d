import { CodecError, describeError, ImgpipeError, StorageError } from '../core/errors.ts';
import { isPlainObject } from '../core/json.ts';
import { type ObjectRef, sequencerProblem } from '../core/objects.ts';

/**
 * What the Step Functions task entry points share: how an error becomes the error a state's
 * `Retry` and `Catch` match, and how an object travels between states.
 *
 * A task throws only what the state machine should act on, named for it:
 *
 * - `Imgpipe.Transient`: trying again may help (S3 5xx and throttling, a broken connection, a
 *   codec instance that crashed and was replaced, clamd gone, Rekognition throttling). Every task's
 *   Retry lists it, with exponential backoff and full jitter.
 * - `Imgpipe.Failed`: it will not (access denied, a missing bucket, a bad request, a setting that is
 *   wrong). No Retry lists it; the Catch records the failure.
 *
 * A rejected image is not an error: tasks return it as a verdict, and the state machine quarantines
 * it. So no Retry can ever run a permanent rejection again.
 */
export const TRANSIENT_ERROR = 'Imgpipe.Transient';
export const FAILED_ERROR = 'Imgpipe.Failed';

export class TaskError extends Error {
  constructor(name: typeof TRANSIENT_ERROR | typeof FAILED_ERROR, message: string, options?: ErrorOptions) {
    super(message, options);
    // Lambda reports the name as errorType, which Step Functions matches in Retry and Catch.
    this.name = name;
  }
}

/**
 * Kept of the per-upload execution's time for what may follow a task: RecordFailure's own 30 s,
 * and up to 60 s of Retry backoff (three waits of at most 20 s) for attempts Lambda throttled,
 * which never reach this check.
 */
export const RECORD_RESERVE_MS = 90_000;

/**
 * The per-upload workflow's deadline: no Catch runs after an execution's timeout, so a task that
 * could outlast it would leave the upload with no recorded outcome. Each task of the upload machine
 * is given `{"execution": {"started": $$.Execution.StartTime, "timeoutSeconds"}}` and starts only
 * if what it may take (its invocation's remaining time) and RECORD_RESERVE_MS fit in what is left;
 * otherwise it fails (`Imgpipe.Failed`, never retried) and the Catch records why. Without
 * `execution` (another machine, a direct invoke) or a Lambda context, nothing is checked.
 */
export function checkExecutionTime(
  input: unknown,
  task: string,
  context: { getRemainingTimeInMillis(): number } | undefined,
  now = Date.now(),
): void {
  if (context === undefined) return;
  const execution = executionLeft(input, now);
  if (execution === undefined) return;
  const { leftMs, startedText, timeoutSeconds } = execution;
  const mayTakeMs = context.getRemainingTimeInMillis();
  if (mayTakeMs + RECORD_RESERVE_MS <= leftMs) return;
  const s = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  throw new TaskError(
    FAILED_ERROR,
    `${task} was not started: the upload workflow's execution has ${s(Math.max(0, leftMs))} left of its ${timeoutSeconds} s (started ${startedText}), and ${task} may take ${s(mayTakeMs)}, with ${s(RECORD_RESERVE_MS)} kept to record this failure`,
  );
}

/**
 * What is left of the execution a task's input names (`{"execution": {"started",
 * "timeoutSeconds"}}`), or undefined when it names none; a malformed one fails (`Imgpipe.Failed`).
 */
export function executionLeft(
  input: unknown,
  now = Date.now(),
): { leftMs: number; startedText: string; timeoutSeconds: number } | undefined {
  const execution = isPlainObject(input) ? input.execution : undefined;
  if (execution === undefined) return undefined;
  const startedText =
    isPlainObject(execution) && typeof execution.started === 'string' ? execution.started : '';
  const started = Date.parse(startedText);
  const timeoutSeconds = isPlainObject(execution) ? execution.timeoutSeconds : undefined;
  if (!Number.isFinite(started) || typeof timeoutSeconds !== 'number' || !(timeoutSeconds > 0))
    throw new TaskError(
      FAILED_ERROR,
      `Expected {"started": the execution's start time, "timeoutSeconds": its timeout} at input.execution but received ${JSON.stringify(execution)}`,
    );
  return { leftMs: timeoutSeconds * 1000 - (now - started), startedText, timeoutSeconds };
}

/** The error a state machine sees for what a task caught. */
export function taskError(error: unknown): TaskError {
  if (error instanceof TaskError) return error;
  const message = describeError(error);
  return new TaskError(isTransient(error) ? TRANSIENT_ERROR : FAILED_ERROR, message, { cause: error });
}

function isTransient(error: unknown): boolean {
  // A plain Error that names what failed around its cause (objects.ts superseded(): outputs that
  // could not be made again, e.g. for an InvocationTimeError) is what its cause is.
  if (error instanceof Error && Object.getPrototypeOf(error) === Error.prototype && error.cause !== undefined)
    return isTransient(error.cause);
  if (error instanceof CodecError) return true;
  if (error instanceof StorageError) return error.retryable;
  if (error instanceof ImgpipeError) return (error as { retryable?: boolean }).retryable === true;
  // AWS SDK errors of the status table and the bus: throttling, 5xx, connection errors.
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return (
    e?.$retryable !== undefined ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|TimeoutError/.test(e?.name ?? '')
  );
}

/** The object a task is given (`{"object": {...}}`), as the inspection returned it. */
export function objectOf(input: unknown, field = 'input.object'): ObjectRef {
  const value = isPlainObject(input) ? input.object : undefined;
  if (!isPlainObject(value) || typeof value.bucket !== 'string' || typeof value.key !== 'string')
    throw new TaskError(
      FAILED_ERROR,
      `Expected {"bucket", "key", ...} at ${field} but received ${JSON.stringify(value)}`,
    );
  const text = (name: string) =>
    typeof value[name] === 'string' && value[name] !== '' ? (value[name] as string) : undefined;
  const sequencer = text('sequencer');
  const problem = sequencer === undefined ? undefined : sequencerProblem(sequencer);
  if (problem !== undefined) throw new TaskError(FAILED_ERROR, `${field}.sequencer: ${problem}`);
  return {
    bucket: value.bucket,
    key: value.key,
    ...(text('etag') === undefined ? {} : { etag: text('etag') }),
    ...(typeof value.size === 'number' ? { size: value.size } : {}),
    ...(text('versionId') === undefined ? {} : { versionId: text('versionId') }),
    ...(sequencer === undefined ? {} : { sequencer }),
  };
}

/**
 * A task after Inspect read the object it was given (`ref`, with the ETag inspected): content of
 * another ETag (put over the key since, where the bucket keeps no versions to read the inspected
 * one by) was neither inspected nor, for the tasks after Scan, scanned. It fails (`Imgpipe.Failed`):
 * RecordFailure records why, and the new content's own event checks it.
 */
export function checkInspected(ref: ObjectRef, etag: string, task: string): void {
  if (ref.etag === undefined || etag === ref.etag) return;
  throw new TaskError(
    FAILED_ERROR,
    `${task} refused s3://${ref.bucket}/${ref.key}: it holds content of ETag ${etag}, not the ETag ${ref.etag} its inspection found (put over the key since); that content is checked by its own event`,
  );
}
