import { encode } from '../codecs/index.ts';
import { parsePipelineConfig } from '../config/document.ts';
import type { Limits, PipelineConfig, Rgba } from '../core/config.ts';
import { flatten, pad, type RawImage } from '../image/raw.ts';
import { Deadline } from './deadline.ts';
import { type Encoder, processImage } from './process-image.ts';

/**
 * Small JPEGs of an image, for a service that looks at the picture rather than the file (content
 * moderation): decoded, oriented, its long side scaled to `longSide` pixels (up or down, so tiny
 * images still meet a service's minimum size; its short side padded to `minSide` when the image is
 * too elongated for it) and flattened onto white; an image with transparent
 * pixels is also flattened onto black. One background alone can hide a picture drawn in the alpha
 * channel (white pixels shaped by their opacity vanish on white and show on any dark page), but
 * none can hide it on both. The same decode, limits and time budget as processImage, since it is
 * processImage with one variant, decoded once for both.
 */
export interface RenditionOptions {
  readonly longSide: number;
  readonly quality: number;
  /**
   * The least width and height the service takes: a rendition narrower or lower (an image more
   * than longSide / minSide times as long as it is wide) is centred on a canvas of that size, of
   * its background's colour.
   */
  readonly minSide: number;
}

/**
 * Rekognition takes JPEG bytes up to 5 MB, and images of at least 80 pixels in height and width
 * ("Guidelines and quotas in Amazon Rekognition"); 1024 px at quality 85 is a few hundred KB.
 */
export const MODERATION_RENDITION: RenditionOptions = { longSide: 1024, quality: 85, minSide: 80 };

export type RenditionBackground = 'white' | 'black';

const BACKGROUNDS: Record<RenditionBackground, Rgba> = {
  white: { r: 255, g: 255, b: 255, a: 255 },
  black: { r: 0, g: 0, b: 0, a: 255 },
};

/** The rendition as a pipeline document: JPEG, or PNG (which keeps the alpha channel). */
export function renditionConfig(
  limits: Limits,
  options: RenditionOptions = MODERATION_RENDITION,
  format: 'jpeg' | 'png' = 'jpeg',
): PipelineConfig {
  // The memory budget belongs to the process, not the document: it is passed on as an override.
  const { memory, ...documentLimits } = limits;
  return parsePipelineConfig(
    {
      variants: [
        {
          name: 'rendition',
          width: options.longSide,
          height: options.longSide,
          fit: 'inside',
          upscale: true,
        },
      ],
      formats: format === 'jpeg' ? { jpeg: { quality: options.quality } } : { png: {} },
      limits: documentLimits,
    },
    'rendition',
    memory ? { memory } : {},
  );
}

export interface Rendition {
  readonly background: RenditionBackground;
  readonly bytes: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/**
 * The renditions of `bytes` under `limits`: on white, then on black if the image has transparent
 * pixels. One decode and resize (processImage, whose one encode is replaced by keeping the
 * unflattened pixels), then each background flattened and encoded here, within the same deadline.
 */
export async function renderJpegs(
  bytes: Uint8Array,
  limits: Limits,
  invocationEndsAt?: number,
  options: RenditionOptions = MODERATION_RENDITION,
): Promise<Rendition[]> {
  const jpegOptions = renditionConfig(limits, options).formatOptions;
  // As PNG, processImage hands its encoder the pixels unflattened.
  const unflattened = renditionConfig(limits, options, 'png');
  let pixels: RawImage | undefined;
  const keep: Encoder = {
    parallel: false,
    workers: 1,
    async encode(_format, image, _options, signal) {
      signal?.throwIfAborted();
      pixels = image;
      return { bytes: new Uint8Array(0), ms: 0 };
    },
  };
  const deadline = new Deadline({ maxSeconds: limits.maxSecondsPerImage, invocationEndsAt });
  try {
    const image = await processImage(bytes, unflattened, keep, deadline);
    const renditions: Rendition[] = [];
    for (const background of image.transparent ? (['white', 'black'] as const) : (['white'] as const)) {
      deadline.enter('encode');
      const flat = padded(
        image.transparent ? flatten(pixels!, BACKGROUNDS[background]) : pixels!,
        options.minSide,
        BACKGROUNDS[background],
      );
      const jpeg = await encode('jpeg', flat, jpegOptions);
      renditions.push({ background, bytes: jpeg, width: flat.width, height: flat.height });
    }
    deadline.check();
    return renditions;
  } finally {
    deadline.dispose();
  }
}

/** The image on a canvas of at least `minSide` in each dimension (a panorama, a banner). */
function padded(image: RawImage, minSide: number, background: Rgba): RawImage {
  if (image.width >= minSide && image.height >= minSide) return image;
  return pad(image, Math.max(image.width, minSide), Math.max(image.height, minSide), background);
}
