import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ObjectNotFoundError, ObjectTooLargeError } from '../../src/core/errors.ts';
import type { Storage } from '../../src/storage/types.ts';

/**
 * What every Storage must do. Run against each implementation (FsStorage, S3Storage over a real
 * S3 API server): the pipeline relies on exactly these behaviours and nothing else.
 */
export function describeStorageContract(
  name: string,
  setup: () => Promise<{ storage: Storage; other: Storage }>,
): void {
  describe(`${name} (Storage contract)`, () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    const md5 = (body: Uint8Array) => createHash('md5').update(body).digest('hex');

    it('returns what was put, with size, unquoted MD5 ETag and content type', async () => {
      const { storage } = await setup();
      const body = bytes('hello pixels');
      const put = await storage.put('a/b/c.webp', body, {
        contentType: 'image/webp',
        cacheControl: 'max-age=60',
      });
      expect(put.etag).toBe(md5(body));
      const got = await storage.get('a/b/c.webp');
      expect(Buffer.from(got.body).toString()).toBe('hello pixels');
      expect(got).toMatchObject({
        key: 'a/b/c.webp',
        size: body.length,
        etag: md5(body),
        contentType: 'image/webp',
      });
    });

    it('keeps keys with spaces and non-ASCII characters', async () => {
      const { storage } = await setup();
      await storage.put('dir with space/a bü+€.jpg', bytes('x'), { contentType: 'image/jpeg' });
      expect((await storage.get('dir with space/a bü+€.jpg')).size).toBe(1);
    });

    it('replaces an object on a second put', async () => {
      const { storage } = await setup();
      await storage.put('k.json', bytes('one'), { contentType: 'application/json' });
      await storage.put('k.json', bytes('two!'), { contentType: 'application/json' });
      expect(Buffer.from((await storage.get('k.json')).body).toString()).toBe('two!');
    });

    it('throws ObjectNotFoundError for a missing key and head returns undefined', async () => {
      const { storage } = await setup();
      await expect(storage.get('missing.jpg')).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await storage.head('missing.jpg')).toBeUndefined();
    });

    it('refuses an object larger than maxBytes with its size and the limit', async () => {
      const { storage } = await setup();
      await storage.put('big.bin', new Uint8Array(5000), { contentType: 'application/octet-stream' });
      const error = await storage.get('big.bin', { maxBytes: 4999 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectTooLargeError);
      expect(error).toMatchObject({ size: 5000, maxBytes: 4999 });
      expect((await storage.get('big.bin', { maxBytes: 5000 })).size).toBe(5000);
    });

    it('describes an object without reading it', async () => {
      const { storage } = await setup();
      await storage.put('h.png', bytes('12345'), { contentType: 'image/png' });
      expect(await storage.head('h.png')).toMatchObject({ key: 'h.png', size: 5, etag: md5(bytes('12345')) });
    });

    it('copies from another storage of the same kind, byte for byte', async () => {
      const { storage, other } = await setup();
      const body = new Uint8Array(3000).map((_, i) => i % 251);
      await other.put('src/photo one.jpg', body, { contentType: 'image/jpeg' });
      await storage.copyFrom(other, 'src/photo one.jpg', 'quarantine/objects/src/photo one.jpg');
      expect(
        Buffer.compare(
          Buffer.from((await storage.get('quarantine/objects/src/photo one.jpg')).body),
          Buffer.from(body),
        ),
      ).toBe(0);
      expect((await other.get('src/photo one.jpg')).size).toBe(3000);
    });

    it('lists keys under a prefix in key order', async () => {
      const { storage } = await setup();
      for (const key of ['l/b.jpg', 'l/a/z.jpg', 'l/c.jpg', 'm/x.jpg'])
        await storage.put(key, bytes(key), { contentType: 'image/jpeg' });
      const keys: string[] = [];
      for await (const info of storage.list('l/')) keys.push(info.key);
      expect(keys).toEqual(['l/a/z.jpg', 'l/b.jpg', 'l/c.jpg']);
      const after: string[] = [];
      for await (const info of storage.list('l/', 'l/b.jpg')) after.push(info.key);
      expect(after).toEqual(['l/c.jpg']);
    });

    it('names its location in every key it describes', async () => {
      const { storage } = await setup();
      expect(storage.locate('x/y.jpg')).toBe(`${storage.location}/x/y.jpg`);
      const error = (await storage.get('nope').catch((e: unknown) => e)) as ObjectNotFoundError;
      expect(error.location).toBe(storage.locate('nope'));
    });
  });
}
