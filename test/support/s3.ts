import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { type LocalS3, startLocalS3 } from '../../src/cli/local-s3.ts';

/** A real S3 API server (s3rver) over HTTP on a free port, with its data in a temporary folder. */
export async function startTestS3(buckets: readonly string[]): Promise<LocalS3 & { stop(): Promise<void> }> {
  const directory = mkdtempSync(join(tmpdir(), 'imgpipe-s3-'));
  const s3 = await startLocalS3({ port: 0, directory, buckets });
  return {
    ...s3,
    async stop() {
      await s3.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export async function createBucket(s3: LocalS3, name: string): Promise<void> {
  await s3.client.send(new CreateBucketCommand({ Bucket: name }));
}
