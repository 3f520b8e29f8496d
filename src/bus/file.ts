import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from '../core/errors.ts';
import { EVENT_SOURCE, type EventPublisher, type ImageEvent, type PublishResult } from './types.ts';

/**
 * Events appended to a file, one JSON object per line, shaped like the EventBridge event a rule
 * would receive (`source`, `detail-type`, `time`, `detail`): `imgpipe dev`'s bus.
 */
export class JsonLinesPublisher implements EventPublisher {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async publish(events: readonly ImageEvent[]): Promise<PublishResult> {
    if (events.length === 0) return { sent: 0, failed: 0, errors: [] };
    const lines = events.map((event) =>
      JSON.stringify({
        source: EVENT_SOURCE,
        'detail-type': event.detailType,
        time: event.detail.time,
        detail: event.detail,
      }),
    );
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await appendFile(this.path, `${lines.join('\n')}\n`);
      return { sent: events.length, failed: 0, errors: [] };
    } catch (error) {
      const reason = describeError(error);
      return { sent: 0, failed: events.length, errors: events.map((e) => `${e.detailType}: ${reason}`) };
    }
  }
}
