import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandSpec, parseCommandLine, renderHelp, UsageError } from '../../src/cli/args.ts';
import { type Column, formatBytes, renderTable } from '../../src/cli/table.ts';
import { DEFAULT_PIPELINE_DOCUMENT } from '../../src/config/document.ts';
import { ConfigError, invalidSetting } from '../../src/core/errors.ts';
import type { ChildResult } from '../lib/child.ts';
import { collectCorpus } from '../lib/corpus.ts';
import { J1_INPUT, type JobSpec, j1Document } from '../lib/jobs.ts';
import { median, runJob } from '../lib/spawn.ts';
import { type MicroRow, microTable, runMicro, SIZE_CLASSES_MP } from './micro.ts';
import { runStatusOverhead, statusTable } from './status.ts';

/**
 * `npm run bench`: the codec micro-benchmarks, the pipeline over a corpus, and J1 against sharp and
 * the naive jSquash recipe on one CPU (and imgpipe on two), ending with the three J1 ratios.
 * Every timed job runs in a fresh child process pinned with taskset, so its peak RSS is its own.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface JobRow {
  readonly label: string;
  readonly cpus: number;
  readonly result: ChildResult;
}

/** The three suites' common shape: what they print, what goes in bench.md and bench.json. */
interface SuiteResult {
  readonly name: 'micro' | 'pipeline' | 'j1' | 'status';
  readonly markdown: string;
  readonly data: unknown;
}

interface BenchOptions {
  readonly quick: boolean;
  readonly corpus: string;
  readonly runs: number;
  readonly only?: SuiteResult['name'];
  readonly out: string;
  readonly avifSpeed: number;
  readonly help: boolean;
}

export const BENCH_COMMAND: CommandSpec = {
  command: 'npm run bench',
  usage: 'npm run bench -- [options]  (npm run bench -- sweep --help for the memory sweep)',
  summary:
    'Runs the codec micro-benchmarks, the pipeline over a corpus and the J1 reference job against sharp and the naive jSquash recipe, and writes bench.json and bench.md.',
  options: [
    { name: 'quick', description: 'Fewer sizes and iterations (a smoke run).' },
    {
      name: 'corpus',
      value: '<dir>',
      description: 'Images for the pipeline suite (default fixtures/photos).',
    },
    { name: 'runs', value: '<n>', description: 'Runs per job after a warm-up, 1-50 (default 3).' },
    { name: 'only', value: '<suite>', description: 'Run one suite: micro, pipeline, j1 or status.' },
    { name: 'out', value: '<dir>', description: 'Where bench.json and bench.md go (default bench/results).' },
    {
      name: 'avif-speed',
      value: '<n>',
      description: 'AVIF speed for J1, 0-9 (default the pipeline default).',
    },
    { name: 'help', short: 'h', description: 'Show this help.' },
  ],
  examples: [
    'npm run bench -- --quick',
    'npm run bench -- --only j1 --runs 5',
    'npm run bench -- sweep --quick',
  ],
  notes: 'Exit status: 0 when the results were written; 2 for a bad flag.',
};

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    process.stderr.write(
      `${BENCH_COMMAND.command}: ${error.message}\nSee '${BENCH_COMMAND.command} -- --help'.\n`,
    );
    return 2;
  }
  if (options.help) {
    process.stdout.write(renderHelp(BENCH_COMMAND));
    return 0;
  }
  if (availableParallelism() < 2) console.warn('Only one CPU is available: the two-vCPU J1 row is skipped.');
  const suites = { micro: microSuite, pipeline: pipelineSuite, j1: j1Suite, status: statusSuite };
  const results: SuiteResult[] = [];
  for (const [name, run] of Object.entries(suites)) {
    if (!options.only || options.only === name) results.push(await run(options));
  }
  const heading = `# imgpipe benchmark\n\n${new Date().toISOString()}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} CPUs, Node ${process.version}\n`;
  await mkdir(options.out, { recursive: true });
  const data = Object.fromEntries(results.map((result) => [result.name, result.data]));
  await writeFile(join(options.out, 'bench.json'), `${JSON.stringify(data, null, 2)}\n`);
  await writeFile(join(options.out, 'bench.md'), [heading, ...results.map((r) => r.markdown)].join('\n'));
  console.log(`\nResults: ${join(options.out, 'bench.json')} and bench.md`);
  return 0;
}

