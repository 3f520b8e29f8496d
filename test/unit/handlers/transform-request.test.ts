import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../../src/config/index.ts';
import { loadTransformConfig } from '../../../src/config/transform.ts';
import { TransformLayout } from '../../../src/core/layout.ts';
import { ApiError } from '../../../src/handlers/http.ts';
import {
  canonicalRequest,
  checkResultKey,
  checkSignedResultKeys,
  keyFromPath,
  negotiate,
  parseQuery,
  parseRequest,
  signature,
  signUrl,
  verifySignature,
} from '../../../src/handlers/transform-request.ts';

const config = loadTransformConfig({ IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'src' });
const defaults = loadPipelineConfig({}).formatOptions;
const KEY = 'photos/a b+c%.jpg';
const SECRET = 'k'.repeat(40);

function refusal(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseRequest', () => {
  const parse = (query: string, accept?: string) =>
    parseRequest(KEY, parseQuery(query), accept, config, defaults);

  it('normalises: device pixels, jpg as jpeg, the default quality, fit inside with one side', () => {
    // The side not given is the maximum: no side of a result passes it.
    expect(parse('w=320&dpr=2&fmt=jpg&fit=cover').spec).toEqual({
      width: 640,
      height: config.maxSize,
      fit: 'inside',
      format: 'jpeg',
      quality: defaults.jpeg.quality,
    });
    expect(parse('w=640&fmt=jpeg').spec).toEqual(parse('fmt=jpg&w=320&dpr=2').spec);
    expect(parse('w=300&h=200&fit=contain&fmt=webp&q=55').spec).toEqual({
      width: 300,
      height: 200,
      fit: 'contain',
      format: 'webp',
      quality: 55,
    });
    // PNG is lossless: q does not split its cache.
    expect(parse('w=100&fmt=png&q=40').spec.quality).toBe(0);
  });

  it('gives a request without a box the configured maximum on both sides (its result key)', () => {
    const small = loadTransformConfig({
      IMGPIPE_TRANSFORM_SOURCE_BUCKET: 's',
      IMGPIPE_TRANSFORM_MAX_SIZE: '1000',
    });
    const spec = (c: typeof config) => parseRequest(KEY, { fmt: 'webp' }, undefined, c, defaults).spec;
    expect(spec(small)).toMatchObject({ width: 1000, height: 1000, fit: 'inside' });
    expect(spec(config)).toMatchObject({ width: config.maxSize, height: config.maxSize });
    const layout = new TransformLayout('transforms/');
    expect(layout.key(KEY, spec(small), 'h')).toMatch(/\/1000x1000-inside-/);
    expect(layout.key(KEY, spec(small), 'h')).not.toBe(layout.key(KEY, spec(config), 'h'));
    // Without a box, cover and contain are inside: the image as it is, not a square, one key.
    for (const fit of ['cover', 'contain'])
      expect(parseRequest(KEY, { fmt: 'webp', fit }, undefined, small, defaults).spec).toEqual(spec(small));
  });

  it('wm=0 leaves the watermark off, only when the URL was signed; wm=1 is the default', () => {
    expect(parseRequest(KEY, { w: '320', wm: '0' }, undefined, config, defaults, true).spec.watermark).toBe(
      false,
    );
    expect(parseRequest(KEY, { w: '320', wm: '1' }, undefined, config, defaults, true).spec).toEqual(
      parseRequest(KEY, { w: '320' }, undefined, config, defaults, true).spec,
    );
    const unsigned = refusal(() =>
      parseRequest(KEY, { w: '320', wm: '0' }, undefined, config, defaults, false),
    );
    expect([unsigned.status, unsigned.field, unsigned.message]).toEqual([
      403,
      'wm',
      'wm=0 (no watermark) is accepted only on signed URLs',
    ]);
    const odd = refusal(() => parseRequest(KEY, { wm: 'no' }, undefined, config, defaults, true));
    expect([odd.status, odd.field, odd.message]).toEqual([
      400,
      'wm',
      'Expected 0 or 1 for wm but received "no" of type string',
    ]);
  });

  it('names the parameter, the value and what is allowed', () => {
    const cases: [string, string, string][] = [
      ['w=333', 'w', 'Expected a multiple of 10 (10, 20, ...) for w but received "333"'],
      ['h=-10', 'h', 'for h but received "-10"'],
      ['w=4010', 'w', 'Expected at most 4000 at dpr 1 (4000 device pixels) for w'],
      ['w=2000&dpr=3', 'w', 'Expected at most 1330 at dpr 3 (4000 device pixels) for w'],
      // Six digits and more: a whole number over maxSize, refused as not "a multiple of 10", which it is.
      ['w=100000', 'w', 'Expected at most 4000 at dpr 1 (4000 device pixels) for w but received "100000"'],
      ['h=99999999999999999990', 'h', 'Expected at most 4000 at dpr 1 (4000 device pixels) for h'],
      ['dpr=1.7', 'dpr', 'Expected one of 1, 1.5, 2, 2.5, 3 for dpr but received "1.7"'],
      ['fit=fill', 'fit', 'Expected one of inside, cover, contain for fit'],
      ['fmt=gif', 'fmt', 'Expected one of avif, webp, jpeg, png, auto for fmt but received "gif"'],
      ['q=99', 'q', 'Expected an integer from 30 to 90 for q but received "99"'],
      ['exp=soon', 'exp', 'for exp'],
    ];
    for (const [query, field, message] of cases) {
      const error = refusal(() => parse(query));
      expect(error.status, query).toBe(400);
      expect(error.field, query).toBe(field);
      expect(error.message, query).toContain(message);
    }
    const unknown = refusal(() => parseQuery('w=10&width=10'));
    expect([unknown.status, unknown.field]).toEqual([400, 'width']);
    expect(unknown.message).toContain('expected only w, h, fit, fmt, q, dpr, wm, exp, sig');
    expect(refusal(() => parseQuery('w=10&w=20')).message).toBe('The parameter w is given more than once');
    expect(refusal(() => parseQuery('w=%E0%A4%A')).status).toBe(400);
  });

  it('names, for a box over the maximum at its dpr, a size that is itself accepted', () => {
    // maxSize / dpr (2666 at 1.5, 1333 at 3) is not a multiple of the step, nor in a list.
    const listed = loadTransformConfig({
      IMGPIPE_TRANSFORM_SOURCE_BUCKET: 's',
      IMGPIPE_TRANSFORM_SIZES: '320,640,1280,1920',
    });
    const cases: [typeof config, string, string][] = [
      [config, 'w=4000&dpr=1.5', 'Expected at most 2660 at dpr 1.5 (4000 device pixels) for w'],
      [config, 'h=2000&dpr=3', 'Expected at most 1330 at dpr 3 (4000 device pixels) for h'],
      [listed, 'w=1920&dpr=3', 'Expected at most 1280 at dpr 3 (4000 device pixels) for w'],
      [listed, 'w=1920&dpr=2.5', 'Expected at most 1280 at dpr 2.5 (4000 device pixels) for w'],
    ];
    for (const [settings, query, message] of cases) {
      const error = refusal(() => parseRequest(KEY, parseQuery(query), undefined, settings, defaults));
      expect([error.status, error.field, error.message], query).toEqual([
        400,
        query[0],
        expect.stringContaining(message),
      ]);
      const named = /at most (\d+)/.exec(error.message)![1]!;
      const accepted = query.replace(/^([wh])=\d+/, `$1=${named}`);
      expect(
        () => parseRequest(KEY, parseQuery(accepted), undefined, settings, defaults),
        accepted,
      ).not.toThrow();
    }
    // No listed size fits at that dpr: said so, rather than naming one that is refused.
    const large = loadTransformConfig({
      IMGPIPE_TRANSFORM_SOURCE_BUCKET: 's',
      IMGPIPE_TRANSFORM_SIZES: '2000',
    });
    expect(
      refusal(() => parseRequest(KEY, { w: '2000', dpr: '3' }, undefined, large, defaults)).message,
    ).toBe(
      'No w is allowed at dpr 3 (received "2000" of type string): every allowed size is more than 4000 device pixels at that ratio; use a lower dpr',
    );
  });

  it('limits sizes to a configured list when there is one', () => {
    const listed = loadTransformConfig({
      IMGPIPE_TRANSFORM_SOURCE_BUCKET: 's',
      IMGPIPE_TRANSFORM_SIZES: '640,320',
    });
    expect(parseRequest(KEY, { w: '320' }, undefined, listed, defaults).spec.width).toBe(320);
    expect(refusal(() => parseRequest(KEY, { w: '330' }, undefined, listed, defaults)).message).toBe(
      'Expected one of 320, 640 for w but received "330" of type string',
    );
  });
});

