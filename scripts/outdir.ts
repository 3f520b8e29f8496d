import { readdir, rm } from 'node:fs/promises';

/**
 * Empties a build's output folder, only if it is new, empty or an earlier build's (every entry one
 * `built` says the build writes): the folder is removed whole, so `--outdir .` or a folder of one's
 * own would be deleted with everything in it (in the repository: the sources and .git). `what`
 * names the build in the refusal.
 */
export async function emptyOutdir(
  out: string,
  built: (name: string) => boolean,
  what: string,
): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const foreign = entries.filter((name) => !built(name)).sort();
  if (foreign.length > 0)
    throw new Error(
      `--outdir ${out} holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ` and ${foreign.length - 3} more` : ''}, which no ${what} writes: a build empties its folder, so give a new, empty or earlier build's folder`,
    );
  await rm(out, { recursive: true, force: true });
}
