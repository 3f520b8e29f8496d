/**
 * One table converter for every report: aligned text for the terminal and GitHub Markdown for
 * files, from the same columns and rows (the CLI summary, the benchmark tables and the sweep report
 * all go through it).
 */
export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string | number | undefined;
  readonly align?: 'left' | 'right';
  /** In text, cut this column's cells (with …) when the table is wider than `maxWidth`. */
  readonly shrink?: boolean;
  /** In text, leave this column out when the table cannot fit `maxWidth` otherwise; lower goes first. */
  readonly drop?: number;
}

export interface TextOptions<Row> {
  /** The terminal's width: shrinkable columns are cut to fit it. */
  readonly maxWidth?: number;
  /** Styles a row's finished line (colour), after widths are measured. */
  readonly rowStyle?: (row: Row, line: string) => string;
}

/** A shrinkable column keeps at least this many characters. */
const MIN_SHRUNK = 12;

export function renderTable<Row>(
  allColumns: readonly Column<Row>[],
  rows: readonly Row[],
  format: 'text' | 'markdown' = 'text',
  options: TextOptions<Row> = {},
): string {
  const columns =
    format === 'text' && options.maxWidth !== undefined
      ? fitColumns(allColumns, rows, options.maxWidth)
      : allColumns;
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
  const total = () => widths.reduce((sum, w) => sum + w, 0) + 2 * (columns.length - 1);
  if (options.maxWidth !== undefined && total() > options.maxWidth) {
    columns.forEach((column, i) => {
      if (!column.shrink || total() <= options.maxWidth!) return;
      const room = widths[i]! - (total() - options.maxWidth!);
      widths[i] = Math.max(Math.min(widths[i]!, MIN_SHRUNK), room, width(column.header));
      for (const row of cells) row[i] = cut(row[i]!, widths[i]!);
    });
  }
  const pad = (cell: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - width(cell));
    return columns[i]!.align === 'right' ? fill + cell : cell + fill;
  };
  const line = (values: string[]) => values.map(pad).join('  ').trimEnd();
  const styled = (values: string[], index: number) =>
    options.rowStyle ? options.rowStyle(rows[index]!, line(values)) : line(values);
  return [
    line(columns.map((c) => c.header)),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(styled),
  ].join('\n');
}

/** Leaves out droppable columns, lowest priority first, until the rest can fit `maxWidth`. */
function fitColumns<Row>(
  columns: readonly Column<Row>[],
  rows: readonly Row[],
  maxWidth: number,
): Column<Row>[] {
  const natural = (column: Column<Row>) =>
    column.shrink
      ? Math.min(
          MIN_SHRUNK,
          Math.max(width(column.header), ...rows.map((row) => width(show(column.value(row))))),
        )
      : Math.max(width(column.header), ...rows.map((row) => width(show(column.value(row)))));
  let kept = [...columns];
  const needed = () => kept.reduce((sum, c) => sum + natural(c), 0) + 2 * (kept.length - 1);
  const droppable = () => kept.filter((c) => c.drop !== undefined).sort((a, b) => a.drop! - b.drop!);
  while (needed() > maxWidth && droppable().length > 0) {
    const [first] = droppable();
    kept = kept.filter((c) => c !== first);
  }
  return kept;
}

/** Cuts plain text to `max` columns, ending in … when cut. */
function cut(text: string, max: number): string {
  if (width(text) <= max) return text;
  let kept = '';
  let columns = 0;
  for (const char of text) {
    const w = charWidth(char);
    if (columns + w > max - 1) break;
    kept += char;
    columns += w;
  }
  return `${kept}…`;
}

function show(value: string | number | undefined): string {
  if (value === undefined) return '';
  return printable(String(value));
}

/**
 * Text from outside (a file's name, an object's key, a message quoting one) as it may be printed:
 * control characters (C0, DEL, C1) as \n, \t or \xHH. A key may hold any of them (S3 takes them,
 * and so do file names): printed raw, an escape sequence in one would drive the reader's terminal
 * (set its title, rewrite the lines above, hide the rest of the line) and a line break would split
 * a row in two.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/**
 * An error's stack (--verbose, DEBUG) as it may be printed: its first lines are the message, which
 * quotes file names and keys as the one-line error does, so they are escaped as one (a line break
 * in a key too); each frame after them is escaped on its own line.
 */
export function printableStack(error: unknown): string {
  const stack = error instanceof Error && error.stack ? error.stack : String(error);
  const lines = stack.split('\n');
  const frame = lines.findIndex((line) => /^\s+at /.test(line));
  if (frame === -1) return printable(stack);
  return [printable(lines.slice(0, frame).join('\n')), ...lines.slice(frame).map(printable)].join('\n');
}

/**
 * Display width in terminal columns, ignoring ANSI colour codes: a combining mark (the accent of an
 * é decomposed, as macOS names files), a zero-width joiner or a variation selector takes none, and
 * an East Asian wide or fullwidth character (写真.jpg) or an emoji shown as one (☕) takes two.
 * Counted as one each, such names pushed the rest of their row out of line, and past the width of
 * a terminal that the table was fitted to.
 */
function width(text: string): number {
  let columns = 0;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences is the point
  for (const char of text.replace(/\x1b\[[0-9;]*m/g, '')) columns += charWidth(char);
  return columns;
}

/** Takes no column of its own: combining marks, format characters (ZWJ, ZWSP), variation selectors. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;
/** East Asian Wide (W) and Fullwidth (F) blocks, and emoji presented as emoji: two columns. */
const WIDE =
  /^[\p{Emoji_Presentation}\u1100-\u115f\u231a\u231b\u2329\u232a\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe10-\ufe19\ufe30-\ufe6f\uff00-\uff60\uffe0-\uffe6\u{16fe0}-\u{18aff}\u{1b000}-\u{1b2ff}\u{1f200}-\u{1f2ff}\u{20000}-\u{3fffd}]$/u;

function charWidth(char: string): number {
  if (ZERO_WIDTH.test(char)) return 0;
  return WIDE.test(char) ? 2 : 1;
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
