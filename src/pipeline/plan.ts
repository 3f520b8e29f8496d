import type { VariantSpec } from '../core/config.ts';
import { FORMAT_META, type OutputFormat } from '../core/formats.ts';

/**
 * Turns the configured variants into resize steps for one image, before any pixel is touched.
 * Geometry is in display coordinates (after orientation). Steps run largest first, and a step reads
 * from the smallest earlier result that still leaves at least CHAIN_MIN_RATIO of downscaling to do,
 * else from the decoded source: 1600 -> 800 -> 320 instead of three resizes of a 12 MP image, without
 * resampling an image twice at nearly the same scale (which would soften it). Every output fits its
 * formats' dimension limits (withinLimits) and has sides of at least 1 px, whatever the aspect ratio.
 */
export const CHAIN_MIN_RATIO = 2;

export interface Size {
  readonly width: number;
  readonly height: number;
}

export interface Region extends Size {
  readonly left: number;
  readonly top: number;
}

export interface Step {
  readonly variant: VariantSpec;
  /** `source` (the decoded image) or the index, in the plan, of an earlier reusable step. */
  readonly from: 'source' | number;
  /** Part of the full image to resample, in full-size display coordinates (centred for cover). */
  readonly region: Region;
  /** Size the region is resampled to. */
  readonly resizeTo: Size;
  /** Final size: resizeTo, or the `contain` canvas it is centred on. */
  readonly output: Size;
  /** The result is the whole image, unpadded, so later steps may resample it further. */
  readonly reusable: boolean;
  /** Set when an output format's dimension limit made the variant smaller than configured. */
  readonly limit?: FormatLimit;
}

/** The dimension limit that reduced a variant, as the manifest records it. */
export interface FormatLimit {
  /** The format whose limit applied: the tightest among the variant's formats. */
  readonly format: OutputFormat;
  /** The limit that applied: the longest side, or else width x height. */
  readonly maxSide?: number;
  readonly maxPixels?: number;
  /** The output size the variant would have had without it. */
  readonly planned: Size;
}

export function planSteps(image: Size, variants: readonly VariantSpec[], minRatio = CHAIN_MIN_RATIO): Step[] {
  const geometry = variants.map((variant) => ({ variant, ...withinLimits(image, variant) }));
  // Largest first; the sort is stable, so equal sizes keep the configured order.
  geometry.sort((a, b) => b.resizeTo.width * b.resizeTo.height - a.resizeTo.width * a.resizeTo.height);

  const steps: Step[] = [];
  for (const g of geometry) {
    let from: Step['from'] = 'source';
    let smallest = Number.POSITIVE_INFINITY;
    steps.forEach((candidate, index) => {
      if (!candidate.reusable) return;
      const scale = candidate.output.width / image.width;
      const regionW = g.region.width * scale;
      const regionH = g.region.height * scale;
      const same =
        (Math.round(regionW) === g.resizeTo.width && Math.round(regionH) === g.resizeTo.height) ||
        identical(candidate, g, image);
      // An enlarged result (upscale) holds no detail the source lacks: resampling it down again
      // only softens what the source would give (a 400 px variant of a 100 px image, which keeps
      // its 100 px, was made from a 1000 px upscaled variant and lost its sharpness).
      const enlarged = candidate.output.width > image.width || candidate.output.height > image.height;
      const enough =
        !enlarged && regionW >= g.resizeTo.width * minRatio && regionH >= g.resizeTo.height * minRatio;
      const pixels = candidate.output.width * candidate.output.height;
      if ((same || enough) && pixels < smallest) {
        from = index;
        smallest = pixels;
      }
    });
    steps.push({ ...g, from });
  }
  return steps;
}

type Geometry = Omit<Step, 'variant' | 'from'>;

/**
 * The candidate (whole and unpadded) is already the picture `g` asks for: the whole image at the
 * same size. The scale test above misses it when a side was held at 1 px, which stretches the
 * candidate (a 2x100000 image at 1x16383): then the two variants share one resize and one encode.
 */
function identical(candidate: Step, g: Geometry, image: Size): boolean {
  return (
    g.region.width === image.width &&
    g.region.height === image.height &&
    candidate.output.width === g.resizeTo.width &&
    candidate.output.height === g.resizeTo.height
  );
}

/**
 * The variant's geometry within the dimension limits of its output formats (FORMAT_META: WebP 16383
 * px a side, AVIF 32768 a side and 16384 x 16384 pixels, JPEG 65500): a variant that would exceed
 * one is scaled down, keeping its aspect ratio, to the tightest limit among its formats, and records
 * which limit applied and the size it would have had. The whole variant, not one format's output, so
 * that a variant has one size in every format and costs one resize (src/pipeline/README.md).
 */
