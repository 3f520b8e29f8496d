import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandSpec, parseCommandLine, renderHelp, UsageError } from '../../src/cli/args.ts';
import { type Column, formatBytes, renderTable } from '../../src/cli/table.ts';
import { decode, resize } from '../../src/codecs/index.ts';
import { DEFAULT_PIPELINE_DOCUMENT } from '../../src/config/document.ts';
import { ConfigError, invalidSetting } from '../../src/core/errors.ts';
import type { ChildResult } from '../lib/child.ts';
import { collectCorpus } from '../lib/corpus.ts';
import { J1_INPUT, type JobSpec, j1Document } from '../lib/jobs.ts';
import { jpegSamplingOfPeers, type SettingRow, settingsMapping } from '../lib/peers.ts';
import { median, runJob } from '../lib/spawn.ts';
import { writeFileAtomically } from '../lib/write-atomic.ts';
import { cpuModel, gitState } from '../sweep/provenance.ts';
import {
  type AvifEncodeRow,
  avifEncodeComparison,
  NATIVE_ONE_THREAD,
  NATIVE_TWO_THREADS,
  SIMD_ONE_THREAD,
  SIMD_TWO_THREADS,
} from './avif.ts';
import { type MicroRow, microTable, runMicro, SIZE_CLASSES_MP } from './micro.ts';
import { curveSvg, QUALITIES, QUALITY_WIDTH, qualityCurves, qualitySamples, SPEEDS } from './quality.ts';
import { runStatusOverhead, statusTable } from './status.ts';
import {
  ratioTable,
  runTransformBench,
  TRANSFORM_WIDTH,
  transformMapping,
  transformRatios,
  transformRows,
  transformTable,
  verdicts,
} from './transform.ts';

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

/** The suites' common shape: what they print, what goes in bench.md and bench.json. */
export const SUITES = ['micro', 'pipeline', 'avif', 'j1', 'transform', 'status', 'quality'] as const;
/**
 * The suites `npm run bench` runs without --only (quality takes ~15 minutes: ask for it);
 * transform after j1, so that its miss is compared with the J1 ratio of the same run.
 */
