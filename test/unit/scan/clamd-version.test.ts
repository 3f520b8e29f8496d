import { describe, expect, it } from 'vitest';
import { databaseBuiltAt, partBuiltAt } from '../../../src/scan/clamd.ts';

describe('databaseBuiltAt', () => {
  it("reads the daily database's build time from clamd's VERSION answer", () => {
    // clamd answers VERSION as "ClamAV <engine>/<daily version>/<ctime(3) of its build time>".
    expect(databaseBuiltAt('ClamAV 1.4.6/27480/Mon Nov 30 09:12:00 2026')?.toISOString()).toBe(
      '2026-11-30T09:12:00.000Z',
    );
    // ctime pads a one-digit day with a space.
    expect(databaseBuiltAt('ClamAV 1.0.7/27101/Sat Dec  3 23:59:07 2022')?.toISOString()).toBe(
      '2022-12-03T23:59:07.000Z',
    );
  });

  it('has no build time for a database without a daily part, or an answer it does not know', () => {
    expect(databaseBuiltAt('ClamAV 1.4.6')).toBeUndefined();
    expect(databaseBuiltAt('ClamAV 1.4.6/27480/yesterday')).toBeUndefined();
    expect(databaseBuiltAt('ClamAV 1.4.6/27480/Mon Foo 30 09:12:00 2026')).toBeUndefined();
  });
});

describe('partBuiltAt', () => {
  it('reads the build time from the last field of a .cvd, .cld or .cud header, padded to 512 bytes', () => {
    const header = 'ClamAV-VDB:16 Sep 2021 08-32 +0000:62:6647427:90:a1b2:sig:sigmgr:1631781138'.padEnd(
      512,
      ' ',
    );
    expect(partBuiltAt(header)?.toISOString()).toBe('2021-09-16T08:32:18.000Z');
  });

  it('has no build time for what is not such a header', () => {
    expect(partBuiltAt('Eicar-Test-Signature:0:*:58354f')).toBeUndefined();
    expect(
      partBuiltAt('ClamAV-VDB:16 Sep 2021 08-32 +0000:62:6647427:90:a1b2:sig:sigmgr:soon'),
    ).toBeUndefined();
    expect(partBuiltAt('ClamAV-VDB:16 Sep 2021')).toBeUndefined();
  });
});
