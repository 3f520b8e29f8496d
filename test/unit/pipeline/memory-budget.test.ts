import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeGifFirstFrame } from '../../../src/codecs/gif.ts';
import {
  BASELINE_MB,
  coefficientBytes,
  DECODE_FILE_COPIES,
  decodeCost,
  ICC_PROFILE_BYTES_PER_BYTE,
  POOL_BASELINE_MB,
  STANDARD_CMYK_PROFILE_BYTES,
  WORKER_MB,
} from '../../../src/codecs/memory.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { type ImageHeader, type PixelLayout, probeImage } from '../../../src/image/probe.ts';
import {
  checkDecoderHeap,
  checkMemoryBudget,
  encoderThreadsFor,
  estimateMemory,
  pixelsWithinMemory,
} from '../../../src/pipeline/memory-budget.ts';
import { planSteps } from '../../../src/pipeline/plan.ts';
import { loadShrink, processImage } from '../../../src/pipeline/process-image.ts';
import { fixturePath, readFixture } from '../../support/fixtures.ts';
import { inFreshProcess } from '../../support/fresh.ts';
import { stillHeader } from '../../support/header.ts';

const MiB = 1024 * 1024;

const header = stillHeader;

/** The estimate for an image under a pipeline document, as processImage computes it. */
function estimate(image: ImageHeader, document: unknown = {}, workers = 1) {
  const { variants } = parsePipelineConfig(document);
  const steps = planSteps({ width: image.displayWidth, height: image.displayHeight }, variants);
  const shrink = loadShrink(image, steps);
  const decoded = { width: Math.ceil(image.width / shrink), height: Math.ceil(image.height / shrink) };
  return { estimate: estimateMemory(image, decoded, steps, workers), decoded, steps };
}

const png16 = header('png', 7071, 7071, { bitDepth: 16, channels: 4 });
const png8 = header('png', 7071, 7071, { bitDepth: 8, channels: 3 });
const jpeg = header('jpeg', 7071, 7071, { bitDepth: 8, channels: 3 });

describe('estimateMemory', () => {
  it('counts the decoded pixels at the decoder bytes per pixel of the format, depth and channels', () => {
    const { estimate: e } = estimate(png16);
    const bytesPerPixel = decodeCost('png', png16.layout).bytesPerPixel;
    expect(e.decode).toEqual({ kind: 'png 16-bit RGBA', bytesPerPixel, bytes: 7071 * 7071 * bytesPerPixel });
    expect(e.baselineBytes).toBe(BASELINE_MB * MiB);
    expect(e.bytes).toBe(e.baselineBytes + Math.max(e.decode.bytes, e.processingBytes));
    // Costlier layouts cost more per pixel.
    const avif = (layout: PixelLayout) => decodeCost('avif', layout).bytesPerPixel;
    expect(avif({ bitDepth: 10, channels: 4, chroma: '4:4:4' })).toBeGreaterThan(
      avif({ bitDepth: 10, channels: 3, chroma: '4:4:4' }),
    );
    expect(avif({ bitDepth: 10, channels: 3, chroma: '4:4:4' })).toBeGreaterThan(
      avif({ bitDepth: 8, channels: 3, chroma: '4:2:0' }),
    );
    expect(avif({ bitDepth: 8, channels: 3, chroma: '4:2:0' })).toBeGreaterThan(
      decodeCost('png', png8.layout).bytesPerPixel,
    );
  });

  it('uses the size a JPEG is decoded at after shrink-on-load', () => {
    const { estimate: e, decoded } = estimate(jpeg);
    // 1/2: the 1600-wide variant is 4.4x smaller, which box-shrinks by 2 (image/shrink.ts).
    expect(decoded).toEqual({ width: 3536, height: 3536 });
    expect(e.decode.bytes).toBe(3536 * 3536 * decodeCost('jpeg', jpeg.layout).bytesPerPixel);
    // A variant at full size decodes it whole, and resizing and encoding it then cost the most.
    const full = estimate(jpeg, { variants: [{ name: 'full' }] });
    expect(full.decoded).toEqual({ width: 7071, height: 7071 });
    expect(full.estimate.processingBytes).toBeGreaterThan(full.estimate.decode.bytes);
    expect(full.estimate.bytes).toBe(full.estimate.baselineBytes + full.estimate.processingBytes);
  });

  it('adds a large resize and large encodes for variants near full size', () => {
    const small = estimate(png8, { variants: [{ name: 's', width: 320 }] }).estimate;
    const near = estimate(png8, { variants: [{ name: 'l', width: 6000 }] }).estimate;
    expect(near.processingBytes - small.processingBytes).toBeGreaterThan(6000 * 6000 * 16);
  });

  it('counts a baseline per encoder thread and one encode in flight per thread', () => {
    const document = { variants: [{ name: 'full' }] };
    const one = estimate(png8, document, 1).estimate;
    const three = estimate(png8, document, 3).estimate;
    expect(three.baselineBytes).toBe((POOL_BASELINE_MB + 3 * WORKER_MB) * MiB);
    expect(one.baselineBytes).toBe(BASELINE_MB * MiB);
    // Three formats of one full-size variant: three encodes at once instead of one.
    expect(three.processingBytes).toBeGreaterThan(one.processingBytes + 2 * 7071 * 7071 * 8);
  });
});

