import { type Column, formatBytes, formatMs, renderTable } from '../../src/cli/table.ts';
import {
  deadlineReserveMs,
  MAX_PROVISIONED_CONCURRENCY,
  MAX_TIMEOUT_SECONDS,
  MIN_BYTES_PER_PIXEL,
  MIN_TIMEOUT_SECONDS,
  PROVISIONED_CONCURRENCY_BUFFER,
} from './derive.ts';
import { MODELLED_NOTE, type SweepDocument, sourceLabel } from './document.ts';
import { median } from './stats.ts';
import { renderTfvars } from './tfvars.ts';
import { ARCHITECTURES, type SweepRow } from './types.ts';

/**
 * The console summary and the Markdown report, from the same columns (src/cli/table.ts renders
 * both): what was run, the rows with their source (measured or MODELLED), the choice and how each
 * derived value was obtained.
 */

export function formatUsd(value: number): string {
  return `$${value.toFixed(value < 0.01 ? 5 : 4)}`;
}

function mib(mb: number): string {
  return formatBytes(Math.round(mb * 1024 * 1024));
}

export function sweepColumns(doc: SweepDocument): Column<SweepRow>[] {
  const chosen = doc.choice?.memoryMb;
  return [
    { header: 'Memory (MB)', value: (r) => r.memoryMb, align: 'right' },
    { header: 'vCPU', value: (r) => r.vcpus.toFixed(2), align: 'right' },
    { header: 'Workers', value: (r) => r.workers, align: 'right' },
    { header: 'Source', value: (r) => sourceLabel(r) },
    { header: 'Init', value: (r) => formatMs(r.stats?.initMs), align: 'right' },
    { header: 'p50', value: (r) => formatMs(r.stats?.p50Ms), align: 'right' },
    { header: 'p95', value: (r) => formatMs(r.stats?.p95Ms), align: 'right' },
    { header: 'Max', value: (r) => formatMs(r.stats?.maxMs), align: 'right' },
    { header: 'Cold max', value: (r) => formatMs(r.stats?.coldMaxMs), align: 'right' },
    { header: 'Peak RSS', value: (r) => (r.stats ? mib(r.stats.peakRssMb) : ''), align: 'right' },
    { header: 'Fits', value: (r) => (r.stats ? (r.stats.outOfMemory ? 'OOM' : 'yes') : '') },
    {
      header: '$/1k arm64',
      value: (r) => (r.stats ? formatUsd(r.stats.costPer1000.arm64) : ''),
      align: 'right',
    },
    {
      header: '$/1k x86_64',
      value: (r) => (r.stats ? formatUsd(r.stats.costPer1000.x86_64) : ''),
      align: 'right',
    },
    { header: 'Notes', value: (r) => rowNotes(r, chosen) },
  ];
}

function rowNotes(row: SweepRow, chosen: number | undefined): string {
  const notes: string[] = [];
  if (row.memoryMb === chosen) notes.push('<- chosen');
  if (row.failures.length > 0) notes.push(`${row.failures.length} failed`);
  if (row.stats?.contended) notes.push(`contended (${Math.round(row.stats.foreignCpu! * 100)}% foreign CPU)`);
  return notes.join('; ');
}

/**
 * The AWS mode measures one architecture, the function's, and prices both with its durations: the
 * other's column is what it would cost if it ran as fast, which nothing measured.
 */
function architectureNote(doc: SweepDocument): string | undefined {
  const measured = doc.settings.target === 'aws' ? doc.settings.functionArchitecture : undefined;
  if (!measured) return undefined;
  const other = ARCHITECTURES.find((a) => a !== measured)!;
  return `Durations were measured on ${measured} only: the $/1k ${other} column prices the ${measured} durations at ${other} prices, as if ${other} ran as fast${doc.settings.architecture === other ? `, and the choice (on ${other} prices) rests on it` : ''}; sweep an ${other} deployment to measure it.`;
}

/**
 * Which pricing the $/1k columns and the choice use: on-demand, or, with --rps, the provisioned
 * concurrency each size needs (cost.ts provisionedCostPer1000Images).
 */
