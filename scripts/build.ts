/**
 * Builds the Lambda artifact: exactly what the container image's runtime stage copies.
 *
 *   dist/index.mjs          the handlers (CMD "index.handler"), with every dependency bundled
 *   dist/encode-worker.mjs  the encoder thread, started by index.mjs when the function has >1 vCPU
 *   dist/wasm/*.wasm        the codecs (jSquash, libjpeg-turbo, libheif, Little CMS), read and compiled at
 *                           init; each a file of its own (libheif's LGPL asks that it can be replaced)
 *   dist/wasm/*.icc         the codecs' data: the default CMYK profile
 *   dist/THIRD-PARTY-NOTICES.md  every npm package in the bundle or the wasm/ folder, its version,
 *                           licence and licence text, and the libraries compiled into the .wasm files
 *
 * With --scanner, the malware scanner's artifact instead (scanner/Dockerfile): dist/scanner.mjs,
 * src/handlers/scanner-index.ts with every dependency bundled, and its notices; no codecs.
 *
 * Usage: node scripts/build.ts [--scanner] [--outdir dist]
 * Nothing in the output refers to node_modules: the image has none.
 */
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Metafile } from 'esbuild';
import {
  DATA_FILES,
  type DataName,
  dataPath,
  NOT_IN_IMAGE,
  WASM_FILES,
  type WasmName,
  wasmPath,
} from '../src/codecs/wasm.ts';
import { emptyOutdir } from './outdir.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface BuildReport {
  readonly outdir: string;
  readonly files: { path: string; bytes: number }[];
  readonly totalBytes: number;
  /** Module specifiers each bundle still imports at run time (from esbuild's metafile). */
  readonly externalImports: Record<string, string[]>;
  /** npm packages whose code is in the bundles or whose .wasm is in wasm/ (THIRD-PARTY-NOTICES.md). */
  readonly packages: string[];
}

export async function buildArtifact(outdir: string): Promise<BuildReport> {
  const out = resolve(outdir);
  await emptyOutdir(out, (name) => BUILD_OUTPUT.test(name), 'build');
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
    // libheif-js's emscripten glue (CommonJS) reads __dirname when it starts in Node, which an ES
    // module does not have; it is the bundle's folder.
    define: { __IMGPIPE_BUNDLED__: 'true', __dirname: 'import.meta.dirname' },
    // CommonJS dependencies inside an ES module bundle still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __imgpipeCreateRequire } from 'node:module'; const require = __imgpipeCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  await mkdir(join(out, 'wasm'));
  const packageDirs = new Set<string>();
  for (const [name, specifier] of Object.entries(WASM_FILES)) {
    if (NOT_IN_IMAGE.includes(name as WasmName)) continue;
    const wasm = wasmPath(name as WasmName);
    await copyFile(wasm, join(out, 'wasm', basename(specifier)));
    // Our own builds (src/codecs/*/) carry their notices in OWN_BUILDS; the rest are npm packages.
    if (!specifier.startsWith('./')) packageDirs.add(packageDirOf(wasm));
  }
  for (const [name, specifier] of Object.entries(DATA_FILES))
    await copyFile(dataPath(name as DataName), join(out, 'wasm', basename(specifier)));
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.includes(`node_modules${sep}`) || input.includes('node_modules/'))
      packageDirs.add(packageDirOf(resolve(root, input)));
  }
  const packages = await writeNotices(join(out, 'THIRD-PARTY-NOTICES.md'), [...packageDirs], OWN_BUILDS);
  await checkGlue(out);
  return describeOutput(out, result.metafile, packages);
}

/** What a build writes at the top of its folder (either artifact, with esbuild's licence files). */
const BUILD_OUTPUT = /^((index|encode-worker|scanner)\.mjs(\.LEGAL\.txt)?|wasm|THIRD-PARTY-NOTICES\.md)$/;

/**
 * emscripten's embind glue, as jSquash ships it, copies a codec's input (an image's pixels, a
 * file's bytes) into WebAssembly memory one byte at a time; scripts/patch-glue.mjs (npm's
 * postinstall, the Dockerfile) makes that one TypedArray.set. A bundle made from unpatched glue
 * works, about 7 ms slower per megapixel encoded, so it is refused here rather than shipped.
 */
export async function checkGlue(out: string): Promise<void> {
  for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.mjs')) continue;
    const text = await readFile(join(entry.parentPath, entry.name), 'utf8');
    // jSquash's form. Our AVIF encoder's glue (emscripten 3.1.6) has its own, `[ptr+4+i]`, unused:
    // its encode() takes a val and copies it with one set() (scripts/codecs/avif-simd/avif_enc.cpp).
    if (/HEAPU8\[ptr\+i\]\s*=\s*value\[i\]/.test(text))
      throw new Error(
        `${entry.name} copies codec inputs byte by byte (emscripten's unpatched std::string glue): run node scripts/patch-glue.mjs after npm ci`,
      );
  }
}

