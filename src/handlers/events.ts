import { isPlainObject } from '../core/json.ts';
import { type ObjectRef, sequencerProblem } from '../core/objects.ts';

/**
 * Reading what S3 sends. Two shapes carry object notifications:
 *
 * - S3 event notifications (`{"Records": [{"eventSource": "aws:s3", ...}]}`), where object keys are
 *   URL-encoded with `+` for spaces: `a+b%C3%BC.jpg` is the key `a bü.jpg`;
 * - EventBridge "Object Created" and "Object Deleted" events (`{"source": "aws.s3", "detail": {...}}`),
 *   keys not encoded.
 *
 * Either may come wrapped, where a deployment puts a queue or a topic between S3 and the function
 * (S3 -> SQS -> Lambda, S3 -> SNS -> Lambda, S3 -> SNS -> SQS -> Lambda, EventBridge -> SQS): an SQS
 * message's `body` or an SNS notification's `Message` is read as the event it carries. Read as not
 * S3 records, their objects were acknowledged without being processed, and SQS then deleted them.
 *
 * Each record becomes a change: an object created or removed, with the event's `sequencer`, which
 * orders the events of one key. S3 also sends `s3:TestEvent` when a notification is configured; it
 * and anything without records is acknowledged, not failed, so it cannot loop through retries.
 */

/** An object created or removed: the object, and the event's name (`ObjectCreated:Put`...). */
export interface ObjectChange {
  readonly kind: 'created' | 'removed';
  readonly object: ObjectRef;
  readonly eventName: string;
}

export interface SkippedRecord {
  readonly index: number;
  readonly reason: string;
  readonly eventName?: string;
  readonly bucket?: string;
  readonly key?: string;
}

export type ParsedEvent =
  | { readonly kind: 'test'; readonly bucket?: string }
  | { readonly kind: 'records'; readonly changes: ObjectChange[]; readonly skipped: SkippedRecord[] }
  | { readonly kind: 'empty'; readonly description: string };

/** Decodes an S3 notification key: `+` is a space, then percent-decoding (UTF-8). */
export function decodeS3Key(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** The inverse, as S3 writes keys into notifications (used to build real events locally). */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/');
}

type Json = Record<string, unknown>;

export function parseS3Event(event: unknown): ParsedEvent {
  if (!isPlainObject(event)) return { kind: 'empty', description: `an event of type ${typeof event}` };
  if (event.Event === 's3:TestEvent')
    return { kind: 'test', bucket: typeof event.Bucket === 'string' ? event.Bucket : undefined };
  if (event.source === 'aws.s3' && isPlainObject(event.detail)) return parseEventBridge(event);
  if (!Array.isArray(event.Records)) {
    return {
      kind: 'empty',
      description: `an event without Records (keys: ${Object.keys(event).join(', ') || 'none'})`,
    };
  }
  const changes: ObjectChange[] = [];
  const skipped: SkippedRecord[] = [];
  event.Records.forEach((record: unknown, index) => {
    const carried = envelope(record);
    if (carried === undefined) {
      const parsed = parseRecord(record, index);
      if ('reason' in parsed) skipped.push(parsed);
      else changes.push(parsed);
      return;
    }
    const inner = unwrap(carried.body);
    if (inner.kind === 'records') {
      changes.push(...inner.changes);
      skipped.push(...inner.skipped.map((record) => ({ ...record, index })));
    } else
      skipped.push({
        index,
        reason:
          inner.kind === 'test'
            ? `${carried.what} carrying s3:TestEvent`
            : `${carried.what} that carries no S3 event (${inner.description})`,
      });
  });
  return { kind: 'records', changes, skipped };
}

/** An SQS message or SNS notification record: what it is, and the text it carries. */
function envelope(record: unknown): { readonly what: string; readonly body: string } | undefined {
  if (!isPlainObject(record)) return undefined;
  if (record.eventSource === 'aws:sqs' && typeof record.body === 'string')
    return { what: `the SQS message ${String(record.messageId ?? '')}`.trimEnd(), body: record.body };
  const sns = record.Sns;
  if (record.EventSource === 'aws:sns' && isPlainObject(sns) && typeof sns.Message === 'string')
    return { what: `the SNS notification ${String(sns.MessageId ?? '')}`.trimEnd(), body: sns.Message };
  return undefined;
}

