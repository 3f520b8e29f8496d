#!/usr/bin/env node
// Makes emscripten's embind glue copy a typed array into a std::string argument with one
// TypedArray.set instead of a JavaScript loop over its bytes. The codecs take their pixels (the
// encoders) or the file (the decoders) as a std::string, and embind before emscripten 3.1.27 or so
// copies it with `for (i < length) HEAPU8[ptr + i] = value[i]`: 12 ms for a 1600x900 image here,
// against 1.5 ms for `HEAPU8.set(value, ptr)`, which writes the same bytes (a typed array's elements
// are stored into a Uint8Array with the same ToUint8 conversion either way). Our AVIF encoder
// (scripts/codecs/avif-simd) takes a val and copies it with one set() itself.
//
//   node scripts/patch-glue.mjs            jSquash's codec glue in node_modules (npm's postinstall)
//   node scripts/patch-glue.mjs FILE...    those files
//
// Idempotent; fails if a file named on the command line has no copy loop and was not patched before.
// scripts/build.ts refuses a bundle that still holds the loop.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The loop as emscripten writes it: HEAPU8, or GROWABLE_HEAP_U8() in a threaded build; ptr or ptr+4. */
const COPY_LOOP =
  /for\(var i=0;i<length;\+\+i\)\{(HEAPU8|GROWABLE_HEAP_U8\(\))\[(ptr(?:\+4)?)\+i\]=value\[i\]\}/g;
const PATCHED = /(HEAPU8|GROWABLE_HEAP_U8\(\))\.set\(value,ptr(\+4)?\)/;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const named = process.argv.slice(2);
const files = named.length > 0 ? named : jsquashGlue(join(root, 'node_modules', '@jsquash'));
let patched = 0;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const loops = text.match(COPY_LOOP)?.length ?? 0;
  if (loops === 0) {
    if (named.length > 0 && !PATCHED.test(text))
      throw new Error(`${file}: no std::string copy loop of emscripten's embind, patched or not`);
    continue;
  }
  writeFileSync(
    file,
    text.replace(COPY_LOOP, (_, heap, ptr) => `${heap}.set(value,${ptr})`),
  );
  patched += loops;
  console.log(
    `patch-glue: ${relative(process.cwd(), file)}: ${loops} std::string copy made one TypedArray.set`,
  );
}
if (named.length === 0 && patched === 0 && files.length > 0)
  console.log('patch-glue: jSquash glue already patched');

function jsquashGlue(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { recursive: true });
  } catch {
    return []; // not installed (an install without jSquash): nothing to patch
  }
  return entries
    .map(String)
    .filter((path) => /(^|[\\/])codec[\\/].*\.js$/.test(path))
    .map((path) => join(dir, path));
}
