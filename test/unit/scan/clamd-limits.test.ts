import { describe, expect, it } from 'vitest';
import { unpackLimitsMiB } from '../../../src/scan/clamd.ts';

const MiB = 1024 * 1024;

describe('unpackLimitsMiB', () => {
  it('gives MaxFileSize and MaxScanSize one figure, clamd’s 400M or the stream’s limit when larger', () => {
    // A zip member cut at a MaxFileSize under MaxScanSize is scanned cut, with no finding.
    expect(unpackLimitsMiB(32 * MiB)).toEqual({ maxFileSize: 400, maxScanSize: 400 });
    expect(unpackLimitsMiB(1000 * MiB)).toEqual({ maxFileSize: 1001, maxScanSize: 1001 });
  });

  it('holds both to half the room /tmp has, and never to 0 (no limit)', () => {
    expect(unpackLimitsMiB(32 * MiB, 1634 * MiB)).toEqual({ maxFileSize: 400, maxScanSize: 400 });
    expect(unpackLimitsMiB(1000 * MiB, 1634 * MiB)).toEqual({ maxFileSize: 817, maxScanSize: 817 });
    expect(unpackLimitsMiB(MiB, 5 * MiB)).toEqual({ maxFileSize: 2, maxScanSize: 2 });
    expect(unpackLimitsMiB(MiB, 0)).toEqual({ maxFileSize: 1, maxScanSize: 1 });
  });
});