/**
 * The event an envelope's text carries: an S3 notification or EventBridge event, or an SNS
 * notification of one (an SQS queue subscribed to a topic without raw message delivery).
 */
function unwrap(body: string): ParsedEvent {
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return { kind: 'empty', description: `a body that is not JSON: ${JSON.stringify(body.slice(0, 80))}` };
  }
  if (isPlainObject(event) && event.Type === 'Notification' && typeof event.Message === 'string')
    return unwrap(event.Message);
  // One level: an S3 event's records are S3 records, never envelopes again.
  if (isPlainObject(event) && Array.isArray(event.Records) && event.Records.some((r) => envelope(r)))
    return { kind: 'empty', description: 'records that are envelopes again' };
  return parseS3Event(event);
}

function parseRecord(record: unknown, index: number): ObjectChange | SkippedRecord {
  if (!isPlainObject(record) || !isPlainObject(record.s3)) return { index, reason: 'not an S3 record' };
  const eventName = String(record.eventName ?? '');
  const s3 = record.s3;
  const bucket = isPlainObject(s3.bucket) ? String(s3.bucket.name ?? '') : '';
  const object = isPlainObject(s3.object) ? s3.object : {};
  const rawKey = typeof object.key === 'string' ? object.key : '';
  const skip = (reason: string): SkippedRecord => ({ index, reason, eventName, bucket, key: rawKey });
  const kind = eventName.startsWith('ObjectCreated:')
    ? 'created'
    : eventName.startsWith('ObjectRemoved:')
      ? 'removed'
      : undefined;
  if (!kind) return skip(`${eventName || 'unnamed'} is not an ObjectCreated or ObjectRemoved event`);
  if (!bucket || !rawKey) return skip('the record has no bucket name or object key');
  let key: string;
  try {
    key = decodeS3Key(rawKey);
  } catch {
    return skip(`the key ${JSON.stringify(rawKey)} is not valid URL encoding`);
  }
  const sequencer = text(object.sequencer);
  const problem = sequencer === undefined ? undefined : sequencerProblem(sequencer);
  if (problem !== undefined) return skip(problem);
  return {
    kind,
    eventName,
    object: {
      bucket,
      key,
      etag: text(object.eTag)?.replaceAll('"', ''),
      size: typeof object.size === 'number' ? object.size : undefined,
      versionId: text(object.versionId),
      sequencer,
    },
  };
}

const EVENTBRIDGE_KINDS: Record<string, ObjectChange['kind']> = {
  'Object Created': 'created',
  'Object Deleted': 'removed',
};

function parseEventBridge(event: Json): ParsedEvent {
  const detail = event.detail as Json;
  const type = String(event['detail-type'] ?? '');
  const bucket = isPlainObject(detail.bucket) ? String(detail.bucket.name ?? '') : '';
  const object = isPlainObject(detail.object) ? detail.object : {};
  const key = typeof object.key === 'string' ? object.key : '';
  const kind = EVENTBRIDGE_KINDS[type];
  if (!kind || !bucket || !key) {
    return {
      kind: 'records',
      changes: [],
      skipped: [
        {
          index: 0,
          reason: `EventBridge ${type || 'event'} is not an Object Created or Object Deleted event with a bucket and key`,
          bucket,
          key,
        },
      ],
    };
  }
  const eventName = kind === 'created' ? 'ObjectCreated:EventBridge' : 'ObjectRemoved:EventBridge';
  const sequencer = text(object.sequencer);
  const problem = sequencer === undefined ? undefined : sequencerProblem(sequencer);
  if (problem !== undefined)
    return { kind: 'records', changes: [], skipped: [{ index: 0, reason: problem, eventName, bucket, key }] };
  return {
    kind: 'records',
    skipped: [],
    changes: [
      {
        kind,
        eventName,
        object: {
          bucket,
          key,
          etag: text(object.etag),
          size: typeof object.size === 'number' ? object.size : undefined,
          versionId: text(object['version-id']),
          sequencer,
        },
      },
    ],
  };
}

/** A non-empty string field, or undefined. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
