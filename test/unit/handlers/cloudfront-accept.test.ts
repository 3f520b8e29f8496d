import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../../src/config/index.ts';
import { loadTransformConfig } from '../../../src/config/transform.ts';
import type { TransformConfig } from '../../../src/core/config.ts';
import { OUTPUT_FORMAT_NAMES, OUTPUT_FORMATS, resolveOutputFormat } from '../../../src/core/formats.ts';
import { ApiError, errorResponse } from '../../../src/handlers/http.ts';
import {
  DPRS,
  keyFromPath,
  negotiate,
  parseQuery,
  parseRequest,
  signature,
  signUrl,
  TRANSFORM_PARAMS,
  verifySignature,
} from '../../../src/handlers/transform-request.ts';

/**
 * The CloudFront Function that reduces Accept (terraform/modules/transform/accept.js), run in Node
 * as CloudFront runs it: the file's `handler` called with a viewer-request event. Its three values
 * must lead index.transform to the format the full header would have, whatever formats a
 * deployment allows (`avif` stands for AVIF and WebP, as every browser sends them; `avif-only` for
 * AVIF alone).
 */
const code = readFileSync(new URL('../../../terraform/modules/transform/accept.js', import.meta.url), 'utf8');
type QueryString = Record<string, { value: string; multiValue?: { value: string }[] }>;
type Request = {
  uri?: string;
  headers: Record<string, { value: string }>;
  querystring?: QueryString | string;
};
/** What the function returns: the request passed on, or (statusCode) the response it answers itself. */
type Handler = (event: { request: Request }) => Request & EdgeResponse;
type EdgeResponse = {
  statusCode?: number;
  headers: Record<string, { value: string }>;
  body?: { encoding: string; data: string };
};

/**
 * The function as cloudfront.tf publishes it: `var CONFIG = <the settings>;` and the file (main.tf
 * edge_config, the settings the module gives the function's environment).
 */
function edgeFunction(config: TransformConfig): Handler {
  const { signing, sizes, sizeStep, maxSize, qualityMin, qualityMax, formats } = config;
  const edge = { signing, sizes, sizeStep, maxSize, qualityMin, qualityMax, formats };
  return runInNewContext(`var CONFIG = ${JSON.stringify(edge)};\n${code}\nhandler;`, {}) as Handler;
}
// Signing off: with signing on, a request without sig is a 403 whatever it accepts (Accept `other`).
const handler = edgeFunction(
  loadTransformConfig({ IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'src', IMGPIPE_TRANSFORM_SIGNING: 'off' }),
);

/** The reduced Accept; `fmt` as the viewer spelt it (CloudFront passes query values undecoded). */
function reduce(accept: string | undefined, fmt?: string): string {
  const request: Request = {
    headers: accept === undefined ? {} : { accept: { value: accept } },
    querystring: fmt === undefined ? {} : { fmt: { value: fmt } },
  };
  return handler({ request }).headers.accept!.value;
}

const BROWSER_ACCEPT = 'image/avif,image/webp,*/*';

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

  it('reads every Accept header of the request, as the function reads them joined', () => {
    // CloudFront gives a repeated header's values in multiValue, the first in value; Lambda function
    // URLs join them with commas. From the first alone these were `other`, JPEG, where the function
    // given the request answers AVIF or WebP.
    const allowed = OUTPUT_FORMATS;
    const cases: string[][] = [
      ['image/png', 'image/avif,image/webp'],
      ['*/*', 'image/webp'],
      ['image/avif', 'image/webp;q=0'],
      ['image/webp', 'image/avif'],
      ['', 'image/avif,image/webp,*/*'],
      ['image/avif,image/webp', 'image/avif;q=0'],
      ['text/html'],
    ];
    for (const values of cases) {
      const request = {
        headers: { accept: { value: values[0]!, multiValue: values.map((value) => ({ value })) } },
        querystring: {},
      };
      const reduced = handler({ request } as never).headers.accept!.value;
      expect(negotiate(reduced, allowed), values.join(' | ')).toBe(negotiate(values.join(','), allowed));
    }
    const request = {
      headers: {
        accept: { value: 'image/png', multiValue: [{ value: 'image/png' }, { value: BROWSER_ACCEPT }] },
      },
      querystring: {},
    };
    expect(handler({ request } as never).headers.accept!.value).toBe('avif');
  });

  it('keeps the other headers and the rest of the request', () => {
    const request = { uri: '/t/a.jpg', headers: { accept: { value: 'image/webp' }, host: { value: 'x' } } };
    expect(handler({ request } as never)).toEqual({
      uri: '/t/a.jpg',
      headers: { accept: { value: 'webp' }, host: { value: 'x' } },
    });
  });
});

