"""Target: a real crash in host code, and a library that takes SIGSEGV over,
while the agent samples with guarded direct copies.

    python faults.py MODE

MODE:
  crash          wait until the agent reads with guarded copies, then crash
                 in ctypes.string_at(0): the process must die by SIGSEGV
  crash-before   faulthandler is enabled before the agent starts (the test
                 sets PYTHONFAULTHANDLER=1): the agent must stay off the
                 guarded copy; the crash prints faulthandler's traceback
  crash-after    wait for guarded copies, enable faulthandler, crash at
                 once: faulthandler's traceback, death by SIGSEGV
  takeover       wait for guarded copies, enable faulthandler, go on
                 working: the agent must fall back to the system call and
                 keep sampling; prints one JSON line (SPYTEST-RESULT)

Runs under LD_PRELOAD on CPython 3.9+ with the standard library only.
"""

import ctypes
import faulthandler
import json
import sys
import threading
import time

import spyagent

MARKER = "SPYTEST-RESULT "


def spin_in_crash_site(until):
    x = 0
    while time.perf_counter() < until:
        x += 1
    return x


def wait_for_method(want, timeout=10.0):
    end = time.time() + timeout
    st = spyagent.status()
    while time.time() < end:
        st = spyagent.status()
        if st["read_method"] == want:
            return st
        time.sleep(0.02)
    print("read_method stayed %r (%s), wanted %r" % (st["read_method"], st["read_method_reason"], want),
          file=sys.stderr, flush=True)
    return st


def crash_here():
    """The host's own bug: a NULL read in a C call."""
    spin_in_crash_site(time.perf_counter() + 0.2)     # sampled while we get here
    ctypes.string_at(0)


def busy(stop):
    while not stop.is_set():
        spin_in_crash_site(time.perf_counter() + 0.05)


def main():
    mode = sys.argv[1]
    stop = threading.Event()
    threading.Thread(target=busy, args=(stop,), name="busy", daemon=True).start()
    if mode == "crash":
        wait_for_method("guarded")
        crash_here()
    elif mode == "crash-before":
        time.sleep(1.0)          # past the warm-up
        st = spyagent.status()
        print("read_method %s (%s)" % (st["read_method"], st["read_method_reason"]), file=sys.stderr, flush=True)
        crash_here()
    elif mode == "crash-after":
        wait_for_method("guarded")
        faulthandler.enable()
        crash_here()
    elif mode == "takeover":
        before = wait_for_method("guarded")
        faulthandler.enable()
        after = wait_for_method("process_vm_readv", timeout=5.0)
        s0 = after["samples"]
        spin_in_crash_site(time.perf_counter() + 1.0)
        end = spyagent.status()
        top = spyagent.top(10)
        stop.set()
        print(MARKER + json.dumps({"before": before, "after": after, "end": end, "samples_before": s0,
                                   "top": [r["function"] for r in top]}), flush=True)
        return
    print("survived a crash", file=sys.stderr, flush=True)
    sys.exit(3)


if __name__ == "__main__":
    main()
