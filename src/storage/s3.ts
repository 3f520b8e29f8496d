import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { awsHttpLimits } from '../core/aws.ts';
import {
  ObjectChangedError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
  type StorageOperation,
} from '../core/errors.ts';
import {
  type CopyOptions,
  copyThroughMemory,
  type GetOptions,
  type ObjectInfo,
  type PutOptions,
  type Storage,
  type StoredObject,
} from './types.ts';

/**
 * One bucket through the AWS SDK v3. The client is injected (tests point it at a local S3 server;
 * the Lambda handler shares one client across buckets). Failures become StorageError with
 * `retryable` set from the status and error name, after the SDK's own retries are spent.
 */
export class S3Storage implements Storage {
  readonly client: S3Client;
  readonly bucket: string;
  readonly location: string;

  constructor(client: S3Client, bucket: string) {
    this.client = client;
    this.bucket = bucket;
    this.location = `s3://${bucket}`;
  }

  locate(key: string): string {
    return `${this.location}/${key}`;
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject> {
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: options.versionId }),
      );
    } catch (error) {
      throw classifyS3Error(error, 'get', this.locate(key));
    }
    const body = response.Body as Readable | undefined;
    const declared = Number(response.ContentLength ?? Number.NaN);
    const { maxBytes } = options;
    try {
      if (maxBytes !== undefined && declared > maxBytes) {
        throw new ObjectTooLargeError(this.locate(key), declared, maxBytes, unquote(response.ETag));
      }
      const bytes = await readCapped(body, declared, maxBytes, this.locate(key), unquote(response.ETag));
      return {
        key,
        size: bytes.length,
        etag: unquote(response.ETag),
        contentType: response.ContentType,
        cacheControl: response.CacheControl,
        ...(response.Metadata ? { metadata: response.Metadata } : {}),
        ...(response.VersionId && response.VersionId !== 'null' ? { versionId: response.VersionId } : {}),
        body: bytes,
      };
    } catch (error) {
      body?.destroy();
      throw error instanceof StorageError ? error : classifyS3Error(error, 'get', this.locate(key));
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: response.ContentLength ?? 0,
        etag: unquote(response.ETag),
        contentType: response.ContentType,
        cacheControl: response.CacheControl,
        ...(response.Metadata ? { metadata: response.Metadata } : {}),
      };
    } catch (error) {
      const failure = classifyS3Error(error, 'head', this.locate(key));
      if (failure instanceof ObjectNotFoundError) return undefined;
      throw failure;
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions): Promise<ObjectInfo> {
    try {
      const response = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: options.contentType,
          CacheControl: options.cacheControl,
          Metadata: options.metadata,
        }),
      );
      return {
        key,
        size: body.length,
        etag: unquote(response.ETag),
        contentType: options.contentType,
        cacheControl: options.cacheControl,
        ...(options.metadata ? { metadata: options.metadata } : {}),
      };
    } catch (error) {
      throw classifyS3Error(error, 'put', this.locate(key));
    }
  }

  async copyFrom(source: Storage, sourceKey: string, key: string, options: CopyOptions = {}): Promise<void> {
    if (!(source instanceof S3Storage)) {
      return copyThroughMemory(source, sourceKey, this, key, options);
    }
    try {
      // Server-side copy: works for objects we refused to download (too large) and keeps the bytes exact.
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: `${source.bucket}/${encodeURIComponent(sourceKey).replaceAll('%2F', '/')}${
            options.versionId === undefined ? '' : `?versionId=${encodeURIComponent(options.versionId)}`
          }`,
          MetadataDirective: 'COPY',
          ...(options.ifMatch === undefined ? {} : { CopySourceIfMatch: `"${options.ifMatch}"` }),
        }),
      );
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (
        options.ifMatch !== undefined &&
        (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412)
      )
        throw new ObjectChangedError('copy', source.locate(sourceKey), options.ifMatch, { cause: error });
      // NoSuchKey is about the object copied (a missing bucket is NoSuchBucket): the source.
      if (e.name === 'NoSuchKey')
        throw new ObjectNotFoundError('copy', source.locate(sourceKey), { cause: error });
      throw classifyS3Error(error, 'copy', this.locate(key));
    }
  }

  async delete(key: string): Promise<void> {
    try {
      // S3 answers 204 whether or not the key existed; in a versioned bucket this adds a delete marker.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      const failure = classifyS3Error(error, 'delete', this.locate(key));
      if (failure instanceof ObjectNotFoundError) return;
      throw failure;
    }
  }

  async *list(prefix = '', startAfter?: string): AsyncIterable<ObjectInfo> {
    const after = Buffer.from(startAfter ?? '');
    try {
      for await (const page of paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.bucket, Prefix: prefix, StartAfter: startAfter || undefined },
      )) {
        for (const object of page.Contents ?? []) {
          // S3 honours StartAfter; some S3-compatible servers ignore it. Compared as S3 orders keys,
          // by UTF-8 bytes (a string comparison puts U+1F600 before U+FF01).
          if (startAfter && Buffer.compare(Buffer.from(object.Key!), after) <= 0) continue;
          yield { key: object.Key!, size: object.Size ?? 0, etag: unquote(object.ETag) };
        }
      }
    } catch (error) {
      throw classifyS3Error(error, 'list', `${this.location}/${prefix}`);
    }
  }
}

