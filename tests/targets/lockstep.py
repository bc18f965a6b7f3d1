"""Target: work that repeats exactly at the sampling interval.

    python lockstep.py PERIOD_MS SECONDS

Each period, measured against absolute deadlines on the monotonic clock,
spends its first three quarters in hot_a() and the last quarter in hot_b().
With the agent sampling once per period at fixed instants, every sample
would fall at the same phase: 0 % or 100 % hot_a from run to run.  With
the sampling instants jittered, hot_a gets 75 % of the two functions' own
samples.  Prints one JSON line (SPYTEST-RESULT) with spyagent.top() and the
agent's status.  Runs under LD_PRELOAD on CPython 3.9+, standard library only.
"""

import json
import sys
import time

import spyagent

MARKER = "SPYTEST-RESULT "


def hot_a(until):
    while time.perf_counter() < until:
        pass


def hot_b(until):
    while time.perf_counter() < until:
        pass


def main():
    period = float(sys.argv[1]) / 1000.0
    seconds = float(sys.argv[2])
    time.sleep(0.7)                 # past the agent's warm-up
    spyagent.reset()
    start = time.perf_counter()
    k = 0
    spent = [0.0, 0.0]      # wall time really spent in hot_a and hot_b
    while True:
        t0 = start + k * period
        now = time.perf_counter()
        if now - start >= seconds:
            break
        if now > t0 + period:       # fell behind (preempted): rejoin the grid
            k = int((now - start) / period)
            continue
        t1 = time.perf_counter()
        hot_a(t0 + 0.75 * period)
        t2 = time.perf_counter()
        hot_b(t0 + period)
        spent[0] += t2 - t1
        spent[1] += time.perf_counter() - t2
        k += 1
    print(MARKER + json.dumps({"top": spyagent.top(20), "status": spyagent.status(),
                               "wall_a": spent[0], "wall_b": spent[1]}), flush=True)


if __name__ == "__main__":
    main()
