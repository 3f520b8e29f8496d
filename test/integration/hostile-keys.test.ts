import { createHash } from 'node:crypto';
import {
  type Dirent,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/core/errors.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { runCli } from '../support/cli.ts';
import { readFixture } from '../support/fixtures.ts';

/**
 * Hostile keys against the filesystem storage (`imgpipe process`'s output folder): path traversal
 * (`../`, and its URL-encoded forms, which S3 keys may hold literally), absolute paths, keys over
 * S3's 1024 bytes and segments over NAME_MAX, control characters and NUL. Each is refused with a
 * clear error naming the key, or stored inside the root and read back as the same key; nothing
 * outside the root is created, changed or deleted.
 */
const sandbox = mkdtempSync(join(tmpdir(), 'imgpipe-keys-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

/** Every file and folder under `folder` but `root`, with its content hash and modification time. */
function outside(folder: string, root: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true }) as Dirent[]) {
    const path = join(entry.parentPath, entry.name);
    if (path === root || path.startsWith(root + sep)) continue;
    const stat = statSync(path);
    const content = entry.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'folder';
    found.set(relative(folder, path), `${content} ${stat.mtimeMs} ${stat.mode}`);
  }
  return found;
}

/** A sandbox with files where a traversal would land: beside the root, above it, and as a sibling folder. */
function setUp(name: string): { base: string; root: string } {
  const base = join(sandbox, name);
  const root = join(base, 'a', 'out');
  mkdirSync(root, { recursive: true });
  mkdirSync(join(base, 'a', 'outside'), { recursive: true });
  for (const file of ['victim.png', 'a/victim.png', 'a/outside/victim.png', 'a/out.png'])
    writeFileSync(join(base, file), `do not touch ${file}`);
  return { base, root };
}

const LONG_SEGMENT = `${'n'.repeat(300)}.jpg`;
const OVER_S3 = `${'k/'.repeat(300)}${'x'.repeat(430)}.jpg`;

describe('hostile keys and the filesystem storage', () => {
  it('refuses keys that leave the root or that S3 refuses, with an error naming the key', async () => {
    const { base, root } = setUp('refused');
    const before = outside(base, root);
    const storage = new FsStorage(root);
    const refused: [string, RegExp][] = [
      ['../victim.png', /would leave/],
      ['../../victim.png', /would leave/],
      ['../outside/victim.png', /would leave/],
      ['a/../../victim.png', /would leave/],
      ['./../victim.png', /would leave/],
      ['..', /would leave/],
      ['x/../../../../../../../../etc/passwd', /would leave/],
      ['', /it is empty/],
      [OVER_S3, /it is 1034 bytes of UTF-8, more than the 1024 S3 allows/],
      ['lone\ud800.png', /not valid Unicode/],
    ];
    const body = new TextEncoder().encode('hostile');
    for (const [key, reason] of refused) {
      const operations = [
        () => storage.put(key, body, { contentType: 'image/png' }),
        () => storage.get(key),
        () => storage.delete(key),
        () => storage.copyFrom(storage, 'x', key),
        () => new FsStorage(root).copyFrom(storage, key, 'copy.png'),
      ];
      for (const operation of operations) {
        const error = await operation().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, JSON.stringify(key)).toBeInstanceOf(StorageError);
        expect(error).toMatchObject({ code: 'storage/bad-key', retryable: false });
        expect((error as Error).message).toContain(`The key ${JSON.stringify(key)} cannot be stored`);
        expect((error as Error).message).toMatch(reason);
      }
    }
    expect(outside(base, root)).toEqual(before);
    expect(readdirSync(root)).toEqual([]);
  });

  it('keeps every other key inside the root, under one path, and lists it back unchanged', async () => {
    const { base, root } = setUp('mapped');
    const before = outside(base, root);
    const storage = new FsStorage(root);
    const keys = [
      '%2e%2e%2fvictim.png', // URL-encoded traversal: a literal name to S3 and to us
      '%2E%2E/%2E%2E/victim.png',
      '..%2f..%2fvictim.png',
      '..%252f..%252fvictim.png',
      '..\\..\\victim.png', // a backslash is a character of the name on Linux
      '/victim.png', // absolute: an empty first segment
      `${base}/victim.png`,
      `/${relative('/', base)}/a/outside/victim.png`,
      '//double//slash.png',
      'a/../victim.png', // stays inside: a/.. is the root
      'x/./y/../victim.png',
      '.../victim.png',
      'nul\0byte.png',
      '\0',
      'a/\0/../../b.png', // the NUL segment is a folder of its own, so this stays inside
      'ctl\x01\x07\x1b[31mred\x1b[0m\n\r\t.png',
      '\x7f\u0085\u2028\u202e.png',
      LONG_SEGMENT,
      `deep/${'€'.repeat(100)}/${'é'.repeat(200)}.png`,
      `${'a/'.repeat(500)}z`, // 1001 bytes, 501 levels
      'x'.repeat(1022), // its copy, c/xxx…, is 1024 bytes: the most S3 allows
    ];
    const body = (key: string) => new TextEncoder().encode(`content of ${JSON.stringify(key)}`);
    for (const key of keys) await storage.put(key, body(key), { contentType: 'image/png' });
    for (const key of keys) await storage.copyFrom(storage, key, `c/${key}`);
    expect(outside(base, root)).toEqual(before);

    const listed: string[] = [];
    for await (const info of storage.list()) listed.push(info.key);
    const all = [...keys, ...keys.map((k) => `c/${k}`)];
    expect(listed.sort()).toEqual([...new Set(all)].sort());
    for (const key of all) {
      const original = key.startsWith('c/') ? key.slice('c/'.length) : key;
      expect(new TextDecoder().decode((await storage.get(key)).body)).toBe(
        `content of ${JSON.stringify(original)}`,
      );
    }
    // No name on disk is over NAME_MAX, `.` or `..`, or holds NUL.
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[]) {
      expect(Buffer.byteLength(entry.name)).toBeLessThanOrEqual(255);
      expect(['.', '..']).not.toContain(entry.name);
      expect(entry.name).not.toContain('\0');
    }
    for (const key of all) await storage.delete(key);
    expect(readdirSync(root)).toEqual([]);
    expect(outside(base, root)).toEqual(before);
  });

  it('imgpipe process - --name: any usable key stays inside --out; the others are refused by name', async () => {
    const { base, root } = setUp('cli');
    const before = outside(base, root);
    const png = readFixture('edge/formats/1x1.png');
    const run = (name: string) =>
      runCli(['process', '-', '--name', name, '--out', root, '--quiet'], { input: png, cwd: base });

    for (const name of ['../victim.png', '/tmp/victim.png']) {
      const result = await run(name);
      expect(result.code, name).toBe(2);
      expect(result.stderr).toContain(`--name ${JSON.stringify(name)} is not a usable key`);
    }
    const tooLong = await run(OVER_S3);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('is 1034 bytes of UTF-8, more than the 1024 S3 allows');

    const stored = ['%2e%2e%2fvictim.png', 'ctl\x01\x1b[31m\n.png', LONG_SEGMENT];
    for (const name of stored) {
      const result = await run(name);
      expect(result.stderr, JSON.stringify(name)).toBe('');
      expect(result.code).toBe(0);
    }
    const storage = new FsStorage(root);
    const listed: string[] = [];
    for await (const info of storage.list()) listed.push(info.key);
    for (const name of stored) {
      expect(listed).toContain(`manifests/${name}.json`);
      expect(listed).toContain(`small/${name}.webp`);
    }
    expect(outside(base, root)).toEqual(before);
  });
});
