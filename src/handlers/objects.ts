import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { type EventPublisher, type ImageEvent, imageEvent } from '../bus/types.ts';
import type { RuntimeConfig } from '../core/config.ts';
import {
  ConfigError,
  describeError,
  type InvalidImageError,
  type InvalidReason,
  StorageError,
} from '../core/errors.ts';
import { BucketLayout, TransformLayout } from '../core/layout.ts';
import { type ObjectRef, sequencerOrder } from '../core/objects.ts';
import { msSince } from '../core/timing.ts';
import type { ImageHeader } from '../image/probe.ts';
import { inspectObject } from '../pipeline/inspect-object.ts';
import type { Encoder } from '../pipeline/process-image.ts';
import {
  deleteOutputs,
  deleteResults,
  deleteUnlisted,
  type Outcome,
  type OutcomeStatus,
  type ProcessDeps,
  previousOutputs,
  processObject,
  rejectObject,
} from '../pipeline/process-object.ts';
import { readManifest } from '../pipeline/records.ts';
import { removeObject } from '../pipeline/remove-object.ts';
import {
  type BeginResult,
  type Claim,
  type FinalStatus,
  isRunFailure,
  type PendingEvent,
  type StatusItem,
  type StatusStore,
} from '../status/types.ts';
import type { Storage } from '../storage/types.ts';
import { deletedEvent, EventBatch, failureEvent, finalStatus, outcomeEvent } from './outcomes.ts';
import { TRANSIENT_ERROR, taskError } from './tasks.ts';

/**
 * What every handler does with one object: the recursion guard, processObject, and then exactly
 * one log line and the metrics for its outcome. Handlers differ only in where objects come from.
 */
export interface HandlerDeps {
  readonly config: RuntimeConfig;
  /** The storage for a source bucket named in an event. */
  readonly sourceStorage: (bucket: string) => Storage;
  readonly output: Storage;
  readonly quarantine: Storage;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly encoder?: Encoder;
  /** The status table, when configured (IMGPIPE_STATUS_TABLE). */
  readonly status?: StatusStore;
  /** Where outcome events go, when configured (IMGPIPE_EVENT_BUS). */
  readonly events?: EventPublisher;
  /** X-Ray through Powertools (off outside Lambda). */
  readonly tracer?: Tracer;
  /**
   * The function and version running this code, `<function name>:<version>` (Lambda's
   * AWS_LAMBDA_FUNCTION_NAME and AWS_LAMBDA_FUNCTION_VERSION: a number, or `$LATEST`). When set, the
   * outcome counts are emitted a second time with a `version` dimension of that value, which the
   * release's canary alarms watch for the new version alone. Named: the workflow's task functions
   * share the service name and number their versions on their own, so version 7 of Process would
   * otherwise count as version 7 of the function being released.
   */
  readonly functionVersion?: string;
}

/** One record's result, as the handlers return it (Lambda's response) and count it. */
export type RecordResult =
  | {
      readonly status: Exclude<OutcomeStatus, 'quarantined' | 'duplicate'>;
      readonly bucket: string;
      readonly key: string;
    }
  /** Done by an earlier delivery: processed, or quarantined (then with its reason). */
  | {
      readonly status: 'duplicate';
      readonly bucket: string;
      readonly key: string;
      readonly reason?: InvalidReason;
    }
  | {
      readonly status: 'quarantined';
      readonly bucket: string;
      readonly key: string;
      readonly reason: InvalidReason;
    }
  /** A removed source, its outputs and manifest deleted (unless IMGPIPE_DELETE_OUTPUTS is off). */
  | { readonly status: 'deleted'; readonly bucket: string; readonly key: string }
  /** Not processed: a test event, an unhandled event, a bad key, one of our own objects. */
  | { readonly status: 'ignored'; readonly bucket?: string; readonly key?: string; readonly reason: string }
  | { readonly status: 'failed'; readonly bucket: string; readonly key: string; readonly reason: string };

export type RecordStatus = RecordResult['status'];

/** Why a key ending in `/` is not processed (reprocessing skips it for the same reason). */
export const FOLDER_MARKER = 'folder marker (a key ending in /)';

/**
 * The outcomes counted per function version too: what a release is judged by (the canary alarms'
 * quarantine and failure ratios over processed + duplicate + quarantined + failed). Ignored,
 * missing and deleted records say nothing about the version, and every metric costs per version.
 */
export const VERSIONED_OUTCOMES: ReadonlySet<RecordStatus> = new Set([
  'processed',
  'duplicate',
  'quarantined',
  'failed',
]);

/** The dimension that carries the function version (terraform/modules/imgpipe/monitoring.tf). */
export const VERSION_DIMENSION = 'version';

export const STATUS_METRIC: Record<RecordStatus, string> = {
  processed: 'ObjectsProcessed',
  duplicate: 'ObjectsDuplicate',
  quarantined: 'ObjectsQuarantined',
  missing: 'ObjectsMissing',
  ignored: 'ObjectsIgnored',
  failed: 'ObjectsFailed',
  deleted: 'ObjectsDeleted',
};

/**
 * One object's result, the error when it failed, and its event: `event` is for the caller to send
 * (a failure's, a removal's); `announced` an outcome's (processed, quarantined, a duplicate's),
 * which the handling sent itself as soon as its status was recorded (finish()), and `unsent`
 * whether that failed (1) or not (0).
 */
export interface Handled {
  readonly result: RecordResult;
  readonly error?: unknown;
  readonly event?: ImageEvent;
  readonly announced?: ImageEvent;
  readonly unsent?: number;
}

/**
 * What the workflow's first step found: an end already, a reason to quarantine, or an image to go on
 * with. `unbegun`: a backfill of the content the status item records processed (outputs current) or
 * quarantined (currentBackfill()), whose item was not begun: the later tasks pass it to reject(),
 * handle() and fail(), which leave the item as it is when they find that outcome again.
 */
export type Inspected =
  | { readonly kind: 'done'; readonly handled: Handled }
  | {
      readonly kind: 'invalid';
      readonly ref: ObjectRef;
      readonly error: InvalidImageError;
      readonly unbegun?: true;
    }
  | {
      readonly kind: 'image';
      readonly ref: ObjectRef;
      readonly header: ImageHeader;
      readonly unbegun?: true;
    };

/**
 * The invocation's time, for the images a handling makes: when the invocation ends, and when its
 * work for the object began (pipeline/process-object.ts ProcessDeps). Empty outside Lambda.
 */
type InvocationTime = Pick<ProcessDeps, 'invocationEndsAt' | 'handlingStartedAt'>;

