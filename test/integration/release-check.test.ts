import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  CodeDeployClient,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { GetAliasCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../src/config/index.ts';
import type { RuntimeConfig } from '../../src/core/config.ts';
import { RELEASE_CHECK_OBJECTS } from '../../src/core/layout.ts';
import type { HandlerDeps } from '../../src/handlers/objects.ts';
import {
  createReleaseCheckHandler,
  type HookStage,
  REPORT_MARGIN_MS,
} from '../../src/handlers/release-check.ts';
import { createS3EventHandler } from '../../src/handlers/s3-event.ts';
import type { Manifest } from '../../src/pipeline/records.ts';
import { S3Storage } from '../../src/storage/s3.ts';
import { getJson } from '../../src/storage/types.ts';
import { readFixture } from '../support/fixtures.ts';
import { startTestS3 } from '../support/s3.ts';

/**
 * The release's CodeDeploy hooks with the real pipeline against a real S3 API server (s3rver):
 * "versions" of the function are S3 event handlers built over that server. CodeDeploy and the
 * Lambda control plane (GetDeployment, Invoke, GetAlias, PutLifecycleEventHookExecutionStatus)
 * have no local server, so they are mocked with aws-sdk-client-mock; Invoke runs the version the
 * request's Qualifier names.
 */
const SOURCE = 'release-source';
const OUTPUT = 'release-output';
const QUARANTINE = 'release-quarantine';
const FUNCTION = 'imgpipe-test';
const DEPLOYMENT = 'd-EXAMPLE123';
const HOOK_EXECUTION = 'hook-execution-1';

let s3: Awaited<ReturnType<typeof startTestS3>>;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, OUTPUT, QUARANTINE]);
});
afterAll(async () => {
  await s3?.stop();
});

const config = (env: Record<string, string> = {}): RuntimeConfig =>
  loadRuntimeConfig({
    IMGPIPE_OUTPUT_BUCKET: OUTPUT,
    IMGPIPE_QUARANTINE_BUCKET: QUARANTINE,
    IMGPIPE_QUARANTINE_PREFIX: '',
    IMGPIPE_CONFIG: JSON.stringify({
      variants: [
        { name: 'large', width: 1200 },
        { name: 'small', width: 320 },
      ],
      formats: { jpeg: {}, webp: {} },
    }),
    ...env,
  });

const quiet = () => ({
  logger: new Logger({ serviceName: 'imgpipe-test', logLevel: 'CRITICAL' }),
  metrics: new Metrics({ serviceName: 'imgpipe-test', namespace: 'imgpipe-test' }),
});

function depsFor(runtime: RuntimeConfig): HandlerDeps {
  return {
    config: runtime,
    sourceStorage: (bucket) => new S3Storage(s3.client, bucket),
    output: new S3Storage(s3.client, runtime.outputBucket),
    quarantine: new S3Storage(s3.client, runtime.quarantineBucket),
    ...quiet(),
  };
}

/** A good version, and a bad one: its pixel limit quarantines the photo as too large. */
const versions: Record<string, ReturnType<typeof createS3EventHandler>> = {};
const codedeploy = new CodeDeployClient({ region: 'eu-west-1' });
const lambda = new LambdaClient({ region: 'eu-west-1' });
const codedeployMock = mockClient(codedeploy);
const lambdaMock = mockClient(lambda);
let alias: { FunctionVersion: string; RoutingConfig?: { AdditionalVersionWeights: Record<string, number> } };

function deployment(currentVersion: string, targetVersion: string) {
  const appSpec = {
    version: 0.0,
    Resources: [
      {
        imgpipe: {
          Type: 'AWS::Lambda::Function',
          Properties: {
            Name: FUNCTION,
            Alias: 'live',
            CurrentVersion: currentVersion,
            TargetVersion: targetVersion,
          },
        },
      },
    ],
  };
  codedeployMock.on(GetDeploymentCommand, { deploymentId: DEPLOYMENT }).resolves({
    deploymentInfo: {
      deploymentId: DEPLOYMENT,
      revision: { revisionType: 'AppSpecContent', appSpecContent: { content: JSON.stringify(appSpec) } },
    },
  });
}

