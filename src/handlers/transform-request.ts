import { createHmac, timingSafeEqual } from 'node:crypto';
import { TRANSFORM_SETTINGS } from '../config/settings.ts';
import type { FormatOptions, PipelineConfig, TransformConfig } from '../core/config.ts';
import { describeValue } from '../core/errors.ts';
import { OUTPUT_FORMATS, type OutputFormat, resolveOutputFormat } from '../core/formats.ts';
import { dotSegment, S3_MAX_KEY_BYTES, TransformLayout, type TransformSpec } from '../core/layout.ts';
import { ApiError, type ErrorDetails, keyPath } from './http.ts';

/**
 * The request of an on-demand transformation, `GET /t/<source key>?w=&h=&fit=&fmt=&q=&dpr=&exp=&sig=`:
 * parsed, checked against the cost guards (TransformConfig), normalised; and the URL signature.
 *
 *   w, h   width and height of the box in CSS pixels: from the configured list, else multiples of the step
 *   fit    inside (default), cover (crop to fill) or contain (pad); with one side given, inside
 *   fmt    jpeg (jpg), webp, avif, png, or auto (default): AVIF, then WebP, as Accept allows, else JPEG, else PNG
 *   q      quality, within the configured range (default: the pipeline document's, per format)
 *   dpr    device pixel ratio, one of DPRS: the box in device pixels is w x dpr by h x dpr
 *   wm     1 (default): the document's watermark, if any; 0: none, accepted only on a signed URL
 *   exp    expiry of a signed URL, Unix seconds
 *   sig    the signature: HMAC-SHA256, base64url, over the canonical request (canonicalRequest)
 *
 * Every problem is a 400 naming the parameter, the value and what is allowed.
 */
export const TRANSFORM_PATH = '/t/';
export const TRANSFORM_PARAMS = ['w', 'h', 'fit', 'fmt', 'q', 'dpr', 'wm', 'exp', 'sig'] as const;
export const DPRS = [1, 1.5, 2, 2.5, 3] as const;
const FITS = ['inside', 'cover', 'contain'] as const;
/**
 * fmt=auto picks the first of these that is allowed and that the client accepts: JPEG and PNG
 * whatever it says (every client decodes them; the configuration allows at least one).
 */
const AUTO_ORDER: readonly OutputFormat[] = ['avif', 'webp', 'jpeg', 'png'];
const UNIVERSAL: readonly OutputFormat[] = ['jpeg', 'png'];

export interface TransformRequest {
  /** The source key, decoded. */
  readonly key: string;
  /** The query as sent, one value per name (duplicates refused). */
  readonly query: Readonly<Record<string, string>>;
  readonly spec: TransformSpec;
  /** fmt=auto: the response varies with Accept. */
  readonly auto: boolean;
  /** Expiry (Unix seconds) of a signed URL. */
  readonly expires?: number;
}

/** The source key from the path as sent (percent-encoded, as a Lambda function URL passes rawPath). */
export function keyFromPath(rawPath: string): string {
  if (!rawPath.startsWith(TRANSFORM_PATH))
    throw new ApiError(
      'not-found',
      `No such path ${rawPath}: transformations are under ${TRANSFORM_PATH}<key>`,
    );
  const encoded = rawPath.slice(TRANSFORM_PATH.length);
  let key: string;
  try {
    key = encoded.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new ApiError('bad-request', `The path ${describeValue(rawPath)} is not valid percent-encoding`, {
      field: 'key',
    });
  }
  // The length named: a key of 1,025 bytes or more is not echoed whole (describeValue cuts it).
  const bytes = Buffer.byteLength(key);
  if (bytes === 0 || bytes > S3_MAX_KEY_BYTES)
    throw new ApiError(
      'bad-request',
      `Expected a source key of 1 to ${S3_MAX_KEY_BYTES} bytes after ${TRANSFORM_PATH}, not ${bytes} bytes`,
      { field: 'key', details: { value: bytes, limit: S3_MAX_KEY_BYTES, unit: 'bytes' } },
    );
  checkSourceKey(key);
  return key;
}

