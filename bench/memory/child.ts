/**
 * One memory measurement in a fresh process (peak RSS never goes down, so every measurement needs
 * its own): set up as the function does (codecs compiled and instantiated, encoder threads
 * started), note the resident size, run one task, and print one JSON line with the process's peak
 * RSS. Usage: node --expose-gc bench/memory/child.ts '<Task JSON>'. Pipeline documents are parsed
 * without a memory budget: nothing is refused for its estimate here.
 */
import { readFile } from 'node:fs/promises';
import { decode, encode, resize } from '../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import type { OutputFormat } from '../../src/core/formats.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { createEncoder } from '../../src/pipeline/encoder-pool.ts';
import { planSteps } from '../../src/pipeline/plan.ts';
import { loadShrink, processImage } from '../../src/pipeline/process-image.ts';
import { pattern } from './patterns.ts';

export type Task =
  /** Set up and stop: the baseline. */
  | { readonly kind: 'baseline'; readonly workers: number }
  /** processImage() on each file with the default variants, then collect garbage: a warm process. */
  | { readonly kind: 'warm'; readonly files: readonly string[]; readonly workers: number }
  /** Decode a file at full size. */
  | { readonly kind: 'decode'; readonly file: string }
  /**
   * processImage() on a file with a pipeline document (default: the function's defaults), after
   * `warmFiles` with the default document (a warm process: codec heaps kept between images).
   */
  | {
      readonly kind: 'process';
      readonly file: string;
      readonly workers: number;
      readonly document?: unknown;
      readonly warmFiles?: readonly string[];
    }
  /** Encode a width x height RGBA image of a test pattern in one format. */
  | {
      readonly kind: 'encode';
      readonly format: OutputFormat;
      readonly width: number;
      readonly height: number;
      readonly content?: 'gradient' | 'screen';
    }
  /** Resize a width x height RGBA image to outWidth x outHeight (lanczos3, sRGB). */
  | {
      readonly kind: 'resize';
      readonly width: number;
      readonly height: number;
      readonly outWidth: number;
      readonly outHeight: number;
    };

export interface TaskResult {
  /** Resident size once set up, before the task. */
  readonly readyRssBytes: number;
  /** Peak resident size of the process up to then (set-up included). */
  readonly readyPeakBytes: number;
  /** Peak resident size of the whole process, task included. */
  readonly peakBytes: number;
  /** Decoded pixels (decode, process) or input pixels (encode, resize). */
  readonly pixels: number;
  /** warm: resident size at the end, garbage collected. */
  readonly endRssBytes?: number;
}

const peak = () => process.resourceUsage().maxRSS * 1024;

async function run(task: Task): Promise<TaskResult> {
  const config = parsePipelineConfig(
    task.kind === 'process' && task.document !== undefined ? task.document : {},
  );
  const workers =
    task.kind === 'baseline' || task.kind === 'process' || task.kind === 'warm' ? task.workers : 1;
  const formats = task.kind === 'encode' ? [task.format] : config.formats;
  const encoder = await createEncoder(workers, formats);
  const input =
    task.kind === 'decode' || task.kind === 'process' ? new Uint8Array(await readFile(task.file)) : undefined;
  const pixelsIn =
    task.kind === 'encode' || task.kind === 'resize'
      ? pattern(task.kind === 'encode' ? (task.content ?? 'gradient') : 'gradient', task.width, task.height)
      : undefined;
  if (task.kind === 'process') {
    const defaults = parsePipelineConfig({});
    for (const file of task.warmFiles ?? [])
      await processImage(new Uint8Array(await readFile(file)), defaults, encoder);
    (globalThis as { gc?: () => void }).gc?.();
  }
  const readyRssBytes = process.memoryUsage().rss;
  const readyPeakBytes = peak();
  let pixels = 0;
  let endRssBytes: number | undefined;
  switch (task.kind) {
    case 'baseline':
      break;
    case 'warm': {
      for (const file of task.files)
        await processImage(new Uint8Array(await readFile(file)), config, encoder);
      (globalThis as { gc?: () => void }).gc?.();
      endRssBytes = process.memoryUsage().rss;
      break;
    }
    case 'decode': {
      const header = inspectImage(input!, { ...config.limits, maxPixels: 1e9, maxBytes: 1e9 });
      const image = await decode(header.format, input!);
      pixels = image.width * image.height;
      break;
    }
    case 'process': {
      const result = await processImage(input!, config, encoder);
      const { header } = result;
      const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, config.variants);
      const shrink = loadShrink(header, steps);
      pixels = Math.ceil(header.width / shrink) * Math.ceil(header.height / shrink);
      break;
    }
    case 'encode':
      await encode(task.format, pixelsIn!, config.formatOptions);
      pixels = task.width * task.height;
      break;
    case 'resize':
      await resize(pixelsIn!, task.outWidth, task.outHeight, {
        method: 'lanczos3',
        linearRGB: false,
        premultiply: false,
      });
      pixels = task.width * task.height;
      break;
  }
  const result = {
    readyRssBytes,
    readyPeakBytes,
    peakBytes: peak(),
    pixels,
    ...(endRssBytes !== undefined && { endRssBytes }),
  };
  await encoder.close();
  return result;
}

process.stdout.write(`${JSON.stringify(await run(JSON.parse(process.argv[2]!) as Task))}\n`);
