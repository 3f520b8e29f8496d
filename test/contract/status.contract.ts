import { describe, expect, it } from 'vitest';
import { type ObjectRef, sequencerOrder } from '../../src/core/objects.ts';
import type { FinalStatus, StatusStore } from '../../src/status/types.ts';

/**
 * What every StatusStore must do: the ordering rules that keep duplicate, late and out-of-order
 * S3 deliveries from moving an object back to an older state. Each case gets a fresh store.
 */
export function describeStatusStoreContract(name: string, setup: () => Promise<StatusStore>): void {
  describe(`${name} (StatusStore contract)`, () => {
    let n = 0;
    const ref = (sequencer?: string, extra: Partial<ObjectRef> = {}): ObjectRef => ({
      bucket: 'uploads',
      key: `photos/${++n}.jpg`,
      etag: 'e1',
      ...(sequencer === undefined ? {} : { sequencer }),
      ...extra,
    });
    const processed = (etag = 'e1'): FinalStatus => ({
      status: 'processed',
      etag,
      size: 1234,
      format: 'jpeg',
      width: 800,
      height: 600,
      orientation: 6,
      manifestKey: 'manifests/x.json',
      outputs: 9,
      configHash: 'abc',
      timings: { decode: 12.5, total: 40 },
    });
    const quarantined: FinalStatus = { status: 'quarantined', reason: 'corrupt', message: 'bad data' };
    const failed: FinalStatus = { status: 'failed', message: 'S3 get failed (SlowDown)' };

    it('keeps an outcome’s pending event mark until eventSent names it, and drops it with a later event', async () => {
      const store = await setup();
      const object = ref('0A00');
      await store.begin(object);
      const pending = { time: '2026-01-01T00:00:05.000Z' };
      expect(
        await store.finish(object, processed(), new Date('2026-01-01T00:00:05Z'), undefined, pending),
      ).toBe('applied');
      const item = await store.get(object.bucket, object.key);
      expect(item).toMatchObject({ status: 'processed', pendingEvent: pending });
      // Another mark (a later write's) is not removed; this one is, and nothing else changes.
      expect(await store.eventSent(object, { time: '2026-01-01T00:00:06.000Z' })).toBe('stale');
      expect(await store.eventSent(object, pending)).toBe('applied');
      const { pendingEvent: _, ...rest } = item!;
      expect(await store.get(object.bucket, object.key)).toEqual(rest);
      expect(await store.eventSent(object, pending)).toBe('stale');
      // Never an item of its own; a later event's begin drops an earlier one's mark.
      expect(await store.eventSent(ref('0A00'), pending)).toBe('stale');
      const again = { ...object, sequencer: '0A00' };
      await store.finish(again, processed(), undefined, undefined, pending);
      expect(await store.begin({ ...object, sequencer: '0B00' })).toBe('applied');
      expect((await store.get(object.bucket, object.key))?.pendingEvent).toBeUndefined();
    });

    it('records processing, then the final status with its facts', async () => {
      const store = await setup();
      const object = ref('0055AED6DCD90281E5');
      expect(await store.begin(object, new Date('2026-01-01T00:00:00Z'))).toBe('applied');
      expect(await store.get(object.bucket, object.key)).toMatchObject({
        status: 'processing',
        attempts: 1,
        etag: 'e1',
        firstSeenAt: '2026-01-01T00:00:00.000Z',
      });
      expect(await store.finish(object, processed(), new Date('2026-01-01T00:00:05Z'))).toBe('applied');
      const item = await store.get(object.bucket, object.key);
      expect(item).toMatchObject({
        bucket: 'uploads',
        key: object.key,
        status: 'processed',
        format: 'jpeg',
        width: 800,
        height: 600,
        orientation: 6,
        outputs: 9,
        manifestKey: 'manifests/x.json',
        configHash: 'abc',
        timings: { decode: 12.5, total: 40 },
        attempts: 1,
        firstSeenAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:05.000Z',
      });
      expect(item?.reason).toBeUndefined();
    });

    it('refuses an older event after a newer one, comparing sequencers of different lengths', async () => {
      const store = await setup();
      const newer = ref('0055AED6DCD90281E6');
      const older = { ...newer, sequencer: '0055AED6DCD90281E', etag: 'e0' };
      await store.begin(newer);
      await store.finish(newer, processed());
      expect(await store.begin(older)).toBe('stale');
      expect(await store.finish(older, quarantined)).toBe('stale');
      expect(await store.get(newer.bucket, newer.key)).toMatchObject({ status: 'processed', etag: 'e1' });
    });

    it('takes the same event twice without counting a duplicate as a new version', async () => {
      const store = await setup();
      const object = ref('00A1');
      await store.begin(object);
      await store.finish(object, processed());
      expect(await store.begin(object)).toBe('finished');
      expect(await store.finish(object, processed())).toBe('applied');
      expect(await store.get(object.bucket, object.key)).toMatchObject({ status: 'processed', attempts: 1 });
    });

    it('counts a retry after a failure, and lets its success replace the failure', async () => {
      const store = await setup();
      const object = ref('00A1');
      await store.begin(object);
      await store.finish(object, failed);
      expect((await store.list({ status: 'failed' })).items.map((i) => i.key)).toContain(object.key);
      await store.begin(object);
      expect(await store.get(object.bucket, object.key)).toMatchObject({ status: 'processing', attempts: 2 });
      await store.finish(object, processed());
      const item = await store.get(object.bucket, object.key);
      expect(item).toMatchObject({ status: 'processed', attempts: 2 });
      expect(item?.message).toBeUndefined();
      expect((await store.list({ status: 'failed' })).items.map((i) => i.key)).not.toContain(object.key);
    });

    it('never lets a failure of one delivery overwrite the success of another for the same event', async () => {
      const store = await setup();
      const object = ref('00A1');
      await store.begin(object);
      await store.finish(object, processed());
      expect(await store.finish(object, failed)).toBe('stale');
      expect((await store.get(object.bucket, object.key))?.status).toBe('processed');
    });

    it('never lets a delivery that ran out of time (too-slow) overwrite a decision of another for the same event', async () => {
      const store = await setup();
      const tooSlow: FinalStatus = {
        status: 'quarantined',
        etag: 'e1',
        reason: 'too-slow',
        message: 'took 61 s',
      };
      // Two deliveries of one event: one processed it, the other ran out of time after.
      const object = ref('00A1');
      await store.begin(object);
      await store.begin(object);
      expect(await store.finish(object, processed())).toBe('applied');
      expect(await store.finish(object, tooSlow)).toBe('stale');
      expect(await store.get(object.bucket, object.key)).toMatchObject({ status: 'processed', outputs: 9 });
      // Nor over a quarantine for the content.
      const rejected = ref('00B1');
      await store.begin(rejected);
      await store.finish(rejected, quarantined);
      expect(await store.finish(rejected, tooSlow)).toBe('stale');
      expect(await store.get(rejected.bucket, rejected.key)).toMatchObject({ reason: 'corrupt' });
      // A decision replaces it (a retry that had the time), and it replaces a failure or itself.
      const retried = ref('00C1');
      await store.begin(retried);
      expect(await store.finish(retried, failed)).toBe('applied');
      expect(await store.finish(retried, tooSlow)).toBe('applied');
      expect(await store.finish(retried, tooSlow)).toBe('applied');
      expect(await store.finish(retried, processed())).toBe('applied');
      expect((await store.get(retried.bucket, retried.key))?.status).toBe('processed');
      // A later event's too-slow is recorded over an earlier event's decision.
      expect(await store.finish({ ...retried, sequencer: '00C2' }, tooSlow)).toBe('applied');
      expect((await store.get(retried.bucket, retried.key))?.reason).toBe('too-slow');
      // A backfill of the same content (same ETag) likewise, while one of other content decides.
      const backfilled = ref('00D1');
      await store.begin(backfilled);
      const backfill = { bucket: backfilled.bucket, key: backfilled.key };
      expect(await store.begin(backfill)).toBe('applied');
      expect(await store.begin(backfill)).toBe('applied');
      expect(await store.finish(backfill, processed('e1'))).toBe('applied');
      expect(await store.finish(backfill, tooSlow)).toBe('stale');
      expect((await store.get(backfilled.bucket, backfilled.key))?.status).toBe('processed');
      expect(await store.begin(backfill)).toBe('applied');
      expect(await store.finish(backfill, tooSlow)).toBe('applied');
      expect(await store.finish(backfill, processed('e1'))).toBe('applied');
    });

    it('keeps a delete between two uploads of one key in order, and refuses a late delete', async () => {
      const store = await setup();
      const first = ref('0010');
      const deleted = { ...first, sequencer: '0020', etag: undefined };
      const second = { ...first, sequencer: '0030', etag: 'e2' };
      const lateDelete = { ...first, sequencer: '0025', etag: undefined };
      await store.begin(first);
      await store.finish(first, processed());
      expect(await store.finish(deleted, { status: 'deleted' })).toBe('applied');
      const gone = await store.get(first.bucket, first.key);
      expect(gone?.status).toBe('deleted');
      expect(gone?.manifestKey).toBeUndefined();
      expect(await store.begin(second)).toBe('applied');
      expect(await store.get(first.bucket, first.key)).toMatchObject({
        status: 'processing',
        etag: 'e2',
        attempts: 1,
      });
      await store.finish(second, processed('e2'));
      expect(await store.finish(lateDelete, { status: 'deleted' })).toBe('stale');
      expect(await store.get(first.bucket, first.key)).toMatchObject({ status: 'processed', etag: 'e2' });
    });

    it('ends two concurrent deliveries of one event with one processed item', async () => {
      const store = await setup();
      const object = ref('00B2');
      const deliver = async () => {
        await store.begin(object);
        return store.finish(object, processed());
      };
      const results = await Promise.all([deliver(), deliver()]);
      expect(results).toEqual(['applied', 'applied']);
      const item = await store.get(object.bucket, object.key);
      expect(item).toMatchObject({ status: 'processed', etag: 'e1' });
      expect(item?.attempts).toBeGreaterThanOrEqual(1);
      expect(item?.attempts).toBeLessThanOrEqual(2);
    });

    it('lists quarantined and failed items newest first, since a time, a page at a time', async () => {
      const store = await setup();
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) {
        const object = ref(`00C${i}`);
        keys.push(object.key);
        await store.begin(object, new Date(Date.UTC(2026, 0, 1, 0, i)));
        await store.finish(object, quarantined, new Date(Date.UTC(2026, 0, 1, 0, i)));
      }
      const since = new Date(Date.UTC(2026, 0, 1, 0, 1));
      const first = await store.list({ status: 'quarantined', since, limit: 2 });
      expect(first.items.map((i) => i.key)).toEqual([keys[4], keys[3]]);
      expect(first.items[0]).toMatchObject({ status: 'quarantined', reason: 'corrupt', message: 'bad data' });
      const second = await store.list({ status: 'quarantined', since, limit: 2, cursor: first.cursor! });
      const third = second.cursor
        ? await store.list({ status: 'quarantined', since, limit: 2, cursor: second.cursor })
        : { items: [] };
      const listed = [...first.items, ...second.items, ...third.items].map((i) => i.key);
      expect(listed.filter((key) => keys.includes(key))).toEqual([keys[4], keys[3], keys[2], keys[1]]);
      expect((await store.list({ status: 'processing' })).items.map((i) => i.key)).not.toContain(keys[0]);
    });

    it("lists only one bucket's items under a key prefix, across pages", async () => {
      const store = await setup();
      const mine: string[] = [];
      for (let i = 0; i < 6; i++) {
        const owner = i % 2 === 0 ? 'alice' : 'bob';
        const object = ref(`00D${i}`, {
          bucket: i === 4 ? 'elsewhere' : 'uploads',
          key: `uploads/${owner}/${i}/photo.jpg`,
        });
        if (owner === 'alice' && i !== 4) mine.push(object.key);
        await store.begin(object, new Date(Date.UTC(2026, 1, 1, 0, i)));
        await store.finish(object, quarantined, new Date(Date.UTC(2026, 1, 1, 0, i)));
      }
      const query = {
        status: 'quarantined' as const,
        since: new Date(Date.UTC(2026, 1, 1)),
        bucket: 'uploads',
        keyPrefix: 'uploads/alice/',
        limit: 2,
      };
      const listed: string[] = [];
      const pages: number[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await store.list({ ...query, ...(cursor ? { cursor } : {}) });
        pages.push(result.items.length);
        listed.push(...result.items.map((item) => item.key));
        cursor = result.cursor;
        if (!cursor) break;
        // A cursor is handed to the owner: it tells nothing of items the query leaves out.
        const opened = Buffer.from(cursor, 'base64url').toString('utf8');
        expect(opened).not.toMatch(/bob|elsewhere/);
      }
      expect(listed).toEqual([...mine].reverse());
      // Full pages while there is more, however many other items lie between, and no cursor to an
      // empty page after a full last one.
      expect(pages.slice(0, -1).every((n) => n === 2)).toBe(true);
      expect(pages).toHaveLength(Math.ceil(mine.length / 2));
    });

    it('takes a backfill without a sequencer for a live object, but not for a deleted one', async () => {
      const store = await setup();
      const object = ref('0040');
      await store.begin(object);
      await store.finish(object, processed());
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      expect(await store.finish(backfill, processed('e1'))).toBe('applied');
      expect((await store.get(object.bucket, object.key))?.sequencer).toBeDefined();
      await store.finish({ ...object, sequencer: '0050' }, { status: 'deleted' });
      expect(await store.begin(backfill)).toBe('stale');
      expect(await store.finish(backfill, processed())).toBe('stale');
    });

    it('never lets a backfill’s failure overwrite what another run recorded while it ran', async () => {
      const store = await setup();
      const object = ref('0065', { etag: 'old' });
      await store.begin(object);
      await store.finish(object, processed('old'));
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      // A new version is uploaded and processed while the backfill runs, which then fails.
      const upload = { ...object, etag: 'new', sequencer: '0066' };
      await store.begin(upload);
      await store.finish(upload, processed('new'));
      expect(await store.finish(backfill, failed)).toBe('stale');
      expect(await store.get(object.bucket, object.key)).toMatchObject({
        status: 'processed',
        etag: 'new',
        outputs: 9,
      });
      // Its own unfinished item, the failure takes.
      expect(await store.begin(backfill)).toBe('applied');
      expect(await store.finish(backfill, failed)).toBe('applied');
      expect((await store.get(object.bucket, object.key))?.status).toBe('failed');
    });

    it('never lets a backfill that found the key gone record it deleted over an upload recorded while it ran', async () => {
      // The key deleted, then uploaded again, while the backfill ran: its finding, older than the
      // upload's event, was recorded over the new version processed, and the late removal's event
      // was stale, so the item said deleted for good over published outputs.
      const store = await setup();
      const object = ref('0090', { etag: 'old' });
      await store.begin(object);
      await store.finish(object, processed('old'));
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      const upload = { ...object, etag: 'new', sequencer: '0092' };
      expect(await store.begin(upload)).toBe('applied');
      expect(await store.finish(backfill, { status: 'deleted' })).toBe('stale');
      await store.finish(upload, processed('new'));
      expect(await store.finish(backfill, { status: 'deleted' })).toBe('stale');
      expect(await store.get(object.bucket, object.key)).toMatchObject({ status: 'processed', etag: 'new' });
      expect(
        await store.finish({ ...object, etag: undefined, sequencer: '0091' }, { status: 'deleted' }),
      ).toBe('stale');
      // Over the item it began (no content named), the key gone is the backfill's to record.
      expect(await store.begin(backfill)).toBe('applied');
      expect(await store.finish(backfill, { status: 'deleted' })).toBe('applied');
      expect((await store.get(object.bucket, object.key))?.status).toBe('deleted');
    });

    it("lets a backfill record deleted over an upload's item it joined, left processing, while the key holds nothing", async () => {
      // The upload's invocations timed out and its event went to the dead letters, leaving the item
      // processing with its ETag (begin keeps it: the backfill joins that item), and the removal's
      // event was lost too: the backfill, which found the key gone, is the only one left to record it.
      const store = await setup();
      const object = ref('0100', { etag: 'old' });
      expect(await store.begin(object)).toBe('applied');
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      const asked: (string | undefined)[] = [];
      const answer = (is: boolean) => async (etag: string | undefined) => {
        asked.push(etag);
        return is;
      };
      // The key holds content again (an upload since): its event decides; unasked, nothing is taken.
      expect(await store.finish(backfill, { status: 'deleted' })).toBe('stale');
      expect(await store.finish(backfill, { status: 'deleted' }, undefined, answer(false))).toBe('stale');
      expect((await store.get(object.bucket, object.key))?.status).toBe('processing');
      expect(await store.finish(backfill, { status: 'deleted' }, undefined, answer(true))).toBe('applied');
      expect(asked).toEqual([undefined, undefined]);
      expect((await store.get(object.bucket, object.key))?.status).toBe('deleted');
      // An upload whose event begins after the key was found empty wins.
      const again = { ...object, etag: 'again', sequencer: '0102' };
      expect(await store.begin(again)).toBe('applied');
      expect(await store.begin(backfill)).toBe('applied');
      const upload = { ...again, etag: 'new', sequencer: '0104' };
      const racing = async () => (await store.begin(upload)) === 'applied';
      expect(await store.finish(backfill, { status: 'deleted' }, undefined, racing)).toBe('stale');
      expect(await store.get(object.bucket, object.key)).toMatchObject({ status: 'processing', etag: 'new' });
      // Nor is a deleted item asked about again.
      await store.finish({ ...upload, sequencer: '0106', etag: undefined }, { status: 'deleted' });
      expect(await store.finish(backfill, { status: 'deleted' }, undefined, answer(true))).toBe('stale');
      expect(asked).toEqual([undefined, undefined]);
    });

    it('refuses a backfill of content that a later upload replaced while it ran', async () => {
      const store = await setup();
      const object = ref('0060', { etag: 'old' });
      await store.begin(object);
      await store.finish(object, processed('old'));
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      // A new version is uploaded while the backfill processes the old one.
      const upload = { ...object, etag: 'new', sequencer: '0061' };
      expect(await store.begin(upload)).toBe('applied');
      expect(await store.finish(backfill, processed('old'))).toBe('stale');
      expect(await store.get(object.bucket, object.key)).toMatchObject({ status: 'processing', etag: 'new' });
      // Content the upload's event names is the backfill's to record; so is any when none is named.
      expect(await store.finish(backfill, processed('new'))).toBe('applied');
      expect(await store.finish(upload, processed('new'))).toBe('applied');
    });

    it("keeps no event's versionId beside the content a backfill records", async () => {
      const store = await setup();
      // A versioned bucket's upload, recorded with its version.
      const object = ref('0080', { etag: 'v1-etag', versionId: 'v1' });
      await store.begin(object);
      await store.finish(object, processed('v1-etag'));
      expect(await store.get(object.bucket, object.key)).toMatchObject({ etag: 'v1-etag', versionId: 'v1' });
      // Bulk reprocessing reads the key's current content, whose version it does not know.
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      expect((await store.get(object.bucket, object.key))?.versionId).toBeUndefined();
      expect(await store.finish(backfill, processed('v2-etag'), undefined, async () => true)).toBe('applied');
      const item = await store.get(object.bucket, object.key);
      expect(item).toMatchObject({ status: 'processed', etag: 'v2-etag' });
      expect(item?.versionId).toBeUndefined();
      // Over an upload's unfinished attempt too (another delivery's path): its version goes with it.
      const upload = ref('0081', { etag: 'u-etag', versionId: 'u1' });
      await store.begin(upload);
      const refill = { bucket: upload.bucket, key: upload.key };
      expect(await store.begin(refill)).toBe('applied');
      expect(await store.finish(refill, processed('u-etag'))).toBe('applied');
      expect((await store.get(upload.bucket, upload.key))?.versionId).toBeUndefined();
    });

    it("records a backfill of the key's current content over an older version's item, never content replaced meanwhile", async () => {
      const store = await setup();
      // An upload's attempt that never finished (an invocation that timed out).
      const object = ref('0070', { etag: 'old' });
      await store.begin(object);
      const backfill = { bucket: object.bucket, key: object.key };
      expect(await store.begin(backfill)).toBe('applied');
      // Content the key no longer holds is not recorded; without the question, no other content is.
      const asked: (string | undefined)[] = [];
      const answer = (is: boolean) => async (etag: string | undefined) => {
        asked.push(etag);
        return is;
      };
      expect(await store.finish(backfill, processed('gone'), undefined, answer(false))).toBe('stale');
      expect(await store.finish(backfill, processed('new'))).toBe('stale');
      // The key's current content (its upload's event lost): recorded, the item's event order kept.
      expect(await store.finish(backfill, processed('new'), undefined, answer(true))).toBe('applied');
      expect(asked).toEqual(['gone', 'new']);
      const item = await store.get(object.bucket, object.key);
      expect(item).toMatchObject({ status: 'processed', etag: 'new' });
      // The old upload's event again cannot take it back to the old content's failure.
      expect(await store.finish(object, failed)).toBe('stale');
      // An upload whose event begins after the backfill's content was found current wins.
      const upload = { ...object, etag: 'newest', sequencer: '0071' };
      const racing = async () => (await store.begin(upload)) === 'applied';
      expect(await store.finish(backfill, processed('newer'), undefined, racing)).toBe('stale');
      expect(await store.get(object.bucket, object.key)).toMatchObject({
        status: 'processing',
        etag: 'newest',
      });
      // A deleted key takes a backfill only of content the key holds again (a versioned bucket's
      // delete marker removed, which S3 announces as a removal alone), asked after the item is read.
      await store.finish({ ...object, sequencer: '0072' }, { status: 'deleted' });
      expect(await store.finish(backfill, processed('newest'))).toBe('stale');
      expect(await store.finish(backfill, processed('newest'), undefined, answer(false))).toBe('stale');
      expect((await store.get(object.bucket, object.key))?.status).toBe('deleted');
      expect(await store.finish(backfill, processed('newest'), undefined, answer(true))).toBe('applied');
      expect(asked).toEqual(['gone', 'new', 'newest', 'newest']);
      expect(await store.get(object.bucket, object.key)).toMatchObject({
        status: 'processed',
        etag: 'newest',
        sequencer: sequencerOrder('0072'),
      });
      // A removal recorded while it ran wins.
      await store.finish({ ...object, sequencer: '0073' }, { status: 'deleted' });
      const removal = async () =>
        (await store.finish({ ...object, sequencer: '0074' }, { status: 'deleted' })) === 'applied';
      expect(await store.finish(backfill, processed('other'), undefined, removal)).toBe('stale');
      expect((await store.get(object.bucket, object.key))?.status).toBe('deleted');
    });
  });
}
