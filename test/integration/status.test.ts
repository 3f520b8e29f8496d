import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { StorageError } from '../../src/core/errors.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
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
});
