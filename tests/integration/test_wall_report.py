"""Do recordings and reports of a real async app say where its requests wait?

    test_wall_report.py [PYTHON]   (default /usr/bin/python3.11: FastAPI, uvicorn)
    SPYCTL=path                    (default build/spyctl/spyctl)

tests/targets/wall_app.py runs under uvicorn (the loop harness.uvicorn_loop()
picks, or SPY_TEST_LOOP) with the agent preloaded, its asyncio task view at
the default rate; clients loop on /slow (awaits two helpers, then
asyncio.sleep(0.2)) x2, /cpu (burns 20 ms in a sync helper) and /gather
(gathers three sleeps).  Over the WebSocket, `record 5 svg collapsed
speedscope`, then `endpoints window 5`.  Checks:
  - record_done lists the CPU files and, for svg and collapsed, the task
    view's own files ("view":"tasks", NAME.tasks.svg,
    NAME.tasks.collapsed.txt); the CPU files hold no task time;
  - the task collapsed file: every stack starts with its state, the await
    chain in order run_asgi ... slow_route;outer_helper;inner_helper;sleep;
  - `spyctl report` of the speedscope file: per route, the task seconds,
    the waiting share and the share awaiting sleep are those summed here
    from the speedscope JSON alone; slow_route's task seconds near the time
    its requests spent inside the route during the recording (the app's
    own clock: each request's [start, end] clipped to the recording; the
    snapshots' accuracy is test_tasks_uvicorn.py's), its mean in flight
    its task seconds over the span, at least 80 % awaiting asyncio's sleep; cpu_route's CPU time in burn; gather_route
    listed; the same figures from the task SVG and the task collapsed file;
  - the HTML report has its "Where requests wait" section;
  - `spyctl convert --view tasks` of the speedscope file gives the task
    collapsed file line for line, and the CPU conversion says what it
    leaves out;
  - the live `endpoints` reply has the documented shape and slow_route.
"""

import json
import os
import re
import subprocess
import sys
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import Client

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SPYCTL = os.environ.get("SPYCTL") or os.path.join(REPO, "build", "spyctl", "spyctl")
RECORD_S = 5
# The agent's task seconds against the app's own clock: the accuracy of the
# task snapshots themselves is tests/integration/test_tasks_uvicorn.py's
# (15 %); here a wide bound only guards the units and the span of the
# files (ms, not samples; the recording's seconds), since the recording's
# start is known to the client only when record_started reaches it.
TOLERANCE = 0.35


