#!/usr/bin/env bash
# fuzz.sh [SECONDS] [BUILD_DIR] — build the libFuzzer targets in tests/fuzz
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer in a build
# directory of their own (default build-fuzz; the gcc builds are not
# touched), replay each target's regression inputs (tests/fuzz/regressions/
# TARGET/), then fuzz each for SECONDS (default 60) starting from its seed
# corpus (tests/fuzz/corpus/TARGET/; what it finds is kept in
# BUILD_DIR/corpus/TARGET/).  Prints per target the runs, the coverage and
# the result; a crash leaves its input in BUILD_DIR/artifacts/TARGET/.
# FUZZ_TARGETS="fuzz_protocol fuzz_pprof" limits the run to those.
# Exit: 0 all clean, 1 a target crashed or a regression input failed,
# 77 (skip) when clang or libFuzzer is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
dir=${2:-build-fuzz}
all="fuzz_protocol fuzz_config fuzz_categories fuzz_read_collapsed fuzz_read_svg fuzz_read_speedscope fuzz_pprof fuzz_reader fuzz_tasks"
targets=${FUZZ_TARGETS:-$all}

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: SKIP: no clang (scripts/deps.sh installs clang and libclang-rt-14-dev)"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
  echo "fuzz: SKIP: clang cannot link libFuzzer (install libclang-rt-14-dev):"
  tail -n 3 "$probe/log"
  exit 77
fi

log="$probe/build.log"
if [ ! -f "$dir/build.ninja" ]; then
  if ! CC=clang CFLAGS="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" meson setup "$dir" \
      -Dpythons="$(scripts/pythons.sh)" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
      -Dwerror=false -Dbuildtype=debugoptimized >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: FAIL: meson setup $dir"
    exit 1
  fi
fi
paths=()
for t in $targets; do paths+=("tests/fuzz/$t"); done
if ! ninja -C "$dir" "${paths[@]}" >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "fuzz: FAIL: building the targets in $dir"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-22s %10s %8s %8s %7s  %s\n' target runs cov ft corpus result
for t in $targets; do
  exe="$dir/tests/fuzz/$t"
  out="$dir/logs/$t.log"
  mkdir -p "$dir/logs" "$dir/corpus/$t" "$dir/artifacts/$t"
  # 1. every regression input, once each
  result=ok
  mapfile -t regs < <(find "tests/fuzz/regressions/$t" -type f 2>/dev/null | sort)
  if [ "${#regs[@]}" -gt 0 ]; then
    if ! "$exe" -timeout=10 "${regs[@]}" >"$dir/logs/$t.regressions.log" 2>&1; then
      result="REGRESSION FAILED (see $dir/logs/$t.regressions.log)"
      status=1
    fi
  fi
  # 2. fuzz for $secs seconds from the seeds and what earlier runs found
  seeds="tests/fuzz/corpus/$t"
  "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t/" "$dir/corpus/$t" $( [ -d "$seeds" ] && echo "$seeds" ) >"$out" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$out" | tail -n 1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$out" | tail -n 1 | cut -d' ' -f2)
  if [ "$rc" -ne 0 ]; then
    art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -n 1)
    result="CRASH: ${art:-see $out} ($(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [^ ]*\|runtime error: .*\|fuzz[a-z_]*: .*' "$out" | head -n 1))"
    status=1
  fi
  printf '%-22s %10s %8s %8s %7s  %s\n' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
  if [ "$rc" -ne 0 ] && [ -z "${FUZZ_QUIET:-}" ]; then
    grep -A 30 -m1 'ERROR: \|runtime error\|^fuzz' "$out" | head -n 40
  fi
done
[ "$status" -eq 0 ] && echo "fuzz: all targets clean (${secs} s each)" || echo "fuzz: FAILED"
exit "$status"
