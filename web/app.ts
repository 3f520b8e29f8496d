/**
 * The imgpipe web page: sign in (OAuth 2.0 authorization code with PKCE, against the local issuer
 * of `imgpipe dev` or a Cognito user pool), upload images straight to S3 with the presigned POST the
 * API returns (with progress), follow each upload's status, and show every variant side by side
 * with its size, format, bytes and saving, or the reason a file was rejected.
 *
 * Within the stage's rate limits: four files are uploaded at a time, a 429, 5xx or unreachable API
 * is asked again with backoff (honouring Retry-After), as is an upload to S3 that got no answer, a
 * 5xx or a RequestTimeout (the file may be in S3 already), and each file's status is polled every 1 s,
 * growing to every 5 s, through one scheduler for the page: at most 4 status requests a second and
 * 2 at once, however many files, the longest-due card first. Once a file is in S3 the page never
 * says "Not uploaded": a status it cannot read is "Status unavailable", asked again, with Delete.
 * A file not uploaded once those retries are spent (the network, throttling, a 5xx), or whose
 * upload URL expired meanwhile (its policy, or the session of the credentials that signed it), has Try again, which starts it over in its card with a new upload
 * URL; one the API refused (size, type) has not. An empty file, or one whose type (the browser's,
 * or its extension's) the file picker does not offer, is refused before the API is asked, naming the
 * file and what to choose instead, as are the API's own refusals of type and size (from the fields
 * of its refusal, never its message, which is for people). A
 * file the API says is gone (its own 404, `not-found`: deleted in another tab or through the API) is
 * shown as deleted, with the API's message, and no longer followed. A processed file whose outputs
 * the API cannot list now (no `outputs`: they are being replaced or removed) is still followed. One
 * not final once the polling's 10 minutes are over says where it stands (or that its status is
 * unavailable), with Check again. A
 * failed file is shown as failed and still followed while the polling lasts: failures are retried
 * (Lambda retries the S3 event), except in the workflow mode (config.json's `failedIsFinal`), where
 * the state machine has retried before recording the failure, which is then final. Signing out
 * takes every card off the page (the next person at the browser sees none of them) and stops
 * following them. While a file is not yet in S3, leaving or reloading the page asks first (not
 * once its user has signed out: Sign out leaves the page for the issuer's logout, Cognito's
 * `/logout` or another issuer's `end_session_endpoint`, and comes back signed out); the
 * files in S3 are remembered for the tab (sessionStorage, as the token), so that a reload shows
 * them again and follows those not final yet, until they are deleted or the user signs out.
 *
 * Plain TypeScript and the DOM; esbuild bundles it (src/cli/web-page.ts). `config.json`, served
 * beside the page, says where the API and the sign-in endpoints are.
 */

interface PageConfig {
  /** Base URL of the API ('' for the page's own origin). */
  readonly apiUrl: string;
  /** null when the API is deployed without authentication. */
  readonly auth: {
    readonly authorizeUrl: string;
    readonly tokenUrl: string;
    readonly clientId: string;
    readonly scope: string;
    /**
     * The issuer's logout endpoint (Cognito's `/logout`): Sign out sends the browser there, with
     * `client_id` and `logout_uri` (the page), to end the issuer's own session as well. Without
     * it, only the page's token is forgotten.
     */
    readonly logoutUrl?: string;
    /**
     * Any other OpenID Connect issuer (`web_auth` with `jwt_issuer`, or `imgpipe dev`'s): Sign out
     * reads the `end_session_endpoint` of its discovery document and sends the browser there
     * (RP-Initiated Logout, with `client_id`, `post_logout_redirect_uri` and `id_token_hint`), to
     * end the issuer's session as well.
     */
    readonly issuer?: string;
  } | null;
  /**
   * The workflow mode: a `failed` status is final (the per-upload state machine has retried its
   * tasks before recording it, and nothing runs it again). Absent or false: the direct mode, where
   * Lambda retries a failed S3 event, so the page keeps looking.
   */
  readonly failedIsFinal?: boolean;
}

interface Upload {
  readonly key: string;
  readonly statusUrl: string;
  readonly upload: { readonly url: string; readonly fields: Record<string, string> };
}

interface Output {
  readonly variant: string;
  readonly format: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  readonly url: string;
}

interface ImageStatus {
  readonly key: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly size?: number;
  readonly source?: { format: string; width: number; height: number; bytes: number };
  readonly outputs?: readonly Output[];
}

/** What the API says of a refusal beside its message (src/handlers/http.ts ErrorDetails). */
interface RefusalDetails {
  /** The value refused (the content type the API was sent). */
  readonly value?: unknown;
  /** The largest value accepted (a too-large size), in `unit`. */
  readonly limit?: number;
  /** The unit of `limit` (`bytes`). */
  readonly unit?: string;
  /** The values accepted (an unsupported type: the content types). */
  readonly accepted?: readonly string[];
}

interface ApiErrorBody {
  readonly error?: { code: string; message: string; field?: string } & RefusalDetails;
  readonly message?: string;
}

/** The upload types by file extension (the API's: image/jpeg, image/png, ... image/gif). */
const TYPES_BY_EXTENSION: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  jpe: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  heic: 'image/heic',
  heif: 'image/heic',
  gif: 'image/gif',
};
const FINAL = new Set(['processed', 'quarantined', 'deleted']);
/**
 * `failed` is shown as it comes but, in the direct mode, not final while the page polls: the
 * function's failures are retried (Lambda retries a failed S3 event twice, a minute or two apart,
 * and the item goes back to processing), so the card keeps looking until the polling's 10 minutes
 * are over. In the workflow mode (config.json's `failedIsFinal`) it is final.
 */
