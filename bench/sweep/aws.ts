import { randomUUID } from 'node:crypto';
import {
  DeleteFunctionCommand,
  type FunctionConfiguration,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  type LambdaClient,
  PublishVersionCommand,
  UpdateFunctionConfigurationCommand,
  waitForFunctionUpdated,
  waitForPublishedVersionActive,
} from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadRuntimeConfig, SETTINGS } from '../../src/config/index.ts';
import { isInputFormat } from '../../src/core/formats.ts';
import { BucketLayout } from '../../src/core/layout.ts';
import { probeImage } from '../../src/image/probe.ts';
import { sniffFormat } from '../../src/image/sniff.ts';
import { MAX_TIMEOUT_SECONDS } from './derive.ts';
import { lambdaShare, lambdaWorkers } from './model.ts';
import type { Progress } from './progress.ts';
import { parseReportLines, type ReportLine } from './report-line.ts';
import type { Architecture, ImageResult, RowFailure, RunSample, SweepRow } from './types.ts';

/**
 * The sweep against a deployed function (like AWS Lambda Power Tuning, without Step Functions):
 * for each size, set MemorySize (and the longest timeout the deployment accepts), wait for the
 * update, publish a version (a new version starts in a fresh execution environment, so its first
 * invocation is cold), invoke it with each input once
 * (the first is the cold start) and then `runs` more times, and read Duration, Billed Duration,
 * Max Memory Used and Init Duration from the REPORT line (text logs) or platform.report record (JSON
 * logs) in the log tail. Whatever happens, the
 * original memory size and timeout are restored and the published versions deleted.
 *
 * The handler skips an object whose manifest is current (S3 delivers events at least once), so an
 * S3 event for the same object is processed once and then answered as `duplicate`. Such runs are
 * detected in the log tail and reported; `deleteManifest` removes the object's manifest before
 * every invocation so that each one processes the image.
 */

export interface AwsInput {
  readonly label: string;
  readonly payload: Uint8Array;
  /** The object an S3 event names (for its pixel count and manifest). */
  readonly object?: { readonly bucket: string; readonly key: string };
  readonly pixels?: number;
  readonly width?: number;
  readonly height?: number;
}

type Sender<C extends { send: unknown }> = Pick<C, 'send'>;

export interface AwsSweepSettings {
  /** A client, as the SDK waiters take one (bench/sweep/main.ts; the tests mock its send). */
  readonly lambda: LambdaClient;
  readonly s3?: Sender<S3Client>;
  readonly functionName: string;
  readonly memories: readonly number[];
  readonly runs: number;
  readonly inputs: readonly AwsInput[];
  readonly deleteManifest: boolean;
  readonly progress: Progress;
  readonly signal?: AbortSignal;
  /** Between polls of the update status (tests: 0). */
  readonly pollMs?: number;
  readonly maxWaitMs?: number;
  readonly log?: (line: string) => void;
}

export interface AwsSweepResult {
  readonly rows: Omit<SweepRow, 'stats'>[];
  readonly architecture: Architecture;
  readonly functionArn?: string;
  readonly original: { readonly memoryMb?: number; readonly timeoutSeconds?: number };
  /** Problems while restoring the configuration or deleting versions: the caller must shout. */
  readonly cleanupProblems: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
}

export class SweepAbortedError extends Error {
  constructor() {
    super('The sweep was interrupted');
    this.name = 'SweepAbortedError';
  }
}

/**
 * The sweep stopped (an error, or Ctrl-C) and then could not restore the function or delete its
 * versions: the message names both, and the function may be left changed.
 */
export class SweepCleanupError extends Error {
  readonly problems: readonly string[];
  constructor(cause: unknown, problems: readonly string[]) {
    super(
      `${message(cause)}; then the cleanup failed, so the function may be left changed: ${problems.join('; ')}`,
      { cause },
    );
    this.name = 'SweepCleanupError';
    this.problems = problems;
  }
}

