import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type CommandSpec, parseCommandLine, renderHelp, UsageError } from '../../src/cli/args.ts';
import { type Column, renderTable } from '../../src/cli/table.ts';
import { encode } from '../../src/codecs/index.ts';
import { decodeCost, ENCODE_COST } from '../../src/codecs/memory.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { FORMAT_META } from '../../src/core/formats.ts';
import { IMAGE_ENV } from '../../src/core/runtime.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { estimateMemory } from '../../src/pipeline/memory-budget.ts';
import { planSteps } from '../../src/pipeline/plan.ts';
import { bandSplitRow, loadShrink } from '../../src/pipeline/process-image.ts';
import type { Task, TaskResult } from './child.ts';
import { pattern } from './patterns.ts';

/**
 * `npm run bench -- memory`: what an image costs in memory, measured as the sweep measures (peak
 * RSS of a fresh Node process set up as the function is, in the container image's environment),
 * to give src/codecs/memory.ts its figures and to check the estimate made from them.
 *
 * 1. Baseline: a process set up with 1 thread (encoding in it) and with 2 and 3 encoder threads;
 *    and the same after one 1600x1200 image of each input format (warm: codec heaps under 48 MiB
 *    are kept between images).
 * 2. Decoding, per kind of input (format, bit depth, channels, chroma subsampling): synthetic
 *    images at two sizes, decoded alone. Bytes per pixel = the most of the slope between the two
 *    sizes and each size's (peak - set-up RSS) / pixels: WASM heaps grow in steps, so a slope
 *    alone can come out low.
 * 3. Encoding per format, of a smooth gradient and of text-like screen content (libaom spends
 *    several times more on the second), and the resampler, the same way per pixel.
 * 4. The check: processImage() on the synthetic images with several pipeline documents and
 *    encoder threads, in a process made warm by one 1600x1200 image of each input format first,
 *    the estimate (pipeline/memory-budget.ts) beside the measured peak. An estimate below what was
 *    measured is a failure (exit status 1).
 */
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Sources {
  readonly rgb8: string;
  readonly rgba8: string;
  readonly rgb16: string;
  readonly rgba16: string;
  /** Text-like strokes on white (patterns.ts), as PNG bytes. */
  screen(): Promise<Uint8Array>;
}

interface Kind {
  readonly name: string;
  readonly ext: string;
  make(sources: Sources, out: string): Promise<void>;
}

const CONVERT = process.env.CONVERT ?? 'convert';
/** The Debian package of each tool the inputs are made with. */
const PACKAGES: Readonly<Record<string, string>> = {
  convert: 'imagemagick',
  avifenc: 'libavif-bin',
  'heif-enc': 'libheif-examples',
  cwebp: 'webp',
};

/** A tool the inputs are made with is not installed: a message, not a stack trace. */
export class MissingToolError extends Error {}

const tool = (command: string, ...args: string[]) =>
  run(command, args, { maxBuffer: 64 * 1024 * 1024 }).then(
    () => undefined,
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      const name = command.split('/').at(-1)!;
      throw new MissingToolError(
        `${command} was not found (is it installed? Debian: ${PACKAGES[name] ?? 'no package known'}): the memory suite makes its inputs with ImageMagick's convert (or CONVERT), cwebp, avifenc and heif-enc`,
      );
    },
  );
const convert = (input: string, ...args: string[]) => tool(CONVERT, input, ...args);
const avifenc = (input: string, out: string, ...args: string[]) =>
  tool('avifenc', '-s', '10', '-j', '1', '--min', '20', '--max', '30', ...args, input, out);
const heifenc = (input: string, out: string) => tool('heif-enc', '-q', '50', input, '-o', out);
const cwebp = (input: string, out: string, ...args: string[]) =>
  tool('cwebp', '-quiet', ...args, input, '-o', out);

