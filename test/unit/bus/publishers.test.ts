import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { EventBridgePublisher, entrySize, MAX_PUT_EVENTS_BYTES } from '../../../src/bus/eventbridge.ts';
import { JsonLinesPublisher } from '../../../src/bus/file.ts';
import schema from '../../../src/bus/image-event.schema.json' with { type: 'json' };
import { DETAIL_TYPES, EVENT_SOURCE, type ImageEvent, imageEvent } from '../../../src/bus/types.ts';
import { describePublisherContract } from '../../contract/publisher.contract.ts';

// EventBridge has no local server: the publisher is tested against aws-sdk-client-mock, which
// checks the requests the real SDK client would send and answers as PutEvents documents.
function mockedBus() {
  const client = new EventBridgeClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const mock = mockClient(client);
  const received: ImageEvent[] = [];
  mock.on(PutEventsCommand).callsFake((input: PutEventsCommand['input']) => {
    for (const entry of input.Entries ?? []) {
      received.push({
        detailType: entry.DetailType as ImageEvent['detailType'],
        detail: JSON.parse(entry.Detail!),
      });
    }
    return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `id-${i}` })) };
  });
  return { client, mock, received };
}

describePublisherContract('EventBridgePublisher (mocked client)', async () => {
  const { client, received } = mockedBus();
  return { publisher: new EventBridgePublisher(client, 'imgpipe-test'), sent: async () => received };
});

describePublisherContract('JsonLinesPublisher', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'imgpipe-events-')), 'events.jsonl');
  return {
    publisher: new JsonLinesPublisher(path),
    sent: async () => {
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return [];
      }
      return text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .map((line) => {
          expect(line.source).toBe(EVENT_SOURCE);
          return { detailType: line['detail-type'], detail: line.detail };
        });
    },
  };
});

const processed = imageEvent({
  version: 1,
  status: 'processed',
  bucket: 'uploads',
  key: 'a.jpg',
  etag: 'e',
  format: 'jpeg',
  width: 10,
  height: 10,
  manifestKey: 'manifests/a.jpg.json',
  outputBucket: 'out',
  outputs: [
    {
      variant: 'small',
      format: 'webp',
      key: 'small/a.jpg.webp',
      contentType: 'image/webp',
      width: 10,
      height: 10,
      bytes: 99,
    },
  ],
  time: '2026-01-01T00:00:00.000Z',
});

