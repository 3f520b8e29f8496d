import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { JsonLinesPublisher } from '../bus/file.ts';
import type { EventPublisher } from '../bus/types.ts';
import { SERVICE_NAME, TRANSFORM_ENV, TRANSFORM_SETTINGS } from '../config/settings.ts';
import type { PipelineConfig, RuntimeConfig } from '../core/config.ts';
import { describeError } from '../core/errors.ts';
import { BucketLayout } from '../core/layout.ts';
import { createApiHandler } from '../handlers/api.ts';
import { S3UrlSigner, type UrlSigner } from '../handlers/api-signer.ts';
import { decodeS3Key } from '../handlers/events.ts';
import type { HandlerDeps } from '../handlers/objects.ts';
import { failureText, mapFailureIn } from '../handlers/reprocess.ts';
import { createS3EventHandler, type RecordResult } from '../handlers/s3-event.ts';
import { createTransformHandler } from '../handlers/transform.ts';
import { defaultWorkers } from '../pipeline/cpus.ts';
import { createEncoder } from '../pipeline/encoder-pool.ts';
import { encoderThreadsFor } from '../pipeline/memory-budget.ts';
import type { Encoder } from '../pipeline/process-image.ts';
import { type Manifest, type QuarantineRecord, readManifest } from '../pipeline/records.ts';
import { DynamoStatusStore } from '../status/dynamodb.ts';
import type { StatusStore } from '../status/types.ts';
import { S3Storage } from '../storage/s3.ts';
import { getJson, perBucket } from '../storage/types.ts';
import { UsageError } from './args.ts';
import {
  DEFAULT_CLAMAV_DB,
  DEV_WORKFLOW_BUCKET,
  devReprocessMachine,
  devScanner,
  devUploadWorkflow,
  objectCreatedEvent,
  type ScanChoice,
} from './dev-workflow.ts';
import { fileInPath, makeFolder, systemReason } from './folders.ts';
import { type LocalApi, startLocalApi, type Throttle, UPLOAD_THROTTLE } from './local-api.ts';
import { startLocalDynamo } from './local-dynamodb.ts';
import { DEV_CLIENT_ID, LocalIssuer } from './local-oidc.ts';
import {
  LOCAL_CREDENTIALS,
  type LocalS3,
  localS3Client,
  type S3Notification,
  startLocalS3,
} from './local-s3.ts';
import { type ExecutionRecord, type LocalStepFunctions, startLocalStepFunctions } from './local-sfn-api.ts';
import type { Run } from './local-stepfunctions.ts';
import { isWildcardHost, networkUrls, s3EndpointFor } from './local-url.ts';
import { DEV_STATUS_TABLE } from './status.ts';
import { type Column, formatBytes, printable, renderTable } from './table.ts';
import { buildPage } from './web-page.ts';

/**
 * `imgpipe dev`: the whole S3-triggered flow on one machine. An S3-compatible server with source,
 * output and quarantine buckets; every object created in the source bucket becomes a real S3 event
 * delivered to the same handler the Lambda runs, with Lambda's asynchronous-invocation behaviour
 * (events queued, two retries on failure, then given up as a dead letter).
 */
export const DEV_BUCKETS = {
  source: 'imgpipe-source',
  output: 'imgpipe-output',
  quarantine: 'imgpipe-quarantine',
  /** The workflow module's bucket: the ClamAV database under clamav/, reprocessing summaries under reprocess/. */
  workflow: DEV_WORKFLOW_BUCKET,
} as const;
export const DEFAULT_DEV_PORT = 4568;
export const DEFAULT_DEV_DIR = '.imgpipe-dev';
/** Marks a data folder as imgpipe dev's own, so --fresh may empty it. */
export const DEV_MARKER = '.imgpipe-dev';
const COMMAND = 'imgpipe dev';
const SAMPLES_PREFIX = 'samples/';
/** imgpipe dev's bus: outcome events as JSON lines in the data folder. */
export const DEV_EVENTS_FILE = 'events.jsonl';
const RETRY_DELAYS_MS = [1_000, 2_000];

/**
 * The key imgpipe dev signs transformation URLs with, and `imgpipe sign` uses when no key is
 * configured. It is public: only for local use. With IMGPIPE_TRANSFORM_SIGNING_KEY set, imgpipe dev
 * accepts that key too (the newer one, as while rotating keys), and imgpipe sign signs with it.
 */
