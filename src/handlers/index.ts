import { createApiHandler } from './api.ts';
import { createLambdaDeps } from './lambda.ts';
import { createReprocessHandler } from './reprocess.ts';
import { createS3EventHandler } from './s3-event.ts';
import { createTransformHandler } from './transform.ts';

/**
 * The Lambda entry points, built once at cold start. The image's CMD is `index.handler` (S3
 * events); `index.reprocess` (existing objects) and `index.api` (the HTTP API) are selected by
 * overriding the command, as is `index.transform` (on-demand transformations).
 */
const deps = await createLambdaDeps();
export const handler = createS3EventHandler(deps);
export const reprocess = createReprocessHandler(deps);
export const api = createApiHandler(deps);
export const transform = createTransformHandler(deps);
