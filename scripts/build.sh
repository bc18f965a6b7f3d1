#!/usr/bin/env bash
# build.sh [BUILD_DIR] [meson options...] — configure (once) and build the
# agent (which reads every CPython 3.9-3.13) with tests for every CPython
# found on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
pythons=$(scripts/pythons.sh)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# quiet when all is well; the whole story when something fails
run() { "$@" >"$log" 2>&1 || { tail -n 60 "$log" >&2; echo "build: '$*' failed" >&2; exit 1; }; }
if [ ! -f "$dir/build.ninja" ]; then
  run meson setup "$dir" -Dpythons="$pythons" "$@"
else
  run meson configure "$dir" -Dpythons="$pythons" "$@"
fi
run ninja -C "$dir"
echo "built $dir/agent/libspyagent.so (tests for: $pythons)" >&2
