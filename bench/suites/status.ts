import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { JsonLinesPublisher } from '../../src/bus/file.ts';
import type { EventPublisher } from '../../src/bus/types.ts';
import { startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { buildS3Notification, startLocalS3 } from '../../src/cli/local-s3.ts';
import { type Column, formatMs, renderTable } from '../../src/cli/table.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { createS3EventHandler } from '../../src/handlers/s3-event.ts';
import { createEncoder } from '../../src/pipeline/encoder-pool.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import type { StatusStore } from '../../src/status/types.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import type { Storage } from '../../src/storage/types.ts';
import { median } from '../lib/spawn.ts';

/**
 * The cost of the status and event path per object, against the pipeline's own time: every corpus
 * image goes through the real S3 handler (s3rver for S3, dynalite for the status table, a
 * JSON-lines file for the bus), with the table, the publisher and the source storage wrapped to
 * time every status write and event flush and to count source reads. Local servers answer in well
 * under a millisecond, so this measures our code's overhead, not DynamoDB's or EventBridge's
 * network latency (single-digit milliseconds in a region; add it when reading the ratio).
 */
export interface StatusRow {
  readonly image: string;
  /** The object's recorded outcome (its status item: processed, quarantined with the reason, ...). */
  readonly outcome: string;
  /** The pipeline's own time for the object (its manifest's total); none when it was not processed. */
  readonly pipelineMs?: number;
  readonly statusMs: number;
  readonly eventsMs: number;
  readonly sourceReads: number;
}

export const STATUS_TARGET = 0.03;

export async function runStatusOverhead(images: readonly string[]): Promise<StatusRow[]> {
  const folder = mkdtempSync(join(tmpdir(), 'imgpipe-bench-status-'));
  const s3 = await startLocalS3({ port: 0, directory: join(folder, 's3'), buckets: ['src', 'out', 'bad'] });
  const dynamo = await startLocalDynamo();
  await dynamo.createStatusTable('imgpipe-status');
  const clock = { status: 0, events: 0, reads: 0 };
  const status = timed<StatusStore>(new DynamoStatusStore(dynamo.client, 'imgpipe-status'), (ms) => {
    clock.status += ms;
  });
  const events = timed<EventPublisher>(new JsonLinesPublisher(join(folder, 'events.jsonl')), (ms) => {
    clock.events += ms;
  });
  const config = loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: 'out',
    IMGPIPE_QUARANTINE_BUCKET: 'bad',
    IMGPIPE_QUARANTINE_PREFIX: '',
  });
  const encoder = await createEncoder(1, config.pipeline.formats);
  // The handler's EMF lines would drown the table; Powertools reads this when Metrics is created.
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const handler = createS3EventHandler({
    config,
    sourceStorage: (bucket) => counted(new S3Storage(s3.client, bucket), () => clock.reads++),
    output: new S3Storage(s3.client, 'out'),
    quarantine: new S3Storage(s3.client, 'bad'),
    logger: new Logger({ serviceName: 'imgpipe-bench', logLevel: 'CRITICAL' }),
    metrics: new Metrics({ serviceName: 'imgpipe-bench', namespace: 'imgpipe-bench' }),
    encoder,
    status,
    events,
  });
  const rows: StatusRow[] = [];
  try {
    for (const [index, image] of images.entries()) {
      const key = `${index}/${basename(image)}`;
      const body = readFileSync(image);
      const put = await s3.client.send(new PutObjectCommand({ Bucket: 'src', Key: key, Body: body }));
      Object.assign(clock, { status: 0, events: 0, reads: 0 });
      await handler(
        buildS3Notification({ bucket: 'src', key, size: body.length, etag: put.ETag, sequencer: '01' }),
      );
      const item = await status.get('src', key);
      const total = item?.status === 'processed' ? item.timings?.total : undefined;
      rows.push({
        image: basename(image),
        outcome: item
          ? `${item.status}${item.reason === undefined ? '' : ` (${item.reason})`}`
          : 'no status recorded',
        ...(total !== undefined ? { pipelineMs: total } : {}),
        statusMs: clock.status,
        eventsMs: clock.events,
        sourceReads: clock.reads,
      });
    }
  } finally {
    if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = previous;
    await encoder.close();
    await dynamo.close();
    await s3.close();
    rmSync(folder, { recursive: true, force: true });
  }
  return rows;
}

export function statusTable(rows: readonly StatusRow[], style?: 'markdown'): string {
  // The overhead is against the pipeline's time, which only a processed object has: a quarantined
  // one (a corrupt file in the corpus) had NaN, and the median over the rows was NaN, "NOT met".
  const ratio = (r: StatusRow) =>
    r.pipelineMs === undefined ? undefined : (r.statusMs + r.eventsMs) / r.pipelineMs;
  const columns: Column<StatusRow>[] = [
    { header: 'image', value: (r) => r.image },
    { header: 'outcome', value: (r) => r.outcome },
    {
      header: 'pipeline',
      value: (r) => (r.pipelineMs === undefined ? '' : formatMs(r.pipelineMs)),
      align: 'right',
    },
    { header: 'status writes', value: (r) => formatMs(r.statusMs), align: 'right' },
    { header: 'events', value: (r) => formatMs(r.eventsMs), align: 'right' },
    {
      header: 'overhead',
      value: (r) => {
        const value = ratio(r);
        return value === undefined ? '' : `${(100 * value).toFixed(2)}%`;
      },
      align: 'right',
    },
    { header: 'source reads', value: (r) => r.sourceReads, align: 'right' },
  ];
  const ratios = rows.flatMap((r) => {
    const value = ratio(r);
    return value === undefined ? [] : [value];
  });
  const reads = `source reads per object: ${[...new Set(rows.map((r) => r.sourceReads))].join(', ')} (target 1)`;
  const others = rows.length - ratios.length;
  const left = others === 0 ? '' : ` (${others} of ${rows.length} not processed, left out)`;
  const overhead = ratios.length === 0 ? undefined : median(ratios);
  const verdict =
    overhead === undefined
      ? `no object was processed, so there is no overhead to give; ${reads}`
      : `median overhead ${(100 * overhead).toFixed(2)}% over the processed objects${left} (target under ${100 * STATUS_TARGET}%: ${overhead < STATUS_TARGET ? 'met' : 'NOT met'}); ${reads}`;
  return `${renderTable(columns, rows, style)}\n\n${verdict}`;
}

/** The object with every method call timed (the time to settle, for promises). */
function timed<T extends object>(target: T, add: (ms: number) => void): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const start = performance.now();
        try {
          return await value.apply(object, args);
        } finally {
          if (property !== 'get') add(performance.now() - start);
        }
      };
    },
  });
}

function counted(storage: Storage, onRead: () => void): Storage {
  return new Proxy(storage, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (property === 'get' && typeof value === 'function') {
        return (...args: unknown[]) => {
          onRead();
          return value.apply(object, args);
        };
      }
      return typeof value === 'function' ? value.bind(object) : value;
    },
  });
}
