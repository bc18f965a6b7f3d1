#!/usr/bin/env bash
# no_headers.sh SRC_DIR WORK_DIR HARNESS_PYTHON PYTHON... — the
# 'no-python-headers' test.
#
# Configures and builds the agent afresh in WORK_DIR, then proves no Python
# header could have been used: the compiler finds no Python.h without an
# include flag, and no compile command of the agent's sources names a
# directory holding one.  Then it runs the accuracy test (test_threads.py,
# under LD_PRELOAD and with `import spyagent`) with that library against
# every interpreter given.
set -euo pipefail
src=$1
work=$2
harness=$3
shift 3
cc=${CC:-cc}
fail=0

if echo '#include <Python.h>' | "$cc" -E -x c - >/dev/null 2>&1; then
  echo "FAIL  the compiler finds <Python.h> without any include flag: headers are reachable here"
  exit 1
fi
echo "ok    no Python.h on the compiler's default include path"

rm -rf "$work"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# only the test interpreters are named, as -Dpythons; nothing of theirs
# reaches the agent's compile commands
if ! (unset CPATH C_INCLUDE_PATH; meson setup "$work" "$src" -Dpythons="$(IFS=,; echo "$*")" >"$log" 2>&1 \
      && meson compile -C "$work" agent/spyagent:shared_module agent/libspyagent:shared_library >>"$log" 2>&1); then
  tail -n 40 "$log"
  echo "FAIL  the agent does not build"
  exit 1
fi
echo "ok    built $work/agent/libspyagent.so and spyagent.so"

# every include directory of every compile command of the agent itself
if ! "$harness" - "$work/compile_commands.json" <<'PY'
import json, os, shlex, sys
cmds = json.load(open(sys.argv[1]))
bad, n = [], 0
for c in cmds:
    out = c.get("output", "")
    if not (out.startswith("agent/spyagent.so.p/") or out.startswith("agent/libspyagent.so.p/")):
        continue
    n += 1
    args = shlex.split(c["command"])
    dirs = []
    for i, a in enumerate(args):
        for flag in ("-I", "-isystem", "-iquote", "-idirafter"):
            if a == flag and i + 1 < len(args):
                dirs.append(args[i + 1])
            elif a.startswith(flag) and len(a) > len(flag):
                dirs.append(a[len(flag):])
    for d in dirs:
        p = d if os.path.isabs(d) else os.path.join(c["directory"], d)
        if os.path.exists(os.path.join(p, "Python.h")) or os.path.exists(os.path.join(p, "internal", "pycore_runtime.h")):
            bad.append("%s: %s" % (c["file"], d))
if n == 0:
    print("FAIL  no compile commands for the agent in compile_commands.json")
    sys.exit(1)
if bad:
    print("FAIL  agent sources compiled with a Python include directory:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("ok    %d agent compile commands, none with a Python include directory" % n)
PY
then
  exit 1
fi

for py in "$@"; do
  for mode in preload import; do
    if SPY_LIB="$work/agent/libspyagent.so" SPY_MODULE_DIR="$work/agent" SPY_PYTHONS="$(IFS=,; echo "$*")" \
       "$harness" "$src/tests/integration/test_threads.py" "$py" "$mode" >"$log" 2>&1; then
      echo "ok    accuracy ($mode) with $py: $(tail -n 1 "$log")"
    else
      cat "$log"
      echo "FAIL  accuracy ($mode) with $py"
      fail=1
    fi
  done
done
exit $fail
