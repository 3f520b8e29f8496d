/**
 * The largest object the scan function can scan, from what it can see: its memory
 * (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) less clamd's resident memory and Node's, since the object is read
 * whole into Node; the free space of its /tmp folder (statfs), where clamd writes the stream before
 * it scans it; and clamd's own largest file. The pipeline's maxBytes (up to 5 GiB) can exceed all
 * three: such an object was read, then the function ran out of memory or of /tmp, and the upload
 * ended failed after the retries, for no fault a retry could fix.
 */

const MiB = 1024 * 1024;

/**
 * clamd 1.4 caps MaxFileSize at 2147483645 bytes whatever clamd.conf says ("scanning files greater
 * than 2147483647 bytes (2 GiB - 1) is not supported"): a 2200 MiB stream, StreamMaxLength and
 * MaxFileSize set above it, was answered `Heuristics.Limits.Exceeded.MaxFileSize FOUND`, its
 * content unscanned, after the whole of it had been read and written to /tmp.
 */
export const CLAMD_MAX_FILE_BYTES = 2_147_483_645;

/** What the scanner's Node process takes besides the object: Node, the S3 client, the bundle. */
export const NODE_BASELINE_BYTES = 200 * MiB;

/**
 * clamd's engine with ClamAV's official database, by ClamAV's documentation (about 1.2 GiB): counted
 * when clamd's resident memory cannot be read (no /proc).
 */
export const ENGINE_ESTIMATE_BYTES = 1229 * MiB;

/**
 * Kept free in /tmp beside what MaxFileSize and MaxScanSize bound (the stream and what clamd
 * unpacks from it): clamd's other temporary files, and a database grown at a reload since clamd
 * started.
 */
export const TMP_RESERVE_BYTES = 64 * MiB;

/**
 * What clamd may write to /tmp for one stream: the free space less TMP_RESERVE_BYTES. It holds
 * the stream and what clamd unpacks from it, up to MaxScanSize and MaxFileSize, each held to half
 * of it (clamd.ts unpackLimitsMiB()); so the largest stream /tmp allows is that half, in whole MiB.
 */
export function tmpRoom(tmpFreeBytes: number): number {
  return Math.max(0, tmpFreeBytes - TMP_RESERVE_BYTES);
}

/** Which limit sets the capacity. */
export type CapacityLimit = 'memory' | 'tmp' | 'clamd';

export interface CapacityInputs {
  /** The function's memory in MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE); undefined outside Lambda. */
  readonly memoryMb?: number | undefined;
  /** clamd's resident memory (its engine), in bytes; undefined when it cannot be read. */
  readonly engineBytes?: number | undefined;
  /** Free bytes of the file system of clamd's temporary folder (statfs), the database already there. */
  readonly tmpFreeBytes?: number | undefined;
  /** The temporary folder, for the message. */
  readonly tmpDir: string;
  /** The database's size on disk (in the temporary folder's file system), for the message. */
  readonly databaseBytes: number;
  /**
   * clamd's MaxFileSize in bytes, held to half of the room /tmp had when clamd started
   * (clamd.ts unpackLimitsMiB()); undefined when not known.
   */
  readonly maxFileSizeBytes?: number | undefined;
}

export interface ScanCapacity {
  /** The largest object the scan can hold, in bytes (0 when none). */
  readonly bytes: number;
  readonly limit: CapacityLimit;
  /** How the figure was reached, for the rejection's message. */
  readonly explanation: string;
}

/** The least of the three capacities: memory, /tmp, clamd's largest file. */
export function scanCapacity(inputs: CapacityInputs): ScanCapacity {
  const candidates: ScanCapacity[] = [
    {
      bytes: CLAMD_MAX_FILE_BYTES,
      limit: 'clamd',
      explanation: `clamd, which scans no file over ${CLAMD_MAX_FILE_BYTES} bytes (ClamAV 1.4 caps MaxFileSize below 2 GiB, and reports a larger one as Heuristics.Limits.Exceeded.MaxFileSize, unscanned)`,
    },
  ];
  if (inputs.memoryMb !== undefined) {
    const memory = inputs.memoryMb * MiB;
    const engine = inputs.engineBytes ?? ENGINE_ESTIMATE_BYTES;
    const engineText =
      inputs.engineBytes === undefined
        ? `an estimated ${ENGINE_ESTIMATE_BYTES} for clamd's engine (ClamAV's figure; its resident memory could not be read)`
        : `clamd's ${engine} resident`;
    candidates.push({
      bytes: Math.max(0, memory - engine - NODE_BASELINE_BYTES),
      limit: 'memory',
      explanation: `the function's memory: ${inputs.memoryMb} MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, ${memory} bytes) less ${engineText} and ${NODE_BASELINE_BYTES} kept for Node, the object being read whole into it`,
    });
  }
  if (inputs.tmpFreeBytes !== undefined) {
    candidates.push({
      bytes: Math.floor(tmpRoom(inputs.tmpFreeBytes) / 2 / MiB) * MiB,
      limit: 'tmp',
      explanation: `the temporary storage: ${inputs.tmpFreeBytes} bytes free where clamd writes the stream before scanning it (${inputs.tmpDir}, beside the database's ${inputs.databaseBytes}) less ${TMP_RESERVE_BYTES} kept for clamd's other temporary files, half of the rest (in whole MiB) kept for what clamd unpacks from it`,
    });
  }
  // Fixed when clamd started, from the room /tmp had then: with more room now (a database replaced by
  // a smaller one at a reload, say) the figure above exceeds it, and an object between the two was
  // answered Heuristics.Limits.Exceeded.MaxFileSize, unscanned, and quarantined as malware.
  if (inputs.maxFileSizeBytes !== undefined) {
    candidates.push({
      bytes: inputs.maxFileSizeBytes,
      limit: 'tmp',
      explanation: `clamd's MaxFileSize of ${inputs.maxFileSizeBytes} bytes, half of the room the temporary storage (${inputs.tmpDir}) had when clamd started, past which it scans nothing (Heuristics.Limits.Exceeded.MaxFileSize)`,
    });
  }
  return candidates.reduce((least, next) => (next.bytes < least.bytes ? next : least));
}
