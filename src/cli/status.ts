import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../config/settings.ts';
import { isCalendarDay } from '../core/timing.ts';
import { DynamoStatusStore } from '../status/dynamodb.ts';
import { LISTED_STATUSES, type ListedStatus, type StatusItem, type StatusStore } from '../status/types.ts';
import { awsCallFailure, CommandFailure, errorChain, UsageError } from './args.ts';
import { LOCAL_CREDENTIALS } from './local-s3.ts';
import { type Column, formatBytes, formatMs, printable, renderTable } from './table.ts';

/**
 * `imgpipe status`: what happened to an upload, from the status table, in one command; and what
 * needs attention (`--failed`, `--quarantined`, `--processing`) since a time. Against AWS (the
 * SDK's credentials and region) or `imgpipe dev`'s local table (`--endpoint`).
 */
export const DEV_STATUS_TABLE = 'imgpipe-status';
const COMMAND = 'imgpipe status';

export interface StatusCommandOptions {
  /** `s3://bucket/key` or `bucket/key`; absent for a listing. */
  readonly object?: string;
  readonly list?: ListedStatus;
  readonly since?: string;
  readonly limit: number;
  readonly table: string;
  readonly endpoint?: string;
  readonly json: boolean;
  readonly stdout: NodeJS.WritableStream;
  /** For tests: the store to read instead of one built from table and endpoint. */
  readonly store?: StatusStore;
}

export async function runStatusCommand(options: StatusCommandOptions): Promise<number> {
  try {
    return await statusCommand(options);
  } catch (error) {
    // As imgpipe reprocess names a state machine that does not exist: a usage error naming the value.
    if (errorChain(error).some((cause) => cause.name === 'ResourceNotFoundException'))
      throw new UsageError(
        COMMAND,
        `table ${options.table} does not exist ${options.endpoint ? `at ${options.endpoint}` : '(in that account and region, for these credentials)'}: check --table or ${STATUS_TABLE_ENV} (terraform output status_table_name; imgpipe dev's is ${DEV_STATUS_TABLE})`,
      );
    // As imgpipe reprocess says it: the SDK's error read "DynamoDB list of byStatus/failed in
    // imgpipe-status failed (Error): connect ECONNREFUSED 127.0.0.1:4569", and asked for the stack.
    throw (
      awsCallFailure(
        COMMAND,
        error,
        options.endpoint,
        " It prints its status table's endpoint when it starts",
      ) ?? error
    );
  }
}

async function statusCommand(options: StatusCommandOptions): Promise<number> {
  // What was typed first (usage errors), then the store's settings.
  const object = options.object === undefined ? undefined : parseObject(options.object);
  const since = options.since === undefined ? undefined : parseSince(options.since);
  const store = options.store ?? (await storeFor(options.table, options.endpoint));
  const out = (text: string) => options.stdout.write(`${text}\n`);
  if (object !== undefined) {
    const { bucket, key } = object;
    const item = await store.get(bucket, key);
    if (options.json) out(JSON.stringify(item ?? null, null, 2));
    else if (item) out(describeItem(item));
    else
      out(
        `s3://${bucket}/${printable(key)}: no status recorded in ${options.table} (never uploaded, or before the table existed)`,
      );
    return item ? 0 : 1;
  }
  const status = options.list ?? 'failed';
  const items: StatusItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({
      status,
      ...(since ? { since } : {}),
      limit: Math.min(100, options.limit - items.length),
      ...(cursor ? { cursor } : {}),
    });
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor && items.length < options.limit);
  if (options.json) {
    out(JSON.stringify(items, null, 2));
    return 0;
  }
  if (items.length === 0) {
    out(`No ${status} objects${since ? ` since ${since.toISOString()}` : ''}.`);
    return 0;
  }
  const columns: Column<StatusItem>[] = [
    { header: 'updated', value: (i) => i.updatedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') },
    { header: 'object', value: (i) => `s3://${i.bucket}/${i.key}` },
    { header: 'attempts', value: (i) => i.attempts, align: 'right' },
    { header: 'reason', value: (i) => [i.reason, i.message].filter(Boolean).join(': ') },
  ];
  out(renderTable(columns, items));
  return 0;
}

