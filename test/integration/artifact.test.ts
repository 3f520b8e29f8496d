import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildReport, buildArtifact } from '../../scripts/build.ts';
import { DATA_FILES, NOT_IN_IMAGE, WASM_FILES, type WasmName } from '../../src/codecs/wasm.ts';
import { IMAGE_ENV } from '../../src/core/runtime.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { buildStage } from '../support/docker-stage.ts';

/** The build artifact (what the image's runtime stage copies) and the Dockerfile that copies it. */
describe('build artifact', () => {
  let report: BuildReport;
  beforeAll(async () => {
    report = await buildArtifact(mkdtempSync(join(tmpdir(), 'imgpipe-dist-')));
  });
  afterAll(() => rmSync(report.outdir, { recursive: true, force: true }));

  it('holds the handler bundle, the encoder worker and exactly the codecs’ .wasm and data files', () => {
    const wasm = [
      ...Object.entries(WASM_FILES)
        .filter(([name]) => !NOT_IN_IMAGE.includes(name as WasmName))
        .map(([, path]) => `wasm/${basename(path)}`),
      ...Object.values(DATA_FILES).map((path) => `wasm/${basename(path)}`),
    ];
    // libheif (LGPL) is its own file, which the LGPL lets a user replace; the scalar AVIF encoder
    // and JPEG decoder, for engines without WebAssembly SIMD, are not: the image's Node 24 has SIMD.
    expect(wasm).toContain('wasm/libheif.wasm');
    expect(wasm).toContain('wasm/turbojpeg.wasm');
    expect(wasm).not.toContain('wasm/avif_enc.wasm');
    expect(wasm).not.toContain('wasm/jpeg-turbo.wasm');
    expect(report.files.map((f) => f.path)).toEqual(
      ['THIRD-PARTY-NOTICES.md', 'encode-worker.mjs', 'index.mjs', 'index.mjs.LEGAL.txt', ...wasm].sort(
        (a, b) => a.localeCompare(b),
      ),
    );
  });

  it('names every package it ships, with its licence, and what the .wasm files contain', () => {
    const notices = readFileSync(join(report.outdir, 'THIRD-PARTY-NOTICES.md'), 'utf8');
    // The codec packages, the SDK and Powertools at least; each with a version and a licence line.
    for (const name of [
      '@jsquash/avif',
      '@jsquash/jpeg',
      '@aws-sdk/client-s3',
      '@aws-lambda-powertools/logger',
    ])
      expect(report.packages).toContain(name);
    for (const name of report.packages)
      expect(notices).toMatch(
        new RegExp(`^## ${name.replace('/', '\\/')}@\\d[^\\n]*\\n\\nLicence: \\S`, 'm'),
      );
    expect(notices).toContain('Compiled into its .wasm: MozJPEG');
    // The AVIF encoder this repository builds: what is in it, under which licences, with the texts.
    const own = notices.slice(notices.indexOf('## wasm/avif_enc_simd.wasm'));
    expect(own).toMatch(/^## wasm\/avif_enc_simd\.wasm\n/);
    expect(own).toContain('- libaom 3.6.0');
    expect(own).toContain('- libheif 1.15.1 (Debian 1.15.1-1+deb12u1): LGPL-3.0-or-later');
    expect(own).toContain('Alliance for Open Media Patent License 1.0');
    expect(own).toContain('GNU LESSER GENERAL PUBLIC LICENSE');
    // The HEIC decoder and the colour engine: what is compiled in, libheif's LGPL, the CMYK profile's data.
    expect(report.packages).toEqual(expect.arrayContaining(['libheif-js', 'lcms-wasm']));
    expect(notices).toMatch(/^## libheif-js@[\d.]+\n\nLicence: LGPL-3\.0/m);
    expect(notices).toContain(
      'Compiled into its .wasm: libheif 1.23 and libde265 (wasm/libheif.wasm, a separate file',
    );
    expect(notices).toContain('Compiled into its .wasm: Little CMS 2 (MIT).');
    expect(notices).toContain('## wasm/cmyk-fogra39.icc');
    expect(notices).toContain('FOGRA39L.ti3 from Debian icc-profiles-free 2.0.1 (Kai-Uwe Behrmann): Zlib');
    // The resampler this repository builds: Pillow's Resample.c, with Pillow's licence text.
    const resample = notices.slice(notices.indexOf('## wasm/resample.wasm'));
    expect(resample).toMatch(/^## wasm\/resample\.wasm\n/);
    expect(resample).toContain("- Pillow 9.4.0's src/libImaging/Resample.c (Debian 9.4.0-1.1+deb12u1): HPND");
    expect(resample).toContain('Like PIL, Pillow is licensed under the open source HPND License');
    // The JPEG decoder this repository builds: libjpeg-turbo, with its three licences' texts.
    const turbo = notices.slice(notices.indexOf('## wasm/turbojpeg.wasm'));
    expect(turbo).toMatch(/^## wasm\/turbojpeg\.wasm\n/);
    expect(turbo).toContain(
      '- libjpeg-turbo 2.1.5 (Debian 1:2.1.5-2), its TurboJPEG decompressor: IJG AND BSD-3-Clause AND Zlib',
    );
    expect(turbo).toContain("The Independent JPEG Group's JPEG software");
    expect(turbo).toContain('The Modified (3-clause) BSD License');
  });

  it('empties only a new, empty or earlier build folder, since it removes the folder whole', async () => {
    // `--outdir .` removed the repository, sources and .git, before it wrote the bundle there.
    const own = mkdtempSync(join(tmpdir(), 'imgpipe-not-dist-'));
    try {
      writeFileSync(join(own, 'notes.txt'), 'mine');
      await expect(buildArtifact(own)).rejects.toThrow(
        `--outdir ${own} holds notes.txt, which no build writes: a build empties its folder, so give a new, empty or earlier build's folder`,
      );
      expect(readFileSync(join(own, 'notes.txt'), 'utf8')).toBe('mine');
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
    // An earlier build's folder is rebuilt.
    const again = await buildArtifact(report.outdir);
    expect(again.files.map((f) => f.path)).toEqual(report.files.map((f) => f.path));
  });

  it('stays under 15 MB', () => {
    const mib = report.totalBytes / 1024 / 1024;
    console.log(
      `[artifact] ${mib.toFixed(2)} MiB: ${report.files.map((f) => `${f.path} ${(f.bytes / 1024).toFixed(0)} KiB`).join(', ')}`,
    );
    expect(report.totalBytes).toBeLessThan(15 * 1000 * 1000);
  });

  it('is the size the READMEs give it', () => {
    // Each names the whole artifact, as `npm run build` prints its total.
    const stated = [
      ['README.md', /The container image is an esbuild bundle[^;]*? ([\d.]+) MiB/],
      ['terraform/README.md', /prints its size\s+\(about ([\d.]+) MiB/],
    ] as const;
    const mib = report.totalBytes / 1024 / 1024;
    for (const [file, pattern] of stated) {
      const figure = pattern.exec(readFileSync(join(REPO_ROOT, file), 'utf8'))?.[1];
      expect(figure, `${file}: no size matching ${pattern}`).toBeDefined();
      expect(
        Math.abs(Number(figure) - mib),
        `${file} says ${figure} MiB; the build is ${mib.toFixed(2)} MiB`,
      ).toBeLessThan(0.5);
    }
  });

  it('copies codec inputs into WebAssembly memory with TypedArray.set, not byte by byte', () => {
    // scripts/patch-glue.mjs ran (npm's postinstall) over jSquash's encoders and decoders in the
    // bundle; buildArtifact refuses the unpatched loop. (Our AVIF encoder takes a val, not a
    // std::string, and copies it with one set() itself: scripts/codecs/avif-simd/avif_enc.cpp.)
    for (const file of ['index.mjs', 'encode-worker.mjs']) {
      const bundle = readFileSync(join(report.outdir, file), 'utf8');
      expect(bundle.match(/HEAPU8\.set\(value,ptr\)/g)?.length, file).toBeGreaterThanOrEqual(4);
      expect(/HEAPU8\[ptr\+i\]\s*=\s*value\[i\]/.test(bundle), file).toBe(false);
    }
  });

  it('imports nothing but Node built-ins: no node_modules in the image', () => {
    const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
    expect(Object.keys(report.externalImports).sort()).toEqual(['encode-worker.mjs', 'index.mjs']);
    for (const [file, imports] of Object.entries(report.externalImports)) {
      // The AWS SDK probes for its optional SigV4a signers with require() inside try/catch; S3 in
      // one region never needs them, and esbuild leaves such guarded requires unresolved.
      const external = imports.filter((s) => !builtins.has(s) && !s.startsWith('@aws-sdk/signature-v4'));
      expect(external, file).toEqual([]);
      expect(imports.length, file).toBeGreaterThan(0);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

  it('passes the Dockerfile linter, which does catch mistakes', () => {
    expect(validate(dockerfile)).toEqual([]);
    expect(validate('FROM\nCMD ["index.handler"\nEXPOSE port\n').length).toBeGreaterThan(0);
  });

  it('builds on the Lambda Node 24 base, copies only the artifact and runs the S3 handler', () => {
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=public\.ecr\.aws\/lambda\/nodejs:24$/m);
    expect(dockerfile).toMatch(/^FROM --platform=\$BUILDPLATFORM \$\{BUILD_IMAGE\} AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --ignore-scripts .*&& node scripts\/patch-glue\.mjs$/m);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable, not a template
    expect(runtime.match(/^COPY .*$/gm)).toEqual(['COPY --from=build /dist/ ${LAMBDA_TASK_ROOT}/']);
    expect(runtime).toMatch(/^CMD \["index\.handler"\]$/m);
  });

  it('sets the process environment src/core/runtime.ts describes, and only that', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const set = Object.fromEntries(
      (runtime.match(/^ENV .*$/gm) ?? []).map((line) => line.slice(4).split('=') as [string, string]),
    );
    expect(set).toEqual(IMAGE_ENV);
  });

  it('keeps tests, fixtures, benchmarks and git out of the build context', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore.filter((l) => l.startsWith('!'))).toEqual([
      '!package.json',
      '!package-lock.json',
      '!tsconfig.json',
      '!tsconfig.build.json',
      '!scripts/build.ts',
      '!scripts/outdir.ts',
      '!scripts/patch-glue.mjs',
      '!src/',
    ]);
  });

  it('type-checks and builds the artifact from what its build stage copies out of the build context alone', () => {
    expect(buildStage('Dockerfile', '.dockerignore', [])).toContain('index.mjs');
  }, 120_000);
});
