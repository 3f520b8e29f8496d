import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { describeError } from '../core/errors.ts';
import { EVENT_SOURCE, type EventPublisher, type ImageEvent, type PublishResult } from './types.ts';

/** PutEvents takes at most 10 entries per call, of less than 256 KB together (entrySize). */
const BATCH = 10;
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;
/** Attempts for an entry that PutEvents reports as failed (throttling, internal errors). */
const ATTEMPTS = 3;

/**
 * Events to an EventBridge bus. The SDK retries a failed request; PutEvents can also succeed with
 * some entries failed (FailedEntryCount), which only we can retry: those entries are sent again, up
 * to ATTEMPTS times with a short backoff, then reported as failed.
 */
export class EventBridgePublisher implements EventPublisher {
  readonly #client: EventBridgeClient;
  readonly #bus: string;
  readonly #delayMs: number;

  constructor(client: EventBridgeClient, busName: string, options: { retryDelayMs?: number } = {}) {
    this.#client = client;
    this.#bus = busName;
    this.#delayMs = options.retryDelayMs ?? 100;
  }

  /**
   * Sends the events in requests of at most 10 entries and less than 256 KB. An event that is
   * 256 KB or more on its own (a processed image with very many outputs under very long keys) is
   * reported as failed without being sent, so the others still go.
   */
  async publish(events: readonly ImageEvent[]): Promise<PublishResult> {
    let sent = 0;
    let tooLarge = 0;
    const errors: string[] = [];
    let batch: Pending[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const result = await this.#send(batch);
      sent += result.sent;
      errors.push(...result.errors);
      batch = [];
      bytes = 0;
    };
    for (const event of events) {
      const entry = this.#entry(event);
      const size = entrySize(entry);
      if (size >= MAX_PUT_EVENTS_BYTES) {
        errors.push(
          describeEvent(
            event,
            `${size} bytes, more than the ${MAX_PUT_EVENTS_BYTES - 1} an EventBridge entry may have`,
          ),
        );
        tooLarge++;
        continue;
      }
      if (batch.length === BATCH || bytes + size >= MAX_PUT_EVENTS_BYTES) await flush();
      batch.push({ event, entry, error: '' });
      bytes += size;
    }
    await flush();
    return { sent, failed: errors.length, errors, ...(tooLarge > 0 ? { tooLarge } : {}) };
  }

  async #send(batch: readonly Pending[]): Promise<{ sent: number; errors: string[] }> {
    let pending = batch.map((item) => ({ ...item }));
    let sent = 0;
    for (let attempt = 1; attempt <= ATTEMPTS && pending.length > 0; attempt++) {
      if (attempt > 1)
        await new Promise((resolve) => setTimeout(resolve, this.#delayMs * 2 ** (attempt - 2)));
      let results: { ErrorCode?: string; ErrorMessage?: string }[];
      try {
        const response = await this.#client.send(
          new PutEventsCommand({ Entries: pending.map((p) => p.entry) }),
        );
        results = response.Entries ?? [];
      } catch (error) {
        // The SDK has already retried the request itself; what is left is reported, not thrown.
        for (const item of pending) item.error = describeError(error);
        break;
      }
      const failed: Pending[] = [];
      pending.forEach((item, index) => {
        const result = results[index];
        if (result?.ErrorCode)
          failed.push({ ...item, error: `${result.ErrorCode}: ${result.ErrorMessage ?? ''}` });
        else sent++;
      });
      pending = failed;
    }
    return { sent, errors: pending.map(({ event, error }) => describeEvent(event, error)) };
  }

  #entry(event: ImageEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.#bus,
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
      Time: new Date(event.detail.time),
    };
  }
}

interface Pending {
  readonly event: ImageEvent;
  readonly entry: PutEventsRequestEntry;
  error: string;
}

function describeEvent(event: ImageEvent, problem: string): string {
  return `${event.detailType} for s3://${event.detail.bucket}/${event.detail.key}: ${problem}`;
}

/**
 * An entry's size as EventBridge counts it against the 256 KB of a PutEvents request: 14 bytes for
 * Time, and the UTF-8 bytes of Source, DetailType, Detail and each of Resources.
 */
export function entrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time ? 14 : 0;
  for (const text of [entry.Source, entry.DetailType, entry.Detail, ...(entry.Resources ?? [])])
    if (text) size += Buffer.byteLength(text, 'utf8');
  return size;
}
