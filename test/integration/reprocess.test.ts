import { PassThrough } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { startLocalStepFunctions } from '../../src/cli/local-sfn-api.ts';
import {
  reprocessBindings,
  startLocally,
  withLocalBatches,
  withLocalItemReader,
} from '../../src/cli/local-stepfunctions.ts';
import { runReprocessCommand } from '../../src/cli/reprocess.ts';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import {
  type BatchResult,
  createReprocessTasks,
  type KeyFilter,
  parseKeyFilters,
  parseReprocessRequest,
  type ReprocessSummary,
} from '../../src/handlers/reprocess.ts';
import { TaskError, TRANSIENT_ERROR } from '../../src/handlers/tasks.ts';
import { type Encoder, inThreadEncoder } from '../../src/pipeline/process-image.ts';
import type { Manifest } from '../../src/pipeline/records.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import { getJson } from '../../src/storage/types.ts';
import { REPROCESS_VALUES, renderDefinition } from '../support/asl.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';
import { type Run, runLocally } from '../support/workflow.ts';

/**
 * Bulk reprocessing (terraform/modules/workflow/definitions/reprocess.asl.json) run locally by
 * aws-local-stepfunctions against a real S3 API server, its tasks bound to our real entry points.
 *
 * What the local interpreter lacks, and how this test stands in for it: it has no ItemReader, so
 * the map over an S3 listing (ByPrefix) is checked by asl-validator and the Terraform tests, and the
 * runs here go through the map over the request's keys (ByKeys), which has the same item selector,
 * batcher, concurrency, tolerance, processor and result writer (test/unit/workflow). It has no
 * ItemBatcher either: the binding hands each item to the batch task as the batcher would, a batch
 * of one (`{"Items": [item]}`); batches of many are exercised by calling the task directly. It
 * writes no ResultWriter files: the map's results reach Summarize inline, and the summary of
 * ResultWriter files is tested on files laid out as Step Functions writes them. It applies no
 * ToleratedFailurePercentage: the first batch that fails after its retries fails the map (and stops
 * the others), which is how a map past its tolerance is run here; that threshold itself is Step
 * Functions' and is checked only as the definition's ToleratedFailurePercentagePath (test/unit/workflow).
 * The request's tolerance over failed objects is Summarize's, and runs here as on AWS.
 */
const SOURCE = 'rp-uploads';
const OUTPUT = 'rp-variants';
const QUARANTINE = 'rp-rejected';
const RESULTS = REPROCESS_VALUES.results_bucket;
const COUNT = 300;

let s3: Awaited<ReturnType<typeof startTestS3>>;
const keys: string[] = [];

beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE, RESULTS]);
  const png = readFixture('edge/formats/1x1.png');
  const jpeg = readFixture('edge/formats/1x1.jpg');
  for (let i = 0; i < COUNT; i++) {
    const key = `archive/${String(i).padStart(3, '0')}.${i % 2 ? 'png' : 'jpg'}`;
    keys.push(key);
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: i % 2 ? png : jpeg }));
  }
  keys.push('archive/notes.jpg');
  await s3.client.send(
    new PutObjectCommand({
      Bucket: SOURCE,
      Key: 'archive/notes.jpg',
      Body: readFixture('edge/broken/text-named.jpg'),
    }),
  );
}, 120_000);

afterAll(async () => {
  await s3?.stop();
});

/** The batch task's S3 client fails every GetObject of these keys with 503 SlowDown. */
function clientFailing(failing: Set<string>): S3Client {
  const client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key;
      if (context.commandName === 'GetObjectCommand' && key !== undefined && failing.has(key))
        throw Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        });
      return next(args);
    },
    { step: 'initialize', name: 'injectSlowDown' },
  );
  return client;
}

function setup(
  options: {
    width?: number;
    failing?: Set<string>;
    keyFilters?: readonly KeyFilter[];
    maxSecondsPerImage?: number;
    encoder?: Encoder;
    /** Further environment variables of the tasks (e.g. IMGPIPE_SOURCE_BUCKETS). */
    env?: Record<string, string>;
  } = {},
) {
  const config = loadRuntimeConfig({
    ...options.env,
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
    IMGPIPE_QUARANTINE_PREFIX: '',
    IMGPIPE_CONFIG: JSON.stringify({
      variants: [{ name: 'thumb', width: options.width ?? 16, upscale: true }],
      formats: { webp: {} },
      ...(options.maxSecondsPerImage === undefined
        ? {}
        : { limits: { maxSecondsPerImage: options.maxSecondsPerImage } }),
    }),
  });
  const client = clientFailing(options.failing ?? new Set());
  const storage = (bucket: string) => new S3Storage(client, bucket);
  const tasks = createReprocessTasks(
    {
      config,
      sourceStorage: storage,
      output: storage(OUTPUT),
      quarantine: storage(QUARANTINE),
      logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
      metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
      ...(options.encoder ? { encoder: options.encoder } : {}),
    },
    { keyFilters: options.keyFilters ?? parseKeyFilters(undefined) },
  );
  // As imgpipe dev runs it (src/cli/local-stepfunctions.ts): the ItemBatcher the interpreter lacks
  // gives each item to the batch task as a batch of one.
  const definition = withLocalBatches(renderDefinition('reprocess', REPROCESS_VALUES));
  const run = (request: unknown) => runLocally(definition, request, reprocessBindings(tasks));
  // ByPrefix too, its ItemReader stood in for by a listing of the local server.
  const runByPrefix = (request: unknown) =>
    runLocally(withLocalItemReader(definition), request, reprocessBindings(tasks, storage));
  return { tasks, run, runByPrefix, definition };
}

/**
 * `imgpipe reprocess s3://SOURCE/<prefix>` (its command, in this process) against imgpipe dev's Step
 * Functions API serving the reprocess machine as imgpipe dev does (dev-workflow.ts
 * devReprocessMachine: the listing stands in for the item reader, batches of one), over a.jpg and
 * b.png put under the prefix, one batch at a time. The execution is named after the prefix.
 */
