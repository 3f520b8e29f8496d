import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/pipeline.ts';
import { createOwnObjectGuard } from '../../../src/pipeline/guard.ts';

describe('createOwnObjectGuard', () => {
  const pipeline = parsePipelineConfig({});

  it('treats everything under the output prefix in the output bucket as its own', () => {
    const guard = createOwnObjectGuard(
      { outputBucket: 'b', quarantineBucket: 'b', quarantinePrefix: 'quarantine/' },
      parsePipelineConfig({ outputPrefix: 'out/' }),
    );
    expect(guard('b', 'out/anything.jpg')).toBe('key is under the output prefix out/');
    expect(guard('b', 'uploads/cat.jpg')).toBeUndefined();
    expect(guard('other', 'out/anything.jpg')).toBeUndefined();
    expect(guard('b', 'quarantine/objects/x.jpg')).toBe('key is under the quarantine prefix quarantine/');
  });

  it('recognises outputs by key template when there is no output prefix', () => {
    const guard = createOwnObjectGuard(
      { outputBucket: 'b', quarantineBucket: 'q', quarantinePrefix: '' },
      pipeline,
    );
    expect(guard('b', 'large/photos/cat.jpg.webp')).toBe('key matches the output key templates');
    expect(guard('b', 'manifests/photos/cat.jpg.json')).toBe('key matches the output key templates');
    expect(guard('b', 'photos/cat.jpg')).toBeUndefined();
    expect(guard('b', 'huge/photos/cat.jpg.webp')).toBeUndefined();
    expect(guard('q', 'anything')).toBe('bucket q is the quarantine bucket');
  });
});