const KINDS: readonly Kind[] = [
  {
    name: 'jpeg 4:2:0',
    ext: 'jpg',
    make: (s, o) => convert(s.rgb8, '-quality', '85', '-sampling-factor', '2x2,1x1,1x1', o),
  },
  {
    name: 'jpeg gray',
    ext: 'jpg',
    make: (s, o) => convert(s.rgb8, '-colorspace', 'Gray', '-quality', '85', o),
  },
  {
    name: 'png 8-bit gray',
    ext: 'png',
    make: (s, o) => convert(s.rgb8, '-colorspace', 'Gray', '-depth', '8', `PNG:${o}`),
  },
  { name: 'png 8-bit palette', ext: 'png', make: (s, o) => convert(s.rgb8, '-colors', '200', `PNG8:${o}`) },
  { name: 'png 8-bit RGB', ext: 'png', make: (s, o) => convert(s.rgb8, `PNG24:${o}`) },
  { name: 'png 8-bit RGBA', ext: 'png', make: (s, o) => convert(s.rgba8, `PNG32:${o}`) },
  {
    name: 'png 16-bit gray',
    ext: 'png',
    make: (s, o) => convert(s.rgb16, '-colorspace', 'Gray', '-depth', '16', `PNG:${o}`),
  },
  { name: 'png 16-bit RGB', ext: 'png', make: (s, o) => convert(s.rgb16, `PNG48:${o}`) },
  { name: 'png 16-bit RGBA', ext: 'png', make: (s, o) => convert(s.rgba16, `PNG64:${o}`) },
  { name: 'png screen', ext: 'png', make: async (s, o) => writeFile(o, await s.screen()) },
  { name: 'webp lossy', ext: 'webp', make: (s, o) => cwebp(s.rgb8, o, '-q', '80') },
  { name: 'webp lossy alpha', ext: 'webp', make: (s, o) => cwebp(s.rgba8, o, '-q', '80') },
  { name: 'webp lossless', ext: 'webp', make: (s, o) => cwebp(s.rgb8, o, '-lossless', '-z', '1') },
  { name: 'webp lossless alpha', ext: 'webp', make: (s, o) => cwebp(s.rgba8, o, '-lossless', '-z', '1') },
  { name: 'avif 8-bit 4:0:0', ext: 'avif', make: (s, o) => avifenc(s.rgb8, o, '-d', '8', '-y', '400') },
  { name: 'avif 8-bit 4:2:0', ext: 'avif', make: (s, o) => avifenc(s.rgb8, o, '-d', '8', '-y', '420') },
  { name: 'avif 8-bit 4:4:4', ext: 'avif', make: (s, o) => avifenc(s.rgb8, o, '-d', '8', '-y', '444') },
  {
    name: 'avif 8-bit 4:2:0 alpha',
    ext: 'avif',
    make: (s, o) => avifenc(s.rgba8, o, '-d', '8', '-y', '420'),
  },
  { name: 'avif 10-bit 4:2:0', ext: 'avif', make: (s, o) => avifenc(s.rgb16, o, '-d', '10', '-y', '420') },
  { name: 'avif 10-bit 4:4:4', ext: 'avif', make: (s, o) => avifenc(s.rgb16, o, '-d', '10', '-y', '444') },
  {
    name: 'avif 10-bit 4:4:4 alpha',
    ext: 'avif',
    make: (s, o) => avifenc(s.rgba16, o, '-d', '10', '-y', '444'),
  },
  { name: 'avif 12-bit 4:4:4', ext: 'avif', make: (s, o) => avifenc(s.rgb16, o, '-d', '12', '-y', '444') },
  // heif-enc (libheif-examples, x265) writes 8-bit from 8-bit PNG and 10-bit from 16-bit PNG.
  { name: 'heic 8-bit 4:2:0', ext: 'heic', make: (s, o) => heifenc(s.rgb8, o) },
  { name: 'heic 8-bit 4:2:0 alpha', ext: 'heic', make: (s, o) => heifenc(s.rgba8, o) },
  { name: 'heic 10-bit 4:2:0', ext: 'heic', make: (s, o) => heifenc(s.rgb16, o) },
  { name: 'gif', ext: 'gif', make: (s, o) => convert(s.rgb8, '-colors', '200', `GIF:${o}`) },
];

