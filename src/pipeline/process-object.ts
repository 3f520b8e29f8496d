import { performance } from 'node:perf_hooks';
import type { PipelineConfig } from '../core/config.ts';
import {
  InvalidImageError,
  type InvalidReason,
  ObjectChangedError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
} from '../core/errors.ts';
import { FORMAT_META } from '../core/formats.ts';
import { type BucketLayout, dotSegment, S3_MAX_KEY_BYTES, type TransformLayout } from '../core/layout.ts';
import type { ObjectRef } from '../core/objects.ts';
import { settleAll } from '../core/settle.ts';
import { msSince, roundMs } from '../core/timing.ts';
import type { Storage, StoredObject } from '../storage/types.ts';
import { Deadline, invocationTimeError } from './deadline.ts';
import { type Encoder, inThreadEncoder, type ProcessedImage, processImage } from './process-image.ts';
import {
  GENERATOR,
  type Manifest,
  type ManifestOutput,
  type QuarantineRecord,
  readManifest,
  readQuarantineRecord,
  type Timings,
  writeRecord,
} from './records.ts';

/**
 * One stored object through the pipeline, with its I/O: the unit of work for the Lambda handlers
 * and the local CLI. Every call ends in an Outcome, or throws when trying again may help (or a
 * setting is wrong): the caller decides whether that means a Lambda retry or a failed row.
 *
 *   skip if current -> read the source -> process the image -> write outputs -> write the manifest
 *                          \ missing          \ invalid: quarantine a copy, with its reason, then
 *                                               withdraw the outputs of the version it replaced
 */

export interface ProcessDeps {
  readonly config: PipelineConfig;
  readonly layout: BucketLayout;
  /** The storage of the bucket (or folder) a source object is in. */
  readonly source: (bucket: string) => Storage;
  readonly output: Storage;
  readonly quarantine: Storage;
  readonly encoder?: Encoder;
  /** Reprocess even when a manifest for the same ETag and configuration exists. */
  readonly force?: boolean;
  /** Runs a stage under a tracing span (X-Ray through Powertools in Lambda); as is without one. */
  readonly trace?: <T>(stage: string, run: () => Promise<T>) => Promise<T>;
  /** When the Lambda invocation times out (a performance.now() time): caps the image's time budget. */
  readonly invocationEndsAt?: number;
  /**
   * When the invocation's work for this object began (a performance.now() time), before its status
   * write and reads, or the invocation's own start when it runs several objects: when more than
   * INVOCATION_RESERVE_MS went before the image and the image then runs out of the invocation's
   * time, it fails to be retried instead of being quarantined as too-slow (deadline.ts
   * invocationTimeError).
   */
  readonly handlingStartedAt?: number;
  /**
   * The image is made again after another one of the invocation (the outputs of a superseded
   * event, brought in line with the key's current content): running out of the invocation's time
   * always fails it to be retried, never quarantines content its own event judges.
   */
  readonly madeAgain?: boolean;
  /**
   * The workflow mode's Process: `ref.etag` is the content its inspection, scan and moderation
   * passed, so content of another ETag read under the key (put since, where the bucket keeps no
   * versions to read the inspected one by) is refused (ObjectChangedError), never processed: its
   * own event has it checked.
   */
  readonly inspectedOnly?: boolean;
  /**
   * The workflow mode's Process after its scan or moderation found the key gone: the object is
   * recorded missing without being read. Content there by now (the very bytes inspected, put back
   * with the same ETag, where the bucket keeps no versions) was checked by nothing: its own event
   * has it checked.
   */
  readonly gone?: boolean;
  /**
   * Where on-demand results are stored (IMGPIPE_TRANSFORM_PREFIX), when the transformation function
   * runs beside this one: the source's results there are withdrawn with its outputs.
   */
  readonly transforms?: TransformLayout;
}

