import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { SETTINGS } from '../config/settings.ts';
import { describeError, ObjectTooLargeError } from '../core/errors.ts';
import { isInputFormat } from '../core/formats.ts';
import { isPlainObject } from '../core/json.ts';
import { probeImage } from '../image/probe.ts';
import { sniffFormat } from '../image/sniff.ts';
import { type ScanCapacity, scanCapacity, tmpRoom } from '../scan/capacity.ts';
import { Clamd, databaseBuiltAt, PROBE_MS, partBuiltAt, ScannerError } from '../scan/clamd.ts';
import { chunksFrom, MAX_INFLATED_BYTES, type Reassembled, reassembledContent } from '../scan/reassemble.ts';
import type { Storage } from '../storage/types.ts';
import {
  checkExecutionTime,
  checkInspected,
  executionLeft,
  FAILED_ERROR,
  objectOf,
  RECORD_RESERVE_MS,
  TaskError,
  taskError,
} from './tasks.ts';
import type { Verdict } from './workflow.ts';
import { type LambdaHandler, lambdaHandler } from './wrap.ts';

/**
 * The malware scanner's entry points, in an image of their own (scanner/Dockerfile: Debian's
 * ClamAV packages, Node and the Lambda runtime interface client; no codecs):
 *
 * - `scanner.handler`, the workflow's Scan task: the object's bytes through clamd, a verdict back.
 *   At its first invocation an execution environment copies the signature database from S3 to
 *   /tmp and starts clamd on it (the database load is the cold start's cost); every hour it looks
 *   for a newer database in S3 and has clamd reload.
 * - `scanner.update`, run on a schedule (EventBridge Scheduler): freshclam brings the database in
 *   S3 up to date, starting from the copy there, so it downloads only what changed.
 */
export interface ScannerDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer?: Tracer;
  /** The storage of a source bucket named in a task's input. */
  readonly sourceStorage: (bucket: string) => Storage;
  /** Where the database lives: the signatures bucket, and the prefix of its files. */
  readonly signatures: Storage;
  readonly signaturesPrefix: string;
  /**
   * The largest object scanned when a task's input names none (IMGPIPE_MAX_BYTES). The workflow's
   * Scan state passes the maxBytes the Inspect task resolved from the pipeline document.
   */
  readonly maxBytes: number;
  /** A folder of its own under /tmp in Lambda. */
  readonly workDir: string;
  readonly clamd?: string;
  readonly freshclam?: string;
  /** How often a running scanner looks for a newer database (default: hourly). */
  readonly refreshMs?: number;
  /**
   * The function's memory in MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), which the object read whole and
   * clamd's engine share; undefined outside Lambda (no memory limit counted).
   */
  readonly memoryMb?: number | undefined;
  /** The free space of workDir's file system (fs.statfs by default; tests inject a figure). */
  readonly statfs?: (path: string) => Promise<{ readonly bavail: number; readonly bsize: number }>;
}

/** What a Scan invocation keeps, once clamd is up, for reading the object and scanning it. */
export const SCAN_RESERVE_MS = 15_000;

/**
 * Kept before the last moment a Scan's Retry can start in the upload workflow's execution: the
 * Retry's first interval (2 s, full jitter: up to 2 s; upload.asl.json), and 1 s for the retry's
 * invocation having a little more time left than this one has at its start.
 */
export const RETRY_START_MS = 3_000;

/**
 * How long, from the start of an invocation with `remainingMs` left, a Scan may wait for clamd's
 * load or reload: while it keeps SCAN_RESERVE_MS for the scan, and, in the upload workflow, no
 * longer than lets its Retry still start. That Retry passes checkExecutionTime only if its own
 * invocation (about this one's length) and RECORD_RESERVE_MS fit in what is left of the execution:
 * a first attempt that waited its whole invocation (about 95 s of the scanner's 110 s) left no
 * room for it, so the load it left going was never scanned with, and the upload was recorded failed.
 * When no retry could start anyway, the whole invocation is waited.
 */
export function waitLimit(
  input: unknown,
  remainingMs: number,
  now = Date.now(),
): { readonly ms: number; readonly retryStartsByMs?: number } {
  const own = Math.max(0, remainingMs - SCAN_RESERVE_MS);
  const execution = executionLeft(input, now);
  if (execution === undefined) return { ms: own };
  const retryStartsByMs = execution.leftMs - (remainingMs + RECORD_RESERVE_MS);
  const ms = retryStartsByMs - RETRY_START_MS;
  return ms >= 0 && ms < own ? { ms, retryStartsByMs } : { ms: own };
}

/** Signature files are the database; anything else under the prefix is not copied. */
/** The files of a ClamAV database (sigtool(1), signatures.pdf). */
export const DATABASE_FILE =
  /\.(cvd|cld|cud|ndb|hdb|hsb|mdb|msb|ldb|cdb|fp|sfp|ign2|pdb|gdb|wdb|ftm|yar|yara|cbc|crb|info|cat|idb|ign)$/;
/**
 * The database files that hold signatures. The others only qualify them: ignore lists (.ign,
 * .ign2), false-positive lists (.fp, .sfp), trusted certificates (.crb), file types (.ftm),
 * descriptions (.info, .cat). clamd started on those alone has no signature and answers every
 * stream "OK": such a database is refused as a missing one is.
 */
const SIGNATURE_FILE = /\.(cvd|cld|cud|ndb|hdb|hsb|mdb|msb|ldb|cdb|pdb|gdb|wdb|yar|yara|cbc|idb)$/;

