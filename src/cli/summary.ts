import { join, resolve } from 'node:path';
import { styleText } from 'node:util';
import { describeError, type InvalidReason } from '../core/errors.ts';
import type { OutputFormat } from '../core/formats.ts';
import { DEFAULT_QUARANTINE_PREFIX } from '../core/layout.ts';
import type { ImageHeader } from '../image/probe.ts';
import type { Outcome } from '../pipeline/process-object.ts';
import { type Column, formatBytes, formatMs, printable, renderTable } from './table.ts';

/**
 * What `imgpipe process` reports: the summary table for a person (fitted to the terminal, rows
 * coloured by outcome where the terminal takes colour), one JSON document for a script (--json),
 * and the plan of a dry run. Rows and totals use the same words.
 */
export interface FileResult {
  readonly display: string;
  readonly key: string;
  readonly outcome?: Outcome;
  readonly error?: unknown;
  /** A quarantined image's size, when its header was read before it was refused. */
  readonly width?: number;
  readonly height?: number;
  readonly ms: number;
  /** A folder that cannot be read (a failed row): counted as a folder, not a file. */
  readonly folder?: true;
}

export interface PlannedOutput {
  readonly variant: string;
  readonly format: OutputFormat;
  readonly key: string;
  readonly width: number;
  readonly height: number;
  readonly bytes?: number;
}

/** A dry run's verdict on one input. */
export interface PlannedFile {
  readonly display: string;
  readonly key: string;
  readonly status: 'planned' | 'duplicate' | 'quarantined' | 'failed';
  readonly header?: ImageHeader;
  readonly reason?: InvalidReason;
  /** Quarantined by an earlier run (this content, for this reason): already done, as the run counts it. */
  readonly repeated?: true;
  readonly message?: string;
  readonly width?: number;
  readonly height?: number;
  readonly bytesIn?: number;
  readonly outputs?: readonly PlannedOutput[];
  /** A folder that cannot be read (a failed row): counted as a folder, not a file. */
  readonly folder?: true;
}

export interface Terminal {
  readonly stream: NodeJS.WritableStream;
  /** Its width, when it is a terminal. */
  readonly columns?: number;
}

/** What the user reads for an outcome: the same word in rows and totals. */
const WORDS = {
  processed: 'processed',
  duplicate: 'already done',
  quarantined: 'quarantined',
  missing: 'missing',
};

export function statusOf(result: FileResult): string {
  if (result.error !== undefined) return `failed: ${describeError(result.error)}`;
  const outcome = result.outcome!;
  if (outcome.status !== 'quarantined') return WORDS[outcome.status];
  return `${outcome.repeated ? 'already quarantined' : 'quarantined'} (${outcome.reason})`;
}

function shortStatus(result: FileResult): string {
  return result.error !== undefined ? 'failed' : statusOf(result);
}

function sizeOf(result: FileResult): string {
  const { outcome } = result;
  if (outcome && 'width' in outcome) return `${outcome.width}x${outcome.height}`;
  return result.width !== undefined ? `${result.width}x${result.height}` : '';
}

