import { describe, expect, it } from 'vitest';
import { type StatusRow, statusTable } from '../../../bench/suites/status.ts';

/** The status suite's table and verdict from made-up rows: arithmetic, not the machine. */
describe('status bench: table and verdict', () => {
  const processed = (image: string, pipelineMs: number, statusMs: number): StatusRow => ({
    image,
    outcome: 'processed',
    pipelineMs,
    statusMs,
    eventsMs: 0,
    sourceReads: 1,
  });

  it('takes the median overhead over the processed objects and names the others', () => {
    const rows: StatusRow[] = [
      processed('a.jpg', 1000, 10),
      processed('b.jpg', 1000, 30),
      // A corrupt file: quarantined, no pipeline time. Its NaN made the median NaN.
      {
        image: 'broken.jpg',
        outcome: 'quarantined (corrupt)',
        statusMs: 100,
        eventsMs: 1,
        sourceReads: 1,
      },
    ];
    const text = statusTable(rows);
    expect(text).not.toContain('NaN');
    expect(text).toContain('quarantined (corrupt)');
    expect(text).toContain(
      'median overhead 2.00% over the processed objects (1 of 3 not processed, left out) (target under 3%: met)',
    );
  });

  it('gives no overhead when nothing was processed', () => {
    const text = statusTable([
      { image: 'broken.jpg', outcome: 'quarantined (corrupt)', statusMs: 100, eventsMs: 1, sourceReads: 1 },
    ]);
    expect(text).toContain('no object was processed');
    expect(text).not.toContain('NaN');
  });
});