/** Whether the database's files hold signatures (SIGNATURE_FILE). */
function holdsSignatures(files: Map<string, string>): boolean {
  return [...files.keys()].some((name) => SIGNATURE_FILE.test(name));
}

/**
 * freshclam's own state, beside the database in S3 but no part of it: the installation's UUID and,
 * after a mirror answered 429 (too many requests), the cool-down's end, which freshclam honours
 * only if it finds the file again. ClamAV asks that it be kept.
 */
const FRESHCLAM_STATE = 'freshclam.dat';
/** main.cvd is about 170 MB: read whole, never over this. */
const MAX_DATABASE_FILE = 1024 * 1024 * 1024;

/** The ETag of every database file in S3, by file name. */
async function listDatabase(deps: ScannerDeps): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const object of deps.signatures.list(deps.signaturesPrefix)) {
    const name = object.key.slice(deps.signaturesPrefix.length);
    if (!name.includes('/') && DATABASE_FILE.test(name)) files.set(name, object.etag);
  }
  return files;
}

/** Copies the database from S3 into a fresh folder; its size in bytes. */
async function downloadDatabase(deps: ScannerDeps, dir: string, files: Map<string, string>): Promise<number> {
  let bytes = 0;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const name of files.keys()) {
    let object: Awaited<ReturnType<Storage['get']>>;
    try {
      object = await deps.signatures.get(`${deps.signaturesPrefix}${name}`, { maxBytes: MAX_DATABASE_FILE });
    } catch (error) {
      // The updater uploads the new files, then deletes those freshclam dropped: a listing taken in
      // between names a file gone by its copy. Not the upload's failure: the retry lists again.
      if ((error as { code?: string }).code === 'storage/not-found')
        throw new ScannerError(
          `The signature database under ${deps.signatures.locate(deps.signaturesPrefix)} changed while it was copied (${name} is gone, as when the updater replaces a file): a retry copies it as it is then`,
          { cause: error },
        );
      throw error;
    }
    await writeFile(join(dir, name), object.body);
    bytes += object.body.length;
  }
  return bytes;
}

/** The database files with a build time in their header (partBuiltAt()). */
const PART_FILE = /\.(cvd|cld|cud)$/;

/**
 * When the newest part of the database copied to `dir` was built (partBuiltAt()), undefined when
 * none carries a build time (signature files of one's own).
 */
async function newestPartBuiltAt(dir: string, names: Iterable<string>): Promise<Date | undefined> {
  let newest: Date | undefined;
  for (const name of names) {
    if (!PART_FILE.test(name)) continue;
    const file = await open(join(dir, name));
    try {
      const header = Buffer.alloc(512);
      const { bytesRead } = await file.read(header, 0, 512, 0);
      const builtAt = partBuiltAt(header.subarray(0, bytesRead).toString('latin1'));
      if (builtAt && (!newest || builtAt > newest)) newest = builtAt;
    } finally {
      await file.close();
    }
  }
  return newest;
}

/** The most images in a row walked past by appendedContent(): a gain map, MPF's previews. */
const MAX_CHAINED_IMAGES = 16;
/** The formats whose end the probe finds (ImageHeader.trailing). */
const APPENDABLE: ReadonlySet<string> = new Set(['jpeg', 'png', 'gif', 'webp']);

/**
 * What follows a JPEG's, PNG's, GIF's or WebP's end (ImageHeader.trailing) and is not another such
 * image: clamd identifies a stream by its first bytes, so a gzip or bzip2 file appended to an image
 * (a polyglot) was scanned as an image and never unpacked, the malware in it reported `OK` (ClamAV
 * 1.4.6). Images after the image (an Ultra HDR gain map, a camera's MPF previews) are walked past:
 * clamd's scan of the whole covers their bytes. Undefined when nothing follows, or when what
 * follows is itself an image that ends the file or that cannot be probed.
 */
export function appendedContent(bytes: Uint8Array): { offset: number; bytes: number } | undefined {
  let at = 0;
  for (let images = 0; images < MAX_CHAINED_IMAGES; images++) {
    const rest = bytes.subarray(at);
    const format = sniffFormat(rest);
    if (!APPENDABLE.has(format) || !isInputFormat(format))
      return at === 0 ? undefined : { offset: at, bytes: rest.length };
    let trailing: { offset: number; bytes: number } | undefined;
    try {
      trailing = probeImage(format, rest).trailing;
    } catch {
      // Not an image we can walk past: what follows the last one is scanned from its start.
      return at === 0 ? undefined : { offset: at, bytes: rest.length };
    }
    if (!trailing) return undefined;
    at += trailing.offset;
  }
  return { offset: at, bytes: bytes.length - at };
}

/**
 * The most regions inside an image (ImageHeader.opaque: JPEG COM and APPn segments, PNG chunks,
 * HEIF boxes no decoder reads) scanned each as a stream of its own: a photo has a few. A file with
 * more is not scanned whole, and is quarantined as content clamd stops at its limits is.
 */
export const MAX_EMBEDDED_SCANS = 64;

/**
 * The most bytes streamed from gzip and bzip2 headers to the file's end (archiveStarts()), as a
 * multiple of the file's size: one header costs at most the file once again.
 */
export const ARCHIVE_SCAN_FACTOR = 4;

