import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DetectModerationLabelsCommand, RekognitionClient } from '@aws-sdk/client-rekognition';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { JsonLinesPublisher } from '../../src/bus/file.ts';
import type { EventPublisher, ImageEvent } from '../../src/bus/types.ts';
import { type LocalDynamo, startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { reprocessBindings, uploadBindings, withLocalBatches } from '../../src/cli/local-stepfunctions.ts';
import { decode, encode } from '../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import { createReprocessTasks, type ReprocessSummary } from '../../src/handlers/reprocess.ts';
import { createScanTask } from '../../src/handlers/scanner.ts';
import { createWorkflowTasks, MODERATION_CALL_RESERVE_MS } from '../../src/handlers/workflow.ts';
import { probeImage } from '../../src/image/probe.ts';
import { RekognitionModerator } from '../../src/moderation/rekognition.ts';
import type { Manifest, QuarantineRecord } from '../../src/pipeline/records.ts';
import { Clamd, ScannerError } from '../../src/scan/clamd.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import type { StatusStore } from '../../src/status/types.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import { getJson } from '../../src/storage/types.ts';
import { REPROCESS_VALUES, renderDefinition, UPLOAD_VALUES } from '../support/asl.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';
import { beforeFirstFinish, throttledFinish } from '../support/status.ts';
import { hasTool } from '../support/tools.ts';
import { runLocally } from '../support/workflow.ts';

/**
 * The per-upload state machine (terraform/modules/workflow/definitions/upload.asl.json) run locally
 * by aws-local-stepfunctions, every Lambda task bound to our real entry point: S3 and DynamoDB are
 * real API servers over HTTP (s3rver, dynalite), the scanner runs the real ClamAV daemon on a
 * signature database this test writes (the EICAR test string: the official database cannot be
 * downloaded here). Rekognition has no local server: its client is mocked (aws-sdk-client-mock).
 */
const SOURCE = 'wf-uploads';
const OUTPUT = 'wf-variants';
const QUARANTINE = 'wf-rejected';
const SIGNATURES = 'wf-signatures';
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

const clamd = hasTool('clamd');
let s3: Awaited<ReturnType<typeof startTestS3>>;
let dynamo: LocalDynamo;
let workDir: string;
let tables = 0;
let sequencer = 0x1000;
const scanners: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE, SIGNATURES, REPROCESS_VALUES.results_bucket]);
  dynamo = await startLocalDynamo();
  workDir = mkdtempSync(join(tmpdir(), 'imgpipe-workflow-'));
  // An .ndb body signature: the EICAR string anywhere in the file (sigtool(1), signatures.pdf).
  const signature = `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}\n`;
  await s3.client.send(new PutObjectCommand({ Bucket: SIGNATURES, Key: 'clamav/test.ndb', Body: signature }));
});

afterAll(async () => {
  for (const scanner of scanners) await scanner.stop();
  await s3?.stop();
  await dynamo?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** An S3 client of the same server that fails a key's GetObject calls as the test says, with 503 SlowDown. */
function faultyClient(
  faults: Map<string, boolean[]>,
  copies: string[] = [],
  onGet: (key: string) => void = () => undefined,
): S3Client {
  const client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key;
      // What each CopyObject copies (s3rver keeps no versions: the version named is not checked there).
      if (context.commandName === 'CopyObjectCommand')
        copies.push((args.input as { CopySource: string }).CopySource);
      if (context.commandName === 'GetObjectCommand' && key !== undefined) onGet(key);
      const plan = key === undefined ? undefined : faults.get(key);
      if (context.commandName === 'GetObjectCommand' && plan && plan.shift() === true) {
        throw Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        });
      }
      return next(args);
    },
    // Before the SDK's own retries, so the fault reaches the pipeline as S3 would after them.
    { step: 'initialize', name: 'injectSlowDown' },
  );
  return client;
}

async function setup(
  options: {
    checks?: { malware: boolean; moderation: boolean };
    labels?: unknown[];
    /** Wraps the table's store (to make its writes fail). */
    wrapStatus?: (store: StatusStore) => StatusStore;
    /** The pipeline document's limits.maxBytes, and the scanner's own IMGPIPE_MAX_BYTES. */
    maxBytes?: { document: number; scanner: number };
    /** Runs once the Inspect task has returned (to change the object under the later tasks). */
    afterInspect?: (output: unknown) => Promise<void>;
    /** Runs once the Scan task has returned (to change the object under the later tasks). */
    afterScan?: (output: unknown) => Promise<void>;
    /** Runs once the Moderate task has returned (to change the object under Process). */
    afterModerate?: (output: unknown) => Promise<void>;
    /**
     * How many publishes the bus refuses first, as PutEvents does once the SDK's retries are spent
     * (EventBridge has no local server: the events go to a file, through our EventPublisher).
     */
    refusedPublishes?: number;
    /**
     * The Process task is killed inside its first PutEvents (after its status write): the publish
     * never answers, and the task fails as Lambda reports a function that exited (Runtime.ExitError).
     */
    killProcessInPutEvents?: boolean;
    /** Gives every task a Lambda context with this much time left (as a function of that timeout). */
    remainingMs?: number;
    /** false: no status table (create_status_table false), as the tasks then run. */
    statusTable?: boolean;
    /** Runs at each GetObject of the tasks, with its key (to move the clock while it reads). */
    onGet?: (key: string) => void;
    /** Further environment variables of the tasks (e.g. IMGPIPE_SOURCE_BUCKETS). */
    env?: Record<string, string>;
    /** The Moderate task's cap on tiles (IMGPIPE_MODERATION_MAX_TILES); default: the setting's. */
    maxTiles?: number;
  } = {},
) {
  const table = `imgpipe-workflow-${++tables}`;
  await dynamo.createStatusTable(table);
  const status = new DynamoStatusStore(dynamo.client, table);
  const eventsFile = join(workDir, `${table}.jsonl`);
  const config = loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
    IMGPIPE_QUARANTINE_PREFIX: '',
    ...(options.statusTable === false ? {} : { IMGPIPE_STATUS_TABLE: table }),
    IMGPIPE_CONFIG: JSON.stringify({
      variants: [{ name: 'small', width: 160 }],
      formats: { jpeg: {}, webp: {} },
      ...(options.maxBytes ? { limits: { maxBytes: options.maxBytes.document } } : {}),
    }),
    ...options.env,
  });
  const faults = new Map<string, boolean[]>();
  const copies: string[] = [];
  const client = faultyClient(faults, copies, options.onGet);
  const storage = (bucket: string) => new S3Storage(client, bucket);
  const logger = new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' });
  const metrics = new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' });
  const rekognition = new RekognitionClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const moderation = mockClient(rekognition);
  moderation.on(DetectModerationLabelsCommand).resolves({
    ModerationLabels: (options.labels ?? []) as never,
    ModerationModelVersion: '7.0',
  });
  // The killed attempt is left waiting on its PutEvents for good, as a killed function's would end.
  const killed = {
    at: false,
    held: [] as ImageEvent[],
    publisher: (publisher: EventPublisher): EventPublisher =>
      options.killProcessInPutEvents
        ? {
            publish: (events) => {
              if (killed.at) return publisher.publish(events);
              killed.at = true;
              killed.held.push(...events);
              return new Promise<never>(() => undefined);
            },
          }
        : publisher,
  };
  const deps = {
    config,
    sourceStorage: storage,
    output: storage(OUTPUT),
    quarantine: storage(QUARANTINE),
    logger,
    metrics,
    ...(options.statusTable === false
      ? {}
      : { status: options.wrapStatus ? options.wrapStatus(status) : status }),
    events: killed.publisher(
      refusingPublisher(new JsonLinesPublisher(eventsFile), options.refusedPublishes ?? 0),
    ),
    moderator: new RekognitionModerator(rekognition, { minConfidence: 80, categories: [] }),
    ...(options.maxTiles === undefined ? {} : { moderationMaxTiles: options.maxTiles }),
  };
  // The upload filters a reprocessing's own events are held to (the upload rule's, in AWS).
  const tasks = createWorkflowTasks(deps, {
    keyFilters: [
      { prefix: '', suffix: '.jpg' },
      { prefix: '', suffix: '.png' },
    ],
  });
  const scan = createScanTask({
    logger,
    metrics,
    sourceStorage: storage,
    signatures: storage(SIGNATURES),
    signaturesPrefix: 'clamav/',
    maxBytes: options.maxBytes?.scanner ?? config.pipeline.limits.maxBytes,
    workDir: join(workDir, table),
  });
  scanners.push(scan);
  const checks = options.checks ?? { malware: true, moderation: true };
  const definition = renderDefinition('upload', {
    ...UPLOAD_VALUES,
    malware_scan: String(checks.malware),
    moderation: String(checks.moderation),
  });
  // The bindings imgpipe dev --workflow uses too (src/cli/local-stepfunctions.ts).
  const bindings = uploadBindings(tasks, scan);
  const process = bindings.Process;
  if (options.killProcessInPutEvents && process)
    bindings.Process = async (input) => {
      void process(input);
      while (!killed.at) await new Promise((resolve) => setTimeout(resolve, 10));
      throw Object.assign(new Error('Runtime exited with error: signal: killed'), {
        name: 'Runtime.ExitError',
      });
    };
  // A test's step after a state's task, before the next state runs.
  const after = (state: 'Inspect' | 'Scan' | 'Moderate', hook?: (output: unknown) => Promise<void>) => {
    const task = bindings[state];
    if (!hook || !task) return;
    bindings[state] = async (input) => {
      const output = await task(input);
      await hook(output);
      return output;
    };
  };
  after('Inspect', options.afterInspect);
  after('Scan', options.afterScan);
  after('Moderate', options.afterModerate);
  const { remainingMs } = options;
  if (remainingMs !== undefined) {
    // A Lambda context for every task (the local bindings give none, so nothing is checked).
    const context = { getRemainingTimeInMillis: () => remainingMs } as Context;
    const handlers = { ...uploadBindings(tasks, scan) };
    const lambdas: Record<string, (input: unknown, context: Context) => Promise<unknown>> = {
      Inspect: tasks.inspect,
      Scan: scan,
      Moderate: tasks.moderate,
      Process: tasks.process,
      Quarantine: tasks.quarantine,
      RecordFailure: tasks.fail,
    };
    for (const name of Object.keys(handlers)) bindings[name] = (input) => lambdas[name]!(input, context);
  }
  const runUpload = (input: unknown) => runLocally(definition, input, bindings);
  // A run whose Inspect claims no event, as the previous release's Inspect task, which a new
  // definition runs until the release moves the functions' alias: here, given no execution.
  const unclaiming = structuredClone(definition) as {
    States: { Inspect: { Parameters: Record<string, unknown> } };
  };
  delete unclaiming.States.Inspect.Parameters.execution;
  const runUnclaimed = (input: unknown) => runLocally(unclaiming, input, bindings);
  // Bulk reprocessing with this workflow deployed: each object goes through it.
  const reprocessDefinition = withLocalBatches(
    renderDefinition('reprocess', {
      ...REPROCESS_VALUES,
      upload_state_machine_arn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-test-upload',
    }),
  );
  const reprocessing = reprocessBindings(createReprocessTasks(deps), undefined, runUpload);
  const events = () =>
    (existsSync(eventsFile) ? readFileSync(eventsFile, 'utf8') : '')
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { 'detail-type': string; detail: Record<string, unknown> });
  return {
    tasks,
    /** What the killed Process attempt's PutEvents held (killProcessInPutEvents). */
    held: killed.held,
    run: runUpload,
    /** A run whose Inspect claims no event (as the previous release's Inspect task). */
    runUnclaimed,
    reprocess: (request: unknown) => runLocally(reprocessDefinition, request, reprocessing),
    status,
    faults,
    copies,
    moderation,
    events,
    stop: () => scan.stop(),
  };
}

