#!/usr/bin/env bash
# Builds src/codecs/avif-simd/avif_enc_simd.{cjs,worker.cjs,wasm}: libaom 3.6.0 with its
# SSE2/SSSE3/SSE4.1 intrinsics compiled to WebAssembly SIMD and its threads as emscripten pthreads
# (shared memory, one worker_threads Worker per aom thread), libheif 1.15.1 writing the AVIF
# container, and the jSquash-compatible entry point avif_enc.cpp. Byte for byte reproducible on Debian bookworm with
# the toolchain pinned below; .github/workflows/codecs.yml rebuilds it and fails if a byte differs.
#
#   scripts/codecs/avif-simd/build.sh               build into src/codecs/avif-simd/
#   scripts/codecs/avif-simd/build.sh --derive      derive the rtcd exclude list on the way (from
#                                                   the intrinsics compiled with none excluded) and
#                                                   fail if it is not aom-rtcd-exclude.txt
#                                                   (--derive --write: replace the file)
#   scripts/codecs/avif-simd/build.sh --scalar      aom without SIMD (AOM_TARGET_CPU=generic), for
#                                                   the bit-exactness check, into $WORK/scalar/
#
# Environment: WORK (default /tmp/imgpipe-avif-simd: sources and build trees), JOBS (make -j),
# OUT (default src/codecs/avif-simd). Needs root or sudo only to install the toolchain; the sources
# come from Debian with apt-get source into $WORK (the system's package lists are not touched).
# Every source file is checked against SHA256SUMS before use.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=${WORK:-/tmp/imgpipe-avif-simd}
OUT=${OUT:-$ROOT/src/codecs/avif-simd}
JOBS=${JOBS:-$(nproc)}
MODE=build
WRITE=0
for arg in "$@"; do
  case "$arg" in
    --derive) MODE=derive ;;
    --write) WRITE=1 ;;
    --scalar) MODE=scalar ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# -- pinned inputs -------------------------------------------------------------------------------
AOM_VERSION=3.6.0-1+deb12u2
HEIF_VERSION=1.15.1-1+deb12u1
# The toolchain, SOURCE_DATE_EPOCH, check_toolchain and fetch_debian_sources.
# shellcheck source=SCRIPTDIR/../debian-source.sh
. "$HERE/../debian-source.sh"

fetch_sources() {
  fetch_debian_sources "$WORK/debian" "$HERE/SHA256SUMS" "aom=$AOM_VERSION" "libheif=$HEIF_VERSION"
  (cd "$HERE/debian-security" && sha256sum --quiet -c SHA256SUMS)
}

# A fresh tree from an orig tarball with a Debian patch series applied, then extra patches.
unpack() { # name orig debian-tar [patch...]
  local name=$1 orig=$2 debian=$3
  shift 3
  rm -rf "${WORK:?}/${name:?}" "$WORK/$name.debian"
  mkdir -p "$WORK/$name" "$WORK/$name.debian"
  tar -xzf "$WORK/debian/$orig" -C "$WORK/$name" --strip-components=1
  tar -xJf "$WORK/debian/$debian" -C "$WORK/$name.debian"
  while read -r patch; do
    case "$patch" in '' | '#'*) continue ;; esac
    patch -d "$WORK/$name" -p1 -s <"$WORK/$name.debian/debian/patches/$patch"
  done <"$WORK/$name.debian/debian/patches/series"
  for patch in "$@"; do patch -d "$WORK/$name" -p1 -s <"$patch"; done
}

# Flags that make the output independent of where the build runs.
PREFIX_MAP="-ffile-prefix-map=$WORK=/build"
# WebAssembly features for every file of aom, libheif and the entry point: threads (-pthread:
# atomics and shared memory, which also brings bulk memory, so memcpy and memset become
# memory.copy and memory.fill instead of calls into libc's byte loops) and non-trapping
# float-to-int conversions (no range checks around each one). -msimd128 is not among them: aom's
# CMake puts it beside each -msse* flag, on the intrinsics files only (aom-wasm-simd.patch); on every
# file it would let clang vectorise aom's C too, for a few per cent more speed and a module of 9 MB
# instead of 5.
WASM_FEATURES="-pthread -mbulk-memory -mnontrapping-fptoint"

