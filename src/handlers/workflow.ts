import { createHash } from 'node:crypto';
import { SETTINGS } from '../config/settings.ts';
import {
  INVALID_REASONS,
  InvalidImageError,
  type InvalidReason,
  ObjectNotFoundError,
} from '../core/errors.ts';
import { isPlainObject } from '../core/json.ts';
import type { ObjectRef } from '../core/objects.ts';
import type { ModerationFinding, ModerationResult } from '../moderation/rekognition.ts';
import { invocationTimeError } from '../pipeline/deadline.ts';
import { MODERATION_RENDITION, type Rendition, renderJpegs } from '../pipeline/rendition.ts';
import type { Claim } from '../status/types.ts';
import { parseS3Event } from './events.ts';
import { type LambdaHandler, lambdaHandler } from './lambda.ts';
import { createObjectHandling, type Handled, type HandlerDeps, type RecordResult } from './objects.ts';
import { EventBatch } from './outcomes.ts';
import { type ReprocessOptions, skipReason, uploadFilters } from './reprocess.ts';
import {
  checkExecutionTime,
  checkInspected,
  executionLeft,
  FAILED_ERROR,
  objectOf,
  TaskError,
  TRANSIENT_ERROR,
  taskError,
} from './tasks.ts';

/**
 * The tasks of the per-upload workflow (terraform/modules/workflow/definitions/upload.asl.json), one
 * Lambda function each, all from the image (the scanner apart: handlers/scanner.ts):
 *
 *   Inspect ─▶ Scan (scanner) ─▶ Moderate ─▶ Process
 *      │           │                │
 *      └───────────┴── rejected ────┴─▶ Quarantine          any error, after retries ─▶ RecordFailure
 *
 * Each is a thin caller of objects.ts, so the guard, the status item, the log line, the metrics and
 * the outcome event are those of the direct S3 mode. A check returns a verdict; only errors are
 * thrown (tasks.ts names them for Retry and Catch).
 */