const RETRIED = 'failed';
/** Polling for a status: every second at first, then less often, up to every 5 s, for 10 minutes. */
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 5000;
const POLL_GROWTH = 1.5;
const POLL_LIMIT_MS = 10 * 60 * 1000;
/**
 * Status requests of the whole page, however many files it follows: at most this many a second and
 * at once (the stage lets 50 a second through for all its users together).
 */
const STATUS_PER_SECOND = 4;
const STATUS_IN_FLIGHT = 2;
/** A status that cannot be read is asked again this often, with backoff, before the card says so. */
const STATUS_RETRIES = 2;
/** Files asked for and sent to S3 at once (the stage lets 10 uploads a second through, 20 at once). */
const PARALLEL_UPLOADS = 4;
/** A throttled (429), failing (5xx) or unreachable API is asked again this often, with backoff. */
const RETRIES = 5;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 15_000;
const TOKEN_KEY = 'imgpipe.token';
/** The ID token of the sign-in, for the issuer's logout (`id_token_hint`). */
const ID_TOKEN_KEY = 'imgpipe.id_token';
/** The files of this tab that reached S3, so that a reload shows and follows them again. */
const UPLOADS_KEY = 'imgpipe.uploads';
/** At most this many are remembered, the newest. */
const REMEMBERED = 200;
const PKCE_KEY = 'imgpipe.pkce';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

class ApiFailure extends Error {
  /** 0: the API could not be reached. */
  readonly status: number;
  /** From a Retry-After header. */
  readonly retryAfterMs: number | undefined;
  /** The API's error code (`not-found`, ...); none when the answer is not the API's (a gateway's). */
  readonly code: string | undefined;
  /** The request's field the API refused (`size`, `contentType`, ...), when it names one. */
  readonly field: string | undefined;
  /** What the API says of its refusal beside the message, which the page does not parse. */
  readonly details: RefusalDetails;
  constructor(
    status: number,
    message: string,
    retryAfterMs?: number,
    code?: string,
    field?: string,
    details: RefusalDetails = {},
  ) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.code = code;
    this.field = field;
    this.details = details;
  }

  /** Throttled, a server error or no answer: asking again later may succeed. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

let config: PageConfig;

async function main(): Promise<void> {
  config = (await (await fetch('config.json')).json()) as PageConfig;
  const failed = await finishSignIn();
  showUser();
  // After showUser, which says "Sign in to upload images." when signed out.
  if (failed) $('notice').textContent = `Sign-in failed: ${failed}`;
  if (!$<HTMLInputElement>('files').disabled) restoreUploads();
  $('sign-in').addEventListener('click', () => void signIn());
  $('sign-out').addEventListener('click', () => {
    const idToken = sessionStorage.getItem(ID_TOKEN_KEY) ?? undefined;
    signOut();
    // Its files are no longer the page's: leaving asks no more (the issuer's logout below leaves
    // it, and a 'Leave site?' there kept the session that Sign out ends).
    signedOut = true;
    // The next person at this browser sees none of the previous user's images, and the page stops
    // following them (a card taken off the page is no longer asked about).
    $('uploads').replaceChildren();
    sessionStorage.removeItem(UPLOADS_KEY);
    // The issuer's session would sign the next person in as this user at once, without a prompt.
    if (config.auth?.logoutUrl) {
      const url = new URL(config.auth.logoutUrl, location.href);
      url.search = new URLSearchParams({
        client_id: config.auth.clientId,
        logout_uri: redirectUri(),
      }).toString();
      location.assign(url.href);
    } else if (config.auth?.issuer) {
      void endIssuerSession(config.auth.issuer, config.auth.clientId, idToken);
    }
  });
  const input = $<HTMLInputElement>('files');
  input.addEventListener('change', () => {
    for (const file of input.files ?? []) void uploadFile(file);
    input.value = '';
  });
  // A file not yet in S3 (waiting its turn, or being sent) is lost if the page is left or
  // reloaded: the browser asks first.
  window.addEventListener('beforeunload', (event) => {
    if (uploading === 0 || signedOut) return;
    event.preventDefault();
    event.returnValue = '';
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    // Signed out, the pointer shows that a drop would not be taken, and the zone stays as it is.
    if (input.disabled) {
      if (event.dataTransfer) event.dataTransfer.dropEffect = 'none';
      return;
    }
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    // Signed out, the file picker is disabled, and so is dropping: the API would refuse each file.
    if (input.disabled) {
      $('notice').textContent = 'Sign in to upload images.';
      return;
    }
    for (const file of event.dataTransfer?.files ?? []) void uploadFile(file);
  });
}

// --- Signing in: authorization code with PKCE ---------------------------------------------------

function token(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

function claims(): Record<string, unknown> | undefined {
  const jwt = token();
  if (!jwt) return undefined;
  try {
    const payload = jwt.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    // atob gives one character a byte; the payload is UTF-8 (a name such as José is two bytes é).
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function showUser(): void {
  const user = claims();
  const signedIn = config.auth === null || user !== undefined;
  $('sign-in').hidden = signedIn;
  $('sign-out').hidden = !user;
  $('who').textContent =
    config.auth === null ? 'No sign-in needed' : user ? `Signed in as ${user.sub}` : 'Not signed in';
  $<HTMLInputElement>('files').disabled = !signedIn;
  // The drop zone looks disabled too, and says why: a drop is refused until sign-in. Assistive
  // technology reads the input's disabled state; aria-disabled is not allowed on a label (ARIA 1.2).
  $('drop').classList.toggle('disabled', !signedIn);
  $('drop-why').hidden = signedIn;
  $('notice').textContent = signedIn ? '' : 'Sign in to upload images.';
}

/**
 * Where the issuer sends the browser back: the page's folder (`/` for `/index.html`), the one URL
 * the api module registers with Cognito, whichever name the page was opened by.
 */
