"""uvicorn --reload: every new worker appears, nothing leaks in the root.

    test_reload.py [PYTHON]

The app (a copy of tests/targets/fastapi_app.py in a scratch directory)
runs with `--reload` under LD_PRELOAD: the reloader is the root and each
server process it starts is a worker. The source file is touched five
times; after each reload the new worker must appear alive in `status`
(the old one listed as gone), and at the end the root's open file
descriptors and resident memory must not have grown with the reloads
(generous slack: the numbers are printed).
"""

import asyncio
import os
import shutil
import sys
import time

import harness
from harness import Checks
from wsclient import AgentApp, connect_hello


async def processes(url):
    cl, hello = await connect_hello(url, "reload", timeout=5)
    st = await cl.command("status", ("status",), 10)
    await cl.close()
    return (st or {}).get("processes") or []


def alive_workers(url):
    try:
        return sorted(p["pid"] for p in asyncio.run(processes(url)) if p.get("role") == "worker" and p.get("alive"))
    except Exception:
        return []


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_worker(c, app, other_than, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        w = alive_workers(app.url)
        if len(w) == 1 and w[0] not in other_than:
            return w[0]
        time.sleep(0.3)
    c.ok(False, what, "workers alive: %s\nstderr:\n%s" % (alive_workers(app.url), app.stderr()[-1500:]))
    return None


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    harness.require_library()
    c = Checks("test_reload")
    app = AgentApp("reload", python=python)
    src = os.path.join(app.tmp, "src")
    os.makedirs(src)
    shutil.copy(os.path.join(harness.SPY_TARGETS, "fastapi_app.py"), src)
    app.cmd = [python, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", str(app.http_port),
               "--app-dir", src, "--reload", "--reload-dir", src, "--loop", harness.uvicorn_loop()]
    seen = []
    try:
        app.start()
        app.wait_http()
        app.wait_port()
        first = wait_worker(c, app, [], "the first server process streams to the reloader")
        c.ok(first is not None, "the first worker is listed (%s)" % first)
        seen.append(first)
        time.sleep(1)
        fd0, rss0 = fds(app.pid), rss_kb(app.pid)
        for i in range(5):
            # uvicorn's StatReload takes the files' times afresh after each
            # restart: a change made before it looked again goes unnoticed
            time.sleep(1.5)
            with open(os.path.join(src, "fastapi_app.py"), "a") as f:
                f.write("\n# touched %d\n" % i)
            new = wait_worker(c, app, seen, "reload %d: a new worker appears" % (i + 1))
            if new is None:
                break
            c.ok(True, "reload %d: new worker %d listed, %d before it gone" % (i + 1, new, len(seen)))
            seen.append(new)
        procs = asyncio.run(processes(app.url))
        gone = [p["pid"] for p in procs if p.get("role") == "worker" and not p.get("alive")]
        c.ok(set(seen[:-1]) <= set(gone), "the old workers are listed as gone (%s)" % gone)
        time.sleep(1)
        fd1, rss1 = fds(app.pid), rss_kb(app.pid)
        harness.log("  root fds %d -> %d, RSS %d kB -> %d kB over %d reloads" % (fd0, fd1, rss0, rss1, len(seen) - 1))
        c.ok(fd1 <= fd0 + 2, "the root's file descriptors did not grow (%d -> %d)" % (fd0, fd1))
        c.ok(rss1 <= rss0 + 16 * 1024, "the root's memory did not grow by more than 16 MiB (%d -> %d kB)" % (rss0, rss1))
    finally:
        app.terminate()
    c.finish()


if __name__ == "__main__":
    main()
