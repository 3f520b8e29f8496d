import { envInteger } from '../config/env.ts';
import { describeError, invalidSetting, ObjectNotFoundError } from '../core/errors.ts';
import { isPlainObject } from '../core/json.ts';
import { BucketLayout } from '../core/layout.ts';
import { INVOCATION_RESERVE_MS, ranOutOfInvocationTime } from '../pipeline/deadline.ts';
import { readManifest, readQuarantineRecord } from '../pipeline/records.ts';
import { getJson, type Storage } from '../storage/types.ts';
import { type LambdaHandler, lambdaHandler } from './lambda.ts';
import { createObjectHandling, FOLDER_MARKER, type HandlerDeps, type RecordStatus } from './objects.ts';
import { EventBatch } from './outcomes.ts';
import { FAILED_ERROR, TaskError, TRANSIENT_ERROR, taskError } from './tasks.ts';

/**
 * Bulk reprocessing on Step Functions (terraform/modules/workflow/definitions/reprocess.asl.json):
 * a Standard state machine whose Distributed Map reads the objects itself (an S3 listing of a
 * prefix, or a list of keys), runs child executions of batches with bounded concurrency and a
 * tolerated failure percentage, and writes every batch's result to S3. These are its three tasks:
 *
 *   Plan       checks the request and fills in the defaults (ReprocessRequest below)
 *   Batch      one child execution's items through objects.ts, as S3 events are: counts and failures
 *   Summarize  adds up the batches' results (read back from the map's ResultWriter files) into one
 *              summary, written beside them
 *
 * It takes the place of a loop over a listing inside one invocation: the listing, the fan-out, the
 * retries and the bookkeeping of a million objects are Step Functions' (README: "Objects already
 * in a bucket").
 */
export interface ReprocessRequest {
  readonly bucket: string;
  /** Every object under it ("" for the whole bucket)... */
  readonly prefix?: string;
  /** ...or these objects. */
  readonly keys?: readonly string[];
  /**
   * Redo objects whose manifest is current, or that are quarantined already for the same reason
   * (otherwise they come back as `duplicate`).
   */
  readonly force: boolean;
  /** Child executions at once (the map's MaxConcurrency). */
  readonly concurrency: number;
  /**
   * Share of the objects that may fail before the run fails (0-100): the map's
   * ToleratedFailurePercentage, which stops the map early when batches fail as a whole, and
   * Summarize's, over every object that failed, alone or in a failed batch (toleranceExceeded), in
   * both modes: a failed object is a result of its batch, which the map counts as succeeded.
   */
  readonly toleratedFailurePercentage: number;
  /** Objects per child execution (the map's ItemBatcher). */
  readonly batchSize: number;
}

export const DEFAULT_CONCURRENCY = 10;
/** Step Functions' own bound on a Distributed Map's MaxConcurrency. */
export const MAX_CONCURRENCY = 10_000;
/**
 * The deployment's cap on `concurrency` (Terraform's reprocess_max_concurrency): each child
 * execution is a Lambda invocation at a time (a batch, or one upload's run of the per-upload
 * workflow, whose Process function is the live uploads' own), so a map at Step Functions' 10,000
 * takes the account's Lambda concurrency and throttles the live pipeline. Unset: MAX_CONCURRENCY.
 */
export const MAX_CONCURRENCY_ENV = 'IMGPIPE_REPROCESS_MAX_CONCURRENCY';

export const DEFAULT_TOLERATED_FAILURE_PERCENTAGE = 5;
/** A child execution's objects: its Lambda invocation must finish them within its timeout. */
export const DEFAULT_BATCH_SIZE = 10;
export const MAX_BATCH_SIZE = 100;
/** Keys named in a request travel in the execution's input, which Step Functions caps at 256 KiB. */
export const MAX_KEYS = 1000;
/** The bytes of `keys` (as JSON) a request may hold, leaving room in the 256 KB execution input. */
export const MAX_KEYS_BYTES = 200_000;

/**
 * `workflow`: the deployment's per-upload workflow runs each object (the workflow mode), so each
 * object is a batch of its own: one execution of up to its 290 s in the child execution's 5 minutes,
 * and `concurrency` of them at once.
 */
