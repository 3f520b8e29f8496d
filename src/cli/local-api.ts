import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import type { ApiEvent, ApiResponse } from '../handlers/http.ts';
import { ROUTES, type RouteKey } from '../handlers/http.ts';
import { keepIdleConnections } from './keep-alive.ts';
import type { LocalIssuer } from './local-oidc.ts';
import { localOrigins, localUrl } from './local-url.ts';

/**
 * API Gateway (HTTP API) on this machine, for `imgpipe dev`: each HTTP request becomes the payload
 * format 2.0 event API Gateway would send, for the same entry point the function runs, after what
 * API Gateway does before invoking it:
 *
 * - routing on the routes Terraform declares (handlers/http.ts ROUTES): `routeKey` and the decoded
 *   `{key+}` in `pathParameters`; `rawPath` percent-decoded, as an HTTP API delivers it;
 * - the JWT authorizer: the bearer token's signature (against the issuer's JWKS, fetched over HTTP
 *   from the discovery document's `jwks_uri`), issuer, audience, expiry and not-before, verified with
 *   aws-jwt-verify; the claims then reach the function as strings in
 *   `requestContext.authorizer.jwt.claims`, arrays flattened to `[a b]`;
 * - throttling: a token bucket (rate and burst) for each route, as API Gateway keeps one per route:
 *   the stage's default limits (default_route_settings) hold each route on its own, not the routes
 *   together, and a route `routeThrottle` names has its limits instead, as route-level settings
 *   override the stage's;
 * - its own answers, with its own bodies: 401 `{"message":"Unauthorized"}` with a WWW-Authenticate
 *   header saying why, 429 `{"message":"Too Many Requests"}`, 404 `{"message":"Not Found"}` for no
 *   route, 413 over 10 MB, 500 `{"message":"Internal Server Error"}` when the function throws or
 *   answers more than Lambda returns (6 MB);
 * - CORS for other origins (`cors`, the module's cors_allowed_origins): it answers their preflights
 *   and adds the headers to every answer of the API's routes (API_CORS, as the module configures
 *   it); without any, a preflight has no route (404), as an API without a CORS configuration.
 *
 * Beside the API it serves the local issuer's endpoints under /oidc/ and the web page's files.
 */
export interface LocalApiHandlers {
  readonly handler: (event: ApiEvent, context: Context) => Promise<ApiResponse>;
  readonly issuer: LocalIssuer;
  /** Static files by path (`/`, `/app.js`, ...). */
  readonly files: ReadonlyMap<string, { readonly type: string; readonly body: Uint8Array | string }>;
  /** Requests per second and burst of each route, as API Gateway's stage (default route) throttling. */
  readonly throttle: Throttle;
  /** Routes with limits of their own (the module's route_throttling): these replace the stage's. */
  readonly routeThrottle?: Readonly<Partial<Record<RouteKey, Throttle>>>;
  /**
   * `index.transform` behind a Lambda function URL, on `/t/`: no authorizer, no throttling; the
   * event is the function URL's (rawPath as sent), and a response over Lambda's 6 MB limit is
   * answered 502 as a function URL answers it.
   */
  readonly transform?: (event: LambdaFunctionURLEvent, context: Context) => Promise<ApiResponse>;
  /**
   * Origins other than the page's that may call the API from a browser (`*`: any), as the api
   * module's cors_allowed_origins: a front end in development on its own origin.
   */
  readonly cors?: readonly string[];
}

export interface Throttle {
  readonly rate: number;
  readonly burst: number;
}

/** The api module's default route_throttling (terraform/modules/api/main.tf): uploads 10/s, burst 20. */
export const UPLOAD_THROTTLE: Throttle = { rate: 10, burst: 20 };

/** The api module's cors_configuration (terraform/modules/api/apigateway.tf), which dev plays. */
export const API_CORS = {
  methods: ['GET', 'POST', 'DELETE'],
  headers: ['authorization', 'content-type'],
  exposeHeaders: ['location', 'retry-after'],
  maxAgeSeconds: 600,
} as const;

export interface LocalApi {
  readonly url: string;
  /** Every origin a browser may reach it at (localOrigins): the page's, for sign-in and uploads. */
  readonly origins: readonly string[];
  readonly port: number;
  /** Starts answering with these (requests before it get 503). */
  serve(handlers: LocalApiHandlers): void;
  close(): Promise<void>;
}

