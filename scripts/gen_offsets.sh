#!/usr/bin/env bash
# gen_offsets.sh — regenerate agent/sampling/python/offsets_3_<minor>.h from each
# CPython's own headers.  For every interpreter given (default: every one
# scripts/pythons.sh finds) it compiles agent/sampling/python/offsets_gen.c against
# that interpreter's include directory, runs it and writes the table for its
# minor version into OUTDIR (default: agent/sampling/python).  The first interpreter
# of a minor version wins.  Needs a C compiler; never run by the build.
#
#   scripts/gen_offsets.sh [-o OUTDIR] [PYTHON...]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/agent/sampling/python"
if [ "${1:-}" = "-o" ]; then
  out=$2
  shift 2
fi
if [ $# -eq 0 ]; then
  IFS=, read -r -a pys <<< "$("$here/scripts/pythons.sh")"
else
  pys=("$@")
fi
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
done_minors=" "
status=0
for py in "${pys[@]}"; do
  read -r major minor inc platinc < <("$py" -c 'import sys, sysconfig; p = sysconfig.get_paths(); print(sys.version_info[0], sys.version_info[1], p["include"], p["platinclude"])')
  if [ "$major" != 3 ] || [ "$minor" -lt 9 ] || [ "$minor" -gt 13 ]; then
    echo "gen_offsets: skipping $py ($major.$minor): only 3.9 to 3.13 have tables" >&2
    continue
  fi
  case "$done_minors" in *" $minor "*) continue ;; esac
  if [ ! -f "$inc/internal/pycore_runtime.h" ]; then
    echo "gen_offsets: skipping $py: no internal headers under $inc" >&2
    status=1
    continue
  fi
  "$cc" -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers -I "$here/agent/sampling/python" -isystem "$inc" -isystem "$platinc" \
    -o "$tmp/gen_3_$minor" "$here/agent/sampling/python/offsets_gen.c"
  "$tmp/gen_3_$minor" > "$tmp/offsets_3_$minor.h"
  mv "$tmp/offsets_3_$minor.h" "$out/offsets_3_$minor.h"
  echo "gen_offsets: $out/offsets_3_$minor.h from $py" >&2
  done_minors="$done_minors$minor "
done
exit $status
