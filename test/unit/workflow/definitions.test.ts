import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { placeholders, REPROCESS_VALUES, renderDefinition, UPLOAD_VALUES } from '../../support/asl.ts';

describe('the state machine definitions', () => {
  it('use exactly the template values Terraform gives them', () => {
    expect(placeholders('upload')).toEqual(Object.keys(UPLOAD_VALUES).sort());
    expect(placeholders('reprocess')).toEqual(Object.keys(REPROCESS_VALUES).sort());
  });

  for (const [name, values] of [
    ['upload', UPLOAD_VALUES],
    ['reprocess', REPROCESS_VALUES],
  ] as const) {
    it(`are valid States Language once rendered: ${name}`, () => {
      const { isValid, errorsText } = aslValidator(renderDefinition(name, values));
      expect(isValid, errorsText('\n')).toBe(true);
    });
  }
});

type State = Record<string, unknown> & { Type: string };
const statesOf = (definition: Record<string, unknown>): Record<string, State> => {
  const found: Record<string, State> = {};
  const walk = (states: Record<string, State>) => {
    for (const [name, state] of Object.entries(states)) {
      found[name] = state;
      const processor = state.ItemProcessor as { States?: Record<string, State> } | undefined;
      if (processor?.States) walk(processor.States);
    }
  };
  walk(definition.States as Record<string, State>);
  return found;
};
const tasks = (definition: Record<string, unknown>) =>
  Object.entries(statesOf(definition)).filter(([, state]) => state.Type === 'Task');

describe('the validator', () => {
  it('refuses a definition that names a missing state or misspells a field', () => {
    const upload = renderDefinition('upload', UPLOAD_VALUES) as {
      States: Record<string, Record<string, unknown>>;
    };
    upload.States.Scanned!.Default = 'Moderation';
    expect(aslValidator(upload).isValid).toBe(false);
    const reprocess = renderDefinition('reprocess', REPROCESS_VALUES) as {
      States: Record<string, Record<string, unknown>>;
    };
    reprocess.States.ByPrefix!.MaxConcurency = 5;
    expect(aslValidator(reprocess).isValid).toBe(false);
  });
});