describe('checkMemoryBudget', () => {
  it('refuses an image whose estimate exceeds the budget, naming the estimate, the budget and its inputs', () => {
    const { decoded, steps, estimate: e } = estimate(png16);
    const bpp = decodeCost('png', png16.layout).bytesPerPixel;
    const total = Math.ceil(e.bytes / MiB).toLocaleString('en-US');
    const decodeMiB = Math.ceil(e.decode.bytes / MiB).toLocaleString('en-US');
    const baseline = Math.ceil(e.baselineBytes / MiB);
    const processing = Math.ceil(e.processingBytes / MiB).toLocaleString('en-US');
    const budget = { mb: 512, source: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' };
    expect(() => checkMemoryBudget(png16, decoded, steps, 1, budget)).toThrow(
      expect.objectContaining({
        reason: 'over-memory-budget',
        message:
          `The png image of 7071x7071 needs an estimated ${total} MiB of memory, more than the 512 MiB the process has (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): ` +
          `${baseline} MiB baseline (encoding in this thread) + the larger of decoding, 50.0 MP x ${bpp} bytes/pixel for png 16-bit RGBA = ${decodeMiB} MiB, ` +
          `and resizing and encoding the variants, ${processing} MiB`,
      }),
    );
  });

  it('passes an image whose estimate fits, and does nothing without a budget', () => {
    const { decoded, steps, estimate: e } = estimate(png16);
    const fits = { mb: Math.ceil(e.bytes / MiB), source: 'IMGPIPE_MEMORY_MB' };
    expect(checkMemoryBudget(png16, decoded, steps, 1, fits)).toEqual(e);
    expect(() => checkMemoryBudget(png16, decoded, steps, 1, { ...fits, mb: fits.mb - 1 })).toThrow(
      /needs an estimated/,
    );
    expect(checkMemoryBudget(png16, decoded, steps, 1, undefined)).toBeUndefined();
  });

  it("counts the file itself, besides the decoder's copies, and names it", () => {
    // A 1x1 JPEG padded to 1 GiB (APP segments): the caller holds the file (1 GiB) while TurboJPEG
    // holds its copy (1.05 GiB), so it cannot fit 2 GiB. Without the caller's copy the estimate
    // stayed near 1.1 GiB and passed.
    const tiny = header('jpeg', 1, 1, { bitDepth: 8, channels: 3 });
    const steps = planSteps({ width: 1, height: 1 }, parsePipelineConfig({}).variants);
    const fileBytes = 1024 * MiB;
    const e = estimateMemory(tiny, { width: 1, height: 1 }, steps, 1, 0, fileBytes);
    expect(e.sourceBytes).toBe(fileBytes);
    expect(e.bytes).toBeGreaterThanOrEqual(e.baselineBytes + fileBytes * (1 + DECODE_FILE_COPIES.jpeg));
    const budget = { mb: 2048, source: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' };
    expect(() => checkMemoryBudget(tiny, { width: 1, height: 1 }, steps, 1, budget, 0, fileBytes)).toThrow(
      expect.objectContaining({
        reason: 'over-memory-budget',
        message: expect.stringContaining(
          ' + 1,024 MiB for the 1,073,741,824-byte file itself + the larger of',
        ),
        details: expect.objectContaining({ sourceBytes: fileBytes, budgetMb: 2048 }),
      }),
    );
  });

  it('names the size a JPEG is decoded at', () => {
    const { decoded, steps } = estimate(jpeg);
    expect(() =>
      checkMemoryBudget(jpeg, decoded, steps, 2, { mb: 100, source: 'IMGPIPE_MEMORY_MB' }),
    ).toThrow(
      /^The jpeg image of 7071x7071 \(decoded at 3536x3536\) needs .* \(2 encoder threads\) .* 12\.5 MP x \d+ bytes\/pixel for jpeg 8-bit/,
    );
  });
});

describe("a file larger than its decoder's heap", () => {
  it('is refused as too-large, naming its size and the most the decoder holds, before any decode', async () => {
    // A 1x1 WebP followed by 1.1 GiB of zeros (never written: the pages stay untouched unless a
    // decoder copies them). libwebp keeps two copies in a heap of at most 2 GiB: it crashed, and
    // the file was refused as corrupt ("The webp decoder crashed on the file: Aborted()").
    const small = readFixture('edge/formats/lossy.webp');
    const bytes = new Uint8Array(small.length + 1100 * MiB);
    bytes.set(small);
    const config = parsePipelineConfig({
      variants: [{ name: 'small', width: 64 }],
      formats: { jpeg: {} },
      limits: { maxBytes: 5 * 1024 * MiB },
    });
    const error = await processImage(bytes, config).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      reason: 'too-large',
      message: `The webp file is ${bytes.length.toLocaleString('en-US')} bytes, more than its decoder can hold: it keeps 2 copies of the file in a WebAssembly heap of at most 2 GiB, so a webp file of at most 1,073,741,823 bytes can be decoded`,
      details: { format: 'webp', bytes: bytes.length, maxFileBytes: 1024 * MiB - 1, heapCopies: 2 },
    });
  });

  it('lets a file its decoder can hold through', () => {
    expect(() => checkDecoderHeap('webp', 1024 * MiB - 1)).not.toThrow();
    expect(() => checkDecoderHeap('jpeg', 2048 * MiB - 1)).not.toThrow();
    expect(() => checkDecoderHeap('jpeg', 2048 * MiB)).toThrow(/at most 2,147,483,647 bytes/);
    expect(() => checkDecoderHeap('gif', 5 * 1024 * MiB)).not.toThrow();
  });
});

