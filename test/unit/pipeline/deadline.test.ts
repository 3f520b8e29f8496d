import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { InvalidImageError } from '../../../src/core/errors.ts';
import { BucketLayout } from '../../../src/core/layout.ts';
import { Deadline, INVOCATION_RESERVE_MS } from '../../../src/pipeline/deadline.ts';
import { EncoderPool } from '../../../src/pipeline/encoder-pool.ts';
import { inThreadEncoder, processImage } from '../../../src/pipeline/process-image.ts';
import { processObject } from '../../../src/pipeline/process-object.ts';
import { walkFiles } from '../../../src/storage/files.ts';
import { FsStorage } from '../../../src/storage/fs.ts';
import { readFixture } from '../../support/fixtures.ts';

/**
 * The time budget of one image. No test here asserts how long anything took: each gives an image a
 * budget far shorter than its work and asserts the outcome (the refusal, the stage it names, what
 * was written), then that the next image comes out exactly as it does without any deadline.
 */

/** Noise as a PNG: the slowest content for an AVIF encoder (at speed 0, seconds for a few kilopixels). */
async function noisePng(width: number, height: number): Promise<Uint8Array> {
  const data = new Uint8ClampedArray(width * height * 4);
  let seed = 7;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    data[i] = i % 4 === 3 ? 255 : seed >>> 24;
  }
  return encode('png', { width, height, data }, parsePipelineConfig({ formats: { png: {} } }).formatOptions);
}

/** One full-size variant, as AVIF at its slowest setting. */
const slowAvif = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { avif: { speed: 0 } } });
const normal = parsePipelineConfig({
  variants: [
    { name: 'large', width: 1000 },
    { name: 'small', width: 200 },
  ],
  formats: { jpeg: {}, webp: {}, avif: { speed: 8 } },
});

async function refusal(run: Promise<unknown>): Promise<InvalidImageError> {
  const error = await run.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidImageError);
  return error as InvalidImageError;
}

const sameBytes = (a: readonly { bytes: Uint8Array }[], b: readonly { bytes: Uint8Array }[]) =>
  a.length === b.length &&
  a.every((o, i) => Buffer.compare(Buffer.from(o.bytes), Buffer.from(b[i]!.bytes)) === 0);

describe('Deadline', () => {
  it('gives the image maxSecondsPerImage outside Lambda', () => {
    const deadline = new Deadline({ maxSeconds: 60, now: 1_000 });
    expect([deadline.at, deadline.limitMs, deadline.boundBy]).toEqual([61_000, 60_000, 'budget']);
    deadline.dispose();
  });

  it('caps it at the invocation time left less a reserve, a quarter of the time left at most', () => {
    const roomy = new Deadline({ maxSeconds: 60, invocationEndsAt: 1_000 + 600_000, now: 1_000 });
    expect([roomy.limitMs, roomy.boundBy]).toEqual([60_000, 'budget']);
    const tight = new Deadline({ maxSeconds: 60, invocationEndsAt: 1_000 + 20_000, now: 1_000 });
    expect([tight.limitMs, tight.boundBy]).toEqual([20_000 - INVOCATION_RESERVE_MS, 'invocation']);
    const short = new Deadline({ maxSeconds: 60, invocationEndsAt: 1_000 + 3_000, now: 1_000 });
    expect([short.limitMs, short.boundBy]).toEqual([2_250, 'invocation']);
    for (const deadline of [roomy, tight, short]) deadline.dispose();
  });

  it('names the limit, where it came from and the stage in its refusal', () => {
    const deadline = new Deadline({ maxSeconds: 60, invocationEndsAt: 20_000, now: 0 });
    deadline.stage = 'resize';
    const error = deadline.exceeded(false);
    expect(error.reason).toBe('too-slow');
    expect(error.message).toMatch(
      /^Processing took longer than the 15 s allowed for one image \(the 20 s left in the Lambda invocation less 5 s kept to record the outcome; maxSecondsPerImage is 60\) and was stopped during resize, after [\d.]+ s$/,
    );
    expect(error.details).toMatchObject({
      stage: 'resize',
      interrupted: false,
      limitMs: 15_000,
      boundBy: 'invocation',
      maxSecondsPerImage: 60,
      invocationRemainingMs: 20_000,
      reserveMs: 5_000,
    });
    deadline.dispose();
  });
  it('names the stage that ran out of time when the next one is entered, and stays in it', () => {
    const caught = (run: () => void) => {
      try {
        run();
      } catch (error) {
        return error as InvalidImageError;
      }
      throw new Error('no refusal');
    };
    // Started 2 s ago with 1 s allowed: passed, and its timer has not fired yet.
    const late = new Deadline({ maxSeconds: 1, now: performance.now() - 2_000 });
    late.stage = 'decode';
    expect(caught(() => late.enter('resize')).details).toMatchObject({ stage: 'decode', interrupted: false });
    expect(late.stage).toBe('decode');
    late.dispose();
    const early = new Deadline({ maxSeconds: 1, now: performance.now() - 2_000 });
    expect(caught(() => early.enter('decode')).details).toMatchObject({ stage: 'probe' });
    expect(early.stage).toBe('probe'); // the transform handler counts no decode for it
    early.dispose();
  });
});