describe('IMGPIPE_TRANSFORM_CDN_URL', () => {
  it('takes a URL, or / for a path on the host the request came to, and refuses anything else', () => {
    const cdn = (value: string) =>
      loadTransformConfig({ IMGPIPE_TRANSFORM_SOURCE_BUCKET: 's', IMGPIPE_TRANSFORM_CDN_URL: value }).cdnUrl;
    expect(cdn('https://img.example.com/')).toBe('https://img.example.com');
    expect(cdn('/')).toBe('');
    expect(() => cdn('img.example.com')).toThrow(/or \/ for the host the request came to/);
    expect(() => cdn('/cdn')).toThrow(/IMGPIPE_TRANSFORM_CDN_URL/);
  });
});

describe('negotiate (fmt=auto)', () => {
  const all = ['avif', 'webp', 'jpeg', 'png'] as const;
  it('prefers AVIF, then WebP, then JPEG, from a browser header or the CloudFront Function token', () => {
    expect(negotiate('image/avif,image/webp,image/apng,image/*,*/*;q=0.8', all)).toBe('avif');
    expect(negotiate('image/webp,*/*', all)).toBe('webp');
    expect(negotiate('image/png,image/*;q=0.8', all)).toBe('jpeg');
    expect(negotiate(undefined, all)).toBe('jpeg');
    expect(negotiate('avif', all)).toBe('avif');
    expect(negotiate('avif', ['webp', 'jpeg'])).toBe('webp');
    expect(negotiate('webp', all)).toBe('webp');
    expect(negotiate('other', all)).toBe('jpeg');
    expect(negotiate('image/avif;q=0, image/webp', all)).toBe('webp');
    expect(negotiate('image/avif', ['webp', 'jpeg'])).toBe('jpeg');
  });

  it('falls back to PNG without JPEG, never to a format the client did not accept', () => {
    const noJpeg = ['avif', 'webp', 'png'] as const;
    expect(negotiate('other', noJpeg)).toBe('png');
    expect(negotiate(undefined, noJpeg)).toBe('png');
    expect(negotiate('image/webp,*/*', noJpeg)).toBe('webp');
    expect(negotiate('other', ['png', 'avif'])).toBe('png');
  });

  it('refuses formats with neither JPEG nor PNG, naming the setting and the value', () => {
    const load = (formats: string) =>
      loadTransformConfig({ IMGPIPE_TRANSFORM_SOURCE_BUCKET: 's', IMGPIPE_TRANSFORM_FORMATS: formats });
    expect(() => load('avif,webp')).toThrow(
      'Expected a list with jpeg or png for IMGPIPE_TRANSFORM_FORMATS but received "avif,webp"',
    );
    expect(load('webp,png').formats).toEqual(['webp', 'png']);
  });
});

