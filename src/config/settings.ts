/**
 * Every setting the function reads from its environment, in one table: the variable, its path in
 * the pipeline document when the document has it too, the Terraform module variable that sets it
 * when the module exposes one, and the range of numbers. The loaders (index.ts), the variable table
 * in src/config/README.md, the Terraform module and the memory sweep's tuning file all take their names
 * from here, and tests hold each of them to it.
 */
export interface Setting {
  readonly env: string;
  /** Dotted path in the pipeline document. */
  readonly document?: string;
  /** Variable of terraform/modules/imgpipe that sets the environment variable. */
  readonly terraform?: string;
}

export interface IntegerSetting extends Setting {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

/** S3's largest single PUT; no source object we accept can be larger. */
const FIVE_GIB = 5 * 1024 ** 3;

export const SETTINGS = {
  outputBucket: { env: 'IMGPIPE_OUTPUT_BUCKET' },
  outputPrefix: { env: 'IMGPIPE_OUTPUT_PREFIX', document: 'outputPrefix', terraform: 'output_prefix' },
  quarantineBucket: { env: 'IMGPIPE_QUARANTINE_BUCKET' },
  quarantinePrefix: { env: 'IMGPIPE_QUARANTINE_PREFIX' },
  config: { env: 'IMGPIPE_CONFIG', terraform: 'pipeline_config' },
  configFile: { env: 'IMGPIPE_CONFIG_FILE' },
  keyTemplate: { env: 'IMGPIPE_KEY_TEMPLATE', document: 'keyTemplate' },
  manifestTemplate: { env: 'IMGPIPE_MANIFEST_TEMPLATE', document: 'manifestTemplate' },
  cacheControl: { env: 'IMGPIPE_CACHE_CONTROL', document: 'cacheControl' },
  maxPixels: {
    env: 'IMGPIPE_MAX_PIXELS',
    document: 'limits.maxPixels',
    terraform: 'max_input_pixels',
    // imgproxy's default. The memory sweep derives the deployed value from the function's memory.
    default: 50_000_000,
    min: 1,
    max: 1_000_000_000,
  },
  maxBytes: {
    env: 'IMGPIPE_MAX_BYTES',
    document: 'limits.maxBytes',
    default: 32 * 1024 * 1024,
    min: 1,
    max: FIVE_GIB,
  },
  maxSecondsPerImage: {
    env: 'IMGPIPE_MAX_SECONDS_PER_IMAGE',
    document: 'limits.maxSecondsPerImage',
    // About ten times the slowest invocation the memory sweep measured for dev (6.4 s, bench/README.md);
    // in Lambda the invocation's remaining time caps it further (pipeline/deadline.ts).
    default: 60,
    min: 1,
    max: 900,
  },
  /** What an animated input gives: `first-frame` (default) or `quarantine` (the reason `animated`). */
  animation: { env: 'IMGPIPE_ANIMATION', document: 'animation' },
  workers: { env: 'IMGPIPE_WORKERS', default: 0, min: 0, max: 64 },
  // The memory an image may take (codecs/memory.ts estimates it from the header). 0: what Lambda
  // (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), else the cgroup, else the machine gives (config/memory.ts).
  memoryMb: { env: 'IMGPIPE_MEMORY_MB', default: 0, min: 0, max: 1_048_576 },
  s3ForcePathStyle: { env: 'IMGPIPE_S3_FORCE_PATH_STYLE' },
  /** The buckets whose events the function takes (the module's source bucket); unset: any. */
  sourceBuckets: { env: 'IMGPIPE_SOURCE_BUCKETS' },
  statusTable: { env: 'IMGPIPE_STATUS_TABLE' },
  eventBus: { env: 'IMGPIPE_EVENT_BUS' },
  deleteOutputs: { env: 'IMGPIPE_DELETE_OUTPUTS', terraform: 'delete_outputs' },
  configParameter: { env: 'IMGPIPE_CONFIG_PARAMETER', terraform: 'pipeline_config_parameter_name' },
  serviceName: { env: 'POWERTOOLS_SERVICE_NAME', terraform: 'service_name' },
  metricsNamespace: { env: 'POWERTOOLS_METRICS_NAMESPACE', terraform: 'metrics_namespace' },
  logLevel: { env: 'POWERTOOLS_LOG_LEVEL', terraform: 'log_level' },
  /** Read by Powertools Tracer; tracing is off outside Lambda whatever it says. */
  traceEnabled: { env: 'POWERTOOLS_TRACE_ENABLED', terraform: 'tracing_enabled' },
  // The workflow mode's checks (terraform/modules/workflow sets them on its task functions).
  /** Rekognition's MinConfidence: labels below it are not returned. Its own default is 50. */
  moderationMinConfidence: {
    env: 'IMGPIPE_MODERATION_MIN_CONFIDENCE',
    default: 80,
    min: 0,
    max: 100,
  },
  /**
   * The most tiles an elongated image is moderated in (pipeline/rendition.ts moderationTiles), each
   * one DetectModerationLabels call (up to three with transparency); an image that needs more is rejected
   * (`moderation`). 8 tiles of 2:1 cover images up to 9:1 (phone panoramas), at most 8 calls. At
   * most 16: the Moderate task's 50 s (terraform/modules/workflow) must hold the decode, the tiles'
   * encodes and up to 48 sequential calls (three per tile with transparency), each started only
   * with 4 s left (handlers/workflow.ts MODERATION_CALL_RESERVE_MS).
   */
  moderationMaxTiles: {
    env: 'IMGPIPE_MODERATION_MAX_TILES',
    default: 8,
    min: 1,
    max: 16,
  },
  /** Label names (any level of Rekognition's taxonomy) that reject an image; empty: every label. */
  moderationCategories: { env: 'IMGPIPE_MODERATION_CATEGORIES' },
  /** Where the malware scanner's signature database lives, written by the signature updater. */
  signaturesBucket: { env: 'IMGPIPE_SIGNATURES_BUCKET' },
  signaturesPrefix: { env: 'IMGPIPE_SIGNATURES_PREFIX' },
  /** The release hooks (`index.releaseCheck*`): the source bucket holding the release check objects. */
  releaseCheckBucket: { env: 'IMGPIPE_RELEASE_CHECK_BUCKET' },
} as const satisfies Record<string, Setting | IntegerSetting>;

export type SettingName = keyof typeof SETTINGS;

/** The environment variable of each setting, by setting name. */
export const ENV = Object.fromEntries(
  Object.entries(SETTINGS).map(([name, setting]) => [name, setting.env]),
) as { readonly [K in SettingName]: (typeof SETTINGS)[K]['env'] };

/** Powertools' defaults when its variables are unset. */
export const SERVICE_NAME = 'imgpipe';

/**
 * The settings only the HTTP API function reads (`index.api`), with the variables of
 * terraform/modules/api that set them. They are documented in src/handlers/README.md, and
 * test/terraform/api.test.ts holds that module to this table.
 */
export const API_SETTINGS = {
  /** The bucket uploads go to: the deployment's source bucket. */
  uploadBucket: { env: 'IMGPIPE_UPLOAD_BUCKET' },
  uploadPrefix: { env: 'IMGPIPE_UPLOAD_PREFIX', terraform: 'upload_prefix', default: 'uploads/' },
  uploadExpiresSeconds: {
    env: 'IMGPIPE_UPLOAD_EXPIRES_SECONDS',
    terraform: 'upload_expires_seconds',
    default: 300,
    min: 60,
    max: 3600,
  },
  downloadExpiresSeconds: {
    env: 'IMGPIPE_DOWNLOAD_EXPIRES_SECONDS',
    terraform: 'download_expires_seconds',
    default: 900,
    min: 60,
    max: 43_200,
  },
  /** Base URL of outputs on a CDN (https://images.example.com); unset: presigned GETs. */
  cdnUrl: { env: 'IMGPIPE_CDN_URL', terraform: 'cdn_url' },
  adminGroup: { env: 'IMGPIPE_ADMIN_GROUP', terraform: 'admin_group', default: 'admin' },
  adminScope: { env: 'IMGPIPE_ADMIN_SCOPE', terraform: 'admin_scope', default: 'imgpipe/admin' },
  /** Requests without claims act as the owner `anonymous` (the module's allow_anonymous). */
  anonymous: { env: 'IMGPIPE_API_ANONYMOUS', terraform: 'allow_anonymous' },
} as const satisfies Record<string, Setting | IntegerSetting | (Setting & { default: string })>;

export const API_ENV = Object.fromEntries(
  Object.entries(API_SETTINGS).map(([name, setting]) => [name, setting.env]),
) as { readonly [K in keyof typeof API_SETTINGS]: (typeof API_SETTINGS)[K]['env'] };

/**
 * The settings only the on-demand transformation function reads (`index.transform`), with the
 * variables of terraform/modules/transform that set them. Documented in src/handlers/README.md;
 * test/terraform/transform.test.ts holds that module to this table.
 */
export const TRANSFORM_SETTINGS = {
  /** The bucket the source images are read from (the deployment's source bucket). */
  sourceBucket: { env: 'IMGPIPE_TRANSFORM_SOURCE_BUCKET', terraform: 'source_bucket_id' },
  /** Allowed widths and heights (CSS pixels), comma-separated; set, it replaces the step rule. */
  sizes: { env: 'IMGPIPE_TRANSFORM_SIZES', terraform: 'sizes' },
  /** Without a list, a width or height must be a multiple of this. */
  sizeStep: { env: 'IMGPIPE_TRANSFORM_SIZE_STEP', terraform: 'size_step', default: 10, min: 1, max: 1000 },
  /** Largest output width or height in device pixels (after dpr). */
  maxSize: { env: 'IMGPIPE_TRANSFORM_MAX_SIZE', terraform: 'max_size', default: 4000, min: 16, max: 16_384 },
  qualityMin: {
    env: 'IMGPIPE_TRANSFORM_QUALITY_MIN',
    terraform: 'quality_min',
    default: 30,
    min: 1,
    max: 100,
  },
  qualityMax: {
    env: 'IMGPIPE_TRANSFORM_QUALITY_MAX',
    terraform: 'quality_max',
    default: 90,
    min: 1,
    max: 100,
  },
  /** Output formats a request may ask for (fmt), comma-separated; auto picks among them. */
  formats: { env: 'IMGPIPE_TRANSFORM_FORMATS', terraform: 'formats', default: 'avif,webp,jpeg,png' },
  /** `required` (the default) or `off`: whether requests must carry a valid signature. */
  signing: { env: 'IMGPIPE_TRANSFORM_SIGNING', terraform: 'signing', default: 'required' },
  /** SecureString parameter holding the signing keys, one a line, the newest first. */
  keysParameter: { env: 'IMGPIPE_TRANSFORM_KEYS_PARAMETER', terraform: 'signing_keys_parameter_name' },
  /** Where results are stored in the output bucket (core/layout.ts TransformLayout). */
  prefix: { env: 'IMGPIPE_TRANSFORM_PREFIX', terraform: 'results_prefix', default: 'transforms/' },
  /** Base URL serving the output bucket through the CDN; large results redirect there. */
  cdnUrl: { env: 'IMGPIPE_TRANSFORM_CDN_URL', terraform: 'domain_name' },
  /** Lifetime of the presigned GET a large result redirects to, without a CDN. */
  redirectExpiresSeconds: {
    env: 'IMGPIPE_TRANSFORM_REDIRECT_EXPIRES_SECONDS',
    terraform: 'redirect_expires_seconds',
    default: 300,
    min: 10,
    max: 3600,
  },
  /** Cache lifetime of responses to unsigned requests (signed: a year, immutable). */
  maxAgeSeconds: {
    env: 'IMGPIPE_TRANSFORM_MAX_AGE_SECONDS',
    terraform: 'max_age_seconds',
    default: 86_400,
    min: 0,
    max: 31_536_000,
  },
  /** Transformations decoding at once in one process; more get 503 with Retry-After. */
  concurrency: { env: 'IMGPIPE_TRANSFORM_CONCURRENCY', default: 1, min: 1, max: 64 },
  /**
   * Only sources the pipeline processed (a manifest naming their current ETag) are transformed: in
   * the workflow mode, those that passed the malware scan and moderation.
   */
  checkedOnly: { env: 'IMGPIPE_TRANSFORM_CHECKED_ONLY', terraform: 'checked_sources_only', default: 'false' },
} as const satisfies Record<string, Setting | IntegerSetting | (Setting & { default: string })>;

export const TRANSFORM_ENV = Object.fromEntries(
  Object.entries(TRANSFORM_SETTINGS).map(([name, setting]) => [name, setting.env]),
) as { readonly [K in keyof typeof TRANSFORM_SETTINGS]: (typeof TRANSFORM_SETTINGS)[K]['env'] };
