/**
 * Runs the pipeline on one image and writes every output to a folder, named <variant>.<format>,
 * plus outputs.json listing them. The arm64 parity test runs this under x86_64 Node and under the
 * arm64 Node (qemu) and compares the files byte for byte.
 *
 * Usage: node scripts/parity-run.ts <image> <outdir>
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WASM_FILES, WASM_SIMD } from '../src/codecs/wasm.ts';
import { parsePipelineConfig } from '../src/config/document.ts';
import { processImage } from '../src/pipeline/process-image.ts';

/** Every codec and resize path, small enough to run under emulation in seconds. */
export const PARITY_CONFIG = {
  variants: [
    { name: 'inside', width: 240 },
    { name: 'cover', width: 96, height: 96, fit: 'cover' },
    { name: 'contain', width: 120, height: 120, fit: 'contain', formats: ['png'] },
  ],
  formats: { jpeg: {}, webp: {}, avif: { speed: 8 }, png: {} },
};

const [input, outdir] = process.argv.slice(2);
if (!input || !outdir) {
  console.error('Usage: node scripts/parity-run.ts <image> <outdir>');
  process.exit(2);
}
const result = await processImage(await readFile(input), parsePipelineConfig(PARITY_CONFIG));
// The AVIF encoder that ran: the SIMD build wherever the engine has WebAssembly SIMD.
const avifEncoder = WASM_SIMD ? WASM_FILES.avifEnc : WASM_FILES.avifEncScalar;
await mkdir(outdir, { recursive: true });
const files: string[] = [];
for (const output of result.outputs) {
  const name = `${output.variant}.${output.format}`;
  await writeFile(join(outdir, name), output.bytes);
  files.push(name);
}
await writeFile(
  join(outdir, 'outputs.json'),
  `${JSON.stringify({ arch: process.arch, node: process.version, avifEncoder, files }, null, 2)}\n`,
);
console.log(`${process.arch} ${process.version}: ${files.length} outputs in ${outdir}`);