configure_aom() { # build-dir target-cpu exclude-file
  local dir=$1 cpu=$2 exclude=$3
  local simd=(-DAOM_TARGET_CPU=x86 -DAS_EXECUTABLE=/bin/true -DENABLE_SSE4_2=0 -DENABLE_AVX=0 -DENABLE_AVX2=0
    -DCMAKE_REQUIRED_FLAGS=-msimd128 "-DAOM_RTCD_FLAGS=--exclude=$exclude")
  [ "$cpu" = generic ] && simd=(-DAOM_TARGET_CPU=generic)
  local features=$WASM_FEATURES
  rm -rf "$dir"
  log "aom ($cpu) in $dir"
  # Compiler checks only compile (no link: each emcc link costs seconds and proves nothing here).
  emcmake cmake -S "$WORK/aom" -B "$dir" -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY \
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=$PREFIX_MAP $features" "-DCMAKE_CXX_FLAGS=$PREFIX_MAP $features" \
    "${simd[@]}" \
    -DCONFIG_MULTITHREAD=1 -DCONFIG_RUNTIME_CPU_DETECT=0 -DCONFIG_AV1_DECODER=0 -DCONFIG_AV1_HIGHBITDEPTH=1 \
    -DCONFIG_WEBM_IO=0 -DCONFIG_LIBYUV=0 -DCONFIG_INSPECTION=0 -DENABLE_TESTS=0 -DENABLE_EXAMPLES=0 \
    -DENABLE_TOOLS=0 -DENABLE_DOCS=0 -DENABLE_CCACHE=0 >"$dir.cmake.log"
}

