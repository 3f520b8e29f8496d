import { performance } from 'node:perf_hooks';
import { FORMAT_META, type OutputFormat } from '../codecs/formats.ts';
import type { PipelineConfig } from '../config/pipeline.ts';
import {
  InvalidImageError,
  type InvalidReason,
  ObjectNotFoundError,
  ObjectTooLargeError,
} from '../errors.ts';
import type { Orientation } from '../image/orientation.ts';
import { getJson, type Storage } from '../storage/types.ts';
import { VERSION } from '../version.ts';
import { manifestKey, outputKey } from './keys.ts';
import { type Encoder, type ImageTimings, inThreadEncoder, processImage } from './process-image.ts';

/**
 * One stored object through the pipeline, with its I/O: the unit of work for both the Lambda
 * handler and the local CLI. Every call ends in an Outcome, or throws when trying again may help
 * (or a setting is wrong): the caller decides whether that means a Lambda retry or a failed row.
 */

export interface SourceRef {
  readonly storage: Storage;
  readonly key: string;
  /** From the event; lets a duplicate delivery be skipped without reading the object. */
  readonly etag?: string;
  readonly size?: number;
  readonly versionId?: string;
}

export interface ProcessDeps {
  readonly config: PipelineConfig;
  readonly output: Storage;
  readonly quarantine: Storage;
  readonly quarantinePrefix: string;
  readonly encoder?: Encoder;
  /** Reprocess even when a manifest for the same ETag and configuration exists. */
  readonly force?: boolean;
}

export type OutcomeStatus = 'processed' | 'duplicate' | 'quarantined' | 'missing';

export interface Timings extends ImageTimings {
  read: number;
  write: number;
}

export interface Outcome {
  readonly status: OutcomeStatus;
  readonly source: string;
  readonly key: string;
  readonly etag?: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly format?: string;
  readonly width?: number;
  readonly height?: number;
  readonly outputs: readonly ManifestOutput[];
  readonly manifestKey?: string;
  readonly reason?: InvalidReason;
  readonly message?: string;
  readonly quarantineKey?: string;
  readonly timings: Partial<Timings>;
}

export interface ManifestOutput {
  readonly variant: string;
  readonly format: OutputFormat;
  readonly key: string;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
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

export function quarantineKeys(prefix: string, sourceKey: string): { object: string; reason: string } {
  return { object: `${prefix}objects/${sourceKey}`, reason: `${prefix}reasons/${sourceKey}.json` };
}

export async function processObject(ref: SourceRef, deps: ProcessDeps): Promise<Outcome> {
  const started = performance.now();
  const { config } = deps;
  const base = { source: ref.storage.locate(ref.key), key: ref.key, outputs: [] as ManifestOutput[] };
  const manifestAt = manifestKey(config.keys, ref.key);

  const previous = deps.force ? undefined : await readManifest(deps.output, manifestAt);
  const isCurrent = (etag: string | undefined) =>
    previous !== undefined &&
    etag !== undefined &&
    previous.source.etag === etag &&
    previous.configHash === config.hash;
  if (isCurrent(ref.etag)) {
    return duplicate(base, previous!, manifestAt, started);
  }

  let readMs = 0;
  let object: Awaited<ReturnType<Storage['get']>>;
  try {
    const readStart = performance.now();
    object = await ref.storage.get(ref.key, { maxBytes: config.limits.maxBytes, versionId: ref.versionId });
    readMs = performance.now() - readStart;
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      return {
        ...base,
        status: 'missing',
        etag: ref.etag,
        bytesIn: 0,
        bytesOut: 0,
        message: error.message,
        timings: { total: since(started) },
      };
    }
    if (error instanceof ObjectTooLargeError) {
      const invalid = new InvalidImageError(
        'too-large',
        `The file is ${error.size} bytes, more than maxBytes (${error.maxBytes})`,
        {
          bytes: error.size,
          maxBytes: error.maxBytes,
        },
      );
      return quarantine(ref, deps, invalid, { ...base, etag: ref.etag, bytesIn: 0 }, started);
    }
    throw error;
  }
  if (isCurrent(object.etag)) return duplicate(base, previous!, manifestAt, started);