export function pricingNote(doc: SweepDocument): string {
  const { rps, coldStartRate } = doc.settings;
  if (rps > 0) {
    return `Costs ($/1k) are with provisioned concurrency, as deployed at --rps ${rps}: each size's own (rps x p95 x ${PROVISIONED_CONCURRENCY_BUFFER}), billed for the ${formatSeconds(1000 / rps)} that 1,000 images take at that rate, plus their invocations at the provisioned duration price and the request charge; no cold starts.`;
  }
  return `Costs ($/1k) are on-demand: duration and request charges, ${coldStartRate * 100}% of invocations cold (init billed).`;
}

/**
 * What the p50 and p95 columns are of: nearest-rank percentiles (stats.ts) of each size's warm
 * runs, pooled over its inputs (rows.ts summariseRow). With the default corpus and --runs that is
 * 10 runs, of which the p95 is the slowest: the report said "p95" and nothing of the runs, while
 * the provisioned concurrency (rps x p95) rests on that one run.
 */
export function percentileNote(doc: SweepDocument): string | undefined {
  const counts = doc.rows
    .filter((r) => r.stats !== undefined)
    .map((r) => r.images.reduce((n, image) => n + Math.max(1, image.warm.length), 0));
  if (counts.length === 0) return undefined;
  const least = Math.min(...counts);
  const most = Math.max(...counts);
  const runs = least === most ? `${least}` : `${least}-${most}`;
  // Nearest rank: the p95 of n runs is the ceil(0.95 n)-th smallest, the largest while n < 20.
  const slowest =
    most < 20
      ? `; with fewer than 20 runs, p95 is the slowest run (the Max column)`
      : least < 20
        ? `; where a size has fewer than 20 runs, its p95 is its slowest (the Max column)`
        : '';
  return `p50 and p95 are nearest-rank percentiles (a run that was measured, not one interpolated between runs) of ${runs} warm runs per size, every input's pooled${slowest}.`;
}

function formatSeconds(seconds: number): string {
  return `${Number(seconds.toPrecision(4)).toLocaleString('en-US')} s`;
}

export function renderSweepTable(doc: SweepDocument, format: 'text' | 'markdown'): string {
  return renderTable(sweepColumns(doc), doc.rows, format);
}

/** What the terminal shows at the end of a sweep. */
export function renderConsoleSummary(doc: SweepDocument, files: readonly string[]): string {
  const percentiles = percentileNote(doc);
  const lines = [
    renderSweepTable(doc, 'text'),
    '',
    ...(percentiles ? [percentiles, ''] : []),
    pricingNote(doc),
    '',
  ];
  if (doc.rows.some((r) => r.mode === 'modelled')) lines.push(MODELLED_NOTE, '');
  const measuredOn = architectureNote(doc);
  if (measuredOn) lines.push(measuredOn, '');
  lines.push(...choiceLines(doc), '');
  for (const warning of doc.warnings) lines.push(`Warning: ${warning}`);
  lines.push(
    doc.chosenAgainFrom === undefined
      ? `Sweep took ${formatDuration(doc.elapsedSeconds)}. Wrote ${files.join(', ')}.`
      : `Chosen again from ${doc.chosenAgainFrom}, a sweep of ${doc.provenance.date} that took ${formatDuration(doc.elapsedSeconds)}. Wrote ${files.join(', ')}.`,
  );
  return `${lines.join('\n')}\n`;
}

