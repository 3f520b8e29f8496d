import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compileWasm } from '../../src/codecs/wasm.ts';
import { DEFAULT_PIPELINE_DOCUMENT, parsePipelineConfig } from '../../src/config/document.ts';
import type { OutputFormat } from '../../src/core/formats.ts';
import { createEncoder } from '../../src/pipeline/encoder-pool.ts';
import { processImage } from '../../src/pipeline/process-image.ts';

/**
 * The jobs the benchmark compares, each runnable in a fresh child process (bench/lib/child.ts) so
 * that its peak RSS is its own. A job is prepared once (codecs compiled, input read) and then run
 * repeatedly; `prepare` returns the function to time.
 */
export type JobName = 'imgpipe' | 'sharp' | 'naive';

export interface JobSpec {
  readonly job: JobName;
  readonly input: string;
  /** imgpipe only: encoder threads (1 = in-thread). */
  readonly workers?: number;
  /** imgpipe only: the pipeline document; defaults to the J1 job. */
  readonly config?: unknown;
  /** sharp only: the AVIF speed imgpipe uses, to derive the matching effort; defaults to imgpipe's default. */
  readonly avifSpeed?: number;
  /** sharp only: its AVIF `tune`; `ssim` is what our encoder does, `auto` (= `iq`) is sharp's default. */
  readonly sharpTune?: SharpTune;
}

export type SharpTune = 'ssim' | 'auto';

/** J1: one photo of at least 12 MP to widths 1600, 800 and 320, each in JPEG, WebP and AVIF. */
export const J1_WIDTHS = [1600, 800, 320] as const;
export function j1Document(avifSpeed: number = DEFAULT_PIPELINE_DOCUMENT.formats.avif.speed) {
  const { formats } = DEFAULT_PIPELINE_DOCUMENT;
  return {
    variants: J1_WIDTHS.map((width, i) => ({ name: ['large', 'medium', 'small'][i]!, width })),
    formats: { ...formats, avif: { ...formats.avif, speed: avifSpeed } },
  };
}
export const J1_INPUT = fileURLToPath(new URL('../../fixtures/bench/seeding-5312x2988.jpg', import.meta.url));

export async function prepare(
  spec: JobSpec,
): Promise<{ run: () => Promise<number>; close: () => Promise<void> }> {
  const input = await readFile(spec.input);
  switch (spec.job) {
    case 'imgpipe': {
      const config = parsePipelineConfig(spec.config ?? j1Document());
      const encoder = await createEncoder(spec.workers ?? 1, config.formats);
      return {
        run: async () => (await processImage(input, config, encoder)).outputs.length,
        close: () => encoder.close(),
      };
    }
    case 'sharp':
      return prepareSharp(
        input,
        spec.avifSpeed ?? DEFAULT_PIPELINE_DOCUMENT.formats.avif.speed,
        spec.sharpTune ?? 'ssim',
      );
    case 'naive':
      return prepareNaive(input);
  }
}

/**
 * sharp (libvips, native) doing J1 with matched settings (sharpSettings(), which the bench prints
 * beside ours): lanczos3, MozJPEG at the same quality (trellis quantisation, progressive), WebP at
 * the same quality and effort, AVIF at the same quality with the effort that corresponds to our
 * speed, 4:2:0 chroma, one libvips thread. Each width is one pipeline with a clone per format, the
 * way sharp's documentation writes multiple outputs.
 */
async function prepareSharp(input: Buffer, avifSpeed: number, tune: SharpTune) {
  const { default: sharp } = await import('sharp');
  sharp.concurrency(1);
  sharp.cache(false);
  const settings = sharpSettings(avifSpeed, tune);
  return {
    run: async () => {
      let outputs = 0;
      for (const width of J1_WIDTHS) {
        const base = sharp(input).resize({ width, ...settings.resize });
        const results = await Promise.all([
          base.clone().jpeg(settings.jpeg).toBuffer(),
          base.clone().webp(settings.webp).toBuffer(),
          base.clone().avif(settings.avif).toBuffer(),
        ]);
        outputs += results.length;
      }
      return outputs;
    },
    close: async () => undefined,
  };
}

/**
 * sharp's options for imgpipe's J1 settings. AVIF effort: libvips maps effort e to aom cpu-used
 * 9 - e, and our encoder passes speed s to aom as cpu-used s, so effort = 9 - speed.
 */
export function sharpSettings(avifSpeed: number, tune: SharpTune) {
  const { jpeg, webp, avif } = DEFAULT_PIPELINE_DOCUMENT.formats;
  return {
    resize: { kernel: 'lanczos3', withoutEnlargement: true },
    jpeg: {
      quality: jpeg.quality,
      mozjpeg: true,
      progressive: jpeg.progressive,
      chromaSubsampling: jpeg.chromaSubsampling,
    },
    webp: { quality: webp.quality, effort: webp.effort },
    avif: {
      quality: avif.quality,
      effort: Math.max(0, 9 - avifSpeed),
      chromaSubsampling: avif.chromaSubsampling,
      tune,
    },
  } as const;
}

/**
 * The naive jSquash recipe: decode, then for each width resize from the full-size image with
 * @jsquash/resize's defaults (lanczos3 in linear light, premultiplied) and encode with each
 * codec's default options. (In Node the .wasm must still be handed to init(); that much is needed.)
 */
async function prepareNaive(input: Buffer) {
  const [jpegDec, jpegEnc, webpEnc, avifEnc, resizeLib] = await Promise.all([
    import('@jsquash/jpeg/decode.js'),
    import('@jsquash/jpeg/encode.js'),
    import('@jsquash/webp/encode.js'),
    import('@jsquash/avif/encode.js'),
    import('@jsquash/resize'),
  ]);
  await import('../../src/codecs/index.ts'); // provides ImageData in Node, as any Node user must
  const init = async (codec: { init: unknown }, module: Promise<WebAssembly.Module>) =>
    (codec.init as (module: WebAssembly.Module) => Promise<unknown>)(await module);
  // jSquash's JPEG decoder, which the pipeline does not use (it decodes with TurboJPEG).
  const mozjpegDec = readFile(
    fileURLToPath(import.meta.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')),
  ).then((bytes) => WebAssembly.compile(bytes));
  await Promise.all([
    init(jpegDec, mozjpegDec),
    init(jpegEnc, compileWasm('jpegEnc')),
    init(webpEnc, compileWasm('webpEnc')),
    init(avifEnc, compileWasm('avifEncScalar')),
  ]);
  await resizeLib.initResize(await compileWasm('resize'));
  const encoders: Record<OutputFormat, ((image: ImageData) => Promise<ArrayBuffer>) | undefined> = {
    jpeg: (image) => jpegEnc.default(image),
    webp: (image) => webpEnc.default(image),
    avif: (image) => avifEnc.default(image),
    png: undefined,
  };
  return {
    run: async () => {
      const image = await jpegDec.default(
        input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength) as ArrayBuffer,
      );
      let outputs = 0;
      for (const width of J1_WIDTHS) {
        const height = Math.round((image.height * width) / image.width);
        // resize() crops in place for some fit modes; give it its own copy of the pixels each time.
        const copy = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
        const resized = await resizeLib.default(copy, { width, height });
        for (const format of ['jpeg', 'webp', 'avif'] as const) {
          await encoders[format]!(resized);
          outputs++;
        }
      }
      return outputs;
    },
    close: async () => undefined,
  };
}
