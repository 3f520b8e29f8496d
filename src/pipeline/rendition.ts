import { encode } from '../codecs/index.ts';
import { ENCODE_COST } from '../codecs/memory.ts';
import { parsePipelineConfig } from '../config/document.ts';
import type { Limits, PipelineConfig, Rgba } from '../core/config.ts';
import { InvalidImageError } from '../core/errors.ts';
import { inspectImage } from '../image/inspect.ts';
import { crop, flatten, type RawImage } from '../image/raw.ts';
import { Deadline } from './deadline.ts';
import type { Region } from './plan.ts';
import { type Encoder, processImage } from './process-image.ts';

/**
 * Small JPEGs of an image, for a service that looks at the picture rather than the file (content
 * moderation): decoded, oriented, its long side scaled to `longSide` pixels (up or down, so tiny
 * images still meet a service's minimum size) and flattened onto white; an image with transparent
 * pixels is also flattened onto black. One background alone can hide a picture drawn in the alpha
 * channel (white pixels shaped by their opacity vanish on white and show on any dark page), but
 * none can hide it on both. Both hide one in the colours of nearly transparent pixels (alpha 1:
 * at most one level on any background), which a PNG, WebP or AVIF output keeps and anyone who
 * drops the alpha channel sees whole: an image with such colours (any pixel neither opaque nor
 * transparent black) is also rendered with its alpha channel dropped (`opaque`). The same decode, limits and time budget as processImage, since it is
 * processImage with one variant, decoded once for every rendition.
 *
 * An image more than `maxAspect` times as long as it is wide is cut into tiles (moderationTiles):
 * scaled whole to 1024 px, a tall strip of stacked pictures (20000x500) would show each of them a
 * few pixels high, and anything passes. Each tile is rendered as a whole image is.
 */
export interface RenditionOptions {
  readonly longSide: number;
  readonly quality: number;
  /**
   * The most a rendition's long side may be of its short side: an image more elongated is cut into
   * tiles of this aspect (moderationTiles).
   */
  readonly maxAspect: number;
}

/**
 * Rekognition takes JPEG bytes up to 5 MB, and images of at least 80 pixels in height and width
 * ("Guidelines and quotas in Amazon Rekognition"); 1024 px at quality 85 is a few hundred KB.
 * Tiles of at most 2:1 keep every common photo shape (4:3, 3:2, 16:9, a 2:1 equirectangular
 * panorama) to one rendition, one call, and give any picture in a tile at least 512 px across;
 * their short side (512 px and more) is far above Rekognition's 80 px minimum.
 */
export const MODERATION_RENDITION: RenditionOptions = { longSide: 1024, quality: 85, maxAspect: 2 };

/** `opaque`: the alpha channel dropped, the colours shown as stored. */
export type RenditionBackground = 'white' | 'black' | 'opaque';

const BACKGROUNDS: Record<Exclude<RenditionBackground, 'opaque'>, Rgba> = {
  white: { r: 255, g: 255, b: 255, a: 255 },
  black: { r: 0, g: 0, b: 0, a: 255 },
};

/**
 * The rendition as a pipeline document: JPEG, or PNG (which keeps the alpha channel). `tiled`
 * (an image cut into tiles of `maxAspect`): the whole image is scaled so that a tile's long side
 * is `longSide`, that is its short side to longSide / maxAspect (`short` names that side).
 */