export function renderSummary(results: readonly FileResult[], out: string, terminal: Terminal): string {
  const columns: Column<FileResult>[] = [
    { header: 'file', value: (r) => r.display },
    { header: 'outcome', value: shortStatus },
    { header: 'size', value: sizeOf },
    {
      header: 'outputs',
      value: (r) => (r.outcome && 'outputs' in r.outcome ? r.outcome.outputs.length : ''),
      align: 'right',
      drop: 3,
    },
    {
      header: 'bytes in',
      value: (r) => (r.outcome?.bytesIn ? formatBytes(r.outcome.bytesIn) : ''),
      align: 'right',
      drop: 1,
    },
    {
      header: 'bytes out',
      value: (r) => (r.outcome?.bytesOut ? formatBytes(r.outcome.bytesOut) : ''),
      align: 'right',
      drop: 2,
    },
    // On a narrow terminal the least telling columns go first.
    { header: 'time', value: (r) => formatMs(r.ms), align: 'right', drop: 0 },
    {
      header: 'detail',
      value: (r) =>
        r.error !== undefined
          ? describeError(r.error)
          : r.outcome && r.outcome.status !== 'processed' && 'message' in r.outcome
            ? r.outcome.message
            : '',
      shrink: true,
    },
  ];
  const colour = (result: FileResult, line: string) => {
    const style =
      result.error !== undefined ? 'red' : result.outcome?.status === 'quarantined' ? 'yellow' : undefined;
    // styleText leaves the text plain when the stream is no terminal or NO_COLOR is set.
    return style ? styleText(style, line, { stream: terminal.stream as NodeJS.WriteStream }) : line;
  };
  const totals = countTotals(results);
  const lines = [
    `${counted(totals)}: ${totals.processed} processed, ${totals.duplicate} already done, ${totals.quarantined} quarantined, ${totals.failed} failed${totals.missing ? `, ${totals.missing} missing` : ''}`,
    `outputs in ${resolve(out)}${results.some((r) => r.outcome?.status === 'quarantined') ? `, quarantined inputs in ${join(resolve(out), DEFAULT_QUARANTINE_PREFIX)}` : ''}`,
  ];
  const table = renderTable(columns, results, 'text', {
    ...(terminal.columns ? { maxWidth: terminal.columns } : {}),
    rowStyle: colour,
  });
  return `${table}\n\n${lines.join('\n')}`;
}

/** "3 file(s)", or "2 file(s) and 1 folder(s) that could not be read". */
function counted({ files, folders }: { files: number; folders: number }): string {
  return `${files} file(s)${folders ? ` and ${folders} folder(s) that could not be read` : ''}`;
}

/**
 * An input quarantined by an earlier run counts as already done, as in the function's metrics. A
 * folder that cannot be read is a failed row but no file.
 */
function countTotals(results: readonly FileResult[]) {
  const count = (status: string, repeated = false) =>
    results.filter(
      (r) =>
        r.error === undefined &&
        r.outcome!.status === status &&
        (r.outcome!.status !== 'quarantined' || r.outcome!.repeated === repeated),
    ).length;
  const folders = results.filter((r) => r.folder).length;
  return {
    files: results.length - folders,
    folders,
    processed: count('processed'),
    duplicate: count('duplicate') + count('quarantined', true),
    quarantined: count('quarantined'),
    missing: count('missing'),
    failed: results.filter((r) => r.error !== undefined).length,
    bytesIn: results.reduce((sum, r) => sum + (r.outcome?.bytesIn ?? 0), 0),
    bytesOut: results.reduce((sum, r) => sum + (r.outcome?.bytesOut ?? 0), 0),
  };
}

/**
 * The one JSON document of --json: per input its outcome (the function's outcome names:
 * processed, duplicate, quarantined, missing, failed; for a dry run planned, duplicate,
 * quarantined; `repeated` on an input quarantined by an earlier run, which the totals count as a
 * duplicate), the reason and message, the size, every output with its key, path, size and bytes;
 * then the totals.
 */
