import type { Server } from 'node:http';

/**
 * How long imgpipe dev's servers (S3, DynamoDB, Step Functions, the API) keep an idle connection.
 * Node's default of 5 s is shorter than the pauses of an event loop decoding an image, and the
 * pipeline runs in the process that serves: a client that reuses a connection the server closes
 * meanwhile (its timer runs before the waiting request is read) gets ECONNRESET. AWS's endpoints,
 * API Gateway and CloudFront keep idle connections for a minute or more.
 */
export const IDLE_CONNECTION_MS = 65_000;

export function keepIdleConnections(server: Server): void {
  server.keepAliveTimeout = IDLE_CONNECTION_MS;
  // A request's headers may take as long as the connection may idle before it.
  server.headersTimeout = Math.max(server.headersTimeout, IDLE_CONNECTION_MS + 1_000);
}
