import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { EventBridgePublisher } from '../bus/eventbridge.ts';
import { baselineMb } from '../codecs/memory.ts';
import { loadRuntimeConfig } from '../config/index.ts';
import { API_ENV, ENV, SERVICE_NAME, TRANSFORM_ENV } from '../config/settings.ts';
import { awsHttpLimits } from '../core/aws.ts';
import type { Env, RuntimeConfig } from '../core/config.ts';
import { ConfigError, describeError, invalidSetting } from '../core/errors.ts';
import { didYouMean } from '../core/suggest.ts';
import { defaultWorkers } from '../pipeline/cpus.ts';
import { createEncoder } from '../pipeline/encoder-pool.ts';
import { encoderThreadsFor, pixelsWithinMemory } from '../pipeline/memory-budget.ts';
import { loadWatermark } from '../pipeline/process-image.ts';
import { DynamoStatusStore } from '../status/dynamodb.ts';
import { createS3Client, S3Storage } from '../storage/s3.ts';
import { perBucket } from '../storage/types.ts';
import type { HandlerDeps } from './objects.ts';
import { KEY_FILTERS_ENV, MAX_CONCURRENCY_ENV } from './reprocess.ts';

/**
 * What every Lambda entry point shares: its dependencies, built once per execution environment, and
 * the wrapper that runs each invocation.
 *
 * Everything that can be done once is done at cold start: the pipeline document is read (from the
 * environment, or from Parameter Store), configuration is validated (a bad value fails the init
 * with a message naming the variable), the AWS clients are created and handed to the tracer, and
 * the WASM codecs are compiled and instantiated (with the encoder threads, when the function has
 * more than one vCPU), so the first event pays for none of it.
 */
/** AWS SDK clients, injectable so tests can point them at local servers or mocks. */
export interface AwsClients {
  readonly ssm?: SSMClient;
  readonly dynamodb?: DynamoDBClient;
  readonly eventbridge?: EventBridgeClient;
  /** The idle limit of the clients made here (core/aws.ts, 30 s); tests shorten it. */
  readonly idleTimeoutMs?: number;
}

/**
 * Entry points that never decode or encode an image: the API, the release hooks, and the workflow
 * tasks that read a header (Inspect), copy or record (Quarantine, Fail) or plan and add up
 * (reprocessing). Terraform gives the workflow's a small fixed memory (terraform/modules/workflow).
 */
const NO_CODECS: ReadonlySet<string> = new Set([
  'index.api',
  'index.releaseCheck',
  'index.releaseCheckAfter',
  'index.workflowInspect',
  'index.workflowQuarantine',
  'index.workflowFail',
  'index.reprocessPlan',
  'index.reprocessSummarize',
]);

export async function createLambdaDeps(
  env: Env = process.env,
  clients: AwsClients = {},
): Promise<HandlerDeps> {
  checkVariableNames(env);
  const serviceName = env[ENV.serviceName] ?? SERVICE_NAME;
  const tracer = await loadTracer(serviceName, env);
  const traced = <T>(client: T): T => (tracer ? tracer.captureAWSv3Client(client) : client);
  const config = loadRuntimeConfig(env, await readParameterDocument(env, clients.ssm, clients.idleTimeoutMs));
  const limits = { requestHandler: awsHttpLimits(clients.idleTimeoutMs) };
  const client = traced(
    createS3Client({ forcePathStyle: config.s3ForcePathStyle, idleTimeoutMs: clients.idleTimeoutMs }),
  );
  const bucket = perBucket((name) => new S3Storage(client, name));
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ serviceName, namespace: env[ENV.metricsNamespace] ?? SERVICE_NAME });
  const status = config.statusTable
    ? new DynamoStatusStore(traced(clients.dynamodb ?? new DynamoDBClient(limits)), config.statusTable)
    : undefined;
  const events = config.eventBus
    ? new EventBridgePublisher(traced(clients.eventbridge ?? new EventBridgeClient(limits)), config.eventBus)
    : undefined;
  // Codecs are compiled and instantiated here, in the init phase, for this thread and the workers;
  // not in a function whose entry point processes no image (its command names it, in _HANDLER).
  if (env._HANDLER === 'index.workflowInspect')
    checkMaxBytes(config, INSPECT_BASELINE_MB, 'the process takes before it reads one', env);
  const encoder = NO_CODECS.has(env._HANDLER ?? '')
    ? undefined
    : await createEncoder(encoderThreads(config, env), config.pipeline.formats);
  // The watermark is decoded here too: a PNG the decoder refuses stops the init, naming it.
  if (encoder && config.pipeline.watermark) await loadWatermark(config.pipeline.watermark);
  return {
    config,
    sourceStorage: bucket,
    output: bucket(config.outputBucket),
    quarantine: bucket(config.quarantineBucket),
    logger,
    metrics,
    ...(tracer ? { tracer } : {}),
    ...(env.AWS_LAMBDA_FUNCTION_VERSION
      ? {
          functionVersion: env.AWS_LAMBDA_FUNCTION_NAME
            ? `${env.AWS_LAMBDA_FUNCTION_NAME}:${env.AWS_LAMBDA_FUNCTION_VERSION}`
            : env.AWS_LAMBDA_FUNCTION_VERSION,
        }
      : {}),
    ...(encoder ? { encoder } : {}),
    ...(status ? { status } : {}),
    ...(events ? { events } : {}),
  };
}

