import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/codecs/index.ts';
import { parsePipelineConfig } from '../../../src/config/document.ts';
import { readFixture } from '../../support/fixtures.ts';
import { hasTool } from '../../support/tools.ts';

/**
 * The sampling factors of each component, from the JPEG's start-of-frame segment (SOF0-SOF15 less
 * DHT, JPG and DAC), as "HxV" strings: 4:2:0 is 2x2,1x1,1x1; 4:2:2 is 2x1,1x1,1x1; 4:4:4 is 1x1 thrice.
 */
function samplingFactors(jpeg: Uint8Array): string[] {
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) throw new Error(`No marker at byte ${at}`);
    const marker = jpeg[at + 1]!;
    const length = (jpeg[at + 2]! << 8) | jpeg[at + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const components = jpeg[at + 9]!;
      return Array.from({ length: components }, (_, i) => {
        const factors = jpeg[at + 11 + i * 3]!;
        return `${factors >> 4}x${factors & 0x0f}`;
      });
    }
    at += 2 + length;
  }
  throw new Error('No start-of-frame segment');
}

/** ImageMagick's reading of the same factors, from a parser that shares no code with ours. */
function identifySampling(jpeg: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-sof-'));
  try {
    writeFileSync(join(dir, 'x.jpg'), jpeg);
    return execFileSync('identify', ['-format', '%[jpeg:sampling-factor]', join(dir, 'x.jpg')], {
      encoding: 'utf8',
    }).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('JPEG encoding', () => {
  const magick = hasTool('identify');

  it.each([
    ['4:2:0', ['2x2', '1x1', '1x1']],
    ['4:4:4', ['1x1', '1x1', '1x1']],
  ] as const)(
    'writes the configured chroma subsampling %s into the frame header',
    async (setting, factors) => {
      const image = await decode('jpeg', readFixture('photos/colour-fig-red-bowl.jpg'), 4);
      const { formatOptions } = parsePipelineConfig({ formats: { jpeg: { chromaSubsampling: setting } } });
      for (const progressive of [true, false]) {
        const options = { ...formatOptions, jpeg: { ...formatOptions.jpeg, progressive } };
        const jpeg = await encode('jpeg', image, options);
        expect(samplingFactors(jpeg), `progressive: ${progressive}`).toEqual(factors);
        if (magick) expect(identifySampling(jpeg)).toBe(factors.join(','));
      }
    },
  );
});
