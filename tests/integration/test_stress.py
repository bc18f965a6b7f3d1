"""Does the agent survive a program that churns threads, frames and exceptions?

    test_stress.py PYTHON [READ_METHOD [SECONDS]]

Runs tests/targets/stress.py under PYTHON with LD_PRELOAD, SPY_RATE=2000 and
SPY_CPU_BUDGET=0 for SECONDS (else SPY_STRESS_SECONDS, default 30) seconds,
reading memory with READ_METHOD (SPY_READ_METHOD: auto, the default, which
is the guarded copy outside sanitizer builds; vm_readv; pipe), and checks: no
crash, no hang, exit code 0, no agent errors on stderr, and sane counters in
status() (samples > 0; torn_reads, dropped and missed_ticks are counts;
the read method in force is the one asked for).
Set SPY_STRESS_SECONDS to shorten it when running by hand.
"""

import os
import sys

import harness
from harness import Checks, log


def main():
    python = harness.python_from_argv(sys.argv, 1)
    harness.require_library()
    method = sys.argv[2] if len(sys.argv) > 2 else "auto"
    if method not in ("auto", "vm_readv", "pipe"):
        sys.exit("READ_METHOD must be auto, vm_readv or pipe")
    seconds = float(sys.argv[3] if len(sys.argv) > 3 else os.environ.get("SPY_STRESS_SECONDS") or 30)
    label = harness.label_of(python)
    c = Checks("test_stress %s %s" % (label, method))
    target = os.path.join(harness.SPY_TARGETS, "stress.py")
    env = harness.preload_env({"SPY_RATE": 2000, "SPY_CPU_BUDGET": 0, "SPY_READ_METHOD": method})
    cmd = [python, target, "%g" % seconds]
    log("running %s with LD_PRELOAD, SPY_RATE=2000, SPY_CPU_BUDGET=0, SPY_READ_METHOD=%s" % (" ".join(cmd), method))
    r = harness.run(cmd, env=env, timeout=seconds + 120)

    c.section("process")
    c.ok(not r.timed_out, "finished without hanging (%.1fs for a %gs run)" % (r.elapsed, seconds),
         r.describe() if r.timed_out else "")
    c.ok(r.rc is not None and r.rc >= 0, "not killed by a signal (%s)" % harness.describe_rc(r.rc),
         r.describe() if (r.rc is None or r.rc < 0) else "")
    c.process_ok(r, "stress.py")
    bad = harness.agent_error_lines(r.stderr)
    c.ok(not bad, "no agent errors or interpreter crashes on stderr", "\n".join(bad))
    res = harness.find_result(r.stdout)
    if not c.ok(res is not None, "target printed its result line", r.describe() if res is None else ""):
        c.finish()
    c.ok(not res["errors"], "no worker of the target failed", "\n".join(res["errors"])[:4000])
    log("  work done: %s" % ", ".join("%s=%s" % kv for kv in sorted(res["counts"].items())))
    for key in ("deep", "generators", "exceptions", "short_threads", "tiny_threads", "async_rounds", "c_calls", "api_reads"):
        c.ok(res["counts"].get(key, 0) > 0, "the target did %s" % key)

    c.section("status()")
    st = res["status"]
    log("  status: %s" % st)
    c.eq(st.get("running"), True, "agent still running at the end")
    c.eq(st.get("rate"), 2000, "rate")
    want = {"vm_readv": "process_vm_readv", "pipe": "pipe"}.get(method, "guarded")
    if want == "guarded" and harness.ASAN_RUNTIME:
        want = "process_vm_readv"       # the sanitizer owns SIGSEGV
    c.eq(st.get("read_method"), want, "read method in force (%s)" % st.get("read_method_reason"))
    c.ok(isinstance(st.get("samples"), int) and st["samples"] > 0, "samples > 0 (%r)" % st.get("samples"))
    for key in ("torn_reads", "dropped", "missed_ticks"):
        v = st.get(key)
        c.ok(isinstance(v, int) and not isinstance(v, bool) and v >= 0, "%s is a count (%r)" % (key, v))
    if isinstance(st.get("samples"), int) and isinstance(st.get("dropped"), int):
        c.ok(st["dropped"] <= st["samples"] * max(1, st.get("threads") or 1) * 64,
             "dropped (%d) is not absurd next to samples (%d)" % (st["dropped"], st["samples"]))
    c.ok(isinstance(st.get("uptime"), (int, float)) and st["uptime"] > 0, "uptime > 0")
    c.ok(res["top_rows"] > 0, "final top() has rows (%d)" % res["top_rows"])
    c.ok(res["dump_threads"] >= 1, "final dump() has threads (%d)" % res["dump_threads"])
    c.finish()


if __name__ == "__main__":
    main()
