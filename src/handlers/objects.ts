import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RuntimeConfig } from '../config/index.ts';
import { describeError, StorageError } from '../errors.ts';
import { createOwnObjectGuard } from '../pipeline/guard.ts';
import type { Encoder } from '../pipeline/process-image.ts';
import { type Outcome, processObject } from '../pipeline/process-object.ts';
import type { Storage } from '../storage/types.ts';

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
}

export type RecordStatus = Outcome['status'] | 'ignored' | 'failed';

export interface RecordResult {
  readonly bucket?: string;
  readonly key?: string;
  readonly status: RecordStatus;
  readonly reason?: string;
}

export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
  readonly etag?: string;
  readonly size?: number;
  readonly versionId?: string;
  /** What asked for it: the S3 event name, or `Reprocess`. */
  readonly trigger: string;
}

export const STATUS_METRIC: Record<RecordStatus, string> = {
  processed: 'ObjectsProcessed',
  duplicate: 'ObjectsDuplicate',
  quarantined: 'ObjectsQuarantined',
  missing: 'ObjectsMissing',
  ignored: 'ObjectsIgnored',
  failed: 'ObjectsFailed',
};

export interface ObjectHandling {
  /** Never throws: failures come back as `failed`, with the error. */
  handle(ref: ObjectRef, options?: { force?: boolean }): Promise<RecordResult & { error?: unknown }>;
  /** Logs and counts a record that was not processed (test event, non-create event, bad key). */
  skip(result: RecordResult): RecordResult;
}

export function createObjectHandling(deps: HandlerDeps): ObjectHandling {
  const { config, logger, metrics } = deps;
  const isOwnObject = createOwnObjectGuard(config, config.pipeline);

  function skip(result: RecordResult): RecordResult {
    logger.info(`Record ${result.status}`, {
      outcome: result.status,
      bucket: result.bucket,
      key: result.key,
      reason: result.reason,
    });
    metrics.addMetric(STATUS_METRIC[result.status], MetricUnit.Count, 1);
    return result;
  }

  function report(ref: ObjectRef, outcome: Outcome): RecordResult {
    const level = outcome.status === 'quarantined' || outcome.status === 'missing' ? 'warn' : 'info';
    logger[level](`Object ${outcome.status}`, {
      outcome: outcome.status,
      bucket: ref.bucket,
      key: ref.key,
      etag: outcome.etag,
      eventName: ref.trigger,
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
    return { bucket: ref.bucket, key: ref.key, status: outcome.status, reason: outcome.reason };
  }

  function reportFailure(ref: ObjectRef, error: unknown): RecordResult {
    logger.error('Object failed', {
      outcome: 'failed',
      bucket: ref.bucket,
      key: ref.key,
      etag: ref.etag,
      eventName: ref.trigger,
      retryable: error instanceof StorageError ? error.retryable : undefined,
      error: error instanceof Error ? error : new Error(String(error)),
    });
    metrics.addMetric(STATUS_METRIC.failed, MetricUnit.Count, 1);
    return { bucket: ref.bucket, key: ref.key, status: 'failed', reason: describeError(error) };
  }

  return {
    skip,
    async handle(ref, options = {}) {
      const guard = isOwnObject(ref.bucket, ref.key);
      if (guard)
        return skip({ bucket: ref.bucket, key: ref.key, status: 'ignored', reason: `own output: ${guard}` });
      try {
        const outcome = await processObject(
          {
            storage: deps.sourceStorage(ref.bucket),
            key: ref.key,
            etag: ref.etag,
            size: ref.size,
            versionId: ref.versionId,
          },
          {
            config: config.pipeline,
            output: deps.output,
            quarantine: deps.quarantine,
            quarantinePrefix: config.quarantinePrefix,
            encoder: deps.encoder,
            force: options.force,
          },
        );
        return report(ref, outcome);
      } catch (error) {
        return { ...reportFailure(ref, error), error };
      }
    },
  };
}