export interface ObjectHandling {
  /**
   * Processes one object; never throws: a failure comes back as `failed`, with the error. `trigger`
   * says what asked for it (the S3 event name, or `Reprocess`); `remainingMs` is the Lambda
   * invocation's remaining time (context.getRemainingTimeInMillis()), read just before the call,
   * which caps the image's time budget (the status write and the reads before the image count in
   * it). `begun`: an earlier step (the workflow's inspection) already made the stale check and
   * recorded the object as processing, or, with `unbegun`, found it a backfill of the outcome its
   * status item records (Inspected) and began nothing; `gone`: its scan or moderation found the key gone, so it
   * is recorded missing without being read (pipeline/process-object's ProcessDeps.gone).
   * `invocationStartedAt` (a performance.now() time): the invocation runs several objects (the S3
   * handler's records), and what the earlier ones took counts as time gone before this image, as
   * its own status write and reads do (ProcessDeps.handlingStartedAt).
   */
  handle(
    ref: ObjectRef,
    options: {
      trigger: string;
      force?: boolean;
      remainingMs?: number;
      begun?: boolean;
      unbegun?: boolean;
      gone?: boolean;
      invocationStartedAt?: number;
    },
  ): Promise<Handled>;
  /**
   * The workflow mode's first step: the recursion guard, the stale check (the status item becomes
   * `processing`; not for a bulk reprocessing, not forced, of the current content the item records
   * processed, its outputs current, or quarantined: `unbegun`, as handle() leaves such an item), then
   * the header inspection without decoding (pipeline/inspect-object). A
   * duplicate, missing or own object ends here, recorded, logged and counted as handle() does; an
   * invalid one comes back with its reason for the quarantine step. Throws what a retry may fix,
   * and, before anything is read or recorded, for a bucket not among IMGPIPE_SOURCE_BUCKETS.
   * `claim`: the execution's claim on its event (StatusStore begin()); a run of the event another
   * execution holds ends here, `ignored`.
   */
  inspect(ref: ObjectRef, options: { trigger: string; force?: boolean; claim?: Claim }): Promise<Inspected>;
  /**
   * Quarantines an object for a reason found outside the pipeline (a malware signature, moderation
   * labels) or by the inspection: copy, reason record, withdrawn outputs of a replaced version,
   * status, log line, metrics and the Image Quarantined event. Throws what a retry may fix.
   * `unbegun` (Inspected): a quarantine repeated for the reason the status item records leaves the
   * item as it is and announces nothing, as handle()'s backfill does.
   */
  reject(
    ref: ObjectRef,
    error: InvalidImageError,
    options: { trigger: string; force?: boolean; unbegun?: boolean },
  ): Promise<Handled>;
  /**
   * Records a failure that ended an object's workflow (the state machine caught it after its
   * retries): status `failed`, the log line, ObjectsFailed and the Image Failed event. When the
   * status item already holds a final status of the same event (another delivery finished it) or a
   * later event's, it is `ignored` instead: nothing written or announced (a reprocessing's, which
   * has no event, is `failed` all the same, as the run's failure, neither recorded nor announced,
   * as `unbegun`'s). Throws, announcing
   * nothing, when the status write failed in a way a retry may not (throttling, a lost
   * connection): the state machine's Retry records it, and that attempt announces it. Throws,
   * recording and announcing nothing, for a bucket not among IMGPIPE_SOURCE_BUCKETS (Inspect's
   * refusal of it, caught for this step): the execution fails with it. `unbegun` (Inspected): the
   * item, never begun, keeps the outcome it records; the failure is the run's alone (its result, log
   * line and ObjectsFailed), neither recorded nor announced, as handle()'s backfill's.
   */
  fail(ref: ObjectRef, message: string, options: { trigger: string; unbegun?: boolean }): Promise<Handled>;
  /**
   * A source was removed: records it and deletes its outputs while the key stays gone. Never throws.
   * `remainingMs` and `invocationStartedAt` as for handle(): the outputs a removal makes again (the
   * previous version current again, realign(); a later upload's, superseded()) keep to them.
   */
  remove(
    ref: ObjectRef,
    options: { trigger: string; remainingMs?: number; invocationStartedAt?: number },
  ): Promise<Handled>;
  /** Logs and counts a record that was not processed. */
  skip(result: RecordResult & { status: 'ignored' }): RecordResult;
}