/**
 * A key with a `.` or `..` segment (`a/../b.jpg`) cannot be served: browsers and CloudFront resolve
 * dot segments, also percent-encoded ones (`%2e%2e`), before the request reaches the function, so
 * the path it sees is not the one signed. Refused when signing and when serving (400, field key).
 */
export function checkSourceKey(key: string): void {
  const dots = dotSegment(key);
  if (dots !== undefined)
    throw new ApiError(
      'bad-request',
      `The source key ${JSON.stringify(key)} has a ${JSON.stringify(dots)} segment: browsers and CloudFront resolve such segments (also %2e%2e), so no URL can name it`,
      { field: 'key' },
    );
}

/**
 * A result is stored under its request's key (TransformLayout): one longer than S3 stores is a 400
 * (field key) naming the lengths and the longest source key whose results fit. The function checks
 * every request so; `imgpipe sign` checks the URLs it signs (checkSignedResultKeys).
 */
export function checkResultKey(key: string, resultKey: string): void {
  const bytes = Buffer.byteLength(resultKey);
  if (bytes <= S3_MAX_KEY_BYTES) return;
  const keyBytes = Buffer.byteLength(key);
  throw new ApiError(
    'bad-request',
    `The source key is ${keyBytes} bytes: its results' keys would be ${bytes} bytes, more than the ${S3_MAX_KEY_BYTES} S3 stores (a source key of at most ${S3_MAX_KEY_BYTES - (bytes - keyBytes)} bytes has results here)`,
    { field: 'key' },
  );
}

/**
 * The query as sent: each name once; unknown names refused. Names are taken as written (the
 * distribution's policies keep these nine by name, so `%77` is not `w` there), and checked first,
 * every part, before any value: the first unknown one in sorted order is the one named, which the
 * CloudFront Function (accept.js, unknownName), given the parameters by name and not in order,
 * answers the same. With signing off (`signing` false), exp and sig are not read whatever they
 * hold, as the distribution drops both before the function (terraform/modules/transform,
 * cache_key_parameters): `exp=1&exp=2` was a 400 from imgpipe dev and the image deployed.
 */
export function parseQuery(rawQuery: string, signing = true): Record<string, string> {
  const query: Record<string, string> = {};
  if (rawQuery === '') return query;
  const parts = rawQuery.split('&').filter((part) => part !== '');
  const nameOf = (part: string) => (part.includes('=') ? part.slice(0, part.indexOf('=')) : part);
  const unknown = parts
    .map(nameOf)
    .filter((name) => !(TRANSFORM_PARAMS as readonly string[]).includes(name))
    .sort();
  if (unknown.length > 0) throw unknownParameter(unknown[0]!);
  for (const part of parts) {
    const name = nameOf(part);
    if (!signing && (name === 'exp' || name === 'sig')) continue;
    let value: string;
    try {
      value =
        part.length === name.length
          ? ''
          : decodeURIComponent(part.slice(name.length + 1).replaceAll('+', ' '));
    } catch {
      throw new ApiError(
        'bad-request',
        `The query part ${describeValue(part)} is not valid percent-encoding`,
        { field: 'query', details: { value: part } },
      );
    }
    if (Object.hasOwn(query, name))
      throw new ApiError('bad-request', `The parameter ${name} is given more than once`, { field: name });
    query[name] = value;
  }
  return query;
}

/** accept.js answers it too, in the same words (test/unit/handlers/cloudfront-accept.test.ts). */
function unknownParameter(name: string): ApiError {
  return new ApiError(
    'bad-request',
    `Unknown parameter ${describeValue(name)}: expected only ${TRANSFORM_PARAMS.join(', ')} (names as written, not percent-encoded)`,
    { field: name, details: { value: name, accepted: TRANSFORM_PARAMS } },
  );
}

