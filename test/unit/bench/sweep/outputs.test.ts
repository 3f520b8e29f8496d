import { describe, expect, it } from 'vitest';
import { decide } from '../../../../bench/sweep/decide.ts';
import { requiredTimeout } from '../../../../bench/sweep/derive.ts';
import type { SweepDocument } from '../../../../bench/sweep/document.ts';
import {
  renderConsoleSummary,
  renderMarkdownReport,
  renderSweepTable,
} from '../../../../bench/sweep/report.ts';
import { summariseRow } from '../../../../bench/sweep/rows.ts';
import { escapeXml, niceStep, renderSvg } from '../../../../bench/sweep/svg.ts';
import type { SweepRow } from '../../../../bench/sweep/types.ts';
import { image, pricesWith, row, run } from './helpers.ts';

const summary = {
  headroom: 0.15,
  prices: pricesWith({ x86_64: 0.0000166667, arm64: 0.0000133334, requestPerMillion: 0.2 }),
  coldStartRate: 0.01,
  // The document below is of a sweep at --rps 2: its rows are priced with provisioned concurrency.
  requestsPerSecond: 2,
  maxForeignCpu: 0.1,
};

function withStats(r: SweepRow): SweepRow {
  return { ...r, stats: summariseRow(r, summary)! };
}

const images = (ms: number, rss: number) => [
  image({
    image: 'fixtures/photos/a.jpg',
    pixels: 1.7e6,
    warm: [run(ms), run(ms * 1.1)],
    first: run(ms * 1.5),
    peakRssMb: rss,
  }),
  image({
    image: 'fixtures/bench/b & c.jpg',
    pixels: 15.9e6,
    warm: [run(ms * 0.8)],
    first: run(ms),
    peakRssMb: rss + 150,
  }),
];

const rows: SweepRow[] = [
  withStats(row({ memoryMb: 512, vcpus: 512 / 1769, images: images(9000, 400) })),
  withStats(row({ memoryMb: 1769, vcpus: 1, images: images(2600, 420) })),
  withStats(
    row({
      memoryMb: 6144,
      vcpus: 6144 / 1769,
      workers: 3,
      mode: 'modelled',
      note: '3.47 vCPU is more than the 2 CPUs of this machine',
      images: images(1200, 640),
    }),
  ),
];

const decision = decide(rows, {
  strategy: 'cost',
  weight: 0.5,
  architecture: 'arm64',
  requestsPerSecond: 2,
  timeoutMargin: 3,
  minPixels: 1_000_000,
  headroom: 0.15,
  configuredMaxPixels: 50_000_000,
});

const doc: SweepDocument = {
  schema: 'imgpipe-bench-sweep/1',
  provenance: {
    date: '2026-11-27T08:00:00.000Z',
    git: { commit: '0123456789abcdef0123456789abcdef01234567', dirty: false },
    corpusHash: 'f'.repeat(64),
    cpuModel: 'AMD EPYC',
    cores: 2,
    usableCpus: 2,
    node: 'v24.21.0',
    platform: 'linux-x64',
    cgroup: 'cgroup v1 CPU quota',
    loadAverageAtStart: [0.1, 0.2, 0.3],
    command: 'npm run bench -- sweep',
  },
  settings: {
    target: 'local',
    memories: [512, 1769, 6144],
    inputs: ['fixtures/photos/a.jpg', 'fixtures/bench/b & c.jpg'],
    runs: 2,
    strategy: 'cost',
    architecture: 'arm64',
    rps: 2,
    timeoutMargin: 3,
    headroom: 0.15,
    prices: summary.prices,
    coldStartRate: 0.01,
    maxForeignCpu: 0.1,
    tfvars: 'terraform/envs/dev/tuning.tfvars.json',
  },
  rows,
  ...(decision.derived ? { choice: decision.derived } : {}),
  tfvars: {
    lambda_memory_size: 1769,
    lambda_timeout: 12,
    lambda_provisioned_concurrency: 6,
    max_input_pixels: 50_000_000,
  },
  warnings: ['a warning'],
  runWarnings: ['a warning'],
  elapsedSeconds: 754,
};

/**
 * A minimal well-formedness check: tags nest and close, attributes are quoted, text has no bare
 * `<` or `&` outside entities. Enough to catch a broken hand-written SVG without an XML library.
 */
function checkXml(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;
  let last = 0;
  for (const match of xml.matchAll(token)) {
    const text = xml.slice(last, match.index);
    if (/[<>]|&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text)) problems.push(`bad text: ${text.slice(0, 40)}`);
    last = match.index + match[0].length;
    const [, closing, name, , selfClosing] = match;
    if (!name) continue;
    if (closing) {
      if (stack.pop() !== name) problems.push(`unbalanced </${name}>`);
    } else if (!selfClosing) {
      stack.push(name);
    }
  }
  if (/[<>]/.test(xml.slice(last).trim())) problems.push('trailing markup');
  if (stack.length > 0) problems.push(`unclosed ${stack.join(', ')}`);
  return problems;
}