export function parseReprocessRequest(
  event: unknown,
  {
    workflow = false,
    maxConcurrency = MAX_CONCURRENCY,
  }: { workflow?: boolean; maxConcurrency?: number } = {},
): ReprocessRequest {
  if (!isPlainObject(event))
    throw invalidSetting('event', 'an object like {"bucket": "uploads", "prefix": "photos/"}', event);
  const known = [
    'bucket',
    'prefix',
    'keys',
    'force',
    'concurrency',
    'toleratedFailurePercentage',
    'batchSize',
  ];
  const unknown = Object.keys(event).filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw invalidSetting(
      `event.${unknown[0]}`,
      `nothing (the request takes ${known.join(', ')})`,
      event[unknown[0]!],
    );
  const { bucket, prefix, keys, force, concurrency, toleratedFailurePercentage, batchSize } = event;
  if (typeof bucket !== 'string' || bucket === '')
    throw invalidSetting('event.bucket', 'a bucket name', bucket);
  if (prefix !== undefined && typeof prefix !== 'string')
    throw invalidSetting('event.prefix', 'a key prefix', prefix);
  if (
    keys !== undefined &&
    (!Array.isArray(keys) || keys.length > MAX_KEYS || !keys.every((k) => typeof k === 'string' && k !== ''))
  ) {
    throw invalidSetting('event.keys', `an array of at most ${MAX_KEYS} object keys`, keys);
  }
  // A key named twice would run twice at once (the direct mode's backfill claims nothing): two scans and two
  // moderations of one object in the workflow mode, and two results for it in the summary.
  if (keys !== undefined) {
    const seen = new Map<string, number>();
    for (const key of keys as string[]) seen.set(key, (seen.get(key) ?? 0) + 1);
    const twice = [...seen].find(([, times]) => times > 1);
    if (twice)
      throw invalidSetting('event.keys', 'each key once', keys, `${twice[0]} is named ${twice[1]} times`);
  }
  // The request travels with the execution, whose input Step Functions limits to 256 KB.
  const keysBytes = keys === undefined ? 0 : Buffer.byteLength(JSON.stringify(keys));
  if (keysBytes > MAX_KEYS_BYTES) {
    throw invalidSetting(
      'event.keys',
      `keys of at most ${MAX_KEYS_BYTES.toLocaleString('en-US')} bytes together (Step Functions' 256 KB execution input)`,
      keys,
      `${keysBytes.toLocaleString('en-US')} bytes in ${(keys as string[]).length} keys`,
    );
  }
  if (prefix !== undefined && keys !== undefined)
    throw invalidSetting('event', 'either prefix or keys, not both', event);
  if (prefix === undefined && keys === undefined)
    throw invalidSetting('event', 'a prefix ("" for the whole bucket) or keys', event);
  if (force !== undefined && typeof force !== 'boolean')
    throw invalidSetting('event.force', 'true or false', force);
  if (
    concurrency !== undefined &&
    !(
      Number.isInteger(concurrency) &&
      (concurrency as number) >= 1 &&
      (concurrency as number) <= maxConcurrency
    )
  )
    throw invalidSetting(
      'event.concurrency',
      maxConcurrency < MAX_CONCURRENCY
        ? `an integer between 1 and ${maxConcurrency} (the deployment’s cap, ${MAX_CONCURRENCY_ENV}: Terraform’s reprocess_max_concurrency)`
        : `an integer between 1 and ${MAX_CONCURRENCY}`,
      concurrency,
    );
  if (
    toleratedFailurePercentage !== undefined &&
    !(
      typeof toleratedFailurePercentage === 'number' &&
      toleratedFailurePercentage >= 0 &&
      toleratedFailurePercentage <= 100
    )
  )
    throw invalidSetting(
      'event.toleratedFailurePercentage',
      'a number between 0 and 100',
      toleratedFailurePercentage,
    );
  if (
    batchSize !== undefined &&
    !(Number.isInteger(batchSize) && (batchSize as number) >= 1 && (batchSize as number) <= MAX_BATCH_SIZE)
  )
    throw invalidSetting('event.batchSize', `an integer between 1 and ${MAX_BATCH_SIZE}`, batchSize);
  if (workflow && batchSize !== undefined && batchSize !== 1)
    throw invalidSetting(
      'event.batchSize',
      '1 (in the workflow mode each object is a batch of its own: one run of the per-upload workflow)',
      batchSize,
    );
  return {
    bucket,
    ...(prefix === undefined ? {} : { prefix }),
    ...(keys === undefined ? {} : { keys: keys as string[] }),
    force: force ?? false,
    concurrency: (concurrency as number | undefined) ?? Math.min(DEFAULT_CONCURRENCY, maxConcurrency),
    toleratedFailurePercentage:
      (toleratedFailurePercentage as number | undefined) ?? DEFAULT_TOLERATED_FAILURE_PERCENTAGE,
    batchSize: workflow ? 1 : ((batchSize as number | undefined) ?? DEFAULT_BATCH_SIZE),
  };
}