export function jsonSummary(items: readonly (FileResult | PlannedFile)[], out: string, dryRun: boolean) {
  const root = resolve(out);
  const withPath = (o: PlannedOutput) => ({ ...o, path: join(root, ...o.key.split('/')) });
  const inputs = items.map((item) => {
    if ('status' in item) {
      return {
        path: item.display,
        key: item.key,
        outcome: item.status,
        ...(item.reason
          ? { reason: item.reason, ...(item.repeated && { repeated: true }), message: item.message }
          : {}),
        ...(item.status === 'failed' ? { error: item.message } : {}),
        ...(item.header
          ? { format: item.header.format, width: item.header.displayWidth, height: item.header.displayHeight }
          : item.width !== undefined
            ? { width: item.width, height: item.height }
            : {}),
        bytesIn: item.bytesIn ?? 0,
        outputs: (item.outputs ?? []).map(withPath),
      };
    }
    const { outcome } = item;
    if (item.error !== undefined || !outcome) {
      // The same fields as every other row: a script summing bytes or counting outputs reads them all.
      return {
        path: item.display,
        key: item.key,
        outcome: 'failed',
        error: describeError(item.error),
        bytesIn: 0,
        bytesOut: 0,
        outputs: [],
        ms: Math.round(item.ms),
      };
    }
    return {
      path: item.display,
      key: item.key,
      outcome: outcome.status,
      ...(outcome.status === 'quarantined'
        ? { reason: outcome.reason, ...(outcome.repeated && { repeated: true }) }
        : {}),
      ...('message' in outcome ? { message: outcome.message } : {}),
      ...('format' in outcome ? { format: outcome.format } : {}),
      ...('width' in outcome
        ? { width: outcome.width, height: outcome.height }
        : item.width !== undefined
          ? { width: item.width, height: item.height }
          : {}),
      bytesIn: outcome.bytesIn,
      bytesOut: outcome.bytesOut,
      outputs: 'outputs' in outcome ? outcome.outputs.map(withPath) : [],
      ms: Math.round(item.ms),
    };
  });
  const results = items.filter((item): item is FileResult => !('status' in item));
  const count = (outcome: string) => inputs.filter((i) => i.outcome === outcome).length;
  const folders = items.filter((item) => item.folder).length;
  const repeated = items.filter((item) => 'status' in item && item.repeated).length;
  const totals = dryRun
    ? {
        files: inputs.length - folders,
        folders,
        planned: count('planned'),
        duplicate: count('duplicate') + repeated,
        quarantined: count('quarantined') - repeated,
        failed: count('failed'),
      }
    : { ...countTotals(results), ms: Math.round(results.reduce((sum, r) => sum + r.ms, 0)) };
  return { out: root, dryRun, inputs, totals };
}

/** A run (or dry run) whose folders hold nothing to process: a success of 0 files, saying where it looked. */
export function renderNothingFound(folders: readonly string[], dryRun: boolean): string {
  return printable(
    `0 file(s): nothing found in ${folders.join(', ')}${dryRun ? ' (dry run: nothing was written)' : ''}`,
  );
}

/** The plan of a dry run, for a person. */
export function renderPlan(plans: readonly PlannedFile[]): string {
  const lines: string[] = [];
  for (const plan of plans) {
    if (plan.status === 'quarantined') {
      lines.push(
        plan.repeated
          ? `${plan.display}: already quarantined (${plan.reason}): ${plan.message}`
          : `${plan.display}: would be quarantined (${plan.reason}): ${plan.message}`,
      );
      continue;
    }
    if (plan.status === 'failed') {
      lines.push(`${plan.display}: would fail: ${plan.message}`);
      continue;
    }
    const outputs = plan.outputs ?? [];
    if (plan.status === 'duplicate') {
      lines.push(`${plan.display}: already done (its manifest is current), ${outputs.length} outputs`);
      continue;
    }
    const h = plan.header!;
    const stored =
      h.displayWidth !== h.width || h.orientation !== 1
        ? ` (stored ${h.width}x${h.height}, orientation ${h.orientation})`
        : '';
    lines.push(
      `${plan.display}: ${h.format} ${h.displayWidth}x${h.displayHeight}${stored} -> ${outputs.length} outputs`,
    );
    const variants = [...new Set(outputs.map((o) => o.variant))];
    const rows = variants.map((variant) => {
      const own = outputs.filter((o) => o.variant === variant);
      return [variant, `${own[0]!.width}x${own[0]!.height}`, own.map((o) => o.key).join(', ')];
    });
    const widths = [0, 1].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows)
      lines.push(`  ${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}`);
  }
  const count = (status: PlannedFile['status']) => plans.filter((p) => p.status === status).length;
  const folders = plans.filter((p) => p.folder).length;
  // Quarantined by an earlier run: already done, as the run counts it.
  const repeated = plans.filter((p) => p.repeated).length;
  lines.push(
    '',
    `${counted({ files: plans.length - folders, folders })}: ${count('planned')} to process, ${count('duplicate') + repeated} already done, ${count('quarantined') - repeated} to quarantine${count('failed') ? `, ${count('failed')} failed` : ''} (dry run: nothing was written)`,
  );
  return `${lines.map(printable).join('\n')}\n`;
}