describe('renderSvg', () => {
  const svg = renderSvg(doc);

  it('is well-formed SVG with a title and a legend', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(checkXml(svg)).toEqual([]);
    expect(svg).toContain('<title>imgpipe memory sweep: duration and cost per memory size</title>');
    for (const name of [
      'p50 duration',
      'p95 duration',
      '$ / 1,000 images, arm64',
      '$ / 1,000 images, x86_64',
    ]) {
      expect(svg).toContain(`>${escapeXml(name)}</text>`);
    }
    expect(svg).toContain('MODELLED from CPU time, not measured');
  });

  it('draws modelled points hollow and their lines dotted, and marks OOM and the chosen size', () => {
    expect(svg).toMatch(
      /<circle [^>]*fill="#ffffff"[^>]*><title>6144 MB p50 duration: [^<]*\(MODELLED\)<\/title>/,
    );
    expect(svg).toMatch(/<circle [^>]*fill="#1f77b4"[^>]*><title>1769 MB p50 duration/);
    expect(svg).toContain('stroke-dasharray="2 4"');
    expect(svg).toContain('>OOM</text>');
    expect(svg).toContain('>chosen</text>');
  });

  it('escapes text', () => {
    expect(escapeXml(`a<b & "c" 'd'>`)).toBe('a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
    expect(checkXml('<a><b>x & y</b></a>')).not.toEqual([]);
  });

  it('picks round gridline steps', () => {
    expect([niceStep(4500), niceStep(0.11), niceStep(9), niceStep(0)]).toEqual([1000, 0.05, 2, 1]);
  });
});