function redirectUri(): string {
  return `${location.origin}${location.pathname.replace(/[^/]*$/, '')}`;
}

async function signIn(): Promise<void> {
  if (!config.auth) return;
  // A page on plain http anywhere but this machine is not a secure context: the browser gives it
  // no crypto.subtle, which the sign-in's PKCE challenge needs.
  if (!crypto.subtle) {
    $('notice').textContent =
      `Signing in needs a secure page: open this one over https, or at http://localhost on its own machine (this browser gives ${location.origin} no Web Crypto).`;
    return;
  }
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
  );
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(config.auth.authorizeUrl, location.href);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.auth.clientId,
    redirect_uri: redirectUri(),
    scope: config.auth.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.href);
}

/** Exchanges the code the issuer sent back for a token; what went wrong, if it did. */
async function finishSignIn(): Promise<string | undefined> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  if (!code || !config.auth) return undefined;
  history.replaceState(null, '', redirectUri());
  const pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? 'null') as {
    verifier: string;
    state: string;
  } | null;
  sessionStorage.removeItem(PKCE_KEY);
  if (!pending || pending.state !== params.get('state'))
    return 'the answer does not belong to this page. Try again.';
  let response: Response;
  try {
    response = await fetch(new URL(config.auth.tokenUrl, location.href), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri(),
        client_id: config.auth.clientId,
        code_verifier: pending.verifier,
      }),
    });
  } catch {
    // Unreachable, or refused by CORS: the page goes on, signed out, and says so.
    return `the sign-in service (${config.auth.tokenUrl}) could not be reached. Try again.`;
  }
  // An answer that is not JSON (a proxy's error page) has no token either.
  const body = (await response.json().catch(() => ({}))) as {
    access_token?: string;
    id_token?: string;
    error_description?: string;
  };
  if (!response.ok || !body.access_token) return body.error_description ?? `HTTP ${response.status}`;
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  if (body.id_token) sessionStorage.setItem(ID_TOKEN_KEY, body.id_token);
  else sessionStorage.removeItem(ID_TOKEN_KEY);
  return undefined;
}

/**
 * Forgets the token (Sign out, or the API said it has expired: the cards stay, to say so). The
 * Sign out button is hidden then: the keyboard's focus on it goes to Sign in, shown in its place,
 * not to the top of the page.
 */
function signOut(): void {
  const focused = document.activeElement === $('sign-out');
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ID_TOKEN_KEY);
  showUser();
  if (focused && !$('sign-in').hidden) $('sign-in').focus();
}

/**
 * OpenID Connect RP-Initiated Logout: the issuer's discovery document names its
 * end_session_endpoint, where the browser goes to end the issuer's session, and comes back to the
 * page. An issuer without one, or that cannot be asked, keeps its session: the page says so.
 */
async function endIssuerSession(
  issuer: string,
  clientId: string,
  idToken: string | undefined,
): Promise<void> {
  const discovery = new URL(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, location.href);
  let endpoint: unknown;
  let why: string;
  try {
    const response = await fetch(discovery);
    const document = (await response.json().catch(() => ({}))) as { end_session_endpoint?: unknown };
    endpoint = response.ok ? document.end_session_endpoint : undefined;
    why = response.ok
      ? `its discovery document (${discovery.href}) names no end_session_endpoint`
      : `its discovery document (${discovery.href}) was answered HTTP ${response.status}`;
  } catch {
    why = `its discovery document (${discovery.href}) could not be read`;
  }
  if (typeof endpoint !== 'string' || !URL.canParse(endpoint, location.href)) {
    $('notice').textContent =
      `Signed out of this page, but not of the sign-in service: ${why}. The next Sign in at this browser may not ask for a password; close the browser to end that session.`;
    return;
  }
  const url = new URL(endpoint, location.href);
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('post_logout_redirect_uri', redirectUri());
  if (idToken) url.searchParams.set('id_token_hint', idToken);
  location.assign(url.href);
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

// --- The API --------------------------------------------------------------------------------------

/** A call of the API, asked again with backoff (honouring Retry-After) while it may succeed. */
async function api<T>(path: string, init: RequestInit = {}, retries = RETRIES): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request<T>(path, init);
    } catch (error) {
      if (!(error instanceof ApiFailure) || !error.retryable || attempt >= retries) throw error;
      const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
      await sleep(error.retryAfterMs ?? backoff * (0.5 + Math.random() / 2));
    }
  }
}

async function request<T>(path: string, init: RequestInit): Promise<T> {
  const headers = new Headers(init.headers);
  const jwt = token();
  if (jwt) headers.set('authorization', `Bearer ${jwt}`);
  let response: Response;
  try {
    response = await fetch(path.startsWith('http') ? path : `${config.apiUrl}${path}`, {
      ...init,
      headers,
    });
  } catch {
    throw new ApiFailure(0, 'The API could not be reached.');
  }
  if (response.status === 401 && config.auth) {
    signOut();
    throw new ApiFailure(401, 'Your sign-in has expired: sign in again.');
  }
  const body = (await response.json().catch(() => ({}))) as T & ApiErrorBody;
  if (!response.ok) {
    throw new ApiFailure(
      response.status,
      body.error?.message ?? body.message ?? `HTTP ${response.status}`,
      retryAfter(response.headers.get('retry-after')),
      body.error?.code,
      body.error?.field,
      {
        value: body.error?.value,
        limit: body.error?.limit,
        unit: body.error?.unit,
        accepted: body.error?.accepted,
      },
    );
  }
  return body;
}

