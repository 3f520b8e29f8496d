/**
 * How FsStorage maps S3 keys to paths in a folder, reversibly.
 *
 * S3 keys are up to 1024 bytes of UTF-8 with any characters; a folder holds names of at most
 * NAME_MAX (255) bytes per path segment, none of them empty, `.` or `..`, and no NUL. Each
 * `/`-separated segment of a key is stored under its own name when the folder can hold it (so plain
 * keys are plain paths, and the output folder can be browsed) and encoded otherwise:
 *
 *   plain segment                      stored as itself          photos, a b+ü.jpg, 100%
 *   '' / '.' / '..' / with NUL         '%' + escaped segment     %  %.  %..  nul%00byte
 *   longer than 255 bytes (escaped)    split over folders        %+<first part>/%+<next>/%<last>
 *
 * Escaping writes `%`, NUL, `+` and `~` as `%XX` (uppercase hex), so an encoded name never starts
 * with `%+` (a part continued in the next folder) or `%~` (a temporary file, never listed). A
 * segment that would read as an encoding (starts with `%+` or `%~`, or equals the encoding of
 * another segment, such as `%.`) is itself encoded; any other name starting with `%` (`%41.jpg`) is
 * plain. So every key has one path and every path (but a temporary file) one key.
 */

/** Longest file name, in bytes, on Linux and macOS file systems (NAME_MAX). */
export const NAME_MAX = 255;
/** Longest S3 key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

const ENCODED = '%';
const CONTINUED = '%+';
const TEMPORARY = '%~';

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Why S3 would refuse a key (empty, too long, not UTF-8), or undefined when it would not. */
export function invalidKeyReason(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (!key.isWellFormed()) return 'it is not valid Unicode (S3 keys are UTF-8)';
  const length = bytes(key);
  if (length > MAX_KEY_BYTES)
    return `it is ${length} bytes of UTF-8, more than the ${MAX_KEY_BYTES} S3 allows`;
  return undefined;
}

/**
 * Whether the key, read as a path, climbs above the folder with `..` (`../x`, `a/../../x`). Such
 * keys are refused although they could be encoded, so that no tool that joins keys to paths is
 * led out of the folder by one of ours.
 */
export function leavesFolder(key: string): boolean {
  let depth = 0;
  for (const segment of key.split('/')) {
    if (segment === '..') depth--;
    else if (segment !== '.') depth++;
    if (depth < 0) return true;
  }
  return false;
}

/** The path segments (names) a key is stored under, in order. */
export function keyToNames(key: string): string[] {
  return key.split('/').flatMap(segmentToNames);
}

/**
 * The key stored under these names, or undefined when they are not a key's: a temporary file, or
 * a continued segment whose last part is missing.
 */
export function namesToKey(names: readonly string[]): string | undefined {
  const segments: string[] = [];
  let continued: string | undefined;
  for (const name of names) {
    if (name.startsWith(TEMPORARY)) return undefined;
    if (continued !== undefined) {
      // Inside a continued segment every name is a part of it: `%+` if more follow, `%` for the last.
      const last = !name.startsWith(CONTINUED);
      if (last && !name.startsWith(ENCODED)) return undefined;
      const part = unescapeName(name.slice(last ? ENCODED.length : CONTINUED.length));
      if (part === undefined) return undefined;
      continued += part;
      if (last) {
        segments.push(continued);
        continued = undefined;
      }
    } else if (name.startsWith(CONTINUED)) {
      continued = unescapeName(name.slice(CONTINUED.length));
      if (continued === undefined) return undefined;
    } else {
      segments.push(decodeName(name));
    }
  }
  return continued === undefined ? segments.join('/') : undefined;
}

/** A name for a temporary file beside the final one: short, and never taken for a key. */
export function temporaryName(random: string): string {
  return `${TEMPORARY}${random}`;
}

export function isTemporaryName(name: string): boolean {
  return name.startsWith(TEMPORARY);
}

function segmentToNames(segment: string): string[] {
  if (!needsEncoding(segment)) return [segment];
  const escaped = escapeName(segment);
  if (bytes(ENCODED) + bytes(escaped) <= NAME_MAX) return [ENCODED + escaped];
  // Split between characters, never inside a %XX escape or a UTF-8 sequence.
  const units = escaped.match(/%[0-9A-F]{2}|[\s\S]/gu) ?? [];
  const names: string[] = [];
  let part = '';
  let partBytes = 0;
  for (const unit of units) {
    const size = bytes(unit);
    if (bytes(CONTINUED) + partBytes + size > NAME_MAX) {
      names.push(CONTINUED + part);
      part = '';
      partBytes = 0;
    }
    part += unit;
    partBytes += size;
  }
  names.push(ENCODED + part);
  return names;
}

function decodeName(name: string): string {
  return isEncoding(name) ? unescapeName(name.slice(ENCODED.length))! : name;
}

function needsEncoding(segment: string): boolean {
  return (
    segment === '' ||
    segment === '.' ||
    segment === '..' ||
    segment.includes('\0') ||
    bytes(segment) > NAME_MAX ||
    segment.startsWith(CONTINUED) ||
    segment.startsWith(TEMPORARY) ||
    isEncoding(segment)
  );
}

/** Whether a name is exactly what segmentToNames writes for some other segment. */
function isEncoding(name: string): boolean {
  if (!name.startsWith(ENCODED)) return false;
  const escaped = name.slice(ENCODED.length);
  const segment = unescapeName(escaped);
  return segment !== undefined && escapeName(segment) === escaped && needsEncoding(segment);
}

function escapeName(segment: string): string {
  return segment.replace(
    /[%\0+~]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** The inverse of escapeName, or undefined for text escapeName cannot have written. */
function unescapeName(escaped: string): string | undefined {
  let malformed = false;
  const text = escaped.replace(/%([0-9A-F]{2})?/g, (_, hex: string | undefined) => {
    const code = hex === undefined ? -1 : Number.parseInt(hex, 16);
    if (![0x25, 0x00, 0x2b, 0x7e].includes(code)) malformed = true;
    return String.fromCharCode(code);
  });
  return malformed ? undefined : text;
}