const DEFAULT_SUITES: readonly SuiteName[] = ['micro', 'pipeline', 'avif', 'j1', 'transform', 'status'];
type SuiteName = (typeof SUITES)[number];
/** The suites that read --corpus. */
const CORPUS_SUITES: readonly SuiteName[] = ['pipeline', 'j1', 'status', 'quality'];
interface SuiteResult {
  readonly name: SuiteName;
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
  usage:
    'npm run bench -- [options]  (npm run bench -- sweep --help for the memory sweep, memory --help for memory per pixel)',
  summary:
    'Runs the codec micro-benchmarks, the pipeline over a corpus, the J1 reference job against sharp and the naive jSquash recipe, and the on-demand transformation handler against sharp, and writes bench.json and bench.md.',
  options: [
    { name: 'quick', description: 'Fewer sizes and iterations (a smoke run).' },
    {
      name: 'corpus',
      value: '<dir>',
      description: 'Images for the pipeline suite (default fixtures/photos).',
    },
    { name: 'runs', value: '<n>', description: 'Runs per job after a warm-up, 1-50 (default 3).' },
    { name: 'only', value: '<suite>', description: `Run one suite: ${SUITES.join(', ')}.` },
    {
      name: 'out',
      value: '<dir>',
      description:
        'Where bench.json and bench.md go (default bench/results); with --only, bench-<suite>.json and .md.',
    },
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
    'taskset -c 0 npm run bench -- --only transform --runs 20',
    'npm run bench -- sweep --quick',
  ],
  notes: 'Exit status: 0 when the results were written; 2 for a bad flag.',
};

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(argv);
    // The corpus was read by the first suite that uses it, after the micro-benchmarks had run for
    // minutes: a mistyped --corpus then ended the run with a stack trace.
    const selected = options.help ? [] : options.only ? [options.only] : DEFAULT_SUITES;
    if (selected.some((name) => CORPUS_SUITES.includes(name))) await collectCorpus([options.corpus]);
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
  const started = { date: new Date().toISOString(), load: loadavg().map((v) => Math.round(v * 100) / 100) };
  if (availableParallelism() < 2) console.warn('Only one CPU is available: the two-vCPU J1 row is skipped.');
  const results: SuiteResult[] = [];
  const suites: Record<SuiteName, (options: BenchOptions) => Promise<SuiteResult>> = {
    micro: microSuite,
    pipeline: pipelineSuite,
    avif: avifSuite,
    j1: j1Suite,
    transform: (o) => transformSuite(o, results.find((r) => r.name === 'j1')?.data as J1Data | undefined),
    status: statusSuite,
    quality: qualitySuite,
  };
  for (const name of options.only ? [options.only] : DEFAULT_SUITES)
    results.push(await suites[name](options));
  const provenance = benchProvenance(argv, started);
  const git =
    'commit' in provenance.git
      ? `commit ${provenance.git.commit.slice(0, 7)}${provenance.git.dirty ? ' (uncommitted changes)' : ''}`
      : 'no git commit';
  const heading = `# imgpipe benchmark\n\n${provenance.date}, ${git}, ${provenance.cpuModel}, ${provenance.cores} CPUs, Node ${provenance.node}, load average at the start ${provenance.loadAverageAtStart.join(' ')}\n`;
  const { json, markdown } = resultFiles(options.out, options.only);
  const data = { provenance, ...Object.fromEntries(results.map((result) => [result.name, result.data])) };
  await writeFileAtomically(json, `${JSON.stringify(data, null, 2)}\n`);
  await writeFileAtomically(markdown, [heading, ...results.map((r) => r.markdown)].join('\n'));
  console.log(`\nResults: ${json} and ${basename(markdown)}`);
  return 0;
}

/**
 * Where the results go: bench.json and bench.md for a run of the default suites, bench-<suite>.json
 * and .md for --only. A run of one suite (the README's `--only transform --runs 20`, or
 * `--only j1 --runs 5`) wrote bench.json too, and so replaced a full run's results with its own.
 */
export function resultFiles(out: string, only: SuiteName | undefined): { json: string; markdown: string } {
  const name = only ? `bench-${only}` : 'bench';
  return { json: join(out, `${name}.json`), markdown: join(out, `${name}.md`) };
}

/**
 * What the results were measured on, as sweep.json records it: bench.json carried the measurements
 * alone, with no date, commit, machine or load, so a file could not be told from another.
 */
