"""Target for bench_throughput.py: a CPU-bound pure-Python loop.

    python loop.py SECONDS DEPTH WARMUP

Recurses DEPTH frames, warms up for WARMUP seconds, then counts how many
work units (a small pure-Python function) complete in SECONDS of wall time.
Prints one JSON line: units per wall second, units per process-CPU second
(CPU of all threads, so the sampler thread's time is counted against the
loop even when other processes share the core), and, when the agent is
loaded (BENCH_AGENT=1), spyagent.status().
"""

import json
import os
import sys
import time


def unit(n=64):
    """One unit of work: a tight loop of integer arithmetic."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFF
    return acc


def run(seconds):
    count = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    deadline = start + seconds
    now = start
    while now < deadline:
        for _ in range(20):
            unit()
        count += 20
        now = time.perf_counter()
    return count, now - start, time.process_time() - cpu0


def descend(levels, seconds, warmup):
    if levels > 0:
        return descend(levels - 1, seconds, warmup)
    run(warmup)
    return run(seconds)


def main():
    seconds, depth, warmup = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    count, wall, cpu = descend(max(0, depth - 4), seconds, warmup)
    out = {"units": count, "wall": wall, "cpu": cpu,
           "per_wall_s": count / wall, "per_cpu_s": count / cpu if cpu > 0 else None}
    if os.environ.get("BENCH_AGENT") == "1":
        import spyagent
        st = spyagent.status()
        out["agent"] = {k: st.get(k) for k in (
            "running", "rate", "effective_rate", "samples", "dropped", "missed_ticks",
            "sampler_cpu_seconds", "sample_cost_us", "read_method")}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
