/**
 * The data of a memory sweep, shared by the local runner, the AWS runner and the report writers.
 * Times are milliseconds, memory is MiB (what Lambda calls MB), prices are US dollars.
 */

export const ARCHITECTURES = ['arm64', 'x86_64'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export const STRATEGIES = ['cost', 'speed', 'balanced'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/**
 * Where a row's durations come from:
 * - `measured`: run on this machine under a cgroup CPU quota equal to Lambda's share for the size;
 * - `modelled`: run on this machine without a quota, durations computed from the CPU times
 *   (bench/sweep/model.ts), because the quota could not be enforced here;
 * - `measured-aws`: REPORT lines of the deployed function.
 */
export type RowMode = 'measured' | 'modelled' | 'measured-aws';

/** One processing of one image: one invocation. */
export interface RunSample {
  /** The duration this row uses: measured under the quota, modelled, or AWS's `Duration`. */
  readonly wallMs: number;
  /** Modelled rows: the wall time actually measured here, without a CPU quota. */
  readonly unconstrainedWallMs?: number;
  /** CPU time of every thread of the process during the run. */
  readonly cpuMs?: number;
  /** CPU time of the main thread (decode, resize, orchestration; also encodes without workers). */
  readonly mainCpuMs?: number;
  /** Probe and decode time (main thread; no encode runs concurrently with it). */
  readonly decodeMs?: number;
  /** Encodes done in the main thread: CPU time of each (only without workers). */
  readonly encodeCpuMs?: readonly number[];
  /** Share of the machine's CPU time that other processes used during the run (0..1). */
  readonly foreignCpu?: number;
  /** AWS mode: `Billed Duration` and `Max Memory Used` of the REPORT line. */
  readonly billedMs?: number;
  readonly maxMemoryUsedMb?: number;
}

/** One image (or one AWS payload) at one memory size: a fresh process, a cold start, then runs. */
export interface ImageResult {
  /** Path of the image relative to the working folder, or a label for an AWS payload. */
  readonly image: string;
  readonly width?: number;
  readonly height?: number;
  readonly pixels?: number;
  /** Cold start: process start until the encoder is ready (AWS: `Init Duration`). */
  readonly initMs: number;
  /** Modelled rows: init wall time measured here without a quota. */
  readonly unconstrainedInitMs?: number;
  readonly initCpuMs?: number;
  readonly initMainCpuMs?: number;
  /** The first run after the cold start (the cold invocation, without init). */
  readonly first: RunSample;
  readonly warm: readonly RunSample[];
  /** Peak resident set of the process (AWS: largest `Max Memory Used`), MiB. */
  readonly peakRssMb: number;
  /** Largest single encode of this image, CPU ms (from runs without workers): the model's floor. */
  readonly maxEncodeCpuMs?: number;
}

export interface RowFailure {
  readonly image: string;
  readonly message: string;
}

export interface SweepRow {
  readonly memoryMb: number;
  /** Lambda's CPU share for the size: memory / 1,769 MB, at most 6. */
  readonly vcpus: number;
  /** Encoder threads the function uses at this size. */
  readonly workers: number;
  readonly mode: RowMode;
  /** Why the row is modelled, or how it was measured. */
  readonly note: string;
  /** CPUs' worth of quota enforced through the cgroup (measured rows). */
  readonly cpuQuota?: number;
  readonly images: readonly ImageResult[];
  readonly failures: readonly RowFailure[];
  readonly stats?: RowStats;
}

export interface RowStats {
  /** Median cold init over the images (each image ran in a fresh process). */
  readonly initMs: number;
  /** Warm per-image durations over all images and runs. */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly maxMs: number;
  /** Slowest cold invocation: init plus the first run. */
  readonly coldMaxMs: number;
  /** Expected duration of one invocation, cold starts weighted in: the strategies' "duration". */
  readonly expectedMs: number;
  readonly peakRssMb: number;
  /** Peak RSS over (1 - headroom) x memory. */
  readonly outOfMemory: boolean;
  /**
   * Expected cost of processing 1,000 images: on-demand (duration, init of cold starts, requests),
   * or, with --rps, with the provisioned concurrency the size needs (cost.ts provisionedCostPer1000Images).
   */
  readonly costPer1000: Readonly<Record<Architecture, number>>;
  /** Share of the machine's CPU other processes used during the row's runs (worst run). */
  readonly foreignCpu?: number;
  /** Some run had more foreign load than --max-foreign-cpu: its durations may be too long. */
  readonly contended?: boolean;
  /** Measured rows: median relative error of the model against the measurement (a check of model.ts). */
  readonly modelErrorPct?: number;
}

export interface Prices {
  /** USD per GB-second (on-demand duration). */
  readonly x86_64: number;
  readonly arm64: number;
  /** USD per 1M requests (on-demand and provisioned alike). */
  readonly requestPerMillion: number;
  /** Provisioned concurrency itself: USD per GB-second configured, used or not. */
  readonly provisioned: Readonly<Record<Architecture, number>>;
  /** Duration of an invocation served by provisioned concurrency: USD per GB-second. */
  readonly provisionedDuration: Readonly<Record<Architecture, number>>;
}

export interface Derived {
  readonly memoryMb: number;
  readonly architecture: Architecture;
  readonly strategy: Strategy;
  readonly weight?: number;
  readonly timeoutSeconds: number;
  /** The slowest invocation the timeout is for: measured, or extrapolated to maxInputPixels. */
  readonly timeoutBasisMs: number;
  /** When timeoutBasisMs is extrapolated to maxInputPixels: the slowest invocation measured. */
  readonly slowestMeasuredMs?: number;
  readonly provisionedConcurrency: number;
  readonly maxInputPixels: number;
  /** How max_input_pixels was obtained: a fit (a + b * pixels), or why not. */
  readonly pixelFit: PixelFit;
  /** The smallest max_input_pixels a size needed to be chosen (--min-pixels). */
  readonly minPixels?: number;
  /** Sizes that ran every input but were passed over: their limit is below minPixels, or (without a fit) above what their memory holds. */
  readonly tooSmallForMinPixels?: readonly number[];
  /** Sizes passed over because their slowest invocation x margin is above the longest timeout allowed. */
  readonly tooSlowForTimeout?: readonly number[];
  /**
   * Sizes passed over because an input of their max_input_pixels would take longer to process than
   * limits.maxSecondsPerImage, after which the function refuses it as too-slow.
   */
  readonly tooSlowForMaxSeconds?: readonly number[];
  /** Sizes passed over because --rps x their p95 needs more provisioned concurrency than the deployment accepts. */
  readonly tooSlowForRps?: readonly number[];
  /**
   * Set when the environment accepts less provisioned concurrency than the module's 10,000: the
   * most, and why (its reserved_concurrent_executions must be at least twice it).
   */
  readonly provisionedLimit?: { readonly max: number; readonly because: string };
}

export type PixelFit =
  | {
      readonly kind: 'fit';
      /** MiB at zero pixels. */
      readonly interceptMb: number;
      /** MiB per megapixel used: the fitted slope, or the floor of MIN_BYTES_PER_PIXEL (derive.ts) if steeper. */
      readonly slopeMbPerMp: number;
      readonly fittedSlopeMbPerMp: number;
      readonly budgetMb: number;
      /** Pixels where the line meets the budget, before rounding and clamping. */
      readonly rawPixels: number;
      readonly points: readonly { readonly pixels: number; readonly rssMb: number }[];
      /**
       * Set when the fitted limit was above it: the most pixels of the costliest input the
       * function's memory check holds at this size (pixelsWithinMemory), to which the limit was cut.
       */
      readonly heldPixels?: number;
    }
  | { readonly kind: 'fallback'; readonly reason: string };