describe('tables and report', () => {
  it('marks modelled rows in the console table, with the note under it', () => {
    const text = renderConsoleSummary(doc, ['sweep.json']);
    const line6144 = text.split('\n').find((l) => l.trimStart().startsWith('6144'));
    expect(line6144).toMatch(/MODELLED/);
    expect(text.split('\n').find((l) => l.trimStart().startsWith('1769'))).toMatch(/measured .*<- chosen/);
    expect(text).toMatch(/MODELLED rows were not measured/);
    expect(text.split('\n').find((l) => l.trimStart().startsWith('512'))).toMatch(/OOM/);
  });

  it('says of an AWS sweep that its durations include S3 and were measured on one architecture', () => {
    const aws: SweepDocument = {
      ...doc,
      settings: {
        ...doc.settings,
        target: 'aws',
        functionName: 'imgpipe-dev',
        functionArchitecture: 'x86_64',
        architecture: 'arm64',
      },
      rows: rows.map((r) => ({ ...r, mode: 'measured-aws' as const })),
    };
    const markdown = renderMarkdownReport(aws, 'sweep.svg');
    expect(markdown).not.toMatch(/no S3 I\/O/);
    expect(markdown).not.toMatch(/fresh process/);
    expect(markdown).toMatch(
      /Durations are the deployed function's Duration per invocation \(reading the source from S3/,
    );
    const note =
      'Durations were measured on x86_64 only: the $/1k arm64 column prices the x86_64 durations at arm64 prices, as if arm64 ran as fast, and the choice (on arm64 prices) rests on it; sweep an arm64 deployment to measure it.';
    expect(markdown).toContain(note);
    expect(renderConsoleSummary(aws, [])).toContain(note);
    // A local sweep's report says what it measured, and has no such note.
    const local = renderMarkdownReport(doc, 'sweep.svg');
    expect(local).toMatch(/Durations are per image \(no S3 I\/O\)/);
    expect(local).not.toMatch(/Durations were measured on/);
  });

  it('renders the same rows as Markdown with the source column and the derivations', () => {
    const table = renderSweepTable(doc, 'markdown');
    expect(table.split('\n')[0]).toBe(
      '| Memory (MB) | vCPU | Workers | Source | Init | p50 | p95 | Max | Cold max | Peak RSS | Fits | $/1k arm64 | $/1k x86_64 | Notes |',
    );
    expect(table).toMatch(/\| 6144 \| 3\.47 \| 3 \| MODELLED \|/);
    const markdown = renderMarkdownReport(doc, 'sweep.svg');
    expect(markdown).toContain('![Duration and cost against memory](sweep.svg)');
    expect(markdown).toMatch(/\*\*MODELLED rows were not measured/);
    expect(markdown).toMatch(/Provisioned concurrency: \d+ = ceil\(2 rps x p95 .* x 1\.1\)/);
    expect(markdown).toContain('"lambda_memory_size": 1769');
    expect(markdown).toContain('## Per input');
  });

  it('says what p50 and p95 are of: nearest rank over how many warm runs, and that p95 is the slowest of fewer than 20', () => {
    // Each size ran two inputs, with two and one warm runs: three runs, whose p95 is the slowest.
    const note =
      "p50 and p95 are nearest-rank percentiles (a run that was measured, not one interpolated between runs) of 3 warm runs per size, every input's pooled; with fewer than 20 runs, p95 is the slowest run (the Max column).";
    expect(renderMarkdownReport(doc, 'sweep.svg')).toContain(note);
    expect(renderConsoleSummary(doc, [])).toContain(note);
    for (const r of doc.rows) expect(r.stats!.p95Ms).toBe(r.stats!.maxMs);
    // Twenty runs: the p95 is the 19th, no longer the slowest, and the note says nothing of it.
    const twenty = withStats(
      row({
        memoryMb: 1769,
        vcpus: 1,
        images: [image({ pixels: 1e6, warm: Array.from({ length: 20 }, (_, i) => run(1000 + i)) })],
      }),
    );
    expect(twenty.stats!.p95Ms).toBe(1018);
    expect(renderMarkdownReport({ ...doc, rows: [twenty] }, 'sweep.svg')).toContain(
      "of 20 warm runs per size, every input's pooled.",
    );
  });

  it('says which pricing the costs are: provisioned concurrency with --rps, else on-demand', () => {
    const provisioned =
      "Costs ($/1k) are with provisioned concurrency, as deployed at --rps 2: each size's own (rps x p95 x 1.1), billed for the 500 s that 1,000 images take at that rate, plus their invocations at the provisioned duration price and the request charge; no cold starts.";
    const markdown = renderMarkdownReport(doc, 'sweep.svg');
    expect(markdown).toContain(provisioned);
    expect(markdown).toContain(
      '- Prices (provisioned concurrency, --rps 2): the concurrency configured arm64 $0.0000033334/GB-s, x86_64 $0.0000041667/GB-s; duration on it arm64 $0.0000077778/GB-s, x86_64 $0.0000097222/GB-s; $0.2 per 1M requests; no cold starts',
    );
    expect(markdown).toMatch(
      /Chosen: 1769 MB \(strategy cost, arm64 provisioned-concurrency prices; measured\)/,
    );
    expect(renderConsoleSummary(doc, [])).toContain(provisioned);
    expect(renderSvg(doc)).toContain('cost with provisioned concurrency at 2 rps');

    const onDemand: SweepDocument = { ...doc, settings: { ...doc.settings, rps: 0 } };
    const note =
      'Costs ($/1k) are on-demand: duration and request charges, 1% of invocations cold (init billed).';
    expect(renderMarkdownReport(onDemand, 'sweep.svg')).toContain(note);
    expect(renderMarkdownReport(onDemand, 'sweep.svg')).toContain(
      '- Prices (on-demand): arm64 $0.0000133334/GB-s, x86_64 $0.0000166667/GB-s, $0.2 per 1M requests; 1% of invocations cold (init billed)',
    );
    expect(renderConsoleSummary(onDemand, [])).toMatch(
      /Chosen: 1769 MB \(strategy cost, arm64 on-demand prices/,
    );
    expect(renderSvg(onDemand)).toContain('on-demand cost, 1% cold starts');
  });

  it('derives the timeout in the report as it was derived: with the deadline reserve where the margin leaves less', () => {
    // Slowest 15 s: x margin 3 is 45 s; x margin 1.1 is 16.5 s, less than 15 s + the 5 s reserve.
    const choice = { ...doc.choice!, timeoutBasisMs: 15_000 };
    const render = (timeoutMargin: number) =>
      renderMarkdownReport(
        {
          ...doc,
          settings: { ...doc.settings, timeoutMargin },
          choice: { ...choice, timeoutSeconds: requiredTimeout(15_000, timeoutMargin) },
        },
        'sweep.svg',
      );
    expect(requiredTimeout(15_000, 3)).toBe(45);
    expect(render(3)).toMatch(/Timeout: 45 s = ceil\(slowest invocation [^)]* x margin 3\)/);
    expect(requiredTimeout(15_000, 1.1)).toBe(20);
    expect(render(1.1)).toMatch(
      /Timeout: 20 s = ceil\(slowest invocation \S+ s \+ the function's deadline reserve 5000 ms, more than x margin 1\.1\)/,
    );
  });

  it('says when the timeout is the 10 s floor, not what the formula gives', () => {
    // Slowest 1.5 s x margin 3 is 4.5 s: the report said "Timeout: 10 s = ceil(1500 ms x margin 3)".
    const markdown = renderMarkdownReport(
      {
        ...doc,
        settings: { ...doc.settings, timeoutMargin: 3 },
        choice: { ...doc.choice!, timeoutBasisMs: 1500, timeoutSeconds: requiredTimeout(1500, 3) },
      },
      'sweep.svg',
    );
    expect(requiredTimeout(1500, 3)).toBe(10);
    expect(markdown).toMatch(
      /Timeout: 10 s, the least the sweep writes: ceil\(slowest invocation 1500 ms x margin 3\) is 5 s\./,
    );
    expect(markdown).not.toMatch(/Timeout: 10 s = ceil/);
  });
});