/**
 * The regions inside an image, and of any image walked past after it (appendedContent()), that no
 * decoder reads (ImageHeader.opaque): clamd identifies a stream by its first bytes and does not
 * look for a gzip or bzip2 file inside an image, so one in a JPEG comment or APPn segment, a PNG
 * private chunk or an unknown HEIF box was never unpacked (ClamAV 1.4.6: EICAR gzipped there was
 * `stream: OK`; a deflated zip was found, clamd looking for a zip's local headers anywhere).
 * Empty when the file cannot be probed (Inspect refuses it).
 */
export function embeddedContent(bytes: Uint8Array): { offset: number; bytes: number }[] {
  const regions: { offset: number; bytes: number }[] = [];
  let at = 0;
  for (let images = 0; images < MAX_CHAINED_IMAGES; images++) {
    const rest = bytes.subarray(at);
    const format = sniffFormat(rest);
    if (!isInputFormat(format)) break;
    let header: ReturnType<typeof probeImage>;
    try {
      header = probeImage(format, rest);
    } catch {
      break;
    }
    for (const region of header.opaque ?? [])
      regions.push({ offset: at + region.offset, bytes: region.bytes });
    if (!APPENDABLE.has(format) || !header.trailing) break;
    at += header.trailing.offset;
  }
  return regions;
}

/**
 * The payloads the container of an image, and of any image walked past after it, splits
 * (scan/reassemble.ts: GIF sub-blocks, JPEG segments of one marker), joined as a tool extracting
 * them would join them, and a PNG's inflated texts and profile; `offset` where the first piece is
 * in the file. `inflatedOver`: the PNG chunks inflate to more than MAX_INFLATED_BYTES.
 */
export function reassembledParts(bytes: Uint8Array): { parts: Reassembled[]; inflatedOver: boolean } {
  const parts: Reassembled[] = [];
  let inflatedOver = false;
  let at = 0;
  for (let images = 0; images < MAX_CHAINED_IMAGES; images++) {
    const rest = bytes.subarray(at);
    const format = sniffFormat(rest);
    if (format !== 'jpeg' && format !== 'gif' && format !== 'png') break;
    const inflated = parts.reduce((sum, part) => sum + (part.pieces === 1 ? part.bytes : 0), 0);
    const found = reassembledContent(rest, MAX_INFLATED_BYTES - inflated);
    for (const part of found.parts) parts.push({ ...part, offset: at + part.offset });
    if (found.inflatedOver) {
      inflatedOver = true;
      break;
    }
    let trailing: { offset: number } | undefined;
    try {
      trailing = probeImage(format, rest).trailing;
    } catch {
      break;
    }
    if (!trailing) break;
    at += trailing.offset;
  }
  return { parts, inflatedOver };
}

/** What archiveStarts() finds: where a gzip or bzip2 file starts, and which. */
export interface ArchiveStart {
  readonly offset: number;
  readonly format: 'gzip' | 'bzip2' | 'xz';
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const BZIP2_MAGIC = Buffer.from('BZh', 'latin1');
/** An xz stream's magic and its stream flags' first byte (always 0). */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]);
/** A bzip2 stream's first block (pi) or its end of stream (sqrt(pi)), after "BZh" and the level. */
const BZIP2_BLOCK = [Buffer.from('314159265359', 'hex'), Buffer.from('177245385090', 'hex')];

/**
 * Where a gzip, bzip2 or xz file's header starts in the file, past its first byte (clamd types the file
 * from there itself), in order; at most `limit` + 1 (more means the file is over the limit).
 * clamd 1.4 types a stream by its first bytes and looks for none of them inside one (an xz file whose content is compressed): an archive behind a
 * few other bytes after an image, after a video appended to it, in a HEIF mdat box, in a GIF comment
 * or in an Exif segment was `stream: OK` with the EICAR file inside (ClamAV 1.4.6), where the
 * regions of embeddedContent() and appendedContent() cannot reach it. A header is taken for one
 * only when its fixed fields hold (gzip: deflate, no reserved flag, a known XFL and OS; bzip2: a
 * level and a block's or the stream end's magic), which coded image data almost never matches.
 */
export function archiveStarts(bytes: Uint8Array, limit: number): ArchiveStart[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found: ArchiveStart[] = [];
  for (let at = buffer.indexOf(GZIP_MAGIC, 1); at !== -1 && found.length <= limit; ) {
    const flags = buffer[at + 3];
    const xfl = buffer[at + 8];
    const os = buffer[at + 9];
    if (
      flags !== undefined &&
      (flags & 0xe0) === 0 &&
      (xfl === 0 || xfl === 2 || xfl === 4) &&
      os !== undefined &&
      (os <= 13 || os === 255)
    )
      found.push({ offset: at, format: 'gzip' });
    at = buffer.indexOf(GZIP_MAGIC, at + 1);
  }
  for (let at = buffer.indexOf(BZIP2_MAGIC, 1); at !== -1 && found.length <= limit; ) {
    const level = buffer[at + 3];
    const block = buffer.subarray(at + 4, at + 10);
    if (level !== undefined && level >= 0x31 && level <= 0x39 && BZIP2_BLOCK.some((m) => m.equals(block)))
      found.push({ offset: at, format: 'bzip2' });
    at = buffer.indexOf(BZIP2_MAGIC, at + 1);
  }
  // xz: the second flags byte names the check, none, CRC32, CRC64 or SHA-256.
  for (let at = buffer.indexOf(XZ_MAGIC, 1); at !== -1 && found.length <= limit; ) {
    const check = buffer[at + 7];
    if (check === 0 || check === 1 || check === 4 || check === 10) found.push({ offset: at, format: 'xz' });
    at = buffer.indexOf(XZ_MAGIC, at + 1);
  }
  return found.sort((a, b) => a.offset - b.offset).slice(0, limit + 1);
}

