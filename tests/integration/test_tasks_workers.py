"""Task wall time of a multi-process app, seen through the root (issue 12).

    test_tasks_workers.py PYTHON       (Debian's python3.11: FastAPI, uvicorn)

`uvicorn --workers 2` of tests/targets/tasks_app.py under LD_PRELOAD: the
supervisor serves the port and each worker streams its counts to it,
task entries (milliseconds, with their state flags) included.  Under load
on /sleep from this process (three client threads, requests counted here):
  - the root's `top tasks` holds route_sleep -> h1 -> h2 -> sleep for
    requests x 200 ms (+-15 %), from the workers' pids only;
  - those rows keep their state: waiting, not running;
  - the root's CPU view stays in samples (the worker's task-ms are not
    counted as its samples in status).
"""

import asyncio
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import log  # noqa: E402


class Load(object):
    def __init__(self, base, threads):
        self.base = base
        self.stop_event = threading.Event()
        self.done = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        while not self.stop_event.is_set():
            try:
                with urllib.request.urlopen(self.base + "/sleep", timeout=30) as r:
                    r.read()
                with self.lock:
                    self.done += 1
            except Exception as e:  # noqa: BLE001 - reported as a failed check
                self.errors.append(repr(e))
                time.sleep(0.2)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)


async def scenario(c, app):
    cl, hello = await wsclient.connect_hello(app.url, "workers")
    workers = []
    for _ in range(40):
        st = await cl.command("status", "status")
        workers = [p for p in (st or {}).get("processes", []) if p.get("role") == "worker" and p.get("alive")]
        if len(workers) >= 2:
            break
        await asyncio.sleep(0.5)
    c.eq(len(workers), 2, "status lists two live workers")
    wpids = set(p["pid"] for p in workers)
    await asyncio.sleep(3)              # each worker captures its task roots once its loop runs
    await cl.command("reset", "reset")
    with Load(app.base, 3) as load:
        await asyncio.sleep(8)
    c.ok(not load.errors, "every request answered", "\n".join(load.errors[:5]))
    await asyncio.sleep(3)              # the workers' last seconds reach the root
    top = await cl.command("top 300 tasks", "top")
    rows = {r["function"]: r for r in (top or {}).get("rows", [])}
    want = load.done * 200
    got = rows.get("h2", {}).get("total", 0)
    c.ok(want and abs(got - want) <= 0.15 * want, "h2 (under route_sleep, in the workers): %d task-ms for %d "
         "requests x 200 ms = %d (%+.1f %%)" % (got, load.done, want, 100.0 * (got - want) / want if want else 0))
    pids = set(rows.get("route_sleep", {}).get("pids", []))
    c.ok(pids and pids <= wpids, "route_sleep's task time comes from the workers %s: %s" % (sorted(wpids),
                                                                                        sorted(pids)))
    h2 = rows.get("h2", {})
    c.ok(h2 and h2["waiting"] > 0.8 * h2["total"],
         "forwarded with their state: h2 waiting (%s)" % ({k: h2.get(k) for k in ("running", "ready", "waiting")}))
    cpu = await cl.command({"cmd": "top", "limit": 5, "idle": True}, "top")
    st = await cl.command("status", "status")
    samples = sum(p.get("samples", 0) for p in (st or {}).get("processes", []))
    c.ok(cpu and cpu.get("view") == "cpu" and 0 < cpu["samples"] <= samples,
         "the CPU view holds samples only: %s, of %s counted for the processes" % (cpu and cpu["samples"], samples))
    await cl.close()


def main():
    python = harness.python_from_argv(sys.argv)
    c = harness.Checks("tasks-workers")
    harness.require_library()
    if wsclient.websockets is None:
        log("SKIP: python3-websockets is not installed")
        sys.exit(harness.SKIP)
    app = wsclient.AgentApp("tasks-workers", python=python, env={"SPY_CPU_BUDGET": 0})
    app.cmd[app.cmd.index("fastapi_app:app")] = "tasks_app:app"
    app.cmd += ["--workers", "2", "--log-level", "warning"]
    app.start()
    try:
        if not c.ok(app.wait_http(60), "the app answers HTTP", app.describe()):
            c.finish()
        if not c.ok(app.wait_port(30), "the agent listens", app.describe()):
            c.finish()
        wsclient.run_async(scenario(c, app), 180)
    finally:
        rc = app.terminate(30)
        c.ok(rc is not None, "the app stops on SIGTERM (exit code %s)" % rc)
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent error on stderr", "\n".join(bad))
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
