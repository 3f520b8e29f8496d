import type { ObjectRef } from '../core/objects.ts';

/**
 * The processing status of every source object, one item per bucket and key: what an operator or
 * an application asks ("what happened to this upload?", "what was quarantined today?") without
 * reading logs. It indexes the manifests; it does not replace them.
 */
export const OBJECT_STATUSES = ['processing', 'processed', 'quarantined', 'failed', 'deleted'] as const;
export type ObjectStatus = (typeof OBJECT_STATUSES)[number];

/** The statuses the index lists by time (processed items are found by key, not listed). */
export const LISTED_STATUSES = ['processing', 'quarantined', 'failed'] as const;
export type ListedStatus = (typeof LISTED_STATUSES)[number];

export interface StatusItem {
  readonly bucket: string;
  readonly key: string;
  readonly status: ObjectStatus;
  readonly etag?: string;
  readonly versionId?: string;
  /** The sequencer of the event the status is about, in its comparable (padded) form. */
  readonly sequencer?: string;
  readonly size?: number;
  readonly format?: string;
  /** As displayed, after orientation. */
  readonly width?: number;
  readonly height?: number;
  readonly orientation?: number;
  readonly manifestKey?: string;
  readonly outputs?: number;
  readonly reason?: string;
  readonly message?: string;
  /** Deliveries of this version that started processing (retries and duplicates included). */
  readonly attempts: number;
  readonly configHash?: string;
  readonly timings?: Readonly<Record<string, number>>;
  /** The outcome's event, recorded with it and not yet known to be on the bus (PendingEvent). */
  readonly pendingEvent?: PendingEvent;
  readonly firstSeenAt: string;
  readonly updatedAt: string;
}

/**
 * An outcome's event that its final status was recorded with, set by the same write (finish()) and
 * removed once PutEvents has taken the event (eventSent()): an attempt that stops between the two
 * (a timeout, a crash) or whose PutEvents fails for good leaves it, and the redelivery of the S3
 * event, which finds the outcome recorded, sends the event again. What the event's detail cannot be
 * made again from is kept, so the detail sent again is the same: its time, and a removal's
 * removedOutputs. Not a status: the item's status is the outcome's.
 */
export interface PendingEvent {
  readonly time: string;
  readonly removedOutputs?: number;
}

/** What a finished attempt records. */
export type FinalStatus =
  | {
      readonly status: 'processed';
      readonly etag: string;
      readonly size: number;
      readonly format: string;
      readonly width: number;
      readonly height: number;
      readonly orientation?: number;
      readonly manifestKey: string;
      readonly outputs: number;
      readonly configHash: string;
      readonly timings?: Readonly<Record<string, number>>;
    }
  | {
      readonly status: 'quarantined';
      readonly etag?: string;
      readonly size?: number;
      readonly reason: string;
      readonly message: string;
    }
  | { readonly status: 'failed'; readonly message: string }
  /** The object is gone: an ObjectRemoved event, or it vanished before it could be read. */
  | { readonly status: 'deleted' };

/**
 * A final status that says the run failed, not what the content is: `failed`, or quarantined as
 * `too-slow` (the run ran out of time; another delivery of the same content may have had enough).
 * Any other final status (processed, quarantined for the content, deleted) decides the content.
 * For the same content (the same event, or a backfill of the same ETag) a decision is never
 * replaced by a run-time failure; a run-time failure is replaced by a decision (a retry that
 * succeeded).
 */
export function isRunFailure(result: FinalStatus): boolean {
  return result.status === 'failed' || (result.status === 'quarantined' && result.reason === 'too-slow');
}

/** `applied`: the item now says this; `stale`: the item already holds a later event's status. */
export type WriteResult = 'applied' | 'stale';

/**
 * What begin() found: `applied` (the item now says `processing` for this event), `stale` (a later
 * event is recorded), or `finished`: this very event already has its final status (another delivery
 * recorded it, and announced it), so the item is left as it is; `running`: another execution holds
 * this event's claim (Claim), so this delivery begins nothing; for a backfill (no sequencer), another
 * run (an upload's execution, or another backfill's) holds the key's item (its claim not run out),
 * and the backfill begins nothing.
 */
