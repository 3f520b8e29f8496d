import type { ImageEvent } from '../bus/types.ts';
import { describeError } from '../core/errors.ts';
import { InvocationTimeError, ranOutOfInvocationTime } from '../pipeline/deadline.ts';
import { parseS3Event } from './events.ts';
import { type LambdaHandler, lambdaHandler } from './lambda.ts';
import { createObjectHandling, type HandlerDeps, type RecordResult } from './objects.ts';
import { EventBatch } from './outcomes.ts';

export type { HandlerDeps as S3HandlerDeps, RecordResult, RecordStatus } from './objects.ts';

/**
 * The S3 event handler (`index.handler`): event -> records -> one outcome per object.
 *
 * - Own outputs, manifests and quarantine copies are skipped (recursion guard), before any I/O.
 * - A record whose manifest exists for the same ETag and configuration is skipped (S3 delivers at
 *   least once).
 * - Invalid images are quarantined and the invocation succeeds: retrying cannot fix them. Unless
 *   an outcome's event (Image Quarantined, Processed, Deleted) could not be sent: then the record
 *   fails, for the retry to announce it.
 * - Anything else (S3 5xx, throttling, timeouts, denied access) is logged, the remaining records
 *   still run, and the invocation then fails so Lambda retries it; records done in the first attempt
 *   are skipped on the retry by the idempotency check. Once a record has run out of the invocation's
 *   time (InvocationTimeError), the records after it are not started, only named in the failure.
 */
export interface HandlerResult {
  readonly records: readonly RecordResult[];
}

interface Failure {
  readonly bucket: string;
  readonly key: string;
  readonly error: unknown;
}

export class RecordsFailedError extends Error {
  readonly failures: readonly Failure[];

  constructor(failures: Failure[]) {
    const first = failures[0]!;
    super(
      `${failures.length} record(s) failed and will be retried; first: s3://${first.bucket}/${first.key}: ${describeError(first.error)}`,
      { cause: first.error },
    );
    this.name = 'RecordsFailedError';
    this.failures = failures;
  }
}

/**
 * An outcome whose event could not be put on the bus (EventBridge refused or throttled it past the
 * publisher's retries): the record fails, so that Lambda's retry announces it again: a repeated
 * quarantine is announced by each attempt, and a processed image's or a removal's event by the
 * redelivery that finds it recorded with its event pending (status/types.ts PendingEvent), or
 * without a status table by every redelivery. The record succeeded, and the event, named only in a
 * log line, was lost for good: a malware alert, or the Image Processed a front end waits for.
 */
function unsentEvent(event: ImageEvent): Error {
  const { bucket, key, status } = event.detail;
  const reason = event.detail.reason === undefined ? '' : ` (${event.detail.reason})`;
  return new Error(
    `s3://${bucket}/${key} is ${status}${reason}, but its ${event.detailType} event could not be sent (the "Outcome events not sent" log line says why): Lambda's retry announces it again`,
  );
}

export function createS3EventHandler(deps: HandlerDeps): LambdaHandler<HandlerResult> {
  const { logger } = deps;
  const objects = createObjectHandling(deps);

  return lambdaHandler(deps, async (event, context) => {
    // Records run one after another in one invocation: a record that runs out of its time after
    // the earlier ones took it fails, for the retry to do it, instead of being quarantined as
    // too-slow (objects.ts handle(), invocationStartedAt).
    const invocationStartedAt = performance.now();
    const parsed = parseS3Event(event);
    if (parsed.kind === 'test') {
      logger.info('S3 test event acknowledged', { outcome: 'ignored', bucket: parsed.bucket });
      return { records: [] };
    }
    if (parsed.kind === 'empty') {
      logger.warn('Event acknowledged without processing: no S3 records', {
        outcome: 'ignored',
        event: parsed.description,
      });
      return { records: [] };
    }
    const records = parsed.skipped.map(({ bucket, key, reason }) =>
      objects.skip({ bucket, key, status: 'ignored', reason }),
    );
    const failures: Failure[] = [];
    const events = new EventBatch(deps.events, logger, deps.metrics);
    // Set when a record ran out of the invocation's time: the records after it are not started
    // (each was read, recorded failed and announced as an Image Failed, with no time to be
    // processed); the invocation fails, and the retry, which finds what is done, does them.
    let ranOut: string | undefined;
    try {
      for (const change of parsed.changes) {
        const { object, eventName } = change;
        if (ranOut !== undefined) {
          const error = new InvocationTimeError(
            `Not started: the invocation's time ran out during ${ranOut}; the retry processes it`,
          );
          failures.push({ bucket: object.bucket, key: object.key, error });
          continue;
        }
        if (change.kind === 'removed') {
          const { result, error, event, announced, unsent } = await objects.remove(object, {
            trigger: eventName,
            remainingMs: context?.getRemainingTimeInMillis(),
            invocationStartedAt,
          });
          if (result.status === 'failed') failures.push({ bucket: object.bucket, key: object.key, error });
          else if (unsent && announced)
            failures.push({ bucket: object.bucket, key: object.key, error: unsentEvent(announced) });
          if (result.status === 'failed' && ranOutOfInvocationTime(error))
            ranOut = `s3://${object.bucket}/${object.key}`;
          records.push(result);
          events.add(event);
          continue;
        }
        const { result, error, event, announced, unsent } = await objects.handle(object, {
          trigger: eventName,
          remainingMs: context?.getRemainingTimeInMillis(),
          invocationStartedAt,
        });
        if (result.status === 'failed') failures.push({ bucket: object.bucket, key: object.key, error });
        else if (unsent && announced)
          failures.push({ bucket: object.bucket, key: object.key, error: unsentEvent(announced) });
        if (result.status === 'failed' && ranOutOfInvocationTime(error))
          ranOut = `s3://${object.bucket}/${object.key}`;
        records.push(result);
        events.add(event);
      }
    } finally {
      await events.flush();
    }
    if (failures.length > 0) throw new RecordsFailedError(failures);
    return { records };
  });
}