function choiceLines(doc: SweepDocument): string[] {
  const { choice } = doc;
  if (!choice) return [`No size chosen: ${doc.noChoice}.`];
  const row = doc.rows.find((r) => r.memoryMb === choice.memoryMb)!;
  const stats = row.stats!;
  const strategy = choice.strategy === 'balanced' ? `balanced (weight ${choice.weight})` : choice.strategy;
  const lines = [
    `Chosen: ${choice.memoryMb} MB (strategy ${strategy}, ${choice.architecture} ${doc.settings.rps > 0 ? 'provisioned-concurrency' : 'on-demand'} prices; ${sourceLabel(row)}): ` +
      `${formatUsd(stats.costPer1000[choice.architecture])} per 1,000 images, expected ${formatMs(stats.expectedMs)} per image.`,
    timeoutLine(choice, doc.settings.timeoutMargin),
    `Provisioned concurrency: ${choice.provisionedConcurrency} = ceil(${doc.settings.rps} rps x p95 ${formatMs(stats.p95Ms)} x ${PROVISIONED_CONCURRENCY_BUFFER}).`,
  ];
  const fit = choice.pixelFit;
  lines.push(
    fit.kind === 'fit'
      ? `Max input pixels: ${choice.maxInputPixels.toLocaleString('en-US')} (peak RSS = ${fit.interceptMb.toFixed(0)} MiB + ${fit.slopeMbPerMp.toFixed(2)} MiB/MP${fit.slopeMbPerMp > fit.fittedSlopeMbPerMp ? ` (the ${MIN_BYTES_PER_PIXEL} bytes/pixel floor; fitted ${fit.fittedSlopeMbPerMp.toFixed(2)})` : ''}; ` +
          `budget ${fit.budgetMb.toFixed(0)} MiB = ${choice.memoryMb} MB x (1 - ${doc.settings.headroom}) -> ${(fit.rawPixels / 1e6).toFixed(1)} MP, rounded down, within 1-100 MP${fit.heldPixels === undefined ? '' : `; cut to the ${(fit.heldPixels / 1e6).toFixed(1)} MP of the costliest input the function's memory check holds at ${choice.memoryMb} MB, rounded down`}).`
      : `Max input pixels: ${choice.maxInputPixels.toLocaleString('en-US')} (not fitted: ${fit.reason}).`,
  );
  if (choice.tooSmallForMinPixels)
    lines.push(
      `Not chosen, though they ran every input: ${choice.tooSmallForMinPixels.map((m) => `${m} MB`).join(', ')}, whose max_input_pixels would be below --min-pixels ${(choice.minPixels ?? 0).toLocaleString('en-US')} or the largest input that ran${choice.pixelFit.kind === 'fallback' ? ", or more than their memory holds by the function's estimate at the costliest bytes per pixel" : ''}.`,
    );
  if (choice.tooSlowForTimeout)
    lines.push(
      `Not chosen, though they ran every input: ${choice.tooSlowForTimeout.map((m) => `${m} MB`).join(', ')}, whose slowest invocation x margin is above the ${MAX_TIMEOUT_SECONDS} s timeout the deployment accepts.`,
    );
  if (choice.tooSlowForMaxSeconds)
    lines.push(
      `Not chosen, though they ran every input: ${choice.tooSlowForMaxSeconds.map((m) => `${m} MB`).join(', ')}, where an input of their max_input_pixels would take longer than limits.maxSecondsPerImage (${doc.settings.maxSecondsPerImage} s) and be refused as too-slow.`,
    );
  if (choice.tooSlowForRps)
    lines.push(
      `Not chosen, though they ran every input: ${choice.tooSlowForRps.map((m) => `${m} MB`).join(', ')}, where --rps ${doc.settings.rps} x their p95 needs more than the ${(choice.provisionedLimit?.max ?? MAX_PROVISIONED_CONCURRENCY).toLocaleString('en-US')} provisioned concurrency the deployment accepts${choice.provisionedLimit ? ` (${choice.provisionedLimit.because})` : ''}.`,
    );
  return lines;
}

/**
 * How the timeout was derived (derive.ts requiredTimeout): the slowest invocation x the margin, or,
 * where that leaves less than the function's deadline reserve, the slowest plus the reserve.
 */
