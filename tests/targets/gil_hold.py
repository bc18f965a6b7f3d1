"""Target: the main thread holds the GIL in one long C call.

    python gil_hold.py [SECONDS [GO_FILE]]     (default 6, no GO_FILE)

With GO_FILE, it waits (at most 60 s) for that file to exist before the call,
so a test can connect to the agent first.

hold_gil() calls the builtin sum() over a range sized (by a short
calibration) to take about SECONDS: sum() of small ints runs in C without
ever releasing the GIL or reaching the eval loop, so no Python code runs in
the process meanwhile, and an agent that needed the GIL would be stuck.

Just before the call it prints one line
    SPYTEST-READY {"function": "hold_gil", "file": ..., "line": <line of the call>, "n": ..., "estimate": ...}
and after it
    SPYTEST-DONE {"elapsed": ...}
A second thread sleeps (so the process has more than one thread), then the
script exits 0.
"""

import json
import os
import sys
import threading
import time


def calibrate():
    n = 10 ** 7
    t0 = time.perf_counter()
    sum(range(n))
    return n / max(time.perf_counter() - t0, 1e-6)


def hold_gil(n):
    here = sys._getframe()
    info = {"function": here.f_code.co_name, "file": here.f_code.co_filename, "line": here.f_lineno + 4,
            "thread_id": threading.get_ident()}
    print("SPYTEST-READY " + json.dumps(dict(info, n=n, estimate=n / RATE)), flush=True)
    t0 = time.monotonic()
    total = sum(range(n))  # the line reported above: here.f_lineno + 4
    return total, time.monotonic() - t0


def sleeper(stop):
    stop.wait(60)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    stop = threading.Event()
    t = threading.Thread(target=sleeper, args=(stop,), name="sleeper", daemon=True)
    t.start()
    go = sys.argv[2] if len(sys.argv) > 2 else None
    deadline = time.monotonic() + 60
    while go and not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    RATE = calibrate()
    total, elapsed = hold_gil(int(RATE * seconds))
    print("SPYTEST-DONE " + json.dumps({"elapsed": elapsed}), flush=True)
    stop.set()
    t.join(5)