/** One item of a batch, as the map's ItemSelector builds it from a listed object or a key. */
export interface ReprocessItem {
  readonly bucket: string;
  readonly key: string;
  readonly force?: boolean;
  /**
   * With `force`: when the reprocessing started (the execution's StartTime, ItemSelector). A
   * manifest made since then is this run's own, from an earlier try of the batch, and is not made
   * again: Step Functions retries a batch with the same input.
   */
  readonly forcedAt?: string;
}

export type Counts = Partial<Record<RecordStatus, number>>;

export interface Failure {
  readonly key: string;
  readonly reason?: string;
}

export interface BatchResult {
  readonly counts: Counts;
  readonly failures: readonly Failure[];
}

export interface ReprocessSummary {
  readonly bucket: string;
  readonly prefix?: string;
  readonly keys?: number;
  readonly force: boolean;
  /** Objects by outcome, over every batch that finished. */
  readonly counts: Counts;
  /** Objects that failed (first MAX_LISTED; `failuresTotal` counts them all). */
  readonly failures: readonly Failure[];
  readonly failuresTotal: number;
  /**
   * Child executions that failed as a whole (after their retries), with the items they held
   * (`objects` of them; `keys` lists them, or the first OUTPUT_BATCH_KEYS in a returned summary).
   */
  readonly failedBatches: readonly FailedBatch[];
  /** How many batches failed, when the returned summary lists only the first (OUTPUT_BATCHES). */
  readonly failedBatchesTotal?: number;
  /** Where the summary and the map's result files are, when they were written to S3. */
  readonly location?: string;
  /**
   * Why the run fails, after this summary is written: the map's own error, when it failed (more
   * batches failed than tolerated; the counts then hold nothing, since the Catch gets no results),
   * or more failed objects than the request tolerates (TOLERANCE_EXCEEDED).
   */
  readonly mapFailure?: string;
  /**
   * With `mapFailure`, in the returned summary: the summary as JSON, with the first failures that fit
   * (failureCause), for the execution's cause (MapFailed's CausePath). A failed execution has no
   * output, so this is what `imgpipe reprocess` and DescribeExecution show of it.
   */
  readonly cause?: string;
}

export interface FailedBatch {
  readonly error: string;
  readonly objects: number;
  readonly keys: readonly string[];
}

/** Failures listed in a summary; a larger run's are in the result files. */
export const MAX_LISTED = 1000;
/**
 * What the Summarize state returns when the whole summary is in S3 (summary.json): the first
 * failures and failed batches, so that its output stays far below Step Functions' 256 KB whatever
 * the run's failures (keys of up to 1 KB, reasons of up to MAX_REASON_CHARS).
 */
export const OUTPUT_LISTED = 20;
export const OUTPUT_BATCHES = 5;
export const OUTPUT_BATCH_KEYS = 5;
/** A failure's reason, as a batch returns it and a summary lists it. */
export const MAX_REASON_CHARS = 500;
/**
 * A batch stops taking objects when less than this is left of its invocation, and is retried; past
 * its first object, also when less than an object's whole time budget is left (limits.maxSecondsPerImage
 * and INVOCATION_RESERVE_MS): the deadline of an object started then would be cut to what is left,
 * and one that runs out of it would fail for being late in its batch (InvocationTimeError, for which
 * the batch is retried too). Only where the invocation can give that budget (it had it, and this
 * reserve, when the batch started): a maxSecondsPerImage past the batch function's timeout would
 * otherwise fail every batch of more than one object on each retry alike.
 */
export const TIME_RESERVE_MS = 30_000;

/**
 * Which keys the uploads reach the pipeline for (the S3 notifications' or the upload rule's
 * filters, terraform/modules/workflow `source_notification_filters`): a key is processed when it
 * starts with one filter's prefix and ends with its suffix. Terraform gives them to the batch
 * function as JSON in KEY_FILTERS_ENV; unset, every key.
 */
export interface KeyFilter {
  readonly prefix: string;
  readonly suffix: string;
}

export const KEY_FILTERS_ENV = 'IMGPIPE_REPROCESS_KEY_FILTERS';

