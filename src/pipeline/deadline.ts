import { ImgpipeError, InvalidImageError } from '../core/errors.ts';

/**
 * The time budget of one image: when its processing must be over, and the refusal (`too-slow`, a
 * quarantine: retrying cannot make the image faster) when it is not. How the pipeline keeps to it
 * is in README.md ("Time budget").
 *
 * The budget is `limits.maxSecondsPerImage`, from the start of processImage. In Lambda it is also
 * cut to the invocation's remaining time less a reserve, so that the function always has the time
 * to record the outcome (copy the source to quarantine, write the reason, log, flush metrics)
 * before Lambda's own timeout would stop it, retry it twice and dead-letter it.
 */

/**
 * Kept back from the invocation's remaining time: the stage running when the deadline passes may
 * finish first if nothing can interrupt it (a resize, or an encode in the handler's thread: about
 * 2 s for the largest default variant at 0.58 vCPU), then the quarantine copy and record, the log
 * line and the metrics. A quarter of the remaining time when that is less, so a function with a
 * short timeout still gets most of it.
 */
export const INVOCATION_RESERVE_MS = 5_000;

export type Stage = 'probe' | 'decode' | 'resize' | 'encode';

/**
 * An image stopped at the invocation's end after what came before it in the invocation (earlier
 * records of the event, the status write, the reads) took more than INVOCATION_RESERVE_MS: the
 * image did not get the invocation's time, so the refusal is not its own. The object fails, and
 * the retry, which finds what was done before it, gives it that time (pipeline/process-object.ts).
 */
export class InvocationTimeError extends ImgpipeError {
  readonly retryable = true;

  constructor(message: string, options?: ErrorOptions) {
    super('pipeline/invocation-time', message, options);
  }
}

/** Whether `error` is an InvocationTimeError, or names what failed around one (its `cause`). */
export function ranOutOfInvocationTime(error: unknown): boolean {
  if (error instanceof InvocationTimeError) return true;
  return error instanceof Error && error.cause !== undefined && ranOutOfInvocationTime(error.cause);
}

/**
 * The refusal `error` as the object's outcome, or the InvocationTimeError to fail it with instead:
 * when the image was bound by the invocation's remaining time and more than INVOCATION_RESERVE_MS
 * of that invocation went before the image started (`waitedMs`), or the image is made again after
 * another one of the invocation (`madeAgain`: a superseded event's outputs, whose own event judges
 * the content), a retry can give it the time.
 */
export function invocationTimeError(
  error: InvalidImageError,
  waitedMs: number | undefined,
  madeAgain = false,
): InvocationTimeError | undefined {
  if (error.reason !== 'too-slow' || error.details.boundBy !== 'invocation' || waitedMs === undefined)
    return undefined;
  if (waitedMs <= INVOCATION_RESERVE_MS && !madeAgain) return undefined;
  const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
  const why = madeAgain
    ? 'it was made again after another image of the invocation'
    : `more than the ${seconds(INVOCATION_RESERVE_MS)} kept for them`;
  return new InvocationTimeError(
    `The invocation's time ran out before the image was done, after ${seconds(waitedMs)} of it went before the image started (earlier records, the status write, the reads), ${why}: not the image's doing, so it is retried (${error.message})`,
    { cause: error },
  );
}

export interface DeadlineOptions {
  /** limits.maxSecondsPerImage (fractions allowed, for tests). */
  readonly maxSeconds: number;
  /** When the Lambda invocation times out, as a performance.now() time; absent outside Lambda. */
  readonly invocationEndsAt?: number;
  /** The start, as a performance.now() time (default: now). */
  readonly now?: number;
}

export class Deadline {
  /** When processing must be over, as a performance.now() time. */
  readonly at: number;
  readonly limitMs: number;
  /** Which limit is the tighter one: the setting, or the invocation's remaining time. */
  readonly boundBy: 'budget' | 'invocation';
  /** The stage the pipeline is in, for the refusal's message. */
  stage: Stage = 'probe';
  readonly #startedAt: number;
  readonly #maxSeconds: number;
  readonly #invocation?: { readonly remainingMs: number; readonly reserveMs: number };
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor({ maxSeconds, invocationEndsAt, now = performance.now() }: DeadlineOptions) {
    this.#startedAt = now;
    this.#maxSeconds = maxSeconds;
    const budgetMs = maxSeconds * 1000;
    let limitMs = budgetMs;
    this.boundBy = 'budget';
    if (invocationEndsAt !== undefined) {
      const remainingMs = Math.max(0, invocationEndsAt - now);
      const reserveMs = Math.min(INVOCATION_RESERVE_MS, remainingMs / 4);
      this.#invocation = { remainingMs: Math.round(remainingMs), reserveMs: Math.round(reserveMs) };
      if (remainingMs - reserveMs < budgetMs) {
        limitMs = remainingMs - reserveMs;
        this.boundBy = 'invocation';
      }
    }
    this.limitMs = Math.round(limitMs);
    this.at = now + limitMs;
    // While this thread waits for encoder threads, the timer fires at the deadline and the signal
    // stops their tasks; while it computes, the checks between stages do.
    this.#timer = setTimeout(
      () => this.#abort(this.exceeded(true)),
      Math.max(0, this.at - performance.now()),
    );
    this.#timer.unref();
  }

  /** Aborted at the deadline, with the refusal as its reason: encoder threads stop this image's tasks. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get passed(): boolean {
    return performance.now() >= this.at;
  }

  /**
   * Moves on to `stage`, unless the deadline has passed: then throws the refusal, which names the
   * stage that ran out of time (the one ending now), not the one that was about to start.
   */
  enter(stage: Stage): void {
    this.check();
    this.stage = stage;
  }

  /**
   * Throws the refusal (and stops the image's encoder tasks) if the deadline has passed;
   * `interrupted` when called from inside work it stops (the probe's walk through the file).
   */
  check(interrupted = false): void {
    if (this.#controller.signal.aborted) throw this.#controller.signal.reason;
    if (!this.passed) return;
    const error = this.exceeded(interrupted);
    this.#abort(error);
    throw error;
  }

  /**
   * The refusal: `interrupted` when work in progress was stopped (a decode by the watchdog, encodes
   * in their threads), not when the deadline was found passed between two stages.
   */
  exceeded(interrupted: boolean): InvalidImageError {
    const elapsedMs = Math.round(performance.now() - this.#startedAt);
    const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
    const invocation = this.#invocation;
    const why =
      this.boundBy === 'invocation' && invocation
        ? `the ${seconds(invocation.remainingMs)} left in the Lambda invocation less ${seconds(invocation.reserveMs)} kept to record the outcome; maxSecondsPerImage is ${this.#maxSeconds}`
        : `maxSecondsPerImage`;
    return new InvalidImageError(
      'too-slow',
      `Processing took longer than the ${seconds(this.limitMs)} allowed for one image (${why}) and was stopped during ${this.stage}, after ${seconds(elapsedMs)}`,
      {
        stage: this.stage,
        interrupted,
        elapsedMs,
        limitMs: this.limitMs,
        boundBy: this.boundBy,
        maxSecondsPerImage: this.#maxSeconds,
        ...(invocation && { invocationRemainingMs: invocation.remainingMs, reserveMs: invocation.reserveMs }),
      },
    );
  }

  /** Stops the timer; call when the image is done, however it ended. */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  #abort(reason: InvalidImageError): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }
}