describe('retries and failures', () => {
  const upload = renderDefinition('upload', UPLOAD_VALUES);
  const reprocess = renderDefinition('reprocess', REPROCESS_VALUES);

  it('retry every task on transient errors only, with exponential backoff and full jitter', () => {
    for (const [name, state] of [...tasks(upload), ...tasks(reprocess)]) {
      const retry = state.Retry as Record<string, unknown>[];
      expect(retry, name).toHaveLength(1);
      // Starting an execution of the per-upload workflow: its API's throttling alone, which refuses
      // the call before any start (a synchronous Express start is not idempotent: a retry after
      // another error may run the object twice); every other task is a Lambda function's.
      const sdk = String(state.Resource).startsWith('arn:aws:states:::aws-sdk:sfn:');
      if (sdk)
        expect(state.Catch, name).toEqual([
          expect.objectContaining({ ErrorEquals: ['States.ALL'], ResultPath: '$.error' }),
        ]);
      expect(retry[0], name).toMatchObject({
        ErrorEquals: sdk
          ? ['Sfn.ThrottlingException']
          : [
              'Imgpipe.Transient',
              // Lambda's transient service errors, as Step Functions' "Handle Lambda service
              // exceptions" lists them (500s of the invoke), and its throttling.
              'Lambda.ClientExecutionTimeoutException',
              'Lambda.ServiceException',
              'Lambda.AWSLambdaException',
              'Lambda.SdkClientException',
              'Lambda.TooManyRequestsException',
            ],
        BackoffRate: 2,
        JitterStrategy: 'FULL',
        MaxAttempts: 3,
      });
      expect(retry[0]!.IntervalSeconds as number, name).toBeGreaterThanOrEqual(1);
      expect(retry[0]!.MaxDelaySeconds as number, name).toBeGreaterThan(retry[0]!.IntervalSeconds as number);
      // A permanent failure (and a rejection, which is no error at all) is never retried.
      expect(JSON.stringify(retry), name).not.toMatch(/Imgpipe\.Failed|States\.ALL|States\.TaskFailed/);
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    }
  });

  it('catch every error of the per-upload tasks into RecordFailure, which fails the execution (unless found stale)', () => {
    const states = statesOf(upload);
    for (const [name, state] of tasks(upload)) {
      if (name === 'RecordFailure') {
        expect(state.Catch, name).toBeUndefined();
        expect(state.Next).toBe('Recorded');
        expect(states.Recorded).toMatchObject({
          Type: 'Choice',
          Choices: [{ Variable: '$.result.status', StringEquals: 'failed', Next: 'Failed' }],
          Default: 'Done',
        });
        continue;
      }
      expect(state.Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' },
      ]);
    }
    expect(states.Failed).toMatchObject({ Type: 'Fail', Error: 'Imgpipe.Failed' });
    // Express workflows end within five minutes.
    expect(upload.TimeoutSeconds as number).toBeLessThan(300);
  });

  it('route every rejection to the one Quarantine state', () => {
    const states = statesOf(upload);
    const routes = (name: string) =>
      (states[name]!.Choices as { Variable: string; StringEquals: string; Next: string }[]).map(
        (c) => `${c.Variable}=${c.StringEquals}->${c.Next}`,
      );
    expect(routes('Inspected')).toContain('$.inspection.verdict.status=rejected->InspectionRejected');
    expect(states.InspectionRejected!.Next).toBe('Quarantine');
    expect(routes('Scanned')[0]).toBe('$.verdict.status=rejected->Quarantine');
    // An object Scan or Moderate found gone goes through Gone to Process, which records it as
    // missing without reading the key (what it holds by then was not checked).
    const gone = {
      And: [
        { Variable: '$.verdict.missing', IsPresent: true },
        { Variable: '$.verdict.missing', BooleanEquals: true },
      ],
      Next: 'Gone',
    };
    expect((states.Scanned!.Choices as unknown[])[1]).toEqual(gone);
    expect(routes('Moderated')[0]).toBe('$.verdict.status=rejected->Quarantine');
    expect((states.Moderated!.Choices as unknown[]).slice(1)).toEqual([gone]);
    expect(states.Gone).toMatchObject({
      Result: true,
      ResultPath: '$.inspection.object.gone',
      Next: 'Process',
    });
    expect(states.Quarantine!.Parameters).toEqual({
      'object.$': '$.inspection.object',
      'rejection.$': '$.verdict.rejection',
      'force.$': '$.inspection.force',
      execution: { 'started.$': '$$.Execution.StartTime', timeoutSeconds: 290 },
    });
  });

  it("give every task but RecordFailure the execution's start and timeout, so none starts that could outlast it", () => {
    const definition = renderDefinition('upload', UPLOAD_VALUES);
    const tasks = Object.entries(statesOf(definition)).filter(([, state]) => state.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(
      ['Inspect', 'Moderate', 'Process', 'Quarantine', 'RecordFailure', 'Scan'].sort(),
    );
    for (const [name, state] of tasks) {
      const execution = (state.Parameters as { execution?: unknown } | undefined)?.execution;
      if (name === 'RecordFailure') expect(execution, name).toBeUndefined();
      else
        expect(execution, name).toEqual({
          'started.$': '$$.Execution.StartTime',
          timeoutSeconds: definition.TimeoutSeconds,
        });
    }
  });

  it('let Terraform switch each check off', () => {
    const off = renderDefinition('upload', { ...UPLOAD_VALUES, malware_scan: 'false', moderation: 'false' });
    expect((statesOf(off).Start!.Parameters as { checks: unknown }).checks).toEqual({
      malware: 'false',
      moderation: 'false',
    });
  });
});