/** processImage() runs whose estimate is checked against the measured peak. */
const CHECKS: readonly {
  kinds: RegExp;
  size: 'small' | 'large';
  label: string;
  document?: unknown;
  workers: number;
}[] = [
  { kinds: /./, size: 'large', label: 'default variants', workers: 1 },
  {
    kinds: /^(jpeg 4:2:0|png 8-bit RGBA|avif 8-bit 4:2:0)$/,
    size: 'large',
    label: 'default variants, 2 encoder threads',
    workers: 2,
  },
  {
    kinds: /^(jpeg 4:2:0|png 8-bit RGB|png 16-bit RGBA|webp lossy|avif 10-bit 4:4:4)$/,
    size: 'small',
    label: 'a full-size JPEG and WebP variant',
    document: { variants: [{ name: 'full' }], formats: { jpeg: {}, webp: {} } },
    workers: 1,
  },
  {
    kinds: /^(png 8-bit RGB|png screen)$/,
    size: 'small',
    label: 'full size and 0.8x, JPEG, WebP, AVIF, 2 encoder threads',
    document: { variants: [{ name: 'full' }, { name: 'most', width: 3200 }] },
    workers: 2,
  },
  {
    kinds: /^(png screen)$/,
    size: 'small',
    label: 'a 3200-wide AVIF variant',
    document: { variants: [{ name: 'wide', width: 3200 }], formats: { avif: {} } },
    workers: 1,
  },
  {
    kinds: /^(png 8-bit RGB|jpeg 4:2:0)$/,
    size: 'small',
    label: 'a 2900x2900 cover square and a 1000-wide variant',
    document: {
      variants: [
        { name: 'square', width: 2900, height: 2900, fit: 'cover' },
        { name: 'medium', width: 1000 },
      ],
    },
    workers: 1,
  },
];

async function makeSources(dir: string, width: number, height: number): Promise<Sources> {
  const size = `${width}x${height}`;
  const at = (name: string) => join(dir, `${name}-${size}.png`);
  const screen = () =>
    encode(
      'png',
      pattern('screen', width, height),
      parsePipelineConfig({ formats: { png: {} } }).formatOptions,
    );
  const made = { rgb8: at('rgb8'), rgba8: at('rgba8'), rgb16: at('rgb16'), rgba16: at('rgba16'), screen };
  if (existsSync(at('rgba16'))) return made;
  const colour = ['-size', size, 'gradient:#e04010-#1040e0'];
  const alpha = [
    '(',
    '-size',
    size,
    'gradient:white-black',
    ')',
    '-alpha',
    'off',
    '-compose',
    'CopyOpacity',
    '-composite',
  ];
  await tool(CONVERT, ...colour, `PNG24:${at('rgb8')}`);
  await tool(CONVERT, ...colour, ...alpha, `PNG32:${at('rgba8')}`);
  await tool(CONVERT, ...colour, '-depth', '16', `PNG48:${at('rgb16')}`);
  await tool(CONVERT, ...colour, ...alpha, '-depth', '16', `PNG64:${at('rgba16')}`);
  return made;
}