/** The longest header archiveStarts() reads: gzip's 10 bytes. */
const ARCHIVE_HEADER_BYTES = 10;

/**
 * archiveStarts() over a joined part (reassembledParts()) without joining it: each chunk searched
 * as it is (no copy: an inflated text may be 64 MiB), and each seam in a window of the last bytes
 * before it and the first after it, so that a header across two pieces is found; offsets in the
 * joined part, past its first byte, in order, at most `limit` + 1.
 */
export function archiveStartsIn(part: Reassembled, limit: number): ArchiveStart[] {
  const found = new Map<number, ArchiveStart>();
  let base = 0;
  let tail: Uint8Array = new Uint8Array(0);
  for (const chunk of part.chunks) {
    // The window starts with one byte more, since archiveStarts() skips its first byte.
    const seam = Buffer.concat([Buffer.alloc(1), tail, chunk.subarray(0, ARCHIVE_HEADER_BYTES)]);
    for (const start of archiveStarts(seam, limit)) {
      const offset = base - tail.length + start.offset - 1;
      if (offset >= 1) found.set(offset, { ...start, offset });
    }
    for (const start of archiveStarts(chunk, limit))
      found.set(base + start.offset, { ...start, offset: base + start.offset });
    if (found.size > limit) break;
    base += chunk.length;
    tail =
      chunk.length >= ARCHIVE_HEADER_BYTES - 1
        ? chunk.subarray(chunk.length - (ARCHIVE_HEADER_BYTES - 1))
        : Buffer.concat([tail, chunk]).subarray(-(ARCHIVE_HEADER_BYTES - 1));
  }
  return [...found.values()].sort((a, b) => a.offset - b.offset).slice(0, limit + 1);
}

/** The Scan task, and a way to stop its clamd (tests; in Lambda the environment's end stops it). */
export type ScanTask = LambdaHandler<Verdict> & { stop(): Promise<void> };