describe('decodeCost for HEIC and GIF', () => {
  it('has a figure for each HEIC layout and for GIF, from codecs/memory.ts', () => {
    expect(decodeCost('heic', { bitDepth: 8, channels: 3, chroma: '4:2:0' })).toEqual({
      kind: 'heic 8-bit 4:2:0',
      bytesPerPixel: 13,
    });
    expect(decodeCost('heic', { bitDepth: 8, channels: 4, chroma: '4:2:0' }).bytesPerPixel).toBe(16);
    expect(decodeCost('heic', { bitDepth: 10, channels: 3, chroma: '4:2:0' })).toEqual({
      kind: 'heic 10-bit 4:2:0',
      bytesPerPixel: 30,
    });
    expect(decodeCost('heic', { bitDepth: 10, channels: 4, chroma: '4:4:4' }).bytesPerPixel).toBe(36);
    expect(decodeCost('gif', { bitDepth: 8, channels: 4 })).toEqual({ kind: 'gif', bytesPerPixel: 6 });
  });
});

describe('a GIF whose first frame carries much data: the copy omggif is given', () => {
  /**
   * A 1x1 GIF (a global table of 2 colours, LZW code size 8, so the table is grown for omggif) whose
   * one frame's data runs on for `mib` MiB of sub-blocks after its end code, then `after` (a second
   * frame's bytes, or nothing) and the trailer.
   */
  const bigFrame = (mib: number, after: number[] = []) => {
    const head = [0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255];
    const frame = [0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 8, 4, 0x00, 0x01, 0x04, 0x04];
    const padding = new Uint8Array(mib * 4096 * 256);
    for (let at = 0; at < padding.length; at += 256) padding[at] = 255;
    return Buffer.concat([Buffer.from([...head, ...frame]), padding, Buffer.from([0, ...after, 0x3b])]);
  };
  const second = [0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 8, 4, 0x00, 0x01, 0x04, 0x04, 0];

  it('counts one copy of the file, and the decode holds no more than that', () => {
    for (const file of [bigFrame(32), bigFrame(32, second)]) {
      const gif = probeImage('gif', file);
      const steps = planSteps({ width: 1, height: 1 }, parsePipelineConfig({}).variants);
      const decode = (fileBytes: number) =>
        estimateMemory(gif, { width: 1, height: 1 }, steps, 1, 0, fileBytes).decode.bytes;
      expect(decode(file.length) - decode(0)).toBe(file.length);
      // What the decode allocated beyond the file, while the copies it made are still unreachable
      // garbage at most (no collection is asked for): one copy, not the two it made before.
      const before = process.memoryUsage().arrayBuffers;
      let held = 0;
      decodeGifFirstFrame(file, (call) => {
        const image = call();
        held = process.memoryUsage().arrayBuffers - before;
        return image;
      });
      expect(held).toBeLessThanOrEqual(file.length + 768 + 64 * 1024);
    }
  });
});