function timeoutLine(choice: NonNullable<SweepDocument['choice']>, margin: number): string {
  const slowest = `slowest invocation ${formatMs(choice.timeoutBasisMs)}${choice.slowestMeasuredMs === undefined ? '' : ` (at max_input_pixels, extrapolated from the corpus; ${formatMs(choice.slowestMeasuredMs)} measured)`}`;
  const reserveMs = deadlineReserveMs(choice.timeoutBasisMs);
  const withReserve = choice.timeoutBasisMs + reserveMs > choice.timeoutBasisMs * margin;
  const formula = withReserve
    ? `${slowest} + the function's deadline reserve ${formatMs(reserveMs)}, more than x margin ${margin}`
    : `${slowest} x margin ${margin}`;
  // Below the floor the formula is not what was written: "10 s = ceil(1.0 s x margin 3)".
  const seconds = Math.ceil(
    (withReserve ? choice.timeoutBasisMs + reserveMs : choice.timeoutBasisMs * margin) / 1000,
  );
  if (seconds < choice.timeoutSeconds && choice.timeoutSeconds === MIN_TIMEOUT_SECONDS) {
    return `Timeout: ${choice.timeoutSeconds} s, the least the sweep writes: ceil(${formula}) is ${seconds} s.`;
  }
  return `Timeout: ${choice.timeoutSeconds} s = ceil(${formula}), within ${MIN_TIMEOUT_SECONDS}-${MAX_TIMEOUT_SECONDS} s.`;
}

export function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.round(seconds)} s`;
}

export function renderMarkdownReport(doc: SweepDocument, chartFile: string): string {
  const { provenance: p, settings: s } = doc;
  const git =
    'commit' in p.git
      ? `${p.git.commit.slice(0, 12)}${p.git.dirty ? ' (uncommitted changes)' : ''}`
      : p.git.error;
  const out: string[] = [
    '# Memory sweep',
    '',
    `${p.date} · ${s.target === 'aws' ? `function \`${s.functionName}\` (${s.functionArchitecture})` : `${p.cpuModel}, ${p.cores} CPUs`} · commit ${git} · Node ${p.node} · took ${formatDuration(doc.elapsedSeconds)}${doc.chosenAgainFrom ? ` · chosen again from \`${doc.chosenAgainFrom}\`` : ''}`,
    '',
    `- Inputs: ${s.inputs.length} (${s.inputs.map((i) => `\`${i}\``).join(', ')}); corpus hash \`${p.corpusHash.slice(0, 16)}\``,
    s.target === 'aws'
      ? `- Runs: ${1 + s.runs} invocations per input and size, of a version published for the size; its first invocation is the cold one, and its Init Duration is counted as every input's init`
      : `- Runs: one cold (fresh process: init, then the first run) and ${s.runs} warm per input and size`,
    `- CPU share: ${p.cgroup}`,
    s.rps > 0
      ? `- Prices (provisioned concurrency, --rps ${s.rps}): the concurrency configured arm64 $${s.prices.provisioned.arm64}/GB-s, x86_64 $${s.prices.provisioned.x86_64}/GB-s; duration on it arm64 $${s.prices.provisionedDuration.arm64}/GB-s, x86_64 $${s.prices.provisionedDuration.x86_64}/GB-s; $${s.prices.requestPerMillion} per 1M requests; no cold starts`
      : `- Prices (on-demand): arm64 $${s.prices.arm64}/GB-s, x86_64 $${s.prices.x86_64}/GB-s, $${s.prices.requestPerMillion} per 1M requests; ${s.coldStartRate * 100}% of invocations cold (init billed)`,
    `- Strategy: ${s.strategy}${s.strategy === 'balanced' ? ` (weight ${s.weight})` : ''} on ${s.architecture} prices; headroom ${s.headroom * 100}%; timeout margin ${s.timeoutMargin}; ${s.rps} requests/s`,
    '',
    '## Results',
    '',
    s.target === 'aws'
      ? `Durations are the deployed function's Duration per invocation (reading the source from S3 and writing the variants included), p50/p95/max over the warm runs of all inputs; cold max is Init Duration plus an input's first invocation; cost is for 1,000 images drawn evenly from the inputs.`
      : 'Durations are per image (no S3 I/O), p50/p95/max over the warm runs of all images; cold max is init plus the first run; cost is for 1,000 images drawn evenly from the inputs.',
    '',
    renderSweepTable(doc, 'markdown'),
    '',
    ...(percentileNote(doc) ? [percentileNote(doc)!, ''] : []),
    pricingNote(doc),
    '',
  ];
  const measuredOn = architectureNote(doc);
  if (measuredOn) out.push(measuredOn, '');
  if (doc.rows.some((r) => r.mode === 'modelled')) out.push(`**${MODELLED_NOTE}**`, '');
  if (doc.rows.some((r) => r.stats?.contended)) {
    out.push(
      `Contended rows: during some of their runs other processes used more of the machine than the row's CPU quota left free (plus ${Math.round((s.maxForeignCpu ?? 0) * 100)}% of the CPUs), even after one more try, so their durations may be too long.`,
      '',
    );
  }
  out.push(
    `![Duration and cost against memory](${chartFile})`,
    '',
    '## Choice',
    '',
    ...choiceLines(doc).map((l) => `- ${l}`),
    '',
  );
  if (doc.tfvars && s.tfvars)
    out.push(`\`${s.tfvars}\`:`, '', '```json', renderTfvars(doc.tfvars as never).trimEnd(), '```', '');
  const checks = doc.rows.filter((r) => r.stats?.modelErrorPct !== undefined);
  if (checks.length > 0) {
    out.push(
      '## Model check',
      '',
      'The model (bench/README.md) applied to the measured rows, against what the cgroup quota gave (median over warm runs; negative: the model is faster than the measurement):',
      '',
      renderTable(
        [
          { header: 'Memory (MB)', value: (r: SweepRow) => r.memoryMb, align: 'right' },
          { header: 'Workers', value: (r: SweepRow) => r.workers, align: 'right' },
          {
            header: 'Model error',
            value: (r: SweepRow) =>
              `${r.stats!.modelErrorPct! >= 0 ? '+' : ''}${r.stats!.modelErrorPct!.toFixed(1)}%`,
            align: 'right',
          },
          {
            header: 'Foreign CPU (worst run)',
            value: (r: SweepRow) =>
              r.stats!.foreignCpu !== undefined ? `${Math.round(r.stats!.foreignCpu * 100)}%` : '',
            align: 'right',
          },
        ],
        checks,
        'markdown',
      ),
      '',
    );
  }
  out.push(
    '## Per input',
    '',
    'Warm median per input and size (MODELLED sizes: modelled value, with the unconstrained measurement in brackets).',
    '',
  );
  out.push(renderPerImage(doc), '');
  const failures = doc.rows.flatMap((r) =>
    r.failures.map((f) => `- ${r.memoryMb} MB, \`${f.image}\`: ${f.message}`),
  );
  if (failures.length > 0) out.push('## Failures', '', ...failures, '');
  if (doc.warnings.length > 0) out.push('## Warnings', '', ...doc.warnings.map((w) => `- ${w}`), '');
  return `${out.join('\n')}`;
}