export function createScanTask(deps: ScannerDeps): ScanTask {
  const { logger, metrics } = deps;
  const databaseDir = join(deps.workDir, 'database');
  let engine: Promise<Clamd> | undefined;
  /** When the engine now starting began (performance.now()), for the message of a wait cut short. */
  let engineStartedAt = 0;
  /** The refresh under way, and when it began. */
  let refreshing: Promise<void> | undefined;
  let refreshStartedAt = 0;
  let loaded = new Map<string, string>();
  /** The size of the database copied to databaseDir, in bytes. */
  let databaseBytes = 0;
  /** When the newest part of the database clamd runs on was built, by the files' headers. */
  let partsBuiltAt: Date | undefined;
  let checkedAt = 0;

  async function startEngine(maxBytes: number): Promise<Clamd> {
    const started = performance.now();
    const files = await listDatabase(deps);
    if (!holdsSignatures(files)) {
      const held =
        files.size === 0
          ? ':'
          : `: none of its files (${[...files.keys()].sort().join(', ')}) holds signatures;`;
      throw new ScannerError(
        `No ClamAV database under ${deps.signatures.locate(deps.signaturesPrefix)}${held} run the signature updater first`,
        { retryable: false },
      );
    }
    databaseBytes = await downloadDatabase(deps, databaseDir, files);
    const copied = performance.now();
    // What clamd writes for one stream (it, and what it unpacks) is held to the room /tmp has
    // (MaxFileSize, MaxScanSize: clamd.ts unpackLimitsMiB()): past it clamd reports
    // Heuristics.Limits.Exceeded.MaxScanSize, quarantined, where a full /tmp was an error every
    // retry met again, and the upload ended failed. Measured once clamd's temporary folder is
    // emptied of what a killed clamd left there.
    const clamd = await Clamd.start({
      databaseDir,
      workDir: deps.workDir,
      maxBytes,
      tmpRoomBytes: async () => {
        const fs = await (deps.statfs ?? statfs)(deps.workDir);
        return tmpRoom(fs.bavail * fs.bsize);
      },
      binary: deps.clamd,
      log: (line) => logger.debug('clamd', { line }),
    });
    loaded = files;
    partsBuiltAt = await newestPartBuiltAt(databaseDir, files.keys());
    checkedAt = performance.now();
    const copyMs = Math.round(copied - started);
    const loadMs = Math.round(checkedAt - copied);
    logger.info('Scanner ready', {
      database: [...files.keys()],
      copyMs,
      loadMs,
      engine: await clamd.version(),
    });
    metrics.addMetric('ScannerDatabaseLoadTime', MetricUnit.Milliseconds, loadMs);
    return clamd;
  }

  /**
   * The running engine, started (or restarted, after a crash) when needed, taking streams of
   * maxBytes: one started for less is restarted for more (once: the pipeline's limit is constant).
   */
  async function ready(maxBytes: number): Promise<Clamd> {
    const current = engine ? await engine.catch(() => undefined) : undefined;
    if (current?.running && current.maxBytes >= maxBytes) return current;
    await current?.stop();
    engineStartedAt = performance.now();
    engine = startEngine(Math.max(maxBytes, deps.maxBytes));
    engine.catch(() => {
      engine = undefined;
    });
    return engine;
  }

  /**
   * ready(), waited for while the invocation keeps SCAN_RESERVE_MS for the scan itself. A load
   * that takes longer (a cold start at low memory, a large database) is left going, and the attempt
   * fails, retryable, before the function's timeout would: Lambda resets an environment whose
   * invocation timed out, clamd and the load with it, so every retry would start it afresh and time
   * out the same way. The environment kept, the retry that lands in it goes on with the same load.
   */
  async function readyWithin(maxBytes: number, wait: Wait | undefined): Promise<Clamd> {
    return within(ready(maxBytes), wait, 'loading the signature database', engineStartedAt);
  }

  /**
   * `work`, waited for until the invocation's wait limit (waitLimit()); past that a retryable
   * ScannerError, the work left going for the next attempt in this environment.
   */
  async function within<T>(
    work: Promise<T>,
    wait: Wait | undefined,
    doing: string,
    startedAt: number,
  ): Promise<T> {
    if (wait === undefined) return work;
    // Settled after this attempt ends: its rejection is the next attempt's to see.
    work.catch(() => undefined);
    const late = Symbol('late');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cut = new Promise<typeof late>((resolve) => {
      timer = setTimeout(() => resolve(late), Math.max(0, wait.until - performance.now()));
    });
    try {
      const done = await Promise.race([work, cut]);
      if (done !== late) return done;
    } finally {
      clearTimeout(timer);
    }
    const s = (ms: number) => `${Math.round(ms / 1000)} s`;
    const still = `clamd is still ${doing} (${s(performance.now() - startedAt)} since it started)`;
    throw new ScannerError(
      wait.retryStartsByMs === undefined
        ? `${still}, and this invocation has ${s(wait.remainingMs)} left, ${s(SCAN_RESERVE_MS)} of them kept for the scan: the attempt ends here so that it goes on, and a retry in this environment scans once it is done`
        : `${still}, and a retry can start only within ${s(wait.retryStartsByMs)} of this invocation's start, while the upload workflow's execution has time for this invocation's ${s(wait.remainingMs)} and ${s(RECORD_RESERVE_MS)} kept to record a failure: the attempt ends here so that it goes on, and the retry in this environment scans once it is done`,
    );
  }

  /**
   * Hourly: a newer database in S3 is copied in and clamd reloads it, which blocks its scans
   * (ConcurrentDatabaseReload no) for about as long as a load. One reload at a time, which the
   * next invocation waits for when this one cannot (within()).
   */
  function refresh(clamd: Clamd): Promise<void> {
    if (refreshing) return refreshing;
    if (performance.now() - checkedAt < (deps.refreshMs ?? 3_600_000)) return Promise.resolve();
    checkedAt = performance.now();
    refreshStartedAt = checkedAt;
    const current = reloadIfChanged(clamd).finally(() => {
      refreshing = undefined;
    });
    refreshing = current;
    return current;
  }

  async function reloadIfChanged(clamd: Clamd): Promise<void> {
    const files = await listDatabase(deps);
    // A database without signatures is not loaded over one with them (startEngine refuses it too).
    const changed =
      holdsSignatures(files) &&
      (files.size !== loaded.size || [...files].some(([name, etag]) => loaded.get(name) !== etag));
    if (!changed) return;
    databaseBytes = await downloadDatabase(deps, databaseDir, files);
    await clamd.reload();
    loaded = files;
    partsBuiltAt = await newestPartBuiltAt(databaseDir, files.keys());
    logger.info('Scanner database reloaded', { database: [...files.keys()], engine: await clamd.version() });
  }

  /**
   * The largest object this environment can scan now (scan/capacity.ts): its memory less clamd's
   * resident memory and Node's, the free space of workDir's file system (the database already in
   * it), and clamd's own largest file.
   */
  async function capacity(clamd: Clamd): Promise<ScanCapacity> {
    const fs = await (deps.statfs ?? statfs)(deps.workDir);
    return scanCapacity({
      memoryMb: deps.memoryMb,
      engineBytes: await clamd.residentBytes(),
      tmpFreeBytes: fs.bavail * fs.bsize,
      tmpDir: deps.workDir,
      databaseBytes,
      maxFileSizeBytes: clamd.maxFileSizeBytes,
    });
  }

  const handler = lambdaHandler(deps, async (input, context): Promise<Verdict> => {
    try {
      checkExecutionTime(input, 'Scan', context);
      const ref = objectOf(input);
      const maxBytes = maxBytesOf(input) ?? deps.maxBytes;
      const startRemainingMs = context?.getRemainingTimeInMillis();
      let wait: Wait | undefined;
      if (startRemainingMs !== undefined) {
        const limit = waitLimit(input, startRemainingMs);
        wait = {
          until: performance.now() + limit.ms,
          remainingMs: startRemainingMs,
          retryStartsByMs: limit.retryStartsByMs,
        };
      }
      const clamd = await readyWithin(maxBytes, wait);
      await within(refresh(clamd), wait, 'reloading a newer signature database', refreshStartedAt);
      // An object the function cannot hold is refused on its Content-Length, before its bytes are
      // read: read, it stopped the function (memory) or clamd (/tmp), every retry the same way.
      const can = await capacity(clamd);
      let bytes: Uint8Array;
      try {
        const object = await deps
          .sourceStorage(ref.bucket)
          .get(ref.key, { maxBytes: Math.min(maxBytes, can.bytes), versionId: ref.versionId });
        checkInspected(ref, object.etag, 'Scan');
        bytes = object.body;
      } catch (error) {
        // Refused on its size, unread: content of another ETag than the inspected one (a larger
        // object put over the key since, in a bucket without versions) is not what Inspect
        // checked, and fails as changed content does, left to its own event; not quarantined here.
        if (error instanceof ObjectTooLargeError && error.etag !== undefined)
          checkInspected(ref, error.etag, 'Scan');
        if (error instanceof ObjectTooLargeError && error.size <= maxBytes) {
          logger.warn('Object over the scanner’s capacity', {
            bucket: ref.bucket,
            key: ref.key,
            bytes: error.size,
            maxBytes,
            scanCapacity: can.bytes,
            scanCapacityLimit: can.limit,
          });
          return {
            status: 'rejected',
            rejection: {
              reason: 'too-large',
              message: `The file is ${error.size} bytes, within maxBytes (${maxBytes}) but more than the malware scanner can scan: ${can.bytes} bytes, set by ${can.explanation}`,
              details: {
                bytes: error.size,
                maxBytes,
                scanCapacity: can.bytes,
                scanCapacityLimit: can.limit,
              },
            },
          };
        }
        if (error instanceof ObjectTooLargeError) {
          return {
            status: 'rejected',
            rejection: {
              reason: 'too-large',
              message: `The file is ${error.size} bytes, more than maxBytes (${error.maxBytes})`,
              details: { bytes: error.size, maxBytes: error.maxBytes },
            },
          };
        }
        // Gone since the inspection: the Process task records it as missing.
        if ((error as { code?: string }).code === 'storage/not-found')
          return { status: 'passed', missing: true };
        throw error;
      }
      // A clamd that hangs fails the attempt (retryable) before the function's own timeout would.
      const remainingMs = context?.getRemainingTimeInMillis();
      let verdict = await clamd.scan(
        bytes,
        remainingMs === undefined ? {} : { timeLeftMs: Math.max(1_000, remainingMs - 5_000 - PROBE_MS) },
      );
      // What an image carries in segments, chunks or boxes no decoder reads (embeddedContent()), and
      // what it has appended (appendedContent()), is scanned as files of their own.
      const scanApart = (part: Uint8Array | Iterable<Uint8Array>) => {
        const left = context?.getRemainingTimeInMillis();
        return clamd.scan(
          part,
          left === undefined ? {} : { timeLeftMs: Math.max(1_000, left - 5_000 - PROBE_MS) },
        );
      };
      const regions = verdict.infected ? [] : embeddedContent(bytes);
      let embedded: { offset: number; bytes: number } | undefined;
      if (regions.length > MAX_EMBEDDED_SCANS) {
        verdict = {
          ...verdict,
          infected: true,
          signature: 'Imgpipe.Limits.Exceeded.EmbeddedContent',
          limitExceeded: true,
        };
      }
      for (const region of verdict.infected ? [] : regions) {
        const found = await scanApart(bytes.subarray(region.offset, region.offset + region.bytes));
        if (found.infected) {
          verdict = found;
          embedded = region;
          break;
        }
      }
      const appended = verdict.infected ? undefined : appendedContent(bytes);
      let trailing: { offset: number; bytes: number } | undefined;
      if (appended) {
        const trailer = await scanApart(bytes.subarray(appended.offset));
        if (trailer.infected) {
          verdict = trailer;
          trailing = appended;
        }
      }
      // A payload the container splits (GIF sub-blocks, JPEG segments of one marker) is scanned
      // joined (reassembledParts()), whole and from each archive header in it: in the file its
      // archive breaks off at the first length byte or marker. More scans than
      // MAX_EMBEDDED_SCANS, or more bytes than ARCHIVE_SCAN_FACTOR times the file's: quarantined
      // as a limit.
      const { parts: joined, inflatedOver } = verdict.infected
        ? { parts: [], inflatedOver: false }
        : reassembledParts(bytes);
      const joinedScans = joined.flatMap((part) =>
        [{ offset: 0 } as { offset: number; format?: ArchiveStart['format'] }]
          .concat(archiveStartsIn(part, MAX_EMBEDDED_SCANS))
          .map((start) => ({ part, ...start })),
      );
      const joinedBytes = joinedScans.reduce((sum, s) => sum + s.part.bytes - s.offset, 0);
      const joinedOverLimit =
        joinedScans.length > MAX_EMBEDDED_SCANS || joinedBytes > ARCHIVE_SCAN_FACTOR * bytes.length;
      let reassembled: (typeof joinedScans)[number] | undefined;
      if (joinedOverLimit || inflatedOver) {
        verdict = {
          ...verdict,
          infected: true,
          signature: inflatedOver
            ? 'Imgpipe.Limits.Exceeded.InflatedContent'
            : 'Imgpipe.Limits.Exceeded.ReassembledContent',
          limitExceeded: true,
        };
      }
      for (const start of verdict.infected ? [] : joinedScans) {
        const found = await scanApart(chunksFrom(start.part, start.offset));
        if (found.infected) {
          verdict = found;
          reassembled = start;
          break;
        }
      }
      // A gzip or bzip2 file anywhere else (archiveStarts()) is scanned from its header to the end
      // of the file, which holds all of it. More than MAX_EMBEDDED_SCANS such headers, or more
      // bytes from them than ARCHIVE_SCAN_FACTOR times the file's, are not scanned: quarantined as
      // content clamd leaves unscanned at its limits is.
      const archives = verdict.infected
        ? []
        : archiveStarts(bytes, MAX_EMBEDDED_SCANS).filter((start) => start.offset !== appended?.offset);
      const archiveBytes = archives.reduce((sum, start) => sum + bytes.length - start.offset, 0);
      const archivesOverLimit =
        archives.length > MAX_EMBEDDED_SCANS || archiveBytes > ARCHIVE_SCAN_FACTOR * bytes.length;
      let archive: (ArchiveStart & { bytes: number }) | undefined;
      if (archivesOverLimit) {
        verdict = {
          ...verdict,
          infected: true,
          signature: 'Imgpipe.Limits.Exceeded.EmbeddedArchives',
          limitExceeded: true,
        };
      }
      for (const start of verdict.infected ? [] : archives) {
        const found = await scanApart(bytes.subarray(start.offset));
        if (found.infected) {
          verdict = found;
          archive = { ...start, bytes: bytes.length - start.offset };
          break;
        }
      }
      metrics.addMetric(verdict.infected ? 'ObjectsInfected' : 'ObjectsScannedClean', MetricUnit.Count, 1);
      // How old the signatures this scan used are: the alarm on it fires when the updater stopped
      // running or keeps failing (the scanners go on with the last database in S3). VERSION names
      // the daily part's build time; a database without a daily part is as old as its newest part
      // (main, bytecode: their headers), where it sent no figure and the alarm never fired.
      const builtAt = [databaseBuiltAt(verdict.engine), partsBuiltAt].reduce<Date | undefined>(
        (newest, at) => (at && (!newest || at > newest) ? at : newest),
        undefined,
      );
      if (builtAt)
        metrics.addMetric(
          'SignatureDatabaseAge',
          MetricUnit.Seconds,
          Math.max(0, Math.round((Date.now() - builtAt.getTime()) / 1000)),
        );
      logger.info(verdict.infected ? 'Malware found' : 'Object scanned clean', {
        bucket: ref.bucket,
        key: ref.key,
        bytes: bytes.length,
        ...verdict,
        ...(appended && { appended }),
      });
      if (!verdict.infected) return { status: 'passed', engine: verdict.engine };
      const where = trailing
        ? `${trailing.bytes} bytes after the image's end, at byte ${trailing.offset}`
        : reassembled
          ? `${reassembled.part.bytes} bytes of ${reassembled.part.name}${reassembled.part.pieces > 1 ? ` joined from ${reassembled.part.pieces} pieces, the first` : ','} at byte ${reassembled.part.offset}${reassembled.format ? ` (a ${reassembled.format} file at byte ${reassembled.offset} of them)` : ''}`
          : inflatedOver
            ? `file: its PNG zTXt, iTXt and iCCP chunks inflate to more than ${MAX_INFLATED_BYTES} bytes, the most inflated to be scanned`
            : joinedOverLimit
              ? `file: the payloads its container splits, joined, would take ${joinedScans.length} scans of ${joinedBytes} bytes, more than ${MAX_EMBEDDED_SCANS} scans or ${ARCHIVE_SCAN_FACTOR} times the file's ${bytes.length} bytes`
              : archive
                ? `${archive.format} file at byte ${archive.offset} (${archive.bytes} bytes from there to the file's end)`
                : archivesOverLimit
                  ? `file: it has ${archives.length > MAX_EMBEDDED_SCANS ? `more than ${MAX_EMBEDDED_SCANS} gzip, bzip2 or xz headers` : `gzip, bzip2 or xz headers whose scans to the file's end would stream ${archiveBytes} bytes, more than ${ARCHIVE_SCAN_FACTOR} times the file's ${bytes.length}`}, each scanned on its own`
                  : embedded
                    ? `${embedded.bytes} bytes of a segment, chunk or box no decoder reads, at byte ${embedded.offset}`
                    : regions.length > MAX_EMBEDDED_SCANS
                      ? `file: it has ${regions.length} segments, chunks or boxes no decoder reads, more than the ${MAX_EMBEDDED_SCANS} scanned each on its own`
                      : 'file';
      // A limit clamd stopped at is not a clean result: quarantined as malware would be, named so.
      return {
        status: 'rejected',
        rejection: {
          reason: 'malware',
          // Imgpipe.Limits.* are the scanner's own limits (how many scans, how many bytes), not
          // ClamAV's: the message says whose, so an operator raises the right one.
          message: !verdict.limitExceeded
            ? `ClamAV found ${verdict.signature} in the ${where}`
            : verdict.signature?.startsWith('Imgpipe.')
              ? `imgpipe did not scan the whole ${where} (${verdict.signature}, imgpipe's own limit, not ClamAV's): content past it is unscanned`
              : `ClamAV could not scan the whole ${where} (${verdict.signature}): content past its limits is unscanned`,
          details: {
            signature: verdict.signature,
            ...(verdict.limitExceeded ? { limitExceeded: true } : {}),
            ...(trailing ? { trailing } : {}),
            ...(embedded ? { embedded } : {}),
            ...(reassembled
              ? {
                  reassembled: {
                    name: reassembled.part.name,
                    offset: reassembled.part.offset,
                    bytes: reassembled.part.bytes,
                    pieces: reassembled.part.pieces,
                    ...(reassembled.format
                      ? { archive: { offset: reassembled.offset, format: reassembled.format } }
                      : {}),
                  },
                }
              : {}),
            ...(inflatedOver ? { maxInflatedBytes: MAX_INFLATED_BYTES } : {}),
            ...(joinedOverLimit
              ? { reassembledScans: joinedScans.length, reassembledBytes: joinedBytes }
              : {}),
            ...(archive
              ? { archive: { offset: archive.offset, bytes: archive.bytes, format: archive.format } }
              : {}),
            ...(archivesOverLimit ? { archiveHeaders: archives.length, archiveBytes } : {}),
            ...(regions.length > MAX_EMBEDDED_SCANS ? { embeddedRegions: regions.length } : {}),
            engine: verdict.engine,
          },
        },
      };
    } catch (error) {
      const named = taskError(error);
      logger.error('Task failed', { error: named });
      throw named;
    }
  });
  return Object.assign(handler, {
    async stop() {
      const current = engine ? await engine.catch(() => undefined) : undefined;
      engine = undefined;
      await current?.stop();
    },
  });
}