beforeEach(async () => {
  codedeployMock.reset();
  lambdaMock.reset();
  versions['7'] = createS3EventHandler(depsFor(config()));
  versions['8'] = createS3EventHandler(depsFor(config()));
  versions['9'] = createS3EventHandler(depsFor(config({ IMGPIPE_MAX_PIXELS: '1000' })));
  alias = { FunctionVersion: '8' };
  codedeployMock.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
  lambdaMock.on(GetAliasCommand).callsFake(async () => alias);
  lambdaMock.on(InvokeCommand).callsFake(async (input) => {
    expect(input.FunctionName).toBe(FUNCTION);
    const version = input.Qualifier === 'live' ? alias.FunctionVersion : input.Qualifier;
    const run = versions[version];
    if (!run) return { StatusCode: 404 };
    const event = JSON.parse(new TextDecoder().decode(input.Payload));
    try {
      const result = await run(event);
      return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(result)) };
    } catch (error) {
      return {
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: new TextEncoder().encode(JSON.stringify({ errorMessage: String(error) })),
      };
    }
  });
  for (const object of RELEASE_CHECK_OBJECTS)
    await s3.client.send(
      new PutObjectCommand({
        Bucket: SOURCE,
        Key: object.key,
        Body: readFixture(object.fixture.replace(/^fixtures\//, '')),
      }),
    );
});

function hook(stage: HookStage) {
  return createReleaseCheckHandler(
    depsFor(config()),
    stage,
    { IMGPIPE_RELEASE_CHECK_BUCKET: SOURCE },
    { codedeploy, lambda },
  );
}

const event = { DeploymentId: DEPLOYMENT, LifecycleEventHookExecutionId: HOOK_EXECUTION };
const reported = () =>
  codedeployMock.commandCalls(PutLifecycleEventHookExecutionStatusCommand).map((call) => call.args[0].input);

