/**
 * The HTTP limits of the AWS SDK clients the functions create (all but the release hook's Lambda
 * client, whose synchronous invoke is silent until the function ends). The SDK sets none, so a connection
 * that goes silent would hold the invocation until the function times out. `connectionTimeout`:
 * the connection must be up in 3 s. `socketTimeout`: a connection silent for the idle limit, before
 * or after the response headers, fails the attempt (a TimeoutError, which the SDK retries). In
 * @smithy/node-http-handler 4.x `requestTimeout` only logs a warning unless told to throw, and even
 * then ends with the headers, so it is not used (storage/s3.ts, found by the fault test). An idle
 * limit of 6 s or more is armed 3 s into the request: a silent connection fails after 30-33 s.
 */
export const AWS_IDLE_TIMEOUT_MS = 30_000;

export function awsHttpLimits(idleTimeoutMs: number = AWS_IDLE_TIMEOUT_MS) {
  return { connectionTimeout: 3_000, socketTimeout: idleTimeoutMs } as const;
}
