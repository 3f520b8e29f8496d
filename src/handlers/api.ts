import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { loadApiConfig } from '../config/api.ts';
import { API_ENV, ENV } from '../config/settings.ts';
import type { ApiConfig, Env } from '../core/config.ts';
import { ConfigError, describeError, describeValue, StorageError } from '../core/errors.ts';
import { FORMAT_META, INPUT_FORMATS } from '../core/formats.ts';
import { isPlainObject } from '../core/json.ts';
import { BucketLayout, S3_MAX_KEY_BYTES, UploadLayout } from '../core/layout.ts';
import { isCalendarDay, msSince } from '../core/timing.ts';
import { type Manifest, readManifest } from '../pipeline/records.ts';
import { LISTED_STATUSES, type ListedStatus, type StatusItem, type StatusStore } from '../status/types.ts';
import { S3Storage } from '../storage/s3.ts';
import type { Storage } from '../storage/types.ts';
import { S3UrlSigner, type UrlSigner } from './api-signer.ts';
import {
  ApiError,
  type ApiEvent,
  type ApiResponse,
  apiUrl,
  echoed,
  errorResponse,
  isApiEvent,
  json,
  jsonBody,
  keyPath,
  type Principal,
  principalOf,
  type RouteKey,
} from './http.ts';
import { type LambdaHandler, lambdaHandler } from './lambda.ts';
import type { HandlerDeps } from './objects.ts';

/**
 * `index.api`: the HTTP API behind API Gateway (HTTP API, payload format 2.0).
 *
 *   POST   /uploads              {filename, contentType, size} -> 201 a presigned S3 POST for a key we choose
 *   GET    /images/{key}         the status of an upload; when processed, every output with a URL
 *   GET    /images?status=...    quarantined, failed or processing images, newest first, a page at a time
 *   DELETE /images/{key}         deletes the source; the ObjectRemoved event removes its outputs
 *
 * API Gateway verifies the JWT and throttles; the function reads the verified claims: `sub` owns
 * the uploads it makes (their keys name it, core/layout.ts), and only the owner, or an admin (group
 * or scope), may read or delete them. Errors are `{ "error": { "code", "message", "field" } }`, a
 * refusal a client acts on with what it reads instead of the message (http.ts ErrorDetails): a
 * too-large size with `value`, `limit` and `unit` (`bytes`), an unsupported type with `value` and
 * the `accepted` types; an unexpected one is logged with its stack and answered 500 with the
 * request id alone.
 */

/**
 * The content types an upload may declare: the formats the pipeline reads, and image/heif, which
 * browsers report for a .heif file (the HEIF container: its brands are sniffed as HEIC).
 */
export const UPLOAD_CONTENT_TYPES: readonly string[] = [
  ...INPUT_FORMATS.map((f) => FORMAT_META[f].mimeType),
  'image/heif',
];

/** Deleting an image mid-processing is refused (409) for this long after its last status write. */
export const PROCESSING_GRACE_MS = 15 * 60 * 1000;

const MAX_PAGE = 100;
const DEFAULT_PAGE = 50;
const MAX_FILE_NAME = 1024;

export interface ApiHandlerOptions {
  /** Where the API settings come from (default: the process environment). */
  readonly env?: Env;
  /** Presigns uploads and downloads; by default with the S3 client of the output storage. */
  readonly signer?: UrlSigner;
  readonly now?: () => Date;
}

interface Api {
  readonly config: ApiConfig;
  readonly status: StatusStore;
  readonly signer: UrlSigner;
  readonly source: Storage;
}

