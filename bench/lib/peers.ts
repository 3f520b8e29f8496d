import { readFile } from 'node:fs/promises';
import { decode, encode } from '../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { J1_INPUT, j1Document, type SharpTune, sharpSettings } from './jobs.ts';

/**
 * What the J1 peers are told, side by side, so a reader can check that every sharp setting maps to
 * ours; and the chroma subsampling each peer's JPEG really has, read back from the file.
 */
export interface SettingRow {
  readonly setting: string;
  readonly imgpipe: string;
  readonly sharp: string;
}

export function settingsMapping(avifSpeed: number, tune: SharpTune = 'ssim'): SettingRow[] {
  const ours = parsePipelineConfig(j1Document(avifSpeed));
  const { jpeg, webp, avif } = ours.formatOptions;
  const theirs = sharpSettings(avifSpeed, tune);
  return [
    {
      setting: 'resize',
      imgpipe: `${ours.resize.method}, ${ours.resize.linearRGB ? 'linear light' : 'sRGB'}`,
      sharp: `kernel ${theirs.resize.kernel}, sRGB (libvips)`,
    },
    {
      setting: 'JPEG',
      imgpipe: `MozJPEG q${jpeg.quality}, trellis, ${jpeg.progressive ? 'progressive' : 'baseline'}, ${jpeg.chromaSubsampling}`,
      sharp: `mozjpeg: true (trellis), quality ${theirs.jpeg.quality}, progressive ${theirs.jpeg.progressive}, chromaSubsampling ${theirs.jpeg.chromaSubsampling}`,
    },
    {
      setting: 'WebP',
      imgpipe: `libwebp q${webp.quality}, method ${webp.effort}, ${webp.lossless ? 'lossless' : 'lossy'}`,
      sharp: `quality ${theirs.webp.quality}, effort ${theirs.webp.effort} (= method)`,
    },
    {
      setting: 'AVIF',
      imgpipe: `libaom q${avif.quality} (cq-level ${Math.floor(((100 - avif.quality) * 63 + 50) / 100)}), speed ${avif.speed} (cpu-used ${avif.speed}), tune ${avif.quality >= 50 ? 'ssim' : 'psnr'}, ${avif.chromaSubsampling}`,
      sharp: `quality ${theirs.avif.quality}, effort ${theirs.avif.effort} (cpu-used ${9 - theirs.avif.effort}), tune ${tune === 'auto' ? 'auto (= iq)' : tune}, chromaSubsampling ${theirs.avif.chromaSubsampling}`,
    },
  ];
}

/** The sampling factors in a JPEG's start-of-frame segment, e.g. "2x2,1x1,1x1" for 4:2:0. */
export function jpegSamplingFactors(jpeg: Uint8Array): string {
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    const length = (jpeg[at + 2]! << 8) | jpeg[at + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const components = jpeg[at + 9]!;
      return Array.from({ length: components }, (_, i) => {
        const factors = jpeg[at + 11 + i * 3]!;
        return `${factors >> 4}x${factors & 0x0f}`;
      }).join(',');
    }
    at += 2 + length;
  }
  throw new Error('No start-of-frame segment in the JPEG');
}

/** Each peer's JPEG of the J1 photo at 320 px, and the sampling factors it wrote. */
export async function jpegSamplingOfPeers(): Promise<{ imgpipe: string; sharp: string }> {
  const input = await readFile(J1_INPUT);
  const { default: sharp } = await import('sharp');
  const settings = sharpSettings(6, 'ssim');
  const theirs = await sharp(input)
    .resize({ width: 320, ...settings.resize })
    .jpeg(settings.jpeg)
    .toBuffer();
  const config = parsePipelineConfig(j1Document());
  const pixels = await decode('jpeg', input, 8);
  const ours = await encode('jpeg', pixels, config.formatOptions);
  return { imgpipe: jpegSamplingFactors(ours), sharp: jpegSamplingFactors(theirs) };
}