export function createObjectHandling(deps: HandlerDeps): ObjectHandling {
  const { config, logger, metrics } = deps;
  const layout = new BucketLayout(config.pipeline, config.quarantinePrefix);
  const isOwnObject = layout.ownObjectGuard(config);
  const trace = deps.tracer?.isTracingEnabled() ? tracedStage(deps.tracer) : undefined;

  /**
   * Counts one outcome under `service` (dashboard, function-wide alarms) and, for the versioned
   * outcomes, once more under `service` + `version` as a metric of its own line (Powertools'
   * singleMetric: another dimension set must not change the dimensions of the invocation's other
   * metrics, which the existing alarms name).
   */
  function count(status: RecordStatus): void {
    metrics.addMetric(STATUS_METRIC[status], MetricUnit.Count, 1);
    if (deps.functionVersion && VERSIONED_OUTCOMES.has(status)) {
      const single = metrics.singleMetric();
      single.addDimension(VERSION_DIMENSION, deps.functionVersion);
      single.addMetric(STATUS_METRIC[status], MetricUnit.Count, 1);
    }
  }

  function skip(result: RecordResult & { status: 'ignored' }): RecordResult {
    const { status, bucket, key, reason } = result;
    logger.info(`Record ${status}`, { outcome: status, bucket, key, reason });
    count(status);
    return result;
  }

  function report(ref: ObjectRef, trigger: string, outcome: Outcome): RecordResult {
    // A redelivered quarantine is a duplicate, as a redelivered image is: the first delivery was
    // counted and announced.
    const status = outcome.status === 'quarantined' && outcome.repeated ? 'duplicate' : outcome.status;
    const level = status === 'quarantined' || status === 'missing' ? 'warn' : 'info';
    logger[level](`Object ${status}`, {
      outcome: status,
      bucket: ref.bucket,
      key: ref.key,
      etag: outcome.etag,
      eventName: trigger,
      bytesIn: outcome.bytesIn,
      bytesOut: outcome.bytesOut,
      ...outcomeDetails(outcome),
      durationsMs: outcome.timings,
    });
    count(status);
    if (outcome.status === 'processed') {
      metrics.addMetric('BytesIn', MetricUnit.Bytes, outcome.bytesIn);
      metrics.addMetric('BytesOut', MetricUnit.Bytes, outcome.bytesOut);
      const t = outcome.timings;
      for (const [name, value] of [
        ['ReadTime', t.read],
        ['DecodeTime', t.decode],
        ['ResizeTime', t.resize],
        ['EncodeTime', t.encode],
        ['WriteTime', t.write],
        ['ProcessingTime', t.total],
      ] as const) {
        metrics.addMetric(name, MetricUnit.Milliseconds, value);
      }
    }
    const { bucket, key } = ref;
    if (outcome.status === 'quarantined')
      return outcome.repeated
        ? { bucket, key, status: 'duplicate', reason: outcome.reason }
        : { bucket, key, status: 'quarantined', reason: outcome.reason };
    return { bucket, key, status: outcome.status };
  }

  function reportFailure(ref: ObjectRef, trigger: string, error: unknown): RecordResult {
    logger.error('Object failed', {
      outcome: 'failed',
      bucket: ref.bucket,
      key: ref.key,
      etag: ref.etag,
      eventName: trigger,
      retryable: error instanceof StorageError ? error.retryable : undefined,
      error: error instanceof Error ? error : new Error(describeError(error)),
    });
    count('failed');
    return { bucket: ref.bucket, key: ref.key, status: 'failed', reason: describeError(error) };
  }

  async function remove(
    ref: ObjectRef,
    { trigger, remainingMs, invocationStartedAt }: Parameters<ObjectHandling['remove']>[1],
  ): Promise<Handled> {
    const foreign = foreignBucket(ref);
    if (foreign) return { result: reportFailure(ref, trigger, foreign), error: foreign };
    // Ignored on upload too (start()): no outputs, status or event to remove or announce.
    const ignored = notAnUpload(ref);
    if (ignored) return ignored;
    const started = performance.now();
    // The images a removal makes again keep to the invocation's end, fixed now (see handle()):
    // with no deadline, made after the invocation's earlier records, they ran the function into
    // its timeout, stopped mid-image with nothing recorded.
    const time = invocationTime(started, remainingMs, invocationStartedAt);
    const status = deps.status;
    // The removal is ordered against the key's other events before anything is deleted (begin:
    // `processing` for this event, or stale), and recorded deleted only once its outputs are
    // gone: recorded first, a deletion that then failed (S3 throttling, access denied) left the
    // item saying deleted over outputs still published, and nothing announced.
    let begun: BeginResult | undefined;
    try {
      const removal = await removeObject(ref, {
        ...processDeps,
        deleteOutputs: config.deleteOutputs,
        ...(status
          ? {
              record: async () => {
                begun = await status.begin(ref);
                return begun === 'stale' ? 'stale' : 'applied';
              },
            }
          : {}),
      });
      if (removal.status === 'kept') {
        let realigned: string | undefined;
        try {
          realigned = removal.current === undefined ? undefined : await realign(ref, removal.current, time);
        } catch (error) {
          // The removal is not the key's outcome (the key holds content again), so its failure is
          // neither recorded nor announced: written over the item (with this removal's sequencer),
          // `failed` replaced the item recording the current content processed, and Lambda's retry
          // then withdrew the outputs it was making again (redoChecked() found the content no
          // longer processed), for a manual reprocess to publish. The record fails, and the
          // retry, which finds the item as it was, makes them.
          const failure = new Error(
            `s3://${ref.bucket}/${ref.key}: removed, but the key holds content again (ETag ${removal.current}), and its outputs, of other content, could not be brought in line with it (Lambda's retry does it; nothing recorded or announced): ${describeError(error)}`,
            { cause: error },
          );
          return { result: reportFailure(ref, trigger, failure), error: failure };
        }
        const reason = realigned ? `${removal.reason}; ${realigned}` : removal.reason;
        return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
      }
      let event = deletedEvent(ref, removal.removedOutputs.length);
      let pending = pendingEvent(ref, event);
      let recorded: Awaited<ReturnType<StatusStore['finish']>> | undefined;
      try {
        // A redelivery of a removal the table records deleted (begin(): `finished`) that found
        // nothing left to delete changes nothing: it wrote deleted again, moving updatedAt, and
        // announced Image Deleted again with removedOutputs 0 (the first delivery announced it as
        // soon as it was recorded). One that deleted what was left (the first delivery's second
        // look failed) leaves the item as it is and announces what it deleted.
        const item = begun === 'finished' ? await status?.get(ref.bucket, ref.key) : undefined;
        if (item !== undefined && holdsOutcome(item, ref, { status: 'deleted' })) {
          // An earlier attempt recorded the removal and did not get its Image Deleted onto the
          // bus (it stopped in between, or PutEvents failed for good): sent now, as it was (its
          // time and removedOutputs kept), and its mark removed once sent.
          const unsent = item.pendingEvent;
          if (removal.removedOutputs.length === 0) {
            if (unsent !== undefined) {
              const again = deletedEvent(ref, unsent.removedOutputs ?? 0, unsent.time);
              const reason =
                'redelivered removal: the status table records this removal deleted already, and nothing was left to delete; its Image Deleted, which an earlier attempt did not send, is sent now';
              return {
                result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }),
                ...(await announce(again, ref, unsent)),
              };
            }
            const reason =
              'redelivered removal: the status table records this removal deleted already, and nothing was left to delete; not announced';
            return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
          }
          recorded = 'applied';
          pending = undefined;
        } else recorded = await status?.finish(ref, { status: 'deleted' }, undefined, undefined, pending);
      } catch (error) {
        // The outputs are gone, and that goes out now, as an upload's outcome does when its
        // status cannot be written: the record fails, so Lambda's retry records it (and announces
        // it again).
        await status?.finish(ref, { status: 'failed', message: describeError(error) }).catch(() => undefined);
        return { result: reportFailure(ref, trigger, error), error, event };
      }
      // A later event of the key began while the outputs were deleted (the key uploaded again): it
      // decides and announces the key's outputs; Image Deleted after its Image Processed would say
      // the key is gone. What this removal deleted may have been that upload's, so the outputs are
      // brought in line as a superseded event's are: made again from the content the table records
      // processed, left to its run while that is under way (never publishing unchecked content).
      if (recorded === 'stale')
        return await superseded(
          ref,
          trigger,
          'a later event of this key was recorded while this removal ran',
          true,
          time,
        );
      // A backfill (bulk reprocessing: no sequencer) that read the object before it was deleted
      // and finished while its outputs were being deleted is recorded over this removal's
      // `processing` (its write refuses only `deleted`), so it left what it wrote after the
      // deletion published. Now that the item says deleted, any later write is refused and its
      // writer withdraws its outputs; those written before are deleted here.
      let removedOutputs = removal.removedOutputs;
      if (status && config.deleteOutputs) {
        try {
          const again = await removeObject(ref, { ...processDeps, deleteOutputs: true });
          if (again.status === 'deleted' && again.removedOutputs.length > 0) {
            removedOutputs = [...removedOutputs, ...again.removedOutputs];
            event = deletedEvent(ref, removedOutputs.length, event.detail.time);
          }
        } catch (error) {
          // Recorded deleted already: the record fails, and Lambda's retry deletes them. Announced
          // now, as the removal is recorded: a retry that finds nothing left announces nothing, so
          // held for the invocation's end, which a later record may never reach, it was lost.
          return {
            result: reportFailure(ref, trigger, error),
            error,
            ...(await announce(event, ref, pending)),
          };
        }
      }
      logger.info('Object deleted', {
        outcome: 'deleted',
        bucket: ref.bucket,
        key: ref.key,
        eventName: trigger,
        removedOutputs,
        durationsMs: { total: msSince(started) },
      });
      count('deleted');
      // Announced now, as an upload's outcome is (finish()): with the table, its status tells a
      // redelivery that the removal, event included, is done, so a timeout or a crash on a later
      // record of the batch must not leave it recorded and never announced. Without it too: held
      // for the invocation's end, an Image Deleted the bus refused was only logged and the record
      // succeeded, so no retry announced it; now the record fails (s3-event.ts), and the retry,
      // which finds nothing left to delete, announces it.
      return {
        result: { bucket: ref.bucket, key: ref.key, status: 'deleted' },
        ...(await announce(event, ref, pending)),
      };
    } catch (error) {
      // Before the removal was ordered (begin()), its first look at the key (the HEAD) failed: it
      // does not know yet whether the key is gone, and the key may hold content again (a
      // versioned bucket's previous version). `failed` written over the item then, with this
      // removal's sequencer, replaced the item recording that content processed, and Lambda's
      // retry withdrew its outputs (realign(): redoChecked() found it no longer processed) instead
      // of making them. Nothing is recorded or announced: the record fails, and the retry decides.
      if (status && begun === undefined) {
        const failure = new Error(
          `s3://${ref.bucket}/${ref.key}: removed, but the removal failed before it was ordered against the key's other events (its look at the key, or its status item's start): whether the key is gone or holds content again is not known (Lambda's retry looks again; nothing recorded or announced): ${describeError(error)}`,
          { cause: error },
        );
        return { result: reportFailure(ref, trigger, failure), error: failure };
      }
      // As an upload's failure: the item says failed with the error, and Image Failed goes out,
      // until Lambda's retry deletes what is left and records the removal.
      const message = describeError(error);
      const written = await status?.finish(ref, { status: 'failed', message }).catch(() => undefined);
      if (written === 'stale') {
        // Another delivery of this removal finished it (its outputs are gone), or a later event of
        // the key is recorded, which decides the outputs: a retry would be stale.
        const reason = `stale removal: the status table holds another delivery's final status or a later event for this key; not announced: ${message}`;
        return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
      }
      return { result: reportFailure(ref, trigger, error), error, event: failureEvent(ref, message) };
    }
  }

  /**
   * A removal found the key holding an object again. Usually a newer upload, whose own event
   * decides its outputs; but in a versioned bucket deleting the current version makes the previous
   * one current, and S3 sends no event for that: the outputs, of the content just deleted, would
   * stay published for good. So with the status table, unless a later event of the key is recorded
   * (or its run is under way), outputs whose manifest names other content than the key's are
   * brought in line as a superseded event's are (redoChecked: the current content is processed only
   * if its own run processed it, else the other content's outputs are withdrawn, and a backfill
   * publishes it). What was done, or undefined when nothing was.
   */
  async function realign(
    ref: ObjectRef,
    currentEtag: string,
    time: InvocationTime,
  ): Promise<string | undefined> {
    if (!deps.status || !config.deleteOutputs) return undefined;
    const { bucket, key } = ref;
    const item = await deps.status.get(bucket, key);
    const later =
      ref.sequencer !== undefined &&
      item?.sequencer !== undefined &&
      item.sequencer > sequencerOrder(ref.sequencer);
    if (later || item?.status === 'processing') return undefined;
    const manifest = await readManifest(deps.output, layout.manifestKey(key));
    if (!manifest) {
      // Outputs at the layout's keys that no manifest lists: what a run that failed before its
      // manifest wrote (S3's retries spent), here the deleted content's. None is the current
      // content's (no manifest lists them, and no run of it is under way): left, they kept the
      // deleted content published, and no later event of the key looks for them.
      const leftovers = await deleteUnlisted(key, processDeps);
      const unlisted =
        leftovers.length === 0
          ? undefined
          : `${leftovers.length} output(s) listed by no manifest (a failed run's) deleted`;
      // The outputs of other content are withdrawn already, and the item still calls that content
      // processed: an earlier attempt withdrew them and failed to record deleted (the table
      // throttled past the SDK's retries). Lambda's retry found no manifest and ended here, so the
      // item kept saying processed, for good, for content that is deleted and published no more.
      if (item?.status !== 'processed' || item.etag === currentEtag) return unlisted;
      await deps.status.finish(ref, { status: 'deleted' });
      return `its outputs, of other content (ETag ${item.etag}), were withdrawn by an earlier attempt, and its status item now says so (deleted)${unlisted ? `; ${unlisted}` : ''}`;
    }
    if (manifest.source.etag === currentEtag) {
      // The key's last event failed (a failed item keeps no ETag): when it was the deleted
      // content's, the outputs its run wrote before it failed (S3's retries spent) replaced some
      // this manifest lists, so the content this removal deleted stayed published under the
      // current content's manifest. They are made again from the content the manifest names
      // (checked by its run: only while the key holds it, inspectedOnly), as a superseded event's
      // are; the same bytes again when the failure was of the current content.
      if (item?.status !== 'failed' || item.etag === currentEtag) return undefined;
      const redone = await processObject(
        { bucket, key, etag: currentEtag },
        { ...processDeps, ...time, force: true, madeAgain: true, inspectedOnly: true, encoder: deps.encoder },
      );
      return `the key's last event failed, and its run may have written over the outputs of the key's content: they were made again from it (${redone.status})`;
    }
    const now = await redoChecked(bucket, key, time);
    // Withdrawn, the deleted content's item says so, as a removal's does: neither the status table
    // nor the API calls it processed (the API says the key's object is uploaded), and a backfill
    // records the current content over it.
    const withdrawn = (await readManifest(deps.output, layout.manifestKey(key))) === undefined;
    if (withdrawn && item?.etag !== currentEtag) await deps.status.finish(ref, { status: 'deleted' });
    return `its outputs were of other content (ETag ${manifest.source.etag}), which no event of the key replaces (${now})`;
  }

  /**
   * An object of a bucket that is not among the function's source buckets (IMGPIPE_SOURCE_BUCKETS,
   * when set): the error its record fails with, before any status write or read. Such a record
   * (another bucket's notifications sent to the function by mistake, a reprocessing request naming
   * another bucket) ended in S3's AccessDenied on the read, recorded failed in the status table and
   * announced as Image Failed for an object that is not the deployment's. Failed, not skipped:
   * the notifications of a bucket meant to be a source, left out of the setting, must not be lost
   * unseen; it reaches the dead-letter queue with this message. The function's own objects are
   * left to the recursion guard.
   */
  function foreignBucket(ref: ObjectRef): ConfigError | undefined {
    const buckets = config.sourceBuckets;
    // The function's own outputs are ignored by the recursion guard (notAnUpload()), as before.
    if (buckets === undefined || buckets.includes(ref.bucket) || isOwnObject(ref.bucket, ref.key))
      return undefined;
    return new ConfigError(
      'IMGPIPE_SOURCE_BUCKETS',
      ref.bucket,
      `s3://${ref.bucket}/${ref.key}: the bucket ${ref.bucket} is not a source bucket of this function (IMGPIPE_SOURCE_BUCKETS: ${buckets.join(', ')}): its event notifications (or the reprocessing request) name the wrong function or bucket; nothing was read, recorded or announced`,
    );
  }

  /**
   * The recursion guard, and folder markers (the S3 console's "Create folder" writes an empty
   * object named after the folder): no upload. Their result, or undefined to go on.
   */
  function notAnUpload(ref: ObjectRef): Handled | undefined {
    const own = isOwnObject(ref.bucket, ref.key);
    if (own) {
      return {
        result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason: `own output: ${own}` }),
      };
    }
    if (ref.key.endsWith('/'))
      return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason: FOLDER_MARKER }) };
    return undefined;
  }

  /**
   * The guard and the stale check: the result that ends the object here, or, to go on, whether a
   * duplicate of this event is announced (see finish()). `realignStale`: a stale event brings the
   * key's outputs in line (staleOutputs), which may process an image; not in the workflow's
   * Inspect, whose function decodes nothing and has the memory for none (an image made there would
   * be judged against it), as finish() publishes nothing there either. `backfills`: a backfill of
   * a current outcome (currentBackfill()) begins nothing (the S3 handler's, and the workflow's
   * Inspect, whose later tasks are told so: Inspected's `unbegun`).
   */
  async function start(
    ref: ObjectRef,
    realignStale = false,
    time: InvocationTime = {},
    force = false,
    backfills = realignStale,
    claim?: Claim,
  ): Promise<{ ended: Handled } | Started> {
    const ignored = notAnUpload(ref);
    if (ignored) return { ended: ignored };
    const current = backfills && !force ? await currentBackfill(ref) : undefined;
    if (current) return { announceDuplicate: false, recorded: true, unbegun: current };
    const begun = await deps.status?.begin(ref, undefined, claim);
    // Another workflow execution of this very event is under way (its claim holds): it scans,
    // moderates, records and announces the object; this delivery does none of it again. A backfill
    // (no sequencer) finds another run of the key under way (its upload's, or another bulk
    // reprocessing's): it is left to that run, which uses the same configuration.
    if (begun === 'running') {
      const reason =
        ref.sequencer === undefined
          ? `another run of the key is under way (its upload's, or a bulk reprocessing's): it records and announces the outcome`
          : `another execution of this event is under way: its run records and announces the outcome`;
      return { ended: { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) } };
    }
    // A later event of this key is already recorded: this one is about content that is gone. A
    // backfill is refused on a deleted item, unless the key holds an object again: S3 announces
    // the removal of a versioned bucket's delete marker, which brings the object back, as a removal
    // alone. Its final status is then recorded only if what it read is the key's content (finish).
    if (
      begun === 'stale' &&
      (ref.sequencer !== undefined || (await deps.sourceStorage(ref.bucket).head(ref.key)) === undefined)
    ) {
      const realigned = realignStale ? await staleOutputs(ref, time) : undefined;
      const reason = `stale event: the status table holds a later event for this key${realigned ? `; ${realigned}` : ''}`;
      return { ended: { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) } };
    }
    return { announceDuplicate: announcesDuplicate(ref, begun), recorded: begun === 'finished' };
  }

  /**
   * A backfill (bulk reprocessing: no sequencer, no ETag) of a key whose status item records its
   * current content (a HEAD) processed, with outputs current for it (the manifest names that
   * content and the configuration), or quarantined: the reference with that ETag, for
   * processObject to find the duplicate without reading the source (a quarantine is judged again,
   * as the configuration may take it now, and comes back repeated when it is not); undefined
   * otherwise, or when a read fails (the ordinary way then decides). Such a backfill leaves the
   * item as it is when it finds that outcome again (finish(): `recorded`): its begin() started the
   * item over, and the duplicate's final status (which has no timings) replaced it, so a reprocess
   * removed every current image's timings and moved its updatedAt, and listed every old
   * quarantine again under `imgpipe status --quarantined --since`. Another outcome (the content
   * processed under a configuration that takes it now) is recorded as a backfill's is.
   */
  async function currentBackfill(ref: ObjectRef): Promise<ObjectRef | undefined> {
    if (!deps.status || ref.sequencer !== undefined || ref.etag !== undefined) return undefined;
    try {
      const item = await deps.status.get(ref.bucket, ref.key);
      if (item?.etag === undefined) return undefined;
      if (item.status === 'processed') {
        const { current } = await previousOutputs(ref.key, processDeps);
        if (!current(item.etag)) return undefined;
      } else if (item.status !== 'quarantined') return undefined;
      const head = await deps.sourceStorage(ref.bucket).head(ref.key);
      return head?.etag === item.etag ? { ...ref, etag: head.etag } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A stale event's earlier attempt may have written its outputs over a later version's and then
   * stopped (a timeout, a crash) before its status write, which would have found it stale and
   * brought them in line (superseded()); its retry, stale at once, does it instead. When the
   * manifest names content other than the key's current content, they are brought in line as in
   * the workflow mode (redoChecked: the current content made again only if the table records it
   * processed, outputs of other content withdrawn once no run is under way), and never for a key
   * that is gone while IMGPIPE_DELETE_OUTPUTS keeps a deleted source's outputs. What was done, or
   * undefined when nothing was.
   */
  async function staleOutputs(ref: ObjectRef, time: InvocationTime): Promise<string | undefined> {
    const manifest = await readManifest(deps.output, layout.manifestKey(ref.key));
    if (!manifest || manifest.source.key !== ref.key) return undefined;
    const current = await deps.sourceStorage(ref.bucket).head(ref.key);
    if (manifest.source.etag === current?.etag || (!current && !config.deleteOutputs)) return undefined;
    return `its outputs were of other content (ETag ${manifest.source.etag}) than the key's (${await redoChecked(ref.bucket, ref.key, time)})`;
  }

  /**
   * Whether a duplicate (the manifest current for this event's content) is announced as processed:
   * an S3 event's earlier attempt may have stopped after its manifest and before its event (a
   * timeout, a crash, its status item not written), so it is announced again unless the status
   * table says this very event's final status was recorded (its event went out with it). A backfill
   * (no sequencer) announces nothing new: its content's own event did.
   */
  function announcesDuplicate(ref: ObjectRef, begun: BeginResult | undefined): boolean {
    return ref.sequencer !== undefined && begun !== 'finished';
  }

  /**
   * Records an outcome: the status item, then at once its event, on its own (announce()), the log
   * line and metrics. A final status tells a retry that this event's work, event included, is
   * done (announcesDuplicate), so the event cannot wait for the invocation's end: a timeout or a
   * crash on a later record of the batch would leave it recorded and never announced. When the
   * status item cannot be written, the outcome still stands (its outputs or quarantine are in
   * place): the record fails, so it is retried and recorded then, but its event goes out now, and
   * again with the retry, which finds the work done (a duplicate whose item is not final, or a
   * repeated quarantine: none can tell whether an earlier attempt reached its event).
   * `started`: what start() found (whether a duplicate is announced, whether this very event's
   * final status is recorded already). A redelivery that finds the work of such an event done (a
   * duplicate, a repeated quarantine) writes nothing over an item holding that outcome: written
   * again, a duplicate (which has no timings) removed the item's, and updatedAt moved to the
   * redelivery, listing an old quarantine among new ones. `inspected`: the
   * outcome is the workflow's inspection's, which wrote nothing: a key replaced since is left to
   * its own event's run, which checks the new content (superseded() would publish it unchecked).
   */
  async function finish(
    ref: ObjectRef,
    trigger: string,
    outcome: Outcome,
    checked = false,
    { announceDuplicate, recorded, unbegun }: Started = { announceDuplicate: false, recorded: false },
    inspected = false,
    time: InvocationTime = {},
  ): Promise<Handled> {
    let event = outcomeEvent(ref, outcome, config, { announceDuplicate });
    // Recorded with the outcome, removed once the event is on the bus (PendingEvent).
    let pending = pendingEvent(ref, event);
    let written: Awaited<ReturnType<StatusStore['finish']>> | undefined;
    const final = finalStatus(outcome);
    const redelivered =
      recorded && (outcome.status === 'duplicate' || (outcome.status === 'quarantined' && outcome.repeated));
    try {
      // A backfill (no sequencer) of content other than the item names records it if that
      // content is the key's current one; its `deleted` over an item naming content, if the key
      // still holds nothing (etag undefined).
      const current = async (etag: string | undefined) =>
        (await deps.sourceStorage(ref.bucket).head(ref.key))?.etag === etag;
      const item = redelivered ? await deps.status?.get(ref.bucket, ref.key) : undefined;
      const held = item !== undefined && holdsOutcome(item, ref, final);
      // A backfill (currentBackfill()) of content the item records quarantined, quarantined again
      // for the same reason: the quarantine's own event announced it when it was recorded, and a
      // bulk reprocessing announced it again, to the image alerts, for every known quarantine of
      // its prefix. A redelivery of an S3 event still announces it (it cannot tell whether its
      // earlier attempt got as far as its event); a new quarantine is announced.
      if (
        held &&
        unbegun !== undefined &&
        final.status === 'quarantined' &&
        item.status === 'quarantined' &&
        item.reason === final.reason
      )
        event = undefined;
      // An earlier attempt of this event recorded the outcome and did not get its event onto the
      // bus (it stopped in between, or PutEvents failed for good): the redelivery, which found the
      // outcome recorded, announced nothing, and the event was lost for good. It is sent now, with
      // the detail it had (its time kept), and the mark removed once it is sent.
      if (held && item.pendingEvent !== undefined && ref.sequencer !== undefined) {
        pending = item.pendingEvent;
        event = outcomeEvent(ref, outcome, config, { announceDuplicate: true, time: pending.time });
      } else if (held) pending = undefined;
      written = held ? 'applied' : await deps.status?.finish(ref, final, undefined, current, pending);
    } catch (error) {
      const message = describeError(error);
      const failed = await deps.status?.finish(ref, { status: 'failed', message }).catch(() => undefined);
      // The failure is refused too. When the item holds this very outcome of this event, the
      // write went through and only its answer was lost (a timeout on the SDK's last attempt):
      // the outcome stands and is announced, as it would have been (another delivery's equal
      // outcome is announced again, as a duplicate would be). The item unread (the table still
      // failing), the record fails for the retry, which brings the outputs in line if it is stale.
      const recorded =
        failed === 'stale'
          ? await deps.status?.get(ref.bucket, ref.key).then(
              (item) => item !== undefined && holdsOutcome(item, ref, final),
              () => undefined,
            )
          : undefined;
      if (recorded === undefined)
        return { result: reportFailure(ref, trigger, error), error, ...(await announce(event, ref)) };
      // Otherwise a later event of the key (or another delivery's other final status) is recorded,
      // as the write would have found. It is treated so (superseded outputs brought in line,
      // nothing announced for them), not failed for a retry the table ignores as stale while what
      // this attempt wrote stays over the later version's outputs.
      written = recorded ? 'applied' : 'stale';
    }
    // This delivery ran out of time (too-slow), and its write lost: another delivery of the same
    // content decided it (processed, quarantined for what it is), or a later event of the key is
    // recorded. That status and its event stand: announced, Image Quarantined (too-slow) followed
    // the other delivery's Image Processed for content whose item says processed. Its quarantine
    // copy stays, as a repeated quarantine's would; the outputs of that content are not withdrawn
    // for a too-slow (process-object.ts replacedManifest).
    if (written === 'stale' && isRunFailure(final)) {
      const reason = `stale outcome: this delivery ran out of time (${final.status === 'quarantined' ? final.reason : final.status}), and the status table holds another delivery's decision for this content or a later event for this key; not recorded or announced`;
      return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
    }
    // A later event of the key is recorded: it decides, and announces, the key's outputs. In the
    // workflow mode, a retried Process finds the outputs its earlier attempt wrote current for its
    // own (replaced) content, after that attempt could not make them again for the key's content
    // (superseded(): its invocation's time gone, an S3 fault): they are brought in line now, as the
    // direct mode's retry does in start().
    if (written === 'stale' && outcome.status === 'duplicate') {
      const realigned = checked ? await staleOutputs(ref, time) : undefined;
      if (realigned === undefined) return { result: report(ref, trigger, outcome) };
      const reason = `stale event: the status table holds a later event for this key; ${realigned}`;
      return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
    }
    if (written === 'stale' && outcome.status === 'processed')
      return superseded(
        ref,
        trigger,
        'a later event of this key was recorded while this one was processed',
        checked,
        time,
      );
    if (!deps.status && (outcome.status === 'processed' || outcome.status === 'duplicate')) {
      // Without the table nothing orders the events of a key: a late event (a retry, a redrive)
      // read its own version, older than the key's. The key's content now says whether it was.
      let replaced: string | undefined;
      try {
        const current = await deps.sourceStorage(ref.bucket).head(ref.key);
        replaced =
          current === undefined
            ? 'the key was deleted while this event was processed'
            : current.etag === outcome.etag
              ? undefined
              : `the key holds other content (ETag ${current.etag}) than this event's (ETag ${outcome.etag})`;
      } catch (error) {
        return { result: reportFailure(ref, trigger, error), error };
      }
      if (replaced && inspected) {
        const reason = `stale event: ${replaced}; its own event checks and processes that content`;
        return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
      }
      if (replaced) return superseded(ref, trigger, replaced, checked, time);
    }
    return { result: report(ref, trigger, outcome), ...(await announce(event, ref, pending)) };
  }

  /**
   * The mark an outcome's status is recorded with while its event is still to be sent: for an S3
   * event's record (its redelivery sends it again), when there is an event, a bus and a table.
   */
  function pendingEvent(ref: ObjectRef, event: ImageEvent | undefined): PendingEvent | undefined {
    if (!event || !deps.events || !deps.status || ref.sequencer === undefined) return undefined;
    const { time, removedOutputs } = event.detail;
    return removedOutputs === undefined ? { time } : { time, removedOutputs };
  }

  /**
   * The event of this very event's outcome that the status item records with its event pending
   * (PendingEvent), made again from the item (and the manifest for a processed image, whose outputs
   * it lists) with the detail it had; undefined when the item holds no such outcome of the event.
   */
  async function pendingOutcome(ref: ObjectRef, item: StatusItem): Promise<ImageEvent | undefined> {
    const pending = item.pendingEvent;
    if (pending === undefined || ref.sequencer === undefined) return undefined;
    if (item.sequencer !== sequencerOrder(ref.sequencer)) return undefined;
    if (item.status === 'deleted') return deletedEvent(ref, pending.removedOutputs ?? 0, pending.time);
    const base = {
      version: 1 as const,
      bucket: ref.bucket,
      key: ref.key,
      ...(ref.versionId === undefined ? {} : { versionId: ref.versionId }),
      sequencer: ref.sequencer,
      time: pending.time,
    };
    if (item.status === 'quarantined' && item.reason !== undefined)
      return imageEvent({
        ...base,
        status: 'quarantined',
        ...(item.etag === undefined ? {} : { etag: item.etag }),
        reason: item.reason,
        message: item.message ?? '',
        quarantineKey: layout.quarantineKeys(ref.key).object,
      });
    if (item.status !== 'processed' || item.manifestKey === undefined) return undefined;
    const manifest = await readManifest(deps.output, item.manifestKey);
    if (manifest === undefined || manifest.source.etag !== item.etag) return undefined;
    return imageEvent({
      ...base,
      status: 'processed',
      etag: manifest.source.etag,
      format: manifest.source.format,
      width: manifest.source.displayWidth,
      height: manifest.source.displayHeight,
      manifestKey: item.manifestKey,
      outputBucket: config.outputBucket,
      outputs: manifest.outputs,
    });
  }

  /**
   * Sends an outcome's event now, on its own; what Handled says of it. Once it is sent, the
   * `pending` mark its status was recorded with is removed; a failure to remove it is logged (a
   * redelivery then sends the event again: consumers see events at least once anyway).
   */
  async function announce(
    event: ImageEvent | undefined,
    ref?: ObjectRef,
    pending?: PendingEvent,
  ): Promise<Pick<Handled, 'announced' | 'unsent'>> {
    if (!event || !deps.events) return {};
    const batch = new EventBatch(deps.events, logger, metrics);
    batch.add(event);
    const unsent = await batch.flush();
    if (unsent === 0 && ref && pending && deps.status)
      await deps.status.eventSent(ref, pending).catch((error: unknown) =>
        logger.warn('Event sent, its pending mark not removed (a redelivery sends it again)', {
          bucket: ref.bucket,
          key: ref.key,
          error: error instanceof Error ? error : new Error(describeError(error)),
        }),
      );
    return { announced: event, unsent };
  }

  /**
   * A later event of the key was recorded while this one was processed (a version uploaded in the
   * meantime, or a removal), or, without a status table, the key no longer holds the content
   * processed: the outputs and manifest just written are of content that is gone, and may have
   * replaced the later version's. They are brought back in line with the key as it is now
   * (made again from the current content, or deleted when the key is gone), and nothing is
   * announced: the later event's status and event stand.
   *
   * `checked` (the workflow mode, whose checks ran before Process): the key's current content is
   * made into outputs only when the status table says it was processed, i.e. it passed the checks
   * of its own run; otherwise nothing of it is published here (its run decides), and outputs of
   * other content are withdrawn once that run has ended.
   */
  async function superseded(
    ref: ObjectRef,
    trigger: string,
    why: string,
    checked = false,
    time: InvocationTime = {},
  ): Promise<Handled> {
    const { bucket, key } = ref;
    try {
      const removal = await removeObject(
        { bucket, key },
        { ...processDeps, deleteOutputs: config.deleteOutputs },
      );
      const now =
        removal.status === 'deleted'
          ? `the key is gone, ${removal.removedOutputs.length} output(s) deleted`
          : checked
            ? await redoChecked(bucket, key, time)
            : (
                await processObject(
                  { bucket, key },
                  { ...processDeps, ...time, madeAgain: true, encoder: deps.encoder },
                )
              ).status;
      const reason = `stale event: ${why}; its outputs were redone for the key's current content (${now})`;
      return { result: skip({ bucket, key, status: 'ignored', reason }) };
    } catch (error) {
      const failure = new Error(
        `s3://${bucket}/${key}: ${why}, and its outputs could not be redone for the current content (reprocess the key): ${describeError(error)}`,
        { cause: error },
      );
      return { result: reportFailure(ref, trigger, failure), error: failure };
    }
  }

  /**
   * superseded() in the workflow mode: the key's current content is processed only once its own
   * run has processed it (passed its checks). While that run is under way, the outputs just
   * written stay for it to replace or withdraw; once it has ended otherwise (quarantined, failed),
   * outputs of content other than the key's are deleted.
   */
  async function redoChecked(bucket: string, key: string, time: InvocationTime = {}): Promise<string> {
    const item = await deps.status?.get(bucket, key);
    const current = await deps.sourceStorage(bucket).head(key);
    if (current && item?.status === 'processed' && item.etag === current.etag) {
      // The version its run checked, where the bucket keeps versions.
      const ref = {
        bucket,
        key,
        etag: current.etag,
        ...(item.versionId ? { versionId: item.versionId } : {}),
      };
      return (await processObject(ref, { ...processDeps, ...time, madeAgain: true, encoder: deps.encoder }))
        .status;
    }
    const status = item?.status ?? 'unknown';
    if (status === 'processing') return `not processed: the key's own run is under way`;
    const manifestKey = layout.manifestKey(key);
    const manifest = await readManifest(deps.output, manifestKey);
    // The on-demand results go with the outputs, as a quarantine's withdrawal takes them
    // (process-object.ts): one too large to answer was given out as a redirect to its stored object.
    const withdrawn =
      manifest && manifest.source.etag !== current?.etag
        ? [
            ...(transforms ? await deleteResults(key, deps.output, transforms) : []),
            ...(await deleteOutputs(deps.output, manifestKey, manifest)),
          ]
        : [];
    return `not processed: the status table does not record the key's current content as processed (status ${status}): reprocess the key to publish it; ${withdrawn.length} output(s) of other content deleted`;
  }

  const transforms =
    config.transformPrefix === undefined ? undefined : new TransformLayout(config.transformPrefix);
  const processDeps = {
    config: config.pipeline,
    layout,
    source: deps.sourceStorage,
    output: deps.output,
    quarantine: deps.quarantine,
    ...(transforms ? { transforms } : {}),
  };

  return {
    skip,
    remove,
    async inspect(ref, { trigger, force, claim }) {
      // The workflow's first task (a reprocessing naming another bucket starts it with that
      // bucket's events): refused before begin() records it, or the read ends in AccessDenied.
      const foreign = foreignBucket(ref);
      if (foreign) throw foreign;
      // A bulk reprocessing (not forced) of the current content the item records processed or
      // quarantined begins nothing, as the S3 handler's does: begun here, the item was started over
      // and its repeated quarantine written and announced again by the Quarantine task, moving
      // updatedAt (every old quarantine listed again under `imgpipe status --quarantined --since`)
      // and mailing every known malware finding of the prefix to the image alerts again.
      const started = await start(ref, false, {}, force === true, true, claim);
      if ('ended' in started) return { kind: 'done', handled: started.ended };
      const inspection = await inspectObject(started.unbegun ?? ref, { ...processDeps, force });
      if (inspection.kind === 'done')
        return {
          kind: 'done',
          handled: await finish(ref, trigger, inspection.outcome, false, started, true),
        };
      const unbegun = started.unbegun === undefined ? {} : { unbegun: true as const };
      if (inspection.kind === 'invalid')
        return { kind: 'invalid', ref: inspection.ref, error: inspection.error, ...unbegun };
      return { kind: 'image', ref: inspection.ref, header: inspection.header, ...unbegun };
    },
    async reject(ref, error, { trigger, force, unbegun }) {
      const outcome = await rejectObject(ref, error, force ? { ...processDeps, force } : processDeps);
      // Another delivery of the event, inspected while this one ran, may have recorded this
      // quarantine since (as the workflow's Process, handle()): finish() looks, and a repeated
      // quarantine that finds it writes nothing over the item (its updatedAt moved, listing the
      // quarantine again among new ones). It is announced all the same: an alert must not be lost.
      return finish(
        ref,
        trigger,
        outcome,
        false,
        unbegun && !force ? unbegunStart(ref) : { announceDuplicate: false, recorded: true },
      );
    },
    async fail(ref, message, { trigger, unbegun }) {
      // Inspect's refusal of another bucket, caught for this task: still nothing recorded or
      // announced; the execution fails with it, as the S3 event's record reaches its dead letters.
      const foreign = foreignBucket(ref);
      if (foreign) throw foreign;
      const error = new Error(message);
      // A backfill that began nothing (Inspected's `unbegun`): the item, left as it is, says the
      // object is processed (or quarantined), its outputs (or quarantine) in place; Image Failed
      // would say otherwise. The failure is the reprocessing's: its result, log line and metric.
      if (unbegun) return { result: reportFailure(ref, trigger, error), error };
      let written: Awaited<ReturnType<StatusStore['finish']>> | undefined;
      try {
        written = await deps.status?.finish(ref, { status: 'failed', message });
      } catch (failure) {
        // A write a retry may make (throttling, a lost connection) is thrown, unannounced: the
        // state machine's Retry records the failure, and that attempt announces it. One no retry
        // can make (access denied) leaves the failure announced all the same.
        if (taskError(failure).name === TRANSIENT_ERROR) throw failure;
      }
      // A reprocessing (no sequencer) whose write is refused: its Inspect failed after finding the
      // item's outcome current (it began nothing, and its failure carries no `unbegun`), or
      // another run recorded a final status while it ran. The item and its event stand, but this
      // run failed: ended `ignored`, its failure was named nowhere (the execution succeeded). It
      // is the run's failure, as unbegun's: its result, log line and metric, not announced.
      if (written === 'stale' && ref.sequencer === undefined)
        return { result: reportFailure(ref, trigger, error), error };
      if (written === 'stale') {
        // Another delivery of this event finished it (S3, EventBridge and Express executions are
        // at least once), or a later event of the key is recorded: that status and its event
        // stand, and this delivery's failure is not the object's outcome.
        const item = await deps.status?.get(ref.bucket, ref.key).catch(() => undefined);
        const holds = item ? `holds ${item.status} for this key` : 'holds a later status for this key';
        // This event's outcome recorded with its event pending: the task that recorded it stopped
        // before PutEvents (a crash, its timeout), which no Retry covers, so the Catch came here and
        // the event was lost for good. It is sent now, as it was, and the failure is not announced.
        const owed = item === undefined ? undefined : await pendingOutcome(ref, item).catch(() => undefined);
        if (owed !== undefined && item?.pendingEvent !== undefined) {
          const reason = `stale failure: the status table holds this event's outcome (${item.status}), recorded by an attempt that stopped before its ${owed.detailType} went out, which is sent now; the failure is not announced: ${message}`;
          return {
            result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }),
            ...(await announce(owed, ref, item.pendingEvent)),
          };
        }
        const reason = `stale failure: the status table ${holds} (another delivery of the event finished it, or a later event); not announced: ${message}`;
        return { result: skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason }) };
      }
      return { result: reportFailure(ref, trigger, error), error, event: failureEvent(ref, message) };
    },
    async handle(
      ref,
      { trigger, force, remainingMs, begun, unbegun: inspectedUnbegun, gone, invocationStartedAt },
    ) {
      // When the invocation ends, fixed now, when its remaining time was read: the status write
      // and the reads before the image (DynamoDB throttled and retried, a lost connection) take
      // from the same invocation. Taken after them, the image's deadline fell that much after
      // Lambda's timeout, which then stopped the function mid-image with no outcome recorded.
      // The images made again for a superseded event (superseded(), staleOutputs()) keep to it too:
      // made after this one's, with no deadline they ran the function into its timeout.
      const time = invocationTime(performance.now(), remainingMs, invocationStartedAt);
      const foreign = foreignBucket(ref);
      if (foreign) return { result: reportFailure(ref, trigger, foreign), error: foreign };
      if (begun) {
        const own = isOwnObject(ref.bucket, ref.key);
        if (own)
          return {
            result: skip({
              bucket: ref.bucket,
              key: ref.key,
              status: 'ignored',
              reason: `own output: ${own}`,
            }),
          };
      }
      // A backfill of a current outcome (currentBackfill()) began nothing: its failure (an S3 fault
      // on the manifest, or the source's read for a quarantine) leaves the item as it is.
      let unbegun = false;
      try {
        // The workflow's Process (begun) cannot tell whether its task's earlier attempt announced.
        // Its Inspect may have begun nothing (a backfill of the item's outcome): as start() then.
        // Another delivery of the event (at least once: EventBridge, Express executions), inspected
        // while this one ran, or this task's earlier attempt, may have recorded its final status
        // since Inspect began the item: finish() looks (`recorded`), and a duplicate that finds
        // that outcome writes nothing over it (the duplicate's status, which has no timings,
        // removed the item's and moved its updatedAt).
        const started = begun
          ? inspectedUnbegun && force !== true
            ? unbegunStart(ref)
            : { announceDuplicate: announcesDuplicate(ref, undefined), recorded: true }
          : await start(ref, true, time, force === true);
        if ('ended' in started) return started.ended;
        unbegun = started.unbegun !== undefined;
        // Without a status table nothing orders a key's events, and an event naming a version
        // (a versioned bucket) reads that version whatever the key holds now: a late one (a
        // redelivery, a dead letter redriven) wrote the outputs of content replaced or deleted
        // since over the key's, published (and cached) until finish() found the key changed and
        // made them again. The key is looked at first, and such an event only brings the outputs
        // in line with it, as finish() would have.
        if (!deps.status && !begun && ref.versionId !== undefined && ref.etag !== undefined) {
          const now = await deps.sourceStorage(ref.bucket).head(ref.key);
          if (now?.etag !== ref.etag)
            return await superseded(
              ref,
              trigger,
              now === undefined
                ? `the key was deleted after this event's version (ETag ${ref.etag}) was uploaded`
                : `the key holds other content (ETag ${now.etag}) than this event's version (ETag ${ref.etag})`,
              false,
              time,
            );
        }
        const outcome = await processObject(started.unbegun ?? ref, {
          ...processDeps,
          encoder: deps.encoder,
          force,
          // The workflow's checks passed the inspected content (its ETag) only.
          inspectedOnly: begun === true,
          gone: gone === true,
          ...(trace ? { trace } : {}),
          ...time,
        });
        return await finish(ref, trigger, outcome, begun === true, started, false, time);
      } catch (error) {
        const message = describeError(error);
        // Nor is it announced: the item, left as it is, says the object is processed (or
        // quarantined), its outputs (or quarantine) in place, and Image Failed said otherwise (to
        // the image alerts too), again with each try of a batch retried for the invocation's time.
        // The failure is the reprocessing's: its result (the run's summary), log line and metric.
        if (unbegun) return { result: reportFailure(ref, trigger, error), error };
        // Best effort: a failure to write it leaves the failure what this record reports.
        const written = await deps.status?.finish(ref, { status: 'failed', message }).catch(() => undefined);
        // Another delivery of this event finished it, or a later event of the key is recorded:
        // that status and its event stand, and a retry would be ignored as stale. What this
        // attempt wrote before it failed is brought in line with the key, as a superseded
        // success's is, and nothing is announced.
        if (written === 'stale')
          return superseded(
            ref,
            trigger,
            `the status table holds another delivery's final status or a later event for this key, and this one failed: ${message}`,
            begun === true,
            time,
          );
        return { result: reportFailure(ref, trigger, error), error, event: failureEvent(ref, message) };
      }
    },
  };
}

