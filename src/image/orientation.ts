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

/** A HEIF transformative property: `irot` (angle x 90 degrees anticlockwise) or `imir` (axis). */
export type HeifTransform = { readonly irot: number } | { readonly imir: number };

/**
 * HEIF/AVIF transforms, applied in the order the item's ipma entry lists them (ISO/IEC 23008-12
 * 6.5.1): `irot` turns anticlockwise by angle x 90 degrees, `imir` mirrors (axis 0: top and bottom
 * exchanged, axis 1: left and right). MIAF (ISO/IEC 23000-22 7.3.6.7) lists the rotation first, but
 * a HEIF file may list them the other way, which is another orientation unless the rotation is 180.
 */
export function orientationFromHeifTransforms(transforms: readonly HeifTransform[]): Orientation {
  return fromMatrix(transforms.reduce(heifStep, MATRICES[1]));
}

function heifStep(m: Matrix, transform: HeifTransform): Matrix {
  if ('irot' in transform) {
    for (let i = 0; i < transform.irot % 4; i++) m = multiply(MATRICES[8], m);
    return m;
  }
  return multiply(transform.imir === 0 ? MATRICES[4] : MATRICES[2], m);
}

export interface Region {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * The region of a `width` x `height` image that is `region` of it once turned to `orientation`: a
 * clean aperture listed after a rotation or mirror crops the transformed image, and the pipeline
 * crops the stored one, before it orients it.
 */
export function storedRegion(
  orientation: Orientation,
  width: number,
  height: number,
  region: Region,
): Region {
  const [a, b, c, d] = MATRICES[orientation];
  const outW = swapsAxes(orientation) ? height : width;
  const outH = swapsAxes(orientation) ? width : height;
  const tx = a < 0 || b < 0 ? outW - 1 : 0;
  const ty = c < 0 || d < 0 ? outH - 1 : 0;
  // The matrices are orthogonal: the inverse is the transpose.
  const back = (x: number, y: number) => [a * (x - tx) + c * (y - ty), b * (x - tx) + d * (y - ty)] as const;
  const [x0, y0] = back(region.left, region.top);
  const [x1, y1] = back(region.left + region.width - 1, region.top + region.height - 1);
  return {
    left: Math.min(x0, x1),
    top: Math.min(y0, y1),
    width: Math.abs(x1 - x0) + 1,
    height: Math.abs(y1 - y0) + 1,
  };
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
