import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { TRANSFORM_ENV } from '../config/settings.ts';
import { loadTransformConfig } from '../config/transform.ts';
import type { Env, PipelineConfig, TransformConfig } from '../core/config.ts';
import {
  ConfigError,
  describeError,
  InvalidImageError,
  type InvalidReason,
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
} from '../core/errors.ts';
import { FORMAT_META, INPUT_FORMATS } from '../core/formats.ts';
import { isPlainObject } from '../core/json.ts';
import {
  BucketLayout,
  S3_MAX_KEY_BYTES,
  SOURCE_ETAG_METADATA,
  TransformLayout,
  type TransformSpec,
} from '../core/layout.ts';
import { msSince } from '../core/timing.ts';
import { Deadline } from '../pipeline/deadline.ts';
import { inThreadEncoder, processImage } from '../pipeline/process-image.ts';
import { readManifest, readQuarantineRecord } from '../pipeline/records.ts';
import { S3Storage } from '../storage/s3.ts';
import type { ObjectInfo, Storage } from '../storage/types.ts';
import { type PresignedDownload, S3UrlSigner, type UrlSigner } from './api-signer.ts';
import { ApiError, type ApiResponse, type ErrorDetails, errorResponse, json } from './http.ts';
import { type LambdaHandler, lambdaHandler, parameterProvider } from './lambda.ts';
import type { HandlerDeps } from './objects.ts';
import {
  checkResultKey,
  keyFromPath,
  parseQuery,
  parseRequest,
  resultSpec,
  SIGNING_KEY_MIN_LENGTH,
  type TransformRequest,
  verifySignature,
} from './transform-request.ts';

/**
 * `index.transform`: on-demand transformations, `GET /t/<source key>?w=&h=&fit=&fmt=&q=&dpr=&exp=&sig=`,
 * behind a Lambda function URL (payload format 2.0) and CloudFront.
 *
 *   parse and check the query (400) -> verify the signature (403)
 *   -> at once: HEAD the source (404, 413) and GET the stored result (its key is the request's)
 *   -> stored and made from the source's current ETag: served (or 304) without decoding
 *   -> else: the same processImage as the S3 path (limits and memory budget before decoding,
 *      413/415), one variant in one format -> stored under TransformLayout's key, with the source
 *      ETag it was made from -> served
 *
 * A result too large for a buffered Lambda response (6 MB, base64) is answered 302 to the stored
 * object: through the CDN when IMGPIPE_TRANSFORM_CDN_URL is set (its URL, or `/` for the host the
 * request came to), else a presigned GET.
 */

/** Lambda's buffered response limit, 6 MB of JSON, less room for the headers and the envelope. */
const RESPONSE_LIMIT = 6 * 1024 * 1024 - 16 * 1024;
/** The largest body that fits base64-encoded. */
export const MAX_BUFFERED_BYTES = Math.floor(RESPONSE_LIMIT / 4) * 3;
const YEAR = 31_536_000;
/**
 * A stored result's own Cache-Control: it is fetched directly only through a redirect, whose URL
 * carries the result's ETag (`v`), so that URL always names these bytes.
 */
const STORED_CACHE_CONTROL = `public, max-age=${YEAR}, immutable`;

export interface TransformHandlerOptions {
  /** Where the settings come from (default: the process environment). */
  readonly env?: Env;
  /** The signing keys, newest first, instead of reading IMGPIPE_TRANSFORM_KEYS_PARAMETER. */
  readonly keys?: readonly string[];
  readonly ssm?: SSMClient;
  /** Presigns the redirect to a large result; by default with the output storage's S3 client. */
  readonly signer?: UrlSigner;
  readonly now?: () => Date;
  /** Called once per request with what happened (imgpipe dev prints it). */
  readonly onRequest?: (entry: TransformLogEntry) => void;
}

export interface TransformLogEntry {
  readonly path: string;
  readonly status: number;
  readonly cache?: 'hit' | 'miss';
  readonly key?: string;
  readonly bytes?: number;
  readonly redirect?: boolean;
  /** Decodes so far in this container (TransformStats). */
  readonly decodes: number;
}

/** What a container has done: a hit decodes nothing, so `decodes` counts the misses that ran. */
export interface TransformStats {
  requests: number;
  hits: number;
  /** Sources decoded (a source refused from its header is not). */
  decodes: number;
}

export type TransformHandler = LambdaHandler<ApiResponse> & { readonly stats: Readonly<TransformStats> };

