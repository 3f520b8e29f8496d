import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decode, encode, resize } from '../../../src/codecs/index.ts';
import { registeredInstance } from '../../../src/codecs/instances.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { CodecError, InvalidImageError } from '../../../src/core/errors.ts';
import { processImage } from '../../../src/pipeline/process-image.ts';
import { fixturePath, readFixture } from '../../support/fixtures.ts';
import { writePng } from '../../support/png.ts';

/**
 * A codec that traps or aborts must give a readable error and be replaced, so the next image comes
 * out exactly as in a fresh process. No small input makes one of our decoders trap: TurboJPEG and
 * libwebp report every corrupt file we have as an error, libavif and the PNG decoder too, and their
 * remaining traps are allocation failures, which take an image of gigabytes. So the tests make an
 * instance's allocation fail the cheap way: they grow its linear memory to the wasm32 maximum of
 * 4 GiB (address space only: no page is touched) before a call that needs more heap. The Rust
 * allocator then aborts the instance with `unreachable`, as it would on a huge image. Emscripten's
 * exit() is reached with real pixels: MozJPEG's limit of 65500 px.
 */

const SAMPLE = 'edge/formats/alpha-rgba8.png';
const DOCUMENT = {
  variants: [
    { name: 'medium', width: 200 },
    { name: 'thumb', width: 64, height: 64, fit: 'cover' },
  ],
  formats: { jpeg: {}, webp: {}, avif: { speed: 8 }, png: {} },
};
const config = parsePipelineConfig(DOCUMENT);

/** The sample's outputs as a process that never saw a failure makes them, keyed variant/format. */
const fresh = (() => {
  let outputs: Record<string, string> | undefined;
  return () => {
    outputs ??= JSON.parse(
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '--no-warnings',
          '-e',
          `import { readFileSync } from 'node:fs';
           import { parsePipelineConfig } from ${JSON.stringify(new URL('../../../src/config/document.ts', import.meta.url).href)};
           import { processImage } from ${JSON.stringify(new URL('../../../src/pipeline/process-image.ts', import.meta.url).href)};
           const config = parsePipelineConfig(${JSON.stringify(DOCUMENT)});
           const result = await processImage(readFileSync(${JSON.stringify(fixturePath(SAMPLE))}), config);
           const out = Object.fromEntries(result.outputs.map((o) => [o.variant + '/' + o.format, Buffer.from(o.bytes).toString('base64')]));
           process.stdout.write(JSON.stringify(out));`,
        ],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      ),
    ) as Record<string, string>;
    return outputs;
  };
})();

async function expectSampleAsFresh(): Promise<void> {
  const result = await processImage(readFixture(SAMPLE), config);
  const here = Object.fromEntries(
    result.outputs.map((o) => [`${o.variant}/${o.format}`, Buffer.from(o.bytes).toString('base64')]),
  );
  expect(Object.keys(here)).toHaveLength(8);
  expect(here).toEqual(fresh());
}

/** Grows an instance's linear memory as far as the engine allows, so its next allocation fails. */
function exhaustHeap(name: string): void {
  const memory = registeredInstance(name)?.memory();
  if (!memory) throw new Error(`${name} is not started`);
  const pages = memory.buffer.byteLength / 65_536;
  memory.grow(65_536 - pages);
}

describe('a codec that crashes', () => {
  it('in the PNG decoder is a decode error saying it crashed, and the next image is as in a fresh process', async () => {
    await decode('png', writePng(1, 1)); // started, with a small heap
    exhaustHeap('pngDec');
    // 1000x1000 decodes to 4 MB, more than the heap has free.
    const failure = await decode('png', writePng(1000, 1000)).catch((error: unknown) => error);
    expect.soft(failure).toBeInstanceOf(InvalidImageError);
    expect.soft((failure as InvalidImageError).reason).toBe('corrupt');
    expect
      .soft((failure as Error).message)
      .toBe('The png decoder crashed on the file: WebAssembly trap: unreachable');
    await expectSampleAsFresh();
  });

  const pixels = (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) });

  it('in the resampler is a CodecError naming the resize, and the resampler is replaced', async () => {
    // jSquash's resampler (resizer.ts), which alpha takes: it traps when its heap cannot grow.
    const call = { method: 'lanczos3', linearRGB: false, premultiply: true } as const;
    await resize(pixels(8, 8), 4, 4, call); // started, with a small heap
    exhaustHeap('resize');
    const failure = await resize(pixels(1000, 1000), 500, 500, call).catch((error: unknown) => error);
    expect.soft(failure).toBeInstanceOf(CodecError);
    expect
      .soft((failure as Error).message)
      .toBe('Resampling 1000x1000 to 500x500 (lanczos3) failed: WebAssembly trap: unreachable');
    await expectSampleAsFresh();
  });

  it('in Pillow’s resampler (opaque images) is a CodecError naming the resize, and the next image is as fresh', async () => {
    // Its allocator reports what its heap (at most 2 GiB) cannot hold: 30000x30000 is 3.6 GB.
    const call = { method: 'lanczos3', linearRGB: false, premultiply: false } as const;
    const failure = await resize(pixels(8, 8), 30_000, 30_000, call).catch((error: unknown) => error);
    expect.soft(failure).toBeInstanceOf(CodecError);
    expect
      .soft((failure as Error).message)
      .toBe(
        'Resampling 8x8 to 30000x30000 (lanczos3) failed: Error: The resampler refused 8x8 to 30000x30000 (out of memory or of range)',
      );
    await expectSampleAsFresh();
  });

  it('in MozJPEG’s exit() is a CodecError in MozJPEG’s words, never [object Object]', async () => {
    const tall = { width: 1, height: 65_501, data: new Uint8ClampedArray(65_501 * 4) };
    const failure = await encode('jpeg', tall, config.formatOptions).catch((error: unknown) => error);
    expect.soft(failure).toBeInstanceOf(CodecError);
    expect
      .soft((failure as Error).message)
      .toBe(
        'The jpeg encoder failed on 1x65501 pixels: Maximum supported image dimension is 65500 pixels (ExitStatus: Program terminated with exit(1))',
      );
    await expectSampleAsFresh();
  });

  it('in libwebp’s refusal is a CodecError naming the format and size', async () => {
    const tall = { width: 1, height: 16_384, data: new Uint8ClampedArray(16_384 * 4) };
    await expect
      .soft(encode('webp', tall, config.formatOptions))
      .rejects.toThrow(/^The webp encoder failed on 1x16384 pixels: Error: Encoding error\.$/);
    await expectSampleAsFresh();
  });
});
