import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../src/config/index.ts';
import {
  BucketLayout,
  findTemplateProblem,
  splitSourceKey,
  TransformLayout,
} from '../../../src/core/layout.ts';

const layoutOf = (document: object, quarantinePrefix = 'quarantine/') =>
  new BucketLayout(parsePipelineConfig(document), quarantinePrefix);

describe('BucketLayout keys', () => {
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
    const layout = layoutOf({ outputPrefix: 'out/' });
    expect(layout.outputKey('photos/cat.jpg', 'large', 'webp')).toBe('out/large/photos/cat.jpg.webp');
    expect(layout.outputKey('photos/cat.jpg', 'large', 'jpeg')).toBe('out/large/photos/cat.jpg.jpg');
    expect(layout.manifestKey('photos/cat.jpg')).toBe('out/manifests/photos/cat.jpg.json');
  });

  it('supports folder-per-format layouts', () => {
    const layout = layoutOf({
      keyTemplate: '{format}/{variant}/{dir}{name}.{ext}',
      manifestTemplate: 'm/{key}.json',
      variants: [{ name: 'thumb', width: 100 }],
    });
    expect(layout.outputKey('a/b c.png', 'thumb', 'avif')).toBe('avif/thumb/a/b c.avif');
  });

  it("lists the keys processing a source uses: its manifest and each variant's own formats", () => {
    const config = parsePipelineConfig({
      variants: [
        { name: 'large', width: 1600 },
        { name: 'thumb', width: 160, formats: ['jpeg'] },
      ],
      formats: { jpeg: {}, webp: {} },
    });
    expect(new BucketLayout(config, 'quarantine/').outputKeys('a/b.png').sort()).toEqual([
      'large/a/b.png.jpg',
      'large/a/b.png.webp',
      'manifests/a/b.png.json',
      'thumb/a/b.png.jpg',
    ]);
  });

  it('puts the quarantine copy and its reason record under the quarantine prefix', () => {
    expect(layoutOf({}, 'q/').quarantineKeys('up/x.jpg')).toEqual({
      object: 'q/objects/up/x.jpg',
      reason: 'q/reasons/up/x.jpg.json',
    });
    expect(layoutOf({}, '').quarantineKeys('x.jpg')).toEqual({
      object: 'objects/x.jpg',
      reason: 'reasons/x.jpg.json',
    });
  });

  it('finds templates that would write two things to one key', () => {
    const spec = parsePipelineConfig({});
    expect(findTemplateProblem(spec)).toBeUndefined();
    expect(findTemplateProblem({ ...spec, keys: { ...spec.keys, output: '{key}.{ext}' } })).toBe(
      'variant medium in jpeg and variant large in jpeg would both be written to sample/dir/photo.jpg.jpg',
    );
    expect(findTemplateProblem({ ...spec, keys: { ...spec.keys, manifest: '{variant}.json' } })).toMatch(
      /manifest template must contain \{key\}/,
    );
  });

  it('finds templates whose keys are no paths: a leading /, //, a . or .. segment', () => {
    const spec = parsePipelineConfig({});
    const problem = (keys: Partial<typeof spec.keys>) =>
      findTemplateProblem({ ...spec, keys: { ...spec.keys, ...keys } });
    expect(problem({ output: '/{variant}/{key}.{ext}' })).toBe(
      'the output template makes keys such as /large/sample/dir/photo.jpg.jpg, which starts with /',
    );
    expect(problem({ manifest: '../manifests/{key}.json' })).toBe(
      'the manifest template makes keys such as ../manifests/sample/dir/photo.jpg.json, which has a . or .. segment',
    );
    expect(problem({ output: '{variant}//{key}.{ext}' })).toMatch(/which has an empty segment \(\/\/\)$/);
    // The prefix is part of the key: 'out' with '/{key}' makes out/... keys.
    expect(problem({ prefix: 'out', output: '/{variant}/{key}.{ext}' })).toBeUndefined();
    expect(problem({ prefix: 'out/', output: '/{variant}/{key}.{ext}' })).toMatch(
      /out\/\/large.*empty segment/,
    );
  });

  it('says when quarantine keys would fall among outputs in a shared bucket', () => {
    expect(layoutOf({}, 'quarantine/').quarantineClash()).toBeUndefined();
    expect(layoutOf({}, '').quarantineClash()).toMatch(/empty prefix/);
    expect(layoutOf({}, 'large/').quarantineClash()).toBe(
      'output keys such as large/sample/photo.jpg.jpg fall under it',
    );
    expect(layoutOf({ outputPrefix: 'out/' }, 'out/q/').quarantineClash()).toMatch(/under the output prefix/);
  });

  it('names the top folders it writes into, unless one depends on the source key', () => {
    const variants = [{ name: 'w64', width: 64 }];
    expect([...layoutOf({ variants }).topFolders()!].sort()).toEqual(['manifests', 'quarantine', 'w64']);
    expect([...layoutOf({ variants, outputPrefix: 'img/' }).topFolders()!].sort()).toEqual([
      'img',
      'quarantine',
    ]);
    expect(layoutOf({ variants, keyTemplate: '{key}/{variant}.{ext}' }).topFolders()).toBeUndefined();
    expect(
      layoutOf({ variants, keyTemplate: '{srcext}/{variant}/{dir}{name}.{ext}' }).topFolders(),
    ).toBeUndefined();
    expect(layoutOf({ variants, keyTemplate: '{dir}{name}-{variant}.{ext}' }).topFolders()).toBeUndefined();
  });
});

