import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { processObject } from '../../../src/pipeline/process-object.ts';
import type { QuarantineRecord } from '../../../src/pipeline/records.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import { getJson, type Storage } from '../../../src/storage/types.ts';
import { readFixture } from '../../support/fixtures.ts';

/** A pipeline over three fresh folders: sources (`files`), outputs and quarantine. */
function folders(name: string, document: unknown = {}) {
  const root = mkdtempSync(join(tmpdir(), `imgpipe-${name}-`));
  const config = parsePipelineConfig(document);
  return {
    config,
    layout: new BucketLayout(config, 'quarantine/'),
    files: new FsStorage(join(root, 'in')),
    output: new FsStorage(join(root, 'out')),
    quarantine: new FsStorage(join(root, 'quarantine')),
  };
}

/**
 * An invalid upload replaced between the read that found it invalid and the quarantine copy: the
 * copy must not put the new content beside a record naming the old ETag. The new content has its
 * own event; this one ends `missing` (the version it names is gone) and quarantines nothing.
 */
describe('processObject when the source is replaced while it is being quarantined', () => {
  it('copies nothing and records the event as missing, naming the ETag that is gone', async () => {
    const { config, layout, files, output, quarantine } = folders('qrace');
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
 * outcome says so (`repeated`), so the handlers count it as a duplicate (and announce it again:
 * outcomes.ts says why); a forced run (bulk reprocessing) is a new judgement.
 */
describe('processObject on an invalid version quarantined already', () => {
  it('copies and records nothing the second time and says so; a forced run is not repeated', async () => {
    const { config, layout, files, output, quarantine } = folders('qagain');
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

/**
 * Content quarantined, the key then processed with other content, and the first content put back:
 * a quarantine anew (its outputs withdrawn), not a redelivery. Its copy and record are this
 * quarantine's: the record keeps no earlier time (the bucket's lifecycle expires both from when
 * they were written). A redelivery of that event changes nothing.
 */
describe('processObject on content quarantined before, put back after the key was processed', () => {
  it('writes the copy and record again, stamped with this quarantine, and leaves them to a redelivery', async () => {
    const { config, layout, files, output, quarantine } = folders('qanew', {
      variants: [{ name: 'small', width: 32 }],
      formats: { jpeg: {} },
    });
    const ref = { bucket: 'in', key: 'k.jpg' };
    const deps = { config, layout, source: () => files, output, quarantine };
    const keys = layout.quarantineKeys('k.jpg');
    const text = new TextEncoder().encode('text, not a JPEG');
    await files.put('k.jpg', text, { contentType: 'image/jpeg' });
    expect(await processObject(ref, deps)).toMatchObject({ status: 'quarantined', repeated: false });
    const first = await getJson<QuarantineRecord>(quarantine, keys.reason);
    await files.put('k.jpg', readFixture('edge/formats/1x1.jpg'), { contentType: 'image/jpeg' });
    expect((await processObject(ref, deps)).status).toBe('processed');

    await files.put('k.jpg', text, { contentType: 'image/jpeg' });
    // Two markers the first quarantine's copy and record cannot carry: a time after it, and a copy replaced.
    const before = new Date().toISOString();
    await quarantine.put(keys.object, new TextEncoder().encode('stale copy'), { contentType: 'image/jpeg' });
    const anew = await processObject(ref, deps);
    expect(anew).toMatchObject({
      status: 'quarantined',
      reason: 'unsupported-format',
      repeated: false,
      removedOutputs: expect.arrayContaining(['manifests/k.jpg.json']),
    });
    const second = await getJson<QuarantineRecord>(quarantine, keys.reason);
    expect(second.source.etag).toBe(first.source.etag);
    expect(second.quarantinedAt >= before, `${second.quarantinedAt} (first ${first.quarantinedAt})`).toBe(
      true,
    );
    expect(Buffer.from((await quarantine.get(keys.object)).body).equals(Buffer.from(text))).toBe(true);

    const redelivered = await processObject(ref, deps);
    expect(redelivered).toMatchObject({ status: 'quarantined', repeated: true, removedOutputs: [] });
    expect(await getJson<QuarantineRecord>(quarantine, keys.reason)).toEqual(second);
  });
});

describe('processObject when quarantining stops before its reason record', () => {
  it('writes the record last, so the retry quarantines in full and is not taken for a repeat', async () => {
    const { config, layout, files, output, quarantine } = folders('qretry', {
      variants: [{ name: 'small', width: 32 }],
      formats: { jpeg: {} },
    });
    const ref = { bucket: 'in', key: 'photo.jpg' };
    await files.put('photo.jpg', readFixture('photos/colour-fig-red-bowl.jpg'), {
      contentType: 'image/jpeg',
    });
    const deps = { config, layout, source: () => files, output, quarantine };
    expect((await processObject(ref, deps)).status).toBe('processed');
    // Replaced by a text file: its outputs are withdrawn, and here the first deletion fails.
    await files.put('photo.jpg', new TextEncoder().encode('not a photo any more'), {
      contentType: 'image/jpeg',
    });
    let failures = 1;
    const flaky: Storage = Object.assign(Object.create(output) as FsStorage, {
      async delete(...args: Parameters<Storage['delete']>) {
        if (failures-- > 0) throw new Error('SlowDown: please reduce your request rate');
        return output.delete(...args);
      },
    });
    await expect(processObject(ref, { ...deps, output: flaky })).rejects.toThrow(/SlowDown/);
    const keys = layout.quarantineKeys('photo.jpg');
    expect(await quarantine.head(keys.reason)).toBeUndefined();

    const retried = await processObject(ref, deps);
    expect(retried).toMatchObject({
      status: 'quarantined',
      reason: 'unsupported-format',
      repeated: false,
      removedOutputs: expect.arrayContaining(['manifests/photo.jpg.json']),
    });
    expect(await quarantine.head(keys.reason)).toBeDefined();
  });
});
