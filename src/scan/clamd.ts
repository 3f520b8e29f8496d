import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, ImgpipeError } from '../core/errors.ts';

/**
 * ClamAV's daemon, clamd, run by the scanner function and spoken to over its local socket.
 *
 * Why clamd and not clamscan: clamscan loads the whole signature database for every file it is
 * given, and with the official database (about 8 million signatures) that load is the cost of a
 * scan — tens of seconds and over a gigabyte of memory, per upload. clamd loads it once, when the
 * scanner's execution environment starts (the cold start pays for it), and then scans each upload
 * in milliseconds. The bytes go over the socket with INSTREAM (clamd(8)): no file of ours, though clamd
 * itself writes the stream to a temporary file (TemporaryDirectory) before it scans it (capacity.ts).
 *
 * The protocol is three commands of clamd(8) — PING, VERSION, INSTREAM (and RELOAD after a
 * signature update) — in their null-terminated `z` form, so this speaks it directly rather than
 * through the npm `clamscan` package, whose set-up probes for binaries and configuration files we do
 * not ship.
 */

export interface ScanVerdict {
  /** A signature matched, or the object could not be scanned whole (`limitExceeded`). */
  readonly infected: boolean;
  /** The matching signature's name, e.g. `Eicar-Test-Signature`, or the limit's heuristic name. */
  readonly signature?: string;
  /**
   * clamd stopped short of the whole content at one of its limits (size, recursion, files inside
   * an archive): `Heuristics.Limits.Exceeded.MaxFileSize`... as `signature`. Not clean: what was not
   * scanned may hold anything.
   */
  readonly limitExceeded?: boolean;
  /** Engine and database versions as clamd reports them, e.g. `ClamAV 1.4.6/27480/Mon Nov 30 ...`. */
  readonly engine: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * When the signature database clamd runs on was built, from its VERSION answer: `ClamAV
 * 1.4.6/27480/Mon Nov 30 09:12:00 2026` names the daily database's version and build time, written
 * by ctime(3) in the scanner's time zone (UTC in Lambda, and in the scanner image). Undefined for a
 * database without a daily part (`ClamAV 1.4.6`: signature files of one's own, as in the tests).
 */
export function databaseBuiltAt(engine: string): Date | undefined {
  const match = engine.match(
    /^ClamAV [^/]+\/\d+\/[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/,
  );
  if (!match) return undefined;
  const [, month, day, hours, minutes, seconds, year] = match;
  const index = MONTHS.indexOf(month!);
  if (index < 0) return undefined;
  return new Date(
    Date.UTC(Number(year), index, Number(day), Number(hours), Number(minutes), Number(seconds)),
  );
}

/**
 * When a part of the database was built, from the 512-byte header of its .cvd, .cld or .cud file
 * (`ClamAV-VDB:<time>:<version>:<signatures>:<level>:<MD5>:<signature>:<builder>:<seconds>`, the
 * last field the build time in seconds since 1970). clamd's VERSION names only the daily part's:
 * for a database without one (main and bytecode alone) the headers are what tell its age.
 */
export function partBuiltAt(header: string): Date | undefined {
  const fields = header.replace(/[\0 ]+$/, '').split(':');
  if (fields[0] !== 'ClamAV-VDB' || fields.length < 9) return undefined;
  const seconds = fields[8]!;
  if (!/^\d{1,12}$/.test(seconds)) return undefined;
  return new Date(Number(seconds) * 1000);
}

/** clamd could not be started or did not answer: a retry (on a fresh daemon) may succeed. */
export class ScannerError extends ImgpipeError {
  readonly retryable: boolean;

  constructor(message: string, options: ErrorOptions & { retryable?: boolean } = {}) {
    super('scan/failed', message, options);
    this.retryable = options.retryable ?? true;
  }
}

export interface ClamdOptions {
  /** Folder holding the signature files (.cvd, .cld, .ndb, .hdb...). */
  readonly databaseDir: string;
  /** Folder for the socket, the configuration and clamd's temporary files (in Lambda, under /tmp). */
  readonly workDir: string;
  /** Largest object clamd must accept over INSTREAM (the pipeline's maxBytes). */
  readonly maxBytes: number;
  /** The clamd executable; `clamd` on PATH by default. */
  readonly binary?: string;
  /**
   * How long loading the database may take before the start is abandoned, and a reload too
   * (LOAD_TIMEOUT_MS by default), in this process's running time.
   */
  readonly startTimeoutMs?: number;
  /** Where clamd's own log lines go (stderr by default: CloudWatch in Lambda). */
  readonly log?: (line: string) => void;
  /** How long a command's reply may take, in this process's running time (IDLE_TIMEOUT_MS). */
  readonly commandTimeoutMs?: number;
  /**
   * What clamd may write to workDir for one stream, in bytes (capacity.ts tmpRoom(): the free space,
   * the database there, less TMP_RESERVE_BYTES). MaxFileSize and MaxScanSize are held to half of it
   * each (unpackLimitsMiB()). Unset: not bounded. A function is called once the temporary folder
   * is emptied, so that what a killed clamd left there is not counted.
   */
  readonly tmpRoomBytes?: number | (() => Promise<number>);
}

/**
 * clamd's MaxFileSize and MaxScanSize in MiB: both 400M (clamd's MaxScanSize) or the stream's limit
 * when larger, held to half of `tmpRoomBytes`. clamd writes the stream, then each member it unpacks,
 * to TemporaryDirectory. An unzipped member is written up to MaxFileSize before MaxScanSize is
 * looked at (checked here with ClamAV 1.4.6: MaxScanSize 3M on a 4 MiB tmpfs, a zip member of
 * 8 MiB of zeros was "Can't write to file ERROR"), and a member is unpacked only while the stream and
 * what was unpacked before it are within MaxScanSize: what one stream writes stays within
 * MaxScanSize + MaxFileSize. Held to the halves, both equal, a zip member cut at MaxFileSize (which
 * clamd scans as cut, with no finding) takes the scan past MaxScanSize:
 * Heuristics.Limits.Exceeded.MaxScanSize. At least 1M: 0 would turn a limit off.
 */
export function unpackLimitsMiB(
  maxBytes: number,
  tmpRoomBytes?: number,
): { readonly maxFileSize: number; readonly maxScanSize: number } {
  const streamMiB = streamMaxLength(maxBytes) / MIB;
  const half =
    tmpRoomBytes === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(tmpRoomBytes / 2 / MIB));
  // Both at 400M (or the stream's), not MaxFileSize at clamd's 100M: a zip member over MaxFileSize
  // is scanned cut there with no finding (ClamAV 1.4.6: EICAR after 8 MiB of zeros in a member,
  // MaxFileSize 3M, MaxScanSize 400M: `stream: OK`), unless the cut takes the scan past MaxScanSize.
  const limit = Math.min(Math.max(400, streamMiB), half);
  return { maxFileSize: limit, maxScanSize: limit };
}

const CHUNK = 64 * 1024;

/** The pieces' bytes in chunks of `size` (the last shorter), pieces smaller than that put together. */
function* chunksOf(pieces: Iterable<Uint8Array>, size: number): Generator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; ) {
      const take = Math.min(size - pendingBytes, piece.length - at);
      pending.push(piece.subarray(at, at + take));
      pendingBytes += take;
      at += take;
      if (pendingBytes === size) {
        yield pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending);
}
/** clamd's StreamMaxLength for objects of maxBytes: whole MiB, one more than they need. */
function streamMaxLength(maxBytes: number): number {
  return (Math.ceil(maxBytes / MIB) + 1) * MIB;
}

/**
 * How long a connection to clamd may stay silent: longer than MAX_SCAN_TIME_MS, after which clamd
 * itself gives up on a scan (and says so), so only a clamd that hangs reaches it.
 */
export const MAX_SCAN_TIME_MS = 60_000;
export const IDLE_TIMEOUT_MS = MAX_SCAN_TIME_MS + 15_000;
/**
 * How long clamd may take to load the database, or to reload it, before it is taken for hung: the
 * official database's load is reported at 90-140 s in Lambda at the default memory (more at less
 * memory), and a reload (ConcurrentDatabaseReload no) takes as long, clamd answering nothing
 * meanwhile. At 120 s for the load, and IDLE_TIMEOUT_MS (75 s) for the reload's PING, a longer load
 * was abandoned and started afresh at every attempt, never done, and every hourly reload had clamd
 * killed as hung, the next scan loading the database afresh.
 */
export const LOAD_TIMEOUT_MS = 300_000;
/** A pause between two polls of a starting clamd longer than this is a freeze, counted as this. */
const FROZEN_GAP_MS = 1_000;
/** What clamd names a scan cut short by one of its limits, with AlertExceedsMax on. */
export const LIMITS_EXCEEDED = 'Heuristics.Limits.Exceeded';
const MIB = 1024 * 1024;
/**
 * How long a clamd whose scan outlasted the invocation's time has to answer a PING to count as
 * busy rather than hung (it answers on another thread while it scans).
 */
export const PROBE_MS = 1_000;
/** A connection that stayed silent for its whole wait: a ScannerError, to those who catch it. */
class SilentError extends ScannerError {
  constructor(message: string) {
    super(message);
    this.name = 'ScannerError';
  }
}
/** What a reload is checked with: any answer but an error will do. */
const RELOAD_CHECK = new TextEncoder().encode('imgpipe: clamd reload check');

export class Clamd {
  readonly socket: string;
  /** The largest stream it was started for (maxBytes), and its StreamMaxLength in bytes. */
  readonly maxBytes: number;
  readonly streamMaxLength: number;
  /**
   * Its MaxFileSize in bytes, set when it started (unpackLimitsMiB()): a stream over it is
   * Heuristics.Limits.Exceeded.MaxFileSize, unscanned (capacity.ts counts it). Unset: not known.
   */
  maxFileSizeBytes?: number;
  readonly #process: ChildProcess;
  #exited: string | undefined;
  /** A connection to it stayed silent past its idle timeout: killed, never asked again. */
  #hung = false;
  readonly #commandTimeoutMs: number;
  readonly #loadTimeoutMs: number;

