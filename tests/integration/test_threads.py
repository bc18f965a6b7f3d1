"""Does the profile of a two-thread program say what really happened?

    test_threads.py PYTHON preload|import

Runs tests/targets/two_threads.py under PYTHON at 1000 Hz with the CPU budget
off, the agent loaded by LD_PRELOAD or by the script's own `import spyagent` +
start(), and checks:
  - top(): Burner.hot_a has 75% and Burner.hot_b 25% of their combined own
    samples (within 5 points of the split the target measured it really ran,
    which is 75/25 unless a loaded machine stretched its slices); names are qualified on 3.11+ and bare on
    3.9/3.10; files and definition lines are those of the code objects;
    rows are sorted, percents consistent, the sleeping thread is left out
    unless idle=True;
  - dump(): MainThread, hot-worker and sleeper with their ids, frames innermost
    first with the current line inside the right loop, sleeper idle and
    hot-worker busy;
  - status(): running, samples > 0, counters present.
"""

import os
import sys

import harness
from harness import Checks, log

SECONDS = 5
RATE = 1000
SHARE_TOLERANCE = 5.0  # percentage points

STATUS_KEYS = {
    "version": str, "pid": int, "python_version": str, "running": bool, "rate": (int, float),
    "effective_rate": (int, float), "samples": int, "dropped": int, "torn_reads": int,
    "missed_ticks": int, "uptime": (int, float), "cpu_budget": (int, float),
    "sampler_cpu_seconds": (int, float), "read_method": str, "threads": int,
    "sample_cost_us": (int, float),
}
TOP_KEYS = {"function": str, "file": str, "line": int, "own": int, "total": int,
            "own_pct": (int, float), "total_pct": (int, float)}
DUMP_KEYS = {"tid": int, "thread_id": int, "name": (str, type(None)), "gil": bool, "idle": bool,
             "frames": list}
FRAME_KEYS = {"function": str, "file": str, "line": int}