export const DEV_SIGNING_KEY = 'imgpipe-dev-signing-key-public-never-use-it-deployed';
export const SIGNING_KEY_ENV = 'IMGPIPE_TRANSFORM_SIGNING_KEY';

/** The signing keys: IMGPIPE_TRANSFORM_SIGNING_KEY when set, then the dev key. */
export function devSigningKeys(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env[SIGNING_KEY_ENV]?.trim();
  return configured ? [configured, DEV_SIGNING_KEY] : [DEV_SIGNING_KEY];
}

export interface DevCommandOptions {
  readonly host: string;
  readonly port: number;
  readonly directory: string;
  readonly fresh: boolean;
  readonly once: boolean;
  readonly verbose: boolean;
  readonly config: PipelineConfig;
  /** Encoder threads (IMGPIPE_WORKERS); 0 derives them from the CPUs, as the function does. */
  readonly workers?: number;
  readonly samples: readonly string[];
  /** The HTTP API's throttling, as API Gateway's stage limits (default 50 per second, burst 100). */
  readonly apiThrottle?: Throttle;
  /** `POST /uploads`' own limits, which replace the stage's for it (default 10 per second, burst 20). */
  readonly uploadThrottle?: Throttle;
  /**
   * Other origins that may call the API and upload to the source bucket from a browser (a front end
   * in development on its own origin), as the api module's cors_allowed_origins.
   */
  readonly corsOrigins?: readonly string[];
  readonly encoder?: Encoder;
  readonly stdout: NodeJS.WritableStream;
  /** Stops the server (in addition to SIGINT and SIGTERM). */
  readonly signal?: AbortSignal;
  /** Uploads go through the per-upload state machine (the workflow mode) instead of the S3 handler. */
  readonly workflow?: boolean;
  /** With workflow: the malware scan (auto: when clamd and a database are there). */
  readonly scan?: ScanChoice;
  /** A ClamAV database folder copied to s3://imgpipe-workflow/clamav/ when that has none. */
  readonly clamavDatabase?: string;
}

interface Invocation {
  readonly event: S3Notification;
  attempt: number;
}

/** Bundled samples: the fixtures' photographs, one stored sideways (EXIF orientation 6), one text file posing as a JPEG. */
export async function defaultSamples(): Promise<string[]> {
  const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
  const photos = (await readdir(join(fixtures, 'photos')))
    .filter((name) => /\.(jpe?g|png|webp|avif)$/i.test(name))
    .sort();
  return [
    ...photos.map((name) => join(fixtures, 'photos', name)),
    join(fixtures, 'edge', 'orientation', 'photo-exif-orientation-6.jpg'),
    join(fixtures, 'edge', 'broken', 'text-named.jpg'),
  ];
}

export async function runDevCommand(options: DevCommandOptions): Promise<number> {
  const out = (line = '') => options.stdout.write(`${line}\n`);
  const directory = resolve(options.directory);
  await prepareDataFolder(options.directory, options.fresh);
  // What is running is stopped however the command ends: while serving, Ctrl-C or SIGTERM stops
  // it in order (queued events finished); at any other time (starting, the samples, --once, a
  // second signal while stopping) everything started so far is stopped at once, clamd and its
  // folder included, and the exit status is 128 + the signal's number.
  const started = new Stopper();
  const signals = started.trapSignals(out);
  try {
    return await serve(options, directory, started, signals, out);
  } finally {
    signals.release();
    await started.stopAll();
  }
}

/** What runDevCommand started, stopped in reverse order, once. */
class Stopper {
  readonly #stops: (() => Promise<unknown> | undefined)[] = [];

  add(stop: () => Promise<unknown> | undefined): void {
    this.#stops.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of this.#stops.splice(0).reverse()) await Promise.resolve(stop()).catch(() => undefined);
  }

