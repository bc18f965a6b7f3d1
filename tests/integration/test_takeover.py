"""When the root process dies, a worker takes over the port.

    test_takeover.py [PYTHON]

`uvicorn --workers 2` under LD_PRELOAD; once both workers stream to the
supervisor, the supervisor is killed with SIGKILL (no chance to clean up).
The workers keep serving requests; within a few seconds one of them owns
the agent's WebSocket port (its hello says it is the root), and the other
worker streams to it; samples keep coming. What happens is described in the
README ("Several workers, one port").

Then the dead supervisor's registry entry and workers' socket are gone, and
a Python the app starts after the takeover (GET /spawn), which inherits the
dead supervisor's SPY_ROOT_PID, streams to the new root as a worker instead
of trying for the port itself (and sampling unseen).
"""

import asyncio
import json
import os
import signal
import sys
import time
import urllib.request

import harness
from harness import Checks
from wsclient import AgentApp, connect_hello


async def hello_of(url):
    cl, hello = await connect_hello(url, "probe", timeout=3)
    await cl.close()
    return hello


def hello(url):
    try:
        return asyncio.run(hello_of(url))
    except Exception:
        return None


def registry_dir():
    """Where the agents of this user register (as agent/registry.c decides)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/") and os.access(xdg, os.W_OK):
        return os.path.join(xdg, "spyagent")
    return "/tmp/spyagent-%d" % os.getuid()


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    harness.require_library()
    c = Checks("test_takeover")
    app = AgentApp("takeover", python=python)
    app.cmd += ["--workers", "2"]
    try:
        app.start()
        app.wait_http()
        app.wait_port()
        h = None
        for _ in range(40):
            h = hello(app.url)
            if h and sum(1 for p in h.get("processes", []) if p.get("role") == "worker" and p.get("alive")) == 2:
                break
            time.sleep(0.25)
        workers = sorted(p["pid"] for p in (h or {}).get("processes", []) if p.get("role") == "worker")
        c.eq(len(workers), 2, "both workers stream to the supervisor")

        os.kill(app.pid, signal.SIGKILL)
        t0 = time.monotonic()
        new = None
        while time.monotonic() - t0 < 15:
            h = hello(app.url)
            if h and h.get("pid") in workers:
                new = h
                break
            time.sleep(0.25)
        took = time.monotonic() - t0
        c.ok(new is not None, "a worker serves the port after the supervisor died (%.1f s)" % took,
             "last hello: %r\nstderr:\n%s" % (h, app.stderr()[-2000:]))
        if new:
            me = [p for p in new.get("processes", []) if p.get("pid") == new["pid"]]
            c.ok(me and me[0].get("role") == "root", "it says it is the root now")
        served = 0
        for _ in range(5):
            try:
                with urllib.request.urlopen(app.base + "/cpu?n=20000", timeout=10) as r:
                    served += r.status == 200
            except OSError:
                pass
        c.eq(served, 5, "the workers keep serving requests")
        other = [w for w in workers if new and w != new.get("pid")]
        seen = False
        t1 = time.monotonic()
        while new and other and time.monotonic() - t1 < 10 and not seen:
            h = hello(app.url)
            seen = any(p.get("pid") == other[0] and p.get("alive") for p in (h or {}).get("processes", []))
            if not seen:
                time.sleep(0.25)
        c.ok(seen, "the other worker streams to the new root")

        reg = registry_dir()
        dead = app.pid
        c.ok(not os.path.exists(os.path.join(reg, "%d.json" % dead)),
             "the dead supervisor's registry entry is removed", "%s: %s" % (reg, sorted(os.listdir(reg))))
        c.ok(not os.path.exists(os.path.join(reg, "root-%d.sock" % dead)),
             "the dead supervisor's workers' socket is removed", "%s: %s" % (reg, sorted(os.listdir(reg))))

        # a Python started now inherits SPY_ROOT_PID of the dead supervisor
        spawned = None
        try:
            with urllib.request.urlopen(app.base + "/spawn?seconds=60", timeout=10) as r:
                spawned = json.loads(r.read().decode())["pid"]
        except (OSError, ValueError, KeyError) as e:
            c.ok(False, "GET /spawn starts a Python", repr(e))
        listed = None
        t2 = time.monotonic()
        while new and spawned and time.monotonic() - t2 < 10:
            h = hello(app.url)
            listed = [p for p in (h or {}).get("processes", []) if p.get("pid") == spawned]
            if listed and listed[0].get("alive"):
                break
            time.sleep(0.25)
        if spawned:
            c.ok(listed and listed[0].get("role") == "worker" and listed[0].get("alive"),
                 "a Python started after the takeover streams to the new root as a worker",
                 "processes: %r\nstderr:\n%s" % ((h or {}).get("processes"), app.stderr()[-2000:]))
            c.ok(not os.path.exists(os.path.join(reg, "%d.json" % spawned)),
                 "it does not register as a root of its own")
            c.ok("cannot listen" not in app.stderr(), "nobody says the port is taken",
                 app.stderr()[-2000:])
    finally:
        try:
            os.killpg(app.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
