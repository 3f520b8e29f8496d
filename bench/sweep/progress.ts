import cliProgress from 'cli-progress';

/**
 * How the sweep shows that it advances: a progress bar on a terminal, one line per step otherwise
 * (CI logs, redirected output), like `imgpipe process`.
 */
export interface Progress {
  start(total: number): void;
  /** What is running now. */
  step(label: string): void;
  /** One unit done. */
  advance(): void;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'sweep {bar} {value}/{total} | {duration_formatted} elapsed, ~{eta_formatted} left | {label}',
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        // Steps take seconds to minutes: redraw so the clock moves.
        fps: 2,
      },
      cliProgress.Presets.shades_classic,
    );
    return {
      start: (total) => bar.start(total, 0, { label: '' }),
      step: (label) => bar.update({ label }),
      advance: () => bar.increment(),
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let total = 0;
  const started = performance.now();
  return {
    start: (n) => {
      total = n;
    },
    step: (label) => {
      const elapsed = Math.round((performance.now() - started) / 1000);
      stream.write(`[${done + 1}/${total}] ${label} (${elapsed} s elapsed)\n`);
    },
    advance: () => {
      done++;
    },
    stop: () => undefined,
  };
}

/** For tests and quiet runs. */
export const silentProgress: Progress = {
  start: () => undefined,
  step: () => undefined,
  advance: () => undefined,
  stop: () => undefined,
};