export function parseKeyFilters(raw: string | undefined): readonly KeyFilter[] {
  if (raw === undefined || raw.trim() === '') return [{ prefix: '', suffix: '' }];
  const expected = 'a JSON array of {"prefix", "suffix"} (the source notification filters)';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidSetting(KEY_FILTERS_ENV, expected, raw);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalidSetting(KEY_FILTERS_ENV, expected, raw);
  return parsed.map((filter) => {
    const prefix = isPlainObject(filter) ? (filter.prefix ?? '') : undefined;
    const suffix = isPlainObject(filter) ? (filter.suffix ?? '') : undefined;
    if (typeof prefix !== 'string' || typeof suffix !== 'string')
      throw invalidSetting(KEY_FILTERS_ENV, expected, raw);
    return { prefix, suffix };
  });
}

/**
 * Why a listed or named key is not reprocessed, or undefined: a folder marker (a key ending in `/`,
 * which the S3 console's "Create folder" writes, 0 bytes), or a key no upload filter matches.
 */
export function skipReason(key: string, filters: readonly KeyFilter[]): string | undefined {
  if (key.endsWith('/')) return FOLDER_MARKER;
  if (filters.some((f) => key.startsWith(f.prefix) && key.endsWith(f.suffix))) return undefined;
  const described = filters.map((f) => `${f.prefix || '(any)'}*${f.suffix}`).join(', ');
  return `outside the upload filters (${described})`;
}

export interface ReprocessOptions {
  /** Default: parsed from KEY_FILTERS_ENV in process.env at the first batch. */
  readonly keyFilters?: readonly KeyFilter[];
  /** The cap on a request's concurrency. Default: parsed from MAX_CONCURRENCY_ENV at each plan. */
  readonly maxConcurrency?: number;
}

/** The filters of `options`, else KEY_FILTERS_ENV's, read once; a bad value fails the task. */
export function uploadFilters(options: ReprocessOptions): () => readonly KeyFilter[] {
  let keyFilters = options.keyFilters;
  return () => {
    try {
      keyFilters ??= parseKeyFilters(process.env[KEY_FILTERS_ENV]);
    } catch (error) {
      throw new TaskError(FAILED_ERROR, describeError(error), { cause: error });
    }
    return keyFilters;
  };
}

export interface ReprocessTasks {
  readonly plan: LambdaHandler<ReprocessRequest>;
  readonly batch: LambdaHandler<BatchResult>;
  readonly summarize: LambdaHandler<ReprocessSummary>;
}