describe('EventBridgePublisher', () => {
  it('puts each event on the named bus with source imgpipe and the detail-type of its status', async () => {
    const { client, mock } = mockedBus();
    await new EventBridgePublisher(client, 'my-bus').publish([processed]);
    const [entry] = mock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries!;
    expect(entry).toMatchObject({ EventBusName: 'my-bus', Source: 'imgpipe', DetailType: 'Image Processed' });
    expect(JSON.parse(entry!.Detail!)).toEqual(processed.detail);
  });

  it('sends the entries PutEvents failed again, and reports those that keep failing', async () => {
    const { client, mock } = mockedBus();
    let calls = 0;
    mock.on(PutEventsCommand).callsFake((input: PutEventsCommand['input']) => {
      calls++;
      const entries = input.Entries ?? [];
      // The second entry is throttled on the first attempt only; the third always fails.
      return {
        FailedEntryCount: 1,
        Entries: entries.map((entry) => {
          const key = JSON.parse(entry.Detail!).key as string;
          if (key === 'k1' && calls === 1)
            return { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' };
          if (key === 'k2') return { ErrorCode: 'InternalFailure', ErrorMessage: 'boom' };
          return { EventId: 'ok' };
        }),
      };
    });
    const events = ['k0', 'k1', 'k2'].map((key) => imageEvent({ ...processed.detail, key }));
    const result = await new EventBridgePublisher(client, 'bus', { retryDelayMs: 1 }).publish(events);
    expect(result.sent).toBe(2);
    expect(result.failed).toBe(1);
    expect(result.errors[0]).toMatch(/Image Processed for s3:\/\/uploads\/k2: InternalFailure: boom/);
    expect(calls).toBe(3);
  });

  it('keeps each request under 256 KB, and reports an event too large to send alone', async () => {
    const { client, mock, received } = mockedBus();
    const sizes: number[] = [];
    // As EventBridge does: a request whose entries reach 256 KB together is refused whole.
    mock.on(PutEventsCommand).callsFake((input: PutEventsCommand['input']) => {
      const entries = input.Entries ?? [];
      const total = entries.reduce((sum, entry) => sum + entrySize(entry), 0);
      sizes.push(total);
      if (total >= MAX_PUT_EVENTS_BYTES)
        throw Object.assign(new Error('Total size of the entries in the request is over the limit.'), {
          name: 'ValidationException',
        });
      for (const entry of entries)
        received.push({
          detailType: entry.DetailType as ImageEvent['detailType'],
          detail: JSON.parse(entry.Detail!),
        });
      return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: 'ok' })) };
    });
    // Ten images with 30 outputs under 900-character keys: about 31 KB an event; and one with 300.
    const withOutputs = (key: string, count: number) =>
      imageEvent({
        ...processed.detail,
        key,
        outputs: Array.from({ length: count }, (_, i) => ({
          ...processed.detail.outputs![0]!,
          key: `v${i}/${'k'.repeat(900)}.webp`,
        })),
      });
    const events = [
      ...Array.from({ length: 10 }, (_, i) => withOutputs(`k${i}`, 30)),
      withOutputs('huge', 300),
    ];
    const result = await new EventBridgePublisher(client, 'bus').publish(events);
    expect(result.sent).toBe(10);
    expect(result.failed).toBe(1);
    expect(result.errors[0]).toMatch(
      /^Image Processed for s3:\/\/uploads\/huge: \d+ bytes, more than the 262143 an EventBridge entry may have$/,
    );
    expect(received.map((event) => event.detail.key)).toEqual(events.slice(0, 10).map((e) => e.detail.key));
    expect(sizes.length).toBeGreaterThan(1);
    for (const size of sizes) expect(size).toBeLessThan(MAX_PUT_EVENTS_BYTES);
  });

  it("counts an entry's size as EventBridge does, and sends one of 256 KB less a byte", async () => {
    // Time 14 bytes; Source, DetailType, Detail and each resource in UTF-8 (é is two bytes).
    expect(
      entrySize({
        Time: new Date(0),
        Source: 'imgpipe',
        DetailType: 'Image Processed',
        Detail: '{"a":"é"}',
        Resources: ['r1'],
      }),
    ).toBe(14 + 7 + 15 + 10 + 2);
    const { client, mock } = mockedBus();
    const ofSize = (bytes: number) => {
      const base = entrySize({
        Time: new Date(0),
        Source: EVENT_SOURCE,
        DetailType: processed.detailType,
        Detail: JSON.stringify({ ...processed.detail, key: '' }),
      });
      return imageEvent({ ...processed.detail, key: 'k'.repeat(bytes - base) });
    };
    const result = await new EventBridgePublisher(client, 'bus').publish([
      ofSize(MAX_PUT_EVENTS_BYTES - 1),
      ofSize(MAX_PUT_EVENTS_BYTES),
    ]);
    expect(result).toMatchObject({ sent: 1, failed: 1 });
    expect(result.errors[0]).toMatch(/: 262144 bytes, more than the 262143 /);
    const sent = mock
      .commandCalls(PutEventsCommand)
      .map((call) => call.args[0].input.Entries!.map(entrySize));
    expect(sent).toEqual([[MAX_PUT_EVENTS_BYTES - 1]]);
  });

  it('reports, not throws, when the request itself fails', async () => {
    const { client, mock } = mockedBus();
    mock
      .on(PutEventsCommand)
      .rejects(Object.assign(new Error('AccessDenied'), { name: 'AccessDeniedException' }));
    const result = await new EventBridgePublisher(client, 'bus').publish([processed]);
    expect(result).toMatchObject({ sent: 0, failed: 1 });
    expect(result.errors[0]).toMatch(/AccessDenied/);
  });
});

describe('JsonLinesPublisher', () => {
  it('reports, not throws, when the file cannot be written', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'imgpipe-events-'));
    writeFileSync(join(folder, 'file'), '');
    const result = await new JsonLinesPublisher(join(folder, 'file', 'events.jsonl')).publish([processed]);
    expect(result).toMatchObject({ sent: 0, failed: 1 });
  });
});

describe('the event detail schema', () => {
  const validate = new Ajv2020({
    allErrors: true,
    strict: true,
    strictRequired: false,
    validateFormats: false,
  }).compile(schema);

  it('accepts the events we build, one per detail-type', () => {
    expect(Object.values(DETAIL_TYPES)).toContain(processed.detailType);
    expect(validate(processed.detail), JSON.stringify(validate.errors)).toBe(true);
  });

  it('refuses a processed event without its outputs, and unknown fields', () => {
    const { outputs: _outputs, ...withoutOutputs } = processed.detail;
    expect(validate(withoutOutputs)).toBe(false);
    expect(validate({ ...processed.detail, colour: 'red' })).toBe(false);
  });
});