/** Why an image is rejected, as a verdict carries it to the Quarantine state. */
export interface Rejection {
  readonly reason: InvalidReason;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export type Verdict =
  | { readonly status: 'passed'; readonly [fact: string]: unknown }
  | { readonly status: 'rejected'; readonly rejection: Rejection }
  | { readonly status: 'done'; readonly result: RecordResult };

export interface InspectOutput {
  /**
   * The object the later states work on: the event's, with the ETag and size inspected. `unbegun`:
   * a bulk reprocessing (not forced) of the content its status item records processed or
   * quarantined, whose item Inspect did not begin (objects.ts Inspected): Process, Quarantine and
   * RecordFailure leave it as it is when they find that outcome again. Inside `object`, which every
   * later state is given whole, so that a definition of either release carries it; a task of the
   * release before ignores it (and records, as it did, over the item).
   */
  readonly object: (ObjectRef & { readonly unbegun?: true }) | null;
  readonly verdict: Verdict;
  readonly image?: { readonly format: string; readonly width: number; readonly height: number };
  /**
   * The limits the pipeline resolved (its document, then IMGPIPE_MAX_BYTES...), for the states
   * after it: the Scan task, in an image of its own that reads no pipeline document, takes maxBytes.
   */
  readonly limits: { readonly maxBytes: number };
  /**
   * A reprocessing with --force (the event's `imgpipe.force`), on the passed and rejected paths:
   * Process redoes current outputs, Quarantine a quarantine already made for the same reason.
   */
  readonly force?: boolean;
}

/** Content moderation, as the Moderate task uses it (moderation/rekognition.ts). */
export interface Moderator {
  /** `signal`: aborted when the invocation has no more time for the call; the call then ends. */
  moderate(jpeg: Uint8Array, signal?: AbortSignal): Promise<ModerationResult>;
}

export interface WorkflowDeps extends HandlerDeps {
  readonly moderator?: Moderator;
  /**
   * The most tiles (DetectModerationLabels calls per view: on white, black, alpha dropped) an elongated image is moderated
   * in (IMGPIPE_MODERATION_MAX_TILES, pipeline/rendition.ts moderationTiles); one that needs more is
   * rejected. Default: the setting's.
   */
  readonly moderationMaxTiles?: number;
}

export interface WorkflowTasks {
  readonly inspect: LambdaHandler<InspectOutput>;
  readonly moderate: LambdaHandler<Verdict>;
  readonly process: LambdaHandler<RecordResult>;
  readonly quarantine: LambdaHandler<RecordResult>;
  readonly fail: LambdaHandler<RecordResult>;
}

/**
 * Kept of the Moderate invocation for each DetectModerationLabels call: Rekognition answers a
 * rendition of a few hundred KB in well under a second, a new connection may take the SDK's 3 s
 * (core/aws.ts), and the log line and the error need the rest. A call is not started with less
 * left: the task fails `Imgpipe.Transient` instead, naming the rendition it reached, and the retry,
 * a new invocation, goes on from there (an image cut in 16 tiles, each with transparency shown
 * three ways, is 48 calls after the render; nothing else stops them before Lambda's timeout, whose kill the
 * Retry would run again from the start, every time, and the Catch record `failed`).
 */
export const MODERATION_CALL_RESERVE_MS = 4_000;

/**
 * Kept of the invocation after a call that has not answered (a connection gone silent holds one
 * for 30 s an attempt, core/aws.ts): it is abandoned this long before the invocation's end, and the
 * task fails `Imgpipe.Transient`, naming the rendition, before Lambda's timeout would kill it.
 */
export const MODERATION_RECORD_MS = 1_000;

const TRIGGER = 'Workflow';
const REPROCESS_TRIGGER = 'Reprocess';

export function rejectionOf(error: InvalidImageError): Rejection {
  return { reason: error.reason, message: error.message, details: error.details };
}

/**
 * `keyFilters`: the upload filters, which a reprocessing's own events have not passed (the upload
 * rule applies them to S3's); default: KEY_FILTERS_ENV, as the reprocessing batch reads it.
 */
export function createWorkflowTasks(deps: WorkflowDeps, options: ReprocessOptions = {}): WorkflowTasks {
  const { config, logger, metrics } = deps;
  const objects = createObjectHandling(deps);
  const filters = uploadFilters(options);
  /**
   * What the Moderate attempt that ran out of time had Rekognition say, for its object (bucket,
   * key, ETag, version): each result by the SHA-256 of the rendition sent. Its retry, which Lambda
   * usually gives the same environment, renders the image again (the same bytes: one decode, one
   * configuration) and sends only what was not looked at yet. One object's at most, dropped when
   * it is done. Also kept when a call failed (Rekognition throttling, retried as well).
   */
  let unfinished: { readonly id: string; readonly results: Map<string, ModerationResult> } | undefined;

  /**
   * Sends the outcome's event, if any, and returns the result; a failed one is thrown for the state
   * machine to retry. Its failure event goes out once, from RecordFailure; but an outcome reached
   * before the failure (its status item could not be written) is announced now, since the retry
   * finds the work done (objects.ts finish() says which such outcomes are announced).
   */
  async function announce(handled: Handled): Promise<RecordResult> {
    const failed = handled.result.status === 'failed';
    // An outcome's event went out with the outcome (objects.ts finish()); any other is sent here.
    const unsent =
      (handled.unsent ?? 0) +
      (!failed || handled.event?.detail.status !== 'failed' ? await send(handled.event) : 0);
    if (failed) throw taskError(handled.error);
    // An outcome's event must not be lost: the retry finds the outcome done and announces it
    // again (a repeated quarantine is announced by each attempt; a processed image's duplicate by
    // Process, which cannot tell whether its earlier attempt got as far as its event, and by a
    // redelivery's Inspect while the item holds it with its event pending: status/types.ts
    // PendingEvent). Reported (EventsFailed) only, the task succeeded and Image Processed was lost.
    if (unsent > 0 && handled.announced !== undefined) {
      const { bucket, key } = handled.result;
      const { status } = handled.announced.detail;
      throw new TaskError(
        TRANSIENT_ERROR,
        `s3://${bucket}/${key} is ${status}, but its ${handled.announced.detailType} event could not be sent: the retry announces it again`,
      );
    }
    return handled.result;
  }

  /** Sends the event, if any; returns how many could not be sent. */
  async function send(event: Handled['event']): Promise<number> {
    const events = new EventBatch(deps.events, logger, metrics);
    events.add(event);
    return events.flush();
  }

  /**
   * Runs a task body, if the execution has time left for it (checkExecutionTime); anything it
   * throws reaches the state machine named for Retry and Catch.
   */
  const task = <R>(name: string, run: LambdaHandler<R>): LambdaHandler<R> =>
    lambdaHandler(deps, async (event, context) => {
      try {
        if (name !== 'RecordFailure') checkExecutionTime(event, name, context);
        return await run(event, context);
      } catch (error) {
        const named = taskError(error);
        logger.error('Task failed', { error: named });
        throw named;
      }
    });

  return {
    inspect: task('Inspect', async (input): Promise<InspectOutput> => {
      const limits = { maxBytes: config.pipeline.limits.maxBytes };
      const event = isPlainObject(input) && 'event' in input ? input.event : input;
      // Bulk reprocessing starts this workflow with an Object Created event of its own, marked
      // `imgpipe` (S3's events never carry it; only whoever may start executions can send one).
      const reprocess = isPlainObject(event) && isPlainObject(event.imgpipe) ? event.imgpipe : undefined;
      const force = reprocess?.force === true;
      const trigger = reprocess ? REPROCESS_TRIGGER : TRIGGER;
      const parsed = parseS3Event(event);
      const change = parsed.kind === 'records' ? parsed.changes[0] : undefined;
      if (change?.kind !== 'created') {
        const reason =
          parsed.kind === 'records' && parsed.skipped[0]
            ? parsed.skipped[0].reason
            : 'not an S3 Object Created event';
        const result = objects.skip({ status: 'ignored', reason });
        return { object: null, verdict: { status: 'done', result }, limits };
      }
      const outside = reprocess ? skipReason(change.object.key, filters()) : undefined;
      if (outside !== undefined) {
        const { bucket, key } = change.object;
        const result = objects.skip({ bucket, key, status: 'ignored', reason: outside });
        return { object: change.object, verdict: { status: 'done', result }, limits };
      }
      // The execution's claim on its S3 event, so that another delivery's run (EventBridge and S3
      // deliver at least once; Express starts an execution for each) scans, moderates and
      // announces nothing again while this one may still run (claimOf()). A reprocessing's claims
      // the key, so that another bulk reprocessing reaching it meanwhile leaves it to this run.
      const claim = claimOf(input);
      const inspected = await objects.inspect(change.object, { trigger, force, claim });
      if (inspected.kind === 'done') {
        return {
          object: change.object,
          verdict: { status: 'done', result: await announce(inspected.handled) },
          limits,
        };
      }
      const object = inspected.unbegun ? { ...inspected.ref, unbegun: true as const } : inspected.ref;
      if (inspected.kind === 'invalid')
        return {
          object,
          verdict: { status: 'rejected', rejection: rejectionOf(inspected.error) },
          force,
          limits,
        };
      const { format, displayWidth: width, displayHeight: height } = inspected.header;
      return {
        object,
        verdict: { status: 'passed' },
        image: { format, width, height },
        force,
        limits,
      };
    }),

    moderate: task('Moderate', async (input, context) => {
      const ref = objectOf(input);
      if (!deps.moderator) throw new TaskError(FAILED_ERROR, 'This function has no moderator configured');
      // The invocation's end, fixed before the read, which takes from the same invocation (as
      // objects.ts handle() does for Process): a rendition that then runs out of it after more
      // than the reserve went on the read is retried, not rejected as too-slow.
      const startedAt = performance.now();
      const remainingMs = context?.getRemainingTimeInMillis();
      const source = deps.sourceStorage(ref.bucket);
      let object: Awaited<ReturnType<typeof source.get>>;
      try {
        object = await source.get(ref.key, {
          maxBytes: config.pipeline.limits.maxBytes,
          versionId: ref.versionId,
        });
      } catch (error) {
        // Gone since the inspection: nothing to moderate; the Process task records it as missing.
        if (error instanceof ObjectNotFoundError) return { status: 'passed', missing: true };
        throw error;
      }
      checkInspected(ref, object.etag, 'Moderate');
      const renderStartedAt = performance.now();
      let renditions: Rendition[];
      try {
        renditions = await renderJpegs(
          object.body,
          config.pipeline.limits,
          remainingMs === undefined ? undefined : startedAt + remainingMs,
          MODERATION_RENDITION,
          deps.moderationMaxTiles ?? SETTINGS.moderationMaxTiles.default,
        );
      } catch (error) {
        if (error instanceof InvalidImageError) {
          const notTheImage = invocationTimeError(
            error,
            remainingMs === undefined ? undefined : renderStartedAt - startedAt,
          );
          if (notTheImage) throw notTheImage;
          return { status: 'rejected', rejection: rejectionOf(error) };
        }
        throw error;
      }
      // An image with transparency is looked at on white, on black and with its alpha dropped, an elongated one in tiles
      // (each a DetectModerationLabels call); the first that is flagged rejects it. Each call
      // starts only with MODERATION_CALL_RESERVE_MS left of the invocation.
      const id = JSON.stringify([ref.bucket, ref.key, object.etag, ref.versionId ?? null]);
      const earlier = unfinished?.id === id ? unfinished.results : undefined;
      const results = new Map<string, ModerationResult>();
      // Kept until the verdict, for a retry after this attempt fails (out of time, or Rekognition's
      // throttling).
      unfinished = { id, results };
      const labels: ModerationFinding[] = [];
      for (const [index, jpeg] of renditions.entries()) {
        const digest = createHash('sha256').update(jpeg.bytes).digest('hex');
        let result = earlier?.get(digest);
        if (!result) {
          const leftMs = context?.getRemainingTimeInMillis();
          if (leftMs !== undefined && leftMs < MODERATION_CALL_RESERVE_MS) {
            throw new TaskError(
              TRANSIENT_ERROR,
              `Moderate of s3://${ref.bucket}/${ref.key} stopped before rendition ${index + 1} of ${renditions.length}${renditionPlace(jpeg)}: the invocation has ${secondsText(leftMs)} left, less than the ${secondsText(MODERATION_CALL_RESERVE_MS)} kept for a DetectModerationLabels call; the ${index} before it passed, and the retry sends the rest`,
            );
          }
          result = await moderateWithin(deps.moderator, jpeg, leftMs, () => {
            return `Moderate of s3://${ref.bucket}/${ref.key} gave up on rendition ${index + 1} of ${renditions.length}${renditionPlace(jpeg)}: DetectModerationLabels did not answer within ${secondsText((leftMs ?? 0) - MODERATION_RECORD_MS)}, which left ${secondsText(MODERATION_RECORD_MS)} of the invocation; the ${index} before it passed, and the retry sends the rest`;
          });
        }
        results.set(digest, result);
        labels.push(...result.labels);
        const rendered = {
          background: jpeg.background,
          width: jpeg.width,
          height: jpeg.height,
          bytes: jpeg.bytes.length,
          ...(jpeg.tile && { tile: jpeg.tile }),
        };
        logger.info('Object moderated', {
          bucket: ref.bucket,
          key: ref.key,
          labels: result.labels,
          flagged: result.flagged.length,
          rendition: rendered,
        });
        if (result.flagged.length === 0) continue;
        unfinished = undefined;
        const names = result.flagged.map((label) => `${label.name} (${label.confidence}%)`).join(', ');
        const where = renditionPlace(jpeg);
        return {
          status: 'rejected',
          rejection: {
            reason: 'moderation',
            message: `Content moderation flagged the image${where}: ${names}`,
            details: {
              labels: result.flagged,
              ...(result.modelVersion ? { modelVersion: result.modelVersion } : {}),
              rendition: rendered,
            },
          },
        };
      }
      unfinished = undefined;
      return { status: 'passed', labels };
    }),

    process: task('Process', async (input, context) => {
      const ref = objectOf(input);
      // `force` (a reprocessing with --force, from Inspect): redo outputs that are current.
      const force = isPlainObject(input) && input.force === true;
      // Marked by the state machine (its Gone state) when Scan or Moderate found the key gone:
      // recorded missing, never read, as what the key holds by now was not checked.
      const gone = isPlainObject(input) && isPlainObject(input.object) && input.object.gone === true;
      const handled = await objects.handle(ref, {
        trigger: force ? REPROCESS_TRIGGER : TRIGGER,
        begun: true,
        unbegun: unbegunOf(input),
        force,
        gone,
        remainingMs: context?.getRemainingTimeInMillis(),
      });
      return announce(handled);
    }),

    quarantine: task('Quarantine', async (input) => {
      const ref = objectOf(input);
      const rejection = isPlainObject(input) ? input.rejection : undefined;
      if (
        !isPlainObject(rejection) ||
        !(INVALID_REASONS as readonly unknown[]).includes(rejection.reason) ||
        typeof rejection.message !== 'string'
      ) {
        throw new TaskError(
          FAILED_ERROR,
          `Expected {"reason": one of ${INVALID_REASONS.join(', ')}, "message", "details"} at input.rejection but received ${JSON.stringify(rejection)}`,
        );
      }
      const error = new InvalidImageError(
        rejection.reason as InvalidReason,
        rejection.message,
        isPlainObject(rejection.details) ? rejection.details : {},
      );
      // `force` (a reprocessing with --force, from Inspect): the copy and the reason record are made
      // again, with what this run's checks found, as the direct mode's forced reprocessing does.
      const force = isPlainObject(input) && input.force === true;
      return announce(
        await objects.reject(ref, error, {
          trigger: force ? REPROCESS_TRIGGER : TRIGGER,
          force,
          unbegun: unbegunOf(input),
        }),
      );
    }),

    fail: task('RecordFailure', async (input) => {
      // The whole state: the event, the inspection when it ran, and the error the Catch put there.
      const state = isPlainObject(input) ? input : {};
      const inspected = isPlainObject(state.inspection) && isPlainObject(state.inspection.object);
      const ref = inspected
        ? objectOf(state.inspection, 'input.inspection.object')
        : objectOfEvent(state.event);
      // The failure recorded and announced, once: the end of the execution, not an error. Not for a
      // reprocessing whose Inspect began nothing (unbegun): the run's failure alone.
      const handled = await objects.fail(ref, failureMessage(state.error), {
        trigger: TRIGGER,
        unbegun: inspected && unbegunOf(state.inspection),
      });
      // A failure neither recorded nor announced (a reprocessing that began nothing, or whose
      // failure the item's final status refused): the execution's cause is all that names it, so
      // it fails with it here (Imgpipe.Failed, never retried), not with the Failed state's fixed
      // cause, which sends the reader to a status item and an Image Failed event that do not say it.
      if (handled.result.status === 'failed' && handled.event === undefined) {
        const { bucket, key } = ref;
        throw new TaskError(
          FAILED_ERROR,
          `The reprocessing of s3://${bucket}/${key} failed (its status item keeps the outcome it records; no Image Failed sent): ${failureMessage(state.error)}`,
        );
      }
      // The outcome a task recorded before it stopped (a crash, its timeout: no Retry covers them),
      // whose event objects.fail() sent now: the bus refused it too, so the task is retried for it.
      if (handled.unsent && handled.announced) {
        const { bucket, key } = ref;
        throw new TaskError(
          TRANSIENT_ERROR,
          `s3://${bucket}/${key} is ${handled.announced.detail.status}, but its ${handled.announced.detailType} event, which the task that recorded it did not send, could not be sent: the retry sends it`,
        );
      }
      // An Image Failed the bus refused (PutEvents throttled past the SDK's retries) is retried,
      // as a quarantine's event is (announce()): it goes to the image alerts topic too, and the
      // direct mode's retry of the failed record announces it again. The retry writes the same
      // failure over the item and sends it; past the retries the execution's cause says so, not
      // the Failed state's, which sends the reader to that event.
      const events = new EventBatch(deps.events, logger, metrics);
      events.add(handled.event);
      if ((await events.flush()) > 0) {
        const { bucket, key } = ref;
        throw new TaskError(
          TRANSIENT_ERROR,
          `s3://${bucket}/${key} failed (its status item records it), but its Image Failed event could not be sent (${events.errors.join('; ') || 'the bus refused it'}); RecordFailure's retries send it again: ${failureMessage(state.error)}`,
        );
      }
      return handled.result;
    }),
  };
}

/**
 * The moderator's verdict on `rendition`, or, when the invocation (`leftMs` left) is
 * MODERATION_RECORD_MS from its end before it answers, an `Imgpipe.Transient` with `message()`.
 */
async function moderateWithin(
  moderator: Moderator,
  rendition: Rendition,
  leftMs: number | undefined,
  message: () => string,
): Promise<ModerationResult> {
  if (leftMs === undefined) return moderator.moderate(rendition.bytes);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(0, leftMs - MODERATION_RECORD_MS));
  try {
    return await moderator.moderate(rendition.bytes, controller.signal);
  } catch (error) {
    if (controller.signal.aborted) throw new TaskError(TRANSIENT_ERROR, message(), { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds as the Moderate task's messages give them: seconds, one decimal, never below 0. */
function secondsText(ms: number): string {
  return `${Number((Math.max(0, ms) / 1000).toFixed(1))} s`;
}

/** Where a rendition is in the image: its tile, if any, and its background when not white. */
function renditionPlace(rendition: Rendition): string {
  const { tile } = rendition;
  return (
    (tile
      ? ` in tile ${tile.index} of ${tile.count} (${tile.width}x${tile.height} at ${tile.left},${tile.top})`
      : '') +
    (rendition.background === 'white'
      ? ''
      : rendition.background === 'opaque'
        ? ' (its alpha channel dropped: the colours of its transparent pixels as stored)'
        : ` (its transparent pixels shown on ${rendition.background})`)
  );
}

/**
 * The claim of the execution Inspect runs in, from what the definition gives it: the execution's
 * start time (and the EventBridge event's id) tell it from another execution of the event, and its
 * retries of Inspect from another (no new field of the definition: release skew,
 * test/terraform/workflow-skew.test.ts). Held until the execution's timeout, after which the
 * execution runs no task (checkExecutionTime), so a delivery after that takes over an event whose
 * execution died without an outcome. None for an input that names no execution. `execution.id`
 * ($$.Execution.Id), where given, tells apart two executions of one event started in the same
 * millisecond; the definition passes it once the release that reads it is in every environment.
 */
function claimOf(input: unknown): Claim | undefined {
  const left = executionLeft(input);
  if (left === undefined) return undefined;
  const event = isPlainObject(input) && isPlainObject(input.event) ? input.event : undefined;
  const id = typeof event?.id === 'string' ? event.id : null;
  // The execution's own id ($$.Execution.Id), where the definition passes it: two deliveries of one
  // EventBridge event carry the same event id, so executions of it started in the same millisecond
  // had one claim and both ran (status/types.ts Claim.id).
  const execution = isPlainObject(input) && isPlainObject(input.execution) ? input.execution : undefined;
  const executionId = typeof execution?.id === 'string' && execution.id !== '' ? execution.id : undefined;
  return {
    execution: JSON.stringify({ started: left.startedText, event: id }),
    until: new Date(Date.parse(left.startedText) + left.timeoutSeconds * 1000),
    ...(executionId === undefined ? {} : { id: executionId }),
  };
}

/** Whether Inspect began no status item for the task's object (InspectOutput's `object.unbegun`). */
function unbegunOf(input: unknown): boolean {
  return isPlainObject(input) && isPlainObject(input.object) && input.object.unbegun === true;
}

function objectOfEvent(event: unknown): ObjectRef {
  const parsed = parseS3Event(event);
  const change = parsed.kind === 'records' ? parsed.changes[0] : undefined;
  if (!change)
    throw new TaskError(
      FAILED_ERROR,
      `No S3 object in the execution's event: ${JSON.stringify(event)?.slice(0, 200)}`,
    );
  return change.object;
}

/**
 * The message of a caught error. Step Functions gives `{"Error", "Cause"}`; for a Lambda task the
 * Cause is the function's error as JSON (`{"errorType", "errorMessage", "trace"}`).
 */
export function failureMessage(error: unknown): string {
  if (!isPlainObject(error)) return 'The workflow failed without an error';
  const name = typeof error.Error === 'string' ? error.Error : 'Error';
  let cause: unknown = error.Cause;
  if (typeof cause === 'string') {
    try {
      const parsed: unknown = JSON.parse(cause);
      if (isPlainObject(parsed) && typeof parsed.errorMessage === 'string') cause = parsed.errorMessage;
    } catch {
      // A plain-text cause (a States.* error, or a local run) is the message itself.
    }
  }
  return `${name}: ${typeof cause === 'string' ? cause : JSON.stringify(cause)}`;
}
