import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import * as simdAvif from '../../src/codecs/avif-simd.ts';
import { decode, encode, resize } from '../../src/codecs/index.ts';
import { compileWasm } from '../../src/codecs/wasm.ts';
import { parsePipelineConfig } from '../../src/config/document.ts';
import { isInputFormat } from '../../src/core/formats.ts';
import type { RawImage } from '../../src/image/raw.ts';
import { sniffFormat } from '../../src/image/sniff.ts';

/**
 * The AVIF (speed, quality) curve: every corpus photo resized to QUALITY_WIDTH (decoded and
 * resized as the pipeline does), encoded by the SIMD encoder at speeds 6-9 and a range
 * of qualities; each output's CPU time, bytes, and a perceptual score: Butteraugli's 3-norm (lower
 * is better) from libjxl's butteraugli_main (Debian: libjxl-devtools), comparing the decoded AVIF
 * with the encoder's input. SSIMULACRA 2 and DSSIM are not packaged for Debian bookworm or npm;
 * Butteraugli is the perceptual metric libjxl and jpegli are tuned with.
 */
export const SPEEDS = [6, 7, 8, 9] as const;
export const QUALITIES = [30, 40, 45, 50, 60, 70] as const;
const run = promisify(execFile);

export interface QualitySample {
  readonly image: string;
  readonly speed: number;
  readonly quality: number;
  readonly bytes: number;
  readonly cpuMs: number;
  /** Butteraugli 3-norm of the decoded output against the input (lower is better). */
  readonly score: number;
}

/**
 * 1024 px wide rather than the pipeline's 1600: a third of the pixels, so that the 120 encodes and
 * scores of a corpus fit in minutes on two shared cores; speed and quality trade the same way.
 */
export const QUALITY_WIDTH = 1024;

