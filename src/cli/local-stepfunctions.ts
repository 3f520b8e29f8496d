import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StateMachine } from 'aws-local-stepfunctions';
import type { ReprocessTasks } from '../handlers/reprocess.ts';
import type { ScanTask } from '../handlers/scanner.ts';
import type { WorkflowTasks } from '../handlers/workflow.ts';
import type { LambdaHandler } from '../handlers/wrap.ts';
import type { Storage } from '../storage/types.ts';

/**
 * The workflow's state machines (terraform/modules/workflow/definitions/*.asl.json, the files
 * Terraform deploys) run on this machine by aws-local-stepfunctions, a States Language interpreter,
 * each Lambda task bound by state name to our real entry point in this process
 * (overrides.taskResourceLocalHandlers). `imgpipe dev --workflow` and the tests share these
 * bindings.
 *
 * What the interpreter lacks, and what stands in for it here:
 * - the Distributed Map's ItemReader (an S3 listing): a task state inserted before the map lists the
 *   prefix with ListObjectsV2 on the local S3 server, all pages, into the items Step Functions'
 *   reader yields ({Key, Size, Etag}); the map then takes them as
 *   ItemsPath, with the definition's own ItemSelector;
 * - the ItemBatcher: each item goes to the batch task as a batch of one (`{"Items": [item]}`);
 * - the ResultWriter: no result files; the map's results reach Summarize inline (it reads either);
 * - the ToleratedFailurePercentage: a child execution that fails fails the map, and stops the others
 *   (single objects never fail a batch: they are counted in its result); the map's Catch gets the
 *   error, not the results of the batches that ran, as on AWS. (The request's tolerance over failed
 *   objects is Summarize's, and applies here.)
 * MaxConcurrencyPath, Retry (backoff shortened, see retryWaitMs), Catch and the Choice, Pass and
 * Fail states run as the definition says.
 */
export const DEFINITIONS_DIR = fileURLToPath(
  new URL('../../terraform/modules/workflow/definitions/', import.meta.url),
);

export type DefinitionName = 'upload' | 'reprocess';

export function definitionText(name: DefinitionName): string {
  return readFileSync(`${DEFINITIONS_DIR}${name}.asl.json`, 'utf8');
}

/**
 * A definition as Terraform's `templatefile` renders it: every `${name}` replaced by its value (the
 * files use no other template syntax).
 */
export function renderDefinition(
  name: DefinitionName,
  values: Record<string, string>,
): Record<string, unknown> {
  const text = definitionText(name);
  if (/%\{|\$\{(?![a-z_]+\})/.test(text)) throw new Error(`${name}: template syntax other than \${name}`);
  const rendered = text.replace(/\$\{([a-z_]+)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`${name}: no value for \${${key}}`);
    return value;
  });
  return JSON.parse(rendered) as Record<string, unknown>;
}

export interface Run {
  readonly output?: unknown;
  readonly error?: { readonly name: string; readonly message: string };
  /** Task states in the order they were invoked, retries included. */
  readonly invoked: string[];
  readonly retried: string[];
  readonly caught: string[];
  readonly aborted?: boolean;
}

export type Binding = (input: unknown) => Promise<unknown>;

export function bind<R>(handler: LambdaHandler<R>): Binding {
  return (input) => handler(input) as Promise<unknown>;
}

/** One entry of the interpreter's event log (the fields used here). */
export interface RunEvent {
  readonly type: string;
  readonly state?: { readonly name: string; readonly input?: unknown };
  readonly parentState?: { readonly name: string };
  readonly index?: number;
}

export interface LocalRunOptions {
  /**
   * What retries wait instead of the definition's backoff (default 5 ms, for tests: the definition's
   * own values are checked in test/unit/workflow); `'definition'` keeps the definition's backoff.
   */
  readonly retryWaitMs?: number | 'definition';
  readonly context?: Record<string, unknown>;
  /** Every event of the run as it happens (states entered, map iterations...). */
  readonly onEvent?: (event: RunEvent) => void;
}

export interface LocalExecution {
  readonly result: Promise<Run>;
  abort(): void;
}

/** Starts a definition; `result` settles with what happened: the output or the error, and the tasks invoked. */
export function startLocally(
  definition: Record<string, unknown>,
  input: unknown,
  tasks: Record<string, Binding>,
  options: LocalRunOptions = {},
): LocalExecution {
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
  const retryWaitMs = options.retryWaitMs;
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      ...(retryWaitMs === 'definition'
        ? {}
        : {
            retryIntervalOverrides: Object.fromEntries(
              Object.keys(tasks).map((state) => [state, retryWaitMs ?? 5]),
            ),
          }),
    },
    context: {
      Execution: { Name: randomUUID(), Input: input as never, StartTime: new Date().toISOString() },
      ...options.context,
    },
  });
  const retried: string[] = [];
  const caught: string[] = [];
  const logs = (async () => {
    for await (const event of execution.eventLogs as AsyncGenerator<RunEvent>) {
      if (event.type === 'StateRetried' && event.state) retried.push(event.state.name);
      if (event.type === 'StateCaught' && event.state) caught.push(event.state.name);
      options.onEvent?.(event);
    }
  })();
  let aborted = false;
  const result = (async (): Promise<Run> => {
    try {
      const output = await execution.result;
      await logs.catch(() => undefined);
      return { output, invoked, retried, caught };
    } catch (error) {
      await logs.catch(() => undefined);
      const e = error as Error & { cause?: Error };
      const cause = e.cause ?? e;
      return {
        error: { name: cause.name, message: cause.message },
        invoked,
        retried,
        caught,
        ...(aborted ? { aborted } : {}),
      };
    }
  })();
  return {
    result,
    abort: () => {
      aborted = true;
      execution.abort();
    },
  };
}

