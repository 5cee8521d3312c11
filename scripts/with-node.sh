#!/usr/bin/env bash
# Runs a command with Node.js 24 (the runtime Hookline targets) first on PATH, and the
# project's npm dependencies installed. When the machine's node is older, Node 24 is
# obtained from the npm registry (the node-linux-<arch> package carries the official
# binary) into the cache.
#
#   scripts/with-node.sh <command> [args...]
#   scripts/with-node.sh --print-bin     prints the directory holding Node 24's `node`
set -euo pipefail

NODE_VERSION=24.21.0
cache="${HOOKLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookline}"

current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$current_major" -ge 24 ]; then
  bin_dir=$(dirname "$(command -v node)")
else
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "with-node: no Node 24 package for architecture $(uname -m); install Node.js 24 yourself" >&2; exit 3 ;;
  esac
  prefix="$cache/node-$NODE_VERSION"
  bin_dir="$prefix/node_modules/node-linux-$arch/bin"
  if [ ! -x "$bin_dir/node" ]; then
    echo "with-node: obtaining Node.js $NODE_VERSION from the npm registry (node-linux-$arch) into $prefix" >&2
    mkdir -p "$prefix"
    npm install --no-save --no-package-lock --ignore-scripts=false --prefix "$prefix" "node-linux-$arch@$NODE_VERSION" >&2 \
      || { echo "with-node: could not install node-linux-$arch@$NODE_VERSION from the npm registry; install Node.js 24 yourself" >&2; exit 3; }
  fi
fi

if [ "${1:-}" = "--print-bin" ]; then
  echo "$bin_dir"
  exit 0
fi
export PATH="$bin_dir:$PATH"

# Install the dependencies when they are missing or older than the lock file.
repo=$(cd "$(dirname "$0")/.." && pwd)
installed="$repo/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$repo/package-lock.json" -nt "$installed" ]; then
  echo "with-node: installing npm dependencies (npm ci)" >&2
  (cd "$repo" && npm ci --no-audit --no-fund >&2)
fi
exec "$@"
