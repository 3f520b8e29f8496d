import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildArtifact } from '../../scripts/build.ts';
import { type LocalDynamo, startLocalDynamo } from '../../src/cli/local-dynamodb.ts';
import { buildS3Notification, LOCAL_CREDENTIALS } from '../../src/cli/local-s3.ts';
import { decode } from '../../src/codecs/index.ts';
import type { InputFormat } from '../../src/core/formats.ts';
import { IMAGE_ENV } from '../../src/core/runtime.ts';
import type { Manifest } from '../../src/pipeline/records.ts';
import { DynamoStatusStore } from '../../src/status/dynamodb.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import { getJson } from '../../src/storage/types.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { readFixture } from '../support/fixtures.ts';
import { type RuntimeApi, startRuntimeApi } from '../support/runtime-api.ts';
import { startTestS3 } from '../support/s3.ts';

/**
 * Runtime parity: the built artifact, alone in an empty folder (no node_modules), started the way
 * the Lambda base image starts it — the real runtime interface client (aws-lambda-ric) running
 * `index.handler` under Node 24 against a Runtime API — processing real S3 events against a real
 * S3 API server, with the status table on (DynamoDB's API served by dynalite). There is no Docker
 * engine here; this is the image's runtime stage without the image.
 */
const RIC = join(REPO_ROOT, 'test/lambda-runtime/node_modules/aws-lambda-ric/index.mjs');
const ricInstalled = existsSync(RIC);
if (!ricInstalled) {
  const message = `aws-lambda-ric is not installed at ${RIC}: run \`npm run setup:ric\` (needs autoconf automake libtool cmake g++)`;
  if (process.env.IMGPIPE_REQUIRE_TOOLS === '1') throw new Error(message);
  console.warn(`[skip] ${message}`);
}