function withinLimits(image: Size, v: VariantSpec): Geometry {
  const planned = variantGeometry(image, v);
  const { width, height } = planned.output;
  let side: { format: OutputFormat; maxSide: number } | undefined;
  let area: { format: OutputFormat; maxPixels: number } | undefined;
  for (const format of v.formats) {
    const { maxSide, maxPixels } = FORMAT_META[format].limits;
    if (!side || maxSide < side.maxSide) side = { format, maxSide };
    if (maxPixels !== undefined && (!area || maxPixels < area.maxPixels)) area = { format, maxPixels };
  }
  // Factors that would bring the output within each limit; the smaller one applies.
  const bySide = side ? side.maxSide / Math.max(width, height) : 1;
  const byArea = area ? Math.sqrt(area.maxPixels / (width * height)) : 1;
  const factor = Math.min(bySide, byArea);
  if (factor >= 1) return planned;
  const cap: Cap = { maxSide: side?.maxSide ?? Infinity, maxPixels: area?.maxPixels ?? Infinity };
  const limit: FormatLimit =
    bySide <= byArea ? { ...side!, planned: planned.output } : { ...area!, planned: planned.output };
  return { ...variantGeometry(image, v, cap), limit };
}

interface Cap {
  readonly maxSide: number;
  readonly maxPixels: number;
}

/**
 * Geometry in display coordinates. With a cap, the output is kept within it: a fit-inside scale is
 * lowered, a cover or contain box is shrunk by the same factor, and a size that rounding took over
 * the cap is brought back to it.
 */
function variantGeometry(image: Size, v: VariantSpec, cap: Cap = NO_CAP): Geometry {
  const { width: W, height: H } = image;
  const full: Region = { left: 0, top: 0, width: W, height: H };
  const limit = (scale: number) => (v.upscale ? scale : Math.min(scale, 1));
  // The factor that brings w x h within the cap (Infinity without one).
  const capScale = (w: number, h: number) =>
    Math.min(cap.maxSide / w, cap.maxSide / h, Math.sqrt(cap.maxPixels / (w * h)));
  const sized = (w: number, h: number) => within(cap, w, h);
  const scaled = (scale: number): Size => sized(W * scale, H * scale);
  const box = (w: number, h: number): Size => {
    const k = capScale(w, h);
    return k < 1 ? sized(w * k, h * k) : { width: w, height: h };
  };

  if (v.fit === 'cover' && v.width && v.height) {
    const target = box(v.width, v.height);
    const scale = limit(Math.max(target.width / W, target.height / H));
    const resizeTo = {
      width: Math.min(target.width, Math.round(W * scale)),
      height: Math.min(target.height, Math.round(H * scale)),
    };
    const region = centred(
      image,
      Math.min(W, Math.round(resizeTo.width / scale)),
      Math.min(H, Math.round(resizeTo.height / scale)),
    );
    const whole = region.width === W && region.height === H;
    return { region, resizeTo, output: resizeTo, reusable: whole };
  }
  if (v.fit === 'contain' && v.width && v.height) {
    const output = box(v.width, v.height);
    const resizeTo = scaled(limit(Math.min(output.width / W, output.height / H)));
    const unpadded = resizeTo.width === output.width && resizeTo.height === output.height;
    return { region: full, resizeTo, output, reusable: unpadded };
  }
  let scale = 1;
  if (v.width && v.height) scale = Math.min(v.width / W, v.height / H);
  else if (v.width) scale = v.width / W;
  else if (v.height) scale = v.height / H;
  const resizeTo = scaled(Math.min(limit(scale), capScale(W, H)));
  return { region: full, resizeTo, output: resizeTo, reusable: true };
}

const NO_CAP: Cap = { maxSide: Infinity, maxPixels: Infinity };

/**
 * Rounds a scaled size to whole pixels, every side at least 1 px (an axis never goes to 0, however
 * extreme the aspect ratio: libvips's rule), then brings back within the cap what rounding took over.
 */
function within(cap: Cap, w: number, h: number): Size {
  let width = Math.min(cap.maxSide, Math.max(1, Math.round(w)));
  let height = Math.min(cap.maxSide, Math.max(1, Math.round(h)));
  while (width * height > cap.maxPixels) {
    if (width >= height) width--;
    else height--;
  }
  return { width, height };
}

export function centred(image: Size, width: number, height: number): Region {
  return {
    left: Math.floor((image.width - width) / 2),
    top: Math.floor((image.height - height) / 2),
    width,
    height,
  };
}