export function createReprocessTasks(deps: HandlerDeps, options: ReprocessOptions = {}): ReprocessTasks {
  const { logger, metrics } = deps;
  const objects = createObjectHandling(deps);
  const filters = uploadFilters(options);
  const layout = new BucketLayout(deps.config.pipeline, deps.config.quarantinePrefix);
  /**
   * Whether the item's manifest, or its quarantine's reason record, was made since its forced
   * reprocessing started (forcedAt): by an earlier try of this batch, whose quarantine a forced
   * retry would make and announce (Image Quarantined, the image alerts) once more.
   */
  const madeSince = async (item: ReprocessItem): Promise<boolean> => {
    if (item.forcedAt === undefined) return false;
    const since = Date.parse(item.forcedAt);
    const manifest = await readManifest(deps.output, layout.manifestKey(item.key)).catch(() => undefined);
    if (manifest !== undefined && Date.parse(manifest.createdAt) >= since) return true;
    const record = await readQuarantineRecord(deps.quarantine, layout.quarantineKeys(item.key).reason).catch(
      () => undefined,
    );
    return record !== undefined && Date.parse(record.quarantinedAt) >= since;
  };

  return {
    plan: lambdaHandler(deps, async (event) => {
      try {
        // {"request", "workflow"}: the state machine adds the per-upload workflow's ARN ("" if none).
        const { request, workflow } = isPlainObject(event) ? event : {};
        if (typeof workflow !== 'string')
          throw invalidSetting('input.workflow', 'the per-upload workflow ARN, or ""', workflow);
        const parsed = parseReprocessRequest(request, {
          workflow: workflow !== '',
          maxConcurrency:
            options.maxConcurrency ??
            envInteger(process.env, MAX_CONCURRENCY_ENV, MAX_CONCURRENCY, 1, MAX_CONCURRENCY),
        });
        // A bucket the function does not process (IMGPIPE_SOURCE_BUCKETS): refused here, naming
        // both, where each of its objects failed on its own, or the map's listing of it failed the
        // run with S3's AccessDenied and no word of the setting.
        const sources = deps.config.sourceBuckets;
        if (sources !== undefined && !sources.includes(parsed.bucket))
          throw invalidSetting(
            'event.bucket',
            `one of the function's source buckets (IMGPIPE_SOURCE_BUCKETS: ${sources.join(', ')})`,
            parsed.bucket,
          );
        return { ...parsed, workflow };
      } catch (error) {
        throw new TaskError(FAILED_ERROR, describeError(error), { cause: error });
      }
    }),

    batch: lambdaHandler(deps, async (event, context) => {
      const items = batchItems(event);
      const only = filters();
      const counts: Counts = {};
      const failures: Failure[] = [];
      const events = new EventBatch(deps.events, logger, metrics);
      const { maxSecondsPerImage } = deps.config.pipeline.limits;
      const budgetMs = maxSecondsPerImage * 1000 + INVOCATION_RESERVE_MS;
      // What the invocation had when the batch started: its retry has about as much. A budget it
      // cannot give with TIME_RESERVE_MS to spare (for the objects done, duplicates on the retry)
      // is not waited for: no invocation would start the object, and the retry would fail the same.
      let wholeMs: number | undefined;
      let started = 0;
      // The objects run one after another in one invocation: one that runs out of its time after
      // the earlier ones took it fails (InvocationTimeError) instead of being quarantined as
      // too-slow, and the batch is retried for it (objects.ts handle(), invocationStartedAt).
      const invocationStartedAt = performance.now();
      try {
        for (const item of items) {
          const remainingMs = context?.getRemainingTimeInMillis();
          wholeMs ??= remainingMs;
          if (remainingMs !== undefined && remainingMs < TIME_RESERVE_MS) {
            // The whole batch runs again; what is done by then comes back as duplicate.
            throw new TaskError(
              TRANSIENT_ERROR,
              `The batch ran out of time before s3://${item.bucket}/${item.key}: ${remainingMs} ms left`,
            );
          }
          if (
            remainingMs !== undefined &&
            started > 0 &&
            remainingMs < budgetMs &&
            wholeMs !== undefined &&
            budgetMs <= wholeMs - TIME_RESERVE_MS
          ) {
            throw new TaskError(
              TRANSIENT_ERROR,
              `The batch ran out of time before s3://${item.bucket}/${item.key}: ${remainingMs} ms left, less than the ${budgetMs / 1000} s an object may take (limits.maxSecondsPerImage ${maxSecondsPerImage} s, and ${INVOCATION_RESERVE_MS / 1000} s to record its outcome)`,
            );
          }
          const reason = skipReason(item.key, only);
          if (reason !== undefined) {
            // What an upload would never have started: counted as ignored, never read or quarantined.
            objects.skip({ bucket: item.bucket, key: item.key, status: 'ignored', reason });
            counts.ignored = (counts.ignored ?? 0) + 1;
            continue;
          }
          started++;
          // A retried batch's objects done by an earlier try come back duplicate, forced or not.
          const force = item.force === true && !(await madeSince(item));
          const {
            result,
            error,
            event: outcome,
          } = await objects.handle(
            { bucket: item.bucket, key: item.key },
            { trigger: 'Reprocess', force, remainingMs, invocationStartedAt },
          );
          events.add(outcome);
          // Not the object's doing: the whole batch runs again, what is done by then a duplicate.
          if (result.status === 'failed' && ranOutOfInvocationTime(error))
            throw new TaskError(
              TRANSIENT_ERROR,
              `The batch ran out of time during s3://${item.bucket}/${item.key}: ${describeError(error)}`,
              { cause: error },
            );
          if (events.size >= EventBatch.BATCH) await events.flush();
          counts[result.status] = (counts[result.status] ?? 0) + 1;
          if (result.status === 'failed') failures.push({ key: item.key, reason: clip(result.reason) });
          metrics.publishStoredMetrics();
        }
      } finally {
        await events.flush();
      }
      // Failures of single objects are the result's, not the batch's: one bad object does not
      // make Step Functions redo the others, and they are listed in the summary.
      return { counts, failures };
    }),

    summarize: lambdaHandler(deps, async (event) => {
      try {
        return await summarize(event, deps);
      } catch (error) {
        throw taskError(error);
      }
    }),
  };
}

/**
 * The items of a child execution: `{"Items": [...]}` as the map's ItemBatcher makes it (with the
 * ItemSelector's `{bucket, key, force}` per item).
 */
function batchItems(event: unknown): ReprocessItem[] {
  const items = isPlainObject(event) ? event.Items : undefined;
  if (!Array.isArray(items))
    throw new TaskError(
      FAILED_ERROR,
      `Expected {"Items": [{"bucket", "key"}...]} but received ${JSON.stringify(event)?.slice(0, 200)}`,
    );
  return items.map((item, index) => {
    if (
      !isPlainObject(item) ||
      typeof item.bucket !== 'string' ||
      typeof item.key !== 'string' ||
      item.key === ''
    )
      throw new TaskError(
        FAILED_ERROR,
        `Expected {"bucket", "key"} at Items[${index}] but received ${JSON.stringify(item)}`,
      );
    const forcedAt = typeof item.forcedAt === 'string' && Number.isFinite(Date.parse(item.forcedAt));
    return {
      bucket: item.bucket,
      key: item.key,
      force: item.force === true,
      ...(forcedAt ? { forcedAt: item.forcedAt as string } : {}),
    };
  });
}