describe('processImage against its deadline', () => {
  it('stops a decode in progress, and the next image is processed as if nothing happened', async () => {
    const next = readFixture('photos/landscape-picos-de-europa.jpg');
    const before = await processImage(next, normal);
    // 15.9 MP decoded at full size for a full-size variant: about 0.2 s here, twice the budget.
    // Whether the watchdog stops it or it ends past the deadline first, the decode is named.
    const full = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { jpeg: {} } });
    const deadline = new Deadline({ maxSeconds: 0.1 });
    const error = await refusal(
      processImage(readFixture('bench/seeding-5312x2988.jpg'), full, inThreadEncoder, deadline),
    );
    deadline.dispose();
    expect(error.reason).toBe('too-slow');
    expect(error.details).toMatchObject({ stage: 'decode', boundBy: 'budget' });

    const after = await processImage(next, normal);
    expect(sameBytes(after.outputs, before.outputs)).toBe(true);
  });

  it('stops encodes running in the pool by replacing their threads, which then encode as before', async () => {
    const pool = new EncoderPool(2);
    await pool.warmUp(['jpeg', 'webp', 'avif']);
    try {
      const next = readFixture('photos/landscape-picos-de-europa.jpg');
      const reference = await processImage(next, normal, inThreadEncoder);
      const deadline = new Deadline({ maxSeconds: 1 });
      const error = await refusal(processImage(await noisePng(256, 192), slowAvif, pool, deadline));
      deadline.dispose();
      expect(error.reason).toBe('too-slow');
      expect(error.details).toMatchObject({ stage: 'encode', interrupted: true });

      const after = await processImage(next, normal, pool);
      expect(sameBytes(after.outputs, reference.outputs)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('refuses an image whose encode in this thread ends past the deadline', async () => {
    const deadline = new Deadline({ maxSeconds: 0.05 });
    const error = await refusal(processImage(await noisePng(48, 32), slowAvif, inThreadEncoder, deadline));
    deadline.dispose();
    expect(error.reason).toBe('too-slow');
    expect(error.details).toMatchObject({ boundBy: 'budget', maxSecondsPerImage: 0.05 });
    const after = await processImage(readFixture('edge/formats/1x1.png'), normal);
    expect(after.outputs).toHaveLength(6);
  });

  it('stops the probe walking a hostile file, and names the limit', async () => {
    // 8 MiB of 1-byte GIF data sub-blocks, and of JPEG 0xFF00 pairs, each cut short at its end: the
    // probe steps through every one (a 5 GiB file took about 10 s here, before any decode). Without
    // the deadline inside the probe, each was refused only after the walk, as truncated.
    const size = 8 * 1024 * 1024;
    const gif = new Uint8Array(size);
    gif.set([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2]);
    for (let at = 24; at < size; at += 2) gif[at] = 1;
    const jpeg = new Uint8Array(size);
    jpeg.set([0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    jpeg.set([0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0], 15);
    for (let at = 25; at < size; at += 2) jpeg[at] = 0xff;
    const config = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { jpeg: {} } });
    for (const bytes of [gif, jpeg]) {
      expect((await refusal(processImage(bytes, config))).reason).toBe('truncated');
      // Started 2 s ago with 1 s allowed: passed from the start, so the probe's first check stops it.
      const deadline = new Deadline({ maxSeconds: 1, now: performance.now() - 2_000 });
      const error = await refusal(processImage(bytes, config, inThreadEncoder, deadline));
      deadline.dispose();
      expect(error.reason).toBe('too-slow');
      expect(error.message).toContain('maxSecondsPerImage');
      expect(error.details).toMatchObject({ stage: 'probe', interrupted: true, limitMs: 1_000 });
    }
  });

  it('leaves an image within its budget alone, with the same bytes as without one', async () => {
    const bytes = readFixture('photos/colour-fig-red-bowl.jpg');
    const deadline = new Deadline({ maxSeconds: 600 });
    const timed = await processImage(bytes, normal, inThreadEncoder, deadline);
    deadline.dispose();
    expect(sameBytes(timed.outputs, (await processImage(bytes, normal)).outputs)).toBe(true);
  });
});

describe('processObject against the time budget', () => {
  it('quarantines a file whose probe runs past the invocation, recording the refusal', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-deadline-'));
    const size = 8 * 1024 * 1024;
    const gif = new Uint8Array(size); // 1-byte sub-blocks, cut short (see above)
    gif.set([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2]);
    for (let at = 24; at < size; at += 2) gif[at] = 1;
    const config = parsePipelineConfig({ variants: [{ name: 'full' }], formats: { jpeg: {} } });
    const source = new FsStorage(join(root, 'source'));
    const rejected = new FsStorage(join(root, 'quarantine'));
    await source.put('slow/sub-blocks.gif', gif, { contentType: 'image/gif' });
    const deps = {
      config,
      layout: new BucketLayout(config, 'quarantine/'),
      source: () => source,
      output: new FsStorage(join(root, 'output')),
      quarantine: rejected,
      // The invocation ends now: no time is left for the image, so the probe's first check stops it.
      invocationEndsAt: performance.now(),
    };
    const outcome = await processObject({ bucket: 'source', key: 'slow/sub-blocks.gif' }, deps);
    expect(outcome).toMatchObject({
      status: 'quarantined',
      reason: 'too-slow',
      message: expect.stringContaining('left in the Lambda invocation'),
    });
    expect(readdirSync(join(root, 'quarantine', 'quarantine'))).toEqual(['objects', 'reasons']);
  });

  it('quarantines an image over maxSecondsPerImage and writes no variant and no manifest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imgpipe-deadline-'));
    const [sources, outputs, rejected] = [
      join(root, 'source'),
      join(root, 'output'),
      join(root, 'quarantine'),
    ];
    writeFileSync(join(root, 'noise.png'), await noisePng(256, 192));
    const config = parsePipelineConfig({
      variants: [{ name: 'full' }, { name: 'small', width: 100 }],
      formats: { webp: {}, avif: { speed: 0 } },
      limits: { maxSecondsPerImage: 1 },
    });
    const pool = new EncoderPool(2);
    await pool.warmUp(config.formats);
    try {
      const source = new FsStorage(sources);
      await source.put('slow/noise.png', readFileSync(join(root, 'noise.png')), { contentType: 'image/png' });
      await source.put('ok/tiny.png', readFixture('edge/formats/1x1.png'), { contentType: 'image/png' });
      const deps = {
        config,
        layout: new BucketLayout(config, 'quarantine/'),
        source: () => source,
        output: new FsStorage(outputs),
        quarantine: new FsStorage(rejected),
        encoder: pool,
      };
      const outcome = await processObject({ bucket: 'source', key: 'slow/noise.png' }, deps);
      expect(outcome).toMatchObject({ status: 'quarantined', reason: 'too-slow' });
      const written = existsSync(outputs) ? await walkFiles(outputs, { hidden: true }) : [];
      expect(written).toEqual([]);
      expect(readdirSync(join(rejected, 'quarantine'))).toEqual(['objects', 'reasons']);

      // The pool's replacement threads compile their codecs first: the next image gets a whole minute.
      const roomy = { ...config, limits: { ...config.limits, maxSecondsPerImage: 60 } };
      const next = await processObject({ bucket: 'source', key: 'ok/tiny.png' }, { ...deps, config: roomy });
      expect(next).toMatchObject({ status: 'processed' });
    } finally {
      await pool.close();
    }
  });
});