describe('signatures', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const sign = (query: Record<string, string>) => ({ ...query, sig: signature(SECRET, KEY, query) });

  it('covers the path and every parameter, in any order and encoding', () => {
    expect(canonicalRequest(KEY, { w: '640', fmt: 'auto', sig: 'x' })).toBe(
      '/t/photos/a%20b%2Bc%25.jpg?fmt=auto&w=640',
    );
    const url = new URL(signUrl('https://cdn.example.com/', KEY, { w: 640, fmt: 'auto' }, SECRET));
    expect(url.pathname).toBe('/t/photos/a%20b%2Bc%25.jpg');
    const query = parseQuery(url.search.slice(1));
    expect(() => verifySignature(KEY, query, [SECRET], now)).not.toThrow();
    // Reordered: still valid.
    expect(() =>
      verifySignature(KEY, parseQuery(`sig=${query.sig}&w=640&fmt=auto`), [SECRET], now),
    ).not.toThrow();
  });

  it('refuses unsigned, tampered and expired requests with 403 saying which', () => {
    const signed = sign({ w: '640', exp: String(now.getTime() / 1000 + 60) });
    const cases: [Record<string, string>, string, Date][] = [
      [{ w: '640' }, 'This URL is not signed', now],
      [{ ...signed, w: '1280' }, 'The signature does not match this URL', now],
      [{ ...signed, exp: String(now.getTime() / 1000 + 3600) }, 'does not match', now],
      [{ ...signed, sig: `${signed.sig!.slice(0, -1)}A` }, 'does not match', now],
      [{ ...signed, sig: 'short' }, 'does not match', now],
      [signed, 'This URL expired at 2026-12-01T00:01:00.000Z', new Date(now.getTime() + 61_000)],
    ];
    for (const [query, message, at] of cases) {
      const error = refusal(() => verifySignature(KEY, query, [SECRET], at));
      expect(error.status).toBe(403);
      expect(error.message).toContain(message);
    }
    expect(refusal(() => verifySignature('photos/other.jpg', signed, [SECRET], now)).status).toBe(403);
  });

  it('answers 400 naming exp for a signed expiry that is not Unix seconds, not "expired"', () => {
    // A signer of its own that put Date.now() + 1 h in exp: milliseconds, an hour from now.
    const ms = String(now.getTime() + 3_600_000);
    for (const [exp, message] of [
      [
        ms,
        `Expected the expiry in Unix seconds (up to 12 digits; this looks like milliseconds) for exp but received "${ms}"`,
      ],
      ['tomorrow', 'Expected the expiry in Unix seconds (up to 12 digits) for exp but received "tomorrow"'],
    ] as const) {
      const error = refusal(() => verifySignature(KEY, sign({ w: '640', exp }), [SECRET], now));
      expect([error.status, error.field], exp).toEqual([400, 'exp']);
      expect(error.message).toContain(message);
      // The same message as an unsigned deployment's.
      expect(refusal(() => parseRequest(KEY, { w: '640', exp }, undefined, config, defaults)).message).toBe(
        error.message,
      );
    }
  });

  it('with signing off, reads neither exp nor sig, as CloudFront drops them before the function', () => {
    // terraform/modules/transform leaves exp and sig out of the query with signing off: a URL
    // signed before (an expired exp, one in milliseconds) is served there, so imgpipe dev, which
    // calls the function directly, must serve it too, and keep the response no shorter.
    const off = loadTransformConfig({
      IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'src',
      IMGPIPE_TRANSFORM_SIGNING: 'off',
    });
    const plain = parseRequest(KEY, { w: '640' }, undefined, off, defaults);
    for (const exp of ['1', String(now.getTime()), 'tomorrow']) {
      const request = parseRequest(KEY, { w: '640', exp, sig: 'x' }, undefined, off, defaults);
      expect(request.spec, exp).toEqual(plain.spec);
      expect(request.expires, exp).toBeUndefined();
    }
  });

  it('accepts either of two keys (rotation), and no other', () => {
    const next = 'n'.repeat(40);
    const query = { w: '640', sig: signature(next, KEY, { w: '640' }) };
    expect(() => verifySignature(KEY, query, [next, SECRET], now)).not.toThrow();
    expect(() =>
      verifySignature(KEY, { w: '640', sig: signature(SECRET, KEY, { w: '640' }) }, [next, SECRET], now),
    ).not.toThrow();
    expect(refusal(() => verifySignature(KEY, query, [SECRET], now)).status).toBe(403);
  });
});

