import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { encodeS3Key } from '../handlers/events.ts';
import { createS3Client } from '../storage/s3.ts';
import { keepIdleConnections } from './keep-alive.ts';
import { localUrl } from './local-url.ts';

/**
 * An S3-compatible server on this machine (s3rver), for `imgpipe dev` and the integration tests:
 * real HTTP, real SDK requests, real event JSON. s3rver emits an event per object written; we turn
 * it into the notification S3 itself would send (keys URL-encoded with `+` for spaces, eTag
 * unquoted) and hand it to whoever listens, as S3 would invoke the function.
 *
 * s3rver 3.7 is unmaintained and lost or changed objects under some keys; `patches/` holds the
 * fixes, applied by patch-package after every install (what they fix and what is left:
 * src/cli/README.md). Without them the server is not started.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalS3Options {
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Where objects are stored on disk. */
  readonly directory: string;
  readonly buckets: readonly string[];
  /** Origins each bucket accepts browser uploads (POST) and reads (GET) from, as a bucket CORS rule. */
  readonly cors?: Readonly<Record<string, readonly string[]>>;
}

export interface LocalS3 {
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  readonly client: S3Client;
  /** Calls `listener` with an S3 notification for every object created in or removed from `bucket`. */
  onObjectChanged(bucket: string, listener: (event: S3Notification) => void): void;
  close(): Promise<void>;
}

export interface S3Notification {
  Records: S3NotificationRecord[];
}

export interface S3NotificationRecord {
  eventVersion: string;
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  eventName: string;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: Record<string, string>;
  s3: {
    s3SchemaVersion: '1.0';
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer: string };
  };
}

/** Builds the notification S3 sends for one object, as documented in the S3 event message structure. */
export function buildS3Notification(input: {
  bucket: string;
  key: string;
  size?: number;
  etag?: string;
  versionId?: string;
  eventName?: string;
  time?: Date;
  sequencer?: string;
}): S3Notification {
  const time = input.time ?? new Date();
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: time.toISOString(),
        eventName: input.eventName ?? 'ObjectCreated:Put',
        userIdentity: { principalId: 'AWS:AIDAIMGPIPELOCAL' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'IMGPIPELOCAL', 'x-amz-id-2': 'imgpipe/local' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'imgpipe-local',
          bucket: {
            name: input.bucket,
            ownerIdentity: { principalId: 'IMGPIPELOCAL' },
            arn: `arn:aws:s3:::${input.bucket}`,
          },
          object: {
            key: encodeS3Key(input.key),
            size: input.size,
            eTag: input.etag?.replaceAll('"', ''),
            versionId: input.versionId,
            sequencer: input.sequencer ?? nextSequencer(time),
          },
        },
      },
    ],
  };
}

let lastSequencer = 0n;

/**
 * S3's sequencers grow with every event of a key; ours grow with every event of the server, from
 * the clock in microseconds, never repeating, so the status table orders local events as S3's.
 */
function nextSequencer(time: Date): string {
  const now = BigInt(time.getTime()) * 1000n;
  lastSequencer = now > lastSequencer ? now : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase().padStart(16, '0');
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  assertS3rverPatched();
  const host = options.host ?? '127.0.0.1';
  if (options.port) await assertPortFree(host, options.port);
  const server = new S3rver({
    address: host,
    port: options.port ?? 0,
    // Path-style requests only, as every client here makes them: s3rver takes a Host that is no IPv4
    // address, localhost or this machine's name for a virtual-hosted bucket, and Koa gives an IPv6
    // one in brackets ([::1]), which isIP refuses, so every request to --host ::1 was for a bucket
    // named "[::1]".
    vhostBuckets: false,
    directory: options.directory,
    silent: true,
    configureBuckets: options.buckets.map((name) => ({
      name,
      configs: options.cors?.[name] ? [corsConfiguration(options.cors[name])] : [],
    })),
  });
  const address = await server.run();
  const http = (server as unknown as { httpServer: import('node:http').Server }).httpServer;
  keepIdleConnections(http);
  const endpoint = localUrl(host, address.port);
  const client = localS3Client(endpoint);
  const emitter = server as unknown as NodeJS.EventEmitter;
  return {
    endpoint,
    port: address.port,
    directory: options.directory,
    client,
    onObjectChanged(bucket, listener) {
      emitter.on('event', (event: { Records: S3NotificationRecord[] }) => {
        for (const record of event.Records) {
          // s3rver reports raw keys and no eTag for copies; rebuild what S3 would send.
          const { eventName } = record;
          if (record.s3.bucket.name !== bucket) continue;
          if (!eventName.startsWith('ObjectCreated:') && !eventName.startsWith('ObjectRemoved:')) continue;
          listener(
            buildS3Notification({
              bucket,
              key: record.s3.object.key,
              size: record.s3.object.size,
              etag: record.s3.object.eTag,
              eventName: record.eventName,
            }),
          );
        }
      });
    },
    async close() {
      client.destroy();
      http.closeAllConnections();
      await server.close();
    },
  };
}

/** An S3 client of the local server at `endpoint` (path-style, its credentials). */
export function localS3Client(endpoint: string): S3Client {
  return createS3Client({
    endpoint,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    region: 'us-east-1',
  });
}

/** A bucket CORS configuration (the XML S3's PutBucketCors takes) for uploads from web pages. */
function corsConfiguration(origins: readonly string[]): string {
  const xml = (text: string) => text.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
  return [
    '<CORSConfiguration><CORSRule>',
    ...origins.map((origin) => `<AllowedOrigin>${xml(origin)}</AllowedOrigin>`),
    '<AllowedMethod>POST</AllowedMethod><AllowedMethod>GET</AllowedMethod>',
    '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds>',
    '</CORSRule></CORSConfiguration>',
  ].join('');
}

/** s3rver never settles its start promise when the port is taken; find out first and say so. */
async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `Port ${port} on ${host} is already in use: choose another with --port`
            : `Cannot listen on ${host}:${port}: ${error.message}`,
        ),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/**
 * Unpatched, s3rver loses quarantine copies of keys with `+ ? # ; & = $ , @ :` and rewrites keys
 * with `./` and `../`: refuse to run it (an install with scripts disabled skips the patch).
 */
function assertS3rverPatched(): void {
  const store = createRequire(import.meta.url)('s3rver/lib/stores/filesystem.js') as {
    encodeKeyPath(key: string): string;
  };
  if (store.encodeKeyPath('a/./b') === 'a/./b') {
    throw new Error(
      's3rver is not patched (patches/s3rver+3.7.1.patch): run `npx patch-package` in the project folder, or reinstall without --ignore-scripts',
    );
  }
}
