/**
 * Lambda's REPORT line, written at the end of every invocation to the function's log (and to the
 * last 4 KB that Invoke returns with LogType "Tail"):
 *
 *   REPORT RequestId: 3f5c...	Duration: 1234.56 ms	Billed Duration: 1500 ms	Memory Size: 1024 MB	Max Memory Used: 612 MB	Init Duration: 456.78 ms
 *
 * Fields are tab-separated; `Init Duration` only appears on a cold start, `Status` and `Error Type`
 * (e.g. `Runtime.OutOfMemory`) when the invocation failed. Some log viewers turn tabs into spaces,
 * so the field names, not the tabs, delimit the values.
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

export function parseReportLines(log: string): ReportLine[] {
  const reports: ReportLine[] = [];
  for (const line of log.split(/\r?\n/)) {
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