# rtcd.pl again, as aom_configure.cmake runs it (with the --disable flags cpu.cmake adds for the
# ISAs switched off), after the exclude file changed.
regenerate_rtcd() { # build-dir exclude-file
  local dir=$1 exclude=$2 defs header sym
  for entry in aom_dsp/aom_dsp_rtcd_defs.pl:aom_dsp_rtcd aom_scale/aom_scale_rtcd.pl:aom_scale_rtcd \
    av1/common/av1_rtcd_defs.pl:av1_rtcd; do
    defs=${entry%%:*} sym=${entry#*:}
    header="$dir/config/$sym.h"
    perl "$WORK/aom/build/cmake/rtcd.pl" --arch=x86 "--sym=$sym" "--exclude=$exclude" \
      --disable-sse4_2 --disable-avx --disable-avx2 \
      "--config=$dir/config/aom_config.h" "$WORK/aom/$defs" >"$header"
  done
}

# The intrinsics only (no C files): what derive-exclude.py reads, in a fraction of the build's time.
build_intrinsics() { # build-dir
  local targets
  targets=$(make -C "$1" help | sed -n 's/^\.\.\. \(.*_intrinsics\)$/\1/p')
  # shellcheck disable=SC2086 # one word per target
  make -C "$1" -j"$JOBS" $targets >"$1.intrinsics.log"
}

derive_exclude() { # aom-build-dir output
  python3 "$HERE/derive-exclude.py" /usr/lib/llvm-14/bin/llvm-objdump "$1" >"$2"
}

build_heif() { # build-dir aom-build-dir
  local dir=$1 aom=$2
  rm -rf "$dir"
  log "libheif in $dir"
  emcmake cmake -S "$WORK/libheif" -B "$dir" -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY \
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=$PREFIX_MAP $WASM_FEATURES" \
    "-DCMAKE_CXX_FLAGS=$PREFIX_MAP $WASM_FEATURES" -DBUILD_SHARED_LIBS=OFF -DENABLE_PLUGIN_LOADING=OFF -DENABLE_MULTITHREADING_SUPPORT=OFF \
    -DWITH_EXAMPLES=OFF -DWITH_LIBDE265=OFF -DWITH_X265=OFF -DWITH_DAV1D=OFF -DWITH_RAV1E=OFF -DWITH_SvtEnc=OFF \
    -DWITH_AOM_DECODER=OFF -DWITH_AOM_ENCODER=ON -DWITH_AOM_ENCODER_PLUGIN=OFF \
    "-DAOM_INCLUDE_DIR=$WORK/aom" "-DAOM_LIBRARY=$aom/libaom.a" >"$dir.cmake.log"
  make -C "$dir" -j"$JOBS" heif >"$dir.make.log"
}

link_module() { # aom-build-dir heif-build-dir output-dir
  local aom=$1 heif=$2 out=$3
  mkdir -p "$out"
  log "linking $out/avif_enc_simd.cjs"
  # ENVIRONMENT=node: emscripten's pthreads run on worker_threads there. The caller hands the
  # factory a compiled WebAssembly.Module (instantiateWasm), so the glue reads no file itself; the
  # pthread workers (avif_enc_simd.worker.cjs, emscripten's worker.js) evaluate the glue's file
  # (mainScriptUrlOrBlob) and instantiate the same module on the same shared memory. CommonJS, not
  # EXPORT_ES6: that worker.js runs the glue with importScripts() (an eval), which an ES module
  # cannot be, hence the .cjs names. PTHREAD_POOL_SIZE is the caller's pthreadPoolSize: the workers
  # are started and loaded before the factory resolves, so no thread is created while an encode
  # blocks the calling thread. A thread's stack is the calling thread's 5 MiB. NODEJS_CATCH_*=0:
  # no process-wide handlers from a library.
  em++ -O3 -std=c++17 "$PREFIX_MAP" $WASM_FEATURES -I "$WORK/libheif" -I "$heif" \
    "$HERE/avif_enc.cpp" "$heif/libheif/libheif.a" "$aom/libaom.a" \
    --bind -s ENVIRONMENT=node -s MODULARIZE=1 -s EXPORT_NAME=avifEncSimd -s DYNAMIC_EXECUTION=0 \
    -s 'PTHREAD_POOL_SIZE=Module["pthreadPoolSize"]' -s DEFAULT_PTHREAD_STACK_SIZE=5242880 \
    -s NODEJS_CATCH_EXIT=0 -s NODEJS_CATCH_REJECTION=0 -Wno-pthreads-mem-growth \
    -s ALLOW_MEMORY_GROWTH=1 -s FILESYSTEM=0 -s ERROR_ON_UNDEFINED_SYMBOLS=1 \
    -o "$out/avif_enc_simd.js"
  mv "$out/avif_enc_simd.js" "$out/avif_enc_simd.cjs"
  mv "$out/avif_enc_simd.worker.js" "$out/avif_enc_simd.worker.cjs"
}

# What went in and what came out; nothing that changes from one run to the next (no dates, no paths).
write_provenance() {
  local fence='```'
  cat <<EOF
# Provenance of avif_enc_simd.wasm, avif_enc_simd.cjs and avif_enc_simd.worker.cjs

Written by \`scripts/codecs/avif-simd/build.sh\`, which built both files from these inputs; the
\`codecs\` workflow runs it again and fails if any file here differs by a byte.

## Sources

Debian bookworm source packages (\`apt-get source\`), SHA-256 checked before use:

$fence
$(cat "$HERE/SHA256SUMS")
$fence

- aom $AOM_VERSION with its Debian patch series, then the three patches Debian's 3.6.0-1+deb12u3
  security update adds (\`scripts/codecs/avif-simd/debian-security/\`, SHA-256 in its SHA256SUMS),
  then \`patches/aom-wasm-simd.patch\` (no NASM under emscripten, \`-msimd128\` beside each SSE
  flag, rtcd.pl's \`--exclude\`, no inline x86 assembly in \`aom_ports/x86.h\`) and
  \`patches/aom-cnn-sse2.patch\` (an SSE2 version of the partition CNN's convolution, bit-exact
  with its C code).
- libheif $HEIF_VERSION with its Debian patch series.
- \`avif_enc.cpp\` and \`avif_encode.h\` (this repository): jSquash's \`encode()\` entry point.
- rtcd exclude list: \`aom-rtcd-exclude.txt\`, $(wc -l <"$WORK/aom-rtcd-exclude.txt") specializations, derived by
  \`derive-exclude.py\`.

## Toolchain

Debian bookworm packages: $(printf '%s ' "${TOOLCHAIN[@]}")

## Configuration

- Every file (aom, libheif, \`avif_enc.cpp\`): \`$WASM_FEATURES\`.
- aom: \`AOM_TARGET_CPU=x86\`; SSE2, SSE3, SSSE3 and SSE4.1 intrinsics with \`-msimd128\`; no SSE4.2,
  AVX, AVX2 or assembly; \`CONFIG_RUNTIME_CPU_DETECT=0 CONFIG_MULTITHREAD=1 CONFIG_AV1_DECODER=0
  CONFIG_AV1_HIGHBITDEPTH=1\`; Release (\`-O3\`).
- libheif: static, the aom encoder built in; no plugins, decoders or threads of its own.
- Link: \`em++ -O3 --bind -s ENVIRONMENT=node -s MODULARIZE=1 -s EXPORT_NAME=avifEncSimd
  -s PTHREAD_POOL_SIZE=Module["pthreadPoolSize"] -s DEFAULT_PTHREAD_STACK_SIZE=5242880
  -s NODEJS_CATCH_EXIT=0 -s NODEJS_CATCH_REJECTION=0 -s ALLOW_MEMORY_GROWTH=1 -s FILESYSTEM=0
  -s ERROR_ON_UNDEFINED_SYMBOLS=1\`; the glue and emscripten's pthread worker renamed to \`.cjs\`.
- \`SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH\`; \`-ffile-prefix-map=\$WORK=/build\`.

## Output

$fence
$(cd "$OUT" && sha256sum avif_enc_simd.cjs avif_enc_simd.worker.cjs avif_enc_simd.wasm)
$fence
EOF
}

check_toolchain perl python3 cmake make patch
mkdir -p "$WORK"
fetch_sources
unpack aom aom_3.6.0.orig.tar.gz "aom_$AOM_VERSION.debian.tar.xz" \
  "$HERE"/debian-security/0*.patch "$HERE/patches/aom-wasm-simd.patch" "$HERE/patches/aom-cnn-sse2.patch"
unpack libheif libheif_1.15.1.orig.tar.gz "libheif_$HEIF_VERSION.debian.tar.xz"

case "$MODE" in
  scalar)
    configure_aom "$WORK/aom-scalar" generic /dev/null
    make -C "$WORK/aom-scalar" -j"$JOBS" aom >"$WORK/aom-scalar.make.log"
    build_heif "$WORK/heif-scalar" "$WORK/aom-scalar"
    link_module "$WORK/aom-scalar" "$WORK/heif-scalar" "$WORK/scalar"
    (cd "$WORK/scalar" && sha256sum avif_enc_simd.cjs avif_enc_simd.worker.cjs avif_enc_simd.wasm)
    exit 0
    ;;
  derive)
    # Configured with an empty exclude list, the intrinsics compiled; the list derived from their
    # objects; rtcd.pl run again with it, and the build goes on in the same tree.
    : >"$WORK/aom-rtcd-exclude.txt"
    configure_aom "$WORK/aom-simd" x86 "$WORK/aom-rtcd-exclude.txt"
    build_intrinsics "$WORK/aom-simd"
    derive_exclude "$WORK/aom-simd" "$WORK/aom-rtcd-exclude.derived"
    mv "$WORK/aom-rtcd-exclude.derived" "$WORK/aom-rtcd-exclude.txt"
    regenerate_rtcd "$WORK/aom-simd" "$WORK/aom-rtcd-exclude.txt"
    log "$(wc -l <"$WORK/aom-rtcd-exclude.txt") specializations excluded"
    if [ "$WRITE" = 1 ]; then
      cp "$WORK/aom-rtcd-exclude.txt" "$HERE/aom-rtcd-exclude.txt"
    elif ! diff -u "$HERE/aom-rtcd-exclude.txt" "$WORK/aom-rtcd-exclude.txt"; then
      echo "The derived exclude list differs from aom-rtcd-exclude.txt (--derive --write replaces it)" >&2
      exit 1
    fi
    ;;
  build)
    cp "$HERE/aom-rtcd-exclude.txt" "$WORK/aom-rtcd-exclude.txt"
    configure_aom "$WORK/aom-simd" x86 "$WORK/aom-rtcd-exclude.txt"
    ;;
esac

make -C "$WORK/aom-simd" -j"$JOBS" aom >"$WORK/aom-simd.make.log"
build_heif "$WORK/heif-simd" "$WORK/aom-simd"
link_module "$WORK/aom-simd" "$WORK/heif-simd" "$OUT"
write_provenance >"$OUT/PROVENANCE.md"
(cd "$OUT" && sha256sum avif_enc_simd.cjs avif_enc_simd.worker.cjs avif_enc_simd.wasm)