describe("the decoder's copies of the file", () => {
  // A small image padded to 64 MiB (APP segments in a JPEG, bytes after the image in the others):
  // what the decode adds to the peak RSS of a warm process is the decoder's copies of the file,
  // which the per-pixel figures (measured on files of a fraction of a byte a pixel) do not hold.
  const cases = [
    ['jpeg', 'edge/formats/1x1.jpg'],
    ['png', 'edge/formats/1x1.png'],
    ['webp', 'edge/formats/lossy.webp'],
    ['avif', 'edge/formats/avif-8bit-420.avif'],
    ['heic', 'edge/formats/heic.heic'],
  ] as const;

  it.each(cases)(
    'counts what a %s decode of a 64 MiB file holds',
    async (format, fixture) => {
      const { result } = await inFreshProcess<{
        grown: number;
        fileBytes: number;
        decodeBytes: number;
        fileCopyBytes: number;
      }>(
        {
          processImage: 'src/pipeline/process-image.ts',
          parsePipelineConfig: 'src/config/document.ts',
          inspectImage: 'src/image/inspect.ts',
          estimateMemory: 'src/pipeline/memory-budget.ts',
          planSteps: 'src/pipeline/plan.ts',
          readFileSync: 'node:fs',
        },
        `const small = readFileSync(${JSON.stringify(fixturePath(fixture))});
       const config = parsePipelineConfig({ variants: [{ name: 'small', width: 64 }], limits: { maxBytes: 128 * 2 ** 20 } });
       await processImage(small, config); // the codecs loaded and warm
       const pad = 64 * 2 ** 20;
       let bytes;
       if (${JSON.stringify(format)} === 'jpeg') {
         // After SOI: 1024 APP9 segments of 65535 bytes.
         const segment = Buffer.alloc(65537);
         segment.set([0xff, 0xe9, 0xff, 0xff]);
         bytes = Buffer.alloc(small.length + 1024 * segment.length);
         small.copy(bytes, 0, 0, 2);
         for (let i = 0; i < 1024; i++) segment.copy(bytes, 2 + i * segment.length);
         small.copy(bytes, 2 + 1024 * segment.length, 2);
       } else {
         bytes = Buffer.alloc(small.length + pad);
         small.copy(bytes);
       }
       const peak = () => process.resourceUsage().maxRSS * 1024;
       const before = Math.max(peak(), process.memoryUsage().rss);
       await processImage(bytes, config);
       const grown = peak() - before;
       const header = inspectImage(bytes, config.limits);
       const steps = planSteps({ width: header.displayWidth, height: header.displayHeight }, config.variants);
       const e = estimateMemory(header, { width: header.width, height: header.height }, steps, 1, 0, bytes.length);
       return { grown, fileBytes: bytes.length, decodeBytes: e.decode.bytes, fileCopyBytes: e.fileCopyBytes };`,
      );
      // Measured: TurboJPEG 1.05 copies, the png crate 2, libwebp and libavif 3, libheif 2.
      expect(result.fileCopyBytes).toBe(result.fileBytes * DECODE_FILE_COPIES[format]);
      // 8 MiB for what else the process allocates (its code, the watchdog's context, the variant).
      expect(result.grown).toBeLessThanOrEqual(result.decodeBytes + 8 * MiB);
      expect(result.grown).toBeGreaterThan(result.fileCopyBytes * 0.9);
    },
    120_000,
  );
});

describe('a JPEG of several scans: its coefficients at full size', () => {
  const cmyk = (scans: number) =>
    header('jpeg', 7000, 7000, {
      bitDepth: 8,
      channels: 3,
      scans,
      sampling: [
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
      ],
    });

  it("adds every component's coefficients, at full size, to the decode of a progressive JPEG decoded at 1/8", () => {
    const { estimate: e, decoded } = estimate(cmyk(18), { variants: [{ name: 's', width: 64 }] });
    expect(decoded).toEqual({ width: 875, height: 875 });
    expect(e.coefficientBytes).toBe(875 * 875 * 4 * 64 * 2);
    expect(e.decode.bytes).toBe(
      875 * 875 * decodeCost('jpeg', cmyk(18).layout).bytesPerPixel + e.coefficientBytes,
    );
    // One scan decodes row by row.
    expect(estimate(cmyk(1), { variants: [{ name: 's', width: 64 }] }).estimate.coefficientBytes).toBe(0);
  });

  it('rounds each component up to whole blocks and MCUs at its sampling', () => {
    // 4:2:0 at 17x17: luma 3 blocks a side, rounded up to 4 (2x2 MCUs); chroma 2x2 blocks each.
    expect(
      coefficientBytes('jpeg', 17, 17, {
        bitDepth: 8,
        channels: 3,
        scans: 2,
        sampling: [
          [2, 2],
          [1, 1],
          [1, 1],
        ],
      }),
    ).toBe((16 + 4 + 4) * 128);
    expect(coefficientBytes('png', 17, 17, { bitDepth: 8, channels: 3, scans: 2 })).toBe(0);
  });

  it('refuses the 7000x7000 progressive CMYK under 512 MiB, naming the coefficients', () => {
    const { decoded, steps } = estimate(cmyk(18), { variants: [{ name: 's', width: 64 }] });
    expect(() =>
      checkMemoryBudget(cmyk(18), decoded, steps, 1, { mb: 512, source: 'IMGPIPE_MEMORY_MB' }),
    ).toThrow(/for jpeg 8-bit \+ 374 MiB of DCT coefficients held at full size for its 18 scans = 381 MiB, /);
    expect(
      checkMemoryBudget(cmyk(1), decoded, steps, 1, { mb: 512, source: 'IMGPIPE_MEMORY_MB' }),
    ).toBeDefined();
  });
});

