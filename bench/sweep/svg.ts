import type { SweepDocument } from './document.ts';
import type { SweepRow } from './types.ts';

/**
 * The sweep as a chart, hand-written SVG: duration p50 and p95 (left axis) and the cost of 1,000
 * images on arm64 and x86_64 (right axis) against memory. Sizes are spaced evenly (the list is
 * roughly geometric). Measured points are filled; MODELLED points are hollow and the lines into
 * them dashed; out-of-memory sizes carry "OOM" and the chosen size a shaded band.
 */

const WIDTH = 960;
const HEIGHT = 540;
const MARGIN = { top: 64, right: 96, bottom: 112, left: 88 };
const COLOURS = {
  p50: '#1f77b4',
  p95: '#6baed6',
  arm64: '#d95f02',
  x86_64: '#7570b3',
  grid: '#e5e5e5',
  text: '#222',
};

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/** 1, 2 or 5 times a power of ten, at least max / 5: gives 4-6 gridlines. */
export function niceStep(max: number): number {
  if (!(max > 0)) return 1;
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  return step;
}

function fmt(n: number): string {
  return Number(n.toFixed(2)).toString();
}

interface Series {
  readonly name: string;
  readonly colour: string;
  readonly axis: 'left' | 'right';
  readonly dashed?: boolean;
  readonly value: (row: SweepRow) => number | undefined;
}