/**
 * The query as the cache key and the function get it. Each spelling of one request (fmt=WEBP,
 * w=0640, dpr=1.0, q=080, another order, a repeated parameter) was a cache entry of its own and a
 * call to the function; accept.js now writes it in one spelling, which must lead the function to
 * exactly the answer the viewer's query does: the same result (its spec is the stored key), the
 * same 400 naming the same value, the same signature check.
 */
describe('the CloudFront Function writing the query in one spelling', () => {
  const KEY = 'a.jpg';
  const SECRET = 'k'.repeat(32);
  const NOW = new Date('2026-01-01T00:00:00Z');
  const EXP = String(NOW.getTime() / 1000 + 3600);
  const DEFAULTS = loadPipelineConfig({}).formatOptions;
  const base = { IMGPIPE_TRANSFORM_SOURCE_BUCKET: 'src' };
  const OFF = loadTransformConfig({ ...base, IMGPIPE_TRANSFORM_SIGNING: 'off' });
  const SIGNED = loadTransformConfig(base);
  const CONFIGS = [
    OFF,
    SIGNED,
    loadTransformConfig({
      ...base,
      IMGPIPE_TRANSFORM_SIGNING: 'off',
      IMGPIPE_TRANSFORM_SIZES: '320,640,1000',
      IMGPIPE_TRANSFORM_MAX_SIZE: '1500',
      IMGPIPE_TRANSFORM_FORMATS: 'webp,png',
      IMGPIPE_TRANSFORM_QUALITY_MIN: '40',
      IMGPIPE_TRANSFORM_QUALITY_MAX: '80',
    }),
    loadTransformConfig({ ...base, IMGPIPE_TRANSFORM_SIGNING: 'off', IMGPIPE_TRANSFORM_SIZE_STEP: '1' }),
  ];

  /** CloudFront's querystring for a query as sent: values undecoded, a repeated name multiValue. */
  function cloudfrontQuery(raw: string): QueryString {
    const qs: QueryString = {};
    for (const part of raw.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      const value = eq === -1 ? '' : part.slice(eq + 1);
      const entry = qs[name];
      if (entry === undefined) qs[name] = { value };
      else entry.multiValue = [...(entry.multiValue ?? [{ value: entry.value }]), { value }];
    }
    return qs;
  }

  /** The query and Accept the function gets: the function's, or the viewer's less what the policy drops. */
  function atEdge(fn: Handler, config: TransformConfig, raw: string, accept?: string) {
    const request = fn({
      request: {
        uri: `/t/${KEY}`,
        headers: accept === undefined ? {} : { accept: { value: accept } },
        querystring: cloudfrontQuery(raw),
      },
    });
    return {
      query: typeof request.querystring === 'string' ? request.querystring : forwarded(config, raw),
      accept: request.headers.accept!.value,
    };
  }

  /**
   * What the deployment answers the viewer's query: the CloudFront Function's own response, or the
   * function's to the query and Accept the edge passes on (answer's form either way).
   */
  function deployed(fn: Handler, config: TransformConfig, raw: string, accept?: string, uri = `/t/${KEY}`) {
    const request = fn({
      request: {
        uri,
        headers: accept === undefined ? {} : { accept: { value: accept } },
        querystring: cloudfrontQuery(raw),
      },
    });
    if (request.statusCode === undefined) {
      const query = typeof request.querystring === 'string' ? request.querystring : forwarded(config, raw);
      return answer(config, query, request.headers.accept!.value);
    }
    const { error } = JSON.parse(request.body!.data);
    return JSON.stringify({ status: request.statusCode, message: error.message, field: error.field });
  }

  /** The viewer's query as the origin request policy forwards it (main.tf cache_key_parameters). */
  function forwarded(config: TransformConfig, raw: string): string {
    const kept: readonly string[] = config.signing
      ? TRANSFORM_PARAMS
      : TRANSFORM_PARAMS.filter((n) => n !== 'exp' && n !== 'sig');
    return raw
      .split('&')
      .filter((part) => kept.includes(part.split('=')[0]!))
      .join('&');
  }

  /**
   * What the function answers (transform.ts serve, up to the source's HEAD): given the query the
   * distribution forwards, or the viewer's own (imgpipe dev, a function URL called directly).
   */
  function answer(config: TransformConfig, query: string, accept: string | undefined): string {
    try {
      const parsed = parseQuery(query, config.signing);
      if (config.signing) verifySignature(KEY, parsed, [SECRET], NOW);
      const { spec, auto, expires } = parseRequest(KEY, parsed, accept, config, DEFAULTS);
      return JSON.stringify({ spec, auto, expires });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return JSON.stringify({ status: error.status, message: error.message, field: error.field });
    }
  }

  const BROWSER = 'image/avif,image/webp,*/*';

  it('holds the parameters, ratios, fits and format names of the function, and the settings Terraform gives it', () => {
    const constants = runInNewContext(
      `var CONFIG = {};\n${code}\n({ PARAMS, DPRS, FITS, FORMAT_NAMES });`,
      {},
    );
    expect(JSON.parse(JSON.stringify(constants))).toEqual({
      PARAMS: [...TRANSFORM_PARAMS],
      DPRS: [...DPRS],
      FITS: ['inside', 'cover', 'contain'],
      FORMAT_NAMES: Object.fromEntries(OUTPUT_FORMAT_NAMES.map((name) => [name, resolveOutputFormat(name)])),
    });
    // main.tf edge_config: the settings edgeFunction passes, under the same names.
    const main = readFileSync(
      new URL('../../../terraform/modules/transform/main.tf', import.meta.url),
      'utf8',
    );
    const block = /edge_config = \{([^}]*)\}/.exec(main)![1]!;
    const names = [...block.matchAll(/^\s*(\w+)\s*=/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual([
      'formats',
      'maxSize',
      'qualityMax',
      'qualityMin',
      'signing',
      'sizeStep',
      'sizes',
    ]);
  });

  it('makes one cache entry of the spellings of one request, with signing off', () => {
    const fn = edgeFunction(OFF);
    const spellings = [
      [
        'w=640&fmt=webp',
        'fmt=WEBP&w=0640',
        'dpr=1.0&w=00640&fmt=Webp',
        'fmt=web%70&w=640&fit=inside&wm=1',
        '&&w=640&&fmt=webp&',
        'w=640&fmt=webp&fit=cover',
        'w=640&fmt=webp&exp=1&sig=a',
        // Any number of leading zeros, as the function reads w and h.
        'w=000640&fmt=webp',
      ],
      ['w=640&q=80', 'q=080&w=640', 'q=80&fmt=auto&w=640', 'w=640&q=80&dpr=1.00', 'fmt=AUTO&w=640&q=080'],
      [
        'w=320&h=200&fit=cover&dpr=2',
        'dpr=2.0&fit=cover&h=0200&w=320',
        'h=200&w=320&dpr=2.00&fit=cover&wm=1',
        'w=0000320&h=000000200&fit=cover&dpr=2',
      ],
      ['fmt=png&w=640', 'fmt=PNG&w=640&q=80', 'q=50&w=640&fmt=png'],
      ['fmt=jpeg&w=640', 'fmt=jpg&w=640', 'fmt=JPG&w=0640'],
    ];
    for (const group of spellings) {
      const seen = new Set(group.map((raw) => JSON.stringify(atEdge(fn, OFF, raw, BROWSER))));
      expect([...seen], group.join(' ')).toHaveLength(1);
      for (const raw of group)
        expect(answer(OFF, atEdge(fn, OFF, raw, BROWSER).query, BROWSER), raw).toBe(
          answer(OFF, forwarded(OFF, raw), BROWSER),
        );
    }
    expect(atEdge(fn, OFF, 'fmt=WEBP&w=0640&dpr=1.0&q=080').query).toBe('fmt=webp&q=80&w=640');
  });

  it('folds dpr into w and h where the sides it gives are allowed sizes too, and keeps fmt=auto apart', () => {
    // The function's box is w x dpr by h x dpr device pixels, and dpr changes nothing else: the same
    // result, key and headers. Folded only where those sides are themselves allowed at dpr 1.
    const LIST = CONFIGS[2]!; // sizes 320, 640, 1000; maxSize 1500
    const STEP1 = CONFIGS[3]!;
    const cases: [TransformConfig, string, string][] = [
      [OFF, 'w=320&dpr=2', 'w=640'],
      [OFF, 'w=320&h=200&fit=cover&dpr=2', 'fit=cover&h=400&w=640'],
      [OFF, 'w=320&dpr=1.5&fmt=webp', 'fmt=webp&w=480'],
      [OFF, 'dpr=3&fmt=webp', 'fmt=webp'], // no side: the box is maxSize whatever the ratio
      [LIST, 'w=320&dpr=2', 'w=640'],
      [STEP1, 'w=333&dpr=1.5', 'w=500'], // 499.5 rounded, as the function rounds it
      // 320 x 1.5 = 480 and 1000 x 1.5 = 1500 are not in the list: kept as asked.
      [LIST, 'w=320&dpr=1.5', 'dpr=1.5&w=320'],
      [LIST, 'w=640&h=1000&dpr=1.5', 'dpr=1.5&h=1000&w=640'],
      // 330 x 1.5 = 495: not a multiple of 10.
      [OFF, 'w=330&dpr=1.5', 'dpr=1.5&w=330'],
    ];
    for (const [config, raw, folded] of cases) {
      const fn = edgeFunction(config);
      expect(atEdge(fn, config, raw, BROWSER).query, raw).toBe(folded);
      expect(answer(config, folded, BROWSER), raw).toBe(answer(config, forwarded(config, raw), BROWSER));
    }
    // fmt=auto answers Vary: Accept, a format named does not: the same bytes, not the same answer.
    const fn = edgeFunction(OFF);
    expect(atEdge(fn, OFF, 'w=640&fmt=auto', BROWSER)).toEqual({ query: 'w=640', accept: 'avif' });
    expect(atEdge(fn, OFF, 'w=640&fmt=avif', BROWSER)).toEqual({ query: 'fmt=avif&w=640', accept: 'other' });
  });

  it('makes one entry of a repeated parameter, answered the same 400, and leaves refused values as sent', () => {
    const fn = edgeFunction(OFF);
    const repeated = ['w=640&w=640', 'w=640&w=320', 'w=320&fmt=webp&w=640', 'w=0640&q=5&w=x'];
    const seen = new Set(repeated.map((raw) => atEdge(fn, OFF, raw).query));
    expect([...seen]).toEqual(['w=&w=']);
    for (const raw of repeated)
      expect(answer(OFF, 'w=&w=', undefined), raw).toBe(answer(OFF, forwarded(OFF, raw), undefined));
    // Refused: left as sent, so the 400 names the value as given (never made valid).
    for (const raw of [
      'w=0645&fmt=WEBP',
      'fmt=WEBP&w=0640&q=5',
      'w=640&fmt=gif',
      'dpr=1.0&w=640&fit=INSIDE',
      'w=640&fmt=%zz',
      'w=&fmt=webp',
      'w=640&w=320&h=1&h=2',
    ])
      expect(atEdge(fn, OFF, raw).query, raw).toBe(forwarded(OFF, raw));
    expect(JSON.parse(answer(OFF, atEdge(fn, OFF, 'w=0645&fmt=WEBP').query, undefined)).message).toContain(
      '"0645"',
    );
  });

  it('answers a parameter name the function does not take 400 naming it, deployed as locally', () => {
    // The distribution dropped such names (the policies keep nine), so w=640&width=320 was a 640 px
    // image deployed and a 400 from imgpipe dev and the function; %77=640 (w percent-encoded) was
    // the whole image deployed and a 640 px one locally.
    const queries = [
      'w=640&width=320',
      'W=640',
      '%77=640',
      'w=640&utm_source=news',
      'fmt=webp&w%00=1&w=640',
      'y=1&x=2&w=640',
      'x=2&y=1&w=640',
      'w=640&x=1&w=320',
      'w=640&x=%zz',
      'w=640&fmt=gif&zz=1',
      '=5&w=640',
      'w=640&exp=1&sig=a&x=1',
    ];
    for (const config of [OFF, SIGNED]) {
      const fn = edgeFunction(config);
      for (const raw of queries) {
        const local = JSON.parse(answer(config, raw, BROWSER));
        expect(local.status, raw).toBe(400);
        expect(deployed(fn, config, raw, BROWSER), `${raw} signing=${config.signing}`).toBe(
          answer(config, raw, BROWSER),
        );
      }
      // A signed URL with a name added: refused, not served on the signature of the rest.
      const signed = new URL(signUrl('https://cdn.example', KEY, { w: 640 }, SECRET)).search.slice(1);
      expect(JSON.parse(deployed(fn, config, `${signed}&v=2`)).field).toBe('v');
    }
    // The same JSON as the function's (http.ts errorResponse), which no cache keeps.
    const edge = edgeFunction(OFF)({
      request: { uri: `/t/${KEY}`, headers: {}, querystring: cloudfrontQuery('w=640&width=320') },
    });
    let error: unknown;
    try {
      parseQuery('w=640&width=320', false);
    } catch (e) {
      error = e;
    }
    const local = errorResponse(error as ApiError);
    expect(edge.statusCode).toBe(local.statusCode);
    expect(JSON.parse(edge.body!.data)).toEqual(JSON.parse(local.body!));
    expect(edge.headers).toEqual({
      'content-type': { value: 'application/json' },
      'cache-control': { value: 'no-store' },
    });
    // A path the function refuses first (400 key, or 404) is passed on: its answer names the path.
    for (const uri of ['/t/%zz.jpg', '/t/a/../b.jpg', '/t/', '/x/a.jpg', `/t/${'k'.repeat(1025)}`]) {
      const passed = edgeFunction(OFF)({
        request: { uri, headers: {}, querystring: cloudfrontQuery('x=1') },
      });
      expect(passed.statusCode, uri).toBeUndefined();
    }
  });

  it('gives a request the function refuses whatever Accept says one Accept (one cache entry, not four)', () => {
    // fmt=webp&fmt=avif was written fmt=&fmt= (a 400 for any Accept) but kept under avif, avif-only,
    // webp and other: four cache entries and four calls to the function for one 400.
    const cases: [TransformConfig, string][] = [
      [OFF, 'fmt=webp&fmt=avif'],
      [SIGNED, 'fmt=auto&fmt=auto'],
      [SIGNED, 'w=640&w=320'],
      [OFF, 'w=640&fmt=%zz'],
      [SIGNED, 'q=%E0%A4%A&w=640'],
      [OFF, 'w=640&h=1&h=2&fmt=webp&fmt=webp'],
      [OFF, 'w=645'],
      [OFF, 'w=640&q=5'],
      [OFF, 'w=640&fit=weird'],
      // Signing on, no signature; signing off, wm=0: 403 whatever Accept says.
      [OFF, 'w=640&wm=0'],
      [SIGNED, 'w=640'],
      [SIGNED, 'w=640&fmt=auto&sig='],
      [SIGNED, ''],
    ];
    for (const [config, raw] of cases) {
      const fn = edgeFunction(config);
      const accepts = new Set(SAMPLES.map(([accept]) => atEdge(fn, config, raw, accept).accept));
      expect([...accepts], raw).toEqual(['other']);
      expect([400, 403], raw).toContain(JSON.parse(answer(config, raw, BROWSER)).status);
    }
    // Signed: negotiated.
    const signed = new URL(signUrl('https://cdn.example', KEY, { w: 640 }, SECRET)).search.slice(1);
    expect(atEdge(edgeFunction(SIGNED), SIGNED, signed, BROWSER).accept).toBe('avif');
  });

  it('answers a URL with exp or sig, signing off, as without them: deployed (CloudFront drops both) and locally', () => {
    // imgpipe dev (the function without CloudFront) refused exp=1&exp=2 or sig=%zz 400 where the
    // deployment, whose cache policy drops exp and sig with signing off, served the image.
    const fn = edgeFunction(OFF);
    for (const [raw, without] of [
      ['w=640&exp=1&exp=2', 'w=640'],
      ['w=640&sig=a&sig=b&fmt=webp', 'w=640&fmt=webp'],
      ['exp=%zz&w=640', 'w=640'],
      ['w=640&sig=%E0%A4%A', 'w=640'],
      ['sig&exp&w=640&q=80', 'w=640&q=80'],
    ]) {
      const expected = answer(OFF, without!, BROWSER);
      expect(JSON.parse(expected), raw).toHaveProperty('spec');
      expect(answer(OFF, raw!, BROWSER), `${raw} locally`).toBe(expected);
      expect(answer(OFF, atEdge(fn, OFF, raw!, BROWSER).query, BROWSER), `${raw} deployed`).toBe(expected);
    }
  });

  it('makes one entry of the orders and encodings of one signed URL, which still verifies, values as signed', () => {
    const fn = edgeFunction(SIGNED);
    const url = new URL(
      signUrl('https://cdn.example', KEY, { w: 640, fmt: 'webp', q: 80, exp: Number(EXP) }, SECRET),
    );
    const sig = url.searchParams.get('sig')!;
    const variants = [
      url.search.slice(1),
      `sig=${sig}&w=640&q=80&exp=${EXP}&fmt=webp`,
      `fmt=web%70&exp=${EXP}&w=640&q=80&sig=${sig}`,
      `&q=80&&sig=${sig}&fmt=webp&w=640&exp=${EXP}`,
    ];
    const seen = new Set(variants.map((raw) => atEdge(fn, SIGNED, raw).query));
    expect(seen.size).toBe(1);
    const [query] = seen;
    expect(JSON.parse(answer(SIGNED, query!, undefined))).toMatchObject({
      spec: { width: 640, format: 'webp', quality: 80 },
    });
    // w=0640 signed so: the signature covers the value as given, which is kept.
    const padded = { w: '0640', fmt: 'webp' };
    const raw = `w=0640&fmt=webp&sig=${signature(SECRET, KEY, padded)}`;
    expect(atEdge(fn, SIGNED, raw).query).toContain('w=0640');
    expect(JSON.parse(answer(SIGNED, atEdge(fn, SIGNED, raw).query, undefined))).toMatchObject({
      spec: { width: 640 },
    });
  });

  it('never changes what the function answers (random queries from a fixed seed)', () => {
    let seed = 1234567;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const VALUES: Record<string, string[]> = {
      w: [
        '640',
        '0640',
        '00640',
        '000640',
        '645',
        '320',
        '1000',
        '01000',
        '03000',
        '0',
        '',
        '6%34%30',
        '1e3',
        '+640',
        '99999',
        '3000',
        '333',
        '215',
        '480',
      ],
      h: ['200', '0200', '480', '1000', '', 'x', '4000', '1500', '320', '133'],
      fit: ['inside', 'cover', 'contain', 'COVER', '', 'fill', 'cove%72'],
      fmt: [
        'webp',
        'WEBP',
        'jpg',
        'JPEG',
        'png',
        'avif',
        'auto',
        'AUTO',
        'gif',
        '',
        '%zz',
        'web%70',
        'constructor',
        '%61uto',
      ],
      q: ['80', '080', '0080', '50', '5', '100', '', '8%30', '80.0'],
      dpr: ['1', '1.0', '1.00', '1.5', '1.50', '2', '2.0', '2.5', '3', '4', '01', '', '1.000', '0.5'],
      wm: ['0', '1', '01', '', 'true'],
      exp: [EXP, '1', '', 'x', `0${EXP}`],
      sig: ['abc', ''],
      x: ['1'],
      W: ['640'],
      '%77': ['640'],
    };
    const names = Object.keys(VALUES);
    const accepts = [undefined, BROWSER, 'image/webp,*/*', '*/*'];
    for (const config of CONFIGS) {
      const fn = edgeFunction(config);
      for (let n = 0; n < 3000; n++) {
        const parts: string[] = [];
        const count = Math.floor(random() * 6);
        for (let i = 0; i < count; i++) {
          // Mostly the function's parameters, now and then one the policy drops.
          const name = random() < 0.9 ? pick(TRANSFORM_PARAMS) : pick(names);
          parts.push(random() < 0.1 ? name : `${name}=${pick(VALUES[name]!)}`);
        }
        if (random() < 0.1) parts.push('');
        // Signed: a signature over the query the function would parse, somewhere among the parts.
        if (config.signing && random() < 0.7) {
          try {
            const parsed = parseQuery(
              forwarded(config, parts.filter((p) => !p.startsWith('sig=') && p !== 'sig').join('&')),
            );
            parts.splice(
              Math.floor(random() * (parts.length + 1)),
              0,
              `sig=${signature(SECRET, KEY, parsed)}`,
            );
          } catch {
            // A query the function refuses: no signature to make.
          }
        }
        const raw = parts.join('&');
        const accept = pick(accepts);
        // Deployed as locally: the same URL, the same answer.
        expect(deployed(fn, config, raw, accept), `${raw} ${accept} signing=${config.signing}`).toBe(
          answer(config, raw, accept),
        );
      }
    }
  });
});

/**
 * The path as the cache key and the function get it. CloudFront gives the function `uri` as the
 * viewer sent it, percent-encoding and all, and keys its cache on the uri the function returns;
 * index.transform decodes it segment by segment (keyFromPath). `/t/a%2Fb.jpg`, `/t/a/b.jpg` and
 * `/t/%61/b.jpg` name one key under one signature, and were three cache entries and three calls.
 */
describe('the CloudFront Function writing the path in one spelling', () => {
  const edge = (uri: string): string => handler({ request: { uri, headers: {} } }).uri!;
  /** What the function makes of a path: the key, or its refusal. */
  const keyOf = (path: string): string => {
    try {
      return `key ${JSON.stringify(keyFromPath(path))}`;
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('makes one entry of the spellings of one key, which the function reads as that key', () => {
    const spellings = [
      [
        '/t/a/b.jpg',
        '/t/a%2Fb.jpg',
        '/t/a%2fb.jpg',
        '/t/%61/b.jpg',
        '/t/a/%62%2Ejpg',
        '/t/%61%2F%62%2e%6A%70%67',
      ],
      ['/t/caf%C3%A9.jpg', '/t/caf%c3%a9.jpg', '/t/%63af%C3%A9.jpg'],
      ['/t/a+b.jpg', '/t/a%2Bb.jpg', '/t/a%2bb.jpg'],
      ['/t/a%20b.jpg', '/t/a%20%62.jpg'],
      ['/t/a//b.jpg', '/t/a%2F%2Fb.jpg', '/t/a/%2Fb.jpg'],
    ];
    for (const group of spellings) {
      const uris = new Set(group.map(edge));
      expect([...uris], group.join(' ')).toHaveLength(1);
      for (const path of group) expect(keyOf(edge(path)), path).toBe(keyOf(path));
    }
    expect(edge('/t/%61%2F%62%2e%6A%70%67')).toBe('/t/a/b.jpg');
    // As imgpipe sign writes it: a signed URL passes unchanged.
    const signed = new URL(
      signUrl('https://cdn.example', 'dir/caf\u00e9 (1)+.jpg', { w: 640 }, 'k'.repeat(32)),
    );
    expect(edge(signed.pathname)).toBe(signed.pathname);
  });

  it('leaves a path the function refuses, and any other path, as sent', () => {
    for (const path of [
      '/t/%zz.jpg',
      '/t/%ff.jpg',
      '/t/a%',
      '/t/a/%2e%2e/b.jpg',
      '/t/%2E/a.jpg',
      '/t/',
      '/',
      '/x/%61.jpg',
    ])
      expect(edge(path), path).toBe(path);
  });

  it('never changes the key or the refusal the function answers (random paths from a fixed seed)', () => {
    let seed = 7654321;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const chunks = [
      'a',
      'b',
      '/',
      '%2F',
      '%2f',
      '%61',
      '.',
      '%2e',
      '..',
      '%zz',
      '%',
      '+',
      '%2B',
      '%C3%A9',
      '%c3',
      '%20',
      '%00',
      '%5C',
      '~',
      '%7E',
      "'",
      '%27',
      '(',
      '%28',
    ];
    const uriOf = new Map<string, string>();
    for (let n = 0; n < 5000; n++) {
      let path = '/t/';
      const count = 1 + Math.floor(random() * 6);
      for (let i = 0; i < count; i++) path += chunks[Math.floor(random() * chunks.length)];
      const uri = edge(path);
      const key = keyOf(path);
      expect(keyOf(uri), path).toBe(key);
      expect(edge(uri), path).toBe(uri);
      // One uri per key: every spelling of a key the function serves is one cache entry.
      if (key.startsWith('key ')) {
        expect(uriOf.get(key) ?? uri, path).toBe(uri);
        uriOf.set(key, uri);
      }
    }
  });
});
