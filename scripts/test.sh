#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it: installs what is missing,
# builds the agent for every CPython on the machine, runs every test
# (C unit tests, integration tests against real interpreters, Uvicorn and
# clients), then builds again with AddressSanitizer + UndefinedBehavior-
# Sanitizer and runs the suite once more.  Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh || { echo "test: installing dependencies failed" >&2; exit 1; }
pythons=$(scripts/pythons.sh)
echo "test: interpreters: $pythons"

total_pass=0
total_fail=0
status=0

# count results from meson's log of the last run in $1
tally() {
  local counts
  counts=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            r = json.loads(line)
            if r.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
                ok += 1
            else:
                bad += 1
except OSError:
    pass
print(ok, bad)
PY
)
  total_pass=$((total_pass + ${counts% *}))
  total_fail=$((total_fail + ${counts#* }))
}

run_suite() {  # run_suite BUILD_DIR LABEL [env...]
  local dir=$1 label=$2
  shift 2
  echo "== $label: meson test -C $dir"
  if ! env "$@" meson test -C "$dir" --print-errorlogs --num-processes 2; then
    status=1
  fi
  tally "$dir"
}

if scripts/build.sh build; then
  run_suite build "tests"
else
  echo "test: build failed" >&2
  status=1
  total_fail=$((total_fail + 1))
fi

asan=$(gcc -print-file-name=libasan.so)
if scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
  run_suite build-asan "tests under ASan+UBSan" \
    SPY_ASAN_RUNTIME="$asan" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    SPY_STRESS_SECONDS="${SPY_STRESS_SECONDS_ASAN:-10}"
else
  echo "test: sanitizer build failed" >&2
  status=1
  total_fail=$((total_fail + 1))
fi

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] || status=1
exit $status