  let image: Awaited<ReturnType<typeof processImage>>;
  try {
    image = await processImage(object.body, config, deps.encoder ?? inThreadEncoder);
  } catch (error) {
    if (error instanceof InvalidImageError) {
      return quarantine(ref, deps, error, { ...base, etag: object.etag, bytesIn: object.size }, started);
    }
    throw error;
  }

  const writeStart = performance.now();
  const outputs = await Promise.all(
    image.outputs.map(async (output): Promise<ManifestOutput> => {
      const key = outputKey(config.keys, ref.key, output.variant, output.format);
      const contentType = FORMAT_META[output.format].mimeType;
      await deps.output.put(key, output.bytes, { contentType, cacheControl: config.cacheControl });
      const { variant, format, width, height } = output;
      return { variant, format, key, contentType, width, height, bytes: output.bytes.length };
    }),
  );
  const { probe, decode, resize, encode } = image.timings;
  const timings: Timings = {
    read: round(readMs),
    probe,
    decode,
    resize,
    encode,
    write: since(writeStart),
    total: since(started),
  };
  const { header } = image;
  const manifest: Manifest = {
    version: 1,
    generator: `imgpipe/${VERSION}`,
    configHash: config.hash,
    source: {
      location: base.source,
      key: ref.key,
      etag: object.etag,
      size: object.size,
      format: header.format,
      width: header.width,
      height: header.height,
      orientation: header.orientation,
      displayWidth: header.displayWidth,
      displayHeight: header.displayHeight,
      transparent: image.transparent,
      animated: header.animated,
    },
    outputs,
    timings,
    createdAt: new Date().toISOString(),
  };
  await deps.output.put(manifestAt, jsonBytes(manifest), {
    contentType: 'application/json',
    cacheControl: 'no-cache',
  });
  return {
    ...base,
    status: 'processed',
    etag: object.etag,
    bytesIn: object.size,
    bytesOut: outputs.reduce((sum, o) => sum + o.bytes, 0),
    format: header.format,
    width: header.displayWidth,
    height: header.displayHeight,
    outputs,
    manifestKey: manifestAt,
    timings,
  };
}

async function readManifest(storage: Storage, key: string): Promise<Manifest | undefined> {
  try {
    return await getJson<Manifest>(storage, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    // An unreadable manifest is not a reason to fail: the object is processed again and it is rewritten.
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function duplicate(
  base: Pick<Outcome, 'source' | 'key'>,
  manifest: Manifest,
  key: string,
  started: number,
): Outcome {
  return {
    ...base,
    status: 'duplicate',
    etag: manifest.source.etag,
    bytesIn: 0,
    bytesOut: 0,
    format: manifest.source.format,
    width: manifest.source.displayWidth,
    height: manifest.source.displayHeight,
    outputs: manifest.outputs,
    manifestKey: key,
    message: `Already processed at ${manifest.createdAt} with the same ETag and configuration`,
    timings: { total: since(started) },
  };
}

/** Copies the untouched source aside with a reason record. The source itself is never modified. */
async function quarantine(
  ref: SourceRef,
  deps: ProcessDeps,
  error: InvalidImageError,
  base: Pick<Outcome, 'source' | 'key' | 'etag' | 'bytesIn'>,
  started: number,
): Promise<Outcome> {
  const keys = quarantineKeys(deps.quarantinePrefix, ref.key);
  await deps.quarantine.copyFrom(ref.storage, ref.key, keys.object);
  const record: QuarantineRecord = {
    version: 1,
    generator: `imgpipe/${VERSION}`,
    source: {
      location: base.source,
      key: ref.key,
      etag: base.etag,
      size: ref.size ?? base.bytesIn,
      versionId: ref.versionId,
    },
    reason: error.reason,
    message: error.message,
    details: error.details,
    copiedTo: deps.quarantine.locate(keys.object),
    quarantinedAt: new Date().toISOString(),
  };
  await deps.quarantine.put(keys.reason, jsonBytes(record), {
    contentType: 'application/json',
    cacheControl: 'no-cache',
  });
  return {
    ...base,
    outputs: [],
    status: 'quarantined',
    bytesOut: 0,
    reason: error.reason,
    message: error.message,
    quarantineKey: keys.object,
    timings: { total: since(started) },
  };
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
}

function since(start: number): number {
  return round(performance.now() - start);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