export function renderSvg(doc: SweepDocument): string {
  const rows = doc.rows;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (i: number) => MARGIN.left + (rows.length <= 1 ? plotW / 2 : (i * plotW) / (rows.length - 1));
  const series: Series[] = [
    { name: 'p50 duration', colour: COLOURS.p50, axis: 'left', value: (r) => r.stats?.p50Ms },
    { name: 'p95 duration', colour: COLOURS.p95, axis: 'left', value: (r) => r.stats?.p95Ms },
    {
      name: '$ / 1,000 images, arm64',
      colour: COLOURS.arm64,
      axis: 'right',
      value: (r) => r.stats?.costPer1000.arm64,
    },
    {
      name: '$ / 1,000 images, x86_64',
      colour: COLOURS.x86_64,
      axis: 'right',
      value: (r) => r.stats?.costPer1000.x86_64,
    },
  ];
  const maxOf = (axis: 'left' | 'right') =>
    Math.max(0, ...series.filter((s) => s.axis === axis).flatMap((s) => rows.map((r) => s.value(r) ?? 0)));
  const leftMs = maxOf('left');
  const leftUnit = leftMs >= 10_000 ? { div: 1000, label: 's' } : { div: 1, label: 'ms' };
  const leftStep = niceStep(leftMs / leftUnit.div);
  const leftTop = Math.max(leftStep, Math.ceil(leftMs / leftUnit.div / leftStep) * leftStep);
  const rightStep = niceStep(maxOf('right'));
  const rightTop = Math.max(rightStep, Math.ceil(maxOf('right') / rightStep) * rightStep);
  const y = (axis: 'left' | 'right', value: number) => {
    const top = axis === 'left' ? leftTop * leftUnit.div : rightTop;
    return MARGIN.top + plotH - (value / top) * plotH;
  };

  const parts: string[] = [];
  const title = `imgpipe memory sweep: duration and cost per memory size${doc.settings.target === 'aws' ? ` (${doc.settings.functionName})` : ''}`;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold" fill="${COLOURS.text}">${escapeXml(title)}</text>`,
    `<text x="${WIDTH / 2}" y="46" text-anchor="middle" fill="#555">${escapeXml(subtitle(doc))}</text>`,
  );

  const chosen = doc.choice ? rows.findIndex((r) => r.memoryMb === doc.choice!.memoryMb) : -1;
  if (chosen >= 0) {
    const half = Math.min(30, rows.length > 1 ? plotW / (rows.length - 1) / 2 : 30);
    const left = Math.max(MARGIN.left, x(chosen) - half);
    const right = Math.min(MARGIN.left + plotW, x(chosen) + half);
    parts.push(
      `<rect x="${fmt(left)}" y="${MARGIN.top}" width="${fmt(right - left)}" height="${plotH}" fill="#fff3c4"/>`,
      `<text x="${fmt(x(chosen))}" y="${MARGIN.top + 14}" text-anchor="middle" font-weight="bold" fill="${COLOURS.text}">chosen</text>`,
    );
  }

  // Grid and axes.
  for (let v = 0; v <= leftTop + 1e-9; v += leftStep) {
    const py = fmt(y('left', v * leftUnit.div));
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py}" y2="${py}" stroke="${COLOURS.grid}"/>`,
      `<text x="${MARGIN.left - 8}" y="${py}" dy="4" text-anchor="end" fill="${COLOURS.p50}">${fmt(v)}</text>`,
    );
  }
  for (let v = 0; v <= rightTop + 1e-12; v += rightStep) {
    const py = fmt(y('right', v));
    parts.push(
      `<text x="${MARGIN.left + plotW + 8}" y="${py}" dy="4" fill="${COLOURS.arm64}">$${Number(v.toPrecision(3))}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#444"/>`,
    `<line x1="${MARGIN.left + plotW}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#444"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#444"/>`,
    `<text transform="translate(24 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${COLOURS.p50}">duration per image (${leftUnit.label})</text>`,
    `<text transform="translate(${WIDTH - 16} ${MARGIN.top + plotH / 2}) rotate(90)" text-anchor="middle" fill="${COLOURS.arm64}">USD per 1,000 images</text>`,
  );
  for (const [i, row] of rows.entries()) {
    const px = fmt(x(i));
    const base = MARGIN.top + plotH;
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${base}" y2="${base + 5}" stroke="#444"/>`,
      `<text x="${px}" y="${base + 18}" text-anchor="middle" fill="${COLOURS.text}">${row.memoryMb}</text>`,
      `<text x="${px}" y="${base + 32}" text-anchor="middle" fill="#777" font-size="10">${row.mode === 'modelled' ? 'modelled' : row.mode === 'measured' ? 'measured' : 'AWS'}</text>`,
    );
    if (row.stats?.outOfMemory) {
      parts.push(
        `<text x="${px}" y="${base - 24}" text-anchor="middle" fill="#c00" font-weight="bold">OOM</text>`,
      );
    }
  }
  parts.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH + 50}" text-anchor="middle" fill="${COLOURS.text}">memory (MB)</text>`,
  );

  // Lines: a segment is dashed when either end is modelled.
  for (const s of series) {
    const dash = s.axis === 'left' && s.name.startsWith('p95') ? '6 3' : undefined;
    for (let i = 1; i < rows.length; i++) {
      const a = s.value(rows[i - 1]!);
      const b = s.value(rows[i]!);
      if (a === undefined || b === undefined) continue;
      const modelled = rows[i - 1]!.mode === 'modelled' || rows[i]!.mode === 'modelled';
      const pattern = modelled ? '2 4' : dash;
      parts.push(
        `<line x1="${fmt(x(i - 1))}" y1="${fmt(y(s.axis, a))}" x2="${fmt(x(i))}" y2="${fmt(y(s.axis, b))}" stroke="${s.colour}" stroke-width="2"${pattern ? ` stroke-dasharray="${pattern}"` : ''}/>`,
      );
    }
    for (const [i, row] of rows.entries()) {
      const v = s.value(row);
      if (v === undefined) continue;
      const hollow = row.mode === 'modelled';
      const cx = fmt(x(i));
      const cy = fmt(y(s.axis, v));
      const shape =
        s.axis === 'left'
          ? `<circle cx="${cx}" cy="${cy}" r="4.5"`
          : `<rect x="${fmt(x(i) - 4)}" y="${fmt(y(s.axis, v) - 4)}" width="8" height="8"`;
      parts.push(
        `${shape} fill="${hollow ? '#ffffff' : s.colour}" stroke="${s.colour}" stroke-width="2"><title>${escapeXml(`${row.memoryMb} MB ${s.name}: ${s.axis === 'left' ? `${Math.round(v)} ms` : `$${v.toFixed(5)}`}${hollow ? ' (MODELLED)' : ''}`)}</title>${s.axis === 'left' ? '</circle>' : '</rect>'}`,
      );
    }
  }

  // Legend.
  const legendY = HEIGHT - 36;
  let lx = MARGIN.left;
  for (const s of series) {
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${legendY}" y2="${legendY}" stroke="${s.colour}" stroke-width="2"${s.name.startsWith('p95') ? ' stroke-dasharray="6 3"' : ''}/>`,
      `<text x="${lx + 30}" y="${legendY}" dy="4" fill="${COLOURS.text}">${escapeXml(s.name)}</text>`,
    );
    lx += 40 + s.name.length * 6.2;
  }
  parts.push(
    `<circle cx="${MARGIN.left + 6}" cy="${legendY + 20}" r="4.5" fill="#444" stroke="#444" stroke-width="2"/>`,
    `<text x="${MARGIN.left + 16}" y="${legendY + 20}" dy="4" fill="${COLOURS.text}">filled: measured</text>`,
    `<circle cx="${MARGIN.left + 136}" cy="${legendY + 20}" r="4.5" fill="#ffffff" stroke="#444" stroke-width="2"/>`,
    `<line x1="${MARGIN.left + 146}" x2="${MARGIN.left + 170}" y1="${legendY + 20}" y2="${legendY + 20}" stroke="#444" stroke-width="2" stroke-dasharray="2 4"/>`,
    `<text x="${MARGIN.left + 176}" y="${legendY + 20}" dy="4" fill="${COLOURS.text}">hollow, dotted: MODELLED from CPU time, not measured</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

function subtitle(doc: SweepDocument): string {
  const { provenance: p, settings: s } = doc;
  const where = s.target === 'aws' ? `AWS ${s.functionArchitecture}` : `${p.cpuModel}, ${p.cores} CPUs`;
  const pricing =
    s.rps > 0
      ? `cost with provisioned concurrency at ${s.rps} rps`
      : `on-demand cost, ${s.coldStartRate * 100}% cold starts`;
  return `${p.date.slice(0, 10)} · ${where} · ${s.inputs.length} inputs, ${s.runs} warm runs · ${pricing}`;
}
