import {
  type JsonWebKey as CryptoJwk,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A local OpenID Connect issuer for `imgpipe dev`, so that authentication is real on one machine:
 * an RSA key kept in the data folder, its JWKS and discovery document (served by the local API,
 * where the local API Gateway fetches them to verify tokens, as API Gateway's JWT authorizer does),
 * tokens signed with it (`imgpipe dev token`), and the authorization-code flow with PKCE that the web
 * page signs in with, the same flow it runs against a Cognito user pool in AWS, and RP-Initiated
 * Logout (its discovery document's `end_session_endpoint`), where the page's Sign out goes.
 *
 * Tokens are RS256 JWTs signed with node:crypto (header, claims, RSASSA-PKCS1-v1_5 over SHA-256 of
 * the two, base64url); they are verified by aws-jwt-verify, an independent implementation.
 */
export const DEV_CLIENT_ID = 'imgpipe-dev';
export const DEV_DEFAULT_USER = 'dev-user';
/** The group `--admin` tokens are in: the API's default admin group. */
export const DEV_ADMIN_GROUP = 'admin';
const ISSUER_FILE = 'oidc.json';
const CODE_TTL_MS = 60_000;

interface IssuerFile {
  readonly issuer: string;
  readonly kid: string;
  readonly privateKey: CryptoJwk;
}

export interface TokenRequest {
  readonly sub?: string;
  readonly admin?: boolean;
  /** Space-separated scopes, in the `scope` claim. */
  readonly scope?: string;
  readonly expiresInSeconds?: number;
  readonly now?: Date;
}

export interface AuthorizeRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly codeChallengeMethod: string;
  readonly sub: string;
  readonly admin: boolean;
}

export class LocalIssuer {
  readonly issuer: string;
  readonly kid: string;
  readonly clientId = DEV_CLIENT_ID;
  readonly #key: KeyObject;
  readonly #codes = new Map<string, AuthorizeRequest & { expires: number }>();

  private constructor(issuer: string, kid: string, key: KeyObject) {
    this.issuer = issuer;
    this.kid = kid;
    this.#key = key;
  }

  /** The issuer of the data folder, at `issuer`: its key is created on first use and kept. */
  static async open(directory: string, issuer: string): Promise<LocalIssuer> {
    // A file that is not one of ours (cut short by a crash) is replaced: it could sign nothing.
    const saved = await readIssuerFile(directory).catch((error: unknown) => {
      if (error instanceof IssuerFileError) return undefined;
      throw error;
    });
    const key = saved
      ? createPrivateKey({ key: saved.privateKey, format: 'jwk' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const kid = saved?.kid ?? createHash('sha256').update(publicJwk(key).n!).digest('base64url').slice(0, 16);
    const file: IssuerFile = { issuer, kid, privateKey: key.export({ format: 'jwk' }) };
    await writeFile(join(directory, ISSUER_FILE), `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    return new LocalIssuer(issuer, kid, key);
  }

  /** The issuer a running (or earlier) `imgpipe dev` wrote into the data folder. */
  static async load(directory: string): Promise<LocalIssuer> {
    const issuer = await LocalIssuer.find(directory);
    if (!issuer) {
      throw new Error(
        `${issuerFile(directory)} does not exist: start imgpipe dev (with the same --dir) first; it creates the local issuer's key`,
      );
    }
    return issuer;
  }

  /** The issuer in the data folder; undefined when imgpipe dev has never run there. */
  static async find(directory: string): Promise<LocalIssuer | undefined> {
    const saved = await readIssuerFile(directory);
    if (!saved) return undefined;
    return new LocalIssuer(
      saved.issuer,
      saved.kid,
      createPrivateKey({ key: saved.privateKey, format: 'jwk' }),
    );
  }

  get jwksUri(): string {
    return `${this.issuer}/.well-known/jwks.json`;
  }

  jwks(): { keys: CryptoJwk[] } {
    return { keys: [{ ...publicJwk(this.#key), kid: this.kid, alg: 'RS256', use: 'sig' }] };
  }

  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: this.jwksUri,
      authorization_endpoint: `${this.issuer}/authorize`,
      token_endpoint: `${this.issuer}/token`,
      end_session_endpoint: `${this.issuer}/logout`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code'],
      code_challenge_methods_supported: ['S256'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'imgpipe/admin'],
    };
  }

  /** A signed access token, as Cognito's carry them: client_id, scope, groups (and aud). */
  token(request: TokenRequest = {}): string {
    const now = Math.floor((request.now ?? new Date()).getTime() / 1000);
    const claims = {
      iss: this.issuer,
      sub: request.sub ?? DEV_DEFAULT_USER,
      aud: this.clientId,
      client_id: this.clientId,
      token_use: 'access',
      scope: request.scope ?? 'openid',
      ...(request.admin ? { 'cognito:groups': [DEV_ADMIN_GROUP] } : {}),
      iat: now,
      exp: now + (request.expiresInSeconds ?? 3600),
      jti: randomBytes(12).toString('base64url'),
    };
    return signJwt({ alg: 'RS256', typ: 'JWT', kid: this.kid }, claims, this.#key);
  }

  /** Step one of the code flow: the user chose who to sign in as; a one-time code for the client. */
  authorize(request: AuthorizeRequest): string {
    if (request.clientId !== this.clientId)
      throw new Error(`unknown client_id ${JSON.stringify(request.clientId)}`);
    if (request.codeChallengeMethod !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(request.codeChallenge))
      throw new Error('a PKCE code_challenge with code_challenge_method S256 is required');
    if (!/^[^\s]{1,128}$/.test(request.sub))
      throw new Error('the user name must be 1-128 characters without spaces');
    const code = randomBytes(24).toString('base64url');
    this.#codes.set(code, { ...request, expires: Date.now() + CODE_TTL_MS });
    return code;
  }

  /** Step two: the code and the PKCE verifier for tokens. Each code works once. */
  exchange(input: { code: string; codeVerifier: string; redirectUri: string; clientId: string }): {
    access_token: string;
    id_token: string;
    token_type: 'Bearer';
    expires_in: number;
  } {
    const pending = this.#codes.get(input.code);
    this.#codes.delete(input.code);
    if (!pending || pending.expires < Date.now()) throw new Error('invalid_grant: unknown or expired code');
    if (pending.clientId !== input.clientId || pending.redirectUri !== input.redirectUri)
      throw new Error('invalid_grant: client_id or redirect_uri differs from the authorization request');
    const challenge = createHash('sha256').update(input.codeVerifier).digest('base64url');
    if (challenge !== pending.codeChallenge) throw new Error('invalid_grant: code_verifier does not match');
    const token = this.token({ sub: pending.sub, admin: pending.admin });
    return { access_token: token, id_token: token, token_type: 'Bearer', expires_in: 3600 };
  }

  /**
   * RP-Initiated Logout: checks a request to the end_session_endpoint. `id_token_hint`, when given,
   * must be a token this issuer signed (expired or not, as the spec allows) for `client_id`; a
   * `post_logout_redirect_uri` needs the client named by one of the two. Throws, naming the
   * parameter and its value, when one is wrong.
   */
  endSession(input: { clientId?: string; idTokenHint?: string; postLogoutRedirectUri?: string }): void {
    if (input.clientId !== undefined && input.clientId !== this.clientId)
      throw new Error(`unknown client_id ${JSON.stringify(input.clientId)}`);
    if (input.idTokenHint !== undefined) {
      const claims = this.#verified(input.idTokenHint);
      if (!claims)
        throw new Error(
          `id_token_hint is not a token this issuer signed: ${JSON.stringify(input.idTokenHint.slice(0, 40))}`,
        );
      if (claims.aud !== this.clientId)
        throw new Error(`id_token_hint was issued to ${JSON.stringify(claims.aud)}, not ${this.clientId}`);
    }
    if (
      input.postLogoutRedirectUri !== undefined &&
      input.clientId === undefined &&
      input.idTokenHint === undefined
    )
      throw new Error('post_logout_redirect_uri needs client_id or id_token_hint');
  }

  /** The claims of a JWT this issuer signed (its signature and issuer checked), or undefined. */
  #verified(jwt: string): Record<string, unknown> | undefined {
    const [header, payload, signature] = jwt.split('.');
    if (header === undefined || payload === undefined || signature === undefined) return undefined;
    try {
      const good = verify(
        'sha256',
        Buffer.from(`${header}.${payload}`),
        createPublicKey(this.#key),
        Buffer.from(signature, 'base64url'),
      );
      if (!good) return undefined;
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
      return claims.iss === this.issuer ? claims : undefined;
    } catch {
      return undefined;
    }
  }
}

export function signJwt(header: object, claims: object, key: KeyObject): string {
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function publicJwk(key: KeyObject): CryptoJwk {
  const { kty, n, e } = createPublicKey(key).export({ format: 'jwk' });
  return { kty, n, e };
}

/** Where the issuer's key is kept in a data folder. */
export function issuerFile(directory: string): string {
  return join(directory, ISSUER_FILE);
}

/** The issuer file is there but is not one imgpipe dev wrote (cut short, edited by hand). */
export class IssuerFileError extends Error {
  override readonly name = 'IssuerFileError';
}

async function readIssuerFile(directory: string): Promise<IssuerFile | undefined> {
  let text: string;
  try {
    text = await readFile(issuerFile(directory), 'utf8');
  } catch (error) {
    // No such file, or --dir names a file: imgpipe dev has not run there.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  const broken = (why: string) =>
    new IssuerFileError(
      `${issuerFile(directory)} is not an issuer file imgpipe dev writes (${why}); imgpipe dev replaces it with a new key when it starts (tokens signed with the old one are then refused)`,
    );
  let file: Partial<IssuerFile>;
  try {
    file = JSON.parse(text) as Partial<IssuerFile>;
  } catch (error) {
    throw broken(`not JSON: ${(error as Error).message}`);
  }
  if (typeof file?.issuer !== 'string' || typeof file.kid !== 'string' || typeof file.privateKey !== 'object')
    throw broken('it lacks the issuer, kid or privateKey');
  try {
    createPrivateKey({ key: file.privateKey as CryptoJwk, format: 'jwk' });
  } catch (error) {
    throw broken(`its privateKey is not a private key: ${(error as Error).message}`);
  }
  return file as IssuerFile;
}
