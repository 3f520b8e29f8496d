/**
 * One stored object, as every layer names it: the S3 event parser produces it, the handlers pass
 * it on, the pipeline reads it through storage. For a folder on disk (the CLI), `bucket` is the
 * folder.
 */
export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
  /** What the event said, unquoted; lets a duplicate delivery be skipped without reading the object. */
  readonly etag?: string;
  readonly size?: number;
  /** Read this version of a versioned object. */
  readonly versionId?: string;
  /** The event's `sequencer`: orders the events of one key (see sequencerOrder). */
  readonly sequencer?: string;
}

/**
 * S3's sequencers are hex strings of varying length; for events of the same key, the greater one
 * happened later. S3 documents the comparison: right-pad the shorter with zeros, then compare as
 * strings. Stored padded to this width, they compare correctly as plain strings, which is what a
 * DynamoDB condition expression can do.
 */
export const SEQUENCER_WIDTH = 64;

const SEQUENCER = new RegExp(`^[0-9A-Fa-f]{1,${SEQUENCER_WIDTH}}$`);

/**
 * What is wrong with a sequencer, or undefined for 1 to 64 hexadecimal digits. Every parser of an
 * event (S3 notifications, EventBridge, a task's object) checks it, since anything else would be
 * compared as if it were ordered.
 */
export function sequencerProblem(sequencer: string): string | undefined {
  return SEQUENCER.test(sequencer)
    ? undefined
    : `the sequencer ${JSON.stringify(sequencer)} is not 1 to ${SEQUENCER_WIDTH} hexadecimal digits`;
}

/** The sequencer in its comparable form: upper-case hex, right-padded with zeros. */
export function sequencerOrder(sequencer: string): string {
  const problem = sequencerProblem(sequencer);
  if (problem !== undefined) throw new RangeError(`Not an S3 sequencer: ${problem}`);
  return sequencer.toUpperCase().padEnd(SEQUENCER_WIDTH, '0');
}

/** Negative when `a` happened before `b` (same key), 0 for the same event, positive after. */
export function compareSequencers(a: string, b: string): number {
  const [x, y] = [sequencerOrder(a), sequencerOrder(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
