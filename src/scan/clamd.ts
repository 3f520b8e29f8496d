import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
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
 * in milliseconds. The bytes go over the socket with INSTREAM (clamd(8)): no temporary file.
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
  /** How long loading the database may take before the start is abandoned. */
  readonly startTimeoutMs?: number;
  /** Where clamd's own log lines go (stderr by default: CloudWatch in Lambda). */
  readonly log?: (line: string) => void;
}

const CHUNK = 64 * 1024;
/** What clamd names a scan cut short by one of its limits, with AlertExceedsMax on. */
export const LIMITS_EXCEEDED = 'Heuristics.Limits.Exceeded';
const MIB = 1024 * 1024;

export class Clamd {
  readonly socket: string;
  readonly #process: ChildProcess;
  #exited: string | undefined;

  private constructor(socket: string, child: ChildProcess) {
    this.socket = socket;
    this.#process = child;
    child.on('exit', (code, signal) => {
      this.#exited = `clamd exited (${signal ?? `status ${code}`})`;
    });
  }

  /** Writes clamd's configuration, starts it, and waits until it has loaded the database. */
  static async start(options: ClamdOptions): Promise<Clamd> {
    const { databaseDir, workDir, maxBytes } = options;
    await mkdir(workDir, { recursive: true });
    const socket = join(workDir, 'clamd.sock');
    const config = join(workDir, 'clamd.conf');
    // The stream takes every object the pipeline would read. MaxScanSize and MaxFileSize apply to
    // what clamd unpacks (an archive's members, embedded files), so they stay at clamd's defaults
    // (400M, 100M; more for a larger stream), and AlertExceedsMax makes anything left unscanned
    // past a limit a Heuristics.Limits.Exceeded.* finding instead of `stream: OK`.
    const streamMiB = Math.ceil(maxBytes / MIB) + 1;
    await writeFile(
      config,
      [
        'Foreground yes',
        `LocalSocket ${socket}`,
        `DatabaseDirectory ${databaseDir}`,
        `TemporaryDirectory ${workDir}`,
        `StreamMaxLength ${streamMiB}M`,
        `MaxScanSize ${Math.max(400, streamMiB)}M`,
        `MaxFileSize ${Math.max(100, streamMiB)}M`,
        'AlertExceedsMax yes',
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
    const clamd = new Clamd(socket, child);
    const deadline = performance.now() + (options.startTimeoutMs ?? 120_000);
    for (;;) {
      if (clamd.#exited) {
        throw new ScannerError(
          `${clamd.#exited} while loading the signatures in ${databaseDir}: ${output.slice(-5).join(' | ')}`,
        );
      }
      if ((await clamd.#command('zPING\0').catch(() => '')) === 'PONG') return clamd;
      if (performance.now() > deadline) {
        await clamd.stop();
        throw new ScannerError(`clamd did not answer within ${options.startTimeoutMs ?? 120_000} ms`);
      }
      await sleep(25);
    }
  }

  /** Whether the daemon is still running (a crashed one is replaced by the caller). */
  get running(): boolean {
    return this.#exited === undefined;
  }

  async version(): Promise<string> {
    return this.#command('zVERSION\0');
  }

  /** Scans the bytes over INSTREAM. */
  async scan(bytes: Uint8Array): Promise<ScanVerdict> {
    const engine = await this.version();
    const reply = await this.#exchange((socket) => {
      socket.write('zINSTREAM\0');
      for (let offset = 0; offset < bytes.length; offset += CHUNK) {
        const chunk = bytes.subarray(offset, offset + CHUNK);
        const size = Buffer.alloc(4);
        size.writeUInt32BE(chunk.length);
        socket.write(size);
        socket.write(chunk);
      }
      socket.write(Buffer.alloc(4));
    });
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
    throw new ScannerError(`clamd could not scan the object: ${reply}`);
  }

  /** Makes clamd read the database folder again (after the updater replaced files in it). */
  async reload(): Promise<void> {
    const reply = await this.#command('zRELOAD\0');
    if (reply !== 'RELOADING') throw new ScannerError(`clamd refused to reload: ${reply}`);
    // Scans wait while it reloads (ConcurrentDatabaseReload no); PING answers once it is done.
    while ((await this.#command('zPING\0')) !== 'PONG') await sleep(25);
  }

  /** Stops the daemon and waits for it to exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.#process.once('exit', resolve));
    this.#process.kill('SIGTERM');
    await exited;
  }

  #command(command: string): Promise<string> {
    return this.#exchange((socket) => socket.write(command));
  }

  /** One connection: send, then read the null-terminated reply. */
  #exchange(send: (socket: ReturnType<typeof connect>) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.socket);
      const chunks: Buffer[] = [];
      socket.on('connect', () => send(socket));
      socket.on('data', (chunk) => {
        chunks.push(chunk);
        if (chunk.includes(0)) socket.end();
      });
      socket.on('error', (error) =>
        reject(
          new ScannerError(`clamd did not answer on ${this.socket}: ${describeError(error)}`, {
            cause: error,
          }),
        ),
      );
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8').replace(/\0.*$/s, '').trim()));
    });
  }
}