/**
 * Reads a response body into one buffer, refusing to go past maxBytes even when the length header
 * is missing or wrong. With a known length the buffer is allocated once and filled in place.
 */
async function readCapped(
  body: Readable | undefined,
  declared: number,
  maxBytes: number | undefined,
  location: string,
  etag: string,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const limit = maxBytes ?? Number.POSITIVE_INFINITY;
  if (Number.isSafeInteger(declared) && declared >= 0) {
    const out = new Uint8Array(declared);
    let filled = 0;
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      if (filled + chunk.length > declared) {
        throw new StorageError(
          'get',
          location,
          `The body of ${location} is longer than its Content-Length (${declared})`,
          {
            retryable: true,
          },
        );
      }
      out.set(chunk, filled);
      filled += chunk.length;
    }
    if (filled !== declared) {
      throw new StorageError(
        'get',
        location,
        `The body of ${location} ended after ${filled} of ${declared} bytes`,
        {
          retryable: true,
        },
      );
    }
    return out;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) throw new ObjectTooLargeError(location, total, limit, etag);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'ThrottlingException',
  'Throttling',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'ServiceUnavailable',
  'AbortError',
]);
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);

/** Maps an SDK error to a StorageError: missing objects, then what is worth retrying, then the rest. */
export function classifyS3Error(error: unknown, operation: StorageOperation, location: string): StorageError {
  if (error instanceof StorageError) return error;
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'NoSuchKey' || e.name === 'NotFound' || (status === 404 && e.name !== 'NoSuchBucket')) {
    return new ObjectNotFoundError(operation, location, { cause: error });
  }
  const retryable =
    (status !== undefined && (status >= 500 || status === 429)) ||
    RETRYABLE_NAMES.has(e.name ?? '') ||
    RETRYABLE_CODES.has(e.code ?? '') ||
    e.$retryable !== undefined;
  const detail = [e.name, status && `HTTP ${status}`].filter(Boolean).join(', ');
  return new StorageError(
    operation,
    location,
    `S3 ${operation} of ${location} failed (${detail}): ${e.message ?? String(error)}`,
    {
      retryable,
      cause: error,
    },
  );
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replaceAll('"', '');
}

export interface S3ClientOptions {
  /** e.g. http://127.0.0.1:4568 for a local S3 server; AWS_ENDPOINT_URL_S3 is read by the SDK itself. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  credentials?: S3ClientConfig['credentials'];
  /** How long a connection may stay silent, mid-request or mid-body, before the attempt fails (30 s). */
  idleTimeoutMs?: number;
}

/**
 * The client the handler uses. Timeouts are set (core/aws.ts) so a stuck connection fails (and
 * Lambda retries the event) instead of running into the function timeout; the SDK retries
 * transient errors itself (standard mode, AWS_MAX_ATTEMPTS, default 3 attempts). Without the idle
 * limit a connection that stopped mid-body hung the invocation for good (found by the fault test).
 *
 * A GET does not ask for the object's checksum (responseChecksumValidation WHEN_REQUIRED; the SDK's
 * default asks on every GET): S3 keeps a CRC64NVME of every object and sends it when asked, and the
 * SDK then computes CRC64NVME over the whole body in JavaScript, about 50 ms of CPU for a 16 MB
 * source here (twice that the first time), on every read of a source. TLS guards the bytes in
 * transit, and a source is decoded and checked anyway. What is written still carries its CRC32
 * (computed natively), which S3 checks before storing it.
 */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  return new S3Client({
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: options.credentials,
    requestHandler: awsHttpLimits(options.idleTimeoutMs),
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