/** API Gateway's payload limit. */
const MAX_BODY = 10 * 1024 * 1024;
/** Lambda's limit on a buffered response (the JSON the function returns). */
const MAX_LAMBDA_RESPONSE = 6 * 1024 * 1024;
const TEXT_TYPES = /^(text\/|application\/(json|x-www-form-urlencoded|xml|javascript))/i;

interface CompiledRoute {
  readonly routeKey: RouteKey;
  readonly method: string;
  readonly pattern: RegExp;
  readonly params: readonly string[];
}

const COMPILED: readonly CompiledRoute[] = ROUTES.map((routeKey) => {
  const [method, path] = routeKey.split(' ') as [string, string];
  const params: string[] = [];
  const pattern = path
    .split('/')
    .map((segment) => {
      const match = /^\{(\w+)(\+?)\}$/.exec(segment);
      if (!match) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(match[1]!);
      return match[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { routeKey, method, pattern: new RegExp(`^${pattern}$`, 's'), params };
});

export async function startLocalApi(options: { host: string; port: number }): Promise<LocalApi> {
  let handlers: LocalApiHandlers | undefined;
  let verifier: ReturnType<typeof makeVerifier> | undefined;
  /** Token buckets, one per route (with the stage's limits or its own), filled on first use. */
  let buckets = new Map<string, { tokens: number; at: number }>();

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { message: 'Internal Server Error' });
      else res.destroy(error as Error);
    });
  });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = localUrl(options.host, port);
  const origins = localOrigins(options.host, port);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!handlers || !verifier) return send(res, 503, { message: 'Service Unavailable' });
    const target = new URL(asSent(req.url ?? '/'), url);
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, { message: 'Request Entity Too Large' });
    if (target.pathname.startsWith('/oidc/'))
      return oidc(handlers.issuer, req, res, target, body, pageOrigin(req));
    if (handlers.transform && target.pathname.startsWith('/t/'))
      return functionUrl(handlers.transform, req, res, target, body, port);

    let path: string;
    try {
      path = decodeURIComponent(target.pathname);
    } catch {
      return send(res, 400, { message: 'Bad Request' });
    }
    const method = req.method ?? 'GET';
    const cors = corsHeaders(handlers.cors, req.headers.origin);
    if (method === 'OPTIONS' && handlers.cors?.length && COMPILED.some((r) => r.pattern.test(path)))
      return preflight(res, cors, req.headers['access-control-request-method']);
    const route = COMPILED.map((r) => ({ r, match: r.method === method ? r.pattern.exec(path) : null })).find(
      (m) => m.match,
    );
    if (!route) {
      const file = method === 'GET' || method === 'HEAD' ? handlers.files.get(target.pathname) : undefined;
      if (!file) return send(res, 404, { message: 'Not Found' });
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' });
      res.end(method === 'HEAD' ? undefined : file.body);
      return;
    }

    if (!takeToken(route.r.routeKey)) return send(res, 429, { message: 'Too Many Requests' }, cors);

    const authorization = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    if (!token) return unauthorized(res, undefined, cors);
    let claims: Record<string, unknown>;
    try {
      claims = (await verifier.verify(token)) as Record<string, unknown>;
    } catch (error) {
      return unauthorized(res, (error as Error).message, cors);
    }

    const params = Object.fromEntries(route.r.params.map((name, i) => [name, route.match![i + 1]!]));
    const requestId = randomUUID();
    const event = toEvent(req, target, path, body, route.r.routeKey, params, claims, requestId, port);
    let result: ApiResponse;
    try {
      result = await handlers.handler(event, lambdaContext(requestId));
    } catch {
      return send(res, 500, { message: 'Internal Server Error' }, cors);
    }
    // Lambda refuses a response over its limit, and API Gateway answers the failed invocation 500.
    if (Buffer.byteLength(JSON.stringify(result)) > MAX_LAMBDA_RESPONSE)
      return send(res, 500, { message: 'Internal Server Error' }, cors);
    const headers: Record<string, string | string[]> = {
      ...(result.headers as Record<string, string>),
      ...cors,
    };
    if (result.cookies?.length) headers['set-cookie'] = result.cookies;
    headers['apigw-requestid'] = requestId;
    res.writeHead(result.statusCode ?? 200, headers);
    res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
  }

  function takeToken(routeKey: RouteKey): boolean {
    const own = handlers!.routeThrottle?.[routeKey];
    const throttle = own ?? handlers!.throttle;
    const now = Date.now();
    const bucket = buckets.get(routeKey) ?? { tokens: throttle.burst, at: now };
    const tokens = Math.min(throttle.burst, bucket.tokens + ((now - bucket.at) / 1000) * throttle.rate);
    const taken = tokens >= 1;
    buckets.set(routeKey, { tokens: taken ? tokens - 1 : tokens, at: now });
    return taken;
  }

  /**
   * The origin the browser used, when it is one of the server's (localhost or this machine's
   * address, with --host 0.0.0.0), else the URL's: the page builds its redirect_uri from it.
   */
  function pageOrigin(req: IncomingMessage): string {
    const host = `http://${req.headers.host ?? ''}`;
    const origin = URL.canParse(host) ? new URL(host).origin : undefined;
    return origin !== undefined && origins.includes(origin) ? origin : new URL(url).origin;
  }

  return {
    url,
    origins,
    port,
    serve(next) {
      handlers = next;
      verifier = makeVerifier(next.issuer);
      buckets = new Map();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * API Gateway's JWT authorizer, with aws-jwt-verify: the JWKS is found through the issuer's
 * discovery document and fetched over plain HTTP (the library's own fetcher speaks only HTTPS).
 */
function makeVerifier(issuer: LocalIssuer) {
  const fetcher = {
    async fetch(uri: string): Promise<ArrayBuffer> {
      const response = await fetch(uri);
      if (!response.ok) throw new Error(`GET ${uri} answered ${response.status}`);
      return response.arrayBuffer();
    },
  };
  return JwtRsaVerifier.create(
    { issuer: issuer.issuer, audience: issuer.clientId, jwksUri: issuer.jwksUri },
    { jwksCache: new SimpleJwksCache({ fetcher }) },
  );
}

function toEvent(
  req: IncomingMessage,
  target: URL,
  path: string,
  body: Buffer,
  routeKey: string,
  pathParameters: Record<string, string>,
  claims: Record<string, unknown>,
  requestId: string,
  port: number,
): ApiEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(port);
  const query = queryParameters(target.search.slice(1));
  const textual = TEXT_TYPES.test(headers['content-type'] ?? '');
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: target.search.slice(1),
    ...(req.headers.cookie ? { cookies: req.headers.cookie.split(/;\s*/) } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'imgpipe-dev',
      authorizer: {
        principalId: '',
        integrationLatency: 0,
        jwt: { claims: flattenClaims(claims), scopes: null as unknown as string[] },
      },
      domainName: headers.host ?? `127.0.0.1:${port}`,
      domainPrefix: (headers.host ?? '127').split('.')[0]!,
      http: {
        method: req.method ?? 'GET',
        path,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0
      ? { body: textual ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !textual }
      : { isBase64Encoded: false }),
  } as ApiEvent;
}

/**
 * queryStringParameters as API Gateway's HTTP API fills them: names and values percent-decoded, a
 * `+` kept as it is (URLSearchParams reads it as a space, as a form body would be read, and a `since`
 * with a `+01:00` offset was refused here and taken on AWS), repeated names joined with commas. A
 * malformed escape is left as it was sent.
 */
function queryParameters(raw: string): Record<string, string> {
  const query: Record<string, string> = Object.create(null);
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decode(at === -1 ? pair : pair.slice(0, at));
    const value = at === -1 ? '' : decode(pair.slice(at + 1));
    query[name] = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;
  }
  return query;
}

/**
 * The transformation route's path as a function URL passes it: WHATWG's URL reads a `\` in an http
 * path as `/`, so `/t/a\b.jpg` from a client sending it unencoded (curl; `imgpipe sign` writes %5C)
 * named the key `a/b.jpg` here and `a\b.jpg` in AWS. Kept as %5C, which the function decodes to `\`.
 */
function asSent(requestUrl: string): string {
  const end = requestUrl.indexOf('?');
  const path = end === -1 ? requestUrl : requestUrl.slice(0, end);
  if (!/^\/t[/\\]/.test(path)) return requestUrl;
  return path.replaceAll('\\', '%5C') + requestUrl.slice(path.length);
}

/** A Lambda function URL in front of `handler`: its event, its response limit, its 502. */
async function functionUrl(
  handler: NonNullable<LocalApiHandlers['transform']>,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  body: Buffer,
  port: number,
): Promise<void> {
  const requestId = randomUUID();
  const event = toEvent(req, target, target.pathname, body, '$default', {}, {}, requestId, port);
  // A function URL passes the path as sent and has no authorizer.
  const { authorizer: _, ...requestContext } = event.requestContext;
  const urlEvent = { ...event, requestContext: { ...requestContext, apiId: 'imgpipe-dev-url' } };
  let result: ApiResponse;
  try {
    result = await handler(urlEvent as unknown as LambdaFunctionURLEvent, lambdaContext(requestId));
  } catch {
    return send(res, 502, { Message: 'Internal Server Error' });
  }
  if (Buffer.byteLength(JSON.stringify(result)) > MAX_LAMBDA_RESPONSE)
    return send(res, 502, {
      Message: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
    });
  const headers: Record<string, string | string[]> = { ...(result.headers as Record<string, string>) };
  headers['x-amzn-requestid'] = requestId;
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
}

/** Claims as API Gateway passes them: strings, arrays as `[a b]`. */
function flattenClaims(claims: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(claims).map(([name, value]) => [
      name,
      Array.isArray(value)
        ? `[${value.join(' ')}]`
        : typeof value === 'string'
          ? value
          : JSON.stringify(value),
    ]),
  );
}