export function parseRequest(
  key: string,
  query: Readonly<Record<string, string>>,
  accept: string | undefined,
  config: TransformConfig,
  defaults: FormatOptions,
  /** The signature was verified (signing on): only then may `wm=0` leave the watermark off. */
  signed = config.signing,
): TransformRequest {
  const dpr = query.dpr === undefined ? 1 : dprOf(query.dpr);
  let width = query.w === undefined ? undefined : sizeOf('w', query.w, dpr, config);
  let height = query.h === undefined ? undefined : sizeOf('h', query.h, dpr, config);
  // A side not given is maxSize, and the fit inside whatever `fit` says: no side of a result passes
  // maxSize (w=640 of a very tall photo is at most maxSize high), and with no side at all it is
  // the image as it is. The box is in the spec, hence the result's key: after a change of maxSize,
  // such a request gets a new result.
  const partial = width === undefined || height === undefined;
  width ??= config.maxSize;
  height ??= config.maxSize;
  let fit: TransformSpec['fit'] = 'inside';
  if (query.fit !== undefined) {
    if (!(FITS as readonly string[]).includes(query.fit))
      throw bad('fit', `one of ${FITS.join(', ')}`, query.fit, { accepted: FITS });
    fit = query.fit as TransformSpec['fit'];
  }
  // cover and contain need a box: with one side or none they are inside (one key for all three).
  if (partial) fit = 'inside';
  const fmt = (query.fmt ?? 'auto').toLowerCase();
  const auto = fmt === 'auto';
  let format: OutputFormat | undefined;
  if (auto) format = negotiate(accept, config.formats);
  else {
    format = resolveOutputFormat(fmt);
    if (!format || !config.formats.includes(format)) {
      const accepted = [...config.formats, 'auto'];
      throw bad('fmt', `one of ${accepted.join(', ')}`, query.fmt, { accepted });
    }
  }
  let quality = format === 'png' ? 0 : defaults[format].quality;
  if (query.q !== undefined) {
    const q = /^\d{1,3}$/.test(query.q) ? Number(query.q) : Number.NaN;
    if (!(q >= config.qualityMin && q <= config.qualityMax))
      throw bad('q', `an integer from ${config.qualityMin} to ${config.qualityMax}`, query.q);
    // PNG is lossless: a quality does not change it, and must not split the cache.
    if (format !== 'png') quality = q;
  }
  // Signing off: no expiry (nor signature) is read, as CloudFront drops both before the function.
  const expires = query.exp === undefined || !config.signing ? undefined : expiryOf(query.exp);
  let watermark = true;
  if (query.wm !== undefined) {
    if (query.wm !== '0' && query.wm !== '1') throw bad('wm', '0 or 1', query.wm, { accepted: ['0', '1'] });
    watermark = query.wm === '1';
    // Anyone could take the watermark off an unsigned URL: only the URL's signer may.
    if (!watermark && !signed)
      throw new ApiError('forbidden', 'wm=0 (no watermark) is accepted only on signed URLs', { field: 'wm' });
  }
  const spec: TransformSpec = {
    ...(width === undefined ? {} : { width }),
    ...(height === undefined ? {} : { height }),
    fit,
    format,
    quality,
    ...(watermark ? {} : { watermark: false as const }),
  };
  return { key, query, spec, auto, ...(expires === undefined ? {} : { expires }) };
}

/**
 * `exp` in Unix seconds, at most 12 digits: anything else is a 400 naming it, signature valid or
 * not, where signing is on (a signed URL with an expiry in milliseconds was refused 403 "This URL
 * expired", which it was not).
 */
function expiryOf(value: string): number {
  if (!/^\d{1,12}$/.test(value))
    throw bad(
      'exp',
      `the expiry in Unix seconds (up to 12 digits${/^\d{13}$/.test(value) ? '; this looks like milliseconds' : ''})`,
      value,
    );
  return Number(value);
}

function dprOf(value: string): number {
  const dpr = /^\d(\.\d{1,2})?$/.test(value) ? Number(value) : Number.NaN;
  if (!(DPRS as readonly number[]).includes(dpr))
    throw bad('dpr', `one of ${DPRS.join(', ')}`, value, { accepted: DPRS });
  return dpr;
}