/** What a build wrote: its files and sizes, and what each bundle still imports at run time. */
async function describeOutput(out: string, metafile: Metafile, packages: string[]): Promise<BuildReport> {
  const files: { path: string; bytes: number }[] = [];
  for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.push({ path: path.slice(out.length + 1), bytes: (await stat(path)).size });
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  const externalImports: Record<string, string[]> = {};
  for (const [path, output] of Object.entries(metafile.outputs)) {
    if (!path.endsWith('.mjs')) continue;
    externalImports[basename(path)] = [
      ...new Set(output.imports.filter((i) => i.external).map((i) => i.path)),
    ].sort();
  }
  return {
    outdir: out,
    files,
    totalBytes: files.reduce((sum, f) => sum + f.bytes, 0),
    externalImports,
    packages,
  };
}

/** The innermost node_modules package a file belongs to. */
function packageDirOf(file: string): string {
  const parts = file.split(sep);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) throw new Error(`${file} is not inside node_modules`);
  const name = parts[at + 1]!.startsWith('@') ? 2 : 1;
  return parts.slice(0, at + 1 + name).join(sep);
}

/**
 * The libraries compiled into the .wasm files, which their npm packages' licences (those of the
 * JavaScript wrappers) do not name. Licences as their projects state them.
 */
const COMPILED_IN = [
  ['@jsquash/jpeg', 'MozJPEG', 'IJG AND BSD-3-Clause AND Zlib'],
  ['@jsquash/webp', 'libwebp', 'BSD-3-Clause'],
  [
    '@jsquash/avif',
    'libavif; libaom (with the Alliance for Open Media Patent License 1.0); libsharpyuv, from libwebp',
    'BSD-2-Clause; BSD-2-Clause; BSD-3-Clause',
  ],
  ['@jsquash/png', 'the Rust png crate', 'MIT OR Apache-2.0'],
  ['@jsquash/resize', 'the Rust resize crate', 'MIT'],
  [
    '@cwasm/jpeg-turbo',
    'libjpeg-turbo 2.0.4 (the JPEG decoder where WebAssembly SIMD is missing)',
    'IJG AND BSD-3-Clause AND Zlib',
  ],
  [
    'libheif-js',
    'libheif 1.23 and libde265 (wasm/libheif.wasm, a separate file: replace it with a build of modified sources of the same interface, as the LGPL allows; sources and build script: https://github.com/catdad-experiments/libheif-js)',
    'LGPL-3.0-or-later; LGPL-3.0-or-later',
  ],
  ['lcms-wasm', 'Little CMS 2', 'MIT'],
] as const;

/**
 * Codecs this repository builds itself: the .wasm, the libraries compiled into it with their
 * licences, and the folder of licence texts that ship with it.
 */
const OWN_BUILDS = [
  {
    file: 'cmyk-fogra39.icc',
    built:
      'scripts/codecs/cmyk-profile/build.sh, ArgyllCMS colprof from FOGRA39L.ti3 (provenance: src/codecs/colour/PROVENANCE.md)',
    libraries: [['FOGRA39L.ti3 from Debian icc-profiles-free 2.0.1 (Kai-Uwe Behrmann)', 'Zlib']],
    licences: join(root, 'src/codecs/colour'),
    lgpl: false,
  },
  {
    file: 'avif_enc_simd.wasm',
    built: 'scripts/codecs/avif-simd/build.sh (provenance: src/codecs/avif-simd/PROVENANCE.md)',
    libraries: [
      [
        'libaom 3.6.0 (Debian 3.6.0-1+deb12u2, with the 3.6.0-1+deb12u3 security patches)',
        'BSD-2-Clause, with the Alliance for Open Media Patent License 1.0',
      ],
      ['libheif 1.15.1 (Debian 1.15.1-1+deb12u1)', 'LGPL-3.0-or-later'],
      [
        'the emscripten 3.1.6 runtime: musl libc, LLVM libc++ and libc++abi, embind; its JavaScript glue and pthread worker script (wasm/avif_enc_simd.cjs, wasm/avif_enc_simd.worker.cjs)',
        'MIT; Apache-2.0 WITH LLVM-exception; MIT',
      ],
    ],
    licences: join(root, 'src/codecs/avif-simd/LICENSES'),
    lgpl: true,
  },
  {
    file: 'resample.wasm',
    built: 'scripts/codecs/resample/build.sh (provenance: src/codecs/resample/PROVENANCE.md)',
    libraries: [
      ["Pillow 9.4.0's src/libImaging/Resample.c (Debian 9.4.0-1.1+deb12u1)", 'HPND'],
      ['the emscripten 3.1.6 runtime: musl libc and its malloc', 'MIT'],
    ],
    licences: join(root, 'src/codecs/resample'),
    lgpl: false,
  },
  {
    file: 'turbojpeg.wasm',
    built: 'scripts/codecs/jpeg-turbo/build.sh (provenance: src/codecs/jpeg-turbo/PROVENANCE.md)',
    libraries: [
      ['libjpeg-turbo 2.1.5 (Debian 1:2.1.5-2), its TurboJPEG decompressor', 'IJG AND BSD-3-Clause AND Zlib'],
      ['the emscripten 3.1.6 runtime: musl libc and its malloc', 'MIT'],
    ],
    licences: join(root, 'src/codecs/jpeg-turbo'),
    lgpl: false,
  },
] as const;