describe('the ICC profiles Little CMS reads', () => {
  it('counts the standard CMYK profile for a CMYK or YCCK JPEG without one of its own, at its size', () => {
    const file = new URL('../../../src/codecs/colour/cmyk-fogra39.icc', import.meta.url);
    expect(statSync(file).size).toBe(STANDARD_CMYK_PROFILE_BYTES);
    const plain = header('jpeg', 1000, 1000, { bitDepth: 8, channels: 3 });
    const cmyk: ImageHeader = { ...plain, cmyk: { model: 'YCCK', inverted: true } };
    expect(estimate(plain).estimate.profileBytes).toBe(0);
    const { estimate: e, decoded, steps } = estimate(cmyk);
    expect(e.profileBytes).toBe(STANDARD_CMYK_PROFILE_BYTES * ICC_PROFILE_BYTES_PER_BYTE);
    expect(e.bytes).toBe(e.baselineBytes + Math.max(e.decode.bytes, e.processingBytes) + e.profileBytes);
    // Named when the image is over its budget.
    expect(() =>
      checkMemoryBudget(cmyk, decoded, steps, 1, { mb: 100, source: 'IMGPIPE_MEMORY_MB' }),
    ).toThrow(/; \+ 4 MiB for Little CMS to read the standard CMYK profile \(184,624 bytes x 18\)/);
  });
});

describe('pixelsWithinMemory', () => {
  it('is the most pixels of the costliest input per pixel that checkMemoryBudget lets through', () => {
    const layout = { bitDepth: 10, channels: 4, chroma: '4:4:4' } as const;
    for (const [memoryMb, workers] of [
      [1024, 1],
      [1536, 1],
      [3008, 2],
    ] as const) {
      const most = pixelsWithinMemory(memoryMb, workers);
      // A square image, whose decode is its largest phase; one row more does not fit.
      const side = Math.floor(Math.sqrt(most));
      const rows = Math.floor(most / side);
      const check = (height: number) => {
        const image = header('avif', side, height, layout);
        const { steps, decoded } = estimate(image, {}, workers);
        return () => checkMemoryBudget(image, decoded, steps, workers, { mb: memoryMb, source: 'test' });
      };
      expect(check(rows), `${memoryMb} MB`).not.toThrow();
      expect(check(rows + 1), `${memoryMb} MB`).toThrow(/more than the/);
    }
  });
});

describe('encoderThreadsFor', () => {
  const budget = (mb: number) => ({ mb, source: 'test' });

  it('starts fewer threads than the CPUs give where the memory would then hold less than maxPixels', () => {
    // 512 MiB: one thread holds 3.6 MP of the costliest input; two leave 42 MiB (0.9 MP).
    expect(pixelsWithinMemory(512, 2)).toBeLessThan(1_000_000);
    expect(encoderThreadsFor(2, budget(512), 50_000_000)).toBe(1);
    expect(encoderThreadsFor(2, budget(512), 500_000)).toBe(2);
    // 3008 MiB, the shipped staging and prod size: two threads still hold its 50 MP limit.
    expect(pixelsWithinMemory(3008, 2)).toBeGreaterThanOrEqual(50_000_000);
    expect(encoderThreadsFor(2, budget(3008), 50_000_000)).toBe(2);
  });

  it('keeps what the CPUs give without a memory budget, and never goes below one', () => {
    expect(encoderThreadsFor(8, undefined, 50_000_000)).toBe(8);
    expect(encoderThreadsFor(0, budget(256), 50_000_000)).toBe(1);
  });
});