function sizeOf(name: 'w' | 'h', value: string, dpr: number, config: TransformConfig): number {
  // Any number of digits: 100000 is a whole number, over maxSize (it was refused as no whole number).
  const size = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (config.sizes.length > 0) {
    if (!config.sizes.includes(size))
      throw bad(name, `one of ${config.sizes.join(', ')}`, value, { accepted: config.sizes });
  } else if (!(size >= config.sizeStep && size % config.sizeStep === 0)) {
    throw bad(
      name,
      config.sizeStep === 1
        ? 'a whole number of pixels (1, 2, ...)'
        : `a multiple of ${config.sizeStep} (${config.sizeStep}, ${2 * config.sizeStep}, ...)`,
      value,
    );
  }
  const pixels = Math.round(size * dpr);
  if (pixels > config.maxSize) {
    const largest = largestSize(dpr, config);
    if (largest === undefined)
      throw new ApiError(
        'bad-request',
        `No ${name} is allowed at dpr ${dpr} (received ${describeValue(value)}): every allowed size is more than ${config.maxSize} device pixels at that ratio; use a lower dpr`,
        { field: name, details: { value: size, unit: 'pixels' } },
      );
    // In CSS pixels, as w and h are: the largest accepted at this dpr.
    throw bad(name, `at most ${largest} at dpr ${dpr} (${config.maxSize} device pixels)`, value, {
      value: size,
      limit: largest,
      unit: 'pixels',
    });
  }
  return pixels;
}

/**
 * The largest w or h allowed at `dpr` (from the list, or a multiple of the step), or undefined: the
 * one a refusal names, so that it is itself accepted (maxSize / dpr is often neither).
 */
function largestSize(dpr: number, config: TransformConfig): number | undefined {
  const fits = (size: number) => Math.round(size * dpr) <= config.maxSize;
  if (config.sizes.length > 0) {
    const fitting = config.sizes.filter(fits);
    return fitting.length > 0 ? Math.max(...fitting) : undefined;
  }
  let size = Math.floor(config.maxSize / dpr / config.sizeStep) * config.sizeStep;
  while (size > 0 && !fits(size)) size -= config.sizeStep;
  return size > 0 ? size : undefined;
}

/**
 * fmt=auto: AVIF, then WebP, from Accept (a browser's header, or the `avif`, `avif-only`, `webp` or
 * `other` our CloudFront Function reduces it to), then JPEG, then PNG; only among the allowed formats.
 */
export function negotiate(accept: string | undefined, allowed: readonly OutputFormat[]): OutputFormat {
  const accepted = new Set<string>();
  for (const part of (accept ?? '').toLowerCase().split(',')) {
    const [type, ...params] = part.split(';').map((p) => p.trim());
    // A type refused by any of its weights: a weight given twice is malformed, and the CloudFront
    // Function (accept.js) reads it so.
    if (params.some((p) => p.startsWith('q=') && !(Number(p.slice(2)) > 0))) continue;
    // The CloudFront Function's `avif` stands for both (every browser that decodes AVIF decodes
    // WebP), `avif-only` for AVIF without WebP.
    if (type === 'image/avif' || type === 'avif-only') accepted.add('avif');
    if (type === 'avif') accepted.add('avif').add('webp');
    if (type === 'image/webp' || type === 'webp') accepted.add('webp');
  }
  for (const format of AUTO_ORDER) {
    if (allowed.includes(format) && (UNIVERSAL.includes(format) || accepted.has(format))) return format;
  }
  // loadTransformConfig refuses such a list: nothing every client decodes.
  throw new Error(`fmt=auto needs jpeg or png among the allowed formats, not only ${allowed.join(', ')}`);
}

/**
 * A 400 naming the parameter (`field`), with `value` as received and what `details` adds (the
 * `accepted` values, or a size's `limit` and `unit`: http.ts ErrorDetails).
 */
function bad(field: string, expected: string, value: unknown, details: ErrorDetails = {}): ApiError {
  return new ApiError(
    'bad-request',
    `Expected ${expected} for ${field} but received ${describeValue(value)}`,
    {
      field,
      details: { value, ...details },
    },
  );
}