function parseBenchOptions(argv: string[]): BenchOptions {
  const parsed = parseCommandLine(BENCH_COMMAND, argv).values;
  const text = (name: string, fallback: string) => {
    const value = parsed[name];
    return typeof value === 'string' ? value : fallback;
  };
  const values = {
    quick: parsed.quick === true,
    corpus: text('corpus', join(ROOT, 'fixtures/photos')),
    runs: text('runs', '3'),
    only: typeof parsed.only === 'string' ? parsed.only : undefined,
    out: text('out', join(ROOT, 'bench/results')),
    'avif-speed': text('avif-speed', String(DEFAULT_PIPELINE_DOCUMENT.formats.avif.speed)),
  };
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50)
    throw invalidSetting('--runs', 'integer between 1 and 50', values.runs);
  const avifSpeed = Number(values['avif-speed']);
  if (!Number.isInteger(avifSpeed) || avifSpeed < 0 || avifSpeed > 9) {
    throw invalidSetting(
      '--avif-speed',
      'integer between 0 and 9 (sharp effort = 9 - speed)',
      values['avif-speed'],
    );
  }
  const SUITES = ['micro', 'pipeline', 'j1', 'status'] as const;
  const only = values.only as SuiteResult['name'] | undefined;
  if (only !== undefined && !SUITES.includes(only))
    throw invalidSetting('--only', `one of ${SUITES.join(', ')}`, only);
  return {
    quick: values.quick,
    corpus: values.corpus,
    runs,
    only,
    out: values.out,
    avifSpeed,
    help: parsed.help === true,
  };
}

/** Decode, resize and encode of synthetic images per size class, in this process. */
async function microSuite(options: BenchOptions): Promise<SuiteResult> {
  const sizes = options.quick ? SIZE_CLASSES_MP.slice(0, 2) : SIZE_CLASSES_MP;
  const iterations = options.quick ? 2 : options.runs;
  console.log(
    `\n== Codec micro-benchmarks (${sizes.join(', ')} MP; ${iterations} iterations after one warm-up; GC before each task)\n`,
  );
  const rows: MicroRow[] = await runMicro(sizes, iterations);
  console.log(microTable(rows));
  return {
    name: 'micro',
    markdown: `## Codec micro-benchmarks\n\n${microTable(rows, 'markdown')}\n`,
    data: rows,
  };
}

/** The default configuration over every image of the corpus, each in a fresh process on one CPU. */
async function pipelineSuite(options: BenchOptions): Promise<SuiteResult> {
  const files = await collectCorpus([options.corpus]);
  console.log(
    `\n== Pipeline over ${resolve(options.corpus)} (default configuration, one CPU, ${options.runs} runs after one warm-up, each image in a fresh process)\n`,
  );
  const rows: { file: string; result: ChildResult }[] = [];
  for (const input of files) {
    const spec: JobSpec = { job: 'imgpipe', input, workers: 1, config: DEFAULT_PIPELINE_DOCUMENT };
    rows.push({
      file: basename(input),
      result: await runJob(spec, { cpus: '0', warmup: 1, runs: options.runs }),
    });
  }
  const total = {
    file: 'total',
    result: {
      initMs: 0,
      wallMs: [rows.reduce((s, r) => s + median(r.result.wallMs), 0)],
      cpuMs: [rows.reduce((s, r) => s + median(r.result.cpuMs), 0)],
      maxRssBytes: Math.max(...rows.map((r) => r.result.maxRssBytes)),
      outputs: rows.reduce((s, r) => s + r.result.outputs, 0),
    },
  };
  const columns: Column<{ file: string; result: ChildResult }>[] = [
    { header: 'image', value: (r) => r.file },
    { header: 'wall p50 ms', value: (r) => median(r.result.wallMs).toFixed(0), align: 'right' },
    { header: 'CPU p50 ms', value: (r) => median(r.result.cpuMs).toFixed(0), align: 'right' },
    { header: 'peak RSS', value: (r) => formatBytes(r.result.maxRssBytes), align: 'right' },
    { header: 'outputs', value: (r) => r.result.outputs, align: 'right' },
  ];
  console.log(renderTable(columns, [...rows, total]));
  const markdown = `## Pipeline over the corpus\n\n${renderTable(columns, [...rows, total], 'markdown')}\n`;
  return { name: 'pipeline', markdown, data: rows };
}