/**
 * The encoder threads of a function that decodes images: IMGPIPE_WORKERS (checkWorkers), else as
 * many as its CPUs give while its memory still holds an input of maxPixels with them
 * (encoderThreadsFor). A memory that cannot hold even one thread's baseline
 * (a 128-350 MB function) stops the init naming it: every image, however small, would be
 * quarantined as over-memory-budget.
 */
function encoderThreads(config: RuntimeConfig, env: Env): number {
  const memory = config.pipeline.limits.memory;
  let threads =
    checkWorkers(config) || encoderThreadsFor(defaultWorkers(env), memory, config.pipeline.limits.maxPixels);
  if (!memory) return threads;
  while (threads > 1 && baselineMb(threads) >= memory.mb) threads--;
  if (baselineMb(threads) >= memory.mb)
    throw new ConfigError(
      memory.source,
      memory.mb,
      `The process has ${memory.mb} MiB (${memory.source}), and encoding takes ${baselineMb(threads)} MiB before any image: every image would be quarantined as over-memory-budget; a function that decodes images needs more than ${baselineMb(threads)} MiB`,
    );
  checkMaxBytes(config, baselineMb(threads), 'encoding takes before any image', env);
  return threads;
}

/**
 * maxBytes, against the memory: a source is read whole, before its header is checked, beside what
 * the process takes before any image (`baseline` MiB, which `takes` describes: the encoder threads'
 * in a function that decodes; Node's and the clients' in Inspect, which decodes nothing). A file the limit
 * admits but the memory cannot hold gets the function stopped (retried, its event dead-lettered)
 * instead of quarantined as too-large.
 */
function checkMaxBytes(config: RuntimeConfig, baseline: number, takes: string, env: Env): void {
  const memory = config.pipeline.limits.memory;
  const { maxBytes } = config.pipeline.limits;
  if (!memory) return;
  const most = (memory.mb - baseline) * MiB - 1;
  if (maxBytes <= most) return;
  // No limit would do: the memory is the fault, not maxBytes ("between 1 and -52428801").
  if (most < 1)
    throw new ConfigError(
      memory.source,
      memory.mb,
      `The process has ${memory.mb} MiB (${memory.source}), and ${baseline} MiB is what ${takes}: it cannot read a source of any size; it needs more than ${baseline} MiB`,
    );
  const fromEnv = env[ENV.maxBytes]?.trim();
  throw invalidSetting(
    fromEnv ? ENV.maxBytes : 'limits.maxBytes of the pipeline document',
    `integer between 1 and ${most}`,
    fromEnv ?? maxBytes,
    `a source of ${maxBytes} bytes is read whole beside the ${baseline} MiB ${takes}, and the process has ${memory.mb} MiB (${memory.source}): it would be stopped instead of quarantining the file as too-large`,
  );
}

const MiB = 1024 * 1024;
/**
 * What Inspect's process takes before it reads a source: Node, the SDK clients and the bundle
 * (133 MiB resident measured after loading the entry points, rounded up). Counted as none, a
 * 500 MiB maxBytes passed at Inspect's 512 MB, and such a source stopped the function.
 */
const INSPECT_BASELINE_MB = 150;

/**
 * IMGPIPE_WORKERS, against the memory, by the rule the derived default follows (encoderThreadsFor):
 * the threads' baseline (codecs/memory.ts, which the per-image memory check adds to every image's
 * estimate) must leave room for an input of maxPixels of the costliest format, or for as much as
 * one thread leaves when even that cannot hold it. More threads would start and then quarantine
 * as over-memory-budget images that fewer take (two threads at 512 MiB left 42 MiB, under a
 * megapixel: every real photo).
 */
function checkWorkers(config: RuntimeConfig): number {
  const { workers } = config;
  const memory = config.pipeline.limits.memory;
  const { maxPixels } = config.pipeline.limits;
  // A memory below even one thread's baseline is the memory's fault, named by encoderThreads.
  if (workers <= 1 || !memory || baselineMb(1) >= memory.mb) return workers;
  const most = encoderThreadsFor(workers, memory, maxPixels);
  if (most >= workers) return workers;
  const room = pixelsWithinMemory(memory.mb, workers);
  const mp = (pixels: number) => `${(pixels / 1e6).toFixed(1)} MP`;
  const taken = `${workers} encoder threads take ${baselineMb(workers)} MiB before any image, and the process has ${memory.mb} MiB (${memory.source})`;
  throw invalidSetting(
    ENV.workers,
    `integer between 0 and ${most}`,
    String(workers),
    room === 0
      ? `${taken}: every image would be quarantined as over-memory-budget`
      : `${taken}: the rest holds ${mp(room)} of the costliest input, where ${most} would hold ${mp(Math.min(maxPixels, pixelsWithinMemory(memory.mb, most)))}, so images under maxPixels (${maxPixels}) that fewer threads take would be quarantined as over-memory-budget; or set ${ENV.maxPixels} to at most ${room}`,
  );
}