/** A publisher whose first `times` publishes fail as PutEvents throttled past the SDK's retries. */
function refusingPublisher(publisher: EventPublisher, times: number): EventPublisher {
  let left = times;
  return {
    publish: async (events) =>
      left-- > 0
        ? {
            sent: 0,
            failed: events.length,
            errors: events.map(() => 'ThrottlingException: Rate exceeded'),
          }
        : publisher.publish(events),
  };
}

/** Uploads an object and returns the EventBridge "Object Created" event S3 sends for it. */
async function upload(key: string, body: Uint8Array, bucket = SOURCE) {
  let etag: string | undefined;
  if (bucket === SOURCE) {
    const put = await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    etag = put.ETag?.replaceAll('"', '');
  }
  return objectCreated(bucket, key, body.length, etag);
}

function objectCreated(bucket: string, key: string, size: number, etag?: string, versionId?: string) {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: {
        key,
        size,
        ...(etag ? { etag } : {}),
        ...(versionId ? { 'version-id': versionId } : {}),
        sequencer: (sequencer++).toString(16).toUpperCase(),
      },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '123456789012',
      'source-ip-address': '1.2.3.4',
      reason: 'PutObject',
    },
  };
}

const outputs = () => new S3Storage(s3.client, OUTPUT);
const quarantined = () => new S3Storage(s3.client, QUARANTINE);