def type_problems(obj, spec, what):
    """List of problems with the keys and value types of a dict."""
    if not isinstance(obj, dict):
        return ["%s is %s, not a dict" % (what, type(obj).__name__)]
    out = []
    for key, types in spec.items():
        if key not in obj:
            out.append("%s has no key %r" % (what, key))
        elif isinstance(obj[key], bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            out.append("%s[%r] = %r is a bool, expected %s" % (what, key, obj[key], types))
        elif not isinstance(obj[key], types):
            out.append("%s[%r] = %r has type %s, expected %s" % (what, key, obj[key], type(obj[key]).__name__, types))
    return out


def same_file(a, b):
    return a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def find_row(rows, exp):
    for row in rows:
        if row.get("function") == exp["function"] and row.get("file") == exp["file"] and row.get("line") == exp["line"]:
            return row
    return None


def near_rows(rows, exp):
    """Rows that look like exp (same bare name): shown when the exact row is missing."""
    return [r for r in rows if str(r.get("function", "")).split(".")[-1] == exp["name"]]


def fmt_frames(frames):
    return "\n".join("  %s  %s:%s" % (f.get("function"), f.get("file"), f.get("line")) for f in frames)


def frame_problem(frame, exp, lines=None):
    """None if frame is exp's function (right name, file, and a plausible line)."""
    if frame.get("function") != exp["function"]:
        return "function %r, expected %r" % (frame.get("function"), exp["function"])
    if not same_file(str(frame.get("file")), exp["file"]):
        return "file %r, expected %r" % (frame.get("file"), exp["file"])
    valid = lines if lines is not None else range(exp["line"], exp["last_line"] + 1)
    if frame.get("line") not in valid:
        return "%s at line %r, expected one of %s" % (exp["function"], frame.get("line"), list(valid))
    return None


def check_thread_tail(frames, exp, start):
    """frames[start] is Thread.run and the outermost is Thread._bootstrap."""
    if len(frames) < start + 2:
        return "only %d frames" % len(frames)
    p = frame_problem(frames[start], exp["thread_run"])
    if p:
        return "frame %d (caller of the target): %s" % (start, p)
    p = frame_problem(frames[-1], exp["thread_bootstrap"])
    if p:
        return "outermost frame: %s" % p
    return None


def check_hot_worker(t, exp):
    """(problem or None, innermost function key)."""
    frames = t["frames"]
    if not frames:
        return "no frames", None
    inner = None
    for key in ("hot_a", "hot_b"):
        if frames[0].get("function") == exp[key]["function"]:
            inner = key
    if inner:
        p = frame_problem(frames[0], exp[inner], exp[inner]["loop_lines"])
        if p:
            return "innermost frame: " + p, inner
        if len(frames) < 2:
            return "no caller below %s" % inner, inner
        p = frame_problem(frames[1], exp["hot_worker_main"], exp["hot_worker_main"]["loop_lines"])
        if p:
            return "frame 1: " + p, inner
        return check_thread_tail(frames, exp, 2), inner
    # Between two slices: hot_worker_main itself is the innermost frame, or
    # it is one frame out, in a standard-library helper it calls
    # (random.Random.uniform picks the next slice's length, Event.is_set
    # checks whether to stop).
    if len(frames) >= 2 and frames[1].get("function") == exp["hot_worker_main"]["function"] \
            and str(frames[0].get("file")) != exp["hot_worker_main"]["file"]:
        frames = frames[1:]
    p = frame_problem(frames[0], exp["hot_worker_main"], exp["hot_worker_main"]["loop_lines"])
    if p:
        return "innermost frame is neither hot_a, hot_b nor hot_worker_main: " + p, None
    return check_thread_tail(frames, exp, 1), "hot_worker_main"


def check_sleeper(t, exp):
    frames = t["frames"]
    if not frames:
        return "no frames"
    p = frame_problem(frames[0], exp["idle_wait"], exp["idle_wait"]["loop_lines"])
    if p:
        return "innermost frame: " + p
    return check_thread_tail(frames, exp, 1)


def check_main(t, exp):
    frames = t["frames"]
    if len(frames) < 2:
        return "%d frames, expected take_dumps <- main <- <module>" % len(frames)
    td = exp["take_dumps"]
    p = frame_problem(frames[0], td, [td["dump_call_line"]])
    if p:
        return "innermost frame (the dump() call): " + p
    if frames[1].get("function") != "main" or not same_file(str(frames[1].get("file")), td["file"]):
        return "frame 1 is %r in %r, expected main in %s" % (frames[1].get("function"), frames[1].get("file"), td["file"])
    if frames[-1].get("function") != "<module>":
        return "outermost frame is %r, expected <module>" % frames[-1].get("function")
    return None


def main():
    python = harness.python_from_argv(sys.argv, 1)
    mode = sys.argv[2] if len(sys.argv) > 2 else "preload"
    if mode not in ("preload", "import"):
        sys.exit("mode must be preload or import")
    asked = sys.argv[3] if len(sys.argv) > 3 else "auto"
    harness.require_library()
    label = harness.label_of(python)
    version = harness.version_of(python)
    c = Checks("test_threads %s %s" % (mode, label))
    target = os.path.join(harness.SPY_TARGETS, "two_threads.py")
    cfg = {"SPY_RATE": RATE, "SPY_CPU_BUDGET": 0, "SPY_READ_METHOD": asked}
    env = harness.preload_env(cfg) if mode == "preload" else harness.import_env(cfg)
    cmd = [python, target, str(SECONDS), mode]
    log("running %s (mode %s, SPY_RATE=%d, SPY_CPU_BUDGET=0)" % (" ".join(cmd), mode, RATE))
    r = harness.run(cmd, env=env, timeout=SECONDS + 120)

    c.section("process")
    if not c.process_ok(r, "two_threads.py"):
        c.abort("target did not finish normally")
    res = harness.find_result(r.stdout)
    if not c.ok(res is not None, "target printed its result line"):
        c.abort("no result line", r)
    bad = harness.agent_error_lines(r.stderr)
    c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
    exp = res["expect"]
    if mode == "import":
        if res["auto_started"]:
            c.note("importing spyagent started the agent by itself; the target stopped it and called start()")
        c.eq(res["started_by_start"], True, "spyagent.start(rate=%d, cpu_budget=0) started the agent" % RATE)

    # The test's own expectations must be right before judging the agent by them.
    if version[:2] >= (3, 11):
        c.eq(exp["hot_a"]["function"], "Burner.hot_a", "expected name on %s is qualified" % label)
    else:
        c.eq(exp["hot_a"]["function"], "hot_a", "expected name on %s is the bare co_name" % label)
    c.ok(os.path.isabs(exp["hot_a"]["file"]), "co_filename of the target is absolute")

    c.section("status()")
    st = res["status"]
    probs = type_problems(st, STATUS_KEYS, "status()")
    c.ok(not probs, "status() has every key with the right type", "\n".join(probs))
    c.eq(st.get("running"), True, "status()['running']")
    c.eq(st.get("pid"), res["pid"], "status()['pid'] is the target's pid")
    c.ok(isinstance(st.get("samples"), int) and st["samples"] > 0, "samples > 0 (got %r)" % st.get("samples"))
    c.ok(isinstance(st.get("torn_reads"), int) and st["torn_reads"] >= 0, "torn_reads is a count (got %r)" % st.get("torn_reads"))
    c.ok(isinstance(st.get("dropped"), int) and st["dropped"] >= 0, "dropped is a count (got %r)" % st.get("dropped"))
    c.eq(st.get("rate"), RATE, "status()['rate'] is the configured rate")
    c.eq(st.get("cpu_budget"), 0, "status()['cpu_budget'] is off")
    c.ok(str(st.get("python_version", "")).startswith(label), "python_version %r starts with %s" % (st.get("python_version"), label))
    # guarded direct copies after the warm-up, except where asked otherwise
    # or where a sanitizer owns SIGSEGV (then the system call, said why)
    want = {"vm_readv": "process_vm_readv", "pipe": "pipe"}.get(asked, "guarded")
    if want == "guarded" and harness.ASAN_RUNTIME:
        want = "process_vm_readv"
    c.eq(st.get("read_method"), want, "read_method (SPY_READ_METHOD=%s; reason: %s)"
         % (asked, st.get("read_method_reason")))
    c.ok(isinstance(st.get("read_method_reason"), str) and st["read_method_reason"] != "",
         "read_method_reason says why: %r" % st.get("read_method_reason"))
    c.eq(st.get("threads"), 3, "threads seen in the last sample (MainThread, hot-worker, sleeper)")

    c.section("top()")
    top = res["top"]
    top_idle = res["top_idle"]
    for name, rows in (("top(50)", top), ("top(50, idle=True)", top_idle)):
        probs = []
        for i, row in enumerate(rows):
            probs += type_problems(row, TOP_KEYS, "%s[%d]" % (name, i))
        c.ok(isinstance(rows, list) and 0 < len(rows) <= 50 and not probs,
             "%s: %d rows, each with function/file/line/own/total/own_pct/total_pct" % (name, len(rows)),
             "\n".join(probs[:20]))
        if probs:
            continue
        owns = [row["own"] for row in rows]
        c.ok(owns == sorted(owns, reverse=True), "%s is sorted by own, descending" % name, str(owns))
        c.ok(all(row["total"] >= row["own"] >= 0 for row in rows), "%s: total >= own >= 0 on every row" % name)
        # own_pct and total_pct are the counts over one common denominator
        # (pct = 100 * count / samples), up to rounding.
        big = rows[0]
        k = big["own_pct"] / big["own"] if big["own"] else 0.0
        off = [(row["function"], row["own"], row["own_pct"], row["total"], row["total_pct"]) for row in rows
               if abs(row["own_pct"] - k * row["own"]) > 0.01 + 0.005 * row["own_pct"]
               or abs(row["total_pct"] - k * row["total"]) > 0.01 + 0.005 * row["total_pct"]]
        c.ok(k > 0 and not off, "%s: own_pct and total_pct are proportional to own and total" % name,
             "100/denominator from the first row: %r; rows that disagree (function, own, own_pct, total, total_pct):\n%s"
             % (k, "\n".join(map(str, off[:10]))))
        c.ok(sum(row["own_pct"] for row in rows) <= 100.5, "%s: own_pct adds up to at most 100" % name)

    rows = {}
    for key in ("hot_a", "hot_b", "hot_worker_main"):
        row = find_row(top, exp[key])
        rows[key] = row
        c.ok(row is not None, "top() has %s at %s:%d" % (exp[key]["function"], exp[key]["file"], exp[key]["line"]),
             "rows with that name: %r" % near_rows(top, exp[key]))
    a, b = rows["hot_a"], rows["hot_b"]
    if a and b and a["own"] + b["own"] > 0:
        share_a = 100.0 * a["own"] / (a["own"] + b["own"])
        share_b = 100.0 - share_a
        log("  hot_a own=%d total=%d, hot_b own=%d total=%d -> %.1f%% / %.1f%%"
            % (a["own"], a["total"], b["own"], b["total"], share_a, share_b))
        # 75/25 as planned on a quiet machine; the target measured what it
        # really spent, which a loaded machine skews, and that is the truth
        spent = res["spent"]
        truth_a = 100.0 * spent["hot_a"] / max(1e-9, spent["hot_a"] + spent["hot_b"])
        c.ok(abs(truth_a - 75.0) <= 15.0, "the target kept roughly to its 75/25 plan (%.1f%% in hot_a)" % truth_a)
        c.ok(abs(share_a - truth_a) <= SHARE_TOLERANCE, "hot_a has %.1f%% +- %g of hot_a+hot_b own samples (%.1f%%)"
             % (truth_a, SHARE_TOLERANCE, share_a))
        c.ok(abs(share_b - (100.0 - truth_a)) <= SHARE_TOLERANCE, "hot_b has %.1f%% +- %g of hot_a+hot_b own samples "
             "(%.1f%%)" % (100.0 - truth_a, SHARE_TOLERANCE, share_b))
        hwm = rows["hot_worker_main"]
        if hwm:
            c.ok(hwm["total"] >= a["total"] + b["total"],
                 "hot_worker_main total (%d) includes its callees hot_a+hot_b (%d)" % (hwm["total"], a["total"] + b["total"]))
            c.ok(hwm["own"] < hwm["total"], "hot_worker_main own < total")
        run_row = find_row(top, exp["thread_run"])
        if run_row and hwm:
            c.ok(run_row["total"] >= hwm["total"], "%s total >= hot_worker_main total" % exp["thread_run"]["function"])

    idle_row = find_row(top, exp["idle_wait"])
    idle_row_all = find_row(top_idle, exp["idle_wait"])
    c.ok(idle_row_all is not None and idle_row_all["own"] > 0,
         "top(idle=True) has the sleeping thread's idle_wait", "rows: %r" % near_rows(top_idle, exp["idle_wait"]))
    if idle_row_all:
        busy = idle_row["own"] if idle_row else 0
        c.ok(busy * 20 <= idle_row_all["own"],
             "top() leaves idle samples out: idle_wait own %d there vs %d with idle=True" % (busy, idle_row_all["own"]))
    mw = find_row(top_idle, exp["main_wait"])
    c.ok(mw is not None, "top(idle=True) has MainThread's main_wait")

    c.section("dump()")
    dumps = res["dumps"]
    c.ok(isinstance(dumps, list) and len(dumps) > 0, "%d dumps taken" % len(dumps))
    good_full = 0
    counts = {"sleeper idle": 0, "hot-worker busy": 0, "hot-worker in hot_a/hot_b": 0}
    ids = res["threads"]
    for n, d in enumerate(dumps):
        probs = []
        if not isinstance(d, list):
            c.ok(False, "dump %d is a list" % n, repr(d)[:500])
            continue
        for i, t in enumerate(d):
            probs += type_problems(t, DUMP_KEYS, "dump %d thread %d" % (n, i))
            if isinstance(t, dict) and isinstance(t.get("frames"), list):
                for j, f in enumerate(t["frames"]):
                    probs += type_problems(f, FRAME_KEYS, "dump %d thread %d frame %d" % (n, i, j))
        if probs:
            c.ok(False, "dump %d: entries have the documented keys and types" % n, "\n".join(probs[:20]))
            continue
        by_name = {t["name"]: t for t in d}
        names = sorted(str(t["name"]) for t in d)
        if not c.ok(len(d) == 3 and set(by_name) == {"MainThread", "hot-worker", "sleeper"},
                    "dump %d has exactly MainThread, hot-worker, sleeper" % n, "got %s" % names):
            continue
        for name, t in by_name.items():
            want = ids[name]
            if (t["tid"], t["thread_id"]) != (want["tid"], want["thread_id"]):
                c.ok(False, "dump %d: %s has tid %d / thread_id %d" % (n, name, want["tid"], want["thread_id"]),
                     "got tid %r thread_id %r" % (t["tid"], t["thread_id"]))
        gil_holders = [t["name"] for t in d if t["gil"]]
        if len(gil_holders) > 1:
            c.ok(False, "dump %d: at most one thread holds the GIL" % n, str(gil_holders))

        p_main = check_main(by_name["MainThread"], exp)
        p_sleep = check_sleeper(by_name["sleeper"], exp)
        p_hot, inner = check_hot_worker(by_name["hot-worker"], exp)
        for name, p in (("MainThread", p_main), ("sleeper", p_sleep), ("hot-worker", p_hot)):
            if p:  # only failures are printed per dump; the totals follow
                c.ok(False, "dump %d: %s frames" % (n, name), "%s\n%s" % (p, fmt_frames(by_name[name]["frames"])))
        if by_name["sleeper"]["idle"]:
            counts["sleeper idle"] += 1
        if not by_name["hot-worker"]["idle"]:
            counts["hot-worker busy"] += 1
        if inner in ("hot_a", "hot_b"):
            counts["hot-worker in hot_a/hot_b"] += 1
        if not (p_main or p_sleep or p_hot) and inner in ("hot_a", "hot_b") \
                and by_name["sleeper"]["idle"] and not by_name["hot-worker"]["idle"]:
            good_full += 1
            if good_full == 1:
                log("  a good dump (%d):" % n)
                for t in d:
                    log("    thread %s tid=%d gil=%s idle=%s" % (t["name"], t["tid"], t["gil"], t["idle"]))
                    for f in t["frames"]:
                        log("      %s (%s:%d)" % (f["function"], f["file"], f["line"]))
    log("  of %d dumps: %s" % (len(dumps), ", ".join("%s %d" % kv for kv in counts.items())))
    c.ok(good_full > 0,
         "at least one dump shows hot-worker busy in hot_a/hot_b and sleeper idle in idle_wait, frames and lines right (%d of %d)"
         % (good_full, len(dumps)))
    c.ok(counts["sleeper idle"] * 2 > len(dumps), "sleeper is idle in most dumps (%d of %d)" % (counts["sleeper idle"], len(dumps)))
    # Not a check: while MainThread runs dump() it holds the GIL, so at that
    # instant hot-worker may really be off-CPU, waiting for it.
    c.note("hot-worker busy in %d of %d dumps" % (counts["hot-worker busy"], len(dumps)))
    c.finish()


if __name__ == "__main__":
    main()
