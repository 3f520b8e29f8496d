import { describe, expect, it } from 'vitest';
import type { VariantSpec } from '../../../src/core/config.ts';
import { planSteps } from '../../../src/pipeline/plan.ts';

const v = (name: string, spec: Partial<VariantSpec>): VariantSpec => ({
  name,
  fit: 'inside',
  upscale: false,
  formats: ['jpeg'],
  ...spec,
});

describe('planSteps', () => {
  it('chains 1600 -> 800 -> 320 from the previous result when each leaves at least 2x to do', () => {
    const steps = planSteps({ width: 4000, height: 3000 }, [
      v('s', { width: 320 }),
      v('l', { width: 1600 }),
      v('m', { width: 800 }),
    ]);
    expect(steps.map((s) => [s.variant.name, s.resizeTo.width, s.resizeTo.height, s.from])).toEqual([
      ['l', 1600, 1200, 'source'],
      ['m', 800, 600, 0],
      ['s', 320, 240, 1],
    ]);
  });

  it('reads from the source when the previous result is less than twice the target', () => {
    const steps = planSteps({ width: 4000, height: 3000 }, [
      v('a', { width: 1600 }),
      v('b', { width: 1000 }),
    ]);
    expect(steps[1]!.from).toBe('source');
  });

  it('never upscales unless asked', () => {
    const [small] = planSteps({ width: 300, height: 200 }, [v('a', { width: 1600 })]);
    expect(small!.resizeTo).toEqual({ width: 300, height: 200 });
    const [big] = planSteps({ width: 300, height: 200 }, [v('a', { width: 600, upscale: true })]);
    expect(big!.resizeTo).toEqual({ width: 600, height: 400 });
  });

  it('never resamples a variant from an enlarged one: the source has all its detail', () => {
    const steps = planSteps({ width: 100, height: 80 }, [
      v('big', { width: 1000, upscale: true }),
      v('kept', { width: 400 }),
      v('bigger', { width: 300, upscale: true }),
      v('twin', { width: 1000, upscale: true, formats: ['webp'] }),
    ]);
    expect(steps.map((s) => [s.variant.name, s.resizeTo.width, s.resizeTo.height, s.from])).toEqual([
      ['big', 1000, 800, 'source'],
      // The same enlarged picture: shared, resampled and encoded once.
      ['twin', 1000, 800, 0],
      ['bigger', 300, 240, 'source'],
      ['kept', 100, 80, 'source'],
    ]);
  });

  it('fits inside a box by the limiting side', () => {
    const [step] = planSteps({ width: 3000, height: 4000 }, [v('a', { width: 800, height: 800 })]);
    expect(step!.resizeTo).toEqual({ width: 600, height: 800 });
  });

  it('covers a box with a centred crop', () => {
    const [step] = planSteps({ width: 4000, height: 3000 }, [
      v('t', { width: 300, height: 300, fit: 'cover' }),
    ]);
    expect(step!.resizeTo).toEqual({ width: 300, height: 300 });
    expect(step!.region).toEqual({ left: 500, top: 0, width: 3000, height: 3000 });
    expect(step!.reusable).toBe(false);
  });

  it('contains within a box and pads to it', () => {
    const [step] = planSteps({ width: 4000, height: 2000 }, [
      v('c', { width: 400, height: 400, fit: 'contain' }),
    ]);
    expect(step!.resizeTo).toEqual({ width: 400, height: 200 });
    expect(step!.output).toEqual({ width: 400, height: 400 });
  });

  it('derives a cover thumbnail from a larger uncropped result', () => {
    const steps = planSteps({ width: 4000, height: 3000 }, [
      v('l', { width: 1600 }),
      v('t', { width: 200, height: 200, fit: 'cover' }),
    ]);
    expect(steps[1]!.from).toBe(0);
  });

  it('keeps full size when no dimension is given', () => {
    const [step] = planSteps({ width: 1234, height: 567 }, [v('original', {})]);
    expect(step!.resizeTo).toEqual({ width: 1234, height: 567 });
  });
});

