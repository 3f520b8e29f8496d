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

/** The error a state machine sees for what a task caught. */
export function taskError(error: unknown): TaskError {
  if (error instanceof TaskError) return error;
  const message = describeError(error);
  return new TaskError(isTransient(error) ? TRANSIENT_ERROR : FAILED_ERROR, message, { cause: error });
}

function isTransient(error: unknown): boolean {
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
