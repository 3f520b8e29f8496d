import { describe, expect, it } from 'vitest';
import { manifestKey, outputKey, splitSourceKey } from '../../../src/pipeline/keys.ts';

const templates = { prefix: 'out/', output: '{variant}/{key}.{ext}', manifest: 'manifests/{key}.json' };

describe('keys', () => {
  it('splits a key into folder, name and extension', () => {
    expect(splitSourceKey('photos/2024/cat.jpg')).toEqual({
      key: 'photos/2024/cat.jpg',
      dir: 'photos/2024/',
      name: 'cat',
      srcext: 'jpg',
    });
    expect(splitSourceKey('.hidden')).toEqual({ key: '.hidden', dir: '', name: '.hidden', srcext: '' });
    expect(splitSourceKey('a/b.tar.gz').name).toBe('b.tar');
  });

  it('derives output and manifest keys deterministically from the source key', () => {
    expect(outputKey(templates, 'photos/cat.jpg', 'large', 'webp')).toBe('out/large/photos/cat.jpg.webp');
    expect(outputKey(templates, 'photos/cat.jpg', 'large', 'jpeg')).toBe('out/large/photos/cat.jpg.jpg');
    expect(manifestKey(templates, 'photos/cat.jpg')).toBe('out/manifests/photos/cat.jpg.json');
  });

  it('supports folder-per-format layouts', () => {
    const layout = { prefix: '', output: '{format}/{variant}/{dir}{name}.{ext}', manifest: 'm/{key}.json' };
    expect(outputKey(layout, 'a/b c.png', 'thumb', 'avif')).toBe('avif/thumb/a/b c.avif');
  });
});
