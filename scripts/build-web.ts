/**
 * Writes the web page, as `imgpipe dev` serves it, for the Terraform module to publish
 * (terraform/modules/api, variable web_dir): index.html, style.css and app.js (web/app.ts bundled
 * by esbuild). config.json is not written: the module writes it with the API's URL and sign-in.
 *
 * Usage: node scripts/build-web.ts [--outdir dist-web]
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPage } from '../src/cli/web-page.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Writes the page's files to `outdir` (emptied first) and returns their names. The folder is
 * removed whole, so it must be new, empty or an earlier build's (only the page's files): `--outdir .`
 * would delete the repository, and a folder of one's own everything in it.
 */
export async function buildWeb(outdir: string): Promise<string[]> {
  const files = await buildPage();
  await emptyOutdir(resolve(outdir), new Set(files.keys()));
  await mkdir(outdir, { recursive: true });
  for (const [name, file] of files) await writeFile(join(outdir, name), file.body);
  return [...files.keys()];
}

async function emptyOutdir(out: string, page: ReadonlySet<string>): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const foreign = entries.filter((name) => !page.has(name)).sort();
  if (foreign.length > 0)
    throw new Error(
      `--outdir ${out} holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ` and ${foreign.length - 3} more` : ''}, which no build of the page writes: a build empties its folder, so give a new, empty or earlier build's folder`,
    );
  await rm(out, { recursive: true, force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist-web' } } });
  const outdir = resolve(root, values.outdir);
  const names = await buildWeb(outdir);
  console.log(`Wrote ${names.join(', ')} to ${outdir}`);
}
