import { describe, expect, it } from 'vitest';
import { type EventPublisher, type ImageEvent, imageEvent } from '../../src/bus/types.ts';

/**
 * What every EventPublisher must do: send each event once, in order, and report what it could
 * not send instead of throwing. `sent()` returns what the destination received.
 */
export function describePublisherContract(
  name: string,
  setup: () => Promise<{ publisher: EventPublisher; sent: () => Promise<ImageEvent[]> }>,
): void {
  describe(`${name} (EventPublisher contract)`, () => {
    const events = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        imageEvent({
          version: 1,
          status: i % 2 ? 'quarantined' : 'deleted',
          bucket: 'uploads',
          key: `k/${i}.jpg`,
          ...(i % 2 ? { reason: 'corrupt', message: 'bad', quarantineKey: `objects/k/${i}.jpg` } : {}),
          time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        }),
      );

    it('sends every event once, in order, across batches', async () => {
      const { publisher, sent } = await setup();
      const batch = events(23);
      expect(await publisher.publish(batch)).toEqual({ sent: 23, failed: 0, errors: [] });
      expect(await sent()).toEqual(batch);
    });

    it('takes an empty batch without sending anything', async () => {
      const { publisher, sent } = await setup();
      expect(await publisher.publish([])).toEqual({ sent: 0, failed: 0, errors: [] });
      expect(await sent()).toEqual([]);
    });
  });
}
