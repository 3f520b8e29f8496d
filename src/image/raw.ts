import type { Rgba } from '../core/config.ts';

/** Decoded pixels: 8-bit RGBA, row-major, no padding. Shaped like the DOM's ImageData. */
export interface RawImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
}

/** The pixels as 32-bit words (one per RGBA pixel), copying only if the view is misaligned. */
export function pixelWords(image: RawImage): Uint32Array {
  const { data } = image;
  const bytes = data.byteOffset % 4 === 0 ? data : new Uint8ClampedArray(data);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, image.width * image.height);
}

/** True if any pixel (of `area`, by default all) is not fully opaque. Stops at the first one. */
export function hasTransparency(
  image: RawImage,
  area: { left: number; top: number; width: number; height: number } = {
    left: 0,
    top: 0,
    width: image.width,
    height: image.height,
  },
): boolean {
  const { data } = image;
  for (let y = area.top; y < area.top + area.height; y++) {
    const row = (y * image.width + area.left) * 4;
    for (let i = row + 3; i < row + area.width * 4; i += 4) if (data[i] !== 255) return true;
  }
  return false;
}

/**
 * Copies a rectangle out of an image. Whole-width rectangles are returned as a view (no copy):
 * cropping a landscape photo to a square for a cover thumbnail only copies the rows it keeps.
 */
export function crop(image: RawImage, left: number, top: number, width: number, height: number): RawImage {
  if (left === 0 && top === 0 && width === image.width && height === image.height) return image;
  const rowBytes = image.width * 4;
  if (left === 0 && width === image.width) {
    return { width, height, data: image.data.subarray(top * rowBytes, (top + height) * rowBytes) };
  }
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const start = (top + y) * rowBytes + left * 4;
    out.set(image.data.subarray(start, start + width * 4), y * width * 4);
  }
  return { width, height, data: out };
}

/**
 * Sets the colour of `image`'s fully transparent pixels to 0 (transparent black, what a
 * premultiplied resize leaves there), in place. An editor that erases to transparency keeps the
 * colours under it, so an upload's invisible pixels may hold a picture its owner removed; encoded
 * as they were, a PNG, WebP or AVIF output carries it to anyone who drops the alpha channel (and
 * AVIF's lossy alpha lets it show faintly). In place, since no other use of the pixels reads that
 * colour: resizing with transparency is premultiplied, compositing and flattening weigh it by its
 * alpha of 0; so an image that is the base of smaller variants may be cleared, without a copy.
 */
export function clearInvisible(image: RawImage): void {
  const { data } = image;
  if (data.byteOffset % 4 === 0) {
    // As 32-bit words (little-endian RGBA: alpha is the top byte), about twice as fast.
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length >> 2);
    for (let i = 0; i < words.length; i++) if (words[i]! < 0x01000000) words[i] = 0;
    return;
  }
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] === 0) {
      data[i - 3] = 0;
      data[i - 2] = 0;
      data[i - 1] = 0;
    }
  }
}

/** Blends every pixel over an opaque background colour (JPEG has no alpha channel). */
export function flatten(image: RawImage, background: Rgba): RawImage {
  const src = image.data;
  const out = new Uint8ClampedArray(src.length);
  const { r, g, b } = background;
  for (let i = 0; i < src.length; i += 4) {
    const alpha = src[i + 3]!;
    if (alpha === 255) {
      out[i] = src[i]!;
      out[i + 1] = src[i + 1]!;
      out[i + 2] = src[i + 2]!;
    } else {
      // Uint8ClampedArray rounds to the nearest integer on assignment.
      const inverse = 255 - alpha;
      out[i] = (src[i]! * alpha + r * inverse) / 255;
      out[i + 1] = (src[i + 1]! * alpha + g * inverse) / 255;
      out[i + 2] = (src[i + 2]! * alpha + b * inverse) / 255;
    }
    out[i + 3] = 255;
  }
  return { width: image.width, height: image.height, data: out };
}

/** Centres an image on a canvas of the given size filled with the background (for `contain`). */
export function pad(image: RawImage, width: number, height: number, background: Rgba): RawImage {
  if (image.width === width && image.height === height) return image;
  const out = new Uint8ClampedArray(width * height * 4);
  const fill = new Uint32Array(out.buffer);
  fill.fill(
    new Uint32Array(
      new Uint8ClampedArray([background.r, background.g, background.b, background.a]).buffer,
    )[0]!,
  );
  const left = Math.floor((width - image.width) / 2);
  const top = Math.floor((height - image.height) / 2);
  const rowBytes = image.width * 4;
  for (let y = 0; y < image.height; y++) {
    out.set(image.data.subarray(y * rowBytes, (y + 1) * rowBytes), ((top + y) * width + left) * 4);
  }
  return { width, height, data: out };
}
