import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  CodeDeployClient,
  GetDeploymentCommand,
  LifecycleEventStatus,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { GetAliasCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ENV } from '../config/settings.ts';
import { awsHttpLimits } from '../core/aws.ts';
import type { Env, RuntimeConfig } from '../core/config.ts';
import { describeError } from '../core/errors.ts';
import { BucketLayout, RELEASE_CHECK_OBJECTS } from '../core/layout.ts';
import type { Manifest } from '../pipeline/records.ts';
import { getJson, type Storage } from '../storage/types.ts';
import type { HandlerDeps, RecordResult } from './objects.ts';
import { type LambdaHandler, lambdaHandler } from './wrap.ts';

/**
 * The release's CodeDeploy hooks (terraform/modules/imgpipe/codedeploy.tf): functions of their own
 * running the same image with `index.releaseCheck` (BeforeAllowTraffic) and
 * `index.releaseCheckAfter` (AfterAllowTraffic).
 *
 * Before any traffic moves, the new version (TargetVersion of the deployment's AppSpec) is invoked
 * directly with an S3 event for each known object under RELEASE_CHECK_PREFIX of the source bucket
 * (core/layout.ts): the photo must come back `processed` with a manifest listing every variant in
 * every format, each output present at its size; the text file must come back `quarantined` with
 * its reason record. After the shift, the alias must route to the target version alone, and the
 * photo must be processed through it. The photo's manifest is deleted first each time, or the run
 * would be a `duplicate` and prove nothing. The verdict goes to CodeDeploy
 * (PutLifecycleEventHookExecutionStatus): Failed stops the deployment and CodeDeploy rolls back.
 */
export interface ReleaseCheckDeps {
  readonly config: RuntimeConfig;
  /** The source bucket holding the check objects (IMGPIPE_RELEASE_CHECK_BUCKET), and its storage. */
  readonly sourceBucket: string;
  readonly source: Storage;
  readonly output: Storage;
  readonly quarantine: Storage;
  readonly codedeploy: CodeDeployClient;
  readonly lambda: LambdaClient;
  readonly logger: Logger;
}

/** What CodeDeploy invokes a Lambda hook with. */
export interface LifecycleHookEvent {
  readonly DeploymentId: string;
  readonly LifecycleEventHookExecutionId: string;
}

/** The AppSpec's one resource (AWS::Lambda::Function) as the release workflow writes it. */
export interface AppSpecTarget {
  readonly name: string;
  readonly alias: string;
  readonly currentVersion: string;
  readonly targetVersion: string;
}

export type HookStage = 'BeforeAllowTraffic' | 'AfterAllowTraffic';

export interface CheckResult {
  readonly status: 'Succeeded' | 'Failed';
  readonly target?: AppSpecTarget;
  readonly problems: readonly string[];
}

export class ReleaseCheckError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReleaseCheckError';
  }
}

export function parseHookEvent(event: unknown): LifecycleHookEvent {
  const e = event as Partial<LifecycleHookEvent> | null;
  if (!e || typeof e.DeploymentId !== 'string' || typeof e.LifecycleEventHookExecutionId !== 'string')
    throw new ReleaseCheckError(
      `Expected a CodeDeploy lifecycle hook event with DeploymentId and LifecycleEventHookExecutionId but received ${JSON.stringify(event)?.slice(0, 200)}`,
    );
  return { DeploymentId: e.DeploymentId, LifecycleEventHookExecutionId: e.LifecycleEventHookExecutionId };
}

/** The function, alias and versions of a deployment, from its AppSpec (JSON, as the workflow writes it). */
export function parseAppSpec(content: string): AppSpecTarget {
  let spec: { Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }>[] };
  try {
    spec = JSON.parse(content);
  } catch (error) {
    throw new ReleaseCheckError(`The deployment's AppSpec is not JSON: ${describeError(error)}`, {
      cause: error,
    });
  }
  const resources = (spec.Resources ?? []).flatMap((entry) => Object.values(entry));
  const fn = resources.find((r) => r.Type === 'AWS::Lambda::Function');
  const p = fn?.Properties ?? {};
  const field = (name: string) => {
    const value = p[name];
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new ReleaseCheckError(
        `The deployment's AppSpec has no ${name} for an AWS::Lambda::Function resource`,
      );
    return String(value);
  };
  return {
    name: field('Name'),
    alias: field('Alias'),
    currentVersion: field('CurrentVersion'),
    targetVersion: field('TargetVersion'),
  };
}

