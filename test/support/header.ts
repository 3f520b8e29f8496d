import type { InputFormat } from '../../src/core/formats.ts';
import type { ImageHeader, PixelLayout } from '../../src/image/probe.ts';

/**
 * A still image's header as the probe reports it: upright, one frame, no colour warnings; alpha
 * from the layout's channels (a JPEG's four are CMYK, not alpha).
 */
export function stillHeader(
  format: InputFormat,
  width: number,
  height: number,
  layout: PixelLayout,
): ImageHeader {
  return {
    format,
    width,
    height,
    orientation: 1,
    displayWidth: width,
    displayHeight: height,
    hasAlpha: format !== 'jpeg' && (layout.channels === 2 || layout.channels === 4),
    animated: false,
    frames: 1,
    colour: { warnings: [] },
    layout,
  };
}
