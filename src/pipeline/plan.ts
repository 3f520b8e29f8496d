import type { VariantSpec } from '../core/config.ts';

/**
 * Turns the configured variants into resize steps for one image, before any pixel is touched.
 * Geometry is in display coordinates (after orientation). Steps run largest first, and a step reads
 * from the smallest earlier result that still leaves at least CHAIN_MIN_RATIO of downscaling to do,
 * else from the decoded source: 1600 -> 800 -> 320 instead of three resizes of a 12 MP image, without
 * resampling an image twice at nearly the same scale (which would soften it).
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
}

export function planSteps(image: Size, variants: readonly VariantSpec[], minRatio = CHAIN_MIN_RATIO): Step[] {
  const geometry = variants.map((variant) => ({ variant, ...variantGeometry(image, variant) }));
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
      const same = Math.round(regionW) === g.resizeTo.width && Math.round(regionH) === g.resizeTo.height;
      const enough = regionW >= g.resizeTo.width * minRatio && regionH >= g.resizeTo.height * minRatio;
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

function variantGeometry(image: Size, v: VariantSpec): Omit<Step, 'variant' | 'from'> {
  const { width: W, height: H } = image;
  const full: Region = { left: 0, top: 0, width: W, height: H };
  const limit = (scale: number) => (v.upscale ? scale : Math.min(scale, 1));
  const scaled = (scale: number): Size => ({
    width: Math.max(1, Math.round(W * scale)),
    height: Math.max(1, Math.round(H * scale)),
  });

  if (v.fit === 'cover' && v.width && v.height) {
    const scale = limit(Math.max(v.width / W, v.height / H));
    const resizeTo = {
      width: Math.min(v.width, Math.round(W * scale)),
      height: Math.min(v.height, Math.round(H * scale)),
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
    const resizeTo = scaled(limit(Math.min(v.width / W, v.height / H)));
    const output = { width: v.width, height: v.height };
    const unpadded = resizeTo.width === output.width && resizeTo.height === output.height;
    return { region: full, resizeTo, output, reusable: unpadded };
  }
  let scale = 1;
  if (v.width && v.height) scale = Math.min(v.width / W, v.height / H);
  else if (v.width) scale = v.width / W;
  else if (v.height) scale = v.height / H;
  const resizeTo = scaled(limit(scale));
  return { region: full, resizeTo, output: resizeTo, reusable: true };
}

export function centred(image: Size, width: number, height: number): Region {
  return {
    left: Math.floor((image.width - width) / 2),
    top: Math.floor((image.height - height) / 2),
    width,
    height,
  };
}