describe('keyFromPath and the results key', () => {
  it('decodes the key segment by segment, and keeps one key per normalised request', () => {
    expect(keyFromPath('/t/photos/a%20b%2Bc%25.jpg')).toBe(KEY);
    expect(keyFromPath('/t/a%2Fb')).toBe('a/b');
    expect(refusal(() => keyFromPath('/t/')).field).toBe('key');
    // A key over S3's 1,024 bytes: the refusal names its length, as the limit's other refusals do.
    for (const [path, bytes] of [
      ['/t/', 0],
      [`/t/${'%E2%82%AC'.repeat(342)}`, 1026],
    ] as const) {
      const error = refusal(() => keyFromPath(path));
      expect([error.status, error.field, error.message], path).toEqual([
        400,
        'key',
        `Expected a source key of 1 to 1024 bytes after /t/, not ${bytes} bytes`,
      ]);
      expect(error.details, path).toEqual({ value: bytes, limit: 1024, unit: 'bytes' });
    }
    expect(refusal(() => keyFromPath('/x/a.jpg')).status).toBe(404);
    const layout = new TransformLayout('transforms/');
    const spec = { width: 640, fit: 'inside', format: 'webp', quality: 75 } as const;
    const key = layout.key('photos/cat.jpg', spec, 'hash1');
    expect(key).toMatch(/^transforms\/photos\/cat\.jpg\/640x0-inside-q75-[0-9a-f]{12}\.webp$/);
    expect(layout.key('photos/cat.jpg', { ...spec }, 'hash1')).toBe(key);
    expect(layout.key('photos/cat.jpg', spec, 'hash2')).not.toBe(key);
    expect(layout.key('photos/cat.jpg', { ...spec, format: 'avif' }, 'hash1')).toMatch(/\.avif$/);
    // With a secret (the newest signing key): an HMAC of 96 bits, one per secret.
    const keyed = layout.key('photos/cat.jpg', spec, 'hash1', 'k'.repeat(40));
    expect(keyed).toMatch(/^transforms\/photos\/cat\.jpg\/640x0-inside-q75-[0-9a-f]{24}\.webp$/);
    expect(layout.key('photos/cat.jpg', spec, 'hash1', 'k'.repeat(40))).toBe(keyed);
    expect(layout.key('photos/cat.jpg', spec, 'hash1', 'j'.repeat(40))).not.toBe(keyed);
    // Without the watermark: its own key, named so.
    expect(layout.key('photos/cat.jpg', { ...spec, watermark: false }, 'hash1')).toMatch(
      /\/640x0-inside-q75-nowm-[0-9a-f]{12}\.webp$/,
    );
  });

  it('refuses a key with a . or .. segment (no URL reaches the function with it), serving and signing', () => {
    for (const [path, key, dots] of [
      ['/t/a/../b.jpg', 'a/../b.jpg', '..'],
      ['/t/a/%2e%2e/b.jpg', 'a/../b.jpg', '..'],
      ['/t/%2E/b.jpg', './b.jpg', '.'],
      ['/t/a/..', 'a/..', '..'],
    ] as const) {
      const error = refusal(() => keyFromPath(path));
      expect([error.status, error.field], path).toEqual([400, 'key']);
      expect(error.message).toContain(`The source key ${JSON.stringify(key)} has a "${dots}" segment`);
      const signing = refusal(() => signUrl('https://cdn.example.com', key, { w: 640 }, SECRET));
      expect([signing.status, signing.field, signing.message]).toEqual([400, 'key', error.message]);
    }
    // Dots within a segment are a name like any other.
    expect(keyFromPath('/t/a/..b.jpg/...')).toBe('a/..b.jpg/...');
    expect(signUrl('https://cdn.example.com', 'a/.b', {}, SECRET)).toMatch(/\/t\/a\/\.b\?sig=/);
  });

  it("checks a signed request's result key as the function with its default settings makes it, for every format fmt=auto may pick", () => {
    const pipeline = loadPipelineConfig({});
    const layout = new TransformLayout(config.prefix);
    // The function's own result key for an AVIF client (the longest extension) at the limit found.
    const limit = (options: Parameters<typeof checkSignedResultKeys>[1]) => {
      const error = refusal(() => checkSignedResultKeys('k'.repeat(1024), options, pipeline, SECRET));
      expect([error.status, error.field]).toEqual([400, 'key']);
      return Number(/at most (\d+) bytes/.exec(error.message)![1]);
    };
    const longest = limit({ w: 640 });
    checkSignedResultKeys('k'.repeat(longest), { w: 640 }, pipeline, SECRET);
    const key = 'k'.repeat(longest + 1);
    const { spec } = parseRequest(key, { w: '640' }, 'image/avif', config, pipeline.formatOptions);
    const served = refusal(() => checkResultKey(key, layout.key(key, spec, pipeline.hash, SECRET)));
    expect(refusal(() => checkSignedResultKeys(key, { w: 640 }, pipeline, SECRET)).message).toBe(
      served.message,
    );
    // A JPEG is one byte shorter (.jpg); wm=0 without a watermark in the document is the same result.
    expect(limit({ w: 640, fmt: 'jpeg' })).toBe(longest + 1);
    expect(limit({ w: 640, wm: 0 })).toBe(longest);
    // A side over the default largest (4000) at dpr 2, refused there for its size, is checked as a
    // deployment that takes it makes its key: box 8000x16384 (640x4000 above), two bytes longer.
    expect(limit({ w: 4000, dpr: 2 })).toBe(longest - 2);
  });

  it('tells the results of a source from those of the sources under it', () => {
    const layout = new TransformLayout('transforms/');
    const spec = { width: 640, fit: 'inside', format: 'webp', quality: 75 } as const;
    expect(layout.isResultOf('a', layout.key('a', spec, 'h'))).toBe(true);
    expect(layout.isResultOf('a', layout.key('a/b.jpg', spec, 'h'))).toBe(false);
    expect(layout.isResultOf('a/b.jpg', layout.key('a/b.jpg', spec, 'h'))).toBe(true);
    expect(layout.isResultOf('a', layout.key('a/', spec, 'h'))).toBe(false);
    expect(layout.isResultOf('a', 'transforms/a/')).toBe(false);
    expect(layout.isResultOf('a', 'transforms/ab/x.webp')).toBe(false);
  });
});