/** J1 for imgpipe, sharp and naive jSquash on one CPU (imgpipe on two too), and the ratios. */
async function j1Suite(options: BenchOptions): Promise<SuiteResult> {
  const { avifSpeed, runs } = options;
  const document = j1Document(avifSpeed);
  console.log(
    `\n== J1: ${basename(J1_INPUT)} to widths 1600, 800, 320 in JPEG, WebP, AVIF; AVIF speed ${avifSpeed} = sharp effort ${9 - avifSpeed} (${runs} runs after one warm-up)\n`,
  );
  const job = (label: string, spec: JobSpec, cpuList: string): Promise<JobRow> =>
    runJob(spec, { cpus: cpuList, warmup: 1, runs }).then((result) => ({
      label,
      cpus: cpuList.split(',').length,
      result,
    }));
  const rows: JobRow[] = [
    await job('imgpipe', { job: 'imgpipe', input: J1_INPUT, workers: 1, config: document }, '0'),
    await job('sharp (libvips, native)', { job: 'sharp', input: J1_INPUT, avifSpeed }, '0'),
    await job('naive jSquash', { job: 'naive', input: J1_INPUT }, '0'),
  ];
  if (availableParallelism() >= 2)
    rows.push(
      await job(
        'imgpipe, 2 workers',
        { job: 'imgpipe', input: J1_INPUT, workers: 2, config: document },
        '0,1',
      ),
    );
  const ours = rows[0]!.result;
  const wall = (r: ChildResult) => median(r.wallMs);
  const columns: Column<JobRow>[] = [
    { header: 'job', value: (r) => r.label },
    { header: 'CPUs', value: (r) => r.cpus, align: 'right' },
    { header: 'wall p50 ms', value: (r) => wall(r.result).toFixed(0), align: 'right' },
    { header: 'CPU p50 ms', value: (r) => median(r.result.cpuMs).toFixed(0), align: 'right' },
    { header: 'peak RSS', value: (r) => formatBytes(r.result.maxRssBytes), align: 'right' },
    {
      header: 'wall vs imgpipe',
      value: (r) => `${(wall(r.result) / wall(ours)).toFixed(2)}x`,
      align: 'right',
    },
  ];
  console.log(renderTable(columns, rows));
  const ratios = j1Ratios(rows);
  const ratioColumns: Column<Ratio>[] = [
    { header: 'ratio', value: (r) => r.name },
    { header: 'measured', value: (r) => r.value.toFixed(2), align: 'right' },
    { header: 'target', value: (r) => r.target, align: 'right' },
    { header: '', value: (r) => (r.met ? 'met' : 'NOT met') },
  ];
  console.log(`\n${renderTable(ratioColumns, ratios)}`);
  const markdown = `## J1\n\n${renderTable(columns, rows, 'markdown')}\n\n${renderTable(ratioColumns, ratios, 'markdown')}\n`;
  return { name: 'j1', markdown, data: { rows, ratios } };
}

interface Ratio {
  readonly name: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

/** The J1 targets: imgpipe against sharp and the naive recipe on one CPU, and two CPUs against one. */
function j1Ratios([imgpipe, sharp, naive, twoCpus]: readonly JobRow[]): Ratio[] {
  const wall = (row: JobRow) => median(row.result.wallMs);
  const ours = imgpipe!;
  const ratios: Ratio[] = [
    {
      name: 'J1 wall time, imgpipe / sharp (one CPU)',
      value: wall(ours) / wall(sharp!),
      target: '<= 1.00',
      met: wall(ours) <= wall(sharp!),
    },
    {
      name: 'J1 wall time, naive jSquash / imgpipe (one CPU)',
      value: wall(naive!) / wall(ours),
      target: '>= 2.00',
      met: wall(naive!) >= 2 * wall(ours),
    },
    {
      name: 'J1 peak RSS, imgpipe / sharp',
      value: ours.result.maxRssBytes / sharp!.result.maxRssBytes,
      target: '<= 1.00',
      met: ours.result.maxRssBytes <= sharp!.result.maxRssBytes,
    },
  ];
  if (twoCpus) {
    ratios.push({
      name: 'J1 wall time, two CPUs / one CPU (imgpipe)',
      value: wall(twoCpus) / wall(ours),
      target: '<= 0.60',
      met: wall(twoCpus) <= 0.6 * wall(ours),
    });
  }
  return ratios;
}

/** The status table and event path's cost per object against the pipeline's own time. */
async function statusSuite(options: BenchOptions): Promise<SuiteResult> {
  const files = await collectCorpus([options.corpus]);
  console.log(
    `\n== Status and events: the corpus through the S3 handler with the table (dynalite) and a bus (JSON lines)\n`,
  );
  const rows = await runStatusOverhead(files);
  console.log(statusTable(rows));
  return {
    name: 'status',
    markdown: `## Status and events\n\n${statusTable(rows, 'markdown')}\n`,
    data: rows,
  };
}