/** How long an invocation waits for clamd: until `until` (performance.now()), from waitLimit(). */
interface Wait {
  readonly until: number;
  /** The invocation's remaining time at its start. */
  readonly remainingMs: number;
  /** Set when the limit is its Retry's latest start rather than its own time. */
  readonly retryStartsByMs?: number | undefined;
}

/** The task input's maxBytes (the pipeline's, from the Inspect task), when it names one. */
function maxBytesOf(input: unknown): number | undefined {
  const value = isPlainObject(input) ? input.maxBytes : undefined;
  if (value === undefined) return undefined;
  const { min, max } = SETTINGS.maxBytes;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new TaskError(
      FAILED_ERROR,
      `Expected an integer from ${min} to ${max} at input.maxBytes but received ${JSON.stringify(value)}`,
    );
  return value;
}

export interface UpdateResult {
  /** Database files written to S3 (new or changed), and removed from it. */
  readonly uploaded: readonly string[];
  readonly removed: readonly string[];
}

/**
 * Runs freshclam against the S3 copy of the database: the copy is downloaded first, so freshclam
 * fetches only the differences (ClamAV's mirrors rate-limit full downloads), and what changed is
 * written back. The scanners pick it up within the hour, or at their next cold start.
 */
export function createSignatureUpdater(deps: ScannerDeps): LambdaHandler<UpdateResult> {
  const { logger } = deps;
  return lambdaHandler(deps, async () => {
    const dir = join(deps.workDir, 'update');
    const before = await listDatabase(deps);
    await downloadDatabase(deps, dir, before);
    const state = `${deps.signaturesPrefix}${FRESHCLAM_STATE}`;
    const kept = await deps.signatures.get(state, { maxBytes: 1024 * 1024 }).catch((error: unknown) => {
      if ((error as { code?: string }).code === 'storage/not-found') return undefined;
      // Missing too: this role's ListBucket is limited to the prefix (s3:prefix), which a GetObject
      // does not carry, so S3 answers a missing key 403, not 404 (its GetObject of the prefix is
      // granted, as the database's reads are). Thrown, the first run, with no state yet,
      // failed before freshclam ran, and so did every run after it.
      if ((error as { cause?: { name?: string } }).cause?.name === 'AccessDenied') return undefined;
      throw error;
    });
    if (kept) await writeFile(join(dir, FRESHCLAM_STATE), kept.body);
    const hashes = await hashFiles(dir);
    const config = join(deps.workDir, 'freshclam.conf');
    await writeFile(
      config,
      [
        `DatabaseDirectory ${dir}`,
        'DatabaseMirror database.clamav.net',
        // Lambda runs as a user of its own; freshclam must not try to switch to clamav.
        'DatabaseOwner root',
        'Foreground yes',
        'NotifyClamd no',
        'Checks 1',
        '',
      ].join('\n'),
    );
    const output = await run(deps.freshclam ?? 'freshclam', [`--config-file=${config}`, '--stdout']);
    // Kept whether the update succeeded or not: a failure is when a cool-down is most likely set.
    const stateNow = await readFile(join(dir, FRESHCLAM_STATE)).catch(() => undefined);
    if (stateNow && !(kept && Buffer.compare(kept.body, stateNow) === 0))
      await deps.signatures.put(state, stateNow, { contentType: 'application/octet-stream' });
    if (output.status !== 0) {
      throw taskError(
        new ScannerError(
          `freshclam failed (status ${output.status}): ${output.text.trim().split('\n').slice(-5).join(' | ')}`,
        ),
      );
    }
    const after = await hashFiles(dir);
    const uploaded: string[] = [];
    for (const [name, hash] of after) {
      if (!DATABASE_FILE.test(name) || hashes.get(name) === hash) continue;
      await deps.signatures.put(`${deps.signaturesPrefix}${name}`, await readFile(join(dir, name)), {
        contentType: 'application/octet-stream',
      });
      uploaded.push(name);
    }
    const removed: string[] = [];
    for (const name of before.keys()) {
      if (after.has(name)) continue;
      await deps.signatures.delete(`${deps.signaturesPrefix}${name}`);
      removed.push(name);
    }
    logger.info('Signatures updated', {
      uploaded,
      removed,
      freshclam: output.text.trim().split('\n').slice(-3),
    });
    return { uploaded, removed };
  });
}

async function hashFiles(dir: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const name of await readdir(dir)) {
    hashes.set(
      basename(name),
      createHash('sha256')
        .update(await readFile(join(dir, name)))
        .digest('hex'),
    );
  }
  return hashes;
}

function run(command: string, args: string[]): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
    });
    child.stderr.on('data', (chunk) => {
      text += chunk;
    });
    child.on('error', (error) =>
      reject(new ScannerError(`Cannot run ${command}: ${describeError(error)}`, { cause: error })),
    );
    child.on('close', (status) => resolve({ status: status ?? 1, text }));
  });
}
