import { describe, expect, it } from 'vitest';
import {
  type Column,
  formatBytes,
  formatMs,
  printable,
  printableStack,
  renderTable,
} from '../../../src/cli/table.ts';

/** Whether text holds a control character other than a line break (an escape sequence, a bell). */
const hasControl = (text: string) =>
  [...text].some((c) => {
    const code = c.codePointAt(0)!;
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
  });

const columns = [
  { header: 'name', value: (r: { name: string; n: number }) => r.name },
  { header: 'n', value: (r: { name: string; n: number }) => r.n, align: 'right' as const },
];

describe('renderTable', () => {
  it("prints a cell's control characters escaped: a key's escape sequence never reaches the terminal", () => {
    const key = 'a\x1b]0;owned\x07b\x1b[2Jc\nd\te\x7f\x9b.jpg';
    const table = renderTable(columns, [{ name: key, n: 1 }]);
    expect(hasControl(table)).toBe(false);
    expect(table.split('\n')).toHaveLength(3);
    expect(table.split('\n')[2]).toBe('a\\x1b]0;owned\\x07b\\x1b[2Jc\\nd\\te\\x7f\\x9b.jpg  1');
    expect(printable('plain café/ü.jpg')).toBe('plain café/ü.jpg');
  });

  it("prints an error's stack with its message escaped as one line and its frames kept on theirs", () => {
    const error = new Error('cannot read a\x1b[2Jb\nc.jpg');
    const lines = printableStack(error).split('\n');
    expect(lines[0]).toBe('Error: cannot read a\\x1b[2Jb\\nc.jpg');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.slice(1).every((line) => /^\s+at /.test(line))).toBe(true);
    expect(printableStack('a\x07b')).toBe('a\\x07b');
  });

  it('aligns text columns', () => {
    expect(
      renderTable(columns, [
        { name: 'a', n: 1 },
        { name: 'long|name', n: 100 },
      ]),
    ).toBe(['name         n', '---------  ---', 'a            1', 'long|name  100'].join('\n'));
  });

  it('renders the same rows as Markdown, escaping pipes', () => {
    expect(renderTable(columns, [{ name: 'long|name', n: 100 }], 'markdown')).toBe(
      ['| name | n |', '| --- | ---: |', '| long\\|name | 100 |'].join('\n'),
    );
  });

  it('formats sizes and durations', () => {
    expect([formatBytes(512), formatBytes(2048), formatBytes(5 * 1024 * 1024)]).toEqual([
      '512 B',
      '2.0 KiB',
      '5.0 MiB',
    ]);
    expect([formatMs(12.4), formatMs(12_345)]).toEqual(['12 ms', '12.3 s']);
  });
});

describe('renderTable in a terminal of a given width', () => {
  type Row = { file: string; detail: string; ms: number };
  const columns: Column<Row>[] = [
    { header: 'file', value: (r) => r.file },
    { header: 'time', value: (r) => `${r.ms} ms`, align: 'right', drop: 0 },
    { header: 'detail', value: (r) => r.detail, shrink: true },
  ];
  const rows: Row[] = [{ file: 'in/cat.jpg', detail: 'x'.repeat(300), ms: 12 }];

  it('cuts the shrinkable column to fit, marking the cut', () => {
    const lines = renderTable(columns, rows, 'text', { maxWidth: 60 }).split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(60);
    expect(lines[2]).toMatch(/^in\/cat\.jpg +12 ms +x+…$/);
  });

  it('leaves out droppable columns when cutting is not enough', () => {
    const text = renderTable(columns, rows, 'text', { maxWidth: 26 });
    expect(text.split('\n')[0]).toMatch(/^file +detail$/);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(26);
  });

  it('measures names in terminal columns: accents decomposed take none, wide characters two', () => {
    // As a terminal shows them: 'café' with its accent decomposed (a name from macOS) is 4 columns,
    // '写真' and '☕' 2 each. Counted as characters, their rows' later cells were out of line.
    const named = (file: string): Row => ({ file, detail: 'ok', ms: 1 });
    const names = ['plain.jpg', 'cafe\u0301.jpg', '写真.jpg', 'cup ☕.jpg'];
    const shown = [9, 8, 8, 10];
    const lines = renderTable(columns, names.map(named), 'text').split('\n');
    // The column, as shown, where each row's time begins.
    const at = names.map((name, i) => {
      const rest = lines[i + 2]!.slice(name.length);
      return shown[i]! + [...rest.slice(0, rest.indexOf('1 ms'))].length;
    });
    expect(new Set(at).size).toBe(1);
  });

  it('cuts wide text to the columns of the terminal', () => {
    const wide: Row[] = [{ file: 'in/a.jpg', detail: '写'.repeat(100), ms: 1 }];
    const lines = renderTable(columns, wide, 'text', { maxWidth: 40 }).split('\n');
    // 写 is two columns: the cut row takes at most the 40 columns there are.
    const columnsOf = (line: string) => [...line].reduce((sum, c) => sum + (c === '写' ? 2 : 1), 0);
    for (const line of lines) expect(columnsOf(line)).toBeLessThanOrEqual(40);
    expect(columnsOf(lines[2]!)).toBeGreaterThanOrEqual(39);
    expect(lines[2]).toMatch(/…$/);
  });

  it('keeps every cell whole without a width', () => {
    expect(renderTable(columns, rows, 'text')).toContain('x'.repeat(300));
  });
});
