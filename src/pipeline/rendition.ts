import { parsePipelineConfig } from '../config/document.ts';
import type { Limits, PipelineConfig } from '../core/config.ts';
import { Deadline } from './deadline.ts';
import { inThreadEncoder, processImage } from './process-image.ts';

/**
 * One small JPEG of an image, for a service that looks at the picture rather than the file
 * (content moderation): decoded once, oriented, its long side scaled to `longSide` pixels (up or
 * down, so tiny images still meet a service's minimum size) and flattened onto white. The same
 * decode, limits and time budget as processImage, since it is processImage with one variant.
 */
export interface RenditionOptions {
  readonly longSide: number;
  readonly quality: number;
}

/** Rekognition takes JPEG bytes up to 5 MB; 1024 px at quality 85 is a few hundred KB. */
export const MODERATION_RENDITION: RenditionOptions = { longSide: 1024, quality: 85 };

export function renditionConfig(
  limits: Limits,
  options: RenditionOptions = MODERATION_RENDITION,
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
      background: '#ffffff',
      limits: documentLimits,
    },
    'rendition',
    memory ? { memory } : {},
  );
}

export async function renderJpeg(
  bytes: Uint8Array,
  config: PipelineConfig,
  invocationEndsAt?: number,
): Promise<{ bytes: Uint8Array; width: number; height: number }> {
  const deadline = new Deadline({ maxSeconds: config.limits.maxSecondsPerImage, invocationEndsAt });
  try {
    const image = await processImage(bytes, config, inThreadEncoder, deadline);
    const output = image.outputs[0]!;
    return { bytes: output.bytes, width: output.width, height: output.height };
  } finally {
    deadline.dispose();
  }
}
