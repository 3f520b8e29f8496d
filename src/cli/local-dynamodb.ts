import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
  /** Creates the status table (the same definition as the Terraform module's). */
  createStatusTable(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalDynamo(options: { host?: string; port?: number } = {}): Promise<LocalDynamo> {
  const host = options.host ?? '127.0.0.1';
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
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
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