/**
 * What a signature covers: the path with the key percent-encoded segment by segment, and every
 * parameter but `sig`, sorted by name, each value percent-encoded. A URL signed by `signUrl` and
 * the same URL with its parameters reordered or re-encoded verify; any other change does not.
 */
export function canonicalRequest(key: string, query: Readonly<Record<string, string>>): string {
  const params = Object.keys(query)
    .filter((name) => name !== 'sig')
    .sort()
    .map((name) => `${name}=${encodeURIComponent(query[name]!)}`)
    .join('&');
  return `${TRANSFORM_PATH}${keyPath(key)}?${params}`;
}

export function signature(secret: string, key: string, query: Readonly<Record<string, string>>): string {
  return createHmac('sha256', secret).update(canonicalRequest(key, query)).digest('base64url');
}

/**
 * Checks `sig` against every key (two while a key is being rotated) in constant time, then `exp`.
 * Throws 403 saying which: missing, not matching, or expired; 400 (field exp) for an `exp` that is
 * not Unix seconds.
 */
export function verifySignature(
  key: string,
  query: Readonly<Record<string, string>>,
  secrets: readonly string[],
  now: Date,
): void {
  const given = query.sig;
  if (given === undefined || given === '')
    throw new ApiError('forbidden', 'This URL is not signed: it needs sig (imgpipe sign makes signed URLs)', {
      field: 'sig',
    });
  const received = Buffer.from(given, 'utf8');
  let valid = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signature(secret, key, query), 'utf8');
    // The length of a signature is public (43 characters); only equal lengths are compared.
    if (expected.length === received.length && timingSafeEqual(expected, received)) valid = true;
  }
  if (!valid) throw new ApiError('forbidden', 'The signature does not match this URL', { field: 'sig' });
  if (query.exp !== undefined) {
    const exp = expiryOf(query.exp);
    if (!(exp * 1000 > now.getTime()))
      throw new ApiError('forbidden', `This URL expired at ${new Date(exp * 1000).toISOString()}`, {
        field: 'exp',
      });
  }
}

/** The shortest signing key the function takes (terraform/modules/transform's parameter, one a line). */
export const SIGNING_KEY_MIN_LENGTH = 32;

/**
 * What keeps `secret` from being one signing key the function takes (at least
 * SIGNING_KEY_MIN_LENGTH characters, no whitespace), or undefined. A URL signed with anything
 * else, such as the parameter's two lines while rotating, is refused 403 by every deployment.
 */
export function signingKeyProblem(secret: string): string | undefined {
  const lines = secret.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length > 1) return `holds ${lines.length} lines (give one key, the parameter's first line)`;
  if (/\s/.test(secret)) return 'has whitespace within the key';
  if (secret.length < SIGNING_KEY_MIN_LENGTH) return `is ${secret.length} characters long`;
  return undefined;
}

export interface SignOptions {
  readonly w?: number;
  readonly h?: number;
  readonly fit?: string;
  readonly fmt?: string;
  readonly q?: number;
  readonly dpr?: number;
  /** 0: no watermark (signed URLs only). */
  readonly wm?: 0 | 1;
  /** Unix seconds. */
  readonly exp?: number;
}

/**
 * A signed URL: `<base>/t/<key>?<parameters>&sig=...`, parameters in canonical order. Throws the
 * ApiError (field key) of checkSourceKey for a key no URL can name.
 */
export function signUrl(base: string, key: string, options: SignOptions, secret: string): string {
  checkSourceKey(key);
  const query = signedQuery(options);
  const canonical = canonicalRequest(key, query);
  const sig = signature(secret, key, query);
  const params = canonical.slice(canonical.indexOf('?') + 1);
  return `${base.replace(/\/+$/, '')}${canonical.slice(0, canonical.indexOf('?'))}?${params ? `${params}&` : ''}sig=${sig}`;
}

function signedQuery(options: SignOptions): Record<string, string> {
  const query: Record<string, string> = {};
  for (const name of TRANSFORM_PARAMS) {
    const value = options[name as keyof SignOptions];
    if (value !== undefined) query[name] = String(value);
  }
  return query;
}

