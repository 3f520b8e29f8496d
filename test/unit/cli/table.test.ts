import { describe, expect, it } from 'vitest';
import { formatBytes, formatMs, renderTable } from '../../../src/cli/table.ts';

const columns = [
  { header: 'name', value: (r: { name: string; n: number }) => r.name },
  { header: 'n', value: (r: { name: string; n: number }) => r.n, align: 'right' as const },
];

describe('renderTable', () => {
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
