import { type BucketLayout, S3_MAX_KEY_BYTES, type TransformLayout } from '../core/layout.ts';
import type { ObjectRef } from '../core/objects.ts';
import type { Storage } from '../storage/types.ts';
import { deleteOutputs, deleteResults, deleteUnlisted } from './process-object.ts';
import { readManifest } from './records.ts';

/**
 * A source object was removed (S3 ObjectRemoved, or EventBridge Object Deleted): its outputs and
 * manifest go too, and its on-demand results when `transforms` is given, so a deleted upload
 * leaves no outputs behind (people delete photos for privacy). Its quarantine copy and reason record,
 * if it was quarantined, stay for the quarantine bucket's lifecycle: the function deletes nothing
 * there. Without a manifest, the outputs at the keys the layout gives the source go (a run that
 * failed before its manifest left those it wrote published, listed nowhere).
 *
 * Only while the key is really gone: the source is looked up first, and if it exists (a newer
 * upload of the same key, or, in a versioned bucket, the permanent deletion of an older version
 * while the current one stays), everything is kept: the newer version's own event decides its
 * outputs. The status table, when there is one, orders the events of the key before this runs.
 */
export interface RemovalDeps {
  readonly layout: BucketLayout;
  readonly source: (bucket: string) => Storage;
  readonly output: Storage;
  /** IMGPIPE_DELETE_OUTPUTS: false keeps the outputs of deleted sources. */
  readonly deleteOutputs: boolean;
  /**
   * Where on-demand results are stored (IMGPIPE_TRANSFORM_PREFIX), when the transformation function
   * runs beside this one: the source's results there go with its outputs.
   */
  readonly transforms?: TransformLayout;
  /**
   * Records the removal once the key is known to be gone (the status table); `stale` when a later
   * event of the key is already recorded, which then decides the outputs instead.
   */
  readonly record?: () => Promise<'applied' | 'stale'>;
}

export type Removal =
  /** The source is gone; `removedOutputs` lists what was deleted, the manifest last (may be empty). */
  | { readonly status: 'deleted'; readonly removedOutputs: readonly string[] }
  /**
   * The key holds an object again (`current`, its ETag), or a later event is recorded: nothing was
   * deleted.
   */
  | { readonly status: 'kept'; readonly reason: string; readonly current?: string };

export async function removeObject(ref: ObjectRef, deps: RemovalDeps): Promise<Removal> {
  const current = await deps.source(ref.bucket).head(ref.key);
  if (current) {
    return {
      status: 'kept',
      reason: `the key holds an object again (ETag ${current.etag}): its own event decides its outputs`,
      current: current.etag,
    };
  }
  if ((await deps.record?.()) === 'stale') {
    return { status: 'kept', reason: 'stale event: the status table holds a later event for this key' };
  }
  if (!deps.deleteOutputs) return { status: 'deleted', removedOutputs: [] };
  const results = deps.transforms ? await deleteResults(ref.key, deps.output, deps.transforms) : [];
  // A key too long for its outputs (checkKeyLengths) never had any, nor a manifest to read.
  if (deps.layout.outputKeys(ref.key).some((key) => Buffer.byteLength(key) > S3_MAX_KEY_BYTES))
    return { status: 'deleted', removedOutputs: results };
  const manifestKey = deps.layout.manifestKey(ref.key);
  const manifest = await readManifest(deps.output, manifestKey);
  // No manifest: the variants a run wrote before it failed (an S3 PUT refused mid-variants, its
  // retries spent) are published and listed nowhere; those at this configuration's keys go.
  if (!manifest)
    return { status: 'deleted', removedOutputs: [...results, ...(await deleteUnlisted(ref.key, deps))] };
  // The manifest of another source (templates that give two sources one manifest, cat.jpg and
  // cat.png under {dir}{name}): its outputs are that source's, which is still there.
  if (manifest.source.key !== ref.key) return { status: 'deleted', removedOutputs: results };
  return {
    status: 'deleted',
    removedOutputs: [...results, ...(await deleteOutputs(deps.output, manifestKey, manifest))],
  };
}
