import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { loadRuntimeConfig } from '../config/index.ts';
import { ENV, SERVICE_NAME } from '../config/settings.ts';
import type { Env } from '../core/config.ts';
import { defaultWorkers } from '../pipeline/cpus.ts';
import { createEncoder } from '../pipeline/encoder-pool.ts';
import { createS3Client, S3Storage } from '../storage/s3.ts';
import { perBucket } from '../storage/types.ts';
import type { HandlerDeps } from './objects.ts';

/**
 * What every Lambda entry point shares: its dependencies, built once per execution environment, and
 * the wrapper that runs each invocation.
 *
 * Everything that can be done once is done at cold start: configuration is read and validated (a
 * bad value fails the init with a message naming the variable), the S3 client is created, and the
 * WASM codecs are compiled and instantiated (with the encoder threads, when the function has more
 * than one vCPU), so the first event pays for none of it.
 */
export async function createLambdaDeps(env: Env = process.env): Promise<HandlerDeps> {
  const config = loadRuntimeConfig(env);
  const client = createS3Client({ forcePathStyle: config.s3ForcePathStyle });
  const bucket = perBucket((name) => new S3Storage(client, name));
  const serviceName = env[ENV.serviceName] ?? SERVICE_NAME;
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ serviceName, namespace: env[ENV.metricsNamespace] ?? SERVICE_NAME });
  // Codecs are compiled and instantiated here, in the init phase, for this thread and the workers.
  const encoder = await createEncoder(config.workers || defaultWorkers(env), config.pipeline.formats);
  return {
    config,
    sourceStorage: bucket,
    output: bucket(config.outputBucket),
    quarantine: bucket(config.quarantineBucket),
    logger,
    metrics,
    encoder,
  };
}

export type LambdaHandler<R> = (event: unknown, context?: Context) => Promise<R>;

/**
 * Wraps an entry point (after Powertools' `injectLambdaContext` and `logMetrics` middleware): the
 * invocation's context on every log line, the cold-start metric, and the metrics flushed as one EMF
 * line however the invocation ends. A new entry point is its own logic and this.
 */
export function lambdaHandler<R>(
  deps: Pick<HandlerDeps, 'logger' | 'metrics'>,
  run: LambdaHandler<R>,
): LambdaHandler<R> {
  const { logger, metrics } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    metrics.captureColdStartMetric();
    try {
      return await run(event, context);
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}
