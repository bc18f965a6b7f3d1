#!/usr/bin/env bash
# Run every spyagent benchmark against one build and print one Markdown
# report on stdout (progress goes to stderr). Not part of the test suite.
#
#   tests/bench/run_all.sh BUILD_DIR            # full settings (~25 minutes)
#   QUICK=1 tests/bench/run_all.sh BUILD_DIR    # short settings (~5 minutes)
#
# Exit status: 0 when every benchmark ran, 1 when one of them failed (the
# others still run), 2 on a usage error.
set -u

usage() { echo "usage: [QUICK=1] $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
build=$1
if [ ! -f "$build/agent/libspyagent.so" ]; then
    echo "$0: $build/agent/libspyagent.so not found; build the agent first (ninja -C $build)" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}

if [ "${QUICK:-0}" = 1 ]; then
    cost=(--rounds 3 --seconds 1.5)
    thr=(--rounds 7 --seconds 1)
    wrk=(--rounds 3 --duration 5 --warmup 1 --paths /json)
    rss=(--seconds 20)
else
    cost=(); thr=(); wrk=(); rss=()
fi

failed=0
run() {
    local name=$1; shift
    echo "== $name" >&2
    if ! "$py" "$here/$name" --build "$build" "$@"; then
        echo "$0: $name failed" >&2
        failed=1
    fi
}

echo "## spyagent benchmarks"
echo
echo "Commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC')."
echo
run bench_sample_cost.py "${cost[@]}"
run bench_throughput.py "${thr[@]}"
run bench_wrk.py "${wrk[@]}"
run bench_rss.py "${rss[@]}"
exit $failed
