"""Task wall time on a real Uvicorn + FastAPI app (issue 12).

    test_tasks_uvicorn.py PYTHON        (Debian's python3.11: FastAPI, uvicorn)

The app is tests/targets/tasks_app.py under uvicorn with the loop SPY_TEST_LOOP
names (asyncio or uvloop).  Load comes from this process (a separate client,
fixed concurrency: one thread per route); the app's own pure ASGI middleware
counts the requests each route finished, the ground truth.  Checked through
the WebSocket (`top ... tasks`, `flame tasks`, `status`):

  - idle: only Uvicorn's long-lived tasks (every stack's outermost frame is
    Uvicorn's), none of the routes;
  - the stacks ending route_sleep -> h1 -> h2 -> asyncio.sleep hold
    requests x 200 ms of task time (+-15 %), and the same behind
    BaseHTTPMiddleware (route_mw -> mw_h1 -> mw_h2 -> sleep, in the child task
    BaseHTTPMiddleware runs the endpoint in);
  - frames in order (innermost first: sleep, h2, h1, route, ..., run_asgi);
  - no stack holds two routes (each task is counted on its own);
  - the CPU route is counted on the CPU with its synchronous frame
    (burn_cpu under route_burn, all of it "running");
  - gather's three children hold three times the parent's wait (+-15 %);
  - the plain def route runs in a worker thread, not in a task: absent;
  - time.sleep(0.3) in async def holds the loop: route_block on the CPU for
    requests x 300 ms (+-20 %);
  - status has task_rate, tasks, task_snapshots, task_cost_us.
"""

import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import log  # noqa: E402

ROUTES = ("route_sleep", "route_burn", "route_gather", "route_mw", "route_sync", "route_block")
LOAD_SECONDS = 8


def stacks_of(flame):
    """(frames outermost first, self ms) for every node of a flame reply with own time."""
    out = []

    def walk(node, path):
        here = path + [node.get("function", node.get("name"))]
        if node.get("self", 0) > 0 and len(here) > 1:
            out.append((here[1:], node["self"]))
        for ch in node.get("children", []):
            walk(ch, here)

    walk(flame["root"], [])
    return out


def ends_with(path, tail):
    return len(path) >= len(tail) and path[-len(tail):] == tail


def row(top, fn):
    for r in top.get("rows", []):
        if r["function"] == fn:
            return r
    return None


def within(got, want, tol):
    return want > 0 and abs(got - want) <= tol * want


class Load(object):
    """One thread per path, each sending requests back to back until stopped."""

    def __init__(self, base, paths, pause=None):
        self.base = base
        self.paths = paths
        self.pause = pause or {}        # path -> seconds between its requests
        self.stop_event = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(p,), daemon=True) for p in paths]

    def run(self, path):
        while not self.stop_event.is_set():
            try:
                with urllib.request.urlopen(self.base + path, timeout=30) as r:
                    r.read()
                if self.pause.get(path):
                    self.stop_event.wait(self.pause[path])
            except Exception as e:  # noqa: BLE001 - reported as a failed check
                self.errors.append("%s: %r" % (path, e))
                time.sleep(0.2)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)      # each finishes the request it is in


def get_json(app, path):
    import json
    with urllib.request.urlopen(app.base + path, timeout=10) as r:
        return json.loads(r.read().decode())


