"""Every worker of a multi-process app profiled through one port.

    test_workers.py [PYTHON] [uvicorn|gunicorn]

With gunicorn, `gunicorn -k uvicorn.workers.UvicornWorker -w 2`: the
master is the root and the two workers are forked from it.

`uvicorn --workers 2` of a FastAPI app under LD_PRELOAD starts four
interpreters: the supervisor, multiprocessing's resource_tracker and two
spawned workers. The supervisor owns the port; each worker samples itself
and streams to it; the resource tracker is not profiled. Under load, over
one WebSocket connection:
  - hello and status list the supervisor and both workers (pids, roles);
  - top has rows, and its threads come from both worker pids;
  - `top pid N` narrows to one worker;
  - dump shows both workers' threads, each with its pid, and `dump pid N`
    only that worker's; an unknown pid is an error;
  - record 3 writes a merged file whose samples come from both workers,
    and one file per process;
  - stopping the app leaves no process behind.
"""

import asyncio
import os
import sys
import time

import harness
from harness import Checks
from wsclient import AgentApp, Load, connect_hello


async def scenario(c, app):
    cl, hello = await connect_hello(app.url, "workers")
    procs = (hello or {}).get("processes") or []
    # workers connect within a second or two of starting
    for _ in range(20):
        st = await cl.command("status", ("status",), 10)
        procs = (st or {}).get("processes") or []
        if sum(1 for p in procs if p.get("role") == "worker" and p.get("alive")) >= 2:
            break
        await asyncio.sleep(0.5)
    roots = [p for p in procs if p.get("role") == "root"]
    workers = [p for p in procs if p.get("role") == "worker" and p.get("alive")]
    c.ok(len(roots) == 1 and roots[0].get("pid") == app.pid, "the supervisor is the root (%s)" % roots)
    c.eq(len(workers), 2, "status lists two live workers")
    c.ok(all("resource_tracker" not in p.get("command_line", "") for p in procs),
         "the resource tracker is not among the processes")
    wpids = sorted(p["pid"] for p in workers)

    await asyncio.sleep(3)
    top = await cl.command("top 30 window 5", ("top",), 10)
    rows = (top or {}).get("rows") or []
    c.ok(any(r.get("function") in ("cpu_work", "json_work") for r in rows), "top has the endpoints",
         [r.get("function") for r in rows])
    rpids = sorted({p for r in rows for p in r.get("pids", [])})
    c.ok(set(wpids) <= set(rpids) and all(r.get("pids") for r in rows),
         "every top row names its processes, and both workers appear (%s)" % rpids)
    tpids = sorted({t.get("pid") for t in (top or {}).get("threads", [])})
    c.ok(set(wpids) <= set(tpids), "top's threads come from both workers (%s)" % tpids)
    if wpids:
        one = await cl.command("top 30 window 5 pid %d" % wpids[0], ("top", "error"), 10)
        c.ok(one is not None and one.get("type") == "top"
             and {t.get("pid") for t in one.get("threads", [])} <= {wpids[0]},
             "top pid %d has only that worker's threads" % wpids[0], repr(one)[:300])

    dump = await cl.command("dump", ("dump", "error"), 15)
    dpids = sorted({t.get("pid") for t in (dump or {}).get("threads", [])})
    c.ok(set(wpids) <= set(dpids), "dump shows both workers' threads (%s)" % dpids)
    c.ok(all(t.get("frames") is not None for t in (dump or {}).get("threads", [])), "every thread has frames")
    if wpids:
        d1 = await cl.command("dump pid %d" % wpids[1], ("dump", "error"), 15)
        c.ok(d1 is not None and d1.get("type") == "dump" and d1.get("threads")
             and {t.get("pid") for t in d1["threads"]} == {wpids[1]}, "dump pid %d: only that worker" % wpids[1])
    bad = await cl.command("dump pid 1", ("dump", "error"), 10)
    c.eq((bad or {}).get("error"), "bad_argument", "dump of a pid outside the tree is refused")

    done = await cl.command("record 3 collapsed", ("record_done", "error"), 30)
    files = (done or {}).get("files") or []
    c.ok(done is not None and done.get("type") == "record_done" and files, "record 3 writes a file", repr(done)[:300])
    merged = [f for f in files if "pid" not in f and "view" not in f]
    per = sorted(f.get("pid") for f in files if "pid" in f and "view" not in f)
    c.eq(len(merged), 1, "one merged file")
    c.ok(set(wpids) <= set(per), "one file per worker too (%s)" % per)
    # the task view (asyncio task wall time) of the whole tree, when the span has some
    tmerged = [f for f in files if "pid" not in f and f.get("view") == "tasks"]
    tper = sorted(f.get("pid") for f in files if "pid" in f and f.get("view") == "tasks")
    c.ok(len(tmerged) <= 1 and (not tmerged or set(wpids) <= set(tper)),
         "the task view: one merged file and one per worker (%s)" % tper)
    for f in files:
        c.ok(os.path.exists(f["path"]), "%s exists" % os.path.basename(f["path"]))
    if merged:
        with open(merged[0]["path"]) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
        c.eq(total, done.get("samples"), "the collapsed counts sum to the recorded samples")
        c.ok(any("cpu_work" in l or "json_work" in l for l in lines), "the recording has the endpoints")
    await cl.close()


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    server = sys.argv[2] if len(sys.argv) > 2 else "uvicorn"
    if server not in ("uvicorn", "gunicorn"):
        sys.exit("usage: test_workers.py [PYTHON] [uvicorn|gunicorn]")
    harness.require_library()
    c = Checks("test_workers %s" % server)
    app = AgentApp("workers-" + server, python=python)
    if server == "uvicorn":
        app.cmd += ["--workers", "2"]
    else:
        app.cmd = [python, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "2",
                   "-b", "127.0.0.1:%d" % app.http_port, "--chdir", harness.SPY_TARGETS, "fastapi_app:app"]
    load = None
    try:
        app.start()
        app.wait_http()
        app.wait_port()
        load = Load(app.base, threads=3, seconds=90)
        load.start()
        asyncio.run(scenario(c, app))
    finally:
        if load:
            load.stop()
        app.terminate()
    # the workers finish their own shutdown a moment after the supervisor
    deadline = time.monotonic() + 15
    while True:
        leftover = [p for p in os.listdir("/proc") if p.isdigit() and _mentions(p, app.tmp)]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    c.eq(leftover, [], "no process of the app remains (within 15 s of SIGTERM)")
    c.finish()


def _mentions(pid, marker):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read().decode("utf-8", "replace")
        with open("/proc/%s/environ" % pid, "rb") as f:
            env = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return marker in env or marker in cmd


if __name__ == "__main__":
    main()
