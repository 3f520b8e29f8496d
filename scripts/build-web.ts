/**
 * Writes the web page, as `imgpipe dev` serves it, for the Terraform module to publish
 * (terraform/modules/api, variable web_dir): index.html, style.css and app.js (web/app.ts bundled
 * by esbuild). config.json is not written: the module writes it with the API's URL and sign-in.
 *
 * Usage: node scripts/build-web.ts [--outdir dist-web]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPage } from '../src/cli/web-page.ts';
import { emptyOutdir } from './outdir.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Writes the page's files to `outdir` (emptied first) and returns their names. The folder is
 * removed whole, so it must be new, empty or an earlier build's (only the page's files): `--outdir .`
 * would delete the repository, and a folder of one's own everything in it.
 */
export async function buildWeb(outdir: string): Promise<string[]> {
  const files = await buildPage();
  await emptyOutdir(resolve(outdir), (name) => files.has(name), 'build of the page');
  await mkdir(outdir, { recursive: true });
  for (const [name, file] of files) await writeFile(join(outdir, name), file.body);
  return [...files.keys()];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist-web' } } });
  const outdir = resolve(root, values.outdir);
  const names = await buildWeb(outdir);
  console.log(`Wrote ${names.join(', ')} to ${outdir}`);
}