interface SummaryInput {
  readonly request: ReprocessRequest;
  /**
   * The map's output: its results inline, or where its ResultWriter wrote them; when the map
   * failed, the error its Catch put in their place ({Error, Cause}). Kept so since the first
   * definition: one applied before the release moves the functions' alias runs the previous
   * Summarize, which reads it here.
   */
  readonly results: unknown;
  /** Where the summary goes (the results bucket), and the execution it is of. */
  readonly resultsBucket?: string;
  readonly execution?: string;
}

/** One child execution in a ResultWriter file (Transformation NONE, the default when exporting). */
interface ChildExecution {
  readonly Status?: string;
  readonly Input?: string;
  readonly Output?: string;
  readonly Error?: string;
  readonly Cause?: string;
}

async function summarize(event: unknown, deps: HandlerDeps): Promise<ReprocessSummary> {
  if (!isPlainObject(event) || !isPlainObject(event.request))
    throw new TaskError(FAILED_ERROR, 'Expected {"request", "results"} as the summary task input');
  const input = event as unknown as SummaryInput;
  const counts: Counts = {};
  const failures: Failure[] = [];
  let failuresTotal = 0;
  const failedBatches: FailedBatch[] = [];
  const add = (result: unknown) => {
    if (Array.isArray(result)) {
      addChecked(result);
      return;
    }
    if (!isPlainObject(result)) return;
    for (const [status, count] of Object.entries(isPlainObject(result.counts) ? result.counts : {}))
      if (typeof count === 'number')
        counts[status as RecordStatus] = (counts[status as RecordStatus] ?? 0) + count;
    for (const failure of Array.isArray(result.failures) ? result.failures : []) fail(failure as Failure);
  };

  const fail = (failure: Failure) => {
    failuresTotal++;
    if (failures.length < MAX_LISTED) failures.push(failure);
  };
  // A batch that went through the per-upload workflow: one entry per object, its execution's
  // result ({key, result}), how it ended ({key, status, execution}: FAILED, its reason recorded by
  // the execution's RecordFailure; TIMED_OUT or ABORTED, which no Catch sees, so nothing recorded
  // it and the status item stays as the run left it), or the error of the call that started
  // it ({key, error: {Error, Cause}}), which is not made again: the execution may have run.
  const addChecked = (objects: unknown[]) => {
    for (const entry of objects) {
      if (!isPlainObject(entry) || typeof entry.key !== 'string') continue;
      const result = isPlainObject(entry.result) ? entry.result : undefined;
      const status = typeof result?.status === 'string' ? (result.status as RecordStatus) : 'failed';
      counts[status] = (counts[status] ?? 0) + 1;
      if (status !== 'failed') continue;
      const error = isPlainObject(entry.error) ? entry.error : undefined;
      // A failed execution's own error and cause, as StartSyncExecution answered them (the
      // definition's <Listed|Keys>Failed): where RecordFailure named a failure it neither recorded
      // nor announced (a reprocessing that began nothing), nothing else names it.
      const failure = isPlainObject(entry.failure) ? entry.failure : undefined;
      const reason = result
        ? String(result.reason ?? 'failed')
        : error
          ? `the upload workflow could not be started, or its end was not heard (${failureText(String(error.Error ?? 'Error'), error.Cause)}); it is not started again, since it may have run: its status item says whether it did`
          : entry.status === 'FAILED' && failure
            ? `the upload workflow's execution ${String(entry.execution)} ended FAILED: ${failureText(String(failure.Error ?? 'Error'), failure.Cause)}`
            : entry.status === 'FAILED'
              ? `the upload workflow's execution ${String(entry.execution)} ended FAILED; its status item and Image Failed event say why`
              : `the upload workflow's execution ${String(entry.execution)} ended ${String(entry.status)} before it recorded an outcome (no Catch runs after an execution's timeout or abort): its status item is left as the run left it, and no Image Failed was sent`;
      fail({ key: entry.key, reason: clip(reason) });
    }
  };

  let location: string | undefined;
  let mapFailure: string | undefined;
  const results = input.results;
  if (isPlainObject(results) && typeof results.Error === 'string') {
    // The map's Catch: the run failed as a whole. It hands back the error, not the results of the
    // batches that ran: the map run's item counts (DescribeMapRun) say how far it got.
    mapFailure = clip(failureText(results.Error, results.Cause));
  } else if (Array.isArray(results)) {
    // Inline: a map without a ResultWriter (the local interpreter has none) returns the batches' results.
    for (const result of results) add(result);
  } else if (isPlainObject(results) && isPlainObject(results.ResultWriterDetails)) {
    const { Bucket, Key } = results.ResultWriterDetails as { Bucket?: unknown; Key?: unknown };
    if (typeof Bucket !== 'string' || typeof Key !== 'string')
      throw new TaskError(
        FAILED_ERROR,
        `ResultWriterDetails without Bucket and Key: ${JSON.stringify(results)}`,
      );
    const storage = deps.sourceStorage(Bucket);
    const manifest = await resultManifest(storage, Key);
    for (const [status, files] of Object.entries(manifest.ResultFiles ?? {})) {
      for (const file of files) {
        const executions = await getJson<ChildExecution[]>(storage, file.Key, RESULT_FILE_BYTES);
        for (const execution of executions) {
          if (status === 'SUCCEEDED' && execution.Output !== undefined) add(JSON.parse(execution.Output));
          else if (status !== 'SUCCEEDED') failedBatches.push(failedBatch(execution));
        }
      }
    }
    location = storage.locate(Key.slice(0, Key.lastIndexOf('/') + 1));
  } else {
    throw new TaskError(
      FAILED_ERROR,
      `Expected the map's results at results but received ${JSON.stringify(results)?.slice(0, 200)}`,
    );
  }

  const { request } = input;
  // The request's tolerance, over objects: a failed object is a result of its batch, which
  // succeeds (in the workflow mode too, where the batch records how the object's run ended), so the
  // map's own threshold, over the items of failed child executions, counts only batches that failed
  // as a whole. Past it, the run fails here, once every batch has run.
  if (mapFailure === undefined) mapFailure = toleranceExceeded(request, counts, failedBatches);
  const summary: ReprocessSummary = {
    bucket: request.bucket,
    ...(request.prefix === undefined ? {} : { prefix: request.prefix }),
    ...(request.keys === undefined ? {} : { keys: request.keys.length }),
    force: request.force,
    counts,
    failures,
    failuresTotal,
    failedBatches,
    ...(location ? { location } : {}),
    ...(mapFailure ? { mapFailure } : {}),
  };
  if (input.resultsBucket && input.execution) {
    const storage = deps.sourceStorage(input.resultsBucket);
    const key = `${REPROCESS_RESULTS_PREFIX}${input.execution}/summary.json`;
    await storage.put(key, new TextEncoder().encode(`${JSON.stringify(summary, null, 2)}\n`), {
      contentType: 'application/json',
    });
    deps.logger.info('Reprocessing summarised', {
      ...summary,
      failures: failures.length,
      failedBatches: failedBatches.length,
      summary: storage.locate(key),
    });
    const returned: ReprocessSummary = {
      ...summary,
      failures: failures
        .slice(0, OUTPUT_LISTED)
        .map((f) => (f.reason ? { ...f, reason: clip(f.reason) } : f)),
      failedBatches: failedBatches
        .slice(0, OUTPUT_BATCHES)
        .map((batch) => ({ ...batch, keys: batch.keys.slice(0, OUTPUT_BATCH_KEYS) })),
      failedBatchesTotal: failedBatches.length,
      location: storage.locate(key),
    };
    return mapFailure ? { ...returned, cause: failureCause(returned) } : returned;
  }
  return mapFailure ? { ...summary, cause: failureCause(summary) } : summary;
}

