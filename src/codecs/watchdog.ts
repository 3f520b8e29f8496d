import { createContext, Script } from 'node:vm';

/**
 * Stopping a synchronous WebAssembly call at a deadline, in the thread that runs it. A decode runs
 * to completion once called: no timer or promise can interrupt it, since they all wait for the
 * thread. Node's vm module can: a script run with `timeout` is watched from another thread, which
 * terminates its execution when the time is up (V8's TerminateExecution, which also stops WASM at
 * its next loop iteration or call) and reports ERR_SCRIPT_EXECUTION_TIMEOUT. The call we run that
 * way is ours, not the script's: the script only calls it, with no access to anything else.
 *
 * Termination skips every `finally` of the interrupted call, so its instance is in whatever state
 * the call left it: the caller must replace it (instances.ts) before the next use. Starting the
 * watch costs about half a millisecond (a thread), paid only when there is a deadline.
 */
export class CodecTimeoutError extends Error {
  override readonly name = 'CodecTimeoutError';
}

const sandbox: { call?: () => unknown } = {};
const context = createContext(sandbox);
const script = new Script('call()', { filename: 'imgpipe-codec-watchdog' });

/**
 * Runs `call` and returns its result, or throws CodecTimeoutError if it is still running at
 * `deadline` (a performance.now() time). Without a deadline it is a plain call.
 */
export function runUntil<T>(deadline: number | undefined, what: string, call: () => T): T {
  if (deadline === undefined) return call();
  const ms = Math.floor(deadline - performance.now());
  if (ms < 1) throw new CodecTimeoutError(`The deadline passed before the ${what} started`);
  sandbox.call = call;
  try {
    return script.runInContext(context, { timeout: ms }) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')
      throw new CodecTimeoutError(`The ${what} was stopped at its deadline, after ${ms} ms`, {
        cause: error,
      });
    throw error;
  } finally {
    sandbox.call = undefined;
  }
}
