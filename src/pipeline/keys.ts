import { FORMAT_META, type OutputFormat } from '../codecs/formats.ts';

/**
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

export interface KeyTemplates {
  /** Prepended to every output and manifest key. */
  prefix: string;
  output: string;
  manifest: string;
}

export function outputKey(
  templates: KeyTemplates,
  sourceKey: string,
  variant: string,
  format: OutputFormat,
): string {
  const parts = splitSourceKey(sourceKey);
  return (
    templates.prefix +
    render(templates.output, { ...parts, variant, format, ext: FORMAT_META[format].extension })
  );
}

export function manifestKey(templates: KeyTemplates, sourceKey: string): string {
  return templates.prefix + render(templates.manifest, splitSourceKey(sourceKey));
}

/**
 * Checks that templates produce distinct keys for every variant and format, that they depend on the
 * source key, and that the manifest cannot collide with an output. Returns a problem or undefined.
 */
export function findTemplateProblem(
  templates: KeyTemplates,
  variants: readonly string[],
  formats: readonly OutputFormat[],
): string | undefined {
  let outputTokens: Set<Token>;
  let manifestTokens: Set<Token>;
  try {
    outputTokens = templateTokens(templates.output);
  } catch (error) {
    return `output template ${JSON.stringify(templates.output)}: ${(error as Error).message}`;
  }
  try {
    manifestTokens = templateTokens(templates.manifest);
  } catch (error) {
    return `manifest template ${JSON.stringify(templates.manifest)}: ${(error as Error).message}`;
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
  const seen = new Map<string, string>();
  const sample = 'sample/dir/photo.jpg';
  seen.set(manifestKey(templates, sample), 'the manifest');
  for (const variant of variants) {
    for (const format of formats) {
      const key = outputKey(templates, sample, variant, format);
      const clash = seen.get(key);
      if (clash) return `variant ${variant} in ${format} and ${clash} would both be written to ${key}`;
      seen.set(key, `variant ${variant} in ${format}`);
    }
  }
  return undefined;
}