def spyctl(*args, timeout=60):
    r = subprocess.run([SPYCTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def wall_rows(text):
    """The "Where requests wait" rows of a text report: {endpoint: {...}}."""
    rows, cur, inside = {}, None, False
    for line in text.splitlines():
        if line.startswith("Where requests wait"):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break
        if not inside:
            continue
        m = re.match(r"\s+([\d.]+)\s+([\d.?]+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)", line)
        if m:
            name = m.group(6) if not m.group(6).startswith("(no") else None
            cur = rows.setdefault(name, {"task_s": float(m.group(1)),
                                         "in_flight": None if m.group(2) == "?" else float(m.group(2)),
                                         "cpu": float(m.group(3)), "ready": float(m.group(4)),
                                         "waiting": float(m.group(5)), "awaiting": [], "on_cpu": []})
            continue
        m = re.match(r"\s+([\d.]+)%\s+(awaiting|on CPU in) (\S+)", line)
        if m and cur is not None:
            cur["awaiting" if m.group(2) == "awaiting" else "on_cpu"].append((m.group(3), float(m.group(1))))
    return rows


def speedscope_routes(path):
    """Per route (the frame just inside the innermost run_endpoint_function) of the speedscope file's task
    profiles, computed here from the JSON alone: {route: {"ms", "waiting", "sleep"}}."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    names = [fr["name"] for fr in doc["shared"]["frames"]]
    out = {}
    for prof in doc["profiles"]:
        if not prof["name"].startswith("task wall time: "):
            continue
        for stack, w in zip(prof["samples"], prof["weights"]):
            labels = [names[i] for i in stack]          # outermost first, the state first of all
            disp = [k for k, l in enumerate(labels) if l.startswith("run_endpoint_function (")]
            if not disp or disp[-1] + 1 >= len(labels):
                continue
            route = labels[disp[-1] + 1].split(" (")[0]
            r = out.setdefault(route, {"ms": 0, "waiting": 0, "sleep": 0})
            r["ms"] += w
            if labels[0] == "[waiting]":
                r["waiting"] += w
                if labels[-1].startswith("sleep ("):
                    r["sleep"] += w
    return out


def within(got, want, tol):
    return want > 0 and abs(got - want) <= tol * want


async def record_and_endpoints(url):
    cl = await Client.open(url, "wall", timeout=10)
    try:
        if await cl.expect("hello", 10) is None:
            return None, None, None
        await cl.send("record %d svg collapsed speedscope" % RECORD_S)
        started = await cl.expect(("record_started", "error"), 10)
        t0 = time.time()
        done = await cl.expect(("record_done", "error"), RECORD_S + 30)
        eps = await cl.command("endpoints window 5", ("endpoints", "error"), timeout=15)
        if started is None or started.get("type") != "record_started":
            return None, done, eps
        return t0, done, eps
    finally:
        await cl.close()


def main():
    python = harness.python_from_argv(sys.argv) if len(sys.argv) > 1 else "/usr/bin/python3.11"
    c = Checks("wall-report")
    if not os.access(SPYCTL, os.X_OK):
        c.abort("spyctl not built at %s (set SPYCTL)" % SPYCTL)
    app = wsclient.AgentApp("wall_app", python=python, env={"SPY_INTERVAL": "500"})
    app.cmd = [python, "-m", "uvicorn", "wall_app:app", "--host", "127.0.0.1", "--port", str(app.http_port),
               "--app-dir", harness.SPY_TARGETS, "--loop", harness.uvicorn_loop()]
    c.note("uvicorn --loop %s" % harness.uvicorn_loop())
    app.start()
    try:
        if not c.ok(app.wait_http(60), "the app answers HTTP", app.describe()):
            c.finish()
        if not c.ok(app.wait_port(30), "the agent listens on ws port %d" % app.ws_port, app.describe()):
            c.finish()
        load = wsclient.Load(app.base, threads=4, seconds=90, paths=("/slow", "/cpu", "/slow", "/gather")).start()
        time.sleep(1.5)
        t0, done, eps = wsclient.run_async(record_and_endpoints(app.url), RECORD_S + 60)
        ok, failures = load.stop()
        c.ok(ok > 20 and not failures, "load: %d requests answered, %d failures" % (ok, len(failures)),
             "\n".join(failures[:5]))
        status, stats = app.http_get("/_stats", timeout=30)
    finally:
        app.terminate()
        app.kill()

    c.section("record_done and the files")
    if not c.ok(t0 is not None and isinstance(done, dict) and done.get("type") == "record_done",
                "record_started, then record_done", "%r" % (done,)):
        c.finish()
    cpu_files = wsclient.check_record_done(c, done, app.data_dir, app.pid, ["collapsed", "speedscope", "svg"],
                                           "record %d" % RECORD_S)
    wsclient.check_record_files(c, cpu_files, done.get("samples"), "record %d" % RECORD_S)
    tasks = {f["format"]: f["path"] for f in done.get("files", []) if f.get("view") == "tasks"}
    c.eq(sorted(tasks), ["collapsed", "svg"], "record_done lists the task view's svg and collapsed files")
    c.ok(tasks.get("svg", "").endswith(".tasks.svg") and tasks.get("collapsed", "").endswith(".tasks.collapsed.txt"),
         "they are named NAME.tasks.svg and NAME.tasks.collapsed.txt", tasks)
    with open(cpu_files["collapsed"], encoding="utf-8") as f:
        cpu_lines = f.read().splitlines()
    c.ok(not any(l.startswith("[") for l in cpu_lines), "the CPU collapsed file holds no task state")
    if "collapsed" in tasks:
        with open(tasks["collapsed"], encoding="utf-8") as f:
            lines = f.read().splitlines()
        c.ok(lines and all(re.match(r"^\[(on CPU|ready|waiting)\];.* \d+$", l) for l in lines),
             "every task stack starts with its state and ends with its milliseconds", lines[:3])
        chain = [l for l in lines if l.startswith("[waiting];") and ";slow_route (" in l]
        order = re.compile(r";slow_route \([^;]*\);outer_helper \([^;]*\);inner_helper \([^;]*\);sleep \([^;]*tasks\.py:\d+\) \d+$")
        c.ok(chain and any(order.search(l) for l in chain),
             "the await chain in order: slow_route;outer_helper;inner_helper;sleep", chain[:2])
        c.ok(not any(";cpu_route (" in l and ";slow_route (" in l for l in lines), "no task stack mixes two routes")

    c.section("the app's own clock")
    span = (t0, t0 + float(done.get("duration") or RECORD_S))
    truth = {}
    for name, st in (stats or {}).items():
        truth[name] = sum(max(0.0, min(b, span[1]) - max(a, span[0])) for a, b in st["spans"])
    c.note("inside each route during the recording (s): %s" % {k: round(v, 2) for k, v in truth.items()})

    c.section("spyctl report")
    reports = {}
    for what, path in (("speedscope", cpu_files.get("speedscope")), ("task svg", tasks.get("svg")),
                       ("task collapsed", tasks.get("collapsed"))):
        if not path:
            continue
        rc, text, err = spyctl("report", path)
        c.ok(rc == 0 and not err, "spyctl report %s: exit 0" % what, err)
        reports[what] = wall_rows(text)
        if what == "speedscope":
            log(text[text.find("Where requests wait"):][:2500])
    rows = reports.get("speedscope", {})
    slow = rows.get("slow_route")
    if c.ok(slow is not None, "slow_route is in the report's wall-time table", rows):
        want = truth.get("slow_route", 0)
        c.ok(within(slow["task_s"], want, TOLERANCE),
             "slow_route: %.2f task-s, the app timed %.2f s inside it (within %d %%)" % (
                 slow["task_s"], want, TOLERANCE * 100))
        dur = span[1] - span[0]
        c.ok(slow["in_flight"] is not None and within(slow["in_flight"], want / dur, TOLERANCE)
             and abs(slow["in_flight"] - slow["task_s"] / dur) < 0.006,
             "slow_route: %s in flight (its task seconds over the %.2f s recorded), the app's %.2f" % (
                 slow["in_flight"], dur, want / dur))
        awaited = dict(slow["awaiting"])
        c.ok(awaited.get("sleep", 0) >= 80, "slow_route: at least 80 %% awaiting sleep (%s)" % slow["awaiting"])
        c.ok(slow["waiting"] >= 80, "slow_route: waiting %.1f %%" % slow["waiting"])
    if cpu_files.get("speedscope"):
        mine = speedscope_routes(cpu_files["speedscope"])
        for route in ("slow_route", "cpu_route", "gather_route"):
            got, want = rows.get(route), mine.get(route)
            if route == "cpu_route" and got is None and want is None:
                # its requests are short CPU bursts: at the task rate in force
                # (lowered by the budget in a sanitizer build) a recording can
                # catch none; the report then rightly has no row either
                c.note("cpu_route: no task time in this recording, nor in the report")
                continue
            c.ok(got is not None and want is not None and abs(got["task_s"] - want["ms"] / 1000.0) < 0.006
                 and abs(got["waiting"] - 100.0 * want["waiting"] / want["ms"]) < 0.06,
                 "%s: the report's task seconds and waiting share are the speedscope file's, summed here (%s)" % (
                     route, want), "%r" % (got,))
        w = mine.get("slow_route")
        c.ok(slow is not None and w and abs(dict(slow["awaiting"]).get("sleep", 0) - 100.0 * w["sleep"] / w["ms"]) < 0.06,
             "slow_route: the report's share awaiting sleep is the file's")
    cpu = rows.get("cpu_route")
    caught = not cpu_files.get("speedscope") or speedscope_routes(cpu_files["speedscope"]).get("cpu_route") is not None
    if caught and c.ok(cpu is not None, "cpu_route is in the report's wall-time table", rows):
        c.ok(cpu["on_cpu"] and cpu["on_cpu"][0][0] == "burn", "cpu_route: its CPU time is in burn (%s)" % cpu["on_cpu"])
        c.ok(cpu["cpu"] + cpu["ready"] >= 80, "cpu_route: on CPU or ready (the loop busy with another) %.1f %%" % (
            cpu["cpu"] + cpu["ready"]))
    c.ok("gather_route" in rows, "gather_route is in the report's wall-time table")
    for what in ("task svg", "task collapsed"):
        other = reports.get(what, {}).get("slow_route")
        c.ok(other is not None and slow is not None and other["task_s"] == slow["task_s"]
             and other["awaiting"] == slow["awaiting"],
             "%s gives slow_route the same task seconds and awaits as speedscope" % what,
             "%r vs %r" % (other, slow))
    if cpu_files.get("speedscope"):
        html = os.path.join(app.tmp, "wall.html")
        rc, _, err = spyctl("report", cpu_files["speedscope"], "--format", "html", "--output", html)
        body = open(html, encoding="utf-8").read() if rc == 0 and os.path.isfile(html) else ""
        c.ok('<section id="wall">' in body and "slow_route" in body[body.find('id="wall"'):],
             "the HTML report has its Where requests wait section", err)

    if cpu_files.get("speedscope") and tasks.get("collapsed"):
        out = os.path.join(app.tmp, "tasks-from-speedscope.txt")
        rc, _, err = spyctl("convert", cpu_files["speedscope"], "--to", "collapsed", "--view", "tasks", "--output", out)
        got = sorted(open(out, encoding="utf-8").read().splitlines()) if rc == 0 else None
        want = sorted(open(tasks["collapsed"], encoding="utf-8").read().splitlines())
        c.ok(got == want, "spyctl convert --view tasks of the speedscope file gives the recorded task collapsed file",
             err)
        rc, _, err = spyctl("convert", cpu_files["speedscope"], "--to", "collapsed", "--output", out)
        c.ok(rc == 0 and "task wall time, not written" in err and "--view tasks" in err,
             "converting it to the CPU view says the task view is left out", err)

    c.section("the live endpoints command")
    if c.ok(isinstance(eps, dict) and eps.get("type") == "endpoints", "endpoints window 5 -> endpoints", "%r" % (eps,)):
        keys = {"endpoint", "file", "line", "task_ms", "in_flight", "running_pct", "ready_pct", "waiting_pct",
                "awaiting", "on_cpu"}
        eprows = eps.get("endpoints") or []
        c.ok(eprows and all(keys <= set(r) for r in eprows), "every row has %s" % sorted(keys), eprows[:1])
        c.eq(eps.get("window"), 5, "the reply says its window")
        live = [r for r in eprows if r.get("endpoint") == "slow_route"]
        c.ok(live and live[0]["awaiting"] and live[0]["awaiting"][0]["function"] == "sleep"
             and live[0]["waiting_pct"] >= 80 and live[0]["in_flight"] > 0,
             "slow_route live: waiting, awaiting sleep, in flight", live[:1])
        c.ok(any(r.get("endpoint") is None for r in eprows), "task time under no route has its row (endpoint null)")
    c.finish()


if __name__ == "__main__":
    main()