  private constructor(
    socket: string,
    child: ChildProcess,
    maxBytes: number,
    commandTimeoutMs: number,
    loadTimeoutMs: number,
  ) {
    this.socket = socket;
    this.#commandTimeoutMs = commandTimeoutMs;
    this.#loadTimeoutMs = loadTimeoutMs;
    this.maxBytes = maxBytes;
    this.streamMaxLength = streamMaxLength(maxBytes);
    this.#process = child;
    child.on('exit', (code, signal) => {
      this.#exited = `clamd exited (${signal ?? `status ${code}`})`;
    });
  }

  /** Writes clamd's configuration, starts it, and waits until it has loaded the database. */
  static async start(options: ClamdOptions): Promise<Clamd> {
    const { databaseDir, workDir, maxBytes } = options;
    await mkdir(workDir, { recursive: true });
    // clamd's temporary files (the stream, what it unpacks) go to a folder of their own, emptied
    // here: clamd removes them after each scan, but one killed (hung, or crashed) left them, and
    // every later statfs counted them as used, so the capacity and the unpack limits stayed lower
    // for the environment's life, uploads that fitted before quarantined as too-large. No other
    // clamd runs on workDir by now (the scanner stops the previous one first).
    const temporary = join(workDir, 'tmp');
    await rm(temporary, { recursive: true, force: true });
    await mkdir(temporary);
    const socket = join(workDir, 'clamd.sock');
    const config = join(workDir, 'clamd.conf');
    // The stream takes every object the pipeline would read. MaxScanSize and MaxFileSize apply to
    // what clamd unpacks (an archive's members, embedded files), so they stay at clamd's
    // MaxScanSize (400M; more for a larger stream), held to what /tmp has room for
    // (unpackLimitsMiB()), and AlertExceedsMax makes anything left unscanned past a limit a
    // Heuristics.Limits.Exceeded.* finding instead of `stream: OK`.
    const streamMiB = streamMaxLength(maxBytes) / MIB;
    const room = options.tmpRoomBytes;
    const unpack = unpackLimitsMiB(maxBytes, typeof room === 'function' ? await room() : room);
    await writeFile(
      config,
      [
        'Foreground yes',
        `LocalSocket ${socket}`,
        `DatabaseDirectory ${databaseDir}`,
        `TemporaryDirectory ${temporary}`,
        `StreamMaxLength ${streamMiB}M`,
        `MaxScanSize ${unpack.maxScanSize}M`,
        `MaxFileSize ${unpack.maxFileSize}M`,
        // Past this size clamd skips the PCRE parts of logical signatures and says nothing (no
        // AlertExceedsMax heuristic): at its default (100M) an upload over 100 MiB that only such a
        // signature matches was `stream: OK`. It follows MaxFileSize.
        `PCREMaxFileSize ${Math.max(100, streamMiB, unpack.maxFileSize)}M`,
        // The same for HTML and scripts (normalised, then matched by Target:3 signatures) and for
        // embedded PE files: past these sizes clamd skips the step and says nothing. At their
        // defaults (40M, 8M, 20M, 40M) an HTML upload over 40 MiB that only an HTML signature
        // matches was `stream: OK`. They follow the stream's size when that is larger.
        `MaxHTMLNormalize ${Math.max(40, streamMiB)}M`,
        `MaxHTMLNoTags ${Math.max(8, streamMiB)}M`,
        `MaxScriptNormalize ${Math.max(20, streamMiB)}M`,
        `MaxEmbeddedPE ${Math.max(40, streamMiB)}M`,
        'AlertExceedsMax yes',
        // A scan that takes longer ends as Heuristics.Limits.Exceeded.MaxScanTime, within the task.
        `MaxScanTime ${MAX_SCAN_TIME_MS}`,
        // A reload blocks scans instead of holding two databases in memory at once.
        'ConcurrentDatabaseReload no',
        // Signature updates come from the S3 copy (the updater function), never from clamd itself.
        'SelfCheck 0',
        '',
      ].join('\n'),
    );
    const log = options.log ?? ((line: string) => process.stderr.write(`clamd: ${line}\n`));
    const child = spawn(options.binary ?? 'clamd', [`--config-file=${config}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        log(line);
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const started = new Promise<void>((resolve, reject) => {
      child.once('error', (error) =>
        reject(new ScannerError(`Cannot start clamd: ${describeError(error)}`, { cause: error })),
      );
      child.once('spawn', () => resolve());
    });
    await started;
    const limitMs = options.startTimeoutMs ?? LOAD_TIMEOUT_MS;
    const clamd = new Clamd(socket, child, maxBytes, options.commandTimeoutMs ?? IDLE_TIMEOUT_MS, limitMs);
    clamd.maxFileSizeBytes = unpack.maxFileSize * MIB;
    // The time spent waiting, less any time the process was frozen: Lambda freezes an environment
    // between invocations, and the scanner lets a long load go on across them (handlers/scanner.ts).
    let waitedMs = 0;
    let last = performance.now();
    for (;;) {
      if (clamd.#exited) {
        throw new ScannerError(
          `${clamd.#exited} while loading the signatures in ${databaseDir}: ${output.slice(-5).join(' | ')}`,
        );
      }
      if ((await clamd.#command('zPING\0').catch(() => '')) === 'PONG') return clamd;
      const now = performance.now();
      waitedMs += Math.min(now - last, FROZEN_GAP_MS);
      last = now;
      if (waitedMs > limitMs) {
        await clamd.stop();
        throw new ScannerError(`clamd did not answer within ${limitMs} ms`);
      }
      await sleep(25);
    }
  }

  /** Whether the daemon is still running and answering (a crashed or hung one is replaced by the caller). */
  get running(): boolean {
    return this.#exited === undefined && !this.#hung;
  }

  async version(): Promise<string> {
    return this.#command('zVERSION\0');
  }

  /**
   * Scans the bytes over INSTREAM. `idleTimeoutMs` (default IDLE_TIMEOUT_MS): how long the
   * connection may stay silent before the scan fails as retryable, and clamd is killed as hung.
   * `timeLeftMs`: how long the invocation can still wait. A silence cut short by it is not yet a
   * hung clamd (a large object can take it longer to scan): the scan fails, retryable, and clamd
   * is killed only if it does not answer a PING either (within `probeMs`, PROBE_MS by default).
   * Killing a busy one would make the retry load the whole database again.
   */
  async scan(
    content: Uint8Array | Iterable<Uint8Array>,
    options: { idleTimeoutMs?: number; timeLeftMs?: number; probeMs?: number } = {},
  ): Promise<ScanVerdict> {
    // Pieces are streamed one after the other, as one file (scan/reassemble.ts: what a container
    // splits), without a copy of them joined.
    const pieces = content instanceof Uint8Array ? [content] : content;
    let length = 0;
    for (const piece of pieces) length += piece.length;
    const bytes = { length, pieces };
    const idleMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const cut = options.timeLeftMs !== undefined && options.timeLeftMs < idleMs;
    const idleTimeoutMs = cut ? Math.max(1, options.timeLeftMs!) : idleMs;
    try {
      return await this.#scan(bytes, idleTimeoutMs, !cut);
    } catch (error) {
      if (!cut || !(error instanceof SilentError)) throw error;
      const alive = await this.#exchange((socket) => socket.write('zPING\0'), options.probeMs ?? PROBE_MS, {
        killWhenSilent: false,
      })
        .then((reply) => reply === 'PONG')
        .catch(() => false);
      if (alive)
        throw new ScannerError(
          `clamd had not finished scanning the object (${bytes.length} bytes) when the invocation's time ran out (${idleTimeoutMs} ms of silence): it still answers PING, so it is left running for the retry`,
        );
      this.#kill();
      throw error;
    }
  }

