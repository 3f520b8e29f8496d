import { invalidSetting } from '../core/errors.ts';
import { isPlainObject } from '../core/json.ts';
import { type LambdaHandler, lambdaHandler } from './lambda.ts';
import { createObjectHandling, type HandlerDeps, type RecordStatus } from './objects.ts';
import { EventBatch } from './outcomes.ts';

/**
 * `index.reprocess`: processes objects that are already in a bucket, for a first deployment onto
 * existing uploads or after a configuration change. Invoke it directly (the image command
 * overridden to `index.reprocess`) with
 *
 *   { "bucket": "uploads", "prefix": "photos/" }          every object under a prefix
 *   { "bucket": "uploads", "keys": ["a.jpg", "b.png"] }   named objects
 *   optional: "startAfter": "<key>" (continue a listing), "force": true (redo current manifests)
 *
 * Objects whose manifest is current are skipped unless `force`. Outcomes are logged and counted as
 * for S3 events. Before the function would time out it stops and returns `continueAfter`: invoke
 * again with that as `startAfter`. Failures are returned, not thrown, so one bad object does not
 * make Lambda redo the whole listing.
 */
export interface ReprocessRequest {
  readonly bucket: string;
  readonly prefix?: string;
  readonly keys?: readonly string[];
  readonly startAfter?: string;
  readonly force?: boolean;
}

export interface ReprocessResult {
  readonly bucket: string;
  readonly counts: Partial<Record<RecordStatus, number>>;
  readonly failures: readonly { key: string; reason?: string }[];
  /** Set when time ran out: the last key handled; pass it as `startAfter` to continue. */
  readonly continueAfter?: string;
}

/** Stop taking new objects when less than this is left of the invocation. */
export const TIME_RESERVE_MS = 60_000;

export function parseReprocessRequest(event: unknown): ReprocessRequest {
  if (!isPlainObject(event))
    throw invalidSetting('event', 'an object like {"bucket": "uploads", "prefix": "photos/"}', event);
  const { bucket, prefix, keys, startAfter, force } = event;
  if (typeof bucket !== 'string' || bucket === '')
    throw invalidSetting('event.bucket', 'a bucket name', bucket);
  if (prefix !== undefined && typeof prefix !== 'string')
    throw invalidSetting('event.prefix', 'a key prefix', prefix);
  if (keys !== undefined && (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && k !== ''))) {
    throw invalidSetting('event.keys', 'an array of object keys', keys);
  }
  if (prefix !== undefined && keys !== undefined)
    throw invalidSetting('event', 'either prefix or keys, not both', event);
  if (prefix === undefined && keys === undefined)
    throw invalidSetting('event', 'a prefix ("" for the whole bucket) or keys', event);
  if (startAfter !== undefined && typeof startAfter !== 'string')
    throw invalidSetting('event.startAfter', 'a key', startAfter);
  if (force !== undefined && typeof force !== 'boolean')
    throw invalidSetting('event.force', 'true or false', force);
  return { bucket, prefix, keys: keys as string[] | undefined, startAfter, force };
}

export function createReprocessHandler(deps: HandlerDeps): LambdaHandler<ReprocessResult> {
  const { logger, metrics } = deps;
  const objects = createObjectHandling(deps);

  return lambdaHandler(deps, async (event, context) => {
    const request = parseReprocessRequest(event);
    const counts: Partial<Record<RecordStatus, number>> = {};
    const failures: { key: string; reason?: string }[] = [];
    const source = deps.sourceStorage(request.bucket);
    const keys = request.keys
      ? fromList(request.keys, request.startAfter)
      : fromListing(source.list(request.prefix, request.startAfter));
    let last: string | undefined;
    const events = new EventBatch(deps.events, logger, metrics);
    try {
      return await run();
    } finally {
      await events.flush();
    }

    async function run(): Promise<ReprocessResult> {
      for await (const key of keys) {
        const remainingMs = context?.getRemainingTimeInMillis();
        if (remainingMs !== undefined && remainingMs < TIME_RESERVE_MS) {
          logger.info('Reprocessing paused before the timeout', {
            bucket: request.bucket,
            continueAfter: last,
          });
          return { bucket: request.bucket, counts, failures, continueAfter: last };
        }
        const { result, event } = await objects.handle(
          { bucket: request.bucket, key },
          { trigger: 'Reprocess', force: request.force, remainingMs },
        );
        events.add(event);
        if (events.size >= EventBatch.BATCH) await events.flush();
        counts[result.status] = (counts[result.status] ?? 0) + 1;
        if (result.status === 'failed') failures.push({ key, reason: result.reason });
        last = key;
        // Publish as we go: a long run would otherwise hold thousands of values in one EMF line.
        metrics.publishStoredMetrics();
      }
      return { bucket: request.bucket, counts, failures };
    }
  });
}

async function* fromList(keys: readonly string[], startAfter?: string): AsyncIterable<string> {
  const start = startAfter === undefined ? 0 : keys.indexOf(startAfter) + 1;
  yield* keys.slice(start);
}

async function* fromListing(listing: AsyncIterable<{ key: string }>): AsyncIterable<string> {
  for await (const object of listing) yield object.key;
}
