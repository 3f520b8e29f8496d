import { describe, expect, it } from 'vitest';
import { parseReportLines } from '../../../../bench/sweep/report-line.ts';

// Log tails in the shape Lambda writes them: tab-separated fields, Init Duration on cold starts only.
const COLD = [
  'START RequestId: 0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11 Version: 7',
  '{"level":"INFO","message":"Object processed","outcome":"processed","key":"photos/cat.jpg"}',
  'END RequestId: 0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11',
  'REPORT RequestId: 0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11\tDuration: 2875.31 ms\tBilled Duration: 3402 ms\tMemory Size: 1769 MB\tMax Memory Used: 486 MB\tInit Duration: 526.08 ms\t',
  '',
].join('\n');
const WARM_WITH_XRAY =
  'REPORT RequestId: 7c1f2b8d-1111-4e3a-8d55-3b2f4a6c9e01\tDuration: 1204.77 ms\tBilled Duration: 1205 ms\tMemory Size: 1769 MB\tMax Memory Used: 512 MB\t\nXRAY TraceId: 1-6746f1a2-3b5c0d1e2f3a4b5c6d7e8f90\tSegmentId: 1a2b3c4d5e6f7a8b\tSampled: true\n';
const OUT_OF_MEMORY =
  'REPORT RequestId: 9e8d7c6b-2222-4f00-a000-123456789abc\tDuration: 1811.12 ms\tBilled Duration: 1812 ms\tMemory Size: 512 MB\tMax Memory Used: 512 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n';

describe('parseReportLines', () => {
  it('reads a cold start with its Init Duration', () => {
    expect(parseReportLines(COLD)).toEqual([
      {
        requestId: '0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11',
        durationMs: 2875.31,
        billedMs: 3402,
        memorySizeMb: 1769,
        maxMemoryUsedMb: 486,
        initMs: 526.08,
      },
    ]);
  });

  it('reads a warm invocation (no Init Duration) and ignores the XRAY line after it', () => {
    const [report] = parseReportLines(WARM_WITH_XRAY);
    expect(report).toEqual({
      requestId: '7c1f2b8d-1111-4e3a-8d55-3b2f4a6c9e01',
      durationMs: 1204.77,
      billedMs: 1205,
      memorySizeMb: 1769,
      maxMemoryUsedMb: 512,
    });
  });

  it('reads Status and Error Type of a failed invocation', () => {
    expect(parseReportLines(OUT_OF_MEMORY)[0]).toMatchObject({
      status: 'error',
      errorType: 'Runtime.OutOfMemory',
      maxMemoryUsedMb: 512,
      memorySizeMb: 512,
    });
  });

  it('reads lines whose tabs became spaces', () => {
    const spaced = COLD.replaceAll('\t', '  ');
    expect(parseReportLines(spaced)[0]).toMatchObject({
      durationMs: 2875.31,
      billedMs: 3402,
      initMs: 526.08,
    });
  });

  it('returns every REPORT line of a tail, in order', () => {
    expect(parseReportLines(`${COLD}${WARM_WITH_XRAY}`).map((r) => r.durationMs)).toEqual([2875.31, 1204.77]);
  });

  it('rejects a REPORT line without the fields it must have', () => {
    expect(() => parseReportLines('REPORT RequestId: abc\tDuration: 12 ms\n')).toThrow(
      /Cannot read this REPORT line/,
    );
  });

  // The function logs in Lambda's JSON format (terraform/modules/imgpipe/lambda.tf, log_format
  // "JSON"): START and REPORT become platform.start and platform.report records, in the shape of the
  // Telemetry API's platform.report schema (AWS Lambda docs, "Lambda Telemetry API Event schema
  // reference"): time, type, record { requestId, metrics { durationMs, billedDurationMs,
  // memorySizeMB, maxMemoryUsedMB, initDurationMs? }, tracing?, status, errorType? }.
  const JSON_COLD = [
    '{"time":"2026-11-30T18:20:11.402Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs:24.v12","runtimeVersionArn":"arn:aws:lambda:eu-west-1::runtime:0123456789abcdef","functionName":"imgpipe-dev","functionVersion":"7","instanceId":"2024/11/30/[7]abc","instanceMaxMemory":1769}}',
    '{"time":"2026-11-30T18:20:11.930Z","type":"platform.start","record":{"requestId":"0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11","version":"7"}}',
    '{"timestamp":"2026-11-30T18:20:14.700Z","level":"INFO","requestId":"0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11","message":"Object processed","outcome":"processed"}',
    '{"time":"2026-11-30T18:20:14.805Z","type":"platform.runtimeDone","record":{"requestId":"0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11","status":"success","metrics":{"durationMs":2875.31,"producedBytes":54}}}',
    '{"time":"2026-11-30T18:20:14.806Z","type":"platform.report","record":{"requestId":"0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11","metrics":{"durationMs":2875.31,"billedDurationMs":3402,"memorySizeMB":1769,"maxMemoryUsedMB":486,"initDurationMs":526.08},"tracing":{"spanId":"1a2b3c4d5e6f7a8b","type":"X-Amzn-Trace-Id","value":"Root=1-6746f1a2-3b5c0d1e2f3a4b5c6d7e8f90;Parent=1a2b3c4d5e6f7a8b;Sampled=1"},"status":"success"}}',
    '',
  ].join('\n');
  const JSON_OUT_OF_MEMORY =
    '{"time":"2026-11-30T18:22:40.118Z","type":"platform.report","record":{"requestId":"9e8d7c6b-2222-4f00-a000-123456789abc","metrics":{"durationMs":1811.12,"billedDurationMs":1812,"memorySizeMB":512,"maxMemoryUsedMB":512},"status":"error","errorType":"Runtime.OutOfMemory"}}\n';

  it('reads a JSON platform.report record (cold start), skipping the other platform records', () => {
    expect(parseReportLines(JSON_COLD)).toEqual([
      {
        requestId: '0d2d1a8e-4b8e-4c1f-9b0f-2f5e0c1b9a11',
        durationMs: 2875.31,
        billedMs: 3402,
        memorySizeMb: 1769,
        maxMemoryUsedMb: 486,
        initMs: 526.08,
      },
    ]);
  });

  it('reads the status and error type of a failed JSON report, like the text one', () => {
    expect(parseReportLines(JSON_OUT_OF_MEMORY)).toEqual(
      parseReportLines(OUT_OF_MEMORY).map((r) => ({ ...r, requestId: r.requestId })),
    );
    expect(parseReportLines(JSON_OUT_OF_MEMORY)[0]).toMatchObject({
      status: 'error',
      errorType: 'Runtime.OutOfMemory',
      maxMemoryUsedMb: 512,
    });
  });

  it('ignores a JSON line cut at the start of the 4 KB tail, and refuses a report without its metrics', () => {
    expect(
      parseReportLines(`0.806Z","type":"platform.report","record":{}}\n${JSON_OUT_OF_MEMORY}`),
    ).toHaveLength(1);
    expect(() =>
      parseReportLines(
        '{"time":"x","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":3}}}',
      ),
    ).toThrow(/Cannot read this platform\.report record: .*"requestId":"r1"/);
  });
});