function benchProvenance(argv: readonly string[], started: { date: string; load: number[] }) {
  return {
    date: started.date,
    git: gitState(ROOT),
    cpuModel: cpuModel(),
    cores: cpus().length,
    usableCpus: availableParallelism(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverageAtStart: started.load,
    command: ['npm run bench --', ...argv].join(' '),
  };
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
  // An empty value (an unset variable in a script): --corpus '' is the working directory, every
  // image in the checkout; --out '' wrote bench.json there.
  for (const flag of ['corpus', 'out'] as const) {
    if (values[flag].trim() === '')
      throw invalidSetting(`--${flag}`, flag === 'out' ? 'a folder' : 'a folder or image file', values[flag]);
  }
  const only = values.only as SuiteName | undefined;
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

/**
 * J1 for imgpipe, sharp (tune ssim, as our encoder; and sharp's default tune) and naive jSquash on
 * one CPU (imgpipe on two too), and the ratios; then J1's recipe on every photo of the corpus
 * against sharp, per photo and as the geometric mean, since the ratio depends on the content.
 */
async function j1Suite(options: BenchOptions): Promise<SuiteResult> {
  const { avifSpeed, runs } = options;
  const document = j1Document(avifSpeed);
  console.log(
    `\n== J1: ${basename(J1_INPUT)} to widths 1600, 800, 320 in JPEG, WebP, AVIF; AVIF speed ${avifSpeed} = sharp effort ${9 - avifSpeed} (${runs} runs after one warm-up)\n`,
  );
  const mapping = settingsMapping(avifSpeed);
  const mappingColumns: Column<SettingRow>[] = [
    { header: 'setting', value: (r) => r.setting },
    { header: 'imgpipe', value: (r) => r.imgpipe },
    { header: 'sharp', value: (r) => r.sharp },
  ];
  console.log(renderTable(mappingColumns, mapping));
  const sampling = await jpegSamplingOfPeers();
  console.log(
    `\nJPEG sampling factors written: imgpipe ${sampling.imgpipe}, sharp ${sampling.sharp} (4:2:0 is 2x2,1x1,1x1)\n`,
  );
  if (sampling.imgpipe !== '2x2,1x1,1x1' || sampling.sharp !== '2x2,1x1,1x1')
    console.warn('WARNING: a JPEG peer does not write 4:2:0; the comparison is not at equal settings.');
  // One CPU against sharp, and two CPUs against one, are taken round by round: each round runs a
  // fresh child per job, one after another, so every job samples the same minutes of a shared
  // machine, and each ratio is the median of the rounds' ratios (a ratio of medians taken a minute
  // apart moved by 0.1-0.2 with the host's other tenants). naive jSquash, 5x slower, runs alone.
  const imgpipeSpec: JobSpec = { job: 'imgpipe', input: J1_INPUT, workers: 1, config: document };
  const twoCpus = availableParallelism() >= 2;
  const jobs: InterleavedJob[] = [
    { label: 'imgpipe', spec: imgpipeSpec, cpus: '0' },
    {
      label: 'sharp, tune ssim',
      spec: { job: 'sharp', input: J1_INPUT, avifSpeed, sharpTune: 'ssim' },
      cpus: '0',
    },
    {
      label: 'sharp, default tune (iq)',
      spec: { job: 'sharp', input: J1_INPUT, avifSpeed, sharpTune: 'auto' },
      cpus: '0',
    },
    ...(twoCpus
      ? [
          {
            label: 'imgpipe, 2 workers',
            spec: { job: 'imgpipe', input: J1_INPUT, workers: 2, config: document } as JobSpec,
            cpus: '0,1',
          },
          // The machine's own floor for two CPUs: two independent J1s at once, one per CPU. With
          // no shared hardware they would each take J1's one-CPU time; what they lose to each
          // other (shared caches, memory bandwidth, the host's other tenants) no split of one job
          // can win back.
          { label: 'imgpipe x2 at once, 1 CPU each', spec: imgpipeSpec, cpus: '0', twin: '1' },
        ]
      : []),
  ];
  const { rows: interleavedRows, rounds } = await runInterleaved(jobs, runs);
  const naive: JobRow = {
    label: 'naive jSquash',
    cpus: 1,
    result: await runJob({ job: 'naive', input: J1_INPUT }, pinned(runs)),
  };
  // The order j1Ratios reads: imgpipe, sharp, sharp's default, naive, two CPUs, two copies.
  const rows: JobRow[] = [...interleavedRows.slice(0, 3), naive, ...interleavedRows.slice(3)];
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
  const roundColumns: Column<[number, RoundResult]>[] = [
    { header: 'round', value: ([i]) => i + 1, align: 'right' },
    ...jobs.map(
      (job): Column<[number, RoundResult]> => ({
        header: `${job.label}, wall ms`,
        value: ([, round]) => round[job.label]!.wall.toFixed(0),
        align: 'right',
      }),
    ),
  ];
  const roundTable = (format?: 'markdown') => renderTable(roundColumns, [...rounds.entries()], format);
  console.log(
    `\nEach round's median wall time (the ratios below are the median of the rounds' ratios):\n${roundTable()}`,
  );

  // J1's recipe on each photo of the corpus, imgpipe against sharp (tune ssim), one CPU.
  const photos = [...(await collectCorpus([options.corpus])), J1_INPUT];
  const perPhoto: PhotoRatio[] = [];
  for (const input of photos) {
    const imgpipe =
      input === J1_INPUT
        ? ours
        : await runJob({ job: 'imgpipe', input, workers: 1, config: document }, pinned(runs));
    const sharp =
      input === J1_INPUT
        ? rows[1]!.result
        : await runJob({ job: 'sharp', input, avifSpeed, sharpTune: 'ssim' }, pinned(runs));
    const cpu = (r: ChildResult) => median(r.cpuMs);
    perPhoto.push({
      photo: basename(input),
      imgpipeMs: wall(imgpipe),
      sharpMs: wall(sharp),
      ratio: wall(imgpipe) / wall(sharp),
      cpuRatio: cpu(imgpipe) / cpu(sharp),
    });
  }
  const geo = (values: number[]) => Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);
  const geomean = geo(perPhoto.map((p) => p.ratio));
  const cpuGeomean = geo(perPhoto.map((p) => p.cpuRatio));
  const photoColumns: Column<PhotoRatio>[] = [
    { header: 'photo', value: (r) => r.photo },
    { header: 'imgpipe wall p50 ms', value: (r) => r.imgpipeMs?.toFixed(0) ?? '', align: 'right' },
    { header: 'sharp (ssim) wall p50 ms', value: (r) => r.sharpMs?.toFixed(0) ?? '', align: 'right' },
    { header: 'imgpipe / sharp, wall', value: (r) => r.ratio.toFixed(2), align: 'right' },
    { header: 'imgpipe / sharp, CPU', value: (r) => r.cpuRatio.toFixed(2), align: 'right' },
  ];
  const photoRows: PhotoRatio[] = [
    ...perPhoto,
    { photo: 'geometric mean', ratio: geomean, cpuRatio: cpuGeomean },
  ];
  const photoTable = (format?: 'markdown') => renderTable(photoColumns, photoRows, format);
  console.log(`\n${photoTable()}`);

  const ratios = j1Ratios(rows, geomean, rounds);
  const ratioColumns: Column<Ratio>[] = [
    { header: 'ratio', value: (r) => r.name },
    { header: 'measured', value: (r) => r.value.toFixed(2), align: 'right' },
    { header: 'target', value: (r) => r.target, align: 'right' },
    { header: '', value: (r) => (r.met === undefined ? '' : r.met ? 'met' : 'NOT met') },
  ];
  console.log(`\n${renderTable(ratioColumns, ratios)}`);
  const markdown = [
    '## J1',
    '',
    renderTable(mappingColumns, mapping, 'markdown'),
    '',
    `JPEG sampling factors written: imgpipe ${sampling.imgpipe}, sharp ${sampling.sharp}.`,
    '',
    renderTable(columns, rows, 'markdown'),
    '',
    roundTable('markdown'),
    '',
    photoTable('markdown'),
    '',
    renderTable(ratioColumns, ratios, 'markdown'),
    '',
  ].join('\n');
  return { name: 'j1', markdown, data: { mapping, sampling, rows, perPhoto, geomean, cpuGeomean, ratios } };
}

const pinned = (runs: number) => ({ cpus: '0', warmup: 1, runs });

interface PhotoRatio {
  readonly photo: string;
  readonly imgpipeMs?: number;
  readonly sharpMs?: number;
  /** Wall time, imgpipe / sharp. */
  readonly ratio: number;
  /** CPU time, imgpipe / sharp: what a busy machine distorts least. */
  readonly cpuRatio: number;
}

interface Ratio {
  readonly name: string;
  readonly value: number;
  readonly target: string;
  readonly met?: boolean;
}

/** The J1 targets: imgpipe against sharp and the naive recipe on one CPU, and two CPUs against one. */
function j1Ratios(
  [imgpipe, sharp, , naive, twoCpus, twoCopies]: readonly JobRow[],
  geomean: number,
  rounds: readonly RoundResult[],
): Ratio[] {
  const wall = (row: JobRow) => median(row.result.wallMs);
  const ours = imgpipe!;
  // Round by round (runInterleaved), then the median; `of` picks a job's figure in a round.
  const paired = (a: string, b: string, of: (r: RoundResult[string]) => number = (r) => r.wall) =>
    median(rounds.map((round) => of(round[a]!) / of(round[b]!)));
  const oneCpu = paired('imgpipe', 'sharp, tune ssim');
  const ratios: Ratio[] = [
    {
      name: 'J1 wall time, imgpipe / sharp tune ssim (one CPU)',
      value: oneCpu,
      target: '<= 1.20',
      met: oneCpu <= 1.2,
    },
    {
      name: "J1 wall time, imgpipe / sharp's default tune (one CPU)",
      value: paired('imgpipe', 'sharp, default tune (iq)'),
      target: '',
    },
    {
      name: 'J1 CPU time, imgpipe / sharp tune ssim (one CPU)',
      value: paired('imgpipe', 'sharp, tune ssim', (r) => r.cpu),
      target: '',
    },
    {
      name: 'J1 recipe, imgpipe / sharp tune ssim, geometric mean over the corpus',
      value: geomean,
      target: '<= 1.20',
      met: geomean <= 1.2,
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
    const value = paired('imgpipe, 2 workers', 'imgpipe');
    ratios.push({
      name: 'J1 wall time, two CPUs / one CPU (imgpipe)',
      value,
      target: '<= 0.55',
      met: value <= 0.55,
    });
  }
  if (twoCopies) {
    ratios.push({
      name: "Two CPUs' floor on this machine: 0.5 x (J1 beside another J1) / J1 alone",
      value: 0.5 * paired('imgpipe x2 at once, 1 CPU each', 'imgpipe'),
      target: '',
    });
  }
  return ratios;
}

interface InterleavedJob {
  readonly label: string;
  readonly spec: JobSpec;
  readonly cpus: string;
  /** A second copy of the job at the same time, on these CPUs (the two-CPU floor). */
  readonly twin?: string;
}

/** Each job's median wall and CPU time in one round (a twin's: over both copies' runs). */
type RoundResult = Record<string, { wall: number; cpu: number }>;

/**
 * `rounds` rounds; in each, every job in turn in a fresh child (one warm-up, two measured runs).
 * The rows hold every round's runs; `rounds` each round's figures, for ratios taken per round.
 */
async function runInterleaved(
  jobs: readonly InterleavedJob[],
  count: number,
): Promise<{ rows: JobRow[]; rounds: RoundResult[] }> {
  const results = new Map<string, ChildResult[]>(jobs.map((job) => [job.label, []]));
  const rounds: RoundResult[] = [];
  for (let round = 0; round < count; round++) {
    const figures: RoundResult = {};
    for (const job of jobs) {
      const options = { warmup: 1, runs: 2 };
      const children = await Promise.all([
        runJob(job.spec, { ...options, cpus: job.cpus }),
        ...(job.twin ? [runJob(job.spec, { ...options, cpus: job.twin })] : []),
      ]);
      results.get(job.label)!.push(...children);
      const all = (pick: (r: ChildResult) => number[]) => children.flatMap(pick);
      figures[job.label] = { wall: median(all((r) => r.wallMs)), cpu: median(all((r) => r.cpuMs)) };
    }
    rounds.push(figures);
  }
  const rows = jobs.map((job): JobRow => {
    const children = results.get(job.label)!;
    return {
      label: job.label,
      cpus: job.twin ? 2 : job.cpus.split(',').length,
      result: {
        initMs: median(children.map((c) => c.initMs)),
        wallMs: children.flatMap((c) => c.wallMs),
        cpuMs: children.flatMap((c) => c.cpuMs),
        maxRssBytes: Math.max(...children.map((c) => c.maxRssBytes)),
        outputs: children[0]!.outputs,
      },
    };
  });
  return { rows, rounds };
}

type J1Data = { readonly ratios: readonly Ratio[] };

/**
 * The on-demand transformation handler: misses and hits of w=640 WebP and AVIF from the bench
 * photo against sharp, in this process, one thread, beside processImage alone (the codecs' floor);
 * ratios hit / miss, miss / sharp and processImage alone / sharp, miss / sharp against the J1
 * ratio when J1 ran before it in this invocation.
 */
async function transformSuite(options: BenchOptions, j1Data?: J1Data): Promise<SuiteResult> {
  console.log(
    `\n== On-demand transformations: ${basename(J1_INPUT)} (15.9 MP) to w=${TRANSFORM_WIDTH} WebP and AVIF through createTransformHandler (s3rver in a process of its own, on the last CPU where there are two or more; signed; in-thread encoder) against sharp (one thread); miss, hit, processImage alone, sharp interleaved, ${options.runs} runs after one warm-up\n`,
  );
  const { samples, avifSpeed } = await runTransformBench(options.runs);
  const mapping = transformMapping(avifSpeed);
  const mappingColumns: Column<SettingRow>[] = [
    { header: 'setting', value: (r) => r.setting },
    { header: 'imgpipe', value: (r) => r.imgpipe },
    { header: 'sharp', value: (r) => r.sharp },
  ];
  const rows = transformRows(samples);
  const ratios = transformRatios(rows);
  const ratio = (name: string) => j1Data?.ratios.find((r) => r.name === name)?.value;
  const j1Wall = ratio('J1 wall time, imgpipe / sharp tune ssim (one CPU)');
  const j1Cpu = ratio('J1 CPU time, imgpipe / sharp tune ssim (one CPU)');
  const j1 = j1Wall !== undefined && j1Cpu !== undefined ? { wall: j1Wall, cpu: j1Cpu } : undefined;
  const lines = verdicts(ratios, j1);
  console.log(renderTable(mappingColumns, mapping));
  console.log(`\n${transformTable(rows)}\n\n${ratioTable(ratios)}\n\n${lines.join('\n')}`);
  const markdown = [
    '## On-demand transformations',
    '',
    renderTable(mappingColumns, mapping, 'markdown'),
    '',
    transformTable(rows, 'markdown'),
    '',
    ratioTable(ratios, 'markdown'),
    '',
    ...lines.map((line) => `- ${line}`),
    '',
  ].join('\n');
  return { name: 'transform', markdown, data: { mapping, samples, rows, ratios, j1 } };
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

/** One AVIF encode (1600x900) in our SIMD module, jSquash's, native aom and sharp; CPU and wall time. */
async function avifSuite(options: BenchOptions): Promise<SuiteResult> {
  console.log(
    `\n== AVIF encode at equal settings: 1600x900 crop of ${basename(J1_INPUT)}, quality 50, speed 6 (cpu-used 6), tune ssim, 4:2:0, one and two threads (${options.runs} runs after one warm-up, interleaved)\n`,
  );
  const source = await decode('jpeg', await readFile(J1_INPUT), 2);
  const height = Math.round((source.height * 1600) / source.width);
  const resized = await resize(source, 1600, height, {
    method: 'lanczos3',
    linearRGB: false,
    premultiply: false,
  });
  const top = Math.floor((height - 900) / 2);
  const crop = { width: 1600, height: 900, data: resized.data.slice(top * 1600 * 4, (top + 900) * 1600 * 4) };
  const rows = await avifEncodeComparison(crop, options.runs);
  const row = (name: string) => rows.find((r) => r.encoder === name);
  const simd = median(row(SIMD_ONE_THREAD)!.cpuMs);
  const columns: Column<AvifEncodeRow>[] = [
    { header: 'encoder', value: (r) => r.encoder },
    { header: 'CPU p50 ms', value: (r) => median(r.cpuMs).toFixed(0), align: 'right' },
    { header: 'wall p50 ms', value: (r) => median(r.wallMs).toFixed(0), align: 'right' },
    { header: 'bytes', value: (r) => r.bytes, align: 'right' },
    { header: 'same bytes as SIMD, same threads', value: (r) => (r.sameAsSimd ? 'yes' : 'no') },
    {
      header: 'SIMD 1 thread / this, CPU',
      value: (r) => `${(simd / median(r.cpuMs)).toFixed(2)}x`,
      align: 'right',
    },
  ];
  console.log(renderTable(columns, rows));
  const native = row(NATIVE_ONE_THREAD);
  const ratio = native ? simd / median(native.cpuMs) : undefined;
  const simd2 = row(SIMD_TWO_THREADS)!;
  const native2 = row(NATIVE_TWO_THREADS);
  const verdict =
    ratio === undefined || !native2
      ? 'AVIF encode, imgpipe SIMD / native aom: not measured (no native build)'
      : [
          `AVIF encode, imgpipe SIMD / native aom 3.6.0, one thread, CPU: ${ratio.toFixed(2)} (target <= 1.50: ${ratio <= 1.5 ? 'met' : 'NOT met'})`,
          `two threads: CPU ${(median(simd2.cpuMs) / median(native2.cpuMs)).toFixed(2)}, wall ${(median(simd2.wallMs) / median(native2.wallMs)).toFixed(2)}; SIMD two threads / one thread, wall: ${(median(simd2.wallMs) / median(row(SIMD_ONE_THREAD)!.wallMs)).toFixed(2)}`,
        ].join('\n');
  console.log(`\n${verdict}`);
  return {
    name: 'avif',
    markdown: `## AVIF encode at equal settings\n\n${renderTable(columns, rows, 'markdown')}\n\n${verdict}\n`,
    data: { rows, ratio },
  };
}

/** The AVIF quality curve (speeds 6-9, qualities 35-75) over the corpus and the bench photo. */
async function qualitySuite(options: BenchOptions): Promise<SuiteResult> {
  const files = [...(await collectCorpus([options.corpus])), J1_INPUT];
  console.log(
    `\n== AVIF quality curve: ${files.length} photos at ${QUALITY_WIDTH} px, speeds ${SPEEDS.join(', ')} x qualities ${QUALITIES.join(', ')}, Butteraugli 3-norm\n`,
  );
  const samples = await qualitySamples(files);
  const curves = qualityCurves(samples);
  const rows = curves.flatMap((c) => c.points.map((p) => ({ curve: c.label, ...p })));
  const columns: Column<(typeof rows)[number]>[] = [
    { header: 'equal score to', value: (r) => r.curve },
    { header: 'speed', value: (r) => r.speed, align: 'right' },
    { header: 'quality', value: (r) => r.quality.toFixed(1), align: 'right' },
    { header: 'KB (corpus)', value: (r) => (r.bytes / 1000).toFixed(1), align: 'right' },
    { header: 'CPU s (corpus)', value: (r) => (r.cpuMs / 1000).toFixed(2), align: 'right' },
  ];
  console.log(renderTable(columns, rows));
  await mkdir(options.out, { recursive: true });
  const svg = join(options.out, 'avif-quality.svg');
  await writeFile(svg, curveSvg(curves, DEFAULT_PIPELINE_DOCUMENT.formats.avif));
  console.log(`\nChart: ${svg}`);
  return {
    name: 'quality',
    markdown: `## AVIF quality curve\n\n${renderTable(columns, rows, 'markdown')}\n\n![curve](avif-quality.svg)\n`,
    data: { samples, curves },
  };
}
