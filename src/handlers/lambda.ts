import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type Env, loadRuntimeConfig } from '../config/index.ts';
import { defaultWorkers } from '../pipeline/cpus.ts';
import { createEncoder } from '../pipeline/encoder-pool.ts';
import { createS3Client, S3Storage } from '../storage/s3.ts';
import type { HandlerDeps } from './objects.ts';

/**
 * Builds the handlers' dependencies from the environment. Everything that can be done
 * once is done here, at cold start: configuration is read and validated (a bad value fails the
 * init with a message naming the variable), the S3 client is created, and the WASM codecs are
 * compiled and instantiated (with the encoder threads, when the function has more than one vCPU),
 * so the first event pays for none of it.
 */
export const SERVICE_NAME = 'imgpipe';

/** Everything the handlers share, built once per execution environment. */
export async function createLambdaDeps(env: Env = process.env): Promise<HandlerDeps> {
  const config = loadRuntimeConfig(env);
  const client = createS3Client({ forcePathStyle: config.s3ForcePathStyle });
  const buckets = new Map<string, S3Storage>();
  const bucket = (name: string) => {
    const storage = buckets.get(name) ?? new S3Storage(client, name);
    buckets.set(name, storage);
    return storage;
  };
  const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME });
  const metrics = new Metrics({
    serviceName: env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
    namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? SERVICE_NAME,
  });
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
