import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { inspectObject } from '../../../src/pipeline/inspect-object.ts';
import { processObject, rejectObject } from '../../../src/pipeline/process-object.ts';
import { readManifest } from '../../../src/pipeline/records.ts';
import { removeObject } from '../../../src/pipeline/remove-object.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import { readFixture } from '../../support/fixtures.ts';

/**
 * Key templates without the source's extension ({dir}{name}) give cat.jpg and cat.png one manifest
 * and the same output keys. The second source must not take the first's outputs, nor may removing
 * or quarantining one of them delete the outputs that belong to the other.
 */
describe('two sources whose keys the templates make the same', () => {
  it('refuses the second, naming both, and leaves the first its outputs through a removal or quarantine of the second', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-collision-'));
    const config = parsePipelineConfig({
      variants: [{ name: 'small', width: 16, upscale: true }],
      formats: { webp: {} },
      keyTemplate: '{variant}/{dir}{name}.{ext}',
      manifestTemplate: 'manifests/{dir}{name}.json',
    });
    const layout = new BucketLayout(config, 'quarantine/');
    const source = new FsStorage(join(root, 'in'));
    const output = new FsStorage(join(root, 'out'));
    const quarantine = new FsStorage(join(root, 'quarantine'));
    const deps = { config, layout, source: () => source, output, quarantine };
    await source.put('photos/cat.png', readFixture('edge/formats/1x1.png'), { contentType: 'image/png' });
    await source.put('photos/cat.jpg', readFixture('edge/formats/1x1.jpg'), { contentType: 'image/jpeg' });
    expect(layout.manifestKey('photos/cat.jpg')).toBe(layout.manifestKey('photos/cat.png'));

    expect((await processObject({ bucket: 'in', key: 'photos/cat.png' }, deps)).status).toBe('processed');
    const manifestKey = layout.manifestKey('photos/cat.png');
    const first = await readManifest(output, manifestKey);
    expect(first?.source.key).toBe('photos/cat.png');

    await expect(processObject({ bucket: 'in', key: 'photos/cat.jpg' }, deps)).rejects.toMatchObject({
      code: 'storage/key-collision',
      retryable: false,
      message: `The outputs of photos/cat.jpg would replace those of photos/cat.png: the key templates give both the manifest ${manifestKey} (a template with {name} drops the extension that tells them apart): use {key}, or {name}.{srcext}, or rename one of them`,
    });
    // Nothing of cat.png's was replaced.
    expect(await readManifest(output, manifestKey)).toEqual(first);
    const webp = 'small/photos/cat.webp';
    const bytes = (await output.get(webp)).body;

    // cat.jpg quarantined (the workflow's scan or moderation) or deleted: cat.png's outputs stay.
    const rejected = await rejectObject(
      { bucket: 'in', key: 'photos/cat.jpg' },
      new InvalidImageError('moderation', 'flagged'),
      deps,
    );
    expect(rejected).toMatchObject({ status: 'quarantined', removedOutputs: [] });
    await source.delete('photos/cat.jpg');
    const removal = await removeObject(
      { bucket: 'in', key: 'photos/cat.jpg' },
      { layout, source: () => source, output, deleteOutputs: true },
    );
    expect(removal).toEqual({ status: 'deleted', removedOutputs: [] });
    expect((await output.get(webp)).body).toEqual(bytes);
    expect(await readManifest(output, manifestKey)).toEqual(first);
  });
});

describe('a source key with a . or .. segment', () => {
  it('is refused before anything is read or written, naming the key: its outputs’ URLs would resolve to other keys', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-dots-'));
    const config = parsePipelineConfig({ variants: [{ name: 'large', width: 16 }], formats: { webp: {} } });
    const layout = new BucketLayout(config, 'quarantine/');
    const output = new FsStorage(join(root, 'out'));
    const source = new FsStorage(join(root, 'in'));
    const deps = { config, layout, source: () => source, output, quarantine: new FsStorage(join(root, 'q')) };
    for (const key of ['photos/../cat.jpg', './cat.jpg', 'photos/./cat.jpg', '..']) {
      for (const run of [processObject, inspectObject])
        await expect(run({ bucket: 'in', key }, deps), key).rejects.toMatchObject({
          code: 'storage/key-unusable',
          retryable: false,
          message: `The key ${key} has a . or .. segment: the URLs of its outputs would resolve to other keys' (large/photos/../cat.jpg.webp is large/cat.jpg.webp to a browser or CloudFront); upload it under a key without one`,
        });
    }
    // Dots within a name are a name.
    await source.put('photos/..cat.jpg', readFixture('edge/formats/1x1.jpg'), { contentType: 'image/jpeg' });
    expect((await processObject({ bucket: 'in', key: 'photos/..cat.jpg' }, deps)).status).toBe('processed');
  });
});