  /**
   * SIGINT and SIGTERM from now on. While `serving` waits, a signal ends the wait; otherwise it
   * stops everything started and exits with 128 + the signal's number.
   */
  trapSignals(out: (line?: string) => void) {
    let wake: (() => void) | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (wake) {
        const stop = wake;
        wake = undefined;
        stop();
        return;
      }
      out(`${signal}: stopping the servers started so far`);
      void this.stopAll().finally(() => process.exit(128 + (signal === 'SIGTERM' ? 15 : 2)));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return {
      /** Resolves on the next signal or the abort signal. */
      serving: (abort?: AbortSignal) =>
        new Promise<void>((resolveStop) => {
          wake = resolveStop;
          abort?.addEventListener('abort', () => resolveStop(), { once: true });
        }).finally(() => {
          wake = undefined;
        }),
      release: () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
    };
  }
}

async function serve(
  options: DevCommandOptions,
  directory: string,
  started: Stopper,
  signals: ReturnType<Stopper['trapSignals']>,
  out: (line?: string) => void,
): Promise<number> {
  const dynamoPort = options.port === 0 ? 0 : options.port + 1;
  const apiPort = options.port === 0 ? 0 : options.port + 2;
  const stepFunctionsPort = options.port === 0 ? 0 : options.port + 3;
  await checkListen(options.host, options.port);
  await checkListen(options.host, dynamoPort);
  if (!options.once) await checkListen(options.host, stepFunctionsPort);
  // The API and the page (not with --once: nobody would use them). It listens first, so that the
  // source bucket's CORS rule can name the page's origin.
  let api: LocalApi | undefined;
  if (!options.once) {
    await checkListen(options.host, apiPort);
    const local = await startLocalApi({ host: options.host, port: apiPort });
    started.add(() => local.close());
    api = local;
  }
  const s3 = await startLocalS3({
    host: options.host,
    port: options.port,
    directory,
    buckets: Object.values(DEV_BUCKETS),
    ...(api ? { cors: { [DEV_BUCKETS.source]: [...api.origins, ...(options.corsOrigins ?? [])] } } : {}),
  });
  started.add(() => s3.close());
  // The status table on DynamoDB's API (dynalite, in memory: it starts empty with each run).
  const dynamo = await startLocalDynamo({ host: options.host, port: dynamoPort });
  started.add(() => dynamo.close());
  await dynamo.createStatusTable(DEV_STATUS_TABLE);
  const status = new DynamoStatusStore(dynamo.client, DEV_STATUS_TABLE);
  const eventsFile = join(directory, DEV_EVENTS_FILE);
  const events = echoed(new JsonLinesPublisher(eventsFile), options.verbose ? out : undefined);
  // As the function's init does: codecs compiled and the encoder threads started before any event.
  const pool = options.encoder
    ? undefined
    : await createEncoder(
        options.workers ||
          encoderThreadsFor(defaultWorkers(), options.config.limits.memory, options.config.limits.maxPixels),
        options.config.formats,
      );
  started.add(() => pool?.close());
  const lambda = createDevLambda(
    s3,
    { ...options, encoder: options.encoder ?? pool },
    { status, events },
    out,
  );
  // The workflow mode: each upload through the per-upload state machine, locally.
  let scanner: Awaited<ReturnType<typeof devScanner>> | undefined;
  let uploadWorkflow: ReturnType<typeof devUploadWorkflow> | undefined;
  if (options.workflow) {
    const workDir = await mkdtemp(join(tmpdir(), 'imgpipe-dev-clamav-'));
    started.add(() => rm(workDir, { recursive: true, force: true }));
    // --scan without clamd or a database throws: what was started is stopped all the same.
    scanner = await devScanner({
      choice: options.scan ?? 'auto',
      clamavDatabase: options.clamavDatabase ?? DEFAULT_CLAMAV_DB,
      deps: lambda.deps,
      signatures: new S3Storage(s3.client, DEV_BUCKETS.workflow),
      workDir,
    });
    const task = scanner.task;
    // clamd is started by the first scan (during the samples, say): stopped before its folder goes.
    started.add(() => task?.stop());
    uploadWorkflow = devUploadWorkflow(lambda.deps, scanner.task);
    lambda.useWorkflow(uploadWorkflow);
  }
  s3.onObjectChanged(DEV_BUCKETS.source, (event) => lambda.invoke(event));
  // Step Functions' API with the bulk reprocessing state machine, for imgpipe reprocess --endpoint.
  let stepFunctions: LocalStepFunctions | undefined;
  if (!options.once) {
    const local = await startLocalStepFunctions({
      host: options.host,
      port: stepFunctionsPort,
      machines: [
        devReprocessMachine(lambda.deps, (execution) => out(describeExecution(execution)), uploadWorkflow),
      ],
    });
    started.add(() => local.close());
    stepFunctions = local;
  }
  if (api) {
    const issuer = await LocalIssuer.open(directory, `${api.url}/oidc`);
    const hostSigner = isWildcardHost(options.host) ? requestHostSigner(s3) : undefined;
    const apiHandler = createApiHandler(lambda.deps, {
      env: { ...process.env, IMGPIPE_UPLOAD_BUCKET: DEV_BUCKETS.source },
      ...(hostSigner ? { signer: hostSigner } : {}),
    });
    const transformHandler = createTransformHandler(lambda.deps, {
      // As the deployment root does: in the workflow mode, only what passed its checks.
      env: {
        ...process.env,
        IMGPIPE_TRANSFORM_SOURCE_BUCKET: DEV_BUCKETS.source,
        ...(options.workflow ? { IMGPIPE_TRANSFORM_CHECKED_ONLY: 'true' } : {}),
      },
      keys: devSigningKeys(),
      // The redirect to a large result, at the host the request came in on, as the API's URLs.
      ...(hostSigner ? { signer: hostSigner } : {}),
      onRequest: (entry) =>
        out(
          `  t ${entry.path} -> ${entry.status}${entry.cache ? ` ${entry.cache}` : ''}${entry.redirect ? ' (redirect)' : ''} [decodes: ${entry.decodes}]`,
        ),
    });
    const apiPort = api.port;
    api.serve({
      // With --host 0.0.0.0 the presigned URLs name the host each request was sent to.
      handler: (event, context) =>
        requestS3Endpoint.run(s3EndpointFor(event.headers?.host, options.host, apiPort, s3.endpoint), () =>
          apiHandler(event, context),
        ),
      issuer,
      files: await pageFiles(options.workflow === true),
      throttle: options.apiThrottle ?? { rate: 50, burst: 100 },
      routeThrottle: { 'POST /uploads': options.uploadThrottle ?? UPLOAD_THROTTLE },
      ...(options.corsOrigins?.length ? { cors: options.corsOrigins } : {}),
      transform: (event, context) =>
        requestS3Endpoint.run(s3EndpointFor(event.headers?.host, options.host, apiPort, s3.endpoint), () =>
          transformHandler(event, context),
        ),
    });
  }

  out(`Local S3 at ${s3.endpoint} (data in ${directory})`);
  out(`Status table ${DEV_STATUS_TABLE} at ${dynamo.endpoint}; outcome events appended to ${eventsFile}`);
  out(
    `Buckets: s3://${DEV_BUCKETS.source} (uploads) -> s3://${DEV_BUCKETS.output} (variants, manifests), s3://${DEV_BUCKETS.quarantine} (rejected inputs), s3://${DEV_BUCKETS.workflow} (workflow)`,
  );
  if (options.workflow)
    out(
      `Uploads go through the per-upload workflow (upload.asl.json on aws-local-stepfunctions): ${scanner!.description}; moderation off (Rekognition has no local server)`,
    );
  if (stepFunctions)
    out(
      `Step Functions at ${stepFunctions.endpoint}: bulk reprocessing (reprocess.asl.json), e.g. npx imgpipe reprocess s3://${DEV_BUCKETS.source}/${SAMPLES_PREFIX} --endpoint ${stepFunctions.endpoint}`,
    );
  if (api) {
    out(
      `HTTP API at ${api.url} (local issuer ${api.url}/oidc; a token: npx imgpipe dev token --dir ${options.directory})`,
    );
    out(
      `Transformations at ${api.url}/t/<key>?w=&h=&fit=&fmt=&q=&dpr= (signed: npx imgpipe sign samples/<file> --base ${api.url} --w 640 --fmt auto)`,
    );
  }
  out();
  await uploadSamples(s3, options.samples, out);
  await lambda.idle();
  out();

  if (options.once) {
    await started.stopAll();
    out(lambda.totals());
    return lambda.failures() > 0 ? 1 : 0;
  }
  printHowTo(s3, dynamo.endpoint, stepFunctions?.endpoint, out);
  out();
  out('Watching for uploads; press Ctrl-C to stop.');
  if (api) {
    out(`Web page: ${api.url}/`);
    // --host 0.0.0.0: the API at this machine's addresses too. A browser signs the page in only at
    // localhost (or https): over plain http to an address it gives the page no crypto.subtle for
    // PKCE. The API's upload and output URLs name the address it was called at (s3EndpointFor).
    for (const url of networkUrls(options.host, api.port))
      out(
        `  on the network: ${url}/ (the API, whose upload and output URLs name this address, and /t/; the page signs in at localhost only)`,
      );
  }
  await signals.serving(options.signal);
  out('Stopping: finishing queued events...');
  // No new requests; a second Ctrl-C stops everything at once.
  await api?.close();
  await lambda.idle();
  await started.stopAll();
  out(lambda.totals());
  return 0;
}

