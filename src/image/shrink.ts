import { pixelWords, type RawImage } from './raw.ts';

/**
 * Integer box shrink: each output pixel is the mean of a factorX x factorY block. Used before a
 * large lanczos reduction the way libvips (and so sharp) does it: shrink by the integer part that
 * leaves at most 2x for the lanczos step, whose cost grows with the input size.
 * Each input pixel is read once.
 */
export function boxShrink(image: RawImage, factorX: number, factorY: number): RawImage {
  if (factorX === 1 && factorY === 1) return image;
  if (factorX * factorY > 256)
    throw new RangeError(`box shrink by ${factorX}x${factorY} would overflow 16-bit sums`);
  const width = Math.floor(image.width / factorX);
  const height = Math.floor(image.height / factorY);
  const src = pixelWords(image);
  const out = new Uint8ClampedArray(width * height * 4);
  const dst = new Uint32Array(out.buffer);
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

/** The integer shrink libvips applies before a lanczos reduction to `scale` (vips_resize, gap 2). */
export function integerShrink(scale: number): number {
  return scale >= 1 ? 1 : Math.max(1, Math.round(1 / (scale * 2)));
}