/** Retry-After in milliseconds (seconds or an HTTP date), at most a minute. */
function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.min(60_000, Math.max(0, ms));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `work` once fewer than PARALLEL_UPLOADS others run. `uploading`: how many run (more wait
 * only while it is PARALLEL_UPLOADS).
 */
let uploading = 0;
/** Set by Sign out: the files still being sent were the signed-out user's, and are not asked about. */
let signedOut = false;
const queued: (() => void)[] = [];
async function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (uploading < PARALLEL_UPLOADS) uploading++;
  else await new Promise<void>((resolve) => queued.push(resolve));
  try {
    return await work();
  } finally {
    const next = queued.shift();
    if (next) next();
    else uploading--;
  }
}

// --- One upload -------------------------------------------------------------------------------------

/** Uploads a file and follows it; `card`: the card of an earlier attempt, sent again (Try again). */
async function uploadFile(file: File, card = new UploadCard(file)): Promise<void> {
  // What the API would refuse for what the file is, the page refuses before asking, in its words.
  const refused = unfit(file);
  if (refused) {
    card.fail(refused);
    return;
  }
  card.state('Waiting to upload…');
  let upload: Upload | undefined;
  try {
    upload = await inTurn(async () => {
      // Taken off the page while it waited (signed out): not sent.
      if (card.gone) return undefined;
      card.state('Asking for an upload URL…');
      const upload = await api<Upload>('/uploads', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ filename: file.name, contentType: contentType(file), size: file.size }),
      });
      card.key = upload.key;
      card.statusUrl = upload.statusUrl;
      card.state('Uploading…');
      await postToS3(
        upload,
        file,
        (fraction) => card.progress(fraction),
        () => card.state('The upload was interrupted; sending it again…'),
      );
      return upload;
    });
  } catch (error) {
    // What asking again may cure (the network, throttling, a server error, an upload URL that
    // expired while the file was sent again) the user can ask again, with a new upload URL.
    const retryable =
      ((error instanceof ApiFailure || error instanceof UploadFailure) && error.retryable) ||
      (error instanceof UploadFailure && error.expired);
    card.fail(refusal(error as Error, file), retryable ? () => void uploadFile(file, card) : undefined);
    return;
  }
  if (!upload) return;
  card.progress(1);
  remember({ key: upload.key, statusUrl: upload.statusUrl, name: file.name, size: file.size });
  await follow(card, upload.statusUrl, file.size);
}

/**
 * Why a file was not uploaded, in words a person reads: a file too large for the API (its
 * `too-large` refusal of `size`, with its `limit` in bytes) is named with its size and the limit
 * in MB, not with the API's "Expected at most 33554432 bytes for size but received ...". The
 * message is the API's words for people, never parsed: without the limit it is shown as it is.
 */
function refusal(error: Error, file: File): string {
  if (!(error instanceof ApiFailure)) return error.message;
  // The API stays the authority on what it takes: its refusal of the type, or of an empty file
  // (the page refuses both before asking), in the page's words.
  if (error.code === 'unsupported-media-type' && error.field === 'contentType') {
    const { value, accepted } = error.details;
    return unsupported(
      file,
      typeof value === 'string' ? value : contentType(file),
      Array.isArray(accepted) && accepted.length > 0 ? accepted : uploadTypes(),
    );
  }
  if (error.code === 'bad-request' && error.field === 'size' && file.size === 0) return empty(file);
  if (error.code !== 'too-large' || error.field !== 'size') return error.message;
  const { limit, unit } = error.details;
  if (typeof limit !== 'number' || unit !== 'bytes')
    return `${file.name} (${megabytes(file.size)}) is too large: ${error.message}`;
  let size = megabytes(file.size);
  let max = megabytes(limit);
  // Just past the limit both read alike in MB (32.0 and 32): the bytes tell them apart.
  if (Number.parseFloat(size) <= limit / MB) {
    size = `${size} (${file.size} bytes)`;
    max = `${max} (${limit} bytes)`;
  }
  return `${file.name} is ${size}, larger than the ${max} an upload may be.`;
}

const MB = 1024 * 1024;

/**
 * Why the page does not upload a file, before asking the API: an empty file, or one whose type
 * (the browser's, or its extension's) is none the file picker offers, the API's.
 */
function unfit(file: File): string | undefined {
  if (file.size === 0) return empty(file);
  const accepted = uploadTypes();
  const type = contentType(file);
  if (!accepted.includes(mediaType(type))) return unsupported(file, file.type || undefined, accepted);
  return undefined;
}

function empty(file: File): string {
  return `${file.name} is empty (0 bytes), so there is no image to upload: choose the file that holds the image.`;
}

/** `type`: the file's (none when neither the browser nor its name tells). */
function unsupported(file: File, type: string | undefined, accepted: readonly string[]): string {
  const what = type ? `it is ${type}` : 'neither the browser nor its name says what it is';
  return `${file.name} is not an image that can be uploaded (${what}): choose an image in ${typeNames(accepted)}.`;
}

/** The content types the file picker offers (its accept attribute: the API's). */
function uploadTypes(): string[] {
  return $<HTMLInputElement>('files')
    .accept.split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.includes('/'))
    .map(mediaType);
}

/** A content type as the API compares it: without parameters, in lower case. */
function mediaType(type: string): string {
  return type.split(';')[0]!.trim().toLowerCase();
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  'image/jpeg': 'JPEG',
  'image/png': 'PNG',
  'image/webp': 'WebP',
  'image/avif': 'AVIF',
  'image/heic': 'HEIC',
  'image/heif': 'HEIF',
  'image/gif': 'GIF',
};

