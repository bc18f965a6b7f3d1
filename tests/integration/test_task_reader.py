"""Does the GIL-free asyncio task reader agree with asyncio itself?

    test_task_reader.py PYTHON MODE [LOOP]
      MODE  import   spyagent.tasks() called from a thread of the target; a
                     program that imports spyagent inside its running loop
                     (captured at once); one whose main thread waits in C
                     (roots found without the GIL)
            preload  LD_PRELOAD, the WebSocket `tasks` command from this client
            fork     import, then a fork child with a loop of its own reads its tasks
      LOOP  asyncio (default) | uvloop

Runs tests/targets/task_shapes.py.  Phase A (every task suspended): the set
of tasks read is exactly asyncio.all_tasks(); per task the frames (function,
file, line, innermost first) equal the coroutine chain followed through
cr_await, the state is "waiting", "awaiting" names the type of the task's
_fut_waiter, "awaited_by" the task whose _fut_waiter it is; names equal
get_name() taken after the read (3.12+ keeps an int until then: "Task-N").
Phase B (a task burns CPU in a sync helper while the tasks are read): that
task is "running" with frames burn -> cpu_route and awaited_by the main task,
a task created just before it is "created" with its coroutine's first line,
a task whose future is done and one that yielded (sleep(0)) are "ready",
the main task waits on the burner, the others are unchanged.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import Checks, log

TARGET = os.path.join(harness.SPY_TARGETS, "task_shapes.py")


def marker_line(tag):
    with open(TARGET) as f:
        for i, line in enumerate(f, 1):
            if "# " + tag in line:
                return i
    raise RuntimeError("no marker %s in %s" % (tag, TARGET))


def lines_of(text, tag):
    return [json.loads(l[len(tag) + 1:]) for l in text.splitlines() if l.startswith(tag + " ")]


def frames_of(t):
    return [[f["function"], f["file"], f["line"]] for f in t["frames"]]


def check_phase_a(c, truth, read, label):
    by_id = {t["id"]: t for t in read}
    c.eq(sorted(by_id), sorted(truth), "%s: the tasks read are asyncio.all_tasks()" % label)
    for tid, want in sorted(truth.items()):
        got = by_id.get(tid)
        if not c.ok(got is not None, "%s: task %s read" % (label, tid)):
            continue
        c.eq(frames_of(got), want["frames"], "%s: %s frames = its cr_await chain" % (label, tid))
        c.eq(got["state"], "waiting", "%s: %s state" % (label, tid))
        c.eq(got["awaiting"], want["awaiting"], "%s: %s awaiting" % (label, tid))
        c.eq(got["awaited_by"], want["awaited_by"], "%s: %s awaited_by" % (label, tid))
        c.ok(re.match(r"^0x[0-9a-f]+$", got["id"]) is not None, "%s: id is a hex address" % label, got["id"])


def check_names(c, read, names, py_minor):
    by_id = {t["id"]: t for t in read}
    for tid, name in sorted(names.items()):
        if tid in by_id:
            c.eq(by_id[tid]["name"], name, "task %s name read = get_name() after the read" % tid)
    user = [t for t in read if t["name"] == "route-task"]
    c.ok(len(user) == 1, "the user-named task is there once")
    default = [t for t in read if re.match(r"^Task-\d+$", t["name"] or "")]
    c.ok(len(default) >= 5, "default-named tasks read as Task-N (%d)" % len(default))


def check_phase_b(c, truth_a, tb, read, label):
    by_id = {t["id"]: t for t in read}
    f = tb["file"]
    burner = by_id.get(tb["burner"])
    if c.ok(burner is not None, "%s: the burning task is read" % label):
        c.eq(burner["state"], "running", "%s: the burning task is running" % label)
        fr = frames_of(burner)
        # burn() may be inside os.path.exists at that instant: its callees come first
        while fr and fr[0][1] != f:
            fr = fr[1:]
        c.eq([x[0] for x in fr], ["burn", "cpu_route"], "%s: running frames, innermost first" % label)
        loop_line = marker_line("BURN-LOOP")
        if len(fr) == 2:
            c.ok(fr[0][1] == f and loop_line <= fr[0][2] <= loop_line + 3, "%s: burn() at a line of its loop" % label,
                 fr[0])
            c.eq(fr[1][1:], [f, marker_line("CPU-CALL")], "%s: cpu_route at its call of burn()" % label)
        c.eq(burner["awaited_by"], tb["main"], "%s: the burner is awaited by the main task" % label)
        c.eq(burner["awaiting"], None, "%s: a running task awaits nothing" % label)
    created = by_id.get(tb["created"])
    if c.ok(created is not None, "%s: the not-started task is read" % label):
        c.eq(created["state"], "created", "%s: the not-started task is created" % label)
        c.eq(frames_of(created), tb["created_frames"], "%s: its coroutine at its first line" % label)
        c.eq(created["name"], "created", "%s: its name" % label)
    for key, frames, awaiting in (("ready", ["waits_for"], "_asyncio.Future"),
                                  ("yielder", ["__sleep0", "sleep", "yielder"], None)):
        t = by_id.get(tb[key])
        if c.ok(t is not None, "%s: the %s task is read" % (label, key)):
            c.eq(t["state"], "ready", "%s: the %s task is ready" % (label, key))
            c.eq([x[0] for x in frames_of(t)], frames, "%s: the %s task's frames" % (label, key))
            c.eq(t["awaiting"], awaiting, "%s: what the %s task awaits" % (label, key))
    main = by_id.get(tb["main"])
    if c.ok(main is not None, "%s: the main task is read" % label):
        c.eq(main["state"], "waiting", "%s: the main task waits" % label)
        c.eq(main["awaiting"], "_asyncio.Task", "%s: ... on a Task" % label)
        c.eq(frames_of(main), [["main", f, marker_line("MAIN-AWAIT")]], "%s: main at its await" % label)
    for tid, want in truth_a.items():
        if tid == tb["main"] or tid not in by_id:
            c.ok(tid == tb["main"], "%s: task %s still read" % (label, tid))
            continue
        c.eq(by_id[tid]["state"], "waiting", "%s: %s still waiting" % (label, tid))
        c.eq(frames_of(by_id[tid]), want["frames"], "%s: %s unchanged" % (label, tid))


def run_import(c, python, loop, minor):
    tmp = tempfile.mkdtemp(prefix="spy-taskread-")
    try:
        r = harness.run([python, TARGET, "import", loop, tmp], env=harness.import_env(), timeout=150)
    finally:
        shutil.rmtree(tmp, True)
    if not c.process_ok(r, "the target runs to its end"):
        return
    ta, ra = lines_of(r.stdout, "SPYTEST-TRUTH-A"), lines_of(r.stdout, "SPYTEST-READ-A")
    names, tb, rb = lines_of(r.stdout, "SPYTEST-NAMES"), lines_of(r.stdout, "SPYTEST-TRUTH-B"), \
        lines_of(r.stdout, "SPYTEST-READ-B")
    if not c.ok(ta and ra and names and tb and rb, "every phase reported", r.describe()):
        return
    check_phase_a(c, ta[0], ra[0], "A")
    check_names(c, ra[0], names[0], minor)
    check_phase_b(c, ta[0], tb[0], rb[0], "B")
    c.ok(lines_of(r.stdout, "SPYTEST-DONE"), "the target ends after the reads")


LATE = """
import asyncio, sys, time
async def s():
    await asyncio.sleep(30)
