"""Does the agent profile a real FastAPI service under uvicorn, and let it go?

    test_uvicorn.py [PYTHON]      (default: the interpreter running this test,
                                   which must have fastapi and uvicorn: Debian's
                                   /usr/bin/python3.11)

Starts `python -m uvicorn fastapi_app:app` from tests/targets on a free port
with LD_PRELOAD (and SPY_PORT=8000 in its environment, which the agent must
ignore: it was the app's own port in the old tool), sends a bounded number of
requests to the sync endpoint cpu_work() (threadpool) and the async endpoint
json_work() (event loop), then reads the agent through the app's /_spy/top and
/_spy/status endpoints and checks both endpoint functions are in the profile
with the right name, file and definition line.  Finally it sends SIGTERM:
uvicorn must exit within 10 s with code 0, with no agent errors on stderr.
"""

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import harness
from harness import Checks, log

CPU_REQUESTS = 200
JSON_REQUESTS = 300
CLIENTS = 8


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read().decode("utf-8"))


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def same_file(a, b):
    return a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else sys.executable
    harness.require_library()
    c = Checks("test_uvicorn %s" % harness.label_of(python))
    probe = harness.run([python, "-c", "import fastapi, uvicorn"], env=harness.clean_env(), timeout=60)
    if probe.rc != 0:
        log("SKIP: %s has no fastapi/uvicorn (%s)" % (python, probe.stderr.strip()[-200:]))
        sys.exit(harness.SKIP)

    port = free_port()
    ws_port = free_port()
    env = harness.preload_env({"SPY_PORT": "8000", "SPY_WS_PORT": ws_port})
    cmd = [python, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
           "--app-dir", harness.SPY_TARGETS, "--loop", harness.uvicorn_loop()]
    base = "http://127.0.0.1:%d" % port
    tmp = tempfile.mkdtemp(prefix="spy-uvicorn-")
    out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
    log("starting %s (LD_PRELOAD, SPY_PORT=8000, SPY_WS_PORT=%d)" % (" ".join(cmd), ws_port))
    t0 = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                cwd=tmp, start_new_session=True)

    def server_output():
        rc = proc.poll()
        return harness.describe_process(cmd, rc, read(out_path), read(err_path), time.monotonic() - t0, False)

    try:
        c.section("startup")
        ready = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = get(base + "/health", timeout=2)
                ready = status == 200 and body == {"ok": True}
                if ready:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        if not c.ok(ready, "uvicorn answers /health on port %d (SPY_PORT=8000 did not take it over)" % port,
                    server_output()):
            c.finish()

        c.section("load")
        urls = ["%s/cpu?n=300000" % base] * CPU_REQUESTS + ["%s/json?n=10000" % base] * JSON_REQUESTS
        urls = urls[::2] + urls[1::2]  # interleave the two kinds
        load_deadline = time.monotonic() + 180
        failures = []
        done = 0

        def one(url):
            if time.monotonic() > load_deadline:
                return "skipped (load deadline passed)"
            try:
                status, _ = get(url)
                return None if status == 200 else "HTTP %d" % status
            except (OSError, ValueError) as e:
                return repr(e)

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            for res in pool.map(one, urls):
                done += 1
                if res:
                    failures.append(res)
        c.ok(not failures, "%d requests answered 200 (%d cpu_work, %d json_work)" % (done, CPU_REQUESTS, JSON_REQUESTS),
             "%d failures, e.g. %s" % (len(failures), failures[:5]))

        c.section("the agent, read through the app")
        _, st = get(base + "/_spy/status")
        log("  status: %s" % st)
        c.eq(st.get("running"), True, "agent running in the uvicorn process")
        c.eq(st.get("pid"), proc.pid, "status() is the uvicorn process's")
        c.ok(isinstance(st.get("samples"), int) and st["samples"] > 0, "samples > 0 (%r)" % st.get("samples"))
        c.ok(isinstance(st.get("threads"), int) and st["threads"] >= 2,
             "sees the event loop and threadpool threads (threads=%r)" % st.get("threads"))
        _, expect = get(base + "/_spy/expect")
        _, top = get(base + "/_spy/top?limit=200")
        log("  top 10 by own samples:")
        for row in top[:10]:
            log("    %6s %6s  %s (%s:%s)" % (row.get("own"), row.get("total"), row.get("function"),
                                          row.get("file"), row.get("line")))
        for name in ("cpu_work", "json_work"):
            exp = expect[name]
            rows = [r for r in top if r.get("function") == exp["function"]]
            row = rows[0] if rows else None
            if not c.ok(row is not None, "top() has %s" % exp["function"],
                        "functions in top: %s" % [r.get("function") for r in top[:50]]):
                continue
            c.ok(same_file(str(row.get("file")), exp["file"]) and row.get("line") == exp["line"],
                 "%s is at %s:%d" % (exp["function"], exp["file"], exp["line"]),
                 "got %s:%s" % (row.get("file"), row.get("line")))
            c.ok(row.get("own", 0) > 0, "%s has own samples (%r)" % (name, row.get("own")))
        # Which of the two endpoints leads depends on how the two cores were
        # shared with the load generator, so only their joint weight is
        # checked: together they are a large part of the busy samples.
        both = sum(r.get("own_pct", 0) for r in top if r.get("function") in
                   (expect["cpu_work"]["function"], expect["json_work"]["function"]))
        c.ok(both >= 20, "the two endpoints hold at least 20%% of the busy samples (%.1f%%)" % both)

        c.section("shutdown")
        proc.send_signal(signal.SIGTERM)
        t_term = time.monotonic()
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t_term
        c.ok(rc is not None, "uvicorn exits within 10 s of SIGTERM (%.1fs)" % took, "" if rc is not None else server_output())
        c.ok(rc == 0, "exit code 0 (%s)" % harness.describe_rc(rc), "" if rc == 0 else server_output())
        stderr = read(err_path)
        bad = harness.agent_error_lines(stderr)
        c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
        c.ok("Traceback" not in stderr, "no Python traceback on stderr", stderr[-3000:] if "Traceback" in stderr else "")
        spy_lines = [l for l in stderr.splitlines() if "spyagent" in l.lower()]
        if spy_lines:
            c.note("agent lines on stderr: %s" % spy_lines)
    finally:
        if proc.poll() is None:
            harness.kill_group(proc)
            proc.wait(10)
    c.finish()


if __name__ == "__main__":
    main()