/**
 * The data folder: created and marked as ours when new or empty. --fresh empties only a folder we
 * marked, and only of our buckets: anything else in it, or a folder we did not create, is left
 * alone (the latter with a refusal).
 */
async function prepareDataFolder(given: string, fresh: boolean): Promise<void> {
  const directory = resolve(given);
  const file = await fileInPath(given);
  if (file !== undefined) {
    throw new UsageError(
      COMMAND,
      `cannot use --dir ${given}: ${resolve(file) === resolve(given) ? `it is a file` : `${file} is a file, not a folder`}`,
    );
  }
  let entries: string[] = [];
  try {
    entries = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UsageError(COMMAND, `cannot use --dir ${given}: ${systemReason(error)}`);
    }
  }
  const ours = entries.includes(DEV_MARKER);
  if (fresh && entries.length > 0) {
    if (!ours) {
      throw new UsageError(
        COMMAND,
        `--fresh would delete ${given}, which imgpipe dev did not create (it has no ${DEV_MARKER} marker); remove it yourself or choose another --dir`,
      );
    }
    for (const bucket of Object.values(DEV_BUCKETS))
      await rm(join(directory, bucket), { recursive: true, force: true });
    await rm(join(directory, DEV_EVENTS_FILE), { force: true });
  }
  try {
    await makeFolder(directory);
    if (!ours && entries.length === 0) {
      await writeFile(
        join(directory, DEV_MARKER),
        'Created by imgpipe dev: its local S3 buckets live here. imgpipe dev --fresh empties them.\n',
      );
    }
  } catch (error) {
    throw new UsageError(COMMAND, `cannot use --dir ${given}: ${systemReason(error)}`);
  }
}

