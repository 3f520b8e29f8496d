import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type EventPublisher, type ImageEvent, imageEvent } from '../bus/types.ts';
import type { RuntimeConfig } from '../core/config.ts';
import { describeError } from '../core/errors.ts';
import type { ObjectRef } from '../core/objects.ts';
import type { Outcome } from '../pipeline/process-object.ts';
import type { FinalStatus } from '../status/types.ts';

/**
 * What an outcome becomes outside the pipeline: the status item's final state and the event other
 * systems receive. One function each, so the table and the bus always say the same thing.
 */

/** The status an outcome records in the status table. */
export function finalStatus(outcome: Outcome): FinalStatus {
  switch (outcome.status) {
    case 'processed':
    case 'duplicate':
      return {
        status: 'processed',
        etag: outcome.etag,
        size: outcome.size,
        format: outcome.format,
        width: outcome.width,
        height: outcome.height,
        orientation: outcome.orientation,
        manifestKey: outcome.manifestKey,
        outputs: outcome.outputs.length,
        configHash: outcome.configHash,
        ...(outcome.status === 'processed' ? { timings: { ...outcome.timings } } : {}),
      };
    case 'quarantined':
      return {
        status: 'quarantined',
        ...(outcome.etag === undefined ? {} : { etag: outcome.etag }),
        size: outcome.size,
        reason: outcome.reason,
        message: outcome.message,
      };
    case 'missing':
      return { status: 'deleted' };
  }
}

/**
 * The event an outcome announces. A missing object announces nothing (its ObjectRemoved event
 * does). A duplicate is announced as processed with `announceDuplicate` (objects.ts says when: the
 * manifest cannot tell whether the earlier attempt got as far as its event), else nothing. A
 * quarantine repeated on a redelivery is announced again: its reason record cannot tell whether
 * the earlier attempt got as far as its event (it may have stopped after the record: a timeout, a
 * crash), and a malware alert must not be lost; objects.ts finish() drops it for a bulk reprocessing
 * that finds the quarantine recorded for the same content and reason (its own event announced it).
 * Consumers may see an event more than once, as EventBridge's at-least-once delivery may do anyway.
 */
export function outcomeEvent(
  ref: ObjectRef,
  outcome: Outcome,
  config: RuntimeConfig,
  {
    announceDuplicate = false,
    time = new Date().toISOString(),
  }: {
    announceDuplicate?: boolean;
    /** The detail's time: a pending event's (status/types.ts PendingEvent) when it is sent again. */
    time?: string;
  } = {},
): ImageEvent | undefined {
  const base = {
    version: 1 as const,
    bucket: ref.bucket,
    key: ref.key,
    ...(ref.versionId === undefined ? {} : { versionId: ref.versionId }),
    ...(ref.sequencer === undefined ? {} : { sequencer: ref.sequencer }),
    time,
  };
  switch (outcome.status) {
    case 'duplicate':
    case 'processed':
      if (outcome.status === 'duplicate' && !announceDuplicate) return undefined;
      return imageEvent({
        ...base,
        status: 'processed',
        etag: outcome.etag,
        format: outcome.format,
        width: outcome.width,
        height: outcome.height,
        manifestKey: outcome.manifestKey,
        outputBucket: config.outputBucket,
        outputs: outcome.outputs,
      });
    case 'quarantined':
      return imageEvent({
        ...base,
        status: 'quarantined',
        ...(outcome.etag === undefined ? {} : { etag: outcome.etag }),
        reason: outcome.reason,
        message: outcome.message,
        quarantineKey: outcome.quarantineKey,
      });
    default:
      return undefined;
  }
}

export function deletedEvent(
  ref: ObjectRef,
  removedOutputs: number,
  time = new Date().toISOString(),
): ImageEvent {
  return imageEvent({
    version: 1,
    status: 'deleted',
    bucket: ref.bucket,
    key: ref.key,
    ...(ref.versionId === undefined ? {} : { versionId: ref.versionId }),
    ...(ref.sequencer === undefined ? {} : { sequencer: ref.sequencer }),
    removedOutputs,
    time,
  });
}

export function failureEvent(ref: ObjectRef, message: string): ImageEvent {
  return imageEvent({
    version: 1,
    status: 'failed',
    bucket: ref.bucket,
    key: ref.key,
    ...(ref.etag === undefined ? {} : { etag: ref.etag }),
    ...(ref.versionId === undefined ? {} : { versionId: ref.versionId }),
    ...(ref.sequencer === undefined ? {} : { sequencer: ref.sequencer }),
    message,
    time: new Date().toISOString(),
  });
}

/**
 * Events sent together: an invocation's failures and removals at its end (or every BATCH events
 * for a long backfill), whose retry announces them again; an outcome's on its own, as soon as its
 * status is recorded (objects.ts finish()). A failure to send is logged and counted
 * (EventsFailed), never thrown: an event can never turn a processed image into a failed one.
 */
export class EventBatch {
  static readonly BATCH = 10;
  readonly #pending: ImageEvent[] = [];
  readonly #publisher: EventPublisher | undefined;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  #errors: readonly string[] = [];

  constructor(publisher: EventPublisher | undefined, logger: Logger, metrics: Metrics) {
    this.#publisher = publisher;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  add(event: ImageEvent | undefined): void {
    if (event && this.#publisher) this.#pending.push(event);
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Why the last flush could not send what it could not (the bus's errors), if anything. */
  get errors(): readonly string[] {
    return this.#errors;
  }

  /**
   * Sends what was added; returns how many events could not be sent and a retry may send (all that
   * could not be sent are reported, not thrown): an event too large for EventBridge is not counted,
   * or its record, failed for the retry to send it (objects.ts announce()), failed on every retry.
   */
  async flush(): Promise<number> {
    if (!this.#publisher || this.#pending.length === 0) return 0;
    const events = this.#pending.splice(0);
    let result: Awaited<ReturnType<EventPublisher['publish']>>;
    try {
      result = await this.#publisher.publish(events);
    } catch (error) {
      // A publisher reports rather than throws; this is the guard for one that does not.
      result = { sent: 0, failed: events.length, errors: [describeError(error)] };
    }
    if (result.sent > 0) this.#metrics.addMetric('EventsSent', MetricUnit.Count, result.sent);
    this.#errors = result.failed > 0 ? result.errors : [];
    if (result.failed > 0) {
      this.#metrics.addMetric('EventsFailed', MetricUnit.Count, result.failed);
      this.#logger.error('Outcome events not sent', { failed: result.failed, errors: result.errors });
    }
    return result.failed - (result.tooLarge ?? 0);
  }
}