/**
 * Why the run fails when more of its objects failed than the request tolerates (as Step Functions
 * counts a map's items: failed when more than toleratedFailurePercentage), or undefined. The objects
 * of batches that failed as a whole count as failed.
 */
function toleranceExceeded(
  request: ReprocessRequest,
  counts: Counts,
  failedBatches: readonly FailedBatch[],
): string | undefined {
  const tolerated = request.toleratedFailurePercentage;
  if (typeof tolerated !== 'number') return undefined;
  const inFailedBatches = failedBatches.reduce((sum, batch) => sum + batch.objects, 0);
  const objects = Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0) + inFailedBatches;
  const failed = (counts.failed ?? 0) + inFailedBatches;
  if (objects === 0 || failed * 100 <= tolerated * objects) return undefined;
  return `${TOLERANCE_EXCEEDED}: ${failed} of ${objects} objects failed, more than the ${tolerated} % the run tolerates (toleratedFailurePercentage)`;
}

export const TOLERANCE_EXCEEDED = 'Imgpipe.ToleranceExceeded';

/** What of a run's summary its cause holds at most (Step Functions allows a cause 32,768). */
const CAUSE_CHARS = 16_000;

/**
 * The summary of a failed run, as the execution's cause: JSON with the first failures that fit in
 * CAUSE_CHARS (keys of up to 1,024 bytes, escaped) and no failed batches' keys; summary.json lists
 * them all. `imgpipe reprocess` reads it back.
 */
