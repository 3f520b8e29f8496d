import { createHash } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { invalidSetting, StorageError } from '../core/errors.ts';
import { isPlainObject } from '../core/json.ts';
import { type ObjectRef, sequencerOrder } from '../core/objects.ts';
import {
  type BeginResult,
  type Claim,
  type CurrentContent,
  type FinalStatus,
  isRunFailure,
  LISTED_STATUSES,
  type ListQuery,
  type PendingEvent,
  type StatusItem,
  type StatusPage,
  type StatusStore,
  type WriteResult,
} from './types.ts';

/**
 * The status table in DynamoDB. One item per source object, keyed by `id` = `<bucket>/<key>`
 * (bucket names cannot contain `/`, so the id is unambiguous). A sparse global secondary index,
 * `byStatus`, lists items by status and time: only `processing`, `quarantined` and `failed` items
 * carry its key (`listStatus`), so the index holds what needs attention, and processed images —
 * nearly every write — never crowd one index partition.
 *
 * The table's shape is defined once, here (STATUS_TABLE); `imgpipe dev` creates it from this, and a
 * test holds the Terraform module's table to it.
 */
export const STATUS_TABLE = {
  partitionKey: 'id',
  index: { name: 'byStatus', partitionKey: 'listStatus', sortKey: 'updatedAt' },
} as const;

