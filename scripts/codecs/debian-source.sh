# shellcheck shell=bash
# Sourced by the codec build scripts (avif-simd/build.sh, resample/build.sh): the pinned toolchain
# and the Debian source packages they build from. Debian bookworm; root or sudo only to install the
# toolchain.

# The toolchain (Debian bookworm packages) that produced the committed modules. Node.js, which
# emscripten runs to write JavaScript glue, is not pinned: the glue does not depend on it.
TOOLCHAIN=(emscripten=3.1.6~dfsg-5 clang-14=1:14.0.6-12 lld-14=1:14.0.6-12 llvm-14=1:14.0.6-12
  binaryen=108-1)
export SOURCE_DATE_EPOCH=1672531200 # 2023-01-01, fixed: nothing in a build may depend on the date
export NODE_PATH=/usr/share/nodejs  # Debian's emscripten runs its JS with Debian's node and modules
export LC_ALL=C TZ=UTC

log() { printf '== %s\n' "$*" >&2; }

# Fails unless TOOLCHAIN's exact versions and the commands named are installed.
check_toolchain() { # command...
  local missing=() pkg want have
  for spec in "${TOOLCHAIN[@]}"; do
    pkg=${spec%%=*} want=${spec#*=}
    have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
    [ "$have" = "$want" ] || missing+=("$pkg: want $want, have ${have:-none}")
  done
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool: not installed"); done
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'The build needs this toolchain (apt-get install %s %s):\n' "${TOOLCHAIN[*]}" "$*" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
  fi
}

# apt-get source --download-only of each package=version into DIR, with a private copy of the
# Debian sources list (deb-src added), so the machine's own apt state is left alone; then every file
# is checked against SUMS (sha256sum's format). Fetches only when a file is missing or differs.
fetch_debian_sources() { # dir sums package=version...
  local dir=$1 sums=$2
  shift 2
  mkdir -p "$dir/lists/partial" "$dir/archives/partial"
  if [ ! -f "$dir/sources.list" ]; then
    local system=/etc/apt/sources.list.d/debian.sources
    [ -f "$system" ] || { echo "no $system to derive the deb-src entries from" >&2; exit 1; }
    sed 's/^Types: deb$/Types: deb-src/' "$system" >"$dir/deb-src.sources"
    touch "$dir/sources.list"
  fi
  local apt=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o "Dir::Etc::sourceparts=$dir"
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives" -o APT::Sandbox::User=root)
  if ! (cd "$dir" && sha256sum --quiet -c "$sums" >/dev/null 2>&1); then
    log "apt-get source $*"
    apt-get "${apt[@]}" -qq update
    (cd "$dir" && apt-get "${apt[@]}" -qq source --download-only "$@")
  fi
  (cd "$dir" && sha256sum --quiet -c "$sums")
}