async function writeNotices(
  path: string,
  dirs: readonly string[],
  own: readonly (typeof OWN_BUILDS)[number][],
  bundle = 'The imgpipe function bundle (index.mjs, encode-worker.mjs) and its codecs (wasm/) contain the\nfollowing packages, and codecs built by this repository (last).',
): Promise<string[]> {
  const entries: { name: string; text: string }[] = [];
  for (const dir of dirs) {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      license?: string;
    };
    const licenceFile = (await readdir(dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const compiled = COMPILED_IN.find(([pkg]) => pkg === manifest.name);
    const lines = [
      `## ${manifest.name}@${manifest.version}`,
      '',
      `Licence: ${manifest.license ?? 'not stated'}`,
    ];
    if (compiled) lines.push('', `Compiled into its .wasm: ${compiled[1]} (${compiled[2]}).`);
    lines.push(
      '',
      licenceFile
        ? ['```', (await readFile(join(dir, licenceFile), 'utf8')).trim(), '```'].join('\n')
        : '(The package ships no licence file; its package.json states the licence above.)',
    );
    entries.push({ name: manifest.name, text: lines.join('\n') });
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const unique = entries.filter((e, i) => entries.findIndex((o) => o.name === e.name) === i);
  const ownEntries: string[] = [];
  for (const build of own) {
    const texts: string[] = [];
    for (const file of (await readdir(build.licences))
      .filter((f) => /\.(txt|md)$/.test(f) && f !== 'PROVENANCE.md')
      .sort()) {
      texts.push(
        `### ${file}`,
        '',
        '```',
        (await readFile(join(build.licences, file), 'utf8')).trim(),
        '```',
        '',
      );
    }
    ownEntries.push(
      [
        `## wasm/${build.file}`,
        '',
        `Built by this repository: ${build.built}. Compiled into it:`,
        '',
        ...build.libraries.map(([library, licence]) => `- ${library}: ${licence}`),
        '',
        ...(build.lgpl
          ? [
              'libheif is under the LGPL: the build script rebuilds this module from the published sources,',
              'so it can be rebuilt against a modified libheif.',
              '',
            ]
          : []),
        ...texts,
      ]
        .join('\n')
        .trim(),
    );
  }
  const header = [
    '# Third-party notices',
    '',
    bundle,
    'Licence comments kept by the bundler are in the *.LEGAL.txt files.',
  ].join('\n');
  const body = [...unique.map((e) => e.text), ...ownEntries].join('\n\n');
  await writeFile(path, `${header}\n\n${body}\n`);
  return unique.map((e) => e.name);
}

/** The scanner image's artifact: scanner.mjs (scanner.handler, scanner.update) and its notices. */
export async function buildScanner(outdir: string): Promise<BuildReport> {
  const out = resolve(outdir);
  await emptyOutdir(out, (name) => BUILD_OUTPUT.test(name), 'build');
  const result = await build({
    metafile: true,
    entryPoints: { scanner: join(root, 'src/handlers/scanner-index.ts') },
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minifySyntax: true,
    minifyWhitespace: true,
    keepNames: true,
    legalComments: 'linked',
    define: { __IMGPIPE_BUNDLED__: 'true' },
    banner: {
      js: "import { createRequire as __imgpipeCreateRequire } from 'node:module'; const require = __imgpipeCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  const packageDirs = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.includes(`node_modules${sep}`) || input.includes('node_modules/'))
      packageDirs.add(packageDirOf(resolve(root, input)));
  }
  const packages = await writeNotices(
    join(out, 'THIRD-PARTY-NOTICES.md'),
    [...packageDirs],
    [],
    'The imgpipe malware scanner bundle (scanner.mjs) contains the following packages.',
  );
  return describeOutput(out, result.metafile, packages);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      outdir: { type: 'string', default: join(root, 'dist') },
      scanner: { type: 'boolean', default: false },
    },
  });
  const report = values.scanner ? await buildScanner(values.outdir) : await buildArtifact(values.outdir);
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  for (const file of report.files) console.log(`${file.path.padEnd(40)} ${mib(file.bytes).padStart(10)}`);
  console.log(`${'total'.padEnd(40)} ${mib(report.totalBytes).padStart(10)}  (${report.outdir})`);
}
