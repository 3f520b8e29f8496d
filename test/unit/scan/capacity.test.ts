import { describe, expect, it } from 'vitest';
import {
  CLAMD_MAX_FILE_BYTES,
  ENGINE_ESTIMATE_BYTES,
  NODE_BASELINE_BYTES,
  scanCapacity,
  TMP_RESERVE_BYTES,
} from '../../../src/scan/capacity.ts';

const MiB = 1024 * 1024;
const base = { tmpDir: '/tmp/imgpipe-scanner', databaseBytes: 350 * MiB };

describe('the scanner’s capacity', () => {
  it('is clamd’s largest file when memory and /tmp hold more', () => {
    const capacity = scanCapacity({
      ...base,
      memoryMb: 10240,
      engineBytes: 1300 * MiB,
      tmpFreeBytes: 9 * 1024 * MiB,
    });
    expect(capacity).toMatchObject({ bytes: CLAMD_MAX_FILE_BYTES, limit: 'clamd' });
    expect(capacity.explanation).toContain('Heuristics.Limits.Exceeded.MaxFileSize');
  });

  it('is the memory less clamd’s engine and Node’s share, ClamAV’s estimate when clamd’s cannot be read', () => {
    // The module's defaults: 3008 MB, 2048 MB of /tmp less the official database (about 350 MB).
    const capacity = scanCapacity({ ...base, memoryMb: 3008, tmpFreeBytes: 1698 * MiB });
    expect(capacity).toMatchObject({
      bytes: 3008 * MiB - ENGINE_ESTIMATE_BYTES - NODE_BASELINE_BYTES,
      limit: 'memory',
    });
    expect(capacity.explanation).toContain('an estimated 1288699904 for clamd');
    expect(
      scanCapacity({ ...base, memoryMb: 3008, engineBytes: 1000 * MiB, tmpFreeBytes: 4096 * MiB }),
    ).toMatchObject({
      bytes: 3008 * MiB - 1000 * MiB - NODE_BASELINE_BYTES,
      limit: 'memory',
    });
  });

  it('is the free /tmp less what clamd’s other files keep, and never below 0', () => {
    expect(
      scanCapacity({ ...base, memoryMb: 10240, engineBytes: 1300 * MiB, tmpFreeBytes: 1000 * MiB }),
    ).toMatchObject({
      bytes: 1000 * MiB - TMP_RESERVE_BYTES,
      limit: 'tmp',
    });
    expect(scanCapacity({ ...base, tmpFreeBytes: MiB })).toMatchObject({ bytes: 0, limit: 'tmp' });
    expect(scanCapacity({ ...base, memoryMb: 128, engineBytes: 0 })).toMatchObject({
      bytes: 0,
      limit: 'memory',
    });
  });
});
