import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildS3Notification } from '../../src/cli/local-s3.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { createS3EventHandler } from '../../src/handlers/s3-event.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';
import { allows, documentOf, loadTerraform, statements, type TfDir } from '../terraform/hcl.ts';

/**
 * The function's IAM policy (terraform/modules/imgpipe/iam.tf) against what the S3 handler does:
 * every S3 request it sends in the life of an upload (processed, delivered again, replaced by an
 * invalid file, that delivered again, deleted) is recorded from the SDK client, turned into the IAM
 * actions S3 authorises it by, and checked against the policy. s3rver enforces no IAM, so without
 * this a request the policy does not allow passes every other test and fails in AWS (it happened:
 * the quarantine's reason-record read, denied, would have failed every invalid upload).
 */
const SOURCE = 'perm-source';
const OUTPUT = 'perm-output';
const QUARANTINE = 'perm-quarantine';

interface Request {
  readonly command: string;
  readonly bucket: string;
  readonly key?: string;
  readonly copySource?: string;
  readonly versionId?: string;
  readonly status?: number;
}

let s3: Awaited<ReturnType<typeof startTestS3>>;
let imgpipe: TfDir;
const requests: Request[] = [];
/** Only the handler's requests are recorded, not the test's own uploads and deletions. */
let recording = false;

beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE]);
  imgpipe = (await loadTerraform()).get('modules/imgpipe')!;
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Bucket?: string; Key?: string; CopySource?: string; VersionId?: string };
      const request = {
        command: context.commandName as string,
        bucket: input.Bucket ?? '',
        key: input.Key,
        copySource: input.CopySource,
        versionId: input.VersionId,
      };
      try {
        const result = await next(args);
        if (recording) requests.push(request);
        return result;
      } catch (error) {
        if (recording)
          requests.push({
            ...request,
            status: (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode,
          });
        throw error;
      }
    },
    { step: 'initialize', name: 'recordRequests' },
  );
});
afterAll(async () => {
  await s3?.stop();
});

/** The IAM actions and resources S3 checks for a request (the S3 User Guide's action mapping). */
function needs(request: Request): [action: string, arn: string][] {
  const object = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;
  const bucket = `arn:aws:s3:::${request.bucket}`;
  const target = object(request.bucket, request.key ?? '');
  switch (request.command) {
    case 'GetObjectCommand':
    case 'HeadObjectCommand': {
      const read: [string, string][] = [[request.versionId ? 's3:GetObjectVersion' : 's3:GetObject', target]];
      // Without ListBucket, S3 answers 403 instead of 404 for a missing key.
      return request.status === 404 ? [...read, ['s3:ListBucket', bucket]] : read;
    }
    case 'PutObjectCommand':
      return [['s3:PutObject', target]];
    case 'CopyObjectCommand': {
      const [path, query] = request.copySource!.split('?');
      const [fromBucket, ...fromKey] = decodeURIComponent(path!).split('/');
      // A copy of one version (?versionId=) reads it, and its tags, as that version.
      const version = query?.startsWith('versionId=') === true;
      return [
        [version ? 's3:GetObjectVersion' : 's3:GetObject', object(fromBucket!, fromKey.join('/'))],
        [
          version ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging',
          object(fromBucket!, fromKey.join('/')),
        ],
        ['s3:PutObject', target],
        ['s3:PutObjectTagging', target],
      ];
    }
    case 'DeleteObjectCommand':
      return [['s3:DeleteObject', target]];
    case 'ListObjectsV2Command':
      return [['s3:ListBucket', bucket]];
    default:
      throw new Error(`No IAM mapping for ${request.command}: add it here`);
  }
}

