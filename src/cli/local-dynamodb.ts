import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { statusTableDefinition } from '../status/dynamodb.ts';
import { keepIdleConnections } from './keep-alive.ts';
import { LOCAL_CREDENTIALS } from './local-s3.ts';
import { localUrl } from './local-url.ts';

/**
 * A DynamoDB API server on this machine (dynalite, in memory), for `imgpipe dev` and the tests:
 * real HTTP, real SDK requests, DynamoDB's own validation and condition semantics.
 */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Creates the status table (the same definition as the Terraform module's), once it is ACTIVE. */
  createStatusTable(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalDynamo(
  options: {
    host?: string;
    port?: number;
    /** How long dynalite keeps a new table CREATING (0: it is made ACTIVE just after answering). */
    createTableMs?: number;
  } = {},
): Promise<LocalDynamo> {
  const host = options.host ?? '127.0.0.1';
  const server = dynalite({ createTableMs: options.createTableMs ?? 0, deleteTableMs: 0, updateTableMs: 0 });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const endpoint = localUrl(host, port!);
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  return {
    endpoint,
    client,
    async createStatusTable(name) {
      await client.send(new CreateTableCommand(statusTableDefinition(name)));
      // dynalite answers CreateTable with the table CREATING and makes it ACTIVE after a timer and
      // a write of its own; a request in between is refused ResourceNotFoundException, as DynamoDB
      // does (a test on a loaded CI machine failed so). The SDK's waiter, as against DynamoDB.
      await waitUntilTableExists(
        { client, minDelay: 0.05, maxDelay: 1, maxWaitTime: 30 },
        { TableName: name },
      );
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
