import { createHash, createHmac } from 'node:crypto';
import type { Destinations, KeyTemplates } from './config.ts';
import { FORMAT_META, type OutputFormat } from './formats.ts';

/**
 * The bucket layout: every key we write or recognise is decided here and nowhere else. Outputs,
 * manifests, quarantine copies and their reason records; which keys are our own (never processed
 * again); whether the templates and the quarantine prefix can collide.
 *
 * Output keys come from templates, so a deployment can lay outputs out the way its CDN wants.
 * Tokens (documented in the README):
 *
 *   {key}     the whole source key                 photos/2024/cat.jpg
 *   {dir}     its folder, with trailing slash      photos/2024/
 *   {name}    file name without the extension      cat
 *   {srcext}  the source key's extension           jpg
 *   {variant} the variant name                     large
 *   {format}  the output format                    webp
 *   {ext}     the output file extension            webp
 *
 * Keys are pure functions of the source key and the configuration, so a retry writes the same keys.
 */
export const KEY_TOKENS = ['key', 'dir', 'name', 'srcext', 'variant', 'format', 'ext'] as const;
type Token = (typeof KEY_TOKENS)[number];

export const DEFAULT_KEY_TEMPLATE = '{variant}/{key}.{ext}';
export const DEFAULT_MANIFEST_TEMPLATE = 'manifests/{key}.json';
export const DEFAULT_QUARANTINE_PREFIX = 'quarantine/';

/** What the layout needs to know of the pipeline configuration. */
export interface LayoutSpec {
  readonly keys: KeyTemplates;
  /** Each variant's formats, when they are its own (a subset of `formats`). */
  readonly variants: readonly { readonly name: string; readonly formats?: readonly OutputFormat[] }[];
  readonly formats: readonly OutputFormat[];
}

export interface QuarantineKeys {
  /** The untouched copy of the rejected source. */
  readonly object: string;
  /** The JSON record saying why. */
  readonly reason: string;
}

/**
 * The known objects a release is checked with (src/handlers/release-check.ts): the release workflow
 * uploads them once per environment under this prefix of the source bucket (their one
 * notification is handled by whatever version is live then); the BeforeAllowTraffic hook then runs
 * the new version on them, and the AfterAllowTraffic hook the alias. Each with the outcome it must
 * end in: a real photo `processed` with every variant, a text file `quarantined`.
 */
export const RELEASE_CHECK_PREFIX = 'imgpipe-release-check/';
export const RELEASE_CHECK_OBJECTS = [
  {
    key: `${RELEASE_CHECK_PREFIX}photo.jpg`,
    fixture: 'fixtures/photos/portrait-friends-dogs.jpg',
    expect: 'processed',
  },
  {
    key: `${RELEASE_CHECK_PREFIX}text-named.jpg`,
    fixture: 'fixtures/edge/broken/text-named.jpg',
    expect: 'quarantined',
  },
] as const;

/** The longest key S3 stores, in bytes of UTF-8. */
export const S3_MAX_KEY_BYTES = 1024;

export class BucketLayout {
  readonly keys: KeyTemplates;
  readonly quarantinePrefix: string;
  readonly #spec: LayoutSpec;

  constructor(spec: LayoutSpec, quarantinePrefix: string) {
    this.#spec = spec;
    this.keys = spec.keys;
    this.quarantinePrefix = quarantinePrefix;
  }

  outputKey(sourceKey: string, variant: string, format: OutputFormat): string {
    const parts = splitSourceKey(sourceKey);
    const values = { ...parts, variant, format, ext: FORMAT_META[format].extension };
    return this.keys.prefix + render(this.keys.output, values);
  }

  manifestKey(sourceKey: string): string {
    return this.keys.prefix + render(this.keys.manifest, splitSourceKey(sourceKey));
  }

  quarantineKeys(sourceKey: string): QuarantineKeys {
    return {
      object: `${this.quarantinePrefix}objects/${sourceKey}`,
      reason: `${this.quarantinePrefix}reasons/${sourceKey}.json`,
    };
  }