async function reprocessCommand(
  prefix: string,
  { tasks }: ReturnType<typeof setup>,
  change: (bindings: ReturnType<typeof reprocessBindings>) => void = () => undefined,
  { force = false, name = prefix.replace(/\/$/, '') }: { force?: boolean; name?: string } = {},
): Promise<{ code: number; stdout: string }> {
  for (const [key, fixture] of [
    [`${prefix}a.jpg`, 'edge/formats/1x1.jpg'],
    [`${prefix}b.png`, 'edge/formats/1x1.png'],
  ] as const)
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: readFixture(fixture) }));
  const definition = withLocalBatches(withLocalItemReader(renderDefinition('reprocess', REPROCESS_VALUES)));
  const bindings = reprocessBindings(tasks, (bucket) => new S3Storage(s3.client, bucket));
  change(bindings);
  const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:imgpipe-test-reprocess';
  const sfn = await startLocalStepFunctions({
    host: '127.0.0.1',
    port: 0,
    machines: [
      {
        arn,
        maps: { ByPrefix: '$.listedObjects', ByKeys: '$.keys' },
        start: (input, execution) =>
          startLocally(definition, input, bindings, {
            onEvent: execution.onEvent,
            context: {
              Execution: { Name: execution.name, Input: input, StartTime: new Date().toISOString() },
            },
          }),
      },
    ],
  });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  try {
    const code = await runReprocessCommand({
      target: `s3://${SOURCE}/${prefix}`,
      force,
      concurrency: 1,
      stateMachine: arn,
      endpoint: sfn.endpoint,
      name,
      pollMs: 20,
      stdout,
      stderr: new PassThrough(),
    });
    return { code, stdout: Buffer.concat(chunks).toString('utf8') };
  } finally {
    await sfn.close();
  }
}

