import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { RuntimeConfig } from '../config/index.ts';
import { describeError, StorageError } from '../errors.ts';
import { createOwnObjectGuard } from '../pipeline/guard.ts';
import type { Encoder } from '../pipeline/process-image.ts';
import { type Outcome, processObject } from '../pipeline/process-object.ts';
import type { Storage } from '../storage/types.ts';
import { type ObjectCreated, parseS3Event } from './events.ts';

/**
 * The S3 event handler: event -> records -> processObject -> one log line and metrics per object.
 *
 * - Own outputs, manifests and quarantine copies are skipped (recursion guard), before any I/O.
 * - A record whose manifest exists for the same ETag and configuration is skipped (S3 delivers at
 *   least once).
 * - Invalid images are quarantined and the invocation succeeds: retrying cannot fix them.
 * - Anything else (S3 5xx, throttling, timeouts, denied access) is logged, the remaining records
 *   still run, and the invocation then fails so Lambda retries it; records done in the first attempt
 *   are skipped on the retry by the idempotency check.
 */

export interface S3HandlerDeps {
  readonly config: RuntimeConfig;
  /** The storage for a source bucket named in an event. */
  readonly sourceStorage: (bucket: string) => Storage;
  readonly output: Storage;
  readonly quarantine: Storage;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly encoder?: Encoder;
}

export type RecordStatus = Outcome['status'] | 'ignored' | 'failed';

export interface RecordResult {
  readonly bucket?: string;
  readonly key?: string;
  readonly status: RecordStatus;
  readonly reason?: string;
}

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

const STATUS_METRIC: Record<RecordStatus, string> = {
  processed: 'ObjectsProcessed',
  duplicate: 'ObjectsDuplicate',
  quarantined: 'ObjectsQuarantined',
  missing: 'ObjectsMissing',
  ignored: 'ObjectsIgnored',
  failed: 'ObjectsFailed',
};

export function createS3EventHandler(
  deps: S3HandlerDeps,
): (event: unknown, context?: Context) => Promise<HandlerResult> {
  const { config, logger, metrics } = deps;
  const isOwnObject = createOwnObjectGuard(config, config.pipeline);

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
      const results: RecordResult[] = [];
      for (const skipped of parsed.skipped) {
        record(results, {
          bucket: skipped.bucket,
          key: skipped.key,
          status: 'ignored',
          reason: skipped.reason,
        });
      }
      const failures: { bucket: string; key: string; error: unknown }[] = [];
      for (const created of parsed.created) {
        const guard = isOwnObject(created.bucket, created.key);
        if (guard) {
          record(results, {
            bucket: created.bucket,
            key: created.key,
            status: 'ignored',
            reason: `own output: ${guard}`,
          });
          continue;
        }
        try {
          const outcome = await processObject(
            {
              storage: deps.sourceStorage(created.bucket),
              key: created.key,
              etag: created.etag,
              size: created.size,
              versionId: created.versionId,
            },
            {
              config: config.pipeline,
              output: deps.output,
              quarantine: deps.quarantine,
              quarantinePrefix: config.quarantinePrefix,
              encoder: deps.encoder,
            },
          );
          results.push(report(created, outcome));
        } catch (error) {
          failures.push({ bucket: created.bucket, key: created.key, error });
          results.push(reportFailure(created, error));
        }
      }
      if (failures.length > 0) throw new RecordsFailedError(failures);
      return { records: results };
    } finally {
      metrics.publishStoredMetrics();
    }
  };

  function record(results: RecordResult[], result: RecordResult): void {
    logger.info(`Record ${result.status}`, {
      outcome: result.status,
      bucket: result.bucket,
      key: result.key,
      reason: result.reason,
    });
    metrics.addMetric(STATUS_METRIC[result.status], MetricUnit.Count, 1);
    results.push(result);
  }

  function report(created: ObjectCreated, outcome: Outcome): RecordResult {
    const level = outcome.status === 'quarantined' || outcome.status === 'missing' ? 'warn' : 'info';
    logger[level](`Object ${outcome.status}`, {
      outcome: outcome.status,
      bucket: created.bucket,
      key: created.key,
      etag: outcome.etag,
      eventName: created.eventName,
      bytesIn: outcome.bytesIn,
      bytesOut: outcome.bytesOut,
      format: outcome.format,
      width: outcome.width,
      height: outcome.height,
      outputs: outcome.outputs.length,
      manifest: outcome.manifestKey,
      reason: outcome.reason,
      message: outcome.message,
      quarantinedAs: outcome.quarantineKey,
      durationsMs: outcome.timings,
    });
    metrics.addMetric(STATUS_METRIC[outcome.status], MetricUnit.Count, 1);
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
        if (value !== undefined) metrics.addMetric(name, MetricUnit.Milliseconds, value);
      }
    }
    return { bucket: created.bucket, key: created.key, status: outcome.status, reason: outcome.reason };
  }

  function reportFailure(created: ObjectCreated, error: unknown): RecordResult {
    const retryable = error instanceof StorageError ? error.retryable : undefined;
    logger.error('Object failed', {
      outcome: 'failed',
      bucket: created.bucket,
      key: created.key,
      etag: created.etag,
      eventName: created.eventName,
      retryable,
      error: error instanceof Error ? error : new Error(String(error)),
    });
    metrics.addMetric(STATUS_METRIC.failed, MetricUnit.Count, 1);
    return { bucket: created.bucket, key: created.key, status: 'failed', reason: describeError(error) };
  }
}
