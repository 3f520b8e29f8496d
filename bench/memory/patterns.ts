import type { RawImage } from '../../src/image/raw.ts';

/**
 * Test content: a smooth gradient (like a photo's sky), or black text-like strokes on white (like
 * a screenshot). libaom takes the second for screen content and turns on intra block copy, whose
 * hash tables cost far more memory per pixel.
 */
export function pattern(kind: 'gradient' | 'screen', width: number, height: number): RawImage {
  const data = new Uint8ClampedArray(width * height * 4).fill(255);
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++, i += 4) {
      if (kind === 'gradient') {
        data[i] = (x * 255) / width;
        data[i + 1] = (y * 255) / height;
        data[i + 2] = ((x + y) * 127) / (width + height);
      }
    }
  if (kind === 'screen') {
    // Lines of 7x9 "glyphs" made of random strokes, 16 px apart.
    for (let top = 4; top + 9 < height; top += 16)
      for (let left = 4; left + 7 < width; left += 8) {
        if (random() < 0.15) continue; // a space
        for (let stroke = 0; stroke < 3; stroke++) {
          const vertical = random() < 0.5;
          const at = Math.floor(random() * (vertical ? 6 : 8));
          for (let k = 0; k < (vertical ? 9 : 7); k++) {
            const x = left + (vertical ? at : k);
            const y = top + (vertical ? k : at);
            data.fill(20, (y * width + x) * 4, (y * width + x) * 4 + 3);
          }
        }
      }
  }
  return { width, height, data };
}
