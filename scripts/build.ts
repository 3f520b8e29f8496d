/**
 * Builds the Lambda artifact: exactly what the container image's runtime stage copies.
 *
 *   dist/index.mjs          the handlers (CMD "index.handler"), with every dependency bundled
 *   dist/encode-worker.mjs  the encoder thread, started by index.mjs when the function has >1 vCPU
 *   dist/wasm/*.wasm        the jSquash codecs, read and compiled at init
 *
 * Usage: node scripts/build.ts [--outdir dist]
 * Nothing in the output refers to node_modules: the image has none.
 */
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { WASM_FILES } from '../src/codecs/wasm.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface BuildReport {
  readonly outdir: string;
  readonly files: { path: string; bytes: number }[];
  readonly totalBytes: number;
  /** Module specifiers each bundle still imports at run time (from esbuild's metafile). */
  readonly externalImports: Record<string, string[]>;
}

export async function buildArtifact(outdir: string): Promise<BuildReport> {
  const out = resolve(outdir);
  await rm(out, { recursive: true, force: true });
  const result = await build({
    metafile: true,
    entryPoints: {
      index: join(root, 'src/handlers/index.ts'),
      'encode-worker': join(root, 'src/pipeline/encode-worker.ts'),
    },
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    splitting: false,
    minifySyntax: true,
    minifyWhitespace: true,
    keepNames: true,
    legalComments: 'linked',
    sourcemap: false,
    define: { __IMGPIPE_BUNDLED__: 'true' },
    // CommonJS dependencies inside an ES module bundle still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __imgpipeCreateRequire } from 'node:module'; const require = __imgpipeCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  await mkdir(join(out, 'wasm'));
  for (const specifier of Object.values(WASM_FILES)) {
    await copyFile(fileURLToPath(import.meta.resolve(specifier)), join(out, 'wasm', basename(specifier)));
  }
  const files: { path: string; bytes: number }[] = [];
  for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.push({ path: path.slice(out.length + 1), bytes: (await stat(path)).size });
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  const externalImports: Record<string, string[]> = {};
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    if (!path.endsWith('.mjs')) continue;
    externalImports[basename(path)] = [
      ...new Set(output.imports.filter((i) => i.external).map((i) => i.path)),
    ].sort();
  }
  return { outdir: out, files, totalBytes: files.reduce((sum, f) => sum + f.bytes, 0), externalImports };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: join(root, 'dist') } } });
  const report = await buildArtifact(values.outdir);
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  for (const file of report.files) console.log(`${file.path.padEnd(40)} ${mib(file.bytes).padStart(10)}`);
  console.log(`${'total'.padEnd(40)} ${mib(report.totalBytes).padStart(10)}  (${report.outdir})`);
}