export async function qualitySamples(
  files: readonly string[],
  width = QUALITY_WIDTH,
  speeds: readonly number[] = SPEEDS,
  qualities: readonly number[] = QUALITIES,
): Promise<QualitySample[]> {
  await simdAvif.init(await compileWasm('avifEnc'));
  const dir = await mkdtemp(join(tmpdir(), 'imgpipe-quality-'));
  const png = parsePipelineConfig({ formats: { png: {} } }).formatOptions;
  const samples: QualitySample[] = [];
  try {
    for (const file of files) {
      const image = await largeVariant(await readFile(file), width);
      const reference = join(dir, 'reference.png');
      await writeFile(reference, await encode('png', image, png));
      for (const speed of speeds) {
        for (const quality of qualities) {
          const before = process.cpuUsage();
          const avif = new Uint8Array(await simdAvif.encode(image, { quality, speed, subsample: 1 }));
          const used = process.cpuUsage(before);
          const distorted = join(dir, 'distorted.png');
          await writeFile(distorted, await encode('png', await decode('avif', avif), png));
          const { stdout } = await run('butteraugli_main', [reference, distorted, '--pnorm', '3']);
          const norm = /3-norm:\s*([\d.]+)/.exec(stdout);
          if (!norm) throw new Error(`butteraugli_main printed no 3-norm: ${stdout}`);
          samples.push({
            image: basename(file),
            speed,
            quality,
            bytes: avif.length,
            cpuMs: (used.user + used.system) / 1000,
            score: Number(norm[1]),
          });
        }
      }
      console.log(`  ${basename(file)}: ${speeds.length * qualities.length} encodes scored`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return samples;
}

/** The photo as the pipeline's largest variant: decoded (with JPEG shrink-on-load) and resized. */
async function largeVariant(bytes: Uint8Array, width: number): Promise<RawImage> {
  const format = sniffFormat(bytes);
  if (!isInputFormat(format)) throw new Error(`Not an image the pipeline reads: ${format}`);
  const full = await decode(format, bytes);
  if (full.width <= width) return full;
  const shrink = ([8, 4, 2] as const).find((s) => Math.ceil(full.width / s) >= width * 2) ?? 1;
  const source = shrink > 1 && format === 'jpeg' ? await decode('jpeg', bytes, shrink) : full;
  const height = Math.round((full.height * width) / full.width);
  return resize(source, width, height, { method: 'lanczos3', linearRGB: false, premultiply: false });
}

export interface EqualScorePoint {
  readonly speed: number;
  /** Quality reaching the target score, interpolated per image; the corpus's mean. */
  readonly quality: number;
  readonly bytes: number;
  readonly cpuMs: number;
}

/**
 * For each speed, the corpus's total bytes and CPU time at the score each image has at the
 * reference (speed, quality), interpolating linearly between the measured qualities.
 */
export function equalScoreCurve(
  samples: readonly QualitySample[],
  reference: { speed: number; quality: number },
): EqualScorePoint[] {
  const images = [...new Set(samples.map((s) => s.image))];
  return SPEEDS.map((speed) => {
    let bytes = 0;
    let cpuMs = 0;
    let quality = 0;
    for (const image of images) {
      const target = samples.find(
        (s) => s.image === image && s.speed === reference.speed && s.quality === reference.quality,
      )!.score;
      const row = samples
        .filter((s) => s.image === image && s.speed === speed)
        .sort((a, b) => a.quality - b.quality);
      // Scores fall (improve) as quality rises; find the bracket around the target.
      let i = row.findIndex((s) => s.score <= target);
      if (i <= 0) i = i === 0 ? 1 : row.length - 1;
      const lo = row[i - 1]!;
      const hi = row[i]!;
      const t = lo.score === hi.score ? 0 : (lo.score - target) / (lo.score - hi.score);
      bytes += lo.bytes + t * (hi.bytes - lo.bytes);
      cpuMs += lo.cpuMs + t * (hi.cpuMs - lo.cpuMs);
      quality += lo.quality + t * (hi.quality - lo.quality);
    }
    return { speed, quality: quality / images.length, bytes, cpuMs };
  });
}

/**
 * The curves the suite reports: at the scores speed 6 reaches at qualities 40, 50 and 60 (the
 * default before the curve was measured was speed 6, quality 50), fixed so that reruns compare.
 */
export const REFERENCE_SPEED = 6;
export const REFERENCE_QUALITIES = [40, 50, 60] as const;

export function qualityCurves(samples: readonly QualitySample[]) {
  return REFERENCE_QUALITIES.map((quality) => ({
    label: `score of s${REFERENCE_SPEED} q${quality}`,
    quality,
    points: equalScoreCurve(samples, { speed: REFERENCE_SPEED, quality }),
  }));
}

/**
 * Bytes against CPU time at equal score, one line per reference quality, one point per speed; the
 * chosen default is ringed on the line whose interpolated quality at its speed is nearest to it.
 */
export function curveSvg(
  curves: { label: string; points: EqualScorePoint[] }[],
  chosen?: { speed: number; quality: number },
): string {
  const W = 720;
  const H = 440;
  const m = { left: 80, right: 180, top: 40, bottom: 60 };
  const all = curves.flatMap((c) => c.points);
  const maxX = Math.max(...all.map((p) => p.cpuMs)) * 1.1;
  const minY = Math.min(...all.map((p) => p.bytes)) * 0.9;
  const maxY = Math.max(...all.map((p) => p.bytes)) * 1.05;
  const x = (ms: number) => m.left + (ms / maxX) * (W - m.left - m.right);
  const y = (b: number) => H - m.bottom - ((b - minY) / (maxY - minY)) * (H - m.top - m.bottom);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - 60}" y="20" font-size="14">AVIF: bytes against CPU time at equal Butteraugli score</text>`,
    `<line x1="${m.left}" y1="${H - m.bottom}" x2="${W - m.right}" y2="${H - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="black"/>`,
    `<text x="${(W - m.right) / 2}" y="${H - 15}">CPU time for the corpus (s)</text>`,
    `<text x="15" y="${H / 2}" transform="rotate(-90 15 ${H / 2})">bytes for the corpus (KB)</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const ms = (maxX / 5) * i;
    parts.push(`<text x="${x(ms) - 10}" y="${H - m.bottom + 18}">${(ms / 1000).toFixed(1)}</text>`);
    const b = minY + ((maxY - minY) / 5) * i;
    parts.push(`<text x="${m.left - 50}" y="${y(b) + 4}">${(b / 1000).toFixed(0)}</text>`);
  }
  curves.forEach((curve, i) => {
    const colour = colours[i % colours.length]!;
    const path = curve.points.map((p) => `${x(p.cpuMs).toFixed(1)},${y(p.bytes).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    const at = (c: (typeof curves)[number]) => c.points.find((p) => p.speed === chosen?.speed);
    const distance = (c: (typeof curves)[number]) =>
      chosen && at(c) ? Math.abs(at(c)!.quality - chosen.quality) : Number.POSITIVE_INFINITY;
    const onThisCurve = chosen !== undefined && curves.every((other) => distance(other) >= distance(curve));
    for (const p of curve.points) {
      const isChosen = onThisCurve && chosen?.speed === p.speed;
      parts.push(
        `<circle cx="${x(p.cpuMs).toFixed(1)}" cy="${y(p.bytes).toFixed(1)}" r="${isChosen ? 7 : 4}" fill="${isChosen ? 'none' : colour}" stroke="${colour}" stroke-width="2"/>`,
        `<text x="${(x(p.cpuMs) + 8).toFixed(1)}" y="${(y(p.bytes) - 6).toFixed(1)}" fill="${colour}">s${p.speed} q${p.quality.toFixed(0)}</text>`,
      );
    }
    parts.push(
      `<line x1="${W - m.right + 15}" y1="${m.top + 20 * i}" x2="${W - m.right + 35}" y2="${m.top + 20 * i}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${W - m.right + 40}" y="${m.top + 20 * i + 4}">${curve.label}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
