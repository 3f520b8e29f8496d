import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { inspectObject } from '../../../src/pipeline/inspect-object.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import type { Storage } from '../../../src/storage/types.ts';
import { readFixture } from '../../support/fixtures.ts';

/**
 * The workflow's later states (Scan, Moderate, Process) read the object the inspection names. An
 * event without a version (a reprocessing's own) must come out of the inspection pinned to the
 * version it read, or an upload between the checks and Process would be published unchecked.
 */
describe('inspectObject', () => {
  it('names the version it read when the event names none, and keeps the version an event names', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-inspect-'));
    const config = parsePipelineConfig({});
    const files = new FsStorage(join(root, 'in'));
    await files.put('photo.jpg', readFixture('edge/formats/1x1.jpg'), { contentType: 'image/jpeg' });
    // A versioned bucket, as S3 answers GetObject there (FsStorage keeps no versions).
    const versioned: Storage = Object.assign(Object.create(files) as FsStorage, {
      async get(...args: Parameters<Storage['get']>) {
        return { ...(await files.get(...args)), versionId: args[1]?.versionId ?? 'v-latest' };
      },
    });
    const deps = {
      config,
      layout: new BucketLayout(config, 'quarantine/'),
      source: () => versioned,
      output: new FsStorage(join(root, 'out')),
    };
    const unpinned = await inspectObject({ bucket: 'in', key: 'photo.jpg' }, deps);
    expect(unpinned).toMatchObject({ kind: 'image', ref: { key: 'photo.jpg', versionId: 'v-latest' } });
    const pinned = await inspectObject({ bucket: 'in', key: 'photo.jpg', versionId: 'v-1' }, deps);
    expect(pinned).toMatchObject({ kind: 'image', ref: { versionId: 'v-1' } });
  });

  // The workflow's Inspect passed it, so Scan and Moderate (a billed Rekognition call) ran before
  // Process quarantined it as animated, or quarantined it for what moderation found instead.
  it('refuses an animated image as `animated` when the animation setting is quarantine', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-inspect-'));
    const config = parsePipelineConfig({ animation: 'quarantine' });
    const files = new FsStorage(join(root, 'in'));
    await files.put('loop.gif', readFixture('edge/animated/card-3-frames.gif'), { contentType: 'image/gif' });
    const deps = {
      config,
      layout: new BucketLayout(config, 'quarantine/'),
      source: () => files,
      output: new FsStorage(join(root, 'out')),
    };
    const inspection = await inspectObject({ bucket: 'in', key: 'loop.gif' }, deps);
    expect(inspection.kind).toBe('invalid');
    const { error } = inspection as Extract<typeof inspection, { kind: 'invalid' }>;
    expect(error.reason).toBe('animated');
    expect(error.message).toBe(
      'The gif file is animated (3 frames) and the animation setting is "quarantine"',
    );
    const still = await inspectObject(
      { bucket: 'in', key: 'loop.gif' },
      { ...deps, config: parsePipelineConfig({}) },
    );
    expect(still).toMatchObject({ kind: 'image', header: { animated: true, frames: 3 } });
  });
});