/** `JPEG, PNG, WebP or GIF`: each type's name, or the type itself. */
function typeNames(types: readonly string[]): string {
  const names = [...new Set(types.map((type) => TYPE_NAMES[type] ?? type))];
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : (names[0] ?? '');
}

/** Bytes in MB (of 1024 × 1024 bytes, as the API's limit is set), one decimal unless whole. */
function megabytes(bytes: number): string {
  const mb = bytes / MB;
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

/** A file of this tab in S3, as sessionStorage keeps it (with the `sub` that uploaded it). */
interface Remembered {
  readonly key: string;
  readonly statusUrl: string;
  readonly name: string;
  readonly size: number;
}

function remembered(): (Remembered & { readonly sub: string })[] {
  try {
    const list: unknown = JSON.parse(sessionStorage.getItem(UPLOADS_KEY) ?? '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function remember(upload: Remembered): void {
  const list = [...remembered(), { ...upload, sub: String(claims()?.sub ?? '') }].slice(-REMEMBERED);
  sessionStorage.setItem(UPLOADS_KEY, JSON.stringify(list));
}

function forget(key: string): void {
  sessionStorage.setItem(UPLOADS_KEY, JSON.stringify(remembered().filter((upload) => upload.key !== key)));
}

/**
 * After a reload: a card for each file this tab sent to S3 as the user signed in now, followed
 * again (oldest first, so the newest is on top, as they were). A file still being sent when the
 * page was left is not among them: it never reached S3.
 */
function restoreUploads(): void {
  const sub = String(claims()?.sub ?? '');
  const mine = remembered().filter((upload) => upload.sub === sub);
  sessionStorage.setItem(UPLOADS_KEY, JSON.stringify(mine));
  for (const upload of mine) {
    const card = new UploadCard(upload);
    card.key = upload.key;
    card.statusUrl = upload.statusUrl;
    card.progress(1);
    void follow(card, upload.statusUrl, upload.size);
  }
}

/**
 * Polls an uploaded file's status until it is final, in the turns the page's scheduler gives
 * (`statuses`). The file is in S3 by now: a failing status request says the status is unavailable
 * (with Delete) and is asked again, never "Not uploaded".
 */
async function follow(card: UploadCard, statusUrl: string, fileBytes: number): Promise<void> {
  card.state('Uploaded; waiting for the variants…');
  const started = Date.now();
  let wait = POLL_FIRST_MS;
  let failures = 0;
  let due = started;
  for (;;) {
    if (!(await statuses.turn(due, () => card.gone))) return;
    let status: ImageStatus | undefined;
    let failure: unknown;
    try {
      status = await request<ImageStatus>(statusUrl, {});
    } catch (error) {
      failure = error;
    } finally {
      // Throttled: the stage's limit holds every caller, so the whole page waits, not this card only.
      statuses.done(
        failure instanceof ApiFailure && failure.status === 429
          ? (failure.retryAfterMs ?? RETRY_FIRST_MS)
          : 0,
      );
    }
    if (card.gone) return;
    let next = wait;
    let failed: ImageStatus | undefined;
    const over = Date.now() - started > POLL_LIMIT_MS;
    if (status) {
      failures = 0;
      // Processed, but its outputs cannot be listed now (no `outputs`: its manifest was missing,
      // the outputs being replaced or removed): not final, and not "0 variants".
      const unlisted = status.status === 'processed' && status.outputs === undefined;
      if (FINAL.has(status.status) && !unlisted) {
        card.show(status, fileBytes);
        return;
      }
      if (status.status === RETRIED && config.failedIsFinal) {
        card.show(status, fileBytes);
        return;
      }
      if (status.status === RETRIED) {
        failed = status;
        card.show(status, fileBytes, !over);
      } else
        card.waiting(
          unlisted
            ? 'Processed; its variants cannot be listed yet, checking again…'
            : status.status === 'processing'
              ? 'Processing…'
              : 'Uploaded; waiting for the variants…',
        );
    } else {
      // The API's own 404 (not a gateway's): the file, in S3 when the page uploaded it, is gone,
      // deleted elsewhere (another tab, the API). Final: nothing more will come of it.
      if (failure instanceof ApiFailure && failure.status === 404 && failure.code === 'not-found') {
        card.deleted(failure.message);
        return;
      }
      const retryable = !(failure instanceof ApiFailure) || failure.retryable;
      const retryAfterMs = failure instanceof ApiFailure ? failure.retryAfterMs : undefined;
      // The card's backoff, or the API's Retry-After; the first STATUS_RETRIES failures say nothing.
      failures++;
      const backoff =
        Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
      if (retryable && failures <= STATUS_RETRIES) {
        due = Date.now() + (retryAfterMs ?? backoff);
        continue;
      }
      card.unavailable((failure as Error).message, retryable);
      if (!retryable) return;
      next = retryAfterMs ?? Math.max(wait, backoff);
    }
    if (over) {
      // A failure that outlasted its retries stays on the card as it is.
      if (failed) return;
      // A status read, not final yet (a slow run, a backlog): said as it stands, not "Status
      // unavailable", with a button that follows it again (there was none: only a reload did).
      if (status) {
        const unlisted = status.status === 'processed';
        card.slow(
          unlisted
            ? 'Processed; its variants still cannot be listed after 10 minutes.'
            : status.status === 'processing'
              ? 'Still processing after 10 minutes.'
              : 'Uploaded; still waiting for the variants after 10 minutes.',
          () => void follow(card, statusUrl, fileBytes),
        );
        return;
      }
      card.unavailable('No result after 10 minutes.', false, () => void follow(card, statusUrl, fileBytes));
      return;
    }
    due = Date.now() + next;
    wait = Math.min(POLL_MAX_MS, wait * POLL_GROWTH);
  }
}

/**
 * Every status request of the page goes through here, however many files there are: at most
 * STATUS_PER_SECOND a second and STATUS_IN_FLIGHT at once. The card whose turn has been due the
 * longest goes first (ties: the card that asked first), so a large drop slows every card's polling
 * alike instead of throttling the API; a throttled answer holds the whole page for a while.
 */
class StatusScheduler {
  readonly #waiting: {
    due: number;
    seq: number;
    cancelled: () => boolean;
    go: (granted: boolean) => void;
  }[] = [];
  #seq = 0;
  #inFlight = 0;
  /** No request starts before this: the last start plus the spacing, or the end of a hold. */
  #next = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Resolves true when a request for a card may start, not before `due`; false once `cancelled` (the
   * card is gone). A true turn must be followed by done().
   */
  turn(due: number, cancelled: () => boolean): Promise<boolean> {
    return new Promise((go) => {
      this.#waiting.push({ due, seq: this.#seq++, cancelled, go });
      this.#pump();
    });
  }

  /** The request of a turn is over; `holdMs` > 0 (throttled) keeps every card waiting that long. */
  done(holdMs = 0): void {
    this.#inFlight--;
    if (holdMs > 0) this.#next = Math.max(this.#next, Date.now() + holdMs);
    this.#pump();
  }

  #pump(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const entry = this.#waiting[i]!;
      if (entry.cancelled()) {
        this.#waiting.splice(i, 1);
        entry.go(false);
      }
    }
    if (this.#waiting.length === 0 || this.#inFlight >= STATUS_IN_FLIGHT) return;
    const now = Date.now();
    let first = 0;
    for (let i = 1; i < this.#waiting.length; i++) {
      const entry = this.#waiting[i]!;
      const best = this.#waiting[first]!;
      if (entry.due < best.due || (entry.due === best.due && entry.seq < best.seq)) first = i;
    }
    const at = Math.max(this.#next, this.#waiting[first]!.due);
    if (at > now) {
      this.#timer = setTimeout(() => this.#pump(), at - now);
      return;
    }
    const [entry] = this.#waiting.splice(first, 1);
    this.#inFlight++;
    this.#next = now + 1000 / STATUS_PER_SECOND;
    entry!.go(true);
    this.#pump();
  }
}

const statuses = new StatusScheduler();

/**
 * The type to declare: the browser's when the API takes it, else the name's when it has an image
 * extension (browsers often report '' for .heic, Android's pickers application/octet-stream, a
 * Windows registry edited by other software image/jpg for .jpg: the pipeline reads the file's own
 * bytes either way). An unknown one is sent as is, and the API names the types it takes.
 */
function contentType(file: File): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(file.name)?.[1]?.toLowerCase() ?? '';
  const named = TYPES_BY_EXTENSION[extension];
  if (file.type && (named === undefined || uploadTypes().includes(mediaType(file.type)))) return file.type;
  return named ?? (file.type || 'application/octet-stream');
}

