/**
 * The AWS mode of the sweep against a MOCKED Lambda client (aws-sdk-client-mock): there is no AWS
 * account here. The REPORT lines are written in the shape Lambda prints them (tab-separated,
 * `Init Duration` on a cold start only, `Status`/`Error Type` on failures), and the responses carry
 * them base64-encoded in LogResult as Invoke with LogType "Tail" does. What is checked is our side:
 * the sequence of API calls, the parsing, and that the function is restored whatever happens.
 */
import { readFileSync } from 'node:fs';
import {
  DeleteFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  LambdaServiceException,
  PublishVersionCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AwsInput,
  manifestLocations,
  probeObject,
  runAwsSweep,
  SweepAbortedError,
} from '../../../../bench/sweep/aws.ts';
import { MAX_TIMEOUT_SECONDS } from '../../../../bench/sweep/derive.ts';
import { silentProgress } from '../../../../bench/sweep/progress.ts';
import { summariseRow } from '../../../../bench/sweep/rows.ts';
import { buildS3Notification } from '../../../../src/cli/local-s3.ts';
import type { RecordResult } from '../../../../src/handlers/objects.ts';
import { pricesWith } from './helpers.ts';

const lambdaMock = mockClient(LambdaClient);
const s3Mock = mockClient(S3Client);

const FUNCTION = 'imgpipe-dev';
const ORIGINAL = { MemorySize: 3008, Timeout: 60 };
const ENVIRONMENT = { IMGPIPE_OUTPUT_BUCKET: 'imgpipe-output', IMGPIPE_MAX_PIXELS: '50000000' };

function report(
  memory: number,
  durationMs: number,
  options: { initMs?: number; usedMb?: number; error?: string; timedOut?: boolean } = {},
): string {
  const fields = [
    `REPORT RequestId: 6f1e2d3c-0000-4000-8000-${String(memory).padStart(12, '0')}`,
    `Duration: ${durationMs.toFixed(2)} ms`,
    `Billed Duration: ${Math.ceil(durationMs + (options.initMs ?? 0))} ms`,
    `Memory Size: ${memory} MB`,
    `Max Memory Used: ${options.usedMb ?? 400} MB`,
  ];
  if (options.initMs !== undefined) fields.push(`Init Duration: ${options.initMs.toFixed(2)} ms`);
  if (options.error) fields.push('Status: error', `Error Type: ${options.error}`);
  if (options.timedOut) fields.push('Status: timeout');
  return `${fields.join('\t')}\t\n`;
}

function tail(...lines: string[]): string {
  return Buffer.from(lines.join('')).toString('base64');
}

/**
 * A fake deployed function: remembers its memory, numbers versions, cold-starts each version once.
 * As Lambda, it publishes no version when the configuration is the latest version's (at first the
 * deployed one, 7), and returns that version instead.
 */