describe('planSteps within the output formats’ dimension limits', () => {
  it('keeps a tall, narrow image within WebP’s 16383 px instead of leaving it 20000 px tall', () => {
    const [step] = planSteps({ width: 1, height: 20000 }, [
      v('l', { width: 1600, formats: ['jpeg', 'webp'] }),
    ]);
    expect(step!.output).toEqual({ width: 1, height: 16383 });
    expect(step!.resizeTo).toEqual({ width: 1, height: 16383 });
    expect(step!.limit).toEqual({ format: 'webp', maxSide: 16383, planned: { width: 1, height: 20000 } });
  });

  it('fits 3x16384 inside WebP’s limit, keeping the width', () => {
    const [step] = planSteps({ width: 3, height: 16384 }, [v('l', { formats: ['webp'] })]);
    expect(step!.output).toEqual({ width: 3, height: 16383 });
  });

  it('applies the tightest limit of the variant’s formats, and only those', () => {
    const image = { width: 1, height: 70000 };
    const [jpeg] = planSteps(image, [v('a', { width: 1600, formats: ['jpeg'] })]);
    expect(jpeg!.output).toEqual({ width: 1, height: 65500 });
    expect(jpeg!.limit).toMatchObject({ format: 'jpeg', maxSide: 65500 });
    const [avif] = planSteps(image, [v('a', { width: 1600, formats: ['jpeg', 'avif'] })]);
    expect(avif!.output).toEqual({ width: 1, height: 32768 });
    expect(avif!.limit).toMatchObject({ format: 'avif', maxSide: 32768 });
    const [png] = planSteps(image, [v('a', { width: 1600, formats: ['png'] })]);
    expect(png!.output).toEqual({ width: 1, height: 70000 });
    expect(png!.limit).toBeUndefined();
  });

  it('plans a 1x50,000,000 image as a 1 px wide strip at the limit, never 0 px', () => {
    const [step] = planSteps({ width: 1, height: 50_000_000 }, [
      v('l', { width: 1600, formats: ['jpeg', 'webp', 'avif'] }),
    ]);
    expect(step!.output).toEqual({ width: 1, height: 16383 });
  });

  it('keeps AVIF within 16384 x 16384 pixels as well as 32768 a side', () => {
    const [step] = planSteps({ width: 1000, height: 2000 }, [
      v('up', { width: 16384, upscale: true, formats: ['avif'] }),
    ]);
    expect(step!.output.width * step!.output.height).toBeLessThanOrEqual(16384 * 16384);
    expect(step!.output.width / step!.output.height).toBeCloseTo(0.5, 3);
    expect(step!.limit).toMatchObject({ format: 'avif', maxPixels: 16384 * 16384 });
    expect(step!.limit!.planned).toEqual({ width: 16384, height: 32768 });
  });

  it('shrinks a cover or contain box of 16384 px to WebP’s 16383', () => {
    const image = { width: 40000, height: 20000 };
    const [cover] = planSteps(image, [
      v('c', { width: 16384, height: 8192, fit: 'cover', formats: ['webp'] }),
    ]);
    expect(cover!.output).toEqual({ width: 16383, height: 8192 });
    expect(cover!.region.width / cover!.region.height).toBeCloseTo(16383 / 8192, 3);
    const [contain] = planSteps(image, [
      v('p', { width: 16384, height: 16384, fit: 'contain', formats: ['webp'] }),
    ]);
    expect(contain!.output).toEqual({ width: 16383, height: 16383 });
    expect(contain!.resizeTo).toEqual({ width: 16383, height: 8192 });
  });

  it('leaves variants that fit alone, with no limit recorded', () => {
    const steps = planSteps({ width: 4000, height: 3000 }, [
      v('l', { width: 1600, formats: ['jpeg', 'webp', 'avif'] }),
      v('o', { formats: ['webp'] }),
    ]);
    expect(steps.map((s) => s.limit)).toEqual([undefined, undefined]);
    expect(steps.map((s) => s.output)).toEqual([
      { width: 4000, height: 3000 },
      { width: 1600, height: 1200 },
    ]);
  });

  it('makes variants that come out identical read the first, so their outputs are encoded once', () => {
    const steps = planSteps({ width: 2, height: 100_000 }, [
      v('l', { width: 1600, formats: ['webp'] }),
      v('m', { width: 800, formats: ['webp'] }),
    ]);
    expect(steps.map((s) => [s.output, s.from])).toEqual([
      [{ width: 1, height: 16383 }, 'source'],
      [{ width: 1, height: 16383 }, 0],
    ]);
  });

  it('keeps every side at least 1 px for any aspect ratio (as libvips does)', () => {
    const [wide] = planSteps({ width: 50_000_000, height: 1 }, [v('l', { width: 1600 })]);
    expect(wide!.output).toEqual({ width: 1600, height: 1 });
    const [tall] = planSteps({ width: 1, height: 50_000_000 }, [v('l', { height: 320, formats: ['png'] })]);
    expect(tall!.output).toEqual({ width: 1, height: 320 });
  });
});
