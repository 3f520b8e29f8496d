#!/usr/bin/env bash
# Builds src/codecs/jpeg-turbo/turbojpeg.wasm: libjpeg-turbo's TurboJPEG decompressor with
# WebAssembly SIMD versions of the accurate IDCT, the 4x4 reduced IDCT and YCbCr -> RGB
# (jsimd_wasm.c, bit-identical to the C routines, which idct-check.c verifies on every build), a
# 64-bit Huffman bit buffer (wasm32-bit-buffer.patch), and tjDecompressRows(), which decodes a band
# of rows (tj-decompress-rows.c).
# Byte for byte reproducible on Debian bookworm with the toolchain pinned in ../debian-source.sh;
# .github/workflows/codecs.yml rebuilds it and fails if a byte differs.
#
#   scripts/codecs/jpeg-turbo/build.sh     build into src/codecs/jpeg-turbo/
#
# Environment: WORK (default /tmp/imgpipe-jpeg-turbo: sources and build tree), OUT (default
# src/codecs/jpeg-turbo), JOBS (make -j, default 2). libjpeg-turbo's source comes from Debian with
# apt-get source into $WORK (the system's package lists are not touched), checked against
# SHA256SUMS before use.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=${WORK:-/tmp/imgpipe-jpeg-turbo}
OUT=${OUT:-$ROOT/src/codecs/jpeg-turbo}
JOBS=${JOBS:-2}
[ $# -eq 0 ] || { echo "usage: $0 (no arguments)" >&2; exit 2; }

# -- pinned inputs -------------------------------------------------------------------------------
JPEG_TURBO_VERSION=1:2.1.5-2
# The toolchain, SOURCE_DATE_EPOCH, check_toolchain and fetch_debian_sources.
# shellcheck source=SCRIPTDIR/../debian-source.sh
. "$HERE/../debian-source.sh"

# The upstream tarball as released: Debian's patches concern its SIMD initialisation, the manual
# pages and the shared library's RPATH, none of which is built here.
EXPORTS=_malloc,_free,_tjInitDecompress,_tjDecompressHeader3,_tjDecompress2,_tjDestroy,_tjDecompressRows
FLAGS=(-O3 -msimd128 -mbulk-memory -mnontrapping-fptoint)
PREFIX_MAP=("-ffile-prefix-map=$WORK=/build" "-ffile-prefix-map=$HERE=/build")
# setjmp and longjmp are imports (tj-setjmp.h) that emscripten would call undefined: the link
# allows undefined symbols, and the import list is checked after it instead.
LINK=(--no-entry -s STANDALONE_WASM=1 -s ALLOW_MEMORY_GROWTH=1 -s "EXPORTED_FUNCTIONS=$EXPORTS"
  -s ERROR_ON_UNDEFINED_SYMBOLS=0)
IMPORTS="env.emscripten_notify_memory_growth env.longjmp env.setjmp wasi_snapshot_preview1.environ_get \
wasi_snapshot_preview1.environ_sizes_get wasi_snapshot_preview1.fd_close wasi_snapshot_preview1.fd_seek \
wasi_snapshot_preview1.fd_write wasi_snapshot_preview1.proc_exit"
# Results of CMake's checks that cannot run for WebAssembly (sizes), or that must not find
# thread-local storage (TurboJPEG's error buffer then stays in the data segment, where
# src/codecs/jpeg-turbo.ts reads it); BUILD is the date CMake would stamp. Arithmetic coding is
# left out, as in @cwasm's build: the pipeline refuses it (fewer code paths for hostile input).
CMAKE=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY
  -DHAVE_SIZE_T=TRUE -DSIZE_T=4 -DHAVE_UNSIGNED_LONG=TRUE -DUNSIGNED_LONG=4
  -DHAVE_THREAD_LOCAL=FALSE -DBUILD=20230101
  -DWITH_SIMD=0 -DENABLE_SHARED=0 -DWITH_TURBOJPEG=1 -DWITH_JAVA=0 -DWITH_ARITH_DEC=0
  -DWITH_ARITH_ENC=0)

check_toolchain tar gzip cmake make patch node
mkdir -p "$WORK" "$OUT"
fetch_debian_sources "$WORK/debian" "$HERE/SHA256SUMS" "libjpeg-turbo=$JPEG_TURBO_VERSION"
rm -rf "$WORK/src" "$WORK/build" "$WORK/check"
mkdir -p "$WORK/src" "$WORK/check"
tar -xzf "$WORK/debian/libjpeg-turbo_2.1.5.orig.tar.gz" -C "$WORK/src" --strip-components=1
# jsimd_wasm.c takes jsimd_none.c's place (WITH_SIMD=0 compiles that file) and includes it.
mv "$WORK/src/jsimd_none.c" "$WORK/src/jsimd_none_orig.c"
cp "$HERE/jsimd_wasm.c" "$WORK/src/jsimd_none.c"
cp "$HERE/tj-setjmp.h" "$WORK/src/"
patch -s -p1 -d "$WORK/src" <"$HERE/wasm32-bit-buffer.patch"
# tjDecompressRows(): tjDecompress2() for a band of rows, so two threads can share one decode.
cat "$HERE/tj-decompress-rows.c" >>"$WORK/src/turbojpeg.c"

