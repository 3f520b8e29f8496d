import { createHash } from 'node:crypto';
import { type Dirent, mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { CopyObjectCommand, HeadObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
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

const PLAIN = { contentType: 'application/octet-stream' };
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
  it("names the version S3 read in a versioned bucket, and none for an unversioned one's 'null'", async () => {
    await createBucket(s3, 'versions');
    await new S3Storage(s3.client, 'versions').put('a.jpg', new Uint8Array([1]), PLAIN);
    // s3rver keeps no versions: its answer is given the header a versioned bucket's would have.
    const reading = (versionId: string) => {
      const client = createS3Client({
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: LOCAL_CREDENTIALS,
      });
      client.middlewareStack.add(
        (next) => async (args) => {
          const result = await next(args);
          (result.output as { VersionId?: string }).VersionId = versionId;
          return result;
        },
        { step: 'initialize', name: 'versionedBucket' },
      );
      return new S3Storage(client, 'versions').get('a.jpg');
    };
    expect((await reading('3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY')).versionId).toBe(
      '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY',
    );
    expect((await reading('null')).versionId).toBeUndefined();
  });

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

  it('stores user metadata and returns it from get and head', async () => {
    await createBucket(s3, 'metadata');
    const storage = new S3Storage(s3.client, 'metadata');
    const put = await storage.put('r.webp', new Uint8Array([1, 2, 3]), {
      contentType: 'image/webp',
      metadata: { 'imgpipe-source-etag': 'abc123' },
    });
    expect(put.metadata).toEqual({ 'imgpipe-source-etag': 'abc123' });
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'metadata', Key: 'r.webp' }));
    expect(head.Metadata).toEqual({ 'imgpipe-source-etag': 'abc123' });
    expect((await storage.get('r.webp')).metadata).toEqual({ 'imgpipe-source-etag': 'abc123' });
    expect((await storage.head('r.webp'))?.metadata).toEqual({ 'imgpipe-source-etag': 'abc123' });
  });

  it('reads an object whole while its key is written again, and as written once the put is answered', async () => {
    // The local server (patched s3rver) answered a PUT once it had read the body, before it was on
    // disk, and wrote over the stored object in place: a GET right after, or during a PUT of the
    // same key, read a short or empty object. S3 replaces an object whole; tests that read a
    // manifest another event was writing failed once in a while with "Unexpected end of JSON input".
    await createBucket(s3, 'whole');
    const storage = new S3Storage(s3.client, 'whole');
    const size = 8 * 1024 * 1024;
    const contents = [1, 2, 3, 4].map((n) => new Uint8Array(size).fill(n));
    await storage.put('k', contents[0]!, PLAIN);
    for (const [i, next] of contents.slice(1).entries()) {
      const before = contents[i]!;
      let writing = true;
      const put = storage.put('k', next, PLAIN).finally(() => {
        writing = false;
      });
      const seen: string[] = [];
      while (writing) {
        const { body } = await storage.get('k');
        const read = Buffer.from(body);
        seen.push(
          read.equals(before) ? 'old' : read.equals(next) ? 'new' : `${read.length} bytes of neither`,
        );
      }
      await put;
      expect(seen.filter((what) => what !== 'old' && what !== 'new')).toEqual([]);
      expect(Buffer.from((await storage.get('k')).body).equals(next)).toBe(true);
    }
  });

  it("reads each version's bytes with that version's ETag and metadata while its key is written again", async () => {
    // The local server renamed a PUT's bytes into place and then wrote its MD5 (the ETag) and
    // metadata files, and a GET read the metadata and then opened the bytes: a read in between
    // paired one version's bytes with another's ETag and metadata, which S3 never does. The
    // transformation's hit compares a result's metadata with its source's ETag.
    await createBucket(s3, 'paired');
    const storage = new S3Storage(s3.client, 'paired');
    const version = (n: number) => new Uint8Array(64 * 1024).fill(n % 256);
    const put = (n: number) => storage.put('k', version(n), { ...PLAIN, metadata: { n: String(n) } });
    await put(0);
    let writing = true;
    const writes = (async () => {
      for (let n = 1; n <= 150; n++) await put(n);
    })().finally(() => {
      writing = false;
    });
    const mismatches: string[] = [];
    let reads = 0;
    while (writing) {
      const objects = await Promise.all([storage.get('k'), storage.get('k'), storage.head('k')]);
      for (const object of objects) {
        reads++;
        if (!object) {
          mismatches.push('no object');
          continue;
        }
        const n = Number(object.metadata?.n);
        const body = 'body' in object ? Buffer.from(object.body) : undefined;
        const expected = createHash('md5').update(version(n)).digest('hex');
        if (object.etag !== expected || (body && !body.equals(version(n))))
          mismatches.push(`metadata n=${n}, ETag ${object.etag}, bytes of ${body?.[0] ?? '(head)'}`);
      }
    }
    await writes;
    expect(reads).toBeGreaterThan(0);
    expect(mismatches).toEqual([]);
  });

  it("reads a key only between a PUT's writes of its bytes, ETag and metadata, whatever the timing", async () => {
    // The test above races reads against PUTs and can pass however the server orders them. This
    // one holds a PUT of the local server's store (the real FilesystemStore) between renaming its
    // bytes into place and writing their MD5 and metadata, and starts a GET of the key there: the
    // GET must not read the metadata until the PUT has written it, or it pairs the new bytes with
    // the previous version's ETag.
    const require = createRequire(import.meta.url);
    const FilesystemStore = require('s3rver/lib/stores/filesystem.js') as new (
      root: string,
    ) => {
      putBucket(bucket: string): Promise<void>;
      putObject(object: unknown): Promise<unknown>;
      getObject(
        bucket: string,
        key: string,
      ): Promise<{ metadata: Record<string, string>; content: NodeJS.ReadableStream & { destroy(): void } }>;
      putMetadata(...args: unknown[]): Promise<void>;
      getMetadata(...args: unknown[]): Promise<unknown>;
    };
    const S3Object = require('s3rver/lib/models/object.js') as new (
      bucket: string,
      key: string,
      content: Buffer,
      metadata: Record<string, string>,
    ) => unknown;
    const store = new FilesystemStore(mkdtempSync(join(tmpdir(), 'imgpipe-store-')));
    await store.putBucket('b');
    const object = (text: string) =>
      new S3Object('b', 'k', Buffer.from(text), { 'content-type': 'text/plain', 'x-amz-meta-v': text });
    await store.putObject(object('one'));
    const events: string[] = [];
    const putMetadata = store.putMetadata.bind(store);
    let entered!: () => void;
    const inMetadata = new Promise<void>((resolveEntered) => {
      entered = resolveEntered;
    });
    let release!: () => void;
    const held = new Promise<void>((resolveHeld) => {
      release = resolveHeld;
    });
    store.putMetadata = async (...args) => {
      entered();
      await held;
      await putMetadata(...args);
      events.push('put wrote its metadata');
    };
    const getMetadata = store.getMetadata.bind(store);
    store.getMetadata = (...args) => {
      events.push('get read the metadata');
      return getMetadata(...args);
    };
    const put = store.putObject(object('two!'));
    await inMetadata;
    const read = store.getObject('b', 'k');
    release();
    await put;
    const got = await read;
    got.content.destroy();
    expect(events).toEqual(['put wrote its metadata', 'get read the metadata']);
    expect(got.metadata['x-amz-meta-v']).toBe('two!');
    expect(got.metadata.etag).toBe(JSON.stringify(createHash('md5').update('two!').digest('hex')));
  });

  it('gives a copy over an existing key the ETag of what it copied, metadata replaced or not', async () => {
    // The local server copied the bytes over the destination in place and, with replacement
    // metadata, left the destination's previous MD5 file: the copy had the ETag of the object it
    // replaced.
    await createBucket(s3, 'copies');
    const storage = new S3Storage(s3.client, 'copies');
    const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
    const source = new Uint8Array(1000).fill(7);
    await storage.put('source', source, { ...PLAIN, metadata: { from: 'source' } });
    for (const directive of ['COPY', 'REPLACE'] as const) {
      const key = `dest-${directive}`;
      await storage.put(key, new Uint8Array(10).fill(1), { ...PLAIN, metadata: { from: 'old' } });
      await s3.client.send(
        new CopyObjectCommand({
          Bucket: 'copies',
          Key: key,
          CopySource: 'copies/source',
          MetadataDirective: directive,
          ...(directive === 'REPLACE' ? { Metadata: { from: 'replaced' } } : {}),
          ContentType: PLAIN.contentType,
        }),
      );
      const copy = await storage.get(key);
      expect(Buffer.from(copy.body).equals(source)).toBe(true);
      expect(copy.etag).toBe(md5(source));
      expect(copy.metadata?.from).toBe(directive === 'REPLACE' ? 'replaced' : 'source');
    }
  });

  it('pages through a listing longer than a page (the local server continues it)', async () => {
    await createBucket(s3, 'pages');
    const keys = ['p/a', 'p/b', 'p/b/c', 'p/b.d', 'p/\u00e9', 'p/\u{1F600}', 'p/\uFF01'];
    for (const key of keys) await new S3Storage(s3.client, 'pages').put(key, new Uint8Array(1), PLAIN);
    const listed: string[] = [];
    for await (const page of paginateListObjectsV2({ client: s3.client, pageSize: 2 }, { Bucket: 'pages' }))
      listed.push(...(page.Contents ?? []).map((o) => o.Key!));
    // S3's order is that of the keys' UTF-8 bytes: U+1F600 (F0…) after U+FF01 (EF…).
    expect(listed).toEqual(['p/a', 'p/b', 'p/b.d', 'p/b/c', 'p/\u00e9', 'p/\uFF01', 'p/\u{1F600}']);
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

  it('fails a connection that goes silent before the headers (the SDK retries it) or in the middle of the body', async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      // A GET gets its headers and half its body, then nothing; a HEAD gets nothing at all.
      if (req.method === 'GET') {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': '10',
          etag: '"e"',
        });
        res.write('12345');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const storage = new S3Storage(
        createS3Client({
          endpoint: `http://127.0.0.1:${port}`,
          forcePathStyle: true,
          credentials: LOCAL_CREDENTIALS,
          idleTimeoutMs: 300,
        }),
        'b',
      );
      const head = (await storage.head('k').catch((e: unknown) => e)) as StorageError;
      expect(head).toBeInstanceOf(StorageError);
      expect(head.retryable).toBe(true);
      expect(head.message).toMatch(/^S3 head of s3:\/\/b\/k failed \(TimeoutError\).*timed out after 300 ms/);
      expect(requests, 'the SDK retried it').toBe(3);
      const get = (await storage.get('k').catch((e: unknown) => e)) as StorageError;
      expect(get).toBeInstanceOf(StorageError);
      expect(get.retryable).toBe(true);
      expect(get.message).toMatch(/^S3 get of s3:\/\/b\/k failed \(TimeoutError\).*timed out after 300 ms/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
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
  const folder = () => mkdtempSync(join(tmpdir(), 'imgpipe-fs-'));
  const put = (storage: FsStorage, key: string, body = key) =>
    storage.put(key, new TextEncoder().encode(body), { contentType: 'image/jpeg' });
  /** Every file under root, as paths relative to it with `/` separators. */
  const filesUnder = (root: string) =>
    (readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((entry) => entry.isFile())
      .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
      .sort();

  it('refuses keys that would leave its folder, naming the key', async () => {
    const storage = new FsStorage(folder());
    for (const key of ['../escape.jpg', 'a/../../b', '..', './../x']) {
      await expect(put(storage, key)).rejects.toThrow(
        `The key ${JSON.stringify(key)} cannot be stored in a folder: it would leave ${storage.root}`,
      );
    }
  });

  it('refuses keys S3 refuses: empty, over 1024 bytes of UTF-8, or not valid Unicode', async () => {
    const storage = new FsStorage(folder());
    await expect(put(storage, '')).rejects.toThrow('The key "" cannot be stored: it is empty');
    await expect(put(storage, `${'é'.repeat(512)}x`)).rejects.toThrow(
      /cannot be stored: it is 1025 bytes of UTF-8, more than the 1024 S3 allows/,
    );
    await expect(put(storage, 'lone\ud800.jpg')).rejects.toThrow(/cannot be stored: it is not valid Unicode/);
    await expect(put(storage, '')).rejects.toMatchObject({ code: 'storage/bad-key', retryable: false });
  });

  it('stores plain keys as plain paths, so the folder can be browsed', async () => {
    const root = folder();
    const storage = new FsStorage(root);
    const keys = ['large/photos/a b+ü.jpg.webp', 'manifests/x\\y.jpg.json', '.hidden/%41.jpg', '100%'];
    for (const key of keys) await put(storage, key);
    expect(filesUnder(root)).toEqual([...keys].sort());
  });

  it('encodes only what a folder cannot hold, in names of at most 255 bytes, and lists the keys back', async () => {
    const root = folder();
    const storage = new FsStorage(root);
    const name = `${'€'.repeat(100)}.jpg`; // 304 bytes of UTF-8
    const keys = [
      `large/${name}.webp`,
      'a/./b',
      'a/../c',
      'a//d',
      '/lead',
      'nul\0byte',
      '%',
      '%.',
      '%2E',
      '%+x',
      '%~y',
    ];
    for (const key of keys) await put(storage, key);
    for (const file of filesUnder(root)) {
      for (const segment of file.split('/')) expect(Buffer.byteLength(segment)).toBeLessThanOrEqual(255);
      expect(file).not.toMatch(/(^|\/)\.\.?(\/|$)/);
    }
    const listed: string[] = [];
    for await (const info of storage.list()) listed.push(info.key);
    expect(listed).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    for (const key of keys) expect(new TextDecoder().decode((await storage.get(key)).body)).toBe(key);
  });

  it('writes a name of 255 bytes through a temporary file without exceeding the limit', async () => {
    const root = folder();
    const storage = new FsStorage(root);
    const key = `out/${'n'.repeat(251)}.jpg`;
    await put(storage, key);
    expect(filesUnder(root)).toEqual([key]);
  });

  it('names the clash when a key would be both an object and a folder of other keys', async () => {
    const storage = new FsStorage(folder());
    await put(storage, 'a');
    await expect(put(storage, 'a/b')).rejects.toThrow(
      `Cannot put ${storage.locate('a/b')}: a folder cannot hold "a/b" beside the object "a"`,
    );
    await put(storage, 'c/d');
    const error = await put(storage, 'c').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'storage/failed', retryable: false, operation: 'put' });
    expect((error as Error).message).toBe(
      `Cannot put ${storage.locate('c')}: a folder cannot hold "c" beside keys under "c/"`,
    );
  });

  it('leaves no partial files behind', async () => {
    const root = folder();
    const storage = new FsStorage(root);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        storage.put('same.json', new Uint8Array(i + 1), { contentType: 'application/json' }),
      ),
    );
    expect(readdirSync(root)).toEqual(['same.json']);
  });

  it('removes folders a delete leaves empty, and keeps the root', async () => {
    const root = folder();
    const storage = new FsStorage(root);
    await put(storage, 'a/b/c/d.jpg');
    await put(storage, 'a/keep.jpg');
    await put(storage, `long/${'x'.repeat(600)}`);
    await storage.delete('a/b/c/d.jpg');
    await storage.delete(`long/${'x'.repeat(600)}`);
    expect(readdirSync(root)).toEqual(['a']);
    expect(readdirSync(join(root, 'a'))).toEqual(['keep.jpg']);
    await storage.delete('a/keep.jpg');
    expect(readdirSync(root)).toEqual([]);
  });
});
