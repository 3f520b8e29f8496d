import { pixelWords, type RawImage } from './raw.ts';

/**
 * EXIF orientations 1-8 as 2x2 matrices that map stored pixel coordinates (x right, y down) to
 * display coordinates, up to a translation. Writing them as matrices lets us compose AVIF's
 * rotate-then-mirror properties and look the result up here, instead of a table copied by hand.
 */
export type Orientation = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
type Matrix = readonly [number, number, number, number]; // [a, b, c, d]: x' = a*x + b*y, y' = c*x + d*y

const MATRICES: Readonly<Record<Orientation, Matrix>> = {
  1: [1, 0, 0, 1],
  2: [-1, 0, 0, 1], // mirror left-right
  3: [-1, 0, 0, -1], // rotate 180
  4: [1, 0, 0, -1], // mirror top-bottom
  5: [0, 1, 1, 0], // transpose
  6: [0, -1, 1, 0], // rotate 90 clockwise
  7: [0, -1, -1, 0], // transverse
  8: [0, 1, -1, 0], // rotate 90 anticlockwise
};

export function isOrientation(value: unknown): value is Orientation {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 8;
}

/** Orientations 5-8 swap width and height. */
export function swapsAxes(orientation: Orientation): boolean {
  return orientation >= 5;
}

function multiply(m: Matrix, n: Matrix): Matrix {
  return [
    m[0] * n[0] + m[1] * n[2],
    m[0] * n[1] + m[1] * n[3],
    m[2] * n[0] + m[3] * n[2],
    m[2] * n[1] + m[3] * n[3],
  ];
}

function fromMatrix(m: Matrix): Orientation {
  for (const [key, value] of Object.entries(MATRICES)) {
    if (value.every((v, i) => v === m[i])) return Number(key) as Orientation;
  }
  throw new Error(`not an orientation matrix: ${m.join(',')}`);
}

/**
 * HEIF/AVIF transforms: `irot` turns anticlockwise by angle x 90 degrees, then `imir` mirrors
 * (axis 0: top and bottom exchanged, axis 1: left and right), per MIAF (ISO/IEC 23000-22) 7.3.6.7.
 */
export function orientationFromHeifTransforms(
  irotAngle: number | undefined,
  imirAxis: number | undefined,
): Orientation {
  const quarterTurnAnticlockwise = MATRICES[8];
  let m: Matrix = MATRICES[1];
  for (let i = 0; i < (irotAngle ?? 0) % 4; i++) m = multiply(quarterTurnAnticlockwise, m);
  if (imirAxis === 0) m = multiply(MATRICES[4], m);
  if (imirAxis === 1) m = multiply(MATRICES[2], m);
  return fromMatrix(m);
}

/** Returns the image as it should be displayed. Orientation 1 returns the input itself. */
export function applyOrientation(image: RawImage, orientation: Orientation): RawImage {
  if (orientation === 1) return image;
  const { width: w, height: h } = image;
  const [a, b, c, d] = MATRICES[orientation];
  const outW = swapsAxes(orientation) ? h : w;
  const outH = swapsAxes(orientation) ? w : h;
  // Translation that brings the transformed corner back to (0, 0).
  const tx = a < 0 || b < 0 ? outW - 1 : 0;
  const ty = c < 0 || d < 0 ? outH - 1 : 0;
  // Move whole RGBA pixels as 32-bit words.
  const src = pixelWords(image);
  const out = new Uint8ClampedArray(w * h * 4);
  const dst = new Uint32Array(out.buffer);
  const stepX = a + c * outW; // change of the destination index when x grows by one
  for (let y = 0; y < h; y++) {
    let target = tx + b * y + (ty + d * y) * outW;
    const row = y * w;
    for (let x = 0; x < w; x++) {
      dst[target] = src[row + x]!;
      target += stepX;
    }
  }
  return { width: outW, height: outH, data: out };
}
