import { FORMAT_META } from '../codecs/formats.ts';
import type { Destinations } from '../config/index.ts';
import type { PipelineConfig } from '../config/pipeline.ts';

/**
 * Recursion guard: decides whether an object is one of our own outputs, manifests or quarantine
 * copies, which must never be processed again, even if the deployment sends us their events (for
 * example when sources and outputs share a bucket). Decided by bucket and key only, before any I/O.
 *
 * With an output prefix, everything under it is ours. Without one, a key is ours when it matches
 * the output or manifest key template, so genuine uploads to a shared bucket are still processed.
 */
export function createOwnObjectGuard(
  destinations: Destinations,
  pipeline: PipelineConfig,
): (bucket: string, key: string) => string | undefined {
  const { prefix } = pipeline.keys;
  const patterns = [
    templatePattern(prefix, pipeline.keys.output, pipeline),
    templatePattern(prefix, pipeline.keys.manifest, pipeline),
  ];
  return (bucket, key) => {
    if (bucket === destinations.quarantineBucket && key.startsWith(destinations.quarantinePrefix)) {
      return destinations.quarantinePrefix === ''
        ? `bucket ${bucket} is the quarantine bucket`
        : `key is under the quarantine prefix ${destinations.quarantinePrefix}`;
    }
    if (bucket !== destinations.outputBucket) return undefined;
    if (prefix !== '') return key.startsWith(prefix) ? `key is under the output prefix ${prefix}` : undefined;
    return patterns.some((pattern) => pattern.test(key)) ? 'key matches the output key templates' : undefined;
  };
}

function templatePattern(prefix: string, template: string, pipeline: PipelineConfig): RegExp {
  const alternatives = (values: readonly string[]) => `(?:${[...new Set(values)].map(escape).join('|')})`;
  const formats = pipeline.formats;
  const tokens: Record<string, string> = {
    key: '.+',
    dir: '(?:.+/)?',
    name: '[^/]*',
    srcext: '[^/]*',
    variant: alternatives(pipeline.variants.map((v) => v.name)),
    format: alternatives(formats),
    ext: alternatives(formats.map((f) => FORMAT_META[f].extension)),
  };
  const body = template
    .split(/(\{[a-z]+\})/)
    .map((part) =>
      /^\{[a-z]+\}$/.test(part) ? (tokens[part.slice(1, -1)] ?? escapeRegExp(part)) : escapeRegExp(part),
    )
    .join('');
  return new RegExp(`^${escapeRegExp(prefix)}${body}$`, 's');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
