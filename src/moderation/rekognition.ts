import {
  DetectModerationLabelsCommand,
  type DetectModerationLabelsCommandOutput,
  type RekognitionClient,
} from '@aws-sdk/client-rekognition';
import { describeError, ImgpipeError } from '../core/errors.ts';

/**
 * Content moderation with Amazon Rekognition's DetectModerationLabels, on the image's bytes.
 *
 * Rekognition reads JPEG and PNG only, at most 5 MB as bytes (15 MB from S3), so the caller sends a
 * rendition: the picture decoded once, oriented and scaled down to a JPEG well under the limit
 * (handlers/workflow.ts). That covers every format the pipeline accepts, WebP and AVIF included,
 * and uploads of any size within its limits — which the state machine's own Rekognition integration
 * (the source object by its S3 location) would not.
 */

/** A label as Rekognition returned it, kept in the quarantine record and the event. */
export interface ModerationFinding {
  readonly name: string;
  /** The label above it in Rekognition's taxonomy; empty at the top level. */
  readonly parent: string;
  readonly level?: number;
  readonly confidence: number;
}

export interface ModerationResult {
  /** The labels that reject the image: those in the configured categories (every label when none). */
  readonly flagged: readonly ModerationFinding[];
  /** Every label Rekognition returned at or above the minimum confidence. */
  readonly labels: readonly ModerationFinding[];
  /** Rekognition's moderation model version, e.g. `7.0`. */
  readonly modelVersion?: string;
}

export interface ModerationOptions {
  readonly minConfidence: number;
  readonly categories: readonly string[];
}

/** Rekognition failed or refused the request; `retryable` when trying again may help. */
export class ModerationError extends ImgpipeError {
  readonly retryable: boolean;

  constructor(message: string, options: ErrorOptions & { retryable: boolean }) {
    super('moderation/failed', message, options);
    this.retryable = options.retryable;
  }
}

export class RekognitionModerator {
  readonly #client: RekognitionClient;
  readonly #options: ModerationOptions;

  constructor(client: RekognitionClient, options: ModerationOptions) {
    this.#client = client;
    this.#options = options;
  }

  /**
   * `signal`: aborting it ends the call at once (its reason thrown as it is), whatever the SDK is
   * doing: a connection gone silent holds a call for 30 s an attempt (core/aws.ts), and the SDK
   * tries three times.
   */
  async moderate(jpeg: Uint8Array, signal?: AbortSignal): Promise<ModerationResult> {
    let response: DetectModerationLabelsCommandOutput;
    try {
      signal?.throwIfAborted();
      const call = this.#client.send(
        new DetectModerationLabelsCommand({
          Image: { Bytes: jpeg },
          MinConfidence: this.#options.minConfidence,
        }),
        signal ? { abortSignal: signal } : {},
      );
      response = await (signal ? Promise.race([call, aborted(signal)]) : call);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new ModerationError(`Rekognition DetectModerationLabels failed: ${describeError(error)}`, {
        cause: error,
        retryable: isRetryable(error),
      });
    }
    const labels = (response.ModerationLabels ?? []).map(
      (label): ModerationFinding => ({
        name: label.Name ?? '',
        parent: label.ParentName ?? '',
        ...(label.TaxonomyLevel === undefined ? {} : { level: label.TaxonomyLevel }),
        confidence: Math.round((label.Confidence ?? 0) * 100) / 100,
      }),
    );
    // Names compared without letter case: Rekognition's own are not consistently capitalised
    // ("Swimwear or Underwear"), and a category that never matches would let every image pass.
    const wanted = new Set(this.#options.categories.map((name) => name.toLowerCase()));
    const flagged =
      wanted.size === 0
        ? labels
        : labels.filter(
            (label) => wanted.has(label.name.toLowerCase()) || wanted.has(label.parent.toLowerCase()),
          );
    return {
      flagged,
      labels,
      ...(response.ModerationModelVersion ? { modelVersion: response.ModerationModelVersion } : {}),
    };
  }
}

/** Rejects with the signal's reason once it is aborted. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/**
 * Throttling, 5xx and connection errors may pass; a refused image (InvalidImageFormatException,
 * ImageTooLargeException) or denied access will not.
 */
function isRetryable(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return (
    e.$retryable !== undefined ||
    (status !== undefined && status >= 500) ||
    ['ThrottlingException', 'ProvisionedThroughputExceededException', 'InternalServerError'].includes(
      e.name ?? '',
    ) ||
    status === undefined
  );
}
