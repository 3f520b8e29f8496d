import type { AnimationPolicy, Limits } from '../core/config.ts';
import { InvalidImageError } from '../core/errors.ts';
import { isInputFormat } from '../core/formats.ts';
import { checkDecoderLimits, type ImageHeader, probeImage } from './probe.ts';
import { sniffFormat } from './sniff.ts';

/**
 * Sniffs and probes the header and applies the limits: everything we can refuse before decoding.
 * `animation`: an animated image gives its first frame (`first-frame`), or is refused (`quarantine`).
 * `checkTime`: stops the probe's walk through the file by throwing (probeImage).
 */
export function inspectImage(
  bytes: Uint8Array,
  limits: Limits,
  animation: AnimationPolicy = 'first-frame',
  checkTime?: () => void,
): ImageHeader {
  if (bytes.length === 0) throw new InvalidImageError('empty', 'The file is empty (0 bytes)', { bytes: 0 });
  if (bytes.length > limits.maxBytes) {
    throw new InvalidImageError(
      'too-large',
      `The file is ${bytes.length} bytes, more than maxBytes (${limits.maxBytes})`,
      { bytes: bytes.length, maxBytes: limits.maxBytes },
    );
  }
  const detected = sniffFormat(bytes);
  if (!isInputFormat(detected)) {
    throw new InvalidImageError(
      'unsupported-format',
      `The file's content is ${detected === 'unknown' ? 'not a recognised image format' : detected}; accepted formats are JPEG, PNG, WebP, AVIF, HEIC and GIF`,
      { detected },
    );
  }
  const header = probeImage(detected, bytes, checkTime);
  const pixels = header.width * header.height;
  if (pixels > limits.maxPixels) {
    throw new InvalidImageError(
      'too-many-pixels',
      `The ${detected} header declares ${header.width}x${header.height} = ${pixels} pixels, more than maxPixels (${limits.maxPixels})`,
      { format: detected, width: header.width, height: header.height, pixels, maxPixels: limits.maxPixels },
    );
  }
  checkDecoderLimits(detected, header.width, header.height);
  if (header.animated && animation === 'quarantine') {
    throw new InvalidImageError(
      'animated',
      `The ${detected} file is animated (${header.frames} frames) and the animation setting is "quarantine"`,
      { format: detected, frames: header.frames, animation },
    );
  }
  return header;
}
