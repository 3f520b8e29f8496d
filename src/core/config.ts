import type { OutputFormat } from './formats.ts';

/**
 * The configuration as the rest of the code sees it: validated, frozen types. How they are read
 * (environment, JSON document, command-line flags) and checked is config/'s business; nothing
 * here parses anything.
 */

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

export const FITS = ['inside', 'cover', 'contain'] as const;
export type Fit = (typeof FITS)[number];

export const RESIZE_METHODS = ['lanczos3', 'mitchell', 'catrom', 'triangle'] as const;
export type ResizeMethod = (typeof RESIZE_METHODS)[number];

export interface VariantSpec {
  readonly name: string;
  /** Target box; either may be omitted (keep aspect), both omitted means full size. */
  readonly width?: number;
  readonly height?: number;
  readonly fit: Fit;
  /** Enlarge images smaller than the box. Off by default: never upscale unless asked. */
  readonly upscale: boolean;
  /** Subset of the configured formats for this variant. */
  readonly formats: readonly OutputFormat[];
}

export type ChromaSubsampling = '4:2:0' | '4:4:4';

export interface JpegOptions {
  readonly quality: number;
  readonly progressive: boolean;
  readonly chromaSubsampling: ChromaSubsampling;
}
export interface WebpOptions {
  readonly quality: number;
  /** libwebp `method`, 0 (fast) to 6 (slow, smaller). */
  readonly effort: number;
  readonly lossless: boolean;
}
export interface AvifOptions {
  readonly quality: number;
  /** libavif speed, 0 (slowest, smallest) to 10 (fastest). */
  readonly speed: number;
  readonly chromaSubsampling: ChromaSubsampling;
}
export type PngOptions = Record<string, never>;

export interface FormatOptions {
  readonly jpeg: JpegOptions;
  readonly webp: WebpOptions;
  readonly avif: AvifOptions;
  readonly png: PngOptions;
}

export interface ResizeOptions {
  readonly method: ResizeMethod;
  /** Resample in linear light. Slower (about 6x here) and closer to "correct"; sRGB matches libvips/sharp. */
  readonly linearRGB: boolean;
}

export interface Rgba {
  readonly r: number;
  readonly g: number;
  readonly b: number;
  readonly a: number;
}

/**
 * What an animated input (GIF, WebP, APNG, AVIF or HEIF sequence) gives: still variants of its first
 * frame, or a quarantine with the reason `animated`.
 */
export const ANIMATION_POLICIES = ['first-frame', 'quarantine'] as const;
export type AnimationPolicy = (typeof ANIMATION_POLICIES)[number];

export interface Limits {
  /** Largest width x height accepted, checked from the header before decoding. */
  readonly maxPixels: number;
  /** Largest source object accepted, checked before and while reading it. */
  readonly maxBytes: number;
  /** Time one image may take from probe to the last encode; in Lambda also capped by the invocation. */
  readonly maxSecondsPerImage: number;
  /**
   * The memory the process has, against which each image's estimated peak is checked before
   * decoding (pipeline/memory-budget.ts). Absent: no memory check (a configuration parsed from a
   * document alone; the loaders always set it).
   */
  readonly memory?: MemoryBudget;
}

export interface MemoryBudget {
  /** MiB, as Lambda counts its memory size. */
  readonly mb: number;
  /** Where the figure comes from, for messages: e.g. `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`. */
  readonly source: string;
}

/** How output and manifest keys are made (core/layout.ts renders them). */
export interface KeyTemplates {
  /** Prepended to every output and manifest key. */
  readonly prefix: string;
  readonly output: string;
  readonly manifest: string;
}

/** Where a watermark sits on an output. */
export const WATERMARK_POSITIONS = [
  'bottom-right',
  'bottom-left',
  'top-right',
  'top-left',
  'center',
] as const;
export type WatermarkPosition = (typeof WATERMARK_POSITIONS)[number];

/**
 * An image (PNG, usually with alpha) composited over every output after resizing, before encoding
 * (pipeline/process-image.ts, image/watermark.ts).
 */
export interface Watermark {
  /** The PNG's path as the document gives it (resolved against the current directory). */
  readonly image: string;
  /** The PNG's bytes, read once with the configuration. */
  readonly png: Uint8Array;
  /** sha256 of `png` (hex): part of the configuration hash, so a new image reprocesses. */
  readonly sha256: string;
  readonly position: WatermarkPosition;
  /** Space between the mark and the output's edges, as a fraction of the output's shorter side. */
  readonly margin: number;
  /** The mark's width as a fraction of the output's width (smaller if it would not fit). */
  readonly size: number;
  /** 0..1, multiplied with the mark's own alpha. */
  readonly opacity: number;
  /** Outputs narrower than this many pixels get no mark. */
  readonly minWidth: number;
}