function failureCause(summary: ReprocessSummary): string {
  const { failures, failedBatches, cause, ...rest } = summary;
  const base = { ...rest, failedBatchesTotal: summary.failedBatchesTotal ?? failedBatches.length };
  const listed: Failure[] = [];
  let text = JSON.stringify({ ...base, failures: listed });
  for (const failure of failures.slice(0, OUTPUT_LISTED)) {
    const next = JSON.stringify({ ...base, failures: [...listed, failure] });
    if (next.length > CAUSE_CHARS) break;
    listed.push(failure);
    text = next;
  }
  return text;
}

/**
 * The map's ResultWriter manifest. A map run without child executions (an empty prefix, every key
 * a folder marker's listing aside) may write none while its output names one (Step Functions
 * documents none for it): with no result file beside it either, that is a run of 0 objects, not a
 * failure of the run (NoSuchKey, with no summary). Result files without their manifest are.
 * The Summarize role may list `reprocess/` of the bucket (iam.tf): S3 answers a missing object
 * with 403 instead of 404 to a role that may not.
 */
async function resultManifest(
  storage: Storage,
  key: string,
): Promise<{ ResultFiles?: Record<string, { Key: string }[]> }> {
  try {
    return await getJson(storage, key, RESULT_FILE_BYTES);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
    const folder = key.slice(0, key.lastIndexOf('/') + 1);
    const files: string[] = [];
    for await (const object of storage.list(folder)) {
      files.push(object.key);
      if (files.length === 3) break;
    }
    if (files.length === 0) return { ResultFiles: {} };
    throw new TaskError(
      FAILED_ERROR,
      `The map's ResultWriter manifest ${storage.locate(key)} does not exist, but its folder holds result files (${files.join(', ')}): the results cannot be read without it`,
      { cause: error },
    );
  }
}

/** Where the state machine's ResultWriter and the summaries go in the results bucket. */
export const REPROCESS_RESULTS_PREFIX = 'reprocess/';
const RESULT_FILE_BYTES = 512 * 1024 * 1024;

function failedBatch(execution: ChildExecution): FailedBatch {
  let keys: string[] = [];
  try {
    const input: unknown = JSON.parse(execution.Input ?? '{}');
    if (isPlainObject(input) && Array.isArray(input.Items))
      keys = input.Items.flatMap((item) =>
        isPlainObject(item) && typeof item.key === 'string' ? [item.key] : [],
      );
  } catch {
    // An input Step Functions did not include (over its size limit) lists no keys.
  }
  return {
    error: clip(
      [execution.Error, execution.Cause].filter(Boolean).join(': ') || (execution.Status ?? 'FAILED'),
    ),
    objects: keys.length,
    keys,
  };
}

/** A summary as JSON text (an execution's output, the Summarize task's), if it is one. */
export function summaryIn(text: string | undefined): ReprocessSummary | undefined {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as ReprocessSummary | null;
    return parsed && typeof parsed === 'object' && isPlainObject(parsed.counts) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The summary of a failed run, in the execution's cause (MapFailed's: `cause` above), if it is
 * one: `imgpipe reprocess` and `imgpipe dev` print it.
 */
export function mapFailureIn(cause: string | undefined): ReprocessSummary | undefined {
  const summary = summaryIn(cause);
  return typeof summary?.mapFailure === 'string' ? summary : undefined;
}

/**
 * A caught error's `Error: Cause`, the Cause's errorMessage when it is a Lambda error's JSON (an
 * execution's error and cause too: `imgpipe reprocess` and `imgpipe dev` print them with it).
 */
export function failureText(error: string, cause: unknown): string {
  let text = typeof cause === 'string' ? cause : '';
  try {
    const parsed: unknown = JSON.parse(text);
    if (isPlainObject(parsed) && typeof parsed.errorMessage === 'string') text = parsed.errorMessage;
  } catch {
    // A plain-text cause is the message itself.
  }
  return text ? `${error}: ${text}` : error;
}

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}
