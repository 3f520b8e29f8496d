import { FITS } from '../core/config.ts';
import { invalidSetting } from '../core/errors.ts';
import { OUTPUT_FORMAT_NAMES, type OutputFormat, resolveOutputFormat } from '../core/formats.ts';
import { isPlainObject } from '../core/json.ts';
import { checkOneOf } from './check.ts';
import { DEFAULT_PIPELINE_DOCUMENT, FORMAT_OPTION_RULES, MAX_DIMENSION } from './document.ts';

/**
 * Quick flags for a one-off job, after sharp-cli (`--width 800 --format webp,avif --quality 70`):
 * they build the parts of a pipeline document they name, over the document from a file or the
 * environment (flags win). Values arrive as the command line typed them; errors name the flag.
 */
export interface QuickFlags {
  /** One variant this wide (and/or high); replaces the document's variants. */
  readonly width?: number | string;
  readonly height?: number | string;
  /** How the variant fits the box (inside, cover, contain). */
  readonly fit?: string;
  /** Output formats, comma-separated; replaces the document's formats (keeping their options). */
  readonly formats?: string | readonly string[];
  /** Quality for every configured format that has one. */
  readonly quality?: number | string;
}

export function applyQuickFlags(document: unknown, flags: QuickFlags): unknown {
  if (!isPlainObject(document)) return document;
  const doc: Record<string, unknown> = { ...document };
  const width = dimension('--width', flags.width);
  const height = dimension('--height', flags.height);
  const fit = flags.fit === undefined ? undefined : checkOneOf('--fit', flags.fit, FITS);
  if (fit !== undefined && width === undefined && height === undefined) {
    throw invalidSetting('--fit', '--width and --height with it', fit);
  }
  // cover and contain fill or pad a box: the variant the flags make needs both of its sides.
  if (fit !== undefined && fit !== 'inside' && (width === undefined || height === undefined)) {
    throw invalidSetting('--fit', `inside unless both --width and --height are given`, fit);
  }

  const given = isPlainObject(doc.formats) ? doc.formats : DEFAULT_PIPELINE_DOCUMENT.formats;
  if (flags.formats !== undefined) {
    const text = typeof flags.formats === 'string' ? flags.formats : flags.formats.join(',');
    const names = text.split(',').map((name) => name.trim());
    const formats: Partial<Record<OutputFormat, unknown>> = {};
    for (const name of names) {
      const format = resolveOutputFormat(name);
      if (!format) throw invalidSetting('--format', `one or more of ${OUTPUT_FORMAT_NAMES.join(', ')}`, text);
      // Keep the encoder options the document gives this format, under any of its names.
      const options = Object.entries(given).find(([key]) => resolveOutputFormat(key) === format)?.[1];
      formats[format] = isPlainObject(options) ? options : {};
    }
    doc.formats = formats;
    // The flag says which formats every variant gets.
    if (Array.isArray(doc.variants)) {
      doc.variants = doc.variants.map((variant) => {
        if (!isPlainObject(variant)) return variant;
        const { formats: _subset, ...rest } = variant;
        return rest;
      });
    }
  }

  if (width !== undefined || height !== undefined) {
    const name =
      width !== undefined && height !== undefined ? `${width}x${height}` : width ? `w${width}` : `h${height}`;
    doc.variants = [
      {
        name,
        ...(width !== undefined ? { width } : {}),
        ...(height !== undefined ? { height } : {}),
        ...(fit !== undefined ? { fit } : {}),
      },
    ];
  }

  if (flags.quality !== undefined) {
    const formats = isPlainObject(doc.formats) ? doc.formats : given;
    const withQuality: Record<string, unknown> = {};
    let any = false;
    for (const [name, options] of Object.entries(formats)) {
      const rule = FORMAT_OPTION_RULES[resolveOutputFormat(name) ?? 'png']?.quality;
      if (rule?.type !== 'integer') {
        withQuality[name] = options;
        continue;
      }
      any = true;
      const quality = integer('--quality', flags.quality, rule.min, rule.max);
      withQuality[name] = { ...(isPlainObject(options) ? options : {}), quality };
    }
    if (!any)
      throw invalidSetting('--quality', 'a format that has a quality (jpeg, webp, avif)', flags.quality);
    doc.formats = withQuality;
  }
  return doc;
}

function dimension(flag: string, value: number | string | undefined): number | undefined {
  return value === undefined ? undefined : integer(flag, value, 1, MAX_DIMENSION);
}

/** A number as typed (`800`) or given (800), within a range; the error names the flag. */
function integer(flag: string, value: number | string, min: number, max: number): number {
  const parsed = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw invalidSetting(flag, `integer between ${min} and ${max}`, value);
  }
  return parsed;
}