export interface OutcomeBase {
  /** Full location of the source, e.g. s3://uploads/photos/cat.jpg. */
  readonly source: string;
  readonly key: string;
  /** Bytes read from the source and written as outputs. */
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** What the source is, as displayed (after orientation). */
interface ImageFacts {
  readonly etag: string;
  /** The source's size in bytes (bytesIn is what this call read: 0 for a duplicate). */
  readonly size: number;
  readonly format: string;
  readonly orientation: number;
  readonly width: number;
  readonly height: number;
  readonly outputs: readonly ManifestOutput[];
  readonly manifestKey: string;
  /** The configuration the outputs were made with. */
  readonly configHash: string;
}

export type Outcome =
  | (OutcomeBase & ImageFacts & { readonly status: 'processed'; readonly timings: Timings })
  | (OutcomeBase &
      ImageFacts & { readonly status: 'duplicate'; readonly message: string; readonly timings: Total })
  | (OutcomeBase & {
      readonly status: 'quarantined';
      readonly etag?: string;
      /** The source's size in bytes, as read or measured (bytesIn is what was read: 0 for one too large). */
      readonly size: number;
      readonly reason: InvalidReason;
      readonly message: string;
      readonly quarantineKey: string;
      /**
       * This version was quarantined already, for the same reason (S3 delivered its event again):
       * nothing was copied or recorded this time. Never set when `force` is (both are made again).
       */
      readonly repeated: boolean;
      /** Outputs, then the manifest, of the earlier version this one replaced, now deleted. */
      readonly removedOutputs: readonly string[];
      readonly timings: Total;
    })
  | (OutcomeBase & {
      readonly status: 'missing';
      readonly etag?: string;
      readonly message: string;
      readonly timings: Total;
    });

export type OutcomeStatus = Outcome['status'];
type Total = { readonly total: number };

/**
 * The manifest of a source's previous run, and a test of whether it is current for a given ETag
 * (same source bytes, same configuration). `force` ignores it. Used before reading the source (the
 * event's ETag) and after (the ETag the read found).
 */
export async function previousOutputs(
  key: string,
  deps: Pick<ProcessDeps, 'config' | 'layout' | 'output' | 'force'>,
): Promise<{
  manifestKey: string;
  current: (etag: string | undefined) => Manifest | undefined;
  /** The manifest as it was (with `force` too): what the outputs written now replace. */
  previous: Manifest | undefined;
}> {
  const manifestKey = deps.layout.manifestKey(key);
  const previous = await readManifest(deps.output, manifestKey);
  // Templates that drop what tells two sources apart ({dir}{name} for cat.jpg and cat.png) give
  // them one manifest and the same outputs: written, this source's would replace the other's, and
  // the other's deletion would then delete them. No retry changes the keys.
  if (previous && previous.source.key !== key)
    throw new StorageError(
      'put',
      deps.output.locate(manifestKey),
      `The outputs of ${key} would replace those of ${previous.source.key}: the key templates give both the manifest ${manifestKey} (a template with {name} drops the extension that tells them apart): use {key}, or {name}.{srcext}, or rename one of them`,
      { retryable: false, code: 'storage/key-collision' },
    );
  const current = (etag: string | undefined) =>
    !deps.force &&
    etag !== undefined &&
    previous?.source.etag === etag &&
    previous.configHash === deps.config.hash
      ? previous
      : undefined;
  return { manifestKey, current, previous };
}

/**
 * Refuses a source key with a `.` or `..` segment (`photos/../cat.jpg`), which S3 takes as it is:
 * its outputs' keys carry the segment, and a browser or CDN resolves their URLs
 * (`large/photos/../cat.jpg.webp` is `large/cat.jpg.webp`) to another source's outputs. No retry
 * changes the key.
 */
export function checkDotSegments(ref: ObjectRef, storage: Storage): void {
  if (dotSegment(ref.key) === undefined) return;
  throw new StorageError(
    'put',
    storage.locate(ref.key),
    `The key ${ref.key} has a . or .. segment: the URLs of its outputs would resolve to other keys' (large/photos/../cat.jpg.webp is large/cat.jpg.webp to a browser or CloudFront); upload it under a key without one`,
    { retryable: false, code: 'storage/key-unusable' },
  );
}

/**
 * Refuses a source whose derived keys (its outputs and manifest, or its quarantine copy and record)
 * would be longer than S3 stores (1,024 bytes), before any request for them: S3 would refuse each
 * ("Your key is too long"), and no retry can change that.
 */
export function checkKeyLengths(
  ref: ObjectRef,
  layout: BucketLayout,
  of: 'outputs' | 'quarantine',
  source: Pick<Storage, 'locate'>,
): void {
  const keys = of === 'outputs' ? layout.outputKeys(ref.key) : Object.values(layout.quarantineKeys(ref.key));
  const what = of === 'outputs' ? 'outputs and manifest' : 'quarantine copy and record';
  const longest = Math.max(...keys.map((key) => Buffer.byteLength(key)));
  if (longest <= S3_MAX_KEY_BYTES) return;
  // Where the source is, as its storage names it: imgpipe process's folder was shown as
  // s3:///tmp/photos/..., an S3 URI with the folder for a bucket.
  const location = source.locate(ref.key);
  const shown = location.endsWith(ref.key)
    ? `${location.slice(0, location.length - ref.key.length)}${ref.key.slice(0, 80)}${ref.key.length > 80 ? '…' : ''}`
    : location;
  throw new StorageError(
    'put',
    location,
    `The key of ${shown} is ${Buffer.byteLength(ref.key)} bytes: its ${what} would have keys of up to ${longest} bytes, more than the ${S3_MAX_KEY_BYTES} S3 stores; it needs a key at least ${longest - S3_MAX_KEY_BYTES} bytes shorter`,
    { retryable: false, code: 'storage/key-too-long' },
  );
}

export async function processObject(ref: ObjectRef, deps: ProcessDeps): Promise<Outcome> {
  const storage = deps.source(ref.bucket);
  checkKeyLengths(ref, deps.layout, 'outputs', storage);
  const started = performance.now();
  checkDotSegments(ref, storage);
  const base = { source: storage.locate(ref.key), key: ref.key, bytesIn: 0, bytesOut: 0 };
  const { manifestKey, current, previous } = await previousOutputs(ref.key, deps);
  const known = current(ref.etag);
  if (known) return duplicate(base, known, manifestKey, started);

  const read: SourceRead = deps.gone
    ? {
        kind: 'missing',
        message: `No object at ${storage.locate(ref.key)} when its checks ran: content put there since is checked by its own event`,
      }
    : await readSource(storage, ref, deps.config);
  if (read.kind === 'missing') {
    return { ...base, status: 'missing', etag: ref.etag, message: read.message, timings: total(started) };
  }
  if (read.kind === 'invalid') return quarantine(ref, deps, read.error, { ...base, ...read.object }, started);
  const { object, ms: readMs } = read;
  if (deps.inspectedOnly && ref.etag !== undefined && object.etag !== ref.etag)
    throw new ObjectChangedError('get', storage.locate(ref.key), ref.etag);
  const unchanged = current(object.etag);
  if (unchanged) return duplicate(base, unchanged, manifestKey, started);

  // The object as read: an event delivered late names an earlier version (its ETag and size).
  const readBase = { ...base, etag: object.etag, size: object.size, bytesIn: object.size };
  let image: ProcessedImage;
  // Outputs are written only once processImage has returned: an image stopped at its deadline
  // leaves nothing behind but its quarantine copy.
  const imageStartedAt = performance.now();
  const deadline = new Deadline({
    maxSeconds: deps.config.limits.maxSecondsPerImage,
    invocationEndsAt: deps.invocationEndsAt,
    now: imageStartedAt,
  });
  try {
    const run = () => processImage(object.body, deps.config, deps.encoder ?? inThreadEncoder, deadline);
    image = await (deps.trace ? deps.trace('processImage', run) : run());
  } catch (error) {
    if (error instanceof InvalidImageError) {
      const waitedMs =
        deps.handlingStartedAt === undefined ? undefined : imageStartedAt - deps.handlingStartedAt;
      const notTheImage = invocationTimeError(error, waitedMs, deps.madeAgain);
      if (notTheImage) throw notTheImage;
      return quarantine(ref, deps, error, readBase, started);
    }
    throw error;
  } finally {
    deadline.dispose();
  }

  const writeStart = performance.now();
  let manifest: Manifest;
  let outputs: ManifestOutput[];
  let timings: Timings;
  try {
    outputs = await writeOutputs(ref.key, image, deps);
    // Outputs of the previous manifest that this configuration no longer writes (a variant or format
    // removed, another output key template; a new manifest template finds no previous manifest) go before the new manifest, which alone lists what is there
    // afterwards: left, nothing would ever delete them, not even the source's deletion. A failure
    // here leaves the previous manifest, so a retry finds it stale and deletes them again.
    await deleteStaleOutputs(deps.output, manifestKey, previous, outputs);
    const { probe, decode, resize, encode } = image.timings;
    timings = {
      read: roundMs(readMs),
      probe,
      decode,
      resize,
      encode,
      write: msSince(writeStart),
      total: msSince(started),
    };
    manifest = buildManifest(readBase.source, object, image, outputs, timings, deps.config);
    await writeRecord(deps.output, manifestKey, manifest);
  } catch (error) {
    if (error instanceof StorageError && !error.retryable)
      await withdrawRefusedRun(ref, deps, image, object.etag, previous).catch(() => undefined);
    throw error;
  }
  return {
    ...readBase,
    status: 'processed',
    bytesOut: outputs.reduce((sum, o) => sum + o.bytes, 0),
    size: manifest.source.size,
    format: manifest.source.format,
    orientation: manifest.source.orientation,
    width: manifest.source.displayWidth,
    height: manifest.source.displayHeight,
    outputs,
    manifestKey,
    configHash: manifest.configHash,
    timings,
  };
}

/**
 * A run whose writes S3 refused for good (access denied on a prefix, a KMS key it may not use):
 * every retry fails the same, so the outputs it wrote before the refusal would stay published,
 * listed by no manifest; once the configuration changed (the refused variant dropped), nothing
 * deleted them, not even the source's removal, which looks for its own configuration's keys only.
 * They go now, but for those the previous manifest lists for this very content (a run of another
 * configuration made them: they show it still), and, as for a quarantine that fails for good, the
 * outputs of the content this upload replaced (withdrawReplacedOutputs). A failure S3 may not
 * repeat leaves them: Lambda's retry writes them again and lists them, and a concurrent delivery of
 * this content may have written the same keys for its own manifest.
 */
async function withdrawRefusedRun(
  ref: ObjectRef,
  deps: ProcessDeps,
  image: ProcessedImage,
  etag: string,
  previous: Manifest | undefined,
): Promise<void> {
  const kept = new Set(
    previous?.source.key === ref.key && previous.source.etag === etag
      ? previous.outputs.map((entry) => entry.key)
      : [],
  );
  const written = image.outputs
    .map((output) => deps.layout.outputKey(ref.key, output.variant, output.format))
    .filter((key) => !kept.has(key));
  await settleAll([...new Set(written)].map((key) => deps.output.delete(key)));
  await withdrawReplacedOutputs(ref, deps, etag, false);
}

export type SourceRead =
  | { readonly kind: 'read'; readonly object: StoredObject; readonly ms: number }
  | { readonly kind: 'missing'; readonly message: string }
  | {
      readonly kind: 'invalid';
      readonly error: InvalidImageError;
      /** What the storage said of the object it refused to read (its current version, not the event's). */
      readonly object: { readonly etag?: string; readonly size?: number };
    };

/** Reads the source within the byte limit: the object, or why there is none to process. */
export async function readSource(
  storage: Storage,
  ref: ObjectRef,
  config: PipelineConfig,
): Promise<SourceRead> {
  const started = performance.now();
  try {
    const object = await storage.get(ref.key, { maxBytes: config.limits.maxBytes, versionId: ref.versionId });
    return { kind: 'read', object, ms: performance.now() - started };
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return { kind: 'missing', message: error.message };
    if (error instanceof ObjectTooLargeError) {
      const invalid = new InvalidImageError(
        'too-large',
        `The file is ${error.size} bytes, more than maxBytes (${error.maxBytes})`,
        { bytes: error.size, maxBytes: error.maxBytes },
      );
      return { kind: 'invalid', error: invalid, object: { etag: error.etag, size: error.size } };
    }
    throw error;
  }
}

/** Writes every encoded variant under its layout key; the manifest comes after all of them. */
async function writeOutputs(
  sourceKey: string,
  image: ProcessedImage,
  deps: ProcessDeps,
): Promise<ManifestOutput[]> {
  return settleAll(
    image.outputs.map(async (output): Promise<ManifestOutput> => {
      const key = deps.layout.outputKey(sourceKey, output.variant, output.format);
      const contentType = FORMAT_META[output.format].mimeType;
      await deps.output.put(key, output.bytes, { contentType, cacheControl: deps.config.cacheControl });
      const { variant, format, width, height, limit } = output;
      const bytes = output.bytes.length;
      return { variant, format, key, contentType, width, height, bytes, ...(limit && { limit }) };
    }),
  );
}

function buildManifest(
  location: string,
  object: StoredObject,
  image: ProcessedImage,
  outputs: readonly ManifestOutput[],
  timings: Timings,
  config: PipelineConfig,
): Manifest {
  const { header } = image;
  return {
    version: 1,
    generator: GENERATOR,
    configHash: config.hash,
    source: {
      location,
      key: object.key,
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
      frames: header.frames,
      colour: image.colour,
    },
    outputs,
    timings,
    createdAt: new Date().toISOString(),
  };
}

export function duplicate(
  base: OutcomeBase,
  manifest: Manifest,
  manifestKey: string,
  started: number,
): Outcome {
  return {
    ...base,
    status: 'duplicate',
    etag: manifest.source.etag,
    size: manifest.source.size,
    format: manifest.source.format,
    orientation: manifest.source.orientation,
    width: manifest.source.displayWidth,
    height: manifest.source.displayHeight,
    outputs: manifest.outputs,
    manifestKey,
    configHash: manifest.configHash,
    message: `Already processed at ${manifest.createdAt} with the same ETag and configuration`,
    timings: total(started),
  };
}

/** Copies the untouched source aside with a reason record. The source itself is never modified. */
async function quarantine(
  ref: ObjectRef,
  deps: ProcessDeps,
  error: InvalidImageError,
  base: OutcomeBase & { readonly etag?: string; readonly size?: number },
  started: number,
): Promise<Outcome> {
  const keys = deps.layout.quarantineKeys(ref.key);
  try {
    checkKeyLengths(ref, deps.layout, 'quarantine', deps.source(ref.bucket));
  } catch (tooLong) {
    // Not quarantined, and failed for good: the outputs of the content this upload replaced stay
    // published under its key otherwise, as if it were still there.
    await withdrawReplacedOutputs(ref, deps, base.etag ?? ref.etag, CONTENT_REASONS.has(error.reason));
    throw tooLong;
  }
  const etag = base.etag ?? ref.etag;
  const size = base.size ?? ref.size ?? base.bytesIn;
  // S3 delivers an event at least once: this version may be quarantined already, for this reason.
  // The record is written last, so a record naming its ETag means the copy is there and the
  // replaced version's outputs are withdrawn: a retry after a failure in between redoes it all.
  // `force` (a forced reprocessing) makes both again: the record then says what this run found
  // (the scanner's current signature, moderation's current labels).
  const existing =
    etag === undefined || deps.force ? undefined : await readQuarantineRecord(deps.quarantine, keys.reason);
  const contentRejected = CONTENT_REASONS.has(error.reason);
  // Not when the key has outputs to withdraw: it was processed since with other content, and this
  // content, put back, is quarantined anew, with a copy and a record of its own (this version, this
  // time). The first ones kept their time, and the quarantine bucket's lifecycle, which expires
  // both some days after they were written, counted from the first quarantine.
  // Nor when this very content was processed after the record was written (its manifest is newer):
  // a reason of this configuration (too-slow, a limit) keeps that content's outputs, so nothing is
  // withdrawn, and the earlier quarantine (a delivery that ran out of time, which another delivery
  // then processed) was superseded. Counted as a duplicate, a quarantine that moved the status
  // item from processed to quarantined was reported as done by an earlier delivery.
  const done = await quarantineDone(
    ref.key,
    etag,
    error.reason,
    existing,
    () => readManifest(deps.output, deps.layout.manifestKey(ref.key)),
    async () => (await deps.source(ref.bucket).head(ref.key))?.etag,
    async () => (await unlistedOutputs(ref.key, deps)).length > 0,
  );
  if (!done) {
    try {
      // Only the content that was judged: its version where the bucket keeps versions (a put over
      // the key since must not keep a malware finding from being quarantined and announced), else
      // the key's content while it has the ETag judged (a source replaced since has its own event).
      await deps.quarantine.copyFrom(deps.source(ref.bucket), ref.key, keys.object, {
        ifMatch: etag,
        ...(ref.versionId === undefined ? {} : { versionId: ref.versionId }),
      });
    } catch (changed) {
      if (!(changed instanceof ObjectChangedError || changed instanceof ObjectNotFoundError)) {
        // Refused for good (S3 copies at most 5 GiB at once, and an upload too large to read may be
        // larger; access denied): not quarantined, and every retry fails the same. The outputs of
        // the content this upload replaced go now, as for a key too long for its quarantine:
        // left, they stayed published under the key as if that content were still there.
        if (changed instanceof StorageError && !changed.retryable)
          await withdrawReplacedOutputs(ref, deps, base.etag ?? ref.etag, contentRejected);
        throw changed;
      }
      // Replaced or deleted since it was judged: what was judged is gone, and no retry brings it
      // back; the new content, or the removal, has its own event.
      const since = changed instanceof ObjectChangedError ? 'its new content is' : 'its removal is';
      return {
        ...base,
        status: 'missing',
        etag,
        message: `${changed.message} after it was found invalid (${error.reason}); ${since} handled by its own event`,
        timings: total(started),
      };
    }
  }
  const removedOutputs = await withdrawReplacedOutputs(ref, deps, base.etag ?? ref.etag, contentRejected);
  if (!done) {
    const record: QuarantineRecord = {
      version: 1,
      generator: GENERATOR,
      source: {
        location: base.source,
        key: ref.key,
        etag,
        size,
        versionId: ref.versionId,
      },
      reason: error.reason,
      message: error.message,
      details: error.details,
      copiedTo: deps.quarantine.locate(keys.object),
      quarantinedAt: new Date().toISOString(),
    };
    await writeRecord(deps.quarantine, keys.reason, record);
  }
  return {
    ...base,
    etag: base.etag ?? ref.etag,
    size,
    status: 'quarantined',
    reason: error.reason,
    message: error.message,
    quarantineKey: keys.object,
    // A redelivery finds the outputs withdrawn by the attempt that wrote the record. Outputs to
    // withdraw mean the key was processed since with other content: this content is quarantined
    // anew (uploaded again), not a repeat, though its record from before still matches.
    repeated: done && removedOutputs.length === 0,
    removedOutputs,
    timings: total(started),
  };
}

/**
 * Quarantines an object for a reason found outside processImage (the workflow mode's malware scan
 * or content moderation, or its header inspection): the same copy, reason record and withdrawal of
 * a replaced version's outputs as an invalid image gets here. The etag and size are the source's as
 * it is now when `ref` has none.
 */
export async function rejectObject(
  ref: ObjectRef,
  error: InvalidImageError,
  deps: ProcessDeps,
): Promise<Outcome> {
  const started = performance.now();
  const storage = deps.source(ref.bucket);
  const current = ref.etag === undefined ? await storage.head(ref.key) : undefined;
  const base = {
    source: storage.locate(ref.key),
    key: ref.key,
    bytesIn: ref.size ?? current?.size ?? 0,
    bytesOut: 0,
    etag: ref.etag ?? current?.etag,
  };
  return quarantine(ref, deps, error, base, started);
}

/**
 * After a quarantine: the outputs of an earlier version of the source must not stay published for
 * a key whose current content was rejected. They are deleted when the source's current content is
 * the one just rejected (same ETag; for a rejection whose ETag is unknown, whatever is current) and
 * the manifest describes other content, or the same content rejected for what it holds (malware,
 * moderation labels). A manifest of the same content rejected now only because the configuration
 * changed is kept, and so is everything when a newer version has arrived since
 * (its own event decides) or the source is gone. Without a manifest, the outputs at the layout's
 * keys for the source go (deleteUnlisted), on the same condition of the source's current content.
 *
 * Outputs go first, the manifest last: a failure in between leaves a manifest listing what is
 * left, the error makes the caller retry (Lambda retries the event), and the retry, finding the
 * manifest not current, quarantines again and deletes the rest; deleting a missing key succeeds.
 * Returns the deleted keys.
 */
async function withdrawReplacedOutputs(
  ref: ObjectRef,
  deps: ProcessDeps,
  rejectedEtag: string | undefined,
  contentRejected: boolean,
): Promise<string[]> {
  const current = await readManifest(deps.output, deps.layout.manifestKey(ref.key));
  // No manifest: the variants a run wrote before it failed (an S3 PUT refused mid-variants) are
  // published and listed nowhere; while the key holds the content rejected, they go too.
  if (!current) {
    const head = await deps.source(ref.bucket).head(ref.key);
    if (head === undefined || (rejectedEtag !== undefined && head.etag !== rejectedEtag)) return [];
    return deleteUnlisted(ref.key, deps);
  }
  const manifest = await replacedManifest(
    ref.key,
    async () => (await deps.source(ref.bucket).head(ref.key))?.etag,
    rejectedEtag,
    contentRejected,
    current,
  );
  if (!manifest) return [];
  // The on-demand results go too: the function refuses them for content it does not find checked
  // or current, but one too large to answer was given out as a redirect to its stored object.
  const results = deps.transforms ? await deleteResults(ref.key, deps.output, deps.transforms) : [];
  return [...results, ...(await deleteOutputs(deps.output, deps.layout.manifestKey(ref.key), manifest))];
}

/**
 * Whether quarantining the content `etag` under `key` for `reason` is done already: its reason
 * record names it (this content, this key, this reason), the key was not processed with it since
 * (`processedSince`), and there are no outputs of other content to withdraw (`replacedManifest`),
 * nor, without a manifest, outputs at the layout's keys that a run stopped before its manifest
 * left (`hasUnlisted`), which withdrawReplacedOutputs withdraws while the key holds this content.
 * The key's manifest is read once for these checks, and only for a matching record; `currentEtag`
 * is the source's as it is now. imgpipe process's dry run asks the same, so it predicts what the
 * run does.
 */
export async function quarantineDone(
  key: string,
  etag: string | undefined,
  reason: InvalidReason,
  existing: QuarantineRecord | undefined,
  readKeyManifest: () => Promise<Manifest | undefined>,
  currentEtag: () => Promise<string | undefined>,
  hasUnlisted: () => Promise<boolean>,
): Promise<boolean> {
  if (
    existing === undefined ||
    etag === undefined ||
    existing.source.etag !== etag ||
    existing.source.key !== key ||
    existing.reason !== reason
  )
    return false;
  const manifest = await readKeyManifest();
  if (processedSince(key, manifest, etag, existing.quarantinedAt)) return false;
  // Counted done, the dry run called such a file already quarantined while the run withdrew
  // those outputs and called it quarantined.
  if (manifest === undefined) return !((await currentEtag()) === etag && (await hasUnlisted()));
  return (
    (await replacedManifest(key, currentEtag, etag, CONTENT_REASONS.has(reason), manifest)) === undefined
  );
}

/**
 * Whether the key's manifest names this very content and was written after `quarantinedAt` (its
 * reason record's time): the content was processed since it was quarantined.
 */
function processedSince(
  key: string,
  manifest: Manifest | undefined,
  etag: string | undefined,
  quarantinedAt: string,
): boolean {
  return (
    manifest?.source.key === key &&
    manifest.source.etag === etag &&
    Date.parse(manifest.createdAt) > Date.parse(quarantinedAt)
  );
}

/**
 * The manifest whose outputs withdrawReplacedOutputs withdraws, or undefined when none is to go;
 * `manifest` is the key's, as read by the caller.
 */
async function replacedManifest(
  key: string,
  currentEtag: () => Promise<string | undefined>,
  rejectedEtag: string | undefined,
  contentRejected: boolean,
  manifest: Manifest | undefined,
): Promise<Manifest | undefined> {
  // Another source's outputs (templates that give two sources one manifest): not this one's to withdraw.
  if (!manifest || manifest.source.key !== key) return undefined;
  const current = await currentEtag();
  if (current === undefined) return undefined;
  if (rejectedEtag !== undefined && current !== rejectedEtag) return undefined;
  // Outputs of the very content rejected stay only when the configuration alone rejects it now:
  // malware or moderation labels are in the content, so its outputs show them.
  if (current === manifest.source.etag && !contentRejected) return undefined;
  return manifest;
}

/**
 * The on-demand results of a source: the keys directly under its prefix (those further down belong
 * to sources whose keys continue this one's, `a/b.jpg` under `a`).
 */
export async function deleteResults(
  key: string,
  output: Storage,
  layout: TransformLayout,
): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of output.list(layout.sourcePrefix(key)))
    if (layout.isResultOf(key, object.key)) keys.push(object.key);
  await settleAll(keys.map((result) => output.delete(result)));
  return keys;
}

