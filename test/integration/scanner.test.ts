import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StorageError } from '../../src/core/errors.ts';
import {
  ARCHIVE_SCAN_FACTOR,
  createScanTask,
  createSignatureUpdater,
  MAX_EMBEDDED_SCANS,
  RETRY_START_MS,
  SCAN_RESERVE_MS,
  type ScanTask,
} from '../../src/handlers/scanner.ts';
import { checkExecutionTime, RECORD_RESERVE_MS } from '../../src/handlers/tasks.ts';
import { NODE_BASELINE_BYTES, TMP_RESERVE_BYTES } from '../../src/scan/capacity.ts';
import { Clamd, type ClamdOptions } from '../../src/scan/clamd.ts';
import { MAX_INFLATED_BYTES } from '../../src/scan/reassemble.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';
import { hasTool } from '../support/tools.ts';

/**
 * The scanner's entry points with the real ClamAV (Debian's clamd and freshclam) and a real S3 API
 * server: the database comes from S3, a newer one in S3 is loaded without a restart, and the
 * updater reports what freshclam said when it cannot reach ClamAV's mirrors (as here, where the
 * network reaches only package registries).
 */
const SOURCE = 'scan-uploads';
const SIGNATURES = 'scan-signatures';
const tools = hasTool('clamd') && hasTool('freshclam');
let s3: Awaited<ReturnType<typeof startTestS3>>;
let workDir: string;
const tasks: ScanTask[] = [];

beforeAll(async () => {
  s3 = await startTestS3([SOURCE, SIGNATURES]);
  workDir = mkdtempSync(join(tmpdir(), 'imgpipe-scanner-'));
});