async function measure(task: Task): Promise<TaskResult> {
  const { stdout } = await run(process.execPath, ['--expose-gc', CHILD, JSON.stringify(task)], {
    env: { ...process.env, ...IMAGE_ENV },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as TaskResult;
}

/** Bytes per pixel of two measurements: the most of the slope and of each one's cost per pixel. */
function perPixel(a: TaskResult, b: TaskResult): { slope: number; bytesPerPixel: number } {
  const over = (r: TaskResult) => (r.peakBytes - r.readyRssBytes) / r.pixels;
  const slope = (b.peakBytes - a.peakBytes) / (b.pixels - a.pixels);
  return { slope, bytesPerPixel: Math.max(slope, over(a), over(b)) };
}

interface PairRow {
  readonly what: string;
  readonly small: TaskResult;
  readonly large: TaskResult;
  /** What src/codecs/memory.ts has for it, where it has a figure. */
  readonly table?: number;
}

interface CheckRow {
  readonly kind: string;
  readonly label: string;
  readonly workers: number;
  readonly pixels: number;
  readonly measuredBytes: number;
  readonly estimateBytes: number;
}

async function estimateFor(file: string, document: unknown, workers: number): Promise<number> {
  const config = parsePipelineConfig(document ?? {});
  const bytes = new Uint8Array(await readFile(file));
  const header = inspectImage(bytes, {
    maxPixels: 1e9,
    maxBytes: 1e10,
    maxSecondsPerImage: 3600,
  });
  const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, config.variants);
  const shrink = loadShrink(header, steps);
  const decoded = { width: Math.ceil(header.width / shrink), height: Math.ceil(header.height / shrink) };
  // With two or more threads a large sequential JPEG is decoded in two bands (process-image.ts).
  const split = bandSplitRow(header, decoded, workers);
  const rows = split === undefined ? 0 : decoded.height - split;
  return estimateMemory(header, decoded, steps, workers, rows, bytes.length).bytes;
}

const PHASES = ['baseline', 'decode', 'encode', 'resize', 'check'] as const;

/** The flags and the help, parsed by the CLI's parser (its messages and "did you mean"). */
export const MEMORY_COMMAND: CommandSpec = {
  command: 'npm run bench -- memory',
  usage: 'npm run bench -- memory [options]',
  summary:
    "Measures what each kind of input image costs in memory per pixel (decoders, encoders, the resampler), for the figures in src/codecs/memory.ts, then checks the function's estimate against processImage(). Writes memory.json and memory.md to --out.",
  options: [
    {
      name: 'phases',
      value: '<list>',
      description: `What to run, comma-separated (default ${PHASES.join(',')}).`,
    },
    {
      name: 'only',
      value: '<regex>',
      description:
        "Kinds of input ('png 16-bit RGBA', 'avif 10-bit 4:4:4 alpha', ...) and encoders ('encode avif') to run (default all).",
    },
    {
      name: 'sizes',
      value: '<WxH,WxH>',
      description: 'The two sizes of each synthetic input (default 4000x3000,6000x4000).',
    },
    { name: 'images', value: '<dir>', description: 'Keep the synthetic images there and reuse them.' },
    {
      name: 'out',
      value: '<dir>',
      description: 'Where memory.json and memory.md go (default bench/results).',
    },
    { name: 'help', short: 'h', description: 'Show this help.' },
  ],
  examples: [
    'npm run bench -- memory',
    "npm run bench -- memory --only 'avif' --phases decode",
    'npm run bench -- memory --images /tmp/imgs --phases check',
  ],
  notes:
    'Exit status: 0 when every estimate is at or above the measured peak; 1 when one is below or a tool that makes the inputs is missing; 2 for a bad flag.',
};

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseCommandLine(MEMORY_COMMAND, argv).values;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageFailure(error);
  }
  if (values.help === true) {
    process.stdout.write(renderHelp(MEMORY_COMMAND));
    return 0;
  }
  // An empty folder (an unset variable in a script): --images '' died of "ENOENT: no such file or
  // directory, mkdir ''" with a stack trace, and --out '' wrote to the working directory.
  for (const flag of ['images', 'out'] as const) {
    if (typeof values[flag] === 'string' && values[flag].trim() === '') {
      return usageFailure(
        new UsageError(
          MEMORY_COMMAND.command,
          `--${flag} takes a folder; received ${JSON.stringify(values[flag])}`,
        ),
      );
    }
  }
  try {
    return await measureAll({
      only: values.only as string | undefined,
      sizes: (values.sizes as string | undefined) ?? '4000x3000,6000x4000',
      out: (values.out as string | undefined) ?? 'bench/results',
      phases: (values.phases as string | undefined) ?? PHASES.join(','),
      images: values.images as string | undefined,
    });
  } catch (error) {
    if (error instanceof MissingToolError) {
      process.stderr.write(`${MEMORY_COMMAND.command}: ${error.message}\n`);
      return 1;
    }
    if (!(error instanceof UsageError)) throw error;
    return usageFailure(error);
  }
}

/** A bad flag is one line naming it, exit status 2, as elsewhere in bench/. */
function usageFailure(error: UsageError): number {
  process.stderr.write(
    `${MEMORY_COMMAND.command}: ${error.message}\nSee '${MEMORY_COMMAND.command} --help'.\n`,
  );
  return 2;
}

/**
 * --sizes: two WxH sizes in whole pixels, of different pixel counts. Bytes per pixel include the
 * slope between the two (perPixel): of equal pixel counts it is 0 / 0, and every figure was NaN.
 */