export type BeginResult = WriteResult | 'finished' | 'running';

/**
 * A workflow execution's hold on its event (begin()'s `claim`): while the item says `processing` for
 * this event under another execution's claim whose `until` has not passed, another delivery of the
 * event begins nothing (`running`). `until`: when the claiming execution is over for certain (its
 * start and the state machine's timeout), so a run that died without an outcome is taken over by a
 * delivery after that (terraform/modules/workflow/README.md, "One run per event").
 */
export interface Claim {
  readonly execution: string;
  readonly until: Date;
  /**
   * The execution's own id (its ARN), where the task is given it: two executions of one event
   * started in the same millisecond have the same `execution` (EventBridge's redelivery keeps the
   * event's id), and are told apart by it. A claim made without it (a task or a definition that
   * passes none) is checked by `execution` alone, as before.
   */
  readonly id?: string;
}

export interface ListQuery {
  readonly status: ListedStatus;
  /** Only items updated at or after this time. */
  readonly since?: Date;
  /** Only items of this bucket. */
  readonly bucket?: string;
  /**
   * Only items whose key starts with this (one owner's uploads). Filtered after the index is read,
   * as DynamoDB filters: a page may then hold fewer than `limit` items and still have a cursor.
   */
  readonly keyPrefix?: string;
  readonly limit?: number;
  /** From the previous page's result. */
  readonly cursor?: string;
}

export interface StatusPage {
  /** Newest first. */
  readonly items: readonly StatusItem[];
  /** Set when there are more: pass it back to get the next page. */
  readonly cursor?: string;
}

/**
 * Whether `etag` names the key's current content (a HEAD of the source), asked by a backfill's
 * final status when the item names other content; `undefined`: whether the key holds nothing,
 * asked by a backfill's `deleted` when the item names content.
 */
export type CurrentContent = (etag: string | undefined) => Promise<boolean>;

/**
 * Writes are conditional on the event order, so duplicate, late and out-of-order deliveries never
 * move an item back to an older state: a write for an event with a sequencer older than the
 * item's is refused (`stale`); for the same event, a final status replaces `processing` or
 * `failed`, and a run-time failure (isRunFailure: `failed`, quarantined as `too-slow`) never
 * replaces a decision (another delivery's processed or quarantine for the content; `failed` no
 * final status at all), nor does a backfill's too-slow one recorded for the same ETag. A reference without a sequencer (a
 * backfill) is about the object as it is now: it is refused on a deleted item, its failure on
 * any final status (another run recorded it while the backfill ran), and its `deleted` (the key
 * found gone) on an item naming content (an upload's event began since) unless `current` says the
 * key still holds nothing (an upload's item left processing, which the backfill joined), asked and
 * written as below. Its final status
 * naming other content (ETag) than the item's, or over a deleted item (the key's object brought
 * back with no ObjectCreated event), is recorded only when `current` says that content is
 * the key's current one, asked after the item was read and written only if the item is still as
 * read: the item's event was then of an older version (the new content's event was lost or is
 * late). Otherwise (an upload's event began while the backfill ran, so the backfill read an older
 * version) it is refused.
 */
export interface StatusStore {
  /**
   * Records that processing of this event starts; `stale` means a later event was already recorded,
   * `finished` that this event's final status already is (a backfill, without a sequencer, starts over).
   */
  begin(ref: ObjectRef, at?: Date, claim?: Claim): Promise<BeginResult>;
  /** `pendingEvent`: the outcome's event is still to be sent (PendingEvent), set by the same write. */
  finish(
    ref: ObjectRef,
    result: FinalStatus,
    at?: Date,
    current?: CurrentContent,
    pendingEvent?: PendingEvent,
  ): Promise<WriteResult>;
  /**
   * The pending event was sent: the mark is removed if the item still holds this very one (`stale`
   * otherwise: a later write replaced it). updatedAt stays: nothing about the object changed.
   */
  eventSent(ref: ObjectRef, pendingEvent: PendingEvent): Promise<WriteResult>;
  get(bucket: string, key: string): Promise<StatusItem | undefined>;
  list(query: ListQuery): Promise<StatusPage>;
}
