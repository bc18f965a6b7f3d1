"""Target: one CPU-bound thread with a known 75/25 split, one sleeping thread.

    python two_threads.py SECONDS [preload|import]

Threads:
  "hot-worker"  runs hot_worker_main(), which alternates between Burner.hot_a()
                and Burner.hot_b(), giving hot_a 75% and hot_b 25% of the thread's
                time.  Slices are measured in wall time (time.perf_counter), as a
                sampler sees them: with thread_time() a thread preempted on a
                loaded machine spends more wall time (and samples) in one slice
                than its CPU share says.  Slice lengths are randomised so that
                they cannot beat with the sampler.
  "sleeper"     sleeps in idle_wait() (time.sleep in a loop).
  MainThread    waits, then takes several spyagent.dump() snapshots from
                take_dumps() and prints one JSON line (marker SPYTEST-RESULT) with:
                top, top_idle, dumps, status, and "expect": the names, files and
                line numbers the agent should report, computed here with
                inspect/ast from this very source, so nothing is hard-coded.

Mode "import": the script imports spyagent and starts it itself with
spyagent.start(...), passing the SPY_RATE / SPY_CPU_BUDGET values from the
environment as keywords (if importing already started the agent, it is stopped
first, so this also covers a stop/start cycle).  Mode "preload": the
agent was started by LD_PRELOAD; the script only imports spyagent to read it.
Runs on CPython 3.9+ with the standard library only.
"""

import ast
import inspect
import json
import os
import random
import sys
import threading
import time

MARKER = "SPYTEST-RESULT "

STOP = threading.Event()


class Burner(object):
    """CPU work; methods so that qualified names (Burner.hot_a) can be checked."""

    def hot_a(self, until):
        x = 0
        while time.perf_counter() < until:
            for i in range(300):
                x += i * i
        return x

    def hot_b(self, until):
        y = 1
        while time.perf_counter() < until:
            for j in range(300):
                y ^= j * 7
        return y


# Wall time really spent in hot_a and hot_b: 75/25 on a quiet machine; a
# loaded one stretches slices past their deadlines, and the sampler must
# then agree with what happened, not with the plan.
SPENT = {"hot_a": 0.0, "hot_b": 0.0}


def hot_worker_main():
    burner = Burner()
    rnd = random.Random(1234)
    while not STOP.is_set():
        cycle = rnd.uniform(0.004, 0.040)  # seconds
        t0 = time.perf_counter()
        burner.hot_a(t0 + cycle * 0.75)
        t1 = time.perf_counter()
        burner.hot_b(t1 + cycle * 0.25)
        SPENT["hot_a"] += t1 - t0
        SPENT["hot_b"] += time.perf_counter() - t1


def idle_wait():
    while not STOP.is_set():
        time.sleep(0.05)


def main_wait(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def take_dumps(spyagent, count, spacing):
    dumps = []
    for _ in range(count):
        time.sleep(spacing)
        d = spyagent.dump()
        dumps.append(d)
    return dumps


# ------------------------------------------------------------ what to expect

def qualname_of(func):
    code = func.__code__
    return getattr(code, "co_qualname", code.co_name)


def _node_of(func):
    """The ast node of func's definition, found by its first line in this file."""
    with open(func.__code__.co_filename) as f:
        tree = ast.parse(f.read())
    first = func.__code__.co_firstlineno
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno == first \
                and node.name == func.__code__.co_name:
            return node
    raise RuntimeError("no definition of %s at line %d" % (func.__name__, first))


def loop_lines(func):
    """Every line of func, from the `def` (a frame that has just been
    entered, or is about to return, is at the definition's line) through
    the set-up before its (outermost) while loop and the loop itself to the
    `return` after it: a slice that just began or just ran out is there.
    Where a sample may land."""
    node = _node_of(func)
    for sub in ast.walk(node):
        if isinstance(sub, ast.While):
            return list(range(func.__code__.co_firstlineno, node.end_lineno + 1))
    raise RuntimeError("no while loop in %s" % func.__name__)


def call_line(func, attr):
    """Line of the call `something.attr(...)` inside func."""
    node = _node_of(func)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == attr:
            return sub.lineno
    raise RuntimeError("no call to .%s in %s" % (attr, func.__name__))


def describe(func):
    code = func.__code__
    # inspect agrees with the code object: a cross-check that the ast lookup is right.
    src, src_first = inspect.getsourcelines(func)
    assert src_first == code.co_firstlineno, (src_first, code.co_firstlineno)
    return {"function": qualname_of(func), "name": code.co_name,
            "file": code.co_filename, "line": code.co_firstlineno,
            "last_line": src_first + len(src) - 1}


def expectations():
    exp = {}
    for key, func in (("hot_a", Burner.hot_a), ("hot_b", Burner.hot_b),
                      ("hot_worker_main", hot_worker_main), ("idle_wait", idle_wait),
                      ("main_wait", main_wait), ("take_dumps", take_dumps)):
        exp[key] = describe(func)
    for key, func in (("hot_a", Burner.hot_a), ("hot_b", Burner.hot_b),
                      ("hot_worker_main", hot_worker_main), ("idle_wait", idle_wait)):
        exp[key]["loop_lines"] = loop_lines(func)
    exp["take_dumps"]["dump_call_line"] = call_line(take_dumps, "dump")
    exp["thread_run"] = describe(threading.Thread.run)
    exp["thread_bootstrap"] = describe(threading.Thread._bootstrap)
    return exp


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    mode = sys.argv[2] if len(sys.argv) > 2 else "preload"
    started = auto_started = None
    if mode == "import":
        import spyagent
        config = {}
        if os.environ.get("SPY_RATE"):
            config["rate"] = int(os.environ["SPY_RATE"])
        if os.environ.get("SPY_CPU_BUDGET"):
            budget = float(os.environ["SPY_CPU_BUDGET"])
            config["cpu_budget"] = int(budget) if budget.is_integer() else budget
        auto_started = spyagent.status()["running"]
        if auto_started:
            spyagent.stop()  # importing started it with the environment: restart with keywords
        started = spyagent.start(**config)
    elif mode != "preload":
        sys.exit("mode must be preload or import, not %r" % mode)

    hot = threading.Thread(target=hot_worker_main, name="hot-worker", daemon=True)
    sleeper = threading.Thread(target=idle_wait, name="sleeper", daemon=True)
    hot.start()
    sleeper.start()

    main_wait(seconds)

    import spyagent  # preload mode: the agent LD_PRELOAD already started
    dumps = take_dumps(spyagent, 20, 0.05)
    result = {
        "mode": mode,
        "started_by_start": started,
        "auto_started": auto_started,
        "spent": dict(SPENT),
        "top": spyagent.top(50),
        "top_idle": spyagent.top(50, idle=True),
        "dumps": dumps,
        "status": spyagent.status(),
        "expect": expectations(),
        "threads": {
            "MainThread": {"thread_id": threading.get_ident(), "tid": threading.get_native_id()},
            "hot-worker": {"thread_id": hot.ident, "tid": hot.native_id},
            "sleeper": {"thread_id": sleeper.ident, "tid": sleeper.native_id},
        },
        "cpu_seconds": time.process_time(),
        "python": list(sys.version_info[:3]),
        "pid": os.getpid(),
    }
    STOP.set()
    hot.join(10)
    sleeper.join(10)
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
