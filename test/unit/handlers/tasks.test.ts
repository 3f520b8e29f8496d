import { describe, expect, it } from 'vitest';
import { checkExecutionTime, RECORD_RESERVE_MS } from '../../../src/handlers/tasks.ts';

const context = (ms: number) => ({ getRemainingTimeInMillis: () => ms });
const started = '2026-12-01T12:00:00.000Z';
const at = (seconds: number) => Date.parse(started) + seconds * 1000;
const input = { object: {}, execution: { started, timeoutSeconds: 290 } };

describe("a per-upload task against its execution's timeout", () => {
  it('starts when what it may take and the reserve for RecordFailure fit in what is left', () => {
    expect(RECORD_RESERVE_MS).toBe(90_000);
    // 110 s of Process and 90 s kept: it may start until 90 s into the execution.
    expect(() => checkExecutionTime(input, 'Process', context(110_000), at(90))).not.toThrow();
    expect(() => checkExecutionTime(input, 'Process', context(110_000), at(91))).toThrow(
      `Process was not started: the upload workflow's execution has 199 s left of its 290 s (started ${started}), and Process may take 110 s, with 90 s kept to record this failure`,
    );
    expect(() => checkExecutionTime(input, 'Scan', context(120_000), at(400))).toThrow(/has 0 s left/);
  });

  it('is failed, never retried: the Catch records it', () => {
    try {
      checkExecutionTime(input, 'Scan', context(120_000), at(200));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).name).toBe('Imgpipe.Failed');
    }
  });

  it('checks nothing without the execution (a direct invoke) or a Lambda context; refuses a malformed one', () => {
    expect(() => checkExecutionTime({ object: {} }, 'Process', context(900_000), at(1_000))).not.toThrow();
    expect(() => checkExecutionTime(input, 'Process', undefined, at(1_000))).not.toThrow();
    expect(() =>
      checkExecutionTime(
        { execution: { started: 'soon', timeoutSeconds: 290 } },
        'Process',
        context(1),
        at(0),
      ),
    ).toThrow(
      'Expected {"started": the execution\'s start time, "timeoutSeconds": its timeout} at input.execution but received {"started":"soon","timeoutSeconds":290}',
    );
  });
});