/** Reasons that judge the content itself (the workflow's malware scan and moderation), not a limit of this configuration. */
const CONTENT_REASONS: ReadonlySet<InvalidReason> = new Set(['malware', 'moderation']);

/** Deletes the keys `previous` lists that `outputs` does not, and returns them. */
async function deleteStaleOutputs(
  output: Storage,
  manifestKey: string,
  previous: Manifest | undefined,
  outputs: readonly ManifestOutput[],
): Promise<string[]> {
  if (!previous) return [];
  return deleteListed(output, previous, [...outputs.map((entry) => entry.key), manifestKey]);
}

/** Deletes the keys a manifest lists, less `kept`, and returns them. */
async function deleteListed(output: Storage, manifest: Manifest, kept: readonly string[]): Promise<string[]> {
  const keep = new Set(kept);
  const listed = [...new Set(manifest.outputs.map((entry) => entry.key))].filter((key) => !keep.has(key));
  await settleAll(listed.map((key) => output.delete(key)));
  return listed;
}

/**
 * Deletes what a manifest lists, then the manifest: the one way outputs are removed (a replaced
 * source here; a deleted source on ObjectRemoved). Idempotent: a key already gone is no error, and
 * a failure part-way leaves the manifest naming what is left, so calling it again finishes the job.
 * Returns the deleted keys, the manifest last.
 */
