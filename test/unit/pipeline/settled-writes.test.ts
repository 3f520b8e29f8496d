import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { StorageError } from '../../../src/core/errors.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { deleteOutputs, processObject } from '../../../src/pipeline/process-object.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import type { Storage } from '../../../src/storage/types.ts';
import { readFixture } from '../../support/fixtures.ts';

/**
 * A failed invocation must leave nothing in flight. Lambda retries a failed event later; a write
 * still running from the failed try (the SDK retrying it after a back-off) would land during the
 * next one, or after it, out of the order the pipeline keeps (manifest last). The fault test found
 * one landing in the second delivery; here the timing is forced.
 */
const slowly = () => new Promise((resolve) => setTimeout(resolve, 200));

function storageWhere(files: FsStorage, failing: (key: string) => boolean, log: string[]): Storage {
  return Object.assign(Object.create(files) as FsStorage, {
    async put(...args: Parameters<Storage['put']>) {
      const [key] = args;
      if (failing(key)) {
        log.push(`failed ${key}`);
        throw new StorageError('put', key, `S3 put of ${key} failed (InternalError)`, { retryable: true });
      }
      await slowly();
      const info = await files.put(...args);
      log.push(`put ${key}`);
      return info;
    },
    async delete(key: string) {
      if (failing(key)) {
        log.push(`failed ${key}`);
        throw new StorageError('delete', key, `S3 delete of ${key} failed (InternalError)`, {
          retryable: true,
        });
      }
      await slowly();
      await files.delete(key);
      log.push(`deleted ${key}`);
    },
  });
}

describe('a write that fails while others are in flight', () => {
  it('processObject throws only once every other output write has ended, and writes no manifest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-settle-'));
    const config = parsePipelineConfig({
      variants: [
        { name: 'm', width: 64 },
        { name: 's', width: 24 },
      ],
      formats: { jpeg: {}, webp: {} },
    });
    const layout = new BucketLayout(config, 'quarantine/');
    const source = new FsStorage(join(root, 'in'));
    await source.put('a.jpg', readFixture('photos/landscape-picos-de-europa.jpg'), {
      contentType: 'image/jpeg',
    });
    const log: string[] = [];
    const output = storageWhere(new FsStorage(join(root, 'out')), (key) => key.startsWith('s/'), log);

    const run = processObject(
      { bucket: 'in', key: 'a.jpg' },
      { config, layout, source: () => source, output, quarantine: new FsStorage(join(root, 'q')) },
    );
    await expect(run).rejects.toThrow(/put of s\/a\.jpg\.\w+ failed/);
    const after = log.length;
    await slowly();
    await slowly();
    expect(log.length, 'no write ended after the invocation did').toBe(after);
    expect(log.filter((line) => line.startsWith('put '))).toHaveLength(2);
    expect(log.some((line) => line.includes('manifests/'))).toBe(false);
  });

  it('deleteOutputs throws only once every other delete has ended, and keeps the manifest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-settle-'));
    const files = new FsStorage(join(root, 'out'));
    const keys = ['m/a.jpg.webp', 's/a.jpg.webp', 'm/a.jpg.jpeg', 's/a.jpg.jpeg'];
    for (const key of keys) await files.put(key, new Uint8Array([1]), { contentType: 'image/webp' });
    await files.put('manifests/a.jpg.json', new Uint8Array([1]), { contentType: 'application/json' });
    const log: string[] = [];
    const output = storageWhere(files, (key) => key === 's/a.jpg.webp', log);
    const manifest = { outputs: keys.map((key) => ({ key })) } as unknown as Parameters<
      typeof deleteOutputs
    >[2];

    await expect(deleteOutputs(output, 'manifests/a.jpg.json', manifest)).rejects.toThrow(
      /delete of s\/a\.jpg\.webp/,
    );
    const after = log.length;
    await slowly();
    await slowly();
    expect(log.length, 'no delete ended after the call did').toBe(after);
    expect(log.filter((line) => line.startsWith('deleted '))).toHaveLength(3);
    expect(await files.head('manifests/a.jpg.json')).toBeDefined();
  });
});