async def main():
    ts = [asyncio.create_task(s(), name="late-%d" % i) for i in range(3)]
    await asyncio.sleep(0.1)
    import spyagent
    time.sleep(1.5)   # the loop is held: no pending call runs, no loop tick
    print("SPYTEST-LATE", sorted(t["name"] for t in spyagent.tasks() if t["name"].startswith("late-")), flush=True)
if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
"""


def run_late(c, python, loop):
    """`import spyagent` inside a running loop captures the roots right
    away, with the GIL: the tasks read before the loop runs again."""
    r = harness.run([python, "-c", LATE, loop], env=harness.import_env({"SPY_LOG": "debug"}), timeout=60)
    if not c.process_ok(r, "a program importing spyagent inside its loop"):
        return
    c.ok("SPYTEST-LATE ['late-0', 'late-1', 'late-2']" in r.stdout, "its tasks are read at once", r.describe())
    c.ok("asyncio task roots captured" in r.stderr, "captured with the GIL at import", r.describe())


HELD = """
import asyncio, sys, threading, time
import spyagent      # before any loop: nothing to capture yet
got = []
def reader():
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not got:
        names = sorted(t["name"] for t in spyagent.tasks() if t["name"].startswith("held-"))
        if names:
            got.append(names)
        time.sleep(0.05)