async function storeFor(table: string, endpoint?: string): Promise<StatusStore> {
  const client = new DynamoDBClient(
    endpoint
      ? { endpoint, region: process.env.AWS_REGION ?? 'us-east-1', credentials: LOCAL_CREDENTIALS }
      : {},
  );
  // The SDK's region (environment, profile): without one every request failed as "DynamoDB get of
  // <key> in <table> failed (Error): Region is missing".
  await client.config.region().catch(() => {
    throw new CommandFailure(
      COMMAND,
      `no AWS region for the status table ${table}: set AWS_REGION (or AWS_PROFILE with a region), or give --endpoint for imgpipe dev`,
    );
  });
  return new DynamoStatusStore(client, table);
}

/**
 * `s3://bucket/key` or `bucket/key`. A key is anything after the bucket's slash, line breaks
 * included (S3 allows them; the listing shows them as \n). The error says which part is wrong.
 */
export function parseObject(text: string): { bucket: string; key: string } {
  const match = /^(?:s3:\/\/)?([^/]*)(?:\/(.*))?$/s.exec(text);
  const bucket = match?.[1] ?? '';
  const key = match?.[2] ?? '';
  const problem =
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')
      ? `${JSON.stringify(bucket)} is not a bucket name (3-63 lowercase letters, digits, dots and hyphens)`
      : key === ''
        ? `no key after the bucket ${bucket}`
        : undefined;
  if (problem !== undefined) {
    throw new UsageError(
      COMMAND,
      `expected s3://<bucket>/<key> or <bucket>/<key>, not ${JSON.stringify(text)}: ${problem}`,
    );
  }
  return { bucket, key };
}

/** `30m`, `12h`, `1d`, `2w`, or an ISO date. */
export function parseSince(text: string, now = new Date()): Date {
  const relative = /^(\d+)\s*([mhdw])$/.exec(text.trim());
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
      relative[2] as 'm' | 'h' | 'd' | 'w'
    ];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  // Only an ISO date: Date also reads "12" as 2001-12-01, so a forgotten unit listed 25 years.
  const iso =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
  const match = iso.exec(text.trim());
  // Of a day the month has, and a time of day: Date takes 2026-11-31 for 1 December, 24:00 for
  // the next day's midnight.
  const [year, month, day, hour = 0, minute = 0, second = 0] = (match?.slice(1) ?? []).map((part) =>
    part === undefined ? undefined : Number(part),
  );
  const real =
    match !== null && isCalendarDay(year!, month!, day!) && hour <= 23 && minute <= 59 && second <= 59;
  const date = real ? new Date(text.trim()) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(
      COMMAND,
      `--since takes 30m, 12h, 1d, 2w or an ISO date, not ${JSON.stringify(text)}`,
    );
  }
  return date;
}

export function describeItem(item: StatusItem): string {
  const lines = [`s3://${item.bucket}/${printable(item.key)}: ${item.status}`];
  const add = (label: string, value: unknown) => {
    if (value !== undefined && value !== '') lines.push(`  ${label.padEnd(10)} ${printable(String(value))}`);
  };
  if (item.reason) add('reason', item.reason);
  add('message', item.message);
  if (item.format)
    add(
      'image',
      `${item.format} ${item.width}x${item.height}${item.orientation && item.orientation !== 1 ? `, orientation ${item.orientation}` : ''}`,
    );
  if (item.size !== undefined) add('size', formatBytes(item.size));
  if (item.outputs !== undefined) add('outputs', `${item.outputs} (manifest ${item.manifestKey})`);
  add('etag', item.etag);
  add('version', item.versionId);
  add('attempts', item.attempts);
  if (item.timings) {
    add(
      'timings',
      Object.entries(item.timings)
        // Encodes run in parallel threads: their sum can exceed the total, so the line says so.
        .map(([stage, ms]) => `${stage} ${formatMs(ms)}${stage === 'encode' ? ' (summed over encodes)' : ''}`)
        .join(', '),
    );
  }
  add('first seen', item.firstSeenAt);
  add('updated', item.updatedAt);
  return lines.join('\n');
}

export { LISTED_STATUSES };
export const STATUS_TABLE_ENV = ENV.statusTable;