describe('BucketLayout.ownObjectGuard', () => {
  it('treats everything under the output prefix in the output bucket as its own', () => {
    const guard = layoutOf({ outputPrefix: 'out/' }, 'quarantine/').ownObjectGuard({
      outputBucket: 'b',
      quarantineBucket: 'b',
    });
    expect(guard('b', 'out/anything.jpg')).toBe('key is under the output prefix out/');
    expect(guard('b', 'uploads/cat.jpg')).toBeUndefined();
    expect(guard('other', 'out/anything.jpg')).toBeUndefined();
    expect(guard('b', 'quarantine/objects/x.jpg')).toBe('key is under the quarantine prefix quarantine/');
  });

  it('recognises outputs by key template when there is no output prefix', () => {
    const guard = layoutOf({}, '').ownObjectGuard({ outputBucket: 'b', quarantineBucket: 'q' });
    expect(guard('b', 'large/photos/cat.jpg.webp')).toBe('key matches the output key templates');
    expect(guard('b', 'manifests/photos/cat.jpg.json')).toBe('key matches the output key templates');
    expect(guard('b', 'photos/cat.jpg')).toBeUndefined();
    expect(guard('b', 'huge/photos/cat.jpg.webp')).toBeUndefined();
    expect(guard('q', 'anything')).toBe('bucket q is the quarantine bucket');
  });

  it('treats on-demand results in the output bucket as its own, with or without an output prefix', () => {
    for (const outputPrefix of ['', 'out/']) {
      const guard = layoutOf({ outputPrefix }, 'quarantine/').ownObjectGuard({
        outputBucket: 'b',
        quarantineBucket: 'q',
        transformPrefix: 'transforms/',
      });
      const result = new TransformLayout('transforms/').key(
        'photos/cat.jpg',
        { width: 640, fit: 'inside', format: 'webp', quality: 75 },
        'hash',
      );
      expect(guard('b', result), outputPrefix).toBe('key is under the on-demand results prefix transforms/');
      expect(guard('src', result), outputPrefix).toBeUndefined();
    }
  });

  it('matches a dot in a variant name literally, so a genuine upload is not taken for an output', () => {
    const guard = layoutOf({ variants: [{ name: 'v1.5', width: 100 }] }, '').ownObjectGuard({
      outputBucket: 'b',
      quarantineBucket: 'q',
    });
    expect(guard('b', 'v1.5/photos/cat.jpg.webp')).toBe('key matches the output key templates');
    // Escaped with the deprecated global escape() instead of for a regex, "." was a wildcard.
    expect(guard('b', 'v1x5/photos/cat.jpg.webp')).toBeUndefined();
  });

  it('recognises every key the layout itself writes, and not the sources beside them', () => {
    const layout = layoutOf(
      {
        variants: [
          { name: 'a-b', width: 10 },
          { name: 'x_y.1', width: 20 },
        ],
        keyTemplate: '{dir}{variant}/{name}.{ext}',
      },
      '',
    );
    const guard = layout.ownObjectGuard({ outputBucket: 'b', quarantineBucket: 'q' });
    for (const source of ['p/cat.jpg', 'deep/er/x (1).png', 'top.webp']) {
      expect(guard('b', layout.manifestKey(source)), source).toBeDefined();
      for (const variant of ['a-b', 'x_y.1'])
        for (const format of ['jpeg', 'webp', 'avif'] as const)
          expect(guard('b', layout.outputKey(source, variant, format)), `${source} ${variant}`).toBeDefined();
      expect(guard('b', source), source).toBeUndefined();
    }
    expect(guard('b', 'p/x_yz1/cat.jpg')).toBeUndefined();
  });
});
