#!/usr/bin/env bash
# build.sh [BUILD_DIR] [meson options...] — configure (once) and build the
# agent with a frame reader for every CPython found on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
pythons=$(scripts/pythons.sh)
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Dpythons="$pythons" "$@" >/dev/null
else
  meson configure "$dir" -Dpythons="$pythons" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
echo "built $dir/agent/libspyagent.so (readers for: $pythons)" >&2