describe.skipIf(!clamd)('the per-upload workflow, run locally', () => {
  it('processes a clean photo: scanned, moderated, processed, recorded and announced', async () => {
    const wf = await setup();
    const key = 'photos/clean.jpg';
    const run = await wf.run(await upload(key, readFixture('photos/portrait-friends-dogs.jpg')));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Moderate', 'Process']);
    expect(run.retried).toEqual([]);
    expect(run.output).toMatchObject({
      inspection: { verdict: { status: 'passed' }, image: { format: 'jpeg', width: 1065, height: 1600 } },
      verdict: { status: 'passed' },
      result: { status: 'processed', bucket: SOURCE, key },
    });
    const manifest = await getJson<Manifest>(outputs(), `manifests/${key}.json`);
    expect(manifest.outputs.map((o) => [o.key, o.width])).toEqual([
      [`small/${key}.jpg`, 160],
      [`small/${key}.webp`, 160],
    ]);
    expect(await wf.status.get(SOURCE, key)).toMatchObject({
      status: 'processed',
      attempts: 1,
      format: 'jpeg',
    });
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Processed', key]]);
    // Rekognition was asked once, with a JPEG rendition whose long side is 1024 px.
    const calls = wf.moderation.commandCalls(DetectModerationLabelsCommand);
    expect(calls).toHaveLength(1);
    const sent = calls[0]!.args[0].input;
    expect(sent.MinConfidence).toBe(80);
    const header = probeImage('jpeg', sent.Image!.Bytes!);
    expect([header.width, header.height]).toEqual([682, 1024]);
  });

  it('quarantines a JPEG carrying the EICAR test string as malware, found by ClamAV, and never retries it', async () => {
    const wf = await setup();
    const key = 'photos/polyglot.jpg';
    const jpeg = readFixture('photos/portrait-friends-dogs.jpg');
    const run = await wf.run(await upload(key, Buffer.concat([jpeg, Buffer.from(EICAR)])));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Quarantine']);
    expect(run.retried).toEqual([]);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'malware' } });
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record).toMatchObject({
      reason: 'malware',
      // ClamAV marks signatures that are not from its official database.
      message: 'ClamAV found Eicar-Test-Signature.UNOFFICIAL in the file',
      details: {
        signature: 'Eicar-Test-Signature.UNOFFICIAL',
        engine: expect.stringMatching(/^ClamAV \d+\.\d+/),
      },
    });
    expect((await quarantined().get(`objects/${key}`)).size).toBe(jpeg.length + EICAR.length);
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'quarantined', reason: 'malware' });
    // Image Quarantined is what the module's rule sends to the image alerts topic (SNS).
    expect(wf.events().map((e) => [e['detail-type'], e.detail.reason])).toEqual([
      ['Image Quarantined', 'malware'],
    ]);
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(0);
  });

  it('quarantines the very version found infected, by its version id, whatever the key holds by then', async () => {
    // In a versioned bucket (the imgpipe module's source bucket) the event names the version; a put
    // over the key between Scan and Quarantine must not make the copy of the current content
    // refuse (its ETag is not the one scanned) and end the run missing, never quarantined nor
    // announced. s3rver keeps no versions: the test checks the copy names the version.
    const wf = await setup({ checks: { malware: true, moderation: false } });
    const key = 'photos/versioned-polyglot.jpg';
    const body = Buffer.concat([readFixture('photos/portrait-friends-dogs.jpg'), Buffer.from(EICAR)]);
    const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    const versionId = '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo';
    const event = objectCreated(SOURCE, key, body.length, put.ETag?.replaceAll('"', ''), versionId);
    const run = await wf.run(event);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'malware' } });
    expect(wf.copies).toEqual([
      `${SOURCE}/photos/versioned-polyglot.jpg?versionId=${encodeURIComponent(versionId)}`,
    ]);
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record.source).toMatchObject({ versionId });
  });

  it('retries a quarantine whose Image Quarantined event the bus refused, so the malware alert goes out', async () => {
    const wf = await setup({ checks: { malware: true, moderation: false }, refusedPublishes: 1 });
    const key = 'photos/alert-refused.jpg';
    const jpeg = readFixture('photos/portrait-friends-dogs.jpg');
    const run = await wf.run(await upload(key, Buffer.concat([jpeg, Buffer.from(EICAR)])));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Quarantine', 'Quarantine']);
    expect(run.retried).toEqual(['Quarantine']);
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'quarantined', reason: 'malware' });
    expect(wf.events().map((e) => [e['detail-type'], e.detail.reason])).toEqual([
      ['Image Quarantined', 'malware'],
    ]);
  });

  it('quarantines an image Rekognition flags, with the labels, before any output is written', async () => {
    const wf = await setup({
      labels: [
        { Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 97.314 },
        { Name: 'Exposed Male Genitalia', ParentName: 'Explicit Nudity', TaxonomyLevel: 3, Confidence: 96.1 },
      ],
    });
    const key = 'photos/flagged.png';
    const run = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Moderate', 'Quarantine']);
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record.reason).toBe('moderation');
    expect(record.message).toBe(
      'Content moderation flagged the image: Explicit (97.31%), Exposed Male Genitalia (96.1%)',
    );
    expect(record.details).toMatchObject({
      labels: [
        { name: 'Explicit', parent: '', level: 1, confidence: 97.31 },
        { name: 'Exposed Male Genitalia', parent: 'Explicit Nudity', level: 3, confidence: 96.1 },
      ],
      modelVersion: '7.0',
    });
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'quarantined', reason: 'moderation' });
  });

  it('moderates a transparent image on black too: a picture drawn in its alpha channel over white pixels is rejected', async () => {
    const wf = await setup();
    // Rekognition stands in (no local server): it flags what it can see, any rendition that is not
    // one flat colour. White pixels, a square drawn only in opacity: blank on white, a white
    // square on black.
    wf.moderation
      .on(DetectModerationLabelsCommand)
      .callsFake(async (input: { Image: { Bytes: Uint8Array } }) => {
        const image = await decode('jpeg', input.Image.Bytes);
        let [min, max] = [255, 0];
        for (let i = 0; i < image.data.length; i += 4) {
          min = Math.min(min, image.data[i]!);
          max = Math.max(max, image.data[i]!);
        }
        const seen = max - min > 64;
        return {
          ModerationLabels: seen
            ? [{ Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 99 }]
            : [],
          ModerationModelVersion: '7.0',
        };
      });
    const [width, height] = [200, 150];
    const data = new Uint8ClampedArray(width * height * 4).fill(255);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const inside = x >= 50 && x < 150 && y >= 40 && y < 110;
        data[(y * width + x) * 4 + 3] = inside ? 255 : 0;
      }
    const png = await encode('png', { width, height, data }, parsePipelineConfig({}).formatOptions);
    const key = 'photos/hidden-in-alpha.png';
    const run = await wf.run(await upload(key, png));
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Moderate', 'Quarantine']);
    const calls = wf.moderation.commandCalls(DetectModerationLabelsCommand);
    expect(calls).toHaveLength(2);
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record).toMatchObject({
      reason: 'moderation',
      message: 'Content moderation flagged the image (its transparent pixels shown on black): Explicit (99%)',
      details: { rendition: { background: 'black', width: 1024, height: 768 } },
    });
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
  });

  it('moderates an opaque image once, and an image with colours under translucent pixels that passes three times: on white, on black and with its alpha dropped', async () => {
    const wf = await setup();
    await wf.run(await upload('photos/opaque.jpg', readFixture('photos/portrait-friends-dogs.jpg')));
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(1);
    const run = await wf.run(await upload('photos/alpha.png', readFixture('edge/formats/alpha-rgba8.png')));
    expect(run.output).toMatchObject({ result: { status: 'processed' } });
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(4);
  });

  it('moderates a transparent image with its alpha channel dropped too: a picture in the colours of nearly transparent pixels, blank on any background, is rejected', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true } });
    flagsPicturesOf(wf, ([r, g, b]) => r! > 180 && g! < 90 && b! < 90);
    // Every pixel at alpha 1 (at most one level on any background): red on the left, grey on the
    // right. Its PNG and WebP outputs keep the colours, whole to anyone who drops the alpha.
    const [width, height] = [400, 400];
    const data = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < width * height; i++)
      data.set(i % width < 200 ? [230, 20, 20, 1] : [120, 120, 120, 1], i * 4);
    const key = 'photos/hidden-in-colour.png';
    const png = await encode('png', { width, height, data }, parsePipelineConfig({}).formatOptions);
    const run = await wf.run(await upload(key, png));
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Quarantine']);
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(3);
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record).toMatchObject({
      reason: 'moderation',
      message:
        'Content moderation flagged the image (its alpha channel dropped: the colours of its transparent pixels as stored): Explicit (99%)',
      details: { rendition: { background: 'opaque', width: 1024, height: 1024 } },
    });
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
  });

  it('moderates a banner 16 times as wide as it is high in 15 tiles of 2:1, each within Rekognition’s 80 px minimum', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true }, maxTiles: 15 });
    // Rekognition stands in (no local server), holding requests to its documented set quotas
    // ("Guidelines and quotas in Amazon Rekognition"): at least 80 pixels in height and width.
    const sizes: [number, number][] = [];
    wf.moderation
      .on(DetectModerationLabelsCommand)
      .callsFake(async (input: { Image: { Bytes: Uint8Array } }) => {
        const { width, height } = probeImage('jpeg', input.Image.Bytes);
        sizes.push([width, height]);
        if (width < 80 || height < 80)
          throw Object.assign(new Error('Request has invalid parameters'), {
            name: 'InvalidParameterException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
          });
        return { ModerationLabels: [], ModerationModelVersion: '7.0' };
      });
    // 2000 x 125, opaque: whole at a 1024 px long side it would be 1024 x 64.
    const [width, height] = [2000, 125];
    const data = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < data.length; i += 4) data.set([(i / 4) % 256, 90, 160, 255], i);
    const png = await encode('png', { width, height, data }, parsePipelineConfig({}).formatOptions);
    const key = 'photos/banner.png';
    const run = await wf.run(await upload(key, png));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Process']);
    expect(run.output).toMatchObject({ result: { status: 'processed', key } });
    // Tiles of 250 x 125, each at a 1024 px long side.
    expect(sizes).toEqual(Array.from({ length: 15 }, () => [1024, 512]));
  });

  /**
   * A strip of `width` x `height`: `colour` everywhere but a square of the strip's width at `top`,
   * `square` (RGBA each).
   */
  async function strip(
    width: number,
    height: number,
    top: number,
    colour: readonly number[],
    square: readonly number[],
  ): Promise<Uint8Array> {
    const data = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++) {
      const pixel = y >= top && y < top + width ? square : colour;
      for (let x = 0; x < width; x++) data.set(pixel, (y * width + x) * 4);
    }
    return encode('png', { width, height, data }, parsePipelineConfig({}).formatOptions);
  }

  /**
   * Rekognition stands in (no local server), seeing a picture only at a size it can judge: it
   * flags a rendition in which at least 240,000 pixels (a square of about 490 px) are of the
   * picture's colour, on a rendition that is not one flat colour.
   */
  function flagsPicturesOf(wf: Awaited<ReturnType<typeof setup>>, isPicture: (rgb: Uint8Array) => boolean) {
    wf.moderation
      .on(DetectModerationLabelsCommand)
      .callsFake(async (input: { Image: { Bytes: Uint8Array } }) => {
        const image = await decode('jpeg', input.Image.Bytes);
        let [count, min, max] = [0, 255, 0];
        const rgb = new Uint8Array(3);
        for (let i = 0; i < image.data.length; i += 4) {
          rgb.set(image.data.subarray(i, i + 3));
          if (isPicture(rgb)) count++;
          min = Math.min(min, image.data[i]!);
          max = Math.max(max, image.data[i]!);
        }
        const seen = count >= 240_000 && max - min > 64;
        return {
          ModerationLabels: seen
            ? [{ Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 99 }]
            : [],
          ModerationModelVersion: '7.0',
        };
      });
  }

  it('moderates a tall strip in tiles: a picture stacked in it is seen at a size Rekognition can judge, and named by its tile', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true } });
    flagsPicturesOf(wf, ([r, g, b]) => r! > 180 && g! < 90 && b! < 90);
    // 400 x 3200 (8:1), grey with a red 400 px square at rows 1800-2199. Whole at 1024 px it would
    // be 128 x 1024, the square 128 px across; in tiles of 400 x 800 (512 x 1024) it is 512.
    const png = await strip(400, 3200, 1800, [120, 120, 120, 255], [230, 20, 20, 255]);
    const key = 'photos/stacked.png';
    const run = await wf.run(await upload(key, png));
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Quarantine']);
    const calls = wf.moderation.commandCalls(DetectModerationLabelsCommand);
    // 7 tiles, starting every 400 rows: the fifth (rows 1600-2399) holds the square; none after it is sent.
    expect(calls).toHaveLength(5);
    for (const call of calls) {
      const header = probeImage('jpeg', call.args[0].input.Image!.Bytes!);
      expect([header.width, header.height]).toEqual([512, 1024]);
    }
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record).toMatchObject({
      reason: 'moderation',
      message: 'Content moderation flagged the image in tile 5 of 7 (400x800 at 0,1600): Explicit (99%)',
      details: {
        rendition: {
          background: 'white',
          width: 512,
          height: 1024,
          tile: { left: 0, top: 1600, width: 400, height: 800, index: 5, count: 7 },
        },
      },
    });
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
  });

  it('moderates each tile of a transparent strip on black too: a picture drawn in the alpha channel of one tile is rejected', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true } });
    // White pixels, a square drawn only in opacity: blank on white, a white square on black.
    flagsPicturesOf(wf, ([r, g, b]) => r! > 200 && g! > 200 && b! > 200);
    const png = await strip(400, 3200, 1800, [255, 255, 255, 0], [255, 255, 255, 255]);
    const key = 'photos/stacked-in-alpha.png';
    const run = await wf.run(await upload(key, png));
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Quarantine']);
    // Each tile on white, then on black, and with its alpha dropped once the square's edges, scaled,
    // are white under translucent pixels (the fourth tile's): the fifth tile's black one is the
    // eleventh call.
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(11);
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record).toMatchObject({
      reason: 'moderation',
      message:
        'Content moderation flagged the image in tile 5 of 7 (400x800 at 0,1600) (its transparent pixels shown on black): Explicit (99%)',
      details: { rendition: { background: 'black', tile: { top: 1600, index: 5 } } },
    });
  });

  it('stops a tiled Moderate before a call its invocation has no time left for, as Imgpipe.Transient, and the retry sends only the renditions not yet looked at', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true } });
    // Rekognition stands in (no local server). Each call takes 4 s of the invocation, on the test's
    // own clock (the context's remaining time), so nothing depends on this machine's speed.
    let leftMs = 0;
    const context = { getRemainingTimeInMillis: () => leftMs } as Context;
    wf.moderation.on(DetectModerationLabelsCommand).callsFake(async () => {
      leftMs -= 4_000;
      return { ModerationLabels: [], ModerationModelVersion: '7.0' };
    });
    // 400 x 3200, half transparent, a gradient down its length: 7 tiles, none like another, each
    // on white, on black and with its alpha dropped, 21 calls.
    const [width, height] = [400, 3200];
    const data = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++) {
      const shade = Math.floor((y * 255) / height);
      for (let x = 0; x < width; x++) data.set([shade, 255 - shade, 128, 128], (y * width + x) * 4);
    }
    const png = await encode('png', { width, height, data }, parsePipelineConfig({}).formatOptions);
    const key = 'photos/slow-calls.png';
    const inspection = await wf.tasks.inspect(await upload(key, png));
    expect(inspection.verdict.status).toBe('passed');
    leftMs = 50_000;
    // Twelve calls take 48 s of the invocation's 50; the thirteenth would start with 2 s left.
    const error = await wf.tasks.moderate(inspection, context).catch((e: unknown) => e);
    expect((error as Error).name).toBe('Imgpipe.Transient');
    expect((error as Error).message).toBe(
      `Moderate of s3://${SOURCE}/${key} stopped before rendition 13 of 21 in tile 5 of 7 (400x800 at 0,1600): the invocation has 2 s left, less than the 4 s kept for a DetectModerationLabels call; the 12 before it passed, and the retry sends the rest`,
    );
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(12);
    // The retry, a new invocation in the same environment, sends the nine renditions left.
    leftMs = 50_000;
    await expect(wf.tasks.moderate(inspection, context)).resolves.toMatchObject({ status: 'passed' });
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(21);
    // Done: a later run of the same object looks at it again, whole.
    leftMs = 100_000;
    await expect(wf.tasks.moderate(inspection, context)).resolves.toMatchObject({ status: 'passed' });
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(42);
  });

  it('gives up on a DetectModerationLabels call that does not answer before the invocation ends, as Imgpipe.Transient naming the rendition', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true } });
    // Rekognition stands in (no local server): its second call never answers, as over a connection
    // gone silent (30 s an attempt, three attempts). The invocation's time is the test's own clock.
    let leftMs = 0;
    const context = { getRemainingTimeInMillis: () => leftMs } as Context;
    let calls = 0;
    wf.moderation.on(DetectModerationLabelsCommand).callsFake(async () => {
      if (++calls === 2) return new Promise(() => {});
      leftMs = MODERATION_CALL_RESERVE_MS;
      return { ModerationLabels: [], ModerationModelVersion: '7.0' };
    });
    const key = 'photos/silent-call.png';
    const inspection = await wf.tasks.inspect(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
    leftMs = 50_000;
    // The second call starts with 4 s left and is abandoned 1 s before the end: only the
    // abandonment ends it.
    const error = await wf.tasks.moderate(inspection, context).catch((e: unknown) => e);
    expect((error as Error).name).toBe('Imgpipe.Transient');
    expect((error as Error).message).toBe(
      `Moderate of s3://${SOURCE}/${key} gave up on rendition 2 of 3 (its transparent pixels shown on black): DetectModerationLabels did not answer within 3 s, which left 1 s of the invocation; the 1 before it passed, and the retry sends the rest`,
    );
    expect(calls).toBe(2);
  });

  it('quarantines, without a call, an image that needs more tiles than IMGPIPE_MODERATION_MAX_TILES: it is never passed unmoderated', async () => {
    const wf = await setup({ checks: { malware: false, moderation: true } });
    // 400 x 4000 (10:1) needs 9 tiles of 2:1; the default cap is 8.
    const png = await strip(400, 4000, 1800, [120, 120, 120, 255], [230, 20, 20, 255]);
    const key = 'photos/too-long.png';
    const run = await wf.run(await upload(key, png));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Quarantine']);
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(0);
    const record = await getJson<QuarantineRecord>(quarantined(), `reasons/${key}.json`);
    expect(record).toMatchObject({
      reason: 'moderation',
      message:
        'Content moderation cannot look at the 400x4000 image: more than 2:1, it needs 9 tiles of at most 2:1, more than the 8 IMGPIPE_MODERATION_MAX_TILES allows, and is not passed unmoderated',
      details: { width: 400, height: 4000, tiles: 9, maxTiles: 8, maxAspect: 2 },
    });
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'quarantined', reason: 'moderation' });
    expect(wf.events().map((e) => [e['detail-type'], e.detail.reason])).toEqual([
      ['Image Quarantined', 'moderation'],
    ]);
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    // With the cap at 9, the same image is moderated in 9 tiles and processed.
    const raised = await setup({ checks: { malware: false, moderation: true }, maxTiles: 9 });
    const again = await raised.run(await upload('photos/long-enough.png', png));
    expect(again.output).toMatchObject({ result: { status: 'processed' } });
    expect(raised.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(9);
  });

  it('reprocesses through the workflow with force: a quarantined image is quarantined again, an unchecked one is scanned and moderated first', async () => {
    const flagged = { Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 99 };
    const wf = await setup({ labels: [flagged] });
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    // Uploaded and rejected by moderation: quarantined, no outputs.
    const rejected = 'again/flagged.jpg';
    await wf.run(await upload(rejected, photo));
    expect(await wf.status.get(SOURCE, rejected)).toMatchObject({
      status: 'quarantined',
      reason: 'moderation',
    });
    // Put there without an event (never checked), and one carrying EICAR.
    const unchecked = 'again/unchecked.jpg';
    const infected = 'again/infected.jpg';
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: unchecked, Body: photo }));
    await s3.client.send(
      new PutObjectCommand({
        Bucket: SOURCE,
        Key: infected,
        Body: Buffer.concat([photo, Buffer.from(EICAR)]),
      }),
    );
    const calls = wf.moderation.commandCalls(DetectModerationLabelsCommand).length;
    const before = await getJson<QuarantineRecord>(quarantined(), `reasons/${rejected}.json`);

    const run = await wf.reprocess({ bucket: SOURCE, keys: [rejected, unchecked, infected], force: true });
    expect(run.error).toBeUndefined();
    expect(run.invoked.filter((state) => state === 'KeysUpload')).toHaveLength(3);
    expect(run.invoked).not.toContain('KeysBatch');
    const summary = run.output as ReprocessSummary;
    // The rejected image is quarantined again (forced, as in the direct mode): its record is this
    // run's, with what this run's moderation found.
    expect(summary.counts).toEqual({ quarantined: 3 });
    const after = await getJson<QuarantineRecord>(quarantined(), `reasons/${rejected}.json`);
    expect(after).toMatchObject({ reason: 'moderation' });
    expect(after.quarantinedAt > before.quarantinedAt).toBe(true);
    // Nothing was published: every object was checked again, and rejected.
    for (const key of [rejected, unchecked, infected])
      expect(await outputs().head(`manifests/${key}.json`), key).toBeUndefined();
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand).length - calls).toBe(2);
    expect(await wf.status.get(SOURCE, infected)).toMatchObject({ status: 'quarantined', reason: 'malware' });
    expect(await wf.status.get(SOURCE, unchecked)).toMatchObject({
      status: 'quarantined',
      reason: 'moderation',
    });
  });

  it('withdraws the outputs of an image published unchecked once a forced reprocessing quarantines it as malware or moderation', async () => {
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    const infected = 'again/published-infected.jpg';
    const flagged = 'again/published-flagged.jpg';
    // Processed before the checks ran (the direct mode, or these checks off).
    const unchecked = await setup({ checks: { malware: false, moderation: false } });
    await unchecked.run(await upload(infected, Buffer.concat([photo, Buffer.from(EICAR)])));
    await unchecked.run(await upload(flagged, photo));
    for (const key of [infected, flagged])
      expect(await outputs().head(`manifests/${key}.json`), key).toBeDefined();

    const wf = await setup({
      labels: [{ Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 99 }],
    });
    const run = await wf.reprocess({ bucket: SOURCE, keys: [infected, flagged], force: true });
    expect((run.output as ReprocessSummary).counts).toEqual({ quarantined: 2 });
    // The outputs showed the very content now rejected: none stays published.
    for (const key of [infected, flagged]) {
      expect(await outputs().head(`manifests/${key}.json`), key).toBeUndefined();
      expect(await outputs().head(`small/${key}.jpg`), key).toBeUndefined();
      expect(await outputs().head(`small/${key}.webp`), key).toBeUndefined();
    }
  });

  it('reprocesses through the workflow only the keys the upload filters let through, and no folder marker', async () => {
    const wf = await setup();
    for (const key of ['again/notes.txt', 'again/folder/'])
      await s3.client.send(
        new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: key.endsWith('/') ? '' : 'text' }),
      );
    const run = await wf.reprocess({ bucket: SOURCE, keys: ['again/notes.txt', 'again/folder/'] });
    expect((run.output as ReprocessSummary).counts).toEqual({ ignored: 2 });
    for (const key of ['again/notes.txt', 'again/folder/'])
      expect(await quarantined().head(`reasons/${key}.json`), key).toBeUndefined();
  });

  it('reprocesses through the workflow: a clean image whose outputs are current is a duplicate, and with force it is processed again', async () => {
    const wf = await setup();
    const key = 'again/clean.jpg';
    await wf.run(await upload(key, readFixture('photos/portrait-friends-dogs.jpg')));
    const first = await outputs().head(`manifests/${key}.json`);
    expect(first).toBeDefined();
    const again = await wf.reprocess({ bucket: SOURCE, keys: [key] });
    expect((again.output as ReprocessSummary).counts).toEqual({ duplicate: 1 });
    const forced = await wf.reprocess({ bucket: SOURCE, keys: [key], force: true });
    expect((forced.output as ReprocessSummary).counts).toEqual({ processed: 1 });
    expect((await outputs().head(`manifests/${key}.json`))!.etag).not.toBe(first!.etag);
  });

  it('reprocesses through the workflow without starting over or announcing again the items of current content it finds processed or quarantined again', async () => {
    // Inspect began every backfill's item, so the Quarantine task wrote the repeated quarantine over
    // it, moving updatedAt (every old quarantine listed again under `imgpipe status --quarantined
    // --since`), and announced Image Quarantined again (the image alerts mailed every known malware
    // finding of the prefix again); a processed item lost its timings.
    const wf = await setup();
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    const keys = {
      text: 'known/notes.jpg',
      infected: 'known/infected.jpg',
      clean: 'known/clean.jpg',
    };
    await wf.run(await upload(keys.text, readFixture('edge/broken/text-named.jpg')));
    await wf.run(await upload(keys.infected, Buffer.concat([photo, Buffer.from(EICAR)])));
    await wf.run(await upload(keys.clean, photo));
    const items = await Promise.all(Object.values(keys).map((key) => wf.status.get(SOURCE, key)));
    expect(items.map((item) => [item?.status, item?.reason])).toEqual([
      ['quarantined', 'unsupported-format'],
      ['quarantined', 'malware'],
      ['processed', undefined],
    ]);
    const announced = wf.events().map((e) => [e['detail-type'], e.detail.key]);
    expect(announced).toHaveLength(3);

    const run = await wf.reprocess({ bucket: SOURCE, keys: Object.values(keys) });
    expect(run.error).toBeUndefined();
    expect((run.output as ReprocessSummary).counts).toEqual({ duplicate: 3 });
    for (const [i, key] of Object.values(keys).entries())
      expect(await wf.status.get(SOURCE, key), key).toEqual(items[i]);
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual(announced);
  });

  it('reprocesses through the workflow a known quarantine whose scan fails: the run fails, the item stays, nothing is announced', async () => {
    // As the direct mode's backfill: the item, never begun, still says quarantined, its quarantine
    // in place; Image Failed would say otherwise, to the image alerts too.
    const wf = await setup({ checks: { malware: true, moderation: false } });
    const key = 'known/infected-unread.jpg';
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    await wf.run(await upload(key, Buffer.concat([photo, Buffer.from(EICAR)])));
    const item = await wf.status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'quarantined', reason: 'malware' });
    // Inspect's read succeeds; every read of the Scan task's attempts answers SlowDown.
    wf.faults.set(key, [false, true, true, true, true]);
    // The per-upload execution as bulk reprocessing starts it (reprocess.asl.json's event).
    const run = await wf.run({
      version: '0',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      detail: { bucket: { name: SOURCE }, object: { key }, reason: 'Reprocess' },
      imgpipe: { force: false },
    });
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Scan', 'Scan', 'Scan', 'RecordFailure']);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    // The execution's cause names the failure: the item and the events do not (they sent the
    // reader to them before).
    expect(run.error!.message).toMatch(
      new RegExp(
        `^The reprocessing of s3://${SOURCE}/${key} failed \\(its status item keeps the outcome it records; no Image Failed sent\\): Imgpipe\\.Transient: .*SlowDown`,
      ),
    );
    expect(run.output).toBeUndefined();
    expect(await wf.status.get(SOURCE, key)).toEqual(item);
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Quarantined']);
  });

  it("reprocesses through the workflow a known quarantine whose scan fails: the summary names the run's error, which neither the item nor an event holds", async () => {
    const wf = await setup({ checks: { malware: true, moderation: false } });
    const key = 'known/infected-summarised.jpg';
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    await wf.run(await upload(key, Buffer.concat([photo, Buffer.from(EICAR)])));
    const item = await wf.status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'quarantined', reason: 'malware' });
    // Inspect's read succeeds; every read of the Scan task's attempts answers SlowDown.
    wf.faults.set(key, [false, true, true, true, true]);
    const run = await wf.reprocess({ bucket: SOURCE, keys: [key], toleratedFailurePercentage: 100 });
    expect(run.error).toBeUndefined();
    const summary = run.output as ReprocessSummary;
    expect(summary.counts).toEqual({ failed: 1 });
    expect(summary.failures).toHaveLength(1);
    expect(summary.failures[0]!.key).toBe(key);
    expect(summary.failures[0]!.reason).toMatch(
      /^the upload workflow's execution arn:\S+ ended FAILED: Imgpipe\.Failed: The reprocessing of s3:\/\/\S+ failed \(its status item keeps the outcome it records; no Image Failed sent\): Imgpipe\.Transient: .*SlowDown/,
    );
    expect(await wf.status.get(SOURCE, key)).toEqual(item);
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Quarantined']);
  });

  it('reprocesses through the workflow a known quarantine whose inspection fails: the run fails naming the error, the item stays, nothing is announced', async () => {
    // Inspect found the item's quarantine current and began nothing; its own read then failed,
    // with no mark for RecordFailure, whose failed was refused by the item: the run ended ignored.
    const wf = await setup({ checks: { malware: true, moderation: false } });
    const key = 'known/text-unread.jpg';
    await wf.run(await upload(key, readFixture('edge/broken/text-named.jpg')));
    const item = await wf.status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'quarantined', reason: 'unsupported-format' });
    // Every read of Inspect's attempts (the first and its three retries) answers SlowDown.
    wf.faults.set(key, [true, true, true, true]);
    const event = {
      version: '0',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      detail: { bucket: { name: SOURCE }, object: { key }, reason: 'Reprocess' },
      imgpipe: { force: false },
    };
    const run = await wf.run(event);
    expect(run.invoked).toEqual(['Inspect', 'Inspect', 'Inspect', 'Inspect', 'RecordFailure']);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    // The execution's cause names Inspect's error, where the status item and the events cannot.
    expect(run.error!.message).toMatch(
      new RegExp(
        `^The reprocessing of s3://${SOURCE}/${key} failed \\(its status item keeps the outcome it records; no Image Failed sent\\): Imgpipe\\.Transient: .*SlowDown`,
      ),
    );
    expect(run.error!.message).not.toContain('say why');
    expect(await wf.status.get(SOURCE, key)).toEqual(item);
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Quarantined']);
  });

  it('quarantines what the inspection refuses without scanning or moderating it', async () => {
    const wf = await setup();
    const key = 'docs/not-an-image.jpg';
    const run = await wf.run(await upload(key, readFixture('edge/broken/text-named.jpg')));
    expect(run.invoked).toEqual(['Inspect', 'Quarantine']);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'unsupported-format' } });
  });

  it('announces a quarantine whose status item failed to be written, and retries the task to record it', async () => {
    const wrapStatus = (store: StatusStore) => throttledFinish(store, 'quarantined', 1);
    const wf = await setup({ wrapStatus });
    const key = 'docs/throttled.jpg';
    const run = await wf.run(await upload(key, readFixture('edge/broken/text-named.jpg')));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Quarantine', 'Quarantine']);
    expect(run.retried).toEqual(['Quarantine']);
    // The retry finds the quarantine done: a duplicate, recorded as quarantined.
    expect(run.output).toMatchObject({ result: { status: 'duplicate', reason: 'unsupported-format' } });
    expect(await wf.status.get(SOURCE, key)).toMatchObject({
      status: 'quarantined',
      reason: 'unsupported-format',
    });
    // Announced by the attempt that quarantined it, and again by the retry (which cannot tell).
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Quarantined', 'Image Quarantined']);
  });

  it('retries a Process whose Image Processed the bus refused, so the event goes out, once', async () => {
    // PutEvents refused past the SDK's retries (EventBridge has no local server: the publisher
    // refuses as PutEvents answers then). The task succeeded, and the event was lost for good.
    const wf = await setup({ checks: { malware: false, moderation: false }, refusedPublishes: 1 });
    const key = 'photos/processed-refused.png';
    const run = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Process', 'Process']);
    expect(run.retried).toEqual(['Process']);
    const item = await wf.status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'processed' });
    expect(item?.pendingEvent).toBeUndefined();
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Processed', key]]);
  });

  it('sends the Image Processed of a Process killed between its status write and PutEvents, from RecordFailure', async () => {
    // No Retry covers a killed function: the Catch ran RecordFailure, whose failure the item's
    // final status refused (ignored), and the event was lost for good. EventBridge has no local
    // server: the killed PutEvents is a publish that never answers, the later ones go to a file.
    const wf = await setup({ checks: { malware: false, moderation: false }, killProcessInPutEvents: true });
    const key = 'photos/killed-in-put-events.png';
    const run = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
    expect(run.invoked).toEqual(['Inspect', 'Process', 'RecordFailure']);
    const item = await wf.status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'processed' });
    expect(item?.pendingEvent).toBeUndefined();
    const events = wf.events();
    expect(events.map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Processed', key]]);
    // The detail the killed attempt was sending, the same (its time kept), so consumers can dedupe.
    expect(wf.held.map((e) => e.detail)).toEqual([events[0]!.detail]);
    expect(events[0]!.detail).toMatchObject({ etag: item?.etag, manifestKey: item?.manifestKey });
  });

  it('retries a transient S3 fault in the Process task, then processes the image', async () => {
    const wf = await setup({ checks: { malware: false, moderation: false } });
    const key = 'photos/retried.png';
    // The inspection's read succeeds; the Process task's first read gets 503 SlowDown.
    wf.faults.set(key, [false, true]);
    const run = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Process', 'Process']);
    expect(run.retried).toEqual(['Process']);
    expect(run.output).toMatchObject({ result: { status: 'processed' } });
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed' });
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Processed']);
  });

  it('retries a Scan whose clamd is still loading its database, and records as failed, never quarantines, an upload whose every attempt finds it so', async () => {
    // In a burst every new execution environment loads a database of its own (the official one:
    // 90-140 s in Lambda), and an attempt that cannot wait for it fails retryable (handlers/
    // scanner.ts within()), the load left going for the retry. That failure stands in here for the
    // load, as the scanner words it: the local runs pass no Lambda context, so nothing waits.
    const wf = await setup({ checks: { malware: true, moderation: false } });
    const loading = () =>
      new ScannerError(
        'clamd is still loading the signature database (95 s since it started), and this invocation has 110 s left, 15 s of them kept for the scan: the attempt ends here so that it goes on, and a retry in this environment scans once it is done',
      );
    const scans = vi.spyOn(Clamd.prototype, 'scan');
    try {
      scans.mockRejectedValueOnce(loading());
      const key = 'photos/loading-once.png';
      const run = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
      expect(run.error).toBeUndefined();
      expect(run.invoked).toEqual(['Inspect', 'Scan', 'Scan', 'Process']);
      expect(run.retried).toEqual(['Scan']);
      expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed' });

      scans.mockRejectedValue(loading());
      const stuck = 'photos/loading-always.png';
      const failed = await wf.run(await upload(stuck, readFixture('edge/formats/alpha-rgba8.png')));
      expect(failed.invoked).toEqual(['Inspect', 'Scan', 'Scan', 'Scan', 'Scan', 'RecordFailure']);
      expect(failed.error).toMatchObject({ name: 'Imgpipe.Failed' });
      const item = await wf.status.get(SOURCE, stuck);
      expect(item).toMatchObject({ status: 'failed' });
      expect(item!.message).toMatch(
        /^Imgpipe\.Transient: ScannerError: clamd is still loading the signature database/,
      );
      expect(await quarantined().head(`objects/${stuck}`)).toBeUndefined();
      expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([
        ['Image Processed', key],
        ['Image Failed', stuck],
      ]);
    } finally {
      scans.mockRestore();
    }
  });

  it('records a permanent failure once, without retrying it, and fails the execution', async () => {
    const wf = await setup();
    const key = 'photos/nowhere.jpg';
    const run = await wf.run(await upload(key, new Uint8Array(10), 'wf-no-such-bucket'));
    expect(run.invoked).toEqual(['Inspect', 'RecordFailure']);
    expect(run.retried).toEqual([]);
    expect(run.caught).toEqual(['Inspect']);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    const item = await wf.status.get('wf-no-such-bucket', key);
    expect(item).toMatchObject({ status: 'failed' });
    expect(item!.message).toMatch(
      /^Imgpipe\.Failed: StorageError: S3 get of s3:\/\/wf-no-such-bucket\/photos\/nowhere\.jpg failed \(NoSuchBucket/,
    );
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Failed', key]]);
  });

  it('fails an event of a bucket that is not among IMGPIPE_SOURCE_BUCKETS, naming it, with nothing read, recorded or announced', async () => {
    // A reprocessing request naming another bucket starts this workflow with that bucket's events.
    const reads: string[] = [];
    const wf = await setup({ env: { IMGPIPE_SOURCE_BUCKETS: SOURCE }, onGet: (key) => reads.push(key) });
    const key = 'photos/elsewhere.jpg';
    const run = await wf.run(await upload(key, new Uint8Array(10), 'wf-elsewhere'));
    expect(run.invoked).toEqual(['Inspect', 'RecordFailure']);
    expect(run.retried).toEqual([]);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    expect(run.error!.message).toContain(
      `s3://wf-elsewhere/${key}: the bucket wf-elsewhere is not a source bucket of this function (IMGPIPE_SOURCE_BUCKETS: ${SOURCE})`,
    );
    expect(reads).toEqual([]);
    expect(await wf.status.get('wf-elsewhere', key)).toBeUndefined();
    expect(wf.events()).toEqual([]);
  });

  it('retries RecordFailure whose status write was throttled, so the item says failed, announced once', async () => {
    // The failure's own status write is refused once (DynamoDB throttled past the SDK's retries):
    // the state machine's Retry records it, and Image Failed goes out once, with the record.
    const wrapStatus = (store: StatusStore) => throttledFinish(store, 'failed', 1);
    const wf = await setup({ wrapStatus });
    const key = 'photos/failure-throttled.jpg';
    const run = await wf.run(await upload(key, new Uint8Array(10), 'wf-no-such-bucket'));
    expect(run.invoked).toEqual(['Inspect', 'RecordFailure', 'RecordFailure']);
    expect(run.retried).toEqual(['RecordFailure']);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    const item = await wf.status.get('wf-no-such-bucket', key);
    expect(item).toMatchObject({ status: 'failed' });
    expect(item!.message).toMatch(/^Imgpipe\.Failed: StorageError: S3 get of s3:\/\/wf-no-such-bucket\//);
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Failed', key]]);
  });

  it('retries RecordFailure when the bus refused its Image Failed, so the failure alert goes out', async () => {
    // PutEvents throttled past the SDK's retries (EventBridge has no local server: the publisher
    // refuses as PutEvents answers then). Image Failed goes to the image alerts topic, as Image
    // Quarantined does: not sent again, the people on it never heard of the failed upload, while
    // the direct mode's retry of the failed record announces it again.
    const wf = await setup({ refusedPublishes: 1 });
    const key = 'photos/failure-unannounced.jpg';
    const run = await wf.run(await upload(key, new Uint8Array(10), 'wf-no-such-bucket'));
    expect(run.invoked).toEqual(['Inspect', 'RecordFailure', 'RecordFailure']);
    expect(run.retried).toEqual(['RecordFailure']);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    expect(await wf.status.get('wf-no-such-bucket', key)).toMatchObject({ status: 'failed' });
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Failed', key]]);
  });

  it('fails an execution whose Image Failed the bus refused past the retries with a cause saying so, not one sending the reader to that event', async () => {
    const wf = await setup({ refusedPublishes: 100 });
    const key = 'photos/failure-never-announced.jpg';
    const run = await wf.run(await upload(key, new Uint8Array(10), 'wf-no-such-bucket'));
    expect(run.invoked).toEqual([
      'Inspect',
      'RecordFailure',
      'RecordFailure',
      'RecordFailure',
      'RecordFailure',
    ]);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Transient' });
    expect(run.error!.message).not.toMatch(/Image Failed event say/);
    expect(run.error!.message).toMatch(
      /^s3:\/\/wf-no-such-bucket\/photos\/failure-never-announced\.jpg failed \(its status item records it\), but its Image Failed event could not be sent \(ThrottlingException: Rate exceeded\); RecordFailure's retries send it again: Imgpipe\.Failed: StorageError: S3 get of s3:\/\/wf-no-such-bucket\//,
    );
    expect(await wf.status.get('wf-no-such-bucket', key)).toMatchObject({ status: 'failed' });
    expect(wf.events()).toEqual([]);
  });

  it('records a failure, before the execution times out, when a task could outlast it', async () => {
    // No Catch runs after an execution's timeout: the upload would stay processing, unannounced.
    // Tasks of 250 s (the interpreter starts each execution now): with the 90 s kept for
    // RecordFailure they do not fit in 290 s, so Inspect refuses to start and the Catch records why.
    const wf = await setup({ remainingMs: 250_000 });
    const key = 'photos/late.jpg';
    const run = await wf.run(await upload(key, readFixture('photos/portrait-friends-dogs.jpg')));
    expect(run.invoked).toEqual(['Inspect', 'RecordFailure']);
    expect(run.retried).toEqual([]);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    const item = await wf.status.get(SOURCE, key);
    expect(item).toMatchObject({ status: 'failed' });
    expect(item!.message).toMatch(
      /^Imgpipe\.Failed: Inspect was not started: the upload workflow's execution has (289\.\d|290) s left of its 290 s \(started [^)]+\), and Inspect may take 250 s, with 90 s kept to record this failure$/,
    );
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Failed', key]]);
    // With time enough the same run goes through every check.
    const early = await setup({ remainingMs: 60_000 });
    const second = await early.run(
      await upload('photos/early.jpg', readFixture('photos/portrait-friends-dogs.jpg')),
    );
    expect(second.invoked).toEqual(['Inspect', 'Scan', 'Moderate', 'Process']);
    expect(second.output).toMatchObject({ result: { status: 'processed' } });
  });

  it('leaves the item of an image another delivery of its event processed as that delivery recorded it, timings and time included', async () => {
    // EventBridge and Express executions are at least once: two executions of one event, the
    // second inspected while the first ran (its begin() found the item processing), the first
    // then processed and recorded it. The first's Inspect is the previous release's (a release runs
    // the new definition on the previous tasks until the alias moves), which claims nothing. The
    // second's Process finds its outputs current: a duplicate, whose final status (which has no
    // timings) must not be written over the first's.
    const key = 'photos/delivered-twice-processed.png';
    let event: ReturnType<typeof objectCreated> | undefined;
    let first: Awaited<ReturnType<typeof wf.run>> | undefined;
    let recorded: Awaited<ReturnType<typeof wf.status.get>>;
    let inspected = 0;
    const wf = await setup({
      checks: { malware: false, moderation: false },
      afterInspect: async () => {
        if (++inspected !== 1) return;
        first = await wf.runUnclaimed(event!);
        recorded = await wf.status.get(SOURCE, key);
      },
    });
    event = await upload(key, readFixture('edge/formats/alpha-rgba8.png'));
    const second = await wf.run(event);
    expect(first!.output).toMatchObject({ result: { status: 'processed', key } });
    expect(second.invoked).toEqual(['Inspect', 'Process']);
    expect(second.output).toMatchObject({ result: { status: 'duplicate', key } });
    expect(recorded).toMatchObject({ status: 'processed', timings: expect.any(Object) });
    expect(await wf.status.get(SOURCE, key)).toEqual(recorded);
  });

  it('leaves the item of an image another delivery of its event quarantined as that delivery recorded it', async () => {
    // As above, the first delivery's moderation flagged the image. The second quarantines it again
    // (a repeated quarantine, announced again: a malware or moderation alert must not be lost), and
    // writes nothing over the item: its updatedAt moved, listing the quarantine again among new ones.
    const key = 'photos/delivered-twice-flagged.png';
    let event: ReturnType<typeof objectCreated> | undefined;
    let first: Awaited<ReturnType<typeof wf.run>> | undefined;
    let recorded: Awaited<ReturnType<typeof wf.status.get>>;
    let inspected = 0;
    const wf = await setup({
      checks: { malware: false, moderation: true },
      labels: [{ Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 97.3 }],
      afterInspect: async () => {
        if (++inspected !== 1) return;
        first = await wf.runUnclaimed(event!);
        recorded = await wf.status.get(SOURCE, key);
      },
    });
    event = await upload(key, readFixture('edge/formats/alpha-rgba8.png'));
    const second = await wf.run(event);
    expect(first!.output).toMatchObject({ result: { status: 'quarantined', key, reason: 'moderation' } });
    expect(second.invoked).toEqual(['Inspect', 'Moderate', 'Quarantine']);
    expect(second.output).toMatchObject({ result: { status: 'duplicate', key, reason: 'moderation' } });
    expect(recorded).toMatchObject({ status: 'quarantined', reason: 'moderation' });
    expect(await wf.status.get(SOURCE, key)).toEqual(recorded);
  });

  it('does not announce the failure of a second delivery of an event another delivery processed', async () => {
    // EventBridge and Express executions are at least once: two executions of one event, the
    // second inspected before the first ran (its Inspect the previous release's, which claims
    // nothing), then its scan's reads fail past the retries.
    const key = 'photos/delivered-twice.png';
    let event: ReturnType<typeof objectCreated> | undefined;
    let first: Awaited<ReturnType<typeof wf.run>> | undefined;
    let inspected = 0;
    const wf = await setup({
      checks: { malware: true, moderation: false },
      afterInspect: async () => {
        if (++inspected !== 1) return;
        first = await wf.runUnclaimed(event!);
        wf.faults.set(key, [true, true, true, true]);
      },
    });
    event = await upload(key, readFixture('edge/formats/alpha-rgba8.png'));
    const second = await wf.run(event);
    expect(first!.output).toMatchObject({ result: { status: 'processed', key } });
    expect(second.invoked).toEqual(['Inspect', 'Scan', 'Scan', 'Scan', 'Scan', 'RecordFailure']);
    // The object's one outcome stands: processed, announced once; the second delivery ends ignored.
    expect(second.error).toBeUndefined();
    expect(second.output).toMatchObject({
      result: { status: 'ignored', key, reason: expect.stringMatching(/holds processed/) },
    });
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed' });
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Processed']);
  });

  it('scans, moderates and announces an image once when two deliveries of its event overlap: the second run ends at Inspect', async () => {
    // S3 and EventBridge deliver at least once, and Express starts an execution for each delivery:
    // the second is inspected while the first is under way. Rekognition is mocked (no local server):
    // its calls are counted; the scans are the Scan task's runs of the real clamd.
    const key = 'photos/delivered-twice-overlapping.png';
    let event: ReturnType<typeof objectCreated> | undefined;
    let second: Awaited<ReturnType<typeof wf.run>> | undefined;
    let inspected = 0;
    const wf = await setup({
      checks: { malware: true, moderation: true },
      afterInspect: async () => {
        if (++inspected !== 1) return;
        second = await wf.run(event!);
      },
    });
    event = await upload(key, readFixture('edge/formats/alpha-rgba8.png'));
    const first = await wf.run(event);
    expect(first.output).toMatchObject({ result: { status: 'processed', key } });
    expect(second!.invoked).toEqual(['Inspect']);
    expect(second!.output).toMatchObject({
      result: { status: 'ignored', key, reason: expect.stringMatching(/under way/) },
    });
    const scans = [...first.invoked, ...second!.invoked].filter((state) => state === 'Scan');
    expect(scans).toHaveLength(1);
    // One image with transparency: looked at on white, on black and with its alpha dropped, once.
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(3);
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Processed']);
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed' });
  });

  it.each([
    ['forced', true],
    ['not forced', false],
  ])(
    'leaves a key whose upload run is under way to that run when a bulk reprocessing (%s) reaches it: one scan, one moderation, one outcome',
    async (_, force) => {
      // An operator's `imgpipe reprocess` (after a configuration change) reaches a key just uploaded:
      // its upload execution has claimed the event and is past Inspect. Run beside it, the
      // reprocessing scanned, moderated (Rekognition, paid) and processed the same content again, and
      // the image was announced twice. The upload run records it with the same configuration.
      const key = `photos/reprocessed-while-uploading-${force ? 'forced' : 'stale'}.png`;
      let reprocessed: Awaited<ReturnType<typeof wf.reprocess>> | undefined;
      let inspected = 0;
      const wf = await setup({
        checks: { malware: true, moderation: true },
        afterInspect: async () => {
          if (++inspected !== 1) return;
          reprocessed = await wf.reprocess({ bucket: SOURCE, keys: [key], force });
        },
      });
      const upload1 = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
      expect(upload1.output).toMatchObject({ result: { status: 'processed', key } });
      expect(reprocessed!.error).toBeUndefined();
      expect(reprocessed!.invoked.filter((state) => state === 'KeysUpload')).toHaveLength(1);
      const summary = reprocessed!.output as ReprocessSummary;
      expect(summary.counts).toEqual({ ignored: 1 });
      // One image with transparency: looked at on white, on black and with its alpha dropped, once.
      expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(3);
      expect(upload1.invoked.filter((state) => state === 'Scan')).toHaveLength(1);
      expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Processed', key]]);
      expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed', attempts: 1 });
    },
  );

  it('leaves a key to the bulk reprocessing whose run of it is under way when a second reprocessing reaches it', async () => {
    // `imgpipe reprocess` stopped with Ctrl-C goes on in Step Functions (the command says so); run
    // again, the second run reaches keys the first is working on. Both ran them: two scans, two
    // moderations (Rekognition, paid) and two outcomes announced for one object.
    const key = 'again/reprocessed-twice-at-once.png';
    await s3.client.send(
      new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: readFixture('edge/formats/alpha-rgba8.png') }),
    );
    let second: Awaited<ReturnType<typeof wf.reprocess>> | undefined;
    let inspected = 0;
    const wf = await setup({
      checks: { malware: true, moderation: true },
      afterInspect: async () => {
        if (++inspected !== 1) return;
        second = await wf.reprocess({ bucket: SOURCE, keys: [key], force: true });
      },
    });
    const first = await wf.reprocess({ bucket: SOURCE, keys: [key], force: true });
    expect((first.output as ReprocessSummary).counts).toEqual({ processed: 1 });
    expect((second!.output as ReprocessSummary).counts).toEqual({ ignored: 1 });
    // One image with transparency: looked at on white, on black and with its alpha dropped, once.
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(3);
    expect(wf.events().map((e) => [e['detail-type'], e.detail.key])).toEqual([['Image Processed', key]]);
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed' });
  });

  it('tells apart, by the execution id Inspect is given, two executions of one event started in the same millisecond', async () => {
    // Two deliveries of one EventBridge event (the same event id) whose executions started in the
    // same millisecond: their claims were equal, so the second went on through Scan and Moderate
    // beside the first. The definition does not pass $$.Execution.Id yet (release skew: the
    // previous release's Inspect does not know the field; terraform/README.md), so the task is
    // called as such a definition would call it.
    const wf = await setup({ checks: { malware: true, moderation: true } });
    const event = await upload('photos/same-millisecond.png', readFixture('edge/formats/alpha-rgba8.png'));
    const started = new Date().toISOString();
    const inspect = (id: string) =>
      wf.tasks.inspect({
        event,
        execution: { started, timeoutSeconds: 290, id: `arn:aws:states:eu-west-1:1:express:up:${id}` },
      });
    expect(await inspect('a')).toMatchObject({ verdict: { status: 'passed' } });
    expect(await inspect('b')).toMatchObject({
      verdict: { status: 'done', result: { status: 'ignored', reason: expect.stringMatching(/under way/) } },
    });
    // The first execution's own retry of Inspect goes on.
    expect(await inspect('a')).toMatchObject({ verdict: { status: 'passed' } });
  });

  it('lets a delivery take over an event whose first execution ended without an outcome once that execution’s time is up', async () => {
    // The first execution's Inspect claimed the event, then the execution timed out (no Catch
    // runs then): the item stays processing. A delivery within that execution's 290 s is the
    // duplicate of a run still under way; one after it runs the event.
    const wf = await setup({ checks: { malware: true, moderation: true } });
    const claimedBy = async (key: string, startedMsAgo: number) => {
      const event = await upload(key, readFixture('edge/formats/alpha-rgba8.png'));
      await wf.tasks.inspect({
        event,
        execution: {
          started: new Date(Date.now() - startedMsAgo).toISOString(),
          timeoutSeconds: 290,
        },
      });
      return event;
    };
    const during = await wf.run(await claimedBy('photos/claimed-by-a-live-run.png', 10_000));
    expect(during.invoked).toEqual(['Inspect']);
    expect(during.output).toMatchObject({
      result: { status: 'ignored', reason: expect.stringMatching(/under way/) },
    });
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(0);

    const key = 'photos/claimed-by-a-dead-run.png';
    const after = await wf.run(await claimedBy(key, 291_000));
    expect(after.invoked).toEqual(['Inspect', 'Scan', 'Moderate', 'Process']);
    expect(after.output).toMatchObject({ result: { status: 'processed', key } });
    expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(3);
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Processed']);
  });

  it('publishes nothing of a later upload its own run quarantined when an earlier run of the key ends stale', async () => {
    const key = 'photos/replaced-by-malware.jpg';
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    let later: Awaited<ReturnType<typeof wf.run>> | undefined;
    // The first run's Process has written its outputs; before it records them, the key is
    // replaced by a JPEG carrying EICAR, whose own run scans and quarantines it.
    const wrapStatus = (store: StatusStore) =>
      beforeFirstFinish(store, 'processed', async () => {
        later = await wf.run(await upload(key, Buffer.concat([photo, Buffer.from(EICAR)])));
      });
    const wf = await setup({ checks: { malware: true, moderation: false }, wrapStatus });
    const first = await wf.run(await upload(key, photo));
    expect(later!.output).toMatchObject({ result: { status: 'quarantined', reason: 'malware' } });
    expect(first.error).toBeUndefined();
    expect(first.output).toMatchObject({ result: { status: 'ignored', key } });
    // The key's content is quarantined: no manifest or output of it, nor of the replaced photo.
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();
    expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'quarantined', reason: 'malware' });
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Quarantined']);
  });

  it("retries a Process whose outputs made again for a later upload ran out of the invocation's time", async () => {
    // The first run's Process has written its outputs; before it records them, the key is replaced
    // and the replacement's own run processes it. The first Process then makes the outputs again
    // from the key's current content, and the invocation's time is gone by then (the clock moved
    // past its end): that is not the content's doing, and Process is retried, whose new invocation
    // makes them. It was Imgpipe.Failed, never retried: the outputs stayed of the replaced content.
    const key = 'photos/replaced-late.png';
    const remainingMs = 120_000;
    const realNow = performance.now.bind(performance);
    const clock = vi.spyOn(performance, 'now');
    try {
      let later: Awaited<ReturnType<typeof wf.run>> | undefined;
      const wrapStatus = (store: StatusStore) =>
        beforeFirstFinish(store, 'processed', async () => {
          // The first run's manifest landed after the later run's, as in the race this is for.
          const manifest = await outputs().get(`manifests/${key}.json`);
          later = await wf.run(await upload(key, readFixture('edge/formats/1x1.png')));
          await outputs().put(`manifests/${key}.json`, manifest.body, { contentType: 'application/json' });
          clock.mockImplementation(() => realNow() + remainingMs + 100);
        });
      const wf = await setup({ checks: { malware: false, moderation: true }, wrapStatus, remainingMs });
      const first = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
      expect(later!.output).toMatchObject({ result: { status: 'processed', key } });
      expect(first.error).toBeUndefined();
      expect(first.invoked).toEqual(['Inspect', 'Moderate', 'Process', 'Process']);
      expect(first.output).toMatchObject({
        result: {
          status: 'ignored',
          key,
          reason: expect.stringMatching(/its outputs were of other content/),
        },
      });
      expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'processed' });
      const manifest = await getJson<Manifest>(outputs(), `manifests/${key}.json`);
      expect(manifest.source.etag).toBe((await new S3Storage(s3.client, SOURCE).head(key))!.etag);
      expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Processed']);
    } finally {
      clock.mockRestore();
    }
  });

  it("retries a Moderate whose read took the invocation's time, instead of quarantining the image as too-slow", async () => {
    // The image's read takes the whole of Moderate's invocation (S3 slow, a connection waited out:
    // the clock moves past the invocation's end while it reads). The rendition's deadline was
    // reckoned from what was left after the read, and its refusal quarantined a valid image as
    // too-slow for time that was not its own. It fails for the Retry, which has a new invocation.
    const realNow = performance.now.bind(performance);
    let offsetMs = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => realNow() + offsetMs);
    try {
      const key = 'photos/slow-read.png';
      const wholeMs = 50_000;
      let reading = false;
      const wf = await setup({
        checks: { malware: false, moderation: true },
        onGet: (got) => {
          if (reading && got === key) offsetMs += wholeMs + 100;
          reading = false;
        },
      });
      const inspection = await wf.tasks.inspect(
        await upload(key, readFixture('edge/formats/alpha-rgba8.png')),
      );
      expect(inspection.verdict.status).toBe('passed');
      const invokedAt = performance.now();
      const context = {
        getRemainingTimeInMillis: () => Math.max(0, Math.round(invokedAt + wholeMs - performance.now())),
      } as Context;
      reading = true;
      await expect(wf.tasks.moderate(inspection, context)).rejects.toMatchObject({
        name: 'Imgpipe.Transient',
        message: expect.stringMatching(
          /^InvocationTimeError: The invocation's time ran out before the image was done/,
        ),
      });
    } finally {
      clock.mockRestore();
    }
  });

  for (const checks of [
    { malware: true, moderation: true },
    { malware: false, moderation: true },
  ]) {
    it(`records an object deleted after its inspection as missing, not failed (malware scan ${checks.malware ? 'on' : 'off'}, moderation on)`, async () => {
      const key = `photos/deleted-${checks.malware ? 'scanned' : 'unscanned'}.png`;
      const wf = await setup({
        checks,
        afterInspect: async () => {
          await new S3Storage(s3.client, SOURCE).delete(key);
        },
      });
      const run = await wf.run(await upload(key, readFixture('edge/formats/alpha-rgba8.png')));
      expect(run.error).toBeUndefined();
      // Scanned, the object is known gone and not moderated; otherwise Moderate finds it gone.
      expect(run.invoked).toEqual(
        checks.malware ? ['Inspect', 'Scan', 'Process'] : ['Inspect', 'Moderate', 'Process'],
      );
      expect(run.caught).toEqual([]);
      expect(run.output).toMatchObject({
        verdict: { status: 'passed', missing: true },
        result: { status: 'missing', key },
      });
      // The status table has no "missing": a missing object's item reads deleted, as in the direct mode.
      expect(await wf.status.get(SOURCE, key)).toMatchObject({ status: 'deleted' });
      expect(wf.moderation.commandCalls(DetectModerationLabelsCommand)).toHaveLength(0);
      // A missing object announces nothing (no Image Failed).
      expect(wf.events()).toEqual([]);
    });
  }

  it('never publishes content a check found gone: the same bytes put back before Process are left to their own run (a bucket without versions)', async () => {
    // s3rver keeps no versions: the key is deleted after Inspect, so Scan (or Moderate) finds it
    // gone and checks nothing; the very bytes inspected (same ETag) are put back before Process.
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    const infected = Buffer.concat([photo, Buffer.from(EICAR)]);

    // 1. Scan finds the key gone; the JPEG carrying EICAR is put back before Process.
    let key = 'photos/gone-at-scan.jpg';
    let back: Awaited<ReturnType<typeof upload>> | undefined;
    let wf = await setup({
      checks: { malware: true, moderation: false },
      afterInspect: async () => {
        if (!back) await new S3Storage(s3.client, SOURCE).delete(key);
      },
      afterScan: async () => {
        back ??= await upload(key, infected);
      },
    });
    let run = await wf.run(await upload(key, infected));
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Process']);
    expect(run.output).toMatchObject({ verdict: { missing: true }, result: { status: 'missing', key } });
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();
    // The content's own event: scanned, and quarantined.
    run = await wf.run(back!);
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Quarantine']);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'malware' } });
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();

    // 2. Moderate finds the key gone; the photo Rekognition flags is put back before Process.
    key = 'photos/gone-at-moderation.jpg';
    back = undefined;
    wf = await setup({
      checks: { malware: false, moderation: true },
      labels: [{ Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 97 }],
      afterInspect: async () => {
        if (!back) await new S3Storage(s3.client, SOURCE).delete(key);
      },
      afterModerate: async () => {
        back ??= await upload(key, photo);
      },
    });
    run = await wf.run(await upload(key, photo));
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Process']);
    expect(run.output).toMatchObject({ verdict: { missing: true }, result: { status: 'missing', key } });
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();
    run = await wf.run(back!);
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'Quarantine']);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'moderation' } });
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();
  });

  it('publishes only the content its checks passed: content put over the key during a run is left to its own run (a bucket without versions)', async () => {
    // s3rver keeps no versions, as a bucket without versioning (imgpipe dev --workflow): the tasks
    // cannot read the inspected version by its id. Each case puts other content over the key
    // between two tasks of a run; every task refuses content other than the inspected ETag.
    const photo = readFixture('photos/portrait-friends-dogs.jpg');
    const infected = Buffer.concat([photo, Buffer.from(EICAR)]);
    const png = readFixture('edge/formats/alpha-rgba8.png');

    // 1. A clean photo scanned, then a JPEG carrying EICAR put over it before Process.
    let key = 'photos/swapped-after-scan.jpg';
    let swapped: Awaited<ReturnType<typeof upload>> | undefined;
    let wf = await setup({
      checks: { malware: true, moderation: false },
      afterScan: async () => {
        swapped ??= await upload(key, infected);
      },
    });
    let run = await wf.run(await upload(key, photo));
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Process', 'RecordFailure']);
    expect(run.error).toMatchObject({ name: 'Imgpipe.Failed' });
    expect((await wf.status.get(SOURCE, key))!.message).toMatch(
      /no longer has ETag [0-9a-f]{32}: it was replaced/,
    );
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    // The infected content's own event: scanned, and quarantined.
    run = await wf.run(swapped!);
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Quarantine']);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'malware' } });
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();
    expect(wf.events().map((e) => e['detail-type'])).toEqual(['Image Failed', 'Image Quarantined']);

    // 2. A JPEG carrying EICAR inspected; a clean photo put over it before the scan, and the
    // infected one put back (same bytes, same ETag) before Process.
    key = 'photos/swapped-around-scan.jpg';
    const puts: Awaited<ReturnType<typeof upload>>[] = [];
    wf = await setup({
      checks: { malware: true, moderation: false },
      afterInspect: async () => {
        if (puts.length === 0) puts.push(await upload(key, photo));
      },
      afterScan: async () => {
        if (puts.length === 1) puts.push(await upload(key, infected));
      },
    });
    run = await wf.run(await upload(key, infected));
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'RecordFailure']);
    expect((await wf.status.get(SOURCE, key))!.message).toMatch(
      /^Imgpipe\.Failed: Scan refused s3:\/\/wf-uploads\/photos\/swapped-around-scan\.jpg: it holds content of ETag [0-9a-f]{32}, not the ETag [0-9a-f]{32} its inspection found/,
    );
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    // The scan refused the photo, so nothing put the infected JPEG back yet: it is now, and its
    // own event has it scanned and quarantined.
    if (puts.length === 1) puts.push(await upload(key, infected));
    run = await wf.run(puts[1]!);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'malware' } });
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();

    // 3. A photo Rekognition flags inspected; a PNG it passes put over it before moderation, and
    // the photo put back before Process.
    key = 'photos/swapped-around-moderation.jpg';
    puts.length = 0;
    wf = await setup({
      checks: { malware: false, moderation: true },
      afterInspect: async () => {
        if (puts.length === 0) puts.push(await upload(key, png));
      },
    });
    const flagged = [{ Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 97 }];
    wf.moderation.on(DetectModerationLabelsCommand).callsFake(async (input) => {
      // The photo's rendition is 682 x 1024; the PNG's is square.
      const rendition = probeImage('jpeg', input.Image.Bytes);
      if (rendition.width !== 682) {
        if (puts.length === 1) puts.push(await upload(key, photo));
        return { ModerationLabels: [], ModerationModelVersion: '7.0' };
      }
      return { ModerationLabels: flagged, ModerationModelVersion: '7.0' };
    });
    run = await wf.run(await upload(key, photo));
    expect(run.invoked).toEqual(['Inspect', 'Moderate', 'RecordFailure']);
    expect((await wf.status.get(SOURCE, key))!.message).toMatch(/^Imgpipe\.Failed: Moderate refused s3:/);
    expect(await outputs().head(`manifests/${key}.json`)).toBeUndefined();
    // The PNG was never moderated: the photo is put back now, and its own event moderates it.
    if (puts.length === 1) puts.push(await upload(key, photo));
    run = await wf.run(puts[1]!);
    expect(run.output).toMatchObject({ result: { status: 'quarantined', reason: 'moderation' } });
    expect(await outputs().head(`small/${key}.jpg`)).toBeUndefined();
  });

  it('scans within the maxBytes of the pipeline document, not the scanner’s own IMGPIPE_MAX_BYTES', async () => {
    // The document allows 1 MiB; the scanner's environment says 100,000 bytes (as IMGPIPE_MAX_BYTES,
    // or its 32 MiB default, would while the document says 64 MiB). The photo is 196,498 bytes.
    const wf = await setup({
      checks: { malware: true, moderation: false },
      maxBytes: { document: 1024 * 1024, scanner: 100_000 },
    });
    const key = 'photos/larger-than-the-scanner-env.jpg';
    const run = await wf.run(await upload(key, readFixture('photos/portrait-friends-dogs.jpg')));
    expect(run.error).toBeUndefined();
    expect(run.invoked).toEqual(['Inspect', 'Scan', 'Process']);
    expect(run.output).toMatchObject({
      inspection: { limits: { maxBytes: 1024 * 1024 } },
      verdict: { status: 'passed' },
      result: { status: 'processed', key },
    });
  });

  it('skips an object whose outputs are current before any check runs', async () => {
    const wf = await setup({ checks: { malware: false, moderation: false } });
    const key = 'photos/twice.png';
    const event = await upload(key, readFixture('edge/formats/1x1.png'));
    expect((await wf.run(event)).output).toMatchObject({ result: { status: 'processed' } });
    const again = await wf.run(event);
    expect(again.invoked).toEqual(['Inspect']);
    expect(again.output).toMatchObject({
      inspection: { verdict: { status: 'done', result: { status: 'duplicate' } } },
    });
  });

  it('publishes nothing of a key’s newer content from a repeated event of the content it replaced, without a status table', async () => {
    const wf = await setup({ checks: { malware: true, moderation: false }, statusTable: false });
    const key = 'photos/replaced-before-a-repeat.jpg';
    const first = await upload(key, readFixture('photos/portrait-friends-dogs.jpg'));
    expect((await wf.run(first)).output).toMatchObject({ result: { status: 'processed' } });
    const processed = await getJson<Manifest>(outputs(), `manifests/${key}.json`);
    // The key gets a JPEG carrying EICAR, whose own run has not scanned it yet, and the first
    // upload's event comes again (S3 and EventBridge deliver at least once).
    await upload(key, Buffer.concat([readFixture('photos/portrait-friends-dogs.jpg'), Buffer.from(EICAR)]));
    const again = await wf.run(first);
    expect(again.error).toBeUndefined();
    expect(again.invoked).toEqual(['Inspect']);
    expect(again.output).toMatchObject({
      result: {
        status: 'ignored',
        reason: expect.stringMatching(/^stale event: the key holds other content/),
      },
    });
    // The infected content was neither scanned nor published: the outputs are still the first upload's.
    expect((await getJson<Manifest>(outputs(), `manifests/${key}.json`))!.source.etag).toBe(
      processed!.source.etag,
    );
  });
});
