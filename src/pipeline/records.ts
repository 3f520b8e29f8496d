import type { InvalidReason } from '../core/errors.ts';
import { ObjectNotFoundError } from '../core/errors.ts';
import type { OutputFormat } from '../core/formats.ts';
import { jsonBytes } from '../core/json.ts';
import { VERSION } from '../core/runtime.ts';
import type { Orientation } from '../image/orientation.ts';
import { getJson, type PutOptions, type Storage } from '../storage/types.ts';
import type { FormatLimit } from './plan.ts';
import type { ColourResult, ImageTimings } from './process-image.ts';

/**
 * The two JSON records the pipeline writes beside images: the manifest of a processed source (its
 * outputs, written last) and the reason record of a quarantined one. Their keys come from the
 * bucket layout (core/layout.ts); their shapes are a public format, versioned by `version`.
 */

export interface ManifestOutput {
  readonly variant: string;
  readonly format: OutputFormat;
  readonly key: string;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  /**
   * Present when the variant was made smaller than configured to fit a format's dimension limit
   * (e.g. WebP's 16383 px a side): that format, its limit, and the size the variant would have had.
   */
  readonly limit?: FormatLimit;
}

/** Stage durations of one object, in milliseconds: the image's, and reading and writing it. */
export interface Timings extends ImageTimings {
  read: number;
  write: number;
}

/** Written last, after every output: its presence marks a complete result for that source ETag. */
export interface Manifest {
  readonly version: 1;
  readonly generator: string;
  /** Hash of the output-shaping configuration; a change means the outputs are stale. */
  readonly configHash: string;
  readonly source: {
    readonly location: string;
    readonly key: string;
    readonly etag: string;
    readonly size: number;
    readonly format: string;
    readonly width: number;
    readonly height: number;
    readonly orientation: Orientation;
    readonly displayWidth: number;
    readonly displayHeight: number;
    readonly transparent: boolean;
    readonly animated: boolean;
    /** Frames of an animated source (1 for a still image); outputs are made from the first. */
    readonly frames: number;
    /** The source's colour profile and whether its pixels were converted to sRGB (outputs are sRGB, untagged). */
    readonly colour: ColourResult;
  };
  readonly outputs: readonly ManifestOutput[];
  readonly timings: Timings;
  readonly createdAt: string;
}

export interface QuarantineRecord {
  readonly version: 1;
  readonly generator: string;
  readonly source: { location: string; key: string; etag?: string; size?: number; versionId?: string };
  readonly reason: InvalidReason;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly copiedTo: string;
  readonly quarantinedAt: string;
}

/** Who wrote a record: this package and its version. */
export const GENERATOR = `imgpipe/${VERSION}`;

const RECORD_PUT: PutOptions = { contentType: 'application/json', cacheControl: 'no-cache' };

export async function writeRecord(storage: Storage, key: string, record: Manifest | QuarantineRecord) {
  await storage.put(key, jsonBytes(record), RECORD_PUT);
}

/** The quarantine record at `key`, or undefined when there is none or it cannot be read as JSON. */
export async function readQuarantineRecord(
  storage: Storage,
  key: string,
): Promise<QuarantineRecord | undefined> {
  try {
    return await getJson<QuarantineRecord>(storage, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The manifest at `key`, or undefined when there is none or it cannot be read as JSON. */
export async function readManifest(storage: Storage, key: string): Promise<Manifest | undefined> {
  try {
    return await getJson<Manifest>(storage, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    // An unreadable manifest is not a reason to fail: the object is processed again and it is rewritten.
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}
