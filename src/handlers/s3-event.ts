import type { Context } from 'aws-lambda';
import { describeError } from '../errors.ts';
import { parseS3Event } from './events.ts';
import { createObjectHandling, type HandlerDeps, type RecordResult } from './objects.ts';

export type { HandlerDeps as S3HandlerDeps, RecordResult, RecordStatus } from './objects.ts';

/**
 * The S3 event handler (`index.handler`): event -> records -> one outcome per object.
 *
 * - Own outputs, manifests and quarantine copies are skipped (recursion guard), before any I/O.
 * - A record whose manifest exists for the same ETag and configuration is skipped (S3 delivers at
 *   least once).
 * - Invalid images are quarantined and the invocation succeeds: retrying cannot fix them.
 * - Anything else (S3 5xx, throttling, timeouts, denied access) is logged, the remaining records
 *   still run, and the invocation then fails so Lambda retries it; records done in the first attempt
 *   are skipped on the retry by the idempotency check.
 */
export interface HandlerResult {
  readonly records: readonly RecordResult[];
}

export class RecordsFailedError extends Error {
  readonly failures: readonly { bucket: string; key: string; error: unknown }[];

  constructor(failures: { bucket: string; key: string; error: unknown }[]) {
    const first = failures[0]!;
    super(
      `${failures.length} record(s) failed and will be retried; first: s3://${first.bucket}/${first.key}: ${describeError(first.error)}`,
      { cause: first.error },
    );
    this.name = 'RecordsFailedError';
    this.failures = failures;
  }
}

export function createS3EventHandler(
  deps: HandlerDeps,
): (event: unknown, context?: Context) => Promise<HandlerResult> {
  const { logger, metrics } = deps;
  const objects = createObjectHandling(deps);

  return async (event, context) => {
    if (context) logger.addContext(context);
    metrics.captureColdStartMetric();
    try {
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
      const results: RecordResult[] = parsed.skipped.map((skipped) =>
        objects.skip({ bucket: skipped.bucket, key: skipped.key, status: 'ignored', reason: skipped.reason }),
      );
      const failures: { bucket: string; key: string; error: unknown }[] = [];
      for (const created of parsed.created) {
        const { error, ...result } = await objects.handle({ ...created, trigger: created.eventName });
        if (result.status === 'failed') failures.push({ bucket: created.bucket, key: created.key, error });
        results.push(result);
      }
      if (failures.length > 0) throw new RecordsFailedError(failures);
      return { records: results };
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}
