import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStorage } from '../../../src/storage/fs.ts';

const root = mkdtempSync(join(tmpdir(), 'imgpipe-fs-head-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('FsStorage.head', () => {
  it('describes a large file without holding it in memory', async () => {
    // A sparse file: 256 MiB of zeros that take no disk space.
    const size = 256 * 1024 * 1024;
    writeFileSync(join(root, 'big.bin'), '');
    truncateSync(join(root, 'big.bin'), size);
    const storage = new FsStorage(root);
    let peak = 0;
    const start = process.memoryUsage().arrayBuffers;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - start);
    }, 1);
    const info = await storage.head('big.bin').finally(() => clearInterval(sampler));
    const zeros = createHash('md5');
    const mib = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 256; i++) zeros.update(mib);
    expect(info).toMatchObject({ key: 'big.bin', size, etag: zeros.digest('hex') });
    // Streamed in chunks of 64 KiB (those not yet collected count: 64 MiB measured); reading it
    // whole took the file's 256 MiB in one allocation.
    expect(peak).toBeLessThan(size / 2);
  });

  it('is undefined for a missing key and for a folder', async () => {
    const storage = new FsStorage(root);
    writeFileSync(join(root, 'here.jpg'), 'abc');
    expect(await storage.head('gone.jpg')).toBeUndefined();
    mkdirSync(join(root, 'folder'));
    expect(await storage.head('folder')).toBeUndefined();
    expect(await storage.head('here.jpg')).toMatchObject({ size: 3, contentType: 'image/jpeg' });
  });
});