cflags="${FLAGS[*]} ${PREFIX_MAP[*]} -include $WORK/src/tj-setjmp.h"
log "cmake (emscripten) libjpeg-turbo, CFLAGS $cflags"
emcmake cmake -S "$WORK/src" -B "$WORK/build" "${CMAKE[@]}" "-DCMAKE_C_FLAGS=$cflags" \
  >"$WORK/build.cmake.log"
make -C "$WORK/build" -j"$JOBS" turbojpeg-static >"$WORK/build.make.log"

log "idct-check: the SIMD IDCTs against the C ones"
(cd "$WORK/check" && emcc "${FLAGS[@]}" -I"$WORK/build" -I"$WORK/src" -c "$HERE/idct-check.c" \
  "$WORK/src/jidctint.c" "$WORK/src/jidctred.c" "$WORK/src/jsimd_none.c" &&
  emcc -O0 -msimd128 -s ENVIRONMENT=node ./*.o -o idct-check.js && node --no-experimental-fetch idct-check.js 200000)

log "link turbojpeg.wasm"
(cd "$WORK/build" && emcc "${FLAGS[@]}" libturbojpeg.a -o turbojpeg.wasm "${LINK[@]}")
imports=$(node -e 'const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
  console.log(WebAssembly.Module.imports(m).map((i) => `${i.module}.${i.name}`).sort().join(" "))' \
  "$WORK/build/turbojpeg.wasm")
[ "$imports" = "$IMPORTS" ] || { echo "turbojpeg.wasm imports $imports, expected $IMPORTS" >&2; exit 1; }
cp "$WORK/build/turbojpeg.wasm" "$OUT/turbojpeg.wasm"
cp "$WORK/src/LICENSE.md" "$OUT/LICENSE-libjpeg-turbo.txt"
cp "$WORK/src/README.ijg" "$OUT/README-ijg.txt"
cp /usr/share/emscripten/system/lib/libc/musl/COPYRIGHT "$OUT/emscripten-musl-COPYRIGHT.txt"

fence='```'
cat >"$OUT/PROVENANCE.md" <<PROVENANCE
# Provenance of turbojpeg.wasm

Written by \`scripts/codecs/jpeg-turbo/build.sh\` from these inputs; the \`codecs\` workflow runs it
again and fails if a byte here differs.

## Sources

Debian bookworm's source package of libjpeg-turbo $JPEG_TURBO_VERSION (\`apt-get source\`), SHA-256
checked before use:

$fence
$(cat "$HERE/SHA256SUMS")
$fence

- The upstream tarball as released; Debian's patches (SIMD initialisation, manual pages, RPATH)
  concern nothing built here.
- \`jsimd_wasm.c\` (this repository) in place of \`jsimd_none.c\`: WebAssembly SIMD versions of
  \`jpeg_idct_islow\`, \`jpeg_idct_4x4\` and \`ycc_rgb_convert\`, bit-identical to the C routines
  (\`idct-check.c\` compares 200,000 random blocks on every build), and \`imgpipe_set_simd\`, which
  switches them off for the tests.
- \`tj-setjmp.h\` (this repository): setjmp and longjmp as imports (a JavaScript exception unwinds).
- \`wasm32-bit-buffer.patch\` (this repository): the Huffman decoder's 64-bit bit buffer, as
  libjpeg-turbo has it for x32, for wasm32 too.
- \`tj-decompress-rows.c\` (this repository), appended to \`turbojpeg.c\`: \`tjDecompressRows()\`,
  \`tjDecompress2()\` for a band of output rows (\`jpeg_skip_scanlines()\` above it).

## Toolchain

Debian bookworm packages: $(printf '%s ' "${TOOLCHAIN[@]}")

## Configuration

\`emcmake cmake ${CMAKE[*]}\` with \`CMAKE_C_FLAGS=${FLAGS[*]} -include tj-setjmp.h\`, target
\`turbojpeg-static\`; then \`emcc ${FLAGS[*]} libturbojpeg.a ${LINK[*]}\`; \`-ffile-prefix-map\` for
\$WORK and the script's folder; \`SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH\`.

## Output

$fence
$(cd "$OUT" && sha256sum turbojpeg.wasm)
$fence

Licences: libjpeg-turbo's (IJG, Modified BSD, zlib), \`LICENSE-libjpeg-turbo.txt\` and
\`README-ijg.txt\`; musl's (the
emscripten runtime's libc and malloc), \`emscripten-musl-COPYRIGHT.txt\`.
PROVENANCE
(cd "$OUT" && sha256sum turbojpeg.wasm)