/** A presigned POST that did not succeed; `retryable`: sending it again may (see postToS3). */
class UploadFailure extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  /**
   * S3 refused the presigned POST as expired (a send again after a slow upload dropped past the
   * policy's minutes), or its signature's session as ended (ExpiredToken: the API function's role
   * credentials expired): never again with it, but with a new one (Try again).
   */
  readonly expired: boolean;
  constructor(message: string, retryable: boolean, retryAfterMs?: number, expired = false) {
    super(message);
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
    this.expired = expired;
  }
}

/**
 * The presigned POST, with the progress of the upload, sent again with backoff (honouring
 * Retry-After) while it may yet succeed: no answer (the connection dropped, maybe after S3 stored
 * the file), a 5xx (S3's InternalError and SlowDown ask for the request again) or S3's
 * RequestTimeout (a stalled upload). Sending it again is safe: the same bytes to the same key, and
 * the policy holds for minutes. `retrying` is told before each new attempt.
 */
async function postToS3(
  upload: Upload,
  file: File,
  progress: (fraction: number) => void,
  retrying: () => void,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await postOnce(upload, file, progress);
    } catch (error) {
      if (!(error instanceof UploadFailure) || !error.retryable || attempt >= RETRIES) throw error;
      retrying();
      const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
      await sleep(error.retryAfterMs ?? backoff * (0.5 + Math.random() / 2));
    }
  }
}

/** One presigned POST (XMLHttpRequest: fetch reports no upload progress). */
function postOnce(upload: Upload, file: File, progress: (fraction: number) => void): Promise<void> {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.upload.fields)) form.append(name, value);
  form.append('file', file);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', upload.upload.url);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) progress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      const code = /<Code>([^<]*)<\/Code>/.exec(xhr.responseText)?.[1];
      reject(
        new UploadFailure(
          `Storage refused the upload (HTTP ${xhr.status}): ${s3Message(xhr.responseText)}`,
          xhr.status >= 500 || code === 'RequestTimeout',
          retryAfter(xhr.getResponseHeader('retry-after')),
          (xhr.status === 403 && /policy expired/i.test(s3Message(xhr.responseText))) ||
            code === 'ExpiredToken',
        ),
      );
    });
    const unreachable = () =>
      reject(new UploadFailure('The upload failed: the storage could not be reached', true));
    xhr.addEventListener('error', unreachable);
    xhr.addEventListener('abort', unreachable);
    xhr.addEventListener('timeout', unreachable);
    xhr.send(form);
  });
}

function s3Message(xml: string): string {
  return /<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? xml.slice(0, 200);
}

class UploadCard {
  key: string | undefined;
  statusUrl: string | undefined;
  /** Output URLs that failed to load and were asked for again (each once). */
  readonly #renewed = new Set<string>();
  #renewing: Promise<ImageStatus | undefined> | undefined;
  readonly #item = document.createElement('li');
  readonly #state = document.createElement('p');
  readonly #bar = document.createElement('progress');
  readonly #body = document.createElement('div');
  readonly #title = document.createElement('h3');

