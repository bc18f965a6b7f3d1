"""Does the sampler keep to SPY_CPU_BUDGET?

    test_budget.py PYTHON

Runs tests/targets/budget.py (one busy thread, 60 frames deep) at
SPY_RATE=5000 three ways: with a budget far below what 5000 Hz costs
(0.05 % of a core), with the cap off (SPY_CPU_BUDGET=0) and with the default
budget at the default rate. Checks what status() says, not how fast anything
ran: the tight budget lowers the effective rate below the configured one and
says so in status(); with the cap off the effective rate stays the configured
rate; the defaults are 100 Hz and 1 %.
"""

import os
import sys

import harness
from harness import Checks


def run(c, python, what, extra):
    target = os.path.join(harness.SPY_TARGETS, "budget.py")
    r = harness.run([python, target, "3"], env=harness.preload_env(extra), timeout=120)
    c.process_ok(r, what)
    res = harness.find_result(r.stdout)
    if not c.ok(res is not None, "%s: printed its status" % what, r.describe()):
        c.finish()
    st = res["status"]
    harness.log("  %s: rate %s, effective_rate %s, samples %s, sampler_cpu_seconds %.4f, cost %.1f us"
                % (what, st["rate"], st["effective_rate"], st["samples"], st["sampler_cpu_seconds"],
                   st["sample_cost_us"]))
    return st


def main():
    python = harness.python_from_argv(sys.argv, 1)
    harness.require_library()
    c = Checks("test_budget %s" % harness.label_of(python))

    c.section("tight budget")
    st = run(c, python, "5000 Hz within 0.05% of a core", {"SPY_RATE": 5000, "SPY_CPU_BUDGET": 0.05})
    c.eq(st["rate"], 5000, "configured rate reported")
    c.eq(st["cpu_budget"], 0.05, "budget reported")
    c.ok(st["effective_rate"] < 5000, "effective rate lowered below 5000 Hz (%s Hz)" % st["effective_rate"])
    c.ok(st["effective_rate"] >= 1, "effective rate stays at least 1 Hz")
    c.ok(st["samples"] > 0, "still sampling (%s samples)" % st["samples"])

    c.section("cap off")
    st = run(c, python, "5000 Hz with SPY_CPU_BUDGET=0", {"SPY_RATE": 5000, "SPY_CPU_BUDGET": 0})
    c.eq(st["effective_rate"], 5000, "effective rate is the configured rate")

    c.section("defaults")
    st = run(c, python, "default rate and budget", {})
    c.eq(st["rate"], 100, "default rate")
    c.eq(st["cpu_budget"], 1.0, "default budget: 1% of a core")
    c.ok(1 <= st["effective_rate"] <= 100, "effective rate within 1..100 Hz (%s)" % st["effective_rate"])
    c.finish()


if __name__ == "__main__":
    main()
