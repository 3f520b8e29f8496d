import { isPlainObject } from '../core/json.ts';
import type { ObjectRef } from '../core/objects.ts';

/**
 * Reading what S3 sends. Two shapes carry object-created notifications:
 *
 * - S3 event notifications (`{"Records": [{"eventSource": "aws:s3", ...}]}`), where object keys are
 *   URL-encoded with `+` for spaces: `a+b%C3%BC.jpg` is the key `a bü.jpg`;
 * - EventBridge "Object Created" events (`{"source": "aws.s3", "detail": {...}}`), keys not encoded.
 *
 * S3 also sends `s3:TestEvent` when a notification is configured; it and anything without records
 * is acknowledged, not failed, so it cannot loop through retries.
 */

/** An object-created notification: the object, and the event's name (`ObjectCreated:Put`...). */
export interface ObjectCreated {
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
  | { readonly kind: 'records'; readonly created: ObjectCreated[]; readonly skipped: SkippedRecord[] }
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
  const created: ObjectCreated[] = [];
  const skipped: SkippedRecord[] = [];
  event.Records.forEach((record: unknown, index) => {
    if (!isPlainObject(record) || !isPlainObject(record.s3)) {
      skipped.push({ index, reason: 'not an S3 record' });
      return;
    }
    const eventName = String(record.eventName ?? '');
    const s3 = record.s3;
    const bucket = isPlainObject(s3.bucket) ? String(s3.bucket.name ?? '') : '';
    const object = isPlainObject(s3.object) ? s3.object : {};
    const rawKey = typeof object.key === 'string' ? object.key : '';
    if (!eventName.startsWith('ObjectCreated:')) {
      skipped.push({
        index,
        reason: `${eventName || 'unnamed'} is not an ObjectCreated event`,
        eventName,
        bucket,
        key: rawKey,
      });
      return;
    }
    if (!bucket || !rawKey) {
      skipped.push({
        index,
        reason: 'the record has no bucket name or object key',
        eventName,
        bucket,
        key: rawKey,
      });
      return;
    }
    let key: string;
    try {
      key = decodeS3Key(rawKey);
    } catch {
      skipped.push({
        index,
        reason: `the key ${JSON.stringify(rawKey)} is not valid URL encoding`,
        eventName,
        bucket,
        key: rawKey,
      });
      return;
    }
    created.push({
      eventName,
      object: {
        bucket,
        key,
        etag: typeof object.eTag === 'string' ? object.eTag.replaceAll('"', '') : undefined,
        size: typeof object.size === 'number' ? object.size : undefined,
        versionId:
          typeof object.versionId === 'string' && object.versionId !== '' ? object.versionId : undefined,
      },
    });
  });
  return { kind: 'records', created, skipped };
}

function parseEventBridge(event: Json): ParsedEvent {
  const detail = event.detail as Json;
  const type = String(event['detail-type'] ?? '');
  const bucket = isPlainObject(detail.bucket) ? String(detail.bucket.name ?? '') : '';
  const object = isPlainObject(detail.object) ? detail.object : {};
  const key = typeof object.key === 'string' ? object.key : '';
  if (type !== 'Object Created' || !bucket || !key) {
    return {
      kind: 'records',
      created: [],
      skipped: [
        {
          index: 0,
          reason: `EventBridge ${type || 'event'} is not an Object Created event with a bucket and key`,
          bucket,
          key,
        },
      ],
    };
  }
  return {
    kind: 'records',
    skipped: [],
    created: [
      {
        eventName: 'ObjectCreated:EventBridge',
        object: {
          bucket,
          key,
          etag: typeof object.etag === 'string' ? object.etag : undefined,
          size: typeof object.size === 'number' ? object.size : undefined,
          versionId: typeof object['version-id'] === 'string' ? object['version-id'] : undefined,
        },
      },
    ],
  };
}