/**
 * The widest configuration a deployment can be given (config/settings.ts's bounds): every size of
 * at least 1 up to the largest maxSize, every quality, every format. What parseRequest refuses
 * with it, every deployment refuses.
 */
const ANY_DEPLOYMENT: TransformConfig = {
  sourceBucket: '',
  sizes: [],
  sizeStep: 1,
  maxSize: TRANSFORM_SETTINGS.maxSize.max,
  qualityMin: TRANSFORM_SETTINGS.qualityMin.min,
  qualityMax: TRANSFORM_SETTINGS.qualityMax.max,
  formats: OUTPUT_FORMATS,
  signing: true,
  prefix: '',
  redirectExpiresSeconds: 0,
  maxAgeSeconds: 0,
  concurrency: 1,
  checkedOnly: false,
};

/**
 * Throws the function's own ApiError (its field the parameter) for options no deployment takes,
 * whatever its sizes, qualities and formats: fit=weird, fmt=gif, q=1000, dpr=4, wm=5, w=0. `imgpipe
 * sign` refuses them rather than print a URL every deployment answers 400.
 */
export function checkSignOptions(key: string, options: SignOptions, defaults: FormatOptions): void {
  parseRequest(key, signedQuery(options), undefined, ANY_DEPLOYMENT, defaults, true);
}

/**
 * A deployment with the default settings (terraform/modules/transform's): its results' prefix and
 * largest side, which with the request give the length of a result's key.
 */
const DEFAULT_DEPLOYMENT: TransformConfig = {
  ...ANY_DEPLOYMENT,
  maxSize: TRANSFORM_SETTINGS.maxSize.default,
  prefix: TRANSFORM_SETTINGS.prefix.default,
};

/**
 * Throws checkResultKey's 400 for a signed request (options checkSignOptions takes) whose result
 * key a deployment with the default settings would find longer than S3 stores: the function
 * refuses such a URL whatever its signature. fmt=auto may pick any format, so each is checked.
 * `secret` is the newest signing key, which keys the result (its length, not its value, counts).
 */
export function checkSignedResultKeys(
  key: string,
  options: SignOptions,
  pipeline: Pick<PipelineConfig, 'formatOptions' | 'hash' | 'watermark'>,
  secret: string,
): void {
  const query = signedQuery(options);
  // A side over this deployment's largest is refused for its size (400) before its key is made:
  // the key's length is then that of a deployment whose largest side takes it.
  const fits = (side: number | undefined) =>
    side === undefined || Math.round(side * (options.dpr ?? 1)) <= DEFAULT_DEPLOYMENT.maxSize;
  const config =
    fits(options.w) && fits(options.h)
      ? DEFAULT_DEPLOYMENT
      : { ...DEFAULT_DEPLOYMENT, maxSize: ANY_DEPLOYMENT.maxSize };
  const layout = new TransformLayout(config.prefix);
  const formats =
    query.fmt === undefined || query.fmt.toLowerCase() === 'auto' ? config.formats : [query.fmt];
  const resultKeys = formats.map((fmt) => {
    const { spec } = parseRequest(key, { ...query, fmt }, undefined, config, pipeline.formatOptions, true);
    return layout.key(key, resultSpec(spec, pipeline), pipeline.hash, secret);
  });
  // The longest: the limit it names holds for every format.
  checkResultKey(
    key,
    resultKeys.reduce((a, b) => (Buffer.byteLength(b) > Buffer.byteLength(a) ? b : a)),
  );
}

/**
 * The spec a result is made and stored for: wm=0 asks for the image wm=1 gives, one result under
 * one key, where the pipeline document has no watermark, or where the result is certainly narrower
 * than the watermark's `minWidth` (its width is at most the requested one, in device pixels).
 */
export function resultSpec(spec: TransformSpec, pipeline: Pick<PipelineConfig, 'watermark'>): TransformSpec {
  if (spec.watermark !== false) return spec;
  const { watermark } = pipeline;
  if (watermark !== undefined && !(spec.width !== undefined && spec.width < watermark.minWidth)) return spec;
  const { watermark: _, ...rest } = spec;
  return rest;
}