describe.skipIf(!ricInstalled)('the built artifact under the Lambda runtime interface client', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let dynamo: LocalDynamo;
  let status: DynamoStatusStore;
  let api: RuntimeApi;
  let runtime: ChildProcess;
  let taskRoot: string;
  let output = '';
  let startedAt = 0;

  beforeAll(async () => {
    s3 = await startTestS3(['uploads', 'variants', 'rejected']);
    dynamo = await startLocalDynamo();
    await dynamo.createStatusTable('imgpipe-status');
    status = new DynamoStatusStore(dynamo.client, 'imgpipe-status');
    const build = await buildArtifact(mkdtempSync(join(tmpdir(), 'imgpipe-build-')));
    taskRoot = mkdtempSync(join(tmpdir(), 'imgpipe-task-'));
    cpSync(build.outdir, taskRoot, { recursive: true });
    rmSync(build.outdir, { recursive: true, force: true });
    api = await startRuntimeApi('arn:aws:lambda:us-east-1:000000000000:function:imgpipe');
    startedAt = performance.now();
    // Any fetch() would mean the codecs reach for the network at init: make it fail loudly.
    const noFetch = `data:text/javascript,globalThis.fetch=()=>{throw new Error('fetch() called: nothing may be fetched at run time')}`;
    runtime = spawn(process.execPath, ['--import', noFetch, RIC, 'index.handler'], {
      cwd: taskRoot,
      env: {
        PATH: process.env.PATH,
        ...IMAGE_ENV,
        AWS_LAMBDA_RUNTIME_API: api.address,
        _HANDLER: 'index.handler',
        LAMBDA_TASK_ROOT: taskRoot,
        AWS_LAMBDA_FUNCTION_NAME: 'imgpipe',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '3538',
        AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/imgpipe',
        AWS_LAMBDA_LOG_STREAM_NAME: '2026/11/27/[$LATEST]local',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        IMGPIPE_STATUS_TABLE: 'imgpipe-status',
        IMGPIPE_S3_FORCE_PATH_STYLE: 'true',
        IMGPIPE_OUTPUT_BUCKET: 'variants',
        IMGPIPE_QUARANTINE_BUCKET: 'rejected',
        IMGPIPE_QUARANTINE_PREFIX: '',
        IMGPIPE_CONFIG: JSON.stringify({ formats: { jpeg: {}, webp: {}, avif: { speed: 8 } } }),
        POWERTOOLS_METRICS_NAMESPACE: 'imgpipe',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runtime.stdout!.on('data', (chunk) => (output += chunk));
    runtime.stderr!.on('data', (chunk) => (output += chunk));
  });

  afterAll(async () => {
    runtime?.kill('SIGKILL');
    await api?.close();
    await s3?.stop();
    await dynamo?.close();
    if (taskRoot) rmSync(taskRoot, { recursive: true, force: true });
  });

  it('runs from a folder holding only the artifact', () => {
    expect(readdirSync(taskRoot).sort()).toEqual([
      'THIRD-PARTY-NOTICES.md',
      'encode-worker.mjs',
      'index.mjs',
      'index.mjs.LEGAL.txt',
      'wasm',
    ]);
  });

  it('initialises, then processes an S3 ObjectCreated event into decodable variants and a manifest', async () => {
    const body = readFixture('photos/landscape-picos-de-europa.jpg');
    const put = await s3.client.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'trip/day 1.jpg', Body: body }),
    );
    const result = await api.invoke(
      buildS3Notification({ bucket: 'uploads', key: 'trip/day 1.jpg', size: body.length, etag: put.ETag }),
    );
    const initMs = api.firstNextAt()! - startedAt;
    console.log(
      `[lambda-runtime] init: ${initMs.toFixed(0)} ms from process start to the first /next request`,
    );
    expect(api.initError()).toBeUndefined();
    expect(result, output).toMatchObject({
      ok: true,
      body: { records: [{ key: 'trip/day 1.jpg', status: 'processed' }] },
    });

    const variants = new S3Storage(s3.client, 'variants');
    const manifest = await getJson<Manifest>(variants, 'manifests/trip/day 1.jpg.json');
    expect(manifest.outputs).toHaveLength(9);
    for (const entry of manifest.outputs) {
      const object = await variants.get(entry.key);
      const image = await decode(entry.format as InputFormat, object.body);
      expect([image.width, image.height]).toEqual([entry.width, entry.height]);
    }
    // One structured log line for the object, as CloudWatch would receive it.
    expect(output).toMatch(/"outcome":"processed","bucket":"uploads","key":"trip\/day 1\.jpg"/);
    expect(await status.get('uploads', 'trip/day 1.jpg')).toMatchObject({
      status: 'processed',
      outputs: 9,
      manifestKey: 'manifests/trip/day 1.jpg.json',
    });
  });

  it.each([
    ['edge/orientation/heic-grid-irot3-orientation-6.heic', 'heic', { converted: false }, [192, 128]],
    ['edge/colour/p3-card.jpg', 'jpeg', { converted: true, source: 'APP2' }, [96, 64]],
    ['edge/formats/cmyk.jpg', 'jpeg', { converted: true, source: 'default-cmyk' }, [480, 360]],
    ['edge/animated/card-3-frames.gif', 'gif', { converted: false }, [96, 64]],
  ] as const)(
    'reads %s with the image’s own libheif, Little CMS and CMYK profile files',
    async (fixture, format, colour, [width, height]) => {
      const body = readFixture(fixture);
      const key = `phone/${fixture.split('/').pop()}`;
      const put = await s3.client.send(new PutObjectCommand({ Bucket: 'uploads', Key: key, Body: body }));
      const result = await api.invoke(
        buildS3Notification({ bucket: 'uploads', key, size: body.length, etag: put.ETag }),
      );
      expect(result, output).toMatchObject({ ok: true, body: { records: [{ key, status: 'processed' }] } });
      const manifest = await getJson<Manifest>(new S3Storage(s3.client, 'variants'), `manifests/${key}.json`);
      expect(manifest.source).toMatchObject({ format, displayWidth: width, displayHeight: height, colour });
    },
  );

  it('quarantines a corrupt file and reports the invocation as successful', async () => {
    const body = readFixture('edge/broken/corrupt-entropy.jpg');
    await s3.client.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'bad.jpg', Body: body }));
    const result = await api.invoke(
      buildS3Notification({ bucket: 'uploads', key: 'bad.jpg', size: body.length }),
    );
    expect(result).toMatchObject({
      ok: true,
      body: { records: [{ key: 'bad.jpg', status: 'quarantined', reason: 'corrupt' }] },
    });
    const rejected = new S3Storage(s3.client, 'rejected');
    expect((await rejected.get('objects/bad.jpg')).size).toBe(body.length);
    expect(await getJson<{ reason: string }>(rejected, 'reasons/bad.jpg.json')).toMatchObject({
      reason: 'corrupt',
    });
    expect(await status.get('uploads', 'bad.jpg')).toMatchObject({
      status: 'quarantined',
      reason: 'corrupt',
    });
  });
});
