import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ObjectChangedError, ObjectNotFoundError, ObjectTooLargeError } from '../../src/core/errors.ts';
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

    it('refuses an object larger than maxBytes with its size, the limit and its ETag', async () => {
      const { storage } = await setup();
      await storage.put('big.bin', new Uint8Array(5000), { contentType: 'application/octet-stream' });
      const error = await storage.get('big.bin', { maxBytes: 4999 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectTooLargeError);
      // The ETag tells a file quarantined as too large before from new content under its key.
      const etag = createHash('md5').update(new Uint8Array(5000)).digest('hex');
      expect(error).toMatchObject({ size: 5000, maxBytes: 4999, etag });
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

    it('copies only while the source still has the ETag it was asked for', async () => {
      const { storage, other } = await setup();
      const first = await other.put('src/replaced.jpg', bytes('first upload'), { contentType: 'image/jpeg' });
      await storage.copyFrom(other, 'src/replaced.jpg', 'q/one.jpg', { ifMatch: first.etag });
      expect(new TextDecoder().decode((await storage.get('q/one.jpg')).body)).toBe('first upload');

      // Replaced between the read and the copy: the copy must not pass the new bytes off as the old.
      await other.put('src/replaced.jpg', bytes('second upload'), { contentType: 'image/jpeg' });
      const error = await storage
        .copyFrom(other, 'src/replaced.jpg', 'q/two.jpg', { ifMatch: first.etag })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectChangedError);
      expect((error as Error).message).toContain(first.etag);
      expect((error as Error).message).toContain('src/replaced.jpg');
      expect(await storage.head('q/two.jpg')).toBeUndefined();
    });

    it('names the source, not the copy, when there is no source to copy', async () => {
      const { storage, other } = await setup();
      const error = await storage
        .copyFrom(other, 'src/never-there.jpg', 'q/never.jpg')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectNotFoundError);
      expect(error).toMatchObject({
        operation: 'copy',
        location: other.locate('src/never-there.jpg'),
        message: `No object at ${other.locate('src/never-there.jpg')}`,
      });
      expect(await storage.head('q/never.jpg')).toBeUndefined();
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

    it('deletes an object, and deleting a missing key is not an error', async () => {
      const { storage } = await setup();
      for (const key of ['del/a.jpg', 'del/b.jpg', 'del/sub/c.jpg'])
        await storage.put(key, bytes(key), { contentType: 'image/jpeg' });
      await storage.delete('del/a.jpg');
      await storage.delete('del/sub/c.jpg');
      await expect(storage.get('del/a.jpg')).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await storage.head('del/sub/c.jpg')).toBeUndefined();
      await storage.delete('del/a.jpg');
      await storage.delete('del/never-there.jpg');
      const keys: string[] = [];
      for await (const info of storage.list('del/')) keys.push(info.key);
      expect(keys).toEqual(['del/b.jpg']);
      // A deleted key can be written again, as a file or as a folder of other keys.
      await storage.put('del/sub', bytes('now a file'), { contentType: 'application/octet-stream' });
      expect((await storage.get('del/sub')).size).toBe(10);
    });

    // Keys S3 accepts that a folder cannot hold as plain names, or that URL handling mangles:
    // every one must come back as it was put, from get, head, copy and list.
    const unusualKeys = [
      ...[...'+?#;&=$,@:'].map((c) => `chars/x${c}y.jpg`),
      'chars/per%41cent%.jpg',
      'chars/back\\slash.jpg',
      'chars/tilde~and space.jpg',
      'dots/./same.jpg',
      'dots/../up.jpg',
      'dots/ends.',
      'last/.',
      'last/..',
      'empty//segment.jpg',
      'trailing/',
      `long/${'n'.repeat(300)}.jpg.webp`,
      `long/${'ü'.repeat(200)}.jpg`,
      `${'k'.repeat(1020)}.jpg`,
    ];

    it('keeps every key S3 accepts, byte for byte, through put, get, head, copy and list', async () => {
      const { storage, other } = await setup();
      for (const key of unusualKeys) {
        await other.put(key, bytes(key), { contentType: 'application/octet-stream' });
        await storage.copyFrom(other, key, key);
        const got = await storage.get(key);
        expect(Buffer.from(got.body).toString(), key).toBe(key);
        expect(got.key).toBe(key);
        expect((await storage.head(key))?.size, key).toBe(Buffer.byteLength(key));
      }
      const listed: string[] = [];
      for await (const info of storage.list()) listed.push(info.key);
      const byteOrder = [...unusualKeys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(listed).toEqual(byteOrder);
      for (const key of unusualKeys) await storage.delete(key);
      const left: string[] = [];
      for await (const info of storage.list()) left.push(info.key);
      expect(left).toEqual([]);
    });

    it('continues a listing after a key in the order of UTF-8 bytes, not of UTF-16 code units', async () => {
      const { storage } = await setup();
      // U+FF01 is EF BC 81 in UTF-8 and U+1F600 is F0 9F 98 80: the emoji comes after it in S3's order,
      // though a JavaScript string comparison puts it first (surrogate D83D < FF01).
      for (const key of ['u/\uFF01', 'u/\u{1F600}'])
        await storage.put(key, bytes(key), { contentType: 'text/plain' });
      const after: string[] = [];
      for await (const info of storage.list('u/', 'u/\uFF01')) after.push(info.key);
      expect(after).toEqual(['u/\u{1F600}']);
    });

    it('names its location in every key it describes', async () => {
      const { storage } = await setup();
      expect(storage.locate('x/y.jpg')).toBe(`${storage.location}/x/y.jpg`);
      const error = (await storage.get('nope').catch((e: unknown) => e)) as ObjectNotFoundError;
      expect(error.location).toBe(storage.locate('nope'));
    });
  });
}