export interface PipelineConfig {
  readonly variants: readonly VariantSpec[];
  /** Formats in output order. */
  readonly formats: readonly OutputFormat[];
  readonly formatOptions: FormatOptions;
  readonly resize: ResizeOptions;
  /** Colour for `contain` padding and for flattening transparency into JPEG. */
  readonly background: Rgba;
  readonly keys: KeyTemplates;
  readonly cacheControl: string;
  readonly limits: Limits;
  /** What an animated input gives (not part of the hash: like the limits, it decides what is accepted). */
  readonly animation: AnimationPolicy;
  /** Composited over every output when set (part of the hash, with its image's bytes). */
  readonly watermark?: Watermark;
  /** sha256 of the settings that shape outputs; recorded in manifests so a config change reprocesses. */
  readonly hash: string;
}

/** Where results go. Outputs and manifests share a bucket; quarantined inputs may have their own. */
export interface Destinations {
  readonly outputBucket: string;
  readonly quarantineBucket: string;
  readonly quarantinePrefix: string;
}

/** The Lambda function's configuration, read once at cold start. */
export interface RuntimeConfig extends Destinations {
  readonly pipeline: PipelineConfig;
  /** Worker threads for encoding; 0 means "decide from the CPUs and memory we are given". */
  readonly workers: number;
  /** Path-style S3 requests, for S3-compatible servers (with AWS_ENDPOINT_URL_S3). */
  readonly s3ForcePathStyle?: boolean;
  /**
   * The source buckets whose objects the function processes and removes (IMGPIPE_SOURCE_BUCKETS);
   * unset: any bucket an event names.
   */
  readonly sourceBuckets?: readonly string[];
  /** The DynamoDB status table; none when unset. */
  readonly statusTable?: string;
  /** The EventBridge bus (name or ARN) for outcome events; none when unset. */
  readonly eventBus?: string;
  /** On an ObjectRemoved event, delete that object's outputs and manifest. */
  readonly deleteOutputs: boolean;
  /**
   * Where the transformation function stores its results in the output bucket (IMGPIPE_TRANSFORM_PREFIX),
   * when it runs beside this one: with deleteOutputs, a removed source's results are deleted too.
   */
  readonly transformPrefix?: string;
}

/** The HTTP API function's own settings (`index.api`), read once at cold start. */
export interface ApiConfig {
  /** The source bucket: uploads go here, and images are looked up and deleted here. */
  readonly uploadBucket: string;
  /** Where uploads are keyed: `<uploadPrefix><owner>/<id>/<file name>` (core/layout.ts). */
  readonly uploadPrefix: string;
  /** How long a presigned upload stays valid. */
  readonly uploadExpiresSeconds: number;
  /** How long a presigned GET of an output stays valid (without a CDN). */
  readonly downloadExpiresSeconds: number;
  /** Outputs are `<cdnUrl>/<output key>` when set; presigned GETs otherwise. */
  readonly cdnUrl?: string;
  /** Members of this group (`cognito:groups`, or a single-valued `groups` claim) may list and read every image. */
  readonly adminGroup: string;
  /** Tokens with this scope may too. */
  readonly adminScope: string;
  /** Requests without a verified token act as the owner `anonymous` (deployed without auth). */
  readonly anonymous: boolean;
}

/** The on-demand transformation function's settings (`index.transform`), read once at cold start. */
export interface TransformConfig {
  /** Where source keys are looked up. */
  readonly sourceBucket: string;
  /** Allowed widths and heights; empty: multiples of sizeStep. */
  readonly sizes: readonly number[];
  readonly sizeStep: number;
  /** Largest output width or height in device pixels. */
  readonly maxSize: number;
  readonly qualityMin: number;
  readonly qualityMax: number;
  /** Formats a request may name; fmt=auto picks AVIF, WebP, then JPEG among them. */
  readonly formats: readonly OutputFormat[];
  readonly signing: boolean;
  readonly keysParameter?: string;
  /** Results are stored under this prefix of the output bucket. */
  readonly prefix: string;
  readonly cdnUrl?: string;
  readonly redirectExpiresSeconds: number;
  readonly maxAgeSeconds: number;
  readonly concurrency: number;
  /**
   * Transform only a source whose current version the pipeline processed (its manifest names that
   * ETag): in the workflow mode, one that passed the malware scan and moderation.
   */
  readonly checkedOnly: boolean;
}
