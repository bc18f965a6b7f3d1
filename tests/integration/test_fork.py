"""Can a threaded program fork under the agent?

    test_fork.py PYTHON

Runs tests/targets/fork_app.py under PYTHON with LD_PRELOAD at SPY_RATE=1000
(CPU budget off): 50 forks from a process with busy threads, children leaving
by os._exit(0) or by a normal exit, some of them calling spyagent.dump().
Checks: the parent finishes (no hang) with exit code 0, every child exits 0
(none hangs, none crashes), the child's dump() shows only the forking thread,
no agent errors on stderr, and the parent's agent is still sampling.
"""

import os
import signal
import sys

import harness
from harness import Checks, log

FORKS = 50


def main():
    python = harness.python_from_argv(sys.argv, 1)
    harness.require_library()
    label = harness.label_of(python)
    c = Checks("test_fork %s" % label)
    target = os.path.join(harness.SPY_TARGETS, "fork_app.py")
    env = harness.preload_env({"SPY_RATE": 1000, "SPY_CPU_BUDGET": 0})
    cmd = [python, target, str(FORKS)]
    log("running %s with LD_PRELOAD, SPY_RATE=1000" % " ".join(cmd))
    r = harness.run(cmd, env=env, timeout=300)

    c.section("parent")
    c.ok(not r.timed_out, "parent finished without hanging (%.1fs)" % r.elapsed, r.describe() if r.timed_out else "")
    c.process_ok(r, "fork_app.py")
    bad = harness.agent_error_lines(r.stderr)
    c.ok(not bad, "no agent errors or crashes on stderr", "\n".join(bad))
    res = harness.find_result(r.stdout)
    if not c.ok(res is not None, "parent printed its result line", r.describe() if res is None else ""):
        c.finish()

    c.section("children")
    kids = res["children"]
    c.eq(len(kids), FORKS, "number of children forked and reaped")
    hung = [k["n"] for k in kids if k.get("hung")]
    c.ok(not hung, "no child hung (killed after 30 s: %s)" % hung)
    crashed = ["child %d: %s" % (k["n"], signal.Signals(k["signal"]).name) for k in kids if "signal" in k]
    c.ok(not crashed, "no child died of a signal", "\n".join(crashed))
    wrong = [k for k in kids if k.get("exit") not in (0, None) or "raw" in k]
    dump_wrong = [k["n"] for k in wrong if k.get("exit") == 3]
    dump_raised = [k["n"] for k in wrong if k.get("exit") == 4]
    other = [k for k in wrong if k.get("exit") not in (3, 4)]
    c.ok(not dump_wrong, "dump() in a child shows only the forking thread", "children %s; stderr:\n%s" % (dump_wrong, r.stderr[-3000:]))
    c.ok(not dump_raised, "dump() in a child does not raise", "children %s; stderr:\n%s" % (dump_raised, r.stderr[-3000:]))
    c.ok(not other, "every other child exits 0", str(other))
    log("  exits: %s" % sorted(set(str(k.get("exit", k.get("signal"))) for k in kids)))

    c.section("parent's agent")
    st = res["status"]
    log("  status: %s" % st)
    c.eq(st.get("running"), True, "agent still running in the parent")
    c.eq(st.get("pid"), res["pid"], "status() pid is the parent's")
    c.ok(isinstance(st.get("samples"), int) and st["samples"] > 0, "samples > 0 (%r)" % st.get("samples"))
    c.finish()


if __name__ == "__main__":
    main()
