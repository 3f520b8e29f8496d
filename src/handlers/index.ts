import { RekognitionClient } from '@aws-sdk/client-rekognition';
import { loadModerationConfig } from '../config/workflow.ts';
import { awsHttpLimits } from '../core/aws.ts';
import { RekognitionModerator } from '../moderation/rekognition.ts';
import { createApiHandler } from './api.ts';
import { createLambdaDeps } from './lambda.ts';
import { createReleaseCheckHandler } from './release-check.ts';
import { createReprocessTasks } from './reprocess.ts';
import { createS3EventHandler } from './s3-event.ts';
import { createTransformHandler } from './transform.ts';
import { createWorkflowTasks } from './workflow.ts';

/**
 * The Lambda entry points, built once at cold start. The image's CMD is `index.handler` (S3
 * events); every other entry point is a task of a state machine (terraform/modules/workflow),
 * selected by overriding the command: the per-upload workflow's `index.workflow*` and bulk
 * reprocessing's `index.reprocess*`; `index.api` is the HTTP API behind API Gateway and
 * `index.transform` on-demand transformations behind a function URL; `index.releaseCheck` and
 * `index.releaseCheckAfter` are the release's CodeDeploy hooks. The malware scanner is an
 * image of its own (scanner/).
 */
const deps = await createLambdaDeps();
export const handler = createS3EventHandler(deps);
export const api = createApiHandler(deps);

const moderation = loadModerationConfig(process.env);
const workflow = createWorkflowTasks({
  ...deps,
  moderator: new RekognitionModerator(
    deps.tracer
      ? deps.tracer.captureAWSv3Client(new RekognitionClient({ requestHandler: awsHttpLimits() }))
      : new RekognitionClient({ requestHandler: awsHttpLimits() }),
    moderation,
  ),
  moderationMaxTiles: moderation.maxTiles,
});
export const workflowInspect = workflow.inspect;
export const workflowModerate = workflow.moderate;
export const workflowProcess = workflow.process;
export const workflowQuarantine = workflow.quarantine;
export const workflowFail = workflow.fail;

const reprocess = createReprocessTasks(deps);
export const reprocessPlan = reprocess.plan;
export const reprocessBatch = reprocess.batch;
export const reprocessSummarize = reprocess.summarize;

export const transform = createTransformHandler(deps);

// The release's CodeDeploy hooks (terraform/modules/imgpipe/codedeploy.tf): the new version on the
// known objects before traffic moves, and the alias after.
export const releaseCheck = createReleaseCheckHandler(deps, 'BeforeAllowTraffic');
export const releaseCheckAfter = createReleaseCheckHandler(deps, 'AfterAllowTraffic');
