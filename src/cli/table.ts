/**
 * One table converter for every report: aligned text for the terminal and GitHub Markdown for
 * files, from the same columns and rows (the CLI summary, the benchmark tables and the sweep report
 * all go through it).
 */
export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string | number | undefined;
  readonly align?: 'left' | 'right';
}

export function renderTable<Row>(
  columns: readonly Column<Row>[],
  rows: readonly Row[],
  format: 'text' | 'markdown' = 'text',
): string {
  const cells = rows.map((row) => columns.map((column) => show(column.value(row))));
  if (format === 'markdown') {
    const escapeCell = (cell: string) => cell.replaceAll('|', '\\|');
    const line = (values: string[]) => `| ${values.map(escapeCell).join(' | ')} |`;
    const rule = `|${columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`;
    return [line(columns.map((c) => c.header)), rule, ...cells.map(line)].join('\n');
  }
  const widths = columns.map((column, i) =>
    Math.max(width(column.header), ...cells.map((row) => width(row[i]!))),
  );
  const pad = (cell: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - width(cell));
    return columns[i]!.align === 'right' ? fill + cell : cell + fill;
  };
  const line = (values: string[]) => values.map(pad).join('  ').trimEnd();
  return [
    line(columns.map((c) => c.header)),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
  ].join('\n');
}

function show(value: string | number | undefined): string {
  if (value === undefined) return '';
  return String(value);
}

/** Display width, ignoring ANSI colour codes. */
function width(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences is the point
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
