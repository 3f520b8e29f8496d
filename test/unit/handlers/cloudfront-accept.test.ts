import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../../src/config/index.ts';
import { loadTransformConfig } from '../../../src/config/transform.ts';
import { OUTPUT_FORMATS } from '../../../src/core/formats.ts';
import { negotiate, parseQuery, parseRequest } from '../../../src/handlers/transform-request.ts';

/**
 * The CloudFront Function that reduces Accept (terraform/modules/transform/accept.js), run in Node
 * as CloudFront runs it: the file's `handler` called with a viewer-request event. Its three values
 * must lead index.transform to the format the full header would have, whatever formats a
 * deployment allows (`avif` stands for AVIF and WebP, as every browser sends them; `avif-only` for
 * AVIF alone).
 */
const code = readFileSync(new URL('../../../terraform/modules/transform/accept.js', import.meta.url), 'utf8');
type Request = {
  headers: Record<string, { value: string }>;
  querystring?: Record<string, { value: string; multiValue?: { value: string }[] }>;
};
const handler = runInNewContext(`${code}\nhandler;`, {}) as (event: { request: Request }) => Request;

/** The reduced Accept; `fmt` as the viewer spelt it (CloudFront passes query values undecoded). */
function reduce(accept: string | undefined, fmt?: string): string {
  const request: Request = {
    headers: accept === undefined ? {} : { accept: { value: accept } },
    querystring: fmt === undefined ? {} : { fmt: { value: fmt } },
  };
  return handler({ request }).headers.accept!.value;
}

const SAMPLES: [string | undefined, string][] = [
  // Chrome, Edge, Opera (images)
  ['image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif'],
  // Firefox 93+
  ['image/avif,image/webp,*/*', 'avif'],
  // Firefox before AVIF
  ['image/webp,*/*', 'webp'],
  // Safari 16+
  [
    'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
    'avif',
  ],
  // Safari 14-15
  ['image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'webp'],
  // old Safari, curl, crawlers
  ['image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'other'],
  ['*/*', 'other'],
  [undefined, 'other'],
  ['', 'other'],
  ['IMAGE/AVIF,IMAGE/WEBP', 'avif'],
  ['image/avif;q=0, image/webp;q=0.9', 'webp'],
  ['image/avif;q=0.0,image/webp;q=0', 'other'],
  ['text/html, image/webp ; q=0.5', 'webp'],
  // a client of its own that decodes AVIF and not WebP: a deployment without AVIF answers it JPEG
  ['image/avif,image/jpeg,*/*;q=0.8', 'avif-only'],
  ['image/avif,image/webp;q=0', 'avif-only'],
  // a weight given twice: refused if either is 0, by both (the header is malformed)
  ['image/avif;q=1;q=0,image/webp', 'webp'],
  ['image/avif,image/webp;q=0;q=1', 'avif-only'],
  // already reduced (a second pass changes nothing)
  ['avif', 'avif'],
  ['avif-only', 'avif-only'],
  ['webp', 'webp'],
  ['other', 'other'],
];

describe('the CloudFront Function reducing Accept', () => {
  it('gives avif, avif-only, webp or other for sample headers', () => {
    for (const [accept, expected] of SAMPLES) expect(reduce(accept), String(accept)).toBe(expected);
  });

  it('leads fmt=auto to the format the full header leads to, for every allowed set of formats', () => {
    const sets = [OUTPUT_FORMATS, ['webp', 'jpeg'], ['avif', 'jpeg'], ['jpeg'], ['png', 'webp']] as const;
    for (const allowed of sets)
      for (const [accept] of SAMPLES)
        expect(negotiate(reduce(accept), allowed), `${accept} ${allowed}`).toBe(negotiate(accept, allowed));
  });

  it('gives a request naming its format one value whatever it accepts (one cache entry, not four)', () => {
    // The function reads Accept only for fmt=auto: for fmt=webp a browser's avif, Safari 15's webp
    // and a crawler's other were three cache entries, each an origin request, for the same bytes.
    for (const fmt of ['webp', 'WEBP', 'jpg', 'jpeg', 'png', 'avif', '%6Apeg', 'gif', '', '%zz'])
      expect(new Set(SAMPLES.map(([accept]) => reduce(accept, fmt))), fmt).toEqual(new Set(['other']));
    // fmt=auto however spelt, or none: negotiated.
    for (const fmt of [undefined, 'auto', 'AUTO', '%61uto'])
      expect(reduce('image/avif,image/webp,*/*', fmt), String(fmt)).toBe('avif');
  });

  it('leads the function to the answer the full header gives, whatever fmt says', () => {
    const transform = loadTransformConfig({ IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'src' });
    const defaults = loadPipelineConfig({}).formatOptions;
    // The format the function picks for this query and Accept, or the refusal it answers.
    const answer = (query: string, accept: string | undefined) => {
      try {
        return parseRequest('a.jpg', parseQuery(query), accept, transform, defaults, true).spec.format;
      } catch (error) {
        return (error as Error).message;
      }
    };
    for (const fmt of [undefined, 'auto', 'AUTO', '%61uto', 'webp', 'Avif', 'jpg', 'png', 'gif', '', '%zz'])
      for (const [accept] of SAMPLES) {
        const query = fmt === undefined ? 'w=100' : `w=100&fmt=${fmt}`;
        expect(answer(query, reduce(accept, fmt)), `${fmt} ${accept}`).toBe(answer(query, accept));
      }
  });

  it('keeps the other headers and the rest of the request', () => {
    const request = { uri: '/t/a.jpg', headers: { accept: { value: 'image/webp' }, host: { value: 'x' } } };
    expect(handler({ request } as never)).toEqual({
      uri: '/t/a.jpg',
      headers: { accept: { value: 'webp' }, host: { value: 'x' } },
    });
  });
});