  constructor(file: Pick<File, 'name'>) {
    this.#item.className = 'upload';
    this.#item.dataset.file = file.name;
    const header = document.createElement('header');
    const title = this.#title;
    title.textContent = file.name;
    title.tabIndex = -1;
    header.append(title);
    this.#bar.max = 1;
    this.#bar.value = 0;
    this.#bar.setAttribute('aria-label', `Upload of ${file.name}`);
    this.#state.className = 'state';
    this.#state.setAttribute('aria-live', 'polite');
    this.#item.append(header, this.#bar, this.#state, this.#body);
    $('uploads').prepend(this.#item);
  }

  /** Deleted from the page: nothing more to show. */
  get gone(): boolean {
    return !this.#item.isConnected;
  }

  state(text: string): void {
    // A live region: the same words written again are a change to a screen reader, which said
    // "Processing…" once more on every poll.
    if (this.#state.textContent !== text) this.#state.textContent = text;
  }

  /** Not final yet: the state, and no notice of an earlier unavailable status or failure. */
  waiting(text: string): void {
    this.state(text);
    if (this.#item.dataset.unavailable !== undefined || this.#item.dataset.status !== undefined) {
      delete this.#item.dataset.unavailable;
      delete this.#item.dataset.status;
      this.#body.replaceChildren();
    }
  }

  /** Uploaded, but its status cannot be read now: say so, offer Delete, and (when) that it retries. */
  unavailable(message: string, retrying: boolean, resume?: () => void): void {
    this.#bar.hidden = true;
    this.state('Uploaded');
    delete this.#item.dataset.status;
    const text = `${message}${retrying ? ' Trying again…' : ''}`;
    if (this.#item.dataset.unavailable !== undefined) {
      // Already shown: only the message changes (the Delete button keeps its focus). The box is a
      // live region: the same words written again are a change a screen reader may announce on
      // every failed poll.
      const detail = this.#body.querySelector('.detail')!;
      if (detail.textContent !== text) detail.textContent = text;
      if (resume) this.#body.append(this.#checkAgainButton(resume));
      return;
    }
    this.#item.dataset.unavailable = '';
    const box = document.createElement('p');
    box.className = 'reason';
    box.setAttribute('role', 'status');
    box.innerHTML = '<strong>Status unavailable.</strong> <span class="detail"></span>';
    box.prepend(this.#fileName());
    box.querySelector('.detail')!.textContent = text;
    this.#body.replaceChildren(box, this.#deleteButton());
    if (resume) this.#body.append(this.#checkAgainButton(resume));
  }

  /**
   * Followed for the polling's time without a final status: `text` says where it stands, and Check
   * again follows it once more (`resume`), the focus on the card's title as the button goes.
   */
  slow(text: string, resume: () => void): void {
    this.#bar.hidden = true;
    delete this.#item.dataset.unavailable;
    this.state(text);
    this.#body.replaceChildren(this.#checkAgainButton(resume));
  }

  /** Check again: follows the file once more (`resume`), the focus on the card's title as it goes. */
  #checkAgainButton(resume: () => void): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Check again';
    button.setAttribute('aria-label', `Check ${this.#item.dataset.file} again`);
    button.addEventListener('click', () => {
      const focused = document.activeElement === button;
      delete this.#item.dataset.unavailable;
      this.#body.replaceChildren();
      if (focused) this.#title.focus();
      resume();
    });
    return button;
  }

  progress(fraction: number): void {
    this.#bar.value = fraction;
  }

  /** Not uploaded, and why; with `retry`, a Try again button that sends the file again in this card. */
  fail(message: string, retry?: () => void): void {
    this.#item.dataset.status = 'error';
    this.#bar.hidden = true;
    this.state('');
    const box = document.createElement('p');
    box.className = 'reason';
    box.setAttribute('role', 'alert');
    box.innerHTML = '<strong>Not uploaded.</strong> ';
    box.prepend(this.#fileName());
    box.append(message);
    if (!retry) {
      this.#body.replaceChildren(box);
      return;
    }
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Try again';
    button.setAttribute('aria-label', `Upload ${this.#item.dataset.file} again`);
    button.addEventListener('click', () => {
      const focused = document.activeElement === button;
      delete this.#item.dataset.status;
      this.key = undefined;
      this.statusUrl = undefined;
      this.#renewed.clear();
      this.#bar.value = 0;
      this.#bar.hidden = false;
      this.#body.replaceChildren();
      // The button is gone: the focus goes to the card's title, and its state is announced.
      if (focused) this.#title.focus();
      retry();
    });
    this.#body.replaceChildren(box, button);
  }

  /** Deleted elsewhere (another tab, the API): said so, with the API's words when it gave them. */
  deleted(message?: string): void {
    if (this.key) forget(this.key);
    this.#item.dataset.status = 'deleted';
    delete this.#item.dataset.unavailable;
    this.#bar.hidden = true;
    this.state('Deleted');
    if (!message) {
      this.#body.replaceChildren();
      return;
    }
    const box = document.createElement('p');
    box.className = 'reason';
    box.setAttribute('role', 'status');
    box.textContent = message;
    this.#body.replaceChildren(box);
  }

  /** A status: `retrying`, a failure the page still looks at, which a retry may yet process. */
  show(status: ImageStatus, fileBytes: number, retrying = false): void {
    const again = this.#item.dataset.status === status.status;
    this.#item.dataset.status = status.status;
    delete this.#item.dataset.unavailable;
    this.#bar.hidden = true;
    if (status.status === 'quarantined' || status.status === 'failed') {
      this.state(status.status === 'quarantined' ? 'Rejected' : 'Failed');
      const text = `: ${status.message ?? 'no message'}${retrying ? ' Failures are retried: checking again…' : ''}`;
      if (again) {
        // Already shown: only the text changes (the Delete button keeps its focus).
        this.#body.querySelector('.detail')!.textContent = text;
        return;
      }
      const box = document.createElement('p');
      box.className = 'reason';
      box.setAttribute('role', 'alert');
      const label = document.createElement('strong');
      label.textContent = status.reason ?? status.status;
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.textContent = text;
      box.append(this.#fileName(), label, detail);
      this.#body.replaceChildren(box, this.#deleteButton());
      return;
    }
    if (status.status === 'deleted') {
      this.deleted();
      return;
    }
    const original = status.source?.bytes ?? status.size ?? fileBytes;
    const source = status.source;
    this.state(
      `${source ? `${source.format.toUpperCase()} ${source.width}×${source.height}, ` : ''}${formatBytes(original)}: ${status.outputs?.length ?? 0} variants`,
    );
    const grid = document.createElement('div');
    grid.className = 'variants';
    for (const output of status.outputs ?? []) {
      const figure = document.createElement('figure');
      const img = document.createElement('img');
      img.src = output.url;
      img.width = output.width;
      img.height = output.height;
      img.loading = 'lazy';
      img.dataset.output = `${output.variant}/${output.format}`;
      // A presigned GET lasts minutes (download_expires_seconds): a variant loaded later (lazily,
      // scrolled to) may find its URL expired, and gets a fresh one from the status.
      img.addEventListener('error', () => void this.#renew(img));
      img.alt = `${output.variant} ${output.format}, ${output.width}×${output.height}`;
      const caption = document.createElement('figcaption');
      const saving = original > 0 ? Math.round((1 - output.bytes / original) * 100) : 0;
      caption.innerHTML = `<b></b><br><span class="dims"></span><br><span class="bytes"></span> <span class="saving"></span>`;
      caption.querySelector('b')!.textContent = `${output.variant} · ${output.format}`;
      caption.querySelector('.dims')!.textContent = `${output.width}×${output.height}`;
      caption.querySelector('.bytes')!.textContent = formatBytes(output.bytes);
      caption.querySelector('.saving')!.textContent = saving >= 0 ? `−${saving}%` : `+${-saving}%`;
      figure.append(img, caption);
      grid.append(figure);
    }
    this.#body.replaceChildren(grid, this.#deleteButton());
  }

  /** Asks the status again for an output whose URL failed, once per URL, and loads the new one. */
  async #renew(img: HTMLImageElement): Promise<void> {
    const failed = img.src;
    const statusUrl = this.statusUrl;
    if (!statusUrl || this.#renewed.has(failed)) return;
    this.#renewed.add(failed);
    // One status request for every image of the card that fails at once, in the page's turns.
    this.#renewing ??= (async () => {
      if (!(await statuses.turn(Date.now(), () => this.gone))) return undefined;
      try {
        return await request<ImageStatus>(statusUrl, {});
      } catch {
        return undefined;
      } finally {
        statuses.done();
        this.#renewing = undefined;
      }
    })();
    const status = await this.#renewing;
    const output = status?.outputs?.find((o) => `${o.variant}/${o.format}` === img.dataset.output);
    if (output && img.isConnected) img.src = output.url;
  }

  /**
   * Takes the deleted card off the page and says so. `focused`: focus was on its Delete button
   * (disabling it while the DELETE ran may have dropped it to the page); unless the user has moved
   * it since, it goes to the next card's button (else the previous card's, else the file picker),
   * not back to the top of the page, where a keyboard user would start over.
   */
  #removeDeleted(focused: boolean): void {
    const active = document.activeElement;
    const keep = !focused || !(active === null || active === document.body || this.#item.contains(active));
    const neighbour = [this.#item.nextElementSibling, this.#item.previousElementSibling]
      .map((card) => card?.querySelector<HTMLButtonElement>('button:not(:disabled)'))
      .find((button) => button);
    this.#item.remove();
    if (this.key) forget(this.key);
    $('notice').textContent = `Deleted ${this.#item.dataset.file}.`;
    if (!keep) (neighbour ?? $<HTMLInputElement>('files')).focus();
  }

  /**
   * The file's name, for screen readers only, at the start of an alert or status: it is read out
   * alone, and of several files dropped at once it would not say which (the card's title shows it).
   */
  #fileName(): HTMLElement {
    const name = document.createElement('span');
    name.className = 'visually-hidden';
    name.textContent = `${this.#item.dataset.file}: `;
    return name;
  }

  #deleteButton(): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Delete';
    button.setAttribute('aria-label', `Delete ${this.#item.dataset.file}`);
    button.addEventListener('click', async () => {
      if (!this.key) return;
      const focused = document.activeElement === button;
      button.disabled = true;
      try {
        await api(`/images/${this.key.split('/').map(encodeURIComponent).join('/')}`, { method: 'DELETE' });
        this.#removeDeleted(focused);
      } catch (error) {
        // Not there: the DELETE's answer was lost and the retry found it gone, or it was deleted
        // elsewhere. Gone all the same. Only the API's own answer says so: API Gateway answers a
        // route or stage it does not have with a 404 too ({"message":"Not Found"}, no code).
        if (error instanceof ApiFailure && error.status === 404 && error.code === 'not-found') {
          this.#removeDeleted(focused);
          return;
        }
        button.disabled = false;
        if (focused) button.focus();
        $('notice').textContent = (error as Error).message;
      }
    });
    return button;
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

void main();
