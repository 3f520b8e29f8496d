import { ObjectChangedError } from '../core/errors.ts';

/**
 * Where objects live. The pipeline talks to this interface only; `S3Storage` and `FsStorage`
 * implement it, and one contract test suite (test/contract/storage.contract.ts) runs against both.
 *
 * Keys are S3-style: `/`-separated, no leading slash. ETags are unquoted hex, as S3 event
 * notifications spell them (the S3 API quotes them; implementations strip the quotes).
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly contentType?: string;
  readonly cacheControl?: string;
  /**
   * User metadata (S3 `x-amz-meta-*`, names lower case), as written by `put`. S3Storage keeps it;
   * FsStorage keeps none and returns none.
   */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface StoredObject extends ObjectInfo {
  readonly body: Uint8Array;
  /** The version read, in a versioned bucket (S3 only). */
  readonly versionId?: string;
}

export interface GetOptions {
  /** Refuse (ObjectTooLargeError) an object larger than this, before reading past the limit. */
  readonly maxBytes?: number;
  /** Read this version of a versioned object (S3 only; ignored where there are no versions). */
  readonly versionId?: string;
}

export interface CopyOptions {
  /** Copy only the content with this ETag (as `ObjectInfo.etag`: no quotes). */
  readonly ifMatch?: string;
  /** Copy this version of a versioned source (S3 only; ignored where there are no versions). */
  readonly versionId?: string;
}

export interface PutOptions {
  readonly contentType: string;
  readonly cacheControl?: string;
  /** User metadata: lower-case names, ASCII values (S3's rules; FsStorage drops it). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface Storage {
  /** Where this storage points, for logs: `s3://bucket` or `file:///abs/dir`. */
  readonly location: string;
  /** Full location of one key, for logs and errors. */
  locate(key: string): string;
  /** Throws ObjectNotFoundError, ObjectTooLargeError, or StorageError (`retryable` set). */
  get(key: string, options?: GetOptions): Promise<StoredObject>;
  /** undefined when there is no such object. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Writes the whole object; readers never see a partial one. */
  put(key: string, body: Uint8Array, options: PutOptions): Promise<ObjectInfo>;
  /**
   * Copies `sourceKey` of `source` to `key` here, server-side where both are the same kind. With
   * `ifMatch`, only while the source's ETag is that one (S3's CopySourceIfMatch); otherwise
   * ObjectChangedError and nothing is written. No source: ObjectNotFoundError naming the source.
   */
  copyFrom(source: Storage, sourceKey: string, key: string, options?: CopyOptions): Promise<void>;
  /**
   * Removes the object. Deleting a key that does not exist succeeds (as S3's DeleteObject does),
   * so a retried or repeated delete is harmless.
   */
  delete(key: string): Promise<void>;
  /**
   * Every object whose key starts with `prefix` (and sorts after `startAfter`), in key order: the
   * order of the keys' UTF-8 bytes, as S3 lists them.
   */
  list(prefix?: string, startAfter?: string): AsyncIterable<ObjectInfo>;
}

export async function getJson<T>(storage: Storage, key: string, maxBytes = 1024 * 1024): Promise<T> {
  const object = await storage.get(key, { maxBytes });
  return JSON.parse(new TextDecoder().decode(object.body)) as T;
}

/** A storage per bucket (or folder) name, created on first use and reused after. */
export function perBucket<T extends Storage>(create: (bucket: string) => T): (bucket: string) => T {
  const made = new Map<string, T>();
  return (bucket) => {
    const storage = made.get(bucket) ?? create(bucket);
    made.set(bucket, storage);
    return storage;
  };
}

/**
 * A copy between storages of different kinds: read, check the ETag that was read (`ifMatch`), write
 * exactly those bytes.
 */
export async function copyThroughMemory(
  source: Storage,
  sourceKey: string,
  target: Storage,
  key: string,
  options: CopyOptions = {},
): Promise<void> {
  const object = await source.get(sourceKey, { versionId: options.versionId });
  if (options.ifMatch !== undefined && object.etag !== options.ifMatch)
    throw new ObjectChangedError('copy', source.locate(sourceKey), options.ifMatch);
  await target.put(key, object.body, { contentType: object.contentType ?? 'application/octet-stream' });
}