export function createApiHandler(
  deps: HandlerDeps,
  options: ApiHandlerOptions = {},
): LambdaHandler<ApiResponse> {
  const { logger } = deps;
  const env = options.env ?? process.env;
  const now = options.now ?? (() => new Date());
  const layout = new BucketLayout(deps.config.pipeline, deps.config.quarantinePrefix);
  const maxBytes = deps.config.pipeline.limits.maxBytes;

  // The image serves every entry point, so this one's settings are required only where it runs:
  // a function whose command is index.api fails its init on a bad setting, naming it; elsewhere
  // (the S3 handler's function) the API stays unconfigured and answers 500 if ever invoked.
  let api: Api | ConfigError;
  try {
    api = setUp(deps, env, options.signer);
  } catch (error) {
    if (!(error instanceof ConfigError) || env._HANDLER?.endsWith('.api')) throw error;
    api = error;
  }

  return lambdaHandler(deps, async (event: unknown, context?: Context) => {
    const started = performance.now();
    const requestId =
      context?.awsRequestId ??
      (isApiEvent(event) ? event.requestContext.requestId : undefined) ??
      randomUUID();
    let principal: Principal | undefined;
    let response: ApiResponse;
    try {
      if (api instanceof ConfigError) throw api;
      if (!isApiEvent(event))
        throw new ApiError('bad-request', 'Expected an API Gateway HTTP API event (payload format 2.0)');
      principal = principalOf(event, api.config);
      response = await route(api, event, principal);
    } catch (error) {
      response = failure(error, requestId);
    }
    deps.metrics.addMetric('ApiRequests', MetricUnit.Count, 1);
    if (response.statusCode !== undefined && response.statusCode >= 500)
      deps.metrics.addMetric('ApiServerErrors', MetricUnit.Count, 1);
    const apiEvent = isApiEvent(event) ? event : undefined;
    logger.info('Request', {
      route: apiEvent?.routeKey,
      key: apiEvent?.pathParameters?.key,
      status: response.statusCode,
      owner: principal?.owner,
      admin: principal?.admin,
      requestId,
      durationMs: msSince(started),
    });
    return response;
  });

  function failure(error: unknown, requestId: string): ApiResponse {
    if (error instanceof ApiError) return errorResponse(error);
    if (error instanceof StorageError && isThrottling(error)) {
      logger.warn('Request throttled by a dependency', { error: describeError(error), requestId });
      return errorResponse(
        new ApiError('throttled', 'Too many requests; try again in a moment', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    // S3 or DynamoDB failing for a passing reason past the SDK's retries (a 500, a reset or
    // refused connection, a timeout): the request is fine and would succeed again.
    if (error instanceof StorageError && error.retryable) {
      logger.warn('Request failed for a passing reason', { error: describeError(error), requestId });
      return errorResponse(
        new ApiError('unavailable', 'A dependency did not answer; try again in a moment', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    logger.error('Request failed', {
      requestId,
      error: error instanceof Error ? error : new Error(describeError(error)),
    });
    return json(500, {
      error: { code: 'internal', message: `Internal error (request id ${requestId})`, requestId },
    });
  }

  async function route(api: Api, event: ApiEvent, principal: Principal): Promise<ApiResponse> {
    switch (event.routeKey as RouteKey) {
      case 'POST /uploads':
        return createUpload(api, event, principal);
      case 'GET /images':
        return listImages(api, event, principal);
      case 'GET /images/{key+}':
        return getImage(api, event, principal);
      case 'DELETE /images/{key+}':
        return deleteImage(api, event, principal);
      default:
        throw new ApiError('not-found', `No route ${event.routeKey}`);
    }
  }

  async function createUpload(api: Api, event: ApiEvent, principal: Principal): Promise<ApiResponse> {
    const body = jsonBody(event);
    const example = '{"filename": "cat.jpg", "contentType": "image/jpeg", "size": 123456}';
    if (!isPlainObject(body)) throw badField('body', `a JSON object like ${example}`, body);
    for (const field of Object.keys(body)) {
      if (!['filename', 'contentType', 'size'].includes(field))
        throw badField(field, 'only filename, contentType and size', body[field]);
    }
    const { filename, contentType, size } = body;
    if (typeof filename !== 'string' || filename.trim() === '' || filename.length > MAX_FILE_NAME)
      throw badField('filename', `a file name of 1 to ${MAX_FILE_NAME} characters`, filename);
    if (typeof contentType !== 'string')
      throw badField('contentType', `one of ${UPLOAD_CONTENT_TYPES.join(', ')}`, contentType);
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    if (!UPLOAD_CONTENT_TYPES.includes(type)) {
      throw new ApiError(
        'unsupported-media-type',
        `Expected one of ${UPLOAD_CONTENT_TYPES.join(', ')} for contentType but received ${describeValue(contentType)}`,
        { field: 'contentType', details: { value: echoed(contentType), accepted: UPLOAD_CONTENT_TYPES } },
      );
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1)
      throw badField('size', 'the file size in bytes, an integer of at least 1', size);
    if (size > maxBytes) {
      throw new ApiError(
        'too-large',
        `Expected at most ${maxBytes} bytes for size but received ${size}: uploads are limited to ${maxBytes} bytes`,
        { field: 'size', details: { value: size, limit: maxBytes, unit: 'bytes' } },
      );
    }
    const key = new UploadLayout(api.config.uploadPrefix).key(principal.owner, randomUUID(), filename);
    const upload = await api.signer.upload({
      bucket: api.config.uploadBucket,
      key,
      contentType: type,
      size,
      expiresSeconds: api.config.uploadExpiresSeconds,
    });
    const statusUrl = apiUrl(event, `/images/${keyPath(key)}`);
    return json(201, { key, upload, statusUrl, maxBytes }, { location: statusUrl });
  }

  async function getImage(api: Api, event: ApiEvent, principal: Principal): Promise<ApiResponse> {
    const key = pathKey(event);
    authorize(api, principal, key, 'read');
    return getImageOnce(api, key, principal, await api.status.get(api.config.uploadBucket, key), true);
  }

  /** The answer for a status item; `first`: it may be read again once (a manifest gone meanwhile). */
  async function getImageOnce(
    api: Api,
    key: string,
    principal: Principal,
    item: StatusItem | undefined,
    first = false,
  ): Promise<ApiResponse> {
    if (item === undefined || item.status === 'deleted') {
      const object = await api.source.head(key);
      if (object === undefined) throw notFound(api, key, item);
      // Uploaded, and its event not handled yet (or the status table missed it).
      return json(200, { key, status: 'uploaded', size: object.size, etag: object.etag });
    }
    let manifest: Manifest | undefined;
    if (item.status === 'processed') {
      manifest = await readManifest(deps.output, layout.manifestKey(key));
      if (!manifest && first) {
        // The item said processed and its manifest is gone: a removal, or a newer version, caught
        // between the two reads, deletes or replaces the outputs. The item read again says so
        // (processing, deleted); answered as it was, a client saw a processed image of no outputs.
        const again = await api.status.get(api.config.uploadBucket, key);
        if (again?.status !== 'processed' || again.updatedAt !== item.updatedAt)
          return getImageOnce(api, key, principal, again);
      }
    }
    const body: Record<string, unknown> = describe(item, principal);
    if (item.status === 'processed') {
      if (!manifest) {
        // Still processed without a manifest: its outputs cannot be listed now. No `outputs` (not
        // an empty list: the image has variants), and why, for people; a client asks again.
        body.message =
          'Processed, but its outputs cannot be listed now: they are being replaced or removed. Ask again in a moment';
      } else {
        body.source = {
          format: manifest.source.format,
          width: manifest.source.displayWidth,
          height: manifest.source.displayHeight,
          bytes: manifest.source.size,
        };
        body.outputs = await Promise.all(
          manifest.outputs.map(async (output) => ({
            variant: output.variant,
            format: output.format,
            width: output.width,
            height: output.height,
            bytes: output.bytes,
            contentType: output.contentType,
            url: await outputUrl(api, output.key),
          })),
        );
      }
    }
    return json(200, body);
  }

  async function listImages(api: Api, event: ApiEvent, principal: Principal): Promise<ApiResponse> {
    const query = event.queryStringParameters ?? {};
    for (const name of Object.keys(query)) {
      if (!['status', 'since', 'limit', 'cursor'].includes(name))
        throw badField(name, 'only the parameters status, since, limit and cursor', query[name]);
    }
    const status = query.status;
    if (!(LISTED_STATUSES as readonly (string | undefined)[]).includes(status))
      throw badField('status', `one of ${LISTED_STATUSES.join(', ')}`, status);
    let since: Date | undefined;
    if (query.since !== undefined) {
      since = isoTime(query.since);
      if (since === undefined)
        throw badField('since', 'an ISO 8601 time such as 2026-12-01T00:00:00Z', query.since);
    }
    let limit = DEFAULT_PAGE;
    if (query.limit !== undefined) {
      limit = /^\d{1,3}$/.test(query.limit) ? Number(query.limit) : 0;
      if (limit < 1 || limit > MAX_PAGE)
        throw badField('limit', `an integer from 1 to ${MAX_PAGE}`, query.limit);
    }
    const page = await api.status
      .list({
        status: status as ListedStatus,
        ...(since ? { since } : {}),
        bucket: api.config.uploadBucket,
        ...(principal.admin
          ? {}
          : { keyPrefix: new UploadLayout(api.config.uploadPrefix).ownerPrefix(principal.owner) }),
        limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      })
      .catch((error: unknown) => {
        // The store refuses a cursor it did not write.
        if (error instanceof ConfigError && error.setting === 'cursor')
          throw new ApiError('bad-request', error.message, { field: 'cursor', cause: error });
        throw error;
      });
    const next = page.cursor
      ? apiUrl(event, `/images?${new URLSearchParams({ ...query, cursor: page.cursor })}`)
      : undefined;
    return json(200, {
      items: page.items.map((item) => describe(item, principal)),
      ...(page.cursor ? { cursor: page.cursor, next } : {}),
    });
  }

  async function deleteImage(api: Api, event: ApiEvent, principal: Principal): Promise<ApiResponse> {
    const key = pathKey(event);
    authorize(api, principal, key, 'delete');
    const object = await api.source.head(key);
    const item = await api.status.get(api.config.uploadBucket, key);
    if (object === undefined) throw notFound(api, key, item);
    if (
      item?.status === 'processing' &&
      now().getTime() - new Date(item.updatedAt).getTime() < PROCESSING_GRACE_MS
    ) {
      throw new ApiError(
        'conflict',
        `${key} is being processed (since ${item.updatedAt}); delete it once it has finished`,
        { headers: { 'retry-after': '10' } },
      );
    }
    await api.source.delete(key);
    // The processing function removes the outputs on the ObjectRemoved event only with
    // IMGPIPE_DELETE_OUTPUTS (terraform/modules/imgpipe delete_outputs), which the API is given too.
    const removesOutputs = deps.config.deleteOutputs;
    return json(202, {
      key,
      status: 'deleting',
      removesOutputs,
      message: removesOutputs
        ? 'The upload is deleted; its outputs and manifest are removed by the function shortly'
        : `The upload is deleted; its outputs stay published: this deployment keeps a deleted upload's outputs (${ENV.deleteOutputs}=false)`,
    });
  }

  function pathKey(event: ApiEvent): string {
    const key = event.pathParameters?.key;
    if (!key) throw badField('key', 'an image key in the path, /images/<key>', key);
    const bytes = Buffer.byteLength(key);
    if (bytes > S3_MAX_KEY_BYTES)
      throw badField(
        'key',
        `an image key of at most ${S3_MAX_KEY_BYTES} bytes in UTF-8 (this one has ${bytes})`,
        key,
      );
    return key;
  }

  /** Owners reach their own uploads; admins every key of the bucket. */
  function authorize(api: Api, principal: Principal, key: string, action: 'read' | 'delete'): void {
    if (principal.admin || new UploadLayout(api.config.uploadPrefix).owns(principal.owner, key)) return;
    throw new ApiError('forbidden', `You may not ${action} ${key}: it is not one of your uploads`);
  }

  function notFound(api: Api, key: string, item?: StatusItem): ApiError {
    return new ApiError(
      'not-found',
      item?.status === 'deleted'
        ? `${key} was deleted (${item.updatedAt})`
        : `No image ${key} in ${api.config.uploadBucket}`,
    );
  }

  function outputUrl(api: Api, key: string): Promise<string> {
    if (api.config.cdnUrl) return Promise.resolve(`${api.config.cdnUrl}/${keyPath(key)}`);
    return api.signer.download(deps.config.outputBucket, key, api.config.downloadExpiresSeconds);
  }
}

function setUp(deps: HandlerDeps, env: Env, signer?: UrlSigner): Api {
  const config = loadApiConfig(env);
  if (!deps.status) {
    throw new ConfigError(
      ENV.statusTable,
      env[ENV.statusTable],
      `The HTTP API reads the status table: set ${ENV.statusTable} (with ${API_ENV.uploadBucket})`,
    );
  }
  const output = deps.output;
  if (!signer && !(output instanceof S3Storage)) {
    throw new ConfigError(
      API_ENV.uploadBucket,
      config.uploadBucket,
      'The HTTP API needs S3 storage to presign requests',
    );
  }
  return {
    config,
    status: deps.status,
    signer: signer ?? new S3UrlSigner((output as S3Storage).client),
    source: deps.sourceStorage(config.uploadBucket),
  };
}

/**
 * What a failed image's owner is told instead of the error: a failure is the service's (an input
 * at fault is quarantined with its reason), and its error names internal resources (buckets, the
 * role's ARN and account in an AccessDenied, the function's paths), which only admins see.
 */
export const FAILED_MESSAGE =
  'Processing failed on the service side, not because of the file; an administrator can see why';

/** What the API shows of a status item: a failure's error to admins alone. */
function describe(item: StatusItem, principal: Principal): Record<string, unknown> {
  const { key, status, etag, size, format, width, height, outputs, reason, attempts } = item;
  const message = status === 'failed' && !principal.admin ? FAILED_MESSAGE : item.message;
  return {
    key,
    status,
    ...(etag === undefined ? {} : { etag }),
    ...(size === undefined ? {} : { size }),
    ...(format === undefined ? {} : { format, width, height }),
    ...(outputs === undefined ? {} : { outputCount: outputs }),
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
    attempts,
    firstSeenAt: item.firstSeenAt,
    updatedAt: item.updatedAt,
  };
}

const ISO_TIME =
  /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?(?:Z|[+-](\d\d):(\d\d))?)?$/;

/**
 * An ISO 8601 date or time (a time without an offset is UTC, as in Lambda), or undefined: the
 * whole value, a day the month has, hours, minutes and offsets in range. Date alone would take
 * `2026-11-31` for 1 December and `2026-12-01 junk` for 12 June.
 */
function isoTime(value: string): Date | undefined {
  const match = ISO_TIME.exec(value);
  if (!match) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] = match
    .slice(1)
    .map((part) => (part === undefined ? undefined : Number(part)));
  if (!isCalendarDay(year!, month!, day!)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const time = new Date(match[4] === undefined || /[Z+-]/.test(value.slice(10)) ? value : `${value}Z`);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/** A 400 naming the field (an unknown one's name cut as `echoed` cuts it) and the value. */
function badField(field: string, expected: string, value: unknown): ApiError {
  const name = echoed(field);
  return new ApiError(
    'bad-request',
    `Expected ${expected} for ${name} but received ${describeValue(value)}`,
    {
      field: name,
    },
  );
}

/** S3 SlowDown or DynamoDB throttling that outlasted the SDK's retries. */
function isThrottling(error: StorageError): boolean {
  const cause = error.cause as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return (
    cause?.$metadata?.httpStatusCode === 429 ||
    /SlowDown|Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|TooManyRequests/.test(
      `${cause?.name ?? ''} ${error.message}`,
    )
  );
}