function parseSizes(text: string): [number, number][] {
  const sizes = text.split(',').map((part) => {
    const match = /^\s*([1-9]\d{0,5})x([1-9]\d{0,5})\s*$/.exec(part);
    return match ? ([Number(match[1]), Number(match[2])] as [number, number]) : undefined;
  });
  if (sizes.length !== 2 || sizes.some((size) => size === undefined))
    throw new UsageError(
      MEMORY_COMMAND.command,
      `--sizes takes two WxH sizes in whole pixels, e.g. 4000x3000,6000x4000; received ${text}`,
    );
  // Every kind is made at both sizes, WebP among them: a side past WebP's 16383 cannot be encoded
  // (ImageMagick's convert ended the run with its own stack trace).
  const maxSide = FORMAT_META.webp.limits.maxSide;
  const over = (sizes as [number, number][]).find(([w, h]) => w > maxSide || h > maxSide);
  if (over)
    throw new UsageError(
      MEMORY_COMMAND.command,
      `--sizes takes sides of at most ${maxSide} pixels (WebP's largest, one of the formats measured); received ${over[0]}x${over[1]} in ${text}`,
    );
  const [small, large] = (sizes as [number, number][]).map(([w, h]) => w * h);
  if (small === large)
    throw new UsageError(
      MEMORY_COMMAND.command,
      `--sizes takes two sizes of different pixel counts (bytes per pixel include the slope between them); received ${text}, ${small!.toLocaleString('en-US')} pixels each`,
    );
  return sizes as [number, number][];
}

function onlyPattern(text: string): RegExp {
  try {
    return new RegExp(text, 'i');
  } catch (error) {
    throw new UsageError(
      MEMORY_COMMAND.command,
      `--only takes a regular expression; ${(error as Error).message}`,
    );
  }
}

interface MemoryOptions {
  readonly only?: string | undefined;
  readonly sizes: string;
  readonly out: string;
  readonly phases: string;
  readonly images?: string | undefined;
}

