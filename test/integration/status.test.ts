import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { StorageError } from '../../src/core/errors.ts';
import { DynamoStatusStore, LIST_WORK, type ListWork } from '../../src/status/dynamodb.ts';
import type { ListQuery, StatusStore } from '../../src/status/types.ts';
import { describeStatusStoreContract } from '../contract/status.contract.ts';

// DynamoDB's API served by dynalite over HTTP: the SDK's real requests, DynamoDB's own condition
// expression semantics and validation (not a mocked client).
let dynamo: LocalDynamo;
let tables = 0;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await dynamo?.close();
});

describeStatusStoreContract('DynamoStatusStore over dynalite', async () => {
  const name = `imgpipe-status-${++tables}`;
  await dynamo.createStatusTable(name);
  return new DynamoStatusStore(dynamo.client, name);
});

describe('DynamoStatusStore', () => {
  it('reports a missing table as a storage error that names the table', async () => {
    const store = new DynamoStatusStore(dynamo.client, 'no-such-table');
    const error = await store.get('b', 'k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/no-such-table/);
  });

  it('refuses a cursor it did not make', async () => {
    const name = `imgpipe-status-${++tables}`;
    await dynamo.createStatusTable(name);
    const store = new DynamoStatusStore(dynamo.client, name);
    await expect(store.list({ status: 'failed', cursor: 'not a cursor' })).rejects.toThrow(/for cursor/);
  });

  it("holds an event for the execution that claimed it until its time is up, its own retries and a recorded failure's redelivery apart", async () => {
    const name = `imgpipe-status-${++tables}`;
    await dynamo.createStatusTable(name);
    const store = new DynamoStatusStore(dynamo.client, name);
    const ref = { bucket: 'b', key: 'k.jpg', sequencer: '0A1', etag: 'e1', size: 3 };
    const t0 = new Date('2026-12-04T12:00:00.000Z');
    const claim = (execution: string) => ({ execution, until: new Date(t0.getTime() + 290_000) });
    expect(await store.begin(ref, t0, claim('first'))).toBe('applied');
    // Another execution of the same event while the first may run; the first's own retry.
    expect(await store.begin(ref, new Date(t0.getTime() + 1_000), claim('second'))).toBe('running');
    expect(await store.begin(ref, new Date(t0.getTime() + 2_000), claim('first'))).toBe('applied');
    // Neither field is part of the item as read.
    expect(await store.get('b', 'k.jpg')).not.toHaveProperty('claimedBy');
    expect(await store.get('b', 'k.jpg')).toMatchObject({ status: 'processing', attempts: 2 });
    // Once the first execution's time is up, another takes the event over.
    expect(await store.begin(ref, new Date(t0.getTime() + 290_000), claim('third'))).toBe('applied');
    // A recorded failure ends the claim: a redelivery runs the event again.
    expect(await store.finish(ref, { status: 'failed', message: 'boom' }, t0)).toBe('applied');
    expect(await store.begin(ref, new Date(t0.getTime() + 3_000), claim('fourth'))).toBe('applied');
    // A later event of the key is not held by the earlier event's claim.
    const later = { ...ref, sequencer: '0A2', etag: 'e2' };
    expect(await store.begin(later, new Date(t0.getTime() + 4_000), claim('fifth'))).toBe('applied');
  });

  it('tells apart two executions of one event that started in the same millisecond by their execution ids', async () => {
    // Two deliveries of one EventBridge event carry the same event id: with the same start time,
    // their claims were equal, and the second ran beside the first.
    const name = `imgpipe-status-${++tables}`;
    await dynamo.createStatusTable(name);
    const store = new DynamoStatusStore(dynamo.client, name);
    const ref = { bucket: 'b', key: 'k.jpg', sequencer: '0A1', etag: 'e1', size: 3 };
    const t0 = new Date('2026-12-04T12:00:00.000Z');
    const at = (s: number) => new Date(t0.getTime() + s * 1000);
    const execution = JSON.stringify({ started: t0.toISOString(), event: 'ev-1' });
    const claim = (id?: string) => ({ execution, until: at(290), ...(id ? { id } : {}) });
    expect(await store.begin(ref, t0, claim('arn:exec:a'))).toBe('applied');
    expect(await store.begin(ref, at(1), claim('arn:exec:b'))).toBe('running');
    // The claiming execution's own retry, and one by a task that reads no id (the previous
    // release's, during a release), keep it.
    expect(await store.begin(ref, at(2), claim('arn:exec:a'))).toBe('applied');
    expect(await store.begin(ref, at(3), claim())).toBe('applied');
    expect(await store.begin(ref, at(4), claim('arn:exec:a'))).toBe('applied');
    expect(await store.begin(ref, at(5), claim('arn:exec:b'))).toBe('running');
    expect(await store.get('b', 'k.jpg')).not.toHaveProperty('claimedId');
    // A claim made with no id is another execution's only by its start time and event, as before;
    // a stale id of an earlier claim does not hold a later execution's claim.
    const other = { ...ref, key: 'k2.jpg' };
    expect(await store.begin(other, t0, claim('arn:exec:a'))).toBe('applied');
    expect(await store.finish(other, { status: 'failed', message: 'boom' }, at(1))).toBe('applied');
    const later = {
      execution: JSON.stringify({ started: at(2).toISOString(), event: 'ev-1' }),
      until: at(292),
    };
    expect(await store.begin(other, at(2), later)).toBe('applied');
    expect(await store.begin(other, at(3), { ...later, id: 'arn:exec:c' })).toBe('applied');
    expect(await store.begin(other, at(4), { ...later, id: 'arn:exec:d' })).toBe('running');
  });

  it("begins no backfill of a key while an upload's execution holds it, and one once that execution's time is up or its outcome is recorded", async () => {
    const name = `imgpipe-status-${++tables}`;
    await dynamo.createStatusTable(name);
    const store = new DynamoStatusStore(dynamo.client, name);
    const ref = { bucket: 'b', key: 'k.jpg', sequencer: '0A1', etag: 'e1', size: 3 };
    const backfill = { bucket: 'b', key: 'k.jpg' };
    const t0 = new Date('2026-12-04T12:00:00.000Z');
    const at = (s: number) => new Date(t0.getTime() + s * 1000);
    expect(await store.begin(ref, t0, { execution: 'upload', until: at(290) })).toBe('applied');
    expect(await store.begin(backfill, at(1))).toBe('running');
    expect(await store.get('b', 'k.jpg')).toMatchObject({ status: 'processing', attempts: 1, etag: 'e1' });
    // The execution died without an outcome: its time up, the backfill runs the key.
    expect(await store.begin(backfill, at(290))).toBe('applied');
    // Recorded: the claim no longer holds the key.
    const other = { ...ref, key: 'k2.jpg' };
    expect(await store.begin(other, t0, { execution: 'upload', until: at(290) })).toBe('applied');
    expect(await store.finish(other, { status: 'failed', message: 'boom' }, at(2))).toBe('applied');
    expect(await store.begin({ bucket: 'b', key: 'k2.jpg' }, at(3))).toBe('applied');
    // A backfill's own claim holds the key against another backfill, its own retry apart.
    const k3 = { bucket: 'b', key: 'k3.jpg' };
    expect(await store.begin(k3, at(4), { execution: 'reprocess-1', until: at(294) })).toBe('applied');
    expect(await store.begin(k3, at(5), { execution: 'reprocess-2', until: at(295) })).toBe('running');
    expect(await store.begin(k3, at(6))).toBe('running');
    expect(await store.begin(k3, at(7), { execution: 'reprocess-1', until: at(294) })).toBe('applied');
  });

  describe("one owner's listing among many other items", () => {
    /** A store whose DynamoDB client counts the Query calls it sends (one per HTTP request). */
    async function counted(work?: ListWork) {
      const name = `imgpipe-status-${++tables}`;
      await dynamo.createStatusTable(name);
      const client = new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'us-east-1',
        credentials: LOCAL_CREDENTIALS,
      });
      const calls = { queries: 0 };
      client.middlewareStack.add(
        (next, context) => (args) => {
          if (context.commandName === 'QueryCommand') calls.queries++;
          return next(args);
        },
        { step: 'finalizeRequest' },
      );
      return { store: new DynamoStatusStore(client, name, work), calls, close: () => client.destroy() };
    }

    /** Failed items of these owners, `perMs` of them sharing each millisecond, oldest first. */
    async function fill(store: StatusStore, owners: readonly string[], perMs = 1): Promise<string[]> {
      const keys = owners.map((owner, i) => `uploads/${owner}/${String(i).padStart(5, '0')}/photo.jpg`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(
          keys
            .slice(i, i + 50)
            .map((key, j) =>
              store.finish(
                { bucket: 'uploads', key, sequencer: '01' },
                { status: 'failed', message: 'x' },
                new Date(Date.UTC(2026, 3, 1) + Math.floor((i + j) / perMs)),
              ),
            ),
        );
      }
      return keys;
    }

    /** Every page of a listing, with the Query calls each took. */
    async function pages(store: StatusStore, calls: { queries: number }, query: ListQuery) {
      const listed: string[] = [];
      const perPage: number[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 500; page++) {
        const before = calls.queries;
        const result = await store.list({ ...query, ...(cursor ? { cursor } : {}) });
        perPage.push(calls.queries - before);
        sizes.push(result.items.length);
        listed.push(...result.items.map((item) => item.key));
        cursor = result.cursor;
        if (!cursor) break;
        expect(Buffer.from(cursor, 'base64url').toString('utf8')).not.toMatch(/bob/);
      }
      return { listed, perPage, sizes };
    }

    it('bounds the Query calls of a page, and continues with a cursor where it stopped', async () => {
      const { store, calls, close } = await counted();
      const owners = Array.from({ length: 4000 }, (_, i) => (i === 10 || i === 3990 ? 'alice' : 'bob'));
      const keys = await fill(store, owners);
      const mine = keys.filter((key) => key.includes('/alice/')).reverse();
      const query = { status: 'failed' as const, bucket: 'uploads', keyPrefix: 'uploads/alice/', limit: 2 };
      const { listed, perPage, sizes } = await pages(store, calls, query);
      expect(listed).toEqual(mine);
      expect(Math.max(...perPage)).toBeLessThanOrEqual(LIST_WORK.maxQueries);
      // About 4,000 items at 1,000 a call: a few calls in all, not one per page of 1 + 1.
      expect(perPage.reduce((a, b) => a + b)).toBeLessThanOrEqual(
        Math.ceil(owners.length / LIST_WORK.queryLimit) + 2,
      );
      // The page stopped by the cap holds fewer than limit, yet leads on to the next.
      expect(sizes).toEqual([1, 1]);
      close();
    }, 120_000);

    it('moves on when more items share one millisecond than a page may read', async () => {
      const { store, calls, close } = await counted({ queryLimit: 4, maxQueries: 1 });
      // Twelve items of one millisecond, then three more: alice's among bob's.
      const owners = Array.from({ length: 15 }, (_, i) => (i === 2 || i === 9 || i === 13 ? 'alice' : 'bob'));
      const keys = await fill(store, owners, 12);
      const mine = keys.filter((key) => key.includes('/alice/'));
      const query = { status: 'failed' as const, bucket: 'uploads', keyPrefix: 'uploads/alice/', limit: 5 };
      const { listed, sizes } = await pages(store, calls, query);
      expect([...listed].sort()).toEqual([...mine].sort());
      expect(sizes.length).toBeLessThan(10);
      close();
    }, 120_000);

    it("lists each of the owner's items once when a page stops among items of the same millisecond", async () => {
      const work = { queryLimit: 4, maxQueries: 1 };
      const { store, calls, close } = await counted(work);
      // Three items a millisecond, alice's among bob's, so that pages stop inside every group.
      const owners = Array.from({ length: 120 }, (_, i) => (i % 4 === 1 || i % 7 === 0 ? 'alice' : 'bob'));
      const keys = await fill(store, owners, 3);
      // Since the fourth millisecond: a time cursor stays within since.
      const since = new Date(Date.UTC(2026, 3, 1) + 3);
      const expected = keys.filter((key, i) => key.includes('/alice/') && Math.floor(i / 3) >= 3);
      for (const limit of [1, 2, 5]) {
        const { listed, perPage } = await pages(store, calls, {
          status: 'failed',
          bucket: 'uploads',
          keyPrefix: 'uploads/alice/',
          limit,
          since,
        });
        expect(new Set(listed).size, `limit ${limit}`).toBe(listed.length);
        expect([...listed].sort(), `limit ${limit}`).toEqual([...expected].sort());
        expect(Math.max(...perPage)).toBe(1);
      }
      close();
    }, 120_000);
  });
});
