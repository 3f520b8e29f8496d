import { parsePipelineConfig } from '../config/document.ts';
import type { Limits, PipelineConfig } from '../core/config.ts';
import { Deadline } from './deadline.ts';
import { inThreadEncoder, processImage } from './process-image.ts';

/**
 * Small JPEGs of an image, for a service that looks at the picture rather than the file (content
 * moderation): decoded, oriented, its long side scaled to `longSide` pixels (up or down, so tiny
 * images still meet a service's minimum size) and flattened onto white; an image with transparent
 * pixels is also flattened onto black. One background alone can hide a picture drawn in the alpha
 * channel (white pixels shaped by their opacity vanish on white and show on any dark page), but
 * none can hide it on both. The same decode, limits and time budget as processImage, since it is
 * processImage with one variant.
 */
export interface RenditionOptions {
  readonly longSide: number;
  readonly quality: number;
}

/** Rekognition takes JPEG bytes up to 5 MB; 1024 px at quality 85 is a few hundred KB. */
export const MODERATION_RENDITION: RenditionOptions = { longSide: 1024, quality: 85 };

export type RenditionBackground = 'white' | 'black';

const BACKGROUNDS: Record<RenditionBackground, string> = { white: '#ffffff', black: '#000000' };

export function renditionConfig(
  limits: Limits,
  options: RenditionOptions = MODERATION_RENDITION,
  background: RenditionBackground = 'white',
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
      formats: { jpeg: { quality: options.quality } },
      background: BACKGROUNDS[background],
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
 * pixels (a second decode, within the same time budget).
 */
export async function renderJpegs(
  bytes: Uint8Array,
  limits: Limits,
  invocationEndsAt?: number,
  options: RenditionOptions = MODERATION_RENDITION,
): Promise<Rendition[]> {
  const deadline = new Deadline({ maxSeconds: limits.maxSecondsPerImage, invocationEndsAt });
  try {
    const renditions: Rendition[] = [];
    for (const background of ['white', 'black'] as const) {
      const image = await processImage(
        bytes,
        renditionConfig(limits, options, background),
        inThreadEncoder,
        deadline,
      );
      const output = image.outputs[0]!;
      renditions.push({ background, bytes: output.bytes, width: output.width, height: output.height });
      if (!image.transparent) break;
    }
    return renditions;
  } finally {
    deadline.dispose();
  }
}
