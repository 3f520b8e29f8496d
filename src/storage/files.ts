import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkOptions {
  /** Include files and folders whose name starts with a dot (a bucket's keys may). Default false. */
  readonly hidden?: boolean;
  /** A folder not to enter (e.g. the output folder inside an input folder). */
  readonly skip?: string;
}

/** A file found by a walk, or something in its place that cannot be read, and why. */
export interface WalkEntry {
  readonly path: string;
  /** E.g. "a symbolic link to ../x.jpg, which does not exist". */
  readonly problem?: string;
  /** The problem is a folder that cannot be read (not one file). */
  readonly folder?: true;
}

/**
 * Every file under `folder`, recursively, as absolute paths in name order (folder by folder). The
 * one walker behind the CLI's inputs, the benchmark corpus and FsStorage's listing. A symbolic
 * link to nothing and what is not a regular file (a named pipe, a device, a socket) are left out,
 * as a bucket has no object there; a folder that cannot be read throws.
 */
export async function walkFiles(folder: string, options: WalkOptions = {}): Promise<string[]> {
  const entries = await walk(folder, options, await realOf(options.skip), []);
  return entries.filter((e) => e.problem === undefined).map((e) => e.path);
}

/**
 * As walkFiles, with what cannot be read in its place (a folder that cannot be read included, the
 * rest still walked; a named pipe, a device or a socket, which is never opened: a pipe would block). Symbolic links are followed, to files and
 * to folders, as reading a file by its path does; a link to a folder that holds it (a cycle, told
 * by real path) is not entered again, as its files are listed already.
 */
export async function walkEntries(folder: string, options: WalkOptions = {}): Promise<WalkEntry[]> {
  return walk(folder, { ...options, report: true }, await realOf(options.skip), []);
}

async function realOf(path: string | undefined): Promise<string | undefined> {
  return path === undefined ? undefined : realpath(path).catch(() => undefined);
}

async function walk(
  folder: string,
  options: WalkOptions & { readonly report?: boolean },
  skipReal: string | undefined,
  ancestors: readonly string[],
): Promise<WalkEntry[]> {
  if (folder === options.skip) return [];
  let real: string;
  let entries: Dirent[];
  try {
    real = await realpath(folder);
    if (real === skipReal || ancestors.includes(real)) return [];
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    // walkEntries: a folder that cannot be read (EACCES) is one entry, the rest is still walked.
    if (!options.report) throw error;
    return [
      { path: folder, problem: `a folder that cannot be read: ${(error as Error).message}`, folder: true },
    ];
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const found: WalkEntry[] = [];
  for (const entry of entries) {
    if (!options.hidden && entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (mayBeNotUtf8(entry.name) && !(await lstat(path).catch(() => undefined))) {
      // Read as UTF-8, its name lost the bytes that are not: nothing is at the path it was given.
      found.push({ path, problem: NOT_UTF8, ...(entry.isDirectory() ? { folder: true as const } : {}) });
      continue;
    }
    const kind = await kindOf(entry, path);
    if (kind === 'folder') found.push(...(await walk(path, options, skipReal, [...ancestors, real])));
    else if (kind === 'file') found.push({ path });
    else if (kind !== undefined) found.push({ path, problem: kind.problem });
  }
  return found;
}

async function kindOf(
  entry: Dirent,
  path: string,
): Promise<'file' | 'folder' | { problem: string } | undefined> {
  if (entry.isDirectory()) return 'folder';
  if (entry.isFile()) return 'file';
  if (!entry.isSymbolicLink()) return { problem: `not a regular file: ${specialKind(entry)}` };
  let target: Stats;
  try {
    // stat, not open: opening a named pipe blocks until something writes to it.
    target = await stat(path);
  } catch (error) {
    return { problem: await brokenLinkProblem(path, error) };
  }
  if (target.isDirectory()) return 'folder';
  if (target.isFile()) return 'file';
  const to = await readlink(path).catch(() => '?');
  return { problem: `a symbolic link to ${to}, which is ${specialKind(target)}, not a regular file` };
}

/**
 * Why the symbolic link at `path` cannot be followed, given the error `stat` gave for it: "a symbolic
 * link to ../x.jpg, which does not exist" (or "which leads back to itself" for a cycle).
 */
export async function brokenLinkProblem(path: string, error: unknown): Promise<string> {
  const code = (error as NodeJS.ErrnoException).code;
  const to = await readlink(path).catch(() => '?');
  const why =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'which does not exist'
      : code === 'ELOOP'
        ? 'which leads back to itself'
        : `which cannot be read: ${(error as Error).message}`;
  return `a symbolic link to ${to}, ${why}`;
}

/**
 * A file or folder whose name is not valid UTF-8 (Latin-1 from an old archive, say): Node reads names as UTF-8,
 * with U+FFFD for the bytes that are not, and nothing is at the name it gives. No S3 key names it either.
 */
export const NOT_UTF8 =
  'named with bytes that are not valid UTF-8 (shown as \uFFFD), which cannot be opened by that name nor be a key: rename it';

/** Whether `path`, as Node gave it, may stand for a name that is not valid UTF-8. */
export function mayBeNotUtf8(path: string): boolean {
  return path.includes('\uFFFD');
}

/** What a file that is neither a regular file nor a folder is, in words. */
export function specialKind(info: Stats | Dirent): string {
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'a special file';
}