/** The CreateTable request for the table's shape (on-demand billing, as in Terraform). */
export function statusTableDefinition(tableName: string): CreateTableCommandInput {
  const { partitionKey, index } = STATUS_TABLE;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' },
      { AttributeName: index.partitionKey, AttributeType: 'S' },
      { AttributeName: index.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

/** The fields a final status sets; a new version or another outcome removes the ones it lacks. */
const FINAL_FIELDS = [
  'etag',
  'size',
  'format',
  'width',
  'height',
  'orientation',
  'manifestKey',
  'outputs',
  'reason',
  'message',
  'configHash',
  'timings',
  'pendingEvent',
] as const;

/** An UpdateItem expression, built field by field with placeholders for every name and value. */
class Update {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  readonly #set: string[] = [];
  readonly #add: string[] = [];
  readonly #remove: string[] = [];

  /** The placeholder of an attribute name. */
  name(field: string): string {
    this.names[`#${field}`] = field;
    return `#${field}`;
  }

  /** The placeholder of a value. */
  value(label: string, value: unknown): string {
    this.values[`:${label}`] = value;
    return `:${label}`;
  }

  set(field: string, value: unknown): this {
    if (value !== undefined) this.#set.push(`${this.name(field)} = ${this.value(field, value)}`);
    return this;
  }

  setIfAbsent(field: string, value: unknown): this {
    const name = this.name(field);
    this.#set.push(`${name} = if_not_exists(${name}, ${this.value(`${field}_default`, value)})`);
    return this;
  }

  add(field: string, amount: number): this {
    this.#add.push(`${this.name(field)} ${this.value(`${field}_add`, amount)}`);
    return this;
  }

  remove(...fields: string[]): this {
    for (const field of fields) this.#remove.push(this.name(field));
    return this;
  }

  get expression(): string {
    return [
      this.#set.length > 0 ? `SET ${this.#set.join(', ')}` : '',
      this.#add.length > 0 ? `ADD ${this.#add.join(', ')}` : '',
      this.#remove.length > 0 ? `REMOVE ${this.#remove.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
}

/**
 * The work one filtered `list` call may do: Query calls of up to `queryLimit` items each, at most
 * `maxQueries` of them (so about 3,000 items read, whatever the page size).
 */
export interface ListWork {
  readonly queryLimit: number;
  readonly maxQueries: number;
}
export const LIST_WORK: ListWork = { queryLimit: 1000, maxQueries: 3 };

/**
 * The item's versionId is the content it records: an event's version, or none. A backfill (bulk
 * reprocessing) reads the key's current content without knowing its version: an older event's
 * versionId kept beside the backfill's ETag named another version than the one recorded, and
 * outputs redone from the item (the workflow mode's stale-event path) read that version.
 */
function version(update: Update, ref: ObjectRef): void {
  if (ref.versionId === undefined) update.remove('versionId');
  else update.set('versionId', ref.versionId);
}

/** The item holds no decision: unfinished, failed, or quarantined as too-slow (isRunFailure). */
function undecided(update: Update): string {
  const status = update.name('status');
  return `(${status} IN (${update.value('p', 'processing')}, ${update.value('f', 'failed')}) OR (${status} = ${update.value('q', 'quarantined')} AND ${update.name('reason')} = ${update.value('tooSlow', 'too-slow')}))`;
}

export class DynamoStatusStore implements StatusStore {
  readonly tableName: string;
  readonly #client: DynamoDBDocumentClient;
  readonly #work: ListWork;

  constructor(client: DynamoDBClient, tableName: string, work: ListWork = LIST_WORK) {
    this.tableName = tableName;
    this.#work = work;
    this.#client = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async begin(ref: ObjectRef, at = new Date(), claim?: Claim): Promise<BeginResult> {
    const now = at.toISOString();
    const seq = ref.sequencer === undefined ? undefined : sequencerOrder(ref.sequencer);
    // A workflow execution's claim on its event (an S3 event: a sequencer), or on the key (a
    // backfill: a bulk reprocessing's run of it): another run finds it held while the item is
    // `processing` under it and begins nothing (`running`).
    const claimed = claim;

    // Another delivery of the event already recorded (a retry, a duplicate, a concurrent
    // invocation) counts as an attempt, while nothing final is recorded for it.
    const again = new Update()
      .set('status', 'processing')
      .set(STATUS_TABLE.index.partitionKey, 'processing')
      .set('updatedAt', now)
      .add('attempts', 1);
    const unfinished = `${again.name('status')} IN (${again.value('p', 'processing')}, ${again.value('f', 'failed')})`;
    const sameEvent =
      seq === undefined
        ? `attribute_exists(${again.name(STATUS_TABLE.partitionKey)})`
        : `${again.name('sequencer')} = ${again.value('seq', seq)}`;
    // Not while another execution's claim holds: the item `processing` under a claim of another
    // execution whose time is not up (the claiming execution's own retries of Inspect go on).
    // With the execution's id (Claim.id), the same `claimedBy` is this execution's only if the id
    // recorded with it is this one's, or none was (a claim by a task given no id). `claimedId` is
    // `<claimedBy>\n<id>`: one left by an earlier claim (a task given no id rewrites `claimedBy`
    // only) names another `claimedBy`, and holds nothing.
    const mine = (update: Update, claim: Claim) => {
      const by = `${update.name('claimedBy')} = ${update.value('me', claim.execution)}`;
      if (claim.id === undefined) return by;
      const id = update.name('claimedId');
      return `(${by} AND (attribute_not_exists(${id}) OR ${id} = ${update.value('myId', claimIdOf(claim))} OR NOT begins_with(${id}, ${update.value('myBy', `${claim.execution}\n`)})))`;
    };
    const unheld = (update: Update) =>
      ` AND (${update.name('status')} <> ${update.value('p', 'processing')} OR attribute_not_exists(${update.name('claimedBy')}) OR ${claimed ? `${mine(update, claimed)} OR ` : ''}${update.name('claimedUntil')} <= ${update.value('now', now)})`;
    // A backfill (no sequencer) begins nothing while another run holds the item: an upload's
    // execution, or another bulk reprocessing's run of the key (one stopped following with Ctrl-C
    // goes on, and the command run again reaches the same keys). That run scans, moderates,
    // records and announces the key's content; run beside it, the same content was checked and
    // processed twice, and announced twice.
    const held = (update: Update) => (claimed || seq === undefined ? unheld(update) : '');
    if (claimed) setClaim(again, claimed);
    if ((await this.#update(ref, again, `${sameEvent} AND ${unfinished}${held(again)}`)) === 'applied')
      return 'applied';

    // The first event of the key, or a later version: its record starts over.
    const fresh = new Update()
      .set('status', 'processing')
      .set(STATUS_TABLE.index.partitionKey, 'processing')
      .set('bucket', ref.bucket)
      .set('key', ref.key)
      .set('sequencer', seq)
      .set('etag', ref.etag)
      .set('size', ref.size)
      .set('attempts', 1)
      .set('updatedAt', now)
      .setIfAbsent('firstSeenAt', now);
    version(fresh, ref);
    // An earlier event's claim goes with its record.
    if (claimed) setClaim(fresh, claimed);
    else fresh.remove('claimedBy', 'claimedUntil');
    if (claimed?.id === undefined) fresh.remove('claimedId');
    fresh.remove(
      ...FINAL_FIELDS.filter(
        (field) => !(field === 'etag' && ref.etag) && !(field === 'size' && ref.size !== undefined),
      ),
    );
    const later =
      seq === undefined
        ? `${fresh.name('status')} <> ${fresh.value('deleted', 'deleted')}`
        : `attribute_not_exists(${fresh.name('sequencer')}) OR ${fresh.name('sequencer')} < ${fresh.value('seq', seq)}`;
    const absent = `attribute_not_exists(${fresh.name(STATUS_TABLE.partitionKey)})`;
    const backfill = seq === undefined ? unheld(fresh) : '';
    if ((await this.#update(ref, fresh, `${absent} OR (${later}${backfill})`)) === 'applied')
      return 'applied';

    // Refused both ways: a later event is recorded (stale), or this very event already has its
    // final status (a duplicate delivery, which the pipeline recognises by its manifest).
    const item = await this.get(ref.bucket, ref.key);
    if (seq !== undefined && item?.sequencer !== undefined && item.sequencer > seq) return 'stale';
    if (seq === undefined && item?.status === 'deleted') return 'stale';
    if (claimed && item?.sequencer === seq && item?.status === 'processing') return 'running';
    if (seq === undefined && item?.status === 'processing') return 'running';
    return seq !== undefined && item?.sequencer === seq ? 'finished' : 'applied';
  }

  async finish(
    ref: ObjectRef,
    result: FinalStatus,
    at = new Date(),
    current?: CurrentContent,
    pendingEvent?: PendingEvent,
  ): Promise<WriteResult> {
    const now = at.toISOString();
    const seq = ref.sequencer === undefined ? undefined : sequencerOrder(ref.sequencer);
    const listed = (LISTED_STATUSES as readonly string[]).includes(result.status);
    // The mark goes with the outcome's write (no write of its own); any other final status drops an
    // earlier one, whose event is no longer the item's outcome.
    const fields: Record<string, unknown> = { ...result, pendingEvent };
    const update = new Update()
      .set('bucket', ref.bucket)
      .set('key', ref.key)
      .set('updatedAt', now)
      .setIfAbsent('firstSeenAt', now)
      .setIfAbsent('attempts', 1)
      .set('sequencer', seq);
    version(update, ref);
    for (const [field, value] of Object.entries(fields)) update.set(field, value);
    update.remove(...FINAL_FIELDS.filter((field) => fields[field] === undefined));
    if (listed) update.set(STATUS_TABLE.index.partitionKey, result.status);
    else update.remove(STATUS_TABLE.index.partitionKey);

    const status = update.name('status');
    let condition: string;
    if (seq === undefined && result.status === 'failed') {
      // A backfill's failure replaces only its own unfinished item (begin made it `processing`): a
      // final status there was recorded by another run since (an upload's event), which stands.
      condition = `${status} IN (${update.value('p', 'processing')}, ${update.value('f', 'failed')})`;
    } else if (seq === undefined) {
      condition = `${status} <> ${update.value('deleted', 'deleted')}`;
      // A backfill of content other than the item's: an upload's event began since (it names its
      // ETag), so what the backfill read is an older version, and the event decides.
      if ('etag' in result && result.etag !== undefined) {
        const etag = update.name('etag');
        // A run-time failure (too-slow) of the same content never replaces a decision another run
        // recorded for it while this one ran (see isRunFailure).
        const same = isRunFailure(result) ? `(${etag} = :etag AND ${undecided(update)})` : `${etag} = :etag`;
        condition += ` AND (attribute_not_exists(${etag}) OR ${same})`;
      } else if (result.status === 'deleted') {
        // A backfill that found the key gone, over an item naming content (its begin removed the
        // ETag): an upload's event began since, so the key holds that content again, and the event
        // decides. Recorded, deleted stood for good over the new version processed and published
        // (its late removal's event then stale), when that upload finished before this write.
        condition += ` AND attribute_not_exists(${update.name('etag')})`;
      }
    } else if (isRunFailure(result)) {
      const sequencer = update.name('sequencer');
      // A run-time failure never overwrites a decision of the same event (another delivery
      // decided the content): `failed` replaces only an unfinished item, too-slow one that holds
      // no decision either.
      const unfinished =
        result.status === 'failed'
          ? `${status} IN (${update.value('p', 'processing')}, ${update.value('f', 'failed')})`
          : undecided(update);
      condition = `attribute_not_exists(${sequencer}) OR ${sequencer} < :sequencer OR (${sequencer} = :sequencer AND ${unfinished})`;
    } else {
      const sequencer = update.name('sequencer');
      condition = `attribute_not_exists(${sequencer}) OR ${sequencer} <= :sequencer`;
    }
    const absent = `attribute_not_exists(${update.name(STATUS_TABLE.partitionKey)})`;
    const written = await this.#update(ref, update, `${absent} OR ${condition}`);
    if (written === 'applied' || seq !== undefined || current === undefined) return written;
    // A backfill that found the key gone, over an item naming content: an upload's item it joined
    // (begin() keeps an unfinished item's ETag: its invocations timed out, its event gone to the
    // dead letters, the removal's event lost too) names content the key no longer holds, and
    // nothing else would ever record it. Recorded if the key still holds nothing, asked after the
    // item is read, and written only while the item is as read, so an upload's event that begins
    // meanwhile wins.
    const found = 'etag' in result ? result.etag : undefined;
    if (found === undefined && result.status !== 'deleted') return written;

    // A backfill of content other than the item's: recorded if that content is the key's current
    // one (the item's event was of an older version whose replacement sent no event, or has not
    // yet), asked only after the item is read, and written only while the item is as read, so an
    // upload's event that begins meanwhile wins.
    // A deleted item too: the key holds content again that S3 announced with no ObjectCreated (a
    // versioned bucket's delete marker removed).
    const item = await this.get(ref.bucket, ref.key);
    if (item === undefined || item.etag === found) return written;
    if (found === undefined && item.status === 'deleted') return written;
    if (!(await current(found))) return written;
    const etag = update.name('etag');
    const sequencer = update.name('sequencer');
    const unchanged = [
      `attribute_exists(${update.name(STATUS_TABLE.partitionKey)})`,
      `${status} = ${update.value('seenStatus', item.status)}`,
      item.etag === undefined
        ? `attribute_not_exists(${etag})`
        : `${etag} = ${update.value('seenEtag', item.etag)}`,
      item.sequencer === undefined
        ? `attribute_not_exists(${sequencer})`
        : `${sequencer} = ${update.value('seenSequencer', item.sequencer)}`,
    ].join(' AND ');
    // The first condition's values alone: DynamoDB refuses a value the expressions do not use.
    for (const value of [':deleted', ':p', ':f', ':q', ':tooSlow']) delete update.values[value];
    return this.#update(ref, update, unchanged);
  }

  async eventSent(ref: ObjectRef, pendingEvent: PendingEvent): Promise<WriteResult> {
    const update = new Update().remove('pendingEvent');
    const condition = `${update.name('pendingEvent')}.${update.name('time')} = ${update.value('time', pendingEvent.time)}`;
    return this.#update(ref, update, condition);
  }

  async get(bucket: string, key: string): Promise<StatusItem | undefined> {
    try {
      const { Item } = await this.#client.send(
        new GetCommand({ TableName: this.tableName, Key: this.#key({ bucket, key }), ConsistentRead: true }),
      );
      return Item === undefined ? undefined : toItem(Item);
    } catch (error) {
      throw this.#failure('get', `${bucket}/${key}`, error);
    }
  }

  async list(query: ListQuery): Promise<StatusPage> {
    const { index } = STATUS_TABLE;
    const limit = query.limit ?? 50;
    if (!(LISTED_STATUSES as readonly string[]).includes(query.status))
      throw invalidSetting('status', `one of ${LISTED_STATUSES.join(', ')}`, query.status);
    const filters = [
      ...(query.bucket === undefined ? [] : ['#bucket = :bucket']),
      ...(query.keyPrefix === undefined ? [] : ['begins_with(#key, :keyPrefix)']),
    ];
    const resume = query.cursor ? decodeCursor(query.cursor, query) : undefined;
    const before = resume && 'before' in resume ? resume : undefined;
    const since = query.since?.toISOString();
    const range =
      since !== undefined && before
        ? ' AND #s BETWEEN :since AND :before'
        : since !== undefined
          ? ' AND #s >= :since'
          : before
            ? ' AND #s <= :before'
            : '';
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: index.name,
      KeyConditionExpression: `#p = :status${range}`,
      ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
      ExpressionAttributeNames: {
        '#p': index.partitionKey,
        ...(range ? { '#s': index.sortKey } : {}),
        ...(query.bucket === undefined ? {} : { '#bucket': 'bucket' }),
        ...(query.keyPrefix === undefined ? {} : { '#key': 'key' }),
      },
      ExpressionAttributeValues: {
        ':status': query.status,
        ...(since !== undefined ? { ':since': since } : {}),
        ...(before ? { ':before': before.before } : {}),
        ...(query.bucket === undefined ? {} : { ':bucket': query.bucket }),
        ...(query.keyPrefix === undefined ? {} : { ':keyPrefix': query.keyPrefix }),
      },
      ScanIndexForward: false,
      // Unfiltered, one more than the page: seeing it is how a full last page knows it is the
      // last. Filtered, DynamoDB applies Limit before the filter: many items a call.
      Limit: filters.length > 0 ? this.#work.queryLimit : limit + 1,
    };
    // Pages are filled across queries, and the cursor is made from the last item returned, so it
    // names only what the caller was shown (not another owner's key); a cursor is given only when
    // a further matching item was seen, so no `next` leads to an empty page. Past the work cap
    // (other owners' items in between), the page so far is returned with a cursor that resumes at
    // the time of the last item read: at or before it, less the caller's items shown at that time.
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined = resume && 'id' in resume ? resume : undefined;
    let more = false;
    let queries = 0;
    try {
      do {
        const page = await this.#client.send(
          new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
        );
        queries++;
        for (const item of page.Items ?? []) {
          if (before && item[index.sortKey] === before.before && before.shown.includes(shownId(item)))
            continue;
          if (items.length === limit) {
            more = true;
            break;
          }
          items.push(item);
        }
        start = page.LastEvaluatedKey;
        // A page that resumed at a time moves past it: past the work cap too while still there
        // (more items of one millisecond than the cap reads), or its cursor would be the same.
      } while (
        !more &&
        start &&
        (queries < this.#work.maxQueries || start[index.sortKey] === before?.before)
      );
    } catch (error) {
      // What DynamoDB still refuses of a cursor that passed decodeCursor is the cursor's fault.
      if (query.cursor && (error as { name?: string }).name === 'ValidationException')
        throw invalidSetting(
          'cursor',
          'the cursor of an earlier page of this listing',
          query.cursor,
          `DynamoDB refused it: ${(error as Error).message}`,
        );
      throw this.#failure('list', `${index.name}/${query.status}`, error);
    }
    const last = items.at(-1);
    let cursor: string | undefined;
    if (last && more) {
      cursor = encodeCursor({
        [STATUS_TABLE.partitionKey]: last[STATUS_TABLE.partitionKey],
        [index.partitionKey]: last[index.partitionKey],
        [index.sortKey]: last[index.sortKey],
      });
    } else if (!more && start) {
      const time = start[index.sortKey] as string;
      const shown = items.filter((item) => item[index.sortKey] === time).map(shownId);
      if (before?.before === time) shown.push(...before.shown);
      cursor = encodeCursor({ [index.partitionKey]: query.status, before: time, shown });
    }
    return { items: items.map(toItem), ...(cursor ? { cursor } : {}) };
  }

  #key(ref: Pick<ObjectRef, 'bucket' | 'key'>): Record<string, string> {
    return { [STATUS_TABLE.partitionKey]: `${ref.bucket}/${ref.key}` };
  }

  /** A conditional update: `stale` when the condition refused it. */
  async #update(ref: ObjectRef, update: Update, condition: string): Promise<WriteResult> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.#key(ref),
          UpdateExpression: update.expression,
          ConditionExpression: condition,
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: update.values,
        }),
      );
      return 'applied';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'stale';
      throw this.#failure('put', `${ref.bucket}/${ref.key}`, error);
    }
  }

  #failure(operation: 'get' | 'put' | 'list', what: string, error: unknown): StorageError {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const retryable =
      (status !== undefined && (status >= 500 || status === 429)) ||
      /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|InternalServerError|TimeoutError|ECONNRE/.test(
        `${e.name} ${e.message}`,
      );
    return new StorageError(
      operation,
      `dynamodb://${this.tableName}/${what}`,
      `DynamoDB ${operation} of ${what} in ${this.tableName} failed (${e.name ?? 'error'}): ${e.message ?? String(error)}`,
      { retryable, cause: error, code: 'status/failed' },
    );
  }
}

/** `claimedId`: the claim's `execution` and the execution's id (see begin()). */
function claimIdOf(claim: Claim): string | undefined {
  return claim.id === undefined ? undefined : `${claim.execution}\n${claim.id}`;
}

/** Sets the claim's fields; a claim without an id keeps the `claimedId` there (see begin()). */
function setClaim(update: Update, claim: Claim): void {
  update.set('claimedBy', claim.execution).set('claimedUntil', claim.until.toISOString());
  update.set('claimedId', claimIdOf(claim));
}

function toItem(raw: Record<string, unknown>): StatusItem {
  // The workflow's claim (begin()) is the table's own bookkeeping, no fact of the object.
  const {
    id: _id,
    listStatus: _listStatus,
    claimedBy: _by,
    claimedUntil: _until,
    claimedId: _claimedId,
    ...item
  } = raw;
  return item as unknown as StatusItem;
}

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * The two shapes of a cursor: the last item's table and index keys (as toISOString writes times),
 * or, after a page stopped at the work cap, the time to resume at (`before`, inclusive) with short
 * hashes of the caller's items at that time that were shown already (`shown`).
 */
const KEY_CURSOR = [STATUS_TABLE.partitionKey, STATUS_TABLE.index.partitionKey, STATUS_TABLE.index.sortKey];
const TIME_CURSOR = [STATUS_TABLE.index.partitionKey, 'before', 'shown'];
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const SHOWN_ID = /^[A-Za-z0-9_-]{16}$/;
/** DynamoDB's limit on a partition key value. */
const MAX_ID_BYTES = 2048;

/** An item's id as a time cursor holds it: hashed, so it names no key. */
function shownId(item: Record<string, unknown>): string {
  return createHash('sha256')
    .update(String(item[STATUS_TABLE.partitionKey]))
    .digest('base64url')
    .slice(0, 16);
}

type Resume = { id: string; listStatus: string; updatedAt: string } | { before: string; shown: string[] };

/**
 * A cursor back as where to resume, refused (naming `cursor`) unless it has exactly one of its
 * shapes and could have come from a page of this very query: the same status, an id in the
 * query's bucket and key prefix, a time not before `since`. DynamoDB would refuse the rest
 * (ValidationException), or start the query at a key the query does not reach.
 */
function decodeCursor(cursor: string, query: ListQuery): Resume {
  const refuse = (why: string) =>
    invalidSetting('cursor', 'the cursor of an earlier page of this listing', cursor, why);
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse('not an encoded cursor');
  }
  const fields = isPlainObject(key) ? Object.keys(key).sort() : [];
  const shape = [KEY_CURSOR, TIME_CURSOR].find(
    (shape) => fields.length === shape.length && [...shape].sort().every((field, i) => field === fields[i]),
  );
  const { id, listStatus, updatedAt, before, shown } = (isPlainObject(key) ? key : {}) as Record<
    string,
    unknown
  >;
  const time = shape === TIME_CURSOR ? before : updatedAt;
  if (
    shape === undefined ||
    typeof listStatus !== 'string' ||
    typeof time !== 'string' ||
    (shape === KEY_CURSOR
      ? typeof id !== 'string'
      : !Array.isArray(shown) ||
        shown.length > 1000 ||
        !shown.every((s) => typeof s === 'string' && SHOWN_ID.test(s)))
  )
    throw refuse('not a cursor this API writes');
  if (listStatus !== query.status) throw refuse(`it lists status ${listStatus}, not ${query.status}`);
  if (!ISO_TIME.test(time) || Number.isNaN(Date.parse(time)))
    throw refuse('its time is not one a page writes');
  if (query.since !== undefined && time < query.since.toISOString())
    throw refuse(`it is from before since (${query.since.toISOString()}): start again without a cursor`);
  if (shape === TIME_CURSOR) return { before: time, shown: shown as string[] };
  const slash = (id as string).indexOf('/');
  if (slash < 1 || Buffer.byteLength(id as string) > MAX_ID_BYTES)
    throw refuse('its key is not one of this table');
  const [bucket, objectKey] = [(id as string).slice(0, slash), (id as string).slice(slash + 1)];
  if (query.bucket !== undefined && bucket !== query.bucket)
    throw refuse(`it is from another bucket than ${query.bucket}`);
  if (query.keyPrefix !== undefined && !objectKey.startsWith(query.keyPrefix))
    throw refuse(`it is from a listing of other keys than ${query.keyPrefix}…`);
  return { id: id as string, listStatus, updatedAt: time };
}
