"""Is work that repeats at the sampling interval seen at every phase?

    test_aliasing.py PYTHON

Runs tests/targets/lockstep.py under PYTHON with LD_PRELOAD, the CPU budget
off, at two rates with a period equal to the sampling interval: 1000 Hz with
a 1 ms period and 200 Hz with a 5 ms period.  Each period is three quarters
hot_a() and one quarter hot_b(), paced against absolute deadlines; a sampler
that ticks at exact deadlines sees one phase only (0 or 100 % hot_a).  The
sampling instants are jittered inside each interval, so hot_a's share of the
two functions' own samples must match the share of wall time the target
really spent in it (75 % on a quiet machine; the target measures it, since a
loaded machine stretches some periods), within 5 points.
"""

import os
import sys

import harness
from harness import Checks, log

TOLERANCE = 5.0     # percentage points
RUNS = ((1000, 1.0, 4.0), (200, 5.0, 5.0))   # rate Hz, period ms, seconds


def main():
    python = harness.python_from_argv(sys.argv, 1)
    harness.require_library()
    label = harness.label_of(python)
    c = Checks("test_aliasing %s" % label)
    target = os.path.join(harness.SPY_TARGETS, "lockstep.py")
    for rate, period, seconds in RUNS:
        c.section("%d Hz, %g ms period" % (rate, period))
        env = harness.preload_env({"SPY_RATE": rate, "SPY_CPU_BUDGET": 0})
        cmd = [python, target, "%g" % period, "%g" % seconds]
        log("running %s" % " ".join(cmd))
        r = harness.run(cmd, env=env, timeout=seconds + 60)
        if not c.process_ok(r, "lockstep.py"):
            continue
        res = harness.find_result(r.stdout)
        if not c.ok(res is not None, "target printed its result line", r.describe() if res is None else ""):
            continue
        own = {row["function"]: row["own"] for row in res["top"]}
        a, b = own.get("hot_a", 0), own.get("hot_b", 0)
        if not c.ok(a + b >= 200, "enough samples in hot_a and hot_b (%d + %d)" % (a, b),
                    "top: %s" % res["top"][:6]):
            continue
        share = 100.0 * a / (a + b)
        truth = 100.0 * res["wall_a"] / (res["wall_a"] + res["wall_b"])
        c.ok(abs(share - truth) <= TOLERANCE, "hot_a has %.1f %% of hot_a + hot_b samples; it ran %.1f %% of "
             "the time (+- %g)" % (share, truth, TOLERANCE), "status: %s" % res["status"])
    c.finish()


if __name__ == "__main__":
    main()