interface Transform {
  readonly config: TransformConfig;
  readonly source: Storage;
  readonly layout: TransformLayout;
  /** The pipeline's keys: a source's manifest, and its quarantine reason record. */
  readonly bucketLayout: BucketLayout;
  readonly keys: () => Promise<readonly string[]>;
  readonly signer?: UrlSigner;
}

export function createTransformHandler(
  deps: HandlerDeps,
  options: TransformHandlerOptions = {},
): TransformHandler {
  const { logger, metrics } = deps;
  const env = options.env ?? process.env;
  const now = options.now ?? (() => new Date());
  const pipeline = deps.config.pipeline;
  const stats: TransformStats = { requests: 0, hits: 0, decodes: 0 };
  let running = 0;

  // As index.api: required only in the function whose command is index.transform.
  let transform: Transform | ConfigError;
  try {
    transform = setUp(deps, env, options);
  } catch (error) {
    if (!(error instanceof ConfigError) || env._HANDLER?.endsWith('.transform')) throw error;
    transform = error;
  }

  const handler = lambdaHandler(deps, async (event: unknown, context?: Context) => {
    const started = performance.now();
    // When Lambda stops this invocation: a transformation must be over, and answered, before then.
    const remainingMs = context?.getRemainingTimeInMillis?.();
    const endsAt = remainingMs === undefined ? undefined : started + remainingMs;
    stats.requests++;
    const requestId = context?.awsRequestId ?? randomUUID();
    const log: { cache?: 'hit' | 'miss'; key?: string; bytes?: number; redirect?: boolean } = {};
    let response: ApiResponse;
    try {
      if (transform instanceof ConfigError) throw transform;
      if (!isUrlEvent(event))
        throw new ApiError('bad-request', 'Expected a Lambda function URL event (payload format 2.0)');
      response = await serve(transform, event, log, endsAt);
    } catch (error) {
      response = failure(error, requestId);
    }
    const status = response.statusCode ?? 200;
    metrics.addMetric('TransformRequests', MetricUnit.Count, 1);
    if (log.cache === 'hit') metrics.addMetric('TransformCacheHits', MetricUnit.Count, 1);
    if (status >= 500) metrics.addMetric('TransformServerErrors', MetricUnit.Count, 1);
    // The signature is left out: whoever reads the logs would otherwise hold a working URL (one
    // with wm=0 too) until it expires.
    const path = isUrlEvent(event)
      ? `${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString.replace(/(^|&)sig=[^&]*/g, '$1sig=-')}` : ''}`
      : '';
    logger.info('Transform', { path, status, ...log, requestId, durationMs: msSince(started) });
    options.onRequest?.({ path, status, ...log, decodes: stats.decodes });
    return response;
  });
  return Object.assign(handler, { stats });

  function failure(error: unknown, requestId: string): ApiResponse {
    if (error instanceof ApiError) return errorResponse(error);
    if (error instanceof InvalidImageError) return errorResponse(sourceError(error));
    if (error instanceof StorageError && isThrottling(error))
      return errorResponse(
        new ApiError('unavailable', 'Storage is busy; try again in a moment', {
          headers: { 'retry-after': '1' },
        }),
      );
    // S3 failing for a passing reason past the SDK's retries (500 InternalError, a reset or refused
    // connection, a timeout): the request is fine and would succeed again, not a fault of ours.
    if (error instanceof StorageError && error.retryable) {
      logger.warn('Transform failed for a passing reason', { requestId, error: describeError(error) });
      return errorResponse(
        new ApiError('unavailable', 'Storage did not answer; try again in a moment', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    logger.error('Transform failed', {
      requestId,
      error: error instanceof Error ? error : new Error(describeError(error)),
    });
    return json(500, {
      error: { code: 'internal', message: `Internal error (request id ${requestId})`, requestId },
    });
  }

  async function serve(
    t: Transform,
    event: LambdaFunctionURLEvent,
    log: { cache?: 'hit' | 'miss'; key?: string; bytes?: number; redirect?: boolean },
    endsAt: number | undefined,
  ): Promise<ApiResponse> {
    const method = event.requestContext.http.method;
    if (method !== 'GET' && method !== 'HEAD')
      throw new ApiError('method-not-allowed', `Only GET and HEAD are served, not ${method}`, {
        field: 'method',
        details: { value: method, accepted: ['GET', 'HEAD'] },
        headers: { allow: 'GET, HEAD' },
      });
    const key = keyFromPath(event.rawPath);
    const query = parseQuery(event.rawQueryString ?? '', t.config.signing);
    const keys = t.config.signing ? await t.keys() : undefined;
    if (keys) verifySignature(key, query, keys, now());
    let request = parseRequest(key, query, header(event, 'accept'), t.config, pipeline.formatOptions);
    // Where the watermark would not be drawn anyway, wm=0 asks for the image wm=1 gives: one result.
    request = { ...request, spec: resultSpec(request.spec, pipeline) };

    // One round trip on a hit: the key is known from the request, so the stored result is read
    // while the source's HEAD is in flight. The result is fresh only if it was made from the
    // source's current version (the ETag recorded in its metadata). Signed, the result's name is
    // keyed with the newest signing key: the distribution serves stored results without a
    // signature (a large one is redirected there), so their keys must not follow from public values.
    const resultKey = t.layout.key(key, request.spec, pipeline.hash, keys?.[0]);
    checkResultKey(key, resultKey);
    if (t.config.checkedOnly) checkManifestKey(key, t.bucketLayout.manifestKey(key));
    log.key = resultKey;
    const [source, found, manifest] = await Promise.all([
      t.source.head(key),
      readResult(resultKey, method),
      t.config.checkedOnly ? readManifest(deps.output, t.bucketLayout.manifestKey(key)) : undefined,
    ]);
    if (source === undefined) throw new ApiError('not-found', `No image ${key}`);
    if (t.config.checkedOnly && manifest?.source.etag !== source.etag)
      await refuseUnchecked(t, key, source.etag);
    const maxBytes = pipeline.limits.maxBytes;
    if (source.size > maxBytes) throw sourceTooLarge(source.size, maxBytes);
    const headers = responseHeaders(t, request);

    // A miss answers with the bytes it just made; a hit with the bytes it read.
    let stored: ObjectInfo;
    let bytes: Uint8Array | undefined;
    if (found && found.info.metadata?.[SOURCE_ETAG_METADATA] === source.etag) {
      log.cache = 'hit';
      stats.hits++;
      ({ info: stored, bytes } = found);
    } else {
      log.cache = 'miss';
      ({ info: stored, bytes } = await produce(t, request, resultKey, endsAt, source.etag));
    }
    log.bytes = stored.size;

    const etag = `"${stored.etag}"`;
    const notModified = matches(header(event, 'if-none-match'), etag);
    if (stored.size > MAX_BUFFERED_BYTES) {
      log.redirect = true;
      // A 304 refreshes the cached response it validates with its own headers, so it carries the
      // redirect's Cache-Control, not the image's (a year, immutable, when signed).
      if (t.config.cdnUrl !== undefined) {
        // Through the CDN, as long as an unsigned response (results may expire, see the module
        // README). The Location names these bytes (v): a cached redirect found unchanged is right.
        const redirect = {
          ...headers,
          etag,
          'cache-control': `public, max-age=${Math.min(t.config.maxAgeSeconds, maxAge(request))}`,
        };
        if (notModified) return { statusCode: 304, headers: redirect };
        return {
          statusCode: 302,
          headers: { ...redirect, location: await resultUrl(t, stored, method, request) },
        };
      }
      // A presigned URL expires: the redirect may be cached only a little less long than it lives,
      // and carries no ETag, so that a cached one is never revalidated (304) into a new lifetime
      // for its URL, which expires regardless; each request gets a new URL. Nor is it kept longer
      // than the response through the CDN would be: past a signed URL's exp, or max-age.
      const { url: location, expiresSeconds } = await presignedResultUrl(t, stored, method, request);
      const lifetime = Math.min(Math.max(0, expiresSeconds - 60), t.config.maxAgeSeconds, maxAge(request));
      const cacheControl = `private, max-age=${lifetime}`;
      return { statusCode: 302, headers: { ...headers, location, 'cache-control': cacheControl } };
    }
    headers.etag = etag;
    if (notModified) return { statusCode: 304, headers };
    const body = method === 'HEAD' ? undefined : bytes;
    return {
      statusCode: 200,
      headers: {
        ...headers,
        'content-type': FORMAT_META[request.spec.format].mimeType,
        'content-length': String(stored.size),
      },
      ...(body ? { body: Buffer.from(body).toString('base64'), isBase64Encoded: true } : {}),
    };
  }

  /**
   * IMGPIPE_TRANSFORM_CHECKED_ONLY (the workflow mode): the source stays in its bucket whatever the
   * malware scan and moderation found, and an upload is there before they have run, so only a
   * version the pipeline processed (its manifest names this ETag) is transformed. Refused: 403,
   * with the quarantine's reason when the pipeline recorded one for this version.
   */
  async function refuseUnchecked(t: Transform, key: string, etag: string): Promise<never> {
    // A record key longer than S3 stores is one the pipeline never wrote (checkKeyLengths), and
    // one S3 answers 400 (KeyTooLongError) for: not asked.
    const reasonKey = t.bucketLayout.quarantineKeys(key).reason;
    const record =
      Buffer.byteLength(reasonKey) > S3_MAX_KEY_BYTES
        ? undefined
        : await readQuarantineRecord(deps.quarantine, reasonKey);
    const why =
      record && record.source.key === key && record.source.etag === etag
        ? `was quarantined (${record.reason}) at ${record.quarantinedAt}`
        : 'has not been through the pipeline (no manifest names it): its checks have not passed, or not yet';
    throw new ApiError('forbidden', `The source ${key} (ETag ${etag}) ${why}: it is not transformed`, {
      field: 'key',
    });
  }

  /**
   * A miss: the source read within the byte limit and through processImage, as in the S3 path. The
   * result records the ETag of the version read (if the source was replaced since the HEAD, the
   * newer one: the result is then fresh for it). With IMGPIPE_TRANSFORM_CHECKED_ONLY, a version
   * read that is not the one checked (`checkedEtag`, replaced between the HEAD and the GET) is
   * checked again before it is decoded: its manifest must name it, else it is refused as any
   * unchecked version is. As there, the time budget is maxSecondsPerImage
   * cut to the invocation's remaining time less a reserve (pipeline/deadline.ts): past the
   * function's timeout (30 s by default, maxSecondsPerImage 60) Lambda would stop it, CloudFront
   * answer 502 and the next request find a fresh container, where a source too slow to transform
   * is a 413 (too-slow) naming both limits.
   */
  async function produce(
    t: Transform,
    request: TransformRequest,
    resultKey: string,
    endsAt: number | undefined,
    checkedEtag: string,
  ): Promise<{ info: ObjectInfo; bytes: Uint8Array }> {
    if (running >= t.config.concurrency)
      throw new ApiError('unavailable', `Busy with ${running} transformation(s); try again in a moment`, {
        headers: { 'retry-after': '1' },
      });
    running++;
    const deadline = new Deadline({
      maxSeconds: pipeline.limits.maxSecondsPerImage,
      invocationEndsAt: endsAt,
    });
    try {
      let object: Awaited<ReturnType<Storage['get']>>;
      try {
        object = await t.source.get(request.key, { maxBytes: pipeline.limits.maxBytes });
      } catch (error) {
        if (error instanceof ObjectNotFoundError) throw new ApiError('not-found', `No image ${request.key}`);
        if (error instanceof ObjectTooLargeError) throw sourceTooLarge(error.size, error.maxBytes);
        throw error;
      }
      if (t.config.checkedOnly && object.etag !== checkedEtag) {
        const manifest = await readManifest(deps.output, t.bucketLayout.manifestKey(request.key));
        if (manifest?.source.etag !== object.etag) await refuseUnchecked(t, request.key, object.etag);
      }
      const image = await processImage(
        object.body,
        oneVariant(pipeline, request.spec),
        deps.encoder ?? inThreadEncoder,
        deadline,
      );
      const output = image.outputs[0]!;
      const stored = await deps.output.put(resultKey, output.bytes, {
        contentType: FORMAT_META[output.format].mimeType,
        cacheControl: STORED_CACHE_CONTROL,
        metadata: { [SOURCE_ETAG_METADATA]: object.etag },
      });
      return { info: stored, bytes: output.bytes };
    } finally {
      // The deadline follows the pipeline's stages: past the probe, the source was decoded.
      if (deadline.stage !== 'probe') stats.decodes++;
      deadline.dispose();
      running--;
    }
  }

  /**
   * The stored result, if any: for a GET its bytes too when it fits a buffered response (a larger
   * one, rare, is looked up again with a HEAD: it is redirected to, not read; one that the HEAD
   * finds small enough after all, replaced in between, is none).
   */
  async function readResult(
    key: string,
    method: string,
  ): Promise<{ info: ObjectInfo; bytes?: Uint8Array } | undefined> {
    if (method === 'HEAD') {
      const info = await deps.output.head(key);
      return info && { info };
    }
    try {
      const { body, ...info } = await deps.output.get(key, { maxBytes: MAX_BUFFERED_BYTES });
      return { info, bytes: body };
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      if (!(error instanceof ObjectTooLargeError)) throw error;
      const info = await deps.output.head(key);
      // Made again since the GET (its source replaced), now small enough to answer with: its bytes
      // were not read, so it is a miss (answered 200 with no body, it was cached so).
      return info && info.size > MAX_BUFFERED_BYTES ? { info } : undefined;
    }
  }

  /** Seconds a response may be cached: a signed URL's until its expiry (a year at most). */
  function maxAge(request: TransformRequest): number {
    return request.expires === undefined
      ? YEAR
      : Math.min(YEAR, Math.max(0, Math.floor(request.expires - now().getTime() / 1000)));
  }

  function responseHeaders(t: Transform, request: TransformRequest): Record<string, string> {
    // Signed: long and immutable, but never past the URL's own expiry.
    const cacheControl = t.config.signing
      ? `public, max-age=${maxAge(request)}, immutable`
      : `public, max-age=${t.config.maxAgeSeconds}`;
    return { 'cache-control': cacheControl, ...(request.auto ? { vary: 'Accept' } : {}) };
  }

  /**
   * Where a large result is fetched from: through the CDN (IMGPIPE_TRANSFORM_CDN_URL: its URL, or
   * `/` for a path on the host the request came to), with the result's ETag as `v` so a result made
   * again from a replaced source is a new URL to the CDN's cache; else a presigned GET, or HEAD for
   * a HEAD request (a client following the redirect repeats its method, and S3 refuses a HEAD sent to
   * a GET's presigned URL: 403).
   */
  function resultUrl(
    t: Transform,
    stored: ObjectInfo,
    method: string,
    request: TransformRequest,
  ): Promise<string> {
    if (t.config.cdnUrl !== undefined) {
      const path = stored.key.split('/').map(encodeURIComponent).join('/');
      return Promise.resolve(`${t.config.cdnUrl}/${path}?v=${encodeURIComponent(stored.etag)}`);
    }
    return presignedResultUrl(t, stored, method, request).then(({ url }) => url);
  }

  /**
   * The presigned URL, and how long it works: IMGPIPE_TRANSFORM_REDIRECT_EXPIRES_SECONDS, or less
   * when the function's credentials expire first (the URL stops working with them), or when the
   * signed URL it answers expires first (a presigned URL worked up to 300 s past a signed URL's exp).
   */
  async function presignedResultUrl(
    t: Transform,
    stored: ObjectInfo,
    method: string,
    request: TransformRequest,
  ): Promise<PresignedDownload> {
    if (!t.signer)
      throw new ConfigError(
        TRANSFORM_ENV.cdnUrl,
        undefined,
        `A result over ${MAX_BUFFERED_BYTES} bytes needs ${TRANSFORM_ENV.cdnUrl} or S3 storage to presign`,
      );
    // verifySignature refused an exp that has passed; S3 takes an expiry of 1 second at least.
    const expires =
      t.config.signing && request.expires !== undefined
        ? Math.max(1, Math.min(t.config.redirectExpiresSeconds, maxAge(request)))
        : t.config.redirectExpiresSeconds;
    const args = [deps.config.outputBucket, stored.key, expires, method === 'HEAD' ? 'HEAD' : 'GET'] as const;
    if (t.signer.presignDownload) return t.signer.presignDownload(...args);
    return { url: await t.signer.download(...args), expiresSeconds: expires };
  }
}

function setUp(deps: HandlerDeps, env: Env, options: TransformHandlerOptions): Transform {
  const config = loadTransformConfig(env);
  const keysParameter = config.keysParameter;
  if (config.signing && !options.keys && !keysParameter)
    throw new ConfigError(
      TRANSFORM_ENV.keysParameter,
      undefined,
      `Signing is required (${TRANSFORM_ENV.signing}): set ${TRANSFORM_ENV.keysParameter} to the SecureString parameter holding the keys, or ${TRANSFORM_ENV.signing}=off`,
    );
  const output = deps.output;
  const signer = options.signer ?? (output instanceof S3Storage ? new S3UrlSigner(output.client) : undefined);
  return {
    config,
    source: deps.sourceStorage(config.sourceBucket),
    layout: new TransformLayout(config.prefix),
    bucketLayout: new BucketLayout(deps.config.pipeline, deps.config.quarantinePrefix),
    keys: options.keys ? async () => options.keys! : parameterKeys(keysParameter ?? '', options.ssm),
    ...(signer ? { signer } : {}),
  };
}

/**
 * The value terraform/modules/transform gave the keys' parameter when it still created it (public: it
 * was in the module's source); a deployment made then whose keys were never set still holds it. Never
 * a key: such a deployment answers 500 (and its 5xx alarm fires) rather than accept URLs signed with it.
 */
export const SIGNING_KEYS_PLACEHOLDER = 'unset: set the signing keys outside Terraform';

/**
 * How long a container keeps the signing keys it read (Powertools Parameters' maxAge): a rotation
 * (a new first line) or a revoked key (a line taken out) holds in every container within this, with
 * no redeployment. A key read once and kept for the container's life went on verifying URLs signed
 * with a key taken out of the parameter, and warm containers refused URLs signed with the new one.
 */
export const SIGNING_KEYS_MAX_AGE_SECONDS = 300;

/**
 * The signing keys from a SecureString parameter, one a line (the newest first; two while rotating),
 * read through Powertools Parameters and cached SIGNING_KEYS_MAX_AGE_SECONDS. Refused (a
 * ConfigError, answered 500, read again by the next request): no parameter (Terraform does not create
 * it), no key, a key under 32 characters or with whitespace in it, or the placeholder the module used
 * to create it with.
 */
export function parameterKeys(name: string, ssm?: SSMClient): () => Promise<readonly string[]> {
  const provider = parameterProvider(ssm);
  // A value refused is read again (past Powertools' cache) by the next request.
  let refused = false;
  return async () => {
    const refuse = (problem: string) => {
      refused = true;
      return new ConfigError(
        TRANSFORM_ENV.keysParameter,
        name,
        `The parameter ${name} ${problem}: it must hold one or two signing keys of at least 32 characters without whitespace, one a line (aws ssm put-parameter --name ${name} --type SecureString --overwrite --value "$(openssl rand -base64 48)")`,
      );
    };
    let value: unknown;
    try {
      value = await provider.get(name, {
        decrypt: true,
        maxAge: SIGNING_KEYS_MAX_AGE_SECONDS,
        forceFetch: refused,
      });
    } catch (error) {
      // Terraform no longer creates it (modules/transform): until the operator does, it is missing.
      const cause = error instanceof Error ? error.cause : undefined;
      if (cause instanceof Error && cause.name === 'ParameterNotFound')
        throw refuse('does not exist: the signing keys were never set');
      // Parameter Store's GetParameter rate is shared by the account: many containers starting at
      // once (a burst of traffic) can be refused it. Busy, as a throttled S3 is (503, Retry-After,
      // not kept by CloudFront), not a 500 the next request does not repeat: it reads again.
      if (isThrottled(cause))
        throw new ApiError(
          'unavailable',
          `Parameter Store is busy (${cause instanceof Error ? cause.name : 'throttled'}) reading the signing keys; try again in a moment`,
          { headers: { 'retry-after': '1' } },
        );
      throw error;
    }
    const text = typeof value === 'string' ? value : '';
    if (text.trim() === SIGNING_KEYS_PLACEHOLDER)
      throw refuse(
        `still holds the placeholder ${JSON.stringify(SIGNING_KEYS_PLACEHOLDER)}: the signing keys were never set`,
      );
    const lines = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter(Boolean);
    if (lines.length === 0) throw refuse('holds no key');
    for (const [index, line] of lines.entries()) {
      if (line.length < SIGNING_KEY_MIN_LENGTH)
        throw refuse(`has a key of ${line.length} characters on line ${index + 1}`);
      if (/\s/.test(line)) throw refuse(`has whitespace within the key on line ${index + 1}`);
    }
    refused = false;
    return lines;
  };
}

/**
 * The pipeline document with one variant, in one format, at the request's quality: what a miss
 * gives processImage (exported for the bench's codecs-alone row, bench/suites/transform.ts).
 */
export function oneVariant(pipeline: PipelineConfig, spec: TransformSpec): PipelineConfig {
  const { format, quality } = spec;
  const formatOptions =
    format === 'png'
      ? pipeline.formatOptions
      : { ...pipeline.formatOptions, [format]: { ...pipeline.formatOptions[format], quality } };
  // wm=0 (a signed URL): the result without the watermark.
  const { watermark, ...rest } = pipeline;
  return {
    ...rest,
    ...(watermark && spec.watermark !== false && { watermark }),
    variants: [
      {
        name: 't',
        // parseRequest gives a request without a box maxSize on both sides.
        width: spec.width,
        height: spec.height,
        fit: spec.fit,
        upscale: false,
        formats: [format],
      },
    ] as PipelineConfig['variants'],
    formats: [format],
    formatOptions,
  };
}

const LIMIT_REASONS: ReadonlySet<InvalidReason> = new Set([
  'too-large',
  'too-many-pixels',
  'over-memory-budget',
  'too-many-scans',
  'too-slow',
]);

/**
 * IMGPIPE_TRANSFORM_CHECKED_ONLY: a source whose manifest's key is longer than S3 stores has no
 * manifest (the pipeline refuses to process it, checkKeyLengths), and S3 answers a request for that
 * key 400 (KeyTooLongError), which was a 500: refused before any storage call, 400 (field key)
 * naming the lengths.
 */
function checkManifestKey(key: string, manifestKey: string): void {
  const bytes = Buffer.byteLength(manifestKey);
  if (bytes <= S3_MAX_KEY_BYTES) return;
  const keyBytes = Buffer.byteLength(key);
  throw new ApiError(
    'bad-request',
    `The source key is ${keyBytes} bytes: its manifest's key would be ${bytes} bytes, more than the ${S3_MAX_KEY_BYTES} S3 stores, so the pipeline cannot have processed it (a source key of at most ${S3_MAX_KEY_BYTES - (bytes - keyBytes)} bytes can be)`,
    { field: 'key' },
  );
}

