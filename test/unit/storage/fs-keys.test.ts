import { describe, expect, it } from 'vitest';
import { keyToNames, NAME_MAX, namesToKey, temporaryName } from '../../../src/storage/fs-keys.ts';

/** A small deterministic generator (mulberry32), so a failure names a reproducible key. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The characters that matter to the encoding, and some that do not.
const ALPHABET = ['%', '+', '~', '.', '/', '\0', 'a', 'Z', '2', 'E', 'é', '€', '😀', ' ', '\\'];

function randomKey(next: () => number): string {
  const length = 1 + Math.floor(next() * (next() < 0.1 ? 400 : 12));
  let key = '';
  for (let i = 0; i < length; i++) key += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return key;
}

describe('FsStorage key paths', () => {
  it('maps plain keys to the same path', () => {
    for (const key of [
      'photos/2024/cat.jpg',
      'a b+ü.jpg',
      '100%',
      '%41.jpg',
      '.hidden',
      'x~y',
      'back\\slash',
    ])
      expect(keyToNames(key).join('/')).toBe(key);
  });

  it('encodes what a folder cannot hold and what would read as an encoding', () => {
    expect(keyToNames('a//b/./c/..')).toEqual(['a', '%', 'b', '%.', 'c', '%..']);
    expect(keyToNames('nul\0')).toEqual(['%nul%00']);
    expect(keyToNames('%.')).toEqual(['%%25.']);
    expect(keyToNames('%+x/%~y')).toEqual(['%%25%2Bx', '%%25%7Ey']);
    const long = keyToNames('n'.repeat(600));
    expect(long.map((name) => name.slice(0, 2))).toEqual(['%+', '%+', '%n']);
  });

  it('round-trips thousands of random keys through names of at most 255 bytes, one path per key', () => {
    const next = random(7);
    const paths = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const key = randomKey(next);
      const names = keyToNames(key);
      for (const name of names) {
        expect(Buffer.byteLength(name), key).toBeLessThanOrEqual(NAME_MAX);
        expect(['', '.', '..'], key).not.toContain(name);
        expect(name, key).not.toContain('\0');
      }
      expect(namesToKey(names), JSON.stringify(key)).toBe(key);
      const path = names.join('/');
      expect(paths.get(path) ?? key, `${JSON.stringify(key)} and another key share ${path}`).toBe(key);
      paths.set(path, key);
    }
  });

  it('reads any file name a person may have written as the key of the same name, or as no key', () => {
    const next = random(11);
    for (let i = 0; i < 5000; i++) {
      const name = randomKey(next).replaceAll('/', '').replaceAll('\0', '') || 'x';
      if (name === '.' || name === '..' || Buffer.byteLength(name) > NAME_MAX) continue;
      const key = namesToKey([name]);
      // Either the name is itself an encoding (then it stands for that key, and back), or it is
      // reserved for parts and temporary files (no key), or it is the key of the same name.
      if (key === undefined) expect(name).toMatch(/^%[+~]/);
      else expect(keyToNames(key)).toEqual([name]);
    }
  });

  it('never lists a temporary file, even inside a continued name', () => {
    expect(namesToKey(['a', temporaryName('0123abcd')])).toBeUndefined();
    const long = keyToNames(`d/${'n'.repeat(300)}`);
    expect(namesToKey([...long.slice(0, -1), temporaryName('0123abcd')])).toBeUndefined();
    expect(namesToKey(long.slice(0, -1))).toBeUndefined();
  });
});
