import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { isPlainObject } from '../core/json.ts';

/**
 * The HTTP side of the API function: API Gateway HTTP API events (payload format 2.0) in, JSON
 * responses out, and the one error shape, `{ "error": { "code", "message", "field"? } }`.
 *
 * Routing is API Gateway's: it matches each request to one of ROUTES, puts the matched route in
 * `routeKey` and the decoded `{key+}` in `pathParameters`, and the function dispatches on
 * `routeKey` alone. The path is never parsed again here: an HTTP API delivers `rawPath`
 * percent-decoded, so a router that rebuilt a URL from it (Powertools' event-handler does) would
 * misread keys holding `%`, `#` or `?`. `imgpipe dev` matches the same table when it plays API
 * Gateway locally, and Terraform declares the same routes (a test holds the three together).
 */
export type ApiEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type ApiResponse = APIGatewayProxyStructuredResultV2;

export const ROUTES = [
  'POST /uploads',
  'GET /images',
  'GET /images/{key+}',
  'DELETE /images/{key+}',
] as const;
export type RouteKey = (typeof ROUTES)[number];

/** The error codes a response can carry, with their HTTP status. */
export const ERROR_STATUS = {
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  'too-large': 413,
  'unsupported-media-type': 415,
  throttled: 429,
  internal: 500,
  unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * What a client may read of a refusal beside its message, which is for people and may be worded
 * otherwise: each present only where the refusal has it.
 */
export interface ErrorDetails {
  /** The value refused (a number in `unit`, or the string received; the upload API's cut by `echoed`). */
  readonly value?: unknown;
  /** The largest value accepted (`too-large`), in `unit`. */
  readonly limit?: number;
  /** The unit of `value` and `limit` (`bytes`, `pixels`). */
  readonly unit?: string;
  /**
   * The values accepted (`unsupported-media-type`: the content types; a transformation's parameter:
   * its names, formats, fits, ratios or sizes).
   */
  readonly accepted?: readonly (string | number)[];
}

/**
 * An answer other than success: the status comes from the code; `field` names the bad input, and
 * `details` what a client reads of it rather than the message (the limit, the accepted types).
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly details?: ErrorDetails;
  readonly headers?: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      field?: string;
      details?: ErrorDetails;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    if (options.field !== undefined) this.field = options.field;
    if (options.details !== undefined) this.details = options.details;
    if (options.headers !== undefined) this.headers = options.headers;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/**
 * The longest string an error echoes of the request (a field's name, a value in `details`): a body
 * may hold megabytes (API Gateway takes 10), and an answer over Lambda's 6 MB is API Gateway's 500.
 */
export const MAX_ECHOED = 200;

/** `text` as an error shows it: cut at MAX_ECHOED characters, with `…`. */
export function echoed(text: string): string {
  return text.length > MAX_ECHOED ? `${text.slice(0, MAX_ECHOED)}…` : text;
}

export function json(
  statusCode: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): ApiResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

export function errorResponse(error: ApiError): ApiResponse {
  const { code, message, field, details } = error;
  return json(
    error.status,
    { error: { code, message, ...(field === undefined ? {} : { field }), ...details } },
    error.headers,
  );
}

export function isApiEvent(event: unknown): event is ApiEvent {
  return (
    isPlainObject(event) &&
    event.version === '2.0' &&
    typeof event.routeKey === 'string' &&
    isPlainObject(event.requestContext)
  );
}

/** The request body as JSON (decoded from base64 when API Gateway encoded it). */
export function jsonBody(event: ApiEvent): unknown {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/json\b/i.test(contentType)) {
    throw new ApiError(
      'unsupported-media-type',
      `Send the request body as application/json (received ${contentType ? JSON.stringify(contentType) : 'no Content-Type'})`,
      {
        field: 'Content-Type',
        details: { ...(contentType ? { value: contentType } : {}), accepted: ['application/json'] },
      },
    );
  }
  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
    : (event.body ?? '');
  try {
    return JSON.parse(text);
  } catch (error) {
    // Named as every other 400 is: the field (`body`) and the value (its start, when long).
    const shown = text.length > 100 ? `${text.slice(0, 100)}…` : text;
    throw new ApiError(
      'bad-request',
      `The request body is not JSON (received ${JSON.stringify(shown)}): ${(error as Error).message}`,
      { field: 'body', cause: error },
    );
  }
}