export function renditionConfig(
  limits: Limits,
  options: RenditionOptions = MODERATION_RENDITION,
  format: 'jpeg' | 'png' = 'jpeg',
  tiled?: { readonly short: 'width' | 'height' },
): PipelineConfig {
  // The memory budget belongs to the process, not the document: it is passed on as an override.
  const { memory, ...documentLimits } = limits;
  const side = Math.round(options.longSide / options.maxAspect);
  return parsePipelineConfig(
    {
      variants: [
        tiled
          ? { name: 'rendition', [tiled.short]: side, fit: 'inside', upscale: true }
          : {
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

/** A tile: its place in the oriented image, 1-based `index` of `count`. */
export interface Tile extends Region {
  readonly index: number;
  readonly count: number;
}

export interface Rendition {
  readonly background: RenditionBackground;
  readonly bytes: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Set when the image was cut into tiles: the one this rendition shows. */
  readonly tile?: Tile;
}

/**
 * The tiles an oriented image of `width` x `height` is looked at in: the whole image when its long
 * side is at most `maxAspect` times its short side; else tiles of the full short side and
 * `maxAspect` times it along the long side, spread evenly from one end to the other, each
 * overlapping the next by at least the short side (half a tile at 2:1). Any picture in the image
 * no longer along the long side than the image is across (a square photo in a stack of them, or
 * anything wider than high in a tall strip) is then whole in one tile, however the stack is cut.
 * For an image r times as long as it is wide (r > maxAspect): 1 + ceil(r - maxAspect) tiles.
 */
export function moderationTiles(
  width: number,
  height: number,
  maxAspect = MODERATION_RENDITION.maxAspect,
): Tile[] {
  const count = tilesNeeded(width, height, maxAspect);
  if (count === 1) return [{ left: 0, top: 0, width, height, index: 1, count }];
  const tall = height > width;
  const [long, short] = tall ? [height, width] : [width, height];
  const length = tileLength(long, short, maxAspect);
  return Array.from({ length: count }, (_, i) => {
    const start = Math.round((i * (long - length)) / (count - 1));
    return tall
      ? { left: 0, top: start, width, height: length, index: i + 1, count }
      : { left: start, top: 0, width: length, height, index: i + 1, count };
  });
}

/** How many tiles an oriented image of `width` x `height` needs (moderationTiles), without listing them. */
export function tilesNeeded(
  width: number,
  height: number,
  maxAspect = MODERATION_RENDITION.maxAspect,
): number {
  const [long, short] = width >= height ? [width, height] : [height, width];
  if (long <= maxAspect * short) return 1;
  return 1 + Math.ceil((long - tileLength(long, short, maxAspect)) / short);
}

/** A tile's side along the image's long side: maxAspect times the short side, in whole pixels. */
function tileLength(long: number, short: number, maxAspect: number): number {
  return Math.min(long, Math.round(maxAspect * short));
}

/**
 * The memory the renditions take beyond what processImage's estimate holds for the scaled image
 * (its one variant, kept, and a PNG encode that never runs, 9 bytes a pixel where MozJPEG takes 22):
 * one rendition at a time, its copy flattened onto a background, and MozJPEG's encode of it
 * (codecs/memory.ts ENCODE_COST); a tile is a copy first (a tile across the rows of a wide image).
 * A whole image's rendition is up to longSide x longSide, twice a tile: 34 MiB at 1024 px, a
 * tile's 23 MiB.
 */
export function renditionWorkingBytes(
  options: RenditionOptions = MODERATION_RENDITION,
  tiled = false,
): number {
  const jpeg = ENCODE_COST.jpeg;
  const pixels =
    options.longSide * (tiled ? Math.ceil(options.longSide / options.maxAspect) : options.longSide);
  return pixels * ((tiled ? 4 : 0) + 4 + jpeg.bytesPerPixel) + jpeg.fixedMb * 1024 * 1024;
}

/** renditionWorkingBytes for a tile. */
export function tileWorkingBytes(options: RenditionOptions = MODERATION_RENDITION): number {
  return renditionWorkingBytes(options, true);
}

/**
 * The renditions of `bytes` under `limits`: on white, then on black if the image has transparent
 * pixels; an image cut into tiles, each tile so, in order. One decode and resize (processImage,
 * whose one encode is replaced by keeping the unflattened pixels), then each tile and background
 * flattened and encoded here, within the same deadline.
 *
 * `maxTiles`: an image that needs more tiles is refused before it is decoded, as `moderation` (it
 * cannot pass unmoderated), with its size, the tiles it needs and the cap. Its memory: the tiles
 * are cut from the image scaled once (a tile's long side at longSide), whose estimate
 * processImage checks before the decode against the budget less renditionWorkingBytes, so the
 * renditions made after it (tiles, or the whole image's) stay within the budget.
 */
export async function renderJpegs(
  bytes: Uint8Array,
  limits: Limits,
  invocationEndsAt?: number,
  options: RenditionOptions = MODERATION_RENDITION,
  maxTiles = Number.POSITIVE_INFINITY,
): Promise<Rendition[]> {
  const deadline = new Deadline({ maxSeconds: limits.maxSecondsPerImage, invocationEndsAt });
  try {
    // The header (as processImage reads it first): the oriented size decides the tiles.
    const header = inspectImage(bytes, limits, 'first-frame', () => deadline.check(true));
    const { displayWidth: width, displayHeight: height } = header;
    const needed = tilesNeeded(width, height, options.maxAspect);
    if (needed > maxTiles) {
      throw new InvalidImageError(
        'moderation',
        `Content moderation cannot look at the ${width}x${height} image: more than ${options.maxAspect}:1, it needs ${needed} tiles of at most ${options.maxAspect}:1, more than the ${maxTiles} IMGPIPE_MODERATION_MAX_TILES allows, and is not passed unmoderated`,
        { width, height, tiles: needed, maxTiles, maxAspect: options.maxAspect },
      );
    }
    const tiles = needed > 1 ? moderationTiles(width, height, options.maxAspect) : undefined;
    const tiled = tiles ? { short: width < height ? ('width' as const) : ('height' as const) } : undefined;
    const jpegOptions = renditionConfig(limits, options).formatOptions;
    // As PNG, processImage hands its encoder the pixels unflattened. The budget it checks keeps
    // room for the renditions made after it (tiles, or the whole image's).
    const reserve = limits.memory
      ? Math.ceil(renditionWorkingBytes(options, tiles !== undefined) / (1024 * 1024))
      : 0;
    const unflattened = renditionConfig(
      reserve > 0
        ? {
            ...limits,
            memory: {
              mb: limits.memory!.mb - reserve,
              source: `${limits.memory!.source}, less ${reserve} MiB for the moderation ${tiles ? 'tiles' : 'rendition'}`,
            },
          }
        : limits,
      options,
      'png',
      tiled,
    );
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
    const image = await processImage(bytes, unflattened, keep, deadline);
    const scaled = pixels!;
    const renditions: Rendition[] = [];
    for (const tile of tiles ?? [undefined]) {
      const part = tile ? tileOf(scaled, tile, width, height) : scaled;
      const backgrounds: RenditionBackground[] = image.transparent
        ? ['white', 'black', ...(hasHiddenColour(part) ? (['opaque'] as const) : [])]
        : ['white'];
      for (const background of backgrounds) {
        deadline.enter('encode');
        // MozJPEG reads RGBA and drops the alpha: unflattened, the colours as stored.
        const flat =
          background === 'opaque' || !image.transparent ? part : flatten(part, BACKGROUNDS[background]);
        const jpeg = await encode('jpeg', flat, jpegOptions);
        renditions.push({
          background,
          bytes: jpeg,
          width: flat.width,
          height: flat.height,
          ...(tile && { tile }),
        });
      }
    }
    deadline.check();
    return renditions;
  } finally {
    deadline.dispose();
  }
}

/**
 * Whether `image` has a pixel that is not opaque and not black: with its alpha dropped it shows
 * colours that neither background shows as they are (the colours of fully transparent pixels are
 * cleared to black by processImage, so an image of opaque and invisible pixels alone has none).
 */
function hasHiddenColour(image: RawImage): boolean {
  const { data } = image;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3]! < 255 && (data[i]! | data[i + 1]! | data[i + 2]!) !== 0) return true;
  }
  return false;
}

/** The pixels of `tile` (in the oriented image of `width` x `height`) in the image scaled as `scaled`. */
function tileOf(scaled: RawImage, tile: Tile, width: number, height: number): RawImage {
  const kx = scaled.width / width;
  const ky = scaled.height / height;
  const w = Math.min(scaled.width, Math.max(1, Math.round(tile.width * kx)));
  const h = Math.min(scaled.height, Math.max(1, Math.round(tile.height * ky)));
  const left = Math.min(scaled.width - w, Math.round(tile.left * kx));
  const top = Math.min(scaled.height - h, Math.round(tile.top * ky));
  return crop(scaled, left, top, w, h);
}