describe('bulk reprocessing on the Distributed Map, run locally', () => {
  it('processes a few hundred objects once, tolerates failures, and counts every outcome', async () => {
    const failing = new Set(['archive/007.png', 'archive/123.png']);
    const { run } = setup({ failing });
    const result = await run({ bucket: SOURCE, keys });
    expect(result.error).toBeUndefined();
    expect(result.invoked.filter((state) => state === 'KeysBatch')).toHaveLength(COUNT + 1);
    const summary = result.output as ReprocessSummary & { location: string };
    expect(summary).toMatchObject({
      bucket: SOURCE,
      keys: COUNT + 1,
      force: false,
      counts: { processed: COUNT - 2, quarantined: 1, failed: 2 },
      failuresTotal: 2,
      failedBatches: [],
    });
    expect(summary.failures.map((f) => f.key).sort()).toEqual([...failing].sort());
    expect(summary.failures[0]!.reason).toMatch(/SlowDown/);
    // Written beside the map's results, in the results bucket.
    expect(summary.location).toMatch(new RegExp(`^s3://${RESULTS}/reprocess/[0-9a-f-]{36}/summary\\.json$`));
    const written = await getJson<ReprocessSummary>(
      new S3Storage(s3.client, RESULTS),
      summary.location.replace(`s3://${RESULTS}/`, ''),
    );
    expect(written.counts).toEqual(summary.counts);
    const manifest = await getJson<Manifest>(
      new S3Storage(s3.client, OUTPUT),
      'manifests/archive/000.jpg.json',
    );
    expect(manifest.outputs.map((o) => [o.key, o.width])).toEqual([['thumb/archive/000.jpg.webp', 16]]);

    // Again: everything current is a duplicate (the quarantined file too: its quarantine stands),
    // the failed two are processed now.
    const again = await setup().run({ bucket: SOURCE, keys });
    expect((again.output as ReprocessSummary).counts).toEqual({ duplicate: COUNT - 1, processed: 2 });

    // After a configuration change each object is processed exactly once more; forced, all of them.
    const changed = await setup({ width: 24 }).run({ bucket: SOURCE, keys: keys.slice(0, 40) });
    expect((changed.output as ReprocessSummary).counts).toEqual({ processed: 40 });
    const unchanged = await setup({ width: 24 }).run({ bucket: SOURCE, keys: keys.slice(0, 40) });
    expect((unchanged.output as ReprocessSummary).counts).toEqual({ duplicate: 40 });
    const forced = await setup({ width: 24 }).run({ bucket: SOURCE, keys: keys.slice(0, 40), force: true });
    expect((forced.output as ReprocessSummary).counts).toEqual({ processed: 40 });
  }, 240_000);

  it('skips folder markers and keys outside the upload filters by prefix: ignored, never quarantined', async () => {
    const put = (key: string, body: Uint8Array) =>
      s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    // The S3 console's "Create folder" writes a 0-byte object whose key ends in /.
    await put('mixed/', new Uint8Array(0));
    await put('mixed/sub/', new Uint8Array(0));
    await put('mixed/a.jpg', readFixture('edge/formats/1x1.jpg'));
    await put('mixed/readme.txt', readFixture('edge/broken/text-named.jpg'));
    await put('mixed/b.png', readFixture('edge/formats/1x1.png'));
    // The uploads' filters (source_notification_filters): JPEG and PNG suffixes.
    const { runByPrefix } = setup({
      keyFilters: [
        { prefix: '', suffix: '.jpg' },
        { prefix: 'mixed/', suffix: '.png' },
      ],
    });
    const result = await runByPrefix({ bucket: SOURCE, prefix: 'mixed/' });
    expect(result.error).toBeUndefined();
    expect(result.invoked.filter((state) => state === 'ListedBatch')).toHaveLength(5);
    expect((result.output as ReprocessSummary).counts).toEqual({ processed: 2, ignored: 3 });
    const quarantine = new S3Storage(s3.client, QUARANTINE);
    const quarantined: string[] = [];
    for await (const object of quarantine.list(''))
      if (object.key.includes('mixed/')) quarantined.push(object.key);
    expect(quarantined).toEqual([]);
  });

  it('summarizes a run whose map failed (more failed batches than tolerated), then fails it, with the summary as its cause', async () => {
    const { tasks, definition } = setup();
    const bindings = reprocessBindings(tasks);
    const batch = bindings.KeysBatch!;
    // A batch that fails after its retries (as one running out of time would, every attempt): the
    // interpreter fails the map on it, as Step Functions does past toleratedFailurePercentage.
    bindings.KeysBatch = async (batchInput) => {
      if ((batchInput as { Items: { key: string }[] }).Items[0]!.key === 'archive/001.png')
        throw new TaskError(
          TRANSIENT_ERROR,
          'The batch ran out of time before s3://rp-uploads/archive/001.png',
        );
      return batch(batchInput);
    };
    const request = { bucket: SOURCE, keys: ['archive/000.jpg', 'archive/001.png'], concurrency: 1 };
    const result = await runLocally(definition, request, bindings, {
      context: { Execution: { Name: 'map-failed', Input: request, StartTime: new Date().toISOString() } },
    });
    expect(result.invoked).toContain('Summarize');
    expect(result.caught).toEqual(['ByKeys']);
    // A failed execution has no output: its cause is what it tells, the summary (without its lists,
    // which are in summary.json), with the map's own error and the request it ran.
    expect(result.error?.name).toBe('Imgpipe.Failed');
    const mapFailure = 'Imgpipe.Transient: The batch ran out of time before s3://rp-uploads/archive/001.png';
    expect(JSON.parse(result.error!.message)).toEqual({
      bucket: SOURCE,
      keys: 2,
      force: false,
      // The map's Catch gets its error, not the results of the batches that ran (neither Step
      // Functions nor the interpreter hands them back): the map run's item counts say how far it got.
      counts: {},
      failures: [],
      failuresTotal: 0,
      failedBatchesTotal: 0,
      location: `s3://${RESULTS}/reprocess/map-failed/summary.json`,
      mapFailure,
    });
    const written = await getJson<ReprocessSummary>(
      new S3Storage(s3.client, RESULTS),
      'reprocess/map-failed/summary.json',
    );
    expect(written).toMatchObject({ bucket: SOURCE, keys: 2, force: false, mapFailure });
  });

  it('fails a run whose map failed as Imgpipe.Failed when the previous release’s Summarize, which returns no cause, summarized it', async () => {
    // The definition is applied before the release moves the functions' live alias: until then (and
    // after a rollback of the alias) the previous Summarize runs it. Its summary names mapFailure but
    // has no `cause` (it came with MapFailed's CausePath), so the run must still fail as
    // Imgpipe.Failed, with a cause that says where the summary is, not as a States.Runtime error.
    const { tasks, definition } = setup();
    const bindings = reprocessBindings(tasks);
    bindings.KeysBatch = async () => {
      throw new TaskError(
        TRANSIENT_ERROR,
        'The batch ran out of time before s3://rp-uploads/archive/001.png',
      );
    };
    const summarize = bindings.Summarize!;
    bindings.Summarize = async (input) => {
      const { cause, ...previous } = (await summarize(input)) as ReprocessSummary;
      expect(cause).toEqual(expect.any(String));
      return previous;
    };
    const request = { bucket: SOURCE, keys: ['archive/001.png'], concurrency: 1 };
    const result = await runLocally(definition, request, bindings, {
      context: {
        Execution: { Name: 'map-failed-previous', Input: request, StartTime: new Date().toISOString() },
      },
    });
    expect(result.invoked).toContain('Summarize');
    expect(result.error?.name).toBe('Imgpipe.Failed');
    expect(result.error?.message).toMatch(/summary\.json/);
  });

  it('imgpipe reprocess prints what a run whose map failed knows: the items so far, the map’s error, where the summary is', async () => {
    const prefix = 'map-fails/';
    const { code, stdout } = await reprocessCommand(prefix, setup(), (bindings) => {
      const batch = bindings.ListedBatch!;
      bindings.ListedBatch = async (batchInput) => {
        const { key } = (batchInput as { Items: { key: string }[] }).Items[0]!;
        if (key === `${prefix}b.png`)
          throw new TaskError(TRANSIENT_ERROR, `The batch ran out of time before s3://${SOURCE}/${key}`);
        return batch(batchInput);
      };
    });
    expect(code).toBe(1);
    const lines = stdout.split('\n');
    expect(lines[2]).toMatch(/^FAILED in /);
    // One batch at a time: a.jpg is processed, then b.png's batch fails the map.
    expect(lines.slice(3)).toEqual([
      '  items     2 of 2 finished, 1 in failed batches',
      `  error     Imgpipe.Transient: The batch ran out of time before s3://${SOURCE}/${prefix}b.png`,
      `Results: s3://${RESULTS}/reprocess/map-fails/summary.json`,
      'Run it again to retry what failed (objects already done are skipped).',
      '',
    ]);
  });

  it('imgpipe reprocess prints the counts, the failed keys and the tolerance of a run failed for its failed objects', async () => {
    const prefix = 'too-many-fail/';
    const { code, stdout } = await reprocessCommand(prefix, setup({ failing: new Set([`${prefix}b.png`]) }));
    expect(code).toBe(1);
    const lines = stdout.split('\n');
    expect(lines[2]).toMatch(/^FAILED in /);
    // The request's default tolerance: 5 %.
    expect(lines.slice(3)).toEqual([
      '  items     2 of 2 finished, 0 in failed batches',
      '  error     Imgpipe.ToleranceExceeded: 1 of 2 objects failed, more than the 5 % the run tolerates (toleratedFailurePercentage)',
      '  objects            2',
      '  processed          1',
      '  current            0  (skipped: outputs current, or quarantined already)',
      '  quarantined        0',
      '  failed             1',
      'Failed objects:',
      expect.stringMatching(new RegExp(`^ {2}s3://${SOURCE}/${prefix}b\\.png: .*SlowDown`)),
      `Results: s3://${RESULTS}/reprocess/too-many-fail/summary.json`,
      'Run it again to retry what failed (objects already done are skipped).',
      '',
    ]);
  });

  it('imgpipe reprocess --force that failed for an object says to run it again with --force: without it, the object is skipped as current, never redone', async () => {
    const prefix = 'forced-fails/';
    const failing = new Set([`${prefix}b.png`]);
    // Both objects processed before: their outputs are current.
    expect((await reprocessCommand(prefix, setup(), undefined, { name: 'forced-fails-1' })).code).toBe(0);
    const forced = await reprocessCommand(prefix, setup({ failing }), undefined, {
      force: true,
      name: 'forced-fails-2',
    });
    expect(forced.code).toBe(1);
    const advice = forced.stdout.split('\n').filter((line) => line.startsWith('Run it again'));
    expect(advice).toEqual([
      'Run it again with --force to retry what failed (every object is done again: without --force, an object whose outputs are current is skipped, those that failed here included).',
    ]);
    // Why: run again without --force, b.png (whose forced run failed) is skipped as current.
    const unforced = await reprocessCommand(prefix, setup(), undefined, { name: 'forced-fails-3' });
    expect(unforced.code).toBe(0);
    expect(unforced.stdout).toMatch(/ {2}processed {10}0\n/);
    expect(unforced.stdout).toMatch(/ {2}current {12}2 /);
  });

  it('starts the per-upload workflow once per object: a start that failed is counted failed with its error, not started again', async () => {
    const { tasks } = setup();
    const definition = withLocalBatches(
      renderDefinition('reprocess', {
        ...REPROCESS_VALUES,
        upload_state_machine_arn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-test-upload',
      }),
    );
    // The per-upload workflow stands in for itself here (test/integration/workflow.test.ts runs it):
    // each start is counted, and its execution processes the object.
    const started: string[] = [];
    const upload = async (event: unknown): Promise<Run> => {
      const { detail } = event as { detail: { bucket: { name: string }; object: { key: string } } };
      started.push(detail.object.key);
      const result = { bucket: detail.bucket.name, key: detail.object.key, status: 'processed' };
      return { output: { result }, invoked: [], retried: [], caught: [] };
    };
    const bindings = reprocessBindings(tasks, undefined, upload);
    const start = bindings.KeysUpload!;
    let throttled = false;
    bindings.KeysUpload = async (input) => {
      const { key } = (
        JSON.parse((input as { Input: string }).Input) as { detail: { object: { key: string } } }
      ).detail.object;
      // Throttled: refused before any execution starts, so it is tried again.
      if (key === 'archive/002.jpg' && !throttled) {
        throttled = true;
        throw Object.assign(new Error('Rate exceeded'), { name: 'Sfn.ThrottlingException' });
      }
      const answer = await start(input);
      // The execution ran, but the call failed after it started (a service error, a 5xx): Express
      // executions have no idempotent start (their names are not unique), so another would run it twice.
      if (key === 'archive/001.png')
        throw Object.assign(new Error('Internal failure'), { name: 'Sfn.SfnException' });
      return answer;
    };
    // One failed object of three is tolerated here (the tolerance has tests of its own).
    const request = {
      bucket: SOURCE,
      keys: ['archive/000.jpg', 'archive/001.png', 'archive/002.jpg'],
      toleratedFailurePercentage: 50,
    };
    const result = await runLocally(definition, request, bindings);
    expect(started.sort()).toEqual(request.keys);
    expect(result.error).toBeUndefined();
    expect(result.retried).toEqual(['KeysUpload']);
    const summary = result.output as ReprocessSummary;
    expect(summary.counts).toEqual({ processed: 2, failed: 1 });
    expect(summary.failures).toEqual([
      {
        key: 'archive/001.png',
        reason:
          'the upload workflow could not be started, or its end was not heard (Sfn.SfnException: Internal failure); it is not started again, since it may have run: its status item says whether it did',
      },
    ]);
  });

  it('fails a run whose objects failed past toleratedFailurePercentage, in batches that succeeded, with the summary as its cause', async () => {
    // Each failed object is counted in its batch's result, so no batch (child execution) fails and
    // the map's own threshold never sees it: the run still fails past the request's tolerance.
    const request = {
      bucket: SOURCE,
      keys: ['archive/010.jpg', 'archive/011.png', 'archive/012.jpg', 'archive/013.png'],
    };
    const failing = new Set(['archive/011.png']);
    const beyond = await setup({ failing }).run({ ...request, toleratedFailurePercentage: 20 });
    expect(beyond.caught).toEqual([]);
    expect(beyond.invoked).toContain('Summarize');
    expect(beyond.error?.name).toBe('Imgpipe.Failed');
    const cause = JSON.parse(beyond.error!.message) as ReprocessSummary;
    expect(cause).toMatchObject({
      bucket: SOURCE,
      keys: 4,
      failuresTotal: 1,
      failures: [{ key: 'archive/011.png', reason: expect.stringMatching(/SlowDown/) }],
      mapFailure:
        'Imgpipe.ToleranceExceeded: 1 of 4 objects failed, more than the 20 % the run tolerates (toleratedFailurePercentage)',
    });
    expect(cause.counts.failed).toBe(1);
    // At the threshold, as Step Functions counts it: failed only when more than tolerated.
    const within = await setup({ failing }).run({ ...request, toleratedFailurePercentage: 25 });
    expect(within.error).toBeUndefined();
    expect((within.output as ReprocessSummary).counts.failed).toBe(1);
    expect((within.output as ReprocessSummary).mapFailure).toBeUndefined();
  });

  it('fails a run whose objects failed past toleratedFailurePercentage in the workflow mode too, where each is a run of the per-upload workflow', async () => {
    const { tasks } = setup();
    const definition = withLocalBatches(
      renderDefinition('reprocess', {
        ...REPROCESS_VALUES,
        upload_state_machine_arn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-test-upload',
      }),
    );
    // The per-upload workflow stands in for itself: its run of 021.png fails (RecordFailure recorded
    // the reason and failed the execution), the others succeed.
    const upload = async (event: unknown): Promise<Run> => {
      const { detail } = event as { detail: { bucket: { name: string }; object: { key: string } } };
      if (detail.object.key === 'archive/021.png')
        return {
          error: { name: 'Imgpipe.Failed', message: 'S3 get failed' },
          invoked: [],
          retried: [],
          caught: [],
        };
      const result = { bucket: detail.bucket.name, key: detail.object.key, status: 'processed' };
      return { output: { result }, invoked: [], retried: [], caught: [] };
    };
    const request = { bucket: SOURCE, keys: ['archive/020.jpg', 'archive/021.png'] };
    const run = (toleratedFailurePercentage: number) =>
      runLocally(
        definition,
        { ...request, toleratedFailurePercentage },
        reprocessBindings(tasks, undefined, upload),
      );
    const beyond = await run(10);
    expect(beyond.error?.name).toBe('Imgpipe.Failed');
    expect(JSON.parse(beyond.error!.message)).toMatchObject({
      counts: { processed: 1, failed: 1 },
      failuresTotal: 1,
      mapFailure:
        'Imgpipe.ToleranceExceeded: 1 of 2 objects failed, more than the 10 % the run tolerates (toleratedFailurePercentage)',
    });
    const within = await run(50);
    expect(within.error).toBeUndefined();
    expect((within.output as ReprocessSummary).counts).toEqual({ processed: 1, failed: 1 });
  });

  it('fails the execution on a bad request, naming the value, before any object is touched', async () => {
    const { run } = setup();
    const result = await run({ bucket: SOURCE, keys: 'archive/000.jpg' });
    expect(result.invoked).toEqual(['Plan']);
    expect(result.error).toEqual({
      name: 'Imgpipe.Failed',
      message:
        'ConfigError: Expected an array of at most 1000 object keys for event.keys but received "archive/000.jpg" of type string',
    });
    const both = await run({ bucket: SOURCE, prefix: 'a/', keys: ['a/b.jpg'] });
    expect(both.error?.message).toMatch(/Expected either prefix or keys, not both for event/);
  });

  it('fails the execution on a concurrency over the deployment’s cap (reprocess_max_concurrency), naming both, before any object is touched', async () => {
    // Each child execution is a Lambda invocation at a time (a batch, or one upload's run, whose
    // Process function is the live uploads' own): 10,000 at once would take the account's Lambda
    // concurrency and throttle the live pipeline. Terraform gives the plan function the cap.
    vi.stubEnv('IMGPIPE_REPROCESS_MAX_CONCURRENCY', '40');
    try {
      const { run } = setup();
      const result = await run({ bucket: SOURCE, keys: ['archive/000.jpg'], concurrency: 5000 });
      expect(result.invoked).toEqual(['Plan']);
      expect(result.error).toEqual({
        name: 'Imgpipe.Failed',
        message:
          'ConfigError: Expected an integer between 1 and 40 (the deployment’s cap, IMGPIPE_REPROCESS_MAX_CONCURRENCY: Terraform’s reprocess_max_concurrency) for event.concurrency but received 5000 of type number',
      });
      // Up to the cap is taken.
      const capped = await run({ bucket: SOURCE, keys: ['archive/000.jpg'], concurrency: 40 });
      expect(capped.invoked).toContain('KeysBatch');
      expect(capped.error).toBeUndefined();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('fails the execution on a request naming a bucket that is not among IMGPIPE_SOURCE_BUCKETS, naming both, before any object is touched', async () => {
    // Each object of it failed on its own, or the map's listing of a bucket the role may not list
    // failed the run with S3's AccessDenied and no word of the setting.
    const { run } = setup({ env: { IMGPIPE_SOURCE_BUCKETS: SOURCE } });
    const result = await run({ bucket: 'elsewhere', keys: ['archive/000.jpg'] });
    expect(result.invoked).toEqual(['Plan']);
    expect(result.error).toMatchObject({ name: 'Imgpipe.Failed' });
    expect(result.error?.message).toContain(
      `Expected one of the function's source buckets (IMGPIPE_SOURCE_BUCKETS: ${SOURCE}) for event.bucket but received "elsewhere"`,
    );
    // Its own bucket is taken.
    const own = await run({ bucket: SOURCE, keys: ['archive/000.jpg'] });
    expect(own.invoked[0]).toBe('Plan');
    expect(own.invoked).toContain('KeysBatch');
  });
});

/** A whole-bucket request as Plan returns it, for the Summarize task's input. */
const prefixRequest = (batchSize: number) => ({
  bucket: SOURCE,
  prefix: '',
  force: false,
  concurrency: 10,
  toleratedFailurePercentage: 5,
  batchSize,
});

describe('the reprocessing tasks', () => {
  it('plan fills in the defaults and keeps what the request says', () => {
    expect(parseReprocessRequest({ bucket: 'b', prefix: '' })).toEqual({
      bucket: 'b',
      prefix: '',
      force: false,
      concurrency: 10,
      toleratedFailurePercentage: 5,
      batchSize: 10,
    });
    expect(() => parseReprocessRequest({ bucket: 'b', prefix: '', startAfter: 'x' })).toThrow(
      'Expected nothing (the request takes bucket, prefix, keys, force, concurrency, toleratedFailurePercentage, batchSize) for event.startAfter but received "x" of type string',
    );
    // A key named twice would be two runs of one object at once (a backfill claims nothing): in
    // the workflow mode two scans and two moderations (Rekognition, paid), and two in the summary.
    expect(() => parseReprocessRequest({ bucket: 'b', keys: ['a/1.jpg', 'a/2.jpg', 'a/1.jpg'] })).toThrow(
      'Expected each key once for event.keys but received ["a/1.jpg","a/2.jpg","a/1.jpg"] of type array (a/1.jpg is named 2 times)',
    );
    // In the workflow mode each object is a batch of its own (one run of the per-upload workflow).
    expect(parseReprocessRequest({ bucket: 'b', prefix: '' }, { workflow: true }).batchSize).toBe(1);
    expect(() =>
      parseReprocessRequest({ bucket: 'b', prefix: '', batchSize: 5 }, { workflow: true }),
    ).toThrow(
      /^Expected 1 \(in the workflow mode each object is a batch of its own.*\) for event\.batchSize but received 5/,
    );
    expect(() => parseReprocessRequest({ bucket: 'b', prefix: '', concurrency: 0 })).toThrow(
      'Expected an integer between 1 and 10000 for event.concurrency but received 0 of type number',
    );
  });

  it('batch takes the batcher’s Items, several at a time, and lists single failures without throwing', async () => {
    const { tasks } = setup({ width: 20, failing: new Set(['archive/011.png']) });
    const items = ['archive/010.jpg', 'archive/011.png', 'archive/notes.jpg'].map((key) => ({
      bucket: SOURCE,
      key,
      force: true,
    }));
    const result = (await tasks.batch({ Items: items })) as BatchResult;
    expect(result.counts).toEqual({ processed: 1, failed: 1, quarantined: 1 });
    expect(result.failures).toEqual([{ key: 'archive/011.png', reason: expect.stringMatching(/SlowDown/) }]);
    await expect(tasks.batch({ Items: [{ key: 'x.jpg' }] })).rejects.toMatchObject({
      name: 'Imgpipe.Failed',
      message: 'Expected {"bucket", "key"} at Items[0] but received {"key":"x.jpg"}',
    });
  });

  it('batch starts an object only with its whole time budget left, past the first, and is retried for the rest', async () => {
    // An object started with less time left than maxSecondsPerImage (60 s) and the 5 s kept to
    // record it gets a deadline cut to the invocation's remaining time: one that would take longer
    // is quarantined as too-slow for being late in its batch. The batch is retried instead.
    const { tasks } = setup({ width: 28 });
    const items = ['archive/020.jpg', 'archive/021.png'].map((key) => ({ bucket: SOURCE, key, force: true }));
    const left = [200_000, 40_000];
    const context = { getRemainingTimeInMillis: () => left.shift() ?? 40_000 };
    await expect(tasks.batch({ Items: items }, context as never)).rejects.toMatchObject({
      name: 'Imgpipe.Transient',
      message:
        'The batch ran out of time before s3://rp-uploads/archive/021.png: 40000 ms left, less than the 65 s an object may take (limits.maxSecondsPerImage 60 s, and 5 s to record its outcome)',
    });
    // The first object was done; the retry, with its invocation's whole time, does the rest.
    const retried = (await tasks.batch({ Items: items.map((item) => ({ ...item, force: false })) }, {
      getRemainingTimeInMillis: () => 270_000,
    } as never)) as BatchResult;
    expect(retried.counts).toEqual({ duplicate: 1, processed: 1 });
  });

  it('batch retried with the same forced input makes again only what no earlier try made', async () => {
    // Step Functions retries a batch with its input: forced, every object was made again on every
    // try, so a batch whose later objects ran out of time failed at the same place each time. The
    // items carry the reprocessing's start (forcedAt): a manifest made since is this run's own.
    const { tasks } = setup({ width: 32 });
    const forcedAt = new Date(Date.now() - 1000).toISOString();
    const items = ['archive/032.jpg', 'archive/033.png'].map((key) => ({
      bucket: SOURCE,
      key,
      force: true,
      forcedAt,
    }));
    const left = [200_000, 40_000];
    await expect(
      tasks.batch({ Items: items }, { getRemainingTimeInMillis: () => left.shift() ?? 40_000 } as never),
    ).rejects.toMatchObject({ name: 'Imgpipe.Transient' });
    const whole = { getRemainingTimeInMillis: () => 270_000 } as never;
    expect(((await tasks.batch({ Items: items }, whole)) as BatchResult).counts).toEqual({
      duplicate: 1,
      processed: 1,
    });
    // A reprocessing started after those manifests forces them again.
    const later = new Date(Date.now() + 1000).toISOString();
    const again = (await tasks.batch(
      { Items: items.map((item) => ({ ...item, forcedAt: later })) },
      whole,
    )) as BatchResult;
    expect(again.counts).toEqual({ processed: 2 });
  });

  it('batch retried with the same forced input quarantines again only what no earlier try quarantined', async () => {
    // A forced try that quarantined an object and then ran out of time was retried with the same
    // input, which quarantined it again (copy and reason record rewritten, Image Quarantined sent
    // again to the image alerts): only a manifest made since forcedAt counted as this run's own.
    const { tasks } = setup({ width: 34 });
    const put = (key: string, body: Uint8Array) =>
      s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    await put('forced-q/notes.jpg', readFixture('edge/broken/text-named.jpg'));
    await put('forced-q/034.png', readFixture('edge/formats/1x1.png'));
    const forcedAt = new Date(Date.now() - 1000).toISOString();
    const items = ['forced-q/notes.jpg', 'forced-q/034.png'].map((key) => ({
      bucket: SOURCE,
      key,
      force: true,
      forcedAt,
    }));
    const left = [200_000, 40_000];
    await expect(
      tasks.batch({ Items: items }, { getRemainingTimeInMillis: () => left.shift() ?? 40_000 } as never),
    ).rejects.toMatchObject({ name: 'Imgpipe.Transient' });
    const quarantine = new S3Storage(s3.client, QUARANTINE);
    const quarantined = async () => {
      const found: [string, string][] = [];
      for await (const object of quarantine.list('')) {
        if (object.key.includes('forced-q/')) found.push([object.key, object.etag]);
      }
      return found;
    };
    const first = await quarantined();
    expect(first.length).toBeGreaterThan(0);
    const whole = { getRemainingTimeInMillis: () => 270_000 } as never;
    expect(((await tasks.batch({ Items: items }, whole)) as BatchResult).counts).toEqual({
      duplicate: 1,
      processed: 1,
    });
    expect(await quarantined()).toEqual(first);
  });

  it('batch starts every object when maxSecondsPerImage is more than its invocation can ever give', async () => {
    // limits.maxSecondsPerImage 600 (it may be up to 900) and the batch function's 270 s: no
    // invocation has the 605 s budget, so waiting for it failed the second object of every batch,
    // on each retry alike (the first, done, comes back duplicate), and the batch never ended.
    const { tasks } = setup({ width: 30, maxSecondsPerImage: 600 });
    const items = ['archive/030.jpg', 'archive/031.png'].map((key) => ({
      bucket: SOURCE,
      key,
      force: false,
    }));
    const context = { getRemainingTimeInMillis: () => 265_000 };
    const first = (await tasks.batch({ Items: items }, context as never)) as BatchResult;
    expect(first.counts).toEqual({ processed: 2 });
    const again = (await tasks.batch({ Items: items }, context as never)) as BatchResult;
    expect(again.counts).toEqual({ duplicate: 2 });
  });

  it('batch is retried, not quarantining an object, when the earlier objects took the time it ran out of', async () => {
    // limits.maxSecondsPerImage 600 and the batch function's 270 s: every object starts with what
    // is left. The first takes 200 s of it (the clock moved during its encode); the second then
    // has 65 s and would take 61 s more (the clock again). Running out of the invocation's time is
    // the first object's doing, not its own: it was quarantined as too-slow, a valid image kept so
    // for good. The batch is retried, and the retry (the first object a duplicate) makes it.
    const realNow = performance.now.bind(performance);
    let offsetMs = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => realNow() + offsetMs);
    try {
      const takes = [200_000, 61_000];
      const encoder: Encoder = {
        ...inThreadEncoder,
        encode: (...args) => {
          offsetMs += takes.shift() ?? 0;
          return inThreadEncoder.encode(...args);
        },
      };
      const { tasks } = setup({ width: 36, maxSecondsPerImage: 600, encoder });
      const items = ['archive/036.jpg', 'archive/037.png'].map((key) => ({
        bucket: SOURCE,
        key,
        force: true,
      }));
      const invocation = () => {
        let startedAt: number | undefined;
        return {
          getRemainingTimeInMillis: () => {
            startedAt ??= performance.now();
            return Math.max(0, Math.round(startedAt + 265_000 - performance.now()));
          },
        } as never;
      };
      await expect(tasks.batch({ Items: items }, invocation())).rejects.toMatchObject({
        name: 'Imgpipe.Transient',
        message: expect.stringMatching(
          /^The batch ran out of time during s3:\/\/rp-uploads\/archive\/037\.png: InvocationTimeError: The invocation's time ran out/,
        ),
      });
      expect(await new S3Storage(s3.client, QUARANTINE).head('reasons/archive/037.png.json')).toBeUndefined();
      const retried = (await tasks.batch(
        { Items: items.map((item) => ({ ...item, force: false })) },
        invocation(),
      )) as BatchResult;
      expect(retried.counts).toEqual({ duplicate: 1, processed: 1 });
    } finally {
      clock.mockRestore();
    }
  });

  it('summarize reads the map’s ResultWriter files: succeeded batches counted, failed ones listed with their keys', async () => {
    const results = new S3Storage(s3.client, RESULTS);
    const put = (key: string, value: unknown) =>
      results.put(key, new TextEncoder().encode(JSON.stringify(value)), { contentType: 'application/json' });
    const run = 'reprocess/0b7e2f30-3a5e-3d4c-9a6e-6f1f2a1b9c0d';
    const child = (status: string, items: string[], extra: Record<string, unknown>) => ({
      ExecutionArn: `arn:aws:states:eu-west-1:123456789012:execution:imgpipe-test-reprocess/ByPrefix:${items[0]}`,
      Input: JSON.stringify({ Items: items.map((key) => ({ bucket: SOURCE, key, force: false })) }),
      InputDetails: { Included: true },
      Name: items[0],
      RedriveCount: 0,
      RedriveStatus: 'NOT_REDRIVABLE',
      StartDate: '2026-11-30T14:00:00.000Z',
      StateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-test-reprocess/ByPrefix',
      Status: status,
      StopDate: '2026-11-30T14:00:05.000Z',
      ...extra,
    });
    await put(`${run}/SUCCEEDED_0.json`, [
      child('SUCCEEDED', ['a.jpg', 'b.jpg'], {
        Output: JSON.stringify({ counts: { processed: 2 }, failures: [] }),
        OutputDetails: { Included: true },
      }),
      child('SUCCEEDED', ['c.jpg', 'd.jpg'], {
        Output: JSON.stringify({
          counts: { duplicate: 1, failed: 1 },
          failures: [{ key: 'd.jpg', reason: 'S3 get failed' }],
        }),
        OutputDetails: { Included: true },
      }),
    ]);
    await put(`${run}/FAILED_0.json`, [
      child('FAILED', ['e.jpg', 'f.jpg'], { Error: 'Imgpipe.Transient', Cause: 'The batch ran out of time' }),
    ]);
    await put(`${run}/manifest.json`, {
      DestinationBucket: RESULTS,
      MapRunArn: 'arn:aws:states:eu-west-1:123456789012:mapRun:imgpipe-test-reprocess/ByPrefix:0b7e2f30',
      ResultFiles: {
        FAILED: [{ Key: `${run}/FAILED_0.json`, Size: 1 }],
        PENDING: [],
        SUCCEEDED: [{ Key: `${run}/SUCCEEDED_0.json`, Size: 1 }],
      },
    });
    const { tasks } = setup();
    const summary = await tasks.summarize({
      // Three failed objects of six are tolerated here (the tolerance has tests of its own).
      request: { ...prefixRequest(2), toleratedFailurePercentage: 50 },
      results: {
        MapRunArn: 'arn:aws:states:eu-west-1:123456789012:mapRun:imgpipe-test-reprocess/ByPrefix:0b7e2f30',
        ResultWriterDetails: { Bucket: RESULTS, Key: `${run}/manifest.json` },
      },
      resultsBucket: RESULTS,
      execution: 'nightly',
    });
    expect(summary).toEqual({
      bucket: SOURCE,
      prefix: '',
      force: false,
      counts: { processed: 2, duplicate: 1, failed: 1 },
      failures: [{ key: 'd.jpg', reason: 'S3 get failed' }],
      failuresTotal: 1,
      failedBatches: [
        { error: 'Imgpipe.Transient: The batch ran out of time', objects: 2, keys: ['e.jpg', 'f.jpg'] },
      ],
      failedBatchesTotal: 1,
      location: `s3://${RESULTS}/reprocess/nightly/summary.json`,
    });
  });

  it('summarizes a map that had no items (an empty prefix), whose ResultWriter wrote no manifest, as a run of 0', async () => {
    // Step Functions documents no manifest for a map run without child executions: the map's
    // output still names one. A Summarize that read it failed the run (NoSuchKey) with no summary.
    const run = 'reprocess/7f3e9a10-0c1d-4e2f-9a3b-112233445566';
    const { tasks } = setup();
    const summary = await tasks.summarize({
      request: prefixRequest(10),
      results: {
        MapRunArn: 'arn:aws:states:eu-west-1:123456789012:mapRun:imgpipe-test-reprocess/ByPrefix:7f3e9a10',
        ResultWriterDetails: { Bucket: RESULTS, Key: `${run}/manifest.json` },
      },
      resultsBucket: RESULTS,
      execution: 'empty-prefix',
    });
    expect(summary).toEqual({
      bucket: SOURCE,
      prefix: '',
      force: false,
      counts: {},
      failures: [],
      failuresTotal: 0,
      failedBatches: [],
      failedBatchesTotal: 0,
      location: `s3://${RESULTS}/reprocess/empty-prefix/summary.json`,
    });
    // Result files without their manifest are not a run of 0: the error names the manifest.
    const results = new S3Storage(s3.client, RESULTS);
    const lost = 'reprocess/0c0c0c0c-1b2c-4d3e-8f90-aabbccddeeff';
    await results.put(`${lost}/SUCCEEDED_0.json`, new TextEncoder().encode('[]'), {
      contentType: 'application/json',
    });
    await expect(
      tasks.summarize({
        request: prefixRequest(10),
        results: { ResultWriterDetails: { Bucket: RESULTS, Key: `${lost}/manifest.json` } },
        resultsBucket: RESULTS,
        execution: 'lost-manifest',
      }),
    ).rejects.toThrow(
      `The map's ResultWriter manifest s3://${RESULTS}/${lost}/manifest.json does not exist, but its folder holds result files (${lost}/SUCCEEDED_0.json): the results cannot be read without it`,
    );
  });

  it('keeps the returned summary small whatever the failures; summary.json in S3 lists them', async () => {
    const results = new S3Storage(s3.client, RESULTS);
    const put = (key: string, value: unknown) =>
      results.put(key, new TextEncoder().encode(JSON.stringify(value)), { contentType: 'application/json' });
    const run = 'reprocess/5d2c1a80-1b2c-4d3e-8f90-aabbccddeeff';
    // Keys of 1,000 bytes, reasons naming them twice: 40 batches of 100 failed objects, 30 failed batches.
    const long = (i: number) => `${String(i).padStart(6, '0')}/${'k'.repeat(993)}`;
    const reason = (key: string) =>
      `AccessDenied: S3 get of s3://${SOURCE}/${key} failed: not allowed to read ${key}`;
    const succeeded = Array.from({ length: 40 }, (_, b) => ({
      Status: 'SUCCEEDED',
      Output: JSON.stringify({
        counts: { failed: 100 },
        failures: Array.from({ length: 100 }, (_, i) => ({
          key: long(b * 100 + i),
          reason: reason(long(b * 100 + i)),
        })),
      }),
    }));
    const failed = Array.from({ length: 30 }, (_, b) => ({
      Status: 'FAILED',
      Error: 'Imgpipe.Transient',
      Cause: 'x'.repeat(5000),
      Input: JSON.stringify({
        Items: Array.from({ length: 100 }, (_, i) => ({ bucket: SOURCE, key: long(10_000 + b * 100 + i) })),
      }),
    }));
    await put(`${run}/SUCCEEDED_0.json`, succeeded);
    await put(`${run}/FAILED_0.json`, failed);
    await put(`${run}/manifest.json`, {
      ResultFiles: {
        FAILED: [{ Key: `${run}/FAILED_0.json` }],
        SUCCEEDED: [{ Key: `${run}/SUCCEEDED_0.json` }],
      },
    });
    const { tasks } = setup();
    const summary = await tasks.summarize({
      request: prefixRequest(100),
      results: { ResultWriterDetails: { Bucket: RESULTS, Key: `${run}/manifest.json` } },
      resultsBucket: RESULTS,
      execution: 'huge',
    });
    // Far below Step Functions' 256 KB state output.
    expect(Buffer.byteLength(JSON.stringify(summary))).toBeLessThan(100 * 1024);
    expect(summary).toMatchObject({ counts: { failed: 4000 }, failuresTotal: 4000, failedBatchesTotal: 30 });
    expect(summary.failures).toHaveLength(20);
    expect(summary.failedBatches).toHaveLength(5);
    expect(summary.failedBatches[0]).toMatchObject({
      objects: 100,
      keys: [long(10_000), long(10_001), long(10_002), long(10_003), long(10_004)],
    });
    expect(summary.failedBatches[0]!.error.length).toBeLessThanOrEqual(500);
    // Every object failed: the run fails, its cause the summary with the first failures that fit
    // in a cause (Step Functions takes 32,768 characters).
    expect(summary.mapFailure).toBe(
      'Imgpipe.ToleranceExceeded: 7000 of 7000 objects failed, more than the 5 % the run tolerates (toleratedFailurePercentage)',
    );
    expect(summary.cause!.length).toBeLessThanOrEqual(16_000);
    const cause = JSON.parse(summary.cause!) as ReprocessSummary;
    expect(cause).toMatchObject({ counts: { failed: 4000 }, failuresTotal: 4000, failedBatchesTotal: 30 });
    expect(cause.failures.length).toBeGreaterThan(0);
    expect(cause.failures[0]).toEqual(summary.failures[0]);
    // The summary in S3 lists what the run's operator needs: 1,000 failures and every failed batch.
    const written = await getJson<ReprocessSummary>(results, 'reprocess/huge/summary.json', 64 * 1024 * 1024);
    expect(written.failures).toHaveLength(1000);
    expect(written.failedBatches).toHaveLength(30);
    expect(written.failedBatches[29]!.keys).toHaveLength(100);
  });

  it('says an upload run that timed out recorded nothing, and a failed one where its reason is', async () => {
    const arn = (name: string) =>
      `arn:aws:states:eu-west-1:123456789012:express:imgpipe-test-upload:${name}:1`;
    const { tasks } = setup();
    // In the workflow mode each batch returns one entry per object: its run's result or end.
    const summary = await tasks.summarize({
      request: prefixRequest(1),
      results: [
        [{ key: 'a.jpg', status: 'TIMED_OUT', execution: arn('a') }],
        [{ key: 'b.jpg', status: 'FAILED', execution: arn('b') }],
        [{ key: 'c.jpg', result: { status: 'processed' } }],
        // With its error and cause, as StartSyncExecution answered them (the definition's KeysFailed).
        [
          {
            key: 'd.jpg',
            status: 'FAILED',
            execution: arn('d'),
            failure: {
              Error: 'Imgpipe.Failed',
              Cause: JSON.stringify({ errorType: 'Imgpipe.Failed', errorMessage: 'The reprocessing failed' }),
            },
          },
        ],
      ],
      resultsBucket: RESULTS,
      execution: 'ended',
    });
    expect(summary.counts).toEqual({ failed: 3, processed: 1 });
    expect(summary.failures).toEqual([
      {
        key: 'a.jpg',
        reason: `the upload workflow's execution ${arn('a')} ended TIMED_OUT before it recorded an outcome (no Catch runs after an execution's timeout or abort): its status item is left as the run left it, and no Image Failed was sent`,
      },
      {
        key: 'b.jpg',
        reason: `the upload workflow's execution ${arn('b')} ended FAILED; its status item and Image Failed event say why`,
      },
      {
        key: 'd.jpg',
        reason: `the upload workflow's execution ${arn('d')} ended FAILED: Imgpipe.Failed: The reprocessing failed`,
      },
    ]);
  });

  it('refuses keys that would not fit in the execution input, naming their size', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `${i}/${'k'.repeat(900)}`);
    expect(() => parseReprocessRequest({ bucket: SOURCE, keys })).toThrow(
      /^Expected keys of at most 200,000 bytes together \(Step Functions' 256 KB execution input\) for event\.keys but received .* \(27\d,\d{3} bytes in 300 keys\)$/,
    );
  });
});
