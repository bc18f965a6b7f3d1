"""The `tasks` command across a tree of workers.

    test_task_reader_workers.py [PYTHON]     (default /usr/bin/python3.11)

`uvicorn --workers 2` of tests/targets/fastapi_app.py under LD_PRELOAD: the
supervisor owns the port and runs no event loop; each worker runs Uvicorn's
serving task.  Over one WebSocket connection, once both workers are linked:
  - `tasks` lists tasks from both workers, each with the worker's pid, among
    them Uvicorn's own serving task (a chain that ends in Server.serve, read
    in the worker, not in the supervisor);
  - `tasks pid N` lists only that worker's tasks; an unknown pid is an error
    that names it.
"""

import asyncio
import sys

import harness
from harness import Checks
from wsclient import AgentApp, connect_hello, short


async def scenario(c, app):
    cl, hello = await connect_hello(app.url, "tasks-workers")
    workers = []
    for _ in range(40):
        st = await cl.command("status", ("status",), 10)
        workers = [p for p in (st or {}).get("processes") or [] if p.get("role") == "worker" and p.get("alive")]
        if len(workers) >= 2:
            break
        await asyncio.sleep(0.5)
    if not c.eq(len(workers), 2, "status lists two live workers"):
        return
    wpids = sorted(p["pid"] for p in workers)
    serving = {}
    msg = None
    for _ in range(40):             # each worker finds its roots within about a second
        msg = await cl.command("tasks", ("tasks",), 10)
        tasks = (msg or {}).get("tasks") or []
        serving = {t["pid"]: t for t in tasks
                   if any(f["function"].endswith("serve") and f["file"].endswith("uvicorn/server.py")
                          for f in t["frames"])}
        if set(wpids) <= set(serving):
            break
        await asyncio.sleep(0.5)
    c.ok(msg and msg.get("type") == "tasks", "a tasks reply", short(msg))
    c.eq(sorted(serving), wpids, "each worker's serving task is read, with the worker's pid")
    c.ok(msg and msg.get("available") is True, "the reply says tasks are available")
    c.ok(all(t.get("pid") in wpids for t in (msg or {}).get("tasks") or []),
         "every task comes from a worker (the supervisor runs no loop)")
    for pid, t in sorted(serving.items()):
        c.ok(t["state"] in ("waiting", "ready", "running"), "worker %d's serving task has a state" % pid, t["state"])
        c.eq(t["frames"][-1]["function"], "Server.serve", "worker %d: the chain ends at the task's coroutine" % pid)
    one = await cl.command("tasks pid %d" % wpids[0], ("tasks",), 10)
    pids = {t.get("pid") for t in (one or {}).get("tasks") or []}
    c.eq(sorted(pids), [wpids[0]], "tasks pid N lists only that worker's tasks")
    bad = await cl.command({"cmd": "tasks", "pid": 1}, ("tasks",), 10)
    c.ok(bad and bad.get("type") == "error" and bad.get("error") == "bad_argument" and "1" in bad.get("message", ""),
         "an unknown pid is an error that names it", short(bad))
    await cl.close()


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    harness.require_library()
    c = Checks("task-reader-workers")
    app = AgentApp("task-workers", python=python)
    app.cmd += ["--workers", "2"]
    try:
        app.start()
        app.wait_http()
        app.wait_port()
        asyncio.run(scenario(c, app))
    finally:
        app.terminate()
    c.finish()


if __name__ == "__main__":
    main()
