import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { keepIdleConnections } from './keep-alive.ts';
import type { LocalExecution, RunEvent } from './local-stepfunctions.ts';
import { localUrl } from './local-url.ts';

/**
 * The part of the Step Functions API that `imgpipe reprocess` calls, served by `imgpipe dev` over
 * AWS's JSON 1.0 protocol (POST /, `X-Amz-Target: AWSStepFunctions.<Operation>`), so the command
 * runs the same client code against it as against AWS: StartExecution, DescribeExecution,
 * StopExecution, ListMapRuns and DescribeMapRun. Executions run in this process on
 * aws-local-stepfunctions (local-stepfunctions.ts); a Map state's run is reported from the
 * interpreter's map iteration events. Any credentials are accepted; nothing is kept after the
 * server stops.
 */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

export function localStateMachineArn(name: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
}

export interface LocalStateMachine {
  readonly arn: string;
  /** Starts an execution; `onEvent` gets the interpreter's events. */
  start(input: unknown, execution: { name: string; onEvent: (event: RunEvent) => void }): LocalExecution;
  /** The Map states of the definition whose runs are reported, with the input path of their items. */
  readonly maps: Readonly<Record<string, string>>;
  /** Told when an execution ends (imgpipe dev prints a line). */
  onEnd?(execution: ExecutionRecord): void;
}

type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startDate: number;
  status: ExecutionStatus;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  mapRun?: MapRunRecord;
  abort?: () => void;
}

interface MapRunRecord {
  readonly mapRunArn: string;
  readonly startDate: number;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  stopDate?: number;
  total: number;
  running: number;
  succeeded: number;
  failed: number;
}

export interface LocalStepFunctions {
  readonly endpoint: string;
  close(): Promise<void>;
  /** Resolves when no execution is running. */
  idle(): Promise<void>;
}

class ApiError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

const now = () => Date.now() / 1000;

