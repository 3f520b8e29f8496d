import { readFile } from 'node:fs/promises';
import { Bench } from 'tinybench';
import { type Column, renderTable } from '../../src/cli/table.ts';
import { decode, encode, resize, standardCmykProfile, toSrgb } from '../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import type { InputFormat, OutputFormat } from '../../src/core/formats.ts';
import { probeImage } from '../../src/image/probe.ts';
import type { RawImage } from '../../src/image/raw.ts';
import { J1_INPUT } from '../lib/jobs.ts';

/**
 * Codec micro-benchmarks: decode, resize and encode per format and size class, with warm-up and a
 * forced GC before each task (WASM heaps make GC noise real). Inputs are made from the bench photo:
 * resampled to each size class and encoded in each input format once, before timing.
 */
export const SIZE_CLASSES_MP = [1, 4, 12, 24] as const;

export interface MicroRow {
  readonly task: string;
  readonly opsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** Megabytes of RGBA pixels handled per second at the median. */
  readonly mbPerSecond: number;
  readonly samples: number;
}

const config = parsePipelineConfig({ formats: { jpeg: {}, webp: {}, avif: {}, png: {} } });
const INPUT_OPTIONS = parsePipelineConfig({
  formats: { jpeg: { quality: 85 }, webp: { quality: 85 }, avif: { quality: 60, speed: 8 }, png: {} },
});

function classSize(megapixels: number, aspect: number): { width: number; height: number } {
  const height = Math.round(Math.sqrt((megapixels * 1e6) / aspect));
  return { width: Math.round(height * aspect), height };
}

export async function runMicro(sizes: readonly number[], iterations: number): Promise<MicroRow[]> {
  const photo = await decode('jpeg', await readFile(J1_INPUT));
  const images = new Map<number, RawImage>();
  const inputs = new Map<string, Uint8Array>();
  for (const mp of sizes) {
    const { width, height } = classSize(mp, photo.width / photo.height);
    const image = await resize(photo, width, height, {
      method: 'lanczos3',
      linearRGB: false,
      premultiply: false,
    });
    images.set(mp, image);
    for (const format of ['jpeg', 'png', 'webp', 'avif'] as const)
      inputs.set(`${format}:${mp}`, await encode(format, image, INPUT_OPTIONS.formatOptions));
  }

  const p3 = probeImage(
    'png',
    await readFile(new URL('../../fixtures/edge/colour/p3-card.png', import.meta.url)),
  ).colour.icc!;
  const cmyk = await standardCmykProfile();

  const bench = new Bench({
    name: 'codecs',
    iterations,
    time: 0,
    warmup: true,
    warmupIterations: 1,
    warmupTime: 0,
    setup: () => (globalThis as { gc?: () => void }).gc?.(),
  });
  const pixels = new Map<string, number>();
  for (const mp of sizes) {
    const image = images.get(mp)!;
    for (const format of ['jpeg', 'png', 'webp', 'avif'] as InputFormat[]) {
      const name = `decode ${format} ${mp} MP`;
      pixels.set(name, image.width * image.height);
      bench.add(name, () => decode(format, inputs.get(`${format}:${mp}`)!));
    }
    const toWidth = 1600;
    const name = `resize ${mp} MP -> ${toWidth} (lanczos3)`;
    pixels.set(name, image.width * image.height);
    bench.add(name, () =>
      resize(image, toWidth, Math.round((image.height * toWidth) / image.width), {
        method: 'lanczos3',
        linearRGB: false,
        premultiply: false,
      }),
    );
    // Colour management (Little CMS): a Display P3 image, and CMYK values, to sRGB.
    const p3Name = `srgb from Display P3 ${mp} MP`;
    pixels.set(p3Name, image.width * image.height);
    bench.add(p3Name, () => toSrgb(image, p3, 'rgba'));
    const cmykName = `srgb from CMYK ${mp} MP`;
    pixels.set(cmykName, image.width * image.height);
    bench.add(cmykName, () => toSrgb(image, cmyk, 'cmyk-inverted'));
    for (const format of ['jpeg', 'webp', 'avif'] as OutputFormat[]) {
      const encodeName = `encode ${format} ${mp} MP`;
      pixels.set(encodeName, image.width * image.height);
      bench.add(encodeName, () => encode(format, image, config.formatOptions));
    }
  }
  await bench.run();
  return bench.tasks.map((task) => {
    const result = task.result as {
      latency?: { p50: number; p99: number; samplesCount?: number };
      throughput?: { mean: number };
      state: string;
    };
    if (!result.latency || !result.throughput)
      throw new Error(`${task.name} did not complete (${result.state})`);
    const p50 = result.latency.p50;
    return {
      task: task.name,
      opsPerSecond: result.throughput.mean,
      p50,
      p99: result.latency.p99,
      mbPerSecond: (pixels.get(task.name)! * 4) / 1e6 / (p50 / 1000),
      samples: result.latency.samplesCount ?? iterations,
    };
  });
}

export const MICRO_COLUMNS: Column<MicroRow>[] = [
  { header: 'task', value: (r) => r.task },
  { header: 'ops/s', value: (r) => r.opsPerSecond.toFixed(2), align: 'right' },
  { header: 'p50 ms', value: (r) => r.p50.toFixed(1), align: 'right' },
  { header: 'p99 ms', value: (r) => r.p99.toFixed(1), align: 'right' },
  { header: 'MB/s', value: (r) => r.mbPerSecond.toFixed(0), align: 'right' },
];

export function microTable(rows: readonly MicroRow[], format: 'text' | 'markdown' = 'text'): string {
  return renderTable(MICRO_COLUMNS, rows, format);
}