  async #scan(
    bytes: { length: number; pieces: Iterable<Uint8Array> },
    idleTimeoutMs: number,
    killWhenSilent: boolean,
  ): Promise<ScanVerdict> {
    // clamd would read up to its limit, answer, and close while the rest is still being written:
    // Node then destroys the socket on EPIPE, and the answer may be lost with it. The same bytes
    // are refused every time, so not retryable.
    if (bytes.length > this.streamMaxLength)
      throw new ScannerError(
        `clamd cannot take the object (${bytes.length} bytes): over its StreamMaxLength of ${this.streamMaxLength} bytes (INSTREAM size limit exceeded)`,
        { retryable: false },
      );
    const engine = await this.#exchange((socket) => socket.write('zVERSION\0'), idleTimeoutMs, {
      killWhenSilent,
    });
    const reply = await this.#exchange(
      async (socket, answered) => {
        // One chunk at a time, stopping once clamd has answered: it answers early, and closes, when
        // it refuses the stream (StreamMaxLength), and what is written after that fails with EPIPE.
        const write = (data: Uint8Array | string) =>
          new Promise<void>((resolve, reject) =>
            socket.write(data, (error) => (error ? reject(error) : resolve())),
          );
        await write('zINSTREAM\0');
        for (const chunk of chunksOf(bytes.pieces, CHUNK)) {
          if (answered()) break;
          const size = Buffer.alloc(4);
          size.writeUInt32BE(chunk.length);
          await write(Buffer.concat([size, chunk]));
        }
        if (!answered()) await write(Buffer.alloc(4));
      },
      idleTimeoutMs,
      { killWhenSilent },
    );
    // "stream: OK", "stream: <signature> FOUND", or "<message> ERROR".
    if (reply === 'stream: OK') return { infected: false, engine };
    const found = reply.match(/^stream: (.+) FOUND$/);
    if (found) {
      const signature = found[1]!;
      return {
        infected: true,
        signature,
        ...(signature.startsWith(LIMITS_EXCEEDED) ? { limitExceeded: true } : {}),
        engine,
      };
    }
    // The stream is over StreamMaxLength: the same bytes would be refused again.
    if (/size limit exceeded/i.test(reply))
      throw new ScannerError(`clamd refused the object (${bytes.length} bytes): ${reply}`, {
        retryable: false,
      });
    throw new ScannerError(`clamd could not scan the object: ${reply}`);
  }

  /**
   * clamd's resident memory in bytes (VmRSS of /proc/<pid>/status): its engine, the database loaded.
   * Undefined where it cannot be read (no /proc, or the process gone).
   */
  async residentBytes(): Promise<number | undefined> {
    const pid = this.#process.pid;
    if (pid === undefined || this.#exited !== undefined) return undefined;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    const match = status?.match(/^VmRSS:\s+(\d+) kB$/m);
    return match ? Number(match[1]) * 1024 : undefined;
  }

  /** The daemon's process id (tests stop and resume it). */
  get pid(): number | undefined {
    return this.#process.pid;
  }

  /**
   * Makes clamd read the database folder again (after the updater replaced files in it). A reload
   * that fails leaves clamd running and answering PING, its log saying it kept the previous
   * database, but clamd 1.4 then fails every scan ("Error writing to temporary file ERROR"), and
   * every later reload too: so the reload is checked with a scan of a few bytes, and a clamd that
   * cannot scan is stopped (`running` false), for the caller to start afresh on the database.
   */
  async reload(): Promise<void> {
    const reply = await this.#command('zRELOAD\0');
    if (reply !== 'RELOADING') throw new ScannerError(`clamd refused to reload: ${reply}`);
    // Scans wait while it reloads (ConcurrentDatabaseReload no); PING answers once it is done, which
    // takes as long as a load: waited for as long as one (LOAD_TIMEOUT_MS), not as a command.
    const ping = () =>
      this.#exchange((socket) => socket.write('zPING\0'), this.#loadTimeoutMs, { frozenUncounted: true });
    while ((await ping()) !== 'PONG') await sleep(25);
    try {
      await this.scan(RELOAD_CHECK);
    } catch (error) {
      // Killed, as a hung one: nothing is to ask it again.
      this.#hung = true;
      await this.stop();
      throw new ScannerError(
        `clamd cannot scan since it reloaded the database (${describeError(error)}): it was stopped, and the next scan starts it afresh`,
        { cause: error },
      );
    }
  }

  /** A hung daemon is killed: nothing is to ask it again, and the next scan starts a fresh one. */
  #kill(): void {
    this.#hung = true;
    if (this.#exited === undefined) this.#process.kill('SIGKILL');
  }

  /** Stops the daemon and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.#exited !== undefined) return;
    const exited = new Promise((resolve) => this.#process.once('exit', resolve));
    // A hung daemon may be stopped (SIGSTOP) or stuck: only SIGKILL is sure to end it.
    this.#process.kill(this.#hung ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  /**
   * A command's reply, waited for IDLE_TIMEOUT_MS (commandTimeoutMs) of this process's running time: a reload's PING
   * is answered once the reload is done, and the scanner leaves a reload going across invocations,
   * while Lambda freezes the environment (handlers/scanner.ts). A socket's own timeout counts the
   * frozen time, so at the thaw it fired before the reply could be read and killed the daemon.
   */
  #command(command: string): Promise<string> {
    return this.#exchange((socket) => socket.write(command), this.#commandTimeoutMs, {
      frozenUncounted: true,
    });
  }

  /**
   * One connection: send, then read the null-terminated reply. A reply that arrived counts even
   * when sending failed (clamd closes the socket once it has refused a stream: EPIPE); a
   * connection silent for `idleTimeoutMs` fails, retryable. `frozenUncounted`: a pause of the
   * process longer than FROZEN_GAP_MS counts as that (a command's short write only; a scan's
   * stream keeps the socket's own timeout, which its writes reset). `killWhenSilent` (default): a
   * silent clamd is killed as hung.
   */
  #exchange(
    send: (socket: Socket, answered: () => boolean) => unknown,
    idleTimeoutMs: number,
    { frozenUncounted = false, killWhenSilent = true } = {},
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.socket);
      const chunks: Buffer[] = [];
      let complete = false;
      let failure: Error | undefined;
      let watch: ReturnType<typeof setInterval> | undefined;
      const silent = () => {
        clearInterval(watch);
        failure = new SilentError(`clamd did not answer on ${this.socket} within ${idleTimeoutMs} ms`);
        socket.destroy();
        // A hung daemon would hang the retry too: it is killed, and the next scan starts a fresh one.
        if (killWhenSilent) this.#kill();
      };
      let waitedMs = 0;
      let last = performance.now();
      watch = frozenUncounted
        ? setInterval(
            () => {
              const now = performance.now();
              waitedMs += Math.min(now - last, FROZEN_GAP_MS);
              last = now;
              if (waitedMs > idleTimeoutMs) silent();
            },
            Math.min(FROZEN_GAP_MS / 4, idleTimeoutMs),
          )
        : undefined;
      if (!frozenUncounted) socket.setTimeout(idleTimeoutMs, silent);
      socket.on('connect', () => {
        Promise.resolve(send(socket, () => complete || socket.destroyed)).catch(() => {
          // The socket's own error event says why; a reply read before it still counts.
        });
      });
      socket.on('data', (chunk) => {
        waitedMs = 0;
        chunks.push(chunk);
        if (chunk.includes(0)) {
          complete = true;
          // The reply is whole: the connection is closed from this side. Waiting for clamd to close
          // it waited out the idle timeout, and killed clamd as hung, when it did not (a clamd whose
          // reload failed answers every scan with an error and keeps the connection open).
          socket.destroy();
        }
      });
      socket.on('error', (error) => {
        failure ??= new ScannerError(`clamd did not answer on ${this.socket}: ${describeError(error)}`, {
          cause: error,
        });
      });
      socket.on('close', () => {
        clearInterval(watch);
        const reply = Buffer.concat(chunks).toString('utf8').replace(/\0.*$/s, '').trim();
        if (complete || (!failure && reply !== '')) resolve(reply);
        else reject(failure ?? new ScannerError(`clamd closed ${this.socket} without answering`));
      });
    });
  }
}