function fakeFunction(
  invoke: (
    memory: number,
    call: number,
    timeoutSeconds: number,
    payload: string,
  ) => { log: string; functionError?: string; payload?: string } = (memory) => ({
    log: report(memory, 204_800 / memory),
  }),
  deployed: { MemorySize: number; Timeout: number } = ORIGINAL,
  /**
   * As Lambda, an update is in progress for this many polls of the configuration after it (and
   * at the start, with `busyAtStart`), and another update meanwhile is refused.
   */
  busy: { polls: number; atStart?: boolean } = { polls: 0 },
) {
  let inProgress = busy.atStart ? busy.polls : 0;
  let memory = deployed.MemorySize;
  let timeout = deployed.Timeout;
  let published = 7;
  const versions = new Map<string, number>([['7', memory]]);
  const versionTimeouts = new Map<string, number>([['7', timeout]]);
  const descriptions = new Map<string, string | undefined>([['7', 'release 42']]);
  const calls = new Map<string, number>();
  lambdaMock.on(GetFunctionConfigurationCommand).callsFake((input) => {
    if (input.Qualifier) {
      return { State: 'Active', Version: input.Qualifier, MemorySize: versions.get(input.Qualifier) };
    }
    const status = inProgress > 0 ? 'InProgress' : 'Successful';
    inProgress = Math.max(0, inProgress - 1);
    return {
      FunctionName: FUNCTION,
      FunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION}`,
      MemorySize: memory,
      Timeout: timeout,
      Architectures: ['arm64'],
      LastUpdateStatus: status,
      Environment: { Variables: ENVIRONMENT },
    };
  });
  lambdaMock.on(UpdateFunctionConfigurationCommand).callsFake((input) => {
    if (inProgress > 0) {
      throw new LambdaServiceException({
        name: 'ResourceConflictException',
        $fault: 'client',
        $metadata: { httpStatusCode: 409 },
        message: `The operation cannot be performed at this time. An update is in progress for resource: ${FUNCTION}`,
      });
    }
    memory = input.MemorySize ?? memory;
    timeout = input.Timeout ?? timeout;
    inProgress = busy.polls;
    return { LastUpdateStatus: 'InProgress' };
  });
  lambdaMock.on(PublishVersionCommand).callsFake((input) => {
    const latest = String(published);
    if (versions.get(latest) === memory && versionTimeouts.get(latest) === timeout) {
      return { Version: latest, State: 'Active', Description: descriptions.get(latest) };
    }
    const version = String(++published);
    versions.set(version, memory);
    versionTimeouts.set(version, timeout);
    descriptions.set(version, input.Description);
    return { Version: version, State: 'Pending', Description: input.Description };
  });
  lambdaMock.on(DeleteFunctionCommand).resolves({});
  lambdaMock.on(InvokeCommand).callsFake((input) => {
    const size = versions.get(input.Qualifier!)!;
    const call = (calls.get(input.Qualifier!) ?? 0) + 1;
    calls.set(input.Qualifier!, call);
    const { log, functionError, payload } = invoke(
      size,
      call,
      versionTimeouts.get(input.Qualifier!)!,
      Buffer.from(input.Payload as Uint8Array).toString(),
    );
    return {
      StatusCode: 200,
      LogResult: tail(`START RequestId: x Version: ${input.Qualifier}\n`, log),
      ...(functionError ? { FunctionError: functionError } : {}),
      Payload: new TextEncoder().encode(payload ?? 'null'),
    };
  });
  return { memory: () => memory, timeout: () => timeout };
}

const event = buildS3Notification({ bucket: 'uploads', key: 'photos/a.jpg', size: 1000, etag: 'abc' });
const input: AwsInput = {
  label: 's3://uploads/photos/a.jpg',
  payload: new TextEncoder().encode(JSON.stringify(event)),
  object: { bucket: 'uploads', key: 'photos/a.jpg' },
  pixels: 12_000_000,
};

function settings(
  overrides: Partial<Parameters<typeof runAwsSweep>[0]> = {},
): Parameters<typeof runAwsSweep>[0] {
  return {
    lambda: new LambdaClient({ region: 'eu-west-1' }),
    functionName: FUNCTION,
    memories: [1024, 2048],
    runs: 2,
    inputs: [input],
    deleteManifest: false,
    progress: silentProgress,
    pollMs: 0,
    ...overrides,
  };
}

beforeEach(() => {
  lambdaMock.reset();
  s3Mock.reset();
});
afterEach(() => {
  lambdaMock.reset();
  s3Mock.reset();
});

describe('runAwsSweep (mocked Lambda)', () => {
  it('updates, publishes and invokes each size, and reads the REPORT lines', async () => {
    const fn = fakeFunction((memory, call) => ({
      log: report(memory, 2_048_000 / memory, {
        initMs: call === 1 ? 612.5 : undefined,
        usedMb: memory === 1024 ? 700 : 760,
      }),
    }));
    const result = await runAwsSweep(settings());

    const updates = lambdaMock.commandCalls(UpdateFunctionConfigurationCommand).map((c) => c.args[0].input);
    expect(updates).toEqual([
      { FunctionName: FUNCTION, MemorySize: 1024, Timeout: MAX_TIMEOUT_SECONDS },
      { FunctionName: FUNCTION, MemorySize: 2048, Timeout: MAX_TIMEOUT_SECONDS },
      { FunctionName: FUNCTION, MemorySize: 3008, Timeout: 60 },
    ]);
    const invokes = lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input);
    expect(invokes).toHaveLength(6);
    expect(invokes[0]).toMatchObject({ FunctionName: FUNCTION, Qualifier: '8', LogType: 'Tail' });
    expect(JSON.parse(Buffer.from(invokes[0]!.Payload as Uint8Array).toString())).toEqual(event);
    expect(invokes[3]).toMatchObject({ Qualifier: '9' });

    expect(result.architecture).toBe('arm64');
    expect(result.rows.map((r) => [r.memoryMb, r.mode, r.workers])).toEqual([
      [1024, 'measured-aws', 1],
      [2048, 'measured-aws', 1],
    ]);
    const [small] = result.rows;
    expect(small!.images[0]).toMatchObject({
      image: 's3://uploads/photos/a.jpg',
      pixels: 12_000_000,
      initMs: 612.5,
      first: { wallMs: 2000, billedMs: 2613, maxMemoryUsedMb: 700 },
      peakRssMb: 700,
    });
    expect(small!.images[0]!.warm.map((r) => r.billedMs)).toEqual([2000, 2000]);

    // Restored, temporary versions gone.
    expect([fn.memory(), fn.timeout()]).toEqual([3008, 60]);
    expect(result.cleanupProblems).toEqual([]);
    expect(lambdaMock.commandCalls(DeleteFunctionCommand).map((c) => c.args[0].input.Qualifier)).toEqual([
      '8',
      '9',
    ]);
  });

  it("runs the inputs from the fewest pixels up, so an input's peak is not a larger one's held memory", async () => {
    // One execution environment serves every input of a size, and memory it has used stays used
    // (WASM memories never shrink): Max Memory Used of an input after a larger one was the larger
    // one's. With the 15.9 MP photo first and the 1.5 MP one second (the bench workflow's order),
    // both read 700 MB, and the pixel fit got a flat line raised to the small photo.
    const large: AwsInput = {
      ...input,
      label: 'large.jpg',
      payload: new TextEncoder().encode('"large"'),
      pixels: 15_900_000,
    };
    const small: AwsInput = {
      ...input,
      label: 'small.jpg',
      payload: new TextEncoder().encode('"small"'),
      pixels: 1_500_000,
    };
    const own: Record<string, number> = { '"large"': 700, '"small"': 300 };
    const held = new Map<number, number>();
    fakeFunction((memory, _call, _timeout, payload) => {
      const used = Math.max(held.get(memory) ?? 0, own[payload]!);
      held.set(memory, used);
      return { log: report(memory, 1000, { usedMb: used }) };
    });
    const result = await runAwsSweep(settings({ memories: [2048], runs: 1, inputs: [large, small] }));
    const peaks = Object.fromEntries(result.rows[0]!.images.map((image) => [image.image, image.peakRssMb]));
    expect(peaks).toEqual({ 'large.jpg': 700, 'small.jpg': 300 });
    // Invoked small first, reported in the order given.
    const invoked = lambdaMock
      .commandCalls(InvokeCommand)
      .map((c) => Buffer.from(c.args[0].input.Payload as Uint8Array).toString());
    expect(invoked).toEqual(['"small"', '"small"', '"large"', '"large"']);
    expect(result.rows[0]!.images.map((image) => image.image)).toEqual(['large.jpg', 'small.jpg']);
  });

  it('gives each size the longest timeout the deployment accepts, not the deployed one', async () => {
    // The deployed 60 s was tuned for 3008 MB; at 512 MB the image takes 80 s. Lambda ends an
    // invocation at the version's timeout: with the deployed one the size failed as timed out.
    const fn = fakeFunction((memory, _call, timeoutSeconds) => {
      const durationMs = 40_960_000 / memory;
      return durationMs > timeoutSeconds * 1000
        ? {
            log: report(memory, timeoutSeconds * 1000, { timedOut: true }),
            functionError: 'Unhandled',
            payload: '{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out"}',
          }
        : { log: report(memory, durationMs) };
    });
    const result = await runAwsSweep(settings({ memories: [512, 1024] }));
    expect(result.rows.map((row) => [row.memoryMb, row.failures])).toEqual([
      [512, []],
      [1024, []],
    ]);
    expect(result.rows[0]!.images[0]!.first.wallMs).toBe(80_000);
    expect([fn.memory(), fn.timeout()]).toEqual([3008, 60]);
  });

  it('restores the configuration when a step fails half-way, and passes the error on', async () => {
    const fn = fakeFunction();
    lambdaMock
      .on(PublishVersionCommand)
      .callsFakeOnce((request) => ({ Version: '1', Description: request.Description }))
      .rejects(new Error('TooManyRequestsException'));
    await expect(runAwsSweep(settings())).rejects.toThrow('TooManyRequestsException');
    expect([fn.memory(), fn.timeout()]).toEqual([3008, 60]);
    expect(lambdaMock.commandCalls(UpdateFunctionConfigurationCommand).at(-1)!.args[0].input).toEqual({
      FunctionName: FUNCTION,
      MemorySize: 3008,
      Timeout: 60,
    });
    expect(lambdaMock.commandCalls(DeleteFunctionCommand)).toHaveLength(1);
  });

  it('restores the configuration when interrupted', async () => {
    const fn = fakeFunction();
    const controller = new AbortController();
    controller.abort();
    await expect(runAwsSweep(settings({ signal: controller.signal }))).rejects.toBeInstanceOf(
      SweepAbortedError,
    );
    expect([fn.memory(), fn.timeout()]).toEqual([3008, 60]);
  });

  it('says that the restore failed when the sweep was interrupted or failed', async () => {
    // Without a result there was nowhere for the problems to go: Ctrl-C printed only "The sweep
    // was interrupted", and the function was left at the sweep's memory and timeout unsaid.
    fakeFunction();
    lambdaMock
      .on(UpdateFunctionConfigurationCommand, { MemorySize: ORIGINAL.MemorySize })
      .rejects(new Error('AccessDeniedException'));
    lambdaMock.on(DeleteFunctionCommand).rejects(new Error('ResourceConflictException'));
    const controller = new AbortController();
    const sweep = runAwsSweep(
      settings({
        signal: controller.signal,
        progress: { ...silentProgress, advance: () => controller.abort() },
      }),
    );
    await expect(sweep).rejects.toThrow(
      /^The sweep was interrupted; then the cleanup failed, so the function may be left changed: Could not restore imgpipe-dev to MemorySize 3008 and Timeout 60: AccessDeniedException; Could not delete version 8 of imgpipe-dev: ResourceConflictException$/,
    );
    await expect(sweep).rejects.toMatchObject({ cause: expect.any(SweepAbortedError) });
  });

  it('neither measures nor deletes a version it did not publish', async () => {
    // Lambda publishes no version when the code and configuration are the latest version's, and
    // returns that version: at the deployed size with a deployed timeout of 110 s, the
    // deployment's own, which the sweep measured as if cold and deleted.
    const fn = fakeFunction(undefined, { MemorySize: 1024, Timeout: MAX_TIMEOUT_SECONDS });
    const result = await runAwsSweep(settings({ memories: [1024, 2048] }));
    const invoked = lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input.Qualifier);
    expect(new Set(invoked)).toEqual(new Set(['8']));
    expect(lambdaMock.commandCalls(DeleteFunctionCommand).map((c) => c.args[0].input.Qualifier)).toEqual([
      '8',
    ]);
    expect([fn.memory(), fn.timeout()]).toEqual([1024, MAX_TIMEOUT_SECONDS]);
    const [small, large] = result.rows;
    expect(small).toMatchObject({ memoryMb: 1024, images: [] });
    expect(small!.failures).toEqual([
      {
        image: 's3://uploads/photos/a.jpg',
        message: expect.stringMatching(
          /^PublishVersion returned version 7, which this sweep did not publish \(its description is "release 42"\).* neither measured nor deleted$/,
        ),
      },
    ]);
    expect(large!.failures).toEqual([]);
    expect(result.cleanupProblems).toEqual([]);
  });

  it('restores nothing when its first update was refused, and says no more than that', async () => {
    // A role without UpdateFunctionConfiguration: nothing changed, and the restore, refused the
    // same way, read as a function left changed.
    const fn = fakeFunction();
    lambdaMock.on(UpdateFunctionConfigurationCommand).rejects(
      new LambdaServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'not authorized to perform: lambda:UpdateFunctionConfiguration',
      }),
    );
    await expect(runAwsSweep(settings())).rejects.toThrow(
      /^not authorized to perform: lambda:UpdateFunctionConfiguration$/,
    );
    expect(lambdaMock.commandCalls(UpdateFunctionConfigurationCommand)).toHaveLength(1);
    expect([fn.memory(), fn.timeout()]).toEqual([3008, 60]);
  });

  it('restores after an update that got no answer, which may have been applied', async () => {
    fakeFunction();
    let memory = ORIGINAL.MemorySize;
    lambdaMock.on(UpdateFunctionConfigurationCommand).callsFake((request) => {
      memory = request.MemorySize;
      if (request.MemorySize !== ORIGINAL.MemorySize) throw new Error('socket hang up');
      return {};
    });
    await expect(runAwsSweep(settings())).rejects.toThrow(/^socket hang up$/);
    expect(lambdaMock.commandCalls(UpdateFunctionConfigurationCommand)).toHaveLength(2);
    expect(memory).toBe(ORIGINAL.MemorySize);
  });

  it('waits for an update in progress when it starts (a deploy that has just run)', async () => {
    // Lambda refuses an update while another is in progress: the sweep stopped at its first size
    // with ResourceConflictException.
    const fn = fakeFunction(undefined, ORIGINAL, { polls: 2, atStart: true });
    const result = await runAwsSweep(settings({ memories: [1024, 2048] }));
    expect(result.rows.map((row) => [row.memoryMb, row.failures])).toEqual([
      [1024, []],
      [2048, []],
    ]);
    expect([fn.memory(), fn.timeout()]).toEqual([ORIGINAL.MemorySize, ORIGINAL.Timeout]);
  });

  /** A function whose update stays in progress for 2 polls; `onPoll` sees each poll's number. */
  function slowFunction(onPoll: (poll: number) => void) {
    fakeFunction();
    const state = { memory: ORIGINAL.MemorySize, timeout: ORIGINAL.Timeout };
    let pollsInProgress = 0;
    let polls = 0;
    lambdaMock.on(UpdateFunctionConfigurationCommand).callsFake((request) => {
      if (pollsInProgress > 0) {
        throw Object.assign(new Error('The operation cannot be performed at this time.'), {
          name: 'ResourceConflictException',
        });
      }
      state.memory = request.MemorySize ?? state.memory;
      state.timeout = request.Timeout ?? state.timeout;
      pollsInProgress = 2;
      return { LastUpdateStatus: 'InProgress' };
    });
    lambdaMock.on(GetFunctionConfigurationCommand, { FunctionName: FUNCTION }, true).callsFake(() => {
      polls += 1;
      onPoll(polls);
      const inProgress = pollsInProgress > 0;
      pollsInProgress = Math.max(0, pollsInProgress - 1);
      return {
        FunctionName: FUNCTION,
        MemorySize: state.memory,
        Timeout: state.timeout,
        LastUpdateStatus: inProgress ? 'InProgress' : 'Successful',
        Environment: { Variables: ENVIRONMENT },
      };
    });
    return state;
  }

  it('waits for an update still in progress before it restores the configuration', async () => {
    // Lambda refuses an update while another is in progress (ResourceConflictException). When the
    // sweep stopped during the wait for its own update (here it was interrupted at the third poll,
    // the first after its update), the restore came at once, was refused, and the function stayed
    // at the sweep's size.
    const controller = new AbortController();
    const state = slowFunction((poll) => {
      if (poll === 3) controller.abort();
    });
    await expect(
      runAwsSweep(settings({ memories: [1024], signal: controller.signal })),
    ).rejects.toBeInstanceOf(SweepAbortedError);
    expect([state.memory, state.timeout]).toEqual([ORIGINAL.MemorySize, ORIGINAL.Timeout]);
  });

  it('asks again after a poll of the update status answered an error, as the SDK waiters do', async () => {
    // The sweep's own wait stopped at the error, and the sweep with it.
    let polls = 0;
    const state = slowFunction((poll) => {
      polls = poll;
      if (poll === 3) throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
    });
    await runAwsSweep(settings({ memories: [1024] }));
    expect(polls).toBeGreaterThan(4); // the error, then the update still in progress, then done
    expect([state.memory, state.timeout]).toEqual([ORIGINAL.MemorySize, ORIGINAL.Timeout]);
  });

  it('reports a failed restore instead of hiding it', async () => {
    fakeFunction();
    lambdaMock
      .on(UpdateFunctionConfigurationCommand, { MemorySize: ORIGINAL.MemorySize })
      .rejects(new Error('AccessDeniedException'));
    const result = await runAwsSweep(settings());
    expect(result.cleanupProblems).toEqual([
      expect.stringMatching(
        /Could not restore imgpipe-dev to MemorySize 3008 and Timeout 60: AccessDeniedException/,
      ),
    ]);
  });

  it('records an out-of-memory invocation as a failure that marks the size out of memory', async () => {
    fakeFunction((memory) =>
      memory === 1024
        ? {
            log: report(1024, 1811.12, { usedMb: 1024, error: 'Runtime.OutOfMemory' }),
            functionError: 'Unhandled',
            payload:
              '{"errorType":"Runtime.OutOfMemory","errorMessage":"RequestId: x Error: Runtime exited with error: signal: killed"}',
          }
        : { log: report(memory, 1500, { initMs: 600 }) },
    );
    const result = await runAwsSweep(settings());
    const [small, large] = result.rows;
    expect(small!.failures).toEqual([
      { image: 's3://uploads/photos/a.jpg', message: expect.stringMatching(/at 1024 MB ran out of memory/) },
    ]);
    const stats = summariseRow(small!, {
      headroom: 0.15,
      prices: pricesWith({ x86_64: 1, arm64: 1, requestPerMillion: 0 }),
      coldStartRate: 0,
      maxForeignCpu: 1,
    });
    expect(stats?.outOfMemory).toBe(true);
    // The failed invocation's own duration, not 0 ms: the row's figures and cost were free and instant.
    expect(small!.images[0]!.first.wallMs).toBe(1811.12);
    expect(stats?.maxMs).toBe(1811.12);
    expect(stats?.costPer1000.arm64).toBeGreaterThan(0);
    expect(large!.failures).toEqual([]);
  });

  it('stops, restoring the function, when an invocation is throttled past the SDK retries', async () => {
    // The mocked client answers once, as the real one does after its own retries. A throttle
    // failed the input at that size, which the choice then left out, and the tuning file was
    // written from the other sizes.
    const fn = fakeFunction();
    const throttled = new LambdaServiceException({
      name: 'TooManyRequestsException',
      $fault: 'client',
      $metadata: { httpStatusCode: 429 },
      message: 'Rate Exceeded.',
    });
    let invocations = 0;
    lambdaMock.on(InvokeCommand).callsFake(() => {
      invocations += 1;
      if (invocations === 4) throw throttled;
      return {
        StatusCode: 200,
        LogResult: tail(report(1024, 1500, invocations === 1 ? { initMs: 500 } : {})),
        Payload: new TextEncoder().encode('null'),
      };
    });
    await expect(runAwsSweep(settings())).rejects.toThrow(
      /^Lambda throttled the invocation of s3:\/\/uploads\/photos\/a\.jpg at 2048 MB, also when the SDK retried it \(Rate Exceeded\.\): .* instead of leaving 2048 MB out of the choice/,
    );
    expect([fn.memory(), fn.timeout()]).toEqual([3008, 60]);
    expect(lambdaMock.commandCalls(DeleteFunctionCommand).map((c) => c.args[0].input.Qualifier)).toEqual([
      '8',
      '9',
    ]);
  });

  it('notices that the handler skipped the object as a duplicate', async () => {
    fakeFunction((memory, call) => ({
      log: `${call > 1 ? '{"level":"INFO","message":"Object duplicate","outcome":"duplicate"}\n' : ''}${report(memory, call > 1 ? 40 : 1500)}`,
    }));
    const result = await runAwsSweep(settings({ memories: [1024] }));
    expect(result.rows[0]!.failures[0]!.message).toMatch(/as a duplicate .* --delete-manifest/);
  });

  it('fails a size where the function quarantined the input instead of processing it', async () => {
    // What the S3 handler returns: one result per record. At 1024 MB the image is over the memory
    // budget and quarantined, a short, successful invocation that processed nothing.
    const response = (memory: number): { records: RecordResult[] } => ({
      records: [
        memory < 2048
          ? { bucket: 'uploads', key: 'photos/a.jpg', status: 'quarantined', reason: 'over-memory-budget' }
          : { bucket: 'uploads', key: 'photos/a.jpg', status: 'processed' },
      ],
    });
    fakeFunction((memory) => ({
      log: report(memory, memory < 2048 ? 30 : 1500),
      payload: JSON.stringify(response(memory)),
    }));
    const result = await runAwsSweep(settings({ memories: [1024, 2048] }));
    const [small, large] = result.rows;
    expect(small!.failures).toEqual([
      {
        image: 's3://uploads/photos/a.jpg',
        message:
          'The function did not process s3://uploads/photos/a.jpg at 1024 MB: quarantined (over-memory-budget)',
      },
    ]);
    expect(large!.failures).toEqual([]);
    expect(large!.images[0]!.first.wallMs).toBe(1500);
  });

  it('deletes the manifest before every invocation when asked', async () => {
    fakeFunction();
    s3Mock.on(DeleteObjectCommand).resolves({});
    const result = await runAwsSweep(
      settings({
        memories: [1024],
        runs: 1,
        deleteManifest: true,
        s3: new S3Client({ region: 'eu-west-1' }),
      }),
    );
    expect(result.rows[0]!.failures).toEqual([]);
    expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'imgpipe-output', Key: 'manifests/photos/a.jpg.json' },
      { Bucket: 'imgpipe-output', Key: 'manifests/photos/a.jpg.json' },
    ]);
  });

  it('fails a size whose log tail has no REPORT line', async () => {
    fakeFunction(() => ({ log: 'no report here\n' }));
    const result = await runAwsSweep(settings({ memories: [1024] }));
    expect(result.rows[0]!.failures[0]!.message).toMatch(/No REPORT line/);
  });
});

describe('manifestLocations', () => {
  const parameter = { ...ENVIRONMENT, IMGPIPE_CONFIG_PARAMETER: '/imgpipe/dev/pipeline' };

  it('refuses to guess the manifest keys of a document in Parameter Store, naming the parameter', () => {
    // The parameter's document may set manifestTemplate: the default template's key was deleted, a
    // key that does not exist, and the function skipped every later invocation as a duplicate.
    expect(() => manifestLocations([input], parameter)).toThrow(
      /parameter \/imgpipe\/dev\/pipeline \(IMGPIPE_CONFIG_PARAMETER\).*set IMGPIPE_MANIFEST_TEMPLATE/,
    );
  });

  it('takes the template from IMGPIPE_MANIFEST_TEMPLATE beside such a parameter', () => {
    const locations = manifestLocations([input], {
      ...parameter,
      IMGPIPE_MANIFEST_TEMPLATE: 'meta/{key}.json',
    });
    expect(locations.get(input)).toEqual({ bucket: 'imgpipe-output', key: 'meta/photos/a.jpg.json' });
  });
});

describe('probeObject (mocked S3)', () => {
  it('reads the pixel count with the header probe the function uses', async () => {
    const bytes = readFileSync(new URL('../../../../fixtures/bench/seeding-5312x2988.jpg', import.meta.url));
    s3Mock.on(GetObjectCommand).resolves({
      Body: { transformToByteArray: async () => new Uint8Array(bytes) } as never,
    });
    const size = await probeObject(new S3Client({ region: 'eu-west-1' }), {
      bucket: 'uploads',
      key: 'big.jpg',
    });
    expect(size).toEqual({ width: 5312, height: 2988 });
    expect(s3Mock.commandCalls(GetObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: 'uploads',
      Key: 'big.jpg',
    });
  });
});