/** Every IMGPIPE_ variable an entry point of the image reads (the tables of config/settings.ts). */
export function functionVariables(): string[] {
  return [
    ...Object.values(ENV),
    ...Object.values(API_ENV),
    ...Object.values(TRANSFORM_ENV),
    KEY_FILTERS_ENV,
    MAX_CONCURRENCY_ENV,
  ];
}

/**
 * An IMGPIPE_ variable no entry point reads is a typo (IMGPIPE_MAX_BYTE) or a setting of another
 * program (the CLI's): it would be ignored, and the function run without the setting meant. Checked
 * in Lambda only (AWS_LAMBDA_FUNCTION_NAME is set), where the environment is the deployment's
 * alone: run elsewhere (imgpipe dev, the tests' child processes), a handler inherits a shell's.
 */
function checkVariableNames(env: Env): void {
  if (!env.AWS_LAMBDA_FUNCTION_NAME) return;
  const known = functionVariables();
  for (const name of Object.keys(env)) {
    if (!name.startsWith('IMGPIPE_') || known.includes(name)) continue;
    throw new ConfigError(
      name,
      env[name],
      `${name} is not a variable of the function${didYouMean(name, known)}; every variable: src/config/README.md`,
    );
  }
}

const TRACING_OFF: ReadonlySet<string> = new Set(['false', '0', 'no', 'off', 'n']);

/**
 * Powertools Tracer, only where it traces: in Lambda (AWS_EXECUTION_ENV) unless
 * POWERTOOLS_TRACE_ENABLED is off. Loading it loads aws-xray-sdk-core, whose context namespace is an
 * async hook with a destroy callback that every promise of the process pays for, traced or not
 * (aws/aws-xray-sdk-node#420), so local runs, the benchmarks and untraced functions never load it.
 */
async function loadTracer(serviceName: string, env: Env): Promise<Tracer | undefined> {
  if (!env.AWS_EXECUTION_ENV || TRACING_OFF.has((env.POWERTOOLS_TRACE_ENABLED ?? '').trim().toLowerCase()))
    return undefined;
  const { Tracer } = await import('@aws-lambda-powertools/tracer');
  return new Tracer({ serviceName });
}

/**
 * Powertools Parameters' SSM provider, over `ssm` (tests) or a client of its own with the idle
 * limits of every other AWS client (core/aws.ts): a silent Parameter Store connection fails and is
 * retried instead of holding the cold start until the function times out.
 */
export function parameterProvider(ssm?: SSMClient, idleTimeoutMs?: number): SSMProvider {
  return new SSMProvider(
    ssm ? { awsSdkV3Client: ssm } : { clientConfig: { requestHandler: awsHttpLimits(idleTimeoutMs) } },
  );
}

/**
 * With IMGPIPE_CONFIG_PARAMETER, the pipeline document comes from that Parameter Store parameter,
 * read once per execution environment (Powertools Parameters): promoting a configuration between
 * environments is then promoting a parameter value. It takes the place of IMGPIPE_CONFIG, so the
 * two (and IMGPIPE_CONFIG_FILE) are exclusive.
 */
async function readParameterDocument(
  env: Env,
  ssm?: SSMClient,
  idleTimeoutMs?: number,
): Promise<{ text: string; source: string } | undefined> {
  const name = env[ENV.configParameter]?.trim();
  if (!name) return undefined;
  const other = [ENV.config, ENV.configFile].find((setting) => env[setting]?.trim());
  if (other) throw new ConfigError(other, env[other], `Set only one of ${ENV.configParameter} and ${other}`);
  const provider = parameterProvider(ssm, idleTimeoutMs);
  let document: string | undefined;
  try {
    document = await provider.get(name, { decrypt: true, maxAge: Number.MAX_SAFE_INTEGER });
  } catch (error) {
    throw new ConfigError(
      ENV.configParameter,
      name,
      `Cannot read the pipeline document from the parameter ${name} given by ${ENV.configParameter}: ${describeError(error)}`,
      { cause: error },
    );
  }
  if (typeof document !== 'string' || document.trim() === '')
    throw new ConfigError(
      ENV.configParameter,
      name,
      `The parameter ${name} given by ${ENV.configParameter} is empty`,
    );
  // Its errors name the parameter, not IMGPIPE_CONFIG, which nobody set.
  return { text: document, source: `the parameter ${name} (${ENV.configParameter})` };
}

// The wrapper lives in wrap.ts, which imports no codec, so the scanner image can bundle it alone.
export { type LambdaHandler, lambdaHandler } from './wrap.ts';