export async function runAwsSweep(settings: AwsSweepSettings): Promise<AwsSweepResult> {
  const { lambda, functionName } = settings;
  const log = settings.log ?? (() => undefined);
  // A function still being updated (a deploy that has just run) refuses another update
  // (ResourceConflictException): the sweep stopped at its first size. Its configuration is read
  // once the update has ended; one that ended as Failed left the function as it was.
  await waitForUpdate({ ...settings, signal: undefined }, undefined).catch((error: unknown) => {
    if (!(error instanceof UpdateFailedError)) throw error;
  });
  const original = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
  const environment = original.Environment?.Variables ?? {};
  const architecture = (original.Architectures?.[0] ?? 'x86_64') as Architecture;
  const manifests = settings.deleteManifest ? manifestLocations(settings.inputs, environment) : undefined;
  if (settings.deleteManifest && !settings.s3) throw new Error('Deleting manifests needs an S3 client');

  const versions: string[] = [];
  const sweepId = randomUUID();
  const rows: Omit<SweepRow, 'stats'>[] = [];
  const cleanupProblems: string[] = [];
  let failure: unknown;
  /** Whether an update of the sweep's may have been applied: until then there is nothing to restore. */
  let changed = false;
  settings.progress.start(settings.memories.length * settings.inputs.length * (1 + settings.runs));
  try {
    for (const memoryMb of settings.memories) {
      checkAborted(settings.signal);
      settings.progress.step(`${memoryMb} MB: updating ${functionName}`);
      // The timeout too: the deployed one was tuned for the deployed size, and at a smaller size an
      // invocation would time out (or be refused as too-slow by the function's own deadline) for
      // want of it, failing a size whose duration the choice should weigh. MAX_TIMEOUT_SECONDS is
      // the longest the deployment accepts; a size that needs more is not chosen anyway.
      try {
        await lambda.send(
          new UpdateFunctionConfigurationCommand({
            FunctionName: functionName,
            MemorySize: memoryMb,
            Timeout: MAX_TIMEOUT_SECONDS,
          }),
        );
      } catch (error) {
        // Refused (a client fault: no permission, another update in progress, throttled): nothing
        // changed. Anything else (no answer, a server fault) may have been applied.
        if (!isClientFault(error)) changed = true;
        throw error;
      }
      changed = true;
      await waitForUpdate(settings, undefined);
      const description = `imgpipe bench sweep ${sweepId}: ${memoryMb} MB (temporary)`;
      const published = await lambda.send(
        new PublishVersionCommand({ FunctionName: functionName, Description: description }),
      );
      const version = published.Version;
      if (!version) throw new Error(`PublishVersion returned no version for ${functionName}`);
      // Lambda publishes no version when the code and configuration are those of the latest one,
      // and returns that one instead: at the deployed size with a deployed timeout of 110 s, the
      // deployment's own version (its live alias, its provisioned concurrency, its traffic), which
      // the sweep measured as if cold and then deleted. Only a version with this sweep's
      // description is its own.
      if (published.Description !== description) {
        const why = `PublishVersion returned version ${version}, which this sweep did not publish (its description is ${JSON.stringify(published.Description ?? '')}): Lambda publishes no new version when the code and configuration (${memoryMb} MB, ${MAX_TIMEOUT_SECONDS} s) are those of the latest one. That version is neither measured nor deleted`;
        log(why);
        rows.push(unmeasuredRow(memoryMb, settings.inputs, why));
        continue;
      }
      versions.push(version);
      await waitForUpdate(settings, version);
      rows.push(await sweepSize(settings, memoryMb, version, manifests));
    }
  } catch (error) {
    // Cleaned up below, then thrown again.
    failure = error ?? new Error('The sweep failed');
  }
  settings.progress.stop();
  // A sweep whose first update was refused (no permission for UpdateFunctionConfiguration) changed
  // nothing, and its restore, refused the same way, was reported as a function left changed.
  if (changed) {
    try {
      // An update of the sweep's may still be in progress (its wait failed), and Lambda refuses
      // another update until it ends (ResourceConflictException): the restore failed, and the function
      // was left at the sweep's size. A last update that failed leaves the function as it was.
      await waitForUpdate({ ...settings, signal: undefined }, undefined).catch((error: unknown) => {
        if (!(error instanceof UpdateFailedError)) throw error;
      });
      await lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: functionName,
          MemorySize: original.MemorySize,
          Timeout: original.Timeout,
        }),
      );
      await waitForUpdate({ ...settings, signal: undefined }, undefined);
      log(`Restored ${functionName} to ${original.MemorySize} MB, ${original.Timeout} s`);
    } catch (error) {
      cleanupProblems.push(
        `Could not restore ${functionName} to MemorySize ${original.MemorySize} and Timeout ${original.Timeout}: ${message(error)}`,
      );
    }
  }
  for (const version of versions) {
    try {
      await lambda.send(new DeleteFunctionCommand({ FunctionName: functionName, Qualifier: version }));
    } catch (error) {
      cleanupProblems.push(`Could not delete version ${version} of ${functionName}: ${message(error)}`);
    }
  }
  // After an error or Ctrl-C there is no result to carry the problems: the sweep said only what
  // stopped it ("The sweep was interrupted"), and a function left at the sweep's memory and timeout
  // went unmentioned. The error that leaves says both.
  if (failure !== undefined) {
    throw cleanupProblems.length > 0 ? new SweepCleanupError(failure, cleanupProblems) : failure;
  }
  return {
    rows,
    architecture,
    ...(original.FunctionArn ? { functionArn: original.FunctionArn } : {}),
    original: { memoryMb: original.MemorySize, timeoutSeconds: original.Timeout },
    cleanupProblems,
    environment,
  };
}