  /** The keys processing a source reads and writes: its manifest and every output. */
  outputKeys(sourceKey: string): string[] {
    const keys = [this.manifestKey(sourceKey)];
    for (const variant of this.#spec.variants)
      for (const format of variant.formats ?? this.#spec.formats)
        keys.push(this.outputKey(sourceKey, variant.name, format));
    return keys;
  }

  /**
   * The folders at the top of the bucket that outputs, manifests and quarantine copies go into,
   * whatever the source key (`w64`, `manifests`, `quarantine` by default); undefined when one of
   * them depends on the source key (a template that starts with {key}, {dir} or {srcext}).
   */
  topFolders(): ReadonlySet<string> | undefined {
    const written = (sourceKey: string) => {
      const quarantine = this.quarantineKeys(sourceKey);
      return [...this.outputKeys(sourceKey), quarantine.object, quarantine.reason];
    };
    // Two source keys with nothing in common: a folder both write into is the layout's own.
    const one = written('imgpipe-probe-a/imgpipe-probe-a.jpg');
    const other = written('imgpipe-probe-b/imgpipe-probe-b.png');
    const folders = new Set<string>();
    for (const [i, key] of one.entries()) {
      const [top, otherTop] = [key, other[i]!].map((k) => (k.includes('/') ? k.split('/')[0]! : undefined));
      if (top === undefined && otherTop === undefined) continue; // a file at the top, not a folder
      if (top === undefined || top !== otherTop) return undefined;
      folders.add(top);
    }
    return folders;
  }

  /**
   * Why quarantine keys could collide with output keys when both live in one bucket, or undefined
   * when they cannot.
   */
  quarantineClash(): string | undefined {
    const prefix = this.quarantinePrefix;
    if (prefix === '') return 'an empty prefix would mix quarantined inputs with outputs';
    if (this.keys.prefix !== '' && prefix.startsWith(this.keys.prefix)) {
      return `it lies under the output prefix ${JSON.stringify(this.keys.prefix)}`;
    }
    return this.outputsUnder(prefix);
  }

  /** Why output keys or manifests could fall under `prefix` (of the output bucket), if they could. */
  outputsUnder(prefix: string): string | undefined {
    const sample = 'sample/photo.jpg';
    const keys = [this.manifestKey(sample)];
    for (const variant of this.#spec.variants) {
      for (const format of this.#spec.formats) keys.push(this.outputKey(sample, variant.name, format));
    }
    const clash = keys.find((key) => key.startsWith(prefix));
    return clash === undefined ? undefined : `output keys such as ${clash} fall under it`;
  }

  /**
   * Recursion guard: decides whether an object is one of our own outputs, manifests or quarantine
   * copies, which must never be processed again, even if the deployment sends us their events (for
   * example when sources and outputs share a bucket). Decided by bucket and key only, before any I/O.
   *
   * With an output prefix, everything under it is ours. Without one, a key is ours when it matches
   * the output or manifest key template, so genuine uploads to a shared bucket are still processed.
   * On-demand transformation results (`transformPrefix` of the output bucket, TransformLayout) are
   * ours too, whatever the output prefix. Returns why the object is ours, or undefined.
   */
  ownObjectGuard(
    buckets: Omit<Destinations, 'quarantinePrefix'> & { readonly transformPrefix?: string },
  ): (bucket: string, key: string) => string | undefined {
    const { prefix } = this.keys;
    const quarantinePrefix = this.quarantinePrefix;
    const { transformPrefix } = buckets;
    const patterns = [this.#templatePattern(this.keys.output), this.#templatePattern(this.keys.manifest)];
    return (bucket, key) => {
      if (bucket === buckets.quarantineBucket && key.startsWith(quarantinePrefix)) {
        return quarantinePrefix === ''
          ? `bucket ${bucket} is the quarantine bucket`
          : `key is under the quarantine prefix ${quarantinePrefix}`;
      }
      if (bucket !== buckets.outputBucket) return undefined;
      if (transformPrefix && key.startsWith(transformPrefix))
        return `key is under the on-demand results prefix ${transformPrefix}`;
      if (prefix !== '')
        return key.startsWith(prefix) ? `key is under the output prefix ${prefix}` : undefined;
      return patterns.some((pattern) => pattern.test(key))
        ? 'key matches the output key templates'
        : undefined;
    };
  }

  #templatePattern(template: string): RegExp {
    const alternatives = (values: readonly string[]) =>
      `(?:${[...new Set(values)].map(escapeRegExp).join('|')})`;
    const { formats, variants } = this.#spec;
    const tokens: Record<Token, string> = {
      key: '.+',
      dir: '(?:.+/)?',
      name: '[^/]*',
      srcext: '[^/]*',
      variant: alternatives(variants.map((v) => v.name)),
      format: alternatives(formats),
      ext: alternatives(formats.map((f) => FORMAT_META[f].extension)),
    };
    const body = template
      .split(/(\{[a-z]+\})/)
      .map((part) => (isToken(part) ? tokens[part.slice(1, -1) as Token] : escapeRegExp(part)))
      .join('');
    return new RegExp(`^${escapeRegExp(this.keys.prefix)}${body}$`, 's');
  }
}

export interface SourceKeyParts {
  key: string;
  dir: string;
  name: string;
  srcext: string;
}

export function splitSourceKey(key: string): SourceKeyParts {
  const slash = key.lastIndexOf('/');
  const dir = key.slice(0, slash + 1);
  const file = key.slice(slash + 1);
  const dot = file.lastIndexOf('.');
  // A leading dot (".profile") is part of the name, not an extension.
  const hasExt = dot > 0;
  return { key, dir, name: hasExt ? file.slice(0, dot) : file, srcext: hasExt ? file.slice(dot + 1) : '' };
}

const TOKEN_PATTERN = /\{([a-z]+)\}/g;

function isToken(part: string): boolean {
  return /^\{[a-z]+\}$/.test(part) && (KEY_TOKENS as readonly string[]).includes(part.slice(1, -1));
}

/** Returns the tokens a template uses; throws on unknown tokens and stray braces. */
export function templateTokens(template: string): Set<Token> {
  const used = new Set<Token>();
  for (const match of template.matchAll(TOKEN_PATTERN)) {
    const token = match[1] as Token;
    if (!KEY_TOKENS.includes(token)) {
      throw new Error(
        `unknown token {${match[1]}}; known tokens are ${KEY_TOKENS.map((t) => `{${t}}`).join(' ')}`,
      );
    }
    used.add(token);
  }
  if (/[{}]/.test(template.replace(TOKEN_PATTERN, ''))) throw new Error('unbalanced { or }');
  return used;
}

function render(template: string, values: Partial<Record<Token, string>>): string {
  return template.replace(TOKEN_PATTERN, (_, token: Token) => values[token] ?? '');
}

/** The first `.` or `..` segment of a key, which URLs resolve away (`a/../b` is `b`), if any. */
export function dotSegment(key: string): '.' | '..' | undefined {
  return key.split('/').find((segment): segment is '.' | '..' => segment === '.' || segment === '..');
}

/**
 * What makes a key no path: a leading `/`, an empty segment, or a `.` or `..` segment. S3 takes
 * such keys as they are, but they name other files on a disk (`imgpipe process`), other URLs behind
 * CloudFront, and `../` leaves the folder it seems to be in.
 */
export function keyPathProblem(key: string): string | undefined {
  if (key.startsWith('/')) return 'starts with /';
  const segments = key.split('/');
  // A trailing / (a prefix's) is no empty segment.
  if (segments.slice(0, -1).includes('')) return 'has an empty segment (//)';
  if (dotSegment(key) !== undefined) return 'has a . or .. segment';
  return undefined;
}

/**
 * Checks that templates produce distinct keys for every variant and format, that they depend on the
 * source key, and that the manifest cannot collide with an output. Returns a problem or undefined.
 */
export function findTemplateProblem(spec: LayoutSpec): string | undefined {
  const { keys } = spec;
  let outputTokens: Set<Token>;
  let manifestTokens: Set<Token>;
  try {
    outputTokens = templateTokens(keys.output);
  } catch (error) {
    return `output template ${JSON.stringify(keys.output)}: ${(error as Error).message}`;
  }
  try {
    manifestTokens = templateTokens(keys.manifest);
  } catch (error) {
    return `manifest template ${JSON.stringify(keys.manifest)}: ${(error as Error).message}`;
  }
  const dependsOnSource = (tokens: Set<Token>) =>
    tokens.has('key') || (tokens.has('dir') && tokens.has('name'));
  if (!dependsOnSource(outputTokens)) return 'the output template must contain {key}, or {dir} and {name}';
  if (!dependsOnSource(manifestTokens))
    return 'the manifest template must contain {key}, or {dir} and {name}';
  for (const token of ['variant', 'format', 'ext'] as const) {
    if (manifestTokens.has(token))
      return `the manifest template cannot use {${token}}: there is one manifest per source`;
  }
  const layout = new BucketLayout(spec, DEFAULT_QUARANTINE_PREFIX);
  const seen = new Map<string, string>();
  const sample = 'sample/dir/photo.jpg';
  const manifest = layout.manifestKey(sample);
  const manifestPath = keyPathProblem(manifest);
  if (manifestPath) return `the manifest template makes keys such as ${manifest}, which ${manifestPath}`;
  seen.set(manifest, 'the manifest');
  for (const { name } of spec.variants) {
    for (const format of spec.formats) {
      const key = layout.outputKey(sample, name, format);
      const path = keyPathProblem(key);
      if (path) return `the output template makes keys such as ${key}, which ${path}`;
      const clash = seen.get(key);
      if (clash) return `variant ${name} in ${format} and ${clash} would both be written to ${key}`;
      seen.set(key, `variant ${name} in ${format}`);
    }
  }
  return undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Uploads through the HTTP API: the server chooses every key, as
 * `<uploads prefix><owner>/<upload id>/<safe file name>`, so a key names its owner (the token's
 * `sub`), two uploads never share a key, and nothing the client sends can place an object outside
 * its owner's folder.
 *
 * The owner segment is the `sub` itself when it is 1-128 characters of `A-Z a-z 0-9 _ -` (Cognito's
 * UUIDs, most providers' ids); any other `sub` (`auth0|abc`, `a/b`, `..`) is `~` followed by its
 * UTF-8 bytes in base64url, which cannot contain `/` and cannot collide with a plain one. The file
 * name keeps letters, digits and `. _ -` (accents dropped, anything else a `-`), no leading dot,
 * at most 100 characters with its extension: a key a URL, a shell and a CDN carry as it is.
 */
export class UploadLayout {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  key(owner: string, id: string, fileName: string): string {
    return `${this.ownerPrefix(owner)}${id}/${safeFileName(fileName)}`;
  }

  /** Every upload of this owner starts with this. */
  ownerPrefix(owner: string): string {
    return `${this.prefix}${ownerSegment(owner)}/`;
  }

  /** Whether `key` is one of this owner's uploads. */
  owns(owner: string, key: string): boolean {
    return key.startsWith(this.ownerPrefix(owner));
  }
}

const PLAIN_OWNER = /^[A-Za-z0-9_-]{1,128}$/;
/** Longer ids are hashed instead, so that every owner segment fits in 128 characters. */
const MAX_ENCODED_OWNER_BYTES = 96;

export function ownerSegment(owner: string): string {
  if (owner === '') throw new Error('an upload owner cannot be empty');
  if (PLAIN_OWNER.test(owner)) return owner;
  const bytes = Buffer.from(owner, 'utf8');
  return bytes.length <= MAX_ENCODED_OWNER_BYTES
    ? `~${bytes.toString('base64url')}`
    : `~~${createHash('sha256').update(bytes).digest('base64url')}`;
}

const MAX_FILE_NAME = 100;

export function safeFileName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  const ascii = base
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-');
  const dot = ascii.lastIndexOf('.');
  const ext = dot >= 0 && /^\.[A-Za-z0-9]{1,9}$/.test(ascii.slice(dot)) ? ascii.slice(dot) : '';
  const stem = (ext ? ascii.slice(0, dot) : ascii)
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+|[.-]+$/g, '')
    .slice(0, MAX_FILE_NAME - ext.length)
    .replace(/[.-]+$/, '');
  return `${stem || 'upload'}${ext}`;
}

/** One on-demand transformation, normalised: device pixels, the format chosen, the quality used. */
export interface TransformSpec {
  readonly width?: number;
  readonly height?: number;
  readonly fit: 'inside' | 'cover' | 'contain';
  readonly format: OutputFormat;
  readonly quality: number;
  /** false: without the document's watermark (`wm=0`, signed URLs only); absent: with it. */
  readonly watermark?: false;
}

/**
 * Where on-demand results are stored in the output bucket (handlers/transform.ts):
 *
 *   <prefix><source key>/<w>x<h>-<fit>-q<quality>-<hash>.<ext>    transforms/photos/cat.jpg/640x0-inside-q75-3f0c9a1b2d4e.webp
 *
 * `w` and `h` are the output box in device pixels (dpr applied; 0 for a side not given; neither
 * given: IMGPIPE_TRANSFORM_MAX_SIZE on both, so a new maximum is a new key); `-nowm` follows
 * the quality for a result without the watermark (`wm=0`). The hash covers the request and the
 * pipeline configuration's hash, so a new configuration gets new keys. It does not cover the
 * source's ETag: the key is known from the request alone, so a hit reads the result while the
 * source's HEAD is in flight (one round trip). The ETag of the source a result was made from is
 * stored with it, in the metadata `SOURCE_ETAG_METADATA`; a result whose recorded ETag is not the
 * source's current one is stale and made again. Equivalent requests (parameter order, `jpg` for
 * `jpeg`, `dpr=2&w=320` for `w=640`, auto resolved to the same format) share one key.
 *
 * The results of a source are the keys directly under `sourcePrefix(key)` (`isResultOf`): the
 * results of `a/b.jpg` are under `transforms/a/b.jpg/`, which is also under `transforms/a/`, so a
 * source `a` owns only the keys there without a further `/`.
 */
export const SOURCE_ETAG_METADATA = 'imgpipe-source-etag';

export class TransformLayout {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  sourcePrefix(sourceKey: string): string {
    return `${this.prefix}${sourceKey}/`;
  }

  /** Whether `key` is a stored result of `sourceKey` (not of a source under it, e.g. `a/b.jpg` of `a`). */
  isResultOf(sourceKey: string, key: string): boolean {
    const prefix = this.sourcePrefix(sourceKey);
    return key.startsWith(prefix) && key.length > prefix.length && !key.includes('/', prefix.length);
  }

  /**
   * A result's key: readable parameters, then a digest of the request and configuration. With a
   * `secret` (the newest signing key, when requests are signed) the digest is an HMAC of 96 bits,
   * so a result's key cannot be worked out from the source key and the parameters: results are
   * served from the bucket without a signature. A new newest key makes new result keys (each result
   * is made once more; the old ones expire by the bucket's lifecycle rule).
   */
  key(sourceKey: string, spec: TransformSpec, configHash: string, secret?: string): string {
    const box = `${spec.width ?? 0}x${spec.height ?? 0}`;
    const name = `${box}-${spec.fit}-q${spec.quality}${spec.watermark === false ? '-nowm' : ''}`;
    const request = JSON.stringify([sourceKey, name, spec.format, configHash]);
    const hash =
      secret === undefined
        ? createHash('sha256').update(request).digest('hex').slice(0, 12)
        : createHmac('sha256', secret).update(request).digest('hex').slice(0, 24);
    return `${this.sourcePrefix(sourceKey)}${name}-${hash}.${FORMAT_META[spec.format].extension}`;
  }
}