describe('BeforeAllowTraffic (index.releaseCheck)', () => {
  it('runs the target version on the known objects and reports Succeeded', async () => {
    deployment('7', '8');
    // Both objects were checked before (the photo's manifest and the bad file's quarantine record
    // exist): the check must run them again anyway, not count them as duplicates.
    const earlier = await versions['7']!({
      Records: RELEASE_CHECK_OBJECTS.map((object) => ({
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: SOURCE }, object: { key: object.key } },
      })),
    });
    expect(earlier.records.map((r: { status: string }) => r.status)).toEqual(['processed', 'quarantined']);
    const result = await hook('BeforeAllowTraffic')(event);
    expect(result.problems).toEqual([]);
    expect(result.status).toBe('Succeeded');
    expect(reported()).toEqual([
      { deploymentId: DEPLOYMENT, lifecycleEventHookExecutionId: HOOK_EXECUTION, status: 'Succeeded' },
    ]);
    const qualifiers = lambdaMock.commandCalls(InvokeCommand).map((call) => call.args[0].input.Qualifier);
    expect(qualifiers).toEqual(['8', '8']);
    const manifest = await getJson<Manifest>(
      new S3Storage(s3.client, OUTPUT),
      `manifests/${RELEASE_CHECK_OBJECTS[0].key}.json`,
    );
    expect(manifest.outputs.map((o) => `${o.variant}.${o.format}`).sort()).toEqual([
      'large.jpeg',
      'large.webp',
      'small.jpeg',
      'small.webp',
    ]);
  });

  it('reports Failed for a version that quarantines the photo', async () => {
    deployment('8', '9');
    const result = await hook('BeforeAllowTraffic')(event);
    expect(result.status).toBe('Failed');
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(
      /^imgpipe-test:9 on imgpipe-release-check\/photo\.jpg: expected processed but the outcome was .*"status":"quarantined"/,
    );
    expect(reported()).toEqual([
      { deploymentId: DEPLOYMENT, lifecycleEventHookExecutionId: HOOK_EXECUTION, status: 'Failed' },
    ]);
  });

  it('reports Failed when the version throws, or a check object is missing', async () => {
    deployment('8', '10');
    const missingVersion = await hook('BeforeAllowTraffic')(event);
    expect(missingVersion.status).toBe('Failed');
    expect(missingVersion.problems[0]).toMatch(/answered without records|failed/);

    deployment('7', '8');
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: RELEASE_CHECK_OBJECTS[1].key }));
    const missingObject = await hook('BeforeAllowTraffic')(event);
    expect(missingObject.status).toBe('Failed');
    expect(missingObject.problems).toEqual([
      `The release check object s3://${SOURCE}/${RELEASE_CHECK_OBJECTS[1].key} is missing: the release workflow uploads it (terraform/README.md, "Releases")`,
    ]);
    expect(reported().map((r) => r.status)).toEqual(['Failed', 'Failed']);
  });

  it('reports Failed before its own timeout when the version under test never answers', async () => {
    deployment('7', '8');
    // The version hangs (Invoke never answers, as a function stuck until its timeout would).
    const aborted: boolean[] = [];
    lambdaMock.on(InvokeCommand).callsFake(
      () =>
        new Promise(() => {
          aborted.push(false);
        }),
    );
    // 5 s left before the hook's margin for reporting: time enough to upload the check objects
    // on a loaded machine (with 0.5 s, a slow upload was cut short before any Invoke).
    const context = { getRemainingTimeInMillis: () => REPORT_MARGIN_MS + 5_000 } as Context;
    const result = await hook('BeforeAllowTraffic')(event, context);
    expect(result).toEqual({
      status: 'Failed',
      problems: [
        "The BeforeAllowTraffic check did not finish within 5 s (the hook's timeout less 15 s to report): the version under test did not answer in time",
      ],
    });
    expect(reported()).toEqual([
      { deploymentId: DEPLOYMENT, lifecycleEventHookExecutionId: HOOK_EXECUTION, status: 'Failed' },
    ]);
    // Both check objects were sent at once: the hook's timeout covers one run of the function.
    expect(aborted).toHaveLength(2);
  }, 30_000);

  it('reports Failed when the hook is misconfigured (no check bucket), once it knows the hook event', async () => {
    const misconfigured = createReleaseCheckHandler(
      depsFor(config()),
      'BeforeAllowTraffic',
      {},
      {
        codedeploy,
        lambda,
      },
    );
    const result = await misconfigured(event);
    expect(result).toEqual({
      status: 'Failed',
      problems: [
        'IMGPIPE_RELEASE_CHECK_BUCKET is not set: the release hooks need the source bucket holding the release check objects',
      ],
    });
    expect(reported()).toEqual([
      { deploymentId: DEPLOYMENT, lifecycleEventHookExecutionId: HOOK_EXECUTION, status: 'Failed' },
    ]);
    // An event it cannot read still throws: there is no hook execution to report to.
    await expect(misconfigured({})).rejects.toThrow(/Expected a CodeDeploy lifecycle hook event/);
  });

  it('refuses an event that is not a lifecycle hook event, reporting nothing', async () => {
    await expect(hook('BeforeAllowTraffic')({ Records: [] })).rejects.toThrow(
      /Expected a CodeDeploy lifecycle hook event with DeploymentId and LifecycleEventHookExecutionId/,
    );
    expect(reported()).toEqual([]);
  });
});

describe('AfterAllowTraffic (index.releaseCheckAfter)', () => {
  it('checks that the alias routes to the target alone and processes the photo through it', async () => {
    deployment('7', '8');
    const result = await hook('AfterAllowTraffic')(event);
    expect(result.problems).toEqual([]);
    expect(reported().map((r) => r.status)).toEqual(['Succeeded']);
    expect(lambdaMock.commandCalls(InvokeCommand).map((call) => call.args[0].input.Qualifier)).toEqual([
      'live',
    ]);
  });

  it('reports Failed while the alias still routes part of the traffic elsewhere', async () => {
    deployment('7', '8');
    alias = { FunctionVersion: '7', RoutingConfig: { AdditionalVersionWeights: { '8': 0.1 } } };
    const result = await hook('AfterAllowTraffic')(event);
    expect(result.status).toBe('Failed');
    expect(result.problems[0]).toBe(
      'imgpipe-test:live routes to version 7 with weights {"8":0.1}, not to version 8 alone',
    );
    expect(reported().map((r) => r.status)).toEqual(['Failed']);
  });
});