afterAll(async () => {
  for (const task of tasks) await task.stop();
  await s3?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const put = (bucket: string, key: string, body: string | Uint8Array) =>
  s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

function deps(name: string, options: { prefix?: string; refreshMs?: number } = {}) {
  const storage = (bucket: string) => new S3Storage(s3.client, bucket);
  return {
    logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
    metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
    sourceStorage: storage,
    signatures: storage(SIGNATURES),
    signaturesPrefix: options.prefix ?? 'clamav/',
    maxBytes: 1024 * 1024,
    workDir: join(workDir, name),
    refreshMs: options.refreshMs,
  };
}

/** A body signature (.ndb) for a text anywhere in a file. */
const signature = (name: string, text: string) => `${name}:0:*:${Buffer.from(text).toString('hex')}\n`;

/**
 * clamd started by the tests on a database of its own, `files` (name: signature lines) in
 * `<workDir>/<name>/db`, for streams of 1 MiB unless `options` say otherwise.
 */
async function clamdOn(
  name: string,
  files: Record<string, string>,
  options: Partial<ClamdOptions> = {},
): Promise<{ dir: string; clamd: Clamd }> {
  const dir = join(workDir, name);
  mkdirSync(join(dir, 'db'), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, 'db', file), text);
  const clamd = await Clamd.start({
    databaseDir: join(dir, 'db'),
    workDir: join(dir, 'work'),
    maxBytes: 1024 * 1024,
    log: () => {},
    ...options,
  });
  return { dir, clamd };
}

/** A zip file (deflated members), built here so the test needs no zip tool. */
function zip(entries: { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const packed = deflateRawSync(data, { level: 9 });
    const file = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(file.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(file.length, 28);
    central.writeUInt32LE(offset, 42);
    parts.push(local, file, packed);
    directory.push(central, file);
    offset += local.length + file.length + packed.length;
  }
  const listing = Buffer.concat(directory);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(listing.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, listing, end]);
}

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

describe.skipIf(!tools)('the malware scanner', () => {
  it('loads the database from S3, and a newer one there without a restart', async () => {
    await put(SIGNATURES, 'clamav/first.ndb', signature('Imgpipe-Test-First', 'first marker'));
    await put(SOURCE, 'a.txt', 'a file with the second marker in it');
    const scan = createScanTask(deps('reload', { refreshMs: 0 }));
    tasks.push(scan);
    const object = { object: { bucket: SOURCE, key: 'a.txt' } };
    expect(await scan(object)).toMatchObject({ status: 'passed', engine: expect.stringMatching(/^ClamAV /) });
    await put(SIGNATURES, 'clamav/second.ndb', signature('Imgpipe-Test-Second', 'second marker'));
    expect(await scan(object)).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Second.UNOFFICIAL' } },
    });
  });

  it('stops a clamd whose reload failed, which then fails every scan, for the next scan to start afresh', async () => {
    const { dir, clamd } = await clamdOn('reload-failed', {
      'first.ndb': signature('Imgpipe-Test-Unbroken', 'unbroken marker'),
    });
    try {
      // A file clamd cannot load: it says it kept the previous database, answers PING, and
      // answers every scan with an error, its connection left open.
      writeFileSync(join(dir, 'db', 'bad.ndb'), 'not a signature\n');
      await expect(clamd.reload()).rejects.toMatchObject({
        name: 'ScannerError',
        retryable: true,
        message: expect.stringMatching(
          /^clamd cannot scan since it reloaded the database \(ScannerError: clamd could not scan the object: .+ ERROR\): it was stopped, and the next scan starts it afresh$/,
        ),
      });
      // Stopped, so the scanner starts another (handlers/scanner.ts ready()).
      expect(clamd.running).toBe(false);
    } finally {
      await clamd.stop();
    }
    // clamd's idle timeout (75 s) would have been waited out for the error's connection to close.
  }, 60_000);

  it('finds the EICAR test file itself, and passes a clean file, with the EICAR string as a custom signature', async () => {
    // The official database cannot be downloaded here, so the test writes the signature: the EICAR
    // string anywhere in a file (an .ndb body signature; clamscan has no built-in EICAR detection).
    await put(SIGNATURES, 'eicar/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    await put(SOURCE, 'eicar.com', EICAR);
    await put(SOURCE, 'clean.txt', 'nothing to see');
    const scan = createScanTask(deps('eicar', { prefix: 'eicar/' }));
    tasks.push(scan);
    expect(await scan({ object: { bucket: SOURCE, key: 'eicar.com' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message: 'ClamAV found Eicar-Test-Signature.UNOFFICIAL in the file',
        details: { signature: 'Eicar-Test-Signature.UNOFFICIAL' },
      },
    });
    expect(await scan({ object: { bucket: SOURCE, key: 'clean.txt' } })).toMatchObject({ status: 'passed' });
  });

  it('reports the age of a database without a daily part from its newest part, so that the stale-database alarm can fire', async () => {
    // freshclam's database is main, daily and bytecode; one whose daily part is missing (its
    // download failed, or only main and bytecode were put under the prefix) has clamd's VERSION
    // name no build time ("ClamAV 1.4.6"), and the scans sent no SignatureDatabaseAge: the alarm on
    // it, with no data, never fired however old the database. main.cud is built here as sigtool
    // --unsigned builds one (ClamAV's signing key is not ours): a 512-byte header whose last field
    // is the build time, then a gzipped tar of the signatures and main.info, which repeats the
    // header and lists each file with its size and SHA-256. Built 10 days ago.
    const dir = join(workDir, 'no-daily-build');
    mkdirSync(dir, { recursive: true });
    const ndb = signature('Eicar-Test-Signature', EICAR);
    const builtAt = Math.floor(Date.now() / 1000) - 10 * 86_400;
    const head = (md5: string) =>
      `ClamAV-VDB:23 Nov 2026 23-33 +0000:62:1:216:${md5}:X:imgpipe-test:${builtAt}`;
    const sha256 = createHash('sha256').update(ndb).digest('hex');
    writeFileSync(join(dir, 'main.ndb'), ndb);
    writeFileSync(join(dir, 'COPYING'), 'ClamAV database\n');
    writeFileSync(join(dir, 'main.info'), `${head('X')}\nmain.ndb:${ndb.length}:${sha256}\n`);
    const tgz = execFileSync('tar', ['-czf', '-', 'COPYING', 'main.info', 'main.ndb'], { cwd: dir });
    const md5 = createHash('md5').update(tgz).digest('hex');
    const cud = Buffer.concat([Buffer.from(head(md5).padEnd(512, ' '), 'latin1'), tgz]);
    await put(SIGNATURES, 'no-daily/main.cud', cud);
    await put(SIGNATURES, 'no-daily/own.ndb', signature('Imgpipe-Test-Own', 'own marker'));
    await put(SOURCE, 'no-daily.txt', 'nothing to see');
    const options = deps('no-daily', { prefix: 'no-daily/' });
    const metric = vi.spyOn(options.metrics, 'addMetric');
    const scan = createScanTask(options);
    tasks.push(scan);
    try {
      const before = Math.floor(Date.now() / 1000);
      // The database is loaded (its signature finds EICAR), and VERSION names no daily part.
      expect(await scan({ object: { bucket: SOURCE, key: 'no-daily.txt' } })).toMatchObject({
        status: 'passed',
        engine: expect.stringMatching(/^ClamAV [\d.]+$/),
      });
      const after = Math.ceil(Date.now() / 1000);
      const ages = metric.mock.calls
        .filter(([name]) => name === 'SignatureDatabaseAge')
        .map(([, , age]) => age);
      expect(ages).toHaveLength(1);
      expect(ages[0]).toBeGreaterThanOrEqual(before - builtAt);
      expect(ages[0]).toBeLessThanOrEqual(after - builtAt);
    } finally {
      metric.mockRestore();
    }
  });

  it('finds malware in an archive appended to a JPEG, PNG, GIF or WebP, which clamd, taking the file for an image, did not open', async () => {
    // clamd 1.4 identifies a file by its first bytes: a JPEG, PNG, GIF or WebP with a gzip or bzip2 file after
    // its end (a polyglot: an image to a viewer, an archive to a tool that looks for one) was
    // scanned as an image, and the archive's content never unpacked: `stream: OK` for the EICAR
    // file inside (checked with clamscan too). The scanner scans what follows the image's end as
    // a stream of its own.
    await put(SIGNATURES, 'polyglot/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    const jpeg = readFixture('photos/colour-fig-red-bowl.jpg');
    const png = readFixture('edge/formats/alpha-rgba8.png');
    const gif = readFixture('edge/formats/gif.gif');
    const webp = readFixture('edge/formats/lossy.webp');
    const archives: Record<string, Uint8Array> = { gz: gzipSync(EICAR) };
    if (hasTool('bzip2')) archives.bz2 = execFileSync('bzip2', ['-c'], { input: EICAR });
    const scan = createScanTask(deps('polyglot', { prefix: 'polyglot/' }));
    tasks.push(scan);
    for (const [format, image] of Object.entries({ jpg: jpeg, png, gif, webp })) {
      for (const [kind, archive] of Object.entries(archives)) {
        const key = `polyglot.${format}.${kind}`;
        await put(SOURCE, key, Buffer.concat([image, archive]));
        expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({
          status: 'rejected',
          rejection: {
            reason: 'malware',
            message: `ClamAV found Eicar-Test-Signature.UNOFFICIAL in the ${archive.length} bytes after the image's end, at byte ${image.length}`,
            details: {
              signature: 'Eicar-Test-Signature.UNOFFICIAL',
              trailing: { offset: image.length, bytes: archive.length },
            },
          },
        });
      }
    }
    // An image after the image (a phone's gain map, MPF's previews) is walked past to what follows it.
    await put(SOURCE, 'polyglot.two.gz', Buffer.concat([jpeg, jpeg, archives.gz!]));
    expect(await scan({ object: { bucket: SOURCE, key: 'polyglot.two.gz' } })).toMatchObject({
      status: 'rejected',
      rejection: { details: { trailing: { offset: 2 * jpeg.length, bytes: archives.gz!.length } } },
    });
    // What is clean after the end passes, as does an image after the image.
    await put(SOURCE, 'clean.jpg.gz', Buffer.concat([jpeg, gzipSync('nothing to see')]));
    await put(SOURCE, 'clean.jpg.jpg', Buffer.concat([jpeg, jpeg]));
    expect(await scan({ object: { bucket: SOURCE, key: 'clean.jpg.gz' } })).toMatchObject({
      status: 'passed',
    });
    expect(await scan({ object: { bucket: SOURCE, key: 'clean.jpg.jpg' } })).toMatchObject({
      status: 'passed',
    });
  });

  it('finds malware in an archive inside a JPEG segment, a PNG private chunk, a WebP chunk or a HEIF box no decoder reads, which clamd did not open', async () => {
    // clamd 1.4 types a stream by its first bytes and looks for a deflated zip's local header
    // anywhere, but not for a gzip or bzip2 file: EICAR gzipped (or bzip2ed) in a JPEG COM or APP9
    // segment, a PNG private chunk, a WebP chunk of no defined type, or a top-level box of no known type in an AVIF or HEIC file was
    // `stream: OK` (a zip there was found). The scanner scans each such region as a stream of its own.
    await put(SIGNATURES, 'embedded/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    const jpeg = readFixture('photos/colour-fig-red-bowl.jpg');
    const png = readFixture('edge/formats/alpha-rgba8.png');
    const avif = readFixture('edge/formats/avif-8bit-420.avif');
    const heic = readFixture('edge/formats/heic.heic');
    const webp = readFixture('edge/formats/lossy.webp');
    const archives: Record<string, Buffer> = { gz: gzipSync(EICAR) };
    if (hasTool('bzip2')) archives.bz2 = execFileSync('bzip2', ['-c'], { input: EICAR });
    const segment = (marker: number, body: Uint8Array) => {
      const head = Buffer.from([0xff, marker, 0, 0]);
      head.writeUInt16BE(body.length + 2, 2);
      return Buffer.concat([head, body]);
    };
    const chunk = (type: string, body: Uint8Array) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(body.length, 0);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
      return Buffer.concat([head, body, crc]);
    };
    // A WebP with a chunk of its own after the others, its RIFF size counting it.
    const riffWith = (type: string, body: Uint8Array) => {
      const head = Buffer.alloc(8);
      head.write(type, 0, 'latin1');
      head.writeUInt32LE(body.length, 4);
      const file = Buffer.concat([webp, head, body, Buffer.alloc(body.length & 1)]);
      file.writeUInt32LE(file.length - 8, 4);
      return file;
    };
    const box = (type: string, body: Uint8Array) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(body.length + 8, 0);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, body]);
    };
    // Where each file puts the archive: after the JPEG's SOI, after the PNG's IHDR, after the last box.
    const files: Record<string, (archive: Buffer) => { file: Buffer; offset: number }> = {
      'jpg-com': (a) => ({
        file: Buffer.concat([jpeg.subarray(0, 2), segment(0xfe, a), jpeg.subarray(2)]),
        offset: 6,
      }),
      'jpg-app9': (a) => ({
        file: Buffer.concat([jpeg.subarray(0, 2), segment(0xe9, a), jpeg.subarray(2)]),
        offset: 6,
      }),
      'png-prvt': (a) => ({
        file: Buffer.concat([png.subarray(0, 33), chunk('prVt', a), png.subarray(33)]),
        offset: 41,
      }),
      'avif-box': (a) => ({ file: Buffer.concat([avif, box('junk', a)]), offset: avif.length + 8 }),
      'heic-free': (a) => ({ file: Buffer.concat([heic, box('free', a)]), offset: heic.length + 8 }),
      'webp-junk': (a) => ({ file: riffWith('JUNK', a), offset: webp.length + 8 }),
    };
    const scan = createScanTask(deps('embedded', { prefix: 'embedded/' }));
    tasks.push(scan);
    for (const [where, build] of Object.entries(files)) {
      for (const [kind, archive] of Object.entries(archives)) {
        const key = `embedded.${where}.${kind}`;
        const { file, offset } = build(archive);
        await put(SOURCE, key, file);
        expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({
          status: 'rejected',
          rejection: {
            reason: 'malware',
            message: `ClamAV found Eicar-Test-Signature.UNOFFICIAL in the ${archive.length} bytes of a segment, chunk or box no decoder reads, at byte ${offset}`,
            details: {
              signature: 'Eicar-Test-Signature.UNOFFICIAL',
              embedded: { offset, bytes: archive.length },
            },
          },
        });
      }
      // A clean archive there passes.
      const key = `embedded.${where}.clean`;
      await put(SOURCE, key, build(gzipSync('nothing to see')).file);
      expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({ status: 'passed' });
    }
    // More such regions than are scanned one by one: not scanned whole, quarantined as a limit.
    const many = Array.from({ length: MAX_EMBEDDED_SCANS + 1 }, () =>
      segment(0xfe, Buffer.from('a comment')),
    );
    await put(SOURCE, 'embedded.many.jpg', Buffer.concat([jpeg.subarray(0, 2), ...many, jpeg.subarray(2)]));
    expect(await scan({ object: { bucket: SOURCE, key: 'embedded.many.jpg' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message: `imgpipe did not scan the whole file: it has ${MAX_EMBEDDED_SCANS + 1} segments, chunks or boxes no decoder reads, more than the ${MAX_EMBEDDED_SCANS} scanned each on its own (Imgpipe.Limits.Exceeded.EmbeddedContent, imgpipe's own limit, not ClamAV's): content past it is unscanned`,
        details: { limitExceeded: true, embeddedRegions: MAX_EMBEDDED_SCANS + 1 },
      },
    });
  });

  it('finds malware in a gzip or bzip2 file behind other bytes: after junk or a video following an image, in a HEIF mdat box, in a GIF comment', async () => {
    // clamd 1.4 types a stream by its first bytes and looks for no gzip or bzip2 file inside one
    // (ClamAV 1.4.6: EICAR gzipped after "junk" or an MP4 following a JPEG, in an AVIF's or HEIC's
    // mdat box after its last box, in a GIF comment: stream OK, with the appended bytes scanned on
    // their own too). The scanner scans from each gzip or bzip2 header in the file to its end.
    await put(SIGNATURES, 'behind/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    const jpeg = readFixture('photos/colour-fig-red-bowl.jpg');
    const avif = readFixture('edge/formats/avif-8bit-420.avif');
    const heic = readFixture('edge/formats/heic.heic');
    const gif = readFixture('edge/formats/gif.gif');
    const archives: Record<string, Buffer> = { gz: gzipSync(EICAR) };
    if (hasTool('bzip2')) archives.bz2 = execFileSync('bzip2', ['-c'], { input: EICAR });
    // An xz file of more than the EICAR file alone, which xz would store as it is (found raw).
    if (hasTool('xz')) archives.xz = execFileSync('xz', ['-c'], { input: EICAR + 'A'.repeat(200) });
    const box = (type: string, body: Uint8Array, size = body.length + 8) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(size, 0);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, body]);
    };
    // A motion photo's video: an MP4's ftyp box and an mdat of coded (here random) bytes.
    const video = Buffer.concat([
      box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2mp41', 'latin1')),
      box('mdat', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))),
    ]);
    // A GIF comment extension (0x21 0xFE) of one sub-block, after the header and logical screen.
    const comment = (a: Uint8Array) =>
      Buffer.concat([Buffer.from([0x21, 0xfe, a.length]), a, Buffer.from([0])]);
    const gifStart = 13 + (gif[10]! & 0x80 ? 3 * 2 ** ((gif[10]! & 7) + 1) : 0);
    const files: Record<string, (archive: Buffer) => { file: Buffer; offset: number }> = {
      'jpg-junk': (a) => ({ file: Buffer.concat([jpeg, Buffer.from('junk'), a]), offset: jpeg.length + 4 }),
      'jpg-video': (a) => ({ file: Buffer.concat([jpeg, video, a]), offset: jpeg.length + video.length }),
      'avif-mdat': (a) => ({ file: Buffer.concat([avif, box('mdat', a)]), offset: avif.length + 8 }),
      'avif-mdat-to-end': (a) => ({
        file: Buffer.concat([avif, box('mdat', a, 0)]),
        offset: avif.length + 8,
      }),
      'heic-mdat': (a) => ({ file: Buffer.concat([heic, box('mdat', a)]), offset: heic.length + 8 }),
      'gif-comment': (a) => ({
        file: Buffer.concat([gif.subarray(0, gifStart), comment(a), gif.subarray(gifStart)]),
        offset: gifStart + 3,
      }),
    };
    const scan = createScanTask(deps('behind', { prefix: 'behind/' }));
    tasks.push(scan);
    for (const [where, build] of Object.entries(files)) {
      for (const [kind, archive] of Object.entries(archives)) {
        const key = `behind.${where}.${kind}`;
        const { file, offset } = build(archive);
        await put(SOURCE, key, file);
        expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({
          status: 'rejected',
          rejection: {
            reason: 'malware',
            message: `ClamAV found Eicar-Test-Signature.UNOFFICIAL in the ${{ gz: 'gzip', bz2: 'bzip2', xz: 'xz' }[kind]} file at byte ${offset} (${file.length - offset} bytes from there to the file's end)`,
            details: {
              signature: 'Eicar-Test-Signature.UNOFFICIAL',
              archive: { offset, bytes: file.length - offset },
            },
          },
        });
      }
      // A clean archive there passes.
      const key = `behind.${where}.clean`;
      await put(SOURCE, key, build(gzipSync('nothing to see')).file);
      expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({ status: 'passed' });
    }
    // More headers than are scanned one by one, or scans adding up to more than a few times the
    // file: not scanned, quarantined as a limit.
    const gz = gzipSync('nothing to see');
    const headers = Array.from({ length: MAX_EMBEDDED_SCANS + 1 }, () => gz);
    await put(SOURCE, 'behind.many.jpg', Buffer.concat([jpeg, Buffer.from('junk'), ...headers]));
    expect(await scan({ object: { bucket: SOURCE, key: 'behind.many.jpg' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message: `imgpipe did not scan the whole file: it has more than ${MAX_EMBEDDED_SCANS} gzip, bzip2 or xz headers, each scanned on its own (Imgpipe.Limits.Exceeded.EmbeddedArchives, imgpipe's own limit, not ClamAV's): content past it is unscanned`,
        details: { limitExceeded: true, archiveHeaders: MAX_EMBEDDED_SCANS + 1 },
      },
    });
    const early = Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xfe, 0, 0]), gz, gz, gz, gz, gz]);
    early.writeUInt16BE(5 * gz.length + 2, 4);
    const wide = Buffer.concat([early, jpeg.subarray(2)]);
    await put(SOURCE, 'behind.wide.jpg', wide);
    expect(await scan({ object: { bucket: SOURCE, key: 'behind.wide.jpg' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message: expect.stringContaining(`more than ${ARCHIVE_SCAN_FACTOR} times the file's ${wide.length}`),
        details: { limitExceeded: true, archiveHeaders: 5 },
      },
    });
    // What phones write passes: a motion photo's video after the image, a gain map, padding.
    for (const [key, file] of Object.entries({
      'behind.motion.jpg': Buffer.concat([jpeg, video]),
      'behind.gainmap.jpg': Buffer.concat([jpeg, jpeg]),
      'behind.padding.jpg': Buffer.concat([jpeg, Buffer.alloc(4096)]),
    })) {
      await put(SOURCE, key, file);
      expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({ status: 'passed' });
    }
  });

  it('finds malware in an archive the container splits: over GIF sub-blocks, several GIF extensions, several JPEG segments', async () => {
    // A GIF extension holds its data in sub-blocks of at most 255 bytes, each after its length
    // byte; a JPEG segment holds at most 65533 bytes, and a profile or a comment longer than that
    // goes over several. A gzip file put there is whole only to a tool that extracts the data
    // (concatenating the sub-blocks, or the segments' payloads): in the file it is broken at the
    // first length byte or marker, and clamd, unpacking from its header, stopped there: EICAR
    // after 3000 bytes of text, gzipped (1682 bytes), was `stream: OK` (ClamAV 1.4.6). The
    // scanner scans each container's reassembled payload.
    await put(SIGNATURES, 'split/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    const jpeg = readFixture('photos/colour-fig-red-bowl.jpg');
    const gif = readFixture('edge/formats/gif.gif');
    let seed = 1;
    const text = (length: number) =>
      Array.from({ length }, () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return 'abcdefghijklmnop'[Math.floor((seed / 2 ** 31) * 16)];
      }).join('');
    const archive = gzipSync(text(3000) + EICAR, { level: 9 });
    expect(archive.length).toBeGreaterThan(3 * 255);
    expect(archive.includes(Buffer.from('EICAR'))).toBe(false);
    const clean = gzipSync(`${text(3000)}nothing to see`, { level: 9 });
    const pieces = (data: Uint8Array, size: number) =>
      Array.from({ length: Math.ceil(data.length / size) }, (_, i) =>
        data.subarray(i * size, (i + 1) * size),
      );
    const subBlocks = (data: Uint8Array) =>
      Buffer.concat([
        ...pieces(data, 255).map((p) => Buffer.concat([Buffer.from([p.length]), p])),
        Buffer.from([0]),
      ]);
    const gifStart = 13 + (gif[10]! & 0x80 ? 3 * 2 ** ((gif[10]! & 7) + 1) : 0);
    const inGif = (...extensions: Buffer[]) =>
      Buffer.concat([gif.subarray(0, gifStart), ...extensions, gif.subarray(gifStart)]);
    const comment = (data: Uint8Array) => Buffer.concat([Buffer.from([0x21, 0xfe]), subBlocks(data)]);
    const application = (data: Uint8Array) =>
      Buffer.concat([Buffer.from([0x21, 0xff, 11]), Buffer.from('IMGPIPETEST', 'latin1'), subBlocks(data)]);
    const segment = (marker: number, ...body: Uint8Array[]) => {
      const payload = Buffer.concat(body);
      const head = Buffer.from([0xff, marker, 0, 0]);
      head.writeUInt16BE(payload.length + 2, 2);
      return Buffer.concat([head, payload]);
    };
    const inJpeg = (...segments: Buffer[]) =>
      Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
    const comments = (data: Uint8Array, size: number) => pieces(data, size).map((p) => segment(0xfe, p));
    // An ICC profile over APP2 segments: "ICC_PROFILE\0", the segment's number and the count, then
    // its share of the profile; tools join the shares in the numbers' order.
    const profile = (data: Uint8Array, size: number) => {
      const shares = pieces(data, size);
      return shares.map((p, i) =>
        segment(0xe2, Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.from([i + 1, shares.length]), p),
      );
    };
    const files: Record<string, (data: Uint8Array) => Buffer> = {
      'gif-comment': (a) => inGif(comment(a)),
      'gif-comments': (a) => inGif(...pieces(a, 600).map((p) => comment(p))),
      'gif-application': (a) => inGif(application(a)),
      // The gzip header itself across sub-blocks: "junk" and its first two bytes in the first.
      'gif-comment-header-split': (a) =>
        inGif(
          Buffer.concat([
            Buffer.from([0x21, 0xfe, 6]),
            Buffer.from('junk'),
            a.subarray(0, 2),
            subBlocks(a.subarray(2)),
          ]),
        ),
      'jpg-com': (a) => inJpeg(...comments(a, 500)),
      'jpg-app2-icc': (a) => inJpeg(...profile(a, 500)),
      // Tools join the shares by their numbers, whatever their order in the file.
      'jpg-app2-icc-reordered': (a) => inJpeg(...profile(a, 500).reverse()),
      // Adobe's extended XMP over APP1 segments: its namespace, a GUID, the full length and the
      // share's offset, then the share; tools join the shares by their offsets (here in reverse).
      'jpg-app1-extended-xmp': (a) =>
        inJpeg(
          ...pieces(a, 500)
            .map((p, i) => {
              const sizes = Buffer.alloc(8);
              sizes.writeUInt32BE(a.length, 0);
              sizes.writeUInt32BE(i * 500, 4);
              return segment(
                0xe1,
                Buffer.from('http://ns.adobe.com/xmp/extension/\0', 'latin1'),
                Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'latin1'),
                sizes,
                p,
              );
            })
            .reverse(),
        ),
      'jpg-app9-behind': (a) =>
        inJpeg(...pieces(Buffer.concat([Buffer.from('junk'), a]), 500).map((p) => segment(0xe9, p))),
    };
    const scan = createScanTask(deps('split', { prefix: 'split/' }));
    tasks.push(scan);
    for (const [where, build] of Object.entries(files)) {
      const key = `split.${where}`;
      await put(SOURCE, key, build(archive));
      expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({
        status: 'rejected',
        rejection: {
          reason: 'malware',
          message: expect.stringMatching(
            /^ClamAV found Eicar-Test-Signature\.UNOFFICIAL in the \d+ bytes of the (GIF|JPEG) .+ joined from \d+ pieces, the first at byte \d+( \(a gzip file at byte \d+ of them\))?$/,
          ),
          details: {
            signature: 'Eicar-Test-Signature.UNOFFICIAL',
            reassembled: {
              offset: expect.any(Number),
              bytes: expect.any(Number),
              pieces: expect.any(Number),
            },
          },
        },
      });
      const cleanKey = `split.${where}.clean`;
      await put(SOURCE, cleanKey, build(clean));
      expect(await scan({ object: { bucket: SOURCE, key: cleanKey } }), cleanKey).toMatchObject({
        status: 'passed',
      });
    }
    // The EICAR string itself, split over two comment segments.
    await put(SOURCE, 'split.jpg-com-raw', inJpeg(...comments(Buffer.from(EICAR), 40)));
    expect(await scan({ object: { bucket: SOURCE, key: 'split.jpg-com-raw' } })).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { reassembled: { bytes: EICAR.length, pieces: 2 } } },
    });
    // More scans of joined payloads (each whole, and from each archive header in it) than are
    // made one by one: not scanned, quarantined as a limit.
    // The whole, and the 64 headers past its first byte.
    const many = Buffer.concat(Array.from({ length: MAX_EMBEDDED_SCANS + 1 }, () => gzipSync('x')));
    await put(SOURCE, 'split.many.jpg', inJpeg(...comments(many, Math.ceil(many.length / 2))));
    expect(await scan({ object: { bucket: SOURCE, key: 'split.many.jpg' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message: expect.stringMatching(
          /^imgpipe did not scan the whole .*\(Imgpipe\.Limits\.Exceeded\.ReassembledContent, imgpipe's own limit, not ClamAV's\)/,
        ),
        details: { limitExceeded: true, reassembledScans: MAX_EMBEDDED_SCANS + 1 },
      },
    });
    // An animated GIF (frames of several sub-blocks each) passes.
    await put(SOURCE, 'split.animated.gif', readFixture('edge/animated/card-3-frames.gif'));
    expect(await scan({ object: { bucket: SOURCE, key: 'split.animated.gif' } })).toMatchObject({
      status: 'passed',
    });
  });

  it('finds malware in a PNG’s compressed text (zTXt, iTXt) or profile (iCCP), which clamd does not inflate', async () => {
    // A PNG's zTXt chunk, an iTXt chunk with its compression flag set and the iCCP profile hold
    // zlib streams that every PNG tool inflates (exiftool prints the text). clamd does not: the
    // EICAR file as such a text or profile was `stream: OK` (ClamAV 1.4.6; in a tEXt chunk,
    // uncompressed, it is found).
    await put(SIGNATURES, 'inflate/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    const png = readFixture('edge/formats/alpha-rgba8.png');
    const chunk = (type: string, ...body: Uint8Array[]) => {
      const data = Buffer.concat(body);
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
      return Buffer.concat([head, data, crc]);
    };
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    // After the IHDR chunk (33 bytes with the signature); its data 8 bytes on.
    const withChunk = (c: Buffer) => Buffer.concat([png.subarray(0, 33), c, png.subarray(33)]);
    const files: Record<string, (text: Uint8Array) => Buffer> = {
      zTXt: (t) => withChunk(chunk('zTXt', latin1('Comment\0\0'), deflateSync(t))),
      iTXt: (t) => withChunk(chunk('iTXt', latin1('Comment\0\x01\0en\0\0'), deflateSync(t))),
      iCCP: (t) => withChunk(chunk('iCCP', latin1('profile\0\0'), deflateSync(t))),
    };
    const scan = createScanTask(deps('inflate', { prefix: 'inflate/' }));
    tasks.push(scan);
    for (const [type, build] of Object.entries(files)) {
      const key = `inflate.${type}.png`;
      await put(SOURCE, key, build(Buffer.from(EICAR)));
      expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({
        status: 'rejected',
        rejection: {
          reason: 'malware',
          message: `ClamAV found Eicar-Test-Signature.UNOFFICIAL in the ${EICAR.length} bytes of the PNG ${type} chunk inflated, at byte 41`,
          details: {
            reassembled: { name: `the PNG ${type} chunk inflated`, offset: 41, bytes: EICAR.length },
          },
        },
      });
      const cleanKey = `inflate.${type}.clean.png`;
      await put(SOURCE, cleanKey, build(Buffer.from('nothing to see')));
      expect(await scan({ object: { bucket: SOURCE, key: cleanKey } }), cleanKey).toMatchObject({
        status: 'passed',
      });
    }
    // A text inflating past what is inflated to be scanned (a zlib stream inflates up to 1032
    // times its size): not scanned, quarantined as a limit.
    await put(SOURCE, 'inflate.bomb.png', files.zTXt!(Buffer.alloc(MAX_INFLATED_BYTES + 1)));
    expect(await scan({ object: { bucket: SOURCE, key: 'inflate.bomb.png' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message: expect.stringMatching(
          /^imgpipe did not scan the whole .*\(Imgpipe\.Limits\.Exceeded\.InflatedContent, imgpipe's own limit, not ClamAV's\)/,
        ),
        details: { limitExceeded: true, maxInflatedBytes: MAX_INFLATED_BYTES },
      },
    });
  });

  it('scans what an archive unpacks to past maxBytes, and quarantines what it cannot scan whole', async () => {
    await put(SIGNATURES, 'limits/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    // 3 KB of zip inflating to 3 MiB with EICAR at its end; the scanner's maxBytes is 1 MiB.
    const bomb = zip([
      { name: 'a.bin', data: Buffer.concat([Buffer.alloc(3 * 1024 * 1024), Buffer.from(EICAR)]) },
    ]);
    expect(bomb.length).toBeLessThan(8 * 1024);
    await put(SOURCE, 'inflating.zip', bomb);
    // Zips nested deeper than clamd's MaxRecursion (17): the innermost is never looked at.
    let nested: Uint8Array = Buffer.from('nothing known in here');
    for (let depth = 0; depth < 20; depth++) nested = zip([{ name: `level-${depth}.zip`, data: nested }]);
    await put(SOURCE, 'nested.zip', nested);
    const scan = createScanTask(deps('limits', { prefix: 'limits/' }));
    tasks.push(scan);
    expect(await scan({ object: { bucket: SOURCE, key: 'inflating.zip' } })).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Eicar-Test-Signature.UNOFFICIAL' } },
    });
    expect(await scan({ object: { bucket: SOURCE, key: 'nested.zip' } })).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'malware',
        message:
          'ClamAV could not scan the whole file (Heuristics.Limits.Exceeded.MaxRecursion): content past its limits is unscanned',
        details: { signature: 'Heuristics.Limits.Exceeded.MaxRecursion', limitExceeded: true },
      },
    });
  });

  it('finds what a zip member holds past 100 MiB, which clamd scanned cut at its default MaxFileSize with no finding', async () => {
    await put(SIGNATURES, 'long-member/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    // About 100 KB of zip; its member inflates to 101 MiB of zeros and EICAR. clamd writes it to
    // the real /tmp (the test's work folder) and scans it.
    const member = Buffer.concat([Buffer.alloc(101 * 1024 * 1024), Buffer.from(EICAR)]);
    await put(SOURCE, 'long-member.zip', zip([{ name: 'long.bin', data: member }]));
    const scan = createScanTask(deps('long-member', { prefix: 'long-member/' }));
    tasks.push(scan);
    expect(await scan({ object: { bucket: SOURCE, key: 'long-member.zip' } })).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Eicar-Test-Signature.UNOFFICIAL' } },
    });
  });

  it('quarantines an archive whose members would not fit in the room /tmp has, rather than letting clamd fill it', async () => {
    const MiB = 1024 * 1024;
    await put(SIGNATURES, 'tmp-room/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    // A few KB of zip, within the capacity, whose member inflates to 3 MiB of zeros: clamd writes
    // the member to /tmp, where 4 MiB are free beside what is kept for its other files (a statfs
    // figure: no disk is filled), and writes up to MaxFileSize of it before it looks at MaxScanSize.
    // Held to half of the room (2M), the member is cut there, and the scan past MaxScanSize.
    await put(SOURCE, 'tmp-room-inflating.zip', zip([{ name: 'zeros.bin', data: Buffer.alloc(3 * MiB) }]));
    // EICAR past 2 MiB: a member cut at MaxFileSize alone would be scanned as cut, and pass.
    const tail = Buffer.concat([Buffer.alloc(3 * MiB), Buffer.from(EICAR)]);
    await put(SOURCE, 'tmp-room-tail.zip', zip([{ name: 'tail.bin', data: tail }]));
    await put(SOURCE, 'tmp-room-fitting.zip', zip([{ name: 'zeros.bin', data: Buffer.alloc(MiB) }]));
    const bsize = 4096;
    const scan = createScanTask({
      ...deps('tmp-room', { prefix: 'tmp-room/' }),
      statfs: async () => ({ bavail: (TMP_RESERVE_BYTES + 4 * MiB) / bsize, bsize }),
    });
    tasks.push(scan);
    for (const key of ['tmp-room-inflating.zip', 'tmp-room-tail.zip'])
      expect(await scan({ object: { bucket: SOURCE, key } }), key).toMatchObject({
        status: 'rejected',
        rejection: {
          reason: 'malware',
          message:
            'ClamAV could not scan the whole file (Heuristics.Limits.Exceeded.MaxScanSize): content past its limits is unscanned',
          details: { signature: 'Heuristics.Limits.Exceeded.MaxScanSize', limitExceeded: true },
        },
      });
    // What fits is scanned as before.
    expect(await scan({ object: { bucket: SOURCE, key: 'tmp-room-fitting.zip' } })).toMatchObject({
      status: 'passed',
    });
  });

  it('refuses a stream over clamd’s limit as clamd would, not retryable; a hung clamd times out, retryable, and is killed', async () => {
    // StreamMaxLength 2M: clamd would answer and close the socket while 3 MiB are still being sent
    // (EPIPE); the client refuses them itself, as clamd would, not retryable.
    const { clamd } = await clamdOn('clamd-direct', {
      'test.ndb': signature('Imgpipe-Test-Marker', 'marker'),
    });
    try {
      for (let i = 0; i < 5; i++)
        await expect(clamd.scan(new Uint8Array(3 * 1024 * 1024 + i * 4099))).rejects.toMatchObject({
          name: 'ScannerError',
          retryable: false,
          message: expect.stringMatching(
            /^clamd cannot take the object \(\d+ bytes\): over its StreamMaxLength of 2097152 bytes \(INSTREAM size limit exceeded\)$/,
          ),
        });
      // Stopped (SIGSTOP), clamd accepts connections and never answers.
      process.kill(clamd.pid!, 'SIGSTOP');
      // The message names the idle timeout that fired: the 300 ms given, not IDLE_TIMEOUT_MS (no
      // clock is read: on a loaded machine the kill and the reply may take any time).
      await expect(clamd.scan(new Uint8Array(10), { idleTimeoutMs: 300 })).rejects.toMatchObject({
        name: 'ScannerError',
        retryable: true,
        message: expect.stringMatching(/did not answer on .* within 300 ms$/),
      });
      // Killed, so that nothing asks the hung daemon again: the caller starts another.
      expect(clamd.running).toBe(false);
    } finally {
      await clamd.stop();
    }
  }, 30_000);

  it('runs every signature over an object past 100 MiB that maxBytes allows, PCRE ones included', async () => {
    const MIB = 1024 * 1024;
    // A logical signature (.ldb) whose PCRE part must match: "marker", then the regular expression.
    // A pipeline that takes 128 MiB: its clamd takes streams of that size, and scans them whole.
    const { clamd } = await clamdOn(
      'pcre',
      {
        'test.ldb': `Imgpipe-Test-Pcre;Engine:81-255,Target:0;0&1;${Buffer.from('marker').toString('hex')};0/marker[0-9]{3}end/\n`,
      },
      { maxBytes: 128 * MIB },
    );
    try {
      const marker = Buffer.from('marker123end');
      for (const size of [MIB, 101 * MIB]) {
        const bytes = new Uint8Array(size);
        bytes.set(marker, size - marker.length);
        expect(await clamd.scan(bytes), `${size} bytes`).toMatchObject({
          infected: true,
          signature: 'Imgpipe-Test-Pcre.UNOFFICIAL',
        });
      }
    } finally {
      await clamd.stop();
    }
  }, 60_000);

  it('runs HTML signatures over an HTML object past 40 MiB that maxBytes allows', async () => {
    const MIB = 1024 * 1024;
    // Target:3 signatures match HTML after clamd has normalised it, which it skips, with no finding,
    // past MaxHTMLNormalize (40M by default).
    const { clamd } = await clamdOn(
      'html',
      { 'test.ndb': `Imgpipe-Test-Html:3:*:${Buffer.from('imgpipemarker').toString('hex')}\n` },
      { maxBytes: 64 * MIB },
    );
    try {
      for (const size of [MIB, 41 * MIB]) {
        const line = Buffer.from('<p>filler text here</p>\n');
        const head = Buffer.from('<html><body>');
        const tail = Buffer.from('<script>var x="imgpipemarker";</script></body></html>');
        const bytes = Buffer.alloc(size, 0x20);
        head.copy(bytes, 0);
        for (let at = head.length; at + line.length <= size - tail.length; at += line.length)
          line.copy(bytes, at);
        tail.copy(bytes, size - tail.length);
        expect(await clamd.scan(bytes), `${size} bytes`).toMatchObject({
          infected: true,
          signature: 'Imgpipe-Test-Html.UNOFFICIAL',
        });
      }
    } finally {
      await clamd.stop();
    }
  }, 60_000);

  it('scans the retry after a hung clamd on a fresh daemon, not on the hung one', async () => {
    await put(SIGNATURES, 'hung/test.ndb', signature('Imgpipe-Test-Hung', 'hung marker'));
    await put(SOURCE, 'hung.txt', 'a file with the hung marker in it');
    const dir = join(workDir, 'hung');
    const scan = createScanTask(deps('hung', { prefix: 'hung/' }));
    tasks.push(scan);
    const object = { object: { bucket: SOURCE, key: 'hung.txt' } };
    expect(await scan(object)).toMatchObject({ status: 'rejected' });
    // The daemon this task started (its configuration file is in the task's own folder).
    const pid = Number(
      execFileSync(
        'pgrep',
        ['-P', String(process.pid), '-f', '--', `--config-file=${join(dir, 'clamd.conf')}`],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n')[0],
    );
    expect(pid).toBeGreaterThan(0);
    // Stopped (SIGSTOP), clamd accepts connections and never answers. An invocation with 6 s left
    // waits 1 s for it (its remaining time less 5 s and the PING's second, at least a second), then
    // a second for a PING, and fails retryable, as a Retry would see it.
    process.kill(pid, 'SIGSTOP');
    const context = { getRemainingTimeInMillis: () => 6_000 } as Context;
    try {
      await expect(scan(object, context)).rejects.toMatchObject({
        name: 'Imgpipe.Transient',
        message: expect.stringMatching(/did not answer on .* within 1000 ms$/),
      });
      // The state machine's retry, with a whole invocation's time: the hung daemon is gone, a fresh
      // one scans.
      const retry = { getRemainingTimeInMillis: () => 100_000 } as Context;
      expect(await scan(object, retry)).toMatchObject({
        status: 'rejected',
        rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Hung.UNOFFICIAL' } },
      });
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Already gone.
      }
    }
  }, 30_000);

  it('leaves a busy clamd running when the invocation runs out of time during a scan, and still kills a hung one', async () => {
    const { clamd } = await clamdOn(
      'busy',
      { 'test.ndb': signature('Imgpipe-Test-Busy', 'busy marker') },
      { maxBytes: 64 * 1024 * 1024 },
    );
    try {
      // 64 MiB for clamd to read and scan, with 1 ms of the invocation left to wait in: the wait
      // is cut short while clamd works, which is no sign that it hangs (it answers a PING). Were it
      // to answer within the millisecond, the scan is done and it is running all the same.
      const large = Buffer.alloc(64 * 1024 * 1024, 'busy, not hung ');
      // A loaded machine may keep clamd from answering the PING within the function's second: the
      // test gives it longer, the decision is the same.
      const outcome = await clamd.scan(large, { timeLeftMs: 1, probeMs: 20_000 }).then(
        (verdict) => verdict,
        (error: Error) => error,
      );
      if (outcome instanceof Error)
        expect(outcome.message).toMatch(
          /^clamd had not finished scanning the object \(67108864 bytes\) when the invocation's time ran out \(1 ms of silence\): it still answers PING/,
        );
      expect(clamd.running).toBe(true);
      expect(await clamd.scan(Buffer.from('a file with the busy marker'))).toMatchObject({
        infected: true,
        signature: 'Imgpipe-Test-Busy.UNOFFICIAL',
      });
      // Stopped (SIGSTOP), it answers neither the scan nor the PING: hung, and killed.
      process.kill(clamd.pid!, 'SIGSTOP');
      await expect(clamd.scan(Buffer.from('anything'), { timeLeftMs: 200 })).rejects.toThrow(
        /did not answer on .* within 200 ms$/,
      );
      expect(clamd.running).toBe(false);
    } finally {
      try {
        process.kill(clamd.pid!, 'SIGCONT');
      } catch {
        // Already gone.
      }
      await clamd.stop();
    }
  }, 60_000);

  it('clears what a killed clamd left in its temporary folder before starting another, rather than scanning less for good', async () => {
    const MiB = 1024 * 1024;
    await put(SIGNATURES, 'leftover/test.ndb', signature('Imgpipe-Test-Leftover', 'leftover marker'));
    await put(SOURCE, 'leftover-small.txt', 'a file with the leftover marker in it');
    await put(
      SOURCE,
      'leftover-large.bin',
      Buffer.concat([Buffer.alloc(2 * MiB), Buffer.from('leftover marker')]),
    );
    const dir = join(workDir, 'leftover');
    // A /tmp of its own size, every file under the task's folder counted as used (a statfs figure
    // from what is really there): 7 MiB beside what is kept for clamd's other files, so 3 MiB for a
    // stream, half of it.
    const used = (path: string): number =>
      readdirSync(path, { withFileTypes: true }).reduce((sum, entry) => {
        const full = join(path, entry.name);
        return sum + (entry.isDirectory() ? used(full) : entry.isFile() ? statSync(full).size : 0);
      }, 0);
    const bsize = 4096;
    const size = TMP_RESERVE_BYTES + 7 * MiB;
    const scan = createScanTask({
      ...deps('leftover', { prefix: 'leftover/' }),
      statfs: async (path: string) => ({ bavail: Math.floor((size - used(path)) / bsize), bsize }),
    });
    tasks.push(scan);
    const maxBytes = 4 * MiB;
    const small = { object: { bucket: SOURCE, key: 'leftover-small.txt' }, maxBytes };
    const large = { object: { bucket: SOURCE, key: 'leftover-large.bin' }, maxBytes };
    expect(await scan(small)).toMatchObject({ status: 'rejected', rejection: { reason: 'malware' } });
    // A stream clamd is writing to its temporary file when it hangs: 4 MiB of it sent, the rest never.
    const stream = connect(join(dir, 'clamd.sock'));
    await new Promise((resolve) => stream.once('connect', resolve));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(4 * MiB);
    stream.write(Buffer.concat([Buffer.from('zINSTREAM\0'), header, Buffer.alloc(4 * MiB)]));
    stream.on('error', () => {});
    while (used(dir) < 4 * MiB) await new Promise((resolve) => setTimeout(resolve, 20));
    const pid = Number(
      execFileSync(
        'pgrep',
        ['-P', String(process.pid), '-f', '--', `--config-file=${join(dir, 'clamd.conf')}`],
        {
          encoding: 'utf8',
        },
      )
        .trim()
        .split('\n')[0],
    );
    process.kill(pid, 'SIGSTOP');
    try {
      // The hung clamd is killed by the scan that finds it silent, as in Lambda.
      const context = { getRemainingTimeInMillis: () => 6_000 } as Context;
      await expect(scan(small, context)).rejects.toMatchObject({ name: 'Imgpipe.Transient' });
    } finally {
      stream.destroy();
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Already gone.
      }
    }
    // The retry starts another clamd: what the killed one wrote is no longer there to take half of
    // the room, and the 2 MiB object is scanned, not quarantined as too-large.
    const retry = { getRemainingTimeInMillis: () => 100_000 } as Context;
    expect(await scan(large, retry)).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Leftover.UNOFFICIAL' } },
    });
  }, 60_000);

  it('lets a database load that outlasts an invocation go on into the retry, instead of starting it afresh', async () => {
    await put(SIGNATURES, 'slow/test.ndb', signature('Imgpipe-Test-Slow', 'slow marker'));
    await put(SOURCE, 'slow.txt', 'a file with the slow marker in it');
    const scan = createScanTask(deps('slow', { prefix: 'slow/' }));
    tasks.push(scan);
    const starts = vi.spyOn(Clamd, 'start');
    try {
      const object = { object: { bucket: SOURCE, key: 'slow.txt' } };
      // An invocation left with no more than the scan's own reserve: the load is not waited for.
      const short = { getRemainingTimeInMillis: () => SCAN_RESERVE_MS } as Context;
      await expect(scan(object, short)).rejects.toMatchObject({
        name: 'Imgpipe.Transient',
        message: expect.stringMatching(
          /^ScannerError: clamd is still loading the signature database \(\d+ s since it started\), and this invocation has 15 s left, 15 s of them kept for the scan: /,
        ),
      });
      // The state machine's retry, in the same environment: the same load, started once.
      const ample = { getRemainingTimeInMillis: () => 100_000 } as Context;
      expect(await scan(object, ample)).toMatchObject({
        status: 'rejected',
        rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Slow.UNOFFICIAL' } },
      });
      expect(starts).toHaveBeenCalledTimes(1);
    } finally {
      starts.mockRestore();
    }
  }, 30_000);

  it('ends a first attempt waiting for the load while the upload workflow still has time for its retry', async () => {
    await put(SIGNATURES, 'retry-room/test.ndb', signature('Imgpipe-Test-Room', 'room marker'));
    await put(SOURCE, 'room.txt', 'a file with the room marker in it');
    const scan = createScanTask(deps('retry-room', { prefix: 'retry-room/' }));
    tasks.push(scan);
    const starts = vi.spyOn(Clamd, 'start');
    // The execution's clock, held still (only Date.now: the waits run on performance.now()).
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    try {
      const invocation = { getRemainingTimeInMillis: () => 100_000 } as Context;
      // The upload workflow's execution has exactly the room for a retry of a 100 s invocation
      // (with the 90 s kept to record a failure) after the Retry's first interval: waiting the
      // invocation through (85 s) would leave the retry refused, and the upload failed.
      const left = 100_000 + RECORD_RESERVE_MS + RETRY_START_MS;
      const started = new Date(now - (290_000 - left)).toISOString();
      const input = {
        object: { bucket: SOURCE, key: 'room.txt' },
        execution: { started, timeoutSeconds: 290 },
      };
      await expect(scan(input, invocation)).rejects.toMatchObject({
        name: 'Imgpipe.Transient',
        message: expect.stringMatching(
          /^ScannerError: clamd is still loading the signature database \(\d+ s since it started\), and a retry can start only within 3 s of this invocation's start, while the upload workflow's execution has time for this invocation's 100 s and 90 s kept to record a failure: /,
        ),
      });
      // The Retry, after its interval: the execution has no room for another, so this attempt
      // waits for the same load, started once, and scans.
      clock.mockReturnValue(now + 2_000);
      expect(() => checkExecutionTime(input, 'Scan', invocation)).not.toThrow();
      expect(await scan(input, invocation)).toMatchObject({
        status: 'rejected',
        rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Room.UNOFFICIAL' } },
      });
      expect(starts).toHaveBeenCalledTimes(1);
    } finally {
      clock.mockRestore();
      starts.mockRestore();
    }
  }, 60_000);

  it('lets a reload of a newer database that outlasts an invocation go on into the retry', async () => {
    await put(SIGNATURES, 'reload-slow/first.ndb', signature('Imgpipe-Test-Before', 'before marker'));
    await put(SOURCE, 'later.txt', 'a file with the later marker in it');
    const scan = createScanTask(deps('reload-slow', { prefix: 'reload-slow/', refreshMs: 0 }));
    tasks.push(scan);
    const object = { object: { bucket: SOURCE, key: 'later.txt' } };
    const ample = { getRemainingTimeInMillis: () => 100_000 } as Context;
    expect(await scan(object, ample)).toMatchObject({ status: 'passed' });
    await put(SIGNATURES, 'reload-slow/later.ndb', signature('Imgpipe-Test-Later', 'later marker'));
    const reloads = vi.spyOn(Clamd.prototype, 'reload');
    try {
      // Left with no more than the scan's own reserve: the reload (clamd scans nothing meanwhile)
      // is not waited for.
      const short = { getRemainingTimeInMillis: () => SCAN_RESERVE_MS } as Context;
      await expect(scan(object, short)).rejects.toMatchObject({
        name: 'Imgpipe.Transient',
        message: expect.stringMatching(/clamd is still reloading a newer signature database/),
      });
      // The retry scans with the newer database, reloaded once.
      expect(await scan(object, ample)).toMatchObject({
        status: 'rejected',
        rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Later.UNOFFICIAL' } },
      });
      expect(reloads).toHaveBeenCalledTimes(1);
    } finally {
      reloads.mockRestore();
    }
  }, 120_000);

  it('does not count the time the process was frozen against clamd’s start (Lambda freezes an environment between invocations)', async () => {
    const dir = join(workDir, 'frozen');
    mkdirSync(join(dir, 'db'), { recursive: true });
    writeFileSync(join(dir, 'db', 'test.ndb'), signature('Imgpipe-Test-Frozen', 'frozen marker'));
    // Every reading of the clock after the first is ten minutes later: a freeze right after the spawn.
    const now = performance.now.bind(performance);
    let readings = 0;
    const clock = vi
      .spyOn(performance, 'now')
      .mockImplementation(() => now() + (readings++ > 0 ? 600_000 : 0));
    let clamd: Clamd | undefined;
    try {
      clamd = await Clamd.start({
        databaseDir: join(dir, 'db'),
        workDir: join(dir, 'work'),
        maxBytes: 1024 * 1024,
        startTimeoutMs: 20_000,
        log: () => {},
      });
      expect(readings).toBeGreaterThan(1);
      expect(clamd.running).toBe(true);
    } finally {
      clock.mockRestore();
      await clamd?.stop();
    }
  }, 30_000);

  const COMMAND_TIMEOUT_MS = 3_000;
  it(
    'lets a reload go on across a freeze of the environment longer than a connection may stay silent',
    async () => {
      // The scanner leaves a reload going when its invocation ends (handlers/scanner.ts), and Lambda
      // freezes the environment, clamd and this process alike, until the next invocation.
      const { dir, clamd } = await clamdOn(
        'reload-frozen',
        { 'first.ndb': signature('Imgpipe-Test-Thawed', 'before marker') },
        // The function's 75 s (IDLE_TIMEOUT_MS), shortened so the freeze below need not last that
        // long: it counts the same way, and a freeze counted as waiting fails as it would at 75 s.
        { commandTimeoutMs: COMMAND_TIMEOUT_MS },
      );
      try {
        writeFileSync(join(dir, 'db', 'later.ndb'), signature('Imgpipe-Test-Thawed-Later', 'thawed marker'));
        process.kill(clamd.pid!, 'SIGSTOP');
        const reloading = clamd.reload();
        // The freeze: neither clamd nor this process runs, while the clock goes on past the time a
        // connection to a running clamd may stay silent.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, COMMAND_TIMEOUT_MS + 5_000);
        process.kill(clamd.pid!, 'SIGCONT');
        await reloading;
        expect(clamd.running).toBe(true);
        expect(await clamd.scan(Buffer.from('a file with the thawed marker'))).toMatchObject({
          infected: true,
          signature: 'Imgpipe-Test-Thawed-Later.UNOFFICIAL',
        });
      } finally {
        await clamd.stop();
      }
    },
    COMMAND_TIMEOUT_MS + 60_000,
  );

  it('waits for a reload that outlasts the time a command may go unanswered, as a reload of the official database does', async () => {
    // clamd answers the reload's PING once the new database is loaded, which takes as long as a load
    // (ClamAV's official database: 90-140 s in Lambda, past the 75 s a command may go unanswered).
    // Here a database of 300,000 MD5 signatures, whose reload takes seconds, against a command
    // timeout of 300 ms standing in for the 75 s: a clamd killed as hung at its reload was started
    // afresh by the next scan, the whole database loaded again, every hour.
    const hashes = Array.from(
      { length: 300_000 },
      (_, i) =>
        `${createHash('md5').update(`imgpipe-${i}`).digest('hex')}:${1000 + i}:Imgpipe-Test-Bulk-${i}`,
    );
    const { dir, clamd } = await clamdOn(
      'reload-long',
      {
        'bulk.hdb': `${hashes.join('\n')}\n`,
        'first.ndb': signature('Imgpipe-Test-Long-First', 'first marker'),
      },
      { commandTimeoutMs: 300 },
    );
    try {
      writeFileSync(join(dir, 'db', 'later.ndb'), signature('Imgpipe-Test-Long-Later', 'later marker'));
      await clamd.reload();
      expect(clamd.running).toBe(true);
      expect(await clamd.scan(Buffer.from('a file with the later marker'))).toMatchObject({
        infected: true,
        signature: 'Imgpipe-Test-Long-Later.UNOFFICIAL',
      });
    } finally {
      await clamd.stop();
    }
  }, 120_000);

  it('waits for a database load longer than 120 s, as the official database’s can be in Lambda', async () => {
    const dir = join(workDir, 'long-load');
    mkdirSync(join(dir, 'db'), { recursive: true });
    writeFileSync(join(dir, 'db', 'test.ndb'), signature('Imgpipe-Test-Long-Load', 'long marker'));
    // clamd is started by a wrapper that waits for a file, which the test's clock writes once 150 s
    // of waiting have gone by: a load that long, with no real wait. Each reading of the clock is
    // half a second later than the last, under the gap counted as a freeze, until then.
    const go = join(dir, 'go');
    const wrapper = join(dir, 'clamd-when-told.sh');
    writeFileSync(wrapper, `#!/bin/sh\nwhile [ ! -e '${go}' ]; do sleep 0.01; done\nexec clamd "$@"\n`, {
      mode: 0o755,
    });
    const now = performance.now.bind(performance);
    let advanced = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => {
      if (advanced < 150_000) {
        advanced += 500;
        if (advanced >= 150_000) writeFileSync(go, '');
      }
      return now() + advanced;
    });
    let clamd: Clamd | undefined;
    try {
      clamd = await Clamd.start({
        databaseDir: join(dir, 'db'),
        workDir: join(dir, 'work'),
        maxBytes: 1024 * 1024,
        binary: wrapper,
        log: () => {},
      });
      clock.mockRestore();
      expect(advanced).toBe(150_000);
      expect(await clamd.scan(Buffer.from('a file with the long marker'))).toMatchObject({
        infected: true,
        signature: 'Imgpipe-Test-Long-Load.UNOFFICIAL',
      });
    } finally {
      clock.mockRestore();
      await clamd?.stop();
    }
  }, 60_000);

  it('scans up to the maxBytes its input names, restarting clamd for streams longer than it took', async () => {
    await put(SIGNATURES, 'larger/test.ndb', signature('Imgpipe-Test-Tail', 'tail marker'));
    // 3 MiB, the marker at its end; the scanner's own maxBytes (IMGPIPE_MAX_BYTES) is 1 MiB.
    await put(
      SOURCE,
      'three-mib.bin',
      Buffer.concat([Buffer.alloc(3 * 1024 * 1024), Buffer.from('tail marker')]),
    );
    const scan = createScanTask(deps('larger', { prefix: 'larger/' }));
    tasks.push(scan);
    const object = { bucket: SOURCE, key: 'three-mib.bin' };
    expect(await scan({ object })).toMatchObject({ status: 'rejected', rejection: { reason: 'too-large' } });
    expect(await scan({ object, maxBytes: 4 * 1024 * 1024 })).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Tail.UNOFFICIAL' } },
    });
    await expect(scan({ object, maxBytes: 'lots' })).rejects.toMatchObject({ name: 'Imgpipe.Failed' });
  });

  it('quarantines an object within maxBytes that the function cannot hold as too-large before reading it, naming the limit', async () => {
    const MiB = 1024 * 1024;
    await put(SIGNATURES, 'capacity/test.ndb', signature('Imgpipe-Test-Tail', 'tail marker'));
    await put(SOURCE, 'two-mib.bin', Buffer.concat([Buffer.alloc(2 * MiB), Buffer.from('tail marker')]));
    const object = { bucket: SOURCE, key: 'two-mib.bin' };
    const size = 2 * MiB + 'tail marker'.length;
    const maxBytes = 4 * MiB;
    // What the scan asks of the source bucket: its limit refuses the object on its Content-Length.
    const asked: (number | undefined)[] = [];
    const counted = (name: string) => {
      const base = deps(name, { prefix: 'capacity/' });
      return {
        ...base,
        sourceStorage: (bucket: string) => {
          const storage = base.sourceStorage(bucket);
          return Object.assign(Object.create(storage), {
            get: (key: string, options: { maxBytes?: number }) => {
              asked.push(options.maxBytes);
              return storage.get(key, options);
            },
          }) as S3Storage;
        },
      };
    };
    // The memory: 1 MiB over Node's share, less clamd's resident engine, holds less than 1 MiB.
    const memoryMb = NODE_BASELINE_BYTES / MiB + 1;
    const byMemory = createScanTask({ ...counted('capacity-memory'), memoryMb });
    tasks.push(byMemory);
    const refused = await byMemory({ object, maxBytes });
    expect(refused).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'too-large',
        details: { bytes: size, maxBytes, scanCapacityLimit: 'memory' },
      },
    });
    const rejection = (
      refused as unknown as { rejection: { message: string; details: { scanCapacity: number } } }
    ).rejection;
    expect(rejection.details.scanCapacity).toBeLessThan(MiB);
    expect(rejection.message).toContain(
      `The file is ${size} bytes, within maxBytes (${maxBytes}) but more than the malware scanner can scan: ${rejection.details.scanCapacity} bytes, set by the function's memory: ${memoryMb} MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
    );
    expect(rejection.message).toMatch(/less clamd's \d+ resident/);
    expect(asked.at(-1)).toBe(rejection.details.scanCapacity);
    // /tmp: 2 MiB free beside what is kept for clamd's other files, half of them for what clamd
    // unpacks (a statfs figure, no disk filled).
    const bsize = 4096;
    const byTmp = createScanTask({
      ...counted('capacity-tmp'),
      statfs: async () => ({ bavail: (TMP_RESERVE_BYTES + 2 * MiB) / bsize, bsize }),
    });
    tasks.push(byTmp);
    const tmpRefused = await byTmp({ object, maxBytes });
    expect(tmpRefused).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'too-large',
        details: { bytes: size, maxBytes, scanCapacity: MiB, scanCapacityLimit: 'tmp' },
      },
    });
    expect((tmpRefused as unknown as { rejection: { message: string } }).rejection.message).toContain(
      `more than the malware scanner can scan: ${MiB} bytes, set by the temporary storage: ${TMP_RESERVE_BYTES + 2 * MiB} bytes free where clamd writes the stream before scanning it (${join(workDir, 'capacity-tmp')}, beside the database's ${signature('Imgpipe-Test-Tail', 'tail marker').length})`,
    );
    // Room for it: scanned as before, the marker found.
    const roomy = createScanTask({
      ...counted('capacity-roomy'),
      memoryMb: 4096,
      statfs: async () => ({ bavail: (TMP_RESERVE_BYTES + 6 * MiB) / bsize, bsize }),
    });
    tasks.push(roomy);
    expect(await roomy({ object, maxBytes })).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-Tail.UNOFFICIAL' } },
    });
    // Over maxBytes too: the pipeline's limit is the one named, as before.
    expect(await byTmp({ object, maxBytes: MiB })).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'too-large', details: { bytes: size, maxBytes: MiB } },
    });
  });

  it('counts clamd’s MaxFileSize, set from the room /tmp had when it started, in the capacity, rather than quarantining a larger object as malware', async () => {
    const MiB = 1024 * 1024;
    await put(SIGNATURES, 'start-room/test.ndb', signature('Imgpipe-Test-Tail', 'tail marker'));
    await put(SOURCE, 'start-room.bin', Buffer.concat([Buffer.alloc(2 * MiB), Buffer.from('tail marker')]));
    // /tmp had 2 MiB of room when clamd started (MaxFileSize 1M) and 8 MiB at the scan, as after a
    // reload that replaced the database with a smaller one (statfs figures, no disk filled).
    const bsize = 4096;
    let calls = 0;
    const scan = createScanTask({
      ...deps('start-room', { prefix: 'start-room/' }),
      statfs: async () => ({ bavail: (TMP_RESERVE_BYTES + (calls++ === 0 ? 2 : 8) * MiB) / bsize, bsize }),
    });
    tasks.push(scan);
    const refused = await scan({ object: { bucket: SOURCE, key: 'start-room.bin' }, maxBytes: 4 * MiB });
    expect(refused).toMatchObject({
      status: 'rejected',
      rejection: {
        reason: 'too-large',
        details: { bytes: 2 * MiB + 'tail marker'.length, scanCapacity: MiB, scanCapacityLimit: 'tmp' },
      },
    });
    expect((refused as unknown as { rejection: { message: string } }).rejection.message).toContain(
      `can scan: ${MiB} bytes, set by clamd's MaxFileSize`,
    );
  });

  it('fails, as changed content, an object replaced after its inspection by one too large to scan, instead of quarantining it (a bucket without versions)', async () => {
    const MiB = 1024 * 1024;
    await put(SIGNATURES, 'replaced/test.ndb', signature('Imgpipe-Test-Tail', 'tail marker'));
    // s3rver keeps no versions: the Scan reads whatever the key holds by then.
    const bsize = 4096;
    const scan = createScanTask({
      ...deps('replaced', { prefix: 'replaced/' }),
      statfs: async () => ({ bavail: (TMP_RESERVE_BYTES + MiB) / bsize, bsize }),
    });
    tasks.push(scan);
    const cases = [
      { key: 'replaced-over-capacity.bin', maxBytes: 4 * MiB },
      { key: 'replaced-over-max-bytes.bin', maxBytes: MiB },
    ];
    for (const { key, maxBytes } of cases) {
      // What the Inspect task passes on: the object of its event, the ETag it inspected.
      const inspected = await put(SOURCE, key, 'small and clean');
      const object = { bucket: SOURCE, key, etag: inspected.ETag!.replaceAll('"', ''), size: 15 };
      // Put over the key before the Scan: 2 MiB, over the capacity (1 MiB of /tmp) and, in the
      // second case, over maxBytes.
      const replaced = await put(
        SOURCE,
        key,
        Buffer.concat([Buffer.alloc(2 * MiB), Buffer.from('tail marker')]),
      );
      const etag = replaced.ETag!.replaceAll('"', '');
      await expect(scan({ object, maxBytes })).rejects.toMatchObject({
        name: 'Imgpipe.Failed',
        message: `Scan refused s3://${SOURCE}/${key}: it holds content of ETag ${etag}, not the ETag ${object.etag} its inspection found (put over the key since); that content is checked by its own event`,
      });
      // The replacing content's own event (its ETag): too large, quarantined as before.
      expect(await scan({ object: { bucket: SOURCE, key, etag }, maxBytes })).toMatchObject({
        status: 'rejected',
        rejection: { reason: 'too-large', details: { bytes: 2 * MiB + 'tail marker'.length } },
      });
    }
  });

  it('retries, not fails, an upload whose scanner listed a database file the updater then deleted', async () => {
    // The updater uploads new files and then deletes the ones freshclam dropped: a scanner starting
    // in between lists old.ndb and finds it gone when it copies it.
    await put(SIGNATURES, 'swap/new.ndb', signature('Imgpipe-Test-New', 'new marker'));
    await put(SIGNATURES, 'swap/old.ndb', signature('Imgpipe-Test-Old', 'old marker'));
    await put(SOURCE, 'swap.txt', 'a file with the new marker in it');
    const real = new S3Storage(s3.client, SIGNATURES);
    let updated = false;
    const signatures = new Proxy(real, {
      get(target, property) {
        if (property === 'get')
          return async (...args: Parameters<S3Storage['get']>) => {
            if (!updated) {
              updated = true;
              await target.delete('swap/old.ndb');
            }
            return target.get(...args);
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const scan = createScanTask({ ...deps('swap', { prefix: 'swap/' }), signatures });
    tasks.push(scan);
    const object = { object: { bucket: SOURCE, key: 'swap.txt' } };
    await expect(scan(object)).rejects.toMatchObject({
      name: 'Imgpipe.Transient',
      message: `ScannerError: The signature database under s3://${SIGNATURES}/swap/ changed while it was copied (old.ndb is gone, as when the updater replaces a file): a retry copies it as it is then`,
    });
    // The state machine's retry: the database as it is now.
    expect(await scan(object)).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Imgpipe-Test-New.UNOFFICIAL' } },
    });
  });

  it('refuses to scan without a database, as a failure no retry fixes', async () => {
    const logger = new Logger({ serviceName: 'imgpipe-test', logLevel: 'ERROR' });
    const scan = createScanTask({ ...deps('empty', { prefix: 'nothing-here/' }), logger });
    tasks.push(scan);
    const message = `ScannerError: No ClamAV database under s3://${SIGNATURES}/nothing-here/: run the signature updater first`;
    // Powertools writes ERROR lines to standard error.
    const lines: Record<string, unknown>[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) if (line.startsWith('{')) lines.push(JSON.parse(line));
      return true;
    });
    try {
      await expect(scan({ object: { bucket: SOURCE, key: 'a.txt' } })).rejects.toMatchObject({
        name: 'Imgpipe.Failed',
        message,
      });
    } finally {
      vi.restoreAllMocks();
    }
    // The log line names the failure: its message is not a reserved key Powertools drops.
    const failed = lines.filter((line) => line.message === 'Task failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatchObject({ name: 'Imgpipe.Failed', message });
    expect(lines.filter((line) => String(line.message).includes('reserved key'))).toEqual([]);
  });

  it('refuses to scan, and to reload, a database of files that hold no signature, instead of passing every upload', async () => {
    // An ignore list (.ign2, ClamAV's way to silence a false positive) and a false-positive list
    // (.fp) put under the prefix before the first update: clamd starts on them with no signature
    // at all, and answers every stream "OK", EICAR included.
    await put(SIGNATURES, 'no-signatures/local.ign2', 'Imgpipe-Test-Ignored\n');
    await put(
      SIGNATURES,
      'no-signatures/local.fp',
      `${createHash('md5').update('x').digest('hex')}:1:Imgpipe-Test-Fp\n`,
    );
    await put(SOURCE, 'no-signatures.com', EICAR);
    const scan = createScanTask(deps('no-signatures', { prefix: 'no-signatures/', refreshMs: 0 }));
    tasks.push(scan);
    const object = { object: { bucket: SOURCE, key: 'no-signatures.com' } };
    await expect(scan(object)).rejects.toMatchObject({
      name: 'Imgpipe.Failed',
      message: `ScannerError: No ClamAV database under s3://${SIGNATURES}/no-signatures/: none of its files (local.fp, local.ign2) holds signatures; run the signature updater first`,
    });
    // With signatures, it scans; a later database of such files alone is not reloaded: the one
    // loaded goes on.
    await put(SIGNATURES, 'no-signatures/eicar.ndb', signature('Eicar-Test-Signature', EICAR));
    expect(await scan(object)).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Eicar-Test-Signature.UNOFFICIAL' } },
    });
    await new S3Storage(s3.client, SIGNATURES).delete('no-signatures/eicar.ndb');
    await put(SIGNATURES, 'no-signatures/other.ign2', 'Imgpipe-Test-Other\n');
    expect(await scan(object)).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'malware', details: { signature: 'Eicar-Test-Signature.UNOFFICIAL' } },
    });
  });

  it('reports freshclam’s own words when the update fails, and leaves the database in S3 as it was', async () => {
    await put(SIGNATURES, 'update/first.ndb', signature('Imgpipe-Test-First', 'first marker'));
    const update = createSignatureUpdater(deps('update', { prefix: 'update/' }));
    const error = await update({}).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ name: 'Imgpipe.Transient' });
    expect((error as Error).message).toMatch(
      /^ScannerError: freshclam failed \(status \d+\): .*Update failed/,
    );
    const left = [];
    for await (const object of new S3Storage(s3.client, SIGNATURES).list('update/')) left.push(object.key);
    expect(left).toEqual(['update/first.ndb', 'update/freshclam.dat']);
  }, 60_000);

  it('keeps freshclam’s state (its UUID, a mirror’s cool-down) in S3 from one update to the next', async () => {
    await put(SIGNATURES, 'state/first.ndb', signature('Imgpipe-Test-First', 'first marker'));
    const storage = new S3Storage(s3.client, SIGNATURES);
    // freshclam.dat: "FreshClamData", a version, then the installation's UUID (36 characters).
    const uuid = async () => {
      const body = Buffer.from((await storage.get('state/freshclam.dat')).body);
      expect(body.subarray(0, 13).toString()).toBe('FreshClamData');
      return body.subarray(17, 53).toString();
    };
    // Each run in an execution environment of its own (a fresh /tmp), as scheduled runs hours apart are.
    await createSignatureUpdater(deps('state-1', { prefix: 'state/' }))({}).catch(() => undefined);
    const first = await uuid();
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await createSignatureUpdater(deps('state-2', { prefix: 'state/' }))({}).catch(() => undefined);
    expect(await uuid()).toBe(first);
  }, 120_000);

  it('keeps freshclam’s state from a first update whose read of it S3 answered AccessDenied, as it does for a missing key', async () => {
    // The updater's ListBucket is limited to the database's prefix (s3:prefix), which a GetObject
    // does not carry: S3 then answers a missing key 403 AccessDenied, not 404, and the first run,
    // with no state yet, failed before freshclam ran, and so did every run after it. s3rver checks
    // no permissions: its answer for the missing state is made S3's here.
    await put(SIGNATURES, 'denied/first.ndb', signature('Imgpipe-Test-Denied', 'denied marker'));
    const storage = new S3Storage(s3.client, SIGNATURES);
    const signatures = new Proxy(storage, {
      get(target, property, receiver) {
        if (property === 'get')
          return async (key: string, ...rest: unknown[]) => {
            if (key === 'denied/freshclam.dat' && (await target.head(key)) === undefined) {
              const denied = Object.assign(new Error('Access Denied'), {
                name: 'AccessDenied',
                $metadata: { httpStatusCode: 403 },
              });
              throw new StorageError(
                'get',
                `s3://${SIGNATURES}/${key}`,
                `S3 get of s3://${SIGNATURES}/${key} failed (AccessDenied, HTTP 403): Access Denied`,
                {
                  retryable: false,
                  cause: denied,
                },
              );
            }
            return Reflect.apply(target.get, target, [key, ...rest]);
          };
        return Reflect.get(target, property, receiver);
      },
    });
    await createSignatureUpdater({ ...deps('denied', { prefix: 'denied/' }), signatures })({}).catch(
      () => undefined,
    );
    const state = await storage.head('denied/freshclam.dat');
    expect(state).toBeDefined();
  }, 120_000);
});