export function runLocally(
  definition: Record<string, unknown>,
  input: unknown,
  tasks: Record<string, Binding>,
  options: LocalRunOptions = {},
): Promise<Run> {
  return startLocally(definition, input, tasks, options).result;
}

/** The per-upload machine's task states bound to the real tasks (the scanner's, when it scans). */
export function uploadBindings(tasks: WorkflowTasks, scan?: ScanTask): Record<string, Binding> {
  return {
    Inspect: bind(tasks.inspect),
    ...(scan ? { Scan: bind(scan) } : {}),
    Moderate: bind(tasks.moderate),
    Process: bind(tasks.process),
    Quarantine: bind(tasks.quarantine),
    RecordFailure: bind(tasks.fail),
  };
}

/** The state inserted before ByPrefix to stand in for its ItemReader, and where it puts the listing. */
export const LOCAL_ITEM_READER = 'ListPrefix';
const LISTED_ITEMS = '$.listedObjects';

/**
 * The reprocess definition with ByPrefix's ItemReader replaced by a task state (LOCAL_ITEM_READER)
 * with the reader's own Resource and Parameters, whose output the map takes as ItemsPath.
 */
export function withLocalItemReader(definition: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(definition) as { States: Record<string, Record<string, unknown>> };
  const states = copy.States;
  for (const [name, state] of Object.entries(states)) {
    const reader = state.ItemReader as { Resource: string; Parameters: unknown } | undefined;
    if (state.Type !== 'Map' || !reader) continue;
    delete state.ItemReader;
    state.ItemsPath = LISTED_ITEMS;
    for (const other of Object.values(states)) {
      if (other.Next === name) other.Next = LOCAL_ITEM_READER;
      if (other.Default === name) other.Default = LOCAL_ITEM_READER;
      for (const choice of (other.Choices as { Next?: string }[] | undefined) ?? [])
        if (choice.Next === name) choice.Next = LOCAL_ITEM_READER;
      for (const catcher of (other.Catch as { Next?: string }[] | undefined) ?? [])
        if (catcher.Next === name) catcher.Next = LOCAL_ITEM_READER;
    }
    states[LOCAL_ITEM_READER] = {
      Type: 'Task',
      Comment: `Stands in for ${name}'s ItemReader, which the local interpreter lacks.`,
      Resource: reader.Resource,
      Parameters: reader.Parameters,
      ResultPath: LISTED_ITEMS,
      Next: name,
    };
  }
  return copy;
}

/**
 * The reprocess definition with each batching map's items made batches of one, as its ItemBatcher
 * would make them (`{"Items": [item]}`), by a Pass state the item processor starts with: the
 * interpreter has no ItemBatcher.
 */
export function withLocalBatches(definition: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(definition) as { States: Record<string, Record<string, unknown>> };
  for (const [name, state] of Object.entries(copy.States)) {
    if (state.Type !== 'Map' || !state.ItemBatcher) continue;
    delete state.ItemBatcher;
    const processor = state.ItemProcessor as { StartAt: string; States: Record<string, unknown> };
    const start = `${name}LocalBatch`;
    processor.States = {
      [start]: {
        Type: 'Pass',
        Comment: `Stands in for ${name}'s ItemBatcher, which the local interpreter lacks: a batch of one.`,
        Parameters: { 'Items.$': 'States.Array($)' },
        Next: processor.StartAt,
      },
      ...processor.States,
    };
    processor.StartAt = start;
  }
  return copy;
}

/**
 * What StartSyncExecution answers, from a local run of the per-upload workflow: its status, and its
 * output when it succeeded (the output is then a JSON string, as in the API).
 */
export function localSyncExecution(run: (event: unknown) => Promise<Run>): Binding {
  return async (input) => {
    const { StateMachineArn, Input } = input as { StateMachineArn: string; Input: string };
    const result = await run(JSON.parse(Input));
    const ExecutionArn = `${StateMachineArn.replace(':stateMachine:', ':express:')}:${randomUUID()}`;
    if (result.error)
      return { ExecutionArn, Status: 'FAILED', Error: result.error.name, Cause: result.error.message };
    return { ExecutionArn, Status: 'SUCCEEDED', Output: JSON.stringify(result.output) };
  };
}

/** One object as the s3:listObjectsV2 item reader yields it (the fields the storage knows; the map uses Key). */
export interface ListedObject {
  readonly Key: string;
  readonly Size: number;
  readonly Etag: string;
}

/** The S3 listing the item reader makes: every object under the prefix, all pages. */
export function listingReader(storage: (bucket: string) => Storage): Binding {
  return async (input) => {
    const { Bucket, Prefix } = input as { Bucket: string; Prefix?: string };
    const items: ListedObject[] = [];
    for await (const object of storage(Bucket).list(Prefix ?? '')) {
      items.push({
        Key: object.key,
        Size: object.size,
        Etag: `"${object.etag}"`,
      });
    }
    return items;
  };
}

/**
 * The reprocess machine's task states bound to the real tasks (run the definition through
 * withLocalBatches). With `storage`, the local item reader too (withLocalItemReader); with
 * `upload`, the per-upload workflow that each object goes through when the definition names one.
 */
export function reprocessBindings(
  tasks: ReprocessTasks,
  storage?: (bucket: string) => Storage,
  upload?: (event: unknown) => Promise<Run>,
): Record<string, Binding> {
  return {
    Plan: bind(tasks.plan),
    ...(storage ? { [LOCAL_ITEM_READER]: listingReader(storage) } : {}),
    ListedBatch: bind(tasks.batch),
    KeysBatch: bind(tasks.batch),
    ...(upload ? { ListedUpload: localSyncExecution(upload), KeysUpload: localSyncExecution(upload) } : {}),
    Summarize: bind(tasks.summarize),
  };
}