/** The source over maxBytes (its HEAD, or its GET): 413 with its size and the limit in bytes. */
function sourceTooLarge(size: number, maxBytes: number): ApiError {
  return new ApiError('too-large', `The source is ${size} bytes, more than maxBytes (${maxBytes})`, {
    field: 'key',
    details: { value: size, limit: maxBytes, unit: 'bytes' },
  });
}

/**
 * A source the pipeline refuses: 413 over a limit, 415 when it cannot be read as an image; with
 * what a client reads beside the message (http.ts ErrorDetails) where the refusal has it: over
 * maxBytes or maxPixels the value, limit and unit; a format not taken the one found and the
 * accepted ones.
 */
function sourceError(error: InvalidImageError): ApiError {
  const d = error.details;
  const details: ErrorDetails | undefined =
    error.reason === 'too-large' && typeof d.bytes === 'number' && typeof d.maxBytes === 'number'
      ? { value: d.bytes, limit: d.maxBytes, unit: 'bytes' }
      : error.reason === 'too-many-pixels' && typeof d.pixels === 'number' && typeof d.maxPixels === 'number'
        ? { value: d.pixels, limit: d.maxPixels, unit: 'pixels' }
        : error.reason === 'unsupported-format' && typeof d.detected === 'string'
          ? { value: d.detected, accepted: INPUT_FORMATS }
          : undefined;
  return new ApiError(
    LIMIT_REASONS.has(error.reason) ? 'too-large' : 'unsupported-media-type',
    `The source cannot be transformed (${error.reason}): ${error.message}`,
    { field: 'key', cause: error, ...(details && { details }) },
  );
}

function isUrlEvent(event: unknown): event is LambdaFunctionURLEvent {
  return (
    isPlainObject(event) &&
    event.version === '2.0' &&
    typeof event.rawPath === 'string' &&
    isPlainObject(event.requestContext) &&
    isPlainObject(event.requestContext.http)
  );
}

function header(event: LambdaFunctionURLEvent, name: string): string | undefined {
  return event.headers?.[name];
}

/** If-None-Match: `*`, or a list of (weak or strong) tags. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function isThrottling(error: StorageError): boolean {
  return isThrottled(error.cause, error.message);
}

/** An AWS SDK error refusing a request for its rate (S3's SlowDown, SSM's ThrottlingException, 429, 503). */
function isThrottled(error: unknown, message = ''): boolean {
  const cause = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return (
    cause?.$metadata?.httpStatusCode === 429 ||
    cause?.$metadata?.httpStatusCode === 503 ||
    /SlowDown|Throttl|TooManyRequests/.test(`${cause?.name ?? ''} ${message}`)
  );
}
