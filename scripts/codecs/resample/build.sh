#!/usr/bin/env bash
# Builds src/codecs/resample/resample.wasm: Pillow's resampler (src/libImaging/Resample.c, its
# two-pass convolution in 8-bit fixed point) with WebAssembly SIMD versions of its RGBA loops
# (resample.c, bit-identical to Pillow's own). Byte for byte reproducible on Debian bookworm with
# the toolchain pinned in ../debian-source.sh; .github/workflows/codecs.yml rebuilds it and fails if
# a byte differs.
#
#   scripts/codecs/resample/build.sh     build into src/codecs/resample/
#
# Environment: WORK (default /tmp/imgpipe-resample: sources and build tree), OUT (default
# src/codecs/resample). Pillow's source comes from Debian with apt-get source into $WORK (the
# system's package lists are not touched), checked against SHA256SUMS before use.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=${WORK:-/tmp/imgpipe-resample}
OUT=${OUT:-$ROOT/src/codecs/resample}
[ $# -eq 0 ] || { echo "usage: $0 (no arguments)" >&2; exit 2; }

# -- pinned inputs -------------------------------------------------------------------------------
PILLOW_VERSION=9.4.0-1.1+deb12u1
# The toolchain, SOURCE_DATE_EPOCH, check_toolchain and fetch_debian_sources.
# shellcheck source=SCRIPTDIR/../debian-source.sh
. "$HERE/../debian-source.sh"

# Resample.c needs nothing of Debian's patch series (none of its patches touches it): the file is
# taken from the upstream tarball as released.
EXPORTS=_rs_malloc,_rs_free,_rs_resize
FLAGS=(-O3 -msimd128 -mbulk-memory -mnontrapping-fptoint)
PREFIX_MAP=("-ffile-prefix-map=$WORK=/build" "-ffile-prefix-map=$HERE=/build")
LINK=(--no-entry -s STANDALONE_WASM=1 -s ALLOW_MEMORY_GROWTH=1 -s "EXPORTED_FUNCTIONS=$EXPORTS"
  -s ERROR_ON_UNDEFINED_SYMBOLS=1)

check_toolchain tar xz
mkdir -p "$WORK" "$OUT"
fetch_debian_sources "$WORK/debian" "$HERE/SHA256SUMS" "pillow=$PILLOW_VERSION"
rm -rf "$WORK/pillow" "$WORK/src"
mkdir -p "$WORK/pillow" "$WORK/src"
tar -xJf "$WORK/debian/pillow_9.4.0.orig.tar.xz" -C "$WORK/pillow" --strip-components=1
cp "$WORK/pillow/src/libImaging/Resample.c" "$HERE/resample.c" "$HERE/Imaging.h" "$WORK/src/"

log "emcc ${FLAGS[*]} resample.c"
(cd "$WORK/src" && emcc "${FLAGS[@]}" "${PREFIX_MAP[@]}" resample.c -o resample.wasm "${LINK[@]}")
cp "$WORK/src/resample.wasm" "$OUT/resample.wasm"
cp "$WORK/pillow/LICENSE" "$OUT/LICENSE-Pillow.txt"

fence='```'
cat >"$OUT/PROVENANCE.md" <<PROVENANCE
# Provenance of resample.wasm

Written by \`scripts/codecs/resample/build.sh\` from these inputs; the \`codecs\` workflow runs it
again and fails if a byte here differs.

## Sources

Debian bookworm's source package of Pillow $PILLOW_VERSION (\`apt-get source\`), SHA-256 checked before use:

$fence
$(cat "$HERE/SHA256SUMS")
$fence

- \`src/libImaging/Resample.c\` from the upstream tarball as released (none of Debian's patches
  touches it), compiled as part of \`resample.c\`.
- \`resample.c\` and \`Imaging.h\` (this repository): the entry points, the Imaging structure the
  file uses, a Mitchell filter, and WebAssembly SIMD versions of Resample.c's two RGBA loops.

## Toolchain

Debian bookworm packages: $(printf '%s ' "${TOOLCHAIN[@]}")

## Configuration

\`emcc ${FLAGS[*]} resample.c ${LINK[*]}\`, with \`-ffile-prefix-map\` for
\$WORK and the script's folder; \`SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH\`.

## Output

$fence
$(cd "$OUT" && sha256sum resample.wasm)
$fence

Licence: Pillow's HPND licence, \`LICENSE-Pillow.txt\`.
PROVENANCE
(cd "$OUT" && sha256sum resample.wasm)
