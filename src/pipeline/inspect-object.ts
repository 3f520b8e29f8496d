import { performance } from 'node:perf_hooks';
import { InvalidImageError } from '../core/errors.ts';
import type { ObjectRef } from '../core/objects.ts';
import { msSince } from '../core/timing.ts';
import { inspectImage } from '../image/inspect.ts';
import type { ImageHeader } from '../image/probe.ts';
import {
  checkDotSegments,
  checkKeyLengths,
  duplicate,
  type Outcome,
  type ProcessDeps,
  previousOutputs,
  readSource,
} from './process-object.ts';

/**
 * The first step of the workflow mode: everything that can be decided about a stored object before
 * any pixel is decoded or any scanner runs. Whether its outputs are already current (a repeated
 * event), whether it is still there, and its header against the limits (image/inspect: format from
 * the magic bytes, dimensions, scans, animation, maxBytes, maxPixels).
 *
 * Ends in an Outcome when there is nothing more to do (`duplicate`, `missing`), in the reason to
 * quarantine it, or in the facts the later steps need.
 */
export type Inspection =
  | { readonly kind: 'done'; readonly outcome: Outcome }
  | { readonly kind: 'invalid'; readonly error: InvalidImageError; readonly ref: ObjectRef }
  | { readonly kind: 'image'; readonly ref: ObjectRef; readonly header: ImageHeader; readonly ms: number };

export async function inspectObject(
  ref: ObjectRef,
  deps: Pick<ProcessDeps, 'config' | 'layout' | 'source' | 'output' | 'force'>,
): Promise<Inspection> {
  const storage = deps.source(ref.bucket);
  checkKeyLengths(ref, deps.layout, 'outputs', storage);
  const started = performance.now();
  checkDotSegments(ref, storage);
  const base = { source: storage.locate(ref.key), key: ref.key, bytesIn: 0, bytesOut: 0 };
  const { manifestKey, current } = await previousOutputs(ref.key, deps);
  const known = current(ref.etag);
  if (known) return { kind: 'done', outcome: duplicate(base, known, manifestKey, started) };

  const read = await readSource(storage, ref, deps.config);
  if (read.kind === 'missing') {
    const outcome: Outcome = {
      ...base,
      status: 'missing',
      etag: ref.etag,
      message: read.message,
      timings: { total: msSince(started) },
    };
    return { kind: 'done', outcome };
  }
  if (read.kind === 'invalid') return { kind: 'invalid', error: read.error, ref };
  const { object } = read;
  const unchanged = current(object.etag);
  if (unchanged) return { kind: 'done', outcome: duplicate(base, unchanged, manifestKey, started) };
  // The event may lack what the read found: later steps name the very content inspected, by its
  // version where the bucket keeps versions (a reprocessing's event names none), so a newer upload
  // between the checks and Process is not published unchecked.
  const version = object.versionId ?? ref.versionId;
  const inspected: ObjectRef = {
    ...ref,
    etag: object.etag,
    size: object.size,
    ...(version === undefined ? {} : { versionId: version }),
  };
  try {
    // The animation setting too: with `quarantine`, an animated upload is refused here, before the
    // workflow scans it and pays Rekognition to moderate it, and whatever those would find.
    const header = inspectImage(object.body, deps.config.limits, deps.config.animation);
    return { kind: 'image', ref: inspected, header, ms: msSince(started) };
  } catch (error) {
    if (error instanceof InvalidImageError) return { kind: 'invalid', error, ref: inspected };
    throw error;
  }
}