/** A request header (API Gateway lower-cases their names in payload 2.0). */
export function header(event: ApiEvent, name: string): string | undefined {
  return event.headers?.[name.toLowerCase()];
}

/** The public URL of a path of this API, as the client called it (stage included). */
export function apiUrl(event: ApiEvent, path: string): string {
  const { domainName, stage } = event.requestContext;
  const proto = header(event, 'x-forwarded-proto') ?? 'https';
  const base = stage && stage !== '$default' ? `/${stage}` : '';
  return `${proto}://${domainName}${base}${path}`;
}

/** A key as a path: each segment percent-encoded, the slashes kept. */
export function keyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** Who is calling, from the claims API Gateway's JWT authorizer verified. */
export interface Principal {
  /** The token's `sub`: owner of the uploads it makes. */
  readonly owner: string;
  /** In the admin group (`cognito:groups`, or a single-valued `groups`), or holding the admin scope (`scope` or `scp`). */
  readonly admin: boolean;
}

export interface PrincipalRules {
  readonly adminGroup: string;
  readonly adminScope: string;
  /** Without claims, act as the owner `anonymous` instead of refusing (deployed without auth). */
  readonly anonymous: boolean;
}

export const ANONYMOUS_OWNER = 'anonymous';

export function principalOf(event: ApiEvent, rules: PrincipalRules): Principal {
  const jwt = event.requestContext.authorizer?.jwt;
  const claims = jwt?.claims;
  const sub = claims?.sub;
  if (typeof sub !== 'string' || sub === '') {
    if (rules.anonymous && jwt === undefined) return { owner: ANONYMOUS_OWNER, admin: false };
    throw new ApiError('unauthorized', 'A valid bearer token with a sub claim is required', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
  // Scopes are in `scope` (space-separated, OAuth's) or `scp` (an array: Okta, Entra ID), as API
  // Gateway reads them for a route's authorization scopes.
  const scopes = [...words(claims?.scope), ...words(claims?.scp), ...(jwt?.scopes ?? [])];
  return {
    owner: sub,
    admin:
      words(claims?.['cognito:groups']).includes(rules.adminGroup) ||
      onlyGroup(claims?.groups) === rules.adminGroup ||
      scopes.includes(rules.adminScope),
  };
}

/**
 * The one group a `groups` claim names, if it names one: a string, or a list of one, which API
 * Gateway passes flattened as `[admin]` (an issuer such as Okta or Keycloak lists groups even when
 * there is one). A flattened list of several cannot be told from one group with spaces: undefined.
 */
function onlyGroup(claim: unknown): string | undefined {
  if (Array.isArray(claim)) return claim.length === 1 ? String(claim[0]) : undefined;
  if (typeof claim !== 'string') return undefined;
  const listed = /^\[([^\s[\]]+)\]$/.exec(claim);
  return listed ? listed[1] : claim;
}

/**
 * A claim whose values cannot hold whitespace, as a list: `scope` is space-separated, and an
 * array claim such as `cognito:groups` arrives from API Gateway flattened as `[admin editors]`.
 * Only whitespace separates (Cognito group names may hold commas). Other issuers' group names may
 * hold spaces, so a flattened `groups` claim cannot be split safely (`[Marketing admin]` is one
 * group or two): `groups` counts only when it is a single value equal to the admin group.
 */
function words(claim: unknown): string[] {
  if (Array.isArray(claim)) return claim.map(String);
  if (typeof claim !== 'string') return [];
  return claim
    .replace(/^\[|\]$/g, '')
    .split(/\s+/)
    .filter(Boolean);
}
