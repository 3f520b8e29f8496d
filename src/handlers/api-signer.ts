import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/**
 * Presigned requests: image bytes never pass through the API (Lambda and API Gateway cap payloads
 * at 6 and 10 MB); the client talks to S3 directly with a request the function signed.
 *
 * Uploads are POST policies rather than presigned PUTs because S3 enforces a policy's conditions
 * itself: the exact key, the Content-Type, and the size (`content-length-range`), which a presigned
 * PUT cannot bound. A URL signed with the function's role credentials stops working when they
 * expire, even before its own expiry: a download's, and an upload's policy, is cut to their expiration
 * where the SDK knows it, and to an hour for session credentials whose expiration it does not
 * (Lambda's: UNKNOWN_SESSION_MAX_SECONDS).
 */
export interface UploadRequest {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  /** The exact size the upload must have, in bytes. */
  readonly size: number;
  readonly expiresSeconds: number;
}

export interface PresignedUpload {
  readonly method: 'POST';
  readonly url: string;
  /** Form fields to send, in this order, before the `file` field. */
  readonly fields: Readonly<Record<string, string>>;
  readonly expiresAt: string;
}

export interface UrlSigner {
  upload(request: UploadRequest): Promise<PresignedUpload>;
  /**
   * A presigned GET of the object, or with `method` HEAD a presigned HEAD: S3 checks the method
   * against the signature, so a HEAD sent to a GET's URL is refused 403.
   */
  download(bucket: string, key: string, expiresSeconds: number, method?: 'GET' | 'HEAD'): Promise<string>;
  /**
   * As download, with how long the URL works: `expiresSeconds`, or less when the credentials that
   * sign it expire before (a presigned URL stops working with them, whatever its X-Amz-Expires).
   */
  presignDownload?(
    bucket: string,
    key: string,
    expiresSeconds: number,
    method?: 'GET' | 'HEAD',
  ): Promise<PresignedDownload>;
}

export interface PresignedDownload {
  readonly url: string;
  /** Seconds from its signing that the URL works (its X-Amz-Expires). */
  readonly expiresSeconds: number;
}

/**
 * The longest a request signed with session credentials of unknown expiration is made valid for:
 * one hour, STS's default session and an IAM role's default maximum session duration. Lambda's
 * role credentials come with no expiration the function can read, and AWS says they need not follow
 * the role's session settings, so a 12-hour URL (download_expires_seconds allows 43,200) stopped
 * working whenever they happened to end, ExpiredToken, hours before its X-Amz-Expires. Not a
 * guarantee either: a client renews an expired URL from the status (the web page does).
 */
export const UNKNOWN_SESSION_MAX_SECONDS = 3600;

export class S3UrlSigner implements UrlSigner {
  readonly #client: S3Client;

  constructor(client: S3Client) {
    this.#client = client;
  }

  async upload(request: UploadRequest): Promise<PresignedUpload> {
    const { url, fields } = await createPresignedPost(this.#client, {
      Bucket: request.bucket,
      Key: request.key,
      // Every field is also an exact-match condition (the SDK adds them); the key is matched exactly.
      Fields: { 'Content-Type': request.contentType },
      Conditions: [['content-length-range', request.size, request.size]],
      // S3 refuses the POST once the session of the credentials that signed it ends.
      Expires: await this.#lifetime(request.expiresSeconds),
    });
    return { method: 'POST', url, fields, expiresAt: policyExpiration(fields.Policy) };
  }

  async download(
    bucket: string,
    key: string,
    expiresSeconds: number,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<string> {
    return (await this.presignDownload(bucket, key, expiresSeconds, method)).url;
  }

  async presignDownload(
    bucket: string,
    key: string,
    expiresSeconds: number,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<PresignedDownload> {
    const input = { Bucket: bucket, Key: key };
    const command = method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    const expiresIn = await this.#lifetime(expiresSeconds);
    return { url: await getSignedUrl(this.#client, command, { expiresIn }), expiresSeconds: expiresIn };
  }

  /**
   * Seconds a presigned request may be valid: `expiresSeconds`, or less when the credentials that
   * sign it expire first. They are the client's provider's, memoized (the SDK refreshes them only
   * within 5 minutes of their expiration): session credentials whose expiration the SDK knows
   * (container credentials, SnapStart, AWS_CREDENTIAL_EXPIRATION) may end before the request would,
   * so it is cut to their end, less a second for the signing's own clock. Session credentials whose
   * expiration it does not know (Lambda's own, from AWS_SESSION_TOKEN in the environment: the SDK's
   * fromEnv gives no expiration without AWS_CREDENTIAL_EXPIRATION, which Lambda does not set) cut it
   * to UNKNOWN_SESSION_MAX_SECONDS. Long-term keys (an IAM user's, no session) are not cut.
   */
  async #lifetime(expiresSeconds: number): Promise<number> {
    const { expiration, sessionToken } = await this.#client.config.credentials();
    const left =
      expiration !== undefined
        ? Math.floor((expiration.getTime() - Date.now()) / 1000) - 1
        : sessionToken
          ? UNKNOWN_SESSION_MAX_SECONDS
          : Number.POSITIVE_INFINITY;
    return Math.max(1, Math.min(expiresSeconds, left));
  }
}

/**
 * The time S3 refuses the POST from: the policy's own expiration, which the SDK takes from the
 * clock before signing and cuts to the second (a time read after signing is later than that).
 */
function policyExpiration(policy: string | undefined): string {
  const expiration = (
    JSON.parse(Buffer.from(policy ?? '', 'base64').toString('utf8')) as { expiration?: unknown }
  ).expiration;
  const time = typeof expiration === 'string' ? Date.parse(expiration) : Number.NaN;
  if (Number.isNaN(time)) throw new Error(`The presigned POST's policy has no expiration: ${policy}`);
  return new Date(time).toISOString();
}