async function measureAll(values: MemoryOptions): Promise<number> {
  const sizes = parseSizes(values.sizes);
  const only = values.only === undefined ? undefined : onlyPattern(values.only);
  const phases = new Set(values.phases.split(','));
  for (const phase of phases)
    if (!(PHASES as readonly string[]).includes(phase))
      throw new UsageError(
        MEMORY_COMMAND.command,
        `--phases takes a comma-separated list of baseline, decode, encode, resize and check; received ${JSON.stringify(values.phases)}, whose ${phase === '' ? 'empty item' : `item ${JSON.stringify(phase)}`} is none of them`,
      );
  // --images keeps the synthetic images in a folder and reuses those already there.
  const dir = values.images ?? (await mkdtemp(join(tmpdir(), 'imgpipe-memory-')));
  await mkdir(dir, { recursive: true });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    const sources = [];
    for (const [w, h] of sizes) sources.push(await makeSources(dir, w!, h!));
    const kinds = KINDS.filter((k) => !only || only.test(k.name));

    const files = new Map<string, [string, string]>();
    for (const kind of kinds) {
      const pair: string[] = [];
      for (const [i, [w, h]] of sizes.entries()) {
        const file = join(dir, `${kind.name.replace(/[^a-z0-9]+/gi, '-')}-${w}x${h}.${kind.ext}`);
        if (!existsSync(file)) await kind.make(sources[i]!, file);
        pair.push(file);
      }
      files.set(kind.name, pair as [string, string]);
    }

    // Images of 1600x1200, one per input format, that leave a process warm (its codec heaps kept)
    // without raising its peak above what the measured image will.
    const warmKinds = KINDS.filter((k) =>
      /^(jpeg 4:2:0|png 8-bit RGBA|webp lossy|avif 8-bit 4:2:0)$/.test(k.name),
    );
    const warmSources = await makeSources(dir, 1600, 1200);
    const warmFiles: string[] = [];
    for (const kind of warmKinds) {
      const file = join(dir, `warm-${kind.name.replace(/[^a-z0-9]+/gi, '-')}-1600x1200.${kind.ext}`);
      if (!existsSync(file)) await kind.make(warmSources, file);
      warmFiles.push(file);
    }

    const baseline = [];
    for (const workers of phases.has('baseline') ? [1, 2, 3] : []) {
      const idle = await measure({ kind: 'baseline', workers });
      const warm = await measure({ kind: 'warm', files: warmFiles, workers });
      baseline.push({ workers, idleBytes: idle.readyRssBytes, warmBytes: warm.endRssBytes });
      log(
        `baseline, ${workers} thread(s): ${(idle.readyRssBytes / MiB).toFixed(0)} MiB set up, ${(warm.endRssBytes! / MiB).toFixed(0)} MiB warm`,
      );
    }

    const decodeRows: PairRow[] = [];
    for (const kind of phases.has('decode') ? kinds : []) {
      const [small, large] = files.get(kind.name)!;
      const pair = [
        await measure({ kind: 'decode', file: small }),
        await measure({ kind: 'decode', file: large }),
      ];
      const header = inspectImage(new Uint8Array(await readFile(small)), {
        maxPixels: 1e9,
        maxBytes: 1e10,
        maxSecondsPerImage: 3600,
      });
      const table = decodeCost(header.format, header.layout).bytesPerPixel;
      decodeRows.push({
        what: `${kind.name} (${decodeCost(header.format, header.layout).kind})`,
        small: pair[0]!,
        large: pair[1]!,
        table,
      });
      log(
        `decode ${kind.name}: ${perPixel(pair[0]!, pair[1]!).bytesPerPixel.toFixed(1)} B/px (table ${table})`,
      );
    }

    const encodeRows: PairRow[] = [];
    for (const format of ['jpeg', 'webp', 'avif', 'png'] as const) {
      for (const content of ['gradient', 'screen'] as const) {
        if (!phases.has('encode') || (only && !only.test(`encode ${format}`))) continue;
        const pair = [
          await measure({ kind: 'encode', format, width: 1600, height: 900, content }),
          await measure({ kind: 'encode', format, width: 3200, height: 1800, content }),
        ];
        const { fixedMb, bytesPerPixel } = ENCODE_COST[format];
        // The table's fixed part and slope, as bytes per pixel at the larger size.
        const table = Number(((fixedMb * MiB) / pair[1]!.pixels + bytesPerPixel).toFixed(1));
        encodeRows.push({ what: `encode ${format}, ${content}`, small: pair[0]!, large: pair[1]!, table });
        log(`encode ${format} ${content}: ${perPixel(pair[0]!, pair[1]!).bytesPerPixel.toFixed(1)} B/px`);
      }
    }
    const resizeRows: PairRow[] = [];
    if (phases.has('resize')) {
      for (const [label, scale] of [
        ['1.5x', 1 / 1.5],
        ['1.1x', 1 / 1.1],
      ] as const) {
        const task = (width: number, height: number) =>
          measure({
            kind: 'resize',
            width,
            height,
            outWidth: Math.round(width * scale),
            outHeight: Math.round(height * scale),
          });
        const pair = [await task(3000, 2000), await task(6000, 4000)];
        resizeRows.push({
          what: `resize ${label} (lanczos3), per input pixel`,
          small: pair[0]!,
          large: pair[1]!,
        });
        log(`resize ${label}: ${perPixel(pair[0]!, pair[1]!).bytesPerPixel.toFixed(1)} B per input px`);
      }
    }

    const checkRows: CheckRow[] = [];
    if (phases.has('check')) {
      for (const check of CHECKS) {
        for (const kind of kinds.filter((k) => check.kinds.test(k.name))) {
          const file = files.get(kind.name)![check.size === 'small' ? 0 : 1];
          const result = await measure({
            kind: 'process',
            file,
            workers: check.workers,
            document: check.document,
            warmFiles,
          });
          const estimateBytes = await estimateFor(file, check.document, check.workers);
          checkRows.push({
            kind: kind.name,
            label: check.label,
            workers: check.workers,
            pixels: result.pixels,
            measuredBytes: result.peakBytes,
            estimateBytes,
          });
          log(
            `check ${kind.name}, ${check.label}: measured ${(result.peakBytes / MiB).toFixed(0)} MiB, estimate ${(estimateBytes / MiB).toFixed(0)} MiB`,
          );
        }
      }
    }

    const mib = (bytes: number) => (bytes / MiB).toFixed(0);
    const pairColumns: Column<PairRow>[] = [
      { header: 'what', value: (r) => r.what },
      {
        header: 'pixels',
        value: (r) => `${(r.small.pixels / 1e6).toFixed(1)} / ${(r.large.pixels / 1e6).toFixed(1)} MP`,
        align: 'right',
      },
      {
        header: 'peak RSS, MiB',
        value: (r) => `${mib(r.small.peakBytes)} / ${mib(r.large.peakBytes)}`,
        align: 'right',
      },
      {
        header: 'over set-up, MiB',
        value: (r) =>
          `${mib(r.small.peakBytes - r.small.readyRssBytes)} / ${mib(r.large.peakBytes - r.large.readyRssBytes)}`,
        align: 'right',
      },
      { header: 'slope', value: (r) => perPixel(r.small, r.large).slope.toFixed(1), align: 'right' },
      {
        header: 'bytes/pixel',
        value: (r) => perPixel(r.small, r.large).bytesPerPixel.toFixed(1),
        align: 'right',
      },
      { header: 'table', value: (r) => r.table, align: 'right' },
    ];
    const checkColumns: Column<CheckRow>[] = [
      { header: 'input', value: (r) => r.kind },
      { header: 'pipeline', value: (r) => r.label },
      { header: 'decoded', value: (r) => `${(r.pixels / 1e6).toFixed(1)} MP`, align: 'right' },
      { header: 'peak RSS, MiB', value: (r) => mib(r.measuredBytes), align: 'right' },
      { header: 'estimate, MiB', value: (r) => mib(r.estimateBytes), align: 'right' },
      {
        header: 'estimate / peak',
        value: (r) => (r.estimateBytes / r.measuredBytes).toFixed(2),
        align: 'right',
      },
    ];
    const baselineColumns: Column<(typeof baseline)[number]>[] = [
      {
        header: 'threads',
        value: (r) => (r.workers === 1 ? '1 (encoding in it)' : `1 + ${r.workers} encoder threads`),
      },
      { header: 'set up, MiB', value: (r) => mib(r.idleBytes), align: 'right' },
      {
        header: 'warm, MiB',
        value: (r) => (r.warmBytes === undefined ? '' : mib(r.warmBytes)),
        align: 'right',
      },
    ];
    const sections: [string, string, string][] = [];
    if (baseline.length > 0)
      sections.push([
        'Baseline',
        renderTable(baselineColumns, baseline),
        renderTable(baselineColumns, baseline, 'markdown'),
      ]);
    for (const [title, rows] of [
      ['Decoding alone, per decoded pixel', decodeRows],
      ['Encoding alone, per pixel (the input image is part of the set-up)', encodeRows],
      ['The resampler alone, per input pixel (the input image is part of the set-up)', resizeRows],
    ] as const) {
      if (rows.length > 0)
        sections.push([title, renderTable(pairColumns, rows), renderTable(pairColumns, rows, 'markdown')]);
    }
    if (checkRows.length > 0)
      sections.push([
        'The estimate against processImage() in a warm process (after one 1600x1200 image of each input format)',
        renderTable(checkColumns, checkRows),
        renderTable(checkColumns, checkRows, 'markdown'),
      ]);
    console.log(sections.map(([title, text]) => `${title}\n\n${text}`).join('\n\n'));
    await mkdir(values.out, { recursive: true });
    await writeFile(
      join(values.out, 'memory.json'),
      `${JSON.stringify({ sizes, baseline, decodeRows, encodeRows, resizeRows, checkRows }, null, 2)}\n`,
    );
    await writeFile(
      join(values.out, 'memory.md'),
      `# Memory per pixel\n\n${sections.map(([title, , markdown]) => `## ${title}\n\n${markdown}`).join('\n\n')}\n`,
    );
    const under = checkRows.filter((r) => r.estimateBytes < r.measuredBytes);
    for (const r of under) log(`estimate below the measured peak: ${r.kind}, ${r.label}`);
    return under.length > 0 ? 1 : 0;
  } finally {
    if (values.images === undefined) await rm(dir, { recursive: true, force: true });
  }
}