async function sweepSize(
  settings: AwsSweepSettings,
  memoryMb: number,
  version: string,
  manifests: Map<AwsInput, { bucket: string; key: string }> | undefined,
): Promise<Omit<SweepRow, 'stats'>> {
  const images: ImageResult[] = [];
  const failures: RowFailure[] = [];
  let coldInitMs: number | undefined;
  let sawCold = false;
  for (const input of runOrder(settings.inputs)) {
    const samples: RunSample[] = [];
    let peak = 0;
    try {
      for (let run = 0; run <= settings.runs; run++) {
        checkAborted(settings.signal);
        settings.progress.step(`${memoryMb} MB: ${input.label} run ${run + 1}/${settings.runs + 1}`);
        const manifest = manifests?.get(input);
        if (manifest) {
          await settings.s3!.send(new DeleteObjectCommand({ Bucket: manifest.bucket, Key: manifest.key }));
        }
        const report = await invoke(settings, version, input, memoryMb);
        settings.progress.advance();
        if (!sawCold) {
          sawCold = true;
          coldInitMs = report.initMs;
        }
        peak = Math.max(peak, report.maxMemoryUsedMb);
        samples.push({
          wallMs: report.durationMs,
          billedMs: report.billedMs,
          maxMemoryUsedMb: report.maxMemoryUsedMb,
        });
      }
    } catch (error) {
      if (error instanceof SweepAbortedError) throw error;
      // Throttled past the SDK's retries: the account's or the function's concurrency, not the size,
      // stopped the run. As a failure of the input, the size was left out of the choice, and a
      // tuning file was written from the other sizes.
      if ((error as { name?: unknown } | null)?.name === 'TooManyRequestsException') {
        throw new Error(
          `Lambda throttled the invocation of ${input.label} at ${memoryMb} MB, also when the SDK retried it (${message(error)}): a throttle says nothing of the size, so the sweep stops instead of leaving ${memoryMb} MB out of the choice; run it again when the function's concurrency allows`,
          { cause: error },
        );
      }
      failures.push({ image: input.label, message: message(error) });
      if (error instanceof InvocationError && error.outOfMemory) peak = Math.max(peak, memoryMb);
      if (samples.length === 0) {
        if (peak > 0)
          images.push(placeholder(input, peak, error instanceof InvocationError ? error.report : undefined));
        continue;
      }
    }
    const [first, ...warm] = samples;
    images.push({
      image: input.label,
      ...(input.width !== undefined ? { width: input.width } : {}),
      ...(input.height !== undefined ? { height: input.height } : {}),
      ...(input.pixels !== undefined ? { pixels: input.pixels } : {}),
      initMs: coldInitMs ?? 0,
      first: first!,
      warm,
      peakRssMb: peak,
    });
  }
  // Reported in the order the inputs were given.
  const given = (label: string) => settings.inputs.findIndex((input) => input.label === label);
  images.sort((a, b) => given(a.image) - given(b.image));
  return {
    memoryMb,
    vcpus: lambdaShare(memoryMb),
    workers: lambdaWorkers(memoryMb),
    mode: 'measured-aws',
    note:
      coldInitMs === undefined
        ? `version ${version}: no Init Duration seen (the first invocation was not a cold start); init counted as 0`
        : `version ${version} of ${settings.functionName}`,
    images,
    failures,
  };
}

/**
 * The order the inputs of one size are invoked in: fewest pixels first, those of unknown size
 * (payload files) last, otherwise as given. One execution environment serves them all, and what it
 * has used stays used (WASM memories never shrink; Max Memory Used is the environment's), so an
 * input run after a larger one reported the larger one's peak: with the bench workflow's 15.9 MP
 * photo before its 1.5 MP one, both peaks were the large photo's, and the fit of memory against
 * pixels (max_input_pixels) was raised to the small photo's point. From the smallest up, each
 * input's peak is its own, or at most a smaller input's.
 */
export function runOrder(inputs: readonly AwsInput[]): AwsInput[] {
  return inputs
    .map((input, index) => ({ input, index }))
    .sort(
      (a, b) =>
        (a.input.pixels ?? Number.POSITIVE_INFINITY) - (b.input.pixels ?? Number.POSITIVE_INFINITY) ||
        a.index - b.index,
    )
    .map(({ input }) => input);
}