export function createReleaseCheck(deps: ReleaseCheckDeps, stage: HookStage) {
  const { config, logger } = deps;
  const layout = new BucketLayout(config.pipeline, config.quarantinePrefix);

  async function target(deploymentId: string, signal: AbortSignal): Promise<AppSpecTarget> {
    const { deploymentInfo } = await deps.codedeploy.send(new GetDeploymentCommand({ deploymentId }), {
      abortSignal: signal,
    });
    const revision = deploymentInfo?.revision;
    const content = revision?.appSpecContent?.content ?? revision?.string?.content;
    if (!content)
      throw new ReleaseCheckError(
        `Deployment ${deploymentId} has no AppSpec content (revision ${revision?.revisionType})`,
      );
    return parseAppSpec(content);
  }

  /** An S3 ObjectCreated notification for one check object, as S3 writes it (URL-encoded key). */
  async function eventFor(key: string) {
    const head = await deps.source.head(key);
    if (!head)
      throw new ReleaseCheckError(
        `The release check object s3://${deps.sourceBucket}/${key} is missing: the release workflow uploads it (terraform/README.md, "Releases")`,
      );
    return {
      Records: [
        {
          eventVersion: '2.1',
          eventSource: 'aws:s3',
          eventName: 'ObjectCreated:Put',
          eventTime: new Date().toISOString(),
          s3: {
            s3SchemaVersion: '1.0',
            bucket: { name: deps.sourceBucket, arn: `arn:aws:s3:::${deps.sourceBucket}` },
            object: {
              key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'),
              size: head.size,
              ...(head.etag ? { eTag: head.etag.replace(/"/g, '') } : {}),
            },
          },
        },
      ],
    };
  }

  async function invoke(
    functionName: string,
    qualifier: string,
    payload: unknown,
    signal: AbortSignal,
  ): Promise<RecordResult[]> {
    const response = await deps.lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        Qualifier: qualifier,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
      // Never past the hook's deadline: the invoke answers only when the function ends.
      { abortSignal: signal },
    );
    const body = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    if (response.FunctionError)
      throw new ReleaseCheckError(
        `${functionName}:${qualifier} failed (${response.FunctionError}): ${body.slice(0, 500)}`,
      );
    const records = (JSON.parse(body || '{}') as { records?: RecordResult[] }).records;
    if (!Array.isArray(records))
      throw new ReleaseCheckError(
        `${functionName}:${qualifier} answered without records: ${body.slice(0, 500)}`,
      );
    return records;
  }

  /** The problems with one check object's outcome; none when it ended as it must. */
  async function check(
    functionName: string,
    qualifier: string,
    object: (typeof RELEASE_CHECK_OBJECTS)[number],
    signal: AbortSignal,
  ): Promise<string[]> {
    const where = `${functionName}:${qualifier} on ${object.key}`;
    const manifestKey = layout.manifestKey(object.key);
    // Without these the objects are duplicates of the last check's, and would prove nothing: the
    // photo's outputs and the bad file's quarantine are made again by the version under test.
    await deps.output.delete(manifestKey);
    if (object.expect === 'quarantined')
      await deps.quarantine.delete(layout.quarantineKeys(object.key).reason);
    const records = await invoke(functionName, qualifier, await eventFor(object.key), signal);
    const record = records.find((r) => r.key === object.key);
    if (record?.status !== object.expect)
      return [
        `${where}: expected ${object.expect} but the outcome was ${record ? JSON.stringify(record) : 'missing'}`,
      ];
    if (object.expect === 'quarantined') {
      const reason = layout.quarantineKeys(object.key).reason;
      return (await deps.quarantine.head(reason))
        ? []
        : [`${where}: quarantined without its reason record ${reason}`];
    }
    let manifest: Manifest;
    try {
      manifest = await getJson<Manifest>(deps.output, manifestKey);
    } catch (error) {
      return [`${where}: processed, but its manifest ${manifestKey} cannot be read: ${describeError(error)}`];
    }
    const problems: string[] = [];
    for (const variant of config.pipeline.variants) {
      for (const format of variant.formats) {
        const entry = manifest.outputs.find((o) => o.variant === variant.name && o.format === format);
        if (!entry) {
          problems.push(`${where}: the manifest lists no ${variant.name} ${format} output`);
          continue;
        }
        const stored = await deps.output.head(entry.key);
        if (!stored || stored.size !== entry.bytes || entry.bytes === 0)
          problems.push(
            `${where}: output ${entry.key} is ${stored ? `${stored.size} bytes` : 'missing'}, the manifest says ${entry.bytes}`,
          );
      }
    }
    return problems;
  }

  async function run(deploymentId: string, signal: AbortSignal): Promise<CheckResult> {
    let spec: AppSpecTarget | undefined;
    try {
      spec = await target(deploymentId, signal);
      const problems: string[] = [];
      let qualifier = spec.targetVersion;
      if (stage === 'AfterAllowTraffic') {
        const alias = await deps.lambda.send(
          new GetAliasCommand({ FunctionName: spec.name, Name: spec.alias }),
          { abortSignal: signal },
        );
        const weights = alias.RoutingConfig?.AdditionalVersionWeights ?? {};
        if (alias.FunctionVersion !== spec.targetVersion || Object.keys(weights).length > 0)
          problems.push(
            `${spec.name}:${spec.alias} routes to version ${alias.FunctionVersion} with weights ${JSON.stringify(weights)}, not to version ${spec.targetVersion} alone`,
          );
        qualifier = spec.alias;
      }
      const objects =
        stage === 'AfterAllowTraffic' ? RELEASE_CHECK_OBJECTS.slice(0, 1) : RELEASE_CHECK_OBJECTS;
      // At once: the hook's timeout (codedeploy.tf) covers one run of the function, not one per object.
      const name = spec.name;
      for (const found of await Promise.all(objects.map((object) => check(name, qualifier, object, signal))))
        problems.push(...found);
      return { status: problems.length === 0 ? 'Succeeded' : 'Failed', target: spec, problems };
    } catch (error) {
      const problem = error instanceof ReleaseCheckError ? error.message : describeError(error);
      return { status: 'Failed', ...(spec ? { target: spec } : {}), problems: [problem] };
    }
  }

  /**
   * The hook: checks, then reports the verdict to CodeDeploy. Throws only when it cannot report.
   * With the invocation's remaining time, the check has until REPORT_MARGIN_MS before the end: a
   * check still running then (a version that hangs) is reported Failed, rather than never reported
   * and left for CodeDeploy's own hour-long wait.
   */
  return async (event: unknown, remainingMs?: number): Promise<CheckResult> => {
    const hook = parseHookEvent(event);
    const result = await withDeadline(stage, remainingMs, (signal) => run(hook.DeploymentId, signal));
    await reportVerdict(deps.codedeploy, logger, stage, hook, result);
    return result;
  };
}

/** What the hook keeps of its invocation's time to report its verdict to CodeDeploy. */
export const REPORT_MARGIN_MS = 15_000;

/** The check, or a Failed result once its time (the remaining time less the margin) is up. */
async function withDeadline(
  stage: HookStage,
  remainingMs: number | undefined,
  check: (signal: AbortSignal) => Promise<CheckResult>,
): Promise<CheckResult> {
  const controller = new AbortController();
  if (remainingMs === undefined) return check(controller.signal);
  const budgetMs = Math.max(0, remainingMs - REPORT_MARGIN_MS);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({
        status: 'Failed',
        problems: [
          `The ${stage} check did not finish within ${Math.round(budgetMs / 1000)} s (the hook's timeout less ${REPORT_MARGIN_MS / 1000} s to report): the version under test did not answer in time`,
        ],
      });
    }, budgetMs);
  });
  try {
    return await Promise.race([check(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

async function reportVerdict(
  codedeploy: CodeDeployClient,
  logger: Logger,
  stage: HookStage,
  hook: LifecycleHookEvent,
  result: CheckResult,
): Promise<void> {
  const log = { stage, deploymentId: hook.DeploymentId, ...result };
  if (result.status === 'Succeeded') logger.info('Release check passed', log);
  else logger.error('Release check failed', log);
  await codedeploy.send(
    new PutLifecycleEventHookExecutionStatusCommand({
      deploymentId: hook.DeploymentId,
      lifecycleEventHookExecutionId: hook.LifecycleEventHookExecutionId,
      status: result.status === 'Succeeded' ? LifecycleEventStatus.SUCCEEDED : LifecycleEventStatus.FAILED,
    }),
  );
}

/**
 * The entry points (`index.releaseCheck`, `index.releaseCheckAfter`) over the dependencies every
 * entry point shares. The bucket is read per invocation, so the other entry points of the image,
 * which never set it, start as before.
 */
export function createReleaseCheckHandler(
  deps: HandlerDeps,
  stage: HookStage,
  env: Env = process.env,
  clients: { codedeploy?: CodeDeployClient; lambda?: LambdaClient } = {},
): LambdaHandler<CheckResult> {
  let check: ((event: unknown, remainingMs?: number) => Promise<CheckResult>) | undefined;
  const trace = <T extends object>(client: T): T => deps.tracer?.captureAWSv3Client(client) ?? client;
  let codedeploy = clients.codedeploy;
  return lambdaHandler(deps, async (event, context) => {
    const hook = parseHookEvent(event);
    codedeploy ??= trace(new CodeDeployClient({ requestHandler: awsHttpLimits() }));
    let result: CheckResult;
    if (!check) {
      const bucket = env[ENV.releaseCheckBucket]?.trim();
      if (!bucket) {
        // A configuration error is a verdict too: unreported, CodeDeploy would wait an hour.
        result = {
          status: 'Failed',
          problems: [
            `${ENV.releaseCheckBucket} is not set: the release hooks need the source bucket holding the release check objects`,
          ],
        };
        await reportVerdict(codedeploy, deps.logger, stage, hook, result);
        deps.metrics.addMetric(`ReleaseChecks${result.status}`, MetricUnit.Count, 1);
        return result;
      }
      check = createReleaseCheck(
        {
          config: deps.config,
          sourceBucket: bucket,
          source: deps.sourceStorage(bucket),
          output: deps.output,
          quarantine: deps.quarantine,
          codedeploy,
          // A synchronous invoke answers when the function ends: a connect limit but no idle
          // limit (core/aws.ts); the hook's deadline aborts it (REPORT_MARGIN_MS before the end).
          lambda: clients.lambda ?? trace(new LambdaClient({ requestHandler: { connectionTimeout: 3_000 } })),
          logger: deps.logger,
        },
        stage,
      );
    }
    result = await check(event, context?.getRemainingTimeInMillis());
    deps.metrics.addMetric(`ReleaseChecks${result.status}`, MetricUnit.Count, 1);
    return result;
  });
}