describe('the bulk reprocessing map', () => {
  const states = statesOf(renderDefinition('reprocess', REPROCESS_VALUES));
  const { ByPrefix, ByKeys } = states as Record<string, State>;

  it('reads a prefix with the S3 listing item reader, in batches, on Express child executions', () => {
    expect(ByPrefix!.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:listObjectsV2',
      Parameters: { 'Bucket.$': '$.bucket', 'Prefix.$': '$.prefix' },
    });
    expect(ByPrefix!.ItemsPath).toBeUndefined();
    expect(ByKeys!.ItemsPath).toBe('$.keys');
    for (const map of [ByPrefix!, ByKeys!]) {
      expect(map.ItemProcessor).toMatchObject({
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
      });
      expect(map.ItemBatcher).toEqual({ MaxItemsPerBatchPath: '$.batchSize' });
      expect(map.MaxConcurrencyPath).toBe('$.concurrency');
      expect(map.ToleratedFailurePercentagePath).toBe('$.toleratedFailurePercentage');
      expect(map.ResultWriter).toEqual({
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: REPROCESS_VALUES.results_bucket, Prefix: 'reprocess/' },
      });
      expect(map.Next).toBe('Summarize');
      expect(map.ResultPath).toBe('$.results');
      // A map that fails (past the tolerated failures) is summarized all the same, then fails the run:
      // its error takes the results' place, where Summarize has always read it (the definition is
      // applied before the release moves the functions' alias: the previous Summarize runs it).
      expect(map.Catch).toEqual([
        {
          ErrorEquals: ['States.ALL'],
          Comment: expect.any(String),
          ResultPath: '$.results',
          Next: 'Summarize',
        },
      ]);
    }
    expect(states.Summarize!.Parameters).toEqual({
      'request.$': '$',
      'results.$': '$.results',
      resultsBucket: REPROCESS_VALUES.results_bucket,
      'execution.$': '$$.Execution.Name',
    });
    expect(states.Summarize!.Next).toBe('Summarized');
    expect(states.Summarized!.Choices).toEqual([
      {
        And: [
          { Variable: '$.mapFailure', IsPresent: true },
          { Variable: '$.cause', IsPresent: true },
        ],
        Next: 'MapFailed',
      },
      { Variable: '$.mapFailure', IsPresent: true, Next: 'MapFailedWithoutCause' },
    ]);
    // A failed execution has no output: the summary is its cause.
    expect(states.MapFailed).toEqual({
      Type: 'Fail',
      Comment: expect.any(String),
      Error: 'Imgpipe.Failed',
      CausePath: '$.cause',
    });
    // The previous release's Summarize returns no cause (the definition is applied before the release
    // moves the functions' alias): CausePath would fail its run with States.Runtime.
    expect(states.MapFailedWithoutCause).toEqual({
      Type: 'Fail',
      Comment: expect.any(String),
      Error: 'Imgpipe.Failed',
      Cause: expect.stringContaining('summary.json'),
    });
  });

  it('treats a listed object and a named key alike: the same items, batches and tasks', () => {
    const same = (map: State) => {
      const { ItemReader, ItemsPath, Comment, ItemProcessor, ItemSelector, ...rest } = map;
      return {
        rest,
        // The same states, named after their map.
        processor: JSON.parse(JSON.stringify(ItemProcessor).replace(/"(Listed|Keys)([A-Z]\w*)"/g, '"$2"')),
        selector: Object.keys(ItemSelector as object),
      };
    };
    expect(same(ByKeys!)).toEqual(same(ByPrefix!));
    expect(ByPrefix!.ItemSelector).toEqual({
      'bucket.$': '$.bucket',
      'key.$': '$$.Map.Item.Value.Key',
      'force.$': '$.force',
      // A retried batch does not make again what an earlier try made (reprocess.ts madeSince).
      'forcedAt.$': '$$.Execution.StartTime',
      'workflow.$': '$.workflow',
    });
    expect(ByKeys!.ItemSelector).toEqual({
      'bucket.$': '$.bucket',
      'key.$': '$$.Map.Item.Value',
      'force.$': '$.force',
      // A retried batch does not make again what an earlier try made (reprocess.ts madeSince).
      'forcedAt.$': '$$.Execution.StartTime',
      'workflow.$': '$.workflow',
    });
  });
});
