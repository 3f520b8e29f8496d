import { describe, expect, it } from 'vitest';
import { ownerSegment, safeFileName, UploadLayout } from '../../../src/core/layout.ts';

describe('UploadLayout', () => {
  const uploads = new UploadLayout('uploads/');

  it('keys an upload by owner, id and a safe file name', () => {
    expect(uploads.key('3f2a9c1e-7b1d-4c52-9f0a-1d2e3f4a5b6c', 'id-1', 'Café au lait (1).JPG')).toBe(
      'uploads/3f2a9c1e-7b1d-4c52-9f0a-1d2e3f4a5b6c/id-1/Cafe-au-lait-1.JPG',
    );
  });

  it.each([
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\photo.jpeg', 'photo.jpeg'],
    ['.profile', 'upload.profile'],
    ['—.jpg', 'upload.jpg'],
    ['   ', 'upload'],
    ['a b\u0000c.png', 'a-b-c.png'],
    [`${'x'.repeat(300)}.webp`, `${'x'.repeat(95)}.webp`],
  ])('makes %j the file name %j', (name, safe) => {
    expect(safeFileName(name)).toBe(safe);
    expect(safe).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/);
  });

  it('encodes any sub that is not plain, so no owner reaches into another folder', () => {
    expect(ownerSegment('alice_01-x')).toBe('alice_01-x');
    expect(ownerSegment('auth0|abc')).toBe(`~${Buffer.from('auth0|abc').toString('base64url')}`);
    for (const sub of ['a/b', '..', 'alice/', '~x', 'x'.repeat(129), 'ü'.repeat(60)]) {
      const segment = ownerSegment(sub);
      expect(segment, sub).toMatch(/^~~?[A-Za-z0-9_-]{1,128}$/);
      expect(ownerSegment(`${sub}!`), sub).not.toBe(segment);
    }
    expect(() => ownerSegment('')).toThrow(/cannot be empty/);
  });

  it("says whose a key is: an owner's prefix never starts another owner's", () => {
    const key = uploads.key('alice', 'id', 'a.jpg');
    expect(uploads.owns('alice', key)).toBe(true);
    expect(uploads.owns('ali', key)).toBe(false);
    expect(uploads.owns('alice', 'uploads/alice2/id/a.jpg')).toBe(false);
    expect(uploads.owns('a', uploads.key('a/b', 'id', 'x.jpg'))).toBe(false);
    expect(uploads.owns('alice', 'photos/alice/id/a.jpg')).toBe(false);
  });
});
