import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { processObject } from '../../../src/pipeline/process-object.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import type { Storage } from '../../../src/storage/types.ts';

/**
 * An invalid upload replaced between the read that found it invalid and the quarantine copy: the
 * copy must not put the new content beside a record naming the old ETag. The new content has its
 * own event; this one ends `missing` (the version it names is gone) and quarantines nothing.
 */
describe('processObject when the source is replaced while it is being quarantined', () => {
  it('copies nothing and records the event as missing, naming the ETag that is gone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-qrace-'));
    const config = parsePipelineConfig({});
    const layout = new BucketLayout(config, 'quarantine/');
    const files = new FsStorage(join(root, 'in'));
    const output = new FsStorage(join(root, 'out'));
    const quarantine = new FsStorage(join(root, 'quarantine'));
    const first = await files.put('upload.jpg', new TextEncoder().encode('not an image, first upload'), {
      contentType: 'image/jpeg',
    });

    // The source as the pipeline sees it: the object is overwritten as soon as it has been read.
    let replaced = false;
    const source: Storage = Object.assign(Object.create(files) as FsStorage, {
      async get(...args: Parameters<Storage['get']>) {
        const object = await files.get(...args);
        if (!replaced) {
          replaced = true;
          await files.put('upload.jpg', new TextEncoder().encode('second upload, also text'), {
            contentType: 'image/jpeg',
          });
        }
        return object;
      },
    });

    const outcome = await processObject(
      { bucket: 'in', key: 'upload.jpg' },
      { config, layout, source: () => source, output, quarantine },
    );
    expect(replaced).toBe(true);
    expect(outcome.status).toBe('missing');
    expect(outcome).toMatchObject({ etag: first.etag });
    expect((outcome as { message: string }).message).toContain(first.etag);
    const keys = layout.quarantineKeys('upload.jpg');
    expect(await quarantine.head(keys.object)).toBeUndefined();
    expect(await quarantine.head(keys.reason)).toBeUndefined();
  });
});

/**
 * S3 delivers an event at least once: the same invalid version again finds its quarantine done. The
 * outcome says so (`repeated`), so the handlers count it as a duplicate and announce nothing; a
 * forced run (bulk reprocessing) is a new judgement.
 */
describe('processObject on an invalid version quarantined already', () => {
  it('copies and records nothing the second time and says so; a forced run is not repeated', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-qagain-'));
    const config = parsePipelineConfig({});
    const layout = new BucketLayout(config, 'quarantine/');
    const files = new FsStorage(join(root, 'in'));
    const output = new FsStorage(join(root, 'out'));
    const quarantine = new FsStorage(join(root, 'quarantine'));
    await files.put('bad.jpg', new TextEncoder().encode('text, not a JPEG'), { contentType: 'image/jpeg' });
    const deps = { config, layout, source: () => files, output, quarantine };
    const ref = { bucket: 'in', key: 'bad.jpg' };
    const keys = layout.quarantineKeys('bad.jpg');

    const first = await processObject(ref, deps);
    expect(first).toMatchObject({ status: 'quarantined', reason: 'unsupported-format', repeated: false });
    const record = await quarantine.head(keys.reason);
    expect(record).toBeDefined();

    const again = await processObject(ref, deps);
    expect(again).toMatchObject({ status: 'quarantined', reason: 'unsupported-format', repeated: true });
    expect((await quarantine.head(keys.reason))?.etag).toBe(record!.etag);

    const forced = await processObject(ref, { ...deps, force: true });
    expect(forced).toMatchObject({ status: 'quarantined', reason: 'unsupported-format', repeated: false });
  });
});