export async function startLocalStepFunctions(options: {
  host: string;
  port: number;
  machines: readonly LocalStateMachine[];
}): Promise<LocalStepFunctions> {
  const machines = new Map(options.machines.map((machine) => [machine.arn, machine]));
  const executions = new Map<string, ExecutionRecord>();
  const running = new Set<Promise<unknown>>();

  function execution(arn: unknown): ExecutionRecord {
    const found = typeof arn === 'string' ? executions.get(arn) : undefined;
    if (!found) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${String(arn)}'`);
    return found;
  }

  function mapRunOf(arn: unknown): { execution: ExecutionRecord; run: MapRunRecord } {
    for (const record of executions.values())
      if (record.mapRun && record.mapRun.mapRunArn === arn) return { execution: record, run: record.mapRun };
    throw new ApiError('ResourceNotFound', `Map Run Does Not Exist: '${String(arn)}'`);
  }

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    StartExecution(body) {
      const machine = machines.get(body.stateMachineArn as string);
      if (!machine)
        throw new ApiError(
          'StateMachineDoesNotExist',
          `State Machine Does Not Exist: '${String(body.stateMachineArn)}'`,
        );
      const name = typeof body.name === 'string' ? body.name : randomUUID();
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
      const executionArn = `${machine.arn.replace(':stateMachine:', ':execution:')}:${name}`;
      const inputText = typeof body.input === 'string' ? body.input : '{}';
      // As AWS does for a Standard workflow: the same name and input as a running execution is that
      // execution (a client's retry of its request); a closed one, or other input, is refused.
      const existing = executions.get(executionArn);
      if (existing?.status === 'RUNNING' && existing.input === inputText)
        return { executionArn, startDate: existing.startDate };
      if (existing)
        throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      let input: unknown;
      try {
        input = JSON.parse(inputText);
      } catch (error) {
        throw new ApiError(
          'InvalidExecutionInput',
          `Invalid State Machine Execution Input: '${(error as Error).message}'`,
        );
      }
      const record: ExecutionRecord = {
        executionArn,
        stateMachineArn: machine.arn,
        name,
        input: inputText,
        startDate: now(),
        status: 'RUNNING',
      };
      executions.set(executionArn, record);
      const started = machine.start(input, { name, onEvent: (event) => track(machine, record, event) });
      record.abort = started.abort;
      const done = started.result.then((run) => {
        record.stopDate = now();
        if (run.aborted) record.status = 'ABORTED';
        else if (run.error) {
          record.status = 'FAILED';
          record.error = run.error.name;
          record.cause = run.error.message;
        } else {
          record.status = 'SUCCEEDED';
          record.output = JSON.stringify(run.output ?? null);
        }
        const map = record.mapRun;
        if (map && map.status === 'RUNNING') {
          map.status =
            record.status === 'ABORTED' ? 'ABORTED' : record.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED';
          map.stopDate = record.stopDate;
        }
        machine.onEnd?.(record);
      });
      running.add(done);
      void done.finally(() => running.delete(done));
      return { executionArn, startDate: record.startDate };
    },
    DescribeExecution(body) {
      const record = execution(body.executionArn);
      return {
        executionArn: record.executionArn,
        stateMachineArn: record.stateMachineArn,
        name: record.name,
        status: record.status,
        startDate: record.startDate,
        input: record.input,
        inputDetails: { included: true },
        ...(record.stopDate !== undefined ? { stopDate: record.stopDate } : {}),
        ...(record.output !== undefined ? { output: record.output, outputDetails: { included: true } } : {}),
        ...(record.error !== undefined ? { error: record.error, cause: record.cause } : {}),
      };
    },
    StopExecution(body) {
      const record = execution(body.executionArn);
      if (record.status === 'RUNNING') {
        record.status = 'ABORTED';
        record.stopDate = now();
        if (typeof body.error === 'string') record.error = body.error;
        if (typeof body.cause === 'string') record.cause = body.cause;
        record.abort?.();
      }
      return { stopDate: record.stopDate };
    },
    ListMapRuns(body) {
      const record = execution(body.executionArn);
      return {
        mapRuns: record.mapRun
          ? [
              {
                executionArn: record.executionArn,
                mapRunArn: record.mapRun.mapRunArn,
                stateMachineArn: record.stateMachineArn,
                startDate: record.mapRun.startDate,
                ...(record.mapRun.stopDate !== undefined ? { stopDate: record.mapRun.stopDate } : {}),
              },
            ]
          : [],
      };
    },
    DescribeMapRun(body) {
      const { execution: record, run } = mapRunOf(body.mapRunArn);
      const done = run.succeeded + run.failed;
      const pending = run.status === 'RUNNING' ? Math.max(0, run.total - done - run.running) : 0;
      const aborted = run.status === 'RUNNING' ? 0 : Math.max(0, run.total - done);
      const counts = {
        pending,
        running: run.status === 'RUNNING' ? run.running : 0,
        succeeded: run.succeeded,
        failed: run.failed,
        timedOut: 0,
        aborted,
        total: run.total,
        resultsWritten: done,
        failuresNotRedrivable: 0,
        pendingRedrive: 0,
      };
      return {
        mapRunArn: run.mapRunArn,
        executionArn: record.executionArn,
        status: run.status,
        startDate: run.startDate,
        ...(run.stopDate !== undefined ? { stopDate: run.stopDate } : {}),
        maxConcurrency: run.maxConcurrency,
        toleratedFailurePercentage: run.toleratedFailurePercentage,
        toleratedFailureCount: 0,
        itemCounts: counts,
        // One item per child execution here (the local run has no ItemBatcher).
        executionCounts: counts,
        redriveCount: 0,
      };
    },
  };

  /** A map state's run, from the interpreter's events: entered (its items), iterations, exited. */
  function track(machine: LocalStateMachine, record: ExecutionRecord, event: RunEvent): void {
    const top = event.index === undefined;
    if (event.type === 'StateEntered' && top && event.state && event.state.name in machine.maps) {
      const input = (event.state.input ?? {}) as Record<string, unknown>;
      const items = pathValue(input, machine.maps[event.state.name]!);
      record.mapRun = {
        mapRunArn: `${machine.arn.replace(':stateMachine:', ':mapRun:')}/${event.state.name}:${randomUUID()}`,
        startDate: now(),
        maxConcurrency: typeof input.concurrency === 'number' ? input.concurrency : 0,
        toleratedFailurePercentage:
          typeof input.toleratedFailurePercentage === 'number' ? input.toleratedFailurePercentage : 0,
        status: 'RUNNING',
        total: Array.isArray(items) ? items.length : 0,
        running: 0,
        succeeded: 0,
        failed: 0,
      };
      return;
    }
    const run = record.mapRun;
    if (run?.status !== 'RUNNING') return;
    if (event.parentState && event.parentState.name in machine.maps) {
      if (event.type === 'MapIterationStarted') run.running++;
      else if (event.type === 'MapIterationSucceeded') {
        run.running--;
        run.succeeded++;
      } else if (event.type === 'MapIterationFailed') {
        run.running--;
        run.failed++;
      }
    } else if (event.type === 'StateExited' && top && event.state && event.state.name in machine.maps) {
      run.status = 'SUCCEEDED';
      run.stopDate = now();
    }
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': randomUUID(),
      });
      response.end(JSON.stringify(body));
    };
    try {
      const target = String(request.headers['x-amz-target'] ?? '');
      const [service, operation] = target.split('.');
      const run = service === 'AWSStepFunctions' && operation ? operations[operation] : undefined;
      if (request.method !== 'POST' || !run)
        throw new ApiError(
          'UnknownOperationException',
          `imgpipe dev answers ${Object.keys(operations).join(', ')} of Step Functions, not ${target || request.method}`,
        );
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new ApiError('SerializationException', 'The request body is not JSON');
      }
      reply(200, run(body as Record<string, unknown>));
    } catch (error) {
      if (error instanceof ApiError) reply(400, { __type: error.type, message: error.message });
      else reply(500, { __type: 'InternalFailure', message: (error as Error).message });
    }
  }

  const server = createServer((request, response) => void handle(request, response));
  keepIdleConnections(server);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: localUrl(options.host, port),
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    async close() {
      for (const record of executions.values()) if (record.status === 'RUNNING') record.abort?.();
      await Promise.allSettled([...running]);
      server.closeAllConnections();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}

/** `$.a.b` of a value (the only JSONPath form the maps' ItemsPath uses). */
function pathValue(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean)) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
