import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { describeError } from '../core/errors.ts';
import { EVENT_SOURCE, type EventPublisher, type ImageEvent, type PublishResult } from './types.ts';

/** PutEvents takes at most 10 entries per call. */
const BATCH = 10;
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

  async publish(events: readonly ImageEvent[]): Promise<PublishResult> {
    let sent = 0;
    const errors: string[] = [];
    for (let start = 0; start < events.length; start += BATCH) {
      const batch = events.slice(start, start + BATCH);
      const result = await this.#send(batch);
      sent += result.sent;
      errors.push(...result.errors);
    }
    return { sent, failed: errors.length, errors };
  }

  async #send(batch: readonly ImageEvent[]): Promise<{ sent: number; errors: string[] }> {
    let pending = batch.map((event) => ({ event, entry: this.#entry(event), error: '' }));
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
      const failed: typeof pending = [];
      pending.forEach((item, index) => {
        const result = results[index];
        if (result?.ErrorCode)
          failed.push({ ...item, error: `${result.ErrorCode}: ${result.ErrorMessage ?? ''}` });
        else sent++;
      });
      pending = failed;
    }
    return {
      sent,
      errors: pending.map(
        ({ event, error }) =>
          `${event.detailType} for s3://${event.detail.bucket}/${event.detail.key}: ${error}`,
      ),
    };
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
