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
    // 3008 MB (the module's default), 4096 MB of /tmp less the official database (about 350 MB).
    const capacity = scanCapacity({ ...base, memoryMb: 3008, tmpFreeBytes: 3746 * MiB });
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

  it('is set by /tmp with the module’s defaults: 2048 MB less the database, half of the rest kept for what clamd unpacks', () => {
    expect(scanCapacity({ ...base, memoryMb: 3008, tmpFreeBytes: 1698 * MiB })).toMatchObject({
      bytes: 817 * MiB,
      limit: 'tmp',
    });
  });

  it('is half the free /tmp less what clamd’s other files keep (the other half for what it unpacks), and never below 0', () => {
    const capacity = scanCapacity({
      ...base,
      memoryMb: 10240,
      engineBytes: 1300 * MiB,
      tmpFreeBytes: 1001 * MiB,
    });
    expect(capacity).toMatchObject({
      bytes: Math.floor((1001 * MiB - TMP_RESERVE_BYTES) / 2 / MiB) * MiB,
      limit: 'tmp',
    });
    expect(capacity.bytes).toBe(468 * MiB);
    expect(capacity.explanation).toContain(
      'half of the rest (in whole MiB) kept for what clamd unpacks from it',
    );
    expect(scanCapacity({ ...base, tmpFreeBytes: TMP_RESERVE_BYTES + MiB })).toMatchObject({
      bytes: 0,
      limit: 'tmp',
    });
    expect(scanCapacity({ ...base, tmpFreeBytes: MiB })).toMatchObject({ bytes: 0, limit: 'tmp' });
    expect(scanCapacity({ ...base, memoryMb: 128, engineBytes: 0 })).toMatchObject({
      bytes: 0,
      limit: 'memory',
    });
  });
});
