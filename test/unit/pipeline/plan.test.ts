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
