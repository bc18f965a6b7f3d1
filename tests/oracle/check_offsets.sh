#!/usr/bin/env bash
# check_offsets.sh BUILD_DIR PYTHON... — the 'offsets-current' test.
# For every interpreter given whose internal headers exist, regenerate its
# offset table with scripts/gen_offsets.sh into BUILD_DIR and require it to be
# byte for byte the checked-in agent/sampling/python/offsets_3_<minor>.h.  Exits 77
# (skipped) with a message when no interpreter has its headers.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
shift
rm -rf "$out"
mkdir -p "$out"
checked=0
failed=0
for py in "$@"; do
  read -r minor inc ver < <("$py" -c 'import sys, sysconfig, platform; print(sys.version_info[1], sysconfig.get_paths()["include"], platform.python_version())')
  if [ ! -f "$inc/internal/pycore_runtime.h" ]; then
    echo "skip  $py ($ver): no internal headers under $inc"
    continue
  fi
  mkdir -p "$out/$ver"
  if ! "$here/scripts/gen_offsets.sh" -o "$out/$ver" "$py" 2>"$out/$ver/gen.log"; then
    cat "$out/$ver/gen.log"
    echo "FAIL  $py ($ver): the generator failed"
    failed=$((failed + 1))
    continue
  fi
  checked=$((checked + 1))
  if diff -u "$here/agent/sampling/python/offsets_3_$minor.h" "$out/$ver/offsets_3_$minor.h"; then
    echo "ok    $py ($ver): agent/sampling/python/offsets_3_$minor.h is current"
  else
    echo "FAIL  $py ($ver): agent/sampling/python/offsets_3_$minor.h differs from what its headers give (run scripts/gen_offsets.sh)"
    failed=$((failed + 1))
  fi
done
if [ "$checked" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "no interpreter with internal headers: nothing to compare (skipped)"
  exit 77
fi
[ "$failed" -eq 0 ]
