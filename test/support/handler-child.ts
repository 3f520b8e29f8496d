import { readFileSync } from 'node:fs';
import { lambdaContext } from './lambda-async.ts';

/**
 * Runs the function's entry point as the container image runs it (`index.handler`: configuration
 * from the environment, cold start, the S3 client from AWS_ENDPOINT_URL_S3) on the S3 event in the
 * JSON file named by the first argument, and prints the result as one JSON line. For tests that
 * kill the function part-way.
 */
const { handler } = await import('../../src/handlers/index.ts');
const event = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const result = await handler(event, lambdaContext());
process.stdout.write(`${JSON.stringify(result)}\n`);
