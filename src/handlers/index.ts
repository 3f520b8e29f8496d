import { createLambdaHandler } from './lambda.ts';

/** The Lambda entry point: `index.handler` in the container image. Built once, at cold start. */
export const handler = await createLambdaHandler();
