import { pixelWords, type RawImage } from './raw.ts';

/**
 * Integer box shrink: each output pixel is the mean of a factorX x factorY block. Used before a
 * large lanczos reduction the way libvips (and so sharp) does it: shrink by the integer part that
 * leaves at most 2x for the lanczos step, whose cost grows with the input size.
 * Each input pixel is read once. Any factor works: extreme aspect ratios (a 50,000,000 x 1 strip
 * headed for 1600 x 1 shrinks by 15625 x 1) take a slower path with wider sums.
 */
export function boxShrink(image: RawImage, factorX: number, factorY: number): RawImage {
  if (factorX === 1 && factorY === 1) return image;
  if (factorX * factorY > 256) return wideBoxShrink(image, factorX, factorY);
  const width = Math.floor(image.width / factorX);
  const height = Math.floor(image.height / factorY);
  const src = pixelWords(image);
  const out = new Uint8ClampedArray(width * height * 4);
  const dst = new Uint32Array(out.buffer);
  if (factorX === 2 && factorY === 2) {
    shrink2x2(src, image.width, dst, width, height);
    return { width, height, data: out };
  }
  // Two channels per 32-bit sum, in 16-bit lanes: red and blue in one, green and alpha in the other
  // (little-endian RGBA words), so each pixel costs one load, two masks and two adds.
  const redBlue = new Uint32Array(width);
  const greenAlpha = new Uint32Array(width);
  const divisor = factorX * factorY;
  const half = divisor >> 1;
  for (let y = 0; y < height; y++) {
    redBlue.fill(0);
    greenAlpha.fill(0);
    for (let dy = 0; dy < factorY; dy++) {
      let i = (y * factorY + dy) * image.width;
      for (let x = 0; x < width; x++) {
        let rb = 0;
        let ga = 0;
        for (let dx = 0; dx < factorX; dx++) {
          const word = src[i++]!;
          rb += word & 0x00ff00ff;
          ga += (word >>> 8) & 0x00ff00ff;
        }
        redBlue[x]! += rb;
        greenAlpha[x]! += ga;
      }
    }
    let o = y * width;
    for (let x = 0; x < width; x++) {
      const rb = redBlue[x]!;
      const ga = greenAlpha[x]!;
      const r = (((rb & 0xffff) + half) / divisor) | 0;
      const b = (((rb >>> 16) + half) / divisor) | 0;
      const g = (((ga & 0xffff) + half) / divisor) | 0;
      const a = (((ga >>> 16) + half) / divisor) | 0;
      dst[o++] = (r | (g << 8) | (b << 16) | (a << 24)) >>> 0;
    }
  }
  return { width, height, data: out };
}

/**
 * The same mean for blocks of more than 256 pixels, whose sums would overflow 16-bit lanes: one
 * sum per channel, in doubles (exact to 2^53, beyond any block a pixel limit allows).
 */
function wideBoxShrink(image: RawImage, factorX: number, factorY: number): RawImage {
  const width = Math.floor(image.width / factorX);
  const height = Math.floor(image.height / factorY);
  const src = image.data;
  const out = new Uint8ClampedArray(width * height * 4);
  const sums = new Float64Array(width * 4);
  const divisor = factorX * factorY;
  const half = Math.floor(divisor / 2);
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factorY; dy++) {
      let i = (y * factorY + dy) * image.width * 4;
      for (let x = 0; x < width; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        let a = 0;
        for (let dx = 0; dx < factorX; dx++, i += 4) {
          r += src[i]!;
          g += src[i + 1]!;
          b += src[i + 2]!;
          a += src[i + 3]!;
        }
        sums[x * 4]! += r;
        sums[x * 4 + 1]! += g;
        sums[x * 4 + 2]! += b;
        sums[x * 4 + 3]! += a;
      }
    }
    const o = y * width * 4;
    for (let c = 0; c < width * 4; c++) out[o + c] = Math.floor((sums[c]! + half) / divisor);
  }
  return { width, height, data: out };
}

/**
 * Integer box shrink for images with transparency: each output pixel's alpha is the block's mean
 * alpha, and its colour the block's colours weighted by their alpha (a mean in premultiplied space,
 * unpremultiplied again). A plain mean would bleed the colour of invisible pixels, whatever it is,
 * into the visible edge; with the weights they count for nothing. A fully transparent block keeps
 * its plain mean colour, which the pipeline clears before encoding (raw.ts clearInvisible). The
 * lanczos step that follows is called with premultiplication, so the whole reduction stays
 * alpha-correct.
 */
export function boxShrinkPremultiplied(image: RawImage, factorX: number, factorY: number): RawImage {
  if (factorX === 1 && factorY === 1) return image;
  const width = Math.floor(image.width / factorX);
  const height = Math.floor(image.height / factorY);
  const src = image.data;
  const out = new Uint8ClampedArray(width * height * 4);
  const count = factorX * factorY;
  const sums = new Float64Array(width * 7);
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factorY; dy++) {
      let i = (y * factorY + dy) * image.width * 4;
      for (let x = 0; x < width; x++) {
        const s = x * 7;
        for (let dx = 0; dx < factorX; dx++, i += 4) {
          const a = src[i + 3]!;
          sums[s]! += src[i]! * a;
          sums[s + 1]! += src[i + 1]! * a;
          sums[s + 2]! += src[i + 2]! * a;
          sums[s + 3]! += a;
          sums[s + 4]! += src[i]!;
          sums[s + 5]! += src[i + 1]!;
          sums[s + 6]! += src[i + 2]!;
        }
      }
    }
    let o = y * width * 4;
    for (let x = 0; x < width; x++, o += 4) {
      const s = x * 7;
      const alpha = sums[s + 3]!;
      if (alpha > 0) {
        out[o] = sums[s]! / alpha;
        out[o + 1] = sums[s + 1]! / alpha;
        out[o + 2] = sums[s + 2]! / alpha;
      } else {
        out[o] = sums[s + 4]! / count;
        out[o + 1] = sums[s + 5]! / count;
        out[o + 2] = sums[s + 6]! / count;
      }
      out[o + 3] = alpha / count;
    }
  }
  return { width, height, data: out };
}

/**
 * The common case (a photo reduced by 2 to 4x), without the general loop's row sums and divisions:
 * four words in, one out, the rounding the same as the general loop's ((sum + 2) / 4).
 */
function shrink2x2(
  src: Uint32Array,
  srcWidth: number,
  dst: Uint32Array,
  width: number,
  height: number,
): void {
  let o = 0;
  for (let y = 0; y < height; y++) {
    let top = 2 * y * srcWidth;
    let bottom = top + srcWidth;
    for (let x = 0; x < width; x++) {
      const a = src[top++]!;
      const b = src[top++]!;
      const c = src[bottom++]!;
      const d = src[bottom++]!;
      const rb = (a & 0xff00ff) + (b & 0xff00ff) + (c & 0xff00ff) + (d & 0xff00ff) + 0x20002;
      const ga =
        ((a >>> 8) & 0xff00ff) +
        ((b >>> 8) & 0xff00ff) +
        ((c >>> 8) & 0xff00ff) +
        ((d >>> 8) & 0xff00ff) +
        0x20002;
      dst[o++] = ((rb >>> 2) & 0xff00ff) | (((ga >>> 2) & 0xff00ff) << 8);
    }
  }
}

/** The integer shrink libvips applies before a lanczos reduction to `scale` (vips_resize, gap 2). */
export function integerShrink(scale: number): number {
  return scale >= 1 ? 1 : Math.max(1, Math.round(1 / (scale * 2)));
}
