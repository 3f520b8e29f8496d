import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { StorageError } from '../../src/core/errors.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { createS3Client, S3Storage } from '../../src/storage/s3.ts';
import { describeStorageContract } from '../contract/storage.contract.ts';
import { createBucket, startTestS3 } from '../support/s3.ts';

describeStorageContract('FsStorage', async () => ({
  storage: new FsStorage(mkdtempSync(join(tmpdir(), 'imgpipe-fs-'))),
  other: new FsStorage(mkdtempSync(join(tmpdir(), 'imgpipe-fs-'))),
}));

let s3: Awaited<ReturnType<typeof startTestS3>>;
let bucketCount = 0;
beforeAll(async () => {
  s3 = await startTestS3([]);
});
afterAll(async () => {
  await s3?.stop();
});

describeStorageContract('S3Storage over s3rver', async () => {
  const names = [`contract-${++bucketCount}`, `contract-other-${bucketCount}`];
  for (const name of names) await createBucket(s3, name);
  return { storage: new S3Storage(s3.client, names[0]!), other: new S3Storage(s3.client, names[1]!) };
});

describe('S3Storage', () => {
  it('stores Content-Type and Cache-Control on the object', async () => {
    await createBucket(s3, 'headers');
    const storage = new S3Storage(s3.client, 'headers');
    await storage.put('a.avif', new Uint8Array([1, 2, 3]), {
      contentType: 'image/avif',
      cacheControl: 'public, max-age=86400',
    });
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'headers', Key: 'a.avif' }));
    expect([head.ContentType, head.CacheControl]).toEqual(['image/avif', 'public, max-age=86400']);
  });

  describe('against a server that fails', () => {
    let server: Server;
    let status = 503;
    let requests = 0;
    beforeAll(async () => {
      server = createServer((_, res) => {
        requests++;
        const code = status === 503 ? 'SlowDown' : 'AccessDenied';
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>test</Message></Error>`,
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    const storage = () => {
      const { port } = server.address() as { port: number };
      return new S3Storage(
        createS3Client({
          endpoint: `http://127.0.0.1:${port}`,
          forcePathStyle: true,
          credentials: LOCAL_CREDENTIALS,
        }),
        'b',
      );
    };

    it('marks 503 SlowDown as retryable after the SDK has retried it', async () => {
      status = 503;
      requests = 0;
      const error = (await storage()
        .get('k')
        .catch((e: unknown) => e)) as StorageError;
      expect(error).toBeInstanceOf(StorageError);
      expect(error.retryable).toBe(true);
      expect(error.message).toMatch(/^S3 get of s3:\/\/b\/k failed \(SlowDown, HTTP 503\)/);
      expect(requests).toBe(3);
    });

    it('marks 403 AccessDenied as not retryable', async () => {
      status = 403;
      const error = (await storage()
        .put('k', new Uint8Array(1), { contentType: 'image/jpeg' })
        .catch((e: unknown) => e)) as StorageError;
      expect(error.retryable).toBe(false);
      expect(error.code).toBe('storage/failed');
    });
  });

  it('marks a refused connection as retryable', async () => {
    const storage = new S3Storage(
      createS3Client({
        endpoint: 'http://127.0.0.1:9',
        forcePathStyle: true,
        credentials: LOCAL_CREDENTIALS,
      }),
      'b',
    );
    const error = (await storage.head('k').catch((e: unknown) => e)) as StorageError;
    expect(error.retryable).toBe(true);
  });
});

describe('FsStorage', () => {
  it('refuses keys that would leave its folder', async () => {
    const storage = new FsStorage(mkdtempSync(join(tmpdir(), 'imgpipe-fs-')));
    for (const key of ['../escape.jpg', 'a/../../b', '/abs.jpg', 'a//b']) {
      await expect(storage.put(key, new Uint8Array(1), { contentType: 'image/jpeg' })).rejects.toThrow(
        /cannot be stored in a folder/,
      );
    }
  });

  it('leaves no partial files behind', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-fs-'));
    const storage = new FsStorage(root);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        storage.put('same.json', new Uint8Array(i + 1), { contentType: 'application/json' }),
      ),
    );
    expect(readdirSync(root)).toEqual(['same.json']);
  });
});