function renderPerImage(doc: SweepDocument): string {
  const labels = doc.settings.inputs;
  const columns: Column<SweepRow>[] = [
    { header: 'Memory (MB)', value: (r) => r.memoryMb, align: 'right' },
    { header: 'Source', value: (r) => sourceLabel(r) },
    ...labels.map(
      (label): Column<SweepRow> => ({
        header: shortLabel(label),
        align: 'right',
        value: (r) => {
          const image = r.images.find((i) => i.image === label);
          if (!image) return r.failures.some((f) => f.image === label) ? 'failed' : '';
          const runs = image.warm.length > 0 ? image.warm : [image.first];
          const value = formatMs(median(runs.map((run) => run.wallMs)));
          const raw = runs.map((run) => run.unconstrainedWallMs).filter((v): v is number => v !== undefined);
          return raw.length > 0 ? `${value} (${formatMs(median(raw))})` : value;
        },
      }),
    ),
  ];
  const sizes = doc.rows[0]?.images
    .filter((i) => i.pixels !== undefined)
    .map((i) => `\`${shortLabel(i.image)}\` ${(i.pixels! / 1e6).toFixed(1)} MP`);
  return `${renderTable(columns, doc.rows, 'markdown')}${sizes && sizes.length > 0 ? `\n\nSizes: ${sizes.join(', ')}.` : ''}`;
}

function shortLabel(label: string): string {
  return label.split('/').at(-1) ?? label;
}