function unauthorized(
  res: ServerResponse,
  reason: string | undefined,
  cors: Record<string, string> = {},
): void {
  const challenge = reason
    ? `Bearer error="invalid_token" error_description="${reason.replace(/["\\]/g, "'")}"`
    : 'Bearer';
  send(res, 401, { message: 'Unauthorized' }, { 'www-authenticate': challenge, ...cors });
}

/**
 * The CORS headers of an answer to `origin`, when `allowed` (cors_allowed_origins) takes it: none
 * for another origin, whose browser then refuses to hand the answer to the page.
 */
function corsHeaders(
  allowed: readonly string[] | undefined,
  origin: string | undefined,
): Record<string, string> {
  if (!allowed?.length || origin === undefined) return {};
  const any = allowed.includes('*');
  if (!any && !allowed.includes(origin)) return {};
  return {
    'access-control-allow-origin': any ? '*' : origin,
    'access-control-expose-headers': API_CORS.exposeHeaders.join(','),
    ...(any ? {} : { vary: 'origin' }),
  };
}

/** A preflight of one of the API's routes: 204, with the allowed methods and headers for an allowed origin. */
function preflight(res: ServerResponse, cors: Record<string, string>, method: string | undefined): void {
  const allowed =
    cors['access-control-allow-origin'] !== undefined &&
    (API_CORS.methods as readonly string[]).includes(method ?? '');
  res.writeHead(
    204,
    allowed
      ? {
          'access-control-allow-origin': cors['access-control-allow-origin']!,
          'access-control-allow-methods': API_CORS.methods.join(','),
          'access-control-allow-headers': API_CORS.headers.join(','),
          'access-control-max-age': String(API_CORS.maxAgeSeconds),
          ...(cors.vary ? { vary: cors.vary } : {}),
        }
      : {},
  );
  res.end();
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The body, or undefined past API Gateway's limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The local issuer's endpoints: discovery, JWKS, the authorization-code flow with PKCE, and
 * RP-Initiated Logout.
 */
function oidc(
  issuer: LocalIssuer,
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  body: Buffer,
  origin: string,
) {
  const path = target.pathname.slice('/oidc'.length);
  if (req.method === 'GET' && path === '/.well-known/openid-configuration')
    // The logout endpoint at the origin the browser used (localhost or 127.0.0.1), as the page's
    // config.json names the others: a browser sent to another origin would leave its page there.
    return send(res, 200, { ...issuer.discovery(), end_session_endpoint: `${origin}/oidc/logout` });
  if (path === '/logout' && req.method === 'GET') {
    const q = target.searchParams;
    const redirectUri = q.get('post_logout_redirect_uri') ?? undefined;
    if (redirectUri !== undefined && (!URL.canParse(redirectUri) || new URL(redirectUri).origin !== origin))
      return send(res, 400, {
        error: 'invalid_request',
        error_description: `post_logout_redirect_uri must be a URL on this server, not ${JSON.stringify(redirectUri)}`,
      });
    try {
      issuer.endSession({
        clientId: q.get('client_id') ?? undefined,
        idTokenHint: q.get('id_token_hint') ?? undefined,
        postLogoutRedirectUri: redirectUri,
      });
    } catch (error) {
      return send(res, 400, { error: 'invalid_request', error_description: (error as Error).message });
    }
    // The local issuer keeps no session (it asks at every sign-in): there is nothing else to end.
    if (redirectUri === undefined) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('Signed out of the imgpipe dev issuer.\n');
      return;
    }
    const location = new URL(redirectUri);
    if (q.get('state')) location.searchParams.set('state', q.get('state')!);
    res.writeHead(302, { location: location.href, 'cache-control': 'no-store' });
    res.end();
    return;
  }
  if (req.method === 'GET' && path === '/.well-known/jwks.json') return send(res, 200, issuer.jwks());
  if (path === '/authorize' && req.method === 'GET') {
    const q = target.searchParams;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(signInPage(q));
    return;
  }
  if (path === '/authorize' && req.method === 'POST') {
    const form = new URLSearchParams(body.toString('utf8'));
    const redirectUri = form.get('redirect_uri') ?? '';
    // Only back to this server's own pages, at the origin the browser used: no open redirect.
    if (!URL.canParse(redirectUri, origin) || new URL(redirectUri, origin).origin !== origin)
      return send(res, 400, {
        error: 'invalid_request',
        error_description: `redirect_uri must be a URL on this server, not ${JSON.stringify(redirectUri)}`,
      });
    try {
      const code = issuer.authorize({
        clientId: form.get('client_id') ?? '',
        redirectUri,
        codeChallenge: form.get('code_challenge') ?? '',
        codeChallengeMethod: form.get('code_challenge_method') ?? '',
        sub: (form.get('username') ?? '').trim(),
        admin: form.get('admin') === 'on',
      });
      const location = new URL(redirectUri);
      location.searchParams.set('code', code);
      if (form.get('state')) location.searchParams.set('state', form.get('state')!);
      res.writeHead(302, { location: location.href });
      res.end();
    } catch (error) {
      send(res, 400, { error: 'invalid_request', error_description: (error as Error).message });
    }
    return;
  }
  if (path === '/token' && req.method === 'POST') {
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('grant_type') !== 'authorization_code')
      return send(res, 400, { error: 'unsupported_grant_type' });
    try {
      const tokens = issuer.exchange({
        code: form.get('code') ?? '',
        codeVerifier: form.get('code_verifier') ?? '',
        redirectUri: form.get('redirect_uri') ?? '',
        clientId: form.get('client_id') ?? '',
      });
      return send(res, 200, tokens, { 'cache-control': 'no-store' });
    } catch (error) {
      return send(res, 400, { error: 'invalid_grant', error_description: (error as Error).message });
    }
  }
  send(res, 404, { message: 'Not Found' });
}

function signInPage(query: URLSearchParams): string {
  const html = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const hidden = ['client_id', 'redirect_uri', 'code_challenge', 'code_challenge_method', 'state', 'scope']
    .map((name) => `<input type="hidden" name="${name}" value="${html(query.get(name) ?? '')}">`)
    .join('\n      ');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Sign in – imgpipe dev</title>
    <style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:1rem 0}input[type=text]{width:100%;font:inherit;padding:.4rem}button{font:inherit;padding:.5rem 1rem}</style>
  </head>
  <body>
    <h1>imgpipe dev: sign in</h1>
    <p>The local issuer signs a token for any user name: this is for development only.</p>
    <form method="post" action="/oidc/authorize">
      ${hidden}
      <label>User name <input type="text" name="username" value="dev-user" required autofocus autocomplete="username"></label>
      <label><input type="checkbox" name="admin"> Member of the admin group</label>
      <button type="submit">Sign in</button>
    </form>
  </body>
</html>
`;
}

function lambdaContext(awsRequestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'imgpipe-dev-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:imgpipe-dev-api',
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: '/aws/lambda/imgpipe-dev-api',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 29_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
