import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusHash, cpuModel, gitState } from '../../../../bench/sweep/provenance.ts';

describe('corpusHash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgpipe-corpus-'));
  const a = join(dir, 'a.jpg');
  const b = join(dir, 'b.jpg');
  writeFileSync(a, 'first');
  writeFileSync(b, 'second');

  it('does not depend on the order the files were given in', () => {
    expect(corpusHash([a, b], dir)).toBe(corpusHash([b, a], dir));
    expect(corpusHash([a, b], dir)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with a file name or its bytes', () => {
    const before = corpusHash([a, b], dir);
    const c = join(dir, 'c.jpg');
    writeFileSync(c, 'second');
    expect(corpusHash([a, c], dir)).not.toBe(before);
    writeFileSync(b, 'changed');
    expect(corpusHash([a, b], dir)).not.toBe(before);
  });
});

describe('machine and code', () => {
  it('names the commit and whether the tree is dirty', () => {
    const state = gitState();
    if ('error' in state) throw new Error(state.error);
    expect(state.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(typeof state.dirty).toBe('boolean');
  });

  it('names the CPU model', () => {
    expect(cpuModel().length).toBeGreaterThan(0);
  });
});
