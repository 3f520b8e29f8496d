import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStorage, removeTemporaryFilesNow } from '../../../src/storage/fs.ts';
import { isTemporaryName } from '../../../src/storage/fs-keys.ts';

const root = mkdtempSync(join(tmpdir(), 'imgpipe-fs-temporary-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('removeTemporaryFilesNow', () => {
  it("removes the temporary file of a write in progress, as imgpipe process's Ctrl-C does before it exits", async () => {
    // A copy of a sparse 256 MiB file whose ETag is checked on the temporary file: it stays there
    // while it is copied and read through.
    mkdirSync(join(root, 'in'));
    mkdirSync(join(root, 'out'));
    writeFileSync(join(root, 'in', 'big.bin'), '');
    truncateSync(join(root, 'in', 'big.bin'), 256 * 1024 * 1024);
    const out = join(root, 'out');
    const copy = new FsStorage(out)
      .copyFrom(new FsStorage(join(root, 'in')), 'big.bin', 'copy.bin', { ifMatch: 'not-its-etag' })
      .catch((error: unknown) => error);
    const temporaries = () => readdirSync(out).filter(isTemporaryName);
    const until = Date.now() + 10_000;
    while (temporaries().length === 0 && Date.now() < until) await new Promise((r) => setImmediate(r));
    expect(temporaries()).toHaveLength(1);
    removeTemporaryFilesNow();
    expect(temporaries()).toEqual([]);
    await copy;
    expect(readdirSync(out)).toEqual([]);
  });
});
