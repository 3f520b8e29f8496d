/**
 * Lambda's REPORT line, written at the end of every invocation to the function's log (and to the
 * last 4 KB that Invoke returns with LogType "Tail"):
 *
 *   REPORT RequestId: 3f5c...	Duration: 1234.56 ms	Billed Duration: 1500 ms	Memory Size: 1024 MB	Max Memory Used: 612 MB	Init Duration: 456.78 ms
 *
 * Fields are tab-separated; `Init Duration` only appears on a cold start, `Status` and `Error Type`
 * (e.g. `Runtime.OutOfMemory`) when the invocation failed. Some log viewers turn tabs into spaces,
 * so the field names, not the tabs, delimit the values.
 *
 * A function logging in Lambda's JSON format (ours: terraform/modules/imgpipe/lambda.tf) writes the
 * same report as a `platform.report` record, one JSON object a line, in the Telemetry API's shape:
 *
 *   {"time":"…","type":"platform.report","record":{"requestId":"…","metrics":{"durationMs":2875.31,
 *    "billedDurationMs":3402,"memorySizeMB":1769,"maxMemoryUsedMB":486,"initDurationMs":526.08},
 *    "tracing":{…},"status":"success"}}
 *
 * `initDurationMs` only on a cold start; `status` is `success`, `error`, `failure` or `timeout`, with
 * `errorType` when it failed. Lambda logs it at INFO, so the function's system log level must be
 * INFO or lower for it to appear. Both shapes are read; other lines are skipped.
 */
export interface ReportLine {
  readonly requestId: string;
  readonly durationMs: number;
  readonly billedMs: number;
  readonly memorySizeMb: number;
  readonly maxMemoryUsedMb: number;
  readonly initMs?: number;
  readonly status?: string;
  readonly errorType?: string;
}

const FIELDS = [
  'RequestId',
  'Duration',
  'Billed Duration',
  'Memory Size',
  'Max Memory Used',
  'Init Duration',
  'Restore Duration',
  'Billed Restore Duration',
  'Status',
  'Error Type',
];
const FIELD = new RegExp(`(?:^|\\s)(${FIELDS.join('|')}): `, 'g');

/** A JSON `platform.report` record as a ReportLine; undefined for any other line. */
function parseJsonReport(line: string): ReportLine | undefined {
  if (!line.startsWith('{') || !line.includes('"platform.report"')) return undefined;
  let parsed: { type?: unknown; record?: Record<string, unknown> };
  try {
    parsed = JSON.parse(line);
  } catch {
    // The first line of a 4 KB tail may be cut; a whole record is never skipped this way.
    return undefined;
  }
  if (parsed.type !== 'platform.report') return undefined;
  const record = parsed.record ?? {};
  const metrics = (record.metrics ?? {}) as Record<string, unknown>;
  const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  const requestId = typeof record.requestId === 'string' ? record.requestId : undefined;
  const durationMs = num(metrics.durationMs);
  const billedMs = num(metrics.billedDurationMs);
  const memorySizeMb = num(metrics.memorySizeMB);
  const maxMemoryUsedMb = num(metrics.maxMemoryUsedMB);
  if (
    requestId === undefined ||
    durationMs === undefined ||
    billedMs === undefined ||
    memorySizeMb === undefined ||
    maxMemoryUsedMb === undefined
  ) {
    throw new Error(`Cannot read this platform.report record: ${line}`);
  }
  const initMs = num(metrics.initDurationMs);
  // The text line carries Status only when the invocation did not succeed; so does this.
  const status = typeof record.status === 'string' && record.status !== 'success' ? record.status : undefined;
  const errorType = typeof record.errorType === 'string' ? record.errorType : undefined;
  return {
    requestId,
    durationMs,
    billedMs,
    memorySizeMb,
    maxMemoryUsedMb,
    ...(initMs !== undefined ? { initMs } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(errorType !== undefined ? { errorType } : {}),
  };
}

export function parseReportLines(log: string): ReportLine[] {
  const reports: ReportLine[] = [];
  for (const line of log.split(/\r?\n/)) {
    const json = parseJsonReport(line.trim());
    if (json) {
      reports.push(json);
      continue;
    }
    if (!line.startsWith('REPORT ')) continue;
    const values = new Map<string, string>();
    const matches = [...line.slice('REPORT'.length).matchAll(FIELD)];
    for (const [i, match] of matches.entries()) {
      const start = match.index + match[0].length;
      const end = i + 1 < matches.length ? matches[i + 1]!.index : undefined;
      values.set(match[1]!, line.slice('REPORT'.length).slice(start, end).trim());
    }
    const number = (name: string, unit: string): number | undefined => {
      const text = values.get(name);
      if (text === undefined) return undefined;
      const found = new RegExp(`^([\\d.]+)\\s*${unit}$`).exec(text);
      return found ? Number(found[1]) : undefined;
    };
    const requestId = values.get('RequestId');
    const durationMs = number('Duration', 'ms');
    const billedMs = number('Billed Duration', 'ms');
    const memorySizeMb = number('Memory Size', 'MB');
    const maxMemoryUsedMb = number('Max Memory Used', 'MB');
    if (
      requestId === undefined ||
      durationMs === undefined ||
      billedMs === undefined ||
      memorySizeMb === undefined ||
      maxMemoryUsedMb === undefined
    ) {
      throw new Error(`Cannot read this REPORT line: ${line}`);
    }
    const initMs = number('Init Duration', 'ms');
    const status = values.get('Status');
    const errorType = values.get('Error Type');
    reports.push({
      requestId,
      durationMs,
      billedMs,
      memorySizeMb,
      maxMemoryUsedMb,
      ...(initMs !== undefined ? { initMs } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(errorType !== undefined ? { errorType } : {}),
    });
  }
  return reports;
}
