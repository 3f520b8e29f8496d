import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { envBoolean, envIntegerSetting } from '../config/env.ts';
import { lambdaMemoryMb } from '../config/memory.ts';
import { ENV, SERVICE_NAME, SETTINGS } from '../config/settings.ts';
import { loadSignaturesConfig } from '../config/workflow.ts';
import { createS3Client, S3Storage } from '../storage/s3.ts';
import { perBucket } from '../storage/types.ts';
import { createScanTask, createSignatureUpdater } from './scanner.ts';

/**
 * The scanner image's entry points (scanner/Dockerfile; bundled alone by `node scripts/build.ts
 * --scanner`, so no codec comes along): `scanner.handler`, the workflow's Scan task, and
 * `scanner.update`, the scheduled signature update.
 */
const env = process.env;
const serviceName = env[ENV.serviceName] ?? SERVICE_NAME;
const tracer = new Tracer({ serviceName });
const client = tracer.captureAWSv3Client(
  createS3Client({ forcePathStyle: envBoolean(env, ENV.s3ForcePathStyle, false) }),
);
const bucket = perBucket((name) => new S3Storage(client, name));
const signatures = loadSignaturesConfig(env);
const deps = {
  logger: new Logger({ serviceName }),
  metrics: new Metrics({ serviceName, namespace: env[ENV.metricsNamespace] ?? SERVICE_NAME }),
  tracer,
  sourceStorage: bucket,
  signatures: bucket(signatures.bucket),
  signaturesPrefix: signatures.prefix,
  maxBytes: envIntegerSetting(env, SETTINGS.maxBytes),
  workDir: '/tmp/imgpipe-scanner',
  memoryMb: lambdaMemoryMb(env),
};
export const handler = createScanTask(deps);
export const update = createSignatureUpdater(deps);