/** A size that could not be measured: every input fails there, for `why`. */
function unmeasuredRow(memoryMb: number, inputs: readonly AwsInput[], why: string): Omit<SweepRow, 'stats'> {
  return {
    memoryMb,
    vcpus: lambdaShare(memoryMb),
    workers: lambdaWorkers(memoryMb),
    mode: 'measured-aws',
    note: 'not measured',
    images: [],
    failures: inputs.map((input) => ({ image: input.label, message: why })),
  };
}

/**
 * An input that failed on its first invocation still tells us it did not fit (OOM), and how long
 * the failed invocation ran and was billed, from its report: with 0 ms, the size's p50, cost and
 * chart point read as free and instant (an OOM at 1024 MB after 1.8 s showed 0 ms and $0).
 */
function placeholder(input: AwsInput, peakMb: number, report: ReportLine | undefined): ImageResult {
  const run: RunSample = report
    ? { wallMs: report.durationMs, billedMs: report.billedMs, maxMemoryUsedMb: report.maxMemoryUsedMb }
    : { wallMs: 0 };
  return { image: input.label, initMs: report?.initMs ?? 0, first: run, warm: [], peakRssMb: peakMb };
}

export class InvocationError extends Error {
  readonly outOfMemory: boolean;
  /** The failed invocation's REPORT line or platform.report record, when the log tail had one. */
  readonly report?: ReportLine;
  constructor(text: string, outOfMemory: boolean, report?: ReportLine) {
    super(text);
    this.name = 'InvocationError';
    this.outOfMemory = outOfMemory;
    if (report) this.report = report;
  }
}

async function invoke(
  settings: AwsSweepSettings,
  version: string,
  input: AwsInput,
  memoryMb: number,
): Promise<ReportLine> {
  const response = await settings.lambda.send(
    new InvokeCommand({
      FunctionName: settings.functionName,
      Qualifier: version,
      LogType: 'Tail',
      Payload: input.payload,
    }),
  );
  const log = response.LogResult ? Buffer.from(response.LogResult, 'base64').toString('utf8') : '';
  const report = parseReportLines(log).at(-1);
  const payload = response.Payload ? Buffer.from(response.Payload).toString('utf8') : '';
  if (response.FunctionError || report?.status === 'error' || report?.status === 'timeout') {
    const outOfMemory =
      /Runtime\.OutOfMemory/.test(`${payload} ${log} ${report?.errorType ?? ''}`) ||
      (report !== undefined && report.maxMemoryUsedMb >= report.memorySizeMb);
    const what = outOfMemory ? 'ran out of memory' : `failed (${response.FunctionError ?? report?.status})`;
    throw new InvocationError(
      `Invocation of ${input.label} at ${memoryMb} MB ${what}: ${payload.slice(0, 300) || report?.errorType || 'no payload'}`,
      outOfMemory,
      report,
    );
  }
  if (!report)
    throw new Error(
      `No REPORT line or platform.report record in the log tail of ${input.label} at ${memoryMb} MB (with JSON logs, the function's system log level must be INFO or DEBUG)`,
    );
  const unprocessed = unprocessedRecords(payload);
  if (/"outcome"\s*:\s*"duplicate"/.test(log) || unprocessed.some((r) => r.status === 'duplicate')) {
    throw new Error(
      `The function skipped ${input.label} at ${memoryMb} MB as a duplicate (its manifest is current), so the run measured no processing; pass --delete-manifest to remove the manifest before each invocation`,
    );
  }
  if (unprocessed.length > 0) {
    // A quarantined image (over-memory-budget at a small size, too-slow within the function's
    // timeout, ...) is an invocation that succeeded without processing it: its duration is not
    // what the size costs to process the input, and the size cannot take it.
    const what = unprocessed
      .map((r) => `${r.status}${r.reason === undefined ? '' : ` (${r.reason})`}`)
      .join(', ');
    throw new Error(`The function did not process ${input.label} at ${memoryMb} MB: ${what}`);
  }
  return report;
}

/**
 * The records of an S3 event handler's response ({ records: [{ status, reason }] },
 * src/handlers/s3-event.ts) that were not processed; none for any other response.
 */
function unprocessedRecords(payload: string): { status: string; reason?: string }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return [];
  }
  const records = (parsed as { records?: unknown } | null)?.records;
  if (!Array.isArray(records)) return [];
  return records.flatMap((record: unknown) => {
    const { status, reason } = (record ?? {}) as { status?: unknown; reason?: unknown };
    if (typeof status !== 'string' || status === 'processed') return [];
    return [{ status, ...(typeof reason === 'string' ? { reason } : {}) }];
  });
}

