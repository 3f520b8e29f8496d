import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Column, formatBytes, renderTable } from '../../src/cli/table.ts';
import { invalidSetting } from '../../src/config/check.ts';
import { DEFAULT_PIPELINE_DOCUMENT } from '../../src/config/pipeline.ts';
import type { ChildResult } from '../lib/child.ts';
import { J1_INPUT, type JobSpec, j1Document } from '../lib/jobs.ts';
import { median, runJob } from '../lib/spawn.ts';
import { type MicroRow, microTable, runMicro, SIZE_CLASSES_MP } from './micro.ts';

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

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      corpus: { type: 'string', default: join(ROOT, 'fixtures/photos') },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench/results') },
      'avif-speed': { type: 'string', default: String(DEFAULT_PIPELINE_DOCUMENT.formats.avif.speed) },
    },
  });
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
  const only = values.only;
  if (only !== undefined && !['micro', 'pipeline', 'j1'].includes(only))
    throw invalidSetting('--only', 'one of micro, pipeline, j1', only);
  if (availableParallelism() < 2) console.warn('Only one CPU is available: the two-vCPU J1 row is skipped.');
  const report: string[] = [
    `# imgpipe benchmark\n\n${new Date().toISOString()}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} CPUs, Node ${process.version}\n`,
  ];
  const results: Record<string, unknown> = {};

  if (!only || only === 'micro') {
    const sizes = values.quick ? SIZE_CLASSES_MP.slice(0, 2) : SIZE_CLASSES_MP;
    console.log(
      `\n== Codec micro-benchmarks (${sizes.join(', ')} MP; ${values.quick ? 2 : runs} iterations after one warm-up; GC before each task)\n`,
    );
    const rows: MicroRow[] = await runMicro(sizes, values.quick ? 2 : runs);
    console.log(microTable(rows));
    report.push(`## Codec micro-benchmarks\n\n${microTable(rows, 'markdown')}\n`);
    results.micro = rows;
  }

  if (!only || only === 'pipeline') {
    const corpus = resolve(values.corpus);
    const files = (await readdir(corpus)).filter((name) => /\.(jpe?g|png|webp|avif)$/i.test(name)).sort();
    if (files.length === 0)
      throw invalidSetting('--corpus', 'a folder with JPEG, PNG, WebP or AVIF files', values.corpus);
    console.log(
      `\n== Pipeline over ${corpus} (default configuration, one CPU, ${runs} runs after one warm-up, each image in a fresh process)\n`,
    );
    const rows: { file: string; result: ChildResult }[] = [];
    for (const file of files) {
      const spec: JobSpec = {
        job: 'imgpipe',
        input: join(corpus, file),
        workers: 1,
        config: DEFAULT_PIPELINE_DOCUMENT,
      };
      rows.push({ file, result: await runJob(spec, { cpus: '0', warmup: 1, runs }) });
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
    report.push(`## Pipeline over the corpus\n\n${renderTable(columns, [...rows, total], 'markdown')}\n`);
    results.pipeline = rows;
  }

  if (!only || only === 'j1') {
    const document = j1Document(avifSpeed);
    console.log(
      `\n== J1: ${J1_INPUT.split('/').at(-1)} to widths 1600, 800, 320 in JPEG, WebP, AVIF; AVIF speed ${avifSpeed} = sharp effort ${9 - avifSpeed} (${runs} runs after one warm-up)\n`,
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
    const [, sharp, naive, twoCpus] = rows;
    const ratios = [
      {
        name: 'J1 wall time, imgpipe / sharp (one CPU)',
        value: wall(ours) / wall(sharp!.result),
        target: '<= 1.00',
        met: wall(ours) <= wall(sharp!.result),
      },
      {
        name: 'J1 wall time, naive jSquash / imgpipe (one CPU)',
        value: wall(naive!.result) / wall(ours),
        target: '>= 2.00',
        met: wall(naive!.result) >= 2 * wall(ours),
      },
      {
        name: 'J1 peak RSS, imgpipe / sharp',
        value: ours.maxRssBytes / sharp!.result.maxRssBytes,
        target: '<= 1.00',
        met: ours.maxRssBytes <= sharp!.result.maxRssBytes,
      },
    ];
    if (twoCpus) {
      ratios.push({
        name: 'J1 wall time, two CPUs / one CPU (imgpipe)',
        value: wall(twoCpus.result) / wall(ours),
        target: '<= 0.60',
        met: wall(twoCpus.result) <= 0.6 * wall(ours),
      });
    }
    const ratioColumns: Column<(typeof ratios)[number]>[] = [
      { header: 'ratio', value: (r) => r.name },
      { header: 'measured', value: (r) => r.value.toFixed(2), align: 'right' },
      { header: 'target', value: (r) => r.target, align: 'right' },
      { header: '', value: (r) => (r.met ? 'met' : 'NOT met') },
    ];
    console.log(`\n${renderTable(ratioColumns, ratios)}`);
    report.push(
      `## J1\n\n${renderTable(columns, rows, 'markdown')}\n\n${renderTable(ratioColumns, ratios, 'markdown')}\n`,
    );
    results.j1 = { rows, ratios };
  }

  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(values.out, 'bench.md'), `${report.join('\n')}`);
  console.log(`\nResults: ${join(values.out, 'bench.json')} and bench.md`);
  return 0;
}
