"""Does a real crash in the host stay a crash, and does the agent give way
when another library takes SIGSEGV over?

    test_faults.py PYTHON

With the agent sampling at 2 kHz through guarded direct copies (our own
SIGSEGV/SIGBUS handlers turn a fault in one of our copies into a failed
read), runs tests/targets/faults.py under PYTHON and checks:
  - a NULL read in host code (ctypes.string_at(0)) kills the process by
    SIGSEGV, as without the agent, and never hangs;
  - with faulthandler enabled before the agent starts, the agent stays on
    the system call (and says why), faulthandler's traceback still prints,
    and the process dies by SIGSEGV;
  - with faulthandler enabled after the agent took the signals, the crash
    still prints faulthandler's traceback and dies by SIGSEGV;
  - when faulthandler takes the signals over while the process goes on, the
    agent falls back to process_vm_readv for good, says so once on stderr,
    and keeps sampling correctly.
Skipped in the sanitizer build, where AddressSanitizer owns SIGSEGV and
turns crashes into its own reports (the agent never takes the signals
there: test_threads and test_stress check that it reads by system call).
"""

import os
import signal
import sys

import harness
from harness import Checks, log


def main():
    python = harness.python_from_argv(sys.argv, 1)
    harness.require_library()
    if harness.ASAN_RUNTIME:
        log("skipped: AddressSanitizer owns SIGSEGV in this build")
        sys.exit(77)
    label = harness.label_of(python)
    c = Checks("test_faults %s" % label)
    target = os.path.join(harness.SPY_TARGETS, "faults.py")
    cfg = {"SPY_RATE": 2000, "SPY_CPU_BUDGET": 0}

    def run(mode, extra=None):
        env = harness.preload_env(dict(cfg, **(extra or {})))
        log("running %s %s %s" % (python, target, mode))
        return harness.run([python, target, mode], env=env, timeout=60)

    for mode, extra in (("crash", None), ("crash-before", {"PYTHONFAULTHANDLER": "1"}), ("crash-after", None)):
        c.section(mode)
        r = run(mode, extra)
        c.ok(not r.timed_out, "no hang (%.1fs)" % r.elapsed, r.describe() if r.timed_out else "")
        c.ok(r.rc == -signal.SIGSEGV, "died by SIGSEGV (%s)" % harness.describe_rc(r.rc), r.describe())
        c.ok("survived a crash" not in r.stderr, "did not survive the crash")
        if mode == "crash":
            c.ok("read_method stayed" not in r.stderr, "the agent was on guarded copies when it crashed",
                 r.stderr[-2000:])
            c.ok("Fatal Python error" not in r.stderr, "no faulthandler output without faulthandler")
        else:
            c.ok("Fatal Python error: Segmentation fault" in r.stderr, "faulthandler's message printed",
                 r.stderr[-2000:])
            c.ok("crash_here" in r.stderr, "faulthandler's traceback names the crashing function",
                 r.stderr[-2000:])
        if mode == "crash-before":
            c.ok("read_method process_vm_readv (another handler" in r.stderr,
                 "with faulthandler first, the agent stays on process_vm_readv and says why", r.stderr[-2000:])
        else:
            c.ok("read_method stayed" not in r.stderr, "guarded copies were in force before the crash",
                 r.stderr[-2000:])

    c.section("takeover")
    r = run("takeover")
    c.process_ok(r, "faults.py takeover")
    res = harness.find_result(r.stdout)
    if not c.ok(res is not None, "target printed its result line", r.describe() if res is None else ""):
        c.finish()
    c.eq(res["before"]["read_method"], "guarded", "guarded copies before faulthandler.enable()")
    c.eq(res["after"]["read_method"], "process_vm_readv", "process_vm_readv after it")
    c.ok("took SIGSEGV or SIGBUS over" in res["after"]["read_method_reason"],
         "status says why: %r" % res["after"]["read_method_reason"])
    said = [l for l in r.stderr.splitlines() if "SIGSEGV or SIGBUS handler" in l]
    c.ok(len(said) == 1, "said so once on stderr (%d lines)" % len(said), r.stderr[-2000:])
    c.ok(res["end"]["samples"] > res["samples_before"] + 200,
         "kept sampling (%d -> %d)" % (res["samples_before"], res["end"]["samples"]))
    c.ok("spin_in_crash_site" in res["top"], "top still finds the busy function: %s" % res["top"])
    c.finish()


if __name__ == "__main__":
    main()
