import { closeSync, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { invalidSetting } from '../../src/core/errors.ts';
import { isInputFormat } from '../../src/core/formats.ts';
import { sniffFormat } from '../../src/image/sniff.ts';
import { walkFiles } from '../../src/storage/files.ts';

/** Image files under the given folders (recursively, dot-files skipped) and files, by content. */
export async function collectCorpus(entries: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const entry of entries) {
    const path = resolve(entry);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      throw invalidSetting('--corpus', 'an existing folder or image file', entry);
    }
    const found = info.isDirectory() ? await walkFiles(path) : [path];
    const images = found.filter(isImageFile);
    if (images.length === 0)
      throw invalidSetting(
        '--corpus',
        'a folder or file with JPEG, PNG, WebP, AVIF, HEIC or GIF images',
        entry,
      );
    files.push(...images);
  }
  return [...new Set(files)];
}

function isImageFile(path: string): boolean {
  const head = Buffer.alloc(64);
  const fd = openSync(path, 'r');
  try {
    const read = readSync(fd, head, 0, head.length, 0);
    return isInputFormat(sniffFormat(head.subarray(0, read)));
  } finally {
    closeSync(fd);
  }
}