describe("the function's IAM policy", () => {
  it('allows every S3 request the S3 handler sends in the life of an upload', async () => {
    // As the module deploys it: no output prefix, no quarantine prefix (main.tf).
    const config = loadRuntimeConfig({
      IMGPIPE_OUTPUT_BUCKET: OUTPUT,
      IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
      IMGPIPE_QUARANTINE_PREFIX: '',
      IMGPIPE_CONFIG: JSON.stringify({
        variants: [{ name: 'small', width: 64 }],
        formats: { jpeg: {}, webp: {} },
      }),
    });
    const handler = createS3EventHandler({
      config,
      sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
      output: new S3Storage(s3.client, OUTPUT),
      quarantine: new S3Storage(s3.client, QUARANTINE),
      logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    });
    const upload = async (key: string, body: Uint8Array) => {
      const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
      return buildS3Notification({ bucket: SOURCE, key, size: body.length, etag: put.ETag });
    };
    const statusOf = async (event: Parameters<typeof handler>[0]) => {
      recording = true;
      try {
        return (await handler(event)).records[0]?.status;
      } finally {
        recording = false;
      }
    };

    const photo = await upload('life/photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'));
    const text = readFixture('edge/broken/text-named.jpg');
    expect(await statusOf(photo)).toBe('processed');
    expect(await statusOf(photo)).toBe('duplicate');
    const replaced = await upload('life/photo.jpg', text);
    expect(await statusOf(replaced)).toBe('quarantined');
    expect(await statusOf(replaced)).toBe('duplicate');
    const other = await upload('life/other.jpg', readFixture('photos/colour-fig-red-bowl.jpg'));
    expect(await statusOf(other)).toBe('processed');
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'life/other.jpg' }));
    const removed = buildS3Notification({
      bucket: SOURCE,
      key: 'life/other.jpg',
      eventName: 'ObjectRemoved:Delete',
    });
    expect(await statusOf(removed)).toBe('deleted');
    // An event naming a version (a versioned source bucket): the version is read, and copied with
    // its tags into quarantine, as that version. s3rver keeps no versions and serves the key.
    const versionedBody = readFixture('edge/broken/text-named.jpg');
    const versionedPut = await s3.client.send(
      new PutObjectCommand({ Bucket: SOURCE, Key: 'life/versioned.jpg', Body: versionedBody }),
    );
    const versioned = buildS3Notification({
      bucket: SOURCE,
      key: 'life/versioned.jpg',
      size: versionedBody.length,
      etag: versionedPut.ETag,
      versionId: 'null',
    });
    expect(await statusOf(versioned)).toBe('quarantined');

    // The function's role, made concrete for these buckets.
    const values = {
      'module.source_bucket.s3_bucket_arn': `arn:aws:s3:::${SOURCE}`,
      'module.output_bucket.s3_bucket_arn': `arn:aws:s3:::${OUTPUT}`,
      'module.quarantine_bucket.s3_bucket_arn': `arn:aws:s3:::${QUARANTINE}`,
      'var.output_prefix': '',
    };
    const policy = statements(documentOf(imgpipe, imgpipe.resource.aws_iam_role_policy!.this!.policy));
    const denied = requests.flatMap((request) =>
      needs(request)
        .filter(([action, arn]) => !allows(policy, action, arn, values))
        .map(
          ([action, arn]) =>
            `${request.command}${request.status ? ` (${request.status})` : ''}: ${action} on ${arn}`,
        ),
    );
    expect(denied).toEqual([]);
    // Every kind of request the life of an upload needs was seen.
    const kinds = new Set(
      requests.map(
        (r) =>
          `${r.command} ${r.bucket}${r.status === 404 ? ' 404' : ''}${r.copySource?.includes('?versionId=') ? ' of a version' : ''}`,
      ),
    );
    for (const kind of [
      `GetObjectCommand ${SOURCE}`,
      `PutObjectCommand ${OUTPUT}`,
      `DeleteObjectCommand ${OUTPUT}`,
      `CopyObjectCommand ${QUARANTINE}`,
      `CopyObjectCommand ${QUARANTINE} of a version`,
      `PutObjectCommand ${QUARANTINE}`,
      `GetObjectCommand ${QUARANTINE}`,
      `GetObjectCommand ${QUARANTINE} 404`,
    ])
      expect([...kinds], kind).toContain(kind);
  });
});
