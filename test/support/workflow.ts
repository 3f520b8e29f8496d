import { randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import type { LambdaHandler } from '../../src/handlers/wrap.ts';

/**
 * Runs a state machine definition locally with aws-local-stepfunctions, each Lambda task bound by
 * state name to our real entry point in this process (overrides.taskResourceLocalHandlers), and
 * reports what happened: the result or the error, every task invocation and every retry.
 *
 * Retries wait `retryWaitMs` instead of the definition's backoff (retryIntervalOverrides): the
 * backoff values themselves are checked in test/unit/workflow/definitions.test.ts.
 */
export interface Run {
  readonly output?: unknown;
  readonly error?: { readonly name: string; readonly message: string };
  /** Task states in the order they were invoked, retries included. */
  readonly invoked: string[];
  readonly retried: string[];
  readonly caught: string[];
}

export type Binding = (input: unknown) => Promise<unknown>;

export function bind<R>(handler: LambdaHandler<R>): Binding {
  return (input) => handler(input) as Promise<unknown>;
}

export async function runLocally(
  definition: Record<string, unknown>,
  input: unknown,
  tasks: Record<string, Binding>,
  options: { retryWaitMs?: number; context?: Record<string, unknown> } = {},
): Promise<Run> {
  const invoked: string[] = [];
  const machine = new StateMachine(definition as never);
  const handlers = Object.fromEntries(
    Object.entries(tasks).map(([state, run]) => [
      state,
      async (value: unknown) => {
        invoked.push(state);
        // JSON in and out, as between Lambda and Step Functions.
        return JSON.parse(JSON.stringify((await run(JSON.parse(JSON.stringify(value)))) ?? null));
      },
    ]),
  );
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      retryIntervalOverrides: Object.fromEntries(
        Object.keys(tasks).map((state) => [state, options.retryWaitMs ?? 5]),
      ),
    },
    context: {
      Execution: { Name: randomUUID(), Input: input as never, StartTime: new Date().toISOString() },
      ...options.context,
    },
  });
  const retried: string[] = [];
  const caught: string[] = [];
  const logs = (async () => {
    for await (const event of execution.eventLogs as AsyncGenerator<{
      type: string;
      state?: { name: string };
    }>) {
      if (event.type === 'StateRetried' && event.state) retried.push(event.state.name);
      if (event.type === 'StateCaught' && event.state) caught.push(event.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await logs.catch(() => undefined);
    return { output, invoked, retried, caught };
  } catch (error) {
    await logs.catch(() => undefined);
    const e = error as Error & { cause?: Error };
    const cause = e.cause ?? e;
    return { error: { name: cause.name, message: cause.message }, invoked, retried, caught };
  }
}
