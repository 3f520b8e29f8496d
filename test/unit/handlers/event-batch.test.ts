import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../../src/bus/eventbridge.ts';
import { type ImageEvent, imageEvent } from '../../../src/bus/types.ts';
import { EventBatch } from '../../../src/handlers/outcomes.ts';

// EventBridge has no local server: PutEvents is aws-sdk-client-mock's, behind the real publisher.
function batch(refuse: boolean) {
  const client = new EventBridgeClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  mockClient(client)
    .on(PutEventsCommand)
    .callsFake((input: PutEventsCommand['input']) => {
      if (refuse) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map(() => ({ EventId: 'ok' })) };
    });
  return new EventBatch(
    new EventBridgePublisher(client, 'bus', { retryDelayMs: 1 }),
    new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
    new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
  );
}

function processed(key: string, outputs: number): ImageEvent {
  return imageEvent({
    version: 1,
    status: 'processed',
    bucket: 'uploads',
    key,
    etag: 'e',
    format: 'jpeg',
    width: 10,
    height: 10,
    manifestKey: `manifests/${key}.json`,
    outputBucket: 'out',
    outputs: Array.from({ length: outputs }, (_, i) => ({
      variant: `v${i}`,
      format: 'webp' as const,
      key: `v${i}/${'k'.repeat(900)}.webp`,
      contentType: 'image/webp',
      width: 10,
      height: 10,
      bytes: 100,
    })),
    time: '2026-01-01T00:00:00.000Z',
  });
}

describe('EventBatch', () => {
  it('counts as unsent what a retry may send, not an event too large for EventBridge', async () => {
    // The handlers fail an outcome's record for an unsent event so that the retry sends it: one of
    // 256 KB or more on its own can never be sent, and its record failed on every retry, then went
    // to the dead letters. It is reported (logged, EventsFailed) as before, not retried.
    const tooLarge = batch(false);
    tooLarge.add(processed('huge', 300));
    expect(await tooLarge.flush()).toBe(0);
    expect(tooLarge.errors[0]).toMatch(/^Image Processed for s3:\/\/uploads\/huge: \d+ bytes, more than/);
    const refused = batch(true);
    refused.add(processed('small', 1));
    refused.add(processed('huge', 300));
    expect(await refused.flush()).toBe(1);
    expect(refused.errors).toHaveLength(2);
  });
});