/** Finds out before starting the server whether it can listen there, and says why not in words. */
async function checkListen(host: string, port: number): Promise<void> {
  await new Promise<void>((resolveListen, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use: choose another with --port`
          : error.code === 'EADDRNOTAVAIL'
            ? `cannot listen on --host ${host}: it is not an address of this machine`
            : error.code === 'EACCES'
              ? `port ${port} needs privileges: choose one above 1023 with --port`
              : error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
                ? `cannot listen on --host ${host}: no such host`
                : `cannot listen on ${host}:${port}: ${systemReason(error)}`;
      reject(new UsageError(COMMAND, reason));
    });
    probe.listen(port, host, () => probe.close(() => resolveListen()));
  });
}

/**
 * The handler the Lambda function runs, invoked as S3 invokes it: asynchronously, one event at a
 * time, retried twice on failure, then given up (a dead-letter queue would get the event). Each
 * result is printed with the outputs it wrote.
 */
function createDevLambda(
  s3: LocalS3,
  options: DevCommandOptions,
  outcomes: { status: StatusStore; events: EventPublisher },
  out: (line?: string) => void,
) {
  const bucket = perBucket((name) => new S3Storage(s3.client, name));
  const output = bucket(DEV_BUCKETS.output);
  const quarantine = bucket(DEV_BUCKETS.quarantine);
  const config: RuntimeConfig = {
    pipeline: options.config,
    outputBucket: DEV_BUCKETS.output,
    quarantineBucket: DEV_BUCKETS.quarantine,
    quarantinePrefix: '',
    workers: options.workers ?? 0,
    deleteOutputs: true,
    // Where the transformation function it serves stores results.
    transformPrefix: process.env[TRANSFORM_ENV.prefix] || TRANSFORM_SETTINGS.prefix.default,
  };
  const layout = new BucketLayout(config.pipeline, config.quarantinePrefix);
  if (!options.verbose) process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const logger = new Logger({ serviceName: SERVICE_NAME, logLevel: options.verbose ? 'INFO' : 'CRITICAL' });
  const deps: HandlerDeps = {
    config,
    sourceStorage: bucket,
    output,
    quarantine,
    logger,
    // Its warnings (an invocation without metrics, as the workflow's tasks often are) go to the logger.
    metrics: new Metrics({ serviceName: SERVICE_NAME, namespace: SERVICE_NAME, logger }),
    ...(options.encoder ? { encoder: options.encoder } : {}),
    status: outcomes.status,
    events: outcomes.events,
  };
  const handler = createS3EventHandler(deps);
  let workflow: ((event: unknown) => Promise<Run>) | undefined;

  let failures = 0;
  const counts = new Map<string, number>();
  const count = (status: string) => counts.set(status, (counts.get(status) ?? 0) + 1);
  const queue = new InvocationQueue(async (invocation) => {
    const record = invocation.event.Records[0]!;
    const objectKey = decodeS3Key(record.s3.object.key);
    // As printed: a key's control characters escaped.
    const key = printable(objectKey);
    // The EventBridge rule starts the per-upload workflow for Object Created events only; its
    // tasks retry as the definition says, and a failure is recorded by its RecordFailure state.
    // A removal goes to the function, as the deployment's source-deleted rule sends it
    // (terraform/modules/imgpipe/s3.tf): it was dropped, and a deleted upload stayed processed.
    if (workflow && record.eventName.startsWith('ObjectCreated:')) {
      const run = await workflow(objectCreatedEvent(invocation.event));
      const states = `    states: ${run.invoked.join(' > ')}`;
      if (run.error) {
        failures++;
        count('failed');
        const item = await deps.status?.get(record.s3.bucket.name, objectKey).catch(() => undefined);
        out(`  x ${key}: failed (${run.error.name}): ${printable(item?.message ?? run.error.message)}`);
        out(states);
        return undefined;
      }
      const output = run.output as {
        result?: RecordResult;
        inspection?: { verdict?: { result?: RecordResult } };
      };
      const result = output.result ?? output.inspection?.verdict?.result;
      if (result) {
        count(result.status);
        await printRecord(result, objectKey);
      }
      out(states);
      return undefined;
    }
    try {
      const result = await handler(invocation.event, lambdaContext());
      for (const record of result.records) {
        count(record.status);
        await printRecord(record, objectKey);
      }
    } catch (error) {
      if (invocation.attempt < RETRY_DELAYS_MS.length) {
        out(
          `  ! ${key}: ${printable(describeError(error))}; retrying in ${RETRY_DELAYS_MS[invocation.attempt]! / 1000} s`,
        );
        return RETRY_DELAYS_MS[invocation.attempt];
      }
      failures++;
      count('failed');
      out(
        `  x ${key}: failed after ${invocation.attempt + 1} attempts, event dropped (a dead-letter queue would get it): ${printable(describeError(error))}`,
      );
    }
    return undefined;
  });

  async function printRecord(record: RecordResult, key: string): Promise<void> {
    // A duplicate is an image processed already, or a file quarantined already (with its reason:
    // a manifest of the same content may remain from before a configuration change refused it).
    const shown = printable(key);
    const quarantined = record.status === 'quarantined' || (record.status === 'duplicate' && !!record.reason);
    const manifest =
      !quarantined && (record.status === 'processed' || record.status === 'duplicate')
        ? await readManifest(output, layout.manifestKey(key))
        : undefined;
    if (manifest) {
      const { format, displayWidth, displayHeight } = manifest.source;
      out(
        `  ${record.status === 'processed' ? '+' : '='} ${shown}: ${record.status}, ${format} ${displayWidth}x${displayHeight} -> ${manifest.outputs.length} outputs in ${Math.round(manifest.timings.total)} ms`,
      );
      printOutputs(manifest);
    } else if (quarantined) {
      const keys = layout.quarantineKeys(key);
      const reason = await getJson<QuarantineRecord>(quarantine, keys.reason);
      const what =
        record.status === 'duplicate'
          ? `= ${shown}: duplicate, quarantined already`
          : `- ${shown}: quarantined`;
      out(`  ${what} (${reason.reason}): ${printable(reason.message)}`);
      out(
        `    copied to ${printable(quarantine.locate(keys.object))}, reason in ${printable(quarantine.locate(keys.reason))}`,
      );
    } else {
      out(`  . ${shown}: ${record.status}${'reason' in record ? ` (${record.reason})` : ''}`);
    }
  }

  function printOutputs(manifest: Manifest): void {
    const columns: Column<Manifest['outputs'][number]>[] = [
      { header: 'output', value: (o) => output.locate(o.key) },
      { header: 'size', value: (o) => `${o.width}x${o.height}`, align: 'right' },
      { header: 'bytes', value: (o) => formatBytes(o.bytes), align: 'right' },
    ];
    out(renderTable(columns, manifest.outputs).replace(/^/gm, '    '));
  }

  return {
    /** What the handlers share (the API handler too). */
    deps,
    invoke: (event: S3Notification) => queue.push({ event, attempt: 0 }),
    /** Uploads through this instead of the S3 handler: the per-upload workflow. */
    useWorkflow: (run: (event: unknown) => Promise<Run>) => {
      workflow = run;
    },
    idle: () => queue.idle(),
    failures: () => failures,
    /** "6 events: 5 processed, 1 quarantined". */
    totals: () => {
      const events = [...counts.values()].reduce((sum, n) => sum + n, 0);
      const parts = [...counts].map(([status, n]) => `${n} ${status}`);
      return `${events} event${events === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
    },
  };
}

async function uploadSamples(s3: LocalS3, samples: readonly string[], out: (line?: string) => void) {
  if (samples.length === 0) return;
  out(`Uploading ${samples.length} sample file(s) to s3://${DEV_BUCKETS.source}/${SAMPLES_PREFIX}`);
  const source = new S3Storage(s3.client, DEV_BUCKETS.source);
  for (const sample of samples) {
    const key = SAMPLES_PREFIX + basename(sample);
    await source.put(key, await readFile(sample), { contentType: 'application/octet-stream' });
  }
}

/** The S3 endpoint the API request being handled was sent to (s3EndpointFor). */
const requestS3Endpoint = new AsyncLocalStorage<string>();

/**
 * Presigns with a client of the local S3 server at the host the API request came in on (the
 * signature covers the host, so the URL cannot be rewritten after signing): with --host 0.0.0.0 a
 * client on another machine uploads to this machine's address, not to its own localhost.
 */
function requestHostSigner(s3: LocalS3): UrlSigner {
  const signers = new Map<string, S3UrlSigner>();
  const signer = (): S3UrlSigner => {
    const endpoint = requestS3Endpoint.getStore() ?? s3.endpoint;
    let found = signers.get(endpoint);
    if (!found) {
      // One per origin of the machine (localOrigins), so a handful; signing sends no request.
      found =
        endpoint === s3.endpoint ? new S3UrlSigner(s3.client) : new S3UrlSigner(localS3Client(endpoint));
      signers.set(endpoint, found);
    }
    return found;
  };
  return {
    upload: (request) => signer().upload(request),
    download: (bucket, key, expiresSeconds, method) => signer().download(bucket, key, expiresSeconds, method),
  };
}

/**
 * The web page, and its config.json: the API on the same origin, sign-in with the local issuer, and
 * with --workflow a failed upload final (the state machine retried it; nothing retries it after).
 */
async function pageFiles(
  workflow: boolean,
): Promise<Map<string, { type: string; body: Uint8Array | string }>> {
  const files = new Map<string, { type: string; body: Uint8Array | string }>();
  for (const [name, file] of await buildPage()) files.set(`/${name}`, file);
  files.set('/', files.get('/index.html')!);
  const config = {
    apiUrl: '',
    auth: {
      authorizeUrl: '/oidc/authorize',
      tokenUrl: '/oidc/token',
      // Its discovery document names the end_session_endpoint, where Sign out goes.
      issuer: '/oidc',
      clientId: DEV_CLIENT_ID,
      scope: 'openid',
    },
    failedIsFinal: workflow,
  };
  files.set('/config.json', { type: 'application/json', body: JSON.stringify(config) });
  return files;
}

/** One line for a reprocess execution that ended: its status and counts, or its error. */
export function describeExecution(execution: ExecutionRecord): string {
  const head = `  reprocess ${execution.name}: ${execution.status}`;
  if (execution.output) {
    const summary = JSON.parse(execution.output) as { counts?: Record<string, number>; location?: string };
    const counts = Object.entries(summary.counts ?? {})
      .map(([status, n]) => `${n} ${status}`)
      .join(', ');
    return `${head}${counts ? `: ${counts}` : ''}${summary.location ? `; summary ${summary.location}` : ''}`;
  }
  // A run whose map failed: its cause is the summary (MapFailed), which names the map's error.
  const failed = mapFailureIn(execution.cause);
  if (failed?.mapFailure !== undefined)
    return `${head}: ${printable(failed.mapFailure)}${failed.location ? `; summary ${failed.location}` : ''}`;
  // The cause as one line, as imgpipe reprocess prints it: it quotes keys (control characters).
  return execution.error ? `${head}: ${printable(failureText(execution.error, execution.cause))}` : head;
}

function printHowTo(
  s3: LocalS3,
  dynamoEndpoint: string,
  stepFunctionsEndpoint: string | undefined,
  out: (line?: string) => void,
): void {
  const env = `AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey} AWS_DEFAULT_REGION=us-east-1`;
  out('Try it with any S3 client, for example the AWS CLI:');
  out(`  export ${env}`);
  out(`  aws s3 cp photo.jpg s3://${DEV_BUCKETS.source}/photos/photo.jpg --endpoint-url ${s3.endpoint}`);
  out(`  aws s3 ls s3://${DEV_BUCKETS.output} --recursive --endpoint-url ${s3.endpoint}`);
  out(`  aws s3 cp s3://${DEV_BUCKETS.output} ./imgpipe-output --recursive --endpoint-url ${s3.endpoint}`);
  out(`Objects are also readable over plain HTTP, e.g. ${s3.endpoint}/${DEV_BUCKETS.output}/<key>`);
  out('What happened to an upload, and what was rejected:');
  out(`  npx imgpipe status s3://${DEV_BUCKETS.source}/photos/photo.jpg --endpoint ${dynamoEndpoint}`);
  out(`  npx imgpipe status --quarantined --endpoint ${dynamoEndpoint}`);
  if (stepFunctionsEndpoint) {
    out(
      'Reprocess what is already in the bucket (after changing the configuration: --only-stale; all of it: --force):',
    );
    out(
      `  npx imgpipe reprocess s3://${DEV_BUCKETS.source}/${SAMPLES_PREFIX} --endpoint ${stepFunctionsEndpoint}`,
    );
  }
}

/** The publisher, also printing each event (with --verbose), as a rule on the bus would see it. */
function echoed(publisher: EventPublisher, out?: (line?: string) => void): EventPublisher {
  if (!out) return publisher;
  return {
    async publish(events) {
      for (const event of events) out(`    event: ${event.detailType} ${JSON.stringify(event.detail)}`);
      return publisher.publish(events);
    },
  };
}

function lambdaContext(): Context {
  const awsRequestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'imgpipe-dev',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:imgpipe-dev',
    memoryLimitInMB: '2048',
    awsRequestId,
    logGroupName: '/aws/lambda/imgpipe-dev',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 900_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Runs invocations one at a time, in arrival order. A worker returning a delay asks for the same
 * invocation to run again after it (Lambda's asynchronous retries, shortened from minutes to seconds).
 */
class InvocationQueue {
  private readonly pending: Invocation[] = [];
  private running = 0;
  private waiters: (() => void)[] = [];
  private readonly work: (invocation: Invocation) => Promise<number | undefined>;

  constructor(work: (invocation: Invocation) => Promise<number | undefined>) {
    this.work = work;
  }

  push(invocation: Invocation): void {
    this.pending.push(invocation);
    void this.drain();
  }

  idle(): Promise<void> {
    if (this.running === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolveIdle) => this.waiters.push(resolveIdle));
  }

  private async drain(): Promise<void> {
    if (this.running > 0) return;
    this.running++;
    try {
      for (let next = this.pending.shift(); next; next = this.pending.shift()) {
        const delay = await this.work(next);
        if (delay !== undefined) {
          await new Promise((r) => setTimeout(r, delay));
          this.pending.unshift({ event: next.event, attempt: next.attempt + 1 });
        }
      }
    } finally {
      this.running--;
      if (this.pending.length === 0) for (const resolveIdle of this.waiters.splice(0)) resolveIdle();
    }
  }
}
