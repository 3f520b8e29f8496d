/**
 * Error roots for the whole pipeline (ground layer: imports nothing of ours). Every error we raise on purpose is an `ImgpipeError`; the
 * subclass tells the caller what to do with it:
 *
 * - `InvalidImageError`: the input itself is bad. Never retried: the object is quarantined.
 * - `ConfigError`: a setting is wrong. Raised at cold start, so the function fails to initialise.
 * - `StorageError`: reading or writing an object failed; `retryable` says whether trying again can help.
 * - `CodecError`: an encoder or the resampler failed (a trap, an abort); its instance was replaced.
 */

export class ImgpipeError extends Error {
  /** Stable, machine-readable identifier, e.g. `invalid-image/truncated` or `storage/not-found`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Why an input was rejected. Each value is documented in the README ("Outcomes"). */
export const INVALID_REASONS = [
  'empty',
  'too-large',
  'unsupported-format',
  'unsupported-colorspace',
  'animated',
  'truncated',
  'corrupt',
  'too-many-pixels',
  'over-memory-budget',
  'bad-dimensions',
  'too-many-scans',
  'too-slow',
  // Found by the workflow mode's checks before processing (terraform/modules/workflow): a malware
  // signature in the bytes (ClamAV), or moderation labels on the picture (Rekognition).
  'malware',
  'moderation',
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

export class InvalidImageError extends ImgpipeError {
  readonly reason: InvalidReason;
  /** Facts that explain the rejection (detected format, declared dimensions, limits...). */
  readonly details: Readonly<Record<string, unknown>>;
  /** The status an HTTP front end would answer with: the request was understood but cannot be processed. */
  readonly statusCode = 422;

  constructor(
    reason: InvalidReason,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(`invalid-image/${reason}`, message, options);
    this.reason = reason;
    this.details = Object.freeze({ ...details });
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason, details: this.details };
  }
}

export class ConfigError extends ImgpipeError {
  /** The environment variable, command-line flag or config-file path that holds the bad value. */
  readonly setting: string;
  readonly value: unknown;

  constructor(setting: string, value: unknown, message: string, options?: ErrorOptions) {
    super('config/invalid', message, options);
    this.setting = setting;
    this.value = value;
  }
}

export type StorageOperation = 'get' | 'head' | 'put' | 'copy' | 'list' | 'delete';

export class StorageError extends ImgpipeError {
  readonly operation: StorageOperation;
  /** Where the failure happened, e.g. `s3://bucket/key` or `file:///tmp/out/key`. */
  readonly location: string;
  /** True when the same request may succeed later (5xx, throttling, timeouts, connection resets). */
  readonly retryable: boolean;

  constructor(
    operation: StorageOperation,
    location: string,
    message: string,
    { retryable, code = 'storage/failed', ...options }: ErrorOptions & { retryable: boolean; code?: string },
  ) {
    super(code, message, options);
    this.operation = operation;
    this.location = location;
    this.retryable = retryable;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      operation: this.operation,
      location: this.location,
      retryable: this.retryable,
    };
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(operation: StorageOperation, location: string, options?: ErrorOptions) {
    super(operation, location, `No object at ${location}`, {
      ...options,
      retryable: false,
      code: 'storage/not-found',
    });
  }
}

/**
 * A conditional copy found the source replaced: it no longer has the ETag the caller read. The
 * content that was read is gone; the new content has its own event.
 */
export class ObjectChangedError extends StorageError {
  /** The ETag the caller expected. */
  readonly etag: string;

  constructor(operation: StorageOperation, location: string, etag: string, options?: ErrorOptions) {
    super(operation, location, `${location} no longer has ETag ${etag}: it was replaced`, {
      ...options,
      retryable: false,
      code: 'storage/changed',
    });
    this.etag = etag;
  }
}

export class ObjectTooLargeError extends StorageError {
  readonly size: number;
  readonly maxBytes: number;
  /** The ETag of the object that was measured, when the storage reported one. */
  readonly etag: string | undefined;

  constructor(location: string, size: number, maxBytes: number, etag?: string) {
    super('get', location, `Object ${location} is ${size} bytes, more than the limit of ${maxBytes} bytes`, {
      retryable: false,
      code: 'storage/too-large',
    });
    this.size = size;
    this.maxBytes = maxBytes;
    this.etag = etag;
  }
}

export type CodecOperation = 'encode' | 'resize';

/**
 * An encoder or the resampler failed on pixels it should have handled: a WebAssembly trap
 * (unreachable, an out-of-bounds access, emscripten's abort()), emscripten's exit(), or the codec's
 * own error. The failed instance has already been replaced by a fresh one, so trying again can
 * succeed: the pipeline lets it fail the object (a Lambda retry). A decoder that fails on a file
 * raises InvalidImageError instead: the file is to blame.
 */
export class CodecError extends ImgpipeError {
  readonly operation: CodecOperation;
  /** Facts about the call: the format, the image's size, what the codec printed. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    operation: CodecOperation,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(`codec/${operation}-failed`, message, options);
    this.operation = operation;
    this.details = Object.freeze({ ...details });
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), operation: this.operation, details: this.details };
  }
}

/**
 * One message shape for every bad setting, after sharp's `lib/is.js`:
 * "Expected integer between 1 and 100 for IMGPIPE_MAX_PIXELS but received "12x" of type string".
 */
export function invalidSetting(
  setting: string,
  expected: string,
  value: unknown,
  hint?: string,
): ConfigError {
  const message = `Expected ${expected} for ${setting} but received ${describeValue(value)}${hint ? ` (${hint})` : ''}`;
  return new ConfigError(setting, value, message);
}

/** A value as an error message shows it: JSON, cut at 80 characters, and its type. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  const type = Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  try {
    shown = JSON.stringify(value, jsonSafe()) ?? String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return `${shown} of type ${type}`;
}

/** A JSON.stringify replacer that shows cycles and bigints instead of throwing on them. */
function jsonSafe(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return `${value}n`;
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}

/**
 * Describes any thrown value in one line, for logs and reason records. WebAssembly glue throws more
 * than Errors: emscripten's ExitStatus when a codec calls exit() (an object with a name and a
 * message but no Error prototype), numbers (a C++ exception's address), strings; String() of the
 * first would be "[object Object]".
 */
export function describeError(error: unknown): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    if (typeof message === 'string') {
      const label = typeof name === 'string' && name ? name : 'Error';
      return message ? `${label}: ${message}` : label;
    }
  }
  return `a thrown ${describeValue(error)}`;
}
