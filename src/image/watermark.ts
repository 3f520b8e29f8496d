import type { WatermarkPosition } from '../core/config.ts';
import type { RawImage } from './raw.ts';

/** Where a watermark of `mark` size goes on an output, and at what size; pure arithmetic. */
export interface MarkPlacement {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export interface MarkLayout {
  readonly position: WatermarkPosition;
  /** Fraction of the output's shorter side. */
  readonly margin: number;
  /** Fraction of the output's width. */
  readonly size: number;
}

/**
 * The mark is `size` x the output's width wide, its height in the mark's own aspect ratio, both
 * reduced (same ratio) if it would not fit inside the margins; it sits `margin` x the output's
 * shorter side from the edges of its corner, or in the middle for `center`. Each side is at
 * least 1 px. Undefined when no pixel of the mark fits (an output smaller than its margins).
 */
export function placeMark(
  output: { readonly width: number; readonly height: number },
  mark: { readonly width: number; readonly height: number },
  layout: MarkLayout,
): MarkPlacement | undefined {
  const margin = Math.round(layout.margin * Math.min(output.width, output.height));
  const roomWidth = output.width - (layout.position === 'center' ? 0 : 2 * margin);
  const roomHeight = output.height - (layout.position === 'center' ? 0 : 2 * margin);
  if (roomWidth < 1 || roomHeight < 1) return undefined;
  let width = Math.min(layout.size * output.width, roomWidth);
  let height = (width * mark.height) / mark.width;
  if (height > roomHeight) {
    width = (width * roomHeight) / height;
    height = roomHeight;
  }
  width = Math.max(1, Math.min(roomWidth, Math.round(width)));
  height = Math.max(1, Math.min(roomHeight, Math.round(height)));
  const right = output.width - margin - width;
  const bottom = output.height - margin - height;
  switch (layout.position) {
    case 'top-left':
      return { left: margin, top: margin, width, height };
    case 'top-right':
      return { left: right, top: margin, width, height };
    case 'bottom-left':
      return { left: margin, top: bottom, width, height };
    case 'bottom-right':
      return { left: right, top: bottom, width, height };
    case 'center':
      return {
        left: Math.floor((output.width - width) / 2),
        top: Math.floor((output.height - height) / 2),
        width,
        height,
      };
  }
}

/**
 * A copy of `base` with `mark` (straight, non-premultiplied RGBA, already at its placed size)
 * composited over it at (`left`, `top`) with Porter-Duff "over", the mark's alpha multiplied by
 * `opacity`. Straight alpha in and out, as the rest of the pipeline keeps it; the arithmetic is the
 * premultiplied one (colour x alpha), divided back by the result's alpha. `base` is not modified:
 * later variants are resized from it.
 */
export function compositeOver(
  base: RawImage,
  mark: RawImage,
  left: number,
  top: number,
  opacity: number,
): RawImage {
  const data = new Uint8ClampedArray(base.data);
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(base.width, left + mark.width);
  const y1 = Math.min(base.height, top + mark.height);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const m = ((y - top) * mark.width + (x - left)) * 4;
      const markAlpha = (mark.data[m + 3]! / 255) * opacity;
      if (markAlpha === 0) continue;
      const b = (y * base.width + x) * 4;
      const baseAlpha = data[b + 3]! / 255;
      const under = baseAlpha * (1 - markAlpha);
      const alpha = markAlpha + under;
      for (let c = 0; c < 3; c++) {
        data[b + c] = Math.round((mark.data[m + c]! * markAlpha + data[b + c]! * under) / alpha);
      }
      data[b + 3] = Math.round(alpha * 255);
    }
  }
  return { width: base.width, height: base.height, data };
}
