import { constants } from 'node:fs';
import { access, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import type { PipelineConfig } from '../core/config.ts';
import { describeError, InvalidImageError } from '../core/errors.ts';
import { BucketLayout, DEFAULT_QUARANTINE_PREFIX } from '../core/layout.ts';
import { inspectImage } from '../image/inspect.ts';
import { defaultWorkers } from '../pipeline/cpus.ts';
import { createEncoder, type PooledEncoder } from '../pipeline/encoder-pool.ts';
import { encoderThreadsFor } from '../pipeline/memory-budget.ts';
import { planSteps } from '../pipeline/plan.ts';
import type { Encoder } from '../pipeline/process-image.ts';
import {
  processObject,
  quarantineDone,
  readSource,
  type SourceRead,
  unlistedOutputs,
} from '../pipeline/process-object.ts';
import { type QuarantineRecord, readManifest, readQuarantineRecord } from '../pipeline/records.ts';
import { FsStorage, removeTemporaryFilesNow } from '../storage/fs.ts';
import { getJson, perBucket } from '../storage/types.ts';
import { UsageError } from './args.ts';
import { exists, fileInPath, makeFolder, systemReason } from './folders.ts';
import { type CollectOptions, collectInputs, type Input, removeStdinCopiesNow } from './inputs.ts';
import {
  type FileResult,
  jsonSummary,
  type PlannedFile,
  renderNothingFound,
  renderPlan,
  renderSummary,
  statusOf,
  type Terminal,
} from './summary.ts';
import { printable, printableStack } from './table.ts';

/**
 * `imgpipe process`: the pipeline over local files into a local folder, with the same key layout,
 * manifests and quarantine as in S3. The output folder plays the output bucket, and quarantined
 * inputs go under its `quarantine/` prefix, as they would with one shared bucket. Files run
 * `concurrency` at a time in this thread (decode and resize) while an encoder pool of worker
 * threads encodes, so every CPU works; outputs are the same bytes as one file at a time.
 */

export interface ProcessCommandOptions {
  readonly inputs: readonly string[];
  readonly out: string;
  readonly config: PipelineConfig;
  readonly force: boolean;
  /** Encoder threads (IMGPIPE_WORKERS): 0 derives them from the CPUs. Ignored with `encoder`. */
  readonly workers?: number;
  /** Files in flight at once. */
  readonly concurrency?: number;
  readonly encoder?: Encoder;
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly dryRun?: boolean;
  readonly verbose?: boolean;
  readonly stdin?: CollectOptions['stdin'];
  readonly stdinKey?: string;
  readonly stdout: NodeJS.WritableStream | NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Stops after the files in flight (tests); Ctrl-C stops at once with exit status 130. */
  readonly signal?: AbortSignal;
}

const COMMAND = 'imgpipe process';

export async function runProcessCommand(
  options: ProcessCommandOptions,
): Promise<{ exitCode: number; results: FileResult[] }> {
  const outputFolders = new BucketLayout(options.config, DEFAULT_QUARANTINE_PREFIX).topFolders();
  // Ctrl-C or SIGTERM: the terminal gets its cursor and line wrap back, the user learns what is
  // done (every finished file has its manifest, so a second run skips it), the copy of standard
  // input is removed (a partial one too, while it is being read), and the exit status is 130 (143
  // for SIGTERM).
  const progress: Progress = { done: 0, total: 0, collecting: true };
  const onSignal = (signal: NodeJS.Signals) => {
    progress.bar?.stop();
    removeStdinCopiesNow();
    removeTemporaryFilesNow();
    // A dry run wrote nothing: there is nothing to resume (it said "run again to resume").
    options.stderr.write(
      options.dryRun
        ? `\ndry run interrupted${progress.collecting ? ' while reading the inputs' : ''}: nothing was written\n`
        : progress.collecting
          ? '\ninterrupted while reading the inputs: nothing was processed\n'
          : `\ninterrupted: ${progress.done} of ${progress.total} done; run again to resume\n`,
    );
    process.exit(signal === 'SIGTERM' ? 143 : 130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let collected: Awaited<ReturnType<typeof collectInputs>>;
  try {
    collected = await collectInputs(options.inputs, {
      out: options.out,
      command: COMMAND,
      maxBytes: options.config.limits.maxBytes,
      ...(options.stdin ? { stdin: options.stdin } : {}),
      ...(options.stdinKey !== undefined ? { stdinKey: options.stdinKey } : {}),
      ...(outputFolders ? { outputFolders } : {}),
    });
  } catch (error) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw error;
  }
  const { inputs, cleanup } = collected;
  progress.total = inputs.length;
  progress.collecting = false;
  try {
    if (inputs.length === 0) {
      // Every input named is a folder that exists and holds nothing to process (a file or a glob
      // that names nothing is refused while collecting): a cron job's empty drop folder is a run of
      // 0, exit 0, not the usage error (exit 2) it was. --out is checked as for any run.
      await checkOutputFolder(options.out, { write: !options.dryRun });
      if (options.json)
        options.stdout.write(
          `${JSON.stringify(jsonSummary([], options.out, options.dryRun === true), null, 2)}\n`,
        );
      else if (!options.quiet)
        options.stdout.write(`${renderNothingFound(options.inputs, options.dryRun === true)}\n`);
      return { exitCode: 0, results: [] };
    }
    await checkNoInputOverwritten(
      inputs,
      options.out,
      new BucketLayout(options.config, DEFAULT_QUARANTINE_PREFIX),
    );
    const terminal = terminalOf(options.stdout);
    if (options.dryRun) {
      // What the run would refuse before any work, without writing: a file in --out's path.
      await checkOutputFolder(options.out, { write: false });
      const plans = await planFiles(inputs, options);
      if (options.json)
        options.stdout.write(`${JSON.stringify(jsonSummary(plans, options.out, true), null, 2)}\n`);
      else if (!options.quiet) options.stdout.write(renderPlan(plans));
      else {
        // --quiet: nothing but failures, as a run prints them (the whole plan was printed).
        for (const plan of plans)
          if (plan.status === 'failed')
            options.stderr.write(
              `${COMMAND}: ${printable(plan.display)}: would fail: ${printable(plan.message ?? '')}\n`,
            );
      }
      // An input that cannot be read would fail: the plan is no success either.
      return { exitCode: plans.some((p) => p.status === 'failed') ? 1 : 0, results: [] };
    }
    await checkOutputFolder(options.out);
    const results = await processFiles(inputs, options, progress);
    if (options.json) {
      options.stdout.write(`${JSON.stringify(jsonSummary(results, options.out, false), null, 2)}\n`);
    } else if (!options.quiet) {
      options.stdout.write(`${renderSummary(results, options.out, terminal)}\n`);
    }
    // A missing input (deleted after it was listed) got no outputs: not a success either.
    const failures = results.filter((r) => r.error !== undefined || r.outcome?.status === 'missing');
    if (options.quiet) {
      for (const failure of failures)
        options.stderr.write(`${COMMAND}: ${printable(failure.display)}: ${printable(statusOf(failure))}\n`);
    }
    if (options.verbose) {
      for (const failure of failures) {
        if (failure.error === undefined) continue;
        options.stderr.write(`${printable(failure.display)}: ${printableStack(failure.error)}\n`);
      }
    }
    return { exitCode: failures.length > 0 ? 1 : 0, results };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/** How far a run is, for the message of an interruption. */
interface Progress {
  done: number;
  total: number;
  /** Still listing the inputs and reading standard input. */
  collecting: boolean;
  bar?: cliProgress.SingleBar;
}

/** How the summary may be drawn on stdout: its width and whether it takes colour. */
function terminalOf(stream: NodeJS.WritableStream | NodeJS.WriteStream): Terminal {
  const tty = 'isTTY' in stream && stream.isTTY === true;
  return { stream, columns: tty ? (stream as NodeJS.WriteStream).columns : undefined };
}

async function processFiles(
  inputs: readonly Input[],
  options: ProcessCommandOptions,
  progress: Progress,
): Promise<FileResult[]> {
  const { config } = options;
  const output = new FsStorage(options.out);
  const source = perBucket((folder) => new FsStorage(folder));
  const layout = new BucketLayout(config, DEFAULT_QUARANTINE_PREFIX);
  const showProgress = !options.json && !options.quiet;
  const tty = showProgress && 'isTTY' in options.stderr && options.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: options.stderr as NodeJS.WriteStream,
          format: '{bar} {value}/{total} {file}',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  if (bar) progress.bar = bar;
  const results: FileResult[] = new Array(inputs.length);
  let done = 0;

  let encoder: PooledEncoder | undefined;
  try {
    encoder = options.encoder
      ? undefined
      : await createEncoder(
          options.workers ||
            encoderThreadsFor(defaultWorkers(), config.limits.memory, config.limits.maxPixels),
          config.formats,
        );
    bar?.start(inputs.length, 0, { file: '' });
    const inFlight = new Set<string>();
    let next = 0;
    const work = async () => {
      while (next < inputs.length && !options.signal?.aborted) {
        const index = next++;
        const input = inputs[index]!;
        inFlight.add(input.ref.key);
        bar?.update(done, { file: [...inFlight].join(', ') });
        const started = performance.now();
        let result: FileResult;
        if (input.problem !== undefined) {
          // Nothing to read (a symbolic link to nothing, a folder that cannot be read): a failed row naming it.
          result = {
            display: input.display,
            key: input.ref.key,
            error: input.problem,
            ms: 0,
            ...(input.folder ? { folder: input.folder } : {}),
          };
        } else
          try {
            const outcome = await processObject(input.ref, {
              config,
              layout,
              source,
              output,
              quarantine: output,
              force: options.force,
              encoder: options.encoder ?? encoder,
            });
            result = { display: input.display, key: input.ref.key, outcome, ms: performance.now() - started };
            if (outcome.status === 'quarantined') {
              // The header's dimensions, when it was read before the image was refused.
              const record = await getJson<QuarantineRecord>(
                output,
                layout.quarantineKeys(input.ref.key).reason,
              );
              const { width, height } = record.details as { width?: unknown; height?: unknown };
              if (typeof width === 'number' && typeof height === 'number')
                result = { ...result, width, height };
            }
          } catch (error) {
            result = { display: input.display, key: input.ref.key, error, ms: performance.now() - started };
          }
        results[index] = result;
        done++;
        progress.done = done;
        inFlight.delete(input.ref.key);
        bar?.update(done, { file: [...inFlight].join(', ') });
        if (showProgress && !bar)
          options.stderr.write(
            `[${done}/${inputs.length}] ${printable(input.display)}: ${printable(statusOf(result))}\n`,
          );
      }
    };
    const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, inputs.length));
    await Promise.all(Array.from({ length: concurrency }, work));
  } finally {
    bar?.stop();
    await encoder?.close();
  }
  return results.filter((result) => result !== undefined);
}

/**
 * Checks before any work that outputs can be written under `out` (creating it), so a bad path
 * fails at once with a reason instead of after the first image. A dry run (`write: false`) checks
 * only what it can without writing: no file in the path.
 */
export async function checkOutputFolder(out: string, { write = true } = {}): Promise<void> {
  const fail = (reason: string): never => {
    throw new UsageError(COMMAND, `cannot write to --out ${out}: ${reason}`);
  };
  const file = await fileInPath(out);
  if (file !== undefined) fail(`${file} is a file, not a folder`);
  if (!write) {
    // Nor a folder this user may not write in: the dry run said all was well (exit 0) where the
    // run is refused at once (EACCES), or a read-only file system (EROFS).
    const folder = await nearestExisting(resolve(out));
    await access(folder, constants.W_OK | constants.X_OK).catch((error: unknown) =>
      fail(systemReason(error)),
    );
    return;
  }
  const probe = join(out, `.imgpipe-write-check-${process.pid}`);
  try {
    await makeFolder(out);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (error) {
    fail(systemReason(error));
  }
}

/** `path` or the nearest folder above it that exists: where making --out would begin. */
async function nearestExisting(path: string): Promise<string> {
  let current = path;
  while (!(await exists(current)) && dirname(current) !== current) current = dirname(current);
  return current;
}

/**
 * Refuses a run that would write over one of its inputs: an output, manifest or quarantine record
 * whose path under --out is an input's file. A file named at the top of --out is taken (site/a.jpg
 * with -o site), and a key template without a folder ({dir}{name}.{ext}, or {key} with one format)
 * writes its outputs beside it, the input's own name among them. Nor may two inputs write one
 * output or manifest: a template without the source's extension ({dir}{name}.{ext}) gives photo.png
 * and photo.jpg one output photo.jpg, the second written over the first, and both manifests name it.
 */
async function checkNoInputOverwritten(inputs: readonly Input[], out: string, layout: BucketLayout) {
  const output = new FsStorage(out);
  const realOut = await realpath(output.root).catch(() => output.root);
  const inputPaths = new Map<string, Input>();
  for (const input of inputs) {
    if (input.problem !== undefined || input.display === '-') continue;
    inputPaths.set(resolve(input.path), input);
    const real = await realpath(input.path).catch(() => undefined);
    if (real !== undefined) inputPaths.set(real, input);
  }
  const writers = new Map<string, Input>();
  for (const input of inputs) {
    if (input.problem !== undefined) continue;
    const quarantine = layout.quarantineKeys(input.ref.key);
    const written = [
      ...layout.outputKeys(input.ref.key),
      layout.manifestKey(input.ref.key),
      quarantine.object,
      quarantine.reason,
    ];
    for (const key of written) {
      let path: string;
      try {
        path = output.pathOf(key, 'put');
      } catch {
        continue; // a key the folder cannot hold: the run records that input as failed
      }
      const below = relative(output.root, path);
      const overwritten = inputPaths.get(path) ?? inputPaths.get(join(realOut, below));
      if (overwritten !== undefined)
        throw new UsageError(
          COMMAND,
          `${printable(input.display)} would write ${printable(key)} in --out ${out}, which is the input ${printable(overwritten.display)}: give another --out`,
        );
      const writer = writers.get(path);
      if (writer !== undefined && writer !== input)
        throw new UsageError(
          COMMAND,
          `${printable(writer.display)} and ${printable(input.display)} would both write ${printable(key)} in --out ${out}, the second over the first (the key template leaves out what tells their keys apart): process them into different --out folders`,
        );
      writers.set(path, input);
    }
  }
}

/** The plan of a dry run: what each input would get, from its header alone (no decode, no write). */
async function planFiles(inputs: readonly Input[], options: ProcessCommandOptions): Promise<PlannedFile[]> {
  const { config } = options;
  const layout = new BucketLayout(config, DEFAULT_QUARANTINE_PREFIX);
  const output = new FsStorage(resolve(options.out));
  const plans: PlannedFile[] = [];
  for (const input of inputs) {
    const storage = new FsStorage(input.ref.bucket);
    const base = { display: input.display, key: input.ref.key };
    if (input.problem !== undefined) {
      plans.push({
        ...base,
        status: 'failed',
        message: input.problem,
        ...(input.folder ? { folder: input.folder } : {}),
      });
      continue;
    }
    let read: SourceRead;
    try {
      // As the run reads it: a file over limits.maxBytes is refused with its size and ETag.
      read = await readSource(storage, input.ref, config);
    } catch (error) {
      // As the run would record it (unreadable): a failed row, the rest still planned.
      plans.push({ ...base, status: 'failed', message: describeError(error) });
      continue;
    }
    if (read.kind === 'missing') {
      plans.push({ ...base, status: 'failed', message: read.message });
      continue;
    }
    const manifest = options.force
      ? undefined
      : await readManifest(output, layout.manifestKey(input.ref.key));
    /** Quarantined, or already (this content, this key, this reason), as the run decides it. */
    const quarantined = async (
      error: InvalidImageError,
      etag: string | undefined,
      size: number | undefined,
    ) => {
      const { width, height } = error.details as { width?: number; height?: number };
      const existing =
        options.force || etag === undefined
          ? undefined
          : await readQuarantineRecord(output, layout.quarantineKeys(input.ref.key).reason);
      // Decided as the run decides it (not when the key has outputs of other content to withdraw,
      // nor when this content was processed after the record), the file as read being the source.
      const repeated = await quarantineDone(
        input.ref.key,
        etag,
        error.reason,
        existing,
        async () => manifest,
        async () => etag,
        async () => (await unlistedOutputs(input.ref.key, { layout, output })).length > 0,
      );
      plans.push({
        ...base,
        status: 'quarantined',
        ...(repeated ? { repeated: true as const } : {}),
        reason: error.reason,
        message: error.message,
        ...(size !== undefined ? { bytesIn: size } : {}),
        ...(typeof width === 'number' && typeof height === 'number' ? { width, height } : {}),
      });
    };
    if (read.kind === 'invalid') {
      await quarantined(read.error, read.object.etag, read.object.size);
      continue;
    }
    const { object } = read;
    if (manifest && manifest.source.etag === object.etag && manifest.configHash === config.hash) {
      plans.push({ ...base, status: 'duplicate', bytesIn: object.size, outputs: manifest.outputs });
      continue;
    }
    try {
      // The animation setting too, as the run applies it (quarantine: an animated input is refused).
      const header = inspectImage(object.body, config.limits, config.animation);
      const display = { width: header.displayWidth, height: header.displayHeight };
      const steps = planSteps(display, config.variants);
      const outputs = config.variants.flatMap((variant) => {
        const step = steps.find((s) => s.variant.name === variant.name)!;
        return variant.formats.map((format) => ({
          variant: variant.name,
          format,
          key: layout.outputKey(input.ref.key, variant.name, format),
          width: step.output.width,
          height: step.output.height,
        }));
      });
      plans.push({ ...base, status: 'planned', header, bytesIn: object.size, outputs });
    } catch (error) {
      if (!(error instanceof InvalidImageError)) throw error;
      await quarantined(error, object.etag, object.size);
    }
  }
  return plans;
}