/**
 * The invocation's time from its remaining time read at `now` (context.getRemainingTimeInMillis()):
 * when it ends, and when the work for the object began (the invocation's start when it runs
 * several objects). Empty outside Lambda.
 */
function invocationTime(now: number, remainingMs?: number, invocationStartedAt?: number): InvocationTime {
  return remainingMs === undefined
    ? {}
    : { invocationEndsAt: now + remainingMs, handlingStartedAt: invocationStartedAt ?? now };
}

/**
 * What start() found for an object that goes on: whether a duplicate of it is announced
 * (announcesDuplicate), and whether this very event's final status is recorded (begin() said
 * `finished`: another delivery finished it), or may be by now (the workflow's Process: finish()
 * reads the item to know).
 */
interface Started {
  readonly announceDuplicate: boolean;
  readonly recorded: boolean;
  /**
   * A backfill of the current content the status item records processed, its outputs current, or
   * quarantined (currentBackfill()): that reference, with the content's ETag; begin() was not
   * called.
   */
  readonly unbegun?: ObjectRef;
}

/**
 * What start() finds for a backfill of a current outcome (currentBackfill()), for the workflow's
 * tasks after an Inspect that found it so (Inspected's `unbegun`): `ref` carries the content's ETag.
 */
function unbegunStart(ref: ObjectRef): Started {
  return { announceDuplicate: false, recorded: true, unbegun: ref };
}

