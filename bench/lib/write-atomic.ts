import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `data` to `path` through a temporary file beside it, renamed into place: a reader (a
 * `terraform plan` of the tuning file, `--from` of sweep.json) sees the old file or the new one,
 * never part of one. A write that fails (the disk full, the process stopped) leaves the old file
 * as it was and removes the temporary one.
 */
export async function writeFileAtomically(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}