async def scenario(c, app):
    cl, hello = await wsclient.connect_hello(app.url, "tasks")
    c.ok(hello is not None, "hello received")

    # the roots are captured once asyncio runs: wait for the first snapshots
    st = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = await cl.command("status", "status")
        if st and st.get("task_snapshots", 0) > 0 and st.get("tasks", 0) > 0:
            break
        await asyncio_sleep(0.3)
    c.ok(st and st.get("task_snapshots", 0) > 0, "task snapshots run (status task_snapshots %s, tasks %s)"
         % (st and st.get("task_snapshots"), st and st.get("tasks")), wsclient.short(st))
    for k in ("task_rate", "tasks", "task_snapshots", "task_cost_us"):
        c.ok(st is not None and k in st, "status has %s: %s" % (k, st and st.get(k)))
    c.eq(st and st.get("task_rate"), 20, "status task_rate (the default)")

    # ---- idle: Uvicorn's long-lived tasks only
    c.section("idle server")
    await cl.command("reset", "reset")
    await asyncio_sleep(3)
    flame = await cl.command("flame tasks", "flame", timeout=20)
    c.ok(flame and flame.get("view") == "tasks" and flame.get("unit") == "ms",
         "flame tasks answers the task view in ms", wsclient.short(flame))
    idle = stacks_of(flame) if flame else []
    c.ok(idle, "the idle server has task stacks")
    outer = sorted(set(p[0] for p, _ in idle))
    log("  idle stacks' outermost frames: %s" % outer)
    top = await cl.command("top 200 tasks", "top")
    files = set(r["file"] for r in top["rows"]) if top else set()
    # the lifespan task runs through the app's middleware stack (Timing is the app's)
    c.ok(all(("/uvicorn/" in f or "/asyncio/" in f or "/starlette/" in f or "/fastapi/" in f
              or f.endswith("tasks_app.py")) for f in files),
         "idle task frames are Uvicorn's, asyncio's and the app stack's lifespan", 
         "\n".join(sorted(files)))
    c.ok(not any(r["function"] in ROUTES for r in top["rows"]) if top else False, "no route in the idle task view")
    outer_files = set()
    for r in (top["rows"] if top else []):
        if r["function"] in outer:
            outer_files.add(r["file"])
    c.ok(outer_files and all("/uvicorn/" in f for f in outer_files),
         "every idle task is one of Uvicorn's (outermost frames %s)" % outer, "\n".join(sorted(outer_files)))
    st = await cl.command("status", "status")
    c.ok(st and 1 <= st.get("tasks", 0) <= 4, "a few long-lived tasks pending when idle: %s" % (st and st.get("tasks")))

    # ---- load: every route at once, one client thread each
    c.section("load")
    get_json(app, "/stats/reset")
    await cl.command("reset", "reset")
    cpu_before = await cl.command("top 50", "top")
    # the CPU route paced (20 ms of CPU every ~100 ms) so the loop is not
    # saturated and a 200 ms sleep takes about 200 ms
    with Load(app.base, ["/sleep", "/sleep", "/burn", "/gather", "/mw/sleep", "/sync"], {"/burn": 0.08}) as load:
        await asyncio_sleep(LOAD_SECONDS)
    c.ok(not load.errors, "every request answered", "\n".join(load.errors[:5]))
    stats = get_json(app, "/stats")
    counts = stats["counts"]
    log("  server-side: %s" % stats)
    flame = await cl.command("flame tasks", "flame", timeout=20)
    top = await cl.command("top 300 tasks", "top")
    cpu = await cl.command("top 300", "top")
    stacks = stacks_of(flame) if flame else []
    c.ok(stacks and top and top.get("view") == "tasks" and top.get("unit") == "ms", "task view after load")
    c.ok(cpu and cpu.get("view") == "cpu" and cpu.get("unit") == "samples" and cpu_before is not None,
         "the CPU view answers beside it")

    for route, h1, h2, path in (("route_sleep", "h1", "h2", "/sleep"), ("route_mw", "mw_h1", "mw_h2", "/mw/sleep")):
        tail = [route, h1, h2, "sleep"]
        ms = sum(v for p, v in stacks if ends_with(p, tail))
        want = counts.get(path, 0) * 200
        c.ok(within(ms, want, 0.15), "%s -> %s -> %s -> sleep: %d task-ms for %d requests x 200 ms = %d (%+.1f %%)"
             % (route, h1, h2, ms, counts.get(path, 0), want, 100.0 * (ms - want) / want if want else 0))
        timed = stats["waited"][h1] * 1000
        c.ok(within(ms, timed, 0.15), "... and the app timed %d ms in %s (%+.1f %%)"
             % (timed, h1, 100.0 * (ms - timed) / timed if timed else 0))
        # order: wherever h2 is, it is under h1 under the route, sleep under h2
        bad = [p for p, _ in stacks if h2 in p and (p.index(h2) < 2 or p[p.index(h2) - 1] != h1
                                                   or p[p.index(h2) - 2] != route)]
        c.ok(not bad, "%s's frames in order (route, %s, %s, sleep)" % (route, h1, h2), "\n".join(" > ".join(p)
                                                                                               for p in bad[:3]))
    sleep_paths = [p for p, _ in stacks if ends_with(p, ["route_sleep", "h1", "h2", "sleep"])]
    c.ok(sleep_paths and all(p[0] == "RequestResponseCycle.run_asgi" for p in sleep_paths),
         "a request task's stack stops at its coroutine, Uvicorn's run_asgi",
         "\n".join(p[0] for p in sleep_paths[:3]))
    mw_paths = [p for p, _ in stacks if "route_mw" in p]
    c.ok(mw_paths and all(p[0] != "RequestResponseCycle.run_asgi" for p in mw_paths),
         "behind BaseHTTPMiddleware the endpoint runs in a child task of its own (not under run_asgi)",
         "\n".join(p[0] for p in mw_paths[:3]))

    mixed = [p for p, _ in stacks if len(set(f for f in p if f in ROUTES)) > 1]
    c.ok(not mixed, "no task stack holds two routes", "\n".join(" > ".join(p) for p in mixed[:3]))

    burn = row(top, "burn_cpu") if top else None
    c.ok(burn and burn["total"] > 0 and burn["running"] == burn["total"] and burn["ready"] == 0
         and burn["waiting"] == 0, "the CPU route's sync helper is counted on the CPU: %s"
         % (burn and {k: burn[k] for k in ("total", "running", "ready", "waiting")}))
    c.ok(any(ends_with(p, ["route_burn", "burn_cpu"]) for p, _ in stacks),
         "burn_cpu spliced under route_burn (the running task's synchronous frame)")
    if burn and counts.get("/burn"):
        # sampled at 20 Hz, bursts of 20-40 ms: an estimate with a wide spread, so a note
        c.note("burn_cpu: %d task-ms on the CPU; the %d /burn requests took %d ms (server-side wall time)"
               % (burn["total"], counts["/burn"], 1000 * stats["seconds"].get("/burn", 0)))
    cpu_burn = row(cpu, "burn_cpu") if cpu else None
    c.ok(cpu_burn and cpu_burn["own"] > 0, "the CPU view sees burn_cpu too (%s samples)" % (cpu_burn and
                                                                                            cpu_burn["own"]))
    # the CPU view counts samples (one per tick and thread): the task-ms never leak into it
    st = await cl.command("status", "status")
    idle_cpu = await cl.command({"cmd": "top", "limit": 5, "idle": True}, "top")
    c.ok(st and idle_cpu and 0 < idle_cpu["samples"] <= st["samples"] * max(1, st["threads"])
         and top and top["samples"] > idle_cpu["samples"],
         "the CPU view holds thread samples only: %s samples in %s ticks x %s threads, beside %s task-ms"
         % (idle_cpu and idle_cpu["samples"], st and st["samples"], st and st["threads"], top and top["samples"]))

    parent = row(top, "route_gather") if top else None
    children = sum(v for p, v in stacks if p and p[0] == "g_part")
    c.ok(parent and within(children, 3 * parent["total"], 0.15),
         "gather's three children: %d task-ms = 3 x the parent's %d (%+.1f %%)"
         % (children, parent["total"] if parent else 0,
            100.0 * (children - 3 * parent["total"]) / (3 * parent["total"]) if parent and parent["total"] else 0))
    c.ok(top and row(top, "route_sync") is None and row(top, "run_in_threadpool") is not None,
         "the plain def route is no task (its request task waits in run_in_threadpool)")

    # ---- time.sleep on the loop: the task holds it, on the CPU
    c.section("time.sleep(0.3) in async def")
    get_json(app, "/stats/reset")
    await cl.command("reset", "reset")
    with Load(app.base, ["/block"]) as load:
        await asyncio_sleep(3)
    stats = get_json(app, "/stats")
    n = stats["counts"].get("/block", 0)
    top = await cl.command("top 300 tasks", "top")
    blk = row(top, "route_block") if top else None
    c.ok(blk and within(blk["running"], n * 300, 0.20) and blk["waiting"] == 0,
         "route_block on the CPU (holding the loop): %s task-ms for %d requests x 300 ms = %d"
         % (blk and blk["running"], n, n * 300))
    await cl.close()


def asyncio_sleep(s):
    import asyncio
    return asyncio.sleep(s)


def main():
    python = harness.python_from_argv(sys.argv)
    loop = harness.uvicorn_loop()
    name = "tasks-uvicorn-%s" % loop
    c = harness.Checks(name)
    harness.require_library()
    if wsclient.websockets is None:
        log("SKIP: python3-websockets is not installed")
        sys.exit(harness.SKIP)
    # no CPU budget: task snapshots stay at the default 20 Hz (sanitizer
    # builds would lower them), so a window's edges stay small beside it
    app = wsclient.AgentApp(name, python=python, env={"SPY_CPU_BUDGET": 0})
    app.cmd[app.cmd.index("fastapi_app:app")] = "tasks_app:app"
    app.cmd += ["--log-level", "warning"]
    app.start()
    try:
        if not c.ok(app.wait_http(60), "the app answers HTTP", app.describe()):
            c.finish()
        if not c.ok(app.wait_port(30), "the agent listens", app.describe()):
            c.finish()
        wsclient.run_async(scenario(c, app), 240)
    finally:
        rc = app.terminate()
        c.ok(rc is not None, "the app stops on SIGTERM (exit code %s)" % rc)
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent error on stderr", "\n".join(bad))
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