export async function deleteOutputs(
  output: Storage,
  manifestKey: string,
  manifest: Manifest,
): Promise<string[]> {
  const outputs = await deleteListed(output, manifest, [manifestKey]);
  await output.delete(manifestKey);
  return [...outputs, manifestKey];
}

/**
 * Deletes the outputs the layout gives a source that exist, the manifest aside (a source without
 * one: what a run that failed before its manifest wrote), and returns them.
 */
export async function deleteUnlisted(
  key: string,
  deps: Pick<ProcessDeps, 'layout' | 'output'>,
): Promise<string[]> {
  const present = await unlistedOutputs(key, deps);
  await settleAll(present.map((output) => deps.output.delete(output)));
  return present;
}

/** The outputs the layout gives a source that exist, the manifest aside (what deleteUnlisted deletes). */
export async function unlistedOutputs(
  key: string,
  deps: Pick<ProcessDeps, 'layout' | 'output'>,
): Promise<string[]> {
  const manifestKey = deps.layout.manifestKey(key);
  // A key too long for S3 was never written (checkKeyLengths), nor may it be asked for.
  const keys = [...new Set(deps.layout.outputKeys(key))].filter(
    (output) => output !== manifestKey && Buffer.byteLength(output) <= S3_MAX_KEY_BYTES,
  );
  const found = await settleAll(
    keys.map(async (output) => ((await deps.output.head(output)) ? output : undefined)),
  );
  return found.filter((output): output is string => output !== undefined);
}

function total(started: number): Total {
  return { total: msSince(started) };
}
