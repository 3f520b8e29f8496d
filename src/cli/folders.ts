import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';

/** Folder checks for --out and --dir, so a bad path fails at once with a reason in words. */

/**
 * Creates a folder and its missing parents one at a time. Not `mkdir(path, { recursive: true })`:
 * under Node 24 that spins forever at 100% CPU when a parent exists but refuses the child with
 * ENOENT (e.g. /proc/x), which is how `--out /proc/foo` hung for ten minutes.
 */
export async function makeFolder(path: string): Promise<void> {
  const missing: string[] = [];
  for (let current = resolve(path); !(await exists(current)); current = dirname(current)) {
    missing.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** The first part of `path` (as written) that exists and is a file, if any. */
export async function fileInPath(path: string): Promise<string | undefined> {
  const parts = path.split(/[\\/]+/);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join(sep) || sep;
    try {
      if ((await stat(prefix)).isFile()) return prefix;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A system error as a short reason: "no such file or directory (ENOENT)". */
export function systemReason(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const text = message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return code ? `${text} (${code})` : message;
}

/** Whether anything (file, folder, other) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