/**
 * Whether a status item holds this final status of this event: the same sequencer (a backfill has
 * none, and keeps the item's), status and content (ETag).
 */
function holdsOutcome(item: StatusItem, ref: ObjectRef, final: FinalStatus): boolean {
  if (ref.sequencer !== undefined && item.sequencer !== sequencerOrder(ref.sequencer)) return false;
  if (item.status !== final.status) return false;
  return !('etag' in final) || item.etag === final.etag;
}

/**
 * The log fields particular to each outcome. The outcome's own message goes in `detail`: Powertools
 * reserves `message` for the log line's (it would drop ours, with a warning line of its own).
 */
function outcomeDetails(outcome: Outcome): Record<string, unknown> {
  switch (outcome.status) {
    case 'processed':
    case 'duplicate': {
      const { format, width, height, manifestKey } = outcome;
      const detail = outcome.status === 'duplicate' ? outcome.message : undefined;
      return { format, width, height, outputs: outcome.outputs.length, manifest: manifestKey, detail };
    }
    case 'quarantined':
      return {
        outputs: 0,
        reason: outcome.reason,
        detail: outcome.repeated
          ? `Already quarantined for this reason: ${outcome.message}`
          : outcome.message,
        quarantinedAs: outcome.quarantineKey,
        removedOutputs: outcome.removedOutputs,
      };
    case 'missing':
      return { outputs: 0, detail: outcome.message };
  }
}

/**
 * A stage of the pipeline as an X-Ray subsegment of the invocation's (the S3, DynamoDB and
 * EventBridge calls around it are captured by their clients), so a trace shows where the time went.
 */
function tracedStage(tracer: Tracer) {
  return async <T>(stage: string, run: () => Promise<T>): Promise<T> => {
    const parent = tracer.getSegment();
    const subsegment = parent?.addNewSubsegment(`### ${stage}`);
    if (!parent || !subsegment) return run();
    tracer.setSegment(subsegment);
    try {
      return await run();
    } catch (error) {
      subsegment.addError(error as Error);
      throw error;
    } finally {
      subsegment.close();
      tracer.setSegment(parent);
    }
  };
}