class UpdateFailedError extends Error {}

/**
 * Waits until the function has finished updating, or a version of it is active: the SDK's waiters
 * (FunctionUpdated on LastUpdateStatus, PublishedVersionActive on State), which poll
 * GetFunctionConfiguration with backoff and ask again after an error.
 */
async function waitForUpdate(settings: AwsSweepSettings, version: string | undefined): Promise<void> {
  const name = `${settings.functionName}${version ? `:${version}` : ''}`;
  const minDelay = Math.max(settings.pollMs ?? 2000, 1) / 1000;
  const maxWaitTime = (settings.maxWaitMs ?? 5 * 60_000) / 1000;
  const waiter = {
    client: settings.lambda,
    minDelay,
    maxDelay: Math.max(minDelay, 30),
    maxWaitTime,
    ...(settings.signal ? { abortSignal: settings.signal } : {}),
  };
  const input = { FunctionName: settings.functionName, ...(version ? { Qualifier: version } : {}) };
  const result = version
    ? await waitForPublishedVersionActive(waiter, input)
    : await waitForFunctionUpdated(waiter, input);
  if (result.state === 'SUCCESS') return;
  if (result.state === 'ABORTED') throw new SweepAbortedError();
  if (result.state === 'FAILURE') {
    const config = result.reason as FunctionConfiguration | undefined;
    const reason = version ? config?.StateReason : config?.LastUpdateStatusReason;
    throw new UpdateFailedError(`${name} failed to update: ${reason ?? 'no reason given'}`);
  }
  const seen = Object.keys(result.observedResponses ?? {}).join('; ');
  throw new Error(`${name} is still updating after ${maxWaitTime} s${seen ? ` (${seen})` : ''}`);
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SweepAbortedError();
}

/** Where the function keeps each object's manifest, from the function's own configuration. */
export function manifestLocations(
  inputs: readonly AwsInput[],
  environment: Readonly<Record<string, string>>,
): Map<AwsInput, { bucket: string; key: string }> {
  const bucket = environment.IMGPIPE_OUTPUT_BUCKET;
  if (!bucket)
    throw new Error('--delete-manifest: the function has no IMGPIPE_OUTPUT_BUCKET in its environment');
  // A document in Parameter Store may set manifestTemplate, which the environment does not show:
  // the default template's key was deleted instead (a key that does not exist: S3 says nothing), and
  // every invocation after the first was skipped as a duplicate. As terraform/modules/imgpipe's
  // release check, only IMGPIPE_MANIFEST_TEMPLATE tells the template then.
  const parameter = environment[SETTINGS.configParameter.env]?.trim();
  if (parameter && !environment[SETTINGS.manifestTemplate.env]?.trim()) {
    throw new Error(
      `--delete-manifest: the function reads its pipeline document from the parameter ${parameter} (${SETTINGS.configParameter.env}), whose manifestTemplate the sweep does not read, so the manifest keys are unknown; set ${SETTINGS.manifestTemplate.env} on the function to the document's manifestTemplate (or manifests/{key}.json, the default)`,
    );
  }
  let layout: BucketLayout;
  try {
    const config = loadRuntimeConfig(environment);
    layout = new BucketLayout(config.pipeline, config.quarantinePrefix);
  } catch (error) {
    throw new Error(
      `--delete-manifest: cannot work out the manifest keys from the function's configuration: ${message(error)}`,
    );
  }
  const locations = new Map<AwsInput, { bucket: string; key: string }>();
  for (const input of inputs) {
    if (!input.object) {
      throw new Error(`--delete-manifest works with --event-object inputs; ${input.label} is a payload file`);
    }
    locations.set(input, { bucket, key: layout.manifestKey(input.object.key) });
  }
  return locations;
}

/**
 * Reads an object to learn its pixel count with the function's own header probe. The probe also
 * checks that the file is complete, so the whole object is read (once, before the sweep).
 */
export async function probeObject(
  s3: Sender<S3Client>,
  object: { bucket: string; key: string },
): Promise<{ width: number; height: number } | undefined> {
  const response = await s3.send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key }));
  if (!response.Body) return undefined;
  const bytes = await response.Body.transformToByteArray();
  const format = sniffFormat(bytes);
  if (!isInputFormat(format)) return undefined;
  try {
    const header = probeImage(format, bytes);
    return { width: header.width, height: header.height };
  } catch {
    return undefined;
  }
}

/** An AWS error the service answered as the caller's fault (4xx): the request was not applied. */
function isClientFault(error: unknown): boolean {
  return (error as { $fault?: unknown } | null)?.$fault === 'client';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