async def s():
    await asyncio.sleep(30)
async def main():
    ts = [asyncio.create_task(s(), name="held-%d" % i) for i in range(3)]
    await asyncio.sleep(0.1)
    th = threading.Thread(target=reader)
    th.start()
    th.join()        # the main thread waits in C: no pending call can run
    print("SPYTEST-HELD", got[0] if got else None, flush=True)
if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
"""


def run_held(c, python, loop):
    """While the main thread runs no Python (here: joining a thread; in a
    server: idle in its selector) no pending call can capture the roots:
    they are found without the GIL, through sys.modules."""
    r = harness.run([python, "-c", HELD, loop], env=harness.import_env({"SPY_LOG": "debug"}), timeout=60)
    if not c.process_ok(r, "a program whose main thread waits in C"):
        return
    c.ok("SPYTEST-HELD ['held-0', 'held-1', 'held-2']" in r.stdout, "its tasks are read", r.describe())
    c.ok("asyncio task roots found without the GIL" in r.stderr, "the roots were found without the GIL",
         r.describe())


def run_fork(c, python, loop, minor):
    """The parent's phases, then a fork child with a loop of its own: the
    child's tasks are read (roots found again after fork), the parent's,
    all done by then, are not."""
    tmp = tempfile.mkdtemp(prefix="spy-taskread-")
    try:
        r = harness.run([python, TARGET, "fork", loop, tmp], env=harness.import_env(), timeout=150)
    finally:
        shutil.rmtree(tmp, True)
    if not c.process_ok(r, "the target and its child run to their end"):
        return
    out = r.stdout
    child = out[out.index("SPYTEST-CHILD\n"):] if "SPYTEST-CHILD\n" in out else ""
    ta, ra = lines_of(child, "SPYTEST-TRUTH-A"), lines_of(child, "SPYTEST-READ-A")
    if not c.ok(ta and ra, "the child reported its phase A", r.describe()):
        return
    check_phase_a(c, ta[0], ra[0], "child")
    c.eq(sorted(t["name"] for t in ra[0] if t["name"].startswith("child-")), ["child-0", "child-1", "child-2"],
         "the child's own tasks by name")
    stale = [t["name"] for t in ra[0] if t["name"] in ("route-task", "waiter", "burner", "created")]
    c.eq(stale, [], "none of the parent's (finished) tasks is read in the child")
    exits = lines_of(out, "SPYTEST-CHILD-EXIT")
    c.ok(exits and exits[0]["status"] == 0, "the child exits cleanly", exits)


def run_preload(c, python, loop, minor):
    import wsclient
    wsclient.require_websockets()
    tmp = tempfile.mkdtemp(prefix="spy-taskread-")
    port = harness.free_port()
    env = harness.preload_env({"SPY_WS_PORT": port, "SPY_LOG": "debug"})
    out_path = os.path.join(tmp, "stdout")
    with open(out_path, "w") as out, open(os.path.join(tmp, "stderr"), "w") as err:
        proc = subprocess.Popen([python, TARGET, "preload", loop, tmp], env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def stdout():
        with open(out_path) as f:
            return f.read()

    def wait_tag(tag, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = lines_of(stdout(), tag)
            if got:
                return got[0]
            if proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    async def read_tasks(cl, want_ids, running=None, timeout=30):
        """`tasks` until every task in want_ids is there (and `running` runs)."""
        deadline = time.monotonic() + timeout
        msg = None
        while time.monotonic() < deadline:
            msg = await cl.command("tasks", "tasks", 10)
            states = {t["id"]: t["state"] for t in msg["tasks"]} if msg and msg.get("type") == "tasks" else {}
            if set(want_ids) <= set(states) and (running is None or states[running] == "running"):
                return msg
            await asyncio.sleep(0.2)
        return msg

    async def session(ta):
        cl, hello = await wsclient.connect_hello("ws://127.0.0.1:%d/" % port, "tasks")
        try:
            bad = await cl.command("tasks now", ("tasks", "error"), 10)
            c.ok(bad and bad.get("type") == "error" and bad.get("error") == "too_many_arguments",
                 "'tasks now' is refused with a clear error", bad)
            ma = await read_tasks(cl, ta.keys())
            if not c.ok(ma and ma.get("type") == "tasks", "a tasks reply", ma):
                return None, None
            c.eq(ma.get("available"), True, "the reply says tasks are available")
            c.eq(ma.get("omitted"), 0, "nothing omitted")
            c.ok(all(t.get("pid") == proc.pid for t in ma["tasks"]), "every task carries the pid")
            open(os.path.join(tmp, "go-a"), "w").close()
            tb = await asyncio.get_running_loop().run_in_executor(None, wait_tag, "SPYTEST-TRUTH-B")
            if not c.ok(tb is not None, "phase B starts", stdout()):
                return ma, None
            mb = await read_tasks(cl, [tb["burner"], tb["created"]], running=tb["burner"])
            open(os.path.join(tmp, "stop-b"), "w").close()
            return ma, (tb, mb)
        finally:
            await cl.close()

    try:
        ta = wait_tag("SPYTEST-TRUTH-A")
        if not c.ok(ta is not None, "the target reaches phase A", stdout()):
            return
        ma, b = wsclient.run_async(session(ta), 120)
        if ma:
            check_phase_a(c, ta, ma["tasks"], "A")
        names = wait_tag("SPYTEST-NAMES")
        if ma and c.ok(names is not None, "names printed"):
            check_names(c, ma["tasks"], names, minor)
        if b and b[1]:
            check_phase_b(c, ta, b[0], b[1]["tasks"], "B")
        c.ok(wait_tag("SPYTEST-DONE") is not None, "the target ends after the reads", stdout()[-2000:])
    finally:
        harness.kill_group(proc)
        proc.wait()
        with open(os.path.join(tmp, "stderr")) as f:
            err_text = f.read()
        errs = harness.agent_error_lines(err_text)
        c.ok(not errs, "no agent errors on stderr", errs)
        # phase A ran on roots found without the GIL (the main thread idles
        # in its selector); phase B runs Python on the main thread, where
        # the pending call captures them with the GIL
        c.ok("asyncio task roots captured" in err_text, "the pending call captured the roots", err_text[-1500:])
        shutil.rmtree(tmp, True)


def main():
    python = harness.python_from_argv(sys.argv, 1)
    mode = sys.argv[2] if len(sys.argv) > 2 else "import"
    loop = sys.argv[3] if len(sys.argv) > 3 else "asyncio"
    harness.require_library()
    major, minor, _ = harness.version_of(python)
    if loop == "uvloop":
        r = harness.run([python, "-c", "import uvloop"], env=harness.clean_env(), timeout=30)
        if r.rc != 0:
            log("SKIP: %s has no uvloop (scripts/deps.sh installs python3-uvloop)" % python)
            sys.exit(harness.SKIP)
    c = Checks("task-reader-%s-%s-%s" % (mode, loop, harness.label_of(python)))
    log("python %s (%d.%d), %s, %s loop" % (python, major, minor, mode, loop))
    if mode == "import":
        run_import(c, python, loop, minor)
        run_late(c, python, loop)
        run_held(c, python, loop)
    elif mode == "fork":
        run_fork(c, python, loop, minor)
    else:
        run_preload(c, python, loop, minor)
    c.finish()


if __name__ == "__main__":
    main()
