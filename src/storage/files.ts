import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkOptions {
  /** Include files and folders whose name starts with a dot (a bucket's keys may). Default false. */
  readonly hidden?: boolean;
  /** A folder not to enter (e.g. the output folder inside an input folder). */
  readonly skip?: string;
}

/**
 * Every file under `folder`, recursively, as absolute paths in name order (folder by folder). The
 * one walker behind the CLI's inputs, the benchmark corpus and FsStorage's listing.
 */
export async function walkFiles(folder: string, options: WalkOptions = {}): Promise<string[]> {
  if (folder === options.skip) return [];
  const entries = await readdir(folder, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const files: string[] = [];
  for (const entry of entries) {
    if (!options.hidden && entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await walkFiles(path, options)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}
