import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * The web page (web/): index.html, style.css, and app.ts bundled by esbuild into app.js. The page
 * runs in a browser and imports nothing of src/, so it lives outside src/ and its layers;
 * `imgpipe dev` builds it in memory when it starts, and `npm run build:web` writes the same files
 * for the Terraform module to publish (terraform/modules/api).
 */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

export interface PageFile {
  readonly type: string;
  readonly body: Uint8Array | string;
}

/** The page's files by name (`index.html`, `app.js`, `style.css`), without config.json. */
export async function buildPage(): Promise<Map<string, PageFile>> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new Error(
      `The web page is bundled with esbuild, a development dependency that is not installed (npm ci installs it): ${(error as Error).message}`,
    );
  }
  const result = await esbuild.build({
    entryPoints: [`${WEB_DIR}app.ts`],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    logLevel: 'silent',
  });
  return new Map<string, PageFile>([
    [
      'index.html',
      { type: 'text/html; charset=utf-8', body: await readFile(`${WEB_DIR}index.html`, 'utf8') },
    ],
    ['style.css', { type: 'text/css; charset=utf-8', body: await readFile(`${WEB_DIR}style.css`, 'utf8') }],
    ['app.js', { type: 'text/javascript; charset=utf-8', body: result.outputFiles[0]!.contents }],
  ]);
}
